/* mxfp4_q8_avx512.c — MXFP4 weights against int8 activations with AVX512-VNNI (same math as
 * matmul_mxfp4_q8_ref in mxfp4.c; only the float summation order differs).
 *
 * A block's 16 code bytes become 32 unsigned bytes in one ymm (low nibbles, then high nibbles: the order of
 * struct act_q8), looked up with vpshufb in a table of 2 * e2m1 + 12 (so in [0, 24]: vpdpbusd multiplies
 * unsigned by signed bytes). The +12 is taken back by seeding the block's int32 sums with -12 * sum(q). One
 * vpdpbusd does the block's 32 products for a token; its 8 lanes are converted to float and accumulated with
 * the block's scale d * 2^(s - 128) (formed first, as the reference does), two chains per token alternating by block. Each row is streamed once
 * for up to 4 tokens; a token's arithmetic does not depend on the others (row-exact). From GEMM_MIN_TOKENS
 * tokens on (prefill), groups of 8 or 16 tokens are packed a token per int32 lane and each 4 weights are
 * broadcast against them, so every lane holds its token's exact block sum: one conversion per block for 8
 * tokens (measured 0.38 against 0.64 ns per token and block). Compiled with AVX-512 VL/BW/VNNI (the
 * dispatcher checks the CPU has VNNI).
 *
 * matmul_mxfp4_q8_vbmi (AVX512-VBMI as well) replaces the decode rows with four blocks per zmm: vpermt2b
 * gathers 4 GGML blocks' 64 code bytes out of their 17-byte blocks (the HF codes are contiguous already) and
 * vpermb their 4 scale bytes into the lanes; the nibbles are looked up with vpermb too (it reads 6 index bits, so
 * with the 16-byte table repeated no mask is needed); the tokens' activations are laid out once per call to
 * match (struct group_q8, a few vector moves per group), so a group costs two vpdpbusd, one conversion and one
 * vscalefps (d * 2^(s - 128), rounded once as the reference's product is) per token: 0.69 against 1.03 ns per
 * block on one core (gpt-oss-20b's gate_up in L3; 0.79 with vpshufb lookups and a scalar layout per call). */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* quantize_act_q8_ref's numbers 16 inputs at a time: max |x| with NaNs passed over (max_ps returns its second
 * operand for a NaN first one), x * inv rounded once and converted to nearest even (the reference's 1.5 * 2^23
 * trick), packed to bytes; interleaved, the even inputs first. */
void quantize_act_q8_avx512(const struct act_q8 *a, const float *x, int n, int d_in, bool interleave)
{
    const int n_blocks = d_in / 32;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int t = 0; t < n; t++)
        for (int b = 0; b < n_blocks; b++) {
            const float *xb = x + (size_t)t * d_in + (size_t)b * 32;
            const size_t at = (size_t)t * n_blocks + b;
            const __m512 lo = _mm512_loadu_ps(xb), hi = _mm512_loadu_ps(xb + 16);
            const __m512 m = _mm512_max_ps(_mm512_abs_ps(hi), _mm512_max_ps(_mm512_abs_ps(lo), _mm512_setzero_ps()));
            const float amax = _mm512_reduce_max_ps(m);
            const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
            const __m512 vinv = _mm512_set1_ps(inv);
            __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(lo, vinv)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(hi, vinv));
            if (interleave) {
                const __m512i e = _mm512_permutex2var_epi32(q0, even, q1), o = _mm512_permutex2var_epi32(q0, odd, q1);
                q0 = e, q1 = o;
            }
            const __m128i b0 = _mm512_cvtepi32_epi8(q0), b1 = _mm512_cvtepi32_epi8(q1); /* truncated, as (int8_t) */
            _mm_storeu_si128((__m128i *)(a->q + at * 32), b0);
            _mm_storeu_si128((__m128i *)(a->q + at * 32 + 16), b1);
            a->d[at] = amax / 127.0f;
            a->sum[at] = _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_cvtepi8_epi32(b0), _mm512_cvtepi8_epi32(b1)));
        }
}

