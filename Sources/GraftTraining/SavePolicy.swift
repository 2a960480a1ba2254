import Foundation
import GraftCatalog

/// When checkpoints are written and which are kept.
public struct SavePolicy: Codable, Sendable, Equatable {
    /// Save every N epochs (nil: never periodically).
    public var everyEpochs: Int? = nil
    /// Save at every schedule minimum (snapshot-ensemble members).
    public var atMinima: Bool = true
    /// Save when validation accuracy improves.
    public var best: Bool = true
    /// Save after the last epoch.
    public var last: Bool = true
    /// Cycles to skip before minima are captured (`--snapshots-from-cycle`).
    public var snapshotsFromCycle: Int = 0
    /// Retention applied when the run ends, e.g. `best:3,minima,last`; nil keeps everything.
    public var keep: KeepSpec? = nil

    public init() {}
}

extension SavePolicy {
    /// Why a checkpoint is taken at `moment`: empty when it is not. `bestAccuracy` is the best
    /// validation accuracy so far, raised when this epoch beats it.
    func reasons(
        at moment: CheckpointMoment, position: TrainingPosition, plannedEpochs: Int,
        bestAccuracy: inout Double?
    ) -> Set<CheckpointReason> {
        var reasons = Set<CheckpointReason>()
        let epoch = position.epoch
        if let cycle = moment.minimumOfCycle, atMinima, cycle >= snapshotsFromCycle { reasons.insert(.minimum) }
        guard moment.isEpochEnd else { return reasons }
        if let everyEpochs, everyEpochs > 0, epoch % everyEpochs == 0 { reasons.insert(.periodic) }
        if last && epoch == plannedEpochs { reasons.insert(.last) }
        if best, let accuracy = position.history.last?.validationAccuracy, accuracy > (bestAccuracy ?? -1) {
            bestAccuracy = accuracy
            reasons.insert(.best)
        }
        return reasons
    }
}
