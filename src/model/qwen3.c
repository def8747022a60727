/* qwen3.c — Qwen3 dense (Qwen3-0.6B … Qwen3-32B) and Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): config,
 * weights and forward, top to bottom.
 *
 * Mirrors transformers' models/qwen3/modeling_qwen3.py and models/qwen3_moe/modeling_qwen3_moe.py
 * (Qwen3ForCausalLM, Qwen3MoeForCausalLM; eager attention, eager experts):
 *   h = embed(tokens)
 *   per layer: h += o_proj(attn(rope(k_norm(k)), rope(q_norm(q)), v))  on RMSNorm(h)   (GQA, QK-norm)
 *              h += down(silu(gate(x)) * up(x))                          on RMSNorm(h)   (dense layer)
 *           or h += sum_j w_j * expert_{i_j}(x), (w, i) = top-k of softmax(router(x)) (sparse layer)
 *   logits = lm_head(RMSNorm(h))   (lm_head = embed_tokens when tie_word_embeddings)
 * The two families differ only in the feed-forward block, so they share this file (model_type "qwen3" and
 * "qwen3_moe"). Not here: sliding-window layers (inert in every released Qwen3 config).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/rope.h"

struct qwen3_layer {
    float *attn_norm; /* input_layernorm (d_model), fp32 copy */
    float *ffn_norm;  /* post_attention_layernorm (d_model) */
    float *q_norm;    /* self_attn.q_norm (d_head), shared by all query heads */
    float *k_norm;    /* self_attn.k_norm (d_head), shared by all KV heads */
    struct weight wq; /* (n_head*d_head, d_model) */
    struct weight wk; /* (n_kv_head*d_head, d_model) */
    struct weight wv; /* (n_kv_head*d_head, d_model) */
    struct weight wo; /* (d_model, n_head*d_head) */
    struct weight w_gate; /* (d_ff, d_model); dense layers */
    struct weight w_up;   /* (d_ff, d_model) */
    struct weight w_down; /* (d_model, d_ff) */
    bool sparse;          /* Qwen3-MoE sparse block (Qwen3MoeSparseMoeBlock) instead of the dense MLP */
    struct weight router; /* mlp.gate.weight (n_expert, d_model), no bias */
    struct weight *experts; /* (3, n_expert) owned views: gate, up, down of mlp.experts.E.*_proj.weight */
    struct moe_ffn moe;   /* points into experts */
};

struct qwen3 {
    int n_layer;   /* num_hidden_layers */
    int n_head;    /* num_attention_heads */
    int n_kv_head; /* num_key_value_heads */
    int d_head;    /* head_dim (read, not derived: 0.6B has 1024/16 = 64 but head_dim 128) */
    int d_ff;      /* intermediate_size (dense layers) */
    bool moe;      /* model_type qwen3_moe */
    int n_expert;  /* num_experts (released) or num_local_experts (v5 spelling) */
    int n_expert_used; /* num_experts_per_tok */
    int d_ff_moe;  /* moe_intermediate_size */
    int sparse_step; /* decoder_sparse_step (default 1) */
    bool norm_topk; /* norm_topk_prob (HF class default false; released files say true) */
    float eps;     /* rms_norm_eps */
    bool tied;     /* tie_word_embeddings: lm_head is embed_tokens */
    struct rope rope;
    struct weight embed;  /* model.embed_tokens.weight (n_vocab, d_model) */
    struct weight head;   /* lm_head.weight (n_vocab, d_model), or embed when tied */
    float *out_norm;      /* model.norm.weight (d_model) */
    struct qwen3_layer *layers; /* (n_layer) */
};

