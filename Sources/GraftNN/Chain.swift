import GraftTensor

/// Runs modules one after another and back-propagates through them in reverse, doing only the
/// work a gradient needs: a module below every trainable parameter keeps nothing and computes
/// no input gradient.
///
/// A ReLU right after a BatchNorm2d keeps nothing in a training pass: it runs in place on the
/// BatchNorm's output, and backward recomputes that output from the BatchNorm's saved input
/// (bit for bit; one elementwise pass). A Conv2d right after such a ReLU does not keep its input
/// either, the same recomputed tensor serving both. So a conv–BN–ReLU–conv run keeps two
/// activations where PyTorch keeps three, and a ReLU before a max-pool keeps none (every ResNet
/// block, the stem, and each vanilla CNN block).
public struct Chain {
    public let modules: [Module]
    private var modes: [GradientMode] = []
    /// Indices of the ReLUs of the last pass that kept nothing.
    private var recomputedReLUs: Set<Int> = []

    public init(_ modules: [Module]) { self.modules = modules }

    /// The mode each module runs in when the chain as a whole runs in `mode`.
    public static func modes(for modules: [Module], _ mode: GradientMode) -> [GradientMode] {
        switch mode {
        case .none: return Array(repeating: .none, count: modules.count)
        case .input: return Array(repeating: .input, count: modules.count)
        case .parameters:
            var result: [GradientMode] = []
            var trainableBelow = false
            for m in modules {
                let own = m.hasTrainableParameters
                result.append(trainableBelow ? .input : (own ? .parameters : .none))
                trainableBelow = trainableBelow || own
            }
            return result
        }
    }

    /// Takes `input` over, so each activation is freed as soon as the next layer is done with it
    /// rather than when the caller returns.
    public mutating func forward(_ input: consuming Tensor, mode: GradientMode) -> Tensor {
        modes = Chain.modes(for: modules, mode)
        recomputedReLUs = []
        var x = input
        for (i, (m, childMode)) in zip(modules, modes).enumerated() {
            if let relu = m as? ReLU, childMode != .none, batchNorm(before: i) != nil {
                relu.forward(inPlace: &x)
                recomputedReLUs.insert(i)
            } else if let conv = m as? Conv2d, recomputedReLUs.contains(i - 1) {
                x = conv.forward(x, mode: childMode, keepingInput: false)
            } else {
                x = m.forward(x, mode: childMode)
            }
        }
        return x
    }

    public func backward(_ outputGradient: Tensor) -> Tensor? {
        var g: Tensor? = outputGradient
        // The output of a recomputed ReLU, when the conv above it has just recomputed it.
        var reluOutput: Tensor? = nil
        for (i, (m, childMode)) in zip(modules, modes).enumerated().reversed() {
            guard childMode != .none, let grad = g else { break }
            if let conv = m as? Conv2d, recomputedReLUs.contains(i - 1) {
                reluOutput = recomputedOutput(ofReLUAt: i - 1)
                g = conv.backward(grad, input: reluOutput!)
            } else if let relu = m as? ReLU, recomputedReLUs.contains(i) {
                g = relu.backward(grad, output: reluOutput ?? recomputedOutput(ofReLUAt: i))
                reluOutput = nil
            } else {
                g = m.backward(grad)
            }
        }
        return modes.first == .input ? g : nil
    }

    /// The BatchNorm2d right before module `i` when it keeps its input in this pass.
    private func batchNorm(before i: Int) -> BatchNorm2d? {
        guard i > 0, modes[i - 1] != .none else { return nil }
        return modules[i - 1] as? BatchNorm2d
    }

    private func recomputedOutput(ofReLUAt i: Int) -> Tensor {
        var x = batchNorm(before: i)!.recomputedOutput()
        (modules[i] as! ReLU).forward(inPlace: &x)
        return x
    }
}

/// PyTorch's `nn.Sequential`: children keyed "0", "1", …
public final class Sequential: Module {
    public let layers: [Module]
    private var chain: Chain

    public init(_ layers: [Module]) {
        self.layers = layers
        chain = Chain(layers)
    }

    public override var children: [(name: String, module: Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        chain.forward(input, mode: mode)
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        chain.backward(outputGradient)
    }
}
