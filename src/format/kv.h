/* kv.h — one flat key space for model hyper-parameters, filled from config.json (or GGUF metadata).
 *
 * JSON objects are flattened with dots: {"rope_scaling": {"factor": 4}} gives key "rope_scaling.factor".
 * Arrays stay arrays (of numbers, strings, bools, nulls or nested arrays; an object inside an array
 * becomes a KV_NULL item). An empty object yields no key. JSON null is stored as KV_NULL so "present but
 * null" can be told from "absent". Entries are sorted by key. Models read typed values; a wrong type is
 * an error that names the key, the expected and the actual type.
 */
#ifndef OWL_KV_H
#define OWL_KV_H

#include "base/base.h"

enum kv_type { KV_NULL, KV_BOOL, KV_INT, KV_FLOAT, KV_STRING, KV_ARRAY };

struct kv_value {
    enum kv_type type;
    bool b;
    int64_t i;        /* KV_INT */
    double f;         /* KV_FLOAT; also set (converted) for KV_INT and KV_BOOL */
    char *s;          /* KV_STRING, owned */
    struct kv_value *items; /* KV_ARRAY, owned, n_items */
    int n_items;
};

struct kv_entry {
    char *key;              /* owned, dotted path */
    struct kv_value value;
};

struct kv_table {
    struct kv_entry *entries; /* owned, n */
    int n;
    int cap;
    char *source;             /* owned: file the keys came from, for messages */
};

void kv_table_free(struct kv_table *kv); /* NULL-safe */

/* Parse JSON text (len bytes, need not be NUL-terminated) into kv; source names it in messages.
 * kv is initialized by the call (and left empty on error). Invalid JSON, trailing garbage, duplicate
 * keys (also two spellings flattening to one key), nesting deeper than 16 levels or a non-object top
 * level -> OWL_ERR_BAD_FILE, with jansson's line/column where there is one. */
enum owl_status kv_from_json(struct kv_table *kv, const char *text, size_t len, const char *source,
                             struct owl_error *err);

/* Build a table by hand (GGUF metadata, translated keys): kv_add appends (key copied, value owned by
 * the table), then kv_finish sorts and rejects duplicate keys. Lookups need a finished table. */
void kv_add(struct kv_table *kv, const char *key, struct kv_value value);
enum owl_status kv_finish(struct kv_table *kv, struct owl_error *err);
void kv_value_free(struct kv_value *v); /* frees what a value owns (strings, items) */

/* Lookup; NULL if absent. */
const struct kv_value *kv_find(const struct kv_table *kv, const char *key);
/* True if key is present and not null. */
bool kv_has(const struct kv_table *kv, const char *key);

/* Typed getters. The _req forms fail with OWL_ERR_BAD_CONFIG if absent/null ("<source>: missing field
 * 'key'") or of the wrong type ("field 'key': expected integer, got string"). The _opt forms leave *out
 * untouched when absent or null and fail only on a wrong type. get_int accepts a float with an integral
 * value; get_float accepts ints. */
enum owl_status kv_get_int(const struct kv_table *kv, const char *key, int64_t *out, struct owl_error *err);
enum owl_status kv_get_int_opt(const struct kv_table *kv, const char *key, int64_t *out, struct owl_error *err);
enum owl_status kv_get_float(const struct kv_table *kv, const char *key, double *out, struct owl_error *err);
enum owl_status kv_get_float_opt(const struct kv_table *kv, const char *key, double *out, struct owl_error *err);
enum owl_status kv_get_bool_opt(const struct kv_table *kv, const char *key, bool *out, struct owl_error *err);
/* *out borrowed from the table. */
enum owl_status kv_get_str_opt(const struct kv_table *kv, const char *key, const char **out, struct owl_error *err);

/* An int field bounded to [lo, hi] (inclusive), for dimensions: "field 'key' = v, expected lo..hi". */
enum owl_status kv_get_dim(const struct kv_table *kv, const char *key, int64_t lo, int64_t hi, int *out,
                           struct owl_error *err);

const char *kv_type_name(enum kv_type type);

#endif
