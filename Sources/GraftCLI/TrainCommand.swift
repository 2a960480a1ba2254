import ArgumentParser
import Foundation
import GraftCatalog
import GraftOptim
import GraftTraining

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train or fine-tune a zoo model; every epoch and checkpoint goes to the catalog.",
        discussion: """
            Example: graft train --model resnet34 --weights Weights/resnet34.h5 --data flowers \\
              --trainable layer4,head --optimizer sgd --momentum 0.9 --schedule triangular \\
              --lr 5e-4:3e-3 --step-size 4ep --epochs 100 --batch 32 --seed 0
            """)

    @Option(
        help: ArgumentHelp(
            "A named set of options; options given as well override it.",
            discussion: TrainingRecipe.helpText, valueName: "name"),
        transform: TrainingRecipe.parse)
    var recipe: TrainingRecipe.Name?
    @OptionGroup var modelData: ModelDataOptions
    @Option(help: ArgumentHelp("Train a saved run configuration (JSON) instead of the options.", visibility: .hidden))
    var config: String?
    @Option(help: ArgumentHelp("Comparison the run belongs to.", visibility: .hidden)) var comparison: Int64?
    @Option(help: ArgumentHelp("The cell of --comparison's grid the run trains.", visibility: .hidden))
    var comparisonCell: Int?
    @OptionGroup var optimizer: OptimizerOptions
    @OptionGroup var schedule: ScheduleOptions
    @OptionGroup var catalog: CatalogOptions
    @Option(help: "Epochs to train (default: 10, or the recipe's).") var epochs: Int?
    @Option(help: "Unfreeze one more block every K epochs.") var gradualUnfreeze: Int?
    @Option(
        help: ArgumentHelp(
            "Megabytes of frozen-trunk output kept across epochs (0: off).",
            discussion:
                "With the blocks below the trainable ones frozen (BatchNorm in eval mode) and no random augmentation, each image's trunk output is computed once; later epochs train only the trainable blocks on it."
        ))
    var featureCacheMb: Int = 2048
    @Flag(help: "Run the frozen trunk on every image every epoch (same as --feature-cache-mb 0).")
    var noFeatureCache = false
    @Option(help: "Learning-rate factors per block, e.g. layer3=0.1,layer4=0.3.") var lrFactors: String?
    @Option(help: "Dropout probability of the vanilla CNN's classifier.") var dropout: Float?
    @Option(help: "Label smoothing ε of the training loss, in [0, 1) (PyTorch's CrossEntropyLoss(label_smoothing=ε)).")
    var labelSmoothing: Double?
    @OptionGroup var regularisers: RegulariserOptions
    @Option(
        help: ArgumentHelp(
            "Early stopping: stop when --monitor has not improved for N epochs.",
            discussion:
                "With a cyclical schedule N counts cycles, and the run stops only at a cycle minimum, so every snapshot stays a valid ensemble member. The run ends with status stopped_early and says why."
        ))
    var patience: Int?
    @Option(help: "The metric early stopping watches (with --patience).") var monitor: EarlyStopping.Monitor?
    @Option(help: "The smallest change of --monitor that counts as an improvement (with --patience).")
    var minDelta: Double?
    @Option(help: "Also save a checkpoint every N epochs.") var saveEvery: Int?
    @Flag(help: "Do not save checkpoints at schedule minima.") var noMinima = false
    @Option(help: "Skip this many cycles before capturing minima.") var snapshotsFromCycle: Int = 0
    @Option(help: "Retention when the run ends, e.g. best:3,minima,last.", transform: { try KeepSpec(parsing: $0) })
    var keep: KeepSpec?
    @Option(help: "Resume RUN (its latest checkpoint) or RUN@EPOCH exactly.") var resume: String?
    @Option(help: "Run name for the catalog.") var name: String?
    @Flag(help: "No progress bar.") var quiet = false

    mutating func run() throws {
        let db = try catalog.open()
        if let resume {
            let parts = resume.split(separator: "@")
            guard let runId = Int64(parts[0]), parts.count <= 2 else {
                throw ValidationError("--resume takes RUN or RUN@EPOCH, got '\(resume)'")
            }
            let epoch = parts.count == 2 ? Int(parts[1]) : nil
            if parts.count == 2 && epoch == nil {
                throw ValidationError("--resume: '\(parts[1])' is not an epoch number")
            }
            let summary = try TrainingRun.resume(runId: runId, epoch: epoch, catalog: db, showProgress: !quiet)
            print(summaryText(summary))
            return
        }
        if let config {
            let data = try Data(contentsOf: URL(fileURLWithPath: config))
            let configuration = try JSONDecoder().decode(RunConfiguration.self, from: data)
            let run = TrainingRun(configuration: configuration, catalog: db)
            run.showProgress = !quiet
            print(summaryText(try run.start(comparisonId: comparison, comparisonCell: comparisonCell)))
            return
        }
        let recipe = self.recipe.map(TrainingRecipe.named)
        let epochs = self.epochs ?? recipe?.epochs ?? 10
        var tuning = try modelData.fineTuning()
        tuning.optimizer = try optimizer.config(recipe: recipe)
        tuning.schedule = try schedule.config(recipe: recipe)
        var config = tuning.configuration
        config.epochs = epochs
        config.gradualUnfreezeEvery = gradualUnfreeze
        guard featureCacheMb >= 0 else {
            throw ValidationError("--feature-cache-mb must be 0 or more, got \(featureCacheMb)")
        }
        config.featureCacheMB = noFeatureCache ? 0 : featureCacheMb
        config.blockLearningRateFactors = try parseFactors(lrFactors)
        config.dropout = dropout
        config.labelSmoothing = labelSmoothing
        regularisers.apply(to: &config)
        if let patience {
            config.earlyStopping = EarlyStopping(
                patience: patience, monitor: monitor ?? .valLoss, minDelta: minDelta ?? 0)
        } else if monitor != nil || minDelta != nil {
            throw ValidationError("--monitor and --min-delta go with --patience N")
        }
        config.save.everyEpochs = saveEvery
        config.save.atMinima = !noMinima
        config.save.snapshotsFromCycle = snapshotsFromCycle
        config.save.keep = keep
        config.name = name
        if schedule.lr == .auto {
            let auto = try AutoLearningRate.choose(
                for: config, catalog: db, plotPath: "out/lr-find.svg", showProgress: !quiet)
            config.schedule.lr = auto.learningRate
            config.learningRateSource = auto.source
            print("lr auto: \(auto.description)")
        }
        let prepared = try TrainingRun.prepare(config, splitDirectory: db.splitsDirectory)
        if !prepared.skippedOnLoad.isEmpty {
            print(
                "loaded \(modelData.weights ?? "") without \(prepared.skippedOnLoad.joined(separator: ", ")) (new \(prepared.classNames.count)-class head)"
            )
        }
        print(
            "training \(config.modelId) on \(prepared.train.sampleCount) images (\(prepared.validation.sampleCount) validation), classes: \(prepared.classNames.joined(separator: ", "))"
        )
        let run = TrainingRun(configuration: config, catalog: db)
        run.showProgress = !quiet
        let summary = try run.start(prepared: prepared, comparisonId: comparison, comparisonCell: comparisonCell)
        print(summaryText(summary))
        if let next = recipe?.nextStep {
            print(next.replacingOccurrences(of: "RUN", with: String(summary.runId)))
        }
    }

    func parseFactors(_ text: String?) throws -> [String: Double] {
        guard let text else { return [:] }
        var result: [String: Double] = [:]
        for item in text.split(separator: ",") {
            let kv = item.split(separator: "=")
            guard kv.count == 2, let v = Double(kv[1]) else {
                throw ValidationError("--lr-factors takes block=factor pairs, got '\(item)'")
            }
            result[String(kv[0])] = v
        }
        return result
    }

    func summaryText(_ s: RunSummary) -> String {
        var lines = ["run \(s.runId): \(s.history.count) epochs"]
        if let reason = s.stopReason { lines.append("early stopping: \(reason)") }
        if let last = s.history.last {
            lines.append(
                String(format: "final: train loss %.4f acc %.2f%%", last.trainLoss, last.trainAccuracy * 100)
                    + (last.validationAccuracy.map { String(format: ", val acc %.2f%%", $0 * 100) } ?? ""))
        }
        if let best = s.bestValidationAccuracy { lines.append(String(format: "best val acc %.2f%%", best * 100)) }
        lines.append("checkpoints: \(s.checkpointIds.count) (graft ckpt list --run \(s.runId))")
        lines.append("metrics: \(s.metricsFile.path)")
        return lines.joined(separator: "\n")
    }
}
