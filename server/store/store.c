#include <config.h>
#include "store.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heartbeats.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "pruner_hook.h"
#include "settings.h"
#include "timeutil.h"

static atomic_uint_fast64_t event_seq = 1;

uint64_t store_event_seq(void)
{
    return atomic_load(&event_seq);
}

void store_event_bump(void)
{
    atomic_fetch_add(&event_seq, 1);
}

int serr_set(struct serr *e, unsigned status, const char *code, const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    e->retry_after_s = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int serr_db(struct serr *e, struct db *db, const char *what)
{
    if (db_unavailable(db)) {
        serr_set(e, 503, "storage_unavailable", "%s: storage unavailable: %s", what, db_errmsg(db));
        e->retry_after_s = 5;
        return -1;
    }
    return serr_set(e, 500, "storage_error", "%s: %s", what, db_errmsg(db));
}

/* --- small column helpers --- */

static json_t *col_time(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    char s[40];
    time_format_rfc3339(sqlite3_column_int64(st, i), s, sizeof s);
    return json_string(s);
}

static json_t *col_real(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_real(sqlite3_column_double(st, i));
}

static json_t *col_int(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_integer(sqlite3_column_int64(st, i));
}

static json_t *col_text(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? json_string(s) : json_null();
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    if (!s)
        return json_null();
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

json_t *store_trial_row(sqlite3_stmt *st)
{
    json_t *t = json_object();
    json_object_set_new(t, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(t, "number", json_integer(sqlite3_column_int64(st, 1)));
    json_object_set_new(t, "state", col_text(st, 2));
    json_object_set_new(t, "params", col_json(st, 3));
    json_object_set_new(t, "value", col_real(st, 4));
    json_object_set_new(t, "values", col_json(st, 5));
    json_object_set_new(t, "source", col_text(st, 6));
    json_object_set_new(t, "worker", col_text(st, 7));
    json_object_set_new(t, "attempts", json_integer(sqlite3_column_int64(st, 8)));
    json_object_set_new(t, "created_at", col_time(st, 9));
    json_object_set_new(t, "started_at", col_time(st, 10));
    json_object_set_new(t, "finished_at", col_time(st, 11));
    json_object_set_new(t, "error", col_text(st, 12));
    json_object_set_new(t, "last_step", col_int(st, 13));
    json_object_set_new(t, "last_value", col_real(st, 14));
    int64_t held = sqlite3_column_type(st, 15) == SQLITE_NULL
                       ? 0
                       : heartbeats_deadline(sqlite3_column_int64(st, 0));
    if (held > sqlite3_column_int64(st, 15)) {
        char when[40];
        time_format_rfc3339(held, when, sizeof when);
        json_object_set_new(t, "lease_expires_at", json_string(when));
    } else {
        json_object_set_new(t, "lease_expires_at", col_time(st, 15));
    }
    json_object_set_new(t, "sandbox", col_text(st, 16));
    return t;
}

/* --- studies --- */

/* Parsed specs by study id. A spec never changes once stored, so each is parsed
 * once and shared read-only by every thread. The key is the study's id with its
 * creation time, so that a study deleted and its id reused (by a study created
 * later) is not mistaken for the old one; the text is read from the database
 * only on a miss. Old entries are kept, since another thread may still be
 * reading them. */
struct spec_entry {
    long long id;            /* study row id */
    long long created_at;    /* its creation time, ms */
    struct spec *spec;       /* owned, immutable */
    struct spec_entry *next; /* list link */
};
static pthread_mutex_t spec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spec_entry *spec_cache;

static const struct spec *spec_cached(struct db *db, long long id, long long created_at)
{
    pthread_mutex_lock(&spec_lock);
    for (struct spec_entry *s = spec_cache; s; s = s->next) {
        if (s->id == id && s->created_at == created_at) {
            pthread_mutex_unlock(&spec_lock);
            return s->spec;
        }
    }
    pthread_mutex_unlock(&spec_lock);
    sqlite3_stmt *q = db_stmt(db, "SELECT spec FROM studies WHERE id = ? AND created_at = ?");
    if (!q)
        return NULL;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, created_at);
    json_t *j = NULL;
    if (sqlite3_step(q) == SQLITE_ROW)
        j = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    sqlite3_reset(q);
    char err[256];
    struct spec *sp = j ? spec_parse(j, err, sizeof err) : NULL;
    json_decref(j);
    struct spec_entry *e = sp ? calloc(1, sizeof *e) : NULL;
    if (!e) {
        spec_free(sp);
        return NULL;
    }
    e->id = id;
    e->created_at = created_at;
    e->spec = sp;
    pthread_mutex_lock(&spec_lock);
    e->next = spec_cache;
    spec_cache = e;
    pthread_mutex_unlock(&spec_lock);
    return sp;
}

/* A deleted study's id may be given again: its entries must not match. They
 * stay allocated for threads that may still hold them. */
static void spec_cache_forget(long long id)
{
    pthread_mutex_lock(&spec_lock);
    for (struct spec_entry *s = spec_cache; s; s = s->next)
        if (s->id == id)
            s->id = 0;
    pthread_mutex_unlock(&spec_lock);
}

void store_spec_cache_free(void)
{
    pthread_mutex_lock(&spec_lock);
    while (spec_cache) {
        struct spec_entry *e = spec_cache;
        spec_cache = e->next;
        spec_free(e->spec);
        free(e);
    }
    pthread_mutex_unlock(&spec_lock);
}

static int study_from_row(struct db *db, sqlite3_stmt *q, struct study *st, struct serr *e)
{
    memset(st, 0, sizeof *st);
    st->id = sqlite3_column_int64(q, 0);
    snprintf(st->name, sizeof st->name, "%s", (const char *)sqlite3_column_text(q, 1));
    snprintf(st->state, sizeof st->state, "%s", (const char *)sqlite3_column_text(q, 2));
    st->direction = sqlite3_column_int(q, 3);
    st->spec = spec_cached(db, st->id, sqlite3_column_int64(q, 4));
    if (!st->spec)
        return serr_set(e, 500, "corrupt_spec", "stored spec of study \"%s\" does not parse",
                        st->name);
    return 0;
}

int store_study_load(struct db *db, const char *name, struct study *st, struct serr *e)
{
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
        sqlite3_reset(q);
        return serr_db(e, db, "load study");
    }
    rc = study_from_row(db, q, st, e);
    sqlite3_reset(q);
    return rc;
}

int store_study_load_id(struct db *db, long long id, struct study *st, struct serr *e)
{
    sqlite3_stmt *q =
        db_stmt(db, "SELECT id, name, state, direction, created_at FROM studies WHERE id = ?");
    if (!q)
        return serr_db(e, db, "load study");
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        return rc == SQLITE_DONE ? serr_set(e, 404, "not_found", "no study with id %lld", id)
                                 : serr_db(e, db, "load study");
    }
    rc = study_from_row(db, q, st, e);
    sqlite3_reset(q);
    return rc;
}

