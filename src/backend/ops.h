/* ops.h — the backend operations every model is written over. Backends never see models.
 *
 * Activations are fp32, contiguous, token-major: a (n_tok, d) buffer holds token t's vector at t*d.
 * Weights are `struct weight`: the stored bytes (bf16, f16, f32; quantized formats later) plus their
 * shape; kernels dequantize in registers. All ops are multi-threaded over the thread count set by
 * ops_set_threads (OpenMP regions, or a pass's held threads: ops_pass), and allocate only to grow the
 * matmuls' workspace (kept for the process).
 */
#ifndef OWL_OPS_H
#define OWL_OPS_H

#include "format/tensor.h"

/* A linear weight (d_out, d_in) as stored, or an embedding table (n_vocab, d). Quantized formats carry
 * their scales beside the values (kernels dequantize in registers); expert stacks (n_expert > 1) hold
 * n_expert matrices of (d_out, d_in), expert e's values at data + e * expert_stride bytes and its scales
 * at scales + e * scale_expert_stride bytes. */
struct weight {
    enum dtype dtype;      /* F32, F16, BF16 (plain); U8 with scales: MXFP4 (see weight_is_mxfp4);
                              F8_E4M3 with fp32 128x128 block scales (kernels/fp8.h) */
    int d_out;
    int d_in;
    const void *data;      /* borrowed: points into a file mapping */
    const void *scales;    /* borrowed; NULL for plain dtypes */
    int n_expert;          /* 0 or 1: a single matrix */
    size_t expert_stride;       /* bytes between experts' values */
    size_t scale_expert_stride; /* bytes between experts' scales */
    bool slabs;            /* MXFP4 rows (either layout) regrouped in slabs of 16 (mxfp4_to_slabs,
                              model_mxfp4_slabs): only the act q8 matmuls read them */
};

/* MXFP4 as gpt-oss ships it: data (d_out, d_in/32, 16) bytes, two E2M1 codes per byte (low nibble first),
 * scales (d_out, d_in/32) E8M0 bytes (2^(s-127)); d_in a multiple of 32 (kernels/mxfp4.c). */
static inline bool weight_is_mxfp4(const struct weight *w) { return w->dtype == DTYPE_U8 && w->scales; }

/* Expert e of a stack (n_expert > 1) as a single matrix. */
static inline struct weight weight_expert(const struct weight *stack, int e)
{
    struct weight w = *stack;
    w.data = (const char *)stack->data + (size_t)e * stack->expert_stride;
    if (stack->scales)
        w.scales = (const char *)stack->scales + (size_t)e * stack->scale_expert_stride;
    w.n_expert = 1;
    w.expert_stride = w.scale_expert_stride = 0;
    return w;
}

/* Threads used by every op from now on (<= 0: all cores). Returns the number in use. */
int ops_set_threads(int n_threads);
int ops_threads(void);

/* fn(ctx) on the calling thread with the ops' threads held for it: the ops it calls post their parallel parts to
 * threads already waiting instead of each opening an OpenMP region (backend/team.h). For a decode step's forward,
 * whose ops are many and short. The same numbers as fn(ctx) alone. */
void ops_pass(void (*fn)(void *ctx), void *ctx);

/* Row-exact mode (off by default): while on, every op gives each token's row bitwise what it gives that
 * token alone (op_matmul runs its kernels on at most KERN_ROW_EXACT_TOKENS tokens at a time, never the
 * prefill GEMM), so one forward over several sequences' decode steps equals each sequence's own forward.
 * The weights are still read from memory once per step: a call's token groups share each L1/L2-resident
 * chunk of rows. Set by the runtime around a batched decode step. */
void ops_set_row_exact(bool on);
bool ops_row_exact(void);

/* Reduced-precision activations (opt-in; ACT_FP32, exact, by default), set from owl_model_params.act:
 * - ACT_BF16: matmuls over BF16 weights round each activation to bf16 and use bf16 dot products
 *   (AVX512-BF16; the reference elsewhere), prefill and decode; Q8_0 weights do so in prefill.
 * - ACT_Q8: ACT_BF16, and matmuls over MXFP4 weights (both layouts) quantize each activation block of 32
 *   to int8 (struct act_q8) and use integer dot products (AVX512-VNNI; the reference elsewhere).
 * Row-exact kept in both. Faster, at a cost in accuracy measured as KL divergence (docs/BENCHMARKS.md). */
enum act_mode { ACT_FP32, ACT_BF16, ACT_Q8 };
void ops_set_act(enum act_mode mode);

/* out (n, d) = rows tokens[0..n) of emb (n_vocab, d). Token ids must be checked by the caller. */
void op_embed(float *out, const struct weight *emb, const int32_t *tokens, int n);

