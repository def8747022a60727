/* synth.c — `owl synth`: a random-weight checkpoint with a released model's real shapes and shipped dtypes,
 * so speed and memory can be measured without downloading weights.
 *
 * The config is the release's own (model/released.c) or any config.json of the four supported layouts
 * (qwen3, qwen3_moe, gpt_oss, deepseek_v3/v2); the tensor plan follows the names and shapes the family
 * files take (qwen3.c, gpt_oss.c, deepseek_v3.c; ARCHITECTURES.md §2.5, §3.5-3.6, §4.6-4.8). Values are
 * meaningless but sane: weights uniform with standard deviation ~0.02, norm weights 1, so activations stay
 * in range and greedy decoding is stable. Safetensors output is a model directory (config.json, shards of
 * at most 4 GB (Qwen3) or 5 GB (gpt-oss, DeepSeek) named as the release names them, the tokenizer files);
 * GGUF output is synth_gguf.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file_map.h"
#include "format/safetensors.h"
#include "kernels/kernels.h"
#include "model/released.h"
#include "model/synth.h"

/* ---- values: counter-based, one seed per (tensor, row) --------------------------------------------- */

static uint64_t mix64(uint64_t z) /* splitmix64's finalizer */
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static uint8_t fp8_codes[256]; /* random byte -> e4m3 code nearest to a uniform value in [-12, 12] */

static void fp8_codes_init(void)
{
    for (int i = 0; i < 256; i++) {
        const float x = ((float)(i & 127) + 0.5f) / 128.0f * 12.0f;
        int best = 0;
        for (int c = 1; c < 0x7f; c++)
            if (fabsf(fp8_e4m3_to_f32((uint8_t)c) - x) < fabsf(fp8_e4m3_to_f32((uint8_t)best) - x))
                best = c;
        fp8_codes[i] = (uint8_t)(best | (i & 128));
    }
}

void synth_fill_row(const struct synth *s, const struct synth_tensor *t, int64_t r, uint8_t *out)
{
    uint64_t st = mix64(t->name_hash ^ mix64(s->seed + 0x9e3779b97f4a7c15ull) ^ ((uint64_t)r * 0xd1b54a32d192ed03ull));
#define NEXT() (st += 0x9e3779b97f4a7c15ull, mix64(st))
    const int64_t n = t->row_len;
    const float a = 0.02f * 1.7320508f / 8388608.0f; /* uniform on +-0.02*sqrt(3): standard deviation 0.02 */
    switch (t->fill) {
    case FILL_ONES:
        for (int64_t i = 0; i < n; i++) {
            if (t->dtype == DTYPE_F32)
                memcpy(out + 4 * i, &(float){1.0f}, 4);
            else
                memcpy(out + 2 * i, &(uint16_t){0x3f80}, 2);
        }
        break;
    case FILL_NORMAL:
        for (int64_t i = 0; i < n; i += 2) {
            const uint64_t z = NEXT();
            const float v[2] = {(float)((int32_t)(z >> 40) - 8388608) * a,
                                (float)((int32_t)((z >> 8) & 0xffffff) - 8388608) * a};
            for (int k = 0; k < 2 && i + k < n; k++) {
                if (t->dtype == DTYPE_F32) {
                    const float b = bf16_to_f32(synth_f32_to_bf16(v[k])); /* bf16-exact, like the bf16 tensors */
                    memcpy(out + 4 * (i + k), &b, 4);
                } else {
                    const uint16_t h = synth_f32_to_bf16(v[k]);
                    memcpy(out + 2 * (i + k), &h, 2);
                }
            }
        }
        break;
    case FILL_FP8:
    case FILL_MX_BLOCKS:
        for (int64_t i = 0; i < n; i += 8) {
            uint64_t z = NEXT();
            for (int k = 0; k < 8 && i + k < n; k++, z >>= 8)
                out[i + k] = t->fill == FILL_FP8 ? fp8_codes[z & 255] : (uint8_t)z;
        }
        break;
    case FILL_FP8_SCALE:
        for (int64_t i = 0; i < n; i++) {
            const float v = (NEXT() & 1) ? 1.0f / 256 : 1.0f / 512;
            memcpy(out + 4 * i, &v, 4);
        }
        break;
    case FILL_MX_SCALES:
        for (int64_t i = 0; i < n; i++)
            out[i] = (uint8_t)(119 + (NEXT() & 1)); /* E8M0: 2^-8 or 2^-7 */
        break;
    }
#undef NEXT
}

