/* gemm_avx512.h — the prefill GEMM micro-kernel shared by the AVX-512 matmuls (internal to src/kernels;
 * include only from *_avx512.c files, which are compiled with AVX-512 enabled).
 *
 * Prefill (n >= GEMM_MIN_TOKENS): a GEMM micro-kernel. The chunk's (at most 16) weight rows are widened
 * to fp32 once per GEMM_KC-wide slice and stored transposed, k-major (16 floats per k: one per row), in an
 * L1-resident panel; then each group of up to 8 tokens accumulates 16 outputs per zmm with one weight load
 * and 8 FMAs of broadcast activations per k. No horizontal sums, no per-use widening; each output sums
 * over k in index order (like the reference). */
#ifndef OWL_GEMM_AVX512_H
#define OWL_GEMM_AVX512_H

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* The first left lanes of 16 (none for left <= 0, all from 16). */
static inline __mmask16 mask16(int left)
{
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}
/* The first left lanes of 32 (left >= 0; all from 32). */
static inline __mmask32 mask32(int left) { return left >= 32 ? 0xffffffffu : (__mmask32)((1ull << left) - 1); }

#define GEMM_KC 256

/* In-register 16x16 transpose: c[k] = (r[0][k], ..., r[15][k]). */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16], __m512 c[16])
{
    __m512 t[16], u[16], v[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0xee);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        v[j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
        v[4 + j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        v[8 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        v[12 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    }
    for (int j = 0; j < 4; j++) {
        c[j] = _mm512_shuffle_f32x4(v[j], v[8 + j], 0x88);
        c[8 + j] = _mm512_shuffle_f32x4(v[j], v[8 + j], 0xdd);
        c[4 + j] = _mm512_shuffle_f32x4(v[4 + j], v[12 + j], 0x88);
        c[12 + j] = _mm512_shuffle_f32x4(v[4 + j], v[12 + j], 0xdd);
    }
}

/* y[t, o0 + i] (+)= sum_k panel[k][i] x[t, k0 + k] for NT tokens; rows i < n_rows (mask). */
static inline __attribute__((always_inline)) void gemm_tile(float *y, const float *x, const float *panel, int kc,
                                                            int d_in, int d_out, bool accumulate, __mmask16 rows,
                                                            int NT)
{
    __m512 acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < NT; j++)
        acc[j] = accumulate ? _mm512_maskz_loadu_ps(rows, y + (size_t)j * d_out) : _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m512 wv = _mm512_load_ps(panel + (size_t)k * 16);
#pragma GCC unroll 8
        for (int j = 0; j < NT; j++)
            acc[j] = _mm512_fmadd_ps(wv, _mm512_set1_ps(x[(size_t)j * d_in + k]), acc[j]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < NT; j++)
        _mm512_mask_storeu_ps(y + (size_t)j * d_out, rows, acc[j]);
}

/* Run the tiles of one packed panel (kc values of k for 16 rows, at most n_rows valid) over n tokens. */
static inline void gemm_panel(float *y, const float *x, const float *panel, int n, int kc, int d_in, int d_out,
                              bool accumulate, int n_rows)
{
    const __mmask16 rows = (__mmask16)((1u << n_rows) - 1);
    int t = 0;
    for (; t + 8 <= n; t += 8)
        gemm_tile(y + (size_t)t * d_out, x + (size_t)t * d_in, panel, kc, d_in, d_out, accumulate, rows, 8);
    float *yt = y + (size_t)t * d_out;
    const float *xt = x + (size_t)t * d_in;
    switch (n - t) {
    case 7: gemm_tile(yt, xt, panel, kc, d_in, d_out, accumulate, rows, 7); break;
    case 6: gemm_tile(yt, xt, panel, kc, d_in, d_out, accumulate, rows, 6); break;
    case 5: gemm_tile(yt, xt, panel, kc, d_in, d_out, accumulate, rows, 5); break;
    case 4: gemm_tile(yt, xt, panel, kc, d_in, d_out, accumulate, rows, 4); break;
    case 3: gemm_tile(yt, xt, panel, kc, d_in, d_out, accumulate, rows, 3); break;
    case 2: gemm_tile(yt, xt, panel, kc, d_in, d_out, accumulate, rows, 2); break;
    case 1: gemm_tile(yt, xt, panel, kc, d_in, d_out, accumulate, rows, 1); break;
    default: break;
    }
}

/* One Q8_0 block as its two 16-wide fp32 halves, scale applied: d * q exactly, the reference's values. */
/* The f16 at p (unaligned) as fp32. */
static inline float f16_load(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline __attribute__((always_inline)) void q8_0_block_f32(const uint8_t *b, __m512 *lo, __m512 *hi)
{
    const __m512 d = _mm512_set1_ps(f16_load(b));
    const __m128i q0 = _mm_loadu_si128((const __m128i *)(b + 2)), q1 = _mm_loadu_si128((const __m128i *)(b + 18));
    *lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)));
    *hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)));
}

