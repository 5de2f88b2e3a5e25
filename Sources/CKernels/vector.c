// AVX2 + FMA versions of the engine's hot loops, chosen at run time so the binary still runs on any
// x86-64 (elsewhere the portable loops in kernels.c serve).
#include "ckernels.h"
#include "simd.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

static int avx2_state = -1;
/// Per thread, so that a test of the portable loops does not change what runs beside it.
static _Thread_local int portable_forced = 0;

void atr_use_portable_kernels(int portable) {
    portable_forced = portable;
}

int atr_has_avx2(void) {
    if (avx2_state < 0) {
        __builtin_cpu_init();
        avx2_state = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return avx2_state && !portable_forced;
}

/// Sums of 8 floats, in double (as the portable loop sums), into 4 lanes.
static inline AVX2 __m256d add_widened(__m256d sums, __m256 v) {
    sums = _mm256_add_pd(sums, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(sums, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline AVX2 double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/// LayerNorm for rows of a multiple of 8 columns: the mean and variance summed in double, like the
/// portable loop, the rest in float.
static AVX2 void layer_norm_avx2(float *x, const float *residual, const float *gamma, const float *beta, size_t rows, size_t cols, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        __m256d sums = _mm256_setzero_pd();
        for (size_t c = 0; c < cols; c += 8) {
            __m256 v = _mm256_loadu_ps(row + c);
            if (residual) {
                v = _mm256_add_ps(v, _mm256_loadu_ps(residual + r * cols + c));
                _mm256_storeu_ps(row + c, v);
            }
            sums = add_widened(sums, v);
        }
        const __m256 mean = _mm256_set1_ps((float)(hsum_pd(sums) / (double)cols));
        __m256d squares = _mm256_setzero_pd();
        for (size_t c = 0; c < cols; c += 8) {
            const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(row + c), mean);
            const __m128 low = _mm256_castps256_ps128(d), high = _mm256_extractf128_ps(d, 1);
            squares = _mm256_fmadd_pd(_mm256_cvtps_pd(low), _mm256_cvtps_pd(low), squares);
            squares = _mm256_fmadd_pd(_mm256_cvtps_pd(high), _mm256_cvtps_pd(high), squares);
        }
        const __m256 inverse = _mm256_set1_ps((float)(1.0 / sqrt(hsum_pd(squares) / (double)cols + eps)));
        for (size_t c = 0; c < cols; c += 8) {
            const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(row + c), mean);
            _mm256_storeu_ps(row + c, _mm256_fmadd_ps(_mm256_mul_ps(d, inverse), _mm256_loadu_ps(gamma + c), _mm256_loadu_ps(beta + c)));
        }
    }
}

static AVX2 void softmax_avx2(float *row, size_t valid, float scale) {
    float max = -INFINITY;
    for (size_t c = 0; c < valid; c++) {
        row[c] *= scale;
        if (row[c] > max) max = row[c];
    }
    const __m256 top = _mm256_set1_ps(max);
    __m256 sums = _mm256_setzero_ps();
    size_t c = 0;
    for (; c + 8 <= valid; c += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + c), top));
        _mm256_storeu_ps(row + c, e);
        sums = _mm256_add_ps(sums, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, sums);
    float sum = lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
    for (; c < valid; c++) {
        row[c] = expf(row[c] - max);
        sum += row[c];
    }
    const float inverse = 1.0f / sum;
    for (c = 0; c < valid; c++) row[c] *= inverse;
}

/// out[q] += x · w[q] for `count` consecutive weight rows (the leftovers of the blocked loop).
static AVX2 void row_dots(const float *x, size_t k, const float *w, size_t ldw, size_t count, float *out) {
    const size_t vector_k = k & ~(size_t)7;
    for (size_t q = 0; q < count; q++) {
        const float *row = w + q * ldw;
        __m256 a = _mm256_setzero_ps();
        for (size_t p = 0; p < vector_k; p += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(row + p), a);
        float s = hsum(a);
        for (size_t p = vector_k; p < k; p++) s += x[p] * row[p];
        out[q] += s;
    }
}

