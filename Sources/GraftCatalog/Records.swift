import Foundation

// One Sendable struct per table. Swift properties are camelCase; database columns are
// snake_case so the catalog reads naturally from the sqlite3 shell and pandas.
// Every table and column is documented in Catalog/README.md.

/// A weights file known to the catalog (a model's starting point, or an exported model).
public struct WeightsFileRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "weights_file"
    public var id: Int64?
    /// Relative to the catalog's directory when inside it, absolute otherwise.
    public var path: String
    public var modelId: String
    public var sha256: String
    public var bytes: Int64
    public var createdAt: Date

    public init(id: Int64? = nil, path: String, modelId: String, sha256: String, bytes: Int64, createdAt: Date = Date())
    {
        self.id = id; self.path = path; self.modelId = modelId; self.sha256 = sha256; self.bytes = bytes
        self.createdAt = createdAt
    }
}

/// An image dataset: its root directory, class names and a hash of its file list.
public struct DatasetRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "dataset"
    public var id: Int64?
    public var root: String
    /// Stored as a JSON array of strings.
    public var classNames: [String]
    public var contentHash: String
    public var createdAt: Date

    public init(id: Int64? = nil, root: String, classNames: [String], contentHash: String, createdAt: Date = Date()) {
        self.id = id; self.root = root; self.classNames = classNames; self.contentHash = contentHash
        self.createdAt = createdAt
    }
}

/// A train/validation split of a dataset, reproducible from its seed and fraction.
public struct SplitRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "split"
    public var id: Int64?
    public var datasetId: Int64
    public var seed: Int64
    public var valFraction: Double
    public var fileListHash: String
    public var splitPath: String?
    public var createdAt: Date

    public init(
        id: Int64? = nil, datasetId: Int64, seed: Int64, valFraction: Double, fileListHash: String,
        splitPath: String? = nil, createdAt: Date = Date()
    ) {
        self.id = id; self.datasetId = datasetId; self.seed = seed; self.valFraction = valFraction
        self.fileListHash = fileListHash; self.splitPath = splitPath; self.createdAt = createdAt
    }
}

/// A named study: several runs (optimizers × repeats) on one split.
public struct ComparisonRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "comparison"
    public var id: Int64?
    public var name: String
    /// The comparison's configuration as JSON text.
    public var config: String
    public var createdAt: Date

    public init(id: Int64? = nil, name: String, config: String, createdAt: Date = Date()) {
        self.id = id; self.name = name; self.config = config; self.createdAt = createdAt
    }
}

/// Life cycle of a run.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, finished, failed, interrupted
    /// Ended before its planned epochs by early stopping; `RunRecord.stopReason` says why.
    case stoppedEarly = "stopped_early"

    /// Whether the run ended as planned or by early stopping: nothing is left to train.
    public var isComplete: Bool { self == .finished || self == .stoppedEarly }
}

