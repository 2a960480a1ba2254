import Foundation
import GraftCatalog
import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftReport
import GraftSupport
import GraftTensor
import GraftWeights
import GraftZoo

/// What a finished (or stopped) run reports.
public struct RunSummary: Sendable {
    public var runId: Int64
    public var history: [EpochMetrics]
    public var checkpointIds: [Int64]
    public var metricsFile: URL
    public var bestValidationAccuracy: Double?
    public var skippedOnLoad: [String]
    /// Why early stopping ended the run; nil when it trained every planned epoch.
    public var stopReason: String? = nil
}

/// A model with the data it trains on, built from a run configuration.
public struct PreparedRun {
    /// The configuration with everything the model card supplied filled in (normalisation):
    /// what checkpoints and the metrics file record, so a resume never looks it up again.
    public var configuration: RunConfiguration
    public var model: any BlockStructured
    public var train: BatchSource
    public var validation: BatchSource
    public var classNames: [String]
    public var attributes: WeightsAttributes
    /// Keys left out when loading the starting weights (a replaced head), for the record.
    public var skippedOnLoad: [String]
    /// Fingerprint of the train/validation split (hash of the file list it was made from).
    public var splitHash: String
}

extension Catalog {
    /// Split files of the datasets this catalog's runs used.
    public var splitsDirectory: URL { baseDirectory.appendingPathComponent("splits", isDirectory: true) }
}

/// Runs a training configuration end to end: the model and its starting weights, the data, the
/// catalog run row, per-epoch metrics, checkpoints by the save policy, retention and a metrics
/// JSON file. Resumes exactly from a checkpoint. What it does as it trains arrives as
/// `TrainingEvent`s, shown by a `TrainingProgressPrinter` and passed to `onEvent`.
public final class TrainingRun {
    public let configuration: RunConfiguration
    public let catalog: Catalog
    /// Progress bars and epoch lines on standard error (warnings are shown either way).
    public var showProgress = true
    /// Every event, for a caller's own view.
    public var onEvent: ((TrainingEvent) -> Void)?
    /// The run and checkpoint a new run starts from, for its record (`parentRunId`,
    /// `resumedFromCheckpointId`): fast geometric ensembling's cycles from a trained checkpoint.
    public var lineage: (run: Int64, checkpoint: Int64)?

    public init(configuration: RunConfiguration, catalog: Catalog) {
        self.configuration = configuration
        self.catalog = catalog
    }

    /// Fills in the normalisation a configuration leaves to its model card, once, so that the
    /// run's configuration, its checkpoints and a resume all use the same numbers wherever the
    /// command runs.
    /// - Throws: `WeightsError` when the configuration has no normalisation and the zoo has no
    ///   card for its model (never a silent default).
    public static func resolvingPreprocessing(
        _ configuration: RunConfiguration,
        zoo: () throws -> Zoo = { try Zoo.shipped() }
    ) throws -> RunConfiguration {
        var resolved = configuration
        guard resolved.data.mean == nil || resolved.data.std == nil else { return resolved }
        let card = try zoo().card(id: configuration.modelId)
        if resolved.data.mean == nil { resolved.data.mean = card.mean.map(Float.init) }
        if resolved.data.std == nil { resolved.data.std = card.std.map(Float.init) }
        return resolved
    }

