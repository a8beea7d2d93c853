#include <config.h>
#include "pruner_hook.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pruner.h"

#define MAX_RUNGS 64

/* A growable array of doubles. */
struct dvec {
    double *v;  /* owned values */
    size_t n;   /* used */
    size_t cap; /* allocated */
};

static int dvec_push(struct dvec *d, double x)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        double *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return -1;
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = x;
    return 0;
}

static double col_value(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

/* The study's pruner options and direction; kind PRUNER_NONE when it has none. */
static int load_opts(struct db *db, long long study_id, struct pruner_opts *o, bool *maximize)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT json_extract(spec, '$.pruner'), direction FROM "
                                  "studies WHERE id = ?");
    pruner_opts_parse(NULL, o, NULL, 0);
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    int rc = -1;
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(q, 0);
        *maximize = sqlite3_column_int(q, 1) < 0;
        json_t *obj = text ? json_loads(text, 0, NULL) : NULL;
        char err[256];
        if (obj && pruner_opts_parse(obj, o, err, sizeof err) < 0) {
            log_warn("study %lld: pruner ignored: %s", study_id, err);
            pruner_opts_parse(NULL, o, NULL, 0);
        }
        json_decref(obj);
        rc = 0;
    }
    sqlite3_reset(q);
    return rc;
}

/* The trial's reports by step; *curve is a new allocation. */
static int load_curve(struct db *db, long long trial_id, struct pruner_point **curve, size_t *n)
{
    sqlite3_stmt *q =
        db_stmt(db, "SELECT step, value FROM trial_reports WHERE trial_id = ? ORDER BY step");
    *curve = NULL;
    *n = 0;
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, trial_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            struct pruner_point *p = realloc(*curve, cap * sizeof *p);
            if (!p) {
                rc = SQLITE_NOMEM;
                break;
            }
            *curve = p;
        }
        (*curve)[*n].step = sqlite3_column_int64(q, 0);
        (*curve)[(*n)++].value = col_value(q, 1);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        free(*curve);
        *curve = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

static long count_completed(struct db *db, long long study_id)
{
    sqlite3_stmt *q =
        db_stmt(db, "SELECT count(*) FROM trials WHERE study_id = ? AND state = 'completed'");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    long n = sqlite3_step(q) == SQLITE_ROW ? (long)sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    return n;
}

/* The study's best completed value, NAN when none. */
static double best_completed(struct db *db, long long study_id, bool maximize)
{
    sqlite3_stmt *q = maximize ? db_stmt(db, "SELECT max(value) FROM trials WHERE study_id = ? AND "
                                             "state = 'completed'")
                               : db_stmt(db, "SELECT min(value) FROM trials WHERE study_id = ? AND "
                                             "state = 'completed'");
    if (!q)
        return NAN;
    sqlite3_bind_int64(q, 1, study_id);
    double v = sqlite3_step(q) == SQLITE_ROW ? col_value(q, 0) : NAN;
    sqlite3_reset(q);
    return v;
}

