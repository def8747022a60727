/* attention_avx512.c — AVX-512 attention over a block of query rows of one head (same contract as
 * attention_rows_ref). Blocks of up to ATT_KB keys at a time, flash-attention style with an online softmax:
 * S = Q K^T by the GEMM micro-kernel over a transposed key panel (16 keys per panel), the running max and
 * sum per row rescale the output accumulators (softmax_row, a row in registers), then O += P V by the same
 * micro-kernel over value panels.
 * Rows see keys [lo(r), pos0 + r]; masked scores become exactly 0 after exp. Few rows (decode) take the
 * row path: one dot product and one axpy per key. With a->bf16 both products take bf16 pairs (vdpbf16ps
 * tiles) and every row count blocks: key blocks start at multiples of 32, tiles past a row tile's last visible
 * key are skipped, and the keys and values come packed by
 * attention_pack_bf16_avx512 (a->packed) or are packed the same way block by block. Scratch: none (stack
 * buffers of ~170 KB, ~240 KB with bf16). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/attention_rows.h"
#include "kernels/exp_avx512.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

#define ATT_QB 128 /* query rows per block at most: as many as the output accumulators' ATT_O floats hold (128
                      where d_v <= 128, 64 to 256, 32 to 512), so a block's packed keys and values serve them all */

#define ATT_KB 128 /* keys per block */
#define ATT_MAX_DK 640 /* key panel rows: MLA's 576 fits */
#define ATT_MAX_DV 512 /* output accumulators: MLA's 512 fits */
#define ATT_O (64 * 256)
#define ATT_VP 4 /* value panels filled per pass over a block's keys */
#define ATT_PANEL (ATT_MAX_DK > ATT_VP * ATT_KB ? ATT_MAX_DK * 16 : ATT_VP * ATT_KB * 16)

/* The bf16 mode (a->bf16): operands as bf16 pairs, one 32-bit lane per pair, against vdpbf16ps. */
#define ATT_QP (32 * ATT_MAX_DK / 2) /* Q pairs: 128 rows x 80 pairs, 64 x 160 or 32 x 320 */

