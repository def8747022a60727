/* test_safetensors.c — safetensors_parse on images built by st_writer.h: good files parse to the right
 * names, shapes, dtypes and data pointers; each corrupt case fails with OWL_ERR_BAD_FILE, a message naming
 * the file and the specific problem, and leaves the table exactly as it was. */
#include <stdlib.h>

#include "format/safetensors.h"
#include "st_writer.h"
#include "test_util.h"

static uint64_t header_len(const uint8_t *img)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | img[i];
    return n;
}

static void test_good(void)
{
    static const struct st_spec specs[] = {
        {"a", "BF16", 2, {2, 3}},       {"b", "F32", 1, {4}},          {"scalar", "F64", 0, {0}},
        {"empty", "I8", 2, {0, 5}},     {"e4", "F8_E4M3", 1, {3}},     {"e5", "F8_E5M2", 1, {2}},
        {"flag", "BOOL", 1, {1}},       {"i64", "I64", 1, {1}},        {"i32", "I32", 3, {1, 1, 2}},
        {"i16", "I16", 1, {2}},         {"u8", "U8", 1, {5}},          {"h", "F16", 8, {1, 1, 1, 1, 1, 1, 1, 2}},
    };
    static const enum dtype want[] = {DTYPE_BF16, DTYPE_F32, DTYPE_F64, DTYPE_I8, DTYPE_F8_E4M3, DTYPE_F8_E5M2,
                                      DTYPE_BOOL, DTYPE_I64, DTYPE_I32, DTYPE_I16, DTYPE_U8, DTYPE_F16};
    int n = (int)(sizeof specs / sizeof specs[0]);
    size_t size;
    uint8_t *img = st_build(specs, n, &size);
    const uint8_t *section = img + 8 + header_len(img);
    struct tensor_table table = {0};
    struct owl_error err = {0};
    CHECK_OK(safetensors_parse(img, size, "good.safetensors", &table, &err), &err);
    CHECK(table.n == n);
    size_t offset = 0;
    for (int i = 0; i < n && table.n == n; i++) {
        const struct tensor_view *t = tensor_table_find(&table, specs[i].name);
        CHECK_MSG(t != NULL, "%s", specs[i].name);
        if (!t)
            continue;
        CHECK(t == &table.tensors[i]); /* file order kept */
        CHECK(strcmp(t->name, specs[i].name) == 0);
        CHECK(t->dtype == want[i]);
        CHECK(t->n_dim == specs[i].n_dim);
        size_t bytes = st_dtype_bytes(specs[i].dtype);
        for (int d = 0; d < t->n_dim; d++) {
            CHECK(t->shape[d] == specs[i].shape[d]);
            bytes *= (size_t)specs[i].shape[d];
        }
        CHECK(t->n_bytes == bytes);
        CHECK(t->n_bytes == (size_t)tensor_n_elements(t) * dtype_size(t->dtype));
        CHECK(strcmp(t->file, "good.safetensors") == 0);
        if (bytes == 0)
            CHECK(t->data == NULL);
        else
            CHECK(t->data == section + offset && ((const uint8_t *)t->data)[0] == st_byte(offset));
        offset += bytes;
    }
    const struct tensor_view *s = tensor_table_find(&table, "scalar");
    CHECK(s && s->n_dim == 0 && tensor_n_elements(s) == 1 && s->n_bytes == 8);
    char buf[64];
    CHECK(strcmp(tensor_shape_str(&table.tensors[0], buf, sizeof buf), "[2, 3]") == 0);
    CHECK(strcmp(tensor_shape_str(s, buf, sizeof buf), "[]") == 0);
    CHECK(strcmp(tensor_shape_str(&table.tensors[0], buf, 4), "[2,") == 0); /* truncates, terminated */
    CHECK(tensor_table_find(&table, "missing") == NULL);
    CHECK(tensor_table_find(&table, "__metadata__") == NULL);

    /* A second image into the same table appends; a name already present is a duplicate. */
    static const struct st_spec more[] = {{"c", "F32", 1, {2}}};
    size_t size2;
    uint8_t *img2 = st_build(more, 1, &size2);
    CHECK_OK(safetensors_parse(img2, size2, "second.safetensors", &table, &err), &err);
    CHECK(table.n == n + 1 && tensor_table_find(&table, "c") && tensor_table_find(&table, "a"));
    CHECK(safetensors_parse(img2, size2, "third.safetensors", &table, &err) == OWL_ERR_BAD_FILE);
    CHECK_MSG(strstr(err.message, "duplicate") && strstr(err.message, "'c'") &&
              strstr(err.message, "third.safetensors") && strstr(err.message, "second.safetensors"),
              "%s", err.message);
    CHECK(table.n == n + 1);
    tensor_table_free(&table);
    tensor_table_free(&table); /* idempotent */
    tensor_table_free(NULL);
    free(img);
    free(img2);
}

