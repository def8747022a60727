/* ggml_quants_avx512.c — AVX-512 matmuls over the GGML block formats of ggml_quants.c (same contract as the
 * references). Every format widens in registers like Q8_0, 32 inputs at a time with its reference
 * dequantizer's operations (so the same weights), then decode rows for up to 4 tokens and prefill panels for
 * the GEMM micro-kernel: Q4_0 (what `--quant q4_0` makes), Q4_1, Q5_0, Q5_1 through matmul_block32, the
 * K-quants through their sub-block loaders; only the summation order differs from the references. (The act
 * q8 mode's integer products are in q8_0_avx512.c and kquants_q8_avx512.c.) */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx2.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"
#include "kernels/kquants_avx512.h"

/* The matmul of a format of 32-input blocks from its widening T##_block_f32 (matmul_block32: decode rows,
 * prefill panels for the GEMM micro-kernel). */
#define BLOCK32_MATMUL(T, BYTES)                                                                         \
    static inline __attribute__((always_inline)) void T##_panel_block(const void *ctx, int row, int kb, __m512 *lo, \
                                                                      __m512 *hi)                         \
    {                                                                                                   \
        const struct block32_matrix *m = ctx;                                                           \
        T##_block_f32(m->w + (size_t)row * m->row_bytes + (size_t)kb * BYTES, lo, hi);                 \
    }                                                                                                   \
    void matmul_##T##_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1) \
    {                                                                                                   \
        matmul_block32(y, x, w, BYTES, n, d_in, d_out, o0, o1, T##_block_f32, T##_panel_block);         \
    }

/* Q4_0 (what `--quant q4_0` makes), Q4_1, Q5_0, Q5_1: widened in registers by kquants_avx512.h; decode streams
 * each row once for up to 4 tokens (row-exact), prefill runs the shared GEMM micro-kernel (gemm_blocks32). */
BLOCK32_MATMUL(q4_0, 18)

BLOCK32_MATMUL(q4_1, 20)
BLOCK32_MATMUL(q5_0, 22)
BLOCK32_MATMUL(q5_1, 24)

/* K-quants (Q4_K, Q5_K, Q6_K: 256-input super-blocks) in registers, 32 inputs at a time, with the reference
 * dequantizer's operations in its order (so the same weights): prefill packs 16 rows' panels of sub-blocks for
 * the GEMM micro-kernel (gemm_blocks32); decode streams each row once for up to 4 tokens (row-exact) with the
 * super-block's scales unpacked once in vectors (q45_K_lut_rows, q6_K_rows below). */
/* gemm_block32_fn loaders: sub-block kb of row `row` of a struct block32_matrix of super-blocks. */
#define KQ_LOADER(T, SB)                                                                                 \
    static inline __attribute__((always_inline)) void T##_load(const void *ctx, int row, int kb, __m512 *lo,  \
                                                                __m512 *hi)                               \
    {                                                                                                   \
        const struct block32_matrix *m = ctx;                                                           \
        T##_sub(m->w + (size_t)row * m->row_bytes + (size_t)(kb / 8) * SB, kb % 8, lo, hi);            \
    }
KQ_LOADER(q4_K, 144)
KQ_LOADER(q5_K, 176)
KQ_LOADER(q6_K, 210)

/* Decode's Q4_K and Q5_K rows through tables instead: a sub-block's weights take 16 (Q4_K) or 32 (Q5_K) values
 * d1 * i - m1, formed with the reference's two operations for every i at once (d1 = d * sc and m1 = dmin * m for
 * the super-block's 8 sub-blocks in one vector each, then broadcast), and each weight is a vpermps / vpermt2ps of
 * that table by its code (index bits above the table size are ignored, so the widened bytes need no mask): the
 * same weights, bit for bit, without a conversion, a product and a difference per 16 weights. */
