// The decode path's matrix product on AVX-512 VNNI: quantized weight blocks (Q4_0, Q4_1, Q8_0) against
// activations held as 16-bit integers with a scale per block of 32 (see quantize16 in llama.c). Four
// blocks at a time widen to four registers of 16-bit integers, which VPDPWSSD multiplies with a row's
// activations laid out the same way; the blocks are decoded once for up to 16 rows of x. Each row's
// sums run in the same order however many rows pass together, so a row's result never depends on the
// batch.
#include "ckernels.h"
#include "fold16.h"
#include "simd.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

static int vnni_state = -1;
/// Per thread, as the portable switch in vector.c.
static _Thread_local int vnni_allowed = 1;

void atr_use_avx512_kernels(int allowed) {
    vnni_allowed = allowed;
}

int atr_has_avx512_vnni(void) {
    if (vnni_state < 0) {
        __builtin_cpu_init();
        vnni_state = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vnni");
    }
    return vnni_allowed && vnni_state && atr_has_avx2();
}

/// Σ a[b]·c[b] over `n` floats as 16 lane sums, in a fixed order (then folded with the others).
static inline __attribute__((always_inline)) VNNI __m512 dot_lanes(const float *a, const float *c, size_t n) {
    __m512 sum = _mm512_setzero_ps();
    for (size_t b = 0; b < n; b += 16) {
        const __mmask16 mask = n - b >= 16 ? 0xffff : (__mmask16)((1u << (n - b)) - 1);
        sum = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + b), _mm512_maskz_loadu_ps(mask, c + b), sum);
    }
    return sum;
}

/// acc + VPDPWSSD(a, b), as the instruction itself: left to itself the compiler splits it into a
/// VPMADDWD and a VPADDD, which on this path costs a third more instructions than it saves in latency.
static inline __attribute__((always_inline)) VNNI __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

/// Eight bytes of each of four blocks' 16 (`a`…`d`: the low or high eight) as 32 16-bit integers.
static inline __attribute__((always_inline)) VNNI __m512i widen_octets(const int is_signed, const int high, __m128i a, __m128i b, __m128i c, __m128i d) {
    const __m128i ab = high ? _mm_unpackhi_epi64(a, b) : _mm_unpacklo_epi64(a, b);
    const __m128i cd = high ? _mm_unpackhi_epi64(c, d) : _mm_unpacklo_epi64(c, d);
    const __m256i bytes = _mm256_inserti128_si256(_mm256_castsi128_si256(ab), cd, 1);
    return is_signed ? _mm512_cvtepi8_epi16(bytes) : _mm512_cvtepu8_epi16(bytes);
}

