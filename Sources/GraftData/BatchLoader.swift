import Foundation
import GraftTensor

/// Images that failed to load, each recorded once (by dataset index) with the reason. The first
/// failure of each item is also passed to `report` (by default a line on standard error), so a
/// bad file is reported once however many epochs meet it.
public final class FailureLog: @unchecked Sendable {
    public struct Entry: Sendable, Equatable {
        public var index: Int
        public var name: String
        public var reason: String
    }

    private let lock = NSLock()
    private var seen: Set<Int> = []
    private var list: [Entry] = []
    private let report: @Sendable (Entry) -> Void

    public init(
        report: @escaping @Sendable (Entry) -> Void = { entry in
            FileHandle.standardError.write(Data("warning: skipping unreadable image \(entry.reason)\n".utf8))
        }
    ) {
        self.report = report
    }

    /// Records a failure; returns true the first time this index fails.
    @discardableResult
    public func record(index: Int, name: String, error: any Error) -> Bool {
        let reason = (error as? LocalizedError)?.errorDescription ?? "\(name): \(error)"
        lock.lock()
        let first = seen.insert(index).inserted
        let entry = Entry(index: index, name: name, reason: reason)
        if first { list.append(entry) }
        lock.unlock()
        if first { report(entry) }
        return first
    }

    public var entries: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return list
    }

    public func contains(_ index: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return seen.contains(index)
    }
}

/// Decoded images after the deterministic prefix of a pipeline (e.g. decode + Resize(256)), kept
/// so later epochs skip JPEG decoding. Bounded by `byteLimit`; once full, new images are simply
/// not added (no eviction churn: the same images stay cached every epoch).
public final class ImageCache: @unchecked Sendable {
    private let lock = NSLock()
    private var images: [Int: RGB8Image] = [:]
    public let byteLimit: Int
    public private(set) var bytes = 0

    public init(byteLimit: Int) { self.byteLimit = byteLimit }

    public func get(_ index: Int) -> RGB8Image? {
        lock.lock()
        defer { lock.unlock() }
        return images[index]
    }

    public func put(_ index: Int, _ image: RGB8Image) {
        lock.lock()
        defer { lock.unlock() }
        guard images[index] == nil, bytes + image.byteCount <= byteLimit else { return }
        images[index] = image
        bytes += image.byteCount
    }

    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return images.count
    }

    /// Frees every image (the cache fills again as images are loaded).
    public func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        images = [:]
        bytes = 0
    }
}

/// Where a loader is: the next batch to produce. Restoring it (with the same seed) resumes the
/// same sequence of batches.
public struct LoaderPosition: Codable, Sendable, Equatable {
    public var epoch: Int
    public var batch: Int
    public init(epoch: Int, batch: Int) {
        self.epoch = epoch
        self.batch = batch
    }
}

/// Batches from a dataset in a seeded order, decoded and transformed on background threads.
///
/// Reproducibility: the order of epoch `e` is a function of `(seed, e)` only, and the random
/// augmentation of the item at position `p` of epoch `e` uses a generator seeded from
/// `(seed, e, p)`. So the batches do not depend on thread timing, and a run resumed at
/// `(epoch, batch)` sees exactly what an uninterrupted run would have.
public final class BatchLoader: BatchSource, Sendable {
    public struct Options: Sendable {
        public var batchSize: Int
        public var shuffle: Bool
        public var dropLast: Bool
        public var seed: UInt64
        /// Background threads decoding batches (each builds whole batches).
        public var workers: Int
        /// Batches decoded ahead of the consumer.
        public var prefetch: Int
        /// Bytes of decoded images to keep in memory across epochs (0: no cache).
        public var cacheBytes: Int
        /// Apply EXIF orientation when decoding.
        public var applyOrientation: Bool
        /// Let the decoder use DCT scaling when the pipeline starts with a resize much smaller
        /// than the photo (see `TransformPipeline.decodeMinimumShortSide`).
        public var dctScaling: Bool

        public init(
            batchSize: Int, shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0,
            workers: Int = 2, prefetch: Int = 4, cacheBytes: Int = 0,
            applyOrientation: Bool = true, dctScaling: Bool = true
        ) {
            self.batchSize = batchSize
            self.shuffle = shuffle
            self.dropLast = dropLast
            self.seed = seed
            self.workers = workers
            self.prefetch = prefetch
            self.cacheBytes = cacheBytes
            self.applyOrientation = applyOrientation
            self.dctScaling = dctScaling
        }
    }

    public let dataset: any Dataset
    /// The dataset indices this loader draws from (e.g. a split's training items).
    public let indices: [Int]
    public let transform: TransformPipeline
    public let options: Options
    public let failures: FailureLog
    public let cache: ImageCache?
    let decodeOptions: JPEGDecodeOptions

