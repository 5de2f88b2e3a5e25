#include "ckernels.h"
#include "simd.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

void atr_embed_token(float *out, const float *word, const float *position, const float *type, size_t width) {
    for (size_t c = 0; c < width; c++) out[c] = word[c] + position[c] + type[c];
}

void atr_layer_norm_portable(float *x, const float *residual, const float *gamma, const float *beta, size_t rows, size_t cols, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        if (residual) {
            const float *add = residual + r * cols;
            for (size_t c = 0; c < cols; c++) row[c] += add[c];
        }
        double sum = 0;
        for (size_t c = 0; c < cols; c++) sum += row[c];
        const float mean = (float)(sum / (double)cols);
        double squares = 0;
        for (size_t c = 0; c < cols; c++) {
            const float d = row[c] - mean;
            squares += (double)d * d;
        }
        const float inverse = (float)(1.0 / sqrt(squares / (double)cols + eps));
        for (size_t c = 0; c < cols; c++) row[c] = (row[c] - mean) * inverse * gamma[c] + beta[c];
    }
}

void atr_mean_pool(const float *rows, size_t count, size_t stride, size_t cols, float *out, int normalize) {
    for (size_t c = 0; c < cols; c++) out[c] = 0;
    for (size_t r = 0; r < count; r++) {
        const float *row = rows + r * stride;
        for (size_t c = 0; c < cols; c++) out[c] += row[c];
    }
    const float divisor = count > 0 ? (float)count : 1.0f;
    for (size_t c = 0; c < cols; c++) out[c] /= divisor;
    if (!normalize) return;
    double squares = 0;
    for (size_t c = 0; c < cols; c++) squares += (double)out[c] * out[c];
    double norm = sqrt(squares);
    if (norm < 1e-12) norm = 1e-12;
    const float inverse = (float)(1.0 / norm);
    for (size_t c = 0; c < cols; c++) out[c] *= inverse;
}

void atr_f16_to_f32(const uint16_t *in, float *out, size_t count) {
    for (size_t i = 0; i < count; i++) out[i] = atr_half_to_float(in[i]);
}

void atr_bf16_to_f32(const uint16_t *in, float *out, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const uint32_t bits = (uint32_t)in[i] << 16;
        memcpy(out + i, &bits, sizeof bits);
    }
}
