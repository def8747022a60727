/* backend_cpu_mla.c — op_matmul_heads (ops.h): products of each head with its own row slice of one fused
 * weight, plain or transposed. This is what MLA's absorbed form needs from kv_b_proj (rows head-major,
 * [k_nope | v] per head): W_uk_hᵀ·q_nope_h folds the key part into the query, W_uv_h·o_h applies the value
 * part after attention. Each weight row is dequantized once into a row buffer (FP8 rows with their block
 * scale, plain dtypes exactly) and used for every token, so the bytes read are those of the slices.
 */
#include <stdint.h>
#include <string.h>

#include "backend/ops.h"
#include "backend/team.h"
#include "kernels/fp8.h"
#include "kernels/kernels.h"

/* Row r of w as fp32 (d_in values). */
static void weight_row(float *out, const struct weight *w, int r)
{
    if (w->dtype == DTYPE_F8_E4M3) {
        const int n_cb = (w->d_in + FP8_BLOCK - 1) / FP8_BLOCK;
        kern.dequantize_fp8(out, (const uint8_t *)w->data + (size_t)r * w->d_in,
                           (const float *)w->scales + (size_t)(r / FP8_BLOCK) * n_cb, w->d_in);
        return;
    }
    size_t row_bytes = 0;
    OWL_ASSERT(dtype_bytes(w->dtype, (uint64_t)w->d_in, &row_bytes));
    weight_to_f32(out, (const char *)w->data + (size_t)r * row_bytes, w->dtype, (size_t)w->d_in);
}

/* Rows [r0, r0 + n) of w as a weight of their own, or false where their scales cannot be sliced so (FP8 rows not
 * starting a 128-row block). */
static bool weight_rows(struct weight *v, const struct weight *w, int r0, int n)
{
    *v = *w;
    v->d_out = n;
    v->n_expert = 1;
    if (w->dtype == DTYPE_F8_E4M3) {
        if (r0 % FP8_BLOCK)
            return false;
        v->data = (const uint8_t *)w->data + (size_t)r0 * w->d_in;
        v->scales = (const float *)w->scales + (size_t)(r0 / FP8_BLOCK) * ((w->d_in + FP8_BLOCK - 1) / FP8_BLOCK);
        return true;
    }
    size_t row_bytes = 0;
    OWL_ASSERT(dtype_bytes(w->dtype, (uint64_t)w->d_in, &row_bytes));
    v->data = (const char *)w->data + (size_t)r0 * row_bytes;
    return !w->scales; /* plain and GGML block dtypes carry their scales in the rows */
}

/* Prefill's plain products: per head, its rows as a weight through op_matmul (the GEMM and multi-token kernels,
 * every thread) on its inputs gathered into contiguous rows, the outputs scattered back. The row-by-row loop
 * below took a dot product per row and token: a fifth of a DeepSeek-V3 prefill. Not in row-exact mode (batched
 * decode), where each token's numbers must be those of the loop below. False where a head's rows cannot be a
 * weight of their own. */
enum { HEADS_GEMM_MIN_TOKENS = 8 };
/* Head h's product through op_matmul over weight v: its inputs (x_width a token) gathered into contiguous rows of
 * xg, the outputs (y_width a token) from yg scattered back. */
static void head_matmul(const struct heads_matmul_args *a, int h, const struct weight *v, float *xg, float *yg,
                        int x_width, int y_width)
{
    for (int t = 0; t < a->n_tok; t++)
        memcpy(xg + (size_t)t * x_width, a->x + (size_t)h * a->x_head_stride + (size_t)t * a->x_tok_stride,
               (size_t)x_width * sizeof(float));
    op_matmul(yg, xg, v, NULL, a->n_tok);
    for (int t = 0; t < a->n_tok; t++)
        memcpy(a->y + (size_t)h * a->y_head_stride + (size_t)t * a->y_tok_stride, yg + (size_t)t * y_width,
               (size_t)y_width * sizeof(float));
}

static bool heads_gemm(const struct heads_matmul_args *a)
{
    const int n = a->n_tok, d_in = a->w->d_in, rows = a->n_rows;
    struct weight v;
    for (int h = 0; h < a->n_head; h++)
        if (!weight_rows(&v, a->w, a->row0 + h * a->row_stride, rows))
            return false;
    float *xg = backend_scratch(1, ((size_t)n * d_in + (size_t)n * rows) * sizeof(float)), *yg = xg + (size_t)n * d_in;
    for (int h = 0; h < a->n_head; h++) {
        weight_rows(&v, a->w, a->row0 + h * a->row_stride, rows);
        head_matmul(a, h, &v, xg, yg, d_in, rows);
    }
    return true;
}

