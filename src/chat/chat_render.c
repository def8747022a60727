/* chat_render.c — the four prompt renderers, each a line-by-line transcription of its Jinja template
 * (tests/fixtures/chat/templates/), including the templates' quirks (DeepSeek-V3 closes the tool-call list
 * only after a second call; V3.1 JSON-encodes string arguments; Harmony drops earlier reasoning, and its
 * TypeScript tool rendering prints nested object properties after a newline and 16 spaces).
 * tojson is Python's json.dumps(ensure_ascii=False) as transformers installs it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "chat/chat.h"

struct sbuf {
    char *p;
    size_t n, cap;
};

static void put_n(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n) /* s may be NULL when n is 0 (an absent field) */
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put(struct sbuf *b, const char *s) { put_n(b, s, s ? strlen(s) : 0); }

/* Python json.dumps of a str, ensure_ascii=False. */
static void put_json_string(struct sbuf *b, const char *s)
{
    put(b, "\"");
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        switch (c) {
        case '"': put(b, "\\\""); break;
        case '\\': put(b, "\\\\"); break;
        case '\n': put(b, "\\n"); break;
        case '\r': put(b, "\\r"); break;
        case '\t': put(b, "\\t"); break;
        case '\b': put(b, "\\b"); break;
        case '\f': put(b, "\\f"); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                put(b, esc);
            } else {
                put_n(b, p, 1);
            }
        }
    }
    put(b, "\"");
}

/* tojson of a JSON value given as text (Harmony tool arguments, a dict in HF messages): re-serialized with
 * Python's separators (", ", ": "), key order kept; text that is not JSON is encoded as a string. */
static void put_json_value(struct sbuf *b, const char *text)
{
    json_error_t jerr;
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, &jerr) : NULL;
    char *s = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
    if (s)
        put(b, s);
    else
        put_json_string(b, text);
    free(s);
    json_decref(j);
}

static bool is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }
static const char *str(const char *s) { return s ? s : ""; }

static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }
static bool ends_with(const char *s, const char *p)
{
    size_t n = strlen(s), k = strlen(p);
    return n >= k && memcmp(s + n - k, p, k) == 0;
}

/* Last occurrence of needle in [s, s+n). */
static const char *rfind(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = n >= k ? n - k + 1 : 0; i-- > 0;)
        if (memcmp(s + i, needle, k) == 0)
            return s + i;
    return NULL;
}

/* json.dumps(v, ensure_ascii=False) with Python's default separators, key order kept. */
static void put_json(struct sbuf *b, const json_t *v)
{
    /* v is NULL for a field the client left out: Jinja prints an undefined value as nothing */
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
    if (!s)
        return;
    put(b, s);
    free(s);
}

/* ---- Qwen3 ---- */

static void qwen3_tools(struct sbuf *b, const struct chat_message *m, int n, const json_t *tools)
{
    put(b, "<|im_start|>system\n");
    if (n > 0 && is(m[0].role, "system")) {
        put(b, m[0].content);
        put(b, "\n\n");
    }
    put(b, "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with "
           "function signatures within <tools></tools> XML tags:\n<tools>");
    for (size_t t = 0; t < json_array_size(tools); t++) {
        put(b, "\n");
        put_json(b, json_array_get(tools, t));
    }
    put(b, "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
           "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
           "<args-json-object>}\n</tool_call><|im_end|>\n");
}

