#include <config.h>

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mo.h"
#include "pareto.h"
#include "rng.h"
#include "sampler.h"
#include "sampler_auto.h"
#include "space.h"

/* Samplers for several objectives and constraints: mogp, motpe, and auto on
 * such studies. */

static const char *const mo_samplers[] = {"mogp", "motpe", "auto"};

/* A study with m objectives and nc constraints that grows one trial at a time. */
struct mstudy {
    size_t m, nc, cap;
    json_t **cfg;     /* owned */
    struct obs *hist; /* finished rows, borrowing cfg */
    double *values;   /* cap * m */
    double *cons;     /* cap * nc */
    size_t n;         /* finished */
    long next;        /* number of the next trial */
    struct obs *pend; /* pending rows */
    size_t npend;     /* pending entries */
};

static void ms_init(struct mstudy *st, size_t m, size_t nc, size_t cap)
{
    memset(st, 0, sizeof *st);
    st->m = m;
    st->nc = nc;
    st->cap = cap;
    st->cfg = calloc(2 * cap, sizeof *st->cfg);
    st->hist = calloc(cap, sizeof *st->hist);
    st->values = calloc(cap * (m ? m : 1), sizeof *st->values);
    st->cons = calloc(cap * (nc ? nc : 1), sizeof *st->cons);
    st->pend = calloc(cap, sizeof *st->pend);
    ck_assert(st->cfg && st->hist && st->values && st->cons && st->pend);
}

static void ms_release(struct mstudy *st)
{
    for (size_t i = 0; i < 2 * st->cap; i++)
        json_decref(st->cfg[i]);
    free(st->cfg);
    free(st->hist);
    free(st->values);
    free(st->cons);
    free(st->pend);
}

static long ms_next(const struct mstudy *st)
{
    return st->next;
}

/* Take cfg (new reference) as finished with objectives y and constraints c. */
static void ms_finish(struct mstudy *st, json_t *cfg, const double *y, const double *c,
                      enum obs_state state)
{
    ck_assert(st->n < st->cap);
    long number = st->next++;
    ck_assert((size_t)number < 2 * st->cap);
    st->cfg[number] = cfg;
    st->hist[st->n] = (struct obs){.params = cfg,
                                   .value = state == OBS_COMPLETED ? y[0] : NAN,
                                   .state = state,
                                   .number = number};
    for (size_t j = 0; j < st->m; j++)
        st->values[st->n * st->m + j] = state == OBS_COMPLETED ? y[j] : NAN;
    for (size_t j = 0; j < st->nc; j++)
        st->cons[st->n * st->nc + j] = state == OBS_COMPLETED ? c[j] : NAN;
    st->n++;
}

static void ms_pend(struct mstudy *st, json_t *cfg)
{
    long number = st->next++;
    ck_assert((size_t)number < 2 * st->cap);
    st->cfg[number] = cfg;
    st->pend[st->npend++] =
        (struct obs){.params = cfg, .value = NAN, .state = OBS_PENDING, .number = number};
}

static struct sampler_ctx ms_ctx(const struct mstudy *st, const struct space *s, uint64_t seed)
{
    return (struct sampler_ctx){
        .space = s,
        .history = st->hist,
        .n_history = st->n,
        .pending = st->pend,
        .n_pending = st->npend,
        .seed = seed,
        .next_number = ms_next(st),
        .n_objectives = st->m,
        .values = st->m > 1 ? st->values : NULL,
        .n_constraints = st->nc,
        .constraints = st->nc ? st->cons : NULL,
    };
}

static struct space *parse_space(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_msg(j != NULL, "bad test space: %s", jerr.text);
    char err[256];
    struct space *s = space_parse(j, err, sizeof err);
    ck_assert_msg(s != NULL, "space rejected: %s", err);
    json_decref(j);
    return s;
}

