/* int8_avx2.c — the act q8 mode's integer kernels for CPUs with AVX2 but no AVX512-VNNI (same math as their
 * references: the 32-weight block formats' (Q8_0 included) and the K-quants' in ggml_quants.c,
 * matmul_mxfp4_q8_ref (mxfp4.c); only the float summation order differs). Without vpdpbusd, a block's weights
 * as unsigned bytes go against the signed activations with vpmaddubsw (pairs to int16, never saturating here:
 * at most 2 * 128 * 127) and vpmaddwd against ones (to int32 lanes), the lanes converted and accumulated with
 * the block's scales, formed first as the references form them. Each token's arithmetic is independent of the
 * others (row-exact for every n). */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_avx2.h"
#include "kernels/kernels.h"

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The exact int32 dot products of 32 unsigned bytes u and 32 signed bytes q, 4 products per lane. */
static inline __m256i dot_u8_s8(__m256i u, __m256i q)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, q), _mm256_set1_epi16(1));
}

/* The act q8 mode over Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 weights (same math as matmul_q8_0_q8_ref and
 * matmul_q4_0_q8_ref...): Q8_0's |w| (unsigned) against q with w's sign (vpsignb), the others' codes as stored
 * (unsigned: nibbles, Q5's fifth bits from qh spread to bytes by a shuffle and compare) against q: exact int32
 * lanes, converted and accumulated with d_w * d_x. As the AVX-512 kernel, rows go in groups of 8 blocks: the 8
 * weight scales (and Q4_1/Q5_1's mins) gathered once and multiplied by the token's 8 activation scales at once;
 * the codes' offset (Q4_0 8, Q5_0 16) takes -offset * sum(q) * d_w * d_x back and Q4_1/Q5_1 add m_w * d_x * sum(q)
 * as 8-wide FMAs per group; the nibble formats two blocks per step (their int16 pair sums of both halves added
 * before one vpmaddwd). A row is streamed once for up to 2 tokens. */
static const int b32_offset[] = {0, 8, 0, 16, 0}; /* Q8_0: signed through vpsignb */

/* k (<= 8) blocks from block g of `row` for NT tokens. */
static inline __attribute__((always_inline)) void group_q8(__m256 acc[2][2], __m256 side[2], const struct act_q8 *x,
                                                           size_t t0, const uint8_t *row, enum b32_format f,
                                                           int n_blocks, int g, int k, int NT)
{
    const int bytes = b32_bytes(f), offset = b32_offset[f], qs = b32_codes_at(f);
    const bool has_min = f == B32_Q4_1 || f == B32_Q5_1;
    const uint8_t *r = row + (size_t)g * bytes;
    __m256 s[2];
    group_scales(s, side, x, t0, r, bytes, offset, has_min, n_blocks, g, k, NT);
    int i0 = 0;
    if (f != B32_Q8_0) /* the nibble formats two blocks at a time, as the AVX-512 rows (q8_0_avx512.c) */
        _Pragma("GCC unroll 4") for (; i0 + 2 <= k; i0 += 2) {
            const uint8_t *b = r + (size_t)i0 * bytes;
            __m256i lo, hi;
            nibbles_pair(b + qs, b + bytes + qs, &lo, &hi);
            if (f == B32_Q5_0 || f == B32_Q5_1) {
                uint32_t h0, h1, mlo, mhi;
                memcpy(&h0, b + qs - 4, 4);
                memcpy(&h1, b + bytes + qs - 4, 4);
                qh_pair(h0, h1, &mlo, &mhi);
                lo = _mm256_or_si256(lo, fifth_bits_u8(mlo));
                hi = _mm256_or_si256(hi, fifth_bits_u8(mhi));
            }
            const __m256i lanes = _mm256_setr_epi32(i0, i0, i0, i0, i0 + 1, i0 + 1, i0 + 1, i0 + 1);
            for (int j = 0; j < NT; j++) {
                const int8_t *q = x->q + ((t0 + (size_t)j) * n_blocks + g + i0) * 32;
                const __m256i q0 = _mm256_loadu_si256((const __m256i *)q), q1 = _mm256_loadu_si256((const __m256i *)(q + 32));
                /* the int16 pair sums of both halves stay within 4 * 31 * 127 */
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_permute2x128_si256(q0, q1, 0x20)),
                                                   _mm256_maddubs_epi16(hi, _mm256_permute2x128_si256(q0, q1, 0x31)));
                const __m256i dot = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
                acc[j][(i0 >> 1) & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_permutevar8x32_ps(s[j], lanes),
                                                        acc[j][(i0 >> 1) & 1]);
            }
        }
    _Pragma("GCC unroll 8") for (int i = i0; i < k; i++) {
        const uint8_t *b = r + (size_t)i * bytes;
        __m256i w, u;
        if (f == B32_Q8_0) {
            w = _mm256_loadu_si256((const __m256i *)(b + 2));
            u = _mm256_abs_epi8(w);
        } else {
            w = u = nibbles32(b + qs);
            if (f == B32_Q5_0 || f == B32_Q5_1) {
                uint32_t qh;
                memcpy(&qh, b + qs - 4, 4);
                u = _mm256_or_si256(u, fifth_bits_u8(qh));
            }
        }
        const __m256i lane = _mm256_set1_epi32(i);
        for (int j = 0; j < NT; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x->q + ((t0 + (size_t)j) * n_blocks + g + i) * 32));
            if (f == B32_Q8_0)
                q = _mm256_sign_epi8(q, w);
            acc[j][i & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8_s8(u, q)), _mm256_permutevar8x32_ps(s[j], lane),
                                            acc[j][i & 1]);
        }
    }
}

