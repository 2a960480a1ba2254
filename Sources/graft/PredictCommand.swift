import ArgumentParser
import Foundation
import GraftReport
import GraftTraining
import GraftWeights

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Class probabilities for JPEG images (the model card's eval transform).")

    @Option(help: "Zoo model id (its card gives the architecture and resize).") var model: String?
    @Option(help: "Weights file (HDF5), e.g. converted torchvision weights or an exported checkpoint.") var weights: String
    @Option(help: "How many classes to show per image.") var top: Int = 5
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "JPEG files.") var images: [String]

    mutating func run() throws {
        let card = try model.map { try Zoo.load(directory: Zoo.defaultDirectory).card(id: $0) }
        let predictor = try Predictor(weights: URL(fileURLWithPath: weights), card: card)
        let predictions = try predictor.predict(images.map { URL(fileURLWithPath: $0) }, top: top)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(predictions), as: UTF8.self))
            return
        }
        for p in predictions {
            print(p.image)
            for e in p.top {
                print("  \(Format.percent(e.probability, digits: 2).padding(toLength: 8, withPad: " ", startingAt: 0)) \(e.className)")
            }
        }
    }
}