/* FP8 E4M3 (kernels/fp8.h) in registers: 32 bytes widened through IEEE half (fp8_avx512.c says why). */

/* The bytes at p (the first `left`, zeros after) as fp32 times s256 (256 * the block's scale): inputs 0..15 in
 * lo, 16..31 in hi. */
static inline __attribute__((always_inline)) void e4m3x32(const uint8_t *p, int left, __m512 s256, __m512 *lo,
                                                          __m512 *hi)
{
    const __m512i b = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask32(left), p));
    const __m512i u = _mm512_slli_epi16(b, 7); /* magnitude at bits 7..13, sign at 14 */
    const __m512i mag = _mm512_set1_epi16(0x3f80);
    __m512i h = _mm512_add_epi16(u, _mm512_and_si512(u, _mm512_set1_epi16(0x4000))); /* sign to bit 15 */
    h = _mm512_mask_mov_epi16(h, _mm512_cmpeq_epi16_mask(_mm512_and_si512(u, mag), mag), _mm512_set1_epi16(0x7e00));
    *lo = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(h)), s256);
    *hi = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1)), s256);
}

/* Loads block kb (inputs 32kb .. 32kb+31) of weight row `row` as fp32: lo = inputs 0..15, hi = 16..31. */
typedef void gemm_block32_fn(const void *ctx, int row, int kb, __m512 *lo, __m512 *hi);

/* Prefill over a format of 32-input blocks (d_in a multiple of 32): rows o0..o1, 16 at a time, expanded block
 * by block with `load` (a constant at every call, inlined) into the transposed panel, one GEMM_KC slice at a
 * time, then the micro-kernel over every token. */
static inline __attribute__((always_inline)) void gemm_blocks32(float *y, const float *x, int n, int d_in, int d_out,
                                                                int o0, int o1, gemm_block32_fn *load, const void *ctx)
{
    float panel[GEMM_KC * 16] __attribute__((aligned(64)));
    for (; o0 < o1; o0 += 16) {
        const int n_rows = o1 - o0 < 16 ? o1 - o0 : 16;
        for (int k0 = 0; k0 < d_in; k0 += GEMM_KC) {
            const int kc = d_in - k0 < GEMM_KC ? d_in - k0 : GEMM_KC;
            for (int kk = 0; kk < kc; kk += 32) {
                __m512 lo[16], hi[16], c[16];
                for (int i = 0; i < 16; i++) {
                    if (i < n_rows)
                        load(ctx, o0 + i, (k0 + kk) / 32, &lo[i], &hi[i]);
                    else
                        lo[i] = hi[i] = _mm512_setzero_ps();
                }
                transpose16(lo, c);
                for (int j = 0; j < 16; j++)
                    _mm512_store_ps(panel + (size_t)(kk + j) * 16, c[j]);
                transpose16(hi, c);
                for (int j = 0; j < 16; j++)
                    _mm512_store_ps(panel + (size_t)(kk + 16 + j) * 16, c[j]);
            }
            gemm_panel(y + o0, x + k0, panel, n, kc, d_in, d_out, k0 > 0, n_rows);
        }
    }
}

