import Foundation

/// Schedules run one after another, each for its own number of steps and each counting its
/// steps from 0: fastai's `fine_tune`, a one-cycle on the head alone and then another on the
/// unfrozen blocks, as one run. The last phase runs on past its length.
///
/// Only the last phase's minima are minima of the whole: an earlier phase prepares the last one
/// (the head, before the trunk unfreezes), so its end is no snapshot for an ensemble. Cycles are
/// counted from the last phase's first one, as its own schedule counts them.
public struct PhasedSchedule: LRSchedule {
    /// The phases in order, with their lengths in optimizer steps.
    public let phases: [(schedule: any LRSchedule, steps: Int)]

    /// - Parameter phases: at least one; every length but the last's at least one step.
    public init(_ phases: [(schedule: any LRSchedule, steps: Int)]) {
        precondition(!phases.isEmpty, "a phased schedule needs a phase")
        precondition(phases.dropLast().allSatisfy { $0.steps >= 1 }, "a phase before the last needs a step")
        self.phases = phases
    }

    /// Steps before the last phase starts.
    private var lastStart: Int { phases.dropLast().reduce(0) { $0 + $1.steps } }

    /// The phase step `step` runs in, and the step within it.
    private func locate(_ step: Int) -> (schedule: any LRSchedule, local: Int) {
        var start = 0
        for phase in phases.dropLast() {
            if step < start + phase.steps { return (phase.schedule, step - start) }
            start += phase.steps
        }
        return (phases.last!.schedule, step - start)
    }

    public func learningRate(at step: Int) -> Double {
        let (schedule, local) = locate(step)
        return schedule.learningRate(at: local)
    }

    public func momentum(at step: Int) -> Double? {
        let (schedule, local) = locate(step)
        return schedule.momentum(at: local)
    }

    public func cycleIndex(at step: Int) -> Int? {
        let start = lastStart
        return step < start ? nil : phases.last!.schedule.cycleIndex(at: step - start)
    }

    public func isMinimum(at step: Int) -> Bool {
        let start = lastStart
        return step > start && phases.last!.schedule.isMinimum(at: step - start)
    }

    public func minima(upTo limit: Int) -> [Int] {
        let start = lastStart
        return limit <= start ? [] : phases.last!.schedule.minima(upTo: limit - start).map { $0 + start }
    }
}
