/* ggml_quants.c — GGML block formats read from GGUF files: Q4_0, Q4_1, Q5_0, Q5_1 (32 weights a block) and
 * the K-quants Q4_K, Q5_K, Q6_K (256 a block). Plain reference dequantizers written like the layout's
 * definition (ggml/src/ggml-quants.c dequantize_row_*, ggml-common.h block structs), and reference matmuls
 * that dequantize one block at a time and accumulate in index order; the act q8 mode's integer references for
 * these and for Q8_0 (which lives in q8_0.c). */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

static inline float f16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return f16_to_f32(h);
}

/* block_q4_0 { f16 d; u8 qs[16]; }: w[j] = ((qs[j] & 15) - 8) d, w[j+16] = ((qs[j] >> 4) - 8) d */
void dequantize_block_q4_0(float *y, const uint8_t *b)
{
    const float d = f16_at(b);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((b[2 + j] & 0x0f) - 8) * d;
        y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
    }
}

void quantize_row_q4_0(void *out, const float *x, int n)
{
    uint8_t *b = out;
    for (int i = 0; i < n; i += 32, b += 18) {
        float amax = 0.0f, m = 0.0f; /* the first value of largest magnitude, with its sign */
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(x[i + j])) {
                amax = fabsf(x[i + j]);
                m = x[i + j];
            }
        const float d = m / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = f32_to_f16(d);
        memcpy(b, &dh, 2);
        for (int j = 0; j < 16; j++) {
            const int lo = (int)(x[i + j] * id + 8.5f), hi = (int)(x[i + 16 + j] * id + 8.5f);
            b[2 + j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
        }
    }
}

/* block_q4_1 { f16 d; f16 m; u8 qs[16]; }: w = q d + m */
void dequantize_block_q4_1(float *y, const uint8_t *b)
{
    const float d = f16_at(b), m = f16_at(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(b[4 + j] & 0x0f) * d + m;
        y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
    }
}

/* block_q5_0 { f16 d; u8 qh[4]; u8 qs[16]; }: the fifth bit of weight j is bit j of qh */
void dequantize_block_q5_0(float *y, const uint8_t *b)
{
    const float d = f16_at(b);
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    for (int j = 0; j < 16; j++) {
        const int hi0 = ((qh >> j) << 4) & 0x10, hi1 = (qh >> (j + 12)) & 0x10;
        y[j] = (float)(((b[6 + j] & 0x0f) | hi0) - 16) * d;
        y[j + 16] = (float)(((b[6 + j] >> 4) | hi1) - 16) * d;
    }
}

/* block_q5_1 { f16 d; f16 m; u8 qh[4]; u8 qs[16]; } */
void dequantize_block_q5_1(float *y, const uint8_t *b)
{
    const float d = f16_at(b), m = f16_at(b + 2);
    uint32_t qh;
    memcpy(&qh, b + 4, 4);
    for (int j = 0; j < 16; j++) {
        const int hi0 = ((qh >> j) << 4) & 0x10, hi1 = (qh >> (j + 12)) & 0x10;
        y[j] = (float)((b[8 + j] & 0x0f) | hi0) * d + m;
        y[j + 16] = (float)((b[8 + j] >> 4) | hi1) * d + m;
    }
}

