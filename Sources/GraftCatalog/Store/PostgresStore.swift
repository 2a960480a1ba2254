import CLibPQ
import Foundation

/// The catalog on a PostgreSQL server (`postgresql://user@host/db`), for studies that several
/// machines write to at once: SQLite's file locking is not reliable on NFS, GPFS or Lustre.
///
/// One libpq connection per catalog, used by one thread at a time. Writes are READ COMMITTED
/// transactions that run side by side (unique keys catch what must not happen twice); the
/// find-or-create steps and migrations first take one advisory lock, so they take turns as every
/// write does on SQLite. Reads are REPEATABLE READ snapshots.
final class PostgresStore: CatalogStore, @unchecked Sendable {
    let dialect = SQLDialect.postgresql
    /// The URL without its password, for messages.
    let location: String
    private let connection: OpaquePointer
    private let lock = NSLock()
    /// The advisory lock `writeAlone` holds: "graft" in ASCII.
    static let writeLockKey: Int64 = 0x67_7261_6674

    /// Connects to the server named by `url` (libpq's URI syntax; `PG*` environment variables
    /// fill in what it leaves out).
    /// - Throws: `CatalogError.cannotOpen` with the server's reason.
    init(url: String) throws {
        location = Self.withoutPassword(url)
        guard let conn = PQconnectdb(url) else {
            throw CatalogError.cannotOpen(path: location, reason: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let reason = Self.message(PQerrorMessage(conn))
            PQfinish(conn)
            throw CatalogError.cannotOpen(path: location, reason: reason)
        }
        connection = conn
        // The server's notices (e.g. "relation already exists, skipping") are not for the user.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        try run("SET datestyle = ISO; SET timezone = 'UTC'; SET client_min_messages = WARNING", [])
    }

    deinit { PQfinish(connection) }

    func close() throws {}

    /// `postgresql://user:secret@host/db` → `postgresql://user@host/db`.
    static func withoutPassword(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex)
        else { return url }
        let userInfo = url[scheme.upperBound..<at.lowerBound]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + String(url[at.lowerBound...])
    }

    private static func message(_ text: UnsafePointer<CChar>?) -> String {
        text.map { String(cString: $0) }?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown error"
    }