/* Qwen3-MoE's extra fields; which layers are sparse is decided per layer by qwen3_layer_sparse. */
static enum owl_status qwen3_moe_read_config(struct model *m, struct qwen3 *q, struct owl_error *err)
{
    const struct kv_table *kv = &m->file.config;
    const char *experts_key = kv_has(kv, "num_experts") ? "num_experts" : "num_local_experts";
    enum owl_status st;
    q->sparse_step = 1;
    if ((st = kv_get_dim(kv, experts_key, 1, 1 << 16, &q->n_expert, err)) ||
        (st = kv_get_dim(kv, "num_experts_per_tok", 1, q->n_expert, &q->n_expert_used, err)) ||
        (st = kv_get_dim(kv, "moe_intermediate_size", 1, 1 << 20, &q->d_ff_moe, err)) ||
        (st = kv_get_bool_opt(kv, "norm_topk_prob", &q->norm_topk, err)))
        return st;
    if (kv_has(kv, "decoder_sparse_step") &&
        (st = kv_get_dim(kv, "decoder_sparse_step", 1, 1 << 20, &q->sparse_step, err)))
        return st;
    const struct kv_value *only = kv_find(kv, "mlp_only_layers");
    if (only && only->type != KV_NULL && only->type != KV_ARRAY)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'mlp_only_layers': expected array, got %s", kv->source,
                    kv_type_name(only->type));
    for (int i = 0; only && only->type == KV_ARRAY && i < only->n_items; i++)
        if (only->items[i].type != KV_INT || only->items[i].i < 0)
            return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'mlp_only_layers'[%d]: expected a layer index >= 0",
                        kv->source, i);
    return OWL_OK;
}

/* Qwen3MoeDecoderLayer: sparse iff l not in mlp_only_layers and (l + 1) % decoder_sparse_step == 0. */
static bool qwen3_layer_sparse(const struct model *m, const struct qwen3 *q, int l)
{
    if (!q->moe)
        return false;
    const struct kv_value *only = kv_find(&m->file.config, "mlp_only_layers");
    for (int i = 0; only && only->type == KV_ARRAY && i < only->n_items; i++)
        if (only->items[i].i == l)
            return false;
    return (l + 1) % q->sparse_step == 0;
}

static enum owl_status qwen3_read_config(struct model *m, struct qwen3 *q, struct owl_error *err)
{
    const struct kv_table *kv = &m->file.config;
    enum owl_status st;
    int64_t n_ctx = 32768;
    double eps = 1e-6;
    bool tied = false;
    if ((st = kv_get_dim(kv, "vocab_size", 1, 1 << 24, &m->n_vocab, err)) ||
        (st = kv_get_dim(kv, "hidden_size", 1, 1 << 16, &m->d_model, err)) ||
        (st = kv_get_dim(kv, "num_hidden_layers", 1, 1024, &q->n_layer, err)) ||
        (st = kv_get_dim(kv, "num_attention_heads", 1, 1024, &q->n_head, err)) ||
        (st = kv_get_dim(kv, "intermediate_size", 1, 1 << 20, &q->d_ff, err)) ||
        (st = kv_get_int_opt(kv, "max_position_embeddings", &n_ctx, err)) ||
        (st = kv_get_float_opt(kv, "rms_norm_eps", &eps, err)) ||
        (st = kv_get_bool_opt(kv, "tie_word_embeddings", &tied, err)))
        return st;
    /* num_key_value_heads defaults to num_attention_heads; head_dim to hidden_size / heads. */
    q->n_kv_head = q->n_head;
    q->d_head = m->d_model / q->n_head;
    if (kv_has(kv, "num_key_value_heads") &&
        (st = kv_get_dim(kv, "num_key_value_heads", 1, q->n_head, &q->n_kv_head, err)))
        return st;
    if (kv_has(kv, "head_dim") && (st = kv_get_dim(kv, "head_dim", 2, 1024, &q->d_head, err)))
        return st;
    if (q->n_head % q->n_kv_head)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                    kv->source, q->n_head, q->n_kv_head);
    if (q->d_head % 2)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: head_dim %d must be even for RoPE", kv->source, q->d_head);
    if (n_ctx < 1 || n_ctx > (1 << 30))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'max_position_embeddings' = %lld, expected 1..2^30",
                    kv->source, (long long)n_ctx);
    if (!(eps > 0 && eps < 1))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'rms_norm_eps' = %g, expected in (0, 1)", kv->source, eps);
    bool flag = false;
    if ((st = kv_get_bool_opt(kv, "attention_bias", &flag, err)))
        return st;
    if (flag)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: attention_bias true is not a released Qwen3 layout", kv->source);
    flag = false;
    if ((st = kv_get_bool_opt(kv, "use_sliding_window", &flag, err)))
        return st;
    if (flag)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: use_sliding_window true is not supported for qwen3", kv->source);
    const char *act = NULL;
    if ((st = kv_get_str_opt(kv, "hidden_act", &act, err)))
        return st;
    if (act && strcmp(act, "silu") != 0)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: hidden_act '%s', expected 'silu'", kv->source, act);
    m->n_ctx_train = (int)n_ctx;
    q->eps = (float)eps;
    q->tied = tied;
    if (q->moe && (st = qwen3_moe_read_config(m, q, err)))
        return st;
    return rope_init(&q->rope, kv, q->d_head, n_ctx, err);
}