/* The matmul of a format of 32-input blocks that widen exactly to fp32 in registers (Q8_0, Q4_0): `widen`
 * turns the block at b into inputs 0..15 (lo) and 16..31 (hi); `panel` is the same as a gemm_block32_fn over
 * a struct block32_matrix. Decode streams each row once for up to 4 tokens, two accumulator chains per token
 * (each block's halves), every token the same operation sequence whatever their number (row-exact); prefill
 * (GEMM_MIN_TOKENS and more) runs gemm_blocks32. */
typedef void block32_widen_fn(const uint8_t *b, __m512 *lo, __m512 *hi);
struct block32_matrix {
    const uint8_t *w;
    size_t row_bytes;
};

/* GROUP(R, NT) for nt tokens (1 to 4, NT the same as a constant): R = 8 / NT rows per pass where `wide` (the
 * tokens' activations past KERN_ROWS_X_BYTES; R * NT accumulator pairs), else one. */
#define GROUP_BY_WIDTH(nt, wide, GROUP)                                                                 \
    switch ((nt) * 2 + (wide)) {                                                                        \
    case 9: GROUP(2, 4); break;                                                                         \
    case 8: GROUP(1, 4); break;                                                                         \
    case 7: GROUP(2, 3); break;                                                                         \
    case 6: GROUP(1, 3); break;                                                                         \
    case 5: GROUP(4, 2); break;                                                                         \
    case 4: GROUP(1, 2); break;                                                                         \
    case 3: GROUP(8, 1); break;                                                                         \
    default: GROUP(1, 1); break;                                                                        \
    }

/* The same with 4 / NT rows where wide: for kernels whose widening holds many constants in registers (FP8's byte
 * tables; with 8 rows it spilled: 19-21 against 20-24 GB/s at 7168 inputs). */
#define GROUP_BY_WIDTH_HALF(nt, wide, GROUP)                                                            \
    switch ((nt) * 2 + (wide)) {                                                                        \
    case 9:                                                                                             \
    case 8: GROUP(1, 4); break;                                                                         \
    case 7:                                                                                             \
    case 6: GROUP(1, 3); break;                                                                         \
    case 5: GROUP(2, 2); break;                                                                         \
    case 4: GROUP(1, 2); break;                                                                         \
    case 3: GROUP(4, 1); break;                                                                         \
    default: GROUP(1, 1); break;                                                                        \
    }

static inline __attribute__((always_inline)) void rows_block32(float *y, const float *x, const uint8_t *row,
                                                               size_t row_bytes, int block_bytes, int d_in, int d_out,
                                                               int R, int NT, block32_widen_fn *widen)
{
    __m512 a[8][2];
#pragma GCC unroll 8
    for (int i = 0; i < R * NT; i++)
        a[i][0] = a[i][1] = _mm512_setzero_ps();
    for (int kb = 0; kb < d_in / 32; kb++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m512 lo, hi;
            widen(row + r * row_bytes + (size_t)kb * block_bytes, &lo, &hi);
#pragma GCC unroll 4
            for (int j = 0; j < NT; j++) {
                const float *xt = x + (size_t)j * d_in + (size_t)kb * 32;
                a[r * NT + j][0] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xt), a[r * NT + j][0]);
                a[r * NT + j][1] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xt + 16), a[r * NT + j][1]);
            }
        }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            y[(size_t)j * d_out + r] = _mm512_reduce_add_ps(_mm512_add_ps(a[r * NT + j][0], a[r * NT + j][1]));
}

/* Rows o0..o1 of m for NT tokens, R at a time (leftover rows alone). */
static inline __attribute__((always_inline)) void rows_block32_group(float *y, const float *x,
                                                                     const struct block32_matrix *m, int block_bytes,
                                                                     int d_in, int d_out, int o0, int o1, int R,
                                                                     int NT, block32_widen_fn *widen)
{
    int o = o0;
    for (; o + R <= o1; o += R)
        rows_block32(y + o, x, m->w + (size_t)o * m->row_bytes, m->row_bytes, block_bytes, d_in, d_out, R, NT, widen);
    for (; o < o1; o++)
        rows_block32(y + o, x, m->w + (size_t)o * m->row_bytes, m->row_bytes, block_bytes, d_in, d_out, 1, NT, widen);
}

