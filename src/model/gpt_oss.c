/* gpt_oss.c — OpenAI GPT-OSS (gpt-oss-20b, gpt-oss-120b): config, weights and forward, top to bottom.
 *
 * Mirrors transformers' models/gpt_oss/modeling_gpt_oss.py (GptOssForCausalLM; eager attention, eager
 * experts) and openai/gpt-oss gpt_oss/torch/model.py:
 *   h = embed(tokens)
 *   per layer: a = RMSNorm(h); q, k, v = a·Wᵀ + b; YaRN RoPE (half-split) on q, k
 *              h += o_proj(attn) + b_o, attn = softmax over [q·kᵀ/√d + mask, sink_h] without the sink column;
 *              the mask is causal, and on "sliding_attention" layers (config layer_types) also keeps only the
 *              last sliding_window keys (key j visible from query i iff i − window < j ≤ i)
 *              m = RMSNorm(h); (w, e) = softmax over the top-k of router(m) + b_r
 *              h += Σ_j w_j · (act(m·W_gu[e_j]ᵀ + b_gu) · W_d[e_j]ᵀ + b_d), act the clamped SwiGLU on
 *              interleaved (gate, up) columns
 *   logits = lm_head(RMSNorm(h))
 * Experts load as released (MXFP4 *_blocks + *_scales, used in place at 4.25 bits per weight), in the
 * bf16 layout transformers writes after dequantizing (input-major [E, in, out]: transposed once at load), or
 * as llama.cpp's GGUF has them: gate and up split apart (per-expert views of GGML MXFP4 stacks, biases
 * apart), the same numbers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/rope.h"

struct gpt_oss_layer {
    float *attn_norm;     /* input_layernorm (d_model), fp32 copy */
    float *ffn_norm;      /* post_attention_layernorm (d_model) */
    struct weight wq;     /* (n_head*d_head, d_model) */
    struct weight wk;     /* (n_kv_head*d_head, d_model) */
    struct weight wv;     /* (n_kv_head*d_head, d_model) */
    struct weight wo;     /* (d_model, n_head*d_head) */
    float *bq, *bk, *bv, *bo; /* their biases, fp32; NULL when attention_bias is false */
    float *sinks;         /* self_attn.sinks (n_head): one extra softmax logit per head */
    int window;           /* sliding_window on "sliding_attention" layers, 0 on "full_attention" ones */
    struct weight router; /* mlp.router.weight (n_expert, d_model) */
    float *router_bias;   /* mlp.router.bias (n_expert) */
    struct weight *experts; /* (2, n_expert) owned views: gate_up (2*d_ff, d_model), down (d_model, d_ff);
                               split layout: (3, n_expert): gate, up (d_ff, d_model), down */
    void *transposed;     /* owned copy of the bf16-layout experts in (E, out, in) order, or NULL (MXFP4) */
    float *gate_up_bias;  /* (n_expert, 2*d_ff), interleaved like gate_up */
    float *gate_bias, *up_bias; /* split layout: (n_expert, d_ff) each */
    float *down_bias;     /* (n_expert, d_model) */
    struct moe_ffn moe;   /* points into the above */
};

struct gpt_oss {
    int n_layer;       /* num_hidden_layers */
    int n_head;        /* num_attention_heads */
    int n_kv_head;     /* num_key_value_heads */
    int d_head;        /* head_dim (independent of hidden_size: 64 heads x 64 = 4096 vs 2880) */
    int d_ff;          /* intermediate_size: per expert */
    int n_expert;      /* num_local_experts */
    int n_expert_used; /* num_experts_per_tok (legacy experts_per_token) */
    int window;        /* sliding_window */
    float eps;         /* rms_norm_eps */
    float limit;       /* swiglu_limit (HF's eager experts hard-code 7.0, the released value) */
    bool mxfp4;        /* experts stored as MXFP4 blocks */
    bool split;        /* gate and up stored apart, one tensor per expert (GGUF) */
    struct rope rope;
    struct weight embed; /* model.embed_tokens.weight (n_vocab, d_model) */
    struct weight head;  /* lm_head.weight (n_vocab, d_model) */
    float *out_norm;     /* model.norm.weight (d_model) */
    struct gpt_oss_layer *layers; /* (n_layer) */
    unsigned char *windowed;      /* (n_layer) 1 for the sliding layers (kv_layout.windowed) */
};

/* GptOssExperts: alpha in sigmoid(alpha * gate). */
#define SWIGLU_ALPHA 1.702f

