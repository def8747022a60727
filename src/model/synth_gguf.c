/* synth_gguf.c — `owl synth --format gguf`: the plan's tensors in llama.cpp's GGUF layout, as its converter
 * (convert_hf_to_gguf.py with conversion/qwen.py, gpt_oss.py, deepseek.py) writes them, so llama.cpp loads
 * the files: tensor names (gguf-py tensor_mapping.py), "<arch>.*" keys, tokenizer.ggml.* metadata.
 *
 * Every GGUF row is built from rows of the Hugging Face tensors (synth_row_f32, synth_fill_row), so the
 * values equal the safetensors output of the same seed: 1-D tensors, biases and routers as F32, matrices
 * as BF16 or Q8_0 (owl's quantize_row_q8_0, byte-identical to llama-quantize's); experts stacked (E, out,
 * in); gpt-oss's MXFP4 experts repacked into GGML blocks (E8M0 scale + 16 bytes: low nibbles values 0..15,
 * high nibbles 16..31) with gate/up de-interleaved into ffn_gate_exps/ffn_up_exps; DeepSeek's FP8 weights
 * dequantized (power-of-two scales: exact in BF16) and kv_b_proj split into attn_k_b (transposed) and
 * attn_v_b. llama.cpp has no FP8 type; the MTP layer is not written (llama.cpp's converter skips it).
 */
#include <errno.h>
#include <string.h>

#include "base/file_map.h"
#include "format/gguf.h"
#include "kernels/kernels.h"
#include "model/synth.h"

enum gsrc {
    G_ROWS,       /* rows of one HF tensor; with n_exp > 0, of n_exp tensors hf + e * stride, stacked */
    G_MXFP4,      /* HF blocks (hf) + scales (hf + 1): rows of parity -1 (all), 0 (even: gate), 1 (odd: up) */
    G_BIAS_SPLIT, /* gpt-oss gate_up bias [E, 2I]: the even (gate) or odd (up) columns */
    G_KB,         /* MLA kv_b_proj [H*(nope+v), rank]: per head the nope rows, transposed: (H, rank, nope) */
    G_VB,         /* MLA kv_b_proj: per head the v rows: (H, v, rank) */
};

struct gtensor {
    char name[96];
    uint32_t type;
    int n_dims;
    uint64_t ne[4];         /* innermost first */
    enum gsrc src;
    int hf, stride, n_exp, parity;
    int64_t n_rows, row_len; /* output rows and values per row */
};

struct gplan {
    struct gtensor *g;
    int n, cap;
};

static uint64_t row_bytes(uint32_t type, int64_t n)
{
    switch (type) {
    case GGML_TYPE_F32: return 4 * (uint64_t)n;
    case GGML_TYPE_BF16: return 2 * (uint64_t)n;
    case GGML_TYPE_Q8_0: return (uint64_t)n / 32 * 34;
    default: return (uint64_t)n / 32 * 17; /* MXFP4 */
    }
}

/* Add a GGUF tensor from HF tensor hf (shape taken from it unless a layout-changing source). */
static struct gtensor *gadd(struct gplan *gp, const struct synth *s, const struct owl_synth_params *p, const char *name,
                            enum gsrc src, int hf, bool matrix)
{
    if (gp->n == gp->cap) {
        gp->cap = gp->cap ? 2 * gp->cap : 256;
        gp->g = xrealloc(gp->g, sizeof *gp->g * (size_t)gp->cap);
    }
    struct gtensor *g = &gp->g[gp->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->src = src;
    g->hf = hf;
    g->parity = -1;
    const struct synth_tensor *t = &s->t[hf];
    g->n_dims = t->n_dim;
    for (int d = 0; d < t->n_dim; d++)
        g->ne[d] = (uint64_t)t->shape[t->n_dim - 1 - d];
    g->n_rows = t->n_rows;
    g->row_len = t->row_len;
    g->type = !matrix ? GGML_TYPE_F32
              : p->type == OWL_SYNTH_Q8_0 && t->row_len % 32 == 0 ? GGML_TYPE_Q8_0
                                                                  : GGML_TYPE_BF16;
    return g;
}

/* The GGUF name of HF tensor hf (gguf_arch.c's table, the reader's, in reverse). */
static void gname(const char *arch, const char *hf, char *buf, size_t size)
{
    const bool ok = gguf_name_of_hf(arch, hf, buf, size);
    OWL_ASSERT(ok); /* every tensor of the plan has a GGUF name */
}

/* Layer index of an HF name "model.layers.N.<rest>" (rest into *rest), -1 for a global tensor. */
static int layer_of(const char *name, const char **rest)
{
    int l, n = 0;
    if (sscanf(name, "model.layers.%d.%n", &l, &n) != 1 || n == 0)
        return -1;
    *rest = name + n;
    return l;
}

static bool ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The GGUF tensors, in the plan's order: each HF tensor under its llama.cpp name, experts stacked (at the
 * first expert), gpt-oss's gate_up blocks and bias split, MLA's kv_b_proj split; FP8 scales (folded into
 * the values), the MTP layers (the converter skips them) left out. */
