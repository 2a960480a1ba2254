import Foundation
import GraftCatalog
import GraftOptim
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
        let cyclical = entry.hasSuffix("-clr")
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
        config.name = "\(name) \(entry) #\(run + 1)"
        return config
    }
}

/// Runs a comparison, skipping runs already finished and resuming interrupted ones, so an
/// interrupted comparison picks up where it stopped.
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

    public func run() throws -> Outcome {
        let (comparison, created) = try catalog.findOrCreateComparison(
            name: plan.name, config: CatalogJSON.encode(plan))
        let comparisonId = comparison.id!
        log(
            created
                ? "comparison \(comparisonId) '\(plan.name)'"
                : "comparison \(comparisonId) '\(plan.name)': picking up where it stopped")
        let prepared = try TrainingRun.prepare(plan.base, splitDirectory: catalog.splitsDirectory)
        let stepsPerEpoch = prepared.train.batchesPerEpoch

        // The cyclical bound: given, or the study's rule from an LR range test with SGD.
        var clrMax = plan.clrMax
        var lrTestId: Int64?
        if clrMax == nil, plan.optimizers.contains(where: { $0.hasSuffix("-clr") }) {
            var config = plan.base
            config.optimizer = try OptimizerConfig(parsing: "sgd")
            config.optimizer.momentum = 0.9
            let job = LRFindJob(configuration: config, epochs: 2, batchNormPolicy: plan.base.batchNormPolicy)
            let plotPath = catalog.baseDirectory.appendingPathComponent("comparison-\(comparisonId)-lr-find.svg").path
            let output = try job.run(catalog: catalog, plotPath: plotPath, showProgress: showProgress)
            lrTestId = output.catalogId
            let rule =
                output.result.suggestions.first { $0.name == "min_loss_div10" } ?? output.result.suggestions.first
            clrMax = rule?.lr ?? 3e-3
            log("LR range test: cyclical learning rate \(clrMax! / 6)…\(clrMax!) (\(rule?.name ?? "default"))")
        }
        let bound = clrMax ?? 3e-3

        let existing = try catalog.runs(filter: RunFilter(comparisonId: comparisonId))
        var runIds: [String: [Int64]] = [:]
        var pending: [(String, Int, RunConfiguration)] = []
        for entry in plan.optimizers {
            for r in 0..<plan.runs {
                let config = try plan.configuration(entry: entry, run: r, clrMax: bound, stepsPerEpoch: stepsPerEpoch)
                if let done = existing.last(where: { $0.name == config.name }) {
                    runIds[entry, default: []].append(done.id!)
                    if done.status == .finished {
                        log("\(config.name!): finished earlier (run \(done.id!))")
                        continue
                    }
                    log("\(config.name!): resuming run \(done.id!)")
                    do {
                        try TrainingRun.resume(
                            runId: done.id!, epoch: nil, catalog: catalog, showProgress: showProgress)
                        continue
                    } catch TrainingError.noCheckpoint {
                        _ = try catalog.markRun(
                            done.id!, status: .interrupted, error: "restarted from scratch: no checkpoint")
                    }
                }
                pending.append((entry, r, config))
            }
        }
        if jobs > 1, let launcher, pending.count > 1 {
            try runInParallel(pending.map(\.2), comparisonId: comparisonId, launcher: launcher)
        } else {
            for (_, _, config) in pending {
                log("\(config.name!): training")
                let run = TrainingRun(configuration: config, catalog: catalog)
                run.showProgress = showProgress
                try run.start(
                    prepared: try TrainingRun.prepare(config, splitDirectory: catalog.splitsDirectory),
                    comparisonId: comparisonId)
            }
        }
        var ids: [String: [Int64]] = [:]
        for run in try catalog.runs(filter: RunFilter(comparisonId: comparisonId)) {
            let entry = plan.optimizers.first { run.name?.hasPrefix("\(plan.name) \($0) #") == true } ?? run.optimizer
            ids[entry, default: []].append(run.id!)
        }
        return Outcome(comparisonId: comparisonId, runIds: ids, clrMax: bound, lrTestId: lrTestId)
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
    public var errorDescription: String? {
        switch self {
        case .runsFailed(let names): "runs failed: \(names.joined(separator: ", ")) (see `graft runs list`)"
        }
    }
}
