/* test_mxfp4.c — MXFP4 kernels: the reference against hand-computed E2M1 x E8M0 values (every code at
 * every scale, both nibbles, the extremes s = 0 and s = 255 included), and the AVX-512 matmul against the
 * reference on decode and prefill shapes (bit-exact on single weights, within summation-order rounding on
 * random rows). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "test_util.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static float frand(void) { return (float)(next() * (1.0 / 4294967296.0)) * 2.0f - 1.0f; }

static bool same(float a, float b) { return (a == b && signbit(a) == signbit(b)) || (isnan(a) && isnan(b)); }

/* Hand-written values: spot checks of the format's definition. */
static void test_hand_values(void)
{
    uint8_t blocks[16] = {0x21, 0xF8, 0x7A}, scales[1] = {127};
    float out[32];
    dequantize_row_mxfp4(out, blocks, scales, 32);
    /* 0x21: low nibble 1 -> +0.5 (input 0), high nibble 2 -> +1.0 (input 1); 0xF8: -0.0, -6; 0x7A: -1, +6 */
    CHECK(out[0] == 0.5f && out[1] == 1.0f);
    CHECK(out[2] == 0.0f && signbit(out[2]) && out[3] == -6.0f);
    CHECK(out[4] == -1.0f && out[5] == 6.0f);
    CHECK(out[6] == 0.0f && !signbit(out[6]));
    scales[0] = 130; /* x 2^3 */
    dequantize_row_mxfp4(out, blocks, scales, 32);
    CHECK(out[0] == 4.0f && out[3] == -48.0f && out[5] == 48.0f);
    scales[0] = 0; /* 2^-127: subnormal results, exact */
    dequantize_row_mxfp4(out, blocks, scales, 32);
    CHECK(out[0] == 0x1p-128f && out[1] == 0x1p-127f && out[3] == -6.0f * 0x1p-127f);
    scales[0] = 255; /* 2^128: 0.5 -> 2^127, 1 and up overflow to inf, as ldexp does */
    dequantize_row_mxfp4(out, blocks, scales, 32);
    CHECK(out[0] == 0x1p127f && isinf(out[1]) && out[1] > 0 && isinf(out[3]) && out[3] < 0);
}

/* Every code at every scale through every kernel: a row whose only nonzero weight sits at input j,
 * multiplied by the unit vector e_j, must give exactly ldexp(e2m1[code], s - 127). */
static void test_exhaustive_single_weights(void)
{
    matmul_mxfp4_fn *fns[3] = {matmul_mxfp4_ref};
    int n_fns = 1;
    if (kernels_have_avx512())
        fns[n_fns++] = matmul_mxfp4_avx512;
    if (kernels_have_avx2())
        fns[n_fns++] = matmul_mxfp4_avx2;
    int bad = 0;
    for (int s = 0; s < 256; s++)
        for (int code = 0; code < 16; code++)
            for (int j = 0; j < 2; j++) {
                uint8_t blocks[32] = {0}, scales[2] = {(uint8_t)s, (uint8_t)(255 - s)};
                blocks[3] = (uint8_t)(j ? code << 4 : code); /* inputs 6 (low) and 7 (high) */
                float x[64] = {0}, y = 0, dq[64];
                x[6 + j] = 1.0f;
                const float want = ldexpf(mxfp4_e2m1[code], s - 127);
                dequantize_row_mxfp4(dq, blocks, scales, 64);
                bad += !same(dq[6 + j], want);
                for (int f = 0; f < n_fns; f++) {
                    fns[f](&y, x, blocks, scales, 1, 64, 1, 0, 1);
                    bad += !same(y, want + 0.0f);
                    float y2[9] = {0}, x2[9 * 64] = {0};
                    for (int t = 0; t < 9; t++) /* two tokens, and the prefill GEMMs (9) */
                        x2[64 * t + 6 + j] = 1.0f;
                    fns[f](y2, x2, blocks, scales, 2, 64, 1, 0, 1);
                    bad += !same(y2[0], want + 0.0f) || !same(y2[1], want + 0.0f);
                    fns[f](y2, x2, blocks, scales, 9, 64, 1, 0, 1);
                    bad += !same(y2[0], want + 0.0f) || !same(y2[8], want + 0.0f);
                }
            }
    CHECK_MSG(bad == 0, "%d single-weight MXFP4 products differ from ldexp(e2m1, s - 127)", bad);
}

