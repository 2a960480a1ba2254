import Foundation
import Testing
import GraftModels
import GraftNN
import GraftTensor
import TestSupport

/// ResNet34 against PyTorch: eval stages, both transfer-learning variants and full fine-tuning
/// (`../shared/fixtures/resnet34`, tolerances from its README).
@Suite(.serialized) struct ResNetFixtureTests {
    static let checkpoint = "resnet34/resnet34-random-seed0.pth"

    func makeModel() throws -> ResNet {
        let model = ResNet(depth: .resnet34)
        try loadFixtureWeights(model, Self.checkpoint)
        return model
    }

    @Test func stateDictKeysMatchTorchvision() throws {
        let expected = try String(contentsOf: Fixtures.url("resnet34/state_dict_keys.txt"), encoding: .utf8)
            .split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
        #expect(ResNet(depth: .resnet34).stateDict().keys == expected)
        #expect(ResNet(depth: .resnet34).namedParameters().count == 110)
    }

    @Test func evalStagesAndLogits() throws {
        let model = try makeModel()
        model.eval()
        let x = try fixtureTensor("resnet34/input.npy")
        var h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        #expect(Compare.relToMax(h, try fixtureTensor("resnet34/eval_stem.npy")) <= 1e-4)
        for (i, layer) in [model.layer1, model.layer2, model.layer3, model.layer4].enumerated() {
            h = layer(h)
            #expect(Compare.relToMax(h, try fixtureTensor("resnet34/eval_layer\(i + 1).npy")) <= 1e-4, "layer\(i + 1)")
        }
        let pooled = model.avgpool(h).reshaped([2, 512])
        #expect(Compare.relToMax(pooled, try fixtureTensor("resnet34/eval_pool.npy")) <= 1e-4)
        let logits = model(x)
        #expect(Compare.relToMax(logits, try fixtureTensor("resnet34/eval_logits.npy")) <= 1e-4)
    }

    /// One forward + backward with layer4 and a new 5-class head trainable.
    func transferStep(frozenBatchNormEval: Bool) throws -> (ResNet, Float, Tensor) {
        let model = try makeModel()
        model.replaceHead(numClasses: 5)
        model.fc.weight.value = try fixtureTensor("resnet34/head5/fc.weight.npy")
        model.fc.bias!.value = try fixtureTensor("resnet34/head5/fc.bias.npy")
        model.train()
        try model.setTrainable(["layer4", "head"], batchNorm: frozenBatchNormEval ? .eval : .train)
        let x = try fixtureTensor("resnet34/train_input.npy")
        let labels = try NPY.int64(Fixtures.url("resnet34/train_labels.npy")).map { Int($0) }
        let logits = model.forward(x, mode: .parameters)
        let (loss, grad, _) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        #expect(model.backward(grad) == nil, "no input gradient below the lowest trainable layer")
        return (model, loss, logits)
    }

    func checkTransfer(_ folder: String, frozenBatchNormEval: Bool) throws {
        let (model, loss, logits) = try transferStep(frozenBatchNormEval: frozenBatchNormEval)
        let base = "resnet34/\(folder)"
        let refLoss = try fixtureTensor("\(base)/loss.npy").scalar
        #expect(abs(loss - refLoss) <= 1e-5 * abs(refLoss))
        #expect(Compare.relToMax(logits, try fixtureTensor("\(base)/logits.npy")) <= 1e-4)
        let params = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
        for name in [
            "fc.weight", "fc.bias", "layer4.0.downsample.0.weight", "layer4.2.bn2.weight", "layer4.2.bn2.bias",
        ] {
            let ref = try fixtureTensor("\(base)/grads/\(name).npy")
            let grad = try #require(params[name]?.grad, "no gradient for \(name)")
            #expect(Compare.relToMax(grad, ref) <= 1e-3, "\(name)")
        }
        let refNorms = try gradNorms("\(base)/grad_norms.json")
        let trainable = model.trainableParameters()
        #expect(Set(trainable.map(\.name)) == Set(refNorms.keys))
        for (name, p) in trainable {
            let ours = norms(p.grad!), ref = refNorms[name]!
            #expect(abs(ours.l2 - ref.l2) <= 1e-4 * ref.l2, "l2 of \(name)")
            #expect(abs(ours.sum - ref.sum) <= 1e-4 * ref.l2 * Double(p.value.count).squareRoot(), "sum of \(name)")
        }
        // Frozen parameters get no gradient at all.
        #expect(model.namedParameters().filter { !$0.parameter.requiresGrad }.allSatisfy { $0.parameter.grad == nil })
        for key in ["bn1", "layer4.2.bn2"] {
            for stat in ["running_mean", "running_var"] {
                let ref = try fixtureTensor("\(base)/running/\(key).\(stat).npy")
                let ours = try #require(floatBuffer(model, "\(key).\(stat)"))
                #expect(Compare.relToMax(ours, ref) <= 1e-5, "\(key).\(stat)")
            }
            let count = try NPY.int64(Fixtures.url("\(base)/running/\(key).num_batches_tracked.npy"))[0]
            #expect(intBuffer(model, "\(key).num_batches_tracked") == count)
        }
    }

    @Test func transferWithBatchStatistics() throws {
        try checkTransfer("train_bn_batchstats", frozenBatchNormEval: false)
    }

    @Test func transferWithFrozenBatchNormInEval() throws {
        try checkTransfer("train_frozen_bn_eval", frozenBatchNormEval: true)
    }

    @Test func fullFineTuning() throws {
        let model = try makeModel()
        model.train()
        let x = try fixtureTensor("resnet34/train_input.npy")
        let labels = try NPY.int64(Fixtures.url("resnet34/train_labels.npy")).map { Int($0) }
        let logits = model.forward(x, mode: .parameters)
        let (loss, grad, _) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        _ = model.backward(grad)
        let refLoss = try fixtureTensor("resnet34/full_train/loss.npy").scalar
        #expect(abs(loss - refLoss) <= 1e-5 * abs(refLoss))
        #expect(Compare.relToMax(logits, try fixtureTensor("resnet34/full_train/logits.npy")) <= 1e-4)
        let params = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
        for name in ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "fc.bias"] {
            let ref = try fixtureTensor("resnet34/full_train/grads/\(name).npy")
            let grad = try #require(params[name]?.grad, "no gradient for \(name)")
            #expect(Compare.relToMax(grad, ref) <= 1e-3, "\(name)")
        }
        let refNorms = try gradNorms("resnet34/full_train/grad_norms.json")
        #expect(refNorms.count == 110)
        for (name, p) in model.namedParameters() {
            let ours = norms(p.grad!), ref = refNorms[name]!
            #expect(abs(ours.l2 - ref.l2) <= 1e-4 * ref.l2, "l2 of \(name)")
            #expect(abs(ours.sum - ref.sum) <= 1e-4 * ref.l2 * Double(p.value.count).squareRoot(), "sum of \(name)")
        }
    }
}
