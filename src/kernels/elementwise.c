/* elementwise.c — reference row kernels for the element-wise ops (SwiGLU, GPT-OSS's clamped SwiGLU, RMSNorm, RoPE),
 * written like the math (transformers' Qwen3MLP act_fn(gate) * up, GptOssExperts' glu, Qwen3RMSNorm and
 * apply_rotary_pos_emb). The AVX-512 variants in
 * elementwise_avx512.c are tested against these. */
#include <math.h>

#include "kernels/kernels.h"

void swiglu_f32_ref(float *out, const float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void swiglu_oai_f32_ref(float *out, const float *gate, const float *up, int step, int n, float alpha, float limit)
{
    for (int c = 0; c < n; c++) {
        const float g = fminf(gate[(size_t)c * step], limit);              /* gate: clamped above */
        const float u = fminf(fmaxf(up[(size_t)c * step], -limit), limit); /* up: clamped both ways */
        const float glu = g * (1.0f / (1.0f + expf(-(g * alpha))));
        out[c] = (u + 1.0f) * glu;
    }
}

void rmsnorm_f32_ref(float *out, const float *x, const float *w, int d, float eps)
{
    float ss = 0.0f;
    for (int i = 0; i < d; i++)
        ss += x[i] * x[i];
    const float inv = 1.0f / sqrtf(ss / (float)d + eps);
    for (int i = 0; i < d; i++)
        out[i] = w[i] * (x[i] * inv);
}

void rope_f32_ref(float *x, int n_head, int head_stride, int d_rot, const float *cos, const float *sin,
                  bool interleaved)
{
    const int half = d_rot / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = x + (size_t)h * head_stride;
        for (int i = 0; i < half; i++) {
            const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
            const float a = v[ia], b = v[ib];
            v[ia] = a * cos[i] - b * sin[i];
            v[ib] = b * cos[i] + a * sin[i];
        }
    }
}
