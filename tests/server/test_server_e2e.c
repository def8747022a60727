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

int main(void)
{
    char qdir[1100], pkg[1100], probe[1200], dir[1100], cmd[8192];
    snprintf(qdir, sizeof qdir, "%s", testdata_path("tokenizers/qwen3"));
    snprintf(pkg, sizeof pkg, "%s", testdata_path("node"));
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
