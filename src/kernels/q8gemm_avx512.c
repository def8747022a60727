/* q8gemm_avx512.c — the act q8 mode's prefill GEMM over Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K weights
 * with AVX512-VNNI: int8 activations (quantize_act_q8, natural order) against the weights' codes as unsigned bytes, 64
 * products per vpdpbusd (twice the bf16 GEMM's vdpbf16ps), each block's sum exact in integers, then scaled by
 * d_w * d_x (and the min added as m_w * d_x * sum(x): Q4_1, Q5_1, Q4_K, Q5_K per 32-weight sub-block) in fp32. Same
 * math as matmul_q8_0_q8_ref, matmul_q4_0_q8_ref, ..., matmul_q4_K_q8_ref, matmul_q5_K_q8_ref, matmul_q6_K_q8_ref
 * (Q6_K: its 16-weight halves summed apart, signed codes against the activations + 128; see pack_q6_K); only the
 * blocks' float summation order differs.
 * Rows in chunks of Q8_GEMM_ROWS (two panels of 16): their blocks packed once per chunk into the caller's panel,
 * per block 8 quads of 4 inputs x 16 rows (one zmm: the lanes vpdpbusd sums 4 bytes into) as unsigned codes
 * (Q8_0: q + 128; Q4_0: the nibble, q + 8; Q5_0: the nibble and its fifth bit, q + 16; the offset's share,
 * -offset * the activation block's sum, seeds the integer lanes), and the 16 rows' scales (and mins) as fp32;
 * then every tile of up to 4 tokens: per block 8 panel loads, 4 broadcasts per quad, 64 vpdpbusd, and per
 * (panel, token) one conversion, one scale product and one FMA (with a min: two). Packing gathers a quad of 16
 * rows at once (vpgatherdd: about 1% of the chunk's time).
 * Compiled with AVX-512 F/BW/VL/VNNI (the dispatcher checks VNNI). */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

enum { PANEL_BLOCK = 8 * 2 * 64 }; /* packed code bytes per block (8 quads, 2 panels) */

/* Per format: block bytes, where the codes start, the codes' offset (what the unsigned codes exceed q by), where
 * Q5's fifth bits start (bit j of a 32-bit word: input j's; -1: none). */
struct fmt_layout {
    int bytes, codes, offset;
    bool nibbles, min;
    int qh;
};
static struct fmt_layout layout(enum act_bf16_weights fmt)
{
    return fmt == ACT_W_Q4_0   ? (struct fmt_layout){18, 2, 8, true, false, -1}
         : fmt == ACT_W_Q4_1   ? (struct fmt_layout){20, 4, 0, true, true, -1}
         : fmt == ACT_W_Q5_0   ? (struct fmt_layout){22, 6, 16, true, false, 2}
         : fmt == ACT_W_Q5_1   ? (struct fmt_layout){24, 8, 0, true, true, 4}
                               : (struct fmt_layout){Q8_0_BLOCK_BYTES, 2, 128, false, false, -1};
}

/* per block: the codes, 2 x 32 floats (scales and mins; Q6_K: the two halves' scales), 64 int32 (Q6_K's seeds) */
size_t gemm_blocks_q8_panel_bytes(int d_in)
{
    return (size_t)(d_in / 32) * (PANEL_BLOCK + 4 * 16 * sizeof(float) + 4 * 16 * sizeof(int32_t));
}

/* Panel r's 16 rows of a chunk of rows: their byte offsets from the chunk's first row (rows rb apart) and, in
 * *m, which of them exist. */
static inline __m512i panel_rows(int r, int rows, size_t rb, __mmask16 *m)
{
    *m = mask16(rows - 16 * r);
    return _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(16 * r), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8,
                                                                                            9, 10, 11, 12, 13, 14, 15)),
                              _mm512_set1_epi32((int)rb));
}

