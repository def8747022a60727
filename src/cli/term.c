/* term.c — the terminal side of `owl run -p`: colour only on a terminal and never with NO_COLOR
 * (https://no-color.org), a chat reply split by the chat module's streaming parser with its reasoning
 * dimmed, Ctrl-C that stops generation cleanly, and the one-line summary (speeds, peak memory).
 * Without colour the reply is printed exactly as the model wrote it, so pipes and scripts see raw text.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>


#include "cli/term.h"

#define DIM "\033[2m"
#define CYAN "\033[36m"
#define RESET "\033[0m"

bool term_colour(FILE *f)
{
    const char *no = getenv("NO_COLOR");
    return isatty(fileno(f)) && !(no && no[0]);
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1; /* SA_RESETHAND: a second Ctrl-C ends the process as usual */
}

void term_catch_sigint(void)
{
    interrupted = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

void term_release_sigint(void) { signal(SIGINT, SIG_DFL); }

bool term_interrupted(void) { return interrupted != 0; }

void term_reply_init(struct term_reply *r, FILE *out, const char *format, const char *think, const char *effort,
                     bool colour)
{
    memset(r, 0, sizeof *r);
    r->out = out;
    r->style = "";
    const char *name = colour ? format : NULL;
    for (int f = CHAT_QWEN3; name && f <= CHAT_HARMONY; f++) {
        if (strcmp(name, chat_format_name((enum chat_format)f)) != 0)
            continue;
        struct chat_options ro = chat_default_options();
        ro.thinking = think ? strcmp(think, "on") == 0 : -1;
        ro.reasoning_effort = effort;
        const struct chat_parse_options po = chat_parse_default_options((enum chat_format)f, &ro);
        chat_parser_init(&r->parser, (enum chat_format)f, &po);
        r->parsing = true;
    }
}

/* A delta in its style: reasoning dim, tool calls cyan ("[tool call] name args"), content plain; a line
 * break where reasoning ends (the parser drops the newlines around the markup). */
static void print_delta(void *user, const struct chat_delta *d)
{
    struct term_reply *r = user;
    const char *style = d->kind == CHAT_DELTA_REASONING ? DIM : d->kind == CHAT_DELTA_CONTENT ? "" : CYAN;
    if (strcmp(style, r->style) != 0) {
        if (r->style[0])
            fputs(RESET, r->out);
        if (strcmp(r->style, DIM) == 0)
            fputc('\n', r->out);
        fputs(style, r->out);
        r->style = style;
    }
    if (d->kind == CHAT_DELTA_TOOL_NAME)
        fprintf(r->out, "%s[tool call] ", d->tool_index ? "\n" : "");
    fwrite(d->text, 1, d->len, r->out);
    if (d->kind == CHAT_DELTA_TOOL_NAME)
        fputc(' ', r->out);
}

void term_reply_write(struct term_reply *r, const char *text, size_t len)
{
    if (!r->parsing) {
        fwrite(text, 1, len, r->out);
        return;
    }
    chat_parser_feed(&r->parser, text, len, print_delta, r);
}

void term_reply_finish(struct term_reply *r)
{
    if (r->parsing) {
        chat_parser_finish(&r->parser, print_delta, r);
        if (r->style[0])
            fputs(RESET, r->out);
        chat_parser_free(&r->parser);
        r->parsing = false;
    }
    fflush(r->out);
}

void term_summary(FILE *f, int n_prompt, double t_prompt, long n_gen, double t_gen, bool interrupted_run)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double rss = (double)ru.ru_maxrss * 1024.0; /* Linux: KiB */
    const bool colour = term_colour(f);
    /* the first generated token comes from the prompt's logits: the rate counts the n_gen - 1 after it */
    fprintf(f, "%sprompt %d tokens, %.1f tok/s | generated %ld tokens, %.1f tok/s | peak memory %.2f GiB%s%s\n",
            colour ? DIM : "", n_prompt, t_prompt > 0 ? n_prompt / t_prompt : 0.0, n_gen,
            n_gen > 1 && t_gen > 0 ? (n_gen - 1) / t_gen : 0.0, rss / (1024.0 * 1024 * 1024),
            interrupted_run ? " | interrupted" : "", colour ? RESET : "");
}
