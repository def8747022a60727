/* backend_cpu_mla.c — op_matmul_heads (ops.h): products of each head with its own row slice of one fused
 * weight, plain or transposed. This is what MLA's absorbed form needs from kv_b_proj (rows head-major,
 * [k_nope | v] per head): W_uk_hᵀ·q_nope_h folds the key part into the query, W_uv_h·o_h applies the value
 * part after attention. Each weight row is dequantized once into a row buffer (FP8 rows with their block
 * scale, plain dtypes exactly) and used for every token, so the bytes read are those of the slices.
 */
#include <omp.h>
#include <string.h>

#include "backend/ops.h"
#include "kernels/fp8.h"
#include "kernels/kernels.h"

/* Row r of w as fp32 (d_in values). */
static void weight_row(float *out, const struct weight *w, int r)
{
    if (w->dtype == DTYPE_F8_E4M3) {
        const int n_cb = (w->d_in + FP8_BLOCK - 1) / FP8_BLOCK;
        dequantize_row_fp8(out, (const uint8_t *)w->data + (size_t)r * w->d_in,
                           (const float *)w->scales + (size_t)(r / FP8_BLOCK) * n_cb, w->d_in);
        return;
    }
    size_t row_bytes = 0;
    OWL_ASSERT(dtype_bytes(w->dtype, (uint64_t)w->d_in, &row_bytes));
    weight_to_f32(out, (const char *)w->data + (size_t)r * row_bytes, w->dtype, (size_t)w->d_in);
}

void op_matmul_heads(const struct heads_matmul_args *a)
{
    const struct weight *w = a->w;
    const int d_in = w->d_in;
    OWL_ASSERT(d_in <= 65536 && a->row0 + (a->n_head - 1) * a->row_stride + a->n_rows <= w->d_out);
    /* Work items: (head, chunk of 16 rows) for the plain product, whole heads for the transposed one
     * (its rows all add into the same outputs). Items own disjoint outputs. */
    const int chunk = a->transposed ? a->n_rows : 16;
    const int n_chunks = (a->n_rows + chunk - 1) / chunk, n_items = a->n_head * n_chunks;
    const int n_thr = ops_threads();
#pragma omp parallel num_threads(n_thr) if (n_thr > 1 && n_items > 1)
    {
        float row[d_in];
#pragma omp for schedule(static)
        for (int item = 0; item < n_items; item++) {
            const int h = item / n_chunks, i0 = (item % n_chunks) * chunk;
            const int i1 = i0 + chunk < a->n_rows ? i0 + chunk : a->n_rows;
            const float *x = a->x + (size_t)h * a->x_head_stride;
            float *y = a->y + (size_t)h * a->y_head_stride;
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
}
