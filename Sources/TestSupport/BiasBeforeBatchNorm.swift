import GraftNN
import GraftTensor

/// A convolution's bias that the BatchNorm right after it removes again, while that BatchNorm
/// normalises with batch statistics. Its true gradient is zero: what it receives is rounding
/// noise (the fixture README, "Conv-bias gradients are noise"). Adam, RMSprop, Adagrad and Adamax
/// divide a gradient by its own magnitude and turn that noise into lr-sized steps whose sign the
/// kernel's rounding sets. So two kernels, or two code paths, leave that bias, and the running
/// mean that follows it, on different random walks, while the train-mode function is the same.
///
/// What the learned weights do determine is the running mean net of the bias: the running mean
/// of the convolution's output before the bias is added. Each train-mode step adds
/// `momentum · (mean(conv) + b)` with the bias `b` of that forward pass; this tracker keeps the
/// same moving average of the biases alone, so that `runningMeanWithoutBias` can be compared as
/// tightly as any learned value. Call `step()` after every optimizer step (`Trainer.onStep`).
public final class BiasBeforeBatchNorm {
    /// State-dict keys: the convolution's bias and the BatchNorm's running mean.
    public let biasKey: String
    public let runningMeanKey: String
    private let bias: Parameter
    private let norm: BatchNorm2d
    /// The bias's share of the running mean: its moving average over the train-mode passes.
    private var biasAverage: [Double]
    private var biasInLastPass: [Float]
    private var passesSeen: Int64
    private let passesBefore: Int64

    init(biasKey: String, bias: Parameter, normKey: String, norm: BatchNorm2d) {
        self.biasKey = biasKey
        runningMeanKey = normKey.isEmpty ? "running_mean" : "\(normKey).running_mean"
        self.bias = bias
        self.norm = norm
        biasAverage = Array(repeating: 0, count: norm.channels)
        biasInLastPass = bias.value.scalars
        passesSeen = Self.passes(norm)
        passesBefore = passesSeen
    }

    /// Whether the bias was trained while the BatchNorm used batch statistics: then its value
    /// and the running mean's are rounding noise. A frozen block's are not.
    public var isRoundingNoise: Bool { bias.requiresGrad && passesSeen > passesBefore }

    /// Every convolution with a bias followed directly by a BatchNorm in `model`.
    public static func all(in model: Module) -> [BiasBeforeBatchNorm] {
        let modules = model.namedModules()
        return zip(modules, modules.dropFirst()).compactMap { a, b in
            guard let conv = a.module as? Conv2d, let bias = conv.bias, let norm = b.module as? BatchNorm2d
            else { return nil }
            return BiasBeforeBatchNorm(
                biasKey: a.name.isEmpty ? "bias" : "\(a.name).bias", bias: bias, normKey: b.name, norm: norm)
        }
    }

    private static func passes(_ norm: BatchNorm2d) -> Int64 {
        if case .int64(_, let v) = norm.numBatchesTracked.value { return v[0] }
        return 0
    }

    /// Records the passes since the last call: each one that updated the running mean used the
    /// bias as it was before this step's update.
    public func step() {
        let now = Self.passes(norm)
        let m = Double(norm.momentum)
        for _ in passesSeen..<now {
            for c in biasAverage.indices {
                biasAverage[c] = (1 - m) * biasAverage[c] + m * Double(biasInLastPass[c])
            }
        }
        passesSeen = now
        biasInLastPass = bias.value.scalars
    }

    /// The running mean less the bias's share of it.
    public var runningMeanWithoutBias: Tensor {
        guard case .float(let rm) = norm.runningMean.value else {
            preconditionFailure("\(runningMeanKey) is not float")
        }
        return Tensor(shape: rm.shape, scalars: zip(rm.scalars, biasAverage).map { Float(Double($0) - $1) })
    }
}
