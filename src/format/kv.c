/* kv.c — config.json into one flat, sorted key space, and typed getters over it (see kv.h).
 *
 * Objects flatten with dots ({"a": {"b": 1}} -> "a.b"); an empty object contributes no key. Arrays keep
 * their structure: items are scalars or nested arrays (KV_ARRAY), and an object inside an array becomes
 * a KV_NULL item (no config we read puts objects in arrays). Entries are sorted by key, so a key that
 * two spellings flatten to ({"a.b": 1, "a": {"b": 2}}) is caught as a duplicate and lookup is a bsearch.
 * JSON is parsed with jansson; nesting is bounded by a pre-scan so recursion depth is too.
 */
#include "format/kv.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_MAX_DEPTH 16

static void value_free(struct kv_value *v)
{
    free(v->s);
    for (int i = 0; i < v->n_items; i++)
        value_free(&v->items[i]);
    free(v->items);
}

void kv_table_free(struct kv_table *kv)
{
    if (!kv)
        return;
    for (int i = 0; i < kv->n; i++) {
        free(kv->entries[i].key);
        value_free(&kv->entries[i].value);
    }
    free(kv->entries);
    free(kv->source);
    memset(kv, 0, sizeof *kv);
}

const char *kv_type_name(enum kv_type type)
{
    switch (type) {
    case KV_NULL: return "null";
    case KV_BOOL: return "bool";
    case KV_INT: return "integer";
    case KV_FLOAT: return "float";
    case KV_STRING: return "string";
    case KV_ARRAY: return "array";
    }
    return "?";
}

/* 1-based line and column (in bytes) of offset pos, to match jansson's error positions. */
static void text_pos(const char *text, size_t pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* Offset of the first '{' or '[' (outside strings) that opens level KV_MAX_DEPTH + 1, or SIZE_MAX. Exact
 * on valid JSON; on invalid JSON it may be wrong, and then jansson reports the syntax error instead. */
static size_t find_too_deep(const char *text, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > KV_MAX_DEPTH)
                return i;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return SIZE_MAX;
}

static void value_from_json(const json_t *j, struct kv_value *out)
{
    memset(out, 0, sizeof *out);
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        out->type = KV_BOOL;
        out->b = json_is_true(j);
        out->i = out->b;
        out->f = out->b;
        break;
    case JSON_INTEGER:
        out->type = KV_INT;
        out->i = (int64_t)json_integer_value(j);
        out->f = (double)out->i;
        break;
    case JSON_REAL:
        out->type = KV_FLOAT;
        out->f = json_real_value(j);
        break;
    case JSON_STRING:
        out->type = KV_STRING;
        out->s = xstrdup(json_string_value(j)); /* no embedded NULs: JSON_ALLOW_NUL is not set */
        break;
    case JSON_ARRAY:
        out->type = KV_ARRAY;
        out->n_items = (int)json_array_size(j); /* < len <= INT_MAX, checked by kv_from_json */
        out->items = xcalloc((size_t)out->n_items, sizeof *out->items);
        for (int i = 0; i < out->n_items; i++)
            value_from_json(json_array_get(j, (size_t)i), &out->items[i]);
        break;
    case JSON_OBJECT: /* inside an array: not represented */
    case JSON_NULL:
        out->type = KV_NULL;
        break;
    }
}

static void kv_append(struct kv_table *kv, char *key, const json_t *j)
{
    if (kv->n == kv->cap) {
        OWL_ASSERT(kv->cap <= INT_MAX / 2);
        kv->cap = kv->cap ? kv->cap * 2 : 64;
        kv->entries = xrealloc(kv->entries, (size_t)kv->cap * sizeof *kv->entries);
    }
    struct kv_entry *e = &kv->entries[kv->n++];
    e->key = key;
    value_from_json(j, &e->value);
}

/* Append every leaf of obj under "prefix.". Depth is bounded by the pre-scan. */
static void flatten(struct kv_table *kv, const json_t *obj, const char *prefix)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v) {
        size_t n_prefix = prefix ? strlen(prefix) + 1 : 0, n_name = strlen(name);
        char *key = xcalloc(n_prefix + n_name + 1, 1);
        if (prefix) {
            memcpy(key, prefix, n_prefix - 1);
            key[n_prefix - 1] = '.';
        }
        memcpy(key + n_prefix, name, n_name);
        if (json_is_object(v)) {
            flatten(kv, v, key);
            free(key);
        } else {
            kv_append(kv, key, v);
        }
    }
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kv_entry *)a)->key, ((const struct kv_entry *)b)->key);
}