static void gplan_build(struct gplan *gp, const struct synth *s, const struct owl_synth_params *p, const char *arch)
{
    char name[160], hf[200];
    for (int ti = 0; ti < s->n; ti++) {
        const struct synth_tensor *t = &s->t[ti];
        const char *rest = "";
        const int l = layer_of(t->name, &rest);
        int e = -1, m = 0;
        if (l >= s->n_layer || ends_with(t->name, "_scale_inv") || ends_with(t->name, "_scales"))
            continue;
        if (sscanf(rest, "mlp.experts.%d.%n", &e, &m) == 1 && m > 0) { /* per-expert matrices: one stack */
            if (e > 0)
                continue;
            gname(arch, t->name, name, sizeof name);
            struct gtensor *g = gadd(gp, s, p, name, G_ROWS, ti, true);
            snprintf(hf, sizeof hf, "model.layers.%d.mlp.experts.1.%s", l, rest + m);
            g->n_exp = s->n_expert;
            g->stride = s->n_expert > 1 ? synth_find(s, hf) - ti : 0; /* the plan's tensors per expert */
            OWL_ASSERT(s->n_expert == 1 || g->stride > 0);
            g->n_dims = 3;
            g->ne[2] = (uint64_t)s->n_expert;
            g->n_rows *= s->n_expert;
        } else if (!strcmp(rest, "mlp.experts.gate_up_proj_blocks") || !strcmp(rest, "mlp.experts.down_proj_blocks")) {
            const bool down = rest[12] == 'd';
            for (int k = down ? -1 : 0; k < (down ? 0 : 2); k++) { /* gate = even rows, up = odd rows */
                snprintf(hf, sizeof hf, "model.layers.%d.mlp.experts.0.%s.weight", l, k < 0 ? "down_proj" : k ? "up_proj" : "gate_proj");
                gname(arch, hf, name, sizeof name);
                struct gtensor *g = gadd(gp, s, p, name, G_MXFP4, ti, true);
                g->parity = k, g->type = GGML_TYPE_MXFP4, g->n_dims = 3;
                g->ne[0] = (uint64_t)(down ? s->d_ff : s->d_model), g->ne[1] = (uint64_t)(down ? s->d_model : s->d_ff);
                g->ne[2] = (uint64_t)s->n_expert;
                g->n_rows = (int64_t)s->n_expert * (int64_t)g->ne[1], g->row_len = (int64_t)g->ne[0];
            }
        } else if (!strcmp(rest, "mlp.experts.gate_up_proj_bias")) {
            for (int k = 0; k < 2; k++) {
                snprintf(hf, sizeof hf, "model.layers.%d.mlp.experts.%s_proj_bias", l, k ? "up" : "gate");
                gname(arch, hf, name, sizeof name);
                struct gtensor *g = gadd(gp, s, p, name, G_BIAS_SPLIT, ti, false);
                g->parity = k, g->ne[0] = (uint64_t)s->d_ff, g->row_len = s->d_ff;
            }
        } else if (!strcmp(rest, "self_attn.kv_b_proj.weight")) { /* llama.cpp's converter splits it */
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.k_b_proj.weight", l);
            gname(arch, hf, name, sizeof name);
            struct gtensor *g = gadd(gp, s, p, name, G_KB, ti, true);
            g->n_dims = 3, g->ne[0] = (uint64_t)s->d_nope, g->ne[1] = (uint64_t)s->kv_rank, g->ne[2] = (uint64_t)s->n_head;
            g->n_rows = (int64_t)s->n_head * s->kv_rank, g->row_len = s->d_nope;
            g->type = p->type == OWL_SYNTH_Q8_0 && s->d_nope % 32 == 0 ? GGML_TYPE_Q8_0 : GGML_TYPE_BF16;
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.v_b_proj.weight", l);
            gname(arch, hf, name, sizeof name);
            g = gadd(gp, s, p, name, G_VB, ti, true);
            g->n_dims = 3, g->ne[0] = (uint64_t)s->kv_rank, g->ne[1] = (uint64_t)s->d_v, g->ne[2] = (uint64_t)s->n_head;
            g->n_rows = (int64_t)s->n_head * s->d_v;
        } else {
            /* matrices as --type says; vectors, biases and routers F32 (the converter keeps them exact) */
            const bool router = !strcmp(rest, "mlp.gate.weight") || !strcmp(rest, "mlp.router.weight");
            gname(arch, t->name, name, sizeof name);
            gadd(gp, s, p, name, G_ROWS, ti, t->n_dim >= 2 && !router && !ends_with(t->name, "_bias"));
        }
    }
}

