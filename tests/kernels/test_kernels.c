/* test_kernels.c — every SIMD kernel against its plain reference on awkward sizes (tails of every
 * length, single rows, single tokens), and the f16 conversion against the CPU's own F16C instruction
 * for all 65536 inputs. */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#include "backend/ops.h"
#include "kernels/fp8.h"
#include "kernels/kernels.h"
#include "test_util.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static uint16_t f32_to_bf16_trunc(float f)
{
    union { float f; uint32_t u; } v = {.f = f};
    return (uint16_t)(v.u >> 16);
}

__attribute__((target("f16c"))) static float hw_f16(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) static uint16_t hw_to_f16(float f) { return _cvtss_sh(f, 0); }

static void test_f16_exhaustive(void)
{
    if (!__builtin_cpu_supports("f16c"))
        return;
    /* f32 -> f16: round to nearest even, against F16C on edges and random values of every magnitude */
    static const float edges[] = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.0f, 65520.0f, 1e9f, 6.1035156e-05f,
                                  6.0e-08f, 5.96e-08f, 2.98e-08f, 2.99e-08f, 1e-10f, -3.14159f};
    int bad16 = 0;
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        bad16 += f32_to_f16(edges[i]) != hw_to_f16(edges[i]);
    for (int i = 0; i < 200000; i++) {
        union { uint32_t u; float f; } v = {.u = (uint32_t)(frand() * 2147483647.0f) * 2u + (uint32_t)i};
        if (isnan(v.f))
            continue;
        bad16 += f32_to_f16(v.f) != hw_to_f16(v.f);
    }
    CHECK_MSG(bad16 == 0, "%d f32 values round to f16 differently from F16C", bad16);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float a = f16_to_f32((uint16_t)h), b = hw_f16((uint16_t)h);
        if (!(a == b || (isnan(a) && isnan(b))) || signbit(a) != signbit(b))
            bad++;
    }
    CHECK_MSG(bad == 0, "%d f16 values convert differently from F16C", bad);
}

/* Compare one matmul variant to the reference: |y - y_ref| <= 1e-5 * sum |x||w| per output. */
static void compare_matmul(const char *what, matmul_fn *fast, matmul_fn *ref, const void *w, int n, int d_in,
                           int d_out, const float *x, float (*wval)(const void *, size_t))
{
    float *y = calloc((size_t)n * d_out, sizeof(float)), *y_ref = calloc((size_t)n * d_out, sizeof(float));
    /* split the rows like the backend does, with an odd split point */
    int mid = d_out / 3;
    fast(y, x, w, n, d_in, d_out, 0, mid);
    fast(y, x, w, n, d_in, d_out, mid, d_out);
    ref(y_ref, x, w, n, d_in, d_out, 0, d_out);
    int bad = 0;
    for (int t = 0; t < n; t++)
        for (int o = 0; o < d_out; o++) {
            double scale = 0;
            for (int k = 0; k < d_in; k++)
                scale += fabs(x[(size_t)t * d_in + k] * wval(w, (size_t)o * d_in + k));
            if (fabs(y[(size_t)t * d_out + o] - y_ref[(size_t)t * d_out + o]) > 1e-5 * scale + 1e-30)
                bad++;
        }
    CHECK_MSG(bad == 0, "%s n=%d d_in=%d d_out=%d: %d outputs differ", what, n, d_in, d_out, bad);
    free(y);
    free(y_ref);
}

/* The bf16-activation prefill GEMM as a matmul_fn: the activations packed in two calls splitting the tiles,
 * over a buffer of NaNs (padding the packer missed would poison the sums), then the GEMM over o0..o1. */
static void gemm_act_scaled(float *y, const float *x, const void *w, const float *scales, enum act_bf16_weights fmt,
                            int n, int d_in, int d_out, int o0, int o1)
{
    const size_t len = act_bf16_packed_len(n, d_in);
    const int n_tiles = (n + ACT_BF16_TILE - 1) / ACT_BF16_TILE;
    uint16_t *xp = aligned_alloc(64, (len * 2 + 63) / 64 * 64);
    float *panel = aligned_alloc(64, ACT_BF16_PANEL * sizeof(float));
    for (size_t i = 0; i < len; i++)
        xp[i] = 0x7fc1;
    pack_act_bf16_avx512(xp, x, n, d_in, 0, n_tiles / 2);
    pack_act_bf16_avx512(xp, x, n, d_in, n_tiles / 2, n_tiles);
    gemm_bf16_act_avx512(y, xp, w, scales, fmt, n, d_in, d_out, o0, o1, panel);
    free(xp), free(panel);
}
static void gemm_act(float *y, const float *x, const void *w, enum act_bf16_weights fmt, int n, int d_in, int d_out,
                     int o0, int o1)
{
    gemm_act_scaled(y, x, w, NULL, fmt, n, d_in, d_out, o0, o1);
}
static void gemm_bf16(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    gemm_act(y, x, w, ACT_W_BF16, n, d_in, d_out, o0, o1);
}
static void gemm_q8_0(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    gemm_act(y, x, w, ACT_W_Q8_0, n, d_in, d_out, o0, o1);
}

static float wval_f32(const void *w, size_t i) { return ((const float *)w)[i]; }
static float wval_bf16(const void *w, size_t i) { return bf16_to_f32(((const uint16_t *)w)[i]); }
static float wval_f16(const void *w, size_t i) { return f16_to_f32(((const uint16_t *)w)[i]); }

/* Every f32/bf16/f16 matmul variant the CPU has against its reference at one shape. */
static void check_plain_matmuls(int n, int d_in, int d_out)
{
    const size_t nw = (size_t)d_in * d_out;
    float *x = malloc((size_t)n * d_in * sizeof(float)), *wf = malloc(nw * sizeof(float));
    uint16_t *wb = malloc(nw * 2), *wh = malloc(nw * 2);
    for (size_t i = 0; i < (size_t)n * d_in; i++)
        x[i] = frand();
    for (size_t i = 0; i < nw; i++) {
        wf[i] = frand();
        wb[i] = f32_to_bf16_trunc(wf[i]);
        wh[i] = __builtin_cpu_supports("f16c") ? hw_to_f16(wf[i]) : wb[i];
    }
    if (kernels_have_avx512()) {
        compare_matmul("f32", matmul_f32_avx512, matmul_f32_ref, wf, n, d_in, d_out, x, wval_f32);
        compare_matmul("bf16", matmul_bf16_avx512, matmul_bf16_ref, wb, n, d_in, d_out, x, wval_bf16);
        compare_matmul("f16", matmul_f16_avx512, matmul_f16_ref, wh, n, d_in, d_out, x, wval_f16);
    }
    if (kernels_have_avx2()) {
        compare_matmul("f32 avx2", matmul_f32_avx2, matmul_f32_ref, wf, n, d_in, d_out, x, wval_f32);
        compare_matmul("bf16 avx2", matmul_bf16_avx2, matmul_bf16_ref, wb, n, d_in, d_out, x, wval_bf16);
        compare_matmul("f16 avx2", matmul_f16_avx2, matmul_f16_ref, wh, n, d_in, d_out, x, wval_f16);
    }
    if (kernels_have_avx512_bf16()) { /* activations rounded to bf16 in both */
        compare_matmul("bf16 act", matmul_bf16_act_avx512, matmul_bf16_act_ref, wb, n, d_in, d_out, x, wval_bf16);
        compare_matmul("bf16 act gemm", gemm_bf16, matmul_bf16_act_ref, wb, n, d_in, d_out, x, wval_bf16);
    }
    free(x);
    free(wf);
    free(wb);
    free(wh);
}

static void test_matmuls(void)
{
    static const int d_ins[] = {1, 7, 15, 16, 17, 31, 33, 64, 100, 257};
    static const int d_outs[] = {1, 3, 4, 5, 9, 17, 40};
    static const int ns[] = {1, 2, 3, 4, 5, 8, 9, 17}; /* 8+: the GEMM path */
    for (size_t a = 0; a < sizeof d_ins / sizeof *d_ins; a++)
        for (size_t b = 0; b < sizeof d_outs / sizeof *d_outs; b++)
            for (size_t c = 0; c < sizeof ns / sizeof *ns; c++)
                check_plain_matmuls(ns[c], d_ins[a], d_outs[b]);
}

/* Past KERN_ROWS_X_BYTES of one token's activations (4096 inputs) the AVX-512 decode takes several rows per pass
 * (8 / n, leftover rows alone): at 1-4 tokens, rows split at an odd point, 4100 inputs with a tail of 4 and 4352
 * without; the bf16-activation decode (2 bytes an input) past it at 8224 inputs, and past its stack buffer. */
static void test_matmuls_wide(void)
{
    for (int n = 1; n <= 4; n++) {
        check_plain_matmuls(n, 4100, 19);
        check_plain_matmuls(n, 4352, 19);
    }
    check_plain_matmuls(1, 8224, 11); /* the bf16-activation decode's bf16 activations past 16 KB at one token */
    check_plain_matmuls(2, 65600, 3); /* past its stack buffer: converted on the fly */
}

/* The bf16-activation GEMM where the inputs span several super-slices (the accumulators reloaded between
 * them), the last slices partial, and the rows more than one chunk of 48, the last partial. */
static void test_gemm_bf16_wide(void)
{
    if (!kernels_have_avx512_bf16())
        return;
    const int n = 11, d_in = 2 * ACT_BF16_SUPER + ACT_BF16_SLICE + 34, d_out = 2 * 48 + 53;
    float *x = malloc((size_t)n * d_in * sizeof(float));
    uint16_t *wb = malloc((size_t)d_out * d_in * 2);
    for (size_t i = 0; i < (size_t)n * d_in; i++)
        x[i] = frand();
    for (size_t i = 0; i < (size_t)d_out * d_in; i++)
        wb[i] = f32_to_bf16_trunc(frand());
    compare_matmul("bf16 act gemm (wide)", gemm_bf16, matmul_bf16_act_ref, wb, n, d_in, d_out, x, wval_bf16);
    free(x), free(wb);
}

/* FP8 blocks in the bf16-activation GEMM: against matmul_fp8_act_ref (the same roundings, another order) where the
 * inputs are no multiple of 32 (masked tails), span several super-slices and 128-input scale blocks, and the rows
 * cross a 128-row scale block and several chunks of 48, split at an odd point; every byte's value (one-hot tokens
 * read single weights: bf16 of e4m3 * scale, NaN codes left out). */
