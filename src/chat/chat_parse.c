/* chat_parse.c — the output side of the chat formats: stop tokens per family and a streaming parser that
 * splits a reply into reasoning, content and tool-call deltas (contract in chat.h).
 *
 * One small state machine for all formats: each state has a set of markers (its exits, plus the format's
 * stop markers) and a sink for the text between them. The fed bytes wait in buf only while a suffix of them
 * could still start a marker. Mirrors what vLLM's Qwen3 / DeepSeek reasoning parsers, the hermes and
 * DeepSeek tool parsers, and openai/harmony's StreamableParser do, in one pass over the bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat/chat.h"

enum state {
    PS_START,       /* Qwen3/DeepSeek before any output: a leading <think> opens reasoning */
    PS_REASONING,   /* until </think> */
    PS_CONTENT,
    PS_QWEN_TOOL,   /* <tool_call> body until </tool_call>, collected in acc */
    PS_DS_CALLS,    /* inside <｜tool▁calls▁begin｜>, between calls */
    PS_DS_TYPE,     /* V3: the call type ("function") before <｜tool▁sep｜> */
    PS_DS_NAME,     /* V3: the name up to "\n"; V3.1: up to <｜tool▁sep｜> */
    PS_DS_FENCE,    /* V3: "```json\n" before the arguments */
    PS_DS_ARGS,     /* until <｜tool▁call▁end｜> (V3: until the closing "\n```") */
    PS_DS_ARGS_END, /* V3: after the closing fence, until <｜tool▁call▁end｜> */
    PS_H_HEADER,    /* Harmony: a message header until <|message|>, collected in acc */
    PS_H_BODY,      /* Harmony: a message body, kind in p->body */
    PS_H_BETWEEN,   /* Harmony: after <|end|>, before the next <|start|> */
    PS_DONE,
};

enum sink { SINK_DROP, SINK_ACC, SINK_CONTENT, SINK_REASONING, SINK_ARGS };

#define MAX_MARKERS 8

static const char *const stops_qwen3[] = {"<|im_end|>", "<|endoftext|>", NULL};
static const char *const stops_deepseek[] = {"<｜end▁of▁sentence｜>", NULL};
static const char *const stops_harmony[] = {"<|return|>", "<|call|>", "<|endoftext|>", NULL};

const char *const *chat_stop_texts(enum chat_format format)
{
    switch (format) {
    case CHAT_QWEN3: return stops_qwen3;
    case CHAT_DEEPSEEK_V3:
    case CHAT_DEEPSEEK_V31: return stops_deepseek;
    case CHAT_HARMONY: return stops_harmony;
    }
    OWL_ASSERT(!"unknown chat format");
    return NULL;
}

enum owl_status chat_stop_tokens(enum chat_format format, chat_token_lookup_fn lookup, void *user,
                                 int32_t ids[CHAT_MAX_STOP_TOKENS], int *n_ids, struct owl_error *err)
{
    const char *const *texts = chat_stop_texts(format);
    *n_ids = 0;
    for (int i = 0; texts[i]; i++) {
        OWL_ASSERT(i < CHAT_MAX_STOP_TOKENS);
        int32_t id = lookup(user, texts[i]);
        if (id < 0 && i == 0)
            return fail(err, OWL_ERR_BAD_FILE, "tokenizer: expected the token %s for the %s chat format, got none",
                        texts[i], chat_format_name(format));
        if (id >= 0)
            ids[(*n_ids)++] = id;
    }
    return OWL_OK;
}

struct chat_parse_options chat_parse_default_options(enum chat_format format, const struct chat_options *render_opt)
{
    struct chat_parse_options o = {0};
    /* Only V3.1's generation prompt opens the block (<｜Assistant｜><think>); Qwen3's model writes its own. */
    o.reasoning_open = format == CHAT_DEEPSEEK_V31 && render_opt && render_opt->add_generation_prompt &&
                       render_opt->thinking == 1;
    return o;
}

