import CGraftKernels
#if GRAFT_DNNL
import CDNNL
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shape of a 2-D convolution (groups 1, dilation 1, symmetric zero padding as torchvision).
public struct ConvGeometry: Sendable, Equatable {
    public var inChannels: Int, outChannels: Int
    public var kernel: Int, stride: Int, padding: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
    }

    /// Rows of the im2col matrix: C·k·k.
    public var patchSize: Int { inChannels * kernel * kernel }

    /// A 1×1, stride-1, unpadded convolution is a plain matrix product on the input.
    public var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }
}

/// The three passes of a convolution; the raw value is the pass number the C layer (`CDNNL`) takes.
public enum ConvPass: Int32, CaseIterable, Sendable {
    case forward, inputGradient, weightGradient
}

/// Convolution kernels. oneDNN's direct convolutions (blocked layouts, JIT-compiled for the CPU)
/// run every shape they support — 2–3× faster than im2col + OpenBLAS sgemm on ResNet34's layers
/// (README, "Design: convolution kernels"); im2col + sgemm is the fallback, and the reference
/// the tests compare the oneDNN path with.
///
/// In the im2col path several images share one sgemm so that small late-stage feature maps
/// (7×7) still give BLAS a wide matrix; the group is capped so the column buffer stays small.
///
/// A build without oneDNN (`GRAFT_DNNL=0`, README "Building without oneDNN") has Graft's Winograd
/// and im2col + sgemm only: `oneDNNIsAvailable` is false, and the oneDNN backends run Graft's
/// Winograd where `winograd` picks it and im2col + sgemm elsewhere.
public enum ConvKernels {
    /// Which implementation runs convolutions.
    public enum Backend: String, Sendable {
        /// oneDNN, with the algorithm chosen per layer (`usesWinograd`): oneDNN's Winograd where
        /// this CPU has it, else Graft's own (`usesGraftWinograd`).
        case oneDNN = "onednn"
        /// oneDNN's direct convolution on every layer (the reference for the Winograd choice).
        case oneDNNDirect = "direct"
        /// As `oneDNN`, but Graft's own Winograd on the layers `usesWinograd` picks even where
        /// oneDNN has one: for the tests and benchmarks on AVX-512 machines.
        case graftWinograd = "graft-winograd"
        case im2col

        /// Whether convolutions run in oneDNN (Graft's Winograd on the layers it takes): never in
        /// a build without oneDNN.
        public var isOneDNN: Bool {
            #if GRAFT_DNNL
            self != .im2col
            #else
            false
            #endif
        }
    }

    /// Whether libdnnl loaded: every backend but `.im2col` needs it, whatever `defaultBackend` is.
    /// False in a build without oneDNN.
    #if GRAFT_DNNL
    public static let oneDNNIsAvailable = graft_dnnl_available() != 0
    #else
    public static let oneDNNIsAvailable = false
    #endif

    /// oneDNN when it is available; `GRAFT_CONV=direct`, `graft-winograd` or `im2col` pick the
    /// others. Only the callers that name no backend get it: a caller that names one gets that one.
    /// In a build without oneDNN, `.graftWinograd`, or `.im2col` when `GRAFT_CONV` says so;
    /// `GRAFT_CONV=onednn` or `direct` there runs Graft's Winograd or im2col + sgemm (no
    /// Winograd) instead, and says so on stderr.
    public static let defaultBackend: Backend = {
        #if GRAFT_DNNL
        guard oneDNNIsAvailable else { return .im2col }
        if let v = getenv("GRAFT_CONV"), let backend = Backend(rawValue: String(cString: v)) { return backend }
        return .oneDNN
        #else
        guard let v = getenv("GRAFT_CONV"), let asked = Backend(rawValue: String(cString: v)) else {
            return .graftWinograd
        }
        let backend: Backend, runs: String
        switch asked {
        case .oneDNN: (backend, runs) = (.graftWinograd, "Graft's Winograd where it applies, im2col + sgemm elsewhere")
        case .oneDNNDirect: (backend, runs) = (.im2col, "im2col + sgemm, no Winograd")
        case .graftWinograd, .im2col: return asked
        }
        var message =
            "graft: GRAFT_CONV=\(asked.rawValue) needs oneDNN, which is not in this build (built with GRAFT_DNNL=0); "
            + "convolutions run \(runs) (GRAFT_CONV=\(backend.rawValue)) instead\n"
        message.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        return backend
        #endif
    }()

    /// A Winograd F(4,3) kernel: oneDNN's, or Graft's own (`graft_winograd.c`).
    public enum Winograd: Sendable { case oneDNN, graft }