static enum owl_status gpt_oss_read_config(struct model *m, struct gpt_oss *g, struct owl_error *err)
{
    const struct kv_table *kv = &m->file.config;
    enum owl_status st;
    int64_t n_ctx = 131072;
    double eps = 1e-5, limit = 7.0;
    if ((st = kv_get_dim(kv, "vocab_size", 1, 1 << 24, &m->n_vocab, err)) ||
        (st = kv_get_dim(kv, "hidden_size", 1, 1 << 16, &m->d_model, err)) ||
        (st = kv_get_dim(kv, "num_hidden_layers", 1, 1024, &g->n_layer, err)) ||
        (st = kv_get_dim(kv, "num_attention_heads", 1, 1024, &g->n_head, err)) ||
        (st = kv_get_dim(kv, "intermediate_size", 1, 1 << 20, &g->d_ff, err)) ||
        (st = kv_get_dim(kv, "num_local_experts", 1, 1 << 16, &g->n_expert, err)) ||
        (st = kv_get_int_opt(kv, "max_position_embeddings", &n_ctx, err)) ||
        (st = kv_get_float_opt(kv, "rms_norm_eps", &eps, err)) ||
        (st = kv_get_float_opt(kv, "swiglu_limit", &limit, err)))
        return st;
    const char *k_key = kv_has(kv, "num_experts_per_tok") ? "num_experts_per_tok" : "experts_per_token";
    if ((st = kv_get_dim(kv, k_key, 1, g->n_expert, &g->n_expert_used, err)))
        return st;
    g->n_kv_head = g->n_head;
    g->d_head = m->d_model / g->n_head;
    if (kv_has(kv, "num_key_value_heads") &&
        (st = kv_get_dim(kv, "num_key_value_heads", 1, g->n_head, &g->n_kv_head, err)))
        return st;
    if (kv_has(kv, "head_dim") && (st = kv_get_dim(kv, "head_dim", 2, 1024, &g->d_head, err)))
        return st;
    if (g->n_head % g->n_kv_head)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                    kv->source, g->n_head, g->n_kv_head);
    if (n_ctx < 1 || n_ctx > (1 << 30))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'max_position_embeddings' = %lld, expected 1..2^30",
                    kv->source, (long long)n_ctx);
    if (!(eps > 0 && eps < 1))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'rms_norm_eps' = %g, expected in (0, 1)", kv->source, eps);
    if (!(limit > 0))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'swiglu_limit' = %g, expected > 0", kv->source, limit);
    const char *quant = NULL;
    if ((st = kv_get_str_opt(kv, "quantization_config.quant_method", &quant, err)))
        return st;
    if (quant && strcmp(quant, "mxfp4") != 0)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: quantization_config.quant_method '%s', expected 'mxfp4'",
                    kv->source, quant);
    /* transformers substitutes the released YaRN when the rope fields are absent; owl asks for them */
    if (!kv_has(kv, "rope_scaling.rope_type") && !kv_has(kv, "rope_scaling.type") &&
        !kv_has(kv, "rope_parameters.rope_type"))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: missing field 'rope_scaling' (or 'rope_parameters'): gpt_oss needs "
                    "its YaRN settings spelled out", kv->source);
    if (kv_has(kv, "sliding_window") && (st = kv_get_dim(kv, "sliding_window", 1, 1 << 30, &g->window, err)))
        return st;
    m->n_ctx_train = (int)n_ctx;
    g->eps = (float)eps;
    g->limit = (float)limit;
    return rope_init(&g->rope, kv, g->d_head, n_ctx, err);
}

/* Layer l's attention kind from layer_types ("sliding_attention" | "full_attention"); without the field,
 * GptOssConfig's default: even layers slide. */
static enum owl_status gpt_oss_layer_window(const struct model *m, const struct gpt_oss *g, int l, int *window,
                                            struct owl_error *err)
{
    const struct kv_table *kv = &m->file.config;
    const struct kv_value *types = kv_find(kv, "layer_types");
    bool sliding = l % 2 == 0;
    if (types && types->type != KV_NULL) {
        if (types->type != KV_ARRAY || types->n_items != g->n_layer)
            return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'layer_types': expected an array of %d strings",
                        kv->source, g->n_layer);
        const struct kv_value *t = &types->items[l];
        if (t->type != KV_STRING ||
            (strcmp(t->s, "sliding_attention") != 0 && strcmp(t->s, "full_attention") != 0))
            return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'layer_types'[%d]: expected 'sliding_attention' or "
                        "'full_attention'", kv->source, l);
        sliding = strcmp(t->s, "sliding_attention") == 0;
    }
    *window = 0;
    if (sliding) {
        enum owl_status st = kv_get_dim(kv, "sliding_window", 1, 1 << 30, window, err);
        if (st)
            return st;
    }
    return OWL_OK;
}

