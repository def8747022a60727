/* test_fp8.c — FP8 E4M3 block-scaled kernels: the byte decoding against hand-computed values (all 256
 * bytes: zeros, subnormals, normals, max, NaN), a small matmul worked by hand, partial 128-blocks in both
 * dimensions, the AVX-512 variant against the reference on awkward sizes, and the variant kernels_init puts
 * in the shared table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fp8.h"
#include "kernels/kernels.h"
#include "test_util.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float frand(void) { return (float)((next() >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f; }
static uint8_t random_fp8(void) /* any byte but the two NaNs */
{
    uint8_t b;
    do
        b = (uint8_t)next();
    while ((b & 0x7f) == 0x7f);
    return b;
}

/* e4m3fn from its definition, in double: (-1)^s * 2^(e-7) * (1 + m/8), or 2^-6 * m/8 when e == 0. */
static double e4m3_expected(int b)
{
    const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    double v = e == 0 ? m / 8.0 * pow(2, -6) : (1 + m / 8.0) * pow(2, e - 7);
    return s ? -v : v;
}

static void test_decode(void)
{
    /* spot values written out by hand */
    CHECK(fp8_e4m3_to_f32(0x00) == 0.0f && !signbit(fp8_e4m3_to_f32(0x00)));
    CHECK(fp8_e4m3_to_f32(0x80) == 0.0f && signbit(fp8_e4m3_to_f32(0x80)));
    CHECK(fp8_e4m3_to_f32(0x01) == 0x1p-9f);  /* smallest subnormal */
    CHECK(fp8_e4m3_to_f32(0x07) == 7 * 0x1p-9f); /* largest subnormal */
    CHECK(fp8_e4m3_to_f32(0x08) == 0x1p-6f);  /* smallest normal */
    CHECK(fp8_e4m3_to_f32(0x38) == 1.0f);
    CHECK(fp8_e4m3_to_f32(0x3f) == 1.875f);
    CHECK(fp8_e4m3_to_f32(0x40) == 2.0f);
    CHECK(fp8_e4m3_to_f32(0xc4) == -3.0f);
    CHECK(fp8_e4m3_to_f32(0x7e) == 448.0f);
    CHECK(fp8_e4m3_to_f32(0xfe) == -448.0f);
    CHECK(isnan(fp8_e4m3_to_f32(0x7f)) && isnan(fp8_e4m3_to_f32(0xff)));
    /* 0x78..0x7e are normal numbers in e4m3fn (no infinities) */
    CHECK(fp8_e4m3_to_f32(0x78) == 256.0f);
    int bad = 0;
    for (int b = 0; b < 256; b++) {
        if ((b & 0x7f) == 0x7f)
            continue;
        if ((double)fp8_e4m3_to_f32((uint8_t)b) != e4m3_expected(b))
            bad++;
    }
    CHECK_MSG(bad == 0, "%d e4m3 bytes decode wrongly", bad);

    /* every variant decodes every byte: a 1 x 256 row holding bytes 0..255 (two column blocks, scales 1 and
     * 2), multiplied by one-hot inputs; the two NaN bytes are tested in a row of their own (0 * NaN would
     * poison every product) */
    uint8_t w[256];
    for (int b = 0; b < 256; b++)
        w[b] = (b & 0x7f) == 0x7f ? 0 : (uint8_t)b;
    const float scales[2] = {1.0f, 2.0f};
    matmul_fp8_fn *fns[4] = {matmul_fp8_ref};
    size_t n_fns = 1;
    if (kernels_have_avx512())
        fns[n_fns++] = matmul_fp8_avx512;
    if (kernels_have_avx512_vbmi())
        fns[n_fns++] = matmul_fp8_vbmi;
    if (kernels_have_avx2())
        fns[n_fns++] = matmul_fp8_avx2;
    float *x = calloc(9 * 256, sizeof(float));
    for (size_t f = 0; f < n_fns; f++) {
        int wrong = 0;
        for (int b = 0; b < 256; b++) {
            float y[9] = {0}, y9[9] = {0};
            for (int t = 0; t < 9; t++)
                x[256 * t + b] = 1.0f;
            fns[f](y, x, w, scales, 2, 256, 1, 0, 1); /* two tokens: the tiled path (AVX-512) */
            fns[f](y9, x, w, scales, 9, 256, 1, 0, 1); /* nine: the AVX2 GEMM */
            float y1 = 0;
            fns[f](&y1, x, w, scales, 1, 256, 1, 0, 1); /* one token: the streaming path */
            for (int t = 0; t < 9; t++)
                x[256 * t + b] = 0.0f;
            const double want = e4m3_expected(b) * (b < 128 ? 1.0 : 2.0);
            wrong += (b & 0x7f) != 0x7f && ((double)y9[0] != want || (double)y9[8] != want);
            if ((b & 0x7f) == 0x7f) { /* in a 2-byte row (tails) and at byte 17 of a 64-byte one (vector steps) */
                uint8_t nan_row[64];
                float one[64], y64 = 0;
                for (int k = 0; k < 64; k++)
                    nan_row[k] = 0x38, one[k] = 1.0f;
                nan_row[0] = (uint8_t)b;
                fns[f](y, one, nan_row, scales, 1, 2, 1, 0, 1);
                nan_row[0] = 0x38, nan_row[17] = (uint8_t)b;
                fns[f](&y64, one, nan_row, scales, 1, 64, 1, 0, 1);
                if (!isnan(y[0]) || !isnan(y64))
                    wrong++;
            } else if ((double)y[0] != want || (double)y[1] != want || (double)y1 != want) {
                wrong++;
            }
        }
        CHECK_MSG(wrong == 0, "variant %zu: %d bytes give the wrong product", f, wrong);
    }
    free(x);
}

