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
}
