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
// the widened quants and the broadcasts fill the sixteen registers. Four rows or more pass a half tile
// at a time, which leaves room for the integer sums of four or eight rows.
//
// Prompt positions take the fp32 panel kernel (linear.c), a tile widened into a panel at a time.
#include "ckernels.h"
#include "simd.h"
#include "kernels.h"
#include "tile_layout.h"

#include <stdlib.h>
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

/// One half of a tile (rows 8·half … 8·half + 7) against R = 4 or 8 rows of x: out[i][8·half … 8·half + 7].
/// With R rows to share them, a half's quants widen once for all, and the integer sums of R rows stay in
/// registers (eight rows: a tenth faster than four, the widening spread over twice the products; four: a
/// tenth faster than both halves at two rows a pass). The float sums are touched once a block, so with
/// eight rows they may live in memory. The same operations per lane as tile_rows, in the same order.
/// `ahead` (or NULL): memory asked for a block at a time, block b while block b is multiplied.
static inline __attribute__((always_inline)) TILES_AVX2 void half_tile_rows(
    const int R, const int type, const int half, const uint8_t *tile, const uint8_t *ahead, size_t blocks, const int16_t *x, size_t k,
    const float *scales, const float *sums, float *out, size_t ldo) {
    const size_t tile_bytes = atr_tile_block_bytes(type), quants_at = atr_tile_quants_at(type);
    __m256 acc[8];
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi16(15);
    for (size_t b = 0; b < blocks; b++, tile += tile_bytes) {
        if (ahead)
            for (size_t line = 0; line < tile_bytes; line += 64) _mm_prefetch((const char *)(ahead + b * tile_bytes + line), _MM_HINT_T0);
        __m256i total[8];
        for (int i = 0; i < R; i++) total[i] = _mm256_setzero_si256();
        const int16_t *xb = x + b * 32;
        if (type == 8) {
#pragma clang loop unroll(full)
            for (int p = 0; p < 16; p++) {
                const __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(tile + quants_at + 32 * p + 16 * half)));
#pragma clang loop unroll(full)
                for (int i = 0; i < R; i++) total[i] = _mm256_add_epi32(total[i], _mm256_madd_epi16(w, pair_of(xb + i * k + 2 * p)));
            }
        } else {
#pragma clang loop unroll(full)
            for (int s = 0; s < 8; s++) {
                const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(tile + quants_at + 32 * s + 16 * half)));
                const __m256i low = _mm256_and_si256(bytes, nibble), high = _mm256_srli_epi16(bytes, 4);
#pragma clang loop unroll(full)
                for (int i = 0; i < R; i++) {
                    const __m256i products = _mm256_add_epi32(_mm256_madd_epi16(low, pair_of(xb + i * k + 2 * s)), _mm256_madd_epi16(high, pair_of(xb + i * k + 16 + 2 * s)));
                    total[i] = _mm256_add_epi32(total[i], products);
                }
            }
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 16 * half)));
#pragma clang loop unroll(full)
        for (int i = 0; i < R; i++) {
            const __m256 scaled = _mm256_mul_ps(_mm256_cvtepi32_ps(total[i]), _mm256_set1_ps(scales[i * blocks + b]));
            acc[i] = _mm256_fmadd_ps(scaled, d, acc[i]);
        }
        if (type != 8) {
            const __m256 minimum = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 32 + 16 * half)));
#pragma clang loop unroll(full)
            for (int i = 0; i < R; i++) acc[i] = _mm256_fmadd_ps(minimum, _mm256_set1_ps(sums[i * blocks + b]), acc[i]);
        }
    }
    for (int i = 0; i < R; i++) _mm256_storeu_ps(out + i * ldo + 8 * half, acc[i]);
}

static TILES_AVX2 void tiles_of_type(const int type, const uint8_t *tiles, size_t k, size_t t0, size_t t1, const int16_t *x, const float *scales,
                                     const float *sums, size_t m, float *out, size_t ldo) {
    const size_t blocks = k / 32, tile_bytes = atr_tile_block_bytes(type);
    for (size_t t = t0; t < t1; t++) {
        const uint8_t *tile = tiles + t * blocks * tile_bytes;
        // Rows of x eight, then four at a time, a half tile at a time, then two at a time; the tile's blocks
        // come from L1 or L2 after the first pass. The first pass asks for the tile eight blocks ahead; the
        // second for the next tile, which the passes left then have time to bring in (a tenth faster with
        // 16 rows: the weights come from memory while the cores multiply, not between).
        const uint8_t *ahead[2] = {tile + 8 * tile_bytes, t + 1 < t1 ? tile + blocks * tile_bytes : NULL};
        size_t i = 0;
        for (; i + 8 <= m; i += 8)
            for (int half = 0; half < 2; half++)
                half_tile_rows(8, type, half, tile, i > 0 ? NULL : ahead[half], blocks, x + i * k, k, scales + i * blocks, sums + i * blocks,
                               out + i * ldo + t * TILE, ldo);
        for (; i + 4 <= m; i += 4)
            for (int half = 0; half < 2; half++)
                half_tile_rows(4, type, half, tile, i > 0 ? NULL : ahead[half], blocks, x + i * k, k, scales + i * blocks, sums + i * blocks,
                               out + i * ldo + t * TILE, ldo);
        for (; i + 2 <= m; i += 2) tile_rows(type, 2, tile, blocks, x + i * k, k, scales + i * blocks, sums + i * blocks, out + i * ldo + t * TILE, ldo);
        if (i < m) tile_rows(type, 1, tile, blocks, x + i * k, k, scales + i * blocks, sums + i * blocks, out + i * ldo + t * TILE, ldo);
    }
}