static enum owl_status render_qwen3(struct sbuf *b, const struct chat_message *m, int n, const struct chat_options *o,
                                    const json_t *tools, struct owl_error *err)
{
    if (tools) {
        qwen3_tools(b, m, n, tools);
    } else if (n > 0 && is(m[0].role, "system")) {
        put(b, "<|im_start|>system\n");
        put(b, m[0].content);
        put(b, "<|im_end|>\n");
    }
    int last_query = n - 1;
    for (int i = n - 1; i >= 0; i--) {
        const char *c = str(m[i].content);
        if (is(m[i].role, "user") && !(starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>"))) {
            last_query = i;
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        const char *role = m[i].role;
        if (is(role, "user") || (is(role, "system") && i != 0)) {
            put(b, "<|im_start|>");
            put(b, role);
            put(b, "\n");
            put(b, m[i].content);
            put(b, "<|im_end|>\n");
        } else if (is(role, "assistant")) {
            const char *c = str(m[i].content);
            size_t clen = strlen(c);
            const char *content = c, *reasoning = "";
            size_t rlen = 0;
            if (m[i].reasoning) {
                reasoning = m[i].reasoning;
                rlen = strlen(reasoning);
            } else if (strstr(c, "</think>")) {
                /* content.split('</think>')[-1].lstrip('\n') */
                content = rfind(c, clen, "</think>") + 8;
                while (*content == '\n')
                    content++;
                /* content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
                const char *end = strstr(c, "</think>");
                while (end > c && end[-1] == '\n')
                    end--;
                const char *open = rfind(c, (size_t)(end - c), "<think>");
                reasoning = open ? open + 7 : c;
                while (reasoning < end && *reasoning == '\n')
                    reasoning++;
                rlen = (size_t)(end - reasoning);
            }
            put(b, "<|im_start|>assistant\n");
            if (i > last_query && (i == n - 1 || rlen > 0)) {
                /* reasoning.strip('\n') */
                const char *r = reasoning, *re = reasoning + rlen;
                while (r < re && *r == '\n')
                    r++;
                while (re > r && re[-1] == '\n')
                    re--;
                put(b, "<think>\n");
                put_n(b, r, (size_t)(re - r));
                put(b, "\n</think>\n\n");
                while (*content == '\n')
                    content++;
            }
            put(b, content);
            for (int t = 0; t < m[i].n_tool_calls; t++) {
                if (t > 0 || *content)
                    put(b, "\n");
                put(b, "<tool_call>\n{\"name\": \"");
                put(b, m[i].tool_calls[t].name);
                put(b, "\", \"arguments\": ");
                put(b, m[i].tool_calls[t].arguments); /* a string: printed as is */
                put(b, "}\n</tool_call>");
            }
            put(b, "<|im_end|>\n");
        } else if (is(role, "tool")) {
            if (i == 0 || !is(m[i - 1].role, "tool"))
                put(b, "<|im_start|>user");
            put(b, "\n<tool_response>\n");
            put(b, m[i].content);
            put(b, "\n</tool_response>");
            if (i == n - 1 || !is(m[i + 1].role, "tool"))
                put(b, "<|im_end|>\n");
        } else if (!is(role, "system")) {
            return fail(err, OWL_ERR_INVALID_ARG, "messages[%d].role: expected system, user, assistant or tool, got %s",
                        i, str(role));
        }
    }
    if (o->add_generation_prompt) {
        put(b, "<|im_start|>assistant\n");
        if (o->thinking == 0)
            put(b, "<think>\n\n</think>\n\n");
    }
    return OWL_OK;
}

/* ---- DeepSeek ---- */

static const char *ds_bos(const struct chat_options *o)
{
    return o->bos ? o->bos : "<｜begin▁of▁sentence｜>";
}

static void ds_system(struct sbuf *b, const struct chat_message *m, int n, const struct chat_options *o)
{
    put(b, ds_bos(o));
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!is(m[i].role, "system"))
            continue;
        if (!first)
            put(b, "\n\n");
        put(b, m[i].content);
        first = false;
    }
}