static void test_gemm_fp8(void)
{
    if (!kernels_have_avx512_bf16())
        return;
    static const int shapes[][3] = {{9, 200, 150}, {11, 2 * ACT_BF16_SUPER + 300, 133}, {16, 256, 64}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        const int n = shapes[c][0], d_in = shapes[c][1], d_out = shapes[c][2];
        const int n_cb = (d_in + 127) / 128, n_rb = (d_out + 127) / 128;
        uint8_t *w = malloc((size_t)d_out * d_in);
        float *s = malloc(sizeof(float) * n_cb * n_rb), *x = malloc(sizeof(float) * n * d_in);
        float *y = calloc((size_t)n * d_out, sizeof(float)), *yr = calloc((size_t)n * d_out, sizeof(float));
        for (int i = 0; i < d_out * d_in; i++) {
            w[i] = (uint8_t)(frand() * 128.0f + 128.0f);
            if ((w[i] & 0x7f) == 0x7f)
                w[i] ^= 1;
        }
        for (int i = 0; i < n_cb * n_rb; i++)
            s[i] = 0.002f * (1.0f + (float)i);
        for (int i = 0; i < n * d_in; i++)
            x[i] = frand();
        gemm_act_scaled(y, x, w, s, ACT_W_FP8, n, d_in, d_out, 0, 53);
        gemm_act_scaled(y, x, w, s, ACT_W_FP8, n, d_in, d_out, 53, d_out);
        matmul_fp8_act_ref(yr, x, w, s, n, d_in, d_out, 0, d_out);
        int bad = 0;
        float *row = malloc(sizeof(float) * d_in);
        for (int o = 0; o < d_out; o++) {
            dequantize_row_fp8(row, w + (size_t)o * d_in, s + (size_t)(o / 128) * n_cb, d_in);
            for (int t = 0; t < n; t++) {
                double mag = 0;
                for (int k = 0; k < d_in; k++)
                    mag += fabs(x[(size_t)t * d_in + k] * row[k]);
                bad += !(fabs(y[(size_t)t * d_out + o] - yr[(size_t)t * d_out + o]) <= 1e-5 * mag + 1e-30);
            }
        }
        CHECK_MSG(bad == 0, "fp8 act bf16 gemm n=%d d_in=%d d_out=%d: %d outputs differ from matmul_fp8_act_ref", n,
                  d_in, d_out, bad);
        if (c == 2) { /* one-hot tokens: each weight's bf16, bit for bit */
            int bad_w = 0;
            for (int k0 = 0; k0 < d_in; k0 += n) {
                memset(x, 0, sizeof(float) * n * d_in);
                for (int t = 0; t < n; t++)
                    x[(size_t)t * d_in + k0 + t] = 1.0f;
                gemm_act_scaled(y, x, w, s, ACT_W_FP8, n, d_in, d_out, 0, d_out);
                for (int o = 0; o < d_out; o++) {
                    dequantize_row_fp8(row, w + (size_t)o * d_in, s + (size_t)(o / 128) * n_cb, d_in);
                    for (int t = 0; t < n; t++)
                        bad_w += y[(size_t)t * d_out + o] != bf16_to_f32(f32_to_bf16(row[k0 + t]));
                }
            }
            CHECK_MSG(bad_w == 0, "fp8 act bf16 gemm: %d weights differ from bf16 of the dequantizer's", bad_w);
        }
        free(w), free(s), free(x), free(y), free(yr), free(row);
    }
}

typedef void (*q8_0_matmul_fn)(float *, const float *, const void *, int, int, int, int, int);

/* One Q8_0 variant against its reference: two calls splitting the output rows, then each output within
 * 1e-5 of the sum of |x·w| terms of the reference. */
static void check_q8_0_variant(const char *name, q8_0_matmul_fn fast, q8_0_matmul_fn ref, const uint8_t *w,
                               const float *x, int n, int d_in, int d_out)
{
    float *y = calloc((size_t)n * d_out, sizeof(float)), *y_ref = calloc((size_t)n * d_out, sizeof(float));
    float *wf = malloc((size_t)d_in * sizeof(float));
    fast(y, x, w, n, d_in, d_out, 0, 5);
    fast(y, x, w, n, d_in, d_out, 5, d_out);
    ref(y_ref, x, w, n, d_in, d_out, 0, d_out);
    int bad = 0;
    for (int o = 0; o < d_out; o++) {
        dequantize_row_q8_0(wf, w + (size_t)o * d_in / 32 * 34, d_in);
        for (int t = 0; t < n; t++) {
            double scale = 0;
            for (int k = 0; k < d_in; k++)
                scale += fabs(x[(size_t)t * d_in + k] * wf[k]);
            bad += fabs(y[(size_t)t * d_out + o] - y_ref[(size_t)t * d_out + o]) > 1e-5 * scale + 1e-30;
        }
    }
    CHECK_MSG(bad == 0, "%s n=%d d_in=%d: %d outputs differ", name, n, d_in, bad);
    free(y), free(y_ref), free(wf);
}

/* The act q8 kernels' bounds, row by row of w (row_bytes each, dequantized by deq): a reference yq within the
 * activations' quantization error (sum_k |w_k| d_k / 2) of the exact y; each of n_fast SIMD results within
 * summation order (1e-5 of the terms) of yq. Returns the count beyond the first bound; bad_fast[i] for the
 * others (counted only where fast[i] is non-NULL). */
static int q8_errors(void (*deq)(float *, const void *, int), const uint8_t *w, size_t row_bytes, const float *x,
                     const float *d, int n, int d_in, int d_out, const float *y, const float *yq,
                     const float *const *fast, int n_fast, int *bad_fast)
{
    float *wf = malloc(sizeof(float) * d_in);
    int bad = 0;
    for (int o = 0; o < d_out; o++) {
        deq(wf, w + (size_t)o * row_bytes, d_in);
        for (int t = 0; t < n; t++) {
            double qerr = 0, terms = 0;
            for (int k = 0; k < d_in; k++) {
                qerr += fabs(wf[k]) * d[(size_t)t * (d_in / 32) + k / 32] * 0.5;
                terms += fabs(x[(size_t)t * d_in + k] * wf[k]);
            }
            const size_t i = (size_t)t * d_out + o;
            bad += fabs(yq[i] - y[i]) > qerr * 1.0001 + 1e-5 * terms + 1e-30;
            for (int f = 0; f < n_fast; f++)
                bad_fast[f] += fast[f] && fabs(fast[f][i] - yq[i]) > 1e-5 * (terms + qerr) + 1e-30;
        }
    }
    free(wf);
    return bad;
}

static void check_q8_0_q8(const uint8_t *w, const float *x, int n, int d_in, int d_out)
{
    matmul_fn *exact = matmul_q8_0_ref;
    matmul_q8_0_q8_fn *ref = matmul_q8_0_q8_ref, *fast = matmul_q8_0_q8_avx512, *fast2 = matmul_q8_0_q8_avx2;
    const int block_bytes = 34;
    const char *name = "q8_0";
    const int nb = d_in / 32;
    int8_t *q = malloc((size_t)n * d_in);
    float *d = malloc(sizeof(float) * n * nb);
    int32_t *sum = malloc(sizeof(int32_t) * n * nb);
    float *y = malloc(sizeof(float) * n * d_out), *yq = malloc(sizeof(float) * n * d_out);
    float *ys = malloc(sizeof(float) * n * d_out), *y2 = malloc(sizeof(float) * n * d_out);
    float *yg = malloc(sizeof(float) * n * d_out);
    void *panel = aligned_alloc(64, (gemm_blocks_q8_panel_bytes(d_in) + 63) / 64 * 64);
    const struct act_q8 a = {q, d, sum};
    quantize_act_q8_ref(&a, x, n, d_in, false);
    exact(y, x, w, n, d_in, d_out, 0, d_out);
    ref(yq, &a, w, n, d_in, d_out, 0, d_out);
    const bool vnni = kernels_have_avx512_vnni();
    if (vnni) {
        fast(ys, &a, w, n, d_in, d_out, 0, 7);
        fast(ys, &a, w, n, d_in, d_out, 7, d_out);
        /* the prefill GEMM: a chunk of 7 rows, then the rest in chunks of 32 (the last partial) */
        gemm_blocks_q8_avx512(yg, &a, w, ACT_W_Q8_0, n, d_in, d_out, 0, 7, panel);
        gemm_blocks_q8_avx512(yg, &a, w, ACT_W_Q8_0, n, d_in, d_out, 7, d_out, panel);
    }
    const bool avx2 = kernels_have_avx2();
    if (avx2) {
        fast2(y2, &a, w, n, d_in, d_out, 0, 7);
        fast2(y2, &a, w, n, d_in, d_out, 7, d_out);
    }
    int bad_f[3] = {0, 0, 0};
    const float *fast_y[3] = {vnni ? ys : NULL, avx2 ? y2 : NULL, vnni ? yg : NULL};
    const int bad = q8_errors(dequantize_row_q8_0, w, (size_t)nb * block_bytes, x, d, n,
                              d_in, d_out, y, yq, fast_y, 3, bad_f);
    const int bad_simd = bad_f[0], bad_avx2 = bad_f[1];
    CHECK_MSG(bad_f[2] == 0, "%s q8 gemm n=%d d_in=%d d_out=%d: %d outputs differ from the reference", name, n, d_in,
              d_out, bad_f[2]);
    CHECK_MSG(bad_avx2 == 0, "%s q8 avx2 n=%d d_in=%d: %d outputs differ from the reference", name, n, d_in, bad_avx2);
    CHECK_MSG(bad == 0, "%s q8 ref n=%d d_in=%d: %d outputs beyond the quantization error", name, n, d_in, bad);
    CHECK_MSG(bad_simd == 0, "%s q8 avx512 n=%d d_in=%d: %d outputs differ from the reference", name, n, d_in, bad_simd);
    free(q), free(d), free(sum), free(y), free(yq), free(ys), free(y2), free(yg), free(panel);
}

/* Q8_0: hand-computed dequantization, then each SIMD matmul the CPU has against its reference on random
 * blocks. */
static void test_q8_0(void)
{
    uint8_t blk[34] = {0x00, 0x3c}; /* f16 1.0 */
    for (int j = 0; j < 32; j++)
        blk[2 + j] = (uint8_t)(int8_t)(j - 16);
    float out[32];
    dequantize_row_q8_0(out, blk, 32);
    int bad = 0;
    for (int j = 0; j < 32; j++)
        bad += out[j] != (float)(j - 16);
    blk[1] = 0x38; /* f16 0.5 */
    dequantize_row_q8_0(out, blk, 32);
    for (int j = 0; j < 32; j++)
        bad += out[j] != 0.5f * (float)(j - 16);
    CHECK_MSG(bad == 0, "Q8_0 dequantization: %d wrong values", bad);

    static const int d_ins[] = {32, 64, 96, 320, 4160, 13120}; /* past KERN_ROWS_X_BYTES: 4160 of fp32 activations at
                                                                 every n, 13120 of the act q8 mode's at every n */
    static const int ns[] = {1, 3, 4, 5, 8, 11}; /* 8+: the GEMM path */
    for (size_t a = 0; a < sizeof d_ins / sizeof *d_ins; a++)
        for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
            const int d_in = d_ins[a], d_out = c % 2 ? 21 : 75, n = ns[c]; /* 75: the GEMM's chunks of 32 */
            const size_t n_blocks = (size_t)d_out * d_in / 32;
            uint8_t *w = malloc(n_blocks * 34);
            for (size_t b = 0; b < n_blocks; b++) {
                uint16_t d = (uint16_t)(0x2000 + (b * 97) % 0x1000); /* positive f16 scales */
                memcpy(w + b * 34, &d, 2);
                for (int j = 0; j < 32; j++)
                    w[b * 34 + 2 + j] = (b + j) % 53 ? (uint8_t)(int8_t)(int)(frand() * 127.0f) : 0x80; /* -128 too */
            }
            float *x = malloc((size_t)n * d_in * sizeof(float));
            for (size_t i = 0; i < (size_t)n * d_in; i++)
                x[i] = frand();
            if (kernels_have_avx2())
                check_q8_0_variant("q8_0 avx2", matmul_q8_0_avx2, matmul_q8_0_ref, w, x, n, d_in, d_out);
            if (kernels_have_avx512())
                check_q8_0_variant("q8_0 avx512", matmul_q8_0_avx512, matmul_q8_0_ref, w, x, n, d_in, d_out);
            if (kernels_have_avx512_bf16()) /* bf16-activation mode: weights and activations rounded alike */
                check_q8_0_variant("q8_0 act gemm", gemm_q8_0, matmul_q8_0_act_ref, w, x, n, d_in, d_out);
            check_q8_0_q8(w, x, n, d_in, d_out);
            free(w), free(x);
        }
}

/* The GGML block formats: one hand-built block per format with values computed here from the layout
 * description, then every AVX-512 matmul against its reference on random blocks with sane f16 scales. */