void synth_row_f32(const struct synth *s, int ti, int64_t r, float *out)
{
    const struct synth_tensor *t = &s->t[ti];
    const int64_t n = t->row_len;
    uint8_t *raw = xcalloc((size_t)n, 4);
    synth_fill_row(s, t, r, raw);
    if (t->dtype == DTYPE_F32) {
        memcpy(out, raw, (size_t)n * 4);
    } else if (t->dtype == DTYPE_BF16) {
        for (int64_t i = 0; i < n; i++)
            out[i] = bf16_to_f32((uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8));
    } else {
        OWL_ASSERT(t->dtype == DTYPE_F8_E4M3 && t->scale >= 0);
        const struct synth_tensor *sc = &s->t[t->scale];
        float *srow = xcalloc((size_t)sc->row_len, sizeof *srow);
        synth_fill_row(s, sc, r / 128, (uint8_t *)srow);
        dequantize_row_fp8(out, raw, srow, (int)n);
        free(srow);
    }
    free(raw);
}

int synth_find(const struct synth *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name))
            return i;
    return -1;
}

/* ---- the plan ---------------------------------------------------------------------------------------- */

static int add(struct synth *s, enum dtype dtype, enum synth_fill fill, int n_dim, const int64_t *shape, const char *fmt,
               ...) OWL_PRINTF(6, 7);
static int add(struct synth *s, enum dtype dtype, enum synth_fill fill, int n_dim, const int64_t *shape, const char *fmt, ...)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->t = xrealloc(s->t, sizeof *s->t * (size_t)s->cap);
    }
    struct synth_tensor *t = &s->t[s->n];
    memset(t, 0, sizeof *t);
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    t->name = xstrdup(name);
    t->name_hash = fnv1a(name);
    t->dtype = dtype;
    t->fill = fill;
    t->n_dim = n_dim;
    memcpy(t->shape, shape, sizeof *shape * (size_t)n_dim);
    /* rows: everything but the last dimension (MXFP4 blocks: but the last two) */
    const int row_dims = fill == FILL_MX_BLOCKS ? 2 : 1;
    t->row_len = 1;
    t->n_rows = 1;
    for (int d = 0; d < n_dim; d++)
        *(d >= n_dim - row_dims ? &t->row_len : &t->n_rows) *= shape[d];
    t->scale = -1;
    return s->n++;
}

#define SHAPE(...) (int64_t[]){__VA_ARGS__}
#define NDIM(...) (int)(sizeof(int64_t[]){__VA_ARGS__} / sizeof(int64_t))
#define BF16(fill, name, ...) add(s, DTYPE_BF16, fill, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__), "%s", name)

static void add_vec(struct synth *s, const char *prefix, const char *name, int64_t n, enum synth_fill fill)
{
    add(s, DTYPE_BF16, fill, 1, SHAPE(n), "%s%s", prefix, name);
}

/* A linear layer's weight [d_out, d_in]: bf16, or (DeepSeek FP8) e4m3 plus its 128x128 block scales. */
static void add_linear(struct synth *s, const char *prefix, const char *name, int64_t d_out, int64_t d_in, bool fp8)
{
    if (!fp8) {
        add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(d_out, d_in), "%s%s", prefix, name);
        return;
    }
    const int w = add(s, DTYPE_F8_E4M3, FILL_FP8, 2, SHAPE(d_out, d_in), "%s%s", prefix, name);
    const int sc = add(s, DTYPE_F32, FILL_FP8_SCALE, 2, SHAPE((d_out + 127) / 128, (d_in + 127) / 128), "%s%s_scale_inv",
                       prefix, name);
    s->t[w].scale = sc;
}

/* A SwiGLU MLP under prefix: gate_proj, up_proj [d_ff, d_model], down_proj [d_model, d_ff]. */
static void add_mlp(struct synth *s, const char *prefix, int64_t d_ff, bool fp8)
{
    add_linear(s, prefix, "gate_proj.weight", d_ff, s->d_model, fp8);
    add_linear(s, prefix, "up_proj.weight", d_ff, s->d_model, fp8);
    add_linear(s, prefix, "down_proj.weight", s->d_model, d_ff, fp8);
}

/* GQA projections (Qwen3, gpt-oss), each followed by its bias when the layer has them. */
static void add_gqa(struct synth *s, const char *p, bool bias)
{
    const int64_t H = s->d_model, dq = (int64_t)s->n_head * s->d_head, dkv = (int64_t)s->n_kv_head * s->d_head;
    static const char *const proj[] = {"q", "k", "v", "o"};
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "self_attn.%s_proj.weight", proj[i]);
        add_linear(s, p, name, i == 0 ? dq : i == 3 ? H : dkv, i == 3 ? dq : H, false);
        snprintf(name, sizeof name, "self_attn.%s_proj.bias", proj[i]);
        if (bias)
            add_vec(s, p, name, i == 0 ? dq : i == 3 ? H : dkv, FILL_NORMAL);
    }
}