static enum owl_status render_deepseek_v3(struct sbuf *b, const struct chat_message *m, int n,
                                          const struct chat_options *o, struct owl_error *err)
{
    ds_system(b, m, n, o);
    bool is_first = false, is_tool = false, is_output_first = true;
    for (int i = 0; i < n; i++) {
        const char *role = m[i].role;
        if (is(role, "user")) {
            is_tool = false;
            put(b, "<｜User｜>");
            put(b, m[i].content);
        } else if (is(role, "assistant") && !m[i].content) {
            is_tool = false;
            for (int t = 0; t < m[i].n_tool_calls; t++) {
                const struct chat_tool_call *c = &m[i].tool_calls[t];
                /* is_first is never reset: the list is closed after every call but the conversation's first */
                bool later = is_first;
                put(b, later ? "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>"
                             : "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>");
                is_first = true;
                put(b, c->name);
                put(b, "\n```json\n");
                put(b, c->arguments);
                put(b, "\n```<｜tool▁call▁end｜>");
                if (later)
                    put(b, "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>");
            }
        } else if (is(role, "assistant")) {
            put(b, is_tool ? "<｜tool▁outputs▁end｜>" : "<｜Assistant｜>");
            put(b, m[i].content);
            put(b, "<｜end▁of▁sentence｜>");
            is_tool = false;
        } else if (is(role, "tool")) {
            is_tool = true;
            put(b, is_output_first ? "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>" : "\n<｜tool▁output▁begin｜>");
            put(b, m[i].content);
            put(b, "<｜tool▁output▁end｜>");
            is_output_first = false;
        } else if (!is(role, "system")) {
            return fail(err, OWL_ERR_INVALID_ARG, "messages[%d].role: expected system, user, assistant or tool, got %s",
                        i, str(role));
        }
    }
    if (is_tool)
        put(b, "<｜tool▁outputs▁end｜>");
    if (o->add_generation_prompt && !is_tool)
        put(b, "<｜Assistant｜>");
    return OWL_OK;
}

static enum owl_status render_deepseek_v31(struct sbuf *b, const struct chat_message *m, int n,
                                           const struct chat_options *o, struct owl_error *err)
{
    bool thinking = o->thinking == 1; /* the template's default is false */
    ds_system(b, m, n, o);
    bool is_first = false, is_tool = false, is_last_user = false;
    for (int i = 0; i < n; i++) {
        const char *role = m[i].role;
        if (is(role, "user")) {
            is_tool = is_first = false;
            is_last_user = true;
            put(b, "<｜User｜>");
            put(b, m[i].content);
        } else if (is(role, "assistant") && m[i].n_tool_calls > 0) {
            if (is_last_user)
                put(b, "<｜Assistant｜><think></think>");
            is_last_user = is_first = is_tool = false;
            for (int t = 0; t < m[i].n_tool_calls; t++) {
                if (!is_first) {
                    put(b, str(m[i].content));
                    put(b, "<｜tool▁calls▁begin｜>");
                    is_first = true;
                }
                put(b, "<｜tool▁call▁begin｜>");
                put(b, m[i].tool_calls[t].name);
                put(b, "<｜tool▁sep｜>");
                put_json_string(b, m[i].tool_calls[t].arguments); /* `arguments | tojson` on a string */
                put(b, "<｜tool▁call▁end｜>");
            }
            put(b, "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>");
        } else if (is(role, "assistant")) {
            if (is_last_user)
                put(b, "<｜Assistant｜><think></think>");
            is_last_user = false;
            const char *c = str(m[i].content);
            if (is_tool) {
                is_tool = false;
            } else {
                const char *cut = strstr(c, "</think>"); /* content.split('</think>', 1)[1] */
                if (cut)
                    c = cut + 8;
            }
            put(b, c);
            put(b, "<｜end▁of▁sentence｜>");
        } else if (is(role, "tool")) {
            is_last_user = false;
            is_tool = true;
            put(b, "<｜tool▁output▁begin｜>");
            put(b, m[i].content);
            put(b, "<｜tool▁output▁end｜>");
        } else if (!is(role, "system")) {
            return fail(err, OWL_ERR_INVALID_ARG, "messages[%d].role: expected system, user, assistant or tool, got %s",
                        i, str(role));
        }
    }
    if (o->add_generation_prompt && is_last_user && !is_tool)
        put(b, thinking ? "<｜Assistant｜><think>" : "<｜Assistant｜><think></think>");
    return OWL_OK;
}

/* ---- Harmony ---- */

/* Jinja truthiness of an optional JSON value. */
static bool truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_real(v))
        return json_real_value(v) != 0;
    return true;
}

static bool type_is(const json_t *spec, const char *t)
{
    return is(json_string_value(json_object_get(spec, "type")), t);
}

static bool in_list(const json_t *list, const char *s)
{
    for (size_t i = 0; i < json_array_size(list); i++)
        if (is(json_string_value(json_array_get(list, i)), s))
            return true;
    return false;
}

