/* tokenizer.c — loading tokenizer.json / tokenizer_config.json and the encode pipeline.
 *
 * Mirrors `tokenizers` tokenizer/mod.rs (encode_single_sequence) and tokenizer/added_vocabulary.rs
 * (extract_and_normalize, find_matches): added tokens that are not `normalized` are cut out of the raw
 * text first (leftmost-longest, honouring single_word/lstrip/rstrip), the remaining pieces are normalized
 * and cut again by the `normalized` added tokens, then pre-tokenized and run through BPE. BOS comes from
 * tokenizer_config.json (transformers adds it when add_bos_token is true: DeepSeek); owl adds it only
 * when the caller asks.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/file_map.h"
#include "tokenizer/tok_impl.h"

/* A byte trie over the added tokens' contents, for leftmost-longest matching. */
struct trie_node {
    int32_t child;   /* first child node, -1 none */
    int32_t sibling; /* next sibling, -1 none */
    int32_t token;   /* index into tokenizer.added when a token ends here, else -1 */
    uint8_t byte;
};

struct trie {
    struct trie_node *nodes; /* (n) owned; node 0 is the root */
    int32_t n, cap;
    uint8_t first[32];       /* bitmap of first bytes, to skip positions fast */
};

struct added_token {
    char *text;      /* owned, as written in tokenizer.json */
    char *content;   /* owned, what is matched: text, or its normalized form for normalized tokens */
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
};

struct tokenizer {
    char *source;              /* owned, for messages */
    struct bpe bpe;
    struct pretok pre;
    int32_t n_vocab;           /* max id + 1 */
    char *arena;               /* owned: every token's bytes (vocab keys and decode pieces) */
    size_t arena_len, arena_cap;
    uint32_t *tok_off;         /* (n_vocab) offset into arena */
    uint32_t *tok_len;         /* (n_vocab) byte length; UINT32_MAX for an id that names no token */
    uint8_t *tok_special;      /* (n_vocab) 1 for added tokens marked special */
    struct added_token *added; /* (n_added) owned */
    int n_added;
    struct str_map added_by_text; /* content -> id, keys borrowed from added[] */
    struct trie raw_trie;      /* added tokens with normalized == false */
    struct trie norm_trie;     /* added tokens with normalized == true */
    int32_t bos_id, eos_id;
    bool add_bos;
    struct span_buf spans, spans_tmp; /* scratch for encode */
};

/* ---- GPT-2 byte alphabet (bytes_to_unicode) ---- */

static void byte_alphabet(uint16_t byte_to_cp[256], int16_t cp_to_byte[324])
{
    int n = 0;
    for (int i = 0; i < 324; i++)
        cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool direct = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        byte_to_cp[b] = direct ? (uint16_t)b : (uint16_t)(256 + n++);
        cp_to_byte[byte_to_cp[b]] = (int16_t)b;
    }
}

/* Map a byte-level string to raw bytes into out (capacity >= len). If a character is outside the
 * alphabet the string's own UTF-8 bytes are used, as the ByteLevel decoder does. Returns the length. */
static size_t byte_level_to_raw(const int16_t cp_to_byte[324], const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = tok_utf8_decode((const uint8_t *)s + i, len - i, &cp);
        if (k <= 0 || cp >= 324 || cp_to_byte[cp] < 0) {
            memcpy(out, s, len);
            return len;
        }
        out[o++] = (char)cp_to_byte[cp];
        i += (size_t)k;
    }
    return o;
}

/* ---- trie ---- */

static int32_t trie_new_node(struct trie *t, uint8_t byte)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->nodes = xrealloc(t->nodes, (size_t)t->cap * sizeof *t->nodes);
    }
    t->nodes[t->n] = (struct trie_node){-1, -1, -1, byte};
    return t->n++;
}

