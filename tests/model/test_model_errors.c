/* test_model_errors.c — owl_model_open on broken model directories: each gets its status and a message
 * that names the field or tensor with the expected and actual value; nothing crashes or leaks.
 * Cases are made by copying the gqa-tied fixture and changing one thing. */
#include <stdlib.h>
#include <sys/stat.h>

#include "owl.h"
#include "test_util.h"

static char *g_config;   /* the fixture's config.json text */
static uint8_t *g_model; /* its model.safetensors bytes */
static size_t g_config_size, g_model_size;

/* Write a model dir named name with the given config text and safetensors bytes; returns its path. */
static const char *make_dir(const char *name, const char *config, const uint8_t *model, size_t model_size)
{
    static char dir[1024];
    char path[1200];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (config)
        write_file(path, config, strlen(config));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (model)
        write_file(path, model, model_size);
    return dir;
}

/* The fixture config with the first occurrence of from replaced by to. */
static char *config_with(const char *from, const char *to)
{
    const char *at = strstr(g_config, from);
    OWL_ASSERT(at);
    size_t pre = (size_t)(at - g_config), n = g_config_size - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)pre, g_config, to, at + strlen(from));
    return s;
}

/* The fixture weights with the first occurrence of from (in the header) replaced by to, same length. */
static uint8_t *model_with(const char *from, const char *to)
{
    OWL_ASSERT(strlen(from) == strlen(to));
    uint8_t *m = malloc(g_model_size);
    memcpy(m, g_model, g_model_size);
    uint64_t n_header = 0;
    for (int i = 0; i < 8; i++)
        n_header |= (uint64_t)m[i] << (8 * i);
    char *h = (char *)m + 8;
    for (size_t i = 0; i + strlen(from) <= n_header; i++)
        if (memcmp(h + i, from, strlen(from)) == 0) {
            memcpy(h + i, to, strlen(to));
            return m;
        }
    OWL_ASSERT(!"pattern not in header");
    return NULL;
}

static void expect_error(const char *what, const char *dir, enum owl_status status, const char *w1, const char *w2)
{
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    enum owl_status st = owl_model_open(dir, NULL, &m, &err);
    printf("%-26s -> %s: %s\n", what, owl_status_name(st), err.message);
    CHECK_MSG(st == status, "%s: got %s, expected %s", what, owl_status_name(st), owl_status_name(status));
    CHECK(m == NULL);
    CHECK_MSG(!w1 || strstr(err.message, w1), "%s: message lacks '%s'", what, w1);
    CHECK_MSG(!w2 || strstr(err.message, w2), "%s: message lacks '%s'", what, w2);
    owl_model_close(m);
}

static void touch_seen(size_t done, size_t total, void *user)
{
    size_t *last = user;
    OWL_ASSERT(done >= last[0] && done <= total);
    last[0] = done;
    last[1] = total;
}

int main(void)
{
    g_config = read_file(fixture_path("qwen3/gqa-tied/config.json"), &g_config_size);
    g_model = read_file(fixture_path("qwen3/gqa-tied/model.safetensors"), &g_model_size);
    CHECK(g_config && g_model);
    if (!g_config || !g_model)
        return test_done("test_model_errors");

    /* the unmodified copy opens, and touching its weights reports progress up to the file's size */
    struct owl_model *m = NULL;
    struct owl_error err = {0};
    CHECK_OK(owl_model_open(make_dir("ok", g_config, g_model, g_model_size), NULL, &m, &err), &err);
    size_t last[2] = {0, 1};
    if (m)
        owl_model_touch(m, touch_seen, last);
    CHECK(last[0] == g_model_size && last[1] == g_model_size);
    owl_model_close(m);

    char *c;
    expect_error("no config.json", make_dir("noconfig", NULL, g_model, g_model_size), OWL_ERR_IO, "config.json", NULL);
    expect_error("no weights", make_dir("noweights", g_config, NULL, 0), OWL_ERR_IO, "safetensors", NULL);
    expect_error("nonexistent dir", "/nonexistent/owl-model", OWL_ERR_IO, "/nonexistent/owl-model", NULL);
    expect_error("bad JSON", make_dir("badjson", "{\"model_type\": \"qwen3\",", g_model, g_model_size),
                 OWL_ERR_BAD_FILE, "config.json", NULL);
    c = config_with("\"hidden_size\"", "\"hidden_sizX\"");
    expect_error("missing hidden_size", make_dir("nohidden", c, g_model, g_model_size), OWL_ERR_BAD_CONFIG,
                 "hidden_size", NULL);
    free(c);
    c = config_with("\"hidden_size\": 64", "\"hidden_size\": \"64\"");
    expect_error("hidden_size a string", make_dir("strhidden", c, g_model, g_model_size), OWL_ERR_BAD_CONFIG,
                 "hidden_size", "string");
    free(c);
    c = config_with("\"num_hidden_layers\": 2", "\"num_hidden_layers\": -2");
    expect_error("negative layers", make_dir("neglayers", c, g_model, g_model_size), OWL_ERR_BAD_CONFIG,
                 "num_hidden_layers", "-2");
    free(c);
    c = config_with("\"head_dim\": 32", "\"head_dim\": 24");
    expect_error("wrong head_dim", make_dir("headdim", c, g_model, g_model_size), OWL_ERR_BAD_FILE,
                 "q_norm.weight", "[24]");
    free(c);
    c = config_with("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    expect_error("missing layer", make_dir("nolayer", c, g_model, g_model_size), OWL_ERR_BAD_FILE,
                 "model.layers.2.", NULL);
    free(c);
    c = config_with("\"model_type\": \"qwen3\"", "\"model_type\": \"llama\"");
    expect_error("unsupported model_type", make_dir("llama", c, g_model, g_model_size), OWL_ERR_UNSUPPORTED,
                 "llama", NULL);
    free(c);
    c = config_with("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}");
    expect_error("unsupported rope type", make_dir("ropelinear", c, g_model, g_model_size), OWL_ERR_UNSUPPORTED,
                 "linear", NULL);
    free(c);
    c = config_with("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
    expect_error("heads not multiple of kv", make_dir("kvheads", c, g_model, g_model_size), OWL_ERR_BAD_CONFIG,
                 "num_key_value_heads", NULL);
    free(c);

    uint8_t *w = model_with("model.norm.weight", "model.norm.weigxt");
    expect_error("missing tensor", make_dir("notensor", g_config, w, g_model_size), OWL_ERR_BAD_FILE,
                 "model.norm.weight", NULL);
    free(w);
    w = model_with("\"BF16\"", "\"I16\" ");
    expect_error("integer weight dtype", make_dir("i16", g_config, w, g_model_size), OWL_ERR_UNSUPPORTED, "I16", NULL);
    free(w);
    expect_error("truncated weights", make_dir("trunc", g_config, g_model, g_model_size / 2), OWL_ERR_BAD_FILE,
                 "model.safetensors", NULL);
    expect_error("truncated header", make_dir("trunchdr", g_config, g_model, 100), OWL_ERR_BAD_FILE,
                 "model.safetensors", NULL);

    free(g_config);
    free(g_model);
    return test_done("test_model_errors");
}
