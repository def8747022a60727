/* test_window_rows.c — GPT-OSS's sliding-window layers keeping only their recent rows (owl_session_params.
 * window_rows), on the released-layout fixture (window 4 on layers 0 and 2 of 4; again with its config's window
 * set to 100, so visible keys span several of the decode's 64-key chunks) and the GGUF one, both cache types:
 * - a session whose sliding layers keep 128 rows (the least for a batch of 8) gives, bit for bit, the logits of one
 *   that keeps the whole context, over a prompt in chunks and hundreds of decode steps (its rows moved down several
 *   times), so the positions' new base changes no number;
 * - batched decode steps of such sessions, each at another base, equal each session alone;
 * - truncating back within the rows (down to where the next token's window starts at the rows' first position)
 *   keeps the tokens and goes on with the same logits; one further back, the session is cleared (truncate returns
 *   0, can_keep says so beforehand) and evaluating again gives the same logits;
 * - the bytes held: the sliding layers at most their rows; a model without sliding layers keeps every row. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owl.h"
#include "test_util.h"

enum { T = 520, PROMPT = 37, CTX = 600, BATCH = 8 };

static int32_t tok(int i) { return (int32_t)((i * 37 + 11) % 250); } /* every fixture has >= 256 tokens */

static struct owl_session *open_session(struct owl_model *m, const char *kv, int window_rows)
{
    struct owl_session_params sp = owl_session_default_params();
    sp.n_ctx = CTX;
    sp.n_batch = BATCH;
    sp.kv = kv;
    sp.window_rows = window_rows;
    struct owl_session *s = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_session_init(m, &sp, &s, &err), &err);
    return s;
}

/* Logits after each token from position `from` to T - 1 (row t - from): tokens before PROMPT in one eval of chunks,
 * then one at a time. */
static void feed(struct owl_session *s, int from, float *out, int V)
{
    struct owl_error err = {0};
    int32_t ids[T];
    for (int i = 0; i < T; i++)
        ids[i] = tok(i);
    int t = from;
    if (t < PROMPT) {
        CHECK_OK(owl_session_eval(s, ids + t, PROMPT - t, OWL_LOGITS_ALL, out, &err), &err);
        t = PROMPT;
    }
    for (; t < T; t++)
        CHECK_OK(owl_session_eval(s, ids + t, 1, OWL_LOGITS_LAST, out + (size_t)(t - from) * V, &err), &err);
}

