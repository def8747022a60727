/* api.h — the OpenAI JSON mapping of `owl serve`: request bodies of /v1/chat/completions and /v1/completions
 * into a gen_request (with 400-style messages naming the field), and the reply side: the deltas of one
 * generation (content, reasoning, tool calls) into a whole response body or into SSE chunks, OpenAI's error
 * shape, and stop-string matching over streamed text. No HTTP and no threads here: the unit test feeds it
 * synthetic deltas (tests/server/test_server_api.c). Mirrors the shapes of OpenAI's chat.completion,
 * chat.completion.chunk and text_completion objects (reasoning_content as vLLM / llama.cpp / DeepSeek send it).
 */
#ifndef OWL_SERVER_API_H
#define OWL_SERVER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/chat.h"
#include "sample/sample.h"

/* A growable byte buffer for request-driven text. Appends never abort: on allocation failure `failed` is
 * set, later appends are ignored, and the owner answers 500 (DESIGN: request-driven allocations fail the
 * request, not the server). */
struct sbuf {
    char *p; /* (n) owned, NUL-terminated when n > 0 */
    size_t n, cap;
    bool failed;
};
void sbuf_add(struct sbuf *b, const char *s, size_t len);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addf(struct sbuf *b, const char *fmt, ...) OWL_PRINTF(2, 3);
void sbuf_free(struct sbuf *b);

enum api_kind { API_CHAT, API_COMPLETION };

#define API_MAX_STOP 4 /* OpenAI allows up to 4 stop sequences */

/* One generation request, parsed and validated. All strings owned (api_request_free). */
struct gen_request {
    enum api_kind kind;
    char *model;               /* as the client named it */
    bool stream, include_usage; /* stream_options.include_usage */
    /* chat: messages rendered by the format's template; completion: the prompt as given */
    char *prompt;
    bool reasoning_open;       /* chat: the rendered prompt already opened the reasoning block */
    int max_tokens;            /* completion tokens (reasoning included); < 0: until the context is full */
    struct sampler_params sp;  /* temperature 0 = greedy */
    bool seeded;               /* seed given by the client */
    float presence_penalty, frequency_penalty; /* OpenAI: logit -= freq * count + presence * (count > 0) */
    char *stop[API_MAX_STOP];  /* stop strings (non-empty), matched on content */
    int n_stop;
    bool ignore_eos;           /* owl/llama.cpp extension: generate past end-of-turn tokens */
};
void api_request_free(struct gen_request *r); /* NULL-safe */

/* What a request parser needs to know about the served model. */
struct api_model_info {
    const char *id;       /* the model name clients use (GET /v1/models) */
    bool has_format;      /* a chat format exists (else /v1/chat/completions answers 400) */
    enum chat_format format;
};

/* An error for the client: HTTP status + OpenAI error fields. */
struct api_error {
    int http_status;   /* 400, 401, 404, 413, 429, 500, 503 */
    const char *type;  /* "invalid_request_error", "authentication_error", "server_error", ... */
    const char *param; /* offending field name or NULL; static or pointing into the request body */
    const char *code;  /* "context_length_exceeded", "model_not_found", ... or NULL */
    char message[512];
};
/* Fill e and return false (for `return api_fail(...)`). */
bool api_fail(struct api_error *e, int http_status, const char *type, const char *param, const char *code,
              const char *fmt, ...) OWL_PRINTF(6, 7);
/* The body {"error": {"message", "type", "param", "code"}} into out. */
void api_error_json(const struct api_error *e, struct sbuf *out);

/* Parse a request body (len bytes, not necessarily NUL-terminated) for kind. Chat messages are rendered
 * with the model's chat format into r->prompt (reasoning control: reasoning_effort, reasoning.effort,
 * chat_template_kwargs.enable_thinking / .thinking; tools). Unknown fields are ignored; wrong types,
 * malformed JSON, an unknown model or a template error return false with e filled (400). On success r owns
 * its strings; on failure r is freed. */
bool api_parse_request(enum api_kind kind, const char *body, size_t len, const struct api_model_info *mi,
                       struct gen_request *r, struct api_error *e);

struct api_usage {
    int prompt_tokens, completion_tokens, reasoning_tokens;
    int cached_tokens; /* prompt tokens reused from the slot's cache (prompt_tokens_details.cached_tokens) */
};

/* The reply of one request: receives deltas as they are generated; writes SSE chunks (stream) or, at
 * the end, the whole response body. */
struct reply {
    enum api_kind kind;
    bool stream, include_usage;
    char id[48];
    long long created;
    const char *model; /* borrowed (the request's) */
    bool sent_role;    /* stream: the first chunk (with role) went out */
    /* non-stream accumulation */
    struct sbuf content, reasoning;
    struct reply_tool {
        struct sbuf name, args;
    } *tools; /* (n_tools) owned */
    int n_tools;
    int n_tools_streamed; /* stream: tool calls begun (for finish_reason) */
};
void reply_init(struct reply *rp, const struct gen_request *r, const char *id, long long created);
void reply_free(struct reply *rp);
/* One delta (content / reasoning / tool name / tool args). Stream: appends a `data: {chunk}\n\n` to out. */
void reply_delta(struct reply *rp, const struct chat_delta *d, struct sbuf *out);
/* The end: finish_reason "stop" | "length" | "tool_calls" (set when tool calls were made and reason is
 * "stop"). Stream: the final chunk, the usage chunk when asked, then `data: [DONE]\n\n`. Otherwise the
 * whole chat.completion / text_completion body. */
void reply_finish(struct reply *rp, const char *finish_reason, const struct api_usage *u, struct sbuf *out);
/* Stream only: an error after the stream began, as `data: {"error": ...}\n\n` then [DONE]. */
void reply_stream_error(const struct api_error *e, struct sbuf *out);

/* Stop strings over streamed text: holds back a tail that could begin a stop string, and cuts the text at
 * the first match. */
struct stop_filter {
    char *const *stop; /* (n_stop) borrowed */
    int n_stop;
    struct sbuf held;
    bool matched;
};
/* Feed text; what is certain to precede any stop string is appended to out. Returns true once a stop
 * string has been matched (then the text from the match on is dropped, and so is everything fed later). */
bool stop_filter_feed(struct stop_filter *f, const char *text, size_t len, struct sbuf *out);
/* End of output: the held tail (no match is possible any more) into out. */
void stop_filter_flush(struct stop_filter *f, struct sbuf *out);
void stop_filter_free(struct stop_filter *f);

#endif
