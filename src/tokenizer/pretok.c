/* pretok.c — normalizers (NFC/NFD/NFKC/NFKD and Sequence, via utf8proc) and the pre-tokenizer (Split by
 * regex, ByteLevel, Sequence), mirroring `tokenizers` normalizers/ and pre_tokenizers/{split,byte_level}.rs.
 *
 * HF compiles the Split regex with Oniguruma; owl uses PCRE2 (UTF + UCP, JIT). The one difference that
 * matters for these files is `\s`: Oniguruma's Unicode \s includes U+0085 (NEL), PCRE2's UCP \s does not,
 * so the pattern is rewritten (\s -> [\s\x{85}]) before compiling. ByteLevel is the identity here because
 * tokens are kept as raw bytes; with use_regex it adds the GPT-2 split.
 */
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <utf8proc.h>

#include "tokenizer/tok_impl.h"

static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void span_push(struct span_buf *b, size_t off, size_t len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n++] = (struct span){off, len};
}

/* Rewrite an Oniguruma pattern for PCRE2: \s gains U+0085. Returns a malloc'd string, or NULL when the
 * pattern uses a construct this rewrite does not handle (\S inside a class). */
static char *onig_to_pcre2(const char *pat)
{
    size_t n = strlen(pat);
    char *out = xcalloc(n * 12 + 1, 1);
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char e = pat[i + 1];
            const char *rep = NULL;
            if (e == 's')
                rep = in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
            else if (e == 'S') {
                if (in_class) {
                    free(out);
                    return NULL;
                }
                rep = "[^\\s\\x{85}]";
            }
            if (rep) {
                memcpy(out + o, rep, strlen(rep));
                o += strlen(rep);
            } else {
                out[o++] = c;
                out[o++] = e;
            }
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out[o++] = c;
            if (i + 1 < n && pat[i + 1] == '^')
                out[o++] = pat[++i];
            if (i + 1 < n && pat[i + 1] == ']') /* a leading ] is literal */
                out[o++] = pat[++i];
            continue;
        }
        if (in_class && c == ']')
            in_class = false;
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

static enum owl_status compile_step(struct pretok_step *st, const char *pattern, const char *source,
                                    struct owl_error *err)
{
    char *pat = onig_to_pcre2(pattern);
    if (!pat)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: pre_tokenizer Split regex uses \\S inside a class: %s", source,
                    pattern);
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    free(pat);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return fail(err, OWL_ERR_BAD_FILE, "%s: pre_tokenizer Split regex does not compile at %zu (%s): %s", source,
                    (size_t)at, (const char *)msg, pattern);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: without JIT pcre2_match interprets */
    st->code = re;
    st->match_data = pcre2_match_data_create_from_pattern(re, NULL);
    return OWL_OK;
}

static enum owl_status add_norm(struct pretok *p, const json_t *n, const char *source, struct owl_error *err)
{
    if (!n || json_is_null(n))
        return OWL_OK;
    const char *type = json_string_value(json_object_get(n, "type"));
    if (!type)
        return fail(err, OWL_ERR_BAD_FILE, "%s: normalizer: expected a \"type\" string", source);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list))
            return fail(err, OWL_ERR_BAD_FILE, "%s: normalizer Sequence: expected a \"normalizers\" array", source);
        for (size_t i = 0; i < json_array_size(list); i++) {
            enum owl_status st = add_norm(p, json_array_get(list, i), source, err);
            if (st)
                return st;
        }
        return OWL_OK;
    }
    static const struct {
        const char *name;
        enum norm_kind kind;
    } kinds[] = {{"NFC", NORM_NFC}, {"NFD", NORM_NFD}, {"NFKC", NORM_NFKC}, {"NFKD", NORM_NFKD}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (strcmp(type, kinds[k].name) == 0) {
            p->norms = xrealloc(p->norms, (size_t)(p->n_norms + 1) * sizeof *p->norms);
            p->norms[p->n_norms++] = kinds[k].kind;
            return OWL_OK;
        }
    }
    return fail(err, OWL_ERR_UNSUPPORTED, "%s: normalizer type %s (owl supports NFC, NFD, NFKC, NFKD, Sequence)",
                source, type);
}

static struct pretok_step *new_step(struct pretok *p)
{
    p->steps = xrealloc(p->steps, (size_t)(p->n_steps + 1) * sizeof *p->steps);
    struct pretok_step *st = &p->steps[p->n_steps++];
    memset(st, 0, sizeof *st);
    return st;
}

