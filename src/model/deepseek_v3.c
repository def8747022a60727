/* deepseek_v3.c — DeepSeek-V3 / V3-0324 / V3.1 / R1 (model_type deepseek_v3) and DeepSeek-V2 / V2-Lite
 * (model_type deepseek_v2): config, weights and forward, top to bottom.
 *
 * Mirrors transformers 5.17 models/deepseek_v3/modeling_deepseek_v3.py (DeepseekV3ForCausalLM, eager
 * attention, eager experts) and models/deepseek_v2/modeling_deepseek_v2.py for the V2 router:
 *   h = embed(tokens)
 *   per layer: h += o_proj(MLA(RMSNorm(h)))
 *              h += FFN(RMSNorm(h))    dense SwiGLU for l < first_k_dense_replace, else routed experts + shared
 *   logits = lm_head(RMSNorm(h))
 * MLA (ARCHITECTURES.md 4.3): q = q_b(RMSNorm(q_a(x))) or q_proj(x), per head [nope | rope];
 * kv_a(x) = [latent c (kv_lora_rank) | k_rope (qk_rope_head_dim)], c normalized by kv_a_layernorm; k_rope
 * shared by all heads; interleaved-pair RoPE with DeepSeek YaRN; softmax scale qk_head_dim^-0.5 times
 * mscale(factor, mscale_all_dim)^2.
 * The KV cache holds only [c | rotated k_rope] per token and layer (kv_lora_rank + qk_rope_head_dim floats,
 * 576 for V3). Attention runs in the absorbed form over it: kv_b_proj's key rows fold into the query
 * (q_lat_h = W_uk_hᵀ q_nope_h), it is multi-query attention with one KV head, d_k = kv_lora_rank + rope
 * dims, values = the first kv_lora_rank dims of each key row, and kv_b_proj's value rows apply after
 * (o_h = W_uv_h o_lat_h). OWL_MLA=expanded in the environment (read at load) switches to the form
 * transformers computes (per-head keys and values expanded from the cached latents each step): a
 * verification switch; it needs scratch proportional to the context.
 * FP8 checkpoints (float8_e4m3fn weight + float32 weight_scale_inv per 128x128 block) stay one byte per
 * weight; the multi-token-prediction layer(s) at index num_hidden_layers are loaded and kept (struct
 * ds_mtp) but not run: transformers ignores them too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fp8.h"
#include "model/model.h"
#include "model/rope.h"

#define PLAIN_DTYPES ((1u << DTYPE_F32) | (1u << DTYPE_F16) | (1u << DTYPE_BF16))
/* Matrices: plain, FP8 blocks (safetensors) or GGML blocks (GGUF) */
#define LINEAR_DTYPES                                                                                   \
    (PLAIN_DTYPES | (1u << DTYPE_F8_E4M3) | (1u << DTYPE_Q8_0) | (1u << DTYPE_Q4_0) | (1u << DTYPE_Q4_1) |  \
     (1u << DTYPE_Q5_0) | (1u << DTYPE_Q5_1) | (1u << DTYPE_Q4_K) | (1u << DTYPE_Q5_K) | (1u << DTYPE_Q6_K))

struct ds_mlp {           /* SwiGLU: down(silu(gate(x)) * up(x)) */
    struct weight gate;   /* (d_ff, d_model) */
    struct weight up;     /* (d_ff, d_model) */
    struct weight down;   /* (d_model, d_ff) */
};

struct ds_layer {
    float *attn_norm;     /* input_layernorm (d_model) */
    float *ffn_norm;      /* post_attention_layernorm (d_model) */
    float *q_a_norm;      /* self_attn.q_a_layernorm (q_lora_rank), NULL without q LoRA */
    float *kv_a_norm;     /* self_attn.kv_a_layernorm (kv_lora_rank) */
    struct weight wq_a;   /* q_a_proj (q_lora_rank, d_model) */
    struct weight wq_b;   /* q_b_proj (n_head*d_qk, q_lora_rank) */
    struct weight wq;     /* q_proj (n_head*d_qk, d_model) when q_lora_rank is null */
    struct weight wkv_a;  /* kv_a_proj_with_mqa (kv_lora_rank + d_rope, d_model) */
    struct weight wkv_b;  /* kv_b_proj (n_head*(d_nope + d_v), kv_lora_rank): per head [k_nope rows | v rows] */
    struct weight wk_b;   /* or split as llama.cpp's newer GGUF has it (then wkv_b is empty): k_b_proj
                             (n_head*kv_lora_rank, d_nope), each head's W_uk transposed, */
    struct weight wv_b;   /* and v_b_proj (n_head*d_v, kv_lora_rank), each head's W_uv */
    struct weight wo;     /* o_proj (d_model, n_head*d_v) */
    bool moe;
    struct ds_mlp mlp;    /* dense layers: mlp.{gate,up,down}_proj with intermediate_size */
    struct ds_mlp shared; /* MoE layers: mlp.shared_experts, width n_shared * moe_intermediate_size */
    struct weight router; /* mlp.gate.weight (n_expert, d_model) */
    float *bias;          /* mlp.gate.e_score_correction_bias (n_expert), fp32 copy; NULL for V2 */
    struct weight *experts; /* (3, n_expert) owned views: gate, up, down of mlp.experts.{e}.*_proj.weight */
    struct moe_ffn routed; /* width moe_intermediate_size; points into experts */
};

/* Multi-token prediction block (layer index num_hidden_layers + i): loaded for speculative decoding,
 * not run. x = eh_proj([enorm(embed(t_next)); hnorm(h)]) -> decoder layer -> shared_head.norm -> head. */
struct ds_mtp {
    float *enorm, *hnorm, *head_norm; /* (d_model) each */
    struct weight eh_proj;            /* (d_model, 2*d_model) */
    struct weight embed;              /* its embed_tokens (n_vocab, d_model), or the main one when absent */
    struct weight head;               /* shared_head.head (n_vocab, d_model), or lm_head when absent */
    struct ds_layer layer;
};