/* ---- rows -------------------------------------------------------------------------------------------- */

static void encode(uint32_t type, const float *x, int64_t n, uint8_t *out)
{
    if (type == GGML_TYPE_F32) {
        memcpy(out, x, (size_t)n * 4);
    } else if (type == GGML_TYPE_Q8_0) {
        quantize_row_q8_0(out, x, (int)n);
    } else {
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = synth_f32_to_bf16(x[i]);
            memcpy(out + 2 * i, &h, 2);
        }
    }
}

/* Output row i of g into out; tmp holds at least max(row_len, HF row) floats. G_KB is done per head. */
static void produce_row(const struct synth *s, const struct gtensor *g, int64_t i, uint8_t *out, float *tmp)
{
    switch (g->src) {
    case G_ROWS: {
        const int64_t per = g->n_exp ? g->n_rows / g->n_exp : g->n_rows;
        synth_row_f32(s, g->hf + (int)(i / per) * g->stride, i % per, tmp);
        encode(g->type, tmp, g->row_len, out);
        break;
    }
    case G_VB: {
        const int64_t h = i / s->d_v, j = i % s->d_v;
        synth_row_f32(s, g->hf, h * (s->d_nope + s->d_v) + s->d_nope + j, tmp);
        encode(g->type, tmp, g->row_len, out);
        break;
    }
    case G_BIAS_SPLIT: {
        synth_row_f32(s, g->hf, i, tmp);
        for (int64_t k = 0; k < g->row_len; k++)
            tmp[k] = tmp[2 * k + g->parity];
        encode(GGML_TYPE_F32, tmp, g->row_len, out);
        break;
    }
    case G_MXFP4: {
        const struct synth_tensor *bt = &s->t[g->hf], *st = &s->t[g->hf + 1];
        const int64_t rows_hf = bt->shape[1], rows = g->parity < 0 ? rows_hf : rows_hf / 2;
        const int64_t e = i / rows, r = i % rows, hr = e * rows_hf + (g->parity < 0 ? r : 2 * r + g->parity);
        const int64_t nb = g->row_len / 32;
        uint8_t *blocks = (uint8_t *)tmp, *scales = blocks + nb * 16;
        synth_fill_row(s, bt, hr, blocks);
        synth_fill_row(s, st, hr, scales);
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *hb = blocks + b * 16; /* HF: byte j = values 2j (low nibble), 2j+1 (high) */
            uint8_t *gb = out + b * 17;
            gb[0] = scales[b];
            for (int j = 0; j < 16; j++) { /* GGML: byte j = values j (low), j+16 (high) */
                const int lo = (hb[j / 2] >> (4 * (j & 1))) & 15, hi = (hb[(j + 16) / 2] >> (4 * (j & 1))) & 15;
                gb[1 + j] = (uint8_t)(lo | hi << 4);
            }
        }
        break;
    }
    case G_KB:
        OWL_ASSERT(0);
    }
}

