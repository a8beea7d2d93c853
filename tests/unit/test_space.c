#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "rng.h"
#include "space.h"

/* ---- helpers ---- */

static json_t *J(const char *text)
{
    char err[256];
    json_t *v = json_parse_text(text, strlen(text), err, sizeof err);
    ck_assert_msg(v != NULL, "bad test JSON: %s: %s", err, text);
    return v;
}

static struct space *parse_ok(const char *text)
{
    char err[512] = "";
    json_t *v = J(text);
    struct space *s = space_parse(v, err, sizeof err);
    ck_assert_msg(s != NULL, "space_parse failed: %s (for %s)", err, text);
    json_decref(v);
    return s;
}

/* Parsing must fail and the message must contain each of the given pieces. */
static void parse_fails(const char *text, const char *want1, const char *want2)
{
    char err[512] = "";
    json_t *v = J(text);
    struct space *s = space_parse(v, err, sizeof err);
    ck_assert_msg(s == NULL, "space_parse accepted %s", text);
    ck_assert_msg(strstr(err, want1) != NULL, "message \"%s\" lacks \"%s\"", err, want1);
    if (want2)
        ck_assert_msg(strstr(err, want2) != NULL, "message \"%s\" lacks \"%s\"", err, want2);
    json_decref(v);
}

static json_t *check_ok(const struct space *s, const char *config)
{
    char err[512] = "";
    json_t *c = J(config);
    json_t *out = space_check(s, c, err, sizeof err);
    ck_assert_msg(out != NULL, "space_check rejected %s: %s", config, err);
    json_decref(c);
    return out;
}

static void check_fails(const struct space *s, const char *config, const char *want1,
                        const char *want2)
{
    char err[512] = "";
    json_t *c = J(config);
    json_t *out = space_check(s, c, err, sizeof err);
    ck_assert_msg(out == NULL, "space_check accepted %s", config);
    ck_assert_msg(strstr(err, want1) != NULL, "message \"%s\" lacks \"%s\"", err, want1);
    if (want2)
        ck_assert_msg(strstr(err, want2) != NULL, "message \"%s\" lacks \"%s\"", err, want2);
    json_decref(c);
}

#define P1(body) "[{\"name\": \"x\", " body "}]"

/* ---- parsing: accepted spaces ---- */

START_TEST(parse_design_example)
{
    struct space *s = parse_ok(
        "[{\"name\": \"C\", \"type\": \"float\", \"low\": 1e-3, \"high\": 1e3, \"log\": true},"
        " {\"name\": \"kernel\", \"type\": \"categorical\", \"choices\": [\"rbf\", \"poly\", "
        "\"linear\"]},"
        " {\"name\": \"degree\", \"type\": \"int\", \"low\": 2, \"high\": 5, \"when\": "
        "{\"kernel\": [\"poly\"]}},"
        " {\"name\": \"model\", \"type\": \"code\", \"language\": \"python\","
        "  \"contract\": \"define build_model(n_classes)\", \"baseline\": \"def build_model(n): "
        "pass\"}]");
    ck_assert_uint_eq(s->n, 4);
    ck_assert_str_eq(s->params[0].name, "C");
    ck_assert_int_eq(s->params[0].type, PARAM_FLOAT);
    ck_assert(s->params[0].log);
    ck_assert(s->params[0].low == 1e-3 && s->params[0].high == 1e3);
    ck_assert(s->params[0].step == 0);
    ck_assert_int_eq(s->params[0].parent, -1);
    ck_assert_int_eq(s->params[1].type, PARAM_CATEGORICAL);
    ck_assert_uint_eq(json_array_size(s->params[1].choices), 3);
    ck_assert_int_eq(s->params[2].type, PARAM_INT);
    ck_assert(s->params[2].step == 1);
    ck_assert_int_eq(s->params[2].parent, 1);
    ck_assert_uint_eq(json_array_size(s->params[2].when_values), 1);
    ck_assert_int_eq(s->params[3].type, PARAM_CODE);
    ck_assert_str_eq(s->params[3].language, "python");
    ck_assert_str_eq(s->params[3].baseline, "def build_model(n): pass");
    ck_assert_uint_eq(s->params[3].max_bytes, 65536);
    ck_assert_ptr_null(s->params[3].requires);
    size_t idx = 99;
    ck_assert_ptr_eq(space_find(s, "degree", &idx), &s->params[2]);
    ck_assert_uint_eq(idx, 2);
    ck_assert_ptr_null(space_find(s, "nope", NULL));
    space_free(s);
    space_free(NULL);
}
END_TEST

START_TEST(parse_int_real_bounds_and_steps)
{
    struct space *s =
        parse_ok("[{\"name\": \"n\", \"type\": \"int\", \"low\": 2.0, \"high\": 10, \"step\": 2},"
                 " {\"name\": \"f\", \"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 1},"
                 " {\"name\": \"g\", \"type\": \"int\", \"low\": 1, \"high\": 1000, \"log\": true, "
                 "\"step\": 3}]");
    ck_assert(s->params[0].low == 2 && s->params[0].step == 2);
    ck_assert(s->params[1].step == 1); /* step equal to the range is fine */
    ck_assert(s->params[2].log && s->params[2].step == 3);
    space_free(s);
}
END_TEST

START_TEST(parse_max_params)
{
    json_t *arr = json_array();
    for (int i = 0; i < 257; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "p%d", i);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:f, s:f}", "name", nm, "type", "float",
                                             "low", 0.0, "high", 1.0));
    }
    char err[256] = "";
    ck_assert_ptr_null(space_parse(arr, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "params"));
    ck_assert_ptr_nonnull(strstr(err, "256"));
    json_array_remove(arr, 256);
    struct space *s = space_parse(arr, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_uint_eq(s->n, 256);
    space_free(s);
    json_decref(arr);
}
END_TEST

