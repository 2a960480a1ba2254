import Testing
import GraftTensor
import TestSupport
@testable import GraftNN

/// Every layer's backward against central finite differences on small shapes (in double where
/// the forward allows, otherwise with a step large enough for float32).
@Suite struct GradientCheckTests {
    var rng = RandomGenerator(seed: 42)

    /// Checks input and parameter gradients of `layer` on `input` for loss = Σ output·R.
    func check(_ layer: Module, input: Tensor, tolerance: Double = 2e-2, inputGradient: Bool = true) {
        var rng = RandomGenerator(seed: 7)
        let probe = layer(input)
        let weights = Tensor.uniform(probe.shape, low: -1, high: 1, using: &rng)
        layer.zeroGrad()
        _ = layer.forward(input, mode: .input)
        let gx = layer.backward(weights)
        if inputGradient {
            let numeric = GradientCheck.numeric(input) { GradientCheck.dot(layer($0), weights) }
            #expect(GradientCheck.relativeError(gx!, numeric) < tolerance, "input gradient of \(type(of: layer))")
        }
        for (name, p) in layer.namedParameters() {
            let original = p.value
            let numeric = GradientCheck.numeric(original) { v in
                p.value = v
                defer { p.value = original }
                return GradientCheck.dot(layer(input), weights)
            }
            #expect(GradientCheck.relativeError(p.grad!, numeric) < tolerance, "gradient of \(name)")
        }
    }

    @Test func conv2dStridedPadded() {
        var rng = self.rng
        let conv = Conv2d(3, 4, kernel: 3, stride: 2, padding: 1, rng: &rng)
        check(conv, input: .uniform([2, 3, 7, 6], low: -1, high: 1, using: &rng))
    }

    @Test func conv2dPointwiseAndBatchGrouping() {
        var rng = self.rng
        let conv = Conv2d(5, 3, kernel: 1, bias: false, rng: &rng)
        check(conv, input: .uniform([3, 5, 4, 4], low: -1, high: 1, using: &rng))
        let strided = Conv2d(4, 6, kernel: 1, stride: 2, bias: false, rng: &rng)
        check(strided, input: .uniform([2, 4, 5, 5], low: -1, high: 1, using: &rng))
    }

    @Test func linear() {
        var rng = self.rng
        check(Linear(6, 4, rng: &rng), input: .uniform([3, 6], low: -1, high: 1, using: &rng))
    }

    @Test func batchNormTrainAndEval() {
        var rng = self.rng
        let bn = BatchNorm2d(3)
        bn.weight.value = .uniform([3], low: 0.5, high: 1.5, using: &rng)
        bn.bias.value = .uniform([3], low: -0.5, high: 0.5, using: &rng)
        // Running statistics change with every forward; finite differences only need the output.
        check(bn, input: .uniform([2, 3, 3, 3], low: -2, high: 2, using: &rng), tolerance: 3e-2)
        bn.eval()
        check(bn, input: .uniform([2, 3, 3, 3], low: -2, high: 2, using: &rng))
    }

    @Test func poolingAndReLU() {
        var rng = self.rng
        // Distinct values keep max-pool and ReLU away from their kinks.
        var x = Tensor(uninitializedShape: [2, 2, 5, 5])
        var values = (0..<x.count).map { Float($0) * 0.37 - 9 }
        values.shuffle(using: &rng)
        x.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = values[i] } }
        check(MaxPool2d(kernel: 3, stride: 2, padding: 1), input: x)
        check(MaxPool2d(kernel: 2), input: x)
        check(ReLU(), input: x)
        check(AdaptiveAvgPool2d(2), input: x)
        check(AdaptiveAvgPool2d(3, 2), input: x)
    }

    /// PyTorch's ReLU lets NaN through (so a broken input shows up as a non-finite loss).
    @Test func reluPropagatesNaN() {
        let y = ReLU()(Tensor(shape: [4], scalars: [-1, 0, 2, .nan]))
        #expect(Array(y.scalars.prefix(3)) == [0, 0, 2])
        #expect(y.scalars[3].isNaN)
    }

    @Test func dropoutIsInvertedAndSeeded() {
        var rng = self.rng
        let x = Tensor(shape: [4, 1000], repeating: 1)
        let a = Dropout(0.5, seed: 3), b = Dropout(0.5, seed: 3)
        let ya = a(x), yb = b(x)
        #expect(ya.isBitwiseEqual(to: yb))
        let kept = ya.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 })
        #expect(abs(Double(kept.count) / 4000 - 0.5) < 0.05)
        a.eval()
        #expect(a(x).isBitwiseEqual(to: x))
        // Backward multiplies by the same mask the forward drew: dy·y/x.
        let d = Dropout(0.3, seed: 9)
        let input = Tensor.uniform([2, 50], low: 0.5, high: 1, using: &rng)
        let y = d.forward(input, mode: .input)
        let upstream = Tensor.uniform([2, 50], low: -1, high: 1, using: &rng)
        let g = d.backward(upstream)!
        for i in 0..<input.count {
            let expected = upstream.pointer[i] * y.pointer[i] / input.pointer[i]
            #expect(abs(g.pointer[i] - expected) < 1e-5)
        }
    }

    @Test func crossEntropyGradient() {
        var rng = self.rng
        let logits = Tensor.uniform([3, 4], low: -2, high: 2, using: &rng)
        let labels = [1, 0, 3]
        let (loss, grad, _) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        // Independent: −mean log softmax.
        var expected = 0.0
        for i in 0..<3 {
            let row = (0..<4).map { Double(logits.pointer[i * 4 + $0]) }
            let lse = log(row.map { exp($0) }.reduce(0, +))
            expected += lse - row[labels[i]]
        }
        #expect(abs(Double(loss) - expected / 3) < 1e-6)
        let numeric = GradientCheck.numeric(logits, h: 1e-3) {
            Double(CrossEntropy.lossAndGradient(logits: $0, labels: labels).loss)
        }
        #expect(GradientCheck.relativeError(grad, numeric) < 1e-2)
    }
}

#if canImport(Glibc)
import Glibc
#endif