/// out[i][j] += x[i] · w[j] for i < m, j < n, for few rows of x, where a GEMM would spend its time
/// packing the weights. The weights stream through once, four rows at a time, which stay in L1 while
/// the inputs pass them two rows at a time: eight independent sums hide the FMA latency.
static AVX2 void linear_avx2(const float *x, size_t ldx, size_t m, size_t k, const float *w, size_t ldw, size_t n, float *out, size_t ldo) {
    const size_t vector_k = k & ~(size_t)7;
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *w0 = w + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        size_t i = 0;
        for (; i + 2 <= m; i += 2) {
            const float *xa = x + i * ldx, *xb = xa + ldx;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
            for (size_t p = 0; p < vector_k; p += 8) {
                __m256 u = _mm256_loadu_ps(xa + p), v = _mm256_loadu_ps(xb + p);
                __m256 c0 = _mm256_loadu_ps(w0 + p), c1 = _mm256_loadu_ps(w1 + p), c2 = _mm256_loadu_ps(w2 + p), c3 = _mm256_loadu_ps(w3 + p);
                a0 = _mm256_fmadd_ps(u, c0, a0);
                a1 = _mm256_fmadd_ps(u, c1, a1);
                a2 = _mm256_fmadd_ps(u, c2, a2);
                a3 = _mm256_fmadd_ps(u, c3, a3);
                b0 = _mm256_fmadd_ps(v, c0, b0);
                b1 = _mm256_fmadd_ps(v, c1, b1);
                b2 = _mm256_fmadd_ps(v, c2, b2);
                b3 = _mm256_fmadd_ps(v, c3, b3);
            }
            float sa[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)}, sb[4] = {hsum(b0), hsum(b1), hsum(b2), hsum(b3)};
            for (size_t p = vector_k; p < k; p++) {
                const float *rows[4] = {w0, w1, w2, w3};
                for (int q = 0; q < 4; q++) {
                    sa[q] += xa[p] * rows[q][p];
                    sb[q] += xb[p] * rows[q][p];
                }
            }
            for (int q = 0; q < 4; q++) {
                out[i * ldo + j + q] += sa[q];
                out[(i + 1) * ldo + j + q] += sb[q];
            }
        }
        for (; i < m; i++) row_dots(x + i * ldx, k, w + j * ldw, ldw, 4, out + i * ldo + j);
    }
    for (; j < n; j++) {
        for (size_t i = 0; i < m; i++) row_dots(x + i * ldx, k, w + j * ldw, ldw, 1, out + i * ldo + j);
    }
}

/// out[i][j] += Σk x[i][k] · wt[k][j] for a block of R ≤ 6 rows and 16 columns: the weights come
/// transposed ([in][out]), so each step loads 16 of them and broadcasts R inputs (12 accumulators).
static inline AVX2 void block6x16(const float *x, size_t ldx, size_t rows, size_t k, const float *wt, size_t ldw, float *out, size_t ldo) {
    __m256 c[6][2];
    for (size_t r = 0; r < 6; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
    if (rows == 6) {
        for (size_t p = 0; p < k; p++) {
            const __m256 w0 = _mm256_loadu_ps(wt + p * ldw), w1 = _mm256_loadu_ps(wt + p * ldw + 8);
            for (size_t r = 0; r < 6; r++) {
                const __m256 v = _mm256_broadcast_ss(x + r * ldx + p);
                c[r][0] = _mm256_fmadd_ps(v, w0, c[r][0]);
                c[r][1] = _mm256_fmadd_ps(v, w1, c[r][1]);
            }
        }
    } else {
        for (size_t p = 0; p < k; p++) {
            const __m256 w0 = _mm256_loadu_ps(wt + p * ldw), w1 = _mm256_loadu_ps(wt + p * ldw + 8);
            for (size_t r = 0; r < rows; r++) {
                const __m256 v = _mm256_broadcast_ss(x + r * ldx + p);
                c[r][0] = _mm256_fmadd_ps(v, w0, c[r][0]);
                c[r][1] = _mm256_fmadd_ps(v, w1, c[r][1]);
            }
        }
    }
    for (size_t r = 0; r < rows; r++) {
        float *o = out + r * ldo;
        _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), c[r][0]));
        _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_loadu_ps(o + 8), c[r][1]));
    }
}