/* The table's offset: 2 * e2m1 + U8_OFFSET is unsigned; a block's sums are seeded with -U8_OFFSET * sum(q). */
enum { U8_OFFSET = 12 };

/* Block b of a row as 32 unsigned bytes 2 * e2m1 + 12 (low nibbles, then high nibbles) and its 2^(s - 128). */
static inline __attribute__((always_inline)) __m256i block_u8(const uint8_t *wb, const uint8_t *ws, bool hf, int b,
                                                              float *scale)
{
    const __m256i lut = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0,
                                         12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
    const __m128i v = _mm_loadu_si128((const __m128i *)(hf ? wb + (size_t)b * 16 : wb + (size_t)b * 17 + 1));
    const __m256i codes = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1),
                                           _mm256_set1_epi8(0x0f));
    *scale = mxfp4_half_scale(hf ? ws[b] : wb[(size_t)b * 17]);
    return _mm256_shuffle_epi8(lut, codes);
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
            a0[j] = q8_block_dot(a0[j], u0, s0, x, at, U8_OFFSET);
            a1[j] = q8_block_dot(a1[j], u1, s1, x, at + 1, U8_OFFSET);
        }
    }
    if (b < n_blocks) {
        float s0;
        const __m256i u0 = block_u8(wb, ws, hf, b, &s0);
        for (int j = 0; j < NT; j++)
            a0[j] = q8_block_dot(a0[j], u0, s0, x, (t0 + (size_t)j) * n_blocks + b, U8_OFFSET);
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = hsum256(_mm256_add_ps(a0[j], a1[j]));
}

enum { GEMM_TOKENS = 8 };

/* In-register 8x8 transpose of int32: c[g] = (r[0][g], ..., r[7][g]). */
static inline __attribute__((always_inline)) void transpose8(const __m256i r[8], __m256i c[8])
{
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        c[i] = _mm256_permute2x128_si256(u[i], u[4 + i], 0x20);
        c[4 + i] = _mm256_permute2x128_si256(u[i], u[4 + i], 0x31);
    }
}

/* G groups of 8 tokens from t0 (8G tokens), laid out for gemm_row: qt holds, per block and 4-position group
 * g, the tokens' 4 bytes of q (one int32 lane per token); dt and ct the tokens' d and -12 * sum(q) per
 * block. */
static void pack_tokens(int32_t *qt, float *dt, int32_t *ct, const struct act_q8 *x, size_t t0, int n_blocks, int G)
{
    const int nt = G * GEMM_TOKENS;
    for (int b = 0; b < n_blocks; b++)
        for (int h = 0; h < G; h++) {
            __m256i r[8], c[8];
            for (int j = 0; j < GEMM_TOKENS; j++) {
                const size_t at = (t0 + (size_t)h * GEMM_TOKENS + (size_t)j) * n_blocks + b;
                r[j] = _mm256_loadu_si256((const __m256i *)(x->q + at * 32));
                dt[b * nt + h * GEMM_TOKENS + j] = x->d[at];
                ct[b * nt + h * GEMM_TOKENS + j] = -U8_OFFSET * x->sum[at];
            }
            transpose8(r, c);
            for (int g = 0; g < 8; g++)
                _mm256_storeu_si256((__m256i *)(qt + ((size_t)b * 8 + g) * nt + h * GEMM_TOKENS), c[g]);
        }
}

/* Prefill, one row against G packed groups of 8 tokens, a token per lane: each 4 weights of a block are
 * broadcast (vpermd) against the tokens' 4 activations (vpdpbusd), so a lane ends with its token's exact
 * block sum (seeded with -12 * sum(q)); then one conversion and the block's scale for 8 tokens. */
