// The decoder-only (Llama) kernels: linear layers on GGML's quantized weights used in place, RMSNorm,
// rotary positions, SwiGLU and grouped-query attention over a KV cache. This is the exact path: the
// weights are widened a row at a time and every sum is taken in fp32 (RMSNorm's in double), so the
// results stay within float rounding of a fp32 reference on the dequantized file.
#include "ckernels.h"
#include "simd.h"
#include "kernels.h"
#include "tile_layout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t row_bytes(int type, size_t k) {
    switch (type) {
    case 0: return k * 4;
    case 1: case 30: return k * 2;
    case 2: return k / 32 * 18;
    case 3: return k / 32 * 20;
    case 8: return k / 32 * 34;
    default: return 0;
    }
}

void atr_dequantize_row(int type, const void *row, float *out, size_t k) {
    switch (type) {
    case 0: memcpy(out, row, k * sizeof(float)); break;
    case 1: atr_f16_to_f32(row, out, k); break;
    case 30: atr_bf16_to_f32(row, out, k); break;
    case 2: atr_dequantize_q4_0(row, out, k); break;
    case 3: atr_dequantize_q4_1(row, out, k); break;
    case 8: atr_dequantize_q8_0(row, out, k); break;
    default: memset(out, 0, k * sizeof(float)); break;
    }
}

static float dot_portable(const float *a, const float *b, size_t n) {
    float sums[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) sums[j] += a[i + j] * b[i + j];
    float sum = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

#if defined(__x86_64__)
static AVX2 float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}
#endif

float atr_dot(const float *a, const float *b, size_t n) {
#if defined(__x86_64__)
    if (atr_has_avx2()) return dot_avx2(a, b, n);
#endif
    return dot_portable(a, b, n);
}

#if defined(__x86_64__)
// Every CPU with AVX2 has F16C (Intel since Ivy Bridge, AMD since Piledriver).
#define F16C __attribute__((target("avx2,fma,f16c")))

static inline F16C float half(const uint8_t *p) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(p[0] | p[1] << 8)));
}

/// Q4_1's scale and minimum, two halves side by side.
static inline F16C void scales_q4_1(const uint8_t *p, float *d, float *m) {
    uint32_t both;
    memcpy(&both, p, 4);
    const __m128 values = _mm_cvtph_ps(_mm_cvtsi32_si128((int)both));
    *d = _mm_cvtss_f32(values);
    *m = _mm_cvtss_f32(_mm_shuffle_ps(values, values, 1));
}

/// The 32 values of a 4-bit block as four vectors of 8 floats (0..15), in GGML's order.
static inline AVX2 void nibbles(const uint8_t *qs, __m256 out[4]) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i low = _mm_and_si128(bytes, mask), high = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(low));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(low, 8)));
    out[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(high));
    out[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(high, 8)));
}

static inline AVX2 void bytes8(const uint8_t *qs, __m256 out[4]) {
    for (int j = 0; j < 4; j++) out[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 8 * j))));
}

/// Σq w[q]·x[i][q] for one quantized row and M ≤ 4 rows of x, the block's values converted once and
/// used for every row: per block, d·Σ q·x (+ m·Σx, from the rows' block sums, for the 4-bit types).
static inline __attribute__((always_inline)) F16C void qdot_rows(
    int type, const uint8_t *row, size_t k, const float *x, size_t ldx, const int M, const float *block_sums, float *results) {
    __m256 acc[4];
    float offsets[4] = {0, 0, 0, 0};
    for (int i = 0; i < M; i++) acc[i] = _mm256_setzero_ps();
    const size_t blocks = k / 32;
    const size_t stride = type == 3 ? 20 : type == 2 ? 18 : 34;
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * stride;
        __m256 q[4];
        float d, m = 0;
        if (type == 8) {
            d = half(block);
            bytes8(block + 2, q);
        } else if (type == 3) {
            scales_q4_1(block, &d, &m);
            nibbles(block + 4, q);
        } else {
            d = half(block);
            m = -8 * d;
            nibbles(block + 2, q);
        }
        const __m256 scale = _mm256_set1_ps(d);
        for (int i = 0; i < M; i++) {
            const float *v = x + i * ldx + b * 32;
            __m256 t = _mm256_mul_ps(q[0], _mm256_loadu_ps(v));
            t = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(v + 8), t);
            t = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(v + 16), t);
            t = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(v + 24), t);
            acc[i] = _mm256_fmadd_ps(scale, t, acc[i]);
            if (type != 8) offsets[i] += m * block_sums[i * blocks + b];
        }
    }
    for (int i = 0; i < M; i++) results[i] = hsum(acc[i]) + offsets[i];
}

