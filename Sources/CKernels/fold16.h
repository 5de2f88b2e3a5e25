// Folding 16 vectors of partial sums into their 16 sums, on AVX-512.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

/// 16 vectors of 16 partial sums → one vector whose lane v is the sum of vector v's lanes. Each level
/// halves the vectors and the partial sums of each (16 of 16, 8 of 2 × 8, 4 of 4 × 4, 2 of 8 × 2, one
/// of 16 × 1), and every vector's lanes are added in the same tree whichever vectors are beside it, so
/// a sum never depends on its neighbours (missing ones are zeros).
static inline __attribute__((always_inline, target("avx512f"))) __m512 atr_fold16(const __m512 v[16]) {
    __m512 l1[8], l2[4], l3[2];
    for (int j = 0; j < 8; j++) {
        const __m512 a = v[2 * j], b = v[2 * j + 1];
        l1[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    }
    for (int j = 0; j < 4; j++) {
        const __m512 a = l1[2 * j], b = l1[2 * j + 1];
        l2[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
    }
    for (int j = 0; j < 2; j++) {
        const __m512 a = l2[2 * j], b = l2[2 * j + 1];
        l3[j] = _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    }
    const __m512 folded = _mm512_add_ps(_mm512_shuffle_ps(l3[0], l3[1], _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(l3[0], l3[1], _MM_SHUFFLE(3, 1, 3, 1)));
    // The tree leaves vector v's sum in lane 4·(v mod 4) + v / 4; put each in its own lane.
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), folded);
}
#endif
