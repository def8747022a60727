/* forward.c — what every family's forward does the same way over a batch of sequences (model.h): each
 * token's RoPE position, new cache rows to their sequences, attention per sequence over its own cache, and
 * the rows the output head needs. A forward over one sequence is the same code with n_seq = 1. */
#include <string.h>

#include "model/model.h"
#include "model/rope.h"

void forward_rope_tables(const struct rope *r, const struct forward_args *a, float *cos, float *sin)
{
    const size_t half = (size_t)r->dim / 2;
    for (int s = 0, t0 = 0; s < a->n_seq; t0 += a->seq[s++].n_tok)
        rope_tables(r, a->seq[s].n_past, a->seq[s].n_tok, cos + t0 * half, sin + t0 * half);
}

void forward_store_kv(const struct forward_args *a, int l, const float *k, int d_k, const float *v, int d_v)
{
    for (int s = 0, t0 = 0; s < a->n_seq; t0 += a->seq[s++].n_tok) {
        const struct forward_seq *q = &a->seq[s];
        const size_t row0 = (size_t)l * a->n_ctx + (size_t)q->n_past;
        memcpy(q->k_cache + row0 * d_k, k + (size_t)t0 * d_k, (size_t)q->n_tok * d_k * sizeof(float));
        if (d_v > 0)
            memcpy(q->v_cache + row0 * d_v, v + (size_t)t0 * d_v, (size_t)q->n_tok * d_v * sizeof(float));
    }
}

void forward_attention(const struct forward_args *a, int l, const struct attn_args *tmpl, bool values_in_k)
{
    struct attn_args args[a->n_seq];
    for (int s = 0, t0 = 0; s < a->n_seq; t0 += a->seq[s++].n_tok) {
        const struct forward_seq *q = &a->seq[s];
        struct attn_args *x = &args[s];
        *x = *tmpl;
        x->q = tmpl->q + (size_t)t0 * tmpl->n_head * tmpl->d_k;
        x->out = tmpl->out + (size_t)t0 * tmpl->n_head * tmpl->d_v;
        x->k = q->k_cache + (size_t)l * a->n_ctx * tmpl->k_stride;
        x->v = values_in_k ? x->k : q->v_cache + (size_t)l * a->n_ctx * tmpl->v_stride;
        x->n_tok = q->n_tok;
        x->n_past = q->n_past;
    }
    op_attention_batch(args, a->n_seq);
}

int forward_head_rows(const struct forward_args *a, float *out, const float *x, int d, const float *norm_w,
                      float eps)
{
    if (a->all_logits) {
        op_rmsnorm(out, x, norm_w, a->n_tok, d, eps);
        return a->n_tok;
    }
    for (int s = 0, t0 = 0; s < a->n_seq; t0 += a->seq[s++].n_tok)
        op_rmsnorm(out + (size_t)s * d, x + (size_t)(t0 + a->seq[s].n_tok - 1) * d, norm_w, 1, d, eps);
    return a->n_seq;
}
