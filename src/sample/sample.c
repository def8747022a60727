/* sample.c — samplers (see sample.h). Filters apply in llama.cpp's and transformers' usual order:
 * temperature, top-k, top-p (nucleus over the sorted distribution), min-p, then one draw. */
#include <math.h>
#include <stdlib.h>

#include "sample/sample.h"

int32_t argmax_f32(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

enum owl_status sampler_init(struct sampler *s, const struct sampler_params *p, int n_vocab, struct owl_error *err)
{
    if (n_vocab <= 0)
        return fail(err, OWL_ERR_INVALID_ARG, "sampler: n_vocab %d", n_vocab);
    s->p = *p;
    s->n_vocab = n_vocab;
    s->state = p->seed * 6364136223846793005ull + 1442695040888963407ull;
    s->probs = big_alloc((size_t)n_vocab * sizeof(float));
    s->idx = big_alloc((size_t)n_vocab * sizeof(int32_t));
    if (!s->probs || !s->idx) {
        sampler_free(s);
        return fail(err, OWL_ERR_OUT_OF_MEMORY, "sampler: %d-entry buffers", n_vocab);
    }
    return OWL_OK;
}

void sampler_free(struct sampler *s)
{
    if (!s)
        return;
    big_free(s->probs);
    big_free(s->idx);
    s->probs = NULL;
    s->idx = NULL;
}

/* Uniform in [0, 1) from a 64-bit LCG's high bits (PCG output permutation). */
static double next_uniform(struct sampler *s)
{
    uint64_t x = s->state;
    s->state = x * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t xorshifted = (uint32_t)(((x >> 18u) ^ x) >> 27u), rot = (uint32_t)(x >> 59u);
    uint32_t r = (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
    return r / 4294967296.0;
}

static int by_prob_desc(const void *a, const void *b, void *probs)
{
    const float *p = probs;
    float pa = p[*(const int32_t *)a], pb = p[*(const int32_t *)b];
    if (pa != pb)
        return pa < pb ? 1 : -1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

int32_t sampler_pick(struct sampler *s, const float *logits)
{
    const int n = s->n_vocab;
    if (s->p.temperature <= 0.0f)
        return argmax_f32(logits, n);
    const float m = logits[argmax_f32(logits, n)];
    for (int i = 0; i < n; i++) {
        s->probs[i] = expf((logits[i] - m) / s->p.temperature);
        s->idx[i] = i;
    }
    qsort_r(s->idx, (size_t)n, sizeof *s->idx, by_prob_desc, s->probs);
    int keep = n;
    if (s->p.top_k > 0 && s->p.top_k < keep)
        keep = s->p.top_k;
    double total = 0;
    for (int i = 0; i < keep; i++)
        total += s->probs[s->idx[i]];
    if (s->p.top_p > 0.0f && s->p.top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < keep; i++) {
            cum += s->probs[s->idx[i]] / total;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0.0f) {
        const float floor_p = s->p.min_p * s->probs[s->idx[0]];
        int i = 1;
        while (i < keep && s->probs[s->idx[i]] >= floor_p)
            i++;
        keep = i;
    }
    total = 0;
    for (int i = 0; i < keep; i++)
        total += s->probs[s->idx[i]];
    double r = next_uniform(s) * total;
    for (int i = 0; i < keep; i++) {
        r -= s->probs[s->idx[i]];
        if (r < 0)
            return s->idx[i];
    }
    return s->idx[keep - 1];
}
