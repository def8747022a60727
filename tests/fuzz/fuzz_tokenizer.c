/* fuzz_tokenizer.c — libFuzzer target for the tokenizer: an input starting with '{' is parsed as a
 * tokenizer.json (must load or fail with a status, never crash); any other input is encoded with a small
 * byte-level BPE (all 256 bytes, a few merges, an added token, the Qwen3 Split regex, NFC) and decoded
 * back: valid UTF-8 must round-trip to its NFC form's bytes when it is ASCII, and decode must never fail
 * on ids that encode produced. Replayed over tests/fuzz/corpus/fuzz_tokenizer under CTest.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "tokenizer/tokenizer.h"

static struct tokenizer *small_tokenizer(void)
{
    static struct tokenizer *tok;
    if (tok)
        return tok;
    json_t *vocab = json_object();
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool direct = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int cp = direct ? b : 256 + n++;
        char c[4] = {0};
        if (cp < 0x80)
            c[0] = (char)cp;
        else {
            c[0] = (char)(0xC0 | (cp >> 6));
            c[1] = (char)(0x80 | (cp & 0x3F));
        }
        json_object_set_new(vocab, c, json_integer(b));
    }
    json_object_set_new(vocab, "th", json_integer(256));
    json_object_set_new(vocab, "the", json_integer(257));
    json_object_set_new(vocab, "\xc4\xa0the", json_integer(258));
    json_t *root = json_pack(
        "{s:{s:s, s:o, s:[s, s, s]}, s:[{s:i, s:s, s:b, s:b}], s:{s:s}, s:{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s, s:b}]}}",
        "model", "type", "BPE", "vocab", vocab, "merges", "t h", "th e", "\xc4\xa0 the", "added_tokens", "id", 259,
        "content", "<|im_end|>", "special", 1, "normalized", 0, "normalizer", "type", "NFC", "pre_tokenizer", "type",
        "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
        "\\s+(?!\\S)|\\s+",
        "behavior", "Isolated", "type", "ByteLevel", "use_regex", 0);
    char *s = json_dumps(root, 0);
    json_decref(root);
    struct owl_error err;
    OWL_ASSERT(tokenizer_load(&tok, s, strlen(s), NULL, 0, "fuzz", &err) == OWL_OK);
    free(s);
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct owl_error err;
    if (size > 0 && data[0] == '{') {
        struct tokenizer *t = NULL;
        if (tokenizer_load(&t, (const char *)data, size, NULL, 0, "fuzz.json", &err) == OWL_OK) {
            struct token_buf ids = {0};
            tokenizer_encode(t, "Hello, world! 123", 17, false, &ids, &err);
            token_buf_free(&ids);
            tokenizer_free(t);
        }
        return 0;
    }
    struct tokenizer *tok = small_tokenizer();
    struct token_buf ids = {0};
    if (tokenizer_encode(tok, (const char *)data, size, false, &ids, &err) != OWL_OK)
        return 0; /* invalid UTF-8 is refused, with a status */
    char *text = NULL;
    size_t len = 0;
    OWL_ASSERT(tokenizer_decode(tok, ids.ids, ids.n, false, &text, &len, &err) == OWL_OK);
    bool ascii = true;
    for (size_t i = 0; i < size; i++)
        ascii &= data[i] < 0x80;
    if (ascii)
        OWL_ASSERT(len == size && memcmp(text, data, size) == 0);
    struct detok_stream s;
    detok_stream_init(&s, tok, false);
    size_t total = 0;
    for (size_t i = 0; i < ids.n; i++) {
        const char *p;
        size_t n;
        OWL_ASSERT(detok_stream_feed(&s, ids.ids[i], &p, &n, &err) == OWL_OK);
        OWL_ASSERT(total + n <= len && memcmp(text + total, p, n) == 0);
        total += n;
    }
    detok_stream_free(&s);
    OWL_ASSERT(total == len);
    free(text);
    token_buf_free(&ids);
    return 0;
}
