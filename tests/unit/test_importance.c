#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forest.h"
#include "importance.h"
#include "rng.h"
#include "space.h"

/* ---- helpers ---- */

static struct space *parse_space(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "%s", je.text);
    char err[256];
    struct space *s = space_parse(j, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    json_decref(j);
    return s;
}

static const char *FLOATS3 = "[{\"name\": \"x0\", \"type\": \"float\", \"low\": 0, \"high\": 1},"
                             " {\"name\": \"x1\", \"type\": \"float\", \"low\": 0, \"high\": 1},"
                             " {\"name\": \"x2\", \"type\": \"float\", \"low\": 0, \"high\": 1}]";

/* n random configurations of three floats in [0, 1]: x (n * 3) and the
 * params objects. */
static json_t **random_floats3(struct rng *r, size_t n, double *x)
{
    json_t **c = calloc(n, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < 3; j++)
            x[i * 3 + j] = rng_uniform(r);
        c[i] = json_pack("{sf sf sf}", "x0", x[i * 3], "x1", x[i * 3 + 1], "x2", x[i * 3 + 2]);
    }
    return c;
}

static void free_configs(json_t **c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(c[i]);
    free(c);
}

static double sum_of(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

static size_t argmax(const double *v, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

/* ---- the forest ---- */

START_TEST(test_forest_fits_a_step)
{
    /* y is 1 right of x0 = 0.3, else 0: the forest predicts both sides. */
    struct rng r;
    rng_seed(&r, 3);
    size_t n = 200;
    double *x = malloc(n * 2 * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i * 2] = rng_uniform(&r);
        x[i * 2 + 1] = rng_uniform(&r);
        y[i] = x[i * 2] > 0.3 ? 1 : 0;
    }
    struct forest_opts o;
    forest_opts_defaults(&o, n);
    struct forest *f = forest_fit(x, y, n, 2, &o);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->n_trees, 64);
    double lo[] = {0.1, 0.5}, hi[] = {0.8, 0.5};
    ck_assert(forest_predict(f, lo) < 0.1);
    ck_assert(forest_predict(f, hi) > 0.9);
    /* the step's variance is all x0's */
    double frac[2];
    ck_assert_int_eq(forest_main_effects(f, NULL, frac), 64);
    ck_assert_msg(frac[0] > 0.95 && frac[1] < 0.02, "%g %g", frac[0], frac[1]);
    forest_free(f);
    free(x);
    free(y);
}
END_TEST

START_TEST(test_forest_additive_vs_interaction)
{
    /* An additive function: the main effects explain (nearly) all of the
     * variance. A pure interaction (the sign of (x0 - 0.5)(x1 - 0.5)): they
     * explain little, though both inputs matter and x2 does not. */
    struct rng r;
    rng_seed(&r, 11);
    size_t n = 600;
    double *x = malloc(n * 3 * sizeof *x), *ya = malloc(n * sizeof *ya),
           *yi = malloc(n * sizeof *yi);
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < 3; j++)
            x[i * 3 + j] = rng_uniform(&r);
        ya[i] = 2 * x[i * 3] + sin(6 * x[i * 3 + 1]);
        yi[i] = (x[i * 3] - 0.5) * (x[i * 3 + 1] - 0.5) > 0 ? 1 : -1;
    }
    struct forest_opts o;
    forest_opts_defaults(&o, n);
    double fa[3], fi[3];
    struct forest *f = forest_fit(x, ya, n, 3, &o);
    ck_assert_int_gt(forest_main_effects(f, NULL, fa), 0);
    forest_free(f);
    f = forest_fit(x, yi, n, 3, &o);
    ck_assert_int_gt(forest_main_effects(f, NULL, fi), 0);
    forest_free(f);
    ck_assert_msg(sum_of(fa, 3) > 0.85, "additive: main effects %g %g %g", fa[0], fa[1], fa[2]);
    ck_assert_msg(fa[0] > 0.2 && fa[1] > 0.2 && fa[2] < 0.02, "additive: %g %g %g", fa[0], fa[1],
                  fa[2]);
    ck_assert_msg(sum_of(fi, 3) < 0.25, "interaction: main effects %g %g %g", fi[0], fi[1], fi[2]);
    free(x);
    free(ya);
    free(yi);
}
END_TEST

