#ifndef ATRIUM_CKERNELS_H
#define ATRIUM_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

// The engine's elementwise loops, in C so that they vectorise in every build. Rows are contiguous
// (`stride` floats apart where a stride is given).

/// out = word + position + type, `width` floats.
void atr_embed_token(float *out, const float *word, const float *position, const float *type, size_t width);

/// x = LayerNorm(x + residual) · gamma + beta, row by row; `residual` may be NULL.
void atr_layer_norm(float *x, const float *residual, const float *gamma, const float *beta, size_t rows, size_t cols, float eps);

/// Softmax of `row[0..<valid]` after scaling by `scale`; `row[valid..<cols]` becomes 0.
void atr_softmax_prefix(float *row, size_t valid, size_t cols, float scale);

/// Floats that a packed copy of an [n][k] linear weight takes (n rounded up to whole panels of 16).
size_t atr_packed_size(size_t n, size_t k);

/// Packs an [n][k] linear weight (PyTorch's [out][in]) into panels of 16 outputs, each [k][16],
/// zero-padded; `packed` holds atr_packed_size(n, k) floats, 32-byte aligned.
void atr_pack_linear(const float *w, size_t n, size_t k, float *packed);

/// Rows whose `k` inputs stay in L2 together: atr_linear_packed takes the rows in chunks this size.
size_t atr_linear_chunk_rows(size_t k);

/// out[i][j] = bias[j] + Σq x[i][q] · w[j][q] for rows i < m (x rows `ldx` apart, out rows `ldo`
/// apart) and the outputs of panels [p0, p1), that is columns [16·p0, min(16·p1, n)); then GELU
/// (erf form) where `gelu` is set. `bias` may be NULL. Parts of a batch may take disjoint panels.
void atr_linear_packed(
    const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n, size_t p0, size_t p1, const float *bias, int gelu, float *out, size_t ldo);

/// One attention head of one sequence: out = softmax(q·kᵀ · scale) · v, where q, k and v are `length`
/// rows of `width` floats, `ld` floats apart (columns of the packed QKV projection), `scores` holds
/// length² floats, and out rows are `ldo` apart. Returns 0, doing nothing, without AVX2 and FMA or
/// for a width that is not a multiple of 16.
int atr_attention_head(const float *q, const float *k, const float *v, size_t ld, size_t length, size_t width, float scale, float *scores, float *out, size_t ldo);

/// 1 when the CPU has AVX2 and FMA, which the fast paths need.
int atr_has_avx2(void);

/// Makes every kernel that this thread calls take its portable path (1), or choose by the CPU again
/// (0): for tests, which then compute on their own thread only.
void atr_use_portable_kernels(int portable);

/// 1 when the CPU has AVX-512 with VNNI and the decode kernels may use it.
int atr_has_avx512_vnni(void);

/// With 0, the AVX-512 kernels are left unused on this thread (the AVX2 ones serve), to test one against
/// the other.
void atr_use_avx512_kernels(int allowed);

/// With 0, the AVX-512 kernels are left unused on every thread, as on a CPU without them (the AVX2 ones
/// serve): set before a model loads, which tiles its weights for the kernels that will read them.
void atr_allow_avx512_kernels(int allowed);

/// out[c] = mean of rows[0..<count][c] (rows `stride` floats apart), then divided by its L2 norm
/// (at least 1e-12) when `normalize` is set.
void atr_mean_pool(const float *rows, size_t count, size_t stride, size_t cols, float *out, int normalize);

/// Widens IEEE half and bfloat16 values to float.
void atr_f16_to_f32(const uint16_t *in, float *out, size_t count);
void atr_bf16_to_f32(const uint16_t *in, float *out, size_t count);

/// GGML's quantized blocks of 32 values (Q8_0: 34 bytes, Q4_0: 18, Q4_1: 20 each) to floats;
/// `count` is a multiple of 32.
void atr_dequantize_q8_0(const void *blocks, float *out, size_t count);
void atr_dequantize_q4_0(const void *blocks, float *out, size_t count);
void atr_dequantize_q4_1(const void *blocks, float *out, size_t count);

/// One row of `k` values of a GGML tensor type (0 F32, 1 F16, 30 BF16, 2 Q4_0, 3 Q4_1, 8 Q8_0) to floats.
void atr_dequantize_row(int type, const void *row, float *out, size_t k);

/// Σ a[i]·b[i].
float atr_dot(const float *a, const float *b, size_t n);

/// Which kernels `atr_qlinear` runs: `ATR_EXACT` keeps the activations in fp32 throughout; `ATR_PROMPT` says
/// the rows are prompt positions (fp32 panels of the dequantized weights) rather than generated tokens
/// (the quantized blocks used as they are; on the fast path, x as 16-bit integers with a scale per block
/// of 32). Each row is computed on its own in either case, so a row's result never depends on the others.
enum { ATR_EXACT = 1, ATR_PROMPT = 2 };

/// out[i][r] = Σq w[r][q] · x[i][q] for weight rows r in [r0, r1) of a GGML-typed [rows][k] matrix
/// used in place, and the `m` rows of x (`ldx` apart; out rows `ldo` apart), with the kernels `mode`
/// names (`ATR_EXACT`, `ATR_PROMPT`).
void atr_qlinear(int type, const void *weights, size_t k, size_t r0, size_t r1, const float *x, size_t ldx, size_t m, float *out, size_t ldo, int mode);

/// The fast decode path's activations (16-bit integers with a scale per block of 32, laid out for the
/// kernel that will read them), prepared once for every task of a product rather than by each.
typedef struct {
    int16_t *values, *arranged;
    float *scales, *sums, *quad_scales;
    size_t m, k;
} atr_decode_input;