/* y (n, w->d_out) = x (n, w->d_in) · wᵀ (+ bias (d_out) if not NULL). */
void op_matmul(float *y, const float *x, const struct weight *w, const float *bias, int n);

/* Several matmuls over n tokens each, as op_matmul would run them one by one (the same numbers, bit for bit):
 * y = x W^T (+ bias) per job. In one parallel region where every job takes the same path: in decode (n < 8) the
 * act q8 one or the plain one (an MoE layer's experts; the q, k and v projections; gate and up), in prefill the
 * bf16-activation GEMM (q, k and v; gate and up): each x quantized or packed once (consecutive jobs on the same x
 * share it) and the rows of all the jobs claimed as one range, so the threads wait once instead of once per job.
 * Otherwise job by job. */
struct matmul_job {
    float *y;
    const float *x;
    const struct weight *w;
    const float *bias; /* or NULL */
};
void op_matmul_many(const struct matmul_job *jobs, int n_jobs, int n);

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
    const void *k;        /* cache rows: position p, kv head g at element p*k_stride + g*d_k of k */
    const void *v;        /* position p, kv head g at element p*v_stride + g*d_v of v */
    bool kv_f16;          /* k and v hold IEEE half values (an f16 KV cache), else fp32 */
    int k_stride, v_stride;
    int n_tok, n_past;
    int n_head, n_kv_head, d_k, d_v;
    float scale;
    const float *sinks;   /* (n_head) learned logits that join each softmax denominator, or NULL */
    int window;           /* > 0: key p visible from query position i iff i - window < p <= i */
};
void op_attention(const struct attn_args *a);
/* n independent attentions (one per sequence of a batch) in one parallel pass. */
void op_attention_batch(const struct attn_args *a, int n);

/* out[i] = x[i] as IEEE half for i < n (an f16 KV cache's rows): nearest even, finite values beyond the half
 * range saturate to +-65504, inf and NaN stay. */
void op_to_f16(uint16_t *out, const float *x, size_t n);
/* out[i] = x[i] for i < n (an fp32 cache's rows); the buffers do not overlap. */
void op_copy(float *out, const float *x, size_t n);

/* out = silu(gate) ⊙ up, n elements (Qwen3MLP's act_fn(gate_proj(x)) * up_proj(x)). */
void op_swiglu(float *out, const float *gate, const float *up, size_t n);

/* x += y, n elements. */
void op_add(float *x, const float *y, size_t n);

/* ---- Mixture of experts: route, then run the chosen experts (Qwen3-MoE, GPT-OSS, DeepSeek-V3/V2). */

/* How router logits become (expert, weight) pairs. */
enum router_kind {
    ROUTER_SOFTMAX_TOPK, /* p = softmax(logits) over all experts; [groups: keep the topk_group groups with the
                            largest max p, others' p set to 0 for selection]; top-k of p; if norm_topk,
                            p /= sum of the k (Qwen3MoeTopKRouter; DeepseekV2TopkRouter greedy and
                            group_limited_greedy, which never renormalize) */
    ROUTER_TOPK_SOFTMAX, /* top-k of the logits; softmax over those k (GptOssTopKRouter; a router bias is
                            already in the logits: op_matmul's bias) */
    ROUTER_SIGMOID_NOAUX, /* s = sigmoid(logits), c = s + bias selects: keep the topk_group groups with the
                             largest sum of their two best c, others' c = -inf; top-k of c; weights s of the
                             k, if norm_topk s /= (sum + 1e-20) (DeepseekV3TopkRouter, topk_method noaux_tc) */
};

struct router_params {
    enum router_kind kind;
    int n_expert;   /* logits per token */
    int k;          /* experts per token, 1..n_expert */
    bool norm_topk; /* ROUTER_SOFTMAX_TOPK, ROUTER_SIGMOID_NOAUX: renormalize the k weights (norm_topk_prob) */
    float scale;    /* routed_scaling_factor: every weight is multiplied by it last; 0: no scaling */
    int n_group;    /* n_group: experts in groups of n_expert/n_group consecutive ids; 0 or 1: no groups
                       (ROUTER_SOFTMAX_TOPK, ROUTER_SIGMOID_NOAUX) */
    int topk_group; /* groups kept when n_group > 1; k <= topk_group * n_expert/n_group */
    const float *bias; /* ROUTER_SIGMOID_NOAUX: (n_expert) e_score_correction_bias, used only to select */
};

/* ids, weights (n_tok, k): each token's experts by descending selection score (torch.topk order; equal
 * scores: lower id first) and their weights. logits (n_tok, n_expert), fp32. */
void op_moe_route(int32_t *ids, float *weights, const float *logits, int n_tok, const struct router_params *p);

