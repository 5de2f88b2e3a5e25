// The decode path's matrix product on AVX-512 VNNI: quantized weight blocks (Q4_0, Q4_1, Q8_0) against
// activations held as 16-bit integers with a scale per block of 32 (see quantize16 in llama.c). A
// block's 32 weights widen to one register of 16-bit integers, and one VPDPWSSD multiplies it with a
// row's 32 activations into 16 sums; the block is decoded once for every row of x that passes it.
// Each row's sums run in the same order however many rows pass together, so a row's result never
// depends on the batch.
#include "ckernels.h"
#include "simd.h"

#include <stdlib.h>

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

/// A block's 32 weights as 16-bit integers in GGML's order, with its scale `d` in lane 0 of `dm` and
/// its minimum `m` in lane 1 (the weight is q·d + m; Q4_0's q − 8 is written as m = −8·d). Both halves
/// convert in one instruction.
static inline __attribute__((always_inline)) VNNI __m512i block_weights(const int type, const uint8_t *block, __m128 *dm) {
    uint32_t head;
    memcpy(&head, block, 4);
    if (type == 8) {
        *dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(head & 0xffff)));
        return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(block + 2)));
    }
    const uint8_t *qs;
    if (type == 3) {
        *dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)head));
        qs = block + 4;
    } else {
        const __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(head & 0xffff)));
        *dm = _mm_unpacklo_ps(d, _mm_mul_ss(d, _mm_set_ss(-8)));
        qs = block + 2;
    }
    const __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m256i both = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_and_si128(bytes, mask)), _mm_and_si128(_mm_srli_epi16(bytes, 4), mask), 1);
    return _mm512_cvtepu8_epi16(both);
}

/// Σ a[b]·c[b] over `n` floats, in a fixed order (16 lanes, then the lanes' sum).
static inline __attribute__((always_inline)) VNNI float dot_fixed(const float *a, const float *c, size_t n) {
    __m512 sum = _mm512_setzero_ps();
    for (size_t b = 0; b < n; b += 16) {
        const __mmask16 mask = n - b >= 16 ? 0xffff : (__mmask16)((1u << (n - b)) - 1);
        sum = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + b), _mm512_maskz_loadu_ps(mask, c + b), sum);
    }
    return _mm512_reduce_add_ps(sum);
}

/// Block `b` of R Q8_0 weight rows against M rows of 16-bit x, into `acc`.
static inline __attribute__((always_inline)) VNNI void block16(
    const int M, const int R, const uint8_t *weights, size_t stride, size_t k, size_t r, size_t b, const int16_t *values, const float *scales,
    __m512 acc[4][8]) {
    const size_t blocks = k / 32, block_bytes = 34;
    for (int j = 0; j < R; j++) {
        __m128 dm;
        _mm_prefetch((const char *)(weights + (r + j + 8) * stride + b * block_bytes), _MM_HINT_T0);
        const __m512i w = block_weights(8, weights + (r + j) * stride + b * block_bytes, &dm);
        for (int i = 0; i < M; i++) {
            const __m512i x = _mm512_loadu_si512((const void *)(values + i * k + b * 32));
            const __m512 products = _mm512_cvtepi32_ps(_mm512_dpwssd_epi32(_mm512_setzero_si512(), w, x));
            const __m512 scale = _mm512_broadcastss_ps(_mm_mul_ss(dm, _mm_load_ss(scales + i * blocks + b)));
            acc[j][i] = _mm512_fmadd_ps(products, scale, acc[j][i]);
        }
    }
}

/// R Q8_0 weight rows from `r` against M rows of 16-bit x (`values` k apart, `scales` blocks apart).
/// Two sums per pair of rows take alternate blocks, so that no multiply-add waits on the one before.
/// Every pair's operations are the same whatever R and M are.
static inline __attribute__((always_inline)) VNNI void rows_vnni(
    const int M, const int R, const uint8_t *weights, size_t stride, size_t k, size_t r, const int16_t *values, const float *scales, float *out,
    size_t ldo) {
    const size_t blocks = k / 32;
    __m512 even[4][8], odd[4][8];
    for (int j = 0; j < R; j++)
        for (int i = 0; i < M; i++) {
            even[j][i] = _mm512_setzero_ps();
            odd[j][i] = _mm512_setzero_ps();
        }
    // Blocks in pairs, the first of each into `even`, the second into `odd`.
    for (size_t b = 0; b < blocks; b++) {
        block16(M, R, weights, stride, k, r, b, values, scales, even);
        if (++b == blocks) break;
        block16(M, R, weights, stride, k, r, b, values, scales, odd);
    }
    for (int j = 0; j < R; j++)
        for (int i = 0; i < M; i++) out[i * ldo + r + j] = _mm512_reduce_add_ps(_mm512_add_ps(even[j][i], odd[j][i]));
}

