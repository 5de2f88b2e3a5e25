// The decode path's matrix product on AVX-512 VNNI: quantized weight blocks (Q4_0, Q4_1 and Q8_0)
// against activations held as 16-bit integers with a scale per block of 32 (see quantize16 in llama.c),
// which VPDPWSSD multiplies two pairs a lane at a time.
//
// A row's blocks go sixteen at a time (a wide group) and the rest four at a time (quads). In a wide
// group each of 16 registers holds two elements of every block, one block a 32-bit lane, so a block's
// 32 products end in one lane and its two scales (the weight's and the activation's) join once per 16
// blocks: 16 integer and 3 float instructions per row of x and 16 blocks, where four blocks to a
// register (a quad, four lanes each) take 28. Weight rows go two or four at a time, their groups decoded
// once for every row of x (each loaded once for them all). Each row's sums run in the same order however
// many rows pass together, so a row's result never depends on the batch.
#include "ckernels.h"
#include "fold16.h"
#include "simd.h"
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/// Rows of x that share each decoded group of weights.
enum { VNNI_RUN = 16 };

static int vnni_state = -1;
/// Per thread, as the portable switch in vector.c.
static _Thread_local int vnni_allowed = 1;
/// For the whole process (`engine_kernels: avx2`).
static int vnni_allowed_anywhere = 1;

void atr_use_avx512_kernels(int allowed) {
    vnni_allowed = allowed;
}

void atr_allow_avx512_kernels(int allowed) {
    vnni_allowed_anywhere = allowed;
}

int atr_has_avx512_vnni(void) {
    if (vnni_state < 0) {
        __builtin_cpu_init();
        vnni_state = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vnni");
    }
    return vnni_allowed && vnni_allowed_anywhere && vnni_state && atr_has_avx2();
}

/// sum + Σ a[b]·c[b] over `n` floats as 16 lane sums, in a fixed order (then folded with the others).
static inline __attribute__((always_inline)) VNNI __m512 dot_lanes(__m512 sum, const float *a, const float *c, size_t n) {
    for (size_t b = 0; b < n; b += 16) {
        const __mmask16 mask = n - b >= 16 ? 0xffff : (__mmask16)((1u << (n - b)) - 1);
        sum = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + b), _mm512_maskz_loadu_ps(mask, c + b), sum);
    }
    return sum;
}

/// acc + VPDPWSSD(a, b), as the instruction itself: left to itself the compiler splits it into a
/// VPMADDWD and a VPADDD, which on this path costs a third more instructions than it saves in latency.
static inline __attribute__((always_inline)) VNNI __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

/// VPERMT2W's word indices that gather 16 bytes of each of four blocks of `size` bytes, from byte `from`
/// of the block on (always even), into the four 128-bit lanes: block c's in lane c.
static inline __attribute__((always_inline)) VNNI __m512i lane_index(int size, int from) {
    short index[32];
    for (int word = 0; word < 32; word++) index[word] = (short)(((word / 8) * size + from) / 2 + word % 8);
    return _mm512_loadu_si512((const void *)index);
}

/// VPSHUFB's control that widens bytes `from` … `from`+7 of each 128-bit lane to 16-bit lanes, the byte in
/// the low half (`up` = 0) or the high half (`up` = 1) and zeros in the other.
static inline __attribute__((always_inline)) VNNI __m512i widen_control(int from, int up) {
    uint8_t control[64];
    for (int byte = 0; byte < 64; byte++) control[byte] = byte % 2 == up ? (uint8_t)(from + byte % 16 / 2) : 0x80;
    return _mm512_loadu_si512((const void *)control);
}