enum owl_status kv_from_json(struct kv_table *kv, const char *text, size_t len, const char *source,
                             struct owl_error *err)
{
    memset(kv, 0, sizeof *kv);
    kv->source = xstrdup(source ? source : "config");
    enum owl_status st = OWL_OK;
    json_t *root = NULL;
    int line, col;
    if (len > INT_MAX) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: %zu bytes of JSON, too large", kv->source, len);
        goto fail;
    }
    size_t deep = find_too_deep(text, len);
    if (deep != SIZE_MAX) {
        text_pos(text, deep, &line, &col);
        st = fail(err, OWL_ERR_BAD_FILE, "%s: JSON nested deeper than %d levels (line %d, column %d)",
                  kv->source, KV_MAX_DEPTH, line, col);
        goto fail;
    }
    json_error_t jerr;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: invalid JSON: %s (line %d, column %d)", kv->source, jerr.text,
                  jerr.line, jerr.column);
        goto fail;
    }
    if (!json_is_object(root)) {
        size_t pos = 0;
        while (pos < len && strchr(" \t\r\n", text[pos]) && text[pos])
            pos++;
        text_pos(text, pos, &line, &col);
        static const char *names[] = {"an object", "an array", "a string", "a number", "a number", "true",
                                      "false", "null"};
        st = fail(err, OWL_ERR_BAD_FILE, "%s: top level is %s, expected an object (line %d, column %d)",
                  kv->source, names[json_typeof(root)], line, col);
        goto fail;
    }
    flatten(kv, root, NULL);
    if (kv->n > 1)
        qsort(kv->entries, (size_t)kv->n, sizeof *kv->entries, entry_cmp);
    for (int i = 1; i < kv->n; i++) {
        if (strcmp(kv->entries[i - 1].key, kv->entries[i].key) == 0) {
            st = fail(err, OWL_ERR_BAD_FILE, "%s: duplicate key '%s' (a dotted name and a nested object "
                      "flatten to it)", kv->source, kv->entries[i].key);
            goto fail;
        }
    }
    json_decref(root);
    return OWL_OK;

fail:
    json_decref(root);
    kv_table_free(kv);
    return st;
}

void kv_add(struct kv_table *kv, const char *key, struct kv_value value)
{
    if (kv->n == kv->cap) {
        OWL_ASSERT(kv->cap <= INT_MAX / 2);
        kv->cap = kv->cap ? kv->cap * 2 : 64;
        kv->entries = xrealloc(kv->entries, (size_t)kv->cap * sizeof *kv->entries);
    }
    kv->entries[kv->n++] = (struct kv_entry){.key = xstrdup(key), .value = value};
}

enum owl_status kv_finish(struct kv_table *kv, struct owl_error *err)
{
    if (kv->n > 1)
        qsort(kv->entries, (size_t)kv->n, sizeof *kv->entries, entry_cmp);
    for (int i = 1; i < kv->n; i++)
        if (strcmp(kv->entries[i - 1].key, kv->entries[i].key) == 0)
            return fail(err, OWL_ERR_BAD_FILE, "%s: duplicate key '%s'", kv->source ? kv->source : "metadata",
                        kv->entries[i].key);
    return OWL_OK;
}

void kv_value_free(struct kv_value *v) { value_free(v); }

const struct kv_value *kv_find(const struct kv_table *kv, const char *key)
{
    if (kv->n == 0)
        return NULL;
    struct kv_entry probe = {.key = (char *)key};
    const struct kv_entry *e = bsearch(&probe, kv->entries, (size_t)kv->n, sizeof *kv->entries, entry_cmp);
    return e ? &e->value : NULL;
}

bool kv_has(const struct kv_table *kv, const char *key)
{
    const struct kv_value *v = kv_find(kv, key);
    return v && v->type != KV_NULL;
}

static const char *kv_source(const struct kv_table *kv) { return kv->source ? kv->source : "config"; }