/// acc + VPDPWSSD(a, b), as the instruction itself: left to itself the compiler splits it into a
/// VPMADDWD and a VPADDD, which on this path costs a third more instructions than it saves in latency.
static inline __attribute__((always_inline)) VNNI __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

/// The 4-bit blocks four at a time: the 128 weights of blocks b … b+3 as 16-bit integers in four
/// registers, register t holding elements 8t … 8t+7 of each block, meet each row's activations laid out
/// the same way (`arranged`) in one VPMADDWD and three VPDPWSSD. Lanes 4c … 4c+3 then hold block b+c's
/// sums, each scaled by its own d·s: four integer and three float instructions per row of x and four
/// blocks. A last group short of four blocks has zeros in place of the missing ones.
static inline __attribute__((always_inline)) VNNI void rows_vnni8(
    const int type, const int M, const int R, const uint8_t *weights, size_t stride, size_t k, size_t r, const int16_t *arranged,
    const float *quad_scales, const float *sums, float *out, size_t ldo) {
    const size_t blocks = k / 32, quads = (blocks + 3) / 4;
    const size_t block_bytes = type == 3 ? 20 : 18, head = type == 3 ? 4 : 2;
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
            __m128i low[4], high[4];
            float d[4];
            for (size_t c = 0; c < 4; c++) {
                if (c >= present) {
                    low[c] = high[c] = _mm_setzero_si128();
                    d[c] = 0;
                    continue;
                }
                const uint8_t *block = first + c * block_bytes;
                const __m128i q = _mm_loadu_si128((const __m128i *)(block + head));
                low[c] = _mm_and_si128(q, mask);
                high[c] = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
                uint32_t h;
                memcpy(&h, block, 4);
                const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)h));
                d[c] = _mm_cvtss_f32(dm);
                // Q4_1 carries its minimum; Q4_0's q − 8 is a minimum of −8·d.
                mins[j][b + c] = type == 3 ? _mm_cvtss_f32(_mm_movehdup_ps(dm)) : -8 * d[c];
            }
            const __m512i w0 = _mm512_cvtepu8_epi16(_mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_unpacklo_epi64(low[0], low[1])), _mm_unpacklo_epi64(low[2], low[3]), 1));
            const __m512i w1 = _mm512_cvtepu8_epi16(_mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_unpackhi_epi64(low[0], low[1])), _mm_unpackhi_epi64(low[2], low[3]), 1));
            const __m512i w2 = _mm512_cvtepu8_epi16(_mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_unpacklo_epi64(high[0], high[1])), _mm_unpacklo_epi64(high[2], high[3]), 1));
            const __m512i w3 = _mm512_cvtepu8_epi16(_mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_unpackhi_epi64(high[0], high[1])), _mm_unpackhi_epi64(high[2], high[3]), 1));
            // The weights' scales, four lanes a block, shared by every row of x; each row brings its own
            // activation scales, laid out the same way.
            const __m512 scale = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_loadu_ps(d)));
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
    for (int j = 0; j < R; j++)
        for (int i = 0; i < M; i++) out[i * ldo + r + j] = _mm512_reduce_add_ps(acc[j][i]) + dot_fixed(mins[j], sums + i * blocks, blocks);
}

