/* gguf_arch.c — GGUF (llama.cpp) names to Hugging Face names, per architecture, so each family file reads
 * one key space and one set of tensor names whatever the container. Mirrors the mapping llama.cpp's
 * converter applies (the conversion folder and gguf-py/gguf/tensor_mapping.py) in reverse.
 *
 * Keys: "<arch>.embedding_length" -> "hidden_size", ...; vocab_size comes from the embedding's rows,
 * tie_word_embeddings from the absence of output.weight. Tensors: "blk.N.attn_q.weight" ->
 * "model.layers.N.self_attn.q_proj.weight", ... Qwen3 needs no weight permutation (NeoX RoPE in both).
 * Stacked experts "blk.N.ffn_gate_exps.weight" (E, out, in) become per-expert views
 * "model.layers.N.mlp.experts.E.gate_proj.weight" (no copy): qwen3moe, and gpt-oss, whose converter splits
 * the interleaved gate_up into gate and up (weights in GGML's MXFP4 blocks, biases apart).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

struct key_map {
    const char *gguf; /* after "<arch>." */
    const char *hf;
};

/* Qwen3-MoE (GGUF "qwen3moe"): the qwen3 keys plus these. llama.cpp always renormalizes the top-k weights
 * for this architecture (norm_topk_prob true, the released value) unless expert_weights_norm says otherwise. */
static const struct key_map qwen3moe_keys[] = {
    {"expert_count", "num_experts"},
    {"expert_used_count", "num_experts_per_tok"},
    {"expert_feed_forward_length", "moe_intermediate_size"},
    {"expert_weights_norm", "norm_topk_prob"},
};

/* GPT-OSS (GGUF "gpt-oss", llama.cpp's LLM_ARCH_OPENAI_MOE). */
static const struct key_map gpt_oss_keys[] = {
    {"expert_count", "num_local_experts"},
    {"expert_used_count", "num_experts_per_tok"},
    {"expert_feed_forward_length", "intermediate_size"},
    {"attention.sliding_window", "sliding_window"},
};

/* DeepSeek-V2/V3 (GGUF "deepseek2"); qk_nope_head_dim, the router kind and the YaRN mscales are derived
 * in deepseek2_keys. */
static const struct key_map deepseek2_keys[] = {
    {"attention.q_lora_rank", "q_lora_rank"},
    {"attention.kv_lora_rank", "kv_lora_rank"},
    {"attention.value_length_mla", "v_head_dim"},
    {"rope.dimension_count", "qk_rope_head_dim"},
    {"leading_dense_block_count", "first_k_dense_replace"},
    {"expert_feed_forward_length", "moe_intermediate_size"},
    {"expert_count", "n_routed_experts"},
    {"expert_shared_count", "n_shared_experts"},
    {"expert_used_count", "num_experts_per_tok"},
    {"expert_weights_scale", "routed_scaling_factor"},
    {"expert_weights_norm", "norm_topk_prob"},
    {"expert_group_count", "n_group"},
    {"expert_group_used_count", "topk_group"},
};

/* Every architecture's. */
static const struct key_map common_keys[] = {
    {"block_count", "num_hidden_layers"},
    {"context_length", "max_position_embeddings"},
    {"embedding_length", "hidden_size"},
    {"feed_forward_length", "intermediate_size"},
    {"attention.head_count", "num_attention_heads"},
    {"attention.head_count_kv", "num_key_value_heads"},
    {"attention.key_length", "head_dim"},
    {"attention.layer_norm_rms_epsilon", "rms_norm_eps"},
    {"rope.freq_base", "rope_theta"},
    {"rope.scaling.factor", "rope_scaling.factor"},
    {"rope.scaling.original_context_length", "rope_scaling.original_max_position_embeddings"},
    {"rope.scaling.yarn_beta_fast", "rope_scaling.beta_fast"},
    {"rope.scaling.yarn_beta_slow", "rope_scaling.beta_slow"},
    {"rope.scaling.yarn_attn_factor", "rope_scaling.attention_factor"},
};

