import Foundation
import Testing
import TestSupport

@testable import GraftReport

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A full report built from the study's own logs (`seed_logs/vanilla.csv`, `lr_finder/vanilla_curve.csv`):
/// the page `graft report --compare` is meant to produce. Set `GRAFT_SAMPLE_REPORT=/path/report.html`
/// to keep the page for a look in a browser (`scripts/screenshot-report.sh`).
@Suite("Sample report from the study's logs")
struct SampleReportTests {
    struct Row {
        var optimizer: String, run: Int, epoch: Int
        var trainAcc: Double, trainLoss: Double, valAcc: Double, valLoss: Double
    }

    func readCSV(_ relative: String) throws -> [[String]] {
        let text = try String(contentsOf: Fixtures.url(relative), encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
    }

    func seedLogs() throws -> [Row] {
        try readCSV("seed_logs/vanilla.csv").compactMap { f in
            guard f.count == 7, let run = Int(f[1]), let epoch = Int(f[2]), let ta = Double(f[3]),
                let tl = Double(f[4]), let va = Double(f[5]), let vl = Double(f[6]), epoch <= 150
            else { return nil }
            // One adam run stored train accuracy in percent (fixtures README, section 6).
            return Row(optimizer: f[0], run: run, epoch: epoch, trainAcc: ta > 1.5 ? ta / 100 : ta,
                       trainLoss: tl, valAcc: va, valLoss: vl)
        }
    }

    let names = ["adagrad": "Adagrad", "adadelta": "Adadelta", "rmsprop": "RMSprop", "adam": "Adam",
                 "adamax": "Adamax", "sgd_clr": "SGD+CLR"]
    let order = ["adagrad", "adadelta", "rmsprop", "adam", "adamax", "sgd_clr"]

    func curvePlot(_ rows: [Row], title: String, yLabel: String, value: (Row) -> Double) -> LinePlot {
        var plot = LinePlot(title: title, xLabel: "epoch", yLabel: yLabel)
        for opt in order {
            let mine = rows.filter { $0.optimizer == opt }
            let runs = Set(mine.map(\.run)).sorted().map { r in
                mine.filter { $0.run == r }.sorted { $0.epoch < $1.epoch }.map(value)
            }
            let epochs = (1...(runs.map(\.count).max() ?? 0)).map(Double.init)
            plot.series.append(.meanWithRange(name: names[opt] ?? opt, x: epochs, runs: runs))
        }
        return plot
    }

    @Test func buildsTheComparisonReport() throws {
        let rows = try seedLogs()
        try #require(rows.count == 2700)

        var valAcc = curvePlot(rows, title: "Validation accuracy", yLabel: "accuracy") { $0.valAcc }
        valAcc.yPercent = true
        let trainLoss = {
            var p = curvePlot(rows, title: "Training loss", yLabel: "loss (log scale)") { $0.trainLoss }
            p.yScale = .log10
            return p
        }()

        let curve = try readCSV("lr_finder/vanilla_curve.csv").compactMap { f -> (Double, Double)? in
            guard f.count == 3, let lr = Double(f[1]), let loss = Double(f[2]) else { return nil }
            return (lr, loss)
        }
        var lrPlot = LinePlot(
            title: "LR range test (vanilla CNN)", xLabel: "learning rate", yLabel: "loss", xScale: .log10,
            series: [PlotSeries(name: "loss", x: curve.map(\.0), y: curve.map(\.1))],
            markers: [
                .vertical(x: 0.0052749970637026135, label: "steepest: " + Format.lr(0.0052749970637026135)),
                .vertical(x: 0.0035938136638046228, label: "min/10: " + Format.lr(0.0035938136638046228)),
                .vertical(x: 0.0005989689439674372, label: "base = max/6: " + Format.lr(0.0005989689439674372)),
            ])
        lrPlot.height = 380

        // Triangular CLR between 5e-4 and 3e-3 with a step size of 4 epochs of 50 steps.
        let steps = (0..<2000).map(Double.init)
        let clr = steps.map { s -> Double in
            let cycle = (1 + s / 400).rounded(.down)
            let x = abs(s / 200 - 2 * cycle + 1)
            return 5e-4 + (3e-3 - 5e-4) * max(0, 1 - x)
        }
        var schedule = LinePlot(
            title: "Learning-rate schedule (SGD+CLR)", xLabel: "step", yLabel: "learning rate",
            series: [PlotSeries(name: "lr", x: steps, y: clr)],
            markers: (1...5).map { .point(x: Double($0 * 400), y: 5e-4, label: "snapshot \($0)") })
        schedule.showLegend = false
        schedule.height = 320

        var ensemble = LinePlot(
            title: "Snapshot ensemble: accuracy vs size", xLabel: "members", yLabel: "validation accuracy",
            series: [PlotSeries(name: "probability averaging", y: [0.801, 0.818, 0.826, 0.829, 0.831], showPoints: true),
                     PlotSeries(name: "majority vote", y: [0.801, 0.809, 0.821, 0.824, 0.827], showPoints: true)],
            markers: [.horizontal(y: 0.812, label: "best single checkpoint 81.2%")])
        ensemble.yPercent = true
        ensemble.height = 340

        var table = ReportTable(
            header: ["optimizer", "final val acc", "best val acc", "best epoch", "final train loss", "runs"],
            caption: "Mean over runs; final = epoch 150")
        var bars: [PlotBar] = []
        for opt in order {
            let mine = rows.filter { $0.optimizer == opt }
            let runIDs = Set(mine.map(\.run)).sorted()
            let finals = runIDs.compactMap { r in mine.filter { $0.run == r }.max { $0.epoch < $1.epoch } }
            let finalAcc = finals.map(\.valAcc).reduce(0, +) / Double(finals.count)
            let best = mine.max { $0.valAcc < $1.valAcc }
            table.rows.append([
                .text(names[opt] ?? opt), .percent(finalAcc), .percent(best?.valAcc ?? .nan),
                .integer(best?.epoch ?? 0), .number(finals.map(\.trainLoss).reduce(0, +) / Double(finals.count), .compact),
                .integer(runIDs.count),
            ])
            bars.append(PlotBar(label: names[opt] ?? opt, value: finalAcc))
        }
        let bestRow = table.rows.max { a, b in
            if case let .number(x, _) = a[1], case let .number(y, _) = b[1] { return x < y }
            return false
        }
        table.emphasizeBest(column: 1)
        table.emphasizeBest(column: 2)
        var bar = BarPlot(title: "Final validation accuracy", yLabel: "accuracy", bars: bars, valueStyle: .percent(1))
        bar.height = 320

        var report = HTMLReport(
            title: "Optimizer comparison: vanilla CNN on flowers",
            subtitle: "6 optimizers × 3 runs × 150 epochs, from the study's training logs")
        report.summary = [
            KeyValue("Best final val acc", bestRow.map { "\($0[0].text) \($0[1].text)" } ?? "--"),
            KeyValue("Runs", "18"), KeyValue("Epochs", "150"), KeyValue("Suggested max lr", Format.lr(3.59e-3)),
        ]
        report.section("Accuracy and loss") { s in
            s.paragraph("Lines are the mean over runs; the shaded band spans the lowest and highest run.")
            s.figure(valAcc, caption: "Validation accuracy per epoch")
            s.figure(trainLoss, caption: "Training loss per epoch (log scale: RMSprop starts near 1.5e3)")
        }
        report.section("Learning rate") { s in
            s.figure(lrPlot, caption: "Loss against learning rate over 108 steps, with the suggestions")
            s.figure(schedule, caption: "The triangular cyclical schedule; snapshots are taken at its minima")
        }
        report.section("Summary") { s in
            s.table(table)
            s.figure(bar, caption: "Mean final validation accuracy per optimizer")
        }
        report.section("Ensembles") { s in
            s.figure(ensemble, caption: "Accuracy against the number of snapshot members")
            s.keyValues([KeyValue("Members", "5 (cycle minima 1–5)"), KeyValue("Method", "probability averaging")])
            s.code("graft ensemble --run 12 --minima --method probs")
        }
        report.footer = "Generated by graft report"

        let html = report.html()
        let xml = try ParsedXML(html)
        #expect(try xml.elements("svg").count == 6)
        let legend = try xml.texts("text", class: "legend-label")
        #expect(legend.filter { $0 == "SGD+CLR" }.count == 2)
        // The LR curve runs from 1e-7 to about 0.088: labelled decades 1e-7 … 1e-2.
        let lrSVG = try ParsedXML(lrPlot.svg())
        let xTicks = try lrSVG.elements("text", class: "tick-label").filter { $0.string("class") == "tick-label x" }
        #expect(xTicks.map { $0.stringValue ?? "" } == (-7 ... -2).map { "1e\($0)" })
        // Each table row shows the best validation accuracy of its optimizer from the log.
        let cells = try xml.elements("tr").dropFirst().map { ($0.children ?? []).compactMap { ($0 as? XMLElement)?.stringValue } }
        for (i, opt) in order.enumerated() {
            let best = rows.filter { $0.optimizer == opt }.map(\.valAcc).max() ?? .nan
            #expect(cells[i][2] == String(format: "%.2f%%", best * 100))
        }

        if let path = ProcessInfo.processInfo.environment["GRAFT_SAMPLE_REPORT"] {
            try report.write(to: URL(fileURLWithPath: path))
        }
    }
}
