/* main.c — the `owl` command: dispatches to subcommands. Every subcommand documents its flags with
 * --help; bad flags print a usage message and exit with status 2. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define OWL_VERSION "0.1.0"

static const char usage[] =
    "owl " OWL_VERSION " - inference for open-weight language models (Qwen3, Qwen3-MoE, GPT-OSS, DeepSeek-V3)\n"
    "\n"
    "usage: owl COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run MODEL -p TEXT [--chat]      generate text (--tokens IDS -n N: ids in, ids out)\n"
    "  logits MODEL --tokens IDS --out FILE\n"
    "                                  write the logits of every position (float32, n_tokens x vocab)\n"
    "  bench MODEL [-p 512] [-n 128]   prompt-processing and generation speed\n"
    "  info MODEL                      print the model's hyper-parameters\n"
    "  inspect MODEL [--json]          architecture, parameters (total, active), weight and KV-cache bytes\n"
    "  compare [MODEL ...] [--json]    the inspect table side by side for the built-in releases (+ MODELs)\n"
    "  tokenize MODEL --text TEXT      token ids of a text (--jsonl FILE: one JSON string per line)\n"
    "  detokenize MODEL --ids IDS      text of token ids (--jsonl FILE: one JSON array per line)\n"
    "  template MODEL --messages FILE  the prompt the model's chat template makes of a conversation\n"
    "  serve MODEL [--port 8080]       OpenAI-compatible HTTP server (chat/completions, completions)\n"
    "  synth --like NAME --out PATH    a random-weight checkpoint with a release's shapes (safetensors/GGUF)\n"
    "\n"
    "MODEL is a Hugging Face model directory as released (config.json + *.safetensors, sharded or not)\n"
    "or a GGUF file.\n"
    "Run `owl COMMAND --help` for a command's flags. Environment: OWL_KERNELS=ref|avx2|avx512 forces a\n"
    "kernel set (for debugging); OMP_* variables are honoured by the thread pool.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        puts("owl " OWL_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "logits"))
        return cmd_logits(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "synth"))
        return cmd_synth(argc - 2, argv + 2);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 2, argv + 2);
    if (!strcmp(cmd, "synth"))
        return cmd_synth(argc - 2, argv + 2);
    if (!strcmp(cmd, "compare"))
        return cmd_compare(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize"))
        return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "detokenize"))
        return cmd_detokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "template"))
        return cmd_template(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 2, argv + 2);
    fprintf(stderr, "owl: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_USAGE;
}
