/* test_compare.c — the built-in released configs (owl compare) against the parameter counts their
 * publishers state: total, non-embedding (Qwen3 model cards), active per token, total with the MTP layer
 * (DeepSeek-V3). The reference is the publishers' numbers, typed in from the model cards and reports;
 * owl's counts come from the hyper-parameters alone (describe_config).
 *
 * Conventions: owl's active count leaves out the input embedding table (a lookup, not a matmul), as
 * OpenAI's gpt-oss card counts; Qwen's "activated" figures include it, so it is added back for them.
 * Published figures are rounded (often to two significant digits); each must agree within 1%, except where
 * the rounding itself is wider than 1% — those few carry their own bound and say why.
 */
#include <math.h>
#include <stdlib.h>

#include "owl.h"
#include "test_util.h"

struct published {
    const char *name;
    double total;         /* parameters of the main model */
    double non_embedding; /* 0: not published */
    double active;        /* per token; 0: not published (dense) */
    bool active_with_embedding; /* the publisher counts the input embedding as active */
    double with_mtp;      /* total including multi-token-prediction layers; 0: none */
    double tol_total, tol_active; /* relative bounds; 0 = the default 1% */
};

#define B 1e9
static const struct published pub[] = {
    /* Qwen3 model cards: "Number of Parameters: X; Number of Parameters (Non-Embedding): Y" */
    {"Qwen3-0.6B", 0.6 * B, 0.44 * B, 0, false, 0, 0, 0},
    /* 1.72B, published as "1.7B" (two digits: the figure stands for 1.65..1.75, 1.2% from ours) */
    {"Qwen3-1.7B", 1.7 * B, 1.4 * B, 0, false, 0, 0.015, 0},
    {"Qwen3-4B", 4.0 * B, 3.6 * B, 0, false, 0, 0, 0},
    {"Qwen3-8B", 8.2 * B, 6.95 * B, 0, false, 0, 0, 0},
    {"Qwen3-14B", 14.8 * B, 13.2 * B, 0, false, 0, 0, 0},
    {"Qwen3-32B", 32.8 * B, 31.2 * B, 0, false, 0, 0, 0},
    /* "30.5B in total and 3.3B activated": activated with the embedding is 3.353B, 1.6% above "3.3B"
     * (the two-digit rounding spans 3%; without the embedding it would be 3.04B, far off) */
    {"Qwen3-30B-A3B", 30.5 * B, 29.9 * B, 3.3 * B, true, 0, 0, 0.02},
    {"Qwen3-235B-A22B", 235 * B, 234 * B, 22 * B, true, 0, 0, 0},
    /* gpt-oss model card, table of parameter counts: total and active (active without the embedding) */
    {"gpt-oss-20b", 20.91 * B, 0, 3.61 * B, false, 0, 0, 0},
    {"gpt-oss-120b", 116.83 * B, 0, 5.13 * B, false, 0, 0, 0},
    /* "671B total, 37B activated; 685B including the 14B MTP module". Activated without the input
     * embedding is 36.63B (1.0% under "37B"), with it 37.55B (1.5% over): "37B" is two digits. */
    {"DeepSeek-V3", 671 * B, 0, 37 * B, false, 685 * B, 0, 0.015},
};

static void check_near(const char *name, const char *what, double ours, double published, double tol)
{
    const double dev = ours / published - 1.0;
    printf("%-16s %-14s %9.3fB  published %8.3fB  %+6.2f%%\n", name, what, ours / B, published / B, 100 * dev);
    CHECK_MSG(fabs(dev) <= (tol > 0 ? tol : 0.01), "%s %s: %.4gB vs published %.4gB (%+.2f%%)", name, what,
              ours / B, published / B, 100 * dev);
}

