import Foundation
import GraftCatalog
import GraftData
import GraftOptim
import GraftReport
@testable import GraftStudy
@testable import GraftTraining
import Testing
import TestSupport

/// `graft compare` through the library on the fixture ImageFolder: every (optimizer, run) is a
/// catalog run of one comparison; running it again redoes nothing; the report shows them all.
@Suite(.serialized) struct ComparisonTests {
    func makePlan() throws -> ComparisonPlan {
        var data = DataSpecification(source: Fixtures.url("imagefolder").path, imageSize: 32)
        data.validationFraction = 0.25
        let base = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil, data: data,
            optimizer: try OptimizerConfig(parsing: "sgd"), schedule: .constant(0.01),
            trainable: ["block1", "block2", "block3", "block4", "head"], epochs: 2, batchSize: 4, seed: 7)
        return ComparisonPlan(
            optimizers: [ComparisonEntry(.sgd, cyclical: true), ComparisonEntry(.adam)], runs: 2, base: base,
            clrMax: 6e-3, clrStepEpochs: 1,
            name: "test comparison")
    }

    @Test func finishedRunsAreNotRedoneAndTheReportShowsEveryOptimizer() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "graft-compare-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        let plan = try makePlan()

        let runner = ComparisonRunner(plan: plan, catalog: catalog)
        runner.showProgress = false
        runner.log = { _ in }
        let first = try runner.run()
        let runs = try catalog.runs(filter: RunFilter(comparisonId: first.comparisonId))
        #expect(runs.count == 4)
        #expect(runs.allSatisfy { $0.status == .finished })
        #expect(Set(runs.map(\.seed)) == [7, 8], "seed = base seed + run index")
        #expect(runs.map(\.comparisonCell) == [0, 1, 2, 3], "each run records its cell")
        let splits = Set(runs.map(\.splitId))
        #expect(splits.count == 1 && splits.first! != nil, "every run records the same split")
        // The cyclical entry cycles between max/6 and max; Adam keeps PyTorch's default rate.
        let sgd = runs.filter { $0.optimizer == "sgd" }
        #expect(sgd.count == 2 && sgd.allSatisfy { $0.schedule == "triangular" })
        let minima = try catalog.checkpoints(filter: CheckpointFilter(run: sgd[0].id!, minimaOnly: true))
        #expect(minima.count == 1, "a 2-epoch run with 1-epoch half cycles ends one cycle")

        let again = ComparisonRunner(plan: plan, catalog: catalog)
        again.showProgress = false
        again.log = { _ in }
        let second = try again.run()
        #expect(second.comparisonId == first.comparisonId)
        #expect(try catalog.runs(filter: RunFilter(comparisonId: first.comparisonId)).count == 4)

        let html = try ReportBuilder(catalog: catalog).comparisonReport(id: first.comparisonId).html()
        #expect(html.contains("sgd-clr") && html.contains("adam"))
        #expect(html.contains("<svg"))
        let best = try runs.flatMap { try catalog.epochMetrics(run: $0.id!) }.compactMap(\.valAcc).max()!
        #expect(
            html.contains(String(format: "%.1f%%", best * 100)) || html.contains(String(format: "%.2f%%", best * 100)))
    }

    @Test("runs recorded before runs had cells are found by their names, so a comparison continues them")
    func runsWithoutCellsAreAdopted() throws {
        let directory = try TemporaryDirectory.make("graft-compare-legacy")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        let plan = try makePlan()
        let comparison = try catalog.findOrCreateComparison(name: plan.name, config: CatalogJSON.encode(plan)).0
        for cell in plan.cells {
            try catalog.createRun(
                RunRecord(
                    name: plan.runName(entry: cell.entry, run: cell.run), modelId: "vanilla-cnn",
                    optimizer: cell.entry.optimizer.rawValue, batchSize: 8, epochsPlanned: 2, status: .finished,
                    comparisonId: comparison.id))
        }
        let progress = try ComparisonProgress(comparisonId: comparison.id!, catalog: catalog)
        #expect(progress.isDone, "the status reads runs without cells by their names")

        let runner = ComparisonRunner(plan: plan, catalog: catalog)
        runner.showProgress = false
        runner.log = { _ in }
        let outcome = try runner.run()
        let runs = try catalog.runs(filter: RunFilter(comparisonId: comparison.id!))
        #expect(runs.count == plan.cellCount, "no cell trained again")
        #expect(runs.map(\.comparisonCell) == [0, 1, 2, 3])
        #expect(outcome.runIds[ComparisonEntry(.adam)] == [runs[2].id!, runs[3].id!])
    }

    @Test func lrAutoGivesEachOptimizerTheRateOfItsOwnRangeTest() throws {
        let directory = try TemporaryDirectory.make("graft-compare-auto")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        var plan = try makePlan()
        plan.runs = 1
        plan.base.epochs = 1
        plan.clrMax = nil
        plan.autoLearningRates = true
        let runner = ComparisonRunner(plan: plan, catalog: catalog)
        runner.showProgress = false
        runner.log = { _ in }
        let outcome = try runner.run()

        // One test per optimizer, each with that optimizer; each run took its test's rule's rate.
        let tests = try catalog.lrRangeTests()
        #expect(Set(tests.map(\.optimizer)) == ["sgd", "adam"] && tests.count == 2)
        for run in try catalog.runs(filter: RunFilter(comparisonId: outcome.comparisonId)) {
            let file = try catalog.verifiedFile(
                for: try #require(try catalog.checkpoints(filter: CheckpointFilter(run: run.id!)).last).checkpoint)
            let config = try TrainingCheckpoint.read(file).runConfiguration
            let source = try #require(config.learningRateSource, "run \(run.id!) records where its rate came from")
            let test = try catalog.lrRangeTest(id: source.lrRangeTestId)
            #expect(test.test.optimizer == run.optimizer)
            let chosen = try #require(test.suggestions.first { $0.method == source.rule.rawValue }?.lr)
            if run.optimizer == "sgd" {
                #expect(outcome.clrMax == chosen && config.schedule.lr == .range(chosen / 6, chosen))
            } else {
                #expect(config.optimizer.learningRate == chosen)
            }
        }

        // A second comparison of the same set-ups reuses both tests.
        plan.name = "test comparison, again"
        let again = ComparisonRunner(plan: plan, catalog: catalog)
        again.showProgress = false
        again.log = { _ in }
        _ = try again.run()
        #expect(try catalog.lrRangeTests().count == 2)
    }
}
