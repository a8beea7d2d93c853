#include <config.h>

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "test_db_util.h"
#include "jsonutil.h"
#include "log.h"
#include "curvefit.h"
#include "pruner_hook.h"
#include "pruner.h"
#include "history.h"
#include "sampler.h"
#include "spec.h"
#include "store.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static json_t *J(const char *text)
{
    char err[256];
    json_t *v = json_parse_text(text, strlen(text), err, sizeof err);
    ck_assert_msg(v != NULL, "bad test JSON: %s: %s", err, text);
    return v;
}

static struct pruner_opts opts(const char *text)
{
    struct pruner_opts o;
    char err[256] = "";
    json_t *v = J(text);
    ck_assert_msg(pruner_opts_parse(v, &o, err, sizeof err) == 0, "%s: %s", text, err);
    json_decref(v);
    return o;
}

static void reject(const char *text, const char *want)
{
    char err[256] = "";
    json_t *v = J(text);
    ck_assert_int_eq(pruner_validate(v, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "for %s: message \"%s\" lacks \"%s\"", text, err,
                  want);
    json_decref(v);
}

/* A curve from steps and values. */
static size_t mk(struct pruner_point *c, const long long *steps, const double *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        c[i].step = steps ? steps[i] : (long long)i + 1;
        c[i].value = vals[i];
    }
    return n;
}

/* ---- options ---- */

START_TEST(options_defaults)
{
    struct pruner_opts o;
    ck_assert_int_eq(pruner_opts_parse(NULL, &o, NULL, 0), 0);
    ck_assert_int_eq(o.kind, PRUNER_NONE);
    o = opts("{\"name\": \"median\"}");
    ck_assert_int_eq(o.kind, PRUNER_MEDIAN);
    ck_assert_int_eq(o.n_startup_trials, 5);
    ck_assert_int_eq(o.n_warmup_steps, 0);
    ck_assert_int_eq(o.interval_steps, 1);
    ck_assert_int_eq(o.n_min_trials, 1);
    o = opts("{\"name\": \"asha\"}");
    ck_assert_int_eq(o.kind, PRUNER_ASHA);
    ck_assert_int_eq(o.min_resource, 0); /* from max_resource */
    ck_assert_int_eq(o.max_resource, 0); /* learned */
    ck_assert_int_eq(o.reduction_factor, 4);
    ck_assert_int_eq(o.min_early_stopping_rate, 0);
    o = opts("{\"name\": \"patience\", \"patience\": 4, \"min_delta\": 0.01, \"threshold\": 0.5}");
    ck_assert_int_eq(o.kind, PRUNER_PATIENCE);
    ck_assert_int_eq(o.patience, 4);
    ck_assert(o.has_threshold && o.threshold == 0.5 && o.min_delta == 0.01);
    o = opts("{\"name\": \"none\"}");
    ck_assert_int_eq(o.kind, PRUNER_NONE);
    o = opts("{\"name\": \"curve\"}");
    ck_assert_int_eq(o.kind, PRUNER_CURVE);
    ck_assert(o.p_threshold == 0.05 && o.top_k == 0.2);
    ck_assert(o.n_startup_trials == 3 && o.n_warmup_steps == 0 && o.min_points == 5);
    ck_assert_int_eq(o.max_resource, 0);
    o = opts("{\"name\": \"curve\", \"threshold\": 0.1, \"k\": 3, \"min_points\": 8, "
             "\"max_resource\": 50}");
    ck_assert(o.p_threshold == 0.1 && o.top_k == 3 && o.min_points == 8 && o.max_resource == 50);
    ck_assert(!o.has_threshold); /* the patience pruner's threshold is another option */
    o = opts("{\"name\": \"hyperband\", \"min_resource\": 2, \"max_resource\": 81}");
    ck_assert(o.kind == PRUNER_HYPERBAND && o.min_resource == 2 && o.max_resource == 81 &&
              o.reduction_factor == 3);
    o = opts("{\"name\": \"median\", \"n_startup_trials\": 0, \"n_warmup_steps\": 3, "
             "\"interval_steps\": 2, \"n_min_trials\": 4}");
    ck_assert(o.n_startup_trials == 0 && o.n_warmup_steps == 3 && o.interval_steps == 2 &&
              o.n_min_trials == 4);
}
END_TEST

START_TEST(options_rejected)
{
    reject("{\"name\": \"lasso\"}", "pruner.name: must be one of none, median, asha");
    reject("{\"name\": \"lasso\"}", "\"lasso\"");
    reject("{\"name\": 3}", "pruner.name");
    reject("{\"name\": \"median\", \"reduction_factor\": 3}", "pruner.reduction_factor: unknown");
    reject("{\"name\": \"none\", \"patience\": 3}", "pruner.patience: unknown");
    reject("{\"name\": \"median\", \"n_startup_trials\": -1}", "pruner.n_startup_trials");
    reject("{\"name\": \"median\", \"n_startup_trials\": -1}", "(got \"-1\")");
    reject("{\"name\": \"median\", \"interval_steps\": 0}", "pruner.interval_steps");
    reject("{\"name\": \"median\", \"n_warmup_steps\": 1.5}", "pruner.n_warmup_steps");
    reject("{\"name\": \"median\", \"n_min_trials\": \"2\"}", "pruner.n_min_trials");
    reject("{\"name\": \"asha\", \"reduction_factor\": 1}", "pruner.reduction_factor");
    reject("{\"name\": \"asha\", \"min_resource\": 0}", "pruner.min_resource");
    reject("{\"name\": \"asha\", \"min_early_stopping_rate\": -2}",
           "pruner.min_early_stopping_rate");
    reject("{\"name\": \"patience\"}", "pruner.patience: required");
    reject("{\"name\": \"patience\", \"patience\": 0}", "pruner.patience");
    reject("{\"name\": \"patience\", \"patience\": 2, \"min_delta\": -1}", "pruner.min_delta");
    reject("{\"name\": \"patience\", \"threshold\": \"x\"}", "pruner.threshold");
    reject("[1]", "pruner: must be an object");
    reject("{\"name\": \"curve\", \"threshold\": 0}", "pruner.threshold: must be a probability");
    reject("{\"name\": \"curve\", \"threshold\": 1}", "pruner.threshold: must be a probability");
    reject("{\"name\": \"curve\", \"threshold\": 1.5}", "(got \"1.5\")");
    reject("{\"name\": \"curve\", \"k\": 2.5}", "pruner.k: must be a whole number >= 1");
    reject("{\"name\": \"curve\", \"k\": 0}", "pruner.k");
    reject("{\"name\": \"curve\", \"min_points\": 4}",
           "pruner.min_points: must be an integer from 5");
    reject("{\"name\": \"curve\", \"patience\": 2}",
           "pruner.patience: unknown option of the curve");
    reject("{\"name\": \"hyperband\", \"min_early_stopping_rate\": 1}",
           "pruner.min_early_stopping_rate: unknown");
    reject("{\"name\": \"asha\", \"min_resource\": 9, \"max_resource\": 8}",
           "pruner.min_resource: must not exceed pruner.max_resource (got 9 > 8)");
    char err[64];
    json_t *ok = J("{\"name\": \"patience\", \"threshold\": 0.9}");
    ck_assert_int_eq(pruner_validate(ok, err, sizeof err), 0);
    ck_assert_int_eq(pruner_validate(NULL, err, sizeof err), 0);
    json_decref(ok);
}
END_TEST

/* ---- helpers ---- */

START_TEST(median_of_values)
{
    double a[] = {3, 1, 2};
    ck_assert(pruner_median_of(a, 3) == 2);
    double b[] = {4, 1, 3, 2};
    ck_assert(pruner_median_of(b, 4) == 2.5);
    double c[] = {NAN, 5, NAN, 1};
    ck_assert(pruner_median_of(c, 4) == 3);
    double d[] = {NAN};
    ck_assert(isnan(pruner_median_of(d, 1)));
    ck_assert(isnan(pruner_median_of(NULL, 0)));
    struct pruner_point cv[3];
    mk(cv, NULL, (double[]){0.5, NAN, 0.2}, 3);
    ck_assert(pruner_best(cv, 3, false) == 0.2);
    ck_assert(pruner_best(cv, 3, true) == 0.5);
}
END_TEST

/* ---- median ---- */

START_TEST(median_basic)
{
    struct pruner_opts o = opts("{\"name\": \"median\"}");
    struct pruner_point c[8];
    size_t n = mk(c, NULL, (double[]){0.9, 0.8, 0.7}, 3);
    double others[] = {0.5, 0.6, 0.4, 0.55, 0.65};
    double tmp[5];
    /* worse than the median 0.55 of the others at step 3 */
    memcpy(tmp, others, sizeof tmp);
    ck_assert(pruner_median_decide(&o, false, c, n, 5, tmp, 5));
    /* fewer completed trials than n_startup_trials: no judgement */
    memcpy(tmp, others, sizeof tmp);
    ck_assert(!pruner_median_decide(&o, false, c, n, 4, tmp, 5));
    /* better than the median */
    n = mk(c, NULL, (double[]){0.9, 0.5, 0.52}, 3);
    memcpy(tmp, others, sizeof tmp);
    ck_assert(!pruner_median_decide(&o, false, c, n, 5, tmp, 5));
    /* the best so far counts, not the last value: 0.5 at step 2 beats 0.55 */
    n = mk(c, NULL, (double[]){0.9, 0.5, 0.9}, 3);
    memcpy(tmp, others, sizeof tmp);
    ck_assert(!pruner_median_decide(&o, false, c, n, 5, tmp, 5));
    /* maximize: lower is worse */
    n = mk(c, NULL, (double[]){0.1, 0.3}, 2);
    memcpy(tmp, others, sizeof tmp);
    ck_assert(pruner_median_decide(&o, true, c, n, 5, tmp, 5));
    n = mk(c, NULL, (double[]){0.1, 0.6}, 2);
    memcpy(tmp, others, sizeof tmp);
    ck_assert(!pruner_median_decide(&o, true, c, n, 5, tmp, 5));
    /* nothing to compare with */
    ck_assert(!pruner_median_decide(&o, false, c, n, 5, NULL, 0));
    /* a trial whose every value is NAN is pruned */
    n = mk(c, NULL, (double[]){NAN, NAN}, 2);
    memcpy(tmp, others, sizeof tmp);
    ck_assert(pruner_median_decide(&o, false, c, n, 5, tmp, 5));
}
END_TEST

