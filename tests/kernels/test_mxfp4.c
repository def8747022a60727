/* test_mxfp4.c — MXFP4 kernels: the reference against hand-computed E2M1 x E8M0 values (every code at
 * every scale, both nibbles, the extremes s = 0 and s = 255 included), and the AVX-512 matmul against the
 * reference on decode and prefill shapes (bit-exact on single weights, within summation-order rounding on
 * random rows). */
#include <math.h>
#include <stdlib.h>

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
    matmul_mxfp4_fn *fns[] = {matmul_mxfp4_ref, matmul_mxfp4_avx512};
    const int n_fns = kernels_have_avx512() ? 2 : 1;
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
                    float y2[2] = {0}, x2[128] = {0};
                    x2[6 + j] = x2[64 + 6 + j] = 1.0f; /* the prefill path too (n = 2) */
                    fns[f](y2, x2, blocks, scales, 2, 64, 1, 0, 1);
                    bad += !same(y2[0], want + 0.0f) || !same(y2[1], want + 0.0f);
                }
            }
    CHECK_MSG(bad == 0, "%d single-weight MXFP4 products differ from ldexp(e2m1, s - 127)", bad);
}

/* AVX-512 against the reference on random rows: |y - y_ref| <= 1e-5 * sum |x w|. */
static void test_random_rows(void)
{
    if (!kernels_have_avx512())
        return;
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
                matmul_mxfp4_avx512(y, x, w, sc, n, d_in, d_out, 0, mid);
                matmul_mxfp4_avx512(y, x, w, sc, n, d_in, d_out, mid, d_out);
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
                CHECK_MSG(bad == 0, "mxfp4 avx512 n=%d d_in=%d d_out=%d: %d outputs differ", n, d_in, d_out, bad);
                free(w), free(sc), free(x), free(row), free(y), free(y_ref);
            }
}

int main(void)
{
    test_hand_values();
    test_exhaustive_single_weights();
    test_random_rows();
    return test_done("test_mxfp4");
}
