import Foundation
import ArgumentParser
import Graft
import GraftCatalog
import GraftData
import GraftModels
import GraftOptim
import GraftTraining
import GraftWeights
import GraftZoo

/// Model, data and optimizer options shared by `train`, `lr-find` and `compare`.
struct ModelDataOptions: ParsableArguments {
    @Option(help: "Zoo model id (resnet18, resnet34, vanilla-cnn).") var model: String = "vanilla-cnn"
    @Option(help: "Starting weights (HDF5). A head of another class count is replaced.") var weights: String?
    @Option(help: "An ImageFolder directory, or 'fashion-mnist' for Debian's packaged set.") var data: String?
    @Option(help: "Image side the model sees (default: the model card's input size).") var imageSize: Int?
    @Option(help: "Validation fraction of a stratified split.") var val: Double = 0.2
    @Option(help: "Seed of the train/validation split.") var splitSeed: UInt64 = 0
    @Option(help: "Only these classes, comma-separated.") var classes: String?
    @Option(help: "At most this many training images per class (validation keeps its whole split).") var trainPerClass:
        Int?
    @OptionGroup(title: "Augmentation") var augmentation: AugmentationOptions
    @Option(help: "Blocks to train, comma-separated (stem/layer1…layer4/head, block1…block4/head).") var trainable:
        String?
    @Option(help: "Train this block and every block above it.") var freezeTo: String?
    @Option(help: "BatchNorm in frozen blocks: eval (running statistics) or train (batch statistics).")
    var bnPolicy: BatchNormPolicy = .eval
    @Option(help: "Mini-batch size.") var batch: Int = 32
    @Option(help: "Seed for initialisation, data order and dropout.") var seed: UInt64 = 0

    /// The run these options describe, before its optimizer and schedule: the card of `--model`
    /// gives the architecture, the input size and the normalisation.
    func fineTuning() throws -> FineTuning {
        guard let data else { throw ValidationError("--data is required: an ImageFolder directory or 'fashion-mnist'") }
        let card = try Zoo.shipped().card(id: model)
        var tuning: FineTuning
        do {
            tuning = try FineTuning(
                model: card, weights: weights.map { URL(fileURLWithPath: $0) },
                data: data == DataSpecification.fashionMNIST ? .fashionMNIST : .imageFolder(URL(fileURLWithPath: data)),
                imageSize: imageSize)
        } catch let error as ModelError {
            throw ValidationError("--image-size: \(error.localizedDescription)")
        }
        tuning.data.validationFraction = val
        tuning.data.splitSeed = splitSeed
        if let augmentation = try augmentation.augmentation() { tuning.data.setAugmentation(augmentation) }
        tuning.data.classes = classes?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        tuning.data.trainPerClass = trainPerClass
        tuning.configuration.trainable = try trainableBlocks(architecture: tuning.architecture)
        tuning.batchNormPolicy = bnPolicy
        tuning.batchSize = batch
        tuning.seed = seed
        return tuning
    }

    /// The trainable blocks: `--trainable`, or `--freeze-to`, or every block.
    func trainableBlocks(architecture: Architecture) throws -> [String] {
        let names = architecture.blockNames
        if let trainable {
            let list = trainable.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            for n in list where !names.contains(n) {
                throw ValidationError(
                    "unknown block '\(n)' in --trainable; \(model) has \(names.joined(separator: ", "))")
            }
            return list
        }
        if let freezeTo {
            do {
                return try architecture.blocks(from: freezeTo)
            } catch {
                throw ValidationError("--freeze-to: \(error.localizedDescription)")
            }
        }
        return names
    }
}

struct OptimizerOptions: ParsableArguments {
    @Option(help: "The optimizer, with PyTorch's defaults (default: sgd, or the recipe's).") var optimizer:
        OptimizerKind?
    @Option(help: "Momentum (SGD, RMSprop).") var momentum: Double?
    @Option(help: "Weight decay.") var weightDecay: Double?
    @Option(help: "Other hyper-parameters by PyTorch name, e.g. nesterov=true,betas=0.9,0.99.") var opt: [String] = []

    /// The options given, over `recipe`'s, over PyTorch's defaults; `defaultKind` when none names
    /// the optimizer.
    func config(recipe: TrainingRecipe? = nil, defaultKind: OptimizerKind = .sgd) throws -> OptimizerConfig {
        var c = OptimizerConfig(kind: optimizer ?? recipe?.optimizer ?? defaultKind)
        if let momentum = momentum ?? recipe?.momentum { try c.set("momentum", to: String(momentum)) }
        if let weightDecay = weightDecay ?? recipe?.weightDecay { try c.set("weight_decay", to: String(weightDecay)) }
        for item in opt {
            guard let eq = item.firstIndex(of: "=") else {
                throw ValidationError("--opt takes name=value, got '\(item)'")
            }
            try c.set(String(item[..<eq]), to: String(item[item.index(after: eq)...]))
        }
        try c.validate()
        return c
    }
}

