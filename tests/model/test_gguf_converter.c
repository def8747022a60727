/* test_gguf_converter.c — GGUF files written by llama.cpp's own converter (convert_hf_to_gguf.py, run by
 * tools/convert_fixtures_gguf.py on the fixtures; placeholder tokens, everything else the converter's) give the
 * safetensors path's numbers: Qwen3 in F32 and BF16, gpt-oss with its experts repacked into GGML MXFP4 and
 * gate/up split, DeepSeek-V3 with kv_b split into attn_k_b / attn_v_b and the MTP layer dropped; a Q8_0 file
 * quantized by the converter stays within a KL bound. (Qwen3-MoE is absent: llama.cpp's qwen3moe cannot
 * map the dense layers both MoE fixtures have.) */
#include <math.h>
#include <stdlib.h>

#include "model_check.h"
#include "owl.h"
#include "test_util.h"

#define KL_BOUND_Q8_0 2e-3

static void check(const char *gguf, const char *fixture, bool exact_expected, bool quantized)
{
    int32_t tokens[24];
    for (int i = 0; i < 24; i++)
        tokens[i] = (i * 37 + 5) % 250;
    char path[512];
    snprintf(path, sizeof path, "gguf/converter/%s", gguf);
    int V = 0, V2 = 0;
    float *ref = model_logits(fixture_path(fixture), NULL, tokens, 24, &V);
    float *got = model_logits(fixture_path(path), NULL, tokens, 24, &V2);
    CHECK(ref && got && V == V2);
    if (ref && got && V == V2) {
        double d = 0, mx = 0;
        for (size_t i = 0; i < (size_t)24 * V; i++)
            d = fmax(d, fabs(got[i] - ref[i])), mx = fmax(mx, fabs(ref[i]));
        if (quantized) {
            const double kl = mean_kl(ref, got, 24, V);
            printf("%-32s mean KL %.3g nats (bound %g) against %s\n", gguf, kl, KL_BOUND_Q8_0, fixture);
            CHECK_MSG(kl <= KL_BOUND_Q8_0, "%s: KL %g", gguf, kl);
        } else {
            printf("%-32s max|gguf - safetensors| = %g (max|logit| %g)\n", gguf, d, mx);
            CHECK_MSG(exact_expected ? d == 0 : d <= 1e-5 * mx, "%s: logits differ by %g", gguf, d);
        }
    }
    free(ref);
    free(got);
}

int main(void)
{
    check("qwen3-gqa-tied-f32.gguf", "qwen3/gqa-tied", true, false);
    check("qwen3-gqa-tied-bf16.gguf", "qwen3/gqa-tied", true, false);
    check("qwen3-gqa-tied-q8_0.gguf", "qwen3/gqa-tied", false, true);
    check("gpt-oss-mxfp4-bf16.gguf", "gpt_oss/mxfp4-released", true, false);
    /* attn_k_b / attn_v_b: W_uk·q as per-head dot products instead of a sum of rows */
    check("deepseek-v3-qlora-bf16.gguf", "deepseek_v3/qlora-mtp", false, false);
    return test_done("test_gguf_converter");
}