START_TEST(median_ties)
{
    struct pruner_opts o = opts("{\"name\": \"median\", \"n_startup_trials\": 0}");
    struct pruner_point c[2];
    size_t n = mk(c, NULL, (double[]){0.7, 0.5}, 2);
    /* equal to the median: goes on, both directions */
    double a[] = {0.4, 0.5, 0.6};
    ck_assert(!pruner_median_decide(&o, false, c, n, 0, a, 3));
    double b[] = {0.4, 0.5, 0.6};
    ck_assert(!pruner_median_decide(&o, true, c, n, 0, b, 3));
    /* even count: the median is the mean of the middle two, 0.45 here */
    double d[] = {0.4, 0.3, 0.5, 0.6};
    ck_assert(pruner_median_decide(&o, false, c, n, 0, d, 4));
    /* all the others equal to the trial */
    double e[] = {0.5, 0.5, 0.5, 0.5};
    ck_assert(!pruner_median_decide(&o, false, c, n, 0, e, 4));
}
END_TEST

START_TEST(median_warmup_interval_min_trials)
{
    struct pruner_opts o = opts("{\"name\": \"median\", \"n_startup_trials\": 0, "
                                "\"n_warmup_steps\": 2, \"interval_steps\": 3}");
    struct pruner_point c[8];
    double bad[] = {0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9};
    /* judging steps are 2, 5, 8, ...: 1 is warm-up, 3 and 4 are between */
    for (size_t k = 1; k <= 8; k++) {
        size_t n = mk(c, NULL, bad, k);
        double others[] = {0.1, 0.2, 0.3};
        bool want = k == 2 || k == 5 || k == 8;
        ck_assert_msg(pruner_median_decide(&o, false, c, n, 0, others, 3) == want, "step %zu", k);
    }
    /* a curve that skips the judging step 5 (reports 2, 4, 6) is judged at 6 */
    long long steps[] = {2, 4, 6, 7};
    size_t n = mk(c, steps, bad, 3);
    ck_assert(pruner_median_due(&o, c, n, 0));
    n = mk(c, steps, bad, 4);
    ck_assert(!pruner_median_due(&o, c, n, 0));
    n = mk(c, steps, bad, 2);
    ck_assert(!pruner_median_due(&o, c, n, 0));
    /* n_min_trials: NAN values do not count */
    struct pruner_opts m = opts("{\"name\": \"median\", \"n_startup_trials\": 0, "
                                "\"n_min_trials\": 3}");
    n = mk(c, NULL, bad, 1);
    double two[] = {0.1, NAN, 0.2};
    ck_assert(!pruner_median_decide(&m, false, c, n, 0, two, 3));
    double three[] = {0.1, NAN, 0.2, 0.3};
    ck_assert(pruner_median_decide(&m, false, c, n, 0, three, 4));
}
END_TEST

/* ---- asha ---- */

START_TEST(asha_rungs)
{
    struct pruner_opts o =
        opts("{\"name\": \"asha\", \"min_resource\": 1, \"reduction_factor\": 3}");
    ck_assert_int_eq(pruner_asha_rung_step(&o, 0), 1);
    ck_assert_int_eq(pruner_asha_rung_step(&o, 1), 3);
    ck_assert_int_eq(pruner_asha_rung_step(&o, 3), 27);
    ck_assert_int_eq(pruner_asha_rung_step(&o, 100), -1);
    struct pruner_opts p =
        opts("{\"name\": \"asha\", \"min_resource\": 2, \"reduction_factor\": 4, "
             "\"min_early_stopping_rate\": 1}");
    ck_assert_int_eq(pruner_asha_rung_step(&p, 0), 8);
    ck_assert_int_eq(pruner_asha_rung_step(&p, 1), 32);

    struct pruner_point c[8];
    long r[8];
    double v[] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    /* every step reported: step 1 reaches rung 0, 3 rung 1, 2 and 4 none */
    size_t n = mk(c, NULL, v, 1);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 1, r, 8), 1);
    ck_assert_int_eq(r[0], 0);
    n = mk(c, NULL, v, 2);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 2, r, 8), 0);
    n = mk(c, NULL, v, 3);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 3, r, 8), 1);
    ck_assert_int_eq(r[0], 1);
    /* missing steps: a first report at step 5 crosses rungs 0 and 1 at once,
     * then 12 crosses 9 */
    long long steps[] = {5, 12, 30};
    n = mk(c, steps, v, 1);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 5, r, 8), 2);
    ck_assert(r[0] == 0 && r[1] == 1);
    n = mk(c, steps, v, 2);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 12, r, 8), 1);
    ck_assert_int_eq(r[0], 2);
    /* out of order: reports 1, 2, 4 then a late 3 crosses nothing again */
    long long late[] = {1, 2, 3, 4};
    n = mk(c, late, v, 4);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 3, r, 8), 0);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 4, r, 8), 0);
    /* a resend of the report that crossed a rung judges it again */
    n = mk(c, late, v, 3);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 3, r, 8), 1);
    /* max bounds the output */
    n = mk(c, steps, v, 3);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, n, 30, r, 1), 1);
    ck_assert_int_eq(r[0], 3);
    ck_assert_int_eq(pruner_asha_rungs(&o, c, 1, 5, r, 1), 1);
}
END_TEST

