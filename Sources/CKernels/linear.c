// Linear layers on weights packed once at load, in panels of 16 outputs that each hold [inputs][16]:
// the kernel reads a panel front to back while it broadcasts the inputs, so nothing is packed per
// call (a BLAS GEMM packs both operands on every call) and one kernel serves every batch size, from
// a single token, where the weights stream from memory, to a large batch, where a panel stays in L1
// while blocks of rows pass it. The bias starts the sums and GELU is applied before the store.
#include "ckernels.h"
#include "simd.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

enum { PANEL = 16, MAX_ROWS = 6 };

size_t atr_packed_size(size_t n, size_t k) {
    return (n + PANEL - 1) / PANEL * PANEL * k;
}

void atr_pack_linear(const float *w, size_t n, size_t k, float *packed) {
    const size_t panels = (n + PANEL - 1) / PANEL;
    for (size_t p = 0; p < panels; p++) {
        float *panel = packed + p * k * PANEL;
        for (size_t c = 0; c < PANEL; c++) {
            const size_t j = p * PANEL + c;
            for (size_t q = 0; q < k; q++) panel[q * PANEL + c] = j < n ? w[j * k + q] : 0;
        }
    }
}

/// Rows per block for `remaining` rows still to do in `blocks` blocks: as even as possible, so a
/// short batch gets blocks of 5, 5 and 4 rather than 6, 6 and 2 (each row is an independent chain
/// of sums, and few chains leave the FMA units waiting).
static inline size_t block_rows(size_t remaining, size_t blocks) {
    return (remaining + blocks - 1) / blocks;
}

static inline float gelu1(float x) {
    return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
}

/// The portable block: up to MAX_ROWS rows by one panel, written to `out` (`cols` ≤ 16 columns).
static void block_portable(const float *x, size_t ldx, size_t rows, size_t k, const float *panel, const float *bias, int gelu, float *out, size_t ldo, size_t cols) {
    float sums[MAX_ROWS][PANEL];
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < PANEL; c++) sums[r][c] = bias[c];
    for (size_t q = 0; q < k; q++) {
        const float *w = panel + q * PANEL;
        for (size_t r = 0; r < rows; r++) {
            const float v = x[r * ldx + q];
            for (size_t c = 0; c < PANEL; c++) sums[r][c] += v * w[c];
        }
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) out[r * ldo + c] = gelu ? gelu1(sums[r][c]) : sums[r][c];
}