/// Blocks b … b+3 of one weight row (`present` of them, the rest read as zeros) as 16-bit integers in
/// four registers, register t holding elements 8t … 8t+7 of each block: the blocks are loaded as they
/// lie, one word permutation puts each block's quants in a lane of its own and a byte shuffle widens
/// them, where picking each block apart took a dozen shuffles. Also the blocks' scales, four lanes
/// each, and the 4-bit types' minimums.
static inline __attribute__((always_inline)) VNNI void decode_group(
    const int type, const uint8_t *first, size_t present, __m512i w[4], __m512 *scale, float *mins) {
    const int size = type == 3 ? 20 : type == 2 ? 18 : 34, head = type == 3 ? 4 : 2;
    const size_t bytes = present * size;
    // Masked loads never touch bytes past the last block, however the row ends.
    const __mmask64 lo_mask = bytes >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << bytes) - 1);
    const __mmask64 hi_mask = bytes <= 64 ? 0 : bytes - 64 >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (bytes - 64)) - 1);
    const __m512i lo = _mm512_maskz_loadu_epi8(lo_mask, first), hi = _mm512_maskz_loadu_epi8(hi_mask, first + 64);
    if (type == 8) {
        // Q8_0's four blocks span 136 bytes, more than one permutation reaches: the second halves of
        // its blocks come from a window 16 bytes on. Each byte lands in the high half of its lane and
        // shifts down with its sign.
        const __mmask64 tail_mask = bytes <= 80 ? 0 : (((__mmask64)1 << (bytes - 80)) - 1);
        const __m512i mid = _mm512_maskz_loadu_epi8(lo_mask >> 16 | hi_mask << 48, first + 16);
        const __m512i tail = _mm512_maskz_loadu_epi8(tail_mask, first + 80);
        const __m512i firsts = _mm512_permutex2var_epi16(lo, lane_index(size, head), hi);
        const __m512i seconds = _mm512_permutex2var_epi16(mid, lane_index(size, head), tail);
        w[0] = _mm512_srai_epi16(_mm512_shuffle_epi8(firsts, widen_control(0, 1)), 8);
        w[1] = _mm512_srai_epi16(_mm512_shuffle_epi8(firsts, widen_control(8, 1)), 8);
        w[2] = _mm512_srai_epi16(_mm512_shuffle_epi8(seconds, widen_control(0, 1)), 8);
        w[3] = _mm512_srai_epi16(_mm512_shuffle_epi8(seconds, widen_control(8, 1)), 8);
    } else {
        // A 4-bit block's byte j holds elements j (low nibble) and j + 16 (high nibble).
        const __m512i quants = _mm512_permutex2var_epi16(lo, lane_index(size, head), hi);
        const __m512i first_eight = _mm512_shuffle_epi8(quants, widen_control(0, 0));
        const __m512i second_eight = _mm512_shuffle_epi8(quants, widen_control(8, 0));
        const __m512i nibble = _mm512_set1_epi16(0x0f);
        w[0] = _mm512_and_si512(first_eight, nibble);
        w[1] = _mm512_and_si512(second_eight, nibble);
        w[2] = _mm512_srli_epi16(first_eight, 4);
        w[3] = _mm512_srli_epi16(second_eight, 4);
    }
    // The blocks' scales (d0 … d3) and Q4_1's minimums (m0 … m3), gathered as halves and widened.
    const short halves_at[32] = {0, size / 2, size, 3 * size / 2, 1, size / 2 + 1, size + 1, 3 * size / 2 + 1};
    const __m512i halves = _mm512_permutex2var_epi16(lo, _mm512_loadu_si512((const void *)halves_at), hi);
    const __m256 dm = _mm256_cvtph_ps(_mm512_castsi512_si128(halves));
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    *scale = _mm512_permutexvar_ps(spread, _mm512_castps256_ps512(dm));
    // Q4_1 carries its minimum; Q4_0's q − 8 is a minimum of −8·d.
    if (type == 3) _mm_storeu_ps(mins, _mm256_extractf128_ps(dm, 1));
    if (type == 2) _mm_storeu_ps(mins, _mm_mul_ps(_mm256_castps256_ps128(dm), _mm_set1_ps(-8)));
}

/// VPSHUFB's control that widens, in each 32-bit lane of every 128-bit lane, bytes `from` and `from` + 1
/// to two 16-bit lanes: in their low halves (`up` = 0, zeros above) or their high halves (`up` = 1).
static inline __attribute__((always_inline)) VNNI __m512i pair_control(int from, int up) {
    uint8_t control[64];
    for (int byte = 0; byte < 64; byte++) {
        const int lane = byte / 4 % 4, word = byte % 4 / 2;
        control[byte] = byte % 2 == up ? (uint8_t)(4 * lane + from + word) : 0x80;
    }
    return _mm512_loadu_si512((const void *)control);
}

