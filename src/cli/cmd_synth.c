/* cmd_synth.c — `owl synth`: write a random-weight checkpoint with a released model's real shapes
 * (owl_synth), for speed and memory measurements without downloading weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "owl.h"

#ifndef OWL_SOURCE_DIR
#define OWL_SOURCE_DIR "."
#endif

static const char help[] =
    "usage: owl synth --like NAME [--layers N] --out PATH [--format safetensors|gguf] [--type bf16|q8_0]\n"
    "                 [--tokenizer DIR] [--seed S] [--mtp N] [--force] [--quiet]\n"
    "       owl synth --config config.json ... (any config.json of a supported family instead of a release;\n"
    "                 --like PATH with a path to a config.json does the same)\n"
    "\n"
    "Writes a checkpoint with random weights and a released model's real shapes and shipped dtypes (bf16;\n"
    "MXFP4 experts for gpt-oss; FP8 128x128 blocks for DeepSeek-V3), so speed and memory can be measured\n"
    "without downloading weights. The values are meaningless (uniform, standard deviation 0.02; norms 1).\n"
    "\n"
    "  --like NAME       a release owl knows (case-insensitive): qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b,\n"
    "                    qwen3-14b, qwen3-32b, qwen3-30b-a3b, qwen3-235b-a22b, gpt-oss-20b, gpt-oss-120b,\n"
    "                    deepseek-v3 (its config.json is the release's)\n"
    "  --config FILE     a config.json (model_type qwen3, qwen3_moe, gpt_oss, deepseek_v3 or deepseek_v2)\n"
    "  --layers N        N layers instead of the release's (num_hidden_layers, and layer_types,\n"
    "                    max_window_layers, mlp_only_layers follow)\n"
    "  --out PATH        safetensors: a model directory (config.json, model.safetensors or shards + index,\n"
    "                    tokenizer files); gguf: one file\n"
    "  --format F        safetensors (default) or gguf (llama.cpp's names, keys and tokenizer metadata)\n"
    "  --type T          GGUF matrices: bf16 (default) or q8_0; norms, biases and routers are F32, gpt-oss\n"
    "                    experts MXFP4, DeepSeek FP8 weights become bf16 / q8_0 (GGUF has no FP8 type)\n"
    "  --tokenizer DIR   tokenizer.json [+ tokenizer_config.json, chat_template.jinja] of the family;\n"
    "                    default: tokenizers/{qwen3,gptoss,deepseek_v3} under $OWL_TESTDATA, ./.testdata or\n"
    "                    the source tree's .testdata (scripts/fetch-testdata.sh);\n"
    "                    'none': no tokenizer (any vocab_size; llama.cpp needs one in a GGUF)\n"
    "  --seed S          random seed (default 0); the same seed gives the same values in both formats\n"
    "  --mtp N           DeepSeek: multi-token-prediction layers written after the N layers (default: the\n"
    "                    config's num_nextn_predict_layers, 1 for DeepSeek-V3, as released; GGUF never has them)\n"
    "  --force           overwrite an existing non-empty PATH\n"
    "  --quiet           no progress on stderr (shown only when stderr is a terminal)\n"
    "\n"
    "Prints 'wrote PATH' on stdout when done.\n";

static void progress(uint64_t done, uint64_t total, void *user)
{
    double *last = user;
    const double t = (double)done / (double)(total ? total : 1);
    if (done != total && t - *last < 0.01)
        return;
    *last = t;
    fprintf(stderr, "\rowl synth: %.2f / %.2f GB (%3.0f%%)%s", (double)done / 1e9, (double)total / 1e9, 100 * t,
            done == total ? "\n" : "");
    fflush(stderr);
}

/* The family's tokenizer directory under .testdata (cwd first, then the source tree owl was built from). */
static const char *default_tokenizer(const char *like, const char *config, char *buf, size_t size)
{
    const char *fam = NULL;
    char text[65536] = "";
    if (like)
        fam = !strncasecmp(like, "qwen3", 5) ? "qwen3" : !strncasecmp(like, "gpt-oss", 7) ? "gptoss" : "deepseek_v3";
    else {
        FILE *f = fopen(config, "r");
        if (f) {
            text[fread(text, 1, sizeof text - 1, f)] = 0;
            fclose(f);
        }
        fam = strstr(text, "\"qwen3") ? "qwen3" : strstr(text, "\"gpt_oss\"") ? "gptoss" : "deepseek_v3";
    }
    const char *env = getenv("OWL_TESTDATA"); /* the test data folder itself, as the tests read it */
    const char *roots[] = {env, "./.testdata", OWL_SOURCE_DIR "/.testdata"};
    for (int i = 0; i < 3; i++) {
        if (!roots[i] || !*roots[i])
            continue;
        snprintf(buf, size, "%s/tokenizers/%s", roots[i], fam);
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/tokenizer.json", buf);
        if (access(probe, R_OK) == 0)
            return buf;
    }
    fprintf(stderr, "owl synth: no tokenizer for the %s family: pass --tokenizer DIR (a directory with the\n"
            "model's tokenizer.json [+ tokenizer_config.json]), or run scripts/fetch-testdata.sh in the owl\n"
            "repository to fetch .testdata/tokenizers/%s\n", fam, fam);
    return NULL;
}