static enum owl_status qwen3_take_layer(struct model *m, struct qwen3 *q, int l, struct owl_error *err)
{
    struct qwen3_layer *L = &q->layers[l];
    const int d = m->d_model, dq = q->n_head * q->d_head, dkv = q->n_kv_head * q->d_head;
    char name[160];
    enum owl_status st;
#define NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), name)
    if ((st = model_take_vector(m, NAME("input_layernorm.weight"), d, &L->attn_norm, err)) ||
        (st = model_take_vector(m, NAME("post_attention_layernorm.weight"), d, &L->ffn_norm, err)) ||
        (st = model_take_vector(m, NAME("self_attn.q_norm.weight"), q->d_head, &L->q_norm, err)) ||
        (st = model_take_vector(m, NAME("self_attn.k_norm.weight"), q->d_head, &L->k_norm, err)) ||
        (st = model_take_linear(m, NAME("self_attn.q_proj.weight"), dq, d, &L->wq, err)) ||
        (st = model_take_linear(m, NAME("self_attn.k_proj.weight"), dkv, d, &L->wk, err)) ||
        (st = model_take_linear(m, NAME("self_attn.v_proj.weight"), dkv, d, &L->wv, err)) ||
        (st = model_take_linear(m, NAME("self_attn.o_proj.weight"), d, dq, &L->wo, err)))
        return st;
    L->sparse = qwen3_layer_sparse(m, q, l);
    if (!L->sparse) {
        if ((st = model_take_linear(m, NAME("mlp.gate_proj.weight"), q->d_ff, d, &L->w_gate, err)) ||
            (st = model_take_linear(m, NAME("mlp.up_proj.weight"), q->d_ff, d, &L->w_up, err)) ||
            (st = model_take_linear(m, NAME("mlp.down_proj.weight"), d, q->d_ff, &L->w_down, err)))
            return st;
        return OWL_OK;
    }
    /* Per-expert tensors, as released and as transformers 5 save_pretrained writes them. */
    const int E = q->n_expert, f = q->d_ff_moe;
    if ((st = model_take_linear(m, NAME("mlp.gate.weight"), E, d, &L->router, err)))
        return st;
    L->experts = xcalloc((size_t)3 * E, sizeof *L->experts);
    for (int e = 0; e < E; e++) {
        char part[96];
#define EXPERT(proj) (snprintf(part, sizeof part, "mlp.experts.%d.%s.weight", e, proj), NAME(part))
        if ((st = model_take_linear(m, EXPERT("gate_proj"), f, d, &L->experts[e], err)) ||
            (st = model_take_linear(m, EXPERT("up_proj"), f, d, &L->experts[E + e], err)) ||
            (st = model_take_linear(m, EXPERT("down_proj"), d, f, &L->experts[2 * E + e], err)))
            return st;
#undef EXPERT
    }
#undef NAME
    L->moe = (struct moe_ffn){.n_expert = E, .d_model = d, .d_ff = f, .act = EXPERT_ACT_SILU,
                              .gate = L->experts, .up = L->experts + E, .down = L->experts + 2 * E};
    return OWL_OK;
}

