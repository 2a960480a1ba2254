import Foundation
import ArgumentParser
import GraftCatalog
import GraftTraining
import GraftWeights
import GraftZoo

/// Where model cards and converted weights live (shared by `models`, `convert`, `weights`).
struct ZooOptions: ParsableArguments {
    @Option(help: "Directory of model cards (default: $GRAFT_MODELS, else the zoo installed with graft).")
    var modelsDir: String?
    @Option(help: "Directory of converted weights (default: ./Weights or $GRAFT_WEIGHTS).")
    var weightsDir: String?

    var weightsURL: URL { weightsDir.map { URL(fileURLWithPath: $0) } ?? Zoo.defaultWeightsDirectory }

    func zoo() throws -> Zoo {
        guard let modelsDir else { return try Zoo.shipped(weightsDirectory: weightsURL) }
        return try Zoo.load(directory: URL(fileURLWithPath: modelsDir)).addingPublished(in: weightsURL)
    }

    /// The converted weights of a card, when present.
    func weightsFile(for card: ModelCard) -> URL? {
        let url = weightsURL.appendingPathComponent(card.weightsFile)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }
}

/// `graft models [list]` and `graft models show ID`: the zoo.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the model zoo, or show one model card.",
        subcommands: [List.self, Show.self, Publish.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per model card.")
        @OptionGroup var zooOptions: ZooOptions

        func run() throws {
            let zoo = try zooOptions.zoo()
            let idWidth = max(2, zoo.ids.map(\.count).max() ?? 0)
            print(
                "ID".padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  ARCH        CLASSES  TOP-1    WEIGHTS"
            )
            for card in zoo.cards {
                let top1 = card.accuracy.map { String(format: "%.3f", $0.top1) } ?? "-"
                let weights = zooOptions.weightsFile(for: card) != nil ? "present" : "absent"
                print(
                    card.id.padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  "
                        + card.modelArchitecture.padding(toLength: 12, withPad: " ", startingAt: 0)
                        + String(card.numClasses).padding(toLength: 9, withPad: " ", startingAt: 0)
                        + top1.padding(toLength: 9, withPad: " ", startingAt: 0) + weights)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A model card and whether its weights are under Weights/.")
        @Argument(help: "Model id (see `graft models`).") var id: String
        @OptionGroup var zooOptions: ZooOptions
        @Flag(help: "Print the card as JSON.") var json = false

        func run() throws {
            let card = try zooOptions.zoo().card(id: id)
            let weights = zooOptions.weightsFile(for: card)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                var object = try JSONSerialization.jsonObject(with: try encoder.encode(card)) as? [String: Any] ?? [:]
                object["weights_path"] = zooOptions.weightsURL.appendingPathComponent(card.weightsFile).path
                object["weights_present"] = weights != nil
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let path = zooOptions.weightsURL.appendingPathComponent(card.weightsFile)
            var lines = card.describedFields(
                weightsAt: path, present: weights != nil,
                attributes: weights.flatMap { try? WeightsFile.read($0).attributes })
            if weights == nil, let source = card.source, let i = lines.firstIndex(where: { $0.0 == "weights" }) {
                lines[i].1 += " — run: graft convert \(source.file) --model \(card.id)"
            }
            let width = lines.map(\.0.count).max() ?? 0
            for (key, value) in lines {
                print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
            }
        }
    }

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Make a trained checkpoint a zoo model: ID.h5 and its card ID.card.json in the weights directory.",
            discussion: """
                The card records the run, checkpoint, dataset, split, image size, normalisation, class names \
                and the weights' SHA-256. Afterwards `--model ID` uses the card's architecture, input size \
                and normalisation, and `--weights Weights/ID.h5` starts from the weights.
                """)
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var checkpoint: CheckpointSelection
        @Option(help: "The new model's id (lowercase letters, digits, '-', '_', '.').") var id: String
        @Option(help: "Display name (default: architecture, dataset and class count).") var name: String?
        @Option(help: "Licence of the weights (default: the dataset's, for Fashion-MNIST).") var license: String?
        @Option(help: "Free-text notes for the card.") var notes: String?
        @Option(help: "Directory of weights and published cards (default: ./Weights or $GRAFT_WEIGHTS).")
        var weightsDir: String?
        @Flag(help: "Replace a model already published under this id.") var replace = false
        @Flag(help: "Publish the checkpoint's weight EMA (a run trained with --ema) instead of its trained weights.")
        var ema = false

        func run() throws {
            let db = try catalog.openExisting()
            let checkpointId = try checkpoint.resolve(in: db)
            var publisher = ModelPublisher(id: id, name: name, license: license, notes: notes, replace: replace)
            publisher.ema = ema
            let published = try publisher.publish(
                checkpoint: checkpointId, from: db,
                to: weightsDir.map { URL(fileURLWithPath: $0) } ?? Zoo.defaultWeightsDirectory)
            let card = published.card
            print(
                "published \(card.id): \(card.modelArchitecture), \(card.numClasses) classes (\(card.classNames.joined(separator: ", "))), input \(card.inputSize[1])×\(card.inputSize[2]), from checkpoint \(checkpointId)\(ema ? "'s weight EMA" : "")"
            )
            print("  weights: \(published.weightsURL.path)")
            print("  card:    \(published.cardURL.path)")
        }
    }
}
