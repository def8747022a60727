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
/* KV-cache bytes the session allocates per token (all layers). */
size_t owl_model_kv_bytes_per_token(const struct owl_model *model);
/* Kernel variant in use ("avx512" or "ref") and the thread count. */
const char *owl_kernels_isa(void);
int owl_model_n_threads(const struct owl_model *model);

/* Multi-line human-readable summary of the hyper-parameters into buf (always NUL-terminated). */
void owl_model_describe(const struct owl_model *model, char *buf, size_t size);

struct owl_session_params {
    int n_ctx;   /* KV cache capacity in tokens; <= 0: min(model's n_ctx_train, 4096) */
    int n_batch; /* most tokens per forward chunk; <= 0: 256. eval splits longer inputs */
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

/* Forget cached tokens from position n_keep on (0 clears the session). */
void owl_session_truncate(struct owl_session *session, int n_keep);

enum owl_logits_mode {
    OWL_LOGITS_NONE, /* only fill the cache */
    OWL_LOGITS_LAST, /* logits of the last token: n_vocab floats */
    OWL_LOGITS_ALL,  /* logits of every token: n_tokens x n_vocab floats, row-major */
};

/* Run n_tokens tokens at positions n_past .. n_past+n_tokens-1, appending them to the cache.
 * logits must hold what mode asks for. On error (bad token id, context full) the session is unchanged. */
enum owl_status owl_session_eval(struct owl_session *session, const int32_t *tokens, int n_tokens,
                                 enum owl_logits_mode mode, float *logits, struct owl_error *err);

#ifdef __cplusplus
}
#endif
#endif
