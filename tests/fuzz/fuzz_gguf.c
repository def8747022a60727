/* fuzz_gguf.c — libFuzzer target for gguf_parse (and the qwen3 name translation on what it accepts):
 * arbitrary bytes as one GGUF image. Beyond not crashing, checks what an accepted file promises: every
 * view lies inside the input with n_bytes matching its shape and block type. */
#include <string.h>

#include "format/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kv_table kv = {0};
    struct tensor_table table = {0};
    struct owl_error err;
    if (gguf_parse(data, size, "fuzz.gguf", &kv, &table, &err) == OWL_OK) {
        for (int i = 0; i < table.n; i++) {
            const struct tensor_view *t = &table.tensors[i];
            size_t n_bytes = 0;
            OWL_ASSERT(t->n_dim >= 1 && t->n_dim <= 4);
            OWL_ASSERT(dtype_bytes(t->dtype, (uint64_t)tensor_n_elements(t), &n_bytes) && n_bytes == t->n_bytes);
            if (t->n_bytes) {
                const uint8_t *p = t->data;
                OWL_ASSERT(p >= data && t->n_bytes <= size && p <= data + size - t->n_bytes);
            }
        }
        gguf_to_hf(&kv, &table, &err); /* may fail (e.g. not qwen3); must not crash */
    } else {
        OWL_ASSERT(kv.n == 0 && table.n == 0);
    }
    kv_table_free(&kv);
    tensor_table_free(&table);
    return 0;
}
