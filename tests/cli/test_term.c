/* test_term.c — the terminal side of `owl run -p` (src/cli/term.c, compiled in here: it belongs to the owl
 * executable, not the library): a chat reply's reasoning dimmed through the chat module's streaming parser
 * (Qwen3 think tags, Harmony channels), pass-through without colour, the colour policy, Ctrl-C, the summary.
 * The expected bytes are written out by hand from the markup. */
#include <signal.h>
#include <stdlib.h>

#include "cli/term.c"
#include "test_util.h"

/* Feed text in pieces of k bytes through a reply; the bytes written (malloc'd). */
static char *reply_of(const char *format, bool colour, const char *text, size_t k)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    struct term_reply r;
    term_reply_init(&r, f, format, NULL, NULL, colour);
    for (size_t i = 0, n = strlen(text); i < n; i += k)
        term_reply_write(&r, text + i, i + k <= n ? k : n - i);
    term_reply_finish(&r);
    fclose(f);
    return buf;
}

static void check_reply(const char *format, bool colour, const char *text, const char *want)
{
    for (size_t k = 1; k <= strlen(text); k += 3) {
        char *got = reply_of(format, colour, text, k);
        CHECK_MSG(strcmp(got, want) == 0, "%s, pieces of %zu: got '%s'", format ? format : "raw", k, got);
        free(got);
    }
}

int main(void)
{
    check_reply("qwen3", true, "<think>\nthe plan\n</think>\n\nHello!", DIM "the plan" RESET "\nHello!");
    check_reply("qwen3", true, "Just an answer", "Just an answer");
    check_reply("qwen3", true, "<think>\ncut off", DIM "cut off" RESET);
    check_reply("qwen3", true, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>",
                CYAN "[tool call] f {\"x\":1}" RESET);
    check_reply("harmony", true,
                "<|channel|>analysis<|message|>thinking<|end|><|start|>assistant<|channel|>final<|message|>Hi",
                DIM "thinking" RESET "\nHi");
    /* no colour, or raw text: the model's bytes untouched */
    check_reply("qwen3", false, "<think>\nx\n</think>\n\ny", "<think>\nx\n</think>\n\ny");
    check_reply(NULL, true, "<think>\nx\n</think>\n\ny", "<think>\nx\n</think>\n\ny");

    /* colour only on a terminal: a memory stream is none */
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    CHECK(!term_colour(f));
    term_summary(f, 12, 0.5, 33, 2.0, true);
    fclose(f);
    CHECK_MSG(strstr(buf, "prompt 12 tokens, 24.0 tok/s | generated 33 tokens, 16.0 tok/s | peak memory ") &&
                  strstr(buf, "| interrupted\n"),
              "%s", buf);
    free(buf);

    /* Ctrl-C sets the flag once; the handler is then the default again */
    term_catch_sigint();
    CHECK(!term_interrupted());
    raise(SIGINT);
    CHECK(term_interrupted());
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL);
    term_release_sigint();
    return test_done("test_term");
}
