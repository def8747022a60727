/* test_gguf_quants.c — GGUF files quantized by llama.cpp itself, read by owl.
 *
 * tests/fixtures/gguf/synth-qwen3-<type>.gguf were made by llama.cpp's llama-quantize (--pure) from the
 * F32 model gw_synth_qwen3_f32(7) writes (tests/gguf_writer.h); the hashes below are of llama.cpp's own
 * dequantization of each file (llama-quantize --allow-requantize ... F32). Checks: (1) the writer still
 * produces the model the fixtures came from; (2) owl's dequantization of every tensor of every type is
 * bit-identical to llama.cpp's; (3) the quantized models' logits stay within a per-type mean KL bound of
 * the F32 model's. */
#include <math.h>
#include <stdlib.h>

#include "backend/ops.h"
#include "base/file_map.h"
#include "format/gguf.h"
#include "gguf_writer.h"
#include "model_check.h"
#include "owl.h"
#include "test_util.h"

static const struct {
    const char *type;
    const char *llama_dequant_hash; /* FNV-1a over (name, f32 bytes) of each tensor, names sorted */
    double kl_bound;                /* mean KL(F32 || quantized) per position, nats */
} cases[] = {
    {"q4_0", "735357def7422973", 5e-2}, {"q4_1", "d772d37d3f06c4b5", 4e-2}, {"q5_0", "74d6c100d69071ae", 1e-2},
    {"q5_1", "23f9a709683d5a1e", 1e-2}, {"q8_0", "dfa3088d847b8153", 1e-3}, {"q4_k", "64bf2404aa8a008c", 4e-2},
    {"q5_k", "37e66cfc5889efa1", 1e-2}, {"q6_k", "924f4112b3d27506", 3e-3},
};
static const char *const f32_hash = "d2563936a0eb15ac";

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const struct tensor_view *const *)a)->name, (*(const struct tensor_view *const *)b)->name);
}

/* The hash of a GGUF image's tensors as fp32 (block types dequantized by owl). */
static void tensors_hash(const uint8_t *data, size_t size, char out[17])
{
    struct kv_table kv = {0};
    struct tensor_table t = {0};
    struct owl_error err = {0};
    out[0] = 0;
    CHECK_OK(gguf_parse(data, size, "fixture", &kv, &t, &err), &err);
    const struct tensor_view **v = malloc(sizeof *v * (size_t)(t.n + 1));
    for (int i = 0; i < t.n; i++)
        v[i] = &t.tensors[i];
    qsort(v, (size_t)t.n, sizeof *v, by_name);
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < t.n; i++) {
        const size_t n = (size_t)tensor_n_elements(v[i]);
        float *f = malloc(n * sizeof(float));
        weight_to_f32(f, v[i]->data, v[i]->dtype, n);
        for (const char *c = v[i]->name; *c; c++)
            h = (h ^ (uint8_t)*c) * 1099511628211ull;
        const uint8_t *p = (const uint8_t *)f;
        for (size_t j = 0; j < n * sizeof(float); j++)
            h = (h ^ p[j]) * 1099511628211ull;
        free(f);
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    free(v);
    kv_table_free(&kv);
    tensor_table_free(&t);
}

int main(void)
{
    size_t size;
    uint8_t *f32 = gw_synth_qwen3_f32(7, &size);
    char h[17];
    tensors_hash(f32, size, h);
    CHECK_MSG(strcmp(h, f32_hash) == 0, "the synthetic F32 model changed (hash %s, fixtures were made from %s)", h,
              f32_hash);
    char f32_path[1100];
    snprintf(f32_path, sizeof f32_path, "%s/synth-f32.gguf", test_tmpdir());
    CHECK(write_file(f32_path, f32, size) == 0);
    free(f32);

    int32_t tokens[16];
    for (int i = 0; i < 16; i++)
        tokens[i] = (i * 53 + 11) % 288;
    int V = 0, Vq = 0;
    float *ref = model_logits(f32_path, NULL, tokens, 16, &V);
    for (size_t c = 0; c < sizeof cases / sizeof *cases && ref; c++) {
        char rel[128];
        snprintf(rel, sizeof rel, "gguf/synth-qwen3-%s.gguf", cases[c].type);
        struct file_map map;
        struct owl_error err = {0};
        CHECK_OK(file_map_open(&map, fixture_path(rel), &err), &err);
        if (!map.data)
            continue;
        tensors_hash(map.data, map.size, h);
        file_map_close(&map);
        CHECK_MSG(strcmp(h, cases[c].llama_dequant_hash) == 0, "%s: owl's dequantization differs from llama.cpp's",
                  cases[c].type);
        float *q = model_logits(fixture_path(rel), NULL, tokens, 16, &Vq);
        if (!q || Vq != V) {
            CHECK(0);
            free(q);
            continue;
        }
        const double kl = mean_kl(ref, q, 16, V);
        printf("%-5s dequantization %s llama.cpp's; mean KL vs F32 %.3g nats (bound %g)\n", cases[c].type,
               strcmp(h, cases[c].llama_dequant_hash) == 0 ? "equals" : "DIFFERS FROM", kl, cases[c].kl_bound);
        CHECK_MSG(kl <= cases[c].kl_bound, "%s: KL %g > %g", cases[c].type, kl, cases[c].kl_bound);
        free(q);
    }
    free(ref);
    return test_done("test_gguf_quants");
}
