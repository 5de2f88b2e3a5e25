// Grouped-query attention of one generated position over the 16-bit cache, on AVX2: the query heads
// that share a key/value head pass its cache together, as on AVX-512 (attention_avx512.c).
//
// Scores go 4 positions and 3 heads at a time, their 12 vectors of 8 partial sums in registers: each
// key piece of 8 widens to floats once for the 3 heads, whose queries come from memory into the
// products. One tree of horizontal adds folds a head's 4 vectors into 4 scores, every score's lanes
// added in the same order whatever stands beside it. The weighted sum of values goes 24 outputs of three
// heads at a time, their 9 sums in registers, each value piece widened from 16 bits once for the three;
// the positions' scales join the softmax's weights once each. Nothing the loops carry passes through
// memory: with 12 sums of 32 outputs (the kernel before this one) one of them did, and its store and
// load set the pace of the values' loop. The same floats as that kernel, in about 60 % of its time with
// the cache in L2.
#include "ckernels.h"
#include "simd.h"
#include "kernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

/// Lanes [0, count) set, for masked loads and stores of a block's tail.
static inline AVX2 __m256i first_lanes(size_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2 void atr_kv16_store_avx2(const float *x, size_t heads, size_t head_dim, int16_t *out, float *scales, size_t scale_stride) {
    for (size_t h = 0; h < heads; h++) {
        const float *values = x + h * head_dim;
        // The largest magnitude, then 16-bit integers rounded to nearest (ties to even, as the portable
        // loop's nearbyintf), packed in order.
        const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
        __m256 top = _mm256_setzero_ps();
        for (size_t d = 0; d < head_dim; d += 8) top = _mm256_max_ps(top, _mm256_and_ps(_mm256_loadu_ps(values + d), magnitude));
        const float largest = hmax(top);
        const __m256 inverse = _mm256_set1_ps(largest > 0 ? 32767.0f / largest : 0);
        const __m256 bound = _mm256_set1_ps(32767.0f), floor = _mm256_set1_ps(-32767.0f);
        for (size_t d = 0; d < head_dim; d += 16) {
            const __m256 a = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(values + d), inverse), floor), bound);
            const __m256 b = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(values + d + 8), inverse), floor), bound);
            const __m256i packed = _mm256_packs_epi32(_mm256_cvtps_epi32(a), _mm256_cvtps_epi32(b));
            _mm256_storeu_si256((__m256i *)(out + h * head_dim + d), _mm256_permute4x64_epi64(packed, 0xD8));
        }
        scales[h * scale_stride] = largest / 32767.0f;
    }
}

/// 4 vectors of 8 partial sums → their 4 sums, each vector's lanes added in one order: ((0+1)+(2+3))+((4+5)+(6+7)).
static inline AVX2 __m128 fold4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/// Scores of H ≤ 3 query heads against `count` ≤ 4 positions' 16-bit keys from position t: each key's
/// piece of 8 widens once for the H heads, whose queries come from memory into the products, and the 12
/// sums stay in registers. Lane by lane the same products in the same order as a position alone.
static inline __attribute__((always_inline)) AVX2 void scores4(
    const int H, const int count, const float *q, size_t head_dim, const int16_t *k, size_t ld, size_t t, size_t lanes, __m128 scales, size_t length,
    float *scores) {
    __m256 acc[3][4];
#pragma clang loop unroll(full)
    for (int p = 0; p < 4; p++) {
        const __m256 key = p < count ? _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(k + (t + p) * ld)))) : _mm256_setzero_ps();
#pragma clang loop unroll(full)
        for (int h = 0; h < H; h++) acc[h][p] = _mm256_mul_ps(_mm256_loadu_ps(q + h * head_dim), key);
    }
    for (size_t d = 1; d < lanes; d++) {
#pragma clang loop unroll(full)
        for (int p = 0; p < 4; p++) {
            const __m256 key = p < count ? _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(k + (t + p) * ld + 8 * d)))) : _mm256_setzero_ps();
#pragma clang loop unroll(full)
            for (int h = 0; h < H; h++) acc[h][p] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * head_dim + 8 * d), key, acc[h][p]);
        }
    }
