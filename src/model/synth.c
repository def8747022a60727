/* synth.c — owl_synth (owl.h): a random-weight checkpoint with a released model's exact shapes and shipped
 * dtypes, as Hugging Face safetensors or as the GGUF llama.cpp's converter writes, so speed can be measured
 * without downloading weights.
 *
 * The model is described once as a list of tensors in Hugging Face names (synth_plan, per family: Qwen3,
 * Qwen3-MoE, GPT-OSS with MXFP4 experts, DeepSeek-V3 with FP8 128x128 blocks) and every value comes from a
 * generator keyed by (seed, tensor, expert, row), so both containers hold the same numbers: a GGUF and a
 * safetensors checkpoint written with one seed give the same logits. Files are streamed row by row (a
 * 13 GB gpt-oss-20b needs megabytes of memory). Values: matrices uniform with standard deviation 0.02,
 * norms 1, biases and sinks small; MXFP4 codes uniform with scale 2^-6; FP8 codes of magnitude 2^-6..2^-5
 * with block scales 1.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "format/gguf.h"
#include "kernels/kernels.h"
#include "model/released.h"
#include "owl.h"

enum kind {
    K_MAT,   /* a matrix: bf16 (safetensors); bf16 or q8_0 (GGUF) */
    K_ONES,  /* a norm weight: 1 */
    K_SMALL, /* a bias or sink: uniform in [-0.05, 0.05] */
    K_ZERO,  /* DeepSeek's e_score_correction_bias (fp32 in the release) */
    K_MXFP4, /* gpt-oss experts: *_blocks + *_scales (safetensors), GGML MXFP4, gate and up split (GGUF) */
    K_FP8,   /* DeepSeek: F8_E4M3 + weight_scale_inv (128x128 blocks, fp32) */
};

struct stensor {
    char name[128]; /* HF name; for per-expert tensors a pattern with one %d (the expert) */
    enum kind kind;
    int n_expert;   /* 0: one tensor; > 0: experts (stacked in GGUF; per expert or stacked in safetensors) */
    bool stacked;   /* the safetensors tensor itself is (E, rows, cols) (gpt-oss experts and their biases) */
    int rows, cols; /* 1-D: rows = 1 */
};

struct plan {
    struct stensor *t;
    int n, cap;
};

static void add(struct plan *p, enum kind k, int n_expert, bool stacked, int rows, int cols, const char *fmt, ...)
    OWL_PRINTF(7, 8);
static void add(struct plan *p, enum kind k, int n_expert, bool stacked, int rows, int cols, const char *fmt, ...)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->t = xrealloc(p->t, sizeof *p->t * (size_t)p->cap);
    }
    struct stensor *t = &p->t[p->n++];
    *t = (struct stensor){.kind = k, .n_expert = n_expert, .stacked = stacked, .rows = rows, .cols = cols};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
}

static int geti(json_t *cfg, const char *key, int dflt)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

