/* http.c — the HTTP side of `owl serve` over libmicrohttpd: one thread per connection, routing, bearer
 * auth, capped request bodies, JSON and SSE responses, and noticing clients that go away (poll for
 * POLLRDHUP on the connection's socket while a request waits) so that the engine can drop their sequence.
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET /metrics.
 * Every error is OpenAI's {"error": {...}} JSON with a 4xx/5xx status; nothing a client sends aborts.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "server/engine.h"
#include "server/server.h"

struct server {
    const struct server_options *o;
    struct owl_tokenizer *tok;
    pthread_mutex_t tok_mu; /* owl_tokenize updates a piece cache: one caller at a time */
    struct api_model_info mi;
    struct engine *engine;
    long long created;      /* start time, for /v1/models */
    unsigned long long next_id;
    pthread_mutex_t id_mu;
};

/* Seconds a connection may sit idle (a slow or stalled client) before MHD closes it. The clock restarts
 * whenever we hand MHD output (touch), so long generations are not cut. */
#define IDLE_TIMEOUT_S 2

/* Restart the connection's idle clock: MHD counts the time spent inside our callbacks as idle. */
static void touch(struct MHD_Connection *c)
{
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S);
}

/* Per-connection request state (MHD's con_cls). */
struct conn {
    struct sbuf body;
    bool too_big;
};

/* ---- responses ---- */

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                                 size_t len, const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, const struct sbuf *b)
{
    if (b->failed)
        return send_body(c, 500, "application/json",
                         "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
                         "\"code\":null}}", 83, NULL);
    return send_body(c, status, "application/json", b->p ? b->p : "", b->n, NULL);
}

static enum MHD_Result send_error(struct server *sv, struct MHD_Connection *c, const struct api_error *e)
{
    struct sbuf b = {0};
    api_error_json(e, &b);
    if (e->http_status < 500 && e->http_status != 429)
        engine_count_rejected(sv->engine);
    enum MHD_Result ret;
    if (b.failed)
        ret = send_json(c, 500, &b);
    else
        ret = send_body(c, (unsigned)e->http_status, "application/json", b.p, b.n,
                        e->http_status == 429 ? "1" : NULL);
    sbuf_free(&b);
    return ret;
}

#define ERR(status, type, param, code, ...)                                                                    \
    do {                                                                                                       \
        struct api_error e_;                                                                                   \
        api_fail(&e_, status, type, param, code, __VA_ARGS__);                                                 \
        return send_error(sv, c, &e_);                                                                         \
    } while (0)

/* ---- client presence ---- */

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* The peer closed or reset its side (a waiting client never sends more, so any hang-up means gone). Valid
 * only before a response is queued (see stream_read). */
static bool peer_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* ---- streaming ---- */

