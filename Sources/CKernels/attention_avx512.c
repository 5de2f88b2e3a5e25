// Grouped-query attention of one generated position on AVX-512: the query heads that share a key/value
// head pass its cache together, so each key and value row is loaded once for all of them.
//
// Scores go 16 positions at a time: each position's dot product stays a vector of 16 partial sums, and
// one shuffle tree (fold16.h) folds the 16 vectors into 16 scores, where reducing each alone took a
// dozen instructions a position. The weighted sum of values keeps every head's output in registers.
//
// The cache is fp32 (the exact path) or 16-bit integers with a scale per head and position. Reading
// the cache is most of attention's time with many sequences (each reads its own, every step, where the
// weights are read once for all), so halving its bytes nearly halves that time; the integers widen to
// floats as they load, and the scales join once per 16 positions (keys) and once per weight (values).
#include "ckernels.h"
#include "fold16.h"
#include "simd.h"
#include "kernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

/// The dot products of a query head (`lanes` vectors of 16 floats) with `count` ≤ 16 rows (`ld` floats
/// apart), lane p the product with row p (zeros past `count`).
static inline __attribute__((always_inline)) AVX512 __m512 block_dots(const __m512 *query, size_t lanes, const float *rows, size_t ld, size_t count) {
    __m512 sums[16];
#pragma clang loop unroll(full)
    for (size_t p = 0; p < 16; p++) {
        if (p >= count) {
            sums[p] = _mm512_setzero_ps();
            continue;
        }
        const float *row = rows + p * ld;
        __m512 sum = _mm512_mul_ps(query[0], _mm512_loadu_ps(row));
        for (size_t d = 1; d < lanes; d++) sum = _mm512_fmadd_ps(query[d], _mm512_loadu_ps(row + 16 * d), sum);
        sums[p] = sum;
    }
    return atr_fold16(sums);
}

/// Scores of one query head (`lanes` vectors of 16 floats) against positions [0, length), times `scale`.
static inline __attribute__((always_inline)) AVX512 void head_scores(
    const float *q, const float *k, size_t ld, size_t length, const size_t lanes, float scale, float *scores) {
    __m512 query[8];
    for (size_t d = 0; d < lanes; d++) query[d] = _mm512_loadu_ps(q + 16 * d);
    for (size_t t = 0; t < length; t += 16) {
        const size_t count = length - t < 16 ? length - t : 16;
        // The cache streams from memory, a row's head apart from the next: ask a block ahead.
        for (size_t p = 0; p < count; p++)
            for (size_t d = 0; d < lanes; d++) _mm_prefetch((const char *)(k + (t + p + 16) * ld + 16 * d), _MM_HINT_T0);
        _mm512_mask_storeu_ps(scores + t, (__mmask16)((1u << count) - 1), _mm512_mul_ps(block_dots(query, lanes, k + t * ld, ld, count), _mm512_set1_ps(scale)));
    }
}

/// scores ← e^(scores − max) / Σ, in place, each then times factors[t] where factors are given.
static inline AVX512 void softmax(float *scores, size_t length, const float *factors) {
    __m512 top = _mm512_set1_ps(-INFINITY);
    size_t t = 0;
    for (; t + 16 <= length; t += 16) top = _mm512_max_ps(top, _mm512_loadu_ps(scores + t));
    if (t < length) {
        const __mmask16 mask = (__mmask16)((1u << (length - t)) - 1);
        top = _mm512_mask_max_ps(top, mask, top, _mm512_maskz_loadu_ps(mask, scores + t));
    }
    const float max = _mm512_reduce_max_ps(top);
    const __m256 shift = _mm256_set1_ps(max);
    __m256 sums = _mm256_setzero_ps();
    for (t = 0; t + 8 <= length; t += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + t), shift));
        _mm256_storeu_ps(scores + t, e);
        sums = _mm256_add_ps(sums, e);
    }
    if (t < length) {
        const __mmask8 mask = (__mmask8)((1u << (length - t)) - 1);
        const __m256 e = _mm256_maskz_mov_ps(mask, exp8(_mm256_sub_ps(_mm256_maskz_loadu_ps(mask, scores + t), shift)));
        _mm256_mask_storeu_ps(scores + t, mask, e);
        sums = _mm256_add_ps(sums, e);
    }
    const __m512 inverse = _mm512_set1_ps(1.0f / hsum(sums));
    for (t = 0; t < length; t += 16) {
        const __mmask16 mask = length - t >= 16 ? 0xffff : (__mmask16)((1u << (length - t)) - 1);
        __m512 weights = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, scores + t), inverse);
        if (factors) weights = _mm512_mul_ps(weights, _mm512_maskz_loadu_ps(mask, factors + t));
        _mm512_mask_storeu_ps(scores + t, mask, weights);
    }
}

