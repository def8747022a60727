/* q8_0.c — GGML Q8_0 blocks: 32 weights as an f16 scale d and 32 int8 q; weight = d * q.
 * Reference kernels (ggml/src/ggml-quants.c dequantize_row_q8_0 is the layout's definition). d * q is
 * exact in fp32 (an 11-bit by 8-bit product), so dequantization adds no rounding. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

void dequantize_row_q8_0(float *out, const void *w, int n)
{
    const uint8_t *b = w;
    for (int i = 0; i < n; i += 32, b += Q8_0_BLOCK_BYTES) {
        uint16_t dh;
        memcpy(&dh, b, 2);
        const float d = f16_to_f32(dh);
        for (int j = 0; j < 32; j++)
            out[i + j] = d * (float)(int8_t)b[2 + j];
    }
}

void quantize_row_q8_0(void *out, const float *x, int n)
{
    uint8_t *b = out;
    for (int i = 0; i < n; i += 32, b += Q8_0_BLOCK_BYTES) { /* ggml quantize_row_q8_0_ref */
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fabsf(x[i + j]) > amax ? fabsf(x[i + j]) : amax;
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = f32_to_f16(d);
        memcpy(b, &dh, 2);
        for (int j = 0; j < 32; j++)
            b[2 + j] = (uint8_t)(int8_t)roundf(x[i + j] * id);
    }
}

void matmul_q8_0_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    const size_t row_bytes = (size_t)d_in / 32 * Q8_0_BLOCK_BYTES;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            const uint8_t *b = (const uint8_t *)w + (size_t)o * row_bytes;
            float acc = 0.0f;
            for (int k = 0; k < d_in; k += 32, b += Q8_0_BLOCK_BYTES) {
                uint16_t dh;
                memcpy(&dh, b, 2);
                const float d = f16_to_f32(dh);
                for (int j = 0; j < 32; j++)
                    acc += x[(size_t)t * d_in + k + j] * (d * (float)(int8_t)b[2 + j]);
            }
            y[(size_t)t * d_out + o] = acc;
        }
}
