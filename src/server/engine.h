/* engine.h — the scheduler of `owl serve`: one engine thread owns --parallel N slots (one owl_session,
 * i.e. one KV cache, each) and a bounded queue of jobs. HTTP threads submit jobs and read their output;
 * only the engine thread touches sessions, samplers and parsers.
 *
 * Today each step advances every active slot by one forward of its own (a prefill chunk, or one decode
 * token) because sessions are single-sequence. The batched forward across slots (one forward per step
 * for all sequences, issue 8) is NOT done yet and is the next step: it changes step_slot's forward, not
 * the job/slot life cycle here.
 */
#ifndef OWL_SERVER_ENGINE_H
#define OWL_SERVER_ENGINE_H

#include <pthread.h>

#include "owl.h"
#include "server/api.h"

struct engine;

struct engine_params {
    struct owl_model *model;         /* borrowed */
    struct owl_tokenizer *tokenizer; /* borrowed; the engine detokenizes on its thread */
    const struct api_model_info *mi; /* borrowed */
    int n_parallel;                  /* slots */
    int n_queue;                     /* jobs waiting for a slot, at most */
    int n_ctx;                       /* per slot; <= 0: the session default */
    int n_batch;                     /* prefill chunk per step; <= 0: 256 */
    const char *kv;                  /* owl_session_params.kv: NULL / "f32", "f16" */
    int window_rows;                 /* owl_session_params.window_rows */
    int step_delay_ms;               /* testing: sleep after each step (makes streams slow enough to cut) */
};

/* A request between the HTTP thread that owns the connection and the engine. Fields marked [lock] are
 * read and written under the engine's mutex; [engine] only by the engine thread; [const] fixed at
 * submission. Freed when both sides let go (engine_release). */
struct job {
    struct gen_request req; /* [const] owned */
    int32_t *prompt;        /* [const] (n_prompt) owned token ids */
    int n_prompt;
    char id[40];            /* [const] "chatcmpl-..." / "cmpl-..." */
    double t_submit;        /* [const] */
    struct sbuf out;        /* [lock] bytes not yet handed to the client (stream), or the whole body */
    int http_status;        /* [lock] 200, or the error status of a non-stream reply */
    bool done;              /* [lock] out holds everything there will be */
    bool cancelled;         /* [lock] the client went away */
    bool engine_owned, http_owned; /* [lock] */
};

/* Start the engine thread with n_parallel sessions. OWL_ERR_OUT_OF_MEMORY when the KV caches do not fit. */
enum owl_status engine_start(const struct engine_params *p, struct engine **out, struct owl_error *err);
/* Finish every job (queued or running) with a 503 and join the thread; HTTP threads can still read and
 * release their jobs; later submissions are refused. NULL-safe, idempotent. */
void engine_shutdown(struct engine *e);
/* engine_shutdown, then free the sessions and the engine (no HTTP thread may use it any more). NULL-safe. */
void engine_stop(struct engine *e);

int engine_n_ctx(const struct engine *e);

/* Hand a job (owned from now on by both sides) to the engine. false: the queue is full (the caller still
 * owns job and answers 429). */
bool engine_submit(struct engine *e, struct job *job);
/* Move up to max bytes of output into buf. Waits up to timeout_ms for some. Returns bytes copied; *done is
 * set when the job has finished and everything was taken. */
size_t engine_read(struct engine *e, struct job *job, char *buf, size_t max, int timeout_ms, bool *done);
/* Wait up to timeout_ms for the job to finish; true when done. */
bool engine_wait(struct engine *e, struct job *job, int timeout_ms);
/* The client disconnected: the engine drops the job at its next step and frees the slot. */
void engine_cancel(struct engine *e, struct job *job);
/* The HTTP side lets go of job (after it is done or cancelled). */
void engine_release(struct engine *e, struct job *job);
void job_free(struct job *job); /* a job never submitted */

/* Counters for /health and /metrics (a consistent snapshot). */
struct engine_stats {
    int slots_total, slots_busy, queue_depth, queue_capacity;
    long long kv_tokens_used, kv_tokens_capacity;
    long long requests_total, requests_rejected, requests_cancelled, requests_failed;
    long long prompt_tokens_total, completion_tokens_total;
    double busy_seconds; /* engine time spent stepping */
    double decode_tokens_per_second; /* completion tokens / busy seconds over the last window */
    long long decode_steps, decode_batch_tokens; /* batched decode forwards, and the sequences they ran */
    long long prompt_tokens_cached; /* prompt tokens not evaluated again: reused from a slot's cache */
};
void engine_get_stats(struct engine *e, struct engine_stats *s);
/* Count a request refused before it reached the engine (429 or 4xx) */
void engine_count_rejected(struct engine *e);

#endif