/* A JSON string's text as Jinja prints it; other values as their JSON. */
static void put_jinja(struct sbuf *b, const json_t *v)
{
    if (json_is_string(v))
        put(b, json_string_value(v));
    else
        put_json(b, v);
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* The template's render_typescript_type macro, whitespace quirks included (a nested object's properties
 * are printed after "\n" and 16 spaces; a oneOf variant's default after 20 spaces). */
static void ts_type(struct sbuf *b, const json_t *spec)
{
    const json_t *type = json_object_get(spec, "type");
    bool nullable = truthy(json_object_get(spec, "nullable"));
    if (type_is(spec, "array")) {
        const json_t *items = json_object_get(spec, "items");
        if (truthy(items)) {
            if (type_is(items, "string")) {
                put(b, "string[]");
            } else if (type_is(items, "number") || type_is(items, "integer")) {
                put(b, "number[]");
            } else if (type_is(items, "boolean")) {
                put(b, "boolean[]");
            } else {
                struct sbuf inner = {0};
                put(&inner, "");
                ts_type(&inner, items);
                if (strcmp(inner.p, "object | object") == 0 || utf8_chars(inner.p, inner.n) > 50)
                    put(b, "any[]");
                else {
                    put(b, inner.p);
                    put(b, "[]");
                }
                free(inner.p);
            }
        } else {
            put(b, "any[]");
        }
        if (nullable)
            put(b, " | null");
    } else if (json_is_array(type) && json_array_size(type) > 0) {
        for (size_t i = 0; i < json_array_size(type); i++) {
            if (i)
                put(b, " | ");
            put_jinja(b, json_array_get(type, i));
        }
    } else if (truthy(json_object_get(spec, "oneOf"))) {
        /* The template's has_object_variants is set inside a for loop, so it never leaves it: always false. */
        const json_t *variants = json_object_get(spec, "oneOf");
        for (size_t i = 0; i < json_array_size(variants); i++) {
            const json_t *v = json_array_get(variants, i);
            ts_type(b, v);
            if (truthy(json_object_get(v, "description"))) {
                put(b, "// ");
                put_jinja(b, json_object_get(v, "description"));
            }
            if (json_object_get(v, "default")) {
                put(b, "                    // default: ");
                put_json(b, json_object_get(v, "default"));
            }
            if (i + 1 < json_array_size(variants))
                put(b, " | \n");
        }
    } else if (type_is(spec, "string")) {
        const json_t *e = json_object_get(spec, "enum");
        if (truthy(e)) {
            put(b, "\"");
            for (size_t i = 0; i < json_array_size(e); i++) {
                if (i)
                    put(b, "\" | \"");
                put_jinja(b, json_array_get(e, i));
            }
            put(b, "\"");
        } else {
            put(b, "string");
            if (nullable)
                put(b, " | null");
        }
    } else if (type_is(spec, "number") || type_is(spec, "integer")) {
        put(b, "number");
    } else if (type_is(spec, "boolean")) {
        put(b, "boolean");
    } else if (type_is(spec, "object")) {
        const json_t *props = json_object_get(spec, "properties"), *req = json_object_get(spec, "required");
        if (truthy(props)) {
            put(b, "{\n");
            const char *key;
            const json_t *ps;
            size_t i = 0, np = json_object_size(props);
            json_object_foreach((json_t *)props, key, ps) {
                put(b, key);
                if (!in_list(req, key))
                    put(b, "?");
                put(b, ": \n                ");
                ts_type(b, ps);
                if (++i < np)
                    put(b, ", ");
            }
            put(b, "}");
        } else {
            put(b, "object");
        }
    } else {
        put(b, "any");
    }
}

/* The template's render_tool_namespace("functions", tools). */
static void harmony_tools(struct sbuf *b, const json_t *tools)
{
    put(b, "## functions\n\nnamespace functions {\n\n");
    for (size_t t = 0; t < json_array_size(tools); t++) {
        const json_t *f = json_object_get(json_array_get(tools, t), "function");
        const json_t *params = json_object_get(f, "parameters");
        const json_t *props = json_object_get(params, "properties"), *req = json_object_get(params, "required");
        put(b, "// ");
        put_jinja(b, json_object_get(f, "description"));
        put(b, "\ntype ");
        put_jinja(b, json_object_get(f, "name"));
        put(b, " = ");
        if (!truthy(params) || !truthy(props)) {
            put(b, "() => any;\n\n");
            continue;
        }
        put(b, "(_: {\n");
        const char *key;
        const json_t *ps;
        json_object_foreach((json_t *)props, key, ps) {
            if (truthy(json_object_get(ps, "description"))) {
                put(b, "// ");
                put_jinja(b, json_object_get(ps, "description"));
                put(b, "\n");
            }
            put(b, key);
            if (!in_list(req, key))
                put(b, "?");
            put(b, ": ");
            ts_type(b, ps);
            const json_t *def = json_object_get(ps, "default");
            if (def) {
                if (truthy(json_object_get(ps, "enum"))) {
                    put(b, ", // default: ");
                    put_jinja(b, def);
                } else if (truthy(json_object_get(ps, "oneOf"))) {
                    put(b, "// default: ");
                    put_jinja(b, def);
                } else {
                    put(b, ", // default: ");
                    put_json(b, def);
                }
            }
            put(b, ",\n");
        }
        put(b, "}) => any;\n\n");
    }
    put(b, "} // namespace functions");
}

static enum owl_status render_harmony(struct sbuf *b, const struct chat_message *m, int n,
                                      const struct chat_options *o, const json_t *tools, struct owl_error *err)
{
    char today[16];
    const char *date = o->date;
    if (!date) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(today, sizeof today, "%Y-%m-%d", &tm);
        date = today;
    }
    put(b, "<|start|>system<|message|>");
    put(b, o->model_identity ? o->model_identity : "You are ChatGPT, a large language model trained by OpenAI.");
    put(b, "\nKnowledge cutoff: 2024-06\nCurrent date: ");
    put(b, date);
    put(b, "\n\nReasoning: ");
    put(b, o->reasoning_effort ? o->reasoning_effort : "medium");
    put(b, "\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.");
    if (tools)
        put(b, "\nCalls to these tools must go to the commentary channel: 'functions'.");
    put(b, "<|end|>");
    int start = 0;
    const char *dev = NULL;
    if (n > 0 && (is(m[0].role, "developer") || is(m[0].role, "system"))) {
        start = 1;
        dev = m[0].content && *m[0].content ? m[0].content : NULL;
    }
    if (dev || tools) {
        put(b, "<|start|>developer<|message|>");
        if (dev) {
            put(b, "# Instructions\n\n");
            put(b, dev);
            put(b, "\n\n");
        }
        if (tools) {
            put(b, "# Tools\n\n");
            harmony_tools(b, tools);
        }
        put(b, "<|end|>");
    }
    const char *last_tool = NULL;
    for (int i = start; i < n; i++) {
        const char *role = m[i].role;
        if (is(role, "assistant")) {
            if (m[i].n_tool_calls > 0) {
                bool future_final = false;
                for (int k = i + 1; k < n; k++)
                    future_final |= is(m[k].role, "assistant") && m[k].n_tool_calls == 0;
                const char *c = m[i].content, *t = m[i].reasoning;
                if (c && *c && t && *t)
                    return fail(err, OWL_ERR_INVALID_ARG, "messages[%d]: the template refuses both content and "
                                "thinking in an assistant message with tool calls", i);
                const char *analysis = (c && *c) ? c : (t && *t) ? t : NULL;
                if (analysis && !future_final) {
                    put(b, "<|start|>assistant<|channel|>analysis<|message|>");
                    put(b, analysis);
                    put(b, "<|end|>");
                }
                put(b, "<|start|>assistant to=functions.");
                put(b, m[i].tool_calls[0].name);
                put(b, "<|channel|>commentary json<|message|>");
                put_json_value(b, m[i].tool_calls[0].arguments);
                put(b, "<|call|>");
                last_tool = m[i].tool_calls[0].name;
            } else if (i == n - 1 && !o->add_generation_prompt) {
                if (m[i].reasoning) {
                    put(b, "<|start|>assistant<|channel|>analysis<|message|>");
                    put(b, m[i].reasoning);
                    put(b, "<|end|>");
                }
                put(b, "<|start|>assistant<|channel|>final<|message|>");
                put(b, m[i].content);
                put(b, "<|return|>");
            } else {
                put(b, "<|start|>assistant<|channel|>final<|message|>");
                put(b, m[i].content);
                put(b, "<|end|>");
                last_tool = NULL;
            }
        } else if (is(role, "tool")) {
            if (!last_tool)
                return fail(err, OWL_ERR_INVALID_ARG, "messages[%d]: a tool message with no preceding assistant tool "
                            "call", i);
            put(b, "<|start|>functions.");
            put(b, last_tool);
            put(b, " to=assistant<|channel|>commentary<|message|>");
            put_json_string(b, m[i].content);
            put(b, "<|end|>");
        } else if (is(role, "user")) {
            put(b, "<|start|>user<|message|>");
            put(b, m[i].content);
            put(b, "<|end|>");
        }
        /* other roles (a later system/developer message) are dropped by the template */
    }
    if (o->add_generation_prompt)
        put(b, "<|start|>assistant");
    return OWL_OK;
}