/* A (rows, cols) tensor converted to an owned fp32 array (expert biases: small). */
static enum owl_status take_matrix_f32(struct model *m, const char *name, int rows, int cols, float **out,
                                       struct owl_error *err)
{
    const int64_t shape[2] = {rows, cols};
    const struct tensor_view *t;
    const uint32_t dtypes = (1u << DTYPE_F32) | (1u << DTYPE_F16) | (1u << DTYPE_BF16);
    enum owl_status st = model_file_take(&m->file, name, dtypes, 2, shape, &t, err);
    if (st)
        return st;
    *out = xcalloc((size_t)rows * cols, sizeof(float));
    weight_to_f32(*out, t->data, t->dtype, (size_t)rows * cols);
    return OWL_OK;
}

/* Released MXFP4 experts: blocks (E, out, in/32, 16) and scales (E, out, in/32), uint8, used in place. */
static enum owl_status take_mxfp4_stack(struct model *m, const char *prefix, int E, int d_out, int d_in,
                                        struct weight *out, struct owl_error *err)
{
    char name[200];
    const int64_t bshape[4] = {E, d_out, d_in / 32, 16}, sshape[3] = {E, d_out, d_in / 32};
    const struct tensor_view *b, *s;
    enum owl_status st;
    if (d_in % 32)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s_blocks: MXFP4 input dimension %d is not a multiple of 32", prefix,
                    d_in);
    snprintf(name, sizeof name, "%s_blocks", prefix);
    if ((st = model_file_take(&m->file, name, 1u << DTYPE_U8, 4, bshape, &b, err)))
        return st;
    snprintf(name, sizeof name, "%s_scales", prefix);
    if ((st = model_file_take(&m->file, name, 1u << DTYPE_U8, 3, sshape, &s, err)))
        return st;
    *out = (struct weight){.dtype = DTYPE_U8, .d_out = d_out, .d_in = d_in, .data = b->data, .scales = s->data,
                           .n_expert = E, .expert_stride = (size_t)d_out * d_in / 2,
                           .scale_expert_stride = (size_t)d_out * d_in / 32};
    return OWL_OK;
}

/* bf16 layout: (E, d_in, d_out) as transformers holds it (used as x @ W); copied once into (E, d_out, d_in)
 * at *dst (owned by the layer), the orientation every matmul kernel reads. */
static enum owl_status take_transposed_stack(struct model *m, const char *name, int E, int d_out, int d_in,
                                             char *dst, struct weight *out, struct owl_error *err)
{
    const int64_t shape[3] = {E, d_in, d_out};
    const struct tensor_view *t;
    const uint32_t dtypes = (1u << DTYPE_F32) | (1u << DTYPE_F16) | (1u << DTYPE_BF16);
    enum owl_status st = model_file_take(&m->file, name, dtypes, 3, shape, &t, err);
    if (st)
        return st;
    const size_t es = dtype_size(t->dtype), mat = (size_t)d_out * d_in * es;
    for (int e = 0; e < E; e++) {
        const char *src = (const char *)t->data + (size_t)e * mat;
        char *d = dst + (size_t)e * mat;
        for (int i = 0; i < d_in; i++)
            for (int o = 0; o < d_out; o++)
                memcpy(d + ((size_t)o * d_in + i) * es, src + ((size_t)i * d_out + o) * es, es);
    }
    *out = (struct weight){.dtype = t->dtype, .d_out = d_out, .d_in = d_in, .data = dst, .n_expert = E,
                           .expert_stride = mat};
    return OWL_OK;
}

/* GGUF's layout: per-expert gate, up and down matrices (views of the stacks) and (E, d_ff) biases for gate
 * and up, the even and odd columns of gate_up_proj_bias. */
