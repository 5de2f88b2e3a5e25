// Weight tiles: a quantized matrix repacked at load, 16 rows to a tile, so that the decode path's
// products need no horizontal sums. A tile's block b holds the 16 rows' block b side by side: their
// scales (and the 4-bit types' minimums) as 16 halves, then their quants so that one load and one
// widening give a register whose 32-bit lane r holds elements (2p, 2p+1) of row r. VPDPWSSD (here, on
// AVX-512 VNNI) or VPMADDWD (tiles_avx2.c, half a tile a register) then takes those against a broadcast
// pair of x, and each lane of the sums is one output: a block's scales apply lane by lane, and the
// results are stored as they are. The quants and scales are the file's, moved (no
// value changes; Q4_0 keeps its d and carries −8·d as its minimum), so a tiled Q4_1 or Q8_0 matrix takes
// the memory of the blocks it replaces (Q4_0 20 bytes a block where it took 18).
#include "ckernels.h"
#include "simd.h"
#include "kernels.h"
#include "tile_layout.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { TILE = 16 };

static size_t block_bytes(int type) { return type == 3 ? 20 : type == 2 ? 18 : 34; }

size_t atr_tiles_bytes(int type, size_t rows, size_t k) { return rows / TILE * (k / 32) * atr_tile_block_bytes(type & 0xff); }

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

int atr_tiles_supported(int type, size_t rows, size_t k) {
    return atr_has_avx2() && (type == 2 || type == 3 || type == 8) && rows % TILE == 0 && k % 32 == 0 && rows > 0;
}

static __attribute__((target("f16c"))) uint16_t float_to_half(float value) { return _cvtss_sh(value, _MM_FROUND_TO_NEAREST_INT); }

/// Where a block of the file keeps its quants.
static size_t block_quants_at(int type) { return type == 3 ? 4 : 2; }

void atr_tiles_pack(int type, const void *weights, size_t rows, size_t k, void *tiles) {
    const size_t blocks = k / 32, size = block_bytes(type), tile_bytes = atr_tile_block_bytes(type);
    for (size_t t = 0; t < rows / TILE; t++)
        for (size_t b = 0; b < blocks; b++) {
            uint8_t *out = (uint8_t *)tiles + (t * blocks + b) * tile_bytes;
            for (int r = 0; r < TILE; r++) {
                const uint8_t *block = (const uint8_t *)weights + ((t * TILE + r) * blocks + b) * size;
                memcpy(out + 2 * r, block, 2);
                if (type == 3) memcpy(out + 32 + 2 * r, block + 2, 2);
                if (type == 2) {
                    uint16_t d;
                    memcpy(&d, block, 2);
                    const uint16_t minimum = float_to_half(-8 * atr_half_to_float(d));
                    memcpy(out + 32 + 2 * r, &minimum, 2);
                }
                for (int p = 0; p < atr_tile_pieces(type); p++) memcpy(out + atr_tile_quants_at(type) + 32 * p + 2 * r, block + block_quants_at(type) + 2 * p, 2);
            }
        }
}

void atr_tiles_unpack(int type, const void *tiles, size_t k, size_t r0, size_t r1, void *rows) {
    const size_t blocks = k / 32, size = block_bytes(type), tile_bytes = atr_tile_block_bytes(type);
    for (size_t row = r0; row < r1; row++) {
        const size_t t = row / TILE, r = row % TILE;
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *in = (const uint8_t *)tiles + (t * blocks + b) * tile_bytes;
            uint8_t *block = (uint8_t *)rows + ((row - r0) * blocks + b) * size;
            memcpy(block, in + 2 * r, 2);
            if (type == 3) memcpy(block + 2, in + 32 + 2 * r, 2);
            for (int p = 0; p < atr_tile_pieces(type); p++) memcpy(block + block_quants_at(type) + 2 * p, in + atr_tile_quants_at(type) + 32 * p + 2 * r, 2);
        }
    }
}

/// acc + VPDPWSSD(w, the pair of 16-bit values at x broadcast to every lane), as the instruction itself.
static inline __attribute__((always_inline)) VNNI __m512i dpwssd_pair(__m512i acc, __m512i w, const int16_t *x) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)x));
    return acc;
}

