/* fuzz_config.c — libFuzzer target for kv_from_json (config.json) and the typed getters over its keys.
 *
 * Checks that what is accepted is sorted and findable, and that every getter on every key either
 * succeeds or returns OWL_ERR_BAD_CONFIG with a message — never anything else.
 */
#include <string.h>

#include "format/kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void get_all(const struct kv_table *kv, const char *key)
{
    struct owl_error err;
    int64_t i;
    double f;
    bool b;
    const char *s;
    int dim;
    enum owl_status st[] = {
        kv_get_int(kv, key, &i, &err),         kv_get_int_opt(kv, key, &i, &err),
        kv_get_float(kv, key, &f, &err),       kv_get_float_opt(kv, key, &f, &err),
        kv_get_bool_opt(kv, key, &b, &err),    kv_get_str_opt(kv, key, &s, &err),
        kv_get_dim(kv, key, 1, 1 << 20, &dim, &err),
    };
    for (size_t k = 0; k < sizeof st / sizeof st[0]; k++)
        OWL_ASSERT(st[k] == OWL_OK || st[k] == OWL_ERR_BAD_CONFIG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kv_table kv;
    struct owl_error err;
    if (kv_from_json(&kv, (const char *)data, size, "fuzz.json", &err) == OWL_OK) {
        for (int e = 0; e < kv.n; e++) {
            OWL_ASSERT(kv_find(&kv, kv.entries[e].key) == &kv.entries[e].value);
            OWL_ASSERT(e == 0 || strcmp(kv.entries[e - 1].key, kv.entries[e].key) < 0);
            get_all(&kv, kv.entries[e].key);
        }
        static const char *keys[] = {"hidden_size", "rope_theta", "rope_scaling.factor",
                                     "rope_parameters.rope_theta", "model_type", "tie_word_embeddings"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            get_all(&kv, keys[k]);
    } else {
        OWL_ASSERT(kv.n == 0 && err.status == OWL_ERR_BAD_FILE && err.message[0]);
    }
    kv_table_free(&kv);
    return 0;
}