/// out[h] = Σ_t scores[h][t] · v[t] for `heads` heads at once (at most `most`, each `lanes` vectors wide,
/// most·lanes ≤ 16), every value row loaded once for all of them. The rows are fp32, or 16-bit integers
/// (`sixteen`) widened as they load, whose scales the scores already carry.
static inline __attribute__((always_inline)) AVX512 void weighted_values(
    const float *scores, size_t length, const void *v, size_t ld, size_t heads, const size_t most, const size_t lanes, const int sixteen, float *out) {
    const size_t size = sixteen ? sizeof(int16_t) : sizeof(float), ahead = sixteen ? 16 : 8;
    __m512 acc[16];
    for (size_t a = 0; a < most * lanes; a++) acc[a] = _mm512_setzero_ps();
    for (size_t t = 0; t < length; t++) {
        const char *value = (const char *)v + t * ld * size;
        for (size_t line = 0; line < 16 * lanes * size; line += 64) _mm_prefetch(value + ahead * ld * size + line, _MM_HINT_T0);
        __m512 row[8];
        for (size_t d = 0; d < lanes; d++) {
            row[d] = sixteen ? _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(value + 32 * d))))
                             : _mm512_loadu_ps((const float *)value + 16 * d);
        }
#pragma clang loop unroll(full)
        for (size_t h = 0; h < most; h++) {
            if (h >= heads) break;
            const __m512 weight = _mm512_set1_ps(scores[h * length + t]);
            for (size_t d = 0; d < lanes; d++) acc[h * lanes + d] = _mm512_fmadd_ps(weight, row[d], acc[h * lanes + d]);
        }
    }
    for (size_t h = 0; h < heads; h++)
        for (size_t d = 0; d < lanes; d++) _mm512_storeu_ps(out + h * lanes * 16 + 16 * d, acc[h * lanes + d]);
}

/// The heads of one key/value head, head_dim = 16·lanes fixed at compile time. As many heads pass the
/// values together as leave their sums in registers (16 vectors).
static inline __attribute__((always_inline)) AVX512 void group_attention(
    const float *q, const float *k, const float *v, size_t ld, size_t length, size_t group, const size_t lanes, float scale, float *scores,
    float *out) {
    const size_t head_dim = 16 * lanes, most = 16 / lanes;
    for (size_t h = 0; h < group; h++) {
        head_scores(q + h * head_dim, k, ld, length, lanes, scale, scores + h * length);
        softmax(scores + h * length, length, NULL);
    }
    for (size_t h = 0; h < group; h += most) {
        const size_t heads = group - h < most ? group - h : most;
        weighted_values(scores + h * length, length, v, ld, heads, most, lanes, 0, out + h * head_dim);
    }
}

AVX512 void atr_kv16_store_avx512(const float *x, size_t heads, size_t head_dim, int16_t *out, float *scales, size_t scale_stride) {
    const __m512 magnitude = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (size_t h = 0; h < heads; h++) {
        const float *values = x + h * head_dim;
        __m512 top = _mm512_setzero_ps();
        for (size_t d = 0; d < head_dim; d += 16) top = _mm512_max_ps(top, _mm512_and_ps(_mm512_loadu_ps(values + d), magnitude));
        const float largest = _mm512_reduce_max_ps(top);
        const __m512 inverse = _mm512_set1_ps(largest > 0 ? 32767.0f / largest : 0);
        const __m512 bound = _mm512_set1_ps(32767.0f);
        for (size_t d = 0; d < head_dim; d += 16) {
            const __m512 scaled = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(values + d), inverse), _mm512_sub_ps(_mm512_setzero_ps(), bound)), bound);
            _mm256_storeu_si256((__m256i *)(out + h * head_dim + d), _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(scaled)));
        }
        scales[h * scale_stride] = largest / 32767.0f;
    }
}

