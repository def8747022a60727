/* test_util.c — see test_util.h. */
#include "test_util.h"

#include <jansson.h>
#include <sys/stat.h>

#include <ftw.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/stat.h>

int test_failures = 0;
int test_checks = 0;

int test_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, test_checks - test_failures, test_failures);
    return test_failures ? 1 : 0;
}

const char *fixture_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", OWL_FIXTURES, rel);
    return buf;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static char g_tmpdir[1024];
static void remove_tmpdir(void) { nftw(g_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

const char *test_tmpdir(void)
{
    char *dir = g_tmpdir;
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof g_tmpdir, "%s/owl-test-%ld", base && *base ? base : "/tmp", (long)getpid());
        mkdir(dir, 0700);
        atexit(remove_tmpdir);
    }
    return dir;
}

int write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && n == size) ? 0 : -1;
}

void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (!got)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = 0;
    if (size)
        *size = n;
    return buf;
}

const char *testdata_path(const char *rel)
{
    static char buf[4096];
    const char *env = getenv("OWL_TESTDATA");
    if (env && *env)
        snprintf(buf, sizeof buf, "%s/%s", env, rel);
    else
        snprintf(buf, sizeof buf, "%s/../../.testdata/%s", OWL_FIXTURES, rel);
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *d = read_file(from, &n);
    OWL_ASSERT(d && write_file(to, d, n) == 0);
    free(d);
}

bool make_text_model(const char *qwen3_dir, const char *dir)
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

int owl_cli(const char *args, char **out, char **err)
{
    char cmd[16384], out_path[1100], err_path[1100];
    snprintf(out_path, sizeof out_path, "%s/stdout", test_tmpdir());
    snprintf(err_path, sizeof err_path, "%s/stderr", test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", OWL_BINARY, args, out_path, err_path);
    const int rc = system(cmd);
    if (out)
        *out = read_file(out_path, NULL);
    if (err)
        *err = read_file(err_path, NULL);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void owl_check(const char *args, int want_rc, const char *want_out, const char *want_err)
{
    char *out, *err;
    const int rc = owl_cli(args, &out, &err);
    CHECK_MSG(rc == want_rc, "owl %s: exit %d, expected %d (stderr: %s)", args, rc, want_rc, err ? err : "");
    CHECK_MSG(!want_out || (out && strstr(out, want_out)), "owl %s: stdout lacks '%s': %s", args, want_out,
              out ? out : "");
    CHECK_MSG(!want_err || (err && strstr(err, want_err)), "owl %s: stderr lacks '%s': %s", args, want_err,
              err ? err : "");
    free(out);
    free(err);
}
