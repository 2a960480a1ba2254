import Foundation
import GRDB

/// The embedded catalog: one SQLite file in WAL mode through GRDB, the default for one machine.
///
/// Follows GRDB's recommended practice: one writer per file for the whole process and a
/// migrator with named migrations that are never edited once shipped. Several processes may use
/// one file at once: writes are IMMEDIATE transactions and wait up to `busyTimeout` for each other.
final class SQLiteStore: CatalogStore, @unchecked Sendable {
    /// How long a write waits for another process's write before failing.
    static let busyTimeout: TimeInterval = 30

    let dialect = SQLDialect.sqlite
    /// A `DatabasePool` for files, a `DatabaseQueue` in memory. Immutable, and GRDB's writers
    /// are themselves safe to share between threads.
    let writer: any DatabaseWriter

    /// Opens (creating if needed) the file at `url`.
    /// - Throws: `CatalogError.newerSchema` when the file was written by a newer Graft (it is left
    ///   untouched), `CatalogError.cannotOpen` naming the file when SQLite cannot open it.
    init(url: URL) throws {
        do {
            // Refuse a newer catalog before DatabasePool touches it (it would switch it to WAL).
            if FileManager.default.fileExists(atPath: url.path) {
                try Self.refuseNewerSchema(url: url)
            }
            writer = try DatabasePool(path: url.path, configuration: Self.configuration())
        } catch let error as DatabaseError {
            throw CatalogError.cannotOpen(path: url.path, reason: error.message ?? error.description)
        }
    }

    /// An empty in-memory database (tests).
    init() throws {
        writer = try DatabaseQueue(configuration: Self.configuration())
    }

    private static func configuration() -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(busyTimeout)
        config.label = "GraftCatalog"
        return config
    }

    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try translatingErrors { try writer.read { db in try body(Session(db: db)) } }
    }

    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try translatingErrors { try writer.write { db in try body(Session(db: db)) } }
    }

    /// SQLite runs one write transaction at a time anyway.
    func writeAlone<T>(_ body: (any SQLSession) throws -> T) throws -> T { try write(body) }

    func close() throws {
        try (writer as? DatabasePool)?.close()
    }

    /// SQLite's own errors become `CatalogError.database`; the catalog's pass through.
    private func translatingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            throw CatalogError.database(reason: error.message ?? error.description)
        }
    }

    private struct Session: SQLSession {
        let db: Database

        func execute(_ sql: String, _ arguments: [any SQLBindable]) throws {
            try db.execute(sql: sql, arguments: Self.arguments(arguments))
        }

        func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
            try Row.fetchAll(db, sql: sql, arguments: Self.arguments(arguments)).map { row in
                SQLRow(
                    columns: Array(row.columnNames),
                    values: row.databaseValues.map { value in
                        switch value.storage {
                        case .null: .null
                        case .int64(let v): .integer(v)
                        case .double(let v): .real(v)
                        case .string(let s): .text(s)
                        case .blob(let d): .text(String(decoding: d, as: UTF8.self))
                        }
                    })
            }
        }

        static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
            StatementArguments(
                values.map { value -> (any DatabaseValueConvertible)? in
                    switch value.sqlValue {
                    case .null: nil
                    case .integer(let v): v
                    case .real(let v): v
                    case .text(let s): s
                    }
                })
        }
    }

    // MARK: - Schema version

    func appliedMigrations() throws -> [String] {
        try writer.read { db in try Self.migrator.appliedMigrations(db) }
    }

    /// Migrations recorded in the file that this build does not know (empty when current or older).
    private static func unknownMigrations(_ db: Database) throws -> [String] {
        guard try db.tableExists("grdb_migrations") else { return [] }
        let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        let known = Set(migrator.migrations)
        return applied.filter { !known.contains($0) }
    }

    private static func refuseNewerSchema(url: URL) throws {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(busyTimeout)
        let unknown: [String]
        do {
            let queue = try DatabaseQueue(path: url.path, configuration: config)
            unknown = try queue.read { db in try unknownMigrations(db) }
            try queue.close()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN {
            return  // let DatabasePool report it
        }
        if !unknown.isEmpty { throw CatalogError.newerSchema(path: url.path, unknownMigrations: unknown) }
    }

    /// Applies missing migrations. Several processes may open a new catalog at the same moment:
    /// each migration runs in an IMMEDIATE transaction, so a loser's attempt rolls back and it
    /// simply re-reads what the winner applied.
    func migrate() throws {
        let unknown = try writer.read { db in try Self.unknownMigrations(db) }
        if !unknown.isEmpty {
            throw CatalogError.newerSchema(path: writer.path, unknownMigrations: unknown)
        }
        var attempt = 0
        while true {
            do {
                try Self.migrator.migrate(writer)
                return
            } catch {
                attempt += 1
                let done = (try? writer.read { db in try Self.migrator.hasCompletedMigrations(db) }) ?? false
                if done { return }
                if attempt >= 5 { throw error }
                usleep(UInt32(20_000 * attempt))
            }
        }
    }
}
