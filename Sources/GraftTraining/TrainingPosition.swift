import Foundation

/// Metrics of one finished epoch.
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
    /// Validation loss of the weight average (`WeightEMA`), nil without one.
    public var emaValidationLoss: Double? = nil
    /// Validation accuracy of the weight average, nil without one.
    public var emaValidationAccuracy: Double? = nil
}

/// Where training stands: everything besides weights and optimizer state that an exact resume
/// needs.
public struct TrainingPosition: Codable, Sendable, Equatable {
    /// Epochs fully completed.
    public var epoch = 0
    /// Batches completed within the current epoch (non-zero only for mid-epoch snapshots).
    public var batchInEpoch = 0
    /// Optimizer steps taken since the start of the run.
    public var globalStep = 0
    /// Running sums of the current epoch's training metrics, so a mid-epoch resume reports the
    /// same epoch numbers.
    var epochLossSum = 0.0
    var epochCorrect = 0
    var epochSeen = 0
    public var history: [EpochMetrics] = []

    public init() {}
}

/// A moment at which the trainer offers the caller a checkpoint.
public struct CheckpointMoment: Sendable, Equatable {
    /// An epoch just finished (otherwise this is a mid-epoch schedule minimum).
    public var isEpochEnd: Bool
    /// The 0-based cycle that just ended when the schedule is at a minimum (a cycle's end, its
    /// lowest learning rate), else nil.
    public var minimumOfCycle: Int?
}