/* The tensors of a checkpoint of cfg (config.json), in HF names, in the order they are written. */
static void synth_plan(json_t *cfg, const char *type, struct plan *p)
{
    const int L = geti(cfg, "num_hidden_layers", 0), d = geti(cfg, "hidden_size", 0), V = geti(cfg, "vocab_size", 0);
    const int nh = geti(cfg, "num_attention_heads", 0), nkv = geti(cfg, "num_key_value_heads", nh);
    const bool tied = json_is_true(json_object_get(cfg, "tie_word_embeddings"));
    add(p, K_MAT, 0, false, V, d, "model.embed_tokens.weight");
    if (!strcmp(type, "qwen3") || !strcmp(type, "qwen3_moe")) {
        const int dh = geti(cfg, "head_dim", d / nh), ff = geti(cfg, "intermediate_size", 0);
        const int E = geti(cfg, "num_experts", 0), ffe = geti(cfg, "moe_intermediate_size", 0);
        const bool moe = !strcmp(type, "qwen3_moe");
        for (int l = 0; l < L; l++) {
            add(p, K_ONES, 0, false, 1, d, "model.layers.%d.input_layernorm.weight", l);
            add(p, K_MAT, 0, false, nh * dh, d, "model.layers.%d.self_attn.q_proj.weight", l);
            add(p, K_MAT, 0, false, nkv * dh, d, "model.layers.%d.self_attn.k_proj.weight", l);
            add(p, K_MAT, 0, false, nkv * dh, d, "model.layers.%d.self_attn.v_proj.weight", l);
            add(p, K_MAT, 0, false, d, nh * dh, "model.layers.%d.self_attn.o_proj.weight", l);
            add(p, K_ONES, 0, false, 1, dh, "model.layers.%d.self_attn.q_norm.weight", l);
            add(p, K_ONES, 0, false, 1, dh, "model.layers.%d.self_attn.k_norm.weight", l);
            add(p, K_ONES, 0, false, 1, d, "model.layers.%d.post_attention_layernorm.weight", l);
            /* Qwen3MoeDecoderLayer: sparse unless in mlp_only_layers, and every decoder_sparse_step-th */
            bool sparse = moe && (l + 1) % geti(cfg, "decoder_sparse_step", 1) == 0;
            json_t *only = json_object_get(cfg, "mlp_only_layers");
            for (size_t i = 0; sparse && i < json_array_size(only); i++)
                sparse = json_integer_value(json_array_get(only, i)) != l;
            if (sparse) {
                add(p, K_MAT, 0, false, E, d, "model.layers.%d.mlp.gate.weight", l);
                add(p, K_MAT, E, false, ffe, d, "model.layers.%d.mlp.experts.%%d.gate_proj.weight", l);
                add(p, K_MAT, E, false, ffe, d, "model.layers.%d.mlp.experts.%%d.up_proj.weight", l);
                add(p, K_MAT, E, false, d, ffe, "model.layers.%d.mlp.experts.%%d.down_proj.weight", l);
            } else {
                add(p, K_MAT, 0, false, ff, d, "model.layers.%d.mlp.gate_proj.weight", l);
                add(p, K_MAT, 0, false, ff, d, "model.layers.%d.mlp.up_proj.weight", l);
                add(p, K_MAT, 0, false, d, ff, "model.layers.%d.mlp.down_proj.weight", l);
            }
        }
    } else if (!strcmp(type, "gpt_oss")) {
        const int dh = geti(cfg, "head_dim", 64), ff = geti(cfg, "intermediate_size", 0);
        const int E = geti(cfg, "num_local_experts", 0);
        for (int l = 0; l < L; l++) {
            add(p, K_ONES, 0, false, 1, d, "model.layers.%d.input_layernorm.weight", l);
            add(p, K_MAT, 0, false, nh * dh, d, "model.layers.%d.self_attn.q_proj.weight", l);
            add(p, K_SMALL, 0, false, 1, nh * dh, "model.layers.%d.self_attn.q_proj.bias", l);
            add(p, K_MAT, 0, false, nkv * dh, d, "model.layers.%d.self_attn.k_proj.weight", l);
            add(p, K_SMALL, 0, false, 1, nkv * dh, "model.layers.%d.self_attn.k_proj.bias", l);
            add(p, K_MAT, 0, false, nkv * dh, d, "model.layers.%d.self_attn.v_proj.weight", l);
            add(p, K_SMALL, 0, false, 1, nkv * dh, "model.layers.%d.self_attn.v_proj.bias", l);
            add(p, K_MAT, 0, false, d, nh * dh, "model.layers.%d.self_attn.o_proj.weight", l);
            add(p, K_SMALL, 0, false, 1, d, "model.layers.%d.self_attn.o_proj.bias", l);
            add(p, K_SMALL, 0, false, 1, nh, "model.layers.%d.self_attn.sinks", l);
            add(p, K_ONES, 0, false, 1, d, "model.layers.%d.post_attention_layernorm.weight", l);
            add(p, K_MAT, 0, false, E, d, "model.layers.%d.mlp.router.weight", l);
            add(p, K_SMALL, 0, false, 1, E, "model.layers.%d.mlp.router.bias", l);
            add(p, K_MXFP4, E, true, 2 * ff, d, "model.layers.%d.mlp.experts.gate_up_proj", l);
            add(p, K_SMALL, E, true, 1, 2 * ff, "model.layers.%d.mlp.experts.gate_up_proj_bias", l);
            add(p, K_MXFP4, E, true, d, ff, "model.layers.%d.mlp.experts.down_proj", l);
            add(p, K_SMALL, E, true, 1, d, "model.layers.%d.mlp.experts.down_proj_bias", l);
        }
    } else { /* deepseek_v3 */
        const int qr = geti(cfg, "q_lora_rank", 0), kvr = geti(cfg, "kv_lora_rank", 0);
        const int nope = geti(cfg, "qk_nope_head_dim", 0), rope = geti(cfg, "qk_rope_head_dim", 0);
        const int dv = geti(cfg, "v_head_dim", 0), ff = geti(cfg, "intermediate_size", 0);
        const int ffe = geti(cfg, "moe_intermediate_size", 0), E = geti(cfg, "n_routed_experts", 0);
        const int n_shared = geti(cfg, "n_shared_experts", 0), k_dense = geti(cfg, "first_k_dense_replace", 0);
        for (int l = 0; l < L; l++) {
            add(p, K_ONES, 0, false, 1, d, "model.layers.%d.input_layernorm.weight", l);
            if (qr) {
                add(p, K_FP8, 0, false, qr, d, "model.layers.%d.self_attn.q_a_proj.weight", l);
                add(p, K_ONES, 0, false, 1, qr, "model.layers.%d.self_attn.q_a_layernorm.weight", l);
                add(p, K_FP8, 0, false, nh * (nope + rope), qr, "model.layers.%d.self_attn.q_b_proj.weight", l);
            } else {
                add(p, K_FP8, 0, false, nh * (nope + rope), d, "model.layers.%d.self_attn.q_proj.weight", l);
            }
            add(p, K_FP8, 0, false, kvr + rope, d, "model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", l);
            add(p, K_ONES, 0, false, 1, kvr, "model.layers.%d.self_attn.kv_a_layernorm.weight", l);
            add(p, K_FP8, 0, false, nh * (nope + dv), kvr, "model.layers.%d.self_attn.kv_b_proj.weight", l);
            add(p, K_FP8, 0, false, d, nh * dv, "model.layers.%d.self_attn.o_proj.weight", l);
            add(p, K_ONES, 0, false, 1, d, "model.layers.%d.post_attention_layernorm.weight", l);
            if (l < k_dense) {
                add(p, K_FP8, 0, false, ff, d, "model.layers.%d.mlp.gate_proj.weight", l);
                add(p, K_FP8, 0, false, ff, d, "model.layers.%d.mlp.up_proj.weight", l);
                add(p, K_FP8, 0, false, d, ff, "model.layers.%d.mlp.down_proj.weight", l);
                continue;
            }
            add(p, K_MAT, 0, false, E, d, "model.layers.%d.mlp.gate.weight", l);
            add(p, K_ZERO, 0, false, 1, E, "model.layers.%d.mlp.gate.e_score_correction_bias", l);
            add(p, K_FP8, E, false, ffe, d, "model.layers.%d.mlp.experts.%%d.gate_proj.weight", l);
            add(p, K_FP8, E, false, ffe, d, "model.layers.%d.mlp.experts.%%d.up_proj.weight", l);
            add(p, K_FP8, E, false, d, ffe, "model.layers.%d.mlp.experts.%%d.down_proj.weight", l);
            add(p, K_FP8, 0, false, n_shared * ffe, d, "model.layers.%d.mlp.shared_experts.gate_proj.weight", l);
            add(p, K_FP8, 0, false, n_shared * ffe, d, "model.layers.%d.mlp.shared_experts.up_proj.weight", l);
            add(p, K_FP8, 0, false, d, n_shared * ffe, "model.layers.%d.mlp.shared_experts.down_proj.weight", l);
        }
    }
    add(p, K_ONES, 0, false, 1, d, "model.norm.weight");
    if (!tied)
        add(p, K_MAT, 0, false, V, d, "lm_head.weight");
}

