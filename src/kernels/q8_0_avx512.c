/* q8_0_avx512.c — AVX-512 Q8_0 matmul (same contract as matmul_q8_0_ref). Each block's 32 int8 are
 * widened to fp32 in registers and multiplied by the block scale before the FMA, exactly the reference's
 * products; only the summation order differs. Fewer than GEMM_MIN_TOKENS tokens stream each row once for up to 4 tokens, row-exact; prefill runs
 * the GEMM micro-kernel. */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx2.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* Prefill (gemm_blocks32): block kb of row `row` of the matrix. */
static inline __attribute__((always_inline)) void panel_block(const void *ctx, int row, int kb, __m512 *lo, __m512 *hi)
{
    const struct block32_matrix *m = ctx;
    q8_0_block_f32(m->w + (size_t)row * m->row_bytes + (size_t)kb * Q8_0_BLOCK_BYTES, lo, hi);
}

void matmul_q8_0_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_block32(y, x, w, Q8_0_BLOCK_BYTES, n, d_in, d_out, o0, o1, q8_0_block_f32, panel_block);
}

/* The act q8 mode over Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 weights (same math as matmul_q8_0_q8_ref and
 * matmul_q4_0_q8_ref...; only the float rounding differs): a block's 32 weights become unsigned bytes
 * c + offset (Q8_0: the sign bit flipped, offset 128; the others their codes as stored, nibbles with Q5's fifth
 * bit or'ed in from qh by a mask move: q - 8 + 8, q - 16 + 16, q + 0), and one vpdpbusd against the token's
 * int8 activations gives 8 exact int32 lane sums of (c + offset) * q, converted and accumulated with the
 * block's d_w * d_x. Rows go in groups of 8 blocks: the 8 weight scales (and Q4_1/Q5_1's 8 mins) are
 * gathered into one vector once per group and multiplied by the token's 8 activation scales at once, and
 * the offset's share, -offset * sum(q) * d_w * d_x, and Q4_1/Q5_1's m_w * d_x * sum(q) are added per group
 * as 8-wide FMAs beside the lanes (so each block costs the load, one vpdpbusd, one conversion, one lane
 * permute and one FMA; per-block scalar scale and seed work was most of the old kernel's time). A whole group
 * of 8 Q8_0 blocks goes further: its 8 vpdpbusd results are summed lane-wise into the 8 blocks' exact integer
 * sums (a vphaddd tree), the offset taken off in integers, then one conversion and one FMA for the 8 blocks
 * (one thread, rows in L2: 0.85 -> 0.77 ns a block; decode from memory in the fast minutes, 28 layers' worth
 * of each Qwen3-0.6B shape: 76 -> 83% of the probe at 1024 x 4096, 78 -> 84% at 1024 x 6144, 79 -> 87% for
 * the head; docs/BENCHMARKS.md). The nibble
 * formats take two blocks per step (pair_u8: one unpacking for both, their activations regrouped by halves),
 * one conversion, permute and FMA for the two (Q4_0 1.04 -> 0.97, Q5_0 1.25 -> 1.13 ns per block on one core).
 * Each row is streamed once for up to 4 tokens, and a token's arithmetic does not depend on the others
 * (row-exact). */
static const int b32_offset[] = {128, 8, 0, 16, 0};

static inline __attribute__((always_inline)) __m256i block_u8(const uint8_t *b, enum b32_format f)
{
    if (f == B32_Q8_0)
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_epi8((char)0x80));
    const int qs = b32_codes_at(f);
    const __m128i v = _mm_loadu_si128((const __m128i *)(b + qs)); /* low nibbles: inputs 0..15, high: 16..31 */
    __m256i u = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1),
                                 _mm256_set1_epi8(0x0f));
    if (f == B32_Q5_0 || f == B32_Q5_1) { /* bit j of qh is the fifth bit of input j */
        uint32_t qh;
        memcpy(&qh, b + qs - 4, 4);
        u = _mm256_or_si256(u, _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(0x10)));
    }
    return u;
}

/* Two consecutive blocks of a nibble format as unsigned bytes: lo their inputs 0..15 (the first block's, then
 * the second's), hi their inputs 16..31; a token's two activation blocks meet them regrouped the same way
 * (vperm2i128), so one vpdpbusd pair fills lanes 0-3 with the first block's exact sum and 4-7 with the second's. */
static inline __attribute__((always_inline)) void pair_u8(const uint8_t *b, enum b32_format f, __m256i *lo, __m256i *hi)
{
    const int qs = b32_codes_at(f), bytes = b32_bytes(f);
    nibbles_pair(b + qs, b + bytes + qs, lo, hi);
    if (f == B32_Q5_0 || f == B32_Q5_1) {
        uint32_t h0, h1, mlo, mhi;
        memcpy(&h0, b + qs - 4, 4);
        memcpy(&h1, b + bytes + qs - 4, 4);
        qh_pair(h0, h1, &mlo, &mhi);
        const __m256i bit = _mm256_set1_epi8(0x10);
        *lo = _mm256_or_si256(*lo, _mm256_maskz_mov_epi8((__mmask32)mlo, bit));
        *hi = _mm256_or_si256(*hi, _mm256_maskz_mov_epi8((__mmask32)mhi, bit));
    }
}

