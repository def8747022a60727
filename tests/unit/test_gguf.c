/* test_gguf.c — the GGUF parser: a good file with every metadata type and several tensor types; every
 * truncation of it fails cleanly; and a corrupt-file set (bad magic, old or big-endian version, offsets
 * past EOF, absurd dimensions, duplicate names and keys, unknown and unsupported types, misalignment,
 * overlap, partial blocks, impossible counts), each with its status and a message naming the problem. */
#include <stdlib.h>

#include "format/gguf.h"
#include "gguf_writer.h"
#include "test_util.h"

static uint8_t *good_file(size_t *size)
{
    struct gw_file w;
    gw_init(&w);
    gw_kv_str(&w, "general.architecture", "qwen3");
    gw_kv_u32(&w, "qwen3.block_count", 2);
    gw_kv_f32(&w, "qwen3.rope.freq_base", 1e6f);
    gw_kv_bool(&w, "tokenizer.ggml.add_bos_token", 0);
    const int32_t types[3] = {1, 3, -1};
    gw_kv_i32_array(&w, "tokenizer.ggml.token_type", types, 3);
    const char *tokens[3] = {"a", "b c", ""};
    gw_kv_str_array(&w, "tokenizer.ggml.tokens", tokens, 3);
    float f32[6] = {1, 2, 3, 4, 5, 6};
    uint64_t ne_f32[2] = {3, 2}; /* (2, 3) in PyTorch order */
    gw_tensor(&w, "a.weight", 0, 2, ne_f32, f32, sizeof f32);
    uint8_t q8[2 * 34] = {0};
    uint64_t ne_q8[2] = {32, 2};
    gw_tensor(&w, "b.weight", 8, 2, ne_q8, q8, sizeof q8);
    uint16_t bf16[4] = {0x3f80, 0x4000, 0x4040, 0x4080};
    uint64_t ne_bf16[1] = {4};
    gw_tensor(&w, "c.weight", 30, 1, ne_bf16, bf16, sizeof bf16);
    return gw_finish(&w, size);
}

static void test_good(void)
{
    size_t size;
    uint8_t *img = good_file(&size);
    struct kv_table kv = {0};
    struct tensor_table table = {0};
    struct owl_error err = {0};
    CHECK_OK(gguf_parse(img, size, "good.gguf", &kv, &table, &err), &err);
    const char *arch = NULL;
    int64_t n_layer = 0;
    double theta = 0;
    CHECK_OK(kv_get_str_opt(&kv, "general.architecture", &arch, &err), &err);
    CHECK(arch && strcmp(arch, "qwen3") == 0);
    CHECK_OK(kv_get_int(&kv, "qwen3.block_count", &n_layer, &err), &err);
    CHECK(n_layer == 2);
    CHECK_OK(kv_get_float(&kv, "qwen3.rope.freq_base", &theta, &err), &err);
    CHECK(theta == 1e6);
    const struct kv_value *arr = kv_find(&kv, "tokenizer.ggml.tokens");
    CHECK(arr && arr->type == KV_ARRAY && arr->n_items == 3 && strcmp(arr->items[1].s, "b c") == 0);
    arr = kv_find(&kv, "tokenizer.ggml.token_type");
    CHECK(arr && arr->n_items == 3 && arr->items[2].i == -1);
    CHECK(table.n == 3);
    const struct tensor_view *a = tensor_table_find(&table, "a.weight");
    CHECK(a && a->dtype == DTYPE_F32 && a->n_dim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->n_bytes == 24);
    CHECK(a && ((const float *)a->data)[5] == 6.0f && ((uintptr_t)a->data % 32) == 0);
    const struct tensor_view *b = tensor_table_find(&table, "b.weight");
    CHECK(b && b->dtype == DTYPE_Q8_0 && b->shape[0] == 2 && b->shape[1] == 32 && b->n_bytes == 68);
    const struct tensor_view *c = tensor_table_find(&table, "c.weight");
    CHECK(c && c->dtype == DTYPE_BF16 && c->n_dim == 1 && c->shape[0] == 4);

    /* every proper prefix of the file fails with OWL_ERR_BAD_FILE and leaves the tables empty */
    int bad = 0;
    for (size_t cut = 0; cut < size; cut++) {
        struct kv_table kv2 = {0};
        struct tensor_table t2 = {0};
        uint8_t *prefix = malloc(cut + 1);
        memcpy(prefix, img, cut);
        enum owl_status st = gguf_parse(prefix, cut, "cut.gguf", &kv2, &t2, &err);
        bad += st != OWL_ERR_BAD_FILE || kv2.n != 0 || t2.n != 0;
        kv_table_free(&kv2);
        tensor_table_free(&t2);
        free(prefix);
    }
    CHECK_MSG(bad == 0, "%d truncations were not refused cleanly", bad);
    kv_table_free(&kv);
    tensor_table_free(&table);
    free(img);
}