    /// The Winograd kernel that runs a layer, nil for none (always for a small map,
    /// `usesSmallMap`). Winograd runs 3×3 stride-1
    /// convolutions with at least 16 input channels (with 3, a first layer, it is slower at any
    /// size) over enough output positions (batch × height × width) to pay back its per-call
    /// weight transform, which grows with channels², like the work it saves per position.
    /// oneDNN's runs where this CPU and shape have it (oneDNN 2.6: AVX-512, padding ≤ 1); Graft's
    /// runs elsewhere, or with `.graftWinograd`; both in every pass. Measured per layer
    /// (`benchmarks/run.sh --kernels`; benchmarks/README.md, "Convolution algorithms per layer").
    public static func winograd(
        _ g: ConvGeometry, batch: Int, height: Int, width: Int, backend: Backend
    ) -> Winograd? {
        guard backend == .oneDNN || backend == .graftWinograd, g.kernel == 3, g.stride == 1, g.inChannels >= 16,
            !usesSmallMap(g, batch: batch, height: height, width: width, backend: backend)
        else { return nil }
        let (oh, ow) = g.outputSize(height, width)
        let positions = batch * oh * ow
        if backend == .oneDNN && oneDNNHasWinograd(g, batch: batch, height: height, width: width) {
            return positions >= winogradMinimumPixels ? .oneDNN : nil
        }
        return positions >= graftWinogradMinimumPixels && g.padding <= 2 ? .graft : nil
    }

    public static func usesWinograd(
        _ g: ConvGeometry, batch: Int, height: Int, width: Int, backend: Backend
    ) -> Bool {
        winograd(g, batch: batch, height: height, width: width, backend: backend) != nil
    }

    public static func usesGraftWinograd(
        _ g: ConvGeometry, batch: Int, height: Int, width: Int, backend: Backend
    ) -> Bool {
        winograd(g, batch: batch, height: height, width: width, backend: backend) == .graft
    }

    /// Whether a layer runs as one matrix product per output position over the whole batch
    /// (`graft_small_map_forward` and its gradients): convolutions whose output map has at most
    /// `smallMapMaximumPositions` positions per image, in the default backends (`.oneDNN`,
    /// `.graftWinograd`). There most of a window lies in the padding (at 1×1 only the centre tap
    /// of a 3×3 reads the image), and oneDNN's direct kernel, walking every tap image by image,
    /// ran ResNet's layer4 at 32² 30–60× slower than the products over the taps that read the
    /// image (benchmarks/README.md, "Small images").
    public static func usesSmallMap(
        _ g: ConvGeometry, batch: Int, height: Int, width: Int, backend: Backend
    ) -> Bool {
        guard backend == .oneDNN || backend == .graftWinograd, g.kernel <= 7 else { return false }
        let (oh, ow) = g.outputSize(height, width)
        return oh > 0 && ow > 0 && oh * ow <= smallMapMaximumPositions
    }

    /// Output positions per image up to which `usesSmallMap` holds: 2×2 and 1×1 maps. At 4×4 the
    /// products were level with the direct kernel and Graft's Winograd, not faster. 0 turns the
    /// path off: the benchmarks set it to compare with the kernels it replaces. Set it before any
    /// convolution runs, not while one does.
    nonisolated(unsafe) public static var smallMapMaximumPositions = 4

    /// Stops on a full arena, naming the layer, as `graftWinogradRan` does; true when the pass ran.
    static func smallMapRan(
        _ rc: Int32, _ pass: ConvPass, _ g: ConvGeometry, batch: Int, height: Int, width: Int
    ) -> Bool {
        precondition(
            rc != GRAFT_OUT_OF_MEMORY,
            "the small-map convolution is out of memory for the \(pass) pass of \(g), input "
                + "\(batch)×\(g.inChannels)×\(height)×\(width)")
        return rc == 0
    }

    /// Output positions from which oneDNN's Winograd beats its direct kernel (AVX-512): below
    /// them its per-call weight transform is not paid back, and the smallest layers (ResNet34's
    /// layer4 at batch 1) run several times slower with it. The figures are in
    /// benchmarks/README.md, "Convolution algorithms per layer".
    public static let winogradMinimumPixels = 1024

    /// Output positions from which Graft's Winograd beats oneDNN's AVX2 direct kernel, for the
    /// same reason; lower than oneDNN's, as the direct kernel it replaces is slower. Measured
    /// with AVX-512 hidden on an AVX-512 Xeon, as no AVX2-only CPU was at hand; where oneDNN has
    /// a Winograd kernel, that one is faster and runs instead. The figures are in
    /// benchmarks/README.md, "Convolution algorithms per layer".
    public static let graftWinogradMinimumPixels = 392

    /// Whether oneDNN has a Winograd kernel for this CPU (its F(4,3) needs AVX-512).
    public static let winogradIsAvailable: Bool =
        oneDNNRunsWinograd(
            ConvGeometry(inChannels: 64, outChannels: 64, kernel: 3, stride: 1, padding: 1),
            batch: 1, height: 56, width: 56)