static F16C void qlinear_few_avx2(int type, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo) {
    const size_t blocks = k / 32;
    float sums[4 * 512];
    float *block_sums = blocks * m <= 4 * 512 ? sums : malloc(blocks * m * sizeof(float));
    for (size_t i = 0; i < m; i++)
        for (size_t b = 0; b < blocks; b++) {
            float s = 0;
            for (int j = 0; j < 32; j++) s += x[i * ldx + b * 32 + j];
            block_sums[i * blocks + b] = s;
        }
    float results[4];
    for (size_t r = r0; r < r1; r++) {
        const uint8_t *row = weights + r * stride;
        switch (m) {
        case 1: qdot_rows(type, row, k, x, ldx, 1, block_sums, results); break;
        case 2: qdot_rows(type, row, k, x, ldx, 2, block_sums, results); break;
        case 3: qdot_rows(type, row, k, x, ldx, 3, block_sums, results); break;
        default: qdot_rows(type, row, k, x, ldx, 4, block_sums, results); break;
        }
        for (size_t i = 0; i < m; i++) out[i * ldo + r] = results[i];
    }
    if (block_sums != sums) free(block_sums);
}
#endif

#if defined(__x86_64__)
/// The fast path's activations: each block of 32 as 16-bit integers with a float scale (about 4.6
/// significant digits, where llama.cpp's 8 bits keep about 2), and the block's fp32 sum.
typedef struct {
    int16_t *values;
    float *scales;
    float *sums;
} blocks16;

static AVX2 void quantize16(const float *x, size_t k, blocks16 out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t b = 0; b < k / 32; b++) {
        const float *v = x + b * 32;
        const __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16), v3 = _mm256_loadu_ps(v + 24);
        const __m256 amax8 = _mm256_max_ps(
            _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)), _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        const float amax = hmax(amax8);
        const __m256 inverse = _mm256_set1_ps(amax > 0 ? ATR_Q16_MAX / amax : 0);
        // Rounded to nearest (the default rounding mode), packed to 16 bits in order.
        const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(v0, inverse)), b8 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, inverse));
        const __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(v2, inverse)), d = _mm256_cvtps_epi32(_mm256_mul_ps(v3, inverse));
        _mm256_storeu_si256((__m256i *)(out.values + b * 32), _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b8), 0xD8));
        _mm256_storeu_si256((__m256i *)(out.values + b * 32 + 16), _mm256_permute4x64_epi64(_mm256_packs_epi32(c, d), 0xD8));
        out.scales[b] = amax / ATR_Q16_MAX;
        out.sums[b] = hsum(_mm256_add_ps(_mm256_add_ps(v0, v1), _mm256_add_ps(v2, v3)));
    }
}

/// One block's contribution, d·s·Σ q·x as 8 lanes; the minimum's part goes to `offset`.
static inline __attribute__((always_inline)) F16C __m256 qblock16(const int type, const uint8_t *block, size_t b, blocks16 x, float *offset) {
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m256i low, high;
    float d, m = 0;
    if (type == 8) {
        d = half(block);
        low = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 2)));
        high = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 18)));
    } else {
        const uint8_t *qs;
        if (type == 3) {
            scales_q4_1(block, &d, &m);
            qs = block + 4;
        } else {
            d = half(block);
            m = -8 * d;
            qs = block + 2;
        }
        const __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
        low = _mm256_cvtepu8_epi16(_mm_and_si128(bytes, mask));
        high = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask));
    }
    const __m256i products = _mm256_add_epi32(
        _mm256_madd_epi16(low, _mm256_loadu_si256((const __m256i *)(x.values + b * 32))),
        _mm256_madd_epi16(high, _mm256_loadu_si256((const __m256i *)(x.values + b * 32 + 16))));
    *offset += m * x.sums[b];
    return _mm256_mul_ps(_mm256_cvtepi32_ps(products), _mm256_set1_ps(d * x.scales[b]));
}

