import Foundation
import GraftTensor
import Testing
import TestSupport
@testable import GraftWeights

/// Builds small `torch.save`-like archives byte by byte, to check the reader on views and on
/// every kind of bad input without committing weight files.
enum PthBuilder {
    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func le16(_ v: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    // Pickle pieces (protocol 2).
    static func str(_ s: String) -> [UInt8] { [0x58] + le32(s.utf8.count) + Array(s.utf8) }
    static func int(_ i: Int) -> [UInt8] { [0x4A] + le32(i) }
    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func tuple(_ items: [[UInt8]]) -> [UInt8] { [0x28] + items.flatMap { $0 } + [0x74] }

    static func tensor(
        storageKey: String, type: String = "FloatStorage", numel: Int,
        offset: Int, size: [Int], stride: [Int]
    ) -> [UInt8] {
        let pid = tuple([str("storage"), global("torch", type), str(storageKey), str("cpu"), int(numel)])
        let args = tuple([
            pid + [0x51], int(offset), tuple(size.map(int)), tuple(stride.map(int)), [0x89],
            global("collections", "OrderedDict") + [0x29, 0x52],
        ])
        return global("torch._utils", "_rebuild_tensor_v2") + args + [0x52]
    }

    static func stateDictPickle(_ entries: [(String, [UInt8])]) -> [UInt8] {
        [0x80, 0x02] + global("collections", "OrderedDict") + [0x29, 0x52, 0x28]
            + entries.flatMap { str($0.0) + $0.1 } + [0x75, 0x2E]
    }

    /// A zip archive of STORED entries (CRC left zero: the reader does not check it).
    static func zip(_ entries: [(String, [UInt8])], method: Int = 0) -> Data {
        var out: [UInt8] = [], central: [UInt8] = []
        for (name, data) in entries {
            let offset = out.count
            let nameBytes = Array(name.utf8)
            out +=
                le32(0x0403_4b50) + le16(20) + le16(0) + le16(method) + le16(0) + le16(0) + le32(0)
                + le32(data.count) + le32(data.count) + le16(nameBytes.count) + le16(0) + nameBytes + data
            central +=
                le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(method) + le16(0) + le16(0)
                + le32(0) + le32(data.count) + le32(data.count) + le16(nameBytes.count) + le16(0) + le16(0)
                + le16(0) + le16(0) + le32(0) + le32(offset) + nameBytes
        }
        let cdOffset = out.count
        out += central
        out +=
            le32(0x0605_4b50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
            + le32(central.count) + le32(cdOffset) + le16(0)
        return Data(out)
    }

    static func floats(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    static func archive(pickle: [UInt8], storages: [(String, [UInt8])] = [], method: Int = 0) -> Data {
        zip(
            [("ckpt/data.pkl", pickle)] + storages.map { ("ckpt/data/\($0.0)", $0.1) }
                + [("ckpt/byteorder", Array("little".utf8))], method: method)
    }
}

@Suite("PyTorch .pth reader: views and bad input")
struct PthBadInputTests {
    func write(_ data: Data, _ name: String, in dir: URL) throws -> URL { try TestFiles.write(data, name, in: dir) }

    /// Loading must fail with a `WeightsError` whose message names the file and contains `fragment`.
    func expectFailure(_ url: URL, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        TestFiles.expectWeightsError(url, fragment, { try PyTorchCheckpoint.load($0) }, sourceLocation: sourceLocation)
    }

    @Test func viewsWithOffsetsAndStridesBecomeContiguous() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let storage = PthBuilder.floats((0..<12).map(Float.init))
        let int64s: [Int64] = [7, -9]
        let pickle = PthBuilder.stateDictPickle([
            ("transposed", PthBuilder.tensor(storageKey: "0", numel: 12, offset: 0, size: [3, 2], stride: [1, 3])),
            ("offset", PthBuilder.tensor(storageKey: "0", numel: 12, offset: 5, size: [2, 2], stride: [2, 1])),
            ("everyThird", PthBuilder.tensor(storageKey: "0", numel: 12, offset: 1, size: [4], stride: [3])),
            (
                "scalar",
                PthBuilder.tensor(storageKey: "1", type: "LongStorage", numel: 2, offset: 1, size: [], stride: [])
            ),
        ])
        let url = try write(
            PthBuilder.archive(
                pickle: pickle, storages: [("0", storage), ("1", int64s.withUnsafeBytes { Array($0) })]),
            "views.pth", in: dir)
        let state = try PyTorchCheckpoint.load(url)
        #expect(state.keys == ["transposed", "offset", "everyThird", "scalar"])
        #expect(state["transposed"] == .float(Tensor(shape: [3, 2], scalars: [0, 3, 1, 4, 2, 5])))
        #expect(state["offset"] == .float(Tensor(shape: [2, 2], scalars: [5, 6, 7, 8])))
        #expect(state["everyThird"] == .float(Tensor(shape: [4], scalars: [1, 4, 7, 10])))
        #expect(state["scalar"] == .int64(shape: [], values: [-9]))
    }

    @Test func wholePickledModelsAreRefusedByName() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        for (module, name) in [("__main__", "MyNet"), ("torchvision.models.resnet", "ResNet")] {
            // What torch.save(model) writes: the class global, NEWOBJ/REDUCE, then BUILD.
            let pickle: [UInt8] = [0x80, 0x02] + PthBuilder.global(module, name) + [0x29, 0x81, 0x7D, 0x62, 0x2E]
            let url = try write(PthBuilder.archive(pickle: pickle), "\(name).pth", in: dir)
            expectFailure(url, "'\(module).\(name)'")
            #expect(throws: WeightsError.disallowedGlobal(path: url.path, global: "\(module).\(name)")) {
                try PyTorchCheckpoint.load(url)
            }
        }
    }

