import Foundation

/// A translucent band around a series, e.g. the min–max over several runs.
public struct PlotBand: Sendable, Equatable {
    public var lower: [Double]
    public var upper: [Double]

    public init(lower: [Double], upper: [Double]) {
        self.lower = lower
        self.upper = upper
    }
}

/// One named line in a `LinePlot`. Points whose x or y is NaN or infinite (or not positive on a
/// log axis) are skipped and break the line, so a diverged run shows as a gap, not a spike.
/// When `x`, `y` and the band differ in length, the shortest length is used.
public struct PlotSeries: Sendable, Equatable {
    public var name: String
    public var x: [Double]
    public var y: [Double]
    public var band: PlotBand?
    /// Draw a dot at every point (useful for few points, e.g. accuracy per ensemble size).
    public var showPoints: Bool
    /// A CSS colour; `nil` takes the next palette colour.
    public var color: String?
    public var dashed: Bool

    public init(
        name: String, x: [Double], y: [Double], band: PlotBand? = nil,
        showPoints: Bool = false, color: String? = nil, dashed: Bool = false
    ) {
        self.name = name
        self.x = x
        self.y = y
        self.band = band
        self.showPoints = showPoints
        self.color = color
        self.dashed = dashed
    }

    /// A series from any floating-point arrays (training code keeps `[Float]`).
    public init<X: BinaryFloatingPoint, Y: BinaryFloatingPoint>(
        name: String, x: [X], y: [Y], showPoints: Bool = false, color: String? = nil, dashed: Bool = false
    ) {
        self.init(
            name: name, x: x.map { Double($0) }, y: y.map { Double($0) },
            showPoints: showPoints, color: color, dashed: dashed)
    }

    /// A series against 1, 2, 3, … (epochs, ensemble sizes), or starting at `firstX`.
    public init(name: String, y: [Double], firstX: Double = 1, showPoints: Bool = false, color: String? = nil) {
        let x = (0..<y.count).map { firstX + Double($0) }
        self.init(name: name, x: x, y: y, showPoints: showPoints, color: color)
    }

    /// The mean of several runs at each x with a min–max band: the study's "three runs per
    /// optimizer" view. Runs may differ in length (an interrupted run); at each index only the
    /// runs that reach it and hold a finite value count, and an index no run covers is a gap.
    public static func meanWithRange(
        name: String, x: [Double], runs: [[Double]], showPoints: Bool = false, color: String? = nil
    ) -> PlotSeries {
        let length = min(x.count, runs.map(\.count).max() ?? 0)
        var mean = [Double](repeating: .nan, count: length)
        var lower = mean, upper = mean
        for i in 0..<length {
            var sum = 0.0, count = 0, lo = Double.infinity, hi = -Double.infinity
            for run in runs where i < run.count && run[i].isFinite {
                sum += run[i]
                count += 1
                lo = min(lo, run[i])
                hi = max(hi, run[i])
            }
            if count > 0 {
                mean[i] = sum / Double(count)
                lower[i] = lo
                upper[i] = hi
            }
        }
        return PlotSeries(
            name: name, x: Array(x.prefix(length)), y: mean,
            band: runs.count > 1 ? PlotBand(lower: lower, upper: upper) : nil,
            showPoints: showPoints, color: color)
    }
}

/// An annotation on a plot: a vertical line (an LR suggestion), a horizontal line (a baseline
/// such as the best single model) or a labelled point.
public struct PlotMarker: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case vertical(x: Double)
        case horizontal(y: Double)
        case point(x: Double, y: Double)
    }

    public var kind: Kind
    public var label: String
    /// A CSS colour; `nil` takes a palette colour after the series' colours.
    public var color: String?

    public init(_ kind: Kind, label: String, color: String? = nil) {
        self.kind = kind
        self.label = label
        self.color = color
    }

    public static func vertical(x: Double, label: String, color: String? = nil) -> PlotMarker {
        PlotMarker(.vertical(x: x), label: label, color: color)
    }

    public static func horizontal(y: Double, label: String, color: String? = nil) -> PlotMarker {
        PlotMarker(.horizontal(y: y), label: label, color: color)
    }

    public static func point(x: Double, y: Double, label: String, color: String? = nil) -> PlotMarker {
        PlotMarker(.point(x: x, y: y), label: label, color: color)
    }
}

