/* tensor.h — dtypes and tensor views: what the loader hands to models.
 *
 * A tensor_view never owns bytes: data points into a file mapping. Shapes are in PyTorch order
 * (outermost first), so a linear weight is (out, in) with `in` contiguous.
 */
#ifndef OWL_TENSOR_H
#define OWL_TENSOR_H

#include "base/base.h"

enum dtype {
    DTYPE_F32,
    DTYPE_F16,
    DTYPE_BF16,
    DTYPE_F64,
    DTYPE_I64,
    DTYPE_I32,
    DTYPE_I16,
    DTYPE_I8,
    DTYPE_U8,
    DTYPE_BOOL,
    DTYPE_F8_E4M3,
    DTYPE_F8_E5M2,
    /* GGML block types (GGUF files): a row of n elements is n / block elements' blocks of bytes each. */
    DTYPE_Q4_0, /* 32 values: f16 scale + 16 bytes of nibbles (18 bytes) */
    DTYPE_Q4_1, /* 32 values: f16 scale, f16 min + 16 bytes (20) */
    DTYPE_Q5_0, /* 32 values: f16 scale, 4 bytes high bits, 16 bytes (22) */
    DTYPE_Q5_1, /* 32 values: f16 scale, f16 min, 4 + 16 bytes (24) */
    DTYPE_Q8_0, /* 32 values: f16 scale + 32 int8 (34) */
    DTYPE_Q2_K, /* 256 values, 84 bytes */
    DTYPE_Q3_K, /* 256 values, 110 bytes */
    DTYPE_Q4_K, /* 256 values, 144 bytes */
    DTYPE_Q5_K, /* 256 values, 176 bytes */
    DTYPE_Q6_K, /* 256 values, 210 bytes */
    DTYPE_MXFP4, /* GGML MXFP4 (ggml type 39): 32 values, an E8M0 scale byte + 16 bytes of E2M1 codes whose low
                    nibbles are values 0..15 and high nibbles 16..31 (17 bytes). gpt-oss safetensors keep
                    blocks and scales apart instead: DTYPE_U8 weights with scales (weight_is_mxfp4) */
    DTYPE_COUNT
};

#define TENSOR_MAX_DIMS 8

struct tensor_view {
    const char *name;       /* borrowed from the table that holds the view */
    enum dtype dtype;
    int n_dim;              /* 0 (scalar) .. TENSOR_MAX_DIMS */
    int64_t shape[TENSOR_MAX_DIMS]; /* PyTorch order, outermost first */
    const void *data;       /* borrowed: points into a file mapping; NULL when n_bytes == 0 */
    size_t n_bytes;
    const char *file;       /* borrowed: path of the file holding it, for messages */
};

/* Bytes per element of a plain (non-block) dtype (1 for the fp8 and u8/bool types). */
size_t dtype_size(enum dtype dtype);
/* Elements per block (1 for plain dtypes, 32 or 256 for GGML block types) and bytes per block. */
int dtype_block(enum dtype dtype);
size_t dtype_block_bytes(enum dtype dtype);
/* Bytes of n_elements stored contiguously: false when n_elements is not a whole number of blocks or
 * the size overflows. */
bool dtype_bytes(enum dtype dtype, uint64_t n_elements, size_t *out);
/* Safetensors spelling ("BF16", "F8_E4M3", ...), or GGML's ("Q8_0", "Q4_K") for block types. */
const char *dtype_name(enum dtype dtype);
/* Parse a safetensors dtype name (block types are not safetensors dtypes); false if unknown. */
bool dtype_from_name(const char *name, enum dtype *out);

/* Product of the shape; 1 for a scalar. The loader has checked it does not overflow. */
int64_t tensor_n_elements(const struct tensor_view *t);

/* Format "[a, b, c]" into buf (for messages). Returns buf. */
char *tensor_shape_str(const struct tensor_view *t, char *buf, size_t size);

#endif