/* ---- parsing: every rejection names the field ---- */

START_TEST(reject_structure)
{
    parse_fails("{}", "params", "array");
    parse_fails("[]", "params", "non-empty");
    parse_fails("\"x\"", "params", NULL);
    parse_fails("[{\"name\": \"a\", \"type\": \"float\", \"low\": 0, \"high\": 1}, 3]", "params[1]",
                "object");
    parse_fails("[{\"type\": \"float\", \"low\": 0, \"high\": 1}]", "params[0].name", "required");
    parse_fails("[{\"name\": 5, \"type\": \"float\", \"low\": 0, \"high\": 1}]", "params[0].name",
                "invalid");
    parse_fails("[{\"name\": \"a b\", \"type\": \"float\", \"low\": 0, \"high\": 1}]",
                "params[0].name", "\"a b\"");
    parse_fails("[{\"name\": \"\", \"type\": \"float\", \"low\": 0, \"high\": 1}]",
                "params[0].name", "invalid");
    parse_fails(
        "[{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
        "\"type\": \"float\", \"low\": 0, \"high\": 1}]",
        "params[0].name", "invalid");
    parse_fails("[{\"name\": \"a\", \"type\": \"float\", \"low\": 0, \"high\": 1},"
                " {\"name\": \"a\", \"type\": \"int\", \"low\": 0, \"high\": 1}]",
                "params[1].name", "duplicate name \"a\"");
    parse_fails(P1("\"low\": 0, \"high\": 1"), "params[0].type", "required");
    parse_fails(P1("\"type\": \"double\", \"low\": 0, \"high\": 1"), "params[0].type",
                "\"double\"");
    parse_fails(P1("\"type\": 1"), "params[0].type", "unknown type");
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"lo\": 3"), "params[0].lo",
                "unknown field");
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"choices\": [1]"),
                "params[0].choices", "unknown field");
    parse_fails(P1("\"type\": \"categorical\", \"choices\": [1], \"low\": 0"), "params[0].low",
                "unknown field");
    parse_fails(P1("\"type\": \"code\", \"language\": \"c\", \"baseline\": \"x\", \"step\": 1"),
                "params[0].step", "unknown field");
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"description\": 3"),
                "params[0].description", NULL);
}
END_TEST

START_TEST(reject_bounds)
{
    parse_fails(P1("\"type\": \"float\", \"high\": 1"), "params[0].low", "required");
    parse_fails(P1("\"type\": \"float\", \"low\": 1"), "params[0].high", "required");
    parse_fails(P1("\"type\": \"float\", \"low\": \"0\", \"high\": 1"), "params[0].low", "number");
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": true"), "params[0].high", "number");
    parse_fails(P1("\"type\": \"float\", \"low\": null, \"high\": 1"), "params[0].low", "number");
    parse_fails(P1("\"type\": \"float\", \"low\": 5, \"high\": 2"), "params[0].low",
                "must be below high (\"5\" >= \"2\")");
    parse_fails(P1("\"type\": \"float\", \"low\": 2, \"high\": 2"), "params[0].low", "below high");
    parse_fails(P1("\"type\": \"int\", \"low\": 7, \"high\": 3"), "params[0].low", "below high");
    parse_fails(P1("\"type\": \"float\", \"low\": -1e308, \"high\": 1e308"), "params[0].high",
                "wide");
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"log\": true"), "params[0].low",
                "positive");
    parse_fails(P1("\"type\": \"float\", \"low\": -1, \"high\": 1, \"log\": true"), "params[0].low",
                "\"-1\"");
    parse_fails(P1("\"type\": \"int\", \"low\": 0, \"high\": 10, \"log\": true"), "params[0].low",
                "positive");
    parse_fails(P1("\"type\": \"float\", \"low\": 0.5, \"high\": 1, \"log\": 1"), "params[0].log",
                "true or false");
    parse_fails(P1("\"type\": \"int\", \"low\": 0.5, \"high\": 3"), "params[0].low",
                "integer (got \"0.5\")");
    parse_fails(P1("\"type\": \"int\", \"low\": 0, \"high\": 3.25"), "params[0].high", "integer");
    parse_fails(P1("\"type\": \"int\", \"low\": 0, \"high\": 1e17"), "params[0].high", "integer");
}
END_TEST

START_TEST(reject_steps)
{
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0"), "params[0].step",
                "positive");
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": -0.1"),
                "params[0].step", "positive");
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": \"0.1\""),
                "params[0].step", "positive");
    parse_fails(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 1.5"), "params[0].step",
                "exceed");
    parse_fails(P1("\"type\": \"int\", \"low\": 0, \"high\": 4, \"step\": 5"), "params[0].step",
                "exceed");
    parse_fails(P1("\"type\": \"int\", \"low\": 0, \"high\": 4, \"step\": 0.5"), "params[0].step",
                "integer");
    parse_fails(P1("\"type\": \"int\", \"low\": 0, \"high\": 4, \"step\": 0"), "params[0].step",
                "positive");
    parse_fails(P1("\"type\": \"float\", \"low\": 0.1, \"high\": 1, \"log\": true, \"step\": 0.1"),
                "params[0].step", "log");
}
END_TEST