/* AVX-512 and AVX2 (each where the CPU has it) against the reference on random rows: |y - y_ref| <= 1e-5 *
 * sum |x w|. */
static void test_random_rows(void)
{
    matmul_mxfp4_fn *fns[2];
    const char *names[2];
    int n_fns = 0;
    if (kernels_have_avx512())
        fns[n_fns] = matmul_mxfp4_avx512, names[n_fns++] = "avx512";
    if (kernels_have_avx2())
        fns[n_fns] = matmul_mxfp4_avx2, names[n_fns++] = "avx2";
    for (int f = 0; f < n_fns; f++) {
        static const int d_ins[] = {32, 64, 96, 160, 2880};
        static const int d_outs[] = {1, 5, 17};
        static const int ns[] = {1, 2, 3, 4, 5, 9};
        for (size_t a = 0; a < sizeof d_ins / sizeof *d_ins; a++)
            for (size_t b = 0; b < sizeof d_outs / sizeof *d_outs; b++)
                for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
                    const int d_in = d_ins[a], d_out = d_outs[b], n = ns[c];
                    uint8_t *w = malloc((size_t)d_out * d_in / 2), *sc = malloc((size_t)d_out * d_in / 32);
                    float *x = malloc((size_t)n * d_in * sizeof(float)), *row = malloc((size_t)d_in * sizeof(float));
                    float *y = calloc((size_t)n * d_out, sizeof(float)), *y_ref = calloc((size_t)n * d_out, sizeof(float));
                    for (size_t i = 0; i < (size_t)d_out * d_in / 2; i++)
                        w[i] = (uint8_t)next();
                    for (size_t i = 0; i < (size_t)d_out * d_in / 32; i++)
                        sc[i] = (uint8_t)(110 + next() % 30);
                    for (size_t i = 0; i < (size_t)n * d_in; i++)
                        x[i] = frand();
                    const int mid = d_out / 3; /* split the rows like the backend, at an odd point */
                    fns[f](y, x, w, sc, n, d_in, d_out, 0, mid);
                    fns[f](y, x, w, sc, n, d_in, d_out, mid, d_out);
                    matmul_mxfp4_ref(y_ref, x, w, sc, n, d_in, d_out, 0, d_out);
                    int bad = 0;
                    for (int o = 0; o < d_out; o++) {
                        dequantize_row_mxfp4(row, w + (size_t)o * d_in / 2, sc + (size_t)o * d_in / 32, d_in);
                        for (int t = 0; t < n; t++) {
                            double scale = 0;
                            for (int k = 0; k < d_in; k++)
                                scale += fabs(x[(size_t)t * d_in + k] * row[k]);
                            bad += fabs(y[(size_t)t * d_out + o] - y_ref[(size_t)t * d_out + o]) > 1e-5 * scale + 1e-30;
                        }
                    }
                    CHECK_MSG(bad == 0, "mxfp4 %s n=%d d_in=%d d_out=%d: %d outputs differ", names[f], n, d_in, d_out, bad);
                    free(w), free(sc), free(x), free(row), free(y), free(y_ref);
                }
    }
}

/* GGML's layout (DTYPE_MXFP4): every code at every scale equals ggml's definition (dequantize_row_mxfp4 in
 * ggml-quants.c: int8 kvalues, twice E2M1, times the E8M0 scale halved, with its own subnormal patterns for
 * e < 2); and a matrix repacked from the safetensors layout gives bitwise the same rows, dequantized and
 * through every kernel, for decode and prefill shapes. */
