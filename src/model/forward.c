/* forward.c — what every family's forward does the same way over a batch of sequences (model.h): each
 * token's RoPE position, new cache rows to their sequences, attention per sequence over its own cache, and
 * the rows the output head needs. A forward over one sequence is the same code with n_seq = 1. */
#include <string.h>

#include "kernels/kernels.h"
#include "model/model.h"
#include "model/rope.h"

void forward_rope_tables(const struct rope *r, const struct forward_args *a, float *cos, float *sin)
{
    const size_t half = (size_t)r->dim / 2;
    for (int s = 0, t0 = 0; s < a->n_seq; t0 += a->seq[s++].n_tok)
        rope_tables(r, a->seq[s].n_past, a->seq[s].n_tok, cos + t0 * half, sin + t0 * half);
}

/* n values to cache element i of dst: fp32 copied, or rounded to half. */
static void store_rows(void *dst, bool f16, size_t i, const float *src, size_t n)
{
    if (f16)
        op_to_f16((uint16_t *)dst + i, src, n);
    else
        op_copy((float *)dst + i, src, n);
}

/* The position a layer's row 0 holds in sequence q (0, or the ring's base), and the cache row of that row 0. */
static int layer_base(const struct forward_args *a, const struct forward_seq *q, int l)
{
    return a->ring && a->ring[l] ? q->ring_base : 0;
}
static size_t layer_row0(const struct forward_args *a, int l) { return a->row0[l]; }

void forward_store_kv(const struct forward_args *a, int l, const float *k, int d_k, const float *v, int d_v)
{
    for (int s = 0, t0 = 0; s < a->n_seq; t0 += a->seq[s++].n_tok) {
        const struct forward_seq *q = &a->seq[s];
        const size_t row0 = layer_row0(a, l) + (size_t)(q->n_past - layer_base(a, q, l));
        store_rows(q->k_cache, a->kv_f16, row0 * d_k, k + (size_t)t0 * d_k, (size_t)q->n_tok * d_k);
        if (d_v > 0)
            store_rows(q->v_cache, a->kv_f16, row0 * d_v, v + (size_t)t0 * d_v, (size_t)q->n_tok * d_v);
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
        x->k = kv_elem(q->k_cache, a->kv_f16, layer_row0(a, l) * tmpl->k_stride);
        x->v = values_in_k ? x->k : kv_elem(q->v_cache, a->kv_f16, layer_row0(a, l) * tmpl->v_stride);
        x->kv_f16 = a->kv_f16;
        x->n_tok = q->n_tok;
        /* a ring's positions counted from its base: attention sees only differences of positions (the mask, the
         * window) and chunks keys at multiples of 64 positions, so the same numbers as from position 0 */
        x->n_past = q->n_past - layer_base(a, q, l);
    }
    op_attention_batch(args, a->n_seq);
}

void forward_k_rows(const struct forward_args *a, int s, int l, int p0, int p1, int row_len, float *out)
{
    const size_t i0 = (layer_row0(a, l) + (size_t)(p0 - layer_base(a, &a->seq[s], l))) * row_len;
    const size_t n = (size_t)(p1 - p0) * row_len;
    if (!a->kv_f16) {
        memcpy(out, (const float *)a->seq[s].k_cache + i0, n * sizeof(float));
        return;
    }
    const uint16_t *h = (const uint16_t *)a->seq[s].k_cache + i0;
    for (size_t i = 0; i < n; i++)
        out[i] = f16_to_f32(h[i]);
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
