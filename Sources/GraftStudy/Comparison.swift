import Foundation
import GraftCatalog
import GraftOptim
import GraftSupport
import GraftTraining

/// One optimizer of a comparison: with PyTorch's defaults and a constant learning rate, or
/// `cyclical`, with the study's triangular cyclical learning rate between max/6 and max (the
/// entry `sgd-clr`). Written `adam` or `sgd-clr` on the command line and in the plan's JSON.
public struct ComparisonEntry: Hashable, Sendable, Codable, CodingKeyRepresentable, CustomStringConvertible {
    public var optimizer: OptimizerKind
    public var cyclical: Bool

    public init(_ optimizer: OptimizerKind, cyclical: Bool = false) {
        self.optimizer = optimizer
        self.cyclical = cyclical
    }

    /// Parses `adam` or `sgd-clr`, case-insensitively.
    /// - Throws: `GraftOptimError.unknownOptimizer` naming the optimizer.
    public init(parsing text: String) throws {
        let key = text.trimmingCharacters(in: .whitespaces).lowercased()
        let cyclical = key.hasSuffix(Self.cyclicalSuffix)
        self.init(
            try OptimizerKind(parsing: String(key.dropLast(cyclical ? Self.cyclicalSuffix.count : 0))),
            cyclical: cyclical)
    }

    private static let cyclicalSuffix = "-clr"

    public var description: String { optimizer.rawValue + (cyclical ? Self.cyclicalSuffix : "") }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public var codingKey: any CodingKey { EntryKey(stringValue: description) }

    public init?<T: CodingKey>(codingKey: T) { try? self.init(parsing: codingKey.stringValue) }

    private struct EntryKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// A study like the one Graft grew from: the same model and data trained with several
/// optimizers, several runs each, every run a catalog run of one comparison.
public struct ComparisonPlan: Codable, Sendable, Equatable {
    public var optimizers: [ComparisonEntry]
    public var runs: Int
    /// The shared configuration; its optimizer and schedule are replaced per entry.
    public var base: RunConfiguration
    /// Upper bound of the cyclical schedule; nil runs an LR range test first (study rule).
    public var clrMax: Double?
    /// Half-cycle length in epochs for the cyclical entries.
    public var clrStepEpochs: Int
    /// Explicit learning rates per entry (`adam=3e-4`); others use PyTorch's defaults.
    public var learningRates: [ComparisonEntry: Double] = [:]
    /// `--lr auto`: each entry without a rate in `learningRates` (a cyclical one: without
    /// `clrMax`) takes it from an LR range test of its own set-up (`AutoLearningRate`), reused from
    /// the catalog when one matches. nil or false: PyTorch's defaults, and the study's range test
    /// for the cyclical bound.
    public var autoLearningRates: Bool?
    /// Where `--lr auto` took each entry's rates from, once the comparison has begun.
    public var learningRateSources: [ComparisonEntry: LearningRateSource]?
    public var name: String

    public init(
        optimizers: [ComparisonEntry], runs: Int, base: RunConfiguration, clrMax: Double?, clrStepEpochs: Int,
        name: String
    ) {
        self.optimizers = optimizers
        self.runs = runs
        self.base = base
        self.clrMax = clrMax
        self.clrStepEpochs = clrStepEpochs
        self.name = name
    }

    /// The run configuration of entry `entry`, run `run` (0-based): seed = base seed + run.
    public func configuration(entry: ComparisonEntry, run: Int, clrMax: Double) -> RunConfiguration {
        var config = base
        config.seed = base.seed &+ UInt64(run)
        var optimizer = OptimizerConfig(kind: entry.optimizer)
        if optimizer.kind == .sgd { optimizer.momentum = 0.9 }
        if let lr = learningRates[entry] { optimizer.learningRate = lr }
        config.optimizer = optimizer
        config.learningRateSource = learningRateSources?[entry]
        config.schedule =
            entry.cyclical
            ? .triangular(clrMax / 6, clrMax, stepSize: .epochs(Double(clrStepEpochs)))
            : .constant()
        config.name = runName(entry: entry, run: run)
        return config
    }

