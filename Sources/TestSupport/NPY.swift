import Foundation
import GraftTensor

/// A `.npy` array as written by `numpy.save` (little-endian, C order).
public enum NPYArray {
    case float32(Tensor)
    case int64(shape: [Int], values: [Int64])
    case uint8(shape: [Int], values: [UInt8])

    public var shape: [Int] {
        switch self {
        case .float32(let t): t.shape
        case .int64(let s, _), .uint8(let s, _): s
        }
    }
}

public struct NPYError: Error, CustomStringConvertible {
    public let description: String
}

public enum NPY {
    public static func read(_ url: URL) throws -> NPYArray {
        let data = try Data(contentsOf: url)
        guard data.count >= 10, data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else {
            throw NPYError(description: "\(url.path): not a .npy file")
        }
        let major = data[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        } else {
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        }
        let header = String(decoding: data[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        func field(_ name: String) -> String? {
            guard let r = header.range(of: "'\(name)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let shapeField = field("shape") else {
            throw NPYError(description: "\(url.path): header without descr/shape: \(header)")
        }
        let descr = descrField.split(separator: "'")[0]
        if field("fortran_order")?.hasPrefix("True") == true {
            throw NPYError(description: "\(url.path): Fortran order not supported")
        }
        let inner = shapeField.drop(while: { $0 != "(" }).dropFirst().prefix(while: { $0 != ")" })
        let shape = inner.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = data.subdata(in: (headerStart + headerLength)..<data.count)
        switch descr {
        case "<f4":
            guard body.count >= count * 4 else { throw NPYError(description: "\(url.path): truncated") }
            let t = body.withUnsafeBytes { raw -> Tensor in
                var t = Tensor(uninitializedShape: shape)
                t.withUnsafeMutableBufferPointer { dst in
                    _ = memcpy(dst.baseAddress!, raw.baseAddress!, count * 4)
                }
                return t
            }
            return .float32(t)
        case "<i8":
            guard body.count >= count * 8 else { throw NPYError(description: "\(url.path): truncated") }
            let values = body.withUnsafeBytes { raw in
                (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) }
            }
            return .int64(shape: shape, values: values)
        case "|u1":
            return .uint8(shape: shape, values: Array(body.prefix(count)))
        default:
            throw NPYError(description: "\(url.path): unsupported dtype \(descr)")
        }
    }

    public static func float(_ url: URL) throws -> Tensor {
        guard case .float32(let t) = try read(url) else {
            throw NPYError(description: "\(url.path): expected float32")
        }
        return t
    }

    public static func int64(_ url: URL) throws -> [Int64] {
        guard case .int64(_, let v) = try read(url) else {
            throw NPYError(description: "\(url.path): expected int64")
        }
        return v
    }

    /// A float32 `.npy` file as its shape and plain values, for tests that do not use tensors.
    public static func floats(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let t = try float(url)
        return (t.shape, (0..<t.count).map { t.pointer[$0] })
    }
}

/// Comparison helpers in the notation of the fixtures' README (`../shared/fixtures/README.md`).
public enum Compare {
    /// The README's "rel-to-max": max |a − ref| / max |ref| over the whole array, so
    /// `relToMax(a, ref) <= r` is exactly its `max|x − ref| ≤ r · max|ref|`. No floor: a
    /// reference of small magnitude gets a proportionally small absolute allowance. A NaN in
    /// either array, or any difference against an all-zero reference, gives +infinity.
    public static func relToMax(_ a: Tensor, _ ref: Tensor) -> Double {
        precondition(a.count == ref.count, "sizes differ: \(a.shape) vs \(ref.shape)")
        var maxDiff = 0.0, maxRef = 0.0
        for i in 0..<a.count {
            let x = Double(a.pointer[i]), r = Double(ref.pointer[i])
            if x.isNaN || r.isNaN { return .infinity }
            maxDiff = max(maxDiff, abs(x - r))
            maxRef = max(maxRef, abs(r))
        }
        if maxDiff == 0 { return 0 }
        return maxRef > 0 ? maxDiff / maxRef : .infinity
    }

    /// max |a| (+infinity if a holds a NaN): for values that must be analytically zero, such as
    /// the README's conv-bias gradients ("max|g| ≲ 1e-4").
    public static func maxAbs(_ a: Tensor) -> Double {
        var m = 0.0
        for i in 0..<a.count {
            let v = Double(a.pointer[i])
            if v.isNaN { return .infinity }
            m = max(m, abs(v))
        }
        return m
    }
}
