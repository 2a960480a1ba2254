import GraftTensor

/// Max pooling with symmetric padding (padding acts as −∞). Keeps the arg-max of each window,
/// as Int32 in tensor storage, so that the buffer pool recycles it between steps.
public final class MaxPool2d: Module {
    public let kernel: Int, stride: Int, padding: Int
    private var savedIndices: TensorStorage? = nil
    private var savedInputShape: [Int] = []

    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        let n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3)
        // A window larger than the padded plane has no output; Swift's division would round
        // (h − k)/s up to 0 and give one window reaching outside the plane.
        precondition(
            h + 2 * padding >= kernel && w + 2 * padding >= kernel,
            "MaxPool2d: a \(h)×\(w) input is smaller than the \(kernel)×\(kernel) window (padding \(padding))")
        let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
        var output = Tensor(uninitializedShape: [n, c, oh, ow])
        let keep = mode != .none
        let indices = keep ? TensorStorage(count: n * c * oh * ow) : nil
        let x = input.pointer, y = output.mutablePointer()
        let kernel = kernel, stride = stride, padding = padding
        Self.withIndices(indices) { idx in
            Elementwise.forUnits(n * c, workPerUnit: h * w) { firstPlane, lastPlane in
                for plane in firstPlane..<lastPlane {
                    let src = x + plane * h * w, dst = y + plane * oh * ow
                    if kernel == 2 && stride == 2 && padding == 0 {
                        Self.pool2x2(src, w: w, into: dst, oh: oh, ow: ow, indices: idx.map { $0 + plane * oh * ow })
                        continue
                    }
                    if kernel == 3 && stride == 2 && padding == 1 {
                        Self.pool3x3Stride2(
                            src, h: h, w: w, into: dst, oh: oh, ow: ow,
                            indices: keep ? idx! + plane * oh * ow : nil)
                        continue
                    }
                    for oy in 0..<oh {
                        let y0 = max(0, oy * stride - padding), y1 = min(h, oy * stride - padding + kernel)
                        for ox in 0..<ow {
                            let x0 = max(0, ox * stride - padding), x1 = min(w, ox * stride - padding + kernel)
                            let (best, at) = Self.windowMaximum(src, width: w, rows: y0..<y1, columns: x0..<x1)
                            dst[oy * ow + ox] = best
                            if keep { idx![plane * oh * ow + oy * ow + ox] = Int32(at) }
                        }
                    }
                }
            }
        }
        savedIndices = indices
        savedInputShape = input.shape
        return output
    }

    /// Runs `body` with the storage's memory seen as Int32 (the same size as Float), nil for none.
    private static func withIndices<R>(
        _ storage: TensorStorage?, _ body: (UnsafeMutablePointer<Int32>?) -> R
    ) -> R {
        guard let storage else { return body(nil) }
        return storage.pointer.withMemoryRebound(to: Int32.self, capacity: storage.count) { body($0) }
    }

    /// The common 2×2 stride-2 window for one plane, four windows at a time in SIMD lanes (a
    /// branch per comparison mispredicts half the time on real activations); same order and NaN
    /// rule as the general loop: the first maximum wins, NaN propagates.
    private static func pool2x2(
        _ src: UnsafePointer<Float>, w: Int, into dst: UnsafeMutablePointer<Float>, oh: Int, ow: Int,
        indices: UnsafeMutablePointer<Int32>?
    ) {
        let lanes = SIMD4<Int32>(0, 2, 4, 6)
        for oy in 0..<oh {
            let r0 = src + 2 * oy * w, r1 = r0 + w, out = dst + oy * ow
            let top = Int32(2 * oy * w), bottom = Int32((2 * oy + 1) * w)
            var ox = 0
            while ox + 4 <= ow && 2 * ox + 8 <= w {
                let i0 = 2 * ox
                let upper = UnsafeRawPointer(r0 + i0).loadUnaligned(as: SIMD8<Float>.self)
                let lower = UnsafeRawPointer(r1 + i0).loadUnaligned(as: SIMD8<Float>.self)
                var best = upper.evenHalf, at = lanes &+ (top &+ Int32(i0))
                func visit(_ v: SIMD4<Float>, _ i: SIMD4<Int32>) {
                    let wins = (v .> best) .| (v .!= v)
                    best.replace(with: v, where: wins)
                    at.replace(with: i, where: wins)
                }
                visit(upper.oddHalf, lanes &+ (top &+ Int32(i0 + 1)))
                visit(lower.evenHalf, lanes &+ (bottom &+ Int32(i0)))
                visit(lower.oddHalf, lanes &+ (bottom &+ Int32(i0 + 1)))
                UnsafeMutableRawPointer(out + ox).storeBytes(of: best, as: SIMD4<Float>.self)
                if let indices { UnsafeMutableRawPointer(indices + oy * ow + ox).storeBytes(of: at, as: SIMD4<Int32>.self) }
                ox += 4
            }
            while ox < ow {
                let i0 = 2 * ox
                var best = r0[i0], at = top + Int32(i0)
                func visit(_ v: Float, _ i: Int32) {
                    if v > best || v.isNaN { best = v; at = i }
                }
                visit(r0[i0 + 1], top + Int32(i0 + 1))
                visit(r1[i0], bottom + Int32(i0))
                visit(r1[i0 + 1], bottom + Int32(i0 + 1))
                out[ox] = best
                indices?[oy * ow + ox] = at
                ox += 1
            }
        }
    }

    /// The maximum of a window and its position (row-major scan: the first maximum wins, NaN
    /// propagates as in PyTorch).
    @inline(__always)
    private static func windowMaximum(
        _ src: UnsafePointer<Float>, width w: Int, rows: Range<Int>,
        columns: Range<Int>
    ) -> (Float, Int) {
        var best = -Float.infinity, at = rows.lowerBound * w + columns.lowerBound
        for iy in rows {
            for ix in columns {
                let v = src[iy * w + ix]
                if v > best || v.isNaN { best = v; at = iy * w + ix }
            }
        }
        return (best, at)
    }

    /// ResNet's stem pooling (3×3, stride 2, padding 1) for one plane: windows wholly inside the
    /// image skip the bounds checks. Same scan order and NaN rule as the general loop, so the
    /// same values and arg-max indices.
    private static func pool3x3Stride2(
        _ src: UnsafePointer<Float>, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>, oh: Int, ow: Int,
        indices: UnsafeMutablePointer<Int32>?
    ) {
        // Output columns whose window columns 2·ox−1 … 2·ox+1 are all inside the row.
        let innerStart = 1, innerEnd = max(1, min(ow, (w - 2) / 2 + 1))
        for oy in 0..<oh {
            let y0 = max(0, 2 * oy - 1), y1 = min(h, 2 * oy + 2)
            func window(_ ox: Int) {
                let (best, at) = windowMaximum(
                    src, width: w, rows: y0..<y1, columns: max(0, 2 * ox - 1)..<min(w, 2 * ox + 2))
                dst[oy * ow + ox] = best
                indices?[oy * ow + ox] = Int32(at)
            }
            window(0)
            if y1 - y0 == 3 {
                let r0 = src + y0 * w, r1 = r0 + w, r2 = r1 + w
                for ox in innerStart..<innerEnd {
                    let x0 = 2 * ox - 1
                    var best = r0[x0], at = x0
                    @inline(__always) func visit(_ v: Float, _ i: Int) {
                        if v > best || v.isNaN { best = v; at = i }
                    }
                    visit(r0[x0 + 1], x0 + 1); visit(r0[x0 + 2], x0 + 2)
                    visit(r1[x0], w + x0); visit(r1[x0 + 1], w + x0 + 1); visit(r1[x0 + 2], w + x0 + 2)
                    visit(r2[x0], 2 * w + x0); visit(r2[x0 + 1], 2 * w + x0 + 1); visit(r2[x0 + 2], 2 * w + x0 + 2)
                    dst[oy * ow + ox] = best
                    indices?[oy * ow + ox] = Int32(y0 * w + at)
                }
            } else {
                for ox in innerStart..<innerEnd { window(ox) }
            }
            for ox in max(innerStart, innerEnd)..<ow { window(ox) }
        }
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        guard let indices = savedIndices else { preconditionFailure("MaxPool2d.backward without a forward that kept its indices") }
        defer { savedIndices = nil }
        var g = Tensor(uninitializedShape: savedInputShape)
        let hw = savedInputShape[2] * savedInputShape[3]
        let outHW = outputGradient.size(2) * outputGradient.size(3)
        let dy = outputGradient.pointer, dx = g.mutablePointer()
        Self.withIndices(indices) { idx in
            let idx = idx!
            Elementwise.forUnits(savedInputShape[0] * savedInputShape[1], workPerUnit: hw) { first, end in
                for plane in first..<end {
                    let gradient = dx + plane * hw, window = idx + plane * outHW, upstream = dy + plane * outHW
                    gradient.update(repeating: 0, count: hw)
                    for j in 0..<outHW { gradient[Int(window[j])] += upstream[j] }
                }
            }
        }
        return g
    }

    public override func clearSaved() { savedIndices = nil }
}