struct ds {
    bool v2;            /* model_type deepseek_v2 */
    int n_layer;        /* num_hidden_layers */
    int n_head;         /* num_attention_heads */
    int q_rank;         /* q_lora_rank, 0 when null */
    int kv_rank;        /* kv_lora_rank */
    int d_nope;         /* qk_nope_head_dim */
    int d_rope;         /* qk_rope_head_dim */
    int d_v;            /* v_head_dim */
    int d_qk;           /* d_nope + d_rope */
    int d_ff;           /* intermediate_size (dense layers) */
    int d_ff_moe;       /* moe_intermediate_size */
    int n_expert;       /* n_routed_experts (v5: num_local_experts) */
    int n_shared;       /* n_shared_experts */
    int n_dense;        /* first_k_dense_replace */
    int n_mtp;          /* num_nextn_predict_layers (v5: num_mtp_layers) */
    struct router_params route; /* kind from topk_method; k num_experts_per_tok; norm_topk norm_topk_prob
                                   (V3 only: HF's V2 router never renormalizes); scale routed_scaling_factor;
                                   n_group, topk_group (1 for V2 greedy, which ignores them); bias per layer */
    float eps;          /* rms_norm_eps (q_a/kv_a norms use HF's class default 1e-6) */
    double attn_scale;  /* d_qk^-0.5 * mscale(factor, mscale_all_dim)^2 */
    bool fp8;           /* quantization_config fp8 e4m3, blocks 128x128 */
    bool expanded;      /* OWL_MLA=expanded: the non-absorbed attention */
    struct rope rope;   /* dim d_rope */
    struct weight embed; /* model.embed_tokens.weight (n_vocab, d_model) */
    struct weight head;  /* lm_head.weight (n_vocab, d_model) */
    float *out_norm;     /* model.norm.weight (d_model) */
    struct ds_layer *layers; /* (n_layer) */
    struct ds_mtp *mtp;      /* (n_mtp) */
};

/* ---- config ------------------------------------------------------------------------------------- */

/* An int that two config spellings may carry (released name first, transformers v5 name second). */
static enum owl_status get_dim2(const struct kv_table *kv, const char *k1, const char *k2, int lo, int hi, int *out,
                                struct owl_error *err)
{
    if (!kv_has(kv, k1) && kv_has(kv, k2))
        return kv_get_dim(kv, k2, lo, hi, out, err);
    return kv_get_dim(kv, k1, lo, hi, out, err);
}

static enum owl_status ds_read_quant(const struct kv_table *kv, struct ds *d, struct owl_error *err)
{
    const char *method = NULL, *fmt = NULL;
    enum owl_status st;
    if ((st = kv_get_str_opt(kv, "quantization_config.quant_method", &method, err)) ||
        (st = kv_get_str_opt(kv, "quantization_config.fmt", &fmt, err)))
        return st;
    if (!method)
        return OWL_OK;
    if (strcmp(method, "fp8") != 0)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: quantization_config.quant_method '%s', owl reads 'fp8'",
                    kv->source, method);
    if (fmt && strcmp(fmt, "e4m3") != 0)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: quantization_config.fmt '%s', expected 'e4m3'", kv->source, fmt);
    const struct kv_value *bs = kv_find(kv, "quantization_config.weight_block_size");
    if (bs && !(bs->type == KV_ARRAY && bs->n_items == 2 && bs->items[0].type == KV_INT &&
                bs->items[1].type == KV_INT && bs->items[0].i == FP8_BLOCK && bs->items[1].i == FP8_BLOCK))
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: quantization_config.weight_block_size must be [128, 128]",
                    kv->source);
    d->fp8 = true;
    return OWL_OK;
}

static enum owl_status ds_read_router(const struct kv_table *kv, struct ds *d, struct owl_error *err)
{
    struct router_params *r = &d->route;
    const char *method = NULL, *scoring = NULL;
    enum owl_status st;
    if ((st = kv_get_str_opt(kv, "topk_method", &method, err)) ||
        (st = kv_get_str_opt(kv, "scoring_func", &scoring, err)))
        return st;
    /* HF's V3 router ignores both fields (always sigmoid + noaux_tc); V2's reads topk_method. */
    if (!d->v2) {
        if ((method && strcmp(method, "noaux_tc") != 0) || (scoring && strcmp(scoring, "sigmoid") != 0))
            return fail(err, OWL_ERR_UNSUPPORTED, "%s: deepseek_v3 routes with topk_method 'noaux_tc' and "
                        "scoring_func 'sigmoid', got '%s' / '%s'", kv->source, method ? method : "(absent)",
                        scoring ? scoring : "(absent)");
        r->kind = ROUTER_SIGMOID_NOAUX;
    } else if (!method || strcmp(method, "greedy") == 0) {
        r->kind = ROUTER_SOFTMAX_TOPK;
        r->n_group = r->topk_group = 1; /* greedy ignores the groups */
        r->norm_topk = false;
    } else if (strcmp(method, "group_limited_greedy") == 0) {
        r->kind = ROUTER_SOFTMAX_TOPK; /* group score: the group's best probability */
        r->norm_topk = false;
    } else {
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: field 'topk_method' = '%s', expected 'greedy' or "
                    "'group_limited_greedy'", kv->source, method);
    }
    if (r->n_expert % r->n_group)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: n_routed_experts %d is not a multiple of n_group %d", kv->source,
                    r->n_expert, r->n_group);
    const int per_group = r->n_expert / r->n_group;
    if (r->topk_group > r->n_group || r->k > r->topk_group * per_group ||
        (r->kind == ROUTER_SIGMOID_NOAUX && per_group < 2))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: topk_group %d of n_group %d groups (%d experts each) cannot "
                    "hold num_experts_per_tok %d", kv->source, r->topk_group, r->n_group, per_group, r->k);
    return OWL_OK;
}