DEFINE_ROWS_Q8(2)

static inline __attribute__((always_inline)) void matmul_b32_q8(float *y, const struct act_q8 *x, const void *w,
                                                                enum b32_format f, int n, int d_in, int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    const size_t row_bytes = (size_t)n_blocks * b32_bytes(f);
    for (int t = 0; t < n; t += 2)
        for (int o = o0; o < o1; o++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;
            if (n - t >= 2)
                rows_q8(y + (size_t)t * d_out + o, x, (size_t)t, row, 0, f, n_blocks, d_out, 1, 2);
            else
                rows_q8(y + (size_t)t * d_out + o, x, (size_t)t, row, 0, f, n_blocks, d_out, 1, 1);
        }
}

DEFINE_B32_Q8_KERNELS(avx2)

/* MXFP4, either layout (hf: codes w with E8M0 scales; else GGML's 17-byte blocks): a block's codes looked up as
 * 2 * e2m1 (signed integers in [-12, 12]: vpshufb), |2 e2m1| against q with the code's sign, the scale 2^(s - 128)
 * of the doubled values. Rows go in groups of 8 blocks: the 8 scale bytes made into 2^(s - 128) at once (the
 * bits of mxfp4_half_scale_bits: (s - 1) << 23, or 2^-128 << s for s < 2) and multiplied by the token's 8
 * activation scales in one multiply (the products the reference forms), kept on the stack so that each block's is
 * one broadcast load (a lane permute per block and token cost more); a block's 16 code bytes broadcast to both
 * halves and the upper one shifted to its high nibbles (one load, one shift, one mask). 1.71 -> 1.43 ns per block
 * for one token on one core (2880-input rows in L2), 1.16 -> 0.99 for two. (Codes offset to unsigned, 2 e2m1 + 12,
 * with 12 sum(q) taken back per group, ran 1.36: its two large terms overflow or lose the subnormal scales that
 * the reference keeps.) A row is streamed once for up to 2 tokens (prefill: the token pairs pass over 16 rows at a
 * time, no GEMM). */
static inline __attribute__((always_inline)) __m256 half_scales8(const uint8_t *p, int stride, int k)
{
    uint64_t b = 0;
    if (stride == 1 && k == 8)
        memcpy(&b, p, 8);
    else
        for (int i = 0; i < k; i++)
            b |= (uint64_t)p[(size_t)i * stride] << (8 * i);
    const __m256i e = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)b));
    const __m256i big = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i tiny = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(big, tiny, _mm256_cmpgt_epi32(_mm256_set1_epi32(2), e)));
}

static inline __attribute__((always_inline)) void mxfp4_group(__m256 a[2][2], const struct act_q8 *x, size_t t0,
                                                              const uint8_t *wb, const uint8_t *ws, bool hf,
                                                              int n_blocks, int g, int k, int NT)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12,
                                         0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m256 e = hf ? half_scales8(ws + g, 1, k) : half_scales8(wb + (size_t)g * 17, 17, k);
    const __m256i m = mask8(k);
    float st[2][8]; /* each block's scale broadcast from here (a load) rather than permuted out of a register */
    for (int j = 0; j < NT; j++) {
        const size_t at = (t0 + (size_t)j) * n_blocks + g;
        _mm256_storeu_ps(st[j], _mm256_mul_ps(_mm256_maskload_ps(x->d + at, m), e));
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < k; i++) {
        const int b = g + i;
        /* the block's 16 code bytes in both halves, the upper half shifted to its high nibbles: low nibbles then
         * high ones (nibbles32's order) in three operations */
        const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(
            (const __m128i *)(hf ? wb + (size_t)b * 16 : wb + (size_t)b * 17 + 1)));
        const __m256i w = _mm256_shuffle_epi8(
            lut, _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0f)));
        const __m256i u = _mm256_abs_epi8(w);
        for (int j = 0; j < NT; j++) {
            const size_t at = (t0 + (size_t)j) * n_blocks + b;
            const __m256i q = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(x->q + at * 32)), w);
            a[j][i & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8_s8(u, q)), _mm256_broadcast_ss(&st[j][i]),
                                          a[j][i & 1]);
        }
    }
}

