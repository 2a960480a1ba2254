import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor

/// Metrics of one finished epoch.
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
}

/// Where training stands: everything besides weights and optimizer state that an exact resume
/// needs.
public struct TrainingPosition: Codable, Sendable, Equatable {
    /// Epochs fully completed.
    public var epoch = 0
    /// Batches completed within the current epoch (non-zero only for mid-epoch snapshots).
    public var batchInEpoch = 0
    /// Optimizer steps taken since the start of the run.
    public var globalStep = 0
    /// Running sums of the current epoch's training metrics, so a mid-epoch resume reports the
    /// same epoch numbers.
    public var epochLossSum = 0.0
    public var epochCorrect = 0
    public var epochSeen = 0
    public var history: [EpochMetrics] = []

    public init() {}
}

/// A moment at which the trainer offers the caller a checkpoint.
public struct CheckpointMoment: Sendable, Equatable {
    /// An epoch just finished (otherwise this is a mid-epoch schedule minimum).
    public var isEpochEnd: Bool
    /// The 0-based cycle that just ended when the schedule is at a minimum (a cycle's end, its
    /// lowest learning rate), else nil.
    public var minimumOfCycle: Int?
}

public enum TrainingError: LocalizedError, Equatable {
    case nonFiniteLoss(epoch: Int, step: Int, value: Float)
    case emptyDataset(String)

