/* server.h — `owl serve`: an OpenAI-compatible HTTP server over libmicrohttpd (http.c), the OpenAI JSON
 * mapping (api.c) and one engine thread (engine.c). Uses the public API (owl.h), plus src/chat's renderer
 * and streaming parser and src/sample, which depend only on base. */
#ifndef OWL_SERVER_H
#define OWL_SERVER_H

#include <stddef.h>

struct server_options {
    const char *model_path;
    const char *host;     /* IPv4 address or name; "127.0.0.1" */
    int port;             /* 0: any free port (printed) */
    const char *api_key;  /* bearer token required on the /v1/ endpoints; NULL: none */
    const char *alias;    /* model id for clients; NULL: the model directory's name */
    int n_parallel;       /* slots */
    int n_queue;          /* waiting requests at most; beyond: 429 */
    int n_ctx;            /* per slot; <= 0: the session default */
    int n_batch;          /* prompt chunk per forward; <= 0: 256 */
    const char *act;      /* owl_model_params.act: NULL / "fp32" exact, "bf16" reduced-precision activations */
    const char *load;     /* owl_model_params.load: NULL / "auto", "mmap", "copy" */
    const char *kv;       /* owl_session_params.kv: NULL / "f32", "f16" */
    int window_rows;      /* owl_session_params.window_rows */
    int n_threads;        /* forward threads; <= 0: all cores */
    size_t max_body;      /* request body cap in bytes; beyond: 413 */
    int step_delay_ms;    /* testing only */
};

/* Open the model, start the engine and listen until SIGINT / SIGTERM. Prints
 * "owl serve: listening on http://HOST:PORT" on stdout once ready. Returns a process exit code. */
int server_run(const struct server_options *o);

#endif
