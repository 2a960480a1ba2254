import ArgumentParser
import Foundation
import GraftReport
import GraftTraining
import GraftWeights
import GraftZoo

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Class probabilities for JPEG images and folders of them (the model card's eval transform).",
        discussion: """
            Each argument is a JPEG file or a directory, searched recursively. Images are read and predicted in \
            batches, so memory does not grow with the folder. A file that cannot be read is named on standard \
            error, the others are predicted, and the exit status is 1.
            """)

    @Option(help: "Zoo model id (its card gives the architecture and resize).") var model: String?
    @Option(help: "Weights file (HDF5), e.g. converted torchvision weights or an exported checkpoint.") var weights:
        String
    @Option(help: "How many classes to show per image.") var top: Int = 5
    @Option(help: TestTimeAugmentation.optionHelp)
    var tta: TestTimeAugmentation?
    @Option(help: "Images per batch.") var batch: Int = 32
    @Flag(help: "No progress bar.") var quiet = false
    @OptionGroup var output: OutputOptions
    @Argument(help: "JPEG files or directories.") var images: [String]

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard !images.isEmpty else { throw ValidationError("give at least one JPEG file or directory") }
    }

    mutating func run() throws {
        let zoo = try model.map { _ in try Zoo.shipped() }
        let card = try model.flatMap { try zoo?.card(id: $0) }
        var predictor = try Predictor(weights: URL(fileURLWithPath: weights), card: card, zoo: zoo)
        predictor.augmentation = tta
        let files = try Predictor.imageFiles(in: images.map { URL(fileURLWithPath: $0) })
        guard !files.isEmpty else { throw ValidationError("no JPEG images in \(images.joined(separator: ", "))") }
        let printer = PredictionPrinter(format: output.format, top: min(top, predictor.classNames.count))
        let bar = quiet || files.count <= batch ? nil : ProgressBar(total: files.count, label: "predict")
        var failed = 0
        printer.begin()
        for start in stride(from: 0, to: files.count, by: batch) {
            let chunk = Array(files[start..<min(start + batch, files.count)])
            // Every readable photo is predicted; each unreadable one is named.
            let (predictions, failures) = try predictor.predictEach(chunk, top: top)
            for failure in failures {
                FileHandle.standardError.write(Data("error: \(failure.error.localizedDescription)\n".utf8))
            }
            failed += failures.count
            printer.print(predictions)
            bar?.update(step: start + chunk.count)
        }
        printer.end()
        bar?.finish()
        if failed > 0 {
            FileHandle.standardError.write(Data("\(failed) of \(files.count) images could not be read\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Prints predictions as they come, batch by batch: indented lines, a JSON array, or CSV with one
/// row per image (`path,class_1,probability_1,…`).
final class PredictionPrinter {
    let format: OutputFormat
    let top: Int
    private var first = true

    init(format: OutputFormat, top: Int) {
        self.format = format
        self.top = top
    }

    func begin() {
        switch format {
        case .json: Swift.print("[", terminator: "")
        case .csv:
            let columns = (1...top).flatMap { ["class_\($0)", "probability_\($0)"] }
            Swift.print((["path"] + columns).joined(separator: ","))
        case .table: break
        }
    }

    func print(_ predictions: [Predictor.Prediction]) {
        for p in predictions {
            switch format {
            case .table:
                Swift.print(p.image)
                for e in p.top {
                    Swift.print(
                        "  \(Format.percent(e.probability, digits: 2).padding(toLength: 8, withPad: " ", startingAt: 0)) \(e.className)"
                    )
                }
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                Swift.print(
                    (first ? "\n" : ",\n") + String(decoding: (try? encoder.encode(p)) ?? Data(), as: UTF8.self),
                    terminator: "")
            case .csv:
                let cells = [p.image] + p.top.flatMap { [$0.className, "\($0.probability)"] }
                Swift.print(cells.map(CSV.field).joined(separator: ","))
            }
            first = false
        }
    }

    func end() {
        if format == .json { Swift.print(first ? "]" : "\n]") }
    }
}
