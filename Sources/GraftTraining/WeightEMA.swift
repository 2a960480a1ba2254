import Foundation
import GraftData
import GraftNN
import GraftTensor

/// An exponential moving average of a model's weights and buffers, as
/// `torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay),
/// use_buffers=True)` keeps it when `update_parameters` runs after every optimizer step.
///
/// The first update copies the model; each later one moves every floating-point entry (frozen
/// parameters and BatchNorm's running statistics included) towards the model's as
/// `torch._foreach_lerp_(ema, model, 1 − decay)`, that is `ema = decay·ema + (1 − decay)·model`.
/// Integer buffers (`num_batches_tracked`) take `ema·decay + model·(1 − decay)` in float32,
/// truncated, as PyTorch's integer branch does.
public struct WeightEMA: Sendable, Equatable {
    /// The weight the average keeps at each update, in [0, 1).
    public let decay: Double
    /// Updates so far (PyTorch's `n_averaged`); 0 before the first.
    public private(set) var updates: Int
    /// The averaged state dict, keyed as the model's; empty before the first update.
    public private(set) var state: StateDict

    /// An average that has seen no update yet.
    /// - Precondition: `decay` is in [0, 1].
    public init(decay: Double) {
        self.init(decay: decay, updates: 0, state: StateDict())
    }

    /// An average as a checkpoint stored it.
    /// - Precondition: `decay` is in [0, 1].
    public init(decay: Double, updates: Int, state: StateDict) {
        precondition(decay >= 0 && decay <= 1, "EMA decay \(decay) outside [0, 1]")
        self.decay = decay
        self.updates = updates
        self.state = state
    }

    /// Folds the model's current weights and buffers into the average (after an optimizer step).
    /// - Precondition: the model has the keys, shapes and types of the first update's.
    public mutating func update(from model: Module) {
        let live = model.stateDict()
        defer { updates += 1 }
        guard updates > 0 else {
            state = live
            return
        }
        precondition(live.keys == state.keys, "the model's state keys changed since the EMA's first update")
        // lerp as ATen's vectorised CPU kernel computes it: one fused multiply-add from the nearer end.
        let weight = Float(1 - decay), small = abs(weight) < 0.5
        let coefficient = small ? weight : weight - 1
        let keep = Float(decay), take = Float(1 - decay)
        for key in live.keys {
            // Take the entry out, so the tensor below is this dict's only reference (no copy).
            let current = state[key]!
            state[key] = .int64(shape: [], values: [])
            switch (current, live[key]!) {
            case (.float(var average), .float(let model)):
                precondition(average.shape == model.shape, "EMA entry \(key): shape \(model.shape) vs \(average.shape)")
                let e = average.mutablePointer(), p = model.pointer
                for i in 0..<average.count {
                    let base = small ? e[i] : p[i]
                    e[i] = base.addingProduct(coefficient, p[i] - e[i])
                }
                state[key] = .float(average)
            case (.int64(let shape, var average), .int64(_, let model)):
                for i in average.indices {
                    average[i] = Int64(Float(average[i]) * keep + Float(model[i]) * take)
                }
                state[key] = .int64(shape: shape, values: average)
            default:
                preconditionFailure("EMA entry \(key) changed type")
            }
        }
    }
}

extension Trainer {
    /// Validation loss and accuracy of the EMA weights: they are put into the model for the pass
    /// (eval mode: the averaged BatchNorm statistics) and the model's own put back after it, bit
    /// for bit. With the feature cache on, the cached trunk output serves the EMA too: the frozen
    /// blocks below the cache's cut never change, so their average is exactly their value.
    /// - Throws: the evaluation's errors; `ModuleLoadingError` if the average does not fit the model.
    func evaluateEMA(_ ema: WeightEMA, on source: BatchSource) throws -> (loss: Double, accuracy: Double) {
        let own = model.stateDict()
        _ = try model.load(ema.state, strict: true)
        let result = Result { try evaluate(source) }
        _ = try model.load(own, strict: true)
        return try result.get()
    }
}
