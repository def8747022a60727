/* test_synth.c — `owl synth`: checkpoints written from the fixtures' configs (small shapes, every family) load
 * in owl, and the safetensors and GGUF written with one seed give bitwise the same logits (Qwen3 and
 * Qwen3-MoE in BF16; gpt-oss with MXFP4 experts, which the GGUF splits and repacks); a Q8_0 GGUF runs;
 * DeepSeek-V3 is written with FP8 blocks, its GGUF in BF16 (kv_b_proj split as llama.cpp's converter
 * does) gives the same logits within 1e-5 of their scale; the tokenizer written into a GGUF
 * tokenizes like its tokenizer.json; bad flags exit 2 and an existing output is kept without --force.
 * `test_synth --slow` (CTest label slow) writes qwen3-0.6b and gpt-oss-20b with one layer each, full width. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static bool same_files(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = read_file(a, &na), *y = read_file(b, &nb);
    const bool same = x && y && na == nb && na > 0 && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Write config `like` in both formats, then compare the logits of a few tokens. */
static void both_formats(const char *like, const char *tag, const char *extra, bool expect_same)
{
    const char *tmp = test_tmpdir();
    char args[4096], a[1100], b[1100];
    snprintf(args, sizeof args, "synth --like '%s' --out '%s/%s' --tokenizer none --seed 7 %s", like, tmp, tag,
             extra);
    owl_check(args, 0, tag, NULL);
    snprintf(args, sizeof args, "synth --like '%s' --out '%s/%s.gguf' --format gguf --tokenizer none --seed 7 %s", like,
             tmp, tag, extra);
    owl_check(args, 0, ".gguf", NULL);
    snprintf(a, sizeof a, "%s/%s.st.f32", tmp, tag);
    snprintf(b, sizeof b, "%s/%s.gguf.f32", tmp, tag);
    snprintf(args, sizeof args, "logits '%s/%s' --tokens 1,5,9,2,7 --out '%s'", tmp, tag, a);
    owl_check(args, 0, NULL, NULL);
    snprintf(args, sizeof args, "logits '%s/%s.gguf' --tokens 1,5,9,2,7 --out '%s'", tmp, tag, b);
    owl_check(args, 0, NULL, NULL);
    if (expect_same)
        CHECK_MSG(same_files(a, b), "%s: GGUF and safetensors logits differ", tag);
}

