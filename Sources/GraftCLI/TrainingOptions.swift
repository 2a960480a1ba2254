import Foundation
import ArgumentParser
import Graft
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

    /// The options given, over `recipe`'s, over PyTorch's defaults.
    func config(recipe: TrainingRecipe? = nil) throws -> OptimizerConfig {
        var c = OptimizerConfig(kind: optimizer ?? recipe?.optimizer ?? .sgd)
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
