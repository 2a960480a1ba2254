import Foundation
import GraftSupport
import GraftModels
import GraftNN
import GraftTensor
import Testing
import TestSupport
@testable import GraftWeights
@testable import GraftZoo

@Suite("convert and reload", .enabled(if: Fixtures.prerequisite.runs, Fixtures.prerequisite.comment), .serialized)
struct ConverterTests {
    let zoo: Zoo

    init() throws { zoo = try Zoo.load(directory: Fixtures.packageRoot.appendingPathComponent("Models")) }

    /// Eval-mode logits of a converted file against PyTorch's.
    func logits(weights: URL, card: ModelCard, input: String) throws -> Tensor {
        let (model, _) = try Converter.loadModel(weights: weights, card: card)
        model.eval()
        return model(try NPY.float(Fixtures.url(input)))
    }

    @Test func vanillaPthAndSafetensorsConvertToTheSameWeightsAndLogits() throws {
        let dir = try TemporaryDirectory.make("graft-zoo")
        defer { TemporaryDirectory.remove(dir) }
        let card = try zoo.card(id: "vanilla-cnn")
        let fromPth = try Converter.convert(
            source: Fixtures.url("vanilla_cnn/vanilla-seed0.pth"), card: card,
            output: dir.appendingPathComponent("a.h5"))
        let fromST = try Converter.convert(
            source: Fixtures.url("vanilla_cnn/vanilla-seed0.safetensors"), card: card,
            output: dir.appendingPathComponent("b.h5"))
        #expect(fromPth.tensorCount == 32 && fromPth.checksum == .unknown && fromPth.warnings.isEmpty)
        let a = try WeightsFile.read(fromPth.output), b = try WeightsFile.read(fromST.output)
        // Both are stored in the model's state_dict order, which is the .pth order.
        #expect(a.state == b.state)
        #expect(a.state == (try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))))
        #expect(b.state.keys == (try Fixtures.stateDictKeyNames("vanilla_cnn/state_dict_keys.txt")))
        #expect(a.attributes.sourceSHA256 == (try SHA256.hex(of: Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))))
        #expect(a.attributes.architecture == "vanilla-cnn" && a.attributes.numClasses == 5)
        let expected = try NPY.float(Fixtures.url("vanilla_cnn/eval_logits.npy"))
        let ours = try logits(weights: fromST.output, card: card, input: "vanilla_cnn/input.npy")
        #expect(ours.shape == expected.shape)
        // The fixture README's tolerance for vanilla_cnn/eval_logits.npy: rel-to-max 1e-5.
        #expect(Compare.relToMax(ours, expected) <= 1e-5)
    }

    @Test func resnet34ConvertsAndReproducesTheFixtureLogits() throws {
        let dir = try TemporaryDirectory.make("graft-zoo")
        defer { TemporaryDirectory.remove(dir) }
        let card = try zoo.card(id: "resnet34")
        let result = try Converter.convert(
            source: Fixtures.url("resnet34/resnet34-random-seed0.pth"), card: card,
            output: dir.appendingPathComponent("resnet34.h5"))
        #expect(result.tensorCount == 218)
        #expect(result.parameterCount == 21_797_672)  // torchvision's ResNet34 parameter count
        #expect(result.checksum == .unknown)
        let expected = try NPY.float(Fixtures.url("resnet34/eval_logits.npy"))
        let ours = try logits(weights: result.output, card: card, input: "resnet34/input.npy")
        #expect(ours.shape == expected.shape)
        // The fixture README's tolerance for resnet34/eval_logits.npy: rel-to-max 1e-4.
        #expect(Compare.relToMax(ours, expected) <= 1e-4)
    }

    @Test func partialLoadIntoAFiveClassHeadSkipsExactlyTheHead() throws {
        let state = try PyTorchCheckpoint.load(Fixtures.url("resnet34/resnet34-random-seed0.pth"))
        let model = Architecture.resnet34.make(numClasses: 5)
        let report = try model.load(state, strict: false)
        #expect(report.mismatched.map(\.key) == ["fc.weight", "fc.bias"])
        #expect(report.mismatched[0].expectedShape == [5, 512] && report.mismatched[0].foundShape == [1000, 512])
        #expect(report.missing.isEmpty && report.unexpected.isEmpty)
        #expect(report.loaded.count == 216)
        #expect(throws: WeightLoadingError.self) { try model.load(state) }
    }

