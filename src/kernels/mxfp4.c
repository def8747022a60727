/* mxfp4.c — MXFP4 weights as gpt-oss ships them (HF `*_blocks` + `*_scales`): the reference dequantization
 * and matmul, written like the math.
 *
 * A matrix (d_out, d_in) is stored as blocks (d_out, d_in/32, 16) bytes and scales (d_out, d_in/32) bytes.
 * Byte j of block g of row o holds input 32g+2j in its low nibble and 32g+2j+1 in its high nibble; a nibble
 * is an E2M1 code (sign bit 8), the block's scale byte s an E8M0 exponent: value = e2m1[code] · 2^(s − 127).
 * Mirrors transformers integrations/mxfp4.py (FP4_VALUES, _convert_moe_packed_tensors: ldexp(lut, s−127));
 * the products are exact in fp32, so dequantization is bit-exact for every s (255 included: ldexp, no NaN).
 */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

const float mxfp4_e2m1[16] = {+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
                              -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

static inline float mxfp4_value(const uint8_t *blocks, const uint8_t *scales, size_t i)
{
    const uint8_t byte = blocks[i / 2];
    const int code = i % 2 ? byte >> 4 : byte & 0x0f;
    return ldexpf(mxfp4_e2m1[code], (int)scales[i / 32] - 127);
}

void dequantize_row_mxfp4(float *out, const uint8_t *blocks, const uint8_t *scales, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = mxfp4_value(blocks, scales, (size_t)i);
}

/* GGML's block (DTYPE_MXFP4): {uint8 e; uint8 qs[16]}, value j < 16 in qs[j]'s low nibble, 16 + j in its
 * high nibble (ggml-quants.c dequantize_row_mxfp4: kvalues_mxfp4 are twice e2m1 and the scale is halved,
 * the same exact products). */
void dequantize_block_mxfp4(float *y, const uint8_t *b)
{
    for (int j = 0; j < 16; j++) {
        y[j] = ldexpf(mxfp4_e2m1[b[1 + j] & 0x0f], (int)b[0] - 127);
        y[j + 16] = ldexpf(mxfp4_e2m1[b[1 + j] >> 4], (int)b[0] - 127);
    }
}

void matmul_mxfp4g_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    const size_t row_bytes = (size_t)d_in / 32 * 17;
    float v[32];
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;
            float acc = 0.0f;
            for (int k = 0; k < d_in; k++) {
                if (k % 32 == 0)
                    dequantize_block_mxfp4(v, row + (size_t)k / 32 * 17);
                acc += x[(size_t)t * d_in + k] * v[k % 32];
            }
            y[(size_t)t * d_out + o] = acc;
        }
}

void matmul_mxfp4_ref(float *y, const float *x, const void *w, const void *scales, int n, int d_in, int d_out,
                      int o0, int o1)
{
    const size_t row_bytes = (size_t)d_in / 2, row_scales = (size_t)d_in / 32;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            const uint8_t *wb = (const uint8_t *)w + (size_t)o * row_bytes;
            const uint8_t *ws = (const uint8_t *)scales + (size_t)o * row_scales;
            float acc = 0.0f;
            for (int k = 0; k < d_in; k++)
                acc += x[(size_t)t * d_in + k] * mxfp4_value(wb, ws, (size_t)k);
            y[(size_t)t * d_out + o] = acc;
        }
}

/* 2^(s - 128) as float bits for every E8M0 byte s (2^-128 and 2^-127 are subnormal). */
const uint32_t mxfp4_half_scale_bits[256] = {
#define S(i) ((i) >= 2 ? (uint32_t)((i) - 1) << 23 : 0x00200000u << (i))
#define S4(i) S(i), S(i + 1), S(i + 2), S(i + 3)
#define S16(i) S4(i), S4(i + 4), S4(i + 8), S4(i + 12)
    S16(0), S16(16), S16(32), S16(48), S16(64), S16(80), S16(96), S16(112),
    S16(128), S16(144), S16(160), S16(176), S16(192), S16(208), S16(224), S16(240),
#undef S16
#undef S4
#undef S
};

/* Activations to int8 blocks (struct act_q8 in kernels.h). */
void quantize_act_q8_ref(const struct act_q8 *a, const float *x, int n, int d_in, bool interleave)
{
    const int n_blocks = d_in / 32;
    for (int t = 0; t < n; t++)
        for (int b = 0; b < n_blocks; b++) {
            const float *xb = x + (size_t)t * d_in + (size_t)b * 32;
            const size_t at = (size_t)t * n_blocks + b;
            float amax = 0.0f;
            for (int i = 0; i < 32; i++) {
                const float v = fabsf(xb[i]);
                amax = v > amax ? v : amax;
            }
            const float d = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
            int8_t *q = a->q + at * 32;
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) {
                const int i = interleave ? (j < 16 ? 2 * j : 2 * (j - 16) + 1) : j; /* input at position j */
                /* round to nearest, ties to even (|x * inv| <= 127: adding 1.5 * 2^23 drops the fraction) */
                q[j] = (int8_t)(int)((xb[i] * inv + 12582912.0f) - 12582912.0f);
                sum += q[j];
            }
            a->d[at] = d;
            a->sum[at] = sum;
        }
}