static float ggml_e8m0_half(uint8_t e)
{
    const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* HF blocks (value i in byte i/2, low nibble first) with their scales -> GGML's 17-byte blocks (value j < 16
 * in byte j's low nibble, 16 + j in its high nibble). */
static void repack_ggml(uint8_t *g, const uint8_t *w, const uint8_t *sc, int n_blocks)
{
    for (int b = 0; b < n_blocks; b++) {
        uint8_t *o = g + (size_t)b * 17;
        const uint8_t *hf = w + (size_t)b * 16;
        o[0] = sc[b];
        for (int j = 0; j < 16; j++) {
            const int lo = j % 2 ? hf[j / 2] >> 4 : hf[j / 2] & 15, i = 16 + j;
            const int hi = i % 2 ? hf[i / 2] >> 4 : hf[i / 2] & 15;
            o[1 + j] = (uint8_t)(lo | hi << 4);
        }
    }
}

static void test_ggml_layout(void)
{
    static const int8_t kvalues[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    int bad = 0;
    for (int e = 0; e < 256; e++)
        for (int q = 0; q < 16; q++) {
            uint8_t blk[17] = {(uint8_t)e};
            blk[1 + 3] = (uint8_t)(q | (15 - q) << 4); /* value 3: code q; value 19: code 15 - q */
            float v[32];
            dequantize_block_mxfp4(v, blk);
            /* == : code 8 is -0 in E2M1 and owl keeps the sign; ggml's int8 table makes it +0 */
            bad += !(v[3] == kvalues[q] * ggml_e8m0_half((uint8_t)e));
            bad += !(v[19] == kvalues[15 - q] * ggml_e8m0_half((uint8_t)e));
        }
    CHECK_MSG(bad == 0, "GGML MXFP4: %d values differ from ggml's definition", bad);

    static const int ns[] = {1, 2, 3, 4, 5, 9};
    const int d_in = 96, d_out = 19, nb = d_in / 32;
    uint8_t *w = malloc((size_t)d_out * d_in / 2), *sc = malloc((size_t)d_out * nb), *g = malloc((size_t)d_out * nb * 17);
    for (size_t i = 0; i < (size_t)d_out * d_in / 2; i++)
        w[i] = (uint8_t)next();
    for (size_t i = 0; i < (size_t)d_out * nb; i++)
        sc[i] = (uint8_t)(110 + next() % 30);
    repack_ggml(g, w, sc, d_out * nb);
    float a[96], b2[96];
    for (int r = 0; r < d_out; r++) {
        dequantize_row_mxfp4(a, w + (size_t)r * d_in / 2, sc + (size_t)r * nb, d_in);
        for (int k = 0; k < nb; k++)
            dequantize_block_mxfp4(b2 + 32 * k, g + ((size_t)r * nb + k) * 17);
        CHECK(memcmp(a, b2, sizeof a) == 0);
    }
    for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
        const int n = ns[c];
        float *x = malloc(sizeof(float) * n * d_in), *y1 = malloc(sizeof(float) * n * d_out);
        float *y2 = malloc(sizeof(float) * n * d_out);
        for (int i = 0; i < n * d_in; i++)
            x[i] = frand();
        matmul_mxfp4_ref(y1, x, w, sc, n, d_in, d_out, 0, d_out);
        matmul_mxfp4g_ref(y2, x, g, n, d_in, d_out, 0, d_out);
        CHECK_MSG(memcmp(y1, y2, sizeof(float) * n * d_out) == 0, "mxfp4g ref n=%d differs from the HF layout's", n);
        if (kernels_have_avx512()) {
            matmul_mxfp4_avx512(y1, x, w, sc, n, d_in, d_out, 0, d_out);
            matmul_mxfp4g_avx512(y2, x, g, n, d_in, d_out, 0, 7);
            matmul_mxfp4g_avx512(y2, x, g, n, d_in, d_out, 7, d_out);
            CHECK_MSG(memcmp(y1, y2, sizeof(float) * n * d_out) == 0, "mxfp4g avx512 n=%d differs from the HF layout's",
                      n);
        }
        if (kernels_have_avx2()) {
            matmul_mxfp4_avx2(y1, x, w, sc, n, d_in, d_out, 0, d_out);
            matmul_mxfp4g_avx2(y2, x, g, n, d_in, d_out, 0, 7);
            matmul_mxfp4g_avx2(y2, x, g, n, d_in, d_out, 7, d_out);
            CHECK_MSG(memcmp(y1, y2, sizeof(float) * n * d_out) == 0, "mxfp4g avx2 n=%d differs from the HF layout's", n);
        }
        free(x), free(y1), free(y2);
    }
    free(w), free(sc), free(g);
}

/* The act q8 mode. quantize_act_q8_ref: each value within d/2 of q * d, q in the layout's order, sums right, an
 * all-zero block gives d = 0; the AVX-512 quantizer bitwise alike (and on ties: test_q8_special). matmul_mxfp4_q8_ref: within the quantization error of the exact fp32
 * reference (sum_k |w_k| d_k / 2: a misplaced activation or a wrong scale is far outside it), the two
 * layouts bitwise alike; the AVX-512 VNNI, VBMI and AVX2 kernels, both layouts, within summation-order rounding
 * of it (their int32 lanes group different inputs per layout), for decode and batch shapes and rows split at an
 * odd point; the VBMI and AVX2 kernels row-exact. */
/* quantize_act_q8_avx512 against the reference where rounding could part: ties (amax 127, so x * inv is x: 0.5,
 * 1.5, 2.5, -0.5, -126.5, 125.5 go to the even neighbour), in both layouts; and blocks of small and of huge values.
 * (NaN and infinite activations have no specified quantization: the reference's float-to-int conversion of them is
 * undefined in C.) */
static void test_q8_special(void)
{
    if (!kernels_have_avx512())
        return;
    float x[3 * 32];
    for (int i = 0; i < 3 * 32; i++)
        x[i] = (float)(i % 7) - 3.0f;
    x[0] = 127.0f, x[1] = 0.5f, x[2] = 1.5f, x[3] = 2.5f, x[4] = -0.5f, x[5] = -126.5f, x[6] = 125.5f;
    for (int i = 32; i < 64; i++)
        x[i] *= 1e-30f;
    for (int i = 64; i < 96; i++)
        x[i] *= 1e30f;
    int8_t q1[96], q2[96];
    float d1[3], d2[3];
    int32_t s1[3], s2[3];
    for (int il = 0; il < 2; il++) {
        quantize_act_q8_ref(&(struct act_q8){q1, d1, s1}, x, 3, 32, il);
        quantize_act_q8_avx512(&(struct act_q8){q2, d2, s2}, x, 3, 32, il);
        CHECK_MSG(memcmp(q1, q2, sizeof q1) == 0 && memcmp(d1, d2, sizeof d1) == 0 && memcmp(s1, s2, sizeof s1) == 0,
                  "quantize_act_q8_avx512 on ties, tiny and huge blocks (interleave %d) differs from the reference", il);
    }
    CHECK(q1[0] == 127 && s1[0] != 0); /* the reference did quantize the first block */
}

static void test_q8_activations(void)
{
    static const int d_ins[] = {32, 96, 128, 160, 2880}; /* 128, 160 and 2880: groups of 4 blocks (VBMI) */
    static const int ns[] = {1, 2, 3, 4, 5, 9, 17, 24}; /* 8+: the GEMM path (16 and 8 tokens at a time) */
    const int d_out = 17;
    for (size_t a = 0; a < sizeof d_ins / sizeof *d_ins; a++)
        for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
            const int d_in = d_ins[a], n = ns[c], nb = d_in / 32;
            uint8_t *w = malloc((size_t)d_out * d_in / 2), *sc = malloc((size_t)d_out * nb);
            uint8_t *g = malloc((size_t)d_out * nb * 17);
            float *x = malloc(sizeof(float) * n * d_in), *row = malloc(sizeof(float) * d_in);
            float *y = malloc(sizeof(float) * n * d_out), *yq = malloc(sizeof(float) * n * d_out);
            float *yg = malloc(sizeof(float) * n * d_out), *ys = malloc(sizeof(float) * n * d_out);
            int8_t *q = malloc((size_t)n * d_in), *qg = malloc((size_t)n * d_in);
            float *d = malloc(sizeof(float) * n * nb), *dg = malloc(sizeof(float) * n * nb);
            int32_t *sum = malloc(sizeof(int32_t) * n * nb), *sumg = malloc(sizeof(int32_t) * n * nb);
            for (size_t i = 0; i < (size_t)d_out * d_in / 2; i++)
                w[i] = (uint8_t)next();
            for (size_t i = 0; i < (size_t)d_out * nb; i++)
                sc[i] = (uint8_t)(110 + next() % 30);
            repack_ggml(g, w, sc, d_out * nb);
            for (int i = 0; i < n * d_in; i++)
                x[i] = frand() * (i % 97 == 0 ? 8.0f : 1.0f); /* some outliers */
            for (int k = 0; k < 32; k++)
                x[k] = 0.0f; /* token 0's first block all zeros */
            const struct act_q8 hf = {q, d, sum}, gg = {qg, dg, sumg};
            quantize_act_q8_ref(&hf, x, n, d_in, true);
            quantize_act_q8_ref(&gg, x, n, d_in, false);
            int bad = 0;
            for (int t = 0; t < n; t++)
                for (int b = 0; b < nb; b++) {
                    const size_t at = (size_t)t * nb + b;
                    int32_t s1 = 0, s2 = 0;
                    for (int j = 0; j < 32; j++) {
                        const int i_hf = j < 16 ? 2 * j : 2 * (j - 16) + 1; /* the input at position j */
                        bad += fabsf(x[t * d_in + b * 32 + i_hf] - q[at * 32 + j] * d[at]) > d[at] * 0.5001f;
                        bad += fabsf(x[t * d_in + b * 32 + j] - qg[at * 32 + j] * dg[at]) > dg[at] * 0.5001f;
                        s1 += q[at * 32 + j], s2 += qg[at * 32 + j];
                    }
                    bad += s1 != sum[at] || s2 != sumg[at] || d[at] != dg[at];
                    bad += t == 0 && b == 0 && d[at] != 0.0f;
                }
            CHECK_MSG(bad == 0, "quantize_act_q8 d_in=%d n=%d: %d values wrong", d_in, n, bad);
            if (kernels_have_avx512()) { /* the AVX-512 quantizer: bitwise the reference's, both layouts */
                int8_t *q2 = malloc((size_t)n * d_in);
                float *d2 = malloc(sizeof(float) * n * nb);
                int32_t *sum2 = malloc(sizeof(int32_t) * n * nb);
                const struct act_q8 v = {q2, d2, sum2};
                for (int il = 0; il < 2; il++) {
                    quantize_act_q8_avx512(&v, x, n, d_in, il);
                    const struct act_q8 *r = il ? &hf : &gg;
                    CHECK_MSG(memcmp(q2, r->q, (size_t)n * d_in) == 0 && memcmp(d2, r->d, sizeof(float) * n * nb) == 0 &&
                                  memcmp(sum2, r->sum, sizeof(int32_t) * n * nb) == 0,
                              "quantize_act_q8_avx512 d_in=%d n=%d interleave %d differs from the reference", d_in, n, il);
                }
                free(q2), free(d2), free(sum2);
            }
            matmul_mxfp4_ref(y, x, w, sc, n, d_in, d_out, 0, d_out);
            matmul_mxfp4_q8_ref(yq, &hf, w, sc, n, d_in, d_out, 0, d_out);
            matmul_mxfp4_q8_ref(yg, &gg, g, NULL, n, d_in, d_out, 0, d_out);
            CHECK_MSG(memcmp(yq, yg, sizeof(float) * n * d_out) == 0, "q8 ref d_in=%d n=%d: layouts differ", d_in, n);
            bad = 0;
            int bad_simd = 0;
            const bool vnni = kernels_have_avx512_vnni(), vbmi = kernels_have_avx512_vbmi();
            float *yv = malloc(sizeof(float) * n * d_out), *yvg = malloc(sizeof(float) * n * d_out);
            float *ya = malloc(sizeof(float) * n * d_out), *yag = malloc(sizeof(float) * n * d_out);
            const bool avx2 = kernels_have_avx2();
            if (avx2) { /* rows split past a 16-row tile */
                matmul_mxfp4_q8_avx2(ya, &hf, w, sc, n, d_in, d_out, 0, 1);
                matmul_mxfp4_q8_avx2(ya, &hf, w, sc, n, d_in, d_out, 1, d_out);
                matmul_mxfp4_q8_avx2(yag, &gg, g, NULL, n, d_in, d_out, 0, d_out);
                for (int t = 0; t < n; t++) { /* row-exact: each token alone gives its row of the batch bitwise */
                    float one[17];
                    const struct act_q8 ht = {q + (size_t)t * d_in, d + (size_t)t * nb, sum + (size_t)t * nb};
                    matmul_mxfp4_q8_avx2(one, &ht, w, sc, 1, d_in, d_out, 0, d_out);
                    bad_simd += memcmp(one, ya + (size_t)t * d_out, sizeof one) != 0;
                }
            }
            if (vnni) {
                const int mid = d_out / 3;
                matmul_mxfp4_q8_avx512(ys, &hf, w, sc, n, d_in, d_out, 0, mid);
                matmul_mxfp4_q8_avx512(ys, &hf, w, sc, n, d_in, d_out, mid, d_out);
                matmul_mxfp4_q8_avx512(yg, &gg, g, NULL, n, d_in, d_out, 0, d_out); /* lanes group other inputs */
            }
            if (vbmi) {
                matmul_mxfp4_q8_vbmi(yv, &hf, w, sc, n, d_in, d_out, 0, 5);
                matmul_mxfp4_q8_vbmi(yv, &hf, w, sc, n, d_in, d_out, 5, d_out);
                matmul_mxfp4_q8_vbmi(yvg, &gg, g, NULL, n, d_in, d_out, 0, d_out);
                /* the VBMI kernel is row-exact: each token alone gives its row of the batch bitwise */
                for (int t = 0; t < n && n <= KERN_ROW_EXACT_TOKENS; t++) {
                    float one[17];
                    const struct act_q8 ht = {q + (size_t)t * d_in, d + (size_t)t * nb, sum + (size_t)t * nb};
                    matmul_mxfp4_q8_vbmi(one, &ht, w, sc, 1, d_in, d_out, 0, d_out);
                    bad_simd += memcmp(one, yv + (size_t)t * d_out, sizeof one) != 0;
                }
            }
            for (int o = 0; o < d_out; o++) {
                dequantize_row_mxfp4(row, w + (size_t)o * d_in / 2, sc + (size_t)o * nb, d_in);
                for (int t = 0; t < n; t++) {
                    double qerr = 0, terms = 0;
                    for (int k = 0; k < d_in; k++) {
                        qerr += fabs(row[k]) * d[(size_t)t * nb + k / 32] * 0.5;
                        terms += fabs(x[(size_t)t * d_in + k] * row[k]);
                    }
                    const size_t i = (size_t)t * d_out + o;
                    bad += fabs(yq[i] - y[i]) > qerr * 1.0001 + 1e-5 * terms + 1e-30;
                    bad_simd += vnni && fabs(ys[i] - yq[i]) > 1e-5 * (terms + qerr) + 1e-30;
                    bad_simd += vnni && fabs(yg[i] - yq[i]) > 1e-5 * (terms + qerr) + 1e-30;
                    bad_simd += vbmi && fabs(yv[i] - yq[i]) > 1e-5 * (terms + qerr) + 1e-30;
                    bad_simd += vbmi && fabs(yvg[i] - yq[i]) > 1e-5 * (terms + qerr) + 1e-30;
                    bad_simd += avx2 && fabs(ya[i] - yq[i]) > 1e-5 * (terms + qerr) + 1e-30;
                    bad_simd += avx2 && fabs(yag[i] - yq[i]) > 1e-5 * (terms + qerr) + 1e-30;
                }
            }
            CHECK_MSG(bad == 0, "q8 ref d_in=%d n=%d: %d outputs beyond the quantization error", d_in, n, bad);
            CHECK_MSG(bad_simd == 0, "q8 avx512/avx2 d_in=%d n=%d: %d outputs differ from the reference", d_in, n,
                      bad_simd);
            free(yv), free(yvg), free(ya), free(yag);
            free(w), free(sc), free(g), free(x), free(row), free(y), free(yq), free(yg), free(ys);
            free(q), free(qg), free(d), free(dg), free(sum), free(sumg);
        }
}