/// Four registers' 32-bit lanes transposed within each 128-bit lane: out[m] lane c, dword q = in[q]
/// lane c, dword m.
static inline __attribute__((always_inline)) VNNI void transpose4(const __m512i in[4], __m512i out[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(in[0], in[1]), t1 = _mm512_unpacklo_epi32(in[2], in[3]);
    const __m512i t2 = _mm512_unpackhi_epi32(in[0], in[1]), t3 = _mm512_unpackhi_epi32(in[2], in[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t1);
    out[1] = _mm512_unpackhi_epi64(t0, t1);
    out[2] = _mm512_unpacklo_epi64(t2, t3);
    out[3] = _mm512_unpackhi_epi64(t2, t3);
}

/// Blocks b … b+15 of one weight row (all present) as a wide group: register 4m + e holds, in 32-bit lane
/// (c, q) (128-bit lane c, dword q), elements {4m, 4m+1} (e = 0), {4m+2, 4m+3} (1), {16+4m, 16+4m+1} (2)
/// and {16+4m+2, 16+4m+3} (3) of block b + 4q + c. Each quad of blocks is gathered as the quads are (a
/// block's bytes in a 128-bit lane); transposing their 32-bit lanes brings the sixteen blocks into every
/// register, and byte shuffles widen them. `scale` holds the blocks' scales in the same lanes; the 4-bit
/// types' minimums go to mins[0 … 15] in block order.
static inline __attribute__((always_inline)) VNNI void decode_wide(const int type, const uint8_t *first, __m512i w[16], __m512 *scale, float *mins) {
    const int size = type == 3 ? 20 : type == 2 ? 18 : 34, head = type == 3 ? 4 : 2;
    // Masked loads stay within the quad's bytes (Q8_0's 136 fill the second 64 bytes).
    const __mmask64 tail_mask = type == 8 ? ~(__mmask64)0 : (((__mmask64)1 << (4 * size - 64)) - 1);
    __m512i low[4], high[4], firsts[4], lasts[4];
    for (int q = 0; q < 4; q++) {
        const uint8_t *quad = first + 4 * q * size;
        firsts[q] = _mm512_loadu_si512((const void *)quad);
        lasts[q] = _mm512_maskz_loadu_epi8(tail_mask, quad + 64);
        low[q] = _mm512_permutex2var_epi16(firsts[q], lane_index(size, head), lasts[q]);
        if (type == 8) {
            // As decode_group: the second halves of Q8_0's blocks come from a window 16 bytes on.
            const __m512i mid = _mm512_loadu_si512((const void *)(quad + 16));
            const __m512i tail = _mm512_maskz_loadu_epi8(((__mmask64)1 << (4 * size - 80)) - 1, quad + 80);
            high[q] = _mm512_permutex2var_epi16(mid, lane_index(size, head), tail);
        }
    }
    // The blocks' scales (d) and Q4_1's minimums (m), gathered as halves and widened; the registers'
    // lane (c, q), that is 4c + q, holds block 4q + c.
    if (type == 8) {
        // Q8_0's four scales of a quad span its 136 bytes: a word permutation a quad, each into its lanes.
        __m512i halves = _mm512_setzero_si512();
        for (int q = 0; q < 4; q++) {
            short at[32] = {0};
            for (int c = 0; c < 4; c++) at[4 * c + q] = (short)(c * size / 2);
            const __m512i gathered = _mm512_permutex2var_epi16(firsts[q], _mm512_loadu_si512((const void *)at), lasts[q]);
            halves = _mm512_mask_mov_epi16(halves, (__mmask32)(0x1111u << q), gathered);
        }
        *scale = _mm512_cvtph_ps(_mm512_castsi512_si256(halves));
    } else {
        // A 4-bit quad's four headers lie in its first 64 bytes: one word permutation gathers two quads'
        // halves, d0 … d7 then m0 … m7.
        short at[32] = {0};
        for (int word = 0; word < 16; word++) at[word] = (short)(word % 8 / 4 * 32 + word % 4 * size / 2 + word / 8);
        const __m512i halves_at = _mm512_loadu_si512((const void *)at);
        __m512 pair[2];
        for (int p = 0; p < 2; p++) pair[p] = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(firsts[2 * p], halves_at, firsts[2 * p + 1])));
        // Block 4q + c's scale is float (4q + c) % 8 of pair (4q + c) / 8.
        *scale = _mm512_permutex2var_ps(pair[0], _mm512_setr_epi32(0, 4, 16, 20, 1, 5, 17, 21, 2, 6, 18, 22, 3, 7, 19, 23), pair[1]);
        if (type == 3) _mm512_storeu_ps(mins, _mm512_permutex2var_ps(pair[0], _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), pair[1]));
        // Q4_0's q − 8 is a minimum of −8·d.
        const __m512i scales_in_order = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        if (type == 2) _mm512_storeu_ps(mins, _mm512_mul_ps(_mm512_permutex2var_ps(pair[0], scales_in_order, pair[1]), _mm512_set1_ps(-8)));
    }
    __m512i rows[4];
    transpose4(low, rows);
    if (type == 8) {
        __m512i seconds[4];
        transpose4(high, seconds);
        for (int m = 0; m < 4; m++) {
            // Each byte in the high half of its 16-bit lane, shifted down with its sign.
            w[4 * m + 0] = _mm512_srai_epi16(_mm512_shuffle_epi8(rows[m], pair_control(0, 1)), 8);
            w[4 * m + 1] = _mm512_srai_epi16(_mm512_shuffle_epi8(rows[m], pair_control(2, 1)), 8);
            w[4 * m + 2] = _mm512_srai_epi16(_mm512_shuffle_epi8(seconds[m], pair_control(0, 1)), 8);
            w[4 * m + 3] = _mm512_srai_epi16(_mm512_shuffle_epi8(seconds[m], pair_control(2, 1)), 8);
        }
        return;
    }
    // A 4-bit block's byte j holds elements j (low nibble) and j + 16 (high nibble).
    const __m512i nibble = _mm512_set1_epi16(0x0f);
    for (int m = 0; m < 4; m++) {
        const __m512i first_pair = _mm512_shuffle_epi8(rows[m], pair_control(0, 0));
        const __m512i second_pair = _mm512_shuffle_epi8(rows[m], pair_control(2, 0));
        w[4 * m + 0] = _mm512_and_si512(first_pair, nibble);
        w[4 * m + 1] = _mm512_and_si512(second_pair, nibble);
        w[4 * m + 2] = _mm512_srli_epi16(first_pair, 4);
        w[4 * m + 3] = _mm512_srli_epi16(second_pair, 4);
    }
}

