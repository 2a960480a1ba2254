import Foundation

/// Where a run's images come from.
public enum TrainingData: Sendable, Equatable {
    /// An ImageFolder: one subfolder of JPEG photos per class.
    case imageFolder(URL)
    /// Debian's packaged Fashion-MNIST (`dataset-fashion-mnist`).
    case fashionMNIST

    /// The form `DataSpecification.source` stores.
    var source: String {
        switch self {
        // As given: a relative folder stays relative, as the command line records it.
        case .imageFolder(let url): url.relativePath
        case .fashionMNIST: DataSpecification.fashionMNIST
        }
    }
}

/// A block of a model: what is frozen or trained, and what a discriminative learning rate names.
/// ResNets have `stem`, `layer1`…`layer4` and `head`; the vanilla CNN `block1`…`block4` and `head`.
public enum Block: String, CaseIterable, Sendable, Codable {
    /// A ResNet's stem: the first convolution and its BatchNorm.
    case stem
    /// A ResNet's first stage of residual blocks.
    case layer1
    /// A ResNet's second stage of residual blocks.
    case layer2
    /// A ResNet's third stage of residual blocks.
    case layer3
    /// A ResNet's last stage of residual blocks: the one a transfer set-up usually trains.
    case layer4
    /// The vanilla CNN's first convolution block.
    case block1
    /// The vanilla CNN's second convolution block.
    case block2
    /// The vanilla CNN's third convolution block.
    case block3
    /// The vanilla CNN's last convolution block.
    case block4
    /// The classifier: a ResNet's `fc`, the vanilla CNN's linear layers. Replaced when the
    /// data has another class count than the starting weights.
    case head
}

/// Fine-tuning a zoo model on a folder of photos, from Swift: what `graft train` does.
///
/// ```swift
/// let zoo = try Zoo.shipped()
/// var tuning = try FineTuning(model: zoo.card(id: "resnet34"), weights: weightsURL, data: .imageFolder(photos))
/// tuning.trainable = [.layer4, .head]
/// tuning.optimizer.momentum = 0.9
/// tuning.schedule = .triangular(5e-4, 3e-3, stepSize: .epochs(4))
/// let tuned = try tuning.fit(epochs: 8) { event in print(event) }
/// ```
///
/// Every run and checkpoint goes to `catalog`; without one, to a catalog of the run's own in a
/// temporary directory, which the result keeps open.
public struct FineTuning {
    /// The model card the run starts from.
    public let card: ModelCard
    /// The card's architecture: its blocks, its minimum input size.
    public let architecture: Architecture
    /// Everything the run is: what `graft train --config` reads and the catalog stores.
    public var configuration: RunConfiguration
    /// Where the run and its checkpoints are recorded; nil: a catalog of the run's own in a
    /// temporary directory.
    public var catalog: Catalog?

    /// A run that fine-tunes `card`'s model on `data`, with every other setting at its default:
    /// every block trainable, SGD with PyTorch's defaults, a constant rate, batches of 32, seed 0.
    /// - Parameters:
    ///   - card: the zoo model: its architecture, input size and normalisation.
    ///   - weights: starting weights (HDF5); a head with another class count is replaced. nil
    ///     starts from a random initialisation.
    ///   - data: the images to train and validate on.
    ///   - imageSize: the side the model sees; nil takes the card's.
    /// - Throws: `ModelError` for an unknown architecture or an image size it cannot take.
    public init(model card: ModelCard, weights: URL? = nil, data: TrainingData, imageSize: Int? = nil) throws {
        let architecture = try Architecture(named: card.modelArchitecture)
        let size = imageSize ?? card.inputSize.last ?? 224
        try architecture.checkInputSize(size)
        var specification = DataSpecification(source: data.source, imageSize: size)
        // The card's normalisation, written into the run so that it records the numbers it used.
        specification.mean = card.mean.map(Float.init)
        specification.std = card.std.map(Float.init)
        self.card = card
        self.architecture = architecture
        configuration = RunConfiguration(
            modelId: card.id, architecture: architecture.rawValue, weights: weights?.relativePath, data: specification,
            optimizer: OptimizerConfig(kind: .sgd), trainable: architecture.blockNames, epochs: 10, batchSize: 32,
            seed: 0)
    }

    /// The blocks that train; the others are frozen. Every block by default.
    public var trainable: [Block] {
        get { configuration.trainable.compactMap(Block.init(rawValue:)) }
        set { configuration.trainable = newValue.map(\.rawValue) }
    }

    /// The optimizer and its hyperparameters, PyTorch's defaults unless set.
    public var optimizer: OptimizerConfig {
        get { configuration.optimizer }
        set { configuration.optimizer = newValue }
    }