/* Rows [o0, o0 + rows) (rows <= 32) of w, packed: pq[b][quad k][panel r][16 rows][4 bytes] (unsigned codes;
 * zeros past rows), pd[b][panel r][16] their blocks' scales and pm the mins (Q4_1, Q5_1; 0 past rows). Quad k holds
 * inputs 4k..4k+3: Q8_0's bytes, or the low nibbles of bytes 4k.. (k < 4) and high nibbles of bytes 4(k - 4)..
 * (inputs 16..31, as dequantize_row_q4_0 orders them), Q5's fifth bits or'ed in. */
static inline __attribute__((always_inline)) void pack(uint8_t *pq, float *pd, float *pm, const uint8_t *w, int nb,
                                                       int o0, int rows, struct fmt_layout L)
{
    const size_t rb = (size_t)nb * L.bytes;
    const uint8_t *base = w + (size_t)o0 * rb;
    for (int r = 0; r < 2; r++) {
        __mmask16 m;
        const __m512i row = panel_rows(r, rows, rb, &m);
        for (int b = 0; b < nb; b++) {
            const __m512i at = _mm512_add_epi32(row, _mm512_set1_epi32(b * L.bytes));
            const __m512i qh = L.qh >= 0 ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m,
                                                                         _mm512_add_epi32(at, _mm512_set1_epi32(L.qh)),
                                                                         base, 1)
                                         : _mm512_setzero_si512();
            for (int k = 0; k < 8; k++) {
                const int byte = L.codes + 4 * (L.nibbles ? k & 3 : k);
                __m512i q = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m,
                                                        _mm512_add_epi32(at, _mm512_set1_epi32(byte)), base, 1);
                if (L.nibbles)
                    q = _mm512_and_si512(k >= 4 ? _mm512_srli_epi32(q, 4) : q, _mm512_set1_epi8(0x0f));
                else
                    q = _mm512_maskz_xor_epi32(m, q, _mm512_set1_epi32((int)0x80808080u));
                if (L.qh >= 0) { /* inputs 4k..4k+3's fifth bits, bit i to bit 4 of byte i (a multiply spreads them) */
                    const __m512i h4 = _mm512_and_si512(_mm512_srli_epi32(qh, 4 * k), _mm512_set1_epi32(0xf));
                    const __m512i spread = _mm512_and_si512(_mm512_mullo_epi32(h4, _mm512_set1_epi32(0x00204081)),
                                                            _mm512_set1_epi32(0x01010101));
                    q = _mm512_or_si512(q, _mm512_slli_epi32(spread, 4));
                }
                _mm512_store_si512((__m512i *)(pq + (size_t)b * PANEL_BLOCK + (size_t)(2 * k + r) * 64), q);
            }
            const __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, at, base, 1);
            _mm512_store_ps(pd + ((size_t)b * 2 + r) * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
            if (L.min) /* m in bytes 2..3: the dword's high half */
                _mm512_store_ps(pm + ((size_t)b * 2 + r) * 16,
                                _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(d, 16))));
        }
    }
}

/* Token t's activations 4k..4k+3 of block b, as one int32 (vpdpbusd's 4 bytes). */
static inline uint32_t act_quad(const struct act_q8 *x, int t, int d_in, int b, int k)
{
    uint32_t quad;
    memcpy(&quad, x->q + (size_t)t * d_in + (size_t)b * 32 + 4 * k, 4);
    return quad;
}

/* y[t0 + j, o0 + 16r + i] = acc[r][j] for NT tokens from t0 and both panels (masks rm[r]). */
static inline __attribute__((always_inline)) void store_tile(float *y, __m512 acc[2][4], int d_out, int t0, int o0,
                                                             const __mmask16 *rm, int NT)
{
    for (int j = 0; j < NT; j++)
        for (int r = 0; r < 2; r++)
            _mm512_mask_storeu_ps(y + (size_t)(t0 + j) * d_out + o0 + 16 * r, rm[r], acc[r][j]);
}

