// Grouped-query attention of one generated position over the 16-bit cache, on AVX2: the query heads
// that share a key/value head pass its cache together, as on AVX-512 (attention_avx512.c).
//
// Scores go 8 positions at a time: their key rows widen to floats once, for every head of the group;
// each position's dot product stays a vector of 8 partial sums, and one tree of horizontal adds folds
// the 8 vectors into 8 scores, every score's lanes added in the same order whatever stands beside it.
// The weighted sum of values goes 32 outputs of three heads at a time, their sums in registers, each
// value row widened from 16 bits once for the three; the positions' scales join the softmax's weights
// once each.
#include "ckernels.h"
#include "simd.h"
#include "kernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

/// 8 vectors of 8 partial sums → one vector whose lane v is the sum of vector v's lanes.
static inline AVX2 __m256 fold8(const __m256 v[8]) {
    const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

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
        float lanes[8];
        _mm256_storeu_ps(lanes, top);
        float largest = 0;
        for (int j = 0; j < 8; j++) largest = fmaxf(largest, lanes[j]);
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

/// Scores of `group` query heads (head_dim = 8·lanes) against the 16-bit keys, times their positions'
/// scales and `scale`, 8 positions at a time.
static inline __attribute__((always_inline)) AVX2 void group_scores16(
    const float *q, const int16_t *k, const int16_t *v, const float *k_scales, size_t ld, size_t length, size_t group, const size_t lanes, float scale,
    float *scores) {
    const size_t head_dim = 8 * lanes;
    float widened[8 * 128] __attribute__((aligned(32)));
    for (size_t t = 0; t < length; t += 8) {
        const size_t count = length - t < 8 ? length - t : 8;
        for (size_t p = 0; p < count; p++) {
            const int16_t *key = k + (t + p) * ld;
            // Ask for the keys two blocks ahead, and for the position's values now (see attention_avx512.c).
            for (size_t d = 0; d < head_dim; d += 32) {
                _mm_prefetch((const char *)(key + 16 * ld + d), _MM_HINT_T0);
                _mm_prefetch((const char *)(v + (t + p) * ld + d), _MM_HINT_T1);
            }
            for (size_t d = 0; d < lanes; d++) {
                const __m128i integers = _mm_loadu_si128((const __m128i *)(key + 8 * d));
                _mm256_store_ps(widened + p * head_dim + 8 * d, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(integers)));
            }
        }
        const __m256i mask = first_lanes(count);
        const __m256 scales = _mm256_mul_ps(_mm256_maskload_ps(k_scales + t, mask), _mm256_set1_ps(scale));
        for (size_t h = 0; h < group; h++) {
            const float *query = q + h * head_dim;
            __m256 sums[8];
#pragma clang loop unroll(full)
            for (size_t p = 0; p < 8; p++) {
                if (p >= count) {
                    sums[p] = _mm256_setzero_ps();
                    continue;
                }
                const float *row = widened + p * head_dim;
                __m256 sum = _mm256_mul_ps(_mm256_loadu_ps(query), _mm256_load_ps(row));
                for (size_t d = 1; d < lanes; d++) sum = _mm256_fmadd_ps(_mm256_loadu_ps(query + 8 * d), _mm256_load_ps(row + 8 * d), sum);
                sums[p] = sum;
            }
            _mm256_maskstore_ps(scores + h * length + t, mask, _mm256_mul_ps(fold8(sums), scales));
        }
    }
}

/// scores ← e^(scores − max) / Σ · factors, in place.
static inline AVX2 void softmax(float *scores, size_t length, const float *factors) {
    float max = -INFINITY;
    for (size_t t = 0; t < length; t++) max = scores[t] > max ? scores[t] : max;
    const __m256 shift = _mm256_set1_ps(max);
    __m256 sums = _mm256_setzero_ps();
    size_t t = 0;
    for (; t + 8 <= length; t += 8) {
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

/// out[h][0 … 31] = Σ_t weights[h][t] · v[t][0 … 31] for H ≤ 3 heads at once (weights `length` apart, out
/// `head_dim` apart): each value row widens from 16 bits once for all of them, and their 12 sums stay
/// in registers.
static inline __attribute__((always_inline)) AVX2 void weighted_values32(
    const int H, const float *weights, size_t length, const int16_t *v, size_t ld, size_t head_dim, float *out) {
    __m256 acc[3][4];
    for (int h = 0; h < H; h++)
        for (int d = 0; d < 4; d++) acc[h][d] = _mm256_setzero_ps();
    for (size_t t = 0; t < length; t++) {
        const int16_t *value = v + t * ld;
        __m256 weight[3];
        for (int h = 0; h < H; h++) weight[h] = _mm256_set1_ps(weights[h * length + t]);
#pragma clang loop unroll(full)
        for (int d = 0; d < 4; d++) {
            const __m256 row = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(value + 8 * d))));
#pragma clang loop unroll(full)
            for (int h = 0; h < H; h++) acc[h][d] = _mm256_fmadd_ps(weight[h], row, acc[h][d]);
        }
    }
    for (int h = 0; h < H; h++)
        for (int d = 0; d < 4; d++) _mm256_storeu_ps(out + h * head_dim + 8 * d, acc[h][d]);
}

static inline __attribute__((always_inline)) AVX2 void group_attention16(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    const size_t lanes, float scale, float *scores, float *out) {
    const size_t head_dim = 8 * lanes;
    group_scores16(q, k, v, k_scales, ld, length, group, lanes, scale, scores);
    for (size_t h = 0; h < group; h++) softmax(scores + h * length, length, v_scales);
    for (size_t h = 0; h < group; h += 3) {
        const float *weights = scores + h * length;
        for (size_t d = 0; d < head_dim; d += 32) {
            switch (group - h < 3 ? group - h : 3) {
            case 1: weighted_values32(1, weights, length, v + d, ld, head_dim, out + h * head_dim + d); break;
            case 2: weighted_values32(2, weights, length, v + d, ld, head_dim, out + h * head_dim + d); break;
            default: weighted_values32(3, weights, length, v + d, ld, head_dim, out + h * head_dim + d); break;
            }
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