START_TEST(reject_categorical)
{
    parse_fails(P1("\"type\": \"categorical\""), "params[0].choices", "required");
    parse_fails(P1("\"type\": \"categorical\", \"choices\": []"), "params[0].choices", "non-empty");
    parse_fails(P1("\"type\": \"categorical\", \"choices\": \"a\""), "params[0].choices", "array");
    parse_fails(P1("\"type\": \"categorical\", \"choices\": [\"a\", \"b\", \"a\"]"),
                "params[0].choices[2]", "duplicate choice \"a\"");
    parse_fails(P1("\"type\": \"categorical\", \"choices\": [1, 1.0]"), "params[0].choices[1]",
                "duplicate");
    parse_fails(P1("\"type\": \"categorical\", \"choices\": [1, {}]"), "params[0].choices[1]",
                "string, number or boolean");
    parse_fails(P1("\"type\": \"categorical\", \"choices\": [[1]]"), "params[0].choices[0]", NULL);
    parse_fails(P1("\"type\": \"categorical\", \"choices\": [\"a\", null]"), "params[0].choices[1]",
                NULL);
    /* true and 1 are different choices */
    struct space *s = parse_ok(P1("\"type\": \"categorical\", \"choices\": [true, 1, \"1\"]"));
    ck_assert_uint_eq(json_array_size(s->params[0].choices), 3);
    space_free(s);
}
END_TEST

START_TEST(reject_code)
{
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\""), "params[0].baseline",
                "required");
    parse_fails(P1("\"type\": \"code\", \"baseline\": \"x = 1\""), "params[0].language",
                "required");
    parse_fails(P1("\"type\": \"code\", \"language\": \"\", \"baseline\": \"x = 1\""),
                "params[0].language", "empty");
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": 3"),
                "params[0].baseline", "string");
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"\""),
                "params[0].baseline", "empty");
    parse_fails(
        P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"x\", \"contract\": 1"),
        "params[0].contract", "string");
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"x\", "
                   "\"requires\": \"build\""),
                "params[0].requires", "array");
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"x\", "
                   "\"requires\": [\"a b\"]"),
                "params[0].requires[0]", "invalid symbol");
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"def f(): pass\", "
                   "\"requires\": [\"build_model\"]"),
                "params[0].baseline", "symbol \"build_model\"");
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"xxxxxx\", "
                   "\"max_bytes\": 3"),
                "params[0].baseline", "max_bytes");
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"x\", "
                   "\"max_bytes\": 0"),
                "params[0].max_bytes", NULL);
    parse_fails(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"x\", "
                   "\"max_bytes\": 1.5"),
                "params[0].max_bytes", NULL);
    struct space *s =
        parse_ok(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"def "
                    "build_model(): pass\", \"requires\": [\"build_model\"], \"max_bytes\": 100"));
    ck_assert_uint_eq(s->params[0].max_bytes, 100);
    ck_assert_uint_eq(json_array_size(s->params[0].requires), 1);
    ck_assert_str_eq(s->params[0].contract, "");
    space_free(s);
}
END_TEST

#define KERNEL "{\"name\": \"kernel\", \"type\": \"categorical\", \"choices\": [\"rbf\", \"poly\"]}"

START_TEST(reject_when)
{
    parse_fails("[" KERNEL ", {\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"kern\": [\"poly\"]}}]",
                "params[1].when", "unknown parameter \"kern\"");
    parse_fails("[{\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"kernel\": [\"poly\"]}}, " KERNEL "]",
                "params[0].when", "must come before");
    parse_fails("[" KERNEL ", {\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"d\": [1]}}]",
                "params[1].when", "itself");
    parse_fails("[" KERNEL ", {\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"kernel\": [\"sigmoid\"]}}]",
                "params[1].when.kernel[0]", "\"sigmoid\"");
    parse_fails("[" KERNEL ", {\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"kernel\": []}}]",
                "params[1].when.kernel", "non-empty");
    parse_fails("[" KERNEL ", {\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"kernel\": \"poly\"}}]",
                "params[1].when.kernel", "array");
    parse_fails("[" KERNEL ", {\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": {}}]",
                "params[1].when", "one key");
    parse_fails("[" KERNEL ", {\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": [\"kernel\"]}]",
                "params[1].when", "one key");
    parse_fails("[" KERNEL ", {\"name\": \"n\", \"type\": \"int\", \"low\": 1, \"high\": 3}, "
                "{\"name\": \"d\", \"type\": \"int\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"kernel\": [\"poly\"], \"n\": [1]}}]",
                "params[2].when", "one key");
    /* int parent: out of range, not an integer, off grid */
    parse_fails("[{\"name\": \"n\", \"type\": \"int\", \"low\": 1, \"high\": 3}, "
                "{\"name\": \"d\", \"type\": \"float\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"n\": [4]}}]",
                "params[1].when.n[0]", "out of range");
    parse_fails("[{\"name\": \"n\", \"type\": \"int\", \"low\": 1, \"high\": 3}, "
                "{\"name\": \"d\", \"type\": \"float\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"n\": [1.5]}}]",
                "params[1].when.n[0]", "integer");
    parse_fails("[{\"name\": \"n\", \"type\": \"int\", \"low\": 1, \"high\": 9, \"step\": 2}, "
                "{\"name\": \"d\", \"type\": \"float\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"n\": [2]}}]",
                "params[1].when.n[0]", "grid");
    parse_fails("[{\"name\": \"n\", \"type\": \"float\", \"low\": 0, \"high\": 1}, "
                "{\"name\": \"d\", \"type\": \"float\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"n\": [\"0.5\"]}}]",
                "params[1].when.n[0]", "number");
    /* bool is not 1 */
    parse_fails("[{\"name\": \"b\", \"type\": \"categorical\", \"choices\": [1, 2]}, "
                "{\"name\": \"d\", \"type\": \"float\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"b\": [true]}}]",
                "params[1].when.b[0]", NULL);
    parse_fails("[{\"name\": \"m\", \"type\": \"code\", \"language\": \"c\", \"baseline\": \"x\"}, "
                "{\"name\": \"d\", \"type\": \"float\", \"low\": 1, \"high\": 3, "
                "\"when\": {\"m\": [\"x\"]}}]",
                "params[1].when", "code");
}
END_TEST

