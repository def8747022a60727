/* model.h — the seam between a model family and the runtime.
 *
 * A family file (qwen3.c, ...) reads its hyper-parameters from the key space and its weights from the
 * tensor table, declares the KV layout the session allocates and the scratch it needs, and implements
 * forward() over the backend ops. The runtime knows nothing family-specific.
 */
#ifndef OWL_MODEL_H
#define OWL_MODEL_H

#include "backend/ops.h"
#include "format/model_file.h"

/* What the session allocates per layer and token: d_k floats of keys and d_v floats of values
 * (d_v = 0 when values live inside the keys, as in MLA's latent cache); n_window of the layers attend to the last
 * window keys only (GPT-OSS's sliding layers: windowed[l] != 0, owned by the family; NULL when none), the others
 * to every key. The session may keep only the recent rows of the windowed layers (struct forward_args). */
struct kv_layout {
    int n_layer;
    int d_k;
    int d_v;
    int n_window, window;
    const unsigned char *windowed;
};

/* Cache bytes of n positions over n_layer layers of layer_bytes a position each, n_capped of which hold at most cap
 * positions (sliding windows: what a step reads, or the rows a session keeps). */
static inline uint64_t kv_capped_bytes(uint64_t layer_bytes, int n_layer, int n_capped, uint64_t n, uint64_t cap)
{
    return layer_bytes * ((uint64_t)(n_layer - n_capped) * n + (uint64_t)n_capped * (n < cap ? n : cap));
}

/* The rows a sliding-window layer keeps (owl_session_params.window_rows): want (<= 0: 4096), at least the window,
 * a chunk of n_batch and the 63 positions that keep the rows' base a multiple of 64, rounded up to 64. The session
 * keeps them where they are fewer than its context. */
static inline long kv_window_rows(int window, int n_batch, int want)
{
    const long need = (long)window + n_batch + 63, w = want > 0 ? want : 4096;
    return ((w < need ? need : w) + 63) / 64 * 64;
}

/* One sequence of a forward: its tokens are the next n_tok of forward_args.tokens, and it has its own
 * cache. A forward over one sequence is a prompt chunk or a decode step; over several, a batch of
 * sequences (the server's decode step: one token each, in row-exact mode, see ops_set_row_exact). */
struct forward_seq {
    int n_tok;      /* >= 1 */
    int n_past;     /* tokens already cached; these get positions n_past .. n_past+n_tok-1 */
    void *k_cache;  /* (rows, d_k) values: fp32, or IEEE half with forward_args.kv_f16; layer l's from row0[l] */
    void *v_cache;  /* (rows, d_v) or NULL when d_v == 0 */
    int ring_base;  /* the position in row 0 of every ring layer (forward_args.ring); a multiple of 64 */
};

struct forward_args {
    const int32_t *tokens; /* (n_tok), ids checked < n_vocab by the runtime */
    int n_tok;             /* sum of the sequences' n_tok: 1 .. the n_batch the scratch was sized for */
    int n_seq;             /* >= 1 */
    const struct forward_seq *seq; /* (n_seq) */
    int n_ctx;             /* every cache's capacity in positions */
    bool kv_f16;           /* every cache holds IEEE half values (rounded when stored), else fp32 */
    const size_t *row0;    /* (n_layer) layer l's first cache row (the session shifts the layers apart) */
    const unsigned char *ring; /* (n_layer) or NULL: where set, layer l keeps only recent positions, position p in
                                  row row0[l] + p - ring_base (the session moves the rows it still needs down to
                                  row 0 before a forward would run past its rows; windowed layers only) */
    float *scratch;        /* scratch_floats(n_batch, n_ctx) floats, 64-byte aligned */
    float *logits;         /* (n_tok, n_vocab) if all_logits, else (n_seq, n_vocab): each sequence's last
                              token; or NULL */
    bool all_logits;
};

/* Helpers for a family's forward over a batch of sequences (model.c). */

/* cos/sin (n_tok, d_rot/2): each token's RoPE row at its own sequence's position. */
struct rope;
void forward_rope_tables(const struct rope *r, const struct forward_args *a, float *cos, float *sin);
/* Copy the new tokens' rows of layer l into their sequences' caches (rounded to half with kv_f16): k (n_tok,
 * d_k) and, when d_v > 0, v (n_tok, d_v); d_k, d_v as the model's kv_layout. */
