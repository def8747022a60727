/* test_kv.c — kv_from_json flattening and types, null vs absent, the getters' conversion rules and
 * messages, and the parse errors (bad JSON with line/column, trailing garbage, nesting, top level). */
#include <stdlib.h>

#include "format/kv.h"
#include "test_util.h"

static enum owl_status parse(struct kv_table *kv, const char *text, struct owl_error *err)
{
    return kv_from_json(kv, text, strlen(text), "cfg.json", err);
}

static bool has_all(const char *msg, const char *a, const char *b, const char *c)
{
    return (!a || strstr(msg, a)) && (!b || strstr(msg, b)) && (!c || strstr(msg, c));
}

static void test_flatten(void)
{
    const char *text =
        "{\"a\": 1, \"b\": {\"c\": 2.5, \"d\": {\"e\": \"x\\u00e9\"}}, \"f\": [1, 2, 3], \"g\": null,\n"
        " \"h\": true, \"i\": {}, \"j\": [[1, 2], [3]], \"k\": [{\"x\": 1}, null, \"s\", false], \"l\": [],\n"
        " \"neg\": -7, \"big\": 9223372036854775807, \"e\": 1e-5}";
    struct kv_table kv;
    struct owl_error err = {0};
    CHECK_OK(parse(&kv, text, &err), &err);
    CHECK(kv.n == 12 && strcmp(kv.source, "cfg.json") == 0);
    for (int i = 1; i < kv.n; i++)
        CHECK(strcmp(kv.entries[i - 1].key, kv.entries[i].key) < 0); /* sorted */

    const struct kv_value *v = kv_find(&kv, "a");
    CHECK(v && v->type == KV_INT && v->i == 1 && v->f == 1.0);
    v = kv_find(&kv, "b.c");
    CHECK(v && v->type == KV_FLOAT && v->f == 2.5);
    v = kv_find(&kv, "b.d.e");
    CHECK(v && v->type == KV_STRING && strcmp(v->s, "x\xc3\xa9") == 0);
    CHECK(kv_find(&kv, "b") == NULL && kv_find(&kv, "b.d") == NULL && kv_find(&kv, "i") == NULL);
    v = kv_find(&kv, "f");
    CHECK(v && v->type == KV_ARRAY && v->n_items == 3 && v->items[2].type == KV_INT && v->items[2].i == 3);
    v = kv_find(&kv, "g");
    CHECK(v && v->type == KV_NULL); /* present but null */
    CHECK(!kv_has(&kv, "g") && !kv_has(&kv, "zz") && kv_find(&kv, "zz") == NULL && kv_has(&kv, "a"));
    v = kv_find(&kv, "h");
    CHECK(v && v->type == KV_BOOL && v->b && v->f == 1.0);
    v = kv_find(&kv, "j");
    CHECK(v && v->n_items == 2 && v->items[0].type == KV_ARRAY && v->items[0].n_items == 2 &&
          v->items[1].items[0].i == 3);
    v = kv_find(&kv, "k");
    CHECK(v && v->n_items == 4 && v->items[0].type == KV_NULL && v->items[1].type == KV_NULL &&
          v->items[2].type == KV_STRING && v->items[3].type == KV_BOOL && !v->items[3].b);
    v = kv_find(&kv, "l");
    CHECK(v && v->type == KV_ARRAY && v->n_items == 0);
    v = kv_find(&kv, "big");
    CHECK(v && v->type == KV_INT && v->i == INT64_MAX);
    CHECK(kv_find(&kv, "neg")->i == -7);
    v = kv_find(&kv, "e");
    CHECK(v && v->type == KV_FLOAT && v->f == 1e-5);
    CHECK(strcmp(kv_type_name(KV_ARRAY), "array") == 0 && strcmp(kv_type_name(KV_INT), "integer") == 0);
    kv_table_free(&kv);
    kv_table_free(&kv);
    kv_table_free(NULL);

    /* Not NUL-terminated: only len bytes are read. */
    const char buf[] = "{\"a\": 1}garbage";
    CHECK_OK(kv_from_json(&kv, buf, 8, NULL, &err), &err);
    CHECK(kv.n == 1 && strcmp(kv.source, "config") == 0);
    kv_table_free(&kv);
}

