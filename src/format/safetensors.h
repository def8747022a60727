/* safetensors.h — parse the safetensors container (header JSON + byte ranges), single file or sharded.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets:[b,e]},
 * "__metadata__": {str: str}}, then the data section; offsets are relative to the data section.
 * Everything is validated: header length inside the file, JSON well-formed, dtype names known, shapes
 * non-negative and their byte size (checked multiplication) equal to e - b, ranges inside the file and
 * not overlapping each other. Mirrors huggingface/safetensors' own validation (safetensors/src/tensor.rs).
 */
#ifndef OWL_SAFETENSORS_H
#define OWL_SAFETENSORS_H

#include "format/tensor.h"

struct tensor_table {
    struct tensor_view *tensors; /* owned array (n); names owned by the table */
    int n;
    int cap;
    int *slots;                  /* owned: open-addressing hash of names -> index + 1 (0 = empty), so
                                  * find is O(1) for DeepSeek-sized tables (~90k tensors) */
    size_t n_slots;              /* power of two, >= 2 * n; 0 until the first tensor */
};

void tensor_table_free(struct tensor_table *table); /* frees names too; NULL-safe */
/* Add a view; the table takes ownership of view->name (malloc'd). Returns false, freeing the name, when
 * a tensor of that name is already there. Used by other container parsers (GGUF). */
bool tensor_table_add(struct tensor_table *table, const struct tensor_view *view);
/* Drop the tensors added after the table held n (error rollback). */
void tensor_table_truncate(struct tensor_table *table, int n);
/* Find a tensor by exact name; NULL if absent. A zeroed table is a valid empty table. */
const struct tensor_view *tensor_table_find(const struct tensor_table *table, const char *name);

/* Parse one safetensors image (data, size) already in memory (a mapping), appending its tensors to table
 * with views into data. file names the source in messages and in tensor_view.file (borrowed; must
 * outlive the table). Duplicate names (also across shards) are an error. On error the table holds only
 * what it held before. This is the fuzz entry point. */
enum owl_status safetensors_parse(const uint8_t *data, size_t size, const char *file,
                                  struct tensor_table *table, struct owl_error *err);

/* ---- Writing (safetensors_write.c) ------------------------------------------------------------------ */
struct safetensors_entry {
    const char *name; /* borrowed */
    enum dtype dtype; /* a plain (non-block) dtype */
    int n_dim;
    int64_t shape[TENSOR_MAX_DIMS];
};

/* The header of a file holding the n tensors back to back in the given order: u64 length, then the JSON
 * ({"__metadata__":{"format":"pt"}, name: {dtype, shape, data_offsets}} in that order) padded with spaces
 * to a multiple of 8 bytes, as huggingface/safetensors writes it. Returns it malloc'd with its size, and
 * the data section's size. */
uint8_t *safetensors_header_build(const struct safetensors_entry *t, int n, size_t *header_size, uint64_t *data_size);

#endif
