/* api.c — OpenAI request parsing and response shaping for `owl serve` (see api.h). Field names and
 * defaults follow OpenAI's API reference: temperature 1, top_p 1, n 1; max_tokens and
 * max_completion_tokens are one limit; `stop` is a string or up to 4 strings. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"

/* ---- sbuf ---- */

void sbuf_add(struct sbuf *b, const char *s, size_t len)
{
    if (b->failed || len == 0)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

void sbuf_adds(struct sbuf *b, const char *s) { sbuf_add(b, s, strlen(s)); }

void sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sbuf_add(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sbuf_add(b, big, (size_t)n);
    free(big);
}

void sbuf_free(struct sbuf *b)
{
    free(b->p);
    *b = (struct sbuf){0};
}

/* ---- errors ---- */

bool api_fail(struct api_error *e, int http_status, const char *type, const char *param, const char *code,
              const char *fmt, ...)
{
    e->http_status = http_status;
    e->type = type;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

/* A JSON string of len bytes; text that is not valid UTF-8 (never expected: the detokenizer replaces it)
 * becomes U+FFFD rather than a NULL that would drop the field. */
static json_t *jstr(const char *s, size_t len)
{
    json_t *j = json_stringn(s ? s : "", s ? len : 0);
    return j ? j : json_string("\xEF\xBF\xBD");
}

static json_t *jstr_or_null(const char *s) { return s ? jstr(s, strlen(s)) : json_null(); }

/* Serialize j (stolen) compactly onto out; an allocation failure marks out failed. */
static void dump_json(json_t *j, struct sbuf *out)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!s)
        out->failed = true;
    else
        sbuf_adds(out, s);
    free(s);
    json_decref(j);
}

void api_error_json(const struct api_error *e, struct sbuf *out)
{
    json_t *err = json_object();
    json_object_set_new(err, "message", jstr(e->message, strlen(e->message)));
    json_object_set_new(err, "type", json_string(e->type ? e->type : "invalid_request_error"));
    json_object_set_new(err, "param", jstr_or_null(e->param));
    json_object_set_new(err, "code", jstr_or_null(e->code));
    json_t *j = json_object();
    json_object_set_new(j, "error", err);
    dump_json(j, out);
}

/* ---- request parsing ---- */

void api_request_free(struct gen_request *r)
{
    if (!r)
        return;
    free(r->model);
    free(r->prompt);
    for (int i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    *r = (struct gen_request){0};
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

#define BAD(param, ...) api_fail(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

/* An optional number field within [lo, hi]; absent or null keeps *out. */
static bool get_number(json_t *o, const char *key, double lo, double hi, double *out, struct api_error *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_number(v))
        return BAD(key, "'%s' must be a number", key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return BAD(key, "'%s' is %g, expected %g..%g", key, x, lo, hi);
    *out = x;
    return true;
}

static bool get_int(json_t *o, const char *key, long long lo, long long hi, long long *out, bool *given,
                    struct api_error *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v))
        return BAD(key, "'%s' must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return BAD(key, "'%s' is %lld, expected %lld..%lld", key, x, lo, hi);
    *out = x;
    if (given)
        *given = true;
    return true;
}

static bool get_bool(json_t *o, const char *key, bool *out, struct api_error *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v))
        return BAD(key, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    return true;
}

static bool get_string(json_t *o, const char *key, const char **out, struct api_error *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return BAD(key, "'%s' must be a string", key);
    *out = json_string_value(v);
    return true;
}

static bool get_object(json_t *o, const char *key, json_t **out, struct api_error *e)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_object(v))
        return BAD(key, "'%s' must be an object", key);
    *out = v;
    return true;
}

