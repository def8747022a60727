/* gguf_writer.h — a small GGUF v3 writer for tests (static functions; include where needed).
 *
 * Independent of the parser under test: writes the layout of ggml/docs/gguf.md directly. Usage:
 * gw_init, gw_kv_* for metadata, gw_tensor for each tensor (ne innermost first, raw bytes), gw_finish to
 * get the image. Also a Q8_0 quantizer that matches ggml's quantize_row_q8_0_ref.
 */
#ifndef OWL_TEST_GGUF_WRITER_H
#define OWL_TEST_GGUF_WRITER_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct gw_buf {
    uint8_t *p;
    size_t n, cap;
};

static inline void gw_put(struct gw_buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
static inline void gw_u32(struct gw_buf *b, uint32_t v) { gw_put(b, &v, 4); }
static inline void gw_u64(struct gw_buf *b, uint64_t v) { gw_put(b, &v, 8); }
static inline void gw_str(struct gw_buf *b, const char *s)
{
    gw_u64(b, strlen(s));
    gw_put(b, s, strlen(s));
}

struct gguf_writer {
    struct gw_buf kv, info, data;
    uint64_t n_kv, n_tensors;
    uint32_t alignment;
};

static inline void gw_init(struct gguf_writer *w) { memset(w, 0, sizeof *w), w->alignment = 32; }
static inline void gw_kv_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
    gw_str(&w->kv, key), gw_u32(&w->kv, 4), gw_u32(&w->kv, v), w->n_kv++;
}
static inline void gw_kv_f32(struct gguf_writer *w, const char *key, float v)
{
    gw_str(&w->kv, key), gw_u32(&w->kv, 6), gw_put(&w->kv, &v, 4), w->n_kv++;
}
static inline void gw_kv_str(struct gguf_writer *w, const char *key, const char *v)
{
    gw_str(&w->kv, key), gw_u32(&w->kv, 8), gw_str(&w->kv, v), w->n_kv++;
}
static inline void gw_kv_bool(struct gguf_writer *w, const char *key, int v)
{
    uint8_t b = (uint8_t)(v != 0);
    gw_str(&w->kv, key), gw_u32(&w->kv, 7), gw_put(&w->kv, &b, 1), w->n_kv++;
}
/* An array of n int32 values. */
static inline void gw_kv_i32_array(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    gw_str(&w->kv, key), gw_u32(&w->kv, 9), gw_u32(&w->kv, 5), gw_u64(&w->kv, n);
    gw_put(&w->kv, v, n * 4);
    w->n_kv++;
}
static inline void gw_kv_str_array(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    gw_str(&w->kv, key), gw_u32(&w->kv, 9), gw_u32(&w->kv, 8), gw_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++)
        gw_str(&w->kv, v[i]);
    w->n_kv++;
}

/* A tensor of ggml type `type` with n_dims sizes ne (innermost first) and its raw bytes. */
static inline void gw_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims, const uint64_t *ne,
                             const void *bytes, size_t n_bytes)
{
    while (w->data.n % w->alignment) {
        uint8_t z = 0;
        gw_put(&w->data, &z, 1);
    }
    gw_str(&w->info, name);
    gw_u32(&w->info, (uint32_t)n_dims);
    for (int d = 0; d < n_dims; d++)
        gw_u64(&w->info, ne[d]);
    gw_u32(&w->info, type);
    gw_u64(&w->info, w->data.n);
    gw_put(&w->data, bytes, n_bytes);
    w->n_tensors++;
}

/* The whole file: header, metadata, tensor infos, padding, data. Frees the writer's buffers. */
static inline uint8_t *gw_finish(struct gguf_writer *w, size_t *size)
{
    struct gw_buf out = {0};
    gw_put(&out, "GGUF", 4);
    gw_u32(&out, 3);
    gw_u64(&out, w->n_tensors);
    gw_u64(&out, w->n_kv);
    gw_put(&out, w->kv.p, w->kv.n);
    gw_put(&out, w->info.p, w->info.n);
    while (out.n % w->alignment) {
        uint8_t z = 0;
        gw_put(&out, &z, 1);
    }
    gw_put(&out, w->data.p, w->data.n);
    free(w->kv.p), free(w->info.p), free(w->data.p);
    *size = out.n;
    return out.p;
}

/* ggml quantize_row_q8_0_ref: per 32 values d = max|x| / 127 (stored as f16), q = round(x / d). */
__attribute__((target("f16c"))) static inline void gw_quantize_q8_0(const float *x, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i += 32, out += 34) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[i + j]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        uint16_t dh = _cvtss_sh(d, 0);
        memcpy(out, &dh, 2);
        for (int j = 0; j < 32; j++)
            out[2 + j] = (uint8_t)(int8_t)roundf(x[i + j] * id);
    }
}

#endif
