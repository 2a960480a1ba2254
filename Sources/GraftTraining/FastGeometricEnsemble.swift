import Foundation
import GraftCatalog
import GraftOptim

/// Fast geometric ensembling (Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast
/// Ensembling of DNNs"): from a trained checkpoint, `cycles` short cycles of the learning rate
/// between a high and a low rate, a member taken at each low point. The members stay near the
/// trained weights, along a path of low loss, yet disagree enough to pay as an ensemble, for a
/// fraction of the training that independent runs would need.
///
/// Each cycle is a triangular `CyclicLR` (low → high → low) of `cycleEpochs` epochs, with a
/// checkpoint at its end: Garipov's piecewise-linear cycle (high → low → high, the member at the
/// middle), shifted by half a cycle so that the first steps from the trained weights use the low
/// rate. The training is one catalog run whose parent is the checkpoint's run and which records
/// the checkpoint it started from; its minima are the members, for `EnsembleJob` with `minimaOnly`.
public struct FastGeometricRun: Sendable, Equatable {
    /// The catalog checkpoint the cycles start from.
    public var checkpointId: Int64
    /// Cycles, one member each.
    public var cycles: Int
    /// Epochs per cycle (Garipov used 2 to 4).
    public var cycleEpochs: Int
    /// The cycle's low and high rates; nil: the high rate is the peak rate of the checkpoint's
    /// run, the low one a hundredth of it (Garipov's α₁ and α₂ = α₁/100).
    public var learningRate: LearningRate?

    /// Cycles from checkpoint `checkpointId`, the rates from its run.
    public init(checkpointId: Int64, cycles: Int, cycleEpochs: Int, learningRate: LearningRate? = nil) {
        self.checkpointId = checkpointId
        self.cycles = cycles
        self.cycleEpochs = cycleEpochs
        self.learningRate = learningRate
    }

    /// The configuration of the cycles' run: the checkpoint's run's, starting from `weights` (the
    /// checkpoint's weights, exported), with the cycles' schedule and epochs, a checkpoint at each
    /// minimum, and no early stopping or first phase.
    /// - Throws: `TrainingError.invalidConfiguration` naming a value out of range.
    public func configuration(parent: RunConfiguration, weights: URL) throws -> RunConfiguration {
        func fail(_ field: String, _ value: Any, _ reason: String) -> TrainingError {
            .invalidConfiguration(field: field, value: "\(value)", reason: reason)
        }
        guard cycles >= 2 else { throw fail("cycles", cycles, "an ensemble needs at least 2") }
        guard cycleEpochs >= 1 else { throw fail("cycle epochs", cycleEpochs, "must be at least 1") }
        let (low, high) = try rates(parent: parent)
        guard low.isFinite, high.isFinite, low > 0, high > low else {
            throw fail("lr", "\(low):\(high)", "the cycle needs 0 < low < high")
        }
        var config = parent
        config.weights = weights.path
        config.firstPhase = nil
        config.earlyStopping = nil
        config.gradualUnfreezeEvery = nil
        config.learningRateSource = nil
        config.schedule = .triangular(low, high, stepSize: .epochs(Double(cycleEpochs) / 2))
        config.learningRateRule =
            learningRate == nil
            ? "fast geometric ensembling: the parent run's peak rate \(high), and a hundredth of it (Garipov et al.)"
            : nil
        config.epochs = cycles * cycleEpochs
        var save = SavePolicy()
        save.best = false
        save.keep = KeepSpec(items: [.minima])
        config.save = save
        config.name = "fge from checkpoint \(checkpointId): \(cycles) cycles of \(cycleEpochs) epochs"
        try config.validate()
        return config
    }

    /// The cycle's low and high rates: given, or from the parent run's peak rate.
    func rates(parent: RunConfiguration) throws -> (Double, Double) {
        if let learningRate {
            guard case .range(let low, let high) = learningRate else {
                throw TrainingError.invalidConfiguration(
                    field: "lr", value: learningRate.description, reason: "the cycle takes low:high, e.g. 1e-4:1e-2")
            }
            return (low, high)
        }
        let peak: Double =
            switch parent.schedule.lr {
            case .range(_, let high)?: high
            case .rate(let rate)?: rate
            case nil: parent.optimizer.learningRate
            }
        return (peak / 100, peak)
    }

    /// Trains the cycles from the checkpoint as a new catalog run.
    /// - Parameters:
    ///   - catalog: the catalog holding the checkpoint; the run and its members go there too.
    ///   - showProgress: progress bars and epoch lines on standard error.
    ///   - onEvent: each step, epoch and checkpoint.
    /// - Returns: the run; its checkpoints at minima are the members.
    /// - Throws: `CatalogError.notFound`, a missing or altered checkpoint file, invalid values,
    ///   and training errors.
    public func train(
        catalog: Catalog, showProgress: Bool = true, onEvent: ((TrainingEvent) -> Void)? = nil
    ) throws -> RunSummary {
        let record = try catalog.checkpoint(id: checkpointId)
        let file = try catalog.verifiedFile(for: record)
        let parent = try TrainingCheckpoint.read(file).runConfiguration
        // The starting weights as a file of their own: the checkpoint may be pruned later, and a
        // resumed cycle run reads its starting weights again.
        let weights = catalog.baseDirectory.appendingPathComponent("fge/checkpoint-\(checkpointId).h5")
        try TrainingCheckpoint.export(record, verifiedFile: file, to: weights)
        let configuration = try configuration(parent: parent, weights: weights)
        let run = TrainingRun(configuration: configuration, catalog: catalog)
        run.showProgress = showProgress
        run.onEvent = onEvent
        run.lineage = (run: record.runId, checkpoint: checkpointId)
        return try run.start()
    }
}