/* n tokens of random activations (some outliers) quantized by the reference, natural order; the caller frees q, d
 * and sum. */
static struct act_q8 random_act(int n, int d_in)
{
    float *x = malloc(sizeof(float) * n * d_in);
    for (int i = 0; i < n * d_in; i++)
        x[i] = frand() * (i % 97 == 0 ? 8.0f : 1.0f);
    const struct act_q8 a = {malloc((size_t)n * d_in), malloc(sizeof(float) * n * (d_in / 32)),
                             malloc(sizeof(int32_t) * n * (d_in / 32))};
    quantize_act_q8_ref(&a, x, n, d_in, false);
    free(x);
    return a;
}

/* Rows regrouped in slabs of 16 (mxfp4_to_slabs), GGML blocks and the HF layout (the same code and scale bytes, so
 * the same numbers): the slab reference gives the rows' reference numbers bitwise (same blocks, same order), the
 * VBMI and AVX2 slab kernels are within rounding of them for every token count (groups of 4, 3, 2 and 1 tokens; of
 * 2 and 1), called on ranges of whole slabs, and row-exact at every count. */
static void test_q8_slabs(void)
{
    static const int d_ins[] = {32, 96, 2880};
    static const int ns[] = {1, 2, 3, 5, 9, 17, 24};
    const int d_out = 48;
    for (size_t a = 0; a < sizeof d_ins / sizeof *d_ins; a++)
        for (size_t c = 0; c < sizeof ns / sizeof *ns; c++)
            for (int hf = 0; hf < 2; hf++) {
                const int d_in = d_ins[a], n = ns[c], nb = d_in / 32;
                const size_t bytes = (size_t)d_out * nb * 17;
                uint8_t *g = malloc(bytes), *sl = malloc(bytes), *tmp = malloc(16 * (size_t)nb * 17);
                for (size_t i = 0; i < bytes; i++)
                    g[i] = i % 17 ? (uint8_t)next() : (uint8_t)(110 + next() % 30);
                uint8_t *ssc = hf ? sl + (size_t)d_out * nb * 16 : NULL; /* HF: codes, then scales */
                for (size_t k = 0; k < (size_t)d_out * nb; k++) {
                    if (hf) {
                        memcpy(sl + k * 16, g + k * 17 + 1, 16);
                        ssc[k] = g[k * 17];
                    } else {
                        memcpy(sl + k * 17, g + k * 17, 17);
                    }
                }
                const struct act_q8 act = random_act(n, d_in);
                float *yg = malloc(sizeof(float) * n * d_out), *ys = malloc(sizeof(float) * n * d_out);
                float *yv = malloc(sizeof(float) * n * d_out);
                matmul_mxfp4_q8_ref(yg, &act, g, NULL, n, d_in, d_out, 0, d_out);
                matmul_mxfp4_q8_ref(ys, &act, sl, ssc, n, d_in, d_out, 0, d_out);
                CHECK(memcmp(yg, ys, sizeof(float) * n * d_out) == 0);
                uint8_t *before = malloc(bytes);
                memcpy(before, sl, bytes);
                mxfp4_to_slabs(sl, ssc, d_in, d_out, tmp);
                CHECK(memcmp(sl, before, bytes) != 0 && (!hf || nb == 1 || memcmp(ssc, before + (ssc - sl), (size_t)d_out * nb) != 0));
                matmul_mxfp4s_q8_ref(ys, &act, sl, ssc, n, d_in, d_out, 0, 16);
                matmul_mxfp4s_q8_ref(ys, &act, sl, ssc, n, d_in, d_out, 16, d_out);
                CHECK_MSG(memcmp(yg, ys, sizeof(float) * n * d_out) == 0, "slab ref (hf %d) d_in=%d n=%d differs from the rows'",
                          hf, d_in, n);
                matmul_mxfp4_q8_fn *const kernels[2] = {matmul_mxfp4s_q8_vbmi, matmul_mxfp4s_q8_avx2};
                const bool have[2] = {kernels_have_avx512_vbmi(), kernels_have_avx2()};
                for (int kv = 0; kv < 2; kv++) {
                    if (!have[kv])
                        continue;
                    kernels[kv](yv, &act, sl, ssc, n, d_in, d_out, 0, 32);
                    kernels[kv](yv, &act, sl, ssc, n, d_in, d_out, 32, d_out);
                    int bad = 0;
                    for (int t = 0; t < n; t++)
                        for (int o = 0; o < d_out; o++) {
                            double terms = 0; /* sum of |products|, d and the scale applied */
                            for (int b = 0; b < nb; b++) {
                                float v[32];
                                dequantize_block_mxfp4(v, g + ((size_t)o * nb + b) * 17);
                                for (int j = 0; j < 32; j++)
                                    terms += fabs(v[j] * act.q[(size_t)t * d_in + 32 * b + j] * act.d[(size_t)t * nb + b]);
                            }
                            bad += fabs(yv[(size_t)t * d_out + o] - yg[(size_t)t * d_out + o]) > 1e-5 * terms + 1e-30;
                        }
                    for (int t = 0; t < n; t++) {
                        float one[48];
                        const struct act_q8 at = {act.q + (size_t)t * d_in, act.d + (size_t)t * nb, act.sum + (size_t)t * nb};
                        kernels[kv](one, &at, sl, ssc, 1, d_in, d_out, 0, d_out);
                        bad += memcmp(one, yv + (size_t)t * d_out, sizeof one) != 0;
                    }
                    CHECK_MSG(bad == 0, "slab %s (hf %d) d_in=%d n=%d: %d outputs differ from the reference",
                              kv ? "avx2" : "vbmi", hf, d_in, n, bad);
                }
                free(g), free(sl), free(tmp), free(before), free(act.q), free(act.d), free(act.sum), free(yg),
                    free(ys), free(yv);
            }
}

