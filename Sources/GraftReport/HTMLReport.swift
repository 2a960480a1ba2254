import Foundation

/// One table cell: text, or a number printed in a given style (numbers are right-aligned).
public enum TableCell: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral
{
    case text(String)
    case number(Double, NumberStyle)
    /// Shown in bold, e.g. the best value of a column.
    indirect case strong(TableCell)

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value), .integer) }
    public init(floatLiteral value: Double) { self = .number(value, .compact) }

    public static func percent(_ fraction: Double, digits: Int = 2) -> TableCell { .number(fraction, .percent(digits)) }
    public static func lr(_ value: Double) -> TableCell { .number(value, .scientific(2)) }
    public static func duration(_ seconds: Double) -> TableCell { .number(seconds, .duration) }
    public static func fixed(_ value: Double, digits: Int) -> TableCell { .number(value, .fixed(digits)) }
    public static func integer(_ value: Int) -> TableCell { .number(Double(value), .integer) }

    /// The cell's text as it will be shown (unescaped).
    public var text: String {
        switch self {
        case let .text(s): return s
        case let .number(v, style): return style.format(v)
        case let .strong(inner): return inner.text
        }
    }

    var isNumeric: Bool {
        switch self {
        case .text: return false
        case .number: return true
        case let .strong(inner): return inner.isNumeric
        }
    }
}

/// A table with a header row. Rows shorter than the header are padded with empty cells.
public struct ReportTable: Sendable, Equatable {
    public var header: [String]
    public var rows: [[TableCell]]
    public var caption: String?

    public init(header: [String], rows: [[TableCell]] = [], caption: String? = nil) {
        self.header = header
        self.rows = rows
        self.caption = caption
    }

    /// Marks the largest (or smallest) number of `column` bold, e.g. the best validation accuracy.
    public mutating func emphasizeBest(column: Int, largest: Bool = true) {
        var best: (row: Int, value: Double)? = nil
        for (r, row) in rows.enumerated() where column < row.count {
            guard case let .number(v, _) = row[column], v.isFinite else { continue }
            if let b = best, !(largest ? v > b.value : v < b.value) { continue }
            best = (r, v)
        }
        if let best { rows[best.row][column] = .strong(rows[best.row][column]) }
    }
}

/// A block of content inside a report section.
public enum ReportBlock: Sendable, Equatable {
    case paragraph(String)
    case subheading(String)
    /// An SVG picture (from `LinePlot.svg()` or `BarPlot.svg()`), inlined as is.
    case figure(svg: String, caption: String?)
    case table(ReportTable)
    /// Label–value pairs shown as a compact definition list.
    case keyValues([KeyValue])
    /// Preformatted monospace text (a command line, a log excerpt).
    case code(String)
}

/// A label and its value, for summaries and definition lists.
public struct KeyValue: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// A titled section of a report.
public struct ReportSection: Sendable, Equatable {
    public var heading: String
    public var blocks: [ReportBlock]

    public init(heading: String, blocks: [ReportBlock] = []) {
        self.heading = heading
        self.blocks = blocks
    }

    public mutating func paragraph(_ text: String) { blocks.append(.paragraph(text)) }
    public mutating func subheading(_ text: String) { blocks.append(.subheading(text)) }
    public mutating func figure(svg: String, caption: String? = nil) {
        blocks.append(.figure(svg: svg, caption: caption))
    }
    public mutating func figure(_ plot: LinePlot, caption: String? = nil) { figure(svg: plot.svg(), caption: caption) }
    public mutating func figure(_ plot: BarPlot, caption: String? = nil) { figure(svg: plot.svg(), caption: caption) }
    public mutating func table(_ table: ReportTable) { blocks.append(.table(table)) }
    public mutating func keyValues(_ pairs: [KeyValue]) { blocks.append(.keyValues(pairs)) }
    public mutating func code(_ text: String) { blocks.append(.code(text)) }
}

