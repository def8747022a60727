/* bpe.c — the BPE model: vocabulary and merge-rank hash maps, the merge loop and a piece cache.
 *
 * Mirrors `tokenizers` models/bpe/model.rs (BPE::merge_word / Word::merge_all): start from one symbol per
 * byte, repeatedly apply the pending merge of lowest rank (leftmost on ties) through a binary heap of
 * candidates that are re-validated when popped. With ignore_merges a piece found whole in the vocabulary
 * is emitted as is (tiktoken behaviour, o200k). Symbols are token ids of raw byte strings.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

/* FNV-1a, 32-bit: short keys, good enough spread for power-of-two tables. */
uint32_t str_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static void str_map_grow(struct str_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint32_t *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < m->n; i++) {
        size_t j = m->entries[i].hash & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

int32_t str_map_put(struct str_map *m, const char *key, size_t len, int32_t value)
{
    OWL_ASSERT(len <= UINT32_MAX);
    if ((m->n + 1) * 2 > m->cap)
        str_map_grow(m);
    uint32_t h = str_hash(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j]) {
        struct str_entry *e = &m->entries[m->slots[j] - 1];
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            return e->value;
        j = (j + 1) & (m->cap - 1);
    }
    if (m->n == m->n_cap) {
        m->n_cap = m->n_cap ? m->n_cap * 2 : 1024;
        m->entries = xrealloc(m->entries, m->n_cap * sizeof *m->entries);
    }
    m->entries[m->n] = (struct str_entry){key, (uint32_t)len, h, value};
    m->slots[j] = (uint32_t)++m->n;
    return value;
}

int32_t str_map_get(const struct str_map *m, const char *key, size_t len)
{
    if (!m->cap)
        return -1;
    uint32_t h = str_hash(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j]) {
        const struct str_entry *e = &m->entries[m->slots[j] - 1];
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            return e->value;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void str_map_free(struct str_map *m)
{
    free(m->slots);
    free(m->entries);
    memset(m, 0, sizeof *m);
}

void token_buf_push(struct token_buf *buf, int32_t id)
{
    if (buf->n == buf->cap) {
        buf->cap = buf->cap ? buf->cap * 2 : 64;
        buf->ids = xrealloc(buf->ids, buf->cap * sizeof *buf->ids);
    }
    buf->ids[buf->n++] = id;
}

void token_buf_free(struct token_buf *buf)
{
    if (!buf)
        return;
    free(buf->ids);
    memset(buf, 0, sizeof *buf);
}

static inline uint64_t pair_key(int32_t left, int32_t right)
{
    return (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
}

static inline size_t pair_slot(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void bpe_add_merge(struct bpe *b, int32_t left, int32_t right, int32_t merged, uint32_t rank)
{
    if ((b->n_merges + 1) * 2 > b->pair_cap) {
        size_t cap = b->pair_cap ? b->pair_cap * 2 : 4096;
        uint64_t *keys = xcalloc(cap, sizeof *keys);
        uint32_t *ranks = xcalloc(cap, sizeof *ranks);
        int32_t *ids = xcalloc(cap, sizeof *ids);
        for (size_t i = 0; i < b->pair_cap; i++) {
            if (!b->pair_keys[i])
                continue;
            size_t j = pair_slot(b->pair_keys[i], cap);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = b->pair_keys[i];
            ranks[j] = b->pair_rank[i];
            ids[j] = b->pair_id[i];
        }
        free(b->pair_keys);
        free(b->pair_rank);
        free(b->pair_id);
        b->pair_keys = keys;
        b->pair_rank = ranks;
        b->pair_id = ids;
        b->pair_cap = cap;
    }
    uint64_t key = pair_key(left, right);
    size_t j = pair_slot(key, b->pair_cap);
    while (b->pair_keys[j]) {
        if (b->pair_keys[j] == key) {
            /* HF collects the merge list into a HashMap, so a repeated pair takes the later rank. */
            b->pair_rank[j] = rank;
            b->pair_id[j] = merged;
            return;
        }
        j = (j + 1) & (b->pair_cap - 1);
    }
    b->pair_keys[j] = key;
    b->pair_rank[j] = rank;
    b->pair_id[j] = merged;
    b->n_merges++;
}

/* Rank and merged id of the pair, false when it is no merge. */
static inline bool bpe_find_merge(const struct bpe *b, int32_t left, int32_t right, uint32_t *rank, int32_t *id)
{
    if (!b->pair_cap)
        return false;
    uint64_t key = pair_key(left, right);
    size_t j = pair_slot(key, b->pair_cap);
    while (b->pair_keys[j]) {
        if (b->pair_keys[j] == key) {
            *rank = b->pair_rank[j];
            *id = b->pair_id[j];
            return true;
        }
        j = (j + 1) & (b->pair_cap - 1);
    }
    return false;
}

static inline bool cand_less(const struct bpe_cand *a, const struct bpe_cand *c)
{
    return a->rank != c->rank ? a->rank < c->rank : a->pos < c->pos;
}

static void heap_push(struct bpe *b, size_t *n, struct bpe_cand c)
{
    if (*n == b->heap_cap) {
        b->heap_cap = b->heap_cap ? b->heap_cap * 2 : 256;
        b->heap = xrealloc(b->heap, b->heap_cap * sizeof *b->heap);
    }
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &b->heap[parent]))
            break;
        b->heap[i] = b->heap[parent];
        i = parent;
    }
    b->heap[i] = c;
}