static void test_minimal_forms(void)
{
    struct tensor_table table = {0};
    struct owl_error err = {0};
    size_t size;
    /* Empty header object, no data: valid and empty. Unpadded header, gap between tensors, unknown
     * extra fields in an entry: all accepted. */
    uint8_t *img = st_raw("{}", 0, 0, &size);
    CHECK_OK(safetensors_parse(img, size, "empty.safetensors", &table, &err), &err);
    CHECK(table.n == 0);
    free(img);
    img = st_raw("{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6],\"extra\":1},"
                 "\"y\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]},"
                 "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[6,6]}}", 0, 6, &size);
    CHECK_OK(safetensors_parse(img, size, "gap.safetensors", &table, &err), &err);
    const struct tensor_view *x = tensor_table_find(&table, "x");
    CHECK(table.n == 3 && x && ((const uint8_t *)x->data)[0] == st_byte(4));
    tensor_table_free(&table);
    free(img);

    /* Many tensors: the name index grows and every name stays findable. */
    enum { N = 3000 };
    struct st_spec *many = calloc(N, sizeof *many);
    char (*names)[16] = calloc(N, sizeof *names);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "t.%d", i);
        many[i] = (struct st_spec){names[i], "F16", 1, {i % 3}};
    }
    img = st_build(many, N, &size);
    CHECK_OK(safetensors_parse(img, size, "many.safetensors", &table, &err), &err);
    int found = 0;
    for (int i = 0; i < N; i++) {
        const struct tensor_view *t = tensor_table_find(&table, names[i]);
        found += t && t->shape[0] == i % 3;
    }
    CHECK(table.n == N && found == N);
    tensor_table_free(&table);
    free(img);
    free(many);
    free(names);
}

/* Parse a corrupt image into a table that already holds "keep"; expect BAD_FILE, a message with the file
 * name and every key word, and the table unchanged. */
static void expect_bad(int line, const uint8_t *img, size_t size, const char *k1, const char *k2, const char *k3)
{
    static const struct st_spec keep[] = {{"keep", "F32", 1, {2}}};
    size_t keep_size;
    uint8_t *keep_img = st_build(keep, 1, &keep_size);
    struct tensor_table table = {0};
    struct owl_error err = {0};
    CHECK_OK(safetensors_parse(keep_img, keep_size, "keep.safetensors", &table, &err), &err);
    enum owl_status st = safetensors_parse(img, size, "corrupt.safetensors", &table, &err);
    CHECK_MSG(st == OWL_ERR_BAD_FILE, "line %d: got %s", line, owl_status_name(st));
    const char *keys[] = {"corrupt.safetensors", k1, k2, k3};
    for (int i = 0; i < 4; i++)
        CHECK_MSG(!keys[i] || strstr(err.message, keys[i]), "line %d: '%s' not in: %s", line, keys[i],
                  err.message);
    CHECK_MSG(table.n == 1 && tensor_table_find(&table, "keep") == &table.tensors[0], "line %d", line);
    for (int i = 0; i < 4; i++) /* nothing the bad file named survives */
        CHECK(!tensor_table_find(&table, "ok") && !tensor_table_find(&table, "t"));
    tensor_table_free(&table);
    free(keep_img);
}

#define BAD_HEADER(header, n_data, k1, k2, k3)                                                      \
    do {                                                                                            \
        size_t size_;                                                                               \
        uint8_t *img_ = st_raw(header, 8, n_data, &size_);                                          \
        expect_bad(__LINE__, img_, size_, k1, k2, k3);                                              \
        free(img_);                                                                                 \
    } while (0)

/* A valid first entry, so the bad one after it exercises the roll-back. */
#define OK_ENTRY "\"ok\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"

