import Foundation

/// How a command prints: aligned columns for people, JSON or CSV for scripts.
public enum OutputFormat: String, Sendable, CaseIterable {
    case table, json, csv
}

/// One cell of a `TextTable`, typed so JSON keeps numbers as numbers.
public enum TextCell: Sendable, Equatable {
    case text(String)
    case int(Int64)
    /// A number shown with `digits` decimals in tables, full precision in JSON and CSV.
    case number(Double, digits: Int)
    case null

    public static func optional(_ v: Double?, digits: Int) -> TextCell {
        v.map { .number($0, digits: digits) } ?? .null
    }
    public static func optional(_ v: Int64?) -> TextCell { v.map { .int($0) } ?? .null }
    public static func optional(_ v: Int?) -> TextCell { v.map { .int(Int64($0)) } ?? .null }
    public static func optional(_ v: String?) -> TextCell { v.map { .text($0) } ?? .null }

    var human: String {
        switch self {
        case .text(let s): s
        case .int(let i): String(i)
        case .number(let d, let digits):
            if abs(d) != 0 && (abs(d) < 1e-3 || abs(d) >= 1e6) {
                String(format: "%.\(max(1, digits))e", d)
            } else {
                String(format: "%.\(digits)f", d)
            }
        case .null: "-"
        }
    }

    var exact: String {
        switch self {
        case .text(let s): s
        case .int(let i): String(i)
        case .number(let d, _): "\(d)"
        case .null: ""
        }
    }

    var json: Any {
        switch self {
        case .text(let s): s
        case .int(let i): i
        case .number(let d, _): d.isFinite ? d as Any : NSNull()
        case .null: NSNull()
        }
    }
}

/// Rows under named columns, rendered as an aligned table, JSON (an array of objects keyed by
/// column) or CSV (RFC 4180 quoting).
///
/// Text tables show `columns` as headers; JSON and CSV use `keys`: stable snake_case names that
/// scripts can rely on. They are the headers themselves wherever those are snake_case already
/// (the catalog's listings); a table whose headers are words for people gives its keys.
/// RFC 4180 fields.
public enum CSV {
    /// `text` as one CSV field: quoted, with quotes doubled, when it holds a comma, a quote or a line break.
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

public struct TextTable: Sendable, Equatable {
    public var columns: [String]
    /// The machine-readable name of each column, for JSON and CSV.
    public var keys: [String]
    public var rows: [[TextCell]]
    /// Columns aligned right in tables (numbers).
    public var rightAligned: Set<String>

    public init(columns: [String], keys: [String]? = nil, rows: [[TextCell]] = [], rightAligned: Set<String> = []) {
        precondition(keys == nil || keys!.count == columns.count, "one key per column")
        self.columns = columns; self.keys = keys ?? columns; self.rows = rows; self.rightAligned = rightAligned
    }

    public func render(_ format: OutputFormat) -> String {
        switch format {
        case .table: renderTable()
        case .csv: renderCSV()
        case .json: renderJSON()
        }
    }

    private func renderTable() -> String {
        let cells = rows.map { $0.map(\.human) }
        var widths = columns.map(\.count)
        for row in cells {
            for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) }
        }
        func line(_ values: [String]) -> String {
            var parts: [String] = []
            for (i, v) in values.enumerated() {
                let pad = String(repeating: " ", count: max(0, widths[i] - v.count))
                parts.append(rightAligned.contains(columns[i]) ? pad + v : v + pad)
            }
            return parts.joined(separator: "  ").replacingOccurrences(
                of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = [line(columns), line(widths.map { String(repeating: "-", count: $0) })]
        out += cells.map(line)
        return out.joined(separator: "\n") + "\n"
    }

    private func renderCSV() -> String {
        var out = keys.map(CSV.field).joined(separator: ",") + "\n"
        for row in rows { out += row.map { CSV.field($0.exact) }.joined(separator: ",") + "\n" }
        return out
    }

    private func renderJSON() -> String { Self.jsonText(jsonObjects) }

    var jsonObjects: [[String: Any]] {
        rows.map { row in
            var o: [String: Any] = [:]
            for (i, c) in row.enumerated() where i < keys.count { o[keys[i]] = c.json }
            return o
        }
    }

    /// A two-column field/value table as one JSON object.
    var jsonRecord: [String: Any] {
        var o: [String: Any] = [:]
        for row in rows where row.count >= 2 { o[row[0].exact] = row[1].json }
        return o
    }

    static func jsonText(_ object: Any) -> String {
        let data =
            (try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
            ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// A titled table, for commands that print several (`runs show`, `ckpt show`).
public struct TableSection: Sendable, Equatable {
    /// The heading people read.
    public var title: String
    /// The section's snake_case name in JSON and CSV (the title when that is one already).
    public var key: String
    public var table: TextTable
    /// A field/value table describing one record: a JSON object rather than an array.
    public var isRecord: Bool

    public init(_ title: String, key: String? = nil, _ table: TextTable, isRecord: Bool = false) {
        self.title = title; self.key = key ?? title; self.table = table; self.isRecord = isRecord
    }

    /// Tables one after another under their titles; CSV sections start with `# title`; JSON is
    /// one object keyed by title.
    public static func render(_ sections: [TableSection], format: OutputFormat) -> String {
        switch format {
        case .table:
            return sections.map { "\($0.title):\n" + $0.table.render(.table) }.joined(separator: "\n")
        case .csv:
            return sections.map { "# \($0.key)\n" + $0.table.render(.csv) }.joined(separator: "\n")
        case .json:
            var object: [String: Any] = [:]
            for s in sections { object[s.key] = s.isRecord ? s.table.jsonRecord as Any : s.table.jsonObjects as Any }
            return TextTable.jsonText(object)
        }
    }
}
