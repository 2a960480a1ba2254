import Foundation
import GraftModels
import GraftNN
import GraftTensor

/// The frozen trunk's output per training sample, kept across epochs.
///
/// When every block below the lowest trainable one is frozen and deterministic (BatchNorm on
/// running statistics, no dropout) and the data transforms draw no random numbers, a sample's
/// trunk output is the same every epoch. The trainer then computes it once, in the first epoch,
/// and trains the remaining blocks on the stored output afterwards: later epochs skip the trunk
/// (and, once every sample is stored, the image decoding) entirely.
public final class FeatureCache {
    /// Index of the lowest trainable block; the cache holds the output of the blocks below it.
    public let firstTrainableBlock: Int
    /// Bytes the cache may hold; samples past it are recomputed each time.
    public let byteLimit: Int
    public private(set) var bytes = 0
    /// Batches whose trunk output was computed (a cached batch does not count).
    public private(set) var trunkPasses = 0
    private var features: [Int: Tensor] = [:]
    private var sampleShape: [Int]?

    init(firstTrainableBlock: Int, byteLimit: Int) {
        self.firstTrainableBlock = firstTrainableBlock
        self.byteLimit = byteLimit
    }

    public var count: Int { features.count }

    /// The stored features of these samples as one batch, or nil unless all are stored.
    func batch(_ ids: [Int]) -> Tensor? {
        guard let shape = sampleShape, !ids.isEmpty else { return nil }
        let per = shape.reduce(1, *)
        var out = Tensor(uninitializedShape: [ids.count] + shape)
        let dst = out.mutablePointer()
        for (j, id) in ids.enumerated() {
            guard let f = features[id] else { return nil }
            (dst + j * per).update(from: f.pointer, count: per)
        }
        return out
    }

    /// The trunk's output for a batch: stored features when every sample has them, else
    /// computed (and stored while the budget lasts).
    func output(of model: any BlockStructured, images: Tensor, ids: [Int]) -> Tensor {
        if let stored = batch(ids) { return stored }
        let out = model.trunkOutput(images, below: firstTrainableBlock)
        trunkPasses += 1
        let shape = Array(out.shape.dropFirst()), per = shape.reduce(1, *)
        if sampleShape == nil { sampleShape = shape }
        guard shape == sampleShape else { return out }
        for (j, id) in ids.enumerated() where features[id] == nil {
            guard bytes + per * 4 <= byteLimit else { break }
            features[id] = Tensor(shape: shape, copying: UnsafeBufferPointer(start: out.pointer + j * per, count: per))
            bytes += per * 4
        }
        return out
    }

    /// A line for the progress output, e.g. "features after layer3 cached for 1,000 of 1,000
    /// images (196 MB): from epoch 2 on only layer4, head train".
    public func summary(blockNames: [String], samples: Int) -> String {
        let below = blockNames[firstTrainableBlock - 1]
        let above = blockNames[firstTrainableBlock...].joined(separator: ", ")
        var line = "features after \(below) cached for \(count) of \(samples) images (\(bytes >> 20) MB)"
        line += count >= samples ? ": later epochs run only \(above)" : " (cache budget reached; the rest are recomputed)"
        return line
    }
}