/// Σq w[q]·x[q] for one quantized row and one 16-bit row: 32 products in two multiply-adds, two
/// blocks at a time into separate sums so that neither waits on the other's latency.
static inline __attribute__((always_inline)) F16C float qdot16(const int type, const uint8_t *row, size_t blocks, blocks16 x) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float offset0 = 0, offset1 = 0;
    const size_t stride = type == 3 ? 20 : type == 2 ? 18 : 34;
    size_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        acc0 = _mm256_add_ps(acc0, qblock16(type, row + b * stride, b, x, &offset0));
        acc1 = _mm256_add_ps(acc1, qblock16(type, row + (b + 1) * stride, b + 1, x, &offset1));
    }
    if (b < blocks) acc0 = _mm256_add_ps(acc0, qblock16(type, row + b * stride, b, x, &offset0));
    return hsum(_mm256_add_ps(acc0, acc1)) + (offset0 + offset1);
}

/// The rows [r0, r1) against one 16-bit row of x, the block type fixed so that its loop has no branch.
static inline __attribute__((always_inline)) F16C void qrows16(
    const int type, const uint8_t *weights, size_t stride, size_t blocks, size_t r0, size_t r1, blocks16 x, float *out) {
    for (size_t r = r0; r < r1; r++) out[r] = qdot16(type, weights + r * stride, blocks, x);
}

static F16C void qlinear16_avx2(int type, const uint8_t *weights, size_t stride, size_t r0, size_t r1, const atr_decode_input *input, float *out, size_t ldo) {
    const size_t k = input->k, m = input->m, blocks = k / 32;
    if (input->arranged) {
        atr_qlinear16_vnni(type, weights, stride, k, r0, r1, input->arranged, input->quad_scales, input->sums, m, out, ldo);
        return;
    }
    for (size_t i = 0; i < m; i++) {
        const blocks16 row16 = {input->values + i * k, input->scales + i * blocks, input->sums + i * blocks};
        switch (type) {
        case 3: qrows16(3, weights, stride, blocks, r0, r1, row16, out + i * ldo); break;
        case 2: qrows16(2, weights, stride, blocks, r0, r1, row16, out + i * ldo); break;
        default: qrows16(8, weights, stride, blocks, r0, r1, row16, out + i * ldo); break;
        }
    }
}
#endif

int atr_decode_input_alloc(atr_decode_input *input, size_t m, size_t k, int arranged) {
    memset(input, 0, sizeof *input);
#if defined(__x86_64__)
    if (!atr_has_avx2() || k % 32 != 0 || m == 0) return 0;
    const size_t blocks = k / 32;
    input->m = m;
    input->k = k;
    input->values = aligned_alloc(64, (m * k * sizeof(int16_t) + 63) / 64 * 64);
    input->scales = malloc(m * blocks * sizeof(float));
    input->sums = malloc(m * blocks * sizeof(float));
    if (arranged && atr_has_avx512_vnni() && blocks <= ATR_VNNI_MAX_BLOCKS) {
        const size_t quads = (blocks + 3) / 4;
        input->arranged = aligned_alloc(64, m * quads * 128 * sizeof(int16_t));
        input->quad_scales = aligned_alloc(64, m * quads * 16 * sizeof(float));
    }
    return 1;
#else
    (void)m, (void)k;
    return 0;
#endif
}