static inline __attribute__((always_inline)) void gemm_row(float *y, const int32_t *qt, const float *dt,
                                                           const int32_t *ct, const uint8_t *wb, const uint8_t *ws,
                                                           bool hf, int n_blocks, int d_out, int G)
{
    const int nt = G * GEMM_TOKENS;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < n_blocks; b++) {
        float s;
        const __m256i u = block_u8(wb, ws, hf, b, &s);
        const int32_t *qb = qt + (size_t)b * 8 * nt;
        __m256i i0[2], i1[2];
        for (int h = 0; h < G; h++) {
            i0[h] = _mm256_loadu_si256((const __m256i *)(ct + (size_t)b * nt + h * GEMM_TOKENS));
            i1[h] = _mm256_setzero_si256();
        }
        for (int g = 0; g < 8; g += 2) { /* weights 4g..4g+3 to every lane, against the tokens' */
            const __m256i w0 = _mm256_permutexvar_epi32(_mm256_set1_epi32(g), u);
            const __m256i w1 = _mm256_permutexvar_epi32(_mm256_set1_epi32(g + 1), u);
            for (int h = 0; h < G; h++) {
                i0[h] = _mm256_dpbusd_epi32(i0[h], w0, _mm256_loadu_si256((const __m256i *)(qb + g * nt + h * GEMM_TOKENS)));
                i1[h] = _mm256_dpbusd_epi32(i1[h], w1,
                                            _mm256_loadu_si256((const __m256i *)(qb + (g + 1) * nt + h * GEMM_TOKENS)));
            }
        }
        for (int h = 0; h < G; h++) {
            const __m256 ds = _mm256_mul_ps(_mm256_loadu_ps(dt + (size_t)b * nt + h * GEMM_TOKENS), _mm256_set1_ps(s));
            acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(i0[h], i1[h])), ds, acc[h]);
        }
    }
    float out[2 * GEMM_TOKENS];
    for (int h = 0; h < G; h++)
        _mm256_storeu_ps(out + h * GEMM_TOKENS, acc[h]);
    for (int j = 0; j < nt; j++)
        y[(size_t)j * d_out] = out[j];
}

/* hf: the HF layout (a compile-time constant at both calls, so each layout gets its own loop). */
/* The rows of [o0, o1) against tokens [t, n), 4 tokens at a time (token groups outside: a chunk's rows stay
 * in L1/L2 across groups). */
static void rows_range(float *y, const struct act_q8 *x, int t, const uint8_t *w, const uint8_t *scales, bool hf,
                       int n, int d_in, int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    const size_t row_bytes = hf ? (size_t)d_in / 2 : (size_t)n_blocks * 17;
    for (; t < n; t += 4) {
        const int nt = n - t < 4 ? n - t : 4;
        for (int o = o0; o < o1; o++) {
            const uint8_t *wb = w + (size_t)o * row_bytes, *ws = hf ? scales + (size_t)o * n_blocks : NULL;
            float *yt = y + (size_t)t * d_out + o;
            if (hf)
                switch (nt) {
                case 4: rows(yt, x, (size_t)t, wb, ws, true, n_blocks, d_out, 4); break;
                case 3: rows(yt, x, (size_t)t, wb, ws, true, n_blocks, d_out, 3); break;
                case 2: rows(yt, x, (size_t)t, wb, ws, true, n_blocks, d_out, 2); break;
                default: rows(yt, x, (size_t)t, wb, ws, true, n_blocks, d_out, 1); break;
                }
            else
                switch (nt) {
                case 4: rows(yt, x, (size_t)t, wb, NULL, false, n_blocks, d_out, 4); break;
                case 3: rows(yt, x, (size_t)t, wb, NULL, false, n_blocks, d_out, 3); break;
                case 2: rows(yt, x, (size_t)t, wb, NULL, false, n_blocks, d_out, 2); break;
                default: rows(yt, x, (size_t)t, wb, NULL, false, n_blocks, d_out, 1); break;
                }
        }
    }
}

static void rows_range_vbmi(float *y, const struct act_q8 *x, int t, const uint8_t *w, const uint8_t *scales,
                            bool hf, int n, int d_in, int d_out, int o0, int o1);