struct stream {
    struct server *sv;
    struct MHD_Connection *conn;
    struct job *job;
    double last_send;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* MHD pulls the SSE body from here: whatever the engine produced, waiting for more in 100 ms slices.
 * A client that goes away mid-stream is noticed when a write fails (MHD then ends the response and
 * stream_free cancels the job); while a request produces nothing (queued, long prefill) an SSE comment
 * every second keeps writes, and so that detection, going. Polling the socket for POLLRDHUP is not used
 * here: once a response is queued MHD may shut down the read side itself (shutdown(SHUT_RD) for a
 * response queued before the body was read), which looks exactly like a client hang-up. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    (void)pos;
    for (;;) {
        bool done;
        size_t n = engine_read(st->sv->engine, st->job, buf, max, 100, &done);
        if (n) {
            st->last_send = mono_now();
            touch(st->conn);
            return (ssize_t)n;
        }
        if (done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        static const char ping[] = ": keep-alive\n\n";
        if (mono_now() - st->last_send > 1.0 && max >= sizeof ping - 1) {
            memcpy(buf, ping, sizeof ping - 1);
            st->last_send = mono_now();
            touch(st->conn);
            return (ssize_t)(sizeof ping - 1);
        }
    }
}

/* The response is gone (sent, or the connection died): cancel if still running, let go of the job. */
static void stream_free(void *cls)
{
    struct stream *st = cls;
    engine_cancel(st->sv->engine, st->job);
    engine_release(st->sv->engine, st->job);
    free(st);
}

/* ---- endpoints ---- */

static enum MHD_Result handle_generate(struct server *sv, struct MHD_Connection *c, struct conn *cn,
                                       enum api_kind kind)
{
    if (cn->too_big)
        ERR(413, "invalid_request_error", NULL, "request_too_large", "the request body is larger than %zu bytes",
            sv->o->max_body);
    struct api_error ae;
    struct job *job = calloc(1, sizeof *job);
    if (!job)
        ERR(500, "server_error", NULL, NULL, "out of memory");
    if (!api_parse_request(kind, cn->body.p, cn->body.n, &sv->mi, &job->req, &ae)) {
        job_free(job);
        return send_error(sv, c, &ae);
    }
    /* chat prompts carry their BOS text from the template; raw completions follow tokenizer_config */
    struct owl_error err = {0};
    size_t n_ids = 0;
    pthread_mutex_lock(&sv->tok_mu);
    enum owl_status st = owl_tokenize(sv->tok, job->req.prompt, strlen(job->req.prompt), kind == API_CHAT ? 0 : -1,
                                      &job->prompt, &n_ids, &err);
    pthread_mutex_unlock(&sv->tok_mu);
    const int n_ctx = engine_n_ctx(sv->engine);
    if (st != OWL_OK)
        api_fail(&ae, 400, "invalid_request_error", kind == API_CHAT ? "messages" : "prompt", NULL, "%s",
                 err.message);
    else if (n_ids == 0)
        api_fail(&ae, 400, "invalid_request_error", "prompt", NULL, "the prompt is empty");
    else if (n_ids >= (size_t)n_ctx)
        api_fail(&ae, 400, "invalid_request_error", kind == API_CHAT ? "messages" : "prompt",
                 "context_length_exceeded",
                 "This model's maximum context length is %d tokens. However, your %s resulted in %zu tokens.",
                 n_ctx, kind == API_CHAT ? "messages" : "prompt", n_ids);
    if (st != OWL_OK || n_ids == 0 || n_ids >= (size_t)n_ctx) {
        job_free(job);
        return send_error(sv, c, &ae);
    }
    job->n_prompt = (int)n_ids;
    pthread_mutex_lock(&sv->id_mu);
    unsigned long long id = ++sv->next_id;
    pthread_mutex_unlock(&sv->id_mu);
    snprintf(job->id, sizeof job->id, "%s-%llx%06llx", kind == API_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)sv->created, id);
    if (!engine_submit(sv->engine, job)) {
        job_free(job);
        ERR(429, "rate_limit_exceeded", NULL, "rate_limit_exceeded",
            "the server is at capacity (%d slots busy and %d requests queued); retry later", sv->o->n_parallel,
            sv->o->n_queue);
    }
    if (job->req.stream) {
        struct stream *sst = calloc(1, sizeof *sst);
        if (!sst) {
            engine_cancel(sv->engine, job);
            engine_release(sv->engine, job);
            ERR(500, "server_error", NULL, NULL, "out of memory");
        }
        *sst = (struct stream){.sv = sv, .conn = c, .job = job, .last_send = mono_now()};
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, sst,
                                                                   stream_free);
        if (!r) {
            stream_free(sst);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r); /* stream_free runs when MHD is done with it */
        return ret;
    }
    /* non-stream: this connection's thread waits, watching for the client hanging up */
    const int fd = conn_fd(c);
    while (!engine_wait(sv->engine, job, 100)) {
        if (peer_gone(fd)) {
            engine_cancel(sv->engine, job);
            engine_release(sv->engine, job);
            return MHD_NO; /* closes the connection */
        }
    }
    touch(c);
    enum MHD_Result ret = send_json(c, (unsigned)job->http_status, &job->out);
    engine_release(sv->engine, job);
    return ret;
}

static enum MHD_Result handle_models(struct server *sv, struct MHD_Connection *c)
{
    json_t *m = json_pack("{s:s, s:s, s:I, s:s, s:{s:i}}", "id", sv->mi.id, "object", "model", "created",
                          (json_int_t)sv->created, "owned_by", "owl", "meta", "n_ctx", engine_n_ctx(sv->engine));
    json_t *j = json_pack("{s:s, s:[o]}", "object", "list", "data", m);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    struct sbuf b = {0};
    if (text)
        sbuf_adds(&b, text);
    else
        b.failed = true;
    free(text);
    enum MHD_Result ret = send_json(c, 200, &b);
    sbuf_free(&b);
    return ret;
}

static enum MHD_Result handle_health(struct server *sv, struct MHD_Connection *c)
{
    struct engine_stats s;
    engine_get_stats(sv->engine, &s);
    struct sbuf b = {0};
    sbuf_addf(&b, "{\"status\":\"ok\",\"slots_total\":%d,\"slots_busy\":%d,\"slots_idle\":%d,\"queue_depth\":%d,"
              "\"queue_capacity\":%d}", s.slots_total, s.slots_busy, s.slots_total - s.slots_busy, s.queue_depth,
              s.queue_capacity);
    enum MHD_Result ret = send_json(c, 200, &b);
    sbuf_free(&b);
    return ret;
}

