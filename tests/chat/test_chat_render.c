/* test_chat_render.c — every conversation in tests/fixtures/chat/goldens.jsonl rendered by owl must equal,
 * byte for byte, what transformers 5.17.0 apply_chat_template produced from the model's own template
 * (tools/gen_chat_goldens.py, run on the GPU machine; date pinned to 2025-08-05), tool definitions included
 * (Qwen3 # Tools block, Harmony TypeScript namespace with the template's whitespace quirks). Also: the format is
 * chosen from model_type and the tokenizer's think tokens, and bad conversations return a status.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat/chat.h"
#include "test_util.h"

/* The golden rows name their template file; the test maps it to the format explicitly. */
static enum chat_format format_of(const char *template_name)
{
    if (strcmp(template_name, "Qwen-Qwen3-0.6B.jinja") == 0)
        return CHAT_QWEN3;
    if (strcmp(template_name, "deepseek-ai-DeepSeek-V3.1.jinja") == 0)
        return CHAT_DEEPSEEK_V31;
    if (strcmp(template_name, "deepseek-ai-DeepSeek-V3.jinja") == 0)
        return CHAT_DEEPSEEK_V3;
    return CHAT_HARMONY;
}

int main(void)
{
    FILE *f = fopen(fixture_path("chat/goldens.jsonl"), "r");
    CHECK(f != NULL);
    if (!f)
        return test_done("test_chat_render");
    char *line = NULL;
    size_t cap = 0;
    int n = 0, ok = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t jerr;
        json_t *row = json_loads(line, 0, &jerr);
        CHECK(row != NULL);
        const char *name = json_string_value(json_object_get(row, "name"));
        const json_t *msgs = json_object_get(row, "messages");
        const json_t *kw = json_object_get(row, "kwargs");
        int nm = (int)json_array_size(msgs);
        struct chat_message *m = xcalloc((size_t)nm + 1, sizeof *m);
        struct chat_tool_call *calls = xcalloc(64, sizeof *calls);
        char *argbuf[64] = {0};
        int n_calls = 0;
        for (int i = 0; i < nm; i++) {
            const json_t *j = json_array_get(msgs, (size_t)i);
            m[i].role = json_string_value(json_object_get(j, "role"));
            m[i].content = json_string_value(json_object_get(j, "content"));
            const json_t *r = json_object_get(j, "reasoning_content");
            if (!r)
                r = json_object_get(j, "thinking");
            m[i].reasoning = json_string_value(r);
            const json_t *tc = json_object_get(j, "tool_calls");
            m[i].tool_calls = calls + n_calls;
            for (size_t t = 0; t < json_array_size(tc) && n_calls < 64; t++) {
                const json_t *fn = json_object_get(json_array_get(tc, t), "function");
                const json_t *args = json_object_get(fn, "arguments");
                calls[n_calls].name = json_string_value(json_object_get(fn, "name"));
                if (json_is_string(args)) {
                    calls[n_calls].arguments = json_string_value(args);
                } else {
                    argbuf[n_calls] = json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER);
                    calls[n_calls].arguments = argbuf[n_calls];
                }
                n_calls++;
                m[i].n_tool_calls++;
            }
        }
        struct chat_options o = chat_default_options();
        o.date = "2025-08-05";
        const json_t *v;
        if ((v = json_object_get(kw, "add_generation_prompt")))
            o.add_generation_prompt = json_is_true(v);
        if ((v = json_object_get(kw, "enable_thinking")) || (v = json_object_get(kw, "thinking")))
            o.thinking = json_is_true(v);
        o.reasoning_effort = json_string_value(json_object_get(kw, "reasoning_effort"));
        o.model_identity = json_string_value(json_object_get(kw, "model_identity"));
        char *tools = NULL;
        if ((v = json_object_get(kw, "tools")))
            o.tools = tools = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        char *text = NULL;
        size_t len = 0;
        struct owl_error err = {0};
        enum owl_status st = chat_render(format_of(json_string_value(json_object_get(row, "template"))), m, nm, &o,
                                         &text, &len, &err);
        const char *want = json_string_value(json_object_get(row, "text"));
        bool same = st == OWL_OK && len == strlen(want) && memcmp(text, want, len) == 0;
        if (!same)
            fprintf(stderr, "%s:\n  got  %s\n  want %s\n", name, text ? text : err.message, want);
        CHECK_MSG(same, "%s", name);
        ok += same;
        n++;
        free(text);
        free(tools);
        for (int k = 0; k < n_calls; k++)
            free(argbuf[k]);
        free(calls);
        free(m);
        json_decref(row);
    }
    free(line);
    fclose(f);
    printf("chat goldens: %d/%d byte-identical to transformers\n", ok, n);
    CHECK(n >= 40);

    enum chat_format fmt;
    struct owl_error err;
    CHECK(chat_format_for_model("qwen3_moe", false, &fmt, &err) == OWL_OK && fmt == CHAT_QWEN3);
    CHECK(chat_format_for_model("gpt_oss", false, &fmt, &err) == OWL_OK && fmt == CHAT_HARMONY);
    CHECK(chat_format_for_model("deepseek_v3", true, &fmt, &err) == OWL_OK && fmt == CHAT_DEEPSEEK_V31);
    CHECK(chat_format_for_model("deepseek_v3", false, &fmt, &err) == OWL_OK && fmt == CHAT_DEEPSEEK_V3);
    CHECK(chat_format_for_model("llama", false, &fmt, &err) == OWL_ERR_UNSUPPORTED);
    struct chat_message bad[2] = {{.role = "user", .content = "x"}, {.role = "tool", .content = "y"}};
    char *text = NULL;
    size_t len;
    CHECK(chat_render(CHAT_HARMONY, bad, 2, NULL, &text, &len, &err) == OWL_ERR_INVALID_ARG && !text);
    bad[1].role = "wizard";
    CHECK(chat_render(CHAT_QWEN3, bad, 2, NULL, &text, &len, &err) == OWL_ERR_INVALID_ARG);
    struct chat_options topt = chat_default_options();
    topt.tools = "{\"not\": \"a list\"}";
    CHECK(chat_render(CHAT_QWEN3, bad, 1, &topt, &text, &len, &err) == OWL_ERR_INVALID_ARG && strstr(err.message, "tools"));
    topt.tools = "[{\"type\": \"function\"}]";
    CHECK(chat_render(CHAT_HARMONY, bad, 1, &topt, &text, &len, &err) == OWL_ERR_INVALID_ARG &&
          strstr(err.message, "tools[0].function"));
    topt.tools = "[";
    CHECK(chat_render(CHAT_QWEN3, bad, 1, &topt, &text, &len, &err) == OWL_ERR_INVALID_ARG && !text);
    topt.tools = "[]"; /* an empty list renders as no tools */
    CHECK_OK(chat_render(CHAT_QWEN3, bad, 1, &topt, &text, &len, &err), &err);
    CHECK(text && !strstr(text, "# Tools"));
    free(text);
    text = NULL;
    bad[1].role = NULL;
    CHECK(chat_render(CHAT_DEEPSEEK_V3, bad, 2, NULL, &text, &len, &err) == OWL_ERR_INVALID_ARG);
    return test_done("test_chat_render");
}