/* x[0..n) as np bf16 pairs (zero past n) at dst. */
static inline void pairs_row(uint32_t *dst, const float *x, int n, int np)
{
    for (int i = 0; i < 2 * np; i += 32) {
        const __m512 lo = _mm512_maskz_loadu_ps(mask16(n - i), x + i);
        const __m512 hi = _mm512_maskz_loadu_ps(mask16(n - i - 16), x + i + 16);
        _mm512_mask_storeu_epi32(dst + i / 2, mask16(np - i / 2), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

/* Keys key0 .. key0 + n - 1 (n <= 32; zeros for the rest of 32) as two panels of 16 keys' pairs, at kp and
 * kp + dkp * 16: lane j of pair i holds key j's dims 2i, 2i + 1. */
static inline __attribute__((always_inline)) void pack_keys32(uint32_t *kp, const struct attn_rows *a, int f16,
                                                              int key0, int n)
{
    const int dkp = (a->d_k + 1) / 2;
    for (int h = 0; h < 2; h++)
        for (int kk = 0; kk < a->d_k; kk += 32) {
            __m512 rows[16], cols[16];
            for (int i = 0; i < 16; i++) {
                const size_t at = (size_t)(key0 + 16 * h + i) * a->k_stride + kk;
                rows[i] = 16 * h + i < n ? (__m512)_mm512_cvtne2ps_pbh(load_kv(a->k, f16, at + 16, mask16(a->d_k - kk - 16)),
                                                                      load_kv(a->k, f16, at, mask16(a->d_k - kk)))
                                         : _mm512_setzero_ps();
            }
            transpose16(rows, cols);
            for (int j = 0; j < 16 && kk / 2 + j < dkp; j++)
                _mm512_store_ps((float *)(kp + ((size_t)h * dkp + (size_t)(kk / 2 + j)) * 16), cols[j]);
        }
}

/* Values of keys key0 .. key0 + n - 1 (zeros after), dims dv0 .. dv0 + w - 1 (w <= 32), as np pairs of keys in one
 * or two groups of 16 dims, p_stride apart: lane i of pair j holds dim i of keys key0 + 2j, key0 + 2j + 1. */
static inline __attribute__((always_inline)) void pack_values(uint32_t *vp, size_t p_stride, const struct attn_rows *a,
                                                              int f16, int key0, int n, int np, int dv0, int w)
{
    for (int h = 0; h < 2 && 16 * h < w; h++)
        for (int j = 0; j < np; j++) {
            const size_t at = (size_t)(key0 + 2 * j) * a->v_stride + dv0 + 16 * h;
            const __mmask16 mw = mask16(w - 16 * h);
            const __m512 v0 = 2 * j < n ? load_kv(a->v, f16, at, mw) : _mm512_setzero_ps();
            const __m512 v1 = 2 * j + 1 < n ? load_kv(a->v, f16, at + a->v_stride, mw) : _mm512_setzero_ps();
            const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v0));
            const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v1));
            _mm512_store_si512(vp + (size_t)h * p_stride + (size_t)j * 16, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
}

/* y[t, 0..n_cols) (+)= sum_i x[t, i] . panel[i] for NT rows and P panels of 16 columns (panel p at
 * panel + p * p_stride, columns 16p..): x rows of bf16 pairs (x_stride apart), a panel 16 lanes of pairs per i.
 * Two panels share each broadcast of x. */
static inline __attribute__((always_inline)) void tile_bf16(float *y, int y_stride, const uint32_t *x, int x_stride,
                                                            const uint32_t *panel, size_t p_stride, int n_pairs,
                                                            bool accumulate, const __mmask16 *cols, int P, int NT)
{
    __m512 acc[8][2];
    for (int t = 0; t < NT; t++)
        for (int p = 0; p < P; p++)
            acc[t][p] = accumulate ? _mm512_maskz_loadu_ps(cols[p], y + (size_t)t * y_stride + 16 * p) : _mm512_setzero_ps();
    for (int i = 0; i < n_pairs; i++) {
        __m512bh wv[2];
        for (int p = 0; p < P; p++)
            wv[p] = (__m512bh)_mm512_load_si512(panel + (size_t)p * p_stride + (size_t)i * 16);
        for (int t = 0; t < NT; t++) {
            const __m512bh xv = (__m512bh)_mm512_set1_epi32((int)x[(size_t)t * x_stride + i]);
            for (int p = 0; p < P; p++)
                acc[t][p] = _mm512_dpbf16_ps(acc[t][p], wv[p], xv);
        }
    }
    for (int t = 0; t < NT; t++)
        for (int p = 0; p < P; p++)
            _mm512_mask_storeu_ps(y + (size_t)t * y_stride + 16 * p, cols[p], acc[t][p]);
}

#define TILE_BF16_CASES(P)                                                                              \
    switch (NT) {                                                                                       \
    case 8: tile_bf16(yt, y_stride, xt, x_stride, panel, p_stride, n_pairs, accumulate, cols, P, 8); break; \
    case 7: tile_bf16(yt, y_stride, xt, x_stride, panel, p_stride, n_pairs, accumulate, cols, P, 7); break; \
    case 6: tile_bf16(yt, y_stride, xt, x_stride, panel, p_stride, n_pairs, accumulate, cols, P, 6); break; \
    case 5: tile_bf16(yt, y_stride, xt, x_stride, panel, p_stride, n_pairs, accumulate, cols, P, 5); break; \
    case 4: tile_bf16(yt, y_stride, xt, x_stride, panel, p_stride, n_pairs, accumulate, cols, P, 4); break; \
    case 3: tile_bf16(yt, y_stride, xt, x_stride, panel, p_stride, n_pairs, accumulate, cols, P, 3); break; \
    case 2: tile_bf16(yt, y_stride, xt, x_stride, panel, p_stride, n_pairs, accumulate, cols, P, 2); break; \
    default: tile_bf16(yt, y_stride, xt, x_stride, panel, p_stride, n_pairs, accumulate, cols, P, 1); break; \
    }

/* Every row of x (n) against one or two panels (n_cols <= 32 columns), tiles of 8 rows. With step >= 0, row t's
 * x is zero past pair (last0 + step * t) / 2 (softmax weights past the row's last visible key, last0 + step * t
 * keys in): a tile takes the pairs up to its last row's, none where that is negative. */
static void gemm_bf16_rows(float *y, int y_stride, const uint32_t *x, int x_stride, const uint32_t *panel,
                           size_t p_stride, int n_all, int n, bool accumulate, int n_cols, int last0, int step)
{
    const __mmask16 cols[2] = {mask16(n_cols), mask16(n_cols - 16)};
    for (int t = 0; t < n; t += 8) {
        const int NT = n - t < 8 ? n - t : 8, last = last0 + step * (t + NT - 1);
        if (step >= 0 && last < 0)
            continue;
        const int n_pairs = step >= 0 && last / 2 + 1 < n_all ? last / 2 + 1 : n_all;
        float *yt = y + (size_t)t * y_stride;
        const uint32_t *xt = x + (size_t)t * x_stride;
        if (n_cols > 16) {
            TILE_BF16_CASES(2)
        } else {
            TILE_BF16_CASES(1)
        }
    }
}
#undef TILE_BF16_CASES

/* The online softmax over one row's scores sr[0..nk) of keys p0.. (keys lo..pos visible): the running max m and
 * sum l updated, the row's output accumulators o rescaled by exp(m_old - m_new), and the weights
 * exp(score * scale - m), zeros past pos, written as np bf16 pairs at pairs (the bf16 mode) or, with pairs NULL,
 * back into sr as fp32. The row stays in registers (nk <= ATT_KB = 8 vectors). */
static inline __attribute__((always_inline)) void softmax_row(float *sr, uint32_t *pairs, int np, int nk, int p0,
                                                              int lo, int pos, float scale, float *m, float *l,
                                                              float *o, int d_v)
{
    const int je = pos - p0 + 1 >= nk ? nk : pos - p0 + 1 > 0 ? pos - p0 + 1 : 0; /* keys past pos: weight 0 */
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 vscale = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-INFINITY);
    __m512 v[ATT_KB / 16], vmax = ninf;
    for (int q = 0; q < ATT_KB / 16; q++) {
        v[q] = ninf;
        if (16 * q < je) {
            const __m512i p = _mm512_add_epi32(iota, _mm512_set1_epi32(p0 + 16 * q));
            const __mmask16 in = mask16(je - 16 * q), vis = _mm512_cmpge_epi32_mask(p, _mm512_set1_epi32(lo)) & in;
            v[q] = _mm512_mask_mul_ps(ninf, vis, _mm512_maskz_loadu_ps(in, sr + 16 * q), vscale);
            vmax = _mm512_max_ps(vmax, v[q]);
        }
    }
    const float vm = _mm512_reduce_max_ps(vmax), mb = vm > *m ? vm : *m;
    if (mb == -INFINITY) { /* nothing visible yet for this row */
        for (int i = 0; pairs && i < np; i += 16)
            _mm512_mask_storeu_epi32(pairs + i, mask16(np - i), _mm512_setzero_si512());
        if (!pairs)
            memset(sr, 0, sizeof(float) * (size_t)nk);
        return;
    }
    const float corr = expf(*m - mb);
    *l *= corr;
    for (int i = 0; corr != 1.0f && i < d_v; i += 16)
        _mm512_mask_storeu_ps(o + i, mask16(d_v - i), _mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(d_v - i), o + i),
                                                                    _mm512_set1_ps(corr)));
    const __m512 vmb = _mm512_set1_ps(mb);
    __m512 acc = _mm512_setzero_ps();
    for (int q = 0; q < ATT_KB / 16 && 16 * q < nk; q += 2) {
        const __m512 e0 = 16 * q < je ? _mm512_maskz_mov_ps(mask16(je - 16 * q), exp512(_mm512_sub_ps(v[q], vmb)))
                                      : _mm512_setzero_ps();
        const __m512 e1 = 16 * q + 16 < je
                              ? _mm512_maskz_mov_ps(mask16(je - 16 * q - 16), exp512(_mm512_sub_ps(v[q + 1], vmb)))
                              : _mm512_setzero_ps();
        acc = _mm512_add_ps(_mm512_add_ps(acc, e0), e1);
        if (pairs) {
            _mm512_mask_storeu_epi32(pairs + 8 * q, mask16(np - 8 * q), (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
        } else {
            _mm512_mask_storeu_ps(sr + 16 * q, mask16(nk - 16 * q), e0);
            _mm512_mask_storeu_ps(sr + 16 * q + 16, mask16(nk - 16 * q - 16), e1);
        }
    }
    *l += _mm512_reduce_add_ps(acc);
    *m = mb;
}

/* One block of up to ATT_QB rows starting at row r0 (f16: a->f16, a constant at each call). */
static inline __attribute__((always_inline)) void block_path_kv(const struct attn_rows *a, int r0, int nq, int f16,
                                                                int bf)
{
    float panel[ATT_MAX_DK * 16] __attribute__((aligned(64))); /* keys: d_k x 16; values: ATT_KB x 16 */
    float s[ATT_QB * ATT_KB] __attribute__((aligned(64)));
    float o[ATT_O] __attribute__((aligned(64)));
    float m[ATT_QB], l[ATT_QB];
    uint32_t qp[bf ? ATT_QP : 1] __attribute__((aligned(64))); /* bf: Q rows as pairs, dkp apart */
    uint32_t pp[bf ? ATT_QB * ATT_KB / 2 : 1] __attribute__((aligned(64))); /* bf: P rows as pairs */
    const int dkp = (a->d_k + 1) / 2;
    const float *q = a->q + (size_t)r0 * a->q_stride;
    if (bf) /* rows far apart (heads interleaved): the loads of row r + 8 started ahead */
        for (int r = 0; r < nq; r++) {
            for (int i = 0; r + 8 < nq && i < a->d_k; i += 16)
                _mm_prefetch((const char *)(q + (size_t)(r + 8) * a->q_stride + i), _MM_HINT_T0);
            pairs_row(qp + (size_t)r * dkp, q + (size_t)r * a->q_stride, a->d_k, dkp);
        }
    const int pos_first = a->pos0 + (a->same_pos ? 0 : r0), pos_last = pos_first + (a->same_pos ? 0 : nq - 1);
    const int lo_first = a->window > 0 && pos_first - a->window + 1 > 0 ? pos_first - a->window + 1 : 0;
    for (int r = 0; r < nq; r++) {
        m[r] = a->has_sink ? (a->sinks ? a->sinks[r0 + r] : a->sink) : -INFINITY;
        l[r] = a->has_sink ? 1.0f : 0.0f;
    }
    memset(o, 0, sizeof(float) * (size_t)nq * a->d_v);
    /* bf16: key blocks start at multiples of 32 (as packed keys do), the keys before lo_first masked */
    const struct attn_packed *pk = bf ? a->packed : NULL;
    const int step = a->same_pos ? 0 : 1; /* row r's last visible key: pos_first + step * r */
    for (int p0 = bf ? lo_first & ~31 : lo_first; p0 <= pos_last; p0 += ATT_KB) {
        const int nk = pos_last + 1 - p0 < ATT_KB ? pos_last + 1 - p0 : ATT_KB;
        /* S = Q K^T for keys p0 .. p0+nk-1: 16 keys per transposed panel of d_k values each */
        for (int g = 0; g < nk; g += bf ? 32 : 16) {
            const int n_keys = nk - g < 16 ? nk - g : 16;
            if (bf) { /* 32 keys: two panels of 16 keys' pairs (pack_keys32), packed here or before */
                const int n_keys2 = nk - g < 32 ? nk - g : 32;
                const uint32_t *kp = pk ? pk->data + (size_t)(p0 + g - pk->base) / 16 * dkp * 16 : (uint32_t *)panel;
                if (!pk)
                    pack_keys32((uint32_t *)panel, a, f16, p0 + g, n_keys2);
                /* rows before r1 see none of these keys (their scores masked below) */
                const int r1 = step && p0 + g - pos_first > 0 ? p0 + g - pos_first : 0;
                if (r1 < nq)
                    gemm_bf16_rows(s + (size_t)r1 * ATT_KB + g, ATT_KB, qp + (size_t)r1 * dkp, dkp, kp,
                                   (size_t)dkp * 16, dkp, nq - r1, false, n_keys2, 0, -1);
                continue;
            }
            for (int kk = 0; kk < a->d_k; kk += 16) {
                const int w = a->d_k - kk < 16 ? a->d_k - kk : 16;
                const __mmask16 mk = (__mmask16)((1u << w) - 1);
                __m512 rows[16], cols[16];
                for (int i = 0; i < 16; i++)
                    rows[i] = i < n_keys ? load_kv(a->k, f16, (size_t)(p0 + g + i) * a->k_stride + kk, mk)
                                         : _mm512_setzero_ps();
                transpose16(rows, cols);
                for (int j = 0; j < w; j++)
                    _mm512_store_ps(panel + (size_t)(kk + j) * 16, cols[j]);
            }
            gemm_panel(s + g, q, panel, nq, a->d_k, a->q_stride, ATT_KB, false, n_keys);
        }
        /* scale, mask, online softmax (softmax_row): the bf16 mode's weights as pairs in pp, else in s */
        const int nkp = (nk + 1) / 2;
        for (int r = 0; r < nq; r++) {
            const int pos = pos_first + (a->same_pos ? 0 : r);
            const int lo = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
            softmax_row(s + (size_t)r * ATT_KB, bf ? pp + (size_t)r * (ATT_KB / 2) : NULL, nkp, nk, p0, lo, pos,
                        a->scale, &m[r], &l[r], o + (size_t)r * a->d_v, a->d_v);
        }
        if (bf) { /* O += P V over pairs of keys: P rows as pairs, value panels of 16 dims x key pairs */
            for (int dv0 = 0; dv0 < a->d_v; dv0 += 32) { /* two panels of 16 dims */
                const int w = a->d_v - dv0 < 32 ? a->d_v - dv0 : 32;
                const uint32_t *vp = pk ? pk->data + pk->v_at + (size_t)(dv0 / 16) * pk->v_group + (size_t)(p0 - pk->base) / 2 * 16
                                        : (uint32_t *)panel;
                if (!pk)
                    pack_values((uint32_t *)panel, (size_t)nkp * 16, a, f16, p0, nk, nkp, dv0, w);
                gemm_bf16_rows(o + dv0, a->d_v, pp, ATT_KB / 2, vp, pk ? pk->v_group : (size_t)nkp * 16, nkp, nq, true,
                               w, pos_first - p0, step);
            }
            continue;
        }
        /* O += P V: value panels of 16 dims, one row per key */
        for (int dv0 = 0; dv0 < a->d_v; dv0 += 16) {
            const int w = a->d_v - dv0 < 16 ? a->d_v - dv0 : 16;
            for (int j = 0; j < nk; j++)
                _mm512_store_ps(panel + (size_t)j * 16, load_kv(a->v, f16, (size_t)(p0 + j) * a->v_stride + dv0, mask16(w)));
            gemm_panel(o + dv0, s, panel, nq, nk, ATT_KB, a->d_v, true, w);
        }
    }
    for (int r = 0; r < nq; r++) {
        const float inv = 1.0f / l[r];
        float *out = a->out + (size_t)(r0 + r) * a->out_stride;
        for (int i = 0; r + 8 < nq && i < a->d_v; i += 16)
            _mm_prefetch((const char *)(out + (size_t)8 * a->out_stride + i), _MM_HINT_T0);
        for (int i = 0; i < a->d_v; i++)
            out[i] = o[(size_t)r * a->d_v + i] * inv;
    }
}

static void block_path(const struct attn_rows *a, int r0, int nq)
{
    if (a->bf16)
        a->f16 ? block_path_kv(a, r0, nq, 1, 1) : block_path_kv(a, r0, nq, 0, 1);
    else
        a->f16 ? block_path_kv(a, r0, nq, 1, 0) : block_path_kv(a, r0, nq, 0, 0);
}

static inline __attribute__((always_inline)) void pack_groups(const struct attn_packed *p, const struct attn_rows *a,
                                                              int g0, int g1, int f16)
{
    const int dkp = (a->d_k + 1) / 2;
    for (int g = g0; g < g1; g++) {
        const int key0 = p->base + 32 * g, n = p->n_keys - 32 * g < 32 ? p->n_keys - 32 * g : 32;
        pack_keys32(p->data + (size_t)g * 32 * dkp, a, f16, key0, n);
        for (int dv0 = 0; dv0 < a->d_v; dv0 += 32)
            pack_values(p->data + p->v_at + (size_t)(dv0 / 16) * p->v_group + (size_t)g * 16 * 16, p->v_group, a, f16,
                        key0, n, 16, dv0, a->d_v - dv0 < 32 ? a->d_v - dv0 : 32);
    }
}

void attention_pack_bf16_avx512(const struct attn_packed *p, const struct attn_rows *a, int g0, int g1)
{
    a->f16 ? pack_groups(p, a, g0, g1, 1) : pack_groups(p, a, g0, g1, 0);
}

void attention_rows_avx512(const struct attn_rows *a)
{
    /* rows per block: the output accumulators' capacity (and, in bf16, the Q pairs'), a multiple of 8 */
    int qb = ATT_O / (a->d_v > 16 ? a->d_v : 16);
    if (a->bf16 && qb > ATT_QP / ((a->d_k + 1) / 2))
        qb = ATT_QP / ((a->d_k + 1) / 2);
    qb = (qb < ATT_QB ? qb : ATT_QB) / 8 * 8;
    if (a->bf16 && (a->d_v > ATT_MAX_DV || a->d_k > ATT_MAX_DK || qb < 8)) {
        /* sizes no model has: the reference's numbers */
        attention_rows_ref(a);
        return;
    }
    if (!a->bf16 && (a->n_rows < 4 || a->d_v > ATT_MAX_DV || a->d_k > ATT_MAX_DK)) { /* bf16: every size blocks */
        attention_rows_online(a, dot512_kv, axpy512_kv);
        return;
    }
    for (int r0 = 0; r0 < a->n_rows; r0 += qb)
        block_path(a, r0, a->n_rows - r0 < qb ? a->n_rows - r0 : qb);
}

void f32_to_kv16_avx512(uint16_t *out, const float *x, size_t n)
{
    const __m512 lo = _mm512_set1_ps(-65504.0f), hi = _mm512_set1_ps(65504.0f);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        /* max/min return their second operand when either is NaN: x goes second, so NaN stays NaN; +-inf
         * (fpclass 0x18) is kept */
        const __m512 xi = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 v = _mm512_mask_mov_ps(_mm512_min_ps(hi, _mm512_max_ps(lo, xi)), _mm512_fpclass_ps_mask(xi, 0x18), xi);
        _mm256_mask_storeu_epi16(out + i, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}
