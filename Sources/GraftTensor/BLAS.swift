import CBLAS
import CDNNL

/// The one place Graft calls BLAS. Row-major sgemm: `C = alpha·op(A)·op(B) + beta·C`.
public enum BLAS {
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = threadPolicy
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// When convolutions run in oneDNN, BLAS only sees small products (linear layers): one
    /// OpenBLAS thread then, so its spinning workers never compete with oneDNN's OpenMP team.
    /// With `GRAFT_CONV=im2col`, OpenBLAS keeps its default threads.
    static let threadPolicy: Void = {
        if ConvKernels.defaultBackend.isOneDNN { openblas_set_num_threads(1) }
    }()

    /// Threads OpenBLAS may use for one call.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// The same product through oneDNN's JIT sgemm (AVX-512 where the CPU has it). Only the
    /// benchmarks use it, to measure the machine's sgemm peak beside OpenBLAS's.
    /// Returns false when oneDNN is unavailable.
    public static func oneDNNGemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> Bool {
        graft_dnnl_sgemm(
            CChar(UInt8(ascii: transA ? "T" : "N")), CChar(UInt8(ascii: transB ? "T" : "N")),
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0
    }
}
