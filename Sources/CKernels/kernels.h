// The kernels that the dispatching functions (llama.c, linear.c, tiles.c, vector.c) choose between by
// the CPU's features (private to CKernels; see README.md for which serves where). Each is defined in
// the file its comment names and called only where the CPU has what it needs.
#ifndef ATRIUM_CKERNELS_KERNELS_H
#define ATRIUM_CKERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// The portable loops behind functions whose fast paths live in vector.c.
void atr_layer_norm_portable(float *x, const float *residual, const float *gamma, const float *beta, size_t rows, size_t cols, float eps);

/// out[i][0..<cols] = bias + x[i] · panel for i < m, a panel being 16 outputs laid out [k][16]
/// (see linear.c); `bias` holds 16 floats.
void atr_apply_panel(const float *x, size_t ldx, size_t m, size_t k, const float *panel, const float *bias, float *out, size_t ldo, size_t cols);

/// Weight rows [r0, r1) of a Q4_0, Q4_1 or Q8_0 matrix against `m` rows of 16-bit activations (see
/// quant16_vnni.c); needs `atr_has_avx512_vnni()` and k ≤ 32 · ATR_VNNI_MAX_BLOCKS.
enum { ATR_VNNI_MAX_BLOCKS = 512 };

/// Lays rows [from, to) of the m 16-bit rows of x out for atr_qlinear16_vnni (`arranged`: m·⌈k/128⌉·128
/// values, `quad_scales`: m·⌈k/128⌉·16 floats, both 64-byte aligned).
void atr_arrange16_vnni(const int16_t *values, const float *scales, size_t m, size_t k, size_t from, size_t to, int16_t *arranged, float *quad_scales);
void atr_qlinear16_vnni(int type, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *arranged,
                        const float *quad_scales, const float *sums, size_t m, float *out, size_t ldo);

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
/// are the portable loop's; attention needs head_dim a multiple of 32 and at most 128.
void atr_kv16_store_avx2(const float *x, size_t heads, size_t head_dim, int16_t *out, float *scales, size_t scale_stride);
void atr_attention_group16_avx2(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    size_t head_dim, float scale, float *scores, float *out);

#endif
