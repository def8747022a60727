/* fp8_avx512.c — AVX-512 variant of matmul_fp8_ref (same prototype, same products).
 *
 * 32 e4m3 bytes widen in registers through IEEE half: each byte's 7 magnitude bits shifted to bits 7..13 and
 * its sign to bit 15 are the half whose value is the byte's times 2^-8 (e4m3's exponent bias 7 against the
 * half's 15; e4m3's subnormals are the half's), the NaN codes become a half NaN, and vcvtph2ps widens that
 * exactly (no fp32 subnormal ever reaches an arithmetic instruction: a multiply with one stalled ~3x on Zen 4).
 * The weight is then that times 256 * scale, the reference's one rounding of e4m3 * scale (both factors exact
 * powers of two apart), and an FMA accumulates it; only the summation order differs from the reference.
 * - Decode (fewer than GEMM_MIN_TOKENS tokens, row-exact): each row streamed once for up to 4 tokens, two
 *   chains per token and row (a 32-input step's halves, tails into the first). Where the tokens' activations
 *   pass 16 KB (DeepSeek-V3's 7168 inputs: 28 KB), the row stream would push them out of L1 on every row and
 *   reload them from L2 (the stream then ran at half the memory's speed): rows go 8 / NT at a time instead,
 *   each row with the same operations, so the numbers are the same.
 * - Prefill: the GEMM micro-kernel of gemm_avx512.h over panels of widened rows (d_in a multiple of 32).
 * - matmul_fp8_vbmi (AVX512-VBMI): the decode rows widen 64 bytes at a time through byte tables (below), 4 / NT
 *   rows per pass where wide; the same numbers bit for bit. */
#include <immintrin.h>

#include "kernels/fp8.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

#define FP8_FN(name) name##_avx512
#define FP8_GROUPS GROUP_BY_WIDTH
#include "kernels/fp8_rows.h"
#undef FP8_GROUPS
#undef FP8_FN

/* With AVX512-VBMI (Zen 4, Ice Lake and later) 64 bytes widen through two 128-entry byte tables: the low and
 * high byte of each magnitude's value as bf16 (exact: e4m3 has 3 mantissa bits and its subnormals are bf16
 * normals; 0x7f NaN), the sign ORed into the high byte, then each 16 weights' fp32 (bf16 in its upper half)
 * assembled by one byte permutation: 7 operations per 64 weights against about 20 through half, then the
 * reference's product e4m3 * scale, once rounded. A 2048-input matrix 21 -> 28-31 GB/s (two threads: the
 * memory's speed in slow minutes); the tables are fp8.c's, made from fp8_e4m3_to_f32 at start-up. */
#pragma GCC push_options
#pragma GCC target("avx512vbmi")
/* w[q] = weights 16q .. 16q + 15 of the 64 bytes at p, times scale. */
static inline __attribute__((always_inline)) void e4m3x64_vbmi(const uint8_t *p, float scale, __m512 w[4])
{
    const __m512i b = _mm512_loadu_si512(p);
    const __m512i tl0 = _mm512_load_si512(fp8_bf16_lo), tl1 = _mm512_load_si512(fp8_bf16_lo + 64);
    const __m512i th0 = _mm512_load_si512(fp8_bf16_hi), th1 = _mm512_load_si512(fp8_bf16_hi + 64);
    const __m512i lo = _mm512_permutex2var_epi8(tl0, b, tl1);
    const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(th0, b, th1), b, _mm512_set1_epi8((char)0x80),
                                                 0xf8); /* hi | (b & 0x80) */
    const __m512 sv = _mm512_set1_ps(scale);
    for (int q = 0; q < 4; q++) {
        /* lane i: bytes 0, 0, lo[16q + i], hi[16q + i] */
        const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(16 * q));
        const __m512i pick = _mm512_or_si512(_mm512_slli_epi32(idx, 16), _mm512_slli_epi32(_mm512_or_si512(idx, _mm512_set1_epi32(64)), 24));
        w[q] = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_maskz_permutex2var_epi8(0xccccccccccccccccull, lo, pick, hi)), sv);
    }
}

#define FP8_FN(name) name##_vbmi
#define FP8_WIDEN64 e4m3x64_vbmi
#define FP8_GROUPS GROUP_BY_WIDTH_HALF
#include "kernels/fp8_rows.h"
#undef FP8_GROUPS
#undef FP8_WIDEN64
#undef FP8_FN
#pragma GCC pop_options

void dequantize_row_fp8_avx512(float *out, const uint8_t *w_row, const float *scales_row, int n)
{
    for (int k = 0; k < n; k += 32) {
        __m512 lo, hi;
        e4m3x32(w_row + k, n - k, _mm512_set1_ps(scales_row[k / FP8_BLOCK] * 256.0f), &lo, &hi);
        _mm512_mask_storeu_ps(out + k, mask16(n - k), lo);
        _mm512_mask_storeu_ps(out + k + 16, mask16(n - k - 16), hi);
    }
}

struct fp8_matrix {
    const uint8_t *w;
    const float *scales;
    int d_in, n_cb;
};

/* gemm_block32_fn: block kb of row `row`, widened and scaled. */
static inline __attribute__((always_inline)) void fp8_block(const void *ctx, int row, int kb, __m512 *lo, __m512 *hi)
{
    const struct fp8_matrix *m = ctx;
    const float s = m->scales[(size_t)(row / FP8_BLOCK) * m->n_cb + (size_t)kb * 32 / FP8_BLOCK];
    e4m3x32(m->w + (size_t)row * m->d_in + (size_t)kb * 32, 32, _mm512_set1_ps(s * 256.0f), lo, hi);
}

void matmul_fp8_avx512(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                       int o0, int o1)
{
    if (n >= GEMM_MIN_TOKENS && d_in % 32 == 0) {
        const struct fp8_matrix m = {w, scales, d_in, (d_in + FP8_BLOCK - 1) / FP8_BLOCK};
        gemm_blocks32(y, x, n, d_in, d_out, o0, o1, fp8_block, &m);
        return;
    }
    decode_avx512(y, x, w, scales, n, d_in, d_out, o0, o1);
}

__attribute__((target("avx512vbmi"))) void matmul_fp8_vbmi(float *y, const float *x, const void *w,
                                                          const float *scales, int n, int d_in, int d_out, int o0,
                                                          int o1)
{
    if (n >= GEMM_MIN_TOKENS && d_in % 32 == 0) {
        matmul_fp8_avx512(y, x, w, scales, n, d_in, d_out, o0, o1);
        return;
    }
    decode_vbmi(y, x, w, scales, n, d_in, d_out, o0, o1);
}
