/* model_check.h — the checks every model family's fixture test runs against transformers' reference
 * (tests/fixtures/<family>/<case>/: config + weights, reference.json, logits.f32 as written by
 * tools/gen_qwen3_fixtures.py and tools/gen_moe_fixtures.py).
 *
 * model_check_case: (1) logits of every position of prompt+greedy within 1e-3 x max|ref|; (2) greedy
 * generation equals the reference (a mismatch is only forgiven at a near-tie, top-2 gap below the
 * tolerance); (3) token-by-token decoding and chunked prefill give the batched prefill's logits; (4) the KV
 * cache is reused across calls and truncation rewinds it; bad input leaves the session unchanged.
 * model_check_rope: the RoPE inverse frequencies and attention factor equal what transformers built.
 * model_check_logits: the batched logits alone, for family checks (e.g. two forms of one computation agree).
 */
#ifndef OWL_MODEL_CHECK_H
#define OWL_MODEL_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "owl.h"

/* dir: fixture directory relative to tests/fixtures ("gpt_oss/mxfp4-released"). Returns max|owl - ref|
 * over all logits (or -1 when the case could not be run; the failure is counted). */
double model_check_case(const char *dir);

/* As above for the RoPE tables; the rotated dims are config.json's qk_rope_head_dim (DeepSeek) or head_dim. */
void model_check_rope(const char *dir);

/* Logits of the fixture's prompt + greedy tokens from one batched forward, (n_prompt + n_gen, n_vocab) floats
 * (*n_values of them), owned by the caller; NULL when the case could not be run (the failure is counted). */
float *model_check_logits(const char *dir, size_t *n_values);

/* Open the fixture and check its family name, owl_model_decode_bytes (== decode_bytes) and that the
 * description contains describe_has. */
void model_check_meta(const char *dir, const char *family, size_t decode_bytes, const char *describe_has);

/* Logits of tokens (n) from one batched forward of the model at path (a directory or .gguf), opened with
 * params (NULL: defaults): n x *n_vocab floats, owned by the caller; NULL when it could not run (counted). */
float *model_logits(const char *path, const struct owl_model_params *params, const int32_t *tokens, int n,
                    int *n_vocab);

/* Mean over rows of KL(softmax(p) || softmax(q)) in nats: how far q's next-token distributions are from p's. */
double mean_kl(const float *p, const float *q, int rows, int n_vocab);

#endif
