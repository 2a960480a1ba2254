import GraftNN
import GraftTensor

/// A model as the flat sequence of layers its forward pass runs, so it can be cut between blocks:
/// the part below the lowest trainable block run once as inference (and its output cached), the
/// rest trained on that output.
public struct Stage {
    /// Index into `BlockStructured.blocks` of the block this layer belongs to; layers without
    /// parameters (pooling, flatten) belong to the block whose output they transform.
    public var block: Int
    public var module: Module
}

extension BlockStructured {
    /// Runs `stages` whose block is below `block` as inference (nothing kept): what the frozen
    /// trunk gives the rest of the model in a training step.
    public func trunkOutput(_ input: Tensor, below block: Int) -> Tensor {
        var x = input
        for stage in stages where stage.block < block { x = stage.module.forward(x, mode: .none) }
        return x
    }

    /// The layers from `block` on, as a chain that trains on the trunk's output.
    public func chain(from block: Int) -> Chain {
        Chain(stages.filter { $0.block >= block }.map(\.module))
    }

    /// True when the layers below `block` train nothing and give the same output for the same
    /// input every time: no trainable parameter, no BatchNorm on batch statistics, no dropout.
    public func isDeterministicTrunk(below block: Int) -> Bool {
        for stage in stages where stage.block < block {
            if stage.module.hasTrainableParameters { return false }
            for (_, m) in stage.module.namedModules() where m.isTraining && (m is BatchNorm2d || m is Dropout) {
                return false
            }
        }
        return true
    }
}

/// ResNet's conv1 → bn1 → relu as one stage, taking the folded convolution+BatchNorm+ReLU path
/// for inference with BatchNorm in eval mode, as `ResNet.forward` does.
final class ResNetStem: Module {
    let conv: Conv2d, batchNorm: BatchNorm2d
    let fuses: Bool
    private var layers: Chain

    init(conv: Conv2d, batchNorm: BatchNorm2d, relu: ReLU, fuses: Bool) {
        self.conv = conv
        self.batchNorm = batchNorm
        self.fuses = fuses
        layers = Chain([conv, batchNorm, relu])
    }

    override var children: [(name: String, module: Module)] { [("conv1", conv), ("bn1", batchNorm)] }

    override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        if mode == .none && fuses && !batchNorm.isTraining {
            return conv.inferenceForward(input, foldingBatchNorm: batchNorm, relu: true)
        }
        return layers.forward(input, mode: mode)
    }

    override func backward(_ outputGradient: Tensor) -> Tensor? { layers.backward(outputGradient) }
}

extension ResNet {
    /// The max-pool after the stem belongs to the stem block: a model trained from `layer1` up
    /// caches the pooled map, the input `layer1` sees.
    public var stages: [Stage] {
        [
            Stage(block: 0, module: ResNetStem(conv: conv1, batchNorm: bn1, relu: relu, fuses: fusesInference)),
            Stage(block: 0, module: maxpool),
            Stage(block: 1, module: layer1), Stage(block: 2, module: layer2), Stage(block: 3, module: layer3),
            Stage(block: 4, module: layer4), Stage(block: 5, module: avgpool), Stage(block: 5, module: Flatten()),
            Stage(block: 5, module: fc),
        ]
    }
}

extension VanillaCNN {
    public var stages: [Stage] {
        features.layers.enumerated().map { Stage(block: $0.offset / 4, module: $0.element) }
            + [Stage(block: 3, module: pool), Stage(block: 4, module: classifier)]
    }
}
