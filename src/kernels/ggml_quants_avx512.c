/* ggml_quants_avx512.c — AVX-512 matmuls over the GGML block formats of ggml_quants.c (same contract as the
 * references). A block is dequantized once into an L1-resident buffer by the reference dequantizer and
 * then used for up to 4 tokens with 16-wide FMAs; only the summation order differs from the reference.
 * (Integer dot products on quantized activations, as llama.cpp does, are the speed issue's business: they
 * change the numbers.) */
#include <immintrin.h>

#include "kernels/kernels.h"

#define DEFINE_BLOCK_MATMUL_AVX512(T, BLOCK, BYTES)                                                     \
    void matmul_##T##_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1) \
    {                                                                                                   \
        const size_t row_bytes = (size_t)d_in / BLOCK * BYTES;                                          \
        float buf[BLOCK] __attribute__((aligned(64)));                                                  \
        for (int o = o0; o < o1; o++) {                                                                 \
            const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;                            \
            for (int t = 0; t < n; t += 4) {                                                            \
                const int nt = n - t < 4 ? n - t : 4;                                                   \
                __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),         \
                                 _mm512_setzero_ps()};                                                  \
                for (int k = 0; k < d_in; k += BLOCK) {                                                 \
                    dequantize_block_##T(buf, row + (size_t)(k / BLOCK) * BYTES);                       \
                    for (int j = 0; j < BLOCK; j += 16) {                                               \
                        const __m512 wv = _mm512_load_ps(buf + j);                                      \
                        for (int u = 0; u < nt; u++)                                                    \
                            acc[u] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + (size_t)(t + u) * d_in + k + j), acc[u]); \
                    }                                                                                   \
                }                                                                                       \
                for (int u = 0; u < nt; u++)                                                            \
                    y[(size_t)(t + u) * d_out + o] = _mm512_reduce_add_ps(acc[u]);                      \
            }                                                                                           \
        }                                                                                               \
    }

DEFINE_BLOCK_MATMUL_AVX512(q4_0, 32, 18)
DEFINE_BLOCK_MATMUL_AVX512(q4_1, 32, 20)
DEFINE_BLOCK_MATMUL_AVX512(q5_0, 32, 22)
DEFINE_BLOCK_MATMUL_AVX512(q5_1, 32, 24)
DEFINE_BLOCK_MATMUL_AVX512(q4_K, 256, 144)
DEFINE_BLOCK_MATMUL_AVX512(q5_K, 256, 176)
DEFINE_BLOCK_MATMUL_AVX512(q6_K, 256, 210)
