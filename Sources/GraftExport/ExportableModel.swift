import Foundation
import GraftModels
import GraftNN
import GraftTensor
import GraftWeights
import GraftZoo

/// What an exported file says about its model: the card's fields a consumer needs to run it
/// (architecture, classes, input size, normalisation).
public struct ExportCard: Sendable, Equatable {
    public var modelID: String
    public var architecture: Architecture
    public var numClasses: Int
    public var classNames: [String]
    /// `[channels, height, width]`.
    public var inputSize: [Int]
    public var mean: [Double]
    public var std: [Double]

    public init(
        modelID: String, architecture: Architecture, numClasses: Int, classNames: [String], inputSize: [Int],
        mean: [Double], std: [Double]
    ) {
        self.modelID = modelID
        self.architecture = architecture
        self.numClasses = numClasses
        self.classNames = classNames
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
    }

    /// The card as string pairs: safetensors' `__metadata__` and ONNX's `metadata_props` hold
    /// strings only, so lists are JSON-encoded (`class_names` `["daisy","rose"]`, `mean`
    /// `[0.485,0.456,0.406]`, `input_size` `[3,224,224]`).
    public var metadata: [String: String] {
        [
            "model_id": modelID,
            "architecture": architecture.rawValue,
            "num_classes": String(numClasses),
            "class_names": Self.json(classNames),
            "input_size": Self.json(inputSize),
            "mean": Self.json(mean),
            "std": Self.json(std),
        ]
    }

    private static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Arrays of strings and numbers always encode.
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }
}

/// A model ready to export: its weights loaded strictly into the architecture they name, in
/// eval mode, with its card.
public struct ExportableModel {
    public let card: ExportCard
    /// The model, in eval mode, holding the weights.
    public let model: any BlockStructured
    /// The weights file it was read from.
    public let source: URL

    /// The state dict under PyTorch's key names, in `state_dict()` order.
    public var state: StateDict { model.stateDict() }

    /// Reads a Graft weights file (a converted or published model, a checkpoint, an SWA model
    /// written by `graft ensemble --output`) and loads it strictly into its architecture: the one
    /// `card` names, else the file's own. The class names come from the file, else from the card
    /// (`zoo.classNames(of:)`), else are `class N`; the input size and normalisation from the file,
    /// the same rules as `Predictor`.
    /// - Throws: `WeightsError` for an unreadable file, `ExportError.unknownArchitecture` naming an
    ///   architecture the exporter cannot build, `ExportError.modelMismatch` listing the keys that
    ///   do not fit it.
    public static func load(weights url: URL, card: ModelCard? = nil, zoo: Zoo? = nil) throws -> ExportableModel {
        let (state, attributes) = try WeightsFile.read(url)
        let name = card?.modelArchitecture ?? attributes.architecture
        guard let architecture = try? Architecture(named: name) else {
            throw ExportError.unknownArchitecture(
                name: name, path: url.path, known: Architecture.allCases.map(\.rawValue))
        }
        let model = architecture.make(numClasses: attributes.numClasses)
        do {
            try model.load(state, strict: true)
        } catch WeightLoadingError.incompatible(let missing, let unexpected, let mismatched) {
            let problems =
                missing.map { "missing \($0)" } + unexpected.map { "unexpected \($0)" }
                + mismatched.map(\.description)
            throw ExportError.modelMismatch(path: url.path, architecture: architecture.rawValue, problems: problems)
        }
        let bad = nonFiniteKeys(in: state)
        guard bad.isEmpty else { throw WeightsError.nonFinite(path: url.path, keys: bad) }
        model.eval()
        var names = attributes.classNames
        if names.count != attributes.numClasses {
            names = try card.flatMap { card in try zoo?.classNames(of: card) } ?? []
        }
        if names.count != attributes.numClasses { names = (0..<attributes.numClasses).map { "class \($0)" } }
        let exportCard = ExportCard(
            modelID: attributes.modelID.isEmpty ? (card?.id ?? architecture.rawValue) : attributes.modelID,
            architecture: architecture, numClasses: attributes.numClasses, classNames: names,
            inputSize: attributes.inputSize.count == 3 ? attributes.inputSize : (card?.inputSize ?? [3, 224, 224]),
            mean: attributes.mean, std: attributes.std)
        return ExportableModel(card: exportCard, model: model, source: url)
    }

    /// A model built in memory (tests, the Swift API), with its card.
    public init(card: ExportCard, model: any BlockStructured, source: URL) {
        self.card = card
        self.model = model
        self.source = source
    }
}
