/* text.c — the text half of the public API (owl.h): a model directory's tokenizer and chat format, over
 * src/tokenizer and src/chat. The chat format is chosen from config.json's model_type and whether the
 * tokenizer has <think> (DeepSeek V3 vs V3.1), as chat_format_for_model defines; never from template text. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "base/file_map.h"
#include "chat/chat.h"
#include "format/gguf.h"
#include "format/kv.h"
#include "owl.h"
#include "tokenizer/tokenizer.h"

struct owl_tokenizer {
    struct tokenizer *tok;
    bool has_format;
    enum chat_format format;
    char *format_error; /* why there is no chat format (for owl_chat_render's message) */
};

struct owl_detok {
    struct detok_stream s;
};

/* ---- GGUF: the tokenizer from tokenizer.ggml.* --------------------------------------------------------
 * llama.cpp's converter stores the vocabulary (tokens by id, token types, merges "a b", BOS/EOS ids,
 * add_bos_token) and only the NAME of the pre-tokenizer (tokenizer.ggml.pre). The name stands for the
 * pipeline the model's tokenizer.json defines; these are the three families' (copied from their files). */
struct gguf_pretok {
    const char *name;       /* tokenizer.ggml.pre */
    const char *pre;        /* tokenizer.json pre_tokenizer */
    const char *normalizer; /* tokenizer.json normalizer, or NULL */
    bool ignore_merges;
};

static const struct gguf_pretok gguf_pretoks[] = {
    {"qwen2",
     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|"
     "'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|"
     "\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":"
     "false,\"trim_offsets\":false,\"use_regex\":false}]}",
     "{\"type\":\"NFC\"}", false},
    {"deepseek-v3",
     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}{1,3}\"},"
     "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[\u4e00-\u9fa5\u3040-"
     "\u309f\u30a0-\u30ff]+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Split\",\"pattern\":{\"Regex\""
     ":\"[!\\\"#$%&'()*+,\\\\-./:;<=>?@\\\\[\\\\\\\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\\\p{L}\\\\p{P}\\\\p{S}]?[\\\\p{L}"
     "\\\\p{M}]+| ?[\\\\p{P}\\\\p{S}]+[\\r\\n]*|\\\\s*[\\r\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\","
     "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}",
     NULL, false},
    {"gpt-4o",
     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[^\\\\r\\\\n\\\\p{L}"
     "\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*[\\\\p{Ll}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+(?i:'s|'t|'re|"
     "'ve|'m|'ll|'d)?|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+[\\\\p{Ll}\\\\p{Lm}"
     "\\\\p{Lo}\\\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n/]*|"
     "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
     "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}",
     NULL, true},
};