/// One tile's 16 rows widened to fp32 in a panel of the packed layout ([k][16], linear.c), each value
/// exactly as `atr_dequantize_row` computes it (a product, then a sum: no fused multiply-add), so the
/// panel kernel gives the same floats as it gives the file's layout. A half's 16 bytes of a piece are row
/// r's two quant bytes in its 32-bit lane r: shifts and masks pick each element out for 8 rows at once.
static TILES_AVX2 void tile_panel(const int type, const uint8_t *tile, size_t blocks, float *panel) {
    const size_t tile_bytes = atr_tile_block_bytes(type), quants_at = atr_tile_quants_at(type);
    const __m256i nibble = _mm256_set1_epi32(15), eight = _mm256_set1_epi32(8);
    for (size_t b = 0; b < blocks; b++, tile += tile_bytes) {
        float *block = panel + b * 32 * TILE;
        for (int half = 0; half < 2; half++) {
            const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 16 * half)));
            if (type == 8) {
                for (int p = 0; p < 16; p++) {
                    const __m256i pairs = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(tile + quants_at + 32 * p + 16 * half)));
                    const __m256i first = _mm256_srai_epi32(_mm256_slli_epi32(pairs, 24), 24), second = _mm256_srai_epi32(_mm256_slli_epi32(pairs, 16), 24);
                    _mm256_storeu_ps(block + (2 * p) * TILE + 8 * half, _mm256_mul_ps(d, _mm256_cvtepi32_ps(first)));
                    _mm256_storeu_ps(block + (2 * p + 1) * TILE + 8 * half, _mm256_mul_ps(d, _mm256_cvtepi32_ps(second)));
                }
                continue;
            }
            const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 32 + 16 * half)));
            for (int s = 0; s < 8; s++) {
                const __m256i pairs = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(tile + quants_at + 32 * s + 16 * half)));
                // Byte 2s holds elements 2s (low nibble) and 16 + 2s (high); byte 2s + 1 the next of each.
                const int shifts[4] = {0, 8, 4, 12}, elements[4] = {2 * s, 2 * s + 1, 16 + 2 * s, 17 + 2 * s};
                for (int e = 0; e < 4; e++) {
                    const __m256i q = _mm256_and_si256(_mm256_srli_epi32(pairs, shifts[e]), nibble);
                    // Q4_1: d·q + m; Q4_0: d·(q − 8) (its tile's minimum is −8·d rounded to a half, not used here).
                    const __m256 value = type == 3 ? _mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(q)), m)
                                                   : _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(q, eight)));
                    _mm256_storeu_ps(block + elements[e] * TILE + 8 * half, value);
                }
            }
        }
    }
}

void atr_qlinear_prompt_tiles_avx2(int type, const void *tiles, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo) {
    const size_t blocks = k / 32, bytes = blocks * atr_tile_block_bytes(type);
    float *panel = aligned_alloc(64, TILE * k * sizeof(float));
    const float zeros[TILE] = {0};
    for (size_t t = r0 / TILE; t < r1 / TILE; t++) {
        switch (type) {
        case 2: tile_panel(2, (const uint8_t *)tiles + t * bytes, blocks, panel); break;
        case 3: tile_panel(3, (const uint8_t *)tiles + t * bytes, blocks, panel); break;
        default: tile_panel(8, (const uint8_t *)tiles + t * bytes, blocks, panel); break;
        }
        atr_apply_panel(x, ldx, m, k, panel, zeros, out + t * TILE, ldo, TILE);
    }
    free(panel);
}

void atr_qlinear_tiles_avx2(int type, const void *tiles, size_t k, size_t r0, size_t r1, const int16_t *values, const float *scales, const float *sums,
                            size_t m, float *out, size_t ldo) {
    if (type == 8) tiles_of_type(8, tiles, k, r0 / TILE, r1 / TILE, values, scales, sums, m, out, ldo);
    else tiles_of_type(3, tiles, k, r0 / TILE, r1 / TILE, values, scales, sums, m, out, ldo);
}
#endif
