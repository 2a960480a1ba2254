import GraftTensor

/// `max(0, x)`. Keeps its output for backward (the mask is where the output is positive).
public final class ReLU: Module {
    private var savedOutput: Tensor?

    public override init() {}

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        var output = Tensor(uninitializedShape: input.shape)
        let x = input.pointer, y = output.mutablePointer()
        Elementwise.relu(x, into: y, count: input.count)
        savedOutput = mode == .none ? nil : output
        return output
    }

    /// `max(0, x)` written over `x` (in place when nothing else refers to its storage); keeps
    /// nothing, so backward needs `backward(_:output:)`.
    public func forward(inPlace x: inout Tensor) {
        savedOutput = nil
        let count = x.count
        Elementwise.relu(x.mutablePointer(), count: count)
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        guard let out = savedOutput else { preconditionFailure("ReLU.backward without a saved forward") }
        savedOutput = nil
        return backward(outputGradient, output: out)
    }

    /// Backward given the output of the forward pass (its positive entries are the mask).
    public func backward(_ outputGradient: Tensor, output out: Tensor) -> Tensor {
        var g = Tensor(uninitializedShape: out.shape)
        let y = out.pointer, dy = outputGradient.pointer, dx = g.mutablePointer()
        Elementwise.reluBackward(output: y, gradient: dy, into: dx, count: out.count)
        return g
    }

    public override func clearSaved() { savedOutput = nil }
}

/// Reshapes `[N, …]` to `[N, rest]` (channel-major, as PyTorch's `Flatten`).
public final class Flatten: Module {
    private var inputShape: [Int] = []

    public override init() {}

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        inputShape = input.shape
        return input.reshaped([input.size(0), -1])
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        outputGradient.reshaped(inputShape)
    }
}

/// Inverted dropout: in train mode zeroes each element with probability `p` and scales the rest
/// by 1/(1−p); identity in eval mode. Seeded, so runs are reproducible.
public final class Dropout: Module {
    /// The drop probability, in [0, 1): 1 would scale the kept activations by infinity.
    public var p: Float {
        didSet { precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)") }
    }
    public var rng: RandomGenerator
    private var savedMask: Tensor?

    public init(_ p: Float = 0.5, seed: UInt64 = 0) {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1)")
        self.p = p
        rng = RandomGenerator(seed: seed)
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        guard isTraining && p > 0 else {
            savedMask = nil
            return input
        }
        var mask = Tensor(uninitializedShape: input.shape)
        var output = Tensor(uninitializedShape: input.shape)
        let m = mask.mutablePointer(), x = input.pointer, y = output.mutablePointer()
        let scale = 1 / (1 - p)
        for i in 0..<input.count {
            m[i] = rng.nextFloat() < p ? 0 : scale
            y[i] = x[i] * m[i]
        }
        savedMask = mode == .none ? nil : mask
        return output
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        guard let mask = savedMask else { return outputGradient }
        defer { savedMask = nil }
        var g = Tensor(uninitializedShape: mask.shape)
        let m = mask.pointer, dy = outputGradient.pointer, dx = g.mutablePointer()
        for i in 0..<mask.count { dx[i] = dy[i] * m[i] }
        return g
    }

    public override func clearSaved() { savedMask = nil }
}
