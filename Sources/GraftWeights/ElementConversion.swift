import Foundation
import GraftTensor

/// Element types found in weight files, with conversion of raw little-endian bytes into the two
/// kinds of values a `StateDict` holds (float32 tensors and int64 arrays).
enum ElementType: String, Sendable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    var byteSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }

    var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16: true
        default: false
        }
    }

    init(_ storage: StorageDType) {
        switch storage {
        case .float32: self = .float32
        case .float64: self = .float64
        case .float16: self = .float16
        case .bfloat16: self = .bfloat16
        case .int64: self = .int64
        case .int32: self = .int32
        case .int16: self = .int16
        case .int8: self = .int8
        case .uint8: self = .uint8
        case .bool: self = .bool
        }
    }
}

/// IEEE half-precision bits to float32 (exact: every half is a float).
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int32((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2^-24.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}

/// Builds a float32 tensor from `count` contiguous little-endian elements at `source`.
/// Integer sources are converted to float32 (used only when a float was asked for).
func makeFloatTensor(shape: [Int], from source: UnsafeRawPointer, type: ElementType) -> Tensor {
    var tensor = Tensor(uninitializedShape: shape)
    let count = tensor.count
    let dst = tensor.mutablePointer()
    switch type {
    case .float32:
        memcpy(dst, source, count * 4)
    case .float64:
        for i in 0..<count { dst[i] = Float(source.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
    case .float16:
        for i in 0..<count { dst[i] = halfToFloat(source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) }
    case .bfloat16:
        for i in 0..<count {
            dst[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16)
        }
    case .int64, .int32, .int16, .int8, .uint8, .bool:
        let ints = makeInt64Values(count: count, from: source, type: type)
        for i in 0..<count { dst[i] = Float(ints[i]) }
    }
    return tensor
}

/// Reads `count` contiguous little-endian integers of `type` as Int64.
func makeInt64Values(count: Int, from source: UnsafeRawPointer, type: ElementType) -> [Int64] {
    [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
        let dst = buffer.baseAddress!
        switch type {
        case .int64:
            if count > 0 { memcpy(dst, source, count * 8) }
        case .int32:
            for i in 0..<count { dst[i] = Int64(source.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
        case .int16:
            for i in 0..<count { dst[i] = Int64(source.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)) }
        case .int8:
            for i in 0..<count { dst[i] = Int64(source.load(fromByteOffset: i, as: Int8.self)) }
        case .uint8, .bool:
            for i in 0..<count { dst[i] = Int64(source.load(fromByteOffset: i, as: UInt8.self)) }
        case .float32, .float64, .float16, .bfloat16:
            let floats = makeFloatTensor(shape: [count], from: source, type: type)
            for i in 0..<count { dst[i] = Int64(floats.pointer[i]) }
        }
        initialized = count
    }
}

/// A `StateValue` from contiguous raw elements: floating types become float32 tensors, integer
/// and boolean types become int64 values.
func makeStateValue(shape: [Int], from source: UnsafeRawPointer, type: ElementType) -> StateValue {
    if type.isFloatingPoint { return .float(makeFloatTensor(shape: shape, from: source, type: type)) }
    return .int64(shape: shape, values: makeInt64Values(count: shape.reduce(1, *), from: source, type: type))
}

/// Copies a strided view (`sizes`, `strides` and `offset` in elements) out of `storage` into a
/// new contiguous byte buffer. The caller has checked that every index is in bounds.
func gatherStrided(
    _ storage: UnsafeRawPointer, elementSize: Int, offset: Int,
    sizes: [Int], strides: [Int]
) -> UnsafeMutableRawBufferPointer {
    let count = sizes.reduce(1, *)
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count * elementSize, 1), alignment: 64)
    guard count > 0 else { return out }
    let rank = sizes.count
    let dst = out.baseAddress!
    if rank == 0 {
        memcpy(dst, storage + offset * elementSize, elementSize)
        return out
    }
    // Odometer over all but the last dimension; the last dimension is a strided row copy.
    let inner = sizes[rank - 1]
    let innerStride = strides[rank - 1] * elementSize
    var index = [Int](repeating: 0, count: rank)
    var written = 0
    while written < count {
        var base = offset
        for d in 0..<(rank - 1) { base += index[d] * strides[d] }
        var src = storage + base * elementSize
        var o = dst + written * elementSize
        if innerStride == elementSize {
            memcpy(o, src, inner * elementSize)
        } else {
            for _ in 0..<inner {
                memcpy(o, src, elementSize)
                o += elementSize
                src += innerStride
            }
        }
        written += inner
        var d = rank - 2
        while d >= 0 {
            index[d] += 1
            if index[d] < sizes[d] { break }
            index[d] = 0
            d -= 1
        }
    }
    return out
}

/// `times` × the product of `sizes`, or nil when it overflows `Int`. Sizes come from files, so
/// every step is checked; a zero size makes the result 0, but the other sizes are still checked
/// (counted as 1), so no later product of them can overflow either.
func checkedProduct(_ sizes: [Int], times: Int = 1) -> Int? {
    var product = times
    for size in sizes {
        let (next, overflow) = product.multipliedReportingOverflow(by: max(size, 1))
        if overflow { return nil }
        product = next
    }
    return sizes.contains(0) ? 0 : product
}
