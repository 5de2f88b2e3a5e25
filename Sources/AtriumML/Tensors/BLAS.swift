#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// The few BLAS calls the engine makes, row-major.
public enum BLAS {
    /// Threads OpenBLAS may use for one call. Its pool spins while waiting, so the engine makes one
    /// call at a time and gives it every core.
    public static func setThreads(_ count: Int) {
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(count))
        #endif
    }

    /// C[m×n] = alpha · A[m×k] · op(B) + beta · C, where op(B) is B[k×n], or Bᵀ when B is stored
    /// [n×k] (`transposeB`, the layout of a linear layer's weights). Leading dimensions default to
    /// packed rows.
    public static func gemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int? = nil, b: UnsafePointer<Float>, ldb: Int? = nil, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil, alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda ?? k), b,
            Int32(ldb ?? (transposeB ? k : n)), beta, c, Int32(ldc ?? n))
    }
}
