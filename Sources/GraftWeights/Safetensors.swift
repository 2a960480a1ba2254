import Foundation
import GraftTensor

/// Reads `.safetensors` files: an 8-byte little-endian header length, a JSON header mapping
/// each name to `{dtype, shape, data_offsets}`, then the raw little-endian tensor bytes.
public enum Safetensors {
    /// Loads every tensor; keys come in the order of their data offsets (the header's own key
    /// order is not meaningful). F32 is copied, F16/BF16/F64 are converted to float32, integer
    /// and boolean types become `StateValue.int64`.
    /// - Throws: `WeightsError` naming the file and tensor when the header is malformed, an
    ///   offset range is outside the data or does not match the shape, or a dtype is unknown.
    public static func load(_ url: URL) throws -> StateDict {
        let data = try readFileData(url)
        let path = url.path
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> StateDict in
            guard raw.count >= 8 else {
                throw WeightsError.corrupt(
                    path: path, reason: "file of \(raw.count) bytes is too short for a safetensors header")
            }
            let headerLength = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
            guard headerLength <= UInt64(raw.count - 8) else {
                throw WeightsError.corrupt(
                    path: path,
                    reason:
                        "safetensors header of \(headerLength) bytes runs past the end of the file (\(raw.count) bytes)"
                )
            }
            let dataStart = 8 + Int(headerLength)
            let headerBytes = Data(UnsafeRawBufferPointer(rebasing: raw[8..<dataStart]))
            guard let header = (try? JSONSerialization.jsonObject(with: headerBytes)) as? [String: Any] else {
                throw WeightsError.corrupt(path: path, reason: "safetensors header is not a JSON object")
            }
            let dataLength = raw.count - dataStart
            var specs: [(name: String, type: ElementType, shape: [Int], begin: Int, end: Int)] = []
            for (name, value) in header where name != "__metadata__" {
                guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                    let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                    let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                    offsets.count == 2, shape.count == (info["shape"] as? [Any])?.count, shape.allSatisfy({ $0 >= 0 })
                else {
                    throw WeightsError.corrupt(
                        path: path, reason: "safetensors entry '\(name)' lacks a valid dtype, shape or data_offsets")
                }
                guard let type = elementType(dtype) else {
                    throw WeightsError.unsupported(path: path, reason: "tensor '\(name)' has dtype \(dtype)")
                }
                let (begin, end) = (offsets[0], offsets[1])
                guard begin >= 0, begin <= end, end <= dataLength else {
                    throw WeightsError.corrupt(
                        path: path,
                        reason:
                            "tensor '\(name)' has data_offsets [\(begin), \(end)] outside the \(dataLength) data bytes")
                }
                // The shape comes from the file: it is multiplied out with overflow checks.
                guard let needed = checkedProduct(shape, times: type.byteSize) else {
                    throw WeightsError.corrupt(
                        path: path, reason: "tensor '\(name)' of \(dtype) \(shape) has too many elements")
                }
                guard end - begin == needed else {
                    throw WeightsError.corrupt(
                        path: path,
                        reason:
                            "tensor '\(name)' of \(dtype) \(shape) needs \(needed) bytes, its data_offsets span \(end - begin)"
                    )
                }
                specs.append((name, type, shape, begin, end))
            }
            specs.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
            var state = StateDict()
            let base = raw.baseAddress! + dataStart
            for s in specs {
                state[s.name] = makeStateValue(shape: s.shape, from: base + s.begin, type: s.type)
            }
            return state
        }
    }

    static func elementType(_ dtype: String) -> ElementType? {
        switch dtype {
        case "F32": .float32
        case "F64": .float64
        case "F16": .float16
        case "BF16": .bfloat16
        case "I64": .int64
        case "I32": .int32
        case "I16": .int16
        case "I8": .int8
        case "U8": .uint8
        case "BOOL": .bool
        default: nil
        }
    }
}