static enum owl_status ds_read_config(struct model *m, struct ds *d, struct owl_error *err)
{
    const struct kv_table *kv = &m->file.config;
    enum owl_status st;
    int64_t n_ctx = 4096, freq = 1;
    double eps = 1e-6, route_scale = 1.0;
    bool tied = false, flag = false, interleave = true;
    d->route.n_group = d->route.topk_group = 1;
    d->n_shared = 0;
    if ((st = kv_get_dim(kv, "vocab_size", 1, 1 << 24, &m->n_vocab, err)) ||
        (st = kv_get_dim(kv, "hidden_size", 1, 1 << 16, &m->d_model, err)) ||
        (st = kv_get_dim(kv, "num_hidden_layers", 1, 1024, &d->n_layer, err)) ||
        (st = kv_get_dim(kv, "num_attention_heads", 1, 1024, &d->n_head, err)) ||
        (st = kv_get_dim(kv, "kv_lora_rank", 1, 1 << 14, &d->kv_rank, err)) ||
        (st = kv_get_dim(kv, "qk_nope_head_dim", 1, 1024, &d->d_nope, err)) ||
        (st = kv_get_dim(kv, "qk_rope_head_dim", 2, 1024, &d->d_rope, err)) ||
        (st = kv_get_dim(kv, "v_head_dim", 1, 1024, &d->d_v, err)) ||
        (st = kv_get_dim(kv, "intermediate_size", 1, 1 << 20, &d->d_ff, err)) ||
        (st = kv_get_dim(kv, "moe_intermediate_size", 1, 1 << 20, &d->d_ff_moe, err)) ||
        (st = get_dim2(kv, "n_routed_experts", "num_local_experts", 1, 1 << 12, &d->n_expert, err)) ||
        (st = kv_get_dim(kv, "num_experts_per_tok", 1, d->n_expert, &d->route.k, err)) ||
        (st = kv_get_dim(kv, "first_k_dense_replace", 0, d->n_layer, &d->n_dense, err)) ||
        (st = kv_get_int_opt(kv, "max_position_embeddings", &n_ctx, err)) ||
        (st = kv_get_int_opt(kv, "moe_layer_freq", &freq, err)) ||
        (st = kv_get_float_opt(kv, "rms_norm_eps", &eps, err)) ||
        (st = kv_get_float_opt(kv, "routed_scaling_factor", &route_scale, err)) ||
        (st = kv_get_bool_opt(kv, "norm_topk_prob", &d->route.norm_topk, err)) ||
        (st = kv_get_bool_opt(kv, "tie_word_embeddings", &tied, err)) ||
        (st = kv_get_bool_opt(kv, "attention_bias", &flag, err)) ||
        (st = kv_get_bool_opt(kv, "rope_interleave", &interleave, err)))
        return st;
    if (kv_has(kv, "q_lora_rank") && (st = kv_get_dim(kv, "q_lora_rank", 1, 1 << 16, &d->q_rank, err)))
        return st;
    if ((kv_has(kv, "n_shared_experts") && (st = kv_get_dim(kv, "n_shared_experts", 0, 64, &d->n_shared, err))) ||
        (kv_has(kv, "n_group") && (st = kv_get_dim(kv, "n_group", 1, d->n_expert, &d->route.n_group, err))) ||
        (kv_has(kv, "topk_group") && (st = kv_get_dim(kv, "topk_group", 1, d->n_expert, &d->route.topk_group, err))))
        return st;
    if ((kv_has(kv, "num_nextn_predict_layers") || kv_has(kv, "num_mtp_layers")) &&
        (st = get_dim2(kv, "num_nextn_predict_layers", "num_mtp_layers", 0, 16, &d->n_mtp, err)))
        return st;
    if (flag || tied || freq != 1 || !interleave)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: attention_bias %s, tie_word_embeddings %s, moe_layer_freq %lld, "
                    "rope_interleave %s: released DeepSeek models have false, false, 1, true", kv->source,
                    flag ? "true" : "false", tied ? "true" : "false", (long long)freq, interleave ? "true" : "false");
    const char *act = NULL;
    if ((st = kv_get_str_opt(kv, "hidden_act", &act, err)))
        return st;
    if (act && strcmp(act, "silu") != 0)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: hidden_act '%s', expected 'silu'", kv->source, act);
    if (d->d_rope % 2)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: qk_rope_head_dim %d must be even", kv->source, d->d_rope);
    if (n_ctx < 1 || n_ctx > (1 << 30))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'max_position_embeddings' = %lld, expected 1..2^30",
                    kv->source, (long long)n_ctx);
    if (!(eps > 0 && eps < 1) || !(route_scale > 0 && route_scale < 1e6))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: rms_norm_eps %g, routed_scaling_factor %g out of range",
                    kv->source, eps, route_scale);
    d->route.n_expert = d->n_expert;
    d->route.scale = (float)route_scale;
    if ((st = ds_read_router(kv, d, err)) || (st = ds_read_quant(kv, d, err)))
        return st;
    m->n_ctx_train = (int)n_ctx;
    d->eps = (float)eps;
    d->d_qk = d->d_nope + d->d_rope;
    if ((st = rope_init(&d->rope, kv, d->d_rope, n_ctx, err)))
        return st;
    /* yarn_apply_mscale: the softmax scale takes mscale(factor, mscale_all_dim)^2 for non-default RoPE. */
    d->attn_scale = 1.0 / sqrt((double)d->d_qk);
    if (d->rope.type == ROPE_TYPE_YARN && d->rope.mscale_all_dim != 0.0) {
        const double ms = rope_yarn_mscale(d->rope.factor, d->rope.mscale_all_dim);
        d->attn_scale *= ms * ms;
    }
    const char *mla = getenv("OWL_MLA");
    d->expanded = mla && strcmp(mla, "expanded") == 0;
    return OWL_OK;
}

/* ---- weights ------------------------------------------------------------------------------------ */

/* A linear weight (d_out, d_in): bf16/f16/f32, or F8_E4M3 with its `<name>_scale_inv` block grid. */
static enum owl_status ds_take_linear(struct model *m, const struct ds *d, const char *name, int d_out, int d_in,
                                      struct weight *w, struct owl_error *err)
{
    const int64_t shape[2] = {d_out, d_in};
    const struct tensor_view *t, *s;
    enum owl_status st = model_file_take(&m->file, name, LINEAR_DTYPES, 2, shape, &t, err);
    if (st)
        return st;
    *w = (struct weight){.dtype = t->dtype, .d_out = d_out, .d_in = d_in, .data = t->data};
    if (t->dtype != DTYPE_F8_E4M3)
        return OWL_OK;
    if (!d->fp8)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: tensor %s is F8_E4M3 but config.json has no quantization_config "
                    "with quant_method 'fp8'", t->file, name);
    char sname[200];
    snprintf(sname, sizeof sname, "%s_scale_inv", name);
    const int64_t grid[2] = {(d_out + FP8_BLOCK - 1) / FP8_BLOCK, (d_in + FP8_BLOCK - 1) / FP8_BLOCK};
    if ((st = model_file_take(&m->file, sname, 1u << DTYPE_F32, 2, grid, &s, err)))
        return st;
    w->scales = s->data;
    return OWL_OK;
}

static enum owl_status ds_take_mlp(struct model *m, const struct ds *d, const char *prefix, int d_ff,
                                   struct ds_mlp *mlp, struct owl_error *err)
{
    char name[200];
    enum owl_status st;
    const int dm = m->d_model;
#define NAME(s) (snprintf(name, sizeof name, "%s.%s", prefix, s), name)
    if ((st = ds_take_linear(m, d, NAME("gate_proj.weight"), d_ff, dm, &mlp->gate, err)) ||
        (st = ds_take_linear(m, d, NAME("up_proj.weight"), d_ff, dm, &mlp->up, err)) ||
        (st = ds_take_linear(m, d, NAME("down_proj.weight"), dm, d_ff, &mlp->down, err)))
        return st;
#undef NAME
    return OWL_OK;
}

