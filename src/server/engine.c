/* engine.c — the engine thread of `owl serve` (see engine.h): slots, the bounded queue, and one generation
 * step per active slot per loop.
 *
 * A step of a slot is a prefill chunk (up to n_batch prompt tokens; the last chunk returns logits) or one
 * decode token (all slots' together, below); then a token is sampled, detokenized, parsed into reasoning / content / tool-call deltas
 * (src/chat's streaming parser), stop strings are matched on content, and the reply (api.c) turns deltas
 * into SSE chunks or the final body. New jobs join between steps; cancelled ones leave between steps.
 *
 * Continuous batching: a step runs the prompt chunks of slots still reading their prompt one slot at a
 * time, then one forward for every slot that decodes (owl_session_eval_batch: the weights are read once
 * for all of them, and each sequence's numbers are bitwise those it would get alone), then samples. So
 * greedy outputs never depend on which other requests are running (tests/server checks 16 concurrent
 * streams against the same requests run one at a time).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "server/engine.h"

struct slot {
    struct owl_session *sess; /* owned; its KV cache is this slot's */
    float *logits;            /* (n_vocab) owned */
    int32_t *cache_ids;       /* (n_ctx) owned: the tokens in the session's cache, in order (kept between jobs) */
    int n_exact;              /* leading cache rows computed as whole n_batch prompt chunks from position 0: the
                                 rows a later prompt may reuse (kept between jobs) */
    float *work;              /* (n_vocab) owned: logits after penalties */
    int32_t *counts;          /* (n_vocab) owned: how often each token was generated (penalties) */
    struct job *job;          /* the running job, NULL when free */
    /* per job */
    int n_fed;                /* prompt tokens already in the cache */
    int n_reused;             /* of which were in the cache when the job started (prefix reuse) */
    int32_t next;             /* sampled token not yet evaluated */
    int n_gen, n_reasoning;
    bool has_sampler, has_parser;
    struct sampler sampler;
    struct owl_detok *detok;
    struct chat_parser parser;
    struct stop_filter sf;
    struct reply reply;
    bool stop_matched;        /* a stop string or the parser's end marker ended the reply */
    bool tok_reasoning, tok_other, last_reasoning; /* reasoning-token accounting of the current token */
    struct sbuf pending;      /* output of this step, moved to job->out under the lock */
    int http_status;          /* 200, or 500 once finish_error wrote an error reply */
    int n_past;               /* [lock] snapshot for stats */
};