    /// Builds the model (loading starting weights, replacing the head when the class count
    /// differs) and the data sources.
    public static func prepare(_ configuration: RunConfiguration, splitDirectory: URL? = nil) throws -> PreparedRun {
        try configuration.validate()
        let configuration = try resolvingPreprocessing(configuration)
        let architecture = try Architecture(named: configuration.architecture)
        try architecture.checkInputSize(configuration.data.imageSize)
        let data = configuration.data
        let sources = try DataSources.make(
            data, batchSize: configuration.batchSize, seed: configuration.seed,
            splitDirectory: splitDirectory)
        let model = architecture.make(numClasses: sources.classNames.count, seed: configuration.seed)
        if let dropout = configuration.dropout {
            for (_, m) in model.namedModules() { (m as? Dropout)?.p = dropout }
        }
        var skipped: [String] = []
        if let weights = configuration.weights {
            let (state, _) = try WeightsFile.read(URL(fileURLWithPath: weights))
            let modelState = model.stateDict()
            // A head of another class count is replaced, not loaded: skip exactly its keys.
            let head = model.headKeyPrefix
            let headDiffers = modelState.keys.filter { $0.hasPrefix(head) }.contains { key in
                state[key].map { $0.shape != modelState[key]!.shape } ?? false
            }
            let skip: Set<String> = headDiffers ? Set(modelState.keys.filter { $0.hasPrefix(head) }) : []
            let report = try model.load(state, strict: !headDiffers, skipping: skip)
            if headDiffers {
                guard report.missing.isEmpty, report.unexpected.isEmpty, report.mismatched.isEmpty else {
                    throw WeightLoadingError.incompatible(
                        missing: report.missing, unexpected: report.unexpected,
                        mismatched: report.mismatched)
                }
            }
            skipped = report.skipped
        }
        let attributes = WeightsAttributes(
            modelID: configuration.modelId, architecture: configuration.architecture,
            numClasses: sources.classNames.count, classNames: sources.classNames,
            inputSize: [3, configuration.data.imageSize, configuration.data.imageSize],
            mean: (data.mean ?? []).map(Double.init), std: (data.std ?? []).map(Double.init),
            sourceFile: configuration.weights.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "",
            sourceSHA256: "")
        return PreparedRun(
            configuration: configuration, model: model, train: sources.train, validation: sources.validation,
            classNames: sources.classNames, attributes: attributes, skippedOnLoad: skipped,
            splitHash: sources.splitHash)
    }

    /// Maps each parameter to a learning-rate factor from its block's entry.
    static func learningRateFactors(_ model: any BlockStructured, _ factors: [String: Double]) -> LearningRateFactors {
        guard !factors.isEmpty else { return LearningRateFactors() }
        var rules: [LearningRateFactors.Rule] = []
        let blockOf = Dictionary(
            model.blocks.flatMap { block in
                block.modules.flatMap { m in m.namedParameters().map { (ObjectIdentifier($0.parameter), block.name) } }
            }, uniquingKeysWith: { a, _ in a })
        for (name, p) in model.namedParameters() {
            if let block = blockOf[ObjectIdentifier(p)], let f = factors[block] {
                rules.append(.init(prefix: name, factor: f))
            }
        }
        return LearningRateFactors(rules)
    }

    /// Trains from scratch (or from the configured weights) as a new catalog run; with
    /// `comparisonId`, the run of cell `comparisonCell` of that comparison.
    @discardableResult
    public func start(
        prepared: PreparedRun? = nil, comparisonId: Int64? = nil, comparisonCell: Int? = nil
    ) throws -> RunSummary {
        let prepared = try prepared ?? Self.prepare(configuration, splitDirectory: catalog.splitsDirectory)
        // Lengths in epochs become steps here; one too short for this data fails before the run's row.
        let schedule = try configuration.resolvedSchedule(stepsPerEpoch: prepared.train.batchesPerEpoch)
        var record = RunRecord(
            name: configuration.name, modelId: configuration.modelId, sourceWeights: configuration.weights,
            optimizer: configuration.optimizer.kind.rawValue,
            optimizerParams: (try? CatalogJSON.encode(configuration.optimizer)) ?? "{}",
            schedule: configuration.schedule.name,
            scheduleParams: try Self.scheduleRecord(
                configuration, schedule, stepsPerEpoch: prepared.train.batchesPerEpoch),
            freezeSpec: configuration.trainable.joined(separator: ","),
            bnPolicy: configuration.batchNormPolicy.rawValue,
            seed: Int64(configuration.seed), batchSize: configuration.batchSize, epochsPlanned: configuration.epochs,
            status: .running, comparisonId: comparisonId, comparisonCell: comparisonCell, startedAt: Date())
        // The dataset and its split, so "runs on this split" is a catalog query.
        let data = configuration.data
        let dataset = try catalog.registerDataset(
            root: data.source, classNames: prepared.classNames,
            contentHash: prepared.splitHash)
        let split = try catalog.registerSplit(
            SplitRecord(
                datasetId: dataset.id!, seed: Int64(data.splitSeed), valFraction: data.validationFraction,
                fileListHash: prepared.splitHash))
        record.datasetId = dataset.id
        record.splitId = split.id
        record.parentRunId = lineage?.run
        record.resumedFromCheckpointId = lineage?.checkpoint
        record = try catalog.createRun(record)
        if let source = configuration.learningRateSource {
            try catalog.linkLRRangeTest(source.lrRangeTestId, toRun: record.id!)
        }
        return try execute(prepared, runId: record.id!, checkpoint: nil)
    }

