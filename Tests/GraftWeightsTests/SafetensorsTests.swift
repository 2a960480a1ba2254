import Foundation
import GraftTensor
import Testing
import TestSupport
@testable import GraftWeights

@Suite("safetensors reader")
struct SafetensorsTests {
    @Test(.enabled(if: TestFiles.fixtures.runs, TestFiles.fixtures.comment))
    func vanillaEqualsPthBitForBit() throws {
        let st = try Safetensors.load(Fixtures.url("vanilla_cnn/vanilla-seed0.safetensors"))
        let pth = try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))
        #expect(st.count == 32)
        #expect(Set(st.keys) == Set(pth.keys))
        for (key, value) in pth {
            #expect(st[key] == value, "\(key) differs")
        }
    }

    /// Builds a safetensors file by hand, so the conversions are checked against values
    /// written independently of the reader.
    static func file(_ entries: [(String, String, [Int], [UInt8])], headerOverride: String? = nil) -> Data {
        var offset = 0
        var parts: [String] = []
        var body = Data()
        for (name, dtype, shape, bytes) in entries {
            parts.append(
                "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + bytes.count)]}"
            )
            offset += bytes.count
            body.append(contentsOf: bytes)
        }
        let header = Data((headerOverride ?? "{" + parts.joined(separator: ",") + "}").utf8)
        var out = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(header)
        out.append(body)
        return out
    }

    static func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

    @Test func convertsHalfBFloatDoubleAndIntegers() throws {
        // 1.0, -2.0, 0.5, 65504 (max half), 2^-24 (smallest subnormal) in IEEE half bits.
        let half: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001]
        // bfloat16 is the top 16 bits of float32.
        let bf: [UInt16] = [0x3F80, 0xC040, 0x4049]
        let f64: [Double] = [1e-3, -7.25]
        let i32: [Int32] = [-3, 40000]
        let data = Self.file([
            ("h", "F16", [5], Self.bytes(half)), ("b", "BF16", [3], Self.bytes(bf)),
            ("d", "F64", [2], Self.bytes(f64)), ("i", "I32", [2], Self.bytes(i32)),
            ("n", "I64", [], Self.bytes([Int64(7)])),
        ])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("graft-st-\(UUID()).safetensors")
        try data.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let state = try Safetensors.load(url)
        #expect(state.keys == ["h", "b", "d", "i", "n"])
        #expect(state["h"] == .float(Tensor(shape: [5], scalars: [1, -2, 0.5, 65504, 0x1p-24])))
        #expect(state["b"] == .float(Tensor(shape: [3], scalars: [1, -3, Float(bitPattern: 0x4049_0000)])))
        #expect(state["d"] == .float(Tensor(shape: [2], scalars: [Float(1e-3), -7.25])))
        #expect(state["i"] == .int64(shape: [2], values: [-3, 40000]))
        #expect(state["n"] == .int64(shape: [], values: [7]))
    }

    @Test func rejectsBadOffsetsAndHeaders() throws {
        let dir = FileManager.default.temporaryDirectory
        let cases: [(Data, String)] = [
            (
                Self.file([], headerOverride: "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"),
                "outside"
            ),
            (Self.file([("w", "F32", [3], [UInt8](repeating: 0, count: 16))]), "needs 12 bytes"),
            (Self.file([("w", "F8_E4M3", [1], [0])]), "F8_E4M3"),
            (Self.file([], headerOverride: "not json"), "JSON"),
            (Data([1, 2, 3]), "too short"),
            (Data([0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0x7B]), "runs past the end"),
        ]
        for (index, (data, fragment)) in cases.enumerated() {
            let url = dir.appendingPathComponent("graft-bad-\(index)-\(UUID()).safetensors")
            try data.write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                _ = try Safetensors.load(url)
                Issue.record("case \(index) loaded")
            } catch let error as WeightsError {
                let message = error.localizedDescription
                #expect(message.contains(url.path) && message.contains(fragment), "\(message)")
            }
        }
    }
}
