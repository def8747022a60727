/* test_inspect.c — owl inspect on every fixture checkpoint: the counts a family computes from its config
 * (describe_config) equal the counts summed over the checkpoint's tensors, and those equal a plain sum of
 * the tensors' element counts (MXFP4 blocks hold two values a byte; quantization scales hold none), which
 * knows nothing of roles. KV bytes per token equal what a session allocates for the loaded model. The CLI's
 * --json output parses and carries the same numbers.
 */
#include <jansson.h>
#include <stdlib.h>

#include "model/model.h"
#include "test_util.h"

static const char *const fixtures[] = {
    "qwen3/gqa-tied", "qwen3/mqa-untied-sharded", "qwen3/yarn-released", "qwen3/yarn-type-key", "qwen3/yarn-v5",
    "qwen3_moe/nonorm-sparse-step", "qwen3_moe/norm-mlp-only", "gpt_oss/bf16-v5", "gpt_oss/mxfp4-released",
    "deepseek_v3/fp8-sharded", "deepseek_v3/noqlora-v5-sharded", "deepseek_v3/qlora-mtp", "deepseek_v3/v2-lite",
    "gguf/synth-qwen3-q4_0.gguf", "gguf/synth-qwen3-q4_k.gguf", "gguf/synth-qwen3-q6_k.gguf",
    "gguf/synth-qwen3-q8_0.gguf",
};

/* Values stored in a tensor, by its bytes and dtype alone. */
static int64_t plain_values(const struct tensor_view *t)
{
    const size_t n = strlen(t->name);
    if (t->dtype == DTYPE_U8 && n > 7 && strcmp(t->name + n - 7, "_blocks") == 0)
        return (int64_t)t->n_bytes * 2;
    if ((t->dtype == DTYPE_U8 && n > 7 && strcmp(t->name + n - 7, "_scales") == 0) ||
        (n > 10 && strcmp(t->name + n - 10, "_scale_inv") == 0))
        return 0;
    return tensor_n_elements(t);
}

static void check_fixture(const char *rel)
{
    const char *path = fixture_path(rel);
    struct owl_error err = {0};
    struct model_file mf;
    CHECK_OK(model_file_open(&mf, path, &err), &err);
    struct owl_model_info cfg, tens;
    CHECK_OK(model_info_config(&mf.config, &cfg, &err), &err);
    tens = cfg;
    model_info_tensors(&mf.config, &mf.tensors, &tens);
    int64_t sum = 0;
    for (int i = 0; i < mf.tensors.n; i++)
        sum += plain_values(&mf.tensors.tensors[i]);
    model_file_close(&mf);

    CHECK_MSG(cfg.n_params == tens.n_params, "%s: config %lld vs tensors %lld", rel, (long long)cfg.n_params,
              (long long)tens.n_params);
    CHECK_MSG(cfg.n_params_active == tens.n_params_active, "%s: active config %lld vs tensors %lld", rel,
              (long long)cfg.n_params_active, (long long)tens.n_params_active);
    CHECK_MSG(cfg.n_params_embedding == tens.n_params_embedding, "%s: embedding", rel);
    CHECK_MSG(cfg.n_params_experts == tens.n_params_experts, "%s: experts", rel);
    CHECK_MSG(tens.n_params + tens.n_params_mtp == sum, "%s: %lld + %lld MTP vs %lld values stored", rel,
              (long long)tens.n_params, (long long)tens.n_params_mtp, (long long)sum);
    /* transformers v5 writes num_nextn_predict_layers 1 into files without the layer (noqlora-v5); a GGUF
     * file's quantization is not in its metadata */
    if (strstr(rel, ".gguf"))
        CHECK(strncmp(tens.quantization, "GGUF, mostly ", 13) == 0);
    else if (tens.n_params_mtp == cfg.n_params_mtp)
        CHECK_MSG(cfg.weight_bytes == tens.weight_bytes, "%s: bytes config %llu vs tensors %llu", rel,
                  (unsigned long long)cfg.weight_bytes, (unsigned long long)tens.weight_bytes);
    else
        CHECK_MSG(tens.n_params_mtp == 0 && strstr(rel, "v5"), "%s: MTP config %lld vs tensors %lld", rel,
                  (long long)cfg.n_params_mtp, (long long)tens.n_params_mtp);
    CHECK(strcmp(tens.params_from, "tensors") == 0 && strcmp(cfg.params_from, "config") == 0);
    CHECK(tens.n_params_active <= tens.n_params && tens.n_params_active > 0);

    /* the public entry point gives the same; so does a loaded model's KV layout */
    struct owl_model_info pub;
    CHECK_OK(owl_inspect(path, &pub, &err), &err);
    CHECK(pub.n_params == tens.n_params && pub.n_params_active == tens.n_params_active &&
          pub.weight_bytes == tens.weight_bytes);
    struct owl_model *model = NULL;
    CHECK_OK(owl_model_open(path, NULL, &model, &err), &err);
    if (model) {
        CHECK_MSG(pub.kv_bytes_per_token == owl_model_kv_bytes_per_token(model), "%s: kv %llu vs %zu", rel,
                  (unsigned long long)pub.kv_bytes_per_token, owl_model_kv_bytes_per_token(model));
        CHECK(pub.n_ctx == owl_model_n_ctx_train(model) && pub.n_vocab == owl_model_n_vocab(model));
        CHECK(strcmp(pub.family, owl_model_family(model)) == 0);
        /* a session's default: sliding-window layers keep 4096 rows (owl_session_params.window_rows) */
        const uint64_t layer = pub.kv_bytes_per_token / (uint64_t)pub.n_layer;
        const uint64_t ring = pub.n_ctx < 4096 ? (uint64_t)pub.n_ctx : 4096;
        CHECK(pub.kv_bytes_context == layer * ((uint64_t)(pub.n_layer - pub.n_sliding_layers) * (uint64_t)pub.n_ctx +
                                               (uint64_t)pub.n_sliding_layers * ring));
    }
    owl_model_close(model);
}

