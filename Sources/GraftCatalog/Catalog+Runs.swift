import Foundation

/// Which runs `runs(filter:)` returns; nil fields do not filter.
public struct RunFilter: Sendable, Equatable {
    public var optimizer: String?
    public var modelId: String?
    public var splitId: Int64?
    public var comparisonId: Int64?
    public var comparisonCell: Int?
    public var status: RunStatus?
    public var freezeSpec: String?

    public init(
        optimizer: String? = nil, modelId: String? = nil, splitId: Int64? = nil,
        comparisonId: Int64? = nil, comparisonCell: Int? = nil, status: RunStatus? = nil, freezeSpec: String? = nil
    ) {
        self.optimizer = optimizer; self.modelId = modelId; self.splitId = splitId
        self.comparisonId = comparisonId; self.comparisonCell = comparisonCell; self.status = status
        self.freezeSpec = freezeSpec
    }
}

/// JSON text for the catalog's JSON columns: keys sorted, so equal settings give equal text.
public enum CatalogJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

extension Catalog {
    // MARK: Runs

    /// Inserts a new run and returns it with its id.
    @discardableResult
    public func createRun(_ run: RunRecord) throws -> RunRecord {
        var run = run
        run.id = nil
        if run.status == .running { run.claimForThisProcess() }
        return try store.write { db in
            try db.insert(&run)
            return run
        }
    }

    /// Moves a run to `status`, stamping `started_at` when it starts running and `finished_at`
    /// when it finishes, fails, is interrupted or stops early. `message` is the error of a failed
    /// run, or the reason of an early stop (`stop_reason`).
    /// - Throws: `CatalogError.notFound` when there is no such run.
    @discardableResult
    public func markRun(
        _ id: Int64, status: RunStatus, error message: String? = nil, at date: Date = Date()
    ) throws -> RunRecord {
        try store.write { db in
            guard var run = try db.fetchOne(RunRecord.self, id: id) else {
                throw CatalogError.notFound(table: "run", id: id)
            }
            run.status = status
            switch status {
            case .running:
                if run.startedAt == nil { run.startedAt = date }
                run.finishedAt = nil
                run.errorMessage = nil
                run.stopReason = nil
                run.claimForThisProcess(at: date)
            case .finished, .failed, .interrupted:
                run.finishedAt = date
                run.errorMessage = message
            case .stoppedEarly:
                run.finishedAt = date
                run.stopReason = message
            case .queued:
                break
            }
            try db.update(run)
            return run
        }
    }

    /// Records that run `id` trains cell `cell` of its comparison.
    /// - Throws: `CatalogError.notFound` when there is no such run.
    public func setComparisonCell(run id: Int64, cell: Int) throws {
        try store.write { db in
            guard var run = try db.fetchOne(RunRecord.self, id: id) else {
                throw CatalogError.notFound(table: "run", id: id)
            }
            run.comparisonCell = cell
            try db.update(run)
        }
    }

    /// The run with this id.
    /// - Throws: `CatalogError.notFound`.
    public func run(id: Int64) throws -> RunRecord {
        guard let run = try store.read({ db in try db.fetchOne(RunRecord.self, id: id) }) else {
            throw CatalogError.notFound(table: "run", id: id)
        }
        return run
    }

    /// Runs matching `filter`, oldest first.
    public func runs(filter: RunFilter = RunFilter()) throws -> [RunRecord] {
        var terms: [String] = []
        var arguments: [any SQLBindable] = []
        func match(_ column: String, _ value: (any SQLBindable)?) {
            guard let value else { return }
            terms.append("\(column) = ?")
            arguments.append(value)
        }
        match("optimizer", filter.optimizer)
        match("model_id", filter.modelId)
        match("split_id", filter.splitId)
        match("comparison_id", filter.comparisonId)
        match("comparison_cell", filter.comparisonCell)
        match("status", filter.status)
        match("freeze_spec", filter.freezeSpec)
        let condition = terms.isEmpty ? nil : terms.joined(separator: " AND ")
        return try store.read { db in try db.fetchAll(RunRecord.self, where: condition, arguments, orderBy: "id") }
    }

    // MARK: Epoch metrics

