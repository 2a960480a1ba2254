import Testing
import GraftNN
import GraftTensor
import TestSupport
@testable import GraftModels

/// A model cut between blocks: the blocks below the cut run as inference (`trunkOutput`), the
/// rest train on its output (`chain(from:)`). Both halves together must compute exactly what the
/// whole model computes, forward and backward, at every cut.
@Suite struct ModelSplitTests {
    /// Logits and every parameter gradient of a training step on the whole model, then the same
    /// on the split model.
    static func compare(_ model: any BlockStructured, input x: Tensor, cut: Int) throws {
        try model.setTrainable(Array(model.blockNames[cut...]))
        model.train()
        model.applyBatchNormPolicy(.eval)
        #expect(model.isDeterministicTrunk(below: cut))
        let labels = (0..<x.size(0)).map { $0 % 3 }

        model.zeroGrad()
        let whole = model.forward(x, mode: .parameters)
        _ = model.backward(CrossEntropy.lossAndGradient(logits: whole, labels: labels).gradient)
        model.clearSaved()
        let wholeGrads = model.trainableParameters().map { ($0.name, $0.parameter.grad) }

        model.zeroGrad()
        let features = model.trunkOutput(x, below: cut)
        var rest = model.chain(from: cut)
        let split = rest.forward(features, mode: .parameters)
        // The trunk's output is the rest's input: no gradient flows back into it.
        #expect(rest.backward(CrossEntropy.lossAndGradient(logits: split, labels: labels).gradient) == nil)
        model.clearSaved()
        let splitGrads = model.trainableParameters().map { ($0.name, $0.parameter.grad) }

        let name = model.blockNames[cut]
        #expect(split.isBitwiseEqual(to: whole), "logits differ with the cut below \(name)")
        #expect(Compare.maxAbs(whole) > 1e-3)
        #expect(wholeGrads.count == splitGrads.count && !wholeGrads.isEmpty)
        for ((key, a), (_, b)) in zip(wholeGrads, splitGrads) {
            let a = try #require(a, "\(key): no gradient from the whole model"),
                b = try #require(b, "\(key): no gradient")
            #expect(b.isBitwiseEqual(to: a), "\(key) with the cut below \(name)")
        }

        // Inference: the halves give the eval-mode logits too.
        model.eval()
        var evalRest = model.chain(from: cut)
        #expect(evalRest.forward(model.trunkOutput(x, below: cut), mode: .none).isBitwiseEqual(to: model(x)))
    }

    /// ResNet18 at 32², cut below each of layer1 … head: the stem block ends with the max-pool.
    @Test(arguments: 1...5) func resnetHalvesMatchTheWholeModel(cut: Int) throws {
        let model = FusedInferenceTests.model()
        var rng = RandomGenerator(seed: 8)
        try Self.compare(model, input: .uniform([4, 3, 32, 32], low: -1, high: 1, using: &rng), cut: cut)
        if cut == 1 {
            // The stem block's output is the pooled map layer1 sees: 64 × 8 × 8 at 32².
            #expect(model.trunkOutput(.zeros([1, 3, 32, 32]), below: 1).shape == [1, 64, 8, 8])
        }
    }

    /// The vanilla CNN at 32², cut below each of block2 … head (dropout off: it draws random
    /// numbers per forward pass, so two passes cannot agree).
    @Test(arguments: 1...4) func vanillaHalvesMatchTheWholeModel(cut: Int) throws {
        let model = VanillaCNN(numClasses: 3, dropout: 0, seed: 2)
        var rng = RandomGenerator(seed: 9)
        for (_, m) in model.namedModules() {
            guard let bn = m as? BatchNorm2d else { continue }
            bn.runningMean.value = .float(.uniform([bn.channels], low: -0.2, high: 0.2, using: &rng))
            bn.runningVar.value = .float(.uniform([bn.channels], low: 0.5, high: 2, using: &rng))
        }
        try Self.compare(model, input: .uniform([4, 3, 32, 32], low: -1, high: 1, using: &rng), cut: cut)
    }

    /// A trunk with BatchNorm on batch statistics, or a trainable layer, is not deterministic.
    @Test func trainingBatchNormMakesTheTrunkNondeterministic() throws {
        let model = ResNet(depth: .resnet18, numClasses: 3)
        try model.setTrainable(["layer4", "head"], batchNorm: .train)
        model.train()
        #expect(!model.isDeterministicTrunk(below: 4))
        model.applyBatchNormPolicy(.eval)
        #expect(model.isDeterministicTrunk(below: 4))
        #expect(!model.isDeterministicTrunk(below: 5))  // layer4 trains
    }
}