    /// - Throws: `DataError.invalidArgument` for a batch size, worker or prefetch count below 1,
    ///   or an index outside the dataset.
    public init(
        dataset: any Dataset, indices: [Int]? = nil, transform: TransformPipeline, options: Options,
        failures: FailureLog = FailureLog()
    ) throws {
        guard options.batchSize >= 1, options.workers >= 1, options.prefetch >= 1 else {
            throw DataError.invalidArgument("batch size, workers and prefetch must be at least 1")
        }
        let idx = indices ?? Array(0..<dataset.count)
        if let bad = idx.first(where: { $0 < 0 || $0 >= dataset.count }) {
            throw DataError.invalidArgument("index \(bad) outside a dataset of \(dataset.count) items")
        }
        self.dataset = dataset
        self.indices = idx
        self.transform = transform
        self.options = options
        self.failures = failures
        self.cache = options.cacheBytes > 0 ? ImageCache(byteLimit: options.cacheBytes) : nil
        self.decodeOptions = JPEGDecodeOptions(
            applyOrientation: options.applyOrientation,
            minimumShortSide: options.dctScaling ? transform.decodeMinimumShortSide : 0)
    }

    public var batchesPerEpoch: Int {
        options.dropLast
            ? indices.count / options.batchSize
            : (indices.count + options.batchSize - 1) / options.batchSize
    }

    /// The dataset indices in the order epoch `epoch` visits them.
    public func order(epoch: Int) -> [Int] {
        options.shuffle ? SampleOrder.shuffled(indices, seed: options.seed, epoch: epoch) : indices
    }

    /// One sample through decode (or the cache) and the pipeline. Throws for unreadable images.
    /// The generator comes back too: random erasing continues from it after normalising.
    func sample(_ datasetIndex: Int, epoch: Int, position: Int) throws -> (RGB8Image, RandomGenerator) {
        let prefix = transform.deterministicPrefixCount
        var image: RGB8Image
        if let hit = cache?.get(datasetIndex) {
            image = hit
        } else {
            var unused = RandomGenerator(seed: 0)
            // A leading Resize + CenterCrop runs inside the decoder, which then decodes only the
            // part of the photo the crop needs (same pixels).
            var options = decodeOptions, first = 0
            if dataset.decodesJPEG, let fused = transform.leadingResizeAndCenterCrop, prefix >= 2 {
                options.resizeAndCenterCrop = fused
                first = 2
            }
            image = transform.applyOps(
                try dataset.loadImage(datasetIndex, options: options),
                range: first..<prefix, rng: &unused)
            cache?.put(datasetIndex, image)
        }
        var rng = RandomGenerator.stream(
            options.seed, UInt64(truncatingIfNeeded: epoch),
            UInt64(truncatingIfNeeded: position), 0x4155_47)
        let out = transform.applyOps(image, range: prefix..<transform.ops.count, rng: &rng)
        return (out, rng)
    }

    /// Builds batch `index` of `epoch` on the calling thread. Unreadable images are recorded in
    /// `failures` (once each) and left out of the batch; `ids` are the dataset indices kept.
    /// - Throws: `DataError.inconsistentBatch` if the pipeline gives images of different sizes.
    public func makeBatch(epoch: Int, index: Int, order: [Int]? = nil) throws -> LabeledBatch {
        let order = order ?? self.order(epoch: epoch)
        let start = index * options.batchSize
        let end = min(start + options.batchSize, order.count)
        var images: [RGB8Image] = []
        var labels: [Int] = [], kept: [Int] = []
        var generators: [RandomGenerator] = []
        images.reserveCapacity((end - start) * transform.viewCount)
        for position in start..<end {
            let di = order[position]
            do {
                let (image, rng) = try sample(di, epoch: epoch, position: position)
                images += try transform.views(of: image)
                generators.append(rng)
                labels.append(dataset.label(di))
                kept.append(di)
            } catch {
                failures.record(index: di, name: dataset.itemName(di), error: error)
            }
        }
        let w = images.first?.width ?? 0, h = images.first?.height ?? 0
        if let odd = images.first(where: { $0.width != w || $0.height != h }) {
            throw DataError.inconsistentBatch(
                detail:
                    "batch \(index) of epoch \(epoch) mixes \(w)x\(h) and \(odd.width)x\(odd.height) images: end the pipeline with a crop or fixed-size resize"
            )
        }
        var tensor = Tensor(uninitializedShape: [images.count, 3, h, w])
        let base = tensor.mutablePointer()
        let views = transform.viewCount
        for (k, image) in images.enumerated() {
            transform.normalize(image, into: base + k * 3 * h * w, rng: &generators[k / views])
        }
        return LabeledBatch(images: tensor, labels: labels, ids: kept, views: transform.viewCount)
    }

    /// Batches of `epoch` from batch `start` on, produced ahead by background threads.
    public func prefetching(epoch: Int, from start: Int = 0) -> EpochBatches {
        EpochBatches(loader: self, epoch: epoch, start: max(0, start))
    }

    /// Resumes at a saved position.
    public func prefetching(from position: LoaderPosition) -> EpochBatches {
        prefetching(epoch: position.epoch, from: position.batch)
    }

    // MARK: BatchSource

    public var sampleCount: Int { indices.count }

    public func batches(epoch: Int, startingAt batch: Int) -> BatchIterator {
        let prefetched = prefetching(epoch: epoch, from: batch)
        return BatchIterator { try prefetched.nextBatch() }
    }

