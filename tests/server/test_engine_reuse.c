/* test_engine_reuse.c — `owl serve`'s slot cache reuse (engine.c: slot_reuse) where GPT-OSS's sliding-window
 * layers keep only their recent rows (engine_params.window_rows): on the released-layout gpt-oss fixture (window 4
 * on 2 of its 4 layers) with the fewest rows (128), one slot, greedy completions of token prompts:
 * - a prompt sharing a long prefix with the previous one (its window's rows still held) reuses the prefix
 *   (prompt_tokens_cached grows by it, in whole prefill chunks) and replies exactly what a fresh engine replies;
 * - a prompt sharing a prefix whose window's rows were overwritten cannot keep it: nothing is reused, the slot is
 *   cleared and evaluated again, and the reply is again a fresh engine's.
 * Replies are compared as their text (gptoss tokenizer from the test data; SKIP without it, failing under CI). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/engine.h"
#include "test_util.h"

enum { N_CTX = 600, N_BATCH = 8, N_GEN = 8 };

static int32_t tok(int i, int salt) { return (int32_t)((i * 37 + 11 + salt * 101) % 250); }

struct rig {
    struct owl_model *model;
    struct owl_tokenizer *tok;
    struct api_model_info mi;
};

static struct engine *start(struct rig *r)
{
    const struct engine_params p = {.model = r->model, .tokenizer = r->tok, .mi = &r->mi, .n_parallel = 1,
                                    .n_queue = 4, .n_ctx = N_CTX, .n_batch = N_BATCH, .window_rows = 1};
    struct engine *e = NULL;
    struct owl_error err = {0};
    CHECK_OK(engine_start(&p, &e, &err), &err);
    return e;
}

/* The greedy completion text of prompt (n tokens: the first n_shared from salt 0, the rest from salt), or NULL. */
static char *complete(struct engine *e, int n, int n_shared, int salt)
{
    struct job *job = calloc(1, sizeof *job);
    job->req = (struct gen_request){.kind = API_COMPLETION, .model = strdup("m"), .prompt = strdup(""),
                                    .max_tokens = N_GEN, .ignore_eos = true};
    job->req.sp.temperature = 0;
    job->prompt = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++)
        job->prompt[i] = tok(i, i < n_shared ? 0 : salt);
    job->n_prompt = n;
    snprintf(job->id, sizeof job->id, "cmpl-test");
    if (!engine_submit(e, job)) {
        job_free(job);
        CHECK_MSG(0, "engine_submit refused the job");
        return NULL;
    }
    bool done = false;
    for (int i = 0; i < 600 && !done; i++) /* (a wait returns at any output; 60 s in all) */
        done = engine_wait(e, job, 100);
    CHECK(done);
    char *text = NULL;
    json_error_t je;
    json_t *body = json_loadb(job->out.p, job->out.n, 0, &je);
    const char *t = json_string_value(json_object_get(json_array_get(json_object_get(body, "choices"), 0), "text"));
    CHECK_MSG(job->http_status == 200 && t, "status %d, body %.*s", job->http_status, (int)job->out.n, job->out.p);
    if (t)
        text = strdup(t);
    json_decref(body);
    engine_release(e, job);
    return text;
}

static long long cached(struct engine *e)
{
    struct engine_stats s;
    engine_get_stats(e, &s);
    return s.prompt_tokens_cached;
}

/* The reply to prompt (n, n_shared, salt) from a fresh engine. */
static char *fresh(struct rig *r, int n, int n_shared, int salt)
{
    struct engine *e = start(r);
    char *t = e ? complete(e, n, n_shared, salt) : NULL;
    engine_stop(e);
    return t;
}

int main(void)
{
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/tokenizer.json", testdata_path("tokenizers/gptoss"));
    struct stat st;
    if (stat(probe, &st) != 0) {
        printf("SKIP: needs %s (run scripts/fetch-testdata.sh)\n", probe);
        CHECK_MSG(!getenv("CI"), "test data missing under CI");
        return test_done("test_engine_reuse");
    }
    struct rig r = {.mi = {.id = "m"}};
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(fixture_path("gpt_oss/mxfp4-released"), NULL, &r.model, &err), &err);
    CHECK_OK(owl_tokenizer_open(testdata_path("tokenizers/gptoss"), &r.tok, &err), &err);
    struct engine *e = r.model && r.tok ? start(&r) : NULL;
    if (e) {
        /* 300 prompt tokens + 8 generated: the sliding layers hold positions 180..307 */
        char *a = complete(e, 300, 0, 0), *a0 = fresh(&r, 300, 0, 0);
        CHECK(a && a0 && strcmp(a, a0) == 0);
        CHECK(cached(e) == 0);
        /* 250 shared: the next token's window (246..249) is held; 248 reused (whole chunks of 8) */
        char *b = complete(e, 280, 250, 1), *b0 = fresh(&r, 280, 250, 1);
        CHECK_MSG(b && b0 && strcmp(b, b0) == 0, "a reused prefix changed the reply: '%s' against '%s'", b ? b : "",
                  b0 ? b0 : "");
        CHECK_MSG(cached(e) == 248, "%lld prompt tokens reused, want 248", cached(e));
        /* 20 shared: positions 16..19 were overwritten (the rows hold 160..287): nothing kept */
        char *c = complete(e, 60, 20, 2), *c0 = fresh(&r, 60, 20, 2);
        CHECK_MSG(c && c0 && strcmp(c, c0) == 0, "a cleared slot changed the reply: '%s' against '%s'", c ? c : "",
                  c0 ? c0 : "");
        CHECK_MSG(cached(e) == 248, "%lld prompt tokens reused, want still 248", cached(e));
        free(a), free(a0), free(b), free(b0), free(c), free(c0);
    }
    engine_stop(e);
    owl_tokenizer_free(r.tok);
    owl_model_close(r.model);
    return test_done("test_engine_reuse");
}
