import Testing
@testable import GraftTensor
import TestSupport
@testable import GraftNN

/// The fast paths against the plain ones: oneDNN convolutions (direct and Winograd) against
/// im2col + sgemm, the unchecked max-pool windows against a naive loop, the folded
/// convolution+BatchNorm+ReLU inference path against the three layers run one by one, and the
/// parallel elementwise kernels (large tensors) against serial loops.
@Suite struct FastPathTests {
    /// The backends `oneDNNConvolutionMatchesIm2col` compares with im2col + sgemm.
    static let fastBackends: [ConvKernels.Backend] =
        ConvKernels.oneDNNIsAvailable ? [.oneDNNDirect, .oneDNN, .graftWinograd] : [.graftWinograd]

    /// Shapes covering what the models use: 3×3 padded, strided, 1×1 projections, the 7×7 stem.
    static let geometries: [(ConvGeometry, batch: Int, size: Int)] = [
        (ConvGeometry(inChannels: 16, outChannels: 24, kernel: 3, stride: 1, padding: 1), 7, 13),
        (ConvGeometry(inChannels: 8, outChannels: 16, kernel: 3, stride: 2, padding: 1), 2, 15),
        (ConvGeometry(inChannels: 16, outChannels: 32, kernel: 1, stride: 2, padding: 0), 2, 14),
        (ConvGeometry(inChannels: 3, outChannels: 16, kernel: 7, stride: 2, padding: 3), 2, 32),
        (ConvGeometry(inChannels: 32, outChannels: 32, kernel: 3, stride: 1, padding: 1), 24, 7),
        (ConvGeometry(inChannels: 64, outChannels: 64, kernel: 3, stride: 1, padding: 1), 2, 28),
        (ConvGeometry(inChannels: 32, outChannels: 32, kernel: 3, stride: 1, padding: 1), 1, 14),
        // 392 positions: enough for Graft's Winograd, too few for oneDNN's.
        (ConvGeometry(inChannels: 32, outChannels: 32, kernel: 3, stride: 1, padding: 1), 8, 7),
        // Unpadded and doubly padded 3×3 (Graft's Winograd takes padding 0–2), odd sizes.
        (ConvGeometry(inChannels: 16, outChannels: 8, kernel: 3, stride: 1, padding: 0), 9, 13),
        (ConvGeometry(inChannels: 24, outChannels: 16, kernel: 3, stride: 1, padding: 2), 9, 9),
    ]