static enum owl_status add_pretok(struct pretok *p, const json_t *t, const char *source, struct owl_error *err)
{
    if (!t || json_is_null(t))
        return OWL_OK;
    const char *type = json_string_value(json_object_get(t, "type"));
    if (!type)
        return fail(err, OWL_ERR_BAD_FILE, "%s: pre_tokenizer: expected a \"type\" string", source);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(t, "pretokenizers");
        if (!json_is_array(list))
            return fail(err, OWL_ERR_BAD_FILE, "%s: pre_tokenizer Sequence: expected a \"pretokenizers\" array",
                        source);
        for (size_t i = 0; i < json_array_size(list); i++) {
            enum owl_status st = add_pretok(p, json_array_get(list, i), source, err);
            if (st)
                return st;
        }
        return OWL_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (json_is_true(json_object_get(t, "add_prefix_space")))
            return fail(err, OWL_ERR_UNSUPPORTED, "%s: pre_tokenizer ByteLevel add_prefix_space: expected false, got true",
                        source);
        const json_t *use_regex = json_object_get(t, "use_regex");
        if (use_regex && !json_is_true(use_regex) && !json_is_false(use_regex))
            return fail(err, OWL_ERR_BAD_FILE, "%s: pre_tokenizer ByteLevel use_regex: expected a boolean", source);
        if (!use_regex || json_is_true(use_regex)) { /* HF's default is true */
            struct pretok_step *st = new_step(p);
            st->is_split = true;
            st->behavior = SPLIT_ISOLATED;
            return compile_step(st, gpt2_pattern, source, err);
        }
        return OWL_OK;
    }
    if (strcmp(type, "Split") == 0) {
        const json_t *pattern = json_object_get(t, "pattern");
        const char *regex = json_string_value(json_object_get(pattern, "Regex"));
        const char *literal = json_string_value(json_object_get(pattern, "String"));
        if (!regex && !literal)
            return fail(err, OWL_ERR_BAD_FILE, "%s: pre_tokenizer Split pattern: expected {\"Regex\": ...} or "
                        "{\"String\": ...}", source);
        if (json_is_true(json_object_get(t, "invert")))
            return fail(err, OWL_ERR_UNSUPPORTED, "%s: pre_tokenizer Split invert: expected false, got true", source);
        const char *behavior = json_string_value(json_object_get(t, "behavior"));
        static const struct {
            const char *name;
            enum split_behavior b;
        } behaviors[] = {{"Removed", SPLIT_REMOVED},
                         {"Isolated", SPLIT_ISOLATED},
                         {"MergedWithPrevious", SPLIT_MERGED_WITH_PREVIOUS},
                         {"MergedWithNext", SPLIT_MERGED_WITH_NEXT}};
        int found = -1;
        for (int k = 0; behavior && k < 4; k++)
            if (strcmp(behavior, behaviors[k].name) == 0)
                found = k;
        if (found < 0)
            return fail(err, OWL_ERR_UNSUPPORTED, "%s: pre_tokenizer Split behavior: expected Removed, Isolated, "
                        "MergedWithPrevious or MergedWithNext, got %s", source, behavior ? behavior : "(none)");
        struct pretok_step *st = new_step(p);
        st->is_split = true;
        st->behavior = behaviors[found].b;
        if (regex)
            return compile_step(st, regex, source, err);
        /* A literal: quote it for PCRE2. */
        size_t n = strlen(literal);
        char *q = xcalloc(n + 5, 1);
        snprintf(q, n + 5, "\\Q%s\\E", literal);
        enum owl_status s = strstr(literal, "\\E") ? fail(err, OWL_ERR_UNSUPPORTED, "%s: Split literal with \\E",
                                                         source)
                                                   : compile_step(st, q, source, err);
        free(q);
        return s;
    }
    return fail(err, OWL_ERR_UNSUPPORTED, "%s: pre_tokenizer type %s (owl supports Split, ByteLevel, Sequence)",
                source, type);
}

enum owl_status pretok_init(struct pretok *p, const void *normalizer, const void *pre_tokenizer,
                            const char *source, struct owl_error *err)
{
    memset(p, 0, sizeof *p);
    enum owl_status st = add_norm(p, normalizer, source, err);
    if (!st)
        st = add_pretok(p, pre_tokenizer, source, err);
    if (st)
        pretok_free(p);
    return st;
}

