import Testing
@testable import GraftTensor

@Suite struct TensorTests {
    @Test func copyOnWriteKeepsTheOriginal() {
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        var b = a
        b.withUnsafeMutableBufferPointer { $0[0] = 10 }
        #expect(a.scalars == [1, 2, 3, 4])
        #expect(b.scalars == [10, 2, 3, 4])
    }

    @Test func reshapeInfersOneDimension() {
        let a = Tensor(shape: [2, 3, 4], repeating: 1)
        #expect(a.reshaped([2, -1]).shape == [2, 12])
    }

    @Test func stateDictKeepsInsertionOrder() {
        var d = StateDict()
        d["b"] = .float(Tensor(shape: [1], scalars: [1]))
        d["a"] = .int64(shape: [], values: [3])
        #expect(d.keys == ["b", "a"])
        d["b"] = nil
        #expect(d.keys == ["a"])
    }

    /// Freed large buffers come back for the next tensor of the same size, idle bytes stay under
    /// the cap, and a recycled buffer is initialised like a fresh one.
    @Test func bufferPoolRecyclesBySizeWithinItsCap() {
        let pool = BufferPool(capacity: 3 << 20)
        let a = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: 2 << 20, alignment: 64)
        #expect(pool.give(a, bytes: 1 << 20))
        #expect(pool.give(b, bytes: 2 << 20))
        #expect(pool.take(bytes: 3 << 20) == nil)
        #expect(pool.take(bytes: 1 << 20) == a)
        #expect(pool.take(bytes: 1 << 20) == nil)
        // Over the cap the oldest idle buffer is returned to the system.
        let c = UnsafeMutableRawPointer.allocate(byteCount: 2 << 20, alignment: 64)
        #expect(pool.give(a, bytes: 1 << 20))
        #expect(pool.give(c, bytes: 2 << 20))
        #expect(pool.bytesIdle == 3 << 20)
        #expect(pool.take(bytes: 2 << 20) == c)
        #expect(pool.take(bytes: 2 << 20) == nil)
        // Small buffers and buffers over the cap are the caller's to free.
        let small = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        #expect(!pool.give(small, bytes: 4096))
        small.deallocate()
        pool.drain()
        #expect(pool.bytesIdle == 0)

        let count = (4 << 20) / 4
        do { _ = Tensor(shape: [count], repeating: 7) }
        let zeros = Tensor.zeros([count])
        #expect(zeros.scalars.allSatisfy { $0 == 0 })
    }
}