/// A self-contained HTML page: inline CSS, inline SVG, no scripts, fonts or links to fetch, so
/// it opens the same from a laptop, a CI artifact or an e-mail attachment. All text is escaped;
/// only SVG figures are inserted verbatim.
///
/// ```swift
/// var report = HTMLReport(title: "Optimizer comparison")
/// report.summary = [KeyValue("Best", "Adam, 83.1%")]
/// report.section("Accuracy") { s in
///     s.figure(plot, caption: "Validation accuracy, mean and min–max of 3 runs")
/// }
/// try report.write(to: url)
/// ```
public struct HTMLReport: Sendable, Equatable {
    public var title: String
    public var subtitle: String?
    /// Headline figures shown as cards under the title.
    public var summary: [KeyValue]
    public var sections: [ReportSection]
    /// A line at the bottom (e.g. the command and catalog that produced the page).
    public var footer: String?

    public init(title: String, subtitle: String? = nil, summary: [KeyValue] = [], sections: [ReportSection] = []) {
        self.title = title
        self.subtitle = subtitle
        self.summary = summary
        self.sections = sections
        self.footer = nil
    }

    /// Appends a section built by `build`.
    public mutating func section(_ heading: String, _ build: (inout ReportSection) -> Void) {
        var s = ReportSection(heading: heading)
        build(&s)
        sections.append(s)
    }

    /// Writes the page to `url` (UTF-8), creating the directory when needed.
    /// - Throws: `ReportError.writeFailed` naming the path.
    public func write(to url: URL) throws {
        try writeText(html(), to: url)
    }