/* y[t0 + j, o0 + 16r + i] for NT tokens from t0 and both panels (masks rm[r]). */
static inline __attribute__((always_inline)) void tile(float *y, const struct act_q8 *x, const uint8_t *pq,
                                                       const float *pd, const float *pm, int nb, int d_in, int d_out,
                                                       int t0, int o0, const __mmask16 *rm, struct fmt_layout L,
                                                       int NT)
{
    __m512 acc[2][4];
    for (int j = 0; j < NT; j++)
        acc[0][j] = acc[1][j] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *pb = pq + (size_t)b * PANEL_BLOCK;
        __m512i s[2][4];
        for (int j = 0; j < NT; j++)
            s[0][j] = s[1][j] = _mm512_set1_epi32(-L.offset * x->sum[(size_t)(t0 + j) * nb + b]);
        for (int k = 0; k < 8; k++) {
            const __m512i w0 = _mm512_load_si512((const __m512i *)(pb + (size_t)k * 128));
            const __m512i w1 = _mm512_load_si512((const __m512i *)(pb + (size_t)k * 128 + 64));
            for (int j = 0; j < NT; j++) {
                const __m512i a = _mm512_set1_epi32((int)act_quad(x, t0 + j, d_in, b, k));
                s[0][j] = _mm512_dpbusd_epi32(s[0][j], w0, a);
                s[1][j] = _mm512_dpbusd_epi32(s[1][j], w1, a);
            }
        }
        const __m512 d0 = _mm512_load_ps(pd + (size_t)b * 32), d1 = _mm512_load_ps(pd + (size_t)b * 32 + 16);
        for (int j = 0; j < NT; j++) {
            const size_t xb = (size_t)(t0 + j) * nb + b;
            const __m512 dx = _mm512_set1_ps(x->d[xb]);
            acc[0][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[0][j]), _mm512_mul_ps(d0, dx), acc[0][j]);
            acc[1][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[1][j]), _mm512_mul_ps(d1, dx), acc[1][j]);
            if (L.min) { /* + m_w * d_x * sum(q_x) */
                const __m512 ms = _mm512_set1_ps(x->d[xb] * (float)x->sum[xb]);
                acc[0][j] = _mm512_fmadd_ps(_mm512_load_ps(pm + (size_t)b * 32), ms, acc[0][j]);
                acc[1][j] = _mm512_fmadd_ps(_mm512_load_ps(pm + (size_t)b * 32 + 16), ms, acc[1][j]);
            }
        }
    }
    store_tile(y, acc, d_out, t0, o0, rm, NT);
}

/* Q4_K and Q5_K rows [o0, o0 + rows) packed the same way, a "block" being a 32-weight sub-block: sub-block s of
 * super-block sb is the low (s even) or high nibbles of its 32-byte slice s / 2 of qs (Q5_K: with bit s of qh's
 * byte j as input j's fifth bit); its scale d * sc and min -dmin * m (6-bit sc and m, scale_min_k4) decoded per
 * row. */
static inline __attribute__((always_inline)) void pack_k(uint8_t *pq, float *pd, float *pm, const uint8_t *w, int nb,
                                                         int o0, int rows, bool q5)
{
    const int n_sb = nb / 8, sb_bytes = q5 ? 176 : 144, qs_at = q5 ? 48 : 16, qh_at = 16;
    const size_t rb = (size_t)n_sb * sb_bytes;
    const uint8_t *base = w + (size_t)o0 * rb;
    for (int r = 0; r < 2; r++) {
        __mmask16 m;
        const __m512i row = panel_rows(r, rows, rb, &m);
        for (int b = 0; b < nb; b++) {
            const int sb = b / 8, sub = b % 8;
            const __m512i at = _mm512_add_epi32(row, _mm512_set1_epi32(sb * sb_bytes + qs_at + 32 * (sub / 2)));
            const __m512i at_h = _mm512_add_epi32(row, _mm512_set1_epi32(sb * sb_bytes + qh_at));
            for (int k = 0; k < 8; k++) {
                __m512i q = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m,
                                                        _mm512_add_epi32(at, _mm512_set1_epi32(4 * k)), base, 1);
                q = _mm512_and_si512(sub & 1 ? _mm512_srli_epi32(q, 4) : q, _mm512_set1_epi8(0x0f));
                if (q5) { /* inputs 4k..4k+3's fifth bits: bit sub of qh bytes 4k..4k+3, moved to bit 4 */
                    const __m512i h = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m,
                                                                  _mm512_add_epi32(at_h, _mm512_set1_epi32(4 * k)),
                                                                  base, 1);
                    q = _mm512_or_si512(q, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, sub),
                                                                              _mm512_set1_epi32(0x01010101)),
                                                             4));
                }
                _mm512_store_si512((__m512i *)(pq + (size_t)b * PANEL_BLOCK + (size_t)(2 * k + r) * 64), q);
            }
        }
        for (int i = 0; i < 16; i++)
            for (int sb = 0; sb < n_sb; sb++) {
                const bool real = 16 * r + i < rows;
                const uint8_t *h = real ? base + (size_t)(16 * r + i) * rb + (size_t)sb * sb_bytes : base;
                const float d = real ? f16_to_f32((uint16_t)(h[0] | h[1] << 8)) : 0.0f;
                const float dmin = real ? f16_to_f32((uint16_t)(h[2] | h[3] << 8)) : 0.0f;
                for (int sub = 0; sub < 8; sub++) {
                    const size_t at = ((size_t)(8 * sb + sub) * 2 + r) * 16 + i;
                    if (!real) {
                        pd[at] = pm[at] = 0.0f;
                        continue;
                    }
                    int sc, mn;
                    scale_min_k4(sub, h + 4, &sc, &mn);
                    pd[at] = d * (float)sc;
                    pm[at] = -(dmin * (float)mn);
                }
            }
    }
}

