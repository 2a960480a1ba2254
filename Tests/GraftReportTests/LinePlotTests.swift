import Foundation
import Testing

@testable import GraftReport

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite("LinePlot SVG")
struct LinePlotTests {
    /// 10^(a + (b - a) * i / (n - 1)) for i in 0..<n.
    func logspace(_ a: Double, _ b: Double, _ n: Int) -> [Double] {
        (0..<n).map { pow(10, a + (b - a) * Double($0) / Double(n - 1)) }
    }

    @Test func wellFormedWithTitleAxisLabelsAndLegend() throws {
        let plot = LinePlot(
            title: "Validation accuracy", xLabel: "epoch", yLabel: "accuracy",
            series: [
                PlotSeries(name: "SGD+CLR", y: [0.5, 0.7, 0.8]),
                PlotSeries(name: "Adam <β=0.9> & co", y: [0.6, 0.75, 0.82]),
            ])
        let xml = try ParsedXML(plot.svg())
        #expect(xml.document.rootElement()?.localName == "svg")
        #expect(try xml.texts("text", class: "axis-label") == ["epoch", "accuracy"])
        #expect(try xml.texts("text", class: "legend-label") == ["SGD+CLR", "Adam <β=0.9> & co"])
        #expect(try xml.texts("text", class: "plot-title") == ["Validation accuracy"])
        #expect(try xml.texts("title") == ["Validation accuracy"])
        // Each series gets its own palette colour.
        let strokes = try xml.elements("polyline", class: "line").compactMap { $0.string("stroke") }
        #expect(strokes == [PlotPalette.colors[0], PlotPalette.colors[1]])
    }

    @Test func logAxisHasLabelledDecadesAtTheRightPixels() throws {
        let lrs = logspace(-7, -1, 61)
        let plot = LinePlot(
            title: "LR range test", xLabel: "learning rate", yLabel: "loss", xScale: .log10,
            series: [PlotSeries(name: "smoothed loss", x: lrs, y: lrs.map { 2 + sin(log10($0)) })])
        let xml = try ParsedXML(plot.svg())
        let area = try PlotArea(xml)
        let labels = try xml.elements("text", class: "tick-label").filter { $0.string("class") == "tick-label x" }
        #expect(labels.map { $0.stringValue ?? "" } == (-7 ... -1).map { "1e\($0)" })
        for (k, label) in labels.enumerated() {
            let expected = area.x + area.width * Double(k) / 6
            #expect(abs((label.double("x") ?? -1) - expected) <= 0.2)
        }
    }

