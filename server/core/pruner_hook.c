#include <config.h>
#include "pruner_hook.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pruner.h"
#include "store.h"

#define MAX_RUNGS 64

/* The study's pruner options, the objective it watches and its direction;
 * kind PRUNER_NONE when it has none. */
static int load_opts(struct db *db, long long study_id, struct pruner_opts *o, size_t *objective,
                     bool *maximize)
{
    pruner_opts_parse(NULL, o, NULL, 0);
    json_t *obj;
    if (store_prune_opts(db, study_id, &obj, objective, maximize) < 0)
        return -1;
    char err[256];
    if (obj && pruner_opts_parse(obj, o, err, sizeof err) < 0) {
        log_warn("study %lld: pruner ignored: %s", study_id, err);
        pruner_opts_parse(NULL, o, NULL, 0);
    }
    json_decref(obj);
    return 0;
}

/* The trial's reports by step; *curve is a new allocation. */
static int load_curve(struct db *db, long long trial_id, struct pruner_point **curve, size_t *n)
{
    long long *steps;
    double *values;
    *curve = NULL;
    if (store_prune_curve(db, trial_id, &steps, &values, n) < 0)
        return -1;
    int rc = 0;
    if (*n > 0) {
        *curve = malloc(*n * sizeof **curve);
        if (*curve) {
            for (size_t i = 0; i < *n; i++) {
                (*curve)[i].step = steps[i];
                (*curve)[i].value = values[i];
            }
        } else {
            *n = 0;
            rc = -1;
        }
    }
    free(steps);
    free(values);
    return rc;
}

static bool decide_median(struct db *db, const struct pruner_opts *o, bool maximize,
                          long long study_id, long long trial_id, const struct pruner_point *curve,
                          size_t n, char *why, size_t whylen)
{
    long done;
    if (store_prune_completed(db, study_id, &done) < 0 || !pruner_median_due(o, curve, n, done))
        return false;
    long long at = curve[n - 1].step;
    double *others;
    size_t n_others;
    bool prune = false;
    if (store_prune_median_others(db, study_id, trial_id, at, &others, &n_others) == 0) {
        double *copy = malloc((n_others + 1) * sizeof *copy);
        if (copy) {
            if (n_others > 0)
                memcpy(copy, others, n_others * sizeof *copy);
            prune = pruner_median_decide(o, maximize, curve, n, done, others, n_others);
            if (prune)
                snprintf(why, whylen,
                         "best %g is worse than the median %g of %zu trials at "
                         "step %lld",
                         pruner_best(curve, n, maximize), pruner_median_of(copy, n_others),
                         n_others, at);
            free(copy);
        }
        free(others);
    } else {
        log_warn("pruner: %s", db_errmsg(db));
    }
    return prune;
}

/* Hyperband: the bracket a judged trial is compared within. */
struct bracket_filter {
    const struct pruner_opts *o; /* hyperband options */
    long brackets;               /* number of brackets */
    long bracket;                /* the judged trial's */
};

/* Keep the entries of values whose trial number falls in hb's bracket. */
static size_t in_bracket(const struct bracket_filter *hb, double *values, const long long *numbers,
                         size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (pruner_hyperband_bracket(hb->o, hb->brackets, numbers[i]) == hb->bracket)
            values[k++] = values[i];
    return k;
}

static bool decide_asha(struct db *db, const struct pruner_opts *o, bool maximize,
                        long long study_id, long long trial_id, const struct pruner_point *curve,
                        size_t n, long long step, double value, const struct bracket_filter *hb,
                        char *why, size_t whylen)
{
    long rungs[MAX_RUNGS];
    size_t nr = pruner_asha_rungs(o, curve, n, step, rungs, MAX_RUNGS);
    bool prune = false;
    for (size_t i = 0; i < nr && !prune; i++) {
        long long at = pruner_asha_rung_step(o, rungs[i]);
        double *others;
        long long *numbers = NULL;
        size_t n_others;
        if (store_prune_rung_others(db, study_id, trial_id, at, &others, hb ? &numbers : NULL,
                                    &n_others) < 0) {
            log_warn("pruner: %s", db_errmsg(db));
            break;
        }
        if (hb)
            n_others = in_bracket(hb, others, numbers, n_others);
        if (!pruner_asha_promotable(o->reduction_factor, maximize, value, others, n_others)) {
            prune = true;
            int len = hb ? snprintf(why, whylen, "bracket %ld: ", hb->bracket) : 0;
            snprintf(why + len, whylen - (size_t)len,
                     "%g at rung %ld (step %lld) is not in the top 1/%ld of the %zu "
                     "trials that reached it",
                     value, rungs[i], at, o->reduction_factor, n_others + 1);
        }
        free(others);
        free(numbers);
    }
    return prune;
}

/* The study's trial length as asha, hyperband and curve use it: the option,
 * else the longest completed trial's last step. */