    @Test(.enabled(if: TestFiles.fixtures.runs, TestFiles.fixtures.comment))
    func truncatedAndForeignFiles() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let real = try Data(contentsOf: Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))
        expectFailure(try write(real.prefix(real.count / 2), "half.pth", in: dir), "end-of-central-directory")
        expectFailure(try write(real.prefix(3), "tiny.pth", in: dir), "too short")
        expectFailure(
            try write(Data("just some text, not a checkpoint".utf8), "text.pth", in: dir), "not a zip archive")
        expectFailure(try write(Data([0x80, 0x02, 0x8A, 0x0A]), "legacy.pth", in: dir), "legacy")
        let missing = dir.appendingPathComponent("absent.pth")
        #expect(throws: WeightsError.fileNotFound(path: missing.path)) { try PyTorchCheckpoint.load(missing) }
    }

    @Test func damagedArchivesAndPickles() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let four = PthBuilder.floats([1, 2, 3, 4])
        let good = PthBuilder.stateDictPickle([
            ("w", PthBuilder.tensor(storageKey: "0", numel: 4, offset: 0, size: [4], stride: [1]))
        ])
        expectFailure(
            try write(PthBuilder.archive(pickle: good, storages: [("0", four)], method: 8), "deflate.pth", in: dir),
            "compressed")
        expectFailure(
            try write(
                PthBuilder.archive(pickle: good, storages: [("0", Array(four.prefix(10)))]), "short.pth", in: dir),
            "storage 'ckpt/data/0' has 10 bytes")
        expectFailure(try write(PthBuilder.archive(pickle: good), "nostorage.pth", in: dir), "missing from the archive")
        let outside = PthBuilder.stateDictPickle([
            ("w", PthBuilder.tensor(storageKey: "0", numel: 4, offset: 2, size: [2, 2], stride: [2, 1]))
        ])
        expectFailure(
            try write(PthBuilder.archive(pickle: outside, storages: [("0", four)]), "outside.pth", in: dir),
            "reaches past storage")
        expectFailure(
            try write(PthBuilder.archive(pickle: Array(good.dropLast(5)), storages: [("0", four)]), "cut.pth", in: dir),
            "unexpected end of the pickle")
        // 'I' (protocol-0 INT) is not part of what torch.save writes.
        let opcode: [UInt8] = [0x80, 0x02, 0x7D, 0x49] + Array("12\n".utf8) + [0x2E]
        let opcodeURL = try write(PthBuilder.archive(pickle: opcode), "opcode.pth", in: dir)
        expectFailure(opcodeURL, "opcode 0x49")
        #expect(throws: WeightsError.unknownOpcode(path: opcodeURL.path, opcode: 0x49, offset: 3)) {
            try PyTorchCheckpoint.load(opcodeURL)
        }
        let notTensor = PthBuilder.stateDictPickle([("epoch", PthBuilder.int(3))])
        expectFailure(
            try write(PthBuilder.archive(pickle: notTensor), "epoch.pth", in: dir), "'epoch' holds int, not a tensor")
        expectFailure(try write(PthBuilder.zip([("ckpt/other.txt", [1, 2])]), "nopickle.pth", in: dir), "no data.pkl")
    }

    /// What made ZIPFoundation trap (see `ZipArchive`): zip64 fields that put the central
    /// directory, or an entry's local header, 2^63 bytes and more into a file of 200 bytes.
    @Test func zip64FieldsBeyondTheFileAreRefused() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        typealias B = PthBuilder
        func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        let far: UInt64 = 0xF000_0000_0000_0000
        let name = Array("a/byteorder".utf8), data = Array("little".utf8)
        let local =
            B.le32(0x0403_4b50) + B.le16(45) + B.le16(0) + B.le16(0) + B.le16(0) + B.le16(0) + B.le32(0)
            + B.le32(data.count) + B.le32(data.count) + B.le16(name.count) + B.le16(0) + name + data
        func central(localHeader: Int, extra: [UInt8]) -> [UInt8] {
            B.le32(0x0201_4b50) + B.le16(45) + B.le16(45) + B.le16(0) + B.le16(0) + B.le16(0) + B.le16(0) + B.le32(0)
                + B.le32(data.count) + B.le32(data.count) + B.le16(name.count) + B.le16(extra.count) + B.le16(0)
                + B.le16(0) + B.le16(0) + B.le32(0) + B.le32(localHeader) + name + extra
        }
        func end(count: Int, size: Int, offset: Int) -> [UInt8] {
            B.le32(0x0605_4b50) + B.le16(0) + B.le16(0) + B.le16(count) + B.le16(count) + B.le32(size) + B.le32(offset)
                + B.le16(0)
        }
        // A zip64 end record (and its locator) placing the central directory at 2^63+.
        let directory = central(localHeader: 0, extra: [])
        let record =
            B.le32(0x0606_4b50) + le64(44) + B.le16(45) + B.le16(45) + B.le32(0) + B.le32(0) + le64(1) + le64(1)
            + le64(UInt64(directory.count)) + le64(far)
        let locator = B.le32(0x0706_4b50) + B.le32(0) + le64(UInt64(local.count + directory.count)) + B.le32(1)
        let farDirectory =
            local + directory + record + locator + end(count: 0xFFFF, size: 0xFFFF_FFFF, offset: 0xFFFF_FFFF)
        // A zip64 extra field placing the entry's local header at 2^63+.
        let farEntry = central(localHeader: 0xFFFF_FFFF, extra: B.le16(1) + B.le16(8) + le64(far))
        let farHeader = local + farEntry + end(count: 1, size: farEntry.count, offset: local.count)
        expectFailure(try write(Data(farDirectory), "far-directory.pth", in: dir), "zip64")
        expectFailure(try write(Data(farHeader), "far-header.pth", in: dir), "zip64")
    }

    @Test func wrappedCheckpointIsUnwrapped() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let inner = PthBuilder.stateDictPickle([
            ("w", PthBuilder.tensor(storageKey: "0", numel: 2, offset: 0, size: [2], stride: [1]))
        ])
        // {"epoch": 3, "state_dict": OrderedDict(w=...)} built with EMPTY_DICT + SETITEMS.
        let pickle: [UInt8] =
            [0x80, 0x02, 0x7D, 0x28] + PthBuilder.str("epoch") + PthBuilder.int(3)
            + PthBuilder.str("state_dict") + Array(inner.dropFirst(2).dropLast()) + [0x75, 0x2E]
        let url = try write(
            PthBuilder.archive(pickle: pickle, storages: [("0", PthBuilder.floats([0.5, 1.5]))]), "wrapped.pth", in: dir
        )
        #expect(try PyTorchCheckpoint.load(url) == StateDict([("w", .float(Tensor(shape: [2], scalars: [0.5, 1.5])))]))
    }
}
