/* test_chat_parse.c — the streaming reply parsers (chat_parser_*) and stop tokens (chat_stop_tokens).
 *
 * Each case is a model reply as text and the expected classification, written out by hand from the format
 * descriptions (openai/harmony docs/format.md, the Qwen3 and DeepSeek templates). Every case is fed whole,
 * byte by byte, in two chunks at every split point, in random chunks, and as the streaming detokenizer's
 * pieces of the real tokenizer's ids (when the tokenizer files are present); the merged deltas must be
 * identical every time. Also: no bytes are held back that cannot start a marker, and the stop-token ids
 * are the released ones.
 */
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

/* Deltas merged by kind into one readable string: "R:…|C:…|N0:name|A0:args|STOP:<marker>". */
struct rec {
    char *s;
    size_t n, cap;
    int last_kind, last_tool;
    size_t n_deltas;
};

static void rec_put(struct rec *r, const char *s, size_t len)
{
    if (r->n + len + 1 > r->cap) {
        r->cap = (r->n + len + 1) * 2;
        r->s = xrealloc(r->s, r->cap);
    }
    memcpy(r->s + r->n, s, len);
    r->n += len;
    r->s[r->n] = 0;
}

static void on_delta(void *user, const struct chat_delta *d)
{
    struct rec *r = user;
    CHECK(d->len > 0);
    r->n_deltas++;
    /* A tool name always starts a new segment, even after another call's name. */
    if ((int)d->kind != r->last_kind || d->tool_index != r->last_tool || d->kind == CHAT_DELTA_TOOL_NAME) {
        static const char *tag[] = {"C:", "R:", "N", "A"};
        if (r->n)
            rec_put(r, "|", 1);
        rec_put(r, tag[d->kind], strlen(tag[d->kind]));
        if (d->kind >= CHAT_DELTA_TOOL_NAME) {
            char ix[16];
            snprintf(ix, sizeof ix, "%d:", d->tool_index);
            rec_put(r, ix, strlen(ix));
        }
        r->last_kind = (int)d->kind;
        r->last_tool = d->tool_index;
    }
    rec_put(r, d->text, d->len);
}

static void rec_end(struct rec *r, const struct chat_parser *p)
{
    if (p->stopped) {
        if (r->n)
            rec_put(r, "|", 1);
        rec_put(r, "STOP:", 5);
        rec_put(r, p->stop, strlen(p->stop));
    }
    if (!r->s)
        rec_put(r, "", 0);
}

struct tcase {
    const char *name;
    enum chat_format format;
    bool reasoning_open;
    const char *input;
    const char *want;
};