static void test_ggml_blocks(void)
{
    uint8_t b[256] = {0};
    float y[256];
    int bad = 0;
    /* Q4_0: d = 2 (f16 0x4000); qs[j] = (j & 15) | ((15 - j) << 4) -> w[j] = 2(j - 8), w[j+16] = 2(7 - j) */
    b[0] = 0x00, b[1] = 0x40;
    for (int j = 0; j < 16; j++)
        b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    dequantize_block_q4_0(y, b);
    for (int j = 0; j < 16; j++)
        bad += y[j] != 2.0f * (float)(j - 8) || y[j + 16] != 2.0f * (float)(7 - j);
    /* Q5_0: same nibbles, qh bit j set for j < 16 only -> low half gets +16 */
    memset(b, 0, sizeof b);
    b[0] = 0x00, b[1] = 0x3c; /* d = 1 */
    b[2] = 0xff, b[3] = 0xff;  /* qh = 0x0000ffff */
    for (int j = 0; j < 16; j++)
        b[6 + j] = (uint8_t)(j | (j << 4));
    dequantize_block_q5_0(y, b);
    for (int j = 0; j < 16; j++)
        bad += y[j] != (float)(j + 16 - 16) || y[j + 16] != (float)(j - 16);
    /* Q4_K: d = 1, dmin = 1; sub-block scales 1..4 and mins 0 for j < 4 (bytes 0..3 scales, 4..7 mins),
     * sub-blocks 4..7 get scale 5 and min 1 via the split encoding; all quants 3 -> w = sc*3 - m */
    memset(b, 0, sizeof b);
    b[1] = 0x3c, b[3] = 0x3c;
    for (int j = 0; j < 4; j++)
        b[4 + j] = (uint8_t)(j + 1);  /* scales of sub-blocks 0..3, mins 0 */
    for (int j = 4; j < 8; j++)
        b[4 + j + 4] = 0x15;          /* low nibble 5 (scale), high nibble 1 (min) for sub-blocks 4..7 */
    memset(b + 16, 0x33, 128);
    dequantize_block_q4_K(y, b);
    for (int i = 0; i < 256; i++) {
        const int sub = i / 32;
        const float want = sub < 4 ? 3.0f * (float)(sub + 1) : 3.0f * 5.0f - 1.0f;
        bad += y[i] != want;
    }
    /* Q6_K: d = 1, scales all 2, ql = 0x21, qh = 0 -> q = 1 or 2, minus 32 */
    memset(b, 0, sizeof b);
    memset(b, 0x21, 128);
    memset(b + 192, 2, 16);
    b[208] = 0x00, b[209] = 0x3c;
    dequantize_block_q6_K(y, b);
    for (int i = 0; i < 256; i++)
        bad += y[i] != 2.0f * (float)(((i % 128) < 64 ? 1 : 2) - 32);
    CHECK_MSG(bad == 0, "GGML block dequantization: %d wrong values", bad);

    static const struct {
        const char *name;
        matmul_fn *avx512, *avx2, *ref;
        void (*deq)(float *, const void *, int);
        int block, bytes, scale_at[2];
    } fmts[] = {
        {"q4_0", matmul_q4_0_avx512, matmul_q4_0_avx2, matmul_q4_0_ref, dequantize_row_q4_0, 32, 18, {0, -1}},
        {"q4_1", matmul_q4_1_avx512, matmul_q4_1_avx2, matmul_q4_1_ref, dequantize_row_q4_1, 32, 20, {0, 2}},
        {"q5_0", matmul_q5_0_avx512, matmul_q5_0_avx2, matmul_q5_0_ref, dequantize_row_q5_0, 32, 22, {0, -1}},
        {"q5_1", matmul_q5_1_avx512, matmul_q5_1_avx2, matmul_q5_1_ref, dequantize_row_q5_1, 32, 24, {0, 2}},
        {"q4_K", matmul_q4_K_avx512, matmul_q4_K_avx2, matmul_q4_K_ref, dequantize_row_q4_K, 256, 144, {0, 2}},
        {"q5_K", matmul_q5_K_avx512, matmul_q5_K_avx2, matmul_q5_K_ref, dequantize_row_q5_K, 256, 176, {0, 2}},
        {"q6_K", matmul_q6_K_avx512, matmul_q6_K_avx2, matmul_q6_K_ref, dequantize_row_q6_K, 256, 210, {208, -1}},
    };
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++)
        for (int v = 0; v < 4; v++) /* AVX-512, AVX2; then both past KERN_ROWS_X_BYTES of one token's activations */
            for (int n = 1; n <= 9; n += 2 + 2 * (n == 5)) { /* 1, 3, 5, 9 (the AVX2 GEMM) */
                matmul_fn *fast = v % 2 ? fmts[f].avx2 : fmts[f].avx512;
                if (!(v % 2 ? kernels_have_avx2() : kernels_have_avx512()))
                    continue;
                const int d_in = v < 2 ? 2 * fmts[f].block : fmts[f].block == 32 ? 4160 : 4352, d_out = 19,
                          nb = d_out * d_in / fmts[f].block;
                uint8_t *w = malloc((size_t)nb * fmts[f].bytes);
                for (int i = 0; i < nb * fmts[f].bytes; i++)
                    w[i] = (uint8_t)(frand() * 128.0f + 128.0f);
                for (int i = 0; i < nb; i++) /* f16 scales in [2^-8, 2^-7): finite, moderate */
                    for (int k = 0; k < 2; k++)
                        if (fmts[f].scale_at[k] >= 0) {
                            uint16_t h = (uint16_t)(0x1c00 + (i * 131 + k * 17) % 0x400);
                            memcpy(w + (size_t)i * fmts[f].bytes + fmts[f].scale_at[k], &h, 2);
                        }
                float *x = malloc((size_t)n * d_in * sizeof(float)), *wf = malloc((size_t)d_in * sizeof(float));
                for (int i = 0; i < n * d_in; i++)
                    x[i] = frand();
                float *yy = calloc((size_t)n * d_out, sizeof(float)), *yr = calloc((size_t)n * d_out, sizeof(float));
                fast(yy, x, w, n, d_in, d_out, 0, 3);
                fast(yy, x, w, n, d_in, d_out, 3, d_out);
                fmts[f].ref(yr, x, w, n, d_in, d_out, 0, d_out);
                int bad_mm = 0;
                for (int o = 0; o < d_out; o++) {
                    fmts[f].deq(wf, w + (size_t)o * d_in / fmts[f].block * fmts[f].bytes, d_in);
                    for (int t = 0; t < n; t++) {
                        double scale = 0;
                        for (int k = 0; k < d_in; k++)
                            scale += fabs(x[(size_t)t * d_in + k] * wf[k]);
                        bad_mm += !(fabs(yy[(size_t)t * d_out + o] - yr[(size_t)t * d_out + o]) <= 1e-5 * scale + 1e-30);
                    }
                }
                CHECK_MSG(bad_mm == 0, "%s %s d_in=%d n=%d: %d outputs differ from the reference", fmts[f].name,
                          v % 2 ? "avx2" : "avx512", d_in, n, bad_mm);
                /* one-hot tokens read single weights: each equals the reference dequantizer's bit for bit (the
                 * kernels widen with its operations), through the decode rows (n < 8) and the GEMM (n = 9) */
                int bad_w = 0;
                for (int k0 = 0; k0 < d_in && v < 2; k0 += n) {
                    memset(x, 0, (size_t)n * d_in * sizeof(float));
                    for (int t = 0; t < n && k0 + t < d_in; t++)
                        x[(size_t)t * d_in + k0 + t] = 1.0f;
                    fast(yy, x, w, n, d_in, d_out, 0, d_out);
                    for (int o = 0; o < d_out; o++) {
                        fmts[f].deq(wf, w + (size_t)o * d_in / fmts[f].block * fmts[f].bytes, d_in);
                        for (int t = 0; t < n && k0 + t < d_in; t++)
                            bad_w += yy[(size_t)t * d_out + o] != wf[k0 + t];
                    }
                }
                CHECK_MSG(bad_w == 0, "%s %s n=%d: %d weights differ from the dequantizer's", fmts[f].name,
                          v % 2 ? "avx2" : "avx512", n, bad_w);
                /* the bf16-activation GEMM over these rows: matmul_deq_act_ref's sums in another order */
                if (v % 2 == 0 && n >= 8 && kernels_have_avx512_bf16()) {
                    const enum act_bf16_weights fmt = fmts[f].bytes == 144 ? ACT_W_Q4_K
                                                    : fmts[f].bytes == 176 ? ACT_W_Q5_K
                                                    : fmts[f].bytes == 210 ? ACT_W_Q6_K
                                                    : fmts[f].bytes == 18  ? ACT_W_Q4_0
                                                    : fmts[f].bytes == 20  ? ACT_W_Q4_1
                                                    : fmts[f].bytes == 22  ? ACT_W_Q5_0
                                                                           : ACT_W_Q5_1;
                    const size_t row_bytes = (size_t)d_in / fmts[f].block * fmts[f].bytes;
                    for (int i = 0; i < n * d_in; i++)
                        x[i] = frand();
                    gemm_act(yy, x, w, fmt, n, d_in, d_out, 0, 5);
                    gemm_act(yy, x, w, fmt, n, d_in, d_out, 5, d_out);
                    matmul_deq_act_ref(yr, x, w, fmts[f].deq, row_bytes, n, d_in, d_out, 0, d_out);
                    int bad_g = 0;
                    for (int o = 0; o < d_out; o++) {
                        fmts[f].deq(wf, w + (size_t)o * row_bytes, d_in);
                        for (int t = 0; t < n; t++) {
                            double scale = 0;
                            for (int k = 0; k < d_in; k++)
                                scale += fabs(x[(size_t)t * d_in + k] * wf[k]);
                            bad_g += !(fabs(yy[(size_t)t * d_out + o] - yr[(size_t)t * d_out + o]) <= 1e-5 * scale + 1e-30);
                        }
                    }
                    CHECK_MSG(bad_g == 0, "%s act bf16 gemm n=%d: %d outputs differ from matmul_deq_act_ref",
                              fmts[f].name, n, bad_g);
                }
                free(w), free(x), free(wf), free(yy), free(yr);
            }
}

/* The act q8 kernels of the other GGML blocks (Q4_0, Q4_1, Q5_0, Q5_1; Q4_K, Q5_K, Q6_K): on random blocks (f16
 * scale and min fields small), the reference within the activations' quantization error of the exact fp32
 * product (a wrong scale, min, offset or bit is far outside it), the AVX-512 VNNI and AVX2 kernels (rows split at
 * an odd point) within summation order of the reference, and row-exact (each token alone gives its row of the
 * batch bitwise). Odd block counts reach the kernels' one-block tails. */
