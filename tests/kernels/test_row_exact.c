/* test_row_exact.c — the row-exact contract (kernels.h): for every matmul kernel of the reference table
 * and of the table in use, a token's row computed beside up to KERN_ROW_EXACT_TOKENS - 1 others is
 * bitwise the row computed for that token alone; and op_matmul in row-exact mode (ops.h) keeps it for any
 * number of tokens, including counts that would otherwise take the prefill GEMM. This is what makes a
 * server's batched decode step give every sequence exactly its own decode. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ops.h"
#include "kernels/fp8.h"
#include "kernels/kernels.h"
#include "test_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static float frand(void) { return (float)next_u32() / 2147483648.0f - 1.0f; } /* [-1, 1) */

/* Random but valid bytes of a (d_out, d_in) weight in dtype dt; scales (MXFP4, FP8) into *scales. */
static void *random_weight(enum dtype dt, bool mxfp4, int d_out, int d_in, void **scales)
{
    *scales = NULL;
    if (mxfp4) {
        uint8_t *w = malloc((size_t)d_out * d_in / 2), *s = malloc((size_t)d_out * d_in / 32);
        for (size_t i = 0; i < (size_t)d_out * d_in / 2; i++)
            w[i] = (uint8_t)next_u32();
        for (size_t i = 0; i < (size_t)d_out * d_in / 32; i++)
            s[i] = (uint8_t)(120 + next_u32() % 10);
        *scales = s;
        return w;
    }
    if (dt == DTYPE_F8_E4M3) {
        uint8_t *w = malloc((size_t)d_out * d_in);
        for (size_t i = 0; i < (size_t)d_out * d_in; i++) {
            w[i] = (uint8_t)next_u32();
            if ((w[i] & 0x7f) == 0x7f) /* NaN codes */
                w[i] ^= 0x01;
        }
        const int n_rb = (d_out + FP8_BLOCK - 1) / FP8_BLOCK, n_cb = (d_in + FP8_BLOCK - 1) / FP8_BLOCK;
        float *s = malloc((size_t)n_rb * n_cb * sizeof(float));
        for (int i = 0; i < n_rb * n_cb; i++)
            s[i] = 0.01f * (1.0f + (float)(next_u32() % 100) / 50.0f);
        *scales = s;
        return w;
    }
    size_t row = 0;
    CHECK(dtype_bytes(dt, (uint64_t)d_in, &row));
    uint8_t *w = malloc((size_t)d_out * row);
    if (dt == DTYPE_F32 || dt == DTYPE_BF16 || dt == DTYPE_F16) {
        for (size_t i = 0; i < (size_t)d_out * d_in; i++) {
            const float v = frand();
            if (dt == DTYPE_F32)
                memcpy(w + 4 * i, &v, 4);
            else {
                uint32_t bits;
                memcpy(&bits, &v, 4);
                const uint16_t h = dt == DTYPE_F16 ? f32_to_f16(v) : (uint16_t)(bits >> 16);
                memcpy(w + 2 * i, &h, 2);
            }
        }
        return w;
    }
    /* GGML blocks: random bytes, then every f16 field that is a scale or minimum set to a small value (a
     * random f16 could be inf or NaN). Field offsets per block type. */
    for (size_t i = 0; i < (size_t)d_out * row; i++)
        w[i] = (uint8_t)next_u32();
    if (dt == DTYPE_MXFP4) { /* scale bytes kept moderate */
        for (size_t b = 0; b < (size_t)d_out * row / 17; b++)
            w[b * 17] = (uint8_t)(120 + next_u32() % 10);
        return w;
    }
    const int block_bytes = dt == DTYPE_Q8_0 ? 34 : dt == DTYPE_Q4_0 ? 18 : dt == DTYPE_Q4_1 ? 20
                          : dt == DTYPE_Q5_0 ? 22 : dt == DTYPE_Q5_1 ? 24 : dt == DTYPE_Q4_K ? 144
                          : dt == DTYPE_Q5_K ? 176 : 210;
    const int f16_at[2] = {dt == DTYPE_Q6_K ? 208 : 0, dt == DTYPE_Q4_1 || dt == DTYPE_Q5_1 || dt == DTYPE_Q4_K ||
                                                               dt == DTYPE_Q5_K ? 2 : -1};
    for (size_t b = 0; b < (size_t)d_out * row / block_bytes; b++)
        for (int f = 0; f < 2; f++)
            if (f16_at[f] >= 0) {
                const uint16_t h = f32_to_f16(0.01f * (1.0f + frand()));
                memcpy(w + b * block_bytes + f16_at[f], &h, 2);
            }
    return w;
}

static void call(const struct kernel_table *kt, enum dtype dt, bool mxfp4, float *y, const float *x, const void *w,
                 const void *scales, int n, int d_in, int d_out)
{
    if (mxfp4)
        kt->matmul_mxfp4(y, x, w, scales, n, d_in, d_out, 0, d_out);
    else if (dt == DTYPE_F8_E4M3)
        kt->matmul_fp8(y, x, w, scales, n, d_in, d_out, 0, d_out);
    else {
        matmul_fn *fn = dt == DTYPE_F32 ? kt->matmul_f32 : dt == DTYPE_BF16 ? kt->matmul_bf16
                      : dt == DTYPE_F16 ? kt->matmul_f16 : dt == DTYPE_Q8_0 ? kt->matmul_q8_0
                      : dt == DTYPE_Q4_0 ? kt->matmul_q4_0 : dt == DTYPE_Q4_1 ? kt->matmul_q4_1
                      : dt == DTYPE_Q5_0 ? kt->matmul_q5_0 : dt == DTYPE_Q5_1 ? kt->matmul_q5_1
                      : dt == DTYPE_Q4_K ? kt->matmul_q4_K : dt == DTYPE_Q5_K ? kt->matmul_q5_K
                      : dt == DTYPE_MXFP4 ? kt->matmul_mxfp4g : kt->matmul_q6_K;
        fn(y, x, w, n, d_in, d_out, 0, d_out);
    }
}