static enum owl_status gpt_oss_take_split_experts(struct model *m, struct gpt_oss *g, int l, struct owl_error *err)
{
    struct gpt_oss_layer *L = &g->layers[l];
    const int E = g->n_expert, d = m->d_model, f = g->d_ff;
    static const char *const proj[3] = {"gate_proj", "up_proj", "down_proj"};
    char name[200];
    enum owl_status st;
    L->experts = xcalloc((size_t)3 * E, sizeof *L->experts);
    for (int p = 0; p < 3; p++)
        for (int e = 0; e < E; e++) {
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.%s.weight", l, e, proj[p]);
            if ((st = model_take_linear(m, name, p < 2 ? f : d, p < 2 ? d : f, &L->experts[p * E + e], err)))
                return st;
        }
    model_mxfp4_slabs(m, L->experts, 3 * E); /* GGUF's MXFP4 experts, for the act q8 kernels */
    float **bias[3] = {&L->gate_bias, &L->up_bias, &L->down_bias};
    for (int p = 0; p < 3; p++) {
        snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%s_bias", l, proj[p]);
        if ((st = take_matrix_f32(m, name, E, p < 2 ? f : d, bias[p], err)))
            return st;
    }
    L->moe = (struct moe_ffn){.n_expert = E, .d_model = d, .d_ff = f, .act = EXPERT_ACT_SWIGLU_OAI,
                              .alpha = SWIGLU_ALPHA, .limit = g->limit, .gate = L->experts, .up = L->experts + E,
                              .down = L->experts + 2 * E, .gate_bias = L->gate_bias, .up_bias = L->up_bias,
                              .down_bias = L->down_bias};
    return OWL_OK;
}

static enum owl_status gpt_oss_take_experts(struct model *m, struct gpt_oss *g, int l, struct owl_error *err)
{
    struct gpt_oss_layer *L = &g->layers[l];
    const int E = g->n_expert, d = m->d_model, f = g->d_ff;
    char gu[160], dn[160], name[200];
    if (g->split)
        return gpt_oss_take_split_experts(m, g, l, err);
    snprintf(gu, sizeof gu, "model.layers.%d.mlp.experts.gate_up_proj", l);
    snprintf(dn, sizeof dn, "model.layers.%d.mlp.experts.down_proj", l);
    struct weight gate_up, down;
    enum owl_status st;
    if (g->mxfp4) {
        if ((st = take_mxfp4_stack(m, gu, E, 2 * f, d, &gate_up, err)) ||
            (st = take_mxfp4_stack(m, dn, E, d, f, &down, err)))
            return st;
    } else {
        const struct tensor_view *t = NULL;
        const int64_t shape[3] = {E, d, 2 * f};
        if ((st = model_file_take_opt(&m->file, gu, ~0u, 3, shape, &t, err)))
            return st;
        /* both stacks in the dtype of gate_up (the loader checks down's); 4 bytes per value is the most */
        const size_t es = t ? dtype_size(t->dtype) : 4, n_gu = (size_t)E * 2 * f * d;
        L->transposed = xcalloc(n_gu + (size_t)E * d * f, es);
        if ((st = take_transposed_stack(m, gu, E, 2 * f, d, L->transposed, &gate_up, err)) ||
            (st = take_transposed_stack(m, dn, E, d, f, (char *)L->transposed + n_gu * es, &down, err)))
            return st;
        if (down.dtype != gate_up.dtype)
            return fail(err, OWL_ERR_UNSUPPORTED, "%s: dtype %s differs from gate_up_proj's %s", dn,
                        dtype_name(down.dtype), dtype_name(gate_up.dtype));
    }
    L->experts = xcalloc((size_t)2 * E, sizeof *L->experts);
    for (int e = 0; e < E; e++) {
        L->experts[e] = weight_expert(&gate_up, e);
        L->experts[E + e] = weight_expert(&down, e);
    }
    model_mxfp4_slabs(m, L->experts, 2 * E); /* the released MXFP4 experts, for the act q8 kernels */
    snprintf(name, sizeof name, "%s_bias", gu);
    if ((st = take_matrix_f32(m, name, E, 2 * f, &L->gate_up_bias, err)))
        return st;
    snprintf(name, sizeof name, "%s_bias", dn);
    if ((st = take_matrix_f32(m, name, E, d, &L->down_bias, err)))
        return st;
    L->moe = (struct moe_ffn){.n_expert = E, .d_model = d, .d_ff = f, .act = EXPERT_ACT_SWIGLU_OAI,
                              .alpha = SWIGLU_ALPHA, .limit = g->limit, .gate_up = L->experts,
                              .down = L->experts + E, .gate_up_bias = L->gate_up_bias, .down_bias = L->down_bias};
    return OWL_OK;
}