/* Q6_K rows [o0, o0 + rows): sub-block b (s = b % 8 of super-block b / 8: 128-weight half h = s / 4, quarter
 * p = s % 4, as dequantize_row_q6_K) has weight l's 6-bit code in byte 64h + 32(p & 1) + l of ql (high nibble
 * for p >= 2) and bits 2p, 2p + 1 of byte 32h + l of qh; its two 16-weight halves the scales d * sc[8h + 2p] and
 * d * sc[8h + 2p + 1]. Packed as signed bytes q - 32 (vpdpbusd's signed operand: the activations, + 128, are the
 * unsigned one), and per half and row the seed -128 * sum(q - 32) that takes the activations' +128 back. */
static void pack_q6_K(uint8_t *pq, float *pd, float *pm, int32_t *ps, const uint8_t *w, int nb, int o0, int rows)
{
    const int n_sb = nb / 8;
    const size_t rb = (size_t)n_sb * 210;
    const uint8_t *base = w + (size_t)o0 * rb;
    for (int r = 0; r < 2; r++) {
        __mmask16 m;
        const __m512i row = panel_rows(r, rows, rb, &m);
        for (int b = 0; b < nb; b++) {
            const int sb = b / 8, h = b % 8 / 4, p = b % 4;
            const __m512i at_l = _mm512_add_epi32(row, _mm512_set1_epi32(sb * 210 + 64 * h + 32 * (p & 1)));
            const __m512i at_h = _mm512_add_epi32(row, _mm512_set1_epi32(sb * 210 + 128 + 32 * h));
            __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
            for (int k = 0; k < 8; k++) {
                const __m512i four_k = _mm512_set1_epi32(4 * k);
                const __m512i l = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, _mm512_add_epi32(at_l, four_k),
                                                              base, 1);
                const __m512i hb =
                    _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, _mm512_add_epi32(at_h, four_k), base, 1);
                const __m512i lo4 = _mm512_and_si512(p >= 2 ? _mm512_srli_epi32(l, 4) : l, _mm512_set1_epi8(0x0f));
                const __m512i hi2 = _mm512_and_si512(_mm512_srli_epi32(hb, 2 * p), _mm512_set1_epi8(0x03));
                const __m512i q =
                    _mm512_sub_epi8(_mm512_or_si512(lo4, _mm512_slli_epi32(hi2, 4)), _mm512_set1_epi8(32));
                sum[k / 4] = _mm512_dpbusd_epi32(sum[k / 4], _mm512_set1_epi8(1), q);
                _mm512_store_si512((__m512i *)(pq + (size_t)b * PANEL_BLOCK + (size_t)(2 * k + r) * 64), q);
            }
            for (int half = 0; half < 2; half++)
                _mm512_store_si512((__m512i *)(ps + ((size_t)b * 4 + 2 * half + r) * 16),
                                   _mm512_mullo_epi32(sum[half], _mm512_set1_epi32(-128)));
        }
        for (int i = 0; i < 16; i++)
            for (int sb = 0; sb < n_sb; sb++) {
                const bool real = 16 * r + i < rows;
                const uint8_t *hd = real ? base + (size_t)(16 * r + i) * rb + (size_t)sb * 210 : base;
                const float d = real ? f16_to_f32((uint16_t)(hd[208] | hd[209] << 8)) : 0.0f;
                for (int s8 = 0; s8 < 8; s8++) {
                    const size_t at = ((size_t)(8 * sb + s8) * 2 + r) * 16 + i;
                    const int sc = 8 * (s8 / 4) + 2 * (s8 % 4);
                    pd[at] = real ? d * (float)(int8_t)hd[192 + sc] : 0.0f;
                    pm[at] = real ? d * (float)(int8_t)hd[192 + sc + 1] : 0.0f;
                }
            }
    }
}