START_TEST(when_values_normalised)
{
    struct space *s =
        parse_ok("[{\"name\": \"b\", \"type\": \"categorical\", \"choices\": [1.0, 2, true]}, "
                 "{\"name\": \"n\", \"type\": \"int\", \"low\": 1, \"high\": 5}, "
                 "{\"name\": \"d\", \"type\": \"float\", \"low\": 1, \"high\": 3, "
                 "\"when\": {\"b\": [1, true]}}, "
                 "{\"name\": \"e\", \"type\": \"float\", \"low\": 1, \"high\": 3, "
                 "\"when\": {\"n\": [2.0]}}]");
    const json_t *w = s->params[2].when_values;
    ck_assert(json_is_real(json_array_get(w, 0)));
    ck_assert(json_is_true(json_array_get(w, 1)));
    ck_assert(json_is_integer(json_array_get(s->params[3].when_values, 0)));
    space_free(s);
}
END_TEST

/* ---- activity ---- */

#define CHAIN                                                                                      \
    "[{\"name\": \"model\", \"type\": \"categorical\", \"choices\": [\"svm\", \"tree\"]},"         \
    " {\"name\": \"kernel\", \"type\": \"categorical\", \"choices\": [\"rbf\", \"poly\"],"         \
    "  \"when\": {\"model\": [\"svm\"]}},"                                                         \
    " {\"name\": \"degree\", \"type\": \"int\", \"low\": 2, \"high\": 5,"                          \
    "  \"when\": {\"kernel\": [\"poly\"]}},"                                                       \
    " {\"name\": \"depth\", \"type\": \"int\", \"low\": 1, \"high\": 20,"                          \
    "  \"when\": {\"model\": [\"tree\"]}},"                                                        \
    " {\"name\": \"coef\", \"type\": \"float\", \"low\": 0, \"high\": 1,"                          \
    "  \"when\": {\"degree\": [3, 4]}}]"

START_TEST(active_chained)
{
    struct space *s = parse_ok(CHAIN);
    json_t *c = J("{\"model\": \"svm\", \"kernel\": \"poly\", \"degree\": 3}");
    ck_assert(space_active(s, 0, c));
    ck_assert(space_active(s, 1, c));
    ck_assert(space_active(s, 2, c));
    ck_assert(!space_active(s, 3, c));
    ck_assert(space_active(s, 4, c));
    json_decref(c);
    /* the parent has a matching value but is itself inactive: the child is inactive */
    c = J("{\"model\": \"tree\", \"kernel\": \"poly\", \"degree\": 3}");
    ck_assert(!space_active(s, 1, c));
    ck_assert(!space_active(s, 2, c));
    ck_assert(!space_active(s, 4, c));
    ck_assert(space_active(s, 3, c));
    json_decref(c);
    c = J("{\"model\": \"svm\", \"kernel\": \"rbf\"}");
    ck_assert(!space_active(s, 2, c));
    ck_assert(!space_active(s, 4, c));
    ck_assert(!space_active(s, 99, c));
    json_decref(c);
    /* numeric parent matched by value: 4.0 is 4 */
    c = J("{\"model\": \"svm\", \"kernel\": \"poly\", \"degree\": 4.0}");
    ck_assert(space_active(s, 4, c));
    json_decref(c);
    space_free(s);
}
END_TEST

START_TEST(check_activity_messages)
{
    struct space *s = parse_ok(CHAIN);
    json_t *o = check_ok(s, "{\"model\": \"tree\", \"depth\": 7}");
    ck_assert_uint_eq(json_object_size(o), 2);
    json_decref(o);
    o = check_ok(s, "{\"model\": \"svm\", \"kernel\": \"poly\", \"degree\": 4, \"coef\": 0.5}");
    ck_assert_uint_eq(json_object_size(o), 4);
    json_decref(o);
    o = check_ok(s, "{\"model\": \"svm\", \"kernel\": \"poly\", \"degree\": 5}");
    ck_assert_uint_eq(json_object_size(o), 3);
    json_decref(o);
    check_fails(s, "{\"model\": \"svm\", \"kernel\": \"rbf\", \"degree\": 3}", "degree",
                "inactive when kernel is \"rbf\"");
    check_fails(s, "{\"model\": \"tree\", \"depth\": 3, \"degree\": 3}", "degree",
                "kernel is inactive");
    check_fails(s, "{\"model\": \"svm\", \"kernel\": \"poly\"}", "degree: missing", "poly");
    check_fails(s, "{\"model\": \"svm\", \"kernel\": \"poly\", \"degree\": 3}", "coef: missing",
                NULL);
    check_fails(s, "{\"model\": \"tree\"}", "depth: missing", NULL);
    check_fails(s, "{\"kernel\": \"rbf\"}", "model: missing", NULL);
    check_fails(s, "{\"model\": \"tree\", \"depth\": 3, \"lr\": 0.1}", "lr", "unknown parameter");
    check_fails(s, "[1]", "object", NULL);
    /* null for an inactive parameter counts as absent and is dropped */
    o = check_ok(s, "{\"model\": \"tree\", \"depth\": 3, \"kernel\": null}");
    ck_assert_ptr_null(json_object_get(o, "kernel"));
    json_decref(o);
    check_fails(s, "{\"model\": \"tree\", \"depth\": null}", "depth", "integer");
    space_free(s);
}
END_TEST