void chat_parser_init(struct chat_parser *p, enum chat_format format, const struct chat_parse_options *opt)
{
    *p = (struct chat_parser){.format = format};
    bool open = opt && opt->reasoning_open;
    if (format == CHAT_HARMONY) {
        p->state = open ? PS_H_BODY : PS_H_HEADER;
        p->body = CHAT_DELTA_REASONING;
    } else {
        p->state = open ? PS_REASONING : PS_START;
        p->trim_lead = open;
    }
}

void chat_parser_free(struct chat_parser *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p->acc);
    p->buf = p->acc = NULL;
    p->n = p->cap = p->n_acc = p->cap_acc = 0;
}

static void append(char **b, size_t *n, size_t *cap, const char *s, size_t len)
{
    if (*n + len > *cap) {
        *cap = (*n + len) * 2 + 64;
        *b = xrealloc(*b, *cap);
    }
    if (len)
        memcpy(*b + *n, s, len);
    *n += len;
}

struct out {
    chat_delta_fn fn;
    void *user;
};

static void deliver(struct chat_parser *p, const struct out *o, enum chat_delta_kind kind, const char *s, size_t len)
{
    if (len == 0)
        return;
    bool tool = kind == CHAT_DELTA_TOOL_NAME || kind == CHAT_DELTA_TOOL_ARGS;
    struct chat_delta d = {.kind = kind, .tool_index = tool ? p->n_tool_calls - 1 : 0, .text = s, .len = len};
    o->fn(o->user, &d);
}

static void begin_tool(struct chat_parser *p, const struct out *o, const char *name, size_t len)
{
    p->n_tool_calls++;
    deliver(p, o, CHAT_DELTA_TOOL_NAME, name, len);
}

static enum sink sink_of(const struct chat_parser *p)
{
    switch (p->state) {
    case PS_REASONING: return SINK_REASONING;
    case PS_CONTENT:
    case PS_H_BETWEEN: return SINK_CONTENT;
    case PS_QWEN_TOOL:
    case PS_DS_NAME:
    case PS_DS_FENCE:
    case PS_H_HEADER: return SINK_ACC;
    case PS_DS_ARGS: return SINK_ARGS;
    case PS_H_BODY:
        return p->body == CHAT_DELTA_REASONING ? SINK_REASONING
               : p->body == CHAT_DELTA_CONTENT ? SINK_CONTENT
                                               : SINK_ARGS;
    default: return SINK_DROP;
    }
}

/* Text between markers, to the current state's sink: drops leading '\n's of a segment (trim_lead) and keeps
 * a think block's trailing '\n's back until more reasoning follows (they are dropped at </think>). Harmony
 * bodies pass unchanged. */
static void emit(struct chat_parser *p, const struct out *o, const char *s, size_t len)
{
    enum sink k = sink_of(p);
    if (k == SINK_DROP || len == 0)
        return;
    if (k == SINK_ACC) {
        append(&p->acc, &p->n_acc, &p->cap_acc, s, len);
        return;
    }
    if (p->trim_lead) {
        while (len > 0 && *s == '\n')
            s++, len--;
        if (len == 0)
            return;
        p->trim_lead = false;
    }
    if (k == SINK_REASONING && p->format != CHAT_HARMONY) {
        size_t nl = 0;
        while (nl < len && s[len - 1 - nl] == '\n')
            nl++;
        if (nl == len) {
            p->held_nl += nl;
            return;
        }
        static const char newlines[] = "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n";
        for (size_t h = p->held_nl; h > 0;) {
            size_t c = h < sizeof newlines - 1 ? h : sizeof newlines - 1;
            deliver(p, o, CHAT_DELTA_REASONING, newlines, c);
            h -= c;
        }
        p->held_nl = nl;
        deliver(p, o, CHAT_DELTA_REASONING, s, len - nl);
        return;
    }
    deliver(p, o, k == SINK_CONTENT ? CHAT_DELTA_CONTENT : k == SINK_REASONING ? CHAT_DELTA_REASONING
                                                                               : CHAT_DELTA_TOOL_ARGS, s, len);
}