/* ---- values -------------------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The generator of row r of expert e (0 for plain tensors) of tensor `name`. */
static uint64_t row_seed(uint64_t seed, const char *name, int e, int r)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (const char *c = name; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    h ^= (uint64_t)e * 0x100000001B3ull + (uint64_t)r * 0x9E3779B97F4A7C15ull;
    return h;
}

static uint16_t to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16); /* round to nearest even */
}

/* Row values of a float tensor (K_MAT, K_ONES, K_SMALL, K_ZERO), each a bf16 value, so an f32 copy (GGUF
 * vectors) holds exactly what the bf16 one does. */
static void row_f32(float *out, enum kind k, uint64_t s, int n)
{
    const float a = k == K_MAT ? 0.0346f : 0.05f; /* uniform [-a, a]: sd 0.02 for matrices */
    for (int i = 0; i < n; i += 2) {
        const uint64_t z = splitmix(&s);
        out[i] = k == K_ONES ? 1.0f : k == K_ZERO ? 0.0f : a * ((float)(uint32_t)z * 0x1p-31f - 1.0f);
        if (i + 1 < n)
            out[i + 1] = k == K_ONES ? 1.0f : k == K_ZERO ? 0.0f : a * ((float)(uint32_t)(z >> 32) * 0x1p-31f - 1.0f);
    }
    for (int i = 0; i < n; i++)
        out[i] = bf16_to_f32(to_bf16(out[i]));
}

/* A row of MXFP4 in the safetensors layout: n/2 code bytes (value 2j low nibble, 2j+1 high) and n/32 scales. */
static void row_mxfp4(uint8_t *codes, uint8_t *scales, uint64_t s, int n)
{
    for (int i = 0; i < n / 2; i += 8) {
        const uint64_t z = splitmix(&s);
        memcpy(codes + i, &z, n / 2 - i < 8 ? (size_t)(n / 2 - i) : 8);
    }
    for (int b = 0; b < n / 32; b++)
        scales[b] = 121; /* 2^-6: |w| <= 0.094, mean ~0.03 */
}

/* ---- output: a file written front to back --------------------------------------------------------- */

struct out {
    FILE *f;
    const char *path;
    bool failed;
};

static void put(struct out *o, const void *data, size_t n)
{
    if (!o->failed && fwrite(data, 1, n, o->f) != n)
        o->failed = true;
}

static void put_zeros(struct out *o, size_t n)
{
    static const uint8_t z[64];
    while (n) {
        const size_t k = n < sizeof z ? n : sizeof z;
        put(o, z, k);
        n -= k;
    }
}

static void bf16_row(uint16_t *out, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = to_bf16(x[i]);
}

/* E4M3 codes around 2^-6 with random signs and mantissas (never the NaN code). */
static void row_fp8(uint8_t *out, uint64_t s, int n)
{
    for (int i = 0; i < n; i += 8) {
        uint64_t z = splitmix(&s);
        for (int j = 0; j < 8 && i + j < n; j++, z >>= 8) {
            const uint8_t b = (uint8_t)z;
            out[i + j] = (uint8_t)((b & 0x80) | ((1 + (b >> 5 & 1)) << 3) | (b & 7)); /* 2^-6 .. 2^-5 */
        }
    }
}

/* ---- the stored tensors of a plan, per container -------------------------------------------------- */

/* One stored tensor: what a safetensors header or a GGUF tensor info lists. part says which bytes of its
 * stensor it holds: ST_* for safetensors, G_* for GGUF. */
enum part { P_PLAIN, P_BLOCKS, P_SCALES, P_SCALE_INV, P_EVEN, P_ODD };

struct stored {
    char name[160];
    const struct stensor *t;
    int expert;       /* per-expert safetensors tensor: its expert; -1 for every expert (stacked) */
    enum part part;
    int dtype;        /* safetensors: enum dtype; GGUF: ggml type */
    int n_dim;
    int64_t shape[4]; /* outermost first */
    size_t n_bytes;
};

struct stored_list {
    struct stored *s;
    int n, cap;
};

static struct stored *push(struct stored_list *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->s = xrealloc(l->s, sizeof *l->s * (size_t)l->cap);
    }
    struct stored *s = &l->s[l->n++];
    memset(s, 0, sizeof *s);
    return s;
}