START_TEST(asha_promotion)
{
    /* alone at the rung: goes on */
    ck_assert(pruner_asha_promotable(3, false, 0.9, NULL, 0));
    /* fewer than rf values: only the best goes on, ties included */
    ck_assert(!pruner_asha_promotable(3, false, 0.6, (double[]){0.5}, 1));
    ck_assert(pruner_asha_promotable(3, false, 0.5, (double[]){0.5}, 1));
    ck_assert(pruner_asha_promotable(3, false, 0.4, (double[]){0.5, 0.6}, 2));
    /* 9 values, rf 3: the top 3 go on */
    double o8[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
    ck_assert(pruner_asha_promotable(3, false, 0.25, o8, 8));
    ck_assert(pruner_asha_promotable(3, false, 0.3, o8, 8)); /* tie with the third */
    ck_assert(!pruner_asha_promotable(3, false, 0.35, o8, 8));
    /* maximize */
    ck_assert(pruner_asha_promotable(3, true, 0.75, o8, 8));
    ck_assert(pruner_asha_promotable(3, true, 0.65, o8, 8)); /* third best */
    ck_assert(!pruner_asha_promotable(3, true, 0.55, o8, 8));
    /* diverged trials count as the worst; a NAN value never goes on */
    double nan8[] = {0.1, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    ck_assert(pruner_asha_promotable(3, false, 0.9, nan8, 8));
    ck_assert(pruner_asha_promotable(3, true, 0.0, nan8, 8));
    ck_assert(!pruner_asha_promotable(3, false, NAN, o8, 8));
    /* rf 2 on 4 values: the top 2 */
    ck_assert(pruner_asha_promotable(2, false, 0.2, (double[]){0.1, 0.3, 0.4}, 3));
    ck_assert(!pruner_asha_promotable(2, false, 0.35, (double[]){0.1, 0.3, 0.4}, 3));
}
END_TEST

/* ---- patience ---- */

START_TEST(patience_keras)
{
    struct pruner_opts o = opts("{\"name\": \"patience\", \"patience\": 3}");
    struct pruner_point c[10];
    double v[] = {0.5, 0.6, 0.6, 0.55, 0.4};
    /* best at step 1, then 2, 3, 4 no better: pruned at 4 */
    for (size_t k = 1; k <= 4; k++) {
        size_t n = mk(c, NULL, v, k);
        ck_assert_msg(pruner_patience_decide(&o, false, c, n, 0.0) == (k == 4), "step %zu", k);
    }
    /* ties are no improvement */
    double flat[] = {0.5, 0.5, 0.5, 0.5};
    ck_assert(pruner_patience_decide(&o, false, c, mk(c, NULL, flat, 4), 0.0));
    /* an improvement inside the window keeps it */
    double imp[] = {0.5, 0.6, 0.49, 0.6};
    ck_assert(!pruner_patience_decide(&o, false, c, mk(c, NULL, imp, 4), 0.0));
    /* maximize */
    double up[] = {0.5, 0.4, 0.4, 0.45};
    ck_assert(pruner_patience_decide(&o, true, c, mk(c, NULL, up, 4), 1.0));
    double up2[] = {0.5, 0.4, 0.4, 0.55};
    ck_assert(!pruner_patience_decide(&o, true, c, mk(c, NULL, up2, 4), 1.0));
    /* min_delta: 0.49 is not better than 0.5 by more than 0.02 */
    struct pruner_opts d = opts("{\"name\": \"patience\", \"patience\": 3, \"min_delta\": 0.02}");
    ck_assert(pruner_patience_decide(&d, false, c, mk(c, NULL, imp, 4), 0.0));
    /* missing steps: reports at 1, 2 and 6: the window (3, 6] holds only 6 */
    long long steps[] = {1, 2, 6};
    double sv[] = {0.5, 0.45, 0.47};
    ck_assert(pruner_patience_decide(&o, false, c, mk(c, steps, sv, 3), 0.0));
    double sv2[] = {0.5, 0.45, 0.44};
    ck_assert(!pruner_patience_decide(&o, false, c, mk(c, steps, sv2, 3), 0.0));
    /* a stalled trial that may be the study's best runs on: no trial
     * completed yet, or its best is no worse than the best completed value */
    ck_assert(!pruner_patience_decide(&o, false, c, mk(c, NULL, flat, 4), NAN));
    ck_assert(!pruner_patience_decide(&o, false, c, mk(c, NULL, flat, 4), 0.5));
    ck_assert(!pruner_patience_decide(&o, false, c, mk(c, NULL, flat, 4), 0.6));
    ck_assert(pruner_patience_decide(&o, false, c, mk(c, NULL, flat, 4), 0.49));
    ck_assert(!pruner_patience_decide(&o, true, c, mk(c, NULL, up, 4), 0.5));
    ck_assert(pruner_patience_decide(&o, true, c, mk(c, NULL, up, 4), 0.51));
    /* NAN values in the window are no improvement */
    double nv[] = {0.5, NAN, NAN, NAN};
    ck_assert(pruner_patience_decide(&o, false, c, mk(c, NULL, nv, 4), 0.0));
}
END_TEST

START_TEST(patience_threshold_warmup)
{
    struct pruner_opts o =
        opts("{\"name\": \"patience\", \"threshold\": 0.5, \"n_warmup_steps\": 3}");
    struct pruner_point c[5];
    double v[] = {0.9, 0.9, 0.9, 0.6, 0.4};
    /* before step 3 nothing; at 3 and 4 worse than 0.5; 5 is fine */
    ck_assert(!pruner_patience_decide(&o, false, c, mk(c, NULL, v, 2), 0.0));
    ck_assert(pruner_patience_decide(&o, false, c, mk(c, NULL, v, 3), 0.0));
    ck_assert(pruner_patience_decide(&o, false, c, mk(c, NULL, v, 4), 0.0));
    ck_assert(!pruner_patience_decide(&o, false, c, mk(c, NULL, v, 5), 0.0));
    /* equal to the threshold is not worse */
    double eq[] = {0.9, 0.9, 0.5};
    ck_assert(!pruner_patience_decide(&o, false, c, mk(c, NULL, eq, 3), 0.0));
    /* maximize: an accuracy under 0.5 */
    ck_assert(pruner_patience_decide(&o, true, c, mk(c, NULL, v, 5), 1.0));
    ck_assert(!pruner_patience_decide(&o, true, c, mk(c, NULL, v, 4), 1.0));
}
END_TEST

/* ---- curve fits ---- */

/* A repeatable standard normal draw. */
static double gauss(unsigned long long *st)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
        u[i] = ((double)(*st >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* The curve of family f with known parameters at step t. */
static double truth(enum curvefit_family f, double t)
{
    switch (f) {
    case CURVEFIT_POW3:
        return 0.1 + 0.8 * pow(t, -0.6);
    case CURVEFIT_EXP3:
        return 0.15 + 0.7 * exp(-0.15 * t);
    case CURVEFIT_LOGPOWER:
        return 0.1 + 0.8 / (1 + pow(t / 6, 2));
    case CURVEFIT_JANOSCHEK:
        return 0.12 + 0.8 * exp(-0.4 * pow(t, 0.7));
    default:
        return 0.9 - 0.15 * log(t);
    }
}

START_TEST(curvefit_families_recovered)
{
    for (int f = 0; f < CURVEFIT_NFAMILIES; f++) {
        double t[20], y[20];
        unsigned long long st = 42 + (unsigned long long)f;
        for (int i = 0; i < 20; i++) {
            t[i] = i + 1;
            y[i] = truth((enum curvefit_family)f, t[i]) + 0.004 * gauss(&st);
        }
        struct curvefit_model m;
        ck_assert_int_eq(curvefit_fit((enum curvefit_family)f, t, y, NULL, 20, &m), 0);
        double e20 = fabs(curvefit_eval(&m, 20) - truth((enum curvefit_family)f, 20));
        double e40 = fabs(curvefit_eval(&m, 40) - truth((enum curvefit_family)f, 40));
        ck_assert_msg(e20 < 0.01 && e40 < 0.03, "%s: error %g at 20, %g at 40",
                      curvefit_name((enum curvefit_family)f), e20, e40);
        /* the residual noise found is the noise put in */
        ck_assert_msg(sqrt(m.s2) > 0.0015 && sqrt(m.s2) < 0.008, "%s: noise %g",
                      curvefit_name((enum curvefit_family)f), sqrt(m.s2));
    }
    ck_assert_str_eq(curvefit_name(CURVEFIT_JANOSCHEK), "janoschek");
    ck_assert_int_eq(curvefit_nparams(CURVEFIT_LOGPOWER), 4);
}
END_TEST

START_TEST(curvefit_ensemble)
{
    /* a slow, noisy curve: the prediction covers the truth and tightens as
     * more of the curve is seen */
    double t[30], y[30];
    unsigned long long st = 7;
    for (int i = 0; i < 30; i++) {
        t[i] = i + 1;
        y[i] = truth(CURVEFIT_EXP3, t[i]) + 0.005 * gauss(&st);
    }
    struct curvefit_pred early, late;
    ck_assert_int_eq(curvefit_predict(t, y, 8, 30, &early), 0);
    ck_assert_int_eq(curvefit_predict(t, y, 20, 30, &late), 0);
    double want = truth(CURVEFIT_EXP3, 30);
    ck_assert_msg(fabs(early.mean - want) < 3 * early.sd, "early %g +- %g, truth %g", early.mean,
                  early.sd, want);
    ck_assert_msg(fabs(late.mean - want) < 3 * late.sd && fabs(late.mean - want) < 0.02,
                  "late %g +- %g, truth %g", late.mean, late.sd, want);
    ck_assert_msg(late.sd < early.sd, "sd %g after 20 points, %g after 8", late.sd, early.sd);
    ck_assert_int_ge(late.n_models, 3);
}
END_TEST

START_TEST(curvefit_degenerate)
{
    double t[12], y[12];
    struct curvefit_model m;
    struct curvefit_pred p;
    for (int i = 0; i < 12; i++) {
        t[i] = i + 1;
        y[i] = 0.5;
    }
    /* one or two points: nothing to fit, nothing to predict */
    ck_assert_int_eq(curvefit_fit(CURVEFIT_POW3, t, y, NULL, 1, &m), -1);
    ck_assert_int_eq(curvefit_fit(CURVEFIT_EXP3, t, y, NULL, 2, &m), -1);
    ck_assert_int_eq(curvefit_predict(t, y, 2, 30, &p), -1);
    ck_assert_int_eq(curvefit_predict(t, y, 0, 30, &p), -1);
    /* a flat curve stays flat, with next to no doubt */
    ck_assert_int_eq(curvefit_predict(t, y, 12, 30, &p), 0);
    ck_assert_msg(fabs(p.mean - 0.5) < 1e-6 && p.sd < 1e-3 && isfinite(p.sd), "%g +- %g", p.mean,
                  p.sd);
    /* NAN values and steps <= 0 are skipped, not fitted */
    double t2[14], y2[14];
    for (int i = 0; i < 12; i++) {
        t2[i] = i + 1;
        y2[i] = truth(CURVEFIT_POW3, t2[i]);
    }
    t2[12] = 0;
    y2[12] = 5;
    t2[13] = 13;
    y2[13] = NAN;
    struct curvefit_pred a, b;
    ck_assert_int_eq(curvefit_predict(t2, y2, 12, 30, &a), 0);
    ck_assert_int_eq(curvefit_predict(t2, y2, 14, 30, &b), 0);
    ck_assert_msg(fabs(a.mean - b.mean) < 1e-12 && isfinite(b.mean), "%g vs %g", a.mean, b.mean);
    for (int i = 0; i < 12; i++)
        y[i] = NAN;
    ck_assert_int_eq(curvefit_predict(t, y, 12, 30, &p), -1);
    ck_assert_int_eq(curvefit_fit(CURVEFIT_JANOSCHEK, t, y, NULL, 12, &m), -1);
}
END_TEST

/* ---- curve pruner ---- */

static size_t fill(struct pruner_point *c, double (*fn)(double), size_t n)
{
    for (size_t i = 0; i < n; i++) {
        c[i].step = (long long)i + 1;
        c[i].value = fn((double)i + 1);
    }
    return n;
}

static double hopeless(double t)
{
    return 0.9 + 0.1 / t;
}

static double slow_winner(double t)
{
    return 0.1 + 0.8 * exp(-0.1 * t);
}

static double rising(double t)
{
    return 0.95 - 0.6 * exp(-0.2 * t);
}

static double stuck(double t)
{
    return 0.5 - 0.1 / t;
}

/* Settles at 0.4 with a wiggle of 0.01. */
static double near_fifth(double t)
{
    return 0.4 + 0.1 / t + ((long)t % 2 ? 0.01 : -0.01);
}

START_TEST(curve_reference)
{
    struct pruner_opts o = opts("{\"name\": \"curve\", \"k\": 1}");
    long rank;
    double f[] = {0.3, 0.1, NAN, 0.2};
    ck_assert(pruner_curve_reference(&o, false, f, 4, &rank) == 0.1 && rank == 1);
    double g[] = {0.3, 0.1, NAN, 0.2};
    ck_assert(pruner_curve_reference(&o, true, g, 4, &rank) == 0.3 && rank == 1);
    o.top_k = 3;
    double h[] = {0.3, 0.1, NAN, 0.2};
    ck_assert(pruner_curve_reference(&o, false, h, 4, &rank) == 0.3 && rank == 3);
    o.top_k = 5; /* fewer than k: the worst */
    double i[] = {0.3, 0.1, NAN, 0.2};
    ck_assert(pruner_curve_reference(&o, false, i, 4, &rank) == 0.3 && rank == 3);
    o.top_k = 0.5; /* half of three, rounded up */
    double j[] = {0.3, 0.1, 0.2};
    ck_assert(pruner_curve_reference(&o, false, j, 3, &rank) == 0.2 && rank == 2);
    double none[] = {NAN};
    ck_assert(isnan(pruner_curve_reference(&o, false, none, 1, &rank)) && rank == 0);
    /* the default, a fifth rounded up: the best up to five completed trials,
     * the 2nd best from six, the 3rd from eleven */
    struct pruner_opts d = opts("{\"name\": \"curve\"}");
    double five[] = {0.5, 0.1, 0.4, 0.2, 0.3};
    ck_assert(pruner_curve_reference(&d, false, five, 5, &rank) == 0.1 && rank == 1);
    double six[] = {0.5, 0.1, 0.4, 0.2, 0.3, 0.6};
    ck_assert(pruner_curve_reference(&d, false, six, 6, &rank) == 0.2 && rank == 2);
    double eleven[] = {0.5, 0.1, 0.4, 0.2, 0.3, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1};
    ck_assert(pruner_curve_reference(&d, true, eleven, 11, &rank) == 0.9 && rank == 3);
}
END_TEST

START_TEST(curve_decisions)
{
    struct pruner_opts o = opts("{\"name\": \"curve\"}");
    struct pruner_point c[40];
    struct pruner_verdict v;
    double finals[] = {0.2, 0.25, 0.3, 0.35, 0.4};
    size_t nf = LEN(finals);
#define FIN (double[]){0.2, 0.25, 0.3, 0.35, 0.4}
    /* a curve settling near 0.9 cannot reach 0.2 by step 30 */
    ck_assert(pruner_curve_decide(&o, false, c, fill(c, hopeless, 8), FIN, nf, NULL, 30, &v));
    ck_assert_msg(v.p < 0.05 && fabs(v.predicted - 0.9) < 0.05, "p %g, predicted %g", v.p,
                  v.predicted);
    ck_assert_msg(strstr(v.reason, "% chance to beat the 1st best (0.2) at step 30: predicted "),
                  "%s", v.reason);
    /* a slow starter, far behind now, ends at 0.14: it goes on */
    ck_assert(!pruner_curve_decide(&o, false, c, fill(c, slow_winner, 8), FIN, nf, NULL, 30, &v));
    ck_assert_msg(v.p > 0.5, "p %g: %s", v.p, v.reason);
    /* no judgement: too few completed trials, warm-up, too few points, at the end */
    ck_assert(!pruner_curve_decide(&o, false, c, fill(c, hopeless, 8), FIN, 2, NULL, 30, &v));
    ck_assert(isnan(v.p) && v.reason[0] == '\0');
    ck_assert(pruner_curve_decide(&o, false, c, fill(c, hopeless, 8), FIN, 3, NULL, 30, &v));
    ck_assert(!pruner_curve_decide(&o, false, c, fill(c, hopeless, 4), FIN, nf, NULL, 30, &v));
    ck_assert(isnan(v.p));
    ck_assert(!pruner_curve_decide(&o, false, c, fill(c, hopeless, 30), FIN, nf, NULL, 30, &v));
    ck_assert(!pruner_curve_decide(&o, false, c, fill(c, hopeless, 8), FIN, nf, NULL, 0, &v));
    struct pruner_opts w = opts("{\"name\": \"curve\", \"n_warmup_steps\": 10}");
    ck_assert(!pruner_curve_decide(&w, false, c, fill(c, hopeless, 8), FIN, nf, NULL, 30, &v));
    ck_assert(pruner_curve_decide(&w, false, c, fill(c, hopeless, 10), FIN, nf, NULL, 30, &v));
    /* k = 5: 0.4 to beat; a threshold of 0.9 stops even a likely winner */
    struct pruner_opts k5 = opts("{\"name\": \"curve\", \"k\": 5, \"threshold\": 0.9}");
    ck_assert(pruner_curve_decide(&k5, false, c, fill(c, near_fifth, 12), FIN, nf, NULL, 30, &v));
    ck_assert_msg(strstr(v.reason, "the 5th best (0.4)") && v.p > 0.3 && v.p < 0.9, "%s", v.reason);
    /* a diverged report stops the trial */
    fill(c, slow_winner, 8);
    c[7].value = NAN;
    ck_assert(pruner_curve_decide(&o, false, c, 8, FIN, nf, NULL, 30, &v));
    ck_assert(v.p == 0 && strstr(v.reason, "diverged"));
    /* maximize: accuracy rising to 0.95 against finals up to 0.9 goes on; one
     * stuck at 0.5 stops */
    double acc[] = {0.7, 0.8, 0.85, 0.9, 0.6};
    ck_assert(!pruner_curve_decide(&o, true, c, fill(c, rising, 10), acc, 5, NULL, 30, &v));
    double acc2[] = {0.7, 0.8, 0.85, 0.9, 0.6};
    ck_assert(pruner_curve_decide(&o, true, c, fill(c, stuck, 10), acc2, 5, NULL, 30, &v));
    ck_assert_msg(strstr(v.reason, "best (0.9)"), "%s", v.reason);
    /* the wrong kind never prunes */
    struct pruner_opts med = opts("{\"name\": \"median\"}");
    ck_assert(!pruner_curve_decide(&med, false, c, fill(c, hopeless, 8), FIN, nf, NULL, 30, &v));
#undef FIN
}
END_TEST

/* Pairs (value at the step, final value) of trials whose final value is
 * a * (value at the step)^b, times a wiggle of +-1%. */
static size_t power_pairs(double *xy, const double *at, size_t n, double a, double b)
{
    for (size_t i = 0; i < n; i++) {
        xy[2 * i] = at[i];
        xy[2 * i + 1] = a * pow(at[i], b) * (i % 2 ? 1.01 : 0.99);
    }
    return n;
}

START_TEST(curve_cross_trial_line)
{
    static const double at[] = {0.3, 0.4, 0.5, 0.6, 0.8, 1.0};
    double xy[12], p, pred;
    /* curves that keep their order: the final value is half the value at the
     * step; 0.9 there ends near 0.45, no chance against 0.2; 0.35 ends near
     * 0.175, likely to beat it */
    struct pruner_pairs keep = {xy, power_pairs(xy, at, 6, 0.5, 1)};
    ck_assert_int_eq(pruner_curve_cross(&keep, false, 0.9, 0.2, &p, &pred), 0);
    ck_assert_msg(p < 1e-3 && fabs(pred - 0.45) < 0.01, "p %g, predicted %g", p, pred);
    ck_assert_int_eq(pruner_curve_cross(&keep, false, 0.35, 0.2, &p, &pred), 0);
    ck_assert_msg(p > 0.9 && fabs(pred - 0.175) < 0.01, "p %g, predicted %g", p, pred);
    /* maximizing flips the chance */
    ck_assert_int_eq(pruner_curve_cross(&keep, true, 0.9, 0.2, &p, &pred), 0);
    ck_assert_msg(p > 0.999, "p %g", p);
    /* curves that cross: the worse at the step, the better at the end
     * (final = 0.1 / value); 0.9 there ends near 0.11, ahead of 0.2 */
    struct pruner_pairs cross = {xy, power_pairs(xy, at, 6, 0.1, -1)};
    ck_assert_int_eq(pruner_curve_cross(&cross, false, 0.9, 0.2, &p, &pred), 0);
    ck_assert_msg(p > 0.99 && fabs(pred - 0.111) < 0.01, "p %g, predicted %g", p, pred);
    /* values that are not all positive are fitted on their own scale: final =
     * value - 1 */
    double lin[12];
    for (size_t i = 0; i < 6; i++) {
        lin[2 * i] = (double)i - 3;
        lin[2 * i + 1] = (double)i - 4 + (i % 2 ? 0.01 : -0.01);
    }
    struct pruner_pairs shifted = {lin, 6};
    ck_assert_int_eq(pruner_curve_cross(&shifted, false, 0.5, 0, &p, &pred), 0);
    ck_assert_msg(fabs(pred + 0.5) < 0.05 && p > 0.99, "p %g, predicted %g", p, pred);
    /* NAN pairs are skipped; fewer than four usable, or no spread: nothing */
    xy[1] = NAN;
    xy[2] = NAN;
    xy[4] = NAN;
    ck_assert_int_eq(pruner_curve_cross(&(struct pruner_pairs){xy, 5}, false, 0.9, 0.2, &p, &pred),
                     -1);
    ck_assert(isnan(p) && isnan(pred));
    ck_assert_int_eq(pruner_curve_cross(&(struct pruner_pairs){xy, 6}, false, 0.9, 0.2, &p, &pred),
                     -1);
    double flat[] = {0.5, 0.1, 0.5, 0.2, 0.5, 0.3, 0.5, 0.4};
    ck_assert_int_eq(
        pruner_curve_cross(&(struct pruner_pairs){flat, 4}, false, 0.5, 0.2, &p, &pred), -1);
    ck_assert_int_eq(pruner_curve_cross(NULL, false, 0.5, 0.2, &p, &pred), -1);
}
END_TEST

/* Pairs whose final value is best for a middle band of values at the step
 * (log final = log 0.1 + 2 (log(value / 0.4))^2, wiggled by 1%): too fast a
 * start overfits, too slow never gets there. */
static size_t band_pairs(double *xy, const double *at, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double d = log(at[i] / 0.4);
        xy[2 * i] = at[i];
        xy[2 * i + 1] = 0.1 * exp(2 * d * d) * (i % 2 ? 1.01 : 0.99);
    }
    return n;
}

START_TEST(curve_cross_trial_parabola)
{
    static const double at[] = {0.2, 0.25, 0.3, 0.35, 0.45, 0.5, 0.6, 0.7, 0.8};
    double xy[18], p, pred;
    struct pruner_pairs band = {xy, band_pairs(xy, at, LEN(at))};
    /* in the band: ends near 0.1, likely to beat 0.13 */
    ck_assert_int_eq(pruner_curve_cross(&band, false, 0.4, 0.13, &p, &pred), 0);
    ck_assert_msg(p > 0.9 && fabs(pred - 0.1) < 0.01, "p %g, predicted %g", p, pred);
    /* a slow and a fast start inside the values: both end worse; a line through
     * the same pairs is flat and would spare them */
    ck_assert_int_eq(pruner_curve_cross(&band, false, 0.75, 0.13, &p, &pred), 0);
    ck_assert_msg(p < 0.01 && pred > 0.2, "p %g, predicted %g", p, pred);
    ck_assert_int_eq(pruner_curve_cross(&band, false, 0.22, 0.13, &p, &pred), 0);
    ck_assert_msg(p < 0.05 && pred > 0.15, "p %g, predicted %g", p, pred);
    /* ahead of every completed trial at the step: three of them were ahead of
     * the band and ended worse, so the bend is extrapolated */
    ck_assert_int_eq(pruner_curve_cross(&band, false, 0.1, 0.13, &p, &pred), 0);
    ck_assert_msg(p < 0.01 && pred > 0.5, "p %g, predicted %g", p, pred);
    /* only one was ahead of the band: the line judges, and a leader goes on */
    static const double one_ahead[] = {0.3, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8};
    struct pruner_pairs few = {xy, band_pairs(xy, one_ahead, LEN(one_ahead))};
    ck_assert_int_eq(pruner_curve_cross(&few, false, 0.1, 0.13, &p, &pred), 0);
    ck_assert_msg(p > 0.5 && pred < 0.13, "p %g, predicted %g", p, pred);
    /* a bend away from the better values (final = value^(1/2) / (1 + 0.3
     * log^2), concave on the log scale) is not extrapolated: beyond the slowest
     * value the line goes on rising */
    static const double con[] = {0.2, 0.3, 0.4, 0.5, 0.6, 0.8};
    for (size_t i = 0; i < LEN(con); i++) {
        double l = log(con[i]);
        xy[2 * i] = con[i];
        xy[2 * i + 1] = exp(0.5 * l - 0.3 * l * l) * (i % 2 ? 1.01 : 0.99);
    }
    struct pruner_pairs bent = {xy, LEN(con)};
    double top = 0;
    for (size_t i = 0; i < LEN(con); i++)
        top = fmax(top, xy[2 * i + 1]);
    /* among their values the parabola interpolates */
    ck_assert_int_eq(pruner_curve_cross(&bent, false, 0.75, 0.1, &p, &pred), 0);
    ck_assert_msg(pred < top, "predicted %g, the worst final %g", pred, top);
    /* maximising, 3.0 is ahead of them all; the bend goes toward the better
     * values but its vertex (near 2.3) lies beyond theirs, so the line judges
     * and the leader is predicted above them all */
    ck_assert_int_eq(pruner_curve_cross(&bent, true, 3.0, top, &p, &pred), 0);
    ck_assert_msg(pred > top, "predicted %g, the best final %g", pred, top);
    /* minimising, 3.0 is behind them all: no estimate */
    ck_assert_int_eq(pruner_curve_cross(&bent, false, 3.0, 0.1, &p, &pred), -1);
    /* maximising: accuracy at the step best in a band around 0.6 (log final =
     * log 0.9 - 2 (log(value / 0.6))^2); a leader beyond it, with three trials
     * ahead of the band, is judged by the bend */
    static const double acc_at[] = {0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.7, 0.75, 0.8};
    for (size_t i = 0; i < LEN(acc_at); i++) {
        double d = log(acc_at[i] / 0.6);
        xy[2 * i] = acc_at[i];
        xy[2 * i + 1] = 0.9 * exp(-2 * d * d) * (i % 2 ? 1.01 : 0.99);
    }
    struct pruner_pairs acc = {xy, LEN(acc_at)};
    ck_assert_int_eq(pruner_curve_cross(&acc, true, 0.6, 0.87, &p, &pred), 0);
    ck_assert_msg(p > 0.9, "p %g, predicted %g", p, pred);
    ck_assert_int_eq(pruner_curve_cross(&acc, true, 0.99, 0.87, &p, &pred), 0);
    ck_assert_msg(p < 0.05, "p %g, predicted %g", p, pred);
}
END_TEST

/* The trial's own extrapolation judges with twice the ensemble's sd. */
START_TEST(curve_own_sd_scaled)
{
    struct pruner_opts o = opts("{\"name\": \"curve\"}");
    struct pruner_point c[40];
    struct pruner_verdict v;
    size_t n = fill(c, hopeless, 8);
    double t[8], y[8];
    for (size_t i = 0; i < n; i++) {
        t[i] = (double)c[i].step;
        y[i] = c[i].value;
    }
    struct curvefit_pred pr;
    ck_assert_int_eq(curvefit_predict(t, y, n, 30, &pr), 0);
    ck_assert(pruner_curve_decide(&o, false, c, n, (double[]){0.2, 0.25, 0.3}, 3, NULL, 30, &v));
    const char *pm = strstr(v.reason, "+- ");
    ck_assert_msg(pm, "%s", v.reason);
    double sd = atof(pm + 3);
    ck_assert_msg(fabs(sd - PRUNER_CURVE_OWN_SD_SCALE * pr.sd) <= 0.01 * sd + 1e-12,
                  "reason sd %g, ensemble sd %g: %s", sd, pr.sd, v.reason);
    /* and the chance is the one of that wider interval */
    double z = (0.2 - pr.mean) / (PRUNER_CURVE_OWN_SD_SCALE * pr.sd);
    ck_assert_msg(fabs(v.p - 0.5 * erfc(-z / sqrt(2.0))) < 1e-9, "p %g, z %g", v.p, z);
}
END_TEST

START_TEST(curve_decisions_cross_trial)
{
    struct pruner_opts o = opts("{\"name\": \"curve\"}");
    struct pruner_point c[40];
    struct pruner_verdict v;
    static const double at[] = {0.3, 0.4, 0.5, 0.6, 0.8, 1.0};
    double xy[12];
    /* the completed trials' finals: the pairs' */
    double fin[6];
    /* curves that keep their order: at step 2 the line alone judges, before
     * the trial's own curve can be fitted (min_points 5) */
    struct pruner_pairs keep = {xy, power_pairs(xy, at, 6, 0.5, 1)};
    for (size_t i = 0; i < 6; i++)
        fin[i] = xy[2 * i + 1];
    fill(c, hopeless, 2);
    ck_assert(pruner_curve_decide(&o, false, c, 2, fin, 6, &keep, 30, &v));
    ck_assert_msg(v.p < 0.05 &&
                      strstr(v.reason, "completed trials from their value at step 2 "
                                       "predict 0.4") &&
                      !strstr(v.reason, "reports"),
                  "%s", v.reason);
    /* a value as good as the best completed ones at step 2 goes on */
    c[1].value = 0.29;
    for (size_t i = 0; i < 6; i++)
        fin[i] = xy[2 * i + 1];
    ck_assert(!pruner_curve_decide(&o, false, c, 2, fin, 6, &keep, 30, &v));
    ck_assert_msg(v.p > 0.5, "p %g: %s", v.p, v.reason);
    /* both estimates agree on a hopeless curve: pruned, with both named and
     * the larger chance recorded */
    for (size_t i = 0; i < 6; i++)
        fin[i] = xy[2 * i + 1];
    ck_assert(pruner_curve_decide(&o, false, c, fill(c, hopeless, 8), fin, 6, &keep, 30, &v));
    ck_assert_msg(strstr(v.reason, "from 8 reports to step 8 (") &&
                      strstr(v.reason, "; completed trials from their value at step 8"),
                  "%s", v.reason);
    /* curves that cross: the worse a trial was at step 8, the better it ended
     * (final = 0.1 / value there); the slowest completed trial, at 0.92
     * there, ended best, so a curve at 0.9125 whose own fit looks hopeless
     * is spared */
    static const double early[] = {0.3, 0.4, 0.5, 0.6, 0.7, 0.92};
    struct pruner_pairs cross = {xy, power_pairs(xy, early, 6, 0.1, -1)};
    for (size_t i = 0; i < 6; i++)
        fin[i] = xy[2 * i + 1];
    ck_assert(!pruner_curve_decide(&o, false, c, fill(c, hopeless, 8), fin, 6, &cross, 30, &v));
    ck_assert_msg(v.p > 0.2, "p %g: %s", v.p, v.reason);
    /* without the pairs, the same curve is pruned on its own fit */
    for (size_t i = 0; i < 6; i++)
        fin[i] = xy[2 * i + 1];
    ck_assert(pruner_curve_decide(&o, false, c, fill(c, hopeless, 8), fin, 6, NULL, 30, &v));
    /* behind every completed trial at step 8 the pairs say nothing: the own
     * fit judges alone */
    static const double fast[] = {0.2, 0.25, 0.3, 0.4, 0.5, 0.6};
    struct pruner_pairs faster = {xy, power_pairs(xy, fast, 6, 0.1, -1)};
    for (size_t i = 0; i < 6; i++)
        fin[i] = xy[2 * i + 1];
    ck_assert(pruner_curve_decide(&o, false, c, fill(c, hopeless, 8), fin, 6, &faster, 30, &v));
    ck_assert_msg(!strstr(v.reason, "completed trials"), "%s", v.reason);
}
END_TEST

/* The slow starter that ends best, in the family where fast starts settle
 * early on a worse level (the completed trials all started fast, so their
 * values at a step are their final values): a trial far behind them at its
 * first reports is not stopped by the completed trials' fit, which knows
 * nothing of slow starts; once its own curve can be fitted, a curve falling
 * toward a better level goes on and one settling above the best stops. */
static double slow_start(double t)
{
    return 0.05 + 0.9 * exp(-t / 6);
}

static double slow_settled(double t)
{
    return 0.3 + 0.65 * exp(-t / 2);
}

START_TEST(curve_slow_starter_behind)
{
    struct pruner_opts o = opts("{\"name\": \"curve\"}");
    struct pruner_point c[40];
    struct pruner_verdict v;
    /* five fast starters, settled by step 2 on 0.08 to 0.16 (final = value
     * there, wiggled by 1%) */
    static const double settled[] = {0.08, 0.1, 0.12, 0.14, 0.16};
    double xy[10], fin[5], p, pred;
    struct pruner_pairs fast = {xy, power_pairs(xy, settled, 5, 1, 1)};
    for (size_t i = 0; i < 5; i++)
        fin[i] = xy[2 * i + 1];
    /* step 2: 0.76, behind them all: no estimate from the pairs, no stop */
    ck_assert_int_eq(pruner_curve_cross(&fast, false, slow_start(2), fin[0], &p, &pred), -1);
    ck_assert(!pruner_curve_decide(&o, false, c, fill(c, slow_start, 2), fin, 5, &fast, 30, &v));
    ck_assert_msg(isnan(v.p) && v.reason[0] == '\0', "p %g: %s", v.p, v.reason);
    /* among them, the same fit judges: 0.15 at step 2 ends near 0.15 */
    ck_assert_int_eq(pruner_curve_cross(&fast, false, 0.15, fin[0], &p, &pred), 0);
    ck_assert_msg(p < 0.05 && fabs(pred - 0.15) < 0.01, "p %g, predicted %g", p, pred);
    /* step 8: its own curve falls toward 0.05, ahead of the best (0.08) */
    for (size_t i = 0; i < 5; i++)
        fin[i] = xy[2 * i + 1];
    ck_assert(!pruner_curve_decide(&o, false, c, fill(c, slow_start, 8), fin, 5, &fast, 30, &v));
    ck_assert_msg(v.p > 0.05 && !strstr(v.reason, "completed trials"), "p %g: %s", v.p, v.reason);
    /* a slow start that settles on 0.3 stops on its own curve */
    for (size_t i = 0; i < 5; i++)
        fin[i] = xy[2 * i + 1];
    ck_assert(pruner_curve_decide(&o, false, c, fill(c, slow_settled, 8), fin, 5, &fast, 30, &v));
    ck_assert_msg(strstr(v.reason, "from 8 reports"), "%s", v.reason);
}
END_TEST

START_TEST(asha_default_first_rung)
{
    struct pruner_opts o = opts("{\"name\": \"asha\"}");
    ck_assert_int_eq(pruner_asha_min_resource(&o, 0), 0); /* unknown: no judgement */
    ck_assert_int_eq(pruner_asha_min_resource(&o, 30), 1);
    ck_assert_int_eq(pruner_asha_min_resource(&o, 40), 2);
    ck_assert_int_eq(pruner_asha_min_resource(&o, 100), 6);
    ck_assert_int_eq(pruner_asha_min_resource(&o, 1000), 62);
    struct pruner_opts r3 = opts("{\"name\": \"asha\", \"reduction_factor\": 3}");
    ck_assert_int_eq(pruner_asha_min_resource(&r3, 100), 11);
    struct pruner_opts given = opts("{\"name\": \"asha\", \"min_resource\": 3}");
    ck_assert_int_eq(pruner_asha_min_resource(&given, 1000), 3);
    ck_assert_int_eq(pruner_asha_min_resource(&given, 0), 3);
    struct pruner_opts fixed = opts("{\"name\": \"asha\", \"max_resource\": 100}");
    ck_assert_int_eq(pruner_max_resource(&fixed, 30), 100);
    ck_assert_int_eq(pruner_max_resource(&o, 30), 30);
    ck_assert_int_eq(pruner_max_resource(&o, -1), 0);
}
END_TEST

START_TEST(hyperband_brackets)
{
    struct pruner_opts o = opts("{\"name\": \"hyperband\"}");
    ck_assert_int_eq(o.min_resource, 1);
    ck_assert_int_eq(o.reduction_factor, 3);
    ck_assert_int_eq(pruner_hyperband_brackets(&o, 0), 0);
    ck_assert_int_eq(pruner_hyperband_brackets(&o, 2), 1);
    ck_assert_int_eq(pruner_hyperband_brackets(&o, 26), 3);
    ck_assert_int_eq(pruner_hyperband_brackets(&o, 27), 4);
    ck_assert_int_eq(pruner_hyperband_brackets(&o, 30), 4);
    /* trials spread over the 4 brackets as 27 : 12 : 6 : 4 */
    size_t count[4] = {0};
    for (long long n = 0; n < 20000; n++) {
        long b = pruner_hyperband_bracket(&o, 4, n);
        ck_assert(b >= 0 && b < 4);
        count[b]++;
    }
    double want[4] = {27.0 / 49, 12.0 / 49, 6.0 / 49, 4.0 / 49};
    for (int b = 0; b < 4; b++)
        ck_assert_msg(fabs((double)count[b] / 20000 - want[b]) < 0.02, "bracket %d: %zu", b,
                      count[b]);
    ck_assert_int_eq(pruner_hyperband_bracket(&o, 4, 77), pruner_hyperband_bracket(&o, 4, 77));
    ck_assert_int_eq(pruner_hyperband_bracket(&o, 1, 77), 0);
    /* bracket 2 is successive halving from step 1 * 3^2 */
    struct pruner_opts a = pruner_hyperband_asha(&o, 2);
    ck_assert_int_eq(a.kind, PRUNER_ASHA);
    ck_assert_int_eq(pruner_asha_rung_step(&a, 0), 9);
    ck_assert_int_eq(pruner_asha_rung_step(&a, 1), 27);
}
END_TEST

/* ---- the hook, on a database ---- */

static struct db *db;

static void db_up(void)
{
    db = test_db_up();
}

static void db_down(void)
{
    test_db_down();
    db = NULL;
}

static void exec(const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db_handle(db), sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
}

static long long add_study(const char *name, const char *pruner, int direction)
{
    char spec[512];
    snprintf(spec, sizeof spec, "{\"name\": \"%s\", \"pruner\": %s}", name, pruner);
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db),
                                        "INSERT INTO studies (name, spec, spec_in, direction, "
                                        "created_at) VALUES (?, ?, ?, ?, 0)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, spec, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, spec, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, direction);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    return sqlite3_last_insert_rowid(db_handle(db));
}

static long long add_trial(long long study, const char *state)
{
    static long long number;
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db),
                                        "INSERT INTO trials (study_id, number, state, params, "
                                        "source, created_at) VALUES (?, ?, ?, '{}', 'test', 0)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(q, 1, study);
    sqlite3_bind_int64(q, 2, number++);
    sqlite3_bind_text(q, 3, state, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    return sqlite3_last_insert_rowid(db_handle(db));
}

/* Store a report through the store (upsert, last_step only grows). */
static void report(long long trial, long long step, double value)
{
    struct serr e;
    ck_assert_msg(store_reports_add(db, trial, &step, &value, 1, &e) == 0, "%s", e.msg);
}

static void curve(long long trial, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        report(trial, (long long)i + 1, v[i]);
}

/* Report and ask, as store_report does. */
static bool decide(long long study, long long trial, long long step, double value)
{
    report(trial, step, value);
    return pruner_hook_decide(db, study, trial, step, value);
}

START_TEST(hook_median)
{
    db_up();
    long long s = add_study("m", "{\"name\": \"median\", \"n_startup_trials\": 3}", 1);
    /* three completed curves: at step 2 the values are 0.5, 0.4, 0.6 */
    double a[] = {0.8, 0.5, 0.3}, b[] = {0.7, 0.4, 0.2}, c[] = {0.9, 0.6, 0.5};
    curve(add_trial(s, "completed"), a, 3);
    curve(add_trial(s, "completed"), b, 3);
    long long tc = add_trial(s, "running");
    curve(tc, c, 3);
    long long t = add_trial(s, "running");
    /* only two completed trials yet: no judgement however bad */
    ck_assert(!decide(s, t, 1, 0.99));
    ck_assert(!decide(s, t, 2, 0.99));
    exec("UPDATE trials SET state = 'completed' WHERE state = 'running' AND last_step = 3");
    /* step 2: median 0.5; 0.55 is worse */
    ck_assert(decide(s, t, 2, 0.55));
    ck_assert(pruner_hook_should_stop(db, t));
    /* the decision sticks: a better report later still answers prune */
    ck_assert(decide(s, t, 3, 0.01));

    /* a tie with the median goes on, a hair worse does not */
    long long st = add_study("tie", "{\"name\": \"median\", \"n_startup_trials\": 3}", 1);
    curve(add_trial(st, "completed"), (double[]){0.2}, 1);
    curve(add_trial(st, "completed"), (double[]){0.5}, 1);
    curve(add_trial(st, "completed"), (double[]){0.8}, 1);
    long long u = add_trial(st, "running");
    ck_assert(!decide(st, u, 1, 0.5));
    ck_assert(!pruner_hook_should_stop(db, u));
    ck_assert(decide(st, add_trial(st, "running"), 1, 0.5000001));

    /* running trials count at steps they reached; pruned and failed ones do not */
    long long s2 = add_study("m2", "{\"name\": \"median\", \"n_startup_trials\": 1}", 1);
    curve(add_trial(s2, "completed"), (double[]){0.9, 0.9}, 2);
    curve(add_trial(s2, "running"), (double[]){0.1, 0.1}, 2);
    curve(add_trial(s2, "running"), (double[]){0.2}, 1);
    curve(add_trial(s2, "pruned"), (double[]){0.95, 0.95}, 2);
    curve(add_trial(s2, "pruned"), (double[]){0.95, 0.95}, 2);
    curve(add_trial(s2, "failed"), (double[]){0.95, 0.95}, 2);
    curve(add_trial(s2, "failed"), (double[]){0.95, 0.95}, 2);
    /* the others at step 2: 0.9 and 0.1 -> median 0.5 (the running trial
     * that is at step 1 has not reached it) */
    ck_assert(!decide(s2, add_trial(s2, "running"), 2, 0.5));
    ck_assert(decide(s2, add_trial(s2, "running"), 2, 0.51));
    db_down();
}
END_TEST

START_TEST(hook_median_missing_and_late)
{
    db_up();
    long long s = add_study("ml", "{\"name\": \"median\", \"n_startup_trials\": 0}", 1);
    /* others skipped step 3: 0.2 at step 2, 0.9 at 4 -> their value at 3 is 0.2 */
    for (int i = 0; i < 3; i++) {
        long long o = add_trial(s, "completed");
        report(o, 2, 0.2);
        report(o, 4, 0.9);
    }
    long long t = add_trial(s, "running");
    ck_assert(!decide(s, t, 1, 0.3)); /* at step 1 nobody reported anything */
    ck_assert(decide(s, t, 3, 0.3));

    /* a completed trial whose curve ended before the step counts with its last value */
    long long s2 = add_study("ml2", "{\"name\": \"median\", \"n_startup_trials\": 0}", 1);
    curve(add_trial(s2, "completed"), (double[]){0.3, 0.2}, 2);
    ck_assert(!decide(s2, add_trial(s2, "running"), 5, 0.2));
    ck_assert(decide(s2, add_trial(s2, "running"), 6, 0.25));

    /* out of order: 1, 4 then a late 2 that is worse than the others' 0.4 at
     * step 2: judged at the latest step, 4, where the trial is as good as them */
    long long s3 = add_study("ml3", "{\"name\": \"median\", \"n_startup_trials\": 0}", 1);
    curve(add_trial(s3, "completed"), (double[]){0.5, 0.4, 0.3, 0.3}, 4);
    long long t3 = add_trial(s3, "running");
    ck_assert(!decide(s3, t3, 1, 0.5));
    ck_assert(!decide(s3, t3, 4, 0.3));
    ck_assert(!decide(s3, t3, 2, 0.45));
    ck_assert(!pruner_hook_should_stop(db, t3));
    /* the same report in order is pruned */
    long long t4 = add_trial(s3, "running");
    ck_assert(!decide(s3, t4, 1, 0.5));
    ck_assert(decide(s3, t4, 2, 0.45));
    db_down();
}
END_TEST

START_TEST(hook_maximize)
{
    db_up();
    long long s = add_study("mx", "{\"name\": \"median\", \"n_startup_trials\": 1}", -1);
    curve(add_trial(s, "completed"), (double[]){0.6, 0.8}, 2);
    long long t = add_trial(s, "running");
    ck_assert(!decide(s, t, 1, 0.7)); /* accuracy 0.7 beats 0.6 */
    ck_assert(decide(s, t, 2, 0.75)); /* best 0.75 below 0.8 */
    db_down();
}
END_TEST

START_TEST(hook_asha)
{
    db_up();
    long long s =
        add_study("a", "{\"name\": \"asha\", \"min_resource\": 1, \"reduction_factor\": 3}", 1);
    /* rungs at 1, 3, 9 */
    long long t1 = add_trial(s, "running");
    ck_assert(!decide(s, t1, 1, 0.5)); /* alone */
    long long t2 = add_trial(s, "running");
    ck_assert(decide(s, t2, 1, 0.6)); /* 2 values < rf: only the best goes on */
    long long t3 = add_trial(s, "running");
    ck_assert(!decide(s, t3, 1, 0.5)); /* tie with the best */
    ck_assert(!decide(s, t3, 2, 0.9)); /* no rung at 2 */
    /* t3 skips step 3: its report at 5 is its value at rung 3; alone there */
    ck_assert(!decide(s, t3, 5, 0.4));
    /* t1 reaches rung 3 with 0.45: worse than t3's 0.4 */
    ck_assert(!decide(s, t1, 2, 0.45));
    ck_assert(decide(s, t1, 3, 0.45));
    /* out of order on a fresh trial: 1 then 4 (crosses 3), then a late 3 */
    long long t4 = add_trial(s, "running");
    for (int i = 0; i < 6; i++)
        curve(add_trial(s, "completed"), (double[]){0.9}, 1);
    /* rung 1: 10 values (0.5, 0.6, 0.5, 0.5 and six 0.9): top 3 go on */
    ck_assert(!decide(s, t4, 1, 0.5));
    ck_assert(!decide(s, t4, 4, 0.3));  /* rung 3: best of t3 0.4, t1 0.45 */
    ck_assert(!decide(s, t4, 3, 0.99)); /* late report: nothing crossed again */
    ck_assert(!pruner_hook_should_stop(db, t4));
    /* the late report changed t4's rung-3 value, seen by the next trial: rung 3
     * now holds 0.4 (t3), 0.45 (t1), 0.99 (t4) */
    long long t5 = add_trial(s, "running");
    ck_assert(!decide(s, t5, 1, 0.1));
    ck_assert(!decide(s, t5, 3, 0.4));
    db_down();
}
END_TEST

START_TEST(hook_patience_and_none)
{
    db_up();
    long long s = add_study("p", "{\"name\": \"patience\", \"patience\": 2}", 1);
    /* stalled, but nothing completed yet: it may be the best, it goes on */
    long long t0 = add_trial(s, "running");
    ck_assert(!decide(s, t0, 1, 0.5));
    ck_assert(!decide(s, t0, 2, 0.5));
    ck_assert(!decide(s, t0, 3, 0.6));
    exec("UPDATE trials SET state = 'completed', value = 0.45 WHERE id = 1");
    ck_assert(!decide(s, add_trial(s, "running"), 3, 0.6));
    long long t = add_trial(s, "running");
    ck_assert(!decide(s, t, 1, 0.5));
    ck_assert(!decide(s, t, 2, 0.5));
    ck_assert(decide(s, t, 3, 0.6)); /* stalled and worse than 0.45 */
    long long t2 = add_trial(s, "running");
    ck_assert(!decide(s, t2, 1, 0.4));
    ck_assert(!decide(s, t2, 2, 0.5));
    ck_assert(!decide(s, t2, 3, 0.6)); /* stalled but its 0.4 beats 0.45 */
    long long n = add_study("n", "{\"name\": \"none\"}", 1);
    long long u = add_trial(n, "running");
    ck_assert(!decide(n, u, 1, 1e9));
    ck_assert(!pruner_hook_should_stop(db, u));
    /* a study stored with a pruner it no longer understands prunes nothing */
    long long b = add_study("b", "{\"name\": \"mystery\"}", 1);
    long long w = add_trial(b, "running");
    ck_assert(!decide(b, w, 1, 1e9));
    db_down();
}
END_TEST

static double elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* Many trials: a decision reads the reports through the indexes, not by scanning. */
START_TEST(hook_many_trials)
{
    db_up();
    long long sm = add_study("big-m", "{\"name\": \"median\"}", 1);
    long long sa = add_study("big-a", "{\"name\": \"asha\"}", 1);
    long long sc = add_study("big-c", "{\"name\": \"curve\"}", 1);
    for (int i = 0; i < 2000; i++) {
        long long tm = add_trial(sm, i % 4 ? "completed" : "pruned");
        long long ta = add_trial(sa, "completed");
        long long tc = add_trial(sc, "completed");
        int len = i % 4 ? 40 : 1 + i % 13;
        long long steps[40];
        double vals[40];
        for (int k = 1; k <= len; k++) {
            steps[k - 1] = k;
            vals[k - 1] = 0.1 + 0.8 * (double)((i * 7919) % 1000) / 1000.0 / k;
        }
        struct serr e;
        ck_assert_msg(store_reports_add(db, tm, steps, vals, (size_t)len, &e) == 0, "%s", e.msg);
        ck_assert_msg(store_reports_add(db, ta, steps, vals, (size_t)len, &e) == 0, "%s", e.msg);
        ck_assert_msg(store_reports_add(db, tc, steps, vals, (size_t)len, &e) == 0, "%s", e.msg);
    }
    exec("UPDATE trials SET value = last_value WHERE state = 'completed'");
    /* good trials: every report is judged in full and goes on */
    long long t = add_trial(sm, "running"), u = add_trial(sa, "running");
    double ms[2] = {0, 0};
    int pruned = 0;
    for (int k = 1; k <= 40; k++) {
        struct timespec t0;
        report(t, k, 0.05 / k);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pruned += pruner_hook_decide(db, sm, t, k, 0.05 / k);
        ms[0] += elapsed_ms(&t0) / 40;
        report(u, k, 0.05 / k);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pruned += pruner_hook_decide(db, sa, u, k, 0.05 / k);
        ms[1] += elapsed_ms(&t0) / 40;
    }
    /* the curve pruner: a fit of the whole curve and the 2000 final values */
    long long w = add_trial(sc, "running");
    double mc = 0;
    for (int k = 1; k <= 39; k++) {
        struct timespec t0;
        report(w, k, 0.05 + 0.05 / k);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pruned += pruner_hook_decide(db, sc, w, k, 0.05 + 0.05 / k);
        mc += elapsed_ms(&t0) / 39;
    }
    printf("# 2000 trials of 40 steps: %.2f ms per median decision, %.2f ms per asha report, "
           "%.2f ms per curve report\n",
           ms[0], ms[1], mc);
    ck_assert_msg(ms[0] < 50 && ms[1] < 50 && mc < 50, "too slow: %.2f ms, %.2f ms, %.2f ms", ms[0],
                  ms[1], mc);
    ck_assert_int_eq(pruned, 0);
    /* one point: too few for its own curve. Among the completed trials'
     * values at step 5 a worse one ended worse (they kept their order to the
     * end): stopped. Behind all of them, the pairs tell nothing of how so
     * slow a start ends: it goes on until its own curve can judge. */
    ck_assert(decide(sc, add_trial(sc, "running"), 5, 0.25));
    ck_assert(!decide(sc, add_trial(sc, "running"), 5, 0.95));
    ck_assert(!decide(sc, add_trial(sc, "running"), 5, 0.1));
    /* bad ones are stopped at the first judgement */
    ck_assert(decide(sm, add_trial(sm, "running"), 1, 0.95));
    /* asha's first rung: 40 steps / 4^2, step 2 */
    ck_assert(!decide(sa, add_trial(sa, "running"), 1, 0.95));
    ck_assert(decide(sa, add_trial(sa, "running"), 2, 0.95));
    /* the query plans use the indexes */
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db),
                                        "EXPLAIN QUERY PLAN SELECT (SELECT r.value FROM "
                                        "trial_reports r WHERE r.trial_id = t.id AND r.step >= 3 "
                                        "ORDER BY r.step LIMIT 1) FROM trials t WHERE t.study_id "
                                        "= 1 AND t.last_step >= 3 AND t.id <> 5",
                                        -1, &q, NULL),
                     SQLITE_OK);
    bool scan = false;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(q, 3);
        if (strncmp(d, "SCAN", 4) == 0)
            scan = true;
    }
    sqlite3_finalize(q);
    ck_assert_msg(!scan, "a table scan in the rung query");
    db_down();
}
END_TEST

