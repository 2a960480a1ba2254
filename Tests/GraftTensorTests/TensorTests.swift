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

    /// Freed large buffers come back for the next allocation of the same size; idle buffers
    /// never take in-use plus idle bytes past the most ever in use, nor past the cap; and a
    /// recycled buffer is initialised like a fresh one.
    @Test func bufferPoolRecyclesWithoutRaisingItsHighWater() {
        let mb = 1 << 20
        let pool = BufferPool(capacity: 8 * mb)
        let a = pool.allocate(bytes: 2 * mb), b = pool.allocate(bytes: 3 * mb)
        #expect(pool.usage == (5 * mb, 5 * mb))
        pool.release(a, bytes: 2 * mb)
        pool.release(b, bytes: 3 * mb)
        #expect(pool.bytesIdle == 5 * mb)
        #expect(pool.allocate(bytes: 2 * mb) == a)
        // A size with no idle buffer of its own: in use rises to 6 MB, so only 1 MB may stay
        // idle under the 6 MB high-water mark, and the 3 MB buffer goes back to the system.
        let c = pool.allocate(bytes: 4 * mb)
        #expect(pool.usage == (6 * mb, 6 * mb))
        #expect(pool.bytesIdle == 0)
        pool.release(a, bytes: 2 * mb)
        pool.release(c, bytes: 4 * mb)
        #expect(pool.bytesIdle == 6 * mb)
        #expect(pool.usage.inUse == 0)
        // The cap bounds idle bytes too, oldest first.
        let capped = BufferPool(capacity: 3 * mb)
        let d = capped.allocate(bytes: 2 * mb), e = capped.allocate(bytes: 2 * mb)
        capped.release(d, bytes: 2 * mb)
        capped.release(e, bytes: 2 * mb)
        #expect(capped.bytesIdle == 2 * mb)
        #expect(capped.allocate(bytes: 2 * mb) == e)
        // Small buffers are not pooled.
        let small = pool.allocate(bytes: 4096)
        pool.release(small, bytes: 4096)
        #expect(pool.bytesIdle == 6 * mb)
        pool.drain()
        #expect(pool.bytesIdle == 0)

        let count = (4 << 20) / 4
        do { _ = Tensor(shape: [count], repeating: 7) }
        let zeros = Tensor.zeros([count])
        #expect(zeros.scalars.allSatisfy { $0 == 0 })
    }
}
