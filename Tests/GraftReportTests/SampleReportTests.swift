import Foundation
import Testing
import TestSupport

@testable import GraftReport

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A full report built from the study's own logs (`seed_logs/vanilla.csv`, `lr_finder/vanilla_curve.csv`)
/// and, for its ensemble section, from PyTorch's predictions in `vanilla_cnn/steps`: the page
/// `graft report --compare` is meant to produce. Every number on it comes from a fixture or is
/// computed here from one. Set `GRAFT_SAMPLE_REPORT=/path/report.html`
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
            return Row(
                optimizer: f[0], run: run, epoch: epoch, trainAcc: ta > 1.5 ? ta / 100 : ta,
                trainLoss: tl, valAcc: va, valLoss: vl)
        }
    }

    let names = [
        "adagrad": "Adagrad", "adadelta": "Adadelta", "rmsprop": "RMSprop", "adam": "Adam",
        "adamax": "Adamax", "sgd_clr": "SGD+CLR",
    ]
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

    /// Ensemble accuracies from real predictions: PyTorch's eval logits of the vanilla CNN after 3
    /// steps of each optimizer (`vanilla_cnn/steps/<name>_eval_logits.npy`, `[4, 5]`) against the
    /// batch's labels (`vanilla_cnn/labels.npy`). Members join in the order below; `single` is each
    /// model alone, `probs` the mean softmax of the first k, `votes` their majority vote (ties go
    /// to the larger summed probability, then the lower class, as `graft ensemble` breaks them).
    func ensembleAccuracies() throws
        -> (members: [String], single: [Double], probs: [Double], votes: [Double])
    {
        let members = ["sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamax"]
        let labels = try NPY.int64(Fixtures.url("vanilla_cnn/labels.npy")).map { Int($0) }
        let probabilities = try members.map { name -> [[Double]] in
            let logits = try NPY.floats(Fixtures.url("vanilla_cnn/steps/\(name)_eval_logits.npy"))
            try #require(logits.shape == [labels.count, 5], "\(name)")
            return (0..<labels.count).map { i in
                let row = logits.values[(i * 5)..<(i * 5 + 5)].map(Double.init)
                let top = row.max()!
                let e = row.map { exp($0 - top) }
                let total = e.reduce(0, +)
                return e.map { $0 / total }
            }
        }
        func argmax(_ v: [Double]) -> Int { v.indices.max { v[$0] < v[$1] || (v[$0] == v[$1] && $0 > $1) }! }
        func accuracy(_ predictions: [Int]) -> Double {
            Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
        }
        let single = probabilities.map { p in accuracy(p.map(argmax)) }
        var probs: [Double] = [], votes: [Double] = []
        for k in 1...members.count {
            let chosen = probabilities.prefix(k)
            let summed = (0..<labels.count).map { i in (0..<5).map { c in chosen.map { $0[i][c] }.reduce(0, +) } }
            probs.append(accuracy(summed.map(argmax)))
            votes.append(
                accuracy(
                    (0..<labels.count).map { i in
                        var count = [Int](repeating: 0, count: 5)
                        for p in chosen { count[argmax(p[i])] += 1 }
                        return (0..<5).max { a, b in
                            (count[a], summed[i][a], -a) < (count[b], summed[i][b], -b)
                        }!
                    }))
        }
        return (members, single, probs, votes)
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

        // Accuracies computed here from real predictions (see `ensembleAccuracies`), not typed in.
        let acc = try ensembleAccuracies()
        // numpy on the same files gives these: probability averaging drops to the adaptive
        // optimizers' single-class predictions once they outnumber sgd.
        #expect(acc.single == [0.5, 0.25, 0.5, 0.25, 0.75, 0.25])
        #expect(acc.probs == [0.5, 0.25, 0.25, 0.25, 0.25, 0.25])
        #expect(acc.votes == [0.5, 0.25, 0.5, 0.25, 0.75, 0.25])
        let bestSingle = acc.single.max() ?? .nan
        var ensemble = LinePlot(
            title: "Ensemble of the six 3-step models: accuracy vs size", xLabel: "members", yLabel: "accuracy",
            series: [
                PlotSeries(name: "probability averaging", y: acc.probs, showPoints: true),
                PlotSeries(name: "majority vote", y: acc.votes, showPoints: true),
            ],
            markers: [.horizontal(y: bestSingle, label: "best single model " + Format.percent(bestSingle))])
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
                .integer(best?.epoch ?? 0),
                .number(finals.map(\.trainLoss).reduce(0, +) / Double(finals.count), .compact),
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
            s.figure(
                ensemble,
                caption: "Accuracy on the 4 labelled images of the fixture batch as members join, "
                    + "in the order " + acc.members.joined(separator: ", "))
            s.keyValues([
                KeyValue("Members", "6 vanilla CNNs, one per optimizer, 3 steps each (PyTorch)"),
                KeyValue("Images", "4: the batch they were trained on"),
                KeyValue("Methods", "probability averaging; majority vote"),
            ])
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
        let cells = try xml.elements("tr").dropFirst().map {
            ($0.children ?? []).compactMap { ($0 as? XMLElement)?.stringValue }
        }
        for (i, opt) in order.enumerated() {
            let best = rows.filter { $0.optimizer == opt }.map(\.valAcc).max() ?? .nan
            #expect(cells[i][2] == String(format: "%.2f%%", best * 100))
        }

        if let path = ProcessInfo.processInfo.environment["GRAFT_SAMPLE_REPORT"] {
            try report.write(to: URL(fileURLWithPath: path))
        }
    }
}