/* The completed trials' values are their last reports. */
static void complete_all(long long study)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE trials SET value = last_value WHERE study_id = %lld AND state = 'completed'",
             study);
    exec(sql);
}

static char *text_of(const char *sql, long long id)
{
    static char out[400];
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db), sql, -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_int64(q, 1, id);
    out[0] = '\0';
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return out;
}

/* The cross-trial pairs come from completed trials that reported after the
 * step: one whose reports ended before tells nothing of how a value there
 * goes on. */
START_TEST(hook_pairs_after_step)
{
    db_up();
    long long s = add_study("pairs", "{\"name\": \"curve\"}", 1);
    double v[10];
    for (int k = 0; k < 6; k++) {
        size_t len = k < 4 ? 10 : 3;
        for (size_t i = 0; i < len; i++)
            v[i] = 0.2 + 0.05 * k + 0.5 / ((double)i + 1);
        curve(add_trial(s, "completed"), v, len);
    }
    complete_all(s);
    double *xy;
    size_t n;
    ck_assert_int_eq(store_prune_pairs(db, s, 0, 2, &xy, &n), 0);
    ck_assert_uint_eq(n, 6);
    free(xy);
    ck_assert_int_eq(store_prune_pairs(db, s, 0, 3, &xy, &n), 0);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++) /* the value at step 3, the value at step 10 */
        ck_assert_msg(fabs(xy[2 * i] - xy[2 * i + 1] - (0.5 / 3 - 0.05)) < 1e-9, "pair %zu: %g %g",
                      i, xy[2 * i], xy[2 * i + 1]);
    free(xy);
    db_down();
}
END_TEST

