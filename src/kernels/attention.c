/* attention.c — the reference attention kernel: one query head, a block of consecutive query positions,
 * written like transformers' eager_attention_forward row by row: s_p = (q . k_p) * scale over the visible
 * keys, softmax with the optional sink logit in the denominator, o = sum_p softmax_p v_p (with bf16: the
 * products' operands rounded to bf16, the sums and the softmax in fp32). The AVX-512 variant
 * (attention_avx512.c) is tested against it. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/attention_rows.h"
#include "kernels/kernels.h"

float kv_dot_ref(const float *q, const void *k, int f16, int n)
{
    if (!f16)
        return dot_f32_ref(q, k, n);
    const uint16_t *h = k;
    float acc = 0.0f; /* dot_f32_ref's order */
    for (int i = 0; i < n; i++)
        acc += q[i] * f16_to_f32(h[i]);
    return acc;
}

void kv_axpy_ref(float *o, float a, const void *v, int f16, int n)
{
    if (!f16) {
        axpy_f32_ref(o, a, v, n);
        return;
    }
    const uint16_t *h = v;
    for (int i = 0; i < n; i++)
        o[i] += a * f16_to_f32(h[i]);
}

/* a's bf16 mode: the values rounded to bf16 (RNE), as the AVX512-BF16 kernels take them. */
static float bf(float x) { return bf16_to_f32(f32_to_bf16(x)); }

static float dot_bf16(const float *q, const void *k, int f16, int n)
{
    float acc = 0.0f;
    for (int i = 0; i < n; i++)
        acc += bf(q[i]) * bf(f16 ? f16_to_f32(((const uint16_t *)k)[i]) : ((const float *)k)[i]);
    return acc;
}

static void axpy_bf16(float *o, float a, const void *v, int f16, int n)
{
    for (int i = 0; i < n; i++)
        o[i] += bf(a) * bf(f16 ? f16_to_f32(((const uint16_t *)v)[i]) : ((const float *)v)[i]);
}

void attention_rows_ref(const struct attn_rows *a)
{
    kv_dot_fn *const dot = a->bf16 ? dot_bf16 : kv_dot_ref;
    kv_axpy_fn *const axpy = a->bf16 ? axpy_bf16 : kv_axpy_ref;
    for (int r = 0; r < a->n_rows; r++) {
        const int pos = a->pos0 + (a->same_pos ? 0 : r);
        const int lo = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
        const float *q = a->q + (size_t)r * a->q_stride;
        float *o = a->out + (size_t)r * a->out_stride;
        const float sink = a->sinks ? a->sinks[r] : a->sink;
        float m = a->has_sink ? sink : -INFINITY;
        for (int p = lo; p <= pos; p++)
            m = fmaxf(m, dot(q, kv_elem(a->k, a->f16, (size_t)p * a->k_stride), a->f16, a->d_k) * a->scale);
        float sum = a->has_sink ? expf(sink - m) : 0.0f;
        memset(o, 0, (size_t)a->d_v * sizeof *o);
        for (int p = lo; p <= pos; p++) {
            const float e = expf(dot(q, kv_elem(a->k, a->f16, (size_t)p * a->k_stride), a->f16, a->d_k) * a->scale - m);
            sum += e;
            axpy(o, e, kv_elem(a->v, a->f16, (size_t)p * a->v_stride), a->f16, a->d_v);
        }
        const float inv = 1.0f / sum;
        for (int i = 0; i < a->d_v; i++)
            o[i] *= inv;
    }
}

/* The decode partial (kernels.h), key by key with expf: the SIMD variants differ in dot, axpy and exp only. */
void attention_part_ref(const struct attn_part *a) { attention_part_keys(a, kv_dot_ref, kv_axpy_ref, expsum_scalar); }

void f32_to_kv16_ref(uint16_t *out, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) /* NaN fails every comparison and stays NaN */
        out[i] = f32_to_f16(isinf(x[i]) ? x[i] : x[i] > 65504.0f ? 65504.0f : x[i] < -65504.0f ? -65504.0f : x[i]);
}
