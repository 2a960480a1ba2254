import Foundation

/// A retention policy such as `best:3,minima,last`: which checkpoints of a run to keep.
///
/// Items, comma-separated (a checkpoint is kept when any item keeps it):
/// - `best:N` or `best:N:METRIC`: the N best by METRIC (default `val_acc`; also `val_loss`,
///   `train_acc`, `train_loss`);
/// - `minima`: every checkpoint taken at a schedule minimum (snapshot-ensemble members);
/// - `last` or `last:N`: the newest one (or N), by epoch then step;
/// - `every:K`: checkpoints whose epoch is a multiple of K;
/// - `all`: everything.
public struct KeepSpec: Sendable, Equatable, CustomStringConvertible {
    /// One item of a spec: `best:N:METRIC`, `minima`, `last:N`, `every:K` or `all`.
    public enum Item: Sendable, Equatable {
        case best(Int, CheckpointMetric)
        case minima
        case last(Int)
        case every(Int)
        case all
    }

    public var items: [Item]

    public init(items: [Item]) { self.items = items }

    /// Parses a spec.
    /// - Throws: `CatalogError.invalidKeepSpec` naming the spec and the bad item.
    public init(parsing spec: String) throws {
        var items: [Item] = []
        let parts = spec.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !spec.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw CatalogError.invalidKeepSpec(spec: spec, reason: "empty; e.g. best:3,minima,last")
        }
        func count(_ text: Substring, _ item: String) throws -> Int {
            guard let n = Int(text), n > 0 else {
                throw CatalogError.invalidKeepSpec(spec: spec, reason: "'\(item)' needs a positive count")
            }
            return n
        }
        for part in parts {
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            switch fields.first.map(String.init) ?? "" {
            case "best":
                guard fields.count == 2 || fields.count == 3 else {
                    throw CatalogError.invalidKeepSpec(spec: spec, reason: "'\(part)': use best:N or best:N:METRIC")
                }
                let metric: CheckpointMetric
                do {
                    metric = fields.count == 3 ? try CheckpointMetric.parse(String(fields[2])) : .valAcc
                } catch {
                    throw CatalogError.invalidKeepSpec(spec: spec, reason: "'\(part)': unknown metric \(fields[2])")
                }
                items.append(.best(try count(fields[1], part), metric))
            case "minima", "minimum":
                guard fields.count == 1 else {
                    throw CatalogError.invalidKeepSpec(spec: spec, reason: "'\(part)' takes no count")
                }
                items.append(.minima)
            case "last":
                guard fields.count <= 2 else {
                    throw CatalogError.invalidKeepSpec(spec: spec, reason: "'\(part)': use last or last:N")
                }
                items.append(.last(fields.count == 2 ? try count(fields[1], part) : 1))
            case "every":
                guard fields.count == 2 else {
                    throw CatalogError.invalidKeepSpec(spec: spec, reason: "'\(part)': use every:K")
                }
                items.append(.every(try count(fields[1], part)))
            case "all":
                items.append(.all)
            default:
                throw CatalogError.invalidKeepSpec(
                    spec: spec,
                    reason: "unknown item '\(part)' (expected best:N[:metric], minima, last[:N], every:K, all)")
            }
        }
        self.items = items
    }

    /// The spec as written (`best:3,minima,last`), which parses back to the same items.
    public var description: String {
        items.map { item in
            switch item {
            case .best(let n, let m): m == .valAcc ? "best:\(n)" : "best:\(n):\(m.rawValue)"
            case .minima: "minima"
            case .last(let n): n == 1 ? "last" : "last:\(n)"
            case .every(let k): "every:\(k)"
            case .all: "all"
            }
        }.joined(separator: ",")
    }

    /// Why each checkpoint is kept: ids mapped to the items that keep them. Ids absent from the
    /// result are to be deleted.
    public func reasonsToKeep(_ checkpoints: [CheckpointRecord]) -> [Int64: [String]] {
        var keep: [Int64: [String]] = [:]
        let newestFirst = checkpoints.sorted {
            ($0.epoch, $0.globalStep, $0.id ?? 0) > ($1.epoch, $1.globalStep, $1.id ?? 0)
        }
        for item in items {
            let chosen: [CheckpointRecord]
            let label: String
            switch item {
            case .best(let n, let metric):
                label = metric == .valAcc ? "best:\(n)" : "best:\(n):\(metric.rawValue)"
                chosen = Array(
                    checkpoints.filter { metric.value(of: $0) != nil }.sorted { a, b in
                        let x = metric.value(of: a)!, y = metric.value(of: b)!
                        if x != y { return metric.higherIsBetter ? x > y : x < y }
                        return (a.id ?? 0) < (b.id ?? 0)
                    }.prefix(n))
            case .minima:
                label = "minima"
                chosen = checkpoints.filter(\.isMinimum)
            case .last(let n):
                label = n == 1 ? "last" : "last:\(n)"
                chosen = Array(newestFirst.prefix(n))
            case .every(let k):
                label = "every:\(k)"
                chosen = checkpoints.filter { $0.epoch % k == 0 }
            case .all:
                label = "all"
                chosen = checkpoints
            }
            for c in chosen { if let id = c.id { keep[id, default: []].append(label) } }
        }
        return keep
    }
}