    @Test func pointOnLogAxisMapsToExpectedPixel() throws {
        var plot = LinePlot(
            title: "lr", xLabel: "lr", yLabel: "loss", xScale: .log10,
            series: [PlotSeries(name: "loss", x: [1e-7, 1e-3, 1e-1], y: [1, 2, 3], showPoints: true)],
            markers: [.vertical(x: 3e-3, label: "min/10: 3.0e-3")])
        plot.xRange = 1e-7...1e-1
        plot.yRange = 0...4
        let xml = try ParsedXML(plot.svg())
        let area = try PlotArea(xml)
        // Independent mapping: the fraction of the way from log10(1e-7) to log10(1e-1).
        let expectedX = area.x + area.width * (log10(1e-3) - log10(1e-7)) / (log10(1e-1) - log10(1e-7))
        let expectedY = area.y + area.height * (1 - 2.0 / 4.0)
        let circles = try xml.elements("circle", class: "point")
        #expect(circles.count == 3)
        #expect(
            circles.contains {
                abs(($0.double("cx") ?? 0) - expectedX) <= 0.2 && abs(($0.double("cy") ?? 0) - expectedY) <= 0.2
            })
        let line = try #require(try xml.elements("polyline", class: "line").first)
        #expect(abs(line.points[1].0 - expectedX) <= 0.2)
        #expect(abs(line.points[1].1 - expectedY) <= 0.2)
        let marker = try #require(try xml.elements("line", class: "marker-line").first)
        let markerX = area.x + area.width * (log10(3e-3) + 7) / 6
        #expect(abs((marker.double("x1") ?? 0) - markerX) <= 0.2)
        #expect(try xml.texts("text", class: "marker-label") == ["min/10: 3.0e-3"])
    }

    @Test func markerLabelsDoNotPileUp() throws {
        // Three suggestions within half a decade, and snapshot points close together.
        let plot = LinePlot(
            title: "lr", xLabel: "lr", yLabel: "loss", xScale: .log10,
            series: [PlotSeries(name: "loss", x: [1e-7, 1e-1], y: [1, 2])],
            markers: [
                .vertical(x: 3e-3, label: "min/10: 3.0e-3"), .vertical(x: 4e-3, label: "steepest: 4.0e-3"),
                .vertical(x: 5e-3, label: "valley: 5.0e-3"),
                .point(x: 1e-5, y: 1.2, label: "snapshot 1"), .point(x: 1.3e-5, y: 1.2, label: "snapshot 2"),
            ])
        let labels = try ParsedXML(plot.svg()).elements("text", class: "marker-label")
        #expect(labels.count == 5)
        let spots = labels.map { ($0.double("x") ?? 0, $0.double("y") ?? 0) }
        // The vertical markers' labels sit on three different rows.
        #expect(Set(spots.prefix(3).map(\.1)).count == 3)
        // The two snapshot labels are not drawn on top of each other.
        #expect(spots[3] != spots[4])
        #expect(abs(spots[3].1 - spots[4].1) >= 12 || abs(spots[3].0 - spots[4].0) >= 60)
    }

    @Test func nonFiniteValuesBreakTheLine() throws {
        let plot = LinePlot(
            title: "gaps", xLabel: "x", yLabel: "y",
            series: [PlotSeries(name: "s", y: [1, 2, .nan, 4, 5, .infinity, 7])])
        let svg = plot.svg()
        let xml = try ParsedXML(svg)
        let lines = try xml.elements("polyline", class: "line")
        #expect(lines.map { $0.points.count } == [2, 2])
        // The lone last point is drawn as a dot, not dropped.
        #expect(try xml.elements("circle", class: "point").count == 1)
        #expect(!svg.contains("nan") && !svg.contains("inf"))
    }

    @Test func nonPositiveValuesAreGapsOnALogAxis() throws {
        let plot = LinePlot(
            title: "log y", xLabel: "x", yLabel: "y", yScale: .log10,
            series: [PlotSeries(name: "s", y: [1, 0, -1, 2, 3])])
        let xml = try ParsedXML(plot.svg())
        #expect(try xml.elements("polyline", class: "line").map { $0.points.count } == [2])
        #expect(try xml.elements("circle", class: "point").count == 1)
    }

    @Test func onePointAndConstantSeriesStillDraw() throws {
        let single = LinePlot(title: "one", xLabel: "x", yLabel: "y", series: [PlotSeries(name: "s", y: [0.3])])
        let xml1 = try ParsedXML(single.svg())
        let area1 = try PlotArea(xml1)
        let dot = try #require(try xml1.elements("circle", class: "point").first)
        // A single value sits in the middle of the plot, both ways.
        #expect(abs((dot.double("cx") ?? 0) - (area1.x + area1.width / 2)) <= 0.2)
        #expect(abs((dot.double("cy") ?? 0) - (area1.y + area1.height / 2)) <= 0.2)
        #expect(try xml1.texts("text", class: "tick-label").count >= 4)

        let flat = LinePlot(
            title: "flat", xLabel: "x", yLabel: "y", series: [PlotSeries(name: "s", y: [0.5, 0.5, 0.5])])
        let xml2 = try ParsedXML(flat.svg())
        let area2 = try PlotArea(xml2)
        let pts = try #require(try xml2.elements("polyline", class: "line").first).points
        #expect(pts.count == 3)
        #expect(pts.allSatisfy { abs($0.1 - (area2.y + area2.height / 2)) <= 0.2 })
        let yLabels = try xml2.elements("text", class: "tick-label").filter { $0.string("class") == "tick-label y" }
        #expect(yLabels.count >= 2)
        #expect(yLabels.contains { $0.stringValue == "0.50" || $0.stringValue == "0.5" })
    }

    @Test func meanWithRangeAndBand() throws {
        let s = PlotSeries.meanWithRange(
            name: "Adam", x: [1, 2, 3, 4], runs: [[1, 2, 3, 10], [3, 4, 5], [2, .nan, 4]])
        #expect(s.y == [2, 3, 4, 10])
        #expect(s.band == PlotBand(lower: [1, 2, 3, 10], upper: [3, 4, 5, 10]))
        var plot = LinePlot(title: "band", xLabel: "epoch", yLabel: "acc", series: [s])
        plot.yRange = 0...10
        let xml = try ParsedXML(plot.svg())
        let area = try PlotArea(xml)
        let polygon = try #require(try xml.elements("polygon", class: "band").first)
        #expect(polygon.points.count == 8)
        // The polygon's first vertex is the upper bound at x = 1: y = 3 on a 0…10 axis.
        #expect(abs(polygon.points[0].1 - (area.y + area.height * (1 - 0.3))) <= 0.2)
        #expect(abs(polygon.points[0].0 - area.x) <= 0.2)
    }

    @Test func linearTicksAreNiceAndPercentLabelsWork() throws {
        var plot = LinePlot(
            title: "t", xLabel: "epoch", yLabel: "acc", series: [PlotSeries(name: "a", y: [0.1, 0.9, 0.5, 0.2, 0.3])])
        plot.yRange = 0...1
        let yLabels = { (p: LinePlot) throws -> [String] in
            try ParsedXML(p.svg()).elements("text", class: "tick-label").filter { $0.string("class") == "tick-label y" }
                .map { $0.stringValue ?? "" }
        }
        #expect(try yLabels(plot) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        plot.yPercent = true
        #expect(try yLabels(plot) == ["0%", "20%", "40%", "60%", "80%", "100%"])
        // Epochs are integers: no 1.5 tick.
        let xLabels = try ParsedXML(plot.svg()).elements("text", class: "tick-label")
            .filter { $0.string("class") == "tick-label x" }.map { $0.stringValue ?? "" }
        #expect(xLabels == ["1", "2", "3", "4", "5"])
    }

    @Test func emptyPlotIsStillAValidPicture() throws {
        let xml = try ParsedXML(LinePlot(title: "nothing yet", xLabel: "x", yLabel: "y").svg())
        #expect(try xml.elements("polyline").isEmpty)
        #expect(try xml.texts("text", class: "axis-label") == ["x", "y"])
    }

    @Test func longSeriesAreDecimatedButKeepTheirExtremes() throws {
        let n = 100_000
        let y = (0..<n).map { sin(Double($0) * 0.001) + (($0 % 997 == 0) ? 3 : 0) }
        var plot = LinePlot(title: "steps", xLabel: "step", yLabel: "loss", series: [PlotSeries(name: "loss", y: y)])
        plot.yRange = -2...5
        let svg = plot.svg()
        let xml = try ParsedXML(svg)
        let area = try PlotArea(xml)
        let pts = try #require(try xml.elements("polyline", class: "line").first).points
        #expect(pts.count < Int(area.width) * 4 + 8)
        #expect(svg.utf8.count < 200_000)
        // Spikes (y = 4) survive decimation: the top pixel equals the independent mapping of 3 + sin.
        let maxY = y.max() ?? 0
        let topPixel = area.y + area.height * (5 - maxY) / 7
        #expect(abs((pts.map(\.1).min() ?? 0) - topPixel) <= 0.2)
    }

    @Test func plotsGetDistinctClipIDs() throws {
        let a = LinePlot(title: "a", xLabel: "x", yLabel: "y", series: [PlotSeries(name: "s", y: [1, 2])]).svg()
        let b = LinePlot(title: "b", xLabel: "x", yLabel: "y", series: [PlotSeries(name: "s", y: [1, 2])]).svg()
        let id = { (svg: String) -> String? in
            try ParsedXML(svg).elements("clipPath").first?.string("id")
        }
        let ida = try #require(try id(a)), idb = try #require(try id(b))
        #expect(ida != idb)
        #expect(a.contains("url(#\(ida))"))
    }
}

