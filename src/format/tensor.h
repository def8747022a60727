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

/* Bytes per element (1 for the fp8 and u8/bool types). */
size_t dtype_size(enum dtype dtype);
/* Safetensors spelling ("BF16", "F8_E4M3", ...). */
const char *dtype_name(enum dtype dtype);
/* Parse a safetensors dtype name; false if unknown. */
bool dtype_from_name(const char *name, enum dtype *out);

/* Product of the shape; 1 for a scalar. The loader has checked it does not overflow. */
int64_t tensor_n_elements(const struct tensor_view *t);

/* Format "[a, b, c]" into buf (for messages). Returns buf. */
char *tensor_shape_str(const struct tensor_view *t, char *buf, size_t size);

#endif