/// Where a row's groups lie in a run of `rows` rows of arranged activations, in units of 128 values
/// (and of 16 scales): the wide groups first, each holding the run's rows side by side (4 units a row),
/// then the quads alike (1 unit a row). A row takes ⌈blocks/4⌉ units either way.
static inline size_t wide_unit(size_t group, size_t rows, size_t row) { return (group * rows + row) * 4; }
static inline size_t quad_unit(size_t wide, size_t quad, size_t rows, size_t row) { return wide * rows * 4 + quad * rows + row; }
static inline size_t wide_scales(size_t group, size_t rows, size_t row) { return group * rows + row; }
static inline size_t quad_scales_at(size_t wide, size_t quad, size_t rows, size_t row) { return wide * rows + quad * rows + row; }

/// acc[j][i] += the products of one group (REGS registers a row: 16 for a wide group, 4 for a quad) of
/// R weight rows (w, REGS apart, with their scales) and rows [from, from + H) of x, each row's activations
/// `step` values apart from the next and its scales `scale_step` floats. The products are taken a register
/// of x at a time across all the sums, so that the instructions side by side are independent (a sum's own
/// are each a multiply-add's latency apart). Unrolled whole, so that the sums stay in registers.
static inline __attribute__((always_inline)) VNNI void group_products(
    const int REGS, const int R, const int H, const __m512i *w, const __m512 *scale, const int16_t *x, size_t step, const float *x_scales,
    size_t scale_step, __m512 (*acc)[16], int from) {
    // In the passes of four weight rows (one or two rows of x), each of a wide group's sums runs as S
    // chains (registers t, t + S, …) added at the end, 16 chains in all: the integers are the same, and
    // its 16 multiply-adds are not one after another. (Measured: with more rows of x, splitting loses.)
    const int S = REGS == 16 && R == 4 ? 16 / (R * H) : 1;
    __m512i sums[4][4][8];
#pragma clang loop unroll(full)
    for (int t = 0; t < REGS; t++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < H; i++) {
            const __m512i xv = _mm512_load_si512((const void *)(x + i * step + 32 * t));
#pragma clang loop unroll(full)
            for (int j = 0; j < R; j++) {
                __m512i *sum = &sums[t % S][j][i];
                *sum = t < S ? _mm512_madd_epi16(w[j * REGS + t], xv) : dpwssd(*sum, w[j * REGS + t], xv);
            }
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < H; i++) {
        const __m512 activation_scale = _mm512_load_ps(x_scales + i * scale_step);
#pragma clang loop unroll(full)
        for (int j = 0; j < R; j++) {
            __m512i sum = sums[0][j][i];
            for (int chain = 1; chain < S; chain++) sum = _mm512_add_epi32(sum, sums[chain][j][i]);
            acc[j][from + i] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), activation_scale), scale[j], acc[j][from + i]);
        }
    }
}