/// One training run: everything needed to reproduce it, and its state.
public struct RunRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "run"
    public var id: Int64?
    public var name: String?
    public var modelId: String
    public var sourceWeightsId: Int64?
    public var sourceWeights: String?
    public var datasetId: Int64?
    public var splitId: Int64?
    public var optimizer: String
    /// Optimizer hyper-parameters as JSON text.
    public var optimizerParams: String
    public var schedule: String
    /// Schedule parameters as JSON text.
    public var scheduleParams: String
    public var freezeSpec: String
    public var bnPolicy: String
    public var seed: Int64
    public var batchSize: Int
    public var epochsPlanned: Int
    public var status: RunStatus
    public var parentRunId: Int64?
    public var resumedFromCheckpointId: Int64?
    public var comparisonId: Int64?
    /// The cell of its comparison's grid the run trains (`ComparisonCell.index`): how a comparison
    /// finds the run of a cell again.
    public var comparisonCell: Int?
    public var errorMessage: String?
    /// Why early stopping ended the run (status `stopped_early`): the epoch, the metric and its best.
    public var stopReason: String? = nil
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// The machine and process training the run while it is `running`, and when it last
    /// reported: a run whose process is gone shows as interrupted (`Catalog.effectiveStatus`).
    public var host: String?
    public var pid: Int32?
    public var heartbeatAt: Date?

    public init(
        id: Int64? = nil, name: String? = nil, modelId: String, sourceWeightsId: Int64? = nil,
        sourceWeights: String? = nil, datasetId: Int64? = nil, splitId: Int64? = nil,
        optimizer: String, optimizerParams: String = "{}", schedule: String = "constant",
        scheduleParams: String = "{}", freezeSpec: String = "", bnPolicy: String = "train",
        seed: Int64 = 0, batchSize: Int, epochsPlanned: Int, status: RunStatus = .queued,
        parentRunId: Int64? = nil, resumedFromCheckpointId: Int64? = nil, comparisonId: Int64? = nil,
        comparisonCell: Int? = nil, errorMessage: String? = nil, createdAt: Date = Date(), startedAt: Date? = nil,
        finishedAt: Date? = nil
    ) {
        self.id = id; self.name = name; self.modelId = modelId; self.sourceWeightsId = sourceWeightsId
        self.sourceWeights = sourceWeights; self.datasetId = datasetId; self.splitId = splitId
        self.optimizer = optimizer; self.optimizerParams = optimizerParams; self.schedule = schedule
        self.scheduleParams = scheduleParams; self.freezeSpec = freezeSpec; self.bnPolicy = bnPolicy
        self.seed = seed; self.batchSize = batchSize; self.epochsPlanned = epochsPlanned; self.status = status
        self.parentRunId = parentRunId; self.resumedFromCheckpointId = resumedFromCheckpointId
        self.comparisonId = comparisonId; self.comparisonCell = comparisonCell; self.errorMessage = errorMessage
        self.createdAt = createdAt
        self.startedAt = startedAt; self.finishedAt = finishedAt
    }

}

/// Metrics at the end of one epoch of a run.
public struct EpochMetricRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "epoch_metric"
    public var id: Int64?
    public var runId: Int64
    public var epoch: Int
    public var globalStep: Int64?
    public var trainLoss: Double?
    public var trainAcc: Double?
    public var valLoss: Double?
    public var valAcc: Double?
    /// Learning rate at the end of the epoch.
    public var lr: Double?
    public var seconds: Double?
    /// Validation loss of the run's weight EMA (`--ema`), nil without one.
    public var emaValLoss: Double?
    /// Validation accuracy of the run's weight EMA, nil without one.
    public var emaValAcc: Double?

    public init(
        id: Int64? = nil, runId: Int64, epoch: Int, globalStep: Int64? = nil, trainLoss: Double? = nil,
        trainAcc: Double? = nil, valLoss: Double? = nil, valAcc: Double? = nil, lr: Double? = nil,
        seconds: Double? = nil, emaValLoss: Double? = nil, emaValAcc: Double? = nil
    ) {
        self.id = id; self.runId = runId; self.epoch = epoch; self.globalStep = globalStep
        self.trainLoss = trainLoss; self.trainAcc = trainAcc; self.valLoss = valLoss; self.valAcc = valAcc
        self.lr = lr; self.seconds = seconds; self.emaValLoss = emaValLoss; self.emaValAcc = emaValAcc
    }
}

/// Why a checkpoint was saved. A checkpoint can have several reasons.
public enum CheckpointReason: String, Codable, Sendable, CaseIterable, Comparable {
    case periodic, minimum, best, last

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Encodes reasons as the catalog's `kind` column: comma-separated, in a fixed order.
    public static func kind(_ reasons: Set<CheckpointReason>) -> String {
        reasons.sorted().map(\.rawValue).joined(separator: ",")
    }
}