/* Layer index l (l >= n_layer: an MTP block, always MoE) into L. */
static enum owl_status ds_take_layer(struct model *m, struct ds *d, int l, struct ds_layer *L, struct owl_error *err)
{
    const int dm = m->d_model, nh = d->n_head;
    char name[200], prefix[160];
    enum owl_status st;
#define NAME(s) (snprintf(name, sizeof name, "model.layers.%d.%s", l, s), name)
    if ((st = model_take_vector(m, NAME("input_layernorm.weight"), dm, &L->attn_norm, err)) ||
        (st = model_take_vector(m, NAME("post_attention_layernorm.weight"), dm, &L->ffn_norm, err)) ||
        (st = model_take_vector(m, NAME("self_attn.kv_a_layernorm.weight"), d->kv_rank, &L->kv_a_norm, err)) ||
        (st = ds_take_linear(m, d, NAME("self_attn.kv_a_proj_with_mqa.weight"), d->kv_rank + d->d_rope, dm,
                             &L->wkv_a, err)) ||
        (st = ds_take_linear(m, d, NAME("self_attn.o_proj.weight"), dm, nh * d->d_v, &L->wo, err)))
        return st;
    if (tensor_table_find(&m->file.tensors, NAME("self_attn.k_b_proj.weight"))) {
        if (d->expanded)
            return fail(err, OWL_ERR_UNSUPPORTED, "%s: OWL_MLA=expanded needs kv_b_proj; this file has it split into "
                        "k_b_proj and v_b_proj (the absorbed form runs them)", m->file.dir);
        if ((st = ds_take_linear(m, d, NAME("self_attn.k_b_proj.weight"), nh * d->kv_rank, d->d_nope, &L->wk_b, err)) ||
            (st = ds_take_linear(m, d, NAME("self_attn.v_b_proj.weight"), nh * d->d_v, d->kv_rank, &L->wv_b, err)))
            return st;
    } else if ((st = ds_take_linear(m, d, NAME("self_attn.kv_b_proj.weight"), nh * (d->d_nope + d->d_v), d->kv_rank,
                                    &L->wkv_b, err))) {
        return st;
    }
    if (d->q_rank) {
        if ((st = ds_take_linear(m, d, NAME("self_attn.q_a_proj.weight"), d->q_rank, dm, &L->wq_a, err)) ||
            (st = model_take_vector(m, NAME("self_attn.q_a_layernorm.weight"), d->q_rank, &L->q_a_norm, err)) ||
            (st = ds_take_linear(m, d, NAME("self_attn.q_b_proj.weight"), nh * d->d_qk, d->q_rank, &L->wq_b, err)))
            return st;
    } else if ((st = ds_take_linear(m, d, NAME("self_attn.q_proj.weight"), nh * d->d_qk, dm, &L->wq, err))) {
        return st;
    }
    L->moe = l >= d->n_dense;
    if (!L->moe) {
        snprintf(prefix, sizeof prefix, "model.layers.%d.mlp", l);
        return ds_take_mlp(m, d, prefix, d->d_ff, &L->mlp, err);
    }
    const int64_t n_e[1] = {d->n_expert};
    const struct tensor_view *b;
    if ((st = model_take_linear(m, NAME("mlp.gate.weight"), d->n_expert, dm, &L->router, err)))
        return st;
    if (d->route.kind == ROUTER_SIGMOID_NOAUX) {
        if ((st = model_file_take(&m->file, NAME("mlp.gate.e_score_correction_bias"), PLAIN_DTYPES, 1, n_e, &b, err)))
            return st;
        L->bias = xcalloc((size_t)d->n_expert, sizeof(float));
        weight_to_f32(L->bias, b->data, b->dtype, (size_t)d->n_expert);
    }
    if (d->n_shared) {
        snprintf(prefix, sizeof prefix, "model.layers.%d.mlp.shared_experts", l);
        if ((st = ds_take_mlp(m, d, prefix, d->n_shared * d->d_ff_moe, &L->shared, err)))
            return st;
    }
    const int E = d->n_expert;
    L->experts = xcalloc((size_t)3 * E, sizeof *L->experts);
    for (int e = 0; e < E; e++) {
        struct ds_mlp x;
        snprintf(prefix, sizeof prefix, "model.layers.%d.mlp.experts.%d", l, e);
        if ((st = ds_take_mlp(m, d, prefix, d->d_ff_moe, &x, err)))
            return st;
        L->experts[e] = x.gate;
        L->experts[E + e] = x.up;
        L->experts[2 * E + e] = x.down;
    }
    L->routed = (struct moe_ffn){.n_expert = E, .d_model = dm, .d_ff = d->d_ff_moe, .act = EXPERT_ACT_SILU,
                                 .gate = L->experts, .up = L->experts + E, .down = L->experts + 2 * E};
#undef NAME
    return OWL_OK;
}

static enum owl_status ds_take_mtp(struct model *m, struct ds *d, int i, struct owl_error *err)
{
    struct ds_mtp *p = &d->mtp[i];
    const int l = d->n_layer + i, dm = m->d_model;
    const int64_t emb[2] = {m->n_vocab, dm};
    const struct tensor_view *t;
    char name[200];
    enum owl_status st;
#define NAME(s) (snprintf(name, sizeof name, "model.layers.%d.%s", l, s), name)
    if ((st = model_take_vector(m, NAME("enorm.weight"), dm, &p->enorm, err)) ||
        (st = model_take_vector(m, NAME("hnorm.weight"), dm, &p->hnorm, err)) ||
        (st = model_take_vector(m, NAME("shared_head.norm.weight"), dm, &p->head_norm, err)) ||
        (st = ds_take_linear(m, d, NAME("eh_proj.weight"), dm, 2 * dm, &p->eh_proj, err)) ||
        (st = ds_take_layer(m, d, l, &p->layer, err)))
        return st;
    /* The release repeats the main embedding and head here; use the main ones when a file leaves them out. */
    p->embed = d->embed;
    p->head = d->head;
    if ((st = model_file_take_opt(&m->file, NAME("embed_tokens.weight"), PLAIN_DTYPES, 2, emb, &t, err)))
        return st;
    if (t)
        p->embed = (struct weight){.dtype = t->dtype, .d_out = m->n_vocab, .d_in = dm, .data = t->data};
    if ((st = model_file_take_opt(&m->file, NAME("shared_head.head.weight"), PLAIN_DTYPES, 2, emb, &t, err)))
        return st;
    if (t)
        p->head = (struct weight){.dtype = t->dtype, .d_out = m->n_vocab, .d_in = dm, .data = t->data};
#undef NAME
    return OWL_OK;
}

static void ds_free_layer(struct ds_layer *L, const struct ds *d)
{
    free(L->attn_norm);
    free(L->ffn_norm);
    free(L->q_a_norm);
    free(L->kv_a_norm);
    free(L->bias);
    free(L->experts);
    (void)d;
}

static void ds_free(struct model *m)
{
    struct ds *d = m->priv;
    if (!d)
        return;
    for (int l = 0; d->layers && l < d->n_layer; l++)
        ds_free_layer(&d->layers[l], d);
    for (int i = 0; d->mtp && i < d->n_mtp; i++) {
        ds_free_layer(&d->mtp[i].layer, d);
        free(d->mtp[i].enorm);
        free(d->mtp[i].hnorm);
        free(d->mtp[i].head_norm);
    }
    free(d->layers);
    free(d->mtp);
    free(d->out_norm);
    rope_free(&d->rope);
    free(d);
    m->priv = NULL;
}

/* Bytes a matmul reads: values plus FP8 block scales. */
static size_t ds_weight_bytes(const struct weight *w)
{
    size_t b = weight_bytes(w);
    if (w->dtype == DTYPE_F8_E4M3)
        b += (size_t)((w->d_out + FP8_BLOCK - 1) / FP8_BLOCK) * ((w->d_in + FP8_BLOCK - 1) / FP8_BLOCK) * sizeof(float);
    return b;
}