void store_study_release(struct study *st)
{
    st->spec = NULL; /* borrowed from the cache */
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

static json_t *counts_json(const struct counts *c)
{
    return json_pack("{sI sI sI sI sI}", "pending", (json_int_t)c->pending, "running",
                     (json_int_t)c->running, "completed", (json_int_t)c->completed, "failed",
                     (json_int_t)c->failed, "pruned", (json_int_t)c->pruned);
}

/* Best completed trial of a study as JSON, or json_null(). */
static json_t *best_trial(struct db *db, long long study_id, int direction)
{
    sqlite3_stmt *q =
        direction > 0
            ? db_stmt(db, "SELECT " STORE_TRIAL_COLS " FROM trials t WHERE t.study_id = ? AND "
                          "t.state = 'completed' AND t.value IS NOT NULL "
                          "ORDER BY t.value ASC, t.number ASC LIMIT 1")
            : db_stmt(db, "SELECT " STORE_TRIAL_COLS " FROM trials t WHERE t.study_id = ? AND "
                          "t.state = 'completed' AND t.value IS NOT NULL "
                          "ORDER BY t.value DESC, t.number ASC LIMIT 1");
    if (!q)
        return json_null();
    sqlite3_bind_int64(q, 1, study_id);
    json_t *t = sqlite3_step(q) == SQLITE_ROW ? store_trial_row(q) : json_null();
    sqlite3_reset(q);
    return t;
}

/* The summary of a study row selected by STUDY_COLS. */
#define STUDY_COLS                                                                                 \
    "s.id, s.name, s.state, s.direction, s.spec, s.tokens_in, s.tokens_out, s.cost_usd, "          \
    "s.created_at, s.finished_at"

static json_t *study_json(struct db *db, sqlite3_stmt *q, bool full)
{
    long long id = sqlite3_column_int64(q, 0);
    int direction = sqlite3_column_int(q, 3);
    json_t *spec = col_json(q, 4);
    struct counts c;
    store_counts(db, id, &c);
    json_t *best = best_trial(db, id, direction);
    json_t *s = json_object();
    json_object_set_new(s, "name", col_text(q, 1));
    json_object_set_new(s, "state", col_text(q, 2));
    json_object_set_new(s, "description", json_string(json_str(spec, "description", "")));
    json_object_set_new(s, "objective",
                        json_string(json_str(json_object_get(spec, "objective"), "name", "value")));
    json_object_set_new(s, "direction", json_string(direction > 0 ? "minimize" : "maximize"));
    json_object_set_new(s, "sampler",
                        json_string(json_str(json_object_get(spec, "sampler"), "name", "auto")));
    json_object_set_new(s, "max_trials",
                        json_integer(json_int(json_object_get(spec, "budget"), "max_trials", 0)));
    json_object_set_new(s, "counts", counts_json(&c));
    json_object_set_new(s, "best_value",
                        json_is_object(best) ? json_incref(json_object_get(best, "value"))
                                             : json_null());
    json_object_set_new(s, "llm",
                        json_pack("{sI sI sf}", "tokens_in", (json_int_t)sqlite3_column_int64(q, 5),
                                  "tokens_out", (json_int_t)sqlite3_column_int64(q, 6), "cost_usd",
                                  sqlite3_column_double(q, 7)));
    json_object_set_new(s, "created_at", col_time(q, 8));
    json_object_set_new(s, "finished_at", col_time(q, 9));
    if (full) {
        json_object_set_new(s, "best", best);
        json_object_set_new(s, "spec", spec);
    } else {
        json_decref(best);
        json_decref(spec);
    }
    return s;
}

static json_t *study_get_locked(struct db *db, const char *name, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT " STUDY_COLS " FROM studies s WHERE s.name = ?");
    if (!q) {
        serr_db(e, db, "get study");
        return NULL;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    json_t *out = NULL;
    if (rc == SQLITE_ROW)
        out = study_json(db, q, true);
    else if (rc == SQLITE_DONE)
        serr_set(e, 404, "not_found", "no study named \"%s\"", name);
    else
        serr_db(e, db, "get study");
    sqlite3_reset(q);
    return out;
}

json_t *store_study_get(struct db *db, const char *name, struct serr *e)
{
    return study_get_locked(db, name, e);
}

int store_study_create(struct db *db, const json_t *in, const struct spec *sp, json_t **out,
                       bool *created, struct serr *e)
{
    char *spec_in = json_canonical(in);
    char *spec_full = json_dumps(sp->json, JSON_COMPACT | JSON_REAL_PRECISION(17));
    int rc = -1;
    *out = NULL;
    *created = false;
    if (!spec_in || !spec_full) {
        serr_set(e, 500, "internal", "out of memory");
        goto out_free;
    }
    if (db_begin(db) < 0) {
        serr_db(e, db, "create study");
        goto out_free;
    }
    sqlite3_stmt *q = db_stmt(db, "SELECT spec_in FROM studies WHERE name = ?");
    if (!q) {
        serr_db(e, db, "create study");
        goto out_rollback;
    }
    sqlite3_bind_text(q, 1, sp->name, -1, SQLITE_STATIC);
    int step = sqlite3_step(q);
    if (step == SQLITE_ROW) {
        bool same = strcmp((const char *)sqlite3_column_text(q, 0), spec_in) == 0;
        sqlite3_reset(q);
        if (!same) {
            serr_set(e, 409, "name_taken",
                     "a study named \"%s\" exists with another spec: choose another name or "
                     "delete it first",
                     sp->name);
            goto out_rollback;
        }
    } else {
        sqlite3_reset(q);
        if (step != SQLITE_DONE) {
            serr_db(e, db, "create study");
            goto out_rollback;
        }
        sqlite3_stmt *ins = db_stmt(db, "INSERT INTO studies (name, spec, spec_in, direction, "
                                        "created_at) VALUES (?, ?, ?, ?, ?)");
        if (!ins) {
            serr_db(e, db, "create study");
            goto out_rollback;
        }
        sqlite3_bind_text(ins, 1, sp->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, spec_full, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, spec_in, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 4, sp->maximize ? -1 : 1);
        sqlite3_bind_int64(ins, 5, time_now_ms());
        step = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (step != SQLITE_DONE) {
            serr_db(e, db, "create study");
            goto out_rollback;
        }
        *created = true;
    }
    if (db_commit(db) < 0) {
        serr_db(e, db, "create study");
        goto out_free;
    }
    *out = study_get_locked(db, sp->name, e);
    rc = *out ? 0 : -1;
    if (*created)
        log_info("study \"%s\" created (sampler %s, %ld trials)", sp->name, sp->sampler,
                 sp->max_trials);
    goto out_free;
out_rollback:
    db_rollback(db);
out_free:
    free(spec_in);
    free(spec_full);
    return rc;
}

json_t *store_study_list(struct db *db, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT " STUDY_COLS " FROM studies s ORDER BY s.id");
    if (!q) {
        serr_db(e, db, "list studies");
        return NULL;
    }
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        json_array_append_new(arr, study_json(db, q, false));
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        serr_db(e, db, "list studies");
        return NULL;
    }
    return json_pack("{so}", "studies", arr);
}

/* Mark a study finished and stop its running trials. In a transaction. */
static int finish_study(struct db *db, long long study_id, const char *why)
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
    store_event_bump();
    return rc == SQLITE_DONE ? 0 : -1;
}