/// The lanes of acc[j][i] for rows [from, from + H), with each block's minimums' part (m·Σx, from `mins`),
/// reduced into out: for many sums, 16 at a time in one fold, which is the same tree as reducing each on
/// its own (the same floats) in a third of the instructions.
static inline __attribute__((always_inline)) VNNI void reduce_rows(
    const int type, const int R, const int H, __m512 (*acc)[16], float (*mins)[ATR_VNNI_MAX_BLOCKS + 16], size_t blocks, const float *sums,
    int from, float *out, size_t ldo, size_t r) {
    if (R * H > 8) {
        // Lane v of the fold is row i = v / R of x and weight row j = v % R, so that each row of x's
        // results lie side by side, as in `out`.
        __m512 lanes[16];
        for (int v = 0; v < 16; v++) lanes[v] = _mm512_setzero_ps();
        for (int i = 0; i < H; i++)
            for (int j = 0; j < R; j++) lanes[i * R + j] = acc[j][from + i];
        // The minimums' dot products as dot_lanes takes them (16 blocks a step, in order), each weight
        // row's minimums loaded once a step for every row of x.
        for (size_t b = 0; type != 8 && b < blocks; b += 16) {
            const __mmask16 mask = blocks - b >= 16 ? 0xffff : (__mmask16)((1u << (blocks - b)) - 1);
            __m512 minimums[4];
            for (int j = 0; j < R; j++) minimums[j] = _mm512_maskz_loadu_ps(mask, mins[j] + b);
#pragma clang loop unroll(full)
            for (int i = 0; i < H; i++) {
                const __m512 block_sums = _mm512_maskz_loadu_ps(mask, sums + (from + i) * blocks + b);
                for (int j = 0; j < R; j++) lanes[i * R + j] = _mm512_fmadd_ps(minimums[j], block_sums, lanes[i * R + j]);
            }
        }
        float summed[16];
        _mm512_storeu_ps(summed, atr_fold16(lanes));
        for (int i = 0; i < H; i++) memcpy(out + (from + i) * ldo + r, summed + i * R, R * sizeof(float));
        return;
    }
    for (int j = 0; j < R; j++)
        for (int i = 0; i < H; i++) {
            const __m512 lanes = type == 8 ? acc[j][from + i] : dot_lanes(acc[j][from + i], mins[j], sums + (from + i) * blocks, blocks);
            out[(from + i) * ldo + r + j] = _mm512_reduce_add_ps(lanes);
        }
}

