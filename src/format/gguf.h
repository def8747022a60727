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
 * hf of architecture arch ("qwen3", "qwen3moe", "gpt-oss"), into buf; an expert's matrix
 * "model.layers.N.mlp.experts.E.gate_proj.weight" gives its stack "blk.N.ffn_gate_exps.weight". false when
 * unmapped. */
bool gguf_name_of_hf(const char *arch, const char *hf, char *buf, size_t size);
/* Each "<arch>.*" metadata key whose Hugging Face key config has: put(user, "<arch>.<key>", value). */
void gguf_keys_of_config(const char *arch, const struct kv_table *config,
                         void (*put)(void *user, const char *key, const struct kv_value *v), void *user);

#endif