static void qwen3_free(struct model *m)
{
    struct qwen3 *q = m->priv;
    if (!q)
        return;
    for (int l = 0; q->layers && l < q->n_layer; l++) {
        struct qwen3_layer *L = &q->layers[l];
        free(L->attn_norm);
        free(L->ffn_norm);
        free(L->q_norm);
        free(L->k_norm);
        free(L->experts);
    }
    free(q->layers);
    free(q->out_norm);
    rope_free(&q->rope);
    free(q);
    m->priv = NULL;
}

static enum owl_status qwen3_load(struct model *m, struct owl_error *err)
{
    struct qwen3 *q = xcalloc(1, sizeof *q);
    m->priv = q;
    q->moe = m->vt == &qwen3_moe_vtable;
    enum owl_status st = qwen3_read_config(m, q, err);
    if (st)
        return st;
    q->layers = xcalloc((size_t)q->n_layer, sizeof *q->layers);
    if ((st = model_take_linear(m, "model.embed_tokens.weight", m->n_vocab, m->d_model, &q->embed, err)) ||
        (st = model_take_vector(m, "model.norm.weight", m->d_model, &q->out_norm, err)))
        return st;
    for (int l = 0; l < q->n_layer; l++)
        if ((st = qwen3_take_layer(m, q, l, err)))
            return st;
    /* Tied checkpoints usually ship no lm_head; if one is there, HF still uses the embedding. */
    if (q->tied) {
        q->head = q->embed;
        const int64_t shape[2] = {m->n_vocab, m->d_model};
        const struct tensor_view *unused;
        if ((st = model_file_take_opt(&m->file, "lm_head.weight", ~0u, 2, shape, &unused, err)))
            return st;
    } else if ((st = model_take_linear(m, "lm_head.weight", m->n_vocab, m->d_model, &q->head, err))) {
        return st;
    }
    /* A decode step reads every layer matrix and the output head (the embedding row is negligible); of a
     * sparse layer, the router and the k experts the token is routed to (their size: expert 0's). */
    m->decode_bytes = weight_bytes(&q->head);
    for (int l = 0; l < q->n_layer; l++) {
        const struct qwen3_layer *L = &q->layers[l];
        const struct weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
            if (ws[i]->data)
                m->decode_bytes += weight_bytes(ws[i]);
        if (L->sparse)
            m->decode_bytes += weight_bytes(&L->router) +
                               (size_t)q->n_expert_used * (weight_bytes(&L->moe.gate[0]) + weight_bytes(&L->moe.up[0]) +
                                                           weight_bytes(&L->moe.down[0]));
    }
    m->kv = (struct kv_layout){.n_layer = q->n_layer, .d_k = q->n_kv_head * q->d_head,
                               .d_v = q->n_kv_head * q->d_head};
    return OWL_OK;
}

/* Scratch layout of one forward chunk of n tokens (see qwen3_forward). */
static size_t qwen3_scratch_floats(const struct model *m, int n_batch, int n_ctx)
{
    const struct qwen3 *q = m->priv;
    const size_t n = (size_t)n_batch;
    size_t moe = 0;
    if (q->moe) {
        const struct moe_ffn shape = {.d_model = m->d_model, .d_ff = q->d_ff_moe};
        moe = scratch_round(n * q->n_expert) + scratch_round(n * q->n_expert_used) * 2 /* logits, ids, w */
            + scratch_round(n * m->d_model) + moe_scratch_floats(&shape, n_batch);      /* out, op_moe's */
    }
    return scratch_round(n * m->d_model) * 2             /* x, xn */
         + scratch_round(n * q->n_head * q->d_head) * 2  /* q, attn */
         + scratch_round(n * m->kv.d_k) * 2              /* new keys, values */
         + scratch_round(n * q->d_ff) * 2                /* gate, up */
         + scratch_round(n * q->d_head / 2) * 2          /* cos, sin */
         + moe;
}