/* tokenizer.json and tokenizer_config.json text equivalent to a GGUF file's tokenizer.ggml.* keys. */
static enum owl_status tokenizer_json_from_gguf(const struct kv_table *kv, char **json, char **config,
                                                const char **model_type, struct owl_error *err)
{
    const char *model = NULL, *pre = NULL, *arch = NULL;
    kv_get_str_opt(kv, "tokenizer.ggml.model", &model, err);
    kv_get_str_opt(kv, "tokenizer.ggml.pre", &pre, err);
    kv_get_str_opt(kv, "general.architecture", &arch, err);
    const struct kv_value *tokens = kv_find(kv, "tokenizer.ggml.tokens"), *types = kv_find(kv, "tokenizer.ggml.token_type"),
                          *merges = kv_find(kv, "tokenizer.ggml.merges");
    if (!model || strcmp(model, "gpt2") != 0)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%s', owl reads byte-level BPE ('gpt2')",
                    kv->source, model ? model : "(absent)");
    if (!tokens || tokens->type != KV_ARRAY || !merges || merges->type != KV_ARRAY)
        return fail(err, OWL_ERR_BAD_FILE, "%s: missing tokenizer.ggml.tokens or tokenizer.ggml.merges", kv->source);
    const struct gguf_pretok *pt = NULL;
    for (size_t i = 0; pre && i < sizeof gguf_pretoks / sizeof *gguf_pretoks; i++)
        if (!strcmp(pre, gguf_pretoks[i].name))
            pt = &gguf_pretoks[i];
    if (!pt)
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre '%s' is not one owl knows (qwen2, deepseek-v3, "
                    "gpt-4o)", kv->source, pre ? pre : "(absent)");
    json_t *vocab = json_object(), *added = json_array(), *mlist = json_array();
    for (int i = 0; i < tokens->n_items; i++) {
        const struct kv_value *t = &tokens->items[i];
        const int64_t type = types && types->type == KV_ARRAY && i < types->n_items ? types->items[i].i : 1;
        if (t->type != KV_STRING)
            continue;
        if (type == 3 || type == 4) /* control and user-defined: added tokens, matched before BPE */
            json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", i, "content", t->s,
                                                   "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0,
                                                   "special", type == 3));
        else
            json_object_set_new(vocab, t->s, json_integer(i));
    }
    for (int i = 0; i < merges->n_items; i++)
        if (merges->items[i].type == KV_STRING)
            json_array_append_new(mlist, json_string(merges->items[i].s));
    json_error_t je;
    json_t *pre_json = json_loads(pt->pre, 0, &je), *norm = pt->normalizer ? json_loads(pt->normalizer, 0, &je) : json_null();
    OWL_ASSERT(pre_json && norm);
    json_t *root = json_pack("{s:o, s:o, s:o, s:{s:s, s:o, s:o, s:b}, s:{s:s, s:b, s:b, s:b}}", "added_tokens", added,
                             "normalizer", norm, "pre_tokenizer", pre_json, "model", "type", "BPE", "vocab", vocab,
                             "merges", mlist, "ignore_merges", pt->ignore_merges, "decoder", "type", "ByteLevel",
                             "add_prefix_space", 0, "trim_offsets", 0, "use_regex", 0);
    *json = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    int64_t bos = -1, eos = -1;
    bool add_bos = false;
    kv_get_int_opt(kv, "tokenizer.ggml.bos_token_id", &bos, err);
    kv_get_int_opt(kv, "tokenizer.ggml.eos_token_id", &eos, err);
    kv_get_bool_opt(kv, "tokenizer.ggml.add_bos_token", &add_bos, err);
    json_t *cfg = json_pack("{s:b}", "add_bos_token", add_bos);
    if (bos >= 0 && bos < tokens->n_items && tokens->items[bos].type == KV_STRING)
        json_object_set_new(cfg, "bos_token", json_string(tokens->items[bos].s));
    if (eos >= 0 && eos < tokens->n_items && tokens->items[eos].type == KV_STRING)
        json_object_set_new(cfg, "eos_token", json_string(tokens->items[eos].s));
    *config = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    /* the chat format follows the architecture, as config.json's model_type does for safetensors */
    static const char *const arch_types[][2] = {{"qwen3", "qwen3"}, {"qwen3moe", "qwen3_moe"},
                                                {"gpt-oss", "gpt_oss"}, {"deepseek2", "deepseek_v3"}};
    *model_type = NULL;
    for (size_t i = 0; arch && i < sizeof arch_types / sizeof *arch_types; i++)
        if (!strcmp(arch, arch_types[i][0]))
            *model_type = arch_types[i][1];
    return *json && *config ? OWL_OK : fail(err, OWL_ERR_OUT_OF_MEMORY, "%s: building the tokenizer", kv->source);
}

