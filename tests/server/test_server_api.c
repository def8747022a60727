/* test_server_api.c — the OpenAI JSON mapping of `owl serve` without HTTP: replies built from synthetic
 * model output run through the real streaming chat parser (Qwen3 think blocks, Harmony channels, Qwen3 tool
 * calls), in whole and SSE form, split at every byte; stop strings at every split; request parsing and the
 * reasoning-control forms mapped onto each format's template switches; the error shape. The end-to-end
 * test (test_server_e2e.c) cannot make a random tiny model reason, so the reasoning split is proven here. */
#include <jansson.h>
#include <stdlib.h>

#include "server/api.h"
#include "test_util.h"

struct sink {
    struct reply *rp;
    struct sbuf *out;
};

static void to_reply(void *user, const struct chat_delta *d)
{
    struct sink *s = user;
    reply_delta(s->rp, d, s->out);
}

static struct gen_request chat_req(bool stream)
{
    return (struct gen_request){.kind = API_CHAT, .model = "m", .stream = stream, .include_usage = true};
}

/* Run text through the parser in pieces of `step` bytes, widened to whole UTF-8 characters (0: whole), into a reply; returns the output. */
static char *run_reply(enum chat_format f, const char *text, size_t step, bool stream, const char *reason)
{
    struct gen_request r = chat_req(stream);
    struct reply rp;
    reply_init(&rp, &r, "chatcmpl-test", 1);
    struct sbuf out = {0};
    struct chat_parser p;
    chat_parser_init(&p, f, NULL);
    struct sink s = {&rp, &out};
    const size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t k = step && step < n - i ? step : n - i;
        while (i + k < n && (text[i + k] & 0xC0) == 0x80)
            k++; /* pieces are whole characters, as the detokenizer gives them */
        chat_parser_feed(&p, text + i, k, to_reply, &s);
        i += k;
    }
    chat_parser_finish(&p, to_reply, &s);
    chat_parser_free(&p);
    reply_finish(&rp, reason, &(struct api_usage){.prompt_tokens = 5, .completion_tokens = 9, .reasoning_tokens = 4},
                 &out);
    reply_free(&rp);
    CHECK(!out.failed);
    return out.p;
}

struct streamed {
    char content[512], reasoning[512], tool_name[64], tool_args[256], finish[32];
    int n_chunks, n_role;
    bool done, usage;
};

/* Concatenate the deltas of an SSE body. */
static void parse_sse(const char *body, struct streamed *s)
{
    memset(s, 0, sizeof *s);
    const char *p = body;
    while (p && *p) {
        CHECK_MSG(strncmp(p, "data: ", 6) == 0, "event does not start with data: %.40s", p);
        const char *end = strstr(p, "\n\n");
        CHECK(end != NULL);
        if (!end)
            break;
        if (!strncmp(p, "data: [DONE]\n\n", 14)) {
            s->done = true;
            CHECK(end[2] == 0);
            break;
        }
        json_t *j = json_loadb(p + 6, (size_t)(end - p - 6), 0, NULL);
        CHECK(j != NULL);
        s->n_chunks++;
        CHECK(!strcmp(json_string_value(json_object_get(j, "object")), "chat.completion.chunk"));
        if (json_object_get(j, "usage")) {
            s->usage = true;
            CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(j, "usage"),
                                                                     "completion_tokens_details"),
                                                     "reasoning_tokens")) == 4);
        }
        json_t *c = json_array_get(json_object_get(j, "choices"), 0), *d = json_object_get(c, "delta");
        if (json_object_get(d, "role"))
            s->n_role++;
        const char *t;
        if ((t = json_string_value(json_object_get(d, "content"))))
            strncat(s->content, t, sizeof s->content - strlen(s->content) - 1);
        if ((t = json_string_value(json_object_get(d, "reasoning_content"))))
            strncat(s->reasoning, t, sizeof s->reasoning - strlen(s->reasoning) - 1);
        json_t *call = json_array_get(json_object_get(d, "tool_calls"), 0), *fn = json_object_get(call, "function");
        if ((t = json_string_value(json_object_get(fn, "name"))))
            strncat(s->tool_name, t, sizeof s->tool_name - strlen(s->tool_name) - 1);
        if ((t = json_string_value(json_object_get(fn, "arguments"))))
            strncat(s->tool_args, t, sizeof s->tool_args - strlen(s->tool_args) - 1);
        if ((t = json_string_value(json_object_get(c, "finish_reason"))))
            snprintf(s->finish, sizeof s->finish, "%s", t);
        json_decref(j);
        p = end + 2;
    }
}