/* The fields both endpoints share: model, stream, sampling, limits, stop. */
static bool parse_common(json_t *j, const struct api_model_info *mi, struct gen_request *r, struct api_error *e)
{
    const char *model = NULL;
    if (!get_string(j, "model", &model, e))
        return false;
    if (model && strcmp(model, mi->id) != 0)
        return api_fail(e, 400, "invalid_request_error", "model", "model_not_found",
                        "The model '%s' does not exist; this server serves '%s'", model, mi->id);
    r->model = strdup(model ? model : mi->id);
    if (!get_bool(j, "stream", &r->stream, e))
        return false;
    json_t *so = NULL;
    if (!get_object(j, "stream_options", &so, e) || (so && !get_bool(so, "include_usage", &r->include_usage, e)))
        return false;
    long long n = 1, max_tokens = -1, top_k = 0, seed = 0;
    if (!get_int(j, "n", 1, 1, &n, NULL, e))
        return false;
    if (!get_int(j, "max_tokens", 1, INT32_MAX, &max_tokens, NULL, e) ||
        !get_int(j, "max_completion_tokens", 1, INT32_MAX, &max_tokens, NULL, e))
        return false;
    r->max_tokens = (int)max_tokens;
    double temperature = 1.0, top_p = 1.0, min_p = 0.0, pres = 0.0, freq = 0.0;
    if (!get_number(j, "temperature", 0.0, 2.0, &temperature, e) || !get_number(j, "top_p", 0.0, 1.0, &top_p, e) ||
        !get_number(j, "min_p", 0.0, 1.0, &min_p, e) || !get_int(j, "top_k", 0, INT32_MAX, &top_k, NULL, e) ||
        !get_int(j, "seed", INT64_MIN, INT64_MAX, &seed, &r->seeded, e) ||
        !get_number(j, "presence_penalty", -2.0, 2.0, &pres, e) ||
        !get_number(j, "frequency_penalty", -2.0, 2.0, &freq, e) || !get_bool(j, "ignore_eos", &r->ignore_eos, e))
        return false;
    r->sp = (struct sampler_params){.temperature = (float)temperature, .top_k = (int)top_k, .top_p = (float)top_p,
                                    .min_p = (float)min_p, .seed = (uint64_t)seed};
    r->presence_penalty = (float)pres;
    r->frequency_penalty = (float)freq;
    json_t *stop = json_object_get(j, "stop");
    if (stop && !json_is_null(stop)) {
        json_t *one = json_is_string(stop) ? stop : NULL;
        if (!one && !json_is_array(stop))
            return BAD("stop", "'stop' must be a string or an array of strings");
        size_t n_stop = one ? 1 : json_array_size(stop);
        if (n_stop > API_MAX_STOP)
            return BAD("stop", "'stop' has %zu sequences, at most %d are allowed", n_stop, API_MAX_STOP);
        for (size_t i = 0; i < n_stop; i++) {
            json_t *s = one ? one : json_array_get(stop, i);
            if (!json_is_string(s))
                return BAD("stop", "'stop' must be a string or an array of strings");
            if (json_string_length(s) == 0)
                continue;
            if (!(r->stop[r->n_stop++] = strdup(json_string_value(s))))
                return api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        }
    }
    return true;
}

/* A message's content: a string, null, or an array of {"type": "text", "text": ...} parts (joined). */
static bool message_content(json_t *m, size_t i, struct sbuf *text, bool *present, struct api_error *e)
{
    json_t *c = json_object_get(m, "content");
    *present = c && !json_is_null(c);
    if (!*present)
        return true;
    if (json_is_string(c)) {
        sbuf_add(text, json_string_value(c), json_string_length(c));
        return true;
    }
    if (!json_is_array(c))
        return BAD("messages", "messages[%zu].content must be a string or an array of content parts", i);
    for (size_t k = 0; k < json_array_size(c); k++) {
        json_t *part = json_array_get(c, k), *t = json_object_get(part, "text");
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!json_is_object(part) || !type || strcmp(type, "text") != 0 || !json_is_string(t))
            return BAD("messages", "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": ...} parts are "
                       "supported", i, k);
        sbuf_add(text, json_string_value(t), json_string_length(t));
    }
    return true;
}

