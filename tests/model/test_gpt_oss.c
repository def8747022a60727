/* test_gpt_oss.c — GPT-OSS against transformers: tiny random checkpoints made by tools/gen_moe_fixtures.py,
 * reference logits in float64 with eager attention and eager experts.
 *
 * Cases: MXFP4 experts as released (released config: rope_scaling YaRN factor 32 / original 4096 /
 * truncate false, quantization_config mxfp4, alternating layer_types), and the bf16 expert layout (v5
 * config: rope_parameters, layer_types full-then-sliding). Both have sliding windows shorter than the
 * prompt (the generator observed transformers' window in its attention probabilities), random nonzero
 * sinks and biases, and expert pre-activations beyond swiglu_limit. Each runs the shared checks of
 * tests/model_check.c; here also: decode_bytes counts MXFP4 at 4.25 bits and only the k routed experts.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "model_check.h"
#include "test_util.h"

static const char *const cases[] = {"mxfp4-released", "bf16-v5"};

/* Active bytes per token from config.json alone. */
static size_t expected_decode_bytes(const char *dir, bool mxfp4)
{
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *c = json_load_file(fixture_path(path), 0, NULL);
    if (!c)
        return 0;
#define I(key) ((size_t)json_integer_value(json_object_get(c, key)))
    const size_t H = I("hidden_size"), V = I("vocab_size"), L = I("num_hidden_layers"), d = I("head_dim");
    const size_t dq = I("num_attention_heads") * d, dkv = I("num_key_value_heads") * d;
    const size_t E = I("num_local_experts"), k = I("num_experts_per_tok"), f = I("intermediate_size");
#undef I
    json_decref(c);
    /* MXFP4: 16 bytes + 1 scale byte per 32 values; bf16: 2 bytes per value */
    const size_t expert = mxfp4 ? 3 * f * H / 32 * 17 : 3 * f * H * 2;
    return V * H * 2 + L * ((2 * dq * H + 2 * dkv * H) * 2 + E * H * 2 + k * expert);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[128];
        snprintf(dir, sizeof dir, "gpt_oss/%s", cases[i]);
        model_check_rope(dir);
        model_check_case(dir);

        const bool mxfp4 = strstr(cases[i], "mxfp4") != NULL;
        model_check_meta(dir, "gpt_oss", expected_decode_bytes(dir, mxfp4), mxfp4 ? "experts MXFP4" : "experts BF16");
    }
    return test_done("test_gpt_oss");
}
