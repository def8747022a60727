/* owl.h — the public C API of owl, an inference engine for open-weight language models.
 *
 * Everything a program (the CLI, the server, a user's code) needs: open a model directory as shipped,
 * create sessions (each owns a KV cache and scratch), run tokens through the model and read logits.
 * Opaque structs; every fallible call returns an owl_status and fills an owl_error with a message that
 * names the file, tensor or field, the expected and the actual value. The library never calls exit().
 */
#ifndef OWL_H
#define OWL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum owl_status {
    OWL_OK = 0,
    OWL_ERR_INVALID_ARG,   /* a caller passed something out of range (bad token id, n <= 0, ...) */
    OWL_ERR_IO,            /* open/stat/mmap/read failed */
    OWL_ERR_BAD_FILE,      /* a file's contents are malformed (header, JSON, offsets, dtype, shape) */
    OWL_ERR_BAD_CONFIG,    /* config.json is well-formed but a field is missing or out of range */
    OWL_ERR_UNSUPPORTED,   /* a valid model or dtype that owl does not run (yet) */
    OWL_ERR_OUT_OF_MEMORY, /* a large or request-driven allocation failed */
    OWL_ERR_CONTEXT_FULL,  /* the tokens do not fit in the session's context */
};

struct owl_error {
    enum owl_status status;
    char message[256];
};

/* Short constant name of a status ("OWL_ERR_BAD_FILE"). */
const char *owl_status_name(enum owl_status status);

struct owl_model;   /* weights (mmap'd, read-only) + hyper-parameters; shared by sessions */
struct owl_session; /* KV cache + scratch; borrows one model; one thread at a time */

struct owl_model_params {
    int n_threads; /* threads for the forward; <= 0 means all cores */
    int verbose;   /* 1: warnings (e.g. unexpected tensors) go to stderr */
    const char *quant; /* NULL: weights as shipped; "q8_0" or "q4_0": quantize bf16/f16/f32 matrices at load
                          (routers kept; under q4_0 the head and embeddings take q8_0) */
    const char *act;   /* NULL or "fp32": exact fp32 activations; "bf16": matmuls over BF16 weights round the
                          activations to bf16 and use bf16 dot products (AVX512-BF16), faster and less exact
                          (KL divergence in docs/BENCHMARKS.md); "q8": bf16, and matmuls over MXFP4 weights
                          (and over Q8_0 and Q4_0 weights in decode) quantize each block of 32 activations
                          to int8 and use integer dot products (AVX512-VNNI; Q8_0/Q4_0 also AVX2) */
    const char *load;  /* NULL or "auto": read the files into memory (as "copy") when they take at most half of
                          the memory available (the copy and the page cache both fit; three quarters with act
                          "q8", the speed mode) and quant is NULL, else
                          map them (as "mmap"); "mmap": map the files, pages read on first use and shared with
                          the page cache; "copy": read them into anonymous memory with transparent huge pages
                          (decode 10-20% faster on virtual machines, see docs/BENCHMARKS.md; the weights stay
                          in their shipped format) */
};
struct owl_model_params owl_model_default_params(void);

/* Open a Hugging Face model directory (config.json + *.safetensors, sharded or not).
 * On success *out owns the mappings; close with owl_model_close. On failure *out is NULL. */
enum owl_status owl_model_open(const char *path, const struct owl_model_params *params,
                               struct owl_model **out, struct owl_error *err);
void owl_model_close(struct owl_model *model); /* NULL-safe; sessions must be freed first */

int owl_model_n_vocab(const struct owl_model *model);   /* rows of the logits */
int owl_model_n_ctx_train(const struct owl_model *model); /* max_position_embeddings */
const char *owl_model_family(const struct owl_model *model); /* "qwen3", ... */

/* Bytes of weights one decode step reads (for the memory-bandwidth bound). */
size_t owl_model_decode_bytes(const struct owl_model *model);
/* KV-cache bytes per token (all layers) of an fp32 cache (the default; f16 halves it). */
size_t owl_model_kv_bytes_per_token(const struct owl_model *model);
/* 1 when the weights were read into memory (owl_model_params.load), 0 when they are mapped. */
int owl_model_weights_in_memory(const struct owl_model *model);
/* How many MXFP4 matrices were regrouped in slabs of 16 rows at load (experts read into memory, act "q8",
 * AVX512-VBMI or AVX2 kernels: their faster kernel; 0 otherwise). */
