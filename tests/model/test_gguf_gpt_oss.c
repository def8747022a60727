/* test_gguf_gpt_oss.c — GPT-OSS from GGUF gives the safetensors path's numbers bit for bit. The released-layout
 * fixture (MXFP4 experts as *_blocks + *_scales) is rewritten here the way llama.cpp's converter writes
 * "gpt-oss" (conversion/gpt_oss.py and llama.cpp's openai-moe loader): gate_up split into
 * blk.N.ffn_gate_exps / ffn_up_exps (the even and odd rows) and the interleaved bias likewise, experts
 * repacked into GGML's 17-byte MXFP4 blocks (scale first, low nibbles = inputs 0..15), sinks as
 * attn_sinks.weight, the router as ffn_gate_inp, post_attention_norm, gpt-oss.* keys with YaRN and the
 * sliding window; attention in BF16 as shipped, vectors in F32. A file whose expert stacks hold fewer
 * experts than expert_count is refused. */
#include <math.h>
#include <stdlib.h>

#include "format/model_file.h"
#include "gguf_writer.h"
#include "kernels/kernels.h"
#include "model_check.h"
#include "owl.h"
#include "test_util.h"

static double cfg(const struct kv_table *kv, const char *key)
{
    double v = 0;
    struct owl_error err;
    OWL_ASSERT(kv_get_float(kv, key, &v, &err) == OWL_OK);
    return v;
}

/* HF MXFP4 rows (E*rows blocks of 16 bytes + scales) -> GGML blocks, rows r0, r0+step, ... of each expert. */
static uint8_t *repack(const struct tensor_view *blocks, const struct tensor_view *scales, int E, int rows, int r0,
                       int step, int nb, size_t *size)
{
    const int out_rows = rows / step;
    *size = (size_t)E * out_rows * nb * 17;
    uint8_t *g = malloc(*size), *o = g;
    for (int e = 0; e < E; e++)
        for (int r = r0; r < rows; r += step)
            for (int b = 0; b < nb; b++, o += 17) {
                const size_t blk = ((size_t)e * rows + r) * nb + b;
                const uint8_t *hf = (const uint8_t *)blocks->data + blk * 16;
                o[0] = ((const uint8_t *)scales->data)[blk];
                for (int j = 0; j < 16; j++) { /* HF: value i in byte i/2, low nibble first */
                    const int i = 16 + j;
                    const int lo = j % 2 ? hf[j / 2] >> 4 : hf[j / 2] & 15, hi = i % 2 ? hf[i / 2] >> 4 : hf[i / 2] & 15;
                    o[1 + j] = (uint8_t)(lo | hi << 4);
                }
            }
    return g;
}

/* A bf16 (E, 2f) bias's even (r0 = 0) or odd (1) columns, or all (step 1), as F32 (E, cols). */
static float *bias_cols(const struct tensor_view *t, int E, int cols, int r0, int step)
{
    float *f = malloc(sizeof(float) * E * (cols / step));
    for (int e = 0; e < E; e++)
        for (int c = r0, k = 0; c < cols; c += step, k++)
            f[(size_t)e * (cols / step) + k] = bf16_to_f32(((const uint16_t *)t->data)[(size_t)e * cols + c]);
    return f;
}

