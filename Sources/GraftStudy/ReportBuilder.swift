import Foundation
import GraftCatalog
import GraftOptim
import GraftReport
import GraftTraining

/// Builds the HTML reports of `graft report` from the catalog: curves per optimizer (mean line
/// and min–max band over runs), the learning-rate schedule, the LR range test, a summary table,
/// and ensemble results.
public struct ReportBuilder {
    public let catalog: Catalog

    public init(catalog: Catalog) { self.catalog = catalog }

    struct RunData {
        var run: RunRecord
        var metrics: [EpochMetricRecord]
        var group: String
    }

    /// A comparison's report.
    public func comparisonReport(id: Int64) throws -> HTMLReport {
        let comparison = try catalog.comparison(id: id)
        let plan = try? JSONDecoder().decode(ComparisonPlan.self, from: Data(comparison.config.utf8))
        let runs = try catalog.runs(filter: RunFilter(comparisonId: id)).map { run -> RunData in
            let group = plan?.cell(of: run)?.entry.description ?? run.optimizer
            return RunData(run: run, metrics: try catalog.epochMetrics(run: run.id!), group: group)
        }
        var report = HTMLReport(
            title: "Comparison: \(comparison.name)",
            subtitle:
                "\(runs.count) runs · model \(plan?.base.modelId ?? runs.first?.run.modelId ?? "?") · data \(plan?.base.data.source ?? "?")"
        )
        // Made while the grid trains (an array job), it says how far the grid has got.
        report.summary = summaryPairs(runs, planned: plan?.cellCount)
        report.section("Accuracy and loss per optimizer") { s in
            s.paragraph("Lines are the mean over runs; the shaded band spans the lowest and highest run at each epoch.")
            for (title, key, percent) in [
                ("Validation accuracy", "val_acc", true), ("Training accuracy", "train_acc", true),
                ("Validation loss", "val_loss", false), ("Training loss", "train_loss", false),
            ] {
                s.figure(curvePlot(runs, title: title, metric: key, percent: percent), caption: title + " by epoch")
            }
        }
        report.section("Summary") { s in s.table(summaryTable(runs)) }
        report.section("Learning-rate schedules") { s in
            s.figure(schedulePlot(runs), caption: "Learning rate at the end of each epoch (log axis)")
        }
        try appendLRTests(&report, modelId: plan?.base.modelId ?? runs.first?.run.modelId)
        try appendEnsembles(&report, runIds: runs.map { $0.run.id! })
        return report
    }

    /// A single run's report.
    public func runReport(id: Int64) throws -> HTMLReport {
        let run = try catalog.run(id: id)
        let data = RunData(run: run, metrics: try catalog.epochMetrics(run: id), group: run.optimizer)
        var report = HTMLReport(
            title: "Run \(id): \(run.name ?? run.modelId)",
            subtitle: "\(run.modelId) · \(run.optimizer) · \(run.schedule) · \(run.status.rawValue)")
        report.summary =
            summaryPairs([data]) + [
                KeyValue("trainable", run.freezeSpec), KeyValue("BatchNorm in frozen blocks", run.bnPolicy),
                KeyValue("optimizer", run.optimizerParams), KeyValue("schedule", run.scheduleParams),
            ]
        report.section("Curves") { s in
            s.figure(
                curvePlot([data], title: "Accuracy", metric: "val_acc", percent: true, alsoTrain: true),
                caption: "Training and validation accuracy")
            s.figure(
                curvePlot([data], title: "Loss", metric: "val_loss", percent: false, alsoTrain: true),
                caption: "Training and validation loss")
            s.figure(schedulePlot([data]), caption: "Learning rate at the end of each epoch")
        }
        let checkpoints = try catalog.checkpoints(filter: CheckpointFilter(run: id)).map(\.checkpoint)
        report.section("Checkpoints") { s in
            var table = ReportTable(header: ["id", "epoch", "step", "lr", "cycle", "minimum", "val acc", "kind"])
            for c in checkpoints {
                table.rows.append([
                    .integer(Int(c.id!)), .integer(c.epoch), .integer(Int(c.globalStep)), .lr(c.lr),
                    .text(c.cycleIndex.map(String.init) ?? ""), .text(c.isMinimum ? "yes" : ""),
                    c.valAcc.map { .percent($0) } ?? "", .text(c.kind),
                ])
            }
            s.table(table)
        }
        try appendEnsembles(&report, runIds: [id])
        try appendEvaluations(&report, run: id)
        return report
    }

    /// One recorded evaluation's page (`EvaluationPage`).
    /// - Parameter id: the evaluation's id.
    /// - Throws: `CatalogError.notFound`.
    public func evaluationReport(id: Int64) throws -> HTMLReport {
        EvaluationPage.report(try catalog.evaluation(id: id))
    }

