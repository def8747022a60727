/* test_gguf_deepseek.c — DeepSeek-V3 and V2 from GGUF (llama.cpp's "deepseek2") give the safetensors path's
 * numbers. Each bf16 fixture is rewritten here the way llama.cpp's converter writes it (conversion/deepseek.py):
 * MLA tensors attn_q_a / attn_q_a_norm / attn_q_b (or attn_q), attn_kv_a_mqa, attn_kv_a_norm, attn_output;
 * routed experts stacked into ffn_{gate,up,down}_exps, shared ones as ffn_*_shexp, the router ffn_gate_inp
 * and exp_probs_b; keys deepseek2.* with key_length_mla / value_length_mla, the expert gating function, groups,
 * yarn_log_multiplier = 0.1 * mscale_all_dim; MTP layers skipped. Two layouts of kv_b_proj: the older single
 * attn_kv_b (logits bit for bit equal for V3; V2-Lite's mscale 0.707 goes through an f32 key) and the newer split attn_k_b (heads, kv_lora_rank, qk_nope: W_uk
 * transposed) + attn_v_b (heads, v_head_dim, kv_lora_rank), which owl runs as they are (W_uk·q as dot
 * products instead of a sum of rows: equal within 1e-5 of max|logit|). */
#include <math.h>
#include <stdlib.h>

#include "format/model_file.h"
#include "gguf_writer.h"
#include "kernels/kernels.h"
#include "model_check.h"
#include "owl.h"
#include "test_util.h"

static double cfg(const struct kv_table *kv, const char *key, double dflt)
{
    double v = dflt;
    struct owl_error err;
    if (kv_has(kv, key))
        OWL_ASSERT(kv_get_float(kv, key, &v, &err) == OWL_OK);
    return v;
}

/* A bf16 tensor as F32 (vectors, as the converter writes them) or as stored. */
static void put(struct gw_file *w, const char *gname, const struct tensor_view *t, int n_dim, const uint64_t *ne)
{
    if (t->dtype == DTYPE_BF16 && n_dim >= 2) {
        gw_tensor(w, gname, 30, n_dim, ne, t->data, t->n_bytes);
        return;
    }
    const int64_t n = tensor_n_elements(t);
    float *f = malloc(sizeof(float) * n);
    if (t->dtype == DTYPE_BF16)
        dequantize_row_bf16(f, t->data, (int)n);
    else
        memcpy(f, t->data, sizeof(float) * n);
    gw_tensor(w, gname, 0, n_dim, ne, f, sizeof(float) * n);
    free(f);
}