static json_t *propose1(const char *name, const struct sampler_ctx *c)
{
    json_t *out = NULL;
    char err[256] = "";
    int rc = sampler_propose(name, c, 1, &out, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: %s", name, err);
    return out;
}

static double num(const json_t *cfg, const char *name)
{
    const json_t *v = json_object_get(cfg, name);
    ck_assert_msg(json_is_number(v), "parameter %s missing", name);
    return json_number_value(v);
}

/* ---- the ranking shared by motpe and mogp ---- */

START_TEST(test_rank_scores)
{
    struct space *s = parse_space("[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, "
                                  "\"high\": 1}]");
    struct mstudy st;
    ms_init(&st, 2, 1, 16);
    /* rows: 0 front, 1 dominated by 0, 2 front, 3 infeasible (0.5), 4 infeasible
     * (0.1) though it dominates everything, 5 failed, 6 front knee */
    static const double y[][2] = {{0, 4}, {1, 5}, {4, 0}, {0, 0}, {-1, -1}, {0, 0}, {1, 1}};
    static const double c[] = {-1, 0, -0.2, 0.5, 0.1, 0, 0};
    for (int i = 0; i < 7; i++)
        ms_finish(&st, json_pack("{s:f}", "x", 0.1 * i), y[i], &c[i],
                  i == 5 ? OBS_FAILED : OBS_COMPLETED);
    struct sampler_ctx ctx = ms_ctx(&st, s, 1);
    double score[7];
    ck_assert_int_eq(mo_rank_scores(&ctx, score), 6);
    ck_assert(isnan(score[5]));
    /* the knee adds the most hypervolume, so it leads the front */
    ck_assert_double_eq(score[6], 0);
    ck_assert(score[0] < 3 && score[2] < 3);
    ck_assert_double_eq(score[1], 3);
    ck_assert_double_eq(score[4], 4);
    ck_assert_double_eq(score[3], 5);
    ms_release(&st);
    space_free(s);
}
END_TEST

/* ---- validity on random mixed spaces with pending trials ---- */

/* A random space: floats (some log, some stepped), ints (some log), a
 * categorical, and parameters conditional on it. */
static json_t *random_space(struct rng *r)
{
    json_t *params = json_array();
    int nnum = 2 + (int)rng_below(r, 4);
    for (int i = 0; i < nnum; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        bool isint = rng_below(r, 3) == 0, islog = rng_below(r, 2) == 0;
        json_t *p;
        if (isint)
            p = json_pack("{s:s, s:s, s:i, s:i, s:b}", "name", name, "type", "int", "low",
                          islog ? 1 : -5, "high", islog ? 1000 : 20, "log", islog);
        else
            p = json_pack("{s:s, s:s, s:f, s:f, s:b}", "name", name, "type", "float", "low",
                          islog ? 1e-4 : -2.0, "high", islog ? 10.0 : 3.0, "log", islog);
        if (!isint && !islog && rng_below(r, 3) == 0)
            json_object_set_new(p, "step", json_real(0.25));
        json_array_append_new(params, p);
    }
    json_array_append_new(params, json_pack("{s:s, s:s, s:[s, s, s]}", "name", "kind", "type",
                                            "categorical", "choices", "a", "b", "c"));
    json_array_append_new(params,
                          json_pack("{s:s, s:s, s:f, s:f, s:{s:[s]}}", "name", "only_a", "type",
                                    "float", "low", 0.0, "high", 1.0, "when", "kind", "a"));
    json_array_append_new(params,
                          json_pack("{s:s, s:s, s:i, s:i, s:{s:[s, s]}}", "name", "only_bc", "type",
                                    "int", "low", 0, "high", 7, "when", "kind", "b", "c"));
    return params;
}

/* Objectives and a constraint computed from any configuration of such a space. */
static void mixed_eval(const struct space *s, const json_t *cfg, size_t m, double *y, double *c)
{
    double acc[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < s->n; i++) {
        const json_t *v = json_object_get(cfg, s->params[i].name);
        double u = v ? param_to_unit(&s->params[i], v) : 0.5;
        for (size_t j = 0; j < 4; j++)
            acc[j] += (u - 0.2 * (double)(j + 1)) * (u - 0.2 * (double)(j + 1));
    }
    for (size_t j = 0; j < m; j++)
        y[j] = acc[j];
    c[0] = acc[3] - acc[0];
}

START_TEST(test_valid_random_spaces)
{
    struct rng r;
    rng_seed(&r, 2026);
    for (int round = 0; round < 6; round++) {
        json_t *jp = random_space(&r);
        char err[256];
        struct space *s = space_parse(jp, err, sizeof err);
        ck_assert_msg(s != NULL, "%s", err);
        json_decref(jp);
        size_t m = (size_t)(round % 3) + 1, nc = round % 2 ? 1 : 0;
        if (m == 1 && nc == 0)
            nc = 1;
        for (size_t si = 0; si < sizeof mo_samplers / sizeof *mo_samplers; si++) {
            struct mstudy st;
            ms_init(&st, m, nc, 64);
            for (int t = 0; t < 24; t++) {
                /* Two proposals at once, the first left pending while the
                 * second is asked for. */
                struct sampler_ctx ctx = ms_ctx(&st, s, (uint64_t)round);
                json_t *out[2] = {NULL, NULL};
                int rc = sampler_propose(mo_samplers[si], &ctx, 2, out, err, sizeof err);
                ck_assert_msg(rc == 0, "%s: %s", mo_samplers[si], err);
                for (int b = 0; b < 2; b++) {
                    json_t *ok = space_check(s, out[b], err, sizeof err);
                    ck_assert_msg(ok != NULL, "%s round %d: %s", mo_samplers[si], round, err);
                    ck_assert(json_equal(ok, out[b]));
                    json_decref(ok);
                }
                ms_pend(&st, out[1]);
                double y[4], c[1];
                mixed_eval(s, out[0], m, y, c);
                /* Now and then a trial fails. */
                ms_finish(&st, out[0], y, c, t % 7 == 3 ? OBS_FAILED : OBS_COMPLETED);
                if (st.npend > 2) {
                    /* The oldest pending trial finishes (its row keeps its
                     * configuration, owned by the study under its number). */
                    const json_t *p = st.pend[0].params;
                    memmove(st.pend, st.pend + 1, (st.npend - 1) * sizeof *st.pend);
                    st.npend--;
                    mixed_eval(s, p, m, y, c);
                    st.hist[st.n] = (struct obs){
                        .params = p, .value = y[0], .state = OBS_COMPLETED, .number = st.next++};
                    memcpy(st.values + st.n * m, y, m * sizeof *y);
                    if (nc)
                        st.cons[st.n * nc] = c[0];
                    st.n++;
                }
            }
            ms_release(&st);
        }
        space_free(s);
    }
}
END_TEST

START_TEST(test_batch_distinct)
{
    struct space *s = parse_space("[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, "
                                  "\"high\": 1}, {\"name\": \"y\", \"type\": \"float\", "
                                  "\"low\": 0, \"high\": 1}]");
    struct mstudy st;
    ms_init(&st, 2, 0, 64);
    struct rng r;
    rng_seed(&r, 4);
    for (int t = 0; t < 12; t++) {
        double x = rng_uniform(&r), yv = rng_uniform(&r);
        double y[2] = {x, 1 - sqrt(x) + yv};
        ms_finish(&st, json_pack("{s:f, s:f}", "x", x, "y", yv), y, NULL, OBS_COMPLETED);
    }
    for (size_t si = 0; si < 2; si++) {
        struct sampler_ctx ctx = ms_ctx(&st, s, 5);
        json_t *out[4];
        char err[256];
        ck_assert_int_eq(sampler_propose(mo_samplers[si], &ctx, 4, out, err, sizeof err), 0);
        for (int a = 0; a < 4; a++)
            for (int b = a + 1; b < 4; b++)
                ck_assert_msg(!json_equal(out[a], out[b]), "%s: proposals %d and %d equal",
                              mo_samplers[si], a, b);
        for (int a = 0; a < 4; a++)
            json_decref(out[a]);
    }
    ms_release(&st);
    space_free(s);
}
END_TEST

/* ---- ZDT1: the front beats random sampling ---- */

#define ZDT_DIMS 6

static void zdt1(const double *x, double *y)
{
    double g = 0;
    for (int i = 1; i < ZDT_DIMS; i++)
        g += x[i];
    g = 1 + 9 * g / (ZDT_DIMS - 1);
    y[0] = x[0];
    y[1] = g * (1 - sqrt(x[0] / g));
}

static double zdt_run(const char *sampler, const struct space *s, uint64_t seed, int budget)
{
    struct mstudy st;
    ms_init(&st, 2, 0, (size_t)budget);
    double *front = malloc((size_t)budget * 2 * sizeof *front);
    for (int t = 0; t < budget; t++) {
        struct sampler_ctx ctx = ms_ctx(&st, s, seed);
        json_t *p = propose1(sampler, &ctx);
        double x[ZDT_DIMS], y[2];
        for (int i = 0; i < ZDT_DIMS; i++) {
            char name[16];
            snprintf(name, sizeof name, "x%d", i);
            x[i] = num(p, name);
        }
        zdt1(x, y);
        memcpy(front + t * 2, y, sizeof y);
        ms_finish(&st, p, y, NULL, OBS_COMPLETED);
    }
    double ref[2] = {1.1, 11};
    double hv = pareto_hypervolume(front, (size_t)budget, 2, ref, 0);
    free(front);
    ms_release(&st);
    return hv;
}

static struct space *unit_space(int d)
{
    json_t *arr = json_array();
    for (int i = 0; i < d; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:f, s:f}", "name", name, "type", "float",
                                             "low", 0.0, "high", 1.0));
    }
    char err[256];
    struct space *s = space_parse(arr, err, sizeof err);
    json_decref(arr);
    ck_assert(s);
    return s;
}

