/* test_deepseek_v3.c — DeepSeek-V3 (MLA, latent KV cache, FP8 blocks, grouped sigmoid routing, MTP) and
 * DeepSeek-V2 against transformers: tiny random checkpoints in the released layouts
 * (tests/fixtures/deepseek_v3/, made by tools/gen_deepseek_fixtures.py) with float64 eager references.
 *
 * Per case: logits of every position of prompt+greedy within 1e-3 x max|ref| in the absorbed form (batched
 * prefill, token-by-token decode, chunks of 3) and in the expanded (transformers-order) form; the two forms
 * agree within 1e-4 x max|ref|; greedy argmax equals the reference's (but at near-ties); the KV cache is
 * kv_lora_rank + qk_rope_head_dim floats per token and layer; every tensor of the checkpoint is taken (the
 * MTP layer included); RoPE tables and the softmax scale equal transformers'.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "model/model.h"
#include "model/rope.h"
#include "test_util.h"

static const char *const cases[] = {"qlora-mtp", "noqlora-v5-sharded", "fp8-sharded", "v2-lite"};

/* Logits of every position of prompt+greedy, evaluated n_batch tokens per forward (1: token-by-token
 * decode). NULL on failure (counted). */
static float *all_logits(const char *dir, json_t *ref, int n_batch, int *n_rows, int *n_vocab)
{
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(fixture_path(dir), NULL, &m, &err), &err);
    if (!m)
        return NULL;
    json_t *p = json_object_get(ref, "prompt"), *g = json_object_get(ref, "greedy");
    const int n = (int)(json_array_size(p) + json_array_size(g)), V = owl_model_n_vocab(m);
    int32_t *ids = calloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) {
        json_t *a = i < (int)json_array_size(p) ? json_array_get(p, (size_t)i)
                                               : json_array_get(g, (size_t)i - json_array_size(p));
        ids[i] = (int32_t)json_integer_value(a);
    }
    struct owl_session_params sp = owl_session_default_params();
    sp.n_ctx = 64;
    sp.n_batch = n_batch;
    struct owl_session *s = NULL;
    float *out = calloc((size_t)n * V, sizeof(float));
    CHECK_OK(owl_session_init(m, &sp, &s, &err), &err);
    if (s)
        CHECK_OK(owl_session_eval(s, ids, n, OWL_LOGITS_ALL, out, &err), &err);
    owl_session_free(s);
    owl_model_close(m);
    free(ids);
    *n_rows = n;
    *n_vocab = V;
    return out;
}