struct engine {
    struct engine_params p;
    int n_vocab;          /* model rows of the logits */
    int n_sample;         /* tokens sampled from: min(model, tokenizer) vocabulary (fixtures pad the model's) */
    int n_ctx;
    int32_t stop_ids[8];
    int n_stop_ids;
    struct slot *slots;   /* (n_parallel) owned */
    /* the batched decode of a step, (n_parallel) each, owned: slot index, session, token, logits rows */
    int *dec_slot;
    struct owl_session **dec_sess;
    int32_t *dec_tok;
    float *dec_logits;    /* (n_parallel, n_vocab) */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* the engine waits for jobs */
    pthread_cond_t out_cv;  /* HTTP threads wait for output */
    bool stopping;
    struct job **queue;   /* (n_queue) ring, owned pointers shared with HTTP threads */
    int q_head, q_len;
    struct engine_stats st;
    uint64_t seed_counter;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void job_free(struct job *job)
{
    if (!job)
        return;
    api_request_free(&job->req);
    free(job->prompt);
    sbuf_free(&job->out);
    free(job);
}

/* ---- per-slot generation ---- */

static void slot_reset(struct slot *s)
{
    if (s->has_sampler)
        sampler_free(&s->sampler);
    if (s->has_parser)
        chat_parser_free(&s->parser);
    owl_detok_free(s->detok);
    stop_filter_free(&s->sf);
    reply_free(&s->reply);
    sbuf_free(&s->pending);
    struct owl_session *sess = s->sess;
    float *logits = s->logits, *work = s->work;
    int32_t *counts = s->counts, *cache_ids = s->cache_ids;
    const int n_exact = s->n_exact;
    *s = (struct slot){.sess = sess, .logits = logits, .work = work, .counts = counts, .cache_ids = cache_ids,
                       .n_exact = n_exact, .http_status = 200};
}

/* Text that goes to the client as content, through the stop strings. */
static void emit_content(struct slot *s, const char *text, size_t len)
{
    struct sbuf cut = {0};
    if (stop_filter_feed(&s->sf, text, len, &cut))
        s->stop_matched = true;
    if (cut.n)
        reply_delta(&s->reply, &(struct chat_delta){.kind = CHAT_DELTA_CONTENT, .text = cut.p, .len = cut.n},
                    &s->pending);
    if (cut.failed)
        s->pending.failed = true;
    sbuf_free(&cut);
}

static void on_delta(void *user, const struct chat_delta *d)
{
    struct slot *s = user;
    if (s->stop_matched)
        return;
    if (d->kind == CHAT_DELTA_REASONING)
        s->tok_reasoning = true;
    else
        s->tok_other = true;
    if (d->kind == CHAT_DELTA_CONTENT)
        emit_content(s, d->text, d->len);
    else
        reply_delta(&s->reply, d, &s->pending);
}

/* Generated text (a detokenizer piece) into the reply. */
static void emit_text(struct slot *s, const char *text, size_t len)
{
    if (len == 0 || s->stop_matched)
        return;
    if (s->job->req.kind == API_CHAT) {
        if (chat_parser_feed(&s->parser, text, len, on_delta, s))
            s->stop_matched = true;
    } else {
        s->tok_other = true;
        emit_content(s, text, len);
    }
}

static void finish_error(struct slot *s, int status, const char *msg)
{
    struct api_error ae;
    api_fail(&ae, status, "server_error", NULL, NULL, "%s", msg);
    s->http_status = status;
    sbuf_free(&s->pending);
    if (s->job->req.stream)
        reply_stream_error(&ae, &s->pending);
    else
        api_error_json(&ae, &s->pending);
}

/* The end of a reply: flush what is held, then the final chunk / body. */
static void slot_finish(struct slot *s, const char *reason)
{
    if (!s->stop_matched) {
        const char *t;
        size_t n;
        owl_detok_flush(s->detok, &t, &n);
        emit_text(s, t, n);
        if (s->has_parser && !s->stop_matched)
            chat_parser_finish(&s->parser, on_delta, s);
        struct sbuf rest = {0};
        stop_filter_flush(&s->sf, &rest);
        if (rest.n)
            reply_delta(&s->reply, &(struct chat_delta){.kind = CHAT_DELTA_CONTENT, .text = rest.p, .len = rest.n},
                        &s->pending);
        sbuf_free(&rest);
    }
    struct api_usage u = {.prompt_tokens = s->job->n_prompt, .completion_tokens = s->n_gen,
                          .reasoning_tokens = s->n_reasoning, .cached_tokens = s->n_reused};
    reply_finish(&s->reply, reason, &u, &s->pending);
    if (s->pending.failed)
        finish_error(s, 500, "out of memory while building the reply");
}

/* Set up a slot for job; false (with the error written as the job's output) when buffers do not fit. */
static bool slot_begin(struct engine *e, struct slot *s, struct job *job)
{
    s->job = job;
    const struct gen_request *r = &job->req;
    owl_session_truncate(s->sess, s->n_reused); /* the reusable prefix stays (slot_reuse) */
    s->n_fed = s->n_reused;
    s->n_exact = s->n_reused;
    memset(s->counts, 0, (size_t)e->n_vocab * sizeof *s->counts);
    struct sampler_params sp = r->sp;
    if (!r->seeded)
        sp.seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ ++e->seed_counter;
    struct owl_error err = {0};
    if (sampler_init(&s->sampler, &sp, e->n_sample, &err) != OWL_OK) {
        finish_error(s, 500, err.message);
        return false;
    }
    s->has_sampler = true;
    if (owl_detok_new(e->p.tokenizer, r->kind == API_COMPLETION, &s->detok, &err) != OWL_OK) {
        finish_error(s, 500, err.message);
        return false;
    }
    if (r->kind == API_CHAT) {
        struct chat_parse_options po = {.reasoning_open = r->reasoning_open};
        chat_parser_init(&s->parser, e->p.mi->format, &po);
        s->has_parser = true;
        s->last_reasoning = r->reasoning_open;
    }
    s->sf = (struct stop_filter){.stop = r->stop, .n_stop = r->n_stop};
    reply_init(&s->reply, r, job->id, (long long)time(NULL));
    return true;
}

static bool is_stop_token(const struct engine *e, int32_t t)
{
    for (int i = 0; i < e->n_stop_ids; i++)
        if (e->stop_ids[i] == t)
            return true;
    return false;
}

/* Sample from the slot's logits with OpenAI's penalties: logit -= freq * count + presence * (count > 0). */
static int32_t slot_pick(struct engine *e, struct slot *s)
{
    const struct gen_request *r = &s->job->req;
    const float *l = s->logits;
    if (r->presence_penalty != 0.0f || r->frequency_penalty != 0.0f) {
        memcpy(s->work, s->logits, (size_t)e->n_sample * sizeof *s->work);
        for (int i = 0; i < e->n_sample; i++)
            if (s->counts[i])
                s->work[i] -= r->frequency_penalty * (float)s->counts[i] + r->presence_penalty;
        l = s->work;
    }
    return sampler_pick(&s->sampler, l);
}

/* The prompt part of a slot's step: its next prompt chunk (up to n_batch tokens; the same chunking as
 * `owl run`, so a prompt's numbers do not depend on other requests). Returns STEP_SAMPLE once the last
 * chunk gave logits, STEP_WAIT while prompt is left, STEP_DONE after an error (reply written). */
enum step { STEP_WAIT, STEP_SAMPLE, STEP_DONE };

static enum step slot_prefill(struct engine *e, struct slot *s)
{
    struct job *job = s->job;
    struct owl_error err = {0};
    const int left = job->n_prompt - s->n_fed, n = left < e->p.n_batch ? left : e->p.n_batch;
    const bool last = n == left;
    if (owl_session_eval(s->sess, job->prompt + s->n_fed, n, last ? OWL_LOGITS_LAST : OWL_LOGITS_NONE, s->logits,
                         &err) != OWL_OK) {
        finish_error(s, 500, err.message);
        return STEP_DONE;
    }
    memcpy(s->cache_ids + s->n_fed, job->prompt + s->n_fed, (size_t)n * sizeof *s->cache_ids);
    if (n == e->p.n_batch && s->n_exact == s->n_fed)
        s->n_exact += n;
    s->n_fed += n;
    return last ? STEP_SAMPLE : STEP_WAIT;
}

/* The sampling part of a slot's step, once s->logits hold its next-token logits. Returns true when the job
 * finished (output complete in s->pending). */
static bool slot_take(struct engine *e, struct slot *s)
{
    struct job *job = s->job;
    struct owl_error err = {0};
    const int32_t tok = slot_pick(e, s);
    const bool eos = is_stop_token(e, tok);
    if (eos && !job->req.ignore_eos) {
        slot_finish(s, "stop");
        return true;
    }
    s->n_gen++;
    s->counts[tok]++;
    s->tok_reasoning = s->tok_other = false;
    if (!eos) {
        const char *text;
        size_t len;
        if (owl_detok_feed(s->detok, tok, &text, &len, &err) != OWL_OK) {
            finish_error(s, 500, err.message);
            return true;
        }
        emit_text(s, text, len);
    }
    /* a token counts as reasoning when it produced reasoning text, or nothing while reasoning (markers) */
    if (s->tok_reasoning || (!s->tok_other && s->last_reasoning))
        s->n_reasoning++;
    if (s->tok_reasoning || s->tok_other)
        s->last_reasoning = s->tok_reasoning && !s->tok_other;
    if (s->stop_matched) {
        slot_finish(s, "stop");
        return true;
    }
    if ((job->req.max_tokens >= 0 && s->n_gen >= job->req.max_tokens) ||
        owl_session_n_past(s->sess) >= owl_session_n_ctx(s->sess)) {
        slot_finish(s, "length");
        return true;
    }
    s->next = tok;
    return false;
}

/* ---- the engine thread ---- */

/* Prompt tokens a free slot can keep for job: the longest common prefix of its cache and the prompt, but
 * at least one prompt token is left to evaluate (its logits start the reply), within the rows that were
 * computed as whole n_batch prompt chunks from position 0 (not decode steps, not a short last chunk), and
 * rounded down to whole chunks. Those rows are bitwise what a fresh slot computes for the same tokens,
 * and the rest of the prompt is chunked where a fresh slot chunks it: reuse never changes an output. */
static int slot_reuse(const struct engine *e, const struct slot *s, const struct job *job)
{
    const int n_cached = s->n_exact, limit = job->n_prompt - 1;
    int n = 0;
    while (n < n_cached && n < limit && s->cache_ids[n] == job->prompt[n])
        n++;
    return owl_session_can_keep(s->sess, n / e->p.n_batch * e->p.n_batch); /* the sliding windows' rows allowing */
}

/* [lock] Output and completion of a job handed over; frees it when the HTTP side let go already. */
static void job_complete_locked(struct engine *e, struct job *job, struct sbuf *out, int http_status)
{
    if (out && out->n)
        sbuf_add(&job->out, out->p, out->n);
    job->http_status = http_status;
    job->done = true;
    job->engine_owned = false;
    if (!job->http_owned)
        job_free(job);
}

static void *engine_main(void *arg)
{
    struct engine *e = arg;
    const int n_slots = e->p.n_parallel;
    struct job **starting = xcalloc((size_t)n_slots, sizeof *starting);
    pthread_mutex_lock(&e->mu);
    for (;;) {
        /* between steps, under the lock: drop cancelled jobs, admit queued ones */
        int n_active = 0;
        for (int i = 0; i < n_slots; i++) {
            struct slot *s = &e->slots[i];
            starting[i] = NULL;
            if (s->job && (s->job->cancelled || e->stopping)) {
                if (s->job->cancelled)
                    e->st.requests_cancelled++;
                struct api_error ae;
                api_fail(&ae, 503, "server_error", NULL, NULL, "the server is shutting down");
                struct sbuf msg = {0};
                if (!s->job->cancelled)
                    s->job->req.stream ? reply_stream_error(&ae, &msg) : api_error_json(&ae, &msg);
                job_complete_locked(e, s->job, &msg, 503);
                sbuf_free(&msg);
                s->job = NULL;
                slot_reset(s);
            }
        }
        /* queued jobs into free slots, each into the one whose cache holds most of its prompt */
        while (e->q_len > 0 && !e->stopping) {
            struct job *j = e->queue[e->q_head];
            int best = -1, best_reuse = -1;
            for (int i = 0; i < n_slots; i++) {
                const int r = e->slots[i].job ? -1 : slot_reuse(e, &e->slots[i], j);
                if (r > best_reuse) {
                    best = i;
                    best_reuse = r;
                }
            }
            if (best < 0)
                break;
            e->q_head = (e->q_head + 1) % e->p.n_queue;
            e->q_len--;
            if (j->cancelled) {
                e->st.requests_cancelled++;
                job_complete_locked(e, j, NULL, 200);
                continue;
            }
            starting[best] = j;
            e->slots[best].job = j;
            e->slots[best].n_reused = best_reuse;
            e->st.prompt_tokens_cached += best_reuse;
        }
        for (int i = 0; i < n_slots; i++)
            n_active += e->slots[i].job != NULL;
        if (e->stopping) {
            while (e->q_len > 0) {
                struct job *j = e->queue[e->q_head];
                e->q_head = (e->q_head + 1) % e->p.n_queue;
                e->q_len--;
                struct api_error ae;
                api_fail(&ae, 503, "server_error", NULL, NULL, "the server is shutting down");
                struct sbuf msg = {0};
                j->req.stream ? reply_stream_error(&ae, &msg) : api_error_json(&ae, &msg);
                job_complete_locked(e, j, &msg, 503);
                sbuf_free(&msg);
            }
            pthread_cond_broadcast(&e->out_cv);
            break;
        }
        e->st.slots_busy = n_active;
        e->st.queue_depth = e->q_len;
        if (n_active == 0) {
            pthread_cond_wait(&e->work_cv, &e->mu);
            continue;
        }
        pthread_mutex_unlock(&e->mu);

        /* The step: prompt chunks slot by slot, then one batched forward for every slot that decodes
         * (owl_session_eval_batch: each sequence bitwise as alone), then sampling. */
        const double t0 = now_s();
        bool finished[n_slots];
        enum step step[n_slots];
        int n_dec = 0;
        long long gen_before = 0, gen_after = 0;
        for (int i = 0; i < n_slots; i++) {
            struct slot *s = &e->slots[i];
            finished[i] = false;
            step[i] = STEP_WAIT;
            if (!s->job)
                continue;
            if (starting[i] && !slot_begin(e, s, starting[i])) {
                finished[i] = true;
                continue;
            }
            gen_before += s->n_gen;
            if (s->n_fed < s->job->n_prompt) {
                step[i] = slot_prefill(e, s);
                finished[i] = step[i] == STEP_DONE;
            } else {
                e->dec_slot[n_dec] = i;
                e->dec_sess[n_dec] = s->sess;
                e->dec_tok[n_dec++] = s->next;
            }
        }
        if (n_dec > 0) {
            struct owl_error err = {0};
            const bool ok = owl_session_eval_batch(e->dec_sess, e->dec_tok, n_dec, e->dec_logits, &err) == OWL_OK;
            for (int j = 0; j < n_dec; j++) {
                struct slot *s = &e->slots[e->dec_slot[j]];
                if (ok) {
                    memcpy(s->logits, e->dec_logits + (size_t)j * e->n_vocab, (size_t)e->n_vocab * sizeof(float));
                    s->cache_ids[owl_session_n_past(s->sess) - 1] = e->dec_tok[j];
                    step[e->dec_slot[j]] = STEP_SAMPLE;
                } else {
                    finish_error(s, 500, err.message);
                    finished[e->dec_slot[j]] = true;
                }
            }
        }
        for (int i = 0; i < n_slots; i++) {
            struct slot *s = &e->slots[i];
            if (!s->job || step[i] != STEP_SAMPLE)
                continue;
            finished[i] = slot_take(e, s);
            gen_after += s->n_gen;
        }
        for (int i = 0; i < n_slots; i++)
            if (e->slots[i].job && step[i] != STEP_SAMPLE)
                gen_after += e->slots[i].n_gen;
        if (e->p.step_delay_ms > 0)
            usleep((useconds_t)e->p.step_delay_ms * 1000);
        const double dt = now_s() - t0;

        pthread_mutex_lock(&e->mu);
        e->st.busy_seconds += dt;
        e->st.completion_tokens_total += gen_after - gen_before;
        e->st.decode_steps += n_dec > 0;
        e->st.decode_batch_tokens += n_dec;
        for (int i = 0; i < n_slots; i++) {
            struct slot *s = &e->slots[i];
            if (!s->job)
                continue;
            s->n_past = owl_session_n_past(s->sess);
            if (finished[i]) {
                job_complete_locked(e, s->job, &s->pending, s->http_status);
                s->job = NULL;
                slot_reset(s);
                s->n_past = 0;
            } else if (s->pending.n) {
                sbuf_add(&s->job->out, s->pending.p, s->pending.n);
                s->pending.n = 0;
            }
        }
        pthread_cond_broadcast(&e->out_cv);
    }
    pthread_mutex_unlock(&e->mu);
    free(starting);
    return NULL;
}

/* ---- public ---- */

enum owl_status engine_start(const struct engine_params *p, struct engine **out, struct owl_error *err)
{
    *out = NULL;
    OWL_ASSERT(p->n_parallel >= 1 && p->n_queue >= 1);
    struct engine *e = xcalloc(1, sizeof *e);
    e->p = *p;
    if (e->p.n_batch <= 0)
        e->p.n_batch = 256;
    e->n_vocab = owl_model_n_vocab(p->model);
    const int n_tok = owl_tokenizer_n_vocab(p->tokenizer);
    e->n_sample = n_tok > 0 && n_tok < e->n_vocab ? n_tok : e->n_vocab;
    e->n_stop_ids = owl_stop_tokens(p->tokenizer, e->stop_ids, 8);
    e->slots = xcalloc((size_t)p->n_parallel, sizeof *e->slots);
    e->queue = xcalloc((size_t)p->n_queue, sizeof *e->queue);
    e->dec_slot = xcalloc((size_t)p->n_parallel, sizeof *e->dec_slot);
    e->dec_sess = xcalloc((size_t)p->n_parallel, sizeof *e->dec_sess);
    e->dec_tok = xcalloc((size_t)p->n_parallel, sizeof *e->dec_tok);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work_cv, NULL);
    pthread_cond_init(&e->out_cv, NULL);
    struct owl_session_params sp = owl_session_default_params();
    sp.n_ctx = p->n_ctx;
    sp.n_batch = e->p.n_batch;
    sp.kv = p->kv;
    sp.window_rows = p->window_rows;
    for (int i = 0; i < p->n_parallel; i++) {
        struct slot *s = &e->slots[i];
        enum owl_status st = owl_session_init(p->model, &sp, &s->sess, err);
        if (st != OWL_OK) {
            engine_stop(e);
            return st;
        }
        s->http_status = 200;
        s->logits = big_alloc((size_t)e->n_vocab * sizeof(float));
        s->work = big_alloc((size_t)e->n_vocab * sizeof(float));
        s->counts = big_alloc((size_t)e->n_vocab * sizeof(int32_t));
        s->cache_ids = big_alloc((size_t)owl_session_n_ctx(s->sess) * sizeof(int32_t));
        if (!s->logits || !s->work || !s->counts || !s->cache_ids) {
            engine_stop(e);
            return fail(err, OWL_ERR_OUT_OF_MEMORY, "logits buffers for %d slots", p->n_parallel);
        }
    }
    e->dec_logits = big_alloc((size_t)p->n_parallel * (size_t)e->n_vocab * sizeof(float));
    if (!e->dec_logits) {
        engine_stop(e);
        return fail(err, OWL_ERR_OUT_OF_MEMORY, "batched logits for %d slots", p->n_parallel);
    }
    e->n_ctx = owl_session_n_ctx(e->slots[0].sess);
    e->st.slots_total = p->n_parallel;
    e->st.queue_capacity = p->n_queue;
    e->st.kv_tokens_capacity = (long long)e->n_ctx * p->n_parallel;
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        engine_stop(e);
        return fail(err, OWL_ERR_OUT_OF_MEMORY, "cannot start the engine thread");
    }
    e->thread_started = true;
    *out = e;
    return OWL_OK;
}

