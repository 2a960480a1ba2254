import Foundation
import GraftExport
import GraftModels
import GraftNN
import GraftTensor
import GraftWeights
import TestSupport

/// What the export tests share: weights files to export, and the Python tools that check the
/// results.
enum ExportTestSupport {
    /// ONNX Runtime (and numpy) from PyPI, in a virtual environment made once per machine.
    static let onnxRuntime = PythonVirtualEnvironment.prepare(name: "onnxruntime", packages: ["onnxruntime", "numpy"])
    static let onnxRuntimePrerequisite = Prerequisite("onnxruntime and numpy from PyPI", onnxRuntime)

    /// Debian's interpreter, where `python3-onnx` (`scripts/install-deps.sh`) gives `onnx.checker`.
    static let debianPython = "/usr/bin/python3"
    static let onnxChecker = Prerequisite(
        "onnx.checker (Debian package python3-onnx: run scripts/install-deps.sh)",
        problem: {
            guard let outcome = try? ChildProcess.run(URL(fileURLWithPath: debianPython), ["-c", "import onnx"]) else {
                return "cannot run \(debianPython)"
            }
            return outcome.status == 0 ? nil : outcome.stderr.split(separator: "\n").last.map(String.init)
        }())

    static let fixtures = Fixtures.prerequisite

    /// The `graft` binary built next to the tests (`--build-tests`), or `$GRAFT_BIN`.
    static let graftBinary =
        ProcessInfo.processInfo.environment["GRAFT_BIN"].map { URL(fileURLWithPath: $0) }
        ?? builtExecutable("graft")
    static let graft = Prerequisite(
        "the graft binary",
        problem: graftBinary == nil ? "not found next to the tests (build with --build-tests, or set GRAFT_BIN)" : nil)

    /// Writes `model`'s weights as a Graft weights file with a card of its own.
    static func weightsFile(
        _ model: Module, architecture: Architecture, numClasses: Int, inputSize: Int, in dir: URL,
        name: String = "model.h5"
    ) throws -> URL {
        let url = dir.appendingPathComponent(name)
        let attributes = WeightsAttributes(
            modelID: "\(architecture.rawValue)-test", architecture: architecture.rawValue, numClasses: numClasses,
            classNames: (0..<numClasses).map { "class-\($0)" }, inputSize: [3, inputSize, inputSize],
            mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        try WeightsFile.write(model.stateDict(), attributes: attributes, to: url)
        return url
    }

    /// Gives every BatchNorm random statistics and affine parameters, so that a wrong BatchNorm
    /// in the exported graph changes the logits.
    static func randomizeBatchNorms(_ model: Module, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        for (_, module) in model.namedModules() {
            guard let bn = module as? BatchNorm2d else { continue }
            let c = [bn.channels]
            bn.weight.value = Tensor.uniform(c, low: 0.5, high: 1.5, using: &rng)
            bn.bias.value = Tensor.uniform(c, low: -0.2, high: 0.2, using: &rng)
            bn.runningMean.value = .float(Tensor.uniform(c, low: -0.5, high: 0.5, using: &rng))
            bn.runningVar.value = .float(Tensor.uniform(c, low: 0.5, high: 2, using: &rng))
        }
    }

    /// A standard-normal batch.
    static func batch(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float(rng.nextNormal()) })
    }

    /// `max|a − b| / max|b|`.
    static func relativeToMax(_ a: [Float], _ b: [Float]) -> Double {
        let diff = zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0
        let scale = b.map { Double(abs($0)) }.max() ?? 0
        return diff / max(scale, 1e-30)
    }

    /// Runs an ONNX file with ONNX Runtime on `input`; returns the logits, their shape and the
    /// model's metadata.
    static func runONNX(
        _ url: URL, input: Tensor, in dir: URL
    ) throws -> (logits: [Float], shape: [Int], metadata: [String: String], inputShape: [String]) {
        let env = try onnxRuntime.get()
        let raw = dir.appendingPathComponent("input-\(UUID().uuidString).f32")
        try input.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: raw)
        let script = """
            import json, sys
            import numpy as np
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
            x = np.fromfile(sys.argv[2], dtype="<f4").reshape(json.loads(sys.argv[3]))
            (y,) = session.run(["logits"], {"input": x})
            print(json.dumps({"logits": [float(v) for v in y.reshape(-1)], "shape": list(y.shape),
                              "metadata": session.get_modelmeta().custom_metadata_map,
                              "input_shape": [str(d) for d in session.get_inputs()[0].shape]}))
            """
        let shape = "[" + input.shape.map(String.init).joined(separator: ",") + "]"
        let result = try env.run(script, [url.path, raw.path, shape])
        guard result.status == 0 else { throw RunFailure(description: "onnxruntime: \(result.stderr)") }
        guard let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            let logits = json["logits"] as? [Double], let outShape = json["shape"] as? [Int],
            let metadata = json["metadata"] as? [String: String], let inputShape = json["input_shape"] as? [String]
        else { throw RunFailure(description: "onnxruntime printed \(result.stdout)") }
        return (logits.map { Float($0) }, outShape, metadata, inputShape)
    }

    /// `onnx.checker.check_model(full_check=True)` on a file; nil when it passes.
    static func checkerProblem(_ url: URL) throws -> String? {
        let script = "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)"
        let result = try ChildProcess.run(URL(fileURLWithPath: debianPython), ["-c", script, url.path])
        return result.status == 0 ? nil : result.stderr
    }

    struct RunFailure: Error, CustomStringConvertible { let description: String }
}