/* ---- space_check values ---- */

START_TEST(check_float)
{
    struct space *s = parse_ok(P1("\"type\": \"float\", \"low\": 0.5, \"high\": 2"));
    json_t *o = check_ok(s, "{\"x\": 1}");
    ck_assert(json_is_real(json_object_get(o, "x")));
    ck_assert(json_real_value(json_object_get(o, "x")) == 1.0);
    json_decref(o);
    o = check_ok(s, "{\"x\": 2.0000000000001}"); /* within 1e-12 relative: clamped */
    ck_assert(json_real_value(json_object_get(o, "x")) == 2.0);
    json_decref(o);
    o = check_ok(s, "{\"x\": 0.5}");
    ck_assert(json_real_value(json_object_get(o, "x")) == 0.5);
    json_decref(o);
    check_fails(s, "{\"x\": 2.001}", "x:", "out of range [0.5, 2]");
    check_fails(s, "{\"x\": 0.4999}", "x:", "out of range");
    check_fails(s, "{\"x\": \"1\"}", "x:", "number");
    check_fails(s, "{\"x\": true}", "x:", "number");
    check_fails(s, "{\"x\": [1]}", "x:", "number");
    space_free(s);
}
END_TEST

START_TEST(check_float_step)
{
    struct space *s = parse_ok(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0.1"));
    json_t *o = check_ok(s, "{\"x\": 0.30000000001}");
    ck_assert(json_real_value(json_object_get(o, "x")) == 0.3);
    json_decref(o);
    o = check_ok(s, "{\"x\": 0.7}");
    ck_assert(json_real_value(json_object_get(o, "x")) == 0.7);
    json_decref(o);
    o = check_ok(s, "{\"x\": 1}");
    ck_assert(json_real_value(json_object_get(o, "x")) == 1.0);
    json_decref(o);
    check_fails(s, "{\"x\": 0.35}", "x:", "grid");
    space_free(s);
    /* high not on the grid: the last grid point is below high */
    s = parse_ok(P1("\"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0.3"));
    o = check_ok(s, "{\"x\": 0.9}");
    ck_assert(json_real_value(json_object_get(o, "x")) == 0.9);
    json_decref(o);
    check_fails(s, "{\"x\": 1}", "x:", "grid");
    space_free(s);
}
END_TEST

START_TEST(check_int)
{
    struct space *s = parse_ok(P1("\"type\": \"int\", \"low\": -3, \"high\": 9, \"step\": 3"));
    json_t *o = check_ok(s, "{\"x\": 3.0}");
    ck_assert(json_is_integer(json_object_get(o, "x")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "x")), 3);
    json_decref(o);
    o = check_ok(s, "{\"x\": -3}");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "x")), -3);
    json_decref(o);
    check_fails(s, "{\"x\": 3.5}", "x:", "integer (got \"3.5\")");
    check_fails(s, "{\"x\": 4}", "x:", "grid");
    check_fails(s, "{\"x\": 12}", "x:", "out of range [-3, 9]");
    check_fails(s, "{\"x\": -6}", "x:", "out of range");
    check_fails(s, "{\"x\": \"3\"}", "x:", "integer");
    check_fails(s, "{\"x\": false}", "x:", "integer");
    space_free(s);
}
END_TEST

START_TEST(check_categorical)
{
    struct space *s =
        parse_ok(P1("\"type\": \"categorical\", \"choices\": [\"a\", 1.5, 2.0, true, 3]"));
    json_t *o = check_ok(s, "{\"x\": 2}");
    ck_assert(json_is_real(json_object_get(o, "x"))); /* the canonical choice 2.0 */
    json_decref(o);
    o = check_ok(s, "{\"x\": 3.0}");
    ck_assert(json_is_integer(json_object_get(o, "x")));
    json_decref(o);
    o = check_ok(s, "{\"x\": true}");
    ck_assert(json_is_true(json_object_get(o, "x")));
    json_decref(o);
    o = check_ok(s, "{\"x\": \"a\"}");
    ck_assert_str_eq(json_string_value(json_object_get(o, "x")), "a");
    json_decref(o);
    check_fails(s, "{\"x\": 1}", "x:", "not one of");
    check_fails(s, "{\"x\": \"A\"}", "x:", "\"A\"");
    check_fails(s, "{\"x\": false}", "x:", "not one of");
    space_free(s);
    /* 1 is not true, true is not 1 */
    s = parse_ok(P1("\"type\": \"categorical\", \"choices\": [1, 0]"));
    check_fails(s, "{\"x\": true}", "x:", "not one of");
    space_free(s);
    s = parse_ok(P1("\"type\": \"categorical\", \"choices\": [true, false]"));
    check_fails(s, "{\"x\": 1}", "x:", "not one of");
    ck_assert_int_eq(param_choice_index(&s->params[0], json_false()), 1);
    json_t *zero = json_integer(0);
    ck_assert_int_eq(param_choice_index(&s->params[0], zero), -1);
    json_decref(zero);
    space_free(s);
}
END_TEST

START_TEST(check_code)
{
    struct space *s =
        parse_ok(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"def "
                    "build_model(n): pass\", \"requires\": [\"build_model\"], \"max_bytes\": 40"));
    json_t *o = check_ok(s, "{\"x\": \"def build_model(k):\\n  return k\"}");
    ck_assert_str_eq(json_string_value(json_object_get(o, "x")), "def build_model(k):\n  return k");
    json_decref(o);
    o = check_ok(s, "{\"x\": \"build_model = 3\"}");
    json_decref(o);
    check_fails(s, "{\"x\": \"def build_models(k): pass\"}", "x:", "build_model");
    check_fails(s, "{\"x\": \"def my_build_model(k): pass\"}", "x:", "build_model");
    check_fails(s, "{\"x\": \"\"}", "x:", "empty");
    check_fails(s, "{\"x\": 3}", "x:", "string");
    check_fails(s, "{\"x\": \"def build_model(n): return 1234567890123456789\"}",
                "x:", "max_bytes");
    space_free(s);
}
END_TEST