/// R weight rows from row r against the M rows of a run (arranged as atr_arrange16_vnni lays them out),
/// in passes of H rows of x (so that a pass's sums stay in registers), every group of the weight rows
/// decoded once for all the passes.
static inline __attribute__((always_inline)) VNNI void rows_vnni(
    const int type, const int M, const int R, const int H, const uint8_t *weights, size_t stride, size_t k, size_t r, const int16_t *arranged,
    const float *quad_scales, const float *sums, float *out, size_t ldo) {
    const size_t blocks = k / 32, wide = blocks / 16, quads = (blocks - 16 * wide + 3) / 4;
    const size_t block_bytes = type == 3 ? 20 : type == 2 ? 18 : 34;
    float mins[4][ATR_VNNI_MAX_BLOCKS + 16];
    __m512 acc[4][16];
    for (int j = 0; j < R; j++)
        for (int i = 0; i < M; i++) acc[j][i] = _mm512_setzero_ps();
    // The weights stream from memory once per token: ask for each group's bytes a few rows ahead.
    for (size_t g = 0; g < wide; g++) {
        __m512i w[4 * 16];
        __m512 scale[4];
        for (int j = 0; j < R; j++) {
            const uint8_t *first = weights + (r + j) * stride + 16 * g * block_bytes;
            for (size_t line = 0; line < 16 * block_bytes; line += 64) _mm_prefetch((const char *)(first + 8 * stride + line), _MM_HINT_T0);
            decode_wide(type, first, w + 16 * j, &scale[j], mins[j] + 16 * g);
        }
#pragma clang loop unroll(full)
        for (int from = 0; from < M; from += H) {
            const int count = M - from < H ? M - from : H;
            group_products(16, R, count, w, scale, arranged + wide_unit(g, M, from) * 128, 512, quad_scales + wide_scales(g, M, from) * 16, 16, acc, from);
        }
    }
    for (size_t q = 0; q < quads; q++) {
        const size_t b = 16 * wide + 4 * q, present = blocks - b < 4 ? blocks - b : 4;
        __m512i w[4 * 4];
        __m512 scale[4];
        for (int j = 0; j < R; j++) {
            const uint8_t *first = weights + (r + j) * stride + b * block_bytes;
            _mm_prefetch((const char *)(first + 8 * stride), _MM_HINT_T0);
            _mm_prefetch((const char *)(first + 8 * stride + 64), _MM_HINT_T0);
            if (type == 8) _mm_prefetch((const char *)(first + 8 * stride + 128), _MM_HINT_T0);
            decode_group(type, first, present, w + 4 * j, &scale[j], mins[j] + b);
        }
#pragma clang loop unroll(full)
        for (int from = 0; from < M; from += H) {
            const int count = M - from < H ? M - from : H;
            group_products(4, R, count, w, scale, arranged + quad_unit(wide, q, M, from) * 128, 128, quad_scales + quad_scales_at(wide, q, M, from) * 16,
                           16, acc, from);
        }
    }
#pragma clang loop unroll(full)
    for (int from = 0; from < M; from += H) {
        const int count = M - from < H ? M - from : H;
        reduce_rows(type, R, count, acc, mins, blocks, sums, from, out, ldo, r);
    }
}