static enum MHD_Result handle_metrics(struct server *sv, struct MHD_Connection *c)
{
    struct engine_stats s;
    engine_get_stats(sv->engine, &s);
    struct sbuf b = {0};
#define METRIC(name, type, help, fmt, value)                                                                   \
    sbuf_addf(&b, "# HELP owl_" name " " help "\n# TYPE owl_" name " " type "\nowl_" name " " fmt "\n", value)
    METRIC("requests_total", "counter", "Generation requests accepted.", "%lld", s.requests_total);
    METRIC("requests_rejected_total", "counter", "Requests refused with 429 (queue full).", "%lld",
           s.requests_rejected);
    METRIC("requests_invalid_total", "counter", "Requests refused with a 4xx error before generation.", "%lld",
           s.requests_failed);
    METRIC("requests_cancelled_total", "counter", "Requests whose client went away before the end.", "%lld",
           s.requests_cancelled);
    METRIC("prompt_tokens_total", "counter", "Prompt tokens of accepted requests.", "%lld", s.prompt_tokens_total);
    METRIC("prompt_tokens_cached_total", "counter",
           "Prompt tokens reused from a slot's cache (common prefix in whole --batch chunks) instead of evaluated.",
           "%lld", s.prompt_tokens_cached);
    METRIC("completion_tokens_total", "counter", "Tokens generated.", "%lld", s.completion_tokens_total);
    METRIC("engine_busy_seconds_total", "counter", "Seconds the engine thread spent stepping.", "%.6f",
           s.busy_seconds);
    METRIC("generation_tokens_per_second", "gauge", "Completion tokens per busy engine second since start.",
           "%.3f", s.decode_tokens_per_second);
    METRIC("decode_steps_total", "counter", "Batched decode forwards (one per engine step with decoding slots).",
           "%lld", s.decode_steps);
    METRIC("decode_batch_tokens_total", "counter", "Sequences decoded by those forwards (mean batch size = this / "
           "decode_steps_total).", "%lld", s.decode_batch_tokens);
    METRIC("slots_total", "gauge", "Sequence slots (--parallel).", "%d", s.slots_total);
    METRIC("slots_busy", "gauge", "Slots running a request.", "%d", s.slots_busy);
    METRIC("queue_depth", "gauge", "Requests waiting for a slot.", "%d", s.queue_depth);
    METRIC("queue_capacity", "gauge", "Requests that may wait before 429s.", "%d", s.queue_capacity);
    METRIC("kv_cache_used_tokens", "gauge", "KV-cache positions in use over all slots.", "%lld", s.kv_tokens_used);
    METRIC("kv_cache_capacity_tokens", "gauge", "KV-cache positions over all slots.", "%lld", s.kv_tokens_capacity);
    METRIC("kv_cache_usage_ratio", "gauge", "Used / capacity.", "%.6f",
           s.kv_tokens_capacity ? (double)s.kv_tokens_used / (double)s.kv_tokens_capacity : 0.0);
#undef METRIC
    enum MHD_Result ret = b.failed ? send_json(c, 500, &b)
                                   : send_body(c, 200, "text/plain; version=0.0.4", b.p, b.n, NULL);
    sbuf_free(&b);
    return ret;
}

