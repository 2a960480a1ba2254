import Foundation
import GraftSupport

/// One thing `check()` found.
public struct CheckFinding: Sendable, Equatable {
    /// What kind of problem was found.
    public enum Kind: String, Sendable, CaseIterable {
        /// A row's file is not on disk.
        case missingFile = "missing_file"
        /// A row's file has another size than registered.
        case sizeMismatch = "size_mismatch"
        /// A row's file has another SHA-256 than registered.
        case checksumMismatch = "checksum_mismatch"
        /// A row points to a temporary name (never written by `saveCheckpoint`).
        case temporaryPathRow = "temporary_path_row"
        /// A file in the checkpoints directory that no row or intent accounts for.
        case orphanFile = "orphan_file"
        /// A temporary file whose writer is gone: a write that never completed.
        case leftoverTemporary = "leftover_temporary"
        /// Files of a save that was interrupted before its row was committed.
        case interruptedSave = "interrupted_save"
        /// A file whose row was deleted but whose unlink was interrupted.
        case interruptedDelete = "interrupted_delete"
        /// A save or delete another live process is doing right now.
        case inProgress = "in_progress"
        /// A run still marked `running` whose process is gone: killed, or its machine lost.
        case interruptedRun = "interrupted_run"
    }

    public var kind: Kind
    /// The file concerned (absolute).
    public var path: String
    public var detail: String
    public var checkpointId: Int64?
    public var weightsFileId: Int64?
    public var intentId: Int64?
    public var runId: Int64?

    /// Corruption or inconsistency. Leftovers of interrupted writes are not problems: the catalog
    /// never references them, and `repair` only tidies them away.
    public var isProblem: Bool {
        switch kind {
        case .missingFile, .sizeMismatch, .checksumMismatch, .temporaryPathRow, .orphanFile: true
        case .leftoverTemporary, .interruptedSave, .interruptedDelete, .inProgress, .interruptedRun: false
        }
    }
}

/// The result of `check()`.
public struct CheckReport: Sendable, Equatable {
    public var findings: [CheckFinding]
    public var checkpointsChecked: Int
    public var weightsFilesChecked: Int
    public var filesScanned: Int

    public var problems: [CheckFinding] { findings.filter(\.isProblem) }
    public var leftovers: [CheckFinding] { findings.filter { !$0.isProblem } }
    public var isHealthy: Bool { problems.isEmpty }
}

extension Catalog {
    /// Compares the catalog with the disk: every checkpoint and weights file row against its file
    /// (existence, size, SHA-256 when `verifyChecksums`), and every file under
    /// `checkpointsDirectory` against the rows and the in-flight `file_intent`s. Read-only.
    public func check(verifyChecksums: Bool = true) throws -> CheckReport {
        // Scan before reading the rows: a file a concurrent save creates after the scan is not
        // seen, and one seen by the scan has its intent or row committed by the time of the read.
        let files = Self.regularFiles(under: checkpointsDirectory)
        let (checkpoints, weights, intents, runs) = try store.read { db in
            (
                try db.fetchAll(CheckpointRecord.self, orderBy: "id"),
                try db.fetchAll(WeightsFileRecord.self, orderBy: "id"),
                try db.fetchAll(FileIntentRecord.self, orderBy: "id"),
                try db.fetchAll(RunRecord.self, orderBy: "id")
            )
        }
        var findings: [CheckFinding] = []
        for run in runs where run.isAbandoned() {
            let owner = run.pid.map { "pid \($0) on \(run.host ?? "an unknown host")" } ?? "its process"
            findings.append(
                CheckFinding(
                    kind: .interruptedRun,
                    path: checkpointsDirectory.appendingPathComponent(Self.runDirectoryName(run.id!)).path,
                    detail:
                        "run \(run.id!) is marked running but \(owner) is gone: it can resume from its latest checkpoint",
                    runId: run.id))
        }
        // Files the catalog writes beside a run's checkpoints (its metrics file).
        let runIds = Set(runs.compactMap(\.id))

        func checkRow(path: String, bytes: Int64, sha256: String, checkpointId: Int64?, weightsId: Int64?) {
            let url = url(forStoredPath: path)
            func add(_ kind: CheckFinding.Kind, _ detail: String) {
                findings.append(
                    CheckFinding(
                        kind: kind, path: url.path, detail: detail,
                        checkpointId: checkpointId, weightsFileId: weightsId))
            }
            let owner = checkpointId.map { "checkpoint \($0)" } ?? "weights file \(weightsId ?? 0)"
            if AtomicFile.isTemporary(url.lastPathComponent) {
                add(.temporaryPathRow, "\(owner) points to a temporary file name")
                return
            }
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: url.path) else {
                add(.missingFile, "\(owner): file does not exist")
                return
            }
            let size = (attrs[.size] as? NSNumber)?.int64Value ?? -1
            if size != bytes {
                add(.sizeMismatch, "\(owner): catalog has \(bytes) bytes, file has \(size)")
                return
            }
            if verifyChecksums {
                do {
                    let actual = try SHA256.hex(of: url)
                    if actual != sha256 {
                        add(.checksumMismatch, "\(owner): catalog has sha256 \(sha256), file has \(actual)")
                    }
                } catch {
                    add(.missingFile, "\(owner): \(error.localizedDescription)")
                }
            }
        }
        for c in checkpoints {
            checkRow(path: c.path, bytes: c.bytes, sha256: c.sha256, checkpointId: c.id, weightsId: nil)
        }
        for w in weights {
            checkRow(path: w.path, bytes: w.bytes, sha256: w.sha256, checkpointId: nil, weightsId: w.id)
        }

