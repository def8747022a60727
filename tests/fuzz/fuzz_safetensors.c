/* fuzz_safetensors.c — libFuzzer target for safetensors_parse: arbitrary bytes as one safetensors image.
 *
 * Beyond not crashing, checks the parser's promises on what it accepts: every view lies inside the input
 * after the header, its byte size matches shape x dtype, names are findable; and that a second parse
 * into the same table fails (every name is now a duplicate) without changing the table.
 */
#include <string.h>

#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tensor_table table = {0};
    struct owl_error err;
    if (safetensors_parse(data, size, "fuzz.safetensors", &table, &err) == OWL_OK) {
        unsigned sum = 0;
        for (int i = 0; i < table.n; i++) {
            const struct tensor_view *t = &table.tensors[i];
            OWL_ASSERT(tensor_table_find(&table, t->name) == t);
            OWL_ASSERT(t->n_dim >= 0 && t->n_dim <= TENSOR_MAX_DIMS);
            OWL_ASSERT((size_t)tensor_n_elements(t) * dtype_size(t->dtype) == t->n_bytes);
            if (t->n_bytes) {
                const uint8_t *p = t->data;
                OWL_ASSERT(p >= data + 8 && t->n_bytes <= size && p <= data + size - t->n_bytes);
                sum += p[0] + p[t->n_bytes - 1];
            } else {
                OWL_ASSERT(t->data == NULL);
            }
            char shape[128];
            OWL_ASSERT(strlen(tensor_shape_str(t, shape, sizeof shape)) < sizeof shape);
        }
        (void)sum;
        int n = table.n;
        if (n > 0) {
            OWL_ASSERT(safetensors_parse(data, size, "again.safetensors", &table, &err) == OWL_ERR_BAD_FILE);
            OWL_ASSERT(table.n == n && tensor_table_find(&table, table.tensors[n - 1].name));
        }
    } else {
        OWL_ASSERT(table.n == 0 && err.message[0]);
    }
    tensor_table_free(&table);
    return 0;
}