/// What `prune` keeps, deletes and strips.
public struct PrunePlan: Sendable, Equatable {
    public var kept: [(checkpoint: CheckpointRecord, reasons: [String])]
    public var deleted: [CheckpointRecord]
    /// Kept checkpoints whose optimizer state is (or, in a dry run, would be) removed.
    public var stripped: [CheckpointRecord]
    public var dryRun: Bool

    public var bytesFreed: Int64 { deleted.reduce(0) { $0 + $1.bytes } }

    public static func == (a: PrunePlan, b: PrunePlan) -> Bool {
        a.kept.map(\.checkpoint) == b.kept.map(\.checkpoint) && a.kept.map(\.reasons) == b.kept.map(\.reasons)
            && a.deleted == b.deleted && a.stripped == b.stripped && a.dryRun == b.dryRun
    }
}

extension Catalog {
    /// Applies a retention policy to one run: checkpoints `keep` does not select are deleted,
    /// row and file together (see `deleteCheckpoint`). With `stripOptimizer`, kept checkpoints
    /// other than the newest (which a resume needs whole) lose their optimizer state.
    /// - Parameters:
    ///   - run: the run whose checkpoints are pruned.
    ///   - keep: the policy, e.g. `try KeepSpec(parsing: "best:3,minima,last")`.
    ///   - stripOptimizer: writes a copy of its first argument without optimizer state at its
    ///     second (the HDF5 layout belongs to the caller).
    ///   - dryRun: compute the plan, change nothing.
    /// - Throws: `CatalogError.notFound` for an unknown run, or what deleting/stripping throws.
    @discardableResult
    public func prune(
        run: Int64, keep: KeepSpec, stripOptimizer: ((URL, URL) throws -> Void)? = nil,
        dryRun: Bool = false
    ) throws -> PrunePlan {
        _ = try self.run(id: run)
        let all = try checkpoints(filter: CheckpointFilter(run: run)).map(\.checkpoint)
        let reasons = keep.reasonsToKeep(all)
        let kept = all.filter { reasons[$0.id!] != nil }
        let deleted = all.filter { reasons[$0.id!] == nil }
        let newest = all.max { ($0.epoch, $0.globalStep, $0.id!) < ($1.epoch, $1.globalStep, $1.id!) }
        let toStrip = stripOptimizer == nil ? [] : kept.filter { $0.hasOptimizerState && $0.id != newest?.id }
        var plan = PrunePlan(
            kept: kept.map { ($0, reasons[$0.id!]!) }, deleted: deleted, stripped: toStrip, dryRun: dryRun)
        if dryRun { return plan }
        for c in deleted { try deleteCheckpoint(id: c.id!) }
        if let stripOptimizer {
            var stripped: [CheckpointRecord] = []
            for c in toStrip { stripped.append(try stripOptimizerState(checkpoint: c.id!, strip: stripOptimizer)) }
            plan.stripped = stripped
            let byId = Dictionary(uniqueKeysWithValues: stripped.map { ($0.id!, $0) })
            plan.kept = plan.kept.map { (byId[$0.checkpoint.id!] ?? $0.checkpoint, $0.reasons) }
        }
        return plan
    }
}

/// Stored as the spec's text, as run configurations recorded it before it had a type.
extension KeepSpec: Codable {
    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