static const char *write_gguf(const char *fixture, bool split)
{
    static char path[1200];
    struct model_file mf;
    struct owl_error err = {0};
    OWL_ASSERT(model_file_open(&mf, fixture_path(fixture), &err) == OWL_OK);
    const struct kv_table *c = &mf.config;
    const int L = (int)cfg(c, "num_hidden_layers", 0), nh = (int)cfg(c, "num_attention_heads", 0);
    const int kvr = (int)cfg(c, "kv_lora_rank", 0), nope = (int)cfg(c, "qk_nope_head_dim", 0);
    const int rope = (int)cfg(c, "qk_rope_head_dim", 0), dv = (int)cfg(c, "v_head_dim", 0);
    const int E = (int)cfg(c, "n_routed_experts", 0), k_dense = (int)cfg(c, "first_k_dense_replace", 0);
    const char *type = NULL;
    kv_get_str_opt(c, "model_type", &type, &err);
    const bool v3 = !strcmp(type, "deepseek_v3");
    struct gw_file w;
    gw_init(&w);
    gw_kv_str(&w, "general.architecture", "deepseek2");
    gw_kv_u32(&w, "deepseek2.block_count", (uint32_t)L);
    gw_kv_u32(&w, "deepseek2.context_length", (uint32_t)cfg(c, "max_position_embeddings", 0));
    gw_kv_u32(&w, "deepseek2.embedding_length", (uint32_t)cfg(c, "hidden_size", 0));
    gw_kv_u32(&w, "deepseek2.feed_forward_length", (uint32_t)cfg(c, "intermediate_size", 0));
    gw_kv_u32(&w, "deepseek2.attention.head_count", (uint32_t)nh);
    gw_kv_u32(&w, "deepseek2.attention.head_count_kv", 1);
    gw_kv_f32(&w, "deepseek2.attention.layer_norm_rms_epsilon", (float)cfg(c, "rms_norm_eps", 1e-6));
    gw_kv_f32(&w, "deepseek2.rope.freq_base", (float)cfg(c, "rope_theta", 1e4));
    gw_kv_u32(&w, "deepseek2.rope.dimension_count", (uint32_t)rope);
    if (kv_has(c, "q_lora_rank"))
        gw_kv_u32(&w, "deepseek2.attention.q_lora_rank", (uint32_t)cfg(c, "q_lora_rank", 0));
    gw_kv_u32(&w, "deepseek2.attention.kv_lora_rank", (uint32_t)kvr);
    gw_kv_u32(&w, "deepseek2.attention.key_length", (uint32_t)(kvr + rope));
    gw_kv_u32(&w, "deepseek2.attention.value_length", (uint32_t)kvr);
    gw_kv_u32(&w, "deepseek2.attention.key_length_mla", (uint32_t)(nope + rope));
    gw_kv_u32(&w, "deepseek2.attention.value_length_mla", (uint32_t)dv);
    gw_kv_u32(&w, "deepseek2.leading_dense_block_count", (uint32_t)k_dense);
    gw_kv_u32(&w, "deepseek2.expert_feed_forward_length", (uint32_t)cfg(c, "moe_intermediate_size", 0));
    gw_kv_u32(&w, "deepseek2.expert_count", (uint32_t)E);
    gw_kv_u32(&w, "deepseek2.expert_shared_count", (uint32_t)cfg(c, "n_shared_experts", 0));
    gw_kv_u32(&w, "deepseek2.expert_used_count", (uint32_t)cfg(c, "num_experts_per_tok", 0));
    gw_kv_f32(&w, "deepseek2.expert_weights_scale", (float)cfg(c, "routed_scaling_factor", 1));
    const struct kv_value *norm = kv_find(c, "norm_topk_prob");
    if (norm && norm->type == KV_BOOL && norm->b)
        gw_kv_bool(&w, "deepseek2.expert_weights_norm", 1);
    gw_kv_u32(&w, "deepseek2.expert_gating_func", v3 ? 2 : 1);
    gw_kv_u32(&w, "deepseek2.expert_group_count", (uint32_t)cfg(c, "n_group", 1));
    gw_kv_u32(&w, "deepseek2.expert_group_used_count", (uint32_t)cfg(c, "topk_group", 1));
    gw_kv_str(&w, "deepseek2.rope.scaling.type", "yarn");
    gw_kv_f32(&w, "deepseek2.rope.scaling.factor", (float)cfg(c, "rope_scaling.factor", 1));
    gw_kv_u32(&w, "deepseek2.rope.scaling.original_context_length",
              (uint32_t)cfg(c, "rope_scaling.original_max_position_embeddings", 0));
    gw_kv_f32(&w, "deepseek2.rope.scaling.yarn_beta_fast", (float)cfg(c, "rope_scaling.beta_fast", 32));
    gw_kv_f32(&w, "deepseek2.rope.scaling.yarn_beta_slow", (float)cfg(c, "rope_scaling.beta_slow", 1));
    gw_kv_f32(&w, "deepseek2.rope.scaling.yarn_log_multiplier", (float)(0.1 * cfg(c, "rope_scaling.mscale_all_dim", 0)));

    static const char *const names[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
        {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
        {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
        {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
        {"mlp.gate.weight", "ffn_gate_inp.weight"},
        {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
        {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
        {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
        {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"}};
    char name[256], gname[256];
    static const char *const global[][2] = {{"model.embed_tokens.weight", "token_embd.weight"},
                                            {"model.norm.weight", "output_norm.weight"},
                                            {"lm_head.weight", "output.weight"}};
    for (int i = 0; i < 3; i++) {
        const struct tensor_view *t = tensor_table_find(&mf.tensors, global[i][0]);
        OWL_ASSERT(t);
        const uint64_t ne[2] = {(uint64_t)t->shape[t->n_dim - 1], t->n_dim == 2 ? (uint64_t)t->shape[0] : 1};
        put(&w, global[i][1], t, t->n_dim, ne);
    }
    for (int l = 0; l < L; l++) { /* MTP layers (l >= L) are skipped, as the converter does */
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", l, names[i][0]);
            const struct tensor_view *t = tensor_table_find(&mf.tensors, name);
            if (!t)
                continue;
            snprintf(gname, sizeof gname, "blk.%d.%s", l, names[i][1]);
            const uint64_t ne[2] = {(uint64_t)t->shape[t->n_dim - 1], t->n_dim == 2 ? (uint64_t)t->shape[0] : 1};
            put(&w, gname, t, t->n_dim, ne);
        }
        snprintf(name, sizeof name, "model.layers.%d.self_attn.kv_b_proj.weight", l);
        const struct tensor_view *kvb = tensor_table_find(&mf.tensors, name);
        OWL_ASSERT(kvb && kvb->dtype == DTYPE_BF16);
        const uint16_t *src = kvb->data; /* (nh * (nope + dv), kvr): per head [k rows | v rows] */
        if (!split) {
            snprintf(gname, sizeof gname, "blk.%d.attn_kv_b.weight", l);
            put(&w, gname, kvb, 2, (const uint64_t[]){(uint64_t)kvr, (uint64_t)nh * (nope + dv)});
        } else {
            uint16_t *kb = malloc(2 * (size_t)nh * kvr * nope), *vb = malloc(2 * (size_t)nh * dv * kvr);
            for (int h = 0; h < nh; h++) {
                for (int i = 0; i < nope; i++) /* k_b[h] = (W_uk_h)ᵀ: (kvr, nope) */
                    for (int j = 0; j < kvr; j++)
                        kb[((size_t)h * kvr + j) * nope + i] = src[((size_t)h * (nope + dv) + i) * kvr + j];
                memcpy(vb + (size_t)h * dv * kvr, src + ((size_t)h * (nope + dv) + nope) * kvr, 2 * (size_t)dv * kvr);
            }
            snprintf(gname, sizeof gname, "blk.%d.attn_k_b.weight", l);
            gw_tensor(&w, gname, 30, 3, (const uint64_t[]){(uint64_t)nope, (uint64_t)kvr, (uint64_t)nh}, kb,
                      2 * (size_t)nh * kvr * nope);
            snprintf(gname, sizeof gname, "blk.%d.attn_v_b.weight", l);
            gw_tensor(&w, gname, 30, 3, (const uint64_t[]){(uint64_t)kvr, (uint64_t)dv, (uint64_t)nh}, vb,
                      2 * (size_t)nh * dv * kvr);
            free(kb), free(vb);
        }
        if (l < k_dense)
            continue;
        static const char *const proj[3][2] = {{"gate_proj", "ffn_gate_exps"}, {"up_proj", "ffn_up_exps"},
                                               {"down_proj", "ffn_down_exps"}};
        for (int p = 0; p < 3; p++) {
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.0.%s.weight", l, proj[p][0]);
            const struct tensor_view *t0 = tensor_table_find(&mf.tensors, name);
            OWL_ASSERT(t0 && t0->dtype == DTYPE_BF16);
            uint8_t *buf = malloc(t0->n_bytes * E);
            for (int e = 0; e < E; e++) {
                snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.%s.weight", l, e, proj[p][0]);
                memcpy(buf + t0->n_bytes * e, tensor_table_find(&mf.tensors, name)->data, t0->n_bytes);
            }
            snprintf(gname, sizeof gname, "blk.%d.%s.weight", l, proj[p][1]);
            gw_tensor(&w, gname, 30, 3, (const uint64_t[]){(uint64_t)t0->shape[1], (uint64_t)t0->shape[0], (uint64_t)E},
                      buf, t0->n_bytes * E);
            free(buf);
        }
    }
    size_t size;
    uint8_t *img = gw_finish(&w, &size);
    snprintf(path, sizeof path, "%s/%s-%s.gguf", test_tmpdir(), v3 ? "v3" : "v2", split ? "split" : "kvb");
    OWL_ASSERT(write_file(path, img, size) == 0);
    free(img);
    model_file_close(&mf);
    return path;
}

static void check(const char *fixture)
{
    int32_t tokens[20];
    for (int i = 0; i < 20; i++)
        tokens[i] = (i * 37 + 5) % 250;
    int V = 0;
    float *ref = model_logits(fixture_path(fixture), NULL, tokens, 20, &V);
    for (int split = 0; split < 2; split++) {
        int V2 = 0;
        const char *path = write_gguf(fixture, split);
        float *got = model_logits(path, NULL, tokens, 20, &V2);
        CHECK(ref && got && V == V2);
        if (ref && got && V == V2) {
            double d = 0, mx = 0;
            for (size_t i = 0; i < (size_t)20 * V; i++)
                d = fmax(d, fabs(got[i] - ref[i])), mx = fmax(mx, fabs(ref[i]));
            printf("%-24s GGUF %-14s max|gguf - safetensors| = %g (max|logit| %g)\n", fixture,
                   split ? "attn_k_b/v_b" : "attn_kv_b", d, mx);
            /* attn_kv_b: bit for bit when the YaRN mscale survives GGUF's f32 yarn_log_multiplier (V3's 1.0);
             * V2-Lite's 0.707 comes back as 0.0707f / 0.1, a softmax scale a few ulps off */
            if (!split && !strcmp(fixture, "deepseek_v3/qlora-mtp"))
                CHECK_MSG(d == 0, "%s kv_b: logits differ by %g", fixture, d);
            CHECK_MSG(d <= 1e-5 * mx, "%s %s: logits differ by %g", fixture, split ? "split" : "kv_b", d);
        }
        free(got);
    }
    free(ref);
}

int main(void)
{
    check("deepseek_v3/qlora-mtp"); /* V3: q LoRA, sigmoid + correction bias, groups, MTP layer skipped */
    check("deepseek_v3/v2-lite");   /* V2: plain q_proj, softmax greedy routing, two shared experts */
    return test_done("test_gguf_deepseek");
}
