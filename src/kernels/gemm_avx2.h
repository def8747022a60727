/* gemm_avx2.h — the AVX2 matmul over widened slices (widen_avx2.c), internal to src/kernels (include only from
 * *_avx2.c files, and from AVX-512 ones for the AVX2 helpers): the weight formats it widens, its entry, and the
 * widening loads, f16 loads, lane masks and sums, K-quant unpacking (scales, codes), and the act q8 rows' group
 * helpers (scale gathers, nibble pairs, integer sums) the AVX2 and AVX-512 files share. */
#ifndef OWL_GEMM_AVX2_H
#define OWL_GEMM_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

enum avx2_format {
    AVX2_Q4_0, AVX2_Q4_1, AVX2_Q5_0, AVX2_Q5_1, AVX2_Q4_K, AVX2_Q5_K, AVX2_Q6_K, /* GGML blocks (reference operations) */
    AVX2_F32, AVX2_BF16, AVX2_F16, AVX2_Q8_0, AVX2_MXFP4, AVX2_MXFP4G, AVX2_FP8,  /* widened with SIMD */
};

/* 8 bf16 or f16 values from p widened to fp32 (exactly). */
static inline __m256 load8_bf16(const void *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p)), 16));
}
static inline __m256 load8_f16(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128(p)); }

