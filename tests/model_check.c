/* model_check.c — see model_check.h. Started as test_qwen3.c's checks, shared by every family's test. */
#include "model_check.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "model/model.h"
#include "model/rope.h"
#include "test_util.h"

struct reference {
    int32_t *tokens; /* prompt + greedy */
    int n_prompt, n_gen, n_vocab;
    float *logits;   /* (n_prompt + n_gen, n_vocab) */
    double max_abs;
    json_t *json;
};

static int32_t *json_ids(json_t *arr, int *n)
{
    *n = (int)json_array_size(arr);
    int32_t *ids = calloc((size_t)*n + 1, sizeof *ids);
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
    return ids;
}

static bool load_reference(const char *name, struct reference *r)
{
    char path[512];
    snprintf(path, sizeof path, "%s/reference.json", name);
    json_error_t jerr;
    r->json = json_load_file(fixture_path(path), 0, &jerr);
    if (!r->json) {
        fprintf(stderr, "%s: %s\n", path, jerr.text);
        return false;
    }
    int np, ng;
    int32_t *prompt = json_ids(json_object_get(r->json, "prompt"), &np);
    int32_t *greedy = json_ids(json_object_get(r->json, "greedy"), &ng);
    r->n_prompt = np;
    r->n_gen = ng;
    r->n_vocab = (int)json_integer_value(json_object_get(r->json, "n_vocab"));
    r->tokens = calloc((size_t)(np + ng), sizeof *r->tokens);
    memcpy(r->tokens, prompt, (size_t)np * sizeof *prompt);
    memcpy(r->tokens + np, greedy, (size_t)ng * sizeof *greedy);
    free(prompt);
    free(greedy);
    snprintf(path, sizeof path, "%s/logits.f32", name);
    size_t size;
    r->logits = read_file(fixture_path(path), &size);
    if (!r->logits || size != (size_t)(np + ng) * r->n_vocab * sizeof(float)) {
        fprintf(stderr, "%s: size %zu, expected %zu\n", path, size, (size_t)(np + ng) * r->n_vocab * sizeof(float));
        return false;
    }
    r->max_abs = 0;
    for (size_t i = 0; i < (size_t)(np + ng) * r->n_vocab; i++)
        r->max_abs = fmax(r->max_abs, fabs(r->logits[i]));
    return true;
}

static void free_reference(struct reference *r)
{
    free(r->tokens);
    free(r->logits);
    json_decref(r->json);
}

/* max |a - b| over n floats */
static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static struct owl_session *new_session(struct owl_model *m, int n_ctx, int n_batch)
{
    struct owl_session_params sp = owl_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    struct owl_session *s = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_session_init(m, &sp, &s, &err), &err);
    return s;
}