/// `--lr`: a rate, a range, or `auto`.
enum LearningRateChoice: Equatable {
    case given(LearningRate)
    /// From an LR range test of the same set-up (`AutoLearningRate`).
    case auto

    init(parsing text: String) throws {
        self = text.lowercased() == "auto" ? .auto : .given(try LearningRate(parsing: text))
    }
}

struct ScheduleOptions: ParsableArguments {
    @Option(
        help:
            "The learning-rate schedule (also: cyclic or clr for triangular, sgdr, one_cycle, blog; default: constant, or the recipe's)."
    )
    var schedule: ScheduleKind?
    @Option(
        help:
            "Learning rate: one value, low:high for cyclical schedules, or auto (from an LR range test of the same set-up, reused from the catalog when there is one; default: the optimizer's).",
        transform: { try LearningRateChoice(parsing: $0) })
    var lr: LearningRateChoice?
    @Option(
        help: "Half-cycle (or step) length in steps, or in epochs with 'ep' (e.g. 4ep).",
        transform: { try StepCount(parsing: $0) })
    var stepSize: StepCount?
    @Option(help: "Down-phase length for asymmetric cycles.", transform: { try StepCount(parsing: $0) })
    var stepSizeDown: StepCount?
    @Option(help: "Decay factor (step, exp_range).") var gamma: Double?
    @Option(help: "Momentum cycling range base:max, or none.", transform: { try MomentumCycling(parsing: $0) })
    var cycleMomentum: MomentumCycling?
    @Option(help: "Cosine restarts: period multiplier.") var tMult: Int?

    /// The options given, over `recipe`'s, over each schedule's defaults; checked, and the
    /// defaults it takes told on standard error.
    func config(recipe: TrainingRecipe? = nil) throws -> ScheduleConfig {
        let kind = schedule ?? recipe?.schedule ?? .constant
        // `auto` is chosen once the set-up is known (`AutoLearningRate`); a stand-in of the
        // right form lets everything else be checked now.
        let given: LearningRate? =
            switch lr {
            case .given(let rate)?: rate
            case .auto?: kind.cyclicMode != nil ? .range(1e-3, 1e-2) : .rate(1e-3)
            case nil: recipe?.lr
            }
        var config = ScheduleConfig(kind, lr: given, stepSize: stepSize ?? recipe?.stepSize)
        config.stepSizeDown = stepSizeDown
        config.gamma = gamma
        config.momentum = cycleMomentum
        config.tMult = tMult
        try config.validate()
        for note in config.defaultsUsed {
            FileHandle.standardError.write(Data("note: \(note); set it with --step-size, e.g. 4ep\n".utf8))
        }
        return config
    }
}

/// What a run keeps, watches and is called, shared by `train` and `finetune`: the feature cache,
/// the regularisers (dropout, label smoothing, mixup, CutMix, weight EMA), early stopping,
/// checkpoints and retention, resume, the name.
struct RunOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Megabytes of frozen-trunk output kept across epochs (0: off).",
            discussion:
                "With the blocks below the trainable ones frozen (BatchNorm in eval mode) and no random augmentation, each image's trunk output is computed once; later epochs train only the trainable blocks on it."
        ))
    var featureCacheMb: Int = 2048
    @Flag(help: "Run the frozen trunk on every image every epoch (same as --feature-cache-mb 0).")
    var noFeatureCache = false
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

    /// Writes the options into `config`.
    func apply(to config: inout RunConfiguration) throws {
        guard featureCacheMb >= 0 else {
            throw ValidationError("--feature-cache-mb must be 0 or more, got \(featureCacheMb)")
        }
        config.featureCacheMB = noFeatureCache ? 0 : featureCacheMb
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
    }

    /// Continues the run `--resume` names (`RUN` or `RUN@EPOCH`) exactly, phases and all.
    func resumeRun(_ text: String, catalog: Catalog) throws -> RunSummary {
        let parts = text.split(separator: "@")
        guard let runId = Int64(parts[0]), parts.count <= 2 else {
            throw ValidationError("--resume takes RUN or RUN@EPOCH, got '\(text)'")
        }
        let epoch = parts.count == 2 ? Int(parts[1]) : nil
        if parts.count == 2 && epoch == nil {
            throw ValidationError("--resume: '\(parts[1])' is not an epoch number")
        }
        return try TrainingRun.resume(runId: runId, epoch: epoch, catalog: catalog, showProgress: !quiet)
    }
}

/// What `train` and `finetune` say before the first epoch: a replaced head, the images, the classes.
func printRunStart(_ prepared: PreparedRun, weights: String?) {
    if !prepared.skippedOnLoad.isEmpty {
        print(
            "loaded \(weights ?? "") without \(prepared.skippedOnLoad.joined(separator: ", ")) (new \(prepared.classNames.count)-class head)"
        )
    }
    print(
        "training \(prepared.configuration.modelId) on \(prepared.train.sampleCount) images (\(prepared.validation.sampleCount) validation), classes: \(prepared.classNames.joined(separator: ", "))"
    )
}

/// What `train` and `finetune` print when a run ends.
func runSummaryText(_ s: RunSummary) -> String {
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
