/* test_cli.c — the owl command line as other tools use it: `owl logits` writes the reference logits,
 * `owl run --print-ids` prints the reference greedy ids, --help documents, bad flags exit 2 with a usage
 * message, runtime failures exit 1 with a message naming the problem. Runs the built binary. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

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
    owl_check(args, 0, want, NULL);

    /* --kv f16: the same greedy continuation on this fixture (the cache rounding moves logits by ~1e-3); a bad
     * type is refused naming it; bench at a depth reports the half cache */
    snprintf(args, sizeof args, "run '%s' --tokens %s -n 8 --temperature 0 --print-ids -t 2 --kv f16", model, prompt);
    owl_check(args, 0, want, NULL);
    snprintf(args, sizeof args, "run '%s' --tokens %s -n 2 --kv f8", model, prompt);
    owl_check(args, 1, NULL, "kv 'f8'");
    snprintf(args, sizeof args, "bench '%s' -p 0 -n 2 -d 16 -r 1 --kv f16", model);
    owl_check(args, 0, "(f16; ", NULL);

    /* owl logits: float32 rows equal to transformers' within 1e-3 x max|ref| */
    char out_path[1100];
    snprintf(out_path, sizeof out_path, "%s/logits.f32", test_tmpdir());
    snprintf(args, sizeof args, "logits '%s' --tokens %s --out '%s'", model, all, out_path);
    owl_check(args, 0, NULL, NULL);
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
    owl_check("--help", 0, "usage: owl COMMAND", NULL);
    owl_check("run --help", 0, "--tokens", NULL);
    owl_check("logits --help", 0, "float32", NULL);
    owl_check("bench --help", 0, "--n-prompt", NULL);
    snprintf(args, sizeof args, "bench '%s' -p 4 -n 3 -r 1 --parallel 3 -t 2", model);
    owl_check(args, 0, "tg3 x 3 sequences batched: ", NULL);
    /* bench --json: one object whose means are its runs' means and whose bound follows from its probes */
    snprintf(args, sizeof args, "bench '%s' -p 4 -n 3 -r 2 -d 5 --parallel 2 -t 2 --json", model);
    char *jout = NULL;
    CHECK(owl_cli(args, &jout, NULL) == 0);
    json_t *b = jout ? json_loads(jout, 0, NULL) : NULL;
    CHECK_MSG(b != NULL, "bench --json printed: %s", jout ? jout : "");
    if (b) {
        CHECK(json_integer_value(json_object_get(b, "n_prompt")) == 4 && json_integer_value(json_object_get(b, "depth")) == 5 &&
              json_integer_value(json_object_get(b, "threads")) == 2);
        CHECK(strcmp(json_string_value(json_object_get(b, "family")), "qwen3") == 0);
        CHECK(json_integer_value(json_object_get(b, "weights_bytes_per_token")) > 0);
        const char *keys[] = {"pp", "tg", "tg_batched"};
        for (int i = 0; i < 3; i++) {
            json_t *t = json_object_get(b, keys[i]), *runs = json_object_get(t, "runs");
            CHECK_MSG(json_is_array(runs) && json_array_size(runs) == 2, "bench --json: %s.runs", keys[i]);
            const double mean = (json_number_value(json_array_get(runs, 0)) + json_number_value(json_array_get(runs, 1))) / 2;
            CHECK_MSG(mean > 0 && fabs(json_number_value(json_object_get(t, "tokens_per_s")) - mean) <= 1e-5 * mean,
                      "bench --json: %s mean", keys[i]);
        }
        json_t *tg = json_object_get(b, "tg"), *bw = json_object_get(tg, "read_bandwidth_gbs");
        CHECK(json_array_size(bw) == 3 && json_number_value(json_object_get(tg, "bound_tokens_per_s")) > 0);
        CHECK(json_number_value(json_object_get(tg, "fraction_of_bound")) > 0);
        /* each probe's median pass is at most its best, so the fraction against the medians at least the other */
        json_t *bwm = json_object_get(tg, "read_bandwidth_median_gbs");
        CHECK(json_array_size(bwm) == 3);
        for (size_t i = 0; i < json_array_size(bwm) && i < json_array_size(bw); i++)
            CHECK(json_number_value(json_array_get(bwm, i)) > 0 &&
                  json_number_value(json_array_get(bwm, i)) <= json_number_value(json_array_get(bw, i)));
        CHECK(json_number_value(json_object_get(tg, "fraction_of_median_bound")) >=
              json_number_value(json_object_get(tg, "fraction_of_bound")));
        /* keys 6 .. 8 visible, every layer: the cache a token reads on average */
        CHECK(json_number_value(json_object_get(tg, "cache_bytes_per_token")) > 0);
        CHECK(json_integer_value(json_object_get(json_object_get(b, "tg_batched"), "sequences")) == 2);
        json_decref(b);
    }
    free(jout);
    /* --window-rows on gpt-oss (window 4): 128 rows kept where the context is longer; each run's 100 tokens move the
     * rows past the depth's window, so bench evaluates the depth again before the next run */
    snprintf(args, sizeof args, "bench '%s' -p 0 -n 100 -d 300 -c 420 -b 8 -r 2 --window-rows 1",
             fixture_path("gpt_oss/mxfp4-released"));
    char *bout = NULL;
    CHECK(owl_cli(args, &bout, NULL) == 0);
    CHECK_MSG(bout && strstr(bout, "cache held at 400 positions: ") && strstr(bout, "(sliding-window layers 128 rows each; "),
              "bench --window-rows: %s", bout ? bout : "");
    free(bout);
    snprintf(args, sizeof args, "bench '%s' -p 0 -n 2 --window-rows many", model);
    owl_check(args, 2, NULL, "--window-rows");
    snprintf(args, sizeof args, "run '%s' --tokens 1,2 -n 2 --threads none", model); /* the shared options: usage too */
    owl_check(args, 2, NULL, "--threads");
    snprintf(args, sizeof args, "bench '%s' -p 4 -n 3 --parallel 0", model);
    owl_check(args, 2, NULL, "--parallel");
    owl_check("", 2, NULL, "usage");
    owl_check("frobnicate", 2, NULL, "unknown command 'frobnicate'");
    snprintf(args, sizeof args, "run '%s' --tokens 1,2 --bogus", model);
    owl_check(args, 2, NULL, "unknown option '--bogus'");
    snprintf(args, sizeof args, "run '%s' --tokens 1,,2", model);
    owl_check(args, 2, NULL, "--tokens");
    snprintf(args, sizeof args, "run '%s' --tokens 1,2 -n many", model);
    owl_check(args, 2, NULL, "'many'");
    snprintf(args, sizeof args, "run '%s' --tokens", model);
    owl_check(args, 2, NULL, "needs a value");
    owl_check("logits --tokens 1", 2, NULL, "need MODEL");

    /* runtime failures: exit 1 and a message naming the problem */
    owl_check("run /nonexistent/model --tokens 1 -n 1", 1, NULL, "/nonexistent/model");
    snprintf(args, sizeof args, "run '%s' --tokens 1,99999 -n 1", model);
    owl_check(args, 1, NULL, "token 99999");
    snprintf(args, sizeof args, "run '%s' --tokens 1,2 -n 100 --ctx 8", model);
    owl_check(args, 1, NULL, "context");

    free(ref);
    return test_done("test_cli");
}
