/* sample.c — samplers (see sample.h). Filters apply in llama.cpp's and transformers' usual order:
 * temperature, top-k, top-p (nucleus over the sorted distribution), min-p, then one draw. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sample.h"

/* The loops over a vocabulary, compiled for AVX-512, AVX2 and plain x86-64 and chosen at load (the file is built
 * with -O3 -fno-trapping-math, so they vectorize; every clone computes the same numbers: no contraction in C11). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VOCAB_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VOCAB_LOOP
#endif

VOCAB_LOOP int32_t argmax_f32(const float *x, int n)
{
    /* the largest value first (16 running maxima; NaNs never compare larger), then its first index */
    float lane[16];
    for (int j = 0; j < 16; j++)
        lane[j] = -INFINITY;
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    for (; i < n; i++)
        lane[0] = x[i] > lane[0] ? x[i] : lane[0];
    float m = lane[0];
    for (int j = 1; j < 16; j++)
        m = lane[j] > m ? lane[j] : m;
    for (i = 0; i < n; i++)
        if (x[i] == m)
            return i;
    return 0; /* NaNs only */
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

/* Whether token a comes before token b in the order (likelier first, then the lower id). */
static bool before(const float *p, int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); }

/* qsort_r's comparator of that order. */
static int by_prob_desc(const void *a, const void *b, void *probs)
{
    const int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    return ia == ib ? 0 : before(probs, ia, ib) ? -1 : 1;
}

/* The filters that are on. */
static bool uses_top_k(const struct sampler *s) { return s->p.top_k > 0 && s->p.top_k < s->n_vocab; }
static bool uses_top_p(const struct sampler *s) { return s->p.top_p > 0.0f && s->p.top_p < 1.0f; }
static bool uses_min_p(const struct sampler *s) { return s->p.min_p > 0.0f; }

/* exp(x) for x <= 0 as 2^n q(r), x = n ln2 + r with |r| <= ln2/2 and q a degree-7 Taylor polynomial (relative
 * error below 2e-7, about one ulp of expf); 0 below -87, where 2^n would leave the normal floats. Plain
 * arithmetic, so the loops over a vocabulary vectorize (expf calls took 0.7 ms per 151936 logits). */
static inline float exp_nonpositive(float x)
{
    const float xc = x < -87.0f ? -87.0f : x;
    const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* nearest integer */
    float r = xc - n * 0.693145751953125f;
    r = r - n * 1.428606765330187e-06f;
    float q = 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    q = q * r + 1.0f;
    q = q * r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : q * scale;
}

/* p_i = exp((l_i - max) / T) for every token (the top one exactly 1) into s->probs, and their sum in index order
 * (8 running sums of every 8th token, added pairwise): the definition both pickers share. */