struct kind {
    const char *name;
    enum dtype dt;
    bool mxfp4;
};
static const struct kind kinds[] = {
    {"f32", DTYPE_F32, false},   {"bf16", DTYPE_BF16, false}, {"f16", DTYPE_F16, false},
    {"q8_0", DTYPE_Q8_0, false}, {"q4_0", DTYPE_Q4_0, false}, {"q4_1", DTYPE_Q4_1, false},
    {"q5_0", DTYPE_Q5_0, false}, {"q5_1", DTYPE_Q5_1, false}, {"q4_K", DTYPE_Q4_K, false},
    {"q5_K", DTYPE_Q5_K, false}, {"q6_K", DTYPE_Q6_K, false}, {"mxfp4", DTYPE_U8, true},
    {"fp8", DTYPE_F8_E4M3, false},    {"mxfp4 (GGML blocks)", DTYPE_MXFP4, false},
};

/* Every token of an n-token call against the same token alone, bitwise. */
static void check_table(const char *isa, const struct kernel_table *kt, const struct kind *k, int d_in, int d_out)
{
    void *scales;
    void *w = random_weight(k->dt, k->mxfp4, d_out, d_in, &scales);
    const int n_max = KERN_ROW_EXACT_TOKENS;
    float *x = malloc(sizeof(float) * n_max * d_in), *y = malloc(sizeof(float) * n_max * d_out);
    float *alone = malloc(sizeof(float) * n_max * d_out);
    for (int i = 0; i < n_max * d_in; i++)
        x[i] = frand();
    for (int t = 0; t < n_max; t++)
        call(kt, k->dt, k->mxfp4, alone + (size_t)t * d_out, x + (size_t)t * d_in, w, scales, 1, d_in, d_out);
    for (int n = 2; n <= n_max; n++) {
        call(kt, k->dt, k->mxfp4, y, x, w, scales, n, d_in, d_out);
        CHECK_MSG(memcmp(y, alone, sizeof(float) * n * d_out) == 0,
                  "%s %s d_in=%d d_out=%d: a row of an n=%d call differs from the token alone", isa, k->name, d_in,
                  d_out, n);
    }
    free(x);
    free(y);
    free(alone);
    free(w);
    free(scales);
}

/* op_matmul in row-exact mode, any n (9 and 17 would take the GEMM otherwise), against n = 1 calls. */
static void check_op(const struct kind *k, int d_in, int d_out)
{
    void *scales;
    void *wd = random_weight(k->dt, k->mxfp4, d_out, d_in, &scales);
    const struct weight w = {.dtype = k->dt, .d_out = d_out, .d_in = d_in, .data = wd, .scales = scales};
    const int n = 17;
    float *x = malloc(sizeof(float) * n * d_in), *y = malloc(sizeof(float) * n * d_out);
    float *alone = malloc(sizeof(float) * n * d_out), *bias = malloc(sizeof(float) * d_out);
    for (int i = 0; i < n * d_in; i++)
        x[i] = frand();
    for (int i = 0; i < d_out; i++)
        bias[i] = frand();
    for (int t = 0; t < n; t++)
        op_matmul(alone + (size_t)t * d_out, x + (size_t)t * d_in, &w, bias, 1);
    ops_set_row_exact(true);
    for (int m = 2; m <= n; m += 7) { /* 2, 9, 16 */
        op_matmul(y, x, &w, bias, m);
        CHECK_MSG(memcmp(y, alone, sizeof(float) * m * d_out) == 0,
                  "op_matmul row-exact %s d_in=%d d_out=%d n=%d: differs from one token at a time", k->name, d_in,
                  d_out, m);
    }
    ops_set_row_exact(false);
    free(x);
    free(y);
    free(alone);
    free(bias);
    free(wd);
    free(scales);
}

int main(void)
{
    const struct kernel_table ref = kern; /* before kernels_init: the references */
    ops_set_threads(2);                    /* kernels_init: the table in use */
    /* (the last two: past KERN_ROWS_X_BYTES of activations at 1 and at 4 tokens, where kernels take several
     * rows per pass) */
    static const int shapes[][2] = {{256, 40}, {512, 17}, {288, 33}, {4352, 19}, {1088, 21}};
    struct kernel_table avx2;
    const bool have_avx2 = kernels_table("avx2", &avx2); /* d_in (a multiple of 256, or not), d_out */
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const int d_in = shapes[s][0], d_out = shapes[s][1];
            size_t row = 0;
            if (!kinds[i].mxfp4 && !dtype_bytes(kinds[i].dt, (uint64_t)d_in, &row))
                continue; /* K-quants need d_in a multiple of 256 */
            check_table("ref", &ref, &kinds[i], d_in, d_out);
            check_table(kern.isa, &kern, &kinds[i], d_in, d_out);
            if (have_avx2)
                check_table("avx2", &avx2, &kinds[i], d_in, d_out);
            check_op(&kinds[i], d_in, d_out);
        }
    /* the reduced-precision bf16-activation kernels keep the contract too */
    static const struct kind act = {"bf16 act", DTYPE_BF16, false};
    struct kernel_table ref_act = ref, fast_act = kern;
    ref_act.matmul_bf16 = ref.matmul_bf16_act;
    fast_act.matmul_bf16 = kern.matmul_bf16_act;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        check_table("ref", &ref_act, &act, shapes[s][0], shapes[s][1]);
        check_table(kern.isa, &fast_act, &act, shapes[s][0], shapes[s][1]);
    }
    return test_done("test_row_exact");
}