static size_t ds_mlp_bytes(const struct ds_mlp *p)
{
    return ds_weight_bytes(&p->gate) + ds_weight_bytes(&p->up) + ds_weight_bytes(&p->down);
}

static enum owl_status ds_load(struct model *m, struct owl_error *err)
{
    struct ds *d = xcalloc(1, sizeof *d);
    m->priv = d;
    d->v2 = strcmp(m->vt->family, "deepseek_v2") == 0;
    enum owl_status st = ds_read_config(m, d, err);
    if (st)
        return st;
    d->layers = xcalloc((size_t)d->n_layer, sizeof *d->layers);
    d->mtp = xcalloc((size_t)d->n_mtp + 1, sizeof *d->mtp);
    if ((st = model_take_linear(m, "model.embed_tokens.weight", m->n_vocab, m->d_model, &d->embed, err)) ||
        (st = model_take_vector(m, "model.norm.weight", m->d_model, &d->out_norm, err)) ||
        (st = model_take_linear(m, "lm_head.weight", m->n_vocab, m->d_model, &d->head, err)))
        return st;
    for (int l = 0; l < d->n_layer; l++)
        if ((st = ds_take_layer(m, d, l, &d->layers[l], err)))
            return st;
    /* transformers v5 writes num_nextn_predict_layers 1 by default, for files without the MTP layer: a
     * block whose enorm is absent is not there. */
    for (int i = 0; i < d->n_mtp; i++) {
        char name[96];
        const struct tensor_view *t;
        snprintf(name, sizeof name, "model.layers.%d.enorm.weight", d->n_layer + i);
        if ((st = model_file_take_opt(&m->file, name, ~0u, 0, NULL, &t, err)))
            return st;
        if (!t) {
            log_msg(LOG_INFO, "%s: num_nextn_predict_layers %d, but no %s: no MTP layers loaded", m->file.dir,
                    d->n_mtp, name);
            d->n_mtp = i;
            break;
        }
        if ((st = ds_take_mtp(m, d, i, err)))
            return st;
    }
    /* One decode step reads the attention weights, the dense MLP or the router, the shared expert and
     * k routed experts of each layer, and the output head. */
    m->decode_bytes = ds_weight_bytes(&d->head);
    for (int l = 0; l < d->n_layer; l++) {
        const struct ds_layer *L = &d->layers[l];
        const struct weight *ws[] = {&L->wq_a, &L->wq_b, &L->wq, &L->wkv_a, &L->wkv_b, &L->wk_b, &L->wv_b, &L->wo};
        for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
            if (ws[i]->data)
                m->decode_bytes += ds_weight_bytes(ws[i]);
        if (L->moe)
            m->decode_bytes += ds_weight_bytes(&L->router) + (d->n_shared ? ds_mlp_bytes(&L->shared) : 0) +
                               (size_t)d->route.k * (ds_weight_bytes(&L->routed.gate[0]) +
                                                     ds_weight_bytes(&L->routed.up[0]) +
                                                     ds_weight_bytes(&L->routed.down[0]));
        else
            m->decode_bytes += ds_mlp_bytes(&L->mlp);
    }
    /* The latent cache: per layer and token [normalized c (kv_lora_rank) | rotated k_rope]; values are
     * its first kv_lora_rank floats, so no separate V cache. */
    m->kv = (struct kv_layout){.n_layer = d->n_layer, .d_k = d->kv_rank + d->d_rope, .d_v = 0};
    return OWL_OK;
}

/* y (n, d_model) = SwiGLU MLP of x (n, d_model); gate, up: (n, d_ff) scratch. */
static void ds_mlp_forward(float *y, const float *x, const struct ds_mlp *p, int n, float *gate, float *up)
{
    op_matmul_many((struct matmul_job[]){{gate, x, &p->gate, NULL}, {up, x, &p->up, NULL}}, 2, n);
    op_swiglu(gate, gate, up, (size_t)n * p->gate.d_out);
    op_matmul(y, gate, &p->down, NULL, n);
}

struct ds_moe_scratch {
    float *logits, *wts, *y, *gate, *up, *experts;
    int32_t *ids;
};

/* out (n, d_model) = routed experts + shared experts of xn (DeepseekV3MoE / DeepseekV2Moe). */
static void ds_moe_forward(float *out, const float *xn, const struct ds_layer *L, const struct ds *d, int n,
                           const struct ds_moe_scratch *s)
{
    struct router_params route = d->route;
    route.bias = L->bias;
    op_matmul(s->logits, xn, &L->router, NULL, n);
    op_moe_route(s->ids, s->wts, s->logits, n, &route);
    op_moe(&(struct moe_args){.out = out, .x = xn, .ids = s->ids, .weights = s->wts, .n_tok = n, .k = route.k,
                              .ffn = &L->routed, .scratch = s->experts});
    if (d->n_shared) {
        ds_mlp_forward(s->y, xn, &L->shared, n, s->gate, s->up);
        op_add(out, s->y, (size_t)n * L->routed.d_model);
    }
}

/* ---- forward ------------------------------------------------------------------------------------ */

/* Width of the widest plain SwiGLU MLP: dense or shared experts. */
static int ds_max_ff(const struct ds *d)
{
    return d->d_ff > d->n_shared * d->d_ff_moe ? d->d_ff : d->n_shared * d->d_ff_moe;
}

static size_t ds_scratch_floats(const struct model *m, int n_batch, int n_ctx)
{
    const struct ds *d = m->priv;
    const size_t n = (size_t)n_batch, nh = (size_t)d->n_head, d_k = (size_t)m->kv.d_k, ctx = (size_t)n_ctx;
    const struct moe_ffn routed = {.d_model = m->d_model, .d_ff = d->d_ff_moe};
    size_t f = scratch_round(n * m->d_model) * 4                 /* x, xn, out, y */
             + scratch_round(n * nh * d->d_qk)                   /* q */
             + scratch_round(n * (d->q_rank ? d->q_rank : 1))    /* cq */
             + scratch_round(n * nh * d_k)                       /* q_abs */
             + scratch_round(n * d_k)                            /* new latent rows */
             + scratch_round(n * nh * d->kv_rank)                /* o_lat */
             + scratch_round(n * nh * d->d_v)                    /* att */
             + scratch_round(n * ds_max_ff(d)) * 2               /* gate, up */
             + scratch_round(n * d->n_expert)                    /* router logits */
             + scratch_round(n * d->route.k) * 2                 /* ids, weights */
             + moe_scratch_floats(&routed, n_batch)              /* op_moe's */
             + scratch_round(n * d->d_rope / 2) * 2;             /* cos, sin */
    if (d->expanded)
        f += scratch_round(ctx * nh * (d->d_nope + d->d_v)) + scratch_round(ctx * nh * d->d_qk) +
             scratch_round(ctx * nh * d->d_v) + scratch_round(ctx * d_k);
    return f;
}

