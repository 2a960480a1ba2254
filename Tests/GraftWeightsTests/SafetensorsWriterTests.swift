import Foundation
import GraftSupport
import GraftTensor
import Testing
import TestSupport
@testable import GraftWeights

/// The safetensors writer: what it writes, the reader reads back bit for bit, and so does the
/// `safetensors` package from PyPI (in a virtual environment this suite makes once).
@Suite("safetensors writer")
struct SafetensorsWriterTests {
    static let metadata = ["architecture": "vanilla-cnn", "class_names": #"["daisy","rose"]"#, "format": "pt"]

    @Test(.enabled(if: TestFiles.fixtures.runs, TestFiles.fixtures.comment))
    func readerReadsWhatTheWriterWroteBitForBit() throws {
        try TestFiles.fixtures.require()
        let dir = try TemporaryDirectory.make("graft-st-writer")
        defer { TemporaryDirectory.remove(dir) }
        for fixture in ["vanilla_cnn/vanilla-seed0.pth", "resnet34/resnet34-random-seed0.pth"] {
            let state = try PyTorchCheckpoint.load(Fixtures.url(fixture))
            let url = dir.appendingPathComponent("model.safetensors")
            try Safetensors.write(state, metadata: Self.metadata, to: url)
            let back = try Safetensors.load(url)
            #expect(back.keys == state.keys, "\(fixture): keys or their order differ")
            #expect(back == state, "\(fixture): values differ")
            #expect(try Safetensors.metadata(url) == Self.metadata)
            // The header is padded so that the data, and every F32 tensor in it, is 8-byte aligned.
            let data = try Data(contentsOf: url)
            let headerLength = data.prefix(8).withUnsafeBytes {
                UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
            }
            #expect((8 + headerLength) % 8 == 0)
            #expect(Safetensors.encode(state, metadata: Self.metadata) == data, "the bytes depend on the contents only")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.safetensors"])
    }

    @Test func int64AndEmptyTensorsAndNoMetadata() throws {
        let state = StateDict([
            ("a", .float(Tensor(shape: [2, 2], scalars: [1, -0.0, .leastNonzeroMagnitude, 3.5]))),
            ("n", .int64(shape: [], values: [42])), ("e", .float(Tensor(shape: [0, 3], scalars: []))),
        ])
        let dir = try TemporaryDirectory.make("graft-st-writer")
        defer { TemporaryDirectory.remove(dir) }
        let url = dir.appendingPathComponent("x.safetensors")
        try Safetensors.write(state, to: url)
        #expect(try Safetensors.load(url) == state)
        #expect(try Safetensors.metadata(url).isEmpty)
    }

    static let safetensorsEnvironment = PythonVirtualEnvironment.prepare(
        name: "safetensors", packages: ["safetensors", "numpy"])
    static let python = Prerequisite("safetensors and numpy from PyPI", safetensorsEnvironment)

    @Test(.enabled(if: TestFiles.fixtures.runs && python.runs, python.comment))
    func pythonSafetensorsReadsWhatGraftWrites() throws {
        try TestFiles.fixtures.require()
        try Self.python.require()
        let env = try Self.safetensorsEnvironment.get()
        let dir = try TemporaryDirectory.make("graft-st-writer")
        defer { TemporaryDirectory.remove(dir) }
        let url = dir.appendingPathComponent("vanilla.safetensors")
        let state = try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))
        try Safetensors.write(state, metadata: Self.metadata, to: url)
        let script = """
            import hashlib, json, sys
            from safetensors import safe_open
            from safetensors.numpy import load_file
            arrays = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="numpy") as f:
                metadata = f.metadata()
            print(json.dumps({"metadata": metadata, "tensors": {k: [str(v.dtype), list(v.shape),
                hashlib.sha256(v.tobytes()).hexdigest()] for k, v in arrays.items()}}))
            """
        let result = try env.run(script, [url.path])
        try #require(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["metadata"] as? [String: String] == Self.metadata)
        let tensors = try #require(json["tensors"] as? [String: [Any]])
        #expect(Set(tensors.keys) == Set(state.keys))
        for (key, value) in state {
            let entry = try #require(tensors[key], "\(key) missing")
            let bytes: Data
            switch value {
            case .float(let t):
                #expect(entry[0] as? String == "float32", "\(key)")
                bytes = t.withUnsafeBufferPointer { Data(buffer: $0) }
            case .int64(_, let v):
                #expect(entry[0] as? String == "int64", "\(key)")
                bytes = v.withUnsafeBufferPointer { Data(buffer: $0) }
            }
            #expect(entry[1] as? [Int] == value.shape, "\(key)")
            #expect(entry[2] as? String == SHA256.hex(of: bytes), "\(key): bytes differ")
        }
    }
}