void engine_shutdown(struct engine *e)
{
    if (!e || !e->thread_started)
        return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_signal(&e->work_cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    e->thread_started = false;
}

void engine_stop(struct engine *e)
{
    if (!e)
        return;
    engine_shutdown(e);
    for (int i = 0; i < e->p.n_parallel; i++) {
        struct slot *s = &e->slots[i];
        slot_reset(s);
        owl_session_free(s->sess);
        big_free(s->logits);
        big_free(s->work);
        big_free(s->counts);
        big_free(s->cache_ids);
    }
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work_cv);
    pthread_cond_destroy(&e->out_cv);
    free(e->slots);
    free(e->queue);
    free(e->dec_slot);
    free(e->dec_sess);
    free(e->dec_tok);
    big_free(e->dec_logits);
    free(e);
}

int engine_n_ctx(const struct engine *e) { return e->n_ctx; }

bool engine_submit(struct engine *e, struct job *job)
{
    pthread_mutex_lock(&e->mu);
    const bool ok = !e->stopping && e->q_len < e->p.n_queue;
    if (ok) {
        job->engine_owned = job->http_owned = true;
        e->queue[(e->q_head + e->q_len) % e->p.n_queue] = job;
        e->q_len++;
        e->st.queue_depth = e->q_len;
        e->st.requests_total++;
        e->st.prompt_tokens_total += job->n_prompt;
        pthread_cond_signal(&e->work_cv);
    } else {
        e->st.requests_rejected++;
    }
    pthread_mutex_unlock(&e->mu);
    return ok;
}

