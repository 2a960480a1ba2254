import Foundation
import GraftModels
import GraftNN
import GraftReport
import GraftTensor

/// The frozen trunk's output per training sample, kept across epochs.
///
/// When every block below the lowest trainable one is frozen and deterministic (BatchNorm on
/// running statistics, no dropout) and the data transforms draw no random numbers, a sample's
/// trunk output is the same every epoch. The trainer then computes it once, in the first epoch,
/// and trains the remaining blocks on the stored output afterwards: later epochs skip the trunk
/// (and, once every sample is stored, the image decoding) entirely.
///
/// Samples are stored in the order they are first met until `byteLimit` is reached; the trunk
/// runs again, each time, for the samples past it.
public final class FeatureCache {
    /// Index of the lowest trainable block; the cache holds the output of the blocks below it.
    public let firstTrainableBlock: Int
    /// Bytes the cache may hold; samples past it are recomputed each time.
    public let byteLimit: Int
    public private(set) var bytes = 0
    /// Trunk passes run (whole batches, or the uncached samples of one); a batch served entirely
    /// from the cache does not count.
    public private(set) var trunkPasses = 0
    /// Samples that went through the trunk, in all passes.
    public private(set) var trunkSamples = 0
    /// True once a sample found the budget spent.
    public private(set) var isFull = false
    private var features: [Int: Tensor] = [:]
    private var sampleShape: [Int]?

    init(firstTrainableBlock: Int, byteLimit: Int) {
        self.firstTrainableBlock = firstTrainableBlock
        self.byteLimit = byteLimit
    }

    /// Samples stored.
    public var count: Int { features.count }

    /// True when every one of `ids` is stored.
    public func holds(_ ids: [Int]) -> Bool { ids.allSatisfy { features[$0] != nil } }

    /// Whether a trunk pass over `ids` would store anything: some sample is missing and the
    /// budget has room for it.
    func wouldStore(_ ids: [Int]) -> Bool {
        guard let shape = sampleShape else { return !ids.isEmpty }
        return !holds(ids) && bytes + shape.reduce(1, *) * 4 <= byteLimit
    }

    /// The stored features of these samples as one batch, or nil unless all are stored.
    func batch(_ ids: [Int]) -> Tensor? {
        guard let shape = sampleShape, !ids.isEmpty, holds(ids) else { return nil }
        let per = shape.reduce(1, *)
        var out = Tensor(uninitializedShape: [ids.count] + shape)
        let dst = out.mutablePointer()
        for (j, id) in ids.enumerated() { (dst + j * per).update(from: features[id]!.pointer, count: per) }
        return out
    }

    /// The trunk's output for a batch. With nothing stored for the batch the trunk runs on it as
    /// it is (so the first epoch computes exactly what training without the cache computes);
    /// with some samples stored it runs on the others only. New outputs are stored while the
    /// budget lasts.
    func output(of model: any BlockStructured, images: Tensor, ids: [Int]) -> Tensor {
        precondition(images.size(0) == ids.count, "\(images.size(0)) images, \(ids.count) ids")
        if let stored = batch(ids) { return stored }
        let missing = ids.indices.filter { features[ids[$0]] == nil }
        let whole = missing.count == ids.count
        let computed = model.trunkOutput(whole ? images : Self.rows(missing, of: images), below: firstTrainableBlock)
        trunkPasses += 1
        trunkSamples += missing.count
        let shape = Array(computed.shape.dropFirst()), per = shape.reduce(1, *)
        if sampleShape == nil { sampleShape = shape }
        guard shape == sampleShape else { return computed }  // a batch of another image size: not cached
        // Assemble the batch before storing: a stored sample's features stay what they were.
        var out = computed
        if !whole {
            out = Tensor(uninitializedShape: [ids.count] + shape)
            let dst = out.mutablePointer()
            var next = 0
            for (j, id) in ids.enumerated() {
                if next < missing.count, missing[next] == j {
                    (dst + j * per).update(from: computed.pointer + next * per, count: per)
                    next += 1
                } else {
                    (dst + j * per).update(from: features[id]!.pointer, count: per)
                }
            }
        }
        for (k, j) in missing.enumerated() where features[ids[j]] == nil {
            guard bytes + per * 4 <= byteLimit else {
                isFull = true
                break
            }
            features[ids[j]] = Tensor(
                shape: shape, copying: UnsafeBufferPointer(start: computed.pointer + k * per, count: per))
            bytes += per * 4
        }
        return out
    }

    /// Rows `rows` of an `[N, …]` tensor, in that order.
    static func rows(_ rows: [Int], of x: Tensor) -> Tensor {
        let per = x.count / max(1, x.size(0))
        var out = Tensor(uninitializedShape: [rows.count] + Array(x.shape.dropFirst()))
        let dst = out.mutablePointer()
        for (j, i) in rows.enumerated() { (dst + j * per).update(from: x.pointer + i * per, count: per) }
        return out
    }

    /// A line for the progress output, e.g. "features after layer3 cached for 1,000 of 1,000
    /// images (196 MB): later epochs run only layer4, head".
    public func summary(blockNames: [String], samples: Int) -> String {
        let below = blockNames[firstTrainableBlock - 1]
        let above = blockNames[firstTrainableBlock...].joined(separator: ", ")
        let mb = Double(bytes) / Double(1 << 20)
        let size =
            mb < 1
            ? "\(Format.integer((bytes + 1023) >> 10)) KB"
            : mb < 10 ? String(format: "%.1f MB", mb) : "\(Format.integer(Int(mb.rounded()))) MB"
        var line =
            "features after \(below) cached for \(Format.integer(count)) of \(Format.integer(samples)) images (\(size))"
        line +=
            isFull
            ? ", its size limit: the other images run through \(below) every epoch"
            : ": later epochs run only \(above)"
        return line
    }
}
