import Foundation
import ArgumentParser
import GraftTensor
import GraftWeights
import GraftZoo

/// `graft weights inspect|verify`: look inside a Graft HDF5 weights file.
struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Inspect or verify an HDF5 weights file.",
        subcommands: [Inspect.self, Verify.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keys, shapes, stored dtypes, attributes and parameter count of a weights file.")
        @Argument(help: "The .h5 weights file.") var file: String
        @Flag(help: "Print JSON.") var json = false

        struct Summary: Encodable {
            let file: String
            let attributes: WeightsAttributes
            let entries: [WeightsEntry]
            let groups: [String]
            let parameters: Int
            let bufferValues: Int
        }

        func run() throws {
            let url = URL(fileURLWithPath: file)
            let (_, attributes) = try WeightsFile.read(url)
            let entries = try WeightsFile.entries(in: url)
            let groups = try WeightsFile.groupNames(in: url)
            // BatchNorm running statistics and counters are buffers, not parameters.
            let isBuffer: (WeightsEntry) -> Bool = {
                $0.name.hasSuffix("running_mean") || $0.name.hasSuffix("running_var")
                    || $0.name.hasSuffix("num_batches_tracked")
            }
            let parameters = entries.filter { !isBuffer($0) }.reduce(0) { $0 + $1.count }
            let buffers = entries.filter(isBuffer).reduce(0) { $0 + $1.count }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let summary = Summary(
                    file: url.path, attributes: attributes, entries: entries, groups: groups,
                    parameters: parameters, bufferValues: buffers)
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
                return
            }
            print("file          \(url.path)")
            print("model         \(attributes.modelID) (\(attributes.architecture)), \(attributes.numClasses) classes")
            if !attributes.classNames.isEmpty {
                print("class names   \(attributes.classNames.joined(separator: ", "))")
            }
            print("input size    \(attributes.inputSize.map(String.init).joined(separator: "×"))")
            print("mean / std    \(attributes.mean) / \(attributes.std)")
            print("source        \(attributes.sourceFile) sha256 \(attributes.sourceSHA256)")
            print("converted     \(attributes.convertedAt), format version \(attributes.formatVersion)")
            if !groups.isEmpty { print("groups        \(groups.joined(separator: ", "))") }
            print("tensors       \(entries.count), \(parameters) parameters, \(buffers) buffer values")
            let width = entries.map(\.name.count).max() ?? 0
            for entry in entries {
                print(
                    "  " + entry.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                        + entry.storedType.padding(toLength: 8, withPad: " ", startingAt: 0) + "["
                        + entry.shape.map(String.init).joined(separator: ", ") + "]")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a weights file strictly into a model and run a forward pass on a fixed input.",
            discussion:
                "Fails (non-zero exit) on missing, unexpected or mis-shaped keys, NaN or infinite weights, or non-finite outputs."
        )
        @Argument(help: "The .h5 weights file.") var file: String
        @Option(help: "Model id from the zoo.") var model: String
        @OptionGroup var zooOptions: ZooOptions

        func run() throws {
            let url = URL(fileURLWithPath: file)
            let card = try zooOptions.zoo().card(id: model)
            let (module, attributes) = try Converter.loadModel(weights: url, card: card)
            module.eval()
            // A fixed, smooth input in roughly the normalised range: the same on every machine.
            let shape = [1] + card.inputSize
            var input = Tensor(uninitializedShape: shape)
            let p = input.mutablePointer()
            for i in 0..<input.count { p[i] = Float(sin(Double(i) * 0.001)) * 2 }
            let output = module(input)
            var nonFinite = 0
            var maxAbs: Float = 0
            for i in 0..<output.count {
                let v = output.pointer[i]
                if v.isFinite { maxAbs = max(maxAbs, abs(v)) } else { nonFinite += 1 }
            }
            guard nonFinite == 0 else {
                throw WeightsError.nonFinite(
                    path: url.path, keys: ["forward output (\(nonFinite) of \(output.count) values)"])
            }
            let parameters = module.namedParameters().reduce(0) { $0 + $1.parameter.value.count }
            print(
                "ok \(url.path): \(card.id) (\(attributes.numClasses) classes), \(parameters) parameters, all finite; "
                    + "forward on a fixed input gives finite logits \(output.shape), max |logit| \(maxAbs)")
        }
    }
}
