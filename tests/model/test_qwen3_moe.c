/* test_qwen3_moe.c — Qwen3-MoE against transformers: tiny random checkpoints in the released layout
 * (per-expert tensors mlp.experts.E.{gate,up,down}_proj.weight, router mlp.gate.weight) made by
 * tools/gen_moe_fixtures.py, reference logits in float64 with eager attention and eager experts.
 *
 * Cases: norm_topk_prob true with a dense layer from mlp_only_layers (released config); norm_topk_prob
 * false with decoder_sparse_step 2 (v5 config: num_local_experts, rope_parameters). Each runs the shared
 * checks of tests/model_check.c; here also: the family, and decode_bytes counting only the k routed
 * experts of a sparse layer.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "model_check.h"
#include "test_util.h"

static const char *const cases[] = {"norm-mlp-only", "nonorm-sparse-step"};

/* Active bytes per token from config.json alone: bf16 attention, dense MLPs, routers, k experts, head. */
static size_t expected_decode_bytes(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *c = json_load_file(fixture_path(path), 0, NULL);
    if (!c)
        return 0;
#define I(key) ((size_t)json_integer_value(json_object_get(c, key)))
    const size_t H = I("hidden_size"), V = I("vocab_size"), L = I("num_hidden_layers"), d = I("head_dim");
    const size_t dq = I("num_attention_heads") * d, dkv = I("num_key_value_heads") * d;
    const size_t E = json_object_get(c, "num_experts") ? I("num_experts") : I("num_local_experts");
    const size_t k = I("num_experts_per_tok"), f = I("moe_intermediate_size"), ff = I("intermediate_size");
    const size_t step = I("decoder_sparse_step");
    json_t *only = json_object_get(c, "mlp_only_layers");
    size_t total = V * H * 2;
    for (size_t l = 0; l < L; l++) {
        bool dense = (l + 1) % step != 0;
        for (size_t i = 0; i < json_array_size(only); i++)
            dense |= (size_t)json_integer_value(json_array_get(only, i)) == l;
        total += (2 * dq * H + 2 * dkv * H) * 2;
        total += dense ? 3 * ff * H * 2 : E * H * 2 + k * 3 * f * H * 2;
    }
#undef I
    json_decref(c);
    return total;
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[128];
        snprintf(dir, sizeof dir, "qwen3_moe/%s", cases[i]);
        model_check_rope(dir);
        model_check_case(dir);

        model_check_meta(dir, "qwen3_moe", expected_decode_bytes(dir), "MoE: ");
    }
    return test_done("test_qwen3_moe");
}