/// A registered checkpoint file of a run.
public struct CheckpointRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "checkpoint"
    public var id: Int64?
    public var runId: Int64
    public var epoch: Int
    public var globalStep: Int64
    /// Learning rate at the moment of saving.
    public var lr: Double
    /// Index of the schedule cycle (cyclical schedules), else nil.
    public var cycleIndex: Int?
    /// Whether the save happened at a schedule minimum (snapshot-ensemble candidate).
    public var isMinimum: Bool
    public var trainLoss: Double?
    public var trainAcc: Double?
    public var valLoss: Double?
    public var valAcc: Double?
    public var path: String
    public var bytes: Int64
    public var sha256: String
    public var hasOptimizerState: Bool
    /// Comma-separated `CheckpointReason`s, e.g. `minimum,best`.
    public var kind: String
    public var createdAt: Date

    public init(
        id: Int64? = nil, runId: Int64, epoch: Int, globalStep: Int64, lr: Double, cycleIndex: Int? = nil,
        isMinimum: Bool = false, trainLoss: Double? = nil, trainAcc: Double? = nil, valLoss: Double? = nil,
        valAcc: Double? = nil, path: String = "", bytes: Int64 = 0, sha256: String = "",
        hasOptimizerState: Bool = true, reasons: Set<CheckpointReason> = [.periodic], createdAt: Date = Date()
    ) {
        self.id = id; self.runId = runId; self.epoch = epoch; self.globalStep = globalStep; self.lr = lr
        self.cycleIndex = cycleIndex; self.isMinimum = isMinimum; self.trainLoss = trainLoss
        self.trainAcc = trainAcc; self.valLoss = valLoss; self.valAcc = valAcc; self.path = path
        self.bytes = bytes; self.sha256 = sha256; self.hasOptimizerState = hasOptimizerState
        self.kind = CheckpointReason.kind(reasons); self.createdAt = createdAt
    }

    /// Decodes a row by hand: listings decode many checkpoints, and this is several times
    /// faster than the Codable path.
    init(row: SQLRow) throws {
        guard let runId = row.int64("run_id"), let epoch = row.int64("epoch"), let step = row.int64("global_step"),
            let lr = row.double("lr"), let path = row.string("path"), let createdAt = row.date("created_at")
        else { throw CatalogError.database(reason: "a checkpoint row lacks a required column: \(row.values)") }
        id = row.int64("id"); self.runId = runId; self.epoch = Int(epoch); globalStep = step; self.lr = lr
        cycleIndex = row.int64("cycle_index").map { Int($0) }; isMinimum = row.bool("is_minimum") ?? false
        trainLoss = row.double("train_loss"); trainAcc = row.double("train_acc"); valLoss = row.double("val_loss")
        valAcc = row.double("val_acc"); self.path = path; bytes = row.int64("bytes") ?? 0
        sha256 = row.string("sha256") ?? ""; hasOptimizerState = row.bool("has_optimizer_state") ?? false
        kind = row.string("kind") ?? ""; self.createdAt = createdAt
    }

    /// The reasons decoded from `kind` (unknown words are ignored).
    public var reasons: Set<CheckpointReason> {
        Set(kind.split(separator: ",").compactMap { CheckpointReason(rawValue: String($0)) })
    }

}

/// One learning-rate range test (Smith 2017): the sweep and its settings.
public struct LRTestRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "lr_test"
    public var id: Int64?
    public var runId: Int64?
    public var modelId: String
    public var datasetId: Int64?
    public var splitId: Int64?
    public var optimizer: String
    public var startLr: Double
    public var endLr: Double
    public var steps: Int
    /// Remaining settings (mode, smoothing, divergence threshold, …) as JSON text.
    public var config: String
    public var createdAt: Date

    public init(
        id: Int64? = nil, runId: Int64? = nil, modelId: String, datasetId: Int64? = nil,
        splitId: Int64? = nil, optimizer: String, startLr: Double, endLr: Double, steps: Int,
        config: String = "{}", createdAt: Date = Date()
    ) {
        self.id = id; self.runId = runId; self.modelId = modelId; self.datasetId = datasetId
        self.splitId = splitId; self.optimizer = optimizer; self.startLr = startLr; self.endLr = endLr
        self.steps = steps; self.config = config; self.createdAt = createdAt
    }
}

/// One point of an LR range test curve.
public struct LRTestPointRecord: CatalogRecord, Equatable {
    public static let databaseTableName = "lr_test_point"
    public var lrTestId: Int64
    public var step: Int
    public var lr: Double
    public var loss: Double
    public var smoothedLoss: Double?

    public init(lrTestId: Int64 = 0, step: Int, lr: Double, loss: Double, smoothedLoss: Double? = nil) {
        self.lrTestId = lrTestId; self.step = step; self.lr = lr; self.loss = loss; self.smoothedLoss = smoothedLoss
    }
}