/* block_q4_K { f16 d; f16 dmin; u8 scales[12]; u8 qs[128]; }: 8 sub-blocks of 32, w = d sc q - dmin m */
void dequantize_block_q4_K(float *y, const uint8_t *b)
{
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
        int sc, m;
        scale_min_k4(is, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (float)(q[l] & 0x0f) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
}

/* block_q5_K { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; } */
void dequantize_block_q5_K(float *y, const uint8_t *b)
{
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    unsigned u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
        int sc, m;
        scale_min_k4(is, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (float)((ql[l] & 0x0f) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
}

/* block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }: 16 sub-blocks of 16, w = d sc (q - 32) */
void dequantize_block_q6_K(float *y, const uint8_t *b)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = f16_at(b + 208);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

/* Reference matmul over any block format: dequantize each block, accumulate in index order. */
#define DEFINE_BLOCK_MATMUL_REF(T, BLOCK, BYTES)                                                        \
    void dequantize_row_##T(float *out, const void *w, int n)                                           \
    {                                                                                                   \
        for (int i = 0; i < n; i += BLOCK)                                                              \
            dequantize_block_##T(out + i, (const uint8_t *)w + (size_t)(i / BLOCK) * BYTES);           \
    }                                                                                                   \
    void matmul_##T##_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1) \
    {                                                                                                   \
        const size_t row_bytes = (size_t)d_in / BLOCK * BYTES;                                          \
        float buf[BLOCK];                                                                               \
        for (int t = 0; t < n; t++)                                                                     \
            for (int o = o0; o < o1; o++) {                                                             \
                const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;                        \
                float acc = 0.0f;                                                                       \
                for (int k = 0; k < d_in; k += BLOCK) {                                                 \
                    dequantize_block_##T(buf, row + (size_t)(k / BLOCK) * BYTES);                       \
                    for (int j = 0; j < BLOCK; j++)                                                     \
                        acc += x[(size_t)t * d_in + k + j] * buf[j];                                    \
                }                                                                                       \
                y[(size_t)t * d_out + o] = acc;                                                         \
            }                                                                                           \
    }

DEFINE_BLOCK_MATMUL_REF(q4_0, 32, 18)
DEFINE_BLOCK_MATMUL_REF(q4_1, 32, 20)
DEFINE_BLOCK_MATMUL_REF(q5_0, 32, 22)
DEFINE_BLOCK_MATMUL_REF(q5_1, 32, 24)
DEFINE_BLOCK_MATMUL_REF(q4_K, 256, 144)
DEFINE_BLOCK_MATMUL_REF(q5_K, 256, 176)
DEFINE_BLOCK_MATMUL_REF(q6_K, 256, 210)

/* The act q8 mode over the 32-weight blocks Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 (kernels.h): per block the exact
 * int32 sum of c * q, for c the block's integer codes as its reference dequantizer gives them with d = 1 and
 * m = 0 (Q8_0's q, Q4_0's q - 8, Q5_0's q - 16, Q4_1's and Q5_1's q; exact integers in fp32), then
 * acc += dot * (d_w * d_x) + m_w * (d_x * sum(q)), as ggml's dot products of these formats against Q8_0/Q8_1
 * (whose activation scale and sum are f16; here fp32). */
static void matmul_b32_q8_ref(float *y, const struct act_q8 *x, const void *w, void (*deq)(float *, const uint8_t *),
                              int bytes, bool has_min, int n, int d_in, int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            const uint8_t *b = (const uint8_t *)w + (size_t)o * n_blocks * bytes;
            float acc = 0.0f;
            for (int kb = 0; kb < n_blocks; kb++, b += bytes) {
                uint8_t unit[Q8_0_BLOCK_BYTES]; /* the block with d = 1 (f16 0x3c00) and m = 0 */
                float c[32];
                memcpy(unit, b, (size_t)bytes);
                unit[0] = 0x00, unit[1] = 0x3c;
                if (has_min)
                    unit[2] = unit[3] = 0;
                deq(c, unit);
                const size_t at = (size_t)t * n_blocks + kb;
                int32_t dot = 0;
                for (int j = 0; j < 32; j++)
                    dot += (int32_t)c[j] * x->q[at * 32 + j];
                acc += (float)dot * (f16_at(b) * x->d[at]);
                if (has_min)
                    acc += f16_at(b + 2) * (x->d[at] * (float)x->sum[at]);
            }
            y[(size_t)t * d_out + o] = acc;
        }
}

#define DEFINE_B32_Q8_REF(T, BYTES, MIN)                                                                \
    void matmul_##T##_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, \
                             int o1)                                                                    \
    {                                                                                                   \
        matmul_b32_q8_ref(y, x, w, dequantize_block_##T, BYTES, MIN, n, d_in, d_out, o0, o1);           \
    }
static void dequantize_block_q8_0(float *y, const uint8_t *b) { dequantize_row_q8_0(y, b, 32); }
DEFINE_B32_Q8_REF(q8_0, Q8_0_BLOCK_BYTES, false)
DEFINE_B32_Q8_REF(q4_0, 18, false)
DEFINE_B32_Q8_REF(q4_1, 20, true)
DEFINE_B32_Q8_REF(q5_0, 22, false)
DEFINE_B32_Q8_REF(q5_1, 24, true)

/* The act q8 mode's K-quant products (kernels.h): integer sums per sub-block of q against the activation
 * block's int8 values, scaled by the activation block's d. */
/* Q4_K, or Q5_K (five: the fifth bit of value l of sub-block s is bit s of qh[l]). */
static void matmul_q45_K_q8_ref(float *y, const struct act_q8 *x, const void *w, bool five, int n, int d_in,
                                int d_out, int o0, int o1)
{
    const int n_sb = d_in / 256, sb_bytes = five ? 176 : 144;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            const uint8_t *b = (const uint8_t *)w + (size_t)o * n_sb * sb_bytes;
            float acc = 0.0f;
            for (int sb = 0; sb < n_sb; sb++, b += sb_bytes) {
                const float d = f16_at(b), dmin = f16_at(b + 2);
                for (int s = 0; s < 8; s++) {
                    int sc, m;
                    scale_min_k4(s, b + 4, &sc, &m);
                    const size_t at = (size_t)t * (d_in / 32) + (size_t)sb * 8 + s;
                    const uint8_t *q = b + (five ? 48 : 16) + 32 * (s / 2), *qh = b + 16;
                    int32_t dot = 0;
                    for (int i = 0; i < 32; i++)
                        dot += ((s & 1 ? q[i] >> 4 : q[i] & 0x0f) + (five && (qh[i] >> s & 1) ? 16 : 0)) *
                               x->q[at * 32 + i];
                    acc += (float)dot * (x->d[at] * (d * (float)sc)) - (float)x->sum[at] * (x->d[at] * (dmin * (float)m));
                }
            }
            y[(size_t)t * d_out + o] = acc;
        }
}

void matmul_q4_K_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_q45_K_q8_ref(y, x, w, false, n, d_in, d_out, o0, o1);
}

