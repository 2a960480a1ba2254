import Foundation
import GraftOptim

/// Stops a run when a validation metric has stopped improving, as Keras' `EarlyStopping`:
/// after `patience` checks in a row without an improvement larger than `minDelta`.
///
/// With a constant or decaying schedule every epoch is a check. With a cyclical one, only the
/// epochs that end at a cycle minimum are: patience counts cycles, and a run stops only at a
/// minimum, so every snapshot taken stays a valid ensemble member. The decision depends on the
/// recorded epochs alone, so a resumed run stops where an uninterrupted one would.
public struct EarlyStopping: Codable, Sendable, Equatable {
    /// The validation metric watched.
    public enum Monitor: String, Codable, Sendable, CaseIterable {
        /// Validation loss: lower is better.
        case valLoss = "val_loss"
        /// Validation accuracy: higher is better.
        case valAcc = "val_acc"
    }

    /// Checks in a row without improvement that stop the run (at least 1).
    public var patience: Int
    /// The metric watched.
    public var monitor: Monitor
    /// The smallest change that counts as an improvement (Keras' `min_delta`).
    public var minDelta: Double

    /// Early stopping after `patience` checks without an improvement of `monitor` by more than `minDelta`.
    public init(patience: Int, monitor: Monitor = .valLoss, minDelta: Double = 0) {
        self.patience = patience
        self.monitor = monitor
        self.minDelta = minDelta
    }

    /// Why a run stopped.
    public struct Stop: Sendable, Equatable {
        /// The epoch (1-based) it stopped after.
        public var epoch: Int
        /// The epoch with the best value of the metric, and that value.
        public var bestEpoch: Int
        /// The best value of the monitored metric.
        public var best: Double
        /// Checks since the best one.
        public var checksWithoutImprovement: Int
    }

    /// The stop the recorded epochs call for at their last epoch, or nil to go on.
    /// - Parameters:
    ///   - history: every epoch of the run so far, in order.
    ///   - isCheck: whether an epoch (1-based) is a check: every epoch, or the cycle minima.
    public func stop(history: [EpochMetrics], isCheck: (Int) -> Bool) -> Stop? {
        guard let last = history.last, isCheck(last.epoch) else { return nil }
        var best: (epoch: Int, value: Double)?
        var waited = 0
        for metrics in history where isCheck(metrics.epoch) {
            guard let value = monitor == .valLoss ? metrics.validationLoss : metrics.validationAccuracy else {
                continue
            }
            if let current = best, !improves(value, on: current.value) {
                waited += 1
            } else {
                best = (metrics.epoch, value)
                waited = 0
            }
        }
        guard let best, waited >= patience else { return nil }
        return Stop(epoch: last.epoch, bestEpoch: best.epoch, best: best.value, checksWithoutImprovement: waited)
    }

    /// The check epochs of a run: every epoch, or with two or more cycle minima in the run (a
    /// cyclical schedule), the epochs in which a minimum falls (at the epoch's end, or within it
    /// when cycles do not end on epoch boundaries: validation runs at epoch ends only).
    /// - Parameters:
    ///   - schedule: the run's schedule, in steps.
    ///   - stepsPerEpoch: batches per epoch.
    ///   - epochs: the run's planned epochs.
    public static func checks(
        schedule: any LRSchedule, stepsPerEpoch: Int, epochs: Int
    ) -> (cyclical: Bool, isCheck: @Sendable (Int) -> Bool) {
        let minima = schedule.minima(upTo: stepsPerEpoch * epochs)
        guard minima.count >= 2 else { return (false, { _ in true }) }
        let epochsWithMinimum = Set(minima.map { ($0 + stepsPerEpoch - 1) / stepsPerEpoch })
        return (true, { epochsWithMinimum.contains($0) })
    }

    func improves(_ value: Double, on best: Double) -> Bool {
        monitor == .valLoss ? value < best - minDelta : value > best + minDelta
    }

    /// The stop in words, for the run's record: `stopped after epoch 12: val_loss has not improved
    /// for 3 cycles (best 0.3120 at epoch 6)`.
    public func describe(_ stop: Stop, cyclical: Bool) -> String {
        let unit = cyclical ? "cycle" : "epoch"
        let count = "\(stop.checksWithoutImprovement) \(unit)\(stop.checksWithoutImprovement == 1 ? "" : "s")"
        return "stopped after epoch \(stop.epoch): \(monitor.rawValue) has not improved for \(count) "
            + "(best \(String(format: "%.4f", stop.best)) at epoch \(stop.bestEpoch))"
    }
}
