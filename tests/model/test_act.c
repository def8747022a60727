/* test_act.c — the opt-in reduced-precision activations (owl_model_params.act):
 * - "bf16": on fixtures of every family with BF16 matrices (and on Q8_0 ones, whose prefill GEMM takes the
 *   mode), the logits move (the mode is on) but stay close to the exact path's (which matches transformers'
 *   float64 reference to ~1e-6): mean KL per position under a stated bound.
 * - "q8": the gpt-oss fixtures with MXFP4 experts in both layouts (safetensors as released, and the GGUF
 *   llama.cpp's converter wrote), int8 activations against the MXFP4 experts: the same KL check; Q8_0 and
 *   Q4_0 weights (quantized at load), and llama.cpp's Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K files, decoding a token at a time, int8
 *   activations against them: the same check against the exact path over the same weights; Q8_0 prefill (the
 *   int8 GEMM; Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K too) on Qwen3 and on DeepSeek's MLA;
 *   and a batched decode step (owl_session_eval_batch) stays bitwise what each session computes alone.
 * Prints the KL measured for docs/BENCHMARKS.md. An unknown act is refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model_check.h"
#include "owl.h"
#include "test_util.h"

/* nats per position: dense fixtures measure ~5e-5 in bf16; the gpt-oss fixture ~3e-3 in bf16 and ~8e-3 in
 * q8 (int8 activations carry about twice bf16's rounding error), its random router being near ties that
 * reduced-precision activations flip (routers use the mode too). A misplaced activation or a wrong scale
 * gives KL of order 1. */
#define KL_BOUND(act) (strcmp(act, "q8") ? 5e-3 : 2e-2)

/* gemm_only: the mode reaches these weights only through its prefill GEMM (bf16: over Q8_0 and K-quant weights;
 * q8: the int8 one over Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K), which CPUs without AVX512-BF16 / VNNI (or OWL_KERNELS=avx2) do not have: there the
 * logits stay exact. */
static void check_mode(const char *path, const char *quant, const char *act, bool gemm_only)
{
    int32_t tokens[24];
    for (int i = 0; i < 24; i++)
        tokens[i] = (i * 37 + 5) % 250 % 192; /* every fixture has >= 192 tokens (DeepSeek's FP8 one 192) */
    struct owl_model_params base = owl_model_default_params(), fast = base;
    base.quant = fast.quant = quant;
    fast.act = act;
    int V = 0, V2 = 0;
    float *exact = model_logits(path, &base, tokens, 24, &V);
    float *approx = model_logits(path, &fast, tokens, 24, &V2);
    CHECK(exact && approx && V == V2);
    if (exact && approx && V == V2) {
        double d = 0, kl = mean_kl(exact, approx, 24, V);
        for (size_t i = 0; i < (size_t)24 * V; i++)
            d = fmax(d, fabs(exact[i] - approx[i]));
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        printf("%-28s %s act %s: mean KL %.3g nats (bound %g), max|diff| %.3g\n", name, quant ? quant : "    ", act,
               kl, KL_BOUND(act), d);
        if (gemm_only && !(strcmp(act, "q8") ? kern.gemm_bf16_act != NULL : kern.gemm_blocks_q8 != NULL))
            CHECK_MSG(d == 0, "%s: act %s without its prefill GEMM changed the exact logits", path, act);
        else
            CHECK_MSG(d > 0, "%s: act %s changed nothing: is the mode on?", path, act);
        CHECK_MSG(kl <= KL_BOUND(act), "%s: act %s mean KL %g > %g", path, act, kl, KL_BOUND(act));
    }
    free(exact);
    free(approx);
}
static void check(const char *path, const char *quant, const char *act) { check_mode(path, quant, act, false); }

/* Decode: the prompt one token at a time (the decode rows of the act q8 mode; its prefill GEMMs are check's),
 * each step's logits against the exact path's prefill. */
static void check_decode(const char *path, const char *quant, const char *act)
{
    enum { N = 12 };
    int32_t tokens[N];
    for (int i = 0; i < N; i++)
        tokens[i] = (i * 37 + 5) % 250;
    struct owl_model_params base = owl_model_default_params(), fast = base;
    base.quant = fast.quant = quant;
    fast.act = act;
    int V = 0;
    float *exact = model_logits(path, &base, tokens, N, &V);
    struct owl_model *m = NULL;
    struct owl_session *s = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(path, &fast, &m, &err), &err);
    if (m)
        CHECK_OK(owl_session_init(m, NULL, &s, &err), &err);
    float *approx = exact && s ? malloc(sizeof(float) * N * V) : NULL;
    for (int i = 0; approx && i < N; i++)
        CHECK_OK(owl_session_eval(s, &tokens[i], 1, OWL_LOGITS_LAST, approx + (size_t)i * V, &err), &err);
    if (approx) {
        double d = 0, kl = mean_kl(exact, approx, N, V);
        for (size_t i = 0; i < (size_t)N * V; i++)
            d = fmax(d, fabs(exact[i] - approx[i]));
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        printf("%-28s %s act %s decode: mean KL %.3g nats (bound %g), max|diff| %.3g\n", name, quant ? quant : "    ",
               act, kl, KL_BOUND(act), d);
        CHECK_MSG(d > 0, "%s: act %s decode changed nothing: is the mode on?", path, act);
        CHECK_MSG(kl <= KL_BOUND(act), "%s: act %s decode mean KL %g > %g", path, act, kl, KL_BOUND(act));
    }
    owl_session_free(s);
    owl_model_close(m);
    free(exact);
    free(approx);
}

