/* cmd_text.c — the text commands: tokenize, detokenize, template. Scriptable (stable output formats,
 * documented in docs/CLI.md): ids as comma-separated lists or JSON arrays (one per line with --jsonl),
 * text as raw bytes or JSON strings (with --jsonl). Uses only owl.h (plus jansson for JSON lines). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

static struct owl_tokenizer *open_tok(const char *path)
{
    struct owl_tokenizer *tok = NULL;
    struct owl_error err = {0};
    if (owl_tokenizer_open(path, &tok, &err) != OWL_OK)
        fprintf(stderr, "owl: %s\n", err.message);
    return tok;
}

/* Read a whole stream into a malloc'd NUL-terminated buffer. */
static char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static FILE *open_input(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        fprintf(stderr, "owl: cannot read %s\n", path);
    return f;
}

/* Call fn on each non-empty line of path (- for stdin) parsed as JSON (NULL when it is not JSON), until fn
 * returns non-zero; returns that, or 1 when the file cannot be read. */
static int jsonl_each(const char *path, int (*fn)(json_t *j, const char *path, long line, void *user), void *user)
{
    FILE *f = open_input(path);
    if (!f)
        return 1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long line_no = 0;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) > 0) {
        line_no++;
        if (strspn(line, " \t\r\n") == (size_t)got)
            continue;
        json_t *j = json_loadb(line, (size_t)got, JSON_DECODE_ANY, NULL);
        rc = fn(j, path, line_no, user);
        json_decref(j);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

static void print_ids(const int32_t *ids, size_t n, bool json)
{
    fputs(json ? "[" : "", stdout);
    for (size_t i = 0; i < n; i++)
        printf(i ? ",%d" : "%d", ids[i]);
    fputs(json ? "]\n" : "\n", stdout);
}

struct encode_line {
    struct owl_tokenizer *tok;
    int bos;
};

/* One line of `tokenize --jsonl`: a JSON string in, a JSON array of ids out. */
static int encode_line(json_t *j, const char *path, long line, void *user)
{
    const struct encode_line *c = user;
    struct owl_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    if (!json_is_string(j)) {
        fprintf(stderr, "owl tokenize: %s line %ld: expected a JSON string\n", path, line);
        return 1;
    }
    if (owl_tokenize(c->tok, json_string_value(j), json_string_length(j), c->bos, &ids, &n, &err) != OWL_OK) {
        fprintf(stderr, "owl tokenize: %s line %ld: %s\n", path, line, err.message);
        return 1;
    }
    print_ids(ids, n, true);
    free(ids);
    return 0;
}

struct decode_line {
    const struct owl_tokenizer *tok;
    int skip;
};

/* One line of `detokenize --jsonl`: a JSON array of ids in, a JSON string out. */
static int decode_line(json_t *j, const char *path, long line, void *user)
{
    const struct decode_line *c = user;
    const size_t m = json_is_array(j) ? json_array_size(j) : 0;
    int32_t *v = calloc(m + 1, sizeof *v);
    bool ok = json_is_array(j);
    for (size_t i = 0; ok && i < m; i++) {
        json_t *e = json_array_get(j, i);
        ok = json_is_integer(e) && json_integer_value(e) >= 0 && json_integer_value(e) <= INT32_MAX;
        v[i] = ok ? (int32_t)json_integer_value(e) : 0;
    }
    struct owl_error err = {0};
    char *text = NULL;
    size_t len = 0;
    int rc = 1;
    if (!ok) {
        fprintf(stderr, "owl detokenize: %s line %ld: expected a JSON array of token ids\n", path, line);
    } else if (owl_detokenize(c->tok, v, m, c->skip, &text, &len, &err) != OWL_OK) {
        fprintf(stderr, "owl detokenize: %s line %ld: %s\n", path, line, err.message);
    } else {
        json_t *s = json_stringn(text, len);
        char *dump = json_dumps(s, JSON_ENCODE_ANY);
        printf("%s\n", dump);
        free(dump);
        json_decref(s);
        rc = 0;
    }
    free(text);
    free(v);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    static const char help[] =
        "usage: owl tokenize MODEL (--text TEXT | --jsonl FILE) [--bos auto|on|off]\n"
        "\n"
        "Encodes text with the model's tokenizer.json. --text prints the ids comma-separated on one line;\n"
        "--jsonl reads one JSON string per line (FILE or - for stdin) and prints one JSON array of ids per\n"
        "line. Special tokens written in the text are matched. --bos: prepend BOS as tokenizer_config.json\n"
        "says (auto, the default), always or never.\n";
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {{"--text", NULL, true, NULL}, {"--jsonl", NULL, true, NULL}, {"--bos", NULL, true, NULL}};
    const int n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    int n_pos;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 1, &n_pos, "tokenize"))
        return EXIT_USAGE;
    const char *text = cli_get(opts, n_opts, "--text"), *jsonl = cli_get(opts, n_opts, "--jsonl");
    const char *bos_s = cli_get(opts, n_opts, "--bos");
    if (n_pos != 1 || !text == !jsonl) {
        fprintf(stderr, "owl tokenize: need MODEL and exactly one of --text, --jsonl\n\n%s", help);
        return EXIT_USAGE;
    }
    int bos = -1;
    if (bos_s && !(strcmp(bos_s, "auto") == 0 || (strcmp(bos_s, "on") == 0 && (bos = 1)) ||
                   (strcmp(bos_s, "off") == 0 && !(bos = 0)))) {
        fprintf(stderr, "owl tokenize: --bos takes auto, on or off, not '%s'\n", bos_s);
        return EXIT_USAGE;
    }
    struct owl_tokenizer *tok = open_tok(pos[0]);
    if (!tok)
        return 1;
    int rc = 0;
    struct owl_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    if (text) {
        if (owl_tokenize(tok, text, strlen(text), bos, &ids, &n, &err) != OWL_OK) {
            fprintf(stderr, "owl tokenize: %s\n", err.message);
            rc = 1;
        } else {
            print_ids(ids, n, false);
        }
        free(ids);
    } else {
        struct encode_line ctx = {.tok = tok, .bos = bos};
        rc = jsonl_each(jsonl, encode_line, &ctx);
    }
    owl_tokenizer_free(tok);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    static const char help[] =
        "usage: owl detokenize MODEL (--ids IDS | --jsonl FILE) [--skip-special]\n"
        "\n"
        "Decodes ids with the model's tokenizer. --ids takes comma-separated ids and prints the text as it\n"
        "is (no newline added); --jsonl reads one JSON array of ids per line and prints one JSON string per\n"
        "line. Invalid UTF-8 becomes U+FFFD. --skip-special drops special tokens.\n";
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {{"--ids", NULL, true, NULL}, {"--jsonl", NULL, true, NULL},
                             {"--skip-special", NULL, false, NULL}};
    const int n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    int n_pos;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 1, &n_pos, "detokenize"))
        return EXIT_USAGE;
    const char *ids_s = cli_get(opts, n_opts, "--ids"), *jsonl = cli_get(opts, n_opts, "--jsonl");
    const int skip = cli_get(opts, n_opts, "--skip-special") != NULL;
    if (n_pos != 1 || !ids_s == !jsonl) {
        fprintf(stderr, "owl detokenize: need MODEL and exactly one of --ids, --jsonl\n\n%s", help);
        return EXIT_USAGE;
    }
    int32_t *ids = NULL;
    int n = 0;
    if (ids_s && !cli_token_list(ids_s, &ids, &n))
        return EXIT_USAGE;
    struct owl_tokenizer *tok = open_tok(pos[0]);
    if (!tok) {
        free(ids);
        return 1;
    }
    int rc = 0;
    struct owl_error err = {0};
    char *text = NULL;
    size_t len = 0;
    if (ids_s) {
        if (owl_detokenize(tok, ids, (size_t)n, skip, &text, &len, &err) != OWL_OK) {
            fprintf(stderr, "owl detokenize: %s\n", err.message);
            rc = 1;
        } else {
            fwrite(text, 1, len, stdout);
        }
        free(text);
    } else {
        struct decode_line ctx = {.tok = tok, .skip = skip};
        rc = jsonl_each(jsonl, decode_line, &ctx);
    }
    free(ids);
    owl_tokenizer_free(tok);
    return rc;
}