static bool authorized(struct server *sv, struct MHD_Connection *c)
{
    if (!sv->o->api_key || !sv->o->api_key[0])
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    /* compare without an early exit on the first differing byte */
    const char *k = sv->o->api_key;
    size_t hl = strlen(h), kl = strlen(k);
    unsigned diff = hl != kl;
    for (size_t i = 0; i < kl; i++)
        diff |= (unsigned)(unsigned char)k[i] ^ (unsigned)(unsigned char)(i < hl ? h[i] : 0);
    return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct server *sv = cls;
    (void)version;
    struct conn *cn = *con_cls;
    if (!cn) {
        cn = calloc(1, sizeof *cn);
        if (!cn)
            return MHD_NO;
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cn->too_big && cn->body.n + *upload_data_size > sv->o->max_body) {
            cn->too_big = true;
            sbuf_free(&cn->body);
        }
        if (!cn->too_big)
            sbuf_add(&cn->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cn->body.failed)
        ERR(500, "server_error", NULL, NULL, "out of memory reading the request body");
    const bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    const bool health = !strcmp(url, "/health") || !strcmp(url, "/v1/health"), metrics = !strcmp(url, "/metrics");
    if ((health || metrics) && !get)
        ERR(405, "invalid_request_error", NULL, NULL, "use GET for %s", url);
    if (health)
        return handle_health(sv, c);
    if (metrics)
        return handle_metrics(sv, c);
    if (strncmp(url, "/v1/", 4) != 0)
        ERR(404, "invalid_request_error", NULL, "not_found", "no endpoint %s %s", method, url);
    if (!authorized(sv, c))
        ERR(401, "authentication_error", NULL, "invalid_api_key", "missing or invalid API key (Authorization: "
            "Bearer ...)");
    if (!strcmp(url, "/v1/models")) {
        if (!get)
            ERR(405, "invalid_request_error", NULL, NULL, "use GET for %s", url);
        return handle_models(sv, c);
    }
    enum api_kind kind;
    if (!strcmp(url, "/v1/chat/completions"))
        kind = API_CHAT;
    else if (!strcmp(url, "/v1/completions"))
        kind = API_COMPLETION;
    else
        ERR(404, "invalid_request_error", NULL, "not_found", "no endpoint %s %s", method, url);
    if (!post)
        ERR(405, "invalid_request_error", NULL, NULL, "use POST for %s", url);
    return handle_generate(sv, c, cn, kind);
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct conn *cn = *con_cls;
    if (cn) {
        sbuf_free(&cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

/* The model id clients use: the alias, else the last path component of the model path. */
static void model_id(const char *path, char *buf, size_t size)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    snprintf(buf, size, "%.*s", (int)(n - b), path + b);
}

int server_run(const struct server_options *o)
{
    struct server sv = {.o = o, .created = (long long)time(NULL)};
    struct owl_error err = {0};
    struct owl_model *model = NULL;
    struct MHD_Daemon *d = NULL;
    char id[256];
    int rc = 1;
    pthread_mutex_init(&sv.tok_mu, NULL);
    pthread_mutex_init(&sv.id_mu, NULL);

    /* SIGINT/SIGTERM are taken by sigwait below; every thread started from here on blocks them */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct owl_model_params mp = owl_model_default_params();
    mp.n_threads = o->n_threads;
    mp.act = o->act;
    mp.load = o->load;
    if (owl_model_open(o->model_path, &mp, &model, &err) != OWL_OK ||
        owl_tokenizer_open(o->model_path, &sv.tok, &err) != OWL_OK) {
        fprintf(stderr, "owl serve: %s: %s\n", owl_status_name(err.status), err.message);
        goto fail;
    }
    if (o->alias)
        snprintf(id, sizeof id, "%s", o->alias);
    else
        model_id(o->model_path, id, sizeof id);
    sv.mi.id = id;
    const char *fmt = owl_chat_format_name(sv.tok);
    for (int f = CHAT_QWEN3; fmt && f <= CHAT_HARMONY; f++)
        if (!strcmp(fmt, chat_format_name((enum chat_format)f))) {
            sv.mi.format = (enum chat_format)f;
            sv.mi.has_format = true;
        }
    struct engine_params ep = {.model = model, .tokenizer = sv.tok, .mi = &sv.mi, .n_parallel = o->n_parallel,
                               .n_queue = o->n_queue, .n_ctx = o->n_ctx, .n_batch = o->n_batch, .kv = o->kv, .window_rows = o->window_rows,
                               .step_delay_ms = o->step_delay_ms};
    if (engine_start(&ep, &sv.engine, &err) != OWL_OK) {
        fprintf(stderr, "owl serve: %s: %s\n", owl_status_name(err.status), err.message);
        goto fail;
    }

    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(o->host, NULL, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "owl serve: cannot resolve host '%s' (an IPv4 address or name)\n", o->host);
        goto fail;
    }
    struct sockaddr_in addr;
    memcpy(&addr, ai->ai_addr, sizeof addr);
    freeaddrinfo(ai);
    addr.sin_port = htons((uint16_t)o->port);
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                         (uint16_t)o->port, NULL, NULL, handle, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
                         MHD_OPTION_NOTIFY_COMPLETED, request_done, &sv, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "owl serve: cannot listen on %s:%d\n", o->host, o->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host);
    printf("owl serve: listening on http://%s:%u (model %s, %d slots x %d tokens, chat format %s)\n", host,
           di ? di->port : (unsigned)o->port, id, o->n_parallel, engine_n_ctx(sv.engine), fmt ? fmt : "none");
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "owl serve: signal %d, shutting down\n", sig);
    rc = 0;
fail:
    engine_shutdown(sv.engine); /* every job ends, so connection threads return */
    if (d)
        MHD_stop_daemon(d);
    engine_stop(sv.engine);
    owl_tokenizer_free(sv.tok);
    owl_model_close(model);
    pthread_mutex_destroy(&sv.tok_mu);
    pthread_mutex_destroy(&sv.id_mu);
    return rc;
}
