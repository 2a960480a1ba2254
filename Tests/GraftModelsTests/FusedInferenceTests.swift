import Testing
import GraftNN
import GraftTensor
import TestSupport
@testable import GraftModels

/// ResNet's fused inference path (BatchNorm folded into the convolutions, ReLU and residual sums
/// fused) against the same model run layer by layer, in eval and as the frozen trunk of a
/// transfer step.
@Suite struct FusedInferenceTests {
    /// A ResNet18 with non-trivial BatchNorm statistics, so folding is actually exercised.
    static func model() -> ResNet {
        let m = ResNet(depth: .resnet18, numClasses: 5, seed: 3)
        var rng = RandomGenerator(seed: 4)
        for (_, module) in m.namedModules() {
            guard let bn = module as? BatchNorm2d else { continue }
            let c = bn.channels
            bn.weight.value = .uniform([c], low: 0.5, high: 1.5, using: &rng)
            bn.bias.value = .uniform([c], low: -0.2, high: 0.2, using: &rng)
            bn.runningMean.value = .float(.uniform([c], low: -0.2, high: 0.2, using: &rng))
            bn.runningVar.value = .float(.uniform([c], low: 0.5, high: 2, using: &rng))
        }
        return m
    }

    @Test func evalLogitsMatchPlainPath() {
        let m = Self.model()
        m.eval()
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.uniform([2, 3, 64, 64], low: -1, high: 1, using: &rng)
        m.fusesInference = true
        let fused = m(x)
        m.fusesInference = false
        let plain = m(x)
        // The fixture README's bound for ResNet eval outputs against PyTorch (rel-to-max 1e-4):
        // folding may cost no more than that. Measured: 3.5e-7.
        #expect(Compare.relToMax(fused, plain) < 1e-4)
        #expect(Compare.maxAbs(plain) > 1e-3)
    }

    @Test func transferStepGradientsMatchPlainPath() throws {
        var rng = RandomGenerator(seed: 6)
        let x = Tensor.uniform([2, 3, 64, 64], low: -1, high: 1, using: &rng)
        let labels = [1, 3]
        func step(fused: Bool) throws -> (Tensor, [String: Tensor]) {
            let m = Self.model()
            m.train()
            try m.setTrainable(["layer4", "head"], batchNorm: .eval)
            m.fusesInference = fused
            let logits = m.forward(x, mode: .parameters)
            _ = m.backward(CrossEntropy.lossAndGradient(logits: logits, labels: labels).gradient)
            var grads: [String: Tensor] = [:]
            for (name, p) in m.trainableParameters() { grads[name] = p.grad }
            return (logits, grads)
        }
        let (fusedLogits, fusedGrads) = try step(fused: true)
        let (plainLogits, plainGrads) = try step(fused: false)
        // The README's bounds for a training step: logits rel-to-max 1e-4, gradients 1e-3
        // (measured here: 1.8e-6 and at most 1.1e-5).
        #expect(Compare.relToMax(fusedLogits, plainLogits) < 1e-4)
        #expect(fusedGrads.count == plainGrads.count && !plainGrads.isEmpty)
        for (name, g) in plainGrads {
            let f = try #require(fusedGrads[name], "no gradient for \(name)")
            #expect(Compare.relToMax(f, g) < 1e-3, "gradient of \(name)")
        }
    }
}