void matmul_q5_K_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_q45_K_q8_ref(y, x, w, true, n, d_in, d_out, o0, o1);
}

void matmul_q6_K_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    const int n_sb = d_in / 256;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            const uint8_t *b = (const uint8_t *)w + (size_t)o * n_sb * 210;
            float acc = 0.0f;
            for (int sb = 0; sb < n_sb; sb++, b += 210) {
                const float d = f16_at(b + 208);
                for (int s = 0; s < 8; s++) { /* half s / 4, quarter s % 4: as dequantize_block_q6_K */
                    const int h = s / 4, p = s % 4;
                    const uint8_t *ql = b + 64 * h + 32 * (p & 1), *qh = b + 128 + 32 * h;
                    const int8_t *sc = (const int8_t *)(b + 192) + 8 * h + 2 * p;
                    const size_t at = (size_t)t * (d_in / 32) + (size_t)sb * 8 + s;
                    for (int k = 0; k < 2; k++) {
                        int32_t dot = 0;
                        for (int i = 16 * k; i < 16 * k + 16; i++) {
                            const int q = ((p >= 2 ? ql[i] >> 4 : ql[i] & 0x0f) | (((qh[i] >> (2 * p)) & 3) << 4)) - 32;
                            dot += q * x->q[at * 32 + i];
                        }
                        acc += (float)dot * (x->d[at] * (d * (float)sc[k]));
                    }
                }
            }
            y[(size_t)t * d_out + o] = acc;
        }
}
