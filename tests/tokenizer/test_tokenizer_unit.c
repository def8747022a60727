/* test_tokenizer_unit.c — the tokenizer on small synthetic tokenizer.json files (no fetched data needed):
 * both merge encodings give the same ids, merge ranks decide, ignore_merges, added-token lstrip/rstrip,
 * the streaming detokenizer on a character cut across tokens, and malformed files rejected with a status.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

/* GPT-2 bytes_to_unicode as UTF-8 strings. */
static void byte_char(int b, char out[4])
{
    int n = 0, cp = -1;
    for (int x = 0; x < 256; x++) {
        bool direct = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
        int c = direct ? x : 256 + n++;
        if (x == b)
            cp = c;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* A byte-level BPE over all 256 bytes plus merges h+e, he+l, l+l, Ġ+w (as "a b" strings or pairs). */
static char *make_json(bool pair_merges, bool ignore_merges)
{
    json_t *vocab = json_object();
    for (int b = 0; b < 256; b++) {
        char c[4];
        byte_char(b, c);
        json_object_set_new(vocab, c, json_integer(b));
    }
    const char *merged[] = {"he", "hel", "ll", "\xc4\xa0w", "hell"};
    for (int i = 0; i < 5; i++)
        json_object_set_new(vocab, merged[i], json_integer(256 + i));
    const char *pairs[][2] = {{"h", "e"}, {"he", "l"}, {"l", "l"}, {"\xc4\xa0", "w"}, {"hel", "l"}};
    json_t *merges = json_array();
    for (int i = 0; i < 5; i++) {
        if (pair_merges) {
            json_t *p = json_array();
            json_array_append_new(p, json_string(pairs[i][0]));
            json_array_append_new(p, json_string(pairs[i][1]));
            json_array_append_new(merges, p);
        } else {
            char s[16];
            snprintf(s, sizeof s, "%s %s", pairs[i][0], pairs[i][1]);
            json_array_append_new(merges, json_string(s));
        }
    }
    json_t *model = json_pack("{s:s, s:o, s:o, s:b}", "type", "BPE", "vocab", vocab, "merges", merges,
                              "ignore_merges", ignore_merges);
    json_t *added = json_pack("[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}, {s:i, s:s, s:b, s:b, s:b, s:b, s:b}]",
                              "id", 300, "content", "<X>", "special", 1, "lstrip", 1, "rstrip", 1, "normalized", 0,
                              "single_word", 0, "id", 301, "content", "<Y>", "special", 0, "lstrip", 0, "rstrip", 0,
                              "normalized", 0, "single_word", 0);
    json_t *pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b}]}", "type", "Sequence",
                            "pretokenizers", "type", "Split", "pattern", "Regex",
                            " ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", "behavior", "Isolated",
                            "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0);
    json_t *root = json_pack("{s:o, s:o, s:{s:s}, s:o, s:{s:s}}", "added_tokens", added, "model", model, "normalizer",
                             "type", "NFC", "pre_tokenizer", pre, "decoder", "type", "ByteLevel");
    char *s = json_dumps(root, 0);
    json_decref(root);
    return s;
}