/* vbmi: the rows after the GEMM's token groups go to rows_range_vbmi. */
static inline __attribute__((always_inline)) void matmul_layout(float *y, const struct act_q8 *x, const uint8_t *w,
                                                                const uint8_t *scales, bool hf, int n, int d_in,
                                                                int d_out, int o0, int o1, bool vbmi)
{
    const int n_blocks = d_in / 32;
    const size_t row_bytes = hf ? (size_t)d_in / 2 : (size_t)n_blocks * 17;
    int t = 0;
    if (n >= GEMM_MIN_TOKENS) {
        int32_t *qt = malloc(sizeof(int32_t) * 16 * GEMM_TOKENS * n_blocks);
        float *dt = malloc(sizeof(float) * 2 * GEMM_TOKENS * n_blocks);
        int32_t *ct = malloc(sizeof(int32_t) * 2 * GEMM_TOKENS * n_blocks);
        if (qt && dt && ct) /* else the rows path below takes every token */
            while (t + GEMM_TOKENS <= n) { /* 16 tokens at a time, then 8 */
                const int G = t + 2 * GEMM_TOKENS <= n ? 2 : 1;
                pack_tokens(qt, dt, ct, x, (size_t)t, n_blocks, G);
                for (int o = o0; o < o1; o++) {
                    const uint8_t *wb = w + (size_t)o * row_bytes, *ws = hf ? scales + (size_t)o * n_blocks : NULL;
                    if (G == 2)
                        gemm_row(y + (size_t)t * d_out + o, qt, dt, ct, wb, ws, hf, n_blocks, d_out, 2);
                    else
                        gemm_row(y + (size_t)t * d_out + o, qt, dt, ct, wb, ws, hf, n_blocks, d_out, 1);
                }
                t += G * GEMM_TOKENS;
            }
        free(qt);
        free(dt);
        free(ct);
    }
    if (vbmi && t < n)
        rows_range_vbmi(y, x, t, w, scales, hf, n, d_in, d_out, o0, o1);
    else
        rows_range(y, x, t, w, scales, hf, n, d_in, d_out, o0, o1);
}

void matmul_mxfp4_q8_avx512(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                            int d_out, int o0, int o1)
{
    if (scales)
        matmul_layout(y, x, w, scales, true, n, d_in, d_out, o0, o1, false);
    else
        matmul_layout(y, x, w, NULL, false, n, d_in, d_out, o0, o1, false);
}

/* A token's activations for 4 blocks, in the order of a group's unpacked codes: the blocks' q against low
 * nibbles, then against high nibbles; the seed -12 * sum(q) of block k in lane 4k (zeros elsewhere); d of
 * block k in lanes 4k..4k+3. */
struct group_q8 {
    int8_t lo[64], hi[64];
    int32_t seed[16];
    float d[16];
};

/* The 4 blocks' 128 bytes of q (each block's 16 against low nibbles, then 16 against high ones) regrouped by
 * 128-bit lanes; sum and d of block k moved into lane 4k (seed) or lanes 4k..4k+3 (d) with one permute each. */
static void pack_groups(struct group_q8 *p, const struct act_q8 *x, size_t t0, int nt, int n_blocks)
{
    const int ng = n_blocks / 4;
    const __m512i lane_block = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __mmask16 first = 0x1111;
    for (int j = 0; j < nt; j++)
        for (int g = 0; g < ng; g++) {
            struct group_q8 *e = p + (size_t)j * ng + g;
            const size_t at = (t0 + (size_t)j) * n_blocks + 4 * (size_t)g;
            const __m512i za = _mm512_loadu_si512(x->q + at * 32), zb = _mm512_loadu_si512(x->q + at * 32 + 64);
            _mm512_store_si512(e->lo, _mm512_shuffle_i64x2(za, zb, _MM_SHUFFLE(2, 0, 2, 0)));
            _mm512_store_si512(e->hi, _mm512_shuffle_i64x2(za, zb, _MM_SHUFFLE(3, 1, 3, 1)));
            const __m512i sums = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(x->sum + at)));
            _mm512_store_si512(e->seed, _mm512_mullo_epi32(_mm512_maskz_permutexvar_epi32(first, lane_block, sums),
                                                           _mm512_set1_epi32(-U8_OFFSET)));
            _mm512_store_ps(e->d, _mm512_permutexvar_ps(lane_block, _mm512_castps128_ps512(_mm_loadu_ps(x->d + at))));
        }
}

