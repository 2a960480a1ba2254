import Foundation
import ArgumentParser
import GraftCatalog
import GraftOptim
import GraftReport
import GraftStudy
import GraftTraining

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train one model with several optimizers, several runs each, and compare them.",
        discussion: """
            Every (optimizer, run) is a catalog run of one comparison, on the same split, with seed = --seed + run.
            Running the same command again picks up where it stopped: finished runs are kept, interrupted ones resume.
            'sgd-clr' is SGD (momentum 0.9) with a triangular cyclical learning rate between max/6 and max, max from
            --clr-max or an LR range test (the study's rule: lr at the minimum loss / 10). Adaptive optimizers use
            PyTorch's defaults unless --lr-for gives a rate.

            On a Slurm cluster, --slurm submits the grid as a job array, one task per run (cell i = optimizer
            entry i / runs, run i % runs), after making the comparison and running its LR range test here.
            Each task runs `graft compare --comparison ID --array-index i`; a task requeued after preemption or a
            node failure continues its run from the latest checkpoint. --status ID shows each cell's progress.
            """)

    /// The study's optimizers.
    static let studyEntries: [ComparisonEntry] =
        [.init(.adagrad), .init(.adadelta), .init(.rmsprop), .init(.adam), .init(.adamax), .init(.sgd, cyclical: true)]

    @OptionGroup var modelData: ModelDataOptions
    @OptionGroup var regularisers: RegulariserOptions
    @OptionGroup var catalog: CatalogOptions
    @Option(
        help: ArgumentHelp(
            "Optimizers, comma-separated: adagrad, adadelta, rmsprop, adam, adamax, adamw, sgd, sgd-clr (default: \(CompareCommand.studyEntries.map(\.description).joined(separator: ",")), the study's).",
            valueName: "entries"),
        transform: { text in try text.split(separator: ",").map { try ComparisonEntry(parsing: String($0)) } })
    var optimizers: [ComparisonEntry] = CompareCommand.studyEntries
    @Option(help: "Runs per optimizer.") var runs: Int = 3
    @Option(help: "Epochs per run.") var epochs: Int = 10
    @Option(help: "Upper learning rate of sgd-clr (default: from an LR range test).") var clrMax: Double?
    @Option(
        help:
            "auto: every optimizer's rate (sgd-clr's bounds) from an LR range test of its own set-up, reused from the catalog when one matches, unless --lr-for or --clr-max gives it."
    )
    var lr: String?
    @Option(help: "Half-cycle length of sgd-clr in epochs.") var clrStep: Int?
    @Option(
        help: "Learning rate for an entry, e.g. adam=3e-4 (repeatable).",
        transform: { item in
            let kv = item.split(separator: "=")
            guard kv.count == 2, let rate = Double(kv[1]), rate.isFinite, rate > 0 else {
                throw ValidationError("expected entry=rate, e.g. adam=3e-4, got '\(item)'")
            }
            return (try ComparisonEntry(parsing: String(kv[0])), rate)
        })
    var lrFor: [(ComparisonEntry, Double)] = []
    @Option(help: "Trainings side by side, in separate processes.") var jobs: Int = 1
    @Option(help: "Comparison name (default: derived from model, data and optimizers).") var name: String?
    @Option(help: "Retention per run, e.g. best:3,minima,last.", transform: { try KeepSpec(parsing: $0) })
    var keep: KeepSpec?
    @Option(help: "Also save a checkpoint every N epochs (what a restarted run continues from).") var saveEvery: Int?
    @Flag(help: "No progress bars.") var quiet = false

    @Flag(help: "Submit the grid to Slurm as a job array, one task per run, instead of training here.")
    var slurm = false
    @Flag(help: "With --slurm: print the sbatch script instead of submitting it.") var dryRun = false
    @Option(help: "With --slurm: the partition.") var partition: String?
    @Option(help: "With --slurm: each task's time limit, e.g. 2:00:00.") var time: String?
    @Option(help: "With --slurm: cores per task.") var cpusPerTask: Int?
    @Option(help: "With --slurm: memory per task, e.g. 4G.") var mem: String?

    @Option(help: ArgumentHelp("Train one run of comparison ID, the cell --array-index picks.", valueName: "id"))
    var comparison: Int64?
    @Option(help: "With --comparison: the cell (default: $SLURM_ARRAY_TASK_ID).") var arrayIndex: Int?

    @Option(help: ArgumentHelp("Show each run of comparison ID: queued, running, done or failed.", valueName: "id"))
    var status: Int64?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, got \(runs)") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
        if let clrMax, !(clrMax.isFinite && clrMax > 0) {
            throw ValidationError("--clr-max must be positive, got \(clrMax)")
        }
        if let lr, lr.lowercased() != "auto" {
            throw ValidationError(
                "compare takes --lr auto, got '\(lr)'; give an optimizer's rate with --lr-for, e.g. adam=3e-4, and sgd-clr's bound with --clr-max"
            )
        }
        if let clrStep, clrStep < 1 { throw ValidationError("--clr-step must be at least 1 epoch, got \(clrStep)") }
        if let saveEvery, saveEvery < 1 { throw ValidationError("--save-every must be at least 1, got \(saveEvery)") }
        if status != nil && (comparison != nil || slurm) {
            throw ValidationError("--status shows a comparison; give it without --comparison and --slurm")
        }
        if arrayIndex != nil && comparison == nil {
            throw ValidationError("--array-index picks a cell of --comparison ID")
        }
        if comparison != nil && slurm { throw ValidationError("give one of --comparison (a task) and --slurm") }
        if !slurm {
            let slurmOnly = [
                ("--dry-run", dryRun), ("--partition", partition != nil), ("--time", time != nil),
                ("--cpus-per-task", cpusPerTask != nil), ("--mem", mem != nil),
            ]
            if let (option, _) = slurmOnly.first(where: { $0.1 }) {
                throw ValidationError("\(option) goes with --slurm")
            }
        } else if jobs != 1 {
            throw ValidationError("--jobs does not apply to --slurm: each array task trains one run")
        }
        if let cpusPerTask, cpusPerTask < 1 {
            throw ValidationError("--cpus-per-task must be at least 1, got \(cpusPerTask)")
        }
    }

    mutating func run() throws {
        if let status {
            let progress = try ComparisonProgress(comparisonId: status, catalog: try catalog.openExisting())
            print(progress.table.render(output.format), terminator: "")
            if output.format == .table { print(progress.summary) }
            return
        }
        if let comparison {
            try trainCell(of: comparison)
            return
        }
        let plan = try makePlan()
        let runner = ComparisonRunner(plan: plan, catalog: try catalog.open())
        runner.showProgress = !quiet
        if slurm {
            try submit(runner)
            return
        }
        runner.jobs = jobs
        runner.launcher = TrainCommandLauncher(executable: graftExecutable())
        let outcome = try runner.run()
        for entry in plan.optimizers {
            print("runs \(entry): \((outcome.runIds[entry] ?? []).map(String.init).joined(separator: " "))")
        }
        print("comparison \(outcome.comparisonId) done: graft report --compare \(outcome.comparisonId)")
    }

    /// The plan the options describe.
    func makePlan() throws -> ComparisonPlan {
        var base = try modelData.fineTuning().configuration
        base.epochs = epochs
        base.save.keep = keep
        base.save.everyEpochs = saveEvery
        regularisers.apply(to: &base)
        var plan = ComparisonPlan(
            optimizers: optimizers, runs: runs, base: base, clrMax: clrMax,
            clrStepEpochs: clrStep ?? max(1, epochs / 8),
            name: name
                ?? "\(base.modelId) on \(URL(fileURLWithPath: base.data.source).lastPathComponent): \(optimizers.map(\.description).joined(separator: ","))"
        )
        for (entry, rate) in lrFor { plan.learningRates[entry] = rate }
        if lr != nil { plan.autoLearningRates = true }
        try base.validate()
        return plan
    }

    /// `--slurm`: begins the comparison here (its record, its LR range test), then submits one
    /// array task per cell, or prints the script with `--dry-run`.
    func submit(_ runner: ComparisonRunner) throws {
        // Progress to stderr, so `--dry-run > job.sbatch` keeps only the script.
        runner.log = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        let comparison = try runner.begin()
        let id = comparison.comparisonId
        var command = [graftExecutable().path, "compare", "--comparison", String(id)]
        command += ["--array-index", SlurmArray.arrayIndex]
        if comparison.plan.needsCyclicalBound, let bound = comparison.plan.clrMax {
            command += ["--clr-max", String(bound)]
        }
        // Rates `--lr auto` chose, so that no task runs a range test of its own.
        for (entry, rate) in comparison.plan.learningRates.sorted(by: { $0.key.description < $1.key.description }) {
            command += ["--lr-for", "\(entry)=\(rate)"]
        }
        // Tasks open the same catalog: the location as given (a server URL, or the file), and a
        // server catalog's checkpoint root, which every node must see at the same path.
        var environment = [Catalog.environmentVariable: runner.catalog.openedLocation]
        if runner.catalog.backend == .postgresql {
            environment[Catalog.checkpointRootVariable] = runner.catalog.baseDirectory.path
        }
        let workingDirectory = FileManager.default.currentDirectoryPath
        let logDirectory = URL(fileURLWithPath: workingDirectory).appendingPathComponent("out/slurm")
        let array = SlurmArray(
            comparisonId: id, plan: comparison.plan,
            resources: SlurmArray.Resources(partition: partition, time: time, cpusPerTask: cpusPerTask, memory: mem),
            workingDirectory: workingDirectory, logDirectory: logDirectory.path, environment: environment,
            taskCommand: command)
        if dryRun {
            print(array.script, terminator: "")
            return
        }
        // Slurm opens each task's output there and does not make the directory.
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        let scriptFile = logDirectory.appendingPathComponent("\(array.jobName).sbatch")
        try Data(array.script.utf8).write(to: scriptFile)
        let job = try Sbatch.submit(scriptFile)
        print("comparison \(id): Slurm job \(job), tasks \(array.arrayRange), script \(scriptFile.path)")
        print("progress: graft compare --status \(id); report so far: graft report --compare \(id)")
    }

    /// `--comparison ID`: one array task, the cell `--array-index` (or Slurm) gives.
    func trainCell(of id: Int64) throws {
        let environment = ProcessInfo.processInfo.environment
        let index: Int
        let source: String
        if let arrayIndex {
            (index, source) = (arrayIndex, "--array-index \(arrayIndex)")
        } else if let text = environment["SLURM_ARRAY_TASK_ID"] {
            guard let value = Int(text) else { throw ValidationError("SLURM_ARRAY_TASK_ID '\(text)' is not a number") }
            (index, source) = (value, "SLURM_ARRAY_TASK_ID \(value)")
        } else {
            throw ValidationError("--comparison needs --array-index N (or SLURM_ARRAY_TASK_ID, in an array job)")
        }
        let db = try catalog.openExisting()
        var plan = try ComparisonPlan.stored(comparisonId: id, in: db)
        if let clrMax { plan.clrMax = clrMax }
        for (entry, rate) in lrFor { plan.learningRates[entry] = rate }
        let cell: ComparisonCell
        do {
            cell = try plan.cell(at: index)
        } catch let error as ComparisonError {
            throw ValidationError("\(source): \(error.localizedDescription)")
        }
        let runner = ComparisonRunner(plan: plan, catalog: db)
        runner.showProgress = !quiet
        let restarts = environment["SLURM_RESTART_COUNT"].flatMap(Int.init) ?? 0
        runner.log(
            "comparison \(id), cell \(cell.index): \(cell.entry) run \(cell.run + 1)"
                + (restarts > 0 ? " (Slurm restart \(restarts))" : ""))
        let resolved = try runner.attach(comparisonId: id)
        let runId: Int64
        do {
            runId = try runner.train(cell, of: resolved)
        } catch ComparisonError.noCyclicalBound {
            throw ValidationError(
                "comparison \(id), cell \(cell.index): \(cell.entry) needs --clr-max, the bound its submission resolved (see its sbatch script)"
            )
        }
        print("comparison \(id), cell \(cell.index): run \(runId) \(try db.run(id: runId).status.rawValue)")
    }
}