/// A line plot rendered as a self-contained SVG string: title, labelled axes (linear or log10),
/// grid, several series with optional min–max bands and dots, markers and a legend.
///
/// ```swift
/// var plot = LinePlot(title: "LR range test", xLabel: "learning rate", yLabel: "loss", xScale: .log10)
/// plot.series.append(PlotSeries(name: "smoothed loss", x: lrs, y: losses))
/// plot.markers.append(.vertical(x: 3e-3, label: "min/10: 3.0e-3"))
/// let svg = plot.svg()
/// ```
public struct LinePlot: Sendable, Equatable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xScale: AxisScale
    public var yScale: AxisScale
    /// Overall size in pixels (the SVG scales down to fit its container in the HTML report).
    public var width: Double
    public var height: Double
    public var series: [PlotSeries]
    public var markers: [PlotMarker]
    /// Fixed axis intervals; `nil` fits the data (x exactly, y with 5 % padding).
    public var xRange: ClosedRange<Double>?
    public var yRange: ClosedRange<Double>?
    /// Label linear y ticks as percentages (for accuracies stored as fractions).
    public var yPercent: Bool
    public var showLegend: Bool

    public init(
        title: String, xLabel: String, yLabel: String,
        xScale: AxisScale = .linear, yScale: AxisScale = .linear,
        width: Double = 860, height: Double = 420,
        series: [PlotSeries] = [], markers: [PlotMarker] = []
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xScale = xScale
        self.yScale = yScale
        self.width = width
        self.height = height
        self.series = series
        self.markers = markers
        self.xRange = nil
        self.yRange = nil
        self.yPercent = false
        self.showLegend = true
    }

    /// Writes the SVG to `url`.
    /// - Throws: `ReportError.writeFailed` naming the path.
    public func write(to url: URL) throws {
        try writeText(svg(), to: url)
    }

    /// The plot as a standalone SVG document (no XML declaration, so it can also be inlined in
    /// HTML).
    public func svg() -> String {
        // Data extents, counting only values each axis can show.
        var xs: [Double] = [], ys: [Double] = []
        let xOK: (Double) -> Bool = { $0.isFinite && (self.xScale == .linear || $0 > 0) }
        let yOK: (Double) -> Bool = { $0.isFinite && (self.yScale == .linear || $0 > 0) }
        for s in series {
            let n = min(s.x.count, s.y.count)
            for i in 0..<n where xOK(s.x[i]) {
                if yOK(s.y[i]) {
                    xs.append(s.x[i])
                    ys.append(s.y[i])
                }
                if let band = s.band {
                    if i < band.lower.count, yOK(band.lower[i]) { ys.append(band.lower[i]) }
                    if i < band.upper.count, yOK(band.upper[i]) { ys.append(band.upper[i]) }
                }
            }
        }
        for m in markers {
            switch m.kind {
            case let .vertical(x): if xOK(x) { xs.append(x) }
            case let .horizontal(y): if yOK(y) { ys.append(y) }
            case let .point(x, y):
                if xOK(x), yOK(y) {
                    xs.append(x)
                    ys.append(y)
                }
            }
        }
        // Lines run edge to edge; dots get a little room so the first and last are not cut in half.
        let dotted =
            series.contains { $0.showPoints }
            || markers.contains {
                if case .point = $0.kind { return true } else { return false }
            }
        let (x0, x1) = validRange(xRange, scale: xScale) ?? Ticks.domain(xs, scale: xScale, pad: dotted ? 0.03 : 0)
        let (y0, y1) = validRange(yRange, scale: yScale) ?? Ticks.domain(ys, scale: yScale, pad: 0.05)
        let integralX = xScale == .linear && !xs.isEmpty && xs.allSatisfy { $0 == $0.rounded() }

        // Layout: title on top, legend on the right, tick labels and axis titles outside the plot area.
        let top = title.isEmpty ? 16.0 : 44.0
        let bottom = height - (xLabel.isEmpty ? 34.0 : 54.0)
        let yTicks = axisTicks(
            scale: yScale, lo: y0, hi: y1, target: max(3, Int((bottom - top) / 55)),
            integral: false, percent: yPercent)
        let tickLabelWidth = yTicks.map { SVG.textWidth($0.label, fontSize: 11) }.max() ?? 0
        let left = 10 + (yLabel.isEmpty ? 0 : 22) + max(tickLabelWidth, 14) + 8
        let legendEntries = showLegend ? series.enumerated().filter { !$0.element.name.isEmpty } : []
        let legendNames = legendEntries.map { SVG.truncate($0.element.name, maxChars: 28) }
        let legendWidth =
            legendEntries.isEmpty ? 0 : 18 + 30 + (legendNames.map { SVG.textWidth($0, fontSize: 12) }.max() ?? 0)
        let right = width - 18 - legendWidth
        let xTicks = axisTicks(
            scale: xScale, lo: x0, hi: x1, target: max(2, Int((right - left) / 85)),
            integral: integralX, percent: false)

        let xMap = AxisMap(scale: xScale, lo: x0, hi: x1, pixelLo: left, pixelHi: right)
        let yMap = AxisMap(scale: yScale, lo: y0, hi: y1, pixelLo: bottom, pixelHi: top)
        let clipID =
            "graft-clip-"
            + SVG.hash(
                [title, xLabel, yLabel, "\(width)x\(height)", "\(left),\(right),\(top),\(bottom)"]
                    + series.map { "\($0.name):\($0.x.count):\($0.y.first ?? 0):\($0.y.last ?? 0)" })

        var out = ""
        out.reserveCapacity(4096 + series.reduce(0) { $0 + $1.x.count * 14 })
        openDocument(&out, width: width, height: height, title: title)
        // The clip reaches a few pixels past the plot area so dots on its edge stay round.
        out += "<defs><clipPath id=\"\(clipID)\"><rect x=\"\(SVG.n(left - 4))\" y=\"\(SVG.n(top - 4))\" "
        out += "width=\"\(SVG.n(right - left + 8))\" height=\"\(SVG.n(bottom - top + 8))\"/></clipPath></defs>\n"
        drawFrame(
            &out, left: left, right: right, top: top, bottom: bottom,
            xTicks: xTicks, yTicks: yTicks, xMap: xMap, yMap: yMap)

        // Bands first so every line stays on top of every band.
        out += "<g class=\"data\" clip-path=\"url(#\(clipID))\">\n"
        for (i, s) in series.enumerated() {
            guard let band = s.band else { continue }
            let color = s.color ?? PlotPalette.color(i)
            let n = min(s.x.count, band.lower.count, band.upper.count)
            var segment: [(Double, Double, Double)] = []
            func flush() {
                if segment.count >= 2 {
                    out += "<polygon class=\"band\" data-name=\"\(Escape.xml(s.name))\" fill=\"\(color)\" "
                    out += "fill-opacity=\"0.18\" stroke=\"none\" points=\""
                    for p in segment { out += "\(SVG.n(p.0)),\(SVG.n(p.2)) " }
                    for p in segment.reversed() { out += "\(SVG.n(p.0)),\(SVG.n(p.1)) " }
                    out += "\"/>\n"
                }
                segment.removeAll(keepingCapacity: true)
            }
            for j in 0..<n {
                let x = s.x[j], lo = band.lower[j], hi = band.upper[j]
                if xMap.accepts(x), yMap.accepts(lo), yMap.accepts(hi) {
                    segment.append((xMap.pixel(x), yMap.pixel(lo), yMap.pixel(hi)))
                } else {
                    flush()
                }
            }
            flush()
        }
        for (i, s) in series.enumerated() {
            drawSeries(&out, s, color: s.color ?? PlotPalette.color(i), xMap: xMap, yMap: yMap, plotWidth: right - left)
        }
        out += "</g>\n"
        drawMarkers(&out, xMap: xMap, yMap: yMap, left: left, right: right, top: top, bottom: bottom)
        if !legendEntries.isEmpty {
            out += "<g class=\"legend\" font-size=\"12\">\n"
            var y = top + 10
            for ((i, s), name) in zip(legendEntries, legendNames) {
                let color = s.color ?? PlotPalette.color(i)
                let x = right + 18
                if s.band != nil {
                    out += "<rect x=\"\(SVG.n(x))\" y=\"\(SVG.n(y - 6))\" width=\"24\" height=\"12\" "
                    out += "fill=\"\(color)\" fill-opacity=\"0.18\"/>"
                }
                out += "<line x1=\"\(SVG.n(x))\" y1=\"\(SVG.n(y))\" x2=\"\(SVG.n(x + 24))\" y2=\"\(SVG.n(y))\" "
                out += "stroke=\"\(color)\" stroke-width=\"2.5\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
                if s.showPoints {
                    out += "<circle cx=\"\(SVG.n(x + 12))\" cy=\"\(SVG.n(y))\" r=\"3.5\" fill=\"\(color)\"/>"
                }
                out += "<text class=\"legend-label\" x=\"\(SVG.n(x + 30))\" y=\"\(SVG.n(y))\" dy=\"0.35em\" "
                out += "fill=\"#222\">\(Escape.xml(name))</text>\n"
                y += 20
            }
            out += "</g>\n"
        }
        out += "</svg>\n"
        return out
    }

    private func validRange(_ r: ClosedRange<Double>?, scale: AxisScale) -> (Double, Double)? {
        guard let r, r.lowerBound.isFinite, r.upperBound.isFinite, r.upperBound > r.lowerBound else { return nil }
        if scale == .log10, r.lowerBound <= 0 { return nil }
        return (r.lowerBound, r.upperBound)
    }

    private func drawSeries(
        _ out: inout String, _ s: PlotSeries, color: String, xMap: AxisMap, yMap: AxisMap, plotWidth: Double
    ) {
        let n = min(s.x.count, s.y.count)
        out += "<g class=\"series\" data-name=\"\(Escape.xml(s.name))\">\n"
        var segment: [(Double, Double)] = []
        var dots: [(Double, Double)] = []
        func flush() {
            if segment.count == 1 {
                dots.append(segment[0])  // an isolated point would be an invisible line
            } else if segment.count > 1 {
                let pts = segment.count > Int(plotWidth * 4) ? decimate(segment) : segment
                out += "<polyline class=\"line\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" "
                out += "stroke-linejoin=\"round\" stroke-linecap=\"round\""
                if s.dashed { out += " stroke-dasharray=\"6 4\"" }
                out += " points=\""
                for (k, p) in pts.enumerated() {
                    if k > 0 { out += " " }
                    out += SVG.n(p.0) + "," + SVG.n(p.1)
                }
                out += "\"/>\n"
            }
            segment.removeAll(keepingCapacity: true)
        }
        for i in 0..<n {
            if xMap.accepts(s.x[i]), yMap.accepts(s.y[i]) {
                let p = (xMap.pixel(s.x[i]), yMap.pixel(s.y[i]))
                segment.append(p)
                if s.showPoints { dots.append(p) }
            } else {
                flush()
            }
        }
        flush()
        // A dot can be recorded twice (showPoints and isolated); draw each position once.
        var last: (Double, Double)? = nil
        for p in dots.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
            if let l = last, l == p { continue }
            out += "<circle class=\"point\" cx=\"\(SVG.n(p.0))\" cy=\"\(SVG.n(p.1))\" r=\"3.5\" fill=\"\(color)\"/>\n"
            last = p
        }
        out += "</g>\n"
    }

    /// Keeps the first, lowest, highest and last point of every pixel column (M4 decimation),
    /// which draws the same picture as the full series with far fewer vertices.
    private func decimate(_ points: [(Double, Double)]) -> [(Double, Double)] {
        var result: [(Double, Double)] = []
        result.reserveCapacity(Int(points.count / 2))
        var i = 0
        while i < points.count {
            let column = points[i].0.rounded(.down)
            var j = i
            var minIndex = i, maxIndex = i
            while j < points.count, points[j].0.rounded(.down) == column {
                if points[j].1 < points[minIndex].1 { minIndex = j }
                if points[j].1 > points[maxIndex].1 { maxIndex = j }
                j += 1
            }
            for k in Set([i, minIndex, maxIndex, j - 1]).sorted() { result.append(points[k]) }
            i = j
        }
        return result
    }

    private func drawMarkers(
        _ out: inout String, xMap: AxisMap, yMap: AxisMap, left: Double, right: Double, top: Double, bottom: Double
    ) {
        guard !markers.isEmpty else { return }
        out += "<g class=\"markers\" font-size=\"11.5\">\n"
        var labels = LabelPlacer(left: left, right: right, top: top, bottom: bottom)
        let halo = "paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\" stroke-linejoin=\"round\""
        // Labels go after every line and dot, so their white halo keeps them readable where
        // another marker's line crosses them.
        var texts = ""
        func text(_ m: PlotMarker, color: String, _ spot: LabelPlacer.Spot) {
            texts += "<text class=\"marker-label\" x=\"\(SVG.n(spot.x))\" y=\"\(SVG.n(spot.y))\" "
            texts += "text-anchor=\"\(spot.anchor)\" fill=\"\(color)\" \(halo)>\(Escape.xml(m.label))</text>\n"
        }
        for (i, m) in markers.enumerated() {
            let color = m.color ?? PlotPalette.color(series.count + i)
            let width = SVG.textWidth(m.label, fontSize: 11.5)
            switch m.kind {
            case let .vertical(x):
                guard xMap.accepts(x), xMap.contains(x) else { continue }
                let px = xMap.pixel(x)
                out += "<line class=\"marker-line\" x1=\"\(SVG.n(px))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(px))\" "
                out += "y2=\"\(SVG.n(bottom))\" stroke=\"\(color)\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\n"
                guard !m.label.isEmpty else { continue }
                // Rows from the top, on the side of the line with more room.
                let side = px > left + 0.7 * (right - left) ? "end" : "start"
                let dx = side == "end" ? -5.0 : 5.0
                let rows = stride(from: top + 14, through: bottom - 4, by: 16).map { (px + dx, $0, side) }
                text(m, color: color, labels.place(width: width, candidates: rows))
            case let .horizontal(y):
                guard yMap.accepts(y), yMap.contains(y) else { continue }
                let py = yMap.pixel(y)
                out += "<line class=\"marker-line\" x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(py))\" x2=\"\(SVG.n(right))\" "
                out += "y2=\"\(SVG.n(py))\" stroke=\"\(color)\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\n"
                guard !m.label.isEmpty else { continue }
                let spots = [
                    (right - 6, py - 6, "end"), (right - 6, py + 15, "end"), (left + 6, py - 6, "start"),
                    (left + 6, py + 15, "start"),
                ]
                text(m, color: color, labels.place(width: width, candidates: spots))
            case let .point(x, y):
                guard xMap.accepts(x), yMap.accepts(y), xMap.contains(x), yMap.contains(y) else { continue }
                let px = xMap.pixel(x), py = yMap.pixel(y)
                out +=
                    "<circle class=\"marker-point\" cx=\"\(SVG.n(px))\" cy=\"\(SVG.n(py))\" r=\"5\" fill=\"\(color)\" "
                out += "stroke=\"#fff\" stroke-width=\"1.5\"/>\n"
                guard !m.label.isEmpty else { continue }
                var spots: [(Double, Double, String)] = []
                for dy in [-9.0, -23, 19, -37, 33] {
                    spots.append((px + 8, py + dy, "start"))
                    spots.append((px - 8, py + dy, "end"))
                    spots.append((px, py + dy, "middle"))
                }
                text(m, color: color, labels.place(width: width, candidates: spots))
            }
        }
        out += texts
        out += "</g>\n"
    }

    private func drawFrame(
        _ out: inout String, left: Double, right: Double, top: Double, bottom: Double,
        xTicks: [Tick], yTicks: [Tick], xMap: AxisMap, yMap: AxisMap
    ) {
        drawPlotArea(&out, left: left, right: right, top: top, bottom: bottom)
        out += "<g class=\"grid\">\n"
        for t in xTicks where xMap.contains(t.value) {
            let px = xMap.pixel(t.value)
            out += "<line x1=\"\(SVG.n(px))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(px))\" y2=\"\(SVG.n(bottom))\" "
            out += "stroke=\"\(t.major ? "#dddddd" : "#f0f0f0")\" stroke-width=\"1\"/>\n"
        }
        for t in yTicks where yMap.contains(t.value) {
            let py = yMap.pixel(t.value)
            out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(py))\" x2=\"\(SVG.n(right))\" y2=\"\(SVG.n(py))\" "
            out += "stroke=\"\(t.major ? "#dddddd" : "#f0f0f0")\" stroke-width=\"1\"/>\n"
        }
        out += "</g>\n"
        drawAxes(
            &out, left: left, right: right, top: top, bottom: bottom,
            xTickLabels: xTicks.filter { !$0.label.isEmpty && xMap.contains($0.value) }
                .map { (xMap.pixel($0.value), $0.label) },
            yTickLabels: yTicks.filter { !$0.label.isEmpty && yMap.contains($0.value) }
                .map { (yMap.pixel($0.value), $0.label) },
            xLabel: xLabel, yLabel: yLabel, title: title, width: width)
    }
}