/* Run the owl binary; its stdout parsed as JSON (NULL when it fails or does not parse). */
static json_t *owl_json(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s", OWL_BINARY, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    json_error_t jerr;
    json_t *j = json_loadf(p, 0, &jerr);
    const int rc = pclose(p);
    if (!j && rc == 0)
        fprintf(stderr, "%s: %s (line %d)\n", args, jerr.text, jerr.line);
    if (rc != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_int_t get_int(json_t *o, const char *group, const char *key)
{
    return json_integer_value(json_object_get(group ? json_object_get(o, group) : o, key));
}

static void check_cli(void)
{
    char args[2048];
    const char *dir = fixture_path("gpt_oss/mxfp4-released");
    struct owl_model_info in;
    struct owl_error err = {0};
    CHECK_OK(owl_inspect(dir, &in, &err), &err);
    snprintf(args, sizeof args, "inspect --json '%s'", dir);
    json_t *j = owl_json(args);
    CHECK(j && json_is_object(j));
    if (j) {
        CHECK(strcmp(json_string_value(json_object_get(j, "family")), "gpt_oss") == 0);
        CHECK(get_int(j, "params", "total") == in.n_params);
        CHECK(get_int(j, "params", "active") == in.n_params_active);
        CHECK(get_int(j, "params", "non_embedding") == in.n_params - in.n_params_embedding);
        CHECK(get_int(j, "kv_cache", "bytes_per_token") == (json_int_t)in.kv_bytes_per_token);
        CHECK(get_int(j, "kv_cache", "bytes_per_token_f16") == (json_int_t)(in.kv_bytes_per_token / 2));
        CHECK(get_int(j, "weights", "bytes") == (json_int_t)in.weight_bytes);
        CHECK(get_int(json_object_get(j, "weights"), "bytes_by_dtype", "MXFP4") > 0);
        CHECK(get_int(j, "attention", "n_sliding_layers") == in.n_sliding_layers);
        CHECK(json_is_true(json_object_get(json_object_get(j, "attention"), "sinks")));
        CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "params"), "counted_from")), "tensors") == 0);
        CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "context"), "extension")),
                     "pre-training") == 0);
    }
    json_decref(j);

    /* compare: every built-in release plus the directory, last */
    int n_builtin = 0;
    while (owl_released_name(n_builtin))
        n_builtin++;
    snprintf(args, sizeof args, "compare --json '%s'", dir);
    j = owl_json(args);
    CHECK(j && json_is_array(j) && (int)json_array_size(j) == n_builtin + 1);
    if (j && json_is_array(j) && json_array_size(j) > 0) {
        json_t *last = json_array_get(j, json_array_size(j) - 1);
        CHECK(strcmp(json_string_value(json_object_get(last, "source")), dir) == 0);
        CHECK(get_int(last, "params", "total") == in.n_params);
    }
    json_decref(j);
    /* named releases select columns */
    j = owl_json("compare --json qwen3-8b DeepSeek-V3");
    CHECK(j && json_array_size(j) == 2);
    json_decref(j);

    /* a config.json alone: counts from the config */
    snprintf(args, sizeof args, "inspect --json '%s/config.json'", dir);
    j = owl_json(args);
    CHECK(j && strcmp(json_string_value(json_object_get(json_object_get(j, "params"), "counted_from")), "config") == 0);
    CHECK(j && get_int(j, "params", "total") == in.n_params);
    json_decref(j);

    /* a path that is neither: status 1 and a message */
    CHECK(owl_json("inspect /nonexistent/model 2>/dev/null") == NULL);
    CHECK(owl_inspect("/nonexistent/model", &in, &err) == OWL_ERR_INVALID_ARG || err.status == OWL_ERR_IO);
}

int main(void)
{
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++)
        check_fixture(fixtures[i]);
    check_cli();
    return test_done("test_inspect");
}