/* attn_k_b of head h: rows c < kv_rank of kv_b's nope rows, transposed. */
static void produce_kb_head(const struct synth *s, const struct gtensor *g, int64_t h, uint8_t *out)
{
    const int64_t rank = s->kv_rank, nope = s->d_nope;
    float *m = xcalloc((size_t)(nope * rank), sizeof *m), *col = xcalloc((size_t)nope, sizeof *col);
    for (int64_t j = 0; j < nope; j++)
        synth_row_f32(s, g->hf, h * (nope + s->d_v) + j, m + j * rank);
    const uint64_t rb = row_bytes(g->type, nope);
    for (int64_t c = 0; c < rank; c++) {
        for (int64_t j = 0; j < nope; j++)
            col[j] = m[j * rank + c];
        encode(g->type, col, nope, out + (size_t)c * rb);
    }
    free(m);
    free(col);
}

static enum owl_status write_gtensor(const struct synth *s, const struct gtensor *g, FILE *f, const char *path,
                                     const struct owl_synth_params *p, uint64_t *done, uint64_t total,
                                     struct owl_error *err)
{
    const bool kb = g->src == G_KB;
    const uint64_t rb = row_bytes(g->type, g->row_len) * (kb ? (uint64_t)s->kv_rank : 1);
    const int64_t units = kb ? s->n_head : g->n_rows;
    const int64_t chunk = rb >= (32u << 20) ? 1 : (int64_t)((32u << 20) / rb);
    const int64_t hf_len = s->t[g->hf].row_len;
    const size_t tmp_floats = (size_t)(hf_len > g->row_len ? hf_len : g->row_len) * 2 + 64;
    uint8_t *buf = xcalloc((size_t)(chunk < units ? chunk : units), rb);
    enum owl_status st = OWL_OK;
    for (int64_t u0 = 0; u0 < units && !st; u0 += chunk) {
        const int64_t nu = units - u0 < chunk ? units - u0 : chunk;
#pragma omp parallel if ((uint64_t)nu * rb > (1u << 20))
        {
            float *tmp = xcalloc(tmp_floats, sizeof *tmp);
#pragma omp for schedule(static)
            for (int64_t u = 0; u < nu; u++) {
                if (kb)
                    produce_kb_head(s, g, u0 + u, buf + (size_t)u * rb);
                else
                    produce_row(s, g, u0 + u, buf + (size_t)u * rb, tmp);
            }
            free(tmp);
        }
        st = synth_write(f, buf, (size_t)nu * rb, path, err);
        *done += (uint64_t)nu * rb;
        if (p->progress)
            p->progress(*done, total, p->user);
    }
    free(buf);
    return st;
}

/* ---- metadata ---------------------------------------------------------------------------------------- */

static double cfg_num(const struct synth *s, const char *key, double def)
{
    json_t *v = json_object_get(s->config, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

static void put_u32(struct gguf_writer *w, const char *arch, const char *key, double v)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gguf_writer_u32(w, k, (uint32_t)v);
}

static void put_f32(struct gguf_writer *w, const char *arch, const char *key, double v)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gguf_writer_f32(w, k, (float)v);
}