/* Wait on out_cv until pred or timeout (ms). [lock] held. */
static void wait_out(struct engine *e, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&e->out_cv, &e->mu, &ts);
}

size_t engine_read(struct engine *e, struct job *job, char *buf, size_t max, int timeout_ms, bool *done)
{
    pthread_mutex_lock(&e->mu);
    if (job->out.n == 0 && !job->done)
        wait_out(e, timeout_ms);
    size_t n = job->out.n < max ? job->out.n : max;
    if (n) {
        memcpy(buf, job->out.p, n);
        memmove(job->out.p, job->out.p + n, job->out.n - n);
        job->out.n -= n;
    }
    *done = job->done && job->out.n == 0;
    pthread_mutex_unlock(&e->mu);
    return n;
}

bool engine_wait(struct engine *e, struct job *job, int timeout_ms)
{
    pthread_mutex_lock(&e->mu);
    if (!job->done)
        wait_out(e, timeout_ms);
    const bool done = job->done;
    pthread_mutex_unlock(&e->mu);
    return done;
}

void engine_cancel(struct engine *e, struct job *job)
{
    pthread_mutex_lock(&e->mu);
    if (!job->done) {
        job->cancelled = true;
        pthread_cond_signal(&e->work_cv);
    }
    pthread_mutex_unlock(&e->mu);
}

void engine_release(struct engine *e, struct job *job)
{
    pthread_mutex_lock(&e->mu);
    job->http_owned = false;
    const bool free_now = !job->engine_owned;
    pthread_mutex_unlock(&e->mu);
    if (free_now)
        job_free(job);
}

void engine_get_stats(struct engine *e, struct engine_stats *s)
{
    pthread_mutex_lock(&e->mu);
    *s = e->st;
    s->queue_depth = e->q_len;
    s->kv_tokens_used = 0;
    for (int i = 0; i < e->p.n_parallel; i++)
        s->kv_tokens_used += e->slots[i].n_past;
    s->decode_tokens_per_second = s->busy_seconds > 0 ? (double)s->completion_tokens_total / s->busy_seconds : 0;
    pthread_mutex_unlock(&e->mu);
}

void engine_count_rejected(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->st.requests_failed++;
    pthread_mutex_unlock(&e->mu);
}
