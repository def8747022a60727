/* cli_util.c — option parsing helpers shared by the owl commands (see cli.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

bool cli_parse(int argc, char **argv, struct cli_opt *opts, int n_opts, const char **positional, int max_pos,
               int *n_pos, const char *cmd)
{
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "owl %s: unexpected argument '%s' (see owl %s --help)\n", cmd, a, cmd);
                return false;
            }
            positional[(*n_pos)++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        struct cli_opt *o = NULL;
        for (int j = 0; j < n_opts; j++)
            if ((strlen(opts[j].name) == len && strncmp(opts[j].name, a, len) == 0) ||
                (opts[j].alias && strlen(opts[j].alias) == len && strncmp(opts[j].alias, a, len) == 0))
                o = &opts[j];
        if (!o) {
            fprintf(stderr, "owl %s: unknown option '%.*s' (see owl %s --help)\n", cmd, (int)len, a, cmd);
            return false;
        }
        if (!o->has_value) {
            if (eq) {
                fprintf(stderr, "owl %s: option '%s' takes no value\n", cmd, o->name);
                return false;
            }
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "owl %s: option '%s' needs a value\n", cmd, o->name);
            return false;
        }
    }
    return true;
}

const char *cli_get(const struct cli_opt *opts, int n_opts, const char *name)
{
    for (int j = 0; j < n_opts; j++)
        if (strcmp(opts[j].name, name) == 0)
            return opts[j].value;
    return NULL;
}

bool cli_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "owl: %s: '%s' is not an integer in %ld..%ld\n", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_float(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v != v) {
        fprintf(stderr, "owl: %s: '%s' is not a number\n", opt, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_token_list(const char *s, int32_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    int cap = 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            fprintf(stderr, "owl: --tokens: bad token id list '%s' (expected comma-separated ids like 1,2,3)\n", s);
            free(ids);
            return false;
        }
        if (*n == cap)
            ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[(*n)++] = (int32_t)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) {
            fprintf(stderr, "owl: --tokens: trailing comma in '%s'\n", s);
            free(ids);
            return false;
        }
    }
    if (*n == 0) {
        fprintf(stderr, "owl: --tokens: empty token list\n");
        free(ids);
        return false;
    }
    *out = ids;
    return true;
}
