/* attn_part_avx512.c — the decode partial (struct attn_part; same contract as attention_part_ref) in register
 * tiles. A query token's heads meet a chunk of at most ATTN_PART_KEYS cached keys:
 *   scores: S = scale * Q K^T in tiles of HT heads x KT keys (HT * KT = 16 accumulators, each summing a key's
 *           products over its 16-lane slices of d_k; one transposing reduction gives the tile's 16 scores), a key
 *           row read once for every head of its tile;
 *   softmax: each head's max and exponentials (expsum_avx512), its sum in l;
 *   values: O = P V in tiles of HV heads x DT 16-lane slices of d_v (4 x 4, 2 x 8, 1 x 8, then narrower for
 *           the last slices), the accumulators in registers across a block of keys (the weights broadcast, a
 *           value row's slices read once per tile).
 * Heads share a KV head in runs of rep (head r reads KV head r / rep); a tile never spans two. Both passes go
 * through the keys in blocks of KEY_BLOCK, every KV head of the call per block, so the cache is read in the order
 * it lies (a position's KV heads side by side) and the hardware prefetchers follow: a decode finds it evicted by
 * the weights streamed since the last token. Dimensions that are not multiples of 16 take the row-by-row form
 * (attention_part_keys over dot512_kv and axpy512_kv). Values accumulate key by key in order with one FMA per
 * element (the row form's numbers); scores differ from the reference by the order of a dot product's sum.
 * Measured (docs/BENCHMARKS.md): 1.5-2x the row form with the chunk in cache, 25-45% less attention time in a
 * Qwen3-0.6B decode. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/attention_rows.h"
#include "kernels/exp_avx512.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* exp(s[j] - m) 16 at a time (exp512), the sum in lanes. */
static float expsum_avx512(float *s, int n, float m)
{
    __m512 acc = _mm512_setzero_ps();
    const __m512 mv = _mm512_set1_ps(m);
    for (int j = 0; j < n; j += 16) {
        const __mmask16 k = mask16(n - j);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), mv));
        _mm512_mask_storeu_ps(s + j, k, e);
        acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(k, e));
    }
    return _mm512_reduce_add_ps(acc);
}

/* Lane i of the result: the sum of a[i]'s 16 lanes (pairs, then quads within 128-bit lanes, then across them). */
static inline __attribute__((always_inline)) __m512 sum16(const __m512 *a)
{
    __m512 b[8], c[4], d[2];
    for (int i = 0; i < 8; i++) /* 128-bit lane L: a[2i] at 0 and 2, a[2i+1] at 1 and 3 */
        b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 4; i++) { /* lane L: a[4i..4i+3] at 0..3 */
        const __m512d x = _mm512_castps_pd(b[2 * i]), y = _mm512_castps_pd(b[2 * i + 1]);
        c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    for (int i = 0; i < 2; i++) /* lanes 0, 1: c[2i]'s lanes 0+1, 2+3; lanes 2, 3: c[2i+1]'s */
        d[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(d[0], d[1], 0x88), _mm512_shuffle_f32x4(d[0], d[1], 0xdd));
}

/* Scores of heads r0 .. r0 + nh - 1 (nh <= HT) against keys j0 .. j0 + nk - 1 (nk <= KT) of KV head g, into
 * s[r][j]; the tile's missing heads and keys repeat its first ones and are not stored. */
static inline __attribute__((always_inline)) void score_tile(const struct attn_part *a, float (*s)[ATTN_PART_KEYS],
                                                             int g, int r0, int nh, int j0, int nk, int HT, int KT,
                                                             int f16)
{
    const float *q[4];
    const void *k[16];
    for (int h = 0; h < HT; h++)
        q[h] = a->q + (size_t)(r0 + (h < nh ? h : 0)) * a->d_k;
    for (int kk = 0; kk < KT; kk++)
        k[kk] = kv_elem(a->k, f16, (size_t)(a->p0 + j0 + (kk < nk ? kk : 0)) * a->k_stride + (size_t)g * a->d_k);
    __m512 acc[16];
    for (int i = 0; i < 16; i++)
        acc[i] = _mm512_setzero_ps();
    for (int c = 0; c < a->d_k; c += 16) {
        __m512 kv[16];
#pragma GCC unroll 16
        for (int kk = 0; kk < KT; kk++)
            kv[kk] = load_kv(k[kk], f16, (size_t)c, 0xffff);
#pragma GCC unroll 4
        for (int h = 0; h < HT; h++) {
            const __m512 qv = _mm512_loadu_ps(q[h] + c);
#pragma GCC unroll 16
            for (int kk = 0; kk < KT; kk++)
                acc[h * KT + kk] = _mm512_fmadd_ps(qv, kv[kk], acc[h * KT + kk]);
        }
    }
    float t[16];
    _mm512_storeu_ps(t, _mm512_mul_ps(sum16(acc), _mm512_set1_ps(a->scale)));
    for (int h = 0; h < nh; h++)
        memcpy(&s[r0 + h][j0], t + h * KT, (size_t)nk * sizeof(float));
}

/* o[r] (+)= sum_j s[r][j] v_j over keys j0 .. j0 + nj - 1, in order, for heads r0 .. r0 + nh - 1 (nh <= HV) of KV
 * head g, slices [c0, c0 + DT) of 16 values: o is set by the first block of keys (j0 = 0), added to by the next
 * (fp32 in memory between blocks: the same numbers as one pass); the tile's missing heads repeat its first and
 * are not stored. */