    /// True when no operation of the pipeline draws random numbers.
    public var samplesAreDeterministic: Bool { transform.deterministicPrefixCount == transform.ops.count }

    /// The dataset's name for item `id` (a dataset index, as in `LabeledBatch.ids`).
    public func sampleName(id: Int) -> String? { dataset.itemName(id) }

    /// The dataset's image `id`, decoded with this loader's orientation choice and DCT scaling
    /// down to `minimumShortSide`, before the transform.
    public func sampleImage(id: Int, minimumShortSide: Int) throws -> RGB8Image? {
        try dataset.loadImage(
            id,
            options: JPEGDecodeOptions(
                applyOrientation: options.applyOrientation, minimumShortSide: max(0, minimumShortSide)))
    }

    public func sampleIdentities(epoch: Int) -> [(ids: [Int], labels: [Int])]? {
        let order = order(epoch: epoch)
        return (0..<batchesPerEpoch).map { b in
            let ids = SampleOrder.slice(order, batch: b, size: options.batchSize)
            return (ids, ids.map(dataset.label))
        }
    }

    public func batch(epoch: Int, index: Int) throws -> LabeledBatch { try makeBatch(epoch: epoch, index: index) }

    /// Empties the decoded-image cache.
    public func releaseKeptImages() { cache?.removeAll() }

    /// The same samples and order with the pipeline's crop views (`withCropViews(mirrored:)`);
    /// its batches hold 5 (or 10) times as many images, so memory stays a fixed multiple of one
    /// batch. The decoded-image cache is not shared: the views need the image before its crop.
    /// - Parameter mirrored: add the five crops of each flipped image (`TenCrop`).
    public func cropViews(mirrored: Bool) throws -> BatchSource {
        var viewOptions = options
        viewOptions.cacheBytes = 0
        return try BatchLoader(
            dataset: dataset, indices: indices, transform: try transform.withCropViews(mirrored: mirrored),
            options: viewOptions, failures: failures)
    }
}

/// The batches of one epoch, in order. Worker threads fill a bounded queue ahead of `nextBatch()`;
/// dropping the iterator stops them. Batches whose images all failed to load are skipped.
public final class EpochBatches {
    private let state: PrefetchState
    public let epoch: Int
    /// The next batch index `nextBatch()` will look at: with `epoch`, the loader position to save.
    public private(set) var nextIndex: Int

    init(loader: BatchLoader, epoch: Int, start: Int) {
        self.epoch = epoch
        self.nextIndex = start
        let total = loader.batchesPerEpoch
        state = PrefetchState(start: start, end: total, capacity: loader.options.prefetch)
        let order = loader.order(epoch: epoch)
        for _ in 0..<Swift.min(loader.options.workers, Swift.max(total - start, 0)) {
            let state = self.state
            let thread = Thread {
                while let index = state.claim() {
                    let result = Result { try loader.makeBatch(epoch: epoch, index: index, order: order) }
                    state.deliver(index, result)
                }
            }
            thread.name = "graft-loader"
            thread.start()
        }
    }

    deinit { state.cancel() }

    public var position: LoaderPosition { LoaderPosition(epoch: epoch, batch: nextIndex) }

    /// The next batch, or nil at the end of the epoch.
    /// - Throws: what building the batch threw (the iterator then ends).
    public func nextBatch() throws -> LabeledBatch? {
        while let result = state.take(nextIndex) {
            nextIndex += 1
            let batch = try result.get()
            if batch.labels.isEmpty { continue }
            return batch
        }
        return nil
    }
}

/// Shared state of one epoch's workers: which batch to build next, finished batches waiting for
/// the consumer, and a bound on how far ahead the workers may run.
private final class PrefetchState: @unchecked Sendable {
    private let condition = NSCondition()
    private var nextToClaim: Int
    private var nextToTake: Int
    private let end: Int
    private let capacity: Int
    private var ready: [Int: Result<LabeledBatch, any Error>] = [:]
    private var cancelled = false

    init(start: Int, end: Int, capacity: Int) {
        nextToClaim = start
        nextToTake = start
        self.end = end
        self.capacity = capacity
    }

    /// A batch index to build, or nil when done or cancelled. Blocks while the queue is full.
    func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && nextToClaim < end && nextToClaim - nextToTake >= capacity { condition.wait() }
        guard !cancelled, nextToClaim < end else { return nil }
        defer { nextToClaim += 1 }
        return nextToClaim
    }

    func deliver(_ index: Int, _ result: Result<LabeledBatch, any Error>) {
        condition.lock()
        ready[index] = result
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for batch `index`; nil past the end.
    func take(_ index: Int) -> Result<LabeledBatch, any Error>? {
        condition.lock()
        defer { condition.unlock() }
        guard index < end, !cancelled else { return nil }
        while ready[index] == nil && !cancelled { condition.wait() }
        guard let result = ready.removeValue(forKey: index) else { return nil }
        nextToTake = index + 1
        condition.broadcast()
        return result
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