bool store_finish_if_done(struct db *db, struct study *st, const struct counts *c)
{
    if (strcmp(st->state, "finished") == 0)
        return true;
    long long finished = c->completed + c->failed + c->pruned;
    const char *why = NULL;
    if (finished >= st->spec->max_trials)
        why = "stopped: the study reached max_trials";
    else if (c->failed >= st->spec->max_failures)
        why = "stopped: the study reached max_failures";
    if (!why)
        return false;
    if (finish_study(db, st->id, why) < 0)
        return false;
    snprintf(st->state, sizeof st->state, "finished");
    log_info("study \"%s\" finished: %lld completed, %lld failed, %lld pruned%s", st->name,
             c->completed, c->failed, c->pruned,
             c->failed >= st->spec->max_failures ? " (max_failures reached)" : "");
    return true;
}

json_t *store_study_set_state(struct db *db, const char *name, const char *state, struct serr *e)
{
    if (strcmp(state, "running") && strcmp(state, "paused") && strcmp(state, "finished")) {
        serr_set(e, 400, "bad_state",
                 "state: must be \"running\", \"paused\" or \"finished\" (got \"%s\")", state);
        return NULL;
    }
    struct study st;
    if (store_study_load(db, name, &st, e) < 0)
        return NULL;
    if (strcmp(state, "running") == 0 && strcmp(st.state, "finished") == 0) {
        struct counts c;
        long long done = 0;
        if (store_counts(db, st.id, &c) == 0)
            done = c.completed + c.failed + c.pruned;
        if (done >= st.spec->max_trials || c.failed >= st.spec->max_failures) {
            serr_set(e, 409, "budget_spent",
                     "study \"%s\" has spent its budget (%lld of %ld trials finished, %lld "
                     "failed): it cannot run again",
                     name, done, st.spec->max_trials, c.failed);
            store_study_release(&st);
            return NULL;
        }
    }
    if (db_begin(db) < 0) {
        store_study_release(&st);
        serr_db(e, db, "set study state");
        return NULL;
    }
    int rc;
    if (strcmp(state, "finished") == 0) {
        rc = finish_study(db, st.id, "stopped: the study was finished by a person");
    } else {
        sqlite3_stmt *q = db_stmt(db, "UPDATE studies SET state = ?, finished_at = NULL "
                                      "WHERE id = ?");
        rc = -1;
        if (q) {
            sqlite3_bind_text(q, 1, state, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, st.id);
            rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
            sqlite3_reset(q);
        }
    }
    store_study_release(&st);
    if (rc < 0 || db_commit(db) < 0) {
        db_rollback(db);
        serr_db(e, db, "set study state");
        return NULL;
    }
    store_event_bump();
    log_info("study \"%s\" is now %s", name, state);
    return study_get_locked(db, name, e);
}

