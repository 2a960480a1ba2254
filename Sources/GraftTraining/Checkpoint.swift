import Foundation
import GraftCatalog
import GraftNN
import GraftOptim
import GraftSupport
import GraftTensor
import GraftWeights

/// A training checkpoint: an HDF5 weights file (same layout as `Weights/`, so it loads anywhere
/// a weights file does) plus two groups:
/// - `optimizer`: the optimizer's state dict (`<param>/<buffer>` arrays and step counts),
///   absent when stripped to save space;
/// - `training`: attributes holding the run configuration, the training position (epoch, batch
///   within the epoch, global step, running epoch sums, metric history) and the Dropout RNG
///   states, all as JSON, so a resume continues bit for bit;
/// - `ema`: the weight EMA's state dict (`WeightEMA`, keyed as the model's) with its decay and
///   update count as attributes, present when the run keeps one.
public struct TrainingCheckpoint {
    public var model: StateDict
    public var optimizer: StateDict?
    public var position: TrainingPosition
    public var randomState: [String: [UInt64]]
    public var runConfiguration: RunConfiguration
    public var attributes: WeightsAttributes
    /// The run's weight EMA, nil when it keeps none.
    public var ema: WeightEMA?

    static let trainingGroup = "training"
    static let optimizerGroup = "optimizer"
    static let emaGroup = "ema"

    public init(
        model: StateDict, optimizer: StateDict?, position: TrainingPosition,
        randomState: [String: [UInt64]], runConfiguration: RunConfiguration, attributes: WeightsAttributes,
        ema: WeightEMA? = nil
    ) {
        self.ema = ema
        self.model = model
        self.optimizer = optimizer
        self.position = position
        self.randomState = randomState
        self.runConfiguration = runConfiguration
        self.attributes = attributes
    }

    /// Captures everything needed to resume `trainer` exactly.
    public init(trainer: Trainer, configuration: RunConfiguration, attributes: WeightsAttributes) {
        self.init(
            model: trainer.model.stateDict(), optimizer: trainer.optimizer.stateDict(),
            position: trainer.position, randomState: ModelRandomState.capture(trainer.model),
            runConfiguration: configuration, attributes: attributes, ema: trainer.weightEMA)
    }

    /// Writes the checkpoint, atomically by default (temporary file, fsync, rename); with
    /// `atomically: false` straight to `url`, which is then the temporary file of the caller's own
    /// atomic replace (the catalog's `saveCheckpoint`).
    public func write(to url: URL, atomically: Bool = true) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func json<T: Encodable>(_ value: T) throws -> HDF5AttributeValue {
            .string(String(decoding: try encoder.encode(value), as: UTF8.self))
        }
        // UInt64 RNG words do not survive JSON doubles: store them as decimal strings.
        let rng = randomState.mapValues { $0.map(String.init) }
        var groups = [
            HDF5Group(
                name: Self.trainingGroup,
                attributes: [
                    "position": try json(position),
                    "random_state": try json(rng),
                    "run_configuration": try json(runConfiguration),
                ])
        ]
        if let optimizer {
            groups.append(
                HDF5Group(name: Self.optimizerGroup, arrays: Self.renamingKeys(optimizer, "/", Self.keySeparator)))
        }
        if let ema {
            groups.append(
                HDF5Group(
                    name: Self.emaGroup, arrays: ema.state,
                    attributes: ["decay": .double(ema.decay), "updates": .int(Int64(ema.updates))]))
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try WeightsFile.write(model, attributes: attributes, groups: groups, to: url, atomically: atomically)
    }

    /// Reads a checkpoint written by `write(to:)`.
    /// - Throws: `WeightsError` for damaged files; `TrainingError` when the training group is
    ///   missing (a plain weights file) or unreadable.
    public static func read(_ url: URL) throws -> TrainingCheckpoint {
        let (state, attributes) = try WeightsFile.read(url)
        let groups = try WeightsFile.groupNames(in: url)
        guard groups.contains(trainingGroup) else { throw TrainingError.notACheckpoint(path: url.path) }
        let training = try WeightsFile.readGroup(trainingGroup, from: url)
        func decode<T: Decodable>(_ key: String, as type: T.Type) throws -> T {
            try decodeField(key, of: training, in: url)
        }
        let position = try decode("position", as: TrainingPosition.self)
        let rngText = try decode("random_state", as: [String: [String]].self)
        let configuration = try decode("run_configuration", as: RunConfiguration.self)
        var rng: [String: [UInt64]] = [:]
        for (k, words) in rngText { rng[k] = words.compactMap { UInt64($0) } }
        let optimizer =
            groups.contains(optimizerGroup)
            ? renamingKeys(try WeightsFile.readGroup(optimizerGroup, from: url).arrays, keySeparator, "/") : nil
        let ema = groups.contains(emaGroup) ? try readEMA(from: url) : nil
        return TrainingCheckpoint(
            model: state, optimizer: optimizer, position: position, randomState: rng,
            runConfiguration: configuration, attributes: attributes, ema: ema)
    }