static void put_hparams(struct gguf_writer *w, const struct synth *s, const char *arch)
{
    put_u32(w, arch, "block_count", s->n_layer);
    put_u32(w, arch, "context_length", cfg_num(s, "max_position_embeddings", 4096));
    put_u32(w, arch, "embedding_length", s->d_model);
    put_u32(w, arch, "feed_forward_length", s->d_ff);
    put_u32(w, arch, "attention.head_count", s->n_head);
    put_u32(w, arch, "attention.head_count_kv", s->family == SYNTH_DEEPSEEK ? 1 : s->n_kv_head);
    put_f32(w, arch, "rope.freq_base", cfg_num(s, "rope_theta", 10000));
    put_f32(w, arch, "attention.layer_norm_rms_epsilon", cfg_num(s, "rms_norm_eps", 1e-6));
    json_t *rs = json_object_get(s->config, "rope_scaling");
    const char *rt = json_string_value(json_object_get(rs, "rope_type"));
    rt = rt ? rt : json_string_value(json_object_get(rs, "type"));
    if (rt && !strcmp(rt, "yarn")) {
        char k[128];
        snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
        gguf_writer_str(w, k, "yarn");
        put_f32(w, arch, "rope.scaling.factor", json_number_value(json_object_get(rs, "factor")));
        put_u32(w, arch, "rope.scaling.original_context_length",
                json_number_value(json_object_get(rs, "original_max_position_embeddings")));
        if (json_is_number(json_object_get(rs, "beta_fast")))
            put_f32(w, arch, "rope.scaling.yarn_beta_fast", json_number_value(json_object_get(rs, "beta_fast")));
        if (json_is_number(json_object_get(rs, "beta_slow")))
            put_f32(w, arch, "rope.scaling.yarn_beta_slow", json_number_value(json_object_get(rs, "beta_slow")));
        if (s->family == SYNTH_DEEPSEEK && json_is_number(json_object_get(rs, "mscale_all_dim")))
            put_f32(w, arch, "rope.scaling.yarn_log_multiplier", 0.1 * json_number_value(json_object_get(rs, "mscale_all_dim")));
    }
    if (s->family != SYNTH_QWEN3) {
        put_u32(w, arch, "expert_count", s->n_expert);
        put_u32(w, arch, "expert_used_count", s->n_expert_used);
    }
    switch (s->family) {
    case SYNTH_QWEN3:
    case SYNTH_QWEN3_MOE:
        put_u32(w, arch, "attention.key_length", s->d_head);
        put_u32(w, arch, "attention.value_length", s->d_head);
        if (s->family == SYNTH_QWEN3_MOE)
            put_u32(w, arch, "expert_feed_forward_length", s->d_ff_exp);
        break;
    case SYNTH_GPT_OSS:
        put_u32(w, arch, "attention.key_length", s->d_head);
        put_u32(w, arch, "attention.value_length", s->d_head);
        put_u32(w, arch, "attention.sliding_window", cfg_num(s, "sliding_window", 128));
        put_u32(w, arch, "expert_feed_forward_length", s->d_ff);
        break;
    case SYNTH_DEEPSEEK: {
        put_u32(w, arch, "leading_dense_block_count", s->n_dense_lead < s->n_layer ? s->n_dense_lead : s->n_layer);
        put_u32(w, arch, "vocab_size", s->n_vocab);
        if (s->q_rank)
            put_u32(w, arch, "attention.q_lora_rank", s->q_rank);
        put_u32(w, arch, "attention.kv_lora_rank", s->kv_rank);
        put_u32(w, arch, "attention.key_length", s->kv_rank + s->d_rope);
        put_u32(w, arch, "attention.value_length", s->kv_rank);
        put_u32(w, arch, "attention.key_length_mla", s->d_nope + s->d_rope);
        put_u32(w, arch, "attention.value_length_mla", s->d_v);
        put_u32(w, arch, "expert_feed_forward_length", s->d_ff_exp);
        put_u32(w, arch, "expert_shared_count", s->n_shared);
        put_f32(w, arch, "expert_weights_scale", cfg_num(s, "routed_scaling_factor", 1.0));
        if (json_is_true(json_object_get(s->config, "norm_topk_prob"))) {
            char k[128];
            snprintf(k, sizeof k, "%s.expert_weights_norm", arch);
            gguf_writer_bool(w, k, true);
        }
        const char *sf = json_string_value(json_object_get(s->config, "scoring_func"));
        put_u32(w, arch, "expert_gating_func", sf && !strcmp(sf, "sigmoid") ? 2 : 1); /* llama.cpp: 1 softmax, 2 sigmoid */
        if (json_is_integer(json_object_get(s->config, "n_group")))
            put_u32(w, arch, "expert_group_count", cfg_num(s, "n_group", 1));
        if (json_is_integer(json_object_get(s->config, "topk_group")))
            put_u32(w, arch, "expert_group_used_count", cfg_num(s, "topk_group", 1));
        put_u32(w, arch, "rope.dimension_count", s->d_rope);
        break;
    }
    }
}