@Suite("BarPlot SVG")
struct BarPlotTests {
    @Test func barHeightsAreProportionalFromZero() throws {
        var plot = BarPlot(
            title: "Ensemble vs single", yLabel: "accuracy",
            bars: [
                PlotBar(label: "best single", value: 0.4), PlotBar(label: "snapshot ensemble", value: 0.8),
                PlotBar(label: "SWA", value: .nan),
            ], valueStyle: .percent(1))
        plot.markers = [.horizontal(y: 0.4, label: "best single")]
        let xml = try ParsedXML(plot.svg())
        let rects = try xml.elements("rect", class: "bar")
        #expect(rects.count == 2)
        let h = rects.compactMap { $0.double("height") }
        #expect(h.count == 2 && abs(h[1] / h[0] - 2) < 0.01)
        #expect(try xml.texts("text", class: "bar-value") == ["40.0%", "80.0%", "n/a"])
        #expect(try xml.texts("text", class: "tick-label").contains("SWA"))
        #expect(try xml.texts("text", class: "marker-label") == ["best single"])
        // Bars stand on the zero line, which is the bottom of the plot area.
        let area = try PlotArea(xml)
        for r in rects {
            #expect(abs((r.double("y") ?? 0) + (r.double("height") ?? 0) - (area.y + area.height)) <= 0.2)
        }
    }
}