int store_study_delete(struct db *db, const char *name, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "DELETE FROM studies WHERE name = ? RETURNING id");
    if (!q)
        return serr_db(e, db, "delete study");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    long long id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return serr_db(e, db, "delete study");
    if (id == 0)
        return serr_set(e, 404, "not_found", "no study named \"%s\"", name);
    spec_cache_forget(id);
    store_event_bump();
    log_info("study \"%s\" deleted", name);
    return 0;
}

static long long study_id_of(struct db *db, const char *name, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT id FROM studies WHERE name = ?");
    if (!q)
        return serr_db(e, db, "find study");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    long long id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    if (rc == SQLITE_DONE)
        return serr_set(e, 404, "not_found", "no study named \"%s\"", name);
    if (rc != SQLITE_ROW)
        return serr_db(e, db, "find study");
    return id;
}

json_t *store_trials_page(struct db *db, const char *name, const char *state, const char *source,
                          long long after, long long limit, bool desc, struct serr *e)
{
    long long sid = study_id_of(db, name, e);
    if (sid < 0)
        return NULL;
    sqlite3_stmt *q =
        desc ? db_stmt(db, "SELECT " STORE_TRIAL_COLS " FROM trials t WHERE t.study_id = ?1 "
                           "AND t.number < ?2 AND (?3 IS NULL OR t.state = ?3) "
                           "AND (?5 IS NULL OR t.source = ?5 OR t.source LIKE ?5 || ':%') "
                           "ORDER BY t.number DESC LIMIT ?4")
             : db_stmt(db, "SELECT " STORE_TRIAL_COLS " FROM trials t WHERE t.study_id = ?1 "
                           "AND t.number > ?2 AND (?3 IS NULL OR t.state = ?3) "
                           "AND (?5 IS NULL OR t.source = ?5 OR t.source LIKE ?5 || ':%') "
                           "ORDER BY t.number ASC LIMIT ?4");
    if (!q) {
        serr_db(e, db, "list trials");
        return NULL;
    }
    sqlite3_bind_int64(q, 1, sid);
    sqlite3_bind_int64(q, 2, desc && after < 0 ? (1LL << 62) : after);
    if (state)
        sqlite3_bind_text(q, 3, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, limit + 1);
    if (source)
        sqlite3_bind_text(q, 5, source, -1, SQLITE_STATIC);
    json_t *arr = json_array();
    long long n = 0, last = -1;
    bool more = false;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        json_t *t = store_trial_row(q);
        last = json_integer_value(json_object_get(t, "number"));
        json_array_append_new(arr, t);
        n++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(arr);
        serr_db(e, db, "list trials");
        return NULL;
    }
    sqlite3_stmt *c = db_stmt(db, "SELECT COUNT(*) FROM trials t WHERE t.study_id = ?1 AND "
                                  "(?2 IS NULL OR t.state = ?2) AND (?3 IS NULL OR t.source = ?3 "
                                  "OR t.source LIKE ?3 || ':%')");
    long long total = 0;
    struct counts all;
    if (!state && !source && store_counts(db, sid, &all) == 0) {
        /* no filter: the count is known without scanning the study */
        total = all.pending + all.running + all.completed + all.failed + all.pruned;
    } else if (c) {
        sqlite3_bind_int64(c, 1, sid);
        if (state)
            sqlite3_bind_text(c, 2, state, -1, SQLITE_STATIC);
        if (source)
            sqlite3_bind_text(c, 3, source, -1, SQLITE_STATIC);
        if (sqlite3_step(c) == SQLITE_ROW)
            total = sqlite3_column_int64(c, 0);
        sqlite3_reset(c);
    }
    return json_pack("{so so sI}", "trials", arr, "next_after",
                     more ? json_integer(last) : json_null(), "total", (json_int_t)total);
}

json_t *store_best(struct db *db, const char *name, struct serr *e)
{
    struct study st;
    if (store_study_load(db, name, &st, e) < 0)
        return NULL;
    json_t *t = best_trial(db, st.id, st.direction);
    store_study_release(&st);
    if (!json_is_object(t)) {
        json_decref(t);
        serr_set(e, 404, "no_trials", "study \"%s\" has no completed trial yet", name);
        return NULL;
    }
    return t;
}

