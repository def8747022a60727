/* test_load.c — owl_model_params.load: the weights mapped ("mmap") or read into memory ("copy"; "auto" when
 * they fit) give bitwise the same logits on a sharded safetensors fixture and a GGUF; the mode in use is
 * reported; auto maps when quant is set (the matrices are requantized anyway); an unknown mode is refused
 * naming it. */
#include <stdlib.h>
#include <string.h>

#include "model_check.h"
#include "owl.h"
#include "test_util.h"

static int in_memory(const char *path, const char *load, const char *quant)
{
    struct owl_model_params mp = owl_model_default_params();
    mp.load = load;
    mp.quant = quant;
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(path, &mp, &m, &err), &err);
    const int r = m ? owl_model_weights_in_memory(m) : -1;
    owl_model_close(m);
    return r;
}

static void check(const char *path)
{
    int32_t tokens[12];
    for (int i = 0; i < 12; i++)
        tokens[i] = (i * 41 + 3) % 250;
    struct owl_model_params mapped = owl_model_default_params(), copied = mapped;
    mapped.load = "mmap";
    copied.load = "copy";
    int V = 0, V2 = 0;
    float *a = model_logits(path, &mapped, tokens, 12, &V);
    float *b = model_logits(path, &copied, tokens, 12, &V2);
    CHECK(a && b && V == V2);
    if (a && b && V == V2)
        CHECK_MSG(memcmp(a, b, sizeof(float) * 12 * (size_t)V) == 0, "%s: logits differ between mmap and copy", path);
    free(a), free(b);
    CHECK(in_memory(path, "mmap", NULL) == 0);
    CHECK(in_memory(path, "copy", NULL) == 1);
    CHECK(in_memory(path, NULL, NULL) == 1); /* a fixture of kilobytes fits */
    CHECK(in_memory(path, "auto", "q8_0") == 0);
}

int main(void)
{
    check(fixture_path("qwen3/mqa-untied-sharded"));
    check(fixture_path("gguf/converter/gpt-oss-mxfp4-bf16.gguf"));
    struct owl_model_params bad = owl_model_default_params();
    bad.load = "mlock";
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK(owl_model_open(fixture_path("qwen3/gqa-tied"), &bad, &m, &err) == OWL_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "mlock") != NULL);
    return test_done("test_load");
}
