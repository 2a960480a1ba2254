import Foundation
import GraftSupport

extension Catalog {
    // MARK: Weights files, datasets, splits

    /// Registers a weights file (or refreshes its hash and size when the path is known).
    /// `sha256`/`bytes` are computed from the file when nil.
    /// - Throws: `CatalogError.io` naming the file when it cannot be read.
    @discardableResult
    public func registerWeightsFile(
        at url: URL, modelId: String, sha256: String? = nil, bytes: Int64? = nil
    ) throws -> WeightsFileRecord {
        var digest = (hex: sha256 ?? "", bytes: bytes ?? 0)
        if sha256 == nil || bytes == nil {
            digest = try CatalogError.translatingFileErrors { try SHA256.hexAndSize(of: url) }
        }
        let path = storedPath(for: url)
        return try store.writeAlone { db in
            if var existing = try db.fetchOne(WeightsFileRecord.self, where: "path = ?", [path]) {
                existing.modelId = modelId; existing.sha256 = digest.hex; existing.bytes = digest.bytes
                try db.update(existing)
                return existing
            }
            var record = WeightsFileRecord(path: path, modelId: modelId, sha256: digest.hex, bytes: digest.bytes)
            try db.insert(&record)
            return record
        }
    }

    /// All registered weights files.
    public func weightsFiles() throws -> [WeightsFileRecord] {
        try store.read { db in try db.fetchAll(WeightsFileRecord.self, orderBy: "id") }
    }

    /// Finds the dataset with this root and content hash, or registers it.
    @discardableResult
    public func registerDataset(root: String, classNames: [String], contentHash: String) throws -> DatasetRecord {
        try store.writeAlone { db in
            if let existing = try db.fetchOne(
                DatasetRecord.self, where: "root = ? AND content_hash = ?", [root, contentHash])
            {
                return existing
            }
            var record = DatasetRecord(root: root, classNames: classNames, contentHash: contentHash)
            try db.insert(&record)
            return record
        }
    }

    /// Finds the identical split (dataset, seed, fraction, file list), or registers it.
    @discardableResult
    public func registerSplit(_ split: SplitRecord) throws -> SplitRecord {
        try store.writeAlone { db in
            if let existing = try db.fetchOne(
                SplitRecord.self, where: "dataset_id = ? AND seed = ? AND val_fraction = ? AND file_list_hash = ?",
                [split.datasetId, split.seed, split.valFraction, split.fileListHash])
            {
                return existing
            }
            var record = split
            record.id = nil
            try db.insert(&record)
            return record
        }
    }

    // MARK: LR range tests

    /// A stored LR range test with its curve and suggestions.
    public struct LRTestResult: Sendable, Equatable {
        public var test: LRTestRecord
        public var points: [LRTestPointRecord]
        public var suggestions: [LRSuggestionRecord]
    }

    /// Stores an LR range test, its whole curve and every suggestion, in one transaction.
    @discardableResult
    public func saveLRRangeTest(
        _ test: LRTestRecord, points: [LRTestPointRecord],
        suggestions: [LRSuggestionRecord]
    ) throws -> LRTestResult {
        try store.write { db in
            var test = test
            test.id = nil
            try db.insert(&test)
            let id = test.id!
            var storedPoints = points
            for i in storedPoints.indices {
                storedPoints[i].lrTestId = id
                try db.insertRow(storedPoints[i])
            }
            var storedSuggestions = suggestions
            for i in storedSuggestions.indices {
                storedSuggestions[i].lrTestId = id
                try db.insertRow(storedSuggestions[i])
            }
            return LRTestResult(test: test, points: storedPoints, suggestions: storedSuggestions)
        }
    }

