// The prompt path's matrix product on AVX-512, fp32 throughout: out[i][r] = x[i] · w[r].
//
// The weight rows of a task are widened once per call, 16 at a time, into a buffer laid out as the
// file lays them out (row after row, so widening writes memory in order: no transposition). Blocks of
// 4 rows of x by 4 weight rows then keep 16 accumulators, each the 16 lane-wise partial sums of one
// (x row, weight row) pair along k, and fold them into 16 results at the end with one shuffle tree.
// Every pair's sums run in the same order whatever else is in the block (a short block's missing
// pairs are zeros), so a row's result never depends on the rows beside it.
#include "ckernels.h"
#include "fold16.h"
#include "simd.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

enum { GROUP = 16, MR = 4, NR = 4, BLOCK = 32 };

static inline AVX512 __m512 half_scale(const uint8_t *block) {
    uint16_t bits;
    memcpy(&bits, block, 2);
    return _mm512_set1_ps(atr_half_to_float(bits));
}

/// One weight row as fp32, exactly as `atr_dequantize_row` computes it (a product, then a sum: no
/// fused multiply-add, so both give the same floats).
static AVX512 void widen_row(int type, const uint8_t *row, size_t k, float *out) {
    switch (type) {
    case 3:  // Q4_1: d·q + m
        for (size_t i = 0; i < k; i += BLOCK, row += 20) {
            const __m512 d = half_scale(row), m = half_scale(row + 2);
            const __m128i q = _mm_loadu_si128((const __m128i *)(row + 4));
            const __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q, _mm_set1_epi8(0x0f))));
            const __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f))));
            _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_mul_ps(d, low), m));
            _mm512_storeu_ps(out + i + 16, _mm512_add_ps(_mm512_mul_ps(d, high), m));
        }
        return;
    case 2:  // Q4_0: d·(q − 8)
        for (size_t i = 0; i < k; i += BLOCK, row += 18) {
            const __m512 d = half_scale(row);
            const __m128i q = _mm_loadu_si128((const __m128i *)(row + 2));
            const __m512i eight = _mm512_set1_epi32(8);
            const __m512 low = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(q, _mm_set1_epi8(0x0f))), eight));
            const __m512 high = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f))), eight));
            _mm512_storeu_ps(out + i, _mm512_mul_ps(d, low));
            _mm512_storeu_ps(out + i + 16, _mm512_mul_ps(d, high));
        }
        return;
    case 8:  // Q8_0: d·q
        for (size_t i = 0; i < k; i += BLOCK, row += 34) {
            const __m512 d = half_scale(row);
            const __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(row + 2))));
            const __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(row + 18))));
            _mm512_storeu_ps(out + i, _mm512_mul_ps(d, low));
            _mm512_storeu_ps(out + i + 16, _mm512_mul_ps(d, high));
        }
        return;
    default:
        atr_dequantize_row(type, row, out, k);
    }
}

/// A block of up to MR rows of x by up to NR weight rows (`w` rows k floats apart), k a multiple of 16.
static inline __attribute__((always_inline)) AVX512 void block(
    const float *x, size_t ldx, int rows, const float *w, int wrows, size_t k, float *out, size_t ldo) {
    __m512 sums[16];
    for (int j = 0; j < 16; j++) sums[j] = _mm512_setzero_ps();
    for (size_t q = 0; q < k; q += 16) {
        __m512 wv[NR];
        for (int c = 0; c < NR; c++) wv[c] = c < wrows ? _mm512_loadu_ps(w + c * k + q) : _mm512_setzero_ps();
        for (int r = 0; r < MR; r++) {
            if (r >= rows) break;
            const __m512 xv = _mm512_loadu_ps(x + r * ldx + q);
            for (int c = 0; c < NR; c++) sums[r * NR + c] = _mm512_fmadd_ps(xv, wv[c], sums[r * NR + c]);
        }
    }
    float folded[16];
    _mm512_storeu_ps(folded, atr_fold16(sums));
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < wrows; c++) out[r * ldo + c] = folded[r * NR + c];
}

static AVX512 void block_full(const float *x, size_t ldx, const float *w, size_t k, float *out, size_t ldo) {
    block(x, ldx, MR, w, NR, k, out, ldo);
}

static AVX512 void block_partial(const float *x, size_t ldx, int rows, const float *w, int wrows, size_t k, float *out, size_t ldo) {
    block(x, ldx, rows, w, wrows, k, out, ldo);
}

AVX512 void atr_qlinear_prompt_avx512(
    int type, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo) {
    float *buffer = type == 0 ? NULL : aligned_alloc(64, GROUP * k * sizeof(float));
    for (size_t p = r0; p < r1; p += GROUP) {
        const size_t count = r1 - p < GROUP ? r1 - p : GROUP;
        const float *w;
        if (buffer) {
            for (size_t c = 0; c < count; c++) widen_row(type, weights + (p + c) * stride, k, buffer + c * k);
            w = buffer;
        } else {
            w = (const float *)(weights + p * stride);  // F32 rows are used as they lie
        }
        for (size_t i = 0; i < m; i += MR) {
            const int rows = m - i < MR ? (int)(m - i) : MR;
            for (size_t c = 0; c < count; c += NR) {
                const int wrows = count - c < NR ? (int)(count - c) : NR;
                if (rows == MR && wrows == NR) block_full(x + i * ldx, ldx, w + c * k, k, out + i * ldo + p + c, ldo);
                else block_partial(x + i * ldx, ldx, rows, w + c * k, wrows, k, out + i * ldo + p + c, ldo);
            }
        }
    }
    free(buffer);
}
#endif
