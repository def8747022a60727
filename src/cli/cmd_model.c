/* cmd_model.c — the model commands: run, logits, bench, info. Scriptable: machine-readable output on
 * stdout, messages on stderr, exit 0 / 1 (runtime failure) / 2 (usage). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/term.h"
#include "sample/sample.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

#define COMMON_OPTS                                                                                     \
    {"--threads", "-t", true, NULL}, {"--ctx", "-c", true, NULL}, {"--batch", "-b", true, NULL},       \
    {"--verbose", "-v", false, NULL}, {"--quant", "-q", true, NULL}, {"--act", NULL, true, NULL},      \
    {"--load", NULL, true, NULL}, {"--kv", NULL, true, NULL}, {"--window-rows", NULL, true, NULL}
#define COMMON_HELP                                                                                     \
    "  -t, --threads N   threads (default: all cores)\n"                                                 \
    "  -c, --ctx N       KV-cache capacity in tokens (default: min(model context, 4096), at least the\n"    \
    "                    tokens the command needs)\n"                                                     \
    "  -b, --batch N     most tokens per forward pass (default 512)\n"                                     \
    "  -v, --verbose     more messages on stderr\n"                                                     \
    "  -q, --quant T     quantize bf16/f16/f32 matrices at load: q8_0 (1.9x less memory than bf16) or q4_0\n" \
    "                    (2.9x; the output head and embeddings Q8_0); see docs/BENCHMARKS.md for accuracy\n" \
    "      --act bf16    round activations to bf16 for matmuls over BF16 weights and for prefill attention\n" \
    "                    (and MLA's decode attention; the prefill of GGML and FP8 blocks too)\n" \
    "                    (AVX512-BF16 dot products: faster, less exact; default fp32, exact; see\n" \
    "                    docs/BENCHMARKS.md)\n" \
    "      --act q8      bf16, and int8 activation blocks against MXFP4 experts, Q8_0, Q4_0/Q4_1,\n" \
    "                    Q5_0/Q5_1 and Q4_K/Q5_K/Q6_K weights (integer dot products, as\n" \
    "                    llama.cpp: gpt-oss decode about 1.3x faster, Q8_0 decode kernels 1.9x and the\n" \
    "                    prefill GEMM 1.5x, Q4_K_M files 2.3x, Q5_0 2.3x; see docs/BENCHMARKS.md)\n" \
    "      --load MODE   auto (default): read the weights into memory when they take at most half of the\n" \
    "                    memory available (three quarters with --act q8) and no --quant, else mmap;\n"  \
    "                    mmap: map the files (pages on first use, shared with the page cache); copy: read\n" \
    "                    into memory with huge pages (decode 10-20% faster on virtual machines; with\n"  \
    "                    --act q8 MXFP4 experts are regrouped 16 rows at a time (AVX512-VBMI or AVX2\n"  \
    "                    kernels): decode ~7% and prefill ~1.5x faster, on AVX2 up to 1.8x; BENCHMARKS.md)\n" \
    "      --kv f16      KV cache in IEEE half: half the memory and the bytes attention reads at depth\n"   \
    "                    (keys and values rounded when stored; default f32, exact; see docs/BENCHMARKS.md)\n" \
    "      --window-rows N  positions a sliding-window layer (gpt-oss) keeps in its cache where fewer than\n" \
    "                    the context (default 4096, at least window + batch + 63; -1: the whole context);\n" \
    "                    the same numbers, half gpt-oss's cache memory at long context\n"

struct setup {
    struct owl_model *model;
    struct owl_session *session;
};

/* A one-line progress bar on stderr while the weights are brought into memory (a terminal only). */
static void touch_progress(size_t done, size_t total, void *user)
{
    (void)user;
    const int width = 30, filled = total ? (int)((double)done / (double)total * width) : width;
    fprintf(stderr, "\rloading weights [");
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %3d%% %.2f / %.2f GB", total ? (int)(100.0 * (double)done / (double)total) : 100, done / 1e9,
            total / 1e9);
    if (done == total)
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

/* Open the model and a session with room for at least need_ctx tokens. Prints errors. Returns 0, EXIT_USAGE (a
 * malformed shared option) or 1 (the model or session could not be opened). */