static void test_corrupt(void)
{
    uint8_t small[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    expect_bad(__LINE__, small, 5, "5 bytes", "too short", NULL);
    expect_bad(__LINE__, small, 0, "0 bytes", NULL, NULL);
    uint8_t past[20] = {0xe8, 0x03}; /* header length 1000 in a 20-byte file */
    expect_bad(__LINE__, past, sizeof past, "header length 1000", "exceeds file size 20", NULL);
    uint8_t huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80};
    expect_bad(__LINE__, huge, sizeof huge, "exceeds file size", NULL, NULL);

    BAD_HEADER("{\"t\": {\"dtype\": ", 0, "not valid JSON", "line 1", NULL);
    BAD_HEADER("{} trailing", 0, "not valid JSON", NULL, NULL);
    BAD_HEADER("[1, 2]", 0, "not a JSON object", NULL, NULL);
    BAD_HEADER("{" OK_ENTRY "\"t\": 5}", 1, "'t'", "not an object", NULL);
    BAD_HEADER("{" OK_ENTRY "\"t\": {\"shape\": [1], \"data_offsets\": [0, 1]}}", 1, "'t'", "dtype", "missing");
    BAD_HEADER("{\"t\": {\"dtype\": 3, \"shape\": [1], \"data_offsets\": [0, 1]}}", 1, "'dtype' is an integer",
               "expected a string", NULL);
    BAD_HEADER("{" OK_ENTRY "\"t\": {\"dtype\": \"Q4_K\", \"shape\": [1], \"data_offsets\": [1, 2]}}", 2, "'t'",
               "unknown dtype", "Q4_K");
    BAD_HEADER("{\"t\": {\"dtype\": \"bf16\", \"shape\": [1], \"data_offsets\": [0, 2]}}", 2, "bf16", NULL, NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"data_offsets\": [0, 1]}}", 1, "shape", "missing", NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": 4, \"data_offsets\": [0, 1]}}", 1, "'shape' is an integer",
               "expected an array", NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [2.5], \"data_offsets\": [0, 1]}}", 1, "shape[0]",
               "not an integer", NULL);
    BAD_HEADER("{" OK_ENTRY "\"t\": {\"dtype\": \"U8\", \"shape\": [2, -3], \"data_offsets\": [1, 2]}}", 2, "'t'",
               "shape[1] = -3", "negative");
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}", 1,
               "'t'", "9 dims", "at most 8");
    BAD_HEADER("{\"t\": {\"dtype\": \"BF16\", \"shape\": [4294967296, 4294967296, 4], \"data_offsets\": [0, 0]}}",
               0, "'t'", "overflows", "BF16");
    BAD_HEADER("{\"t\": {\"dtype\": \"BF16\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 0]}}", 0,
               "overflows", NULL, NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [99999999999999999999], \"data_offsets\": [0, 0]}}", 0,
               "not valid JSON", NULL, NULL);
    BAD_HEADER("{" OK_ENTRY "\"t\": {\"dtype\": \"BF16\", \"shape\": [2, 3], \"data_offsets\": [1, 11]}}", 16,
               "'t': shape [2, 3] BF16 needs 12 bytes", "data_offsets give 10", NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [5, 3]}}", 8, "begin > end", NULL,
               NULL);
    BAD_HEADER("{" OK_ENTRY "\"t\": {\"dtype\": \"U8\", \"shape\": [12], \"data_offsets\": [1, 13]}}", 8, "'t'",
               "past end of file", "8 bytes");
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [1]}}", 1, "data_offsets", "missing", NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0]}}", 1, "data_offsets",
               "malformed", NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [-1, 0]}}", 1, "data_offsets", NULL,
               NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, \"1\"]}}", 1, "data_offsets",
               NULL, NULL);
    BAD_HEADER("{" OK_ENTRY "\"t\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [4, 12]},"
               "\"u\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [8, 16]}}", 16, "overlaps", "'t'", "'u'");
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [0, 8]},"
               "\"z\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [3, 3]}}", 8, "overlaps", "'z'", NULL);
    BAD_HEADER("{\"t\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
               "\"t\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}", 2, "duplicate", "t", NULL);
    BAD_HEADER("{\"keep\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1, "'keep'",
               "duplicate", "keep.safetensors");
    BAD_HEADER("{\"__metadata__\": [1]}", 0, "__metadata__", "not an object", NULL);
    BAD_HEADER("{\"__metadata__\": {\"format\": 1}}", 0, "__metadata__", "'format'", "not a string");
}

int main(void)
{
    test_good();
    test_minimal_forms();
    test_corrupt();
    CHECK(dtype_size(DTYPE_BF16) == 2 && dtype_size(DTYPE_F8_E4M3) == 1 && dtype_size(DTYPE_F64) == 8);
    enum dtype d;
    CHECK(dtype_from_name("F8_E5M2", &d) && d == DTYPE_F8_E5M2 && !dtype_from_name("Q8_0", &d));
    for (int i = 0; i < DTYPE_COUNT; i++) /* every plain dtype round-trips; GGML block types are not names here */
        CHECK(dtype_block((enum dtype)i) == 1 ? dtype_from_name(dtype_name((enum dtype)i), &d) && d == (enum dtype)i
                                              : !dtype_from_name(dtype_name((enum dtype)i), &d));
    return test_done("test_safetensors");
}
