import Foundation
import GraftCatalog

/// The SVG figures of an evaluation page: the confusion matrix as a heatmap, per-class precision,
/// recall and F1 as grouped bars, the reliability diagram, and the grid of the most confident
/// mistakes with their thumbnails. Each returns a whole `<svg>` document with inline styles only.
public enum EvaluationFigures {
    private static func begin(_ out: inout String, width: Double, height: Double, title: String) {
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" "
        out += "viewBox=\"0 0 \(SVG.n(width)) \(SVG.n(height))\" font-family=\"\(SVG.fontFamily)\" "
        out += "role=\"img\" aria-label=\"\(Escape.xml(title))\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        if !title.isEmpty {
            out += "<text x=\"\(SVG.n(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" "
            out += "font-weight=\"600\" fill=\"#1d1f23\">\(Escape.xml(title))</text>\n"
        }
    }

    private static func text(
        _ out: inout String, _ s: String, x: Double, y: Double, size: Double = 11, anchor: String = "middle",
        fill: String = "#333333", rotate: Double? = nil, weight: String? = nil
    ) {
        out += "<text x=\"\(SVG.n(x))\" y=\"\(SVG.n(y))\" font-size=\"\(SVG.n(size))\" text-anchor=\"\(anchor)\" "
        out += "fill=\"\(fill)\""
        if let weight { out += " font-weight=\"\(weight)\"" }
        if let rotate { out += " transform=\"rotate(\(SVG.n(rotate)) \(SVG.n(x)) \(SVG.n(y)))\"" }
        out += ">\(Escape.xml(s))</text>\n"
    }

    /// White to dark blue: the colour of a row-normalised share `t` in 0...1.
    static func heatColor(_ t: Double) -> String {
        let t = min(1, max(0, t.isFinite ? t : 0))
        let (r0, g0, b0) = (247.0, 251.0, 255.0), (r1, g1, b1) = (8.0, 48.0, 107.0)
        func c(_ a: Double, _ b: Double) -> String {
            let v = String(Int((a + (b - a) * t).rounded()), radix: 16)
            return v.count == 1 ? "0" + v : v
        }
        return "#" + c(r0, r1) + c(g0, g1) + c(b0, b1)
    }

    /// The confusion matrix: rows the true class, columns the predicted class, each cell's count
    /// written in it and coloured by its share of its row (recall on the diagonal).
    /// - Parameters:
    ///   - confusion: `confusion[true][predicted]` counts.
    ///   - classNames: the classes, by index.
    ///   - title: the figure's title.
    public static func confusionHeatmap(_ confusion: [[Int]], classNames: [String], title: String) -> String {
        let n = classNames.count
        let cell = max(30, min(60, 600 / Double(max(n, 1))))
        let labels = classNames.map { SVG.truncate($0, maxChars: 18) }
        let labelWidth = labels.map { SVG.textWidth($0, fontSize: 12) }.max() ?? 20
        let left = 36 + labelWidth + 8
        let top = title.isEmpty ? 16.0 : 44.0
        let gridSize = cell * Double(n)
        // Column labels are turned 45°: they need about 0.71 of their width below the grid.
        let bottom = top + gridSize + 0.72 * labelWidth + 44
        let legendX = left + gridSize + 24
        let width = max(legendX + 70, SVG.textWidth(title, fontSize: 15) + 40)
        var out = ""
        begin(&out, width: width, height: bottom, title: title)
        let fontSize = min(13, max(8, cell * 0.3))
        for (t, row) in confusion.enumerated() where t < n {
            let total = row.reduce(0, +)
            for (p, count) in row.enumerated() where p < n {
                let share = total == 0 ? 0 : Double(count) / Double(total)
                let x = left + cell * Double(p), y = top + cell * Double(t)
                out += "<rect x=\"\(SVG.n(x))\" y=\"\(SVG.n(y))\" width=\"\(SVG.n(cell))\" height=\"\(SVG.n(cell))\" "
                out += "fill=\"\(heatColor(share))\" stroke=\"#ffffff\" stroke-width=\"1\">"
                out +=
                    "<title>\(Escape.xml("true \(classNames[t]), predicted \(classNames[p]): \(count)"))</title></rect>\n"
                text(
                    &out, String(count), x: x + cell / 2, y: y + cell / 2 + fontSize * 0.35, size: fontSize,
                    fill: share > 0.5 ? "#ffffff" : (count == 0 ? "#9aa0a6" : "#1d1f23"),
                    weight: t == p ? "600" : nil)
            }
        }
        out +=
            "<rect x=\"\(SVG.n(left))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(gridSize))\" height=\"\(SVG.n(gridSize))\" "
        out += "fill=\"none\" stroke=\"#999999\" stroke-width=\"1\"/>\n"
        for (i, label) in labels.enumerated() {
            let c = cell * (Double(i) + 0.5)
            text(&out, label, x: left - 6, y: top + c + 4, size: 12, anchor: "end")
            let x = left + c + 4, y = top + gridSize + 10
            text(&out, label, x: x, y: y, size: 12, anchor: "end", rotate: -45)
        }
        text(&out, "true class", x: 14, y: top + gridSize / 2, size: 12, fill: "#5b616b", rotate: -90)
        text(&out, "predicted class", x: left + gridSize / 2, y: bottom - 10, size: 12, fill: "#5b616b")
        // The colour scale: share of the true class's images.
        let legendHeight = min(gridSize, 160)
        for k in 0..<20 {
            let t0 = Double(k) / 20
            let y = top + legendHeight * (1 - t0 - 0.05)
            out +=
                "<rect x=\"\(SVG.n(legendX))\" y=\"\(SVG.n(y))\" width=\"14\" height=\"\(SVG.n(legendHeight / 20 + 0.5))\" "
            out += "fill=\"\(heatColor(t0 + 0.025))\"/>\n"
        }
        out += "<rect x=\"\(SVG.n(legendX))\" y=\"\(SVG.n(top))\" width=\"14\" height=\"\(SVG.n(legendHeight))\" "
        out += "fill=\"none\" stroke=\"#999999\"/>\n"
        text(&out, "100%", x: legendX + 18, y: top + 9, size: 10, anchor: "start")
        text(&out, "0%", x: legendX + 18, y: top + legendHeight, size: 10, anchor: "start")
        text(&out, "of row", x: legendX, y: top + legendHeight + 14, size: 10, anchor: "start", fill: "#5b616b")
        out += "</svg>\n"
        return out
    }

    /// Precision, recall and F1 of each class as three bars side by side, on a 0–1 axis.
    /// - Parameters:
    ///   - scores: each class's scores.
    ///   - title: the figure's title.
    public static func perClassBars(_ scores: [EvaluationDetails.ClassScore], title: String) -> String {
        let n = max(scores.count, 1)
        let labels = scores.map { SVG.truncate($0.className, maxChars: 18) }
        let slot = max(42, min(90, 760 / Double(n)))
        let labelWidth = labels.map { SVG.textWidth($0, fontSize: 11.5) }.max() ?? 10
        let turned = labelWidth > slot - 6
        let left = 54.0, top = title.isEmpty ? 36.0 : 62.0
        let plotHeight = 240.0
        let bottomY = top + plotHeight
        let width = left + slot * Double(n) + 20
        let height = bottomY + (turned ? 0.72 * labelWidth + 20 : 30) + 6
        var out = ""
        begin(&out, width: max(width, 420), height: height, title: title)
        let series: [(String, KeyPath<EvaluationDetails.ClassScore, Double>)] = [
            ("precision", \.precision), ("recall", \.recall), ("F1", \.f1),
        ]
        // Legend above the plot.
        var lx = left
        for (i, s) in series.enumerated() {
            out +=
                "<rect x=\"\(SVG.n(lx))\" y=\"\(SVG.n(top - 24))\" width=\"12\" height=\"12\" fill=\"\(PlotPalette.color(i))\"/>\n"
            text(&out, s.0, x: lx + 16, y: top - 14, size: 12, anchor: "start")
            lx += 24 + SVG.textWidth(s.0, fontSize: 12) + 12
        }
        for k in 0...5 {
            let v = Double(k) / 5, y = bottomY - plotHeight * v
            out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(y))\" x2=\"\(SVG.n(left + slot * Double(n)))\" "
            out += "y2=\"\(SVG.n(y))\" stroke=\"\(k == 0 ? "#888888" : "#e3e5e8")\" stroke-width=\"1\"/>\n"
            text(&out, String(format: "%.1f", v), x: left - 6, y: y + 4, size: 11, anchor: "end")
        }
        text(&out, "score", x: 14, y: top + plotHeight / 2, size: 12, fill: "#5b616b", rotate: -90)
        let barWidth = min(22, (slot - 10) / 3)
        for (c, score) in scores.enumerated() {
            let x0 = left + slot * Double(c) + (slot - 3 * barWidth) / 2
            for (i, s) in series.enumerated() {
                let v = min(1, max(0, score[keyPath: s.1]))
                let h = plotHeight * v
                out += "<rect x=\"\(SVG.n(x0 + barWidth * Double(i)))\" y=\"\(SVG.n(bottomY - h))\" "
                out += "width=\"\(SVG.n(barWidth - 1))\" height=\"\(SVG.n(h))\" fill=\"\(PlotPalette.color(i))\">"
                out +=
                    "<title>\(Escape.xml("\(score.className) \(s.0): \(String(format: "%.4f", v))"))</title></rect>\n"
            }
            let cx = left + slot * (Double(c) + 0.5)
            if turned {
                text(&out, labels[c], x: cx + 4, y: bottomY + 14, size: 11.5, anchor: "end", rotate: -45)
            } else {
                text(&out, labels[c], x: cx, y: bottomY + 16, size: 11.5)
            }
        }
        out += "</svg>\n"
        return out
    }

    /// The reliability diagram: for each confidence bin, the accuracy of its images (bars) against
    /// their mean confidence (dots), with the diagonal of perfect calibration; below, each bin's
    /// image count.
    /// - Parameters:
    ///   - bins: the reliability bins, in order over 0...1.
    ///   - title: the figure's title.
    public static func reliabilityDiagram(_ bins: [EvaluationDetails.Bin], title: String) -> String {
        let left = 58.0, top = title.isEmpty ? 16.0 : 44.0
        let size = 360.0
        let countTop = top + size + 44, countHeight = 80.0
        let width = left + size + 150, height = countTop + countHeight + 44
        var out = ""
        begin(&out, width: width, height: height, title: title)
        func px(_ v: Double) -> Double { left + size * v }
        func py(_ v: Double) -> Double { top + size * (1 - v) }
        for k in 0...5 {
            let v = Double(k) / 5
            out += "<line x1=\"\(SVG.n(px(0)))\" y1=\"\(SVG.n(py(v)))\" x2=\"\(SVG.n(px(1)))\" y2=\"\(SVG.n(py(v)))\" "
            out += "stroke=\"#e3e5e8\"/>\n"
            text(&out, String(format: "%.1f", v), x: left - 6, y: py(v) + 4, size: 11, anchor: "end")
            text(&out, String(format: "%.1f", v), x: px(v), y: countTop + countHeight + 16, size: 11)
        }
        for bin in bins {
            guard let accuracy = bin.accuracy else { continue }
            out += "<rect x=\"\(SVG.n(px(bin.lower) + 1))\" y=\"\(SVG.n(py(accuracy)))\" "
            out += "width=\"\(SVG.n(size * (bin.upper - bin.lower) - 2))\" height=\"\(SVG.n(size * accuracy))\" "
            out += "fill=\"\(PlotPalette.color(0))\" fill-opacity=\"0.75\">"
            out +=
                "<title>\(Escape.xml(String(format: "%.2f–%.2f: %ld images, accuracy %.4f, confidence %.4f", bin.lower, bin.upper, bin.count, accuracy, bin.confidence ?? 0)))</title></rect>\n"
        }
        out += "<line x1=\"\(SVG.n(px(0)))\" y1=\"\(SVG.n(py(0)))\" x2=\"\(SVG.n(px(1)))\" y2=\"\(SVG.n(py(1)))\" "
        out += "stroke=\"#555555\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\n"
        for bin in bins {
            guard let confidence = bin.confidence, let accuracy = bin.accuracy else { continue }
            out += "<circle cx=\"\(SVG.n(px(confidence)))\" cy=\"\(SVG.n(py(accuracy)))\" r=\"3.5\" "
            out += "fill=\"\(PlotPalette.color(3))\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n"
        }
        out += "<rect x=\"\(SVG.n(left))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(size))\" height=\"\(SVG.n(size))\" "
        out += "fill=\"none\" stroke=\"#888888\"/>\n"
        text(&out, "accuracy", x: 16, y: top + size / 2, size: 12, fill: "#5b616b", rotate: -90)
        // Legend, right of the square.
        let lx = left + size + 14
        out +=
            "<rect x=\"\(SVG.n(lx))\" y=\"\(SVG.n(top + 4))\" width=\"14\" height=\"12\" fill=\"\(PlotPalette.color(0))\" fill-opacity=\"0.75\"/>\n"
        text(&out, "bin accuracy", x: lx + 20, y: top + 14, size: 12, anchor: "start")
        out +=
            "<circle cx=\"\(SVG.n(lx + 7))\" cy=\"\(SVG.n(top + 30))\" r=\"3.5\" fill=\"\(PlotPalette.color(3))\"/>\n"
        text(&out, "mean confidence", x: lx + 20, y: top + 34, size: 12, anchor: "start")
        out += "<line x1=\"\(SVG.n(lx))\" y1=\"\(SVG.n(top + 50))\" x2=\"\(SVG.n(lx + 14))\" y2=\"\(SVG.n(top + 50))\" "
        out += "stroke=\"#555555\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n"
        text(&out, "calibrated", x: lx + 20, y: top + 54, size: 12, anchor: "start")
        // Image counts per bin, written turned so that narrow bins do not collide.
        let maxCount = Double(bins.map(\.count).max() ?? 1)
        text(&out, "images per bin", x: left, y: countTop - 8, size: 12, anchor: "start", fill: "#5b616b")
        for bin in bins {
            let h = maxCount > 0 ? countHeight * Double(bin.count) / maxCount : 0
            let x = px(bin.lower) + 1, w = size * (bin.upper - bin.lower) - 2
            out += "<rect x=\"\(SVG.n(x))\" y=\"\(SVG.n(countTop + countHeight - h))\" width=\"\(SVG.n(w))\" "
            out += "height=\"\(SVG.n(h))\" fill=\"#b8c2cc\"/>\n"
            guard bin.count > 0 else { continue }
            let inside = h > SVG.textWidth(String(bin.count), fontSize: 10) + 6
            let tx = x + w / 2 + 3.5
            let ty = inside ? countTop + countHeight - 4 : countTop + countHeight - h - 3
            text(&out, String(bin.count), x: tx, y: ty, size: 10, anchor: "start", fill: "#1d1f23", rotate: -90)
        }
        out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(countTop + countHeight))\" x2=\"\(SVG.n(left + size))\" "
        out += "y2=\"\(SVG.n(countTop + countHeight))\" stroke=\"#888888\"/>\n"
        text(&out, "confidence (top probability)", x: left + size / 2, y: height - 8, size: 12, fill: "#5b616b")
        out += "</svg>\n"
        return out
    }

    /// The most confident mistakes as a grid of thumbnails, each with its true class, the class
    /// predicted and that class's probability, and the image's name.
    /// - Parameters:
    ///   - mistakes: the mistakes, in the order to show.
    ///   - classNames: the classes, by index.
    ///   - columns: thumbnails a row.
    public static func mistakeGrid(
        _ mistakes: [EvaluationDetails.Mistake], classNames: [String], columns: Int = 6
    ) -> String {
        let tileWidth = 150.0, tileHeight = 184.0, image = 96.0
        let columns = max(1, min(columns, mistakes.count))
        let rows = (mistakes.count + columns - 1) / columns
        let width = tileWidth * Double(columns), height = tileHeight * Double(rows) + 4
        var out = ""
        begin(&out, width: width, height: height, title: "")
        let maxChars = Int((tileWidth - 8) / (11 * 0.6))
        func name(_ c: Int) -> String { c >= 0 && c < classNames.count ? classNames[c] : "#\(c)" }
        for (i, m) in mistakes.enumerated() {
            let x = tileWidth * Double(i % columns), y = tileHeight * Double(i / columns) + 2
            let cx = x + tileWidth / 2
            out += "<rect x=\"\(SVG.n(x + 3))\" y=\"\(SVG.n(y))\" width=\"\(SVG.n(tileWidth - 6))\" "
            out += "height=\"\(SVG.n(tileHeight - 6))\" rx=\"6\" fill=\"#f7f8fa\" stroke=\"#e3e5e8\"/>\n"
            let ix = cx - image / 2, iy = y + 6
            if let jpeg = m.thumbnailJPEG {
                out +=
                    "<image x=\"\(SVG.n(ix))\" y=\"\(SVG.n(iy))\" width=\"\(SVG.n(image))\" height=\"\(SVG.n(image))\" "
                out += "preserveAspectRatio=\"xMidYMid meet\" style=\"image-rendering: pixelated\" "
                out += "href=\"data:image/jpeg;base64,\(jpeg)\"><title>\(Escape.xml(m.sample))</title></image>\n"
            } else {
                out +=
                    "<rect x=\"\(SVG.n(ix))\" y=\"\(SVG.n(iy))\" width=\"\(SVG.n(image))\" height=\"\(SVG.n(image))\" "
                out += "fill=\"#e3e5e8\"/>\n"
                text(&out, "no image", x: cx, y: iy + image / 2 + 4, size: 11, fill: "#80868f")
            }
            let ty = iy + image + 16
            text(
                &out, SVG.truncate("true: \(name(m.trueClass))", maxChars: maxChars), x: cx, y: ty, size: 11,
                fill: "#009E73", weight: "600")
            text(
                &out, SVG.truncate("said: \(name(m.predictedClass))", maxChars: maxChars), x: cx, y: ty + 15, size: 11,
                fill: "#D55E00", weight: "600")
            text(
                &out, "probability \(String(format: "%.1f%%", 100 * m.probability))", x: cx, y: ty + 30, size: 11,
                fill: "#1d1f23")
            // A path keeps its end, the file name.
            let sample = m.sample.count > maxChars + 2 ? "…" + String(m.sample.suffix(maxChars + 1)) : m.sample
            text(&out, sample, x: cx, y: ty + 45, size: 10, fill: "#5b616b")
        }
        out += "</svg>\n"
        return out
    }
}