/* Sixteen sessions (experts see 8 tokens and more: past the GEMM threshold) with different prompts decode one step together; each one's logits must equal, bit for
 * bit, the same step taken alone (after the same prompt) in a fresh session. */
static void check_batched(const char *path, const char *quant, const char *act)
{
    struct owl_model_params mp = owl_model_default_params();
    mp.act = act;
    mp.quant = quant;
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK(owl_model_open(path, &mp, &m, &err) == OWL_OK);
    if (!m)
        return;
    const int V = owl_model_n_vocab(m), n = 16;
    struct owl_session_params sp = owl_session_default_params();
    sp.n_ctx = 64;
    struct owl_session *s[16] = {0}, *alone = NULL;
    float *batched = malloc(sizeof(float) * n * V), *single = malloc(sizeof(float) * V);
    int32_t next[16];
    int ok = owl_session_init(m, &sp, &alone, &err) == OWL_OK;
    for (int i = 0; i < n; i++) {
        int32_t prompt[24];
        for (int k = 0; k < 5 + i; k++)
            prompt[k] = (k * 31 + 7 * i + 3) % 250;
        ok &= owl_session_init(m, &sp, &s[i], &err) == OWL_OK;
        ok &= ok && owl_session_eval(s[i], prompt, 5 + i, OWL_LOGITS_NONE, NULL, &err) == OWL_OK;
        next[i] = (11 * i + 1) % 250;
    }
    ok &= ok && owl_session_eval_batch(s, next, n, batched, &err) == OWL_OK;
    CHECK_MSG(ok, "%s", err.message);
    for (int i = 0; ok && i < n; i++) {
        int32_t prompt[24];
        for (int k = 0; k < 5 + i; k++)
            prompt[k] = (k * 31 + 7 * i + 3) % 250;
        owl_session_truncate(alone, 0);
        CHECK(owl_session_eval(alone, prompt, 5 + i, OWL_LOGITS_NONE, NULL, &err) == OWL_OK);
        CHECK(owl_session_eval(alone, &next[i], 1, OWL_LOGITS_LAST, single, &err) == OWL_OK);
        CHECK_MSG(memcmp(single, batched + (size_t)i * V, sizeof(float) * V) == 0,
                  "%s act %s: session %d batched differs from alone", path, act, i);
    }
    for (int i = 0; i < n; i++)
        owl_session_free(s[i]);
    owl_session_free(alone);
    owl_model_close(m);
    free(batched);
    free(single);
}

/* Which loads regroup MXFP4 experts in slabs (owl_model_mxfp4_slabs): act q8 with the files read into memory where
 * the kernel table has the slab kernel (AVX512-VBMI), GGUF blocks and the released layout alike; never a mapped
 * file or another act mode. */
static void check_slabs(void)
{
    static const struct {
        const char *path, *act, *load;
        bool slabs;
    } cases[] = {{"gguf/converter/gpt-oss-mxfp4-bf16.gguf", "q8", "copy", true},
                 {"gguf/converter/gpt-oss-mxfp4-bf16.gguf", "q8", NULL, true}, /* auto: a small file is copied */
                 {"gguf/converter/gpt-oss-mxfp4-bf16.gguf", "q8", "mmap", false},
                 {"gguf/converter/gpt-oss-mxfp4-bf16.gguf", "bf16", "copy", false},
                 {"gpt_oss/mxfp4-released", "q8", "copy", true},
                 {"gpt_oss/mxfp4-released", "q8", "mmap", false}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct owl_model_params mp = owl_model_default_params();
        mp.act = cases[i].act;
        mp.load = cases[i].load;
        struct owl_model *m = NULL;
        struct owl_error err = {0};
        CHECK_MSG(owl_model_open(fixture_path(cases[i].path), &mp, &m, &err) == OWL_OK, "%s", err.message);
        if (!m)
            continue;
        const bool expect = cases[i].slabs && kern.matmul_mxfp4s_q8 != NULL;
        CHECK_MSG((owl_model_mxfp4_slabs(m) > 0) == expect, "%s act %s load %s: %d matrices in slabs, expected %s",
                  cases[i].path, cases[i].act, cases[i].load ? cases[i].load : "auto", owl_model_mxfp4_slabs(m),
                  expect ? "some" : "none");
        owl_model_close(m);
    }
}