static inline __attribute__((always_inline)) void value_tile(const struct attn_part *a,
                                                             const float (*s)[ATTN_PART_KEYS], int g, int r0, int nh,
                                                             int j0, int nj, int c0, int HV, int DT, int f16)
{
    const float *w[4];
    for (int h = 0; h < HV; h++)
        w[h] = s[r0 + (h < nh ? h : 0)];
    __m512 acc[4][8];
    for (int h = 0; h < HV; h++)
        for (int c = 0; c < DT; c++)
            acc[h][c] = j0 ? _mm512_loadu_ps(a->o + (size_t)(r0 + (h < nh ? h : 0)) * a->d_v + 16 * (c0 + c))
                           : _mm512_setzero_ps();
    for (int j = j0; j < j0 + nj; j++) {
        const void *v = kv_elem(a->v, f16, (size_t)(a->p0 + j) * a->v_stride + (size_t)g * a->d_v + 16 * c0);
#pragma GCC unroll 8
        for (int c = 0; c < DT; c++) {
            const __m512 vv = load_kv(v, f16, (size_t)c * 16, 0xffff);
#pragma GCC unroll 4
            for (int h = 0; h < HV; h++)
                acc[h][c] = _mm512_fmadd_ps(_mm512_set1_ps(w[h][j]), vv, acc[h][c]);
        }
    }
    for (int h = 0; h < nh; h++)
        for (int c = 0; c < DT; c++)
            _mm512_storeu_ps(a->o + (size_t)(r0 + h) * a->d_v + 16 * (c0 + c), acc[h][c]);
}

/* Every slice of d_v for heads r0 .. r0 + nh - 1 (nh <= HV), keys j0 .. j0 + nj - 1: tiles of 8 slices (4 with
 * 4 heads), then 4, 2, 1. */
static inline __attribute__((always_inline)) void value_slices(const struct attn_part *a,
                                                               const float (*s)[ATTN_PART_KEYS], int g, int r0,
                                                               int nh, int j0, int nj, int HV, int f16)
{
    const int ns = a->d_v / 16;
    int c = 0;
    if (HV <= 2)
        for (; c + 8 <= ns; c += 8)
            value_tile(a, s, g, r0, nh, j0, nj, c, HV, 8, f16);
    for (; c + 4 <= ns; c += 4)
        value_tile(a, s, g, r0, nh, j0, nj, c, HV, 4, f16);
    for (; c + 2 <= ns; c += 2)
        value_tile(a, s, g, r0, nh, j0, nj, c, HV, 2, f16);
    for (; c < ns; c++)
        value_tile(a, s, g, r0, nh, j0, nj, c, HV, 1, f16);
}

/* Blocks of KEY_BLOCK keys, each through every KV head of the call before the next: a block's rows are read in
 * the order they lie in the cache (a position's KV heads side by side), which the hardware prefetchers follow. */
enum { KEY_BLOCK = 16 };
static inline __attribute__((always_inline)) void part_tiles(const struct attn_part *a, int f16)
{
    const int n = a->p1 - a->p0, R = a->n_heads, rep = a->rep;
    float s[ATTN_PART_HEADS][ATTN_PART_KEYS];
    for (int jb = 0; jb < n; jb += KEY_BLOCK) {
        const int nb = n - jb < KEY_BLOCK ? n - jb : KEY_BLOCK;
        for (int r0 = 0; r0 < R; r0 += rep) { /* the heads of KV head g */
            const int g = r0 / rep, gs = R - r0 < rep ? R - r0 : rep;
            for (int r = r0; r < r0 + gs;) {
                const int left = r0 + gs - r;
                if (left >= 3) { /* 4 heads x 4 keys */
                    for (int j = jb; j < jb + nb; j += 4)
                        score_tile(a, s, g, r, left < 4 ? left : 4, j, jb + nb - j < 4 ? jb + nb - j : 4, 4, 4, f16);
                    r += 4;
                } else if (left == 2) { /* 2 x 8 */
                    for (int j = jb; j < jb + nb; j += 8)
                        score_tile(a, s, g, r, 2, j, jb + nb - j < 8 ? jb + nb - j : 8, 2, 8, f16);
                    r += 2;
                } else { /* 1 x 16 */
                    score_tile(a, s, g, r, 1, jb, nb, 1, 16, f16);
                    r += 1;
                }
            }
        }
    }
    for (int r = 0; r < R; r++) {
        __m512 mv = _mm512_set1_ps(s[r][0]);
        for (int j = 0; j < n; j += 16)
            mv = _mm512_mask_max_ps(mv, mask16(n - j), mv, _mm512_loadu_ps(&s[r][j]));
        a->m[r] = _mm512_reduce_max_ps(mv);
        a->l[r] = expsum_avx512(s[r], n, a->m[r]);
    }
    const float(*p)[ATTN_PART_KEYS] = (const float(*)[ATTN_PART_KEYS])s;
    for (int jb = 0; jb < n; jb += KEY_BLOCK) {
        const int nb = n - jb < KEY_BLOCK ? n - jb : KEY_BLOCK;
        for (int r0 = 0; r0 < R; r0 += rep) {
            const int g = r0 / rep, gs = R - r0 < rep ? R - r0 : rep;
            for (int r = r0; r < r0 + gs;) {
                const int left = r0 + gs - r, HV = left >= 4 ? 4 : left >= 2 ? 2 : 1;
                if (HV == 4)
                    value_slices(a, p, g, r, 4, jb, nb, 4, f16);
                else if (HV == 2)
                    value_slices(a, p, g, r, 2, jb, nb, 2, f16);
                else
                    value_slices(a, p, g, r, 1, jb, nb, 1, f16);
                r += HV;
            }
        }
    }
}

void attention_part_avx512(const struct attn_part *a)
{
    if (a->d_k % 16 || a->d_v % 16)
        attention_part_keys(a, dot512_kv, axpy512_kv, expsum_avx512);
    else if (a->f16)
        part_tiles(a, 1);
    else
        part_tiles(a, 0);
}