enum expert_act {
    EXPERT_ACT_SILU,       /* h = silu(gate) * up (Qwen3MoeExperts, DeepSeek) */
    EXPERT_ACT_SWIGLU_OAI, /* g = min(gate, limit), u = clamp(up, -limit, limit), h = g*sigmoid(alpha*g)*(u + 1)
                              (GptOssExperts) */
};

/* The routed experts of one layer. Each expert is given as its own matrix (views of a stack made with
 * weight_expert, or separate tensors, FP8 ones each with its own block scales), so checkpoints with
 * per-expert tensors need no copy. Either gate and up are separate, or gate_up is fused with rows
 * alternating gate_0, up_0, gate_1, up_1, ... (GPT-OSS). */
struct moe_ffn {
    int n_expert, d_model, d_ff;
    enum expert_act act;
    float alpha, limit;          /* EXPERT_ACT_SWIGLU_OAI: 1.702, swiglu_limit */
    const struct weight *gate;   /* (n_expert) matrices (d_ff, d_model), or NULL when gate_up is set */
    const struct weight *up;     /* (n_expert) matrices (d_ff, d_model), or NULL */
    const struct weight *gate_up; /* (n_expert) matrices (2*d_ff, d_model) interleaved, or NULL */
    const struct weight *down;   /* (n_expert) matrices (d_model, d_ff) */
    const float *gate_up_bias;   /* (n_expert, 2*d_ff) interleaved like gate_up, or NULL */
    const float *gate_bias;      /* (n_expert, d_ff) with separate gate and up (GGUF gpt-oss), or NULL */
    const float *up_bias;        /* (n_expert, d_ff), or NULL */
    const float *down_bias;      /* (n_expert, d_model), or NULL */
};

struct moe_args {
    float *out;             /* (n_tok, d_model): overwritten with sum_j weights[t,j] * expert_{ids[t,j]}(x_t) */
    const float *x;         /* (n_tok, d_model); must not alias out */
    const int32_t *ids;     /* (n_tok, k) from op_moe_route */
    const float *weights;   /* (n_tok, k) */
    int n_tok, k;
    const struct moe_ffn *ffn;
    float *scratch;         /* moe_scratch_floats(ffn, n_tok) floats */
};

/* Floats of scratch op_moe needs for n_tok tokens. */
size_t moe_scratch_floats(const struct moe_ffn *ffn, int n_tok);

/* Run the routed experts. Mirrors the eager experts of transformers (Qwen3MoeExperts.forward,
 * GptOssExperts.forward, DeepseekV3Experts.forward): the tokens routed to each expert are gathered and run as one batch, experts in
 * ascending id; each token's output starts at +0 and gets w*y added per expert in ascending expert id. */
void op_moe(const struct moe_args *a);

/* GPT-OSS's clamped SwiGLU (EXPERT_ACT_SWIGLU_OAI): out (n, d_ff) from gate and up values, element c of
 * token t at gate[t*row + c*step] and up[t*row + c*step]: interleaved pairs (up = gate + 1, step 2, row
 * 2*d_ff) or separate arrays (step 1, row d_ff; out may alias up). */
void op_swiglu_oai(float *out, const float *gate, const float *up, int step, int row, int n, int d_ff, float alpha,
                   float limit);

/* Per-head products with row slices of one weight (MLA's absorbed kv_b_proj). Head h uses rows
 * r(h, i) = row0 + h*row_stride + i, i < n_rows, of w, and token t's vectors at x + t*x_tok_stride +
 * h*x_head_stride and y + t*y_tok_stride + h*y_head_stride:
 *   plain:      y[t,h][i] = W[r(h,i), :] · x[t,h]            (x: d_in floats, y: n_rows floats)
 *   transposed: y[t,h]    = sum_i x[t,h][i] * W[r(h,i), :]   (x: n_rows floats, y: d_in floats)
 * Any weight dtype op_matmul takes, FP8 blocks included; row slices need not align with 128-row blocks. */
struct heads_matmul_args {
    float *y;
    const float *x;
    const struct weight *w;
    int n_tok, n_head;
    int row0, row_stride, n_rows;
    int x_tok_stride, x_head_stride, y_tok_stride, y_head_stride;
    bool transposed;
};
void op_matmul_heads(const struct heads_matmul_args *a);

/* The CPU backend's kept scratch of the calling thread, slot 0 (the matmuls') or 1, at least bytes long (internal
 * to src/backend: its ops share it). */
void *backend_scratch(int slot, size_t bytes);
/* Rows [o0, o1) of w for n tokens with the exact (fp32-activation) kernel of its dtype, on the calling thread
 * (internal to src/backend). */
void backend_matmul_rows(float *y, const float *x, const struct weight *w, int n, int o0, int o1);

/* Convert a stored vector (norm weights, biases: small) to fp32. */
void weight_to_f32(float *out, const void *data, enum dtype dtype, size_t n);

#endif