START_TEST(test_forest_missing_measure)
{
    /* x0 is absent (missing) in half the samples, where y is 5; present, y is
     * its value in [0, 1]. With the missing share 0.5, the main effect of x0
     * is all the variance (x1 is noise-free and irrelevant). */
    struct rng r;
    rng_seed(&r, 5);
    size_t n = 400;
    double *x = malloc(n * 2 * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        bool missing = i % 2 == 0;
        x[i * 2] = missing ? FOREST_MISSING : rng_uniform(&r);
        x[i * 2 + 1] = rng_uniform(&r);
        y[i] = missing ? 5 : x[i * 2];
    }
    struct forest_opts o;
    forest_opts_defaults(&o, n);
    struct forest *f = forest_fit(x, y, n, 2, &o);
    /* every split between missing and present values cuts at 0 */
    for (size_t t = 0; t < f->n_trees; t++)
        for (size_t k = 0; k < f->trees[t].n; k++)
            if (f->trees[t].nodes[k].feature == 0)
                ck_assert(f->trees[t].nodes[k].threshold >= 0);
    double w[] = {0.5, 0}, frac[2];
    ck_assert_int_gt(forest_main_effects(f, w, frac), 0);
    ck_assert_msg(frac[0] > 0.95 && frac[1] < 0.02, "%g %g", frac[0], frac[1]);
    double at_missing[] = {FOREST_MISSING, 0.5};
    ck_assert(fabs(forest_predict(f, at_missing) - 5) < 0.1);
    forest_free(f);
    free(x);
    free(y);
}
END_TEST

/* ---- importances ---- */

START_TEST(test_fanova_one_dominates)
{
    /* y = 10 x0 + 0.1 x1 + 0 x2 + noise: x0 first and above 0.8, x2 near 0. */
    struct space *s = parse_space(FLOATS3);
    struct rng r;
    rng_seed(&r, 7);
    size_t n = 300;
    double *x = malloc(n * 3 * sizeof *x), *y = malloc(n * sizeof *y);
    json_t **c = random_floats3(&r, n, x);
    for (size_t i = 0; i < n; i++)
        y[i] = 10 * x[i * 3] + 0.1 * x[i * 3 + 1] + 0.05 * rng_normal(&r);
    double imp[3];
    const char *note = "unset";
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, n, 42, imp, &note), 0);
    ck_assert_ptr_null(note);
    ck_assert_msg(fabs(sum_of(imp, 3) - 1) < 1e-9, "sum %g", sum_of(imp, 3));
    ck_assert_msg(imp[0] > 0.8 && imp[0] > imp[1] && imp[1] >= imp[2] - 0.01 && imp[2] < 0.02,
                  "%g %g %g", imp[0], imp[1], imp[2]);
    /* the same seed, the same answer */
    double again[3];
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, n, 42, again, &note), 0);
    ck_assert(memcmp(imp, again, sizeof imp) == 0);
    /* the objective's direction does not change the importances */
    for (size_t i = 0; i < n; i++)
        y[i] = -y[i];
    double neg[3];
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, n, 42, neg, &note), 0);
    ck_assert(fabs(neg[0] - imp[0]) < 1e-9);
    free_configs(c, n);
    free(x);
    free(y);
    space_free(s);
}
END_TEST

