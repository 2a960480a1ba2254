import Foundation
import GraftExport
import GraftModels
import GraftNN
import GraftTensor
import GraftWeights
import GraftZoo
import Testing
import TestSupport

/// `ModelExport` to safetensors: the state dict under PyTorch's keys with the card, what
/// `graft convert` reads back, and the refusals that leave no file behind.
@Suite("safetensors export")
struct SafetensorsExportTests {
    func vanillaWeights(in dir: URL, architecture: String = "vanilla-cnn") throws -> (URL, StateDict) {
        let model = VanillaCNN(numClasses: 3, seed: 9)
        ExportTestSupport.randomizeBatchNorms(model, seed: 1)
        let url = dir.appendingPathComponent("in.h5")
        let attributes = WeightsAttributes(
            modelID: "vanilla-test", architecture: architecture, numClasses: 3,
            classNames: ["daisy", "rose", "tulip \"x\""],
            inputSize: [3, 32, 32], mean: [0.5, 0.25, 0.125], std: [0.2, 0.3, 0.4])
        try WeightsFile.write(model.stateDict(), attributes: attributes, to: url)
        return (url, model.stateDict())
    }

    @Test func writesTheStateDictAndTheCard() throws {
        let dir = try TemporaryDirectory.make("graft-export")
        defer { TemporaryDirectory.remove(dir) }
        let (weights, state) = try vanillaWeights(in: dir)
        let out = dir.appendingPathComponent("out.safetensors")
        let exportable = try ExportableModel.load(weights: weights)
        try ModelExport.write(exportable, format: .safetensors, to: out)
        let back = try Safetensors.load(out)
        #expect(back.keys == state.keys)
        #expect(back == state)
        let metadata = try Safetensors.metadata(out)
        #expect(metadata["architecture"] == "vanilla-cnn")
        #expect(metadata["model_id"] == "vanilla-test")
        #expect(metadata["num_classes"] == "3")
        #expect(metadata["format"] == "pt")
        let names = try JSONDecoder().decode([String].self, from: Data(try #require(metadata["class_names"]).utf8))
        #expect(names == ["daisy", "rose", "tulip \"x\""])
        #expect(
            try JSONDecoder().decode([Double].self, from: Data(try #require(metadata["mean"]).utf8)) == [
                0.5, 0.25, 0.125,
            ])
        #expect(
            try JSONDecoder().decode([Double].self, from: Data(try #require(metadata["std"]).utf8)) == [0.2, 0.3, 0.4])
        #expect(
            try JSONDecoder().decode([Int].self, from: Data(try #require(metadata["input_size"]).utf8)) == [3, 32, 32])

        // graft convert reads safetensors: the exported file converts back to the same weights.
        let card = try ModelCard.load(Fixtures.packageRoot.appendingPathComponent("Models/vanilla-cnn.json"))
        let converted = dir.appendingPathComponent("converted.h5")
        _ = try Converter.convert(source: out, card: card, output: converted)
        #expect(try WeightsFile.read(converted).state == state)
        #expect(
            Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == [
                "in.h5", "out.safetensors", "converted.h5",
            ])
    }

    @Test func anExistingOutputIsKeptWithoutOverwrite() throws {
        let dir = try TemporaryDirectory.make("graft-export")
        defer { TemporaryDirectory.remove(dir) }
        let (weights, state) = try vanillaWeights(in: dir)
        let out = dir.appendingPathComponent("out.onnx")
        try Data("keep me".utf8).write(to: out)
        let exportable = try ExportableModel.load(weights: weights)
        for format in ExportFormat.allCases {
            #expect(throws: ExportError.outputExists(path: out.path)) {
                try ModelExport.write(exportable, format: format, to: out)
            }
            #expect(try Data(contentsOf: out) == Data("keep me".utf8))
        }
        try ModelExport.write(exportable, format: .safetensors, to: out, overwrite: true)
        #expect(try Safetensors.load(out) == state)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["in.h5", "out.onnx"])
    }

    @Test func anUnknownArchitectureIsNamed() throws {
        let dir = try TemporaryDirectory.make("graft-export")
        defer { TemporaryDirectory.remove(dir) }
        let (weights, _) = try vanillaWeights(in: dir, architecture: "resnet50")
        #expect(
            throws: ExportError.unknownArchitecture(
                name: "resnet50", path: weights.path, known: Architecture.allCases.map(\.rawValue))
        ) {
            try ExportableModel.load(weights: weights)
        }
        let message =
            (try? ExportableModel.load(weights: weights)).map { _ in "" }
            ?? {
                do { _ = try ExportableModel.load(weights: weights) } catch { return error.localizedDescription }
                return ""
            }()
        #expect(message.contains("'resnet50'") && message.contains("resnet18, resnet34, vanilla-cnn"))
    }

    @Test func weightsThatDoNotFitAreListed() throws {
        let dir = try TemporaryDirectory.make("graft-export")
        defer { TemporaryDirectory.remove(dir) }
        // Vanilla CNN weights under a ResNet18 architecture.
        let (weights, _) = try vanillaWeights(in: dir, architecture: "resnet18")
        #expect {
            try ExportableModel.load(weights: weights)
        } throws: { error in
            guard case ExportError.modelMismatch(let path, let architecture, let problems) = error else { return false }
            return path == weights.path && architecture == "resnet18" && problems.contains("missing conv1.weight")
        }
    }
}
