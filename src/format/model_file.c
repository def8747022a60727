/* model_file.c — open a Hugging Face model as shipped: config.json + safetensors (single or sharded).
 *
 * Mirrors what transformers' load_state_dict / _get_resolved_checkpoint_files accept: model.safetensors,
 * or model.safetensors.index.json whose "weight_map" assigns each tensor name to a shard file. Unlike
 * transformers, a shard holding a tensor the index does not assign to it is an error (it means a corrupt
 * or mixed-up download). It knows files, not models: which tensors matter is model_file_take's caller's.
 */
#include "format/gguf.h"
#include "format/model_file.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xcalloc(n, 1);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = xcalloc(n + 1, 1);
    memcpy(d, path, n);
    return d;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A shard named by the index must stay inside the model directory: relative, no ".." component. */
static bool shard_name_ok(const char *name)
{
    if (!name[0] || name[0] == '/')
        return false;
    for (const char *p = name; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        p += *p == '/';
    }
    return true;
}

enum owl_status model_file_load(struct model_file *mf, struct owl_error *err)
{
    for (int k = 0; k < mf->n_maps; k++) {
        struct file_map *m = &mf->maps[k];
        const uint8_t *old = m->data;
        enum owl_status st = file_map_load(m, err);
        if (st != OWL_OK)
            return st;
        if (m->data == old)
            continue;
        for (int i = 0; i < mf->tensors.n; i++) {
            struct tensor_view *t = &mf->tensors.tensors[i];
            const uintptr_t d = (uintptr_t)t->data, o = (uintptr_t)old;
            if (t->data && d >= o && d - o < m->size)
                t->data = m->data + (d - o);
        }
    }
    return OWL_OK;
}

size_t model_file_bytes(const struct model_file *mf)
{
    size_t total = 0;
    for (int k = 0; k < mf->n_maps; k++)
        total += mf->maps[k].size;
    return total;
}

/* Map path into mf->maps[k] (allocated by the caller) and append its tensors to the table. */
static enum owl_status map_and_parse(struct model_file *mf, int k, const char *path, struct owl_error *err)
{
    enum owl_status st = file_map_open(&mf->maps[k], path, err);
    if (st != OWL_OK)
        return st;
    mf->n_maps = k + 1;
    const struct file_map *m = &mf->maps[k];
    return safetensors_parse(m->data, m->size, m->path, &mf->tensors, err);
}

static enum owl_status open_sharded(struct model_file *mf, const char *index_path, struct owl_error *err)
{
    char *text = NULL;
    size_t len = 0;
    const char **shards = NULL; /* distinct shard names, first-appearance order; borrowed from root */
    json_t *root = NULL;
    const char *index_name = base_name(index_path);
    enum owl_status st = file_read_all(index_path, &text, &len, err);
    if (st != OWL_OK)
        return st;
    json_error_t jerr;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: invalid JSON: %s (line %d, column %d)", index_path, jerr.text,
                  jerr.line, jerr.column);
        goto fail;
    }
    json_t *weight_map = json_object_get(root, "weight_map");
    if (!json_is_object(weight_map)) {
        st = fail(err, OWL_ERR_BAD_FILE, "%s: 'weight_map' is %s, expected an object", index_path,
                  weight_map ? "not an object" : "missing");
        goto fail;
    }
    shards = xcalloc(json_object_size(weight_map), sizeof *shards);
    int n_shards = 0;
    const char *name;
    json_t *v;
    json_object_foreach(weight_map, name, v) {
        if (!json_is_string(v) || !shard_name_ok(json_string_value(v))) {
            st = fail(err, OWL_ERR_BAD_FILE, "%s: weight_map['%s'] is not a file name inside the model "
                      "directory", index_path, name);
            goto fail;
        }
        const char *s = json_string_value(v);
        int k = n_shards - 1; /* entries of one shard are usually adjacent: try the last one first */
        if (k < 0 || strcmp(shards[k], s) != 0)
            for (k = 0; k < n_shards && strcmp(shards[k], s) != 0; k++) {}
        if (k == n_shards)
            shards[n_shards++] = s;
    }

    mf->maps = xcalloc((size_t)n_shards, sizeof *mf->maps);
    for (int k = 0; k < n_shards; k++) {
        char *path = path_join(mf->dir, shards[k]);
        int old_n = mf->tensors.n;
        st = map_and_parse(mf, k, path, err);
        free(path);
        if (st != OWL_OK)
            goto fail;
        for (int i = old_n; i < mf->tensors.n; i++) {
            const char *t = mf->tensors.tensors[i].name;
            const json_t *w = json_object_get(weight_map, t);
            if (!w) {
                st = fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s' is in the shard but not in %s", shards[k], t,
                          index_name);
                goto fail;
            }
            if (strcmp(json_string_value(w), shards[k]) != 0) {
                st = fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s' is in shard %s but %s maps it to %s",
                          index_name, t, shards[k], index_name, json_string_value(w));
                goto fail;
            }
        }
    }
    /* Every table entry maps to a distinct index entry; equal counts make it one-to-one. */
    if ((size_t)mf->tensors.n != json_object_size(weight_map)) {
        json_object_foreach(weight_map, name, v) {
            if (!tensor_table_find(&mf->tensors, name)) {
                st = fail(err, OWL_ERR_BAD_FILE, "%s: tensor '%s' is missing from shard %s", index_name, name,
                          json_string_value(v));
                goto fail;
            }
        }
        OWL_ASSERT(!"tensor count differs from the index but every index entry was found");
    }

