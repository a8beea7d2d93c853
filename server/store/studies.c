#include <config.h>
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "log.h"
#include "store_int.h"
#include "timeutil.h"

int study_from_row(struct db *db, sqlite3_stmt *q, struct study *st, struct serr *e)
{
    memset(st, 0, sizeof *st);
    st->id = sqlite3_column_int64(q, 0);
    snprintf(st->name, sizeof st->name, "%s", (const char *)sqlite3_column_text(q, 1));
    const char *state = (const char *)sqlite3_column_text(q, 2);
    if (study_state_parse(state, &st->state) < 0)
        return serr_set(e, 500, "corrupt_study", "study \"%s\" has an unknown state \"%s\"",
                        st->name, state ? state : "");
    st->direction = sqlite3_column_int(q, 3);
    st->created_at = sqlite3_column_int64(q, 4);
    st->ref = spec_ref(db, st->id, st->created_at);
    st->spec = spec_of(st->ref);
    if (!st->spec)
        return serr_set(e, 500, "corrupt_spec", "stored spec of study \"%s\" does not parse",
                        st->name);
    return 0;
}

int store_study_load(struct db *db, const char *name, struct study *st, struct serr *e)
{
    memset(st, 0, sizeof *st);
    sqlite3_stmt *q =
        db_stmt(db, "SELECT id, name, state, direction, created_at FROM studies WHERE name = ?");
    if (!q)
        return serr_db(e, db, "load study");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(q);
        return serr_set(e, 404, "not_found", "no study named \"%s\"", name);
    }
    if (rc != SQLITE_ROW) {
        serr_db(e, db, "load study");
        sqlite3_reset(q);
        return -1;
    }
    rc = study_from_row(db, q, st, e);
    sqlite3_reset(q);
    return rc;
}

int store_study_load_id(struct db *db, long long id, struct study *st, struct serr *e)
{
    memset(st, 0, sizeof *st);
    sqlite3_stmt *q =
        db_stmt(db, "SELECT id, name, state, direction, created_at FROM studies WHERE id = ?");
    if (!q)
        return serr_db(e, db, "load study");
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            serr_set(e, 404, "not_found", "no study with id %lld", id);
        else
            serr_db(e, db, "load study");
        sqlite3_reset(q);
        return -1;
    }
    rc = study_from_row(db, q, st, e);
    sqlite3_reset(q);
    return rc;
}

void store_study_release(struct study *st)
{
    spec_unref(st->ref);
    st->ref = NULL;
    st->spec = NULL;
}

