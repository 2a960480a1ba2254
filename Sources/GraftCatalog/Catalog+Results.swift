import Foundation
import GRDB
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
        return try writer.write { db in
            if var existing = try WeightsFileRecord.filter(Column("path") == path).fetchOne(db) {
                existing.modelId = modelId; existing.sha256 = digest.hex; existing.bytes = digest.bytes
                try existing.update(db)
                return existing
            }
            var record = WeightsFileRecord(path: path, modelId: modelId, sha256: digest.hex, bytes: digest.bytes)
            try record.insert(db)
            return record
        }
    }

    /// All registered weights files.
    public func weightsFiles() throws -> [WeightsFileRecord] {
        try writer.read { db in try WeightsFileRecord.order(Column("id")).fetchAll(db) }
    }

    /// Finds the dataset with this root and content hash, or registers it.
    @discardableResult
    public func registerDataset(root: String, classNames: [String], contentHash: String) throws -> DatasetRecord {
        try writer.write { db in
            if let existing = try DatasetRecord.filter(Column("root") == root && Column("content_hash") == contentHash)
                .fetchOne(db)
            {
                return existing
            }
            var record = DatasetRecord(root: root, classNames: classNames, contentHash: contentHash)
            try record.insert(db)
            return record
        }
    }

    /// Finds the identical split (dataset, seed, fraction, file list), or registers it.
    @discardableResult
    public func registerSplit(_ split: SplitRecord) throws -> SplitRecord {
        try writer.write { db in
            if let existing = try SplitRecord.filter(
                Column("dataset_id") == split.datasetId && Column("seed") == split.seed
                    && Column("val_fraction") == split.valFraction && Column("file_list_hash") == split.fileListHash
            ).fetchOne(db) {
                return existing
            }
            var record = split
            record.id = nil
            try record.insert(db)
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
        try writer.write { db in
            var test = test
            test.id = nil
            try test.insert(db)
            let id = test.id!
            var storedPoints = points
            for i in storedPoints.indices {
                storedPoints[i].lrTestId = id
                try storedPoints[i].insert(db)
            }
            var storedSuggestions = suggestions
            for i in storedSuggestions.indices {
                storedSuggestions[i].lrTestId = id
                try storedSuggestions[i].insert(db)
            }
            return LRTestResult(test: test, points: storedPoints, suggestions: storedSuggestions)
        }
    }

    /// One LR range test with its curve (step order) and suggestions.
    /// - Throws: `CatalogError.notFound`.
    public func lrRangeTest(id: Int64) throws -> LRTestResult {
        try writer.read { db in
            guard let test = try LRTestRecord.fetchOne(db, key: id) else {
                throw CatalogError.notFound(table: "lr_test", id: id)
            }
            let points = try LRTestPointRecord.filter(Column("lr_test_id") == id).order(Column("step")).fetchAll(db)
            let suggestions = try LRSuggestionRecord.filter(Column("lr_test_id") == id).order(Column("method"))
                .fetchAll(db)
            return LRTestResult(test: test, points: points, suggestions: suggestions)
        }
    }

    /// LR range tests, newest first, optionally for one run or one model.
    public func lrRangeTests(run: Int64? = nil, modelId: String? = nil) throws -> [LRTestRecord] {
        try writer.read { db in
            var request = LRTestRecord.all()
            if let run { request = request.filter(Column("run_id") == run) }
            if let modelId { request = request.filter(Column("model_id") == modelId) }
            return try request.order(Column("id").desc).fetchAll(db)
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
        try writer.write { db in
            var ensemble = ensemble
            ensemble.id = nil
            if ensemble.gain == nil, let best = ensemble.bestSingleAccuracy { ensemble.gain = ensemble.accuracy - best }
            try ensemble.insert(db)
            var stored = members
            for i in stored.indices {
                stored[i].ensembleId = ensemble.id!
                try stored[i].insert(db)
            }
            return EnsembleResult(ensemble: ensemble, members: stored)
        }
    }

    /// Ensemble evaluations, oldest first, optionally for one run; members in position order.
    public func ensembles(run: Int64? = nil) throws -> [EnsembleResult] {
        try writer.read { db in
            var request = EnsembleRecord.all()
            if let run { request = request.filter(Column("run_id") == run) }
            return try request.order(Column("id")).fetchAll(db).map { e in
                let members = try EnsembleMemberRecord.filter(Column("ensemble_id") == e.id!)
                    .order(Column("position")).fetchAll(db)
                return EnsembleResult(ensemble: e, members: members)
            }
        }
    }
}