/* *out = the value, or NULL when absent or null (an error only if required). */
static enum owl_status lookup(const struct kv_table *kv, const char *key, bool required,
                              const struct kv_value **out, struct owl_error *err)
{
    *out = kv_find(kv, key);
    if (*out && (*out)->type == KV_NULL)
        *out = NULL;
    if (!*out && required)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: missing field '%s'", kv_source(kv), key);
    return OWL_OK;
}

static enum owl_status wrong_type(const struct kv_table *kv, const char *key, const char *expected,
                                  const struct kv_value *v, struct owl_error *err)
{
    if (v->type == KV_FLOAT)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field '%s': expected %s, got float %g", kv_source(kv), key,
                    expected, v->f);
    return fail(err, OWL_ERR_BAD_CONFIG, "%s: field '%s': expected %s, got %s", kv_source(kv), key, expected,
                kv_type_name(v->type));
}

/* An int, or a float with an integral value inside int64's range (configs write 1e6 or 10000.0). */
static enum owl_status get_int(const struct kv_table *kv, const char *key, bool required, int64_t *out,
                               struct owl_error *err)
{
    const struct kv_value *v;
    enum owl_status st = lookup(kv, key, required, &v, err);
    if (st != OWL_OK || !v)
        return st;
    if (v->type == KV_INT) {
        *out = v->i;
        return OWL_OK;
    }
    /* -2^63 is exact in double; 2^63 is the first value past the range. */
    if (v->type == KV_FLOAT && v->f >= -9223372036854775808.0 && v->f < 9223372036854775808.0 &&
        (double)(int64_t)v->f == v->f) {
        *out = (int64_t)v->f;
        return OWL_OK;
    }
    return wrong_type(kv, key, "integer", v, err);
}

static enum owl_status get_float(const struct kv_table *kv, const char *key, bool required, double *out,
                                 struct owl_error *err)
{
    const struct kv_value *v;
    enum owl_status st = lookup(kv, key, required, &v, err);
    if (st != OWL_OK || !v)
        return st;
    if (v->type != KV_INT && v->type != KV_FLOAT)
        return wrong_type(kv, key, "number", v, err);
    *out = v->f;
    return OWL_OK;
}

enum owl_status kv_get_int(const struct kv_table *kv, const char *key, int64_t *out, struct owl_error *err)
{
    return get_int(kv, key, true, out, err);
}

enum owl_status kv_get_int_opt(const struct kv_table *kv, const char *key, int64_t *out, struct owl_error *err)
{
    return get_int(kv, key, false, out, err);
}

enum owl_status kv_get_float(const struct kv_table *kv, const char *key, double *out, struct owl_error *err)
{
    return get_float(kv, key, true, out, err);
}

enum owl_status kv_get_float_opt(const struct kv_table *kv, const char *key, double *out, struct owl_error *err)
{
    return get_float(kv, key, false, out, err);
}

enum owl_status kv_get_bool_opt(const struct kv_table *kv, const char *key, bool *out, struct owl_error *err)
{
    const struct kv_value *v;
    enum owl_status st = lookup(kv, key, false, &v, err);
    if (st != OWL_OK || !v)
        return st;
    if (v->type != KV_BOOL)
        return wrong_type(kv, key, "bool", v, err);
    *out = v->b;
    return OWL_OK;
}

enum owl_status kv_get_str_opt(const struct kv_table *kv, const char *key, const char **out, struct owl_error *err)
{
    const struct kv_value *v;
    enum owl_status st = lookup(kv, key, false, &v, err);
    if (st != OWL_OK || !v)
        return st;
    if (v->type != KV_STRING)
        return wrong_type(kv, key, "string", v, err);
    *out = v->s;
    return OWL_OK;
}

enum owl_status kv_get_dim(const struct kv_table *kv, const char *key, int64_t lo, int64_t hi, int *out,
                           struct owl_error *err)
{
    OWL_ASSERT(lo <= hi && lo >= INT_MIN && hi <= INT_MAX);
    int64_t v;
    enum owl_status st = get_int(kv, key, true, &v, err);
    if (st != OWL_OK)
        return st;
    if (v < lo || v > hi)
        return fail(err, OWL_ERR_BAD_CONFIG, "%s: field '%s' = %lld, expected %lld..%lld", kv_source(kv), key,
                    (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return OWL_OK;
}
