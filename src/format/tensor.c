/* tensor.c — dtype table and small tensor_view helpers (see tensor.h).
 *
 * The dtype names are the safetensors spellings (huggingface/safetensors Dtype); sizes are bytes per
 * element. Nothing here touches tensor data.
 */
#include "format/tensor.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;  /* bytes per block */
    int block;    /* elements per block; 0 in the table means 1 */
} dtype_info[DTYPE_COUNT] = {
    [DTYPE_F32] = {"F32", 4},         [DTYPE_F16] = {"F16", 2},   [DTYPE_BF16] = {"BF16", 2},
    [DTYPE_F64] = {"F64", 8},         [DTYPE_I64] = {"I64", 8},   [DTYPE_I32] = {"I32", 4},
    [DTYPE_I16] = {"I16", 2},         [DTYPE_I8] = {"I8", 1},     [DTYPE_U8] = {"U8", 1},
    [DTYPE_BOOL] = {"BOOL", 1},       [DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    /* ggml/src/ggml.c type_traits: blck_size, type_size */
    [DTYPE_Q4_0] = {"Q4_0", 18, 32},  [DTYPE_Q4_1] = {"Q4_1", 20, 32}, [DTYPE_Q5_0] = {"Q5_0", 22, 32},
    [DTYPE_Q5_1] = {"Q5_1", 24, 32},  [DTYPE_Q8_0] = {"Q8_0", 34, 32}, [DTYPE_Q2_K] = {"Q2_K", 84, 256},
    [DTYPE_Q3_K] = {"Q3_K", 110, 256}, [DTYPE_Q4_K] = {"Q4_K", 144, 256}, [DTYPE_Q5_K] = {"Q5_K", 176, 256},
    [DTYPE_Q6_K] = {"Q6_K", 210, 256}, [DTYPE_MXFP4] = {"MXFP4", 17, 32},
};

int dtype_block(enum dtype dtype)
{
    OWL_ASSERT((unsigned)dtype < DTYPE_COUNT);
    return dtype_info[dtype].block ? dtype_info[dtype].block : 1;
}

size_t dtype_block_bytes(enum dtype dtype)
{
    OWL_ASSERT((unsigned)dtype < DTYPE_COUNT);
    return dtype_info[dtype].size;
}

size_t dtype_size(enum dtype dtype)
{
    OWL_ASSERT(dtype_block(dtype) == 1);
    return dtype_info[dtype].size;
}

bool dtype_bytes(enum dtype dtype, uint64_t n_elements, size_t *out)
{
    const uint64_t block = (uint64_t)dtype_block(dtype);
    if (n_elements % block)
        return false;
    return n_elements / block <= SIZE_MAX && size_mul((size_t)(n_elements / block), dtype_block_bytes(dtype), out);
}

const char *dtype_name(enum dtype dtype)
{
    return (unsigned)dtype < DTYPE_COUNT ? dtype_info[dtype].name : "?";
}

bool dtype_from_name(const char *name, enum dtype *out)
{
    for (int d = 0; d < DTYPE_COUNT; d++) {
        if (dtype_block((enum dtype)d) == 1 && strcmp(name, dtype_info[d].name) == 0) {
            *out = (enum dtype)d;
            return true;
        }
    }
    return false;
}

int64_t tensor_n_elements(const struct tensor_view *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->n_dim; i++)
        n *= t->shape[i];
    return n;
}

char *tensor_shape_str(const struct tensor_view *t, char *buf, size_t size)
{
    OWL_ASSERT(size > 0);
    size_t pos = 0;
    buf[0] = 0;
    for (int i = -1; i <= t->n_dim && pos < size; i++) {
        int w;
        if (i < 0)
            w = snprintf(buf + pos, size - pos, "[");
        else if (i == t->n_dim)
            w = snprintf(buf + pos, size - pos, "]");
        else
            w = snprintf(buf + pos, size - pos, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (w < 0)
            break;
        pos += (size_t)w;
    }
    return buf;
}
