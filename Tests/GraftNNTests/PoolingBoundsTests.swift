import Testing
import GraftNN
import GraftTensor

/// A pooling window larger than its input has no output: the layer stops with a message instead
/// of reading and writing outside the plane.
@Suite struct PoolingBoundsTests {
    @Test("the smallest input a 2×2 max-pool takes gives one window")
    func smallestInput() {
        let pool = MaxPool2d(kernel: 2)
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 3, 2])
        let y = pool.forward(x, mode: .none)
        #expect(y.shape == [1, 1, 1, 1] && y.pointer[0] == 3)
    }

    #if os(Linux) || os(macOS)
    @Test("a 1×1 input to a 2×2 max-pool is refused")
    func inputSmallerThanTheWindow() async {
        await #expect(processExitsWith: .failure) {
            _ = MaxPool2d(kernel: 2).forward(Tensor(shape: [1, 1, 1, 1], repeating: 1), mode: .none)
        }
    }
    #endif
}
