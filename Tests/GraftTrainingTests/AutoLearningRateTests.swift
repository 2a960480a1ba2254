import Foundation
import GraftCatalog
import GraftData
import GraftOptim
import Testing
import TestSupport

@testable import GraftTraining

/// `--lr auto`: an LR range test of the same set-up, run once and reused, its rule's rate put
/// into the schedule, and the test linked to the run that used it.
struct AutoLearningRateTests {
    static func configuration(batchSize: Int = 4, schedule: ScheduleConfig = .constant()) -> RunConfiguration {
        var data = DataSpecification(source: Fixtures.url("imagefolder").path, imageSize: 32)
        data.mean = [0.5, 0.5, 0.5]
        data.std = [0.25, 0.25, 0.25]
        return RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil, data: data,
            optimizer: OptimizerConfig(kind: .sgd), schedule: schedule, trainable: ["block4", "head"], epochs: 1,
            batchSize: batchSize, seed: 1)
    }

    @Test(.enabled(if: Fixtures.prerequisite.runs, Fixtures.prerequisite.comment))
    func aTestIsRunOnceReusedAndLinkedToTheRun() throws {
        let directory = try TemporaryDirectory.make("graft-lr-auto")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        let plot = directory.appendingPathComponent("lr.svg").path
        let first = try AutoLearningRate.choose(
            for: Self.configuration(), catalog: catalog, plotPath: plot, showProgress: false)
        #expect(!first.reused && first.rule == .minLossDiv10)
        let stored = try catalog.lrRangeTest(id: first.testId)
        let rate = try #require(stored.suggestions.first { $0.method == "min_loss_div10" }?.lr)
        #expect(first.learningRate == .rate(rate))

        // The same set-up again: the stored test, not a new one. A cyclical schedule takes the range.
        let cyclical = Self.configuration(schedule: .triangular(1e-3, 1e-2, stepSize: .epochs(1)))
        let again = try AutoLearningRate.choose(for: cyclical, catalog: catalog, plotPath: plot, showProgress: false)
        #expect(again.reused && again.testId == first.testId)
        let base = try #require(stored.suggestions.first { $0.method == "min_loss_div10_base" }?.lr)
        #expect(again.learningRate == .range(base, rate))
        #expect(try catalog.lrRangeTests().count == 1)

        // Another batch size is another set-up: a test of its own.
        let other = try AutoLearningRate.choose(
            for: Self.configuration(batchSize: 2), catalog: catalog, plotPath: plot, showProgress: false)
        #expect(!other.reused && other.testId != first.testId)

        // A run that took the rates links the test and records where they came from.
        var configuration = Self.configuration()
        configuration.schedule.lr = first.learningRate
        configuration.learningRateSource = first.source
        let run = TrainingRun(configuration: configuration, catalog: catalog)
        run.showProgress = false
        let summary = try run.start()
        #expect(try catalog.lrRangeTest(id: first.testId).test.runId == summary.runId)
        let saved = try TrainingCheckpoint.read(
            try catalog.verifiedFile(for: try catalog.checkpoint(id: try #require(summary.checkpointIds.last))))
        #expect(
            saved.runConfiguration.learningRateSource
                == LearningRateSource(rule: .minLossDiv10, lrRangeTestId: first.testId))
    }

    @Test func aCurveWithoutAMinimumTakesTheValley() {
        let lrs = (0..<100).map { 1e-7 * pow(1e8, Double($0) / 99) }
        // The loss lowest in the middle: the study's rule.
        #expect(AutoLearningRate.rule(minimumLossLR: lrs[60], curveLRs: lrs, hasValley: true) == .minLossDiv10)
        // Still falling in the last tenth (a head on frozen features): no minimum to divide.
        #expect(AutoLearningRate.rule(minimumLossLR: lrs[90], curveLRs: lrs, hasValley: true) == .valley)
        #expect(AutoLearningRate.rule(minimumLossLR: lrs[99], curveLRs: lrs, hasValley: true) == .valley)
        #expect(AutoLearningRate.rule(minimumLossLR: lrs[99], curveLRs: lrs, hasValley: false) == .minLossDiv10)
    }
}