static void trie_add(struct trie *t, const char *s, size_t len, int32_t token)
{
    if (!t->n)
        trie_new_node(t, 0);
    if (!len)
        return;
    t->first[(uint8_t)s[0] >> 3] |= (uint8_t)(1u << ((uint8_t)s[0] & 7));
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t c = t->nodes[node].child;
        while (c >= 0 && t->nodes[c].byte != (uint8_t)s[i])
            c = t->nodes[c].sibling;
        if (c < 0) {
            c = trie_new_node(t, (uint8_t)s[i]);
            t->nodes[c].sibling = t->nodes[node].child;
            t->nodes[node].child = c;
        }
        node = c;
    }
    if (t->nodes[node].token < 0) /* a duplicate content keeps the first token */
        t->nodes[node].token = token;
}

/* Longest token starting at s[0]: its index, length in *mlen; -1 when none. */
static int32_t trie_longest(const struct trie *t, const char *s, size_t len, size_t *mlen)
{
    int32_t node = 0, best = -1;
    for (size_t i = 0; i < len; i++) {
        int32_t c = t->nodes[node].child;
        while (c >= 0 && t->nodes[c].byte != (uint8_t)s[i])
            c = t->nodes[c].sibling;
        if (c < 0)
            break;
        node = c;
        if (t->nodes[node].token >= 0) {
            best = t->nodes[node].token;
            *mlen = i + 1;
        }
    }
    return best;
}

/* ---- Unicode predicates used by lstrip/rstrip/single_word (Rust char methods) ---- */

static bool is_white_space(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* char::is_alphanumeric || '_' for ASCII; other characters count as word characters when they are not
 * whitespace or ASCII punctuation (an approximation: none of the supported files uses single_word). */
static bool is_word_char(uint32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    return !is_white_space(c);
}

static uint32_t last_char(const char *s, size_t len)
{
    size_t i = len;
    while (i > 0 && ((uint8_t)s[i - 1] & 0xC0) == 0x80)
        i--;
    uint32_t cp = 0;
    if (i > 0)
        tok_utf8_decode((const uint8_t *)s + i - 1, len - i + 1, &cp);
    return cp;
}

/* Segments of s: token index (-1 for text) and its span. */
struct segment {
    int32_t token;
    size_t off, len;
};
struct seg_buf {
    struct segment *v;
    size_t n, cap;
};

static void seg_push(struct seg_buf *b, int32_t token, size_t off, size_t len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n++] = (struct segment){token, off, len};
}

/* AddedVocabulary::find_matches: split s by the trie's tokens. */
static void find_matches(const struct tokenizer *tok, const struct trie *t, const char *s, size_t len,
                         struct seg_buf *out)
{
    out->n = 0;
    size_t start_offset = 0;
    if (t->n) {
        for (size_t i = 0; i < len;) {
            uint8_t c = (uint8_t)s[i];
            size_t mlen = 0;
            int32_t k = (t->first[c >> 3] >> (c & 7)) & 1 ? trie_longest(t, s + i, len - i, &mlen) : -1;
            if (k < 0) {
                i++;
                continue;
            }
            const struct added_token *a = &tok->added[k];
            size_t start = i, stop = i + mlen;
            if (a->single_word) {
                bool start_space = start == 0 || !is_word_char(last_char(s, start));
                uint32_t next = 0;
                if (stop < len)
                    tok_utf8_decode((const uint8_t *)s + stop, len - stop, &next);
                bool stop_space = stop == len || !is_word_char(next);
                if (!start_space || !stop_space) {
                    i = stop; /* aho-corasick resumes after the discarded match */
                    continue;
                }
            }
            if (a->lstrip) {
                size_t ns = start;
                while (ns > 0) {
                    uint32_t cp = last_char(s, ns);
                    if (!is_white_space(cp))
                        break;
                    ns -= cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                }
                start = ns > start_offset ? ns : start_offset;
            }
            if (a->rstrip) {
                while (stop < len) {
                    uint32_t cp;
                    int n = tok_utf8_decode((const uint8_t *)s + stop, len - stop, &cp);
                    if (n <= 0 || !is_white_space(cp))
                        break;
                    stop += (size_t)n;
                }
            }
            if (start_offset < start)
                seg_push(out, -1, start_offset, start - start_offset);
            seg_push(out, k, start, stop - start);
            start_offset = stop;
            i += mlen;
            if (i < stop)
                i = stop;
        }
    }
    if (start_offset < len)
        seg_push(out, -1, start_offset, len - start_offset);
}