    /// Asked on every convolution call, so only a cached plan's lookup where this CPU has a
    /// Winograd kernel, and nothing where it has none.
    static func oneDNNHasWinograd(_ g: ConvGeometry, batch: Int, height: Int, width: Int) -> Bool {
        guard winogradIsAvailable else { return false }
        return oneDNNRunsWinograd(g, batch: batch, height: height, width: width)
    }

    /// Whether oneDNN, asked for Winograd, made this layer's forward primitive with it: it does
    /// only where this CPU and shape have a kernel, and falls back to its direct one elsewhere.
    static func oneDNNRunsWinograd(_ g: ConvGeometry, batch: Int, height: Int, width: Int) -> Bool {
        #if GRAFT_DNNL
        var shape = dnnlShape(g, batch: batch, height: height, width: width, bias: false, relu: false, winograd: true)
        return graft_conv_runs_winograd(&shape, ConvPass.forward.rawValue) == 1
        #else
        return false
        #endif
    }

    /// The name of the kernel a pass runs: oneDNN's, e.g. `jit_wino_4x3:avx512_core`, or
    /// `graft_wino_4x3`; nil when oneDNN cannot run the shape (im2col + sgemm runs it).
    public static func implementation(
        _ g: ConvGeometry, batch: Int, height: Int, width: Int, bias: Bool,
        pass: ConvPass, backend: Backend = defaultBackend
    ) -> String? {
        if usesSmallMap(g, batch: batch, height: height, width: width, backend: backend) {
            return "graft_small_map"
        }
        if usesGraftWinograd(g, batch: batch, height: height, width: width, backend: backend) {
            return "graft_wino_4x3"
        }
        #if GRAFT_DNNL
        var shape = dnnlShape(g, batch: batch, height: height, width: width, bias: bias, relu: false, backend: backend)
        return graft_conv_implementation(&shape, pass.rawValue).map { String(cString: $0) }
        #else
        return nil
        #endif
    }

    static func dnnlShape(
        _ g: ConvGeometry, batch: Int, height: Int, width: Int, bias: Bool,
        relu: Bool, backend: Backend
    ) -> graft_conv_shape {
        dnnlShape(
            g, batch: batch, height: height, width: width, bias: bias, relu: relu,
            winograd: winograd(g, batch: batch, height: height, width: width, backend: backend) == .oneDNN)
    }

    static func dnnlShape(
        _ g: ConvGeometry, batch: Int, height: Int, width: Int, bias: Bool, relu: Bool, winograd: Bool
    ) -> graft_conv_shape {
        graft_conv_shape(
            batch: Int32(batch), in_channels: Int32(g.inChannels), height: Int32(height),
            width: Int32(width), out_channels: Int32(g.outChannels), kernel: Int32(g.kernel),
            stride: Int32(g.stride), padding: Int32(g.padding), has_bias: bias ? 1 : 0,
            fuse_relu: relu ? 1 : 0,
            winograd: winograd ? 1 : 0)
    }

    /// Bytes of oneDNN's per-thread arena (scratchpad and blocked copies of the arguments) one call
    /// may use; a batch that needs more runs as several calls over consecutive images. The arena
    /// stays as large as the largest call, for the whole run: unbounded, it grew to a large
    /// layer's blocked activations (100 MB for ResNet34's stem at batch 32). Winograd's
    /// transformed weights do not shrink with the batch (up to 125 MB for a 512-channel layer's
    /// weight gradient); they run whole. `GRAFT_CONV_ARENA_MB` sets the bound.
    public static let arenaBudgetBytes: Int = {
        if let v = getenv("GRAFT_CONV_ARENA_MB"), let mb = Int(String(cString: v)), mb > 0 { return mb << 20 }
        return 32 << 20
    }()

    /// Images per oneDNN call of (shape, pass): the whole batch when its arena fits `budget`, else
    /// the largest even split whose batch-dependent part does (at least one image); nil when
    /// oneDNN cannot run the shape.
    static func imagesPerCall(
        _ g: ConvGeometry, batch: Int, height: Int, width: Int, pass: ConvPass, budget: Int,
        backend: Backend = defaultBackend
    ) -> Int? {
        let shape = dnnlShape(g, batch: batch, height: height, width: width, bias: false, relu: false, backend: backend)
        return imagesPerCall(shape, pass: pass, budget: budget)
    }

