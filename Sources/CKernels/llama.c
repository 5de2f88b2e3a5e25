// The decoder-only (Llama) kernels: linear layers on GGML's quantized weights used in place, RMSNorm,
// rotary positions, SwiGLU and grouped-query attention over a KV cache. This is the exact path: the
// weights are widened a row at a time and every sum is taken in fp32 (RMSNorm's in double), so the
// results stay within float rounding of a fp32 reference on the dequantized file.
#include "ckernels.h"
#include "simd.h"

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

void atr_qlinear(int type, const void *weights, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo) {
    const size_t stride = row_bytes(type, k);
    float *row = aligned_alloc(64, (k * sizeof(float) + 63) / 64 * 64);
    for (size_t r = r0; r < r1; r++) {
        atr_dequantize_row(type, (const uint8_t *)weights + r * stride, row, k);
        for (size_t i = 0; i < m; i++) out[i * ldo + r] = atr_dot(row, x + i * ldx, k);
    }
    free(row);
}

void atr_rms_norm(const float *x, const float *weight, float *out, size_t n, float eps) {
    double squares = 0;
    for (size_t i = 0; i < n; i++) squares += (double)x[i] * x[i];
    const float scale = (float)(1.0 / sqrt(squares / (double)n + eps));
    for (size_t i = 0; i < n; i++) out[i] = weight[i] * (x[i] * scale);
}

void atr_rope(float *x, size_t heads, size_t head_dim, size_t rope_dim, size_t position, float base, int adjacent_pairs) {
    for (size_t i = 0; i < rope_dim / 2; i++) {
        const float inverse = 1.0f / powf(base, (float)(2 * i) / (float)rope_dim);
        const float angle = (float)position * inverse;
        const float c = cosf(angle), s = sinf(angle);
        for (size_t h = 0; h < heads; h++) {
            float *v = x + h * head_dim;
            const size_t a = adjacent_pairs ? 2 * i : i, b = adjacent_pairs ? 2 * i + 1 : i + rope_dim / 2;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void atr_silu_mul(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void atr_attention_decode(
    const float *q, const float *k, const float *v, size_t ld, size_t length, size_t heads, size_t kv_heads, size_t head_dim, float scale, float *scores,
    float *out) {
    const size_t group = heads / kv_heads;
    for (size_t h = 0; h < heads; h++) {
        const size_t kv = h / group;
        const float *query = q + h * head_dim;
        float max = -INFINITY;
        for (size_t t = 0; t < length; t++) {
            scores[t] = atr_dot(query, k + t * ld + kv * head_dim, head_dim) * scale;
            if (scores[t] > max) max = scores[t];
        }
        double sum = 0;
        for (size_t t = 0; t < length; t++) {
            scores[t] = expf(scores[t] - max);
            sum += scores[t];
        }
        const float inverse = (float)(1.0 / sum);
        float *o = out + h * head_dim;
        memset(o, 0, head_dim * sizeof(float));
        for (size_t t = 0; t < length; t++) {
            const float weight = scores[t] * inverse;
            const float *value = v + t * ld + kv * head_dim;
            for (size_t d = 0; d < head_dim; d++) o[d] += weight * value[d];
        }
    }
}