void atr_decode_input_rows(atr_decode_input *input, const float *x, size_t ldx, size_t from, size_t to) {
#if defined(__x86_64__)
    const size_t k = input->k, blocks = k / 32;
    for (size_t i = from; i < to; i++) {
        quantize16(x + i * ldx, k, (blocks16){input->values + i * k, input->scales + i * blocks, input->sums + i * blocks});
    }
    if (input->arranged) atr_arrange16_vnni(input->values, input->scales, input->m, k, from, to, input->arranged, input->quad_scales);
#else
    (void)input, (void)x, (void)ldx, (void)from, (void)to;
#endif
}

int atr_decode_input_prepare(atr_decode_input *input, const float *x, size_t ldx, size_t m, size_t k, int arranged) {
    if (!atr_decode_input_alloc(input, m, k, arranged)) return 0;
    atr_decode_input_rows(input, x, ldx, 0, m);
    return 1;
}

void atr_decode_input_free(atr_decode_input *input) {
    free(input->values);
    free(input->arranged);
    free(input->scales);
    free(input->sums);
    free(input->quad_scales);
    memset(input, 0, sizeof *input);
}

/// atr_qlinear of rows [r0, r1) of a tiled matrix, unpacked to the file's layout 64 rows at a time, where
/// no kernel reads the tiles themselves: generated tokens on the exact path, and threads told to take
/// the portable kernels.
static void through_rows(int type, const void *tiles, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo, int mode) {
    uint8_t *rows = malloc(64 * row_bytes(type, k));
    for (size_t from = r0; from < r1; from += 64) {
        const size_t count = r1 - from < 64 ? r1 - from : 64;
        atr_tiles_unpack(type, tiles, k, from, from + count, rows);
        atr_qlinear(type, rows, k, 0, count, x, ldx, m, out + from, ldo, mode);
    }
    free(rows);
}

void atr_qlinear_decode(int type, const void *weights, size_t r0, size_t r1, const atr_decode_input *input, float *out, size_t ldo) {
    if (type & ATR_TILED) {
        type &= ~ATR_TILED;
        return atr_qlinear_tiles(type, weights, input->k, r0, r1, input->values, input->scales, input->sums, input->m, out, ldo);
    }
#if defined(__x86_64__)
    qlinear16_avx2(type, weights, row_bytes(type, input->k), r0, r1, input, out, ldo);
#else
    (void)type, (void)weights, (void)r0, (void)r1, (void)input, (void)out, (void)ldo;
#endif
}

void atr_qlinear(int type, const void *weights, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo, int mode) {
    if (type & ATR_TILED) {
        type &= ~ATR_TILED;
        if (!(mode & (ATR_PROMPT | ATR_EXACT)) && atr_has_avx2()) {
            atr_decode_input input;
            atr_decode_input_prepare(&input, x, ldx, m, k, 0);
            atr_qlinear_tiles(type, weights, k, r0, r1, input.values, input.scales, input.sums, m, out, ldo);
            atr_decode_input_free(&input);
            return;
        }
#if defined(__x86_64__)
        // Prompt positions: the fp32 kernel widens a tile's 16 rows straight from the tile.
        if ((mode & ATR_PROMPT) && atr_has_avx512_vnni()) return atr_qlinear_prompt_avx512(type | ATR_TILED, weights, 0, k, r0, r1, x, ldx, m, out, ldo);
        // On AVX2 a tile at a time widens into a panel of the packed layout.
        if ((mode & ATR_PROMPT) && atr_has_avx2()) return atr_qlinear_prompt_tiles_avx2(type, weights, k, r0, r1, x, ldx, m, out, ldo);
#endif
        return through_rows(type, weights, k, r0, r1, x, ldx, m, out, ldo, mode);
    }
    const size_t stride = row_bytes(type, k);
#if defined(__x86_64__)
    // Generated tokens: the quantized blocks are read once per task and multiplied as they are.
    if (!(mode & ATR_PROMPT) && atr_has_avx2() && k % 32 == 0 && (type == 2 || type == 3 || type == 8)) {
        if (!(mode & ATR_EXACT)) {
            atr_decode_input input;
            atr_decode_input_prepare(&input, x, ldx, m, k, 1);
            qlinear16_avx2(type, weights, stride, r0, r1, &input, out, ldo);
            atr_decode_input_free(&input);
            return;
        }
        for (size_t i = 0; i < m; i += 4) {
            qlinear_few_avx2(type, weights, stride, k, r0, r1, x + i * ldx, ldx, m - i < 4 ? m - i : 4, out + i * ldo, ldo);
        }
        return;
    }
    // Prompt positions: on AVX-512, 16 weight rows at a time are widened in their own layout and blocks
    // of rows of x take dot products with them (prompt_avx512.c).
    if (atr_has_avx512_vnni() && k % 16 == 0) return atr_qlinear_prompt_avx512(type, weights, stride, k, r0, r1, x, ldx, m, out, ldo);
#endif
    // Elsewhere, 16 weight rows at a time are widened into a panel of the packed layout (see
    // linear.c), which every row of x then passes.
    float *row = aligned_alloc(64, (k * sizeof(float) + 63) / 64 * 64);
    float *panel = aligned_alloc(64, (16 * k * sizeof(float) + 63) / 64 * 64);
    const float zeros[16] = {0};
    for (size_t p = r0; p < r1; p += 16) {
        const size_t cols = r1 - p < 16 ? r1 - p : 16;
        for (size_t c = 0; c < 16; c++) {
            if (c < cols) atr_dequantize_row(type, (const uint8_t *)weights + (p + c) * stride, row, k);
            for (size_t q = 0; q < k; q++) panel[q * 16 + c] = c < cols ? row[q] : 0;
        }
        atr_apply_panel(x, ldx, m, k, panel, zeros, out + p, ldo, cols);
    }
    free(panel);
    free(row);
}

