/* model_file.h — a model as files: its mappings, tensor table and key space. Knows files, not models.
 *
 * model_file_open(dir) reads dir/config.json into the key space and maps either dir/model.safetensors
 * or every shard named by dir/model.safetensors.index.json (each shard must hold exactly the tensors the
 * index assigns to it). A path to a single .safetensors file next to a config.json works too.
 */
#ifndef OWL_MODEL_FILE_H
#define OWL_MODEL_FILE_H

#include "base/file_map.h"
#include "format/kv.h"
#include "format/safetensors.h"

struct model_file {
    char *dir;                 /* owned */
    struct file_map *maps;     /* owned, n_maps; tensors point into these */
    int n_maps;
    struct tensor_table tensors;
    struct kv_table config;    /* config.json flattened */
    bool *used;                /* owned, tensors.n: set by model_file_take, for the unused-tensor warning */
};

/* Open path: a model directory, a .safetensors file or a .safetensors.index.json, with config.json in the
 * same directory. mf is initialized by the call; on error it is left closed (zeroed). Errors: OWL_ERR_IO
 * (a file cannot be opened: the message names it, e.g. a missing shard), OWL_ERR_BAD_FILE (malformed
 * JSON or safetensors; a shard holding a tensor the index does not assign to it, or lacking one it does),
 * OWL_ERR_INVALID_ARG (path is none of the three). */
enum owl_status model_file_open(struct model_file *mf, const char *path, struct owl_error *err);
void model_file_close(struct model_file *mf); /* NULL-safe */

/* Every file read into memory (file_map_load), the tensors rebased onto the copies. Errors as file_map_load;
 * on error the files not yet copied stay mapped and every tensor still points at valid bytes. */
enum owl_status model_file_load(struct model_file *mf, struct owl_error *err);
/* Total bytes of the model's files. */
size_t model_file_bytes(const struct model_file *mf);

/* Fetch a tensor the model needs, checking dtype membership and exact shape.
 * allowed: bitmask of (1u << DTYPE_x); n_dim/shape: expected shape (PyTorch order); shape NULL skips the
 * shape check (the caller checks). Errors name the tensor and the file: "model.layers.0.mlp.up_proj.weight:
 * expected shape [96, 64], got [64, 96] (model.safetensors)" (OWL_ERR_BAD_FILE); a dtype outside allowed
 * is OWL_ERR_UNSUPPORTED; a missing tensor: "<dir>: missing tensor 'name'" (OWL_ERR_BAD_FILE).
 * Marks it used. *out is NULL on error. */
enum owl_status model_file_take(struct model_file *mf, const char *name, uint32_t allowed, int n_dim,
                                const int64_t *shape, const struct tensor_view **out, struct owl_error *err);
/* As take, but *out = NULL (and OWL_OK) when absent. */
enum owl_status model_file_take_opt(struct model_file *mf, const char *name, uint32_t allowed, int n_dim,
                                    const int64_t *shape, const struct tensor_view **out,
                                    struct owl_error *err);

/* Warn (one log_msg LOG_WARN line: the count and the first few names; every name at LOG_DEBUG) about
 * the tensors the model did not take; returns how many. */
int model_file_warn_unused(const struct model_file *mf);

#endif