/// Rows [r0, r1): four or two at a time where few rows of x leave registers for them, then one.
static inline __attribute__((always_inline)) VNNI void rows_span(
    const int type, const int M, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *values,
    const int16_t *arranged, const float *quad_scales, const float *scales, const float *sums, float *out, size_t ldo) {
    size_t r = r0;
    if (type != 8) {
        if (M <= 2) {
            for (; r + 4 <= r1; r += 4) rows_vnni8(type, M, 4, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
        }
        if (M <= 4) {
            for (; r + 2 <= r1; r += 2) rows_vnni8(type, M, 2, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
        }
        for (; r < r1; r++) rows_vnni8(type, M, 1, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
        return;
    }
    const int M8 = M < 8 ? M : 8;  // Q8_0 comes with at most 8 rows of x
    if (M8 <= 2) {
        for (; r + 4 <= r1; r += 4) rows_vnni(M8, 4, weights, stride, k, r, values, scales, out, ldo);
    }
    if (M8 <= 4) {
        for (; r + 2 <= r1; r += 2) rows_vnni(M8, 2, weights, stride, k, r, values, scales, out, ldo);
    }
    for (; r < r1; r++) rows_vnni(M8, 1, weights, stride, k, r, values, scales, out, ldo);
}

/// The block type and row count fixed per loop, so that the loops carry no branch on them: up to 8 rows
/// of x for Q8_0, up to 16 for the 4-bit types.
#define ROWS_CASE(T, N) \
    case N: return rows_span(T, N, weights, stride, k, r0, r1, values, arranged, quad_scales, scales, sums, out, ldo);
#define ROWS_UP_TO_8(T) ROWS_CASE(T, 1) ROWS_CASE(T, 2) ROWS_CASE(T, 3) ROWS_CASE(T, 4) ROWS_CASE(T, 5) ROWS_CASE(T, 6) ROWS_CASE(T, 7)
#define ROWS_UP_TO_16(T) \
    ROWS_UP_TO_8(T) ROWS_CASE(T, 8) ROWS_CASE(T, 9) ROWS_CASE(T, 10) ROWS_CASE(T, 11) ROWS_CASE(T, 12) ROWS_CASE(T, 13) ROWS_CASE(T, 14) \
    ROWS_CASE(T, 15)

static VNNI void rows_any(int type, int M, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *values,
                          const int16_t *arranged, const float *quad_scales, const float *scales, const float *sums, float *out,
                          size_t ldo) {
    switch (type) {
    case 3:
        switch (M) {
            ROWS_UP_TO_16(3)
        default: return rows_span(3, 16, weights, stride, k, r0, r1, values, arranged, quad_scales, scales, sums, out, ldo);
        }
    case 2:
        switch (M) {
            ROWS_UP_TO_16(2)
        default: return rows_span(2, 16, weights, stride, k, r0, r1, values, arranged, quad_scales, scales, sums, out, ldo);
        }
    default:
        switch (M) {
            ROWS_UP_TO_8(8)
        default: return rows_span(8, 8, weights, stride, k, r0, r1, values, arranged, quad_scales, scales, sums, out, ldo);
        }
    }
}

void atr_qlinear16_vnni(int type, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *values,
                        const float *scales, const float *sums, size_t m, float *out, size_t ldo) {
    const size_t blocks = k / 32;
    // For the 4-bit types, each row's activations in the layout of rows_vnni8 (per group of four blocks:
    // elements 0–7 of each, then 8–15 of each, …; missing blocks as zeros), and its block scales as 16
    // lanes per group (4 of each).
    const size_t quads = (blocks + 3) / 4;
    const size_t group = type == 8 ? 8 : 16;
    int16_t *arranged = NULL;
    float *quad_scales = NULL;
    if (type != 8) {
        arranged = calloc(m * quads * 128, sizeof(int16_t));
        quad_scales = calloc(m * quads * 16, sizeof(float));
        for (size_t i = 0; i < m; i++)
            for (size_t b = 0; b < blocks; b++) {
                int16_t *quad = arranged + (i * quads + b / 4) * 128 + (b % 4) * 8;
                for (size_t t = 0; t < 4; t++) memcpy(quad + t * 32, values + i * k + b * 32 + t * 8, 8 * sizeof(int16_t));
                for (int lane = 0; lane < 4; lane++) quad_scales[(i * quads + b / 4) * 16 + (b % 4) * 4 + lane] = scales[i * blocks + b];
            }
    }
    for (size_t i = 0; i < m; i += group) {
        const int rows = m - i < group ? (int)(m - i) : (int)group;
        rows_any(type, rows, weights, stride, k, r0, r1, values + i * k, arranged ? arranged + i * quads * 128 : NULL,
                 quad_scales ? quad_scales + i * quads * 16 : NULL, scales + i * blocks, sums + i * blocks, out + i * ldo, ldo);
    }
    free(quad_scales);
    free(arranged);
}
#else
void atr_use_avx512_kernels(int allowed) { (void)allowed; }
int atr_has_avx512_vnni(void) { return 0; }
#endif
