import Foundation
import GraftTensor
import Testing
import TestSupport
@testable import GraftWeights

/// Inputs the fuzz targets (Fuzz/, `make fuzz`) found that trapped, overflowed the stack, leaked
/// or asked for absurd amounts of memory, rebuilt byte by byte. Each must now fail with a
/// `WeightsError` that names the file.
@Suite("Fuzzer regressions: weights readers")
struct FuzzRegressionTests {
    func write(_ data: Data, _ name: String, in dir: URL) throws -> URL { try TestFiles.write(data, name, in: dir) }

    func expectError(
        _ url: URL, _ fragment: String, _ load: (URL) throws -> Any,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        TestFiles.expectWeightsError(url, fragment, load, sourceLocation: sourceLocation)
    }

    func expectPthError(_ url: URL, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectError(url, fragment, { try PyTorchCheckpoint.load($0) }, sourceLocation: sourceLocation)
    }

    /// LONG1 with 8 bytes: an int64 the 4-byte BININT of `PthBuilder.int` cannot hold.
    static func long(_ v: Int64) -> [UInt8] { [0x8A, 0x08] + (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    static func tensor(numel: [UInt8], offset: Int = 0, size: [[UInt8]], stride: [[UInt8]]) -> [UInt8] {
        typealias B = PthBuilder
        let pid = B.tuple([B.str("storage"), B.global("torch", "FloatStorage"), B.str("0"), B.str("cpu"), numel])
        let args = B.tuple([
            pid + [0x51], B.int(offset), B.tuple(size), B.tuple(stride), [0x89],
            B.global("collections", "OrderedDict") + [0x29, 0x52],
        ])
        return B.global("torch._utils", "_rebuild_tensor_v2") + args + [0x52]
    }

    // MARK: - .pth

    /// Found by the fuzzer: a BINUNICODE8 length above Int.max trapped converting to Int.
    @Test func hugeBinUnicode8Length() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let pickle: [UInt8] = [0x80, 0x02, 0x8D] + [UInt8](repeating: 0xFF, count: 8) + [0x2E]
        expectPthError(
            try write(PthBuilder.archive(pickle: pickle), "unicode8.pth", in: dir), "unexpected end of the pickle")
    }

    /// Sizes, strides and storage counts from the file multiplied or added past Int.max.
    @Test func overflowingSizesStridesAndCounts() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let four = PthBuilder.floats([1, 2, 3, 4])
        let big = PthBuilder.int(Int(Int32.max))
        let cases: [(String, [UInt8], String)] = [
            (
                "count", Self.tensor(numel: Self.long(.max), size: [PthBuilder.int(4)], stride: [PthBuilder.int(1)]),
                "storage 'ckpt/data/0' has 16 bytes"
            ),
            (
                "size",
                Self.tensor(
                    numel: PthBuilder.int(4), size: [big, big, big],
                    stride: [PthBuilder.int(0), PthBuilder.int(0), PthBuilder.int(0)]),
                "too many elements"
            ),
            (
                "zero-size",
                Self.tensor(
                    numel: PthBuilder.int(4), size: [PthBuilder.int(0), big, big, big],
                    stride: [PthBuilder.int(1), PthBuilder.int(1), PthBuilder.int(1), PthBuilder.int(1)]),
                "too many elements"
            ),
            (
                "stride", Self.tensor(numel: PthBuilder.int(4), size: [PthBuilder.int(3)], stride: [Self.long(.max)]),
                "reaches past storage"
            ),
            // Stride 0 (what `expand` saves): a trillion copies of one float from a 16-byte storage.
            (
                "expanded",
                Self.tensor(numel: PthBuilder.int(4), size: [Self.long(1 << 40)], stride: [PthBuilder.int(0)]),
                "repeats elements"
            ),
        ]
        for (name, tensor, fragment) in cases {
            let pickle = PthBuilder.stateDictPickle([("w", tensor)])
            expectPthError(
                try write(PthBuilder.archive(pickle: pickle, storages: [("0", four)]), "\(name).pth", in: dir), fragment
            )
        }
    }