/* Row o's block b in any layout: its 16 code bytes and its scale byte (hf: the HF codes with scales apart; slabs:
 * mxfp4_to_slabs's regrouping; else GGML's blocks). */
static const uint8_t *block_codes(const uint8_t *w, const uint8_t *scales, bool slabs, int n_blocks, int o, int b,
                                  uint8_t buf[16], int *s)
{
    if (slabs) { /* (o / 16) * 16 rows before the slab; its block b's codes and scales */
        const size_t before = (size_t)(o / 16) * 16 * n_blocks;
        const uint8_t *codes = scales ? w + (before + (size_t)b * 16) * 16 : w + (before + (size_t)b * 16) * 17 + 16;
        const uint8_t *sc = scales ? scales + before + (size_t)b * 16 : codes - 16;
        for (int c = 0; c < 4; c++)
            memcpy(buf + 4 * c, codes + 64 * c + 4 * (o % 16), 4);
        *s = sc[o % 16];
        return buf;
    }
    if (scales) {
        *s = scales[(size_t)o * n_blocks + b];
        return w + ((size_t)o * n_blocks + b) * 16;
    }
    *s = w[((size_t)o * n_blocks + b) * 17];
    return w + ((size_t)o * n_blocks + b) * 17 + 1;
}

/* Every layout: byte j of a block's 16 code bytes pairs q[j] with its low nibble and q[16 + j] with its high nibble
 * (struct act_q8 stores HF blocks' activations interleaved to match). 2 * e2m1 is an integer in [-12, 12], so a
 * block's dot product is exact in int32 and the scale is halved: 2^(s - 128). */
static void mxfp4_q8_ref(float *y, const struct act_q8 *x, const uint8_t *w, const uint8_t *scales, bool slabs,
                         int n, int d_in, int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    for (int t = 0; t < n; t++)
        for (int o = o0; o < o1; o++) {
            float acc = 0.0f;
            for (int b = 0; b < n_blocks; b++) {
                uint8_t buf[16];
                int s;
                const uint8_t *codes = block_codes(w, scales, slabs, n_blocks, o, b, buf, &s);
                const size_t at = (size_t)t * n_blocks + b;
                const int8_t *q = x->q + at * 32;
                int32_t dot = 0;
                for (int j = 0; j < 16; j++)
                    dot += q[j] * (int)(2.0f * mxfp4_e2m1[codes[j] & 0x0f]) +
                           q[16 + j] * (int)(2.0f * mxfp4_e2m1[codes[j] >> 4]);
                acc += (float)dot * (x->d[at] * ldexpf(1.0f, s - 128));
            }
            y[(size_t)t * d_out + o] = acc;
        }
}

void matmul_mxfp4_q8_ref(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                         int d_out, int o0, int o1)
{
    mxfp4_q8_ref(y, x, w, scales, false, n, d_in, d_out, o0, o1);
}

void matmul_mxfp4s_q8_ref(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                          int d_out, int o0, int o1)
{
    mxfp4_q8_ref(y, x, w, scales, true, n, d_in, d_out, o0, o1);
}

void mxfp4_to_slabs(uint8_t *w, uint8_t *scales, int d_in, int d_out, uint8_t *tmp)
{
    const int n_blocks = d_in / 32;
    const size_t block = scales ? 16 : 17, at = scales ? 0 : 1; /* a row's block in tmp: its bytes, its codes at */
    const size_t row_codes = (size_t)n_blocks * block;
    for (int o = 0; o + 16 <= d_out; o += 16) {
        uint8_t *slab = w + (size_t)o * row_codes, *slab_scales = scales ? scales + (size_t)o * n_blocks : NULL;
        memcpy(tmp, slab, 16 * row_codes);
        if (scales)
            memcpy(tmp + 16 * row_codes, slab_scales, 16 * (size_t)n_blocks);
        for (int r = 0; r < 16; r++)
            for (int b = 0; b < n_blocks; b++) {
                const uint8_t *from = tmp + r * row_codes + (size_t)b * block;
                uint8_t *codes = scales ? slab + (size_t)b * 256 : slab + (size_t)b * MXFP4_SLAB_BLOCK + 16;
                if (scales)
                    slab_scales[(size_t)b * 16 + r] = tmp[16 * row_codes + (size_t)r * n_blocks + b];
                else
                    codes[r - 16] = from[0];
                for (int c = 0; c < 4; c++)
                    memcpy(codes + 64 * c + 4 * r, from + at + 4 * c, 4);
            }
    }
}
