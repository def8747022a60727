/* elementwise_avx2.c — AVX2 SwiGLU and RMSNorm (same contracts as elementwise.c), for CPUs without AVX-512;
 * exp from exp_avx2.h. Tails through masked loads and stores. */
#include <immintrin.h>

#include "kernels/exp_avx2.h"
#include "kernels/gemm_avx2.h"
#include "kernels/kernels.h"

void swiglu_f32_avx2(float *out, const float *gate, const float *up, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 8) {
        const __m256i m = mask8(n - i < 8 ? (int)(n - i) : 8);
        const __m256 g = _mm256_maskload_ps(gate + i, m), u = _mm256_maskload_ps(up + i, m);
        const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u));
    }
}

void rmsnorm_f32_avx2(float *out, const float *x, const float *w, int d, float eps)
{
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < d; i += 8) {
        const __m256 v = _mm256_maskload_ps(x + i, mask8(d - i));
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    const float inv = 1.0f / __builtin_sqrtf(hsum8(acc) / (float)d + eps);
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int i = 0; i < d; i += 8) {
        const __m256i m = mask8(d - i);
        const __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), vinv);
        _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(_mm256_maskload_ps(w + i, m), v));
    }
}
