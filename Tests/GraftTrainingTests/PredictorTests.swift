import Foundation
import Testing
import GraftModels
import GraftNN
import GraftTensor
import GraftWeights
import TestSupport
@testable import GraftTraining

/// `graft predict` end to end: the fixture ResNet34 converted to HDF5, the card's eval transform
/// on a real photo, probabilities equal to softmax(model(torchvision's eval224 tensor)).
@Suite struct PredictorTests {
    @Test func probabilitiesMatchTheTorchvisionTransformPath() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "graft-predict-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = directory.appendingPathComponent("resnet34.h5")
        let state = try PyTorchCheckpoint.load(Fixtures.url("resnet34/resnet34-random-seed0.pth"))
        try WeightsFile.write(
            state,
            attributes: WeightsAttributes(
                modelID: "resnet34", architecture: "resnet34", numClasses: 1000, inputSize: [3, 224, 224],
                mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]), to: weights)

        let predictor = try Predictor(weights: weights, card: nil)
        let photos = ["flower", "china"]
        let predictions = try predictor.predict(photos.map { Fixtures.url("images/\($0).jpg") }, top: 3)

        let model = ResNet(depth: .resnet34)
        _ = try model.load(state)
        model.eval()
        for (photo, prediction) in zip(photos, predictions) {
            let input = try NPY.float(Fixtures.url("images/\(photo).eval224.npy")).reshaped([1, 3, 224, 224])
            let reference = CrossEntropy.softmax(model(input))
            let order = (0..<1000).sorted { reference.pointer[$0] > reference.pointer[$1] }
            #expect(prediction.top.map(\.classIndex) == Array(order.prefix(3)), "\(photo)")
            for entry in prediction.top {
                #expect(abs(entry.probability - Double(reference.pointer[entry.classIndex])) < 1e-4, "\(photo)")
            }
        }
    }

    @Test func weightsWithNaNAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("graft-nan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = VanillaCNN(numClasses: 5)
        var state = model.stateDict()
        var w = model.features.layers.compactMap { $0 as? Conv2d }[0].weight.value
        w.withUnsafeMutableBufferPointer { $0[3] = .nan }
        state["features.0.weight"] = .float(w)
        let url = directory.appendingPathComponent("bad.h5")
        try WeightsFile.write(
            state,
            attributes: WeightsAttributes(
                modelID: "vanilla-cnn", architecture: "vanilla-cnn", numClasses: 5, inputSize: [3, 32, 32],
                mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), to: url)
        #expect {
            _ = try Predictor(weights: url, card: nil)
        } throws: { error in
            error.localizedDescription.contains("bad.h5") && error.localizedDescription.contains("features.0.weight")
        }
    }
}