    /// A run's evaluations: a table of them, then each one's sections.
    func appendEvaluations(_ report: inout HTMLReport, run: Int64) throws {
        let evaluations = try catalog.evaluations(run: run)
        guard !evaluations.isEmpty else { return }
        report.section("Evaluations") { s in
            s.paragraph(
                "Recorded by graft evaluate. Test figures come from images kept from every choice and are never used for a choice; validation figures come from the split that chose the checkpoint."
            )
            s.table(EvaluationPage.table(evaluations))
        }
        for e in evaluations {
            report.sections += EvaluationPage.sections(e, prefix: "Evaluation \(e.id!) · ")
        }
    }

    // MARK: Pieces

    func value(_ m: EpochMetricRecord, _ key: String) -> Double {
        switch key {
        case "val_acc": m.valAcc ?? .nan
        case "train_acc": m.trainAcc ?? .nan
        case "val_loss": m.valLoss ?? .nan
        case "train_loss": m.trainLoss ?? .nan
        default: m.lr ?? .nan
        }
    }

    func groups(_ runs: [RunData]) -> [(String, [RunData])] {
        var order: [String] = []
        var byGroup: [String: [RunData]] = [:]
        for r in runs {
            if byGroup[r.group] == nil { order.append(r.group) }
            byGroup[r.group, default: []].append(r)
        }
        return order.map { ($0, byGroup[$0]!) }
    }

    func curvePlot(_ runs: [RunData], title: String, metric: String, percent: Bool, alsoTrain: Bool = false) -> LinePlot
    {
        var plot = LinePlot(title: title, xLabel: "epoch", yLabel: percent ? "accuracy" : "loss")
        plot.yPercent = percent
        for (group, members) in groups(runs) {
            let length = members.map(\.metrics.count).max() ?? 0
            let x = (1...max(1, length)).map(Double.init)
            plot.series.append(
                .meanWithRange(
                    name: alsoTrain ? "validation" : group, x: x,
                    runs: members.map { $0.metrics.map { value($0, metric) } }))
            if alsoTrain {
                let trainKey = metric.replacingOccurrences(of: "val_", with: "train_")
                plot.series.append(
                    .meanWithRange(
                        name: "training", x: x,
                        runs: members.map { $0.metrics.map { value($0, trainKey) } }))
            }
        }
        return plot
    }

    func schedulePlot(_ runs: [RunData]) -> LinePlot {
        var plot = LinePlot(title: "Learning rate", xLabel: "epoch", yLabel: "learning rate", yScale: .log10)
        for (group, members) in groups(runs) {
            guard let first = members.first else { continue }
            plot.series.append(
                PlotSeries(
                    name: group, x: first.metrics.map { Double($0.epoch) },
                    y: first.metrics.map { $0.lr ?? .nan }, showPoints: first.metrics.count < 30))
        }
        return plot
    }

