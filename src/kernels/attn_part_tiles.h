/* attn_part_tiles.h — the decode partial (struct attn_part; same contract as attention_part_ref) in register
 * tiles, written once over the including file's vectors of PT_W floats (attn_part_avx512.c: 16, kernels_avx2.c: 8).
 * A query token's heads meet a chunk of at most ATTN_PART_KEYS cached keys:
 *   scores: S = scale * Q K^T in tiles of HT heads x PT_W / HT keys (HT = 4, 2 or 1: PT_W accumulators, each
 *           summing a key's products over its PT_W-lane slices of d_k; one transposing reduction, PT_SUMW, gives
 *           the tile's PT_W scores), a key row read once for every head of its tile;
 *   softmax: each head's max and exponentials (PT_MAX, PT_EXPSUM), its sum in l;
 *   values: O = P V in tiles of HV heads x DT slices of d_v (HV x DT at most PT_W: 4 x PT_W/4, 2 or 1 x PT_W/2, then
 *           narrower for the last slices), the accumulators in registers across a block of keys (the weights
 *           broadcast, a value row's slices read once per tile).
 * Heads share a KV head in runs of rep (head r reads KV head r / rep); a tile never spans two. Both passes go
 * through the keys in blocks of KEY_BLOCK, every KV head of the call per block, and where the call covers whole
 * cache rows each KV head's tiles request its part of the next block into L2 as they go (tile_lines): a
 * decode finds the cache evicted by the weights streamed since the last token. d_k and d_v must be multiples of
 * PT_W (the including file keeps the row form for others). Values accumulate key by key in order with one FMA
 * per element (the row form's numbers); scores differ from the reference by the order of a dot product's sum.
 * Measured (docs/BENCHMARKS.md, AVX-512): 1.5-2x the row form with the chunk in cache, 25-45% less attention time
 * in a Qwen3-0.6B decode; the prefetch 20-27% less attention time at 4096 keys from memory (f16 cache), 8-11%
 * (fp32); spread over the tiles instead of asked per block at once, 13-21% less again at 1025 keys (f16; fp32
 * within 3%).
 *
 * The including file defines PT_V (the vector type), PT_W, PT_ZERO(), PT_LOADU(p), PT_STOREU(p, v), PT_FMA(a, b,
 * c) (a * b + c), PT_MUL(a, b), PT_SET1(x), PT_LOAD_KV(base, f16, i) (PT_W cache values from element i as fp32),
 * PT_SUMW(acc) (lane i = the sum of acc[i]'s lanes), PT_MAX(s, n) and PT_EXPSUM(s, n, m) (expsum_fn), then calls
 * attention_part_tiled. */
#ifndef OWL_ATTN_PART_TILES_H
#define OWL_ATTN_PART_TILES_H

#include <string.h>

#include "kernels/kernels.h"

/* Scores of heads r0 .. r0 + nh - 1 (nh <= HT) against keys j0 .. j0 + nk - 1 (nk <= KT) of KV head g, into
 * s[r][j]; the tile's missing heads and keys repeat its first ones and are not stored. */
static inline __attribute__((always_inline)) void score_tile(const struct attn_part *a, float (*s)[ATTN_PART_KEYS],
                                                             int g, int r0, int nh, int j0, int nk, int HT, int KT,
                                                             int f16, const char *pf, size_t pf_lines)
{
    const float *q[4];
    const void *k[PT_W];
    for (int h = 0; h < HT; h++)
        q[h] = a->q + (size_t)(r0 + (h < nh ? h : 0)) * a->d_k;
    for (int kk = 0; kk < KT; kk++)
        k[kk] = kv_elem(a->k, f16, (size_t)(a->p0 + j0 + (kk < nk ? kk : 0)) * a->k_stride + (size_t)g * a->d_k);
    PT_V acc[PT_W];
    for (int i = 0; i < PT_W; i++)
        acc[i] = PT_ZERO();
    const size_t n_c = (size_t)(a->d_k / PT_W);
    for (int c = 0; c < a->d_k; c += PT_W) {
        PT_V kv[PT_W];
        for (size_t b = pf_lines * (size_t)(c / PT_W) / n_c; b < pf_lines * (size_t)(c / PT_W + 1) / n_c; b++)
            __builtin_prefetch(pf + b * 64, 0, 1);
#pragma GCC unroll 16
        for (int kk = 0; kk < KT; kk++)
            kv[kk] = PT_LOAD_KV(k[kk], f16, c);
#pragma GCC unroll 4
        for (int h = 0; h < HT; h++) {
            const PT_V qv = PT_LOADU(q[h] + c);
#pragma GCC unroll 16
            for (int kk = 0; kk < KT; kk++)
                acc[h * KT + kk] = PT_FMA(qv, kv[kk], acc[h * KT + kk]);
        }
    }
    float t[PT_W];
    PT_STOREU(t, PT_MUL(PT_SUMW(acc), PT_SET1(a->scale)));
    for (int h = 0; h < nh; h++)
        memcpy(&s[r0 + h][j0], t + h * KT, (size_t)nk * sizeof(float));
}

