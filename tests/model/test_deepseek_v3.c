/* test_deepseek_v3.c — DeepSeek-V3 (MLA, latent KV cache, FP8 blocks, grouped sigmoid routing, MTP) and
 * DeepSeek-V2 against transformers: tiny random checkpoints in the released layouts
 * (tests/fixtures/deepseek_v3/, made by tools/gen_deepseek_fixtures.py) with float64 eager references.
 *
 * Per case, the shared checks of tests/model_check.c (logits within 1e-3 x max|ref|, greedy, token-by-token
 * decode and chunked prefill equal to the batched prefill, cache reuse, bad input, RoPE tables) in the
 * absorbed form and again in the expanded (transformers-order, OWL_MLA=expanded) form; here also: the two
 * forms agree within 1e-4 x max|ref|; the KV cache is kv_lora_rank + qk_rope_head_dim floats per token and
 * layer; every tensor of the checkpoint is taken (the MTP layer included); the softmax scale equals
 * transformers'. And the DeepSeek router kinds of op_moe_route on worked examples.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "model/model.h"
#include "model_check.h"
#include "test_util.h"

static const char *const cases[] = {"qlora-mtp", "noqlora-v5-sharded", "fp8-sharded", "v2-lite"};

/* Both attention forms through the shared checks, then against each other. */
static void test_forms(const char *dir)
{
    model_check_case(dir);
    size_t n = 0, n2 = 0;
    float *absorbed = model_check_logits(dir, &n);
    setenv("OWL_MLA", "expanded", 1); /* read at load */
    printf("%s, expanded form (OWL_MLA=expanded):\n", dir);
    model_check_case(dir);
    float *expanded = model_check_logits(dir, &n2);
    unsetenv("OWL_MLA");
    CHECK_MSG(absorbed && expanded && n == n2, "%s: could not evaluate both forms", dir);
    if (absorbed && expanded && n == n2) {
        double max_abs = 0, d_forms = 0;
        for (size_t i = 0; i < n; i++) {
            max_abs = fmax(max_abs, fabs(absorbed[i]));
            d_forms = fmax(d_forms, fabs((double)expanded[i] - absorbed[i]));
        }
        printf("%-34s |absorbed - expanded| %.3g (tolerance %.3g)\n", dir, d_forms, 1e-4 * max_abs);
        CHECK_MSG(d_forms <= 1e-4 * max_abs, "%s: absorbed and expanded forms differ by %g", dir, d_forms);
    }
    free(absorbed);
    free(expanded);
}

