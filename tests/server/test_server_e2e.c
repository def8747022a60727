/* test_server_e2e.c — `owl serve` black-box with the official `openai` npm client: builds a tiny model with a
 * real tokenizer (the gqa-tied fixture + the first 448 tokens of Qwen3's tokenizer and the chat markers,
 * as test_cli_text.c does), then runs tests/server/e2e.mjs under node, which starts the servers on loopback
 * and drives them (stream / non-stream, reasoning control, stop, max_tokens, 16 concurrent streams vs one at
 * a time, disconnects, 400s, 429). The openai package is installed by scripts/fetch-testdata.sh into
 * .testdata/node; without it (or node) the test prints SKIP, and fails under CI. */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_util.h"

static const char *testdata_root(void)
{
    static char dir[1024];
    const char *env = getenv("OWL_TESTDATA");
    if (env)
        snprintf(dir, sizeof dir, "%s", env);
    else
        snprintf(dir, sizeof dir, "%s/../../.testdata", OWL_FIXTURES);
    return dir;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *d = read_file(from, &n);
    OWL_ASSERT(d && write_file(to, d, n) == 0);
    free(d);
}

/* DIR = the gqa-tied fixture + a 453-token tokenizer cut from Qwen3's (same cut as test_cli_text.c). */
static bool make_text_model(const char *qwen3_dir, const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", qwen3_dir);
    json_t *t = json_load_file(path, 0, NULL);
    if (!t)
        return false;
    json_t *model = json_object_get(t, "model"), *vocab = json_object_get(model, "vocab"), *small = json_object();
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val)
        if (json_integer_value(val) < 448)
            json_object_set(small, key, val);
    json_t *merges = json_object_get(model, "merges"), *kept = json_array();
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *m = json_array_get(merges, i);
        char a[256], b[256], ab[512];
        if (json_is_string(m)) {
            if (sscanf(json_string_value(m), "%255s %255s", a, b) != 2)
                continue;
        } else {
            snprintf(a, sizeof a, "%s", json_string_value(json_array_get(m, 0)));
            snprintf(b, sizeof b, "%s", json_string_value(json_array_get(m, 1)));
        }
        snprintf(ab, sizeof ab, "%s%s", a, b);
        if (json_object_get(small, a) && json_object_get(small, b) && json_object_get(small, ab))
            json_array_append(kept, m);
    }
    json_object_set_new(model, "vocab", small);
    json_object_set_new(model, "merges", kept);
    static const char *const added[] = {"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"};
    json_t *adds = json_array();
    for (int i = 0; i < 5; i++)
        json_array_append_new(adds, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 448 + i, "content",
                                              added[i], "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0,
                                              "special", i < 3));
    json_object_set_new(t, "added_tokens", adds);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    bool ok = json_dump_file(t, path, 0) == 0;
    json_decref(t);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    const char *cfg = "{\"eos_token\": \"<|im_end|>\", \"bos_token\": null, \"add_bos_token\": false}";
    ok = ok && write_file(path, cfg, strlen(cfg)) == 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    copy_file(fixture_path("qwen3/gqa-tied/config.json"), path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    copy_file(fixture_path("qwen3/gqa-tied/model.safetensors"), path);
    return ok;
}

int main(void)
{
    char qdir[1100], pkg[1100], probe[1200], dir[1100], cmd[8192];
    snprintf(qdir, sizeof qdir, "%s/tokenizers/qwen3", testdata_root());
    snprintf(pkg, sizeof pkg, "%s/node", testdata_root());
    struct stat st;
    snprintf(probe, sizeof probe, "%s/tokenizer.json", qdir);
    const bool have_tok = stat(probe, &st) == 0;
    snprintf(probe, sizeof probe, "%s/node_modules/openai/package.json", pkg);
    const bool have_openai = stat(probe, &st) == 0;
    const bool have_node = system("command -v node >/dev/null 2>&1") == 0;
    if (!have_tok || !have_openai || !have_node) {
        printf("SKIP: needs node, %s/tokenizer.json and the openai package in %s (run scripts/fetch-testdata.sh)\n",
               qdir, pkg);
        CHECK_MSG(!getenv("CI"), "test data missing under CI");
        return test_done("test_server_e2e");
    }
    snprintf(dir, sizeof dir, "%s/server-model", test_tmpdir());
    CHECK(make_text_model(qdir, dir));
    snprintf(cmd, sizeof cmd, "node '%s/../server/e2e.mjs' '%s' '%s' '%s'", OWL_FIXTURES, OWL_BINARY, dir, pkg);
    int rc = system(cmd);
    CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "e2e.mjs failed (status %d)", rc);
    return test_done("test_server_e2e");
}