    public var errorDescription: String? {
        switch self {
        case .nonFiniteLoss(let epoch, let step, let value):
            "training stopped: the loss became \(value) at epoch \(epoch + 1), step \(step) — lower the learning rate or check the data"
        case .emptyDataset(let what):
            "\(what) has no images"
        }
    }
}

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
    /// Unfreeze one more block (from the top) every this many epochs; nil keeps the set fixed.
    public var gradualUnfreezeEvery: Int?
    public var initialTrainableBlocks: [String]

    /// Bytes of frozen-trunk output kept across epochs (`FeatureCache`); 0 turns the cache off.
    public var featureCacheBytes = 2 << 30
    /// The cache in use this epoch, nil when it does not apply.
    public private(set) var featureCache: FeatureCache?
    /// The validation samples' trunk output (see `evaluate`), and which source it belongs to.
    public private(set) var validationCache: FeatureCache?
    private var validationSource: ObjectIdentifier?
    /// True while this epoch's batches come from the feature cache alone, no image loaded.
    public private(set) var epochRunsOnCachedFeatures = false

    public var onStep: ((_ position: TrainingPosition, _ loss: Float, _ accuracy: Double, _ lr: Double) -> Void)?
    public var onCheckpoint: ((_ moment: CheckpointMoment, _ trainer: Trainer) throws -> Void)?
    public var onEpoch: ((_ metrics: EpochMetrics, _ trainer: Trainer) throws -> Void)?

    public init(model: any BlockStructured, optimizer: Optimizer, schedule: any LRSchedule,
                trainableBlocks: [String], batchNormPolicy: BatchNormPolicy = .eval) throws {
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.batchNormPolicy = batchNormPolicy
        self.initialTrainableBlocks = trainableBlocks
        try applyTrainable(epoch: 0)
    }

    /// Blocks trainable during `epoch`, with gradual unfreezing applied.
    public func trainableBlocks(epoch: Int) -> [String] {
        guard let every = gradualUnfreezeEvery, every > 0 else { return initialTrainableBlocks }
        let names = model.blockNames
        let lowest = names.firstIndex { initialTrainableBlocks.contains($0) } ?? names.count - 1
        let extra = epoch / every
        return Array(names[max(0, lowest - extra)...])
    }

    private func applyTrainable(epoch: Int) throws {
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
        while position.epoch < epochs {
            try applyTrainable(epoch: position.epoch)
            let identities = featureCacheBytes > 0 ? train.sampleIdentities(epoch: position.epoch) : nil
            try updateFeatureCache(for: train, hasIdentities: identities != nil)
            let started = Date()
            var lastLR = optimizer.learningRate
            // When the cache holds every sample of the rest of the epoch, batches are assembled
            // from it with the source's ids and labels: no image is loaded. The order is the
            // source's either way, so the run sees the same batches as without the cache.
            var listing = featureCache == nil ? nil : identities
            if let l = listing, let cache = featureCache, !l.dropFirst(position.batchInEpoch).allSatisfy({ cache.holds($0.ids) }) {
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
        }
    }

    /// The cycle the last step belonged to.
    private func endedCycle() -> Int { schedule.cycleIndex(at: position.globalStep - 1) ?? 0 }

    /// Sets up, keeps or drops the feature cache for this epoch's trainable blocks: on when the
    /// blocks below the lowest trainable one are frozen and deterministic, the source's samples
    /// are the same every epoch and have ids, and the budget is not 0.
    private func updateFeatureCache(for source: BatchSource, hasIdentities: Bool) throws {
        let lowest = model.blocks.firstIndex { $0.modules.contains { $0.hasTrainableParameters } } ?? 0
        guard featureCacheBytes > 0, lowest > 0, hasIdentities, source.samplesAreDeterministic,
              model.isDeterministicTrunk(below: lowest) else {
            featureCache = nil
            return
        }
        if let cache = featureCache, cache.firstTrainableBlock == lowest, cache.byteLimit == featureCacheBytes { return }
        // A new cut (gradual unfreezing) needs the new trunk's output: start over.
        let cache = FeatureCache(firstTrainableBlock: lowest, byteLimit: featureCacheBytes)
        featureCache = cache
        try refill(cache, from: source)
    }

    /// Drops the cached features; the next epoch builds the cache anew. Call it after changing
    /// the model's weights from outside (`TrainingCheckpoint.restore` does).
    public func resetFeatureCache() {
        featureCache = nil
        validationCache = nil
        epochRunsOnCachedFeatures = false
    }

    /// Index of the lowest block trainable during `epoch`.
    private func lowestTrainableBlock(epoch: Int) -> Int? {
        let names = trainableBlocks(epoch: epoch)
        return model.blockNames.firstIndex { names.contains($0) }
    }

    /// Brings a cache created after its cut's first batch (a resumed run) to exactly what an
    /// uninterrupted run's cache holds at this point: the trunk run on the same batches, in the
    /// same order, since a sample's features can differ in the last bits with the batch they
    /// were computed in. Only batches that stored something are run again (the first epoch of
    /// the cut, and any sample seen later), so resuming costs about one trunk pass.
    private func refill(_ cache: FeatureCache, from source: BatchSource) throws {
        var first = position.epoch
        while first > 0 && lowestTrainableBlock(epoch: first - 1) == cache.firstTrainableBlock { first -= 1 }
        for epoch in first...position.epoch {
            let end = epoch == position.epoch ? position.batchInEpoch : source.batchesPerEpoch
            guard end > 0, let listing = source.sampleIdentities(epoch: epoch) else { continue }
            for index in 0..<min(end, listing.count) where cache.wouldStore(listing[index].ids) {
                let batch = try source.batch(epoch: epoch, index: index)
                _ = cache.output(of: model, images: batch.images, ids: batch.ids ?? listing[index].ids)
            }
        }
    }

    /// Forward, backward and one optimizer step. Returns the batch's mean loss and correct count.
    /// With the feature cache in use and the batch's sample ids known, the trunk's output comes
    /// from (or goes into) the cache and only the blocks above it run.
    public func trainStep(_ batch: LabeledBatch) -> (loss: Float, correct: Int) {
        if let cache = featureCache, let ids = batch.ids {
            return trainOnTrunkOutput(cache.output(of: model, images: batch.images, ids: ids), labels: batch.labels)
        }
        optimizer.zeroGrad()
        let logits = model.forward(batch.images, mode: .parameters)
        let (loss, gradient, correct) = CrossEntropy.lossAndGradient(logits: logits, labels: batch.labels)
        guard loss.isFinite else { return (loss, correct) }
        _ = model.backward(gradient)
        model.clearSaved()
        optimizer.step()
        return (loss, correct)
    }

    /// A step of the blocks above the cached trunk, on the trunk's output `features`.
    private func trainOnTrunkOutput(_ features: Tensor, labels: [Int]) -> (loss: Float, correct: Int) {
        guard let cache = featureCache else { preconditionFailure("no feature cache") }
        optimizer.zeroGrad()
        var head = model.chain(from: cache.firstTrainableBlock)
        let logits = head.forward(features, mode: .parameters)
        let (loss, gradient, correct) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        guard loss.isFinite else { return (loss, correct) }
        _ = head.backward(gradient)
        model.clearSaved()
        optimizer.step()
        return (loss, correct)
    }

    /// Mean loss and accuracy in eval mode; the model goes back to training mode afterwards.
    /// While the feature cache is in use, validation reuses the trunk's output too: the frozen
    /// trunk computes the same in eval mode, and the validation batches are the same every epoch,
    /// so the stored features are exactly what the trunk would compute again.
    public func evaluate(_ source: BatchSource) throws -> (loss: Double, accuracy: Double) {
        defer { try? applyTrainable(epoch: position.epoch) }
        guard let trainCache = featureCache, source.samplesAreDeterministic,
              let listing = source.sampleIdentities(epoch: 0) else {
            let result = try Evaluation.run(model, on: source)
            return (result.loss, result.accuracy)
        }
        let cut = trainCache.firstTrainableBlock
        if validationCache?.firstTrainableBlock != cut || validationCache?.byteLimit != featureCacheBytes
            || validationSource != ObjectIdentifier(source) {
            validationCache = FeatureCache(firstTrainableBlock: cut, byteLimit: featureCacheBytes)
            validationSource = ObjectIdentifier(source)
        }
        let cache = validationCache!
        model.eval()
        var head = model.chain(from: cut)
        var lossSum = 0.0, correct = 0, seen = 0
        func score(_ features: Tensor, _ labels: [Int]) {
            let (loss, _, c) = CrossEntropy.lossAndGradient(logits: head.forward(features, mode: .none), labels: labels)
            lossSum += Double(loss) * Double(labels.count)
            correct += c
            seen += labels.count
        }
        if listing.allSatisfy({ cache.holds($0.ids) }) {
            for entry in listing { score(cache.batch(entry.ids)!, entry.labels) }
        } else {
            let batches = source.batches(epoch: 0, startingAt: 0)
            while let batch = try batches.next() {
                let features = batch.ids.map { cache.output(of: model, images: batch.images, ids: $0) }
                    ?? model.trunkOutput(batch.images, below: cut)
                score(features, batch.labels)
            }
        }
        return (lossSum / Double(max(1, seen)), Double(correct) / Double(max(1, seen)))
    }
}

/// Eval-mode passes over a batch source.
public enum Evaluation {
    public struct Result: Sendable {
        public var loss: Double
        public var accuracy: Double
        public var count: Int
    }

    /// Mean cross-entropy and accuracy with the model in eval mode (left in eval mode).
    public static func run(_ model: Module, on source: BatchSource) throws -> Result {
        model.eval()
        var lossSum = 0.0, correct = 0, seen = 0
        let batches = source.batches(epoch: 0, startingAt: 0)
        while let batch = try batches.next() {
            let logits = model(batch.images)
            let (loss, _, c) = CrossEntropy.lossAndGradient(logits: logits, labels: batch.labels)
            lossSum += Double(loss) * Double(batch.labels.count)
            correct += c
            seen += batch.labels.count
        }
        return Result(loss: lossSum / Double(max(1, seen)), accuracy: Double(correct) / Double(max(1, seen)), count: seen)
    }
}
