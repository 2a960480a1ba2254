import Foundation
import GraftSupport
import GraftModels
import GraftNN
import GraftTensor
import GraftWeights

/// Builds the module tree a card describes, with `numClasses` outputs.
public typealias ModelBuilder = @Sendable (ModelCard, Int) throws -> Module

/// Outcome of comparing a source file's SHA-256 with the card's official one.
public enum ChecksumStatus: Sendable, Equatable {
    /// Equals the card's official SHA-256 (or its recorded prefix).
    case verified
    /// The file carries the official file name but its hash differs (converted anyway).
    case mismatch(expected: String, actual: String)
    /// The card records no hash for this file (another file name, or no official source).
    case unknown
}

/// What `Converter.convert` wrote.
public struct ConversionResult: Sendable {
    public let output: URL
    public let attributes: WeightsAttributes
    public let tensorCount: Int
    public let parameterCount: Int
    public let checksum: ChecksumStatus
    /// Human-readable warnings (checksum mismatch, head size differing from the card).
    public let warnings: [String]
}

/// Converts `.pth` and `.safetensors` files into Graft's HDF5 weights after checking them
/// against the model.
public enum Converter {
    /// The zoo's models, from GraftModels.
    public static let defaultBuilder: ModelBuilder = { card, numClasses in
        try Architecture(named: card.modelArchitecture).make(numClasses: numClasses)
    }

    /// Reads a source checkpoint: `.safetensors` by extension (or header), anything else as a
    /// PyTorch zip checkpoint.
    public static func loadSource(_ url: URL) throws -> StateDict {
        if url.pathExtension.lowercased() == "safetensors" { return try Safetensors.load(url) }
        return try PyTorchCheckpoint.load(url)
    }

    /// Checks `state` against a fresh model for `card`: every key, shape and dtype.
    /// - Throws: `ZooError.modelMismatch` listing all problems.
    public static func check(
        _ state: StateDict, card: ModelCard, numClasses: Int, path: String,
        builder: ModelBuilder = defaultBuilder
    ) throws -> Module {
        let model = try builder(card, numClasses)
        do {
            try model.load(state, strict: true)
        } catch let error as WeightLoadingError {
            guard case .incompatible(let missing, let unexpected, let mismatched) = error else { throw error }
            // One line per kind of problem, with the first few keys of each.
            func summary(_ keys: [String], _ what: String) -> [String] {
                guard !keys.isEmpty else { return [] }
                let shown = keys.prefix(4).joined(separator: ", ") + (keys.count > 4 ? ", …" : "")
                return ["\(keys.count) \(what) (\(shown))"]
            }
            let problems =
                summary(missing, "missing keys") + summary(unexpected, "unexpected keys")
                + summary(mismatched.map(\.description), "shape mismatches")
            throw ZooError.modelMismatch(path: path, model: card.id, problems: problems)
        }
        return model
    }

    /// The number of classes the weights' head has, read from the last 2-D weight whose
    /// key the card's model shares (e.g. `fc.weight` [classes, 512]); nil when not found.
    public static func headClasses(in state: StateDict, card: ModelCard, builder: ModelBuilder = defaultBuilder) -> Int?
    {
        guard let model = try? builder(card, card.numClasses) else { return nil }
        let modelState = model.stateDict()
        guard
            let headKey = modelState.keys.last(where: { $0.hasSuffix(".weight") && modelState[$0]?.shape.count == 2 }),
            let shape = state[headKey]?.shape, shape.count == 2
        else { return nil }
        return shape[0]
    }

    /// Compares a file's hash with the card's official source.
    public static func checksumStatus(sourceFile: String, sha256: String, card: ModelCard) -> ChecksumStatus {
        guard let source = card.source, source.sha256 != nil || source.sha256Prefix != nil else { return .unknown }
        let official = source.sha256 ?? source.sha256Prefix!
        if sha256.hasPrefix(official) { return .verified }
        return sourceFile == source.file ? .mismatch(expected: official, actual: sha256) : .unknown
    }

    /// Converts `source` for `card` and writes `output` atomically.
    ///
    /// The number of classes comes from the weights' head when it differs from the card (a
    /// fine-tuned export), with class names kept only when the counts agree. Nothing is written
    /// when the weights do not fit the model or hold NaN/infinity.
    /// - Throws: `WeightsError` naming the source or output file and the problem.
    public static func convert(
        source: URL, card: ModelCard, output: URL, classNames: [String]? = nil,
        builder: ModelBuilder = defaultBuilder
    ) throws -> ConversionResult {
        let sha = try WeightsError.translatingFileErrors { try SHA256.hex(of: source) }
        let state = try loadSource(source)
        var warnings: [String] = []
        let checksum = checksumStatus(sourceFile: source.lastPathComponent, sha256: sha, card: card)
        if case .mismatch(let expected, let actual) = checksum {
            warnings.append(
                "\(source.path): SHA-256 \(actual) differs from the official \(card.source?.file ?? "") (\(expected)); converting anyway"
            )
        }
        var numClasses = card.numClasses
        if let head = headClasses(in: state, card: card, builder: builder), head != card.numClasses {
            warnings.append("\(source.path): the head has \(head) classes, the card \(card.numClasses); using \(head)")
            numClasses = head
        }
        let model = try check(state, card: card, numClasses: numClasses, path: source.path, builder: builder)
        let bad = nonFiniteKeys(in: state)
        guard bad.isEmpty else { throw WeightsError.nonFinite(path: source.path, keys: bad) }
        // Stored in the model's state_dict order, whatever order the source used (safetensors
        // sorts its own way).
        let ordered = StateDict(model.stateDict().keys.compactMap { key in state[key].map { (key, $0) } })
        let names = (classNames ?? card.classNames).count == numClasses ? (classNames ?? card.classNames) : []
        let attributes = WeightsAttributes(
            modelID: card.id, architecture: card.modelArchitecture, numClasses: numClasses, classNames: names,
            inputSize: card.inputSize, mean: card.mean, std: card.std, sourceFile: source.lastPathComponent,
            sourceSHA256: sha)
        try WeightsFile.write(ordered, attributes: attributes, to: output)
        let parameterCount = model.namedParameters().reduce(0) { $0 + $1.parameter.value.count }
        return ConversionResult(
            output: output, attributes: attributes, tensorCount: state.count,
            parameterCount: parameterCount, checksum: checksum, warnings: warnings)
    }

    /// Reads a weights file and loads it strictly into a fresh model for `card`, refusing
    /// non-finite values.
    /// - Throws: `WeightsError` naming the file: unreadable, another model's weights, NaN.
    public static func loadModel(
        weights url: URL, card: ModelCard,
        builder: ModelBuilder = defaultBuilder
    ) throws -> (model: Module, attributes: WeightsAttributes) {
        let (state, attributes) = try WeightsFile.read(url)
        func normalized(_ name: String) -> String { name.lowercased().replacingOccurrences(of: "_", with: "-") }
        if !attributes.architecture.isEmpty, normalized(attributes.architecture) != normalized(card.modelArchitecture) {
            throw ZooError.modelMismatch(
                path: url.path, model: card.id,
                problems: ["the file holds \(attributes.architecture) weights (model '\(attributes.modelID)')"])
        }
        let numClasses = headClasses(in: state, card: card, builder: builder) ?? card.numClasses
        let model = try check(state, card: card, numClasses: numClasses, path: url.path, builder: builder)
        let bad = nonFiniteKeys(in: state)
        guard bad.isEmpty else { throw WeightsError.nonFinite(path: url.path, keys: bad) }
        return (model, attributes)
    }
}