static void qwen3_forward(const struct model *m, const struct forward_args *a)
{
    const struct qwen3 *q = m->priv;
    const int n = a->n_tok, d = m->d_model, dq = q->n_head * q->d_head, dkv = m->kv.d_k;
    float *cur = a->scratch;
    float *x = scratch_take(&cur, (size_t)n * d);           /* (n, d_model) residual stream */
    float *xn = scratch_take(&cur, (size_t)n * d);          /* (n, d_model) normed input of a block */
    float *qb = scratch_take(&cur, (size_t)n * dq);         /* (n, n_head, d_head) */
    float *att = scratch_take(&cur, (size_t)n * dq);        /* (n, n_head, d_head) attention output */
    float *k_new = scratch_take(&cur, (size_t)n * dkv);     /* (n, n_kv_head, d_head) */
    float *v_new = scratch_take(&cur, (size_t)n * dkv);
    float *gate = scratch_take(&cur, (size_t)n * q->d_ff);  /* (n, d_ff) */
    float *up = scratch_take(&cur, (size_t)n * q->d_ff);    /* (n, d_ff) */
    float *cos = scratch_take(&cur, (size_t)n * q->d_head / 2); /* (n, d_head/2) */
    float *sin = scratch_take(&cur, (size_t)n * q->d_head / 2);
    const int E = q->n_expert, k = q->n_expert_used;
    float *r_logits = NULL, *r_w = NULL, *moe_out = NULL, *moe_scratch = NULL; /* (n, E), (n, k), (n, d) */
    int32_t *r_ids = NULL;                                                     /* (n, k) */
    if (q->moe) {
        const struct moe_ffn shape = {.d_model = d, .d_ff = q->d_ff_moe};
        r_logits = scratch_take(&cur, (size_t)n * E);
        r_ids = (int32_t *)scratch_take(&cur, (size_t)n * k);
        r_w = scratch_take(&cur, (size_t)n * k);
        moe_out = scratch_take(&cur, (size_t)n * d);
        moe_scratch = scratch_take(&cur, moe_scratch_floats(&shape, n));
    }

    op_embed(x, &q->embed, a->tokens, n);
    forward_rope_tables(&q->rope, a, cos, sin);
    for (int l = 0; l < q->n_layer; l++) {
        const struct qwen3_layer *L = &q->layers[l];
        op_rmsnorm(xn, x, L->attn_norm, n, d, q->eps);
        op_matmul_many((struct matmul_job[]){{qb, xn, &L->wq, NULL}, {k_new, xn, &L->wk, NULL},
                                             {v_new, xn, &L->wv, NULL}}, 3, n);
        op_rmsnorm(qb, qb, L->q_norm, n * q->n_head, q->d_head, q->eps);        /* QK-norm per head, */
        op_rmsnorm(k_new, k_new, L->k_norm, n * q->n_kv_head, q->d_head, q->eps); /* before RoPE */
        op_rope(qb, n, q->n_head, dq, q->d_head, q->d_head, cos, sin, ROPE_PAIRING_HALF);
        op_rope(k_new, n, q->n_kv_head, dkv, q->d_head, q->d_head, cos, sin, ROPE_PAIRING_HALF);
        forward_store_kv(a, l, k_new, dkv, v_new, dkv);
        forward_attention(a, l, &(struct attn_args){
            .out = att, .q = qb, .k_stride = dkv, .v_stride = dkv, .n_head = q->n_head, .n_kv_head = q->n_kv_head,
            .d_k = q->d_head, .d_v = q->d_head, .scale = (float)(1.0 / sqrt((double)q->d_head))}, false);
        op_matmul(xn, att, &L->wo, NULL, n);
        op_add(x, xn, (size_t)n * d);

        op_rmsnorm(xn, x, L->ffn_norm, n, d, q->eps);
        if (L->sparse) {
            op_matmul(r_logits, xn, &L->router, NULL, n);
            op_moe_route(r_ids, r_w, r_logits, n, &(struct router_params){
                .kind = ROUTER_SOFTMAX_TOPK, .n_expert = E, .k = k, .norm_topk = q->norm_topk});
            op_moe(&(struct moe_args){.out = moe_out, .x = xn, .ids = r_ids, .weights = r_w, .n_tok = n, .k = k,
                                      .ffn = &L->moe, .scratch = moe_scratch});
            op_add(x, moe_out, (size_t)n * d);
            continue;
        }
        op_matmul_many((struct matmul_job[]){{gate, xn, &L->w_gate, NULL}, {up, xn, &L->w_up, NULL}}, 2, n);
        op_swiglu(gate, gate, up, (size_t)n * q->d_ff);
        op_matmul(xn, gate, &L->w_down, NULL, n);
        op_add(x, xn, (size_t)n * d);
    }
    if (!a->logits)
        return;
    /* Only the rows asked for go through the final norm and the (large) output head. */
    const int rows = forward_head_rows(a, xn, x, d, q->out_norm, q->eps);
    op_matmul(a->logits, xn, &q->head, NULL, rows);
}