/// Rows [r0, r1) against the M rows of a run: weight rows four at a time for one or two rows of x, else
/// two, so that each row of x loaded serves several; more than 8 rows of x pass in two halves.
static inline __attribute__((always_inline)) VNNI void rows_span(
    const int type, const int M, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *arranged,
    const float *quad_scales, const float *sums, float *out, size_t ldo) {
    const int H = M <= 8 ? M : (M + 1) / 2;
    size_t r = r0;
    if (M <= 2) {
        for (; r + 4 <= r1; r += 4) rows_vnni(type, M, 4, H, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
    }
    for (; r + 2 <= r1; r += 2) rows_vnni(type, M, 2, H, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
    for (; r < r1; r++) rows_vnni(type, M, 1, H, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
}

/// The block type and row count (1 … 16) fixed per loop, so that the loops carry no branch on them.
#define ROWS_CASE(T, N) \
    case N: return rows_span(T, N, weights, stride, k, r0, r1, arranged, quad_scales, sums, out, ldo);
#define ROWS_FOR_TYPE(T)                                                                                                          \
    switch (M) {                                                                                                                  \
        ROWS_CASE(T, 1) ROWS_CASE(T, 2) ROWS_CASE(T, 3) ROWS_CASE(T, 4) ROWS_CASE(T, 5) ROWS_CASE(T, 6) ROWS_CASE(T, 7) ROWS_CASE(T, 8) \
        ROWS_CASE(T, 9) ROWS_CASE(T, 10) ROWS_CASE(T, 11) ROWS_CASE(T, 12) ROWS_CASE(T, 13) ROWS_CASE(T, 14) ROWS_CASE(T, 15)    \
    default: return rows_span(T, 16, weights, stride, k, r0, r1, arranged, quad_scales, sums, out, ldo);                          \
    }

static VNNI void rows_any(int type, int M, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *arranged,
                          const float *quad_scales, const float *sums, float *out, size_t ldo) {
    switch (type) {
    case 3: ROWS_FOR_TYPE(3)
    case 2: ROWS_FOR_TYPE(2)
    default: ROWS_FOR_TYPE(8)
    }
}

void atr_arrange16_vnni(const int16_t *values, const float *scales, size_t m, size_t k, size_t from, size_t to, int16_t *arranged, float *quad_scales) {
    // Runs of up to 16 rows, each ⌈blocks/4⌉ units of 128 values a row, laid out as decode_wide and
    // decode_group take the weights (see wide_unit): in a wide group, register 4m + e's lane (c, q) holds
    // elements {e0, e0 + 1} of block 4q + c, e0 = 4m + 2·(e mod 2) + 16·(e ≥ 2); in a quad, register t's
    // 128-bit lane c holds elements 8t … 8t+7 of block c, missing blocks as zeros. Each block's scale lies
    // in the lanes of its sums. A row's slots are its own, so rows can be arranged apart (by the cores).
    const size_t blocks = k / 32, quads = (blocks + 3) / 4, wide = blocks / 16, tail_quads = (blocks - 16 * wide + 3) / 4;
    for (size_t i = from; i < to; i++) {
        const size_t run = i / VNNI_RUN * VNNI_RUN, rows = m - run < VNNI_RUN ? m - run : VNNI_RUN, row = i - run;
        int16_t *run_values = arranged + run * quads * 128;
        float *run_scales = quad_scales + run * quads * 16;
        const int16_t *x = values + i * k;
        const float *x_scales = scales + i * blocks;
        for (size_t g = 0; g < wide; g++) {
            int16_t *group = run_values + wide_unit(g, rows, row) * 128;
            float *group_scales = run_scales + wide_scales(g, rows, row) * 16;
            for (int reg = 0; reg < 16; reg++) {
                const int element = 4 * (reg / 4) + 2 * (reg % 2) + 16 * (reg % 4 >= 2);
                for (int c = 0; c < 4; c++)
                    for (int q = 0; q < 4; q++) memcpy(group + reg * 32 + c * 8 + q * 2, x + (16 * g + 4 * q + c) * 32 + element, 2 * sizeof(int16_t));
            }
            for (int c = 0; c < 4; c++)
                for (int q = 0; q < 4; q++) group_scales[4 * c + q] = x_scales[16 * g + 4 * q + c];
        }
        for (size_t q = 0; q < tail_quads; q++) {
            int16_t *quad = run_values + quad_unit(wide, q, rows, row) * 128;
            float *quad_scale = run_scales + quad_scales_at(wide, q, rows, row) * 16;
            memset(quad, 0, 128 * sizeof(int16_t));
            memset(quad_scale, 0, 16 * sizeof(float));
            for (size_t c = 0; c < 4 && 16 * wide + 4 * q + c < blocks; c++) {
                const size_t b = 16 * wide + 4 * q + c;
                for (size_t t = 0; t < 4; t++) memcpy(quad + t * 32 + c * 8, x + b * 32 + t * 8, 8 * sizeof(int16_t));
                for (int lane = 0; lane < 4; lane++) quad_scale[c * 4 + lane] = x_scales[b];
            }
        }
    }
}

void atr_qlinear16_vnni(int type, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *arranged,
                        const float *quad_scales, const float *sums, size_t m, float *out, size_t ldo) {
    const size_t blocks = k / 32, quads = (blocks + 3) / 4;
    for (size_t i = 0; i < m; i += VNNI_RUN) {
        const int rows = m - i < VNNI_RUN ? (int)(m - i) : VNNI_RUN;
        rows_any(type, rows, weights, stride, k, r0, r1, arranged + i * quads * 128, quad_scales + i * quads * 16, sums + i * blocks,
                 out + i * ldo, ldo);
    }
}
#else
void atr_use_avx512_kernels(int allowed) { (void)allowed; }
int atr_has_avx512_vnni(void) { return 0; }
#endif