static int setup_open(struct setup *s, const char *path, const struct cli_opt *opts, int n_opts, long need_ctx)
{
    memset(s, 0, sizeof *s);
    long threads = 0, ctx = 0, batch = 0, window_rows = 0;
    const char *v;
    if (((v = cli_get(opts, n_opts, "--threads")) && !cli_int("--threads", v, 1, 4096, &threads)) ||
        ((v = cli_get(opts, n_opts, "--ctx")) && !cli_int("--ctx", v, 1, 1L << 30, &ctx)) ||
        ((v = cli_get(opts, n_opts, "--batch")) && !cli_int("--batch", v, 1, 1 << 16, &batch)) ||
        ((v = cli_get(opts, n_opts, "--window-rows")) && !cli_int("--window-rows", v, -1, 1L << 30, &window_rows)))
        return EXIT_USAGE;
    struct owl_model_params mp = owl_model_default_params();
    mp.n_threads = (int)threads;
    mp.verbose = cli_get(opts, n_opts, "--verbose") != NULL;
    mp.quant = cli_get(opts, n_opts, "--quant");
    mp.act = cli_get(opts, n_opts, "--act");
    mp.load = cli_get(opts, n_opts, "--load");
    struct owl_error err = {0};
    if (owl_model_open(path, &mp, &s->model, &err) != OWL_OK) {
        fprintf(stderr, "owl: %s\n", err.message);
        return 1;
    }
    if (isatty(STDERR_FILENO)) /* scripts get no progress output */
        owl_model_touch(s->model, touch_progress, NULL);
    struct owl_session_params sp = owl_session_default_params();
    if (ctx == 0) {
        ctx = owl_model_n_ctx_train(s->model) < 4096 ? owl_model_n_ctx_train(s->model) : 4096;
        if (ctx < need_ctx)
            ctx = need_ctx;
    }
    sp.n_ctx = (int)ctx;
    sp.n_batch = (int)batch;
    sp.kv = cli_get(opts, n_opts, "--kv");
    sp.window_rows = (int)window_rows;
    if (owl_session_init(s->model, &sp, &s->session, &err) != OWL_OK) {
        fprintf(stderr, "owl: %s\n", err.message);
        owl_model_close(s->model);
        return 1;
    }
    return 0;
}

static void setup_close(struct setup *s)
{
    owl_session_free(s->session);
    owl_model_close(s->model);
}

int cmd_logits(int argc, char **argv)
{
    static const char help[] =
        "usage: owl logits MODEL --tokens IDS --out FILE [options]\n"
        "\n"
        "Runs one forward pass over the token ids and writes the logits of every position to FILE as\n"
        "float32 little-endian, n_tokens x vocab_size, row-major (row t = logits after token t).\n"
        "\n"
        "  --tokens IDS      comma-separated token ids, e.g. 1,2,3\n"
        "  --out FILE        output file ('-' for stdout)\n" COMMON_HELP;
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {{"--tokens", NULL, true, NULL}, {"--out", "-o", true, NULL}, COMMON_OPTS};
    const int n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    int n_pos;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 1, &n_pos, "logits"))
        return EXIT_USAGE;
    const char *toks = cli_get(opts, n_opts, "--tokens"), *out = cli_get(opts, n_opts, "--out");
    if (n_pos != 1 || !toks || !out) {
        fprintf(stderr, "owl logits: need MODEL, --tokens and --out\n\n%s", help);
        return EXIT_USAGE;
    }
    int32_t *ids;
    int n;
    if (!cli_token_list(toks, &ids, &n))
        return EXIT_USAGE;
    struct setup s;
    const int open_rc = setup_open(&s, pos[0], opts, n_opts, n);
    if (open_rc) {
        free(ids);
        return open_rc;
    }
    int rc = 1;
    const size_t n_vocab = (size_t)owl_model_n_vocab(s.model);
    float *logits = malloc((size_t)n * n_vocab * sizeof(float));
    struct owl_error err = {0};
    FILE *f = NULL;
    if (!logits) {
        fprintf(stderr, "owl logits: cannot allocate %zu bytes of logits\n", (size_t)n * n_vocab * sizeof(float));
    } else if (owl_session_eval(s.session, ids, n, OWL_LOGITS_ALL, logits, &err) != OWL_OK) {
        fprintf(stderr, "owl logits: %s\n", err.message);
    } else if (!(f = strcmp(out, "-") ? fopen(out, "wb") : stdout)) {
        fprintf(stderr, "owl logits: cannot write %s\n", out);
    } else if (fwrite(logits, sizeof(float), (size_t)n * n_vocab, f) != (size_t)n * n_vocab) {
        fprintf(stderr, "owl logits: short write to %s\n", out);
    } else {
        rc = 0;
    }
    if (f && f != stdout && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "owl logits: error closing %s\n", out);
        rc = 1;
    }
    free(logits);
    free(ids);
    setup_close(&s);
    return rc;
}

/* The prompt of `owl run -p`: the text as it is, or (--chat) rendered by the model's chat template as a
 * user turn after an optional system turn. Returns the token ids (malloc'd) or NULL after a message. */