        // Intents: files an interrupted (or running) save/delete may have left.
        let registered = Set(checkpoints.map(\.path)).union(weights.map(\.path))
        var intentPaths: [String: FileIntentRecord] = [:]
        for intent in intents {
            intentPaths[intent.path] = intent
            let url = url(forStoredPath: intent.path)
            let live = Self.processIsAlive(intent.pid) && Date().timeIntervalSince(intent.createdAt) < Self.staleAfter
            let kind: CheckFinding.Kind =
                live ? .inProgress : (intent.action == .save ? .interruptedSave : .interruptedDelete)
            var state = FileManager.default.fileExists(atPath: url.path) ? "file present" : "file absent"
            let temps = Self.temporarySiblings(of: url).count
            if temps > 0 { state += ", \(temps) temporary file(s)" }
            findings.append(
                CheckFinding(
                    kind: kind, path: url.path,
                    detail: "\(intent.action.rawValue) by pid \(intent.pid), \(state)",
                    intentId: intent.id))
        }

        // Files on disk that nothing accounts for.
        for url in files {
            let name = url.lastPathComponent
            let stored = storedPath(for: url)
            if registered.contains(stored) { continue }
            if let finalName = AtomicFile.finalName(forTemporary: name) {
                let finalStored = storedPath(for: url.deletingLastPathComponent().appendingPathComponent(finalName))
                if intentPaths[finalStored] != nil { continue }  // reported with its intent
                let pid = AtomicFile.writerPID(ofTemporary: name) ?? 0
                let age = Self.age(of: url)
                let live = pid != 0 && Self.processIsAlive(pid) && age < Self.staleAfter
                findings.append(
                    CheckFinding(
                        kind: live ? .inProgress : .leftoverTemporary, path: url.path,
                        detail: "temporary file of \(finalName), writer pid \(pid)"))
                continue
            }
            if intentPaths[stored] != nil { continue }
            if name == Self.metricsFileName, let run = Self.runId(ofDirectory: url.deletingLastPathComponent()),
                runIds.contains(run)
            {
                continue
            }
            // Deleted by a concurrent `deleteCheckpoint` since the scan: not an orphan.
            if !FileManager.default.fileExists(atPath: url.path) { continue }
            findings.append(
                CheckFinding(kind: .orphanFile, path: url.path, detail: "no catalog row refers to this file"))
        }
        // A row whose file vanished may have been deleted concurrently: keep only rows still there.
        let missingIds = findings.filter { $0.kind == .missingFile }.compactMap(\.checkpointId)
        if !missingIds.isEmpty {
            let still = try store.read { db in
                let list = missingIds.map(String.init).joined(separator: ", ")
                return Set(try db.integers("SELECT id FROM checkpoint WHERE id IN (\(list))"))
            }
            findings.removeAll { $0.kind == .missingFile && $0.checkpointId.map { !still.contains($0) } == true }
        }
        return CheckReport(
            findings: findings, checkpointsChecked: checkpoints.count,
            weightsFilesChecked: weights.count, filesScanned: files.count)
    }

    /// What `repair` did.
    public struct RepairSummary: Sendable, Equatable {
        public var actions: [String] = []
        public var skipped: [String] = []
    }

    /// Fixes what `check()` found. Leftovers of interrupted writes are removed; rows whose file is
    /// missing are deleted; damaged and orphan files are moved to `lost+found/` (never deleted)
    /// and damaged files' rows deleted; a row pointing to a temporary name is renamed to its
    /// final name when its file verifies. Work another live process is doing is left alone.
    public func repair(_ report: CheckReport) throws -> RepairSummary {
        var summary = RepairSummary()
        for f in report.findings {
            switch f.kind {
            case .inProgress:
                summary.skipped.append("left \(f.path) alone: \(f.detail)")
            case .leftoverTemporary:
                try removeFile(f.path)
                summary.actions.append("removed leftover temporary \(f.path)")
            case .interruptedSave, .interruptedDelete:
                guard let intentId = f.intentId else { continue }
                let (intent, referenced): (FileIntentRecord?, Bool) = try store.read { db in
                    guard let intent = try db.fetchOne(FileIntentRecord.self, id: intentId) else { return (nil, false) }
                    let referenced =
                        try db.count(CheckpointRecord.self, where: "path = ?", [intent.path]) > 0
                        || db.count(WeightsFileRecord.self, where: "path = ?", [intent.path]) > 0
                    return (intent, referenced)
                }
                guard let intent else { continue }
                let url = url(forStoredPath: intent.path)
                if !referenced { try removeFile(url.path) }
                if intent.action == .save {
                    for temp in Self.temporarySiblings(of: url) { try removeFile(temp.path) }
                }
                try store.write { db in _ = try db.delete(FileIntentRecord.self, id: intentId) }
                summary.actions.append("finished interrupted \(intent.action.rawValue) of \(url.path)")
            case .missingFile:
                try deleteRow(of: f)
                summary.actions.append("deleted the row of missing \(f.path)")
            case .sizeMismatch, .checksumMismatch:
                try quarantine(f.path)
                try deleteRow(of: f)
                summary.actions.append("moved damaged \(f.path) to \(lostAndFoundDirectory.path) and deleted its row")
            case .orphanFile:
                try quarantine(f.path)
                summary.actions.append("moved orphan \(f.path) to \(lostAndFoundDirectory.path)")
            case .interruptedRun:
                guard let runId = f.runId, try run(id: runId).isAbandoned() else { continue }
                _ = try markRun(runId, status: .interrupted, error: "its process was gone")
                summary.actions.append(
                    "marked run \(runId) interrupted: it can resume from its latest checkpoint")
            case .temporaryPathRow:
                try repairTemporaryPathRow(f, summary: &summary)
            }
        }
        return summary
    }

    private func repairTemporaryPathRow(_ f: CheckFinding, summary: inout RepairSummary) throws {
        let tempURL = URL(fileURLWithPath: f.path)
        guard let finalName = AtomicFile.finalName(forTemporary: tempURL.lastPathComponent) else { return }
        let finalURL = tempURL.deletingLastPathComponent().appendingPathComponent(finalName)
        let expected: String? = try store.read { db in
            if let id = f.checkpointId { return try db.fetchOne(CheckpointRecord.self, id: id)?.sha256 }
            if let id = f.weightsFileId { return try db.fetchOne(WeightsFileRecord.self, id: id)?.sha256 }
            return nil
        }
        let verifies =
            FileManager.default.fileExists(atPath: tempURL.path)
            && !FileManager.default.fileExists(atPath: finalURL.path)
            && (try? SHA256.hex(of: tempURL)) == expected
        if !verifies {
            try deleteRow(of: f)
            summary.actions.append("deleted the row pointing to temporary \(f.path)")
            return
        }
        if rename(tempURL.path, finalURL.path) != 0 {
            throw CatalogError.io(path: finalURL.path, operation: "rename", errno: errno)
        }
        try? AtomicFile.fsyncDirectory(finalURL.deletingLastPathComponent())
        let newPath = storedPath(for: finalURL)
        try store.write { db in
            if let id = f.checkpointId {
                try db.execute("UPDATE checkpoint SET path = ? WHERE id = ?", [newPath, id])
            } else if let id = f.weightsFileId {
                try db.execute("UPDATE weights_file SET path = ? WHERE id = ?", [newPath, id])
            }
        }
        summary.actions.append("renamed \(f.path) to \(finalURL.path) and updated its row")
    }

    private func deleteRow(of f: CheckFinding) throws {
        try store.write { db in
            if let id = f.checkpointId { try db.delete(CheckpointRecord.self, id: id) }
            if let id = f.weightsFileId { try db.delete(WeightsFileRecord.self, id: id) }
        }
    }

    private func removeFile(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw CatalogError.io(path: path, operation: "unlink", errno: errno) }
    }

    private func quarantine(_ path: String) throws {
        let source = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: source.path) else { return }
        let relative = storedPath(for: source)
        var destination = lostAndFoundDirectory.appendingPathComponent(
            relative.hasPrefix("/") ? source.lastPathComponent : relative)
        try FileManager.default.createDirectory(
            at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        var n = 1
        while FileManager.default.fileExists(atPath: destination.path) {
            destination = destination.deletingLastPathComponent().appendingPathComponent(
                "\(source.lastPathComponent).\(n)")
            n += 1
        }
        if rename(source.path, destination.path) != 0 {
            throw CatalogError.io(path: source.path, operation: "move to lost+found", errno: errno)
        }
    }

    /// Intents and temporary files older than this are stale even if their pid is in use again.
    static let staleAfter: TimeInterval = 6 * 3600

    static func processIsAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    static func age(of url: URL) -> TimeInterval {
        let date = (try? FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate]) as? Date
        return date.map { Date().timeIntervalSince($0) } ?? .infinity
    }

    static func temporarySiblings(of url: URL) -> [URL] {
        let dir = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent)\(AtomicFile.marker)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) }.map { dir.appendingPathComponent($0) }
    }

    static func regularFiles(under dir: URL) -> [URL] {
        guard let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey]) else {
            return []
        }
        var out: [URL] = []
        for case let url as URL in e {
            if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                out.append(url.standardizedFileURL)
            }
        }
        return out.sorted { $0.path < $1.path }
    }
}