int owl_model_mxfp4_slabs(const struct owl_model *model);
/* Kernel variant in use ("avx512", "avx2" or "ref") and the thread count. */
const char *owl_kernels_isa(void);
int owl_model_n_threads(const struct owl_model *model);

/* Bring the model's mapped weights into memory now (instead of at first use), reading one byte per page
 * after madvise(WILLNEED). progress (may be NULL) is called with the bytes done and the total every 64 MiB
 * and at the end. Cheap when the files are already in the page cache; nothing to do for files read into
 * memory (owl_model_params.load). */
void owl_model_touch(struct owl_model *model, void (*progress)(size_t done, size_t total, void *user), void *user);

/* The machine's read bandwidth in bytes/s as n_threads threads (<= 0: all cores) see it streaming a 512 MiB
 * buffer with the widest vector loads owl uses (best of 5 passes); the denominator of the decode bound.
 * The buffer is allocated and touched by the first call and kept for the process's life, so later calls touch
 * no fresh memory (on a VM that hands freed memory back to its host, that slows every buffer for seconds).
 * Returns 0 when the buffer cannot be allocated. */
double owl_read_bandwidth(int n_threads);

/* The same probe's 5 passes as a spread, bytes/s: best (owl_read_bandwidth's figure) and median. On a virtual
 * machine whose bandwidth moves from one pass to the next (a pass is 8-20 ms), the best is the window's peak and the
 * median closer to what a stream of a second sustains in it. Both 0 when the buffer cannot be allocated. */
struct owl_bandwidth {
    double best, median;
};
struct owl_bandwidth owl_read_bandwidth_passes(int n_threads);

/* Multi-line human-readable summary of the hyper-parameters into buf (always NUL-terminated). */
void owl_model_describe(const struct owl_model *model, char *buf, size_t size);

/* ---- Architecture description (owl inspect, owl compare) ------------------------------------------------ */

/* What a model is, as its family defines it: plain numbers and short strings, filled from config.json alone
 * (parameter counts from the hyper-parameters) or, for a checkpoint, with the counts and bytes summed over
 * its actual tensors. Fields that do not apply are 0 or "". */
#define OWL_INFO_MAX_DTYPES 8
struct owl_model_info {
    char family[24];          /* model_type: "qwen3", "qwen3_moe", "gpt_oss", "deepseek_v3", "deepseek_v2" */
    char variant[40];         /* the family's name for the shape: "dense", "MoE", "MLA + MoE" */
    int n_layer;              /* num_hidden_layers (multi-token-prediction layers not included) */
    int d_model;              /* hidden_size */
    int n_vocab;              /* vocab_size */
    int d_ff;                 /* width of the dense feed-forward layers; 0 when every layer is MoE */
    int tied_embeddings;      /* 1: the output head is the input embedding */
    /* attention */
    char attention[8];        /* "GQA" (grouped-query; MHA/MQA are its edge cases) or "MLA" */
    int n_head;               /* query heads */
    int n_kv_head;            /* KV heads (GQA); MLA: 1, the shared latent */
    int d_head;               /* query/key width per head (MLA: qk_nope_head_dim + qk_rope_head_dim) */
    int d_v;                  /* value width per head */
    int q_lora_rank;          /* MLA: 0 = plain q_proj */
    int kv_lora_rank;         /* MLA */
    int d_rope;               /* rotated dims per head (MLA: qk_rope_head_dim) */
    int qk_norm;              /* 1: RMSNorm on q and k per head (Qwen3) */
    int attn_bias;            /* 1: q/k/v/o projections have biases */
    int sinks;                /* 1: one learned softmax sink logit per head */
    int sliding_window;       /* keys a sliding-window layer sees; 0 = none */
    int n_sliding_layers;     /* layers with the window */
    char sliding_layers[24];  /* which: "even", "odd", "all", or "N of M" */
    /* experts */
    int n_moe_layers;         /* layers with routed experts */
    int n_expert;             /* routed experts per MoE layer */
    int n_expert_used;        /* routed experts per token */
    int n_shared_expert;      /* always-on shared experts */
    int d_ff_expert;          /* width of one expert */
    char router[72];          /* scoring and selection, e.g. "softmax, top-8, renormalized" */
    /* parameters */
    int64_t n_params;         /* the main model's parameters (a tied table once; MTP excluded) */
    int64_t n_params_embedding; /* input embedding + output head (once when tied) */
    int64_t n_params_active;  /* used per token: all but the unchosen routed experts and the input
                                 embedding table (a lookup; counted when tied, being the head) */
    int64_t n_params_experts; /* routed experts, all of them */
    int64_t n_params_mtp;     /* multi-token-prediction layers (DeepSeek), as stored */
    char params_from[8];      /* "tensors" (counted from the checkpoint) or "config" (from hyper-parameters) */
    /* weights */
    uint64_t weight_bytes;    /* stored bytes of every tensor (from config: the released dtypes' size) */
    struct owl_dtype_bytes {
        char dtype[12];       /* "BF16", "F8_E4M3", "MXFP4", "Q4_K", ... */
        uint64_t bytes;
    } weight_dtypes[OWL_INFO_MAX_DTYPES]; /* largest first; the rest folded into the last */
    int n_weight_dtypes;
    char quantization[56];    /* "none", "MXFP4 experts", "FP8 e4m3, 128x128 block scales", "GGUF Q4_K", ... */
    /* KV cache as owl allocates it */
    char kv_dtype[8];         /* "f32" */
    uint64_t kv_bytes_per_token; /* all layers; equals owl_model_kv_bytes_per_token */
    uint64_t kv_bytes_context; /* at n_ctx tokens, in a session's default form (sliding-window layers at most
                                  4096 rows: owl_session_params.window_rows) */
    /* context */
    int n_ctx;                /* max_position_embeddings */
    char rope[8];             /* "default" or "yarn" */
    double rope_theta;
    double yarn_factor;       /* 0 without YaRN */
    int yarn_original_ctx;    /* original_max_position_embeddings */
    char context_extension[16]; /* where YaRN is applied: "pre-training", "inference" or "none" */
};