void atr_rms_norm(const float *x, const float *weight, float *out, size_t n, float eps) {
    double squares = 0;
    for (size_t i = 0; i < n; i++) squares += (double)x[i] * x[i];
    const float scale = (float)(1.0 / sqrt(squares / (double)n + eps));
    for (size_t i = 0; i < n; i++) out[i] = weight[i] * (x[i] * scale);
}

void atr_rope_angles(size_t rope_dim, size_t position, float base, float *angles) {
    for (size_t i = 0; i < rope_dim / 2; i++) {
        const float inverse = 1.0f / powf(base, (float)(2 * i) / (float)rope_dim);
        const float angle = (float)position * inverse;
        angles[2 * i] = cosf(angle);
        angles[2 * i + 1] = sinf(angle);
    }
}

void atr_rope_rotate(float *x, size_t heads, size_t head_dim, size_t rope_dim, const float *angles, int adjacent_pairs) {
    // A head at a time, along its pairs: the halves' loads are contiguous, so the compiler's vectors take
    // them (the pairs outside and the heads inside, strided, went an element at a time).
    const size_t half = rope_dim / 2;
    for (size_t h = 0; h < heads; h++) {
        float *v = x + h * head_dim;
        if (adjacent_pairs) {
            for (size_t i = 0; i < half; i++) {
                const float c = angles[2 * i], s = angles[2 * i + 1], x0 = v[2 * i], x1 = v[2 * i + 1];
                v[2 * i] = x0 * c - x1 * s;
                v[2 * i + 1] = x0 * s + x1 * c;
            }
        } else {
            for (size_t i = 0; i < half; i++) {
                const float c = angles[2 * i], s = angles[2 * i + 1], x0 = v[i], x1 = v[i + half];
                v[i] = x0 * c - x1 * s;
                v[i + half] = x0 * s + x1 * c;
            }
        }
    }
}

#if defined(__x86_64__)
static AVX2 void silu_mul_avx2(float *gate, const float *up, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_xor_ps(g, sign))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) {
        const float e = _mm256_cvtss_f32(exp8(_mm256_set1_ps(-gate[i])));
        gate[i] = gate[i] / (1.0f + e) * up[i];
    }
}

/// e^x for one float, as exp8 computes each lane (so a vector's tail rounds as its body does).
static inline AVX2 float exp1(float x) {
    return _mm256_cvtss_f32(exp8(_mm256_set1_ps(x)));
}

