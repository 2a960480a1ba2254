import GraftNN
import GraftTensor

/// torchvision's `BasicBlock`: conv3×3 → BN → ReLU → conv3×3 → BN, plus the identity or a
/// 1×1 strided projection (`downsample`, present only where the shape changes), then ReLU.
public final class BasicBlock: Module {
    public let conv1: Conv2d, bn1: BatchNorm2d, relu1 = ReLU()
    public let conv2: Conv2d, bn2: BatchNorm2d
    public let downsample: Sequential?
    private let outputReLU = ReLU()
    private var mainPath: Chain
    private var downsampleMode: GradientMode = .none
    private var blockMode: GradientMode = .none

    public init(_ inChannels: Int, _ channels: Int, stride: Int, rng: inout RandomGenerator) {
        conv1 = Conv2d(inChannels, channels, kernel: 3, stride: stride, padding: 1, bias: false, rng: &rng)
        bn1 = BatchNorm2d(channels)
        conv2 = Conv2d(channels, channels, kernel: 3, stride: 1, padding: 1, bias: false, rng: &rng)
        bn2 = BatchNorm2d(channels)
        if stride != 1 || inChannels != channels {
            downsample = Sequential([
                Conv2d(inChannels, channels, kernel: 1, stride: stride, bias: false, rng: &rng),
                BatchNorm2d(channels),
            ])
        } else {
            downsample = nil
        }
        mainPath = Chain([conv1, bn1, relu1, conv2, bn2])
    }

    public override var children: [(name: String, module: Module)] {
        var c: [(String, Module)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
        if let downsample { c.append(("downsample", downsample)) }
        return c
    }

    /// Runs inference (mode `.none` with every BatchNorm in eval mode) as folded
    /// convolution+BatchNorm(+ReLU) kernels. `false` runs the layers one by one (the reference
    /// the tests compare the fused path with).
    public var fusesInference = true

    private var canFuse: Bool {
        fusesInference && !bn1.isTraining && !bn2.isTraining
            && !(downsample?.layers[1].isTraining ?? false)
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        blockMode = mode
        if mode == .none && canFuse {
            var out = conv2.inferenceForward(
                conv1.inferenceForward(input, foldingBatchNorm: bn1, relu: true),
                foldingBatchNorm: bn2, relu: false)
            let identity: Tensor
            if let downsample, let conv = downsample.layers[0] as? Conv2d, let bn = downsample.layers[1] as? BatchNorm2d
            {
                downsampleMode = .none
                identity = conv.inferenceForward(input, foldingBatchNorm: bn, relu: false)
            } else {
                identity = input
            }
            Elementwise.addReLU(identity.pointer, into: out.mutablePointer(), count: out.count)
            outputReLU.clearSaved()
            return out
        }
        var out = mainPath.forward(input, mode: mode)
        let identity: Tensor
        if let downsample {
            downsampleMode = mode == .parameters ? (downsample.hasTrainableParameters ? .parameters : .none) : mode
            identity = downsample.forward(input, mode: downsampleMode)
        } else {
            identity = input
        }
        Elementwise.add(identity.pointer, into: out.mutablePointer(), count: out.count)
        return outputReLU.forward(out, mode: mode == .none ? .none : .input)
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        guard let g = outputReLU.backward(outputGradient) else { return nil }
        var gradInput = mainPath.backward(g)
        let shortcut: Tensor?
        if let downsample {
            shortcut = downsampleMode == .none ? nil : downsample.backward(g)
        } else {
            shortcut = blockMode == .input ? g : nil
        }
        guard blockMode == .input else { return nil }
        if var gi = gradInput, let s = shortcut {
            Elementwise.add(s.pointer, into: gi.mutablePointer(), count: gi.count)
            gradInput = gi
        }
        return gradInput
    }

    public override func clearSaved() {
        super.clearSaved()
        outputReLU.clearSaved()
    }
}

/// torchvision's ResNet with basic blocks. Keys match `torchvision.models.resnet18/34`.
public final class ResNet: Module {
    /// Variants by depth, with their blocks per stage.
    public enum Depth: Int, Sendable, CaseIterable, Codable {
        case resnet18 = 18, resnet34 = 34

        public var blockCounts: [Int] {
            switch self {
            case .resnet18: [2, 2, 2, 2]
            case .resnet34: [3, 4, 6, 3]
            }
        }
    }

