import Foundation
import GraftData
import GraftNN
import GraftTensor

/// The element-wise mean of several state dicts, accumulated one state dict at a time in
/// float64 (stochastic weight averaging's weights).
///
/// Float entries (weights, biases, BatchNorm running statistics) are averaged. Integer entries
/// (BatchNorm's `num_batches_tracked`) keep the largest member's value: a count, not a
/// quantity to average; `BatchNormStatistics.recompute` then sets it to the batches it used.
public struct WeightAverage {
    private var keys: [String] = []
    private var shapes: [String: [Int]] = [:]
    private var sums: [String: [Double]] = [:]
    private var counters: [String: (shape: [Int], values: [Int64])] = [:]
    public private(set) var count = 0

    public init() {}

    /// Adds one member's state dict.
    /// - Parameter state: the member's weights and buffers.
    /// - Parameter source: the member's file, named in errors.
    /// - Throws: `EnsembleError.mismatchedKey` when the keys, shapes or dtypes differ from the
    ///   first member's.
    public mutating func add(_ state: StateDict, source: String) throws {
        if count == 0 {
            keys = state.keys
            for (key, value) in state {
                switch value {
                case .float(let t):
                    shapes[key] = t.shape
                    sums[key] = [Double](repeating: 0, count: t.count)
                case .int64(let shape, let values):
                    counters[key] = (shape, values)
                }
            }
        } else {
            let missing = Set(keys).subtracting(state.keys)
            if let key = missing.sorted().first {
                throw EnsembleError.mismatchedKey(path: source, key: key, reason: "missing")
            }
            if let key = state.keys.first(where: { shapes[$0] == nil && counters[$0] == nil }) {
                throw EnsembleError.mismatchedKey(path: source, key: key, reason: "not in the first member")
            }
        }
        for (key, value) in state {
            switch value {
            case .float(let t):
                guard let shape = shapes[key] else {
                    throw EnsembleError.mismatchedKey(
                        path: source, key: key, reason: "float32 here, int64 in the first member")
                }
                guard shape == t.shape else {
                    throw EnsembleError.mismatchedKey(
                        path: source, key: key, reason: "shape \(t.shape), first member \(shape)")
                }
                let src = t.pointer, n = t.count
                sums[key]!.withUnsafeMutableBufferPointer { buffer in
                    let dst = buffer.baseAddress!
                    for i in 0..<n { dst[i] += Double(src[i]) }
                }
            case .int64(let shape, let values):
                guard let existing = counters[key] else {
                    throw EnsembleError.mismatchedKey(
                        path: source, key: key, reason: "int64 here, float32 in the first member")
                }
                guard existing.shape == shape, existing.values.count == values.count else {
                    throw EnsembleError.mismatchedKey(
                        path: source, key: key, reason: "shape \(shape), first member \(existing.shape)")
                }
                counters[key] = (shape, zip(existing.values, values).map { max($0, $1) })
            }
        }
        count += 1
    }

    /// The mean state dict, in the first member's key order.
    /// - Precondition: at least one state dict was added.
    public func average() -> StateDict {
        precondition(count > 0, "no state dicts to average")
        var result = StateDict()
        let scale = 1 / Double(count)
        for key in keys {
            if let sum = sums[key], let shape = shapes[key] {
                var t = Tensor(uninitializedShape: shape)
                let dst = t.mutablePointer()
                sum.withUnsafeBufferPointer { buffer in
                    let src = buffer.baseAddress!
                    for i in 0..<buffer.count { dst[i] = Float(src[i] * scale) }
                }
                result[key] = .float(t)
            } else if let counter = counters[key] {
                result[key] = .int64(shape: counter.shape, values: counter.values)
            }
        }
        return result
    }
}

/// BatchNorm running statistics recomputed from data, as `torch.optim.swa_utils.update_bn`.
public enum BatchNormStatistics {
    /// Resets every BatchNorm layer's running statistics and recomputes them with one pass over
    /// `batches`, as a cumulative (equal-weight) average of the per-batch statistics — PyTorch's
    /// `momentum=None` — of the batch mean and unbiased batch variance. Only the BatchNorm layers
    /// run in train mode (Dropout stays off, which changes nothing above the BatchNorm layers);
    /// no gradient is kept. Afterwards `num_batches_tracked` is the number of batches and every
    /// module's train/eval mode is restored.
    ///
    /// The layers' own update uses a fixed momentum; each batch's statistics are recovered from
    /// it by starting the running values at zero (`new = momentum · batch`) and dividing by the
    /// momentum, then averaged in float64.
    /// - Returns: the number of batches used (0 when the model has no BatchNorm layer, in which
    ///   case `batches` is not read).
    /// - Throws: `EnsembleError.invalidMomentum` for a layer with momentum 0,
    ///   `EnsembleError.noTrainingData` when `batches` is empty.
    @discardableResult
    public static func recompute(_ model: Module, batches: BatchIterator) throws -> Int {
        let layers = model.namedModules().compactMap { entry in (entry.module as? BatchNorm2d).map { (entry.name, $0) }
        }
        guard !layers.isEmpty else { return 0 }
        for (name, bn) in layers where bn.momentum == 0 { throw EnsembleError.invalidMomentum(layer: name) }
        let modes = model.namedModules().map { ($0.module, $0.module.isTraining) }
        defer { for (m, on) in modes { m.isTraining = on } }
        model.eval()
        for (_, bn) in layers { bn.isTraining = true }

        var means = layers.map { [Double](repeating: 0, count: $0.1.channels) }
        var variances = means
        var seen = 0
        while let batch = try batches.next() {
            for (_, bn) in layers {
                bn.runningMean.value = .float(Tensor(shape: [bn.channels], repeating: 0))
                bn.runningVar.value = .float(Tensor(shape: [bn.channels], repeating: 0))
            }
            _ = model.forward(batch.images, mode: .none)
            seen += 1
            let weight = 1 / Double(seen)
            for (l, (_, bn)) in layers.enumerated() {
                guard case .float(let rm) = bn.runningMean.value, case .float(let rv) = bn.runningVar.value else {
                    continue
                }
                let m = Double(bn.momentum), pm = rm.pointer, pv = rv.pointer
                for ch in 0..<bn.channels {
                    means[l][ch] += (Double(pm[ch]) / m - means[l][ch]) * weight
                    variances[l][ch] += (Double(pv[ch]) / m - variances[l][ch]) * weight
                }
            }
        }
        guard seen > 0 else { throw EnsembleError.noTrainingData }
        for (l, (_, bn)) in layers.enumerated() {
            bn.runningMean.value = .float(Tensor(shape: [bn.channels], scalars: means[l].map { Float($0) }))
            bn.runningVar.value = .float(Tensor(shape: [bn.channels], scalars: variances[l].map { Float($0) }))
            if case .int64(let shape, _) = bn.numBatchesTracked.value {
                bn.numBatchesTracked.value = .int64(shape: shape, values: [Int64(seen)])
            }
        }
        return seen
    }
}
