/* gguf_write.c — a streaming GGUF v3 writer (see gguf.h): metadata and tensor infos in memory, tensor
 * data written by the caller in order. Mirrors gguf-py's GGUFWriter (header, kv data, tensor infos,
 * padding, data with every tensor aligned) so the files load in llama.cpp. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

enum { GGUF_T_UINT32 = 4, GGUF_T_INT32 = 5, GGUF_T_FLOAT32 = 6, GGUF_T_BOOL = 7, GGUF_T_STRING = 8, GGUF_T_ARRAY = 9 };

static void put(uint8_t **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    if (*len + n > *cap) {
        *cap = (*len + n) * 2 + 4096;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, data, n);
    *len += n;
}
#define KV(w, p, n) put(&(w)->kv, &(w)->kv_len, &(w)->kv_cap, p, n)
#define INFO(w, p, n) put(&(w)->info, &(w)->info_len, &(w)->info_cap, p, n)

static void kv_u32(struct gguf_writer *w, uint32_t v) { KV(w, &v, 4); }
static void kv_u64(struct gguf_writer *w, uint64_t v) { KV(w, &v, 8); }
static void kv_string(struct gguf_writer *w, const char *s)
{
    kv_u64(w, strlen(s));
    KV(w, s, strlen(s));
}
static void kv_key(struct gguf_writer *w, const char *key, uint32_t type)
{
    kv_string(w, key);
    kv_u32(w, type);
    w->n_kv++;
}

void gguf_writer_init(struct gguf_writer *w)
{
    memset(w, 0, sizeof *w);
    w->alignment = 32;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    free(w->kv);
    free(w->info);
    memset(w, 0, sizeof *w);
}

void gguf_writer_u32(struct gguf_writer *w, const char *key, uint32_t v) { kv_key(w, key, GGUF_T_UINT32), kv_u32(w, v); }
void gguf_writer_f32(struct gguf_writer *w, const char *key, float v) { kv_key(w, key, GGUF_T_FLOAT32), KV(w, &v, 4); }
void gguf_writer_bool(struct gguf_writer *w, const char *key, bool v)
{
    const uint8_t b = v;
    kv_key(w, key, GGUF_T_BOOL), KV(w, &b, 1);
}
void gguf_writer_str(struct gguf_writer *w, const char *key, const char *v) { kv_key(w, key, GGUF_T_STRING), kv_string(w, v); }

void gguf_writer_str_array(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    kv_key(w, key, GGUF_T_ARRAY), kv_u32(w, GGUF_T_STRING), kv_u64(w, n);
    for (uint64_t i = 0; i < n; i++)
        kv_string(w, v[i]);
}

void gguf_writer_i32_array(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    kv_key(w, key, GGUF_T_ARRAY), kv_u32(w, GGUF_T_INT32), kv_u64(w, n);
    KV(w, v, n * 4);
}

static uint64_t align_up(uint64_t x, uint32_t a) { return (x + a - 1) / a * a; }

void gguf_writer_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims, const uint64_t *ne,
                        uint64_t n_bytes)
{
    OWL_ASSERT(n_dims >= 1 && n_dims <= 4);
    const uint64_t len = strlen(name), offset = align_up(w->data_size, w->alignment);
    const uint32_t nd = (uint32_t)n_dims;
    INFO(w, &len, 8);
    INFO(w, name, len);
    INFO(w, &nd, 4);
    INFO(w, ne, 8 * (size_t)n_dims);
    INFO(w, &type, 4);
    INFO(w, &offset, 8);
    w->data_size = offset + n_bytes;
    w->n_tensors++;
}

static enum owl_status write_all(FILE *f, const void *p, size_t n, const char *path, struct owl_error *err)
{
    if (n && fwrite(p, 1, n, f) != n)
        return fail(err, OWL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return OWL_OK;
}

static const uint8_t zeros[64];

enum owl_status gguf_writer_header(struct gguf_writer *w, FILE *f, const char *path, struct owl_error *err)
{
    const uint32_t version = 3;
    enum owl_status st;
    if ((st = write_all(f, "GGUF", 4, path, err)) || (st = write_all(f, &version, 4, path, err)) ||
        (st = write_all(f, &w->n_tensors, 8, path, err)) || (st = write_all(f, &w->n_kv, 8, path, err)) ||
        (st = write_all(f, w->kv, w->kv_len, path, err)) || (st = write_all(f, w->info, w->info_len, path, err)))
        return st;
    const uint64_t head = 24 + w->kv_len + w->info_len;
    return write_all(f, zeros, align_up(head, w->alignment) - head, path, err);
}

enum owl_status gguf_writer_pad_to_next(struct gguf_writer *w, FILE *f, const char *path, struct owl_error *err)
{
    const uint64_t pad = align_up(w->data_written, w->alignment) - w->data_written;
    w->data_written += pad;
    return write_all(f, zeros, pad, path, err);
}