static int32_t *text_prompt(struct owl_tokenizer *tok, const char *text, bool chat, const char *system,
                            const char *think, const char *effort, int *n)
{
    struct owl_error err = {0};
    char *rendered = NULL;
    size_t len = 0;
    int add_bos = -1; /* raw text: BOS as tokenizer_config.json says */
    if (chat) {
        struct owl_chat_message msgs[2];
        int m = 0;
        if (system)
            msgs[m++] = (struct owl_chat_message){.role = "system", .content = system};
        msgs[m++] = (struct owl_chat_message){.role = "user", .content = text};
        struct owl_chat_options co = owl_chat_default_options();
        co.thinking = think ? strcmp(think, "on") == 0 : -1;
        co.reasoning_effort = effort;
        if (owl_chat_render(tok, msgs, m, &co, &rendered, &len, &err) != OWL_OK) {
            fprintf(stderr, "owl run: %s\n", err.message);
            return NULL;
        }
        text = rendered;
        add_bos = 0; /* a rendered template carries its own BOS text where the model wants one */
    } else {
        len = strlen(text);
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (owl_tokenize(tok, text, len, add_bos, &ids, &n_ids, &err) != OWL_OK) {
        fprintf(stderr, "owl run: %s\n", err.message);
        ids = NULL;
    } else if (n_ids == 0) {
        fprintf(stderr, "owl run: the prompt is empty\n");
        free(ids);
        ids = NULL;
    }
    free(rendered);
    *n = (int)n_ids;
    return ids;
}

int cmd_run(int argc, char **argv)
{
    static const char help[] =
        "usage: owl run MODEL (--tokens IDS | -p TEXT [--chat]) [-n N] [options]\n"
        "\n"
        "With --tokens: feeds the prompt token ids, generates exactly N tokens (end-of-sequence tokens do not\n"
        "stop it) and prints their ids, comma-separated, on one line.\n"
        "With -p: tokenizes TEXT with the model's tokenizer.json (--chat: as a user message rendered by the\n"
        "model's chat template), streams the generated text to stdout and stops at an end-of-turn token or\n"
        "after N tokens. On a terminal (and without NO_COLOR) a --chat reply shows its reasoning dimmed and\n"
        "tool calls in colour; elsewhere the text is printed as the model wrote it. Ctrl-C stops generation and\n"
        "prints the summary; a second Ctrl-C ends owl at once.\n"
        "\n"
        "  --tokens IDS              prompt as comma-separated token ids\n"
        "  -p, --prompt TEXT         prompt as text\n"
        "  --chat                    wrap TEXT as a chat user turn (the model's own template)\n"
        "  --system TEXT             a system message before it (with --chat)\n"
        "  --think on|off            reasoning on or off (Qwen3 enable_thinking, DeepSeek V3.1 thinking)\n"
        "  --reasoning-effort E      gpt-oss reasoning effort: low, medium or high\n"
        "  --ignore-eos              do not stop at end-of-turn tokens (with -p)\n"
        "  -n, --n-predict N         most tokens to generate (default 16 with --tokens, 256 with -p)\n"
        "  --temperature T           0 = greedy (default 0)\n"
        "  --top-k K                 keep the K most likely tokens (0 = off)\n"
        "  --top-p P                 nucleus sampling (1 = off)\n"
        "  --min-p P                 drop tokens below P x the top probability (0 = off)\n"
        "  --seed S                  sampling seed (default 0)\n"
        "  --print-ids               print generated ids instead of text (always so with --tokens)\n"
        "  --stats                   print prompt and generation speed and peak memory on stderr (always\n"
        "                            so when stderr is a terminal)\n" COMMON_HELP;
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {{"--tokens", NULL, true, NULL},      {"--n-predict", "-n", true, NULL},
                             {"--temperature", NULL, true, NULL}, {"--top-k", NULL, true, NULL},
                             {"--top-p", NULL, true, NULL},       {"--min-p", NULL, true, NULL},
                             {"--seed", NULL, true, NULL},        {"--print-ids", NULL, false, NULL},
                             {"--stats", NULL, false, NULL},      {"--prompt", "-p", true, NULL},
                             {"--chat", NULL, false, NULL},       {"--system", NULL, true, NULL},
                             {"--think", NULL, true, NULL},       {"--reasoning-effort", NULL, true, NULL},
                             {"--ignore-eos", NULL, false, NULL}, COMMON_OPTS};
    const int n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    int n_pos;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 1, &n_pos, "run"))
        return EXIT_USAGE;
    const char *toks = cli_get(opts, n_opts, "--tokens"), *prompt = cli_get(opts, n_opts, "--prompt"), *v;
    const char *think = cli_get(opts, n_opts, "--think"), *effort = cli_get(opts, n_opts, "--reasoning-effort");
    const bool chat = cli_get(opts, n_opts, "--chat") != NULL;
    if (n_pos != 1 || !toks == !prompt) {
        fprintf(stderr, "owl run: need MODEL and exactly one of --tokens, -p\n\n%s", help);
        return EXIT_USAGE;
    }
    if ((think && strcmp(think, "on") && strcmp(think, "off")) ||
        (effort && strcmp(effort, "low") && strcmp(effort, "medium") && strcmp(effort, "high"))) {
        fprintf(stderr, "owl run: --think takes on|off and --reasoning-effort low|medium|high\n");
        return EXIT_USAGE;
    }
    if (!prompt && (chat || cli_get(opts, n_opts, "--system") || think || effort)) {
        fprintf(stderr, "owl run: --chat, --system, --think and --reasoning-effort go with -p\n");
        return EXIT_USAGE;
    }
    long n_predict = prompt ? 256 : 16, top_k = 0, seed = 0;
    double temp = 0, top_p = 1, min_p = 0;
    if (((v = cli_get(opts, n_opts, "--n-predict")) && !cli_int("-n", v, 0, 1L << 30, &n_predict)) ||
        ((v = cli_get(opts, n_opts, "--top-k")) && !cli_int("--top-k", v, 0, 1L << 30, &top_k)) ||
        ((v = cli_get(opts, n_opts, "--seed")) && !cli_int("--seed", v, 0, 0x7fffffffL, &seed)) ||
        ((v = cli_get(opts, n_opts, "--temperature")) && !cli_float("--temperature", v, &temp)) ||
        ((v = cli_get(opts, n_opts, "--top-p")) && !cli_float("--top-p", v, &top_p)) ||
        ((v = cli_get(opts, n_opts, "--min-p")) && !cli_float("--min-p", v, &min_p)))
        return EXIT_USAGE;
    if (temp < 0 || top_p <= 0 || top_p > 1 || min_p < 0 || min_p > 1) {
        fprintf(stderr, "owl run: need temperature >= 0, 0 < top-p <= 1, 0 <= min-p <= 1\n");
        return EXIT_USAGE;
    }
    int32_t *ids = NULL;
    int n = 0;
    struct owl_tokenizer *tok = NULL;
    struct owl_error err = {0};
    if (toks && !cli_token_list(toks, &ids, &n))
        return EXIT_USAGE;
    if (prompt) {
        if (owl_tokenizer_open(pos[0], &tok, &err) != OWL_OK) {
            fprintf(stderr, "owl run: %s\n", err.message);
            return 1;
        }
        if (!(ids = text_prompt(tok, prompt, chat, cli_get(opts, n_opts, "--system"), think, effort, &n))) {
            owl_tokenizer_free(tok);
            return 1;
        }
    }
    const bool print_ids = toks || cli_get(opts, n_opts, "--print-ids");
    int32_t stops[16];
    const int n_stops = prompt && !cli_get(opts, n_opts, "--ignore-eos") ? owl_stop_tokens(tok, stops, 16) : 0;
    struct setup s;
    const int open_rc = setup_open(&s, pos[0], opts, n_opts, n + n_predict);
    if (open_rc) {
        free(ids);
        owl_tokenizer_free(tok);
        return open_rc;
    }
    int rc = 1;
    const int n_vocab = owl_model_n_vocab(s.model);
    float *logits = malloc((size_t)n_vocab * sizeof(float));
    struct sampler smp = {0};
    struct owl_detok *detok = NULL;
    struct term_reply reply;
    term_reply_init(&reply, stdout, chat ? owl_chat_format_name(tok) : NULL, think, effort,
                    !print_ids && term_colour(stdout));
    term_catch_sigint();
    struct sampler_params sp = {.temperature = (float)temp, .top_k = (int)top_k, .top_p = (float)top_p,
                                .min_p = (float)min_p, .seed = (uint64_t)seed};
    double t0 = now_s(), t_prompt = 0;
    if (!logits || sampler_init(&smp, &sp, n_vocab, &err) != OWL_OK ||
        (!print_ids && owl_detok_new(tok, 0, &detok, &err) != OWL_OK) ||
        owl_session_eval(s.session, ids, n, OWL_LOGITS_LAST, logits, &err) != OWL_OK) {
        fprintf(stderr, "owl run: %s\n", err.message[0] ? err.message : "out of memory");
        goto done;
    }
    t_prompt = now_s() - t0;
    long n_gen = 0;
    for (long i = 0; i < n_predict && !term_interrupted(); i++) {
        int32_t next = sampler_pick(&smp, logits);
        bool stop = false;
        for (int k = 0; k < n_stops; k++)
            stop |= next == stops[k];
        if (stop)
            break;
        n_gen++;
        if (print_ids) {
            printf(i ? ",%d" : "%d", next);
        } else {
            const char *piece;
            size_t len;
            if (owl_detok_feed(detok, next, &piece, &len, &err) != OWL_OK) {
                fprintf(stderr, "\nowl run: %s\n", err.message);
                goto done;
            }
            term_reply_write(&reply, piece, len);
        }
        fflush(stdout);
        if (i + 1 < n_predict && owl_session_eval(s.session, &next, 1, OWL_LOGITS_LAST, logits, &err) != OWL_OK) {
            fprintf(stderr, "\nowl run: %s\n", err.message);
            goto done;
        }
    }
    if (detok) {
        const char *piece;
        size_t len;
        owl_detok_flush(detok, &piece, &len);
        term_reply_write(&reply, piece, len);
    }
    term_reply_finish(&reply);
    putchar('\n');
    fflush(stdout);
    rc = 0;
    if (cli_get(opts, n_opts, "--stats") || isatty(fileno(stderr)))
        term_summary(stderr, n, t_prompt, n_gen, now_s() - t0 - t_prompt, term_interrupted());