/* The markers the current state watches for: its exits, then the format's stops. */
static int markers(const struct chat_parser *p, const char *m[MAX_MARKERS])
{
    int n = 0;
    bool v3 = p->format == CHAT_DEEPSEEK_V3;
    switch (p->state) {
    case PS_REASONING: m[n++] = "</think>"; break;
    case PS_CONTENT:
        if (p->format == CHAT_QWEN3)
            m[n++] = "<tool_call>";
        else
            m[n++] = "<｜tool▁calls▁begin｜>";
        break;
    case PS_QWEN_TOOL: m[n++] = "</tool_call>"; break;
    case PS_DS_CALLS:
        m[n++] = "<｜tool▁call▁begin｜>";
        m[n++] = "<｜tool▁calls▁end｜>";
        break;
    case PS_DS_TYPE:
        m[n++] = "<｜tool▁sep｜>";
        m[n++] = "<｜tool▁call▁end｜>";
        break;
    case PS_DS_NAME:
        m[n++] = v3 ? "\n" : "<｜tool▁sep｜>";
        m[n++] = "<｜tool▁call▁end｜>";
        break;
    case PS_DS_FENCE:
        m[n++] = "```json\n";
        m[n++] = "<｜tool▁call▁end｜>";
        break;
    case PS_DS_ARGS:
        if (v3)
            m[n++] = "\n```";
        m[n++] = "<｜tool▁call▁end｜>";
        break;
    case PS_DS_ARGS_END: m[n++] = "<｜tool▁call▁end｜>"; break;
    case PS_H_HEADER:
        m[n++] = "<|message|>";
        m[n++] = "<|start|>";
        m[n++] = "<|end|>";
        break;
    case PS_H_BODY:
        m[n++] = "<|end|>";
        m[n++] = "<|start|>";
        m[n++] = "<|channel|>";
        break;
    case PS_H_BETWEEN:
        m[n++] = "<|start|>";
        m[n++] = "<|channel|>";
        break;
    default: break;
    }
    for (const char *const *s = chat_stop_texts(p->format); *s; s++)
        m[n++] = *s;
    OWL_ASSERT(n <= MAX_MARKERS);
    return n;
}

static bool is_stop(const struct chat_parser *p, const char *marker)
{
    for (const char *const *s = chat_stop_texts(p->format); *s; s++)
        if (*s == marker)
            return true;
    return false;
}

/* Parse a Qwen3 tool-call body {"name": N, "arguments": A}; false when it is not one. */
static bool qwen_tool(struct chat_parser *p, const struct out *o)
{
    json_error_t jerr;
    json_t *j = json_loadb(p->acc, p->n_acc, 0, &jerr);
    const json_t *name = json_object_get(j, "name"), *args = json_object_get(j, "arguments");
    bool ok = json_is_string(name);
    if (ok) {
        begin_tool(p, o, json_string_value(name), json_string_length(name));
        if (json_is_string(args)) {
            deliver(p, o, CHAT_DELTA_TOOL_ARGS, json_string_value(args), json_string_length(args));
        } else if (args) {
            char *s = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
            OWL_ASSERT(s);
            deliver(p, o, CHAT_DELTA_TOOL_ARGS, s, strlen(s));
            free(s);
        }
    }
    json_decref(j);
    return ok;
}

/* The current state is being left without its normal exit (a stop marker, the end of output, a malformed
 * sequence): whatever it collected goes out as content so no text is lost. */
static void abandon(struct chat_parser *p, const struct out *o)
{
    if (p->state == PS_QWEN_TOOL && !qwen_tool(p, o)) {
        deliver(p, o, CHAT_DELTA_CONTENT, "<tool_call>", 11);
        deliver(p, o, CHAT_DELTA_CONTENT, p->acc, p->n_acc);
    } else if (p->state == PS_DS_NAME || p->state == PS_H_HEADER) {
        deliver(p, o, CHAT_DELTA_CONTENT, p->acc, p->n_acc);
    } else if (p->state == PS_DS_FENCE) {
        deliver(p, o, CHAT_DELTA_TOOL_ARGS, p->acc, p->n_acc); /* arguments without a fence */
    }
    p->n_acc = 0;
    p->held_nl = 0;
}

