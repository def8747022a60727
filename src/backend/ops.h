/* ops.h — the backend operations every model is written over. Backends never see models.
 *
 * Activations are fp32, contiguous, token-major: a (n_tok, d) buffer holds token t's vector at t*d.
 * Weights are `struct weight`: the stored bytes (bf16, f16, f32; quantized formats later) plus their
 * shape; kernels dequantize in registers. All ops are multi-threaded with OpenMP over the thread count
 * set by ops_set_threads, and never allocate.
 */
#ifndef OWL_OPS_H
#define OWL_OPS_H

#include "format/tensor.h"

/* A linear weight (d_out, d_in) as stored, or an embedding table (n_vocab, d). Quantized formats carry
 * their scales beside the values (kernels dequantize in registers); expert stacks (n_expert > 1) hold
 * n_expert matrices of (d_out, d_in), expert e's values at data + e * expert_stride bytes and its scales
 * at scales + e * scale_expert_stride bytes. */
struct weight {
    enum dtype dtype;      /* F32, F16, BF16 (plain); quantized formats are added with their families */
    int d_out;
    int d_in;
    const void *data;      /* borrowed: points into a file mapping */
    const void *scales;    /* borrowed; NULL for plain dtypes */
    int n_expert;          /* 0 or 1: a single matrix */
    size_t expert_stride;       /* bytes between experts' values */
    size_t scale_expert_stride; /* bytes between experts' scales */
};

/* Threads used by every op from now on (<= 0: all cores). Returns the number in use. */
int ops_set_threads(int n_threads);
int ops_threads(void);

/* out (n, d) = rows tokens[0..n) of emb (n_vocab, d). Token ids must be checked by the caller. */
void op_embed(float *out, const struct weight *emb, const int32_t *tokens, int n);

/* y (n, w->d_out) = x (n, w->d_in) · wᵀ (+ bias (d_out) if not NULL). */
void op_matmul(float *y, const float *x, const struct weight *w, const float *bias, int n);

/* RMSNorm of each of n_rows rows of length d: out = w ⊙ (x · rsqrt(mean(x²) + eps)).
 * x and out may alias. w: (d) fp32. Mirrors Qwen3RMSNorm. */
void op_rmsnorm(float *out, const float *x, const float *w, int n_rows, int d, float eps);

enum rope_pairing {
    ROPE_PAIRING_HALF,       /* i with i + d/2 (NeoX, rotate_half): Qwen3, GPT-OSS */
    ROPE_PAIRING_INTERLEAVED /* 2i with 2i+1: DeepSeek */
};

/* Rotate d_rot dims of each head in place. x: token t, head h starts at x + t*tok_stride + h*head_stride.
 * cos/sin: (n_tok, d_rot/2), already multiplied by the attention scaling. */
void op_rope(float *x, int n_tok, int n_head, int tok_stride, int head_stride, int d_rot,
             const float *cos, const float *sin, enum rope_pairing pairing);

/* Causal attention of n_tok new queries (positions n_past .. n_past+n_tok-1) over the cached keys and
 * values of positions 0 .. n_past+n_tok-1 (already written). Query head h uses KV head h / (n_head /
 * n_kv_head). Mirrors eager_attention_forward: softmax(q·kᵀ·scale + mask [+ sink]) · v. */
struct attn_args {
    float *out;           /* (n_tok, n_head, d_v) */
    const float *q;       /* (n_tok, n_head, d_k) */
    const float *k;       /* cache rows: position p, kv head g at k + p*k_stride + g*d_k */
    const float *v;       /* position p, kv head g at v + p*v_stride + g*d_v */
    int k_stride, v_stride;
    int n_tok, n_past;
    int n_head, n_kv_head, d_k, d_v;
    float scale;
    const float *sinks;   /* (n_head) learned logits that join each softmax denominator, or NULL */
    int window;           /* > 0: key p visible from query position i iff i - window < p <= i */
    float *scratch;       /* ops_threads() * (n_past + n_tok) floats */
};
void op_attention(const struct attn_args *a);

/* out = silu(gate) ⊙ up, n elements (Qwen3MLP's act_fn(gate_proj(x)) * up_proj(x)). */
void op_swiglu(float *out, const float *gate, const float *up, size_t n);

/* x += y, n elements. */
void op_add(float *x, const float *y, size_t n);

/* Convert a stored vector (norm weights, biases: small) to fp32. */
void weight_to_f32(float *out, const void *data, enum dtype dtype, size_t n);

#endif
