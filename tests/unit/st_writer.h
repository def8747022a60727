/* st_writer.h — a tiny safetensors writer for tests (static functions, included by the tests that need it).
 *
 * Independent of the parser under test: its own dtype sizes and JSON text, laid out like
 * huggingface/safetensors serialize(): u64 LE header length, header padded with spaces to a multiple
 * of 8, tensors back to back in the given order. Data byte j of the section is st_byte(j).
 */
#ifndef OWL_TEST_ST_WRITER_H
#define OWL_TEST_ST_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct st_spec {
    const char *name;
    const char *dtype;   /* safetensors spelling */
    int n_dim;
    int64_t shape[9];
};

static inline uint8_t st_byte(size_t j) { return (uint8_t)(j * 7 + 1); }

static inline size_t st_dtype_bytes(const char *dtype)
{
    static const struct { const char *name; size_t size; } sizes[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
        {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(sizes[i].name, dtype) == 0)
            return sizes[i].size;
    return 1;
}

/* Image = u64 length + header text (as given, then padded with spaces to pad) + n_data pattern bytes. */
static inline uint8_t *st_raw(const char *header, size_t pad, size_t n_data, size_t *size)
{
    size_t n = strlen(header);
    size_t n_header = pad ? (n + pad - 1) / pad * pad : n;
    *size = 8 + n_header + n_data;
    uint8_t *img = malloc(*size + 1);
    for (int i = 0; i < 8; i++)
        img[i] = (uint8_t)((uint64_t)n_header >> (8 * i));
    memcpy(img + 8, header, n);
    memset(img + 8 + n, ' ', n_header - n);
    for (size_t j = 0; j < n_data; j++)
        img[8 + n_header + j] = st_byte(j);
    return img;
}

/* A valid image holding specs in order, with a __metadata__ entry. Caller frees. */
static inline uint8_t *st_build(const struct st_spec *specs, int n, size_t *size)
{
    size_t cap = 256 + (size_t)n * 256, len = 0, offset = 0;
    char *h = malloc(cap);
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        size_t bytes = st_dtype_bytes(specs[i].dtype);
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", specs[i].name,
                                specs[i].dtype);
        for (int d = 0; d < specs[i].n_dim; d++) {
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)specs[i].shape[d]);
            bytes *= (size_t)specs[i].shape[d];
        }
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", offset, offset + bytes);
        offset += bytes;
    }
    snprintf(h + len, cap - len, "}");
    uint8_t *img = st_raw(h, 8, offset, size);
    free(h);
    return img;
}

#endif