static const struct tcase cases[] = {
    /* Qwen3 */
    {"qwen_think_on", CHAT_QWEN3, false,
     "<think>\nThe user asks 2+2.\nThat is 4.\n</think>\n\nThe answer is **4**.<|im_end|>",
     "R:The user asks 2+2.\nThat is 4.|C:The answer is **4**.|STOP:<|im_end|>"},
    {"qwen_think_off", CHAT_QWEN3, false, "The answer is 4.\n\nAnything else?<|im_end|>",
     "C:The answer is 4.\n\nAnything else?|STOP:<|im_end|>"},
    {"qwen_2507_thinking_prompt_open", CHAT_QWEN3, true, "Let me think.\n\n</think>\n\nFour.<|im_end|>",
     "R:Let me think.|C:Four.|STOP:<|im_end|>"},
    {"qwen_reasoning_inner_newlines", CHAT_QWEN3, false, "<think>\n\na\n\n\nb\n\n</think>c\n<|endoftext|>",
     "R:a\n\n\nb|C:c\n|STOP:<|endoftext|>"},
    {"qwen_empty_think", CHAT_QWEN3, false, "<think>\n\n</think>\n\nHi<|im_end|>", "C:Hi|STOP:<|im_end|>"},
    {"qwen_tool_call", CHAT_QWEN3, false,
     "<think>\nNeed the weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
     "{\"city\": \"Paris\", \"unit\": \"C\"}}\n</tool_call><|im_end|>",
     "R:Need the weather.|N0:get_weather|A0:{\"city\":\"Paris\",\"unit\":\"C\"}|STOP:<|im_end|>"},
    {"qwen_two_tool_calls_after_content", CHAT_QWEN3, false,
     "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"東京\"}}\n</tool_call>\n"
     "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call><|im_end|>",
     "C:Let me check.\n|N0:get_weather|A0:{\"city\":\"東京\"}|N1:get_time|A1:{}|STOP:<|im_end|>"},
    {"qwen_tool_call_string_arguments", CHAT_QWEN3, false,
     "<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}\n</tool_call>",
     "N0:f|A0:{\"x\": 1}"},
    {"qwen_tool_call_not_json", CHAT_QWEN3, false, "<tool_call>\nnot json\n</tool_call>\nok<|im_end|>",
     "C:<tool_call>\nnot json\n</tool_call>ok|STOP:<|im_end|>"},
    {"qwen_tool_call_truncated", CHAT_QWEN3, false, "<tool_call>\n{\"name\": \"f\", \"argu",
     "C:<tool_call>\n{\"name\": \"f\", \"argu"},
    {"qwen_missing_close_think", CHAT_QWEN3, false, "<think>\nstill thinking when the limit hit\n",
     "R:still thinking when the limit hit"},
    {"qwen_angle_brackets_in_content", CHAT_QWEN3, false,
     "if a < b && c <b>x</b> <think> <|im_start|> <tool <|im_en",
     "C:if a < b && c <b>x</b> <think> <|im_start|> <tool <|im_en"},
    {"qwen_think_prefix_then_text", CHAT_QWEN3, false, "<thin", "C:<thin"},
    {"qwen_unicode", CHAT_QWEN3, false, "<think>\n思考中 👩‍👩‍👧 é\n</think>\n\n答えは4です。<|im_end|>",
     "R:思考中 👩‍👩‍👧 é|C:答えは4です。|STOP:<|im_end|>"},
    {"qwen_text_after_stop_ignored", CHAT_QWEN3, false, "Hi<|im_end|>garbage<think>", "C:Hi|STOP:<|im_end|>"},
    {"qwen_immediate_stop", CHAT_QWEN3, false, "<|im_end|>", "STOP:<|im_end|>"},
    {"qwen_stop_inside_think", CHAT_QWEN3, false, "<think>\nr\n<|im_end|>", "R:r|STOP:<|im_end|>"},
    /* DeepSeek-V3.1 */
    {"dsv31_thinking", CHAT_DEEPSEEK_V31, true,
     "The user asks 2+2. That is 4.</think>The answer is 4.<｜end▁of▁sentence｜>",
     "R:The user asks 2+2. That is 4.|C:The answer is 4.|STOP:<｜end▁of▁sentence｜>"},
    {"dsv31_non_thinking", CHAT_DEEPSEEK_V31, false, "The answer is 4.<｜end▁of▁sentence｜>",
     "C:The answer is 4.|STOP:<｜end▁of▁sentence｜>"},
    {"dsv31_tool_calls", CHAT_DEEPSEEK_V31, false,
     "Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}"
     "<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
     "<｜end▁of▁sentence｜>",
     "C:Checking.|N0:get_weather|A0:{\"city\": \"Paris\"}|N1:get_time|A1:{}|STOP:<｜end▁of▁sentence｜>"},
    {"dsv31_thinking_missing_close", CHAT_DEEPSEEK_V31, true, "reasoning cut off", "R:reasoning cut off"},
    {"dsv31_tool_call_truncated_in_name", CHAT_DEEPSEEK_V31, false,
     "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_wea", "C:get_wea"},
    {"dsv31_tool_call_truncated_in_args", CHAT_DEEPSEEK_V31, false,
     "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"a\": ", "N0:f|A0:{\"a\": "},
    /* DeepSeek-V3 */
    {"dsv3_plain", CHAT_DEEPSEEK_V3, false, "Hello there. <｜User｜> is not special here.<｜end▁of▁sentence｜>",
     "C:Hello there. <｜User｜> is not special here.|STOP:<｜end▁of▁sentence｜>"},
    {"dsv3_r1_style_think", CHAT_DEEPSEEK_V3, false, "<think>\nr\n</think>\n\nA<｜end▁of▁sentence｜>",
     "R:r|C:A|STOP:<｜end▁of▁sentence｜>"},
    {"dsv3_tool_calls", CHAT_DEEPSEEK_V3, false,
     "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n"
     "```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```"
     "<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>",
     "N0:get_weather|A0:{\"city\": \"Paris\"}|N1:get_time|A1:{}|STOP:<｜end▁of▁sentence｜>"},
    {"dsv3_tool_call_no_fence", CHAT_DEEPSEEK_V3, false,
     "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n{\"x\":1}<｜tool▁call▁end｜>"
     "<｜tool▁calls▁end｜>Done.",
     "N0:f|A0:{\"x\":1}|C:Done."},
    /* Harmony */
    {"harmony_analysis_final", CHAT_HARMONY, false,
     "<|channel|>analysis<|message|>User asks 2+2. Simple.<|end|><|start|>assistant<|channel|>final<|message|>"
     "2 + 2 = 4.<|return|>",
     "R:User asks 2+2. Simple.|C:2 + 2 = 4.|STOP:<|return|>"},
    {"harmony_tool_call", CHAT_HARMONY, false,
     "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary "
     "to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>",
     "R:Need weather.|N0:get_weather|A0:{\"city\":\"Paris\"}|STOP:<|call|>"},
    {"harmony_recipient_before_channel", CHAT_HARMONY, false,
     "<|channel|>analysis<|message|>x<|end|><|start|>assistant to=functions.get_time<|channel|>commentary json"
     "<|message|>{}<|call|>",
     "R:x|N0:get_time|A0:{}|STOP:<|call|>"},
    {"harmony_preamble_then_call", CHAT_HARMONY, false,
     "<|channel|>commentary<|message|>Let me look that up.<|end|><|start|>assistant<|channel|>commentary "
     "to=functions.lookup <|constrain|>json<|message|>{\"q\":\"owl\"}<|call|>",
     "C:Let me look that up.|N0:lookup|A0:{\"q\":\"owl\"}|STOP:<|call|>"},
    {"harmony_builtin_tool", CHAT_HARMONY, false,
     "<|channel|>analysis to=browser.search code<|message|>{\"query\":\"owls\"}<|call|>",
     "N0:browser.search|A0:{\"query\":\"owls\"}|STOP:<|call|>"},
    {"harmony_unknown_channel", CHAT_HARMONY, false, "<|channel|>weird<|message|>text<|end|>", "C:text"},
    {"harmony_no_channel", CHAT_HARMONY, false, "<|message|>bare<|return|>", "C:bare|STOP:<|return|>"},
    {"harmony_truncated_analysis", CHAT_HARMONY, false, "<|channel|>analysis<|message|>\nthinking…\n",
     "R:\nthinking…\n"},
    {"harmony_truncated_header", CHAT_HARMONY, false, "<|channel|>fin", "C:<|channel|>fin"},
    {"harmony_plain_text", CHAT_HARMONY, false, "Just text, no header.", "C:Just text, no header."},
    {"harmony_missing_end_start", CHAT_HARMONY, false,
     "<|channel|>analysis<|message|>a<|channel|>final<|message|>b<|return|>", "R:a|C:b|STOP:<|return|>"},
    {"harmony_text_between_messages", CHAT_HARMONY, false,
     "<|channel|>analysis<|message|>a<|end|>stray<|start|>assistant<|channel|>final<|message|>b<|return|>",
     "R:a|C:strayb|STOP:<|return|>"},
    {"harmony_reasoning_open", CHAT_HARMONY, true,
     "more thoughts<|end|><|start|>assistant<|channel|>final<|message|>ok<|return|>",
     "R:more thoughts|C:ok|STOP:<|return|>"},
    {"harmony_endoftext", CHAT_HARMONY, false, "<|channel|>final<|message|>x<|endoftext|>",
     "C:x|STOP:<|endoftext|>"},
    {"harmony_unicode_and_lt", CHAT_HARMONY, false,
     "<|channel|>final<|message|>a <| b <|en < 日本語 🦉<|return|>", "C:a <| b <|en < 日本語 🦉|STOP:<|return|>"},
};