    public func html() -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        out += "<title>\(Escape.xml(title))</title>\n<style>\n\(Self.css)</style>\n</head>\n<body>\n<main>\n"
        out += "<header>\n<h1>\(Escape.xml(title))</h1>\n"
        if let subtitle { out += "<p class=\"subtitle\">\(Escape.xml(subtitle))</p>\n" }
        out += "</header>\n"
        if !summary.isEmpty {
            out += "<section class=\"summary\">\n"
            for kv in summary {
                out += "<div class=\"card\"><div class=\"card-label\">\(Escape.xml(kv.key))</div>"
                out += "<div class=\"card-value\">\(Escape.xml(kv.value))</div></div>\n"
            }
            out += "</section>\n"
        }
        if sections.count > 2 {
            out += "<nav><ol>\n"
            for (i, s) in sections.enumerated() {
                out += "<li><a href=\"#section-\(i + 1)\">\(Escape.xml(s.heading))</a></li>\n"
            }
            out += "</ol></nav>\n"
        }
        for (i, s) in sections.enumerated() {
            out += "<section id=\"section-\(i + 1)\">\n<h2>\(Escape.xml(s.heading))</h2>\n"
            for block in s.blocks { Self.render(block, into: &out) }
            out += "</section>\n"
        }
        if let footer { out += "<footer>\(Escape.xml(footer))</footer>\n" }
        out += "</main>\n</body>\n</html>\n"
        return out
    }

    private static func render(_ block: ReportBlock, into out: inout String) {
        switch block {
        case let .paragraph(text):
            out += "<p>\(Escape.xml(text))</p>\n"
        case let .subheading(text):
            out += "<h3>\(Escape.xml(text))</h3>\n"
        case let .figure(svg, caption):
            out += "<figure>\n\(stripXMLDeclaration(svg))"
            if let caption { out += "<figcaption>\(Escape.xml(caption))</figcaption>\n" }
            out += "</figure>\n"
        case let .table(table):
            out += "<div class=\"table-wrap\"><table>\n"
            if let caption = table.caption { out += "<caption>\(Escape.xml(caption))</caption>\n" }
            let columns = max(table.header.count, table.rows.map(\.count).max() ?? 0)
            // A column is right-aligned when all its non-empty cells are numbers.
            var numeric = [Bool](repeating: true, count: columns)
            for row in table.rows {
                for (c, cell) in row.enumerated() where !cell.isNumeric && !cell.text.isEmpty { numeric[c] = false }
            }
            out += "<thead><tr>"
            for c in 0..<columns {
                let h = c < table.header.count ? table.header[c] : ""
                out += "<th\(numeric[c] ? " class=\"num\"" : "")>\(Escape.xml(h))</th>"
            }
            out += "</tr></thead>\n<tbody>\n"
            for row in table.rows {
                out += "<tr>"
                for c in 0..<columns {
                    let cell: TableCell = c < row.count ? row[c] : .text("")
                    out += "<td\(numeric[c] ? " class=\"num\"" : "")>"
                    if case .strong = cell {
                        out += "<strong>\(Escape.xml(cell.text))</strong>"
                    } else {
                        out += Escape.xml(cell.text)
                    }
                    out += "</td>"
                }
                out += "</tr>\n"
            }
            out += "</tbody>\n</table></div>\n"
        case let .keyValues(pairs):
            out += "<dl>\n"
            for kv in pairs { out += "<dt>\(Escape.xml(kv.key))</dt><dd>\(Escape.xml(kv.value))</dd>\n" }
            out += "</dl>\n"
        case let .code(text):
            out += "<pre><code>\(Escape.xml(text))</code></pre>\n"
        }
    }

    private static func stripXMLDeclaration(_ svg: String) -> String {
        var s = Substring(svg)
        if s.hasPrefix("<?xml"), let end = s.range(of: "?>") { s = s[end.upperBound...] }
        let trimmed = s.drop { $0.isWhitespace }
        return trimmed.hasSuffix("\n") ? String(trimmed) : String(trimmed) + "\n"
    }

    static let css = """
        :root { color-scheme: light; }
        * { box-sizing: border-box; }
        body { margin: 0; background: #f4f5f7; color: #1d1f23;
          font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
        main { max-width: 1040px; margin: 0 auto; padding: 28px 24px 48px; }
        header h1 { margin: 0 0 4px; font-size: 28px; font-weight: 650; letter-spacing: -0.01em; }
        .subtitle { margin: 0 0 20px; color: #5b616b; }
        h2 { margin: 0 0 14px; font-size: 20px; font-weight: 620; padding-bottom: 6px; border-bottom: 1px solid #e3e5e8; }
        h3 { margin: 20px 0 8px; font-size: 16px; }
        section { background: #fff; border: 1px solid #e3e5e8; border-radius: 8px; padding: 18px 22px; margin: 18px 0; }
        section.summary { display: flex; flex-wrap: wrap; gap: 12px; background: none; border: none; padding: 0; }
        .card { flex: 1 1 180px; background: #fff; border: 1px solid #e3e5e8; border-left: 4px solid #0072B2;
          border-radius: 8px; padding: 10px 14px; }
        .card-label { font-size: 12px; text-transform: uppercase; letter-spacing: 0.05em; color: #5b616b; }
        .card-value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
        nav { background: #fff; border: 1px solid #e3e5e8; border-radius: 8px; padding: 10px 22px; margin: 18px 0; }
        nav ol { margin: 0; padding-left: 20px; columns: 2; }
        nav a { color: #0072B2; text-decoration: none; }
        nav a:hover { text-decoration: underline; }
        p { margin: 0 0 12px; }
        figure { margin: 16px 0; text-align: center; }
        figure svg { max-width: 100%; height: auto; }
        figcaption { margin-top: 6px; font-size: 13px; color: #5b616b; }
        .table-wrap { overflow-x: auto; margin: 12px 0; }
        table { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
        caption { caption-side: top; text-align: left; font-size: 13px; color: #5b616b; padding-bottom: 6px; }
        th, td { padding: 6px 10px; border-bottom: 1px solid #eceef1; text-align: left; white-space: nowrap; }
        th { background: #f7f8fa; font-weight: 600; border-bottom: 2px solid #dfe2e6; }
        td.num, th.num { text-align: right; }
        tbody tr:hover { background: #f9fafb; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
        dt { color: #5b616b; }
        dd { margin: 0; font-variant-numeric: tabular-nums; }
        pre { background: #f6f7f9; border: 1px solid #e3e5e8; border-radius: 6px; padding: 10px 12px; overflow-x: auto;
          font-size: 13px; }
        footer { margin-top: 24px; font-size: 12px; color: #80868f; text-align: center; }

        """
}