/* ---- loading ---- */

static const char *token_content(const json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static void arena_reserve(struct tokenizer *tok, size_t cap)
{
    tok->arena_cap = cap;
    tok->arena = xcalloc(cap ? cap : 1, 1);
}

static char *arena_alloc(struct tokenizer *tok, size_t n)
{
    OWL_ASSERT(tok->arena_len + n <= tok->arena_cap);
    char *p = tok->arena + tok->arena_len;
    tok->arena_len += n;
    return p;
}

static enum owl_status load_model(struct tokenizer *tok, const json_t *model, const json_t *added,
                                  struct owl_error *err)
{
    const char *src = tok->source;
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!type || strcmp(type, "BPE") != 0)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: model.type: expected \"BPE\", got %s", src, type ? type : "(none)");
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: model.byte_fallback: expected false, got true", src);
    const json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout))
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: model.dropout: expected null", src);
    const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(model, affixes[i]));
        if (v && *v)
            return fail(err, OWL_ERR_UNSUPPORTED, "%s: model.%s: expected empty or null, got \"%s\"", src, affixes[i], v);
    }
    tok->bpe.ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    const json_t *vocab = json_object_get(model, "vocab");
    const json_t *merges = json_object_get(model, "merges");
    if (!json_is_object(vocab))
        return fail(err, OWL_ERR_BAD_FILE, "%s: model.vocab: expected an object", src);
    if (!json_is_array(merges))
        return fail(err, OWL_ERR_BAD_FILE, "%s: model.merges: expected an array", src);

    /* ids and arena size first, so the arena never moves (maps borrow its bytes) */
    int64_t max_id = -1;
    size_t bytes = 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id > INT32_MAX - 1)
            return fail(err, OWL_ERR_BAD_FILE, "%s: model.vocab[\"%s\"]: expected an id in 0..2^31-2", src, key);
        if (id > max_id)
            max_id = id;
        bytes += strlen(key);
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        const json_t *idv = json_object_get(a, "id");
        const char *content = json_string_value(json_object_get(a, "content"));
        json_int_t id = json_integer_value(idv);
        if (!json_is_integer(idv) || id < 0 || id > INT32_MAX - 1 || !content)
            return fail(err, OWL_ERR_BAD_FILE, "%s: added_tokens[%zu]: expected {\"id\": 0..2^31-2, \"content\": "
                        "string}", src, i);
        if (id > max_id)
            max_id = id;
        bytes += strlen(content);
    }
    if (max_id < 0)
        return fail(err, OWL_ERR_BAD_FILE, "%s: model.vocab: expected at least one token, got none", src);
    tok->n_vocab = (int32_t)max_id + 1;
    arena_reserve(tok, bytes);
    tok->tok_off = xcalloc((size_t)tok->n_vocab, sizeof *tok->tok_off);
    tok->tok_len = xcalloc((size_t)tok->n_vocab, sizeof *tok->tok_len);
    tok->tok_special = xcalloc((size_t)tok->n_vocab, 1);
    for (int32_t i = 0; i < tok->n_vocab; i++)
        tok->tok_len[i] = UINT32_MAX;

    uint16_t byte_to_cp[256];
    int16_t cp_to_byte[324];
    byte_alphabet(byte_to_cp, cp_to_byte);
    for (int b = 0; b < 256; b++)
        tok->bpe.byte_id[b] = -1;
    json_object_foreach((json_t *)vocab, key, val) {
        int32_t id = (int32_t)json_integer_value(val);
        size_t klen = strlen(key);
        char *raw = arena_alloc(tok, klen);
        size_t rlen = byte_level_to_raw(cp_to_byte, key, klen, raw);
        tok->arena_len -= klen - rlen;
        tok->tok_off[id] = (uint32_t)(raw - tok->arena);
        tok->tok_len[id] = (uint32_t)rlen;
        str_map_put(&tok->bpe.vocab, raw, rlen, id);
        if (rlen == 1)
            tok->bpe.byte_id[(uint8_t)raw[0]] = id;
    }

    /* merges: "a b" strings or [a, b] pairs, in rank order */
    char *lbuf = NULL, *rbuf = NULL, *mbuf = NULL;
    size_t bcap = 0;
    enum owl_status st = OWL_OK;
    for (size_t r = 0; r < json_array_size(merges) && !st; r++) {
        const json_t *m = json_array_get(merges, r);
        const char *l = NULL, *rt = NULL;
        size_t ll = 0, rl = 0;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = fail(err, OWL_ERR_BAD_FILE, "%s: model.merges[%zu]: expected \"left right\", got \"%s\"", src, r, s);
                break;
            }
            l = s;
            ll = (size_t)(sp - s);
            rt = sp + 1;
            rl = strlen(rt);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            l = json_string_value(json_array_get(m, 0));
            rt = json_string_value(json_array_get(m, 1));
            ll = strlen(l);
            rl = strlen(rt);
        } else {
            st = fail(err, OWL_ERR_BAD_FILE, "%s: model.merges[%zu]: expected a string or a [left, right] pair", src, r);
            break;
        }
        if (ll + rl > bcap) {
            bcap = (ll + rl) * 2;
            lbuf = xrealloc(lbuf, bcap);
            rbuf = xrealloc(rbuf, bcap);
            mbuf = xrealloc(mbuf, bcap);
        }
        size_t lr = byte_level_to_raw(cp_to_byte, l, ll, lbuf);
        size_t rr = byte_level_to_raw(cp_to_byte, rt, rl, rbuf);
        memcpy(mbuf, lbuf, lr);
        memcpy(mbuf + lr, rbuf, rr);
        int32_t a = str_map_get(&tok->bpe.vocab, lbuf, lr), b = str_map_get(&tok->bpe.vocab, rbuf, rr);
        int32_t c = str_map_get(&tok->bpe.vocab, mbuf, lr + rr);
        if (a < 0 || b < 0 || c < 0) {
            st = fail(err, OWL_ERR_BAD_FILE, "%s: model.merges[%zu]: a part or the merged token is not in the vocab", src,
                      r);
            break;
        }
        bpe_add_merge(&tok->bpe, a, b, c, (uint32_t)r);
    }
    free(lbuf);
    free(rbuf);
    free(mbuf);
    return st;
}