START_TEST(test_zdt1_beats_random)
{
    struct space *s = unit_space(ZDT_DIMS);
    const char *sampler = mo_samplers[_i];
    int wins = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        double hv = zdt_run(sampler, s, seed, 30);
        double hr = zdt_run("random", s, seed + 100, 30);
        wins += hv > hr;
    }
    ck_assert_msg(wins >= 9, "%s beat random in %d of 10 seeds", sampler, wins);
    space_free(s);
}
END_TEST

/* ---- constraints steer proposals ---- */

/* Two objectives on the unit square whose unconstrained front runs along x = 0;
 * feasible only in a disc of radius 0.2 around (0.7, 0.3) (area 0.126). */
static void disc_eval(double x, double yv, double *y, double *c)
{
    y[0] = x;
    y[1] = 1 - x + yv;
    c[0] = (x - 0.7) * (x - 0.7) + (yv - 0.3) * (yv - 0.3) - 0.04;
}

START_TEST(test_constraints_steer)
{
    struct space *s = parse_space("[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, "
                                  "\"high\": 1}, {\"name\": \"y\", \"type\": \"float\", "
                                  "\"low\": 0, \"high\": 1}]");
    const char *sampler = _i < 2 ? mo_samplers[_i] : "mogp";
    size_t m = _i < 2 ? 2 : 1;
    int feasible_late = 0, late = 0;
    double best1 = INFINITY;
    int budget = _i == 1 ? 60 : 30;
    for (uint64_t seed = 0; seed < 3; seed++) {
        struct mstudy st;
        ms_init(&st, m, 1, (size_t)budget);
        for (int t = 0; t < budget; t++) {
            struct sampler_ctx ctx = ms_ctx(&st, s, seed);
            json_t *p = propose1(sampler, &ctx);
            double y[2], c[1];
            disc_eval(num(p, "x"), num(p, "y"), y, c);
            if (m == 1)
                y[0] = y[0] + num(p, "y"); /* one objective: x + y */
            if (t >= budget / 2) {
                late++;
                feasible_late += c[0] <= 0.0129; /* within 0.03 of the disc */
            }
            if (m == 1 && c[0] <= 0)
                best1 = fmin(best1, y[0]);
            ms_finish(&st, p, y, c, OBS_COMPLETED);
        }
        ms_release(&st);
    }
    /* Random search puts 17% of its proposals within 0.03 of the disc; the
     * constrained optimum lies on its edge. */
    ck_assert_msg(feasible_late >= late / 2,
                  "%s (%zu objectives): %d of %d late proposals "
                  "feasible",
                  sampler, m, feasible_late, late);
    if (m == 1) {
        /* The feasible minimum of x + y is 1 - 0.2 * sqrt(2) = 0.717. */
        ck_assert_msg(best1 < 0.76, "best feasible %g", best1);
    }
    space_free(s);
}
END_TEST