    /// Records (or replaces, on a re-run of the same epoch) the metrics of one epoch.
    @discardableResult
    public func recordEpoch(_ metric: EpochMetricRecord) throws -> EpochMetricRecord {
        var metric = metric
        metric.id = nil
        return try store.write { db in
            try db.execute("DELETE FROM epoch_metric WHERE run_id = ? AND epoch = ?", [metric.runId, metric.epoch])
            try db.insert(&metric)
            try db.execute(
                "UPDATE run SET heartbeat_at = ? WHERE id = ? AND status = 'running'", [Date(), metric.runId])
            return metric
        }
    }

    /// A run's status as a user should see it: a `running` run whose process is gone (same host,
    /// no such pid) or that has not reported for `staleAfter` is `interrupted`.
    public func effectiveStatus(of run: RunRecord) -> RunStatus {
        run.isAbandoned() ? .interrupted : run.status
    }

    /// A run's epoch metrics in epoch order.
    public func epochMetrics(run: Int64) throws -> [EpochMetricRecord] {
        try store.read { db in try db.fetchAll(EpochMetricRecord.self, where: "run_id = ?", [run], orderBy: "epoch") }
    }

    // MARK: Comparisons

    /// Finds the comparison called `name`, or creates it. An interrupted comparison is resumed by
    /// calling this again with the same configuration and skipping its finished runs
    /// (`runs(filter: .init(comparisonId:))`).
    /// - Returns: the comparison and whether it was created now.
    /// - Throws: `CatalogError.comparisonConfigMismatch` when it exists with another configuration.
    public func findOrCreateComparison(
        name: String, config: String
    ) throws -> (comparison: ComparisonRecord, created: Bool) {
        try store.writeAlone { db in
            if let existing = try db.fetchOne(ComparisonRecord.self, where: "name = ?", [name]) {
                guard Self.sameJSON(existing.config, config) else {
                    throw CatalogError.comparisonConfigMismatch(name: name)
                }
                return (existing, false)
            }
            var record = ComparisonRecord(name: name, config: config)
            try db.insert(&record)
            return (record, true)
        }
    }

    /// The comparison with this id.
    /// - Throws: `CatalogError.notFound`.
    public func comparison(id: Int64) throws -> ComparisonRecord {
        guard let c = try store.read({ db in try db.fetchOne(ComparisonRecord.self, id: id) }) else {
            throw CatalogError.notFound(table: "comparison", id: id)
        }
        return c
    }

    /// All comparisons, oldest first.
    public func comparisons() throws -> [ComparisonRecord] {
        try store.read { db in try db.fetchAll(ComparisonRecord.self, orderBy: "id") }
    }

    static func sameJSON(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard let x = try? JSONSerialization.jsonObject(with: Data(a.utf8), options: [.fragmentsAllowed]),
            let y = try? JSONSerialization.jsonObject(with: Data(b.utf8), options: [.fragmentsAllowed]),
            let xs = try? JSONSerialization.data(withJSONObject: x, options: [.sortedKeys, .fragmentsAllowed]),
            let ys = try? JSONSerialization.data(withJSONObject: y, options: [.sortedKeys, .fragmentsAllowed])
        else { return false }
        return xs == ys
    }
}

extension Catalog {
    /// Row counts of the catalog's tables, for `graft catalog info`.
    public func tableCounts() throws -> [(table: String, rows: Int64)] {
        let tables = [
            "run", "epoch_metric", "checkpoint", "weights_file", "dataset", "split", "comparison",
            "lr_test", "ensemble", "file_intent",
        ]
        return try store.read { db in
            try tables.map { ($0, try db.integers("SELECT COUNT(*) FROM \($0)").first ?? 0) }
        }
    }
}

extension RunRecord {
    /// This machine's name, as recorded in `host`.
    public static var currentHost: String { ProcessInfo.processInfo.hostName }

    /// Records this process as the run's trainer.
    mutating func claimForThisProcess(at date: Date = Date()) {
        host = Self.currentHost
        pid = getpid()
        heartbeatAt = date
    }

    /// True for a `running` run nobody is training any more: its process is gone from this host,
    /// or it has not reported for `Catalog.staleAfter` (another host, or no owner recorded).
    public func isAbandoned(now: Date = Date()) -> Bool {
        guard status == .running else { return false }
        if let host, let pid, host == Self.currentHost { return !Catalog.processIsAlive(pid) }
        let last = heartbeatAt ?? startedAt ?? createdAt
        return now.timeIntervalSince(last) > Catalog.staleAfter
    }
}