    /// The catalog name of entry `entry`'s run `run` (0-based), for people to read. Runs are found
    /// by their cell (`RunRecord.comparisonCell`); only runs from before cells were recorded are
    /// matched by this name.
    public func runName(entry: ComparisonEntry, run: Int) -> String { "\(name) \(entry) #\(run + 1)" }

    /// Whether a cyclical entry needs `clrMax` (given, or from the LR range test).
    public var needsCyclicalBound: Bool { optimizers.contains(where: \.cyclical) }
}

/// One cell of a comparison's grid: an optimizer entry and one run of it. Cells are numbered entry
/// by entry, `index = position of entry × runs + run`: the order a comparison trains them in, and
/// the array task that trains each one on a cluster.
public struct ComparisonCell: Sendable, Equatable, Hashable {
    public var index: Int
    public var entry: ComparisonEntry
    /// 0-based; the run's seed is the base seed + run.
    public var run: Int

    public init(index: Int, entry: ComparisonEntry, run: Int) {
        self.index = index
        self.entry = entry
        self.run = run
    }
}

extension ComparisonPlan {
    public var cellCount: Int { optimizers.count * runs }

    /// Every cell, in index order.
    public var cells: [ComparisonCell] {
        optimizers.enumerated().flatMap { position, entry in
            (0..<runs).map { ComparisonCell(index: position * runs + $0, entry: entry, run: $0) }
        }
    }

    /// The cell with index `index`.
    /// - Throws: `ComparisonError.cellOutOfRange` naming the index and the valid range.
    public func cell(at index: Int) throws -> ComparisonCell {
        guard index >= 0, index < cellCount else {
            throw ComparisonError.cellOutOfRange(
                index: index, cells: cellCount, optimizers: optimizers.count, runs: runs)
        }
        return ComparisonCell(index: index, entry: optimizers[index / runs], run: index % runs)
    }

    /// The cell run `run` of this comparison trains: the one it records, or for a run recorded
    /// before runs had cells, the one whose name it has.
    public func cell(of run: RunRecord) -> ComparisonCell? {
        if let index = run.comparisonCell { return try? cell(at: index) }
        return cells.first { runName(entry: $0.entry, run: $0.run) == run.name }
    }

    /// The plan comparison `id` was made with, as its catalog record keeps it.
    /// - Throws: `CatalogError.notFound`; `ComparisonError.notAPlan` when the record holds no plan.
    public static func stored(comparisonId id: Int64, in catalog: Catalog) throws -> ComparisonPlan {
        let record = try catalog.comparison(id: id)
        do {
            return try JSONDecoder().decode(ComparisonPlan.self, from: Data(record.config.utf8))
        } catch {
            throw ComparisonError.notAPlan(comparisonId: id, cause: ErrorCause(error))
        }
    }
}

/// A comparison's catalog record with what all its cells share, settled once: the cyclical bound
/// (from an LR range test when the plan gives none).
public struct ResolvedComparison: Sendable {
    public var comparisonId: Int64
    /// The plan with `clrMax` filled in when a cyclical entry needs it.
    public var plan: ComparisonPlan
    /// The LR range test that gave the bound, when one ran now.
    public var lrTestId: Int64?