/* One row against NT tokens, 4 blocks per step (p: the tokens' groups, ng apart), then the last n_blocks % 4
 * blocks one by one. The scale bytes go into the low byte of 2^23's bits, so a lane reads 2^23 + s as a
 * float and one subtraction leaves s - 128. */
#define VBMI __attribute__((target("avx512vbmi")))
static inline __attribute__((always_inline)) VBMI void rows_vbmi(float *y, const struct group_q8 *p,
                                                                 const struct act_q8 *x, size_t t0,
                                                                 const uint8_t *wb, const uint8_t *ws, bool hf,
                                                                 int n_blocks, int d_out, int NT)
{
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
    const __m512i code_idx = _mm512_set_epi8( /* byte i: 17 * (i / 16) + 1 + i % 16 */
        67, 66, 65, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
        38, 37, 36, 35, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 16, 15, 14, 13, 12, 11, 10, 9,
        8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i scale_idx = hf ? _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0)
                                 : _mm512_set_epi32(51, 51, 51, 51, 34, 34, 34, 34, 17, 17, 17, 17, 0, 0, 0, 0);
    const __m512i magic = _mm512_set1_epi32(0x4B000000); /* 2^23 */
    const __m512 bias = _mm512_set1_ps(8388608.0f + 128.0f);
    const __mmask64 byte0 = 0x1111111111111111ull;
    const int ng = n_blocks / 4;
    __m512 a0[4], a1[4];
    for (int j = 0; j < NT; j++)
        a0[j] = a1[j] = _mm512_setzero_ps();
    for (int g = 0; g < ng; g++) {
        __m512i codes, e;
        if (hf) {
            codes = _mm512_loadu_si512(wb + (size_t)g * 64);
            uint32_t s4;
            memcpy(&s4, ws + (size_t)g * 4, 4);
            e = _mm512_mask_permutexvar_epi8(magic, byte0, scale_idx, _mm512_set1_epi32((int)s4));
        } else {
            const uint8_t *gb = wb + (size_t)g * 68;
            const __m512i z0 = _mm512_loadu_si512(gb);
            codes = _mm512_permutex2var_epi8(z0, code_idx, _mm512_maskz_loadu_epi8(0xf, gb + 64));
            e = _mm512_mask_permutexvar_epi8(magic, byte0, scale_idx, z0);
        }
        const __m512 expo = _mm512_sub_ps(_mm512_castsi512_ps(e), bias);
        /* vpermb reads 6 index bits and the table repeats every 16 bytes, so no nibble mask is needed */
        const __m512i ulo = _mm512_permutexvar_epi8(codes, lut);
        const __m512i uhi = _mm512_permutexvar_epi8(_mm512_srli_epi16(codes, 4), lut);
        for (int j = 0; j < NT; j++) {
            const struct group_q8 *pg = p + (size_t)j * ng + g;
            __m512i acc = _mm512_dpbusd_epi32(_mm512_load_si512(pg->seed), ulo, _mm512_load_si512(pg->lo));
            acc = _mm512_dpbusd_epi32(acc, uhi, _mm512_load_si512(pg->hi));
            const __m512 s = _mm512_scalef_ps(_mm512_load_ps(pg->d), expo);
            if (g & 1)
                a1[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), s, a1[j]);
            else
                a0[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), s, a0[j]);
        }
    }
    __m256 t[4];
    for (int j = 0; j < NT; j++) {
        const __m512 a = _mm512_add_ps(a0[j], a1[j]);
        t[j] = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    }
    for (int b = 4 * ng; b < n_blocks; b++) {
        float s;
        const __m256i u = block_u8(wb, ws, hf, b, &s);
        for (int j = 0; j < NT; j++)
            t[j] = q8_block_dot(t[j], u, s, x, (t0 + (size_t)j) * n_blocks + b, U8_OFFSET);
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = hsum256(t[j]);
}