    /// A million nested tuples overflowed the stack when released; a million nested lists or a
    /// list holding itself must neither overflow it nor leak.
    @Test func deepNestingAndCycles() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let n = 1_000_000
        let tuples: [UInt8] = [0x80, 0x02, 0x4B, 0x00] + [UInt8](repeating: 0x85, count: n) + [0x2E]
        expectPthError(try write(PthBuilder.archive(pickle: tuples), "tuples.pth", in: dir), "tuples nested more than")
        let lists: [UInt8] =
            [0x80, 0x02] + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [0x2E]
        expectPthError(try write(PthBuilder.archive(pickle: lists), "lists.pth", in: dir), "holds a list")
        let cycle: [UInt8] = [0x80, 0x02, 0x5D, 0x32, 0x61, 0x2E]  // l = []; l.append(l)
        expectPthError(try write(PthBuilder.archive(pickle: cycle), "cycle.pth", in: dir), "holds a list")
    }

    @Test func releasingContainersBreaksCycles() throws {
        // l = []; l.append(l); return l
        let bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x32, 0x61, 0x2E]
        weak var list: PickleList?
        try bytes.withUnsafeBytes { raw in
            var unpickler = Unpickler(bytes: raw, path: "cycle.pkl") { _, _, _, _ in .int64(shape: [], values: [0]) }
            guard case .list(let l) = try unpickler.run() else {
                Issue.record("not a list")
                return
            }
            list = l
            #expect(l.items.count == 1)
            unpickler.releaseContainers()
        }
        #expect(list == nil, "the self-referencing list outlived the load")
    }

    // MARK: - safetensors

    @Test func safetensorsShapeOverflow() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let cases: [(String, String)] = [
            ("product", #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#),
            ("bytes", #"{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}"#),
            (
                "zero",
                #"{"w":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}"#
            ),
        ]
        for (name, header) in cases {
            let bytes = Array(header.utf8)
            let data = Data((0..<8).map { UInt8(truncatingIfNeeded: bytes.count >> (8 * $0)) } + bytes)
            expectError(
                try write(data, "\(name).safetensors", in: dir), "too many elements", { try Safetensors.load($0) })
        }
    }

    // MARK: - HDF5

    /// Whole-number attributes stored as floats were converted with `Int64(_:)`, which traps on
    /// infinity and on values beyond Int64.
    @Test func nonIntegralNumberAttributes() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        for (name, value) in [("inf", HDF5AttributeValue.double(.infinity)), ("big", .doubles([1, 1e300]))] {
            let url = dir.appendingPathComponent("\(name).h5")
            do {
                let file = try HDF5File.create(url)
                let root = try file.group("/", create: false)
                try file.writeArray(.float(Tensor(shape: [2], scalars: [1, 2])), name: "w", in: root)
                try file.writeAttribute("num_classes", value, on: root)
                try file.flush()
            }
            expectError(url, "num_classes", { try WeightsFile.read($0) })
        }
    }

    /// Files h5py writes easily and a damaged header imitates: an empty (null dataspace)
    /// attribute, which trapped reading element 0 of nothing, and datasets whose shape claims far
    /// more data than the file stores, which were allocated before the read failed (4 TiB here).
    @Test(.enabled(if: TestFiles.h5py.runs, TestFiles.h5py.comment))
    func emptyAttributesAndDatasetsLargerThanTheFile() throws {
        try TestFiles.h5py.require()
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let script = """
            import sys, h5py, numpy as np
            d = sys.argv[1]
            with h5py.File(d + "/empty-attr.h5", "w") as f:
                f["w"] = np.arange(3, dtype=np.float32)
                f.attrs["num_classes"] = h5py.Empty("i8")
                f.attrs["mean"] = h5py.Empty("f8")
            with h5py.File(d + "/contiguous.h5", "w") as f:
                f.create_dataset("w", shape=(1 << 40,), dtype="f4")
            with h5py.File(d + "/chunked.h5", "w") as f:
                f.create_dataset("w", shape=(1 << 40,), dtype="f4", chunks=(1024,), compression="gzip")
            """
        let result = try TestFiles.run([TestFiles.python, "-c", script, dir.path])
        try #require(result.status == 0, "\(result.err)")
        let (state, attributes) = try WeightsFile.read(dir.appendingPathComponent("empty-attr.h5"))
        #expect(state.keys == ["w"] && attributes.mean.isEmpty && attributes.numClasses == 0)
        for name in ["contiguous", "chunked"] {
            expectError(dir.appendingPathComponent("\(name).h5"), "stores no data", { try WeightsFile.read($0) })
            let entries = try WeightsFile.entries(in: dir.appendingPathComponent("\(name).h5"))
            #expect(entries.map(\.shape) == [[1 << 40]])
        }
    }
}
