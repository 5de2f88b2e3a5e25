// SIMD helpers shared by the AVX2 kernels (private to CKernels).
#ifndef ATRIUM_CKERNELS_SIMD_H
#define ATRIUM_CKERNELS_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/// IEEE half to float, subnormals, infinities and NaNs included.
static inline float atr_half_to_float(uint16_t half) {
    const uint32_t h = half;
    const uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise it
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400u)) {
                mantissa <<= 1;
                exponent--;
            }
            bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
        }
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/// The portable loops behind functions whose fast paths live in vector.c.
void atr_layer_norm_portable(float *x, const float *residual, const float *gamma, const float *beta, size_t rows, size_t cols, float eps);

/// out[i][0..<cols] = bias + x[i] · panel for i < m, a panel being 16 outputs laid out [k][16]
/// (see linear.c); `bias` holds 16 floats.
void atr_apply_panel(const float *x, size_t ldx, size_t m, size_t k, const float *panel, const float *bias, float *out, size_t ldo, size_t cols);

/// Weight rows [r0, r1) of a Q4_0, Q4_1 or Q8_0 matrix against `m` rows of 16-bit activations (see
/// quant16_vnni.c); needs `atr_has_avx512_vnni()` and k ≤ 32 · ATR_VNNI_MAX_BLOCKS.
enum { ATR_VNNI_MAX_BLOCKS = 512 };

/// The largest 16-bit activation: every decode kernel (AVX2 and AVX-512) quantizes to the same integers
/// with it, so their products differ only in the order of their sums.
#define ATR_Q16_MAX 32639.0f
/// Lays rows [from, to) of the m 16-bit rows of x out for atr_qlinear16_vnni (`arranged`: m·⌈k/128⌉·128
/// values, `quad_scales`: m·⌈k/128⌉·16 floats, both 64-byte aligned).
void atr_arrange16_vnni(const int16_t *values, const float *scales, size_t m, size_t k, size_t from, size_t to, int16_t *arranged, float *quad_scales);
void atr_qlinear16_vnni(int type, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *arranged,
                        const float *quad_scales, const float *sums, size_t m, float *out, size_t ldo);

/// A weight tile's block (tiles.c): the 16 rows' scales as halves (bytes 0 … 31), the 4-bit types'
/// minimums (32 … 63), then the quants in pieces of 32 bytes: piece p holds row r's quant bytes 2p and
/// 2p + 1 at its bytes 2r and 2r + 1. For Q8_0 those are elements 2p and 2p + 1; a 4-bit block's byte j
/// holds elements j and j + 16 (low and high nibble), so its pieces widen to elements 2p, 2p + 1 in the
/// low nibbles and 16 + 2p, 17 + 2p in the high ones.
static inline size_t atr_tile_block_bytes(int type) { return type == 8 ? 32 + 512 : 64 + 256; }
static inline size_t atr_tile_quants_at(int type) { return type == 8 ? 32 : 64; }
static inline int atr_tile_pieces(int type) { return type == 8 ? 16 : 8; }

/// atr_qlinear_tiles on AVX2 with FMA and F16C (tiles_avx2.c): the same floats as the AVX-512 kernel.
void atr_qlinear_tiles_avx2(int type, const void *tiles, size_t k, size_t r0, size_t r1, const int16_t *values, const float *scales, const float *sums,
                            size_t m, float *out, size_t ldo);

/// atr_qlinear's prompt path for whole tiles of rows [r0, r1) on AVX2 (tiles_avx2.c): the same floats as the
/// file's layout gives on that path.
void atr_qlinear_prompt_tiles_avx2(int type, const void *tiles, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo);

/// out[i][r] = x[i] · w[r] for weight rows [r0, r1) of a GGML-typed matrix, in fp32 on AVX-512 (see
/// prompt_avx512.c); needs `atr_has_avx512_vnni()` and k a multiple of 16. A tiled type (| ATR_TILED)
/// takes whole tiles of rows (r0 a multiple of 16) and ignores `stride`.
void atr_qlinear_prompt_avx512(
    int type, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo);

/// Attention of one position's `group` query heads that share one key/value head, on AVX-512 (see
/// attention_avx512.c); needs `atr_has_avx512_vnni()`, head_dim a multiple of 16 and at most 128, and
/// `scores` of group·length floats.
void atr_attention_group_avx512(
    const float *q, const float *k, const float *v, size_t ld, size_t length, size_t group, size_t head_dim, float scale, float *scores, float *out);

/// atr_kv16_store on AVX-512 (head_dim a multiple of 16), the same integers and scales.
void atr_kv16_store_avx512(const float *x, size_t heads, size_t head_dim, int16_t *out, float *scales, size_t scale_stride);

/// atr_attention_group16 on AVX-512 (see attention_avx512.c), with the same needs as the fp32 one.
void atr_attention_group16_avx512(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    size_t head_dim, float scale, float *scores, float *out);

/// atr_kv16_store and atr_attention_group16 on AVX2 (attention_avx2.c): the store's integers and scales
/// are the portable loop's; attention needs head_dim a multiple of 64 and at most 128.
void atr_kv16_store_avx2(const float *x, size_t heads, size_t head_dim, int16_t *out, float *scales, size_t scale_stride);
void atr_attention_group16_avx2(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    size_t head_dim, float scale, float *scores, float *out);

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define AVX2 __attribute__((target("avx2,fma")))

/// e^x for 8 floats (Cephes' single-precision polynomial, about 1 ulp).
static inline AVX2 __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
}

/// GELU with erf from Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), as PyTorch's
/// vectorised CPU kernel computes it.
static inline AVX2 __m256 gelu8(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 x = _mm256_mul_ps(v, _mm256_set1_ps((float)M_SQRT1_2));
    __m256 signs = _mm256_and_ps(sign, x);
    __m256 a = _mm256_xor_ps(signs, x);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, one));
    __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(1.061405429f), t, _mm256_set1_ps(-1.453152027f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(1.421413741f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-0.284496736f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(0.254829592f));
    __m256 e = exp8(_mm256_xor_ps(sign, _mm256_mul_ps(a, a)));
    __m256 erf = _mm256_xor_ps(signs, _mm256_fnmadd_ps(_mm256_mul_ps(r, t), e, one));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(one, erf));
}

static inline AVX2 float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif

#endif