/* Prefill's transposed products: per head, its rows dequantized (weight_row) into the columns of an fp32 matrix
 * (d_in x n_rows, the product's weight as op_matmul takes it), then op_matmul over the head's inputs gathered into
 * contiguous rows. The fp32 GEMM sums each output over the rows in order with one FMA each, as the loop below does
 * with its axpys, so the numbers are the same; that loop took 13% of a DeepSeek-V3 prefill (512 tokens,
 * --act bf16). Not in row-exact mode. */
static void heads_gemm_transposed(const struct heads_matmul_args *a)
{
    const int n = a->n_tok, d_in = a->w->d_in, rows = a->n_rows;
    float *wt = backend_scratch(1, ((size_t)d_in * rows + (size_t)n * rows + (size_t)n * d_in + (size_t)d_in) *
                                       sizeof(float));
    float *xg = wt + (size_t)d_in * rows, *yg = xg + (size_t)n * rows, *row = yg + (size_t)n * d_in;
    const struct weight v = {.dtype = DTYPE_F32, .d_out = d_in, .d_in = rows, .data = wt};
    for (int h = 0; h < a->n_head; h++) {
        for (int i = 0; i < rows; i++) {
            weight_row(row, a->w, a->row0 + h * a->row_stride + i);
            for (int c = 0; c < d_in; c++)
                wt[(size_t)c * rows + i] = row[c];
        }
        head_matmul(a, h, &v, xg, yg, rows, d_in);
    }
}

/* op_matmul_heads' items (see there), shared out in order. */
struct heads_items {
    const struct heads_matmul_args *a;
    int chunk, n_chunks, n_items;
};

static void heads_items_body(void *ctx, int id, int nth)
{
    const struct heads_items *c = ctx;
    const struct heads_matmul_args *a = c->a;
    const struct weight *w = a->w;
    const int d_in = w->d_in, chunk = c->chunk, n_chunks = c->n_chunks;
    const bool by_kernel = !a->transposed;
    float row[d_in];
    for (int item = c->n_items * id / nth; item < c->n_items * (id + 1) / nth; item++) {
        const int h = item / n_chunks, i0 = (item % n_chunks) * chunk;
        const int i1 = i0 + chunk < a->n_rows ? i0 + chunk : a->n_rows;
        const float *x = a->x + (size_t)h * a->x_head_stride;
        float *y = a->y + (size_t)h * a->y_head_stride;
        struct weight v;
        if (by_kernel && weight_rows(&v, w, a->row0 + h * a->row_stride, a->n_rows)) {
            for (int t = 0; t < a->n_tok; t++)
                backend_matmul_rows(y + (size_t)t * a->y_tok_stride, x + (size_t)t * a->x_tok_stride, &v, 1, i0,
                                    i1);
            continue;
        }
        if (a->transposed)
            for (int t = 0; t < a->n_tok; t++)
                memset(y + (size_t)t * a->y_tok_stride, 0, (size_t)d_in * sizeof(float));
        for (int i = i0; i < i1; i++) {
            weight_row(row, w, a->row0 + h * a->row_stride + i);
            for (int t = 0; t < a->n_tok; t++) {
                const float *xt = x + (size_t)t * a->x_tok_stride;
                float *yt = y + (size_t)t * a->y_tok_stride;
                if (a->transposed)
                    kern.axpy_f32(yt, xt[i], row, d_in); /* y_t += x_t[i] * W[i, :] */
                else
                    yt[i] = kern.dot_f32(row, xt, d_in); /* y_t[i] = W[i, :] · x_t */
            }
        }
    }
}

void op_matmul_heads(const struct heads_matmul_args *a)
{
    const struct weight *w = a->w;
    const int d_in = w->d_in;
    OWL_ASSERT(d_in <= 65536 && a->row0 + (a->n_head - 1) * a->row_stride + a->n_rows <= w->d_out);
    if (!a->transposed && a->n_tok >= HEADS_GEMM_MIN_TOKENS && !ops_row_exact() && heads_gemm(a))
        return;
    if (a->transposed && a->n_tok >= HEADS_GEMM_MIN_TOKENS && !ops_row_exact()) {
        heads_gemm_transposed(a);
        return;
    }
    /* Work items: (head, chunk of 16 rows) for the plain product, whole heads for the transposed one
     * (its rows all add into the same outputs). Items own disjoint outputs. A plain product's chunk goes through
     * its dtype's kernel a token at a time (row-exact: decode and batched steps alike) where the head's rows can
     * be a weight of their own; else each row is dequantized once and met by every token (dequantizing Q8_0
     * rows one by one took 12% of a DeepSeek decode). */
    const int chunk = a->transposed ? a->n_rows : 16;
    const int n_chunks = (a->n_rows + chunk - 1) / chunk;
    struct heads_items c = {.a = a, .chunk = chunk, .n_chunks = n_chunks, .n_items = a->n_head * n_chunks};
    team_run(heads_items_body, &c, c.n_items > 1);
}