/* The f16 at p (unaligned) as fp32 (F16C widens exactly). */
static inline float f16_ld(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* The f16 at p, p + stride, ... for k <= 8 of them (the rest 0) as 8 floats: the scales (or mins) of a group of
 * 8 blocks gathered once (vpinsrw), for kernels that scale a group's blocks with one vector. */
static inline __attribute__((always_inline)) __m256 gather8_f16(const uint8_t *p, int stride, int k)
{
    uint16_t h;
    __m128i v = _mm_setzero_si128();
    if (k == 8) {
#define OWL_INSERT_F16(i) (memcpy(&h, p + (i) * stride, 2), v = _mm_insert_epi16(v, h, i))
        OWL_INSERT_F16(0), OWL_INSERT_F16(1), OWL_INSERT_F16(2), OWL_INSERT_F16(3);
        OWL_INSERT_F16(4), OWL_INSERT_F16(5), OWL_INSERT_F16(6), OWL_INSERT_F16(7);
#undef OWL_INSERT_F16
    } else {
        uint16_t t[8] = {0};
        for (int i = 0; i < k; i++)
            memcpy(&t[i], p + (size_t)i * stride, 2);
        v = _mm_loadu_si128((const __m128i *)t);
    }
    return _mm256_cvtph_ps(v);
}

/* The lanes i < left (all 8 from 8 on; none at 0 or below), for masked loads and stores. */
static inline __m256i mask8(int left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left < 8 ? left : 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The sum of a ymm's 8 lanes. */
static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane k of the result: the sum of d[k]'s 8 int32 lanes (a transposing tree of vphaddd). */
static inline __m256i hsum8x8_epi32(const __m256i d[8])
{
    const __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(d[0], d[1]), _mm256_hadd_epi32(d[2], d[3]));
    const __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(d[4], d[5]), _mm256_hadd_epi32(d[6], d[7]));
    /* u0: d0..d3's sums of lanes 0-3, then of lanes 4-7; u1 the same for d4..d7 */
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* The per-token set-up of a group of k <= 8 blocks at r (bytes apart) from block g, for the act q8 rows of the
 * 32-weight formats: s[j] = d_w * d_x per block (0 past k), and what the integer lanes leave out added to side[j]:
 * -offset * sum(q) * d_w * d_x (the codes' offset) and, with mins (Q4_1/Q5_1, at +2), m_w * d_x * sum(q). */
static inline __attribute__((always_inline)) void group_scales(__m256 *s, __m256 *side, const struct act_q8 *x,
                                                               size_t t0, const uint8_t *r, int bytes, int offset,
                                                               bool has_min, int n_blocks, int g, int k, int NT)
{
    const __m256 dw = gather8_f16(r, bytes, k), mw = has_min ? gather8_f16(r + 2, bytes, k) : _mm256_setzero_ps();
    const __m256i m = mask8(k);
    for (int j = 0; j < NT; j++) {
        const size_t at = (t0 + (size_t)j) * n_blocks + g;
        const __m256 dx = k == 8 ? _mm256_loadu_ps(x->d + at) : _mm256_maskload_ps(x->d + at, m);
        const __m256 sum = _mm256_cvtepi32_ps(k == 8 ? _mm256_loadu_si256((const __m256i *)(x->sum + at))
                                                     : _mm256_maskload_epi32(x->sum + at, m));
        s[j] = _mm256_mul_ps(dw, dx);
        if (offset)
            side[j] = _mm256_fmadd_ps(s[j], _mm256_mul_ps(sum, _mm256_set1_ps((float)-offset)), side[j]);
        if (has_min)
            side[j] = _mm256_fmadd_ps(mw, _mm256_mul_ps(dx, sum), side[j]);
    }
}

/* Whether nt tokens' act q8 activations over n_blocks blocks (32 int8 codes, a scale and a sum each) pass
 * KERN_ROWS_X_BYTES: then the decode rows take several rows per pass (q8_0_avx512.c, kquants_q8_avx512.c). */
static inline bool act_q8_wide(int nt, int n_blocks)
{
    return (size_t)nt * n_blocks * (32 + 2 * sizeof(float)) > KERN_ROWS_X_BYTES;
}

/* The act q8 rows of the 32-weight block formats (q8_0_avx512.c, int8_avx2.c) over the file's group_q8 (k <= 8
 * blocks from block g for NT <= MAX_NT tokens, into two accumulator chains and a side sum per token): R rows
 * (row_bytes apart; R * NT <= MAX_NT) group by group, the whole groups of 8, then the rest; each row's and token's
 * chains and side terms summed at the end (the same operations whatever R and NT are). */
#define DEFINE_ROWS_Q8(MAX_NT)                                                                                 \
    static inline __attribute__((always_inline)) void rows_q8(float *y, const struct act_q8 *x, size_t t0,      \
                                                              const uint8_t *row, size_t row_bytes,             \
                                                              enum b32_format f, int n_blocks, int d_out, int R, \
                                                              int NT)                                           \
    {                                                                                                          \
        __m256 acc[MAX_NT][2], side[MAX_NT];                                                                   \
        for (int j = 0; j < R * NT; j++)                                                                       \
            acc[j][0] = acc[j][1] = side[j] = _mm256_setzero_ps();                                             \
        int g = 0;                                                                                             \
        for (; g + 8 <= n_blocks; g += 8)                                                                      \
            for (int r = 0; r < R; r++)                                                                        \
                group_q8(acc + r * NT, side + r * NT, x, t0, row + r * row_bytes, f, n_blocks, g, 8, NT);       \
        if (g < n_blocks)                                                                                      \
            for (int r = 0; r < R; r++)                                                                        \
                group_q8(acc + r * NT, side + r * NT, x, t0, row + r * row_bytes, f, n_blocks, g, n_blocks - g, NT); \
        for (int r = 0; r < R; r++)                                                                            \
            for (int j = 0; j < NT; j++)                                                                       \
                y[(size_t)j * d_out + r] =                                                                     \
                    hsum8(_mm256_add_ps(_mm256_add_ps(acc[r * NT + j][0], acc[r * NT + j][1]), side[r * NT + j])); \
    }

/* The 8 scales and 8 mins of a Q4_K super-block's 12 packed bytes (get_scale_min_k4), as 8 int32 lanes each:
 * bytes 0-3 hold scales 0-3 and bytes 4-7 mins 0-3 in their low 6 bits; bytes 8-11 the low 4 bits of scales
 * 4-7 (low nibble) and mins 4-7 (high nibble), whose top 2 bits are the top bits of bytes 0-3 and 4-7. Word
 * arithmetic, so no store-and-reload of the lanes. */
static inline void q4_K_scales(const uint8_t *q, __m256i *sc, __m256i *m)
{
    uint32_t u0, u1, u2;
    memcpy(&u0, q, 4), memcpy(&u1, q + 4, 4), memcpy(&u2, q + 8, 4);
    const uint32_t sc_lo = u0 & 0x3f3f3f3fu, m_lo = u1 & 0x3f3f3f3fu;
    const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    *sc = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)((uint64_t)sc_hi << 32 | sc_lo)));
    *m = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)((uint64_t)m_hi << 32 | m_lo)));
}

/* 16 code bytes as 32 nibbles: the low nibbles (lanes 0..15), then the high ones (16..31). */
static inline __m256i nibbles32(const uint8_t *p)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1),
                            _mm256_set1_epi8(0x0f));
}

/* Two blocks' 16 code bytes (at b0 and b1) as nibbles: lo their inputs 0..15 (b0's, then b1's), hi their inputs
 * 16..31; and the two blocks' qh words (bit j: the fifth bit of input j) regrouped the same way. */
static inline void nibbles_pair(const uint8_t *b0, const uint8_t *b1, __m256i *lo, __m256i *hi)
{
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b0)),
                                              _mm_loadu_si128((const __m128i *)b1), 1);
    *lo = _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f));
}
static inline void qh_pair(uint32_t h0, uint32_t h1, uint32_t *lo, uint32_t *hi)
{
    *lo = (h0 & 0xffffu) | h1 << 16;
    *hi = h0 >> 16 | (h1 & 0xffff0000u);
}

