/* test_gguf_qwen3.c — Qwen3 and Qwen3-MoE from GGUF give the safetensors path's numbers. Each fixture checkpoint is
 * rewritten here as a GGUF file with llama.cpp's tensor names and metadata keys (the layout its converter
 * writes for qwen3: token_embd, blk.N.attn_q, ..., qwen3.embedding_length, ..., no Q/K permutation):
 * F32 and BF16 copies must give the safetensors logits bit for bit; a Q8_0 copy (matrices quantized as
 * ggml's quantize_row_q8_0_ref does) must stay within a KL-divergence bound of transformers' reference.
 * Qwen3-MoE fixtures are written as llama.cpp's "qwen3moe": experts stacked into blk.N.ffn_{gate,up,down}_exps
 * (E, out, in), the router as blk.N.ffn_gate_inp, expert_* keys; dense layers keep ffn_gate/up/down. */
#include <math.h>
#include <stdlib.h>

#include "format/model_file.h"
#include "gguf_writer.h"
#include "model_check.h"
#include "kernels/kernels.h"
#include "owl.h"
#include "test_util.h"

#define KL_BOUND_Q8_0 2e-3 /* mean KL(reference || owl) per position, nats */

enum variant { AS_F32, AS_BF16, AS_Q8_0 };

/* HF tensor name -> GGUF name (the converter's mapping), into buf. */
static bool gguf_name(const char *hf, char *buf, size_t size)
{
    static const char *const global[][2] = {{"model.embed_tokens.weight", "token_embd.weight"},
                                            {"model.norm.weight", "output_norm.weight"},
                                            {"lm_head.weight", "output.weight"}};
    static const char *const layer[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.q_norm.weight", "attn_q_norm.weight"}, {"self_attn.k_norm.weight", "attn_k_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},    {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},    {"mlp.gate.weight", "ffn_gate_inp.weight"}};
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(hf, global[i][0]))
            return snprintf(buf, size, "%s", global[i][1]) > 0;
    int l, n = 0;
    if (sscanf(hf, "model.layers.%d.%n", &l, &n) == 1 && n > 0)
        for (size_t i = 0; i < sizeof layer / sizeof *layer; i++)
            if (!strcmp(hf + n, layer[i][0]))
                return snprintf(buf, size, "blk.%d.%s", l, layer[i][1]) > 0;
    return false;
}

static double cfg_f(const struct kv_table *kv, const char *a, const char *b, double dflt)
{
    double v = dflt;
    struct owl_error err;
    if (kv_has(kv, a))
        kv_get_float(kv, a, &v, &err);
    else if (b && kv_has(kv, b))
        kv_get_float(kv, b, &v, &err);
    return v;
}

/* Write the experts of every MoE layer stacked, as llama.cpp's converter does (F32 or BF16). */
static void write_stacked_experts(struct gw_file *w, struct model_file *mf, enum variant var)
{
    static const char *const proj[3][2] = {{"gate_proj", "ffn_gate_exps"}, {"up_proj", "ffn_up_exps"},
                                           {"down_proj", "ffn_down_exps"}};
    char name[256];
    for (int l = 0;; l++) {
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        if (!tensor_table_find(&mf->tensors, name))
            break;
        for (int p = 0; p < 3; p++) {
            int n_e = 0;
            const struct tensor_view *t0 = NULL;
            for (;; n_e++) {
                snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.%s.weight", l, n_e, proj[p][0]);
                const struct tensor_view *t = tensor_table_find(&mf->tensors, name);
                if (!t)
                    break;
                t0 = t0 ? t0 : t;
            }
            if (!n_e)
                continue;
            const size_t per = (size_t)tensor_n_elements(t0), esz = var == AS_F32 ? 4 : 2;
            uint8_t *buf = malloc(per * n_e * esz);
            for (int e = 0; e < n_e; e++) {
                snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.%s.weight", l, e, proj[p][0]);
                const struct tensor_view *t = tensor_table_find(&mf->tensors, name);
                if (var == AS_F32)
                    dequantize_row_bf16((float *)buf + per * e, t->data, (int)per);
                else
                    memcpy(buf + per * e * 2, t->data, per * 2);
            }
            uint64_t ne[3] = {(uint64_t)t0->shape[1], (uint64_t)t0->shape[0], (uint64_t)n_e};
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, proj[p][1]);
            gw_tensor(w, name, var == AS_F32 ? 0 : 30, 3, ne, buf, per * n_e * esz);
            free(buf);
        }
    }
}