static void shape_set(struct stored *s, int n_dim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    const int64_t v[4] = {a, b, c, d};
    s->n_dim = n_dim;
    for (int i = 0; i < n_dim; i++)
        s->shape[i] = v[i];
}

static void list_safetensors(const struct plan *p, struct stored_list *l)
{
    for (int i = 0; i < p->n; i++) {
        const struct stensor *t = &p->t[i];
        const int E = t->n_expert, R = t->rows, C = t->cols;
        const int n_each = E && !t->stacked ? E : 1;
        for (int e = 0; e < n_each; e++) {
            char name[140]; /* room for the suffixes in stored.name */
            snprintf(name, sizeof name, t->name, e);
            struct stored *s = push(l);
            s->t = t;
            s->expert = E && !t->stacked ? e : -1;
            snprintf(s->name, sizeof s->name, "%s", name);
            if (t->kind == K_MXFP4) {
                snprintf(s->name, sizeof s->name, "%s_blocks", name);
                s->part = P_BLOCKS, s->dtype = DTYPE_U8, shape_set(s, 4, E, R, C / 32, 16);
                s->n_bytes = (size_t)E * R * C / 2;
                s = push(l);
                *s = l->s[l->n - 2];
                snprintf(s->name, sizeof s->name, "%s_scales", name);
                s->part = P_SCALES, shape_set(s, 3, E, R, C / 32, 0);
                s->n_bytes = (size_t)E * R * C / 32;
                continue;
            }
            if (t->kind == K_FP8) {
                s->part = P_PLAIN, s->dtype = DTYPE_F8_E4M3, shape_set(s, 2, R, C, 0, 0);
                s->n_bytes = (size_t)R * C;
                s = push(l);
                *s = l->s[l->n - 2];
                snprintf(s->name, sizeof s->name, "%s_scale_inv", name);
                s->part = P_SCALE_INV, s->dtype = DTYPE_F32;
                shape_set(s, 2, (R + 127) / 128, (C + 127) / 128, 0, 0);
                s->n_bytes = (size_t)s->shape[0] * s->shape[1] * 4;
                continue;
            }
            s->part = P_PLAIN;
            s->dtype = t->kind == K_ZERO ? DTYPE_F32 : DTYPE_BF16;
            if (t->stacked)
                shape_set(s, 2, E, C, 0, 0); /* (E, cols) biases */
            else if (R == 1)
                shape_set(s, 1, C, 0, 0, 0);
            else
                shape_set(s, 2, R, C, 0, 0);
            s->n_bytes = (size_t)(t->stacked ? E : R) * C * (t->kind == K_ZERO ? 4 : 2);
        }
    }
}

/* GGUF: matrices bf16 (or q8_0 when asked and whole blocks), vectors f32, experts stacked, gpt-oss's
 * gate_up split into its even (gate) and odd (up) rows or bias columns, MXFP4 in GGML blocks. */
static enum owl_status list_gguf(const struct plan *p, const char *arch, bool q8, struct stored_list *l,
                                 struct owl_error *err)
{
    for (int i = 0; i < p->n; i++) {
        const struct stensor *t = &p->t[i];
        const int E = t->n_expert, R = t->rows, C = t->cols;
        char hf[160];
        if (t->kind == K_FP8)
            return fail(err, OWL_ERR_UNSUPPORTED, "synth: GGUF has no FP8 block type (tensor %s): write DeepSeek as "
                        "safetensors", t->name);
        const bool split = strstr(t->name, "gate_up_proj") != NULL;
        for (int half = 0; half < (split ? 2 : 1); half++) {
            struct stored *s = push(l);
            s->t = t;
            s->expert = -1;
            s->part = split ? (half ? P_ODD : P_EVEN) : P_PLAIN;
            const int rows = split && t->kind == K_MXFP4 ? R / 2 : R, cols = split && t->kind != K_MXFP4 ? C / 2 : C;
            if (t->kind == K_MXFP4) /* model.layers.L.mlp.experts.X_proj -> per-expert name for the mapping */
                snprintf(hf, sizeof hf, "%.*s.0.%s.weight", (int)(strstr(t->name, ".experts.") + 8 - t->name), t->name,
                         split ? (half ? "up_proj" : "gate_proj") : "down_proj");
            else if (split)
                snprintf(hf, sizeof hf, "%.*s.%s", (int)(strstr(t->name, ".experts.") + 8 - t->name), t->name,
                         half ? "up_proj_bias" : "gate_proj_bias");
            else
                snprintf(hf, sizeof hf, t->name, 0);
            if (!gguf_name_of_hf(arch, hf, s->name, sizeof s->name))
                return fail(err, OWL_ERR_UNSUPPORTED, "synth: no GGUF name for %s in architecture %s", hf, arch);
            if (t->kind == K_MXFP4) {
                s->dtype = 39, shape_set(s, 3, E, rows, cols, 0);
                s->n_bytes = (size_t)E * rows * cols / 32 * 17;
            } else if (R == 1 || t->stacked) { /* vectors and (E, cols) biases: f32 */
                s->dtype = 0;
                if (t->stacked)
                    shape_set(s, 2, E, cols, 0, 0);
                else
                    shape_set(s, 1, cols, 0, 0, 0);
                s->n_bytes = (size_t)(t->stacked ? E : 1) * cols * 4;
            } else {
                const bool q = q8 && cols % 32 == 0 && !strstr(t->name, "mlp.gate.weight") &&
                               !strstr(t->name, "mlp.router.weight"); /* routers stay exact, as llama.cpp's */
                s->dtype = q ? 8 : 30;
                if (E)
                    shape_set(s, 3, E, rows, cols, 0);
                else
                    shape_set(s, 2, rows, cols, 0, 0);
                s->n_bytes = (size_t)(E ? E : 1) * rows * (q ? (size_t)cols / 32 * 34 : (size_t)cols * 2);
            }
        }
    }
    return OWL_OK;
}