/* A 2 x 2 example worked by hand: w = [[1.0, 2.0], [-0.5, 448]] (bytes 0x38 0x40 / 0xb0 0x7e), one block
 * with scale 0.25, x = [3, 5]: y = [0.25*(3 + 10), 0.25*(-1.5 + 2240)] = [3.25, 559.625]. */
static void test_by_hand(void)
{
    const uint8_t w[4] = {0x38, 0x40, 0xb0, 0x7e};
    const float s = 0.25f, x[2] = {3.0f, 5.0f};
    float y[2];
    matmul_fp8_ref(y, x, w, &s, 1, 2, 2, 0, 2);
    CHECK(y[0] == 3.25f && y[1] == 559.625f);
    if (kernels_have_avx512()) {
        matmul_fp8_avx512(y, x, w, &s, 1, 2, 2, 0, 2);
        CHECK(y[0] == 3.25f && y[1] == 559.625f);
    }
    float row[2];
    dequantize_row_fp8(row, w + 2, &s, 2);
    CHECK(row[0] == -0.125f && row[1] == 112.0f);
}

/* Partial blocks: a (130, 200) matrix has a 2 x 2 scale grid whose last row block holds 2 rows and last
 * column block 72 columns; each output must use its own block's scale. Checked against a double sum. */
static void test_blocks(void)
{
    const int d_out = 130, d_in = 200;
    uint8_t *w = malloc((size_t)d_out * d_in);
    float scales[4] = {0.5f, 0.03125f, 3.0f, 0.75f}, x[200], y[130];
    for (int i = 0; i < d_out * d_in; i++)
        w[i] = random_fp8();
    for (int k = 0; k < d_in; k++)
        x[k] = frand();
    matmul_fp8_ref(y, x, w, scales, 1, d_in, d_out, 0, d_out);
    double worst = 0;
    for (int o = 0; o < d_out; o++) {
        double want = 0, mag = 0;
        for (int k = 0; k < d_in; k++) {
            const double v = e4m3_expected(w[(size_t)o * d_in + k]) * scales[(o / 128) * 2 + k / 128];
            want += v * x[k];
            mag += fabs(v * x[k]);
        }
        worst = fmax(worst, fabs(y[o] - want) / (mag + 1e-30));
    }
    CHECK_MSG(worst < 1e-5, "partial-block matmul off by %g (relative to sum |w x|)", worst);
    free(w);
}

/* AVX-512 and AVX2 (each where the CPU has it) against the reference on awkward sizes: |y - y_ref| <= 1e-5 *
 * sum |x w| per output. Past 16 KB of activations (KERN_ROWS_X_BYTES: 1 token of 4200 or 4224 inputs, 2 of
 * 2112, 3 of 1376, 4 of 1056) the AVX-512 decode takes several rows per pass, leftovers alone; 8+ tokens over
 * a multiple of 32 inputs take its GEMM (256: one panel slice; 640: three, the last partial). */
