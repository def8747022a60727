/* gguf_arch.c — GGUF (llama.cpp) names to Hugging Face names, per architecture, so each family file reads
 * one key space and one set of tensor names whatever the container. Mirrors the mapping llama.cpp's
 * converter applies (the conversion folder and gguf-py/gguf/tensor_mapping.py) in reverse.
 *
 * Keys: "<arch>.embedding_length" -> "hidden_size", ...; vocab_size comes from the embedding's rows,
 * tie_word_embeddings from the absence of output.weight. Tensors: "blk.N.attn_q.weight" ->
 * "model.layers.N.self_attn.q_proj.weight", ... Qwen3 needs no weight permutation (NeoX RoPE in both).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

struct key_map {
    const char *gguf; /* after "<arch>." */
    const char *hf;
};

static const struct key_map qwen3_keys[] = {
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
};

/* Per-layer tensor names: "blk.N.<gguf>" -> "model.layers.N.<hf>". */
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

/* The HF name of a GGUF tensor name, malloc'd; NULL when it has no mapping (kept as it is). */
static char *hf_tensor_name(const char *name)
{
    for (size_t i = 0; i < sizeof global_tensors / sizeof *global_tensors; i++)
        if (strcmp(name, global_tensors[i].gguf) == 0)
            return xstrdup(global_tensors[i].hf);
    int layer, n = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &n) != 1 || n == 0 || layer < 0)
        return NULL;
    for (size_t i = 0; i < sizeof qwen3_layer_tensors / sizeof *qwen3_layer_tensors; i++)
        if (strcmp(name + n, qwen3_layer_tensors[i].gguf) == 0) {
            char buf[256];
            snprintf(buf, sizeof buf, "model.layers.%d.%s", layer, qwen3_layer_tensors[i].hf);
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
    if (strcmp(arch, "qwen3") != 0)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: GGUF architecture '%s' is not supported (owl reads qwen3 GGUF "
                    "files; the others arrive with their families)", kv->source, arch);

    /* Keys: the GGUF ones stay (tokenizer.*, general.*) and HF spellings are added beside them. Lookups
     * need the sorted table, so the additions are collected first and appended after. */
    struct kv_table add = {0};
    char key[256];
    for (size_t i = 0; i < sizeof qwen3_keys / sizeof *qwen3_keys; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, qwen3_keys[i].gguf);
        const struct kv_value *v = kv_find(kv, key);
        if (v)
            kv_add(&add, qwen3_keys[i].hf, copy_value(v));
    }
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *scaling = NULL;
    if ((st = kv_get_str_opt(kv, key, &scaling, err))) {
        kv_table_free(&add);
        return st;
    }
    if (scaling && strcmp(scaling, "none") != 0)
        kv_add(&add, "rope_scaling.rope_type", (struct kv_value){.type = KV_STRING, .s = xstrdup(scaling)});
    kv_add(&add, "model_type", (struct kv_value){.type = KV_STRING, .s = xstrdup(arch)});
    kv_add(&add, "hidden_act", (struct kv_value){.type = KV_STRING, .s = xstrdup("silu")});

    /* Tensors: rebuild the table under HF names. */
    struct tensor_table renamed = {0};
    for (int i = 0; i < table->n; i++) {
        struct tensor_view v = table->tensors[i];
        char *hf = hf_tensor_name(v.name);
        v.name = hf ? hf : xstrdup(v.name);
        if (!tensor_table_add(&renamed, &v)) { /* e.g. both output.weight and a tensor named lm_head.weight */
            tensor_table_free(&renamed);
            kv_table_free(&add);
            return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s' appears twice after renaming to Hugging Face names",
                        kv->source, table->tensors[i].name);
        }
    }
    tensor_table_free(table);
    *table = renamed;

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