json_t *store_enqueue(struct db *db, const char *name, const json_t *params, const char *source,
                      struct serr *e)
{
    struct study st;
    if (store_study_load(db, name, &st, e) < 0)
        return NULL;
    json_t *out = NULL;
    char *text = json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (strcmp(st.state, "finished") == 0) {
        serr_set(e, 409, "study_finished", "study \"%s\" is finished: resume it first", name);
        goto out_release;
    }
    if (db_begin(db) < 0) {
        serr_db(e, db, "enqueue");
        goto out_release;
    }
    sqlite3_stmt *q = db_stmt(db, "UPDATE studies SET next_number = next_number + 1 WHERE id = ? "
                                  "RETURNING next_number - 1");
    long long number = -1;
    if (q) {
        sqlite3_bind_int64(q, 1, st.id);
        if (sqlite3_step(q) == SQLITE_ROW)
            number = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
    }
    sqlite3_stmt *ins = db_stmt(db, "INSERT INTO trials (study_id, number, state, params, "
                                    "source, created_at) VALUES (?, ?, 'pending', ?, ?, ?)");
    if (number < 0 || !ins) {
        serr_db(e, db, "enqueue");
        goto out_rollback;
    }
    sqlite3_bind_int64(ins, 1, st.id);
    sqlite3_bind_int64(ins, 2, number);
    sqlite3_bind_text(ins, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 5, time_now_ms());
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    long long id = sqlite3_last_insert_rowid(db_handle(db));
    if (rc != SQLITE_DONE || db_commit(db) < 0) {
        serr_db(e, db, "enqueue");
        goto out_rollback;
    }
    store_event_bump();
    out = store_trial_get(db, id, e);
    goto out_release;
out_rollback:
    db_rollback(db);
out_release:
    free(text);
    store_study_release(&st);
    return out;
}

json_t *store_trial_get(struct db *db, long long id, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT " STORE_TRIAL_COLS ", s.name, t.prune_reason FROM "
                                  "trials t JOIN studies s ON s.id = t.study_id WHERE t.id = ?");
    if (!q) {
        serr_db(e, db, "get trial");
        return NULL;
    }
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        if (rc == SQLITE_DONE)
            serr_set(e, 404, "not_found", "no trial with id %lld", id);
        else
            serr_db(e, db, "get trial");
        return NULL;
    }
    json_t *t = store_trial_row(q);
    json_object_set_new(t, "study", col_text(q, 17));
    json_object_set_new(t, "prune_reason", col_text(q, 18));
    sqlite3_reset(q);

    json_t *reports = json_array();
    sqlite3_stmt *r = db_stmt(db, "SELECT step, value, values_json, at, prune_p FROM "
                                  "trial_reports WHERE trial_id = ? ORDER BY step");
    if (r) {
        sqlite3_bind_int64(r, 1, id);
        while (sqlite3_step(r) == SQLITE_ROW)
            json_array_append_new(reports,
                                  json_pack("{so so so so so}", "step", col_int(r, 0), "value",
                                            col_real(r, 1), "values", col_json(r, 2), "at",
                                            col_time(r, 3), "prune_p", col_real(r, 4)));
        sqlite3_reset(r);
    }
    json_object_set_new(t, "reports", reports);
    json_t *attempts = json_array();
    sqlite3_stmt *a = db_stmt(db, "SELECT attempt, worker, started_at, ended_at, outcome FROM "
                                  "trial_attempts WHERE trial_id = ? ORDER BY attempt");
    if (a) {
        sqlite3_bind_int64(a, 1, id);
        while (sqlite3_step(a) == SQLITE_ROW)
            json_array_append_new(attempts,
                                  json_pack("{so so so so so}", "attempt", col_int(a, 0), "worker",
                                            col_text(a, 1), "started_at", col_time(a, 2),
                                            "ended_at", col_time(a, 3), "outcome", col_text(a, 4)));
        sqlite3_reset(a);
    }
    json_object_set_new(t, "attempt_log", attempts);
    return t;
}

/* --- the lease --- */

struct lease_row {
    long long study_id; /* owning study */
    char state[16];     /* trial state */
    char worker[160];   /* lease holder, "" when none */
    int attempts;       /* leases so far */
    double last_value;  /* last reported value, NAN if none */
    long long number;   /* trial number */
    bool study_done;    /* its study is finished */
    bool judged;        /* the pruner has stopped it */
    long long created;  /* its study's creation time (the spec cache key) */
};

static int lease_row_load(struct db *db, long long id, struct lease_row *lr, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT t.study_id, t.state, t.worker, t.attempts, "
                                  "t.last_value, t.number, s.state = 'finished', "
                                  "t.prune_step IS NOT NULL, s.created_at FROM trials t JOIN "
                                  "studies s ON s.id = t.study_id WHERE t.id = ?");
    if (!q)
        return serr_db(e, db, "load trial");
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        return rc == SQLITE_DONE ? serr_set(e, 404, "not_found", "no trial with id %lld", id)
                                 : serr_db(e, db, "load trial");
    }
    lr->study_id = sqlite3_column_int64(q, 0);
    snprintf(lr->state, sizeof lr->state, "%s", (const char *)sqlite3_column_text(q, 1));
    const char *w = (const char *)sqlite3_column_text(q, 2);
    snprintf(lr->worker, sizeof lr->worker, "%s", w ? w : "");
    lr->attempts = sqlite3_column_int(q, 3);
    lr->last_value = sqlite3_column_type(q, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 4);
    lr->number = sqlite3_column_int64(q, 5);
    lr->study_done = sqlite3_column_int(q, 6) != 0;
    lr->judged = sqlite3_column_int(q, 7) != 0;
    lr->created = sqlite3_column_int64(q, 8);
    sqlite3_reset(q);
    return 0;
}

static int lease_conflict(struct serr *e, long long id, const struct lease_row *lr,
                          const char *worker)
{
    if (strcmp(lr->state, "running") != 0)
        return serr_set(e, 409, "not_running",
                        "trial %lld is %s, not running: worker \"%s\" holds no lease on it", id,
                        lr->state, worker);
    return serr_set(e, 409, "lease_lost", "trial %lld is leased to worker \"%s\", not \"%s\"", id,
                    lr->worker, worker);
}