double model_check_case(const char *name)
{
    struct reference r = {0};
    CHECK_MSG(load_reference(name, &r), "%s: reference", name);
    if (!r.tokens)
        return -1;
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    struct owl_model_params mp = owl_model_default_params();
    CHECK_OK(owl_model_open(fixture_path(name), &mp, &m, &err), &err);
    if (!m) {
        free_reference(&r);
        return -1;
    }
    const int n = r.n_prompt + r.n_gen, V = r.n_vocab;
    const double tol = 1e-3 * r.max_abs;
    CHECK(owl_model_n_vocab(m) == V);

    /* (1) one batched forward over prompt + greedy */
    float *all = calloc((size_t)n * V, sizeof(float)), *row = calloc((size_t)V, sizeof(float));
    struct owl_session *s = new_session(m, 64, 0);
    CHECK_OK(owl_session_eval(s, r.tokens, n, OWL_LOGITS_ALL, all, &err), &err);
    double d = max_diff(all, r.logits, (size_t)n * V);
    CHECK_MSG(d <= tol, "%s: logits differ by %g > %g", name, d, tol);

    /* (2) greedy generation from the prompt */
    owl_session_truncate(s, 0);
    CHECK(owl_session_n_past(s) == 0);
    CHECK_OK(owl_session_eval(s, r.tokens, r.n_prompt, OWL_LOGITS_LAST, row, &err), &err);
    json_t *margins = json_object_get(r.json, "margins");
    for (int i = 0; i < r.n_gen; i++) {
        int32_t best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best])
                best = v;
        double margin = json_real_value(json_array_get(margins, (size_t)i));
        CHECK_MSG(best == r.tokens[r.n_prompt + i] || margin < tol, "%s: greedy step %d: owl %d, reference %d",
                  name, i, best, r.tokens[r.n_prompt + i]);
        /* continue on the reference's token so later steps stay comparable */
        int32_t next = r.tokens[r.n_prompt + i];
        if (i + 1 < r.n_gen)
            CHECK_OK(owl_session_eval(s, &next, 1, OWL_LOGITS_LAST, row, &err), &err);
    }

    /* (3) token-by-token decoding and small prefill chunks equal the batched prefill */
    struct owl_session *s1 = new_session(m, 64, 1), *s3 = new_session(m, 64, 3);
    float *chunked = calloc((size_t)n * V, sizeof(float));
    double d_tok = 0;
    for (int t = 0; t < n; t++) {
        CHECK_OK(owl_session_eval(s1, &r.tokens[t], 1, OWL_LOGITS_LAST, row, &err), &err);
        d_tok = fmax(d_tok, max_diff(row, all + (size_t)t * V, (size_t)V));
    }
    CHECK_OK(owl_session_eval(s3, r.tokens, n, OWL_LOGITS_ALL, chunked, &err), &err);
    double d_chunk = max_diff(chunked, all, (size_t)n * V);
    printf("%-34s max|ref| %.3f  max|owl - ref| %.3g (tolerance %.3g); vs prefill: decode %.3g, chunks of 3 %.3g\n",
           name, r.max_abs, d, tol, d_tok, d_chunk);
    CHECK_MSG(d_tok <= 1e-5 * r.max_abs, "%s: token-by-token differs from prefill by %g", name, d_tok);
    CHECK_MSG(d_chunk <= 1e-5 * r.max_abs, "%s: chunked prefill differs by %g", name, d_chunk);

    /* (4) cache reuse across calls: prompt in two calls, then truncate and re-run the tail */
    owl_session_truncate(s3, 0);
    const int half = r.n_prompt / 2;
    CHECK_OK(owl_session_eval(s3, r.tokens, half, OWL_LOGITS_NONE, NULL, &err), &err);
    CHECK_OK(owl_session_eval(s3, r.tokens + half, n - half, OWL_LOGITS_ALL, chunked, &err), &err);
    CHECK(max_diff(chunked, all + (size_t)half * V, (size_t)(n - half) * V) <= 1e-5 * r.max_abs);
    owl_session_truncate(s3, half);
    CHECK(owl_session_n_past(s3) == half);
    CHECK_OK(owl_session_eval(s3, r.tokens + half, 1, OWL_LOGITS_LAST, row, &err), &err);
    CHECK(max_diff(row, all + (size_t)half * V, (size_t)V) <= 1e-5 * r.max_abs);

    /* bad input leaves the session unchanged */
    int32_t bad = V;
    int before = owl_session_n_past(s3);
    CHECK(owl_session_eval(s3, &bad, 1, OWL_LOGITS_LAST, row, &err) == OWL_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "out of range") != NULL);
    int32_t *many = calloc(100, sizeof *many);
    CHECK(owl_session_eval(s3, many, 100, OWL_LOGITS_LAST, row, &err) == OWL_ERR_CONTEXT_FULL);
    CHECK(owl_session_n_past(s3) == before);
    free(many);

    owl_session_free(s1);
    owl_session_free(s3);
    owl_session_free(s);
    owl_model_close(m);
    free(all);
    free(row);
    free(chunked);
    free_reference(&r);
    return d;
}

float *model_check_logits(const char *name, size_t *n_values)
{
    struct reference r = {0};
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    float *all = NULL;
    *n_values = 0;
    CHECK_MSG(load_reference(name, &r), "%s: reference", name);
    if (r.tokens)
        CHECK_OK(owl_model_open(fixture_path(name), NULL, &m, &err), &err);
    struct owl_session *s = m ? new_session(m, 64, 0) : NULL;
    if (s) {
        const size_t n = (size_t)(r.n_prompt + r.n_gen) * r.n_vocab;
        all = calloc(n, sizeof(float));
        const enum owl_status st = owl_session_eval(s, r.tokens, r.n_prompt + r.n_gen, OWL_LOGITS_ALL, all, &err);
        CHECK_OK(st, &err);
        if (st) {
            free(all);
            all = NULL;
        } else {
            *n_values = n;
        }
    }
    owl_session_free(s);
    owl_model_close(m);
    free_reference(&r);
    return all;
}