static enum owl_status tokenizer_open_gguf(struct owl_tokenizer *t, const char *path, struct owl_error *err)
{
    struct file_map map;
    struct kv_table kv = {0};
    struct tensor_table table = {0};
    enum owl_status st = file_map_open(&map, path, err);
    if (st)
        return st;
    char *json = NULL, *config = NULL;
    const char *model_type = NULL;
    if (!(st = gguf_parse(map.data, map.size, map.path, &kv, &table, err)) &&
        !(st = tokenizer_json_from_gguf(&kv, &json, &config, &model_type, err)) &&
        !(st = tokenizer_load(&t->tok, json, strlen(json), config, strlen(config), path, err))) {
        struct owl_error e2 = {0};
        if (model_type &&
            chat_format_for_model(model_type, tokenizer_token_id(t->tok, "<think>") >= 0, &t->format, &e2) == OWL_OK)
            t->has_format = true;
        else
            t->format_error = xstrdup(model_type ? e2.message : "the GGUF architecture has no chat format in owl");
    }
    free(json);
    free(config);
    kv_table_free(&kv);
    tensor_table_free(&table);
    file_map_close(&map);
    return st;
}

/* The directory of path: path itself when it is a directory, else its parent. Malloc'd. */
static char *dir_of_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return xstrdup(path);
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    char *d = xstrdup(path);
    d[slash - path] = 0;
    return d[0] ? d : (free(d), xstrdup("/"));
}

enum owl_status owl_tokenizer_open(const char *path, struct owl_tokenizer **out, struct owl_error *err)
{
    *out = NULL;
    if (!path)
        return fail(err, OWL_ERR_INVALID_ARG, "owl_tokenizer_open: path is NULL");
    const size_t plen = strlen(path);
    if (plen > 5 && !strcmp(path + plen - 5, ".gguf")) {
        struct owl_tokenizer *g = xcalloc(1, sizeof *g);
        enum owl_status st = tokenizer_open_gguf(g, path, err);
        if (st) {
            owl_tokenizer_free(g);
            return st;
        }
        *out = g;
        return OWL_OK;
    }
    char *dir = dir_of_path(path);
    struct owl_tokenizer *t = xcalloc(1, sizeof *t);
    enum owl_status st = tokenizer_open(&t->tok, dir, err);
    if (st) {
        free(dir);
        free(t);
        return st;
    }
    /* chat format: config.json model_type (+ <think> in the vocabulary) */
    char *cfg_path = xcalloc(strlen(dir) + 16, 1), *text = NULL;
    strcpy(cfg_path, dir);
    strcat(cfg_path, "/config.json");
    size_t len = 0;
    struct owl_error e2 = {0};
    struct kv_table kv = {0};
    const char *model_type = NULL;
    if (file_read_all(cfg_path, &text, &len, &e2) == OWL_OK && kv_from_json(&kv, text, len, cfg_path, &e2) == OWL_OK &&
        kv_get_str_opt(&kv, "model_type", &model_type, &e2) == OWL_OK && model_type &&
        chat_format_for_model(model_type, tokenizer_token_id(t->tok, "<think>") >= 0, &t->format, &e2) == OWL_OK)
        t->has_format = true;
    else
        t->format_error = xstrdup(e2.message[0] ? e2.message : "config.json has no model_type");
    kv_table_free(&kv);
    free(text);
    free(cfg_path);
    free(dir);
    *out = t;
    return OWL_OK;
}

void owl_tokenizer_free(struct owl_tokenizer *t)
{
    if (!t)
        return;
    tokenizer_free(t->tok);
    free(t->format_error);
    free(t);
}

enum owl_status owl_tokenize(struct owl_tokenizer *t, const char *text, size_t len, int add_bos, int32_t **ids,
                             size_t *n_ids, struct owl_error *err)
{
    *ids = NULL;
    *n_ids = 0;
    struct token_buf buf = {0};
    const bool bos = add_bos < 0 ? tokenizer_add_bos_default(t->tok) : add_bos != 0;
    enum owl_status st = tokenizer_encode(t->tok, text, len, bos, &buf, err);
    if (st) {
        token_buf_free(&buf);
        return st;
    }
    *ids = buf.ids ? buf.ids : xcalloc(1, sizeof(int32_t));
    *n_ids = buf.n;
    return OWL_OK;
}