/* o[r] (+)= sum_j s[r][j] v_j over keys j0 .. j0 + nj - 1, in order, for heads r0 .. r0 + nh - 1 (nh <= HV) of KV
 * head g, slices [c0, c0 + DT) of PT_W values: o is set by the first block of keys (j0 = 0), added to by the next
 * (fp32 in memory between blocks: the same numbers as one pass); the tile's missing heads repeat its first and
 * are not stored. */
static inline __attribute__((always_inline)) void value_tile(const struct attn_part *a,
                                                             const float (*s)[ATTN_PART_KEYS], int g, int r0, int nh,
                                                             int j0, int nj, int c0, int HV, int DT, int f16,
                                                             const char *pf, size_t pf_lines)
{
    const float *w[4];
    for (int h = 0; h < HV; h++)
        w[h] = s[r0 + (h < nh ? h : 0)];
    PT_V acc[4][PT_W / 2];
    for (int h = 0; h < HV; h++)
        for (int c = 0; c < DT; c++)
            acc[h][c] = j0 ? PT_LOADU(a->o + (size_t)(r0 + (h < nh ? h : 0)) * a->d_v + PT_W * (c0 + c)) : PT_ZERO();
    for (int j = j0; j < j0 + nj; j++) {
        for (size_t b = pf_lines * (size_t)(j - j0) / (size_t)nj; b < pf_lines * (size_t)(j - j0 + 1) / (size_t)nj; b++)
            __builtin_prefetch(pf + b * 64, 0, 1);
        const void *v = kv_elem(a->v, f16, (size_t)(a->p0 + j) * a->v_stride + (size_t)g * a->d_v + PT_W * c0);
#pragma GCC unroll 8
        for (int c = 0; c < DT; c++) {
            const PT_V vv = PT_LOAD_KV(v, f16, c * PT_W);
#pragma GCC unroll 4
            for (int h = 0; h < HV; h++)
                acc[h][c] = PT_FMA(PT_SET1(w[h][j]), vv, acc[h][c]);
        }
    }
    for (int h = 0; h < nh; h++)
        for (int c = 0; c < DT; c++)
            PT_STOREU(a->o + (size_t)(r0 + h) * a->d_v + PT_W * (c0 + c), acc[h][c]);
}

/* Every slice of d_v for heads r0 .. r0 + nh - 1 (nh <= HV), keys j0 .. j0 + nj - 1: tiles of PT_W / 2 slices
 * (PT_W / 4 with 4 heads), then narrower. */
static inline __attribute__((always_inline)) void value_slices(const struct attn_part *a,
                                                               const float (*s)[ATTN_PART_KEYS], int g, int r0,
                                                               int nh, int j0, int nj, int HV, int f16,
                                                               const char *pf, size_t pf_lines)
{
    const int ns = a->d_v / PT_W;
    int c = 0;
    if (HV <= 2)
        for (; c + PT_W / 2 <= ns; c += PT_W / 2, pf_lines = 0)
            value_tile(a, s, g, r0, nh, j0, nj, c, HV, PT_W / 2, f16, pf, pf_lines);
    for (; c + PT_W / 4 <= ns; c += PT_W / 4, pf_lines = 0)
        value_tile(a, s, g, r0, nh, j0, nj, c, HV, PT_W / 4, f16, pf, pf_lines);
    for (; c + 2 <= ns; c += 2, pf_lines = 0)
        value_tile(a, s, g, r0, nh, j0, nj, c, HV, 2, f16, pf, pf_lines);
    for (; c < ns; c++, pf_lines = 0)
        value_tile(a, s, g, r0, nh, j0, nj, c, HV, 1, f16, pf, pf_lines);
}

/* Blocks of KEY_BLOCK keys (a multiple of PT_W), each through every KV head of the call before the next. */
enum { KEY_BLOCK = 16 };

/* A tile's part of the next block's cache lines that its KV head's first tiles request as they go (prefetch into
 * L2, a few per slice of the tile's loads, so the requests keep pace with the arithmetic: asked all at once
 * before the tiles, they stalled the core until most had come, and the loads and the arithmetic took turns):
 * of `lines` from pf, the share of the tile's keys k0 .. k1 of the block's nb; its count in *n. */