static inline __attribute__((always_inline)) void mxfp4_rows(float *y, const struct act_q8 *x, size_t t0,
                                                             const uint8_t *wb, const uint8_t *ws, bool hf,
                                                             int n_blocks, int d_out, int NT)
{
    __m256 a[2][2];
    for (int j = 0; j < NT; j++)
        a[j][0] = a[j][1] = _mm256_setzero_ps();
    int g = 0;
    for (; g + 8 <= n_blocks; g += 8)
        mxfp4_group(a, x, t0, wb, ws, hf, n_blocks, g, 8, NT);
    if (g < n_blocks)
        mxfp4_group(a, x, t0, wb, ws, hf, n_blocks, g, n_blocks - g, NT);
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = hsum8(_mm256_add_ps(a[j][0], a[j][1]));
}

void matmul_mxfp4_q8_avx2(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                          int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    const bool hf = scales != NULL;
    const size_t row_bytes = hf ? (size_t)d_in / 2 : (size_t)n_blocks * 17;
    for (int c0 = o0; c0 < o1; c0 += 16) { /* 16 rows stay in L1/L2 across the token pairs (prefill) */
        const int c1 = c0 + 16 < o1 ? c0 + 16 : o1;
        for (int t = 0; t < n; t += 2)
            for (int o = c0; o < c1; o++) {
                const uint8_t *wb = (const uint8_t *)w + (size_t)o * row_bytes;
                const uint8_t *ws = hf ? (const uint8_t *)scales + (size_t)o * n_blocks : NULL;
                if (n - t >= 2)
                    mxfp4_rows(y + (size_t)t * d_out + o, x, (size_t)t, wb, ws, hf, n_blocks, d_out, 2);
                else
                    mxfp4_rows(y + (size_t)t * d_out + o, x, (size_t)t, wb, ws, hf, n_blocks, d_out, 1);
            }
    }
}

/* MXFP4 slabs (mxfp4_to_slabs: 16 rows a block, each group of 4 code bytes as a row per 32-bit lane), as the VBMI
 * slab kernel but in two halves of 8 rows: a group's low and high nibbles looked up (vpshufb) as 2 * e2m1 + 12,
 * unsigned and at most 24, so vpmaddubsw against the token's 4 activations broadcast never saturates (2 * 24 * 127);
 * the low and high pairs added in int16 (at most 12192), vpmaddwd to int32, the lanes seeded with -12 * sum(q): each
 * row's block sum exact in integers, then one conversion and d * 2^(s - 128) (the rows kernel's scale, the
 * reference's product) per half and token. Up to 4 tokens share the lookups; a token's arithmetic is the same in
 * any group (row-exact). o0 and o1 multiples of 16. */