/* Loader: every tensor taken (the MTP layer's too), the latent cache layout, the softmax scale. */
static void test_loader(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_t *ref = json_load_file(fixture_path(path), 0, NULL);
    CHECK_MSG(ref != NULL, "%s: reference.json", dir);
    struct model m = {0};
    struct owl_error err = {0};
    CHECK_OK(model_file_open(&m.file, fixture_path(dir), &err), &err);
    m.vt = model_lookup(&m.file.config, &err);
    CHECK(m.vt != NULL);
    if (ref && m.vt) {
        ops_set_threads(1);
        CHECK_OK(m.vt->load(&m, &err), &err);
        CHECK_MSG(model_file_warn_unused(&m.file) == 0, "%s: tensors left untaken", dir);
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
        CHECK_MSG(fabs(scale - want_scale) <= 1e-5 * want_scale, "%s: softmax scale %.9g, transformers %.9g", dir,
                  scale, want_scale);
        const bool mtp = json_is_true(json_object_get(ref, "mtp"));
        CHECK_MSG(strstr(desc, mtp ? "MTP layers 1" : "MTP layers 0") != NULL, "%s: %s", dir, desc);
        m.vt->free_priv(&m);
    }
    model_file_close(&m.file);
    json_decref(ref);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* One token routed with p; ids and weights against the expected ones (weights within 1e-6 relative). */
static void check_route(const char *what, const float *logits, const struct router_params *p, const int32_t *want_ids,
                        const double *want_w)
{
    int32_t ids[8];
    float w[8];
    op_moe_route(ids, w, logits, 1, p);
    for (int j = 0; j < p->k; j++)
        CHECK_MSG(ids[j] == want_ids[j] && fabs(w[j] - want_w[j]) <= 1e-6 * want_w[j],
                  "%s: choice %d: expert %d weight %.9g, expected %d, %.9g", what, j, ids[j], w[j], want_ids[j],
                  want_w[j]);
}

/* DeepSeek's router kinds on worked examples, experts by hand (ARCHITECTURES.md 4.5). */
static void test_routing(void)
{
    /* V3 noaux_tc, 8 experts in 4 groups of 2, top-2 groups, top-2 experts, renormalized, x 2.5.
     * s = sigmoid(l) = .881 .269 .622 .599 .818 .802 .119 .953; c = s + bias = .881 .269 .622 .799 .718 .802
     * .619 .453; group sums of the two best c: 1.150 1.421 1.520 1.072, so groups 2 and 1 (experts 2..5):
     * the best c there, 5 and 3. Expert 0 (the best single c) and 7 (the best s) are in dropped groups; the
     * bias moved 3 ahead of 4; the weights are the unbiased s. */
    const float l3[8] = {2.0f, -1.0f, 0.5f, 0.4f, 1.5f, 1.4f, -2.0f, 3.0f};
    float bias[8] = {0, 0, 0, 0.2f, -0.1f, 0, 0.5f, -0.5f};
    struct router_params p = {.kind = ROUTER_SIGMOID_NOAUX, .n_expert = 8, .k = 2, .norm_topk = true, .scale = 2.5f,
                              .n_group = 4, .topk_group = 2, .bias = bias};
    const double s5 = sigmoid(1.4), s3 = sigmoid(0.4);
    check_route("noaux_tc", l3, &p, (const int32_t[]){5, 3},
                (const double[]){s5 / (s5 + s3) * 2.5, s3 / (s5 + s3) * 2.5});
    /* the dropped groups are -inf, not 0: with every biased score negative the kept groups still win */
    for (int e = 0; e < 8; e++)
        bias[e] -= 2.0f;
    check_route("noaux_tc, negative scores", l3, &p, (const int32_t[]){5, 3},
                (const double[]){s5 / (s5 + s3) * 2.5, s3 / (s5 + s3) * 2.5});
    p.norm_topk = false;
    check_route("noaux_tc, no renormalization", l3, &p, (const int32_t[]){5, 3},
                (const double[]){s5 * 2.5, s3 * 2.5});

    /* V2: softmax over all 8, no renormalization, x 1.5. Greedy takes the 3 best anywhere (0, 1, 4);
     * group_limited_greedy with 2 groups of 4 keeps the group with the best single probability (0..3): 0, 1,
     * then 2 and 3 tie and the lower id goes first. */
    const float l2[8] = {3.0f, 2.9f, -3.0f, -3.0f, 2.5f, -3.0f, -3.0f, -3.0f};
    double z = 0, pr[8];
    for (int e = 0; e < 8; e++)
        z += exp(l2[e]);
    for (int e = 0; e < 8; e++)
        pr[e] = exp(l2[e]) / z * 1.5;
    p = (struct router_params){.kind = ROUTER_SOFTMAX_TOPK, .n_expert = 8, .k = 3, .scale = 1.5f};
    check_route("greedy", l2, &p, (const int32_t[]){0, 1, 4}, (const double[]){pr[0], pr[1], pr[4]});
    p.n_group = 2;
    p.topk_group = 1;
    check_route("group_limited_greedy", l2, &p, (const int32_t[]){0, 1, 2}, (const double[]){pr[0], pr[1], pr[2]});
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
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[128];
        snprintf(dir, sizeof dir, "deepseek_v3/%s", cases[i]);
        model_check_rope(dir);
        test_forms(dir);
        test_loader(dir);
    }
    test_routing();
    test_v3_kv_bytes();
    return test_done("test_deepseek_v3");
}