/* The bytes of one stored tensor, row by row. */
static void write_stored(struct out *o, const struct stored *s, uint64_t seed, bool gguf, void *scratch)
{
    const struct stensor *t = s->t;
    const int E = t->n_expert ? t->n_expert : 1, C = t->cols;
    float *f = scratch;                          /* (C) */
    uint8_t *b = (uint8_t *)(f + C + 64);        /* row bytes */
    const int e0 = s->expert >= 0 ? s->expert : 0, e1 = s->expert >= 0 ? s->expert + 1 : (t->stacked || gguf ? E : 1);
    for (int e = e0; e < e1; e++) {
        const int R = t->stacked && t->kind != K_MXFP4 ? 1 : t->rows;
        const int r0 = s->part == P_ODD && t->kind == K_MXFP4 ? 1 : 0, step = (s->part == P_EVEN || s->part == P_ODD) && t->kind == K_MXFP4 ? 2 : 1;
        if (s->part == P_SCALE_INV) {
            const float one = 1.0f;
            for (int64_t i = 0; i < s->shape[0] * s->shape[1]; i++)
                put(o, &one, 4);
            continue;
        }
        for (int r = r0; r < R; r += step) {
            const uint64_t rs = row_seed(seed, t->name, e, r);
            if (t->kind == K_MXFP4) {
                uint8_t *codes = b, *scales = b + C / 2;
                row_mxfp4(codes, scales, rs, C);
                if (s->part == P_BLOCKS)
                    put(o, codes, (size_t)C / 2);
                else if (s->part == P_SCALES)
                    put(o, scales, (size_t)C / 32);
                else /* GGML blocks: scale, then value j in the low nibble and j + 16 in the high one */
                    for (int k = 0; k < C / 32; k++) {
                        uint8_t blk[17] = {scales[k]};
                        const uint8_t *hf = codes + (size_t)k * 16;
                        for (int j = 0; j < 16; j++) {
                            const int i = 16 + j;
                            blk[1 + j] = (uint8_t)((j % 2 ? hf[j / 2] >> 4 : hf[j / 2] & 15) |
                                                   (i % 2 ? hf[i / 2] >> 4 : hf[i / 2] & 15) << 4);
                        }
                        put(o, blk, 17);
                    }
                continue;
            }
            if (t->kind == K_FP8) {
                row_fp8(b, rs, C);
                put(o, b, (size_t)C);
                continue;
            }
            row_f32(f, t->kind, rs, C);
            int n = C;
            if (s->part == P_EVEN || s->part == P_ODD) { /* gpt-oss gate_up bias columns */
                n = C / 2;
                for (int c = 0; c < n; c++)
                    f[c] = f[2 * c + (s->part == P_ODD)];
            }
            if ((gguf && s->dtype == 0) || (!gguf && s->dtype == DTYPE_F32)) {
                put(o, f, (size_t)n * 4);
            } else if (gguf && s->dtype == 8) {
                quantize_row_q8_0(b, f, n);
                put(o, b, (size_t)n / 32 * 34);
            } else {
                bf16_row((uint16_t *)b, f, n);
                put(o, b, (size_t)n * 2);
            }
        }
    }
}

/* ---- GGUF metadata -------------------------------------------------------------------------------- */

struct buf {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv;
};

