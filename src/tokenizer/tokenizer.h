/* tokenizer.h — byte-level BPE tokenizer read from a model's tokenizer.json (+ tokenizer_config.json).
 *
 * Mirrors the Hugging Face `tokenizers` pipeline as the three supported families ship it (Qwen3,
 * DeepSeek-V3/V3.1, gpt-oss o200k_harmony): added tokens matched first (AddedVocabulary::
 * extract_and_normalize: non-normalized tokens on the raw text, then the normalizer, then normalized
 * tokens), normalizer (NFC/NFD/NFKC/NFKD, Sequence), pre-tokenizer (Split by the file's regex via PCRE2,
 * ByteLevel, Sequence), the BPE model (merge ranks, ignore_merges) and the ByteLevel decoder. It is not
 * a general `tokenizers` port: WordPiece, Unigram, Metaspace, byte_fallback and dropout are refused with
 * OWL_ERR_UNSUPPORTED. Depends only on src/base (plus jansson, PCRE2 and utf8proc).
 *
 * Internally tokens are raw bytes: vocabulary strings are mapped back through the GPT-2 byte alphabet at
 * load, so the ByteLevel pre-tokenizer step is the identity and BPE starts from single bytes.
 */
#ifndef OWL_TOKENIZER_H
#define OWL_TOKENIZER_H

#include "base/base.h"

struct tokenizer;

/* A growable array of token ids (caller-owned; free with token_buf_free). */
struct token_buf {
    int32_t *ids; /* (n) ids, owned */
    size_t n;
    size_t cap;
};
void token_buf_free(struct token_buf *buf); /* NULL-safe; leaves buf empty and reusable */

/* Load from memory: tokenizer.json text (json_len bytes) and optionally tokenizer_config.json text
 * (config may be NULL). `source` names the files in messages. On success *out owns everything; on
 * failure *out is NULL and err names the field, the expected and the actual value. */
enum owl_status tokenizer_load(struct tokenizer **out, const char *json, size_t json_len, const char *config,
                               size_t config_len, const char *source, struct owl_error *err);

/* Load DIR/tokenizer.json and, when present, DIR/tokenizer_config.json. */
enum owl_status tokenizer_open(struct tokenizer **out, const char *dir, struct owl_error *err);
void tokenizer_free(struct tokenizer *tok); /* NULL-safe */

/* Encode len bytes of UTF-8 text, appending ids to out. Added/special tokens written in the text are
 * matched (like HF with split_special_tokens=false). add_bos prepends the BOS id (OWL_ERR_INVALID_ARG if the
 * tokenizer has none). Invalid UTF-8 returns OWL_ERR_INVALID_ARG naming the byte offset; nothing is
 * appended then. Not safe to call concurrently on one tokenizer (it updates a piece cache). */
enum owl_status tokenizer_encode(struct tokenizer *tok, const char *text, size_t len, bool add_bos,
                                 struct token_buf *out, struct owl_error *err);

/* Decode ids into bytes as the ByteLevel decoder does, then UTF-8-lossy (each maximal invalid subpart
 * becomes U+FFFD, as Rust's String::from_utf8_lossy). skip_special drops added tokens marked special.
 * *out is malloc'd, NUL-terminated, *out_len excludes the NUL. An id out of range is OWL_ERR_INVALID_ARG. */
enum owl_status tokenizer_decode(const struct tokenizer *tok, const int32_t *ids, size_t n, bool skip_special,
                                 char **out, size_t *out_len, struct owl_error *err);

/* Raw bytes of one token (no UTF-8 repair): the piece the decoder concatenates. NULL for a bad id. */
const char *tokenizer_token_bytes(const struct tokenizer *tok, int32_t id, size_t *len);

int32_t tokenizer_n_vocab(const struct tokenizer *tok);  /* max id + 1 (base vocab and added tokens) */
int32_t tokenizer_bos_id(const struct tokenizer *tok);   /* -1 when tokenizer_config names none */
int32_t tokenizer_eos_id(const struct tokenizer *tok);   /* -1 when tokenizer_config names none */
bool tokenizer_add_bos_default(const struct tokenizer *tok); /* tokenizer_config add_bos_token */
bool tokenizer_is_special(const struct tokenizer *tok, int32_t id);
/* Id of a token given by its text (vocabulary or added token), -1 when absent. */
int32_t tokenizer_token_id(const struct tokenizer *tok, const char *text);

/* Streaming detokenizer: feed ids one at a time, get text that never ends inside a UTF-8 character.
 * Concatenating every piece plus the final flush equals tokenizer_decode of all ids. */
struct detok_stream {
    const struct tokenizer *tok; /* borrowed */
    bool skip_special;
    uint8_t pending[4]; /* bytes of an incomplete UTF-8 character */
    int n_pending;
    char *buf;   /* owned output buffer returned by detok_stream_feed; valid until the next call */
    size_t cap;
};
void detok_stream_init(struct detok_stream *s, const struct tokenizer *tok, bool skip_special);
/* Feed one id; *text (len bytes, NUL-terminated) is what can be shown now (possibly empty). */
enum owl_status detok_stream_feed(struct detok_stream *s, int32_t id, const char **text, size_t *len,
                                  struct owl_error *err);
/* End of stream: leftover bytes of a cut character become U+FFFD. */
void detok_stream_flush(struct detok_stream *s, const char **text, size_t *len);
void detok_stream_free(struct detok_stream *s); /* NULL-safe */

#endif