fail:
    free(shards);
    json_decref(root);
    free(text);
    return st;
}

enum owl_status model_file_open(struct model_file *mf, const char *path, struct owl_error *err)
{
    memset(mf, 0, sizeof *mf);
    char *index_path = NULL, *single_path = NULL, *config_path = NULL, *text = NULL;
    size_t len = 0;
    enum owl_status st = OWL_OK;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fail(err, OWL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        mf->dir = xstrdup(path);
        index_path = path_join(path, "model.safetensors.index.json");
        if (!is_file(index_path)) {
            free(index_path);
            index_path = NULL;
            single_path = path_join(path, "model.safetensors");
            if (!is_file(single_path)) {
                st = fail(err, OWL_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", path);
                goto fail;
            }
        }
    } else if (ends_with(path, ".safetensors.index.json")) {
        mf->dir = dir_of(path);
        index_path = xstrdup(path);
    } else if (ends_with(path, ".safetensors")) {
        mf->dir = dir_of(path);
        single_path = xstrdup(path);
    } else if (ends_with(path, ".gguf")) {
        /* GGUF carries its own metadata: no config.json; names are translated to Hugging Face's. */
        mf->dir = dir_of(path);
        mf->maps = xcalloc(1, sizeof *mf->maps);
        mf->n_maps = 1;
        if ((st = file_map_open(&mf->maps[0], path, err)) ||
            (st = gguf_parse(mf->maps[0].data, mf->maps[0].size, mf->maps[0].path, &mf->config, &mf->tensors, err)) ||
            (st = gguf_to_hf(&mf->config, &mf->tensors, err)))
            goto fail;
        mf->used = xcalloc((size_t)mf->tensors.n + 1, sizeof *mf->used);
        goto fail; /* done: the cleanup below frees only the temporaries */
    } else {
        return fail(err, OWL_ERR_INVALID_ARG, "%s: not a model directory, .safetensors file, "
                    ".safetensors.index.json or .gguf file", path);
    }

    config_path = path_join(mf->dir, "config.json");
    if ((st = file_read_all(config_path, &text, &len, err)) != OWL_OK)
        goto fail;
    if ((st = kv_from_json(&mf->config, text, len, config_path, err)) != OWL_OK)
        goto fail;

    if (index_path) {
        st = open_sharded(mf, index_path, err);
    } else {
        mf->maps = xcalloc(1, sizeof *mf->maps);
        st = map_and_parse(mf, 0, single_path, err);
    }
    if (st != OWL_OK)
        goto fail;
    mf->used = xcalloc((size_t)mf->tensors.n, sizeof *mf->used);

fail:
    free(index_path);
    free(single_path);
    free(config_path);
    free(text);
    if (st != OWL_OK)
        model_file_close(mf);
    return st;
}

void model_file_close(struct model_file *mf)
{
    if (!mf)
        return;
    tensor_table_free(&mf->tensors); /* views borrow the maps' paths: free before the maps */
    kv_table_free(&mf->config);
    for (int k = 0; k < mf->n_maps; k++)
        file_map_close(&mf->maps[k]);
    free(mf->maps);
    free(mf->used);
    free(mf->dir);
    memset(mf, 0, sizeof *mf);
}

static enum owl_status take(struct model_file *mf, const char *name, uint32_t allowed, int n_dim,
                            const int64_t *shape, bool required, const struct tensor_view **out,
                            struct owl_error *err)
{
    *out = NULL;
    const struct tensor_view *t = tensor_table_find(&mf->tensors, name);
    if (!t) {
        if (!required)
            return OWL_OK;
        return fail(err, OWL_ERR_BAD_FILE, "%s: missing tensor '%s'", mf->dir, name);
    }
    if (!(allowed & (1u << t->dtype))) {
        char list[128] = "";
        size_t pos = 0;
        for (int d = 0; d < DTYPE_COUNT && pos < sizeof list; d++) {
            if (allowed & (1u << d)) {
                int w = snprintf(list + pos, sizeof list - pos, "%s%s", pos ? " or " : "", dtype_name(d));
                pos += w > 0 ? (size_t)w : 0;
            }
        }
        return fail(err, OWL_ERR_UNSUPPORTED, "%s: dtype %s, expected %s (%s)", name, dtype_name(t->dtype),
                    list[0] ? list : "none", base_name(t->file));
    }
    if (shape) {
        OWL_ASSERT(n_dim >= 0 && n_dim <= TENSOR_MAX_DIMS);
        bool same = t->n_dim == n_dim;
        for (int i = 0; same && i < n_dim; i++)
            same = t->shape[i] == shape[i];
        if (!same) {
            struct tensor_view want = {.n_dim = n_dim};
            memcpy(want.shape, shape, (size_t)n_dim * sizeof *shape);
            char want_s[96], got_s[96];
            return fail(err, OWL_ERR_BAD_FILE, "%s: expected shape %s, got %s (%s)", name,
                        tensor_shape_str(&want, want_s, sizeof want_s), tensor_shape_str(t, got_s, sizeof got_s),
                        base_name(t->file));
        }
    }
    mf->used[t - mf->tensors.tensors] = true;
    *out = t;
    return OWL_OK;
}

enum owl_status model_file_take(struct model_file *mf, const char *name, uint32_t allowed, int n_dim,
                                const int64_t *shape, const struct tensor_view **out, struct owl_error *err)
{
    return take(mf, name, allowed, n_dim, shape, true, out, err);
}

enum owl_status model_file_take_opt(struct model_file *mf, const char *name, uint32_t allowed, int n_dim,
                                    const int64_t *shape, const struct tensor_view **out,
                                    struct owl_error *err)
{
    return take(mf, name, allowed, n_dim, shape, false, out, err);
}

int model_file_warn_unused(const struct model_file *mf)
{
    enum { N_SHOWN = 4 };
    int n_unused = 0;
    char list[200] = "";
    size_t pos = 0;
    for (int i = 0; i < mf->tensors.n; i++) {
        if (mf->used && mf->used[i])
            continue;
        const char *name = mf->tensors.tensors[i].name;
        log_msg(LOG_DEBUG, "unused tensor %s", name);
        if (n_unused++ < N_SHOWN && pos < sizeof list) {
            int w = snprintf(list + pos, sizeof list - pos, "%s%s", pos ? ", " : "", name);
            pos += w > 0 ? (size_t)w : 0;
        }
    }
    if (n_unused)
        log_msg(LOG_WARN, "%s: %d of %d tensors not used by the model: %s%s", mf->dir, n_unused, mf->tensors.n,
                list, n_unused > N_SHOWN ? ", ..." : "");
    return n_unused;
}
