/* gguf.h — parse GGUF (v2, v3) model files: metadata into the key space, tensor infos into the tensor table.
 *
 * Layout (ggml/docs/gguf.md): magic "GGUF", u32 version, u64 tensor count, u64 metadata count; metadata
 * entries (string key, u32 type, value; arrays typed and counted); tensor infos (string name, u32 n_dims,
 * u64 ne[n_dims] innermost first, u32 ggml type, u64 offset); padding to general.alignment (default 32);
 * the data section. Every count, size and offset is checked against the file. Shapes are converted once
 * to PyTorch order (ne reversed), so a weight (out, in) has ne = [in, out].
 */
#ifndef OWL_GGUF_H
#define OWL_GGUF_H

#include "format/kv.h"
#include "format/safetensors.h"

#include <stdio.h>

/* Parse a GGUF image (data, size), e.g. a mapping. Metadata keys are added to kv (which must be empty) as they are spelled in
 * the file (kv is finished: sorted, duplicates rejected); tensors are added to table with views into
 * data. file names the source in messages (borrowed; must outlive the table). On error kv and table hold
 * what they held before and the message names the file, the key or tensor, expected and actual. */
enum owl_status gguf_parse(const uint8_t *data, size_t size, const char *file, struct kv_table *kv,
                           struct tensor_table *table, struct owl_error *err);

/* GGML's name for a ggml type id ("Q4_K", "IQ2_XXS", ...), or NULL for an unknown id. */
const char *gguf_ggml_type_name(uint32_t type);

/* Translate a GGUF model's metadata and tensor names into the Hugging Face key space and tensor names the
 * family files read (config.json keys, "model.layers.N...." names), per general.architecture.
 * Supported: qwen3. An unsupported architecture is OWL_ERR_UNSUPPORTED naming it. */
enum owl_status gguf_to_hf(struct kv_table *kv, struct tensor_table *table, struct owl_error *err);

/* The other way, for writers (owl synth): the GGUF name llama.cpp's converter gives the Hugging Face tensor
 * hf of architecture arch ("qwen3", "qwen3moe", "gpt-oss", "deepseek2"), into buf; an expert's matrix
 * "model.layers.N.mlp.experts.E.gate_proj.weight" gives its stack "blk.N.ffn_gate_exps.weight". false when
 * unmapped. */
bool gguf_name_of_hf(const char *arch, const char *hf, char *buf, size_t size);

/* ---- Writing (gguf_write.c) -------------------------------------------------------------------------
 * A GGUF v3 writer that streams: metadata and tensor infos are built in memory (small), the tensor data
 * is written by the caller, tensor after tensor in the order they were added, each preceded by
 * gguf_writer_pad_to_next's zero padding to general.alignment (32). Layout as ggml/docs/gguf.md. */
enum { GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q8_0 = 8, GGML_TYPE_BF16 = 30, GGML_TYPE_MXFP4 = 39 };

struct gguf_writer {
    uint8_t *kv, *info;          /* owned: serialized metadata entries and tensor infos */
    size_t kv_len, kv_cap, info_len, info_cap;
    uint64_t n_kv, n_tensors;
    uint64_t data_size;          /* bytes of the data section so far (aligned offsets) */
    uint64_t data_written;       /* bytes of the data section the caller has written */
    uint32_t alignment;
};

void gguf_writer_init(struct gguf_writer *w);
void gguf_writer_free(struct gguf_writer *w); /* NULL-safe */
void gguf_writer_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_f32(struct gguf_writer *w, const char *key, float v);
void gguf_writer_bool(struct gguf_writer *w, const char *key, bool v);
void gguf_writer_str(struct gguf_writer *w, const char *key, const char *v);
void gguf_writer_str_array(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gguf_writer_i32_array(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Declare the next tensor: ggml type, n_dims sizes ne (innermost first, as GGUF stores them) and its byte
 * size (the caller's: rows x bytes per row of the type). */
void gguf_writer_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims, const uint64_t *ne,
                        uint64_t n_bytes);
/* Write magic, counts, metadata, tensor infos and padding to f (path names it in messages). */
enum owl_status gguf_writer_header(struct gguf_writer *w, FILE *f, const char *path, struct owl_error *err);
/* Before each tensor's data: write the zero padding that brings the data section to the next aligned
 * offset; the caller then writes exactly the declared bytes and reports them with gguf_writer_wrote. */
enum owl_status gguf_writer_pad_to_next(struct gguf_writer *w, FILE *f, const char *path, struct owl_error *err);
static inline void gguf_writer_wrote(struct gguf_writer *w, uint64_t n) { w->data_written += n; }

#endif