/// This executable, to start again as a run's process or an array task: its real path, not
/// argv[0], which may be a bare name found on the PATH.
func graftExecutable() -> URL {
    (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).standardizedFileURL
}

/// Submits a batch script with Slurm's `sbatch`.
enum Sbatch {
    struct Failure: LocalizedError {
        var message: String
        var errorDescription: String? { message }
    }

    /// - Returns: the job id sbatch gives.
    static func submit(_ script: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sbatch", "--parsable", script.path]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let message = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            if process.terminationStatus == 127 {
                throw Failure(message: "sbatch is not on the PATH: --slurm needs Slurm's client commands")
            }
            throw Failure(message: "sbatch refused \(script.path): \(message)")
        }
        // `--parsable` prints `jobid` or `jobid;cluster`.
        let text = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return String(text.split(separator: ";").first ?? Substring(text))
    }
}

/// Runs a comparison's runs as `graft train --config FILE --comparison ID` processes.
struct TrainCommandLauncher: RunLauncher {
    let executable: URL

    func launch(
        configurationFile: URL, comparisonId: Int64, cell: Int, catalog: Catalog, threads: Int
    ) throws
        -> Process
    {
        let p = Process()
        p.executableURL = executable
        p.arguments = [
            "train", "--config", configurationFile.path, "--comparison", String(comparisonId),
            "--comparison-cell", String(cell), "--quiet",
            "--catalog", catalog.openedLocation,
        ]
        if catalog.backend == .postgresql { p.arguments! += ["--checkpoint-root", catalog.baseDirectory.path] }
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = String(threads)
        environment["GRAFT_THREADS"] = String(threads)
        p.environment = environment
        try p.run()
        return p
    }
}
