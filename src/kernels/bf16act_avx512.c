/* bf16act_avx512.c — BF16 weights against activations rounded to bf16, with AVX512-BF16 dot products
 * (vdpbf16ps: 32 products per instruction, twice fp32 FMAs). The opt-in reduced-precision mode
 * (ops_set_act: ACT_BF16 and ACT_Q8); the default path keeps fp32 activations. Same math as matmul_bf16_act_ref
 * (kernels_ref.c): each activation rounded to bf16 (nearest even), products exact in fp32, fp32 sums; only
 * the summation order differs.
 * - matmul_bf16_act_avx512 (decode, row-exact batches): each row streamed once for up to 4 tokens, every token
 *   as alone; where their bf16 activations pass KERN_ROWS_X_BYTES (8192+ inputs for one token), 8 / NT rows per
 *   pass, the same numbers.
 * - gemm_bf16_act_avx512 (prefill): activations packed once per matmul by pack_act_bf16_avx512; per chunk of
 *   up to 48 rows, panels of 16 rows packed as bf16 pairs (one 32-bit lane per row and pair of inputs) for a
 *   super-slice of up to ACT_BF16_SUPER inputs (L2-resident), then tiles of 8 tokens whose pairs are
 *   broadcast: 24 accumulators kept in registers over the whole super-slice, 11 loads feeding 24 dot
 *   products. The weights the next packing reads are prefetched into L2
 *   while the tiles run (from memory, the packing's 16 rows side by side stalled it: 10% of the GEMM's time
 *   in pp512, 2% since). The inner loop runs at 97% of the dot-product peak (3.5 of 3.63 per ns on one Zen 4 core);
 *   Q8_0 and K-quant weights take the same GEMM with each block dequantized exactly and rounded to bf16.
 * Compiled with -mavx512bf16 (the dispatcher checks the CPU has it). */
#include <immintrin.h>
#include <string.h>

#include "kernels/fp8.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"
#include "kernels/kquants_avx512.h"

/* 32 activations from k (fewer at the tail, zeros after) as bf16, input order. */
static inline __m512bh x_bf16(const float *x, int k, int d_in)
{
    const __m512 lo = _mm512_maskz_loadu_ps(mask16(d_in - k), x + k);
    const __m512 hi = _mm512_maskz_loadu_ps(mask16(d_in - k - 16), x + k + 16);
    return _mm512_cvtne2ps_pbh(hi, lo);
}

/* 32 activations of token j from input k as bf16: pre-converted (xb: rows of xs values, zeros past d_in) or,
 * with xb NULL, fp32 rows of x converted on the fly. */
static inline __attribute__((always_inline)) __m512bh act32(const float *x, const uint16_t *xb, int xs, int j, int k,
                                                            int d_in)
{
    return xb ? (__m512bh)_mm512_load_si512(xb + (size_t)j * xs + k) : x_bf16(x + (size_t)j * d_in, k, d_in);
}

/* R rows (stride d_in) against NT tokens, two chains per row and token alternating by 32-input block (64 inputs
 * per step, the accumulators named so they stay in registers; a last lone block into the first chain): one weight
 * load, NT activation loads and NT dot products per row and 32 inputs. A row's and token's arithmetic is the same
 * however the activations arrive and whatever R and NT are. */
static inline __attribute__((always_inline)) void rows(float *y, const float *x, const uint16_t *xb, int xs,
                                                       const uint16_t *wr, int d_in, int d_out, int R, int NT)
{
    __m512 a0[8], a1[8];
#pragma GCC unroll 8
    for (int i = 0; i < R * NT; i++)
        a0[i] = a1[i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 64 <= d_in; k += 64)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint16_t *w = wr + (size_t)r * d_in;
            const __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + k), w1 = (__m512bh)_mm512_loadu_si512(w + k + 32);