    /// The configuration cell `cell` trains with.
    /// - Throws: `ComparisonError.noCyclicalBound` for a cyclical entry when the plan has no bound.
    public func configuration(of cell: ComparisonCell) throws -> RunConfiguration {
        if cell.entry.cyclical, plan.clrMax == nil {
            throw ComparisonError.noCyclicalBound(comparisonId: comparisonId, entry: cell.entry)
        }
        // A non-cyclical entry ignores the bound.
        return plan.configuration(entry: cell.entry, run: cell.run, clrMax: plan.clrMax ?? 0)
    }
}

/// Runs a comparison, skipping runs already finished and resuming interrupted ones, so an
/// interrupted comparison picks up where it stopped. Trains the whole grid (`run()`), or one cell
/// of it (`train(_:of:)`, an array task on a cluster).
public final class ComparisonRunner {
    public let plan: ComparisonPlan
    public let catalog: Catalog
    public var showProgress = true
    /// Progress lines; unbuffered so they interleave with the progress bars when piped.
    public var log: (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
    /// How many runs to train at once in separate processes.
    public var jobs = 1
    /// Starts those processes; nil trains every run in this process.
    public var launcher: (any RunLauncher)?

    /// The cyclical bound when the LR range test suggests nothing.
    static let defaultCyclicalBound = 3e-3

    public init(plan: ComparisonPlan, catalog: Catalog) {
        self.plan = plan
        self.catalog = catalog
    }

    public struct Outcome {
        public var comparisonId: Int64
        public var runIds: [ComparisonEntry: [Int64]]
        public var clrMax: Double
        public var lrTestId: Int64?
    }

    /// Trains every cell not finished yet.
    public func run() throws -> Outcome {
        let comparison = try begin()
        // Cells with a run continue it here; new ones go to the launcher when there are several.
        var fresh: [ComparisonCell] = []
        let parallel = jobs > 1 && launcher != nil
        for cell in comparison.plan.cells {
            if parallel, try existingRun(of: cell, comparisonId: comparison.comparisonId) == nil {
                fresh.append(cell)
            } else {
                try train(cell, of: comparison)
            }
        }
        if fresh.count > 1, let launcher {
            try runInParallel(fresh, of: comparison, launcher: launcher)
        } else {
            for cell in fresh { try train(cell, of: comparison) }
        }
        var ids: [ComparisonEntry: [Int64]] = [:]
        for run in try catalog.runs(filter: RunFilter(comparisonId: comparison.comparisonId)) {
            if let cell = plan.cell(of: run) { ids[cell.entry, default: []].append(run.id!) }
        }
        return Outcome(
            comparisonId: comparison.comparisonId, runIds: ids,
            clrMax: comparison.plan.clrMax ?? Self.defaultCyclicalBound, lrTestId: comparison.lrTestId)
    }

    /// Finds or makes the comparison's record and settles what its cells share, running the LR
    /// range test when a cyclical entry has no bound. Once per comparison: by `run()`, or when an
    /// array job is submitted, so its tasks never run the test themselves.
    public func begin() throws -> ResolvedComparison {
        let (comparison, created) = try catalog.findOrCreateComparison(
            name: plan.name, config: CatalogJSON.encode(plan))
        let comparisonId = comparison.id!
        log(
            created
                ? "comparison \(comparisonId) '\(plan.name)'"
                : "comparison \(comparisonId) '\(plan.name)': picking up where it stopped")
        if !created { try adoptRunsWithoutCell(comparisonId: comparisonId) }

        var resolved = plan
        var lrTestId: Int64?
        if plan.autoLearningRates == true {
            try chooseLearningRates(&resolved, comparisonId: comparisonId)
        } else if resolved.clrMax == nil, plan.needsCyclicalBound {
            // The cyclical bound: given, or the study's rule from an LR range test with SGD.
            var config = plan.base
            config.optimizer = OptimizerConfig(kind: .sgd)
            config.optimizer.momentum = 0.9
            let job = LRFindJob(configuration: config, epochs: 2, batchNormPolicy: plan.base.batchNormPolicy)
            let plotPath = catalog.baseDirectory.appendingPathComponent("comparison-\(comparisonId)-lr-find.svg").path
            let output = try job.run(catalog: catalog, plotPath: plotPath, showProgress: showProgress)
            lrTestId = output.catalogId
            let rule =
                output.result.suggestions.first { $0.rule == .minLossDiv10 } ?? output.result.suggestions.first
            let bound = rule?.lr ?? Self.defaultCyclicalBound
            resolved.clrMax = bound
            log("LR range test: cyclical learning rate \(bound / 6)…\(bound) (\(rule?.name ?? "default"))")
        }
        return ResolvedComparison(comparisonId: comparisonId, plan: resolved, lrTestId: lrTestId)
    }

    /// `--lr auto`: each entry's rate, or a cyclical entry's bound, from an LR range test of that
    /// entry's set-up (its optimizer, the first run's seed), unless given.
    func chooseLearningRates(_ resolved: inout ComparisonPlan, comparisonId: Int64) throws {
        var sources: [ComparisonEntry: LearningRateSource] = [:]
        for entry in resolved.optimizers {
            if entry.cyclical ? resolved.clrMax != nil : resolved.learningRates[entry] != nil { continue }
            let config = resolved.configuration(entry: entry, run: 0, clrMax: Self.defaultCyclicalBound)
            let plotPath = catalog.baseDirectory.appendingPathComponent(
                "comparison-\(comparisonId)-\(entry)-lr-find.svg")
            let auto = try AutoLearningRate.choose(
                for: config, catalog: catalog, plotPath: plotPath.path, showProgress: showProgress)
            switch auto.learningRate {
            case .range(_, let high) where entry.cyclical: resolved.clrMax = high
            case .rate(let rate) where !entry.cyclical: resolved.learningRates[entry] = rate
            default: continue
            }
            sources[entry] = auto.source
            log("lr auto, \(entry): \(auto.description)")
        }
        resolved.learningRateSources = sources
    }

    /// Comparison `comparisonId`, begun elsewhere (at an array job's submission): this runner's plan
    /// must be its plan, with the bound that submission resolved for cyclical cells.
    /// - Throws: `ComparisonError.notThisPlan` when the comparison was made with another plan's name.
    public func attach(comparisonId: Int64) throws -> ResolvedComparison {
        let record = try catalog.comparison(id: comparisonId)
        guard record.name == plan.name else {
            throw ComparisonError.notThisPlan(comparisonId: comparisonId, comparison: record.name, plan: plan.name)
        }
        try adoptRunsWithoutCell(comparisonId: comparisonId)
        return ResolvedComparison(comparisonId: comparisonId, plan: plan, lrTestId: nil)
    }

    /// The run that trains `cell`: the latest one recorded for it.
    func existingRun(of cell: ComparisonCell, comparisonId: Int64) throws -> RunRecord? {
        try catalog.runs(filter: RunFilter(comparisonId: comparisonId, comparisonCell: cell.index)).last
    }

    /// Runs from before runs recorded their cell get it, so a comparison begun then continues
    /// its runs instead of starting new ones.
    func adoptRunsWithoutCell(comparisonId: Int64) throws {
        for run in try catalog.runs(filter: RunFilter(comparisonId: comparisonId)) where run.comparisonCell == nil {
            if let cell = plan.cell(of: run) { try catalog.setComparisonCell(run: run.id!, cell: cell.index) }
        }
    }

    /// Trains one cell so that however often it is started, it has one run: a finished run is
    /// left alone; an unfinished one — interrupted, failed, or still marked running by a process
    /// that was killed (a requeued array task) — continues from its latest checkpoint, exactly, or
    /// trains again from the start when it stopped before its first checkpoint; a cell without a
    /// run starts one.
    /// - Returns: the cell's run.
    @discardableResult
    public func train(_ cell: ComparisonCell, of comparison: ResolvedComparison) throws -> Int64 {
        let config = try comparison.configuration(of: cell)
        let name = config.name!
        if let existing = try existingRun(of: cell, comparisonId: comparison.comparisonId) {
            let runId = existing.id!
            if existing.status.isComplete {
                log("\(name): \(existing.status == .finished ? "finished" : "stopped early") earlier (run \(runId))")
                return runId
            }
            do {
                log("\(name): resuming run \(runId) from its latest checkpoint")
                try TrainingRun.resume(runId: runId, epoch: nil, catalog: catalog, showProgress: showProgress)
            } catch TrainingError.noCheckpoint {
                log("\(name): run \(runId) stopped before its first checkpoint; training it again from the start")
                let run = TrainingRun(configuration: config, catalog: catalog)
                run.showProgress = showProgress
                try run.restart(runId: runId)
            }
            return runId
        }
        log("\(name): training")
        let run = TrainingRun(configuration: config, catalog: catalog)
        run.showProgress = showProgress
        return try run.start(comparisonId: comparison.comparisonId, comparisonCell: cell.index).runId
    }

    /// Trains cells `jobs` at a time as separate processes, each with a share of the cores so the
    /// machine is not oversubscribed.
    func runInParallel(_ cells: [ComparisonCell], of comparison: ResolvedComparison, launcher: any RunLauncher) throws {
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / jobs)
        var queue = cells
        var running: [(Process, String)] = []
        var failures: [String] = []
        let directory = FileManager.default.temporaryDirectory
        while !queue.isEmpty || !running.isEmpty {
            while running.count < jobs, !queue.isEmpty {
                let cell = queue.removeFirst()
                let config = try comparison.configuration(of: cell)
                let file = directory.appendingPathComponent("graft-run-\(UUID().uuidString).json")
                try Data(config.json.utf8).write(to: file)
                let p = try launcher.launch(
                    configurationFile: file, comparisonId: comparison.comparisonId, cell: cell.index,
                    catalog: catalog, threads: threads)
                log("\(config.name!): training (process \(p.processIdentifier))")
                running.append((p, config.name!))
            }
            Thread.sleep(forTimeInterval: 0.5)
            running.removeAll { p, name in
                guard !p.isRunning else { return false }
                if p.terminationStatus != 0 { failures.append(name) }
                return true
            }
        }
        if !failures.isEmpty { throw ComparisonError.runsFailed(failures) }
    }
}

/// Starts one run of a comparison in a process of its own. The library does not know how: the
/// command line gives a launcher that runs its own `train` command.
public protocol RunLauncher {
    /// Starts training the configuration in `configurationFile` (JSON) as the run of cell `cell` of
    /// comparison `comparisonId` in `catalog`, with `threads` threads for its kernels.
    func launch(
        configurationFile: URL, comparisonId: Int64, cell: Int, catalog: Catalog, threads: Int
    ) throws
        -> Process
}

public enum ComparisonError: LocalizedError, Equatable {
    case runsFailed([String])
    /// A cell index past the grid (an array task of another job, or a typo).
    case cellOutOfRange(index: Int, cells: Int, optimizers: Int, runs: Int)
    /// A comparison record whose configuration is not a `ComparisonPlan`.
    case notAPlan(comparisonId: Int64, cause: ErrorCause)
    case notThisPlan(comparisonId: Int64, comparison: String, plan: String)
    /// A cyclical entry's cell of a comparison begun elsewhere, without the bound it resolved.
    case noCyclicalBound(comparisonId: Int64, entry: ComparisonEntry)

    public var errorDescription: String? {
        switch self {
        case .runsFailed(let names): "runs failed: \(names.joined(separator: ", ")) (see `graft runs list`)"
        case .cellOutOfRange(let index, let cells, let optimizers, let runs):
            "cell \(index) is out of range: the grid has \(cells) cells, 0-\(cells - 1) ("
                + "\(optimizers) optimizer\(optimizers == 1 ? "" : "s") × \(runs) run\(runs == 1 ? "" : "s"))"
        case .notAPlan(let id, let cause): "comparison \(id) holds no comparison plan: \(cause)"
        case .notThisPlan(let id, let comparison, let plan):
            "comparison \(id) is '\(comparison)', not '\(plan)'"
        case .noCyclicalBound(let id, let entry):
            "comparison \(id): \(entry) needs the upper learning rate its submission resolved"
        }
    }
}
