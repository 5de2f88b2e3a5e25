// GGML's quantized blocks: 32 values with a half-precision scale d (and, for Q4_1, a minimum m).
// Q8_0: d, 32 int8 (x = d·q). Q4_0: d, 16 bytes of nibbles (x = d·(q − 8)). Q4_1: d, m, 16 bytes of
// nibbles (x = d·q + m). Byte j holds value j in its low nibble and value j + 16 in its high one.
#include "ckernels.h"
#include "simd.h"

enum { BLOCK = 32 };

static inline uint16_t half_at(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

void atr_dequantize_q8_0(const void *blocks, float *out, size_t count) {
    const uint8_t *block = blocks;
    for (size_t i = 0; i < count; i += BLOCK, block += 34) {
        const float d = atr_half_to_float(half_at(block));
        const int8_t *q = (const int8_t *)(block + 2);
        for (int j = 0; j < BLOCK; j++) out[i + j] = d * (float)q[j];
    }
}

void atr_dequantize_q4_0(const void *blocks, float *out, size_t count) {
    const uint8_t *block = blocks;
    for (size_t i = 0; i < count; i += BLOCK, block += 18) {
        const float d = atr_half_to_float(half_at(block));
        const uint8_t *q = block + 2;
        for (int j = 0; j < BLOCK / 2; j++) {
            out[i + j] = d * (float)((q[j] & 0x0f) - 8);
            out[i + j + 16] = d * (float)((q[j] >> 4) - 8);
        }
    }
}

void atr_dequantize_q4_1(const void *blocks, float *out, size_t count) {
    const uint8_t *block = blocks;
    for (size_t i = 0; i < count; i += BLOCK, block += 20) {
        const float d = atr_half_to_float(half_at(block));
        const float m = atr_half_to_float(half_at(block + 2));
        const uint8_t *q = block + 4;
        for (int j = 0; j < BLOCK / 2; j++) {
            out[i + j] = d * (float)(q[j] & 0x0f) + m;
            out[i + j + 16] = d * (float)(q[j] >> 4) + m;
        }
    }
}