struct chat_options chat_default_options(void)
{
    return (struct chat_options){.add_generation_prompt = true, .thinking = -1};
}

enum owl_status chat_render(enum chat_format format, const struct chat_message *msgs, int n_msgs,
                            const struct chat_options *opt, char **out, size_t *out_len, struct owl_error *err)
{
    *out = NULL;
    struct chat_options def = chat_default_options();
    if (!opt)
        opt = &def;
    for (int i = 0; i < n_msgs; i++)
        if (!msgs[i].role)
            return fail(err, OWL_ERR_INVALID_ARG, "messages[%d].role: expected a string, got none", i);
    json_t *tools = NULL;
    if (opt->tools) {
        json_error_t jerr;
        tools = json_loads(opt->tools, 0, &jerr);
        if (!json_is_array(tools)) {
            json_decref(tools);
            return fail(err, OWL_ERR_INVALID_ARG, "tools: expected a JSON array, got %s",
                        jerr.text[0] ? jerr.text : "another JSON value");
        }
        for (size_t t = 0; t < json_array_size(tools); t++) {
            if (!json_is_object(json_object_get(json_array_get(tools, t), "function"))) {
                json_decref(tools);
                return fail(err, OWL_ERR_INVALID_ARG, "tools[%zu].function: expected an object, got none", t);
            }
        }
        if (json_array_size(tools) == 0) { /* an empty list is false in the templates */
            json_decref(tools);
            tools = NULL;
        }
    }
    struct sbuf b = {0};
    put(&b, "");
    enum owl_status st = OWL_ERR_INVALID_ARG;
    switch (format) {
    case CHAT_QWEN3: st = render_qwen3(&b, msgs, n_msgs, opt, tools, err); break;
    case CHAT_DEEPSEEK_V3: st = render_deepseek_v3(&b, msgs, n_msgs, opt, err); break;
    case CHAT_DEEPSEEK_V31: st = render_deepseek_v31(&b, msgs, n_msgs, opt, err); break;
    case CHAT_HARMONY: st = render_harmony(&b, msgs, n_msgs, opt, tools, err); break;
    }
    json_decref(tools);
    if (st) {
        free(b.p);
        return st;
    }
    *out = b.p;
    *out_len = b.n;
    return OWL_OK;
}

enum owl_status chat_format_for_model(const char *model_type, bool has_think_tokens, enum chat_format *out,
                                      struct owl_error *err)
{
    if (is(model_type, "qwen3") || is(model_type, "qwen3_moe"))
        *out = CHAT_QWEN3;
    else if (is(model_type, "gpt_oss"))
        *out = CHAT_HARMONY;
    else if (is(model_type, "deepseek_v3"))
        *out = has_think_tokens ? CHAT_DEEPSEEK_V31 : CHAT_DEEPSEEK_V3;
    else
        return fail(err, OWL_ERR_UNSUPPORTED, "config.json model_type: expected qwen3, qwen3_moe, gpt_oss or "
                    "deepseek_v3 for a chat format, got %s", str(model_type));
    return OWL_OK;
}

const char *chat_format_name(enum chat_format format)
{
    switch (format) {
    case CHAT_QWEN3: return "qwen3";
    case CHAT_DEEPSEEK_V3: return "deepseek_v3";
    case CHAT_DEEPSEEK_V31: return "deepseek_v3.1";
    case CHAT_HARMONY: return "harmony";
    }
    return "?";
}
