// The decode path's matrix product on AVX-512 VNNI: quantized weight blocks (Q4_0, Q4_1, Q8_0) against
// activations held as 16-bit integers with a scale per block of 32 (see quantize16 in llama.c). Four
// blocks at a time widen to four registers of 16-bit integers, which VPDPWSSD multiplies with a row's
// activations laid out the same way; two weight rows' blocks are decoded for up to 8 rows of x, each
// row of x loaded once for both. Each row's sums run in the same order however many rows pass
// together, so a row's result never depends on the batch.
#include "ckernels.h"
#include "fold16.h"
#include "simd.h"

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

void atr_use_avx512_kernels(int allowed) {
    vnni_allowed = allowed;
}

int atr_has_avx512_vnni(void) {
    if (vnni_state < 0) {
        __builtin_cpu_init();
        vnni_state = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vnni");
    }
    return vnni_allowed && vnni_state && atr_has_avx2();
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

/// What a pass does with the decoded groups: decode them, decode and keep them (`kept`) for a second
/// pass over other rows of x, or take the kept ones.
enum { DECODE, DECODE_AND_KEEP, TAKE_KEPT };

/// A decoded group of R ≤ 4 weight rows: their 16-bit weights and scales.
typedef struct {
    __m512i w[4][4];
    __m512 scale[4];
} decoded_group;

/// R weight rows against M rows of x, blocks four at a time: the 128 weights of blocks b … b+3 as
/// 16-bit integers in four registers, register t holding elements 8t … 8t+7 of each block, meet each
/// row's activations laid out the same way (`arranged`) in one VPMADDWD and three VPDPWSSD. Lanes
/// 4c … 4c+3 then hold block b+c's sums, each scaled by its own d·s: four integer and three float
/// instructions per row of x and four blocks. A last group short of four blocks has zeros in place of
/// the missing ones. The 4-bit types' minimums (m·Σx, from `mins`) join the lanes after the blocks.
static inline __attribute__((always_inline)) VNNI void rows_vnni(
    const int type, const int M, const int R, const int N, const int pass, decoded_group *kept, float (*mins)[ATR_VNNI_MAX_BLOCKS + 3],
    const uint8_t *weights, size_t stride, size_t k, size_t r, const int16_t *arranged, const float *quad_scales, const float *sums, float *out,
    size_t ldo) {
    const size_t blocks = k / 32;
    const size_t block_bytes = type == 3 ? 20 : type == 2 ? 18 : 34;
    __m512 acc[4][16];
    for (int j = 0; j < R; j++)
        for (int i = 0; i < M; i++) acc[j][i] = _mm512_setzero_ps();
    for (size_t b = 0; b < blocks; b += 4) {
        const size_t present = blocks - b < 4 ? blocks - b : 4;
        __m512i w[4][4];
        __m512 scale[4];
        for (int j = 0; j < R; j++) {
            if (pass == TAKE_KEPT) {
                for (int t = 0; t < 4; t++) w[j][t] = kept[b / 4].w[j][t];
                scale[j] = kept[b / 4].scale[j];
                continue;
            }
            const uint8_t *first = weights + (r + j) * stride + b * block_bytes;
            // The weights stream from memory once per token: ask for them a few rows ahead.
            _mm_prefetch((const char *)(first + 8 * stride), _MM_HINT_T0);
            _mm_prefetch((const char *)(first + 8 * stride + 64), _MM_HINT_T0);
            if (type == 8) _mm_prefetch((const char *)(first + 8 * stride + 128), _MM_HINT_T0);
            decode_group(type, first, present, w[j], &scale[j], mins[j] + b);
            if (pass == DECODE_AND_KEEP) {
                for (int t = 0; t < 4; t++) kept[b / 4].w[j][t] = w[j][t];
                kept[b / 4].scale[j] = scale[j];
            }
        }
        // Each row of x (its group `N` rows from the next group's) is loaded a register at a time, once for
        // the R weight rows; the weights' scales are shared by every row, and each row brings its own
        // activation scales. The four products of every sum are taken a register of x at a time across all
        // the sums, so that the instructions side by side are independent (a sum's own four are each a
        // multiply-add's latency apart): about 10% more tokens/s with 16 streams than summing each in
        // turn. Unrolled whole, so that the sums stay in registers.
        __m512i sums[4][16];
#pragma clang loop unroll(full)
        for (int t = 0; t < 4; t++) {
#pragma clang loop unroll(full)
            for (int i = 0; i < M; i++) {
                const __m512i x = _mm512_load_si512((const void *)(arranged + (b / 4 * N + i) * 128 + 32 * t));
#pragma clang loop unroll(full)
                for (int j = 0; j < R; j++) sums[j][i] = t == 0 ? _mm512_madd_epi16(w[j][0], x) : dpwssd(sums[j][i], w[j][t], x);
            }
        }
#pragma clang loop unroll(full)
        for (int i = 0; i < M; i++) {
            const __m512 activation_scale = _mm512_load_ps(quad_scales + (b / 4 * N + i) * 16);
#pragma clang loop unroll(full)
            for (int j = 0; j < R; j++) acc[j][i] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sums[j][i]), activation_scale), scale[j], acc[j][i]);
        }
    }
    // Each sum's lanes take its minimums' part (m·Σx, 16 blocks a lane) and are reduced: for many sums,
    // 16 at a time in one fold, which is the same tree as reducing each on its own (the same floats) in a
    // third of the instructions.
    if (R * M > 8) {
        // Lane v of the fold is row i = v / R of x and weight row j = v % R, so that each row of x's
        // results lie side by side, as in `out`.
        __m512 lanes[16];
        for (int v = 0; v < 16; v++) lanes[v] = _mm512_setzero_ps();
        for (int i = 0; i < M; i++)
            for (int j = 0; j < R; j++) lanes[i * R + j] = acc[j][i];
        // The minimums' dot products as dot_lanes takes them (16 blocks a step, in order), each weight
        // row's minimums loaded once a step for every row of x.
        for (size_t b = 0; type != 8 && b < blocks; b += 16) {
            const __mmask16 mask = blocks - b >= 16 ? 0xffff : (__mmask16)((1u << (blocks - b)) - 1);
            __m512 minimums[4];
            for (int j = 0; j < R; j++) minimums[j] = _mm512_maskz_loadu_ps(mask, mins[j] + b);
#pragma clang loop unroll(full)
            for (int i = 0; i < M; i++) {
                const __m512 block_sums = _mm512_maskz_loadu_ps(mask, sums + i * blocks + b);
                for (int j = 0; j < R; j++) lanes[i * R + j] = _mm512_fmadd_ps(minimums[j], block_sums, lanes[i * R + j]);
            }
        }
        float summed[16];
        _mm512_storeu_ps(summed, atr_fold16(lanes));
        for (int i = 0; i < M; i++) memcpy(out + i * ldo + r, summed + i * R, R * sizeof(float));
        return;
    }
    for (int j = 0; j < R; j++)
        for (int i = 0; i < M; i++) {
            const __m512 lanes = type == 8 ? acc[j][i] : dot_lanes(acc[j][i], mins[j], sums + i * blocks, blocks);
            out[i * ldo + r + j] = _mm512_reduce_add_ps(lanes);
        }
}