/* Reasoning control in the forms clients send, mapped onto the format's template switches. */
static bool reasoning_control(json_t *j, const struct api_model_info *mi, struct chat_options *opt,
                              struct api_error *e)
{
    const char *effort = NULL;
    json_t *reasoning = NULL, *kw = NULL;
    if (!get_string(j, "reasoning_effort", &effort, e) || !get_object(j, "reasoning", &reasoning, e) ||
        (reasoning && !get_string(reasoning, "effort", &effort, e)) ||
        !get_object(j, "chat_template_kwargs", &kw, e))
        return false;
    if (effort) {
        static const char *const known[] = {"none", "minimal", "low", "medium", "high"};
        int k = 0;
        while (k < 5 && strcmp(effort, known[k]) != 0)
            k++;
        if (k == 5)
            return BAD("reasoning_effort", "reasoning effort '%s': expected none, minimal, low, medium or high",
                       effort);
        if (mi->format == CHAT_HARMONY)
            opt->reasoning_effort = k <= 2 ? "low" : known[k]; /* gpt-oss cannot turn reasoning off */
        else
            opt->thinking = k <= 1 ? 0 : 1;
    }
    bool on;
    if (kw) {
        json_t *v = json_object_get(kw, "enable_thinking");
        if (!v || json_is_null(v))
            v = json_object_get(kw, "thinking");
        if (v && !json_is_null(v)) {
            if (!json_is_boolean(v))
                return BAD("chat_template_kwargs", "chat_template_kwargs.enable_thinking / .thinking must be a "
                           "boolean");
            on = json_is_true(v);
            opt->thinking = on ? 1 : 0;
        }
        const char *kw_effort = NULL;
        if (!get_string(kw, "reasoning_effort", &kw_effort, e))
            return false;
        if (kw_effort && mi->format == CHAT_HARMONY &&
            (!strcmp(kw_effort, "low") || !strcmp(kw_effort, "medium") || !strcmp(kw_effort, "high")))
            opt->reasoning_effort = kw_effort;
    }
    return true;
}

static bool texts_failed(const struct sbuf *texts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (texts[i].failed)
            return true;
    return false;
}

static bool parse_chat(json_t *j, const struct api_model_info *mi, struct gen_request *r, struct api_error *e)
{
    if (!mi->has_format)
        return BAD(NULL, "this model has no chat format; use /v1/completions");
    json_t *msgs = json_object_get(j, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return BAD("messages", "'messages' must be a non-empty array");
    const size_t n = json_array_size(msgs);
    struct chat_message *cm = calloc(n, sizeof *cm);
    struct sbuf *texts = calloc(n, sizeof *texts);
    struct chat_tool_call **calls = calloc(n, sizeof *calls);
    char **tool_args = NULL; /* arguments given as objects, serialized */
    size_t n_tool_args = 0;
    char *tools_text = NULL;
    bool ok = cm && texts && calls;
    if (!ok)
        api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role) {
            ok = BAD("messages", "messages[%zu] must be an object with a string 'role'", i);
            break;
        }
        bool present;
        if (!(ok = message_content(m, i, &texts[i], &present, e)))
            break;
        cm[i].role = role;
        cm[i].content = present ? (texts[i].p ? texts[i].p : "") : NULL;
        const char *reasoning = json_string_value(json_object_get(m, "reasoning_content"));
        if (!reasoning)
            reasoning = json_string_value(json_object_get(m, "reasoning"));
        cm[i].reasoning = reasoning;
        json_t *tc = json_object_get(m, "tool_calls");
        if (json_is_array(tc) && json_array_size(tc) > 0) {
            size_t k_n = json_array_size(tc);
            calls[i] = calloc(k_n, sizeof *calls[i]);
            char **grown = realloc(tool_args, (n_tool_args + k_n) * sizeof *tool_args);
            if (grown)
                tool_args = grown;
            if (!calls[i] || !grown) {
                ok = api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
                break;
            }
            for (size_t k = 0; k < k_n; k++) {
                json_t *f = json_object_get(json_array_get(tc, k), "function");
                const char *name = json_string_value(json_object_get(f, "name"));
                json_t *args = json_object_get(f, "arguments");
                if (!name) {
                    ok = BAD("messages", "messages[%zu].tool_calls[%zu].function.name must be a string", i, k);
                    break;
                }
                const char *a = json_string_value(args);
                if (!a && args) {
                    tool_args[n_tool_args] = json_dumps(args, JSON_COMPACT);
                    a = tool_args[n_tool_args++];
                }
                calls[i][k] = (struct chat_tool_call){.name = name, .arguments = a ? a : "{}"};
            }
            cm[i].tool_calls = calls[i];
            cm[i].n_tool_calls = (int)k_n;
        }
    }
    struct chat_options opt = chat_default_options();
    opt.add_generation_prompt = true;
    json_t *tools = json_object_get(j, "tools");
    if (ok && tools && !json_is_null(tools)) {
        if (!json_is_array(tools))
            ok = BAD("tools", "'tools' must be an array");
        else if (json_array_size(tools) > 0)
            opt.tools = tools_text = json_dumps(tools, JSON_COMPACT);
    }
    ok = ok && reasoning_control(j, mi, &opt, e);
    if (ok) {
        struct owl_error err = {0};
        size_t len;
        if (chat_render(mi->format, cm, (int)n, &opt, &r->prompt, &len, &err) != OWL_OK)
            ok = BAD("messages", "%s", err.message);
        else if (texts_failed(texts, n))
            ok = api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        r->reasoning_open = chat_parse_default_options(mi->format, &opt).reasoning_open;
    }
    for (size_t i = 0; i < n; i++) {
        if (texts)
            sbuf_free(&texts[i]);
        if (calls)
            free(calls[i]);
    }
    for (size_t i = 0; i < n_tool_args; i++)
        free(tool_args[i]);
    free(tool_args);
    free(tools_text);
    free(texts);
    free(calls);
    free(cm);
    return ok;
}

