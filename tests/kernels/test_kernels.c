/* test_kernels.c — every SIMD kernel against its plain reference on awkward sizes (tails of every
 * length, single rows, single tokens), and the f16 conversion against the CPU's own F16C instruction
 * for all 65536 inputs. */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

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

static float wval_f32(const void *w, size_t i) { return ((const float *)w)[i]; }
static float wval_bf16(const void *w, size_t i) { return bf16_to_f32(((const uint16_t *)w)[i]); }
static float wval_f16(const void *w, size_t i) { return f16_to_f32(((const uint16_t *)w)[i]); }

static void test_matmuls(void)
{
    static const int d_ins[] = {1, 7, 15, 16, 17, 31, 33, 64, 100, 257};
    static const int d_outs[] = {1, 3, 4, 5, 9, 17, 40};
    static const int ns[] = {1, 2, 3, 4, 5, 9};
    for (size_t a = 0; a < sizeof d_ins / sizeof *d_ins; a++)
        for (size_t b = 0; b < sizeof d_outs / sizeof *d_outs; b++)
            for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
                const int d_in = d_ins[a], d_out = d_outs[b], n = ns[c];
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
                compare_matmul("f32", matmul_f32_avx512, matmul_f32_ref, wf, n, d_in, d_out, x, wval_f32);
                compare_matmul("bf16", matmul_bf16_avx512, matmul_bf16_ref, wb, n, d_in, d_out, x, wval_bf16);
                compare_matmul("f16", matmul_f16_avx512, matmul_f16_ref, wh, n, d_in, d_out, x, wval_f16);
                free(x);
                free(wf);
                free(wb);
                free(wh);
            }
}

/* Q8_0: hand-computed dequantization, then the AVX-512 matmul against the reference on random blocks. */
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

    static const int d_ins[] = {32, 64, 96, 320};
    static const int ns[] = {1, 3, 4, 5, 8};
    for (size_t a = 0; a < sizeof d_ins / sizeof *d_ins; a++)
        for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
            const int d_in = d_ins[a], d_out = 13, n = ns[c];
            const size_t n_blocks = (size_t)d_out * d_in / 32;
            uint8_t *w = malloc(n_blocks * 34);
            for (size_t b = 0; b < n_blocks; b++) {
                uint16_t d = (uint16_t)(0x2000 + (b * 97) % 0x1000); /* positive f16 scales */
                memcpy(w + b * 34, &d, 2);
                for (int j = 0; j < 32; j++)
                    w[b * 34 + 2 + j] = (uint8_t)(frand() * 127.0f);
            }
            float *x = malloc((size_t)n * d_in * sizeof(float));
            for (size_t i = 0; i < (size_t)n * d_in; i++)
                x[i] = frand();
            float *y = calloc((size_t)n * d_out, sizeof(float)), *y_ref = calloc((size_t)n * d_out, sizeof(float));
            matmul_q8_0_avx512(y, x, w, n, d_in, d_out, 0, 5);
            matmul_q8_0_avx512(y, x, w, n, d_in, d_out, 5, d_out);
            matmul_q8_0_ref(y_ref, x, w, n, d_in, d_out, 0, d_out);
            float *wf = malloc((size_t)d_in * sizeof(float));
            int bad_mm = 0;
            for (int o = 0; o < d_out; o++) {
                dequantize_row_q8_0(wf, w + (size_t)o * d_in / 32 * 34, d_in);
                for (int t = 0; t < n; t++) {
                    double scale = 0;
                    for (int k = 0; k < d_in; k++)
                        scale += fabs(x[(size_t)t * d_in + k] * wf[k]);
                    bad_mm += fabs(y[(size_t)t * d_out + o] - y_ref[(size_t)t * d_out + o]) > 1e-5 * scale + 1e-30;
                }
            }
            CHECK_MSG(bad_mm == 0, "q8_0 n=%d d_in=%d: %d outputs differ", n, d_in, bad_mm);
            free(w), free(x), free(y), free(y_ref), free(wf);
        }
}

static void test_dot_axpy(void)
{
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

int main(void)
{
    test_f16_exhaustive();
    if (!kernels_have_avx512()) {
        printf("no AVX-512 on this CPU: only the references are in use; skipping SIMD comparisons\n");
        return test_done("test_kernels");
    }
    test_matmuls();
    test_q8_0();
    test_dot_axpy();
    return test_done("test_kernels");
}
