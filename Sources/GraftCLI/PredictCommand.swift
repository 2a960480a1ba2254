import ArgumentParser
import Foundation
import Graft
import GraftReport
import GraftTraining
import GraftWeights
import GraftZoo

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Class probabilities for JPEG and PNG images and folders of them (the model card's eval transform).",
        discussion: """
            The model: a catalog checkpoint (--checkpoint ID, or --run R --best METRIC), a weights file (--weights, \
            with --model for its zoo card), or a zoo model's own weights (--model ID). Each argument is a JPEG or \
            PNG file or a directory, searched recursively. Images are read and predicted in \
            batches, so memory does not grow with the folder. A file that cannot be read is named on standard \
            error, the others are predicted, and the exit status is 1.
            """)

    @OptionGroup var source: ModelSourceOptions
    @OptionGroup var catalog: CatalogOptions
    @Option(help: "How many classes to show per image.") var top: Int = 5
    @Option(help: TestTimeAugmentation.optionHelp)
    var tta: TestTimeAugmentation?
    @Option(help: "Images per batch.") var batch: Int = 32
    @Flag(help: "No progress bar.") var quiet = false
    @OptionGroup var output: OutputOptions
    @Argument(help: "JPEG or PNG files, or directories.") var images: [String]

    func validate() throws {
        try source.requireOne()
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard !images.isEmpty else { throw ValidationError("give at least one JPEG or PNG file or directory") }
    }

    mutating func run() throws {
        var predictor =
            switch try source.resolve(catalog: catalog) {
            case .weights(let url, let card, let zoo): try Predictor(weights: url, card: card, zoo: zoo)
            case .checkpoint(let id, let db): try Predictor(checkpoint: id, in: db)
            }
        predictor.augmentation = tta
        let files = try Predictor.imageFiles(in: images.map { URL(fileURLWithPath: $0) })
        guard !files.isEmpty else { throw ValidationError("no images in \(images.joined(separator: ", "))") }
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