static void plan_qwen3(struct synth *s)
{
    const int64_t H = s->d_model;
    add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(s->n_vocab, H), "model.embed_tokens.weight");
    for (int l = 0; l < s->n_layer; l++) {
        char p[64], pm[96];
        snprintf(p, sizeof p, "model.layers.%d.", l);
        add_vec(s, p, "input_layernorm.weight", H, FILL_ONES);
        add_gqa(s, p, false);
        add_vec(s, p, "self_attn.q_norm.weight", s->d_head, FILL_ONES);
        add_vec(s, p, "self_attn.k_norm.weight", s->d_head, FILL_ONES);
        add_vec(s, p, "post_attention_layernorm.weight", H, FILL_ONES);
        snprintf(pm, sizeof pm, "%smlp.", p);
        if (!s->moe_layer[l]) {
            add_mlp(s, pm, s->d_ff, false);
            continue;
        }
        add_linear(s, p, "mlp.gate.weight", s->n_expert, H, false);
        for (int e = 0; e < s->n_expert; e++) {
            snprintf(pm, sizeof pm, "%smlp.experts.%d.", p, e);
            add_mlp(s, pm, s->d_ff_exp, false);
        }
    }
    add_vec(s, "model.", "norm.weight", H, FILL_ONES);
    if (!s->tied)
        add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(s->n_vocab, H), "lm_head.weight");
}

static void plan_gpt_oss(struct synth *s)
{
    const int64_t H = s->d_model, I = s->d_ff, E = s->n_expert;
    add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(s->n_vocab, H), "model.embed_tokens.weight");
    for (int l = 0; l < s->n_layer; l++) {
        char p[64];
        snprintf(p, sizeof p, "model.layers.%d.", l);
        add_vec(s, p, "input_layernorm.weight", H, FILL_ONES);
        add_gqa(s, p, true);
        add_vec(s, p, "self_attn.sinks", s->n_head, FILL_NORMAL);
        add_vec(s, p, "post_attention_layernorm.weight", H, FILL_ONES);
        add_linear(s, p, "mlp.router.weight", E, H, false);
        add_vec(s, p, "mlp.router.bias", E, FILL_NORMAL);
        add(s, DTYPE_U8, FILL_MX_BLOCKS, 4, SHAPE(E, 2 * I, H / 32, 16), "%smlp.experts.gate_up_proj_blocks", p);
        add(s, DTYPE_U8, FILL_MX_SCALES, 3, SHAPE(E, 2 * I, H / 32), "%smlp.experts.gate_up_proj_scales", p);
        add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(E, 2 * I), "%smlp.experts.gate_up_proj_bias", p);
        add(s, DTYPE_U8, FILL_MX_BLOCKS, 4, SHAPE(E, H, I / 32, 16), "%smlp.experts.down_proj_blocks", p);
        add(s, DTYPE_U8, FILL_MX_SCALES, 3, SHAPE(E, H, I / 32), "%smlp.experts.down_proj_scales", p);
        add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(E, H), "%smlp.experts.down_proj_bias", p);
    }
    add_vec(s, "model.", "norm.weight", H, FILL_ONES);
    add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(s->n_vocab, H), "lm_head.weight");
}