static struct bpe_cand heap_pop(struct bpe *b, size_t *n)
{
    struct bpe_cand top = b->heap[0];
    struct bpe_cand last = b->heap[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        const struct bpe_cand *bc = &last;
        if (l < *n && cand_less(&b->heap[l], bc)) {
            best = l;
            bc = &b->heap[l];
        }
        if (l + 1 < *n && cand_less(&b->heap[l + 1], bc))
            best = l + 1;
        if (best == i)
            break;
        b->heap[i] = b->heap[best];
        i = best;
    }
    if (*n)
        b->heap[i] = last;
    return top;
}

static void push_pair(struct bpe *b, size_t *n_heap, int32_t pos)
{
    int32_t next = b->syms[pos].next;
    if (next < 0)
        return;
    uint32_t rank;
    int32_t id;
    if (bpe_find_merge(b, b->syms[pos].id, b->syms[next].id, &rank, &id))
        heap_push(b, n_heap, (struct bpe_cand){rank, pos, b->syms[pos].id, b->syms[next].id});
}

/* The merge loop on one piece, no cache. */
static void bpe_merge(struct bpe *b, const char *piece, size_t len, struct token_buf *out)
{
    if (len > b->syms_cap) {
        b->syms_cap = len * 2;
        b->syms = xrealloc(b->syms, b->syms_cap * sizeof *b->syms);
    }
    int32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t id = b->byte_id[(uint8_t)piece[i]];
        if (id < 0)
            continue; /* no token for this byte and no unk token: HF drops it */
        b->syms[n] = (struct bpe_sym){id, n - 1, -1};
        if (n > 0)
            b->syms[n - 1].next = n;
        n++;
    }
    size_t n_heap = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        push_pair(b, &n_heap, i);
    while (n_heap) {
        struct bpe_cand c = heap_pop(b, &n_heap);
        struct bpe_sym *s = &b->syms[c.pos];
        if (s->id != c.left || s->next < 0 || b->syms[s->next].id != c.right)
            continue; /* stale: one side was merged away since */
        uint32_t rank = 0;
        int32_t merged = -1;
        bpe_find_merge(b, c.left, c.right, &rank, &merged);
        int32_t nx = s->next;
        s->id = merged;
        s->next = b->syms[nx].next;
        if (s->next >= 0)
            b->syms[s->next].prev = c.pos;
        b->syms[nx].id = -1;
        if (s->prev >= 0)
            push_pair(b, &n_heap, s->prev);
        push_pair(b, &n_heap, c.pos);
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = b->syms[i].next)
        token_buf_push(out, b->syms[i].id);
}

enum { CACHE_MAX_PIECE = 256, CACHE_MAX_ENTRIES = 1 << 18 };

static void cache_reset(struct bpe *b)
{
    str_map_free(&b->cache);
    b->cache_keys_len = 0;
    b->cache_ids_len = 0;
}

void bpe_encode_piece(struct bpe *b, const char *piece, size_t len, struct token_buf *out)
{
    if (len == 0)
        return;
    if (b->ignore_merges) {
        int32_t id = str_map_get(&b->vocab, piece, len);
        if (id >= 0) {
            token_buf_push(out, id);
            return;
        }
    }
    if (len == 1 && b->byte_id[(uint8_t)piece[0]] >= 0) {
        token_buf_push(out, b->byte_id[(uint8_t)piece[0]]);
        return;
    }
    if (len > CACHE_MAX_PIECE) {
        bpe_merge(b, piece, len, out);
        return;
    }
    int32_t v = str_map_get(&b->cache, piece, len);
    if (v >= 0) {
        int32_t count = b->cache_ids[v];
        for (int32_t i = 0; i < count; i++)
            token_buf_push(out, b->cache_ids[v + 1 + i]);
        return;
    }
    size_t start = out->n;
    bpe_merge(b, piece, len, out);
    size_t count = out->n - start;
    /* Keys are borrowed by the map, so the key arena must not move: reset instead of growing past cap. */
    if (b->cache.n >= CACHE_MAX_ENTRIES || b->cache_keys_len + len > b->cache_keys_cap ||
        b->cache_ids_len + count + 1 > b->cache_ids_cap) {
        cache_reset(b);
        if (!b->cache_keys) {
            b->cache_keys_cap = (size_t)CACHE_MAX_ENTRIES * 16;
            b->cache_keys = xcalloc(b->cache_keys_cap, 1);
            b->cache_ids_cap = (size_t)CACHE_MAX_ENTRIES * 4;
            b->cache_ids = xcalloc(b->cache_ids_cap, sizeof *b->cache_ids);
        }
        if (len > b->cache_keys_cap || count + 1 > b->cache_ids_cap)
            return;
    }
    char *key = b->cache_keys + b->cache_keys_len;
    memcpy(key, piece, len);
    b->cache_keys_len += len;
    int32_t at = (int32_t)b->cache_ids_len;
    b->cache_ids[b->cache_ids_len++] = (int32_t)count;
    if (count)
        memcpy(b->cache_ids + b->cache_ids_len, out->ids + start, count * sizeof *out->ids);
    b->cache_ids_len += count;
    str_map_put(&b->cache, key, len, at);
}

void bpe_free(struct bpe *b)
{
    str_map_free(&b->vocab);
    str_map_free(&b->cache);
    free(b->pair_keys);
    free(b->pair_rank);
    free(b->pair_id);
    free(b->cache_keys);
    free(b->cache_ids);
    free(b->syms);
    free(b->heap);
    memset(b, 0, sizeof *b);
}