/* ---- unit cube ---- */

START_TEST(unit_float_linear)
{
    struct space *s = parse_ok(P1("\"type\": \"float\", \"low\": -2, \"high\": 6"));
    const struct param *p = &s->params[0];
    json_t *v = param_from_unit(p, 0);
    ck_assert(json_is_real(v) && json_real_value(v) == -2);
    json_decref(v);
    v = param_from_unit(p, 1);
    ck_assert(json_real_value(v) == 6);
    json_decref(v);
    v = param_from_unit(p, 0.25);
    ck_assert_double_eq_tol(json_real_value(v), 0, 1e-12);
    json_decref(v);
    v = param_from_unit(p, -3); /* clamped */
    ck_assert(json_real_value(v) == -2);
    json_decref(v);
    v = param_from_unit(p, 7);
    ck_assert(json_real_value(v) == 6);
    json_decref(v);
    v = param_from_unit(p, NAN);
    ck_assert(json_real_value(v) >= -2 && json_real_value(v) <= 6);
    json_decref(v);
    v = json_real(4);
    ck_assert_double_eq_tol(param_to_unit(p, v), 0.75, 1e-12);
    json_decref(v);
    v = json_integer(-2);
    ck_assert_double_eq_tol(param_to_unit(p, v), 0, 1e-12);
    json_decref(v);
    space_free(s);
}
END_TEST

START_TEST(unit_float_log_decades)
{
    struct space *s = parse_ok(P1("\"type\": \"float\", \"low\": 1e-3, \"high\": 1e3, "
                                  "\"log\": true"));
    const struct param *p = &s->params[0];
    int decades[6] = {0};
    struct rng r;
    rng_seed(&r, 42);
    for (int i = 0; i < 10000; i++) {
        json_t *v = param_from_unit(p, rng_uniform(&r));
        double x = json_real_value(v);
        ck_assert(x >= 1e-3 && x <= 1e3);
        int d = (int)floor(log10(x)) + 3;
        if (d == 6)
            d = 5;
        ck_assert(d >= 0 && d < 6);
        decades[d]++;
        json_decref(v);
    }
    /* ~1667 per decade; binomial sd ~37 */
    for (int d = 0; d < 6; d++)
        ck_assert_msg(decades[d] > 1500 && decades[d] < 1833, "decade %d has %d", d, decades[d]);
    json_t *v = param_from_unit(p, 0.5);
    ck_assert_double_eq_tol(json_real_value(v), 1.0, 1e-12);
    json_decref(v);
    v = param_from_unit(p, 0);
    ck_assert(json_real_value(v) == 1e-3);
    json_decref(v);
    v = param_from_unit(p, 1);
    ck_assert(json_real_value(v) == 1e3);
    json_decref(v);
    space_free(s);
}
END_TEST

START_TEST(unit_int_uniform_cover)
{
    struct space *s = parse_ok(P1("\"type\": \"int\", \"low\": 3, \"high\": 9"));
    const struct param *p = &s->params[0];
    int count[7] = {0};
    struct rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < 10000; i++) {
        json_t *v = param_from_unit(p, rng_uniform(&r));
        ck_assert(json_is_integer(v));
        long long x = json_integer_value(v);
        ck_assert(x >= 3 && x <= 9);
        count[x - 3]++;
        json_decref(v);
    }
    /* 10000/7 ~ 1429 each, sd ~35 */
    for (int i = 0; i < 7; i++)
        ck_assert_msg(count[i] > 1250 && count[i] < 1610, "value %d drawn %d times", i + 3,
                      count[i]);
    json_t *v = param_from_unit(p, 1.0);
    ck_assert_int_eq(json_integer_value(v), 9);
    json_decref(v);
    v = param_from_unit(p, 0.0);
    ck_assert_int_eq(json_integer_value(v), 3);
    json_decref(v);
    space_free(s);
}
END_TEST

START_TEST(unit_int_log)
{
    struct space *s = parse_ok(P1("\"type\": \"int\", \"low\": 1, \"high\": 1000, \"log\": true"));
    const struct param *p = &s->params[0];
    int decade[3] = {0};
    struct rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < 10000; i++) {
        json_t *v = param_from_unit(p, rng_uniform(&r));
        long long x = json_integer_value(v);
        ck_assert(json_is_integer(v) && x >= 1 && x <= 1000);
        if (x < 10)
            decade[0]++;
        else if (x < 100)
            decade[1]++;
        else
            decade[2]++;
        json_decref(v);
    }
    /* log-uniform on [0.5, 1000.5]: [0.5, 9.5) ~ 38.7%, [9.5, 99.5) ~ 30.9%, rest ~ 30.4% */
    ck_assert_msg(decade[0] > 3670 && decade[0] < 4070, "1..9: %d", decade[0]);
    ck_assert_msg(decade[1] > 2890 && decade[1] < 3290, "10..99: %d", decade[1]);
    ck_assert_msg(decade[2] > 2840 && decade[2] < 3240, "100..1000: %d", decade[2]);
    /* ends reachable and in bounds */
    json_t *v = param_from_unit(p, 0);
    ck_assert_int_eq(json_integer_value(v), 1);
    json_decref(v);
    v = param_from_unit(p, 1);
    ck_assert_int_eq(json_integer_value(v), 1000);
    json_decref(v);
    space_free(s);
    /* a small log range: every value is drawn, smaller ones more often */
    s = parse_ok(P1("\"type\": \"int\", \"low\": 1, \"high\": 8, \"log\": true"));
    p = &s->params[0];
    int seen[9] = {0};
    for (int i = 0; i < 10000; i++) {
        v = param_from_unit(p, rng_uniform(&r));
        seen[json_integer_value(v)]++;
        json_decref(v);
    }
    for (int x = 1; x <= 8; x++)
        ck_assert_msg(seen[x] > 300, "%d drawn %d times", x, seen[x]);
    ck_assert_int_gt(seen[1], seen[8]);
    space_free(s);
    /* with a step, values stay on the grid */
    s = parse_ok(P1("\"type\": \"int\", \"low\": 2, \"high\": 200, \"log\": true, \"step\": 3"));
    p = &s->params[0];
    for (int i = 0; i <= 1000; i++) {
        v = param_from_unit(p, i / 1000.0);
        long long x = json_integer_value(v);
        ck_assert_msg(x >= 2 && x <= 200 && (x - 2) % 3 == 0, "u=%d/1000 gave %lld", i, x);
        json_decref(v);
    }
    space_free(s);
}
END_TEST