/* The rows of [o0, o1) against tokens [t, n) (n - t < GEMM_MIN_TOKENS), 4 tokens at a time. */
static VBMI void rows_range_vbmi(float *y, const struct act_q8 *x, int t, const uint8_t *w, const uint8_t *scales,
                                 bool hf, int n, int d_in, int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32, ng = n_blocks / 4;
    const size_t row_bytes = hf ? (size_t)d_in / 2 : (size_t)n_blocks * 17;
    struct group_q8 *p = aligned_alloc(64, sizeof(struct group_q8) * (size_t)(ng ? ng : 1) * 4);
    if (!p) { /* the plain rows, one block at a time */
        rows_range(y, x, t, w, scales, hf, n, d_in, d_out, o0, o1);
        return;
    }
    for (; t < n; t += 4) {
        const int nt = n - t < 4 ? n - t : 4;
        pack_groups(p, x, (size_t)t, nt, n_blocks);
        for (int o = o0; o < o1; o++) {
            const uint8_t *wb = w + (size_t)o * row_bytes, *ws = hf ? scales + (size_t)o * n_blocks : NULL;
            float *yt = y + (size_t)t * d_out + o;
            if (hf)
                switch (nt) {
                case 4: rows_vbmi(yt, p, x, (size_t)t, wb, ws, true, n_blocks, d_out, 4); break;
                case 3: rows_vbmi(yt, p, x, (size_t)t, wb, ws, true, n_blocks, d_out, 3); break;
                case 2: rows_vbmi(yt, p, x, (size_t)t, wb, ws, true, n_blocks, d_out, 2); break;
                default: rows_vbmi(yt, p, x, (size_t)t, wb, ws, true, n_blocks, d_out, 1); break;
                }
            else
                switch (nt) {
                case 4: rows_vbmi(yt, p, x, (size_t)t, wb, NULL, false, n_blocks, d_out, 4); break;
                case 3: rows_vbmi(yt, p, x, (size_t)t, wb, NULL, false, n_blocks, d_out, 3); break;
                case 2: rows_vbmi(yt, p, x, (size_t)t, wb, NULL, false, n_blocks, d_out, 2); break;
                default: rows_vbmi(yt, p, x, (size_t)t, wb, NULL, false, n_blocks, d_out, 1); break;
                }
        }
    }
    free(p);
}

void matmul_mxfp4_q8_vbmi(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                          int d_out, int o0, int o1)
{
    if (scales)
        matmul_layout(y, x, w, scales, true, n, d_in, d_out, o0, o1, true);
    else
        matmul_layout(y, x, w, NULL, false, n, d_in, d_out, o0, o1, true);
}

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Slabs (mxfp4_to_slabs), a row per int32 lane: for 16 rows and a block, each group of 4 code bytes (a zmm, a row's 4
 * bytes per lane) is looked up twice (low nibbles, then high ones, vpermb) and meets each token's 4 activations
 * against those nibbles broadcast (vpdpbusd), so the lanes end with the 16 rows' exact block sums, seeded with
 * -12 * sum(q); then one conversion, the rows' scales d * 2^(s - 128) (vscalefps) and one FMA per token. Up to 4
 * tokens share the lookups; a token's arithmetic is the same in any group (row-exact). A slab stays in L1 across
 * the groups. Decode 0.33 against the rows' 0.73 ns per block on one core (gpt-oss-20b's gate_up in L2): decode
 * streams experts at the machine's bandwidth with 2 threads; prefill needs no GEMM. o0 and o1 multiples of 16. */
static inline __attribute__((always_inline)) VBMI __m512 slab_scale(const uint8_t *u, float d)
{
    const __m512i e = _mm512_or_si512(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)u)),
                                      _mm512_set1_epi32(0x4B000000)); /* 2^23 + s, as in rows_vbmi */
    const __m512 expo = _mm512_sub_ps(_mm512_castsi512_ps(e), _mm512_set1_ps(8388608.0f + 128.0f));
    return _mm512_scalef_ps(_mm512_set1_ps(d), expo);
}