/* Write fixture `name` (a directory under tests/fixtures) as GGUF in the given variant; returns the path. */
static const char *write_gguf(const char *name, enum variant var)
{
    static char path[1200];
    char dir[512];
    snprintf(dir, sizeof dir, "%s", name);
    struct model_file mf;
    struct owl_error err = {0};
    if (model_file_open(&mf, fixture_path(dir), &err) != OWL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    const struct kv_table *c = &mf.config;
    const char *model_type = NULL;
    struct owl_error e2;
    kv_get_str_opt(c, "model_type", &model_type, &e2);
    const bool moe = model_type && !strcmp(model_type, "qwen3_moe");
    const char *arch = moe ? "qwen3moe" : "qwen3";
    char key[128];
    struct gw_file w;
    gw_init(&w);
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", arch, k), key)
    gw_kv_str(&w, "general.architecture", arch);
    gw_kv_u32(&w, KEY("block_count"), (uint32_t)cfg_f(c, "num_hidden_layers", NULL, 0));
    gw_kv_u32(&w, KEY("context_length"), (uint32_t)cfg_f(c, "max_position_embeddings", NULL, 0));
    gw_kv_u32(&w, KEY("embedding_length"), (uint32_t)cfg_f(c, "hidden_size", NULL, 0));
    gw_kv_u32(&w, KEY("feed_forward_length"), (uint32_t)cfg_f(c, "intermediate_size", NULL, 0));
    gw_kv_u32(&w, KEY("attention.head_count"), (uint32_t)cfg_f(c, "num_attention_heads", NULL, 0));
    gw_kv_u32(&w, KEY("attention.head_count_kv"), (uint32_t)cfg_f(c, "num_key_value_heads", NULL, 0));
    gw_kv_u32(&w, KEY("attention.key_length"), (uint32_t)cfg_f(c, "head_dim", NULL, 0));
    gw_kv_u32(&w, KEY("attention.value_length"), (uint32_t)cfg_f(c, "head_dim", NULL, 0));
    gw_kv_f32(&w, KEY("attention.layer_norm_rms_epsilon"), (float)cfg_f(c, "rms_norm_eps", NULL, 1e-6));
    gw_kv_f32(&w, KEY("rope.freq_base"), (float)cfg_f(c, "rope_theta", "rope_parameters.rope_theta", 1e4));
    const double factor = cfg_f(c, "rope_scaling.factor", "rope_parameters.factor", 0);
    if (factor > 0) {
        gw_kv_str(&w, KEY("rope.scaling.type"), "yarn");
        gw_kv_f32(&w, KEY("rope.scaling.factor"), (float)factor);
        gw_kv_u32(&w, KEY("rope.scaling.original_context_length"),
                  (uint32_t)cfg_f(c, "rope_scaling.original_max_position_embeddings",
                                  "rope_parameters.original_max_position_embeddings", 0));
    }
    if (moe) {
        gw_kv_u32(&w, KEY("expert_count"), (uint32_t)cfg_f(c, "num_experts", "num_local_experts", 0));
        gw_kv_u32(&w, KEY("expert_used_count"), (uint32_t)cfg_f(c, "num_experts_per_tok", NULL, 0));
        gw_kv_u32(&w, KEY("expert_feed_forward_length"), (uint32_t)cfg_f(c, "moe_intermediate_size", NULL, 0));
        bool norm = false;
        kv_get_bool_opt(c, "norm_topk_prob", &norm, &e2);
        gw_kv_bool(&w, KEY("expert_weights_norm"), norm);
        write_stacked_experts(&w, &mf, var);
    }
#undef KEY
    for (int i = 0; i < mf.tensors.n; i++) {
        const struct tensor_view *t = &mf.tensors.tensors[i];
        char gname[256];
        if (strstr(t->name, ".mlp.experts."))
            continue; /* written stacked above */
        OWL_ASSERT(gguf_name(t->name, gname, sizeof gname) && t->dtype == DTYPE_BF16);
        const int64_t n = tensor_n_elements(t);
        float *f = malloc((size_t)n * sizeof(float));
        dequantize_row_bf16(f, t->data, (int)n);
        uint64_t ne[2] = {(uint64_t)t->shape[t->n_dim - 1], t->n_dim == 2 ? (uint64_t)t->shape[0] : 1};
        if (t->n_dim == 1 || var == AS_F32) {
            gw_tensor(&w, gname, 0, t->n_dim, ne, f, (size_t)n * 4); /* norms stay F32, as the converter writes */
        } else if (var == AS_BF16) {
            gw_tensor(&w, gname, 30, 2, ne, t->data, t->n_bytes);
        } else {
            uint8_t *q = malloc((size_t)n / 32 * 34);
            gw_quantize_q8_0(f, q, (size_t)n);
            gw_tensor(&w, gname, 8, 2, ne, q, (size_t)n / 32 * 34);
            free(q);
        }
        free(f);
    }
    size_t size;
    uint8_t *img = gw_finish(&w, &size);
    static const char *const suffix[] = {"f32", "bf16", "q8_0"};
    char flat[256];
    snprintf(flat, sizeof flat, "%s", name);
    for (char *c2 = flat; *c2; c2++)
        *c2 = *c2 == '/' ? '-' : *c2;
    snprintf(path, sizeof path, "%s/%s-%s.gguf", test_tmpdir(), flat, suffix[var]);
    OWL_ASSERT(write_file(path, img, size) == 0);
    free(img);
    model_file_close(&mf);
    return path;
}

static void test_case(const char *name, bool q8)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", name);
    /* tokens: the fixture's logits rows are for prompt + greedy; 12 ids in range exercise the weights */
    int32_t tokens[12];
    for (int i = 0; i < 12; i++)
        tokens[i] = (i * 37 + 5) % 300;
    int V = 0, V2 = 0;
    float *ref = model_logits(fixture_path(dir), NULL, tokens, 12, &V);
    for (int var = AS_F32; var <= (q8 ? AS_Q8_0 : AS_BF16); var++) {
        const char *path = write_gguf(name, (enum variant)var);
        CHECK_MSG(path != NULL, "%s: writing GGUF", name);
        if (!path || !ref)
            continue;
        float *got = model_logits(path, NULL, tokens, 12, &V2);
        CHECK(got && V2 == V);
        if (!got || V2 != V) {
            free(got);
            continue;
        }
        double d = 0, max_ref = 0;
        for (size_t i = 0; i < (size_t)12 * V; i++)
            d = fmax(d, fabs(got[i] - ref[i])), max_ref = fmax(max_ref, fabs(ref[i]));
        if (var != AS_Q8_0) {
            printf("%-20s %-4s max|gguf - safetensors| = %g\n", name, var == AS_F32 ? "F32" : "BF16", d);
            CHECK_MSG(d == 0, "%s: GGUF %s logits differ from safetensors by %g", name, var == AS_F32 ? "F32" : "BF16", d);
        } else {
            double kl = mean_kl(ref, got, 12, V);
            printf("%-20s Q8_0 mean KL %.3g nats (bound %g), max|diff| %.3g of max|logit| %.3g\n", name, kl,
                   KL_BOUND_Q8_0, d, max_ref);
            CHECK_MSG(kl <= KL_BOUND_Q8_0, "%s: Q8_0 KL %g > %g", name, kl, KL_BOUND_Q8_0);
        }
        free(got);
    }
    free(ref);
}

int main(void)
{
    test_case("qwen3/gqa-tied", true);            /* tied: no output.weight */
    test_case("qwen3/mqa-untied-sharded", false); /* untied, from three shards; hidden 48 is not Q8_0-divisible */
    test_case("qwen3/yarn-v5", true);             /* YaRN through qwen3.rope.scaling.* */
    test_case("qwen3/yarn-released", false);
    test_case("qwen3_moe/norm-mlp-only", false);      /* stacked experts; a dense layer among MoE ones */
    test_case("qwen3_moe/nonorm-sparse-step", false); /* expert_weights_norm false; decoder_sparse_step 2 */
    return test_done("test_gguf_qwen3");
}
