/* rope.c — RoPE / YaRN parameters (see rope.h). Mirrors transformers 5.17 modeling_rope_utils.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/rope.h"

double rope_yarn_mscale(double s, double m) { return s <= 1.0 ? 1.0 : 0.1 * m * log(s) + 1.0; }

/* Read a float field "<prefix><name>" if present. */
static enum owl_status get_f(const struct kv_table *kv, const char *prefix, const char *name, double *out,
                             struct owl_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    return kv_get_float_opt(kv, key, out, err);
}

/* corr_dim(r) = dim * ln(L / (r * 2π)) / (2 ln base)  (find_correction_dim) */
static double corr_dim(double rot, int dim, double base, double orig_ctx)
{
    return (double)dim * log(orig_ctx / (rot * 2.0 * M_PI)) / (2.0 * log(base));
}

enum owl_status rope_init(struct rope *r, const struct kv_table *kv, int dim, int64_t max_pos,
                          struct owl_error *err)
{
    memset(r, 0, sizeof *r);
    r->dim = dim;
    r->theta = 10000.0;
    r->attention_factor = 1.0;
    if (dim <= 0 || dim % 2)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: rotary dimension %d must be even and positive", kv->source, dim);

    /* v5 spelling: rope_parameters.{rope_type, rope_theta, ...}; released: rope_theta + rope_scaling. */
    const char *prefix = "rope_scaling.";
    enum owl_status st;
    if (kv_has(kv, "rope_parameters.rope_type") || kv_has(kv, "rope_parameters.type") ||
        kv_has(kv, "rope_parameters.rope_theta"))
        prefix = "rope_parameters.";
    if ((st = kv_get_float_opt(kv, "rope_theta", &r->theta, err)) ||
        (st = get_f(kv, prefix, "rope_theta", &r->theta, err)))
        return st;
    if (!(r->theta > 1.0))
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field 'rope_theta' = %g, expected > 1", kv->source, r->theta);

    const char *type = NULL;
    char key[128];
    snprintf(key, sizeof key, "%srope_type", prefix);
    if ((st = kv_get_str_opt(kv, key, &type, err)))
        return st;
    if (!type) {
        snprintf(key, sizeof key, "%stype", prefix);
        if ((st = kv_get_str_opt(kv, key, &type, err)))
            return st;
    }
    r->inv_freq = xcalloc((size_t)dim / 2, sizeof(float));
    if (!type || strcmp(type, "default") == 0) {
        r->type = ROPE_TYPE_DEFAULT;
        for (int i = 0; i < dim / 2; i++) /* 1 / base^(2i/dim), fp32 result */
            r->inv_freq[i] = 1.0f / (float)pow(r->theta, (double)(float)(2 * i) / (double)dim);
        return OWL_OK;
    }
    if (strcmp(type, "yarn") != 0) {
        rope_free(r);
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: field '%s' = '%s' is not supported (owl runs default and yarn)",
                    kv->source, key, type);
    }

    r->type = ROPE_TYPE_YARN;
    r->factor = 0.0;
    r->beta_fast = 32.0;
    r->beta_slow = 1.0;
    r->truncate = true;
    double orig = (double)max_pos, attn = 0.0;
    snprintf(key, sizeof key, "%struncate", prefix);
    if ((st = get_f(kv, prefix, "factor", &r->factor, err)) ||
        (st = get_f(kv, prefix, "original_max_position_embeddings", &orig, err)) ||
        (st = get_f(kv, prefix, "beta_fast", &r->beta_fast, err)) ||
        (st = get_f(kv, prefix, "beta_slow", &r->beta_slow, err)) ||
        (st = get_f(kv, prefix, "mscale", &r->mscale, err)) ||
        (st = get_f(kv, prefix, "mscale_all_dim", &r->mscale_all_dim, err)) ||
        (st = get_f(kv, prefix, "attention_factor", &attn, err)) ||
        (st = kv_get_bool_opt(kv, key, &r->truncate, err))) {
        rope_free(r);
        return st;
    }
    if (!(r->factor >= 1.0) || !(orig >= 1.0) || !(r->beta_fast > 0) || !(r->beta_slow > 0)) {
        rope_free(r);
        return fail(err, OWL_ERR_BAD_CONFIG,
                    "%s: yarn needs %sfactor >= 1 (got %g), original_max_position_embeddings >= 1 (got %g), "
                    "beta_fast, beta_slow > 0 (got %g, %g)",
                    kv->source, prefix, r->factor, orig, r->beta_fast, r->beta_slow);
    }
    r->orig_ctx = (int64_t)orig;

    /* attention factor: given; else mscale(s, mscale) / mscale(s, mscale_all_dim) when both are set;
     * else mscale(s, 1). */
    if (attn > 0.0)
        r->attention_factor = attn;
    else if (r->mscale != 0.0 && r->mscale_all_dim != 0.0)
        r->attention_factor = rope_yarn_mscale(r->factor, r->mscale) / rope_yarn_mscale(r->factor, r->mscale_all_dim);
    else
        r->attention_factor = rope_yarn_mscale(r->factor, 1.0);

    double low = corr_dim(r->beta_fast, dim, r->theta, orig);
    double high = corr_dim(r->beta_slow, dim, r->theta, orig);
    if (r->truncate) {
        low = floor(low);
        high = ceil(high);
    }
    if (low < 0)
        low = 0;
    if (high > dim - 1)
        high = dim - 1;
    if (low == high)
        high += 0.001;
    const float f_low = (float)low, f_range = (float)(high - low), f_factor = (float)r->factor;
    for (int i = 0; i < dim / 2; i++) {
        const float pos_freq = (float)pow(r->theta, (double)(float)(2 * i) / (double)dim);
        const float extra = 1.0f / pos_freq, inter = 1.0f / (f_factor * pos_freq);
        float ramp = ((float)i - f_low) / f_range;
        ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
        const float extra_factor = 1.0f - ramp;
        r->inv_freq[i] = inter * (1.0f - extra_factor) + extra * extra_factor;
    }
    return OWL_OK;
}

void rope_free(struct rope *r)
{
    if (!r)
        return;
    free(r->inv_freq);
    r->inv_freq = NULL;
}

void rope_tables(const struct rope *r, int pos0, int n, float *cos, float *sin)
{
    const int half = r->dim / 2;
    const float scale = (float)r->attention_factor;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < half; i++) {
            const float angle = (float)(pos0 + t) * r->inv_freq[i];
            cos[(size_t)t * half + i] = cosf(angle) * scale;
            sin[(size_t)t * half + i] = sinf(angle) * scale;
        }
}

void rope_describe(const struct rope *r, char *buf, size_t size)
{
    if (r->type == ROPE_TYPE_DEFAULT)
        snprintf(buf, size, "rope theta %g, dim %d", r->theta, r->dim);
    else
        snprintf(buf, size, "rope theta %g, dim %d, yarn factor %g from %lld (beta_fast %g, beta_slow %g%s), "
                 "attention factor %.6g", r->theta, r->dim, r->factor, (long long)r->orig_ctx, r->beta_fast,
                 r->beta_slow, r->truncate ? "" : ", no truncate", r->attention_factor);
}
