/* kquants_q8_avx512.c — the act q8 mode's K-quant products with AVX512-VNNI (same math as matmul_q4_K_q8_ref and
 * matmul_q6_K_q8_ref in ggml_quants.c; only the float summation order differs): the weights' small unsigned
 * integers against the activations' int8 blocks with vpdpbusd, as llama.cpp does for these formats, so decode
 * streams the super-blocks instead of widening every weight to fp32.
 * - Q4_K (and Q5_K, whose fifth bits come from qh): a 32-byte slice of nibbles is two sub-blocks (low nibbles,
 *   high nibbles), which are two consecutive activation blocks: one ymm vpdpbusd each; the super-block's 8
 *   sub-blocks' lanes summed into one vector of exact integers (a vphaddd tree), converted once and accumulated
 *   with the 8 scales d_a * d * sc in one FMA (0.88 -> 0.81 ns per 32 weights on one core against a conversion,
 *   lane permute and FMA per sub-block; the same with two threads from L3); the min term
 *   d_a * dmin * m * sum(q) one 8-wide FMA per super-block. ymm work throughout: Zen 4 issues ymm vector
 *   operations twice as fast as zmm ones.
 * - Q6_K: a sub-block's 6-bit values (nibble | 2 high bits << 4, 0..63) against its activation block; lanes 0-3
 *   and 4-7 are the two 16-value halves, each with its own scale. The 16 scales are multiplied by their blocks'
 *   activation scales once per super-block, and the codes' offset -32 * sum(a) * scale is added beside the lanes
 *   by one 16-wide FMA per super-block (the halves' sums precomputed once per call): the lanes hold the exact
 *   integer sums of q * a. 1.22 -> 1.00 ns per 32 weights on one core against per-sub-block seeds and scales.
 * Each token of a row is computed alone (row-exact for every n); past 16 KB of one token's activations
 * (KERN_ROWS_X_BYTES) rows go 4 at a time, each as alone. Compiled with AVX-512 VL/BW/VNNI (the
 * dispatcher checks VNNI). */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_avx2.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"
#include "kernels/kquants_avx512.h"


/* Q4_K, or Q5_K (five: each 32-byte nibble slice gains a fifth bit from qh: bit 2j of qh[l] for the low
 * nibbles of slice j, bit 2j + 1 for the high ones): R rows (row_bytes apart) against one token, super-block by
 * super-block; each row's operations the same whatever R is. */
static inline __attribute__((always_inline)) void q45_K_rows(float *y, const struct act_q8 *x, size_t at0,
                                                             const uint8_t *row, size_t row_bytes, int n_sb, bool five,
                                                             int R)
{
    const int sb_bytes = five ? 176 : 144;
    __m256 acc[4], mins[4];
    for (int r = 0; r < R; r++)
        acc[r] = mins[r] = _mm256_setzero_ps();
    for (int sb = 0; sb < n_sb; sb++) {
        const size_t at = at0 + (size_t)sb * 8;
        for (int r = 0; r < R; r++) {
            const uint8_t *b = row + r * row_bytes + (size_t)sb * sb_bytes;
            const __m256 dsc = q45_K_dsc(b, x->d + at, x->sum + at, &mins[r]);
            __m256i dot[8];
            for (int j = 0; j < 4; j++) {
                __m256i q[2];
                q45_K_slice(b, j, five, &q[0], &q[1]);
                for (int k = 0; k < 2; k++)
                    dot[2 * j + k] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[k],
                                                         _mm256_loadu_si256((const __m256i *)(x->q + (at + 2 * (size_t)j + k) * 32)));
            }
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x8_epi32(dot)), dsc, acc[r]);
        }
    }
    for (int r = 0; r < R; r++)
        y[r] = hsum256(_mm256_sub_ps(acc[r], mins[r]));
}


static inline __attribute__((always_inline)) void matmul_q45(float *y, const struct act_q8 *x, const void *w,
                                                             bool five, int n, int d_in, int d_out, int o0, int o1)
{
    const int n_sb = d_in / 256, n_blocks = d_in / 32, R = act_q8_wide(1, n_blocks) ? 4 : 1;
    const size_t row_bytes = (size_t)n_sb * (five ? 176 : 144);
    for (int o = o0; o < o1;) {
        const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;
        const bool group = R == 4 && o + 4 <= o1;
        for (int t = 0; t < n; t++) {
            if (group)
                q45_K_rows(y + (size_t)t * d_out + o, x, (size_t)t * n_blocks, row, row_bytes, n_sb, five, 4);
            else
                q45_K_rows(y + (size_t)t * d_out + o, x, (size_t)t * n_blocks, row, row_bytes, n_sb, five, 1);
        }
        o += group ? 4 : 1;
    }
}