static enum owl_status gpt_oss_take_layer(struct model *m, struct gpt_oss *g, int l, bool bias,
                                          struct owl_error *err)
{
    struct gpt_oss_layer *L = &g->layers[l];
    const int d = m->d_model, dq = g->n_head * g->d_head, dkv = g->n_kv_head * g->d_head;
    char name[160];
    enum owl_status st;
#define NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), name)
    if ((st = gpt_oss_layer_window(m, g, l, &L->window, err)) ||
        (st = model_take_vector(m, NAME("input_layernorm.weight"), d, &L->attn_norm, err)) ||
        (st = model_take_vector(m, NAME("post_attention_layernorm.weight"), d, &L->ffn_norm, err)) ||
        (st = model_take_linear(m, NAME("self_attn.q_proj.weight"), dq, d, &L->wq, err)) ||
        (st = model_take_linear(m, NAME("self_attn.k_proj.weight"), dkv, d, &L->wk, err)) ||
        (st = model_take_linear(m, NAME("self_attn.v_proj.weight"), dkv, d, &L->wv, err)) ||
        (st = model_take_linear(m, NAME("self_attn.o_proj.weight"), d, dq, &L->wo, err)) ||
        (st = model_take_vector(m, NAME("self_attn.sinks"), g->n_head, &L->sinks, err)) ||
        (st = model_take_linear(m, NAME("mlp.router.weight"), g->n_expert, d, &L->router, err)) ||
        (st = model_take_vector(m, NAME("mlp.router.bias"), g->n_expert, &L->router_bias, err)))
        return st;
    if (bias && ((st = model_take_vector(m, NAME("self_attn.q_proj.bias"), dq, &L->bq, err)) ||
                 (st = model_take_vector(m, NAME("self_attn.k_proj.bias"), dkv, &L->bk, err)) ||
                 (st = model_take_vector(m, NAME("self_attn.v_proj.bias"), dkv, &L->bv, err)) ||
                 (st = model_take_vector(m, NAME("self_attn.o_proj.bias"), d, &L->bo, err))))
        return st;
#undef NAME
    return gpt_oss_take_experts(m, g, l, err);
}

static void gpt_oss_free(struct model *m)
{
    struct gpt_oss *g = m->priv;
    if (!g)
        return;
    for (int l = 0; g->layers && l < g->n_layer; l++) {
        struct gpt_oss_layer *L = &g->layers[l];
        float *owned[] = {L->attn_norm, L->ffn_norm, L->bq, L->bk, L->bv, L->bo, L->sinks, L->router_bias,
                          L->gate_up_bias, L->gate_bias, L->up_bias, L->down_bias};
        for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
            free(owned[i]);
        free(L->experts);
        free(L->transposed);
    }
    free(g->layers);
    free(g->windowed);
    free(g->out_norm);
    rope_free(&g->rope);
    free(g);
    m->priv = NULL;
}

static enum owl_status gpt_oss_load(struct model *m, struct owl_error *err)
{
    struct gpt_oss *g = xcalloc(1, sizeof *g);
    m->priv = g;
    enum owl_status st = gpt_oss_read_config(m, g, err);
    if (st)
        return st;
    bool bias = true, tied = false;
    if ((st = kv_get_bool_opt(&m->file.config, "attention_bias", &bias, err)) ||
        (st = kv_get_bool_opt(&m->file.config, "tie_word_embeddings", &tied, err)))
        return st;
    /* The released layout has *_blocks / *_scales (quantization_config says mxfp4); else the bf16 layout. */
    g->mxfp4 = tensor_table_find(&m->file.tensors, "model.layers.0.mlp.experts.gate_up_proj_blocks") != NULL;
    g->split = tensor_table_find(&m->file.tensors, "model.layers.0.mlp.experts.0.gate_proj.weight") != NULL;
    g->layers = xcalloc((size_t)g->n_layer, sizeof *g->layers);
    if ((st = model_take_linear(m, "model.embed_tokens.weight", m->n_vocab, m->d_model, &g->embed, err)) ||
        (st = model_take_vector(m, "model.norm.weight", m->d_model, &g->out_norm, err)))
        return st;
    for (int l = 0; l < g->n_layer; l++)
        if ((st = gpt_oss_take_layer(m, g, l, bias, err)))
            return st;
    if (tied)
        g->head = g->embed;
    else if ((st = model_take_linear(m, "lm_head.weight", m->n_vocab, m->d_model, &g->head, err)))
        return st;
    /* Active bytes of a decode step: attention, router and the k routed experts of every layer, the head. */
    m->decode_bytes = weight_bytes(&g->head);
    for (int l = 0; l < g->n_layer; l++) {
        const struct gpt_oss_layer *L = &g->layers[l];
        m->decode_bytes += weight_bytes(&L->wq) + weight_bytes(&L->wk) + weight_bytes(&L->wv) +
                           weight_bytes(&L->wo) + weight_bytes(&L->router) +
                           (size_t)g->n_expert_used * (weight_bytes(&L->moe.down[0]) +
                                                       (g->split ? weight_bytes(&L->moe.gate[0]) + weight_bytes(&L->moe.up[0])
                                                                 : weight_bytes(&L->moe.gate_up[0])));
    }
    m->kv = (struct kv_layout){.n_layer = g->n_layer, .d_k = g->n_kv_head * g->d_head,
                               .d_v = g->n_kv_head * g->d_head, .window = g->window};
    g->windowed = xcalloc((size_t)g->n_layer, 1);
    for (int l = 0; l < g->n_layer; l++) {
        g->windowed[l] = g->layers[l].window > 0;
        m->kv.n_window += g->windowed[l];
    }
    m->kv.windowed = g->windowed;
    return OWL_OK;
}