// MARK: - Shared drawing

/// Ticks for one axis, falling back to plain ticks when a log axis spans too little to hold two
/// labelled ticks.
func axisTicks(scale: AxisScale, lo: Double, hi: Double, target: Int, integral: Bool, percent: Bool) -> [Tick] {
    switch scale {
    case .log10:
        // Decade labels (`1e-7`) are short and evenly spaced: twice as many fit as linear ones.
        let ticks = Ticks.log(lo: lo, hi: hi, target: target * 2)
        if ticks.filter({ !$0.label.isEmpty }).count >= 2 { return ticks }
        return Ticks.linear(lo: lo, hi: hi, target: target, integral: false).map {
            Tick(value: $0.value, label: Format.scientific($0.value, digits: 2), major: true)
        }.filter { $0.value > 0 }
    case .linear:
        var ticks = Ticks.linear(lo: lo, hi: hi, target: target, integral: integral)
        if percent, ticks.count >= 2 {
            let step = abs(ticks[1].value - ticks[0].value) * 100
            let digits = max(0, -Int(floor(log10(step) + 1e-9)))
            for i in ticks.indices { ticks[i].label = Format.percent(ticks[i].value, digits: digits) }
        }
        return ticks
    }
}

func openDocument(_ out: inout String, width: Double, height: Double, title: String) {
    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" "
    out += "viewBox=\"0 0 \(SVG.n(width)) \(SVG.n(height))\" role=\"img\" "
    out += "font-family=\"\(SVG.fontFamily)\">\n"
    if !title.isEmpty { out += "<title>\(Escape.xml(title))</title>\n" }
    out +=
        "<rect class=\"background\" x=\"0\" y=\"0\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" fill=\"#ffffff\"/>\n"
}