static void test_getters(void)
{
    const char *text = "{\"i\": 3, \"fi\": 1e6, \"f2\": 2.0, \"half\": 0.5, \"huge\": 1e300, \"s\": \"str\","
                       " \"t\": true, \"n\": null, \"arr\": [1], \"neg\": -4.0, \"wide\": 5000000000,"
                       " \"edge\": -9223372036854775808.0, \"past\": 9223372036854775808.0}";
    struct kv_table kv;
    struct owl_error err = {0};
    CHECK_OK(parse(&kv, text, &err), &err);
    int64_t i = 0;
    CHECK_OK(kv_get_int(&kv, "i", &i, &err), &err);
    CHECK(i == 3);
    CHECK_OK(kv_get_int(&kv, "fi", &i, &err), &err); /* integral float accepted */
    CHECK(i == 1000000);
    CHECK_OK(kv_get_int(&kv, "f2", &i, &err), &err);
    CHECK(i == 2);
    CHECK_OK(kv_get_int(&kv, "neg", &i, &err), &err);
    CHECK(i == -4);
    CHECK_OK(kv_get_int(&kv, "edge", &i, &err), &err);
    CHECK(i == INT64_MIN);
    CHECK(kv_get_int(&kv, "past", &i, &err) == OWL_ERR_BAD_CONFIG);
    CHECK(kv_get_int(&kv, "half", &i, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "cfg.json", "field 'half': expected integer, got float 0.5", NULL), "%s",
              err.message);
    CHECK(kv_get_int(&kv, "huge", &i, &err) == OWL_ERR_BAD_CONFIG);
    CHECK(kv_get_int(&kv, "s", &i, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "field 's': expected integer, got string", NULL, NULL), "%s", err.message);
    CHECK(kv_get_int(&kv, "t", &i, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "got bool", NULL, NULL), "%s", err.message);
    CHECK(kv_get_int(&kv, "arr", &i, &err) == OWL_ERR_BAD_CONFIG);
    CHECK(kv_get_int(&kv, "absent", &i, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "cfg.json: missing field 'absent'", NULL, NULL), "%s", err.message);
    CHECK(kv_get_int(&kv, "n", &i, &err) == OWL_ERR_BAD_CONFIG); /* null counts as missing */
    CHECK_MSG(has_all(err.message, "missing field 'n'", NULL, NULL), "%s", err.message);

    /* _opt: absent and null leave *out untouched; a wrong type still fails. */
    i = 42;
    CHECK_OK(kv_get_int_opt(&kv, "absent", &i, &err), &err);
    CHECK_OK(kv_get_int_opt(&kv, "n", &i, &err), &err);
    CHECK(i == 42);
    CHECK(kv_get_int_opt(&kv, "s", &i, &err) == OWL_ERR_BAD_CONFIG && i == 42);

    double f = 0;
    CHECK_OK(kv_get_float(&kv, "i", &f, &err), &err);
    CHECK(f == 3.0);
    CHECK_OK(kv_get_float(&kv, "half", &f, &err), &err);
    CHECK(f == 0.5);
    CHECK(kv_get_float(&kv, "s", &f, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "field 's': expected number, got string", NULL, NULL), "%s", err.message);
    CHECK(kv_get_float(&kv, "t", &f, &err) == OWL_ERR_BAD_CONFIG);
    CHECK(kv_get_float(&kv, "n", &f, &err) == OWL_ERR_BAD_CONFIG);
    f = 7;
    CHECK_OK(kv_get_float_opt(&kv, "n", &f, &err), &err);
    CHECK_OK(kv_get_float_opt(&kv, "absent", &f, &err), &err);
    CHECK(f == 7);

    bool b = false;
    CHECK_OK(kv_get_bool_opt(&kv, "t", &b, &err), &err);
    CHECK(b);
    CHECK(kv_get_bool_opt(&kv, "i", &b, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "field 'i': expected bool, got integer", NULL, NULL), "%s", err.message);
    b = false;
    CHECK_OK(kv_get_bool_opt(&kv, "n", &b, &err), &err);
    CHECK(!b);

    const char *s = "default";
    CHECK_OK(kv_get_str_opt(&kv, "absent", &s, &err), &err);
    CHECK(strcmp(s, "default") == 0);
    CHECK_OK(kv_get_str_opt(&kv, "s", &s, &err), &err);
    CHECK(strcmp(s, "str") == 0 && s == kv_find(&kv, "s")->s);
    CHECK(kv_get_str_opt(&kv, "arr", &s, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "expected string, got array", NULL, NULL), "%s", err.message);

    int dim = -1;
    CHECK_OK(kv_get_dim(&kv, "i", 1, 8, &dim, &err), &err);
    CHECK(dim == 3);
    CHECK_OK(kv_get_dim(&kv, "f2", 2, 2, &dim, &err), &err);
    CHECK(dim == 2);
    dim = -1;
    CHECK(kv_get_dim(&kv, "i", 4, 10, &dim, &err) == OWL_ERR_BAD_CONFIG && dim == -1);
    CHECK_MSG(has_all(err.message, "cfg.json", "field 'i' = 3, expected 4..10", NULL), "%s", err.message);
    CHECK(kv_get_dim(&kv, "wide", 1, 2147483647, &dim, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "field 'wide' = 5000000000, expected 1..2147483647", NULL, NULL), "%s",
              err.message);
    CHECK(kv_get_dim(&kv, "absent", 1, 8, &dim, &err) == OWL_ERR_BAD_CONFIG);
    CHECK_MSG(has_all(err.message, "missing field 'absent'", NULL, NULL), "%s", err.message);
    CHECK(kv_get_dim(&kv, "half", 0, 8, &dim, &err) == OWL_ERR_BAD_CONFIG);
    kv_table_free(&kv);
}