int store_counts(struct db *db, long long study_id, struct counts *c)
{
    memset(c, 0, sizeof *c);
    /* Every trial takes a number from next_number and trials are only deleted
     * with their study, so the completed ones are what the other states leave:
     * each count below is a range of the (study_id, state, value) index, and the
     * large one, completed, is never scanned. */
    sqlite3_stmt *q =
        db_stmt(db, "SELECT s.next_number, "
                    "(SELECT COUNT(*) FROM trials WHERE study_id = s.id AND state = 'pending'), "
                    "(SELECT COUNT(*) FROM trials WHERE study_id = s.id AND state = 'running'), "
                    "(SELECT COUNT(*) FROM trials WHERE study_id = s.id AND state = 'failed'), "
                    "(SELECT COUNT(*) FROM trials WHERE study_id = s.id AND state = 'pruned') "
                    "FROM studies s WHERE s.id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        long long total = sqlite3_column_int64(q, 0);
        c->next_number = total;
        c->pending = sqlite3_column_int64(q, 1);
        c->running = sqlite3_column_int64(q, 2);
        c->failed = sqlite3_column_int64(q, 3);
        c->pruned = sqlite3_column_int64(q, 4);
        c->completed = total - c->pending - c->running - c->failed - c->pruned;
        if (c->completed < 0)
            c->completed = 0; /* rows written around the store, not numbered */
        rc = SQLITE_DONE;
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The best completed trial of a study into *out (a new allocation, NULL when
 * there is none); 0 or -1. */
static int best_trial(struct db *db, long long study_id, int direction, struct trial **out)
{
    *out = NULL;
    sqlite3_stmt *q =
        direction > 0 ? db_stmt(db, "SELECT " TRIAL_COLS " FROM trials t WHERE t.study_id = ? AND "
                                    "t.state = 'completed' AND t.value IS NOT NULL AND "
                                    "COALESCE(t.feasible, 1) = 1 "
                                    "ORDER BY t.value ASC, t.number ASC LIMIT 1")
                      : db_stmt(db, "SELECT " TRIAL_COLS " FROM trials t WHERE t.study_id = ? AND "
                                    "t.state = 'completed' AND t.value IS NOT NULL AND "
                                    "COALESCE(t.feasible, 1) = 1 "
                                    "ORDER BY t.value DESC, t.number ASC LIMIT 1");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *out = calloc(1, sizeof **out);
        if (*out)
            trial_read(q, *out);
        rc = *out ? SQLITE_DONE : SQLITE_NOMEM;
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The columns study_info_read() reads. */
#define STUDY_COLS                                                                                 \
    "s.id, s.name, s.state, s.direction, s.spec, s.tokens_in, s.tokens_out, s.cost_usd, "          \
    "s.created_at, s.finished_at, s.note, s.note_at, s.n_objectives, s.n_constraints, "            \
    "s.reference, (SELECT count(*) FROM trials p WHERE p.study_id = s.id AND p.pareto = 1)"

static int study_info_read(struct db *db, sqlite3_stmt *q, struct study_info *s)
{
    memset(s, 0, sizeof *s);
    s->id = sqlite3_column_int64(q, 0);
    snprintf(s->name, sizeof s->name, "%s", (const char *)sqlite3_column_text(q, 1));
    study_state_parse((const char *)sqlite3_column_text(q, 2), &s->state);
    s->direction = sqlite3_column_int(q, 3);
    s->spec = col_json(q, 4);
    if (!s->spec)
        s->spec = json_null();
    s->tokens_in = sqlite3_column_int64(q, 5);
    s->tokens_out = sqlite3_column_int64(q, 6);
    s->cost_usd = sqlite3_column_double(q, 7);
    s->created_at = col_time(q, 8);
    s->finished_at = col_time(q, 9);
    s->note = col_strdup(q, 10);
    s->note_at = col_time(q, 11);
    s->n_objectives = (size_t)sqlite3_column_int(q, 12);
    s->n_constraints = (size_t)sqlite3_column_int(q, 13);
    s->reference_derived =
        s->n_objectives <= SPEC_MAX_OBJECTIVES &&
        objs_parse((const char *)sqlite3_column_text(q, 14), s->reference, s->n_objectives);
    s->pareto_size = sqlite3_column_int64(q, 15);
    if (store_counts(db, s->id, &s->counts) < 0 ||
        best_trial(db, s->id, s->direction, &s->best) < 0)
        return -1;
    return 0;
}

void store_study_info_release(struct study_info *info)
{
    json_decref(info->spec);
    if (info->best)
        store_trial_release(info->best);
    free(info->best);
    free(info->note);
    memset(info, 0, sizeof *info);
}

void store_study_list_release(struct study_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        store_study_info_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int study_get_in(struct db *db, const char *name, struct study_info *out, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT " STUDY_COLS " FROM studies s WHERE s.name = ?");
    if (!q)
        return serr_db(e, db, "get study");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        rc = study_info_read(db, q, out);
        if (rc < 0) {
            serr_db(e, db, "get study");
            store_study_info_release(out);
        }
    } else if (rc == SQLITE_DONE) {
        rc = serr_set(e, 404, "not_found", "no study named \"%s\"", name);
    } else {
        rc = serr_db(e, db, "get study");
    }
    sqlite3_reset(q);
    return rc;
}

int store_study_get(struct db *db, const char *name, struct study_info *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    return study_get_in(db, name, out, e);
}

struct create_tx {
    const struct spec *sp;  /* the study */
    const char *spec_in;    /* as submitted, canonical */
    const char *spec_full;  /* with defaults */
    struct study_info *out; /* the study */
    bool created;           /* inserted now */
    struct serr *e;         /* the error */
};

static int create_body(struct db *db, void *arg)
{
    struct create_tx *c = arg;
    c->created = false;
    store_study_info_release(c->out);
    sqlite3_stmt *q = db_stmt(db, "SELECT spec_in FROM studies WHERE name = ?");
    if (!q)
        return serr_db(c->e, db, "create study");
    sqlite3_bind_text(q, 1, c->sp->name, -1, SQLITE_STATIC);
    int step = sqlite3_step(q);
    if (step == SQLITE_ROW) {
        bool same = strcmp((const char *)sqlite3_column_text(q, 0), c->spec_in) == 0;
        sqlite3_reset(q);
        if (!same)
            return serr_set(c->e, 409, "name_taken",
                            "a study named \"%s\" exists with another spec: choose another name "
                            "or delete it first",
                            c->sp->name);
    } else {
        if (step != SQLITE_DONE)
            serr_db(c->e, db, "create study");
        sqlite3_reset(q);
        if (step != SQLITE_DONE)
            return -1;
        sqlite3_stmt *ins = db_stmt(db, "INSERT INTO studies (name, spec, spec_in, direction, "
                                        "created_at, n_objectives, n_constraints) VALUES (?, ?, "
                                        "?, ?, ?, ?, ?)");
        if (!ins)
            return serr_db(c->e, db, "create study");
        sqlite3_bind_text(ins, 1, c->sp->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, c->spec_full, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, c->spec_in, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 4, c->sp->maximize ? -1 : 1);
        sqlite3_bind_int64(ins, 5, time_now_ms());
        sqlite3_bind_int64(ins, 6, (long long)c->sp->n_objectives);
        sqlite3_bind_int64(ins, 7, (long long)c->sp->n_constraints);
        step = sqlite3_step(ins);
        if (step != SQLITE_DONE)
            serr_db(c->e, db, "create study");
        sqlite3_reset(ins);
        if (step != SQLITE_DONE)
            return -1;
        c->created = true;
    }
    return study_get_in(db, c->sp->name, c->out, c->e);
}

int store_study_create(struct db *db, const json_t *in, const struct spec *sp,
                       struct study_info *out, bool *created, struct serr *e)
{
    memset(out, 0, sizeof *out);
    *created = false;
    char *spec_in = json_canonical(in);
    char *spec_full = json_dumps(sp->json, JSON_COMPACT | JSON_REAL_PRECISION(17));
    int rc = -1;
    if (!spec_in || !spec_full) {
        serr_set(e, 500, "internal", "out of memory");
        goto out_free;
    }
    struct create_tx c = {sp, spec_in, spec_full, out, false, e};
    rc = store_run(db, create_body, &c, e, "create study");
    if (rc < 0) {
        store_study_info_release(out);
        goto out_free;
    }
    *created = c.created;
    if (c.created)
        log_info("study \"%s\" created (sampler %s, %ld trials)", sp->name, sp->sampler,
                 sp->max_trials);
out_free:
    free(spec_in);
    free(spec_full);
    return rc;
}

int store_study_list(struct db *db, struct study_list *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = db_stmt(db, "SELECT " STUDY_COLS " FROM studies s ORDER BY s.id");
    if (!q)
        return serr_db(e, db, "list studies");
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (out->n == cap) {
            size_t c = cap ? 2 * cap : 16;
            struct study_info *v = realloc(out->v, c * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            out->v = v;
            cap = c;
        }
        if (study_info_read(db, q, &out->v[out->n++]) < 0) {
            rc = SQLITE_ERROR;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        serr_db(e, db, "list studies");
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        store_study_list_release(out);
        return -1;
    }
    return 0;
}

int finish_study(struct db *db, long long study_id, const char *why)
{
    int64_t now = time_now_ms();
    sqlite3_stmt *q = db_stmt(db, "UPDATE studies SET state = 'finished', finished_at = ? "
                                  "WHERE id = ? AND state != 'finished'");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, study_id);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return -1;
    sqlite3_stmt *a = db_stmt(db, "UPDATE trial_attempts SET ended_at = ?, outcome = 'stopped' "
                                  "WHERE ended_at IS NULL AND trial_id IN (SELECT id FROM trials "
                                  "WHERE study_id = ? AND state = 'running')");
    if (!a)
        return -1;
    sqlite3_bind_int64(a, 1, now);
    sqlite3_bind_int64(a, 2, study_id);
    rc = sqlite3_step(a);
    sqlite3_reset(a);
    if (rc != SQLITE_DONE)
        return -1;
    sqlite3_stmt *t =
        db_stmt(db, "UPDATE trials SET state = 'failed', finished_at = ?, error = ?, "
                    "lease_expires_at = NULL WHERE study_id = ? AND state = 'running'");
    if (!t)
        return -1;
    sqlite3_bind_int64(t, 1, now);
    sqlite3_bind_text(t, 2, why, -1, SQLITE_STATIC);
    sqlite3_bind_int64(t, 3, study_id);
    rc = sqlite3_step(t);
    sqlite3_reset(t);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_finish_if_done(struct db *db, struct study *st, const struct counts *c)
{
    if (st->state == STUDY_FINISHED)
        return 1;
    const char *why = lifecycle_finish_reason(c, st->spec);
    if (!why)
        return 0;
    if (finish_study(db, st->id, why) < 0)
        return -1;
    st->state = STUDY_FINISHED;
    log_info("study \"%s\" finished: %lld completed, %lld failed, %lld pruned%s", st->name,
             c->completed, c->failed, c->pruned,
             c->failed >= st->spec->max_failures ? " (max_failures reached)" : "");
    return 1;
}

struct set_state_tx {
    const char *name;       /* the study */
    enum study_state state; /* wanted */
    struct study_info *out; /* the study after */
    struct serr *e;         /* the error */
};

static int set_state_body(struct db *db, void *arg)
{
    struct set_state_tx *c = arg;
    store_study_info_release(c->out);
    struct study st;
    if (store_study_load(db, c->name, &st, c->e) < 0) {
        store_study_release(&st);
        return -1;
    }
    int rc = 0;
    if (c->state == STUDY_RUNNING && st.state == STUDY_FINISHED) {
        struct counts n;
        if (store_counts(db, st.id, &n) < 0) {
            rc = serr_db(c->e, db, "set study state");
            goto out_release;
        }
        if (lifecycle_finish_reason(&n, st.spec)) {
            rc =
                serr_set(c->e, 409, "budget_spent",
                         "study \"%s\" has spent its budget (%lld of %ld trials finished, %lld "
                         "failed): it cannot run again",
                         c->name, n.completed + n.failed + n.pruned, st.spec->max_trials, n.failed);
            goto out_release;
        }
    }
    if (c->state == STUDY_FINISHED) {
        if (finish_study(db, st.id, "stopped: the study was finished by a person") < 0)
            rc = serr_db(c->e, db, "set study state");
    } else {
        sqlite3_stmt *q = db_stmt(db, "UPDATE studies SET state = ?, finished_at = NULL "
                                      "WHERE id = ?");
        if (!q) {
            rc = serr_db(c->e, db, "set study state");
            goto out_release;
        }
        sqlite3_bind_text(q, 1, study_state_name(c->state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, st.id);
        if (sqlite3_step(q) != SQLITE_DONE)
            rc = serr_db(c->e, db, "set study state");
        sqlite3_reset(q);
    }
    if (rc == 0)
        rc = study_get_in(db, c->name, c->out, c->e);
out_release:
    store_study_release(&st);
    return rc;
}

int store_study_set_state(struct db *db, const char *name, enum study_state state,
                          struct study_info *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    struct set_state_tx c = {name, state, out, e};
    if (store_run(db, set_state_body, &c, e, "set study state") < 0) {
        store_study_info_release(out);
        return -1;
    }
    log_info("study \"%s\" is now %s", name, study_state_name(state));
    return 0;
}

struct delete_tx {
    const char *name; /* the study */
    long long id;     /* its id, once deleted */
    struct serr *e;   /* the error */
};

static int delete_body(struct db *db, void *arg)
{
    struct delete_tx *c = arg;
    c->id = 0;
    sqlite3_stmt *q = db_stmt(db, "DELETE FROM studies WHERE name = ? RETURNING id");
    if (!q)
        return serr_db(c->e, db, "delete study");
    sqlite3_bind_text(q, 1, c->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        c->id = sqlite3_column_int64(q, 0);
        rc = sqlite3_step(q);
    }
    if (rc != SQLITE_DONE)
        serr_db(c->e, db, "delete study");
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return -1;
    if (c->id == 0)
        return serr_set(c->e, 404, "not_found", "no study named \"%s\"", c->name);
    return 0;
}

int store_study_delete(struct db *db, const char *name, struct serr *e)
{
    struct delete_tx c = {name, 0, e};
    if (store_run(db, delete_body, &c, e, "delete study") < 0)
        return -1;
    spec_cache_forget(c.id);
    log_info("study \"%s\" deleted", name);
    return 0;
}