    /// The learning-rate schedule; lengths may be given in epochs (`.epochs(4)`).
    public var schedule: ScheduleConfig {
        get { configuration.schedule }
        set { configuration.schedule = newValue }
    }

    /// The data: split, classes, images per class, augmentation.
    public var data: DataSpecification {
        get { configuration.data }
        set { configuration.data = newValue }
    }

    /// Images per optimizer step.
    public var batchSize: Int {
        get { configuration.batchSize }
        set { configuration.batchSize = newValue }
    }

    /// Seed of initialisation, data order and dropout.
    public var seed: UInt64 {
        get { configuration.seed }
        set { configuration.seed = newValue }
    }

    /// BatchNorm in frozen blocks: running statistics (`eval`) or batch statistics (`train`).
    public var batchNormPolicy: BatchNormPolicy {
        get { configuration.batchNormPolicy }
        set { configuration.batchNormPolicy = newValue }
    }

    /// Which checkpoints are saved, and which are kept when the run ends.
    public var save: SavePolicy {
        get { configuration.save }
        set { configuration.save = newValue }
    }

    /// The trainable blocks, each one this architecture has.
    /// - Throws: `ModelError.unknownBlock` naming the block and the architecture's blocks.
    public func checkBlocks() throws {
        for name in configuration.trainable where !architecture.blockNames.contains(name) {
            throw ModelError.unknownBlock(name, available: architecture.blockNames)
        }
    }

    /// Trains `epochs` epochs as a new catalog run, reporting progress to `onEvent`.
    /// - Returns: the trained run, with its catalog, to query, evaluate and predict with.
    /// - Throws: invalid settings before any data is read; then data, training and catalog errors.
    public func fit(epochs: Int, onEvent: ((TrainingEvent) -> Void)? = nil) throws -> FineTuned {
        var configuration = self.configuration
        configuration.epochs = epochs
        try checkBlocks()
        try configuration.validate()
        let catalog = try self.catalog ?? Self.temporaryCatalog()
        let run = TrainingRun(configuration: configuration, catalog: catalog)
        run.showProgress = false
        run.onEvent = onEvent
        let summary = try run.start()
        return FineTuned(summary: summary, configuration: configuration, catalog: catalog)
    }

    /// fastai's `fine_tune`, what `graft finetune` does: one run of `plan.freezeEpochs` epochs of
    /// the head alone on the frozen trunk, then `plan.epochs` of `plan.unfreeze` at discriminative
    /// rates (`FineTunePlan`). This value's trainable blocks and schedule are replaced by the plan's.
    /// - Parameters:
    ///   - plan: the phases, blocks, `lr_mult` and schedule.
    ///   - learningRate: the base rate; nil takes it from an LR range test of the head-alone
    ///     set-up by the study's rule (`AutoLearningRate`), reused from the catalog when it has one.
    ///   - onEvent: each step, epoch and checkpoint.
    /// - Returns: the trained run, with its catalog; its configuration records both phases and
    ///   the rule behind each one's rates.
    public func fineTune(
        _ plan: FineTunePlan, learningRate: Double? = nil, onEvent: ((TrainingEvent) -> Void)? = nil
    ) throws -> FineTuned {
        try configuration.validate()
        let catalog = try self.catalog ?? Self.temporaryCatalog()
        let plot = catalog.baseDirectory.appendingPathComponent("lr-find.svg").path
        let (configuration, _) = try plan.configure(
            configuration, learningRate: learningRate, blockNames: architecture.blockNames, catalog: catalog,
            plotPath: plot, showProgress: false)
        let run = TrainingRun(configuration: configuration, catalog: catalog)
        run.showProgress = false
        run.onEvent = onEvent
        let summary = try run.start()
        return FineTuned(summary: summary, configuration: configuration, catalog: catalog)
    }

    static func temporaryCatalog() throws -> Catalog {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("graft-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
    }
}

/// A trained run: its catalog record, its checkpoints, and what can be done with them.
public struct FineTuned {
    /// What training reported: the run's id, each epoch's metrics, its checkpoints.
    public let summary: RunSummary
    /// The configuration the run trained with, as the catalog stores it.
    public let configuration: RunConfiguration
    /// The catalog holding the run and its checkpoints.
    public let catalog: Catalog

    /// The run's id in `catalog`.
    public var runId: Int64 { summary.runId }

    /// The run's best checkpoint by `metric`.
    /// - Throws: `TrainingError.noCheckpoint` when no checkpoint of the run has the metric.
    public func bestCheckpoint(by metric: CheckpointMetric = .valAcc) throws -> CheckpointInfo {
        guard let best = try catalog.bestCheckpoint(by: metric, filter: CheckpointFilter(run: runId)) else {
            throw TrainingError.noCheckpoint(run: runId, epoch: nil)
        }
        return best
    }