START_TEST(hook_curve)
{
    db_up();
    long long s = add_study("c", "{\"name\": \"curve\", \"n_startup_trials\": 2}", 1);
    double v[10];
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 10; i++)
            v[i] = 0.2 + 0.05 * k + 0.5 / (i + 1);
        curve(add_trial(s, "completed"), v, 10);
    }
    complete_all(s); /* finals 0.25 and 0.30, ten steps each */
    long long bad = add_trial(s, "running"), good = add_trial(s, "running");
    bool pruned = false;
    long long at = 0;
    for (int i = 1; i <= 9 && !pruned; i++) {
        pruned = decide(s, bad, i, 0.9 + 0.1 / i);
        at = i;
        ck_assert(!decide(s, good, i, 0.1 + 0.5 / i));
    }
    ck_assert(pruned);
    ck_assert_int_eq(at, 5); /* the first step with five points */
    ck_assert(pruner_hook_should_stop(db, bad));
    const char *why = text_of("SELECT prune_reason FROM trials WHERE id = ?", bad);
    ck_assert_msg(strncmp(why, "curve pruner at step 5: ", 24) == 0 &&
                      strstr(why, "chance to beat the 1st best (0.25) at step 10"),
                  "%s", why);
    double p =
        atof(text_of("SELECT prune_p FROM trial_reports WHERE trial_id = ? AND step = 5", bad));
    ck_assert_msg(p < 0.05, "p %g", p);
    ck_assert_str_eq(text_of("SELECT prune_reason FROM trials WHERE id = ?", good), "");
    p = atof(text_of("SELECT prune_p FROM trial_reports WHERE trial_id = ? AND step = 5", good));
    ck_assert_msg(p > 0.5, "p %g", p);
    /* before the fifth point, nothing is judged */
    ck_assert_str_eq(
        text_of("SELECT prune_p FROM trial_reports WHERE trial_id = ? AND step = 4", good), "");
    /* at the last step learned from the completed trials: nothing to extrapolate */
    ck_assert(!decide(s, good, 10, 5.0));
    ck_assert_str_eq(
        text_of("SELECT prune_p FROM trial_reports WHERE trial_id = ? AND step = 10", good), "");
    db_down();
}
END_TEST