    /// Trains run `runId` again from the start, as the same run: for a run that stopped before its
    /// first checkpoint, so that starting it again leaves no abandoned copy behind. Its epochs are
    /// recorded over the earlier attempt's.
    @discardableResult
    public func restart(runId: Int64, prepared: PreparedRun? = nil) throws -> RunSummary {
        let prepared = try prepared ?? Self.prepare(configuration, splitDirectory: catalog.splitsDirectory)
        _ = try catalog.markRun(runId, status: .running)
        return try execute(prepared, runId: runId, checkpoint: nil)
    }

    /// Continues run `runId` from one of its checkpoints (the latest, or the one at `epoch`).
    /// Continuing from the latest checkpoint of an unfinished run keeps the run; any other
    /// resume starts a child run whose parent is `runId`.
    @discardableResult
    public static func resume(
        runId: Int64, epoch: Int?, catalog: Catalog, showProgress: Bool = true,
        extraEpochs: Int? = nil
    ) throws -> RunSummary {
        let run = try catalog.run(id: runId)
        let candidates = try catalog.checkpoints(filter: CheckpointFilter(run: runId)).map(\.checkpoint)
            .filter { $0.hasOptimizerState }
        let chosen: CheckpointRecord?
        if let epoch {
            chosen = candidates.filter { $0.epoch == epoch }.max { $0.globalStep < $1.globalStep }
        } else {
            chosen = candidates.max { $0.globalStep < $1.globalStep }
        }
        guard let chosen else {
            throw TrainingError.noCheckpoint(run: runId, epoch: epoch)
        }
        let url = try catalog.verifiedFile(for: chosen)
        let checkpoint = try TrainingCheckpoint.read(url)
        var configuration = checkpoint.runConfiguration
        if let extraEpochs { configuration.epochs = max(configuration.epochs, checkpoint.position.epoch + extraEpochs) }
        let trainingRun = TrainingRun(configuration: configuration, catalog: catalog)
        trainingRun.showProgress = showProgress
        let prepared = try prepare(configuration, splitDirectory: catalog.splitsDirectory)
        let continuing = epoch == nil && !run.status.isComplete
        let targetRun: Int64
        if continuing {
            targetRun = runId
            _ = try catalog.markRun(runId, status: .running)
        } else {
            var child = run
            child.id = nil
            child.parentRunId = runId
            child.resumedFromCheckpointId = chosen.id
            child.status = .running
            child.epochsPlanned = configuration.epochs
            child.createdAt = Date()
            child.startedAt = Date()
            child.finishedAt = nil
            targetRun = try catalog.createRun(child).id!
            // The child's history starts with the parent's epochs up to the checkpoint.
            for m in checkpoint.position.history {
                _ = try catalog.recordEpoch(EpochMetricRecord(runId: targetRun, metrics: m, globalStep: nil))
            }
        }
        return try trainingRun.execute(prepared, runId: targetRun, checkpoint: checkpoint)
    }