    /// Both oneDNN algorithms and Graft's own Winograd against im2col + sgemm. Winograd (chosen for
    /// the 3×3 stride-1 shapes with ≥ 16 input channels) transforms its inputs, so it rounds
    /// differently: its bound is looser, still far below the 1e-4 the PyTorch fixtures allow for a
    /// whole network. `.graftWinograd` runs Graft's Winograd on those layers whatever the CPU, so
    /// its kernels are tested on AVX-512 machines too.
    ///
    /// With an arena budget of one byte every oneDNN call runs a single image (the way large
    /// layers split their batch), and the weight gradient is summed over the calls.
    ///
    /// Without oneDNN (a `GRAFT_DNNL=0` build) only `.graftWinograd` runs: Graft's Winograd on
    /// its layers, im2col + sgemm on the others.
    @Test(arguments: fastBackends, [ConvKernels.arenaBudgetBytes, 1])
    func oneDNNConvolutionMatchesIm2col(_ backend: ConvKernels.Backend, arenaBudget: Int) throws {
        var rng = RandomGenerator(seed: 11)
        var winogradLayers = 0
        for (g, n, size) in Self.geometries {
            let winograd = ConvKernels.usesWinograd(g, batch: n, height: size, width: size, backend: backend)
            if winograd { winogradLayers += 1 }
            let graft = ConvKernels.usesGraftWinograd(g, batch: n, height: size, width: size, backend: backend)
            // Graft's Winograd where asked for, or where oneDNN has none for this CPU (padding 2
            // has none anywhere).
            let oneDNNHasOne = ConvKernels.winogradIsAvailable && g.padding < 2
            #expect(graft == (winograd && (backend == .graftWinograd || !oneDNNHasOne)), "\(g)")
            for pass in ConvPass.allCases {
                let kernel = ConvKernels.implementation(
                    g, batch: n, height: size, width: size, bias: true, pass: pass,
                    backend: backend)
                // Without oneDNN, the layers Graft's Winograd does not take run im2col + sgemm.
                guard graft || ConvKernels.oneDNNIsAvailable else {
                    #expect(kernel == nil, "\(g) pass \(pass) runs \(kernel ?? "nothing") without oneDNN")
                    continue
                }
                // oneDNN's Winograd where this CPU has it, Graft's where it has not (or when asked
                // for), in every pass.
                let expected = graft ? "graft_wino" : winograd ? "wino" : "jit"
                #expect(kernel?.contains(expected) == true, "\(g) pass \(pass) runs \(kernel ?? "nothing")")
                if graft { continue }  // Graft's Winograd runs the whole batch
                let perCall = ConvKernels.imagesPerCall(
                    g, batch: n, height: size, width: size, pass: pass, budget: arenaBudget, backend: backend)
                #expect(perCall == (arenaBudget == 1 ? 1 : n), "\(g) pass \(pass): \(perCall ?? 0) images per call")
            }
            // rel-to-max (the fixture README's notation, no floor); measured at most 1.7e-6 with
            // Winograd and 1.5e-6 without, over outputs and all three gradients.
            let bound = winograd ? 2e-5 : 1e-5
            let x = Tensor.uniform([n, g.inChannels, size, size], low: -1, high: 1, using: &rng)
            let w = Tensor.uniform(
                [g.outChannels, g.inChannels, g.kernel, g.kernel], low: -0.3, high: 0.3, using: &rng)
            let b = Tensor.uniform([g.outChannels], low: -0.5, high: 0.5, using: &rng)
            for relu in [false, true] {
                let fast = ConvKernels.forward(
                    input: x, weight: w, bias: b, g, workspace: Workspace(), fuseReLU: relu,
                    backend: backend, arenaBudget: arenaBudget)
                let plain = ConvKernels.forward(
                    input: x, weight: w, bias: b, g, workspace: Workspace(), fuseReLU: relu,
                    backend: .im2col)
                #expect(fast.shape == plain.shape)
                #expect(Compare.relToMax(fast, plain) < bound, "forward \(g) relu \(relu)")
            }
            let y = ConvKernels.forward(input: x, weight: w, bias: b, g, workspace: Workspace(), backend: .im2col)
            let gy = Tensor.uniform(y.shape, low: -1, high: 1, using: &rng)
            func gradients(_ backend: ConvKernels.Backend) -> (Tensor, Tensor, Tensor) {
                // Start from a non-zero gradient: both paths must accumulate into it.
                var gw = Tensor(shape: w.shape, repeating: 0.25), gb = Tensor(shape: [g.outChannels], repeating: -0.5)
                let gx = ConvKernels.backward(
                    input: x, weight: w, outputGradient: gy, g,
                    weightGradient: gw.mutablePointer(), biasGradient: gb.mutablePointer(),
                    needInput: true, workspace: Workspace(), backend: backend, arenaBudget: arenaBudget)
                return (gx!, gw, gb)
            }
            let (fx, fw, fb) = gradients(backend), (px, pw, pb) = gradients(.im2col)
            #expect(Compare.relToMax(fx, px) < bound, "input gradient \(g)")
            #expect(Compare.relToMax(fw, pw) < bound, "weight gradient \(g)")
            #expect(Compare.relToMax(fb, pb) < bound, "bias gradient \(g)")
        }
        // Graft's Winograd takes padding 0–2 only; a wider one runs oneDNN's direct kernel.
        let padded3 = ConvGeometry(inChannels: 16, outChannels: 16, kernel: 3, stride: 1, padding: 3)
        #expect(!ConvKernels.usesGraftWinograd(padded3, batch: 9, height: 13, width: 13, backend: backend))
        let smallLayerRunsGraft = backend == .graftWinograd || !ConvKernels.winogradIsAvailable
        #expect(winogradLayers == (backend == .oneDNNDirect ? 0 : smallLayerRunsGraft ? 6 : 5))
    }

