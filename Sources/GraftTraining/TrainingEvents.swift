import Foundation
import GraftCatalog
import GraftOptim
import GraftReport

/// What a `TrainingRun` reports while it trains, for a presenter to show: the command line's
/// progress bars (`TrainingProgressPrinter`), a log, or a caller's own view.
public enum TrainingEvent {
    /// Something about the configuration worth knowing before it trains.
    case warning(String)
    /// A training step ended.
    case step(TrainingStep)
    /// An epoch ended. `featureCache` describes, once per cache, what later epochs skip.
    case epochEnded(EpochMetrics, plannedEpochs: Int, featureCache: String?)
    /// A checkpoint was saved and registered.
    case checkpointSaved(CheckpointRecord)
    /// Training stopped with an error (the run is marked failed).
    case failed(any Error)
    /// Early stopping ended the run before its planned epochs; the reason in words.
    case stoppedEarly(String)
}

/// One step's figures, with where it stands in the run.
public struct TrainingStep {
    /// The position after the step: `batchInEpoch` counts it.
    public var position: TrainingPosition
    public var loss: Float
    /// The epoch's training accuracy so far.
    public var accuracy: Double
    public var learningRate: Double
    public var batchesPerEpoch: Int
    public var plannedEpochs: Int
    /// Whether the epoch runs on cached trunk features (no image loaded, the trunk skipped).
    public var onCachedFeatures: Bool
}

/// Renders a run's events on standard error: a progress bar per epoch, a line when it ends,
/// and warnings (also when `progress` is off).
public final class TrainingProgressPrinter {
    private let progress: Bool
    private var bar: ProgressBar?

    public init(progress: Bool = true) { self.progress = progress }

    public func show(_ event: TrainingEvent) {
        switch event {
        case .warning(let text):
            FileHandle.standardError.write(Data("warning: \(text)\n".utf8))
        case .step(let step):
            guard progress else { return }
            if bar == nil || step.position.batchInEpoch == 1 && bar?.total != step.batchesPerEpoch {
                let cached = step.onCachedFeatures ? " (cached features)" : ""
                bar = ProgressBar(
                    total: step.batchesPerEpoch,
                    label: "epoch \(step.position.epoch + 1)/\(step.plannedEpochs)\(cached)")
            }
            bar?.update(
                step: step.position.batchInEpoch,
                metrics: [
                    ("loss", Format.compact(Double(step.loss))), ("acc", Format.percent(step.accuracy)),
                    ("lr", Format.lr(step.learningRate)),
                ])
        case .epochEnded(let metrics, let planned, let featureCache):
            guard progress else { return }
            var line =
                "epoch \(metrics.epoch)/\(planned): train loss \(Format.compact(metrics.trainLoss)) acc \(Format.percent(metrics.trainAccuracy))"
            if let vl = metrics.validationLoss, let va = metrics.validationAccuracy {
                line += ", val loss \(Format.compact(vl)) acc \(Format.percent(va))"
            }
            if let vl = metrics.emaValidationLoss, let va = metrics.emaValidationAccuracy {
                line += ", EMA val loss \(Format.compact(vl)) acc \(Format.percent(va))"
            }
            line += ", lr \(Format.lr(metrics.learningRate)), \(Format.duration(metrics.seconds))"
            if let featureCache { line += "\n  " + featureCache }
            bar?.finish(summary: line)
            bar = nil
        case .checkpointSaved:
            break
        case .failed:
            bar?.finish(summary: nil)
            bar = nil
        case .stoppedEarly(let reason):
            guard progress else { return }
            FileHandle.standardError.write(Data("early stopping: \(reason)\n".utf8))
        }
    }
}

// The catalog names its metric columns as SQL does (`val_acc`); training names them in full.
// These are the only places one is written as the other.
extension EpochMetricRecord {
    init(runId: Int64, metrics m: EpochMetrics, globalStep: Int?) {
        self.init(
            runId: runId, epoch: m.epoch, globalStep: globalStep.map(Int64.init), trainLoss: m.trainLoss,
            trainAcc: m.trainAccuracy, valLoss: m.validationLoss, valAcc: m.validationAccuracy, lr: m.learningRate,
            seconds: m.seconds, emaValLoss: m.emaValidationLoss, emaValAcc: m.emaValidationAccuracy)
    }
}

extension CheckpointRecord {
    /// The draft row of a checkpoint taken after `globalStep` steps; `metrics` are the epoch's
    /// when it is taken at an epoch's end, nil inside an epoch.
    init(
        runId: Int64, epoch: Int, globalStep: Int, lr: Double, cycleIndex: Int?, metrics m: EpochMetrics?,
        reasons: Set<CheckpointReason>
    ) {
        self.init(
            runId: runId, epoch: epoch, globalStep: Int64(globalStep), lr: lr, cycleIndex: cycleIndex,
            isMinimum: reasons.contains(.minimum), trainLoss: m?.trainLoss, trainAcc: m?.trainAccuracy,
            valLoss: m?.validationLoss, valAcc: m?.validationAccuracy, hasOptimizerState: true, reasons: reasons)
    }
}

extension RunConfiguration {
    /// The schedule in optimizer steps, `stepsPerEpoch` to an epoch: the run's own, which follows
    /// a first phase's when there is one (`trainingSchedule` joins them).
    /// - Throws: `GraftOptimError` naming a length that comes to less than one step.
    public func resolvedSchedule(stepsPerEpoch: Int) throws -> ResolvedSchedule {
        try schedule.resolve(
            stepsPerEpoch: stepsPerEpoch, runSteps: stepsPerEpoch * mainEpochs, optimizerLR: optimizer.learningRate)
    }

    /// A first phase's schedule in optimizer steps, spanning the phase; nil without one.
    /// - Throws: `GraftOptimError` naming a length that comes to less than one step.
    public func resolvedFirstPhaseSchedule(stepsPerEpoch: Int) throws -> ResolvedSchedule? {
        try firstPhase.map {
            try $0.schedule.resolve(
                stepsPerEpoch: stepsPerEpoch, runSteps: stepsPerEpoch * $0.epochs, optimizerLR: optimizer.learningRate)
        }
    }

    /// The schedule the trainer runs: a first phase's, then the run's own, counted in steps from
    /// the run's start.
    /// - Throws: `GraftOptimError` naming a length that comes to less than one step.
    public func trainingSchedule(stepsPerEpoch: Int) throws -> any LRSchedule {
        let main = try resolvedSchedule(stepsPerEpoch: stepsPerEpoch).schedule
        guard let first = try resolvedFirstPhaseSchedule(stepsPerEpoch: stepsPerEpoch), let phase = firstPhase else {
            return main
        }
        return PhasedSchedule([(first.schedule, stepsPerEpoch * phase.epochs), (main, stepsPerEpoch * mainEpochs)])
    }

    /// What may surprise about this configuration once its steps per epoch are known: an
    /// optimizer that cannot use what the schedule sets, a cyclical run that ends before its
    /// first cycle (so no minimum is captured).
    public func warnings(stepsPerEpoch: Int) -> [String] {
        var warnings = OptimizerWarning.check(optimizer, schedule: schedule).map(\.description)
        let totalSteps = stepsPerEpoch * mainEpochs
        if case .cyclic(let cyclic) = try? resolvedSchedule(stepsPerEpoch: stepsPerEpoch),
            cyclic.stepSizeUp + cyclic.stepSizeDown > totalSteps
        {
            warnings.append(
                "the run's \(totalSteps) steps end before the first cycle does (\(cyclic.stepSizeUp) up), so no schedule minimum is reached"
            )
        }
        warnings += batchMixingWarnings
        return warnings
    }
}