static long long max_resource(struct db *db, const struct pruner_opts *o, long long study_id)
{
    size_t n = 0;
    long long learned = 0;
    if (store_prune_finals(db, study_id, 0, NULL, &n, &learned) < 0)
        log_warn("pruner: %s", db_errmsg(db));
    return pruner_max_resource(o, learned);
}

bool pruner_hook_decide(struct db *db, long long study_id, long long trial_id, long long step,
                        double value)
{
    if (pruner_hook_should_stop(db, trial_id))
        return true;
    struct pruner_opts o;
    bool maximize = false;
    size_t objective = 0;
    if (load_opts(db, study_id, &o, &objective, &maximize) < 0 || o.kind == PRUNER_NONE)
        return false;
    struct pruner_point *curve;
    size_t n;
    if (load_curve(db, trial_id, &curve, &n) < 0) {
        log_warn("pruner: %s", db_errmsg(db));
        return false;
    }
    if (n == 0)
        return false;
    char why[256] = "";
    bool prune = false;
    const char *name = "median";
    switch (o.kind) {
    case PRUNER_MEDIAN:
        prune = decide_median(db, &o, maximize, study_id, trial_id, curve, n, why, sizeof why);
        break;
    case PRUNER_ASHA: {
        name = "asha";
        struct pruner_opts a = o;
        a.min_resource = pruner_asha_min_resource(&o, max_resource(db, &o, study_id));
        if (a.min_resource > 0)
            prune = decide_asha(db, &a, maximize, study_id, trial_id, curve, n, step, value, NULL,
                                why, sizeof why);
        break;
    }
    case PRUNER_HYPERBAND: {
        name = "hyperband";
        long nb = pruner_hyperband_brackets(&o, max_resource(db, &o, study_id));
        long long number;
        if (nb <= 0 || store_prune_number(db, trial_id, &number) < 0)
            break;
        struct bracket_filter hb = {&o, nb, pruner_hyperband_bracket(&o, nb, number)};
        struct pruner_opts a = pruner_hyperband_asha(&o, hb.bracket);
        prune = decide_asha(db, &a, maximize, study_id, trial_id, curve, n, step, value, &hb, why,
                            sizeof why);
        break;
    }
    case PRUNER_CURVE: {
        name = "curve";
        struct pruner_verdict verdict = {false, NAN, NAN, ""};
        double *finals = NULL;
        size_t nf = 0;
        long long learned = 0;
        struct pruner_pairs pairs = {NULL, 0};
        double *xy = NULL;
        if (store_prune_finals(db, study_id, objective, &finals, &nf, &learned) == 0 &&
            store_prune_pairs(db, study_id, objective, curve[n - 1].step, &xy, &pairs.n) == 0) {
            pairs.xy = xy;
            prune = pruner_curve_decide(&o, maximize, curve, n, finals, nf, &pairs,
                                        pruner_max_resource(&o, learned), &verdict);
        } else {
            log_warn("pruner: %s", db_errmsg(db));
        }
        free(finals);
        free(xy);
        snprintf(why, sizeof why, "%s", verdict.reason);
        if (!isnan(verdict.p) && store_prune_set_p(db, trial_id, curve[n - 1].step, verdict.p) < 0)
            log_warn("pruner: %s", db_errmsg(db));
        break;
    }
    case PRUNER_PATIENCE:
        name = "patience";
        double best;
        store_prune_best(db, study_id, objective, maximize, &best);
        prune = pruner_patience_decide(&o, maximize, curve, n, best);
        if (prune)
            snprintf(why, sizeof why, "%s",
                     o.has_threshold && !(maximize ? curve[n - 1].value >= o.threshold
                                                   : curve[n - 1].value <= o.threshold)
                         ? "worse than the threshold"
                         : "no improvement within the patience");
        break;
    case PRUNER_NONE:
        break;
    }
    long long at = curve[n - 1].step;
    free(curve);
    if (!prune)
        return false;
    long long number;
    char reason[300];
    snprintf(reason, sizeof reason, "%s pruner at step %lld: %s", name, at, why);
    if (store_prune_mark(db, trial_id, at, reason, &number) < 0) {
        /* a decision that is not stored is not taken: the worker would stop
         * a trial the study still counts as running, and its reason would be
         * lost. The trial goes on; its next report is judged again. */
        log_warn("pruner: trial %lld: the decision to stop it at step %lld was not stored, it "
                 "goes on: %s",
                 trial_id, at, db_errmsg(db));
        return false;
    }
    if (number < 0) {
        /* judged meanwhile by a report sent twice, or no longer running: the
         * decision already stored stands */
        return pruner_hook_should_stop(db, trial_id);
    }
    log_info("trial %lld (#%lld) pruned by the %s pruner at step %lld: %s", trial_id, number, name,
             at, why);
    return true;
}

bool pruner_hook_is_slow(struct db *db, long long trial_id)
{
    char name[32];
    return store_prune_name(db, trial_id, name, sizeof name) == 0 && strcmp(name, "curve") == 0;
}

bool pruner_hook_should_stop(struct db *db, long long trial_id)
{
    bool judged;
    return store_prune_judged(db, trial_id, &judged) == 0 && judged;
}