    static func imagesPerCall(_ shape: graft_conv_shape, pass: ConvPass, budget: Int) -> Int? {
        #if GRAFT_DNNL
        var whole = shape, one = shape
        one.batch = 1
        let need = Int(graft_conv_arena_bytes(&whole, pass.rawValue))
        guard need >= 0 else { return nil }
        let n = Int(shape.batch)
        guard need > budget, n > 1 else { return n }
        let perImage = max(1, (need - Int(graft_conv_arena_bytes(&one, pass.rawValue))) / (n - 1))
        let fitting = max(1, budget / perImage)
        let calls = (n + fitting - 1) / fitting
        return (n + calls - 1) / calls
        #else
        return nil
        #endif
    }

    /// Runs one oneDNN pass over the batch in calls of `imagesPerCall` images: `call(part, start)`
    /// gets the shape of images `start ..< start + part.batch` and returns 0 on success. The
    /// Winograd choice stays the whole batch's. False when oneDNN cannot run a part.
    static func inBatchChunks(
        _ shape: graft_conv_shape, pass: ConvPass, budget: Int,
        _ call: (inout graft_conv_shape, Int) -> Int32
    ) -> Bool {
        guard let chunk = imagesPerCall(shape, pass: pass, budget: budget) else { return false }
        let n = Int(shape.batch)
        var start = 0
        while start < n {
            var part = shape
            part.batch = Int32(min(chunk, n - start))
            guard call(&part, start) == 0 else { return false }
            start += chunk
        }
        return true
    }

    /// Whether Graft's Winograd ran a pass, from its C entry point's result: a shape it cannot
    /// run goes to oneDNN's kernels, but running out of memory stops here, naming the layer,
    /// rather than passing silently to a slower kernel.
    static func graftWinogradRan(
        _ rc: Int32, _ pass: ConvPass, _ g: ConvGeometry, batch: Int, height: Int, width: Int
    ) -> Bool {
        precondition(
            rc != GRAFT_OUT_OF_MEMORY,
            "Graft's Winograd is out of memory for the \(pass) pass of \(g), input "
                + "\(batch)×\(g.inChannels)×\(height)×\(width)")
        return rc == 0
    }

    /// Floats allowed for one group's column matrix (16 MB).
    static let columnBudget = 4 << 20

    static func groupSize(_ g: ConvGeometry, outHW: Int, batch: Int) -> Int {
        max(1, min(batch, columnBudget / max(1, g.patchSize * outHW)))
    }