enum owl_status owl_detokenize(const struct owl_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                               char **text, size_t *len, struct owl_error *err)
{
    return tokenizer_decode(t->tok, ids, n, skip_special != 0, text, len, err);
}

int32_t owl_token_id(const struct owl_tokenizer *t, const char *text) { return tokenizer_token_id(t->tok, text); }
int32_t owl_tokenizer_n_vocab(const struct owl_tokenizer *t) { return tokenizer_n_vocab(t->tok); }

static int32_t lookup_token(void *user, const char *text) { return tokenizer_token_id(user, text); }

int owl_stop_tokens(const struct owl_tokenizer *t, int32_t *ids, int max)
{
    /* EOS from tokenizer_config, then the chat format's end markers (chat_stop_tokens) */
    int32_t fmt[CHAT_MAX_STOP_TOKENS];
    int n_fmt = 0, n = 0;
    struct owl_error err;
    if (t->has_format && chat_stop_tokens(t->format, lookup_token, t->tok, fmt, &n_fmt, &err) != OWL_OK)
        n_fmt = 0;
    const int32_t eos = tokenizer_eos_id(t->tok);
    if (eos >= 0 && n < max)
        ids[n++] = eos;
    for (int i = 0; i < n_fmt && n < max; i++) {
        bool seen = false;
        for (int j = 0; j < n && !seen; j++)
            seen = ids[j] == fmt[i];
        if (!seen)
            ids[n++] = fmt[i];
    }
    return n;
}

enum owl_status owl_detok_new(const struct owl_tokenizer *t, int skip_special, struct owl_detok **out,
                              struct owl_error *err)
{
    (void)err;
    *out = xcalloc(1, sizeof **out);
    detok_stream_init(&(*out)->s, t->tok, skip_special != 0);
    return OWL_OK;
}

enum owl_status owl_detok_feed(struct owl_detok *d, int32_t id, const char **text, size_t *len, struct owl_error *err)
{
    return detok_stream_feed(&d->s, id, text, len, err);
}

void owl_detok_flush(struct owl_detok *d, const char **text, size_t *len) { detok_stream_flush(&d->s, text, len); }

void owl_detok_free(struct owl_detok *d)
{
    if (!d)
        return;
    detok_stream_free(&d->s);
    free(d);
}

struct owl_chat_options owl_chat_default_options(void)
{
    return (struct owl_chat_options){.add_generation_prompt = 1, .thinking = -1};
}

enum owl_status owl_chat_render(const struct owl_tokenizer *t, const struct owl_chat_message *msgs, int n,
                                const struct owl_chat_options *opt, char **text, size_t *len, struct owl_error *err)
{
    *text = NULL;
    if (!t->has_format)
        return fail(err, OWL_ERR_UNSUPPORTED, "no chat format for this model: %s", t->format_error);
    if (n < 0 || (n > 0 && !msgs))
        return fail(err, OWL_ERR_INVALID_ARG, "owl_chat_render: %d messages", n);
    struct owl_chat_options o = opt ? *opt : owl_chat_default_options();
    struct chat_options co = chat_default_options();
    co.add_generation_prompt = o.add_generation_prompt != 0;
    co.thinking = o.thinking;
    co.reasoning_effort = o.reasoning_effort;
    co.date = o.date;
    struct chat_message *cm = xcalloc((size_t)n + 1, sizeof *cm);
    for (int i = 0; i < n; i++)
        cm[i] = (struct chat_message){.role = msgs[i].role, .content = msgs[i].content, .reasoning = msgs[i].reasoning};
    enum owl_status st = chat_render(t->format, cm, n, &co, text, len, err);
    free(cm);
    return st;
}

const char *owl_chat_format_name(const struct owl_tokenizer *t)
{
    return t->has_format ? chat_format_name(t->format) : NULL;
}