static void test_blocks_q8(void)
{
    static const struct {
        const char *name;
        matmul_q8_0_q8_fn *ref, *fast, *fast2;
        matmul_fn *exact;
        void (*deq)(float *, const void *, int);
        int block, bytes, f16_at[2], gemm; /* gemm: its prefill GEMM's format, or -1 */
    } fmts[] = {
        {"q4_0", matmul_q4_0_q8_ref, matmul_q4_0_q8_avx512, matmul_q4_0_q8_avx2, matmul_q4_0_ref, dequantize_row_q4_0, 32, 18, {0, -1}, ACT_W_Q4_0},
        {"q4_1", matmul_q4_1_q8_ref, matmul_q4_1_q8_avx512, matmul_q4_1_q8_avx2, matmul_q4_1_ref, dequantize_row_q4_1, 32, 20, {0, 2}, ACT_W_Q4_1},
        {"q5_0", matmul_q5_0_q8_ref, matmul_q5_0_q8_avx512, matmul_q5_0_q8_avx2, matmul_q5_0_ref, dequantize_row_q5_0, 32, 22, {0, -1}, ACT_W_Q5_0},
        {"q5_1", matmul_q5_1_q8_ref, matmul_q5_1_q8_avx512, matmul_q5_1_q8_avx2, matmul_q5_1_ref, dequantize_row_q5_1, 32, 24, {0, 2}, ACT_W_Q5_1},
        {"q4_K", matmul_q4_K_q8_ref, matmul_q4_K_q8_avx512, matmul_q4_K_q8_avx2, matmul_q4_K_ref, dequantize_row_q4_K, 256, 144, {0, 2}, ACT_W_Q4_K},
        {"q5_K", matmul_q5_K_q8_ref, matmul_q5_K_q8_avx512, matmul_q5_K_q8_avx2, matmul_q5_K_ref, dequantize_row_q5_K, 256, 176, {0, 2}, ACT_W_Q5_K},
        {"q6_K", matmul_q6_K_q8_ref, matmul_q6_K_q8_avx512, matmul_q6_K_q8_avx2, matmul_q6_K_ref, dequantize_row_q6_K, 256, 210, {208, -1}, ACT_W_Q6_K},
    };
    const bool vnni = kernels_have_avx512_vnni(), avx2 = kernels_have_avx2();
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++)
        for (int di = 0; di < 3; di++) /* 13120 / 13312 inputs: past KERN_ROWS_X_BYTES of int8 activations */
            for (int n = 1; n <= 11; n += n < 5 ? 2 : 6) { /* 11: a GEMM's tiles of 4 and a tail of 3 */
                const int d_in = fmts[f].block == 32 ? (di == 2 ? 13120 : di ? 800 : 96)
                                                     : (di == 2 ? 13312 : di ? 768 : 256); /* 3 / 25 blocks */
                const int d_out = di == 2 ? 11 : di ? 19 : 45, n_blk = d_out * d_in / fmts[f].block, nb = d_in / 32;
                uint8_t *w = malloc((size_t)n_blk * fmts[f].bytes);
                for (int i = 0; i < n_blk * fmts[f].bytes; i++)
                    w[i] = (uint8_t)(frand() * 128.0f + 128.0f);
                for (int i = 0; i < n_blk; i++)
                    for (int k = 0; k < 2; k++)
                        if (fmts[f].f16_at[k] >= 0) {
                            /* Q4_1/Q5_1 mins as real ones: about -8 d (-0.03 to -0.05) */
                            const uint16_t h = (uint16_t)((k && fmts[f].block == 32 ? 0xa800 : 0x1c00) +
                                                          (i * 131 + k * 17) % 0x400);
                            memcpy(w + (size_t)i * fmts[f].bytes + fmts[f].f16_at[k], &h, 2);
                        }
                float *x = malloc(sizeof(float) * n * d_in);
                for (int i = 0; i < n * d_in; i++)
                    x[i] = frand() * (i % 53 == 0 ? 6.0f : 1.0f);
                int8_t *q = malloc((size_t)n * d_in);
                float *d = malloc(sizeof(float) * n * nb);
                int32_t *sum = malloc(sizeof(int32_t) * n * nb);
                const struct act_q8 a = {q, d, sum};
                quantize_act_q8_ref(&a, x, n, d_in, false);
                float *y = malloc(sizeof(float) * n * d_out), *yq = malloc(sizeof(float) * n * d_out);
                float *ys[2] = {malloc(sizeof(float) * n * d_out), malloc(sizeof(float) * n * d_out)}, one[45];
                matmul_q8_0_q8_fn *fast[2] = {vnni ? fmts[f].fast : NULL, avx2 ? fmts[f].fast2 : NULL};
                fmts[f].exact(y, x, w, n, d_in, d_out, 0, d_out);
                fmts[f].ref(yq, &a, w, n, d_in, d_out, 0, d_out);
                int bad_f[3] = {0, 0, 0};
                const float *fast_y[3] = {NULL, NULL, NULL};
                for (int v = 0; v < 2; v++) {
                    if (!fast[v])
                        continue;
                    fast[v](ys[v], &a, w, n, d_in, d_out, 0, 5);
                    fast[v](ys[v], &a, w, n, d_in, d_out, 5, d_out);
                    fast_y[v] = ys[v];
                    for (int t = 0; t < n; t++) {
                        const struct act_q8 at = {q + (size_t)t * d_in, d + (size_t)t * nb, sum + (size_t)t * nb};
                        fast[v](one, &at, w, 1, d_in, d_out, 0, d_out);
                        bad_f[v] += memcmp(one, ys[v] + (size_t)t * d_out, sizeof(float) * d_out) != 0;
                    }
                }
                /* the prefill GEMM: a chunk of 5 rows, then the rest in chunks of 32 */
                float *yg = malloc(sizeof(float) * n * d_out);
                void *panel = aligned_alloc(64, (gemm_blocks_q8_panel_bytes(d_in) + 63) / 64 * 64);
                if (vnni && fmts[f].gemm >= 0) {
                    gemm_blocks_q8_avx512(yg, &a, w, (enum act_bf16_weights)fmts[f].gemm, n, d_in, d_out, 0, 5, panel);
                    gemm_blocks_q8_avx512(yg, &a, w, (enum act_bf16_weights)fmts[f].gemm, n, d_in, d_out, 5, d_out,
                                          panel);
                }
                bad_f[2] = 0;
                fast_y[2] = vnni && fmts[f].gemm >= 0 ? yg : NULL;
                const int bad = q8_errors(fmts[f].deq, w, (size_t)(d_in / fmts[f].block) * fmts[f].bytes, x, d, n,
                                          d_in, d_out, y, yq, fast_y, 3, bad_f);
                CHECK_MSG(bad_f[2] == 0, "%s q8 gemm d_in=%d n=%d: %d outputs differ from the reference", fmts[f].name,
                          d_in, n, bad_f[2]);
                free(yg), free(panel);
                CHECK_MSG(bad == 0, "%s q8 ref d_in=%d n=%d: %d outputs beyond the quantization error", fmts[f].name,
                          d_in, n, bad);
                CHECK_MSG(bad_f[0] == 0, "%s q8 avx512 d_in=%d n=%d: %d outputs differ from the reference (or alone)",
                          fmts[f].name, d_in, n, bad_f[0]);
                CHECK_MSG(bad_f[1] == 0, "%s q8 avx2 d_in=%d n=%d: %d outputs differ from the reference (or alone)",
                          fmts[f].name, d_in, n, bad_f[1]);
                free(w), free(x), free(q), free(d), free(sum), free(y), free(yq), free(ys[0]), free(ys[1]);
            }
}

/* SwiGLU and RMSNorm: the AVX-512 and AVX2 rows (polynomial exp, vector sums, masked tails) against the
 * references; the AVX-512 rows of GPT-OSS's clamped SwiGLU and of RoPE too. */
static void test_elementwise(void)
{
    static const struct {
        const char *isa;
        swiglu_fn *swiglu;
        rmsnorm_fn *rmsnorm;
        int (*have)(void);
    } v[] = {{"avx512", swiglu_f32_avx512, rmsnorm_f32_avx512, kernels_have_avx512},
             {"avx2", swiglu_f32_avx2, rmsnorm_f32_avx2, kernels_have_avx2}};
    for (size_t f = 0; f < sizeof v / sizeof *v; f++) {
        if (!v[f].have())
            continue;
        for (size_t n = 1; n <= 100; n += 7) {
            float g[100], u[100], a[100], b[100];
            for (size_t i = 0; i < n; i++) {
                g[i] = frand() * (i % 3 == 0 ? 90.0f : 6.0f); /* reach exp's clamps and its accurate middle */
                u[i] = frand() * 4.0f;
            }
            swiglu_f32_ref(a, g, u, n);
            v[f].swiglu(b, g, u, n);
            int bad = 0;
            for (size_t i = 0; i < n; i++)
                bad += !(fabsf(a[i] - b[i]) <= 2e-6f * fabsf(a[i]) + 1e-30f + 1e-7f * fabsf(g[i] * u[i]) * (g[i] < -80.0f));
            CHECK_MSG(bad == 0, "swiglu %s n=%zu: %d values differ", v[f].isa, n, bad);
            for (int i = 0; i < (int)n; i++)
                u[i] = 0.5f + frand();
            rmsnorm_f32_ref(a, g, u, (int)n, 1e-6f);
            v[f].rmsnorm(b, g, u, (int)n, 1e-6f);
            bad = 0;
            for (size_t i = 0; i < n; i++)
                bad += !(fabsf(a[i] - b[i]) <= 1e-5f * fabsf(a[i]) + 1e-30f);
            CHECK_MSG(bad == 0, "rmsnorm %s n=%zu: %d values differ", v[f].isa, n, bad);
        }
        v[f].swiglu(NULL, NULL, NULL, 0); /* empty rows are allowed */
    }
    if (!kernels_have_avx512())
        return;
    /* GPT-OSS's clamped SwiGLU: gate and up apart and interleaved (the fused layout), tails, values past the
     * limits both ways, exp's overflow, NaNs (clamped to the limit as fminf/fmaxf do), within the vector exp */
    for (int n = 1; n <= 70; n += 3)
        for (int step = 1; step <= 2; step++) {
            float in[140], a[70], b[70];
            for (int i = 0; i < 2 * n; i++)
                in[i] = frand() * (i % 5 == 0 ? 200.0f : 12.0f);
            in[0] = NAN;
            if (n > 1)
                in[3] = NAN;
            const float *g = in, *u = step == 2 ? in + 1 : in + n;
            swiglu_oai_f32_ref(a, g, u, step, n, 1.702f, 7.0f);
            swiglu_oai_f32_avx512(b, g, u, step, n, 1.702f, 7.0f);
            int bad = 0;
            for (int i = 0; i < n; i++)
                bad += !(fabsf(a[i] - b[i]) <= 2e-6f * fabsf(a[i]) + 1e-30f);
            CHECK_MSG(bad == 0, "swiglu_oai avx512 n=%d step %d: %d values differ", n, step, bad);
        }
    /* RoPE: both pairings, rotated widths with and without a masked tail, heads apart (the dims past d_rot and
     * between heads untouched), against the reference within the FMA's single rounding */
    static const int d_rots[] = {128, 64, 40, 34, 26, 6, 200};
    for (size_t k = 0; k < sizeof d_rots / sizeof *d_rots; k++)
        for (int il = 0; il < 2; il++) {
            enum { N_HEAD = 3 };
            const int d_rot = d_rots[k], stride = d_rot + 5;
            float x[N_HEAD * 205], a[N_HEAD * 205], b[N_HEAD * 205], c[100], sn[100];
            for (int i = 0; i < N_HEAD * stride; i++)
                x[i] = a[i] = b[i] = frand() * 3.0f;
            for (int i = 0; i < d_rot / 2; i++) {
                const float th = frand() * 40.0f;
                c[i] = cosf(th), sn[i] = sinf(th);
            }
            rope_f32_ref(a, N_HEAD, stride, d_rot, c, sn, il);
            rope_f32_avx512(b, N_HEAD, stride, d_rot, c, sn, il);
            int bad = 0, moved = 0;
            for (int h = 0; h < N_HEAD; h++)
                for (int i = 0; i < stride; i++) {
                    const int at = h * stride + i;
                    if (i >= d_rot) {
                        moved += a[at] != x[at] || b[at] != x[at];
                        continue;
                    }
                    const int pair = il ? at ^ 1 : h * stride + (i < d_rot / 2 ? i + d_rot / 2 : i - d_rot / 2);
                    bad += !(fabsf(a[at] - b[at]) <= 4e-7f * (fabsf(x[at]) + fabsf(x[pair])));
                    moved += a[at] == x[at] && x[at] != 0.0f && x[pair] != 0.0f;
                }
            CHECK_MSG(bad == 0 && moved == 0, "rope avx512 d_rot=%d %s: %d values differ, %d wrong dims touched",
                      d_rot, il ? "interleaved" : "halves", bad, moved);
        }
}