/// One learning-rate suggestion derived from an LR range test curve.
public struct LRSuggestionRecord: CatalogRecord, Equatable {
    public static let databaseTableName = "lr_test_suggestion"
    public var lrTestId: Int64
    /// How it was derived, e.g. `steepest`, `min/10`, `valley`.
    public var method: String
    public var lr: Double
    public var loss: Double?

    public init(lrTestId: Int64 = 0, method: String, lr: Double, loss: Double? = nil) {
        self.lrTestId = lrTestId; self.method = method; self.lr = lr; self.loss = loss
    }
}

/// The evaluation of an ensemble of checkpoints (snapshot ensemble, FGE, SWA, …).
public struct EnsembleRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "ensemble"
    public var id: Int64?
    public var runId: Int64?
    /// `probs`, `logits`, `vote`, `swa`, optionally with `+greedy`.
    public var method: String
    /// Member checkpoint ids in evaluation order, stored as a JSON array.
    public var memberCheckpointIds: [Int64]
    public var accuracy: Double
    public var loss: Double?
    public var bestSingleAccuracy: Double?
    /// `accuracy - bestSingleAccuracy`.
    public var gain: Double?
    /// Which data it was evaluated on (`val`, `test`, …).
    public var evaluatedOn: String
    public var samples: Int?
    public var createdAt: Date
    /// Members × members: the fraction of samples whose predicted class differs, and the
    /// correlation of the predicted probabilities (JSON arrays; nil in older catalogs).
    public var disagreement: [[Double]]?
    public var correlation: [[Double]]?

    public init(
        id: Int64? = nil, runId: Int64? = nil, method: String, memberCheckpointIds: [Int64],
        accuracy: Double, loss: Double? = nil, bestSingleAccuracy: Double? = nil, gain: Double? = nil,
        evaluatedOn: String = "val", samples: Int? = nil, createdAt: Date = Date(),
        disagreement: [[Double]]? = nil, correlation: [[Double]]? = nil
    ) {
        self.id = id; self.runId = runId; self.method = method; self.memberCheckpointIds = memberCheckpointIds
        self.accuracy = accuracy; self.loss = loss; self.bestSingleAccuracy = bestSingleAccuracy
        self.gain = gain; self.evaluatedOn = evaluatedOn; self.samples = samples; self.createdAt = createdAt
        self.disagreement = disagreement; self.correlation = correlation
    }
}

/// One member of an ensemble: its own result and the ensemble's accuracy once it was added.
public struct EnsembleMemberRecord: CatalogRecord, Equatable {
    public static let databaseTableName = "ensemble_member"
    public var ensembleId: Int64
    public var position: Int
    /// Nil once the checkpoint has been pruned (the ensemble result stays).
    public var checkpointId: Int64?
    public var accuracy: Double?
    public var loss: Double?
    /// Accuracy of the ensemble of members `0...position` (accuracy against ensemble size).
    public var ensembleAccuracy: Double?
    /// For greedy selection: whether the member was kept.
    public var selected: Bool

    public init(
        ensembleId: Int64 = 0, position: Int, checkpointId: Int64?, accuracy: Double? = nil,
        loss: Double? = nil, ensembleAccuracy: Double? = nil, selected: Bool = true
    ) {
        self.ensembleId = ensembleId; self.position = position; self.checkpointId = checkpointId
        self.accuracy = accuracy; self.loss = loss; self.ensembleAccuracy = ensembleAccuracy
        self.selected = selected
    }
}

/// A file operation in flight: recorded before a checkpoint file appears or disappears, removed
/// in the same transaction that makes the catalog agree with the disk. Rows left behind name
/// exactly the files an interrupted process may have left, so `check()` can tell them from
/// genuine orphans.
public struct FileIntentRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    public static let databaseTableName = "file_intent"
    /// Whether the file is being saved or deleted.
    public enum Action: String, Codable, Sendable { case save, delete }
    public var id: Int64?
    public var path: String
    public var action: Action
    public var pid: Int32
    public var createdAt: Date

    public init(id: Int64? = nil, path: String, action: Action, pid: Int32 = getpid(), createdAt: Date = Date()) {
        self.id = id; self.path = path; self.action = action; self.pid = pid; self.createdAt = createdAt
    }
}