START_TEST(unit_int_step_cover)
{
    struct space *s = parse_ok(P1("\"type\": \"int\", \"low\": 0, \"high\": 10, \"step\": 4"));
    const struct param *p = &s->params[0];
    int seen[11] = {0};
    for (int i = 0; i < 3000; i++) {
        json_t *v = param_from_unit(p, (i + 0.5) / 3000.0);
        seen[json_integer_value(v)]++;
        json_decref(v);
    }
    ck_assert_int_eq(seen[0], 1000);
    ck_assert_int_eq(seen[4], 1000);
    ck_assert_int_eq(seen[8], 1000);
    space_free(s);
}
END_TEST

START_TEST(unit_categorical)
{
    struct space *s = parse_ok(P1("\"type\": \"categorical\", \"choices\": [\"a\", 2, false]"));
    const struct param *p = &s->params[0];
    json_t *v = param_from_unit(p, 0);
    ck_assert_str_eq(json_string_value(v), "a");
    json_decref(v);
    v = param_from_unit(p, 0.5);
    ck_assert_int_eq(json_integer_value(v), 2);
    json_decref(v);
    v = param_from_unit(p, 1);
    ck_assert(json_is_false(v));
    json_decref(v);
    v = json_real(2.0);
    ck_assert_double_eq_tol(param_to_unit(p, v), 0.5, 1e-15);
    ck_assert_int_eq(param_choice_index(p, v), 1);
    json_decref(v);
    v = json_false();
    ck_assert_double_eq_tol(param_to_unit(p, v), 2.5 / 3, 1e-15);
    space_free(s);
}
END_TEST

START_TEST(unit_code)
{
    struct space *s =
        parse_ok(P1("\"type\": \"code\", \"language\": \"python\", \"baseline\": \"x = 1\""));
    json_t *v = param_from_unit(&s->params[0], 0.9);
    ck_assert_str_eq(json_string_value(v), "x = 1");
    ck_assert_double_eq(param_to_unit(&s->params[0], v), 0.5);
    json_decref(v);
    space_free(s);
}
END_TEST

/* Every value of an int or categorical parameter survives to_unit/from_unit. */
static void roundtrip_exact(const struct param *p, const json_t *v)
{
    double u = param_to_unit(p, v);
    ck_assert(u >= 0 && u <= 1);
    json_t *w = param_from_unit(p, u);
    ck_assert_msg(json_same(v, w) && json_typeof(v) == json_typeof(w), "roundtrip of %s failed",
                  p->name);
    json_decref(w);
}

START_TEST(roundtrip_all)
{
    struct space *s =
        parse_ok("[{\"name\": \"a\", \"type\": \"int\", \"low\": -5, \"high\": 37},"
                 " {\"name\": \"b\", \"type\": \"int\", \"low\": 1, \"high\": 3000, \"log\": true},"
                 " {\"name\": \"c\", \"type\": \"int\", \"low\": 3, \"high\": 500, \"log\": true, "
                 "\"step\": 7},"
                 " {\"name\": \"d\", \"type\": \"int\", \"low\": 0, \"high\": 100, \"step\": 5},"
                 " {\"name\": \"e\", \"type\": \"categorical\", \"choices\": [\"x\", 1, 2.5, "
                 "true, false, \"y\", 0]},"
                 " {\"name\": \"f\", \"type\": \"float\", \"low\": -1, \"high\": 2, \"step\": "
                 "0.01},"
                 " {\"name\": \"g\", \"type\": \"float\", \"low\": 1e-6, \"high\": 10, \"log\": "
                 "true},"
                 " {\"name\": \"h\", \"type\": \"float\", \"low\": -1e3, \"high\": 1e-3}]");
    for (size_t i = 0; i < 4; i++) {
        const struct param *p = &s->params[i];
        for (double x = p->low; x <= p->high; x += p->step) {
            json_t *v = json_integer((json_int_t)x);
            roundtrip_exact(p, v);
            json_decref(v);
        }
    }
    for (size_t j = 0; j < json_array_size(s->params[4].choices); j++)
        roundtrip_exact(&s->params[4], json_array_get(s->params[4].choices, j));
    /* float grid: every grid value, exactly */
    const struct param *f = &s->params[5];
    for (int k = 0; k <= 300; k++) {
        json_t *v = param_from_unit(f, (k + 0.5) / 301.0);
        double u = param_to_unit(f, v);
        json_t *w = param_from_unit(f, u);
        ck_assert(json_real_value(v) == json_real_value(w));
        ck_assert_double_eq_tol(json_real_value(v), -1 + k * 0.01, 1e-12);
        json_decref(v);
        json_decref(w);
    }
    /* continuous floats within 1e-9 relative */
    struct rng r;
    rng_seed(&r, 3);
    for (size_t i = 6; i < 8; i++) {
        const struct param *p = &s->params[i];
        for (int t = 0; t < 2000; t++) {
            double x = p->log ? exp(log(p->low) + rng_uniform(&r) * (log(p->high) - log(p->low)))
                              : p->low + rng_uniform(&r) * (p->high - p->low);
            json_t *v = json_real(x);
            json_t *w = param_from_unit(p, param_to_unit(p, v));
            ck_assert_msg(fabs(json_real_value(w) - x) <= 1e-9 * fmax(fabs(x), 1e-300),
                          "%s: %.17g -> %.17g", p->name, x, json_real_value(w));
            json_decref(v);
            json_decref(w);
        }
    }
    space_free(s);
}
END_TEST