static bool parse_completion(json_t *j, struct gen_request *r, struct api_error *e)
{
    json_t *p = json_object_get(j, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1)
        p = json_array_get(p, 0);
    if (!json_is_string(p))
        return BAD("prompt", "'prompt' must be a string (or an array of one string)");
    r->prompt = dup_or_null(json_string_value(p));
    return r->prompt ? true : api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
}

bool api_parse_request(enum api_kind kind, const char *body, size_t len, const struct api_model_info *mi,
                       struct gen_request *r, struct api_error *e)
{
    *r = (struct gen_request){.kind = kind};
    json_error_t jerr;
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return BAD(NULL, "malformed JSON in the request body: %s (line %d, column %d)", jerr.text, jerr.line,
                   jerr.column);
    bool ok = json_is_object(j) ? true : BAD(NULL, "the request body must be a JSON object");
    ok = ok && parse_common(j, mi, r, e);
    ok = ok && (kind == API_CHAT ? parse_chat(j, mi, r, e) : parse_completion(j, r, e));
    /* the strings e->param may point at are static names, so j can go */
    json_decref(j);
    if (!ok)
        api_request_free(r);
    return ok;
}

/* ---- replies ---- */

void reply_init(struct reply *rp, const struct gen_request *r, const char *id, long long created)
{
    *rp = (struct reply){.kind = r->kind, .stream = r->stream, .include_usage = r->include_usage,
                         .created = created, .model = r->model};
    snprintf(rp->id, sizeof rp->id, "%s", id);
}

void reply_free(struct reply *rp)
{
    sbuf_free(&rp->content);
    sbuf_free(&rp->reasoning);
    for (int i = 0; i < rp->n_tools; i++) {
        sbuf_free(&rp->tools[i].name);
        sbuf_free(&rp->tools[i].args);
    }
    free(rp->tools);
    rp->tools = NULL;
    rp->n_tools = 0;
}

/* {"id", "object", "created", "model", "choices": [choice]} */
static json_t *envelope(const struct reply *rp, const char *object, json_t *choice)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(rp->id));
    json_object_set_new(j, "object", json_string(object));
    json_object_set_new(j, "created", json_integer(rp->created));
    json_object_set_new(j, "model", jstr_or_null(rp->model));
    json_t *choices = json_array();
    if (choice)
        json_array_append_new(choices, choice);
    json_object_set_new(j, "choices", choices);
    return j;
}

static void sse(json_t *j, struct sbuf *out)
{
    sbuf_adds(out, "data: ");
    dump_json(j, out);
    sbuf_adds(out, "\n\n");
}

static void tool_call_id(const struct reply *rp, int index, char *buf, size_t size)
{
    snprintf(buf, size, "call_%s_%d", rp->id, index);
}

static json_t *chat_chunk(const struct reply *rp, json_t *delta, const char *finish_reason)
{
    json_t *choice = json_object();
    json_object_set_new(choice, "index", json_integer(0));
    json_object_set_new(choice, "delta", delta);
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", jstr_or_null(finish_reason));
    return envelope(rp, "chat.completion.chunk", choice);
}

static json_t *text_choice(const char *text, size_t len, const char *finish_reason)
{
    json_t *choice = json_object();
    json_object_set_new(choice, "text", jstr(text, len));
    json_object_set_new(choice, "index", json_integer(0));
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", jstr_or_null(finish_reason));
    return choice;
}