/* Feed input in the chunks that cut[] marks (cut positions ascending, n_cut of them) and return the record. */
static char *parse_chunks(const struct tcase *c, const size_t *cut, size_t n_cut)
{
    struct chat_parser p;
    struct chat_parse_options o = {.reasoning_open = c->reasoning_open};
    chat_parser_init(&p, c->format, &o);
    struct rec r = {.last_kind = -1};
    size_t len = strlen(c->input), at = 0;
    for (size_t i = 0; i <= n_cut; i++) {
        size_t end = i < n_cut ? cut[i] : len;
        chat_parser_feed(&p, c->input + at, end - at, on_delta, &r);
        at = end;
    }
    chat_parser_finish(&p, on_delta, &r);
    rec_end(&r, &p);
    chat_parser_free(&p);
    return r.s;
}

static int check_case(const struct tcase *c)
{
    int bad = 0;
    size_t len = strlen(c->input);
    char *whole = parse_chunks(c, NULL, 0);
    if (strcmp(whole, c->want) != 0) {
        fprintf(stderr, "%s:\n  got  %s\n  want %s\n", c->name, whole, c->want);
        bad++;
    }
    size_t *cut = xcalloc(len + 1, sizeof *cut);
    for (size_t i = 0; i < len; i++)
        cut[i] = i + 1;
    char *bytes = parse_chunks(c, cut, len ? len - 1 : 0);
    if (strcmp(bytes, whole) != 0) {
        fprintf(stderr, "%s byte by byte:\n  got  %s\n  want %s\n", c->name, bytes, whole);
        bad++;
    }
    free(bytes);
    for (size_t k = 0; k <= len; k++) {
        char *two = parse_chunks(c, &k, 1);
        if (strcmp(two, whole) != 0) {
            fprintf(stderr, "%s split at %zu:\n  got  %s\n  want %s\n", c->name, k, two, whole);
            bad++;
        }
        free(two);
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ len;
    for (int trial = 0; trial < 20; trial++) {
        size_t n_cut = 0;
        for (size_t i = 1; i < len; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            if ((rng >> 33) % 4 == 0)
                cut[n_cut++] = i;
        }
        char *rnd = parse_chunks(c, cut, n_cut);
        if (strcmp(rnd, whole) != 0) {
            fprintf(stderr, "%s random chunks (trial %d):\n  got  %s\n  want %s\n", c->name, trial, rnd, whole);
            bad++;
        }
        free(rnd);
    }
    free(cut);
    free(whole);
    return bad;
}

/* Text that cannot begin a marker comes out at once; a possible marker prefix waits for the next feed. */
static void check_holdback(void)
{
    struct chat_parser p;
    struct rec r = {.last_kind = -1};
    chat_parser_init(&p, CHAT_QWEN3, NULL);
    chat_parser_feed(&p, "Hello", 5, on_delta, &r);
    CHECK(r.s && strcmp(r.s, "C:Hello") == 0);
    chat_parser_feed(&p, " <|im_", 6, on_delta, &r);
    CHECK(strcmp(r.s, "C:Hello ") == 0 && p.n == 5);
    chat_parser_feed(&p, "start|>", 7, on_delta, &r);
    CHECK(strcmp(r.s, "C:Hello <|im_start|>") == 0 && p.n == 0);
    CHECK(!chat_parser_feed(&p, "<", 1, on_delta, &r) && p.n == 1);
    CHECK(chat_parser_feed(&p, "|im_end|>more", 13, on_delta, &r));
    CHECK(chat_parser_feed(&p, "x", 1, on_delta, &r) && strcmp(p.stop, "<|im_end|>") == 0);
    chat_parser_finish(&p, on_delta, &r);
    CHECK(strcmp(r.s, "C:Hello <|im_start|>") == 0);
    chat_parser_free(&p);
    free(r.s);

    /* A leading "<" could be <think>: held; "<t" too; "<x" is content at once. */
    r = (struct rec){.last_kind = -1};
    chat_parser_init(&p, CHAT_QWEN3, NULL);
    chat_parser_feed(&p, "<t", 2, on_delta, &r);
    CHECK(r.n_deltas == 0);
    chat_parser_feed(&p, "x", 1, on_delta, &r);
    CHECK(r.s && strcmp(r.s, "C:<tx") == 0);
    chat_parser_free(&p);
    free(r.s);

    /* Reasoning: trailing newlines wait (they are dropped before </think>), other text does not. */
    r = (struct rec){.last_kind = -1};
    chat_parser_init(&p, CHAT_DEEPSEEK_V31, &(struct chat_parse_options){.reasoning_open = true});
    chat_parser_feed(&p, "step one\n\n", 10, on_delta, &r);
    CHECK(r.s && strcmp(r.s, "R:step one") == 0);
    chat_parser_feed(&p, "step two", 8, on_delta, &r);
    CHECK(strcmp(r.s, "R:step one\n\nstep two") == 0);
    chat_parser_free(&p);
    free(r.s);

    /* Harmony: a tool call's arguments stream as they come. */
    r = (struct rec){.last_kind = -1};
    chat_parser_init(&p, CHAT_HARMONY, NULL);
    const char *h = "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"a\": 1";
    chat_parser_feed(&p, h, strlen(h), on_delta, &r);
    CHECK(r.s && strcmp(r.s, "N0:f|A0:{\"a\": 1") == 0);
    chat_parser_free(&p);
    free(r.s);
}

static int32_t fake_lookup(void *user, const char *text)
{
    (void)user;
    if (strcmp(text, "<|im_end|>") == 0)
        return 7;
    if (strcmp(text, "<|return|>") == 0)
        return 9;
    return -1;
}

static int32_t tok_lookup(void *user, const char *text) { return tokenizer_token_id(user, text); }

static struct tokenizer *open_tokenizer(const char *family)
{
    char dir[1024];
    const char *env = getenv("OWL_TESTDATA");
    if (env)
        snprintf(dir, sizeof dir, "%s/tokenizers/%s", env, family);
    else
        snprintf(dir, sizeof dir, "%s/../../.testdata/tokenizers/%s", OWL_FIXTURES, family);
    struct owl_error err = {0};
    struct tokenizer *tok = NULL;
    if (tokenizer_open(&tok, dir, &err) != OWL_OK) {
        printf("SKIP %s tokenizer: %s (run scripts/fetch-testdata.sh)\n", family, err.message);
        CHECK_MSG(!getenv("CI") || err.status != OWL_ERR_IO, "test data missing under CI");
        CHECK_MSG(err.status == OWL_ERR_IO, "%s", err.message);
        return NULL;
    }
    return tok;
}

/* Real stop ids, and every case of the family fed as the streaming detokenizer's pieces of its ids. */
static void check_family(const char *family, enum chat_format a, enum chat_format b, const int32_t *want_ids,
                         int n_want)
{
    struct tokenizer *tok = open_tokenizer(family);
    if (!tok)
        return;
    int32_t ids[CHAT_MAX_STOP_TOKENS];
    int n = 0;
    struct owl_error err = {0};
    CHECK_OK(chat_stop_tokens(a, tok_lookup, tok, ids, &n, &err), &err);
    CHECK_MSG(n == n_want, "%s: %d stop tokens", family, n);
    for (int i = 0; i < n && i < n_want; i++)
        CHECK_MSG(ids[i] == want_ids[i], "%s stop %d: %d, want %d", family, i, ids[i], want_ids[i]);
    int n_cases = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (cases[c].format != a && cases[c].format != b)
            continue;
        struct token_buf tb = {0};
        CHECK_OK(tokenizer_encode(tok, cases[c].input, strlen(cases[c].input), false, &tb, &err), &err);
        struct detok_stream ds;
        detok_stream_init(&ds, tok, false);
        struct chat_parser p;
        struct chat_parse_options o = {.reasoning_open = cases[c].reasoning_open};
        chat_parser_init(&p, cases[c].format, &o);
        struct rec r = {.last_kind = -1};
        for (size_t t = 0; t < tb.n; t++) {
            const char *piece;
            size_t len;
            CHECK_OK(detok_stream_feed(&ds, tb.ids[t], &piece, &len, &err), &err);
            chat_parser_feed(&p, piece, len, on_delta, &r);
        }
        const char *piece;
        size_t len;
        detok_stream_flush(&ds, &piece, &len);
        chat_parser_feed(&p, piece, len, on_delta, &r);
        chat_parser_finish(&p, on_delta, &r);
        rec_end(&r, &p);
        CHECK_MSG(strcmp(r.s, cases[c].want) == 0, "%s via %s tokens: got %s", cases[c].name, family, r.s);
        n_cases++;
        free(r.s);
        chat_parser_free(&p);
        detok_stream_free(&ds);
        token_buf_free(&tb);
    }
    printf("%s: stop ids ok, %d cases fed as detokenizer pieces\n", family, n_cases);
    tokenizer_free(tok);
}

