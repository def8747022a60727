/* q8_0_avx512.c — AVX-512 Q8_0 matmul (same contract as matmul_q8_0_ref). Each block's 32 int8 are
 * widened to fp32 in registers and multiplied by the block scale before the FMA, exactly the reference's
 * products; only the summation order differs. Fewer than GEMM_MIN_TOKENS tokens stream each row once for up to 4 tokens, row-exact; prefill runs
 * the GEMM micro-kernel. */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* The two 16-wide fp32 halves of one block, scale applied. */
static inline void load_block(const uint8_t *b, __m512 *lo, __m512 *hi)
{
    uint16_t dh;
    memcpy(&dh, b, 2);
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(dh));
    const __m128i q0 = _mm_loadu_si128((const __m128i *)(b + 2)), q1 = _mm_loadu_si128((const __m128i *)(b + 18));
    *lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)));
    *hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)));
}

/* Prefill: rows o0..o1 (at most 16) dequantized per GEMM_KC slice into the transposed panel. */
static void gemm_q8_0(float *y, const float *x, const uint8_t *w, int n, int d_in, int d_out, int o0, int o1)
{
    float panel[GEMM_KC * 16] __attribute__((aligned(64)));
    const size_t row_bytes = (size_t)d_in / 32 * Q8_0_BLOCK_BYTES;
    const int n_rows = o1 - o0;
    for (int k0 = 0; k0 < d_in; k0 += GEMM_KC) {
        const int kc = d_in - k0 < GEMM_KC ? d_in - k0 : GEMM_KC; /* a multiple of 32 */
        for (int kk = 0; kk < kc; kk += 32) {
            __m512 lo[16], hi[16];
            for (int i = 0; i < 16; i++) {
                if (i < n_rows)
                    load_block(w + (size_t)(o0 + i) * row_bytes + (size_t)(k0 + kk) / 32 * Q8_0_BLOCK_BYTES, &lo[i],
                               &hi[i]);
                else
                    lo[i] = hi[i] = _mm512_setzero_ps();
            }
            panel_put_block32(panel + (size_t)kk * 16, lo, hi);
        }
        gemm_panel(y + o0, x + k0, panel, n, kc, d_in, d_out, k0 > 0, n_rows);
    }
}

/* One row against NT tokens (a compile-time constant at every call): each block's two halves go to two
 * accumulator chains per token, summed at the end; every token's result is the same operation sequence
 * whatever NT is (row-exact: a token computes bitwise as alone). */
static inline __attribute__((always_inline)) void rows_q8_0(float *y, const float *x, const uint8_t *row,
                                                            int d_in, int d_out, int NT)
{
    __m512 a[4][2];
    for (int j = 0; j < NT; j++)
        a[j][0] = a[j][1] = _mm512_setzero_ps();
    for (int kb = 0; kb < d_in / 32; kb++) {
        __m512 lo, hi;
        load_block(row + (size_t)kb * Q8_0_BLOCK_BYTES, &lo, &hi);
        for (int j = 0; j < NT; j++) {
            const float *xt = x + (size_t)j * d_in + (size_t)kb * 32;
            a[j][0] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xt), a[j][0]);
            a[j][1] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xt + 16), a[j][1]);
        }
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = _mm512_reduce_add_ps(_mm512_add_ps(a[j][0], a[j][1]));
}

void matmul_q8_0_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    if (n >= GEMM_MIN_TOKENS) {
        for (int g = o0; g < o1; g += 16)
            gemm_q8_0(y, x, w, n, d_in, d_out, g, g + 16 < o1 ? g + 16 : o1);
        return;
    }
    const size_t row_bytes = (size_t)d_in / 32 * Q8_0_BLOCK_BYTES;
    for (int o = o0; o < o1; o++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;
        int t = 0;
        for (; t + 4 <= n; t += 4)
            rows_q8_0(y + (size_t)t * d_out + o, x + (size_t)t * d_in, row, d_in, d_out, 4);
        float *yt = y + (size_t)t * d_out + o;
        const float *xt = x + (size_t)t * d_in;
        switch (n - t) {
        case 3: rows_q8_0(yt, xt, row, d_in, d_out, 3); break;
        case 2: rows_q8_0(yt, xt, row, d_in, d_out, 2); break;
        case 1: rows_q8_0(yt, xt, row, d_in, d_out, 1); break;
        default: break;
        }
    }
}