#pragma GCC unroll 4
            for (int j = 0; j < NT; j++) {
                a0[r * NT + j] = _mm512_dpbf16_ps(a0[r * NT + j], w0, act32(x, xb, xs, j, k, d_in));
                a1[r * NT + j] = _mm512_dpbf16_ps(a1[r * NT + j], w1, act32(x, xb, xs, j, k + 32, d_in));
            }
        }
    for (int c = 0; k < d_in; k += 32, c ^= 1) /* the tail: at most one full block and a partial one */
        for (int r = 0; r < R; r++) {
            const __m512bh w = (__m512bh)_mm512_maskz_loadu_epi16(mask32(d_in - k), wr + (size_t)r * d_in + k);
            for (int j = 0; j < NT; j++) {
                if (c)
                    a1[r * NT + j] = _mm512_dpbf16_ps(a1[r * NT + j], w, act32(x, xb, xs, j, k, d_in));
                else
                    a0[r * NT + j] = _mm512_dpbf16_ps(a0[r * NT + j], w, act32(x, xb, xs, j, k, d_in));
            }
        }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            y[(size_t)j * d_out + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r * NT + j], a1[r * NT + j]));
}

/* Rows o0..o1 over NT tokens' pre-converted activations, R at a time (leftover rows alone). */
static inline __attribute__((always_inline)) void row_group(float *y, const uint16_t *xb, int xs, const uint16_t *wb,
                                                            int d_in, int d_out, int o0, int o1, int R, int NT)
{
    int o = o0;
    for (; o + R <= o1; o += R)
        rows(y + o, NULL, xb, xs, wb + (size_t)o * d_in, d_in, d_out, R, NT);
    for (; o < o1; o++)
        rows(y + o, NULL, xb, xs, wb + (size_t)o * d_in, d_in, d_out, 1, NT);
}

/* Prefill, over activations packed once per matmul (pack_act_bf16_avx512): tokens in tiles of
 * ACT_BF16_TILE, each tile's inputs in slices of ACT_BF16_SLICE (a 4 KB block per tile and slice, so the
 * broadcasts of a tile's 8 tokens fall in distinct L1 sets), zeros past n and d_in. */
enum { SLICE = ACT_BF16_SLICE, PAIRS = SLICE / 2, SUPER = ACT_BF16_SUPER };
_Static_assert(SUPER % SLICE == 0, "super-slices hold whole slices");

void pack_act_bf16_avx512(uint16_t *xp, const float *x, int n, int d_in, int tile0, int tile1)
{
    const int n_slices = (d_in + SLICE - 1) / SLICE;
    for (int tl = tile0; tl < tile1; tl++)
        for (int s = 0; s < n_slices; s++)
            for (int j = 0; j < ACT_BF16_TILE; j++) {
                uint16_t *dst = xp + (((size_t)tl * n_slices + s) * ACT_BF16_TILE + j) * SLICE;
                const int t = tl * ACT_BF16_TILE + j, k0 = s * SLICE, kc = d_in - k0 < SLICE ? d_in - k0 : SLICE;
                for (int kk = 0; kk < SLICE; kk += 32)
                    _mm512_store_si512((__m512i *)(dst + kk), t < n ? (__m512i)x_bf16(x + (size_t)t * d_in + k0, kk, kc)
                                                                    : _mm512_setzero_si512());
            }
}

/* Lines of weights asked into L2 a few at a time: rows of row_bytes from base, lines_per_row lines each (from
 * byte 0 of each row at base), walked in order from the current row and line; left still to ask. */
struct pf_walk {
    const char *base;
    size_t row_bytes, lines_per_row, row, line, left;
};

static inline void pf_ask(struct pf_walk *pf, size_t count)
{
    for (; count > 0 && pf->left > 0; count--, pf->left--) {
        _mm_prefetch(pf->base + pf->row * pf->row_bytes + pf->line * 64, _MM_HINT_T1);
        if (++pf->line == pf->lines_per_row) {
            pf->line = 0;
            pf->row++;
        }
    }
}

/* y[t, 16r + i] (+)= the tile's sums over n_slices slices (the last with last_pairs pairs), for NT tokens and R
 * panels of 16 rows (their masks in rmask[r]): per pair, R panel loads and NT broadcasts feed R*NT dot products;
 * the accumulators stay in registers across the slices. */