    @Test func wrongModelNaNAndChecksumMismatch() throws {
        let dir = try TemporaryDirectory.make("graft-zoo")
        defer { TemporaryDirectory.remove(dir) }
        let r34 = try zoo.card(id: "resnet34")
        // Vanilla weights for a ResNet34: refused, naming keys, nothing written.
        let out = dir.appendingPathComponent("wrong.h5")
        do {
            _ = try Converter.convert(source: Fixtures.url("vanilla_cnn/vanilla-seed0.pth"), card: r34, output: out)
            Issue.record("vanilla weights converted as resnet34")
        } catch let error as ZooError {
            guard case .modelMismatch(_, let model, let problems) = error else { Issue.record("\(error)"); return }
            #expect(model == "resnet34")
            #expect(problems.count == 2)
            #expect(problems[0].hasPrefix("218 missing keys (conv1.weight, bn1.weight,"))
            #expect(problems[1].hasPrefix("32 unexpected keys (features.0.weight, features.0.bias,"))
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))

        // A NaN in the weights: refused.
        var state = try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))
        guard case .float(var t)? = state["features.4.weight"] else { Issue.record("key"); return }
        t.mutablePointer()[3] = .nan
        state["features.4.weight"] = .float(t)
        let nanFile = dir.appendingPathComponent("nan.h5")
        try WeightsFile.write(
            state,
            attributes: WeightsAttributes(
                modelID: "vanilla-cnn", architecture: "vanilla_cnn", numClasses: 5, inputSize: [3, 128, 128],
                mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), to: nanFile)
        #expect(throws: WeightsError.nonFinite(path: nanFile.path, keys: ["features.4.weight"])) {
            try Converter.loadModel(weights: nanFile, card: try zoo.card(id: "vanilla-cnn"))
        }

        // A file with the official name but other content: converted with a warning.
        let impostor = dir.appendingPathComponent("resnet34-b627a593.pth")
        try FileManager.default.createSymbolicLink(
            at: impostor, withDestinationURL: Fixtures.url("resnet34/resnet34-random-seed0.pth"))
        let result = try Converter.convert(source: impostor, card: r34, output: dir.appendingPathComponent("r34.h5"))
        guard case .mismatch(let expected, _) = result.checksum else { Issue.record("\(result.checksum)"); return }
        #expect(expected == r34.source?.sha256)
        #expect(result.warnings.count == 1 && result.warnings[0].contains("differs from the official"))
        // The same hash as the card's: verified.
        let sha = try SHA256.hex(of: impostor)
        var card = r34
        card.source?.sha256 = sha
        #expect(Converter.checksumStatus(sourceFile: "x.pth", sha256: sha, card: card) == .verified)
    }

    @Test func missingSourceIsNamed() throws {
        let url = URL(fileURLWithPath: "/nonexistent/graft/weights.pth")
        #expect(throws: WeightsError.fileNotFound(path: url.path)) {
            try Converter.convert(
                source: url, card: try zoo.card(id: "vanilla-cnn"), output: URL(fileURLWithPath: "/nonexistent/out.h5"))
        }
    }

    @Test func anotherModelsWeightsFileIsRefused() throws {
        let dir = try TemporaryDirectory.make("graft-zoo")
        defer { TemporaryDirectory.remove(dir) }
        let vanilla = try Converter.convert(
            source: Fixtures.url("vanilla_cnn/vanilla-seed0.pth"), card: try zoo.card(id: "vanilla-cnn"),
            output: dir.appendingPathComponent("v.h5"))
        #expect(throws: ZooError.self) {
            try Converter.loadModel(weights: vanilla.output, card: try zoo.card(id: "resnet18"))
        }
    }
}