void forward_store_kv(const struct forward_args *a, int l, const float *k, int d_k, const float *v, int d_v);
/* Attention of layer l for every sequence over its own cache, in one op_attention_batch: *tmpl gives q
 * and out (n_tok, ...) token-major, the heads, dims, scale, sinks and window, and k_stride / v_stride, the
 * floats of a cache row (d_k / d_v of the kv_layout). Keys come from each sequence's k cache; values from
 * its v cache, or from the k cache when values_in_k (MLA: a latent row's first d_v floats). */
void forward_attention(const struct forward_args *a, int l, const struct attn_args *tmpl, bool values_in_k);
/* Rows p0 .. p1-1 of sequence s's k cache in layer l as fp32 (row_len = the kv_layout's d_k) into out. */
void forward_k_rows(const struct forward_args *a, int s, int l, int p0, int p1, int row_len, float *out);
/* The hidden rows the head needs, RMSNorm'd into out: all n_tok rows, or each sequence's last. Returns
 * the row count (n_tok or n_seq). */
int forward_head_rows(const struct forward_args *a, float *out, const float *x, int d, const float *norm_w,
                      float eps);

struct model;

/* What a stored tensor is to the parameter counts of owl inspect (see info.c). */
enum tensor_role {
    TENSOR_DENSE,   /* used by every token */
    TENSOR_EMBED,   /* the input embedding table (a lookup: active only when tied, being the head) */
    TENSOR_HEAD,    /* the output head */
    TENSOR_EXPERT,  /* a routed expert's weights or biases: active k of n_expert */
    TENSOR_MTP,     /* multi-token-prediction layers: counted apart */
    TENSOR_SCALE,   /* quantization scales: bytes, no parameters */
    TENSOR_UNUSED,  /* stored but not a parameter of the model (a tied head saved anyway): bytes only */
};

struct tensor_class {
    enum tensor_role role;
    int64_t n_params;   /* values it holds; preset to its element count (MXFP4 blocks hold 2 per byte) */
    const char *format; /* name its bytes are listed under; preset NULL = the dtype's name */
};

struct model_vtable {
    const char *family;
    /* Read hyper-parameters and take weights from m->file; fill m's common fields and m->priv. */
    enum owl_status (*load)(struct model *m, struct owl_error *err);
    void (*free_priv)(struct model *m);
    /* Floats of scratch a forward of up to n_batch tokens with a cache of n_ctx needs. */
    size_t (*scratch_floats)(const struct model *m, int n_batch, int n_ctx);
    void (*forward)(const struct model *m, const struct forward_args *a);
    /* Append a human-readable description of the hyper-parameters. */
    void (*describe)(const struct model *m, char *buf, size_t size);
    /* Fill info from config alone (info->family is set, the rest zeroed): the architecture, and the
     * parameter counts and KV bytes computed from the hyper-parameters. Reads the config as load does
     * (same checks, same errors). */
    enum owl_status (*describe_config)(const struct kv_table *config, struct owl_model_info *info,
                                       struct owl_error *err);
    /* Classify a stored tensor for the counts from a checkpoint; info is describe_config's. */
    void (*classify)(const struct owl_model_info *info, const struct tensor_view *t, struct tensor_class *c);
};

struct model {
    const struct model_vtable *vt;
    struct model_file file;  /* owns the mappings every weight points into */
    int n_vocab;             /* rows of the output head (config vocab_size) */
    int n_ctx_train;         /* max_position_embeddings */
    int d_model;             /* hidden_size */
    struct kv_layout kv;
    size_t decode_bytes;     /* weight bytes one decode step reads (the bandwidth bound's numerator) */
    bool quant;              /* owl_model_params.quant set: take_linear requantizes plain matrices */
    enum dtype quant_dtype;  /* to DTYPE_Q8_0 or DTYPE_Q4_0 */
    enum act_mode act;       /* owl_model_params.act: ops_set_act around every forward */
    void **owned;            /* (n_owned) buffers of requantized weights, owned */
    int n_owned;
    int n_slabs;             /* MXFP4 matrices regrouped in slabs (model_mxfp4_slabs) */
    void *priv;              /* family-private: hyper-parameters and weights, owned */
};