static void plan_deepseek(struct synth *s)
{
    const int64_t H = s->d_model, nh = s->n_head, dqk = s->d_nope + s->d_rope;
    const bool f8 = s->fp8;
    add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(s->n_vocab, H), "model.embed_tokens.weight");
    for (int l = 0; l < s->n_layer + s->n_mtp; l++) {
        char p[64];
        snprintf(p, sizeof p, "model.layers.%d.", l);
        if (l >= s->n_layer) { /* the multi-token-prediction block (ARCHITECTURES.md §4.8), as released */
            add_vec(s, p, "enorm.weight", H, FILL_ONES);
            add_vec(s, p, "hnorm.weight", H, FILL_ONES);
            add_linear(s, p, "eh_proj.weight", H, 2 * H, f8);
            add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(s->n_vocab, H), "%sembed_tokens.weight", p);
            add_vec(s, p, "shared_head.norm.weight", H, FILL_ONES);
            add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(s->n_vocab, H), "%sshared_head.head.weight", p);
        }
        add_vec(s, p, "input_layernorm.weight", H, FILL_ONES);
        if (s->q_rank) {
            add_linear(s, p, "self_attn.q_a_proj.weight", s->q_rank, H, f8);
            add_vec(s, p, "self_attn.q_a_layernorm.weight", s->q_rank, FILL_ONES);
            add_linear(s, p, "self_attn.q_b_proj.weight", nh * dqk, s->q_rank, f8);
        } else {
            add_linear(s, p, "self_attn.q_proj.weight", nh * dqk, H, f8);
        }
        add_linear(s, p, "self_attn.kv_a_proj_with_mqa.weight", s->kv_rank + s->d_rope, H, f8);
        add_vec(s, p, "self_attn.kv_a_layernorm.weight", s->kv_rank, FILL_ONES);
        add_linear(s, p, "self_attn.kv_b_proj.weight", nh * (s->d_nope + s->d_v), s->kv_rank, f8);
        add_linear(s, p, "self_attn.o_proj.weight", H, nh * s->d_v, f8);
        add_vec(s, p, "post_attention_layernorm.weight", H, FILL_ONES);
        char pm[96];
        snprintf(pm, sizeof pm, "%smlp.", p);
        if (!s->moe_layer[l]) {
            add_mlp(s, pm, s->d_ff, f8);
            continue;
        }
        add_linear(s, p, "mlp.gate.weight", s->n_expert, H, false);
        if (s->noaux_bias)
            add(s, DTYPE_F32, FILL_NORMAL, 1, SHAPE(s->n_expert), "%smlp.gate.e_score_correction_bias", p);
        for (int e = 0; e < s->n_expert; e++) {
            snprintf(pm, sizeof pm, "%smlp.experts.%d.", p, e);
            add_mlp(s, pm, s->d_ff_exp, f8);
        }
        snprintf(pm, sizeof pm, "%smlp.shared_experts.", p);
        if (s->n_shared)
            add_mlp(s, pm, (int64_t)s->n_shared * s->d_ff_exp, f8);
    }
    add_vec(s, "model.", "norm.weight", H, FILL_ONES);
    add(s, DTYPE_BF16, FILL_NORMAL, 2, SHAPE(s->n_vocab, H), "lm_head.weight");
}

/* ---- the config -------------------------------------------------------------------------------------- */

