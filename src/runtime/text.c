/* text.c — the text half of the public API (owl.h): a model directory's tokenizer and chat format, over
 * src/tokenizer and src/chat. The chat format is chosen from config.json's model_type and whether the
 * tokenizer has <think> (DeepSeek V3 vs V3.1), as chat_format_for_model defines; never from template text. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file_map.h"
#include "chat/chat.h"
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