/// Prepares the `m` rows of x (`ldx` apart) for `atr_qlinear_decode` and returns 1, or returns 0 and
/// allocates nothing where the fast decode path does not serve rows of `k` (then use `atr_qlinear`).
/// `arranged`: also lay the rows out for the wide-group kernel of matrices in the file's layout (0 where
/// every matrix they meet is tiled, whose kernel reads the rows as they are; either way the products
/// are right).
int atr_decode_input_prepare(atr_decode_input *input, const float *x, size_t ldx, size_t m, size_t k, int arranged);
/// The same in two halves, so that the cores can share the rows: room for `m` rows of `k` (1, or 0 as
/// above), then rows [from, to) of x filled in, each row's part apart from the others'.
int atr_decode_input_alloc(atr_decode_input *input, size_t m, size_t k, int arranged);
void atr_decode_input_rows(atr_decode_input *input, const float *x, size_t ldx, size_t from, size_t to);
void atr_decode_input_free(atr_decode_input *input);

/// `atr_qlinear` on the fast decode path (mode 0) for weight rows [r0, r1) of a Q4_0, Q4_1 or Q8_0
/// matrix, the activations prepared: the same floats as `atr_qlinear` gives.
void atr_qlinear_decode(int type, const void *weights, size_t r0, size_t r1, const atr_decode_input *input, float *out, size_t ldo);

/// Weight tiles (tiles.c): a Q4_0, Q4_1 or Q8_0 matrix repacked 16 rows to a tile for the decode kernels
/// (AVX-512 VNNI and AVX2, which give the same floats), the same quants and scales moved. A tiled matrix's type is its block type | ATR_TILED;
/// `atr_qlinear` and `atr_qlinear_decode` take it as they take the file's layout (the same products,
/// up to summation order), and task ranges of rows start at a multiple of 16.
enum { ATR_TILED = 256 };
/// Whether this machine's kernels tile a matrix of this type and shape.
int atr_tiles_supported(int type, size_t rows, size_t k);
size_t atr_tiles_bytes(int type, size_t rows, size_t k);
void atr_tiles_pack(int type, const void *weights, size_t rows, size_t k, void *tiles);
/// Rows [r0, r1) of a tiled matrix back in the file's layout, into `rows`.
void atr_tiles_unpack(int type, const void *tiles, size_t k, size_t r0, size_t r1, void *rows);
void atr_qlinear_tiles(int type, const void *tiles, size_t k, size_t r0, size_t r1, const int16_t *values, const float *scales, const float *sums,
                       size_t m, float *out, size_t ldo);
/// Hands a read-only file mapping's whole pages within [start, start + length) back to the kernel (they
/// are read from the file again if touched).
void atr_release_mapped(const void *start, size_t length);
/// Memory that the kernels stream through every pass (the weight tiles): `bytes` aligned to 2 MiB and,
/// where the kernel allows, held in huge pages, so that reading it misses the TLB once per 2 MiB rather
/// than once per 4 KiB (a single sequence decodes about 6 % faster). NULL when it cannot be had; freed
/// with `free`.
void *atr_streamed_alloc(size_t bytes);

/// out = weight · x / sqrt(mean(x²) + eps).
void atr_rms_norm(const float *x, const float *weight, float *out, size_t n, float eps);

/// Rotary positions, in two halves so that a position's angles are worked out once for every layer:
/// `angles` (rope_dim floats) gets cos and sin of pair i's angle, position · base^(−2i/rope_dim) ...
void atr_rope_angles(size_t rope_dim, size_t position, float base, float *angles);
/// ... and `heads` vectors of `head_dim` floats (the first `rope_dim` of each) are rotated by them:
/// pairs (2i, 2i+1) where `adjacent_pairs` (GGUF's Llama layout), else (i, i + rope_dim/2) (Hugging
/// Face's).
void atr_rope_rotate(float *x, size_t heads, size_t head_dim, size_t rope_dim, const float *angles, int adjacent_pairs);

/// gate = SiLU(gate) · up.
void atr_silu_mul(float *gate, const float *up, size_t n);

/// Grouped-query attention of one position's `heads` query vectors over `length` cached positions
/// (key and value rows `ld` floats apart, kv_heads·head_dim used), query head h reading kv head
/// h / (heads / kv_heads); `scores` holds (heads / kv_heads)·length floats; out holds heads·head_dim.
void atr_attention_decode(
    const float *q, const float *k, const float *v, size_t ld, size_t length, size_t heads, size_t kv_heads, size_t head_dim, float scale, float *scores,
    float *out);

/// One position's keys or values into the 16-bit cache: each of `heads` heads' `head_dim` floats of x
/// becomes 16-bit integers of one scale (its largest magnitude over 32767, stored at scales[h ·
/// scale_stride]), so the cache holds half the bytes of fp32 at 15 bits a head.
void atr_kv16_store(const float *x, size_t heads, size_t head_dim, int16_t *out, float *scales, size_t scale_stride);

/// atr_attention_decode of the `group` query heads that share one key/value head, over a 16-bit cache
/// (atr_kv16_store): key and value rows `ld` integers apart, and each position's scale in k_scales[t]
/// and v_scales[t]; `scores` holds group·length floats, out group·head_dim.
void atr_attention_group16(
    const float *q, const int16_t *k, const float *k_scales, const int16_t *v, const float *v_scales, size_t ld, size_t length, size_t group,
    size_t head_dim, float scale, float *scores, float *out);

/// A pause inside a spin loop.
static inline void atr_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