/* NT tokens against halves h0 .. h0 + H - 1 (8 rows each) of a slab in one pass over its blocks. */
static inline __attribute__((always_inline)) void slab_pass_avx2(float *y, const struct act_q8 *x, size_t t0,
                                                                 const uint8_t *codes, const uint8_t *scales,
                                                                 size_t cs, size_t ss, int n_blocks, int d_out, int h0,
                                                                 int H, int NT)
{
    const __m256i lut = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0,
                                         12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
    const __m256i low = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 a[4][2];
    for (int j = 0; j < NT; j++)
        for (int h = 0; h < H; h++)
            a[j][h] = _mm256_setzero_ps();
    for (int b = 0; b < n_blocks; b++) {
        const uint8_t *u = codes + (size_t)b * cs;
        __m256i acc[4][2];
        for (int j = 0; j < NT; j++)
            for (int h = 0; h < H; h++)
                acc[j][h] = _mm256_set1_epi32(-12 * x->sum[(t0 + (size_t)j) * n_blocks + b]);
        for (int c = 0; c < 4; c++) {
            __m256i ql[4], qh[4];
            for (int j = 0; j < NT; j++) {
                const uint8_t *q = (const uint8_t *)x->q + ((t0 + (size_t)j) * n_blocks + b) * 32 + 4 * c;
                ql[j] = _mm256_set1_epi32((int)load32(q));
                qh[j] = _mm256_set1_epi32((int)load32(q + 16));
            }
            for (int h = 0; h < H; h++) {
                const __m256i g = _mm256_loadu_si256((const __m256i *)(u + 64 * c + 32 * (h0 + h)));
                const __m256i ulo = _mm256_shuffle_epi8(lut, _mm256_and_si256(g, low));
                const __m256i uhi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(g, 4), low));
                for (int j = 0; j < NT; j++) {
                    const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(ulo, ql[j]), _mm256_maddubs_epi16(uhi, qh[j]));
                    acc[j][h] = _mm256_add_epi32(acc[j][h], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        for (int h = 0; h < H; h++) {
            const __m256 e = half_scales8(scales + (size_t)b * ss + 8 * (h0 + h), 1, 8);
            for (int j = 0; j < NT; j++)
                a[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[j][h]),
                                          _mm256_mul_ps(_mm256_set1_ps(x->d[(t0 + (size_t)j) * n_blocks + b]), e), a[j][h]);
        }
    }
    for (int j = 0; j < NT; j++)
        for (int h = 0; h < H; h++)
            _mm256_storeu_ps(y + (size_t)j * d_out + 8 * (h0 + h), a[j][h]);
}

/* Up to 4 tokens against one slab: 1 or 2 with both halves of 8 rows in one pass (decode: 0.54 ns per block against
 * 0.62 in two), 3 or 4 with each half in its own pass (the slab stays in L1 between them), so that their
 * accumulators fit AVX2's 16 registers (0.42 against 0.48 per block and token at 3). */
static inline __attribute__((always_inline)) void slab_tokens_avx2(float *y, const struct act_q8 *x, size_t t0,
                                                                   const uint8_t *codes, const uint8_t *scales,
                                                                   size_t cs, size_t ss, int n_blocks, int d_out,
                                                                   int NT)
{
    if (NT <= 2) {
        slab_pass_avx2(y, x, t0, codes, scales, cs, ss, n_blocks, d_out, 0, 2, NT);
        return;
    }
    slab_pass_avx2(y, x, t0, codes, scales, cs, ss, n_blocks, d_out, 0, 1, NT);
    slab_pass_avx2(y, x, t0, codes, scales, cs, ss, n_blocks, d_out, 1, 1, NT);
}

void matmul_mxfp4s_q8_avx2(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                           int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    for (int o = o0; o < o1; o += 16) {
        const uint8_t *codes = scales ? (const uint8_t *)w + (size_t)o * n_blocks * 16
                                      : (const uint8_t *)w + (size_t)o * n_blocks * 17 + 16;
        const uint8_t *sc = scales ? (const uint8_t *)scales + (size_t)o * n_blocks
                                   : (const uint8_t *)w + (size_t)o * n_blocks * 17;
        const size_t cs = scales ? 256 : MXFP4_SLAB_BLOCK, ss = scales ? 16 : MXFP4_SLAB_BLOCK;
        for (int t = 0; t < n; t += 4) {
            float *yt = y + (size_t)t * d_out + o;
            switch (n - t < 4 ? n - t : 4) {
            case 4: slab_tokens_avx2(yt, x, (size_t)t, codes, sc, cs, ss, n_blocks, d_out, 4); break;
            case 3: slab_tokens_avx2(yt, x, (size_t)t, codes, sc, cs, ss, n_blocks, d_out, 3); break;
            case 2: slab_tokens_avx2(yt, x, (size_t)t, codes, sc, cs, ss, n_blocks, d_out, 2); break;
            default: slab_tokens_avx2(yt, x, (size_t)t, codes, sc, cs, ss, n_blocks, d_out, 1); break;
            }
        }
    }
}

/* Q4_K, or Q5_K (five: the fifth bit of slice j's low nibbles is bit 2j of qh[l], of its high nibbles bit 2j + 1):
 * a 32-byte nibble slice is two sub-blocks (low nibbles, then high), each against its activation block; the
 * super-block's 8 sub-blocks' lanes summed into one vector of exact integers (hsum8x8_epi32), converted once and
 * accumulated with the 8 scales d_a * (d * sc) in one FMA; the min term d_a * (dmin * m) * sum(q) one 8-wide FMA
 * per super-block. */