func drawPlotArea(_ out: inout String, left: Double, right: Double, top: Double, bottom: Double) {
    out += "<rect class=\"plot-area\" x=\"\(SVG.n(left))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(right - left))\" "
    out += "height=\"\(SVG.n(bottom - top))\" fill=\"#ffffff\" stroke=\"none\"/>\n"
}

/// Axis lines, tick marks and labels, axis titles and the plot title. Tick positions are pixels.
func drawAxes(
    _ out: inout String, left: Double, right: Double, top: Double, bottom: Double,
    xTickLabels: [(Double, String)], yTickLabels: [(Double, String)],
    xLabel: String, yLabel: String, title: String, width: Double
) {
    out += "<g class=\"axes\" stroke=\"#555\" stroke-width=\"1\">\n"
    out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(bottom))\" x2=\"\(SVG.n(right))\" y2=\"\(SVG.n(bottom))\"/>\n"
    out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(left))\" y2=\"\(SVG.n(bottom))\"/>\n"
    for (px, _) in xTickLabels {
        out += "<line x1=\"\(SVG.n(px))\" y1=\"\(SVG.n(bottom))\" x2=\"\(SVG.n(px))\" y2=\"\(SVG.n(bottom + 4))\"/>\n"
    }
    for (py, _) in yTickLabels {
        out += "<line x1=\"\(SVG.n(left - 4))\" y1=\"\(SVG.n(py))\" x2=\"\(SVG.n(left))\" y2=\"\(SVG.n(py))\"/>\n"
    }
    out += "</g>\n<g class=\"tick-labels\" font-size=\"11\" fill=\"#333\">\n"
    for (px, label) in xTickLabels {
        out += "<text class=\"tick-label x\" x=\"\(SVG.n(px))\" y=\"\(SVG.n(bottom + 17))\" "
        out += "text-anchor=\"middle\">\(Escape.xml(label))</text>\n"
    }
    for (py, label) in yTickLabels {
        out += "<text class=\"tick-label y\" x=\"\(SVG.n(left - 7))\" y=\"\(SVG.n(py))\" dy=\"0.35em\" "
        out += "text-anchor=\"end\">\(Escape.xml(label))</text>\n"
    }
    out += "</g>\n"
    let midX = (left + right) / 2, midY = (top + bottom) / 2
    if !xLabel.isEmpty {
        out += "<text class=\"axis-label x\" x=\"\(SVG.n(midX))\" y=\"\(SVG.n(bottom + 40))\" text-anchor=\"middle\" "
        out += "font-size=\"13\" fill=\"#222\">\(Escape.xml(xLabel))</text>\n"
    }
    if !yLabel.isEmpty {
        out += "<text class=\"axis-label y\" x=\"16\" y=\"\(SVG.n(midY))\" text-anchor=\"middle\" font-size=\"13\" "
        out += "fill=\"#222\" transform=\"rotate(-90 16 \(SVG.n(midY)))\" dy=\"0.35em\">\(Escape.xml(yLabel))</text>\n"
    }
    if !title.isEmpty {
        // Centred over the plot area, or over the whole picture when it is too long for that.
        let tx = SVG.textWidth(title, fontSize: 16) > right - left ? width / 2 : midX
        out += "<text class=\"plot-title\" x=\"\(SVG.n(tx))\" y=\"26\" text-anchor=\"middle\" "
        out += "font-size=\"16\" font-weight=\"600\" fill=\"#111\">\(Escape.xml(title))</text>\n"
    }
}