done:
    term_reply_finish(&reply);
    term_release_sigint();
    owl_detok_free(detok);
    sampler_free(&smp);
    free(logits);
    free(ids);
    owl_tokenizer_free(tok);
    setup_close(&s);
    return rc;
}

/* One bandwidth probe: its best and median passes, GB/s. */
static void probe(int n_threads, double *best, double *median)
{
    const struct owl_bandwidth b = owl_read_bandwidth_passes(n_threads);
    *best = b.best / 1e9, *median = b.median / 1e9;
}

/* The mean over the runs of each run's tokens/s against the bound at the mean of its two probes (GB/s; probes[r]
 * before run r, probes[r + 1] after it): the fraction of the bound reached, for read_gb bytes a token. */
static double bound_fraction(const double *tg, const double *probes, long reps, double read_gb)
{
    double f = 0.0;
    for (long r = 0; r < reps; r++)
        f += tg[r] * read_gb / ((probes[r] + probes[r + 1]) / 2) / reps;
    return f;
}

static void mean_sd(const double *x, int n, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
}

/* The session back at depth tokens of ids (evaluated again where truncating cleared it: a sliding window's
 * rows did not reach back that far). Nonzero on failure. */
static int back_to_depth(struct owl_session *s, const int32_t *ids, int depth, struct owl_error *err)
{
    const int kept = owl_session_truncate(s, depth);
    return kept < depth && owl_session_eval(s, ids + kept, depth - kept, OWL_LOGITS_NONE, NULL, err) != OWL_OK;
}

