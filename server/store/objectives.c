#include <config.h>
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Studies of several objectives keep their Pareto front in the trials'
 * pareto column, updated as each trial completes (front_add()), so that the
 * front, its size and the trials list's pareto filter are plain reads; and the
 * derived hypervolume reference point in the studies row, recorded once. */

char *objs_text(const double *objs, size_t m)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < m; i++)
        json_array_append_new(a, isfinite(objs[i]) ? json_real(objs[i]) : json_null());
    char *text = a ? json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(a);
    return text;
}

bool objs_parse(const char *text, double *objs, size_t m)
{
    for (size_t i = 0; i < m; i++)
        objs[i] = NAN;
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        return false;
    }
    for (size_t i = 0; i < m && i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        objs[i] = json_is_number(v) ? json_number_value(v) : NAN;
    }
    json_decref(a);
    return true;
}

static bool all_finite(const double *v, size_t m)
{
    for (size_t i = 0; i < m; i++)
        if (!isfinite(v[i]))
            return false;
    return true;
}

static int set_pareto(struct db *db, long long id, int on)
{
    sqlite3_stmt *u = db_stmt(db, "UPDATE trials SET pareto = ? WHERE id = ?");
    if (!u)
        return -1;
    sqlite3_bind_int(u, 1, on);
    sqlite3_bind_int64(u, 2, id);
    int rc = sqlite3_step(u);
    sqlite3_reset(u);
    return rc == SQLITE_DONE ? 0 : -1;
}

