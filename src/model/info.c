/* info.c — what a model is, for owl inspect and owl compare: the family-independent half.
 *
 * Each family describes itself from config.json (describe_config: architecture, parameter counts from the
 * hyper-parameters, KV bytes) and classifies its stored tensors (classify). Here: the registry lookup, the
 * counts and bytes summed over a checkpoint's tensors (no weight is read: only the shapes in the headers),
 * and the public entry points. A checkpoint's tensor counts must equal its config's counts; the tests hold
 * every fixture to that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "model/model.h"
#include "model/released.h"
#include "model/rope.h"

enum owl_status model_info_config(const struct kv_table *config, struct owl_model_info *info, struct owl_error *err)
{
    memset(info, 0, sizeof *info);
    const struct model_vtable *vt = model_lookup(config, err);
    if (!vt)
        return err ? err->status : OWL_ERR_UNSUPPORTED;
    snprintf(info->family, sizeof info->family, "%s", vt->family);
    snprintf(info->params_from, sizeof info->params_from, "config");
    snprintf(info->kv_dtype, sizeof info->kv_dtype, "f32");
    snprintf(info->context_extension, sizeof info->context_extension, "none");
    enum owl_status st = vt->describe_config(config, info, err);
    if (st)
        return st;
    /* a session's default: sliding-window layers keep their default rows where the context is longer */
    const uint64_t layer = info->n_layer > 0 ? info->kv_bytes_per_token / (uint64_t)info->n_layer : 0;
    info->kv_bytes_context = kv_capped_bytes(layer, info->n_layer, info->n_sliding_layers, (uint64_t)info->n_ctx,
                                             (uint64_t)kv_window_rows(info->sliding_window, 512, 0));
    return OWL_OK;
}

/* Add bytes under a dtype name; keeps the list sorted by bytes, largest first, folding overflow into the
 * last entry ("other"). */
void model_info_add_bytes(struct owl_model_info *info, const char *dtype, uint64_t bytes)
{
    info->weight_bytes += bytes;
    int i = 0;
    while (i < info->n_weight_dtypes && strcmp(info->weight_dtypes[i].dtype, dtype) != 0)
        i++;
    if (i == info->n_weight_dtypes) {
        if (i == OWL_INFO_MAX_DTYPES) {
            i = OWL_INFO_MAX_DTYPES - 1;
            snprintf(info->weight_dtypes[i].dtype, sizeof info->weight_dtypes[i].dtype, "other");
        } else {
            snprintf(info->weight_dtypes[i].dtype, sizeof info->weight_dtypes[i].dtype, "%s", dtype);
            info->weight_dtypes[i].bytes = 0;
            info->n_weight_dtypes++;
        }
    }
    info->weight_dtypes[i].bytes += bytes;
    for (; i > 0 && info->weight_dtypes[i].bytes > info->weight_dtypes[i - 1].bytes; i--) {
        const struct owl_dtype_bytes tmp = info->weight_dtypes[i];
        info->weight_dtypes[i] = info->weight_dtypes[i - 1];
        info->weight_dtypes[i - 1] = tmp;
    }
}

void model_info_tensors(const struct kv_table *config, const struct tensor_table *tensors, struct owl_model_info *info)
{
    const struct model_vtable *vt = model_lookup(config, NULL);
    OWL_ASSERT(vt); /* model_info_config found it */
    int64_t embed = 0, head = 0, experts = 0, mtp = 0, dense = 0;
    info->n_weight_dtypes = 0;
    info->weight_bytes = 0;
    bool ggml = false;
    for (int i = 0; i < tensors->n; i++) {
        const struct tensor_view *t = &tensors->tensors[i];
        struct tensor_class c = {.role = TENSOR_DENSE, .n_params = tensor_n_elements(t), .format = NULL};
        vt->classify(info, t, &c);
        model_info_add_bytes(info, c.format ? c.format : dtype_name(t->dtype), t->n_bytes);
        ggml |= dtype_block(t->dtype) > 1;
        switch (c.role) {
        case TENSOR_DENSE: dense += c.n_params; break;
        case TENSOR_EMBED: embed += c.n_params; break;
        case TENSOR_HEAD: head += c.n_params; break;
        case TENSOR_EXPERT: experts += c.n_params; break;
        case TENSOR_MTP: mtp += c.n_params; break;
        case TENSOR_SCALE:
        case TENSOR_UNUSED: break;
        }
    }
    info->n_params = dense + embed + head + experts;
    info->n_params_embedding = embed + head;
    info->n_params_experts = experts;
    info->n_params_mtp = mtp;
    /* Every MoE layer holds n_expert equal experts, so the chosen k are k/n_expert of them exactly. */
    info->n_params_active = dense + head + (info->tied_embeddings ? embed : 0) +
                            (info->n_expert ? experts / info->n_expert * info->n_expert_used : 0);
    snprintf(info->params_from, sizeof info->params_from, "tensors");
    if (ggml && strcmp(info->quantization, "none") == 0)
        snprintf(info->quantization, sizeof info->quantization, "GGUF, mostly %s", info->weight_dtypes[0].dtype);
}