static enum owl_status load_added(struct tokenizer *tok, const json_t *added, struct owl_error *err)
{
    uint16_t byte_to_cp[256];
    int16_t cp_to_byte[324];
    byte_alphabet(byte_to_cp, cp_to_byte);
    tok->n_added = (int)json_array_size(added);
    tok->added = xcalloc((size_t)tok->n_added + 1, sizeof *tok->added);
    for (int i = 0; i < tok->n_added; i++) {
        const json_t *a = json_array_get(added, (size_t)i);
        struct added_token *t = &tok->added[i];
        const char *content = json_string_value(json_object_get(a, "content"));
        t->id = (int32_t)json_integer_value(json_object_get(a, "id"));
        t->special = json_is_true(json_object_get(a, "special"));
        t->lstrip = json_is_true(json_object_get(a, "lstrip"));
        t->rstrip = json_is_true(json_object_get(a, "rstrip"));
        t->single_word = json_is_true(json_object_get(a, "single_word"));
        /* HF's AddedToken default: normalized = !special */
        const json_t *norm = json_object_get(a, "normalized");
        t->normalized = norm ? json_is_true(norm) : !t->special;
        t->len = strlen(content);
        t->text = xstrdup(content);
        t->content = xstrdup(content);
        if (t->len == 0)
            return fail(err, OWL_ERR_BAD_FILE, "%s: added_tokens[%d].content: expected a non-empty string", tok->source, i);
        /* decode piece: the content through the ByteLevel decoder */
        char *raw = arena_alloc(tok, t->len);
        size_t rlen = byte_level_to_raw(cp_to_byte, content, t->len, raw);
        tok->arena_len -= t->len - rlen;
        tok->tok_off[t->id] = (uint32_t)(raw - tok->arena);
        tok->tok_len[t->id] = (uint32_t)rlen;
        tok->tok_special[t->id] = t->special;
        str_map_put(&tok->added_by_text, t->text, t->len, t->id);
        if (t->normalized) {
            size_t nlen;
            char *n = pretok_normalize(&tok->pre, t->content, t->len, &nlen);
            if (n) {
                free(t->content);
                t->content = n;
                t->len = nlen;
            }
            trie_add(&tok->norm_trie, t->content, t->len, i);
        } else {
            trie_add(&tok->raw_trie, t->content, t->len, i);
        }
    }
    return OWL_OK;
}