/* Per-layer tensor names: "blk.N.<gguf>" -> "model.layers.N.<hf>". */
static const struct key_map gpt_oss_layer_tensors[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"post_attention_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"attn_sinks.weight", "self_attn.sinks"},
    {"ffn_gate_inp.weight", "mlp.router.weight"},
    {"ffn_gate_inp.bias", "mlp.router.bias"},
    {"ffn_gate_exps.bias", "mlp.experts.gate_proj_bias"}, /* (E, d_ff): gate_up_proj_bias's even columns */
    {"ffn_up_exps.bias", "mlp.experts.up_proj_bias"},     /* its odd columns */
    {"ffn_down_exps.bias", "mlp.experts.down_proj_bias"},
};

/* MLA as llama.cpp names it; the split attn_k_b (heads, kv_lora_rank, qk_nope: W_uk transposed per head)
 * and attn_v_b (heads, v_head_dim, kv_lora_rank) of newer converters become 2-D k_b_proj / v_b_proj, which
 * deepseek_v3.c reads in place of kv_b_proj. */
static const struct key_map deepseek2_layer_tensors[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q_a.weight", "self_attn.q_a_proj.weight"},
    {"attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight"},
    {"attn_q_b.weight", "self_attn.q_b_proj.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight"},
    {"attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight"},
    {"attn_kv_b.weight", "self_attn.kv_b_proj.weight"},
    {"attn_k_b.weight", "self_attn.k_b_proj.weight"},
    {"attn_v_b.weight", "self_attn.v_b_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
    {"ffn_gate_inp.weight", "mlp.gate.weight"},
    {"exp_probs_b.bias", "mlp.gate.e_score_correction_bias"},
    {"ffn_gate_shexp.weight", "mlp.shared_experts.gate_proj.weight"},
    {"ffn_up_shexp.weight", "mlp.shared_experts.up_proj.weight"},
    {"ffn_down_shexp.weight", "mlp.shared_experts.down_proj.weight"},
};

static const struct key_map qwen3_layer_tensors[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q_norm.weight", "self_attn.q_norm.weight"},
    {"attn_k_norm.weight", "self_attn.k_norm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
    {"ffn_gate_inp.weight", "mlp.gate.weight"},
};

/* Stacked experts (E, out, in) in GGUF -> one (out, in) view per expert, named as transformers saves them. */
static const struct key_map expert_tensors[] = {
    {"ffn_gate_exps.weight", "gate_proj.weight"},
    {"ffn_up_exps.weight", "up_proj.weight"},
    {"ffn_down_exps.weight", "down_proj.weight"},
};

static const struct key_map global_tensors[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

static struct kv_value copy_value(const struct kv_value *v)
{
    struct kv_value c = *v;
    if (v->s)
        c.s = xstrdup(v->s);
    if (v->n_items) {
        c.items = xcalloc((size_t)v->n_items, sizeof *c.items);
        for (int i = 0; i < v->n_items; i++)
            c.items[i] = copy_value(&v->items[i]);
    }
    return c;
}

/* What differs between the architectures owl reads from GGUF. */
struct arch {
    const char *name;       /* general.architecture */
    const char *model_type; /* config.json's */
    const struct key_map *keys; /* beside common_keys */
    size_t n_keys;
    const struct key_map *layer_tensors;
    size_t n_layer_tensors;
    bool experts;           /* stacked expert tensors to per-expert views */
};

#define ARRAY(a) a, sizeof a / sizeof *a
static const struct arch arches[] = {
    {"qwen3", "qwen3", NULL, 0, ARRAY(qwen3_layer_tensors), false},
    {"qwen3moe", "qwen3_moe", ARRAY(qwen3moe_keys), ARRAY(qwen3_layer_tensors), true},
    {"gpt-oss", "gpt_oss", ARRAY(gpt_oss_keys), ARRAY(gpt_oss_layer_tensors), true},
    {"deepseek2", "deepseek_v3", ARRAY(deepseek2_keys), ARRAY(deepseek2_layer_tensors), true},
};
#undef ARRAY

static bool deepseek2_sigmoid(const struct kv_table *kv)
{
    const struct kv_value *g = kv_find(kv, "deepseek2.expert_gating_func");
    return g && g->type == KV_INT && g->i == 2; /* llama.cpp: 1 softmax, 2 sigmoid */
}

/* Sigmoid gating with a correction bias is V3's router; softmax is V2's. */
static const char *deepseek2_type(const struct kv_table *kv)
{
    return deepseek2_sigmoid(kv) ? "deepseek_v3" : "deepseek_v2";
}

static struct kv_value kv_num(double v) { return (struct kv_value){.type = KV_FLOAT, .f = v}; }
static struct kv_value kv_int(int64_t v) { return (struct kv_value){.type = KV_INT, .i = v, .f = (double)v}; }
static struct kv_value kv_str_value(const char *s) { return (struct kv_value){.type = KV_STRING, .s = xstrdup(s)}; }

/* deepseek2's keys that are not one-to-one: qk_nope_head_dim = key_length_mla - rope dims; the router kind;
 * YaRN's mscale_all_dim from yarn_log_multiplier (= 0.1 * mscale_all_dim, llama.cpp's convention for this
 * architecture), and mscale set equal (the released V2 and V3 configs have them equal; GGUF keeps one). */
static void deepseek2_keys_derived(const struct kv_table *kv, struct kv_table *add, const char *scaling)
{
    const struct kv_value *kl = kv_find(kv, "deepseek2.attention.key_length_mla");
    const struct kv_value *rd = kv_find(kv, "deepseek2.rope.dimension_count");
    if (!kl || !rd || kl->type != KV_INT || rd->type != KV_INT || kl->i <= rd->i)
        return; /* absent: deepseek_v3.c reports the missing qk_nope_head_dim */
    kv_add(add, "qk_nope_head_dim", kv_int(kl->i - rd->i));
    if (deepseek2_sigmoid(kv)) {
        kv_add(add, "topk_method", kv_str_value("noaux_tc"));
        kv_add(add, "scoring_func", kv_str_value("sigmoid"));
    } else {
        const struct kv_value *g = kv_find(kv, "deepseek2.expert_group_count");
        kv_add(add, "topk_method", kv_str_value(g && g->type == KV_INT && g->i > 1 ? "group_limited_greedy" : "greedy"));
        kv_add(add, "scoring_func", kv_str_value("softmax"));
    }
    const struct kv_value *lm = kv_find(kv, "deepseek2.rope.scaling.yarn_log_multiplier");
    if (scaling && !strcmp(scaling, "yarn") && lm && (lm->type == KV_FLOAT || lm->type == KV_INT)) {
        kv_add(add, "rope_scaling.mscale_all_dim", kv_num(lm->f / 0.1));
        kv_add(add, "rope_scaling.mscale", kv_num(lm->f / 0.1));
    }
}

/* The HF name of a GGUF tensor name, malloc'd; NULL when it has no mapping (kept as it is). */
static char *hf_tensor_name(const struct arch *a, const char *name)
{
    for (size_t i = 0; i < sizeof global_tensors / sizeof *global_tensors; i++)
        if (strcmp(name, global_tensors[i].gguf) == 0)
            return xstrdup(global_tensors[i].hf);
    int layer, n = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &n) != 1 || n == 0 || layer < 0)
        return NULL;
    for (size_t i = 0; i < a->n_layer_tensors; i++)
        if (strcmp(name + n, a->layer_tensors[i].gguf) == 0) {
            char buf[256];
            snprintf(buf, sizeof buf, "model.layers.%d.%s", layer, a->layer_tensors[i].hf);
            return xstrdup(buf);
        }
    return NULL;
}

enum owl_status gguf_to_hf(struct kv_table *kv, struct tensor_table *table, struct owl_error *err)
{
    const char *arch = NULL;
    enum owl_status st = kv_get_str_opt(kv, "general.architecture", &arch, err);
    if (st)
        return st;
    if (!arch)
        return fail(err, OWL_ERR_BAD_FILE, "%s: missing key 'general.architecture'", kv->source);
    const struct arch *a = NULL;
    for (size_t i = 0; i < sizeof arches / sizeof *arches; i++)
        if (strcmp(arch, arches[i].name) == 0)
            a = &arches[i];
    if (!a)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: GGUF architecture '%s' is not supported (owl reads qwen3, "
                    "qwen3moe, gpt-oss and deepseek2 GGUF files)", kv->source, arch);
    const bool moe = strcmp(arch, "qwen3moe") == 0, oss = strcmp(arch, "gpt-oss") == 0;
    const bool ds = strcmp(arch, "deepseek2") == 0;

    /* Keys: the GGUF ones stay (tokenizer.*, general.*) and HF spellings are added beside them. Lookups
     * need the sorted table, so the additions are collected first and appended after. */
    struct kv_table add = {0};
    char key[256];
    for (size_t i = 0; i < sizeof common_keys / sizeof *common_keys; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, common_keys[i].gguf);
        const struct kv_value *v = kv_find(kv, key);
        /* gpt-oss: intermediate_size is the experts' width; deepseek2: key_length is the latent row and
         * head_count_kv 1 (MLA as MQA) */
        if (v && !(oss && !strcmp(common_keys[i].hf, "intermediate_size")) &&
            !(ds && (!strcmp(common_keys[i].hf, "head_dim") || !strcmp(common_keys[i].hf, "num_key_value_heads"))))
            kv_add(&add, common_keys[i].hf, copy_value(v));
    }
    for (size_t i = 0; i < a->n_keys; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, a->keys[i].gguf);
        const struct kv_value *v = kv_find(kv, key);
        if (v)
            kv_add(&add, a->keys[i].hf, copy_value(v));
        else if (!strcmp(a->keys[i].hf, "norm_topk_prob"))
            kv_add(&add, "norm_topk_prob", (struct kv_value){.type = KV_BOOL, .b = true, .i = 1, .f = 1});
    }
    snprintf(key, sizeof key, "%s.feed_forward_length", arch);
    if (moe && !kv_find(kv, key)) { /* no dense layers: intermediate_size is unused but read */
        snprintf(key, sizeof key, "%s.expert_feed_forward_length", arch);
        const struct kv_value *v = kv_find(kv, key);
        if (v)
            kv_add(&add, "intermediate_size", copy_value(v));
    }
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *scaling = NULL;
    if ((st = kv_get_str_opt(kv, key, &scaling, err))) {
        kv_table_free(&add);
        return st;
    }
    if (scaling && strcmp(scaling, "none") != 0)
        kv_add(&add, "rope_scaling.rope_type", (struct kv_value){.type = KV_STRING, .s = xstrdup(scaling)});
    if (ds)
        deepseek2_keys_derived(kv, &add, scaling);
    kv_add(&add, "model_type", (struct kv_value){.type = KV_STRING, .s = xstrdup(ds ? deepseek2_type(kv) : a->model_type)});
    if (oss) { /* gpt-oss's YaRN never truncates the correction range (its config says truncate: false) */
        if (scaling && !strcmp(scaling, "yarn"))
            kv_add(&add, "rope_scaling.truncate", (struct kv_value){.type = KV_BOOL, .b = false});
        kv_add(&add, "attention_bias", (struct kv_value){.type = KV_BOOL, .b = true, .i = 1, .f = 1});
    } else {
        kv_add(&add, "hidden_act", (struct kv_value){.type = KV_STRING, .s = xstrdup("silu")});
    }

    /* Tensors: rebuild the table under HF names; stacked experts become per-expert views. Layers of a MoE
     * file that carry a dense FFN instead (transformers' mlp_only_layers / decoder_sparse_step) are listed. */
    struct tensor_table renamed = {0};
    struct kv_value dense = {.type = KV_ARRAY};
    for (int i = 0; i < table->n; i++) {
        struct tensor_view v = table->tensors[i];
        int layer, off = 0, e;
        const char *rest;
        if (a->experts && sscanf(v.name, "blk.%d.%n", &layer, &off) == 1 && off > 0 && layer >= 0) {
            rest = v.name + off;
            if (moe && !strcmp(rest, "ffn_gate.weight")) {
                dense.items = xrealloc(dense.items, sizeof *dense.items * (size_t)(dense.n_items + 1));
                dense.items[dense.n_items++] = (struct kv_value){.type = KV_INT, .i = layer, .f = layer};
            }
            for (e = 0; e < (int)(sizeof expert_tensors / sizeof *expert_tensors); e++)
                if (!strcmp(rest, expert_tensors[e].gguf))
                    break;
            if (e < (int)(sizeof expert_tensors / sizeof *expert_tensors)) {
                size_t per = 0;
                if (v.n_dim != 3 || v.shape[0] < 1 || !dtype_bytes(v.dtype, (uint64_t)(v.shape[1] * v.shape[2]), &per)) {
                    tensor_table_free(&renamed);
                    kv_table_free(&add);
                    kv_value_free(&dense);
                    return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': expected 3 dimensions (experts, out, in)",
                                kv->source, v.name);
                }
                for (int64_t x = 0; x < v.shape[0]; x++) {
                    char name[256];
                    snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%lld.%s", layer, (long long)x,
                             expert_tensors[e].hf);
                    struct tensor_view ev = v;
                    ev.name = xstrdup(name);
                    ev.n_dim = 2;
                    ev.shape[0] = v.shape[1];
                    ev.shape[1] = v.shape[2];
                    ev.data = (const uint8_t *)v.data + (size_t)x * per;
                    ev.n_bytes = per;
                    if (!tensor_table_add(&renamed, &ev)) {
                        tensor_table_free(&renamed);
                        kv_table_free(&add);
                        kv_value_free(&dense);
                        return fail(err, OWL_ERR_BAD_FILE, "%s: expert tensor '%s' appears twice", kv->source, name);
                    }
                }
                continue;
            }
        }
        char *hf = hf_tensor_name(a, v.name);
        if (hf && ds && v.n_dim == 3 && (strstr(hf, "k_b_proj") || strstr(hf, "v_b_proj"))) {
            v.n_dim = 2; /* (heads, rows, cols) -> (heads * rows, cols): heads' row blocks stacked */
            v.shape[0] *= v.shape[1];
            v.shape[1] = v.shape[2];
        }
        v.name = hf ? hf : xstrdup(v.name);
        if (!tensor_table_add(&renamed, &v)) { /* e.g. both output.weight and a tensor named lm_head.weight */
            kv_value_free(&dense);
            tensor_table_free(&renamed);
            kv_table_free(&add);
            return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s' appears twice after renaming to Hugging Face names",
                        kv->source, table->tensors[i].name);
        }
    }
    tensor_table_free(table);
    *table = renamed;
    if (moe)
        kv_add(&add, "mlp_only_layers", dense);
    else
        kv_value_free(&dense);

    const struct tensor_view *embd = tensor_table_find(table, "model.embed_tokens.weight");
    if (!embd || embd->n_dim != 2) {
        kv_table_free(&add);
        return fail(err, OWL_ERR_BAD_FILE, "%s: missing 2-D tensor 'token_embd.weight'", kv->source);
    }
    kv_add(&add, "vocab_size", (struct kv_value){.type = KV_INT, .i = embd->shape[0], .f = (double)embd->shape[0]});
    const bool tied = tensor_table_find(table, "lm_head.weight") == NULL;
    kv_add(&add, "tie_word_embeddings", (struct kv_value){.type = KV_BOOL, .b = tied, .i = tied, .f = tied});
    for (int i = 0; i < add.n; i++) {
        kv_add(kv, add.entries[i].key, add.entries[i].value);
        free(add.entries[i].key);
    }
    add.n = 0;
    kv_table_free(&add);
    return kv_finish(kv, err);
}

