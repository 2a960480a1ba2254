import Foundation
import GraftSupport

/// Every failure of GraftTraining: a run's configuration, its checkpoints, resuming, and the
/// training loop. Each case names the run, file, field or value at fault.
public enum TrainingError: LocalizedError, Equatable {
    /// A run configuration field is out of range.
    case invalidConfiguration(field: String, value: String, reason: String)
    /// The loss became NaN or infinite.
    case nonFiniteLoss(epoch: Int, step: Int, value: Float)
    case emptyDataset(String)
    /// A weights file without the training group of a checkpoint.
    case notACheckpoint(path: String)
    case missingCheckpointField(path: String, field: String)
    case unreadableCheckpointField(path: String, field: String, cause: ErrorCause)
    /// The checkpoint's optimizer state was stripped by retention.
    case noOptimizerState(path: String)
    /// Nothing to resume from: no checkpoint with optimizer state (at that epoch).
    case noCheckpoint(run: Int64, epoch: Int?)
    /// A test-time augmentation name that is not one of `known`.
    case unknownTestTimeAugmentation(word: String, known: [String])
    /// A checkpoint's weight EMA was asked for, and the run kept none.
    case noEMA(path: String)

    public var errorDescription: String? {
        switch self {
        case .invalidConfiguration(let field, let value, let reason):
            "\(field) \(value) \(reason)"
        case .nonFiniteLoss(let epoch, let step, let value):
            "training stopped: the loss became \(value) at epoch \(epoch + 1), step \(step) — lower the learning rate or check the data"
        case .emptyDataset(let what):
            "\(what) has no images"
        case .notACheckpoint(let path):
            "\(path): a weights file, not a training checkpoint (no 'training' group)"
        case .missingCheckpointField(let path, let field):
            "\(path): checkpoint lacks '\(field)'"
        case .unreadableCheckpointField(let path, let field, let cause):
            "\(path): checkpoint field '\(field)' is unreadable: \(cause)"
        case .noOptimizerState(let path):
            "\(path): optimizer state was stripped; this checkpoint cannot resume training exactly"
        case .noCheckpoint(let run, let epoch?):
            "run \(run) has no checkpoint with optimizer state at epoch \(epoch)"
        case .noCheckpoint(let run, nil):
            "run \(run) has no checkpoint with optimizer state to resume from"
        case .unknownTestTimeAugmentation(let word, let known):
            "unknown test-time augmentation '\(word)' (known: \(known.joined(separator: ", ")); "
                + "combine them with a comma, as flip,crops)"
        case .noEMA(let path):
            "\(path): this checkpoint has no weight EMA (train with --ema DECAY to keep one)"
        }
    }
}
