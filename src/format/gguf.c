/* gguf.c — the GGUF container parser (see gguf.h). Mirrors the checks of ggml/src/gguf.cpp
 * (gguf_init_from_file_impl): magic, version, counts bounded by the bytes left, key/name uniqueness,
 * known types, dims, block-divisible rows, aligned offsets, ranges inside the file and not overlapping. */
#include "format/gguf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAX_DIMS 4           /* GGML_MAX_DIMS */
#define GGUF_MAX_ARRAY_DEPTH 4    /* nested arrays deeper than this are refused */
#define GGUF_DEFAULT_ALIGNMENT 32

enum gguf_type {
    GGUF_UINT8, GGUF_INT8, GGUF_UINT16, GGUF_INT16, GGUF_UINT32, GGUF_INT32, GGUF_FLOAT32, GGUF_BOOL,
    GGUF_STRING, GGUF_ARRAY, GGUF_UINT64, GGUF_INT64, GGUF_FLOAT64, GGUF_TYPE_COUNT
};

static const char *const ggml_type_names[] = {
    [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0", [7] = "Q5_1", [8] = "Q8_0",
    [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K", [13] = "Q5_K", [14] = "Q6_K", [15] = "Q8_K",
    [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
    [22] = "IQ2_S", [23] = "IQ4_XS", [24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64",
    [29] = "IQ1_M", [30] = "BF16", [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4", [40] = "NVFP4",
    [41] = "Q1_0", [42] = "Q2_0",
};

const char *gguf_ggml_type_name(uint32_t type)
{
    return type < sizeof ggml_type_names / sizeof *ggml_type_names ? ggml_type_names[type] : NULL;
}

/* The owl dtype of a ggml type, or false if owl has no kernel for it. */
static bool dtype_of_ggml(uint32_t type, enum dtype *out)
{
    static const struct { uint32_t ggml; enum dtype dtype; } map[] = {
        {0, DTYPE_F32}, {1, DTYPE_F16}, {2, DTYPE_Q4_0}, {3, DTYPE_Q4_1}, {6, DTYPE_Q5_0}, {7, DTYPE_Q5_1},
        {8, DTYPE_Q8_0}, {10, DTYPE_Q2_K}, {11, DTYPE_Q3_K}, {12, DTYPE_Q4_K}, {13, DTYPE_Q5_K},
        {14, DTYPE_Q6_K}, {24, DTYPE_I8}, {25, DTYPE_I16}, {26, DTYPE_I32}, {27, DTYPE_I64}, {28, DTYPE_F64},
        {30, DTYPE_BF16}, {39, DTYPE_MXFP4},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (map[i].ggml == type) {
            *out = map[i].dtype;
            return true;
        }
    return false;
}

struct reader {
    const uint8_t *data;
    size_t size, pos;
    const char *file;
    struct owl_error *err;
    const char *what; /* what is being read, for messages */
};

static bool need(struct reader *r, size_t n)
{
    if (r->size - r->pos >= n)
        return true;
    fail(r->err, OWL_ERR_BAD_FILE, "%s: truncated at byte %zu reading %s (needs %zu bytes, %zu left)", r->file,
         r->pos, r->what, n, r->size - r->pos);
    return false;
}

static bool read_u32(struct reader *r, uint32_t *out)
{
    if (!need(r, 4))
        return false;
    *out = 0;
    for (int i = 0; i < 4; i++)
        *out |= (uint32_t)r->data[r->pos + i] << (8 * i);
    r->pos += 4;
    return true;
}

static bool read_u64(struct reader *r, uint64_t *out)
{
    if (!need(r, 8))
        return false;
    *out = 0;
    for (int i = 0; i < 8; i++)
        *out |= (uint64_t)r->data[r->pos + i] << (8 * i);
    r->pos += 8;
    return true;
}

/* A GGUF string (u64 length + bytes) as a malloc'd NUL-terminated copy. */
static bool read_str(struct reader *r, char **out)
{
    uint64_t n;
    if (!read_u64(r, &n))
        return false;
    if (n > r->size - r->pos) {
        fail(r->err, OWL_ERR_BAD_FILE, "%s: %s: string length %llu at byte %zu exceeds the %zu bytes left", r->file,
             r->what, (unsigned long long)n, r->pos - 8, r->size - r->pos);
        return false;
    }
    *out = xcalloc((size_t)n + 1, 1);
    memcpy(*out, r->data + r->pos, (size_t)n);
    r->pos += (size_t)n;
    return true;
}

static size_t min_size_of(uint32_t type)
{
    static const size_t sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
    return sizes[type];
}

static bool read_value(struct reader *r, uint32_t type, int depth, struct kv_value *out, const char *key)
{
    memset(out, 0, sizeof *out);
    uint32_t u32;
    uint64_t u64;
    switch (type) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL:
        if (!need(r, 1))
            return false;
        out->type = type == GGUF_BOOL ? KV_BOOL : KV_INT;
        out->i = type == GGUF_INT8 ? (int8_t)r->data[r->pos] : r->data[r->pos];
        if (type == GGUF_BOOL && r->data[r->pos] > 1)
            return fail(r->err, OWL_ERR_BAD_FILE, "%s: key '%s': bool byte %u, expected 0 or 1", r->file, key,
                        r->data[r->pos]), false;
        out->b = out->i != 0;
        r->pos += 1;
        break;
    case GGUF_UINT16: case GGUF_INT16:
        if (!need(r, 2))
            return false;
        u32 = (uint32_t)r->data[r->pos] | (uint32_t)r->data[r->pos + 1] << 8;
        out->type = KV_INT;
        out->i = type == GGUF_INT16 ? (int16_t)u32 : (int64_t)u32;
        r->pos += 2;
        break;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32:
        if (!read_u32(r, &u32))
            return false;
        if (type == GGUF_FLOAT32) {
            float f;
            memcpy(&f, &u32, 4);
            out->type = KV_FLOAT;
            out->f = f;
            return true;
        }
        out->type = KV_INT;
        out->i = type == GGUF_INT32 ? (int32_t)u32 : (int64_t)u32;
        break;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64:
        if (!read_u64(r, &u64))
            return false;
        if (type == GGUF_FLOAT64) {
            memcpy(&out->f, &u64, 8);
            out->type = KV_FLOAT;
            return true;
        }
        if (type == GGUF_UINT64 && u64 > INT64_MAX) { /* too large for an integer: keep it as a number */
            out->type = KV_FLOAT;
            out->f = (double)u64;
            return true;
        }
        out->type = KV_INT;
        out->i = (int64_t)u64;
        break;
    case GGUF_STRING:
        out->type = KV_STRING;
        return read_str(r, &out->s);
    case GGUF_ARRAY: {
        uint32_t elem;
        uint64_t n;
        if (!read_u32(r, &elem) || !read_u64(r, &n))
            return false;
        if (elem >= GGUF_TYPE_COUNT)
            return fail(r->err, OWL_ERR_BAD_FILE, "%s: key '%s': array of unknown type %u", r->file, key, elem), false;
        if (elem == GGUF_ARRAY && depth >= GGUF_MAX_ARRAY_DEPTH)
            return fail(r->err, OWL_ERR_BAD_FILE, "%s: key '%s': arrays nested deeper than %d", r->file, key,
                        GGUF_MAX_ARRAY_DEPTH), false;
        /* every element takes at least min_size_of bytes: a count the file cannot hold is refused before
         * anything is allocated */
        if (n > (r->size - r->pos) / min_size_of(elem) || n > INT_MAX)
            return fail(r->err, OWL_ERR_BAD_FILE, "%s: key '%s': array of %llu elements cannot fit in the %zu bytes "
                        "left", r->file, key, (unsigned long long)n, r->size - r->pos), false;
        out->type = KV_ARRAY;
        out->items = xcalloc(n ? (size_t)n : 1, sizeof *out->items);
        for (uint64_t i = 0; i < n; i++) {
            out->n_items = (int)i + 1;
            if (!read_value(r, elem, depth + 1, &out->items[i], key))
                return false;
        }
        out->n_items = (int)n;
        break;
    }
    default:
        return fail(r->err, OWL_ERR_BAD_FILE, "%s: key '%s': unknown value type %u at byte %zu", r->file, key, type,
                    r->pos - 4), false;
    }
    if (out->type == KV_INT)
        out->f = (double)out->i;
    return true;
}

struct tensor_info {
    uint64_t offset, n_bytes;
    int index; /* in the table */
};

static int info_cmp(const void *pa, const void *pb)
{
    const struct tensor_info *a = pa, *b = pb;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

enum owl_status gguf_parse(const uint8_t *data, size_t size, const char *file, struct kv_table *kv,
                           struct tensor_table *table, struct owl_error *err)
{
    struct reader r = {.data = data, .size = size, .file = file, .err = err, .what = "the header"};
    OWL_ASSERT(kv->n == 0);
    const int table_before = table->n;
    if (!kv->source)
        kv->source = xstrdup(file);
    struct tensor_info *infos = NULL;
    char *key = NULL;
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
    if (!read_u32(&r, &magic))
        goto fail;
    if (magic != 0x46554747u) /* "GGUF" little-endian */ {
        fail(err, OWL_ERR_BAD_FILE, "%s: not a GGUF file (magic %02x %02x %02x %02x, expected 'GGUF')", file,
             data[0], data[1], data[2], data[3]);
        goto fail;
    }
    if (!read_u32(&r, &version))
        goto fail;
    if (version != 2 && version != 3) {
        fail(err, version == 1 ? OWL_ERR_UNSUPPORTED : OWL_ERR_BAD_FILE, "%s: GGUF version %u%s, expected 2 or 3",
             file, version, (version & 0xffff) == 0 ? " (a big-endian file?)" : "");
        goto fail;
    }
    if (!read_u64(&r, &n_tensors) || !read_u64(&r, &n_kv))
        goto fail;
    /* a metadata entry takes >= 8+4+1 bytes and a tensor info >= 8+4+8+4+8: refuse impossible counts */
    if (n_kv > (size - r.pos) / 13 || n_tensors > (size - r.pos) / 32 || n_tensors > INT_MAX / 2) {
        fail(err, OWL_ERR_BAD_FILE, "%s: %llu tensors and %llu metadata entries cannot fit in %zu bytes", file,
             (unsigned long long)n_tensors, (unsigned long long)n_kv, size);
        goto fail;
    }

    uint64_t alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        uint32_t type;
        r.what = "a metadata key";
        if (!read_str(&r, &key) || !read_u32(&r, &type))
            goto fail;
        if (type >= GGUF_TYPE_COUNT) {
            fail(err, OWL_ERR_BAD_FILE, "%s: key '%s': unknown value type %u", file, key, type);
            goto fail;
        }
        r.what = key;
        struct kv_value v;
        if (!read_value(&r, type, 0, &v, key)) {
            kv_value_free(&v);
            goto fail;
        }
        if (strcmp(key, "general.alignment") == 0) {
            if (type != GGUF_UINT32 || v.i == 0 || (v.i & (v.i - 1))) {
                fail(err, OWL_ERR_BAD_FILE, "%s: general.alignment must be a power-of-two uint32, got %s %lld", file,
                     type == GGUF_UINT32 ? "uint32" : "another type", (long long)v.i);
                kv_value_free(&v);
                goto fail;
            }
            alignment = (uint64_t)v.i;
        }
        kv_add(kv, key, v);
        free(key);
        key = NULL;
    }

    infos = xcalloc(n_tensors ? (size_t)n_tensors : 1, sizeof *infos);
    for (uint64_t i = 0; i < n_tensors; i++) {
        char *name;
        uint32_t n_dims, type;
        r.what = "a tensor name";
        if (!read_str(&r, &name))
            goto fail;
        struct tensor_view view = {.name = name, .file = file};
        r.what = name;
        if (!read_u32(&r, &n_dims)) {
            free(name);
            goto fail;
        }
        if (n_dims == 0 || n_dims > GGUF_MAX_DIMS) {
            fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': %u dimensions, expected 1..%d", file, name, n_dims,
                 GGUF_MAX_DIMS);
            free(name);
            goto fail;
        }
        uint64_t ne[GGUF_MAX_DIMS], n_elem = 1;
        bool overflow = false;
        for (uint32_t d = 0; d < n_dims; d++) {
            if (!read_u64(&r, &ne[d])) {
                free(name);
                goto fail;
            }
            overflow |= ne[d] > INT64_MAX || __builtin_mul_overflow(n_elem, ne[d], &n_elem) || n_elem > INT64_MAX;
        }
        if (overflow) {
            fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': dimensions overflow 64 bits", file, name);
            free(name);
            goto fail;
        }
        if (!read_u32(&r, &type) || !read_u64(&r, &infos[i].offset)) {
            free(name);
            goto fail;
        }
        view.n_dim = (int)n_dims;
        for (uint32_t d = 0; d < n_dims; d++) /* PyTorch order: outermost first */
            view.shape[d] = (int64_t)ne[n_dims - 1 - d];
        const char *type_name = gguf_ggml_type_name(type);
        if (!dtype_of_ggml(type, &view.dtype)) {
            if (type_name)
                fail(err, OWL_ERR_UNSUPPORTED, "%s: tensor '%s': type %s is not supported (owl reads F32, F16, "
                     "BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, MXFP4)", file, name, type_name);
            else
                fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': unknown ggml type %u", file, name, type);
            free(name);
            goto fail;
        }
        size_t n_bytes;
        if (ne[0] % (uint64_t)dtype_block(view.dtype) || !dtype_bytes(view.dtype, n_elem, &n_bytes)) {
            fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': row of %llu elements is not a whole number of %s blocks "
                 "of %d", file, name, (unsigned long long)ne[0], dtype_name(view.dtype), dtype_block(view.dtype));
            free(name);
            goto fail;
        }
        if (infos[i].offset % alignment) {
            fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': offset %llu is not a multiple of the alignment %llu", file,
                 name, (unsigned long long)infos[i].offset, (unsigned long long)alignment);
            free(name);
            goto fail;
        }
        view.n_bytes = n_bytes;
        infos[i].n_bytes = n_bytes;
        infos[i].index = table->n;
        if (tensor_table_find(table, name)) {
            fail(err, OWL_ERR_BAD_FILE, "%s: duplicate tensor name '%s' (tensor %llu)", file, name,
                 (unsigned long long)i);
            free(name);
            goto fail;
        }
        OWL_ASSERT(tensor_table_add(table, &view));
    }

    /* the data section starts at the next multiple of the alignment */
    const uint64_t data_start = ((uint64_t)r.pos + alignment - 1) / alignment * alignment;
    if (n_tensors > 0 && data_start > size) {
        fail(err, OWL_ERR_BAD_FILE, "%s: data section at byte %llu is past the end of the file (%zu bytes)", file,
             (unsigned long long)data_start, size);
        goto fail;
    }
    qsort(infos, (size_t)n_tensors, sizeof *infos, info_cmp);
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct tensor_view *t = &table->tensors[infos[i].index];
        const uint64_t room = size - data_start;
        if (infos[i].offset > room || infos[i].n_bytes > room - infos[i].offset) {
            fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s': bytes [%llu, %llu) of the data section are past the end of "
                 "the file (the data section holds %llu bytes)", file, t->name, (unsigned long long)infos[i].offset,
                 (unsigned long long)(infos[i].offset + infos[i].n_bytes), (unsigned long long)room);
            goto fail;
        }
        if (i > 0 && infos[i].offset < infos[i - 1].offset + infos[i - 1].n_bytes) {
            fail(err, OWL_ERR_BAD_FILE, "%s: tensors '%s' and '%s' overlap", file,
                 table->tensors[infos[i - 1].index].name, t->name);
            goto fail;
        }
        t->data = infos[i].n_bytes ? data + data_start + infos[i].offset : NULL;
    }
    if (kv_finish(kv, err) != OWL_OK)
        goto fail;
    free(infos);
    return OWL_OK;

fail:
    free(key);
    free(infos);
    tensor_table_truncate(table, table_before);
    while (kv->n > 0) {
        kv->n--;
        free(kv->entries[kv->n].key);
        kv_value_free(&kv->entries[kv->n].value);
    }
    return err ? err->status : OWL_ERR_BAD_FILE;
}
