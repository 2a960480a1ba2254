import Foundation
import ArgumentParser
import GraftCatalog
import GraftData
import GraftEnsemble
import GraftOptim
import GraftTraining
import GraftWeights

/// `--method probs,swa`: one option holding a list, parsed by the library before the command runs.
struct EnsembleMethods { var list: [EnsembleMethod] }

struct EnsembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensemble",
        abstract: "Evaluate checkpoints as an ensemble: averaged probabilities or logits, votes, or SWA.",
        discussion: """
            Members are a run's checkpoints (all, or --minima: those taken at schedule minima), or --checkpoints \
            (catalog ids or files), optionally only the --last M. Each member is evaluated alone and added to the \
            ensemble one at a time, so memory does not grow with the number of members. Votes break ties by summed \
            probability. SWA averages the members' weights and recomputes BatchNorm statistics with one pass over the \
            training split. --greedy adds members by validation gain, starting from the best single one. \
            --tta scores every member (and SWA) on each image's views, averaging its probabilities (for logits: its \
            logits) over the views before combining; the advisor says what TTA gains on validation, and at what \
            measured cost in inference time, and recommends it only when it is more accurate there.

            Results are stored in the catalog (tables ensemble and ensemble_member) and printed as a table.
            """)

    @Option(name: .customLong("run"), help: "The run whose checkpoints form the ensemble.") var runId: Int64?
    @Flag(
        help: ArgumentHelp(
            "Fast geometric ensembling: train short cycles from --from CKPT, a member at each cycle's low point.",
            discussion:
                "Garipov et al. 2018: --cycles K triangular cycles of --cycle-epochs E epochs each, between --lr LOW:HIGH (default: the checkpoint's run's peak rate and a hundredth of it). The cycles are one catalog run whose parent is the checkpoint's run; its minima are the members."
        ))
    var fge = false
    @Option(help: "With --fge: the catalog checkpoint the cycles start from.") var from: Int64?
    @Option(help: "With --fge: cycles, one member each.") var cycles: Int = 4
    @Option(help: "With --fge: epochs per cycle.") var cycleEpochs: Int = 2
    @Option(help: "With --fge: the cycle's low:high rates.", transform: { try LearningRate(parsing: $0) })
    var lr: LearningRate?
    @Flag(help: "Only checkpoints taken at a schedule minimum (snapshot ensemble).") var minima = false
    @Option(help: "Members: catalog checkpoint ids or weights files, comma-separated.") var checkpoints: String?
    @Option(help: "Keep only the last M members.") var last: Int?
    @Option(
        help: "probs, logits, vote, swa, or all (comma-separated).",
        transform: { EnsembleMethods(list: try EnsembleMethod.parseList($0)) })
    var method = EnsembleMethods(list: [.probs])
    @Flag(help: "Also select members greedily by validation gain.") var greedy = false
    @Option(help: "Evaluate on this ImageFolder directory (or 'fashion-mnist') instead of the run's data.") var data:
        String?
    @Option(help: "val (the run's validation split), or test (Fashion-MNIST only).") var split: EvaluationSplit = .val
    @Option(
        help: ArgumentHelp(
            "Test-time augmentation of every member and of SWA: flip, crops or flip,crops. Each member's probabilities (for logits: its logits) are averaged over the views, then combined; the advisor weighs the gain on validation against the measured cost.",
            valueName: "views"))
    var tta: TestTimeAugmentation?
    @Option(help: "Write the SWA model to this weights file (HDF5) for graft predict.") var output: String?
    @Option(help: "Write accuracy against ensemble size as an SVG plot.") var plot: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "No progress lines.") var quiet = false
    @OptionGroup var catalog: CatalogOptions

    func validate() throws {
        if fge {
            guard from != nil else { throw ValidationError("--fge trains from a checkpoint: give --from CKPT") }
            if runId != nil || checkpoints != nil || minima {
                throw ValidationError("--fge makes its own members: leave out --run, --checkpoints and --minima")
            }
            if cycles < 2 { throw ValidationError("--cycles must be at least 2, got \(cycles)") }
            if cycleEpochs < 1 { throw ValidationError("--cycle-epochs must be at least 1, got \(cycleEpochs)") }
        } else if from != nil || lr != nil {
            throw ValidationError("--from and --lr go with --fge")
        }
        if !fge && runId == nil && checkpoints == nil {
            throw ValidationError("give --run R, or --checkpoints ID,…, or --fge --from CKPT")
        }
        if let last, last < 1 { throw ValidationError("--last must be at least 1") }
        if output != nil, !method.list.contains(.swa) {
            throw ValidationError("--output writes the SWA model: add swa to --method")
        }
    }

    mutating func run() throws {
        let db = try catalog.openExisting()
        var job = EnsembleJob()
        job.run = runId
        job.minimaOnly = minima
        if fge, let from {
            let cyclesRun = FastGeometricRun(
                checkpointId: from, cycles: cycles, cycleEpochs: cycleEpochs, learningRate: lr)
            let summary = try cyclesRun.train(catalog: db, showProgress: !quiet && !json)
            if !quiet {
                FileHandle.standardError.write(
                    Data("fge: run \(summary.runId), \(cycles) cycles from checkpoint \(from)\n".utf8))
            }
            job.run = summary.runId
            job.minimaOnly = true
        }
        job.checkpoints =
            checkpoints?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } ?? []
        job.last = last
        job.methods = method.list
        job.greedy = greedy
        job.dataSource = data
        job.split = split
        job.augmentation = tta
        if !quiet { job.log = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } }

        let result = try job.execute(catalog: db)
        if let output, let swa = result.averagedModel {
            var attributes = swa.attributes
            attributes.sourceFile = ""
            attributes.sourceSHA256 = ""
            attributes.convertedAt = WeightsAttributes.now()
            try WeightsFile.write(swa.state, attributes: attributes, to: URL(fileURLWithPath: output))
            if !quiet { FileHandle.standardError.write(Data("wrote the SWA model to \(output)\n".utf8)) }
        }
        if let plot {
            try EnsembleJob.plot(result.evaluation).write(to: URL(fileURLWithPath: plot))
            if !quiet { FileHandle.standardError.write(Data("wrote \(plot)\n".utf8)) }
        }
        printSections(
            EnsembleJob.tables(result.evaluation, ensembleIds: result.ensembleIds)
                + [EnsembleJob.adviceTable(result.advice)]
                + (EnsembleJob.augmentationTable(result.advice).map { [$0] } ?? []), format: json ? .json : .table)
        if !json { print("\n" + result.advice.summary) }
        if quiet, !json {
            for warning in result.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        }
    }
}
