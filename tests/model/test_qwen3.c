/* test_qwen3.c — Qwen3 dense against transformers: tiny random checkpoints in the released layouts
 * (tests/fixtures/qwen3/, made by tools/gen_qwen3_fixtures.py) with reference logits computed in
 * float64 with eager attention.
 *
 * Per case: (1) logits of every position of prompt+greedy within 1e-3 x max|ref|; (2) greedy generation
 * equals the reference (a mismatch is only forgiven at a near-tie, top-2 gap below the tolerance);
 * (3) token-by-token decoding and chunked prefill give the batched prefill's logits; (4) the KV cache is
 * reused across calls and truncation rewinds it; (5) the RoPE inverse frequencies equal transformers'.
 * The checks live in tests/model_check.c, shared with the other families' tests.
 */
#include <stdio.h>

#include "model_check.h"
#include "test_util.h"

static const char *const cases[] = {"gqa-tied", "mqa-untied-sharded", "yarn-released", "yarn-type-key", "yarn-v5"};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[128];
        snprintf(dir, sizeof dir, "qwen3/%s", cases[i]);
        model_check_rope(dir);
        model_check_case(dir);
    }
    return test_done("test_qwen3");
}
