import Foundation
import GraftExport
import GraftModels
import GraftTensor
import GraftWeights

/// Writes resnet34-eval's model as ONNX through `graft export`'s code path (a weights file, read
/// back strictly, then `ModelExport.write`), so ONNX Runtime runs the file a user would ship.
/// Its weights are the workload's random initialisation: speed does not depend on their values.
func exportEvalModel(to url: URL) throws {
    let model = ResNet(depth: .resnet34)
    let weights = url.deletingPathExtension().appendingPathExtension("h5")
    defer { try? FileManager.default.removeItem(at: weights) }
    let attributes = WeightsAttributes(
        modelID: "resnet34-bench", architecture: Architecture.resnet34.rawValue, numClasses: 1000,
        classNames: [], inputSize: [3, 224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    try WeightsFile.write(model.stateDict(), attributes: attributes, to: weights)
    try ModelExport.write(try ExportableModel.load(weights: weights), format: .onnx, to: url, overwrite: true)
}