START_TEST(test_fanova_interaction_both)
{
    /* y = x0 * x1 (a product: main effects and an interaction): both matter,
     * about equally, x2 not. */
    struct space *s = parse_space(FLOATS3);
    struct rng r;
    rng_seed(&r, 8);
    size_t n = 400;
    double *x = malloc(n * 3 * sizeof *x), *y = malloc(n * sizeof *y);
    json_t **c = random_floats3(&r, n, x);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i * 3] * x[i * 3 + 1];
    double imp[3];
    const char *note;
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, n, 1, imp, &note), 0);
    ck_assert_msg(imp[0] > 0.35 && imp[1] > 0.35 && imp[2] < 0.05, "%g %g %g", imp[0], imp[1],
                  imp[2]);
    free_configs(c, n);
    free(x);
    free(y);
    space_free(s);
}
END_TEST

START_TEST(test_fanova_categorical_and_log_int)
{
    /* A categorical of four choices decides most of the value; a log-scaled
     * int a little (in log space); a float nothing. */
    struct space *s =
        parse_space("[{\"name\": \"lr\", \"type\": \"float\", \"low\": 0, \"high\": 1},"
                    " {\"name\": \"opt\", \"type\": \"categorical\","
                    "  \"choices\": [\"sgd\", \"adam\", \"rmsprop\", true]},"
                    " {\"name\": \"units\", \"type\": \"int\", \"low\": 1, \"high\": 1024,"
                    "  \"log\": true}]");
    struct rng r;
    rng_seed(&r, 9);
    size_t n = 300;
    double effect[] = {0, 5, 1, 3};
    json_t **c = calloc(n, sizeof *c);
    double *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)rng_below(&r, 4);
        json_int_t units = (json_int_t)floor(exp(rng_uniform(&r) * log(1024.0))) + 0;
        if (units < 1)
            units = 1;
        double lr = rng_uniform(&r);
        c[i] = json_pack("{sf sO sI}", "lr", lr, "opt", json_array_get(s->params[1].choices, k),
                         "units", units);
        y[i] = effect[k] + 0.3 * log((double)units) / log(1024.0) + 0.05 * rng_normal(&r);
    }
    double imp[3];
    const char *note;
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, n, 3, imp, &note), 0);
    ck_assert_uint_eq(argmax(imp, 3), 1);
    ck_assert_msg(imp[1] > 0.8 && imp[2] > imp[0] && imp[0] < 0.03, "%g %g %g", imp[0], imp[1],
                  imp[2]);
    ck_assert_int_eq(importance_gp(s, (const json_t *const *)c, y, n, 3, imp, &note), 0);
    ck_assert_msg(argmax(imp, 3) == 1 && imp[2] > imp[0], "gp: %g %g %g", imp[0], imp[1], imp[2]);
    free_configs(c, n);
    free(y);
    space_free(s);
}
END_TEST

START_TEST(test_fanova_conditional)
{
    /* degree is active only with kernel poly, and then decides the value;
     * an always-absent param never varies and gets 0. */
    struct space *s =
        parse_space("[{\"name\": \"kernel\", \"type\": \"categorical\","
                    "  \"choices\": [\"rbf\", \"poly\"]},"
                    " {\"name\": \"degree\", \"type\": \"int\", \"low\": 2, \"high\": 5,"
                    "  \"when\": {\"kernel\": [\"poly\"]}},"
                    " {\"name\": \"gamma\", \"type\": \"float\", \"low\": 0, \"high\": 1,"
                    "  \"when\": {\"kernel\": [\"poly\"]}},"
                    " {\"name\": \"c\", \"type\": \"float\", \"low\": 0, \"high\": 1}]");
    struct rng r;
    rng_seed(&r, 10);
    size_t n = 300;
    json_t **c = calloc(n, sizeof *c);
    double *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        bool poly = rng_below(&r, 2) == 1;
        json_int_t degree = 2 + (json_int_t)rng_below(&r, 4);
        /* gamma is left out of every trial (as if never active) */
        c[i] =
            poly ? json_pack("{ss sI sf}", "kernel", "poly", "degree", degree, "c", rng_uniform(&r))
                 : json_pack("{ss sf}", "kernel", "rbf", "c", rng_uniform(&r));
        y[i] = poly ? 1 + 2 * (double)(degree - 2) : 1.5;
        y[i] += 0.01 * rng_normal(&r);
    }
    double imp[4];
    const char *note;
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, n, 5, imp, &note), 0);
    ck_assert_ptr_null(note);
    ck_assert_msg(fabs(sum_of(imp, 4) - 1) < 1e-9, "sum %g", sum_of(imp, 4));
    ck_assert_msg(imp[1] > 0.5 && imp[1] > imp[0] && imp[2] == 0 && imp[3] < 0.03, "%g %g %g %g",
                  imp[0], imp[1], imp[2], imp[3]);
    free_configs(c, n);
    free(y);
    space_free(s);
}
END_TEST