    /// Loss and accuracy of checkpoint `checkpoint` (default: the best by validation accuracy)
    /// on the run's validation split.
    /// - Parameters:
    ///   - checkpoint: a catalog checkpoint id of the run; nil takes the best by validation accuracy.
    ///   - augmentation: test-time augmentation (`.flip`, `.crops`, `.flipAndCrops`), its
    ///     probabilities averaged over the views; nil evaluates each image once.
    public func evaluate(
        checkpoint: Int64? = nil, augmentation: TestTimeAugmentation? = nil
    ) throws -> Evaluation.Result {
        try Evaluation.run(
            checkpoint: try checkpoint ?? bestCheckpoint().checkpoint.id!, in: catalog, augmentation: augmentation)
    }

    /// A predictor for image files from checkpoint `checkpoint` (default: the best by
    /// validation accuracy), with the run's class names and eval transform.
    /// - Parameters:
    ///   - checkpoint: a catalog checkpoint id of the run; nil takes the best by validation accuracy.
    ///   - augmentation: the predictor's test-time augmentation (`Predictor.augmentation`).
    public func predictor(
        checkpoint: Int64? = nil, augmentation: TestTimeAugmentation? = nil
    ) throws -> Predictor {
        var predictor = try Predictor(checkpoint: try checkpoint ?? bestCheckpoint().checkpoint.id!, in: catalog)
        predictor.augmentation = augmentation
        return predictor
    }

    /// The run's checkpoints as an ensemble: those at schedule minima (a snapshot ensemble) or
    /// all, evaluated on the run's validation split with each of `methods`, and recorded in the catalog.
    /// - Parameters:
    ///   - minimaOnly: only the checkpoints taken at a schedule minimum.
    ///   - methods: how the members are combined; each gives one outcome.
    ///   - augmentation: test-time augmentation of every member (`EnsembleJob.augmentation`);
    ///     the advisor then also says what it gains on validation and what it costs.
    public func ensemble(
        minimaOnly: Bool = true, methods: [EnsembleMethod] = [.probs], augmentation: TestTimeAugmentation? = nil
    ) throws -> EnsembleJob.Result {
        var job = EnsembleJob.snapshots(of: runId, minimaOnly: minimaOnly, methods: methods)
        job.augmentation = augmentation
        return try job.execute(catalog: catalog)
    }
}

/// Evaluating a catalog checkpoint on its run's validation split.
extension Evaluation {
    /// Loss and accuracy of catalog checkpoint `id` on its run's validation split.
    /// - Parameters:
    ///   - id: the catalog checkpoint.
    ///   - catalog: the catalog holding it.
    ///   - augmentation: test-time augmentation, probabilities averaged over the views; nil
    ///     evaluates each image once.
    /// - Throws: `CatalogError.notFound`; a checkpoint file that is missing or altered.
    public static func run(
        checkpoint id: Int64, in catalog: Catalog, augmentation: TestTimeAugmentation? = nil
    ) throws -> Result {
        let saved = try TrainingCheckpoint.read(try catalog.verifiedFile(for: try catalog.checkpoint(id: id)))
        let prepared = try TrainingRun.prepare(saved.runConfiguration, splitDirectory: catalog.splitsDirectory)
        _ = try prepared.model.load(saved.model, strict: true)
        return try run(prepared.model, on: prepared.validation, augmentation: augmentation)
    }
}

/// Predicting with a catalog checkpoint.
extension Predictor {
    /// A predictor from catalog checkpoint `id`: its weights, class names and eval transform.
    /// - Throws: `CatalogError.notFound`; a checkpoint file that is missing or altered.
    public init(checkpoint id: Int64, in catalog: Catalog) throws {
        // A checkpoint file is a weights file with training state beside the weights.
        try self.init(weights: try catalog.verifiedFile(for: try catalog.checkpoint(id: id)), card: nil)
    }
}

/// The snapshot ensemble of a run's checkpoints.
extension EnsembleJob {
    /// The ensemble of run `run`'s checkpoints: those at schedule minima (a snapshot ensemble),
    /// or all of them, combined with each of `methods`, on the run's validation split.
    public static func snapshots(
        of run: Int64, minimaOnly: Bool = true, methods: [EnsembleMethod] = [.probs]
    ) -> EnsembleJob {
        var job = EnsembleJob()
        job.run = run
        job.minimaOnly = minimaOnly
        job.methods = methods
        return job
    }
}
