/* attention_avx512.c — AVX-512 attention over a block of query rows of one head (same contract as
 * attention_rows_ref). Blocks of up to ATT_KB keys at a time, flash-attention style with an online softmax:
 * S = Q K^T by the GEMM micro-kernel over a transposed key panel (16 keys per panel), the running max and
 * sum per row rescale the output accumulators, then O += P V by the same micro-kernel over value panels.
 * Rows see keys [lo(r), pos0 + r]; masked scores become exactly 0 after exp. Few rows (decode) take the
 * row path: one dot product and one axpy per key. Scratch: none (stack buffers of ~120 KB). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/exp_avx512.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

#define ATT_QB 32  /* query rows per block */
#define ATT_KB 128 /* keys per block */
#define ATT_MAX_DK 640 /* key panel rows: MLA's 576 fits */
#define ATT_MAX_DV 512 /* output accumulators: MLA's 512 fits */
_Static_assert(ATT_KB <= ATT_MAX_DK, "value panels reuse the key panel");

static void rows_path(const struct attn_rows *a)
{
    for (int r = 0; r < a->n_rows; r++) {
        const int pos = a->pos0 + r;
        const int lo = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
        const float *q = a->q + (size_t)r * a->q_stride;
        float *o = a->out + (size_t)r * a->out_stride;
        float s[ATT_KB];
        float m = a->has_sink ? a->sink : -INFINITY, sum = a->has_sink ? 1.0f : 0.0f;
        memset(o, 0, (size_t)a->d_v * sizeof *o);
        for (int p0 = lo; p0 <= pos; p0 += ATT_KB) { /* online softmax over blocks of keys */
            const int nk = pos + 1 - p0 < ATT_KB ? pos + 1 - p0 : ATT_KB;
            float mb = m;
            for (int j = 0; j < nk; j++) {
                s[j] = dot_f32_avx512(q, a->k + (size_t)(p0 + j) * a->k_stride, a->d_k) * a->scale;
                mb = s[j] > mb ? s[j] : mb;
            }
            const float corr = expf(m - mb);
            sum *= corr;
            for (int i = 0; i < a->d_v && corr != 1.0f; i++)
                o[i] *= corr;
            for (int j = 0; j < nk; j++) {
                const float e = expf(s[j] - mb);
                sum += e;
                axpy_f32_avx512(o, e, a->v + (size_t)(p0 + j) * a->v_stride, a->d_v);
            }
            m = mb;
        }
        const float inv = 1.0f / sum;
        for (int i = 0; i < a->d_v; i++)
            o[i] *= inv;
    }
}