/* Scratch layout of one forward chunk of n tokens (see gpt_oss_forward). */
static size_t gpt_oss_scratch_floats(const struct model *m, int n_batch, int n_ctx)
{
    const struct gpt_oss *g = m->priv;
    const size_t n = (size_t)n_batch;
    const struct moe_ffn shape = {.d_model = m->d_model, .d_ff = g->d_ff};
    return scratch_round(n * m->d_model) * 3                 /* x, xn, moe_out */
         + scratch_round(n * g->n_head * g->d_head) * 2      /* q, attn */
         + scratch_round(n * m->kv.d_k) * 2                  /* new keys, values */
         + scratch_round(n * g->d_head / 2) * 2              /* cos, sin */
         + scratch_round(n * g->n_expert)                    /* router logits */
         + scratch_round(n * g->n_expert_used) * 2           /* expert ids, weights */
         + moe_scratch_floats(&shape, n_batch);
}

static void gpt_oss_forward(const struct model *m, const struct forward_args *a)
{
    const struct gpt_oss *g = m->priv;
    const int n = a->n_tok, d = m->d_model, dq = g->n_head * g->d_head, dkv = m->kv.d_k;
    const int E = g->n_expert, k = g->n_expert_used;
    const struct moe_ffn shape = {.d_model = d, .d_ff = g->d_ff};
    float *cur = a->scratch;
    float *x = scratch_take(&cur, (size_t)n * d);            /* (n, d_model) residual stream */
    float *xn = scratch_take(&cur, (size_t)n * d);           /* (n, d_model) normed input of a block */
    float *moe_out = scratch_take(&cur, (size_t)n * d);      /* (n, d_model) */
    float *qb = scratch_take(&cur, (size_t)n * dq);          /* (n, n_head, d_head) */
    float *att = scratch_take(&cur, (size_t)n * dq);         /* (n, n_head, d_head) attention output */
    float *k_new = scratch_take(&cur, (size_t)n * dkv);      /* (n, n_kv_head, d_head) */
    float *v_new = scratch_take(&cur, (size_t)n * dkv);
    float *cos = scratch_take(&cur, (size_t)n * g->d_head / 2); /* (n, d_head/2), times the YaRN factor */
    float *sin = scratch_take(&cur, (size_t)n * g->d_head / 2);
    float *r_logits = scratch_take(&cur, (size_t)n * E);     /* (n, n_expert) */
    int32_t *r_ids = (int32_t *)scratch_take(&cur, (size_t)n * k); /* (n, k) */
    float *r_w = scratch_take(&cur, (size_t)n * k);          /* (n, k) */
    float *moe_scratch = scratch_take(&cur, moe_scratch_floats(&shape, n));

    op_embed(x, &g->embed, a->tokens, n);
    forward_rope_tables(&g->rope, a, cos, sin);
    for (int l = 0; l < g->n_layer; l++) {
        const struct gpt_oss_layer *L = &g->layers[l];
        op_rmsnorm(xn, x, L->attn_norm, n, d, g->eps);
        op_matmul_many((struct matmul_job[]){{qb, xn, &L->wq, L->bq}, {k_new, xn, &L->wk, L->bk},
                                             {v_new, xn, &L->wv, L->bv}}, 3, n);
        op_rope(qb, n, g->n_head, dq, g->d_head, g->d_head, cos, sin, ROPE_PAIRING_HALF);
        op_rope(k_new, n, g->n_kv_head, dkv, g->d_head, g->d_head, cos, sin, ROPE_PAIRING_HALF);
        forward_store_kv(a, l, k_new, dkv, v_new, dkv);
        forward_attention(a, l, &(struct attn_args){
            .out = att, .q = qb, .k_stride = dkv, .v_stride = dkv, .n_head = g->n_head, .n_kv_head = g->n_kv_head,
            .d_k = g->d_head, .d_v = g->d_head, .scale = (float)(1.0 / sqrt((double)g->d_head)),
            .sinks = L->sinks, .window = L->window}, false);
        op_matmul(xn, att, &L->wo, L->bo, n);
        op_add(x, xn, (size_t)n * d);

        op_rmsnorm(xn, x, L->ffn_norm, n, d, g->eps);
        op_matmul(r_logits, xn, &L->router, L->router_bias, n);
        op_moe_route(r_ids, r_w, r_logits, n,
                     &(struct router_params){.kind = ROUTER_TOPK_SOFTMAX, .n_expert = E, .k = k});
        op_moe(&(struct moe_args){.out = moe_out, .x = xn, .ids = r_ids, .weights = r_w, .n_tok = n, .k = k,
                                  .ffn = &L->moe, .scratch = moe_scratch});
        op_add(x, moe_out, (size_t)n * d);
    }
    if (!a->logits)
        return;
    const int rows = forward_head_rows(a, xn, x, d, g->out_norm, g->eps);
    op_matmul(a->logits, xn, &g->head, NULL, rows);
}