/* Describe the model at path (directory, .safetensors, .safetensors.index.json or .gguf as for
 * owl_model_open, or a config.json alone) without loading it: files are mapped and headers read, no weight
 * is touched. Counts and bytes come from the tensors when there are any (params_from "tensors"), else from
 * the config. Errors as owl_model_open's. */
enum owl_status owl_inspect(const char *path, struct owl_model_info *info, struct owl_error *err);

/* Released models built into owl (their config.json embedded): the name of the i-th (e.g. "Qwen3-8B"),
 * NULL past the last. */
const char *owl_released_name(int i);
/* Describe a released model from its built-in config alone (params_from "config"). An unknown name
 * (case-insensitive match) is OWL_ERR_INVALID_ARG. */
enum owl_status owl_inspect_released(const char *name, struct owl_model_info *info, struct owl_error *err);

/* ---- owl synth: random-weight checkpoints with a released model's real shapes ------------------------ */
enum owl_synth_format { OWL_SYNTH_SAFETENSORS, OWL_SYNTH_GGUF };
enum owl_synth_type { OWL_SYNTH_BF16, OWL_SYNTH_Q8_0 }; /* GGUF matrix type (MXFP4 experts stay MXFP4) */

struct owl_synth_params {
    const char *like;          /* a released name (owl_released_name, case-insensitive), or NULL ... */
    const char *config_path;   /* ... a config.json of a supported family to synthesize instead */
    const char *out;           /* safetensors: a directory; GGUF: a file */
    const char *tokenizer_dir; /* holds tokenizer.json [+ tokenizer_config.json, chat_template.jinja]; NULL:
                                * no tokenizer (any vocab_size; a GGUF then lacks tokenizer.ggml.*, which
                                * llama.cpp needs) */
    enum owl_synth_format format;
    enum owl_synth_type type;
    int n_layers;              /* > 0: this many layers instead of the config's */
    int n_mtp;                 /* >= 0: DeepSeek multi-token-prediction layers (default -1: the config's) */
    uint64_t seed;
    int force;                 /* overwrite an existing non-empty out */
    void (*progress)(uint64_t done, uint64_t total, void *user); /* bytes written so far; may be NULL */
    void *user;
};
struct owl_synth_params owl_synth_default_params(void);
/* Write the checkpoint: config.json (the release's, with num_hidden_layers and what depends on it
 * adjusted), the weights in their shipped dtypes (bf16; MXFP4 experts for gpt-oss; FP8 128x128 blocks for
 * DeepSeek-V3) with seeded random values, and the tokenizer files; or one GGUF file with llama.cpp's names,
 * keys and tokenizer metadata. The same seed gives the same values in both formats. Streams to disk;
 * refuses an existing non-empty out unless force; removes what it wrote on failure. */