static enum owl_status cfg_int(const struct synth *s, const char *key, int def, int lo, int hi, int *out,
                               struct owl_error *err)
{
    json_t *v = json_object_get(s->config, key);
    if (!v || json_is_null(v)) {
        if (def == INT32_MIN)
            return fail(err, OWL_ERR_BAD_CONFIG, "config.json: missing field '%s'", key);
        *out = def;
        return OWL_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(err, OWL_ERR_BAD_CONFIG, "config.json: field '%s': expected an integer in [%d, %d]", key, lo, hi);
    *out = (int)json_integer_value(v);
    return OWL_OK;
}

#define REQ INT32_MIN
#define BIG (1 << 30)

/* Read the hyper-parameters, apply --layers / --mtp to the config, and build the plan. */
static enum owl_status synth_setup(struct synth *s, const struct owl_synth_params *p, struct owl_error *err)
{
    const char *mt = json_string_value(json_object_get(s->config, "model_type"));
    if (!mt)
        return fail(err, OWL_ERR_BAD_CONFIG, "config.json: missing field 'model_type'");
    if (!strcmp(mt, "qwen3"))
        s->family = SYNTH_QWEN3;
    else if (!strcmp(mt, "qwen3_moe"))
        s->family = SYNTH_QWEN3_MOE;
    else if (!strcmp(mt, "gpt_oss"))
        s->family = SYNTH_GPT_OSS;
    else if (!strcmp(mt, "deepseek_v3") || !strcmp(mt, "deepseek_v2"))
        s->family = SYNTH_DEEPSEEK;
    else
        return fail(err, OWL_ERR_UNSUPPORTED, "config.json: model_type '%s': owl synth writes qwen3, qwen3_moe, "
                    "gpt_oss, deepseek_v3 and deepseek_v2", mt);
    enum owl_status st;
    int n_layer;
    if ((st = cfg_int(s, "vocab_size", REQ, 1, BIG, &s->n_vocab, err)) ||
        (st = cfg_int(s, "hidden_size", REQ, 1, BIG, &s->d_model, err)) ||
        (st = cfg_int(s, "num_hidden_layers", REQ, 1, 4096, &n_layer, err)) ||
        (st = cfg_int(s, "num_attention_heads", REQ, 1, 65536, &s->n_head, err)) ||
        (st = cfg_int(s, "num_key_value_heads", s->n_head, 1, s->n_head, &s->n_kv_head, err)) ||
        (st = cfg_int(s, "head_dim", s->d_model / s->n_head, 1, 65536, &s->d_head, err)) ||
        (st = cfg_int(s, "intermediate_size", REQ, 1, BIG, &s->d_ff, err)))
        return st;
    if (p->n_layers > 0) {
        n_layer = p->n_layers;
        json_object_set_new(s->config, "num_hidden_layers", json_integer(n_layer));
        if (json_object_get(s->config, "max_window_layers")) /* the releases set it to num_hidden_layers */
            json_object_set_new(s->config, "max_window_layers", json_integer(n_layer));
        json_t *lt = json_object_get(s->config, "layer_types");
        if (json_is_array(lt)) {
            if ((int)json_array_size(lt) < n_layer)
                return fail(err, OWL_ERR_INVALID_ARG, "--layers %d: the config's layer_types lists %zu layers", n_layer,
                            json_array_size(lt));
            while ((int)json_array_size(lt) > n_layer)
                json_array_remove(lt, json_array_size(lt) - 1);
        }
        json_t *mlp_only = json_object_get(s->config, "mlp_only_layers");
        for (size_t i = json_is_array(mlp_only) ? json_array_size(mlp_only) : 0; i-- > 0;)
            if (json_integer_value(json_array_get(mlp_only, i)) >= n_layer)
                json_array_remove(mlp_only, i);
    }
    s->n_layer = n_layer;
    json_t *tie = json_object_get(s->config, "tie_word_embeddings");
    s->tied = json_is_true(tie);
    if (s->family == SYNTH_QWEN3_MOE &&
        ((st = cfg_int(s, "num_experts", REQ, 1, 65536, &s->n_expert, err)) ||
         (st = cfg_int(s, "num_experts_per_tok", REQ, 1, s->n_expert, &s->n_expert_used, err)) ||
         (st = cfg_int(s, "moe_intermediate_size", REQ, 1, BIG, &s->d_ff_exp, err))))
        return st;
    if (s->family == SYNTH_GPT_OSS) {
        if ((st = cfg_int(s, "num_local_experts", REQ, 1, 65536, &s->n_expert, err)) ||
            (st = cfg_int(s, "num_experts_per_tok", REQ, 1, s->n_expert, &s->n_expert_used, err)))
            return st;
        if (s->d_model % 32 || s->d_ff % 32)
            return fail(err, OWL_ERR_BAD_CONFIG, "config.json: MXFP4 experts need hidden_size (%d) and "
                        "intermediate_size (%d) to be multiples of 32", s->d_model, s->d_ff);
        s->tied = false;
    }
    if (s->family == SYNTH_DEEPSEEK) {
        int sparse_step = 1;
        if ((st = cfg_int(s, "q_lora_rank", 0, 0, BIG, &s->q_rank, err)) ||
            (st = cfg_int(s, "kv_lora_rank", REQ, 1, BIG, &s->kv_rank, err)) ||
            (st = cfg_int(s, "qk_nope_head_dim", REQ, 1, 65536, &s->d_nope, err)) ||
            (st = cfg_int(s, "qk_rope_head_dim", REQ, 2, 65536, &s->d_rope, err)) ||
            (st = cfg_int(s, "v_head_dim", REQ, 1, 65536, &s->d_v, err)) ||
            (st = cfg_int(s, "n_routed_experts", REQ, 1, 65536, &s->n_expert, err)) ||
            (st = cfg_int(s, "num_experts_per_tok", REQ, 1, s->n_expert, &s->n_expert_used, err)) ||
            (st = cfg_int(s, "moe_intermediate_size", REQ, 1, BIG, &s->d_ff_exp, err)) ||
            (st = cfg_int(s, "n_shared_experts", 0, 0, 64, &s->n_shared, err)) ||
            (st = cfg_int(s, "first_k_dense_replace", 0, 0, 4096, &s->n_dense_lead, err)) ||
            (st = cfg_int(s, "moe_layer_freq", 1, 1, 1, &sparse_step, err)) ||
            (st = cfg_int(s, "num_nextn_predict_layers", 0, 0, 16, &s->n_mtp, err)))
            return st;
        if (s->n_dense_lead > s->n_layer) { /* fewer layers than the dense lead: all dense, said consistently */
            s->n_dense_lead = s->n_layer;
            json_object_set_new(s->config, "first_k_dense_replace", json_integer(s->n_layer));
        }
        if (p->n_mtp >= 0) {
            s->n_mtp = p->n_mtp;
            json_object_set_new(s->config, "num_nextn_predict_layers", json_integer(s->n_mtp));
        }
        s->fp8 = json_object_get(s->config, "quantization_config") != NULL;
        json_t *bs = json_object_get(json_object_get(s->config, "quantization_config"), "weight_block_size");
        if (s->fp8 && (json_integer_value(json_array_get(bs, 0)) != 128 || json_integer_value(json_array_get(bs, 1)) != 128))
            return fail(err, OWL_ERR_UNSUPPORTED, "config.json: quantization_config.weight_block_size: owl synth "
                        "writes FP8 in 128x128 blocks");
        const char *tm = json_string_value(json_object_get(s->config, "topk_method"));
        s->noaux_bias = !strcmp(mt, "deepseek_v3") || (tm && !strcmp(tm, "noaux_tc"));
        s->tied = false;
    } else if (p->n_mtp > 0) {
        return fail(err, OWL_ERR_INVALID_ARG, "--mtp: only DeepSeek models have multi-token-prediction layers");
    }
    s->moe_layer = xcalloc((size_t)(s->n_layer + s->n_mtp), sizeof *s->moe_layer);
    json_t *mlp_only = json_object_get(s->config, "mlp_only_layers");
    for (int l = 0; l < s->n_layer + s->n_mtp; l++) {
        s->moe_layer[l] = s->family == SYNTH_GPT_OSS || (s->family == SYNTH_DEEPSEEK && l >= s->n_dense_lead) ||
                          s->family == SYNTH_QWEN3_MOE;
        for (size_t i = 0; s->family == SYNTH_QWEN3_MOE && i < json_array_size(mlp_only); i++)
            if (json_integer_value(json_array_get(mlp_only, i)) == l)
                s->moe_layer[l] = false;
    }
    if (s->family == SYNTH_DEEPSEEK)
        plan_deepseek(s);
    else if (s->family == SYNTH_GPT_OSS)
        plan_gpt_oss(s);
    else
        plan_qwen3(s);
    if (p->like) { /* the released files' bookkeeping keys, which released.c leaves out */
        const char *tv = s->family == SYNTH_QWEN3 || s->family == SYNTH_QWEN3_MOE ? "4.51.0"
                         : s->family == SYNTH_GPT_OSS                              ? "4.55.0.dev0"
                                                                                   : "4.33.1";
        json_object_set_new(s->config, "initializer_range", json_real(0.02));
        json_object_set_new(s->config, "transformers_version", json_string(tv));
        json_object_set_new(s->config, "use_cache", json_true());
    }
    return OWL_OK;
}

static void synth_free(struct synth *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->t[i].name);
    free(s->t);
    free(s->moe_layer);
    json_decref(s->config);
    json_decref(s->tokenizer);
}