int main(void)
{
    int n = (int)(sizeof cases / sizeof cases[0]), failed = 0;
    for (int i = 0; i < n; i++) {
        int bad = check_case(&cases[i]);
        CHECK_MSG(bad == 0, "%s: %d mismatching feeds", cases[i].name, bad);
        failed += bad != 0;
    }
    printf("parser cases: %d/%d identical whole, byte by byte, at every split point and in random chunks\n",
           n - failed, n);
    check_holdback();

    struct chat_parse_options po = chat_parse_default_options(CHAT_DEEPSEEK_V31,
                                                              &(struct chat_options){.add_generation_prompt = true,
                                                                                     .thinking = 1});
    CHECK(po.reasoning_open);
    po = chat_parse_default_options(CHAT_DEEPSEEK_V31, NULL);
    CHECK(!po.reasoning_open);
    po = chat_parse_default_options(CHAT_QWEN3, &(struct chat_options){.add_generation_prompt = true, .thinking = 1});
    CHECK(!po.reasoning_open);

    int32_t ids[CHAT_MAX_STOP_TOKENS];
    int n_ids = -1;
    struct owl_error err = {0};
    CHECK(chat_stop_tokens(CHAT_QWEN3, fake_lookup, NULL, ids, &n_ids, &err) == OWL_OK && n_ids == 1 && ids[0] == 7);
    CHECK(chat_stop_tokens(CHAT_HARMONY, fake_lookup, NULL, ids, &n_ids, &err) == OWL_OK && n_ids == 1 && ids[0] == 9);
    CHECK(chat_stop_tokens(CHAT_DEEPSEEK_V3, fake_lookup, NULL, ids, &n_ids, &err) == OWL_ERR_BAD_FILE);
    CHECK(strstr(err.message, "end▁of▁sentence") != NULL);

    check_family("qwen3", CHAT_QWEN3, CHAT_QWEN3, (const int32_t[]){151645, 151643}, 2);
    check_family("deepseek_v3", CHAT_DEEPSEEK_V3, CHAT_DEEPSEEK_V31, (const int32_t[]){1}, 1);
    check_family("gptoss", CHAT_HARMONY, CHAT_HARMONY, (const int32_t[]){200002, 200012, 199999}, 3);
    return test_done("test_chat_parse");
}
