#include <config.h>
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "timeutil.h"

/* Upsert the report and move the trial's last step forward. */
static int report_write(struct db *db, long long id, long long step, double value,
                        const char *vtext)
{
    sqlite3_stmt *q = db_stmt(db, "INSERT INTO trial_reports (trial_id, step, value, values_json, "
                                  "at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (trial_id, step) DO "
                                  "UPDATE SET value = excluded.value, values_json = "
                                  "excluded.values_json, at = excluded.at");
    sqlite3_stmt *u = db_stmt(db, "UPDATE trials SET last_step = ?2, last_value = ?3 WHERE id = ?1 "
                                  "AND (last_step IS NULL OR last_step <= ?2)");
    if (!q || !u)
        return -1;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, step);
    if (isfinite(value))
        sqlite3_bind_double(q, 3, value);
    if (vtext)
        sqlite3_bind_text(q, 4, vtext, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, time_now_ms());
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return -1;
    sqlite3_bind_int64(u, 1, id);
    sqlite3_bind_int64(u, 2, step);
    if (isfinite(value))
        sqlite3_bind_double(u, 3, value);
    rc = sqlite3_step(u);
    sqlite3_reset(u);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int extend_lease(struct db *db, long long id, const struct lease_row *lr)
{
    struct spec_entry *sp = spec_ref(db, lr->study_id, lr->created);
    if (!sp)
        return -1;
    int64_t ms = lease_ms(spec_of(sp));
    spec_unref(sp);
    sqlite3_stmt *q = db_stmt(db, "UPDATE trials SET lease_expires_at = ? WHERE id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, time_now_ms() + ms);
    sqlite3_bind_int64(q, 2, id);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

struct report_tx {
    const struct report_in *in; /* the report */
    const char *values;         /* in->values as text, or NULL */
    bool judged;                /* the trial was stopped by the pruner already */
    bool finite;                /* the watched value is a finite number */
    double value;               /* that value */
    long long study_id;         /* the trial's study */
    struct serr *e;             /* the error */
};

static int report_body(struct db *db, void *arg)
{
    struct report_tx *c = arg;
    const struct report_in *in = c->in;
    c->judged = c->finite = false;
    struct lease_row lr;
    if (lease_row_load(db, in->trial_id, &lr, c->e) < 0)
        return -1;
    if (lifecycle_lease_check(lr.state, lr.worker, in->worker) != LEASE_HELD)
        return lease_conflict(c->e, in->trial_id, &lr, in->worker);
    if (!lifecycle_token_may(lr.token, in->who.token, in->who.admin))
        return lease_token_conflict(c->e, in->trial_id);
    double value = in->value;
    struct spec_entry *ref = spec_ref(db, lr.study_id, lr.created);
    const struct spec *sp = spec_of(ref);
    if (sp && spec_multi(sp)) {
        /* the value of the objective the pruner watches: by name, or "value"
         * when that is the first objective */
        const struct spec_objective *o = &sp->objectives[sp->pruner_objective];
        json_t *v = json_object_get(in->values, o->name);
        double x = json_is_number(v) ? json_number_value(v) : NAN;
        value = isfinite(x) ? x : sp->pruner_objective == 0 ? in->value : NAN;
    }
    spec_unref(ref);
    if (report_write(db, in->trial_id, in->step, value, c->values) < 0 ||
        extend_lease(db, in->trial_id, &lr) < 0)
        return serr_db(c->e, db, "report");
    c->judged = lr.judged;
    c->finite = isfinite(value);
    c->value = value;
    c->study_id = lr.study_id;
    return 0;
}

int store_report(struct db *db, const struct report_in *r, store_prune_fn prune,
                 enum trial_action *action, struct serr *e)
{
    *action = ACTION_CONTINUE;
    char *vtext = r->values ? json_dumps(r->values, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    struct report_tx c = {r, vtext, false, false, NAN, 0, e};
    int rc = store_run(db, report_body, &c, e, "report");
    free(vtext);
    if (rc < 0)
        return -1;
    /* The pruner judges after the commit: its reads see the report, and its
     * work (the curve pruner fits curves for milliseconds) does not hold the
     * write lock that every other request of the daemon waits for. */
    bool pruned_now = false;
    if (!c.judged && c.finite && prune)
        pruned_now = prune(db, c.study_id, r->trial_id, r->step, c.value);
    /* a decision sticks: once judged, every later report answers prune */
    *action = lifecycle_report_action(c.judged && c.finite, pruned_now);
    return 0;
}

struct reports_add_tx {
    long long id;           /* the trial */
    const long long *steps; /* steps */
    const double *values;   /* values, NAN for none */
    size_t n;               /* how many */
    struct serr *e;         /* the error */
};

static int reports_add_body(struct db *db, void *arg)
{
    struct reports_add_tx *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (report_write(db, c->id, c->steps[i], c->values[i], NULL) < 0)
            return serr_db(c->e, db, "report");
    return 0;
}

int store_reports_add(struct db *db, long long trial_id, const long long *steps,
                      const double *values, size_t n, struct serr *e)
{
    struct reports_add_tx c = {trial_id, steps, values, n, e};
    return store_run(db, reports_add_body, &c, e, "report");
}

/* --- what the pruner reads --- */

int store_prune_opts(struct db *db, long long study_id, json_t **pruner, size_t *objective,
                     bool *maximize)
{
    *pruner = NULL;
    *objective = 0;
    *maximize = false;
    sqlite3_stmt *q = db_stmt(db, "SELECT json_extract(spec, '$.pruner'), direction, created_at "
                                  "FROM studies WHERE id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    int rc = -1;
    long long created = 0;
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(q, 0);
        *maximize = sqlite3_column_int(q, 1) < 0;
        *pruner = text ? json_loads(text, 0, NULL) : NULL;
        created = sqlite3_column_int64(q, 2);
        rc = 0;
    }
    sqlite3_reset(q);
    struct spec_entry *ref = rc == 0 ? spec_ref(db, study_id, created) : NULL;
    const struct spec *sp = spec_of(ref);
    if (sp) {
        *objective = sp->pruner_objective;
        *maximize = sp->objectives[sp->pruner_objective].maximize;
    }
    spec_unref(ref);
    return rc;
}

/* The JSON path of objective k in a trial's objs, "$[k]". */
static void objective_path(size_t k, char *path, size_t n)
{
    snprintf(path, n, "$[%zu]", k);
}

int store_prune_curve(struct db *db, long long trial_id, long long **steps, double **values,
                      size_t *n)
{
    *steps = NULL;
    *values = NULL;
    *n = 0;
    sqlite3_stmt *q =
        db_stmt(db, "SELECT step, value FROM trial_reports WHERE trial_id = ? ORDER BY step");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, trial_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            long long *s = realloc(*steps, cap * sizeof *s);
            if (s)
                *steps = s;
            double *v = realloc(*values, cap * sizeof *v);
            if (v)
                *values = v;
            if (!s || !v) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        (*steps)[*n] = sqlite3_column_int64(q, 0);
        (*values)[(*n)++] = col_double(q, 1);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        free(*steps);
        free(*values);
        *steps = NULL;
        *values = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

int store_prune_completed(struct db *db, long long study_id, long *n)
{
    *n = 0;
    sqlite3_stmt *q =
        db_stmt(db, "SELECT count(*) FROM trials WHERE study_id = ? AND state = 'completed'");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *n = (long)sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_prune_best(struct db *db, long long study_id, size_t objective, bool maximize,
                     double *best)
{
    *best = NAN;
    sqlite3_stmt *q =
        maximize ? db_stmt(db, "SELECT max(iif(?2 IS NULL, value, json_extract(objs, ?2))) FROM "
                               "trials WHERE study_id = ?1 AND state = 'completed'")
                 : db_stmt(db, "SELECT min(iif(?2 IS NULL, value, json_extract(objs, ?2))) FROM "
                               "trials WHERE study_id = ?1 AND state = 'completed'");
    if (!q)
        return -1;
    char path[32];
    objective_path(objective, path, sizeof path);
    sqlite3_bind_int64(q, 1, study_id);
    if (objective > 0)
        sqlite3_bind_text(q, 2, path, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *best = col_double(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* The first cols columns of every row of q (bound and ready) as a new array,
 * row after row; *n counts rows. */
static int collect_cols(sqlite3_stmt *q, int cols, double **values, size_t *n)
{
    *values = NULL;
    *n = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            double *v = realloc(*values, cap * (size_t)cols * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            *values = v;
        }
        for (int c = 0; c < cols; c++)
            (*values)[*n * (size_t)cols + (size_t)c] = col_double(q, c);
        (*n)++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        free(*values);
        *values = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

/* The first column of every row of q (bound and ready) as a new array. */
static int collect(sqlite3_stmt *q, double **values, size_t *n)
{
    return collect_cols(q, 1, values, n);
}

int store_prune_median_others(struct db *db, long long study_id, long long trial_id, long long step,
                              double **values, size_t *n)
{
    sqlite3_stmt *q = db_stmt(
        db, "SELECT (SELECT r.value FROM trial_reports r WHERE r.trial_id = t.id AND "
            "r.step <= ?2 ORDER BY r.step DESC LIMIT 1) FROM trials t WHERE t.study_id = ?1 "
            "AND (t.last_step >= ?2 AND t.state IN ('completed', 'running') OR "
            "t.last_step < ?2 AND t.state = 'completed') AND t.id <> ?3");
    if (!q) {
        *values = NULL;
        *n = 0;
        return -1;
    }
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, step);
    sqlite3_bind_int64(q, 3, trial_id);
    return collect(q, values, n);
}

int store_prune_rung_others(struct db *db, long long study_id, long long trial_id, long long step,
                            double **values, long long **numbers, size_t *n)
{
    *values = NULL;
    *n = 0;
    if (numbers)
        *numbers = NULL;
    sqlite3_stmt *q =
        db_stmt(db, "SELECT (SELECT r.value FROM trial_reports r WHERE r.trial_id = t.id AND "
                    "r.step >= ?2 ORDER BY r.step LIMIT 1), t.number FROM trials t WHERE "
                    "t.study_id = ?1 AND t.last_step >= ?2 AND t.id <> ?3");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, step);
    sqlite3_bind_int64(q, 3, trial_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            double *v = realloc(*values, cap * sizeof *v);
            if (v)
                *values = v;
            long long *w = numbers ? realloc(*numbers, cap * sizeof *w) : NULL;
            if (w)
                *numbers = w;
            if (!v || (numbers && !w)) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        (*values)[*n] = col_double(q, 0);
        if (numbers)
            (*numbers)[*n] = sqlite3_column_int64(q, 1);
        (*n)++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        free(*values);
        *values = NULL;
        if (numbers) {
            free(*numbers);
            *numbers = NULL;
        }
        *n = 0;
        return -1;
    }
    return 0;
}

int store_prune_finals(struct db *db, long long study_id, size_t objective, double **values,
                       size_t *n, long long *max_step)
{
    *max_step = 0;
    sqlite3_stmt *m = db_stmt(db, "SELECT max(last_step) FROM trials WHERE study_id = ? AND "
                                  "state = 'completed'");
    if (!m) {
        *values = NULL;
        *n = 0;
        return -1;
    }
    sqlite3_bind_int64(m, 1, study_id);
    int rc = sqlite3_step(m);
    if (rc == SQLITE_ROW)
        *max_step = sqlite3_column_int64(m, 0);
    sqlite3_reset(m);
    if (!values)
        return rc == SQLITE_ROW ? 0 : -1;
    sqlite3_stmt *q = db_stmt(db, "SELECT iif(?2 IS NULL, value, json_extract(objs, ?2)) FROM "
                                  "trials WHERE study_id = ?1 AND state = 'completed'");
    if (rc != SQLITE_ROW || !q) {
        *values = NULL;
        *n = 0;
        return -1;
    }
    char path[32];
    objective_path(objective, path, sizeof path);
    sqlite3_bind_int64(q, 1, study_id);
    if (objective > 0)
        sqlite3_bind_text(q, 2, path, -1, SQLITE_TRANSIENT);
    return collect(q, values, n);
}

int store_prune_pairs(struct db *db, long long study_id, size_t objective, long long step,
                      double **pairs, size_t *n)
{
    sqlite3_stmt *q =
        db_stmt(db, "SELECT (SELECT r.value FROM trial_reports r WHERE r.trial_id = t.id AND "
                    "r.step <= ?2 ORDER BY r.step DESC LIMIT 1), iif(?3 IS NULL, t.value, "
                    "json_extract(t.objs, ?3)) FROM trials t WHERE t.study_id = ?1 AND "
                    "t.state = 'completed' AND t.last_step > ?2 ORDER BY t.id DESC LIMIT ?4");
    if (!q) {
        *pairs = NULL;
        *n = 0;
        return -1;
    }
    char path[32];
    objective_path(objective, path, sizeof path);
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, step);
    if (objective > 0)
        sqlite3_bind_text(q, 3, path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 4, STORE_PRUNE_MAX_PAIRS);
    return collect_cols(q, 2, pairs, n);
}

int store_prune_name(struct db *db, long long trial_id, char *name, size_t len)
{
    name[0] = '\0';
    sqlite3_stmt *q = db_stmt(db, "SELECT s.id, s.created_at FROM trials t JOIN studies s ON s.id "
                                  "= t.study_id WHERE t.id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, trial_id);
    int rc = sqlite3_step(q);
    long long study_id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    long long created = rc == SQLITE_ROW ? sqlite3_column_int64(q, 1) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : -1;
    /* the parsed spec from the cache: no JSON is read on a report's way */
    struct spec_entry *e = spec_ref(db, study_id, created);
    const struct spec *sp = spec_of(e);
    if (sp && sp->pruner)
        snprintf(name, len, "%s", sp->pruner);
    spec_unref(e);
    return e ? 0 : -1;
}

int store_prune_number(struct db *db, long long trial_id, long long *number)
{
    *number = -1;
    sqlite3_stmt *q = db_stmt(db, "SELECT number FROM trials WHERE id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, trial_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *number = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

struct prune_write {
    long long trial_id; /* the trial */
    long long step;     /* the report's step */
    double p;           /* set_p: the probability */
    const char *reason; /* mark: why, or NULL */
    long long number;   /* mark: the trial's number, -1 when not marked */
};

static int set_p_body(struct db *db, void *arg)
{
    struct prune_write *w = arg;
    sqlite3_stmt *r =
        db_stmt(db, "UPDATE trial_reports SET prune_p = ? WHERE trial_id = ? AND step = ?");
    if (!r)
        return -1;
    sqlite3_bind_double(r, 1, w->p);
    sqlite3_bind_int64(r, 2, w->trial_id);
    sqlite3_bind_int64(r, 3, w->step);
    int rc = sqlite3_step(r);
    sqlite3_reset(r);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_prune_set_p(struct db *db, long long trial_id, long long step, double p)
{
    struct prune_write w = {trial_id, step, p, NULL, -1};
    return db_run(db, set_p_body, &w);
}

static int mark_body(struct db *db, void *arg)
{
    struct prune_write *w = arg;
    w->number = -1;
    /* only a running trial not stopped yet: its lease may have run out, or a
     * report sent twice judged it, since the pruner read its curve */
    sqlite3_stmt *u = db_stmt(db, "UPDATE trials SET prune_step = ?, prune_reason = ? WHERE id = ? "
                                  "AND state = 'running' AND prune_step IS NULL RETURNING number");
    if (!u)
        return -1;
    sqlite3_bind_int64(u, 1, w->step);
    if (w->reason)
        sqlite3_bind_text(u, 2, w->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(u, 3, w->trial_id);
    int rc = sqlite3_step(u);
    if (rc == SQLITE_ROW) {
        w->number = sqlite3_column_int64(u, 0);
        rc = sqlite3_step(u);
    }
    sqlite3_reset(u);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_prune_mark(struct db *db, long long trial_id, long long step, const char *reason,
                     long long *number)
{
    struct prune_write w = {trial_id, step, NAN, reason, -1};
    int rc = db_run(db, mark_body, &w);
    *number = w.number;
    return rc;
}

int store_prune_judged(struct db *db, long long trial_id, bool *judged)
{
    *judged = false;
    sqlite3_stmt *q = db_stmt(db, "SELECT prune_step FROM trials WHERE id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, trial_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *judged = sqlite3_column_type(q, 0) != SQLITE_NULL;
        rc = SQLITE_DONE;
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}