static void buf_put(struct buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 4096;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void buf_u32(struct buf *b, uint32_t v) { buf_put(b, &v, 4); }
static void buf_u64(struct buf *b, uint64_t v) { buf_put(b, &v, 8); }
static void buf_str(struct buf *b, const char *s)
{
    buf_u64(b, strlen(s));
    buf_put(b, s, strlen(s));
}
enum { G_U32 = 4, G_I32 = 5, G_F32 = 6, G_BOOL = 7, G_STR = 8, G_ARR = 9 };
static void kv_u32(struct buf *b, const char *k, uint32_t v) { buf_str(b, k), buf_u32(b, G_U32), buf_u32(b, v), b->n_kv++; }
static void kv_f32(struct buf *b, const char *k, float v) { buf_str(b, k), buf_u32(b, G_F32), buf_put(b, &v, 4), b->n_kv++; }
static void kv_str(struct buf *b, const char *k, const char *v) { buf_str(b, k), buf_u32(b, G_STR), buf_str(b, v), b->n_kv++; }
static void kv_bool(struct buf *b, const char *k, bool v)
{
    const uint8_t x = v;
    buf_str(b, k), buf_u32(b, G_BOOL), buf_put(b, &x, 1), b->n_kv++;
}

/* A config value under its GGUF key: llama.cpp reads counts as u32 and the rest as f32. */
static void put_key(void *user, const char *key, const struct kv_value *v)
{
    struct buf *b = user;
    const bool is_float = strstr(key, "epsilon") || strstr(key, "freq_base") || strstr(key, "factor") ||
                          strstr(key, "beta_");
    if (v->type == KV_BOOL)
        kv_bool(b, key, v->b);
    else if (v->type == KV_STRING)
        kv_str(b, key, v->s);
    else if (is_float)
        kv_f32(b, key, (float)v->f);
    else
        kv_u32(b, key, (uint32_t)v->i);
}

/* tokenizer.ggml.* from tokenizer.json (+ tokenizer_config.json) as llama.cpp's converter writes them: the
 * tokens by id padded to vocab_size with [PADn] (type unused), added tokens control (special) or user
 * defined, the merges as "a b", the pre-tokenizer by family, BOS/EOS from the config, the chat template. */
static enum owl_status gguf_tokenizer(struct buf *b, const char *dir, const char *pre, json_t *cfg, int V,
                                      struct owl_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_error_t je;
    json_t *tok = json_load_file(path, 0, &je);
    if (!tok)
        return fail(err, OWL_ERR_IO, "%s: %s (line %d)", path, je.text, je.line);
    json_t *model = json_object_get(tok, "model"), *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges"), *added = json_object_get(tok, "added_tokens");
    if (!json_is_object(vocab) || !json_is_array(merges)) {
        json_decref(tok);
        return fail(err, OWL_ERR_BAD_FILE, "%s: expected a BPE model with vocab and merges", path);
    }
    const char **names = xcalloc((size_t)V, sizeof *names);
    int32_t *types = xcalloc((size_t)V, sizeof *types);
    const char *k;
    json_t *v;
    int max_id = -1;
    json_object_foreach(vocab, k, v) {
        const json_int_t id = json_integer_value(v);
        if (id >= 0 && id < V)
            names[id] = k, types[id] = 1;
        max_id = id > max_id ? (int)id : max_id;
    }
    size_t i;
    json_array_foreach(added, i, v) {
        const json_int_t id = json_integer_value(json_object_get(v, "id"));
        if (id >= 0 && id < V) {
            names[id] = json_string_value(json_object_get(v, "content"));
            types[id] = json_is_true(json_object_get(v, "special")) ? 3 : 4;
        }
        max_id = id > max_id ? (int)id : max_id;
    }
    if (max_id >= V) {
        free(names), free(types), json_decref(tok);
        return fail(err, OWL_ERR_INVALID_ARG, "%s: token id %d does not fit vocab_size %d", path, max_id, V);
    }
    kv_str(b, "tokenizer.ggml.model", "gpt2");
    kv_str(b, "tokenizer.ggml.pre", pre);
    buf_str(b, "tokenizer.ggml.tokens"), buf_u32(b, G_ARR), buf_u32(b, G_STR), buf_u64(b, (uint64_t)V), b->n_kv++;
    char pad[32];
    for (int t = 0; t < V; t++) {
        if (!names[t])
            snprintf(pad, sizeof pad, "[PAD%d]", t), types[t] = 5;
        buf_str(b, names[t] ? names[t] : pad);
    }
    buf_str(b, "tokenizer.ggml.token_type"), buf_u32(b, G_ARR), buf_u32(b, G_I32), buf_u64(b, (uint64_t)V), b->n_kv++;
    buf_put(b, types, (size_t)V * 4);
    buf_str(b, "tokenizer.ggml.merges"), buf_u32(b, G_ARR), buf_u32(b, G_STR), buf_u64(b, json_array_size(merges));
    b->n_kv++;
    json_array_foreach(merges, i, v) {
        if (json_is_string(v)) {
            buf_str(b, json_string_value(v));
        } else { /* ["a", "b"] */
            char *m = xcalloc(1, strlen(json_string_value(json_array_get(v, 0))) +
                                     strlen(json_string_value(json_array_get(v, 1))) + 2);
            sprintf(m, "%s %s", json_string_value(json_array_get(v, 0)), json_string_value(json_array_get(v, 1)));
            buf_str(b, m);
            free(m);
        }
    }
    if (json_is_integer(json_object_get(cfg, "bos_token_id")))
        kv_u32(b, "tokenizer.ggml.bos_token_id", (uint32_t)json_integer_value(json_object_get(cfg, "bos_token_id")));
    if (json_is_integer(json_object_get(cfg, "eos_token_id")))
        kv_u32(b, "tokenizer.ggml.eos_token_id", (uint32_t)json_integer_value(json_object_get(cfg, "eos_token_id")));
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *tc = json_load_file(path, 0, &je);
    kv_bool(b, "tokenizer.ggml.add_bos_token", tc && json_is_true(json_object_get(tc, "add_bos_token")));
    if (tc && json_is_string(json_object_get(tc, "chat_template")))
        kv_str(b, "tokenizer.chat_template", json_string_value(json_object_get(tc, "chat_template")));
    json_decref(tc);
    free(names), free(types), json_decref(tok);
    return OWL_OK;
}

/* ---- owl_synth ------------------------------------------------------------------------------------ */

static json_t *load_config(const char *like, char *name, size_t name_size, struct owl_error *err)
{
    for (int i = 0; i < n_released_configs; i++)
        if (!strcasecmp(like, released_configs[i].name)) {
            snprintf(name, name_size, "%s", released_configs[i].name);
            return json_loads(released_configs[i].config_json, 0, NULL);
        }
    json_error_t je;
    json_t *cfg = json_load_file(like, 0, &je);
    if (!cfg) {
        fail(err, OWL_ERR_INVALID_ARG, "synth: '%s' is neither a released model owl knows (owl compare --help "
             "lists them) nor a readable config.json (%s)", like, je.text);
        return NULL;
    }
    snprintf(name, name_size, "%s", like);
    return cfg;
}

static bool copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char chunk[65536];
    size_t n;
    bool ok = a && b;
    while (ok && (n = fread(chunk, 1, sizeof chunk, a)) > 0)
        ok = fwrite(chunk, 1, n, b) == n;
    if (a)
        fclose(a);
    if (b && fclose(b) != 0)
        ok = false;
    return ok;
}

