/* test_model_file.c — model_file_open on tiny model directories written into test_tmpdir(): single file,
 * two shards with an index, each way the index and shards can disagree, bad config.json, and
 * model_file_take's checks and messages, the unused-tensor count, and model_file_load (files read into memory,
 * tensors rebased). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/model_file.h"
#include "st_writer.h"
#include "test_util.h"

static const char *CONFIG = "{\"model_type\": \"qwen3\", \"hidden_size\": 64, \"rope_scaling\": null}";

static const struct st_spec SHARD1[] = {
    {"model.embed_tokens.weight", "BF16", 2, {32, 64}},
    {"model.layers.0.mlp.up_proj.weight", "BF16", 2, {96, 64}},
};
static const struct st_spec SHARD2[] = {
    {"model.norm.weight", "F32", 1, {64}},
    {"lm_head.weight", "BF16", 2, {32, 64}},
};

/* Make test_tmpdir()/name and return its path (malloc'd). */
static char *make_dir(const char *name)
{
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", test_tmpdir(), name);
    mkdir(p, 0700);
    return p;
}

static void put(const char *dir, const char *name, const void *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK_MSG(write_file(path, data, size) == 0, "%s", path);
}

static void put_text(const char *dir, const char *name, const char *text) { put(dir, name, text, strlen(text)); }

static void put_st(const char *dir, const char *name, const struct st_spec *specs, int n)
{
    size_t size;
    uint8_t *img = st_build(specs, n, &size);
    put(dir, name, img, size);
    free(img);
}

/* An index mapping SHARD1 to a.safetensors and SHARD2 to b.safetensors, plus extra entries. */
static void put_index(const char *dir, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"metadata\": {\"total_size\": 12672}, \"weight_map\": {"
             "\"lm_head.weight\": \"b.safetensors\", \"model.embed_tokens.weight\": \"a.safetensors\", "
             "\"model.layers.0.mlp.up_proj.weight\": \"a.safetensors\", \"model.norm.weight\": \"b.safetensors\"%s}}",
             extra);
    put_text(dir, "model.safetensors.index.json", text);
}

/* model_file_open(path) fails with status and a message holding k1 and k2; mf is left zeroed. */
static void expect_open_fail(int line, const char *path, enum owl_status status, const char *k1, const char *k2)
{
    struct model_file mf;
    struct owl_error err = {0};
    enum owl_status st = model_file_open(&mf, path, &err);
    CHECK_MSG(st == status, "line %d: got %s: %s", line, owl_status_name(st), err.message);
    CHECK_MSG((!k1 || strstr(err.message, k1)) && (!k2 || strstr(err.message, k2)), "line %d: %s", line,
              err.message);
    CHECK(mf.dir == NULL && mf.maps == NULL && mf.tensors.n == 0 && mf.config.n == 0);
    model_file_close(&mf);
}

static void test_single(void)
{
    char *dir = make_dir("single");
    put_text(dir, "config.json", CONFIG);
    put_st(dir, "model.safetensors", SHARD1, 2);
    struct model_file mf;
    struct owl_error err = {0};
    CHECK_OK(model_file_open(&mf, dir, &err), &err);
    CHECK(mf.tensors.n == 2 && mf.n_maps == 1 && strcmp(mf.dir, dir) == 0);
    int64_t hidden = 0;
    CHECK_OK(kv_get_int(&mf.config, "hidden_size", &hidden, &err), &err);
    CHECK(hidden == 64 && kv_find(&mf.config, "rope_scaling"));

    const struct tensor_view *t = NULL;
    const int64_t up_shape[2] = {96, 64}, wrong[2] = {64, 96};
    const uint32_t bf16 = 1u << DTYPE_BF16;
    CHECK_OK(model_file_take(&mf, "model.layers.0.mlp.up_proj.weight", bf16, 2, up_shape, &t, &err), &err);
    CHECK(t && t->dtype == DTYPE_BF16 && t->n_bytes == 96 * 64 * 2 && strstr(t->file, "model.safetensors"));
    CHECK(model_file_take(&mf, "model.layers.0.mlp.up_proj.weight", bf16, 2, wrong, &t, &err) ==
          OWL_ERR_BAD_FILE && t == NULL);
    CHECK_MSG(strcmp(err.message, "model.layers.0.mlp.up_proj.weight: expected shape [64, 96], got [96, 64] "
                                  "(model.safetensors)") == 0, "%s", err.message);
    CHECK(model_file_take(&mf, "model.layers.0.mlp.up_proj.weight", bf16, 1, up_shape, &t, &err) ==
          OWL_ERR_BAD_FILE);
    CHECK_MSG(strstr(err.message, "expected shape [96], got [96, 64]"), "%s", err.message);
    CHECK(model_file_take(&mf, "model.embed_tokens.weight", (1u << DTYPE_F32) | (1u << DTYPE_F16), 2, NULL,
                          &t, &err) == OWL_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "model.embed_tokens.weight: dtype BF16, expected F32 or F16") &&
              strstr(err.message, "model.safetensors"), "%s", err.message);
    CHECK(model_file_take(&mf, "nope.weight", bf16, 2, up_shape, &t, &err) == OWL_ERR_BAD_FILE);
    CHECK_MSG(strstr(err.message, "missing tensor 'nope.weight'") && strstr(err.message, dir), "%s", err.message);
    t = (const struct tensor_view *)&mf;
    CHECK_OK(model_file_take_opt(&mf, "nope.weight", bf16, 2, up_shape, &t, &err), &err);
    CHECK(t == NULL);
    CHECK(model_file_take_opt(&mf, "model.layers.0.mlp.up_proj.weight", bf16, 2, wrong, &t, &err) ==
          OWL_ERR_BAD_FILE);

    CHECK(model_file_warn_unused(&mf) == 1); /* embed_tokens was never taken successfully */
    CHECK_OK(model_file_take_opt(&mf, "model.embed_tokens.weight", bf16, 0, NULL, &t, &err), &err);
    CHECK(t != NULL && model_file_warn_unused(&mf) == 0);
    model_file_close(&mf);
    model_file_close(&mf);
    model_file_close(NULL);

    /* The same file by its path. */
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_OK(model_file_open(&mf, path, &err), &err);
    CHECK(mf.tensors.n == 2 && strcmp(mf.dir, dir) == 0 && mf.config.n == 3);
    CHECK(model_file_warn_unused(&mf) == 2);
    model_file_close(&mf);
    free(dir);
}

