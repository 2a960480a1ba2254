import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor

/// Trains a block-structured model with an optimizer and a per-step learning-rate schedule.
///
/// The trainer owns no files: it hands checkpoint moments and epoch metrics to the caller
/// (`onCheckpoint`, `onEpoch`), which saves and records them.
public final class Trainer {
    public let model: any BlockStructured
    public let optimizer: Optimizer
    public let schedule: any LRSchedule
    public var batchNormPolicy: BatchNormPolicy
    public var position = TrainingPosition()
    /// Label smoothing ε of the training loss (0: none); evaluation uses the plain cross-entropy.
    public var labelSmoothing = 0.0
    /// mixup / CutMix of every training batch (`BatchMixing`); nil trains on the batches as they
    /// come. It turns the feature cache off: mixing inputs is not mixing trunk outputs.
    public var batchMixing: BatchMixing?
    /// The weight average updated after every optimizer step and evaluated after every epoch
    /// (`WeightEMA`); nil keeps none.
    public var weightEMA: WeightEMA?
    /// Unfreeze one more block (from the top) every this many epochs; nil keeps the set fixed.
    public var gradualUnfreezeEvery: Int?
    public var initialTrainableBlocks: [String]
    /// A first phase's length and blocks (`RunConfiguration.firstPhase`): its epochs train these
    /// blocks; the epochs after it `initialTrainableBlocks`, with gradual unfreezing counted from there.
    public var firstPhase: (epochs: Int, trainable: [String])?

    /// Bytes of frozen-trunk output kept across epochs (`FeatureCache`); 0 turns the cache off.
    public var featureCacheBytes = 2 << 30
    /// The cache in use this epoch, nil when it does not apply.
    public internal(set) var featureCache: FeatureCache?
    /// The validation samples' trunk output (see `evaluate`), and which source it belongs to.
    public internal(set) var validationCache: FeatureCache?
    var validationSource: ObjectIdentifier?
    /// True while this epoch's batches come from the feature cache alone, no image loaded.
    public internal(set) var epochRunsOnCachedFeatures = false

    public var onStep: ((_ position: TrainingPosition, _ loss: Float, _ accuracy: Double, _ lr: Double) -> Void)?
    public var onCheckpoint: ((_ moment: CheckpointMoment, _ trainer: Trainer) throws -> Void)?
    public var onEpoch: ((_ metrics: EpochMetrics, _ trainer: Trainer) throws -> Void)?
    /// Asked after each epoch (and its checkpoint): true ends training there (early stopping).
    public var shouldStop: ((_ trainer: Trainer) -> Bool)?
    /// Whether the last `fit` ended before its epochs because `shouldStop` said so.
    public internal(set) var stoppedEarly = false

    public init(
        model: any BlockStructured, optimizer: Optimizer, schedule: any LRSchedule,
        trainableBlocks: [String], batchNormPolicy: BatchNormPolicy = .eval
    ) throws {
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.batchNormPolicy = batchNormPolicy
        self.initialTrainableBlocks = trainableBlocks
        try applyTrainable(epoch: 0)
    }

    /// Blocks trainable during `epoch`, with gradual unfreezing applied.
    public func trainableBlocks(epoch: Int) -> [String] {
        if let first = firstPhase, epoch < first.epochs { return first.trainable }
        let epoch = epoch - (firstPhase?.epochs ?? 0)
        guard let every = gradualUnfreezeEvery, every > 0 else { return initialTrainableBlocks }
        let names = model.blockNames
        let lowest = names.firstIndex { initialTrainableBlocks.contains($0) } ?? names.count - 1
        let extra = epoch / every
        return Array(names[max(0, lowest - extra)...])
    }

    func applyTrainable(epoch: Int) throws {
        model.train()
        try model.setTrainable(trainableBlocks(epoch: epoch), batchNorm: batchNormPolicy)
    }

    /// Sets the optimizer's learning rate (and momentum, when cycled) for the next step.
    private func applySchedule() -> Double {
        let lr = schedule.learningRate(at: position.globalStep)
        optimizer.learningRate = lr
        if let m = schedule.momentum(at: position.globalStep) { optimizer.momentum = m }
        return lr
    }

