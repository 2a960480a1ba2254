import GraftTensor

/// Runs modules one after another and back-propagates through them in reverse, doing only the
/// work a gradient needs: a module below every trainable parameter keeps nothing and computes
/// no input gradient.
public struct Chain {
    public let modules: [Module]
    private var modes: [GradientMode] = []

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

    public mutating func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        modes = Chain.modes(for: modules, mode)
        var x = input
        for (m, childMode) in zip(modules, modes) { x = m.forward(x, mode: childMode) }
        return x
    }

    public func backward(_ outputGradient: Tensor) -> Tensor? {
        var g: Tensor? = outputGradient
        for (m, childMode) in zip(modules, modes).reversed() {
            guard childMode != .none, let grad = g else { break }
            g = m.backward(grad)
        }
        return modes.first == .input ? g : nil
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