/* Attention of one layer: xn (n, d_model) -> att (n, n_head*d_v); appends the n new latent rows. */
struct ds_attn_scratch {
    float *q, *cq, *q_abs, *kv_new, *o_lat, *att, *cos, *sin, *kvx, *kx, *vx, *kc;
};

static void ds_attention(const struct ds *d, const struct ds_layer *L, const struct forward_args *a, int l,
                         const float *xn, const struct ds_attn_scratch *s)
{
    const int n = a->n_tok, nh = d->n_head, r = d->kv_rank, d_k = r + d->d_rope, d_qk = d->d_qk;
    float *k_new = s->kv_new; /* (n, d_k) rows [c | k_rope], then appended to each sequence's cache */

    if (d->q_rank) {
        op_matmul(s->cq, xn, &L->wq_a, NULL, n);
        op_rmsnorm(s->cq, s->cq, L->q_a_norm, n, d->q_rank, 1e-6f); /* HF builds q_a_layernorm with eps 1e-6 */
        op_matmul(s->q, s->cq, &L->wq_b, NULL, n);
    } else {
        op_matmul(s->q, xn, &L->wq, NULL, n);
    }
    op_matmul(k_new, xn, &L->wkv_a, NULL, n); /* (n, kv_rank + d_rope) */
    for (int t = 0; t < n; t++)               /* kv_a_layernorm on the latent part only */
        op_rmsnorm(k_new + (size_t)t * d_k, k_new + (size_t)t * d_k, L->kv_a_norm, 1, r, 1e-6f);
    op_rope(s->q + d->d_nope, n, nh, nh * d_qk, d_qk, d->d_rope, s->cos, s->sin, ROPE_PAIRING_INTERLEAVED);
    op_rope(k_new + r, n, 1, d_k, 0, d->d_rope, s->cos, s->sin, ROPE_PAIRING_INTERLEAVED);
    forward_store_kv(a, l, k_new, d_k, NULL, 0);
    const int row_stride = d->d_nope + d->d_v;

    if (!d->expanded) {
        /* q_abs[t,h] = [W_uk_hᵀ q_nope[t,h] | q_rope[t,h]]: kv_b's k rows transposed, or k_b's rows as they are */
        const bool split = L->wk_b.data != NULL;
        op_matmul_heads(&(struct heads_matmul_args){
            .y = s->q_abs, .x = s->q, .w = split ? &L->wk_b : &L->wkv_b, .n_tok = n, .n_head = nh, .row0 = 0,
            .row_stride = split ? r : row_stride, .n_rows = split ? r : d->d_nope, .x_tok_stride = nh * d_qk,
            .x_head_stride = d_qk, .y_tok_stride = nh * d_k, .y_head_stride = d_k, .transposed = !split});
        for (int t = 0; t < n; t++)
            for (int h = 0; h < nh; h++)
                memcpy(s->q_abs + ((size_t)t * nh + h) * d_k + r, s->q + ((size_t)t * nh + h) * d_qk + d->d_nope,
                       (size_t)d->d_rope * sizeof(float));
        /* one KV head: keys are the cache rows, values their first kv_rank floats */
        forward_attention(a, l, &(struct attn_args){
            .out = s->o_lat, .q = s->q_abs, .k_stride = d_k, .v_stride = d_k, .n_head = nh, .n_kv_head = 1,
            .d_k = d_k, .d_v = r, .scale = (float)d->attn_scale}, true);
        /* att[t,h] = W_uv_h o_lat[t,h] */
        op_matmul_heads(&(struct heads_matmul_args){
            .y = s->att, .x = s->o_lat, .w = split ? &L->wv_b : &L->wkv_b, .n_tok = n, .n_head = nh,
            .row0 = split ? 0 : d->d_nope, .row_stride = split ? d->d_v : row_stride, .n_rows = d->d_v,
            .x_tok_stride = nh * r, .x_head_stride = r,
            .y_tok_stride = nh * d->d_v, .y_head_stride = d->d_v, .transposed = false});
        return;
    }
    /* Expanded (HF's order), one sequence at a time: per-head k_nope and v of every cached position from
     * kv_b_proj. */
    for (int q = 0, t0 = 0; q < a->n_seq; t0 += a->seq[q++].n_tok) {
        const int T = a->seq[q].n_past + a->seq[q].n_tok;
        float *kc = s->kc; /* (T, d_k): the cached latent rows as fp32 */
        forward_k_rows(a, q, l, 0, T, d_k, kc);
        op_matmul_heads(&(struct heads_matmul_args){
            .y = s->kvx, .x = kc, .w = &L->wkv_b, .n_tok = T, .n_head = 1, .row0 = 0, .row_stride = 0,
            .n_rows = nh * row_stride, .x_tok_stride = d_k, .x_head_stride = 0, .y_tok_stride = nh * row_stride,
            .y_head_stride = 0, .transposed = false});
        for (int p = 0; p < T; p++)
            for (int h = 0; h < nh; h++) {
                const float *kv = s->kvx + ((size_t)p * nh + h) * row_stride;
                float *kh = s->kx + ((size_t)p * nh + h) * d_qk;
                memcpy(kh, kv, (size_t)d->d_nope * sizeof(float));
                memcpy(kh + d->d_nope, kc + (size_t)p * d_k + r, (size_t)d->d_rope * sizeof(float));
                memcpy(s->vx + ((size_t)p * nh + h) * d->d_v, kv + d->d_nope, (size_t)d->d_v * sizeof(float));
            }
        op_attention(&(struct attn_args){
            .out = s->att + (size_t)t0 * nh * d->d_v, .q = s->q + (size_t)t0 * nh * d_qk, .k = s->kx, .v = s->vx,
            .k_stride = nh * d_qk, .v_stride = nh * d->d_v, .n_tok = a->seq[q].n_tok, .n_past = a->seq[q].n_past,
            .n_head = nh, .n_kv_head = nh, .d_k = d_qk, .d_v = d->d_v, .scale = (float)d->attn_scale});
    }
}