/* A directory of two shards (a: SHARD1, b: SHARD2) with their index; returns its path (malloc'd). */
static char *make_sharded(const char *name)
{
    char *dir = make_dir(name);
    put_text(dir, "config.json", CONFIG);
    put_st(dir, "a.safetensors", SHARD1, 2);
    put_st(dir, "b.safetensors", SHARD2, 2);
    put_index(dir, "");
    return dir;
}

static void test_sharded(void)
{
    char *dir = make_sharded("sharded");
    struct model_file mf;
    struct owl_error err = {0};
    CHECK_OK(model_file_open(&mf, dir, &err), &err);
    CHECK(mf.tensors.n == 4 && mf.n_maps == 2);
    const struct tensor_view *norm = tensor_table_find(&mf.tensors, "model.norm.weight");
    const struct tensor_view *emb = tensor_table_find(&mf.tensors, "model.embed_tokens.weight");
    CHECK(norm && strstr(norm->file, "/b.safetensors") && norm->dtype == DTYPE_F32);
    CHECK(emb && strstr(emb->file, "/a.safetensors"));
    CHECK(emb && ((const uint8_t *)emb->data)[1] == st_byte(1));
    CHECK(model_file_warn_unused(&mf) == 4);
    model_file_close(&mf);

    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK_OK(model_file_open(&mf, path, &err), &err);
    CHECK(mf.tensors.n == 4);
    model_file_close(&mf);
    free(dir);
}

/* model_file_load: both shards copied into memory, every tensor rebased onto its own shard's copy with the
 * same bytes; a shard that changed size since it was mapped is an I/O error naming it, the files still
 * mapped and readable. */
static void test_load(void)
{
    char *dir = make_sharded("load");
    struct model_file mf;
    struct owl_error err = {0};
    CHECK_OK(model_file_open(&mf, dir, &err), &err);
    uint8_t *before[4];
    const void *old[4];
    for (int i = 0; i < mf.tensors.n && i < 4; i++) {
        const struct tensor_view *t = &mf.tensors.tensors[i];
        before[i] = malloc(t->n_bytes);
        memcpy(before[i], t->data, t->n_bytes);
        old[i] = t->data;
    }
    CHECK(model_file_bytes(&mf) == mf.maps[0].size + mf.maps[1].size);
    CHECK_OK(model_file_load(&mf, &err), &err);
    CHECK(mf.maps[0].region && mf.maps[1].region);
    for (int i = 0; i < mf.tensors.n && i < 4; i++) {
        const struct tensor_view *t = &mf.tensors.tensors[i];
        const struct file_map *m = !strcmp(t->file, mf.maps[0].path) ? &mf.maps[0] : &mf.maps[1];
        CHECK(t->data != old[i]);
        CHECK((const uint8_t *)t->data >= m->data && (const uint8_t *)t->data + t->n_bytes <= m->data + m->size);
        CHECK(memcmp(t->data, before[i], t->n_bytes) == 0);
        free(before[i]);
    }
    CHECK_OK(model_file_load(&mf, &err), &err); /* a no-op the second time */
    model_file_close(&mf);

    CHECK_OK(model_file_open(&mf, dir, &err), &err);
    char path[4096];
    snprintf(path, sizeof path, "%s/b.safetensors", dir);
    CHECK(truncate(path, (off_t)mf.maps[1].size - 1) == 0);
    CHECK(model_file_load(&mf, &err) == OWL_ERR_IO);
    CHECK(strstr(err.message, "b.safetensors") && strstr(err.message, "changed size"));
    for (int k = 0; k < 2; k++) /* b stays mapped (a is copied when it comes first) */
        CHECK(mf.maps[k].data && (!strstr(mf.maps[k].path, "/b.safetensors") || !mf.maps[k].region));
    const struct tensor_view *emb = tensor_table_find(&mf.tensors, "model.embed_tokens.weight");
    CHECK(emb && ((const uint8_t *)emb->data)[1] == st_byte(1));
    model_file_close(&mf);
    free(dir);
}