/// One tile (16 weight rows) against H rows of x (`k` values apart, their scales and sums `blocks`
/// apart): out[i][0 … 15]. Each lane's sum runs over the blocks in order, whatever H is.
static inline __attribute__((always_inline)) VNNI void tile_rows(
    const int type, const int H, const uint8_t *tile, size_t blocks, const int16_t *x, size_t k, const float *scales, const float *sums,
    float *out, size_t ldo) {
    const size_t tile_bytes = atr_tile_block_bytes(type);
    __m512 acc[8];
    for (int i = 0; i < H; i++) acc[i] = _mm512_setzero_ps();
    for (size_t b = 0; b < blocks; b++, tile += tile_bytes) {
        _mm_prefetch((const char *)(tile + 8 * tile_bytes), _MM_HINT_T0);
        _mm_prefetch((const char *)(tile + 8 * tile_bytes + 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(tile + 8 * tile_bytes + 128), _MM_HINT_T0);
        _mm_prefetch((const char *)(tile + 8 * tile_bytes + 192), _MM_HINT_T0);
        _mm_prefetch((const char *)(tile + 8 * tile_bytes + 256), _MM_HINT_T0);
        if (type == 8)
            for (int line = 320; line < 544; line += 64) _mm_prefetch((const char *)(tile + 8 * tile_bytes + line), _MM_HINT_T0);
        __m512i total[8];
        for (int i = 0; i < H; i++) total[i] = _mm512_setzero_si512();
        const int16_t *xb = x + b * 32;
        if (type == 8) {
#pragma clang loop unroll(full)
            for (int p = 0; p < 16; p++) {
                const __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(tile + atr_tile_quants_at(8) + 32 * p)));
#pragma clang loop unroll(full)
                for (int i = 0; i < H; i++) total[i] = dpwssd_pair(total[i], w, xb + i * k + 2 * p);
            }
        } else {
            const __m512i nibble = _mm512_set1_epi16(15);
#pragma clang loop unroll(full)
            for (int s = 0; s < 8; s++) {
                const __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(tile + atr_tile_quants_at(3) + 32 * s)));
                const __m512i low = _mm512_and_si512(bytes, nibble), high = _mm512_srli_epi16(bytes, 4);
#pragma clang loop unroll(full)
                for (int i = 0; i < H; i++) {
                    total[i] = dpwssd_pair(total[i], low, xb + i * k + 2 * s);
                    total[i] = dpwssd_pair(total[i], high, xb + i * k + 16 + 2 * s);
                }
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)tile));
#pragma clang loop unroll(full)
        for (int i = 0; i < H; i++) {
            const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(total[i]), _mm512_set1_ps(scales[i * blocks + b]));
            acc[i] = _mm512_fmadd_ps(scaled, d, acc[i]);
        }
        if (type != 8) {
            const __m512 minimum = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + 32)));
#pragma clang loop unroll(full)
            for (int i = 0; i < H; i++) acc[i] = _mm512_fmadd_ps(minimum, _mm512_set1_ps(sums[i * blocks + b]), acc[i]);
        }
    }
    for (int i = 0; i < H; i++) _mm512_storeu_ps(out + i * ldo, acc[i]);
}

#define TILE_CASE(T, H) \
    case H: tile_rows(T, H, tile, blocks, x + i * k, k, scales + i * blocks, sums + i * blocks, out + i * ldo + t * TILE, ldo); break;

static VNNI void tiles_of_type(const int type, const uint8_t *tiles, size_t k, size_t t0, size_t t1, const int16_t *x, const float *scales,
                               const float *sums, size_t m, float *out, size_t ldo) {
    const size_t blocks = k / 32, tile_bytes = atr_tile_block_bytes(type);
    for (size_t t = t0; t < t1; t++) {
        const uint8_t *tile = tiles + t * blocks * tile_bytes;
        // Rows of x eight at a time, so that their sums and results stay in registers.
        for (size_t i = 0; i < m; i += 8) {
            switch (m - i < 8 ? m - i : 8) {
                TILE_CASE(type, 1) TILE_CASE(type, 2) TILE_CASE(type, 3) TILE_CASE(type, 4)
                TILE_CASE(type, 5) TILE_CASE(type, 6) TILE_CASE(type, 7) default: TILE_CASE(type, 8)
            }
        }
    }
}

void atr_qlinear_tiles(int type, const void *tiles, size_t k, size_t r0, size_t r1, const int16_t *values, const float *scales, const float *sums,
                       size_t m, float *out, size_t ldo) {
    if (!atr_has_avx512_vnni()) return atr_qlinear_tiles_avx2(type, tiles, k, r0, r1, values, scales, sums, m, out, ldo);
    if (type == 8) tiles_of_type(8, tiles, k, r0 / TILE, r1 / TILE, values, scales, sums, m, out, ldo);
    else tiles_of_type(3, tiles, k, r0 / TILE, r1 / TILE, values, scales, sums, m, out, ldo);
}
#else
int atr_tiles_supported(int type, size_t rows, size_t k) { (void)type, (void)rows, (void)k; return 0; }
void atr_tiles_pack(int type, const void *weights, size_t rows, size_t k, void *tiles) { (void)type, (void)weights, (void)rows, (void)k, (void)tiles; }
void atr_tiles_unpack(int type, const void *tiles, size_t k, size_t r0, size_t r1, void *rows) { (void)type, (void)tiles, (void)k, (void)r0, (void)r1, (void)rows; }
void atr_qlinear_tiles(int type, const void *tiles, size_t k, size_t r0, size_t r1, const int16_t *values, const float *scales, const float *sums,
                       size_t m, float *out, size_t ldo) {
    (void)type, (void)tiles, (void)k, (void)r0, (void)r1, (void)values, (void)scales, (void)sums, (void)m, (void)out, (void)ldo;
}
#endif

void atr_release_mapped(const void *start, size_t length) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t from = ((uintptr_t)start + page - 1) / page * page, to = ((uintptr_t)start + length) / page * page;
    if (to > from) madvise((void *)from, to - from, MADV_DONTNEED);
}

void *atr_streamed_alloc(size_t bytes) {
    const size_t huge = 2 << 20, rounded = (bytes + huge - 1) / huge * huge;
    void *memory = NULL;
    if (rounded == 0 || posix_memalign(&memory, huge, rounded) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(memory, rounded, MADV_HUGEPAGE);  // advice only: without it the pages are 4 KiB
#endif
    return memory;
}