/* A special token's text in tokenizer_config.json: a string or {"content": ...}. */
static const char *special_text(json_t *v)
{
    return json_is_object(v) ? json_string_value(json_object_get(v, "content")) : json_string_value(v);
}

/* tokenizer.ggml.*: tokens by id (ids the tokenizer lacks up to vocab_size become "[PAD<id>]", unused, as
 * the converter pads), types (1 normal, 3 control = special added tokens, 4 user-defined = other added
 * tokens, 5 unused), merges "a b", the pre-tokenizer's name, BOS/EOS/PAD, add_bos_token, chat template. */
static enum owl_status put_tokenizer(struct gguf_writer *w, const struct synth *s, const char *dir,
                                     struct owl_error *err)
{
    char path[4096];
    json_error_t je;
    json_t *tok = s->tokenizer;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *tcfg = synth_load_json(path, 0, &je); /* optional */
    const int V = s->n_vocab;
    const char **tokens = xcalloc((size_t)V, sizeof *tokens);
    int32_t *types = xcalloc((size_t)V, sizeof *types);
    char **pads = xcalloc((size_t)V, sizeof *pads);
    const char *key;
    json_t *v, *vocab = json_object_get(json_object_get(tok, "model"), "vocab");
    json_object_foreach(vocab, key, v) {
        const json_int_t id = json_integer_value(v);
        if (id >= 0 && id < V)
            tokens[id] = key, types[id] = 1;
    }
    size_t i;
    json_array_foreach(json_object_get(tok, "added_tokens"), i, v) {
        const json_int_t id = json_integer_value(json_object_get(v, "id"));
        const char *content = json_string_value(json_object_get(v, "content"));
        if (id >= 0 && id < V && content)
            tokens[id] = content, types[id] = json_is_true(json_object_get(v, "special")) ? 3 : 4;
    }
    for (int t = 0; t < V; t++)
        if (!tokens[t]) {
            char buf[32];
            snprintf(buf, sizeof buf, "[PAD%d]", t);
            tokens[t] = pads[t] = xstrdup(buf);
            types[t] = 5;
        }
    json_t *merges = json_object_get(json_object_get(tok, "model"), "merges");
    const size_t n_merges = json_array_size(merges);
    char **mtext = xcalloc(n_merges + 1, sizeof *mtext);
    json_array_foreach(merges, i, v) {
        if (json_is_string(v)) {
            mtext[i] = xstrdup(json_string_value(v));
        } else { /* the newer [a, b] spelling */
            const char *a = json_string_value(json_array_get(v, 0)), *b = json_string_value(json_array_get(v, 1));
            mtext[i] = xcalloc(strlen(a ? a : "") + strlen(b ? b : "") + 2, 1);
            sprintf(mtext[i], "%s %s", a ? a : "", b ? b : "");
        }
    }
    static const char *const pre[] = {[SYNTH_QWEN3] = "qwen2", [SYNTH_QWEN3_MOE] = "qwen2",
                                      [SYNTH_GPT_OSS] = "gpt-4o", [SYNTH_DEEPSEEK] = "deepseek-v3"};
    gguf_writer_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_str(w, "tokenizer.ggml.pre", pre[s->family]);
    gguf_writer_str_array(w, "tokenizer.ggml.tokens", tokens, (uint64_t)V);
    gguf_writer_i32_array(w, "tokenizer.ggml.token_type", types, (uint64_t)V);
    gguf_writer_str_array(w, "tokenizer.ggml.merges", (const char *const *)mtext, n_merges);
    /* ids: tokenizer_config.json's tokens, else config.json's ids (the converter's SpecialVocab order) */
    static const char *const roles[][3] = {{"bos_token", "bos_token_id", "tokenizer.ggml.bos_token_id"},
                                           {"eos_token", "eos_token_id", "tokenizer.ggml.eos_token_id"},
                                           {"pad_token", "pad_token_id", "tokenizer.ggml.padding_token_id"}};
    for (int r = 0; r < 3; r++) {
        const char *text = special_text(json_object_get(tcfg, roles[r][0]));
        json_int_t id = -1;
        for (int t = 0; text && t < V && id < 0; t++)
            if (!strcmp(tokens[t], text))
                id = t;
        json_t *cv = json_object_get(s->config, roles[r][1]);
        if (id < 0)
            id = json_is_array(cv) ? json_integer_value(json_array_get(cv, 0)) : json_is_integer(cv) ? json_integer_value(cv) : -1;
        if (id >= 0 && id < V)
            gguf_writer_u32(w, roles[r][2], (uint32_t)id);
    }
    json_t *add_bos = json_object_get(tcfg, "add_bos_token");
    if (json_is_boolean(add_bos))
        gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", json_is_true(add_bos));
    const char *tmpl = json_string_value(json_object_get(tcfg, "chat_template"));
    char *jinja = NULL;
    size_t jsize;
    struct owl_error ignored;
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (!tmpl && file_read_all(path, &jinja, &jsize, &ignored) == OWL_OK)
        tmpl = jinja;
    if (tmpl)
        gguf_writer_str(w, "tokenizer.chat_template", tmpl);
    free(jinja);
    for (size_t m = 0; m < n_merges; m++)
        free(mtext[m]);
    free(mtext);
    for (int t = 0; t < V; t++)
        free(pads[t]);
    free(pads);
    free(types);
    free(tokens);
    json_decref(tcfg);
    return OWL_OK;
}