    /// The `ema` group of a checkpoint file.
    /// - Throws: `TrainingError.noEMA` when the file has none; `TrainingError.missingCheckpointField`
    ///   when its decay or update count is missing; `WeightsError` for a damaged file.
    public static func readEMA(from url: URL) throws -> WeightEMA {
        guard try WeightsFile.groupNames(in: url).contains(emaGroup) else { throw TrainingError.noEMA(path: url.path) }
        let group = try WeightsFile.readGroup(emaGroup, from: url)
        guard case .double(let decay)? = group.attributes["decay"], decay >= 0, decay <= 1 else {
            throw TrainingError.missingCheckpointField(path: url.path, field: "ema decay")
        }
        guard case .int(let updates)? = group.attributes["updates"], updates >= 0 else {
            throw TrainingError.missingCheckpointField(path: url.path, field: "ema updates")
        }
        return WeightEMA(decay: decay, updates: Int(updates), state: group.arrays)
    }

    /// HDF5 names cannot contain "/", which optimizer state keys use (`fc.weight/exp_avg`).
    static let keySeparator = "::"

    static func renamingKeys(_ state: StateDict, _ from: String, _ to: String) -> StateDict {
        StateDict(state.map { ($0.key.replacingOccurrences(of: from, with: to), $0.value) })
    }

    /// Rewrites `source` into `destination` without optimizer state (retention's space saver).
    /// `destination` is the temporary file of the catalog's atomic replace
    /// (`Catalog.stripOptimizerState`), so it is written directly.
    public static func stripOptimizerState(from source: URL, to destination: URL) throws {
        var checkpoint = try read(source)
        checkpoint.optimizer = nil
        try checkpoint.write(to: destination, atomically: false)
    }

    /// Puts the checkpoint's weights, optimizer state, position and RNGs into `trainer`.
    public func restore(into trainer: Trainer) throws {
        _ = try trainer.model.load(model, strict: true)
        if let optimizer { try trainer.optimizer.load(stateDict: optimizer) }
        trainer.position = position
        ModelRandomState.restore(randomState, into: trainer.model)
        if let ema { trainer.weightEMA = ema }
        trainer.resetFeatureCache()
    }

    /// A JSON attribute of the training group.
    static func decodeField<T: Decodable>(_ key: String, of training: HDF5Group, in url: URL) throws -> T {
        guard case .string(let text)? = training.attributes[key] else {
            throw TrainingError.missingCheckpointField(path: url.path, field: key)
        }
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
            throw TrainingError.unreadableCheckpointField(path: url.path, field: key, cause: ErrorCause(error))
        }
    }

    /// Only the run configuration of a checkpoint file: neither weights nor optimizer state are read.
    public static func runConfiguration(in url: URL) throws -> RunConfiguration {
        try trainingField("run_configuration", in: url)
    }

    /// One JSON attribute of a checkpoint file's training group, nothing else read.
    static func trainingField<T: Decodable>(_ key: String, in url: URL) throws -> T {
        guard try WeightsFile.groupNames(in: url).contains(trainingGroup) else {
            throw TrainingError.notACheckpoint(path: url.path)
        }
        return try decodeField(key, of: try WeightsFile.readGroup(trainingGroup, from: url), in: url)
    }
}

extension TrainingCheckpoint {
    /// Writes catalog checkpoint `id` as a plain weights file (no optimizer or training state),
    /// after verifying its checksum, for `graft predict` or as starting weights; with `ema`, its
    /// weight EMA instead of the trained weights.
    /// - Returns: the attributes written.
    @discardableResult
    public static func export(
        checkpoint id: Int64, from catalog: Catalog, to url: URL, ema: Bool = false
    ) throws -> WeightsAttributes {
        let record = try catalog.checkpoint(id: id)
        return try export(record, verifiedFile: try catalog.verifiedFile(for: record), to: url, ema: ema)
    }

    /// `export(checkpoint:from:to:)` for a checkpoint whose file the caller has already verified.
    /// With `ema`, the weights written are the checkpoint's weight EMA (`WeightEMA`) instead of
    /// the trained ones: a model of its own, for `predict`, `evaluate`, an ensemble or publishing.
    /// - Throws: `TrainingError.noEMA` when `ema` is asked of a checkpoint without one.
    @discardableResult
    public static func export(
        _ record: CheckpointRecord, verifiedFile source: URL, to url: URL, ema: Bool = false
    ) throws
        -> WeightsAttributes
    {
        let (weights, attributes) = try WeightsFile.read(source)
        let state = ema ? try readEMA(from: source).state : weights
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var exported = attributes
        exported.sourceFile = source.lastPathComponent
        exported.sourceSHA256 = record.sha256
        exported.convertedAt = WeightsAttributes.now()
        try WeightsFile.write(state, attributes: exported, to: url)
        return exported
    }
}
