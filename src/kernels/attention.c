/* attention.c — the reference attention kernel: one query head, a block of consecutive query positions,
 * written like transformers' eager_attention_forward row by row: s_p = (q . k_p) * scale over the visible
 * keys, softmax with the optional sink logit in the denominator, o = sum_p softmax_p v_p. The AVX-512
 * variant (attention_avx512.c) is tested against it. */
#include <math.h>
#include <string.h>

#include "kernels/attention_rows.h"
#include "kernels/kernels.h"

void attention_rows_ref(const struct attn_rows *a)
{
    for (int r = 0; r < a->n_rows; r++) {
        const int pos = a->pos0 + (a->same_pos ? 0 : r);
        const int lo = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
        const float *q = a->q + (size_t)r * a->q_stride;
        float *o = a->out + (size_t)r * a->out_stride;
        const float sink = a->sinks ? a->sinks[r] : a->sink;
        float m = a->has_sink ? sink : -INFINITY;
        for (int p = lo; p <= pos; p++)
            m = fmaxf(m, dot_f32_ref(q, a->k + (size_t)p * a->k_stride, a->d_k) * a->scale);
        float sum = a->has_sink ? expf(sink - m) : 0.0f;
        memset(o, 0, (size_t)a->d_v * sizeof *o);
        for (int p = lo; p <= pos; p++) {
            const float e = expf(dot_f32_ref(q, a->k + (size_t)p * a->k_stride, a->d_k) * a->scale - m);
            sum += e;
            axpy_f32_ref(o, e, a->v + (size_t)p * a->v_stride, a->d_v);
        }
        const float inv = 1.0f / sum;
        for (int i = 0; i < a->d_v; i++)
            o[i] *= inv;
    }
}

/* The decode partial (kernels.h), key by key with expf: the SIMD variants differ in dot, axpy and exp only. */
void attention_part_ref(const struct attn_part *a) { attention_part_keys(a, dot_f32_ref, axpy_f32_ref, expsum_scalar); }
