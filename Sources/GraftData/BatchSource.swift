import Foundation
import GraftTensor

/// One mini-batch: NCHW float32 images, their class indices and, when the source has them, the
/// samples' stable identities (dataset indices).
public struct LabeledBatch: @unchecked Sendable {
    /// `[labels.count · views, C, H, W]`: sample `i`'s views are rows `i · views ..< (i + 1) · views`.
    public var images: Tensor
    public var labels: [Int]
    public var ids: [Int]?
    /// Images per sample: 1, or test-time augmentation's crop views (5, or 10 with mirrors).
    public var views: Int
    public init(images: Tensor, labels: [Int], ids: [Int]? = nil, views: Int = 1) {
        self.images = images
        self.labels = labels
        self.ids = ids
        self.views = views
    }
}

/// One epoch's batches in order. `next()` throws what building a batch threw (an unreadable
/// image, an inconsistent batch), so a loader error stops the run instead of ending the epoch
/// early.
public struct BatchIterator {
    private let produce: () throws -> LabeledBatch?

    public init(_ produce: @escaping () throws -> LabeledBatch?) { self.produce = produce }

    /// The next batch, or nil at the end of the epoch.
    public func next() throws -> LabeledBatch? { try produce() }

    /// Every remaining batch.
    public func all() throws -> [LabeledBatch] {
        var batches: [LabeledBatch] = []
        while let batch = try next() { batches.append(batch) }
        return batches
    }
}

/// Anything that yields the batches of an epoch in a reproducible order. The order of epoch `e`
/// depends only on the source's seed and `e` (`SampleOrder`), so a run resumed at batch `b` of
/// epoch `e` sees exactly the batches an uninterrupted run would have seen.
public protocol BatchSource: AnyObject {
    var sampleCount: Int { get }
    var batchesPerEpoch: Int { get }
    func batches(epoch: Int, startingAt batch: Int) -> BatchIterator
    /// True when a sample (by its id) comes out the same every time: no random augmentation.
    var samplesAreDeterministic: Bool { get }
    /// Ids and labels of every batch of `epoch`, without loading any image; nil when unknown.
    func sampleIdentities(epoch: Int) -> [(ids: [Int], labels: [Int])]?
    /// Batch `index` of `epoch` on its own.
    func batch(epoch: Int, index: Int) throws -> LabeledBatch
    /// Frees images kept for later epochs: the consumer no longer needs them (a trainer's
    /// feature cache holds what it makes of every sample).
    func releaseKeptImages()
    /// The name of sample `id` (an id of `LabeledBatch.ids`) for people: a folder's relative file
    /// path, `test/123` for Fashion-MNIST; nil when the source has no names.
    func sampleName(id: Int) -> String?
    /// Sample `id`'s image as decoded, before any transform, with its shorter side at least
    /// `minimumShortSide` where the decoder can save work by scaling (JPEG); nil when the source
    /// keeps no images of its own.
    /// - Throws: `DataError` naming the file that could not be read.
    func sampleImage(id: Int, minimumShortSide: Int) throws -> RGB8Image?
    /// The same samples, in the same order, as test-time augmentation's crop views
    /// (`TransformPipeline.withCropViews(mirrored:)`): batches with `views` 5, or 10 `mirrored`.
    /// - Parameter mirrored: add the five crops of each flipped image (`TenCrop`).
    /// - Throws: `DataError.invalidArgument` when the source cannot make them (images already
    ///   tensors, or a pipeline without a centre crop or fixed-size resize).
    func cropViews(mirrored: Bool) throws -> BatchSource
}

extension BatchSource {
    public func releaseKeptImages() {}
    /// No names by default.
    public func sampleName(id: Int) -> String? { nil }
    /// No images by default.
    public func sampleImage(id: Int, minimumShortSide: Int) throws -> RGB8Image? { nil }
    public func cropViews(mirrored: Bool) throws -> BatchSource {
        throw DataError.invalidArgument(
            "\(type(of: self)) holds finished tensors, so it cannot give crop views: load the images with a BatchLoader"
        )
    }
    public var samplesAreDeterministic: Bool { false }
    public func sampleIdentities(epoch: Int) -> [(ids: [Int], labels: [Int])]? { nil }
    public func batch(epoch: Int, index: Int) throws -> LabeledBatch {
        guard let batch = try batches(epoch: epoch, startingAt: index).next() else {
            throw DataError.invalidArgument("there is no batch \(index) in epoch \(epoch + 1)")
        }
        return batch
    }
}

/// The one seeded shuffle of every batch source: epoch `e`'s order is a Fisher–Yates permutation
/// seeded by `(seed, e)` alone, the same on every machine and independent of thread timing.
public enum SampleOrder {
    public static func shuffled(_ items: [Int], seed: UInt64, epoch: Int) -> [Int] {
        var order = items
        var rng = RandomGenerator.stream(seed, UInt64(truncatingIfNeeded: epoch), 0x4F52_4445_52)
        rng.shuffle(&order)
        return order
    }

    /// Consecutive slices of `order` of `size` items: the batches of an epoch.
    static func slice(_ order: [Int], batch index: Int, size: Int) -> [Int] {
        Array(order[(index * size)..<min(order.count, (index + 1) * size)])
    }
}