static void gpt_oss_describe(const struct model *m, char *buf, size_t size)
{
    const struct gpt_oss *g = m->priv;
    char rope[256];
    rope_describe(&g->rope, rope, sizeof rope);
    int n_sliding = 0;
    for (int l = 0; l < g->n_layer; l++)
        n_sliding += g->layers[l].window > 0;
    snprintf(buf, size,
             "family gpt_oss\nlayers %d (%d sliding-window %d, %d full), d_model %d, vocab %d\n"
             "attention GQA: %d query heads, %d KV heads, head_dim %d, biases, sinks\n%s\n"
             "MoE: %d experts (top-%d, softmax over the chosen), expert d_ff %d, clamped SwiGLU limit %g, "
             "experts %s\ncontext %d, weights %s\n",
             g->n_layer, n_sliding, g->window, g->n_layer - n_sliding, m->d_model, m->n_vocab, g->n_head,
             g->n_kv_head, g->d_head, rope, g->n_expert, g->n_expert_used, g->d_ff, (double)g->limit,
             g->mxfp4 ? "MXFP4" : dtype_name(g->layers[0].moe.down[0].dtype), m->n_ctx_train,
             dtype_name(g->embed.dtype));
}

/* ---- inspect: the architecture and its parameter counts from the config alone ---------------------- */

static enum owl_status gpt_oss_describe_config(const struct kv_table *kv, struct owl_model_info *info,
                                               struct owl_error *err)
{
    struct model m = {0};
    m.file.config = *kv; /* borrowed for gpt_oss_read_config; never closed */
    struct gpt_oss g = {0};
    bool bias = true, tied = false;
    enum owl_status st = gpt_oss_read_config(&m, &g, err);
    if (!st && !(st = kv_get_bool_opt(kv, "attention_bias", &bias, err)))
        st = kv_get_bool_opt(kv, "tie_word_embeddings", &tied, err);
    int n_sliding = 0, n_even = 0;
    for (int l = 0; !st && l < g.n_layer; l++) {
        int window;
        if ((st = gpt_oss_layer_window(&m, &g, l, &window, err)))
            break;
        n_sliding += window > 0;
        n_even += window > 0 && l % 2 == 0;
    }
    if (st) {
        rope_free(&g.rope);
        return st;
    }
    const int64_t d = m.d_model, V = m.n_vocab, dq = g.n_head * g.d_head, dkv = g.n_kv_head * g.d_head;
    const int64_t E = g.n_expert, f = g.d_ff;
    /* per layer: q, k, v, o (+ biases), sinks, two norms, router + bias; per expert: gate_up and down with
     * their biases */
    const int64_t attn = 2 * d * dq + 2 * d * dkv + (bias ? dq + 2 * dkv + d : 0) + g.n_head + 2 * d;
    const int64_t router = E * d + E, expert = 3 * f * d + 2 * f + d;
    const int64_t embed = V * d, head = tied ? 0 : V * d, experts = g.n_layer * E * expert;
    info->n_params = embed + head + d + g.n_layer * (attn + router) + experts;
    info->n_params_embedding = embed + head;
    info->n_params_experts = experts;
    info->n_params_active = info->n_params - (tied ? 0 : embed) - experts + experts / E * g.n_expert_used;
    const char *quant = NULL;
    if ((st = kv_get_str_opt(kv, "quantization_config.quant_method", &quant, err))) {
        rope_free(&g.rope);
        return st;
    }
    if (quant) { /* released: expert matrices MXFP4 (half a byte a value + a scale byte per 32), rest bf16 */
        const int64_t packed = g.n_layer * E * 3 * f * d;
        model_info_add_bytes(info, "MXFP4", (uint64_t)(packed / 2 + packed / 32));
        model_info_plain_bytes(kv, info, info->n_params - packed);
        snprintf(info->quantization, sizeof info->quantization, "MXFP4 experts (4.25 bits per weight)");
    } else {
        model_info_plain_bytes(kv, info, info->n_params);
        snprintf(info->quantization, sizeof info->quantization, "none");
    }