static inline __attribute__((always_inline)) void q45_K_lut_rows(float *y, const float *x, const uint8_t *row,
                                                                 bool five, int d_in, int d_out, int NT)
{
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 iota16 = _mm512_add_ps(iota, _mm512_set1_ps(16.0f));
    const int sb_bytes = five ? 176 : 144;
    __m512 a[4][2];
    for (int j = 0; j < NT; j++)
        a[j][0] = a[j][1] = _mm512_setzero_ps();
    for (int sb = 0; sb < d_in / 256; sb++) {
        const uint8_t *b = row + (size_t)sb * sb_bytes;
        __m256i sc, mn;
        q4_K_scales(b + 4, &sc, &mn);
        const __m512 d1 = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_set1_ps(f16_load(b)), _mm256_cvtepi32_ps(sc)));
        const __m512 m1 = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_set1_ps(f16_load(b + 2)), _mm256_cvtepi32_ps(mn)));
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) {
            const __m512i pick = _mm512_set1_epi32(s);
            const __m512 ds = _mm512_permutexvar_ps(pick, d1), ms = _mm512_permutexvar_ps(pick, m1);
            const __m512 t0 = _mm512_sub_ps(_mm512_mul_ps(ds, iota), ms);
            __m512 w[2];
            if (five) {
                const __m512 t1 = _mm512_sub_ps(_mm512_mul_ps(ds, iota16), ms);
                const __m256i v = _mm256_loadu_si256((const __m256i *)(b + 48 + 32 * (s / 2)));
                const __m256i h = _mm256_loadu_si256((const __m256i *)(b + 16));
                const __m256i nib = _mm256_and_si256(s & 1 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(0x0f));
                const __m256i fifth = _mm256_and_si256(_mm256_srli_epi16(h, s), _mm256_set1_epi8(1));
                const __m256i q = _mm256_or_si256(nib, _mm256_slli_epi16(fifth, 4));
                w[0] = _mm512_permutex2var_ps(t0, _mm512_cvtepu8_epi32(_mm256_castsi256_si128(q)), t1);
                w[1] = _mm512_permutex2var_ps(t0, _mm512_cvtepu8_epi32(_mm256_extracti128_si256(q, 1)), t1);
            } else {
                const uint8_t *q = b + 16 + 32 * (s / 2);
                __m512i i0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)q));
                __m512i i1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 16)));
                if (s & 1)
                    i0 = _mm512_srli_epi32(i0, 4), i1 = _mm512_srli_epi32(i1, 4);
                w[0] = _mm512_permutexvar_ps(i0, t0);
                w[1] = _mm512_permutexvar_ps(i1, t0);
            }
            for (int j = 0; j < NT; j++) {
                const float *xt = x + (size_t)j * d_in + (size_t)sb * 256 + (size_t)s * 32;
                a[j][0] = _mm512_fmadd_ps(w[0], _mm512_loadu_ps(xt), a[j][0]);
                a[j][1] = _mm512_fmadd_ps(w[1], _mm512_loadu_ps(xt + 16), a[j][1]);
            }
        }
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = _mm512_reduce_add_ps(_mm512_add_ps(a[j][0], a[j][1]));
}

/* Decode's Q6_K rows the same way: the 16 scales d * sc of a super-block in one vector, broadcast per 16 weights;
 * a sub-block's 32 codes less 32 assembled in one ymm (q6_K_codes), widened, converted and scaled: the
 * reference's d * sc * (q - 32) with its rounding. */
static inline __attribute__((always_inline)) void q6_K_rows(float *y, const float *x, const uint8_t *row, int d_in,
                                                            int d_out, int NT)
{
    __m512 a[4][2];
    for (int j = 0; j < NT; j++)
        a[j][0] = a[j][1] = _mm512_setzero_ps();
    for (int sb = 0; sb < d_in / 256; sb++) {
        const uint8_t *b = row + (size_t)sb * 210;
        const __m512 dsc = _mm512_mul_ps(_mm512_set1_ps(f16_load(b + 208)),
                                         _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 192)))));
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) { /* sub-block s: scales 2 s and 2 s + 1 */
            const __m256i c = _mm256_sub_epi8(q6_K_codes(b, s), _mm256_set1_epi8(32));
            const __m512 w0 = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_set1_epi32(2 * s), dsc),
                                            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(c))));
            const __m512 w1 = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_set1_epi32(2 * s + 1), dsc),
                                            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(c, 1))));
            for (int j = 0; j < NT; j++) {
                const float *xt = x + (size_t)j * d_in + (size_t)sb * 256 + (size_t)s * 32;
                a[j][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xt), a[j][0]);
                a[j][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), a[j][1]);
            }
        }
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = _mm512_reduce_add_ps(_mm512_add_ps(a[j][0], a[j][1]));
}

static inline __attribute__((always_inline)) void matmul_kq(float *y, const float *x, const void *w, int sb_bytes,
                                                            int n, int d_in, int d_out, int o0, int o1,
                                                            gemm_block32_fn *load)
{
    const struct block32_matrix m = {w, (size_t)d_in / 256 * sb_bytes};
    if (n >= GEMM_MIN_TOKENS) {
        gemm_blocks32(y, x, n, d_in, d_out, o0, o1, load, &m);
        return;
    }
    for (int o = o0; o < o1; o++)
        for (int t = 0; t < n; t += 4) {
            float *yt = y + (size_t)t * d_out + o;
            const float *xt = x + (size_t)t * d_in;
            const uint8_t *row = m.w + (size_t)o * m.row_bytes;
            const bool five = sb_bytes == 176;
            const int nt = n - t < 4 ? n - t : 4;
            if (sb_bytes == 210) {
                switch (nt) {
                case 4: q6_K_rows(yt, xt, row, d_in, d_out, 4); break;
                case 3: q6_K_rows(yt, xt, row, d_in, d_out, 3); break;
                case 2: q6_K_rows(yt, xt, row, d_in, d_out, 2); break;
                default: q6_K_rows(yt, xt, row, d_in, d_out, 1); break;
                }
                continue;
            }
            switch (nt) {
            case 4: q45_K_lut_rows(yt, xt, row, five, d_in, d_out, 4); break;
            case 3: q45_K_lut_rows(yt, xt, row, five, d_in, d_out, 3); break;
            case 2: q45_K_lut_rows(yt, xt, row, five, d_in, d_out, 2); break;
            default: q45_K_lut_rows(yt, xt, row, five, d_in, d_out, 1); break;
            }
        }
}

void matmul_q4_K_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 144, n, d_in, d_out, o0, o1, q4_K_load);
}
void matmul_q5_K_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 176, n, d_in, d_out, o0, o1, q5_K_load);
}
void matmul_q6_K_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 210, n, d_in, d_out, o0, o1, q6_K_load);
}
