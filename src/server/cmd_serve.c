/* cmd_serve.c — `owl serve MODEL`: flags into server_options (server.h), then server_run. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "server/server.h"

static const char serve_usage[] =
    "usage: owl serve MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel 4] [--ctx N]\n"
    "\n"
    "An OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions (streaming with\n"
    "\"stream\": true), GET /v1/models, GET /health, GET /metrics (Prometheus text).\n"
    "\n"
    "  --host ADDR        IPv4 address or name to listen on (default 127.0.0.1)\n"
    "  --port N           TCP port (default 8080; 0 picks a free one, printed at start)\n"
    "  --api-key KEY      require `Authorization: Bearer KEY` on /v1/* (default: none)\n"
    "  --parallel N       sequences generated at once, one KV cache each (default 4)\n"
    "  --queue N          requests that may wait for a slot; more get 429 (default 64)\n"
    "  --ctx N            context per sequence in tokens (default min(model's, 4096))\n"
    "  --batch N          prompt tokens per forward (default 256); a new prompt reuses the longest prefix\n"
    "                     of a slot's cache that is whole chunks of N, which never changes an output\n"
    "  --threads N        threads for the forward (default: all cores)\n"
    "  --act bf16|q8      bf16 activations for BF16 weights; q8 also int8 ones for MXFP4 experts (faster,\n"
    "                     less exact; default fp32)\n"
    "  --load auto|mmap|copy  weights read into memory (copy; auto when they fit in half of the memory\n"
    "                     available, three quarters with --act q8) or mapped (mmap); see owl run --help\n"
    "  --kv f16           KV caches in IEEE half: half the memory per slot (default f32, exact)\n"
    "  --window-rows N    positions a sliding-window layer (gpt-oss) keeps per slot where fewer than the\n"
    "                     context (default 4096; -1: the whole context); a prefix further back than that\n"
    "                     is evaluated again; see owl run --help\n"
    "  --alias NAME       the model id clients use (default: the model directory's name)\n"
    "  --max-body BYTES   request body cap (default 8388608)\n"
    "  --step-delay-ms N  testing: sleep N ms after each engine step\n"
    "\n"
    "Stops on SIGINT or SIGTERM.\n";

int cmd_serve(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--host", NULL, true, NULL},     {"--port", NULL, true, NULL},     {"--api-key", NULL, true, NULL},
        {"--parallel", "-np", true, NULL}, {"--queue", NULL, true, NULL},   {"--ctx", "-c", true, NULL},
        {"--threads", "-t", true, NULL},  {"--alias", NULL, true, NULL},    {"--max-body", NULL, true, NULL},
        {"--step-delay-ms", NULL, true, NULL}, {"--batch", "-b", true, NULL}, {"--act", NULL, true, NULL},
        {"--load", NULL, true, NULL},     {"--kv", NULL, true, NULL},       {"--window-rows", NULL, true, NULL},
        {"--help", "-h", false, NULL},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int n_pos = 0;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 1, &n_pos, "serve"))
        return EXIT_USAGE;
    if (cli_get(opts, n_opts, "--help")) {
        fputs(serve_usage, stdout);
        return 0;
    }
    if (n_pos != 1) {
        fputs(serve_usage, stderr);
        return EXIT_USAGE;
    }
    struct server_options o = {.model_path = pos[0], .host = "127.0.0.1", .port = 8080, .n_parallel = 4,
                               .n_queue = 64, .max_body = 8u << 20};
    long v;
    const char *s;
    if ((s = cli_get(opts, n_opts, "--host")))
        o.host = s;
    if ((s = cli_get(opts, n_opts, "--api-key")))
        o.api_key = s;
    if ((s = cli_get(opts, n_opts, "--alias")))
        o.alias = s;
    if ((s = cli_get(opts, n_opts, "--port"))) {
        if (!cli_int("--port", s, 0, 65535, &v))
            return EXIT_USAGE;
        o.port = (int)v;
    }
    if ((s = cli_get(opts, n_opts, "--parallel"))) {
        if (!cli_int("--parallel", s, 1, 256, &v))
            return EXIT_USAGE;
        o.n_parallel = (int)v;
    }
    if ((s = cli_get(opts, n_opts, "--queue"))) {
        if (!cli_int("--queue", s, 1, 65536, &v))
            return EXIT_USAGE;
        o.n_queue = (int)v;
    }
    if ((s = cli_get(opts, n_opts, "--ctx"))) {
        if (!cli_int("--ctx", s, 1, 1 << 24, &v))
            return EXIT_USAGE;
        o.n_ctx = (int)v;
    }
    o.act = cli_get(opts, n_opts, "--act");
    o.load = cli_get(opts, n_opts, "--load");
    o.kv = cli_get(opts, n_opts, "--kv");
    if ((s = cli_get(opts, n_opts, "--window-rows"))) {
        if (!cli_int("--window-rows", s, -1, 1 << 30, &v))
            return EXIT_USAGE;
        o.window_rows = (int)v;
    }
    if ((s = cli_get(opts, n_opts, "--batch"))) {
        if (!cli_int("--batch", s, 1, 1 << 16, &v))
            return EXIT_USAGE;
        o.n_batch = (int)v;
    }
    if ((s = cli_get(opts, n_opts, "--threads"))) {
        if (!cli_int("--threads", s, 1, 4096, &v))
            return EXIT_USAGE;
        o.n_threads = (int)v;
    }
    if ((s = cli_get(opts, n_opts, "--max-body"))) {
        if (!cli_int("--max-body", s, 1024, 1L << 30, &v))
            return EXIT_USAGE;
        o.max_body = (size_t)v;
    }
    if ((s = cli_get(opts, n_opts, "--step-delay-ms"))) {
        if (!cli_int("--step-delay-ms", s, 0, 10000, &v))
            return EXIT_USAGE;
        o.step_delay_ms = (int)v;
    }
    return server_run(&o);
}