/// Rows [r0, r1) against the M rows of x: weight rows four or two at a time, so that each row of x
/// loaded serves several. More than 8 rows of x pass in two halves for each pair of weight rows (the
/// accumulators of 16 would not stay in registers); the second half takes the groups the first decoded.
static inline __attribute__((always_inline)) VNNI void rows_span(
    const int type, const int M, const uint8_t *weights, size_t stride, size_t k, size_t r0, size_t r1, const int16_t *arranged,
    const float *quad_scales, const float *sums, float *out, size_t ldo) {
    const size_t blocks = k / 32;
    float mins[4][ATR_VNNI_MAX_BLOCKS + 3];
    size_t r = r0;
    if (M <= 2) {
        for (; r + 4 <= r1; r += 4) rows_vnni(type, M, 4, M, DECODE, NULL, mins, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
    }
    if (M <= 8) {
        for (; r + 2 <= r1; r += 2) rows_vnni(type, M, 2, M, DECODE, NULL, mins, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
    } else if (r + 2 <= r1) {
        // The second half takes the pair's groups as the first half decoded them: loads and stores
        // rather than the decoding's shuffles, which share the cores' two vector ports with the sums.
        decoded_group *kept = aligned_alloc(64, (blocks + 3) / 4 * sizeof(decoded_group));
        const int first = (M + 1) / 2;
        for (; r + 2 <= r1; r += 2) {
            rows_vnni(type, first, 2, M, DECODE_AND_KEEP, kept, mins, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
            rows_vnni(type, M - first, 2, M, TAKE_KEPT, kept, mins, weights, stride, k, r, arranged + first * 128, quad_scales + first * 16,
                      sums + first * blocks, out + first * ldo, ldo);
        }
        free(kept);
    }
    for (; r < r1; r++) rows_vnni(type, M, 1, M, DECODE, NULL, mins, weights, stride, k, r, arranged, quad_scales, sums, out, ldo);
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
    // Per group of four blocks: elements 0–7 of each, then 8–15 of each, …; missing blocks as zeros; the
    // block scales as 16 lanes per group (4 of each). Within each run of up to 16 rows, group-major: a
    // group's rows lie side by side, so one base address and fixed offsets reach them all. A row's slots
    // are its own, so rows can be arranged apart (by the cores, each its share).
    const size_t blocks = k / 32, quads = (blocks + 3) / 4;
    for (size_t i = from; i < to; i++) {
        const size_t run = i / VNNI_RUN * VNNI_RUN, rows = m - run < VNNI_RUN ? m - run : VNNI_RUN;
        for (size_t q = 0; q < quads; q++) {
            const size_t at = run * quads + q * rows + (i - run);
            memset(arranged + at * 128, 0, 128 * sizeof(int16_t));
            memset(quad_scales + at * 16, 0, 16 * sizeof(float));
        }
        for (size_t b = 0; b < blocks; b++) {
            const size_t at = run * quads + b / 4 * rows + (i - run);
            int16_t *quad = arranged + at * 128 + (b % 4) * 8;
            for (size_t t = 0; t < 4; t++) memcpy(quad + t * 32, values + i * k + b * 32 + t * 8, 8 * sizeof(int16_t));
            for (int lane = 0; lane < 4; lane++) quad_scales[at * 16 + (b % 4) * 4 + lane] = scales[i * blocks + b];
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
