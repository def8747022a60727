/* kquants_avx512.h — the K-quant sub-blocks (Q4_K, Q5_K, Q6_K: 8 sub-blocks of 32 inputs per 256-input
 * super-block) widened to fp32 in registers with the reference dequantizer's operations in its order (the same
 * weights, bit for bit), and the 32-weight blocks (Q4_0, Q4_1, Q5_0, Q5_1) likewise: shared by the block matmuls
 * (ggml_quants_avx512.c) and the bf16-activation GEMM's panel packing (bf16act_avx512.c). Internal to
 * src/kernels; files compiled with AVX-512. */
#ifndef OWL_KQUANTS_AVX512_H
#define OWL_KQUANTS_AVX512_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* The 32-weight blocks. Q4_0 (what `--quant q4_0` makes), like Q8_0: a block's nibbles widened to fp32, minus 8,
 * times d (exact: an 11-bit by 4-bit product, the reference's weight). */
static inline __attribute__((always_inline)) void q4_0_block_f32(const uint8_t *b, __m512 *lo, __m512 *hi)
{
    const __m512 d = _mm512_set1_ps(f16_load(b));
    const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + 2))), eight = _mm512_set1_epi32(8);
    const __m512i l = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(15)), eight);
    const __m512i h = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
    *lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(l));
    *hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(h));
}

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

/* 16 bytes as fp32. */
static inline __m512 u8_f32(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }

/* Sub-block s (0..7) of a Q4_K super-block: d * sc * q - dmin * m. */
static inline __attribute__((always_inline)) void q4_K_sub(const uint8_t *b, int s, __m512 *lo, __m512 *hi)
{
    int sc, m;
    scale_min_k4(s, b + 4, &sc, &m);
    const __m512 d1 = _mm512_set1_ps(f16_load(b) * (float)sc), m1 = _mm512_set1_ps(f16_load(b + 2) * (float)m);
    const uint8_t *q = b + 16 + 32 * (s / 2);
    __m128i q0 = _mm_loadu_si128((const __m128i *)q), q1 = _mm_loadu_si128((const __m128i *)(q + 16));
    const __m128i low = _mm_set1_epi8(0x0f);
    q0 = s & 1 ? _mm_and_si128(_mm_srli_epi16(q0, 4), low) : _mm_and_si128(q0, low);
    q1 = s & 1 ? _mm_and_si128(_mm_srli_epi16(q1, 4), low) : _mm_and_si128(q1, low);
    *lo = _mm512_sub_ps(_mm512_mul_ps(d1, u8_f32(q0)), m1);
    *hi = _mm512_sub_ps(_mm512_mul_ps(d1, u8_f32(q1)), m1);
}

/* Sub-block s of a Q5_K super-block: the nibble plus 16 where bit s of qh[l] is set. */
static inline __attribute__((always_inline)) void q5_K_sub(const uint8_t *b, int s, __m512 *lo, __m512 *hi)
{
    int sc, m;
    scale_min_k4(s, b + 4, &sc, &m);
    const __m512 d1 = _mm512_set1_ps(f16_load(b) * (float)sc), m1 = _mm512_set1_ps(f16_load(b + 2) * (float)m);
    const uint8_t *ql = b + 48 + 32 * (s / 2), *qh = b + 16;
    const __m128i low = _mm_set1_epi8(0x0f), bit = _mm_set1_epi8((char)(1u << s)), sixteen = _mm_set1_epi8(16);
    __m128i q[2];
    for (int h = 0; h < 2; h++) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(ql + 16 * h));
        const __m128i nib = s & 1 ? _mm_and_si128(_mm_srli_epi16(v, 4), low) : _mm_and_si128(v, low);
        const __m128i set = _mm_cmpeq_epi8(_mm_and_si128(_mm_loadu_si128((const __m128i *)(qh + 16 * h)), bit), bit);
        q[h] = _mm_add_epi8(nib, _mm_and_si128(set, sixteen));
    }
    *lo = _mm512_sub_ps(_mm512_mul_ps(d1, u8_f32(q[0])), m1);
    *hi = _mm512_sub_ps(_mm512_mul_ps(d1, u8_f32(q[1])), m1);
}

/* Sub-block s of a Q6_K super-block: half s / 4, quarter p = s % 4 of it (ql's low or high nibbles, qh's bits
 * 2p, 2p + 1), two 16-input scales; d * sc * (q - 32). */
static inline __attribute__((always_inline)) void q6_K_sub(const uint8_t *b, int s, __m512 *lo, __m512 *hi)
{
    const int h = s / 4, p = s % 4;
    const uint8_t *ql = b + 64 * h + 32 * (p & 1), *qh = b + 128 + 32 * h;
    const int8_t *sc = (const int8_t *)(b + 192) + 8 * h + 2 * p;
    const float d = f16_load(b + 208);
    const __m128i low = _mm_set1_epi8(0x0f), two = _mm_set1_epi8(3);
    __m512 out[2];
    for (int k = 0; k < 2; k++) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(ql + 16 * k));
        const __m128i nib = p >= 2 ? _mm_and_si128(_mm_srli_epi16(v, 4), low) : _mm_and_si128(v, low);
        const __m128i hb = _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)(qh + 16 * k)), 2 * p), two);
        const __m128i q = _mm_or_si128(nib, _mm_slli_epi16(hb, 4)); /* 0..63 */
        const __m512i qi = _mm512_sub_epi32(_mm512_cvtepu8_epi32(q), _mm512_set1_epi32(32));
        out[k] = _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[k]), _mm512_cvtepi32_ps(qi));
    }
    *lo = out[0];
    *hi = out[1];
}

/* Sub-block kb % 8 of super-block kb / 8 of row o of a K-quant matrix w with d_in inputs (t: ACT_W_Q4_K, _Q5_K
 * or _Q6_K). */
static inline __attribute__((always_inline)) void kq_block(enum act_bf16_weights t, const void *w, int d_in, int o,
                                                           int kb, __m512 *lo, __m512 *hi)
{
    const size_t sb_bytes = t == ACT_W_Q4_K ? 144 : t == ACT_W_Q5_K ? 176 : 210;
    const uint8_t *b = (const uint8_t *)w + ((size_t)o * (d_in / 256) + (size_t)(kb / 8)) * sb_bytes;
    if (t == ACT_W_Q4_K)
        q4_K_sub(b, kb % 8, lo, hi);
    else if (t == ACT_W_Q5_K)
        q5_K_sub(b, kb % 8, lo, hi);
    else
        q6_K_sub(b, kb % 8, lo, hi);
}

#endif