static void ds_forward(const struct model *m, const struct forward_args *a)
{
    const struct ds *d = m->priv;
    const int n = a->n_tok, dm = m->d_model, nh = d->n_head;
    float *cur = a->scratch;
    float *x = scratch_take(&cur, (size_t)n * dm);   /* (n, d_model) residual stream */
    float *xn = scratch_take(&cur, (size_t)n * dm);  /* (n, d_model) normed input of a block */
    float *out = scratch_take(&cur, (size_t)n * dm); /* (n, d_model) a block's output */
    struct ds_attn_scratch as = {0};
    as.q = scratch_take(&cur, (size_t)n * nh * d->d_qk);                  /* (n, n_head, d_qk) */
    as.cq = scratch_take(&cur, (size_t)n * (d->q_rank ? d->q_rank : 1));  /* (n, q_lora_rank) */
    as.q_abs = scratch_take(&cur, (size_t)n * nh * m->kv.d_k);            /* (n, n_head, kv_rank + d_rope) */
    as.kv_new = scratch_take(&cur, (size_t)n * m->kv.d_k);                /* (n, kv_rank + d_rope) */
    as.o_lat = scratch_take(&cur, (size_t)n * nh * d->kv_rank);           /* (n, n_head, kv_rank) */
    as.att = scratch_take(&cur, (size_t)n * nh * d->d_v);                 /* (n, n_head, d_v) */
    as.cos = scratch_take(&cur, (size_t)n * d->d_rope / 2);               /* (n, d_rope/2) */
    as.sin = scratch_take(&cur, (size_t)n * d->d_rope / 2);
    struct ds_moe_scratch ms = {0};
    const struct moe_ffn routed = {.d_model = dm, .d_ff = d->d_ff_moe};
    ms.y = scratch_take(&cur, (size_t)n * dm);                       /* (n, d_model) shared experts' output */
    ms.gate = scratch_take(&cur, (size_t)n * ds_max_ff(d));          /* (n, d_ff) */
    ms.up = scratch_take(&cur, (size_t)n * ds_max_ff(d));
    ms.logits = scratch_take(&cur, (size_t)n * d->n_expert);         /* (n, n_expert) */
    ms.wts = scratch_take(&cur, (size_t)n * d->route.k);             /* (n, k) */
    ms.ids = (int32_t *)scratch_take(&cur, (size_t)n * d->route.k);  /* (n, k) */
    ms.experts = scratch_take(&cur, moe_scratch_floats(&routed, n)); /* op_moe's */
    if (d->expanded) {
        const size_t ctx = (size_t)a->n_ctx;
        as.kvx = scratch_take(&cur, ctx * nh * (d->d_nope + d->d_v)); /* (n_ctx, n_head, d_nope + d_v) */
        as.kx = scratch_take(&cur, ctx * nh * d->d_qk);               /* (n_ctx, n_head, d_qk) */
        as.vx = scratch_take(&cur, ctx * nh * d->d_v);                /* (n_ctx, n_head, d_v) */
        as.kc = scratch_take(&cur, ctx * (size_t)m->kv.d_k);          /* (n_ctx, kv_rank + d_rope) */
    }

    op_embed(x, &d->embed, a->tokens, n);
    forward_rope_tables(&d->rope, a, as.cos, as.sin);
    for (int l = 0; l < d->n_layer; l++) {
        const struct ds_layer *L = &d->layers[l];
        op_rmsnorm(xn, x, L->attn_norm, n, dm, d->eps);
        ds_attention(d, L, a, l, xn, &as);
        op_matmul(out, as.att, &L->wo, NULL, n);
        op_add(x, out, (size_t)n * dm);

        op_rmsnorm(xn, x, L->ffn_norm, n, dm, d->eps);
        if (L->moe)
            ds_moe_forward(out, xn, L, d, n, &ms);
        else
            ds_mlp_forward(out, xn, &L->mlp, n, ms.gate, ms.up);
        op_add(x, out, (size_t)n * dm);
    }
    if (!a->logits)
        return;
    const int rows = forward_head_rows(a, xn, x, dm, d->out_norm, d->eps);
    op_matmul(a->logits, xn, &d->head, NULL, rows);
}

static void ds_describe(const struct model *m, char *buf, size_t size)
{
    const struct ds *d = m->priv;
    char rope[256], q[64];
    rope_describe(&d->rope, rope, sizeof rope);
    if (d->q_rank)
        snprintf(q, sizeof q, "q_lora_rank %d", d->q_rank);
    else
        snprintf(q, sizeof q, "plain q_proj");
    const struct router_params *r = &d->route;
    const char *router = r->kind == ROUTER_SIGMOID_NOAUX ? "sigmoid + correction bias, group top-2 sums (noaux_tc)"
                         : r->n_group > 1                ? "softmax, group max (group_limited_greedy)"
                                                         : "softmax top-k (greedy)";
    snprintf(buf, size,
             "family %s (MLA + MoE)\nlayers %d (%d dense), d_model %d, d_ff %d, vocab %d\n"
             "attention MLA: %d heads, %s, kv_lora_rank %d, qk_nope %d, qk_rope %d, v %d, "
             "softmax scale %.6g (%s form)\n"
             "KV cache: latent %d + rope %d = %d floats per token and layer\n%s\n"
             "MoE: %d routed experts (width %d), %d per token, %d shared, %d groups / top %d, %s, scaling %g%s\n"
             "weights %s%s, MTP layers %d (loaded, not run)\n",
             m->vt->family, d->n_layer, d->n_dense, m->d_model, d->d_ff, m->n_vocab, d->n_head, q, d->kv_rank,
             d->d_nope, d->d_rope, d->d_v, d->attn_scale, d->expanded ? "expanded" : "absorbed", d->kv_rank,
             d->d_rope, d->kv_rank + d->d_rope, rope, d->n_expert, d->d_ff_moe, r->k, d->n_shared, r->n_group,
             r->topk_group, router, r->scale, r->norm_topk ? ", renormalized" : "",
             d->fp8 ? "FP8 e4m3 128x128 blocks + " : "", dtype_name(d->embed.dtype), d->n_mtp);
}

/* ---- inspect: the architecture and its parameter counts from the config alone ---------------------- */

/* Parameters and stored bytes of one block, with fp8: matrices in F8_E4M3 plus fp32 128x128 block scales. */
struct ds_count {
    bool fp8;
    int64_t params;
    int64_t fp8_bytes, scale_bytes, plain; /* plain: values stored in the config's dtype */
};

static void ds_count_matrix(struct ds_count *c, int64_t d_out, int64_t d_in)
{
    c->params += d_out * d_in;
    if (!c->fp8) {
        c->plain += d_out * d_in;
        return;
    }
    c->fp8_bytes += d_out * d_in;
    c->scale_bytes += ((d_out + FP8_BLOCK - 1) / FP8_BLOCK) * ((d_in + FP8_BLOCK - 1) / FP8_BLOCK) * 4;
}

static void ds_count_plain(struct ds_count *c, int64_t n)
{
    c->params += n;
    c->plain += n;
}

