import Foundation
import GraftCatalog
import GraftOptim
import GraftSupport
import GraftTraining

/// A study like the one Graft grew from: the same model and data trained with several
/// optimizers, several runs each, every run a catalog run of one comparison.
public struct ComparisonPlan: Codable, Sendable, Equatable {
    /// Optimizer entries as given: `adam`, `sgd`, or `sgd-clr` (SGD with a triangular cyclical
    /// learning rate between max/6 and max, the study's recipe).
    public var optimizers: [String]
    public var runs: Int
    /// The shared configuration; its optimizer and schedule are replaced per entry.
    public var base: RunConfiguration
    /// Upper bound of the cyclical schedule; nil runs an LR range test first (study rule).
    public var clrMax: Double?
    /// Half-cycle length in epochs for the cyclical entries.
    public var clrStepEpochs: Int
    /// Explicit learning rates per entry (`adam=3e-4`); others use PyTorch's defaults.
    public var learningRates: [String: Double] = [:]
    public var name: String

    public init(
        optimizers: [String], runs: Int, base: RunConfiguration, clrMax: Double?, clrStepEpochs: Int, name: String
    ) {
        self.optimizers = optimizers
        self.runs = runs
        self.base = base
        self.clrMax = clrMax
        self.clrStepEpochs = clrStepEpochs
        self.name = name
    }

    /// The run configuration of entry `entry`, run `run` (0-based): seed = base seed + run.
    public func configuration(entry: String, run: Int, clrMax: Double, stepsPerEpoch: Int) throws -> RunConfiguration {
        var config = base
        config.seed = base.seed &+ UInt64(run)
        let cyclical = Self.isCyclical(entry)
        let optimizerName = cyclical ? String(entry.dropLast(4)) : entry
        var optimizer = try OptimizerConfig(parsing: optimizerName)
        if optimizer.kind == .sgd { optimizer.momentum = 0.9 }
        if let lr = learningRates[entry] { optimizer.learningRate = lr }
        config.optimizer = optimizer
        if cyclical {
            let step = max(1, clrStepEpochs * stepsPerEpoch)
            config.schedule = .cyclic(CyclicLR(baseLR: clrMax / 6, maxLR: clrMax, stepSizeUp: step, mode: .triangular))
        } else {
            config.schedule = .constant(ConstantLR(lr: optimizer.learningRate))
        }
        config.name = runName(entry: entry, run: run)
        return config
    }

    /// The catalog name of entry `entry`'s run `run` (0-based): how a comparison finds the run of
    /// a cell again, so starting a cell twice continues one run instead of making a second.
    public func runName(entry: String, run: Int) -> String { "\(name) \(entry) #\(run + 1)" }

    /// The entry a run of this comparison was trained for, from its name.
    public func entry(ofRunNamed runName: String?) -> String? {
        guard let runName else { return nil }
        return optimizers.first { runName.hasPrefix("\(name) \($0) #") }
    }

    /// Entries ending in `-clr` train with the cyclical schedule.
    static func isCyclical(_ entry: String) -> Bool { entry.hasSuffix("-clr") }

    /// Whether a cyclical entry needs `clrMax` (given, or from the LR range test).
    public var needsCyclicalBound: Bool { optimizers.contains(where: Self.isCyclical) }
}

/// One cell of a comparison's grid: an optimizer entry and one run of it. Cells are numbered entry
/// by entry, `index = position of entry × runs + run`: the order a comparison trains them in, and
/// the array task that trains each one on a cluster.
public struct ComparisonCell: Sendable, Equatable, Hashable {
    public var index: Int
    public var entry: String
    /// 0-based; the run's seed is the base seed + run.
    public var run: Int