static void check_split(enum chat_format f, const char *text, const char *reasoning, const char *content,
                        const char *tool, const char *args, const char *finish)
{
    /* whole body */
    char *body = run_reply(f, text, 0, false, "stop");
    json_t *j = json_loads(body ? body : "", 0, NULL);
    CHECK_MSG(j != NULL, "not JSON: %s", body ? body : "");
    json_t *c = json_array_get(json_object_get(j, "choices"), 0), *m = json_object_get(c, "message");
    CHECK(!strcmp(json_string_value(json_object_get(j, "object")), "chat.completion"));
    const char *rc = json_string_value(json_object_get(m, "reasoning_content"));
    CHECK_MSG(reasoning ? rc && !strcmp(rc, reasoning) : rc == NULL, "reasoning_content %s", rc ? rc : "(none)");
    json_t *cj = json_object_get(m, "content");
    CHECK_MSG(content ? json_is_string(cj) && !strcmp(json_string_value(cj), content) : json_is_null(cj),
              "content %s in %s", json_string_value(cj), body);
    json_t *fn = json_object_get(json_array_get(json_object_get(m, "tool_calls"), 0), "function");
    CHECK(tool ? fn && !strcmp(json_string_value(json_object_get(fn, "name")), tool) : fn == NULL);
    CHECK(args ? fn && !strcmp(json_string_value(json_object_get(fn, "arguments")), args) : 1);
    CHECK(!strcmp(json_string_value(json_object_get(c, "finish_reason")), finish));
    CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(j, "usage"), "completion_tokens_details"),
                                             "reasoning_tokens")) == 4);
    json_decref(j);
    free(body);
    /* SSE at every piece size */
    for (size_t step = 1; step <= strlen(text); step++) {
        body = run_reply(f, text, step, true, "stop");
        struct streamed s;
        parse_sse(body ? body : "", &s);
        CHECK(s.done && s.usage && s.n_role == 1);
        CHECK_MSG(!strcmp(s.reasoning, reasoning ? reasoning : ""), "step %zu: reasoning '%s'", step, s.reasoning);
        CHECK_MSG(!strcmp(s.content, content ? content : ""), "step %zu: content '%s'", step, s.content);
        CHECK(!strcmp(s.tool_name, tool ? tool : ""));
        CHECK(!strcmp(s.tool_args, args ? args : ""));
        CHECK_MSG(!strcmp(s.finish, finish), "step %zu: finish %s", step, s.finish);
        free(body);
    }
}

static void check_stop(const char *text, const char *const *stops, int n_stop, const char *expect, bool matched)
{
    for (size_t step = 1; step <= strlen(text); step++) {
        struct stop_filter f = {.stop = (char *const *)stops, .n_stop = n_stop};
        struct sbuf out = {0};
        bool m = false;
        for (size_t i = 0, k; i < strlen(text); i += k) {
            k = strlen(text) - i < step ? strlen(text) - i : step;
            while (text[i + k] && (text[i + k] & 0xC0) == 0x80)
                k++;
            m = stop_filter_feed(&f, text + i, k, &out);
        }
        stop_filter_flush(&f, &out);
        CHECK_MSG(m == matched && !strcmp(out.p ? out.p : "", expect), "step %zu: '%s' matched %d", step,
                  out.p ? out.p : "", m);
        sbuf_free(&out);
        stop_filter_free(&f);
    }
}

static struct api_model_info info(enum chat_format f) { return (struct api_model_info){"m", true, f}; }

/* Parse body as a chat request; returns the rendered prompt (malloc'd) or NULL with e filled. */
static char *parse_chat(enum chat_format f, const char *body, struct api_error *e, struct gen_request *out)
{
    struct api_model_info mi = info(f);
    struct gen_request r;
    if (!api_parse_request(API_CHAT, body, strlen(body), &mi, &r, e))
        return NULL;
    char *p = strdup(r.prompt);
    if (out)
        *out = r;
    else
        api_request_free(&r);
    return p;
}