/* Decode: every row once per group of up to 4 tokens; where the group's activations pass KERN_ROWS_X_BYTES,
 * 8 / NT rows per pass (each row's numbers the same). */
static inline __attribute__((always_inline)) void matmul_block32(float *y, const float *x, const void *w,
                                                                 int block_bytes, int n, int d_in, int d_out, int o0,
                                                                 int o1, block32_widen_fn *widen,
                                                                 gemm_block32_fn *panel)
{
    const struct block32_matrix m = {w, (size_t)d_in / 32 * block_bytes};
    if (n >= GEMM_MIN_TOKENS) {
        gemm_blocks32(y, x, n, d_in, d_out, o0, o1, panel, &m);
        return;
    }
    for (int t = 0; t < n; t += 4) {
        const int nt = n - t < 4 ? n - t : 4;
        const bool wide = (size_t)nt * d_in * sizeof(float) > KERN_ROWS_X_BYTES;
        float *yt = y + (size_t)t * d_out;
        const float *xt = x + (size_t)t * d_in;
#define GROUP(R, NT) rows_block32_group(yt, xt, &m, block_bytes, d_in, d_out, o0, o1, R, NT, widen)
        GROUP_BY_WIDTH(nt, wide, GROUP)
#undef GROUP
    }
}

/* 16 (masked) KV-cache values from element i of b as fp32: IEEE half with f16 (exactly widened), else fp32. */
static inline __attribute__((always_inline)) __m512 load_kv(const void *b, int f16, size_t i, __mmask16 m)
{
    return f16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)b + i))
               : _mm512_maskz_loadu_ps(m, (const float *)b + i);
}

/* sum_i a[i] * b[i] with b fp32 or (f16) IEEE half: the same arithmetic over b's values either way
 * (dot_f32_avx512, inlined where the attention kernels call it per key). */
static inline __attribute__((always_inline)) float dot512_kv(const float *a, const void *b, int f16, int n)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load_kv(b, f16, (size_t)i, 0xffff), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), load_kv(b, f16, (size_t)i + 16, 0xffff), acc1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), load_kv(b, f16, (size_t)i, m), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
static inline __attribute__((always_inline)) float dot512(const float *a, const float *b, int n)
{
    return dot512_kv(a, b, 0, n);
}

/* y[i] += a * x[i], x fp32 or (f16) IEEE half (axpy_f32_avx512). */
static inline __attribute__((always_inline)) void axpy512_kv(float *y, float a, const void *x, int f16, int n)
{
    const __m512 av = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 yv = _mm512_maskz_loadu_ps(m, y + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(av, load_kv(x, f16, (size_t)i, m), yv));
    }
}
static inline __attribute__((always_inline)) void axpy512(float *y, float a, const float *x, int n)
{
    axpy512_kv(y, a, x, 0, n);
}

/* The act q8 kernels (struct act_q8 in kernels.h; files compiled with AVX512-VNNI): the sum of a ymm's 8 floats. */
static inline float hsum256(__m256 v)
{
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* acc += (the int32 lane sums of u * q for block `at` of x, less offset * sum(q)) * (x's d * scale), for u the
 * block's 32 weights as unsigned bytes (w + offset): the seed takes the offset back, so the lanes add up to the
 * exact signed dot product; the scale formed first, as the references do. */
static inline __attribute__((always_inline)) __m256 q8_block_dot(__m256 acc, __m256i u, float scale,
                                                                 const struct act_q8 *x, size_t at, int offset)
{
    const __m256i seed = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-offset * x->sum[at]));
    const __m256i dot = _mm256_dpbusd_epi32(seed, u, _mm256_loadu_si256((const __m256i *)(x->q + at * 32)));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(x->d[at] * scale), acc);
}

#endif
