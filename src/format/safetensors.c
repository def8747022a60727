/* safetensors.c — the safetensors container parser and the tensor table it fills (see safetensors.h).
 *
 * Mirrors the checks of huggingface/safetensors (safetensors/src/tensor.rs: read_metadata, validate),
 * except that gaps between tensors are accepted (only overlaps are errors) and duplicate JSON keys are
 * rejected rather than silently resolved. It never touches tensor bytes: views point into the image.
 * The header JSON is parsed with jansson; on any error the table is rolled back to its previous state.
 */
#include "format/safetensors.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* huggingface/safetensors MAX_HEADER_SIZE: a larger header is refused before it is parsed. */
#define SAFETENSORS_MAX_HEADER 100000000u

/* ---- tensor table: array of views + open-addressing name index ---- */

static uint64_t name_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* The slot holding name, or the empty slot where it would go. n_slots > n, so the probe ends. */
static int *table_slot(const struct tensor_table *table, const char *name)
{
    size_t mask = table->n_slots - 1;
    for (size_t s = (size_t)name_hash(name) & mask;; s = (s + 1) & mask) {
        int v = table->slots[s];
        if (v == 0 || strcmp(table->tensors[v - 1].name, name) == 0)
            return &table->slots[s];
    }
}

static void table_rehash(struct tensor_table *table, size_t n_slots)
{
    free(table->slots);
    table->slots = xcalloc(n_slots, sizeof *table->slots);
    table->n_slots = n_slots;
    for (int i = 0; i < table->n; i++)
        *table_slot(table, table->tensors[i].name) = i + 1;
}

/* Append a view whose name is not in the table yet; the table takes ownership of view->name. */
static void table_append(struct tensor_table *table, const struct tensor_view *view)
{
    if (table->n == table->cap) {
        OWL_ASSERT(table->cap <= INT_MAX / 2);
        table->cap = table->cap ? table->cap * 2 : 64;
        table->tensors = xrealloc(table->tensors, (size_t)table->cap * sizeof *table->tensors);
    }
    table->tensors[table->n++] = *view;
    if (2 * (size_t)table->n > table->n_slots)
        table_rehash(table, table->n_slots ? table->n_slots * 2 : 128);
    else
        *table_slot(table, view->name) = table->n;
}

/* Drop the entries appended since the table held n tensors. */
static void table_truncate(struct tensor_table *table, int n)
{
    for (int i = n; i < table->n; i++)
        free((char *)table->tensors[i].name);
    table->n = n;
    if (table->n_slots)
        table_rehash(table, table->n_slots);
}

void tensor_table_free(struct tensor_table *table)
{
    if (!table)
        return;
    table_truncate(table, 0);
    free(table->tensors);
    free(table->slots);
    memset(table, 0, sizeof *table);
}

bool tensor_table_add(struct tensor_table *table, const struct tensor_view *view)
{
    if (tensor_table_find(table, view->name)) {
        free((char *)view->name);
        return false;
    }
    table_append(table, view);
    return true;
}

void tensor_table_truncate(struct tensor_table *table, int n)
{
    OWL_ASSERT(n >= 0 && n <= table->n);
    table_truncate(table, n);
}

const struct tensor_view *tensor_table_find(const struct tensor_table *table, const char *name)
{
    if (table->n_slots == 0)
        return NULL;
    int v = *table_slot(table, name);
    return v ? &table->tensors[v - 1] : NULL;
}

/* ---- header parsing ---- */

struct byte_range {
    uint64_t begin, end; /* relative to the data section */
    const char *name;    /* borrowed from the JSON */
};

static int range_cmp(const void *pa, const void *pb)
{
    const struct byte_range *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* What a JSON value is, for "'dtype' is a number, expected a string". */
static const char *json_kind(const json_t *v)
{
    static const char *names[] = {"an object", "an array", "a string", "an integer", "a float", "true",
                                  "false", "null"};
    return v ? names[json_typeof(v)] : "missing";
}

/* One non-negative JSON integer; false if v is anything else. */
static bool json_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Validate one header entry {dtype, shape, data_offsets} into *view (name, file, data not set) and the
 * byte range it claims. data_size: bytes in the data section. */
static enum owl_status parse_entry(const char *file, const char *name, const json_t *entry, size_t data_size,
                                   struct tensor_view *view, struct byte_range *range, struct owl_error *err)
{
    memset(view, 0, sizeof *view);
    if (!json_is_object(entry))
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': header entry is not an object", file, name);

    const json_t *dt = json_object_get(entry, "dtype");
    if (!json_is_string(dt))
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': 'dtype' is %s, expected a string", file, name,
                    json_kind(dt));
    if (!dtype_from_name(json_string_value(dt), &view->dtype))
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': unknown dtype '%s'", file, name,
                    json_string_value(dt));

    const json_t *shape = json_object_get(entry, "shape");
    if (!json_is_array(shape))
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': 'shape' is %s, expected an array", file, name,
                    json_kind(shape));
    size_t n_dim = json_array_size(shape);
    if (n_dim > TENSOR_MAX_DIMS)
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': shape has %zu dims, at most %d supported", file,
                    name, n_dim, TENSOR_MAX_DIMS);
    view->n_dim = (int)n_dim;
    size_t n_elem = 1;
    bool overflow = false;
    for (size_t i = 0; i < n_dim; i++) {
        const json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d))
            return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': shape[%zu] is not an integer", file, name, i);
        if (json_integer_value(d) < 0)
            return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': shape[%zu] = %lld is negative", file, name, i,
                        (long long)json_integer_value(d));
        view->shape[i] = (int64_t)json_integer_value(d);
        overflow |= !size_mul(n_elem, (size_t)view->shape[i], &n_elem);
    }
    char shape_buf[96];
    tensor_shape_str(view, shape_buf, sizeof shape_buf);
    size_t n_bytes;
    if (overflow || !size_mul(n_elem, dtype_size(view->dtype), &n_bytes) || n_bytes > INT64_MAX)
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': shape %s %s: byte size overflows", file, name,
                    shape_buf, dtype_name(view->dtype));

    const json_t *offs = json_object_get(entry, "data_offsets");
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_uint(json_array_get(offs, 0), &range->begin) ||
        !json_uint(json_array_get(offs, 1), &range->end))
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': 'data_offsets' is %s, expected [begin, end] "
                    "non-negative integers", file, name,
                    json_is_array(offs) ? "malformed" : json_kind(offs));
    if (range->begin > range->end)
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': data_offsets [%llu, %llu] have begin > end", file,
                    name, (unsigned long long)range->begin, (unsigned long long)range->end);
    if (range->end - range->begin != n_bytes)
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': shape %s %s needs %zu bytes, data_offsets give %llu",
                    file, name, shape_buf, dtype_name(view->dtype), n_bytes,
                    (unsigned long long)(range->end - range->begin));
    if (range->end > data_size)
        return fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': data_offsets [%llu, %llu] past end of file "
                    "(data section holds %zu bytes)", file, name, (unsigned long long)range->begin,
                    (unsigned long long)range->end, data_size);
    view->n_bytes = n_bytes;
    range->name = name;
    return OWL_OK;
}

