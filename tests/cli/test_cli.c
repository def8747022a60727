/* test_cli.c — the owl command line as other tools use it: `owl logits` writes the reference logits,
 * `owl run --print-ids` prints the reference greedy ids, --help documents, bad flags exit 2 with a usage
 * message, runtime failures exit 1 with a message naming the problem. Runs the built binary. */
#include <math.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "test_util.h"

/* Run `owl ARGS`, capturing stdout and stderr into out/err (malloc'd); returns the exit status. */
static int owl(const char *args, char **out, char **err)
{
    char cmd[16384], out_path[1100], err_path[1100];
    snprintf(out_path, sizeof out_path, "%s/stdout", test_tmpdir());
    snprintf(err_path, sizeof err_path, "%s/stderr", test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", OWL_BINARY, args, out_path, err_path);
    int rc = system(cmd);
    *out = read_file(out_path, NULL);
    *err = read_file(err_path, NULL);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void check_run(const char *args, int want_rc, const char *want_out, const char *want_err)
{
    char *out, *err;
    int rc = owl(args, &out, &err);
    CHECK_MSG(rc == want_rc, "owl %s: exit %d, expected %d (stderr: %s)", args, rc, want_rc, err ? err : "");
    CHECK_MSG(!want_out || (out && strstr(out, want_out)), "owl %s: stdout lacks '%s': %s", args, want_out,
              out ? out : "");
    CHECK_MSG(!want_err || (err && strstr(err, want_err)), "owl %s: stderr lacks '%s': %s", args, want_err,
              err ? err : "");
    free(out);
    free(err);
}

/* "[1, 2, 3]" from reference.json's key -> "1,2,3" (tiny scanner: the file is our own fixture). */
static void json_ids(const char *json, const char *key, char *buf, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": [", key);
    const char *p = strstr(json, pat);
    OWL_ASSERT(p);
    p += strlen(pat);
    size_t n = 0;
    for (; *p && *p != ']' && n + 1 < size; p++)
        if ((*p >= '0' && *p <= '9') || *p == ',')
            buf[n++] = *p;
    buf[n] = 0;
}

int main(void)
{
    const char *dir = fixture_path("qwen3/gqa-tied");
    char model[1024], args[8192], prompt[1024], greedy[1024], all[2048];
    snprintf(model, sizeof model, "%s", dir);
    char *ref = read_file(fixture_path("qwen3/gqa-tied/reference.json"), NULL);
    CHECK(ref != NULL);
    if (!ref)
        return test_done("test_cli");
    json_ids(ref, "prompt", prompt, sizeof prompt);
    json_ids(ref, "greedy", greedy, sizeof greedy);
    snprintf(all, sizeof all, "%s,%s", prompt, greedy);

    /* owl run --print-ids: the reference greedy continuation, one line */
    snprintf(args, sizeof args, "run '%s' --tokens %s -n 8 --temperature 0 --print-ids -t 2", model, prompt);
    char want[1100];
    snprintf(want, sizeof want, "%s\n", greedy);
    check_run(args, 0, want, NULL);

    /* owl logits: float32 rows equal to transformers' within 1e-3 x max|ref| */
    char out_path[1100];
    snprintf(out_path, sizeof out_path, "%s/logits.f32", test_tmpdir());
    snprintf(args, sizeof args, "logits '%s' --tokens %s --out '%s'", model, all, out_path);
    check_run(args, 0, NULL, NULL);
    size_t got_size = 0, ref_size = 0;
    float *got = read_file(out_path, &got_size), *want_logits = read_file(fixture_path("qwen3/gqa-tied/logits.f32"), &ref_size);
    CHECK_MSG(got && got_size == ref_size, "logits file size %zu, expected %zu", got_size, ref_size);
    if (got && got_size == ref_size) {
        double max_ref = 0, max_diff = 0;
        for (size_t i = 0; i < ref_size / 4; i++) {
            max_ref = fmax(max_ref, fabs(want_logits[i]));
            max_diff = fmax(max_diff, fabs(got[i] - want_logits[i]));
        }
        CHECK_MSG(max_diff <= 1e-3 * max_ref, "owl logits differs by %g", max_diff);
    }
    free(got);
    free(want_logits);

    /* help and usage */
    check_run("--help", 0, "usage: owl COMMAND", NULL);
    check_run("run --help", 0, "--tokens", NULL);
    check_run("logits --help", 0, "float32", NULL);
    check_run("bench --help", 0, "--n-prompt", NULL);
    snprintf(args, sizeof args, "bench '%s' -p 4 -n 3 -r 1 --parallel 3 -t 2", model);
    check_run(args, 0, "tg3 x 3 sequences batched: ", NULL);
    snprintf(args, sizeof args, "bench '%s' -p 4 -n 3 --parallel 0", model);
    check_run(args, 2, NULL, "--parallel");
    check_run("", 2, NULL, "usage");
    check_run("frobnicate", 2, NULL, "unknown command 'frobnicate'");
    snprintf(args, sizeof args, "run '%s' --tokens 1,2 --bogus", model);
    check_run(args, 2, NULL, "unknown option '--bogus'");
    snprintf(args, sizeof args, "run '%s' --tokens 1,,2", model);
    check_run(args, 2, NULL, "--tokens");
    snprintf(args, sizeof args, "run '%s' --tokens 1,2 -n many", model);
    check_run(args, 2, NULL, "'many'");
    snprintf(args, sizeof args, "run '%s' --tokens", model);
    check_run(args, 2, NULL, "needs a value");
    check_run("logits --tokens 1", 2, NULL, "need MODEL");

    /* runtime failures: exit 1 and a message naming the problem */
    check_run("run /nonexistent/model --tokens 1 -n 1", 1, NULL, "/nonexistent/model");
    snprintf(args, sizeof args, "run '%s' --tokens 1,99999 -n 1", model);
    check_run(args, 1, NULL, "token 99999");
    snprintf(args, sizeof args, "run '%s' --tokens 1,2 -n 100 --ctx 8", model);
    check_run(args, 1, NULL, "context");

    free(ref);
    return test_done("test_cli");
}