/// out[i][j] += x[i] · wt[·][j] for i < m and the columns [0, n) of the transposed weights (rows
/// `ldw` apart). Rows go in chunks that stay in L2 while the weights' column blocks pass them.
static AVX2 void linear_t_avx2(const float *x, size_t ldx, size_t m, size_t k, const float *wt, size_t ldw, size_t n, float *out, size_t ldo) {
    const size_t chunk = 96;
    const size_t vector_n = n & ~(size_t)15;
    for (size_t i0 = 0; i0 < m; i0 += chunk) {
        const size_t i1 = i0 + chunk < m ? i0 + chunk : m;
        for (size_t j = 0; j < vector_n; j += 16) {
            for (size_t i = i0; i < i1; i += 6) {
                const size_t rows = i1 - i < 6 ? i1 - i : 6;
                block6x16(x + i * ldx, ldx, rows, k, wt + j, ldw, out + i * ldo + j, ldo);
            }
        }
        for (size_t j = vector_n; j < n; j++) {
            for (size_t i = i0; i < i1; i++) {
                float sum = 0;
                for (size_t p = 0; p < k; p++) sum += x[i * ldx + p] * wt[p * ldw + j];
                out[i * ldo + j] += sum;
            }
        }
    }
}

#else
void atr_use_portable_kernels(int portable) { (void)portable; }
int atr_has_avx2(void) { return 0; }
#endif

void atr_layer_norm(float *x, const float *residual, const float *gamma, const float *beta, size_t rows, size_t cols, float eps) {
#if defined(__x86_64__)
    if (atr_has_avx2() && cols % 8 == 0) return layer_norm_avx2(x, residual, gamma, beta, rows, cols, eps);
#endif
    atr_layer_norm_portable(x, residual, gamma, beta, rows, cols, eps);
}

void atr_softmax_prefix(float *row, size_t valid, size_t cols, float scale) {
#if defined(__x86_64__)
    if (atr_has_avx2()) {
        softmax_avx2(row, valid, scale);
        for (size_t c = valid; c < cols; c++) row[c] = 0;
        return;
    }
#endif
    float max = -INFINITY;
    for (size_t c = 0; c < valid; c++) {
        row[c] *= scale;
        if (row[c] > max) max = row[c];
    }
    float sum = 0;
    for (size_t c = 0; c < valid; c++) {
        row[c] = expf(row[c] - max);
        sum += row[c];
    }
    const float inverse = 1.0f / sum;
    for (size_t c = 0; c < valid; c++) row[c] *= inverse;
    for (size_t c = valid; c < cols; c++) row[c] = 0;
}

int atr_attention_head(const float *q, const float *k, const float *v, size_t ld, size_t length, size_t width, float scale, float *scores, float *out, size_t ldo) {
#if defined(__x86_64__)
    if (atr_has_avx2() && width % 16 == 0) {
        for (size_t i = 0; i < length * length; i++) scores[i] = 0;
        linear_avx2(q, ld, length, width, k, ld, length, scores, length);
        for (size_t r = 0; r < length; r++) softmax_avx2(scores + r * length, length, scale);
        for (size_t r = 0; r < length; r++) memset(out + r * ldo, 0, width * sizeof(float));
        linear_t_avx2(scores, length, length, length, v, ld, width, out, ldo);
        return 1;
    }
#endif
    return 0;
}
