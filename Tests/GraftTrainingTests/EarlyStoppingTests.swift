import Foundation
import GraftCatalog
import GraftData
import GraftOptim
import Testing
import TestSupport

@testable import GraftTraining

/// Early stopping: Keras' rule on the recorded epochs, patience in cycles for cyclical
/// schedules, a `stopped_early` run with its reason, and a resumed run stopping where an
/// uninterrupted one does.
struct EarlyStoppingTests {
    static func history(loss: [Double], accuracy: [Double]? = nil) -> [EpochMetrics] {
        loss.enumerated().map { i, l in
            var m = EpochMetrics(epoch: i + 1, trainLoss: 1, trainAccuracy: 0, learningRate: 0.1, seconds: 0)
            m.validationLoss = l
            m.validationAccuracy = accuracy?[i]
            return m
        }
    }

    @Test func patienceCountsEpochsWithoutImprovement() {
        let rule = EarlyStopping(patience: 2)
        let losses = [1.0, 0.8, 0.85, 0.9, 0.7]
        let decisions = (1...losses.count).map {
            rule.stop(history: Self.history(loss: Array(losses.prefix($0))), isCheck: { _ in true })
        }
        #expect(decisions.map { $0?.epoch } == [nil, nil, nil, 4, nil])
        #expect(decisions[3] == EarlyStopping.Stop(epoch: 4, bestEpoch: 2, best: 0.8, checksWithoutImprovement: 2))
        // Not an improvement unless by more than min delta.
        let strict = EarlyStopping(patience: 2, minDelta: 0.25)
        #expect(strict.stop(history: Self.history(loss: [1.0, 0.8, 0.76]), isCheck: { _ in true })?.bestEpoch == 1)
        // Accuracy improves upwards.
        let accuracy = EarlyStopping(patience: 1, monitor: .valAcc)
        let h = Self.history(loss: [1, 1, 1], accuracy: [0.5, 0.6, 0.55])
        #expect(accuracy.stop(history: Array(h.prefix(2)), isCheck: { _ in true }) == nil)
        #expect(accuracy.stop(history: h, isCheck: { _ in true })?.bestEpoch == 2)
    }

    @Test func aCyclicalScheduleIsCheckedAtItsMinimaOnly() throws {
        // Triangular cycles of 2 epochs (5 steps an epoch): minima end epochs 2, 4, 6, …
        let schedule = try ScheduleConfig.triangular(0.01, 0.1, stepSize: .epochs(1))
            .resolve(stepsPerEpoch: 5, runSteps: 50, optimizerLR: 0.1).schedule
        let checks = EarlyStopping.checks(schedule: schedule, stepsPerEpoch: 5, epochs: 10)
        #expect(checks.cyclical)
        #expect((1...10).filter(checks.isCheck) == [2, 4, 6, 8, 10])
        // Epoch 3's low loss is between minima: it neither counts nor stops anything.
        let rule = EarlyStopping(patience: 1)
        let losses = [0.9, 0.8, 0.1, 0.85, 0.7]
        #expect(rule.stop(history: Self.history(loss: Array(losses.prefix(3))), isCheck: checks.isCheck) == nil)
        let stop = rule.stop(history: Self.history(loss: Array(losses.prefix(4))), isCheck: checks.isCheck)
        #expect(stop == EarlyStopping.Stop(epoch: 4, bestEpoch: 2, best: 0.8, checksWithoutImprovement: 1))
        #expect(
            rule.describe(stop!, cyclical: true)
                == "stopped after epoch 4: val_loss has not improved for 1 cycle (best 0.8000 at epoch 2)")
        // One cycle over the run (one-cycle, a plain decay) is checked every epoch.
        let once = try ScheduleConfig(.onecycle, lr: .rate(0.1)).resolve(
            stepsPerEpoch: 5, runSteps: 50, optimizerLR: 0.1)
        #expect(!EarlyStopping.checks(schedule: once.schedule, stepsPerEpoch: 5, epochs: 10).cyclical)
    }

    /// A run whose validation loss cannot improve (only the head trains, at learning rate 0).
    static func frozenRun(epochs: Int, patience: Int?) -> RunConfiguration {
        var data = DataSpecification(source: Fixtures.url("imagefolder").path, imageSize: 32)
        data.mean = [0.5, 0.5, 0.5]
        data.std = [0.25, 0.25, 0.25]
        var optimizer = OptimizerConfig(kind: .sgd)
        optimizer.learningRate = 0
        var configuration = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil, data: data, optimizer: optimizer,
            trainable: ["head"], epochs: epochs, batchSize: 4, seed: 1)
        configuration.earlyStopping = patience.map { EarlyStopping(patience: $0) }
        return configuration
    }

    @Test(.enabled(if: Fixtures.prerequisite.runs, Fixtures.prerequisite.comment))
    func aRunStopsEarlyAndAResumedOneStopsAtTheSameEpoch() throws {
        let directory = try TemporaryDirectory.make("graft-early-stopping")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        let run = TrainingRun(configuration: Self.frozenRun(epochs: 10, patience: 2), catalog: catalog)
        run.showProgress = false
        let summary = try run.start()
        #expect(summary.history.count == 3, "epoch 1 is the best, 2 and 3 do not improve on it")
        let reason = try #require(summary.stopReason)
        #expect(reason.hasPrefix("stopped after epoch 3: val_loss has not improved for 2 epochs (best "), "\(reason)")
        let record = try catalog.run(id: summary.runId)
        #expect(record.status == .stoppedEarly && record.stopReason == reason && record.finishedAt != nil)

        // The same run interrupted after 2 epochs, then resumed for up to 10: it stops after epoch 3 too.
        let short = TrainingRun(configuration: Self.frozenRun(epochs: 2, patience: 2), catalog: catalog)
        short.showProgress = false
        let first = try short.start()
        #expect(try catalog.run(id: first.runId).status == .finished)
        let resumed = try TrainingRun.resume(
            runId: first.runId, epoch: nil, catalog: catalog, showProgress: false, extraEpochs: 8)
        #expect(resumed.history.count == 3 && resumed.stopReason == reason)
        #expect(try catalog.run(id: resumed.runId).status == .stoppedEarly)
        #expect(resumed.history.map(\.validationLoss) == summary.history.map(\.validationLoss))
    }

    @Test func patienceMustBePositive() {
        #expect(throws: TrainingError.invalidConfiguration(field: "patience", value: "0", reason: "must be at least 1"))
        {
            try Self.frozenRun(epochs: 2, patience: 0).validate()
        }
    }
}