/// PyTorch's `AdaptiveAvgPool2d`: output cell i averages input rows
/// ⌊i·H/out⌋ ..< ⌈(i+1)·H/out⌉ (and the same for columns).
public final class AdaptiveAvgPool2d: Module {
    public let outputHeight: Int, outputWidth: Int
    private var savedInputShape: [Int] = []

    public init(_ outputHeight: Int, _ outputWidth: Int) {
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
    }

    public convenience init(_ size: Int) { self.init(size, size) }

    private func bounds(_ i: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int) {
        (i * inSize / outSize, ((i + 1) * inSize + outSize - 1) / outSize)
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        let n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3)
        var output = Tensor(uninitializedShape: [n, c, outputHeight, outputWidth])
        let x = input.pointer, y = output.mutablePointer()
        for plane in 0..<(n * c) {
            let src = x + plane * h * w, dst = y + plane * outputHeight * outputWidth
            for oy in 0..<outputHeight {
                let (y0, y1) = bounds(oy, h, outputHeight)
                for ox in 0..<outputWidth {
                    let (x0, x1) = bounds(ox, w, outputWidth)
                    var s: Float = 0
                    for iy in y0..<y1 { for ix in x0..<x1 { s += src[iy * w + ix] } }
                    dst[oy * outputWidth + ox] = s / Float((y1 - y0) * (x1 - x0))
                }
            }
        }
        savedInputShape = input.shape
        return output
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        let n = savedInputShape[0], c = savedInputShape[1], h = savedInputShape[2], w = savedInputShape[3]
        var g = Tensor(shape: savedInputShape, repeating: 0)
        let dy = outputGradient.pointer, dx = g.mutablePointer()
        for plane in 0..<(n * c) {
            let src = dy + plane * outputHeight * outputWidth, dst = dx + plane * h * w
            for oy in 0..<outputHeight {
                let (y0, y1) = bounds(oy, h, outputHeight)
                for ox in 0..<outputWidth {
                    let (x0, x1) = bounds(ox, w, outputWidth)
                    let v = src[oy * outputWidth + ox] / Float((y1 - y0) * (x1 - x0))
                    for iy in y0..<y1 { for ix in x0..<x1 { dst[iy * w + ix] += v } }
                }
            }
        }
        return g
    }
}