    snprintf(info->variant, sizeof info->variant, "MoE");
    info->n_layer = g.n_layer;
    info->d_model = m.d_model;
    info->n_vocab = m.n_vocab;
    info->tied_embeddings = tied;
    snprintf(info->attention, sizeof info->attention, "GQA");
    info->n_head = g.n_head;
    info->n_kv_head = g.n_kv_head;
    info->d_head = info->d_v = info->d_rope = g.d_head;
    info->attn_bias = bias;
    info->sinks = 1;
    info->n_sliding_layers = n_sliding;
    if (n_sliding) {
        const int n_even_layers = (g.n_layer + 1) / 2;
        info->sliding_window = g.window;
        if (n_sliding == g.n_layer)
            snprintf(info->sliding_layers, sizeof info->sliding_layers, "all");
        else if (n_even == n_sliding && n_sliding == n_even_layers)
            snprintf(info->sliding_layers, sizeof info->sliding_layers, "even");
        else if (n_even == 0 && n_sliding == g.n_layer - n_even_layers)
            snprintf(info->sliding_layers, sizeof info->sliding_layers, "odd");
        else
            snprintf(info->sliding_layers, sizeof info->sliding_layers, "%d of %d", n_sliding, g.n_layer);
    }
    info->n_moe_layers = g.n_layer;
    info->n_expert = g.n_expert;
    info->n_expert_used = g.n_expert_used;
    info->d_ff_expert = g.d_ff;
    snprintf(info->router, sizeof info->router, "top-%d of logits + bias, softmax over them", g.n_expert_used);
    info->kv_bytes_per_token = (uint64_t)g.n_layer * 2 * (uint64_t)dkv * sizeof(float);
    info->n_ctx = m.n_ctx_train;
    /* gpt-oss was trained with YaRN from 4096 to 131072 positions (model card): part of pre-training */
    model_info_rope(info, &g.rope, "pre-training");
    rope_free(&g.rope);
    return OWL_OK;
}

/* Released tensors: MXFP4 experts as *_blocks (two values a byte) + *_scales; or the bf16 stacks. */
static void gpt_oss_classify(const struct owl_model_info *info, const struct tensor_view *t, struct tensor_class *c)
{
    const size_t n = strlen(t->name);
    if (strcmp(t->name, "model.embed_tokens.weight") == 0)
        c->role = TENSOR_EMBED;
    else if (strcmp(t->name, "lm_head.weight") == 0)
        c->role = info->tied_embeddings ? TENSOR_UNUSED : TENSOR_HEAD;
    else if (strstr(t->name, ".mlp.experts."))
        c->role = TENSOR_EXPERT;
    if (n > 7 && strcmp(t->name + n - 7, "_blocks") == 0 && t->dtype == DTYPE_U8) {
        c->n_params *= 2;
        c->format = "MXFP4";
    } else if (n > 7 && strcmp(t->name + n - 7, "_scales") == 0 && t->dtype == DTYPE_U8) {
        c->role = TENSOR_SCALE;
        c->format = "MXFP4";
    }
}

const struct model_vtable gpt_oss_vtable = {
    .family = "gpt_oss",
    .load = gpt_oss_load,
    .free_priv = gpt_oss_free,
    .scratch_floats = gpt_oss_scratch_floats,
    .forward = gpt_oss_forward,
    .describe = gpt_oss_describe,
    .describe_config = gpt_oss_describe_config,
    .classify = gpt_oss_classify,
};