static void expect_ids(struct tokenizer *tok, const char *text, const int32_t *want, size_t n_want)
{
    struct owl_error err = {0};
    struct token_buf ids = {0};
    CHECK_OK(tokenizer_encode(tok, text, strlen(text), false, &ids, &err), &err);
    bool same = ids.n == n_want;
    for (size_t i = 0; same && i < n_want; i++)
        same = ids.ids[i] == want[i];
    if (!same) {
        fprintf(stderr, "got:");
        for (size_t i = 0; i < ids.n; i++)
            fprintf(stderr, " %d", ids.ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK_MSG(same, "encode(\"%s\")", text);
    token_buf_free(&ids);
}

int main(void)
{
    struct owl_error err = {0};
    for (int pair = 0; pair < 2; pair++) {
        char *json = make_json(pair, false);
        struct tokenizer *tok;
        CHECK_OK(tokenizer_load(&tok, json, strlen(json), NULL, 0, "synthetic", &err), &err);
        /* "hello": h e l l o -> he l l o -> he ll o (rank 2) vs hel l (rank 1 first): hel, l, o -> hell (rank 4) */
        expect_ids(tok, "hello", (int32_t[]){260, 'o'}, 2);
        expect_ids(tok, " world", (int32_t[]){259, 'o', 'r', 'l', 'd'}, 5);
        /* <X> strips the spaces around it (lstrip/rstrip); <Y> does not */
        struct token_buf ids = {0};
        CHECK_OK(tokenizer_encode(tok, "a  <X>  b<Y> c", 14, false, &ids, &err), &err);
        CHECK(ids.n == 6 && ids.ids[0] == 'a' && ids.ids[1] == 300 && ids.ids[2] == 'b' && ids.ids[3] == 301 && ids.ids[4] == ' ' && ids.ids[5] == 'c');
        token_buf_free(&ids);
        /* NFC: e + combining acute encodes like the precomposed é */
        struct token_buf a = {0}, b = {0};
        CHECK_OK(tokenizer_encode(tok, "e\xcc\x81", 3, false, &a, &err), &err);
        CHECK_OK(tokenizer_encode(tok, "\xc3\xa9", 2, false, &b, &err), &err);
        CHECK(a.n == 2 && b.n == 2 && a.ids[0] == 0xC3 && a.ids[1] == 0xA9 && b.ids[0] == 0xC3);
        /* streaming a 2-byte character split over two byte tokens: nothing, then the whole character */
        struct detok_stream s;
        detok_stream_init(&s, tok, false);
        const char *p;
        size_t n;
        CHECK_OK(detok_stream_feed(&s, 0xC3, &p, &n, &err), &err);
        CHECK(n == 0);
        CHECK_OK(detok_stream_feed(&s, 0xA9, &p, &n, &err), &err);
        CHECK(n == 2 && memcmp(p, "\xc3\xa9", 2) == 0);
        /* a cut character at the end becomes U+FFFD on flush, like from_utf8_lossy */
        CHECK_OK(detok_stream_feed(&s, 0xE4, &p, &n, &err), &err);
        CHECK(n == 0);
        detok_stream_flush(&s, &p, &n);
        CHECK(n == 3 && memcmp(p, "\xef\xbf\xbd", 3) == 0);
        /* an invalid byte followed by ASCII: U+FFFD then the ASCII */
        CHECK_OK(detok_stream_feed(&s, 0xFF, &p, &n, &err), &err);
        CHECK(n == 3);
        detok_stream_free(&s);
        char *dec;
        size_t dlen;
        CHECK_OK(tokenizer_decode(tok, (int32_t[]){260, 'o', 300, 301}, 4, true, &dec, &dlen, &err), &err);
        CHECK(dlen == 8 && memcmp(dec, "hello<Y>", 8) == 0); /* special <X> skipped, <Y> kept */
        free(dec);
        CHECK(tokenizer_token_id(tok, "<Y>") == 301 && tokenizer_token_id(tok, "hell") == 260 &&
              tokenizer_token_id(tok, "nope") == -1);
        token_buf_free(&a);
        token_buf_free(&b);
        tokenizer_free(tok);
        free(json);
    }
    /* ignore_merges: a pre-token that is itself a token is emitted whole even if merges would not reach it */
    {
        char *json = make_json(false, true);
        struct tokenizer *tok;
        CHECK_OK(tokenizer_load(&tok, json, strlen(json), NULL, 0, "synthetic", &err), &err);
        expect_ids(tok, "hell", (int32_t[]){260}, 1);
        tokenizer_free(tok);
        free(json);
    }
    /* malformed files: a status naming the problem, never a crash */
    const char *bad[] = {
        "", "[]", "{}", "{\"model\": {\"type\": \"WordPiece\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -4}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [5]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": "
        "\"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"Lowercase\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"byte_fallback\": true}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": 1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tokenizer *tok = (struct tokenizer *)1;
        enum owl_status st = tokenizer_load(&tok, bad[i], strlen(bad[i]), NULL, 0, "bad.json", &err);
        CHECK_MSG(st != OWL_OK && tok == NULL, "bad file %zu accepted", i);
        CHECK(err.message[0] != 0);
    }
    return test_done("test_tokenizer_unit");
}