static inline __attribute__((always_inline)) float q45_K_row(const struct act_q8 *x, size_t at0, const uint8_t *row,
                                                             int n_sb, bool five)
{
    const int sb_bytes = five ? 176 : 144;
    __m256 acc = _mm256_setzero_ps(), mins = _mm256_setzero_ps();
    for (int sb = 0; sb < n_sb; sb++) {
        const uint8_t *b = row + (size_t)sb * sb_bytes;
        const size_t at = at0 + (size_t)sb * 8;
        const __m256 dsc = q45_K_dsc(b, x->d + at, x->sum + at, &mins);
        __m256i dot[8];
        for (int j = 0; j < 4; j++) {
            __m256i q[2];
            q45_K_slice(b, j, five, &q[0], &q[1]);
            for (int k = 0; k < 2; k++)
                dot[2 * j + k] = dot_u8_s8(q[k], _mm256_loadu_si256((const __m256i *)(x->q + (at + 2 * (size_t)j + k) * 32)));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x8_epi32(dot)), dsc, acc);
    }
    return hsum8(_mm256_sub_ps(acc, mins));
}

/* Q6_K: a sub-block's 6-bit values q (nibble | 2 high bits << 4) against its activation block (vpmaddubsw: the
 * int16 pair sums of q * a stay within 2 * 63 * 127); lanes 0-3 and 4-7 are the two 16-value halves, each with
 * its own scale. As the AVX-512 kernel: the 16 scales d * sc times their blocks' activation scales once per
 * super-block, and the offset's share -32 * sum(a) * scale (half[]: -32 times each half's activation sum,
 * once per call) as 8-wide FMAs per super-block. */
static float q6_K_row(const struct act_q8 *x, const float *half, size_t at0, const uint8_t *row, int n_sb)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), side = _mm256_setzero_ps();
    for (int sb = 0; sb < n_sb; sb++) {
        const uint8_t *b = row + (size_t)sb * 210;
        const size_t at = at0 + (size_t)sb * 8;
        const __m256 d = _mm256_set1_ps(f16_ld(b + 208)), da = _mm256_loadu_ps(x->d + at);
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)(b + 192));
        /* scale i (0..15) of half i, activation block i / 2 */
        const __m256 s[2] = {
            _mm256_mul_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8))),
                          _mm256_permutevar8x32_ps(da, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3))),
            _mm256_mul_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc8, 8)))),
                          _mm256_permutevar8x32_ps(da, _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7)))};
        side = _mm256_fmadd_ps(s[0], _mm256_loadu_ps(half + at * 2), side);
        side = _mm256_fmadd_ps(s[1], _mm256_loadu_ps(half + at * 2 + 8), side);
        for (int sub = 0; sub < 8; sub++) {
            const __m256i q = q6_K_codes(b, sub);
            const __m256i a = _mm256_loadu_si256((const __m256i *)(x->q + (at + sub) * 32));
            const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), ones);
            /* lanes 0-3: scale 2 sub, lanes 4-7: 2 sub + 1 */
            const int k = 2 * sub % 8;
            const __m256 scale = _mm256_permutevar8x32_ps(s[sub / 4], _mm256_setr_epi32(k, k, k, k, k + 1, k + 1, k + 1, k + 1));
            if (sub & 1)
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc1);
            else
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc0);
        }
    }
    return hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), side));
}

/* dtype 4: Q4_K, 5: Q5_K, 6: Q6_K */
static inline __attribute__((always_inline)) void matmul_kq(float *y, const struct act_q8 *x, const void *w, int kind,
                                                            int n, int d_in, int d_out, int o0, int o1)
{
    const int n_sb = d_in / 256, n_blocks = d_in / 32, sb_bytes = kind == 4 ? 144 : kind == 5 ? 176 : 210;
    const size_t n_at = (size_t)n * n_blocks;
    float *half = NULL;
    if (kind == 6 && !(half = q6_K_half_sums(x, n_at))) { /* the reference: same numbers up to rounding */
        matmul_q6_K_q8_ref(y, x, w, n, d_in, d_out, o0, o1);
        return;
    }
    for (int o = o0; o < o1; o++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)o * n_sb * sb_bytes;
        for (int t = 0; t < n; t++)
            y[(size_t)t * d_out + o] = kind == 6 ? q6_K_row(x, half, (size_t)t * n_blocks, row, n_sb)
                                                 : q45_K_row(x, (size_t)t * n_blocks, row, n_sb, kind == 5);
    }
    free(half);
}

void matmul_q4_K_q8_avx2(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 4, n, d_in, d_out, o0, o1);
}

void matmul_q5_K_q8_avx2(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 5, n, d_in, d_out, o0, o1);
}

void matmul_q6_K_q8_avx2(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_kq(y, x, w, 6, n, d_in, d_out, o0, o1);
}
