import Foundation
import GraftCatalog
import GraftData
import GraftOptim
@testable import GraftStudy
import GraftTraining
import Testing
import TestSupport

/// One cell of a comparison trained on its own, as an array task does: started again, it
/// continues its one run; the progress table and the report read the grid while it is unfinished.
@Suite(.serialized) struct ComparisonCellTests {
    func makePlan(runs: Int) throws -> ComparisonPlan {
        var data = DataSpecification(source: Fixtures.url("imagefolder").path, imageSize: 32)
        data.validationFraction = 0.25
        var base = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil, data: data,
            optimizer: try OptimizerConfig(parsing: "sgd"), schedule: .constant(0.01),
            trainable: ["block1", "block2", "block3", "block4", "head"], epochs: 2, batchSize: 4, seed: 7)
        base.save.everyEpochs = 1
        return ComparisonPlan(
            optimizers: [ComparisonEntry(.adam)], runs: runs, base: base, clrMax: nil, clrStepEpochs: 1, name: "cells")
    }

    func withCatalog(_ body: (Catalog) throws -> Void) throws {
        let directory = try TemporaryDirectory.make("graft-cells")
        defer { TemporaryDirectory.remove(directory) }
        try body(try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path))
    }

    final class Lines: @unchecked Sendable { var all: [String] = [] }

    func makeRunner(_ plan: ComparisonPlan, _ catalog: Catalog, lines: Lines) -> ComparisonRunner {
        let runner = ComparisonRunner(plan: plan, catalog: catalog)
        runner.showProgress = false
        runner.log = { lines.all.append($0) }
        return runner
    }

    @Test("a cell started again continues its run from the latest checkpoint, or retrains it in place without one")
    func cellKeepsOneRun() throws {
        try withCatalog { catalog in
            let plan = try makePlan(runs: 1)
            let lines = Lines()
            let runner = makeRunner(plan, catalog, lines: lines)
            let comparison = try runner.begin()
            let cell = try plan.cell(at: 0)
            let runId = try runner.train(cell, of: comparison)
            let uninterrupted = try catalog.epochMetrics(run: runId)
            #expect(uninterrupted.map(\.epoch) == [1, 2])

            // Killed after epoch 1: its last checkpoint is epoch 1's.
            for c in try catalog.checkpoints(filter: CheckpointFilter(run: runId)) where c.checkpoint.epoch == 2 {
                try catalog.deleteCheckpoint(id: c.checkpoint.id!)
            }
            try catalog.markRun(runId, status: .interrupted)
            #expect(
                try ComparisonProgress(comparisonId: comparison.comparisonId, catalog: catalog).cells[0].state
                    == .interrupted)
            #expect(try runner.train(cell, of: comparison) == runId)
            #expect(lines.all.contains("cells adam #1: resuming run \(runId) from its latest checkpoint"))
            let resumed = try catalog.epochMetrics(run: runId)
            #expect(resumed.map(\.trainLoss) == uninterrupted.map(\.trainLoss), "the resume is exact")
            #expect(resumed.map(\.valAcc) == uninterrupted.map(\.valAcc))

            // Killed before its first checkpoint: trained again from the start as the same run.
            for c in try catalog.checkpoints(filter: CheckpointFilter(run: runId)) {
                try catalog.deleteCheckpoint(id: c.checkpoint.id!)
            }
            try catalog.markRun(runId, status: .interrupted)
            #expect(try runner.train(cell, of: comparison) == runId)
            #expect(lines.all.last { $0.contains("again from the start") } != nil)
            #expect(try catalog.epochMetrics(run: runId).map(\.trainLoss) == uninterrupted.map(\.trainLoss))

            // Finished: left alone.
            #expect(try runner.train(cell, of: comparison) == runId)
            #expect(lines.all.last == "cells adam #1: finished earlier (run \(runId))")
            let runs = try catalog.runs(filter: RunFilter(comparisonId: comparison.comparisonId))
            #expect(runs.map(\.id) == [runId], "one run for the cell, however often it started")
            #expect(runs[0].status == .finished)
        }
    }

    @Test("a task attaches to a comparison begun elsewhere; its cyclical cells need the bound its submission resolved")
    func attachNeedsTheResolvedBound() throws {
        try withCatalog { catalog in
            var plan = try makePlan(runs: 1)
            plan.optimizers = [ComparisonEntry(.sgd, cyclical: true)]
            plan.clrMax = 0.02
            let comparison = try makeRunner(plan, catalog, lines: Lines()).begin()
            #expect(comparison.plan.clrMax == 0.02)
            let stored = try ComparisonPlan.stored(comparisonId: comparison.comparisonId, in: catalog)
            #expect(stored == plan)

            var unresolved = plan
            unresolved.clrMax = nil
            let withoutBound = try makeRunner(unresolved, catalog, lines: Lines())
                .attach(comparisonId: comparison.comparisonId)
            let entry = ComparisonEntry(.sgd, cyclical: true)
            #expect(throws: ComparisonError.noCyclicalBound(comparisonId: comparison.comparisonId, entry: entry)) {
                try withoutBound.configuration(of: try plan.cell(at: 0))
            }
            var other = plan
            other.name = "another"
            #expect(throws: ComparisonError.self) {
                try makeRunner(other, catalog, lines: Lines()).attach(comparisonId: comparison.comparisonId)
            }
            let attached = try makeRunner(plan, catalog, lines: Lines()).attach(comparisonId: comparison.comparisonId)
            let config = try attached.configuration(of: try plan.cell(at: 0))
            #expect(config.schedule == .triangular(0.02 / 6, 0.02, stepSize: .epochs(Double(plan.clrStepEpochs))))
        }
    }

    @Test("progress and the report read a grid whose cells are not all trained")
    func progressAndReportWhileUnfinished() throws {
        try withCatalog { catalog in
            let plan = try makePlan(runs: 2)
            let runner = makeRunner(plan, catalog, lines: Lines())
            let comparison = try runner.begin()
            let id = comparison.comparisonId

            let empty = try ComparisonProgress(comparisonId: id, catalog: catalog)
            #expect(empty.cells.map(\.state) == [.queued, .queued])
            _ = try ReportBuilder(catalog: catalog).comparisonReport(id: id).html()

            let runId = try runner.train(try plan.cell(at: 0), of: comparison)
            let progress = try ComparisonProgress(comparisonId: id, catalog: catalog)
            #expect(progress.cells.map(\.state) == [.done, .queued])
            #expect(progress.cells[0].runId == runId && progress.cells[1].runId == nil)
            #expect(progress.cells.map(\.epochsDone) == [2, 0] && progress.cells.map(\.epochsPlanned) == [2, 2])
            let best = try catalog.epochMetrics(run: runId).compactMap(\.valAcc).max()
            #expect(progress.cells[0].bestValidationAccuracy == best)
            #expect(!progress.isDone)
            #expect(progress.summary == "comparison \(id) 'cells', 2 cells: 1 queued, 1 done")
            let table = progress.table.render(.table)
            #expect(table.split(separator: "\n").count == 4, "header, rule, one line per cell")

            let html = try ReportBuilder(catalog: catalog).comparisonReport(id: id).html()
            #expect(html.contains("1 of 2 runs finished"))
        }
    }
}