enum owl_status owl_synth(const struct owl_synth_params *params, struct owl_error *err);

struct owl_session_params {
    int n_ctx;   /* KV cache capacity in tokens; <= 0: min(model's n_ctx_train, 4096) */
    int n_batch; /* most tokens per forward chunk; <= 0: 512. eval splits longer inputs */
    const char *kv; /* KV-cache values: "f32" (NULL: the default; exact) or "f16" (half the memory and the
                       bytes attention reads; keys and values rounded to IEEE half when stored, finite values
                       beyond +-65504 saturate). Anything else: OWL_ERR_INVALID_ARG */
    int window_rows; /* positions each sliding-window layer (GPT-OSS's, which read only the last `window` keys)
                        keeps where that is fewer than n_ctx: 0 (the default) 4096; any value is raised to at least
                        window + n_batch + 63 and rounded up to a multiple of 64; < 0: the whole context. The same
                        numbers either way; only a truncation further back than these rows still hold the window
                        for clears the session (owl_session_truncate) */
};
struct owl_session_params owl_session_default_params(void);

/* Allocate the KV cache and scratch for a session over model (borrowed; must outlive it).
 * Returns OWL_ERR_OUT_OF_MEMORY rather than aborting when the cache does not fit. */
enum owl_status owl_session_init(struct owl_model *model, const struct owl_session_params *params,
                                 struct owl_session **out, struct owl_error *err);
void owl_session_free(struct owl_session *session); /* NULL-safe */

/* Tokens already in the cache; the next token evaluated gets this position. */
int owl_session_n_past(const struct owl_session *session);
int owl_session_n_ctx(const struct owl_session *session);
/* KV-cache bytes this session holds per token (all layers; half of owl_model_kv_bytes_per_token with f16). */
size_t owl_session_kv_bytes_per_token(const struct owl_session *session);
/* Cache bytes one decode step reads when n_keys keys are visible (its own included): every layer's keys and
 * values, sliding-window layers (GPT-OSS) at most their window; the cache's share of the bandwidth bound. */
size_t owl_session_kv_read_bytes(const struct owl_session *session, int n_keys);

/* KV-cache bytes this session holds with n_pos positions filled (sliding-window layers at most their rows; 0 for
 * n_pos <= 0). */
size_t owl_session_kv_bytes(const struct owl_session *session, int n_pos);
/* Rows each sliding-window layer keeps (owl_session_params.window_rows), or 0 where they keep the whole context. */
int owl_session_window_rows(const struct owl_session *session);

/* Forget cached tokens from position n_keep on (0 clears the session). Returns the positions kept: n_keep (the
 * tokens evaluated so far, if fewer), or 0 where the sliding-window layers no longer hold the keys position n_keep
 * would read (more than about window_rows - window positions back): the session is cleared, and the caller
 * evaluates the tokens again. */
int owl_session_truncate(struct owl_session *session, int n_keep);
/* What owl_session_truncate(session, n_keep) would keep, without truncating. */
int owl_session_can_keep(const struct owl_session *session, int n_keep);

enum owl_logits_mode {
    OWL_LOGITS_NONE, /* only fill the cache */
    OWL_LOGITS_LAST, /* logits of the last token: n_vocab floats */
    OWL_LOGITS_ALL,  /* logits of every token: n_tokens x n_vocab floats, row-major */
};

/* Run n_tokens tokens at positions n_past .. n_past+n_tokens-1, appending them to the cache.
 * logits must hold what mode asks for. On error (bad token id, context full) the session is unchanged. */
enum owl_status owl_session_eval(struct owl_session *session, const int32_t *tokens, int n_tokens,
                                 enum owl_logits_mode mode, float *logits, struct owl_error *err);

/* One decode step of n sessions of one model in a single forward (continuous batching): session i
 * evaluates tokens[i] at its next position and gets that token's logits at logits + i * n_vocab. Every
 * session's cache and logits are bitwise those of owl_session_eval(sessions[i], &tokens[i], 1,
 * OWL_LOGITS_LAST, ...): the step runs in row-exact mode (each token's arithmetic is what it would be
 * alone), while the weights are read from memory once for all n. The sessions must be distinct and share
 * a model and an n_ctx; sessions[0]'s scratch is used, in groups of its n_batch. On error (a bad token id,
 * a full session, mismatched sessions) no session changes. */