/* One block of up to ATT_QB rows starting at row r0. */
static void block_path(const struct attn_rows *a, int r0, int nq)
{
    float panel[ATT_MAX_DK * 16] __attribute__((aligned(64))); /* keys: d_k x 16; values: ATT_KB x 16 */
    float s[ATT_QB * ATT_KB] __attribute__((aligned(64)));
    float o[ATT_QB * ATT_MAX_DV] __attribute__((aligned(64)));
    float m[ATT_QB], l[ATT_QB];
    const float *q = a->q + (size_t)r0 * a->q_stride;
    const int pos_first = a->pos0 + r0, pos_last = pos_first + nq - 1;
    const int lo_first = a->window > 0 && pos_first - a->window + 1 > 0 ? pos_first - a->window + 1 : 0;
    for (int r = 0; r < nq; r++) {
        m[r] = a->has_sink ? a->sink : -INFINITY;
        l[r] = a->has_sink ? 1.0f : 0.0f;
    }
    memset(o, 0, sizeof(float) * (size_t)nq * a->d_v);
    for (int p0 = lo_first; p0 <= pos_last; p0 += ATT_KB) {
        const int nk = pos_last + 1 - p0 < ATT_KB ? pos_last + 1 - p0 : ATT_KB;
        /* S = Q K^T for keys p0 .. p0+nk-1: 16 keys per transposed panel of d_k values each */
        for (int g = 0; g < nk; g += 16) {
            const int n_keys = nk - g < 16 ? nk - g : 16;
            for (int kk = 0; kk < a->d_k; kk += 16) {
                const int w = a->d_k - kk < 16 ? a->d_k - kk : 16;
                const __mmask16 mk = (__mmask16)((1u << w) - 1);
                __m512 rows[16], cols[16];
                for (int i = 0; i < 16; i++)
                    rows[i] = i < n_keys ? _mm512_maskz_loadu_ps(mk, a->k + (size_t)(p0 + g + i) * a->k_stride + kk)
                                         : _mm512_setzero_ps();
                transpose16(rows, cols);
                for (int j = 0; j < w; j++)
                    _mm512_store_ps(panel + (size_t)(kk + j) * 16, cols[j]);
            }
            gemm_panel(s + g, q, panel, nq, a->d_k, a->q_stride, ATT_KB, false, n_keys);
        }
        /* scale, mask, online softmax: rescale what o holds by exp(m_old - m_new) */
        for (int r = 0; r < nq; r++) {
            const int pos = pos_first + r;
            const int lo = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
            float *sr = s + (size_t)r * ATT_KB;
            float mb = m[r];
            for (int j = 0; j < nk; j++) {
                const int p = p0 + j;
                sr[j] = p < lo || p > pos ? -INFINITY : sr[j] * a->scale;
                mb = sr[j] > mb ? sr[j] : mb;
            }
            if (mb == -INFINITY) { /* nothing visible yet in this block for this row */
                memset(sr, 0, sizeof(float) * (size_t)nk);
                continue;
            }
            const float corr = expf(m[r] - mb);
            l[r] *= corr;
            float *orow = o + (size_t)r * a->d_v;
            for (int i = 0; corr != 1.0f && i < a->d_v; i++)
                orow[i] *= corr;
            const __m512 vmb = _mm512_set1_ps(mb);
            __m512 acc = _mm512_setzero_ps();
            for (int j = 0; j < nk; j += 16) {
                const __mmask16 mj = nk - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (nk - j)) - 1);
                const __m512 e = _mm512_maskz_mov_ps(mj, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mj, sr + j), vmb)));
                _mm512_mask_storeu_ps(sr + j, mj, e);
                acc = _mm512_add_ps(acc, e);
            }
            l[r] += _mm512_reduce_add_ps(acc);
            m[r] = mb;
        }
        /* O += P V: value panels of 16 dims, one row per key */
        for (int dv0 = 0; dv0 < a->d_v; dv0 += 16) {
            const int w = a->d_v - dv0 < 16 ? a->d_v - dv0 : 16;
            const __mmask16 mv = (__mmask16)((1u << w) - 1);
            for (int j = 0; j < nk; j++)
                _mm512_store_ps(panel + (size_t)j * 16,
                                _mm512_maskz_loadu_ps(mv, a->v + (size_t)(p0 + j) * a->v_stride + dv0));
            gemm_panel(o + dv0, s, panel, nq, nk, ATT_KB, a->d_v, true, w);
        }
    }
    for (int r = 0; r < nq; r++) {
        const float inv = 1.0f / l[r];
        float *out = a->out + (size_t)(r0 + r) * a->out_stride;
        for (int i = 0; i < a->d_v; i++)
            out[i] = o[(size_t)r * a->d_v + i] * inv;
    }
}

void attention_rows_avx512(const struct attn_rows *a)
{
    if (a->n_rows < 4 || a->d_v > ATT_MAX_DV || a->d_k > ATT_MAX_DK) {
        rows_path(a);
        return;
    }
    for (int r0 = 0; r0 < a->n_rows; r0 += ATT_QB)
        block_path(a, r0, a->n_rows - r0 < ATT_QB ? a->n_rows - r0 : ATT_QB);
}
