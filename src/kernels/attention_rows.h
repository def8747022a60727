/* attention_rows.h — the row path of the SIMD attention kernels (internal to src/kernels): each query row
 * streams its visible keys in blocks of ATTN_ROWS_KB with an online softmax (one dot product per key for the
 * scores, one axpy per key into the output), over the including file's dot and axpy (constants at every
 * call, inlined). Same contract as attention_rows_ref. */
#ifndef OWL_ATTENTION_ROWS_H
#define OWL_ATTENTION_ROWS_H

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

#define ATTN_ROWS_KB 128

static inline __attribute__((always_inline)) void attention_rows_online(const struct attn_rows *a, dot_fn *dot,
                                                                          axpy_fn *axpy)
{
    for (int r = 0; r < a->n_rows; r++) {
        const int pos = a->pos0 + r;
        const int lo = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
        const float *q = a->q + (size_t)r * a->q_stride;
        float *o = a->out + (size_t)r * a->out_stride;
        float s[ATTN_ROWS_KB];
        float m = a->has_sink ? a->sink : -INFINITY, sum = a->has_sink ? 1.0f : 0.0f;
        memset(o, 0, (size_t)a->d_v * sizeof *o);
        for (int p0 = lo; p0 <= pos; p0 += ATTN_ROWS_KB) { /* online softmax over blocks of keys */
            const int nk = pos + 1 - p0 < ATTN_ROWS_KB ? pos + 1 - p0 : ATTN_ROWS_KB;
            float mb = m;
            for (int j = 0; j < nk; j++) {
                s[j] = dot(q, a->k + (size_t)(p0 + j) * a->k_stride, a->d_k) * a->scale;
                mb = s[j] > mb ? s[j] : mb;
            }
            const float corr = expf(m - mb);
            sum *= corr;
            for (int i = 0; i < a->d_v && corr != 1.0f; i++)
                o[i] *= corr;
            for (int j = 0; j < nk; j++) {
                const float e = expf(s[j] - mb);
                sum += e;
                axpy(o, e, a->v + (size_t)(p0 + j) * a->v_stride, a->d_v);
            }
            m = mb;
        }
        const float inv = 1.0f / sum;
        for (int i = 0; i < a->d_v; i++)
            o[i] *= inv;
    }
}

#endif