int64_t lease_ms(const struct spec *sp)
{
    return (int64_t)(sp->heartbeat_s * 1000.0 * (double)sp->stale_after);
}

static int extend_lease(struct db *db, long long id, const struct lease_row *lr)
{
    const struct spec *sp = spec_cached(db, lr->study_id, lr->created);
    if (!sp)
        return -1;
    int64_t ms = lease_ms(sp);
    sqlite3_stmt *q = db_stmt(db, "UPDATE trials SET lease_expires_at = ? WHERE id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, time_now_ms() + ms);
    sqlite3_bind_int64(q, 2, id);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_heartbeat(struct db *db, long long id, const char *worker, const char **action,
                    struct serr *e)
{
    struct lease_row lr;
    *action = "stop";
    if (lease_row_load(db, id, &lr, e) < 0)
        return -1;
    if (strcmp(lr.state, "running") != 0 || strcmp(lr.worker, worker) != 0)
        return lease_conflict(e, id, &lr, worker);
    const struct spec *sp = spec_cached(db, lr.study_id, lr.created);
    if (!sp)
        return serr_db(e, db, "heartbeat");
    heartbeats_extend(id, time_now_ms() + lease_ms(sp));
    *action = lr.study_done ? "stop" : lr.judged ? "prune" : "continue";
    return 0;
}

int store_report(struct db *db, long long id, const char *worker, long long step, double value,
                 const json_t *values, const char **action, struct serr *e)
{
    struct lease_row lr;
    *action = "continue";
    char *vtext = values ? json_dumps(values, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    int rc = -1;
    if (db_begin(db) < 0) {
        serr_db(e, db, "report");
        goto out_free;
    }
    if (lease_row_load(db, id, &lr, e) < 0)
        goto out_rollback;
    if (strcmp(lr.state, "running") != 0 || strcmp(lr.worker, worker) != 0) {
        lease_conflict(e, id, &lr, worker);
        goto out_rollback;
    }
    sqlite3_stmt *q = db_stmt(db, "INSERT INTO trial_reports (trial_id, step, value, values_json, "
                                  "at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (trial_id, step) DO "
                                  "UPDATE SET value = excluded.value, values_json = "
                                  "excluded.values_json, at = excluded.at");
    sqlite3_stmt *u = db_stmt(db, "UPDATE trials SET last_step = ?2, last_value = ?3 WHERE id = ?1 "
                                  "AND (last_step IS NULL OR last_step <= ?2)");
    if (!q || !u) {
        serr_db(e, db, "report");
        goto out_rollback;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, step);
    if (isfinite(value))
        sqlite3_bind_double(q, 3, value);
    if (vtext)
        sqlite3_bind_text(q, 4, vtext, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, time_now_ms());
    int s1 = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_bind_int64(u, 1, id);
    sqlite3_bind_int64(u, 2, step);
    if (isfinite(value))
        sqlite3_bind_double(u, 3, value);
    int s2 = sqlite3_step(u);
    sqlite3_reset(u);
    if (s1 != SQLITE_DONE || s2 != SQLITE_DONE || extend_lease(db, id, &lr) < 0) {
        serr_db(e, db, "report");
        goto out_rollback;
    }
    if (isfinite(value) && pruner_hook_decide(db, lr.study_id, id, step, value))
        *action = "prune";
    if (db_commit(db) < 0) {
        serr_db(e, db, "report");
        goto out_free;
    }
    rc = 0;
    goto out_free;
out_rollback:
    db_rollback(db);
out_free:
    free(vtext);
    return rc;
}

/* Count the worker's consecutive failures (the cut-off of DESIGN.md). A success
 * with nothing to reset writes nothing, unless last_seen is over 10 s old. */
static int note_worker_result(struct db *db, long long study_id, const char *worker, bool failed)
{
    int64_t now = time_now_ms();
    sqlite3_stmt *q =
        db_stmt(db, "INSERT INTO workers (study_id, worker, last_seen, consecutive_failures) "
                    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (study_id, worker) DO UPDATE SET "
                    "last_seen = ?3, consecutive_failures = CASE WHEN ?4 = 0 THEN 0 ELSE "
                    "consecutive_failures + 1 END WHERE ?4 != 0 OR consecutive_failures != 0 "
                    "OR last_seen < ?3 - 10000 RETURNING consecutive_failures");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_text(q, 2, worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now);
    sqlite3_bind_int(q, 4, failed ? 1 : 0);
    int n = 0;
    if (sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int(q, 0);
    sqlite3_reset(q);
    if (failed && n >= cfg.worker_fail_limit) {
        sqlite3_stmt *b = db_stmt(db, "UPDATE workers SET blocked_until = ?, "
                                      "consecutive_failures = 0 WHERE study_id = ? AND worker = ?");
        if (!b)
            return -1;
        sqlite3_bind_int64(b, 1, now + (int64_t)cfg.worker_cooldown_s * 1000);
        sqlite3_bind_int64(b, 2, study_id);
        sqlite3_bind_text(b, 3, worker, -1, SQLITE_STATIC);
        sqlite3_step(b);
        sqlite3_reset(b);
        log_warn("worker \"%s\" failed %d trials in a row: no new trials for %d s", worker, n,
                 cfg.worker_cooldown_s);
    }
    return 0;
}

int store_complete(struct db *db, long long id, const char *worker, const char *state, double value,
                   const json_t *values, const char *error, const char *sandbox, bool *already,
                   json_t **trial, struct serr *e)
{
    *already = false;
    if (trial)
        *trial = NULL;
    if (strcmp(state, "completed") && strcmp(state, "failed") && strcmp(state, "pruned"))
        return serr_set(e, 400, "bad_state",
                        "state: must be \"completed\", \"failed\" or \"pruned\" (got \"%s\")",
                        state);
    if (strcmp(state, "completed") == 0 && !isfinite(value))
        return serr_set(e, 400, "bad_value",
                        "value: a completed trial needs a finite number as its value");
    struct lease_row lr;
    char *vtext = values ? json_dumps(values, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    int rc = -1;
    if (db_begin(db) < 0) {
        serr_db(e, db, "complete");
        goto out_free;
    }
    if (lease_row_load(db, id, &lr, e) < 0)
        goto out_rollback;
    if (strcmp(lr.state, "running") != 0) {
        if (strcmp(lr.state, state) == 0 && strcmp(lr.worker, worker) == 0) {
            *already = true; /* a resend of a completion that was recorded */
            if (trial)
                *trial = store_trial_get(db, id, e);
            db_rollback(db);
            rc = 0;
            goto out_free;
        }
        lease_conflict(e, id, &lr, worker);
        goto out_rollback;
    }
    if (strcmp(lr.worker, worker) != 0) {
        lease_conflict(e, id, &lr, worker);
        goto out_rollback;
    }
    if (!isfinite(value) && strcmp(state, "pruned") == 0)
        value = lr.last_value;
    int64_t now = time_now_ms();
    sqlite3_stmt *q = db_stmt(db, "UPDATE trials SET state = ?, value = ?, values_json = ?, "
                                  "error = ?, finished_at = ?, lease_expires_at = NULL, "
                                  "sandbox = ?7 WHERE id = ?6");
    sqlite3_stmt *a = db_stmt(db, "UPDATE trial_attempts SET ended_at = ?, outcome = ? WHERE "
                                  "trial_id = ? AND attempt = ?");
    if (!q || !a) {
        serr_db(e, db, "complete");
        goto out_rollback;
    }
    sqlite3_bind_text(q, 1, state, -1, SQLITE_STATIC);
    if (isfinite(value) && strcmp(state, "failed") != 0)
        sqlite3_bind_double(q, 2, value);
    if (vtext)
        sqlite3_bind_text(q, 3, vtext, -1, SQLITE_STATIC);
    if (error)
        sqlite3_bind_text(q, 4, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, now);
    sqlite3_bind_int64(q, 6, id);
    if (sandbox)
        sqlite3_bind_text(q, 7, sandbox, -1, SQLITE_STATIC);
    int s1 = sqlite3_step(q);
    sqlite3_reset(q);
    if (s1 != SQLITE_DONE) { /* judged before the next statement resets the error */
        serr_db(e, db, "complete");
        goto out_rollback;
    }
    sqlite3_bind_int64(a, 1, now);
    sqlite3_bind_text(a, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 3, id);
    sqlite3_bind_int(a, 4, lr.attempts);
    int s2 = sqlite3_step(a);
    sqlite3_reset(a);
    if (s2 != SQLITE_DONE) {
        serr_db(e, db, "complete");
        goto out_rollback;
    }
    struct study st;
    struct counts c;
    if (store_study_load_id(db, lr.study_id, &st, e) == 0) {
        /* A trial whose code the LLM wrote fails for its code, not for the
         * worker: such failures do not cut the worker off. */
        bool has_code = false;
        for (size_t i = 0; i < st.spec->space->n; i++)
            has_code |= st.spec->space->params[i].type == PARAM_CODE;
        bool failed = strcmp(state, "failed") == 0 && !has_code;
        int rc_w = note_worker_result(db, lr.study_id, worker, failed);
        if (rc_w == 0 && store_counts(db, lr.study_id, &c) == 0)
            store_finish_if_done(db, &st, &c);
        store_study_release(&st);
        if (rc_w < 0) {
            serr_db(e, db, "complete");
            goto out_rollback;
        }
    }
    if (trial)
        *trial = store_trial_get(db, id, e);
    if (db_commit(db) < 0) {
        serr_db(e, db, "complete");
        if (trial) {
            json_decref(*trial);
            *trial = NULL;
        }
        goto out_free;
    }
    heartbeats_forget(id);
    store_event_bump();
    if (strcmp(state, "completed") == 0)
        log_info("trial %lld (#%lld) completed by %s: %g", id, lr.number, worker, value);
    else
        log_info("trial %lld (#%lld) %s by %s%s%.200s", id, lr.number, state, worker,
                 error ? ": " : "", error ? error : "");
    rc = 0;
    goto out_free;
out_rollback:
    db_rollback(db);
out_free:
    free(vtext);
    return rc;
}

int store_reap(struct db *db, int64_t now_ms)
{
    /* study by study, so that each study's running trials are a range of
     * trials_study_state */
    sqlite3_stmt *q = db_stmt(db, "SELECT t.id, t.study_id, t.attempts, t.worker, s.created_at, "
                                  "t.number, s.name, t.prune_step IS NOT NULL FROM studies s "
                                  "CROSS JOIN trials t ON t.study_id = s.id AND t.state = "
                                  "'running' WHERE t.lease_expires_at < ?");
    if (!q)
        return -1;
    struct expired {
        long long id, study_id, number;
        int attempts;
        long long max_retries;
        bool judged; /* the pruner had stopped it: it ends pruned, not requeued */
        char worker[160], study[80];
    } list[64];
    size_t n = 0;
    sqlite3_bind_int64(q, 1, now_ms);
    while (n < 64 && sqlite3_step(q) == SQLITE_ROW) {
        if (heartbeats_deadline(sqlite3_column_int64(q, 0)) >= now_ms)
            continue; /* its heartbeats go on: the deadline is in memory */
        struct expired *x = &list[n++];
        x->id = sqlite3_column_int64(q, 0);
        x->study_id = sqlite3_column_int64(q, 1);
        x->attempts = sqlite3_column_int(q, 2);
        const char *w = (const char *)sqlite3_column_text(q, 3);
        snprintf(x->worker, sizeof x->worker, "%s", w ? w : "");
        const struct spec *sp = spec_cached(db, x->study_id, sqlite3_column_int64(q, 4));
        x->max_retries = sp ? sp->max_retries : 2;
        x->number = sqlite3_column_int64(q, 5);
        snprintf(x->study, sizeof x->study, "%s", (const char *)sqlite3_column_text(q, 6));
        x->judged = sqlite3_column_int(q, 7) != 0;
    }
    sqlite3_reset(q);
    if (n == 0)
        return 0;
    if (db_begin(db) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct expired *x = &list[i];
        bool requeue = x->attempts <= x->max_retries && !x->judged;
        sqlite3_stmt *a = db_stmt(db, "UPDATE trial_attempts SET ended_at = ?, outcome = 'stale' "
                                      "WHERE trial_id = ? AND attempt = ?");
        sqlite3_stmt *u =
            x->judged ? db_stmt(db, "UPDATE trials SET state = 'pruned', value = last_value, "
                                    "lease_expires_at = NULL, finished_at = ?2, error = ?3 "
                                    "WHERE id = ?1 AND state = 'running'")
            : requeue ? db_stmt(db, "UPDATE trials SET state = 'pending', lease_expires_at = NULL "
                                    "WHERE id = ? AND state = 'running'")
                      : db_stmt(db, "UPDATE trials SET state = 'failed', lease_expires_at = NULL, "
                                    "finished_at = ?2, error = ?3 WHERE id = ?1 AND state = "
                                    "'running'");
        if (!a || !u)
            goto out_rollback;
        sqlite3_bind_int64(a, 1, now_ms);
        sqlite3_bind_int64(a, 2, x->id);
        sqlite3_bind_int(a, 3, x->attempts);
        sqlite3_step(a);
        sqlite3_reset(a);
        char why[320];
        snprintf(why, sizeof why,
                 "lease expired %d times: worker \"%s\" stopped sending heartbeats", x->attempts,
                 x->worker);
        if (x->judged)
            snprintf(why, sizeof why,
                     "pruned: worker \"%s\" stopped sending heartbeats after the pruner "
                     "stopped the trial",
                     x->worker);
        sqlite3_bind_int64(u, 1, x->id);
        if (!requeue) {
            sqlite3_bind_int64(u, 2, now_ms);
            sqlite3_bind_text(u, 3, why, -1, SQLITE_STATIC);
        }
        int rc = sqlite3_step(u);
        sqlite3_reset(u);
        if (rc != SQLITE_DONE)
            goto out_rollback;
        heartbeats_forget(x->id);
        metrics_count("lease_expired", 1);
        if (requeue)
            log_warn("study \"%s\" trial #%lld: worker \"%s\" stopped heartbeating; requeued "
                     "(attempt %d)",
                     x->study, x->number, x->worker, x->attempts);
        else
            log_warn("study \"%s\" trial #%lld failed: %s", x->study, x->number, why);
        if (!requeue) {
            struct study st;
            struct serr e;
            struct counts c;
            if (store_study_load_id(db, x->study_id, &st, &e) == 0) {
                if (store_counts(db, x->study_id, &c) == 0)
                    store_finish_if_done(db, &st, &c);
                store_study_release(&st);
            }
        }
    }
    if (db_commit(db) < 0)
        return -1;
    store_event_bump();
    return (int)n;
out_rollback:
    db_rollback(db);
    return -1;
}

int store_lease_grace(struct db *db, int64_t now_ms)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT DISTINCT s.id FROM studies s CROSS JOIN trials t ON "
                                  "t.study_id = s.id AND t.state = 'running'");
    if (!q)
        return -1;
    long long ids[256];
    size_t n = 0;
    while (n < 256 && sqlite3_step(q) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (n == 0)
        return 0;
    if (db_begin(db) < 0)
        return -1;
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        struct study st;
        struct serr e;
        if (store_study_load_id(db, ids[i], &st, &e) < 0)
            continue;
        sqlite3_stmt *u = db_stmt(db, "UPDATE trials SET lease_expires_at = MAX(COALESCE("
                                      "lease_expires_at, 0), ?) WHERE study_id = ? AND state = "
                                      "'running'");
        if (!u) {
            store_study_release(&st);
            db_rollback(db);
            return -1;
        }
        sqlite3_bind_int64(u, 1, now_ms + lease_ms(st.spec));
        sqlite3_bind_int64(u, 2, ids[i]);
        sqlite3_step(u);
        changed += sqlite3_changes(db_handle(db));
        sqlite3_reset(u);
        store_study_release(&st);
    }
    if (db_commit(db) < 0)
        return -1;
    return changed;
}