/// Attention of one position on AVX2 (head_dim a multiple of 8, at most 128): the dot products, the
/// softmax with a vector e^x, and the weighted sum of values held in registers.
static inline __attribute__((always_inline)) AVX2 void attention_avx2(
    const float *q, const float *k, const float *v, size_t ld, size_t length, size_t heads, size_t kv_heads, const size_t head_dim, float scale,
    float *scores, float *out) {
    const size_t group = heads / kv_heads, lanes = head_dim / 8;
    for (size_t h = 0; h < heads; h++) {
        const size_t kv = h / group;
        const float *query = q + h * head_dim;
        __m256 qv[16];
        for (size_t d = 0; d < lanes; d++) qv[d] = _mm256_loadu_ps(query + 8 * d);
        float max = -INFINITY;
        for (size_t t = 0; t < length; t++) {
            const float *key = k + t * ld + kv * head_dim;
            __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
            size_t d = 0;
            for (; d + 2 <= lanes; d += 2) {
                a = _mm256_fmadd_ps(qv[d], _mm256_loadu_ps(key + 8 * d), a);
                b = _mm256_fmadd_ps(qv[d + 1], _mm256_loadu_ps(key + 8 * d + 8), b);
            }
            if (d < lanes) a = _mm256_fmadd_ps(qv[d], _mm256_loadu_ps(key + 8 * d), a);
            scores[t] = hsum(_mm256_add_ps(a, b)) * scale;
            if (scores[t] > max) max = scores[t];
        }
        const __m256 top = _mm256_set1_ps(max);
        __m256 sums = _mm256_setzero_ps();
        size_t t = 0;
        for (; t + 8 <= length; t += 8) {
            const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + t), top));
            _mm256_storeu_ps(scores + t, e);
            sums = _mm256_add_ps(sums, e);
        }
        float sum = hsum(sums);
        for (; t < length; t++) {
            scores[t] = exp1(scores[t] - max);
            sum += scores[t];
        }
        const float inverse = 1.0f / sum;
        __m256 acc[16];
        for (size_t d = 0; d < lanes; d++) acc[d] = _mm256_setzero_ps();
        for (t = 0; t < length; t++) {
            const __m256 weight = _mm256_set1_ps(scores[t] * inverse);
            const float *value = v + t * ld + kv * head_dim;
            for (size_t d = 0; d < lanes; d++) acc[d] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value + 8 * d), acc[d]);
        }
        for (size_t d = 0; d < lanes; d++) _mm256_storeu_ps(out + h * head_dim + 8 * d, acc[d]);
    }
}

/// The common head sizes fixed at compile time, so that the sums of values stay in registers.
static AVX2 void attention_any_avx2(
    const float *q, const float *k, const float *v, size_t ld, size_t length, size_t heads, size_t kv_heads, size_t head_dim, float scale, float *scores,
    float *out) {
    switch (head_dim) {
    case 64: return attention_avx2(q, k, v, ld, length, heads, kv_heads, 64, scale, scores, out);
    case 128: return attention_avx2(q, k, v, ld, length, heads, kv_heads, 128, scale, scores, out);
    default: return attention_avx2(q, k, v, ld, length, heads, kv_heads, head_dim, scale, scores, out);
    }
}
#endif

