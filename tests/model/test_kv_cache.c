/* test_kv_cache.c — the f16 KV cache (owl_session_params.kv = "f16") on a fixture of every family and attention
 * form (GQA with QK-norm, MoE, GPT-OSS's sliding windows and sinks, DeepSeek's MLA latent cache, absorbed and
 * expanded):
 * - a prompt in one forward and the same prompt token by token, against the exact fp32 cache (which matches
 *   transformers' float64 reference to ~1e-6): the logits move (keys and values are rounded when stored, so
 *   the mode is on) but stay close, mean KL per position under a stated bound;
 * - a batched decode step (owl_session_eval_batch) stays bitwise what each session computes alone;
 * - the session holds half the bytes per token; an unknown type is refused naming it, and a batch that mixes
 *   cache types is refused;
 * - the bytes a decode step reads (owl_session_kv_read_bytes): every layer's visible keys, GPT-OSS's sliding
 *   layers at most their window, in both cache types.
 * Prints the KL measured for docs/BENCHMARKS.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_check.h"
#include "owl.h"
#include "test_util.h"

/* nats per position: the fixtures measure 1e-8..1e-6 (half keeps 11 significant bits); a misplaced or
 * misconverted value gives KL of order 1. */
#define KL_BOUND 1e-4

enum { N = 24 };

/* Logits of tokens[0..N) with the cache type kv: one forward (OWL_LOGITS_ALL) or token by token. NULL when it
 * could not run (counted). */
static float *run(const char *path, const char *kv, bool one_by_one, int *V)
{
    int32_t tokens[N];
    for (int i = 0; i < N; i++)
        tokens[i] = (i * 37 + 5) % 250; /* every fixture has >= 256 tokens */
    struct owl_model *m = NULL;
    struct owl_session *s = NULL;
    struct owl_error err = {0};
    struct owl_session_params sp = owl_session_default_params();
    sp.kv = kv;
    CHECK_OK(owl_model_open(path, NULL, &m, &err), &err);
    if (m)
        CHECK_OK(owl_session_init(m, &sp, &s, &err), &err);
    if (!s) {
        owl_model_close(m);
        return NULL;
    }
    *V = owl_model_n_vocab(m);
    float *out = malloc(sizeof(float) * N * *V);
    if (one_by_one)
        for (int i = 0; i < N; i++)
            CHECK_OK(owl_session_eval(s, &tokens[i], 1, OWL_LOGITS_LAST, out + (size_t)i * *V, &err), &err);
    else
        CHECK_OK(owl_session_eval(s, tokens, N, OWL_LOGITS_ALL, out, &err), &err);
    if (kv && !strcmp(kv, "f16"))
        CHECK(owl_session_kv_bytes_per_token(s) * 2 == owl_model_kv_bytes_per_token(m));
    owl_session_free(s);
    owl_model_close(m);
    return out;
}

static void check(const char *path, const char *note)
{
    int V = 0, V2 = 0, V3 = 0;
    float *exact = run(path, NULL, false, &V), *half = run(path, "f16", false, &V2);
    float *half_dec = run(path, "f16", true, &V3);
    CHECK(exact && half && half_dec && V == V2 && V == V3);
    if (exact && half && half_dec && V == V2 && V == V3) {
        const float *got[2] = {half, half_dec};
        for (int w = 0; w < 2; w++) {
            double d = 0, kl = mean_kl(exact, got[w], N, V);
            for (size_t i = 0; i < (size_t)N * V; i++)
                d = fmax(d, fabs(exact[i] - got[w][i]));
            const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
            printf("%-24s%s kv f16 %-7s: mean KL %.3g nats (bound %g), max|diff| %.3g\n", name, note,
                   w ? "decode" : "prefill", kl, KL_BOUND, d);
            CHECK_MSG(d > 0, "%s: kv f16 changed nothing: is the mode on?", path);
            CHECK_MSG(kl <= KL_BOUND, "%s%s: kv f16 %s mean KL %g > %g", path, note, w ? "decode" : "prefill", kl,
                      KL_BOUND);
        }
    }
    free(exact), free(half), free(half_dec);
}

/* Eight sessions with different prompts decode one step together; each one's logits equal, bit for bit, the
 * same step taken alone after the same prompt. */