/* Tokens per Q6_K tile: 4 (like the others) keeps 16 integer sums and 8 accumulators live, spills, and made a
 * Qwen3-0.6B Q4_K_M pp512 slower than the bf16 GEMM on its Q6_K tensors (454-476 against 478 tokens/s); 2 and 3
 * both 5-8% faster than it. */
enum { Q6_TILE = 2 };

/* Q6_K's tile: per block two integer sums per row and token (the halves, from their seeds), the activations'
 * quads + 128 against the signed codes; each half with its scale. */
static inline __attribute__((always_inline)) void tile_q6(float *y, const struct act_q8 *x, const uint8_t *pq,
                                                          const float *pd, const float *pm, const int32_t *ps, int nb,
                                                          int d_in, int d_out, int t0, int o0, const __mmask16 *rm,
                                                          int NT)
{
    __m512 acc[2][4];
    for (int j = 0; j < NT; j++)
        acc[0][j] = acc[1][j] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *pb = pq + (size_t)b * PANEL_BLOCK;
        __m512i s[2][2][Q6_TILE]; /* [half][panel][token] */
        for (int half = 0; half < 2; half++)
            for (int r = 0; r < 2; r++) {
                const __m512i seed = _mm512_load_si512((const __m512i *)(ps + ((size_t)b * 4 + 2 * half + r) * 16));
                for (int j = 0; j < NT; j++)
                    s[half][r][j] = seed;
            }
        for (int k = 0; k < 8; k++) {
            const __m512i w0 = _mm512_load_si512((const __m512i *)(pb + (size_t)k * 128));
            const __m512i w1 = _mm512_load_si512((const __m512i *)(pb + (size_t)k * 128 + 64));
            for (int j = 0; j < NT; j++) {
                const __m512i a = _mm512_set1_epi32((int)(act_quad(x, t0 + j, d_in, b, k) ^ 0x80808080u));
                s[k / 4][0][j] = _mm512_dpbusd_epi32(s[k / 4][0][j], a, w0);
                s[k / 4][1][j] = _mm512_dpbusd_epi32(s[k / 4][1][j], a, w1);
            }
        }
        for (int r = 0; r < 2; r++) {
            const __m512 d_lo = _mm512_load_ps(pd + (size_t)b * 32 + 16 * r);
            const __m512 d_hi = _mm512_load_ps(pm + (size_t)b * 32 + 16 * r);
            for (int j = 0; j < NT; j++) {
                const __m512 dx = _mm512_set1_ps(x->d[(size_t)(t0 + j) * nb + b]);
                acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[0][r][j]), _mm512_mul_ps(d_lo, dx), acc[r][j]);
                acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[1][r][j]), _mm512_mul_ps(d_hi, dx), acc[r][j]);
            }
        }
    }
    store_tile(y, acc, d_out, t0, o0, rm, NT);
}

