import CGraftKernels

/// Elementwise kernels over raw float buffers, split across the cores when the buffer is large
/// enough to pay for the hand-off. Inner loops are plain indexed loops the compiler vectorises.
public enum Elementwise {
    /// Threads used for elementwise work: oneDNN's OpenMP team, so that convolutions and the
    /// loops between them share one set of threads instead of two pools competing for the cores
    /// (in a build without oneDNN, the pool Graft's Winograd runs on; `graft_kernels.h`).
    public static let threads = Int(graft_parallel_threads())
    /// Below this many elements a loop runs on the calling thread.
    static let parallelThreshold = 1 << 15

    /// Runs `body(start, end)` over `0..<count` in contiguous chunks, in parallel when large.
    /// Chunk boundaries are multiples of `granule` (e.g. a channel plane); chunks never overlap.
    @inline(__always)
    public static func forChunks(_ count: Int, granule: Int = 1, _ body: (Int, Int) -> Void) {
        if threads < 2 || count < parallelThreshold || count <= granule {
            body(0, count)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var work = escaping
            withUnsafeMutablePointer(to: &work) { context in
                graft_parallel_chunks(
                    count, max(1, granule),
                    { context, start, end in
                        context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(start), Int(end))
                    }, context)
            }
        }
    }

    /// Runs `body(start, end)` over ranges of `0..<units` (channels, image planes), in parallel
    /// when `units · workPerUnit` elements are worth splitting.
    @inline(__always)
    public static func forUnits(_ units: Int, workPerUnit: Int, _ body: (Int, Int) -> Void) {
        if threads < 2 || units < 2 || units * workPerUnit < parallelThreshold {
            body(0, units)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var work = escaping
            withUnsafeMutablePointer(to: &work) { context in
                graft_parallel_chunks(
                    units, 1,
                    { context, start, end in
                        context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(start), Int(end))
                    }, context)
            }
        }
    }

    /// `x = max(0, x)` in place.
    /// Written `x < 0 ? 0 : x` so a NaN passes through, as PyTorch's ReLU lets it.
    public static func relu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        forChunks(count) { s, e in
            for i in s..<e { x[i] = x[i] < 0 ? 0 : x[i] }
        }
    }

    /// `y = max(0, x)`.
    public static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        forChunks(count) { s, e in
            for i in s..<e { y[i] = x[i] < 0 ? 0 : x[i] }
        }
    }

    /// `dx = y > 0 ? dy : 0` (ReLU backward from its output).
    public static func reluBackward(
        output y: UnsafePointer<Float>, gradient dy: UnsafePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        forChunks(count) { s, e in
            // Both loads unconditional, so the select vectorises.
            for i in s..<e {
                let g = dy[i]
                dx[i] = y[i] > 0 ? g : 0
            }
        }
    }

    /// `y += x`.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        forChunks(count) { s, e in
            for i in s..<e { y[i] += x[i] }
        }
    }

    /// `y = max(0, y + x)`: a residual sum and its ReLU in one pass.
    public static func addReLU(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        forChunks(count) { s, e in
            for i in s..<e {
                let v = y[i] + x[i]
                y[i] = v < 0 ? 0 : v
            }
        }
    }

    /// Per-channel affine map of NCHW data: `y = x·scale[c] + shift[c]`, optionally followed by
    /// ReLU. `planes` = N·C, each of `planeSize` elements, channel = plane mod `channels`.
    public static func channelAffine(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, planes: Int, planeSize: Int, channels: Int,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, relu: Bool = false
    ) {
        forChunks(planes * planeSize, granule: planeSize) { s, e in
            var plane = s / planeSize
            while plane * planeSize < e {
                let c = plane % channels
                let a = scale[c], b = shift[c]
                let src = x + plane * planeSize, dst = y + plane * planeSize
                if relu {
                    for j in 0..<planeSize {
                        let v = src[j] * a + b
                        dst[j] = v > 0 ? v : 0
                    }
                } else {
                    for j in 0..<planeSize { dst[j] = src[j] * a + b }
                }
                plane += 1
            }
        }
    }
}