    /// Writes the patch matrix of one image, `[C·k·k, outH·outW]`, into `col`.
    public static func im2col(
        _ input: UnsafePointer<Float>, height h: Int, width w: Int, _ g: ConvGeometry,
        into col: UnsafeMutablePointer<Float>, rowStride: Int
    ) {
        let (oh, ow) = g.outputSize(h, w)
        let k = g.kernel, s = g.stride, p = g.padding
        for c in 0..<g.inChannels {
            let plane = input + c * h * w
            for ki in 0..<k {
                for kj in 0..<k {
                    let row = col + ((c * k + ki) * k + kj) * rowStride
                    // Output columns whose input column is inside the image.
                    let owStart = max(0, (p - kj + s - 1) / s)
                    let owEnd = min(ow, (w - 1 + p - kj) / s + 1)
                    for y in 0..<oh {
                        let dst = row + y * ow
                        let iy = y * s - p + ki
                        if iy < 0 || iy >= h || owStart >= owEnd {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        if owStart > 0 { dst.update(repeating: 0, count: owStart) }
                        let src = plane + iy * w - p + kj
                        if s == 1 {
                            (dst + owStart).update(from: src + owStart, count: owEnd - owStart)
                        } else {
                            var x = owStart
                            while x < owEnd { dst[x] = src[x * s]; x += 1 }
                        }
                        if owEnd < ow { (dst + owEnd).update(repeating: 0, count: ow - owEnd) }
                    }
                }
            }
        }
    }

    /// Adds the patch-matrix gradient of one image back into its input gradient (`col2im`).
    public static func col2im(
        _ col: UnsafePointer<Float>, rowStride: Int, height h: Int, width w: Int, _ g: ConvGeometry,
        into gradInput: UnsafeMutablePointer<Float>
    ) {
        let (oh, ow) = g.outputSize(h, w)
        let k = g.kernel, s = g.stride, p = g.padding
        for c in 0..<g.inChannels {
            let plane = gradInput + c * h * w
            for ki in 0..<k {
                for kj in 0..<k {
                    let row = col + ((c * k + ki) * k + kj) * rowStride
                    let owStart = max(0, (p - kj + s - 1) / s)
                    let owEnd = min(ow, (w - 1 + p - kj) / s + 1)
                    if owStart >= owEnd { continue }
                    for y in 0..<oh {
                        let iy = y * s - p + ki
                        if iy < 0 || iy >= h { continue }
                        let src = row + y * ow
                        let dst = plane + iy * w - p + kj
                        var x = owStart
                        if s == 1 {
                            while x < owEnd { dst[x] += src[x]; x += 1 }
                        } else {
                            while x < owEnd { dst[x * s] += src[x]; x += 1 }
                        }
                    }
                }
            }
        }
    }

    /// `output[n] = weight · im2col(input[n]) (+ bias)`, NCHW in and out; with `fuseReLU` the
    /// output is `max(0, ·)` of that (one pass instead of two).
    public static func forward(
        input: Tensor, weight: Tensor, bias: Tensor?, _ g: ConvGeometry, workspace: Workspace,
        fuseReLU: Bool = false, backend: Backend = defaultBackend, arenaBudget: Int = arenaBudgetBytes,
        transformedWeights: WinogradWeightCache? = nil
    ) -> Tensor {
        let n = input.size(0), h = input.size(2), w = input.size(3)
        precondition(input.size(1) == g.inChannels, "conv expects \(g.inChannels) channels, got \(input.shape)")
        let (oh, ow) = g.outputSize(h, w)
        let outHW = oh * ow, inCHW = g.inChannels * h * w, K = g.patchSize, M = g.outChannels
        var output = Tensor(uninitializedShape: [n, M, oh, ow])
        let out = output.mutablePointer()
        let x = input.pointer, wt = weight.pointer
        #if !GRAFT_DNNL
        _ = BLAS.threadPolicy  // OpenBLAS on one thread before Graft's Winograd multiplies with it
        #endif
        if usesSmallMap(g, batch: n, height: h, width: w, backend: backend) {
            var shape = dnnlShape(g, batch: n, height: h, width: w, bias: bias != nil, relu: fuseReLU, winograd: false)
            let rc = graft_small_map_forward(&shape, x, wt, bias?.pointer, out)
            if smallMapRan(rc, .forward, g, batch: n, height: h, width: w) { return output }
        }
        let graftWinograd = usesGraftWinograd(g, batch: n, height: h, width: w, backend: backend)
        if backend.isOneDNN || graftWinograd {
            var shape = dnnlShape(g, batch: n, height: h, width: w, bias: bias != nil, relu: fuseReLU, backend: backend)
            if graftWinograd {
                let rc: Int32
                if let cache = transformedWeights {
                    let u = cache.transformed(shape, weight: weight)
                    rc =
                        u.map { graft_winograd_forward_transformed(&shape, x, $0.pointer, bias?.pointer, out) }
                        ?? GRAFT_OUT_OF_MEMORY
                } else {
                    var u = Tensor(uninitializedShape: [Int(graft_winograd_weight_floats(&shape))])
                    rc = graft_winograd_forward(&shape, x, wt, bias?.pointer, u.mutablePointer(), out)
                }
                if graftWinogradRan(rc, .forward, g, batch: n, height: h, width: w) { return output }
            }
            #if GRAFT_DNNL
            let outCHW = M * outHW
            let ran = inBatchChunks(shape, pass: .forward, budget: arenaBudget) { part, start in
                graft_conv_forward(&part, x + start * inCHW, wt, bias?.pointer, out + start * outCHW)
            }
            if ran { return output }
            #endif
        }
        let group = groupSize(g, outHW: outHW, batch: n)
        if g.isPointwise && group == 1 {
            for i in 0..<n {
                BLAS.gemm(
                    m: M, n: outHW, k: K, a: wt, lda: K, b: x + i * inCHW, ldb: outHW,
                    c: out + i * M * outHW, ldc: outHW)
            }
        } else {
            let cols = workspace.buffer(K * group * outHW + (group > 1 ? M * group * outHW : 0))
            let staging = cols + K * group * outHW
            var start = 0
            while start < n {
                let count = min(group, n - start)
                let width = count * outHW
                for j in 0..<count {
                    let src = x + (start + j) * inCHW
                    if g.isPointwise {
                        for c in 0..<K { (cols + c * width + j * outHW).update(from: src + c * outHW, count: outHW) }
                    } else {
                        im2col(src, height: h, width: w, g, into: cols + j * outHW, rowStride: width)
                    }
                }
                if count == 1 {
                    BLAS.gemm(
                        m: M, n: outHW, k: K, a: wt, lda: K, b: cols, ldb: outHW,
                        c: out + start * M * outHW, ldc: outHW)
                } else {
                    BLAS.gemm(m: M, n: width, k: K, a: wt, lda: K, b: cols, ldb: width, c: staging, ldc: width)
                    for j in 0..<count {
                        let dst = out + (start + j) * M * outHW
                        for m in 0..<M { (dst + m * outHW).update(from: staging + m * width + j * outHW, count: outHW) }
                    }
                }
                start += count
            }
        }
        if let bias {
            let b = bias.pointer
            for i in 0..<n {
                for m in 0..<M {
                    let row = out + (i * M + m) * outHW
                    let v = b[m]
                    for j in 0..<outHW { row[j] += v }
                }
            }
        }
        if fuseReLU { Elementwise.relu(out, count: output.count) }
        return output
    }

    /// Gradients of a convolution. `weightGradient` (and `biasGradient`) are accumulated into
    /// when given; the input gradient is computed only when `needInput` is true.
    public static func backward(
        input: Tensor, weight: Tensor, outputGradient gy: Tensor, _ g: ConvGeometry,
        weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?,
        needInput: Bool, workspace: Workspace, backend: Backend = defaultBackend,
        arenaBudget: Int = arenaBudgetBytes
    ) -> Tensor? {
        let n = input.size(0), h = input.size(2), w = input.size(3)
        let (oh, ow) = g.outputSize(h, w)
        let outHW = oh * ow, inCHW = g.inChannels * h * w, K = g.patchSize, M = g.outChannels
        let x = input.pointer, wt = weight.pointer, dy = gy.pointer
        #if !GRAFT_DNNL
        _ = BLAS.threadPolicy  // OpenBLAS on one thread before Graft's Winograd multiplies with it
        #endif
        if usesSmallMap(g, batch: n, height: h, width: w, backend: backend),
            case .ran(let gradInput) = smallMapBackward(
                input: input, weight: weight, outputGradient: gy, g, weightGradient: weightGradient,
                biasGradient: biasGradient, needInput: needInput)
        {
            return gradInput
        }
        if backend.isOneDNN || usesGraftWinograd(g, batch: n, height: h, width: w, backend: backend),
            case .ran(let gradInput) = dnnlBackward(
                input: input, weight: weight, outputGradient: gy, g, weightGradient: weightGradient,
                biasGradient: biasGradient, needInput: needInput, backend: backend, arenaBudget: arenaBudget)
        {
            return gradInput
        }

        if let db = biasGradient { addBiasGradient(dy, batch: n, channels: M, positions: outHW, into: db) }
        // col2im accumulates, so the input gradient starts at zero. `gradInput` is the only
        // reference to its storage, so writing through `gx` needs no copy.
        let gradInput: Tensor? = needInput ? Tensor(shape: input.shape, repeating: 0) : nil
        let gx = gradInput?.storage.pointer
        if weightGradient == nil && !needInput { return nil }

        let group = groupSize(g, outHW: outHW, batch: n)
        let cols = workspace.buffer(2 * K * group * outHW + M * group * outHW)
        let gcols = cols + K * group * outHW
        let gyGroup = gcols + K * group * outHW
        var start = 0
        while start < n {
            let count = min(group, n - start)
            let width = count * outHW
            // Output gradient of the group as one [M, count·outHW] matrix.
            let gyMatrix: UnsafePointer<Float>
            if count == 1 {
                gyMatrix = dy + start * M * outHW
            } else {
                for j in 0..<count {
                    let src = dy + (start + j) * M * outHW
                    for m in 0..<M { (gyGroup + m * width + j * outHW).update(from: src + m * outHW, count: outHW) }
                }
                gyMatrix = UnsafePointer(gyGroup)
            }
            if let dw = weightGradient {
                let colMatrix: UnsafePointer<Float>
                if g.isPointwise && count == 1 {
                    colMatrix = x + start * inCHW
                } else {
                    for j in 0..<count {
                        let src = x + (start + j) * inCHW
                        if g.isPointwise {
                            for c in 0..<K {
                                (cols + c * width + j * outHW).update(from: src + c * outHW, count: outHW)
                            }
                        } else {
                            im2col(src, height: h, width: w, g, into: cols + j * outHW, rowStride: width)
                        }
                    }
                    colMatrix = UnsafePointer(cols)
                }
                // dW[M, K] += dY[M, width] · col[K, width]ᵀ
                BLAS.gemm(
                    transB: true, m: M, n: K, k: width, a: gyMatrix, lda: width, b: colMatrix, ldb: width,
                    beta: 1, c: dw, ldc: K)
            }
            if let gx {
                if g.isPointwise && count == 1 {
                    BLAS.gemm(
                        transA: true, m: K, n: outHW, k: M, a: wt, lda: K, b: gyMatrix, ldb: outHW,
                        beta: 0, c: gx + start * inCHW, ldc: outHW)
                } else {
                    // dCol[K, width] = Wᵀ · dY
                    BLAS.gemm(
                        transA: true, m: K, n: width, k: M, a: wt, lda: K, b: gyMatrix, ldb: width,
                        beta: 0, c: gcols, ldc: width)
                    for j in 0..<count {
                        let dst = gx + (start + j) * inCHW
                        if g.isPointwise {
                            for c in 0..<K {
                                let s = gcols + c * width + j * outHW
                                let d = dst + c * outHW
                                for t in 0..<outHW { d[t] += s[t] }
                            }
                        } else {
                            col2im(gcols + j * outHW, rowStride: width, height: h, width: w, g, into: dst)
                        }
                    }
                }
            }
            start += count
        }
        return gradInput
    }

    /// `db[m] += Σ dy[i, m, ·]` over the images i and output positions: the bias gradient.
    static func addBiasGradient(
        _ dy: UnsafePointer<Float>, batch n: Int, channels M: Int, positions outHW: Int,
        into db: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n {
            for m in 0..<M {
                let row = dy + (i * M + m) * outHW
                var s: Float = 0
                for j in 0..<outHW { s += row[j] }
                db[m] += s
            }
        }
    }

    /// What the oneDNN path of `backward` (Graft's Winograd's, in a build without oneDNN) did.
    enum DNNLBackward {
        /// oneDNN cannot run this shape; nothing has been written.
        case unsupported
        /// The gradients asked for were accumulated; the input gradient when `needInput`.
        case ran(inputGradient: Tensor?)
    }

    /// The gradients of a small-map layer (`usesSmallMap`), accumulated into the given buffers
    /// as the im2col path does.
    static func smallMapBackward(
        input: Tensor, weight: Tensor, outputGradient gy: Tensor, _ g: ConvGeometry,
        weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?, needInput: Bool
    ) -> DNNLBackward {
        let n = input.size(0), h = input.size(2), w = input.size(3)
        var gradInput: Tensor? = nil
        if needInput {
            var shape = dnnlShape(g, batch: n, height: h, width: w, bias: false, relu: false, winograd: false)
            var t = Tensor(uninitializedShape: input.shape)
            let rc = graft_small_map_backward_data(&shape, gy.pointer, weight.pointer, t.mutablePointer())
            guard smallMapRan(rc, .inputGradient, g, batch: n, height: h, width: w) else { return .unsupported }
            gradInput = t
        }
        if let dw = weightGradient {
            var shape = dnnlShape(
                g, batch: n, height: h, width: w, bias: biasGradient != nil, relu: false, winograd: false)
            let rc = graft_small_map_backward_weights(&shape, input.pointer, gy.pointer, dw, biasGradient)
            guard smallMapRan(rc, .weightGradient, g, batch: n, height: h, width: w) else { return .unsupported }
        } else if let db = biasGradient {
            let (oh, ow) = g.outputSize(h, w)
            addBiasGradient(gy.pointer, batch: n, channels: g.outChannels, positions: oh * ow, into: db)
        }
        return .ran(inputGradient: gradInput)
    }

    /// oneDNN gradients (Graft's Winograd among them), accumulated into the given buffers as the
    /// im2col path does. In a build without oneDNN, Graft's Winograd's alone.
    static func dnnlBackward(
        input: Tensor, weight: Tensor, outputGradient gy: Tensor, _ g: ConvGeometry,
        weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?, needInput: Bool,
        backend: Backend, arenaBudget: Int
    ) -> DNNLBackward {
        let n = input.size(0), h = input.size(2), w = input.size(3)
        let (oh, ow) = g.outputSize(h, w)
        let inCHW = g.inChannels * h * w, outCHW = g.outChannels * oh * ow
        let x = input.pointer, dy = gy.pointer, wt = weight.pointer
        var gradInput: Tensor? = nil
        if needInput {
            var shape = dnnlShape(g, batch: n, height: h, width: w, bias: false, relu: false, backend: backend)
            var t = Tensor(uninitializedShape: input.shape)
            let dx = t.mutablePointer()
            var ran = false
            if usesGraftWinograd(g, batch: n, height: h, width: w, backend: backend) {
                var u = Tensor(uninitializedShape: [Int(graft_winograd_weight_floats(&shape))])
                let rc = graft_winograd_backward_data(&shape, dy, wt, u.mutablePointer(), dx)
                ran = graftWinogradRan(rc, .inputGradient, g, batch: n, height: h, width: w)
            }
            #if GRAFT_DNNL
            if !ran {
                ran = inBatchChunks(shape, pass: .inputGradient, budget: arenaBudget) { part, start in
                    graft_conv_backward_data(&part, dy + start * outCHW, wt, dx + start * inCHW)
                }
            }
            #endif
            guard ran else { return .unsupported }
            gradInput = t
        }
        if let dw = weightGradient {
            var shape = dnnlShape(
                g, batch: n, height: h, width: w, bias: biasGradient != nil, relu: false,
                backend: backend)
            // The batch's gradient: the first call's, plus each further call's.
            var gw = Tensor(uninitializedShape: weight.shape), gb = Tensor(uninitializedShape: [g.outChannels])
            var ran = false
            if usesGraftWinograd(g, batch: n, height: h, width: w, backend: backend) {
                // From the pool, so that the 16 MB of transformed tiles are not faulted in afresh.
                var buffer = Tensor(uninitializedShape: [Int(graft_winograd_weight_gradient_floats(&shape))])
                let rc = graft_winograd_backward_weights(
                    &shape, x, dy, buffer.mutablePointer(), gw.mutablePointer(), gb.mutablePointer())
                ran = graftWinogradRan(rc, .weightGradient, g, batch: n, height: h, width: w)
            }
            #if GRAFT_DNNL
            if !ran {
                var partW: Tensor? = nil, partB: Tensor? = nil
                ran = inBatchChunks(shape, pass: .weightGradient, budget: arenaBudget) { part, start in
                    let first = start == 0
                    if !first && partW == nil {
                        partW = Tensor(uninitializedShape: weight.shape)
                        partB = Tensor(uninitializedShape: [g.outChannels])
                    }
                    let pw = first ? gw.mutablePointer() : partW!.mutablePointer()
                    let pb = biasGradient == nil ? nil : (first ? gb.mutablePointer() : partB!.mutablePointer())
                    let rc = graft_conv_backward_weights(&part, x + start * inCHW, dy + start * outCHW, pw, pb)
                    if rc == 0 && !first {
                        Elementwise.add(UnsafePointer(pw), into: gw.mutablePointer(), count: gw.count)
                        if let pb {
                            Elementwise.add(UnsafePointer(pb), into: gb.mutablePointer(), count: g.outChannels)
                        }
                    }
                    return rc
                }
            }
            #endif
            guard ran else { return .unsupported }
            Elementwise.add(gw.pointer, into: dw, count: gw.count)
            if let db = biasGradient { Elementwise.add(gb.pointer, into: db, count: g.outChannels) }
        } else if let db = biasGradient {
            addBiasGradient(dy, batch: n, channels: g.outChannels, positions: oh * ow, into: db)
        }
        return .ran(inputGradient: gradInput)
    }
}

/// One convolution's weights as Graft's Winograd transforms them (`graft_winograd_transform_weights`),
/// kept between forward calls: 36·in·out floats, four times the 3×3 weights. Inference on
/// unchanged weights (eval, a frozen trunk) then skips the transform, which rewrote that many
/// floats on every call. The owner calls `invalidate()` whenever the weights it passes change;
/// the transform depends on the channels alone, so one entry serves every batch and image size.
///
/// All caches together hold at most `budgetBytes`; a layer that would pass it transforms on
/// every call, as without a cache.
public final class WinogradWeightCache: @unchecked Sendable {
    private var weights: Tensor?

