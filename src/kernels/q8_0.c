/* q8_0.c — GGML Q8_0 blocks: 32 weights as an f16 scale d and 32 int8 q; weight = d * q.
 * Reference kernels (ggml/src/ggml-quants.c dequantize_row_q8_0 is the layout's definition). d * q is
 * exact in fp32 (an 11-bit by 8-bit product), so dequantization adds no rounding. */
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
