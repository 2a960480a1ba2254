import Foundation

/// How a command prints: aligned columns for people, JSON or CSV for scripts.
public enum OutputFormat: String, Sendable, CaseIterable {
    case table, json, csv
}

/// One cell of a `TextTable`, typed so JSON keeps numbers as numbers.
public enum TableCell: Sendable, Equatable {
    case text(String)
    case int(Int64)
    /// A number shown with `digits` decimals in tables, full precision in JSON and CSV.
    case number(Double, digits: Int)
    case null

    public static func optional(_ v: Double?, digits: Int) -> TableCell { v.map { .number($0, digits: digits) } ?? .null }
    public static func optional(_ v: Int64?) -> TableCell { v.map { .int($0) } ?? .null }
    public static func optional(_ v: Int?) -> TableCell { v.map { .int(Int64($0)) } ?? .null }
    public static func optional(_ v: String?) -> TableCell { v.map { .text($0) } ?? .null }

    var human: String {
        switch self {
        case .text(let s): s
        case .int(let i): String(i)
        case .number(let d, let digits):
            if abs(d) != 0 && (abs(d) < 1e-3 || abs(d) >= 1e6) { String(format: "%.\(max(1, digits))e", d) }
            else { String(format: "%.\(digits)f", d) }
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
public struct TextTable: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[TableCell]]
    /// Columns aligned right in tables (numbers).
    public var rightAligned: Set<String>

    public init(columns: [String], rows: [[TableCell]] = [], rightAligned: Set<String> = []) {
        self.columns = columns; self.rows = rows; self.rightAligned = rightAligned
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
            return parts.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = [line(columns), line(widths.map { String(repeating: "-", count: $0) })]
        out += cells.map(line)
        return out.joined(separator: "\n") + "\n"
    }

    private func renderCSV() -> String {
        func quote(_ s: String) -> String {
            if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return s
        }
        var out = columns.map(quote).joined(separator: ",") + "\n"
        for row in rows { out += row.map { quote($0.exact) }.joined(separator: ",") + "\n" }
        return out
    }

    private func renderJSON() -> String { Self.jsonText(jsonObjects) }

    var jsonObjects: [[String: Any]] {
        rows.map { row in
            var o: [String: Any] = [:]
            for (i, c) in row.enumerated() where i < columns.count { o[columns[i]] = c.json }
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
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// A titled table, for commands that print several (`runs show`, `ckpt show`).
public struct TableSection: Sendable, Equatable {
    public var title: String
    public var table: TextTable
    /// A field/value table describing one record: a JSON object rather than an array.
    public var isRecord: Bool

    public init(_ title: String, _ table: TextTable, isRecord: Bool = false) {
        self.title = title; self.table = table; self.isRecord = isRecord
    }

    /// Tables one after another under their titles; CSV sections start with `# title`; JSON is
    /// one object keyed by title.
    public static func render(_ sections: [TableSection], format: OutputFormat) -> String {
        switch format {
        case .table:
            return sections.map { "\($0.title):\n" + $0.table.render(.table) }.joined(separator: "\n")
        case .csv:
            return sections.map { "# \($0.title)\n" + $0.table.render(.csv) }.joined(separator: "\n")
        case .json:
            var object: [String: Any] = [:]
            for s in sections { object[s.title] = s.isRecord ? s.table.jsonRecord as Any : s.table.jsonObjects as Any }
            return TextTable.jsonText(object)
        }
    }
}

/// Ready-made tables for the catalog's CLI listings, so output is testable without the CLI.
public enum CatalogListing {
    static func date(_ d: Date?) -> TableCell {
        guard let d else { return .null }
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return .text(f.string(from: d))
    }

    /// `graft runs list`.
    public static func runs(_ runs: [RunRecord]) -> TextTable {
        TextTable(
            columns: ["id", "name", "model", "optimizer", "schedule", "freeze", "bn", "seed", "batch", "epochs",
                      "status", "split", "comparison", "parent", "created"],
            rows: runs.map { r in
                [.optional(r.id), .optional(r.name), .text(r.modelId), .text(r.optimizer), .text(r.schedule),
                 .text(r.freezeSpec), .text(r.bnPolicy), .int(r.seed), .int(Int64(r.batchSize)),
                 .int(Int64(r.epochsPlanned)), .text(r.status.rawValue), .optional(r.splitId),
                 .optional(r.comparisonId), .optional(r.parentRunId), date(r.createdAt)]
            },
            rightAligned: ["id", "seed", "batch", "epochs", "split", "comparison", "parent"])
    }

    /// `graft runs show`: one row per field.
    public static func runFields(_ r: RunRecord) -> TextTable {
        let fields: [(String, TableCell)] = [
            ("id", .optional(r.id)), ("name", .optional(r.name)), ("model", .text(r.modelId)),
            ("source_weights", .optional(r.sourceWeights)), ("dataset_id", .optional(r.datasetId)),
            ("split_id", .optional(r.splitId)), ("optimizer", .text(r.optimizer)),
            ("optimizer_params", .text(r.optimizerParams)), ("schedule", .text(r.schedule)),
            ("schedule_params", .text(r.scheduleParams)), ("freeze", .text(r.freezeSpec)),
            ("bn_policy", .text(r.bnPolicy)), ("seed", .int(r.seed)), ("batch_size", .int(Int64(r.batchSize))),
            ("epochs_planned", .int(Int64(r.epochsPlanned))), ("status", .text(r.status.rawValue)),
            ("parent_run_id", .optional(r.parentRunId)), ("comparison_id", .optional(r.comparisonId)),
            ("error", .optional(r.errorMessage)), ("created_at", date(r.createdAt)),
            ("started_at", date(r.startedAt)), ("finished_at", date(r.finishedAt)),
            ("host", .optional(r.host)), ("pid", .optional(r.pid.map(Int64.init))), ("heartbeat_at", date(r.heartbeatAt)),
        ]
        return TextTable(columns: ["field", "value"], rows: fields.map { [.text($0.0), $0.1] })
    }

    /// Per-epoch metrics of a run.
    public static func epochs(_ metrics: [EpochMetricRecord]) -> TextTable {
        TextTable(
            columns: ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"],
            rows: metrics.map { m in
                [.int(Int64(m.epoch)), .optional(m.trainLoss, digits: 4), .optional(m.trainAcc, digits: 4),
                 .optional(m.valLoss, digits: 4), .optional(m.valAcc, digits: 4), .optional(m.lr, digits: 6),
                 .optional(m.seconds, digits: 1)]
            },
            rightAligned: ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"])
    }

    /// `graft ckpt list` and `graft ckpt best`.
    public static func checkpoints(_ infos: [CheckpointInfo]) -> TextTable {
        TextTable(
            columns: ["id", "run", "optimizer", "epoch", "step", "lr", "cycle", "minimum", "val_acc", "val_loss",
                      "train_acc", "train_loss", "kind", "opt_state", "bytes", "path"],
            rows: infos.map { i in
                let c = i.checkpoint
                return [.optional(c.id), .int(c.runId), .text(i.optimizer), .int(Int64(c.epoch)), .int(c.globalStep),
                        .number(c.lr, digits: 6), .optional(c.cycleIndex), .text(c.isMinimum ? "yes" : "no"),
                        .optional(c.valAcc, digits: 4), .optional(c.valLoss, digits: 4),
                        .optional(c.trainAcc, digits: 4), .optional(c.trainLoss, digits: 4), .text(c.kind),
                        .text(c.hasOptimizerState ? "yes" : "no"), .int(c.bytes), .text(c.path)]
            },
            rightAligned: ["id", "run", "epoch", "step", "lr", "cycle", "val_acc", "val_loss", "train_acc",
                           "train_loss", "bytes"])
    }

    /// `graft ckpt show`: one row per field.
    public static func checkpointFields(_ i: CheckpointInfo, resolvedPath: String) -> TextTable {
        let c = i.checkpoint
        let fields: [(String, TableCell)] = [
            ("id", .optional(c.id)), ("run_id", .int(c.runId)), ("optimizer", .text(i.optimizer)),
            ("model", .text(i.modelId)), ("epoch", .int(Int64(c.epoch))), ("global_step", .int(c.globalStep)),
            ("lr", .number(c.lr, digits: 8)), ("cycle_index", .optional(c.cycleIndex)),
            ("is_minimum", .text(c.isMinimum ? "yes" : "no")), ("train_loss", .optional(c.trainLoss, digits: 6)),
            ("train_acc", .optional(c.trainAcc, digits: 6)), ("val_loss", .optional(c.valLoss, digits: 6)),
            ("val_acc", .optional(c.valAcc, digits: 6)), ("kind", .text(c.kind)),
            ("has_optimizer_state", .text(c.hasOptimizerState ? "yes" : "no")), ("bytes", .int(c.bytes)),
            ("sha256", .text(c.sha256)), ("path", .text(c.path)), ("file", .text(resolvedPath)),
            ("created_at", date(c.createdAt)),
        ]
        return TextTable(columns: ["field", "value"], rows: fields.map { [.text($0.0), $0.1] })
    }

    /// `graft ckpt prune`: one row per checkpoint with its fate.
    public static func prunePlan(_ plan: PrunePlan) -> TextTable {
        let strippedIds = Set(plan.stripped.compactMap(\.id))
        var rows: [[TableCell]] = []
        for (c, reasons) in plan.kept {
            let action = strippedIds.contains(c.id!) ? (plan.dryRun ? "keep, strip optimizer" : "kept, stripped optimizer") : (plan.dryRun ? "keep" : "kept")
            rows.append([.optional(c.id), .int(Int64(c.epoch)), .optional(c.valAcc, digits: 4), .text(action),
                         .text(reasons.joined(separator: " ")), .text(c.path)])
        }
        for c in plan.deleted {
            rows.append([.optional(c.id), .int(Int64(c.epoch)), .optional(c.valAcc, digits: 4),
                         .text(plan.dryRun ? "delete" : "deleted"), .null, .text(c.path)])
        }
        rows.sort { a, b in
            if case .int(let x) = a[0], case .int(let y) = b[0] { return x < y }
            return false
        }
        return TextTable(columns: ["id", "epoch", "val_acc", "action", "kept_by", "path"], rows: rows,
                         rightAligned: ["id", "epoch", "val_acc"])
    }

    /// `graft catalog check`.
    public static func findings(_ findings: [CheckFinding]) -> TextTable {
        TextTable(
            columns: ["kind", "problem", "checkpoint", "path", "detail"],
            rows: findings.map { f in
                [.text(f.kind.rawValue), .text(f.isProblem ? "yes" : "no"), .optional(f.checkpointId),
                 .text(f.path), .text(f.detail)]
            },
            rightAligned: ["checkpoint"])
    }
}
