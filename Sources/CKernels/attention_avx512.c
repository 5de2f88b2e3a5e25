// Grouped-query attention of one generated position on AVX-512: the query heads that share a key/value
// head pass its cache together, so each key and value row is loaded once for all of them.
//
// Scores go 16 positions at a time: each position's dot product stays a vector of 16 partial sums, and
// one shuffle tree (fold16.h) folds the 16 vectors into 16 scores, where reducing each alone took a
// dozen instructions a position. The weighted sum of values keeps every head's output in registers.
#include "ckernels.h"
#include "fold16.h"
#include "simd.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

/// Scores of one query head (`lanes` vectors of 16 floats) against positions [0, length), times `scale`.
static inline __attribute__((always_inline)) AVX512 void head_scores(
    const float *q, const float *k, size_t ld, size_t length, const size_t lanes, float scale, float *scores) {
    __m512 query[8];
    for (size_t d = 0; d < lanes; d++) query[d] = _mm512_loadu_ps(q + 16 * d);
    for (size_t t = 0; t < length; t += 16) {
        const size_t count = length - t < 16 ? length - t : 16;
        __m512 sums[16];
#pragma clang loop unroll(full)
        for (size_t p = 0; p < 16; p++) {
            if (p >= count) {
                sums[p] = _mm512_setzero_ps();
                continue;
            }
            const float *key = k + (t + p) * ld;
            // The cache streams from memory, a row's head apart from the next: ask a block ahead.
            for (size_t d = 0; d < lanes; d++) _mm_prefetch((const char *)(key + 16 * ld + 16 * d), _MM_HINT_T0);
            __m512 sum = _mm512_mul_ps(query[0], _mm512_loadu_ps(key));
            for (size_t d = 1; d < lanes; d++) sum = _mm512_fmadd_ps(query[d], _mm512_loadu_ps(key + 16 * d), sum);
            sums[p] = sum;
        }
        _mm512_mask_storeu_ps(scores + t, (__mmask16)((1u << count) - 1), _mm512_mul_ps(atr_fold16(sums), _mm512_set1_ps(scale)));
    }
}

/// scores ← e^(scores − max) / Σ, in place.
static inline AVX512 void softmax(float *scores, size_t length) {
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
    for (t = 0; t + 16 <= length; t += 16) _mm512_storeu_ps(scores + t, _mm512_mul_ps(_mm512_loadu_ps(scores + t), inverse));
    if (t < length) {
        const __mmask16 mask = (__mmask16)((1u << (length - t)) - 1);
        _mm512_mask_storeu_ps(scores + t, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, scores + t), inverse));
    }
}

/// out[h] = Σ_t scores[h][t] · v[t] for `heads` heads at once (at most `most`, each `lanes` vectors wide,
/// most·lanes ≤ 16), every value row loaded once for all of them.
static inline __attribute__((always_inline)) AVX512 void weighted_values(
    const float *scores, size_t length, const float *v, size_t ld, size_t heads, const size_t most, const size_t lanes, float *out) {
    __m512 acc[16];
    for (size_t a = 0; a < most * lanes; a++) acc[a] = _mm512_setzero_ps();
    for (size_t t = 0; t < length; t++) {
        const float *value = v + t * ld;
        for (size_t d = 0; d < lanes; d++) _mm_prefetch((const char *)(value + 8 * ld + 16 * d), _MM_HINT_T0);
        __m512 row[8];
        for (size_t d = 0; d < lanes; d++) row[d] = _mm512_loadu_ps(value + 16 * d);
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
        softmax(scores + h * length, length);
    }
    for (size_t h = 0; h < group; h += most) {
        const size_t heads = group - h < most ? group - h : most;
        weighted_values(scores + h * length, length, v, ld, heads, most, lanes, out + h * head_dim);
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
