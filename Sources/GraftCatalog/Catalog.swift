import Foundation

/// The checkpoint catalog: runs, epoch metrics, checkpoints, datasets, splits, LR range tests,
/// ensembles and comparisons. It lives in one SQLite file (WAL) by default, or on a PostgreSQL
/// server (`postgresql://…`) for studies that several machines write to; callers cannot tell
/// which (`CatalogStore`).
///
/// Intent-named methods (`createRun`, `recordEpoch`, `saveCheckpoint`, …) instead of raw SQL at
/// call sites. Several processes may use one catalog at once: writes take turns.
public struct Catalog: Sendable {
    /// The default catalog location, relative to the working directory.
    public static let defaultPath = "Catalog/catalog.sqlite"
    /// Environment variable that overrides `defaultPath`: a file path or a `postgresql://` URL.
    public static let environmentVariable = "GRAFT_CATALOG"
    /// Environment variable naming where a server catalog's checkpoints go (`--checkpoint-root`).
    public static let checkpointRootVariable = "GRAFT_CHECKPOINT_ROOT"

    /// The database.
    let store: any CatalogStore
    /// Stored paths are relative to this directory when inside it (the catalog file's folder, or
    /// a server catalog's checkpoint root), so a project directory can be moved or shared
    /// without rewriting the catalog.
    public let baseDirectory: URL
    /// Where checkpoint files go by default, and where `check()` looks for orphans.
    public var checkpointsDirectory: URL { baseDirectory.appendingPathComponent("checkpoints", isDirectory: true) }
    /// Where `repair` moves files it cannot account for, instead of deleting them.
    public var lostAndFoundDirectory: URL { baseDirectory.appendingPathComponent("lost+found", isDirectory: true) }
    /// Human-readable location, for messages (a server URL without its password).
    public let location: String
    /// The location as given when opened, password included: what a child process opens.
    public let openedLocation: String
    /// Which database holds the catalog.
    public var backend: SQLDialect { store.dialect }

    /// True for `postgresql://…` and `postgres://…` locations.
    public static func isServerURL(_ location: String) -> Bool {
        location.hasPrefix("postgresql://") || location.hasPrefix("postgres://")
    }

    /// Opens the catalog at `location`, a SQLite file (created if needed) or a PostgreSQL URL,
    /// and migrates it to the current schema.
    /// - Parameter location: a SQLite file path, or a `postgresql://` URL.
    /// - Parameter environment: where `GRAFT_CHECKPOINT_ROOT` is read.
    /// - Parameter checkpointRoot: a server catalog's base directory for checkpoints (default
    ///   `$GRAFT_CHECKPOINT_ROOT`, else `Catalog/` in the working directory); a shared file system
    ///   on a cluster. A file catalog keeps its checkpoints beside the file.
    /// - Throws: `CatalogError.newerSchema` when the catalog was written by a newer Graft (it is
    ///   left untouched), `CatalogError.cannotOpen` naming the file or server when it cannot be opened.
    public static func open(
        location: String, checkpointRoot: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Catalog {
        guard isServerURL(location) else { return try open(at: location) }
        let store = try PostgresStore(url: location)
        let root = checkpointRoot ?? environment[checkpointRootVariable].flatMap { $0.isEmpty ? nil : $0 }
        let base = URL(fileURLWithPath: root ?? "Catalog", isDirectory: true).standardizedFileURL
        let catalog = Catalog(store: store, baseDirectory: base, location: store.location, openedLocation: location)
        try store.migrate()
        return catalog
    }

    /// Opens (creating if needed) the catalog file at `path` and migrates it to the current schema.
    /// - Throws: `CatalogError.newerSchema` when the file was written by a newer Graft (it is left
    ///   untouched), `CatalogError.cannotOpen` naming the file when SQLite cannot open it.
    public static func open(at path: String) throws -> Catalog {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let store = try SQLiteStore(url: url)
        let catalog = Catalog(
            store: store, baseDirectory: url.deletingLastPathComponent(), location: url.path, openedLocation: url.path)
        try store.migrate()
        return catalog
    }

    /// The catalog location to use: `--catalog`, else `$GRAFT_CATALOG`, else `Catalog/catalog.sqlite`.
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
        let store = try SQLiteStore()
        let catalog = Catalog(
            store: store, baseDirectory: baseDirectory.standardizedFileURL, location: ":memory:",
            openedLocation: ":memory:")
        try store.migrate()
        return catalog
    }

    init(store: any CatalogStore, baseDirectory: URL, location: String, openedLocation: String) {
        self.store = store
        self.baseDirectory = baseDirectory
        self.location = location
        self.openedLocation = openedLocation
    }

    // MARK: - Schema version

    /// Migrations applied to this catalog, in order.
    public func appliedMigrations() throws -> [String] { try store.appliedMigrations() }

    /// Applies the migrations this build knows and the catalog lacks (`graft catalog migrate`);
    /// opening a catalog does the same.
    public func migrate() throws { try store.migrate() }

    /// Releases the database connection (tests that reopen a file in the same process).
    public func close() throws { try store.close() }

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