/* NT tokens from t0 against the 16 rows whose block b has its code groups at codes + b * cs and its scales at scales
 * + b * ss (GGML slabs: 272 and 272, the scales 16 bytes before the codes; HF: 256 and 16). */
static inline __attribute__((always_inline)) VBMI void slab_tokens(float *y, const struct act_q8 *x, size_t t0,
                                                                   const uint8_t *codes, const uint8_t *scales,
                                                                   size_t cs, size_t ss, int n_blocks, int d_out, int NT)
{
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
    __m512 a[4];
    for (int j = 0; j < NT; j++)
        a[j] = _mm512_setzero_ps();
    for (int b = 0; b < n_blocks; b++) {
        const uint8_t *u = codes + (size_t)b * cs;
        __m512i lo[4], hi[4];
        for (int j = 0; j < NT; j++) {
            lo[j] = _mm512_set1_epi32(-U8_OFFSET * x->sum[(t0 + (size_t)j) * n_blocks + b]);
            hi[j] = _mm512_setzero_si512();
        }
        for (int c = 0; c < 4; c++) {
            const __m512i group = _mm512_loadu_si512(u + 64 * c);
            const __m512i ulo = _mm512_permutexvar_epi8(group, lut);
            const __m512i uhi = _mm512_permutexvar_epi8(_mm512_srli_epi16(group, 4), lut);
            for (int j = 0; j < NT; j++) {
                const uint8_t *q = (const uint8_t *)x->q + ((t0 + (size_t)j) * n_blocks + b) * 32 + 4 * c;
                lo[j] = _mm512_dpbusd_epi32(lo[j], ulo, _mm512_set1_epi32((int)load32(q)));
                hi[j] = _mm512_dpbusd_epi32(hi[j], uhi, _mm512_set1_epi32((int)load32(q + 16)));
            }
        }
        for (int j = 0; j < NT; j++)
            a[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(lo[j], hi[j])),
                                   slab_scale(scales + (size_t)b * ss, x->d[(t0 + (size_t)j) * n_blocks + b]), a[j]);
    }
    for (int j = 0; j < NT; j++)
        _mm512_storeu_ps(y + (size_t)j * d_out, a[j]);
}

/* Every token against one slab, 4 at a time. */
static inline __attribute__((always_inline)) VBMI void slab_all_tokens(float *y, const struct act_q8 *x, int n,
                                                                       const uint8_t *codes, const uint8_t *scales,
                                                                       size_t cs, size_t ss, int n_blocks, int d_out)
{
    for (int t = 0; t < n; t += 4) {
        float *yt = y + (size_t)t * d_out;
        switch (n - t < 4 ? n - t : 4) {
        case 4: slab_tokens(yt, x, (size_t)t, codes, scales, cs, ss, n_blocks, d_out, 4); break;
        case 3: slab_tokens(yt, x, (size_t)t, codes, scales, cs, ss, n_blocks, d_out, 3); break;
        case 2: slab_tokens(yt, x, (size_t)t, codes, scales, cs, ss, n_blocks, d_out, 2); break;
        default: slab_tokens(yt, x, (size_t)t, codes, scales, cs, ss, n_blocks, d_out, 1); break;
        }
    }
}

VBMI void matmul_mxfp4s_q8_vbmi(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                                int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    for (int o = o0; o < o1; o += 16)
        if (scales)
            slab_all_tokens(y + o, x, n, (const uint8_t *)w + (size_t)o * n_blocks * 16,
                            (const uint8_t *)scales + (size_t)o * n_blocks, 256, 16, n_blocks, d_out);
        else
            slab_all_tokens(y + o, x, n, (const uint8_t *)w + (size_t)o * n_blocks * 17 + 16,
                            (const uint8_t *)w + (size_t)o * n_blocks * 17, MXFP4_SLAB_BLOCK, MXFP4_SLAB_BLOCK,
                            n_blocks, d_out);
}