START_TEST(from_unit_passes_check)
{
    struct space *s = parse_ok(CHAIN);
    struct rng r;
    rng_seed(&r, 11);
    int with_coef = 0, trees = 0;
    for (int t = 0; t < 2000; t++) {
        double u[5];
        for (int i = 0; i < 5; i++)
            u[i] = rng_uniform(&r);
        json_t *c = space_from_unit(s, u);
        char err[256];
        json_t *o = space_check(s, c, err, sizeof err);
        ck_assert_msg(o != NULL, "%s", err);
        ck_assert(json_same(o, c));
        if (json_object_get(c, "coef"))
            with_coef++;
        if (json_object_get(c, "depth")) {
            trees++;
            ck_assert_ptr_null(json_object_get(c, "kernel"));
        }
        json_decref(o);
        json_decref(c);
    }
    /* P(svm) 1/2, P(poly) 1/2, P(degree in {3,4}) 1/2 => coef 1/8 */
    ck_assert_msg(with_coef > 170 && with_coef < 330, "coef in %d", with_coef);
    ck_assert_msg(trees > 900 && trees < 1100, "tree in %d", trees);
    space_free(s);
}
END_TEST

START_TEST(describe)
{
    struct space *s = parse_ok(
        "[{\"name\": \"C\", \"type\": \"float\", \"low\": 1e-3, \"high\": 1e3, \"log\": true},"
        " {\"name\": \"k\", \"type\": \"categorical\", \"choices\": [\"rbf\", \"poly\"]},"
        " {\"name\": \"n\", \"type\": \"int\", \"low\": 2, \"high\": 10, \"step\": 2,"
        "  \"when\": {\"k\": [\"poly\"]}},"
        " {\"name\": \"lr\", \"type\": \"float\", \"low\": 0, \"high\": 0.5, \"step\": 0.1},"
        " {\"name\": \"m\", \"type\": \"code\", \"language\": \"python\", \"contract\": \"define "
        "f\", \"baseline\": \"def f(): pass\", \"requires\": [\"f\"]}]");
    char *d = param_describe(&s->params[0]);
    ck_assert_str_eq(d, "float in [0.001, 1000], log scale");
    free(d);
    d = param_describe(&s->params[1]);
    ck_assert_str_eq(d, "one of [\"rbf\", \"poly\"]");
    free(d);
    d = param_describe(&s->params[2]);
    ck_assert_str_eq(d, "int in [2, 10], step 2");
    free(d);
    d = param_describe(&s->params[3]);
    ck_assert_str_eq(d, "float in [0, 0.5], step 0.1");
    free(d);
    d = param_describe(&s->params[4]);
    ck_assert_ptr_nonnull(strstr(d, "python"));
    ck_assert_ptr_nonnull(strstr(d, "define f"));
    free(d);
    ck_assert_ptr_null(space_describe_when(s, 0));
    d = space_describe_when(s, 2);
    ck_assert_str_eq(d, "only when k is \"poly\"");
    free(d);
    space_free(s);
}
END_TEST

static Suite *space_suite(void)
{
    Suite *su = suite_create("space");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_design_example);
    tcase_add_test(tc, parse_int_real_bounds_and_steps);
    tcase_add_test(tc, parse_max_params);
    tcase_add_test(tc, reject_structure);
    tcase_add_test(tc, reject_bounds);
    tcase_add_test(tc, reject_steps);
    tcase_add_test(tc, reject_categorical);
    tcase_add_test(tc, reject_code);
    tcase_add_test(tc, reject_when);
    tcase_add_test(tc, when_values_normalised);
    suite_add_tcase(su, tc);
    tc = tcase_create("check");
    tcase_add_test(tc, active_chained);
    tcase_add_test(tc, check_activity_messages);
    tcase_add_test(tc, check_float);
    tcase_add_test(tc, check_float_step);
    tcase_add_test(tc, check_int);
    tcase_add_test(tc, check_categorical);
    tcase_add_test(tc, check_code);
    suite_add_tcase(su, tc);
    tc = tcase_create("unit");
    tcase_add_test(tc, unit_float_linear);
    tcase_add_test(tc, unit_float_log_decades);
    tcase_add_test(tc, unit_int_uniform_cover);
    tcase_add_test(tc, unit_int_log);
    tcase_add_test(tc, unit_int_step_cover);
    tcase_add_test(tc, unit_categorical);
    tcase_add_test(tc, unit_code);
    tcase_add_test(tc, roundtrip_all);
    tcase_add_test(tc, from_unit_passes_check);
    tcase_add_test(tc, describe);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(space_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
