/* chat.h — chat formats: render a conversation into the exact prompt text each model's own Jinja template
 * produces (Qwen3 ChatML + think, DeepSeek-V3, DeepSeek-V3.1, gpt-oss Harmony).
 *
 * Hand-written per format and proven byte-identical against transformers' apply_chat_template on the
 * shipped templates (tests/chat, goldens from tools/gen_chat_goldens.py). The format is chosen by the
 * caller from the model family (config.json model_type) and template variant, never by searching the
 * template text. Depends only on src/base (and jansson for tool-call JSON).
 */
#ifndef OWL_CHAT_H
#define OWL_CHAT_H

#include "base/base.h"

enum chat_format {
    CHAT_QWEN3,        /* Qwen3 hybrid-thinking ChatML (Qwen/Qwen3-*.jinja, April 2025) */
    CHAT_DEEPSEEK_V3,  /* DeepSeek-V3 / V3-0324 (template in the V3 tokenizer_config.json) */
    CHAT_DEEPSEEK_V31, /* DeepSeek-V3.1 hybrid thinking (the copy in shared/templates: <think></think> when off) */
    CHAT_HARMONY,      /* gpt-oss (openai/gpt-oss-*.jinja) */
};

struct chat_tool_call {
    const char *name;      /* function name */
    const char *arguments; /* JSON text as the client sent it (OpenAI style) */
};

struct chat_message {
    const char *role;      /* "system", "developer", "user", "assistant", "tool" */
    const char *content;   /* may be NULL (an assistant turn with only tool calls) */
    const char *reasoning; /* reasoning_content (Qwen3) / thinking (gpt-oss); NULL when absent */
    const struct chat_tool_call *tool_calls; /* (n_tool_calls) borrowed */
    int n_tool_calls;
};

struct chat_options {
    bool add_generation_prompt; /* true for inference */
    int thinking;               /* -1: the template's default; 0 off; 1 on (Qwen3 enable_thinking, V3.1 thinking) */
    const char *reasoning_effort; /* Harmony: "low" | "medium" | "high"; NULL = "medium" */
    const char *date;           /* Harmony "Current date:" (YYYY-MM-DD); NULL = today (UTC) */
    const char *model_identity; /* Harmony; NULL = "You are ChatGPT, a large language model trained by OpenAI." */
    const char *bos;            /* DeepSeek: the bos_token text the template prints; NULL = the released one */
};
struct chat_options chat_default_options(void);

/* Render messages into *out (malloc'd, NUL-terminated, *out_len bytes). OWL_ERR_INVALID_ARG for a
 * conversation the template itself rejects (unknown role for the format, a tool result with no preceding
 * call in Harmony) naming the message index. */
enum owl_status chat_render(enum chat_format format, const struct chat_message *msgs, int n_msgs,
                            const struct chat_options *opt, char **out, size_t *out_len, struct owl_error *err);

/* The format for a model: model_type from config.json ("qwen3", "qwen3_moe", "gpt_oss", "deepseek_v3") and
 * whether its tokenizer has <think>/</think> as added tokens (DeepSeek-V3.1/R1 do, V3 does not).
 * OWL_ERR_UNSUPPORTED for other model types. */
enum owl_status chat_format_for_model(const char *model_type, bool has_think_tokens, enum chat_format *out,
                                      struct owl_error *err);

const char *chat_format_name(enum chat_format format);

#endif
