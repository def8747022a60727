/* model.c — the family registry and the weight-taking helpers shared by family files. */
#include <stdlib.h>
#include <string.h>

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
     (1u << DTYPE_Q6_K))

enum owl_status model_take_linear(struct model *m, const char *name, int d_out, int d_in, struct weight *out,
                                  struct owl_error *err)
{
    const int64_t shape[2] = {d_out, d_in};
    const struct tensor_view *t;
    enum owl_status st = model_file_take(&m->file, name, MATMUL_DTYPES, 2, shape, &t, err);
    if (st != OWL_OK)
        return st;
    *out = (struct weight){.dtype = t->dtype, .d_out = d_out, .d_in = d_in, .data = t->data};
    return OWL_OK;
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
