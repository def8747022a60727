/* model.c — the family registry and the weight-taking helpers shared by family files. */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/model.h"

static const struct model_vtable *const families[] = {&qwen3_vtable, &qwen3_moe_vtable, &gpt_oss_vtable,
                                                     &deepseek_v3_vtable, &deepseek_v2_vtable};

const struct model_vtable *model_lookup(const struct kv_table *config, struct owl_error *err)
{
    const char *type = NULL;
    if (kv_get_str_opt(config, "model_type", &type, err) != OWL_OK)
        return NULL;
    if (!type) {
        fail(err, OWL_ERR_BAD_CONFIG, "%s: missing field 'model_type'", config->source);
        return NULL;
    }
    for (size_t i = 0; i < sizeof families / sizeof *families; i++)
        if (strcmp(type, families[i]->family) == 0)
            return families[i];
    fail(err, OWL_ERR_UNSUPPORTED,
         "%s: model_type '%s' is not supported (owl runs: qwen3, qwen3_moe, gpt_oss, deepseek_v3, deepseek_v2)",
         config->source, type);
    return NULL;
}

#define MATMUL_DTYPES                                                                                   \
    ((1u << DTYPE_F32) | (1u << DTYPE_F16) | (1u << DTYPE_BF16) | (1u << DTYPE_Q8_0) | (1u << DTYPE_Q4_0) |    \
     (1u << DTYPE_Q4_1) | (1u << DTYPE_Q5_0) | (1u << DTYPE_Q5_1) | (1u << DTYPE_Q4_K) | (1u << DTYPE_Q5_K) |  \
     (1u << DTYPE_Q6_K) | (1u << DTYPE_MXFP4))

enum owl_status model_take_linear(struct model *m, const char *name, int d_out, int d_in, struct weight *out,
                                  struct owl_error *err)
{
    const int64_t shape[2] = {d_out, d_in};
    const struct tensor_view *t;
    enum owl_status st = model_file_take(&m->file, name, MATMUL_DTYPES, 2, shape, &t, err);
    if (st != OWL_OK)
        return st;
    *out = (struct weight){.dtype = t->dtype, .d_out = d_out, .d_in = d_in, .data = t->data};
    const size_t len = strlen(name);
    const bool router = (len >= 15 && !strcmp(name + len - 15, "mlp.gate.weight")) ||
                        (len >= 17 && !strcmp(name + len - 17, "mlp.router.weight"));
    if (!m->quant || router || d_in % 32 ||
        !(t->dtype == DTYPE_F32 || t->dtype == DTYPE_F16 || t->dtype == DTYPE_BF16))
        return OWL_OK;
    const bool head = !strcmp(name, "lm_head.weight") || !strcmp(name, "model.embed_tokens.weight");
    const enum dtype dt = m->quant_dtype == DTYPE_Q4_0 && !head ? DTYPE_Q4_0 : DTYPE_Q8_0;
    const size_t row_bytes = (size_t)d_in / 32 * (dt == DTYPE_Q4_0 ? 18 : Q8_0_BLOCK_BYTES);
    const size_t in_row = (size_t)d_in * dtype_size(t->dtype);
    uint8_t *q = big_alloc(row_bytes * (size_t)d_out);
    if (!q)
        return fail(err, OWL_ERR_OUT_OF_MEMORY, "%s: %zu bytes for its %s copy", name, row_bytes * (size_t)d_out,
                    dt == DTYPE_Q4_0 ? "Q4_0" : "Q8_0");
#pragma omp parallel num_threads(ops_threads())
    {
        float *row = xcalloc((size_t)d_in, sizeof(float));
#pragma omp for schedule(static)
        for (int o = 0; o < d_out; o++) {
            weight_to_f32(row, (const uint8_t *)t->data + (size_t)o * in_row, t->dtype, (size_t)d_in);
            if (dt == DTYPE_Q4_0)
                quantize_row_q4_0(q + (size_t)o * row_bytes, row, d_in);
            else
                quantize_row_q8_0(q + (size_t)o * row_bytes, row, d_in);
        }
        free(row);
    }
    m->owned = xrealloc(m->owned, sizeof *m->owned * (size_t)(m->n_owned + 1));
    m->owned[m->n_owned++] = q;
    *out = (struct weight){.dtype = dt, .d_out = d_out, .d_in = d_in, .data = q};
    return OWL_OK;
}

void model_mxfp4_slabs(struct model *m, struct weight *w, int n)
{
    struct model_file *mf = &m->file;
    if (m->act != ACT_Q8 || !kern.matmul_mxfp4s_q8)
        return;
    int k = 0;
    for (; k < mf->n_maps; k++)
        if (mf->maps[k].size && !file_map_set_writable(&mf->maps[k], true))
            break;
    if (k == mf->n_maps) {
#pragma omp parallel num_threads(ops_threads())
        {
            uint8_t *tmp = NULL;
            size_t tmp_len = 0;
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < n; i++) {
                if (!(w[i].dtype == DTYPE_MXFP4 || weight_is_mxfp4(&w[i])) || w[i].d_out % 16 || w[i].slabs)
                    continue;
                const size_t need = 16 * (size_t)(w[i].d_in / 32) * 17; /* 16 rows' codes and scales */
                if (need > tmp_len) {
                    free(tmp);
                    tmp = malloc(need);
                    tmp_len = tmp ? need : 0;
                }
                if (tmp) {
                    mxfp4_to_slabs((uint8_t *)w[i].data, (uint8_t *)w[i].scales, w[i].d_in, w[i].d_out, tmp);
                    w[i].slabs = true;
#pragma omp atomic
                    m->n_slabs++;
                }
            }
            free(tmp);
        }
    }
    while (k-- > 0)
        if (mf->maps[k].size)
            file_map_set_writable(&mf->maps[k], false);
}

enum owl_status model_take_vector(struct model *m, const char *name, int n, float **out, struct owl_error *err)
{
    const int64_t shape[1] = {n};
    const struct tensor_view *t;
    enum owl_status st = model_file_take(&m->file, name, MATMUL_DTYPES, 1, shape, &t, err);
    if (st != OWL_OK)
        return st;
    *out = xcalloc((size_t)n, sizeof(float));
    weight_to_f32(*out, t->data, t->dtype, (size_t)n);
    return OWL_OK;
}