/* x (n values) stored in an f16 cache: the half values (f32_to_kv16_ref) and the fp32 values they hold. */
static void to_half(const float *x, size_t n, uint16_t **h, float **r)
{
    *h = malloc(n * sizeof **h), *r = malloc(n * sizeof **r);
    f32_to_kv16_ref(*h, x, n);
    for (size_t i = 0; i < n; i++)
        (*r)[i] = f16_to_f32((*h)[i]);
}

/* An f16 cache read by an attention kernel gives bitwise what the kernel gives over the fp32 values the
 * halves hold (each SIMD variant widens the halves exactly and keeps its arithmetic); with the fp32 path
 * tested against the reference, so is the f16 one. */
static void check_rows_f16(const char *what, attention_rows_fn *fn, struct attn_rows a, size_t n_k, size_t n_v,
                           bool alias, size_t n_out)
{
    uint16_t *kh, *vh;
    float *kr, *vr;
    to_half(a.k, n_k, &kh, &kr);
    to_half(a.v, n_v, &vh, &vr);
    float *o1 = calloc(n_out, sizeof(float)), *o2 = calloc(n_out, sizeof(float));
    a.k = kr, a.v = alias ? kr : vr, a.f16 = 0, a.out = o1;
    fn(&a);
    a.k = kh, a.v = alias ? kh : vh, a.f16 = 1, a.out = o2;
    fn(&a);
    CHECK_MSG(memcmp(o1, o2, n_out * sizeof(float)) == 0, "%s: the f16 cache differs from its fp32 values", what);
    free(kh), free(vh), free(kr), free(vr), free(o1), free(o2);
}

/* Attention: the AVX-512 block path (online softmax over 128-key blocks, GEMM panels) and row path, and the
 * AVX2 row path, against the reference, over query blocks, key blocks, windows, sinks and MLA-style values aliasing
 * keys; and heads as rows (same: every row at pos0, each with its own sink), through the block path (4 rows and
 * more, MLA's 576/512) and the row path. */
static void test_attention(void)
{
    static const struct { int n_rows, pos0, window, d_k, d_v, sink, alias, same; } cases[] = {
        {1, 0, 0, 16, 16, 0, 0, 0},    {1, 300, 0, 64, 64, 1, 0, 0},  {3, 5, 0, 40, 40, 0, 0, 0},
        {8, 0, 0, 32, 32, 0, 0, 0},    {33, 0, 0, 64, 64, 0, 0, 0},   {40, 200, 0, 128, 128, 0, 0, 0},
        {20, 10, 4, 64, 64, 1, 0, 0},  {70, 150, 128, 64, 64, 1, 0, 0}, {12, 3, 0, 40, 32, 0, 1, 0},
        {17, 130, 0, 576, 512, 0, 1, 0}, {9, 0, 0, 24, 8, 0, 0, 0},
        {130, 60, 0, 128, 128, 0, 0, 0}, {70, 20, 0, 576, 512, 0, 1, 0}, /* blocks of 64 rows; of 32 where d_v > 256 */
        {8, 300, 0, 64, 64, 1, 0, 1},  {8, 1000, 128, 64, 64, 1, 0, 1}, {32, 150, 0, 576, 512, 0, 1, 1},
        {3, 40, 0, 32, 32, 1, 0, 1},   {40, 0, 0, 48, 48, 1, 0, 1},
        {128, 200, 100, 64, 64, 0, 0, 0}, /* the last rows see none of the first key block, and have no sink */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int n_keys = cases[c].pos0 + cases[c].n_rows, d_k = cases[c].d_k, d_v = cases[c].d_v;
        const int q_stride = d_k + 3, k_stride = d_k + 5, v_stride = d_v + 1, out_stride = d_v + 2;
        float *q = malloc(sizeof(float) * (size_t)cases[c].n_rows * q_stride);
        float *k = malloc(sizeof(float) * (size_t)n_keys * k_stride), *v = malloc(sizeof(float) * (size_t)n_keys * v_stride);
        float *o1 = calloc((size_t)cases[c].n_rows * out_stride, sizeof(float));
        float *o2 = calloc((size_t)cases[c].n_rows * out_stride, sizeof(float));
        float *sinks = malloc(sizeof(float) * (size_t)cases[c].n_rows);
        for (int i = 0; i < cases[c].n_rows * q_stride; i++)
            q[i] = frand();
        for (int r = 0; r < cases[c].n_rows; r++)
            sinks[r] = frand() * 3.0f;
        for (int i = 0; i < n_keys * k_stride; i++)
            k[i] = frand();
        for (int i = 0; i < n_keys * v_stride; i++)
            v[i] = frand();
        struct attn_rows a = {.out = o1, .q = q, .k = k, .v = cases[c].alias ? k : v, .out_stride = out_stride,
                              .q_stride = q_stride, .k_stride = k_stride,
                              .v_stride = cases[c].alias ? k_stride : v_stride, .n_rows = cases[c].n_rows,
                              .pos0 = cases[c].pos0, .same_pos = cases[c].same, .window = cases[c].window,
                              .d_k = d_k, .d_v = d_v, .scale = 1.0f / sqrtf((float)d_k) * 2.0f, .sink = 0.7f,
                              .sinks = cases[c].same ? sinks : NULL, .has_sink = cases[c].sink};
        attention_rows_ref(&a);
        a.out = o2;
        for (int var = 0; var < 2; var++) {
            if (!(var ? kernels_have_avx2() : kernels_have_avx512()))
                continue;
            (var ? attention_rows_avx2 : attention_rows_avx512)(&a);
            int bad = 0;
            for (int r = 0; r < cases[c].n_rows; r++)
                for (int i = 0; i < d_v; i++)
                    bad += !(fabsf(o1[(size_t)r * out_stride + i] - o2[(size_t)r * out_stride + i]) <= 2e-5f);
            CHECK_MSG(bad == 0, "attention %s case %zu: %d values differ", var ? "avx2" : "avx512", c, bad);
        }
        if (kernels_have_avx512_bf16()) { /* bf16 products: against the reference's bf16 mode, and on */
            float *o3 = calloc((size_t)cases[c].n_rows * out_stride, sizeof(float));
            a.bf16 = 1, a.out = o3;
            attention_rows_ref(&a);
            a.out = o2;
            attention_rows_avx512(&a);
            a.bf16 = 0;
            int bad = 0;
            float off = 0.0f; /* how far the bf16 mode is from the fp32 one */
            for (int r = 0; r < cases[c].n_rows; r++)
                for (int i = 0; i < d_v; i++) {
                    const size_t at = (size_t)r * out_stride + i;
                    /* the softmax weights are rounded after a block's running max in the kernel, after the
                     * final max in the reference: 2^-8 relative per term, |v| < 1 */
                    bad += !(fabsf(o3[at] - o2[at]) <= 8e-3f);
                    off = fmaxf(off, fabsf(o2[at] - o1[at]));
                }
            CHECK_MSG(bad == 0, "attention bf16 case %zu: %d values differ from the reference's bf16 mode", c, bad);
            CHECK_MSG(off > 1e-4f, "attention bf16 case %zu: the same as fp32 (max diff %g): is the mode on?", c, off);
            /* keys and values packed before (as the backend does once per KV head, in jobs of key groups): the
             * same numbers bit for bit */
            const int lo = a.window > 0 && a.pos0 - a.window + 1 > 0 ? a.pos0 - a.window + 1 : 0, base = lo & ~31;
            const int n_packed = n_keys - base, n_groups = (n_packed + 31) / 32;
            uint32_t *data = aligned_alloc(64, (attn_packed_len(n_packed, d_k, d_v) * 4 + 63) / 64 * 64);
            memset(data, 0xff, attn_packed_len(n_packed, d_k, d_v) * 4); /* NaN: every lane read must be written */
            const struct attn_packed pk = attn_packed_at(data, base, n_packed, d_k, d_v);
            attention_pack_bf16_avx512(&pk, &a, n_groups / 2, n_groups);
            attention_pack_bf16_avx512(&pk, &a, 0, n_groups / 2);
            a.bf16 = 1, a.packed = &pk, a.out = o3;
            attention_rows_avx512(&a);
            a.bf16 = 0, a.packed = NULL, a.out = o2;
            CHECK_MSG(memcmp(o2, o3, sizeof(float) * (size_t)cases[c].n_rows * out_stride) == 0,
                      "attention bf16 case %zu: packed keys and values give other numbers", c);
            free(data);
            free(o3);
        }
        attention_rows_fn *const fns[] = {attention_rows_ref, attention_rows_avx512, attention_rows_avx2};
        const bool have[] = {true, kernels_have_avx512(), kernels_have_avx2()};
        for (int f = 0; f < 3; f++)
            if (have[f]) {
                char what[64];
                snprintf(what, sizeof what, "attention case %zu kernel %d", c, f);
                check_rows_f16(what, fns[f], a, (size_t)n_keys * k_stride, (size_t)n_keys * v_stride, cases[c].alias,
                               (size_t)cases[c].n_rows * out_stride);
            }
        free(q), free(k), free(v), free(o1), free(o2), free(sinks);
    }
}

/* The decode partials (struct attn_part): every SIMD variant against attention_part_ref on GQA blocks (one KV
 * head per query head, shared by 2, 3, 5, 6 and 8, several KV heads per call: the AVX-512 tiles' every shape,
 * head and key tails, value widths of 1 to 17 slices, and widths off the 16-lane slices), chunk positions and odd
 * strides. */
