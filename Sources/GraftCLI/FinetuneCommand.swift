import ArgumentParser
import Foundation
import GraftCatalog
import GraftData
import GraftOptim
import GraftTraining

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune in one run: an LR range test, the head alone, then the unfrozen blocks.",
        discussion: """
            fastai's fine_tune as one catalog run with two phases: --freeze-epochs of the head alone on the \
            frozen trunk (its output cached), a one-cycle to the base rate; then --epochs of the --unfreeze \
            blocks at half that rate, the model's lowest block at 1/--lr-mult of the head's, on a one-cycle or a triangular \
            cycle (whose minima are snapshots). --lr auto takes the base rate from an LR range test of the \
            head-alone set-up, reused from the catalog when one matches, by the study's rule min_loss_div10.

            Example: graft finetune --model resnet34 --weights Weights/resnet34.h5 --data flowers \\
              --unfreeze layer4 --optimizer sgd --momentum 0.9 --schedule triangular --step-size 4ep \\
              --freeze-epochs 2 --epochs 40 --lr auto --patience 2
            """)

    @OptionGroup var modelData: ModelDataOptions
    @Option(help: "Epochs of the head alone on the frozen trunk before unfreezing (fastai's freeze_epochs; 0: none).")
    var freezeEpochs: Int = 1
    @Option(help: "Epochs after unfreezing (fastai's epochs).") var epochs: Int = 4
    @Option(help: "Blocks to unfreeze after the head's phase, comma-separated, or all (the head is always trained).")
    var unfreeze: String = "all"
    @Option(
        help:
            "The base rate: the head's peak in its phase; the unfrozen head gets half. A number, or auto (an LR range test of the head-alone set-up)."
    )
    var lr: String = "auto"
    @Option(
        help:
            "The head's rate over the model's lowest block's (fastai's lr_mult; the blocks between evenly spaced on a log scale)."
    ) var lrMult: Double = 100
    @Option(help: "The unfrozen phase's schedule: onecycle, or triangular (cycle minima are snapshots).")
    var schedule: ScheduleKind = .onecycle
    @Option(
        help: "A triangular schedule's half cycle, in steps or epochs (4ep); default an eighth of --epochs.",
        transform: { try StepCount(parsing: $0) })
    var stepSize: StepCount?
    @OptionGroup var optimizer: OptimizerOptions
    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var runOptions: RunOptions

    mutating func run() throws {
        let db = try catalog.open()
        if let resume = runOptions.resume {
            let summary = try runOptions.resumeRun(resume, catalog: db)
            print(runSummaryText(summary))
            printNext(summary, catalog: db)
            return
        }
        guard modelData.trainable == nil, modelData.freezeTo == nil else {
            throw ValidationError(
                "finetune trains the head first, then --unfreeze's blocks; --trainable and --freeze-to are train's options"
            )
        }
        var tuning = try modelData.fineTuning()
        // fastai's fine_tune trains with Adam unless told otherwise.
        tuning.optimizer = try optimizer.config(defaultKind: .adam)
        let blockNames = tuning.architecture.blockNames
        var plan = FineTunePlan(
            epochs: epochs,
            unfreeze: unfreeze.lowercased() == "all"
                ? blockNames : unfreeze.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        plan.freezeEpochs = freezeEpochs
        plan.lrMult = lrMult
        plan.schedule = schedule
        plan.stepSize = stepSize
        var config = tuning.configuration
        try runOptions.apply(to: &config)
        do {
            try plan.validate(blockNames: blockNames)
        } catch let error as TrainingError {
            throw ValidationError(error.localizedDescription)
        }

        var learningRate: Double?
        if lr.lowercased() != "auto" {
            guard let rate = Double(lr), rate.isFinite, rate > 0 else {
                throw ValidationError("--lr takes a positive rate or auto, got '\(lr)'")
            }
            learningRate = rate
        }
        let auto: AutoLearningRate?
        (config, auto) = try plan.configure(
            config, learningRate: learningRate, blockNames: blockNames, catalog: db, plotPath: "out/lr-find.svg",
            showProgress: !runOptions.quiet)
        if let auto { print("lr auto: \(auto.description)") }
        let prepared = try TrainingRun.prepare(config, splitDirectory: db.splitsDirectory)
        printRunStart(prepared, weights: modelData.weights)
        if let first = config.firstPhase {
            print(
                "phase 1, epochs 1–\(first.epochs): \(first.trainable.joined(separator: ",")); \(first.learningRateRule ?? "")"
            )
        }
        let start = (config.firstPhase?.epochs ?? 0) + 1
        print(
            "phase \(config.firstPhase == nil ? 1 : 2), epochs \(start)–\(config.epochs): \(config.trainable.joined(separator: ",")); \(config.learningRateRule ?? "")"
        )
        let run = TrainingRun(configuration: config, catalog: db)
        run.showProgress = !runOptions.quiet
        let summary = try run.start(prepared: prepared)
        print(runSummaryText(summary))
        printNext(summary, catalog: db)
    }

    /// The commands to run next: score the best checkpoint on images no choice saw, and with two
    /// or more cycle minima, their snapshot ensemble.
    func printNext(_ summary: RunSummary, catalog: Catalog) {
        let run = summary.runId
        let test =
            modelData.data == DataSpecification.fashionMNIST
            ? "fashion-mnist  (its test set)" : "TEST  (a folder of images kept out of every choice)"
        print("next: graft evaluate --run \(run) --best val_acc --data \(test)")
        let minima = (try? catalog.checkpoints(filter: CheckpointFilter(run: run, minimaOnly: true)).count) ?? 0
        if minima >= 2 {
            print("      graft ensemble --run \(run) --minima --method all  (\(minima) snapshots at cycle minima)")
        }
    }
}
