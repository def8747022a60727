/* test_demo.c — the bundled demo model (models/demo/, trained by tools/train_demo.py) against transformers
 * and HF tokenizers, from the references recorded on the training machine in models/demo/heldout.json.
 *
 * (1) Held-out perplexity: owl evaluates each recorded window of the Brown test split from position 0
 *     (owl_session_eval, OWL_LOGITS_ALL), takes -log softmax of the next token in double precision, and
 *     exp(sum / count) must equal transformers' float64 eager perplexity within a relative 1e-3; each
 *     window's mean per-token NLL within 1e-3 nats as well.
 * (2) Tokenizer: owl's encoding of each recorded text equals the ids HF tokenizers gave (held-out
 *     paragraphs, digits and whitespace runs, NFC, contractions, special and added tokens), and plain
 *     ASCII texts decode back to themselves.
 * (3) The released layout: qwen3 family, vocab 8192, EOS <|endoftext|> among the stop tokens, a ChatML
 *     chat format, and model.safetensors within the 16 MiB the repository allows for it.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "owl.h"
#include "test_util.h"

#define DEMO_REL "../../models/demo" /* relative to tests/fixtures */
#define PPL_RTOL 1e-3
#define NLL_ATOL 1e-3 /* nats per token, per window */

static char demo_dir[4096];

static int32_t *json_ids(const json_t *arr, int *n)
{
    *n = (int)json_array_size(arr);
    int32_t *ids = calloc((size_t)*n + 1, sizeof *ids);
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
    return ids;
}

/* Sum over t of -log softmax(logits[t])[tokens[t+1]], in double. logits: (n, n_vocab). */
static double window_nll(const float *logits, const int32_t *tokens, int n, int n_vocab)
{
    double nll = 0;
    for (int t = 0; t + 1 < n; t++) {
        const float *row = logits + (size_t)t * n_vocab;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < n_vocab; v++)
            mx = fmax(mx, row[v]);
        for (int v = 0; v < n_vocab; v++)
            sum += exp((double)row[v] - mx);
        nll += mx + log(sum) - (double)row[tokens[t + 1]];
    }
    return nll;
}

static void check_perplexity(const json_t *ref)
{
    struct owl_error err = {0};
    struct owl_model *model = NULL;
    struct owl_model_params mp = owl_model_default_params();
    CHECK_OK(owl_model_open(demo_dir, &mp, &model, &err), &err);
    if (!model)
        return;
    CHECK(!strcmp(owl_model_family(model), "qwen3"));
    const int n_vocab = owl_model_n_vocab(model);
    CHECK(n_vocab == 8192);
    const int window = (int)json_integer_value(json_object_get(ref, "window"));
    const json_t *windows = json_object_get(ref, "windows");
    const json_t *ref_nll = json_object_get(ref, "nll_per_window_float64");
    CHECK(window > 1 && json_array_size(windows) > 0 && json_array_size(ref_nll) == json_array_size(windows));

    struct owl_session_params sp = owl_session_default_params();
    sp.n_ctx = window;
    struct owl_session *s = NULL;
    CHECK_OK(owl_session_init(model, &sp, &s, &err), &err);
    float *logits = malloc((size_t)window * n_vocab * sizeof *logits);
    double nll = 0;
    long count = 0;
    for (size_t w = 0; s && w < json_array_size(windows); w++) {
        int n;
        int32_t *tokens = json_ids(json_array_get(windows, w), &n);
        CHECK(n == window);
        owl_session_truncate(s, 0);
        CHECK_OK(owl_session_eval(s, tokens, n, OWL_LOGITS_ALL, logits, &err), &err);
        const double got = window_nll(logits, tokens, n, n_vocab);
        const double want = json_real_value(json_array_get(ref_nll, w));
        CHECK_MSG(fabs(got - want) / (n - 1) <= NLL_ATOL, "window %zu: mean NLL owl %.6f, transformers %.6f", w,
                  got / (n - 1), want / (n - 1));
        nll += got;
        count += n - 1;
        free(tokens);
    }
    CHECK(count == json_integer_value(json_object_get(ref, "n_predicted")));
    const double ppl = exp(nll / (double)count);
    const double ppl_ref = json_real_value(json_object_get(ref, "ppl_float64"));
    printf("held-out perplexity over %ld tokens: owl %.6f, transformers (float64, eager) %.6f, rel. diff %.2e\n",
           count, ppl, ppl_ref, fabs(ppl / ppl_ref - 1));
    CHECK_MSG(fabs(ppl / ppl_ref - 1) <= PPL_RTOL, "owl %.6f vs transformers %.6f", ppl, ppl_ref);
    free(logits);
    owl_session_free(s);
    owl_model_close(model);
}

static bool plain_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80 || (s[0] == '<' && (s[1] == '|' || s[1] == 't' || s[1] == '/')))
            return false;
    return true;
}

static void check_tokenizer(const json_t *ref)
{
    struct owl_error err = {0};
    struct owl_tokenizer *tok = NULL;
    CHECK_OK(owl_tokenizer_open(demo_dir, &tok, &err), &err);
    if (!tok)
        return;
    CHECK(owl_tokenizer_n_vocab(tok) == 8192);
    const int32_t eot = owl_token_id(tok, "<|endoftext|>");
    CHECK(eot == 8187);
    int32_t stops[16];
    const int n_stops = owl_stop_tokens(tok, stops, 16);
    bool has_eot = false;
    for (int i = 0; i < n_stops; i++)
        has_eot |= stops[i] == eot;
    CHECK(has_eot);
    CHECK(owl_chat_format_name(tok) != NULL);

    const json_t *samples = json_object_get(ref, "tokenizer_samples");
    CHECK(json_array_size(samples) >= 4);
    for (size_t i = 0; i < json_array_size(samples); i++) {
        const json_t *sample = json_array_get(samples, i);
        const char *text = json_string_value(json_object_get(sample, "text"));
        int n_want;
        int32_t *want = json_ids(json_object_get(sample, "ids"), &n_want);
        int32_t *got = NULL;
        size_t n_got = 0;
        CHECK_OK(owl_tokenize(tok, text, strlen(text), -1, &got, &n_got, &err), &err);
        bool same = got && n_got == (size_t)n_want && !memcmp(got, want, n_got * sizeof *got);
        CHECK_MSG(same, "sample %zu: owl gives %zu ids, HF tokenizers %d (or different ids)", i, n_got, n_want);
        if (got && plain_ascii(text)) {
            char *back = NULL;
            size_t len = 0;
            CHECK_OK(owl_detokenize(tok, got, n_got, 0, &back, &len, &err), &err);
            CHECK_MSG(back && !strcmp(back, text), "sample %zu does not decode to itself", i);
            free(back);
        }
        free(got);
        free(want);
    }
    owl_tokenizer_free(tok);
}

int main(void)
{
    snprintf(demo_dir, sizeof demo_dir, "%s", fixture_path(DEMO_REL));
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", demo_dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 0 && st.st_size <= 16L << 20);

    snprintf(path, sizeof path, "%s/heldout.json", demo_dir);
    json_error_t jerr;
    json_t *ref = json_load_file(path, 0, &jerr);
    CHECK_MSG(ref != NULL, "%s: %s", path, jerr.text);
    if (ref) {
        check_tokenizer(ref);
        check_perplexity(ref);
        json_decref(ref);
    }
    return test_done("test_demo");
}