static struct reply_tool *reply_tool(struct reply *rp, int index)
{
    if (index < 0 || index > rp->n_tools)
        return NULL;
    if (index == rp->n_tools) {
        struct reply_tool *t = realloc(rp->tools, ((size_t)rp->n_tools + 1) * sizeof *t);
        if (!t)
            return NULL;
        rp->tools = t;
        rp->tools[rp->n_tools++] = (struct reply_tool){0};
    }
    return &rp->tools[index];
}

void reply_delta(struct reply *rp, const struct chat_delta *d, struct sbuf *out)
{
    if (d->len == 0)
        return;
    if (!rp->stream) {
        struct reply_tool *t;
        switch (d->kind) {
        case CHAT_DELTA_CONTENT: sbuf_add(&rp->content, d->text, d->len); break;
        case CHAT_DELTA_REASONING: sbuf_add(&rp->reasoning, d->text, d->len); break;
        case CHAT_DELTA_TOOL_NAME:
        case CHAT_DELTA_TOOL_ARGS:
            if (!(t = reply_tool(rp, d->tool_index)))
                out->failed = true;
            else
                sbuf_add(d->kind == CHAT_DELTA_TOOL_NAME ? &t->name : &t->args, d->text, d->len);
            break;
        }
        return;
    }
    if (rp->kind == API_COMPLETION) {
        sse(envelope(rp, "text_completion", text_choice(d->text, d->len, NULL)), out);
        return;
    }
    if (!rp->sent_role) {
        json_t *delta = json_object();
        json_object_set_new(delta, "role", json_string("assistant"));
        json_object_set_new(delta, "content", json_string(""));
        sse(chat_chunk(rp, delta, NULL), out);
        rp->sent_role = true;
    }
    json_t *delta = json_object();
    if (d->kind == CHAT_DELTA_CONTENT || d->kind == CHAT_DELTA_REASONING) {
        json_object_set_new(delta, d->kind == CHAT_DELTA_CONTENT ? "content" : "reasoning_content",
                            jstr(d->text, d->len));
    } else {
        json_t *call = json_object(), *fn = json_object();
        json_object_set_new(call, "index", json_integer(d->tool_index));
        if (d->kind == CHAT_DELTA_TOOL_NAME) {
            char id[80];
            tool_call_id(rp, d->tool_index, id, sizeof id);
            json_object_set_new(call, "id", json_string(id));
            json_object_set_new(call, "type", json_string("function"));
            json_object_set_new(fn, "name", jstr(d->text, d->len));
            json_object_set_new(fn, "arguments", json_string(""));
            if (d->tool_index + 1 > rp->n_tools_streamed)
                rp->n_tools_streamed = d->tool_index + 1;
        } else {
            json_object_set_new(fn, "arguments", jstr(d->text, d->len));
        }
        json_object_set_new(call, "function", fn);
        json_t *calls = json_array();
        json_array_append_new(calls, call);
        json_object_set_new(delta, "tool_calls", calls);
    }
    sse(chat_chunk(rp, delta, NULL), out);
}

static json_t *usage_json(const struct api_usage *u)
{
    json_t *j = json_object(), *details = json_object(), *prompt_details = json_object();
    json_object_set_new(j, "prompt_tokens", json_integer(u->prompt_tokens));
    json_object_set_new(j, "completion_tokens", json_integer(u->completion_tokens));
    json_object_set_new(j, "total_tokens", json_integer(u->prompt_tokens + u->completion_tokens));
    json_object_set_new(details, "reasoning_tokens", json_integer(u->reasoning_tokens));
    json_object_set_new(j, "completion_tokens_details", details);
    json_object_set_new(prompt_details, "cached_tokens", json_integer(u->cached_tokens));
    json_object_set_new(j, "prompt_tokens_details", prompt_details);
    return j;
}