int main(void)
{
    check_slabs();
    check(fixture_path("qwen3/gqa-tied"), NULL, "bf16");
    check(fixture_path("qwen3/yarn-v5"), NULL, "bf16");
    check(fixture_path("qwen3_moe/norm-mlp-only"), NULL, "bf16");
    check(fixture_path("gpt_oss/mxfp4-released"), NULL, "bf16");
    check(fixture_path("deepseek_v3/v2-lite"), NULL, "bf16");
    check(fixture_path("deepseek_v3/fp8-sharded"), NULL, "bf16"); /* FP8 blocks in the prefill GEMM, a BF16 head */
    check_mode(fixture_path("qwen3/gqa-tied"), "q8_0", "bf16", true); /* Q8_0 weights: the prefill GEMM rounds d*q too */
    check_mode(fixture_path("qwen3/yarn-v5"), "q8_0", "bf16", true);
    check_mode(fixture_path("gguf/synth-qwen3-q4_k.gguf"), NULL, "bf16", true); /* K-quants: the prefill GEMM rounds them too */
    check_mode(fixture_path("gguf/synth-qwen3-q6_k.gguf"), NULL, "bf16", true);
    check_mode(fixture_path("qwen3/gqa-tied"), "q4_0", "bf16", true); /* the 32-weight blocks too */
    check_mode(fixture_path("gguf/synth-qwen3-q5_0.gguf"), NULL, "bf16", true);
    check_mode(fixture_path("gguf/synth-qwen3-q4_1.gguf"), NULL, "bf16", true);
    check(fixture_path("gpt_oss/mxfp4-released"), NULL, "q8");              /* HF MXFP4 blocks */
    check(fixture_path("gguf/converter/gpt-oss-mxfp4-bf16.gguf"), NULL, "q8"); /* GGML MXFP4 blocks */
    check_batched(fixture_path("gpt_oss/mxfp4-released"), NULL, "q8");
    check_batched(fixture_path("gguf/converter/gpt-oss-mxfp4-bf16.gguf"), NULL, "q8");
    check_mode(fixture_path("qwen3/gqa-tied"), "q8_0", "q8", true); /* Q8_0 prefill: the int8 GEMM (VNNI; AVX2: exact) */
    check(fixture_path("deepseek_v3/v2-lite"), "q8_0", "q8"); /* with MLA's per-head products (and its experts: few
                                                                  tokens each, the int8 rows everywhere) */
    check_mode(fixture_path("qwen3/gqa-tied"), "q4_0", "q8", true);      /* Q4_0 and Q4_1 prefill: the same GEMM */
    check_mode(fixture_path("gguf/synth-qwen3-q4_1.gguf"), NULL, "q8", true);
    check_mode(fixture_path("gguf/synth-qwen3-q4_k.gguf"), NULL, "q8", true); /* and Q4_K, Q5_0, Q5_1 */
    check_mode(fixture_path("gguf/synth-qwen3-q5_0.gguf"), NULL, "q8", true);
    check_mode(fixture_path("gguf/synth-qwen3-q5_1.gguf"), NULL, "q8", true);
    check_mode(fixture_path("gguf/synth-qwen3-q5_k.gguf"), NULL, "q8", true); /* and Q5_K, Q6_K */
    check_mode(fixture_path("gguf/synth-qwen3-q6_k.gguf"), NULL, "q8", true);
    check_decode(fixture_path("qwen3/gqa-tied"), "q8_0", "q8"); /* Q8_0 weights, int8 activations */
    check_decode(fixture_path("qwen3/yarn-v5"), "q8_0", "q8");
    check_batched(fixture_path("qwen3/gqa-tied"), "q8_0", "q8");
    check_decode(fixture_path("qwen3/gqa-tied"), "q4_0", "q8"); /* Q4_0 weights, int8 activations */
    check_batched(fixture_path("qwen3/gqa-tied"), "q4_0", "q8");
    check_decode(fixture_path("gguf/synth-qwen3-q4_k.gguf"), NULL, "q8"); /* llama.cpp's Q4_K and Q6_K files */
    check_decode(fixture_path("gguf/synth-qwen3-q5_k.gguf"), NULL, "q8");
    check_decode(fixture_path("gguf/synth-qwen3-q6_k.gguf"), NULL, "q8");
    check_decode(fixture_path("gguf/synth-qwen3-q4_1.gguf"), NULL, "q8"); /* llama.cpp's Q4_1, Q5_0, Q5_1 files */
    check_decode(fixture_path("gguf/synth-qwen3-q5_0.gguf"), NULL, "q8");
    check_decode(fixture_path("gguf/synth-qwen3-q5_1.gguf"), NULL, "q8");
    check_batched(fixture_path("gguf/synth-qwen3-q5_1.gguf"), NULL, "q8");
    check_batched(fixture_path("gguf/synth-qwen3-q4_k.gguf"), NULL, "q8");
    check_batched(fixture_path("gguf/synth-qwen3-q6_k.gguf"), NULL, "q8");
    struct owl_model_params bad = owl_model_default_params();
    bad.act = "int4";
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK(owl_model_open(fixture_path("qwen3/gqa-tied"), &bad, &m, &err) == OWL_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "int4") != NULL);
    return test_done("test_act");
}