static bool path_nonempty(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    if (!S_ISDIR(st.st_mode))
        return true;
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/config.json", path);
    if (stat(probe, &st) == 0)
        return true;
    snprintf(probe, sizeof probe, "%s/model.safetensors", path);
    return stat(probe, &st) == 0;
}

/* Every stored tensor's bytes, in order, with padding to `align` (GGUF) between them. */
static void write_all(struct out *o, const struct stored_list *l, uint64_t seed, bool gguf, size_t align,
                      const struct owl_synth_params *p, uint64_t total)
{
    int max_cols = 0;
    for (int i = 0; i < l->n; i++)
        max_cols = l->s[i].t->cols > max_cols ? l->s[i].t->cols : max_cols;
    void *scratch = xcalloc((size_t)max_cols + 64, 4 + 4);
    uint64_t done = 0;
    for (int i = 0; i < l->n && !o->failed; i++) {
        write_stored(o, &l->s[i], seed, gguf, scratch);
        done += l->s[i].n_bytes;
        if (align && l->s[i].n_bytes % align)
            put_zeros(o, align - l->s[i].n_bytes % align);
        if (p->progress)
            p->progress(done, total, p->user);
    }
    free(scratch);
}

static const char *st_dtype_name(int dtype) { return dtype_name((enum dtype)dtype); }