    public let depth: Depth
    public let conv1: Conv2d, bn1 = BatchNorm2d(64), relu = ReLU()
    public let maxpool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
    public let layer1: Sequential, layer2: Sequential, layer3: Sequential, layer4: Sequential
    public let avgpool = AdaptiveAvgPool2d(1)
    private let flatten = Flatten()
    public private(set) var fc: Linear
    private var stem: Chain
    private var chain: Chain
    private var stemMode: GradientMode = .none

    /// Runs the stem (conv1–bn1–relu) and the blocks as folded convolution+BatchNorm(+ReLU)
    /// kernels wherever they run as pure inference with BatchNorm in eval mode — all of the
    /// model in eval, the frozen trunk in a transfer step. `false` runs every layer on its own
    /// (the reference the tests compare the fused path with).
    public var fusesInference = true {
        didSet {
            for (_, m) in namedModules() { (m as? BasicBlock)?.fusesInference = fusesInference }
        }
    }

    /// torchvision's initialisation: convolutions kaiming-normal (fan_out, ReLU), BatchNorm
    /// weight 1 and bias 0, `fc` as PyTorch's default `nn.Linear`.
    public init(depth: Depth, numClasses: Int = 1000, seed: UInt64 = 0) {
        self.depth = depth
        var rng = RandomGenerator(seed: seed)
        conv1 = Conv2d(3, 64, kernel: 7, stride: 2, padding: 3, bias: false, rng: &rng)
        var inChannels = 64
        func stage(_ channels: Int, _ blocks: Int, _ stride: Int) -> Sequential {
            var layers: [Module] = []
            for i in 0..<blocks {
                layers.append(BasicBlock(inChannels, channels, stride: i == 0 ? stride : 1, rng: &rng))
                inChannels = channels
            }
            return Sequential(layers)
        }
        let counts = depth.blockCounts
        layer1 = stage(64, counts[0], 1)
        layer2 = stage(128, counts[1], 2)
        layer3 = stage(256, counts[2], 2)
        layer4 = stage(512, counts[3], 2)
        fc = Linear(512, numClasses, rng: &rng)
        stem = Chain([])
        chain = Chain([])
        super.init()
        for (_, m) in namedModules() {
            if let conv = m as? Conv2d {
                let fanOut = Float(conv.geometry.outChannels * conv.geometry.kernel * conv.geometry.kernel)
                conv.weight.value = .normal(conv.weight.value.shape, std: (2 / fanOut).squareRoot(), using: &rng)
            }
        }
        rebuildChain()
    }

    private func rebuildChain() {
        stem = Chain([conv1, bn1, relu])
        chain = Chain([maxpool, layer1, layer2, layer3, layer4, avgpool, flatten, fc])
    }

    public override var children: [(name: String, module: Module)] {
        [
            ("conv1", conv1), ("bn1", bn1), ("relu", relu), ("maxpool", maxpool), ("layer1", layer1),
            ("layer2", layer2), ("layer3", layer3), ("layer4", layer4), ("avgpool", avgpool), ("fc", fc),
        ]
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        // The stem and the rest are two chains; the rest sees what the whole chain would give it:
        // once a trainable stem is below, every later layer must return its input gradient.
        let stemTrainable = conv1.hasTrainableParameters || bn1.hasTrainableParameters
        stemMode = mode == .parameters && !stemTrainable ? .none : mode
        let x: Tensor
        if stemMode == .none && fusesInference && !bn1.isTraining {
            x = conv1.inferenceForward(input, foldingBatchNorm: bn1, relu: true)
        } else {
            x = stem.forward(input, mode: mode)
        }
        return chain.forward(consume x, mode: mode == .parameters && stemTrainable ? .input : mode)
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        let g = chain.backward(outputGradient)
        guard stemMode != .none, let g else { return nil }
        return stem.backward(g)
    }

    /// Replaces `fc` with a new `Linear(512, numClasses)` initialised as PyTorch's default.
    public func replaceHead(numClasses: Int, seed: UInt64 = 0) {
        var rng = RandomGenerator(seed: seed)
        fc = Linear(512, numClasses, rng: &rng)
        rebuildChain()
    }

    public func replaceHead(with head: Linear) {
        fc = head
        rebuildChain()
    }
}
