#include <config.h>
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "timeutil.h"

/* Append the trial row of id to l; 0, or -1 when it cannot be read. */
static int list_append(struct db *db, long long id, struct trial_list *l)
{
    sqlite3_stmt *g = db_stmt(db, "SELECT " TRIAL_COLS " FROM trials t WHERE t.id = ?");
    if (!g)
        return -1;
    struct trial *v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    sqlite3_bind_int64(g, 1, id);
    int rc = sqlite3_step(g);
    if (rc == SQLITE_ROW) {
        trial_read(g, &l->v[l->n++]);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(g);
    return rc == SQLITE_DONE ? 0 : -1;
}

static long long study_id_of(struct db *db, const char *name, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT id FROM studies WHERE name = ?");
    if (!q)
        return serr_db(e, db, "find study");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    long long id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        serr_db(e, db, "find study");
    sqlite3_reset(q);
    if (rc == SQLITE_DONE)
        return serr_set(e, 404, "not_found", "no study named \"%s\"", name);
    return id;
}

void store_trial_page_release(struct trial_page *p)
{
    for (size_t i = 0; p->curves && i < p->trials.n; i++)
        free(p->curves[i].v);
    free(p->curves);
    p->curves = NULL;
    store_trial_list_release(&p->trials);
}

/* The intermediate values of each trial of the page, in step order. */
static int page_curves(struct db *db, struct trial_page *out)
{
    out->curves = calloc(out->trials.n + 1, sizeof *out->curves);
    sqlite3_stmt *r =
        db_stmt(db, "SELECT step, value FROM trial_reports WHERE trial_id = ? ORDER BY step");
    if (!out->curves || !r)
        return -1;
    for (size_t i = 0; i < out->trials.n; i++) {
        struct trial_curve *c = &out->curves[i];
        size_t cap = 0;
        int rc;
        sqlite3_bind_int64(r, 1, out->trials.v[i].id);
        while ((rc = sqlite3_step(r)) == SQLITE_ROW) {
            if (c->n == cap) {
                size_t nc = cap ? 2 * cap : 16;
                struct curve_point *v = realloc(c->v, nc * sizeof *v);
                if (!v) {
                    rc = SQLITE_NOMEM;
                    break;
                }
                c->v = v;
                cap = nc;
            }
            c->v[c->n].step = sqlite3_column_int64(r, 0);
            c->v[c->n].value =
                sqlite3_column_type(r, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(r, 1);
            c->n++;
        }
        sqlite3_reset(r);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return 0;
}

/* For the pareto filter: the id of the best trial of a study of one objective
 * (its Pareto set), -1 for a study of several (the pareto column holds its
 * set) or when it has no completed trial. */
static int pareto_single(struct db *db, const char *name, long long *id, struct serr *e)
{
    *id = -1;
    struct study st;
    if (store_study_load(db, name, &st, e) < 0) {
        store_study_release(&st);
        return -1;
    }
    bool single = st.spec->n_objectives < 2;
    store_study_release(&st);
    if (!single)
        return 0;
    struct trial best;
    struct serr ignored;
    if (store_best(db, name, &best, &ignored) < 0)
        return ignored.status == 404 ? 0 : serr_db(e, db, "list trials");
    *id = best.id;
    store_trial_release(&best);
    return 0;
}

#define PAGE_SELECT                                                                                \
    "SELECT " TRIAL_COLS " FROM trials t WHERE t.study_id = ?1 "                                   \
    "AND (?3 IS NULL OR t.state = ?3) "                                                            \
    "AND (?5 IS NULL OR t.source = ?5 OR t.source LIKE ?5 || ':%') "                               \
    "AND (?6 IS NULL OR t.pareto = 1 OR t.id = ?6) "

int store_trials_page(struct db *db, const char *name, const enum trial_state *state,
                      const char *source, bool pareto, long long after, long long limit,
                      enum store_order order, bool curves, struct trial_page *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    long long sid = study_id_of(db, name, e);
    if (sid < 0)
        return -1;
    long long pareto_id = -1; /* the best trial of a study of one objective */
    if (pareto && pareto_single(db, name, &pareto_id, e) < 0)
        return -1;
    bool desc = order == STORE_ORDER_NUMBER_DESC;
    bool by_value = order == STORE_ORDER_VALUE || order == STORE_ORDER_VALUE_DESC;
    sqlite3_stmt *q;
    if (order == STORE_ORDER_VALUE)
        q = db_stmt(db, PAGE_SELECT "ORDER BY t.value IS NULL, t.value ASC, t.number ASC "
                                    "LIMIT ?4 OFFSET ?2");
    else if (order == STORE_ORDER_VALUE_DESC)
        q = db_stmt(db, PAGE_SELECT "ORDER BY t.value IS NULL, t.value DESC, t.number ASC "
                                    "LIMIT ?4 OFFSET ?2");
    else if (desc)
        q = db_stmt(db, PAGE_SELECT "AND t.number < ?2 ORDER BY t.number DESC LIMIT ?4");
    else
        q = db_stmt(db, PAGE_SELECT "AND t.number > ?2 ORDER BY t.number ASC LIMIT ?4");
    if (!q)
        return serr_db(e, db, "list trials");
    sqlite3_bind_int64(q, 1, sid);
    if (by_value)
        sqlite3_bind_int64(q, 2, after < 0 ? 0 : after); /* a position in the order */
    else
        sqlite3_bind_int64(q, 2, desc && after < 0 ? (1LL << 62) : after);
    if (state)
        sqlite3_bind_text(q, 3, trial_state_name(*state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, limit + 1);
    if (source)
        sqlite3_bind_text(q, 5, source, -1, SQLITE_STATIC);
    if (pareto)
        sqlite3_bind_int64(q, 6, pareto_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if ((long long)out->trials.n == limit) {
            out->more = true;
            break;
        }
        if (out->trials.n == cap) {
            size_t c = cap ? 2 * cap : 16;
            struct trial *v = realloc(out->trials.v, c * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            out->trials.v = v;
            cap = c;
        }
        struct trial *t = &out->trials.v[out->trials.n++];
        trial_read(q, t);
        out->next_after = t->number;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        serr_db(e, db, "list trials");
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_trial_page_release(out);
        return -1;
    }
    if (by_value)
        out->next_after = (after < 0 ? 0 : after) + (long long)out->trials.n;
    if (curves && page_curves(db, out) < 0) {
        store_trial_page_release(out);
        return serr_db(e, db, "list intermediate values");
    }
    struct counts all;
    if (!state && !source && !pareto) {
        /* no filter: the count is known without scanning the study */
        if (store_counts(db, sid, &all) < 0) {
            store_trial_page_release(out);
            return serr_db(e, db, "count trials");
        }
        out->total = all.pending + all.running + all.completed + all.failed + all.pruned;
        return 0;
    }
    sqlite3_stmt *c = db_stmt(db, "SELECT COUNT(*) FROM trials t WHERE t.study_id = ?1 AND "
                                  "(?2 IS NULL OR t.state = ?2) AND (?3 IS NULL OR t.source = ?3 "
                                  "OR t.source LIKE ?3 || ':%') AND (?4 IS NULL OR t.pareto = 1 "
                                  "OR t.id = ?4)");
    int counted = SQLITE_ERROR;
    if (c) {
        sqlite3_bind_int64(c, 1, sid);
        if (state)
            sqlite3_bind_text(c, 2, trial_state_name(*state), -1, SQLITE_STATIC);
        if (source)
            sqlite3_bind_text(c, 3, source, -1, SQLITE_STATIC);
        if (pareto)
            sqlite3_bind_int64(c, 4, pareto_id);
        counted = sqlite3_step(c);
        if (counted == SQLITE_ROW)
            out->total = sqlite3_column_int64(c, 0);
        else
            serr_db(e, db, "count trials");
        sqlite3_reset(c);
    } else {
        serr_db(e, db, "count trials");
    }
    if (counted != SQLITE_ROW) {
        store_trial_page_release(out);
        return -1;
    }
    return 0;
}

int store_trials_all(struct db *db, long long study_id, struct trial_list *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q =
        db_stmt(db, "SELECT " TRIAL_COLS " FROM trials t WHERE t.study_id = ? ORDER BY t.number");
    if (!q)
        return serr_db(e, db, "list trials");
    sqlite3_bind_int64(q, 1, study_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (out->n == cap) {
            size_t c = cap ? 2 * cap : 64;
            struct trial *v = realloc(out->v, c * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            out->v = v;
            cap = c;
        }
        trial_read(q, &out->v[out->n++]);
    }
    if (rc != SQLITE_DONE)
        serr_db(e, db, "list trials");
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        store_trial_list_release(out);
        return -1;
    }
    return 0;
}

int store_best(struct db *db, const char *name, struct trial *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    struct study st;
    if (store_study_load(db, name, &st, e) < 0) {
        store_study_release(&st);
        return -1;
    }
    sqlite3_stmt *q =
        st.direction > 0
            ? db_stmt(db, "SELECT " TRIAL_COLS " FROM trials t WHERE t.study_id = ? AND "
                          "t.state = 'completed' AND t.value IS NOT NULL AND "
                          "COALESCE(t.feasible, 1) = 1 "
                          "ORDER BY t.value ASC, t.number ASC LIMIT 1")
            : db_stmt(db, "SELECT " TRIAL_COLS " FROM trials t WHERE t.study_id = ? AND "
                          "t.state = 'completed' AND t.value IS NOT NULL AND "
                          "COALESCE(t.feasible, 1) = 1 "
                          "ORDER BY t.value DESC, t.number ASC LIMIT 1");
    int rc = -1;
    if (!q) {
        serr_db(e, db, "best trial");
        goto out_release;
    }
    sqlite3_bind_int64(q, 1, st.id);
    int step = sqlite3_step(q);
    if (step == SQLITE_ROW) {
        trial_read(q, out);
        rc = 0;
    } else if (step == SQLITE_DONE) {
        serr_set(e, 404, "no_trials", "study \"%s\" has no completed trial yet", name);
    } else {
        serr_db(e, db, "best trial");
    }
    sqlite3_reset(q);
out_release:
    store_study_release(&st);
    return rc;
}

int store_trial_get(struct db *db, long long id, struct trial_detail *out, struct serr *e)
{
    return trial_detail_read(db, id, out, e);
}

/* Take the study's next trial number; -1 on failure. */
static long long next_number(struct db *db, long long study_id)
{
    sqlite3_stmt *q = db_stmt(db, "UPDATE studies SET next_number = next_number + 1 WHERE id = ? "
                                  "RETURNING next_number - 1");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    long long number = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    return number;
}

struct enqueue_tx {
    const struct study *st;   /* the study */
    const char *params;       /* params as text */
    const char *source;       /* who asked */
    struct trial_detail *out; /* the trial */
    struct serr *e;           /* the error */
};

static int enqueue_body(struct db *db, void *arg)
{
    struct enqueue_tx *c = arg;
    store_trial_detail_release(c->out);
    long long number = next_number(db, c->st->id);
    sqlite3_stmt *ins = db_stmt(db, "INSERT INTO trials (study_id, number, state, params, "
                                    "source, created_at) VALUES (?, ?, 'pending', ?, ?, ?)");
    if (number < 0 || !ins)
        return serr_db(c->e, db, "enqueue");
    sqlite3_bind_int64(ins, 1, c->st->id);
    sqlite3_bind_int64(ins, 2, number);
    sqlite3_bind_text(ins, 3, c->params, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, c->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 5, time_now_ms());
    int rc = sqlite3_step(ins);
    if (rc != SQLITE_DONE)
        serr_db(c->e, db, "enqueue");
    sqlite3_reset(ins);
    if (rc != SQLITE_DONE)
        return -1;
    return trial_detail_read(db, sqlite3_last_insert_rowid(db_handle(db)), c->out, c->e);
}

int store_enqueue(struct db *db, const char *name, const json_t *params, const char *source,
                  struct trial_detail *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    struct study st;
    if (store_study_load(db, name, &st, e) < 0) {
        store_study_release(&st);
        return -1;
    }
    int rc = -1;
    char *text = json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!text) {
        serr_set(e, 500, "internal", "out of memory");
        goto out_release;
    }
    if (st.state == STUDY_FINISHED) {
        serr_set(e, 409, "study_finished", "study \"%s\" is finished: resume it first", name);
        goto out_release;
    }
    struct enqueue_tx c = {&st, text, source, out, e};
    rc = store_run(db, enqueue_body, &c, e, "enqueue");
    if (rc < 0)
        store_trial_detail_release(out);
out_release:
    free(text);
    store_study_release(&st);
    return rc;
}

/* --- the lease --- */

int store_heartbeat(struct db *db, long long id, const char *worker, const struct caller *who,
                    enum trial_action *action, int64_t *lease_ms_out, struct serr *e)
{
    struct lease_row lr;
    *action = ACTION_STOP;
    *lease_ms_out = 0;
    if (lease_row_load(db, id, &lr, e) < 0)
        return -1;
    if (lifecycle_lease_check(lr.state, lr.worker, worker) != LEASE_HELD)
        return lease_conflict(e, id, &lr, worker);
    if (!lifecycle_token_may(lr.token, who ? who->token : 0, who && who->admin))
        return lease_token_conflict(e, id);
    struct spec_entry *sp = spec_ref(db, lr.study_id, lr.created);
    if (!sp)
        return serr_db(e, db, "heartbeat");
    *lease_ms_out = lease_ms(spec_of(sp));
    spec_unref(sp);
    *action = lifecycle_heartbeat_action(lr.study_done, lr.judged);
    return 0;
}

struct complete_tx {
    const struct completion *in; /* the request */
    const char *values;          /* in->values as text, or NULL */
    const struct spec *sp;       /* the study's spec (borrowed), NULL when it does not parse */
    struct outcome oc;           /* objectives and constraints (spec_multi() studies) */
    struct lease_row lr;         /* the trial before */
    double value;                /* the value recorded */
    bool already;                /* a resend */
    struct trial_detail *out;    /* the trial after, or NULL */
    struct serr *e;              /* the error */
};

/* Count the worker's result and finish the study when its budget is spent. */
static int complete_study(struct db *db, struct complete_tx *c)
{
    struct study st;
    struct serr ignored;
    if (store_study_load_id(db, c->lr.study_id, &st, &ignored) < 0) {
        store_study_release(&st);
        return 0; /* a study whose spec does not parse: the trial is recorded all the same */
    }
    bool failed = lifecycle_counts_against_worker(c->in->state, lifecycle_has_code(st.spec));
    struct counts n;
    int rc = store_worker_result(db, c->lr.study_id, c->in->worker, failed, &c->in->limits);
    if (rc == 0)
        rc = store_counts(db, c->lr.study_id, &n);
    if (rc == 0)
        rc = store_finish_if_done(db, &st, &n) < 0 ? -1 : 0;
    store_study_release(&st);
    return rc;
}

static int complete_write(struct db *db, struct complete_tx *c);

/* Whether the completion asked for is the one recorded (state already
 * matched): the same value, when it names one, and the same values. 1, 0, or
 * -1 when the row cannot be read. */
static int same_result(struct db *db, struct complete_tx *c)
{
    const struct completion *in = c->in;
    sqlite3_stmt *q = db_stmt(db, "SELECT value, values_json FROM trials WHERE id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, in->trial_id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        return -1;
    }
    int same = 1;
    double was = col_double(q, 0);
    if (isfinite(in->value) && in->state != TRIAL_FAILED && !(was == in->value))
        same = 0;
    if (same && in->values && json_object_size(in->values) > 0) {
        json_t *had = col_json(q, 1);
        same = had && json_equal(had, in->values);
        json_decref(had);
    }
    sqlite3_reset(q);
    return same;
}

/* The 409 of a completion of a trial the worker holds no lease on: a finished
 * trial is said to be finished, with another result when it was this worker's. */
static int lease_conflict_final(struct db *db, struct complete_tx *c, enum lease_check check)
{
    (void)db;
    const struct completion *in = c->in;
    if (check == LEASE_NOT_RUNNING && trial_state_final(c->lr.state) &&
        strcmp(c->lr.worker, in->worker) == 0 &&
        lifecycle_token_may(c->lr.token, in->who.token, in->who.admin))
        return serr_set(c->e, 409, "already_completed",
                        "trial %lld was already %s with another result: the new one (%s) is "
                        "not recorded",
                        in->trial_id, trial_state_name(c->lr.state), trial_state_name(in->state));
    return lease_conflict(c->e, in->trial_id, &c->lr, in->worker);
}

static int complete_body(struct db *db, void *arg)
{
    struct complete_tx *c = arg;
    const struct completion *in = c->in;
    c->already = false;
    if (c->out)
        store_trial_detail_release(c->out);
    if (lease_row_load(db, in->trial_id, &c->lr, c->e) < 0)
        return -1;
    struct spec_entry *ref = spec_ref(db, c->lr.study_id, c->lr.created);
    c->sp = spec_of(ref);
    int rc = complete_write(db, c);
    spec_unref(ref);
    c->sp = NULL;
    return rc;
}

/* The completion of a loaded trial, its study's spec known (c->sp). */
static int complete_write(struct db *db, struct complete_tx *c)
{
    const struct completion *in = c->in;
    bool multi = c->sp && spec_multi(c->sp);
    char err[256];
    if (multi &&
        lifecycle_outcome(c->sp, in->state, in->value, in->values, &c->oc, err, sizeof err) < 0)
        return serr_set(c->e, 400, "bad_value", "%s", err);
    if (!multi && in->state == TRIAL_COMPLETED && !isfinite(in->value))
        return serr_set(c->e, 400, "bad_value",
                        "value: a completed trial needs a finite number as its value");
    enum lease_check check =
        lifecycle_complete_check(c->lr.state, c->lr.worker, in->worker, in->state);
    if (check != LEASE_HELD && check != LEASE_RESENT)
        return lease_conflict_final(db, c, check);
    if (!lifecycle_token_may(c->lr.token, in->who.token, in->who.admin))
        return lease_token_conflict(c->e, in->trial_id);
    if (check == LEASE_RESENT) {
        int same = same_result(db, c);
        if (same < 0)
            return serr_db(c->e, db, "complete");
        if (!same)
            return serr_set(c->e, 409, "already_completed",
                            "trial %lld was already %s with another result: the new one is "
                            "not recorded",
                            in->trial_id, trial_state_name(c->lr.state));
        c->already = true; /* a resend of a completion that was recorded: nothing to write */
        return c->out ? trial_detail_read(db, in->trial_id, c->out, c->e) : 0;
    }
    c->value = multi ? c->oc.objs[0] : in->value;
    if (!isfinite(c->value) && in->state == TRIAL_PRUNED &&
        (!multi || c->sp->pruner_objective == 0))
        c->value = c->lr.last_value;
    int64_t now = time_now_ms();
    sqlite3_stmt *q = db_stmt(db, "UPDATE trials SET state = ?, value = ?, values_json = ?, "
                                  "error = ?, finished_at = ?, lease_expires_at = NULL, "
                                  "sandbox = ?7, objs = ?8, feasible = ?9, violation = ?10 "
                                  "WHERE id = ?6");
    sqlite3_stmt *a = db_stmt(db, "UPDATE trial_attempts SET ended_at = ?, outcome = ? WHERE "
                                  "trial_id = ? AND attempt = ?");
    if (!q || !a)
        return serr_db(c->e, db, "complete");
    const char *state = trial_state_name(in->state);
    sqlite3_bind_text(q, 1, state, -1, SQLITE_STATIC);
    if (isfinite(c->value) && in->state != TRIAL_FAILED)
        sqlite3_bind_double(q, 2, c->value);
    if (c->values)
        sqlite3_bind_text(q, 3, c->values, -1, SQLITE_STATIC);
    if (in->error)
        sqlite3_bind_text(q, 4, in->error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, now);
    sqlite3_bind_int64(q, 6, in->trial_id);
    if (in->sandbox)
        sqlite3_bind_text(q, 7, in->sandbox, -1, SQLITE_STATIC);
    char *objs = NULL;
    bool any = false;
    for (size_t i = 0; multi && i < c->sp->n_objectives; i++)
        any = any || isfinite(c->oc.objs[i]);
    if (any && in->state != TRIAL_FAILED) {
        objs = objs_text(c->oc.objs, c->sp->n_objectives);
        if (!objs)
            return serr_set(c->e, 500, "internal", "out of memory");
        sqlite3_bind_text(q, 8, objs, -1, SQLITE_TRANSIENT);
    }
    if (multi && c->oc.feasible >= 0) {
        sqlite3_bind_int(q, 9, c->oc.feasible);
        sqlite3_bind_double(q, 10, c->oc.violation);
    }
    free(objs);
    int s1 = sqlite3_step(q);
    if (s1 != SQLITE_DONE)
        serr_db(c->e, db, "complete");
    sqlite3_reset(q);
    if (s1 != SQLITE_DONE)
        return -1;
    sqlite3_bind_int64(a, 1, now);
    sqlite3_bind_text(a, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 3, in->trial_id);
    sqlite3_bind_int(a, 4, c->lr.attempts);
    int s2 = sqlite3_step(a);
    if (s2 != SQLITE_DONE)
        serr_db(c->e, db, "complete");
    sqlite3_reset(a);
    if (s2 != SQLITE_DONE)
        return -1;
    if (multi && in->state == TRIAL_COMPLETED && c->oc.feasible != 0 && c->sp->n_objectives > 1 &&
        (front_add(db, c->sp, c->lr.study_id, in->trial_id, c->oc.objs) < 0 ||
         reference_derive(db, c->sp, c->lr.study_id) < 0))
        return serr_db(c->e, db, "complete");
    if (complete_study(db, c) < 0)
        return serr_db(c->e, db, "complete");
    return c->out ? trial_detail_read(db, in->trial_id, c->out, c->e) : 0;
}

int store_complete(struct db *db, const struct completion *in, struct trial_detail *out,
                   bool *already, struct serr *e)
{
    *already = false;
    if (out)
        memset(out, 0, sizeof *out);
    if (!trial_state_final(in->state))
        return serr_set(e, 400, "bad_state",
                        "state: must be \"completed\", \"failed\" or \"pruned\" (got \"%s\")",
                        trial_state_name(in->state));
    struct complete_tx c = {.in = in, .out = out, .e = e};
    char *vtext =
        in->values ? json_dumps(in->values, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    c.values = vtext;
    int rc = store_run(db, complete_body, &c, e, "complete");
    free(vtext);
    if (rc < 0) {
        if (out)
            store_trial_detail_release(out);
        return -1;
    }
    *already = c.already;
    if (c.already)
        return 0;
    if (in->state == TRIAL_COMPLETED)
        log_info("trial %lld (#%lld) completed by %s: %g", in->trial_id, c.lr.number, in->worker,
                 c.value);
    else
        log_info("trial %lld (#%lld) %s by %s%s%.200s", in->trial_id, c.lr.number,
                 trial_state_name(in->state), in->worker, in->error ? ": " : "",
                 in->error ? in->error : "");
    return 0;
}

/* --- expired leases --- */

#define REAP_BATCH 64

/* A running trial whose lease ran out. */
struct expired {
    long long id, study_id, number;
    int attempts;
    long max_retries;
    bool judged; /* the pruner had stopped it: it ends pruned, not requeued */
    bool other;  /* its reports are of an objective other than the first (the pruner's) */
    bool done;   /* reaped by this transaction */
    enum expiry_fate fate;
    char worker[160], study[80];
};

struct reap_tx {
    struct expired *list; /* candidates */
    size_t n;             /* how many */
    int64_t now;          /* the reaper's clock */
};

static int reap_one(struct db *db, struct expired *x, int64_t now)
{
    x->fate = lifecycle_on_expiry(x->attempts, x->max_retries, x->judged);
    sqlite3_stmt *a = db_stmt(db, "UPDATE trial_attempts SET ended_at = ?, outcome = 'stale' "
                                  "WHERE trial_id = ? AND attempt = ?");
    sqlite3_stmt *u =
        x->fate == EXPIRY_PRUNE
            ? db_stmt(db, "UPDATE trials SET state = 'pruned', value = iif(?4, NULL, "
                          "last_value), lease_expires_at = NULL, finished_at = ?2, error = ?3 "
                          "WHERE id = ?1 AND state = 'running'")
        : x->fate == EXPIRY_REQUEUE
            ? db_stmt(db, "UPDATE trials SET state = 'pending', lease_expires_at = NULL "
                          "WHERE id = ? AND state = 'running'")
            : db_stmt(db, "UPDATE trials SET state = 'failed', lease_expires_at = NULL, "
                          "finished_at = ?2, error = ?3 WHERE id = ?1 AND state = 'running'");
    if (!a || !u)
        return -1;
    char why[320];
    if (x->fate == EXPIRY_PRUNE)
        snprintf(why, sizeof why,
                 "pruned: worker \"%s\" stopped sending heartbeats after the pruner "
                 "stopped the trial",
                 x->worker);
    else
        snprintf(why, sizeof why,
                 "lease expired %d times: worker \"%s\" stopped sending heartbeats", x->attempts,
                 x->worker);
    sqlite3_bind_int64(u, 1, x->id);
    if (x->fate != EXPIRY_REQUEUE) {
        sqlite3_bind_int64(u, 2, now);
        sqlite3_bind_text(u, 3, why, -1, SQLITE_TRANSIENT);
    }
    if (x->fate == EXPIRY_PRUNE)
        sqlite3_bind_int(u, 4, x->other);
    int rc = sqlite3_step(u);
    sqlite3_reset(u);
    if (rc != SQLITE_DONE)
        return -1;
    x->done = sqlite3_changes(db_handle(db)) > 0;
    if (!x->done)
        return 0; /* completed meanwhile */
    sqlite3_bind_int64(a, 1, now);
    sqlite3_bind_int64(a, 2, x->id);
    sqlite3_bind_int(a, 3, x->attempts);
    rc = sqlite3_step(a);
    sqlite3_reset(a);
    if (rc != SQLITE_DONE)
        return -1;
    if (x->fate == EXPIRY_REQUEUE)
        return 0;
    struct study st;
    struct serr e;
    struct counts c;
    rc = 0;
    if (store_study_load_id(db, x->study_id, &st, &e) == 0) {
        rc = store_counts(db, x->study_id, &c);
        if (rc == 0 && store_finish_if_done(db, &st, &c) < 0)
            rc = -1;
    }
    store_study_release(&st);
    return rc;
}

static int reap_body(struct db *db, void *arg)
{
    struct reap_tx *c = arg;
    for (size_t i = 0; i < c->n; i++)
        c->list[i].done = false;
    for (size_t i = 0; i < c->n; i++)
        if (reap_one(db, &c->list[i], c->now) < 0)
            return -1;
    return 0;
}

int store_reap(struct db *db, int64_t now_ms, int64_t (*held)(long long id), long long *reaped,
               size_t cap)
{
    /* study by study, so that each study's running trials are a range of
     * trials_study_state; read before the write lock is taken, since most
     * ticks find nothing */
    sqlite3_stmt *q = db_stmt(db, "SELECT t.id, t.study_id, t.attempts, t.worker, s.created_at, "
                                  "t.number, s.name, t.prune_step IS NOT NULL FROM studies s "
                                  "CROSS JOIN trials t ON t.study_id = s.id AND t.state = "
                                  "'running' WHERE t.lease_expires_at < ?");
    if (!q)
        return -1;
    struct expired list[REAP_BATCH];
    size_t n = 0;
    sqlite3_bind_int64(q, 1, now_ms);
    int step = SQLITE_DONE;
    while (n < REAP_BATCH && (step = sqlite3_step(q)) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(q, 0);
        if (held && held(id) >= now_ms)
            continue; /* its heartbeats go on: the deadline is in memory */
        struct expired *x = &list[n++];
        memset(x, 0, sizeof *x);
        x->id = id;
        x->study_id = sqlite3_column_int64(q, 1);
        x->attempts = sqlite3_column_int(q, 2);
        const char *w = (const char *)sqlite3_column_text(q, 3);
        snprintf(x->worker, sizeof x->worker, "%s", w ? w : "");
        struct spec_entry *sp = spec_ref(db, x->study_id, sqlite3_column_int64(q, 4));
        x->max_retries = sp ? spec_of(sp)->max_retries : 2;
        x->other = sp && spec_multi(spec_of(sp)) && spec_of(sp)->pruner_objective != 0;
        spec_unref(sp);
        x->number = sqlite3_column_int64(q, 5);
        snprintf(x->study, sizeof x->study, "%s", (const char *)sqlite3_column_text(q, 6));
        x->judged = sqlite3_column_int(q, 7) != 0;
    }
    if (n < REAP_BATCH && step != SQLITE_DONE) {
        sqlite3_reset(q);
        return -1; /* a read that stopped short: reap nothing rather than part */
    }
    sqlite3_reset(q);
    if (n == 0)
        return 0;
    struct reap_tx c = {list, n, now_ms};
    if (db_run(db, reap_body, &c) < 0)
        return -1;
    int done = 0;
    for (size_t i = 0; i < n; i++) {
        struct expired *x = &list[i];
        if (!x->done)
            continue;
        if ((size_t)done < cap)
            reaped[done] = x->id;
        done++;
        if (x->fate == EXPIRY_REQUEUE)
            log_warn("study \"%s\" trial #%lld: worker \"%s\" stopped heartbeating; requeued "
                     "(attempt %d)",
                     x->study, x->number, x->worker, x->attempts);
        else if (x->fate == EXPIRY_PRUNE)
            log_warn("study \"%s\" trial #%lld failed: pruned: worker \"%s\" stopped sending "
                     "heartbeats after the pruner stopped the trial",
                     x->study, x->number, x->worker);
        else
            log_warn("study \"%s\" trial #%lld failed: lease expired %d times: worker \"%s\" "
                     "stopped sending heartbeats",
                     x->study, x->number, x->attempts, x->worker);
    }
    return done;
}

struct grace_tx {
    const long long *ids; /* studies with running trials */
    size_t n;             /* how many */
    int64_t now;          /* start-up time */
    int changed;          /* trials touched */
};

static int grace_body(struct db *db, void *arg)
{
    struct grace_tx *c = arg;
    c->changed = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct study st;
        struct serr e;
        if (store_study_load_id(db, c->ids[i], &st, &e) < 0) {
            store_study_release(&st);
            continue;
        }
        sqlite3_stmt *u = db_stmt(db, "UPDATE trials SET lease_expires_at = MAX(COALESCE("
                                      "lease_expires_at, 0), ?) WHERE study_id = ? AND state = "
                                      "'running'");
        int rc = -1;
        if (u) {
            sqlite3_bind_int64(u, 1, c->now + lease_ms(st.spec));
            sqlite3_bind_int64(u, 2, c->ids[i]);
            rc = sqlite3_step(u);
            c->changed += sqlite3_changes(db_handle(db));
            sqlite3_reset(u);
        }
        store_study_release(&st);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return 0;
}

int store_lease_grace(struct db *db, int64_t now_ms)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT DISTINCT s.id FROM studies s CROSS JOIN trials t ON "
                                  "t.study_id = s.id AND t.state = 'running'");
    if (!q)
        return -1;
    long long ids[256];
    size_t n = 0;
    int step = SQLITE_DONE;
    while (n < 256 && (step = sqlite3_step(q)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (n < 256 && step != SQLITE_DONE)
        return -1;
    if (n == 0)
        return 0;
    struct grace_tx c = {ids, n, now_ms, 0};
    if (db_run(db, grace_body, &c) < 0)
        return -1;
    return c.changed;
}

/* --- the suggest path --- */

void store_lease_plan_release(struct lease_plan *p)
{
    store_trial_list_release(&p->trials);
}

/* The row of attempt number attempt of trial id, opened now by worker. */
static int attempt_open(struct db *db, long long id, long long attempt, const char *worker,
                        int64_t now)
{
    sqlite3_stmt *a = db_stmt(db, "INSERT OR REPLACE INTO trial_attempts (trial_id, attempt, "
                                  "worker, started_at) VALUES (?, ?, ?, ?)");
    if (!a)
        return -1;
    sqlite3_bind_int64(a, 1, id);
    sqlite3_bind_int64(a, 2, attempt);
    sqlite3_bind_text(a, 3, worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 4, now);
    int rc = sqlite3_step(a);
    sqlite3_reset(a);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Lease trial id (pending, or the worker's own running one when redeliver) to
 * worker and append it to out. */
static int lease_trial(struct db *db, const struct study *st, long long id, const char *worker,
                       long long token, bool redeliver, struct trial_list *out)
{
    int64_t now = time_now_ms();
    sqlite3_stmt *q;
    if (redeliver)
        q = db_stmt(db, "UPDATE trials SET lease_expires_at = ?2 WHERE id = ?1 RETURNING 0");
    else
        q = db_stmt(db, "UPDATE trials SET state = 'running', worker = ?3, lease_expires_at = ?2, "
                        "attempts = attempts + 1, started_at = ?4, lease_token = ?5 WHERE id = ?1 "
                        "RETURNING attempts");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, now + lease_ms(st->spec));
    if (!redeliver) {
        sqlite3_bind_text(q, 3, worker, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, now);
        if (token > 0)
            sqlite3_bind_int64(q, 5, token);
    }
    int rc = sqlite3_step(q);
    long long attempt = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE || attempt < 0)
        return -1;
    if (!redeliver && attempt_open(db, id, attempt, worker, now) < 0)
        return -1;
    return list_append(db, id, out);
}

struct suggest_tx {
    const struct study *st; /* the study, as loaded */
    const char *worker;     /* who asks */
    long long token;        /* with which token (row id, 0 for none) */
    int count;              /* how many it wants */
    struct lease_plan *out; /* the plan */
    struct serr *e;         /* the error */
};

static int suggest_body(struct db *db, void *arg)
{
    struct suggest_tx *c = arg;
    struct lease_plan *p = c->out;
    store_lease_plan_release(p);
    memset(p, 0, sizeof *p);
    struct study st = *c->st; /* its state may change below */
    st.ref = NULL;            /* borrowed from the caller */
    p->state = st.state;
    /* The worker's own running trials come back first (restart of a worker). */
    /* Only those leased with the same token: a worker's name is no credential. */
    sqlite3_stmt *mine = db_stmt(db, "SELECT id FROM trials WHERE study_id = ? AND worker = ? "
                                     "AND state = 'running' AND COALESCE(lease_token, 0) = ? "
                                     "ORDER BY +number");
    if (!mine)
        return serr_db(c->e, db, "suggest");
    sqlite3_bind_int64(mine, 1, st.id);
    sqlite3_bind_text(mine, 2, c->worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(mine, 3, c->token);
    long long ids[64];
    size_t n_ids = 0;
    int step = SQLITE_DONE;
    while (n_ids < 64 && (step = sqlite3_step(mine)) == SQLITE_ROW)
        ids[n_ids++] = sqlite3_column_int64(mine, 0);
    if (n_ids < 64 && step != SQLITE_DONE) {
        serr_db(c->e, db, "suggest");
        sqlite3_reset(mine);
        return -1;
    }
    sqlite3_reset(mine);
    for (size_t i = 0; i < n_ids && (int)p->trials.n < c->count; i++)
        if (lease_trial(db, &st, ids[i], c->worker, c->token, true, &p->trials) < 0)
            return serr_db(c->e, db, "suggest");
    if (p->trials.n > 0) {
        p->redelivered = true;
        return 0;
    }
    if (store_counts(db, st.id, &p->counts) < 0)
        return serr_db(c->e, db, "suggest");
    int done = store_finish_if_done(db, &st, &p->counts);
    if (done < 0)
        return serr_db(c->e, db, "suggest");
    p->state = st.state;
    if (done || st.state != STUDY_RUNNING)
        return 0;
    if (store_worker_blocked_until(db, st.id, c->worker, &p->blocked_until) < 0)
        return serr_db(c->e, db, "suggest");
    if (p->blocked_until > time_now_ms())
        return 0;
    p->blocked_until = 0;
    long long running = p->counts.running;
    long long created = p->counts.pending + p->counts.running + p->counts.completed +
                        p->counts.failed + p->counts.pruned;
    while ((int)(p->trials.n + p->want) < c->count && running < st.spec->max_parallel) {
        sqlite3_stmt *q = db_stmt(db, "SELECT id FROM trials WHERE study_id = ? AND state = "
                                      "'pending' ORDER BY +number LIMIT 1");
        if (!q)
            return serr_db(c->e, db, "suggest");
        sqlite3_bind_int64(q, 1, st.id);
        int got = sqlite3_step(q);
        long long id = got == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
        if (got != SQLITE_ROW && got != SQLITE_DONE) {
            serr_db(c->e, db, "suggest");
            sqlite3_reset(q);
            return -1;
        }
        sqlite3_reset(q);
        if (id >= 0) {
            if (lease_trial(db, &st, id, c->worker, c->token, false, &p->trials) < 0)
                return serr_db(c->e, db, "suggest");
            running++;
            continue;
        }
        if (created + (long long)p->want >= st.spec->max_trials)
            break;
        p->want++;
        running++;
    }
    return 0;
}

int store_suggest_lease(struct db *db, const struct study *st, const char *worker, long long token,
                        int count, struct lease_plan *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    struct suggest_tx c = {st, worker, token, count, out, e};
    if (store_run(db, suggest_body, &c, e, "suggest") < 0) {
        store_lease_plan_release(out);
        return -1;
    }
    return 0;
}

struct create_trials_tx {
    const struct study *st;   /* the study */
    const char *worker;       /* who gets them */
    long long token;          /* with which token (row id, 0 for none) */
    json_t *const *configs;   /* params */
    char *const *sources;     /* their sources */
    size_t n;                 /* how many */
    store_created_fn created; /* told of each */
    void *arg;                /* its argument */
    struct trial_list *out;   /* appended to */
    size_t n_before;          /* out's length at the start */
    struct serr *e;           /* the error */
};

/* Insert a new trial for params, already leased to worker (one row write
 * rather than a pending row then its lease). */
static int create_one(struct db *db, struct create_trials_tx *c, size_t i)
{
    char *text = json_dumps(c->configs[i], JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!text)
        return serr_set(c->e, 500, "internal", "out of memory");
    sqlite3_stmt *ins = db_stmt(db, "INSERT INTO trials (study_id, number, state, params, source, "
                                    "created_at, worker, lease_expires_at, attempts, started_at, "
                                    "lease_token) VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, "
                                    "1, ?5, ?8)");
    long long number = next_number(db, c->st->id);
    int rc = -1;
    if (!ins || number < 0)
        goto out_db;
    int64_t now = time_now_ms();
    sqlite3_bind_int64(ins, 1, c->st->id);
    sqlite3_bind_int64(ins, 2, number);
    sqlite3_bind_text(ins, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, c->sources[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 5, now);
    sqlite3_bind_text(ins, 6, c->worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 7, now + lease_ms(c->st->spec));
    if (c->token > 0)
        sqlite3_bind_int64(ins, 8, c->token);
    int s = sqlite3_step(ins);
    if (s != SQLITE_DONE)
        serr_db(c->e, db, "suggest");
    sqlite3_reset(ins);
    if (s != SQLITE_DONE)
        goto out_free;
    long long id = sqlite3_last_insert_rowid(db_handle(db));
    if (attempt_open(db, id, 1, c->worker, now) < 0 || list_append(db, id, c->out) < 0)
        goto out_db;
    rc = c->created ? c->created(db, c->arg, i, number) : 0;
    if (rc < 0 && c->e->status == 0)
        goto out_db;
    goto out_free;
out_db:
    rc = serr_db(c->e, db, "suggest");
out_free:
    free(text);
    return rc;
}

static int create_trials_body(struct db *db, void *arg)
{
    struct create_trials_tx *c = arg;
    while (c->out->n > c->n_before)
        store_trial_release(&c->out->v[--c->out->n]);
    for (size_t i = 0; i < c->n; i++)
        if (create_one(db, c, i) < 0)
            return -1;
    return 0;
}

int store_trials_create(struct db *db, const struct study *st, const char *worker, long long token,
                        json_t *const *configs, char *const *sources, size_t n,
                        store_created_fn created, void *arg, struct trial_list *out, struct serr *e)
{
    if (n == 0)
        return 0;
    struct create_trials_tx c = {st,      worker, token, configs, sources, n,
                                 created, arg,    out,   out->n,  e};
    if (store_run(db, create_trials_body, &c, e, "suggest") < 0) {
        while (out->n > c.n_before)
            store_trial_release(&out->v[--out->n]);
        return -1;
    }
    return 0;
}

void store_outcomes_free(struct trial_outcome *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(v[i].params);
        json_decref(v[i].values);
    }
    free(v);
}

int store_outcomes(struct db *db, long long study_id, bool values, struct trial_outcome **out,
                   size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q = values ? db_stmt(db, "SELECT params, state, value, last_value, number, id, "
                                           "last_step, values_json FROM trials WHERE study_id = ? "
                                           "ORDER BY number")
                             : db_stmt(db, "SELECT params, state, value, last_value, number, id, "
                                           "last_step FROM trials WHERE study_id = ? ORDER BY "
                                           "number");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct trial_outcome o;
        if (trial_state_parse((const char *)sqlite3_column_text(q, 1), &o.state) < 0)
            continue;
        o.params = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
        if (!o.params)
            continue;
        if (*n == cap) {
            size_t c = cap ? 2 * cap : 64;
            struct trial_outcome *v = realloc(*out, c * sizeof *v);
            if (!v) {
                json_decref(o.params);
                rc = SQLITE_NOMEM;
                break;
            }
            *out = v;
            cap = c;
        }
        o.value = col_double(q, 2);
        o.last_value = col_double(q, 3);
        o.number = sqlite3_column_int64(q, 4);
        o.id = sqlite3_column_int64(q, 5);
        o.last_step = sqlite3_column_type(q, 6) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 6);
        o.values = values ? col_json(q, 7) : NULL;
        (*out)[(*n)++] = o;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        store_outcomes_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

void store_curves_free(struct study_curves *c)
{
    free(c->id);
    free(c->last);
    free(c->off);
    free(c->step);
    free(c->val);
    memset(c, 0, sizeof *c);
}

int store_curves(struct db *db, long long study_id, size_t max_reports, struct study_curves *c)
{
    memset(c, 0, sizeof *c);
    sqlite3_stmt *q = db_stmt(db, "SELECT t.id, t.last_step, r.step, r.value FROM trials t JOIN "
                                  "trial_reports r ON r.trial_id = t.id WHERE t.study_id = ? AND "
                                  "t.state <> 'pending' ORDER BY t.id, r.step");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    size_t capt = 0, capr = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (c->nr == max_reports) {
            rc = SQLITE_TOOBIG;
            break;
        }
        long long id = sqlite3_column_int64(q, 0);
        if (c->nt == 0 || c->id[c->nt - 1] != id) {
            if (c->nt + 1 >= capt) {
                capt = capt ? 2 * capt : 256;
                long long *ni = realloc(c->id, capt * sizeof *ni);
                if (ni)
                    c->id = ni;
                long long *nl = realloc(c->last, capt * sizeof *nl);
                if (nl)
                    c->last = nl;
                size_t *no = realloc(c->off, (capt + 1) * sizeof *no);
                if (no)
                    c->off = no;
                if (!ni || !nl || !no) {
                    rc = SQLITE_NOMEM;
                    break;
                }
            }
            c->id[c->nt] = id;
            c->last[c->nt] = sqlite3_column_int64(q, 1);
            c->off[c->nt++] = c->nr;
        }
        if (c->nr == capr) {
            capr = capr ? 2 * capr : 4096;
            long long *ns = realloc(c->step, capr * sizeof *ns);
            if (ns)
                c->step = ns;
            double *nv = realloc(c->val, capr * sizeof *nv);
            if (nv)
                c->val = nv;
            if (!ns || !nv) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        c->step[c->nr] = sqlite3_column_int64(q, 2);
        c->val[c->nr++] = col_double(q, 3);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        store_curves_free(c);
        return -1;
    }
    if (c->off)
        c->off[c->nt] = c->nr;
    return 0;
}
