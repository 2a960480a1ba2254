import Foundation
import GraftTensor
import Testing
import TestSupport
@testable import GraftWeights

/// Both directions of the interop promise in `Weights/README.md`, checked with h5py from Debian's
/// `/usr/bin/python3` (`scripts/install-deps.sh` installs python3-h5py and python3-numpy). Without
/// it the suite is skipped and says why, except with `CI=true`, where a missing h5py fails it.
@Suite("h5py interop", .enabled(if: TestFiles.fixturesAndH5py.runs, TestFiles.fixturesAndH5py.comment))
struct H5pyInteropTests {
    @Test func h5pyReadsWhatGraftWrites() throws {
        try TestFiles.fixturesAndH5py.require()
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let url = dir.appendingPathComponent("vanilla.h5")
        let state = try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))
        try WeightsFile.write(state, attributes: sampleAttributes(), to: url)
        let script = """
            import h5py, json, sys
            f = h5py.File(sys.argv[1], "r")
            out = {"order": [k.decode() if isinstance(k, bytes) else k for k in f.attrs["graft_key_order"]],
                   "sums": {k: float(f[k][()].astype("float64").sum()) for k in f.keys()},
                   "dtypes": {k: str(f[k].dtype) for k in f.keys()},
                   "first": [float(x) for x in f["features.0.weight"][()].reshape(-1)[:5]],
                   "model_id": f.attrs["model_id"], "num_classes": int(f.attrs["num_classes"]),
                   "mean": [float(x) for x in f.attrs["mean"]],
                   "class_names": [str(x) for x in f.attrs["class_names"]]}
            print(json.dumps(out))
            """
        let result = try TestFiles.run([TestFiles.python, "-c", script, url.path])
        try #require(result.status == 0, "\(result.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any])
        #expect(json["order"] as? [String] == state.keys)
        #expect(json["model_id"] as? String == "vanilla-cnn")
        #expect(json["num_classes"] as? Int == 5)
        #expect(json["mean"] as? [Double] == [0.485, 0.456, 0.406])
        #expect(json["class_names"] as? [String] == sampleAttributes().classNames)
        let dtypes = try #require(json["dtypes"] as? [String: String])
        let sums = try #require(json["sums"] as? [String: Double])
        #expect(Set(dtypes.keys) == Set(state.keys) && Set(sums.keys) == Set(state.keys))
        for (key, value) in state {
            switch value {
            case .float(let t):
                #expect(dtypes[key] == "float32", "\(key)")
                let sum = t.scalars.reduce(0.0) { $0 + Double($1) }
                #expect(abs((sums[key] ?? .nan) - sum) <= 1e-9 * max(1, abs(sum)), "\(key)")
            case .int64(_, let v):
                #expect(dtypes[key] == "int64", "\(key)")
                #expect(sums[key] == Double(v.reduce(0, +)), "\(key)")
            }
        }
        guard case .float(let w)? = state["features.0.weight"] else {
            Issue.record(
                "features.0.weight is missing or not float32: \(String(describing: state["features.0.weight"]))")
            return
        }
        let first = try #require(json["first"] as? [Double])
        #expect(first.count == 5 && first.map { Float($0) } == Array(w.scalars.prefix(5)))
    }

    @Test func graftReadsWhatH5pyWrites() throws {
        try TestFiles.fixturesAndH5py.require()
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let url = dir.appendingPathComponent("from-h5py.h5")
        // float64 and float16 weights, an int64 scalar counter, string/number attributes.
        let script = """
            import h5py, numpy as np, sys
            with h5py.File(sys.argv[1], "w") as f:
                f["fc.weight"] = np.arange(6, dtype=np.float64).reshape(2, 3) / 8
                f["fc.bias"] = np.array([0.5, -1.25], dtype=np.float16)
                f["bn.num_batches_tracked"] = np.int64(100)
                f.attrs["model_id"] = "tiny"
                f.attrs["architecture"] = "linear"
                f.attrs["num_classes"] = 2
                f.attrs["class_names"] = ["cat", "dog"]
                f.attrs["input_size"] = np.array([3, 32, 32])
                f.attrs["mean"] = np.array([0.5, 0.5, 0.5])
                f.attrs["std"] = [0.25, 0.25, 0.25]
                f.attrs["graft_format_version"] = 1
            """
        let result = try TestFiles.run([TestFiles.python, "-c", script, url.path])
        try #require(result.status == 0, "\(result.err)")
        let (state, attributes) = try WeightsFile.read(url)
        // Without graft_key_order, keys come in HDF5 name order.
        #expect(state.keys == ["bn.num_batches_tracked", "fc.bias", "fc.weight"])
        #expect(state["fc.weight"] == .float(Tensor(shape: [2, 3], scalars: [0, 0.125, 0.25, 0.375, 0.5, 0.625])))
        #expect(state["fc.bias"] == .float(Tensor(shape: [2], scalars: [0.5, -1.25])))
        #expect(state["bn.num_batches_tracked"] == .int64(shape: [], values: [100]))
        #expect(attributes.modelID == "tiny" && attributes.architecture == "linear" && attributes.numClasses == 2)
        #expect(attributes.classNames == ["cat", "dog"])
        #expect(attributes.inputSize == [3, 32, 32])
        #expect(attributes.mean == [0.5, 0.5, 0.5] && attributes.std == [0.25, 0.25, 0.25])
    }
}
