import CBLAS
import CGraftKernels
#if GRAFT_DNNL
import CDNNL
#endif

/// The one place Graft calls BLAS. Row-major sgemm: `C = alpha·op(A)·op(B) + beta·C`.
public enum BLAS {
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = threadPolicy
        #if GRAFT_DNNL
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        #else
        guard Elementwise.threads > 1, n >= 2 * columnGranule, m * n * k >= splitWork else {
            cblas_sgemm(
                CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        // Columns [start, end) of C: those of op(B), which start `start` floats in, or rows in
        // when B is transposed.
        forColumns(n) { start, end in
            cblas_sgemm(
                CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(end - start), Int32(k), alpha, a, Int32(lda), b + (transB ? start * ldb : start),
                Int32(ldb), beta, c + start, Int32(ldc))
        }
        #endif
    }

    #if !GRAFT_DNNL
    /// Without oneDNN, OpenBLAS runs on one thread (`threadPolicy`), and a product of at least
    /// `splitWork` multiply-adds is split by columns of C, in multiples of `columnGranule`, over
    /// Graft's threads: the threads Graft's Winograd runs on, each worker multiplying on its own.
    /// The split depends only on the shapes and the thread count, so results are the same from
    /// run to run whatever else the process runs.
    static let columnGranule = 16
    static let splitWork = 1 << 18

    /// Runs `body(start, end)` over `0..<n` in one range of whole `columnGranule`s per thread.
    static func forColumns(_ n: Int, _ body: (Int, Int) -> Void) {
        withoutActuallyEscaping(body) { escaping in
            var work = escaping
            withUnsafeMutablePointer(to: &work) { context in
                graft_parallel_chunks(
                    n, columnGranule,
                    { context, start, end in
                        context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(start), Int(end))
                    }, context)
            }
        }
    }
    #endif

    /// When convolutions run in oneDNN, BLAS only sees small products (linear layers): one
    /// OpenBLAS thread then, so its spinning workers never compete with oneDNN's OpenMP team.
    /// With `GRAFT_CONV=im2col`, OpenBLAS keeps its default threads. In a build without oneDNN,
    /// always one (`gemm` splits large products over Graft's threads instead).
    static let threadPolicy: Void = {
        #if GRAFT_DNNL
        if ConvKernels.defaultBackend.isOneDNN { openblas_set_num_threads(1) }
        #else
        openblas_set_num_threads(1)
        #endif
    }()

    /// Threads OpenBLAS may use for one call.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// The same product through oneDNN's JIT sgemm (AVX-512 where the CPU has it). Only the
    /// benchmarks use it, to measure the machine's sgemm peak beside OpenBLAS's.
    /// Returns false when oneDNN is unavailable, as it always is in a build without oneDNN.
    public static func oneDNNGemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> Bool {
        #if GRAFT_DNNL
        graft_dnnl_sgemm(
            CChar(UInt8(ascii: transA ? "T" : "N")), CChar(UInt8(ascii: transB ? "T" : "N")),
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0
        #else
        false
        #endif
    }
}
