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
#include "kernels.h"
#include "tile_layout.h"

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

/// One block of 32 as fp32, exactly as `atr_dequantize_row` computes it (a product, then a sum: no fused
/// multiply-add, so both give the same floats), from its scale, Q4_1's minimum and its quants in the
/// file's byte order.
static inline __attribute__((always_inline)) AVX512 void widen_block(int type, const uint8_t *scale, const uint8_t *minimum, const uint8_t *quants, float *out) {
    const __m512 d = half_scale(scale);
    if (type == 8) {  // Q8_0: d·q
        _mm512_storeu_ps(out, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)quants)))));
        _mm512_storeu_ps(out + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(quants + 16))))));
        return;
    }
    // A 4-bit block's byte j holds elements j (low nibble) and j + 16 (high nibble).
    const __m128i q = _mm_loadu_si128((const __m128i *)quants);
    __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q, _mm_set1_epi8(0x0f))));
    __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f))));
    if (type == 3) {  // Q4_1: d·q + m
        const __m512 m = half_scale(minimum);
        _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(d, low), m));
        _mm512_storeu_ps(out + 16, _mm512_add_ps(_mm512_mul_ps(d, high), m));
        return;
    }
    // Q4_0: d·(q − 8)
    low = _mm512_sub_ps(low, _mm512_set1_ps(8));
    high = _mm512_sub_ps(high, _mm512_set1_ps(8));
    _mm512_storeu_ps(out, _mm512_mul_ps(d, low));
    _mm512_storeu_ps(out + 16, _mm512_mul_ps(d, high));
}

/// One weight row in the file's layout as fp32.
static AVX512 void widen_row(int type, const uint8_t *row, size_t k, float *out) {
    if (type != 2 && type != 3 && type != 8) return atr_dequantize_row(type, row, out, k);
    const size_t size = type == 3 ? 20 : type == 2 ? 18 : 34;
    for (size_t i = 0; i < k; i += BLOCK, row += size) widen_block(type, row, row + 2, row + (type == 3 ? 4 : 2), out + i);
}

/// The 16 weight rows of one tile (see tiles.c; `tile` at its first block) as fp32, the same floats as
/// widen_row gives for the rows in the file's layout: a pair of quants of every row lies in each 32-byte
/// piece, and gathering a row's pairs gives back the file's byte order.
static AVX512 void widen_tile(int type, const uint8_t *tile, size_t k, float *out) {
    const size_t blocks = k / 32;
    for (size_t b = 0; b < blocks; b++, tile += atr_tile_block_bytes(type)) {
        for (int r = 0; r < 16; r++) {
            uint8_t quants[32];
            for (int p = 0; p < atr_tile_pieces(type); p++) memcpy(quants + 2 * p, tile + atr_tile_quants_at(type) + 32 * p + 2 * r, 2);
            widen_block(type, tile + 2 * r, tile + 32 + 2 * r, quants, out + r * k + 32 * b);
        }
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
    const int tiled = type & ATR_TILED;
    type &= ~ATR_TILED;
    float *buffer = type == 0 ? NULL : aligned_alloc(64, GROUP * k * sizeof(float));
    for (size_t p = r0; p < r1; p += GROUP) {
        const size_t count = r1 - p < GROUP ? r1 - p : GROUP;
        const float *w;
        if (tiled) {
            // A tiled matrix's rows and tasks come in whole tiles of 16.
            widen_tile(type, weights + p / 16 * (k / 32) * atr_tile_block_bytes(type), k, buffer);
            w = buffer;
        } else if (buffer) {
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