enum owl_status synth_write_gguf(const struct synth *s, const struct owl_synth_params *p, FILE *f, const char *path,
                                 struct owl_error *err)
{
    static const char *const archs[] = {[SYNTH_QWEN3] = "qwen3", [SYNTH_QWEN3_MOE] = "qwen3moe",
                                        [SYNTH_GPT_OSS] = "gpt-oss", [SYNTH_DEEPSEEK] = "deepseek2"};
    const char *arch = archs[s->family];
    struct gguf_writer w;
    gguf_writer_init(&w);
    gguf_writer_str(&w, "general.architecture", arch);
    char name[160];
    snprintf(name, sizeof name, "owl synth %s (random weights)", s->like ? s->like : arch);
    gguf_writer_str(&w, "general.name", name);
    gguf_writer_u32(&w, "general.file_type", p->type == OWL_SYNTH_Q8_0 ? 7 : 32); /* LLAMA_FTYPE_MOSTLY_Q8_0 / _BF16 */
    gguf_writer_u32(&w, "general.quantization_version", 2);
    put_hparams(&w, s, arch);
    enum owl_status st = p->tokenizer_dir ? put_tokenizer(&w, s, p->tokenizer_dir, err) : OWL_OK;
    struct gplan gp = {0};
    gplan_build(&gp, s, p, arch);
    uint64_t total = 0, done = 0;
    for (int i = 0; i < gp.n; i++) {
        const uint64_t bytes = row_bytes(gp.g[i].type, gp.g[i].row_len) * (uint64_t)gp.g[i].n_rows;
        gguf_writer_tensor(&w, gp.g[i].name, gp.g[i].type, gp.g[i].n_dims, gp.g[i].ne, bytes);
        total += bytes;
    }
    if (!st)
        st = gguf_writer_header(&w, f, path, err);
    for (int i = 0; i < gp.n && !st; i++) {
        if (!(st = gguf_writer_pad_to_next(&w, f, path, err)))
            st = write_gtensor(s, &gp.g[i], f, path, p, &done, total, err);
        gguf_writer_wrote(&w, row_bytes(gp.g[i].type, gp.g[i].row_len) * (uint64_t)gp.g[i].n_rows);
    }
    free(gp.g);
    gguf_writer_free(&w);
    return st;
}
