/* q8gemm_avx512.c — the act q8 mode's prefill GEMM over Q8_0 weights with AVX512-VNNI: int8 activations
 * (quantize_act_q8, natural order) against the weights' int8 codes, 64 products per vpdpbusd (twice the bf16
 * GEMM's vdpbf16ps), each block's sum exact in integers, then scaled by d_w * d_x and summed in fp32. Same math
 * as matmul_q8_0_q8_ref; only the blocks' float summation order differs.
 * Rows in chunks of Q8_GEMM_ROWS (two panels of 16): their blocks packed once per chunk into the caller's panel,
 * per block 8 quads of 4 inputs x 16 rows (one zmm: the lanes vpdpbusd sums 4 bytes into) with the codes
 * offset to unsigned (q + 128: the offset's share, -128 * the activation block's sum, seeds the integer lanes),
 * and the 16 rows' scales as fp32; then every tile of up to 4 tokens: per block 8 panel loads, 4 broadcasts
 * per quad, 64 vpdpbusd, and per (panel, token) one conversion, one scale product and one FMA. Packing
 * gathers a quad of 16 rows at once (vpgatherdd: about 1% of the chunk's time).
 * Compiled with AVX-512 F/BW/VL/VNNI (the dispatcher checks VNNI). */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

enum { BB = 34, PANEL_BLOCK = 8 * 2 * 64 }; /* Q8_0 block bytes; packed bytes per block (8 quads, 2 panels) */

size_t gemm_q8_0_q8_panel_bytes(int d_in) { return (size_t)(d_in / 32) * (PANEL_BLOCK + 2 * 16 * sizeof(float)); }

/* Rows [o0, o0 + rows) (rows <= 32) of w, packed: pq[b][quad k][panel r][16 rows][4 bytes] (codes + 128; zeros
 * past rows), pd[b][panel r][16] their blocks' scales (0 past rows). */
static void pack(uint8_t *pq, float *pd, const uint8_t *w, int nb, int o0, int rows)
{
    const size_t rb = (size_t)nb * BB;
    const uint8_t *base = w + (size_t)o0 * rb;
    for (int r = 0; r < 2; r++) {
        const int left = rows - 16 * r;
        const __mmask16 m = left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        const __m512i row = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(16 * r),
                                                                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                                                  11, 12, 13, 14, 15)),
                                               _mm512_set1_epi32((int)rb));
        for (int b = 0; b < nb; b++) {
            const __m512i at = _mm512_add_epi32(row, _mm512_set1_epi32(b * BB));
            for (int k = 0; k < 8; k++) {
                const __m512i q = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m,
                                                              _mm512_add_epi32(at, _mm512_set1_epi32(2 + 4 * k)), base, 1);
                _mm512_store_si512((__m512i *)(pq + (size_t)b * PANEL_BLOCK + (size_t)(2 * k + r) * 64),
                                   _mm512_maskz_xor_epi32(m, q, _mm512_set1_epi32((int)0x80808080u)));
            }
            const __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, at, base, 1);
            _mm512_store_ps(pd + ((size_t)b * 2 + r) * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
        }
    }
}

/* y[t0 + j, o0 + 16r + i] for NT tokens from t0 and both panels (masks rm[r]). */
static inline __attribute__((always_inline)) void tile(float *y, const struct act_q8 *x, const uint8_t *pq,
                                                       const float *pd, int nb, int d_in, int d_out, int t0, int o0,
                                                       const __mmask16 *rm, int NT)
{
    __m512 acc[2][4];
    for (int j = 0; j < NT; j++)
        acc[0][j] = acc[1][j] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *pb = pq + (size_t)b * PANEL_BLOCK;
        __m512i s[2][4];
        for (int j = 0; j < NT; j++)
            s[0][j] = s[1][j] = _mm512_set1_epi32(-128 * x->sum[(size_t)(t0 + j) * nb + b]);
        for (int k = 0; k < 8; k++) {
            const __m512i w0 = _mm512_load_si512((const __m512i *)(pb + (size_t)k * 128));
            const __m512i w1 = _mm512_load_si512((const __m512i *)(pb + (size_t)k * 128 + 64));
            for (int j = 0; j < NT; j++) {
                int32_t quad;
                memcpy(&quad, x->q + (size_t)(t0 + j) * d_in + (size_t)b * 32 + 4 * k, 4);
                const __m512i a = _mm512_set1_epi32(quad);
                s[0][j] = _mm512_dpbusd_epi32(s[0][j], w0, a);
                s[1][j] = _mm512_dpbusd_epi32(s[1][j], w1, a);
            }
        }
        const __m512 d0 = _mm512_load_ps(pd + (size_t)b * 32), d1 = _mm512_load_ps(pd + (size_t)b * 32 + 16);
        for (int j = 0; j < NT; j++) {
            const __m512 dx = _mm512_set1_ps(x->d[(size_t)(t0 + j) * nb + b]);
            acc[0][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[0][j]), _mm512_mul_ps(d0, dx), acc[0][j]);
            acc[1][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[1][j]), _mm512_mul_ps(d1, dx), acc[1][j]);
        }
    }
    for (int j = 0; j < NT; j++)
        for (int r = 0; r < 2; r++)
            _mm512_mask_storeu_ps(y + (size_t)(t0 + j) * d_out + o0 + 16 * r, rm[r], acc[r][j]);
}

void gemm_q8_0_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1,
                         void *panel)
{
    const int nb = d_in / 32;
    uint8_t *pq = panel;
    float *pd = (float *)(pq + (size_t)nb * PANEL_BLOCK);
    for (int c = o0; c < o1; c += Q8_GEMM_ROWS) {
        const int rows = o1 - c < Q8_GEMM_ROWS ? o1 - c : Q8_GEMM_ROWS;
        pack(pq, pd, w, nb, c, rows);
        __mmask16 rm[2];
        for (int r = 0; r < 2; r++) {
            const int left = rows - 16 * r;
            rm[r] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        }
        int t = 0;
        for (; t + 4 <= n; t += 4)
            tile(y, x, pq, pd, nb, d_in, d_out, t, c, rm, 4);
        switch (n - t) {
        case 3: tile(y, x, pq, pd, nb, d_in, d_out, t, c, rm, 3); break;
        case 2: tile(y, x, pq, pd, nb, d_in, d_out, t, c, rm, 2); break;
        case 1: tile(y, x, pq, pd, nb, d_in, d_out, t, c, rm, 1); break;
        default: break;
        }
    }
}