    public init(index: Int, entry: String, run: Int) {
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

    public func runName(of cell: ComparisonCell) -> String { runName(entry: cell.entry, run: cell.run) }

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
/// (from an LR range test when the plan gives none) and the steps per epoch its schedules count in.
public struct ResolvedComparison: Sendable {
    public var comparisonId: Int64
    /// The plan with `clrMax` filled in when a cyclical entry needs it.
    public var plan: ComparisonPlan
    /// The LR range test that gave the bound, when one ran now.
    public var lrTestId: Int64?
    public var stepsPerEpoch: Int

    /// The configuration cell `cell` trains with.
    /// - Throws: `ComparisonError.noCyclicalBound` for a cyclical entry when the plan has no bound.
    public func configuration(of cell: ComparisonCell) throws -> RunConfiguration {
        let cyclical = ComparisonPlan.isCyclical(cell.entry)
        if cyclical, plan.clrMax == nil {
            throw ComparisonError.noCyclicalBound(comparisonId: comparisonId, entry: cell.entry)
        }
        // A non-cyclical entry ignores the bound.
        return try plan.configuration(
            entry: cell.entry, run: cell.run, clrMax: plan.clrMax ?? 0, stepsPerEpoch: stepsPerEpoch)
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
        public var runIds: [String: [Int64]]
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
            try runInParallel(
                try fresh.map { try comparison.configuration(of: $0) }, comparisonId: comparison.comparisonId,
                launcher: launcher)
        } else {
            for cell in fresh { try train(cell, of: comparison) }
        }
        var ids: [String: [Int64]] = [:]
        for run in try catalog.runs(filter: RunFilter(comparisonId: comparison.comparisonId)) {
            ids[plan.entry(ofRunNamed: run.name) ?? run.optimizer, default: []].append(run.id!)
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
        let stepsPerEpoch = try stepsPerEpoch()

        // The cyclical bound: given, or the study's rule from an LR range test with SGD.
        var resolved = plan
        var lrTestId: Int64?
        if resolved.clrMax == nil, plan.needsCyclicalBound {
            var config = plan.base
            config.optimizer = try OptimizerConfig(parsing: "sgd")
            config.optimizer.momentum = 0.9
            let job = LRFindJob(configuration: config, epochs: 2, batchNormPolicy: plan.base.batchNormPolicy)
            let plotPath = catalog.baseDirectory.appendingPathComponent("comparison-\(comparisonId)-lr-find.svg").path
            let output = try job.run(catalog: catalog, plotPath: plotPath, showProgress: showProgress)
            lrTestId = output.catalogId
            let rule =
                output.result.suggestions.first { $0.name == "min_loss_div10" } ?? output.result.suggestions.first
            let bound = rule?.lr ?? Self.defaultCyclicalBound
            resolved.clrMax = bound
            log("LR range test: cyclical learning rate \(bound / 6)…\(bound) (\(rule?.name ?? "default"))")
        }
        return ResolvedComparison(
            comparisonId: comparisonId, plan: resolved, lrTestId: lrTestId, stepsPerEpoch: stepsPerEpoch)
    }

    /// Comparison `comparisonId`, begun elsewhere (at an array job's submission): this runner's plan
    /// must be its plan, with the bound that submission resolved for cyclical cells.
    /// - Throws: `ComparisonError.notThisPlan` when the comparison was made with another plan's name.
    public func attach(comparisonId: Int64) throws -> ResolvedComparison {
        let record = try catalog.comparison(id: comparisonId)
        guard record.name == plan.name else {
            throw ComparisonError.notThisPlan(comparisonId: comparisonId, comparison: record.name, plan: plan.name)
        }
        return ResolvedComparison(
            comparisonId: comparisonId, plan: plan, lrTestId: nil, stepsPerEpoch: try stepsPerEpoch())
    }

    func stepsPerEpoch() throws -> Int {
        try TrainingRun.prepare(plan.base, splitDirectory: catalog.splitsDirectory).train.batchesPerEpoch
    }

    /// The run that trains `cell`: the latest one by the cell's name.
    func existingRun(of cell: ComparisonCell, comparisonId: Int64) throws -> RunRecord? {
        let name = plan.runName(of: cell)
        return try catalog.runs(filter: RunFilter(comparisonId: comparisonId)).last { $0.name == name }
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
            if existing.status == .finished {
                log("\(name): finished earlier (run \(runId))")
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
        return try run.start(
            prepared: try TrainingRun.prepare(config, splitDirectory: catalog.splitsDirectory),
            comparisonId: comparison.comparisonId
        ).runId
    }

    /// Trains configurations `jobs` at a time as separate processes, each with a share of the
    /// cores so the machine is not oversubscribed.
    func runInParallel(_ configs: [RunConfiguration], comparisonId: Int64, launcher: any RunLauncher) throws {
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / jobs)
        var queue = configs
        var running: [(Process, String)] = []
        var failures: [String] = []
        let directory = FileManager.default.temporaryDirectory
        while !queue.isEmpty || !running.isEmpty {
            while running.count < jobs, !queue.isEmpty {
                let config = queue.removeFirst()
                let file = directory.appendingPathComponent("graft-run-\(UUID().uuidString).json")
                try Data(config.json.utf8).write(to: file)
                let p = try launcher.launch(
                    configurationFile: file, comparisonId: comparisonId,
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
    /// Starts training the configuration in `configurationFile` (JSON) as a run of comparison
    /// `comparisonId` in `catalog`, with `threads` threads for its kernels.
    func launch(configurationFile: URL, comparisonId: Int64, catalog: Catalog, threads: Int) throws -> Process
}

public enum ComparisonError: LocalizedError, Equatable {
    case runsFailed([String])
    /// A cell index past the grid (an array task of another job, or a typo).
    case cellOutOfRange(index: Int, cells: Int, optimizers: Int, runs: Int)
    /// A comparison record whose configuration is not a `ComparisonPlan`.
    case notAPlan(comparisonId: Int64, cause: ErrorCause)
    case notThisPlan(comparisonId: Int64, comparison: String, plan: String)
    /// A cyclical entry's cell of a comparison begun elsewhere, without the bound it resolved.
    case noCyclicalBound(comparisonId: Int64, entry: String)

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