static void test_attention_part(void)
{
    static const struct { int n_heads, rep, d_k, d_v, p0, p1; } cases[] = {
        {1, 1, 16, 16, 0, 1},  {2, 2, 128, 128, 0, 64}, {16, 2, 128, 128, 256, 300}, {8, 8, 64, 64, 40, 104},
        {64, 8, 64, 64, 0, 57}, {3, 1, 40, 24, 5, 18},  {4, 4, 576, 512, 0, 33}, {15, 5, 64, 48, 3, 50},
        {12, 3, 32, 80, 10, 74}, {12, 6, 16, 16, 0, 64}, {5, 1, 256, 272, 7, 8},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int R = cases[c].n_heads, d_k = cases[c].d_k, d_v = cases[c].d_v, n_kv = R / cases[c].rep;
        const int k_stride = n_kv * d_k + 3, v_stride = n_kv * d_v + 5, n_pos = cases[c].p1;
        float *q = malloc(sizeof(float) * R * d_k), *k = malloc(sizeof(float) * (size_t)n_pos * k_stride);
        float *v = malloc(sizeof(float) * (size_t)n_pos * v_stride);
        float *st1 = malloc(sizeof(float) * R * (2 + d_v)), *st2 = malloc(sizeof(float) * R * (2 + d_v));
        for (int i = 0; i < R * d_k; i++)
            q[i] = frand();
        for (int i = 0; i < n_pos * k_stride; i++)
            k[i] = frand();
        for (int i = 0; i < n_pos * v_stride; i++)
            v[i] = frand();
        struct attn_part a = {.q = q, .k = k, .v = v, .k_stride = k_stride, .v_stride = v_stride, .p0 = cases[c].p0,
                              .p1 = cases[c].p1, .n_heads = R, .rep = cases[c].rep, .d_k = d_k, .d_v = d_v,
                              .scale = 1.0f / sqrtf((float)d_k) * 2.0f, .m = st1, .l = st1 + R, .o = st1 + 2 * R};
        attention_part_ref(&a);
        a.m = st2, a.l = st2 + R, a.o = st2 + 2 * R;
        for (int var = 0; var < 2; var++) {
            if (!(var ? kernels_have_avx2() : kernels_have_avx512()))
                continue;
            (var ? attention_part_avx2 : attention_part_avx512)(&a);
            int bad = 0;
            for (int i = 0; i < R * (2 + d_v); i++) /* dot products summed in another order: ~1e-6 per term */
                bad += !(fabsf(st1[i] - st2[i]) <= 1e-5f * (1.0f + fabsf(st1[i])) + 2e-6f * (cases[c].p1 - cases[c].p0));
            CHECK_MSG(bad == 0, "attention part %s case %zu: %d values differ", var ? "avx2" : "avx512", c, bad);
        }
        /* the f16 cache: bitwise each kernel over the values its halves hold */
        uint16_t *kh, *vh;
        float *kr, *vr;
        to_half(k, (size_t)n_pos * k_stride, &kh, &kr);
        to_half(v, (size_t)n_pos * v_stride, &vh, &vr);
        attention_part_fn *const fns[] = {attention_part_ref, attention_part_avx512, attention_part_avx2};
        const bool have[] = {true, kernels_have_avx512(), kernels_have_avx2()};
        for (int f = 0; f < 3; f++)
            if (have[f]) {
                a.k = kr, a.v = vr, a.f16 = 0, a.m = st1, a.l = st1 + R, a.o = st1 + 2 * R;
                fns[f](&a);
                a.k = kh, a.v = vh, a.f16 = 1, a.m = st2, a.l = st2 + R, a.o = st2 + 2 * R;
                fns[f](&a);
                CHECK_MSG(memcmp(st1, st2, sizeof(float) * R * (2 + d_v)) == 0,
                          "attention part case %zu kernel %d: the f16 cache differs from its fp32 values", c, f);
            }
        free(kh), free(vh), free(kr), free(vr);
        free(q), free(k), free(v), free(st1), free(st2);
    }
}

/* op_attention_batch's decode paths (a query token: key chunks merged with the sink where a KV head serves
 * fewer than 16 query heads, else its heads as the rows of one attention_rows call, in blocks of 32) against
 * attention_rows_ref per head: GQA, MQA, sliding windows, sinks, positions past several chunks, in a batch beside
 * a 3-token prefill (row path); and bitwise the same with 1 and 2 threads and alone or batched. */
static void test_attention_decode(void)
{
    static const struct { int n_tok, n_past, n_head, n_kv, d, window, sink; } cases[] = {
        {1, 0, 4, 2, 32, 0, 0},    {1, 700, 16, 8, 128, 0, 0}, {1, 1000, 8, 1, 64, 128, 1}, {3, 40, 4, 4, 48, 0, 1},
        {1, 513, 64, 8, 64, 0, 1}, {1, 255, 6, 3, 40, 0, 0},   {1, 256, 2, 2, 16, 300, 1},
        {1, 90, 12, 3, 24, 0, 1},  {1, 333, 20, 4, 64, 0, 1}, {1, 150, 32, 8, 128, 70, 0}, /* 4-8 per KV head */
        {1, 700, 64, 8, 64, 128, 1}, {1, 300, 32, 1, 64, 0, 0}, {1, 200, 40, 1, 32, 0, 1}, /* 32, 40: heads as rows */
    };
    enum { N = sizeof cases / sizeof *cases };
    struct attn_args args[N];
    float *ref[N], *out1[N], *out2[N], *sink_of[N];
    for (int c = 0; c < N; c++) {
        const int n_keys = cases[c].n_past + cases[c].n_tok, d = cases[c].d, H = cases[c].n_head;
        const int k_stride = cases[c].n_kv * d, size_out = cases[c].n_tok * H * d;
        float *q = malloc(sizeof(float) * size_out), *k = malloc(sizeof(float) * (size_t)n_keys * k_stride);
        float *v = malloc(sizeof(float) * (size_t)n_keys * k_stride), *sinks = malloc(sizeof(float) * H);
        for (int i = 0; i < size_out; i++)
            q[i] = frand();
        for (int i = 0; i < n_keys * k_stride; i++)
            k[i] = frand(), v[i] = frand();
        for (int h = 0; h < H; h++)
            sinks[h] = frand() * 3.0f;
        sink_of[c] = sinks;
        ref[c] = calloc(size_out, sizeof(float)), out1[c] = calloc(size_out, sizeof(float));
        out2[c] = calloc(size_out, sizeof(float));
        args[c] = (struct attn_args){.out = out1[c], .q = q, .k = k, .v = v, .k_stride = k_stride,
                                     .v_stride = k_stride, .n_tok = cases[c].n_tok, .n_past = cases[c].n_past,
                                     .n_head = H, .n_kv_head = cases[c].n_kv, .d_k = d, .d_v = d,
                                     .scale = 1.0f / sqrtf((float)d) * 2.0f,
                                     .sinks = cases[c].sink ? sinks : NULL, .window = cases[c].window};
        for (int h = 0; h < H; h++)
            attention_rows_ref(&(struct attn_rows){
                .out = ref[c] + (size_t)h * d, .out_stride = H * d, .q = q + (size_t)h * d, .q_stride = H * d,
                .k = k + (size_t)(h / (H / cases[c].n_kv)) * d, .k_stride = k_stride,
                .v = v + (size_t)(h / (H / cases[c].n_kv)) * d, .v_stride = k_stride, .n_rows = cases[c].n_tok,
                .pos0 = cases[c].n_past, .window = cases[c].window, .d_k = d, .d_v = d, .scale = args[c].scale,
                .sink = sinks[h], .has_sink = cases[c].sink});
    }
    ops_set_threads(2);
    op_attention_batch(args, N);
    ops_set_threads(1);
    for (int c = 0; c < N; c++) {
        args[c].out = out2[c];
        op_attention(&args[c]);
    }
    for (int c = 0; c < N; c++) {
        const int size_out = cases[c].n_tok * cases[c].n_head * cases[c].d;
        int bad = 0;
        for (int i = 0; i < size_out; i++)
            bad += !(fabsf(out1[c][i] - ref[c][i]) <= 2e-5f);
        CHECK_MSG(bad == 0, "attention decode case %d: %d values off the reference", c, bad);
        CHECK_MSG(memcmp(out1[c], out2[c], sizeof(float) * size_out) == 0,
                  "attention decode case %d: batched with 2 threads differs from alone with 1", c);
    }
    /* an f16 cache through the same decode paths: bitwise the fp32 result over the values the halves hold */
    ops_set_threads(2);
    for (int c = 0; c < N; c++) {
        const size_t n_kv = (size_t)(cases[c].n_past + cases[c].n_tok) * cases[c].n_kv * cases[c].d;
        const int size_out = cases[c].n_tok * cases[c].n_head * cases[c].d;
        uint16_t *kh, *vh;
        float *kr, *vr;
        to_half(args[c].k, n_kv, &kh, &kr);
        to_half(args[c].v, n_kv, &vh, &vr);
        struct attn_args a = args[c];
        a.k = kr, a.v = vr, a.out = out1[c];
        op_attention(&a);
        a.k = kh, a.v = vh, a.kv_f16 = true, a.out = out2[c];
        op_attention(&a);
        CHECK_MSG(memcmp(out1[c], out2[c], sizeof(float) * size_out) == 0,
                  "attention decode case %d: the f16 cache differs from its fp32 values", c);
        free(kh), free(vh), free(kr), free(vr);
    }
    ops_set_threads(1);
    for (int c = 0; c < N; c++) {
        free((void *)args[c].q), free((void *)args[c].k), free((void *)args[c].v), free(sink_of[c]);
        free(ref[c]), free(out1[c]), free(out2[c]);
    }
}

/* f32_to_kv16: nearest even (ties both ways, subnormal halves, the largest finite), finite values beyond the
 * half range saturate to +-65504, inf stays inf (as an fp32 cache would hold it), NaN stays NaN; the AVX-512
 * and AVX2 variants bitwise the reference at every length (tails). */
static void test_kv16(void)
{
    const float special[] = {0.0f, -0.0f, 1.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65504.0f, 65519.0f, 65520.0f,
                             1e9f, -1e9f, INFINITY, -INFINITY, NAN, 5.96e-8f, 2.98e-8f, 8.9e-8f, 6.1e-5f, 6.1035156e-5f, -3e-6f};
    const uint16_t want[] = {0x0000, 0x8000, 0x3c00, 0x3c00, 0x3c02, 0x7bff, 0x7bff, 0x7bff,
                             0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x0000, 0x0001, 0x03ff, 0x0400, 0x8032};
    enum { NS = sizeof special / sizeof *special };
    uint16_t h[NS];
    f32_to_kv16_ref(h, special, NS);
    for (int i = 0; i < NS; i++)
        if (isnan(special[i]))
            CHECK_MSG((h[i] & 0x7c00) == 0x7c00 && (h[i] & 0x3ff), "kv16(NaN) = %04x", h[i]);
        else
            CHECK_MSG(h[i] == want[i], "kv16(%g) = %04x, expected %04x", special[i], h[i], want[i]);
    f32_to_kv16_fn *const fns[] = {f32_to_kv16_avx512, f32_to_kv16_avx2};
    const bool have[] = {kernels_have_avx512(), kernels_have_avx2()};
    for (int f = 0; f < 2; f++)
        for (size_t n = 0; have[f] && n < 80; n++) {
            float x[80];
            uint16_t h1[80], h2[80];
            for (size_t i = 0; i < n; i++)
                x[i] = i % 7 == 3 ? special[(i * 5) % NS] : frand() * (float)(1 << (i % 20));
            f32_to_kv16_ref(h1, x, n);
            memset(h2, 0xab, sizeof h2);
            fns[f](h2, x, n);
            CHECK_MSG(memcmp(h1, h2, n * sizeof *h1) == 0 && h2[n < 80 ? n : 79] == (n < 80 ? 0xabab : h1[79]),
                      "f32_to_kv16 %s n=%zu differs from the reference or writes past n", f ? "avx2" : "avx512", n);
        }
}

static void test_dot_axpy(void)
{
    for (size_t n = 64; n <= 64 * 40; n += 64 * 13) { /* the bandwidth probe's sum */
        float *x = malloc(n * sizeof(float));
        double scale = 0;
        for (size_t i = 0; i < n; i++)
            x[i] = frand(), scale += fabs(x[i]);
        if (kernels_have_avx512())
            CHECK(fabs(sum_f32_avx512(x, n) - sum_f32_ref(x, n)) <= 1e-5 * scale);
        if (kernels_have_avx2())
            CHECK(fabs(sum_f32_avx2(x, n) - sum_f32_ref(x, n)) <= 1e-5 * scale);
        free(x);
    }
    for (int n = 0; n < 100; n++) {
        float a[100], b[100], y1[100], y2[100];
        double scale = 0;
        for (int i = 0; i < n; i++) {
            a[i] = frand();
            b[i] = frand();
            y1[i] = y2[i] = frand();
            scale += fabs(a[i] * b[i]);
        }
        CHECK(fabs(dot_f32_avx512(a, b, n) - dot_f32_ref(a, b, n)) <= 1e-5 * scale + 1e-30);
        axpy_f32_avx512(y1, 0.37f, a, n);
        axpy_f32_ref(y2, 0.37f, a, n);
        int bad = 0;
        for (int i = 0; i < n; i++)
            bad += fabsf(y1[i] - y2[i]) > 1e-6f;
        CHECK_MSG(bad == 0, "axpy n=%d", n);
    }
}