void model_check_rope(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", name);
    size_t size;
    char *text = read_file(fixture_path(path), &size);
    snprintf(path, sizeof path, "%s/reference.json", name);
    json_t *ref = json_load_file(fixture_path(path), 0, NULL);
    CHECK(text && ref);
    if (!text || !ref)
        return;
    struct kv_table kv = {0};
    struct owl_error err = {0};
    CHECK_OK(kv_from_json(&kv, text, size, name, &err), &err);
    int64_t d_head = 0, max_pos = 0;
    CHECK_OK(kv_get_int(&kv, kv_has(&kv, "qk_rope_head_dim") ? "qk_rope_head_dim" : "head_dim", &d_head, &err), &err);
    CHECK_OK(kv_get_int(&kv, "max_position_embeddings", &max_pos, &err), &err);
    struct rope rope;
    CHECK_OK(rope_init(&rope, &kv, (int)d_head, max_pos, &err), &err);
    json_t *jr = json_object_get(ref, "rope"), *inv = json_object_get(jr, "inv_freq");
    CHECK((size_t)d_head / 2 == json_array_size(inv));
    double worst = 0;
    for (size_t i = 0; i < json_array_size(inv) && rope.inv_freq; i++) {
        double want = json_real_value(json_array_get(inv, i));
        worst = fmax(worst, fabs(rope.inv_freq[i] - want) / want);
    }
    double scaling = json_real_value(json_object_get(jr, "attention_scaling"));
    CHECK_MSG(worst <= 1e-6, "%s: inv_freq relative error %g", name, worst);
    CHECK_MSG(fabs(rope.attention_factor - scaling) <= 1e-12, "%s: attention factor %.17g, transformers %.17g", name,
              rope.attention_factor, scaling);
    const char *type = json_string_value(json_object_get(jr, "type"));
    CHECK(!type || (rope.type == ROPE_TYPE_YARN) == (strcmp(type, "yarn") == 0)); /* DeepSeek's refs omit it */
    rope_free(&rope);
    kv_table_free(&kv);
    json_decref(ref);
    free(text);
}

void model_check_meta(const char *dir, const char *family, size_t decode_bytes, const char *describe_has)
{
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(fixture_path(dir), NULL, &m, &err), &err);
    if (!m)
        return;
    CHECK_MSG(strcmp(owl_model_family(m), family) == 0, "%s: family %s, expected %s", dir, owl_model_family(m),
              family);
    CHECK_MSG(owl_model_decode_bytes(m) == decode_bytes, "%s: decode_bytes %zu, expected %zu", dir,
              owl_model_decode_bytes(m), decode_bytes);
    char desc[1024];
    owl_model_describe(m, desc, sizeof desc);
    CHECK_MSG(strstr(desc, describe_has) != NULL, "%s: description lacks '%s':\n%s", dir, describe_has, desc);
    owl_model_close(m);
}

float *model_logits(const char *path, const struct owl_model_params *params, const int32_t *tokens, int n,
                    int *n_vocab)
{
    struct owl_model *m = NULL;
    struct owl_session *s = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(path, params, &m, &err), &err);
    if (!m)
        return NULL;
    CHECK_OK(owl_session_init(m, NULL, &s, &err), &err);
    *n_vocab = owl_model_n_vocab(m);
    float *out = s ? calloc((size_t)n * *n_vocab, sizeof(float)) : NULL;
    if (out && owl_session_eval(s, tokens, n, OWL_LOGITS_ALL, out, &err) != OWL_OK) {
        CHECK_MSG(0, "%s: %s", path, err.message);
        free(out);
        out = NULL;
    }
    owl_session_free(s);
    owl_model_close(m);
    return out;
}

double mean_kl(const float *p, const float *q, int rows, int n_vocab)
{
    double total = 0;
    for (int r = 0; r < rows; r++) {
        const float *a = p + (size_t)r * n_vocab, *b = q + (size_t)r * n_vocab;
        double ma = a[0], mb = b[0], za = 0, zb = 0;
        for (int v = 1; v < n_vocab; v++)
            ma = fmax(ma, a[v]), mb = fmax(mb, b[v]);
        for (int v = 0; v < n_vocab; v++)
            za += exp(a[v] - ma), zb += exp(b[v] - mb);
        for (int v = 0; v < n_vocab; v++) {
            const double la = a[v] - ma - log(za), lb = b[v] - mb - log(zb);
            total += exp(la) * (la - lb);
        }
    }
    return total / rows;
}