/* What the samplers learn of pruned trials: their rank at their last step
 * among the trials that reached it, carried to the completed final values. */
START_TEST(hook_pruned_estimates)
{
    db_up();
    long long s = add_study("mf", "{\"name\": \"median\"}", 1);
    for (int k = 0; k < 3; k++) {
        double v[10];
        for (int i = 0; i < 10; i++)
            v[i] = i < 4 ? 0.5 + 0.1 * k : 0.1 + 0.1 * k; /* 0.5, 0.6, 0.7 at step 4 */
        curve(add_trial(s, "completed"), v, 10);
    }
    complete_all(s); /* finals 0.1, 0.2, 0.3, ten steps */
    long long a = add_trial(s, "pruned"), b = add_trial(s, "pruned");
    curve(a, (double[]){0.9, 0.8, 0.6, 0.45}, 4);
    curve(b, (double[]){0.9, 0.8, 0.7, 0.75}, 4);
    exec("UPDATE trials SET value = last_value WHERE state = 'pruned'");
    curve(add_trial(s, "pending"), (double[]){0.01}, 1); /* not started: not counted */
    char err[256];
    json_t *in = J("{\"name\": \"mf\", \"objective\": {\"name\": \"loss\", \"direction\": "
                   "\"minimize\"}, \"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": 0, "
                   "\"high\": 1}]}");
    struct spec *sp = spec_parse(in, err, sizeof err);
    ck_assert_msg(sp != NULL, "%s", err);
    struct study st = {.id = s, .direction = 1, .spec = sp};
    struct sampler_ctx ctx;
    ck_assert_int_eq(history_load(db, &st, &ctx), 0);
    ck_assert_int_eq(ctx.n_history, 5);
    ck_assert(ctx.mf != NULL);
    /* a: 0.45 is the best of the 5 values at step 4: quantile 0.5 / 5 = 0.1,
     * 0.2 of the way from the best final 0.1 to the next (0.2): 0.12 */
    /* b: 0.75 is the worst: quantile 4.5 / 5 = 0.9, 1.8 of the way: 0.28 */
    for (size_t i = 0; i < ctx.n_history; i++) {
        const struct obs_mf *m = &ctx.mf[i];
        if (ctx.history[i].state == OBS_COMPLETED) {
            ck_assert(m->fidelity == 0);
            continue;
        }
        ck_assert_msg(fabs(m->fidelity - 0.4) < 1e-12, "fidelity %g", m->fidelity);
        double want = ctx.history[i].value == 0.45 ? 0.12 : 0.28;
        ck_assert_msg(fabs(m->value_final - want) < 1e-9, "value %g: estimate %g, want %g",
                      ctx.history[i].value, m->value_final, want);
    }
    history_free(&ctx);
    /* maximize: the same values rank the other way round */
    st.direction = -1;
    exec("UPDATE studies SET direction = -1");
    ck_assert_int_eq(history_load(db, &st, &ctx), 0);
    for (size_t i = 0; i < ctx.n_history; i++)
        if (ctx.history[i].state == OBS_PRUNED) {
            /* oriented: finals -0.3 (best), -0.2, -0.1; 0.75 is now the best at step 4 */
            double want = ctx.history[i].value == -0.75 ? -0.28 : -0.12;
            ck_assert_msg(fabs(ctx.mf[i].value_final - want) < 1e-9, "value %g: estimate %g",
                          ctx.history[i].value, ctx.mf[i].value_final);
        }
    history_free(&ctx);
    spec_free(sp);
    json_decref(in);
    db_down();
}
END_TEST

