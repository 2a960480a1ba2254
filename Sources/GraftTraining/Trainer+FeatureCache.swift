import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftTensor

/// The trainer's use of the feature cache: when to keep the frozen trunk's output, how a resumed
/// run rebuilds it, and how training and validation steps read it.
extension Trainer {
    /// Sets up, keeps or drops the feature cache for this epoch's trainable blocks: on when the
    /// blocks below the lowest trainable one are frozen and deterministic, the source's samples
    /// are the same every epoch and have ids, and the budget is not 0.
    func updateFeatureCache(for source: BatchSource, hasIdentities: Bool) throws {
        let lowest = model.blocks.firstIndex { $0.modules.contains { $0.hasTrainableParameters } } ?? 0
        guard featureCacheBytes > 0, lowest > 0, hasIdentities, source.samplesAreDeterministic,
            model.isDeterministicTrunk(below: lowest)
        else {
            featureCache = nil
            return
        }
        if let cache = featureCache, cache.firstTrainableBlock == lowest, cache.byteLimit == featureCacheBytes {
            return
        }
        // A new cut (gradual unfreezing) needs the new trunk's output: start over.
        let cache = FeatureCache(firstTrainableBlock: lowest, byteLimit: featureCacheBytes)
        featureCache = cache
        try refill(cache, from: source)
    }

    /// Drops the cached features; the next epoch builds the cache anew. Call it after changing
    /// the model's weights from outside (`TrainingCheckpoint.restore` does).
    func resetFeatureCache() {
        featureCache = nil
        validationCache = nil
        epochRunsOnCachedFeatures = false
    }

    /// Index of the lowest block trainable during `epoch`.
    func lowestTrainableBlock(epoch: Int) -> Int? {
        let names = trainableBlocks(epoch: epoch)
        return model.blockNames.firstIndex { names.contains($0) }
    }

    /// Brings a cache created after its cut's first batch (a resumed run) to exactly what an
    /// uninterrupted run's cache holds at this point: the trunk run on the same batches, in the
    /// same order, since a sample's features can differ in the last bits with the batch they
    /// were computed in. Only batches that stored something are run again (the first epoch of
    /// the cut, and any sample seen later), so resuming costs about one trunk pass.
    func refill(_ cache: FeatureCache, from source: BatchSource) throws {
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

    /// A step of the blocks above the cached trunk, on the trunk's output `features`.
    func trainOnTrunkOutput(_ features: Tensor, labels: [Int]) -> (loss: Float, correct: Int) {
        guard let cache = featureCache else { preconditionFailure("no feature cache") }
        optimizer.zeroGrad()
        var head = model.chain(from: cache.firstTrainableBlock)
        let logits = head.forward(features, mode: .parameters)
        let (loss, gradient, correct) = CrossEntropy.lossAndGradient(
            logits: logits, labels: labels, labelSmoothing: labelSmoothing)
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
            let listing = source.sampleIdentities(epoch: 0)
        else {
            let result = try Evaluation.run(model, on: source)
            return (result.loss, result.accuracy)
        }
        let cut = trainCache.firstTrainableBlock
        if validationCache?.firstTrainableBlock != cut || validationCache?.byteLimit != featureCacheBytes
            || validationSource != ObjectIdentifier(source)
        {
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
                let features =
                    batch.ids.map { cache.output(of: model, images: batch.images, ids: $0) }
                    ?? model.trunkOutput(batch.images, below: cut)
                score(features, batch.labels)
            }
        }
        return (lossSum / Double(max(1, seen)), Double(correct) / Double(max(1, seen)))
    }
}
