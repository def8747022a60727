/* gguf_writer.h — a small GGUF v3 writer for tests (static functions; include where needed).
 *
 * The layout comes from the library's writer (src/format/gguf_write.c, which owl synth uses and llama.cpp
 * loads); it is independent of the parser under test. Usage: gw_init, gw_kv_* for metadata, gw_tensor
 * for each tensor (ne innermost first, raw bytes), gw_finish to get the image. gw_put & co. write raw
 * bytes for corrupt files. Also a Q8_0 quantizer that matches ggml's quantize_row_q8_0_ref.
 */
#ifndef OWL_TEST_GGUF_WRITER_H
#define OWL_TEST_GGUF_WRITER_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

struct gw_buf {
    uint8_t *p;
    size_t n, cap;
};

static inline void gw_put(struct gw_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
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

/* A whole GGUF image in memory on top of the library's streaming writer (src/format/gguf_write.c): metadata
 * and tensor infos through it, the data buffered here. */
struct gw_file {
    struct gguf_writer meta;
    struct gw_buf data;
};

static inline void gw_init(struct gw_file *w) { memset(w, 0, sizeof *w), gguf_writer_init(&w->meta); }
static inline void gw_kv_u32(struct gw_file *w, const char *key, uint32_t v) { gguf_writer_u32(&w->meta, key, v); }
static inline void gw_kv_f32(struct gw_file *w, const char *key, float v) { gguf_writer_f32(&w->meta, key, v); }
static inline void gw_kv_str(struct gw_file *w, const char *key, const char *v) { gguf_writer_str(&w->meta, key, v); }
static inline void gw_kv_bool(struct gw_file *w, const char *key, int v) { gguf_writer_bool(&w->meta, key, v != 0); }
static inline void gw_kv_i32_array(struct gw_file *w, const char *key, const int32_t *v, uint64_t n)
{
    gguf_writer_i32_array(&w->meta, key, v, n);
}
static inline void gw_kv_str_array(struct gw_file *w, const char *key, const char *const *v, uint64_t n)
{
    gguf_writer_str_array(&w->meta, key, v, n);
}

/* A tensor of ggml type `type` with n_dims sizes ne (innermost first) and its raw bytes. */
static inline void gw_tensor(struct gw_file *w, const char *name, uint32_t type, int n_dims, const uint64_t *ne,
                             const void *bytes, size_t n_bytes)
{
    while (w->data.n % w->meta.alignment) {
        uint8_t z = 0;
        gw_put(&w->data, &z, 1);
    }
    gguf_writer_tensor(&w->meta, name, type, n_dims, ne, n_bytes);
    gw_put(&w->data, bytes, n_bytes);
}

/* The whole file: header, metadata, tensor infos, padding, data. Frees the writer's buffers. */
static inline uint8_t *gw_finish(struct gw_file *w, size_t *size)
{
    char *image = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&image, &n);
    struct owl_error err;
    if (!f || gguf_writer_header(&w->meta, f, "memory", &err) != OWL_OK ||
        (w->data.n && fwrite(w->data.p, 1, w->data.n, f) != w->data.n)) {
        fprintf(stderr, "gw_finish: cannot build the image\n");
        abort();
    }
    fclose(f);
    gguf_writer_free(&w->meta);
    free(w->data.p);
    *size = n;
    return (uint8_t *)image;
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

/* A deterministic random Qwen3-architecture model as an F32 GGUF with llama.cpp's names and keys, sized so
 * every matrix row is a whole number of 256-weight K-quant blocks (hidden 256, 4 heads of 64, 2 KV heads,
 * FFN 256, 1 layer, vocab 288) and llama.cpp's own quantizer can turn it into every block type. A
 * placeholder byte-level vocabulary lets llama.cpp load it. Returns the image; same seed, same bytes. */
static inline uint8_t *gw_synth_qwen3_f32(uint64_t seed, size_t *size)
{
    enum { H = 256, NH = 4, NKV = 2, HD = 64, FF = 256, NL = 1, V = 288 };
    struct gw_file w;
    gw_init(&w);
    gw_kv_str(&w, "general.architecture", "qwen3");
    gw_kv_u32(&w, "qwen3.block_count", NL);
    gw_kv_u32(&w, "qwen3.context_length", 512);
    gw_kv_u32(&w, "qwen3.embedding_length", H);
    gw_kv_u32(&w, "qwen3.feed_forward_length", FF);
    gw_kv_u32(&w, "qwen3.attention.head_count", NH);
    gw_kv_u32(&w, "qwen3.attention.head_count_kv", NKV);
    gw_kv_u32(&w, "qwen3.attention.key_length", HD);
    gw_kv_u32(&w, "qwen3.attention.value_length", HD);
    gw_kv_f32(&w, "qwen3.attention.layer_norm_rms_epsilon", 1e-6f);
    gw_kv_f32(&w, "qwen3.rope.freq_base", 10000.0f);
    gw_kv_str(&w, "tokenizer.ggml.model", "gpt2");
    gw_kv_str(&w, "tokenizer.ggml.pre", "qwen2");
    static char names[V][16];
    const char *toks[V];
    int32_t types[V];
    for (int i = 0; i < V; i++) { /* GPT-2 byte-level characters for 0..255, fillers after */
        int c = i;
        if (i < 256 && !((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255))) {
            int k = 0;
            for (int b = 0; b < i; b++)
                k += !((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255));
            c = 256 + k;
        }
        if (i < 256) /* UTF-8 of code point c */
            c < 0x80 ? snprintf(names[i], 16, "%c", c)
                     : snprintf(names[i], 16, "%c%c", 0xc0 | (c >> 6), 0x80 | (c & 0x3f));
        else
            snprintf(names[i], 16, "<t%d>", i);
        toks[i] = names[i];
        types[i] = 1;
    }
    gw_kv_str_array(&w, "tokenizer.ggml.tokens", toks, V);
    gw_kv_i32_array(&w, "tokenizer.ggml.token_type", types, V);
    const char *merges[1] = {"a b"};
    gw_kv_str_array(&w, "tokenizer.ggml.merges", merges, 1);
    gw_kv_u32(&w, "tokenizer.ggml.eos_token_id", 0);

    uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
    float *buf = malloc(sizeof(float) * H * (FF > V ? FF : V));
#define GW_FILL(n, lo, span)                                                                            \
    for (uint64_t i_ = 0; i_ < (uint64_t)(n); i_++) {                                                   \
        s = s * 6364136223846793005ull + 1442695040888963407ull;                                       \
        buf[i_] = (float)(lo) + (float)(span) * (float)((s >> 40) * (1.0 / 16777216.0));               \
    }
#define GW_T(name, n_dims, ne0, ne1, lo, span)                                                          \
    do {                                                                                                \
        uint64_t ne_[2] = {(ne0), (ne1)};                                                               \
        GW_FILL((ne0) * (ne1), lo, span);                                                               \
        gw_tensor(&w, name, 0, n_dims, ne_, buf, sizeof(float) * (ne0) * (ne1));                        \
    } while (0)
    GW_T("token_embd.weight", 2, H, V, -1.0, 2.0);
    char name[64];
    for (int l = 0; l < NL; l++) {
        static const char *const mats[][3] = {{"attn_q", "256", "256"}, {"attn_k", "256", "128"},
                                             {"attn_v", "256", "128"}, {"attn_output", "256", "256"},
                                             {"ffn_gate", "256", "256"}, {"ffn_up", "256", "256"},
                                             {"ffn_down", "256", "256"}};
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        GW_T(name, 1, H, 1, 0.5, 1.0);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        GW_T(name, 1, H, 1, 0.5, 1.0);
        snprintf(name, sizeof name, "blk.%d.attn_q_norm.weight", l);
        GW_T(name, 1, HD, 1, 0.5, 1.0);
        snprintf(name, sizeof name, "blk.%d.attn_k_norm.weight", l);
        GW_T(name, 1, HD, 1, 0.5, 1.0);
        for (int m = 0; m < 7; m++) {
            const uint64_t ne0 = (uint64_t)atoi(mats[m][1]), ne1 = (uint64_t)atoi(mats[m][2]);
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, mats[m][0]);
            GW_T(name, 2, ne0, ne1, -0.12, 0.24);
        }
    }
    GW_T("output_norm.weight", 1, H, 1, 0.5, 1.0);
    GW_T("output.weight", 2, H, V, -0.15, 0.3);
#undef GW_T
#undef GW_FILL
    free(buf);
    return gw_finish(&w, size);
}

#endif
