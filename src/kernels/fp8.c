/* fp8.c — FP8 E4M3 block-scaled reference kernels (see fp8.h). */
#include <math.h>
#include <string.h>

#include "kernels/fp8.h"

float fp8_e4m3_to_f32(uint8_t b)
{
    const uint32_t sign = (uint32_t)(b >> 7) << 31, e = (b >> 3) & 0xf, m = b & 0x7;
    if (e == 0xf && m == 0x7)
        return NAN;
    float v;
    if (e == 0) {
        v = (float)m * 0x1p-9f; /* subnormal: m/8 * 2^-6, exact */
    } else {
        const uint32_t bits = (e + 120) << 23 | m << 20; /* (1 + m/8) * 2^(e-7): bias 7 against fp32's 127 */
        memcpy(&v, &bits, 4);
    }
    uint32_t out;
    memcpy(&out, &v, 4);
    out |= sign;
    memcpy(&v, &out, 4);
    return v;
}

uint8_t fp8_bf16_lo[128] __attribute__((aligned(64))), fp8_bf16_hi[128] __attribute__((aligned(64)));

/* At start-up, in this file (compiled for any x86-64: a constructor in an AVX-512 file could fault on load). */
__attribute__((constructor)) static void fp8_bf16_tables(void)
{
    for (int m = 0; m < 128; m++) {
        const float v = fp8_e4m3_to_f32((uint8_t)m);
        uint32_t bits;
        memcpy(&bits, &v, 4);
        if (m == 0x7f)
            bits = 0x7fc00000u; /* NaN */
        fp8_bf16_lo[m] = (uint8_t)(bits >> 16);
        fp8_bf16_hi[m] = (uint8_t)(bits >> 24);
    }
}

void dequantize_row_fp8(float *out, const uint8_t *w_row, const float *scales_row, int n)
{
    for (int k = 0; k < n; k++)
        out[k] = fp8_e4m3_to_f32(w_row[k]) * scales_row[k / FP8_BLOCK];
}

void matmul_fp8_ref(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                    int o0, int o1)
{
    const uint8_t *wb = w;
    const int n_cb = (d_in + FP8_BLOCK - 1) / FP8_BLOCK; /* scale-grid columns */
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            const float *s = scales + (size_t)(o / FP8_BLOCK) * n_cb;
            float acc = 0.0f;
            for (int k = 0; k < d_in; k++) {
                const float wv = fp8_e4m3_to_f32(wb[(size_t)o * d_in + k]) * s[k / FP8_BLOCK];
                acc += x[(size_t)t * d_in + k] * wv;
            }
            y[(size_t)t * d_out + o] = acc;
        }
}
