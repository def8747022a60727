/* test_dtypes.c — the same Qwen3 fixture stored as F32 and as F16 instead of BF16 loads and runs:
 * F32 holds the bf16 values exactly, so its logits equal the bf16 model's bit for bit (same kernels,
 * same order); F16 holds them exactly where they are in f16's normal range, so its logits stay within
 * the engine tolerance of transformers' reference. The files are written here from the bf16 fixture. */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "format/safetensors.h"
#include "kernels/kernels.h"
#include "model_check.h"
#include "owl.h"
#include "test_util.h"

__attribute__((target("f16c"))) static uint16_t to_f16(float f) { return _cvtss_sh(f, 0); }

/* Rewrite dir/model.safetensors with every BF16 tensor converted to dtype ("F32" or "F16") into out_dir. */
static bool convert(const char *dir, const char *out_dir, const char *dtype)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t size;
    uint8_t *src = read_file(path, &size);
    struct tensor_table table = {0};
    struct owl_error err = {0};
    if (!src || safetensors_parse(src, size, path, &table, &err) != OWL_OK) {
        fprintf(stderr, "%s: %s\n", path, err.message);
        free(src);
        return false;
    }
    const size_t esz = strcmp(dtype, "F32") == 0 ? 4 : 2;
    size_t cap = 1 << 16, len = 0, offset = 0;
    char *header = malloc(cap);
    len += (size_t)snprintf(header, cap, "{");
    for (int i = 0; i < table.n; i++) {
        const struct tensor_view *t = &table.tensors[i];
        size_t bytes = (size_t)tensor_n_elements(t) * esz;
        len += (size_t)snprintf(header + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                                t->name, dtype);
        for (int d = 0; d < t->n_dim; d++)
            len += (size_t)snprintf(header + len, cap - len, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        len += (size_t)snprintf(header + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", offset, offset + bytes);
        offset += bytes;
    }
    len += (size_t)snprintf(header + len, cap - len, "}");
    while (len % 8)
        header[len++] = ' ';
    size_t out_size = 8 + len + offset;
    uint8_t *out = malloc(out_size), *data = out + 8 + len;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)((uint64_t)len >> (8 * i));
    memcpy(out + 8, header, len);
    for (int i = 0; i < table.n; i++) {
        const struct tensor_view *t = &table.tensors[i];
        OWL_ASSERT(t->dtype == DTYPE_BF16);
        const uint16_t *h = t->data;
        for (int64_t j = 0; j < tensor_n_elements(t); j++) {
            float v = bf16_to_f32(h[j]);
            if (esz == 4) {
                memcpy(data, &v, 4);
            } else {
                uint16_t f = to_f16(v);
                memcpy(data, &f, 2);
            }
            data += esz;
        }
    }
    mkdir(out_dir, 0700);
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    bool ok = write_file(path, out, out_size) == 0;
    char cfg_in[1200], cfg_out[1200];
    snprintf(cfg_in, sizeof cfg_in, "%s/config.json", dir);
    snprintf(cfg_out, sizeof cfg_out, "%s/config.json", out_dir);
    size_t cfg_size;
    char *cfg = read_file(cfg_in, &cfg_size);
    ok = ok && cfg && write_file(cfg_out, cfg, cfg_size) == 0;
    free(cfg);
    free(out);
    free(header);
    tensor_table_free(&table);
    free(src);
    return ok;
}

int main(void)
{
    if (!__builtin_cpu_supports("f16c")) {
        printf("no F16C: cannot write the f16 copy here\n");
        return test_done("test_dtypes");
    }
    const char *dir = fixture_path("qwen3/gqa-tied");
    char base[1024], f32_dir[1100], f16_dir[1100];
    snprintf(base, sizeof base, "%s", dir);
    snprintf(f32_dir, sizeof f32_dir, "%s/f32", test_tmpdir());
    snprintf(f16_dir, sizeof f16_dir, "%s/f16", test_tmpdir());
    CHECK(convert(base, f32_dir, "F32"));
    CHECK(convert(base, f16_dir, "F16"));

    size_t ref_size;
    float *ref = read_file(fixture_path("qwen3/gqa-tied/logits.f32"), &ref_size);
    /* the fixture's prompt + greedy continuation (reference.json), so rows line up with logits.f32 */
    const int n = 32;
    int32_t tokens[32] = {113, 434, 44, 365, 446, 396, 293, 117, 68, 424, 116, 94, 90, 242, 181, 505,
                          370, 161, 480, 214, 143, 266, 83, 357, 308, 308, 308, 308, 308, 308, 308, 308};
    int V = 0, V32 = 0, V16 = 0;
    float *l_bf16 = model_logits(base, NULL, tokens, n, &V), *l_f32 = model_logits(f32_dir, NULL, tokens, n, &V32),
          *l_f16 = model_logits(f16_dir, NULL, tokens, n, &V16);
    CHECK(l_bf16 && l_f32 && l_f16 && V == V32 && V == V16);
    CHECK(ref && ref_size == (size_t)n * V * sizeof(float));
    if (l_bf16 && l_f32 && l_f16 && ref && ref_size == (size_t)n * V * sizeof(float)) {
        double max_ref = 0, d32 = 0, d16 = 0, d_ref = 0;
        for (size_t i = 0; i < (size_t)n * V; i++) {
            max_ref = fmax(max_ref, fabs(ref[i]));
            d32 = fmax(d32, fabs(l_f32[i] - l_bf16[i]));
            d16 = fmax(d16, fabs(l_f16[i] - ref[i]));
            d_ref = fmax(d_ref, fabs(l_bf16[i] - ref[i]));
        }
        printf("bf16 vs reference %.3g; f32 vs bf16 %.3g; f16 vs reference %.3g (tolerance %.3g)\n", d_ref, d32, d16,
               1e-3 * max_ref);
        CHECK_MSG(d32 <= 1e-6 * max_ref, "F32 copy differs from BF16 by %g", d32);
        CHECK_MSG(d16 <= 1e-3 * max_ref, "F16 copy differs from the reference by %g", d16);
    }
    free(l_bf16);
    free(l_f32);
    free(l_f16);
    free(ref);
    return test_done("test_dtypes");
}
