import CKernels

/// Which of the engine's kernels serve in this process: every kind the CPU has (`auto`), or AVX2 with FMA
/// and F16C at most (`avx2`), as on the many CPUs without AVX-512 (AMD Zen 2 and 3, most Intel desktop
/// parts), so that their figures can be measured on any machine. Chosen before a model loads: loading
/// lays the weights out for the kernels that will read them.
public enum KernelSet: String, Sendable, CaseIterable {
    case auto, avx2

    public static func use(_ set: KernelSet) {
        atr_allow_avx512_kernels(set == .auto ? 1 : 0)
    }

    /// The kernels that serve the decode path now: "avx512-vnni", "avx2" or "portable".
    public static var serving: String {
        atr_has_avx512_vnni() != 0 ? "avx512-vnni" : atr_has_avx2() != 0 ? "avx2" : "portable"
    }
}
