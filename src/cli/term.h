/* term.h — terminal output of `owl run -p` (term.c): colour policy, a chat reply with its reasoning dimmed
 * through the chat module's streaming parser, Ctrl-C, the summary line. */
#ifndef OWL_CLI_TERM_H
#define OWL_CLI_TERM_H

#include <stdbool.h>
#include <stdio.h>

#include "chat/chat.h"
#include "owl.h"

/* Colour for f: a terminal, and NO_COLOR unset or empty. */
bool term_colour(FILE *f);

/* Ctrl-C sets a flag generation loops poll (term_interrupted); a second Ctrl-C ends the process. */
void term_catch_sigint(void);
void term_release_sigint(void);
bool term_interrupted(void);

struct term_reply {
    FILE *out;
    bool parsing;             /* a chat reply shown in styles; false: text written as it comes */
    struct chat_parser parser;
    const char *style;        /* escape sequence in effect ("" = plain) */
};

/* A reply written to out. format: the chat format the prompt was rendered in (owl_chat_format_name), with
 * think / effort as given to the template; NULL for raw text. Styles only with colour and a format;
 * otherwise text passes through untouched. */
void term_reply_init(struct term_reply *r, FILE *out, const char *format, const char *think, const char *effort,
                     bool colour);
void term_reply_write(struct term_reply *r, const char *text, size_t len);
void term_reply_finish(struct term_reply *r); /* flushes held text, resets the style, frees the parser */

/* One line on f: prompt and generation tokens/s, peak resident memory, whether Ctrl-C stopped it. */
void term_summary(FILE *f, int n_prompt, double t_prompt, long n_gen, double t_gen, bool interrupted);

#endif
