import Foundation
import GraftExport
import GraftModels
import GraftNN
import GraftTensor
import GraftWeights
import Testing
import TestSupport

/// Each architecture exported to ONNX passes `onnx.checker`, and ONNX Runtime's logits agree with
/// Graft's eval-mode logits within the fixtures' tolerances (rel-to-max 1e-4 for a ResNet's eval
/// forward, 1e-5 for the vanilla CNN's eval logits: `shared/fixtures/README.md`).
@Suite(
    "ONNX export",
    .enabled(if: ExportTestSupport.onnxRuntimePrerequisite.runs, ExportTestSupport.onnxRuntimePrerequisite.comment))
struct ONNXExportTests {
    /// Exports the weights file, checks the graph, and compares ONNX Runtime with Graft on a
    /// batch of 2 and a batch of 1 (the batch axis is symbolic). Returns the larger rel-to-max.
    @discardableResult
    func agree(
        weights url: URL, inputSize: Int, tolerance: Double, in dir: URL,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Double {
        try ExportTestSupport.onnxRuntimePrerequisite.require()
        let exportable = try ExportableModel.load(weights: url)
        let onnx = dir.appendingPathComponent("\(exportable.card.architecture.rawValue).onnx")
        try ModelExport.write(exportable, format: .onnx, to: onnx, overwrite: true)
        if ExportTestSupport.onnxChecker.runs {
            try ExportTestSupport.onnxChecker.require()
            let problem = try ExportTestSupport.checkerProblem(onnx)
            #expect(problem == nil, "onnx.checker: \(problem ?? "")", sourceLocation: sourceLocation)
        }
        var worst = 0.0
        for (n, seed) in [(2, UInt64(11)), (1, UInt64(12))] {
            let x = ExportTestSupport.batch([n, 3, inputSize, inputSize], seed: seed)
            let graft = exportable.model(x)
            let ort = try ExportTestSupport.runONNX(onnx, input: x, in: dir)
            #expect(ort.shape == graft.shape, sourceLocation: sourceLocation)
            let r = ExportTestSupport.relativeToMax(ort.logits, graft.scalars)
            let maxAbs = zip(ort.logits, graft.scalars).map { abs($0 - $1) }.max() ?? 0
            print(
                "ONNX \(exportable.card.architecture.rawValue) \(n)×3×\(inputSize)²: max |Δlogit| \(maxAbs), rel-to-max \(r)"
            )
            #expect(r <= tolerance, "rel-to-max \(r) > \(tolerance)", sourceLocation: sourceLocation)
            #expect(ort.metadata == exportable.card.metadata, sourceLocation: sourceLocation)
            worst = max(worst, r)
        }
        return worst
    }

    @Test func resnet18WithRandomBatchNormStatistics() throws {
        let dir = try TemporaryDirectory.make("graft-onnx")
        defer { TemporaryDirectory.remove(dir) }
        let model = ResNet(depth: .resnet18, numClasses: 7, seed: 3)
        ExportTestSupport.randomizeBatchNorms(model, seed: 4)
        let url = try ExportTestSupport.weightsFile(
            model, architecture: .resnet18, numClasses: 7, inputSize: 224, in: dir)
        try agree(weights: url, inputSize: 64, tolerance: 1e-4, in: dir)
    }

    @Test(.enabled(if: ExportTestSupport.fixtures.runs, ExportTestSupport.fixtures.comment))
    func resnet34FromTheFixtureCheckpoint() throws {
        try ExportTestSupport.fixtures.require()
        let dir = try TemporaryDirectory.make("graft-onnx")
        defer { TemporaryDirectory.remove(dir) }
        let model = ResNet(depth: .resnet34, numClasses: 1000)
        try model.load(PyTorchCheckpoint.load(Fixtures.url("resnet34/resnet34-random-seed0.pth")))
        let url = try ExportTestSupport.weightsFile(
            model, architecture: .resnet34, numClasses: 1000, inputSize: 224, in: dir)
        try agree(weights: url, inputSize: 64, tolerance: 1e-4, in: dir)
    }

    /// 28² ends the four max-pools at 1×1 (the adaptive pool copies it into 2×2: Slice and
    /// ReduceMean), 32² at 2×2 (the identity: an AveragePool of 1×1 windows), 48² at 3×3 (overlapping windows); all fixed sizes.
    @Test(
        .enabled(if: ExportTestSupport.fixtures.runs, ExportTestSupport.fixtures.comment),
        arguments: [28, 32, 48])
    func vanillaCNNFromTheFixtureCheckpoint(inputSize: Int) throws {
        try ExportTestSupport.fixtures.require()
        let dir = try TemporaryDirectory.make("graft-onnx")
        defer { TemporaryDirectory.remove(dir) }
        let model = VanillaCNN(numClasses: 5)
        try model.load(PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth")))
        ExportTestSupport.randomizeBatchNorms(model, seed: 5)
        let url = try ExportTestSupport.weightsFile(
            model, architecture: .vanillaCNN, numClasses: 5, inputSize: inputSize, in: dir)
        try agree(weights: url, inputSize: inputSize, tolerance: 1e-5, in: dir)
    }

    /// ONNX Runtime on the fixture's own input reproduces PyTorch's eval logits.
    @Test(.enabled(if: ExportTestSupport.fixtures.runs, ExportTestSupport.fixtures.comment))
    func vanillaCNNAgainstPyTorch() throws {
        try ExportTestSupport.fixtures.require()
        try ExportTestSupport.onnxRuntimePrerequisite.require()
        let dir = try TemporaryDirectory.make("graft-onnx")
        defer { TemporaryDirectory.remove(dir) }
        let model = VanillaCNN(numClasses: 5)
        try model.load(PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth")))
        let url = try ExportTestSupport.weightsFile(
            model, architecture: .vanillaCNN, numClasses: 5, inputSize: 128, in: dir)
        let onnx = dir.appendingPathComponent("vanilla.onnx")
        try ModelExport.write(try ExportableModel.load(weights: url), format: .onnx, to: onnx)
        let x = try NPY.float(Fixtures.url("vanilla_cnn/input.npy"))
        let expected = try NPY.float(Fixtures.url("vanilla_cnn/eval_logits.npy"))
        let ort = try ExportTestSupport.runONNX(onnx, input: x, in: dir)
        #expect(ort.shape == expected.shape)
        let r = ExportTestSupport.relativeToMax(ort.logits, expected.scalars)
        let maxAbs = zip(ort.logits, expected.scalars).map { abs($0 - $1) }.max() ?? 0
        print("ONNX Runtime against PyTorch, vanilla-cnn 4×3×128²: max |Δlogit| \(maxAbs), rel-to-max \(r)")
        #expect(r <= 1e-5)
        #expect(ort.inputShape == ["batch", "3", "128", "128"])
    }

    @Test func resNetSpatialAxesAreSymbolic() throws {
        let model = ResNet(depth: .resnet18, numClasses: 3)
        let card = ExportCard(
            modelID: "r", architecture: .resnet18, numClasses: 3, classNames: ["a", "b", "c"],
            inputSize: [3, 224, 224], mean: [0, 0, 0], std: [1, 1, 1])
        let proto = try ONNXExport.model(ExportableModel(card: card, model: model, source: URL(fileURLWithPath: "/m")))
        let dims = proto.graph.input[0].type.tensorType.shape.dim.map {
            $0.dimParam.isEmpty ? "\($0.dimValue)" : $0.dimParam
        }
        #expect(dims == ["batch", "3", "height", "width"])
        #expect(proto.opsetImport.map(\.version) == [13])
        #expect(proto.graph.output.map(\.name) == ["logits"])
        let ops = Set(proto.graph.node.map(\.opType))
        #expect(
            ops == ["Conv", "BatchNormalization", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Flatten", "Gemm"])
        #expect(proto.graph.initializer.map(\.name).contains("layer2.0.downsample.1.running_var"))
    }
}