static const char *write_gguf(const char *fixture, bool short_stack)
{
    static char path[1200];
    struct model_file mf;
    struct owl_error err = {0};
    OWL_ASSERT(model_file_open(&mf, fixture_path(fixture), &err) == OWL_OK);
    const struct kv_table *c = &mf.config;
    const int L = (int)cfg(c, "num_hidden_layers"), E = (int)cfg(c, "num_local_experts");
    const int d = (int)cfg(c, "hidden_size"), f = (int)cfg(c, "intermediate_size");
    struct gw_file w;
    gw_init(&w);
    gw_kv_str(&w, "general.architecture", "gpt-oss");
    gw_kv_u32(&w, "gpt-oss.block_count", (uint32_t)L);
    gw_kv_u32(&w, "gpt-oss.context_length", (uint32_t)cfg(c, "max_position_embeddings"));
    gw_kv_u32(&w, "gpt-oss.embedding_length", (uint32_t)d);
    gw_kv_u32(&w, "gpt-oss.feed_forward_length", (uint32_t)f);
    gw_kv_u32(&w, "gpt-oss.attention.head_count", (uint32_t)cfg(c, "num_attention_heads"));
    gw_kv_u32(&w, "gpt-oss.attention.head_count_kv", (uint32_t)cfg(c, "num_key_value_heads"));
    gw_kv_u32(&w, "gpt-oss.attention.key_length", (uint32_t)cfg(c, "head_dim"));
    gw_kv_u32(&w, "gpt-oss.attention.value_length", (uint32_t)cfg(c, "head_dim"));
    gw_kv_f32(&w, "gpt-oss.attention.layer_norm_rms_epsilon", (float)cfg(c, "rms_norm_eps"));
    gw_kv_u32(&w, "gpt-oss.attention.sliding_window", (uint32_t)cfg(c, "sliding_window"));
    gw_kv_f32(&w, "gpt-oss.rope.freq_base", (float)cfg(c, "rope_theta"));
    gw_kv_str(&w, "gpt-oss.rope.scaling.type", "yarn");
    gw_kv_f32(&w, "gpt-oss.rope.scaling.factor", (float)cfg(c, "rope_scaling.factor"));
    gw_kv_u32(&w, "gpt-oss.rope.scaling.original_context_length",
              (uint32_t)cfg(c, "rope_scaling.original_max_position_embeddings"));
    gw_kv_f32(&w, "gpt-oss.rope.scaling.yarn_beta_fast", (float)cfg(c, "rope_scaling.beta_fast"));
    gw_kv_f32(&w, "gpt-oss.rope.scaling.yarn_beta_slow", (float)cfg(c, "rope_scaling.beta_slow"));
    gw_kv_u32(&w, "gpt-oss.expert_count", (uint32_t)E);
    gw_kv_u32(&w, "gpt-oss.expert_used_count", (uint32_t)cfg(c, "num_experts_per_tok"));
    gw_kv_u32(&w, "gpt-oss.expert_feed_forward_length", (uint32_t)f);

    static const char *const plain[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "post_attention_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.weight", "attn_k.weight"},   {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.o_proj.bias", "attn_output.bias"},
        {"self_attn.sinks", "attn_sinks.weight"},       {"mlp.router.weight", "ffn_gate_inp.weight"},
        {"mlp.router.bias", "ffn_gate_inp.bias"}};
    char name[256], gname[256];
    for (int l = -1; l < L; l++)
        for (size_t i = 0; i < (l < 0 ? 3 : sizeof plain / sizeof *plain); i++) {
            static const char *const global[][2] = {{"model.embed_tokens.weight", "token_embd.weight"},
                                                    {"model.norm.weight", "output_norm.weight"},
                                                    {"lm_head.weight", "output.weight"}};
            if (l < 0)
                snprintf(name, sizeof name, "%s", global[i][0]);
            else
                snprintf(name, sizeof name, "model.layers.%d.%s", l, plain[i][0]);
            if (l < 0)
                snprintf(gname, sizeof gname, "%s", global[i][1]);
            else
                snprintf(gname, sizeof gname, "blk.%d.%s", l, plain[i][1]);
            const struct tensor_view *t = tensor_table_find(&mf.tensors, name);
            OWL_ASSERT(t && t->dtype == DTYPE_BF16);
            const int64_t n = tensor_n_elements(t);
            uint64_t ne[2] = {(uint64_t)t->shape[t->n_dim - 1], t->n_dim == 2 ? (uint64_t)t->shape[0] : 1};
            if (t->n_dim == 2) {
                gw_tensor(&w, gname, 30, 2, ne, t->data, t->n_bytes);
            } else { /* vectors F32, as the converter writes them */
                float *v = malloc(sizeof(float) * n);
                dequantize_row_bf16(v, t->data, (int)n);
                gw_tensor(&w, gname, 0, 1, ne, v, (size_t)n * 4);
                free(v);
            }
        }
    for (int l = 0; l < L; l++) {
        const struct tensor_view *t[6];
        static const char *const parts[6] = {"gate_up_proj_blocks", "gate_up_proj_scales", "down_proj_blocks",
                                             "down_proj_scales", "gate_up_proj_bias", "down_proj_bias"};
        for (int i = 0; i < 6; i++) {
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%s", l, parts[i]);
            OWL_ASSERT((t[i] = tensor_table_find(&mf.tensors, name)) != NULL);
        }
        size_t size;
        const uint64_t ne_gu[3] = {(uint64_t)d, (uint64_t)f, (uint64_t)E}, ne_dn[3] = {(uint64_t)f, (uint64_t)d, (uint64_t)E};
        static const char *const gu_names[2] = {"ffn_gate_exps", "ffn_up_exps"};
        for (int half = 0; half < 2; half++) { /* gate: even rows of gate_up, up: odd rows */
            uint8_t *g = repack(t[0], t[1], E, 2 * f, half, 2, d / 32, &size);
            snprintf(gname, sizeof gname, "blk.%d.%s.weight", l, gu_names[half]);
            if (short_stack) { /* one expert fewer than expert_count says */
                const uint64_t ne_short[3] = {ne_gu[0], ne_gu[1], ne_gu[2] - 1};
                gw_tensor(&w, gname, 39, 3, ne_short, g, size / E * (E - 1));
            } else {
                gw_tensor(&w, gname, 39, 3, ne_gu, g, size);
            }
            free(g);
            float *b = bias_cols(t[4], E, 2 * f, half, 2);
            snprintf(gname, sizeof gname, "blk.%d.%s.bias", l, gu_names[half]);
            gw_tensor(&w, gname, 0, 2, (const uint64_t[]){(uint64_t)f, (uint64_t)E}, b, sizeof(float) * E * f);
            free(b);
        }
        uint8_t *g = repack(t[2], t[3], E, d, 0, 1, f / 32, &size);
        snprintf(gname, sizeof gname, "blk.%d.ffn_down_exps.weight", l);
        gw_tensor(&w, gname, 39, 3, ne_dn, g, size);
        free(g);
        float *b = bias_cols(t[5], E, d, 0, 1);
        snprintf(gname, sizeof gname, "blk.%d.ffn_down_exps.bias", l);
        gw_tensor(&w, gname, 0, 2, (const uint64_t[]){(uint64_t)d, (uint64_t)E}, b, sizeof(float) * E * d);
        free(b);
    }
    size_t size;
    uint8_t *img = gw_finish(&w, &size);
    snprintf(path, sizeof path, "%s/gpt-oss%s.gguf", test_tmpdir(), short_stack ? "-short" : "");
    OWL_ASSERT(write_file(path, img, size) == 0);
    free(img);
    model_file_close(&mf);
    return path;
}