void model_info_plain_bytes(const struct kv_table *config, struct owl_model_info *info, int64_t n_params)
{
    const char *dt = NULL;
    if (kv_get_str_opt(config, "torch_dtype", &dt, NULL) != OWL_OK || !dt)
        kv_get_str_opt(config, "dtype", &dt, NULL);
    const bool f32 = dt && strcmp(dt, "float32") == 0, f16 = dt && strcmp(dt, "float16") == 0;
    model_info_add_bytes(info, f32 ? "F32" : f16 ? "F16" : "BF16", (uint64_t)n_params * (f32 ? 4 : 2));
}

void model_info_rope(struct owl_model_info *info, const struct rope *r, const char *yarn_applied)
{
    info->rope_theta = r->theta;
    snprintf(info->rope, sizeof info->rope, "%s", r->type == ROPE_TYPE_YARN ? "yarn" : "default");
    if (r->type != ROPE_TYPE_YARN)
        return;
    info->yarn_factor = r->factor;
    info->yarn_original_ctx = (int)r->orig_ctx;
    snprintf(info->context_extension, sizeof info->context_extension, "%s", yarn_applied);
}

static bool is_json_file(const char *path)
{
    const size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".json") == 0 &&
           !(n >= 16 && strcmp(path + n - 16, ".safetensors.index.json") == 0);
}

/* A directory holding config.json but no weights (fetched for its description only). */
static bool config_only_dir(const char *path, char *config, size_t size)
{
    struct stat s;
    if (stat(path, &s) != 0 || !S_ISDIR(s.st_mode))
        return false;
    char p[4096];
    snprintf(p, sizeof p, "%s/model.safetensors", path);
    if (stat(p, &s) == 0)
        return false;
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
    if (stat(p, &s) == 0)
        return false;
    snprintf(config, size, "%s/config.json", path);
    return stat(config, &s) == 0;
}

static enum owl_status inspect_json_file(const char *path, struct owl_model_info *info, struct owl_error *err)
{
    char *text;
    size_t size;
    enum owl_status st = file_read_all(path, &text, &size, err);
    if (st)
        return st;
    struct kv_table kv;
    st = kv_from_json(&kv, text, size, path, err);
    free(text);
    if (st)
        return st;
    st = model_info_config(&kv, info, err);
    kv_table_free(&kv);
    return st;
}

enum owl_status owl_inspect(const char *path, struct owl_model_info *info, struct owl_error *err)
{
    memset(info, 0, sizeof *info);
    if (!path)
        return fail(err, OWL_ERR_INVALID_ARG, "owl_inspect: path is NULL");
    char config[4096];
    if (is_json_file(path))
        return inspect_json_file(path, info, err);
    if (config_only_dir(path, config, sizeof config))
        return inspect_json_file(config, info, err);
    struct model_file mf;
    enum owl_status st = model_file_open(&mf, path, err);
    if (st)
        return st;
    if ((st = model_info_config(&mf.config, info, err)) == OWL_OK)
        model_info_tensors(&mf.config, &mf.tensors, info);
    model_file_close(&mf);
    return st;
}

const char *owl_released_name(int i)
{
    return i >= 0 && i < n_released_configs ? released_configs[i].name : NULL;
}

enum owl_status owl_inspect_released(const char *name, struct owl_model_info *info, struct owl_error *err)
{
    memset(info, 0, sizeof *info);
    for (int i = 0; name && i < n_released_configs; i++) {
        if (strcasecmp(name, released_configs[i].name) != 0)
            continue;
        struct kv_table kv;
        const char *json = released_configs[i].config_json;
        enum owl_status st = kv_from_json(&kv, json, strlen(json), released_configs[i].name, err);
        if (st)
            return st;
        st = model_info_config(&kv, info, err);
        kv_table_free(&kv);
        return st;
    }
    return fail(err, OWL_ERR_INVALID_ARG, "no released model named '%s' is built in (see owl compare --help)",
                name ? name : "(null)");
}
