/* tok_jsonl.c — line-oriented JSON front ends over the tokenizer, for `owl tokenize --jsonl` and
 * `owl detokenize --jsonl` (and the tests' golden tools): one JSON string per input line gives one JSON
 * array of ids per output line, and back. Not a general JSON library: jansson parses each line.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenizer/tok_impl.h"
#include "tokenizer/tok_jsonl.h"

static enum owl_status print_ids(FILE *out, const int32_t *ids, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, i ? ",%d" : "%d", (int)ids[i]);
    fputs("]\n", out);
    return OWL_OK;
}

enum owl_status tokenizer_print_ids(FILE *out, const int32_t *ids, size_t n) { return print_ids(out, ids, n); }

enum owl_status tokenizer_print_string(FILE *out, const char *s, size_t len)
{
    json_t *j = json_stringn_nocheck(s, len);
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    if (!text)
        return OWL_ERR_OUT_OF_MEMORY;
    fputs(text, out);
    fputc('\n', out);
    free(text);
    return OWL_OK;
}

enum owl_status tokenizer_jsonl_encode(struct tokenizer *tok, FILE *in, FILE *out, bool add_bos,
                                       struct owl_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    size_t lineno = 0;
    enum owl_status st = OWL_OK;
    struct token_buf ids = {0};
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (n == 0 || (n == 1 && line[0] == '\n'))
            continue;
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!j || !json_is_string(j)) {
            json_decref(j);
            st = fail(err, OWL_ERR_INVALID_ARG, "line %zu: expected one JSON string per line", lineno);
            break;
        }
        ids.n = 0;
        st = tokenizer_encode(tok, json_string_value(j), json_string_length(j), add_bos, &ids, err);
        json_decref(j);
        if (st)
            break;
        print_ids(out, ids.ids, ids.n);
    }
    free(line);
    token_buf_free(&ids);
    return st;
}

enum owl_status tokenizer_parse_ids(const char *json, size_t len, struct token_buf *ids, struct owl_error *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    if (!j || !json_is_array(j)) {
        json_decref(j);
        return fail(err, OWL_ERR_INVALID_ARG, "expected a JSON array of token ids");
    }
    ids->n = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        const json_t *v = json_array_get(j, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            json_decref(j);
            return fail(err, OWL_ERR_INVALID_ARG, "item %zu: expected a token id (integer >= 0)", i);
        }
        token_buf_push(ids, (int32_t)json_integer_value(v));
    }
    json_decref(j);
    return OWL_OK;
}

enum owl_status tokenizer_jsonl_decode(const struct tokenizer *tok, FILE *in, FILE *out, struct owl_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    size_t lineno = 0;
    enum owl_status st = OWL_OK;
    struct token_buf ids = {0};
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (n == 0 || (n == 1 && line[0] == '\n'))
            continue;
        st = tokenizer_parse_ids(line, (size_t)n, &ids, err);
        if (st) {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "line %zu", lineno);
            fail_prefix(err, msg);
            break;
        }
        char *text;
        size_t tlen;
        st = tokenizer_decode(tok, ids.ids, ids.n, false, &text, &tlen, err);
        if (st)
            break;
        tokenizer_print_string(out, text, tlen);
        free(text);
    }
    free(line);
    token_buf_free(&ids);
    return st;
}
