import GraftTensor

/// Images already in memory as one `[N, C, H, W]` tensor (e.g. Fashion-MNIST arrays), served in
/// the seeded order of `SampleOrder`.
public final class InMemoryBatchSource: BatchSource {
    public let images: Tensor
    public let labels: [Int]
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool

    public init(images: Tensor, labels: [Int], batchSize: Int, shuffle: Bool, seed: UInt64 = 0, dropLast: Bool = false)
    {
        precondition(images.size(0) == labels.count, "\(images.size(0)) images, \(labels.count) labels")
        self.images = images
        self.labels = labels
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
    }

    public var sampleCount: Int { labels.count }

    public var batchesPerEpoch: Int {
        dropLast ? labels.count / batchSize : (labels.count + batchSize - 1) / batchSize
    }

    /// The sample order of an epoch.
    public func order(epoch: Int) -> [Int] {
        let all = Array(0..<labels.count)
        return shuffle ? SampleOrder.shuffled(all, seed: seed, epoch: epoch) : all
    }

    public func batches(epoch: Int, startingAt batch: Int) -> BatchIterator {
        let order = order(epoch: epoch)
        var b = batch
        let total = batchesPerEpoch
        return BatchIterator { [self] in
            guard b < total else { return nil }
            defer { b += 1 }
            return makeBatch(SampleOrder.slice(order, batch: b, size: batchSize))
        }
    }

    /// The images are used as they are: the same every epoch.
    public var samplesAreDeterministic: Bool { true }

    public func sampleIdentities(epoch: Int) -> [(ids: [Int], labels: [Int])]? {
        let order = order(epoch: epoch)
        return (0..<batchesPerEpoch).map { b in
            let ids = SampleOrder.slice(order, batch: b, size: batchSize)
            return (ids, ids.map { labels[$0] })
        }
    }

    public func batch(epoch: Int, index: Int) throws -> LabeledBatch {
        makeBatch(SampleOrder.slice(order(epoch: epoch), batch: index, size: batchSize))
    }

    private func makeBatch(_ indices: [Int]) -> LabeledBatch {
        let per = images.count / max(1, images.size(0))
        var x = Tensor(uninitializedShape: [indices.count] + Array(images.shape.dropFirst()))
        let dst = x.mutablePointer(), src = images.pointer
        for (j, i) in indices.enumerated() { (dst + j * per).update(from: src + i * per, count: per) }
        return LabeledBatch(images: x, labels: indices.map { labels[$0] }, ids: indices)
    }
}
