import Foundation
import GraftSupport
import GraftTensor

/// Writes `.safetensors` files as the `safetensors` package does: an 8-byte little-endian header
/// length, the JSON header (padded with spaces to a multiple of 8 bytes, so every tensor starts
/// 8-byte aligned), then the tensors' raw little-endian bytes.
extension Safetensors {
    /// The file's bytes: float tensors as `F32`, int64 values (BatchNorm's `num_batches_tracked`)
    /// as `I64`, in the state dict's order, under its keys (PyTorch's own names). `metadata`
    /// becomes the header's `__metadata__` object (safetensors allows string values only).
    /// - Precondition: no key is `__metadata__`.
    public static func encode(_ state: StateDict, metadata: [String: String] = [:]) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (key, value) in state {
            precondition(key != "__metadata__", "a tensor cannot be named __metadata__")
            let (dtype, bytes) =
                switch value {
                case .float(let t): ("F32", t.count * 4)
                case .int64(_, let v): ("I64", v.count * 8)
                }
            header[key] = ["dtype": dtype, "shape": value.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        // Sorted keys make the header, and so the file, a function of its contents alone.
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, value) in state {
            switch value {
            case .float(let t):
                t.withUnsafeBufferPointer { buffer in
                    #if _endian(big)
                    for x in buffer { withUnsafeBytes(of: x.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
                    #else
                    out.append(UnsafeBufferPointer(start: buffer.baseAddress, count: buffer.count))
                    #endif
                }
            case .int64(_, let v):
                for x in v { withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) } }
            }
        }
        return out
    }

    /// Writes `encode(state, metadata:)` to `url` through `AtomicFile`: a crash or an error leaves
    /// either the old file or none, never a partial one. An existing file is replaced.
    /// - Throws: `WeightsError.io` naming the file.
    public static func write(_ state: StateDict, metadata: [String: String] = [:], to url: URL) throws {
        try WeightsError.translatingFileErrors {
            try AtomicFile.write(encode(state, metadata: metadata), to: url)
        }
    }

    /// The header's `__metadata__` strings (empty when the file has none).
    /// - Throws: `WeightsError` naming the file when the header is malformed or a value is not a
    ///   string.
    public static func metadata(_ url: URL) throws -> [String: String] {
        let data = try readFileData(url)
        guard data.count >= 8 else {
            throw WeightsError.corrupt(
                path: url.path, reason: "file of \(data.count) bytes is too short for a safetensors header")
        }
        let length = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= UInt64(data.count - 8) else {
            throw WeightsError.corrupt(
                path: url.path, reason: "safetensors header of \(length) bytes runs past the end of the file")
        }
        let start = data.startIndex + 8
        let headerBytes = data[start..<(start + Int(length))]
        guard let header = (try? JSONSerialization.jsonObject(with: headerBytes)) as? [String: Any] else {
            throw WeightsError.corrupt(path: url.path, reason: "safetensors header is not a JSON object")
        }
        guard let metadata = header["__metadata__"] else { return [:] }
        guard let strings = metadata as? [String: String] else {
            throw WeightsError.corrupt(path: url.path, reason: "safetensors __metadata__ is not an object of strings")
        }
        return strings
    }
}
