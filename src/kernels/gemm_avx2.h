/* gemm_avx2.h — the AVX2 matmul over widened slices (widen_avx2.c), internal to src/kernels (include only from
 * *_avx2.c files): the weight formats it widens, its entry, and the widening loads and lane sum the AVX2 files share. */
#ifndef OWL_GEMM_AVX2_H
#define OWL_GEMM_AVX2_H

#include <immintrin.h>

enum avx2_format {
    AVX2_Q4_0, AVX2_Q4_1, AVX2_Q5_0, AVX2_Q5_1, AVX2_Q4_K, AVX2_Q5_K, AVX2_Q6_K, /* GGML blocks (reference dequant) */
    AVX2_F32, AVX2_BF16, AVX2_F16, AVX2_Q8_0, AVX2_MXFP4, AVX2_MXFP4G, AVX2_FP8,  /* widened with SIMD */
};

/* 8 bf16 or f16 values from p widened to fp32 (exactly). */
static inline __m256 load8_bf16(const void *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p)), 16));
}
static inline __m256 load8_f16(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128(p)); }

/* The sum of a ymm's 8 lanes. */
static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define AVX2_GEMM_MIN 8 /* tokens from which the prefill GEMM runs */

/* A matmul_fn (scales: MXFP4's E8M0 bytes or FP8's fp32 grid, else NULL): decode rows below AVX2_GEMM_MIN tokens
 * (row-exact), the GEMM from there. */
void matmul_widen_avx2(enum avx2_format f, float *y, const float *x, const void *w, const void *scales, int n,
                       int d_in, int d_out, int o0, int o1);

#endif
