/* mxfp4_q8_avx512.c — MXFP4 weights against int8 activations with AVX512-VNNI (same math as
 * matmul_mxfp4_q8_ref in mxfp4.c; only the float summation order differs).
 *
 * A block's 16 code bytes become 32 unsigned bytes in one ymm (low nibbles, then high nibbles: the order of
 * struct act_q8), looked up with vpshufb in a table of 2 * e2m1 + 12 (so in [0, 24]: vpdpbusd multiplies
 * unsigned by signed bytes). The +12 is taken back by seeding the block's int32 sums with -12 * sum(q). One
 * vpdpbusd does the block's 32 products for a token; its 8 lanes are converted to float and accumulated with
 * the block's scale d * 2^(s - 128), two chains per token alternating by block. Each row is streamed once
 * for up to 4 tokens; a token's arithmetic does not depend on the others (row-exact). Compiled with
 * AVX-512 VL/BW/VNNI (the dispatcher checks the CPU has VNNI). */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

/* 2^(s - 128) as float bits for every E8M0 byte s (2^-128 and 2^-127 are subnormal). */
static const uint32_t half_scale_bits[256] = {
#define S(i) ((i) >= 2 ? (uint32_t)((i) - 1) << 23 : 0x00100000u << (i))
#define S4(i) S(i), S(i + 1), S(i + 2), S(i + 3)
#define S16(i) S4(i), S4(i + 4), S4(i + 8), S4(i + 12)
    S16(0), S16(16), S16(32), S16(48), S16(64), S16(80), S16(96), S16(112),
    S16(128), S16(144), S16(160), S16(176), S16(192), S16(208), S16(224), S16(240),
#undef S16
#undef S4
#undef S
};

static inline float half_scale(uint8_t s)
{
    float f;
    memcpy(&f, &half_scale_bits[s], 4);
    return f;
}

static inline float hsum256(__m256 v)
{
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* Block b of a row as 32 unsigned bytes 2 * e2m1 + 12 (low nibbles, then high nibbles) and its 2^(s - 128). */
static inline __attribute__((always_inline)) __m256i block_u8(const uint8_t *wb, const uint8_t *ws, bool hf, int b,
                                                              float *scale)
{
    const __m256i lut = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0,
                                         12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
    const __m128i v = _mm_loadu_si128((const __m128i *)(hf ? wb + (size_t)b * 16 : wb + (size_t)b * 17 + 1));
    const __m256i codes = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1),
                                           _mm256_set1_epi8(0x0f));
    *scale = half_scale(hf ? ws[b] : wb[(size_t)b * 17]);
    return _mm256_shuffle_epi8(lut, codes);
}

/* acc += (the block's int32 lane sums of u * q, less 12 * sum(q)) * scale * d, for block `at` of x. */
static inline __attribute__((always_inline)) __m256 block_dot(__m256 acc, __m256i u, float scale,
                                                              const struct act_q8 *x, size_t at)
{
    const __m256i seed = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-12 * x->sum[at]));
    const __m256i dot = _mm256_dpbusd_epi32(seed, u, _mm256_loadu_si256((const __m256i *)(x->q + at * 32)));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(scale * x->d[at]), acc);
}

/* One row (hf: HF codes wb with scales ws; else GGML blocks wb) against NT tokens of x from token t0: two
 * blocks per step on two accumulator chains per token (a lone last block into the first). */
static inline __attribute__((always_inline)) void rows(float *y, const struct act_q8 *x, size_t t0, const uint8_t *wb,
                                                       const uint8_t *ws, bool hf, int n_blocks, int d_out, int NT)
{
    __m256 a0[4], a1[4];
    for (int j = 0; j < NT; j++)
        a0[j] = a1[j] = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        float s0, s1;
        const __m256i u0 = block_u8(wb, ws, hf, b, &s0), u1 = block_u8(wb, ws, hf, b + 1, &s1);
        for (int j = 0; j < NT; j++) {
            const size_t at = (t0 + (size_t)j) * n_blocks + b;
            a0[j] = block_dot(a0[j], u0, s0, x, at);
            a1[j] = block_dot(a1[j], u1, s1, x, at + 1);
        }
    }
    if (b < n_blocks) {
        float s0;
        const __m256i u0 = block_u8(wb, ws, hf, b, &s0);
        for (int j = 0; j < NT; j++)
            a0[j] = block_dot(a0[j], u0, s0, x, (t0 + (size_t)j) * n_blocks + b);
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = hsum256(_mm256_add_ps(a0[j], a1[j]));
}

/* hf: the HF layout (a compile-time constant at both calls, so each layout gets its own loop). */
static inline __attribute__((always_inline)) void matmul_layout(float *y, const struct act_q8 *x, const uint8_t *w,
                                                                const uint8_t *scales, bool hf, int n, int d_in,
                                                                int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    const size_t row_bytes = hf ? (size_t)d_in / 2 : (size_t)n_blocks * 17;
    for (int t = 0; t < n; t += 4) { /* token groups outside: a chunk's rows stay in L1/L2 across groups */
        const int nt = n - t < 4 ? n - t : 4;
        for (int o = o0; o < o1; o++) {
            const uint8_t *wb = w + (size_t)o * row_bytes, *ws = hf ? scales + (size_t)o * n_blocks : NULL;
            float *yt = y + (size_t)t * d_out + o;
            switch (nt) {
            case 4: rows(yt, x, (size_t)t, wb, ws, hf, n_blocks, d_out, 4); break;
            case 3: rows(yt, x, (size_t)t, wb, ws, hf, n_blocks, d_out, 3); break;
            case 2: rows(yt, x, (size_t)t, wb, ws, hf, n_blocks, d_out, 2); break;
            default: rows(yt, x, (size_t)t, wb, ws, hf, n_blocks, d_out, 1); break;
            }
        }
    }
}

void matmul_mxfp4_q8_avx512(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                            int d_out, int o0, int o1)
{
    if (scales)
        matmul_layout(y, x, w, scales, true, n, d_in, d_out, o0, o1);
    else
        matmul_layout(y, x, w, NULL, false, n, d_in, d_out, o0, o1);
}