enum owl_status owl_synth(const struct owl_synth_params *p, struct owl_error *err)
{
    char name[256], path[1200];
    json_t *cfg = load_config(p->like, name, sizeof name, err);
    if (!cfg)
        return err ? err->status : OWL_ERR_INVALID_ARG;
    enum owl_status st = OWL_OK;
    struct plan plan = {0};
    struct stored_list list = {0};
    struct buf meta = {0};
    struct out o = {0};
    const char *type = json_string_value(json_object_get(cfg, "model_type"));
    const char *arch = !type ? NULL : !strcmp(type, "qwen3") ? "qwen3" : !strcmp(type, "qwen3_moe") ? "qwen3moe"
                     : !strcmp(type, "gpt_oss") ? "gpt-oss" : !strcmp(type, "deepseek_v3") ? "deepseek2" : NULL;
    if (!arch) {
        st = fail(err, OWL_ERR_UNSUPPORTED, "synth: model_type '%s' of %s: owl synth writes qwen3, qwen3_moe, gpt_oss "
                  "and deepseek_v3", type ? type : "(none)", name);
        goto done;
    }
    const int L = geti(cfg, "num_hidden_layers", 0);
    if (p->n_layers > 0 && p->n_layers != L) {
        json_object_set_new(cfg, "num_hidden_layers", json_integer(p->n_layers));
        json_t *lt = json_object_get(cfg, "layer_types"); /* gpt-oss: one entry per layer */
        while (json_is_array(lt) && (int)json_array_size(lt) > p->n_layers)
            json_array_remove(lt, json_array_size(lt) - 1);
        while (json_is_array(lt) && (int)json_array_size(lt) < p->n_layers)
            json_array_append_new(lt, json_string(json_array_size(lt) % 2 ? "full_attention" : "sliding_attention"));
        json_t *k_dense = json_object_get(cfg, "first_k_dense_replace"); /* DeepSeek: dense layers first */
        if (json_is_integer(k_dense) && json_integer_value(k_dense) > p->n_layers)
            json_object_set_new(cfg, "first_k_dense_replace", json_integer(p->n_layers));
        json_t *mlp_only = json_object_get(cfg, "max_window_layers");
        if (json_is_integer(mlp_only))
            json_object_set_new(cfg, "max_window_layers", json_integer(p->n_layers));
    }
    if (p->gguf && !strcmp(arch, "deepseek2")) {
        st = fail(err, OWL_ERR_UNSUPPORTED, "synth: DeepSeek-V3 ships FP8 128x128 blocks, which GGUF has no type for, "
                  "and owl reads DeepSeek from safetensors: write it with --format safetensors");
        goto done;
    }
    synth_plan(cfg, type, &plan);
    if (p->force ? false : path_nonempty(p->out)) {
        st = fail(err, OWL_ERR_INVALID_ARG, "synth: %s exists and is not empty (--force overwrites)", p->out);
        goto done;
    }
    const int V = geti(cfg, "vocab_size", 0);
    const char *pre = !strcmp(arch, "gpt-oss") ? "gpt-4o" : !strcmp(arch, "deepseek2") ? "deepseek-v3" : "qwen2";
    if (p->tokenizer && (st = gguf_tokenizer(&meta, p->tokenizer, pre, cfg, V, err))) /* checks the ids fit */
        goto done;
    uint64_t total = 0;
    if (p->gguf) {
        if ((st = list_gguf(&plan, arch, p->q8_0, &list, err)))
            goto done;
        struct buf head = {0};
        struct kv_table kv;
        char *text = json_dumps(cfg, 0);
        if ((st = kv_from_json(&kv, text, strlen(text), name, err))) {
            free(text);
            goto done;
        }
        free(text);
        struct buf keys = {0};
        kv_str(&keys, "general.architecture", arch);
        kv_str(&keys, "general.name", name);
        kv_u32(&keys, "general.alignment", 32);
        /* llama.cpp's file type (llama_ftype): MOSTLY_BF16 32, MOSTLY_Q8_0 7, MXFP4_MOE 38 */
        kv_u32(&keys, "general.file_type", !strcmp(arch, "gpt-oss") ? 38 : p->q8_0 ? 7 : 32);
        gguf_keys_of_config(arch, &kv, put_key, &keys);
        const struct kv_value *hd = kv_find(&kv, "head_dim"); /* llama.cpp sizes V from value_length */
        if (hd && hd->type == KV_INT) {
            snprintf(path, sizeof path, "%s.attention.value_length", arch);
            kv_u32(&keys, path, (uint32_t)hd->i);
        }
        const char *rope_type = NULL;
        struct owl_error e2;
        if (kv_get_str_opt(&kv, "rope_scaling.rope_type", &rope_type, &e2) == OWL_OK && rope_type) {
            snprintf(path, sizeof path, "%s.rope.scaling.type", arch);
            kv_str(&keys, path, rope_type);
        }
        kv_table_free(&kv);
        buf_put(&head, "GGUF", 4);
        buf_u32(&head, 3);
        buf_u64(&head, (uint64_t)list.n);
        buf_u64(&head, keys.n_kv + meta.n_kv);
        buf_put(&head, keys.p, keys.n);
        if (meta.n)
            buf_put(&head, meta.p, meta.n);
        free(keys.p);
        uint64_t off = 0;
        for (int i = 0; i < list.n; i++) {
            const struct stored *s = &list.s[i];
            buf_str(&head, s->name);
            buf_u32(&head, (uint32_t)s->n_dim);
            for (int d = s->n_dim - 1; d >= 0; d--) /* ne: innermost first */
                buf_u64(&head, (uint64_t)s->shape[d]);
            buf_u32(&head, (uint32_t)s->dtype);
            buf_u64(&head, off);
            off += (s->n_bytes + 31) / 32 * 32;
        }
        total = off;
        if (head.n % 32)
            buf_put(&head, (const uint8_t[32]){0}, 32 - head.n % 32);
        o.path = p->out;
        o.f = fopen(p->out, "wb");
        if (!o.f) {
            free(head.p);
            st = fail(err, OWL_ERR_IO, "%s: cannot create: %s", p->out, strerror(errno));
            goto done;
        }
        put(&o, head.p, head.n);
        free(head.p);
        write_all(&o, &list, p->seed, true, 32, p, total);
    } else {
        list_safetensors(&plan, &list);
        if (mkdir(p->out, 0755) != 0 && errno != EEXIST) {
            st = fail(err, OWL_ERR_IO, "%s: cannot create the directory: %s", p->out, strerror(errno));
            goto done;
        }
        snprintf(path, sizeof path, "%s/config.json", p->out);
        json_object_set_new(cfg, "torch_dtype", json_string("bfloat16"));
        if (json_dump_file(cfg, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            st = fail(err, OWL_ERR_IO, "%s: cannot write", path);
            goto done;
        }
        json_t *hdr = json_object();
        uint64_t off = 0;
        for (int i = 0; i < list.n; i++) {
            const struct stored *s = &list.s[i];
            json_t *shape = json_array();
            for (int d = 0; d < s->n_dim; d++)
                json_array_append_new(shape, json_integer(s->shape[d]));
            json_object_set_new(hdr, s->name,
                                json_pack("{s:s, s:o, s:[I, I]}", "dtype", st_dtype_name(s->dtype), "shape", shape,
                                          "data_offsets", (json_int_t)off, (json_int_t)(off + s->n_bytes)));
            off += s->n_bytes;
        }
        total = off;
        json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
        char *text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(hdr);
        size_t hn = strlen(text), padded = (hn + 7) / 8 * 8;
        snprintf(path, sizeof path, "%s/model.safetensors", p->out);
        o.path = path;
        o.f = fopen(path, "wb");
        if (!o.f) {
            free(text);
            st = fail(err, OWL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            goto done;
        }
        const uint64_t n64 = padded;
        put(&o, &n64, 8);
        put(&o, text, hn);
        for (size_t i = hn; i < padded; i++)
            put(&o, " ", 1);
        free(text);
        write_all(&o, &list, p->seed, false, 0, p, total);
        static const char *const tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
        for (int i = 0; p->tokenizer && i < 2; i++) {
            char from[1200], to[1200];
            snprintf(from, sizeof from, "%s/%s", p->tokenizer, tok_files[i]);
            snprintf(to, sizeof to, "%s/%s", p->out, tok_files[i]);
            struct stat sb;
            if (stat(from, &sb) == 0 && !copy_file(from, to)) {
                st = fail(err, OWL_ERR_IO, "%s: cannot copy to %s", from, to);
                goto done;
            }
        }
    }
    if (fclose(o.f) != 0)
        o.failed = true;
    o.f = NULL;
    if (o.failed)
        st = fail(err, OWL_ERR_IO, "%s: write failed (disk full?): %s", o.path, strerror(errno));
done:
    if (o.f)
        fclose(o.f);
    if (st && o.path) /* no half-written model left behind */
        remove(o.path);
    free(plan.t);
    free(list.s);
    free(meta.p);
    json_decref(cfg);
    return st;
}