static void slow(void)
{
    both_formats("qwen3-0.6b", "q06", "--layers 1", true);
    both_formats("gpt-oss-20b", "oss20b", "--layers 1", true);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--slow")) {
        slow();
        return test_done("test_synth --slow");
    }
    both_formats(fixture_path("qwen3/gqa-tied/config.json"), "qwen3", "", true);
    both_formats(fixture_path("qwen3_moe/norm-mlp-only/config.json"), "moe", "--layers 3", true);
    both_formats(fixture_path("gpt_oss/mxfp4-released/config.json"), "oss", "", true);

    char args[4096];
    const char *tmp = test_tmpdir();
    /* Q8_0 GGUF: runs (its numbers are the quantization tests' business) */
    snprintf(args, sizeof args, "synth --like '%s' --out '%s/q8.gguf' --format gguf --type q8_0 --tokenizer none",
             fixture_path("qwen3/gqa-tied/config.json"), tmp);
    owl_check(args, 0, NULL, NULL);
    snprintf(args, sizeof args, "run '%s/q8.gguf' --tokens 1,2,3 -n 2 --print-ids", tmp);
    owl_check(args, 0, ",", NULL);

    /* DeepSeek: FP8 blocks in safetensors, loaded and run */
    snprintf(args, sizeof args, "synth --like '%s' --out '%s/ds-fp8' --tokenizer none",
             fixture_path("deepseek_v3/fp8-sharded/config.json"), tmp);
    owl_check(args, 0, NULL, NULL);
    snprintf(args, sizeof args, "inspect '%s/ds-fp8'", tmp);
    owl_check(args, 0, "F8_E4M3", NULL);
    snprintf(args, sizeof args, "run '%s/ds-fp8' --tokens 1,2,3 -n 2 --print-ids", tmp);
    owl_check(args, 0, ",", NULL);
    /* its GGUF (BF16: the FP8 scales are powers of two, so exact) differs only by the split
     * attn_k_b/attn_v_b's order of operations. (A config whose rope_scaling.mscale differs from
     * mscale_all_dim, as the fp8-sharded fixture's, has no GGUF spelling: llama.cpp keeps only the latter.) */
    both_formats(fixture_path("synth/deepseek_v3.json"), "ds", "", false);
    {
        char a[1100], b[1100];
        snprintf(a, sizeof a, "%s/ds.st.f32", tmp);
        snprintf(b, sizeof b, "%s/ds.gguf.f32", tmp);
        size_t na = 0, nb = 0;
        float *x = read_file(a, &na), *y = read_file(b, &nb);
        double maxd = 0, maxa = 0;
        for (size_t i = 0; x && y && na == nb && i < na / 4; i++) {
            maxd = fmax(maxd, fabs((double)x[i] - y[i]));
            maxa = fmax(maxa, fabs((double)x[i]));
        }
        CHECK_MSG(x && y && na == nb && na > 0 && maxd <= 1e-5 * maxa, "DeepSeek GGUF logits off by %g (scale %g)",
                  maxd, maxa);
        free(x);
        free(y);
    }

    /* refusals */
    snprintf(args, sizeof args, "synth --like '%s' --out '%s/qwen3' --tokenizer none",
             fixture_path("qwen3/gqa-tied/config.json"), tmp);
    owl_check(args, 1, NULL, "--force");
    owl_check("synth --like qwen3-0.6b --out /tmp/x --format onnx", 2, NULL, "--format");
    owl_check("synth --like qwen3-0.6b", 2, NULL, "--out");
    owl_check("synth --like qwen3-0.6b --config c.json --out x", 2, NULL, "one of --like or --config");
    owl_check("synth --like qwen3-0.6b --out x --type q8_0", 2, NULL, "--type q8_0 is for --format gguf");
    owl_check("synth --like qwen3-0.6b --out x --layers 0", 2, NULL, "--layers");
    snprintf(args, sizeof args, "synth --like no-such-model --out '%s/none'", tmp);
    owl_check(args, 1, NULL, "no-such-model");

    /* the tokenizer: the real Qwen3 one, written into a GGUF (tokenizer.ggml.*) and copied beside the
     * safetensors, tokenizes a text the same way */
    const char *tok = testdata_path("tokenizers/qwen3");
    if (!tok) {
        printf("SKIP tokenizer part: no test data (scripts/fetch-testdata.sh)\n");
        return test_done("test_synth");
    }
    /* a small model with the release's vocabulary */
    char cfg[1100];
    snprintf(cfg, sizeof cfg, "%s/vocab-config.json", tmp);
    const char *json = "{\"model_type\": \"qwen3\", \"hidden_size\": 32, \"intermediate_size\": 64, "
                       "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
                       "\"head_dim\": 16, \"vocab_size\": 151936, \"max_position_embeddings\": 4096, "
                       "\"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000, \"tie_word_embeddings\": true, "
                       "\"bos_token_id\": 151643, \"eos_token_id\": 151645}";
    CHECK(write_file(cfg, json, strlen(json)) == 0);
    snprintf(args, sizeof args, "synth --like '%s' --out '%s/tok' --tokenizer '%s'", cfg, tmp, tok);
    owl_check(args, 0, NULL, NULL);
    snprintf(args, sizeof args, "synth --like '%s' --out '%s/tok.gguf' --format gguf --tokenizer '%s'", cfg, tmp, tok);
    owl_check(args, 0, NULL, NULL);
    const char *text = "'Hello, world! <|im_start|>user\nnaïve 123 “quotes”<|im_end|>'";
    char *o1 = NULL, *o2 = NULL;
    snprintf(args, sizeof args, "tokenize '%s/tok' --text %s", tmp, text);
    CHECK(owl_cli(args, &o1, NULL) == 0);
    snprintf(args, sizeof args, "tokenize '%s/tok.gguf' --text %s", tmp, text);
    CHECK(owl_cli(args, &o2, NULL) == 0);
    CHECK_MSG(o1 && o2 && strlen(o1) > 10 && !strcmp(o1, o2), "tokenize: %s vs %s", o1 ? o1 : "", o2 ? o2 : "");
    free(o1);
    free(o2);
    return test_done("test_synth");
}