static inline const char *tile_lines(const char *pf, size_t lines, int k0, int k1, int nb, size_t *n)
{
    const size_t lo = lines * (size_t)k0 / (size_t)nb;
    *n = lines * (size_t)k1 / (size_t)nb - lo;
    return pf + lo * 64;
}
static inline __attribute__((always_inline)) void attention_part_tiles(const struct attn_part *a, int f16)
{
    const int n = a->p1 - a->p0, R = a->n_heads, rep = a->rep, el = f16 ? 2 : 4;
    /* Where the call covers whole cache rows (every KV head: decode at depth), the rows of a block are one range,
     * read here head by head across them, which the hardware prefetchers do not follow (a harness: 8-13 GB/s on
     * one thread against 30 for the same bytes in order); the range one block on is requested in order instead,
     * as many bytes per KV head of a block as the tiles read (one thread, 64-key chunks of 16 heads from memory:
     * f16 23-28 -> 13-16 us, fp32 30-38 -> 27-30), a few lines per slice of each tile's loads. */
    const int n_kv = (R - 1) / rep + 1;
    const bool rows = (size_t)n_kv * a->d_k == (size_t)a->k_stride && (size_t)n_kv * a->d_v == (size_t)a->v_stride;
    const char *pf = (const char *)kv_elem(a->k, f16, (size_t)(a->p0 + KEY_BLOCK) * a->k_stride);
    float s[ATTN_PART_HEADS][ATTN_PART_KEYS];
    for (int jb = 0; jb < n; jb += KEY_BLOCK) {
        const int nb = n - jb < KEY_BLOCK ? n - jb : KEY_BLOCK;
        for (int r0 = 0; r0 < R; r0 += rep) { /* the heads of KV head g */
            const int g = r0 / rep, gs = R - r0 < rep ? R - r0 : rep;
            /* this KV head's part of the next block, spread over its first tiles by their keys */
            const size_t lines = rows ? ((size_t)nb * a->d_k * el + 63) / 64 : 0;
            for (int r = r0; r < r0 + gs;) {
                const int left = r0 + gs - r;
                const size_t head_lines = r == r0 ? lines : 0;
                size_t np;
                if (left >= 3) { /* 4 heads (the fourth repeating the first where 3 are left) */
                    for (int j = jb; j < jb + nb; j += PT_W / 4) {
                        const int nk = jb + nb - j < PT_W / 4 ? jb + nb - j : PT_W / 4;
                        const char *at = tile_lines(pf, head_lines, j - jb, j - jb + nk, nb, &np);
                        score_tile(a, s, g, r, left < 4 ? left : 4, j, nk, 4, PT_W / 4, f16, at, np);
                    }
                    r += 4;
                } else if (left == 2) {
                    for (int j = jb; j < jb + nb; j += PT_W / 2) {
                        const int nk = jb + nb - j < PT_W / 2 ? jb + nb - j : PT_W / 2;
                        const char *at = tile_lines(pf, head_lines, j - jb, j - jb + nk, nb, &np);
                        score_tile(a, s, g, r, 2, j, nk, 2, PT_W / 2, f16, at, np);
                    }
                    r += 2;
                } else {
                    for (int j = jb; j < jb + nb; j += PT_W) {
                        const int nk = jb + nb - j < PT_W ? jb + nb - j : PT_W;
                        const char *at = tile_lines(pf, head_lines, j - jb, j - jb + nk, nb, &np);
                        score_tile(a, s, g, r, 1, j, nk, 1, PT_W, f16, at, np);
                    }
                    r += 1;
                }
            }
            if (rows)
                pf += (size_t)nb * a->d_k * el;
        }
    }
    for (int r = 0; r < R; r++) {
        a->m[r] = PT_MAX(s[r], n);
        a->l[r] = PT_EXPSUM(s[r], n, a->m[r]);
    }
    const float(*p)[ATTN_PART_KEYS] = (const float(*)[ATTN_PART_KEYS])s;
    pf = (const char *)kv_elem(a->v, f16, (size_t)(a->p0 + KEY_BLOCK) * a->v_stride);
    for (int jb = 0; jb < n; jb += KEY_BLOCK) {
        const int nb = n - jb < KEY_BLOCK ? n - jb : KEY_BLOCK;
        for (int r0 = 0; r0 < R; r0 += rep) {
            const int g = r0 / rep, gs = R - r0 < rep ? R - r0 : rep;
            size_t pf_lines = rows ? ((size_t)nb * a->d_v * el + 63) / 64 : 0; /* the next block's, this KV head's */
            for (int r = r0; r < r0 + gs; pf_lines = 0) {
                const int left = r0 + gs - r, HV = left >= 4 ? 4 : left >= 2 ? 2 : 1;
                if (HV == 4)
                    value_slices(a, p, g, r, 4, jb, nb, 4, f16, pf, pf_lines);
                else if (HV == 2)
                    value_slices(a, p, g, r, 2, jb, nb, 2, f16, pf, pf_lines);
                else
                    value_slices(a, p, g, r, 1, jb, nb, 1, f16, pf, pf_lines);
                r += HV;
            }
            if (rows)
                pf += (size_t)nb * a->d_v * el;
        }
    }
}

/* The tiles for a's cache type (each an instance with the element size constant). */
static inline void attention_part_tiled(const struct attn_part *a)
{
    if (a->f16)
        attention_part_tiles(a, 1);
    else
        attention_part_tiles(a, 0);
}

#endif