void atr_silu_mul(float *gate, const float *up, size_t n) {
#if defined(__x86_64__)
    if (atr_has_avx2()) return silu_mul_avx2(gate, up, n);
#endif
    for (size_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/// The portable attention's softmax: scores ← e^(scores − max) in place; returns 1 / Σ (summed in double).
static float exponentiate(float *scores, size_t length) {
    float max = -INFINITY;
    for (size_t t = 0; t < length; t++)
        if (scores[t] > max) max = scores[t];
    double sum = 0;
    for (size_t t = 0; t < length; t++) {
        scores[t] = expf(scores[t] - max);
        sum += scores[t];
    }
    return (float)(1.0 / sum);
}

void atr_attention_decode(
    const float *q, const float *k, const float *v, size_t ld, size_t length, size_t heads, size_t kv_heads, size_t head_dim, float scale, float *scores,
    float *out) {
    const size_t group = heads / kv_heads;
#if defined(__x86_64__)
    if (atr_has_avx512_vnni() && head_dim % 16 == 0 && head_dim <= 128) {
        for (size_t kv = 0; kv < kv_heads; kv++) {
            atr_attention_group_avx512(q + kv * group * head_dim, k + kv * head_dim, v + kv * head_dim, ld, length, group, head_dim, scale, scores,
                                       out + kv * group * head_dim);
        }
        return;
    }
    if (atr_has_avx2() && head_dim % 8 == 0 && head_dim <= 128) return attention_any_avx2(q, k, v, ld, length, heads, kv_heads, head_dim, scale, scores, out);
#endif
    for (size_t h = 0; h < heads; h++) {
        const size_t kv = h / group;
        const float *query = q + h * head_dim;
        for (size_t t = 0; t < length; t++) scores[t] = atr_dot(query, k + t * ld + kv * head_dim, head_dim) * scale;
        const float inverse = exponentiate(scores, length);
        float *o = out + h * head_dim;
        memset(o, 0, head_dim * sizeof(float));
        for (size_t t = 0; t < length; t++) {
            const float weight = scores[t] * inverse;
            const float *value = v + t * ld + kv * head_dim;
            for (size_t d = 0; d < head_dim; d++) o[d] += weight * value[d];
        }
    }
}

void atr_kv16_store(const float *x, size_t heads, size_t head_dim, int16_t *out, float *scales, size_t scale_stride) {
#if defined(__x86_64__)
    if (atr_has_avx512_vnni() && head_dim % 16 == 0) return atr_kv16_store_avx512(x, heads, head_dim, out, scales, scale_stride);
    if (atr_has_avx2() && head_dim % 16 == 0) return atr_kv16_store_avx2(x, heads, head_dim, out, scales, scale_stride);
#endif
    // Rounding to nearest, ties to even, as the vector path's conversion does: both store the same integers.
    for (size_t h = 0; h < heads; h++) {
        const float *values = x + h * head_dim;
        float largest = 0;
        for (size_t d = 0; d < head_dim; d++) largest = fmaxf(largest, fabsf(values[d]));
        const float inverse = largest > 0 ? 32767.0f / largest : 0;
        for (size_t d = 0; d < head_dim; d++) {
            const float scaled = nearbyintf(values[d] * inverse);
            out[h * head_dim + d] = (int16_t)(scaled > 32767 ? 32767 : scaled < -32767 ? -32767 : scaled);
        }
        scales[h * scale_stride] = largest / 32767.0f;
    }
}

void atr_attention_group16(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    size_t head_dim, float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (atr_has_avx512_vnni() && head_dim % 16 == 0 && head_dim <= 128)
        return atr_attention_group16_avx512(q, k, k_scales, v, v_scales, ld, length, group, head_dim, scale, scores, out);
    if (atr_has_avx2() && head_dim % 32 == 0 && head_dim <= 128)
        return atr_attention_group16_avx2(q, k, k_scales, v, v_scales, ld, length, group, head_dim, scale, scores, out);
#endif
    for (size_t h = 0; h < group; h++) {
        const float *query = q + h * head_dim;
        float *row = scores + h * length;
        for (size_t t = 0; t < length; t++) {
            const int16_t *key = k + t * ld;
            float sum = 0;
            for (size_t d = 0; d < head_dim; d++) sum += query[d] * (float)key[d];
            row[t] = sum * (k_scales[t] * scale);
        }
        const float inverse = exponentiate(row, length);
        float *o = out + h * head_dim;
        memset(o, 0, head_dim * sizeof(float));
        for (size_t t = 0; t < length; t++) {
            const float weight = row[t] * inverse * v_scales[t];
            const int16_t *value = v + t * ld;
            for (size_t d = 0; d < head_dim; d++) o[d] += weight * (float)value[d];
        }
    }
}