/// Scores of `group` query heads against a 16-bit cache, 16 positions at a time: the positions' key
/// rows widen to floats once, into `widened`, for all the heads, and each head's 16 scores take the
/// positions' scales (times `scale`) in one product.
static inline __attribute__((always_inline)) AVX512 void group_scores16(
    const float *q, const int16_t *k, const int16_t *v, const float *k_scales, size_t ld, size_t length, size_t group, const size_t lanes, float scale,
    float *scores) {
    const size_t head_dim = 16 * lanes;
    float widened[16 * 128] __attribute__((aligned(64)));
    for (size_t t = 0; t < length; t += 16) {
        const size_t count = length - t < 16 ? length - t : 16;
        for (size_t p = 0; p < count; p++) {
            const int16_t *key = k + (t + p) * ld;
            // The cache streams from memory and each position's work is short: ask for the keys two blocks
            // ahead, and for the position's values now, which the weighted sum then finds at hand (a head's
            // values over a few hundred positions fit in L1 and L2).
            for (size_t d = 0; d < lanes; d += 2) {
                _mm_prefetch((const char *)(key + 32 * ld + 16 * d), _MM_HINT_T0);
                _mm_prefetch((const char *)(v + (t + p) * ld + 16 * d), _MM_HINT_T1);
            }
            for (size_t d = 0; d < lanes; d++) {
                const __m256i integers = _mm256_loadu_si256((const __m256i *)(key + 16 * d));
                _mm512_store_ps(widened + p * head_dim + 16 * d, _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(integers)));
            }
        }
        const __mmask16 mask = (__mmask16)((1u << count) - 1);
        const __m512 scales = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, k_scales + t), _mm512_set1_ps(scale));
        for (size_t h = 0; h < group; h++) {
            __m512 query[8];
            for (size_t d = 0; d < lanes; d++) query[d] = _mm512_loadu_ps(q + h * head_dim + 16 * d);
            _mm512_mask_storeu_ps(scores + h * length + t, mask, _mm512_mul_ps(block_dots(query, lanes, widened, head_dim, count), scales));
        }
    }
}

static inline __attribute__((always_inline)) AVX512 void group_attention16(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    const size_t lanes, float scale, float *scores, float *out) {
    const size_t head_dim = 16 * lanes, most = 16 / lanes;
    group_scores16(q, k, v, k_scales, ld, length, group, lanes, scale, scores);
    for (size_t h = 0; h < group; h++) softmax(scores + h * length, length, v_scales);
    for (size_t h = 0; h < group; h += most) {
        const size_t heads = group - h < most ? group - h : most;
        weighted_values(scores + h * length, length, v, ld, heads, most, lanes, 1, out + h * head_dim);
    }
}

AVX512 void atr_attention_group16_avx512(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    size_t head_dim, float scale, float *scores, float *out) {
    switch (head_dim) {
    case 64: return group_attention16(q, k, k_scales, v, v_scales, ld, length, group, 4, scale, scores, out);
    case 128: return group_attention16(q, k, k_scales, v, v_scales, ld, length, group, 8, scale, scores, out);
    default: return group_attention16(q, k, k_scales, v, v_scales, ld, length, group, head_dim / 16, scale, scores, out);
    }
}

AVX512 void atr_attention_group_avx512(
    const float *q, const float *k, const float *v, size_t ld, size_t length, size_t group, size_t head_dim, float scale, float *scores, float *out) {
    switch (head_dim) {
    case 64: return group_attention(q, k, v, ld, length, group, 4, scale, scores, out);
    case 128: return group_attention(q, k, v, ld, length, group, 8, scale, scores, out);
    default: return group_attention(q, k, v, ld, length, group, head_dim / 16, scale, scores, out);
    }
}
#endif