/// Blocks four at a time: the 128 weights of blocks b … b+3 as 16-bit integers in four registers,
/// register t holding elements 8t … 8t+7 of each block, meet each row's activations laid out the same
/// way (`arranged`) in one VPMADDWD and three VPDPWSSD. Lanes 4c … 4c+3 then hold block b+c's sums,
/// each scaled by its own d·s: four integer and three float instructions per row of x and four blocks.
/// A last group short of four blocks has zeros in place of the missing ones. The 4-bit types' minimums
/// (m·Σx) are summed after the blocks, as one dot product per pair of rows.
static inline __attribute__((always_inline)) VNNI void rows_vnni(
    const int type, const int M, const int R, const uint8_t *weights, size_t stride, size_t k, size_t r, const int16_t *arranged,
    const float *quad_scales, const float *sums, float *out, size_t ldo) {
    const size_t blocks = k / 32, quads = (blocks + 3) / 4;
    const size_t block_bytes = type == 3 ? 20 : type == 2 ? 18 : 34, head = type == 3 ? 4 : 2;
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc[4][16];
    float mins[4][ATR_VNNI_MAX_BLOCKS + 3];
    for (int j = 0; j < R; j++)
        for (int i = 0; i < M; i++) acc[j][i] = _mm512_setzero_ps();
    for (size_t b = 0; b < blocks; b += 4) {
        const size_t present = blocks - b < 4 ? blocks - b : 4;
        for (int j = 0; j < R; j++) {
            const uint8_t *first = weights + (r + j) * stride + b * block_bytes;
            // The weights stream from memory once per token: ask for them a few rows ahead.
            _mm_prefetch((const char *)(first + 8 * stride), _MM_HINT_T0);
            _mm_prefetch((const char *)(first + 8 * stride + 64), _MM_HINT_T0);
            if (type == 8) _mm_prefetch((const char *)(first + 8 * stride + 128), _MM_HINT_T0);
            // Per block, its first and second 16 weights as bytes (Q8_0's as they are; the 4-bit types'
            // low and high nibbles), and its scale.
            __m128i low[4], high[4];
            float d[4];
            for (size_t c = 0; c < 4; c++) {
                if (c >= present) {
                    low[c] = high[c] = _mm_setzero_si128();
                    d[c] = 0;
                    continue;
                }
                const uint8_t *block = first + c * block_bytes;
                uint32_t h;
                memcpy(&h, block, 4);
                const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)h));
                d[c] = _mm_cvtss_f32(dm);
                if (type == 8) {
                    low[c] = _mm_loadu_si128((const __m128i *)(block + 2));
                    high[c] = _mm_loadu_si128((const __m128i *)(block + 18));
                } else {
                    const __m128i q = _mm_loadu_si128((const __m128i *)(block + head));
                    low[c] = _mm_and_si128(q, mask);
                    high[c] = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
                    // Q4_1 carries its minimum; Q4_0's q − 8 is a minimum of −8·d.
                    mins[j][b + c] = type == 3 ? _mm_cvtss_f32(_mm_movehdup_ps(dm)) : -8 * d[c];
                }
            }
            const int is_signed = type == 8;
            const __m512i w0 = widen_octets(is_signed, 0, low[0], low[1], low[2], low[3]);
            const __m512i w1 = widen_octets(is_signed, 1, low[0], low[1], low[2], low[3]);
            const __m512i w2 = widen_octets(is_signed, 0, high[0], high[1], high[2], high[3]);
            const __m512i w3 = widen_octets(is_signed, 1, high[0], high[1], high[2], high[3]);
            // The weights' scales, four lanes a block, shared by every row of x; each row brings its own
            // activation scales, laid out the same way.
            const __m512 scale = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_setr_ps(d[0], d[1], d[2], d[3])));
            // Unrolled whole, so that the sums stay in registers (a loop over 16 rows keeps them in memory).
#pragma clang loop unroll(full)
            for (int i = 0; i < M; i++) {
                const int16_t *x = arranged + (i * quads + b / 4) * 128;
                __m512i sum = _mm512_madd_epi16(w0, _mm512_loadu_si512((const void *)x));
                sum = dpwssd(sum, w1, _mm512_loadu_si512((const void *)(x + 32)));
                sum = dpwssd(sum, w2, _mm512_loadu_si512((const void *)(x + 64)));
                sum = dpwssd(sum, w3, _mm512_loadu_si512((const void *)(x + 96)));
                const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_loadu_ps(quad_scales + (i * quads + b / 4) * 16));
                acc[j][i] = _mm512_fmadd_ps(scaled, scale, acc[j][i]);
            }
        }
    }
    // Each sum's lanes, and its minimums' part (m·Σx, 16 blocks a lane), reduced: for many sums, 16 at a
    // time in one fold, which is the same tree as reducing each on its own (the same floats) in a third
    // of the instructions.
    if (R * M > 8) {
        __m512 lanes[16], offsets[16];
        for (int v = 0; v < 16; v++) lanes[v] = offsets[v] = _mm512_setzero_ps();
        for (int j = 0; j < R; j++)
            for (int i = 0; i < M; i++) {
                lanes[j * M + i] = acc[j][i];
                if (type != 8) offsets[j * M + i] = dot_lanes(mins[j], sums + i * blocks, blocks);
            }
        float summed[16], offset[16];
        _mm512_storeu_ps(summed, atr_fold16(lanes));
        _mm512_storeu_ps(offset, atr_fold16(offsets));
        for (int j = 0; j < R; j++)
            for (int i = 0; i < M; i++) out[i * ldo + r + j] = summed[j * M + i] + offset[j * M + i];
        return;
    }
    for (int j = 0; j < R; j++)
        for (int i = 0; i < M; i++) {
            const float offset = type == 8 ? 0 : _mm512_reduce_add_ps(dot_lanes(mins[j], sums + i * blocks, blocks));
            out[i * ldo + r + j] = _mm512_reduce_add_ps(acc[j][i]) + offset;
        }
}