int cmd_synth(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        }
    struct cli_opt opts[] = {{"--like", NULL, true, NULL},   {"--config", NULL, true, NULL},
                             {"--layers", NULL, true, NULL}, {"--out", "-o", true, NULL},
                             {"--format", NULL, true, NULL}, {"--type", NULL, true, NULL},
                             {"--tokenizer", NULL, true, NULL}, {"--seed", NULL, true, NULL},
                             {"--mtp", NULL, true, NULL},    {"--force", NULL, false, NULL},
                             {"--quiet", NULL, false, NULL}};
    const int n_opts = sizeof opts / sizeof *opts;
    int n_pos;
    if (!cli_parse(argc, argv, opts, n_opts, NULL, 0, &n_pos, "synth"))
        return EXIT_USAGE;
    struct owl_synth_params p = owl_synth_default_params();
    p.like = cli_get(opts, n_opts, "--like");
    p.config_path = cli_get(opts, n_opts, "--config");
    bool released = false; /* --like: a release's name first, else the path of a config.json */
    for (int i = 0; p.like && owl_released_name(i); i++)
        released |= !strcasecmp(owl_released_name(i), p.like);
    if (p.like && !p.config_path && !released && (strchr(p.like, '/') || access(p.like, F_OK) == 0))
        p.config_path = p.like, p.like = NULL;
    p.out = cli_get(opts, n_opts, "--out");
    if (!p.out || !p.like == !p.config_path) {
        fprintf(stderr, "owl synth: need --out and one of --like or --config\n\n%s", help);
        return EXIT_USAGE;
    }
    const char *format = cli_get(opts, n_opts, "--format"), *type = cli_get(opts, n_opts, "--type"), *v;
    if (format && strcmp(format, "safetensors") && strcmp(format, "gguf")) {
        fprintf(stderr, "owl synth: --format: expected safetensors or gguf, got '%s'\n", format);
        return EXIT_USAGE;
    }
    p.format = format && !strcmp(format, "gguf") ? OWL_SYNTH_GGUF : OWL_SYNTH_SAFETENSORS;
    if (type && strcmp(type, "bf16") && strcmp(type, "q8_0")) {
        fprintf(stderr, "owl synth: --type: expected bf16 or q8_0, got '%s'\n", type);
        return EXIT_USAGE;
    }
    p.type = type && !strcmp(type, "q8_0") ? OWL_SYNTH_Q8_0 : OWL_SYNTH_BF16;
    if (p.type == OWL_SYNTH_Q8_0 && p.format != OWL_SYNTH_GGUF) {
        fprintf(stderr, "owl synth: --type q8_0 is for --format gguf (safetensors keep the shipped dtypes)\n");
        return EXIT_USAGE;
    }
    long n;
    if ((v = cli_get(opts, n_opts, "--layers"))) {
        if (!cli_int("--layers", v, 1, 4096, &n))
            return EXIT_USAGE;
        p.n_layers = (int)n;
    }
    if ((v = cli_get(opts, n_opts, "--mtp"))) {
        if (!cli_int("--mtp", v, 0, 16, &n))
            return EXIT_USAGE;
        p.n_mtp = (int)n;
    }
    if ((v = cli_get(opts, n_opts, "--seed"))) {
        if (!cli_int("--seed", v, 0, 0x7fffffffL, &n))
            return EXIT_USAGE;
        p.seed = (uint64_t)n;
    }
    p.force = cli_get(opts, n_opts, "--force") != NULL;
    char tok_buf[4096];
    p.tokenizer_dir = cli_get(opts, n_opts, "--tokenizer");
    if (p.tokenizer_dir && !strcmp(p.tokenizer_dir, "none"))
        p.tokenizer_dir = NULL;
    else if (!p.tokenizer_dir && !(p.tokenizer_dir = default_tokenizer(p.like, p.config_path, tok_buf, sizeof tok_buf)))
        return 1;
    double last = -1;
    if (!cli_get(opts, n_opts, "--quiet") && isatty(STDERR_FILENO)) { /* progress only on a terminal */
        p.progress = progress;
        p.user = &last;
    }
    struct owl_error err = {0};
    if (owl_synth(&p, &err) != OWL_OK) {
        if (last >= 0)
            fputc('\n', stderr);
        fprintf(stderr, "owl: %s\n", err.message);
        return 1;
    }
    printf("wrote %s\n", p.out);
    return 0;
}