#pragma clang loop unroll(full)
    for (int h = 0; h < H; h++) {
        const __m128 four = _mm_mul_ps(fold4(acc[h][0], acc[h][1], acc[h][2], acc[h][3]), scales);
        if (count == 4) _mm_storeu_ps(scores + h * length + t, four);
        else {
            float lanes4[4];
            _mm_storeu_ps(lanes4, four);
            for (int p = 0; p < count; p++) scores[h * length + t + p] = lanes4[p];
        }
    }
}

/// scores4 for min(heads, 3) heads.
static inline __attribute__((always_inline)) AVX2 void scores_of(
    size_t heads, const int count, const float *q, size_t head_dim, const int16_t *k, size_t ld, size_t t, size_t lanes, __m128 scales, size_t length,
    float *scores) {
    switch (heads < 3 ? heads : 3) {
    case 1: return scores4(1, count, q, head_dim, k, ld, t, lanes, scales, length, scores);
    case 2: return scores4(2, count, q, head_dim, k, ld, t, lanes, scales, length, scores);
    default: return scores4(3, count, q, head_dim, k, ld, t, lanes, scales, length, scores);
    }
}

/// Scores of `group` query heads (head_dim = 8·lanes) against the 16-bit keys, times their positions'
/// scales and `scale`, 4 positions at a time.
static inline __attribute__((always_inline)) AVX2 void group_scores16(
    const float *q, const int16_t *k, const int16_t *v, const float *k_scales, size_t ld, size_t length, size_t group, const size_t lanes, float scale,
    float *scores) {
    const size_t head_dim = 8 * lanes;
    const __m128 factor = _mm_set1_ps(scale);
    size_t t = 0;
    for (; t + 4 <= length; t += 4) {
        // Ask for the keys 16 positions ahead, and for the positions' values now (see attention_avx512.c).
        for (size_t p = 0; p < 4; p++)
            for (size_t d = 0; d < head_dim; d += 32) {
                _mm_prefetch((const char *)(k + (t + p + 16) * ld + d), _MM_HINT_T0);
                _mm_prefetch((const char *)(v + (t + p) * ld + d), _MM_HINT_T1);
            }
        const __m128 scales = _mm_mul_ps(_mm_loadu_ps(k_scales + t), factor);
        for (size_t h = 0; h < group; h += 3) scores_of(group - h, 4, q + h * head_dim, head_dim, k, ld, t, lanes, scales, length, scores + h * length);
    }
    if (t < length) {
        const int count = (int)(length - t);
        const __m128 scales = _mm_mul_ps(_mm_castsi128_ps(_mm_maskload_epi32((const int *)(k_scales + t), _mm256_castsi256_si128(first_lanes(count)))), factor);
        for (size_t h = 0; h < group; h += 3) scores_of(group - h, count, q + h * head_dim, head_dim, k, ld, t, lanes, scales, length, scores + h * length);
    }
}

/// scores ← e^(scores − max) / Σ · factors, in place.
static inline AVX2 void softmax(float *scores, size_t length, const float *factors) {
    // The largest score, 8 lanes at a time (a maximum is exact in any order).
    __m256 top = _mm256_set1_ps(-INFINITY);
    size_t t = 0;
    for (; t + 8 <= length; t += 8) top = _mm256_max_ps(top, _mm256_loadu_ps(scores + t));
    float max = hmax(top);
    for (; t < length; t++) max = scores[t] > max ? scores[t] : max;
    const __m256 shift = _mm256_set1_ps(max);
    __m256 sums = _mm256_setzero_ps();
    for (t = 0; t + 8 <= length; t += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + t), shift));
        _mm256_storeu_ps(scores + t, e);
        sums = _mm256_add_ps(sums, e);
    }
    if (t < length) {
        const __m256i mask = first_lanes(length - t);
        const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(mask), exp8(_mm256_sub_ps(_mm256_maskload_ps(scores + t, mask), shift)));
        _mm256_maskstore_ps(scores + t, mask, e);
        sums = _mm256_add_ps(sums, e);
    }
    const __m256 inverse = _mm256_set1_ps(1.0f / hsum(sums));
    for (t = 0; t + 8 <= length; t += 8) _mm256_storeu_ps(scores + t, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(scores + t), inverse), _mm256_loadu_ps(factors + t)));
    if (t < length) {
        const __m256i mask = first_lanes(length - t);
        _mm256_maskstore_ps(scores + t, mask, _mm256_mul_ps(_mm256_mul_ps(_mm256_maskload_ps(scores + t, mask), inverse), _mm256_maskload_ps(factors + t, mask)));
    }
}

