/* chat.h — chat formats: render a conversation into the exact prompt text each model's own Jinja template
 * produces (Qwen3 ChatML + think, DeepSeek-V3, DeepSeek-V3.1, gpt-oss Harmony).
 *
 * Hand-written per format and proven byte-identical against transformers' apply_chat_template on the
 * shipped templates (tests/chat, goldens from tools/gen_chat_goldens.py). The format is chosen by the
 * caller from the model family (config.json model_type) and template variant, never by searching the
 * template text. The output side (stop tokens, a streaming parser of replies) is in chat_parse.c.
 * Depends only on src/base (and jansson for tool-call JSON).
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
    /* The request's `tools`: a JSON array of OpenAI tool objects ({"type": "function", "function": {"name",
     * "description", "parameters": JSON Schema}}), as text; NULL or "[]" = none. Qwen3 prints each as
     * tojson in its # Tools block; Harmony renders them as TypeScript in the developer message; the
     * DeepSeek templates print none. Not a JSON array: OWL_ERR_INVALID_ARG. */
    const char *tools;
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

/* ---- Output side: stop tokens and the streaming parser ---- */

/* The end-of-turn marker texts of a format, most important first (NULL-terminated, static): Qwen3
 * <|im_end|> <|endoftext|>; DeepSeek <｜end▁of▁sentence｜>; Harmony <|return|> <|call|> <|endoftext|>
 * (Harmony's <|end|> only ends one message inside a reply and is not a stop). */
const char *const *chat_stop_texts(enum chat_format format);

#define CHAT_MAX_STOP_TOKENS 4

/* Token id of a token text, or -1 when the vocabulary has none (e.g. tokenizer_token_id). Passed in so
 * that src/chat does not depend on src/tokenizer. */
typedef int32_t (*chat_token_lookup_fn)(void *user, const char *text);

/* The stop-token ids of a format: chat_stop_texts looked up with lookup(user, text) into
 * ids[CHAT_MAX_STOP_TOKENS], *n_ids of them. The first text (the turn's own end marker) must exist:
 * OWL_ERR_BAD_FILE naming it otherwise; later ones are optional and skipped when absent. */
enum owl_status chat_stop_tokens(enum chat_format format, chat_token_lookup_fn lookup, void *user,
                                 int32_t ids[CHAT_MAX_STOP_TOKENS], int *n_ids, struct owl_error *err);

enum chat_delta_kind {
    CHAT_DELTA_CONTENT,   /* the answer */
    CHAT_DELTA_REASONING, /* <think>…</think>, Harmony's analysis channel */
    CHAT_DELTA_TOOL_NAME, /* a tool call begins: the whole function name, once per call */
    CHAT_DELTA_TOOL_ARGS, /* a piece of the current call's arguments (JSON text) */
};

struct chat_delta {
    enum chat_delta_kind kind;
    int tool_index;   /* TOOL_NAME / TOOL_ARGS: 0 for the reply's first call, 1 for the next, ... */
    const char *text; /* borrowed: valid only during the callback; not NUL-terminated */
    size_t len;       /* > 0 */
};

/* Receives every delta in output order. Must not call back into the parser. */
typedef void (*chat_delta_fn)(void *user, const struct chat_delta *delta);

struct chat_parse_options {
    /* The prompt already opened the reasoning block, so output starts as reasoning: DeepSeek-V3.1 with
     * thinking on (the prompt ends with <think>), Qwen3-2507 Thinking models (the prompt ends with
     * <think>\n), Harmony prompts that end with <|channel|>analysis<|message|>. */
    bool reasoning_open;
};

/* The options matching a prompt rendered by chat_render(format, ..., render_opt) (NULL: the defaults). */
struct chat_parse_options chat_parse_default_options(enum chat_format format, const struct chat_options *render_opt);

/* A streaming parser for one reply (one per sequence; no shared state). Text of any piece size goes in
 * (whole detokenizer pieces or single bytes: the deltas concatenate to the same result); each byte comes
 * out once, classified, in order. Markup (think tags, tool-call markers, Harmony headers, end markers) is
 * consumed, never passed on. Only bytes that could still begin a marker are held back between feeds (at
 * most the longest marker's length), plus, inside reasoning, a trailing run of '\n' (see below).
 *
 * Per format:
 * - Qwen3 / DeepSeek: a <think> at the very start of the output (or reasoning_open) makes everything up
 *   to </think> reasoning; '\n's right after <think> and </think> and right before </think> are dropped
 *   (as the template strips them when the turn goes back into history). Qwen3 tool calls
 *   <tool_call>\n{"name": N, "arguments": A}\n</tool_call> are buffered, parsed, and emitted whole
 *   (TOOL_NAME N, TOOL_ARGS A as compact JSON; a string A as is). DeepSeek tool calls
 *   (<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>… V3: function<｜tool▁sep｜>N\n```json\nA\n```, V3.1:
 *   N<｜tool▁sep｜>A, then <｜tool▁call▁end｜>) stream their arguments.
 * - Harmony: each message's header (<|channel|>C, optional to=R, <|constrain|>json) is read up to
 *   <|message|>; a message with a recipient is a tool call (name R without "functions."; the body streams
 *   as arguments); otherwise analysis is reasoning and final, commentary (preambles) or any unknown or
 *   missing channel are content. <|end|><|start|>assistant moves to the next message.
 * - A stop marker (chat_stop_texts) ends the reply: feed returns true from then on, later text is ignored.
 *
 * Malformed or truncated output never loses text: a Qwen3 tool call whose body is not the expected JSON,
 * and any markup cut off before it was complete (an unterminated Harmony header, a DeepSeek tool call
 * before its arguments) is emitted as content verbatim; a missing </think> leaves the rest as reasoning;
 * text between Harmony messages is content. Holding back never splits a UTF-8 character that was fed
 * whole (every marker begins with an ASCII byte). */
struct chat_parser {
    enum chat_format format;
    int state;          /* enum in chat_parse.c */
    int body;           /* Harmony: the current message's delta kind */
    bool trim_lead;     /* drop '\n's at the start of the current segment */
    size_t held_nl;     /* reasoning: trailing '\n's not yet emitted */
    int n_tool_calls;   /* tool calls begun so far */
    bool stopped;
    const char *stop;   /* the stop marker seen (static), NULL while running */
    char *buf;          /* (n) owned: fed bytes not yet classified */
    size_t n, cap;
    char *acc;          /* (n_acc) owned: a header, tool name or Qwen3 tool-call body being collected */
    size_t n_acc, cap_acc;
};

void chat_parser_init(struct chat_parser *p, enum chat_format format, const struct chat_parse_options *opt);
/* Feed len bytes; emit(user, delta) receives the deltas that are now certain. Returns true once the reply
 * has stopped (a stop marker was seen, now or before); text after it is ignored. */
bool chat_parser_feed(struct chat_parser *p, const char *text, size_t len, chat_delta_fn emit, void *user);
/* End of output (a stop token, the length limit): flushes everything held, as described above. */
void chat_parser_finish(struct chat_parser *p, chat_delta_fn emit, void *user);
void chat_parser_free(struct chat_parser *p); /* NULL-safe; frees the buffers */

#endif