    func execute(_ prepared: PreparedRun, runId: Int64, checkpoint: TrainingCheckpoint?) throws -> RunSummary {
        let model = prepared.model
        let optimizer = try Optimizer(
            configuration.optimizer, parameters: model.namedParameters(),
            learningRateFactors: Self.learningRateFactors(model, configuration.blockLearningRateFactors))
        let schedule = try configuration.trainingSchedule(stepsPerEpoch: prepared.train.batchesPerEpoch)
        let trainer = try Trainer(
            model: model, optimizer: optimizer, schedule: schedule,
            trainableBlocks: configuration.trainable, batchNormPolicy: configuration.batchNormPolicy)
        trainer.firstPhase = configuration.firstPhase.map { ($0.epochs, $0.trainable) }
        trainer.gradualUnfreezeEvery = configuration.gradualUnfreezeEvery
        trainer.labelSmoothing = configuration.labelSmoothing ?? 0
        trainer.batchMixing = configuration.batchMixing
        trainer.weightEMA = configuration.emaDecay.map { WeightEMA(decay: $0) }
        let early = configuration.earlyStopping
        // A first phase only prepares the one after it: early stopping watches that one alone.
        let firstEpochs = configuration.firstPhase?.epochs ?? 0
        let mainChecks = EarlyStopping.checks(
            schedule: try configuration.resolvedSchedule(stepsPerEpoch: prepared.train.batchesPerEpoch).schedule,
            stepsPerEpoch: prepared.train.batchesPerEpoch, epochs: configuration.mainEpochs)
        let checks = (
            cyclical: mainChecks.cyclical,
            isCheck: { @Sendable (epoch: Int) in epoch > firstEpochs && mainChecks.isCheck(epoch - firstEpochs) }
        )
        if let early {
            trainer.shouldStop = { trainer in
                early.stop(history: trainer.position.history, isCheck: checks.isCheck) != nil
            }
        }
        if let mb = configuration.featureCacheMB { trainer.featureCacheBytes = max(0, mb) << 20 }
        if let checkpoint {
            guard checkpoint.optimizer != nil else { throw TrainingError.noOptimizerState(path: "run \(runId)") }
            try checkpoint.restore(into: trainer)
        }
        try FileManager.default.createDirectory(
            at: catalog.checkpointDirectory(run: runId), withIntermediateDirectories: true)
        let metricsFile = catalog.metricsFile(run: runId)
        var checkpointIds: [Int64] = []
        var bestAccuracy = trainer.position.history.compactMap(\.validationAccuracy).max()
        let save = configuration.save
        let catalog = self.catalog
        // What checkpoints and the metrics file record: this run's configuration with the
        // normalisation `prepare` resolved (a caller may set the schedule after preparing).
        var configuration = self.configuration
        configuration.data = prepared.configuration.data
        let attributes = prepared.attributes

        let printer = TrainingProgressPrinter(progress: showProgress)
        let emit = { [onEvent] (event: TrainingEvent) in
            printer.show(event)
            onEvent?(event)
        }
        let batches = prepared.train.batchesPerEpoch
        if checkpoint == nil {
            for warning in configuration.warnings(stepsPerEpoch: batches) { emit(.warning(warning)) }
        }
        trainer.onStep = { [unowned trainer] position, loss, accuracy, lr in
            emit(
                .step(
                    TrainingStep(
                        position: position, loss: loss, accuracy: accuracy, learningRate: lr,
                        batchesPerEpoch: batches, plannedEpochs: configuration.epochs,
                        onCachedFeatures: trainer.epochRunsOnCachedFeatures)))
        }
        let trainSamples = prepared.train.sampleCount
        var cacheReported: FeatureCache?
        trainer.onEpoch = { metrics, trainer in
            // Say once per cache (and again if gradual unfreezing replaces it) what later epochs skip.
            var cacheSummary: String?
            if let cache = trainer.featureCache, cache !== cacheReported, metrics.epoch < configuration.epochs {
                cacheSummary = cache.summary(blockNames: trainer.model.blockNames, samples: trainSamples)
                cacheReported = cache
            }
            emit(.epochEnded(metrics, plannedEpochs: configuration.epochs, featureCache: cacheSummary))
            _ = try catalog.recordEpoch(
                EpochMetricRecord(runId: runId, metrics: metrics, globalStep: trainer.position.globalStep))
            try Self.writeMetrics(trainer.position.history, runId: runId, configuration: configuration, to: metricsFile)
        }
        trainer.onCheckpoint = { moment, trainer in
            let reasons = save.reasons(
                at: moment, position: trainer.position, plannedEpochs: configuration.epochs,
                bestAccuracy: &bestAccuracy)
            guard !reasons.isEmpty else { return }
            let step = trainer.position.globalStep
            let file = catalog.defaultCheckpointURL(run: runId, epoch: trainer.position.epoch, globalStep: Int64(step))
            let snapshot = TrainingCheckpoint(trainer: trainer, configuration: configuration, attributes: attributes)
            let draft = CheckpointRecord(
                runId: runId, epoch: trainer.position.epoch, globalStep: step,
                lr: schedule.learningRate(at: max(0, step - 1)),
                cycleIndex: moment.minimumOfCycle,
                metrics: moment.isEpochEnd ? trainer.position.history.last : nil, reasons: reasons)
            // Intent row, temporary file, fsync, rename, then the row: a crash leaves a complete
            // registered checkpoint or none.
            let saved = try catalog.saveCheckpoint(draft, to: file) { try snapshot.write(to: $0, atomically: false) }
            checkpointIds.append(saved.id!)
            emit(.checkpointSaved(saved))
        }

        do {
            try trainer.fit(train: prepared.train, validation: prepared.validation, epochs: configuration.epochs)
        } catch {
            emit(.failed(error))
            _ = try? catalog.markRun(runId, status: .failed, error: error.localizedDescription)
            throw error
        }
        var stopReason: String?
        if trainer.stoppedEarly, let early,
            let stop = early.stop(history: trainer.position.history, isCheck: checks.isCheck)
        {
            stopReason = early.describe(stop, cyclical: checks.cyclical)
            emit(.stoppedEarly(stopReason!))
        }
        _ = try catalog.markRun(runId, status: stopReason == nil ? .finished : .stoppedEarly, error: stopReason)
        if let keep = save.keep {
            _ = try catalog.prune(
                run: runId, keep: keep,
                stripOptimizer: { try TrainingCheckpoint.stripOptimizerState(from: $0, to: $1) })
        }
        return RunSummary(
            runId: runId, history: trainer.position.history, checkpointIds: checkpointIds,
            metricsFile: metricsFile, bestValidationAccuracy: bestAccuracy,
            skippedOnLoad: prepared.skippedOnLoad, stopReason: stopReason)
    }