/// out[h][0 … 8·C − 1] = Σ_t weights[h][t] · v[t][0 … 8·C − 1] for H ≤ 3 heads at once (weights `length`
/// apart, out `head_dim` apart): each value piece widens from 16 bits once for all of them. With C ≤ 3
/// pieces the 3·C sums, the weights and a piece fit the sixteen registers, so no sum goes through memory.
static inline __attribute__((always_inline)) AVX2 void weighted_values(
    const int H, const int C, const float *weights, size_t length, const int16_t *v, size_t ld, size_t head_dim, float *out) {
    __m256 acc[3][3];
    for (int h = 0; h < H; h++)
        for (int d = 0; d < C; d++) acc[h][d] = _mm256_setzero_ps();
    for (size_t t = 0; t < length; t++) {
        const int16_t *value = v + t * ld;
        __m256 weight[3];
        for (int h = 0; h < H; h++) weight[h] = _mm256_set1_ps(weights[h * length + t]);
#pragma clang loop unroll(full)
        for (int d = 0; d < C; d++) {
            const __m256 row = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(value + 8 * d))));
#pragma clang loop unroll(full)
            for (int h = 0; h < H; h++) acc[h][d] = _mm256_fmadd_ps(weight[h], row, acc[h][d]);
        }
    }
    for (int h = 0; h < H; h++)
        for (int d = 0; d < C; d++) _mm256_storeu_ps(out + h * head_dim + 8 * d, acc[h][d]);
}

/// The weighted values of H heads, a sweep over the positions for every 3 pieces of 8 outputs.
static inline __attribute__((always_inline)) AVX2 void weighted_values_of(
    const int H, const float *weights, size_t length, const int16_t *v, size_t ld, size_t head_dim, float *out) {
    size_t d = 0;
    for (; d + 24 <= head_dim; d += 24) weighted_values(H, 3, weights, length, v + d, ld, head_dim, out + d);
    if (head_dim - d == 16) weighted_values(H, 2, weights, length, v + d, ld, head_dim, out + d);
    else if (head_dim - d == 8) weighted_values(H, 1, weights, length, v + d, ld, head_dim, out + d);
}

static inline __attribute__((always_inline)) AVX2 void group_attention16(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    const size_t lanes, float scale, float *scores, float *out) {
    const size_t head_dim = 8 * lanes;
    group_scores16(q, k, v, k_scales, ld, length, group, lanes, scale, scores);
    for (size_t h = 0; h < group; h++) softmax(scores + h * length, length, v_scales);
    for (size_t h = 0; h < group; h += 3) {
        const float *weights = scores + h * length;
        switch (group - h < 3 ? group - h : 3) {
        case 1: weighted_values_of(1, weights, length, v, ld, head_dim, out + h * head_dim); break;
        case 2: weighted_values_of(2, weights, length, v, ld, head_dim, out + h * head_dim); break;
        default: weighted_values_of(3, weights, length, v, ld, head_dim, out + h * head_dim); break;
        }
    }
}

AVX2 void atr_attention_group16_avx2(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    size_t head_dim, float scale, float *scores, float *out) {
    switch (head_dim) {
    case 64: return group_attention16(q, k, k_scales, v, v_scales, ld, length, group, 8, scale, scores, out);
    case 128: return group_attention16(q, k, k_scales, v, v_scales, ld, length, group, 16, scale, scores, out);
    default: return group_attention16(q, k, k_scales, v, v_scales, ld, length, group, head_dim / 8, scale, scores, out);
    }
}
#endif
