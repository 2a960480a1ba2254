import Foundation
import GraftCatalog
import GraftData
import GraftOptim
import Testing
import TestSupport
@testable import GraftTraining

/// A run reports what it does as events, whoever starts it (`graft train`, a comparison, a
/// configuration file): warnings before it trains, every step, every epoch, every checkpoint.
@Suite struct TrainingEventsTests {
    @Test func aRunReportsItsStepsEpochsCheckpointsAndWarnings() throws {
        let dir = try TemporaryDirectory.make("graft-events")
        defer { TemporaryDirectory.remove(dir) }
        for (folder, photo) in [("a", "flower_444"), ("b", "flower_baseline420")] {
            let classDir = dir.appendingPathComponent("ds/\(folder)")
            try FileManager.default.createDirectory(at: classDir, withIntermediateDirectories: true)
            for i in 0..<4 {
                try FileManager.default.copyItem(
                    at: Fixtures.url("images/\(photo).jpg"), to: classDir.appendingPathComponent("\(i).jpg"))
            }
        }
        var configuration = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil,
            data: DataSpecification(source: dir.appendingPathComponent("ds").path, imageSize: 16),
            optimizer: OptimizerConfig(kind: .adagrad), schedule: .constant(0.01),
            trainable: ["block4", "head"], epochs: 2, batchSize: 2, seed: 0)
        configuration.data.validationFraction = 0.25
        let catalog = try Catalog.open(at: dir.appendingPathComponent("catalog.sqlite").path)
        let prepared = try TrainingRun.prepare(configuration, splitDirectory: catalog.splitsDirectory)
        let batches = prepared.train.batchesPerEpoch
        // A cycle longer than the run, cycling a momentum Adagrad does not have: two warnings.
        configuration.schedule = .triangular(1e-3, 6e-3, stepSize: .steps(10 * batches))
        configuration.schedule.momentum = .range(MomentumRange(base: 0.85, max: 0.95))
        let run = TrainingRun(configuration: configuration, catalog: catalog)
        run.showProgress = false
        var warnings: [String] = [], steps: [Int] = [], epochs: [Int] = [], saved: [Int64] = []
        run.onEvent = { event in
            switch event {
            case .warning(let text): warnings.append(text)
            case .step(let step):
                #expect(step.batchesPerEpoch == batches && step.plannedEpochs == 2)
                steps.append(step.position.globalStep)
            case .epochEnded(let metrics, let planned, _):
                #expect(planned == 2)
                epochs.append(metrics.epoch)
            case .checkpointSaved(let record): saved.append(record.id!)
            case .failed(let error): Issue.record("failed: \(error)")
            case .stoppedEarly(let reason): Issue.record("stopped early: \(reason)")
            }
        }
        let summary = try run.start(prepared: prepared)
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.contains { $0.contains("end before the first cycle") }, "\(warnings)")
        #expect(steps == Array(1...(2 * batches)))
        #expect(epochs == [1, 2])
        #expect(!saved.isEmpty && saved == summary.checkpointIds)
        // The catalog holds the same epochs, by its own column names.
        let recorded = try catalog.epochMetrics(run: summary.runId)
        #expect(recorded.map(\.epoch) == [1, 2])
        #expect(recorded.map(\.valAcc) == summary.history.map(\.validationAccuracy))
    }
}