/// Rows [r0, r1): four or two at a time where few rows of x leave registers for them, then one.
static inline __attribute__((always_inline)) VNNI void rows_span(
    const int type, const int M, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *arranged,
    const float *quad_scales, const float *sums, float *out, size_t ldo) {
    size_t r = r0;
    if (M <= 2) {
        for (; r + 4 <= r1; r += 4) rows_vnni(type, M, 4, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
    }
    if (M <= 4) {
        for (; r + 2 <= r1; r += 2) rows_vnni(type, M, 2, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
    }
    for (; r < r1; r++) rows_vnni(type, M, 1, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
}

/// The block type and row count (1 … 16) fixed per loop, so that the loops carry no branch on them.
#define ROWS_CASE(T, N) \
    case N: return rows_span(T, N, weights, stride, k, r0, r1, arranged, quad_scales, sums, out, ldo);
#define ROWS_FOR_TYPE(T)                                                                                                          \
    switch (M) {                                                                                                                  \
        ROWS_CASE(T, 1) ROWS_CASE(T, 2) ROWS_CASE(T, 3) ROWS_CASE(T, 4) ROWS_CASE(T, 5) ROWS_CASE(T, 6) ROWS_CASE(T, 7) ROWS_CASE(T, 8) \
        ROWS_CASE(T, 9) ROWS_CASE(T, 10) ROWS_CASE(T, 11) ROWS_CASE(T, 12) ROWS_CASE(T, 13) ROWS_CASE(T, 14) ROWS_CASE(T, 15)    \
    default: return rows_span(T, 16, weights, stride, k, r0, r1, arranged, quad_scales, sums, out, ldo);                          \
    }

static VNNI void rows_any(int type, int M, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *arranged,
                          const float *quad_scales, const float *sums, float *out, size_t ldo) {
    switch (type) {
    case 3: ROWS_FOR_TYPE(3)
    case 2: ROWS_FOR_TYPE(2)
    default: ROWS_FOR_TYPE(8)
    }
}

void atr_qlinear16_vnni(int type, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *values,
                        const float *scales, const float *sums, size_t m, float *out, size_t ldo) {
    const size_t blocks = k / 32;
    // Each row's activations in the layout of rows_vnni (per group of four blocks: elements 0–7 of each,
    // then 8–15 of each, …; missing blocks as zeros), and its block scales as 16 lanes per group (4 of
    // each).
    const size_t quads = (blocks + 3) / 4, group = 16;
    int16_t *arranged = calloc(m * quads * 128, sizeof(int16_t));
    float *quad_scales = calloc(m * quads * 16, sizeof(float));
    for (size_t i = 0; i < m; i++)
        for (size_t b = 0; b < blocks; b++) {
            int16_t *quad = arranged + (i * quads + b / 4) * 128 + (b % 4) * 8;
            for (size_t t = 0; t < 4; t++) memcpy(quad + t * 32, values + i * k + b * 32 + t * 8, 8 * sizeof(int16_t));
            for (int lane = 0; lane < 4; lane++) quad_scales[(i * quads + b / 4) * 16 + (b % 4) * 4 + lane] = scales[i * blocks + b];
        }
    for (size_t i = 0; i < m; i += group) {
        const int rows = m - i < group ? (int)(m - i) : (int)group;
        rows_any(type, rows, weights, stride, k, r0, r1, arranged + i * quads * 128, quad_scales + i * quads * 16, sums + i * blocks,
                 out + i * ldo, ldo);
    }
    free(quad_scales);
    free(arranged);
}
#else
void atr_use_avx512_kernels(int allowed) { (void)allowed; }
int atr_has_avx512_vnni(void) { return 0; }
#endif