static void test_published(void)
{
    for (size_t i = 0; i < sizeof pub / sizeof *pub; i++) {
        const struct published *p = &pub[i];
        struct owl_model_info in;
        struct owl_error err = {0};
        CHECK_OK(owl_inspect_released(p->name, &in, &err), &err);
        CHECK(strcmp(in.params_from, "config") == 0);
        check_near(p->name, "total", (double)in.n_params, p->total, p->tol_total);
        if (p->non_embedding > 0)
            check_near(p->name, "non-embedding", (double)(in.n_params - in.n_params_embedding), p->non_embedding, 0);
        if (p->active > 0) {
            double active = (double)in.n_params_active;
            if (p->active_with_embedding && !in.tied_embeddings)
                active += (double)in.n_vocab * in.d_model;
            check_near(p->name, "active", active, p->active, p->tol_active);
        }
        if (p->with_mtp > 0)
            check_near(p->name, "with MTP", (double)(in.n_params + in.n_params_mtp), p->with_mtp, 0);
    }
}

/* Every built-in name resolves, case-insensitively; the list and the published table cover each other. */
static void test_names(void)
{
    int n = 0;
    for (; owl_released_name(n); n++) {
        bool found = false;
        for (size_t i = 0; i < sizeof pub / sizeof *pub; i++)
            found |= strcmp(pub[i].name, owl_released_name(n)) == 0;
        CHECK_MSG(found, "%s has no published counts in this test", owl_released_name(n));
    }
    CHECK(n == (int)(sizeof pub / sizeof *pub));
    struct owl_model_info in;
    struct owl_error err = {0};
    CHECK_OK(owl_inspect_released("qwen3-8b", &in, &err), &err);
    CHECK(owl_inspect_released("Qwen3-9B", &in, &err) == OWL_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "Qwen3-9B") != NULL);
}

/* Hand-checked architecture facts of the releases (ARCHITECTURES.md §5). */
static void test_facts(void)
{
    struct owl_model_info in;
    struct owl_error err = {0};
    CHECK_OK(owl_inspect_released("gpt-oss-120b", &in, &err), &err);
    CHECK(in.n_layer == 36 && in.n_head == 64 && in.n_kv_head == 8 && in.d_head == 64 && in.sinks && in.attn_bias);
    CHECK(in.sliding_window == 128 && in.n_sliding_layers == 18 && strcmp(in.sliding_layers, "even") == 0);
    CHECK(in.n_expert == 128 && in.n_expert_used == 4 && in.n_shared_expert == 0);
    CHECK(in.yarn_factor == 32 && in.yarn_original_ctx == 4096 && strcmp(in.context_extension, "pre-training") == 0);
    CHECK(in.kv_bytes_per_token == 36ull * 2 * 8 * 64 * 4);
    CHECK(in.kv_bytes_context == 2ull * 8 * 64 * 4 * (18ull * 131072 + 18ull * 4096)); /* sliding: 4096 rows */
    CHECK(strcmp(in.weight_dtypes[0].dtype, "MXFP4") == 0);

    CHECK_OK(owl_inspect_released("DeepSeek-V3", &in, &err), &err);
    CHECK(strcmp(in.attention, "MLA") == 0 && in.q_lora_rank == 1536 && in.kv_lora_rank == 512 &&
          in.d_rope == 64 && in.d_head == 192 && in.d_v == 128);
    CHECK(in.n_moe_layers == 58 && in.n_expert == 256 && in.n_expert_used == 8 && in.n_shared_expert == 1);
    CHECK(in.kv_bytes_per_token == 61ull * 576 * 4); /* the latent cache */
    CHECK(in.yarn_factor == 40 && strcmp(in.context_extension, "pre-training") == 0);
    CHECK(strcmp(in.weight_dtypes[0].dtype, "F8_E4M3") == 0);

    CHECK_OK(owl_inspect_released("Qwen3-0.6B", &in, &err), &err);
    CHECK(in.tied_embeddings && in.qk_norm && in.n_kv_head == 8 && in.d_head == 128 && in.n_expert == 0);
    CHECK(in.n_params_active == in.n_params); /* tied: the table is the head */
    CHECK(strcmp(in.rope, "default") == 0 && strcmp(in.context_extension, "none") == 0);
    CHECK(in.kv_bytes_per_token == 28ull * 2 * 8 * 128 * 4);
    CHECK(in.weight_bytes == (uint64_t)in.n_params * 2);
}

int main(void)
{
    test_published();
    test_names();
    test_facts();
    return test_done("test_compare");
}
