import Foundation
import ArgumentParser
import GraftReport
import GraftTraining
import GraftWeights
import GraftZoo

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Class probabilities for JPEG images (the model card's eval transform).")

    @Option(help: "Zoo model id (its card gives the architecture and resize).") var model: String?
    @Option(help: "Weights file (HDF5), e.g. converted torchvision weights or an exported checkpoint.") var weights:
        String
    @Option(help: "How many classes to show per image.") var top: Int = 5
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "JPEG files.") var images: [String]

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        guard !images.isEmpty else { throw ValidationError("give at least one JPEG file") }
    }

    mutating func run() throws {
        let zoo = try model.map { _ in try Zoo.shipped() }
        let card = try model.flatMap { try zoo?.card(id: $0) }
        let predictor = try Predictor(weights: URL(fileURLWithPath: weights), card: card, zoo: zoo)
        // Every readable photo is predicted; each unreadable one is named, and the exit status
        // says that some failed.
        let (predictions, failures) = try predictor.predictEach(images.map { URL(fileURLWithPath: $0) }, top: top)
        for failure in failures {
            FileHandle.standardError.write(Data("error: \(failure.error.localizedDescription)\n".utf8))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(predictions), as: UTF8.self))
        } else {
            for p in predictions {
                print(p.image)
                for e in p.top {
                    print(
                        "  \(Format.percent(e.probability, digits: 2).padding(toLength: 8, withPad: " ", startingAt: 0)) \(e.className)"
                    )
                }
            }
        }
        if !failures.isEmpty {
            FileHandle.standardError.write(Data("\(failures.count) of \(images.count) images could not be read\n".utf8))
            throw ExitCode(1)
        }
    }
}