/* The bf16 prefill attention through the op (ops_set_act): each KV head's keys and values packed once for its
 * query heads and row blocks, several prompts in one batch (GQA by 2 and 8, windows, sinks, a prompt after a
 * cache, MLA's sizes with values aliasing keys): batched on 2 threads bitwise as each alone on 1, and each
 * within the bf16 rounding of the reference's bf16 mode. Decode steps whose heads go as rows (16 or more per KV
 * head: MLA's) take the same bf16 products, in the same batch: within the same rounding, and away from fp32. */
static void test_attention_prefill_bf16(void)
{
    if (!kernels_have_avx512_bf16())
        return;
    static const struct { int n_tok, n_past, n_head, n_kv, d_k, d_v, window, sink; } cases[] = {
        {150, 0, 4, 2, 64, 64, 0, 0}, {40, 300, 16, 2, 64, 64, 128, 1}, {70, 20, 8, 1, 128, 128, 0, 0},
        {9, 0, 2, 2, 32, 32, 4, 1},   {33, 100, 4, 1, 576, 512, 0, 0}, {20, 1000, 4, 2, 64, 64, 0, 1},
        {1, 300, 32, 1, 576, 512, 0, 0}, {1, 200, 40, 1, 64, 64, 0, 1}, /* decode, heads as rows */
    };
    enum { N = sizeof cases / sizeof *cases };
    struct attn_args args[N];
    float *out1[N], *out2[N], *ref[N], *sink_of[N];
    for (int c = 0; c < N; c++) {
        const int n_keys = cases[c].n_past + cases[c].n_tok, H = cases[c].n_head, dk = cases[c].d_k, dv = cases[c].d_v;
        const bool alias = dk != dv; /* MLA: values are the keys' first d_v dims */
        const int k_stride = cases[c].n_kv * dk, v_stride = alias ? k_stride : cases[c].n_kv * dv;
        const size_t n_q = (size_t)cases[c].n_tok * H * dk, n_out = (size_t)cases[c].n_tok * H * dv;
        float *q = malloc(sizeof(float) * n_q), *k = malloc(sizeof(float) * (size_t)n_keys * k_stride);
        float *v = alias ? k : malloc(sizeof(float) * (size_t)n_keys * v_stride), *sinks = malloc(sizeof(float) * H);
        for (size_t i = 0; i < n_q; i++)
            q[i] = frand();
        for (int i = 0; i < n_keys * k_stride; i++)
            k[i] = frand();
        for (int i = 0; !alias && i < n_keys * v_stride; i++)
            v[i] = frand();
        for (int h = 0; h < H; h++)
            sinks[h] = frand() * 3.0f;
        sink_of[c] = sinks;
        out1[c] = calloc(n_out, sizeof(float)), out2[c] = calloc(n_out, sizeof(float)), ref[c] = calloc(n_out, sizeof(float));
        args[c] = (struct attn_args){.out = out1[c], .q = q, .k = k, .v = v, .k_stride = k_stride, .v_stride = v_stride,
                                     .n_tok = cases[c].n_tok, .n_past = cases[c].n_past, .n_head = H,
                                     .n_kv_head = cases[c].n_kv, .d_k = dk, .d_v = dv,
                                     .scale = 1.0f / sqrtf((float)dk) * 2.0f, .sinks = cases[c].sink ? sinks : NULL,
                                     .window = cases[c].window};
        const int rep = H / cases[c].n_kv;
        for (int h = 0; h < H; h++)
            attention_rows_ref(&(struct attn_rows){
                .out = ref[c] + (size_t)h * dv, .out_stride = H * dv, .q = q + (size_t)h * dk, .q_stride = H * dk,
                .k = k + (size_t)(h / rep) * dk, .k_stride = k_stride, .v = v + (size_t)(h / rep) * (alias ? dk : dv),
                .v_stride = v_stride, .n_rows = cases[c].n_tok, .pos0 = cases[c].n_past, .window = cases[c].window,
                .d_k = dk, .d_v = dv, .scale = args[c].scale, .sink = sinks[h], .has_sink = cases[c].sink, .bf16 = 1});
    }
    ops_set_act(ACT_BF16);
    ops_set_threads(2);
    op_attention_batch(args, N);
    ops_set_threads(1);
    for (int c = 0; c < N; c++) {
        struct attn_args a = args[c];
        a.out = out2[c];
        op_attention(&a);
    }
    ops_set_act(ACT_FP32);
    for (int c = 0; c < N; c++) {
        const size_t n_out = (size_t)cases[c].n_tok * cases[c].n_head * cases[c].d_v;
        CHECK_MSG(memcmp(out1[c], out2[c], sizeof(float) * n_out) == 0,
                  "bf16 prefill attention case %d: batched with 2 threads differs from alone with 1", c);
        int bad = 0;
        for (size_t i = 0; i < n_out; i++)
            bad += !(fabsf(out1[c][i] - ref[c][i]) <= 8e-3f);
        CHECK_MSG(bad == 0, "bf16 prefill attention case %d: %d values off the reference's bf16 mode", c, bad);
        if (cases[c].n_tok == 1) { /* the mode is on: away from the fp32 path */
            float off = 0.0f;
            struct attn_args a = args[c];
            a.out = out2[c];
            op_attention(&a);
            for (size_t i = 0; i < n_out; i++)
                off = fmaxf(off, fabsf(out2[c][i] - out1[c][i]));
            CHECK_MSG(off > 1e-4f, "bf16 decode attention case %d: the same as fp32 (max diff %g)", c, off);
        }
        free((void *)args[c].q), free((void *)args[c].k);
        if (args[c].v != args[c].k)
            free((void *)args[c].v);
        free(sink_of[c]), free(out1[c]), free(out2[c]), free(ref[c]);
    }
}

/* op_matmul's rows are shared out by claims (each thread its share, then the others' leftovers from their ends):
 * with 1 to 5 threads (more threads than cores too), every row once, the same numbers bit for bit; decode (1 and 3
 * tokens) through the plain path (BF16) and the act q8 one (Q8_0), unit counts that do not divide evenly. */
static void test_matmul_threads(void)
{
    enum { D_IN = 96, D_OUT = 64 * 7 + 5 };
    float *x = malloc(sizeof(float) * 3 * D_IN), *y1 = malloc(sizeof(float) * 3 * D_OUT);
    float *y2 = malloc(sizeof(float) * 3 * D_OUT), *wf = malloc(sizeof(float) * D_IN);
    uint16_t *wb = malloc(sizeof(uint16_t) * D_OUT * D_IN);
    uint8_t *wq = malloc((size_t)D_OUT * (D_IN / 32) * Q8_0_BLOCK_BYTES);
    for (int i = 0; i < 3 * D_IN; i++)
        x[i] = frand();
    for (int o = 0; o < D_OUT; o++) {
        for (int i = 0; i < D_IN; i++)
            wb[(size_t)o * D_IN + i] = f32_to_bf16_trunc(wf[i] = frand());
        quantize_row_q8_0(wq + (size_t)o * (D_IN / 32) * Q8_0_BLOCK_BYTES, wf, D_IN);
    }
    const struct weight ws[] = {{.dtype = DTYPE_BF16, .d_out = D_OUT, .d_in = D_IN, .data = wb},
                                {.dtype = DTYPE_Q8_0, .d_out = D_OUT, .d_in = D_IN, .data = wq}};
    const enum act_mode acts[] = {ACT_FP32, ACT_Q8};
    for (int f = 0; f < 2; f++)
        for (int n = 1; n <= 3; n += 2) {
            ops_set_act(acts[f]);
            ops_set_threads(1);
            op_matmul(y1, x, &ws[f], NULL, n);
            for (int th = 2; th <= 5; th++) {
                ops_set_threads(th);
                for (int i = 0; i < n * D_OUT; i++)
                    y2[i] = NAN;
                op_matmul(y2, x, &ws[f], NULL, n);
                CHECK_MSG(memcmp(y1, y2, sizeof(float) * n * D_OUT) == 0,
                          "matmul %s n=%d: %d threads differ from 1", f ? "q8_0 act q8" : "bf16", n, th);
            }
        }
    ops_set_act(ACT_FP32);
    ops_set_threads(1);
    free(x), free(y1), free(y2), free(wf), free(wb), free(wq);
}

/* op_matmul_heads over a kv_b_proj-shaped FP8 weight (4 heads of 24 rows at 128-row blocks, 96 inputs), 9 and 17
 * tokens (the prefill GEMMs) against each token alone (the row loop): transposed (its rows transposed into an fp32
 * matrix, the same sums) bit for bit, plain (its rows as a weight through the FP8 GEMM, another order) within
 * rounding; row-exact mode bit for bit. */
static void test_matmul_heads(void)
{
    enum { H = 4, ROWS = 24, STRIDE = 128, D_IN = 96, N = 17 };
    const int d_out = H * STRIDE + 20; /* rows past the heads' too */
    uint8_t *w = malloc((size_t)d_out * D_IN);
    const float s[5] = {0.02f, 0.07f, 0.011f, 0.05f, 0.3f};
    for (int i = 0; i < d_out * D_IN; i++) {
        w[i] = (uint8_t)(frand() * 128.0f + 128.0f);
        if ((w[i] & 0x7f) == 0x7f)
            w[i] ^= 1;
    }
    const struct weight wt = {.dtype = DTYPE_F8_E4M3, .d_out = d_out, .d_in = D_IN, .data = w, .scales = s};
    for (int tr = 0; tr < 2; tr++) {
        const int xin = tr ? ROWS : D_IN, yout = tr ? D_IN : ROWS; /* per head */
        float *x = malloc(sizeof(float) * N * H * xin), *y = malloc(sizeof(float) * N * H * yout),
              *one = malloc(sizeof(float) * N * H * yout);
        for (int i = 0; i < N * H * xin; i++)
            x[i] = frand();
        struct heads_matmul_args a = {.w = &wt, .n_head = H, .row0 = tr ? 8 : 0, .row_stride = STRIDE, .n_rows = ROWS,
                                      .x_tok_stride = H * xin, .x_head_stride = xin, .y_tok_stride = H * yout,
                                      .y_head_stride = yout, .transposed = tr};
        for (int t = 0; t < N; t++) { /* alone */
            a.y = one + (size_t)t * H * yout, a.x = x + (size_t)t * H * xin, a.n_tok = 1;
            op_matmul_heads(&a);
        }
        for (int m = 0; m < 3; m++) {
            const int n = m == 2 ? 9 : m ? N : 9;
            a.y = y, a.x = x, a.n_tok = n;
            ops_set_row_exact(m == 2);
            op_matmul_heads(&a);
            ops_set_row_exact(false);
            int bad = 0;
            for (int i = 0; i < n * H * yout; i++) /* the plain GEMM sums in another order: within rounding */
                bad += tr || m == 2 ? memcmp(&y[i], &one[i], 4) != 0 : !(fabsf(y[i] - one[i]) <= 1e-4f * (1 + fabsf(one[i])));
            CHECK_MSG(bad == 0, "op_matmul_heads %s n=%d%s: %d outputs differ from each token alone", tr ? "transposed" : "plain",
                      n, m == 2 ? " (row-exact)" : "", bad);
        }
        free(x), free(y), free(one);
    }
    free(w);
}

/* op_matmul_many: the same numbers as op_matmul job by job, bit for bit, in every activation mode, one token: act q8
 * (Q8_0 and MXFP4 in both layouts together, jobs on the same x sharing its quantization, others not, biases; with a
 * BF16 job too, one by one), exact and bf16 (every job on the plain path, together); and 20 tokens through the
 * bf16-activation GEMM (Q8_0 and BF16 jobs, two inputs each packed once). Then
 * op_moe's one-token path (its experts through op_matmul_many) against the per-expert loop it takes for two tokens:
 * the same token twice gives the one token's output in each row, bit for bit (Q8_0 experts, gate and up apart). */