    func summaryTable(_ runs: [RunData]) -> ReportTable {
        var table = ReportTable(header: [
            "optimizer", "runs", "final val acc (mean)", "best val acc (mean)",
            "best val acc (max)", "epoch of best", "time per epoch",
        ])
        for (group, members) in groups(runs) {
            let finals = members.compactMap { $0.metrics.last?.valAcc }
            let bests = members.map { $0.metrics.compactMap(\.valAcc).max() ?? .nan }
            let bestEpochs = members.compactMap { m -> Int? in
                guard let best = m.metrics.compactMap(\.valAcc).max() else { return nil }
                return m.metrics.first { $0.valAcc == best }?.epoch
            }
            let times = members.flatMap { $0.metrics.compactMap(\.seconds) }
            func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }
            table.rows.append([
                .text(group), .integer(members.count), .percent(mean(finals)), .percent(mean(bests)),
                .percent(bests.max() ?? .nan), .text(bestEpochs.map(String.init).joined(separator: ", ")),
                .duration(mean(times)),
            ])
        }
        table.emphasizeBest(column: 3)
        return table
    }

    func summaryPairs(_ runs: [RunData], planned: Int? = nil) -> [KeyValue] {
        var pairs: [KeyValue] = []
        let best = runs.compactMap { r in r.metrics.compactMap(\.valAcc).max().map { (r, $0) } }.max { $0.1 < $1.1 }
        if let (r, acc) = best {
            pairs.append(
                KeyValue(
                    "best validation accuracy",
                    "\(Format.percent(acc)) (\(r.run.name ?? r.run.optimizer), run \(r.run.id!))"))
        }
        pairs.append(KeyValue("epochs", "\(runs.map(\.metrics.count).max() ?? 0)"))
        let finished = runs.filter { $0.run.status.isComplete }.count
        if let planned {
            let running = runs.filter { catalog.effectiveStatus(of: $0.run) == .running }.count
            pairs.append(
                KeyValue(
                    "runs", "\(finished) of \(planned) runs finished" + (running > 0 ? ", \(running) running" : "")))
        } else {
            pairs.append(KeyValue("runs", "\(runs.count) (\(finished) finished)"))
        }
        return pairs
    }

    func appendLRTests(_ report: inout HTMLReport, modelId: String?) throws {
        guard let modelId, let test = try catalog.lrRangeTests(modelId: modelId).last else { return }
        let stored = try catalog.lrRangeTest(id: test.id!)
        let result = LRRangeTestResult(
            steps: stored.points.map(\.step), lrs: stored.points.map(\.lr), losses: stored.points.map(\.loss),
            smoothedLosses: stored.points.map { $0.smoothedLoss ?? $0.loss },
            suggestions: stored.suggestions.compactMap { s in
                LRRule(rawValue: s.method).map { LRSuggestion(rule: $0, lr: s.lr, step: 0) }
            }, stop: .completed)
        report.section("LR range test") { s in
            s.figure(
                LRFindJob.plot(result, title: "LR range test (\(test.optimizer))"),
                caption:
                    "Loss against learning rate, \(test.steps) steps from \(Format.lr(test.startLr)) to \(Format.lr(test.endLr))"
            )
            var table = ReportTable(header: ["rule", "learning rate"])
            for sug in stored.suggestions { table.rows.append([.text(sug.method), .lr(sug.lr)]) }
            s.table(table)
        }
    }

    func appendEnsembles(_ report: inout HTMLReport, runIds: [Int64]) throws {
        let ensembles = try runIds.flatMap { try catalog.ensembles(run: $0) }
        guard !ensembles.isEmpty else { return }
        report.section("Snapshot ensembles") { s in
            var table = ReportTable(header: ["run", "method", "members", "accuracy", "best single", "gain", "loss"])
            for e in ensembles {
                let r = e.ensemble
                table.rows.append([
                    .text(r.runId.map(String.init) ?? ""), .text(r.method), .integer(r.memberCheckpointIds.count),
                    .percent(r.accuracy), r.bestSingleAccuracy.map { .percent($0) } ?? "",
                    r.gain.map { .percent($0) } ?? "", r.loss.map { .fixed($0, digits: 4) } ?? "",
                ])
            }
            s.table(table)
            // Diversity once per set of members (the methods of one evaluation share it).
            var shown = Set<[Int64]>()
            for e in ensembles {
                let r = e.ensemble
                guard r.memberCheckpointIds.count > 1, let disagreement = r.disagreement,
                    let correlation = r.correlation,
                    disagreement.count == r.memberCheckpointIds.count, correlation.count == disagreement.count,
                    shown.insert(r.memberCheckpointIds).inserted
                else { continue }
                let names = r.memberCheckpointIds.map { "ckpt \($0)" }
                var matrix = ReportTable(header: ["member"] + names.map { "\($0)" })
                for (i, name) in names.enumerated() {
                    matrix.rows.append(
                        [.text(name)]
                            + names.indices.map { j in
                                i == j
                                    ? .text("–")
                                    : .text(String(format: "%.3f / %.3f", disagreement[i][j], correlation[i][j]))
                            })
                }
                s.paragraph(
                    "Member diversity, run \(r.runId.map(String.init) ?? "–") (\(r.evaluatedOn)): each cell is the "
                        + "fraction of images the two members classify differently / the correlation of their predicted "
                        + "probabilities. An ensemble can only beat its best member where members disagree.")
                s.table(matrix)
            }
            for e in ensembles where e.members.count > 1 {
                let ordered = e.members.sorted { $0.position < $1.position }
                let y = ordered.map { $0.ensembleAccuracy ?? .nan }
                guard y.contains(where: \.isFinite) else { continue }
                var plot = LinePlot(
                    title: "Accuracy vs ensemble size (\(e.ensemble.method))", xLabel: "members",
                    yLabel: "accuracy")
                plot.yPercent = true
                plot.series = [
                    PlotSeries(name: "ensemble", x: ordered.indices.map { Double($0 + 1) }, y: y, showPoints: true)
                ]
                if let best = e.ensemble.bestSingleAccuracy {
                    plot.markers = [.horizontal(y: best, label: "best single")]
                }
                s.figure(plot, caption: "Validation accuracy as members are added (run \(e.ensemble.runId ?? 0))")
            }
        }
    }
}