/* Find the family for a config: by model_type ("qwen3", ...). Returns NULL (and an error naming the
 * model_type and the supported ones) when owl does not run it. */
const struct model_vtable *model_lookup(const struct kv_table *config, struct owl_error *err);

/* Describe the model of a config (describe_config, plus the KV bytes at full context); then, with the
 * checkpoint's tensors, replace the counts and bytes by sums over them (info.c). */
enum owl_status model_info_config(const struct kv_table *config, struct owl_model_info *info, struct owl_error *err);
void model_info_tensors(const struct kv_table *config, const struct tensor_table *tensors,
                        struct owl_model_info *info);
/* For describe_config: add bytes under a dtype name to info's list and total; n_params values stored in
 * the config's torch_dtype (v5: dtype; bf16 when absent); the RoPE fields, yarn_applied saying where a
 * YaRN setting comes from ("pre-training" or "inference"). */
void model_info_add_bytes(struct owl_model_info *info, const char *dtype, uint64_t bytes);
void model_info_plain_bytes(const struct kv_table *config, struct owl_model_info *info, int64_t n_params);
struct rope;
void model_info_rope(struct owl_model_info *info, const struct rope *rope, const char *yarn_applied);

/* Helpers shared by family files. */

/* Take a 2-D weight (d_out, d_in) in a matmul dtype (F32, F16, BF16, GGML blocks, ...). With m->quant, a
 * plain (F32/F16/BF16) matrix whose rows are whole 32-weight blocks is quantized at load into an owned copy
 * (Q8_0: 0.53 bytes per weight, Q4_0: 0.56; the mapped original is then never read), except routers (names
 * ending "mlp.gate.weight" or "mlp.router.weight"), which stay exact as llama.cpp keeps ffn_gate_inp; under
 * Q4_0 the output head and the embedding table ("lm_head.weight", "model.embed_tokens.weight") take Q8_0
 * (llama-quantize gives them Q6_K).
 * Returns OWL_ERR_OUT_OF_MEMORY when the copy does not fit. */
enum owl_status model_take_linear(struct model *m, const char *name, int d_out, int d_in, struct weight *out,
                                  struct owl_error *err);
/* Regroup the MXFP4 matrices among w[0..n) (GGML blocks or the HF layout; d_out a multiple of 16) into slabs of 16
 * rows, in place and on every thread (mxfp4_to_slabs; weight.slabs set; m->n_slabs counts them), where the act q8
 * mode has a kernel for them (kern.matmul_mxfp4s_q8: AVX512-VBMI) and the files were read into memory (a mapped
 * file's pages stay the page cache's): decode then streams them at the memory's bandwidth (docs/BENCHMARKS.md).
 * Else, or if memory cannot be made writable, nothing changes; the numbers are the same either way
 * (matmul_mxfp4s_q8_ref). */
void model_mxfp4_slabs(struct model *m, struct weight *w, int n);
/* Take a 1-D vector of n (norm weight, bias) and convert it to an owned fp32 array (tiny: no copy of
 * the model is made; this is O(d_model) per layer). */
enum owl_status model_take_vector(struct model *m, const char *name, int n, float **out, struct owl_error *err);

/* Bytes of a stored weight. */
static inline size_t weight_bytes(const struct weight *w)
{
    if (weight_is_mxfp4(w)) /* half a byte per value plus one E8M0 scale byte per 32 */
        return (size_t)w->d_out * ((size_t)w->d_in / 2 + (size_t)w->d_in / 32);
    size_t row = 0;
    OWL_ASSERT(dtype_bytes(w->dtype, (uint64_t)w->d_in, &row)); /* the loader checked whole blocks */
    return (size_t)w->d_out * row;
}

/* Carve n floats (rounded up to 16 for alignment) from a scratch cursor. */
static inline float *scratch_take(float **cursor, size_t n)
{
    float *p = *cursor;
    *cursor += (n + 15) & ~(size_t)15;
    return p;
}
static inline size_t scratch_round(size_t n) { return (n + 15) & ~(size_t)15; }

extern const struct model_vtable qwen3_vtable;
extern const struct model_vtable qwen3_moe_vtable;
extern const struct model_vtable gpt_oss_vtable;
extern const struct model_vtable deepseek_v3_vtable; /* deepseek_v3.c */
extern const struct model_vtable deepseek_v2_vtable;

#endif