void matmul_q4_K_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1)
{
    matmul_q45(y, x, w, false, n, d_in, d_out, o0, o1);
}

void matmul_q5_K_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1)
{
    matmul_q45(y, x, w, true, n, d_in, d_out, o0, o1);
}

/* Q6_K: per super-block the 16 half-block scales d * sc times their blocks' activation scales in one multiply
 * (s16), and the codes' offset taken back beside the lanes: half[at * 2 + i] is -32 * (the sum of block at's
 * activations 16i .. 16i + 15), precomputed once per call, so one 16-wide FMA per super-block adds
 * -32 * sum(a) * scale for all 16 halves. Per sub-block: its codes, one vpdpbusd from zero, a conversion, a
 * lane permute of the scales and an FMA. */
static inline __attribute__((always_inline)) void q6_K_rows(float *y, const struct act_q8 *x, const float *half,
                                                            size_t at0, const uint8_t *row, size_t row_bytes, int n_sb,
                                                            int R)
{
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    __m256 acc0[4], acc1[4];
    __m512 side[4];
    for (int r = 0; r < R; r++) {
        acc0[r] = acc1[r] = _mm256_setzero_ps();
        side[r] = _mm512_setzero_ps();
    }
    for (int sb = 0; sb < n_sb; sb++) {
        const size_t at = at0 + (size_t)sb * 8;
        for (int r = 0; r < R; r++) {
            const uint8_t *b = row + r * row_bytes + (size_t)sb * 210;
            const __m512 dsc = _mm512_mul_ps(_mm512_set1_ps(f16_load(b + 208)),
                                             _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 192)))));
            const __m512 s16 = _mm512_mul_ps(dsc, _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(x->d + at))));
            side[r] = _mm512_fmadd_ps(s16, _mm512_loadu_ps(half + at * 2), side[r]);
            const __m256 s_lo = _mm512_castps512_ps256(s16), s_hi = _mm512_extractf32x8_ps(s16, 1);
            for (int s = 0; s < 8; s++) {
                const __m256i q = q6_K_codes(b, s);
                const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q,
                                                        _mm256_loadu_si256((const __m256i *)(x->q + (at + s) * 32)));
                /* lanes 0-3: scale 2s, lanes 4-7: 2s + 1 (sub-block s = 4h + p uses scales 8h + 2p, + 1) */
                const int i = 2 * (s & 3);
                const __m256 scale =
                    _mm256_permutexvar_ps(_mm256_set_epi32(i + 1, i + 1, i + 1, i + 1, i, i, i, i), s < 4 ? s_lo : s_hi);
                if (s & 1)
                    acc1[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc1[r]);
                else
                    acc0[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc0[r]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        y[r] = hsum256(_mm256_add_ps(_mm256_add_ps(acc0[r], acc1[r]),
                                     _mm256_add_ps(_mm512_castps512_ps256(side[r]), _mm512_extractf32x8_ps(side[r], 1))));
}

void matmul_q6_K_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1)
{
    const int n_sb = d_in / 256, n_blocks = d_in / 32;
    const size_t n_at = (size_t)n * n_blocks;
    float *half = q6_K_half_sums(x, n_at);
    if (!half) { /* the reference: same numbers up to rounding */
        matmul_q6_K_q8_ref(y, x, w, n, d_in, d_out, o0, o1);
        return;
    }
    const int R = act_q8_wide(1, n_blocks) ? 4 : 1;
    const size_t row_bytes = (size_t)n_sb * 210;
    for (int o = o0; o < o1;) {
        const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;
        const bool group = R == 4 && o + 4 <= o1;
        for (int t = 0; t < n; t++) {
            if (group)
                q6_K_rows(y + (size_t)t * d_out + o, x, half, (size_t)t * n_blocks, row, row_bytes, n_sb, 4);
            else
                q6_K_rows(y + (size_t)t * d_out + o, x, half, (size_t)t * n_blocks, row, row_bytes, n_sb, 1);
        }
        o += group ? 4 : 1;
    }
    free(half);
}
