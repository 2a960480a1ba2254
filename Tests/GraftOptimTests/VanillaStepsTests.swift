import Foundation
import Testing
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor
import GraftWeights
import TestSupport

/// Three optimizer steps of the vanilla CNN on one batch, against PyTorch
/// (`vanilla_cnn/steps`; tolerances from the fixtures' README, which explains why eval logits
/// after adaptive optimizers are noise-driven and get loose bounds).
@Suite struct VanillaStepsTests {
    static let evalTolerance: [String: Double] = [
        "sgd": 1e-3, "adadelta": 5e-3, "adam": 2e-2, "adamax": 2e-2, "adagrad": 1e-1, "rmsprop": 1e-1,
    ]

    @Test(arguments: ["sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamax"])
    func threeSteps(name: String) throws {
        let model = VanillaCNN(numClasses: 5)
        _ = try model.load(try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth")))
        model.train()
        for d in model.dropouts { d.p = 0 }
        let x = try NPY.float(Fixtures.url("vanilla_cnn/input.npy"))
        let labels = try NPY.int64(Fixtures.url("vanilla_cnn/labels.npy")).map { Int($0) }

        let configs = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Fixtures.url("vanilla_cnn/steps/configs.json"))) as! [String: [String: Any]]
        let kwargs = configs[name]!["kwargs"] as! [String: Any]
        var config = try OptimizerConfig(parsing: name)
        for (key, value) in kwargs { try config.set(key, to: "\(value)") }
        let optimizer = try Optimizer(config, parameters: model.namedParameters())

        var losses: [Float] = []
        for _ in 0..<3 {
            optimizer.zeroGrad()
            let logits = model.forward(x, mode: .parameters)
            let (loss, grad, _) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
            losses.append(loss)
            _ = model.backward(grad)
            optimizer.step()
        }
        let ref = try NPY.float(Fixtures.url("vanilla_cnn/steps/\(name)_losses.npy")).scalars
        for (ours, theirs) in zip(losses, ref) {
            #expect(abs(ours - theirs) <= 1e-3 * abs(theirs), "\(name) losses \(losses) vs \(ref)")
        }
        model.eval()
        let logits = model(x)
        let refLogits = try NPY.float(Fixtures.url("vanilla_cnn/steps/\(name)_eval_logits.npy"))
        #expect(Compare.relToMax(logits, refLogits, floorOne: false) <= Self.evalTolerance[name]!, "\(name) eval logits")
        if case .int64(_, let count)? = model.stateDict()["features.1.num_batches_tracked"] { #expect(count == [3]) }
        // Weights not driven by rounding noise: compare directly.
        let params = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
        let w = try NPY.float(Fixtures.url("vanilla_cnn/steps/\(name)_final/classifier.5.weight.npy"))
        #expect(Compare.relToMax(params["classifier.5.weight"]!.value, w, floorOne: false) <= 1e-2, "\(name) classifier.5.weight")
    }
}