static void check_batched(const char *path)
{
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(path, NULL, &m, &err), &err);
    if (!m)
        return;
    enum { NS = 8 };
    const int V = owl_model_n_vocab(m);
    struct owl_session_params sp = owl_session_default_params();
    sp.n_ctx = 64;
    sp.kv = "f16";
    struct owl_session *s[NS] = {0}, *alone = NULL;
    float *batched = malloc(sizeof(float) * NS * V), *single = malloc(sizeof(float) * V);
    int32_t next[NS], prompt[NS][16];
    int ok = owl_session_init(m, &sp, &alone, &err) == OWL_OK;
    for (int i = 0; i < NS; i++) {
        for (int k = 0; k < 5 + i; k++)
            prompt[i][k] = (k * 31 + 7 * i + 3) % 250;
        ok &= owl_session_init(m, &sp, &s[i], &err) == OWL_OK;
        ok &= ok && owl_session_eval(s[i], prompt[i], 5 + i, OWL_LOGITS_NONE, NULL, &err) == OWL_OK;
        next[i] = (11 * i + 1) % 250;
    }
    ok &= ok && owl_session_eval_batch(s, next, NS, batched, &err) == OWL_OK;
    CHECK_MSG(ok, "%s", err.message);
    for (int i = 0; ok && i < NS; i++) {
        owl_session_truncate(alone, 0);
        CHECK(owl_session_eval(alone, prompt[i], 5 + i, OWL_LOGITS_NONE, NULL, &err) == OWL_OK);
        CHECK(owl_session_eval(alone, &next[i], 1, OWL_LOGITS_LAST, single, &err) == OWL_OK);
        CHECK_MSG(memcmp(single, batched + (size_t)i * V, sizeof(float) * V) == 0,
                  "%s kv f16: session %d batched differs from alone", path, i);
    }
    /* a batch mixing cache types is refused and changes nothing */
    struct owl_session *mixed[2] = {s[0], NULL};
    struct owl_session_params sp32 = sp;
    sp32.kv = "f32";
    if (ok && owl_session_init(m, &sp32, &mixed[1], &err) == OWL_OK) {
        const int past = owl_session_n_past(s[0]);
        CHECK(owl_session_eval_batch(mixed, next, 2, batched, &err) == OWL_ERR_INVALID_ARG);
        CHECK_MSG(strstr(err.message, "kv") != NULL, "%s", err.message);
        CHECK(owl_session_n_past(s[0]) == past && owl_session_n_past(mixed[1]) == 0);
        owl_session_free(mixed[1]);
    }
    for (int i = 0; i < NS; i++)
        owl_session_free(s[i]);
    owl_session_free(alone);
    owl_model_close(m);
    free(batched), free(single);
}

/* owl_session_kv_read_bytes over both cache types: n keys in each of n_layer layers, n_sliding of them at most
 * window (the fixture's config: 0 and 0 without sliding layers). */
static void check_read_bytes(const char *path, int n_layer, int n_sliding, int window)
{
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(path, NULL, &m, &err), &err);
    for (int f16 = 0; m && f16 < 2; f16++) {
        struct owl_session_params sp = owl_session_default_params();
        sp.kv = f16 ? "f16" : NULL;
        struct owl_session *s = NULL;
        CHECK_OK(owl_session_init(m, &sp, &s, &err), &err);
        if (!s)
            continue;
        const size_t row = owl_session_kv_bytes_per_token(s) / (size_t)n_layer; /* one layer's key and value */
        const int keys[] = {1, 3, 4, 5, 100};
        for (int i = 0; i < 5; i++) {
            const int n = keys[i], w = n_sliding && n > window ? window : n;
            const size_t want = row * ((size_t)(n_layer - n_sliding) * n + (size_t)n_sliding * w);
            CHECK_MSG(owl_session_kv_read_bytes(s, n) == want, "%s kv %s, %d keys: %zu bytes read, want %zu", path,
                      f16 ? "f16" : "f32", n, owl_session_kv_read_bytes(s, n), want);
        }
        owl_session_free(s);
    }
    owl_model_close(m);
}

int main(void)
{
    check_read_bytes(fixture_path("qwen3/gqa-tied"), 2, 0, 0);
    check_read_bytes(fixture_path("gpt_oss/mxfp4-released"), 4, 2, 4); /* window 4 on layers 0 and 2 */
    check_read_bytes(fixture_path("deepseek_v3/v2-lite"), 2, 0, 0);
    check(fixture_path("qwen3/gqa-tied"), "");
    check(fixture_path("qwen3/yarn-v5"), "");
    check(fixture_path("qwen3_moe/norm-mlp-only"), "");
    check(fixture_path("gpt_oss/mxfp4-released"), "");
    check(fixture_path("gguf/converter/gpt-oss-mxfp4-bf16.gguf"), "");
    check(fixture_path("deepseek_v3/v2-lite"), "");
    setenv("OWL_MLA", "expanded", 1); /* read at load: the latent rows widened from the half cache */
    check(fixture_path("deepseek_v3/v2-lite"), " expanded");
    unsetenv("OWL_MLA");
    check_batched(fixture_path("qwen3/gqa-tied"));
    check_batched(fixture_path("gpt_oss/mxfp4-released"));
    check_batched(fixture_path("deepseek_v3/v2-lite"));

    struct owl_model *m = NULL;
    struct owl_session *s = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(fixture_path("qwen3/gqa-tied"), NULL, &m, &err), &err);
    struct owl_session_params bad = owl_session_default_params();
    bad.kv = "q8_0";
    CHECK(m && owl_session_init(m, &bad, &s, &err) == OWL_ERR_INVALID_ARG && !s);
    CHECK_MSG(strstr(err.message, "q8_0") != NULL, "%s", err.message);
    owl_model_close(m);
    return test_done("test_kv_cache");
}