int main(void)
{
    const char *fixture = "gpt_oss/mxfp4-released";
    int32_t tokens[24];
    for (int i = 0; i < 24; i++) /* past the 4-token sliding window */
        tokens[i] = (i * 37 + 5) % 300;
    int V = 0, V2 = 0;
    float *ref = model_logits(fixture_path(fixture), NULL, tokens, 24, &V);
    const char *path = write_gguf(fixture, false);
    float *got = model_logits(path, NULL, tokens, 24, &V2);
    CHECK(ref && got && V == V2);
    if (ref && got && V == V2) {
        double d = 0;
        for (size_t i = 0; i < (size_t)24 * V; i++)
            d = fmax(d, fabs(got[i] - ref[i]));
        printf("gpt-oss GGUF (MXFP4 experts, BF16 attention): max|gguf - safetensors| = %g\n", d);
        CHECK_MSG(memcmp(got, ref, sizeof(float) * 24 * V) == 0, "GGUF logits differ from safetensors by %g", d);
    }
    free(ref);
    free(got);
    struct owl_model_info info;
    struct owl_error err = {0};
    CHECK(owl_inspect(path, &info, &err) == OWL_OK);
    CHECK(strcmp(info.family, "gpt_oss") == 0 && info.n_expert == 8);

    /* stacks holding fewer experts than expert_count: refused, naming the missing expert's matrix */
    const char *bad = write_gguf(fixture, true);
    struct owl_model *m = NULL;
    CHECK(owl_model_open(bad, NULL, &m, &err) != OWL_OK);
    CHECK_MSG(strstr(err.message, "experts.7.gate_proj") != NULL, "%s", err.message);
    owl_model_close(m);
    return test_done("test_gguf_gpt_oss");
}