/* Each text fails with OWL_ERR_BAD_FILE, the message holds the key words, and kv is left empty. */
static void expect_bad(int line, const char *text, const char *k1, const char *k2, const char *k3)
{
    struct kv_table kv;
    struct owl_error err = {0};
    enum owl_status st = parse(&kv, text, &err);
    CHECK_MSG(st == OWL_ERR_BAD_FILE, "line %d: got %s", line, owl_status_name(st));
    CHECK_MSG(has_all(err.message, "cfg.json", k1, k2) && has_all(err.message, k3, NULL, NULL),
              "line %d: %s", line, err.message);
    CHECK(kv.n == 0 && kv.entries == NULL && kv.source == NULL);
    kv_table_free(&kv);
}

static char *nested(int depth, char open, char close)
{
    char *s = calloc((size_t)depth * 8 + 16, 1);
    size_t n = 0;
    for (int d = 0; d < depth; d++)
        n += (size_t)sprintf(s + n, "%s", open == '{' ? "{\"a\":" : "[");
    s[n++] = '1';
    for (int d = 0; d < depth; d++)
        s[n++] = close;
    return s;
}

static void test_errors(void)
{
    expect_bad(__LINE__, "{\n  \"a\": 1,\n  \"b\": }", "invalid JSON", "line 3", "column");
    expect_bad(__LINE__, "{\"a\": 1} x", "invalid JSON", "line 1", NULL);
    expect_bad(__LINE__, "{\"a\": 1}{}", "invalid JSON", NULL, NULL);
    expect_bad(__LINE__, "", "invalid JSON", NULL, NULL);
    expect_bad(__LINE__, "{\"a\": 1, \"a\": 2}", "duplicate", NULL, NULL);
    expect_bad(__LINE__, "{\"a.b\": 1, \"a\": {\"b\": 2}}", "duplicate key 'a.b'", NULL, NULL);
    expect_bad(__LINE__, "{\"a\": \"x\\u0000y\"}", "invalid JSON", NULL, NULL);
    expect_bad(__LINE__, "{\"a\": 99999999999999999999}", "invalid JSON", NULL, NULL);
    expect_bad(__LINE__, "{\"a\": NaN}", "invalid JSON", NULL, NULL);
    expect_bad(__LINE__, "[1, 2]", "top level is an array", "line 1, column 1", NULL);
    expect_bad(__LINE__, "\n  3", "top level is a number", "line 2, column 3", NULL);
    expect_bad(__LINE__, "null", "top level is null", NULL, NULL);
    expect_bad(__LINE__, "\"s\"", "top level is a string", NULL, NULL);

    /* 16 levels (the top object counts as one) parse; 17 do not, in objects or arrays. */
    struct kv_table kv;
    struct owl_error err = {0};
    char *ok = nested(16, '{', '}');
    CHECK_OK(parse(&kv, ok, &err), &err);
    CHECK(kv.n == 1 && kv_find(&kv, "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"));
    kv_table_free(&kv);
    free(ok);
    char *deep = nested(17, '{', '}');
    expect_bad(__LINE__, deep, "nested deeper than 16", "line 1, column 81", NULL);
    free(deep);
    char *arr = nested(40, '[', ']');
    arr[0] = '{'; /* "{[[...1]]": too deep is reported before the syntax */
    expect_bad(__LINE__, arr, "nested deeper than 16", NULL, NULL);
    free(arr);
    /* Brackets inside strings (with escaped quotes) do not count. */
    CHECK_OK(parse(&kv, "{\"a\": \"\\\"[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{\"}", &err), &err);
    CHECK(kv.n == 1);
    kv_table_free(&kv);
}

int main(void)
{
    test_flatten();
    test_getters();
    test_errors();
    return test_done("test_kv");
}