#if defined(__x86_64__)
/// R rows by one panel: 2·R accumulators, two panel loads and R broadcasts per input.
static inline __attribute__((always_inline)) AVX2 void block_avx2(
    const float *x, size_t ldx, const int R, size_t k, const float *panel, const float *bias, int gelu, float *out, size_t ldo, size_t cols) {
    __m256 low[MAX_ROWS], high[MAX_ROWS];
    const __m256 bias_low = _mm256_loadu_ps(bias), bias_high = _mm256_loadu_ps(bias + 8);
    for (int r = 0; r < R; r++) {
        low[r] = bias_low;
        high[r] = bias_high;
    }
    // Unrolled four times: the loop's own instructions otherwise crowd the FMAs out of the front
    // end (about 15% on short batches, measured).
#pragma clang loop unroll_count(4)
    for (size_t q = 0; q < k; q++) {
        const __m256 w_low = _mm256_load_ps(panel + q * PANEL), w_high = _mm256_load_ps(panel + q * PANEL + 8);
        for (int r = 0; r < R; r++) {
            const __m256 v = _mm256_broadcast_ss(x + r * ldx + q);
            low[r] = _mm256_fmadd_ps(v, w_low, low[r]);
            high[r] = _mm256_fmadd_ps(v, w_high, high[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        if (gelu) {
            low[r] = gelu8(low[r]);
            high[r] = gelu8(high[r]);
        }
        if (cols == PANEL) {
            _mm256_storeu_ps(out + r * ldo, low[r]);
            _mm256_storeu_ps(out + r * ldo + 8, high[r]);
        } else {
            float row[PANEL];
            _mm256_storeu_ps(row, low[r]);
            _mm256_storeu_ps(row + 8, high[r]);
            memcpy(out + r * ldo, row, cols * sizeof(float));
        }
    }
}

static AVX2 void block_any_avx2(const float *x, size_t ldx, size_t rows, size_t k, const float *panel, const float *bias, int gelu, float *out, size_t ldo, size_t cols) {
    switch (rows) {
    case 6: return block_avx2(x, ldx, 6, k, panel, bias, gelu, out, ldo, cols);
    case 5: return block_avx2(x, ldx, 5, k, panel, bias, gelu, out, ldo, cols);
    case 4: return block_avx2(x, ldx, 4, k, panel, bias, gelu, out, ldo, cols);
    case 3: return block_avx2(x, ldx, 3, k, panel, bias, gelu, out, ldo, cols);
    case 2: return block_avx2(x, ldx, 2, k, panel, bias, gelu, out, ldo, cols);
    default: return block_avx2(x, ldx, 1, k, panel, bias, gelu, out, ldo, cols);
    }
}
#endif

void atr_apply_panel(const float *x, size_t ldx, size_t m, size_t k, const float *panel, const float *bias, float *out, size_t ldo, size_t cols) {
#if defined(__x86_64__)
    const int avx2 = atr_has_avx2();
#else
    const int avx2 = 0;
#endif
    size_t blocks = (m + MAX_ROWS - 1) / MAX_ROWS;
    for (size_t i = 0; i < m; blocks--) {
        const size_t rows = block_rows(m - i, blocks);
#if defined(__x86_64__)
        if (avx2) block_any_avx2(x + i * ldx, ldx, rows, k, panel, bias, 0, out + i * ldo, ldo, cols);
        else
#endif
            block_portable(x + i * ldx, ldx, rows, k, panel, bias, 0, out + i * ldo, ldo, cols);
        i += rows;
    }
    (void)avx2;
}

size_t atr_linear_chunk_rows(size_t k) {
    const size_t rows = (256 * 1024) / (k * sizeof(float) + 1);
    return rows < MAX_ROWS ? MAX_ROWS : rows / MAX_ROWS * MAX_ROWS;
}

void atr_linear_packed(
    const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n, size_t p0, size_t p1, const float *bias, int gelu, float *out, size_t ldo) {
#if defined(__x86_64__)
    const int avx2 = atr_has_avx2();
#else
    const int avx2 = 0;
#endif
    // Rows go in chunks whose inputs stay in L2 while every panel passes them; a panel stays in L1
    // while the chunk's blocks of rows pass it. (Blocking the inputs too, so that a panel's block
    // and the rows fit in L1 together, measured no faster here.)
    const size_t chunk = atr_linear_chunk_rows(k);
    for (size_t i0 = 0; i0 < m; i0 += chunk) {
        const size_t i1 = i0 + chunk < m ? i0 + chunk : m;
        for (size_t p = p0; p < p1; p++) {
            const size_t cols = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
            float panel_bias[PANEL] = {0};
            if (bias) memcpy(panel_bias, bias + p * PANEL, cols * sizeof(float));
            const float *panel = packed + p * k * PANEL;
            size_t blocks = (i1 - i0 + MAX_ROWS - 1) / MAX_ROWS;
            for (size_t i = i0; i < i1; blocks--) {
                const size_t rows = block_rows(i1 - i, blocks);
                float *o = out + i * ldo + p * PANEL;
#if defined(__x86_64__)
                if (avx2) block_any_avx2(x + i * ldx, ldx, rows, k, panel, panel_bias, gelu, o, ldo, cols);
                else
#endif
                    block_portable(x + i * ldx, ldx, rows, k, panel, panel_bias, gelu, o, ldo, cols);
                i += rows;
            }
        }
    }
    (void)avx2;
}