static void test_case(const char *name)
{
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "deepseek_v3/%s", name);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_t *ref = json_load_file(fixture_path(path), 0, NULL);
    CHECK_MSG(ref != NULL, "%s: reference.json", name);
    if (!ref)
        return;

    snprintf(path, sizeof path, "%s/logits.f32", dir);
    size_t size = 0;
    float *want = read_file(fixture_path(path), &size);
    int n = 0, V = 0, n1 = 0, V1 = 0, n3 = 0, V3 = 0, n2 = 0, V2 = 0;
    float *absorbed = all_logits(dir, ref, 64, &n, &V);
    float *decode = all_logits(dir, ref, 1, &n1, &V1);
    float *chunked = all_logits(dir, ref, 3, &n3, &V3);
    setenv("OWL_MLA", "expanded", 1);
    float *expanded = all_logits(dir, ref, 64, &n2, &V2);
    unsetenv("OWL_MLA");
    if (want && absorbed && decode && chunked && expanded && size == (size_t)n * V * sizeof(float) &&
        n == n1 && n == n2 && n == n3 && V == V1 && V == V2 && V == V3) {
        double max_abs = 0, d_abs = 0, d_exp = 0, d_forms = 0, d_dec = 0, d_chunk = 0;
        for (size_t i = 0; i < (size_t)n * V; i++) {
            max_abs = fmax(max_abs, fabs(want[i]));
            d_abs = fmax(d_abs, fabs((double)absorbed[i] - want[i]));
            d_exp = fmax(d_exp, fabs((double)expanded[i] - want[i]));
            d_forms = fmax(d_forms, fabs((double)expanded[i] - absorbed[i]));
            d_dec = fmax(d_dec, fabs((double)decode[i] - absorbed[i]));
            d_chunk = fmax(d_chunk, fabs((double)chunked[i] - absorbed[i]));
        }
        const double tol = 1e-3 * max_abs;
        printf("%-20s max|ref| %.3f  max|owl - ref|: absorbed %.3g, expanded %.3g; |absorbed - expanded| %.3g; "
               "decode vs prefill %.3g, chunks of 3 %.3g (tolerance %.3g)\n",
               name, max_abs, d_abs, d_exp, d_forms, d_dec, d_chunk, tol);
        CHECK_MSG(d_abs <= tol, "%s: absorbed form differs from the reference by %g", name, d_abs);
        CHECK_MSG(d_exp <= tol, "%s: expanded form differs from the reference by %g", name, d_exp);
        CHECK_MSG(d_forms <= 1e-4 * max_abs, "%s: absorbed and expanded forms differ by %g", name, d_forms);
        CHECK_MSG(d_dec <= 1e-5 * max_abs, "%s: token-by-token decode differs from prefill by %g", name, d_dec);
        CHECK_MSG(d_chunk <= 1e-5 * max_abs, "%s: chunked prefill differs by %g", name, d_chunk);
        /* greedy: the row after prompt token P-1+i picks greedy[i] unless the reference's top-2 gap is within
         * the tolerance */
        json_t *greedy = json_object_get(ref, "greedy"), *margins = json_object_get(ref, "margins");
        const int P = n - (int)json_array_size(greedy);
        for (int i = 0; i < (int)json_array_size(greedy); i++) {
            const float *row = decode + (size_t)(P - 1 + i) * V;
            int best = 0;
            for (int v = 1; v < V; v++)
                if (row[v] > row[best])
                    best = v;
            const int wanted = (int)json_integer_value(json_array_get(greedy, (size_t)i));
            CHECK_MSG(best == wanted || json_real_value(json_array_get(margins, (size_t)i)) < tol,
                      "%s: greedy step %d: owl %d, reference %d", name, i, best, wanted);
        }
    } else {
        CHECK_MSG(0, "%s: could not evaluate every form", name);
    }
    free(want);
    free(absorbed);
    free(decode);
    free(chunked);
    free(expanded);

    /* loader: every tensor taken (the MTP layer's too), the latent cache layout, RoPE and softmax scale */
    struct model m = {0};
    struct owl_error err = {0};
    CHECK_OK(model_file_open(&m.file, fixture_path(dir), &err), &err);
    m.vt = model_lookup(&m.file.config, &err);
    CHECK(m.vt != NULL);
    if (m.vt) {
        ops_set_threads(1);
        CHECK_OK(m.vt->load(&m, &err), &err);
        CHECK_MSG(model_file_warn_unused(&m.file) == 0, "%s: tensors left untaken", name);
        json_t *dims = json_object_get(ref, "dims");
        const int kv_rank = (int)json_integer_value(json_object_get(dims, "kv_lora")),
                  d_rope = (int)json_integer_value(json_object_get(dims, "rope")),
                  n_layer = (int)json_integer_value(json_object_get(dims, "layers"));
        CHECK(m.kv.n_layer == n_layer && m.kv.d_k == kv_rank + d_rope && m.kv.d_v == 0);
        char desc[1024];
        m.vt->describe(&m, desc, sizeof desc);
        const char *sc = strstr(desc, "softmax scale ");
        const double scale = sc ? atof(sc + 14) : 0;
        const double want_scale = json_real_value(json_object_get(ref, "softmax_scale"));
        CHECK_MSG(fabs(scale - want_scale) <= 1e-5 * want_scale, "%s: softmax scale %.9g, transformers %.9g", name,
                  scale, want_scale);
        const bool mtp = json_is_true(json_object_get(ref, "mtp"));
        CHECK_MSG(strstr(desc, mtp ? "MTP layers 1" : "MTP layers 0") != NULL, "%s: %s", name, desc);
        struct rope rope;
        CHECK_OK(rope_init(&rope, &m.file.config, d_rope, m.n_ctx_train, &err), &err);
        json_t *jr = json_object_get(ref, "rope"), *inv = json_object_get(jr, "inv_freq");
        double worst = 0;
        CHECK((size_t)d_rope / 2 == json_array_size(inv));
        for (size_t i = 0; i < json_array_size(inv) && rope.inv_freq; i++) {
            const double v = json_real_value(json_array_get(inv, i));
            worst = fmax(worst, fabs(rope.inv_freq[i] - v) / v);
        }
        CHECK_MSG(worst <= 1e-6, "%s: inv_freq relative error %g", name, worst);
        CHECK(fabs(rope.attention_factor - json_real_value(json_object_get(jr, "attention_scaling"))) <= 1e-12);
        rope_free(&rope);
        m.vt->free_priv(&m);
    }
    model_file_close(&m.file);
    json_decref(ref);
}

/* The V3 release's latent cache: 61 layers x (512 + 64) floats per token (the MTP layer has none). */
static void test_v3_kv_bytes(void)
{
    const char *cfg = "{\"model_type\": \"deepseek_v3\", \"num_hidden_layers\": 61, \"kv_lora_rank\": 512, "
                      "\"qk_rope_head_dim\": 64}";
    struct kv_table kv = {0};
    struct owl_error err = {0};
    CHECK_OK(kv_from_json(&kv, cfg, strlen(cfg), "v3", &err), &err);
    CHECK(model_lookup(&kv, &err) == &deepseek_v3_vtable);
    kv_table_free(&kv);
    struct owl_model *m = NULL;
    CHECK_OK(owl_model_open(fixture_path("deepseek_v3/fp8-sharded"), NULL, &m, &err), &err);
    if (m) {
        CHECK(owl_model_kv_bytes_per_token(m) == 2 * (64 + 16) * sizeof(float));
        printf("fp8-sharded: KV bytes per token %zu (V3: 61 x 576 x 4 = %d), decode bytes %zu\n",
               owl_model_kv_bytes_per_token(m), 61 * 576 * 4, owl_model_decode_bytes(m));
    }
    owl_model_close(m);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        test_case(cases[i]);
    test_v3_kv_bytes();
    return test_done("test_deepseek_v3");
}