static void check_variant(const char *name, matmul_fp8_fn *fast, matmul_fp8_fn *same)
{
    const int sizes[][3] = {{1, 1, 1}, {1, 17, 3}, {2, 128, 128}, {3, 129, 131}, {5, 160, 200}, {4, 300, 37},
                            {7, 64, 257}, {1, 513, 260}, {9, 200, 80},
                            {1, 4224, 21}, {1, 4200, 13}, {2, 2112, 19}, {3, 1376, 13}, {4, 1056, 11},
                            {9, 256, 40}, {11, 640, 37}, {8, 96, 130}, {1, 4160, 131}};
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        const int n = sizes[c][0], d_in = sizes[c][1], d_out = sizes[c][2];
        const int n_cb = (d_in + 127) / 128, n_rb = (d_out + 127) / 128;
        uint8_t *w = malloc((size_t)d_out * d_in);
        float *s = malloc((size_t)n_cb * n_rb * sizeof(float)), *x = malloc((size_t)n * d_in * sizeof(float));
        float *y = calloc((size_t)n * d_out, sizeof(float)), *y_ref = calloc((size_t)n * d_out, sizeof(float));
        for (int i = 0; i < d_out * d_in; i++)
            w[i] = random_fp8();
        for (int i = 0; i < n_cb * n_rb; i++)
            s[i] = 0.001f + fabsf(frand());
        for (int i = 0; i < n * d_in; i++)
            x[i] = frand();
        const int mid = d_out / 3; /* split rows like the backend */
        fast(y, x, w, s, n, d_in, d_out, 0, mid);
        fast(y, x, w, s, n, d_in, d_out, mid, d_out);
        matmul_fp8_ref(y_ref, x, w, s, n, d_in, d_out, 0, d_out);
        int bad = 0;
        for (int t = 0; t < n; t++)
            for (int o = 0; o < d_out; o++) {
                double mag = 0;
                for (int k = 0; k < d_in; k++)
                    mag += fabs(x[(size_t)t * d_in + k] * fp8_e4m3_to_f32(w[(size_t)o * d_in + k]) *
                                s[(o / 128) * n_cb + k / 128]);
                if (fabs(y[(size_t)t * d_out + o] - y_ref[(size_t)t * d_out + o]) > 1e-5 * mag + 1e-30)
                    bad++;
            }
        CHECK_MSG(bad == 0, "fp8 %s n=%d d_in=%d d_out=%d: %d outputs differ", name, n, d_in, d_out, bad);
        if (same) { /* the same operations: bit for bit */
            float *y2 = calloc((size_t)n * d_out, sizeof(float));
            same(y2, x, w, s, n, d_in, d_out, 0, d_out);
            CHECK_MSG(memcmp(y, y2, sizeof(float) * n * d_out) == 0, "fp8 %s n=%d d_in=%d d_out=%d: not bitwise avx512's",
                      name, n, d_in, d_out);
            free(y2);
        }
        free(w);
        free(s);
        free(x);
        free(y);
        free(y_ref);
    }
}

static void test_variants(void)
{
    if (kernels_have_avx512())
        check_variant("avx512", matmul_fp8_avx512, NULL);
    if (kernels_have_avx512_vbmi()) /* 64-byte steps through byte tables: avx512's numbers bit for bit */
        check_variant("vbmi", matmul_fp8_vbmi, matmul_fp8_avx512);
    if (kernels_have_avx2())
        check_variant("avx2", matmul_fp8_avx2, NULL);
}

/* The AVX-512 row dequantizer gives the reference's values bit for bit: every byte (NaN codes as NaN), two
 * blocks' scales, rows of 1 to 300 values (its 32-wide steps' tails). */
static void test_dequantize(void)
{
    if (!kernels_have_avx512())
        return;
    uint8_t w[300];
    const float scales[3] = {0.75f, 3.0e-3f, 17.0f};
    for (int i = 0; i < 300; i++)
        w[i] = (uint8_t)(i < 256 ? i : random_fp8());
    int bad = 0;
    for (int n = 1; n <= 300; n += n < 40 ? 1 : 37) {
        float want[300], got[301];
        got[n] = 12345.0f; /* untouched past n */
        dequantize_row_fp8(want, w, scales, n);
        dequantize_row_fp8_avx512(got, w, scales, n);
        for (int k = 0; k < n; k++)
            bad += isnan(want[k]) ? !isnan(got[k]) : memcmp(&want[k], &got[k], 4) != 0;
        bad += got[n] != 12345.0f;
    }
    CHECK_MSG(bad == 0, "dequantize_row_fp8_avx512: %d values differ from the reference's", bad);
}

/* op_matmul takes FP8 from the shared table: the reference until kernels_init, then AVX-512 or AVX2 where the
 * CPU has it (unless OWL_KERNELS=ref). */
static void test_dispatch(void)
{
    CHECK(kern.matmul_fp8 == matmul_fp8_ref);
    kernels_init(0);
    const char *env = getenv("OWL_KERNELS");
    const bool ref = (env && strcmp(env, "ref") == 0) || (!kernels_have_avx512() && !kernels_have_avx2());
    CHECK(kern.matmul_fp8 == (ref                             ? matmul_fp8_ref
                              : !strcmp(kern.isa, "avx512") ? (kernels_have_avx512_vbmi() ? matmul_fp8_vbmi : matmul_fp8_avx512)
                                                            : matmul_fp8_avx2));
}

int main(void)
{
    test_decode();
    test_by_hand();
    test_blocks();
    test_variants();
    test_dequantize();
    test_dispatch();
    return test_done("test_fp8");
}
