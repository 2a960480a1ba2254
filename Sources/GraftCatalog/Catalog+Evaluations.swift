import Foundation

extension Catalog {
    // MARK: Evaluations

    /// Stores one evaluation and returns it with its id. A weights path is stored as every
    /// catalog path is (relative inside the catalog's directory).
    /// - Parameter evaluation: the row; its `id` is ignored.
    /// - Throws: `CatalogError` when the checkpoint, run or ensemble it names does not exist.
    @discardableResult
    public func recordEvaluation(_ evaluation: EvaluationRecord) throws -> EvaluationRecord {
        let weightsPath = evaluation.weightsPath.map { storedPath(for: URL(fileURLWithPath: $0)) }
        return try store.write { db in
            var record = evaluation
            record.id = nil
            record.weightsPath = weightsPath
            try db.insert(&record)
            return record
        }
    }

    /// One evaluation.
    /// - Parameter id: its id.
    /// - Throws: `CatalogError.notFound`.
    public func evaluation(id: Int64) throws -> EvaluationRecord {
        guard let e = try store.read({ db in try db.fetchOne(EvaluationRecord.self, id: id) }) else {
            throw CatalogError.notFound(table: "evaluation", id: id)
        }
        return e
    }

    /// Evaluations, oldest first, optionally of one run's checkpoints or of one checkpoint.
    /// These are for reading: nothing that chooses a checkpoint, an ensemble member or a learning
    /// rate calls this.
    /// - Parameters:
    ///   - run: only evaluations of this run's checkpoints.
    ///   - checkpoint: only evaluations of this checkpoint.
    public func evaluations(run: Int64? = nil, checkpoint: Int64? = nil) throws -> [EvaluationRecord] {
        var terms: [String] = []
        var arguments: [any SQLBindable] = []
        if let run { terms.append("run_id = ?"); arguments.append(run) }
        if let checkpoint { terms.append("checkpoint_id = ?"); arguments.append(checkpoint) }
        let condition = terms.isEmpty ? nil : terms.joined(separator: " AND ")
        return try store.read { db in
            try db.fetchAll(EvaluationRecord.self, where: condition, arguments, orderBy: "id")
        }
    }
}
