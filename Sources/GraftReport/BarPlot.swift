import Foundation

/// One bar of a `BarPlot`.
public struct PlotBar: Sendable, Equatable {
    public var label: String
    public var value: Double
    /// A CSS colour; `nil` takes the palette colour of the bar's position.
    public var color: String?

    public init(label: String, value: Double, color: String? = nil) {
        self.label = label
        self.value = value
        self.color = color
    }
}

/// A vertical bar chart rendered as SVG: one bar per category, each labelled with its value
/// (e.g. validation accuracy per optimizer, or single model vs snapshot ensemble vs SWA).
/// Non-finite values leave an empty slot marked "n/a".
public struct BarPlot: Sendable, Equatable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var bars: [PlotBar]
    public var width: Double
    public var height: Double
    /// Fixed y interval; `nil` starts at zero (bars should) and fits the largest value.
    public var yRange: ClosedRange<Double>?
    /// How values and y ticks are printed; `.percent` labels ticks as percentages.
    public var valueStyle: NumberStyle
    /// Horizontal reference lines, e.g. the best single model.
    public var markers: [PlotMarker]

    public init(
        title: String, xLabel: String = "", yLabel: String, bars: [PlotBar] = [],
        width: Double = 860, height: Double = 380, valueStyle: NumberStyle = .compact
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.bars = bars
        self.width = width
        self.height = height
        self.yRange = nil
        self.valueStyle = valueStyle
        self.markers = []
    }

    /// Writes the SVG to `url`.
    /// - Throws: `ReportError.writeFailed` naming the path.
    public func write(to url: URL) throws {
        try writeText(svg(), to: url)
    }

    public func svg() -> String {
        var values = bars.map(\.value).filter(\.isFinite)
        for m in markers { if case let .horizontal(y) = m.kind, y.isFinite { values.append(y) } }
        var y0 = min(0, values.min() ?? 0), y1 = max(0, values.max() ?? 1)
        if y1 == y0 { y1 = y0 + 1 }
        y1 += (y1 - y0) * 0.08  // room for the value labels above the bars
        if let r = yRange, r.lowerBound.isFinite, r.upperBound.isFinite, r.upperBound > r.lowerBound {
            y0 = r.lowerBound
            y1 = r.upperBound
        }
        let top = title.isEmpty ? 16.0 : 44.0
        let bottom = height - (xLabel.isEmpty ? 34.0 : 54.0)
        var percent = false
        if case .percent = valueStyle { percent = true }
        let yTicks = axisTicks(
            scale: .linear, lo: y0, hi: y1, target: max(3, Int((bottom - top) / 55)), integral: false,
            percent: percent)
        let tickLabelWidth = yTicks.map { SVG.textWidth($0.label, fontSize: 11) }.max() ?? 0
        let left = 10 + (yLabel.isEmpty ? 0 : 22) + max(tickLabelWidth, 14) + 8
        let right = width - 18
        let yMap = AxisMap(scale: .linear, lo: y0, hi: y1, pixelLo: bottom, pixelHi: top)

        var out = ""
        openDocument(&out, width: width, height: height, title: title)
        drawPlotArea(&out, left: left, right: right, top: top, bottom: bottom)
        out += "<g class=\"grid\">\n"
        for t in yTicks where yMap.contains(t.value) {
            let py = yMap.pixel(t.value)
            out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(py))\" x2=\"\(SVG.n(right))\" y2=\"\(SVG.n(py))\" "
            out += "stroke=\"#dddddd\" stroke-width=\"1\"/>\n"
        }
        out += "</g>\n"

        let slot = (right - left) / Double(max(bars.count, 1))
        let barWidth = min(slot * 0.7, 90)
        let maxLabelChars = max(3, Int(slot / (11 * 0.6)))
        var xTickLabels: [(Double, String)] = []
        let base = yMap.pixel(min(max(0, y0), y1))
        out += "<g class=\"bars\" font-size=\"11.5\">\n"
        for (i, bar) in bars.enumerated() {
            let cx = left + slot * (Double(i) + 0.5)
            xTickLabels.append((cx, SVG.truncate(bar.label, maxChars: maxLabelChars)))
            guard bar.value.isFinite else {
                out += "<text class=\"bar-value\" x=\"\(SVG.n(cx))\" y=\"\(SVG.n(base - 6))\" text-anchor=\"middle\" "
                out += "fill=\"#777\">n/a</text>\n"
                continue
            }
            let v = min(max(bar.value, y0), y1)
            let py = yMap.pixel(v)
            let color = bar.color ?? PlotPalette.color(i)
            out += "<rect class=\"bar\" data-name=\"\(Escape.xml(bar.label))\" x=\"\(SVG.n(cx - barWidth / 2))\" "
            out += "y=\"\(SVG.n(min(py, base)))\" width=\"\(SVG.n(barWidth))\" height=\"\(SVG.n(abs(base - py)))\" "
            out += "fill=\"\(color)\"/>\n"
            let ly = bar.value >= 0 ? min(py, base) - 5 : max(py, base) + 14
            out += "<text class=\"bar-value\" x=\"\(SVG.n(cx))\" y=\"\(SVG.n(ly))\" text-anchor=\"middle\" "
            out += "fill=\"#222\">\(Escape.xml(valueStyle.format(bar.value)))</text>\n"
        }
        out += "</g>\n"
        for m in markers {
            guard case let .horizontal(y) = m.kind, yMap.accepts(y), yMap.contains(y) else { continue }
            let color = m.color ?? "#444444"
            let py = yMap.pixel(y)
            out += "<g class=\"markers\" font-size=\"11.5\"><line class=\"marker-line\" x1=\"\(SVG.n(left))\" "
            out += "y1=\"\(SVG.n(py))\" x2=\"\(SVG.n(right))\" y2=\"\(SVG.n(py))\" stroke=\"\(color)\" "
            out += "stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>"
            if !m.label.isEmpty {
                out +=
                    "<text class=\"marker-label\" x=\"\(SVG.n(right - 6))\" y=\"\(SVG.n(py - 6))\" text-anchor=\"end\" "
                out += "fill=\"\(color)\" paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\">"
                out += "\(Escape.xml(m.label))</text>"
            }
            out += "</g>\n"
        }
        drawAxes(
            &out, left: left, right: right, top: top, bottom: bottom,
            xTickLabels: xTickLabels,
            yTickLabels: yTicks.filter { yMap.contains($0.value) }.map { (yMap.pixel($0.value), $0.label) },
            xLabel: xLabel, yLabel: yLabel, title: title, width: width)
        out += "</svg>\n"
        return out
    }
}