static inline __attribute__((always_inline)) void gemm(float *y, const struct act_q8 *x, const void *w, int n,
                                                       int d_in, int d_out, int o0, int o1, void *panel,
                                                       struct fmt_layout L, enum act_bf16_weights k_fmt)
{
    const int nb = d_in / 32;
    uint8_t *pq = panel;
    float *pd = (float *)(pq + (size_t)nb * PANEL_BLOCK), *pm = pd + (size_t)nb * 32;
    int32_t *ps = (int32_t *)(pm + (size_t)nb * 32);
    for (int c = o0; c < o1; c += Q8_GEMM_ROWS) {
        const int rows = o1 - c < Q8_GEMM_ROWS ? o1 - c : Q8_GEMM_ROWS;
        if (k_fmt == ACT_W_Q6_K)
            pack_q6_K(pq, pd, pm, ps, w, nb, c, rows);
        else if (k_fmt == ACT_W_Q4_K || k_fmt == ACT_W_Q5_K)
            pack_k(pq, pd, pm, w, nb, c, rows, k_fmt == ACT_W_Q5_K);
        else
            pack(pq, pd, pm, w, nb, c, rows, L);
        const __mmask16 rm[2] = {mask16(rows), mask16(rows - 16)};
        int t = 0;
        if (k_fmt == ACT_W_Q6_K) {
            for (; t + Q6_TILE <= n; t += Q6_TILE)
                tile_q6(y, x, pq, pd, pm, ps, nb, d_in, d_out, t, c, rm, Q6_TILE);
            for (; t < n; t++)
                tile_q6(y, x, pq, pd, pm, ps, nb, d_in, d_out, t, c, rm, 1);
            continue;
        }
        for (; t + 4 <= n; t += 4)
            tile(y, x, pq, pd, pm, nb, d_in, d_out, t, c, rm, L, 4);
        switch (n - t) {
        case 3: tile(y, x, pq, pd, pm, nb, d_in, d_out, t, c, rm, L, 3); break;
        case 2: tile(y, x, pq, pd, pm, nb, d_in, d_out, t, c, rm, L, 2); break;
        case 1: tile(y, x, pq, pd, pm, nb, d_in, d_out, t, c, rm, L, 1); break;
        default: break;
        }
    }
}

void gemm_blocks_q8_avx512(float *y, const struct act_q8 *x, const void *w, enum act_bf16_weights fmt, int n, int d_in,
                           int d_out, int o0, int o1, void *panel)
{
    /* each format its own instance (the layout constant-folded); Q4_K's and Q5_K's tiles are Q4_1's (a scale and a
     * min per 32 weights, no offset); Q6_K has tiles of its own (L unused); k_fmt ACT_W_BF16: not a K-quant */
    if (fmt == ACT_W_Q4_0)
        gemm(y, x, w, n, d_in, d_out, o0, o1, panel, layout(ACT_W_Q4_0), ACT_W_BF16);
    else if (fmt == ACT_W_Q4_1)
        gemm(y, x, w, n, d_in, d_out, o0, o1, panel, layout(ACT_W_Q4_1), ACT_W_BF16);
    else if (fmt == ACT_W_Q5_0)
        gemm(y, x, w, n, d_in, d_out, o0, o1, panel, layout(ACT_W_Q5_0), ACT_W_BF16);
    else if (fmt == ACT_W_Q5_1)
        gemm(y, x, w, n, d_in, d_out, o0, o1, panel, layout(ACT_W_Q5_1), ACT_W_BF16);
    else if (fmt == ACT_W_Q4_K)
        gemm(y, x, w, n, d_in, d_out, o0, o1, panel, layout(ACT_W_Q4_1), ACT_W_Q4_K);
    else if (fmt == ACT_W_Q5_K)
        gemm(y, x, w, n, d_in, d_out, o0, o1, panel, layout(ACT_W_Q4_1), ACT_W_Q5_K);
    else if (fmt == ACT_W_Q6_K)
        gemm(y, x, w, n, d_in, d_out, o0, o1, panel, layout(ACT_W_Q8_0), ACT_W_Q6_K);
    else
        gemm(y, x, w, n, d_in, d_out, o0, o1, panel, layout(ACT_W_Q8_0), ACT_W_BF16);
}
