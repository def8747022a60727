/* elementwise.c — reference row kernels for the element-wise ops (SwiGLU, RMSNorm), written like the math
 * (transformers' Qwen3MLP act_fn(gate) * up and Qwen3RMSNorm). The AVX-512 variants in
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

void rmsnorm_f32_ref(float *out, const float *x, const float *w, int d, float eps)
{
    float ss = 0.0f;
    for (int i = 0; i < d; i++)
        ss += x[i] * x[i];
    const float inv = 1.0f / sqrtf(ss / (float)d + eps);
    for (int i = 0; i < d; i++)
        out[i] = w[i] * (x[i] * inv);
}