/* __metadata__ is free-form {str: str}; only its type is checked. */
static enum owl_status check_metadata(const char *file, const json_t *meta, struct owl_error *err)
{
    if (!json_is_object(meta))
        return fail(err, OWL_ERR_BAD_FILE, "%s: __metadata__ is not an object", file);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)meta, key, v) {
        if (!json_is_string(v))
            return fail(err, OWL_ERR_BAD_FILE, "%s: __metadata__ value '%s' is not a string", file, key);
    }
    return OWL_OK;
}

enum owl_status safetensors_parse(const uint8_t *data, size_t size, const char *file,
                                  struct tensor_table *table, struct owl_error *err)
{
    if (size < 8)
        return fail(err, OWL_ERR_BAD_FILE, "%s: file is %zu bytes, too short for the 8-byte header length",
                    file, size);
    uint64_t n_header = 0;
    for (int i = 7; i >= 0; i--)
        n_header = (n_header << 8) | data[i]; /* little-endian u64 */
    if (n_header > size - 8)
        return fail(err, OWL_ERR_BAD_FILE, "%s: header length %llu exceeds file size %zu", file,
                    (unsigned long long)n_header, size);
    if (n_header > SAFETENSORS_MAX_HEADER)
        return fail(err, OWL_ERR_BAD_FILE, "%s: header length %llu exceeds the %u-byte limit", file,
                    (unsigned long long)n_header, SAFETENSORS_MAX_HEADER);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)data + 8, (size_t)n_header, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, OWL_ERR_BAD_FILE, "%s: header is not valid JSON: %s (line %d, column %d)", file,
                    jerr.text, jerr.line, jerr.column);

    enum owl_status st = OWL_OK;
    int old_n = table->n;
    struct byte_range *ranges = NULL;
    const uint8_t *section = data + 8 + n_header;
    size_t section_size = size - 8 - (size_t)n_header;
    if (!json_is_object(root)) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: header is not a JSON object", file);
        goto fail;
    }
    size_t n_entries = json_object_size(root);
    if (n_entries > (size_t)(INT_MAX - table->n)) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: header lists %zu tensors, too many", file, n_entries);
        goto fail;
    }
    ranges = xcalloc(n_entries, sizeof *ranges);
    int n_ranges = 0;

    const char *key;
    json_t *entry;
    json_object_foreach(root, key, entry) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((st = check_metadata(file, entry, err)) != OWL_OK)
                goto fail;
            continue;
        }
        struct tensor_view view;
        struct byte_range range;
        if ((st = parse_entry(file, key, entry, section_size, &view, &range, err)) != OWL_OK)
            goto fail;
        const struct tensor_view *prev = tensor_table_find(table, key);
        if (prev) {
            st = fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': duplicate name (also in %s)", file, key,
                      prev->file);
            goto fail;
        }
        view.name = xstrdup(key);
        view.file = file;
        view.data = view.n_bytes ? section + range.begin : NULL;
        table_append(table, &view);
        ranges[n_ranges++] = range;
    }

    /* Sorted by begin, each range must start at or after the end of the one before. */
    qsort(ranges, (size_t)n_ranges, sizeof *ranges, range_cmp);
    for (int i = 1; i < n_ranges; i++) {
        const struct byte_range *a = &ranges[i - 1], *b = &ranges[i];
        if (b->begin < a->end) {
            st = fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s' [%llu, %llu) overlaps tensor '%s' [%llu, %llu)",
                      file, b->name, (unsigned long long)b->begin, (unsigned long long)b->end, a->name,
                      (unsigned long long)a->begin, (unsigned long long)a->end);
            goto fail;
        }
    }
    free(ranges);
    json_decref(root);
    return OWL_OK;

fail:
    table_truncate(table, old_n);
    free(ranges);
    json_decref(root);
    return st;
}
