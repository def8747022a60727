/* synth.h — internals of `owl synth` shared by synth.c (the plan, the values, safetensors) and
 * synth_gguf.c (llama.cpp's GGUF layout of the same tensors). Not a public interface.
 *
 * A plan lists the Hugging Face tensors of a checkpoint (names, shipped dtypes, shapes) in file order.
 * Every tensor is generated row by row, each row from its own seed (seed, tensor name, row index), so any
 * row can be produced on its own: the GGUF writer regroups rows (stacked experts, gate/up split, MLA's
 * kv_b split) and still gets exactly the values the safetensors writer wrote.
 */
#ifndef OWL_SYNTH_H
#define OWL_SYNTH_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "format/tensor.h"
#include "owl.h"

enum synth_family { SYNTH_QWEN3, SYNTH_QWEN3_MOE, SYNTH_GPT_OSS, SYNTH_DEEPSEEK };

enum synth_fill {
    FILL_ONES,      /* norm weights: 1.0 */
    FILL_NORMAL,    /* bf16 / f32 weights: uniform with standard deviation 0.02 */
    FILL_FP8,       /* e4m3 codes, uniform over [-12, 12] before rounding (x a 2^-8 / 2^-9 scale) */
    FILL_FP8_SCALE, /* f32 weight_scale_inv: 2^-8 or 2^-9 (powers of two: fp8 x scale is exact in bf16) */
    FILL_MX_BLOCKS, /* MXFP4 blocks: random E2M1 nibbles */
    FILL_MX_SCALES, /* MXFP4 E8M0 scales: 2^-8 or 2^-7 */
};

struct synth_tensor {
    char *name;                     /* owned: the Hugging Face name */
    enum dtype dtype;               /* shipped: BF16, F32, F8_E4M3, U8 */
    int n_dim;
    int64_t shape[TENSOR_MAX_DIMS]; /* PyTorch order */
    enum synth_fill fill;
    int64_t n_rows, row_len;        /* generated in rows of row_len elements (MXFP4 blocks: bytes) */
    int scale;                      /* FP8 weight: index of its weight_scale_inv; else -1 */
    int shard;                      /* safetensors file index */
    uint64_t name_hash;
};

struct synth {
    enum synth_family family;
    json_t *config;      /* owned: the config.json written */
    json_t *tokenizer;   /* owned: tokenizer.json, parsed */
    const char *like;    /* the release's name, or NULL */
    uint64_t seed;
    struct synth_tensor *t;
    int n, cap;
    /* hyper-parameters (config.json keys in comments) */
    int n_vocab;         /* vocab_size */
    int d_model;         /* hidden_size */
    int n_layer;         /* num_hidden_layers */
    int n_head, n_kv_head, d_head; /* num_attention_heads, num_key_value_heads, head_dim */
    int d_ff;            /* intermediate_size */
    int n_expert, n_expert_used, d_ff_exp, n_shared; /* num_experts / num_local_experts / n_routed_experts, ... */
    bool tied;           /* tie_word_embeddings */
    int q_rank, kv_rank, d_nope, d_rope, d_v, n_dense_lead, n_mtp; /* DeepSeek MLA and MoE layout */
    bool fp8, noaux_bias;
    bool *moe_layer;     /* owned (n_layer + n_mtp): the layer has routed experts */
};

static inline uint16_t synth_f32_to_bf16(float f) /* round to nearest even (values here are finite) */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* One row (row index r of t) of shipped bytes into out (t->row_len elements of t->dtype). */
void synth_fill_row(const struct synth *s, const struct synth_tensor *t, int64_t r, uint8_t *out);
/* The same row as fp32 values (FP8 rows multiplied by their block scales, exactly). */
void synth_row_f32(const struct synth *s, int ti, int64_t r, float *out);
/* Index of the tensor named name, -1 if absent. */
int synth_find(const struct synth *s, const char *name);

/* Write the GGUF file of the plan to f (synth_gguf.c). tok_dir holds the tokenizer. */
enum owl_status synth_write_gguf(const struct synth *s, const struct owl_synth_params *p, FILE *f, const char *path,
                                 struct owl_error *err);
/* Parse a JSON file (read whole, then parsed: jansson's own file reader goes a character at a time). */
json_t *synth_load_json(const char *path, size_t flags, json_error_t *je);
/* fwrite with a message naming path. */
enum owl_status synth_write(FILE *f, const void *p, size_t n, const char *path, struct owl_error *err);

#endif