START_TEST(test_auto_phases)
{
    struct space *s = unit_space(4);
    struct mstudy st;
    ms_init(&st, 2, 0, 260);
    struct rng r;
    rng_seed(&r, 8);
    struct sampler_ctx ctx = ms_ctx(&st, s, 1);
    ck_assert_str_eq(sampler_auto_phase(&ctx), "sobol");
    for (int t = 0; t < 210; t++) {
        double y[2] = {rng_uniform(&r), rng_uniform(&r)};
        ms_finish(&st,
                  json_pack("{s:f, s:f, s:f, s:f}", "x0", 0.5, "x1", 0.5, "x2", 0.5, "x3",
                            rng_uniform(&r)),
                  y, NULL, OBS_COMPLETED);
        ctx = ms_ctx(&st, s, 1);
        if (t == 20)
            ck_assert_str_eq(sampler_auto_phase(&ctx), "mogp");
    }
    ck_assert_str_eq(sampler_auto_phase(&ctx), "motpe");
    /* One objective without constraints: the single-objective path. */
    ctx.n_objectives = 1;
    ctx.values = NULL;
    ck_assert_str_eq(sampler_auto_phase(&ctx), "tpe");
    ms_release(&st);
    space_free(s);
}
END_TEST

static Suite *moo_suite(void)
{
    Suite *s = suite_create("moo");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_rank_scores);
    tcase_add_test(tc, test_valid_random_spaces);
    tcase_add_test(tc, test_batch_distinct);
    tcase_add_loop_test(tc, test_zdt1_beats_random, 0, 2);
    tcase_add_loop_test(tc, test_constraints_steer, 0, 3);
    tcase_add_test(tc, test_auto_phases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(moo_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