static long long number_of(long long trial)
{
    return atoll(text_of("SELECT number FROM trials WHERE id = ?", trial));
}

/* A running trial of study s in hyperband bracket b of nb. */
static long long trial_in_bracket(long long s, const struct pruner_opts *o, long nb, long b)
{
    for (;;) {
        long long t = add_trial(s, "running");
        if (pruner_hyperband_bracket(o, nb, number_of(t)) == b)
            return t;
        exec("DELETE FROM trials WHERE id = (SELECT max(id) FROM trials)");
    }
}

START_TEST(hook_hyperband)
{
    db_up();
    const char *spec = "{\"name\": \"hyperband\", \"reduction_factor\": 2, \"max_resource\": 8}";
    long long s = add_study("hb", spec, 1);
    struct pruner_opts o = opts(spec);
    long nb = pruner_hyperband_brackets(&o, 8);
    ck_assert_int_eq(nb, 4); /* first rungs at 1, 2, 4, 8 */
    long long a = trial_in_bracket(s, &o, nb, 0);
    ck_assert(!decide(s, a, 1, 0.5)); /* alone in bracket 0 */
    long long c = trial_in_bracket(s, &o, nb, 1);
    ck_assert(!decide(s, c, 1, 0.01)); /* bracket 1 has no rung at 1 */
    /* bracket 0 at step 1: 0.5 and 0.45; the 0.01 of bracket 1 is not counted */
    long long b = trial_in_bracket(s, &o, nb, 0);
    ck_assert(!decide(s, b, 1, 0.45));
    long long e = trial_in_bracket(s, &o, nb, 0);
    ck_assert(decide(s, e, 1, 0.7)); /* 3 values, keep 1 */
    const char *why = text_of("SELECT prune_reason FROM trials WHERE id = ?", e);
    ck_assert_msg(strncmp(why, "hyperband pruner at step 1: bracket 0: 0.7 at rung 0", 52) == 0,
                  "%s", why);
    /* c reaches its first rung at 2, alone in its bracket */
    ck_assert(!decide(s, c, 2, 0.9));
    /* with no max_resource and nothing completed there are no brackets yet */
    long long u = add_study("hb2", "{\"name\": \"hyperband\"}", 1);
    ck_assert(!decide(u, add_trial(u, "running"), 1, 0.5));
    ck_assert(!decide(u, add_trial(u, "running"), 1, 1e9));
    db_down();
}
END_TEST