    /// Layers whose output map has at most 4 positions (ResNet's layer3 and layer4 at 32²) run as
    /// one product per output position over the batch, on the taps that read inside the image:
    /// against im2col + sgemm, forward (bias, ReLU) and all three gradients accumulated into
    /// non-zero buffers. The shapes: a 3×3 at 1×1 (the centre tap alone) and at 2×2, the
    /// stride-2 3×3 and 1×1 projections into 1×1 and 2×2, an unpadded 3×3 (every tap), a 7×7
    /// stride 2, and a padded 1×1 stride 2 whose first position reads only padding (no taps).
    @Test(arguments: [ConvKernels.Backend.oneDNN, .graftWinograd])
    func smallMapConvolutionMatchesIm2col(_ backend: ConvKernels.Backend) {
        let cases: [(ConvGeometry, batch: Int, size: Int)] = [
            (ConvGeometry(inChannels: 40, outChannels: 24, kernel: 3, stride: 1, padding: 1), 6, 1),
            (ConvGeometry(inChannels: 24, outChannels: 40, kernel: 3, stride: 1, padding: 1), 5, 2),
            (ConvGeometry(inChannels: 16, outChannels: 32, kernel: 3, stride: 2, padding: 1), 4, 2),
            (ConvGeometry(inChannels: 16, outChannels: 32, kernel: 3, stride: 2, padding: 1), 3, 4),
            (ConvGeometry(inChannels: 16, outChannels: 32, kernel: 1, stride: 2, padding: 0), 4, 3),
            (ConvGeometry(inChannels: 8, outChannels: 16, kernel: 3, stride: 1, padding: 0), 3, 3),
            (ConvGeometry(inChannels: 3, outChannels: 16, kernel: 7, stride: 2, padding: 3), 2, 4),
            (ConvGeometry(inChannels: 8, outChannels: 8, kernel: 1, stride: 2, padding: 1), 3, 2),
        ]
        var rng = RandomGenerator(seed: 12)
        for (g, n, size) in cases {
            #expect(ConvKernels.usesSmallMap(g, batch: n, height: size, width: size, backend: backend), "\(g)")
            #expect(!ConvKernels.usesSmallMap(g, batch: n, height: size, width: size, backend: .im2col))
            let kernel = ConvKernels.implementation(
                g, batch: n, height: size, width: size, bias: true, pass: .forward, backend: backend)
            #expect(kernel == "graft_small_map", "\(g) runs \(kernel ?? "nothing")")
            let x = Tensor.uniform([n, g.inChannels, size, size], low: -1, high: 1, using: &rng)
            let w = Tensor.uniform(
                [g.outChannels, g.inChannels, g.kernel, g.kernel], low: -0.3, high: 0.3, using: &rng)
            let b = Tensor.uniform([g.outChannels], low: -0.5, high: 0.5, using: &rng)
            // rel-to-max (the fixture README's notation); the sums run in another order than
            // im2col's, so equal only up to rounding.
            let bound = 1e-5
            for relu in [false, true] {
                let fast = ConvKernels.forward(
                    input: x, weight: w, bias: b, g, workspace: Workspace(), fuseReLU: relu, backend: backend)
                let plain = ConvKernels.forward(
                    input: x, weight: w, bias: b, g, workspace: Workspace(), fuseReLU: relu, backend: .im2col)
                #expect(fast.shape == plain.shape)
                #expect(Compare.relToMax(fast, plain) < bound, "forward \(g) relu \(relu)")
            }
            let y = ConvKernels.forward(input: x, weight: w, bias: b, g, workspace: Workspace(), backend: .im2col)
            let gy = Tensor.uniform(y.shape, low: -1, high: 1, using: &rng)
            func gradients(_ backend: ConvKernels.Backend, needInput: Bool) -> (Tensor?, Tensor, Tensor) {
                var gw = Tensor(shape: w.shape, repeating: 0.25), gb = Tensor(shape: [g.outChannels], repeating: -0.5)
                let gx = ConvKernels.backward(
                    input: x, weight: w, outputGradient: gy, g,
                    weightGradient: gw.mutablePointer(), biasGradient: gb.mutablePointer(),
                    needInput: needInput, workspace: Workspace(), backend: backend)
                return (gx, gw, gb)
            }
            for needInput in [true, false] {
                let (fx, fw, fb) = gradients(backend, needInput: needInput)
                let (px, pw, pb) = gradients(.im2col, needInput: needInput)
                #expect((fx == nil) == !needInput)
                if let fx, let px { #expect(Compare.relToMax(fx, px) < bound, "input gradient \(g)") }
                #expect(Compare.relToMax(fw, pw) < bound, "weight gradient \(g)")
                #expect(Compare.relToMax(fb, pb) < bound, "bias gradient \(g)")
            }
        }
        // A 4×4 map is not small: it keeps its kernel.
        let layer2 = ConvGeometry(inChannels: 16, outChannels: 16, kernel: 3, stride: 1, padding: 1)
        #expect(!ConvKernels.usesSmallMap(layer2, batch: 8, height: 4, width: 4, backend: backend))
    }

    /// The stem's 3×3 stride-2 pooling skips bounds checks inside the image, and the vanilla CNN's
    /// 2×2 pooling runs four windows at a time in SIMD lanes; both must give the values and
    /// arg-max positions (hence gradients) of the plain window scan, with ties (the first maximum
    /// wins) and NaN (it propagates) on odd and even sizes, in the vector loop and its tail.
    @Test(arguments: [(3, 2, 1), (2, 2, 0)])
    func maxPoolFastPathMatchesNaiveScan(kernel: Int, stride: Int, padding: Int) {
        var rng = RandomGenerator(seed: 14)
        for (h, w) in [(9, 9), (8, 10), (2, 5), (2, 2), (7, 12), (9, 17), (6, 24)] {
            var x = Tensor.uniform([2, 3, h, w], low: -1, high: 1, using: &rng)
            x.withUnsafeMutableBufferPointer { b in
                for i in Swift.stride(from: 0, to: b.count, by: 5) { b[i] = 0.5 }  // ties
                b[b.count / 2] = .nan
                b[b.count / 2 + 1] = .nan  // two in a window: the later one's position wins
            }
            let pool = MaxPool2d(kernel: kernel, stride: stride, padding: padding)
            let y = pool.forward(x, mode: .input)
            let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
            #expect(y.shape == [2, 3, oh, ow])
            let gy = Tensor.uniform(y.shape, low: -1, high: 1, using: &rng)
            let gx = pool.backward(gy)!
            var expected = [Float](repeating: 0, count: x.count), expectedGrad = [Float](repeating: 0, count: x.count)
            let xs = x.scalars, gys = gy.scalars
            for plane in 0..<6 {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity, at = -1
                        for iy in max(0, oy * stride - padding)..<min(h, oy * stride - padding + kernel) {
                            for ix in max(0, ox * stride - padding)..<min(w, ox * stride - padding + kernel) {
                                let v = xs[plane * h * w + iy * w + ix]
                                if at < 0 || v > best || v.isNaN { best = v; at = iy * w + ix }
                            }
                        }
                        let o = plane * oh * ow + oy * ow + ox
                        expected[o] = best
                        expectedGrad[plane * h * w + at] += gys[o]
                    }
                }
            }
            let ys = y.scalars
            for o in 0..<y.count {
                #expect(ys[o] == expected[o] || (ys[o].isNaN && expected[o].isNaN), "\(h)×\(w) output \(o)")
            }
            #expect(gx.scalars == expectedGrad, "\(h)×\(w) gradient")
            #expect(pool.forward(x, mode: .none).scalars.elementsEqual(ys) { $0 == $1 || ($0.isNaN && $1.isNaN) })
        }
    }

    /// A chain's ReLU after a BatchNorm keeps nothing, and the convolution after it gets its input
    /// recomputed in backward: every gradient must equal, bit for bit, the layers run one by one
    /// (each keeping what it needs), in train and eval BatchNorm, with a max-pool after the ReLU
    /// too (the vanilla CNN's block), and with the first layer's input gradient or without.
    @Test(arguments: [true, false], [GradientMode.input, .parameters])
    func recomputedReLUMatchesLayerByLayer(batchStatistics: Bool, mode: GradientMode) {
        var rng = RandomGenerator(seed: 13)
        func layers() -> [Module] {
            var r = RandomGenerator(seed: 14)
            let bn1 = BatchNorm2d(16), bn2 = BatchNorm2d(16)
            for bn in [bn1, bn2] {
                bn.weight.value = .uniform([16], low: 0.5, high: 1.5, using: &r)
                bn.bias.value = .uniform([16], low: -0.5, high: 0.5, using: &r)
                bn.train(batchStatistics)
            }
            return [
                Conv2d(8, 16, kernel: 3, padding: 1, bias: false, rng: &r), bn1, ReLU(),
                Conv2d(16, 16, kernel: 3, padding: 1, bias: false, rng: &r), bn2, ReLU(), MaxPool2d(kernel: 2),
            ]
        }
        let x = Tensor.uniform([4, 8, 24, 24], low: -1, high: 1, using: &rng)
        let gy = Tensor.uniform([4, 16, 12, 12], low: -1, high: 1, using: &rng)

        let chained = layers()
        var chain = Chain(chained)
        let y = chain.forward(x, mode: mode)
        let gx = chain.backward(gy)

        let separate = layers()
        var h = x
        for m in separate { h = m.forward(h, mode: .input) }
        var g = gy
        for m in separate.reversed() { g = m.backward(g)! }

        #expect(y.isBitwiseEqual(to: h))
        #expect((gx != nil) == (mode == .input))
        if let gx { #expect(gx.isBitwiseEqual(to: g)) }
        for (a, b) in zip(chained.flatMap { $0.namedParameters() }, separate.flatMap { $0.namedParameters() }) {
            #expect(a.parameter.grad!.isBitwiseEqual(to: b.parameter.grad!), "\(a.name)")
        }
    }

    /// Inference keeps its folded weights (and Graft's Winograd transform of them) between calls,
    /// and makes them again after any write to what they come from: the convolution's weight
    /// written in place as an optimizer does, a BatchNorm statistic assigned as a load does, a
    /// BatchNorm parameter written in place. Each time the folded path must match the layers run
    /// one by one on the new values.
    ///
    /// Whether inference runs Graft's Winograd (and keeps its transform) is the default
    /// backend's choice: `GRAFT_CONV=graft-winograd` tests the transform on every CPU.
    @Test func foldedWeightsFollowEveryWrite() {
        var rng = RandomGenerator(seed: 13)
        let conv = Conv2d(16, 32, kernel: 3, stride: 1, padding: 1, bias: true, rng: &rng)
        let bn = BatchNorm2d(32)
        bn.weight.value = .uniform([32], low: 0.5, high: 1.5, using: &rng)
        bn.runningVar.value = .float(.uniform([32], low: 0.5, high: 2, using: &rng))
        bn.eval()
        let x = Tensor.uniform([4, 16, 24, 24], low: -1, high: 1, using: &rng)
        let winograd =
            ConvKernels.usesGraftWinograd(
                conv.geometry, batch: 4, height: 24, width: 24, backend: ConvKernels.defaultBackend)
            && WinogradWeightCache.budgetBytes >= 36 * 16 * 32 * 4
        func check(_ label: String) {
            let plain = ReLU()(bn(conv(x)))
            let fused = conv.inferenceForward(x, foldingBatchNorm: bn, relu: true)
            #expect(Compare.relToMax(fused, plain) < 1e-5, "\(label)")
            // The folded bias, and the folded weights or their transform (36 floats a channel pair).
            let kept = 32 * 4 + (winograd ? 36 * 16 * 32 * 4 : 32 * 16 * 9 * 4)
            #expect(conv.inferenceCacheBytes == kept, "\(label)")
        }
        check("first call")
        check("second call, weights unchanged")
        conv.weight.value.mutablePointer()[5] += 0.5
        check("conv weight written in place")
        bn.runningMean.value = .float(.uniform([32], low: -0.3, high: 0.3, using: &rng))
        check("running mean assigned")
        bn.bias.value.mutablePointer()[3] -= 0.25
        check("BatchNorm bias written in place")
        conv.bias!.value = .uniform([32], low: -0.2, high: 0.2, using: &rng)
        check("conv bias assigned")
    }

    @Test func foldedBatchNormMatchesLayerByLayer() {
        var rng = RandomGenerator(seed: 12)
        for (bias, relu) in [(false, true), (true, false)] {
            let conv = Conv2d(16, 32, kernel: 3, stride: 1, padding: 1, bias: bias, rng: &rng)
            let bn = BatchNorm2d(32)
            bn.weight.value = .uniform([32], low: 0.5, high: 1.5, using: &rng)
            bn.bias.value = .uniform([32], low: -0.5, high: 0.5, using: &rng)
            bn.runningMean.value = .float(.uniform([32], low: -0.3, high: 0.3, using: &rng))
            bn.runningVar.value = .float(.uniform([32], low: 0.5, high: 2, using: &rng))
            bn.eval()
            // Large enough (4·32·24·24) for the parallel elementwise kernels to split the work.
            let x = Tensor.uniform([4, 16, 24, 24], low: -1, high: 1, using: &rng)
            var plain = bn(conv(x))
            if relu { plain = ReLU()(plain) }
            let fused = conv.inferenceForward(x, foldingBatchNorm: bn, relu: relu)
            #expect(fused.shape == plain.shape)
            // Folding rounds differently from three passes; measured 1.3e-6.
            #expect(Compare.relToMax(fused, plain) < 1e-5, "bias \(bias) relu \(relu)")
        }
    }

    @Test func parallelElementwiseMatchesSerial() {
        var rng = RandomGenerator(seed: 13)
        let n = 3, c = 5, hw = 67 * 61  // 61 305 elements: split across threads, odd plane size
        let x = Tensor.uniform([n, c, 67, 61], low: -2, high: 2, using: &rng)
        let scale = (0..<c).map { Float($0) * 0.5 - 1 }, shift = (0..<c).map { Float($0) * 0.1 }
        var y = Tensor(uninitializedShape: x.shape)
        Elementwise.channelAffine(
            x.pointer, into: y.mutablePointer(), planes: n * c, planeSize: hw, channels: c,
            scale: scale, shift: shift, relu: true)
        let xs = x.scalars, ys = y.scalars
        var worst: Float = 0
        for i in 0..<xs.count {
            let ch = (i / hw) % c
            worst = max(worst, abs(ys[i] - max(0, xs[i] * scale[ch] + shift[ch])))
        }
        #expect(worst == 0)

        var sum = Tensor(shape: x.shape, repeating: 1)
        Elementwise.addReLU(x.pointer, into: sum.mutablePointer(), count: x.count)
        #expect(zip(sum.scalars, xs).allSatisfy { $0 == max(0, $1 + 1) })
    }
}
