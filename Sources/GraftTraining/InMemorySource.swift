import GraftTensor

/// Images already in memory as one `[N, C, H, W]` tensor (e.g. Fashion-MNIST arrays), served in
/// a seeded order that depends only on `(seed, epoch)`.
public final class InMemoryBatchSource: BatchSource {
    public let images: Tensor
    public let labels: [Int]
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool

    public init(images: Tensor, labels: [Int], batchSize: Int, shuffle: Bool, seed: UInt64 = 0, dropLast: Bool = false) {
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

    /// The sample order of an epoch: a Fisher–Yates shuffle seeded by `(seed, epoch)`.
    public func order(epoch: Int) -> [Int] {
        SampleOrder.permutation(count: labels.count, seed: seed, epoch: epoch, shuffle: shuffle)
    }

    public func batches(epoch: Int, startingAt batch: Int) -> BatchIterator {
        let order = order(epoch: epoch)
        var b = batch
        let total = batchesPerEpoch
        return BatchIterator { [self] in
            guard b < total else { return nil }
            defer { b += 1 }
            return makeBatch(Array(order[(b * batchSize)..<min(order.count, (b + 1) * batchSize)]))
        }
    }

    /// The images are used as they are: the same every epoch.
    public var samplesAreDeterministic: Bool { true }

    public func sampleIdentities(epoch: Int) -> [(ids: [Int], labels: [Int])]? {
        let order = order(epoch: epoch)
        return (0..<batchesPerEpoch).map { b in
            let ids = Array(order[(b * batchSize)..<min(order.count, (b + 1) * batchSize)])
            return (ids, ids.map { labels[$0] })
        }
    }

    public func batch(epoch: Int, index: Int) throws -> LabeledBatch {
        let order = order(epoch: epoch)
        return makeBatch(Array(order[(index * batchSize)..<min(order.count, (index + 1) * batchSize)]))
    }

    private func makeBatch(_ indices: [Int]) -> LabeledBatch {
        let per = images.count / max(1, images.size(0))
        var x = Tensor(uninitializedShape: [indices.count] + Array(images.shape.dropFirst()))
        let dst = x.mutablePointer(), src = images.pointer
        for (j, i) in indices.enumerated() { (dst + j * per).update(from: src + i * per, count: per) }
        return LabeledBatch(images: x, labels: indices.map { labels[$0] }, ids: indices)
    }
}

/// The seeded sample order of `InMemoryBatchSource` (the loader has its own, `BatchLoader.order`).
public enum SampleOrder {
    public static func permutation(count: Int, seed: UInt64, epoch: Int, shuffle: Bool) -> [Int] {
        var order = Array(0..<count)
        guard shuffle, count > 1 else { return order }
        var rng = RandomGenerator(seed: seed &+ 0x5EED).derived(UInt64(epoch) &+ 1)
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }
}