START_TEST(hook_asha_waits_for_length)
{
    db_up();
    long long s = add_study("aw", "{\"name\": \"asha\"}", 1);
    /* nothing completed: the trial length is unknown, nothing is judged */
    ck_assert(!decide(s, add_trial(s, "running"), 1, 0.1));
    ck_assert(!decide(s, add_trial(s, "running"), 1, 0.9));
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = 0.5;
    curve(add_trial(s, "completed"), v, 100);
    complete_all(s);
    /* 100 steps, rf 4: the first rung is at step 6 */
    long long t = add_trial(s, "running");
    for (int i = 1; i <= 5; i++)
        ck_assert(!decide(s, t, i, 0.95));
    ck_assert(decide(s, t, 6, 0.95));
    ck_assert_msg(
        strstr(text_of("SELECT prune_reason FROM trials WHERE id = ?", t), "rung 0 (step 6)"), "%s",
        text_of("SELECT prune_reason FROM trials WHERE id = ?", t));
    db_down();
}
END_TEST

/* A decision to stop that the database cannot store is not answered: while
 * another connection holds the write lock, the trial goes on unmarked; once
 * the lock is free, the next report is judged and marked. */
START_TEST(hook_mark_not_stored)
{
    db_up();
    long long s = add_study("busy", "{\"name\": \"median\", \"n_startup_trials\": 1}", 1);
    curve(add_trial(s, "completed"), (double[]){0.5, 0.4}, 2);
    long long t = add_trial(s, "running");
    report(t, 1, 0.9);
    sqlite3 *other;
    ck_assert_int_eq(sqlite3_open(sqlite3_db_filename(db_handle(db), "main"), &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    db_set_patience(db, 0);
    ck_assert(!pruner_hook_decide(db, s, t, 1, 0.9));
    db_set_patience(db, -1);
    ck_assert_int_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    ck_assert(!pruner_hook_should_stop(db, t));
    ck_assert_str_eq(text_of("SELECT prune_reason FROM trials WHERE id = ?", t), "");
    ck_assert(decide(s, t, 2, 0.9));
    ck_assert(pruner_hook_should_stop(db, t));
    ck_assert_ptr_nonnull(strstr(text_of("SELECT prune_reason FROM trials WHERE id = ?", t),
                                 "median pruner at step 2"));
    db_down();
}
END_TEST

static Suite *pruners_suite(void)
{
    Suite *su = suite_create("pruners");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, options_defaults);
    tcase_add_test(tc, options_rejected);
    tcase_add_test(tc, median_of_values);
    tcase_add_test(tc, median_basic);
    tcase_add_test(tc, median_ties);
    tcase_add_test(tc, median_warmup_interval_min_trials);
    tcase_add_test(tc, asha_rungs);
    tcase_add_test(tc, asha_promotion);
    tcase_add_test(tc, patience_keras);
    tcase_add_test(tc, patience_threshold_warmup);
    tcase_add_test(tc, curvefit_families_recovered);
    tcase_add_test(tc, curvefit_ensemble);
    tcase_add_test(tc, curvefit_degenerate);
    tcase_add_test(tc, curve_reference);
    tcase_add_test(tc, curve_decisions);
    tcase_add_test(tc, curve_cross_trial_line);
    tcase_add_test(tc, curve_decisions_cross_trial);
    tcase_add_test(tc, curve_cross_trial_parabola);
    tcase_add_test(tc, curve_slow_starter_behind);
    tcase_add_test(tc, curve_own_sd_scaled);
    tcase_add_test(tc, asha_default_first_rung);
    tcase_add_test(tc, hyperband_brackets);
    suite_add_tcase(su, tc);
    TCase *th = tcase_create("hook");
    tcase_set_timeout(th, 120);
    tcase_add_test(th, hook_median);
    tcase_add_test(th, hook_median_missing_and_late);
    tcase_add_test(th, hook_maximize);
    tcase_add_test(th, hook_asha);
    tcase_add_test(th, hook_patience_and_none);
    tcase_add_test(th, hook_many_trials);
    tcase_add_test(th, hook_pairs_after_step);
    tcase_add_test(th, hook_curve);
    tcase_add_test(th, hook_hyperband);
    tcase_add_test(th, hook_asha_waits_for_length);
    tcase_add_test(th, hook_pruned_estimates);
    tcase_add_test(th, hook_mark_not_stored);
    suite_add_tcase(su, th);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(pruners_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