/* Build a file with one tensor described by (n_dims, ne, type, offset) and data_bytes of data. */
static uint8_t *one_tensor(int n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t data_bytes,
                           size_t *size)
{
    struct gw_buf b = {0};
    gw_put(&b, "GGUF", 4);
    gw_u32(&b, 3);
    gw_u64(&b, 1);
    gw_u64(&b, 0);
    gw_str(&b, "t");
    gw_u32(&b, (uint32_t)n_dims);
    for (int d = 0; d < n_dims; d++)
        gw_u64(&b, ne[d]);
    gw_u32(&b, type);
    gw_u64(&b, offset);
    while (b.n % 32) {
        uint8_t z = 0;
        gw_put(&b, &z, 1);
    }
    uint8_t *zeros = calloc(data_bytes + 1, 1);
    gw_put(&b, zeros, data_bytes);
    free(zeros);
    *size = b.n;
    return b.p;
}

static void expect(const char *what, const uint8_t *img, size_t size, enum owl_status status, const char *w1,
                   const char *w2)
{
    struct kv_table kv = {0};
    struct tensor_table table = {0};
    struct owl_error err = {0};
    enum owl_status st = gguf_parse(img, size, "bad.gguf", &kv, &table, &err);
    printf("%-28s -> %s: %s\n", what, owl_status_name(st), err.message);
    CHECK_MSG(st == status, "%s: got %s", what, owl_status_name(st));
    if (status == OWL_OK) {
        kv_table_free(&kv);
        tensor_table_free(&table);
        return;
    }
    CHECK_MSG(strstr(err.message, "bad.gguf") != NULL, "%s: message does not name the file", what);
    CHECK_MSG(!w1 || strstr(err.message, w1), "%s: message lacks '%s'", what, w1);
    CHECK_MSG(!w2 || strstr(err.message, w2), "%s: message lacks '%s'", what, w2);
    CHECK(kv.n == 0 && table.n == 0);
    kv_table_free(&kv);
    tensor_table_free(&table);
}