static void qwen3_describe(const struct model *m, char *buf, size_t size)
{
    const struct qwen3 *q = m->priv;
    char rope[256];
    rope_describe(&q->rope, rope, sizeof rope);
    char moe[160] = "";
    int n_sparse = 0;
    for (int l = 0; l < q->n_layer; l++)
        n_sparse += q->layers[l].sparse;
    if (q->moe)
        snprintf(moe, sizeof moe, "MoE: %d of %d layers sparse, %d experts (top-%d%s), expert d_ff %d\n", n_sparse,
                 q->n_layer, q->n_expert, q->n_expert_used, q->norm_topk ? ", renormalized" : "", q->d_ff_moe);
    snprintf(buf, size,
             "family %s\nlayers %d, d_model %d, d_ff %d, vocab %d\n%s"
             "attention GQA: %d query heads, %d KV heads, head_dim %d, QK-norm\n%s\n"
             "context %d, tied embeddings %s, weights %s\n",
             q->moe ? "qwen3_moe" : "qwen3 (dense)", q->n_layer, m->d_model, q->d_ff, m->n_vocab, moe, q->n_head,
             q->n_kv_head, q->d_head, rope, m->n_ctx_train, q->tied ? "yes" : "no", dtype_name(q->embed.dtype));
}

/* ---- inspect: the architecture and its parameter counts from the config alone ---------------------- */