    // MARK: - Transactions

    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try transaction(begin: "BEGIN", body)
    }

    func writeAlone<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try transaction(begin: "BEGIN; SELECT pg_advisory_xact_lock(\(Self.writeLockKey))", body)
    }

    private func transaction<T>(begin: String, _ body: (any SQLSession) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        if PQstatus(connection) != CONNECTION_OK { PQreset(connection) }
        try run(begin, [])
        do {
            let value = try body(Session(store: self))
            try run("COMMIT", [])
            return value
        } catch {
            _ = try? run("ROLLBACK", [])
            throw error
        }
    }

    private struct Session: SQLSession {
        let store: PostgresStore
        func execute(_ sql: String, _ arguments: [any SQLBindable]) throws {
            _ = try store.run(sql, arguments.map(\.sqlValue))
        }
        func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
            try store.run(sql, arguments.map(\.sqlValue))
        }
    }

    // MARK: - Statements

    /// Runs one statement (or, without arguments, several separated by semicolons) and returns
    /// its rows. The caller holds `lock`.
    @discardableResult
    private func run(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        let text = arguments.isEmpty ? sql : Self.numberedPlaceholders(sql)
        let parameters: [String?] = arguments.map(Self.parameterText)
        let result: OpaquePointer? =
            arguments.isEmpty
            ? PQexec(connection, text)
            : Self.withCStrings(parameters) { pointers in
                PQexecParams(connection, text, Int32(pointers.count), nil, pointers, nil, nil, 0)
            }
        guard let result else { throw CatalogError.database(reason: Self.message(PQerrorMessage(connection))) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        case PGRES_TUPLES_OK:
            return Self.rows(of: result)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? "?"
            throw CatalogError.database(
                reason: "\(Self.message(PQresultErrorMessage(result))) (SQLSTATE \(state)) in: \(sql)")
        }
    }

    /// `?` placeholders, as both backends' queries are written, to PostgreSQL's `$1, $2, …`.
    /// The catalog's queries carry no `?` inside string literals; quoted text is skipped anyway.
    static func numberedPlaceholders(_ sql: String) -> String {
        var out = ""
        var n = 0
        var quoted = false
        for c in sql {
            if c == "'" { quoted.toggle() }
            if c == "?", !quoted {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Parameters go as text and the server infers their types from the columns they meet:
    /// `1`/`0` are valid booleans, dates are `yyyy-MM-dd HH:mm:ss.SSS`.
    private static func parameterText(_ value: SQLValue) -> String? {
        switch value {
        case .null: nil
        case .integer(let v): String(v)
        case .real(let v):
            v.isNaN ? "NaN" : v == .infinity ? "Infinity" : v == -.infinity ? "-Infinity" : String(v)
        case .text(let s): s
        }
    }

    private static func withCStrings<R>(
        _ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R
    ) -> R {
        let copies = strings.map { $0.map { strdup($0)! } }
        defer { for c in copies { free(c) } }
        return body(copies.map { $0.map { UnsafePointer($0) } })
    }

    // Type OIDs from PostgreSQL's pg_type catalog.
    private static let booleanType: Oid = 16
    private static let integerTypes: Set<Oid> = [20, 21, 23, 26]
    private static let realTypes: Set<Oid> = [700, 701, 1700]

    private static func rows(of result: OpaquePointer) -> [SQLRow] {
        let rowCount = PQntuples(result)
        let fieldCount = PQnfields(result)
        let columns = (0..<fieldCount).map { String(cString: PQfname(result, $0)) }
        let types = (0..<fieldCount).map { PQftype(result, $0) }
        return (0..<rowCount).map { r in
            SQLRow(
                columns: columns,
                values: (0..<fieldCount).map { f -> SQLValue in
                    if PQgetisnull(result, r, f) != 0 { return .null }
                    let text = String(cString: PQgetvalue(result, r, f))
                    let type = types[Int(f)]
                    if type == booleanType { return .integer(text == "t" ? 1 : 0) }
                    if integerTypes.contains(type), let v = Int64(text) { return .integer(v) }
                    if realTypes.contains(type) {
                        switch text {
                        case "NaN": return .real(.nan)
                        case "Infinity": return .real(.infinity)
                        case "-Infinity": return .real(-.infinity)
                        default: if let v = Double(text) { return .real(v) }
                        }
                    }
                    return .text(text)
                })
        }
    }

    // MARK: - Schema version

    func appliedMigrations() throws -> [String] {
        try writeAlone { s in
            try s.execute(Self.migrationsTableSQL)
            return try s.strings("SELECT identifier FROM graft_migrations ORDER BY applied_order")
        }
    }

    private static let migrationsTableSQL = """
        CREATE TABLE IF NOT EXISTS graft_migrations (
            identifier TEXT PRIMARY KEY,
            applied_order BIGINT NOT NULL,
            applied_at TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))
        """

    /// Applies the migrations the database lacks, in one transaction that holds the write lock,
    /// so processes that start together apply each migration once.
    /// - Throws: `CatalogError.newerSchema` (and changes nothing) when the database records a
    ///   migration this build does not know.
    func migrate() throws {
        try writeAlone { s in
            try s.execute(Self.migrationsTableSQL)
            let applied = try s.strings("SELECT identifier FROM graft_migrations ORDER BY applied_order")
            let known = Self.migrations.map(\.identifier)
            let unknown = applied.filter { !known.contains($0) }
            if !unknown.isEmpty { throw CatalogError.newerSchema(path: location, unknownMigrations: unknown) }
            for (order, migration) in Self.migrations.enumerated() where !applied.contains(migration.identifier) {
                for statement in migration.statements { try s.execute(statement) }
                try s.execute(
                    "INSERT INTO graft_migrations (identifier, applied_order) VALUES (?, ?)",
                    [migration.identifier, order])
            }
        }
    }
}
