/* kernels_ref.c — the plain reference kernels: written like the math, one fp32 accumulator per output,
 * summed in index order. Every SIMD variant is tested against these (tests/kernels). */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels/kernels.h"

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else { /* subnormal: normalize */
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    union { uint32_t u; float f; } v = {.u = bits};
    return v.f;
}

uint16_t f32_to_f16(float f)
{
    union { float f; uint32_t u; } v = {.f = f};
    const uint32_t sign = (v.u >> 16) & 0x8000u, abs = v.u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or nan (nan keeps a quiet payload bit) */
        return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
    if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow */
        return (uint16_t)(sign | 0x7c00u);
    if (abs < 0x38800000u) { /* below 2^-14: f16 subnormal (or zero), round to nearest even */
        const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const int shift = 126 - (int)(abs >> 23); /* 14 + 113 - exp - 1 */
        if (shift > 24)
            return (uint16_t)sign;
        const uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        return (uint16_t)(sign | (q + (rem > half || (rem == half && (q & 1)))));
    }
    const uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u); /* round the 13 dropped bits to nearest even */
    return (uint16_t)(sign | (((r >> 23) - 112) << 10) | ((r >> 13) & 0x3ffu));
}

void matmul_f32_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    const float *wf = w;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            float acc = 0.0f;
            for (int k = 0; k < d_in; k++)
                acc += x[(size_t)t * d_in + k] * wf[(size_t)o * d_in + k];
            y[(size_t)t * d_out + o] = acc;
        }
}

void matmul_bf16_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    const uint16_t *wh = w;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            float acc = 0.0f;
            for (int k = 0; k < d_in; k++)
                acc += x[(size_t)t * d_in + k] * bf16_to_f32(wh[(size_t)o * d_in + k]);
            y[(size_t)t * d_out + o] = acc;
        }
}

void matmul_bf16_act_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    const uint16_t *wh = w;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            float acc = 0.0f;
            for (int k = 0; k < d_in; k++)
                acc += bf16_to_f32(f32_to_bf16(x[(size_t)t * d_in + k])) * bf16_to_f32(wh[(size_t)o * d_in + k]);
            y[(size_t)t * d_out + o] = acc;
        }
}

void matmul_q8_0_act_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_deq_act_ref(y, x, w, dequantize_row_q8_0, (size_t)(d_in / 32) * Q8_0_BLOCK_BYTES, n, d_in, d_out, o0, o1);
}

/* The act mode's sums over rows from row_of(row, ctx, o) (fp32, dequantized): bf16(w) * bf16(x), fp32 sums. */
static void act_rows_ref(float *y, const float *x, int n, int d_in, int d_out, int o0, int o1,
                         void (*row_of)(float *, const void *, int), const void *ctx)
{
    float *row = xcalloc((size_t)d_in, sizeof *row);
    for (int o = o0; o < o1; o++) {
        row_of(row, ctx, o);
        for (int t = 0; t < n; t++) {
            float acc = 0.0f;
            for (int k = 0; k < d_in; k++)
                acc += bf16_to_f32(f32_to_bf16(x[(size_t)t * d_in + k])) * bf16_to_f32(f32_to_bf16(row[k]));
            y[(size_t)t * d_out + o] = acc;
        }
    }
    free(row);
}

struct deq_rows {
    const uint8_t *w;
    void (*deq)(float *, const void *, int);
    size_t row_bytes;
    const float *scales; /* FP8 */
    int d_in;
};
static void deq_row(float *row, const void *ctx, int o)
{
    const struct deq_rows *c = ctx;
    c->deq(row, c->w + (size_t)o * c->row_bytes, c->d_in);
}
static void fp8_row(float *row, const void *ctx, int o)
{
    const struct deq_rows *c = ctx;
    const int n_cb = (c->d_in + FP8_BLOCK - 1) / FP8_BLOCK;
    dequantize_row_fp8(row, c->w + (size_t)o * c->d_in, c->scales + (size_t)(o / FP8_BLOCK) * n_cb, c->d_in);
}

void matmul_deq_act_ref(float *y, const float *x, const void *w, void (*deq)(float *, const void *, int),
                        size_t row_bytes, int n, int d_in, int d_out, int o0, int o1)
{
    const struct deq_rows c = {.w = w, .deq = deq, .row_bytes = row_bytes, .d_in = d_in};
    act_rows_ref(y, x, n, d_in, d_out, o0, o1, deq_row, &c);
}

void matmul_fp8_act_ref(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                        int o0, int o1)
{
    const struct deq_rows c = {.w = w, .scales = scales, .d_in = d_in};
    act_rows_ref(y, x, n, d_in, d_out, o0, o1, fp8_row, &c);
}

void matmul_f16_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    const uint16_t *wh = w;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            float acc = 0.0f;
            for (int k = 0; k < d_in; k++)
                acc += x[(size_t)t * d_in + k] * f16_to_f32(wh[(size_t)o * d_in + k]);
            y[(size_t)t * d_out + o] = acc;
        }
}

float sum_f32_ref(const float *x, size_t n)
{
    float acc = 0.0f;
    for (size_t i = 0; i < n; i++)
        acc += x[i];
    return acc;
}

float dot_f32_ref(const float *a, const float *b, int n)
{
    float acc = 0.0f;
    for (int i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

void axpy_f32_ref(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

void dequantize_row_bf16(float *out, const void *w, int n)
{
    const uint16_t *h = w;
    for (int i = 0; i < n; i++)
        out[i] = bf16_to_f32(h[i]);
}

void dequantize_row_f16(float *out, const void *w, int n)
{
    const uint16_t *h = w;
    for (int i = 0; i < n; i++)
        out[i] = f16_to_f32(h[i]);
}

void dequantize_row_f32(float *out, const void *w, int n) { memcpy(out, w, (size_t)n * sizeof(float)); }
