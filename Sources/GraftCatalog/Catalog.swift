import Foundation
import GRDB

/// The checkpoint catalog: one SQLite file (WAL) holding runs, epoch metrics, checkpoints,
/// datasets, splits, LR range tests, ensembles and comparisons.
///
/// Follows GRDB's recommended practice: one writer per file for the whole process, a private
/// migrator with named migrations that are never edited once shipped, and intent-named methods
/// (`createRun`, `recordEpoch`, `saveCheckpoint`, …) instead of raw SQL at call sites.
/// Several processes may use one catalog at once: writes are IMMEDIATE transactions and wait up
/// to `busyTimeout` for each other.
public struct Catalog: Sendable {
    /// The default catalog location, relative to the working directory.
    public static let defaultPath = "Catalog/catalog.sqlite"
    /// Environment variable that overrides `defaultPath`.
    public static let environmentVariable = "GRAFT_CATALOG"
    /// How long a write waits for another process's write before failing.
    public static let busyTimeout: TimeInterval = 30

    /// The connection (a `DatabasePool` for files, a `DatabaseQueue` in memory).
    public let writer: any DatabaseWriter
    /// Stored paths are relative to this directory when inside it (the catalog file's folder),
    /// so a project directory can be moved or shared without rewriting the catalog.
    public let baseDirectory: URL
    /// Where checkpoint files go by default, and where `check()` looks for orphans.
    public var checkpointsDirectory: URL { baseDirectory.appendingPathComponent("checkpoints", isDirectory: true) }
    /// Where `repair` moves files it cannot account for, instead of deleting them.
    public var lostAndFoundDirectory: URL { baseDirectory.appendingPathComponent("lost+found", isDirectory: true) }
    /// Human-readable location, for messages.
    public let location: String

    /// Opens (creating if needed) the catalog file at `path` and migrates it to the current schema.
    /// - Throws: `CatalogError.newerSchema` when the file was written by a newer Graft (it is left
    ///   untouched), `CatalogError.cannotOpen` naming the file when SQLite cannot open it.
    public static func open(at path: String) throws -> Catalog {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        do {
            // Refuse a newer catalog before DatabasePool touches it (it would switch it to WAL).
            if FileManager.default.fileExists(atPath: url.path) {
                try refuseNewerSchema(url: url)
            }
            let pool = try DatabasePool(path: url.path, configuration: makeConfiguration())
            let catalog = Catalog(writer: pool, baseDirectory: url.deletingLastPathComponent(), location: url.path)
            try catalog.migrate()
            return catalog
        } catch let error as DatabaseError {
            throw CatalogError.cannotOpen(path: url.path, reason: error.message ?? error.description)
        }
    }

    /// The catalog path to use: `--catalog`, else `$GRAFT_CATALOG`, else `Catalog/catalog.sqlite`.
    public static func resolvedPath(
        explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = environment[environmentVariable], !env.isEmpty { return env }
        return defaultPath
    }

    /// An empty in-memory catalog (tests). Paths resolve against `baseDirectory`.
    public static func inMemory(
        baseDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    ) throws -> Catalog {
        let queue = try DatabaseQueue(configuration: makeConfiguration())
        let catalog = Catalog(writer: queue, baseDirectory: baseDirectory.standardizedFileURL, location: ":memory:")
        try catalog.migrate()
        return catalog
    }

    private init(writer: any DatabaseWriter, baseDirectory: URL, location: String) {
        self.writer = writer
        self.baseDirectory = baseDirectory
        self.location = location
    }

    private static func makeConfiguration() -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(busyTimeout)
        config.label = "GraftCatalog"
        return config
    }

    // MARK: - Schema version

    /// Names of every migration this build knows, oldest first.
    public static var knownMigrations: [String] { migrator.migrations }

    /// Migrations recorded in the catalog that this build does not know (empty when current or older).
    public func unknownMigrations() throws -> [String] {
        try writer.read { db in try Self.unknownMigrations(db) }
    }

    /// Migrations applied to this catalog, in order.
    public func appliedMigrations() throws -> [String] {
        try writer.read { db in try Self.migrator.appliedMigrations(db) }
    }

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
    private func migrate() throws {
        let unknown = try unknownMigrations()
        if !unknown.isEmpty { throw CatalogError.newerSchema(path: location, unknownMigrations: unknown) }
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

    // MARK: - Paths

    /// The form of `url` stored in the catalog: relative to `baseDirectory` when inside it.
    public func storedPath(for url: URL) -> String {
        let path = url.standardizedFileURL.path
        let base = baseDirectory.path.hasSuffix("/") ? baseDirectory.path : baseDirectory.path + "/"
        if path.hasPrefix(base) { return String(path.dropFirst(base.count)) }
        return path
    }

    /// The file a stored path designates.
    public func url(forStoredPath path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        return baseDirectory.appendingPathComponent(path)
    }

    /// Default directory for a run's checkpoints: `<catalog dir>/checkpoints/run-000012/`.
    public func checkpointDirectory(run: Int64) -> URL {
        checkpointsDirectory.appendingPathComponent(Self.runDirectoryName(run), isDirectory: true)
    }

    /// `run-000012`: the name of a run's folder under `checkpoints/`.
    public static func runDirectoryName(_ run: Int64) -> String { String(format: "run-%06lld", run) }

    /// The run a folder under `checkpoints/` belongs to (`run-000012`, or `run-12` as older
    /// versions named it).
    static func runId(ofDirectory url: URL) -> Int64? {
        let name = url.lastPathComponent
        guard name.hasPrefix("run-") else { return nil }
        return Int64(name.dropFirst(4))
    }

    /// The per-epoch metrics file the trainer keeps in a run's folder (`metrics.json`).
    public static let metricsFileName = "metrics.json"

    /// A run's metrics file: `run-000012/metrics.json`.
    public func metricsFile(run: Int64) -> URL {
        checkpointDirectory(run: run).appendingPathComponent(Self.metricsFileName)
    }

    /// Default file for a checkpoint: `run-000012/epoch-0003-step-00000450.h5`.
    public func defaultCheckpointURL(run: Int64, epoch: Int, globalStep: Int64) -> URL {
        checkpointDirectory(run: run)
            .appendingPathComponent(String(format: "epoch-%04d-step-%08lld.h5", epoch, globalStep))
    }
}
