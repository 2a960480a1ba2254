import Foundation
import GraftSupport

/// Which checkpoints `checkpoints(filter:)` returns; nil/false fields do not filter.
public struct CheckpointFilter: Sendable, Equatable {
    /// Only this run's checkpoints.
    public var run: Int64?
    /// Only checkpoints of runs with this optimizer (`sgd`, `adam`, …).
    public var optimizer: String?
    /// Only checkpoints of this comparison's runs.
    public var comparisonId: Int64?
    /// Only checkpoints taken at these epochs.
    public var epochRange: ClosedRange<Int>?
    /// Only checkpoints taken at a schedule minimum (snapshot-ensemble members).
    public var minimaOnly: Bool
    /// Only checkpoints with at least this validation accuracy.
    public var minValAcc: Double?
    /// At most this many checkpoints.
    public var limit: Int?

    public init(
        run: Int64? = nil, optimizer: String? = nil, comparisonId: Int64? = nil,
        epochRange: ClosedRange<Int>? = nil, minimaOnly: Bool = false, minValAcc: Double? = nil,
        limit: Int? = nil
    ) {
        self.run = run; self.optimizer = optimizer; self.comparisonId = comparisonId
        self.epochRange = epochRange; self.minimaOnly = minimaOnly; self.minValAcc = minValAcc; self.limit = limit
    }
}

/// A metric checkpoints can be ranked by.
public enum CheckpointMetric: String, Sendable, CaseIterable {
    case valAcc = "val_acc", valLoss = "val_loss", trainAcc = "train_acc", trainLoss = "train_loss"

    /// Accuracies rank high-first, losses low-first.
    public var higherIsBetter: Bool { self == .valAcc || self == .trainAcc }

    /// Parses `val_acc`, `val-acc` or `valAcc`.
    /// - Throws: `CatalogError.invalidValue` naming the metric.
    public static func parse(_ text: String) throws -> CheckpointMetric {
        let key = text.replacingOccurrences(of: "-", with: "_").lowercased()
        if let m = CheckpointMetric(rawValue: key) { return m }
        if let m = allCases.first(where: { $0.rawValue.replacingOccurrences(of: "_", with: "") == key }) { return m }
        throw CatalogError.invalidValue(
            name: "metric", value: text,
            reason: "expected one of \(allCases.map(\.rawValue).joined(separator: ", "))")
    }

    public func value(of c: CheckpointRecord) -> Double? {
        switch self {
        case .valAcc: c.valAcc
        case .valLoss: c.valLoss
        case .trainAcc: c.trainAcc
        case .trainLoss: c.trainLoss
        }
    }
}

/// A checkpoint with the facts of its run that listings show.
public struct CheckpointInfo: Sendable, Equatable {
    /// The checkpoint's row.
    public var checkpoint: CheckpointRecord
    /// Its run's optimizer.
    public var optimizer: String
    /// Its run's zoo model.
    public var modelId: String

    public init(checkpoint: CheckpointRecord, optimizer: String, modelId: String) {
        self.checkpoint = checkpoint; self.optimizer = optimizer; self.modelId = modelId
    }
}

extension Catalog {
    // MARK: Saving