static void test_matmul_many(void)
{
    enum { D_IN = 128, NJ = 6, D_FF = 96, N_EXP = 6, K = 3 };
    static const int d_outs[NJ] = {64 * 3 + 7, 70, 130, 33, 96, 65};
    float *x = malloc(sizeof(float) * 2 * D_IN), *bias = malloc(sizeof(float) * N_EXP * D_IN); /* biases up to 6 x 128 */
    float *wf = malloc(sizeof(float) * 256);
    float *y1[NJ], *y2[NJ];
    void *wd[NJ], *sc[NJ];
    struct weight w[NJ];
    for (int i = 0; i < 2 * D_IN; i++)
        x[i] = frand();
    for (int i = 0; i < N_EXP * D_IN; i++)
        bias[i] = frand();
    for (int j = 0; j < NJ; j++) {
        const int d_out = d_outs[j], nb = D_IN / 32;
        y1[j] = malloc(sizeof(float) * d_out), y2[j] = malloc(sizeof(float) * d_out);
        sc[j] = NULL;
        if (j == 2 || j == 3) { /* MXFP4: HF layout (codes and E8M0 scales apart), then GGML blocks */
            wd[j] = malloc((size_t)d_out * nb * 17);
            for (size_t i = 0; i < (size_t)d_out * nb * 17; i++)
                ((uint8_t *)wd[j])[i] = (uint8_t)(frand() * 128.0f + 128.0f);
            if (j == 2) {
                sc[j] = malloc((size_t)d_out * nb);
                for (int i = 0; i < d_out * nb; i++)
                    ((uint8_t *)sc[j])[i] = (uint8_t)(122 + i % 9);
            } else {
                for (int b = 0; b < d_out * nb; b++)
                    ((uint8_t *)wd[j])[(size_t)b * 17] = (uint8_t)(122 + b % 9);
            }
            w[j] = (struct weight){.dtype = j == 2 ? DTYPE_U8 : DTYPE_MXFP4, .d_out = d_out, .d_in = D_IN,
                                   .data = wd[j], .scales = sc[j]};
        } else if (j == 5) {
            uint16_t *wb = malloc(sizeof(uint16_t) * d_out * D_IN);
            for (int i = 0; i < d_out * D_IN; i++)
                wb[i] = f32_to_bf16_trunc(frand());
            wd[j] = wb;
            w[j] = (struct weight){.dtype = DTYPE_BF16, .d_out = d_out, .d_in = D_IN, .data = wd[j]};
        } else {
            wd[j] = malloc((size_t)d_out * nb * Q8_0_BLOCK_BYTES);
            for (int o = 0; o < d_out; o++) {
                for (int i = 0; i < D_IN; i++)
                    wf[i] = frand();
                quantize_row_q8_0((uint8_t *)wd[j] + (size_t)o * nb * Q8_0_BLOCK_BYTES, wf, D_IN);
            }
            w[j] = (struct weight){.dtype = DTYPE_Q8_0, .d_out = d_out, .d_in = D_IN, .data = wd[j]};
        }
    }
    /* jobs 0, 1 and 2 on x (0 and 1 share its quantization; 2 is MXFP4's HF layout: its own), 3 and 4 on x + D_IN */
    struct matmul_job jobs[NJ];
    for (int j = 0; j < NJ; j++)
        jobs[j] = (struct matmul_job){.y = y2[j], .x = j < 3 ? x : x + D_IN, .w = &w[j], .bias = j % 2 ? bias : NULL};
    const enum act_mode acts[] = {ACT_Q8, ACT_FP32, ACT_BF16};
    static const char *const act_names[] = {"act q8", "exact", "act bf16"};
    ops_set_threads(2);
    for (int a = 0; a < 3; a++)
        for (int n_jobs = NJ - 1; n_jobs <= NJ; n_jobs++) { /* without the BF16 job, then with it */
            ops_set_act(acts[a]);
            for (int j = 0; j < n_jobs; j++) {
                op_matmul(y1[j], jobs[j].x, &w[j], jobs[j].bias, 1);
                for (int i = 0; i < d_outs[j]; i++)
                    y2[j][i] = NAN;
            }
            op_matmul_many(jobs, n_jobs, 1);
            for (int j = 0; j < n_jobs; j++)
                CHECK_MSG(memcmp(y1[j], y2[j], sizeof(float) * d_outs[j]) == 0,
                          "op_matmul_many (%s, %d jobs) job %d differs from op_matmul", act_names[a], n_jobs, j);
        }

    /* prefill (NT tokens): the bf16-activation GEMM's jobs (Q8_0 and BF16) in one region, inputs packed once for jobs
     * on the same x (0 and 1, then 4 and 5), against op_matmul job by job */
    enum { NT = 20 };
    static const int gemm_jobs[] = {0, 1, 4, 5};
    float *xt = malloc(sizeof(float) * 2 * NT * D_IN), *yt1[4], *yt2[4];
    for (int i = 0; i < 2 * NT * D_IN; i++)
        xt[i] = frand();
    struct matmul_job pjobs[4];
    for (int g = 0; g < 4; g++) {
        const int j = gemm_jobs[g];
        yt1[g] = malloc(sizeof(float) * NT * d_outs[j]), yt2[g] = malloc(sizeof(float) * NT * d_outs[j]);
        pjobs[g] = (struct matmul_job){.y = yt2[g], .x = g < 2 ? xt : xt + NT * D_IN, .w = &w[j], .bias = g % 2 ? bias : NULL};
    }
    for (int a = 0; a < 3; a += 2) { /* act q8 and act bf16 both take the GEMM in prefill */
        ops_set_act(acts[a]);
        for (int g = 0; g < 4; g++) {
            op_matmul(yt1[g], pjobs[g].x, pjobs[g].w, pjobs[g].bias, NT);
            for (int i = 0; i < NT * d_outs[gemm_jobs[g]]; i++)
                yt2[g][i] = NAN;
        }
        op_matmul_many(pjobs, 4, NT);
        for (int g = 0; g < 4; g++)
            CHECK_MSG(memcmp(yt1[g], yt2[g], sizeof(float) * NT * d_outs[gemm_jobs[g]]) == 0,
                      "op_matmul_many (%s, %d tokens) job %d differs from op_matmul", act_names[a], NT, gemm_jobs[g]);
    }
    for (int g = 0; g < 4; g++)
        free(yt1[g]), free(yt2[g]);
    free(xt);

    /* op_moe: experts of Q8_0 gate, up and down matrices, routed k = 3 of 6 */
    uint8_t *gq = malloc((size_t)N_EXP * 3 * D_FF * (D_IN / 32) * Q8_0_BLOCK_BYTES);
    struct weight gate[N_EXP], up[N_EXP], down[N_EXP];
    const size_t mat = (size_t)D_FF * (D_IN / 32) * Q8_0_BLOCK_BYTES; /* bytes of each (also down: D_IN x D_FF) */
    for (int e = 0; e < N_EXP; e++)
        for (int m = 0; m < 3; m++) {
            uint8_t *dst = gq + ((size_t)e * 3 + m) * mat;
            const int rows = m == 2 ? D_IN : D_FF, cols = m == 2 ? D_FF : D_IN;
            for (int o = 0; o < rows; o++) {
                for (int i = 0; i < cols; i++)
                    wf[i] = frand();
                quantize_row_q8_0(dst + (size_t)o * (cols / 32) * Q8_0_BLOCK_BYTES, wf, cols);
            }
            struct weight *t = m == 0 ? &gate[e] : m == 1 ? &up[e] : &down[e];
            *t = (struct weight){.dtype = DTYPE_Q8_0, .d_out = rows, .d_in = cols, .data = dst};
        }
    struct weight gate_up[N_EXP]; /* each expert's gate rows then up rows, read as one (2 D_FF, D_IN) matrix */
    for (int e = 0; e < N_EXP; e++)
        gate_up[e] = (struct weight){.dtype = DTYPE_Q8_0, .d_out = 2 * D_FF, .d_in = D_IN, .data = gate[e].data};
    const struct moe_ffn ffns[3] = {
        {.n_expert = N_EXP, .d_model = D_IN, .d_ff = D_FF, .act = EXPERT_ACT_SILU, .gate = gate, .up = up, .down = down},
        {.n_expert = N_EXP, .d_model = D_IN, .d_ff = D_FF, .act = EXPERT_ACT_SWIGLU_OAI, .alpha = 1.702f, .limit = 0.5f,
         .gate = gate, .up = up, .down = down, .up_bias = bias},
        {.n_expert = N_EXP, .d_model = D_IN, .d_ff = D_FF, .act = EXPERT_ACT_SWIGLU_OAI, .alpha = 1.702f, .limit = 0.5f,
         .gate_up = gate_up, .down = down, .down_bias = bias}};
    const struct moe_ffn ffn = ffns[0];
    const int32_t ids[2 * K] = {4, 1, 3, 4, 1, 3};
    const float rw[2 * K] = {0.5f, 0.3f, 0.2f, 0.5f, 0.3f, 0.2f};
    float *x2 = malloc(sizeof(float) * 2 * D_IN), *o1 = malloc(sizeof(float) * D_IN), *o2 = malloc(sizeof(float) * 2 * D_IN);
    float *scratch = malloc(sizeof(float) * moe_scratch_floats(&ffn, 2));
    memcpy(x2, x, sizeof(float) * D_IN);
    memcpy(x2 + D_IN, x, sizeof(float) * D_IN);
    for (int a = 0; a < 3; a++)
        for (int v = 0; v < 3; v++) { /* SiLU, GPT-OSS's clamped SwiGLU with gate and up apart, and fused */
            ops_set_act(acts[a]);
            op_moe(&(struct moe_args){.out = o1, .x = x, .ids = ids, .weights = rw, .n_tok = 1, .k = K,
                                      .ffn = &ffns[v], .scratch = scratch});
            op_moe(&(struct moe_args){.out = o2, .x = x2, .ids = ids, .weights = rw, .n_tok = 2, .k = K,
                                      .ffn = &ffns[v], .scratch = scratch});
            CHECK_MSG(memcmp(o1, o2, sizeof(float) * D_IN) == 0 && memcmp(o1, o2 + D_IN, sizeof(float) * D_IN) == 0,
                      "op_moe (%s, activation %d): one token differs from the same token in a batch of two",
                      act_names[a], v);
        }
    ops_set_act(ACT_FP32);
    ops_set_threads(1);
    for (int j = 0; j < NJ; j++)
        free(y1[j]), free(y2[j]), free(wd[j]), free(sc[j]);
    free(x), free(bias), free(wf), free(gq), free(x2), free(o1), free(o2), free(scratch);
}

int main(void)
{
    test_f16_exhaustive();
    test_matmuls(); /* AVX2 and AVX-512 variants, each where the CPU has it */
    test_matmuls_wide();
    test_gemm_fp8();
    test_gemm_bf16_wide();
    test_q8_0();
    test_ggml_blocks(); /* AVX-512 and AVX2, each where the CPU has it */
    test_blocks_q8();
    test_attention();
    test_attention_part();
    test_attention_decode();
    test_attention_prefill_bf16();
    test_matmul_threads();
    test_matmul_many();
    test_matmul_heads();
    test_kv16();
    if (!kernels_have_avx512()) {
        printf("no AVX-512 on this CPU: skipping the AVX-512-only comparisons\n");
        return test_done("test_kernels");
    }
    test_elementwise();
    test_dot_axpy();
    return test_done("test_kernels");
}
