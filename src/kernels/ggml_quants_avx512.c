/* ggml_quants_avx512.c — AVX-512 matmuls over the GGML block formats of ggml_quants.c (same contract as the
 * references). Every format widens in registers like Q8_0, 32 inputs at a time with its reference
 * dequantizer's operations (so the same weights), then decode rows for up to 4 tokens and prefill panels for
 * the GEMM micro-kernel: Q4_0 (what `--quant q4_0` makes), Q4_1, Q5_0, Q5_1 through matmul_block32, the
 * K-quants through their sub-block loaders; only the summation order differs from the references. (The act
 * q8 mode's integer products are in q8_0_avx512.c and kquants_q8_avx512.c.) */
#include <immintrin.h>
#include <string.h>

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

/* Q4_0 (what `--quant q4_0` makes) in registers, like Q8_0: a block's nibbles widened to fp32, minus 8,
 * times d (exact: an 11-bit by 4-bit product, the reference's weight); decode streams each row once for up
 * to 4 tokens (row-exact), prefill runs the shared GEMM micro-kernel (gemm_blocks32). */
static inline __attribute__((always_inline)) void q4_0_block_f32(const uint8_t *b, __m512 *lo, __m512 *hi)
{
    const __m512 d = _mm512_set1_ps(f16_load(b));
    const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + 2))), eight = _mm512_set1_epi32(8);
    const __m512i l = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(15)), eight);
    const __m512i h = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
    *lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(l));
    *hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(h));
}

BLOCK32_MATMUL(q4_0, 18)

/* Q4_1, Q5_0, Q5_1 the same way (the reference dequantizer's operations: q * d + m, (q - 16) * d): a block's
 * 16 code bytes widened to 32-bit lanes, the fifth bits (bit j of the block's 32-bit qh for weight j) shifted
 * into place per lane. */
static inline __m512i low_nibbles(const uint8_t *q)
{
    return _mm512_and_si512(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)q)), _mm512_set1_epi32(15));
}
static inline __m512i high_nibbles(const uint8_t *q)
{
    return _mm512_srli_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)q)), 4);
}
/* 16 (bit j of qh, j = shift .. shift + 15) << 4 lanes. */
static inline __m512i fifth_bits(uint32_t qh, int shift)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_slli_epi32(_mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)(qh >> shift)), iota),
                                              _mm512_set1_epi32(1)), 4);
}

static inline __attribute__((always_inline)) void q4_1_block_f32(const uint8_t *b, __m512 *lo, __m512 *hi)
{
    const __m512 d = _mm512_set1_ps(f16_load(b)), m = _mm512_set1_ps(f16_load(b + 2));
    *lo = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(low_nibbles(b + 4)), d), m);
    *hi = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(high_nibbles(b + 4)), d), m);
}

static inline __attribute__((always_inline)) void q5_0_block_f32(const uint8_t *b, __m512 *lo, __m512 *hi)
{
    const __m512 d = _mm512_set1_ps(f16_load(b));
    const __m512i sixteen = _mm512_set1_epi32(16);
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    const __m512i l = _mm512_sub_epi32(_mm512_or_si512(low_nibbles(b + 6), fifth_bits(qh, 0)), sixteen);
    const __m512i h = _mm512_sub_epi32(_mm512_or_si512(high_nibbles(b + 6), fifth_bits(qh, 16)), sixteen);
    *lo = _mm512_mul_ps(_mm512_cvtepi32_ps(l), d);
    *hi = _mm512_mul_ps(_mm512_cvtepi32_ps(h), d);
}

static inline __attribute__((always_inline)) void q5_1_block_f32(const uint8_t *b, __m512 *lo, __m512 *hi)
{
    const __m512 d = _mm512_set1_ps(f16_load(b)), m = _mm512_set1_ps(f16_load(b + 2));
    uint32_t qh;
    memcpy(&qh, b + 4, 4);
    const __m512i l = _mm512_or_si512(low_nibbles(b + 8), fifth_bits(qh, 0));
    const __m512i h = _mm512_or_si512(high_nibbles(b + 8), fifth_bits(qh, 16));
    *lo = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(l), d), m);
    *hi = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(h), d), m);
}