/* Harmony header text (e.g. "<|channel|>commentary to=functions.f <|constrain|>json", "assistant to=f
 * <|channel|>analysis"): the value after key up to a space or '<', or NULL. */
static const char *header_field(const char *h, size_t n, const char *key, size_t *len)
{
    size_t k = strlen(key);
    for (size_t i = 0; i + k <= n; i++) {
        bool boundary = i == 0 || h[i - 1] == ' ' || h[i - 1] == '>' || key[0] == '<';
        if (boundary && memcmp(h + i, key, k) == 0) {
            size_t e = i + k;
            while (e < n && h[e] != ' ' && h[e] != '<')
                e++;
            *len = e - (i + k);
            return h + i + k;
        }
    }
    return NULL;
}

static void harmony_body(struct chat_parser *p, const struct out *o)
{
    size_t nc = 0, nr = 0;
    const char *ch = header_field(p->acc, p->n_acc, "<|channel|>", &nc);
    const char *to = header_field(p->acc, p->n_acc, "to=", &nr);
    if (to && nr > 0) {
        if (nr > 10 && memcmp(to, "functions.", 10) == 0)
            to += 10, nr -= 10;
        begin_tool(p, o, to, nr);
        p->body = CHAT_DELTA_TOOL_ARGS;
    } else if (ch && nc == 8 && memcmp(ch, "analysis", 8) == 0) {
        p->body = CHAT_DELTA_REASONING;
    } else {
        p->body = CHAT_DELTA_CONTENT; /* final, commentary preambles, unknown or missing channels */
    }
    p->n_acc = 0;
    p->state = PS_H_BODY;
}

/* Leave the current state through marker m. */
static void take(struct chat_parser *p, const struct out *o, const char *m)
{
    if (is_stop(p, m)) {
        abandon(p, o);
        p->stopped = true;
        p->stop = m;
        p->state = PS_DONE;
        return;
    }
    int next = p->state;
    switch (p->state) {
    case PS_REASONING:
        p->held_nl = 0;
        next = PS_CONTENT;
        break;
    case PS_CONTENT: next = p->format == CHAT_QWEN3 ? PS_QWEN_TOOL : PS_DS_CALLS; break;
    case PS_QWEN_TOOL:
        if (!qwen_tool(p, o)) {
            deliver(p, o, CHAT_DELTA_CONTENT, "<tool_call>", 11);
            deliver(p, o, CHAT_DELTA_CONTENT, p->acc, p->n_acc);
            deliver(p, o, CHAT_DELTA_CONTENT, "</tool_call>", 12);
        }
        p->n_acc = 0;
        next = PS_CONTENT;
        break;
    case PS_DS_CALLS:
        next = strcmp(m, "<｜tool▁calls▁end｜>") == 0 ? PS_CONTENT
               : p->format == CHAT_DEEPSEEK_V3      ? PS_DS_TYPE
                                                    : PS_DS_NAME;
        break;
    case PS_DS_TYPE: next = strcmp(m, "<｜tool▁sep｜>") == 0 ? PS_DS_NAME : PS_DS_CALLS; break;
    case PS_DS_NAME:
        if (strcmp(m, "<｜tool▁call▁end｜>") == 0) { /* no arguments */
            abandon(p, o);
            next = PS_DS_CALLS;
            break;
        }
        begin_tool(p, o, p->acc, p->n_acc);
        p->n_acc = 0;
        next = p->format == CHAT_DEEPSEEK_V3 ? PS_DS_FENCE : PS_DS_ARGS;
        break;
    case PS_DS_FENCE:
        if (strcmp(m, "<｜tool▁call▁end｜>") == 0) {
            abandon(p, o);
            next = PS_DS_CALLS;
        } else {
            p->n_acc = 0;
            next = PS_DS_ARGS;
        }
        break;
    case PS_DS_ARGS: next = m[0] == '\n' ? PS_DS_ARGS_END : PS_DS_CALLS; break;
    case PS_DS_ARGS_END: next = PS_DS_CALLS; break;
    case PS_H_HEADER:
        if (strcmp(m, "<|message|>") == 0) {
            harmony_body(p, o);
            return;
        }
        abandon(p, o); /* a header cut short by <|start|> or <|end|> */
        next = strcmp(m, "<|start|>") == 0 ? PS_H_HEADER : PS_H_BETWEEN;
        break;
    case PS_H_BODY:
    case PS_H_BETWEEN:
        p->held_nl = 0;
        next = strcmp(m, "<|end|>") == 0 ? PS_H_BETWEEN : PS_H_HEADER;
        if (strcmp(m, "<|channel|>") == 0) /* a header without <|end|><|start|>: the marker is its first part */
            append(&p->acc, &p->n_acc, &p->cap_acc, m, strlen(m));
        break;
    default: OWL_ASSERT(!"marker in a state without markers");
    }
    p->state = next;
    /* Newlines after the think tags and between tool calls are layout, not text. */
    p->trim_lead = p->format != CHAT_HARMONY && (next == PS_CONTENT || next == PS_REASONING);
}

