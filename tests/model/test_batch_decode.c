/* test_batch_decode.c — owl_session_eval_batch, the server's continuous-batching step, on every family's
 * fixtures: ten sequences with prompts of different lengths decode together, in groups (n_batch 9:
 * 9 + 1, past the 8 tokens where a matmul would take the prefill GEMM) and in changing subsets, and every session's logits and cache must be bitwise those of the same
 * session decoding alone with owl_session_eval. Bad batches are refused and change nothing. */
#include <stdlib.h>
#include <string.h>

#include "owl.h"
#include "test_util.h"

enum { N_SEQ = 10, N_STEP = 6 };

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static void check_fixture(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", OWL_FIXTURES, dir);
    struct owl_error err = {0};
    struct owl_model *model = NULL;
    struct owl_model_params mp = owl_model_default_params();
    mp.n_threads = 2;
    if (owl_model_open(path, &mp, &model, &err)) {
        CHECK_MSG(0, "%s: %s", dir, err.message);
        return;
    }
    const int V = owl_model_n_vocab(model);
    struct owl_session_params sp = {.n_ctx = 64, .n_batch = 9};
    struct owl_session *batched[N_SEQ], *alone[N_SEQ];
    float *lb = malloc(sizeof(float) * N_SEQ * V), *la = malloc(sizeof(float) * N_SEQ * V);
    static const int prompt_len[N_SEQ] = {1, 5, 17, 40, 2, 9, 3, 30, 11, 7};
    uint64_t rng = 12345;
    int32_t next[N_SEQ];
    for (int i = 0; i < N_SEQ; i++) {
        CHECK(owl_session_init(model, &sp, &batched[i], &err) == OWL_OK);
        CHECK(owl_session_init(model, &sp, &alone[i], &err) == OWL_OK);
        int32_t prompt[40];
        for (int t = 0; t < prompt_len[i]; t++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            prompt[t] = (int32_t)((rng >> 33) % (uint64_t)V);
        }
        CHECK(owl_session_eval(batched[i], prompt, prompt_len[i], OWL_LOGITS_LAST, lb, &err) == OWL_OK);
        CHECK(owl_session_eval(alone[i], prompt, prompt_len[i], OWL_LOGITS_LAST, la, &err) == OWL_OK);
        next[i] = argmax(la, V);
    }
    for (int step = 0; step < N_STEP; step++) {
        /* steps 0-2: all ten (groups of 9 + 1); then subsets: the odd ones, all but session 1, all */
        int ids[N_SEQ], n = 0;
        for (int i = 0; i < N_SEQ; i++)
            if (step < 3 || step == 5 || (step == 3 && i % 2 == 1) || (step == 4 && i != 1))
                ids[n++] = i;
        struct owl_session *group[N_SEQ];
        int32_t toks[N_SEQ];
        for (int j = 0; j < n; j++) {
            group[j] = batched[ids[j]];
            toks[j] = next[ids[j]];
        }
        if (owl_session_eval_batch(group, toks, n, lb, &err)) {
            CHECK_MSG(0, "%s step %d: %s", dir, step, err.message);
            break;
        }
        for (int j = 0; j < n; j++) {
            const int i = ids[j];
            CHECK(owl_session_eval(alone[i], &next[i], 1, OWL_LOGITS_LAST, la + (size_t)j * V, &err) == OWL_OK);
            CHECK_MSG(memcmp(lb + (size_t)j * V, la + (size_t)j * V, sizeof(float) * V) == 0,
                      "%s step %d: session %d's logits in a batch of %d differ from alone", dir, step, i, n);
            CHECK(owl_session_n_past(batched[i]) == owl_session_n_past(alone[i]));
            next[i] = argmax(la + (size_t)j * V, V);
        }
    }

    /* Refusals leave every session as it was. */
    int past[N_SEQ];
    for (int i = 0; i < N_SEQ; i++)
        past[i] = owl_session_n_past(batched[i]);
    struct owl_session *dup[2] = {batched[0], batched[0]};
    int32_t toks[2] = {0, 0};
    CHECK(owl_session_eval_batch(dup, toks, 2, lb, &err) == OWL_ERR_INVALID_ARG);
    struct owl_session *two[2] = {batched[0], batched[1]};
    int32_t bad[2] = {0, V};
    CHECK(owl_session_eval_batch(two, bad, 2, lb, &err) == OWL_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "session 1") != NULL);
    struct owl_session *other = NULL;
    struct owl_session_params sp2 = {.n_ctx = 32, .n_batch = 9};
    CHECK(owl_session_init(model, &sp2, &other, &err) == OWL_OK);
    struct owl_session *mixed[2] = {batched[0], other};
    CHECK(owl_session_eval_batch(mixed, toks, 2, lb, &err) == OWL_ERR_INVALID_ARG);
    CHECK(owl_session_eval_batch(two, toks, 0, lb, &err) == OWL_ERR_INVALID_ARG);
    for (int i = 0; i < N_SEQ; i++)
        CHECK(owl_session_n_past(batched[i]) == past[i]);
    owl_session_free(other);

    for (int i = 0; i < N_SEQ; i++) {
        owl_session_free(batched[i]);
        owl_session_free(alone[i]);
    }
    free(lb);
    free(la);
    owl_model_close(model);
}

int main(void)
{
    static const char *const dirs[] = {
        "qwen3/gqa-tied",         "qwen3/yarn-released",          "qwen3_moe/norm-mlp-only",
        "gpt_oss/mxfp4-released", "gpt_oss/bf16-v5",              "deepseek_v3/fp8-sharded",
        "deepseek_v3/qlora-mtp",  "deepseek_v3/v2-lite",
    };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        check_fixture(dirs[i]);
    return test_done("test_batch_decode");
}