VOCAB_LOOP static double sampler_probs(struct sampler *s, const float *logits)
{
    const int n = s->n_vocab;
    const float m = logits[argmax_f32(logits, n)], t = s->p.temperature;
    float *p = s->probs;
    for (int i = 0; i < n; i++) /* divided, not multiplied by 1 / t: a tiny t would give 0 * inf at the top */
        p[i] = exp_nonpositive((logits[i] - m) / t);
    double lane[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            lane[j] += p[i + j];
    for (; i < n; i++)
        lane[i & 7] += p[i];
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

static double sum_sorted(const float *p, const int32_t *sorted, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += p[sorted[i]];
    return total;
}

enum { NEED_MORE = -1 };

/* The filters and the draw u in [0, 1) over sorted[0, c): the first c tokens by probability (ties by id), all of
 * them when c == n. top-k keeps the k most likely; top-p the shortest prefix of those whose share of their mass
 * reaches p; min-p those of the prefix at least min-p times the top one; then one draw over what is kept, in
 * that order (in token order when nothing was dropped). Sums over all tokens are total_all (sampler_probs), over a
 * prefix in its order. NEED_MORE when the answer needs more of the order than the c tokens given. */
static int32_t pick_sorted(const struct sampler *s, const int32_t *sorted, int c, double total_all, double u)
{
    const int n = s->n_vocab;
    const float *p = s->probs;
    const bool top_k = uses_top_k(s);
    int keep = top_k ? s->p.top_k : n;
    if (top_k && keep > c)
        return NEED_MORE;
    double total = top_k ? sum_sorted(p, sorted, keep) : total_all;
    if (uses_top_p(s)) {
        double cum = 0;
        for (int i = 0; i < keep; i++) {
            if (i >= c)
                return NEED_MORE;
            cum += p[sorted[i]] / total;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (uses_min_p(s)) {
        if (c < 1)
            return NEED_MORE;
        const float floor_p = s->p.min_p * p[sorted[0]];
        int i = 1;
        for (; i < keep; i++) {
            if (i >= c)
                return NEED_MORE;
            if (!(p[sorted[i]] >= floor_p))
                break;
        }
        keep = i;
    }
    if (keep == n) { /* nothing dropped: the draw walks the tokens in order, no sorting needed */
        double r = u * total_all;
        int last = 0;
        for (int i = 0; i < n; i++) {
            if (p[i] > 0)
                last = i;
            r -= p[i];
            if (r < 0)
                return i;
        }
        return last; /* r at the sum's rounding */
    }
    if (keep > c)
        return NEED_MORE;
    double r = u * sum_sorted(p, sorted, keep);
    for (int i = 0; i < keep; i++) {
        r -= p[sorted[i]];
        if (r < 0)
            return sorted[i];
    }
    return sorted[keep - 1];
}

/* The pick with every token sorted. */
static int32_t pick_all(struct sampler *s, double total_all, double u)
{
    const int n = s->n_vocab;
    for (int i = 0; i < n; i++)
        s->idx[i] = i;
    qsort_r(s->idx, (size_t)n, sizeof *s->idx, by_prob_desc, s->probs);
    return pick_sorted(s, s->idx, n, total_all, u);
}

/* The plain picker. */
int32_t sampler_pick_ref(struct sampler *s, const float *logits)
{
    if (s->p.temperature <= 0.0f)
        return argmax_f32(logits, s->n_vocab);
    const double total_all = sampler_probs(s, logits), u = next_uniform(s);
    return pick_all(s, total_all, u);
}

/* Rearranges x[0, n) so that its first k are the k first in the order (in no order themselves): quickselect. */
static void select_first(int32_t *x, int n, int k, const float *p)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        int32_t t = x[mid];
        x[mid] = x[hi];
        x[hi] = t;
        const int32_t pivot = x[hi];
        int store = lo;
        for (int i = lo; i < hi; i++)
            if (before(p, x[i], pivot)) {
                t = x[i];
                x[i] = x[store];
                x[store++] = t;
            }
        x[hi] = x[store];
        x[store] = pivot;
        if (store == k - 1)
            return;
        if (store < k - 1)
            lo = store + 1;
        else
            hi = store - 1;
    }
}

/* The same picks, sorting only the tokens at or above a threshold (1/1024 of the top one, then 2^-20, ... 2^-150
 * and 0) until the filters' answer lies within them: the ones below a threshold come after every one
 * above it in the order, so the sorted candidates are the order's first c tokens; with top-k, only the k first of
 * those (quickselect), all the filters can keep. Nothing to drop: no sorting. */
int32_t sampler_pick(struct sampler *s, const float *logits)
{
    const int n = s->n_vocab;
    if (s->p.temperature <= 0.0f)
        return argmax_f32(logits, n);
    const double total_all = sampler_probs(s, logits), u = next_uniform(s);
    const bool top_k = uses_top_k(s);
    if (!top_k && !uses_top_p(s) && !uses_min_p(s)) /* nothing to drop */
        return pick_sorted(s, s->idx, 0, total_all, u);
    for (int e = 10; e <= 160; e += 10) {
        const float t = e <= 150 ? ldexpf(1.0f, -e) : 0.0f; /* at last every token (NaNs aside) */
        int c = 0;
        for (int i = 0; i < n; i++)
            if (s->probs[i] >= t)
                s->idx[c++] = i;
        if (top_k) { /* the k first are all the filters can keep */
            if (c < s->p.top_k)
                continue;
            select_first(s->idx, c, s->p.top_k, s->probs);
            c = s->p.top_k;
        } else if (c == n) {
            break;
        }
        qsort_r(s->idx, (size_t)c, sizeof *s->idx, by_prob_desc, s->probs);
        const int32_t pick = pick_sorted(s, s->idx, c, total_all, u);
        if (pick != NEED_MORE)
            return pick;
    }
    return pick_all(s, total_all, u);
}