/* Classify as much of buf as is certain; with end set, all of it. */
static void run(struct chat_parser *p, const struct out *o, bool end)
{
    size_t at = 0;
    while (p->state != PS_DONE && at < p->n) {
        const char *s = p->buf + at;
        size_t n = p->n - at;
        if (p->state == PS_START) {
            static const char think[] = "<think>";
            size_t k = n < 7 ? n : 7;
            if (memcmp(s, think, k) != 0) {
                p->state = PS_CONTENT;
            } else if (k == 7) {
                at += 7;
                p->state = PS_REASONING;
                p->trim_lead = true;
            } else if (end) {
                p->state = PS_CONTENT;
            } else {
                break; /* a prefix of <think>: wait */
            }
            continue;
        }
        const char *m[MAX_MARKERS];
        int nm = markers(p, m);
        size_t best = n, best_len = 0;
        int which = -1;
        for (int i = 0; i < nm; i++) {
            size_t ml = strlen(m[i]);
            for (size_t j = 0; j + ml <= n && j <= best; j++) {
                if (memcmp(s + j, m[i], ml) == 0) {
                    if (j < best || ml > best_len)
                        best = j, best_len = ml, which = i;
                    break;
                }
            }
        }
        if (which >= 0) {
            emit(p, o, s, best);
            at += best + best_len;
            take(p, o, m[which]);
            continue;
        }
        /* No marker: hold back the longest suffix that is a proper prefix of one. */
        size_t hold = 0;
        if (!end) {
            for (int i = 0; i < nm; i++) {
                size_t ml = strlen(m[i]);
                for (size_t h = (ml - 1 < n ? ml - 1 : n); h > hold; h--)
                    if (memcmp(s + n - h, m[i], h) == 0) {
                        hold = h;
                        break;
                    }
            }
        }
        emit(p, o, s, n - hold);
        at += n - hold;
        break;
    }
    if (p->state == PS_DONE)
        at = p->n;
    if (at == 0) /* nothing consumed (buf may still be NULL) */
        return;
    memmove(p->buf, p->buf + at, p->n - at);
    p->n -= at;
}

bool chat_parser_feed(struct chat_parser *p, const char *text, size_t len, chat_delta_fn emit_fn, void *user)
{
    if (p->stopped || len == 0)
        return p->stopped;
    struct out o = {emit_fn, user};
    append(&p->buf, &p->n, &p->cap, text, len);
    run(p, &o, false);
    return p->stopped;
}

void chat_parser_finish(struct chat_parser *p, chat_delta_fn emit_fn, void *user)
{
    struct out o = {emit_fn, user};
    run(p, &o, true);
    if (!p->stopped) {
        abandon(p, &o);
        p->state = PS_DONE;
    }
}
