/* rope.h — rotary position embedding parameters from config.json, with YaRN, as transformers computes
 * them (modeling_rope_utils.py: _compute_default_rope_parameters, _compute_yarn_parameters).
 *
 * Both config spellings are read: released files (top-level rope_theta + rope_scaling with `type` or
 * `rope_type`) and transformers v5 files (rope_parameters with rope_theta inside). YaRN is static, as in
 * transformers: once configured it applies at every position.
 */
#ifndef OWL_ROPE_H
#define OWL_ROPE_H

#include "format/kv.h"

enum rope_type { ROPE_TYPE_DEFAULT, ROPE_TYPE_YARN };

struct rope {
    enum rope_type type;
    int dim;                /* rotated dims per head (head_dim, or qk_rope_head_dim for DeepSeek) */
    double theta;           /* rope_theta */
    /* YaRN only: */
    double factor;          /* factor */
    int64_t orig_ctx;       /* original_max_position_embeddings (default max_position_embeddings) */
    double beta_fast;       /* default 32 */
    double beta_slow;       /* default 1 */
    bool truncate;          /* default true */
    double mscale;          /* 0 when absent */
    double mscale_all_dim;  /* 0 when absent */
    double attention_factor; /* given, or derived from mscale / factor (1 for default RoPE) */
    float *inv_freq;        /* (dim/2), owned */
};

/* Read the rope settings for rotary dimension dim. max_pos is max_position_embeddings.
 * Unknown rope types ("linear", "dynamic", "llama3", ...) are OWL_ERR_UNSUPPORTED naming the type. */
enum owl_status rope_init(struct rope *r, const struct kv_table *config, int dim, int64_t max_pos,
                          struct owl_error *err);
void rope_free(struct rope *r); /* NULL-safe */

/* cos/sin tables for positions pos0 .. pos0+n-1: (n, dim/2) each, times the attention factor.
 * Mirrors *RotaryEmbedding.forward: angle = float(p) * inv_freq in fp32. */
void rope_tables(const struct rope *r, int pos0, int n, float *cos, float *sin);

/* The YaRN mscale function: 1 if s <= 1 else 0.1*m*ln(s) + 1. */
double rope_yarn_mscale(double s, double m);

/* One-line description ("yarn factor 4 from 32768, attention factor 1.1386") into buf. */
void rope_describe(const struct rope *r, char *buf, size_t size);

#endif