/* 0x10 in byte j where bit j of qh is set */
static inline __m256i fifth_bits_u8(uint32_t qh)
{
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                               _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                                                2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

/* A Q4_K/Q5_K super-block b against its 8 activation blocks (scales da, sums sum): returns the sub-blocks'
 * d_a * (d * sc), and adds their min terms d_a * (dmin * m) * sum(q) to *mins, as the reference forms them. */
static inline __attribute__((always_inline)) __m256 q45_K_dsc(const uint8_t *b, const float *da, const int32_t *sum,
                                                             __m256 *mins)
{
    __m256i sc, m;
    q4_K_scales(b + 4, &sc, &m);
    const __m256 a = _mm256_loadu_ps(da);
    const __m256 dm = _mm256_mul_ps(a, _mm256_mul_ps(_mm256_set1_ps(f16_ld(b + 2)), _mm256_cvtepi32_ps(m)));
    *mins = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)sum)), dm, *mins);
    return _mm256_mul_ps(a, _mm256_mul_ps(_mm256_set1_ps(f16_ld(b)), _mm256_cvtepi32_ps(sc)));
}

/* Slice j (0..3) of a Q4_K or Q5_K (five) super-block b: its 32 code bytes as two sub-blocks' unsigned values
 * (low nibbles: sub-block 2j, high: 2j + 1), Q5_K's fifth bits (bits 2j and 2j + 1 of qh[l]) or'ed in. */
static inline __attribute__((always_inline)) void q45_K_slice(const uint8_t *b, int j, int five, __m256i *lo,
                                                             __m256i *hi)
{
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i v = _mm256_loadu_si256((const __m256i *)(b + (five ? 48 : 16) + 32 * j));
    *lo = _mm256_and_si256(v, low), *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    if (five) { /* bit 2j (low) and 2j + 1 (high) of each qh byte moved to bit 4 (16-bit shifts, masked) */
        const __m256i h = _mm256_loadu_si256((const __m256i *)(b + 16)), bit4 = _mm256_set1_epi8(0x10);
        const __m256i l4 = j == 0 ? _mm256_slli_epi16(h, 4) : j == 1 ? _mm256_slli_epi16(h, 2)
                         : j == 2 ? h : _mm256_srli_epi16(h, 2);
        const __m256i h4 = j == 0 ? _mm256_slli_epi16(h, 3) : j == 1 ? _mm256_slli_epi16(h, 1)
                         : j == 2 ? _mm256_srli_epi16(h, 1) : _mm256_srli_epi16(h, 3);
        *lo = _mm256_or_si256(*lo, _mm256_and_si256(l4, bit4));
        *hi = _mm256_or_si256(*hi, _mm256_and_si256(h4, bit4));
    }
}

/* Sub-block s (0..7: half s / 4, quarter s % 4, as dequantize_block_q6_K) of a Q6_K super-block b: its 32 6-bit
 * values (nibble | 2 high bits << 4, 0..63). */
static inline __attribute__((always_inline)) __m256i q6_K_codes(const uint8_t *b, int s)
{
    const int h = s / 4, p = s % 4;
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i v = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32 * (p & 1)));
    const __m256i nib = p >= 2 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), low) : _mm256_and_si256(v, low);
    /* bits 2p, 2p + 1 of each qh byte moved to bits 4, 5 (16-bit shifts: what crosses a byte is masked off) */
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
    const __m256i at45 = p == 0 ? _mm256_slli_epi16(qh, 4) : p == 1 ? _mm256_slli_epi16(qh, 2)
                       : p == 2 ? qh : _mm256_srli_epi16(qh, 2);
    return _mm256_or_si256(nib, _mm256_and_si256(at45, _mm256_set1_epi8(0x30)));
}

/* For the Q6_K act q8 rows: -32 times the sum of each 16 activations of the n_at blocks of x (two per block), the
 * codes' offset share per half-block; NULL when out of memory (the caller frees it). */
static inline float *q6_K_half_sums(const struct act_q8 *x, size_t n_at)
{
    float *half = malloc(n_at * 2 * sizeof(float) + 1); /* + 1: never a zero-byte request */
    if (!half)
        return NULL;
    for (size_t at = 0; at < n_at; at++) {
        const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)(x->q + at * 32)));
        const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); /* lanes 0-3: inputs 0..15 */
        const __m128i h = _mm_hadd_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
        const __m128i hh = _mm_hadd_epi32(h, h); /* (first half, second half, the same again) */
        half[at * 2] = -32.0f * (float)_mm_cvtsi128_si32(hh);
        half[at * 2 + 1] = -32.0f * (float)_mm_extract_epi32(hh, 1);
    }
    return half;
}

#define AVX2_GEMM_MIN 8 /* tokens from which the prefill GEMM runs */

/* A matmul_fn (scales: MXFP4's E8M0 bytes or FP8's fp32 grid, else NULL): decode rows below AVX2_GEMM_MIN tokens
 * (row-exact), the GEMM from there. */
void matmul_widen_avx2(enum avx2_format f, float *y, const float *x, const void *w, const void *scales, int n,
                       int d_in, int d_out, int o0, int o1);

#endif