static void test_corrupt(void)
{
    size_t size;
    uint8_t *img = good_file(&size), *m = malloc(size);
    memcpy(m, img, size);
    memcpy(m, "GGML", 4);
    expect("bad magic", m, size, OWL_ERR_BAD_FILE, "not a GGUF file", NULL);
    memcpy(m, img, size);
    m[4] = 1;
    expect("version 1", m, size, OWL_ERR_UNSUPPORTED, "version 1", NULL);
    memcpy(m, img, size);
    m[4] = 0, m[7] = 3; /* big-endian version 3 */
    expect("big-endian", m, size, OWL_ERR_BAD_FILE, "big-endian", NULL);
    memcpy(m, img, size);
    m[8] = 0xff, m[9] = 0xff, m[10] = 0xff; /* tensor count */
    expect("absurd tensor count", m, size, OWL_ERR_BAD_FILE, "cannot fit", NULL);
    free(m);
    free(img);

    uint64_t ne[5] = {32, 4, 1, 1, 1};
    img = one_tensor(2, ne, 0, 0, 32 * 4 * 4, &size);
    expect("control: good", img, size, OWL_OK, "", NULL);
    free(img);
    img = one_tensor(2, ne, 0, 0, 100, &size);
    expect("offsets past EOF", img, size, OWL_ERR_BAD_FILE, "past the end", "'t'");
    free(img);
    img = one_tensor(2, ne, 0, 64, 32 * 4 * 4, &size);
    expect("offset past EOF", img, size, OWL_ERR_BAD_FILE, "past the end", NULL);
    free(img);
    img = one_tensor(2, ne, 0, 7, 1024, &size);
    expect("misaligned offset", img, size, OWL_ERR_BAD_FILE, "alignment", NULL);
    free(img);
    img = one_tensor(5, ne, 0, 0, 1024, &size);
    expect("too many dims", img, size, OWL_ERR_BAD_FILE, "5 dimensions", NULL);
    free(img);
    uint64_t huge[2] = {1ull << 40, 1ull << 40};
    img = one_tensor(2, huge, 0, 0, 64, &size);
    expect("absurd dimensions", img, size, OWL_ERR_BAD_FILE, "overflow", NULL);
    free(img);
    uint64_t big[2] = {1ull << 20, 1ull << 20};
    img = one_tensor(2, big, 0, 0, 64, &size);
    expect("dimensions past EOF", img, size, OWL_ERR_BAD_FILE, "past the end", NULL);
    free(img);
    img = one_tensor(2, ne, 99, 0, 1024, &size);
    expect("unknown type", img, size, OWL_ERR_BAD_FILE, "unknown ggml type 99", NULL);
    free(img);
    img = one_tensor(2, ne, 16, 0, 1024, &size);
    expect("unsupported type", img, size, OWL_ERR_UNSUPPORTED, "IQ2_XXS", NULL);
    free(img);
    uint64_t partial[2] = {48, 2};
    img = one_tensor(2, partial, 8, 0, 1024, &size);
    expect("partial Q8_0 block", img, size, OWL_ERR_BAD_FILE, "blocks", "48");
    free(img);

    struct gw_file w;
    gw_init(&w);
    float f[8] = {0};
    uint64_t ne1[1] = {8};
    gw_tensor(&w, "dup", 0, 1, ne1, f, sizeof f);
    gw_tensor(&w, "dup", 0, 1, ne1, f, sizeof f);
    img = gw_finish(&w, &size);
    expect("duplicate tensor names", img, size, OWL_ERR_BAD_FILE, "duplicate tensor name 'dup'", NULL);
    free(img);

    gw_init(&w);
    gw_kv_u32(&w, "k", 1);
    gw_kv_u32(&w, "k", 2);
    img = gw_finish(&w, &size);
    expect("duplicate keys", img, size, OWL_ERR_BAD_FILE, "duplicate key 'k'", NULL);
    free(img);

    gw_init(&w);
    gw_kv_u32(&w, "general.alignment", 24);
    img = gw_finish(&w, &size);
    expect("alignment not a power of 2", img, size, OWL_ERR_BAD_FILE, "general.alignment", NULL);
    free(img);

    /* two 8-float tensors, the second's offset pointing into the first */
    struct gw_buf o = {0};
    gw_put(&o, "GGUF", 4), gw_u32(&o, 3), gw_u64(&o, 2), gw_u64(&o, 0);
    gw_str(&o, "a"), gw_u32(&o, 1), gw_u64(&o, 8), gw_u32(&o, 0), gw_u64(&o, 0);
    gw_str(&o, "b"), gw_u32(&o, 1), gw_u64(&o, 8), gw_u32(&o, 0), gw_u64(&o, 0);
    while (o.n % 32)
        gw_put(&o, "", 1);
    gw_put(&o, f, sizeof f);
    expect("overlapping tensors", o.p, o.n, OWL_ERR_BAD_FILE, "overlap", NULL);
    free(o.p);

    /* a metadata array whose count cannot fit */
    struct gw_buf b = {0};
    gw_put(&b, "GGUF", 4), gw_u32(&b, 3), gw_u64(&b, 0), gw_u64(&b, 1);
    gw_str(&b, "arr"), gw_u32(&b, 9), gw_u32(&b, 8), gw_u64(&b, 1ull << 40);
    expect("absurd array count", b.p, b.n, OWL_ERR_BAD_FILE, "cannot fit", "arr");
    free(b.p);
    b = (struct gw_buf){0};
    gw_put(&b, "GGUF", 4), gw_u32(&b, 3), gw_u64(&b, 0), gw_u64(&b, 1);
    gw_str(&b, "s"), gw_u32(&b, 8), gw_u64(&b, 1ull << 62);
    expect("absurd string length", b.p, b.n, OWL_ERR_BAD_FILE, "string length", NULL);
    free(b.p);
    b = (struct gw_buf){0};
    gw_put(&b, "GGUF", 4), gw_u32(&b, 3), gw_u64(&b, 0), gw_u64(&b, 1);
    gw_str(&b, "v"), gw_u32(&b, 13), gw_u32(&b, 0);
    expect("unknown value type", b.p, b.n, OWL_ERR_BAD_FILE, "unknown value type 13", NULL);
    free(b.p);
}

int main(void)
{
    test_good();
    test_corrupt();
    return test_done("test_gguf");
}
