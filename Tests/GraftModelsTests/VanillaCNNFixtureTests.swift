import Foundation
import Testing
import GraftModels
import GraftNN
import GraftTensor
import TestSupport

/// The vanilla CNN against PyTorch (`../shared/fixtures/vanilla_cnn`).
@Suite struct VanillaCNNFixtureTests {
    func makeModel() throws -> VanillaCNN {
        let model = VanillaCNN(numClasses: 5)
        try loadFixtureWeights(model, "vanilla_cnn/vanilla-seed0.pth")
        return model
    }

    @Test func stateDictKeysMatchPyTorch() throws {
        let expected = try String(contentsOf: Fixtures.url("vanilla_cnn/state_dict_keys.txt"), encoding: .utf8)
            .split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
        #expect(VanillaCNN().stateDict().keys == expected)
    }

    @Test func evalLogits() throws {
        let model = try makeModel()
        model.eval()
        let logits = model(try fixtureTensor("vanilla_cnn/input.npy"))
        #expect(Compare.relToMax(logits, try fixtureTensor("vanilla_cnn/eval_logits.npy")) <= 1e-5)
    }

    @Test func trainStepGradientsAndRunningStatistics() throws {
        let model = try makeModel()
        model.train()
        for d in model.dropouts { d.p = 0 }
        let x = try fixtureTensor("vanilla_cnn/input.npy")
        let labels = try NPY.int64(Fixtures.url("vanilla_cnn/labels.npy")).map { Int($0) }
        let logits = model.forward(x, mode: .parameters)
        let (loss, grad, _) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        _ = model.backward(grad)
        let refLoss = try fixtureTensor("vanilla_cnn/loss.npy").scalar
        #expect(abs(loss - refLoss) <= 1e-5 * abs(refLoss))
        #expect(Compare.relToMax(logits, try fixtureTensor("vanilla_cnn/logits.npy")) <= 1e-4)
        let convBiases: Set = ["features.0.bias", "features.4.bias", "features.8.bias", "features.12.bias"]
        #expect(model.namedParameters().count == 20)
        for (name, p) in model.namedParameters() {
            let grad = try #require(p.grad, "no gradient for \(name)")
            if convBiases.contains(name) {
                // Analytically zero (BatchNorm removes the bias); the fixture holds rounding noise.
                // The README: "A correct implementation only needs max|g| ≲ 1e-4".
                #expect(Compare.maxAbs(grad) <= 1e-4, "\(name)")
            } else {
                #expect(Compare.relToMax(grad, try fixtureTensor("vanilla_cnn/grads/\(name).npy")) <= 1e-3, "\(name)")
            }
        }
        for stat in ["running_mean", "running_var"] {
            let ref = try fixtureTensor("vanilla_cnn/running/features.1.\(stat).npy")
            let ours = try #require(floatBuffer(model, "features.1.\(stat)"))
            #expect(Compare.relToMax(ours, ref) <= 1e-5, "\(stat)")
        }
        #expect(intBuffer(model, "features.1.num_batches_tracked") == 1)
    }
}
