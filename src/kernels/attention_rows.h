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

/* q . k and o += a * v over cache values that are fp32, or IEEE half with f16 (the including file's pair;
 * constants at every call, inlined, each template instantiated once per cache type). */
typedef float kv_dot_fn(const float *q, const void *k, int f16, int n);
typedef void kv_axpy_fn(float *o, float a, const void *v, int f16, int n);

static inline __attribute__((always_inline)) void rows_online_kv(const struct attn_rows *a, kv_dot_fn *dot,
                                                                 kv_axpy_fn *axpy, int f16)
{
    for (int r = 0; r < a->n_rows; r++) {
        const int pos = a->pos0 + (a->same_pos ? 0 : r);
        const int lo = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
        const float *q = a->q + (size_t)r * a->q_stride;
        float *o = a->out + (size_t)r * a->out_stride;
        float s[ATTN_ROWS_KB];
        float m = a->has_sink ? (a->sinks ? a->sinks[r] : a->sink) : -INFINITY, sum = a->has_sink ? 1.0f : 0.0f;
        memset(o, 0, (size_t)a->d_v * sizeof *o);
        for (int p0 = lo; p0 <= pos; p0 += ATTN_ROWS_KB) { /* online softmax over blocks of keys */
            const int nk = pos + 1 - p0 < ATTN_ROWS_KB ? pos + 1 - p0 : ATTN_ROWS_KB;
            float mb = m;
            for (int j = 0; j < nk; j++) {
                s[j] = dot(q, kv_elem(a->k, f16, (size_t)(p0 + j) * a->k_stride), f16, a->d_k) * a->scale;
                mb = s[j] > mb ? s[j] : mb;
            }
            const float corr = expf(m - mb);
            sum *= corr;
            for (int i = 0; i < a->d_v && corr != 1.0f; i++)
                o[i] *= corr;
            for (int j = 0; j < nk; j++) {
                const float e = expf(s[j] - mb);
                sum += e;
                axpy(o, e, kv_elem(a->v, f16, (size_t)(p0 + j) * a->v_stride), f16, a->d_v);
            }
            m = mb;
        }
        const float inv = 1.0f / sum;
        for (int i = 0; i < a->d_v; i++)
            o[i] *= inv;
    }
}

static inline __attribute__((always_inline)) void attention_rows_online(const struct attn_rows *a, kv_dot_fn *dot,
                                                                          kv_axpy_fn *axpy)
{
    if (a->f16)
        rows_online_kv(a, dot, axpy, 1);
    else
        rows_online_kv(a, dot, axpy, 0);
}

/* exp(s[j] - m) in place for j < n; returns their sum. */
typedef float expsum_fn(float *s, int n, float m);

/* The decode partial (struct attn_part) over the including file's dot, axpy and expsum: the scores of every
 * head key by key (a key row read once for all heads), each head's max and exponentials, then value by value
 * into the heads' outputs. */
static inline __attribute__((always_inline)) void part_keys_kv(const struct attn_part *a, kv_dot_fn *dot,
                                                               kv_axpy_fn *axpy, expsum_fn *expsum, int f16)
{
    const int n = a->p1 - a->p0, R = a->n_heads;
    float s[ATTN_PART_HEADS][ATTN_PART_KEYS];
    int kv[ATTN_PART_HEADS]; /* head r's KV head */
    for (int r = 0; r < R; r++)
        kv[r] = r / a->rep;
    for (int j = 0; j < n; j++) {
        const size_t k = (size_t)(a->p0 + j) * a->k_stride;
        for (int r = 0; r < R; r++)
            s[r][j] = dot(a->q + (size_t)r * a->d_k, kv_elem(a->k, f16, k + (size_t)kv[r] * a->d_k), f16, a->d_k) *
                      a->scale;
    }
    for (int r = 0; r < R; r++) {
        float m = s[r][0];
        for (int j = 1; j < n; j++)
            m = s[r][j] > m ? s[r][j] : m;
        a->m[r] = m;
        a->l[r] = expsum(s[r], n, m);
        memset(a->o + (size_t)r * a->d_v, 0, (size_t)a->d_v * sizeof(float));
    }
    for (int j = 0; j < n; j++) {
        const size_t v = (size_t)(a->p0 + j) * a->v_stride;
        for (int r = 0; r < R; r++)
            axpy(a->o + (size_t)r * a->d_v, s[r][j], kv_elem(a->v, f16, v + (size_t)kv[r] * a->d_v), f16, a->d_v);
    }
}

static inline __attribute__((always_inline)) void attention_part_keys(const struct attn_part *a, kv_dot_fn *dot,
                                                                        kv_axpy_fn *axpy, expsum_fn *expsum)
{
    if (a->f16)
        part_keys_kv(a, dot, axpy, expsum, 1);
    else
        part_keys_kv(a, dot, axpy, expsum, 0);
}

/* expsum with expf, in order. */
static inline float expsum_scalar(float *s, int n, float m)
{
    float sum = 0.0f;
    for (int j = 0; j < n; j++)
        sum += s[j] = expf(s[j] - m);
    return sum;
}

#endif