int cmd_bench(int argc, char **argv)
{
    static const char help[] =
        "usage: owl bench MODEL [-p 512] [-n 128] [-d 0] [-r 3] [options]\n"
        "\n"
        "Measures prompt processing (one forward over -p tokens, from an empty cache) and generation (-n\n"
        "tokens one at a time, from an empty cache) with random token ids, -r times each after one warm-up,\n"
        "and prints tokens/s as mean +- sd, the weight bytes read per generated token, the bandwidth that\n"
        "implies, the cache bytes a generated token reads (its visible keys, on average over the run; and\n"
        "the cache held, where sliding-window layers keep fewer rows than the context), and\n"
        "the machine's read bandwidth (vector loads, same threads, probed before and after each generation\n"
        "run) with the decode bound it gives (weights and cache) and the fraction of it the generation\n"
        "reaches (each run against the mean of its two probes; each probe the best of 5 passes, and the\n"
        "fraction also at their median passes). With --parallel N, generation is also\n"
        "measured for N sequences decoding together (one batched forward per step, as `owl serve` runs its\n"
        "slots): total tokens/s.\n"
        "\n"
        "  -p, --n-prompt N    prompt tokens (default 512; 0 skips)\n"
        "  -n, --n-gen N       generated tokens (default 128; 0 skips)\n"
        "  -d, --depth N       tokens already in the cache before each measurement (default 0; as llama-bench's\n"
        "                      -d: attention at long context); evaluated once, not timed\n"
        "  -r, --reps N        repetitions (default 3)\n"
        "      --parallel N    also measure generation of N sequences batched, from empty caches (default 1: not)\n"
        "      --json          one JSON object on stdout instead of the text (docs/CLI.md lists its keys)\n"
        COMMON_HELP;
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {{"--n-prompt", "-p", true, NULL}, {"--n-gen", "-n", true, NULL},
                             {"--depth", "-d", true, NULL},    {"--reps", "-r", true, NULL},
                             {"--parallel", NULL, true, NULL}, {"--json", NULL, false, NULL}, COMMON_OPTS};
    const int n_opts = sizeof opts / sizeof *opts;
    const char *pos[1], *v;
    int n_pos;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 1, &n_pos, "bench"))
        return EXIT_USAGE;
    if (n_pos != 1) {
        fprintf(stderr, "owl bench: need MODEL\n\n%s", help);
        return EXIT_USAGE;
    }
    long n_prompt = 512, n_gen = 128, reps = 3, n_par = 1, depth = 0;
    if (((v = cli_get(opts, n_opts, "--n-prompt")) && !cli_int("-p", v, 0, 1 << 20, &n_prompt)) ||
        ((v = cli_get(opts, n_opts, "--n-gen")) && !cli_int("-n", v, 0, 1 << 20, &n_gen)) ||
        ((v = cli_get(opts, n_opts, "--depth")) && !cli_int("-d", v, 0, 1 << 20, &depth)) ||
        ((v = cli_get(opts, n_opts, "--reps")) && !cli_int("-r", v, 1, 1000, &reps)) ||
        ((v = cli_get(opts, n_opts, "--parallel")) && !cli_int("--parallel", v, 1, 256, &n_par)))
        return EXIT_USAGE;
    struct setup s;
    long need = depth + (n_prompt > n_gen ? n_prompt : n_gen);
    const int open_rc = setup_open(&s, pos[0], opts, n_opts, need > 0 ? need : 1);
    if (open_rc)
        return open_rc;
    const int n_vocab = owl_model_n_vocab(s.model);
    int32_t *ids = malloc((size_t)(need > 0 ? need : 1) * sizeof *ids);
    float *logits = malloc((size_t)n_vocab * sizeof(float));
    uint64_t rng = 12345;
    for (long i = 0; ids && i < need; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((rng >> 33) % (uint64_t)n_vocab);
    }
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    double *tgp = calloc((size_t)reps, sizeof *tgp), *bw = calloc((size_t)reps + 1, sizeof *bw);
    double *bwm = calloc((size_t)reps + 1, sizeof *bwm); /* the probes' median passes */
    struct owl_error err = {0};
    int rc = 0;
    /* --parallel: n_par sessions like s.session (same n_ctx and n_batch), the first being s.session */
    struct owl_session **par = calloc((size_t)n_par, sizeof *par);
    int32_t *par_tok = calloc((size_t)n_par, sizeof *par_tok);
    float *par_logits = n_par > 1 && n_gen > 0 ? malloc((size_t)n_par * n_vocab * sizeof(float)) : NULL;
    par[0] = s.session;
    struct owl_session_params par_sp = {.n_ctx = owl_session_n_ctx(s.session), .n_batch = (int)n_par,
                                        .kv = cli_get(opts, n_opts, "--kv"),
                                        .window_rows = owl_session_window_rows(s.session) > 0
                                                           ? owl_session_window_rows(s.session) : -1};
    for (long i = 1; i < n_par && n_gen > 0 && rc == 0; i++)
        rc |= owl_session_init(s.model, &par_sp, &par[i], &err) != OWL_OK;
    if (!ids || !logits || !pp || !tg || !tgp || !bw || !bwm || !par || !par_tok || (n_par > 1 && n_gen > 0 && !par_logits)) {
        snprintf(err.message, sizeof err.message, "cannot allocate the benchmark's buffers");
        rc = 1;
    }
    /* the probe's buffer touched before the warm-up, not right before the first timed run */
    if (n_gen > 0 && rc == 0)
        owl_read_bandwidth(owl_model_n_threads(s.model));
    /* the depth once; each measurement then truncates the cache back to it */
    if (depth > 0 && rc == 0)
        rc |= owl_session_eval(s.session, ids, (int)depth, OWL_LOGITS_NONE, NULL, &err) != OWL_OK;
    for (long r = -1; r < reps && rc == 0; r++) { /* r = -1: warm-up */
        if (n_prompt > 0) {
            rc |= back_to_depth(s.session, ids, (int)depth, &err);
            double t0 = now_s();
            rc |= owl_session_eval(s.session, ids + depth, (int)n_prompt, OWL_LOGITS_LAST, logits, &err) != OWL_OK;
            if (r >= 0)
                pp[r] = n_prompt / (now_s() - t0);
        }
        if (n_gen > 0) {
            rc |= back_to_depth(s.session, ids, (int)depth, &err);
            if (r == 0) /* the read bandwidth before each run and after the last (it moves within seconds on VMs) */
                probe(owl_model_n_threads(s.model), &bw[0], &bwm[0]);
            double t0 = now_s();
            for (long i = 0; i < n_gen && rc == 0; i++)
                rc |= owl_session_eval(s.session, &ids[depth + i], 1, OWL_LOGITS_LAST, logits, &err) != OWL_OK;
            if (r >= 0) {
                tg[r] = n_gen / (now_s() - t0);
                probe(owl_model_n_threads(s.model), &bw[r + 1], &bwm[r + 1]);
            }
        }
        if (n_par > 1 && n_gen > 0 && rc == 0) {
            for (long j = 0; j < n_par; j++)
                owl_session_truncate(par[j], 0);
            double t0 = now_s();
            for (long i = 0; i < n_gen && rc == 0; i++) {
                for (long j = 0; j < n_par; j++)
                    par_tok[j] = ids[(i + 7 * j) % n_gen];
                rc |= owl_session_eval_batch(par, par_tok, (int)n_par, par_logits, &err) != OWL_OK;
            }
            if (r >= 0)
                tgp[r] = (double)n_gen * n_par / (now_s() - t0);
        }
    }
    if (rc) {
        fprintf(stderr, "owl bench: %s\n", err.message);
    } else {
        const double gb = (double)owl_model_decode_bytes(s.model) / 1e9;
        const char *kv = cli_get(opts, n_opts, "--kv") ? cli_get(opts, n_opts, "--kv") : "f32";
        /* the cache a step reads: its visible keys in every layer (a sliding window's at most), on average over the
         * run's steps (depth + 1 .. depth + n_gen keys); the decode bound: weight and cache bytes per token over the
         * read bandwidth the same threads get, probed before and after each run; each run against the mean of its
         * two probes */
        double kv_gb = 0.0, bw_min = bw[0], bw_max = bw[0], bw_sum = 0.0;
        for (long i = 0; i < n_gen; i++)
            kv_gb += (double)owl_session_kv_read_bytes(s.session, (int)(depth + i + 1)) / 1e9 / (double)n_gen;
        const double read_gb = gb + kv_gb;
        for (long r = 0; n_gen > 0 && r <= reps; r++) {
            bw_min = bw[r] < bw_min ? bw[r] : bw_min;
            bw_max = bw[r] > bw_max ? bw[r] : bw_max;
            bw_sum += bw[r];
        }
        const double frac = n_gen > 0 ? bound_fraction(tg, bw, reps, read_gb) : 0.0;
        const double frac_med = n_gen > 0 ? bound_fraction(tg, bwm, reps, read_gb) : 0.0;
        const int rows = owl_session_window_rows(s.session);
        const double held_gb = (double)owl_session_kv_bytes(s.session, (int)(depth + n_gen)) / 1e9;
        const double whole_gb = (double)owl_session_kv_bytes_per_token(s.session) * (double)(depth + n_gen) / 1e9;
        if (cli_get(opts, n_opts, "--json")) {
            json_t *o = json_object(), *runs;
            json_object_set_new(o, "model", json_string(pos[0]));
            json_object_set_new(o, "family", json_string(owl_model_family(s.model)));
            json_object_set_new(o, "kernels", json_string(owl_kernels_isa()));
            json_object_set_new(o, "threads", json_integer(owl_model_n_threads(s.model)));
            json_object_set_new(o, "weights_in_memory", json_boolean(owl_model_weights_in_memory(s.model)));
            json_object_set_new(o, "mxfp4_slabs", json_boolean(owl_model_mxfp4_slabs(s.model)));
            json_object_set_new(o, "kv", json_string(kv));
            json_object_set_new(o, "n_prompt", json_integer(n_prompt));
            json_object_set_new(o, "n_gen", json_integer(n_gen));
            json_object_set_new(o, "depth", json_integer(depth));
            json_object_set_new(o, "reps", json_integer(reps));
            json_object_set_new(o, "weights_bytes_per_token", json_integer((json_int_t)owl_model_decode_bytes(s.model)));
            const struct { const char *key; const double *x; bool on; } tests[] = {
                {"pp", pp, n_prompt > 0}, {"tg", tg, n_gen > 0}, {"tg_batched", tgp, n_par > 1 && n_gen > 0}};
            for (int i = 0; i < 3; i++) {
                if (!tests[i].on)
                    continue;
                json_t *t = json_object();
                double m, sd;
                mean_sd(tests[i].x, (int)reps, &m, &sd);
                json_object_set_new(t, "tokens_per_s", json_real(m));
                json_object_set_new(t, "sd", json_real(sd));
                json_object_set_new(t, "runs", runs = json_array());
                for (long r = 0; r < reps; r++)
                    json_array_append_new(runs, json_real(tests[i].x[r]));
                if (i == 2)
                    json_object_set_new(t, "sequences", json_integer(n_par));
                if (i == 1) {
                    json_object_set_new(t, "cache_bytes_per_token", json_real(kv_gb * 1e9));
                    json_object_set_new(t, "read_bandwidth_gbs", runs = json_array());
                    for (long r = 0; r <= reps; r++)
                        json_array_append_new(runs, json_real(bw[r]));
                    json_object_set_new(t, "bound_tokens_per_s", json_real(bw_sum / (reps + 1) / read_gb));
                    json_object_set_new(t, "fraction_of_bound", json_real(frac));
                    json_object_set_new(t, "read_bandwidth_median_gbs", runs = json_array());
                    for (long r = 0; r <= reps; r++)
                        json_array_append_new(runs, json_real(bwm[r]));
                    json_object_set_new(t, "fraction_of_median_bound", json_real(frac_med));
                }
                json_object_set_new(o, tests[i].key, t);
            }
            json_object_set_new(o, "cache_bytes_held", json_integer((json_int_t)(held_gb * 1e9 + 0.5)));
            json_object_set_new(o, "window_rows", json_integer(rows));
            json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
            putchar('\n');
            json_decref(o);
        } else {
            char desc[1024];
            owl_model_describe(s.model, desc, sizeof desc);
            double m, sd;
            printf("model: %s\nfamily: %s, kernels: %s, threads: %d\n", pos[0], owl_model_family(s.model),
                   owl_kernels_isa(), owl_model_n_threads(s.model));
            printf("%s", desc);
            printf("weights read per generated token: %.3f GB (%s%s)\n", gb,
                   owl_model_weights_in_memory(s.model) ? "read into memory" : "mapped from the file",
                   owl_model_mxfp4_slabs(s.model) ? ", MXFP4 experts in slabs of 16 rows" : "");
            char at[32] = "";
            if (depth > 0)
                snprintf(at, sizeof at, " @ d%ld", depth);
            if (n_prompt > 0) {
                mean_sd(pp, (int)reps, &m, &sd);
                printf("pp%ld%s: %.2f +- %.2f tokens/s\n", n_prompt, at, m, sd);
            }
            if (n_gen > 0) {
                mean_sd(tg, (int)reps, &m, &sd);
                printf("tg%ld%s: %.2f +- %.2f tokens/s (%.1f GB/s of weights)\n", n_gen, at, m, sd, m * gb);
                printf("cache read per generated token: %.3f GB on average (%s; %ld to %ld keys; %.1f GB/s)\n", kv_gb,
                       kv, depth + 1, depth + n_gen, m * kv_gb);
                if (rows > 0)
                    printf("cache held at %ld positions: %.3f GB (sliding-window layers %d rows each; %.3f GB with "
                           "--window-rows -1)\n", depth + n_gen, held_gb, rows, whole_gb);
                if (bw_min > 0)
                    printf("read bandwidth %.1f GB/s (%d threads, vector loads; %.1f-%.1f in %ld probes around the "
                           "runs): bound %.1f tokens/s (weights and cache), tg at %.0f%% of it (%.0f%% at the probes' "
                           "median passes)\n",
                           bw_sum / (reps + 1), owl_model_n_threads(s.model), bw_min, bw_max, reps + 1,
                           bw_sum / (reps + 1) / read_gb, 100.0 * frac, 100.0 * frac_med);
            }
            if (n_par > 1 && n_gen > 0) {
                mean_sd(tgp, (int)reps, &m, &sd);
                printf("tg%ld x %ld sequences batched: %.2f +- %.2f tokens/s in total (%.2f per sequence)\n", n_gen,
                       n_par, m, sd, m / n_par);
            }
        }
        rc = 0;
    }
    for (long j = 1; j < n_par; j++)
        owl_session_free(par[j]);
    free(par);
    free(par_tok);
    free(par_logits);
    free(tgp);
    free(bw);
    free(bwm);
    free(pp);
    free(tg);
    free(ids);
    free(logits);
    setup_close(&s);
    return rc ? 1 : 0;
}

int cmd_info(int argc, char **argv)
{
    static const char help[] = "usage: owl info MODEL\n\nPrints the model's hyper-parameters as owl read them.\n";
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {COMMON_OPTS};
    const int n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    int n_pos;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 1, &n_pos, "info"))
        return EXIT_USAGE;
    if (n_pos != 1) {
        fprintf(stderr, "owl info: need MODEL\n\n%s", help);
        return EXIT_USAGE;
    }
    struct owl_model_params mp = owl_model_default_params();
    struct owl_model *model;
    struct owl_error err = {0};
    if (owl_model_open(pos[0], &mp, &model, &err) != OWL_OK) {
        fprintf(stderr, "owl: %s\n", err.message);
        return 1;
    }
    char desc[2048];
    owl_model_describe(model, desc, sizeof desc);
    printf("%s", desc);
    printf("weights read per token: %zu bytes\nKV cache: %zu bytes per token (fp32; --kv f16 halves it)\n",
           owl_model_decode_bytes(model), owl_model_kv_bytes_per_token(model));
    owl_model_close(model);
    return 0;
}