    /// Trains until `epochs` epochs are complete, continuing from `position`.
    public func fit(train: BatchSource, validation: BatchSource?, epochs: Int) throws {
        guard train.batchesPerEpoch > 0 else { throw TrainingError.emptyDataset("the training split") }
        stoppedEarly = false
        while position.epoch < epochs {
            try applyTrainable(epoch: position.epoch)
            let identities =
                featureCacheBytes > 0 && batchMixing == nil ? train.sampleIdentities(epoch: position.epoch) : nil
            try updateFeatureCache(for: train, hasIdentities: identities != nil)
            let started = Date()
            var lastLR = optimizer.learningRate
            // When the cache holds every sample of the rest of the epoch, batches are assembled
            // from it with the source's ids and labels: no image is loaded. The order is the
            // source's either way, so the run sees the same batches as without the cache.
            var listing = featureCache == nil ? nil : identities
            if let l = listing, let cache = featureCache,
                !l.dropFirst(position.batchInEpoch).allSatisfy({ cache.holds($0.ids) })
            {
                listing = nil
            }
            epochRunsOnCachedFeatures = listing != nil
            if epochRunsOnCachedFeatures { train.releaseKeptImages() }
            let loaded = listing == nil ? train.batches(epoch: position.epoch, startingAt: position.batchInEpoch) : nil
            while true {
                let labels: [Int], result: (loss: Float, correct: Int)
                if let listing, let cache = featureCache {
                    let b = position.batchInEpoch
                    guard b < listing.count else { break }
                    labels = listing[b].labels
                    lastLR = applySchedule()
                    // Every remaining batch was found in the cache above.
                    result = trainOnTrunkOutput(cache.batch(listing[b].ids)!, labels: labels)
                } else {
                    guard let batch = try loaded?.next() else { break }
                    labels = batch.labels
                    lastLR = applySchedule()
                    result = trainStep(batch)
                }
                let (loss, correct) = result
                guard loss.isFinite else {
                    throw TrainingError.nonFiniteLoss(epoch: position.epoch, step: position.globalStep, value: loss)
                }
                weightEMA?.update(from: model)
                position.globalStep += 1
                position.batchInEpoch += 1
                position.epochLossSum += Double(loss) * Double(labels.count)
                position.epochCorrect += correct
                position.epochSeen += labels.count
                onStep?(position, loss, Double(position.epochCorrect) / Double(max(1, position.epochSeen)), lastLR)
                if schedule.isMinimum(at: position.globalStep), position.batchInEpoch < train.batchesPerEpoch {
                    try onCheckpoint?(CheckpointMoment(isEpochEnd: false, minimumOfCycle: endedCycle()), self)
                }
            }
            var metrics = EpochMetrics(
                epoch: position.epoch + 1,
                trainLoss: position.epochLossSum / Double(max(1, position.epochSeen)),
                trainAccuracy: Double(position.epochCorrect) / Double(max(1, position.epochSeen)),
                learningRate: lastLR, seconds: 0)
            if let validation {
                let (loss, accuracy) = try evaluate(validation)
                metrics.validationLoss = loss
                metrics.validationAccuracy = accuracy
                if let ema = weightEMA, ema.updates > 0 {
                    let (emaLoss, emaAccuracy) = try evaluateEMA(ema, on: validation)
                    metrics.emaValidationLoss = emaLoss
                    metrics.emaValidationAccuracy = emaAccuracy
                }
            }
            metrics.seconds = Date().timeIntervalSince(started)
            position.history.append(metrics)
            position.epoch += 1
            position.batchInEpoch = 0
            position.epochLossSum = 0
            position.epochCorrect = 0
            position.epochSeen = 0
            try onEpoch?(metrics, self)
            let atMinimum = schedule.isMinimum(at: position.globalStep)
            try onCheckpoint?(CheckpointMoment(isEpochEnd: true, minimumOfCycle: atMinimum ? endedCycle() : nil), self)
            if position.epoch < epochs, shouldStop?(self) == true {
                stoppedEarly = true
                return
            }
        }
    }

    /// The cycle the last step belonged to.
    private func endedCycle() -> Int { schedule.cycleIndex(at: position.globalStep - 1) ?? 0 }

    /// Forward, backward and one optimizer step. Returns the batch's mean loss and correct count.
    /// With the feature cache in use and the batch's sample ids known, the trunk's output comes
    /// from (or goes into) the cache and only the blocks above it run.
    public func trainStep(_ batch: LabeledBatch) -> (loss: Float, correct: Int) {
        if let batchMixing { return trainMixedStep(batch, mixing: batchMixing) }
        if let cache = featureCache, let ids = batch.ids {
            return trainOnTrunkOutput(cache.output(of: model, images: batch.images, ids: ids), labels: batch.labels)
        }
        optimizer.zeroGrad()
        let logits = model.forward(batch.images, mode: .parameters)
        let (loss, gradient, correct) = CrossEntropy.lossAndGradient(
            logits: logits, labels: batch.labels, labelSmoothing: labelSmoothing)
        guard loss.isFinite else { return (loss, correct) }
        _ = model.backward(gradient)
        model.clearSaved()
        optimizer.step()
        return (loss, correct)
    }
}