BLOCK32_MATMUL(q4_1, 20)
BLOCK32_MATMUL(q5_0, 22)
BLOCK32_MATMUL(q5_1, 24)

/* K-quants (Q4_K, Q5_K, Q6_K: 256-input super-blocks) in registers, 32 inputs at a time: sub-block kb of a row
 * widened to fp32 with the reference dequantizer's operations in its order (so the same weights), then the
 * same drivers as Q4_0: decode streams each row once for up to 4 tokens (row-exact), prefill packs 16 rows'
 * panels for the GEMM micro-kernel (gemm_blocks32). Before, each super-block went through the scalar
 * dequantizer per row and group of 4 tokens. */
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

/* Sub-block s (0..7) of the super-block at b as fp32: inputs 0..15 (lo) and 16..31 (hi). */
typedef void kq_sub_fn(const uint8_t *b, int s, __m512 *lo, __m512 *hi);

/* Decode: row o against NT tokens, two accumulator chains per token (each sub-block's halves). The 8
 * sub-blocks of a super-block unrolled, so each one's scale unpacking is resolved at compile time. */
static inline __attribute__((always_inline)) void kq_rows(float *y, const float *x, const struct block32_matrix *m,
                                                          int sb_bytes, int o, int d_in, int d_out, int NT,
                                                          kq_sub_fn *sub)
{
    __m512 a[4][2];
    for (int j = 0; j < NT; j++)
        a[j][0] = a[j][1] = _mm512_setzero_ps();
    const uint8_t *row = m->w + (size_t)o * m->row_bytes;
    for (int sb = 0; sb < d_in / 256; sb++)
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) {
            __m512 lo, hi;
            sub(row + (size_t)sb * sb_bytes, s, &lo, &hi);
            for (int j = 0; j < NT; j++) {
                const float *xt = x + (size_t)j * d_in + (size_t)sb * 256 + (size_t)s * 32;
                a[j][0] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xt), a[j][0]);
                a[j][1] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xt + 16), a[j][1]);
            }
        }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = _mm512_reduce_add_ps(_mm512_add_ps(a[j][0], a[j][1]));
}

static inline __attribute__((always_inline)) void matmul_kq(float *y, const float *x, const void *w, int sb_bytes,
                                                            int n, int d_in, int d_out, int o0, int o1,
                                                            gemm_block32_fn *load, kq_sub_fn *sub)
{
    const struct block32_matrix m = {w, (size_t)d_in / 256 * sb_bytes};
    if (n >= GEMM_MIN_TOKENS) {
        for (int g = o0; g < o1; g += 16)
            gemm_blocks32(y, x, n, d_in, d_out, g, g + 16 < o1 ? g + 16 : o1, load, &m);
        return;
    }
    for (int o = o0; o < o1; o++)
        for (int t = 0; t < n; t += 4) {
            float *yt = y + (size_t)t * d_out + o;
            const float *xt = x + (size_t)t * d_in;
            switch (n - t < 4 ? n - t : 4) {
            case 4: kq_rows(yt, xt, &m, sb_bytes, o, d_in, d_out, 4, sub); break;
            case 3: kq_rows(yt, xt, &m, sb_bytes, o, d_in, d_out, 3, sub); break;
            case 2: kq_rows(yt, xt, &m, sb_bytes, o, d_in, d_out, 2, sub); break;
            default: kq_rows(yt, xt, &m, sb_bytes, o, d_in, d_out, 1, sub); break;
            }
        }
}

void matmul_q4_K_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 144, n, d_in, d_out, o0, o1, q4_K_load, q4_K_sub);
}
void matmul_q5_K_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 176, n, d_in, d_out, o0, o1, q5_K_load, q5_K_sub);
}
void matmul_q6_K_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 210, n, d_in, d_out, o0, o1, q6_K_load, q6_K_sub);
}