static const struct arch *find_arch(const char *name)
{
    for (size_t i = 0; i < sizeof arches / sizeof *arches; i++)
        if (strcmp(name, arches[i].name) == 0)
            return &arches[i];
    return NULL;
}

bool gguf_name_of_hf(const char *arch, const char *hf, char *buf, size_t size)
{
    const struct arch *a = find_arch(arch);
    if (!a)
        return false;
    for (size_t i = 0; i < sizeof global_tensors / sizeof *global_tensors; i++)
        if (strcmp(hf, global_tensors[i].hf) == 0)
            return snprintf(buf, size, "%s", global_tensors[i].gguf) < (int)size;
    int layer, n = 0, e, m = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &n) != 1 || n == 0)
        return false;
    for (size_t i = 0; i < a->n_layer_tensors; i++)
        if (strcmp(hf + n, a->layer_tensors[i].hf) == 0)
            return snprintf(buf, size, "blk.%d.%s", layer, a->layer_tensors[i].gguf) < (int)size;
    if (a->experts && sscanf(hf + n, "mlp.experts.%d.%n", &e, &m) == 1 && m > 0)
        for (size_t i = 0; i < sizeof expert_tensors / sizeof *expert_tensors; i++)
            if (strcmp(hf + n + m, expert_tensors[i].hf) == 0)
                return snprintf(buf, size, "blk.%d.%s", layer, expert_tensors[i].gguf) < (int)size;
    return false;
}
