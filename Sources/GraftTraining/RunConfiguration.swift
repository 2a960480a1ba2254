import Foundation
import GraftModels
import GraftData
import GraftOptim

/// Everything that defines a training run: enough to rebuild the model, data, optimizer and
/// schedule when resuming from a checkpoint, and what the catalog records.
public struct RunConfiguration: Codable, Sendable, Equatable {
    public var modelId: String
    public var architecture: String
    /// Starting weights (HDF5), nil for a random initialisation.
    public var weights: String?
    public var data: DataSpecification
    public var optimizer: OptimizerConfig
    public var schedule: ScheduleConfig
    public var trainable: [String]
    public var batchNormPolicy: BatchNormPolicy = .eval
    public var gradualUnfreezeEvery: Int? = nil
    /// Megabytes of frozen-trunk output to keep across epochs (`FeatureCache`); nil means the
    /// default (2048), 0 turns the cache off.
    public var featureCacheMB: Int? = nil
    /// Learning-rate factor per block name (discriminative learning rates).
    public var blockLearningRateFactors: [String: Double] = [:]
    public var epochs: Int
    public var batchSize: Int
    public var seed: UInt64
    public var dropout: Float? = nil
    /// Label smoothing ε of the training loss (`nn.CrossEntropyLoss(label_smoothing: ε)`); nil is
    /// none. Validation loss stays the plain cross-entropy, so runs with and without compare.
    public var labelSmoothing: Double? = nil
    /// mixup's α: each training batch is blended with itself rolled by one, with weight
    /// `lam ~ Beta(α, α)` (`BatchMixing`); nil is none.
    public var mixupAlpha: Double? = nil
    /// CutMix's α (`BatchMixing`); nil is none. With `mixupAlpha` too, each batch uses one of
    /// the two, picked with even odds.
    public var cutmixAlpha: Double? = nil
    /// Decay of a weight EMA updated after every step, evaluated each epoch and kept in the
    /// checkpoints (`WeightEMA`); nil keeps none.
    public var emaDecay: Double? = nil
    /// Where `--lr auto` took the schedule's rates from; nil when they were given.
    public var learningRateSource: LearningRateSource? = nil
    /// How the schedule's rates and the block factors were chosen, in words, when a rule chose
    /// them (`graft finetune`); nil when they were given.
    public var learningRateRule: String? = nil
    /// Epochs trained first with blocks and a schedule of their own (`graft finetune`'s frozen
    /// phase: the head alone). `trainable`, `schedule` and `gradualUnfreezeEvery` then apply to the
    /// remaining `epochs - firstPhase.epochs` (`mainEpochs`); `blockLearningRateFactors` to both.
    public var firstPhase: TrainingPhase? = nil
    /// Stop when validation stops improving (`EarlyStopping`); nil trains every epoch.
    public var earlyStopping: EarlyStopping? = nil
    public var save = SavePolicy()
    public var name: String? = nil

    public init(
        modelId: String, architecture: String, weights: String?, data: DataSpecification,
        optimizer: OptimizerConfig, schedule: ScheduleConfig = .constant(), trainable: [String], epochs: Int,
        batchSize: Int, seed: UInt64
    ) {
        self.modelId = modelId
        self.architecture = architecture
        self.weights = weights
        self.data = data
        self.optimizer = optimizer
        self.schedule = schedule
        self.trainable = trainable
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
    }