void pretok_free(struct pretok *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_steps; i++) {
        pcre2_match_data_free(p->steps[i].match_data);
        pcre2_code_free(p->steps[i].code);
    }
    free(p->steps);
    free(p->norms);
    memset(p, 0, sizeof *p);
}

char *pretok_normalize(const struct pretok *p, const char *s, size_t len, size_t *out_len)
{
    if (!p->n_norms)
        return NULL;
    char *cur = NULL;
    size_t cur_len = len;
    for (int i = 0; i < p->n_norms; i++) {
        utf8proc_option_t opt = UTF8PROC_STABLE;
        switch (p->norms[i]) {
        case NORM_NFC: opt |= UTF8PROC_COMPOSE; break;
        case NORM_NFD: opt |= UTF8PROC_DECOMPOSE; break;
        case NORM_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
        case NORM_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
        }
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)(cur ? cur : s), (utf8proc_ssize_t)cur_len, &dst,
                                          opt);
        OWL_ASSERT(n >= 0); /* input was validated as UTF-8 and utf8proc only fails on invalid input/OOM */
        free(cur);
        cur = (char *)dst;
        cur_len = (size_t)n;
    }
    *out_len = cur_len;
    return cur;
}

/* One Split step on the piece s[off, off+len): appends the resulting pieces to out. */
static void split_piece(const struct pretok_step *st, const char *s, size_t off, size_t len, struct span_buf *out)
{
    const char *subj = s + off;
    size_t start = 0, prev = 0;
    /* pending: last pushed piece index and whether it was a match, for the Merged behaviours */
    size_t first = out->n;
    bool prev_match = false;
    pcre2_match_data *md = st->match_data;
    while (start <= len) {
        int rc = pcre2_match(st->code, (PCRE2_SPTR)subj, len, start, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        /* gap before the match */
        if (ms > prev) {
            if (st->behavior != SPLIT_REMOVED) {
                if (st->behavior == SPLIT_MERGED_WITH_NEXT && prev_match && out->n > first) {
                    /* the previous match was held to be merged with this gap */
                    out->v[out->n - 1].len = off + ms - out->v[out->n - 1].off;
                } else {
                    span_push(out, off + prev, ms - prev);
                }
            }
            prev_match = false;
        }
        if (me > ms) {
            switch (st->behavior) {
            case SPLIT_REMOVED:
                break;
            case SPLIT_ISOLATED:
                span_push(out, off + ms, me - ms);
                break;
            case SPLIT_MERGED_WITH_PREVIOUS:
                if (!prev_match && out->n > first)
                    out->v[out->n - 1].len = off + me - out->v[out->n - 1].off;
                else
                    span_push(out, off + ms, me - ms);
                break;
            case SPLIT_MERGED_WITH_NEXT:
                if (prev_match && out->n > first)
                    span_push(out, off + ms, me - ms); /* consecutive matches stay apart */
                else
                    span_push(out, off + ms, me - ms);
                break;
            }
            prev_match = true;
            prev = me;
            start = me;
        } else {
            /* empty match: step over one character, as Oniguruma's find_iter does */
            if (ms >= len)
                break;
            uint32_t cp;
            int n = tok_utf8_decode((const uint8_t *)subj + ms, len - ms, &cp);
            start = ms + (size_t)(n > 0 ? n : 1);
        }
    }
    if (prev < len) {
        if (st->behavior == SPLIT_REMOVED)
            return;
        if (st->behavior == SPLIT_MERGED_WITH_NEXT && prev_match && out->n > first)
            out->v[out->n - 1].len = off + len - out->v[out->n - 1].off;
        else
            span_push(out, off + prev, len - prev);
    }
}

void pretok_split(const struct pretok *p, const char *s, size_t len, struct span_buf *out, struct span_buf *tmp)
{
    out->n = 0;
    if (len == 0)
        return;
    span_push(out, 0, len);
    for (int i = 0; i < p->n_steps; i++) {
        tmp->n = 0;
        for (size_t k = 0; k < out->n; k++)
            split_piece(&p->steps[i], s, out->v[k].off, out->v[k].len, tmp);
        struct span_buf t = *out;
        *out = *tmp;
        *tmp = t;
    }
}
