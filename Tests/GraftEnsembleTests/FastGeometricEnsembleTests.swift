import Foundation
import GraftCatalog
import GraftData
import GraftEnsemble
import GraftOptim
import GraftTraining
import GraftWeights
import Testing
import TestSupport

/// Fast geometric ensembling: short cycles from a trained checkpoint, one catalog run whose parent
/// is that checkpoint's run, a member at each cycle's low point.
struct FastGeometricEnsembleTests {
    @Test(.enabled(if: Fixtures.prerequisite.runs, Fixtures.prerequisite.comment))
    func cyclesFromACheckpointAreARunOfItsOwnWithAMemberPerCycle() throws {
        let directory = try TemporaryDirectory.make("graft-fge")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        var data = DataSpecification(source: Fixtures.url("imagefolder").path, imageSize: 32)
        data.mean = [0.5, 0.5, 0.5]
        data.std = [0.25, 0.25, 0.25]
        let parent = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil, data: data,
            optimizer: OptimizerConfig(kind: .sgd), schedule: .constant(0.01),
            trainable: ["block3", "block4", "head"], epochs: 2, batchSize: 4, seed: 1)
        let trained = TrainingRun(configuration: parent, catalog: catalog)
        trained.showProgress = false
        let parentSummary = try trained.start()
        let start = try #require(parentSummary.checkpointIds.last)

        let cycles = FastGeometricRun(checkpointId: start, cycles: 2, cycleEpochs: 2)
        let summary = try cycles.train(catalog: catalog, showProgress: false)
        let record = try catalog.run(id: summary.runId)
        #expect(record.parentRunId == parentSummary.runId && record.resumedFromCheckpointId == start)
        #expect(summary.history.count == 4)
        // The parent's peak rate and a hundredth of it, one cycle every 2 epochs.
        let saved = try #require(try catalog.checkpoints(filter: CheckpointFilter(run: summary.runId)).last)
        let config = try TrainingCheckpoint.read(try catalog.verifiedFile(for: saved.checkpoint)).runConfiguration
        #expect(config.schedule == .triangular(1e-4, 1e-2, stepSize: .epochs(1)))
        // It started from the checkpoint's weights.
        let startState = try TrainingCheckpoint.read(
            try catalog.verifiedFile(for: try catalog.checkpoint(id: start))
        ).model
        let weights = try #require(config.weights)
        #expect(try WeightsFile.read(URL(fileURLWithPath: weights)).0 == startState)

        let minima = try catalog.checkpoints(filter: CheckpointFilter(run: summary.runId, minimaOnly: true))
        #expect(minima.map(\.checkpoint.epoch) == [2, 4])
        var job = EnsembleJob()
        job.run = summary.runId
        job.minimaOnly = true
        let ensemble = try job.execute(catalog: catalog)
        #expect(ensemble.evaluation.members.count == 2)

        #expect(throws: TrainingError.self) {
            try FastGeometricRun(checkpointId: start, cycles: 1, cycleEpochs: 2).train(
                catalog: catalog, showProgress: false)
        }
    }
}