/// Places marker labels so they do not overlap each other: each label takes the first of its
/// candidate positions whose box is inside the plot and clear of the labels placed before.
struct LabelPlacer {
    struct Spot {
        var x: Double, y: Double, anchor: String
    }

    let left: Double, right: Double, top: Double, bottom: Double
    private var boxes: [(x0: Double, y0: Double, x1: Double, y1: Double)] = []

    init(left: Double, right: Double, top: Double, bottom: Double) {
        self.left = left
        self.right = right
        self.top = top
        self.bottom = bottom
    }

    mutating func place(width: Double, candidates: [(Double, Double, String)]) -> Spot {
        func box(_ c: (Double, Double, String)) -> (x0: Double, y0: Double, x1: Double, y1: Double) {
            let x0 = c.2 == "end" ? c.0 - width : c.2 == "middle" ? c.0 - width / 2 : c.0
            return (x0 - 2, c.1 - 11, x0 + width + 2, c.1 + 3)
        }
        var chosen = candidates.first ?? (left, top + 14, "start")
        for c in candidates {
            let b = box(c)
            let inside = b.x0 >= left - 2 && b.x1 <= right + 2 && b.y0 >= top - 2 && b.y1 <= bottom + 2
            let clear = !boxes.contains { b.x0 < $0.x1 && $0.x0 < b.x1 && b.y0 < $0.y1 && $0.y0 < b.y1 }
            if inside, clear {
                chosen = c
                break
            }
        }
        boxes.append(box(chosen))
        return Spot(x: chosen.0, y: chosen.1, anchor: chosen.2)
    }
}
