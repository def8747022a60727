/* fuzz_chat_parse.c — libFuzzer target for the streaming reply parser (chat_parser_*): the first byte picks the
 * format, whether the reasoning block is open and a chunk size; the rest is model output fed in chunks of that
 * size. Beyond not crashing: every delta is non-empty and of a known kind, and a reply split into chunks gives
 * the same deltas, concatenated per kind, as the reply fed whole. */
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct collected {
    char *text[4]; /* concatenated text per delta kind */
    size_t len[4];
};

static void collect(void *user, const struct chat_delta *d)
{
    struct collected *c = user;
    OWL_ASSERT(d->len > 0 && (unsigned)d->kind < 4);
    c->text[d->kind] = xrealloc(c->text[d->kind], c->len[d->kind] + d->len + 1);
    memcpy(c->text[d->kind] + c->len[d->kind], d->text, d->len);
    c->len[d->kind] += d->len;
}

static void run(enum chat_format format, bool open, const char *text, size_t n, size_t chunk, struct collected *c)
{
    struct chat_parser p;
    const struct chat_parse_options opt = {.reasoning_open = open};
    chat_parser_init(&p, format, &opt);
    bool stopped = false;
    for (size_t i = 0; i < n && !stopped; i += chunk)
        stopped = chat_parser_feed(&p, text + i, n - i < chunk ? n - i : chunk, collect, c);
    chat_parser_finish(&p, collect, c);
    chat_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const enum chat_format formats[] = {CHAT_QWEN3, CHAT_DEEPSEEK_V3, CHAT_DEEPSEEK_V31, CHAT_HARMONY};
    const enum chat_format format = formats[data[0] & 3];
    const bool open = data[0] & 4;
    const size_t chunk = 1 + (data[0] >> 3);
    struct collected whole = {0}, split = {0};
    run(format, open, (const char *)data + 1, size - 1, size, &whole);
    run(format, open, (const char *)data + 1, size - 1, chunk, &split);
    for (int k = 0; k < 4; k++) {
        OWL_ASSERT(whole.len[k] == split.len[k]);
        OWL_ASSERT(whole.len[k] == 0 || memcmp(whole.text[k], split.text[k], whole.len[k]) == 0);
        free(whole.text[k]);
        free(split.text[k]);
    }
    return 0;
}
