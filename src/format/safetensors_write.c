/* safetensors_write.c — the header of a safetensors file (see safetensors.h); the data is the caller's.
 * Mirrors huggingface/safetensors' serialize: metadata first, offsets consecutive, header padded with
 * spaces to 8 bytes so the data section is aligned. */
#include <jansson.h>
#include <string.h>

#include "format/safetensors.h"

uint8_t *safetensors_header_build(const struct safetensors_entry *t, int n, size_t *header_size, uint64_t *data_size)
{
    json_t *root = json_object();
    json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *shape = json_array();
        uint64_t count = 1;
        for (int d = 0; d < t[i].n_dim; d++) {
            json_array_append_new(shape, json_integer(t[i].shape[d]));
            count *= (uint64_t)t[i].shape[d];
        }
        const uint64_t bytes = count * dtype_size(t[i].dtype);
        json_object_set_new(root, t[i].name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype_name(t[i].dtype), "shape", shape,
                                      "data_offsets", (json_int_t)off, (json_int_t)(off + bytes)));
        off += bytes;
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    OWL_ASSERT(text);
    const size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    uint8_t *out = xrealloc(NULL, 8 + padded);
    const uint64_t n_header = padded;
    memcpy(out, &n_header, 8);
    memcpy(out + 8, text, len);
    memset(out + 8 + len, ' ', padded - len);
    free(text);
    *header_size = 8 + padded;
    *data_size = off;
    return out;
}
