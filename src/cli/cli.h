/* cli.h — shared pieces of the owl command-line tool: option parsing and model/session setup.
 * The CLI uses only the public API (owl.h) plus src/sample. */
#ifndef OWL_CLI_H
#define OWL_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "owl.h"

/* Exit codes: 0 ok, 1 runtime failure (bad model file, ...), 2 usage error. */
enum { EXIT_USAGE = 2 };

/* One option of a command: long name, optional short name, whether it takes a value. */
struct cli_opt {
    const char *name;  /* "--tokens" */
    const char *alias; /* "-n" or NULL */
    bool has_value;
    const char *value; /* filled by cli_parse: the value, or "1" for a flag that was given */
};

/* Parse argv (after the command name) against opts; non-option words go to positional (up to
 * max_pos). Prints a usage error naming the bad word and returns false on unknown options, missing
 * values or too many positional arguments. "--name=value" is accepted. */
bool cli_parse(int argc, char **argv, struct cli_opt *opts, int n_opts, const char **positional, int max_pos,
               int *n_pos, const char *cmd);
const char *cli_get(const struct cli_opt *opts, int n_opts, const char *name);

/* Strict numeric parsing; false (and a message naming the option) on junk or out-of-range values. */
bool cli_int(const char *opt, const char *s, long lo, long hi, long *out);
bool cli_float(const char *opt, const char *s, double *out);
/* "1,2,3" -> malloc'd array; false with a message on a bad list. */
bool cli_token_list(const char *s, int32_t **out, int *n);

int cmd_logits(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_serve(int argc, char **argv); /* src/server/cmd_serve.c */

#endif