    /// Writes and registers a checkpoint so that a crash at any moment leaves either a complete,
    /// registered checkpoint or none.
    ///
    /// Order: (1) a `file_intent` row names the final path; (2) `write` fills a temporary sibling,
    /// which is fsynced, hashed and renamed over the final name, and the directory fsynced;
    /// (3) one transaction inserts the checkpoint row and deletes the intent. A crash before (3)
    /// leaves an intent naming every file it may have left (a temporary or an unregistered final
    /// file): `check()` reports those as interrupted saves, not corruption, and `repair` removes
    /// them. No row ever points to a missing or partial file.
    ///
    /// - Parameters:
    ///   - draft: the checkpoint's facts; `path`, `bytes` and `sha256` are filled in here.
    ///   - url: the final file; default `defaultCheckpointURL(run:epoch:globalStep:)`.
    ///   - write: creates the file at the URL it is given (a temporary name), directly: this is
    ///     the checkpoint's one atomic replace, so the writer needs none of its own
    ///     (`WeightsFile.write(…, atomically: false)`).
    /// - Returns: the registered row.
    /// - Throws: what `write` throws, `CatalogError.invalidValue` when the path is already
    ///   registered, or an I/O or database error.
    @discardableResult
    public func saveCheckpoint(
        _ draft: CheckpointRecord, to url: URL? = nil,
        write: (URL) throws -> Void
    ) throws -> CheckpointRecord {
        let url = (url ?? defaultCheckpointURL(run: draft.runId, epoch: draft.epoch, globalStep: draft.globalStep))
            .standardizedFileURL
        let path = storedPath(for: url)
        let intentId: Int64 = try store.write { db in
            if try db.count(CheckpointRecord.self, where: "path = ?", [path]) > 0 {
                throw CatalogError.invalidValue(name: "checkpoint path", value: path, reason: "already registered")
            }
            // A file this catalog does not know is someone else's, e.g. a second catalog file in
            // the same directory (both keep checkpoints/run-N): never write over it. A file left
            // by an interrupted save of our own (its intent is still recorded) may be replaced.
            if FileManager.default.fileExists(atPath: url.path),
                try db.count(FileIntentRecord.self, where: "path = ?", [path]) == 0
            {
                throw CatalogError.invalidValue(
                    name: "checkpoint file", value: url.path,
                    reason:
                        "exists but is not in this catalog (\(location)); is another catalog kept in the same directory?"
                )
            }
            guard try db.count(RunRecord.self, where: "id = ?", [draft.runId]) > 0 else {
                throw CatalogError.notFound(table: "run", id: draft.runId)
            }
            var intent = FileIntentRecord(path: path, action: .save)
            try db.insert(&intent)
            return intent.id!
        }
        var digest: (hex: String, bytes: Int64) = ("", 0)
        do {
            try CatalogError.translatingFileErrors {
                try AtomicFile.write(to: url, beforeRename: { temp in digest = try SHA256.hexAndSize(of: temp) }, write)
            }
        } catch {
            _ = try? store.write { db in try db.delete(FileIntentRecord.self, id: intentId) }
            throw error
        }
        var record = draft
        record.id = nil
        record.path = path
        record.sha256 = digest.hex
        record.bytes = digest.bytes
        do {
            return try store.write { db in
                try db.insert(&record)
                try db.delete(FileIntentRecord.self, id: intentId)
                return record
            }
        } catch {
            unlink(url.path)
            _ = try? store.write { db in try db.delete(FileIntentRecord.self, id: intentId) }
            throw error
        }
    }

