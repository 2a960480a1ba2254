import Foundation

/// A whole catalog as one JSON document: `graft catalog export` writes it, `graft catalog import`
/// loads it into another catalog of either backend, ids kept, so a study moves between a laptop's
/// SQLite file and a cluster's PostgreSQL server.
public struct CatalogDump: Codable, Sendable, Equatable {
    public static let currentFormat = 1
    public var format: Int
    /// The schema it was written with.
    public var migrations: [String]
    /// The source catalog's base directory: relative stored paths were relative to it.
    public var baseDirectory: String
    public var tables: [Table]

    /// One table's name, columns and rows.
    public struct Table: Codable, Sendable, Equatable {
        public var name: String
        public var columns: [String]
        public var rows: [[SQLValue]]
    }

    /// Rows in every table.
    public var rowCount: Int { tables.reduce(0) { $0 + $1.rows.count } }
}

extension SQLValue: Codable {
    // JSON null, number or string; a non-finite real as {"real": "nan"|"inf"|"-inf"}, which JSON
    // cannot write as a number.
    private enum Keys: String, CodingKey { case real }

    public init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: Keys.self) {
            switch try keyed.decode(String.self, forKey: .real) {
            case "inf": self = .real(.infinity)
            case "-inf": self = .real(-.infinity)
            default: self = .real(.nan)
            }
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .real(d)
        } else {
            self = .text(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        if case .real(let d) = self, !d.isFinite {
            var keyed = encoder.container(keyedBy: Keys.self)
            try keyed.encode(d.isNaN ? "nan" : d > 0 ? "inf" : "-inf", forKey: .real)
            return
        }
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .integer(let i): try c.encode(i)
        case .real(let d): try c.encode(d)
        case .text(let s): try c.encode(s)
        }
    }
}

extension Catalog {
    /// Every table, parents before children, so rows can be inserted in this order.
    static let tablesInDependencyOrder: [(name: String, key: String)] = [
        ("weights_file", "id"), ("dataset", "id"), ("split", "id"), ("comparison", "id"), ("run", "id"),
        ("epoch_metric", "id"), ("checkpoint", "id"), ("lr_test", "id"), ("lr_test_point", "lr_test_id, step"),
        ("lr_test_suggestion", "lr_test_id, method"), ("ensemble", "id"), ("ensemble_member", "ensemble_id, position"),
        ("file_intent", "id"), ("evaluation", "id"),
    ]

    /// Columns holding file paths, which `importDump` may rewrite.
    static let pathColumns: [String: [String]] = [
        "checkpoint": ["path"], "weights_file": ["path"], "split": ["split_path"], "run": ["source_weights"],
        "file_intent": ["path"], "evaluation": ["weights_path", "data_path"],
    ]

    /// The whole catalog, read in one snapshot.
    public func exportDump() throws -> CatalogDump {
        let migrations = try appliedMigrations()
        let tables = try store.read { db in
            try Self.tablesInDependencyOrder.map { table -> CatalogDump.Table in
                let rows = try db.rows("SELECT * FROM \(table.name) ORDER BY \(table.key)", [])
                return CatalogDump.Table(
                    name: table.name, columns: rows.first?.columns ?? [], rows: rows.map(\.values))
            }
        }
        return CatalogDump(
            format: CatalogDump.currentFormat, migrations: migrations, baseDirectory: baseDirectory.path,
            tables: tables)
    }

    /// Loads a dump into this catalog, which must be empty, keeping every id.
    ///
    /// Paths: a stored path relative to the source's base directory stays relative, so it resolves
    /// under this catalog's base directory (copy the `checkpoints/` folder along). Absolute paths
    /// starting with a key of `pathPrefixes` get that prefix replaced; one that then lies under
    /// this catalog's base directory is stored relative to it.
    /// - Throws: `CatalogError.invalidValue` when this catalog has rows or the dump's format is
    ///   unknown, `CatalogError.newerSchema` when the dump has migrations this build lacks.
    public func importDump(_ dump: CatalogDump, pathPrefixes: [(from: String, to: String)] = []) throws {
        guard dump.format == CatalogDump.currentFormat else {
            throw CatalogError.invalidValue(
                name: "dump format", value: String(dump.format),
                reason: "this Graft reads format \(CatalogDump.currentFormat)")
        }
        let unknown = dump.migrations.filter { !Self.knownMigrations.contains($0) }
        if !unknown.isEmpty { throw CatalogError.newerSchema(path: "the dump", unknownMigrations: unknown) }
        let known = Dictionary(uniqueKeysWithValues: Self.tablesInDependencyOrder.map { ($0.name, $0.key) })
        for table in dump.tables where known[table.name] == nil {
            throw CatalogError.invalidValue(name: "table", value: table.name, reason: "not a catalog table")
        }
        let order = Self.tablesInDependencyOrder.map(\.name)
        let tables = dump.tables.sorted { order.firstIndex(of: $0.name)! < order.firstIndex(of: $1.name)! }
        let dialect = store.dialect
        try store.writeAlone { db in
            for table in Self.tablesInDependencyOrder {
                let n = try db.integers("SELECT COUNT(*) FROM \(table.name)").first ?? 0
                if n > 0 {
                    throw CatalogError.invalidValue(
                        name: "catalog", value: location,
                        reason: "is not empty (\(table.name) has \(n) rows); import into a new catalog")
                }
            }
            for table in tables where !table.rows.isEmpty {
                let rewritten = Set(Self.pathColumns[table.name] ?? [])
                let placeholders = Array(repeating: "?", count: table.columns.count).joined(separator: ", ")
                let sql =
                    "INSERT INTO \(table.name) (\(table.columns.joined(separator: ", "))) VALUES (\(placeholders))"
                for row in table.rows {
                    guard row.count == table.columns.count else {
                        throw CatalogError.invalidValue(
                            name: "row of \(table.name)", value: "\(row.count) values",
                            reason: "the table lists \(table.columns.count) columns")
                    }
                    let values = zip(table.columns, row).map { column, value -> SQLValue in
                        guard rewritten.contains(column), case .text(let path) = value else { return value }
                        return .text(rewrittenPath(path, prefixes: pathPrefixes))
                    }
                    try db.execute(sql, values)
                }
            }
            // Explicit ids leave PostgreSQL's identity sequences behind (SQLite follows by itself).
            if dialect == .postgresql {
                for table in Self.tablesInDependencyOrder where table.key == "id" {
                    try db.execute(
                        "SELECT setval(pg_get_serial_sequence('\(table.name)', 'id'), "
                            + "COALESCE((SELECT MAX(id) FROM \(table.name)), 0) + 1, false)")
                }
            }
        }
    }

    private func rewrittenPath(_ path: String, prefixes: [(from: String, to: String)]) -> String {
        guard path.hasPrefix("/") else { return path }
        for (from, to) in prefixes where path == from || path.hasPrefix(from.hasSuffix("/") ? from : from + "/") {
            let rest = path.dropFirst(from.count)
            return storedPath(for: URL(fileURLWithPath: to + rest))
        }
        return path
    }

    /// Inserts many rows of one table in a single transaction (imports, benchmarks).
    public func insertRows(into table: String, columns: [String], rows: [[SQLValue]]) throws {
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(placeholders))"
        try store.write { db in
            for row in rows { try db.execute(sql, row) }
        }
    }
}