static int32_t config_token_id(const struct tokenizer *tok, const json_t *cfg, const char *field)
{
    const char *content = token_content(json_object_get(cfg, field));
    return content ? tokenizer_token_id(tok, content) : -1;
}

enum owl_status tokenizer_load(struct tokenizer **out, const char *json, size_t json_len, const char *config,
                               size_t config_len, const char *source, struct owl_error *err)
{
    *out = NULL;
    struct tokenizer *tok = xcalloc(1, sizeof *tok);
    tok->source = xstrdup(source ? source : "tokenizer.json");
    tok->bos_id = tok->eos_id = -1;
    json_t *root = NULL, *cfg = NULL;
    json_error_t jerr;
    enum owl_status st = OWL_OK;
    root = json_loadb(json, json_len, JSON_ALLOW_NUL, &jerr);
    if (!root || !json_is_object(root)) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: expected a JSON object: %s (line %d)", tok->source,
                  root ? "not an object" : jerr.text, jerr.line);
        goto fail;
    }
    const json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_array(added) && !json_is_null(added)) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: added_tokens: expected an array", tok->source);
        goto fail;
    }
    if (!json_is_array(added))
        added = NULL;
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: model: expected an object", tok->source);
        goto fail;
    }
    const json_t *decoder = json_object_get(root, "decoder");
    const char *dtype = json_string_value(json_object_get(decoder, "type"));
    if (decoder && !json_is_null(decoder) && (!dtype || strcmp(dtype, "ByteLevel") != 0)) {
        st = fail(err, OWL_ERR_UNSUPPORTED, "%s: decoder.type: expected ByteLevel, got %s", tok->source,
                  dtype ? dtype : "(none)");
        goto fail;
    }
    st = pretok_init(&tok->pre, json_object_get(root, "normalizer"), json_object_get(root, "pre_tokenizer"),
                     tok->source, err);
    if (st)
        goto fail;
    st = load_model(tok, model, added, err);
    if (st)
        goto fail;
    st = load_added(tok, added, err);
    if (st)
        goto fail;
    if (config) {
        cfg = json_loadb(config, config_len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
        if (!cfg || !json_is_object(cfg)) {
            st = fail(err, OWL_ERR_BAD_FILE, "tokenizer_config.json: expected a JSON object: %s (line %d)",
                      cfg ? "not an object" : jerr.text, jerr.line);
            goto fail;
        }
        tok->bos_id = config_token_id(tok, cfg, "bos_token");
        tok->eos_id = config_token_id(tok, cfg, "eos_token");
        tok->add_bos = json_is_true(json_object_get(cfg, "add_bos_token")) && tok->bos_id >= 0;
    }
    json_decref(root);
    json_decref(cfg);
    *out = tok;
    return OWL_OK;
fail:
    json_decref(root);
    json_decref(cfg);
    tokenizer_free(tok);
    return st;
}

enum owl_status tokenizer_open(struct tokenizer **out, const char *dir, struct owl_error *err)
{
    *out = NULL;
    size_t n = strlen(dir) + 32;
    char *path = xcalloc(n, 1);
    snprintf(path, n, "%s/tokenizer.json", dir);
    char *json = NULL, *cfg = NULL;
    size_t json_len = 0, cfg_len = 0;
    enum owl_status st = file_read_all(path, &json, &json_len, err);
    if (!st) {
        snprintf(path, n, "%s/tokenizer_config.json", dir);
        struct owl_error ignored;
        if (file_read_all(path, &cfg, &cfg_len, &ignored) != OWL_OK)
            cfg = NULL; /* optional */
        snprintf(path, n, "%s/tokenizer.json", dir);
        st = tokenizer_load(out, json, json_len, cfg, cfg_len, path, err);
    }
    free(json);
    free(cfg);
    free(path);
    return st;
}