static void check(const char *path, const char *kv, int window)
{
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(path, NULL, &m, &err), &err);
    if (!m)
        return;
    const int V = owl_model_n_vocab(m);
    struct owl_session *full = open_session(m, kv, -1), *ring = open_session(m, kv, 1);
    float *want = malloc(sizeof(float) * T * V), *got = malloc(sizeof(float) * T * V);
    if (!full || !ring || !want || !got)
        goto done;
    const int rows = (window + BATCH + 63 + 63) / 64 * 64;
    CHECK(owl_session_window_rows(full) == 0);
    CHECK_MSG(owl_session_window_rows(ring) == rows, "%s: %d rows, want %d (window %d + batch 8 + 63, to 64s)", path,
              owl_session_window_rows(ring), rows, window);
    feed(full, 0, want, V);
    feed(ring, 0, got, V);
    CHECK_MSG(memcmp(want, got, sizeof(float) * T * V) == 0, "%s kv %s: rows kept differ from the whole context",
              path, kv ? kv : "f32");
    /* 2 of 4 layers hold at most their rows */
    CHECK(owl_session_kv_bytes(full, T) == owl_session_kv_bytes_per_token(full) * T);
    CHECK(owl_session_kv_bytes(ring, T) == owl_session_kv_bytes_per_token(ring) / 4 * (2 * T + 2 * (size_t)rows));
    CHECK(owl_session_kv_bytes(ring, 100) == owl_session_kv_bytes(full, 100));
    CHECK(owl_session_kv_bytes(ring, -5) == 0 && owl_session_kv_bytes(full, 0) == 0);

    /* the furthest back it keeps: where the window of the next token starts at the rows' first position (a multiple
     * of 64); one further back clears */
    int k0 = 1;
    while (k0 < T && owl_session_can_keep(ring, k0) != k0)
        k0++;
    CHECK_MSG(k0 > PROMPT && k0 < T && owl_session_can_keep(ring, k0 - 1) == 0, "%s: kept from %d", path, k0);
    CHECK_MSG((k0 - window + 1) % 64 == 0, "%s: kept from %d: its window from %d, not the rows' first (a multiple of "
              "64)", path, k0, k0 - window + 1);
    /* back within the rows (half way, then the furthest): kept, and the same logits on from there */
    const int back[2] = {(k0 + T) / 2, k0};
    for (int i = 0; i < 2; i++) {
        const int k = back[i];
        CHECK(owl_session_can_keep(ring, k) == k);
        CHECK(owl_session_truncate(ring, k) == k && owl_session_n_past(ring) == k);
        feed(ring, k, got, V);
        CHECK_MSG(memcmp(want + (size_t)k * V, got, sizeof(float) * (size_t)(T - k) * V) == 0,
                  "%s kv %s: after truncating to %d (the furthest kept: %d)", path, kv ? kv : "f32", k, k0);
    }
    /* further back than the rows hold the window for: cleared, then the same logits from the start */
    k0 = 1;
    while (k0 < T && owl_session_can_keep(ring, k0) != k0)
        k0++;
    CHECK(owl_session_can_keep(ring, k0 - 1) == 0 && owl_session_n_past(ring) == T);
    CHECK(owl_session_truncate(ring, k0 - 1) == 0 && owl_session_n_past(ring) == 0);
    CHECK(owl_session_truncate(full, k0 - 1) == k0 - 1);
    feed(ring, 0, got, V);
    CHECK_MSG(memcmp(want, got, sizeof(float) * T * V) == 0, "%s kv %s: evaluated again after clearing", path,
              kv ? kv : "f32");
    CHECK(owl_session_truncate(ring, 1 << 20) == T);

    /* three sessions at different bases decode together as each alone (with every row) */
    enum { NS = 3 };
    struct owl_session *s[NS] = {0}, *alone[NS] = {0};
    int32_t next[NS];
    float *batched = malloc(sizeof(float) * NS * V), *single = malloc(sizeof(float) * V);
    int ok = batched && single;
    for (int i = 0; ok && i < NS; i++) {
        ok &= (s[i] = open_session(m, kv, 1)) != NULL && (alone[i] = open_session(m, kv, -1)) != NULL;
        const int n = 150 + 70 * i;
        int32_t ids[300];
        for (int k = 0; k < n; k++)
            ids[k] = tok(3 * k + i);
        ok &= ok && owl_session_eval(s[i], ids, n, OWL_LOGITS_NONE, NULL, &err) == OWL_OK;
        ok &= ok && owl_session_eval(alone[i], ids, n, OWL_LOGITS_NONE, NULL, &err) == OWL_OK;
    }
    for (int step = 0; ok && step < 70; step++) { /* past the point where each moves its rows down */
        for (int i = 0; i < NS; i++)
            next[i] = tok(step * 7 + i);
        ok &= owl_session_eval_batch(s, next, NS, batched, &err) == OWL_OK;
        for (int i = 0; ok && i < NS; i++) {
            ok &= owl_session_eval(alone[i], &next[i], 1, OWL_LOGITS_LAST, single, &err) == OWL_OK;
            CHECK_MSG(memcmp(single, batched + (size_t)i * V, sizeof(float) * V) == 0,
                      "%s kv %s: session %d, step %d batched differs from alone", path, kv ? kv : "f32", i, step);
        }
    }
    CHECK_MSG(ok, "%s", err.message);
    for (int i = 0; i < NS; i++)
        owl_session_free(s[i]), owl_session_free(alone[i]);
    free(batched), free(single);
done:
    owl_session_free(full);
    owl_session_free(ring);
    owl_model_close(m);
    free(want), free(got);
}

int main(void)
{
    check(fixture_path("gpt_oss/mxfp4-released"), NULL, 4);
    check(fixture_path("gpt_oss/mxfp4-released"), "f16", 4);
    check(fixture_path("gguf/converter/gpt-oss-mxfp4-bf16.gguf"), NULL, 4);
    /* a window of 100 (the fixture's weights, config.json edited): visible keys span two or three of the decode's
     * 64-key chunks, which fall where they would from position 0 only with the rows' base a multiple of 64 */
    char dir[512], src[512], dst[600];
    snprintf(dir, sizeof dir, "%s/window100", test_tmpdir());
    size_t n = 0;
    char *cfg = read_file(fixture_path("gpt_oss/mxfp4-released/config.json"), &n), *at = cfg ? strstr(cfg, "\"sliding_window\": 4") : NULL;
    CHECK(at != NULL && mkdir(dir, 0755) == 0);
    if (at) {
        const size_t head = (size_t)(at - cfg) + strlen("\"sliding_window\": ");
        char *edited = malloc(n + 8);
        snprintf(edited, n + 8, "%.*s100%s", (int)head, cfg, at + strlen("\"sliding_window\": 4"));
        snprintf(dst, sizeof dst, "%s/config.json", dir);
        CHECK(write_file(dst, edited, strlen(edited)) == 0);
        snprintf(src, sizeof src, "%s", fixture_path("gpt_oss/mxfp4-released/model.safetensors"));
        snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
        CHECK(symlink(src, dst) == 0);
        check(dir, NULL, 100);
        check(dir, "f16", 100);
        free(edited);
    }
    free(cfg);

    /* no sliding layers: every row kept whatever window_rows says */
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(fixture_path("qwen3/gqa-tied"), NULL, &m, &err), &err);
    struct owl_session *s = m ? open_session(m, NULL, 1) : NULL;
    CHECK(s && owl_session_window_rows(s) == 0 && owl_session_kv_bytes(s, T) == owl_session_kv_bytes_per_token(s) * T);
    CHECK(s && owl_session_can_keep(s, 5) == 0); /* nothing evaluated yet */
    owl_session_free(s);
    owl_model_close(m);
    return test_done("test_window_rows");
}