void reply_finish(struct reply *rp, const char *finish_reason, const struct api_usage *u, struct sbuf *out)
{
    if (rp->kind == API_CHAT && (rp->n_tools > 0 || rp->n_tools_streamed > 0) && !strcmp(finish_reason, "stop"))
        finish_reason = "tool_calls";
    if (rp->stream) {
        if (rp->kind == API_COMPLETION) {
            sse(envelope(rp, "text_completion", text_choice("", 0, finish_reason)), out);
        } else {
            if (!rp->sent_role) {
                json_t *delta = json_object();
                json_object_set_new(delta, "role", json_string("assistant"));
                json_object_set_new(delta, "content", json_string(""));
                sse(chat_chunk(rp, delta, NULL), out);
                rp->sent_role = true;
            }
            sse(chat_chunk(rp, json_object(), finish_reason), out);
        }
        if (rp->include_usage) {
            json_t *j = envelope(rp, rp->kind == API_CHAT ? "chat.completion.chunk" : "text_completion", NULL);
            json_object_set_new(j, "usage", usage_json(u));
            sse(j, out);
        }
        sbuf_adds(out, "data: [DONE]\n\n");
        return;
    }
    json_t *j;
    if (rp->kind == API_COMPLETION) {
        j = envelope(rp, "text_completion", text_choice(rp->content.p, rp->content.n, finish_reason));
    } else {
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", rp->content.n || !rp->n_tools ? jstr(rp->content.p, rp->content.n)
                                                                          : json_null());
        if (rp->reasoning.n)
            json_object_set_new(msg, "reasoning_content", jstr(rp->reasoning.p, rp->reasoning.n));
        if (rp->n_tools) {
            json_t *calls = json_array();
            for (int i = 0; i < rp->n_tools; i++) {
                json_t *call = json_object(), *fn = json_object();
                char id[80];
                tool_call_id(rp, i, id, sizeof id);
                json_object_set_new(call, "id", json_string(id));
                json_object_set_new(call, "type", json_string("function"));
                json_object_set_new(fn, "name", jstr(rp->tools[i].name.p, rp->tools[i].name.n));
                json_object_set_new(fn, "arguments", jstr(rp->tools[i].args.p, rp->tools[i].args.n));
                json_object_set_new(call, "function", fn);
                json_array_append_new(calls, call);
            }
            json_object_set_new(msg, "tool_calls", calls);
        }
        json_t *choice = json_object();
        json_object_set_new(choice, "index", json_integer(0));
        json_object_set_new(choice, "message", msg);
        json_object_set_new(choice, "logprobs", json_null());
        json_object_set_new(choice, "finish_reason", json_string(finish_reason));
        j = envelope(rp, "chat.completion", choice);
    }
    json_object_set_new(j, "usage", usage_json(u));
    if (rp->content.failed || rp->reasoning.failed)
        out->failed = true;
    dump_json(j, out);
}

void reply_stream_error(const struct api_error *e, struct sbuf *out)
{
    sbuf_adds(out, "data: ");
    api_error_json(e, out);
    sbuf_adds(out, "\n\ndata: [DONE]\n\n");
}

/* ---- stop strings ---- */

bool stop_filter_feed(struct stop_filter *f, const char *text, size_t len, struct sbuf *out)
{
    if (f->matched)
        return true;
    if (f->n_stop == 0) {
        sbuf_add(out, text, len);
        return false;
    }
    sbuf_add(&f->held, text, len);
    if (f->held.failed) {
        out->failed = true;
        return false;
    }
    const char *h = f->held.p ? f->held.p : "";
    const size_t n = f->held.n;
    size_t first = n;
    for (int i = 0; i < f->n_stop; i++) {
        const char *m = memmem(h, n, f->stop[i], strlen(f->stop[i]));
        if (m && (size_t)(m - h) < first)
            first = (size_t)(m - h);
    }
    if (first < n) {
        sbuf_add(out, h, first);
        f->matched = true;
        f->held.n = 0;
        return true;
    }
    /* keep the longest tail that is a proper prefix of some stop string */
    size_t keep = 0;
    for (int i = 0; i < f->n_stop; i++) {
        const size_t sl = strlen(f->stop[i]);
        for (size_t k = sl - 1 < n ? sl - 1 : n; k > keep; k--)
            if (memcmp(h + n - k, f->stop[i], k) == 0) {
                keep = k;
                break;
            }
    }
    sbuf_add(out, h, n - keep);
    memmove(f->held.p, h + n - keep, keep);
    f->held.n = keep;
    return false;
}

void stop_filter_flush(struct stop_filter *f, struct sbuf *out)
{
    if (!f->matched && f->held.n)
        sbuf_add(out, f->held.p, f->held.n);
    f->held.n = 0;
}

void stop_filter_free(struct stop_filter *f) { sbuf_free(&f->held); }