/* ---- writing ----------------------------------------------------------------------------------------- */

enum owl_status synth_write(FILE *f, const void *p, size_t n, const char *path, struct owl_error *err)
{
    if (n && fwrite(p, 1, n, f) != n)
        return fail(err, OWL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return OWL_OK;
}

static uint64_t tensor_bytes(const struct synth_tensor *t)
{
    return (uint64_t)t->n_rows * (uint64_t)t->row_len * dtype_size(t->dtype);
}

/* Written files, removed again on failure. */
struct written {
    char **paths;
    int n;
    bool made_dir;
};

static FILE *open_out(struct written *w, const char *path, struct owl_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fail(err, OWL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        return NULL;
    }
    w->paths = xrealloc(w->paths, sizeof *w->paths * (size_t)(w->n + 1));
    w->paths[w->n++] = xstrdup(path);
    return f;
}

static enum owl_status close_out(FILE *f, const char *path, enum owl_status st, struct owl_error *err)
{
    if (fclose(f) != 0 && !st)
        return fail(err, OWL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return st;
}

static enum owl_status write_text(struct written *w, const char *path, const char *text, struct owl_error *err)
{
    FILE *f = open_out(w, path, err);
    if (!f)
        return err->status;
    return close_out(f, path, synth_write(f, text, strlen(text), path, err), err);
}

static enum owl_status copy_file(struct written *w, const char *from, const char *to, bool optional, struct owl_error *err)
{
    char *data = NULL;
    size_t size = 0;
    if (optional && access(from, F_OK) != 0)
        return OWL_OK;
    enum owl_status st = file_read_all(from, &data, &size, err);
    if (st)
        return st;
    FILE *f = open_out(w, to, err);
    if (!f) {
        free(data);
        return err->status;
    }
    st = close_out(f, to, synth_write(f, data, size, to, err), err);
    free(data);
    return st;
}

struct progress {
    const struct owl_synth_params *p;
    uint64_t done, total;
};

static void report(struct progress *pr, uint64_t n)
{
    pr->done += n;
    if (pr->p->progress)
        pr->p->progress(pr->done, pr->total, pr->p->user);
}

/* The rows of one tensor, generated in parallel in chunks of about 32 MB. */
static enum owl_status write_tensor(const struct synth *s, const struct synth_tensor *t, FILE *f, const char *path,
                                    struct progress *pr, struct owl_error *err)
{
    const size_t row_bytes = (size_t)t->row_len * dtype_size(t->dtype);
    const int64_t chunk = row_bytes >= (32u << 20) ? 1 : (int64_t)((32u << 20) / row_bytes);
    uint8_t *buf = xcalloc((size_t)(chunk < t->n_rows ? chunk : t->n_rows), row_bytes);
    enum owl_status st = OWL_OK;
    for (int64_t r0 = 0; r0 < t->n_rows && !st; r0 += chunk) {
        const int64_t nr = t->n_rows - r0 < chunk ? t->n_rows - r0 : chunk;
#pragma omp parallel for schedule(static) if ((size_t)nr * row_bytes > (1u << 20))
        for (int64_t r = 0; r < nr; r++)
            synth_fill_row(s, t, r0 + r, buf + (size_t)r * row_bytes);
        st = synth_write(f, buf, (size_t)nr * row_bytes, path, err);
        report(pr, (uint64_t)nr * row_bytes);
    }
    free(buf);
    return st;
}

static char *join(const char *dir, const char *name)
{
    char *out = xcalloc(strlen(dir) + strlen(name) + 2, 1);
    sprintf(out, "%s/%s", dir, name);
    return out;
}

static enum owl_status write_safetensors(struct synth *s, const struct owl_synth_params *p, struct written *w,
                                         struct owl_error *err)
{
    /* shards: at most 4 GB (Qwen3) or 5 GB (gpt-oss, DeepSeek) each, one file when everything fits */
    const uint64_t limit = s->family == SYNTH_QWEN3 || s->family == SYNTH_QWEN3_MOE ? 4000000000ull : 5000000000ull;
    int n_shard = 1;
    uint64_t in_shard = 0, total = 0;
    for (int i = 0; i < s->n; i++) {
        const uint64_t b = tensor_bytes(&s->t[i]);
        if (in_shard && in_shard + b > limit)
            n_shard++, in_shard = 0;
        in_shard += b;
        total += b;
        s->t[i].shard = n_shard - 1;
    }
    struct progress pr = {p, 0, total};
    enum owl_status st = OWL_OK;
    json_t *weight_map = json_object();
    for (int sh = 0; sh < n_shard && !st; sh++) {
        char name[64];
        if (n_shard == 1)
            snprintf(name, sizeof name, "model.safetensors");
        else if (s->family == SYNTH_GPT_OSS) /* gpt-oss numbers its shards from 0: model-00000-of-00002 */
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", sh, n_shard - 1);
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", sh + 1, n_shard);
        int first = -1, n = 0;
        for (int i = 0; i < s->n; i++)
            if (s->t[i].shard == sh) {
                first = first < 0 ? i : first;
                n++;
                json_object_set_new(weight_map, s->t[i].name, json_string(name));
            }
        struct safetensors_entry *e = xcalloc((size_t)n, sizeof *e);
        for (int i = 0; i < n; i++) {
            const struct synth_tensor *t = &s->t[first + i];
            e[i] = (struct safetensors_entry){t->name, t->dtype, t->n_dim, {0}};
            memcpy(e[i].shape, t->shape, sizeof t->shape);
        }
        size_t hsize;
        uint64_t dsize;
        uint8_t *header = safetensors_header_build(e, n, &hsize, &dsize);
        free(e);
        char *path = join(p->out, name);
        FILE *f = open_out(w, path, err);
        if (!f) {
            st = err->status;
        } else {
            st = synth_write(f, header, hsize, path, err);
            for (int i = 0; i < n && !st; i++)
                st = write_tensor(s, &s->t[first + i], f, path, &pr, err);
            st = close_out(f, path, st, err);
        }
        free(header);
        free(path);
    }
    if (!st && n_shard > 1) {
        json_t *index = json_pack("{s:{s:I}, s:O}", "metadata", "total_size", (json_int_t)total, "weight_map", weight_map);
        char *text = json_dumps(index, JSON_INDENT(2) | JSON_SORT_KEYS);
        char *path = join(p->out, "model.safetensors.index.json");
        st = write_text(w, path, text, err);
        free(path);
        free(text);
        json_decref(index);
    }
    json_decref(weight_map);
    return st;
}

json_t *synth_load_json(const char *path, size_t flags, json_error_t *je)
{
    char *text = NULL;
    size_t size = 0;
    struct owl_error err;
    if (file_read_all(path, &text, &size, &err) != OWL_OK) {
        memset(je, 0, sizeof *je);
        snprintf(je->text, sizeof je->text, "%.150s", err.message);
        return NULL;
    }
    json_t *j = json_loadb(text, size, flags, je);
    free(text);
    return j;
}

/* Parse tokenizer.json into s->tokenizer; its vocabulary must fit the embedding: the highest id below
 * vocab_size. */
static enum owl_status load_tokenizer(struct synth *s, const char *dir, struct owl_error *err)
{
    char *path = join(dir, "tokenizer.json");
    json_error_t je;
    json_t *tok = s->tokenizer = synth_load_json(path, 0, &je);
    enum owl_status st = OWL_OK;
    if (!tok) {
        st = fail(err, access(path, F_OK) ? OWL_ERR_IO : OWL_ERR_BAD_FILE, "%s: %s", path, je.text);
    } else {
        json_int_t max_id = -1;
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(json_object_get(tok, "model"), "vocab"), key, v)
            max_id = json_integer_value(v) > max_id ? json_integer_value(v) : max_id;
        size_t i;
        json_array_foreach(json_object_get(tok, "added_tokens"), i, v)
            max_id = json_integer_value(json_object_get(v, "id")) > max_id ? json_integer_value(json_object_get(v, "id")) : max_id;
        if (max_id < 0)
            st = fail(err, OWL_ERR_BAD_FILE, "%s: no model.vocab", path);
        else if (max_id >= s->n_vocab)
            st = fail(err, OWL_ERR_INVALID_ARG, "%s: token id %lld does not fit vocab_size %d of the config: not this "
                      "family's tokenizer?", path, (long long)max_id, s->n_vocab);
    }
    free(path);
    return st;
}

struct owl_synth_params owl_synth_default_params(void)
{
    return (struct owl_synth_params){.format = OWL_SYNTH_SAFETENSORS, .type = OWL_SYNTH_BF16, .n_mtp = -1};
}

/* A file of size > 0, or a directory holding anything. */
static bool out_nonempty(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return false;
    if (!S_ISDIR(sb.st_mode))
        return sb.st_size > 0;
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n > 0;
}

enum owl_status owl_synth(const struct owl_synth_params *p, struct owl_error *err)
{
    if (!p->out || (!p->like == !p->config_path))
        return fail(err, OWL_ERR_INVALID_ARG, "owl_synth: needs out and exactly one of like / config_path");
    struct synth s = {.seed = p->seed, .like = p->like};
    json_error_t je;
    if (p->like) {
        for (int i = 0; i < n_released_configs && !s.config; i++)
            if (!strcasecmp(released_configs[i].name, p->like))
                s.config = json_loads(released_configs[i].config_json, 0, &je);
        if (!s.config)
            return fail(err, OWL_ERR_INVALID_ARG, "unknown model '%s' (owl compare --help lists the releases owl knows)",
                        p->like);
    } else if (!(s.config = synth_load_json(p->config_path, JSON_REJECT_DUPLICATES, &je))) {
        return fail(err, access(p->config_path, F_OK) ? OWL_ERR_IO : OWL_ERR_BAD_FILE, "%s:%d:%d: %s", p->config_path,
                    je.line, je.column, je.text);
    }
    if (p->format == OWL_SYNTH_SAFETENSORS && p->type != OWL_SYNTH_BF16) {
        json_decref(s.config);
        return fail(err, OWL_ERR_INVALID_ARG, "--type q8_0 is for GGUF output; safetensors keep the shipped dtypes");
    }
    fp8_codes_init();
    struct written w = {0};
    enum owl_status st = synth_setup(&s, p, err);
    if (!st && p->tokenizer_dir)
        st = load_tokenizer(&s, p->tokenizer_dir, err);
    if (!st && out_nonempty(p->out) && !p->force)
        st = fail(err, OWL_ERR_INVALID_ARG, "%s exists and is not empty (--force overwrites it)", p->out);
    if (!st && p->format == OWL_SYNTH_GGUF) {
        FILE *f = open_out(&w, p->out, err);
        st = f ? close_out(f, p->out, synth_write_gguf(&s, p, f, p->out, err), err) : err->status;
    } else if (!st) {
        struct stat sb;
        if (stat(p->out, &sb) != 0) {
            if (mkdir(p->out, 0755) != 0)
                st = fail(err, OWL_ERR_IO, "%s: cannot create the directory: %s", p->out, strerror(errno));
            w.made_dir = true;
        } else if (!S_ISDIR(sb.st_mode)) {
            st = fail(err, OWL_ERR_INVALID_ARG, "%s: not a directory (safetensors output is a model directory)", p->out);
        }
        char *text = st ? NULL : json_dumps(s.config, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        char *path = join(p->out, "config.json");
        if (!st && !(st = write_text(&w, path, text, err)))
            st = write_safetensors(&s, p, &w, err);
        static const char *const tok_files[] = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"};
        for (int i = 0; i < 3 && !st && p->tokenizer_dir; i++) {
            char *from = join(p->tokenizer_dir, tok_files[i]), *to = join(p->out, tok_files[i]);
            st = copy_file(&w, from, to, i > 0, err);
            free(from);
            free(to);
        }
        free(path);
        free(text);
    }
    for (int i = 0; i < w.n; i++) {
        if (st)
            unlink(w.paths[i]);
        free(w.paths[i]);
    }
    if (st && w.made_dir)
        rmdir(p->out);
    free(w.paths);
    synth_free(&s);
    return st;
}