static enum owl_status qwen3_describe_config(const struct kv_table *kv, struct owl_model_info *info,
                                             struct owl_error *err)
{
    struct model m = {0};
    m.file.config = *kv; /* borrowed for qwen3_read_config; never closed */
    struct qwen3 q = {0};
    q.moe = strcmp(info->family, "qwen3_moe") == 0;
    enum owl_status st = qwen3_read_config(&m, &q, err);
    if (st) {
        rope_free(&q.rope);
        return st;
    }
    const int64_t d = m.d_model, V = m.n_vocab, dh = q.d_head, dq = q.n_head * dh, dkv = q.n_kv_head * dh;
    /* per layer: q, k, v, o projections, q_norm and k_norm (d_head each), the two block norms */
    const int64_t attn = 2 * d * dq + 2 * d * dkv + 2 * dh + 2 * d;
    const int64_t mlp = 3 * d * q.d_ff, expert = 3 * d * q.d_ff_moe, router = (int64_t)q.n_expert * d;
    int64_t layers = 0, experts = 0;
    int n_sparse = 0;
    for (int l = 0; l < q.n_layer; l++) {
        const bool sparse = qwen3_layer_sparse(&m, &q, l);
        n_sparse += sparse;
        layers += attn + (sparse ? router : mlp);
        experts += sparse ? q.n_expert * expert : 0;
    }
    const int64_t embed = V * d, head = q.tied ? 0 : V * d;
    info->n_params = embed + head + d /* model.norm */ + layers + experts;
    info->n_params_embedding = embed + head;
    info->n_params_experts = experts;
    /* the input table is a lookup; tied, it is the head */
    info->n_params_active =
        info->n_params - (q.tied ? 0 : embed) - experts + (q.moe ? experts / q.n_expert * q.n_expert_used : 0);
    model_info_plain_bytes(kv, info, info->n_params);

    snprintf(info->variant, sizeof info->variant, "%s", q.moe ? "MoE" : "dense");
    info->n_layer = q.n_layer;
    info->d_model = m.d_model;
    info->n_vocab = m.n_vocab;
    info->d_ff = n_sparse < q.n_layer ? q.d_ff : 0;
    info->tied_embeddings = q.tied;
    snprintf(info->attention, sizeof info->attention, "GQA");
    info->n_head = q.n_head;
    info->n_kv_head = q.n_kv_head;
    info->d_head = info->d_v = info->d_rope = q.d_head;
    info->qk_norm = 1;
    if (q.moe) {
        info->n_moe_layers = n_sparse;
        info->n_expert = q.n_expert;
        info->n_expert_used = q.n_expert_used;
        info->d_ff_expert = q.d_ff_moe;
        snprintf(info->router, sizeof info->router, "softmax, top-%d%s", q.n_expert_used,
                 q.norm_topk ? ", renormalized" : "");
    }
    snprintf(info->quantization, sizeof info->quantization, "none");
    info->kv_bytes_per_token = (uint64_t)q.n_layer * 2 * (uint64_t)dkv * sizeof(float);
    info->n_ctx = m.n_ctx_train;
    /* Released Qwen3 configs have no rope_scaling; the model cards add YaRN x4 for long inputs at
     * deployment, so a YaRN setting here is an inference-time choice. */
    model_info_rope(info, &q.rope, "inference");
    rope_free(&q.rope);
    return OWL_OK;
}

/* The tensors a loaded Qwen3 takes: embedding, head (a tied file may store one anyway: not a parameter),
 * per-expert weights, the rest used by every token. */
static void qwen3_classify(const struct owl_model_info *info, const struct tensor_view *t, struct tensor_class *c)
{
    if (strcmp(t->name, "model.embed_tokens.weight") == 0)
        c->role = TENSOR_EMBED;
    else if (strcmp(t->name, "lm_head.weight") == 0)
        c->role = info->tied_embeddings ? TENSOR_UNUSED : TENSOR_HEAD;
    else if (strstr(t->name, ".mlp.experts."))
        c->role = TENSOR_EXPERT;
}

const struct model_vtable qwen3_vtable = {
    .family = "qwen3",
    .load = qwen3_load,
    .free_priv = qwen3_free,
    .scratch_floats = qwen3_scratch_floats,
    .forward = qwen3_forward,
    .describe = qwen3_describe,
    .describe_config = qwen3_describe_config,
    .classify = qwen3_classify,
};

const struct model_vtable qwen3_moe_vtable = {
    .family = "qwen3_moe",
    .load = qwen3_load,
    .free_priv = qwen3_free,
    .scratch_floats = qwen3_scratch_floats,
    .forward = qwen3_forward,
    .describe = qwen3_describe,
    .describe_config = qwen3_describe_config,
    .classify = qwen3_classify,
};