enum owl_status owl_session_eval_batch(struct owl_session *const *sessions, const int32_t *tokens, int n,
                                       float *logits, struct owl_error *err);

/* ---- Text: the model's tokenizer and chat format ---------------------------------------------------- */

struct owl_tokenizer; /* tokenizer.json (+ tokenizer_config.json) and the chat format of a model directory */

/* Open the tokenizer of a model directory: DIR/tokenizer.json, DIR/tokenizer_config.json when present, and
 * DIR/config.json's model_type to choose the chat format (a directory without config.json still tokenizes;
 * owl_chat_render then fails with OWL_ERR_UNSUPPORTED). path may also name a file inside the directory. */
enum owl_status owl_tokenizer_open(const char *path, struct owl_tokenizer **out, struct owl_error *err);
void owl_tokenizer_free(struct owl_tokenizer *tok); /* NULL-safe */

/* Encode len bytes of UTF-8 into *ids (malloc'd, caller frees; *n_ids entries). Special tokens written in
 * the text are matched. add_bos: 1 prepend BOS, 0 never, -1 as tokenizer_config.json says. Not safe to call
 * concurrently on one tokenizer. Invalid UTF-8 is OWL_ERR_INVALID_ARG naming the byte offset. */
enum owl_status owl_tokenize(struct owl_tokenizer *tok, const char *text, size_t len, int add_bos, int32_t **ids,
                             size_t *n_ids, struct owl_error *err);
/* Decode ids into *text (malloc'd, NUL-terminated, *len bytes); invalid UTF-8 becomes U+FFFD. */
enum owl_status owl_detokenize(const struct owl_tokenizer *tok, const int32_t *ids, size_t n, int skip_special,
                               char **text, size_t *len, struct owl_error *err);
int32_t owl_token_id(const struct owl_tokenizer *tok, const char *text); /* -1 when absent */
int32_t owl_tokenizer_n_vocab(const struct owl_tokenizer *tok);
/* Ids that end a generated turn (EOS and the chat format's end-of-turn tokens), into ids (up to max);
 * returns how many. */
int owl_stop_tokens(const struct owl_tokenizer *tok, int32_t *ids, int max);

/* Streaming detokenizer: feed ids as they are generated; pieces never end inside a UTF-8 character. */
struct owl_detok;
enum owl_status owl_detok_new(const struct owl_tokenizer *tok, int skip_special, struct owl_detok **out,
                              struct owl_error *err);
/* *text (len bytes, valid until the next call) is what can be shown after id (possibly empty). */
enum owl_status owl_detok_feed(struct owl_detok *d, int32_t id, const char **text, size_t *len,
                               struct owl_error *err);
void owl_detok_flush(struct owl_detok *d, const char **text, size_t *len); /* leftovers at the end */
void owl_detok_free(struct owl_detok *d);                                    /* NULL-safe */

struct owl_chat_message {
    const char *role;      /* "system", "developer", "user", "assistant", "tool" */
    const char *content;   /* may be NULL */
    const char *reasoning; /* an earlier assistant turn's reasoning (reasoning_content); NULL when none */
};

struct owl_chat_options {
    int add_generation_prompt;    /* 1 for inference (default) */
    int thinking;                 /* -1 the template's default, 0 off, 1 on (Qwen3 enable_thinking, V3.1) */
    const char *reasoning_effort; /* gpt-oss: "low" | "medium" | "high"; NULL = medium */
    const char *date;             /* gpt-oss "Current date:" YYYY-MM-DD; NULL = today (UTC) */
};
struct owl_chat_options owl_chat_default_options(void);

/* Render a conversation into the exact prompt text the model's own chat template produces. *text is
 * malloc'd, NUL-terminated. Name of the format in use: owl_chat_format_name (NULL when none). */
enum owl_status owl_chat_render(const struct owl_tokenizer *tok, const struct owl_chat_message *msgs, int n,
                                const struct owl_chat_options *opt, char **text, size_t *len, struct owl_error *err);
const char *owl_chat_format_name(const struct owl_tokenizer *tok);

#ifdef __cplusplus
}
#endif
#endif