/* One decoder layer (attention, norms, dense MLP or router + shared experts); routed experts apart. */
static void ds_count_layer(struct ds_count *c, struct ds_count *experts, const struct ds *d, int64_t dm, bool moe)
{
    const int64_t nh = d->n_head;
    if (d->q_rank) {
        ds_count_matrix(c, d->q_rank, dm);
        ds_count_plain(c, d->q_rank); /* q_a_layernorm */
        ds_count_matrix(c, nh * d->d_qk, d->q_rank);
    } else {
        ds_count_matrix(c, nh * d->d_qk, dm);
    }
    ds_count_matrix(c, d->kv_rank + d->d_rope, dm);
    ds_count_plain(c, d->kv_rank); /* kv_a_layernorm */
    ds_count_matrix(c, nh * (d->d_nope + d->d_v), d->kv_rank);
    ds_count_matrix(c, dm, nh * d->d_v);
    ds_count_plain(c, 2 * dm); /* input_layernorm, post_attention_layernorm */
    if (!moe) {
        for (int i = 0; i < 3; i++)
            ds_count_matrix(c, i == 2 ? dm : d->d_ff, i == 2 ? d->d_ff : dm);
        return;
    }
    ds_count_plain(c, (int64_t)d->n_expert * dm); /* router, bf16 in FP8 releases */
    if (d->route.kind == ROUTER_SIGMOID_NOAUX) {
        c->params += d->n_expert; /* e_score_correction_bias, fp32 */
        c->scale_bytes += (int64_t)d->n_expert * 4;
    }
    const int64_t sh = (int64_t)d->n_shared * d->d_ff_moe;
    if (sh)
        for (int i = 0; i < 3; i++)
            ds_count_matrix(c, i == 2 ? dm : sh, i == 2 ? sh : dm);
    for (int e = 0; e < d->n_expert; e++)
        for (int i = 0; i < 3; i++)
            ds_count_matrix(experts, i == 2 ? dm : d->d_ff_moe, i == 2 ? d->d_ff_moe : dm);
}

static enum owl_status ds_describe_config(const struct kv_table *kv, struct owl_model_info *info,
                                          struct owl_error *err)
{
    struct model m = {0};
    m.file.config = *kv; /* borrowed for ds_read_config; never closed */
    struct ds d = {0};
    d.v2 = strcmp(info->family, "deepseek_v2") == 0;
    enum owl_status st = ds_read_config(&m, &d, err);
    if (st) {
        rope_free(&d.rope);
        return st;
    }
    const int64_t dm = m.d_model, V = m.n_vocab;
    struct ds_count main = {.fp8 = d.fp8}, experts = {.fp8 = d.fp8}, mtp = {.fp8 = d.fp8};
    ds_count_plain(&main, 2 * V * dm + dm); /* embed_tokens, lm_head, model.norm */
    for (int l = 0; l < d.n_layer; l++)
        ds_count_layer(&main, &experts, &d, dm, l >= d.n_dense);
    /* MTP block as released: a MoE layer, enorm, hnorm, shared_head.norm, eh_proj, its own copies of the
     * embedding and head */
    for (int i = 0; i < d.n_mtp; i++) {
        ds_count_layer(&mtp, &mtp, &d, dm, true);
        ds_count_plain(&mtp, 3 * dm + 2 * dm * dm + 2 * V * dm);
    }
    info->n_params = main.params + experts.params;
    info->n_params_embedding = 2 * V * dm;
    info->n_params_experts = experts.params;
    info->n_params_active = info->n_params - V * dm - experts.params + experts.params / d.n_expert * d.route.k;
    info->n_params_mtp = mtp.params;
    model_info_add_bytes(info, "F8_E4M3", (uint64_t)(main.fp8_bytes + experts.fp8_bytes + mtp.fp8_bytes));
    model_info_add_bytes(info, "F32", (uint64_t)(main.scale_bytes + experts.scale_bytes + mtp.scale_bytes));
    model_info_plain_bytes(kv, info, main.plain + experts.plain + mtp.plain);
    snprintf(info->quantization, sizeof info->quantization, "%s",
             d.fp8 ? "FP8 e4m3, 128x128 block scales" : "none");

    snprintf(info->variant, sizeof info->variant, "MLA + MoE");
    info->n_layer = d.n_layer;
    info->d_model = m.d_model;
    info->n_vocab = m.n_vocab;
    info->d_ff = d.n_dense ? d.d_ff : 0;
    snprintf(info->attention, sizeof info->attention, "MLA");
    info->n_head = d.n_head;
    info->n_kv_head = 1; /* the latent, shared by all heads */
    info->d_head = d.d_qk;
    info->d_v = d.d_v;
    info->q_lora_rank = d.q_rank;
    info->kv_lora_rank = d.kv_rank;
    info->d_rope = d.d_rope;
    info->n_moe_layers = d.n_layer - d.n_dense;
    info->n_expert = d.n_expert;
    info->n_expert_used = d.route.k;
    info->n_shared_expert = d.n_shared;
    info->d_ff_expert = d.d_ff_moe;
    const struct router_params *r = &d.route;
    char groups[32] = "";
    if (r->n_group > 1)
        snprintf(groups, sizeof groups, "%d groups (top %d), ", r->n_group, r->topk_group);
    snprintf(info->router, sizeof info->router, "%s, %stop-%d%s, x%g",
             r->kind == ROUTER_SIGMOID_NOAUX ? "sigmoid + bias" : "softmax", groups, r->k,
             r->norm_topk ? ", renormalized" : "", (double)r->scale);
    /* the latent cache: kv_lora_rank + qk_rope_head_dim floats per layer and token */
    info->kv_bytes_per_token = (uint64_t)d.n_layer * (uint64_t)(d.kv_rank + d.d_rope) * sizeof(float);
    info->n_ctx = m.n_ctx_train;
    /* DeepSeek-V2/V3 extend 4096 -> 128K with YaRN in a training stage (technical reports) */
    model_info_rope(info, &d.rope, "pre-training");
    rope_free(&d.rope);
    return OWL_OK;
}

/* Tensors: layers at index >= num_hidden_layers are the MTP block(s); *_scale_inv are FP8 block scales. */
static void ds_classify(const struct owl_model_info *info, const struct tensor_view *t, struct tensor_class *c)
{
    const size_t n = strlen(t->name);
    int l = -1;
    if (n > 10 && strcmp(t->name + n - 10, "_scale_inv") == 0)
        c->role = TENSOR_SCALE;
    else if (sscanf(t->name, "model.layers.%d.", &l) == 1 && l >= info->n_layer)
        c->role = TENSOR_MTP;
    else if (strcmp(t->name, "model.embed_tokens.weight") == 0)
        c->role = TENSOR_EMBED;
    else if (strcmp(t->name, "lm_head.weight") == 0)
        c->role = TENSOR_HEAD;
    else if (strstr(t->name, ".mlp.experts."))
        c->role = TENSOR_EXPERT;
}

const struct model_vtable deepseek_v3_vtable = {
    .family = "deepseek_v3",
    .load = ds_load,
    .free_priv = ds_free,
    .scratch_floats = ds_scratch_floats,
    .forward = ds_forward,
    .describe = ds_describe,
    .describe_config = ds_describe_config,
    .classify = ds_classify,
};

/* DeepSeek-V2 / V2-Lite: the same file with the V2 router (ARCHITECTURES.md 4.12). */
const struct model_vtable deepseek_v2_vtable = {
    .family = "deepseek_v2",
    .load = ds_load,
    .free_priv = ds_free,
    .scratch_floats = ds_scratch_floats,
    .forward = ds_forward,
    .describe = ds_describe,
    .describe_config = ds_describe_config,
    .classify = ds_classify,
};