void tokenizer_free(struct tokenizer *tok)
{
    if (!tok)
        return;
    bpe_free(&tok->bpe);
    pretok_free(&tok->pre);
    for (int i = 0; i < tok->n_added; i++) {
        free(tok->added[i].text);
        free(tok->added[i].content);
    }
    free(tok->added);
    str_map_free(&tok->added_by_text);
    free(tok->raw_trie.nodes);
    free(tok->norm_trie.nodes);
    free(tok->arena);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->tok_special);
    free(tok->spans.v);
    free(tok->spans_tmp.v);
    free(tok->source);
    free(tok);
}

/* ---- encoding ---- */

/* Normalize one text segment, cut out normalized added tokens, pre-tokenize and BPE the rest. */
static void encode_text(struct tokenizer *tok, const char *s, size_t len, struct token_buf *out)
{
    size_t nlen = len;
    char *norm = pretok_normalize(&tok->pre, s, len, &nlen);
    const char *t = norm ? norm : s;
    struct seg_buf segs = {0};
    find_matches(tok, &tok->norm_trie, t, nlen, &segs);
    for (size_t i = 0; i < segs.n; i++) {
        const struct segment *g = &segs.v[i];
        if (g->token >= 0) {
            token_buf_push(out, tok->added[g->token].id);
            continue;
        }
        pretok_split(&tok->pre, t + g->off, g->len, &tok->spans, &tok->spans_tmp);
        for (size_t k = 0; k < tok->spans.n; k++)
            bpe_encode_piece(&tok->bpe, t + g->off + tok->spans.v[k].off, tok->spans.v[k].len, out);
    }
    free(segs.v);
    free(norm);
}

enum owl_status tokenizer_encode(struct tokenizer *tok, const char *text, size_t len, bool add_bos,
                                 struct token_buf *out, struct owl_error *err)
{
    for (size_t i = 0; i < len;) {
        if ((uint8_t)text[i] < 0x80) {
            i++;
            continue;
        }
        int k = tok_utf8_status((const uint8_t *)text + i, len - i);
        if (k <= 0)
            return fail(err, OWL_ERR_INVALID_ARG, "encode: text is not valid UTF-8 at byte %zu (0x%02x)", i,
                        (uint8_t)text[i]);
        i += (size_t)k;
    }
    if (add_bos) {
        if (tok->bos_id < 0)
            return fail(err, OWL_ERR_INVALID_ARG, "encode: BOS requested but %s names no bos_token",
                        "tokenizer_config.json");
        token_buf_push(out, tok->bos_id);
    }
    struct seg_buf segs = {0};
    find_matches(tok, &tok->raw_trie, text, len, &segs);
    for (size_t i = 0; i < segs.n; i++) {
        if (segs.v[i].token >= 0)
            token_buf_push(out, tok->added[segs.v[i].token].id);
        else
            encode_text(tok, text + segs.v[i].off, segs.v[i].len, out);
    }
    free(segs.v);
    return OWL_OK;
}

/* ---- queries ---- */

const char *tokenizer_token_bytes(const struct tokenizer *tok, int32_t id, size_t *len)
{
    if (id < 0 || id >= tok->n_vocab || tok->tok_len[id] == UINT32_MAX)
        return NULL;
    *len = tok->tok_len[id];
    return tok->arena + tok->tok_off[id];
}

int32_t tokenizer_n_vocab(const struct tokenizer *tok) { return tok->n_vocab; }
int32_t tokenizer_bos_id(const struct tokenizer *tok) { return tok->bos_id; }
int32_t tokenizer_eos_id(const struct tokenizer *tok) { return tok->eos_id; }
bool tokenizer_add_bos_default(const struct tokenizer *tok) { return tok->add_bos; }

bool tokenizer_is_special(const struct tokenizer *tok, int32_t id)
{
    return id >= 0 && id < tok->n_vocab && tok->tok_special[id];
}

int32_t tokenizer_token_id(const struct tokenizer *tok, const char *text)
{
    size_t len = strlen(text);
    int32_t id = str_map_get(&tok->added_by_text, text, len);
    return id >= 0 ? id : str_map_get(&tok->bpe.vocab, text, len);
}