static void check_bad(const char *body, const char *param)
{
    struct api_error e = {0};
    char *p = parse_chat(CHAT_QWEN3, body, &e, NULL);
    CHECK_MSG(p == NULL && e.http_status == 400 && e.message[0], "accepted: %s", body);
    CHECK_MSG(param ? e.param && !strcmp(e.param, param) : 1, "%s: param %s", body, e.param ? e.param : "(null)");
    free(p);
}

int main(void)
{
    /* reasoning / content / tool calls, whole and streamed */
    check_split(CHAT_QWEN3, "<think>\nI should greet.\n</think>\n\nHello there!", "I should greet.", "Hello there!",
                NULL, NULL, "stop");
    check_split(CHAT_QWEN3, "Just an answer, ünïcode ✓", NULL, "Just an answer, ünïcode ✓", NULL, NULL, "stop");
    check_split(CHAT_HARMONY,
                "<|channel|>analysis<|message|>User says hi.<|end|><|start|>assistant<|channel|>final<|message|>Hi!"
                "<|return|>",
                "User says hi.", "Hi!", NULL, NULL, "stop");
    check_split(CHAT_QWEN3,
                "<think>\nuse the tool\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                "{\"city\": \"Paris\"}}\n</tool_call>",
                "use the tool", NULL, "get_weather", "{\"city\":\"Paris\"}", "tool_calls");
    check_split(CHAT_DEEPSEEK_V31, "<think>hmm</think>ok", "hmm", "ok", NULL, NULL, "stop");

    /* a completion reply */
    {
        struct gen_request r = {.kind = API_COMPLETION, .model = "m"};
        struct reply rp;
        reply_init(&rp, &r, "cmpl-1", 1);
        struct sbuf out = {0};
        reply_delta(&rp, &(struct chat_delta){.kind = CHAT_DELTA_CONTENT, .text = "abc", .len = 3}, &out);
        reply_finish(&rp, "length", &(struct api_usage){.prompt_tokens = 3, .completion_tokens = 1, .cached_tokens = 2},
                     &out);
        CHECK(out.p && strstr(out.p, "\"object\":\"text_completion\"") && strstr(out.p, "\"text\":\"abc\"") &&
              strstr(out.p, "\"finish_reason\":\"length\"") && strstr(out.p, "\"cached_tokens\":2"));
        sbuf_free(&out);
        reply_free(&rp);
    }

    /* stop strings, at every split */
    const char *s1[] = {"world", "xyz"};
    check_stop("hello world and more", s1, 2, "hello ", true);
    check_stop("hello wor", s1, 2, "hello wor", false);
    const char *s2[] = {"aab"};
    check_stop("aaaab", s2, 1, "aa", true);
    const char *s3[] = {"✓"};
    check_stop("tick ✓ done", s3, 1, "tick ", true);
    check_stop("no stops here", NULL, 0, "no stops here", false);

    /* request parsing: reasoning control in every form */
    struct api_error e = {0};
    const char *user = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
    char body[1024];
    const char *off_forms[] = {"\"reasoning_effort\": \"none\"", "\"reasoning_effort\": \"minimal\"",
                               "\"reasoning\": {\"effort\": \"none\"}",
                               "\"chat_template_kwargs\": {\"enable_thinking\": false}",
                               "\"chat_template_kwargs\": {\"thinking\": false}"};
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body, "{%s, %s}", user, off_forms[i]);
        char *p = parse_chat(CHAT_QWEN3, body, &e, NULL);
        CHECK_MSG(p && strstr(p, "<think>\n\n</think>"), "%s: %s", off_forms[i], p ? p : e.message);
        free(p);
    }
    snprintf(body, sizeof body, "{%s, \"reasoning_effort\": \"high\"}", user);
    char *p = parse_chat(CHAT_QWEN3, body, &e, NULL);
    CHECK(p && !strstr(p, "<think>"));
    free(p);
    snprintf(body, sizeof body, "{%s, \"reasoning_effort\": \"minimal\"}", user);
    p = parse_chat(CHAT_HARMONY, body, &e, NULL);
    CHECK(p && strstr(p, "Reasoning: low"));
    free(p);
    snprintf(body, sizeof body, "{%s, \"reasoning\": {\"effort\": \"high\"}}", user);
    p = parse_chat(CHAT_HARMONY, body, &e, NULL);
    CHECK(p && strstr(p, "Reasoning: high"));
    free(p);
    struct gen_request r;
    snprintf(body, sizeof body, "{%s, \"chat_template_kwargs\": {\"thinking\": true}}", user);
    p = parse_chat(CHAT_DEEPSEEK_V31, body, &e, &r);
    CHECK(p && r.reasoning_open);
    free(p);
    api_request_free(&r);

    /* fields, content parts, history with reasoning and tool calls, unknown fields */
    p = parse_chat(CHAT_QWEN3,
                   "{\"model\": \"m\", \"messages\": [{\"role\": \"system\", \"content\": [{\"type\": \"text\", \"text\": "
                   "\"be \"}, {\"type\": \"text\", \"text\": \"nice\"}]}, {\"role\": \"user\", \"content\": \"q\"}, "
                   "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\", "
                   "\"function\": {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}}]}, {\"role\": \"tool\", "
                   "\"tool_call_id\": \"c1\", \"content\": \"42\"}], \"temperature\": 0.5, \"top_k\": 40, "
                   "\"top_p\": 0.9, \"min_p\": 0.05, \"seed\": 7, \"max_completion_tokens\": 9, \"stop\": [\"a\", \"\"], "
                   "\"presence_penalty\": 0.5, \"frequency_penalty\": -0.5, \"stream\": true, "
                   "\"stream_options\": {\"include_usage\": true}, \"frobnicate\": [1, {}], \"tools\": [{\"type\": "
                   "\"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}]}",
                   &e, &r);
    CHECK_MSG(p != NULL, "%s", e.message);
    if (p) {
        CHECK(strstr(p, "be nice") && strstr(p, "<tool_call>") && strstr(p, "<tool_response>\n42") &&
              strstr(p, "# Tools"));
        CHECK(r.sp.temperature == 0.5f && r.sp.top_k == 40 && r.sp.seed == 7 && r.seeded && r.max_tokens == 9);
        CHECK(r.n_stop == 1 && !strcmp(r.stop[0], "a") && r.stream && r.include_usage);
        CHECK(r.presence_penalty == 0.5f && r.frequency_penalty == -0.5f);
        api_request_free(&r);
    }
    free(p);

    check_bad("{\"messages\": [", NULL);
    check_bad("[]", NULL);
    check_bad("{}", "messages");
    check_bad("{\"messages\": []}", "messages");
    check_bad("{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages");
    check_bad("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", "messages");
    check_bad("{\"messages\": [{\"role\": \"alien\", \"content\": \"x\"}]}", "messages");
    snprintf(body, sizeof body, "{%s, \"temperature\": \"hot\"}", user);
    check_bad(body, "temperature");
    snprintf(body, sizeof body, "{%s, \"max_tokens\": 0}", user);
    check_bad(body, "max_tokens");
    snprintf(body, sizeof body, "{%s, \"stop\": [1]}", user);
    check_bad(body, "stop");
    snprintf(body, sizeof body, "{%s, \"n\": 3}", user);
    check_bad(body, "n");
    snprintf(body, sizeof body, "{%s, \"model\": \"other\"}", user);
    check_bad(body, "model");
    snprintf(body, sizeof body, "{%s, \"reasoning_effort\": 3}", user);
    check_bad(body, "reasoning_effort");
    snprintf(body, sizeof body, "{%s, \"tools\": {}}", user);
    check_bad(body, "tools");
    snprintf(body, sizeof body, "{%s, \"messages\": []}", user);
    check_bad(body, NULL); /* duplicate key */
    {
        struct api_model_info mi = info(CHAT_QWEN3);
        CHECK(!api_parse_request(API_COMPLETION, "{\"prompt\": [1, 2]}", 18, &mi, &r, &e) && !strcmp(e.param, "prompt"));
        CHECK(api_parse_request(API_COMPLETION, "{\"prompt\": [\"x\"]}", 17, &mi, &r, &e) && !strcmp(r.prompt, "x"));
        api_request_free(&r);
    }

    /* the error shape */
    struct sbuf out = {0};
    api_fail(&e, 400, "invalid_request_error", "temperature", NULL, "bad \"value\"");
    api_error_json(&e, &out);
    CHECK(out.p && !strcmp(out.p, "{\"error\":{\"message\":\"bad \\\"value\\\"\",\"type\":\"invalid_request_error\","
                                  "\"param\":\"temperature\",\"code\":null}}"));
    sbuf_free(&out);
    return test_done("test_server_api");
}
