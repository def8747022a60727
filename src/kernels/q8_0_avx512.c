/* q8_0_avx512.c — AVX-512 Q8_0 matmul (same contract as matmul_q8_0_ref). Each block's 32 int8 are
 * widened to fp32 in registers and multiplied by the block scale before the FMA, exactly the reference's
 * products; only the summation order differs. Fewer than GEMM_MIN_TOKENS tokens stream each row once for up to 4 tokens, row-exact; prefill runs
 * the GEMM micro-kernel. */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* Prefill (gemm_blocks32): block kb of row `row` of the matrix. */
struct q8_panel {
    const uint8_t *w;
    size_t row_bytes;
};
static inline __attribute__((always_inline)) void panel_block(const void *ctx, int row, int kb, __m512 *lo, __m512 *hi)
{
    const struct q8_panel *p = ctx;
    q8_0_block_f32(p->w + (size_t)row * p->row_bytes + (size_t)kb * Q8_0_BLOCK_BYTES, lo, hi);
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
        q8_0_block_f32(row + (size_t)kb * Q8_0_BLOCK_BYTES, &lo, &hi);
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
        const struct q8_panel p = {w, (size_t)d_in / 32 * Q8_0_BLOCK_BYTES};
        for (int g = o0; g < o1; g += 16)
            gemm_blocks32(y, x, n, d_in, d_out, g, g + 16 < o1 ? g + 16 : o1, panel_block, &p);
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
