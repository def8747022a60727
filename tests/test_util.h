/* test_util.h — tiny test harness: CHECK macros that count failures, fixture paths, file helpers.
 * Each test executable returns test_done(): non-zero if any CHECK failed. */
#ifndef OWL_TEST_UTIL_H
#define OWL_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

#include "base/base.h"

extern int test_failures;
extern int test_checks;

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        test_checks++;                                                                      \
        if (!(cond)) {                                                                      \
            test_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                                   \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                \
    do {                                                                                    \
        test_checks++;                                                                      \
        if (!(cond)) {                                                                      \
            test_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
        }                                                                                   \
    } while (0)

/* CHECK that a call returned OWL_OK, printing the error message otherwise. */
#define CHECK_OK(call, err)                                                                 \
    do {                                                                                    \
        enum owl_status st_ = (call);                                                       \
        CHECK_MSG(st_ == OWL_OK, "%s: %s", owl_status_name(st_), (err)->message);          \
    } while (0)

/* Print "N passed, M failed" and return the exit code. */
int test_done(const char *name);

/* Path under tests/fixtures (static buffer, valid until the next call). */
const char *fixture_path(const char *rel);

/* Temporary directory unique to this process (created on first use, under $TMPDIR or /tmp). */
const char *test_tmpdir(void);

/* Write size bytes to path; returns 0 on success. */
int write_file(const char *path, const void *data, size_t size);

/* Read a whole file (malloc'd, NUL-terminated); NULL on failure. */
void *read_file(const char *path, size_t *size);

/* Path under the fetched test data (scripts/fetch-testdata.sh: $OWL_TESTDATA or .testdata/ beside tests/),
 * in a static buffer valid until the next call. */
const char *testdata_path(const char *rel);

/* Write a tiny model with a real tokenizer into dir: the qwen3/gqa-tied fixture (vocab 512) with a 453-token
 * tokenizer cut from Qwen3's tokenizer.json in qwen3_dir (its first 448 tokens and the merges among them,
 * plus <|im_start|> <|im_end|> <|endoftext|> <think> </think>). false when the tokenizer cannot be read. */
bool make_text_model(const char *qwen3_dir, const char *dir);

/* Run the built `owl ARGS` (a shell command line), capturing stdout and stderr into *out / *err (malloc'd,
 * either may be NULL to drop it); returns the exit status. */
int owl_cli(const char *args, char **out, char **err);
/* owl_cli, then check the exit status and that stdout / stderr contain the given text (NULL: anything). */
void owl_check(const char *args, int want_rc, const char *want_out, const char *want_err);

#endif