static void test_shard_mismatch(void)
{
    /* The index names a shard file that is not there. */
    char *dir = make_dir("missing_shard");
    put_text(dir, "config.json", CONFIG);
    put_st(dir, "a.safetensors", SHARD1, 2);
    put_index(dir, "");
    expect_open_fail(__LINE__, dir, OWL_ERR_IO, "b.safetensors", "cannot open");
    free(dir);

    /* A tensor in the index but absent from its shard. */
    dir = make_dir("absent_from_shard");
    put_text(dir, "config.json", CONFIG);
    put_st(dir, "a.safetensors", SHARD1, 2);
    put_st(dir, "b.safetensors", SHARD2, 2);
    put_index(dir, ", \"model.layers.1.mlp.up_proj.weight\": \"a.safetensors\"");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "'model.layers.1.mlp.up_proj.weight' is missing from shard",
                     "a.safetensors");
    free(dir);

    /* A tensor in a shard but not in the index: a corrupt download. */
    dir = make_dir("not_in_index");
    put_text(dir, "config.json", CONFIG);
    put_st(dir, "a.safetensors", SHARD1, 2);
    put_st(dir, "b.safetensors", SHARD2, 2);
    put_text(dir, "model.safetensors.index.json",
             "{\"weight_map\": {\"model.embed_tokens.weight\": \"a.safetensors\", "
             "\"model.layers.0.mlp.up_proj.weight\": \"a.safetensors\", \"model.norm.weight\": \"b.safetensors\"}}");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "b.safetensors: tensor 'lm_head.weight'",
                     "not in model.safetensors.index.json");
    /* ... or the index assigns it to the other shard. */
    put_text(dir, "model.safetensors.index.json",
             "{\"weight_map\": {\"model.embed_tokens.weight\": \"a.safetensors\", \"lm_head.weight\": "
             "\"a.safetensors\", \"model.layers.0.mlp.up_proj.weight\": \"a.safetensors\", "
             "\"model.norm.weight\": \"b.safetensors\"}}");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "'lm_head.weight' is in shard b.safetensors",
                     "maps it to a.safetensors");
    /* A name in both shards. */
    static const struct st_spec dup[] = {{"model.norm.weight", "F32", 1, {64}}};
    put_st(dir, "a.safetensors", dup, 1);
    put_text(dir, "model.safetensors.index.json",
             "{\"weight_map\": {\"model.norm.weight\": \"a.safetensors\", \"lm_head.weight\": \"b.safetensors\"}}");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "'model.norm.weight': duplicate", "a.safetensors");
    /* Malformed indexes. */
    put_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"a.safetensors\",}}");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "model.safetensors.index.json: invalid JSON", "line 1");
    put_text(dir, "model.safetensors.index.json", "{\"metadata\": {}}");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "'weight_map' is missing", NULL);
    put_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"../a.safetensors\"}}");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "weight_map['x']", "inside the model directory");
    put_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"x\": 3}}");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "weight_map['x']", NULL);
    /* A corrupt shard reports the shard's own error. */
    put_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"c.safetensors\"}}");
    put_text(dir, "c.safetensors", "abc");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "c.safetensors", "too short");
    free(dir);
}

static void test_bad_dirs(void)
{
    char *dir = make_dir("no_config");
    put_st(dir, "model.safetensors", SHARD1, 2);
    expect_open_fail(__LINE__, dir, OWL_ERR_IO, "config.json", "cannot open");
    put_text(dir, "config.json", "{\"hidden_size\": 64,\n \"x\": [1, 2}");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "config.json: invalid JSON", "line 2");
    put_text(dir, "config.json", "[]");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "config.json", "top level is an array");
    free(dir);

    dir = make_dir("no_weights");
    put_text(dir, "config.json", CONFIG);
    expect_open_fail(__LINE__, dir, OWL_ERR_IO, "no model.safetensors or model.safetensors.index.json", NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    expect_open_fail(__LINE__, path, OWL_ERR_INVALID_ARG, "not a model directory", NULL);
    snprintf(path, sizeof path, "%s/does-not-exist", dir);
    expect_open_fail(__LINE__, path, OWL_ERR_IO, "does-not-exist", NULL);
    put_text(dir, "model.safetensors", "");
    expect_open_fail(__LINE__, dir, OWL_ERR_BAD_FILE, "model.safetensors: file is 0 bytes", NULL);
    free(dir);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

int main(void)
{
    log_set_level(LOG_ERROR); /* the unused-tensor warnings are expected here */
    test_single();
    test_sharded();
    test_load();
    test_shard_mismatch();
    test_bad_dirs();
    nftw(test_tmpdir(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_done("test_model_file");
}
