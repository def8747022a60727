/* detok.c — decoding ids to text (ByteLevel decoder + UTF-8-lossy repair) and the streaming detokenizer.
 *
 * The lossy step mirrors Rust's String::from_utf8_lossy, which `tokenizers` applies after the ByteLevel
 * decoder: each maximal subpart of an ill-formed sequence (Unicode §3.9, "U+FFFD substitution of maximal
 * subparts") becomes one U+FFFD. The stream holds back at most 3 bytes of a cut character, so what it has
 * emitted plus its flush always equals the one-shot decode.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

int tok_utf8_status(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    int need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return -1;
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n)
            return 0;
        uint8_t lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
        if (s[i] < lo_i || s[i] > hi_i)
            return -i;
    }
    return need;
}

int tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    int k = tok_utf8_status(s, n);
    if (k <= 0)
        return 0;
    uint32_t c = s[0];
    if (k == 1)
        *cp = c;
    else if (k == 2)
        *cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
    else if (k == 3)
        *cp = ((c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    else
        *cp = ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return k;
}

int tok_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

struct out_buf {
    char *p;
    size_t n, cap;
};

static void out_put(struct out_buf *o, const void *s, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        o->cap = (o->n + n + 1) * 2;
        o->p = xrealloc(o->p, o->cap);
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = 0;
}

static const char replacement[] = "\xEF\xBF\xBD";

/* Append the valid part of s to o, repairing ill-formed subparts; a cut character at the end is left
 * unconsumed unless final. Returns the number of bytes consumed. */
static size_t lossy_append(struct out_buf *o, const uint8_t *s, size_t n, bool final)
{
    size_t i = 0, run = 0; /* run: start of the current valid stretch */
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = tok_utf8_status(s + i, n - i);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        out_put(o, s + run, i - run);
        if (k == 0 && !final)
            return i;
        out_put(o, replacement, 3);
        i += k == 0 ? n - i : (size_t)-k; /* a cut tail at the very end is one maximal subpart */
        run = i;
    }
    out_put(o, s + run, i - run);
    return i;
}

enum owl_status tokenizer_decode(const struct tokenizer *tok, const int32_t *ids, size_t n, bool skip_special,
                                 char **out, size_t *out_len, struct owl_error *err)
{
    struct out_buf raw = {0}, res = {0};
    out_put(&raw, "", 0);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *b = tokenizer_token_bytes(tok, ids[i], &len);
        if (!b) {
            free(raw.p);
            return fail(err, OWL_ERR_INVALID_ARG, "decode: token id %d at position %zu: expected 0..%d",
                        (int)ids[i], i, (int)tokenizer_n_vocab(tok) - 1);
        }
        if (skip_special && tokenizer_is_special(tok, ids[i]))
            continue;
        out_put(&raw, b, len);
    }
    out_put(&res, "", 0);
    lossy_append(&res, (const uint8_t *)raw.p, raw.n, true);
    free(raw.p);
    *out = res.p;
    *out_len = res.n;
    return OWL_OK;
}

void detok_stream_init(struct detok_stream *s, const struct tokenizer *tok, bool skip_special)
{
    memset(s, 0, sizeof *s);
    s->tok = tok;
    s->skip_special = skip_special;
}

enum owl_status detok_stream_feed(struct detok_stream *s, int32_t id, const char **text, size_t *len,
                                  struct owl_error *err)
{
    size_t n;
    const char *b = tokenizer_token_bytes(s->tok, id, &n);
    if (!b)
        return fail(err, OWL_ERR_INVALID_ARG, "detokenize: token id %d: expected 0..%d", (int)id,
                    (int)tokenizer_n_vocab(s->tok) - 1);
    if (s->skip_special && tokenizer_is_special(s->tok, id))
        n = 0;
    /* pending (<= 3 bytes) + the token's bytes, then emit all but a cut final character */
    uint8_t *joined = xcalloc((size_t)s->n_pending + n + 1, 1);
    memcpy(joined, s->pending, (size_t)s->n_pending);
    memcpy(joined + s->n_pending, b, n);
    size_t total = (size_t)s->n_pending + n;
    struct out_buf o = {s->buf, 0, s->cap};
    out_put(&o, "", 0);
    size_t used = lossy_append(&o, joined, total, false);
    OWL_ASSERT(total - used <= 3);
    s->n_pending = (int)(total - used);
    memcpy(s->pending, joined + used, (size_t)s->n_pending);
    free(joined);
    s->buf = o.p;
    s->cap = o.cap;
    *text = o.p;
    *len = o.n;
    return OWL_OK;
}

void detok_stream_flush(struct detok_stream *s, const char **text, size_t *len)
{
    struct out_buf o = {s->buf, 0, s->cap};
    out_put(&o, "", 0);
    lossy_append(&o, s->pending, (size_t)s->n_pending, true);
    s->n_pending = 0;
    s->buf = o.p;
    s->cap = o.cap;
    *text = o.p;
    *len = o.n;
}

void detok_stream_free(struct detok_stream *s)
{
    if (!s)
        return;
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}
