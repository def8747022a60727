/* sample.h — token selection from logits: greedy, or temperature with top-k / top-p / min-p, and a
 * seeded RNG so runs repeat. Depends only on base. */
#ifndef OWL_SAMPLE_H
#define OWL_SAMPLE_H

#include "base/base.h"

struct sampler_params {
    float temperature; /* <= 0: greedy (argmax, lowest id on ties) */
    int top_k;         /* <= 0: off */
    float top_p;       /* >= 1: off */
    float min_p;       /* <= 0: off */
    uint64_t seed;
};

struct sampler {
    struct sampler_params p;
    uint64_t state;    /* PCG-style 64-bit state */
    float *probs;      /* (n_vocab) owned */
    int32_t *idx;      /* (n_vocab) owned */
    int n_vocab;
};

enum owl_status sampler_init(struct sampler *s, const struct sampler_params *p, int n_vocab, struct owl_error *err);
void sampler_free(struct sampler *s); /* NULL-safe */

/* Pick a token from logits (n_vocab); logits are not modified. Sorts only the likeliest tokens the filters
 * need (none when no filter is on). */
int32_t sampler_pick(struct sampler *s, const float *logits);
/* The same picks (and RNG steps) with every token sorted: the plain reference sampler_pick is tested against. */
int32_t sampler_pick_ref(struct sampler *s, const float *logits);

/* Index of the largest value; the lowest index among equals; NaNs skipped (0 when all are). */
int32_t argmax_f32(const float *x, int n);

#endif