START_TEST(test_notes)
{
    struct space *s = parse_space(FLOATS3);
    struct rng r;
    rng_seed(&r, 12);
    double x[30], y[10], imp[3];
    json_t **c = random_floats3(&r, 10, x);
    const char *note = NULL;
    /* one trial: nothing to compare */
    y[0] = 1;
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, 1, 1, imp, &note), 0);
    ck_assert_ptr_nonnull(note);
    ck_assert(strstr(note, "fewer than 2") != NULL);
    ck_assert(imp[0] == 0 && imp[1] == 0 && imp[2] == 0);
    /* the same value everywhere */
    for (int i = 0; i < 10; i++)
        y[i] = 0.25;
    note = NULL;
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, 10, 1, imp, &note), 0);
    ck_assert(note && strstr(note, "same value"));
    ck_assert(imp[0] == 0 && imp[1] == 0 && imp[2] == 0);
    note = NULL;
    ck_assert_int_eq(importance_gp(s, (const json_t *const *)c, y, 10, 1, imp, &note), 0);
    ck_assert(note && strstr(note, "same value"));
    /* two different values: a ranking, no note */
    for (int i = 0; i < 10; i++)
        y[i] = x[i * 3 + 2];
    ck_assert_int_eq(importance_fanova(s, (const json_t *const *)c, y, 10, 1, imp, &note), 0);
    ck_assert_ptr_null(note);
    ck_assert_uint_eq(argmax(imp, 3), 2);
    free_configs(c, 10);
    space_free(s);
}
END_TEST

START_TEST(test_gp_one_dominates)
{
    struct space *s = parse_space(FLOATS3);
    struct rng r;
    rng_seed(&r, 13);
    size_t n = 80;
    double *x = malloc(n * 3 * sizeof *x), *y = malloc(n * sizeof *y);
    json_t **c = random_floats3(&r, n, x);
    for (size_t i = 0; i < n; i++)
        y[i] = 10 * x[i * 3] + 0.1 * x[i * 3 + 1] + 0.05 * rng_normal(&r);
    double imp[3];
    const char *note;
    ck_assert_int_eq(importance_gp(s, (const json_t *const *)c, y, n, 42, imp, &note), 0);
    ck_assert_ptr_null(note);
    ck_assert_msg(fabs(sum_of(imp, 3) - 1) < 1e-9, "sum %g", sum_of(imp, 3));
    ck_assert_msg(imp[0] > 0.8 && imp[2] < 0.1, "%g %g %g", imp[0], imp[1], imp[2]);
    free_configs(c, n);
    free(x);
    free(y);
    space_free(s);
}
END_TEST

static Suite *importance_suite(void)
{
    Suite *s = suite_create("importance");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forest_fits_a_step);
    tcase_add_test(tc, test_forest_additive_vs_interaction);
    tcase_add_test(tc, test_forest_missing_measure);
    tcase_add_test(tc, test_fanova_one_dominates);
    tcase_add_test(tc, test_fanova_interaction_both);
    tcase_add_test(tc, test_fanova_categorical_and_log_int);
    tcase_add_test(tc, test_fanova_conditional);
    tcase_add_test(tc, test_notes);
    tcase_add_test(tc, test_gp_one_dominates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(importance_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