/* Parse OpenAI-style messages [{"role", "content", "reasoning_content"}] into msgs (pointing into root). */
static int parse_messages(json_t *root, struct owl_chat_message **out, const char *src)
{
    if (!json_is_array(root)) {
        fprintf(stderr, "owl template: %s: expected a JSON array of messages\n", src);
        return -1;
    }
    const size_t n = json_array_size(root);
    struct owl_chat_message *m = calloc(n + 1, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(root, i), *role = json_object_get(msg, "role"),
               *content = json_object_get(msg, "content"), *reasoning = json_object_get(msg, "reasoning_content");
        if (!reasoning)
            reasoning = json_object_get(msg, "reasoning");
        if (!json_is_string(role) || !(json_is_string(content) || json_is_null(content) || !content) ||
            !(json_is_string(reasoning) || json_is_null(reasoning) || !reasoning)) {
            fprintf(stderr, "owl template: %s: message %zu needs a string 'role' and string (or null) 'content' "
                    "and 'reasoning_content'\n", src, i);
            free(m);
            return -1;
        }
        m[i] = (struct owl_chat_message){.role = json_string_value(role), .content = json_string_value(content),
                                         .reasoning = json_string_value(reasoning)};
    }
    *out = m;
    return (int)n;
}

int cmd_template(int argc, char **argv)
{
    static const char help[] =
        "usage: owl template MODEL --messages FILE [--think on|off] [--reasoning-effort low|medium|high]\n"
        "                  [--date YYYY-MM-DD] [--no-generation-prompt]\n"
        "\n"
        "Renders a conversation into the exact prompt text the model's own chat template produces, and\n"
        "prints it as it is (no newline added). FILE (or - for stdin) holds a JSON array of OpenAI-style\n"
        "messages: {\"role\": \"system|developer|user|assistant|tool\", \"content\": ..., \"reasoning_content\":\n"
        "...}. The format comes from config.json's model_type (Qwen3 ChatML, DeepSeek V3 / V3.1, gpt-oss\n"
        "Harmony). --think switches Qwen3's enable_thinking / DeepSeek V3.1's thinking; --reasoning-effort and\n"
        "--date fill gpt-oss's system message.\n";
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {{"--messages", "-m", true, NULL},       {"--think", NULL, true, NULL},
                             {"--reasoning-effort", NULL, true, NULL}, {"--date", NULL, true, NULL},
                             {"--no-generation-prompt", NULL, false, NULL}};
    const int n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    int n_pos;
    if (!cli_parse(argc, argv, opts, n_opts, pos, 1, &n_pos, "template"))
        return EXIT_USAGE;
    const char *msgs_path = cli_get(opts, n_opts, "--messages"), *think = cli_get(opts, n_opts, "--think");
    const char *effort = cli_get(opts, n_opts, "--reasoning-effort");
    if (n_pos != 1 || !msgs_path) {
        fprintf(stderr, "owl template: need MODEL and --messages\n\n%s", help);
        return EXIT_USAGE;
    }
    struct owl_chat_options co = owl_chat_default_options();
    if (think && strcmp(think, "on") && strcmp(think, "off")) {
        fprintf(stderr, "owl template: --think takes on or off, not '%s'\n", think);
        return EXIT_USAGE;
    }
    if (effort && strcmp(effort, "low") && strcmp(effort, "medium") && strcmp(effort, "high")) {
        fprintf(stderr, "owl template: --reasoning-effort takes low, medium or high, not '%s'\n", effort);
        return EXIT_USAGE;
    }
    co.thinking = think ? strcmp(think, "on") == 0 : -1;
    co.reasoning_effort = effort;
    co.date = cli_get(opts, n_opts, "--date");
    co.add_generation_prompt = cli_get(opts, n_opts, "--no-generation-prompt") == NULL;
    FILE *f = open_input(msgs_path);
    if (!f)
        return 1;
    size_t len;
    char *text = read_stream(f, &len);
    if (f != stdin)
        fclose(f);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root) {
        fprintf(stderr, "owl template: %s: invalid JSON: %s (line %d, column %d)\n", msgs_path, jerr.text, jerr.line,
                jerr.column);
        return 1;
    }
    struct owl_chat_message *msgs = NULL;
    int n = parse_messages(root, &msgs, msgs_path);
    struct owl_tokenizer *tok = n >= 0 ? open_tok(pos[0]) : NULL;
    int rc = 1;
    if (tok) {
        struct owl_error err = {0};
        char *out = NULL;
        size_t out_len = 0;
        if (owl_chat_render(tok, msgs, n, &co, &out, &out_len, &err) != OWL_OK) {
            fprintf(stderr, "owl template: %s\n", err.message);
        } else {
            fwrite(out, 1, out_len, stdout);
            rc = 0;
        }
        free(out);
    }
    owl_tokenizer_free(tok);
    free(msgs);
    json_decref(root);
    return rc;
}