/* Every E8M0 scale byte through the VNNI kernels, both layouts, decode (1 token) and prefill (9): a 5-block row
 * (a VBMI group of 4 and a lone block) of code 7 (6.0) at each block's first position, against one-hot
 * activations, must match the reference (2^(s - 128) from ldexp, times d first) within rounding, including
 * the subnormal scales of s = 0 and 1 and the largest ones (a product formed in another order overflows
 * there). */
static void test_q8_every_scale(void)
{
    if (!kernels_have_avx512_vnni()) /* (the AVX2 kernel is checked beside them) */
        return;
    enum { NB = 5, D_IN = 32 * NB, NT = 9 };
    matmul_mxfp4_q8_fn *const fns[] = {matmul_mxfp4_q8_avx2, matmul_mxfp4_q8_avx512, matmul_mxfp4_q8_vbmi};
    const int n_fns = kernels_have_avx512_vbmi() ? 3 : 2;
    int bad = 0;
    for (int s = 0; s < 256; s++) {
        uint8_t blocks[NB * 16] = {0}, scales[NB], g[NB * 17];
        for (int b = 0; b < NB; b++)
            blocks[b * 16] = 0x07, scales[b] = (uint8_t)s;
        repack_ggml(g, blocks, scales, NB);
        float x[NT * D_IN] = {0}, y[NT], y_ref[NT];
        for (int t = 0; t < NT; t++)
            for (int b = 0; b < NB; b++)
                x[t * D_IN + 32 * b] = 1.0f + (float)b;
        int8_t q[NT * D_IN], qg[NT * D_IN];
        float d[NT * NB], dg[NT * NB];
        int32_t sum[NT * NB], sumg[NT * NB];
        const struct act_q8 a = {q, d, sum}, ag = {qg, dg, sumg};
        quantize_act_q8_ref(&a, x, NT, D_IN, true);
        quantize_act_q8_ref(&ag, x, NT, D_IN, false);
        for (int n = 1; n <= NT; n += NT - 1) {
            matmul_mxfp4_q8_ref(y_ref, &a, blocks, scales, n, D_IN, 1, 0, 1);
            for (int f = 0; f < n_fns; f++)
                for (int layout = 0; layout < 2; layout++) {
                    if (layout)
                        fns[f](y, &ag, g, NULL, n, D_IN, 1, 0, 1);
                    else
                        fns[f](y, &a, blocks, scales, n, D_IN, 1, 0, 1);
                    for (int t = 0; t < n; t++)
                        bad += !(y[t] == y_ref[t] || fabsf(y[t] - y_ref[t]) <= 1e-6f * fabsf(y_ref[t]));
                }
            for (int kv = 0; kv < 2; kv++) { /* the slab kernels (VBMI, AVX2): 16 copies of the row */
                if (!(kv ? kernels_have_avx2() : kernels_have_avx512_vbmi()))
                    continue;
                matmul_mxfp4_q8_fn *const slab_fn = kv ? matmul_mxfp4s_q8_avx2 : matmul_mxfp4s_q8_vbmi;
                uint8_t slab[16 * NB * 17], tmp[sizeof slab];
                for (int r = 0; r < 16; r++)
                    memcpy(slab + r * NB * 17, g, NB * 17);
                mxfp4_to_slabs(slab, NULL, D_IN, 16, tmp);
                uint8_t hcodes[16 * NB * 16], hscales[16 * NB]; /* the HF layout's 16 copies */
                for (int r = 0; r < 16; r++)
                    memcpy(hcodes + r * NB * 16, blocks, NB * 16), memcpy(hscales + r * NB, scales, NB);
                mxfp4_to_slabs(hcodes, hscales, D_IN, 16, tmp);
                float ys[NT * 16], yh[NT * 16];
                slab_fn(ys, &ag, slab, NULL, n, D_IN, 16, 0, 16);
                slab_fn(yh, &a, hcodes, hscales, n, D_IN, 16, 0, 16);
                for (int t = 0; t < n; t++)
                    for (int r = 0; r < 16; r++) {
                        bad += !(ys[t * 16 + r] == y_ref[t] || fabsf(ys[t * 16 + r] - y_ref[t]) <= 1e-6f * fabsf(y_ref[t]));
                        bad += !(yh[t * 16 + r] == y_ref[t] || fabsf(yh[t * 16 + r] - y_ref[t]) <= 1e-6f * fabsf(y_ref[t]));
                    }
            }
        }
    }
    CHECK_MSG(bad == 0, "%d E8M0 scales give a q8 product off the reference's", bad);
}

int main(void)
{
    test_hand_values();
    test_ggml_layout();
    test_exhaustive_single_weights();
    test_random_rows();
    test_q8_special();
    test_q8_activations();
    test_q8_every_scale();
    test_q8_slabs();
    return test_done("test_mxfp4");
}