    /// One LR range test with its curve (step order) and suggestions.
    /// - Throws: `CatalogError.notFound`.
    public func lrRangeTest(id: Int64) throws -> LRTestResult {
        try store.read { db in
            guard let test = try db.fetchOne(LRTestRecord.self, id: id) else {
                throw CatalogError.notFound(table: "lr_test", id: id)
            }
            let points = try db.fetchAll(LRTestPointRecord.self, where: "lr_test_id = ?", [id], orderBy: "step")
            let suggestions = try db.fetchAll(
                LRSuggestionRecord.self, where: "lr_test_id = ?", [id], orderBy: "method")
            return LRTestResult(test: test, points: points, suggestions: suggestions)
        }
    }

    /// LR range tests, newest first, optionally for one run or one model.
    public func lrRangeTests(run: Int64? = nil, modelId: String? = nil) throws -> [LRTestRecord] {
        var terms: [String] = []
        var arguments: [any SQLBindable] = []
        if let run { terms.append("run_id = ?"); arguments.append(run) }
        if let modelId { terms.append("model_id = ?"); arguments.append(modelId) }
        let condition = terms.isEmpty ? nil : terms.joined(separator: " AND ")
        return try store.read { db in
            try db.fetchAll(LRTestRecord.self, where: condition, arguments, orderBy: "id DESC")
        }
    }

    /// Links LR range test `id` to the run that took its rates (`--lr auto`), unless it is
    /// linked already: a reused test stays with the first run that used it.
    /// - Throws: `CatalogError.notFound` when there is no such test.
    public func linkLRRangeTest(_ id: Int64, toRun run: Int64) throws {
        try store.write { db in
            guard var test = try db.fetchOne(LRTestRecord.self, id: id) else {
                throw CatalogError.notFound(table: "lr_test", id: id)
            }
            guard test.runId == nil else { return }
            test.runId = run
            try db.update(test)
        }
    }

    // MARK: Ensembles

    /// A stored ensemble evaluation with its per-member results.
    public struct EnsembleResult: Sendable, Equatable {
        public var ensemble: EnsembleRecord
        public var members: [EnsembleMemberRecord]
    }

    /// Stores an ensemble evaluation and its members in one transaction. `gain` is filled from
    /// `accuracy - bestSingleAccuracy` when not given.
    @discardableResult
    public func saveEnsemble(_ ensemble: EnsembleRecord, members: [EnsembleMemberRecord]) throws -> EnsembleResult {
        try store.write { db in
            var ensemble = ensemble
            ensemble.id = nil
            if ensemble.gain == nil, let best = ensemble.bestSingleAccuracy { ensemble.gain = ensemble.accuracy - best }
            try db.insert(&ensemble)
            var stored = members
            for i in stored.indices {
                stored[i].ensembleId = ensemble.id!
                try db.insertRow(stored[i])
            }
            return EnsembleResult(ensemble: ensemble, members: stored)
        }
    }

    /// One stored ensemble evaluation with its members in position order.
    /// - Throws: `CatalogError.notFound` when there is no such ensemble.
    public func ensemble(id: Int64) throws -> EnsembleResult {
        try store.read { db in
            guard let ensemble = try db.fetchOne(EnsembleRecord.self, id: id) else {
                throw CatalogError.notFound(table: "ensemble", id: id)
            }
            let members = try db.fetchAll(
                EnsembleMemberRecord.self, where: "ensemble_id = ?", [id], orderBy: "position")
            return EnsembleResult(ensemble: ensemble, members: members)
        }
    }

    /// Ensemble evaluations, oldest first, optionally for one run; members in position order.
    public func ensembles(run: Int64? = nil) throws -> [EnsembleResult] {
        try store.read { db in
            let ensembles =
                try run.map { try db.fetchAll(EnsembleRecord.self, where: "run_id = ?", [$0], orderBy: "id") }
                ?? db.fetchAll(EnsembleRecord.self, orderBy: "id")
            return try ensembles.map { e in
                let members = try db.fetchAll(
                    EnsembleMemberRecord.self, where: "ensemble_id = ?", [e.id!], orderBy: "position")
                return EnsembleResult(ensemble: e, members: members)
            }
        }
    }
}
