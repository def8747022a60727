/* test_quant.c — load-time quantization (owl_model_params.quant = "q8_0" or "q4_0"):
 * (1) owl's Q8_0 and Q4_0 quantizers write the same bytes as llama.cpp's: the F32 synthetic model that the GGUF
 *     fixtures came from, quantized row by row here, equals tests/fixtures/gguf/synth-qwen3-q8_0.gguf and the
 *     Q4_0 tensors of synth-qwen3-q4_0.gguf (made by llama-quantize) tensor for tensor;
 * (2) Qwen3 fixtures opened with either stay within a stated KL bound of transformers' reference and read
 *     fewer weight bytes per token (a MoE fixture less so: its routers are kept exact); an unknown quant
 *     type is refused with its name. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "base/file_map.h"
#include "format/gguf.h"
#include "gguf_writer.h"
#include "kernels/kernels.h"
#include "model_check.h"
#include "owl.h"
#include "test_util.h"

/* mean KL(reference || q8_0) per position, nats. MoE models get a looser bound: the routers stay exact, but
 * the quantized experts move the hidden states enough to flip near-tied routing decisions downstream. */
#define KL_BOUND 2e-3
#define KL_BOUND_MOE 0.1
/* Q4_0 (16 levels a block against Q8_0's 255) on these tiny random fixtures: 0.06-0.10 measured (about 100x
 * Q8_0's; random uniform weights are Q4_0's worst case); a misplaced nibble or scale gives order 1 */
#define KL_BOUND_Q4 0.2
#define KL_BOUND_Q4_MOE 0.3

/* owl's quantizer of `type` against the tensors llama-quantize wrote in `fixture` from the same F32 model. */
static void test_bytes_equal_llama_cpp(const char *fixture, enum dtype type, const char *type_name,
                                       void (*quantize)(void *, const float *, int))
{
    size_t size;
    uint8_t *f32 = gw_synth_qwen3_f32(7, &size);
    struct kv_table kv_f = {0}, kv_q = {0};
    struct tensor_table t_f = {0}, t_q = {0};
    struct owl_error err = {0};
    struct file_map map;
    CHECK_OK(gguf_parse(f32, size, "synth-f32", &kv_f, &t_f, &err), &err);
    CHECK_OK(file_map_open(&map, fixture_path(fixture), &err), &err);
    CHECK_OK(gguf_parse(map.data, map.size, fixture, &kv_q, &t_q, &err), &err);
    int n_quant = 0, n_same = 0;
    for (int i = 0; i < t_q.n; i++) {
        const struct tensor_view *q = &t_q.tensors[i], *f = tensor_table_find(&t_f, q->name);
        if (!f || q->dtype != type)
            continue;
        n_quant++;
        uint8_t *mine = malloc(q->n_bytes);
        const int64_t n = tensor_n_elements(f);
        quantize(mine, f->data, (int)n);
        n_same += memcmp(mine, q->data, q->n_bytes) == 0;
        free(mine);
    }
    printf("%s quantizer: %d of %d tensors byte-identical to llama-quantize's\n", type_name, n_same, n_quant);
    CHECK(n_quant >= 6 && n_same == n_quant);
    kv_table_free(&kv_f), kv_table_free(&kv_q), tensor_table_free(&t_f), tensor_table_free(&t_q);
    file_map_close(&map);
    free(f32);
}

struct reference {
    int32_t *tokens; /* prompt + greedy */
    int n_prompt, n_gen, n_vocab;
    float *logits;   /* (n_prompt + n_gen, n_vocab) from transformers */
};

static bool reference_load(struct reference *r, const char *name)
{
    char rel[512];
    snprintf(rel, sizeof rel, "%s/reference.json", name);
    json_t *j = json_load_file(fixture_path(rel), 0, NULL);
    CHECK(j != NULL);
    if (!j)
        return false;
    json_t *p = json_object_get(j, "prompt"), *g = json_object_get(j, "greedy");
    r->n_prompt = (int)json_array_size(p);
    r->n_gen = (int)json_array_size(g);
    r->n_vocab = (int)json_integer_value(json_object_get(j, "n_vocab"));
    r->tokens = calloc((size_t)(r->n_prompt + r->n_gen), sizeof *r->tokens);
    for (int i = 0; i < r->n_prompt + r->n_gen; i++)
        r->tokens[i] = (int32_t)json_integer_value(
            i < r->n_prompt ? json_array_get(p, (size_t)i) : json_array_get(g, (size_t)(i - r->n_prompt)));
    json_decref(j);
    snprintf(rel, sizeof rel, "%s/logits.f32", name);
    size_t size = 0;
    r->logits = read_file(fixture_path(rel), &size);
    CHECK(r->logits && size == (size_t)(r->n_prompt + r->n_gen) * r->n_vocab * sizeof(float));
    return r->logits != NULL;
}

static void test_fixture(const char *name, const char *type, double bound)
{
    struct reference r;
    if (!reference_load(&r, name))
        return;
    struct owl_model_params mp = owl_model_default_params();
    struct owl_model *plain = NULL, *quant = NULL;
    struct owl_error err = {0};
    char dir[512];
    snprintf(dir, sizeof dir, "%s", fixture_path(name));
    CHECK_OK(owl_model_open(dir, &mp, &plain, &err), &err);
    mp.quant = type;
    CHECK_OK(owl_model_open(dir, &mp, &quant, &err), &err);
    if (plain && quant) {
        struct owl_session *s = NULL;
        CHECK_OK(owl_session_init(quant, NULL, &s, &err), &err);
        const int n = r.n_prompt + r.n_gen, V = r.n_vocab;
        float *logits = calloc((size_t)n * V, sizeof(float));
        CHECK_OK(owl_session_eval(s, r.tokens, n, OWL_LOGITS_ALL, logits, &err), &err);
        const double kl = mean_kl(r.logits, logits, n, V);
        const double ratio = (double)owl_model_decode_bytes(plain) / (double)owl_model_decode_bytes(quant);
        printf("%-28s %s: mean KL vs transformers %.3g nats (bound %g); weight bytes per token / %.2f\n", name, type,
               kl, bound, ratio);
        CHECK_MSG(kl <= bound, "%s: KL %g", name, kl);
        CHECK(ratio > 1.5);
        owl_session_free(s);
        free(logits);
    }
    owl_model_close(plain);
    owl_model_close(quant);
    free(r.tokens);
    free(r.logits);
    mp.quant = "q4_7";
    CHECK(owl_model_open(dir, &mp, &quant, &err) == OWL_ERR_INVALID_ARG && strstr(err.message, "q4_7"));
}

int main(void)
{
    test_bytes_equal_llama_cpp("gguf/synth-qwen3-q8_0.gguf", DTYPE_Q8_0, "Q8_0", quantize_row_q8_0);
    test_bytes_equal_llama_cpp("gguf/synth-qwen3-q4_0.gguf", DTYPE_Q4_0, "Q4_0", quantize_row_q4_0);
    test_fixture("qwen3/gqa-tied", "q8_0", KL_BOUND);
    test_fixture("qwen3/yarn-v5", "q8_0", KL_BOUND);
    test_fixture("qwen3_moe/norm-mlp-only", "q8_0", KL_BOUND_MOE);
    test_fixture("qwen3/gqa-tied", "q4_0", KL_BOUND_Q4);
    test_fixture("qwen3/yarn-v5", "q4_0", KL_BOUND_Q4);
    test_fixture("qwen3_moe/norm-mlp-only", "q4_0", KL_BOUND_Q4_MOE);
    return test_done("test_quant");
}