    /// Bytes all caches may hold together: `GRAFT_WINOGRAD_CACHE_MB` (default 1024, which holds
    /// every layer of ResNet34 at 224², 298 MB; benchmarks/README.md, "Small images"); 0 turns
    /// the caches off.
    public static let budgetBytes: Int = {
        if let v = getenv("GRAFT_WINOGRAD_CACHE_MB"), let mb = Int(String(cString: v)), mb >= 0 { return mb << 20 }
        return 1 << 30
    }()

    /// An empty cache: the first forward pass given it transforms the weights.
    public init() {}

    deinit { invalidate() }

    /// Bytes held: 144·in·out once a Winograd forward pass has run within the budget, else 0.
    public var bytes: Int { (weights?.count ?? 0) * MemoryLayout<Float>.stride }

    /// Drops the transformed weights; the next forward pass transforms afresh.
    public func invalidate() {
        if weights != nil { CacheBudget.shared.give(bytes) }
        weights = nil
    }

    /// The transform of `weight` for `shape`, made on first use and kept when the budget allows;
    /// nil when it could not be made.
    func transformed(_ shape: graft_conv_shape, weight: Tensor) -> Tensor? {
        var shape = shape
        let floats = Int(graft_winograd_weight_floats(&shape))
        if let weights, weights.count == floats { return weights }
        invalidate()
        var u = Tensor(uninitializedShape: [floats])
        guard graft_winograd_transform_weights(&shape, weight.pointer, u.mutablePointer()) == 0 else { return nil }
        if CacheBudget.shared.take(floats * MemoryLayout<Float>.stride, limit: Self.budgetBytes) { weights = u }
        return u
    }
}

/// The bytes every `WinogradWeightCache` holds, against their common budget.
private final class CacheBudget: @unchecked Sendable {
    static let shared = CacheBudget()
    private var mutex = pthread_mutex_t()
    private var held = 0

    init() { pthread_mutex_init(&mutex, nil) }

    /// Counts `bytes` in and returns true when they fit under `limit`.
    func take(_ bytes: Int, limit: Int) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard held + bytes <= limit else { return false }
        held += bytes
        return true
    }

    func give(_ bytes: Int) {
        pthread_mutex_lock(&mutex)
        held -= bytes
        pthread_mutex_unlock(&mutex)
    }
}
