// The decode path's matrix product on AVX2 (with FMA and F16C): weight tiles (tiles.c) against
// activations held as 16-bit integers with a scale per block of 32 (quantize16 in llama.c).
//
// A tile's 16 rows are two halves of 8, one 256-bit register each: a half's 16 bytes of a piece widen
// to 16-bit lanes in which the 32-bit lane r holds elements (2p, 2p+1) of row r, and VPMADDWD takes
// them against the pair (x[2p], x[2p+1]) broadcast to every lane, so lane r gathers row r's products
// and no sum is folded across lanes. A block's scales then apply lane by lane as the AVX-512 kernel
// applies them (the same operations in the same order on each lane, the integer sums being exact), so
// both give the same floats. Two rows of x pass each tile's blocks together, both halves at once: each
// broadcast pair of x serves both halves, and the sums of four (x row, half) pairs, their integer sums,
// the widened quants and the broadcasts fill the sixteen registers.
#include "ckernels.h"
#include "simd.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TILES_AVX2 __attribute__((target("avx2,fma,f16c")))

enum { TILE = 16 };

/// The pair of 16-bit values at x in every 32-bit lane.
static inline TILES_AVX2 __m256i pair_of(const int16_t *x) {
    int32_t pair;
    memcpy(&pair, x, sizeof pair);
    return _mm256_set1_epi32(pair);
}

/// One tile against H ≤ 2 rows of x (`k` values apart, their scales and sums `blocks` apart):
/// out[i][0 … 15]. Each lane's sum runs over the blocks in order, whatever H is.
static inline __attribute__((always_inline)) TILES_AVX2 void tile_rows(
    const int type, const int H, const uint8_t *tile, size_t blocks, const int16_t *x, size_t k, const float *scales, const float *sums,
    float *out, size_t ldo) {
    const size_t tile_bytes = atr_tile_block_bytes(type), quants_at = atr_tile_quants_at(type);
    __m256 acc[2][2];
    for (int i = 0; i < H; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi16(15);
    for (size_t b = 0; b < blocks; b++, tile += tile_bytes) {
        // The tiles stream from memory in order; ask eight blocks ahead.
        for (size_t line = 0; line < tile_bytes; line += 64) _mm_prefetch((const char *)(tile + 8 * tile_bytes + line), _MM_HINT_T0);
        __m256i total[2][2];
        for (int i = 0; i < H; i++) total[i][0] = total[i][1] = _mm256_setzero_si256();
        const int16_t *xb = x + b * 32;
        if (type == 8) {
#pragma clang loop unroll(full)
            for (int p = 0; p < 16; p++) {
                const uint8_t *piece = tile + quants_at + 32 * p;
                const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)piece));
                const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(piece + 16)));
#pragma clang loop unroll(full)
                for (int i = 0; i < H; i++) {
                    const __m256i pair = pair_of(xb + i * k + 2 * p);
                    total[i][0] = _mm256_add_epi32(total[i][0], _mm256_madd_epi16(w0, pair));
                    total[i][1] = _mm256_add_epi32(total[i][1], _mm256_madd_epi16(w1, pair));
                }
            }
        } else {
#pragma clang loop unroll(full)
            for (int s = 0; s < 8; s++) {
                const uint8_t *piece = tile + quants_at + 32 * s;
                const __m256i bytes0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)piece));
                const __m256i bytes1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(piece + 16)));
                const __m256i low0 = _mm256_and_si256(bytes0, nibble), high0 = _mm256_srli_epi16(bytes0, 4);
                const __m256i low1 = _mm256_and_si256(bytes1, nibble), high1 = _mm256_srli_epi16(bytes1, 4);
#pragma clang loop unroll(full)
                for (int i = 0; i < H; i++) {
                    const __m256i first = pair_of(xb + i * k + 2 * s);
                    const __m256i second = pair_of(xb + i * k + 16 + 2 * s);
                    total[i][0] = _mm256_add_epi32(total[i][0], _mm256_add_epi32(_mm256_madd_epi16(low0, first), _mm256_madd_epi16(high0, second)));
                    total[i][1] = _mm256_add_epi32(total[i][1], _mm256_add_epi32(_mm256_madd_epi16(low1, first), _mm256_madd_epi16(high1, second)));
                }
            }
        }
#pragma clang loop unroll(full)
        for (int half = 0; half < 2; half++) {
            const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 16 * half)));
#pragma clang loop unroll(full)
            for (int i = 0; i < H; i++) {
                const __m256 scaled = _mm256_mul_ps(_mm256_cvtepi32_ps(total[i][half]), _mm256_set1_ps(scales[i * blocks + b]));
                acc[i][half] = _mm256_fmadd_ps(scaled, d, acc[i][half]);
            }
            if (type != 8) {
                const __m256 minimum = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 32 + 16 * half)));
#pragma clang loop unroll(full)
                for (int i = 0; i < H; i++) acc[i][half] = _mm256_fmadd_ps(minimum, _mm256_set1_ps(sums[i * blocks + b]), acc[i][half]);
            }
        }
    }
    for (int i = 0; i < H; i++) {
        _mm256_storeu_ps(out + i * ldo, acc[i][0]);
        _mm256_storeu_ps(out + i * ldo + 8, acc[i][1]);
    }
}

static TILES_AVX2 void tiles_of_type(const int type, const uint8_t *tiles, size_t k, size_t t0, size_t t1, const int16_t *x, const float *scales,
                                     const float *sums, size_t m, float *out, size_t ldo) {
    const size_t blocks = k / 32, tile_bytes = atr_tile_block_bytes(type);
    for (size_t t = t0; t < t1; t++) {
        const uint8_t *tile = tiles + t * blocks * tile_bytes;
        // Rows of x two at a time; the tile's blocks come from L1 or L2 after the first pair.
        size_t i = 0;
        for (; i + 2 <= m; i += 2) tile_rows(type, 2, tile, blocks, x + i * k, k, scales + i * blocks, sums + i * blocks, out + i * ldo + t * TILE, ldo);
        if (i < m) tile_rows(type, 1, tile, blocks, x + i * k, k, scales + i * blocks, sums + i * blocks, out + i * ldo + t * TILE, ldo);
    }
}

void atr_qlinear_tiles_avx2(int type, const void *tiles, size_t k, size_t r0, size_t r1, const int16_t *values, const float *scales, const float *sums,
                            size_t m, float *out, size_t ldo) {
    if (type == 8) tiles_of_type(8, tiles, k, r0 / TILE, r1 / TILE, values, scales, sums, m, out, ldo);
    else tiles_of_type(3, tiles, k, r0 / TILE, r1 / TILE, values, scales, sums, m, out, ldo);
}
#endif