int front_add(struct db *db, const struct spec *sp, long long study_id, long long trial_id,
              const double *objs)
{
    size_t m = sp->n_objectives;
    if (!all_finite(objs, m))
        return 0;
    sqlite3_stmt *q =
        db_stmt(db, "SELECT id, objs FROM trials WHERE study_id = ? AND pareto = 1 AND id <> ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, trial_id);
    long long *off = NULL; /* members the new trial dominates */
    size_t n_off = 0, cap = 0;
    bool dominated = false;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        double other[SPEC_MAX_OBJECTIVES];
        objs_parse((const char *)sqlite3_column_text(q, 1), other, m);
        if (lifecycle_dominates(sp, other, objs)) {
            dominated = true;
            continue;
        }
        if (!lifecycle_dominates(sp, objs, other))
            continue;
        if (n_off == cap) {
            cap = cap ? 2 * cap : 16;
            long long *v = realloc(off, cap * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            off = v;
        }
        off[n_off++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    /* a member the new trial dominates cannot dominate it: both cases never
     * meet, since domination is transitive among the front's members */
    for (size_t i = 0; rc == SQLITE_DONE && i < n_off; i++)
        if (set_pareto(db, off[i], 0) < 0)
            rc = SQLITE_ERROR;
    free(off);
    if (rc != SQLITE_DONE)
        return -1;
    return dominated ? 0 : set_pareto(db, trial_id, 1);
}

int front_rebuild(struct db *db, const struct spec *sp, long long study_id)
{
    sqlite3_stmt *z = db_stmt(db, "UPDATE trials SET pareto = 0 WHERE study_id = ? AND pareto = 1");
    if (!z)
        return -1;
    sqlite3_bind_int64(z, 1, study_id);
    int rc = sqlite3_step(z);
    sqlite3_reset(z);
    if (rc != SQLITE_DONE)
        return -1;
    if (sp->n_objectives < 2)
        return 0;
    sqlite3_stmt *q = db_stmt(db, "SELECT id, objs FROM trials WHERE study_id = ? AND state = "
                                  "'completed' AND objs IS NOT NULL AND COALESCE(feasible, 1) = 1 "
                                  "ORDER BY number");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    size_t m = sp->n_objectives, n = 0, cap = 0;
    long long *ids = NULL;
    double *y = NULL;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            long long *ni = realloc(ids, cap * sizeof *ni);
            if (ni)
                ids = ni;
            double *ny = realloc(y, cap * m * sizeof *ny);
            if (ny)
                y = ny;
            if (!ni || !ny) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        ids[n] = sqlite3_column_int64(q, 0);
        objs_parse((const char *)sqlite3_column_text(q, 1), y + n * m, m);
        n++;
    }
    sqlite3_reset(q);
    for (size_t i = 0; rc == SQLITE_DONE && i < n; i++)
        if (front_add(db, sp, study_id, ids[i], y + i * m) < 0)
            rc = SQLITE_ERROR;
    free(ids);
    free(y);
    return rc == SQLITE_DONE ? 0 : -1;
}

int reference_derive(struct db *db, const struct spec *sp, long long study_id)
{
    if (sp->n_objectives < 2 || sp->has_reference)
        return 0;
    sqlite3_stmt *r = db_stmt(db, "SELECT reference IS NOT NULL FROM studies WHERE id = ?");
    if (!r)
        return -1;
    sqlite3_bind_int64(r, 1, study_id);
    int rc = sqlite3_step(r);
    bool recorded = rc == SQLITE_ROW && sqlite3_column_int(r, 0);
    sqlite3_reset(r);
    if (rc != SQLITE_ROW)
        return -1;
    if (recorded)
        return 0;
    size_t m = sp->n_objectives, want = lifecycle_reference_after(sp), n = 0;
    double *y = malloc(want * m * sizeof *y);
    sqlite3_stmt *q = db_stmt(db, "SELECT objs FROM trials WHERE study_id = ? AND state = "
                                  "'completed' AND objs IS NOT NULL AND COALESCE(feasible, 1) = 1 "
                                  "ORDER BY finished_at, id LIMIT ?");
    if (!y || !q) {
        free(y);
        return -1;
    }
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, (long long)want);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        objs_parse((const char *)sqlite3_column_text(q, 0), y + n * m, m);
        if (all_finite(y + n * m, m))
            n++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE || n < want) {
        free(y);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    double ref[SPEC_MAX_OBJECTIVES];
    lifecycle_reference(sp, y, n, ref);
    free(y);
    char *text = objs_text(ref, m);
    sqlite3_stmt *u =
        db_stmt(db, "UPDATE studies SET reference = ? WHERE id = ? AND reference IS NULL");
    if (!text || !u) {
        free(text);
        return -1;
    }
    sqlite3_bind_text(u, 1, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(u, 2, study_id);
    rc = sqlite3_step(u);
    sqlite3_reset(u);
    free(text);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_front_restore(struct db *db, long long study_id, const char *reference)
{
    struct study st;
    struct serr e;
    if (store_study_load_id(db, study_id, &st, &e) < 0) {
        store_study_release(&st);
        return -1;
    }
    int rc = front_rebuild(db, st.spec, study_id);
    if (rc == 0 && reference && st.spec->n_objectives > 1 && !st.spec->has_reference) {
        sqlite3_stmt *u = db_stmt(db, "UPDATE studies SET reference = ? WHERE id = ?");
        rc = -1;
        if (u) {
            sqlite3_bind_text(u, 1, reference, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(u, 2, study_id);
            rc = sqlite3_step(u) == SQLITE_DONE ? 0 : -1;
            sqlite3_reset(u);
        }
    }
    if (rc == 0)
        rc = reference_derive(db, st.spec, study_id);
    store_study_release(&st);
    return rc;
}

/* One finished trial read back for store_objectives_repair(). */
struct repair_row {
    long long id;           /* row id */
    enum trial_state state; /* completed or pruned */
    double value;           /* NAN when none */
    json_t *values;         /* owned, NULL when none */
};

static int repair_trial(struct db *db, const struct spec *sp, const struct repair_row *r)
{
    struct outcome oc;
    char err[8];
    /* read as a pruned trial: an old trial may lack what is required now */
    lifecycle_outcome(sp, TRIAL_PRUNED, r->value, r->values, &oc, err, sizeof err);
    bool any = false, feasible = true;
    double violation = 0;
    for (size_t i = 0; i < sp->n_objectives; i++)
        any = any || isfinite(oc.objs[i]);
    for (size_t i = 0; i < sp->n_constraints; i++) {
        feasible = feasible && oc.cons[i] <= 0; /* false for a missing metric (NAN) */
        if (oc.cons[i] > 0)
            violation += oc.cons[i];
        else if (isnan(oc.cons[i]))
            violation = NAN;
    }
    char *text = any ? objs_text(oc.objs, sp->n_objectives) : NULL;
    sqlite3_stmt *u =
        db_stmt(db, "UPDATE trials SET objs = ?, feasible = ?, violation = ? WHERE id = ?");
    if ((any && !text) || !u) {
        free(text);
        return -1;
    }
    if (text)
        sqlite3_bind_text(u, 1, text, -1, SQLITE_TRANSIENT);
    if (r->state == TRIAL_COMPLETED && sp->n_constraints > 0) {
        sqlite3_bind_int(u, 2, feasible);
        if (isfinite(violation))
            sqlite3_bind_double(u, 3, violation);
    }
    sqlite3_bind_int64(u, 4, r->id);
    int rc = sqlite3_step(u);
    sqlite3_reset(u);
    free(text);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int repair_body(struct db *db, void *arg)
{
    long long sid = *(const long long *)arg;
    struct study st;
    struct serr e;
    if (store_study_load_id(db, sid, &st, &e) < 0) {
        store_study_release(&st);
        return 0; /* a spec that does not parse: left as it is */
    }
    sqlite3_stmt *q = db_stmt(db, "SELECT id, state, value, values_json FROM trials WHERE "
                                  "study_id = ? AND state IN ('completed', 'pruned') AND objs IS "
                                  "NULL ORDER BY number");
    struct repair_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = q ? SQLITE_OK : SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int64(q, 1, sid);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                struct repair_row *v = realloc(rows, cap * sizeof *v);
                if (!v) {
                    rc = SQLITE_NOMEM;
                    break;
                }
                rows = v;
            }
            struct repair_row *r = &rows[n++];
            r->id = sqlite3_column_int64(q, 0);
            r->state = TRIAL_PRUNED;
            trial_state_parse((const char *)sqlite3_column_text(q, 1), &r->state);
            r->value = col_double(q, 2);
            r->values = col_json(q, 3);
        }
        sqlite3_reset(q);
    }
    for (size_t i = 0; rc == SQLITE_DONE && i < n; i++)
        if (repair_trial(db, st.spec, &rows[i]) < 0)
            rc = SQLITE_ERROR;
    for (size_t i = 0; i < n; i++)
        json_decref(rows[i].values);
    free(rows);
    store_study_release(&st);
    if (rc != SQLITE_DONE)
        return -1;
    return store_front_restore(db, sid, NULL);
}

int store_objectives_repair(struct db *db)
{
    int done = 0;
    long long last = 0; /* studies are taken by id, 256 at a time */
    for (;;) {
        sqlite3_stmt *q =
            db_stmt(db, "SELECT s.id FROM studies s WHERE (s.n_objectives > 1 OR "
                        "s.n_constraints > 0) AND s.id > ? AND EXISTS (SELECT 1 FROM trials t "
                        "WHERE t.study_id = s.id AND t.state = 'completed' AND t.objs IS NULL) "
                        "ORDER BY s.id LIMIT 256");
        if (!q)
            return -1;
        sqlite3_bind_int64(q, 1, last);
        long long ids[256];
        size_t n = 0;
        while (n < 256 && sqlite3_step(q) == SQLITE_ROW)
            ids[n++] = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        for (size_t i = 0; i < n; i++) {
            if (db_run(db, repair_body, &ids[i]) < 0)
                return -1;
            done++;
            last = ids[i];
        }
        if (n < 256)
            break;
    }
    return done;
}

void store_front_release(struct front_rows *f)
{
    store_trial_list_release(&f->trials);
}

int store_front(struct db *db, long long study_id, struct front_rows *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = db_stmt(db, "SELECT " TRIAL_COLS " FROM trials t WHERE t.study_id = ? AND "
                                  "t.pareto = 1 ORDER BY t.number");
    sqlite3_stmt *c = db_stmt(db, "SELECT count(*), coalesce(sum(COALESCE(feasible, 1) = 1), 0) "
                                  "FROM trials WHERE study_id = ? AND state = 'completed'");
    if (!q || !c)
        return serr_db(e, db, "pareto front");
    sqlite3_bind_int64(q, 1, study_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (out->trials.n == cap) {
            cap = cap ? 2 * cap : 16;
            struct trial *v = realloc(out->trials.v, cap * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            out->trials.v = v;
        }
        trial_read(q, &out->trials.v[out->trials.n++]);
    }
    sqlite3_reset(q);
    if (rc == SQLITE_DONE) {
        sqlite3_bind_int64(c, 1, study_id);
        rc = sqlite3_step(c);
        if (rc == SQLITE_ROW) {
            out->n_completed = sqlite3_column_int64(c, 0);
            out->n_feasible = sqlite3_column_int64(c, 1);
            rc = SQLITE_DONE;
        }
        sqlite3_reset(c);
    }
    if (rc != SQLITE_DONE) {
        serr_db(e, db, "pareto front");
        store_front_release(out);
        return -1;
    }
    return 0;
}

int store_objective_rows(struct db *db, long long study_id, size_t m, long long **numbers,
                         double **objs, int **feasible, size_t *n, struct serr *e)
{
    *numbers = NULL;
    *objs = NULL;
    *feasible = NULL;
    *n = 0;
    sqlite3_stmt *q = db_stmt(db, "SELECT number, objs, feasible FROM trials WHERE study_id = ? "
                                  "AND state = 'completed' ORDER BY number");
    if (!q)
        return serr_db(e, db, "objectives");
    sqlite3_bind_int64(q, 1, study_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            long long *a = realloc(*numbers, cap * sizeof *a);
            if (a)
                *numbers = a;
            double *b = realloc(*objs, cap * (m ? m : 1) * sizeof *b);
            if (b)
                *objs = b;
            int *f = realloc(*feasible, cap * sizeof *f);
            if (f)
                *feasible = f;
            if (!a || !b || !f) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        (*numbers)[*n] = sqlite3_column_int64(q, 0);
        objs_parse((const char *)sqlite3_column_text(q, 1), *objs + *n * m, m);
        (*feasible)[*n] =
            sqlite3_column_type(q, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 2) != 0;
        (*n)++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        serr_db(e, db, "objectives");
        free(*numbers);
        free(*objs);
        free(*feasible);
        *numbers = NULL;
        *objs = NULL;
        *feasible = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}