    /// Registers a checkpoint file that is already in place (written atomically by the caller).
    /// Prefer `saveCheckpoint`, which also covers the moment between the rename and the row.
    /// `sha256` and `bytes` are computed from the file when `draft.sha256` is empty.
    /// - Throws: `CatalogError.missingFile`, `.invalidValue` for a temporary file name, or a
    ///   database error (e.g. the path is already registered).
    @discardableResult
    public func registerCheckpoint(_ draft: CheckpointRecord, fileAt url: URL) throws -> CheckpointRecord {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CatalogError.missingFile(path: url.path) }
        if AtomicFile.isTemporary(url.lastPathComponent) {
            throw CatalogError.invalidValue(
                name: "checkpoint path", value: url.path, reason: "a temporary file cannot be registered")
        }
        var record = draft
        record.id = nil
        record.path = storedPath(for: url)
        if record.sha256.isEmpty {
            let digest = try CatalogError.translatingFileErrors { try SHA256.hexAndSize(of: url) }
            record.sha256 = digest.hex
            record.bytes = digest.bytes
        }
        return try store.write { db in
            try db.insert(&record)
            return record
        }
    }

    // MARK: Reading

    /// The checkpoint with this id.
    /// - Throws: `CatalogError.notFound`.
    public func checkpoint(id: Int64) throws -> CheckpointRecord {
        guard let c = try store.read({ db in try db.fetchOne(CheckpointRecord.self, id: id) }) else {
            throw CatalogError.notFound(table: "checkpoint", id: id)
        }
        return c
    }

    /// The file of a checkpoint, after checking that it exists and that its SHA-256 matches the
    /// catalog: loading code calls this so an altered file is refused.
    /// - Throws: `CatalogError.missingFile` or `.checksumMismatch`, naming the file.
    public func verifiedFile(for checkpoint: CheckpointRecord) throws -> URL {
        let url = url(forStoredPath: checkpoint.path)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CatalogError.missingFile(path: url.path) }
        let actual = try CatalogError.translatingFileErrors { try SHA256.hex(of: url) }
        guard actual == checkpoint.sha256 else {
            throw CatalogError.checksumMismatch(path: url.path, expected: checkpoint.sha256, actual: actual)
        }
        return url
    }

    /// Checkpoints matching `filter`, ordered by run, epoch and step.
    public func checkpoints(filter: CheckpointFilter = CheckpointFilter()) throws -> [CheckpointInfo] {
        let (whereSQL, arguments) = Self.whereClause(filter)
        var sql = """
            SELECT checkpoint.*, run.optimizer AS optimizer, run.model_id AS model_id
            FROM checkpoint JOIN run ON run.id = checkpoint.run_id
            \(whereSQL)
            ORDER BY checkpoint.run_id, checkpoint.epoch, checkpoint.global_step, checkpoint.id
            """
        if let limit = filter.limit { sql += " LIMIT \(max(0, limit))" }
        return try store.read { db in try Self.fetchInfos(db, sql: sql, arguments: arguments) }
    }

    /// The best checkpoint by `metric` (accuracies high, losses low; ties go to the earliest),
    /// overall or one per optimizer, among those matching `filter`. Checkpoints without the
    /// metric are ignored.
    public func bestCheckpoints(
        by metric: CheckpointMetric, perOptimizer: Bool = false,
        filter: CheckpointFilter = CheckpointFilter()
    ) throws -> [CheckpointInfo] {
        var (whereSQL, arguments) = Self.whereClause(filter)
        let column = "checkpoint.\(metric.rawValue)"
        whereSQL += (whereSQL.isEmpty ? "WHERE " : " AND ") + "\(column) IS NOT NULL"
        let order = "\(column) \(metric.higherIsBetter ? "DESC" : "ASC"), checkpoint.id"
        func query(_ whereSQL: String) -> String {
            """
            SELECT checkpoint.*, run.optimizer AS optimizer, run.model_id AS model_id
            FROM checkpoint JOIN run ON run.id = checkpoint.run_id
            \(whereSQL) ORDER BY \(order) LIMIT 1
            """
        }
        let single = query(whereSQL)
        guard perOptimizer else {
            return try store.read { db in try Self.fetchInfos(db, sql: single, arguments: arguments) }
        }
        // One indexed query per optimizer (there are few) is much faster than a window function
        // that sorts every checkpoint.
        let perOptimizerSQL = query(whereSQL + " AND run.optimizer = ?")
        return try store.read { db in
            let optimizers = try db.strings("SELECT DISTINCT optimizer FROM run ORDER BY optimizer")
            var out: [CheckpointInfo] = []
            for optimizer in optimizers {
                out += try Self.fetchInfos(db, sql: perOptimizerSQL, arguments: arguments + [optimizer])
            }
            return out
        }
    }

    /// The single best checkpoint by `metric`, or nil when none has it.
    public func bestCheckpoint(
        by metric: CheckpointMetric, filter: CheckpointFilter = CheckpointFilter()
    ) throws -> CheckpointInfo? {
        try bestCheckpoints(by: metric, perOptimizer: false, filter: filter).first
    }

    private static func fetchInfos(
        _ db: any SQLSession, sql: String, arguments: [any SQLBindable]
    ) throws -> [CheckpointInfo] {
        try db.rows(sql, arguments).map { row in
            CheckpointInfo(
                checkpoint: try CheckpointRecord(row: row),
                optimizer: row.string("optimizer") ?? "", modelId: row.string("model_id") ?? "")
        }
    }

    private static func whereClause(_ f: CheckpointFilter) -> (String, [any SQLBindable]) {
        var terms: [String] = []
        var args: [any SQLBindable] = []
        if let v = f.run { terms.append("checkpoint.run_id = ?"); args.append(v) }
        if let v = f.optimizer { terms.append("run.optimizer = ?"); args.append(v) }
        if let v = f.comparisonId { terms.append("run.comparison_id = ?"); args.append(v) }
        if let r = f.epochRange {
            terms.append("checkpoint.epoch BETWEEN ? AND ?"); args.append(r.lowerBound); args.append(r.upperBound)
        }
        if f.minimaOnly { terms.append("checkpoint.is_minimum") }
        if let v = f.minValAcc { terms.append("checkpoint.val_acc >= ?"); args.append(v) }
        let sql = terms.isEmpty ? "" : "WHERE " + terms.joined(separator: " AND ")
        return (sql, args)
    }

    // MARK: Deleting and replacing

    /// Deletes a checkpoint's row and its file together.
    ///
    /// Order: one transaction deletes the row and records a `delete` intent; then the file is
    /// unlinked and the intent removed. A crash in between leaves a file named by an intent, which
    /// `check()` reports as an interrupted delete and `repair` finishes. The row never outlives
    /// its file's removal decision, so nothing can load a half-deleted checkpoint.
    /// - Throws: `CatalogError.notFound`, or an I/O error naming the file.
    public func deleteCheckpoint(id: Int64) throws {
        let (path, intentId): (String, Int64) = try store.write { db in
            guard let c = try db.fetchOne(CheckpointRecord.self, id: id) else {
                throw CatalogError.notFound(table: "checkpoint", id: id)
            }
            try db.delete(CheckpointRecord.self, id: id)
            var intent = FileIntentRecord(path: c.path, action: .delete)
            try db.insert(&intent)
            return (c.path, intent.id!)
        }
        try finishDelete(path: path, intentId: intentId)
    }

    func finishDelete(path: String, intentId: Int64) throws {
        let url = url(forStoredPath: path)
        if unlink(url.path) != 0 && errno != ENOENT {
            throw CatalogError.io(path: url.path, operation: "unlink", errno: errno)
        }
        try? AtomicFile.fsyncDirectory(url.deletingLastPathComponent())
        try store.write { db in _ = try db.delete(FileIntentRecord.self, id: intentId) }
    }

    /// Rewrites a checkpoint without its optimizer state (to save space), keeping it registered.
    /// `strip(source, destination)` must write the reduced file at `destination` (a temporary
    /// name, written directly as in `saveCheckpoint`). The new file
    /// gets a new name (`….noopt.h5`), so the old file stays valid until the row points to the new
    /// one; both steps are covered by intents as in `saveCheckpoint`/`deleteCheckpoint`.
    /// - Throws: `CatalogError.notFound`, what `strip` throws, or an I/O error naming the file.
    @discardableResult
    public func stripOptimizerState(checkpoint id: Int64, strip: (URL, URL) throws -> Void) throws -> CheckpointRecord {
        let old = try checkpoint(id: id)
        guard old.hasOptimizerState else { return old }
        let oldURL = try verifiedFile(for: old)
        let ext = oldURL.pathExtension
        let stem = oldURL.deletingPathExtension().lastPathComponent
        let newURL = oldURL.deletingLastPathComponent()
            .appendingPathComponent(ext.isEmpty ? "\(stem).noopt" : "\(stem).noopt.\(ext)")
        let newPath = storedPath(for: newURL)
        let saveIntent: Int64 = try store.write { db in
            var intent = FileIntentRecord(path: newPath, action: .save)
            try db.insert(&intent)
            return intent.id!
        }
        var digest: (hex: String, bytes: Int64) = ("", 0)
        do {
            try CatalogError.translatingFileErrors {
                try AtomicFile.write(to: newURL, beforeRename: { temp in digest = try SHA256.hexAndSize(of: temp) }) {
                    temp in
                    try strip(oldURL, temp)
                }
            }
        } catch {
            _ = try? store.write { db in try db.delete(FileIntentRecord.self, id: saveIntent) }
            throw error
        }
        let (updated, deleteIntent): (CheckpointRecord, Int64) = try store.write { db in
            guard var c = try db.fetchOne(CheckpointRecord.self, id: id) else {
                throw CatalogError.notFound(table: "checkpoint", id: id)
            }
            c.path = newPath
            c.sha256 = digest.hex
            c.bytes = digest.bytes
            c.hasOptimizerState = false
            try db.update(c)
            try db.delete(FileIntentRecord.self, id: saveIntent)
            var intent = FileIntentRecord(path: old.path, action: .delete)
            try db.insert(&intent)
            return (c, intent.id!)
        }
        try finishDelete(path: old.path, intentId: deleteIntent)
        return updated
    }
}