/* Append the first column of every row of q (bound and ready) to out. */
static int collect(sqlite3_stmt *q, struct dvec *out)
{
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if (dvec_push(out, col_value(q, 0)) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The median pruner's comparison values at step: see pruner_hook.h. */
static int median_others(struct db *db, long long study_id, long long trial_id, long long step,
                         struct dvec *out)
{
    sqlite3_stmt *q = db_stmt(
        db, "SELECT (SELECT r.value FROM trial_reports r WHERE r.trial_id = t.id AND "
            "r.step <= ?2 ORDER BY r.step DESC LIMIT 1) FROM trials t WHERE t.study_id = ?1 "
            "AND (t.last_step >= ?2 AND t.state IN ('completed', 'running') OR "
            "t.last_step < ?2 AND t.state = 'completed') AND t.id <> ?3");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, step);
    sqlite3_bind_int64(q, 3, trial_id);
    return collect(q, out);
}

/* Hyperband: the bracket a judged trial is compared within. */
struct bracket_filter {
    const struct pruner_opts *o; /* hyperband options */
    long brackets;               /* number of brackets */
    long bracket;                /* the judged trial's */
};

/* The values other trials had when they crossed the rung at step; with hb
 * (hyperband), only those of the judged trial's bracket. */
static int rung_others(struct db *db, long long study_id, long long trial_id, long long step,
                       const struct bracket_filter *hb, struct dvec *out)
{
    sqlite3_stmt *q =
        db_stmt(db, "SELECT (SELECT r.value FROM trial_reports r WHERE r.trial_id = t.id AND "
                    "r.step >= ?2 ORDER BY r.step LIMIT 1), t.number FROM trials t WHERE "
                    "t.study_id = ?1 AND t.last_step >= ?2 AND t.id <> ?3");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, step);
    sqlite3_bind_int64(q, 3, trial_id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (hb && pruner_hyperband_bracket(hb->o, hb->brackets, sqlite3_column_int64(q, 1)) !=
                      hb->bracket)
            continue;
        if (dvec_push(out, col_value(q, 0)) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The completed trials' final values, and the longest one's last step. */
static int completed_finals(struct db *db, long long study_id, struct dvec *out,
                            long long *max_step)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT value, last_step FROM trials WHERE study_id = ? AND "
                                  "state = 'completed'");
    *max_step = 0;
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (sqlite3_column_int64(q, 1) > *max_step)
            *max_step = sqlite3_column_int64(q, 1);
        if (dvec_push(out, col_value(q, 0)) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The longest completed trial's last step, 0 when none. */
static long long learned_max_step(struct db *db, long long study_id)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT max(last_step) FROM trials WHERE study_id = ? AND "
                                  "state = 'completed'");
    if (!q)
        return 0;
    sqlite3_bind_int64(q, 1, study_id);
    long long m = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return m;
}

static long long trial_number(struct db *db, long long trial_id)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT number FROM trials WHERE id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, trial_id);
    long long m = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    return m;
}

static bool decide_median(struct db *db, const struct pruner_opts *o, bool maximize,
                          long long study_id, long long trial_id, const struct pruner_point *curve,
                          size_t n, char *why, size_t whylen)
{
    long done = count_completed(db, study_id);
    if (done < 0 || !pruner_median_due(o, curve, n, done))
        return false;
    long long at = curve[n - 1].step;
    struct dvec others = {NULL, 0, 0};
    bool prune = false;
    if (median_others(db, study_id, trial_id, at, &others) == 0) {
        double *copy = malloc((others.n + 1) * sizeof *copy);
        if (copy) {
            memcpy(copy, others.v, others.n * sizeof *copy);
            prune = pruner_median_decide(o, maximize, curve, n, done, others.v, others.n);
            if (prune)
                snprintf(why, whylen,
                         "best %g is worse than the median %g of %zu trials at "
                         "step %lld",
                         pruner_best(curve, n, maximize), pruner_median_of(copy, others.n),
                         others.n, at);
            free(copy);
        }
    } else {
        log_warn("pruner: %s", db_errmsg(db));
    }
    free(others.v);
    return prune;
}

static bool decide_asha(struct db *db, const struct pruner_opts *o, bool maximize,
                        long long study_id, long long trial_id, const struct pruner_point *curve,
                        size_t n, long long step, double value, const struct bracket_filter *hb,
                        char *why, size_t whylen)
{
    long rungs[MAX_RUNGS];
    size_t nr = pruner_asha_rungs(o, curve, n, step, rungs, MAX_RUNGS);
    bool prune = false;
    struct dvec others = {NULL, 0, 0};
    for (size_t i = 0; i < nr && !prune; i++) {
        long long at = pruner_asha_rung_step(o, rungs[i]);
        others.n = 0;
        if (rung_others(db, study_id, trial_id, at, hb, &others) < 0) {
            log_warn("pruner: %s", db_errmsg(db));
            break;
        }
        if (!pruner_asha_promotable(o->reduction_factor, maximize, value, others.v, others.n)) {
            prune = true;
            int len = hb ? snprintf(why, whylen, "bracket %ld: ", hb->bracket) : 0;
            snprintf(why + len, whylen - (size_t)len,
                     "%g at rung %ld (step %lld) is not in the top 1/%ld of the %zu "
                     "trials that reached it",
                     value, rungs[i], at, o->reduction_factor, others.n + 1);
        }
    }
    free(others.v);
    return prune;
}

