/* mxfp4_avx512.c — AVX-512 MXFP4 matmul (same prototype and math as matmul_mxfp4_ref in mxfp4.c).
 *
 * Weights stay packed (4.25 bits each) and are expanded in registers, one 32-input block at a time: the
 * 16-entry E2M1 table is scaled by the block's 2^(s − 127) with vscalefps (exact, like ldexp: overflow to
 * inf and subnormals as the reference), the nibbles are interleaved into input order with byte unpacks,
 * and vpermps looks the 32 values up. Fewer than GEMM_MIN_TOKENS tokens: each row streamed once for up to 4
 * tokens with two blocks in flight, every token computed bitwise as alone; more (prefill, experts with many
 * tokens): blocks expanded into the GEMM micro-kernel's fp32 panel. Results differ from the reference only in
 * summation order.
 */
#include <immintrin.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* s - 127 as a float for every E8M0 byte: one load instead of an integer-to-float conversion per block. */
static const float exponent[256] = {
#define E4(i) (float)(i) - 127, (float)(i) - 126, (float)(i) - 125, (float)(i) - 124
#define E16(i) E4(i), E4(i + 4), E4(i + 8), E4(i + 12)
    E16(0), E16(16), E16(32), E16(48), E16(64), E16(80), E16(96), E16(112),
    E16(128), E16(144), E16(160), E16(176), E16(192), E16(208), E16(224), E16(240),
#undef E16
#undef E4
};

/* The 32 weights of one block, in input order: w0 = inputs 0..15, w1 = 16..31. */
static inline __attribute__((always_inline)) void block_values(const uint8_t *b, uint8_t s, __m512 lut, __m512 *w0,
                                                               __m512 *w1)
{
    const __m512 scaled = _mm512_scalef_ps(lut, _mm512_set1_ps(exponent[s]));
    const __m128i bytes = _mm_loadu_si128((const __m128i *)b);
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(bytes, mask), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    *w0 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)), scaled);
    *w1 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_unpackhi_epi8(lo, hi)), scaled);
}

/* GGML's block (17 bytes: scale, then 16 bytes whose low nibbles are inputs 0..15, high nibbles 16..31). */
static inline __attribute__((always_inline)) void block_values_ggml(const uint8_t *b, __m512 lut, __m512 *w0,
                                                                    __m512 *w1)
{
    const __m512 scaled = _mm512_scalef_ps(lut, _mm512_set1_ps(exponent[b[0]]));
    const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + 1)));
    *w0 = _mm512_permutexvar_ps(_mm512_and_si512(q, _mm512_set1_epi32(0x0f)), scaled);
    *w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), scaled);
}

/* Block g of a row in either layout: HF (codes wb + 16g, scale ws[g]) or GGML (ws NULL, wb + 17g). */
static inline __attribute__((always_inline)) void block_at(const uint8_t *wb, const uint8_t *ws, int g, __m512 lut,
                                                           __m512 *w0, __m512 *w1)
{
    if (ws)
        block_values(wb + (size_t)g * 16, ws[g], lut, w0, w1);
    else
        block_values_ggml(wb + (size_t)g * 17, lut, w0, w1);
}

/* One row against NT tokens (a compile-time constant at every call), streamed front to back two blocks
 * per step on four accumulator chains per token (a lone last block into the first two), summed
 * (a0 + a1) + (a2 + a3). Every token's result is the same operation sequence whatever NT is (row-exact: a
 * token of a batch computes bitwise as alone). */
static inline __attribute__((always_inline)) void rows(float *y, const float *x, const uint8_t *wb,
                                                       const uint8_t *ws, int d_in, int d_out, __m512 lut, int NT)
{
    const int n_blocks = d_in / 32;
    __m512 a[4][4];
    for (int j = 0; j < NT; j++)
        a[j][0] = a[j][1] = a[j][2] = a[j][3] = _mm512_setzero_ps();
    int g = 0;
    for (; g + 2 <= n_blocks; g += 2) {
        __m512 w[4];
        block_at(wb, ws, g, lut, &w[0], &w[1]);
        block_at(wb, ws, g + 1, lut, &w[2], &w[3]);
        for (int j = 0; j < NT; j++) {
            const float *xg = x + (size_t)j * d_in + (size_t)g * 32;
            for (int c = 0; c < 4; c++)
                a[j][c] = _mm512_fmadd_ps(w[c], _mm512_loadu_ps(xg + 16 * c), a[j][c]);
        }
    }
    if (g < n_blocks) {
        __m512 w0, w1;
        block_at(wb, ws, g, lut, &w0, &w1);
        for (int j = 0; j < NT; j++) {
            const float *xg = x + (size_t)j * d_in + (size_t)g * 32;
            a[j][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xg), a[j][0]);
            a[j][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xg + 16), a[j][1]);
        }
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] =
            _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a[j][0], a[j][1]), _mm512_add_ps(a[j][2], a[j][3])));
}

/* Prefill (gemm_blocks32): blocks expanded exactly into the transposed fp32 panel, either layout. */
struct mxfp4_panel {
    const uint8_t *wb, *ws; /* ws NULL: GGML blocks */
    size_t row_bytes, row_scales;
    __m512 lut;
};
static inline __attribute__((always_inline)) void panel_block(const void *ctx, int row, int kb, __m512 *lo, __m512 *hi)
{
    const struct mxfp4_panel *p = ctx;
    block_at(p->wb + (size_t)row * p->row_bytes, p->ws ? p->ws + (size_t)row * p->row_scales : NULL, kb, p->lut, lo,
             hi);
}

/* Both layouts: scales NULL for GGML's 17-byte blocks. Each token's arithmetic is the same in both, so a
 * GGUF gpt-oss computes bitwise what its safetensors original does. */
static inline __attribute__((always_inline)) void matmul_any(float *y, const float *x, const uint8_t *wb,
                                                             const uint8_t *ws, int n, int d_in, int d_out, int o0,
                                                             int o1)
{
    const __m512 lut = _mm512_loadu_ps(mxfp4_e2m1);
    const size_t row_bytes = ws ? (size_t)d_in / 2 : (size_t)d_in / 32 * 17, row_scales = (size_t)d_in / 32;
    if (n >= GEMM_MIN_TOKENS) {
        const struct mxfp4_panel p = {wb, ws, row_bytes, row_scales, lut};
        gemm_blocks32(y, x, n, d_in, d_out, o0, o1, panel_block, &p);
        return;
    }
    for (int o = o0; o < o1; o++) {
        const uint8_t *rb = wb + (size_t)o * row_bytes, *rs = ws ? ws + (size_t)o * row_scales : NULL;
        int t = 0;
        for (; t + 4 <= n; t += 4)
            rows(y + (size_t)t * d_out + o, x + (size_t)t * d_in, rb, rs, d_in, d_out, lut, 4);
        float *yt = y + (size_t)t * d_out + o;
        const float *xt = x + (size_t)t * d_in;
        switch (n - t) {
        case 3: rows(yt, xt, rb, rs, d_in, d_out, lut, 3); break;
        case 2: rows(yt, xt, rb, rs, d_in, d_out, lut, 2); break;
        case 1: rows(yt, xt, rb, rs, d_in, d_out, lut, 1); break;
        default: break;
        }
    }
}

void matmul_mxfp4_avx512(float *y, const float *x, const void *w, const void *scales, int n, int d_in, int d_out,
                         int o0, int o1)
{
    matmul_any(y, x, w, scales, n, d_in, d_out, o0, o1);
}

void matmul_mxfp4g_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_any(y, x, w, NULL, n, d_in, d_out, o0, o1);
}
