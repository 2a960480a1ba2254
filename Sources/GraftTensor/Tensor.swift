/// Reference-counted float32 buffer behind `Tensor`. Never shared mutably: `Tensor` copies it
/// before a write when another tensor still refers to it (copy-on-write).
public final class TensorStorage: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = BufferPool.shared.allocate(bytes: bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public convenience init(copying source: UnsafePointer<Float>, count: Int) {
        self.init(count: count)
        pointer.update(from: source, count: count)
    }

    deinit {
        BufferPool.shared.release(UnsafeMutableRawPointer(pointer), bytes: max(count, 1) * MemoryLayout<Float>.stride)
    }
}

/// A dense float32 tensor in row-major (C) order. Images are NCHW, convolution weights OIHW,
/// linear weights `[out, in]`, exactly as PyTorch lays them out, so weights load as copies.
///
/// A value type: assignment shares storage, the first write to a shared tensor copies it.
public struct Tensor: Sendable {
    public private(set) var shape: [Int]
    public private(set) var storage: TensorStorage

    /// Number of elements (product of the shape; 1 for a scalar of shape `[]`).
    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// An uninitialised tensor: only for kernels that overwrite every element.
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *))
    }

    public init(shape: [Int], repeating value: Float = 0) {
        self.init(uninitializedShape: shape)
        storage.pointer.update(repeating: value, count: count)
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

    public init(shape: [Int], scalars: [Float]) {
        precondition(
            shape.reduce(1, *) == scalars.count,
            "shape \(shape) needs \(shape.reduce(1, *)) values, got \(scalars.count)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: count) }
    }

    public init(shape: [Int], copying source: UnsafeBufferPointer<Float>) {
        precondition(shape.reduce(1, *) == source.count, "shape \(shape) vs \(source.count) values")
        self.shape = shape
        self.storage = TensorStorage(count: source.count)
        if let base = source.baseAddress { storage.pointer.update(from: base, count: source.count) }
    }

    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// The single value of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "scalar of a tensor with \(count) elements")
        return storage.pointer[0]
    }

    /// Same elements, another shape; shares storage (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var copy = self
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            resolved[inferred] = known == 0 ? 0 : count / known
        }
        precondition(resolved.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        copy.shape = resolved
        return copy
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) {
            storage = TensorStorage(copying: storage.pointer, count: count)
        }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// Read-only base pointer, valid while `self` is alive. Kernels use it together with
    /// `mutablePointer` on distinct tensors.
    public var pointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

    /// Unique, writable base pointer (copies shared storage first).
    public mutating func mutablePointer() -> UnsafeMutablePointer<Float> {
        if !isKnownUniquelyReferenced(&storage) {
            storage = TensorStorage(copying: storage.pointer, count: count)
        }
        return storage.pointer
    }

    /// Dimension `i`, negative counting from the end.
    public func size(_ i: Int) -> Int { shape[i < 0 ? rank + i : i] }

    public func isBitwiseEqual(to other: Tensor) -> Bool {
        shape == other.shape && memcmp(storage.pointer, other.storage.pointer, count * 4) == 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
