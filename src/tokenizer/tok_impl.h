/* tok_impl.h — internals shared by the tokenizer's files (not part of any public API).
 *
 * tokenizer.c loads tokenizer.json and runs the pipeline; bpe.c holds the hash maps, merge ranks and the
 * BPE merge loop; pretok.c the normalizers and the regex pre-tokenizer; detok.c decoding and UTF-8 helpers.
 */
#ifndef OWL_TOK_IMPL_H
#define OWL_TOK_IMPL_H

#include "tokenizer/tokenizer.h"

/* ---- byte-string -> int32 map (open addressing; keys live in the caller's arena) ---- */
struct str_map {
    uint32_t *slots;   /* (cap) entry index + 1, 0 = empty */
    size_t cap;        /* power of two */
    struct str_entry {
        const char *key; /* borrowed: points into an arena that outlives the map */
        uint32_t len;
        uint32_t hash;
        int32_t value;
    } *entries;        /* (n) owned */
    size_t n, n_cap;
};
uint32_t str_hash(const char *s, size_t len);
/* Insert key -> value unless present; returns the value now stored for the key. Key memory is borrowed. */
int32_t str_map_put(struct str_map *m, const char *key, size_t len, int32_t value);
/* Value for key, or -1. */
int32_t str_map_get(const struct str_map *m, const char *key, size_t len);
void str_map_free(struct str_map *m);

/* ---- the BPE model ---- */
struct bpe {
    struct str_map vocab;  /* token bytes -> id (keys point into tokenizer's token arena) */
    /* merge ranks: pair (left id, right id) -> rank and merged id; open addressing on the packed pair */
    uint64_t *pair_keys;   /* (pair_cap) key + 1 packed as (left << 32 | right) + 1; 0 = empty */
    uint32_t *pair_rank;   /* (pair_cap) */
    int32_t *pair_id;      /* (pair_cap) */
    size_t pair_cap, n_merges;
    int32_t byte_id[256];  /* id of each single byte's token, -1 when the vocab lacks it */
    bool ignore_merges;    /* emit a pre-token that is itself in the vocab without merging (o200k) */
    /* piece cache: piece bytes -> (offset, count) in cache_ids */
    struct str_map cache;
    char *cache_keys;      /* owned arena of cached piece bytes */
    size_t cache_keys_len, cache_keys_cap;
    int32_t *cache_ids;    /* owned arena: for cache entry value v, ids start at cache_ids[v] */
    size_t cache_ids_len, cache_ids_cap;
    /* scratch for one merge run, grown on demand */
    struct bpe_sym { int32_t id; int32_t prev, next; } *syms;
    struct bpe_cand { uint32_t rank; int32_t pos; int32_t left, right; } *heap;
    size_t syms_cap, heap_cap;
};
/* Add a merge of ids (left, right) -> merged with the given rank; a repeated pair takes the later rank (as HF). */
void bpe_add_merge(struct bpe *b, int32_t left, int32_t right, int32_t merged, uint32_t rank);
/* Encode one pre-token piece (raw bytes), appending ids. Bytes with no token are dropped (no unk). */
void bpe_encode_piece(struct bpe *b, const char *piece, size_t len, struct token_buf *out);
void bpe_free(struct bpe *b);

void token_buf_push(struct token_buf *buf, int32_t id);

/* ---- normalizer and pre-tokenizer ---- */
enum norm_kind { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD };
enum split_behavior { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_WITH_PREVIOUS, SPLIT_MERGED_WITH_NEXT };

struct pretok_step {
    bool is_split;               /* else ByteLevel with use_regex (a GPT-2 regex split) */
    void *code;                  /* pcre2_code_8 *, owned */
    void *match_data;            /* pcre2_match_data_8 *, owned */
    enum split_behavior behavior;
};

struct pretok {
    enum norm_kind *norms;  /* (n_norms) applied in order */
    int n_norms;
    struct pretok_step *steps; /* (n_steps) */
    int n_steps;
};
/* Parse "normalizer" and "pre_tokenizer" (jansson json_t *, may be JSON null). */
enum owl_status pretok_init(struct pretok *p, const void *normalizer, const void *pre_tokenizer,
                            const char *source, struct owl_error *err);
void pretok_free(struct pretok *p);
/* Normalize len bytes; returns a malloc'd string (*out_len bytes) or NULL when there is no normalizer. */
char *pretok_normalize(const struct pretok *p, const char *s, size_t len, size_t *out_len);

/* A piece: offset and length into the segment being pre-tokenized. */
struct span {
    size_t off, len;
};
struct span_buf {
    struct span *v;
    size_t n, cap;
};
void span_push(struct span_buf *b, size_t off, size_t len);
/* Split s (valid UTF-8) into pre-tokens using the steps in order, each applied to every piece of the
 * previous one. Result in *out (cleared first); tmp is scratch. */
void pretok_split(const struct pretok *p, const char *s, size_t len, struct span_buf *out, struct span_buf *tmp);

/* ---- UTF-8 ---- */
/* Length of a valid UTF-8 sequence at s (n bytes available), 0 if invalid or cut. Decodes into *cp. */
int tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
int tok_utf8_encode(uint32_t cp, char *out);
/* Status of the sequence at s (n >= 1 bytes available): > 0 the length of a complete valid character;
 * 0 a valid but cut prefix; < 0 ill-formed, minus the maximal-subpart length that one U+FFFD replaces. */
int tok_utf8_status(const uint8_t *s, size_t n);

#endif