static inline __attribute__((always_inline)) void tile(float *y, const uint16_t *xt, const float *panel, int n_slices,
                                                       int last_pairs, int d_out, bool accumulate,
                                                       const __mmask16 *rmask, struct pf_walk *pf, int R, int NT)
{
    __m512 acc[3][8];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NT; j++)
            acc[r][j] = accumulate ? _mm512_maskz_loadu_ps(rmask[r], y + (size_t)j * d_out + 16 * r)
                                   : _mm512_setzero_ps();
    for (int s = 0; s < n_slices; s++) {
        const uint16_t *xs = xt + (size_t)s * ACT_BF16_TILE * SLICE;
        const float *ps = panel + (size_t)s * R * PAIRS * 16;
        const int n_pairs = s + 1 < n_slices ? PAIRS : last_pairs;
        pf_ask(pf, (pf->left + (size_t)(n_slices - s) - 1) / (size_t)(n_slices - s)); /* a share per slice */
        for (int p = 0; p < n_pairs; p++) {
            __m512bh wv[3];
            for (int r = 0; r < R; r++)
                wv[r] = (__m512bh)_mm512_load_ps(ps + ((size_t)r * PAIRS + p) * 16);
            for (int j = 0; j < NT; j++) {
                int32_t pair;
                memcpy(&pair, xs + (size_t)j * SLICE + 2 * p, 4);
                const __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
                for (int r = 0; r < R; r++)
                    acc[r][j] = _mm512_dpbf16_ps(acc[r][j], wv[r], xv);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NT; j++)
            _mm512_mask_storeu_ps(y + (size_t)j * d_out + 16 * r, rmask[r], acc[r][j]);
}

#define TILE_CASES(R)                                                                                   \
    switch (nt) {                                                                                       \
    case 8: tile(yt, xt, panel, n_sl, last, d_out, k0 > 0, rmask, &pf, R, 8); break;                    \
    case 7: tile(yt, xt, panel, n_sl, last, d_out, k0 > 0, rmask, &pf, R, 7); break;                    \
    case 6: tile(yt, xt, panel, n_sl, last, d_out, k0 > 0, rmask, &pf, R, 6); break;                    \
    case 5: tile(yt, xt, panel, n_sl, last, d_out, k0 > 0, rmask, &pf, R, 5); break;                    \
    case 4: tile(yt, xt, panel, n_sl, last, d_out, k0 > 0, rmask, &pf, R, 4); break;                    \
    case 3: tile(yt, xt, panel, n_sl, last, d_out, k0 > 0, rmask, &pf, R, 3); break;                    \
    case 2: tile(yt, xt, panel, n_sl, last, d_out, k0 > 0, rmask, &pf, R, 2); break;                    \
    default: tile(yt, xt, panel, n_sl, last, d_out, k0 > 0, rmask, &pf, R, 1); break;                   \
    }

/* Bytes per 256 weights of each format. */
static const int bytes_256[] = {[ACT_W_BF16] = 512, [ACT_W_Q8_0] = 8 * Q8_0_BLOCK_BYTES, [ACT_W_Q4_K] = 144,
                                [ACT_W_Q5_K] = 176, [ACT_W_Q6_K] = 210, [ACT_W_Q4_0] = 8 * 18, [ACT_W_Q4_1] = 8 * 20,
                                [ACT_W_Q5_0] = 8 * 22, [ACT_W_Q5_1] = 8 * 24, [ACT_W_FP8] = 256};

/* 32 weights of row o from input k (fewer at the tail, zeros after) as bf16: BF16 rows as stored; the GGML
 * blocks' rows (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, the K-quants; k a multiple of 32) and FP8's (with their block's
 * scale) dequantized exactly (the reference dequantizer's values) and rounded to bf16. */
static inline __attribute__((always_inline)) __m512 row_bf16(const void *w, const float *scales,
                                                             enum act_bf16_weights fmt, int d_in, int o, int k, int left)
{
    if (fmt == ACT_W_BF16)
        return _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(mask32(left), (const uint16_t *)w + (size_t)o * d_in + k));
    __m512 lo, hi;
    if (fmt == ACT_W_FP8) {
        const float s = scales[(size_t)(o / FP8_BLOCK) * ((d_in + FP8_BLOCK - 1) / FP8_BLOCK) + k / FP8_BLOCK];
        e4m3x32((const uint8_t *)w + (size_t)o * d_in + k, left, _mm512_set1_ps(s * 256.0f), &lo, &hi);
        return _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    /* the 32-weight formats' block */
    const uint8_t *b = (const uint8_t *)w + ((size_t)o * (d_in / 32) + (size_t)k / 32) * (size_t)(bytes_256[fmt] / 8);
    if (fmt == ACT_W_Q8_0)
        q8_0_block_f32(b, &lo, &hi);
    else if (fmt == ACT_W_Q4_0)
        q4_0_block_f32(b, &lo, &hi);
    else if (fmt == ACT_W_Q4_1)
        q4_1_block_f32(b, &lo, &hi);
    else if (fmt == ACT_W_Q5_0)
        q5_0_block_f32(b, &lo, &hi);
    else if (fmt == ACT_W_Q5_1)
        q5_1_block_f32(b, &lo, &hi);
    else
        kq_block(fmt, w, d_in, o, k / 32, &lo, &hi);
    return _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* Bytes of one row of d_in weights in format fmt. */
static size_t row_bytes(enum act_bf16_weights fmt, int d_in)
{
    return (size_t)d_in / 32 * (size_t)bytes_256[fmt] / 8 +
           (fmt == ACT_W_BF16 ? (size_t)(d_in % 32) * 2 : fmt == ACT_W_FP8 ? (size_t)(d_in % 32) : 0);
}

/* Rows o0..o1 (at most ACT_BF16_ROWS = 48: three panels of 16) over every token, one super-slice of inputs at a
 * time: its panels packed as bf16 pairs (one 32-bit lane per row and pair of inputs; slice-major, L2-resident),
 * 16 rows at a time each read in order, then every tile of tokens. */
static inline __attribute__((always_inline)) void gemm(float *y, const uint16_t *xp, const void *w,
                                                       const float *scales, enum act_bf16_weights fmt, int n, int d_in, int d_out, int o0,
                                                       int o1, float *panel)
{
    const int n_rows = o1 - o0, R = (n_rows + 15) / 16, n_slices = (d_in + SLICE - 1) / SLICE;
    __mmask16 rmask[3];
    for (int r = 0; r < 3; r++)
        rmask[r] = mask16(n_rows - 16 * r);
    /* the weights come from memory (each is read once per matmul): while the tiles run, the ones the next packing
     * reads (the next super-slice of these rows, or the first of the 48 rows after them) are asked into L2, a
     * share per slice of each tile (asked 48 at a time at a tile's start they waited for free miss buffers: 2.5%
     * of the GEMM), and the packing asks each row two steps ahead into L1 */
    const size_t rb = row_bytes(fmt, d_in);
    const int n_tiles = (n + ACT_BF16_TILE - 1) / ACT_BF16_TILE;
    for (int k0 = 0; k0 < d_in; k0 += SUPER) {
        const int kb = d_in - k0 < SUPER ? d_in - k0 : SUPER, n_sl = (kb + SLICE - 1) / SLICE;
        const int last = (kb - (n_sl - 1) * SLICE + 1) / 2; /* pairs in the super-slice's last slice */
        for (int r = 0; r < R; r++)
            for (int s = 0; s < n_sl; s++)
                for (int kk = 0; kk < SLICE && s * SLICE + kk < kb; kk += 32) { /* 16 rows x 16 pairs, transposed */
                    const int k = k0 + s * SLICE + kk;
                    __m512 rv[16], c[16];
                    for (int i = 0; i < 16 && 16 * r + i < n_rows; i++) /* two steps ahead into L1 (from L2) */
                        _mm_prefetch((const char *)w + (size_t)(o0 + 16 * r + i) * rb + (size_t)(k + 64) * rb / d_in,
                                     _MM_HINT_T0);
                    for (int i = 0; i < 16; i++)
                        rv[i] = 16 * r + i < n_rows ? row_bf16(w, scales, fmt, d_in, o0 + 16 * r + i, k, d_in - k)
                                                    : _mm512_setzero_ps();
                    transpose16(rv, c);
                    for (int j = 0; j < 16; j++)
                        _mm512_store_ps(panel + (((size_t)s * R + r) * PAIRS + kk / 2 + j) * 16, c[j]);
                }
        const bool next_rows = k0 + SUPER >= d_in;
        const int pf_row0 = next_rows ? o1 : o0, pf_k0 = next_rows ? 0 : k0 + SUPER;
        const int pf_rows = next_rows ? (d_out - o1 < ACT_BF16_ROWS ? d_out - o1 : ACT_BF16_ROWS) : n_rows;
        const int pf_kb = d_in - pf_k0 < SUPER ? d_in - pf_k0 : SUPER;
        const size_t pf_lines = ((size_t)pf_kb * rb / (size_t)d_in + 63) / 64;
        const size_t pf_total = pf_lines * (size_t)(pf_rows > 0 ? pf_rows : 0);
        struct pf_walk pf = {.base = (const char *)w + (size_t)pf_row0 * rb + (size_t)pf_k0 * rb / d_in,
                             .row_bytes = rb, .lines_per_row = pf_lines};
        for (int t = 0; t < n; t += ACT_BF16_TILE) {
            const int nt = n - t < ACT_BF16_TILE ? n - t : ACT_BF16_TILE, ti = t / ACT_BF16_TILE;
            pf.left = pf_total * (ti + 1) / n_tiles - pf_total * ti / n_tiles;
            const uint16_t *xt = xp + ((size_t)t / ACT_BF16_TILE * n_slices + k0 / SLICE) * ACT_BF16_TILE * SLICE;
            float *yt = y + (size_t)t * d_out + o0;
            if (R == 3) {
                TILE_CASES(3)
            } else if (R == 2) {
                TILE_CASES(2)
            } else {
                TILE_CASES(1)
            }
        }
    }
}
#undef TILE_CASES

void gemm_bf16_act_avx512(float *y, const uint16_t *xp, const void *w, const float *scales, enum act_bf16_weights fmt,
                          int n, int d_in, int d_out, int o0, int o1, float *panel)
{
    for (int g = o0; g < o1; g += ACT_BF16_ROWS)
        gemm(y, xp, w, scales, fmt, n, d_in, d_out, g, g + ACT_BF16_ROWS < o1 ? g + ACT_BF16_ROWS : o1, panel);
}

void matmul_bf16_act_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    const uint16_t *wb = w;
    enum { PRE_MAX = 65536 }; /* activations converted once per call up to this many inputs (512 KB of stack for 4) */
    if (d_in <= PRE_MAX) {
        const int xs = (d_in + 31) / 32 * 32;
        uint16_t buf[4 * (size_t)xs + 32];
        uint16_t *xb = (uint16_t *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
        for (int t0 = 0; t0 < n; t0 += 4) {
            const int nt = n - t0 < 4 ? n - t0 : 4;
            for (int j = 0; j < nt; j++)
                for (int k = 0; k < d_in; k += 32)
                    _mm512_store_si512((__m512i *)(xb + (size_t)j * xs + k),
                                       (__m512i)x_bf16(x + (size_t)(t0 + j) * d_in, k, d_in));
            /* past KERN_ROWS_X_BYTES of converted activations, 8 / NT rows per pass (the same numbers) */
            const bool wide = (size_t)nt * xs * sizeof(uint16_t) > KERN_ROWS_X_BYTES;
            float *yt = y + (size_t)t0 * d_out;
#define GROUP(R, NT) row_group(yt, xb, xs, wb, d_in, d_out, o0, o1, R, NT)
            GROUP_BY_WIDTH(nt, wide, GROUP)
#undef GROUP
        }
        return;
    }
    for (int o = o0; o < o1; o++) {
        const uint16_t *wr = wb + (size_t)o * d_in;
        int t = 0;
        for (; t + 4 <= n; t += 4)
            rows(y + (size_t)t * d_out + o, x + (size_t)t * d_in, NULL, 0, wr, d_in, d_out, 1, 4);
        float *yt = y + (size_t)t * d_out + o;
        const float *xt = x + (size_t)t * d_in;
        switch (n - t) {
        case 3: rows(yt, xt, NULL, 0, wr, d_in, d_out, 1, 3); break;
        case 2: rows(yt, xt, NULL, 0, wr, d_in, d_out, 1, 2); break;
        case 1: rows(yt, xt, NULL, 0, wr, d_in, d_out, 1, 1); break;
        default: break;
        }
    }
}