/* k (<= 8) blocks from block g of `row` for NT tokens. */
static inline __attribute__((always_inline)) void group_q8(__m256 acc[4][2], __m256 side[4], const struct act_q8 *x,
                                                           size_t t0, const uint8_t *row, enum b32_format f,
                                                           int n_blocks, int g, int k, int NT)
{
    const int bytes = b32_bytes(f);
    const bool has_min = f == B32_Q4_1 || f == B32_Q5_1;
    const uint8_t *r = row + (size_t)g * bytes;
    if (f == B32_Q8_0 && k == 8) { /* a whole group of Q8_0: 8 exact block sums, then one conversion and FMA */
        const __m256 dw = gather8_f16(r, bytes, 8);
        __m256i u[8];
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) u[i] = block_u8(r + (size_t)i * bytes, f);
        for (int j = 0; j < NT; j++) {
            const size_t at = (t0 + (size_t)j) * n_blocks + g;
            const int8_t *q = x->q + at * 32;
            __m256i d[8];
            _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
                d[i] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u[i],
                                           _mm256_loadu_si256((const __m256i *)(q + 32 * i)));
            /* the offset's 128 * sum(q) taken off in integers */
            const __m256i sum128 = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(x->sum + at)), 7);
            const __m256i dot = _mm256_sub_epi32(hsum8x8_epi32(d), sum128);
            acc[j][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(dw, _mm256_loadu_ps(x->d + at)),
                                        acc[j][0]);
        }
        return;
    }
    __m256 s[4];
    group_scales(s, side, x, t0, r, bytes, b32_offset[f], has_min, n_blocks, g, k, NT);
    int i0 = 0;
    if (f != B32_Q8_0) /* the nibble formats two blocks at a time */
        _Pragma("GCC unroll 4") for (; i0 + 2 <= k; i0 += 2) {
            __m256i lo, hi;
            pair_u8(r + (size_t)i0 * bytes, f, &lo, &hi);
            const __m256i lanes = _mm256_setr_epi32(i0, i0, i0, i0, i0 + 1, i0 + 1, i0 + 1, i0 + 1);
            for (int j = 0; j < NT; j++) {
                const int8_t *q = x->q + ((t0 + (size_t)j) * n_blocks + g + i0) * 32;
                const __m256i q0 = _mm256_loadu_si256((const __m256i *)q), q1 = _mm256_loadu_si256((const __m256i *)(q + 32));
                __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, _mm256_permute2x128_si256(q0, q1, 0x20));
                dot = _mm256_dpbusd_epi32(dot, hi, _mm256_permute2x128_si256(q0, q1, 0x31));
                acc[j][(i0 >> 1) & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_permutexvar_ps(lanes, s[j]),
                                                        acc[j][(i0 >> 1) & 1]);
            }
        }
    _Pragma("GCC unroll 8") for (int i = i0; i < k; i++) {
        const __m256i u = block_u8(r + (size_t)i * bytes, f);
        const __m256i lane = _mm256_set1_epi32(i);
        for (int j = 0; j < NT; j++) {
            const int8_t *q = x->q + ((t0 + (size_t)j) * n_blocks + g + i) * 32;
            const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, _mm256_loadu_si256((const __m256i *)q));
            acc[j][i & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_permutexvar_ps(lane, s[j]), acc[j][i & 1]);
        }
    }
}

DEFINE_ROWS_Q8(4)

/* Rows o0..o1 for NT tokens, R at a time (leftover rows alone). */
static inline __attribute__((always_inline)) void rows_q8_group(float *y, const struct act_q8 *x, size_t t0,
                                                                const uint8_t *w, size_t row_bytes, enum b32_format f,
                                                                int n_blocks, int d_out, int o0, int o1, int R, int NT)
{
    int o = o0;
    for (; o + R <= o1; o += R)
        rows_q8(y + o, x, t0, w + (size_t)o * row_bytes, row_bytes, f, n_blocks, d_out, R, NT);
    for (; o < o1; o++)
        rows_q8(y + o, x, t0, w + (size_t)o * row_bytes, row_bytes, f, n_blocks, d_out, 1, NT);
}

/* Token groups outside (a chunk's rows stay in L1/L2 across groups); where a group's int8 activations, scales and
 * sums pass KERN_ROWS_X_BYTES (13000+ inputs for one token: Qwen3-14B's and 32B's down projections), 4 / NT rows
 * per pass (the same numbers; of the probe at 17408 inputs 69-74 -> 83-92%, at 25600 63-69 -> 95-98%). */
static inline __attribute__((always_inline)) void matmul_b32_q8(float *y, const struct act_q8 *x, const void *w,
                                                                enum b32_format f, int n, int d_in, int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    const size_t row_bytes = (size_t)n_blocks * b32_bytes(f);
    for (int t = 0; t < n; t += 4) {
        const int nt = n - t < 4 ? n - t : 4;
        const bool wide = act_q8_wide(nt, n_blocks);
        float *yt = y + (size_t)t * d_out;
#define GROUP(R, NT) rows_q8_group(yt, x, (size_t)t, w, row_bytes, f, n_blocks, d_out, o0, o1, R, NT)
        GROUP_BY_WIDTH_HALF(nt, wide, GROUP)
#undef GROUP
    }
}

DEFINE_B32_Q8_KERNELS(avx512)