    /// The catalog's `schedule_params`: the resolved schedule, or with a first phase each phase's
    /// epochs, blocks, schedule and the rule that chose its rates.
    static func scheduleRecord(
        _ configuration: RunConfiguration, _ schedule: ResolvedSchedule, stepsPerEpoch: Int
    ) throws -> String {
        guard let first = configuration.firstPhase,
            let firstSchedule = try configuration.resolvedFirstPhaseSchedule(stepsPerEpoch: stepsPerEpoch)
        else { return (try? CatalogJSON.encode(schedule)) ?? "{}" }
        struct Phase: Encodable {
            var epochs: Int
            var trainable: [String]
            var schedule: ResolvedSchedule
            var lrRule: String?
            var lrFactors: [String: Double]
        }
        struct Phases: Encodable { var phases: [Phase] }
        let factors = configuration.blockLearningRateFactors
        return
            (try? CatalogJSON.encode(
                Phases(phases: [
                    Phase(
                        epochs: first.epochs, trainable: first.trainable, schedule: firstSchedule,
                        lrRule: first.learningRateRule, lrFactors: factors.filter { first.trainable.contains($0.key) }),
                    Phase(
                        epochs: configuration.mainEpochs, trainable: configuration.trainable, schedule: schedule,
                        lrRule: configuration.learningRateRule, lrFactors: factors),
                ]))) ?? "{}"
    }

    /// The per-epoch metrics as JSON, rewritten atomically after every epoch.
    static func writeMetrics(
        _ history: [EpochMetrics], runId: Int64, configuration: RunConfiguration, to url: URL
    ) throws {
        struct File: Encodable {
            var run: Int64
            var configuration: RunConfiguration
            var epochs: [EpochMetrics]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(File(run: runId, configuration: configuration, epochs: history)), to: url)
    }
}