bool pruner_hook_decide(struct db *db, long long study_id, long long trial_id, long long step,
                        double value)
{
    if (pruner_hook_should_stop(db, trial_id))
        return true;
    struct pruner_opts o;
    bool maximize = false;
    if (load_opts(db, study_id, &o, &maximize) < 0 || o.kind == PRUNER_NONE)
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
    struct pruner_verdict verdict = {false, NAN, NAN, ""};
    switch (o.kind) {
    case PRUNER_MEDIAN:
        prune = decide_median(db, &o, maximize, study_id, trial_id, curve, n, why, sizeof why);
        break;
    case PRUNER_ASHA: {
        name = "asha";
        struct pruner_opts a = o;
        a.min_resource =
            pruner_asha_min_resource(&o, pruner_max_resource(&o, learned_max_step(db, study_id)));
        if (a.min_resource > 0)
            prune = decide_asha(db, &a, maximize, study_id, trial_id, curve, n, step, value, NULL,
                                why, sizeof why);
        break;
    }
    case PRUNER_HYPERBAND: {
        name = "hyperband";
        long nb =
            pruner_hyperband_brackets(&o, pruner_max_resource(&o, learned_max_step(db, study_id)));
        long long number = trial_number(db, trial_id);
        if (nb <= 0 || number < 0)
            break;
        struct bracket_filter hb = {&o, nb, pruner_hyperband_bracket(&o, nb, number)};
        struct pruner_opts a = pruner_hyperband_asha(&o, hb.bracket);
        prune = decide_asha(db, &a, maximize, study_id, trial_id, curve, n, step, value, &hb, why,
                            sizeof why);
        break;
    }
    case PRUNER_CURVE: {
        name = "curve";
        struct dvec finals = {NULL, 0, 0};
        long long learned = 0;
        if (completed_finals(db, study_id, &finals, &learned) == 0)
            prune = pruner_curve_decide(&o, maximize, curve, n, finals.v, finals.n,
                                        pruner_max_resource(&o, learned), &verdict);
        else
            log_warn("pruner: %s", db_errmsg(db));
        free(finals.v);
        snprintf(why, sizeof why, "%s", verdict.reason);
        if (!isnan(verdict.p)) {
            sqlite3_stmt *r =
                db_stmt(db, "UPDATE trial_reports SET prune_p = ? WHERE trial_id = ? AND step = ?");
            if (r) {
                sqlite3_bind_double(r, 1, verdict.p);
                sqlite3_bind_int64(r, 2, trial_id);
                sqlite3_bind_int64(r, 3, curve[n - 1].step);
                sqlite3_step(r);
                sqlite3_reset(r);
            }
        }
        break;
    }
    case PRUNER_PATIENCE:
        name = "patience";
        prune =
            pruner_patience_decide(&o, maximize, curve, n, best_completed(db, study_id, maximize));
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
    sqlite3_stmt *u = db_stmt(db, "UPDATE trials SET prune_step = ?, prune_reason = ? WHERE id = ? "
                                  "RETURNING number");
    long long number = -1;
    if (u) {
        char reason[300];
        snprintf(reason, sizeof reason, "%s pruner at step %lld: %s", name, at, why);
        sqlite3_bind_int64(u, 1, at);
        sqlite3_bind_text(u, 2, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(u, 3, trial_id);
        if (sqlite3_step(u) == SQLITE_ROW)
            number = sqlite3_column_int64(u, 0);
        sqlite3_reset(u);
    }
    log_info("trial %lld (#%lld) pruned by the %s pruner at step %lld: %s", trial_id, number, name,
             at, why);
    return true;
}

bool pruner_hook_should_stop(struct db *db, long long trial_id)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT prune_step FROM trials WHERE id = ?");
    if (!q)
        return false;
    sqlite3_bind_int64(q, 1, trial_id);
    bool stop = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL;
    sqlite3_reset(q);
    return stop;
}