    /// Checks every value against its valid range, so a bad option or a hand-edited
    /// configuration file fails before anything is trained or saved.
    /// - Throws: `TrainingError.invalidConfiguration` naming the field and the value.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ value: Any, _ reason: String) throws {
            guard ok else { throw TrainingError.invalidConfiguration(field: field, value: "\(value)", reason: reason) }
        }
        try check(epochs >= 1, "epochs", epochs, "must be at least 1")
        if let firstPhase {
            try check(firstPhase.epochs >= 1, "first phase epochs", firstPhase.epochs, "must be at least 1")
            try check(
                firstPhase.epochs < epochs, "first phase epochs", firstPhase.epochs,
                "must leave at least one of the run's \(epochs) epochs to the phase after it")
            try check(
                !firstPhase.trainable.isEmpty, "first phase trainable blocks", firstPhase.trainable,
                "must name at least one block")
            try firstPhase.schedule.validate()
        }
        try check(batchSize >= 1, "batch size", batchSize, "must be at least 1")
        if let dropout {
            try check(dropout.isFinite && dropout >= 0 && dropout < 1, "dropout", dropout, "must be in [0, 1)")
        }
        if let labelSmoothing {
            try check(
                labelSmoothing.isFinite && labelSmoothing >= 0 && labelSmoothing < 1, "label smoothing",
                labelSmoothing, "must be in [0, 1)")
        }
        for (field, alpha) in [("mixup alpha", mixupAlpha), ("cutmix alpha", cutmixAlpha)] {
            if let alpha { try check(alpha.isFinite && alpha > 0, field, alpha, "must be a positive number") }
        }
        if let emaDecay {
            try check(emaDecay.isFinite && emaDecay > 0 && emaDecay < 1, "EMA decay", emaDecay, "must be in (0, 1)")
        }
        if let earlyStopping {
            try check(earlyStopping.patience >= 1, "patience", earlyStopping.patience, "must be at least 1")
            try check(
                earlyStopping.minDelta.isFinite && earlyStopping.minDelta >= 0, "min delta", earlyStopping.minDelta,
                "must be 0 or more")
        }
        if let every = gradualUnfreezeEvery {
            try check(every >= 1, "gradual unfreeze", every, "must be at least 1 epoch")
        }
        if let mb = featureCacheMB { try check(mb >= 0, "feature cache MB", mb, "must be 0 or more") }
        for (block, factor) in blockLearningRateFactors.sorted(by: { $0.key < $1.key }) {
            try check(factor.isFinite && factor >= 0, "lr factor of \(block)", factor, "must be a finite number ≥ 0")
        }
        let f = data.validationFraction
        try check(f.isFinite && f > 0 && f < 1, "validation fraction", f, "must be in (0, 1)")
        if let n = data.trainPerClass { try check(n >= 1, "train per class", n, "must be at least 1") }
        try check(data.imageSize >= 1, "image size", data.imageSize, "must be positive")
        if let mean = data.mean {
            try check(mean.count == 3 && mean.allSatisfy(\.isFinite), "mean", mean, "needs 3 finite values")
        }
        if let std = data.std {
            try check(std.count == 3 && std.allSatisfy { $0.isFinite && $0 > 0 }, "std", std, "needs 3 positive values")
        }
        if let every = save.everyEpochs { try check(every >= 1, "save every", every, "must be at least 1 epoch") }
        try check(save.snapshotsFromCycle >= 0, "snapshots from cycle", save.snapshotsFromCycle, "must be 0 or more")
        try check(!trainable.isEmpty, "trainable blocks", trainable, "must name at least one block")
        try schedule.validate()
    }

    /// Epochs of the run's own blocks and schedule: all of them, less a first phase's.
    public var mainEpochs: Int { epochs - (firstPhase?.epochs ?? 0) }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// A phase that a run trains before its own blocks and schedule take over: `graft finetune`'s
/// frozen phase, fastai's `fine_tune` (the head alone, on the frozen trunk's cached output, with
/// a one-cycle schedule of its own).
public struct TrainingPhase: Codable, Sendable, Equatable {
    /// The phase's length; the run's epochs include it.
    public var epochs: Int
    /// The blocks that train during the phase; the others are frozen.
    public var trainable: [String]
    /// The phase's schedule, its one-cycle spanning the phase.
    public var schedule: ScheduleConfig
    /// How the phase's rate was chosen, in words; nil when it was given.
    public var learningRateRule: String?

    /// A phase of `epochs` epochs training `trainable` with `schedule`.
    public init(epochs: Int, trainable: [String], schedule: ScheduleConfig, learningRateRule: String? = nil) {
        self.epochs = epochs
        self.trainable = trainable
        self.schedule = schedule
        self.learningRateRule = learningRateRule
    }
}
