#include <config.h>
#include "store.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

int serr_set(struct serr *e, unsigned status, const char *code, const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    e->retry_after_s = -1;
    e->busy = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int serr_db(struct serr *e, struct db *db, const char *what)
{
    if (db_busy(db)) {
        serr_set(e, 503, "storage_unavailable",
                 "%s: storage unavailable: the database is locked (another process holds its "
                 "write lock)",
                 what);
        e->retry_after_s = 2;
        e->busy = true;
        return -1;
    }
    if (db_unavailable(db)) {
        serr_set(e, 503, "storage_unavailable", "%s: storage unavailable: %s", what, db_errmsg(db));
        e->retry_after_s = 5;
        return -1;
    }
    return serr_set(e, 500, "storage_error", "%s: %s", what, db_errmsg(db));
}

int store_run(struct db *db, int (*fn)(struct db *db, void *ctx), void *ctx, struct serr *e,
              const char *what)
{
    e->status = 0;
    if (db_run(db, fn, ctx) == 0)
        return 0;
    if (e->status == 0)
        serr_db(e, db, what);
    return -1;
}

long long store_trial_study(struct db *db, long long id)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT study_id FROM trials WHERE id = ?");
    if (!q)
        return 0;
    sqlite3_bind_int64(q, 1, id);
    long long sid = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return sid;
}

/* --- columns --- */

int64_t col_time(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? STORE_NO_TIME : sqlite3_column_int64(q, i);
}

double col_double(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

char *col_strdup(sqlite3_stmt *q, int i)
{
    const char *s = (const char *)sqlite3_column_text(q, i);
    return s ? strdup(s) : NULL;
}

json_t *col_json(sqlite3_stmt *q, int i)
{
    const char *s = (const char *)sqlite3_column_text(q, i);
    return s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
}

int trial_read(sqlite3_stmt *q, struct trial *t)
{
    memset(t, 0, sizeof *t);
    t->id = sqlite3_column_int64(q, 0);
    t->study_id = sqlite3_column_int64(q, 1);
    t->number = sqlite3_column_int64(q, 2);
    int bad = trial_state_parse((const char *)sqlite3_column_text(q, 3), &t->state);
    t->params = col_json(q, 4);
    if (!t->params)
        t->params = json_null();
    t->value = col_double(q, 5);
    t->values = col_json(q, 6);
    t->source = col_strdup(q, 7);
    t->worker = col_strdup(q, 8);
    t->attempts = sqlite3_column_int(q, 9);
    t->created_at = col_time(q, 10);
    t->started_at = col_time(q, 11);
    t->finished_at = col_time(q, 12);
    t->error = col_strdup(q, 13);
    t->has_last_step = sqlite3_column_type(q, 14) != SQLITE_NULL;
    t->last_step = sqlite3_column_int64(q, 14);
    t->last_value = col_double(q, 15);
    t->lease_expires_at = col_time(q, 16);
    t->sandbox = col_strdup(q, 17);
    t->note = col_strdup(q, 18);
    t->note_at = col_time(q, 19);
    t->objs = col_json(q, 20);
    t->feasible = sqlite3_column_type(q, 21) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 21) != 0;
    t->pareto = sqlite3_column_int(q, 22) != 0;
    t->multi = sqlite3_column_int(q, 23) != 0;
    return bad;
}

void store_trial_release(struct trial *t)
{
    json_decref(t->params);
    json_decref(t->values);
    free(t->source);
    free(t->worker);
    free(t->error);
    free(t->sandbox);
    free(t->note);
    json_decref(t->objs);
    memset(t, 0, sizeof *t);
}

void store_trial_list_release(struct trial_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        store_trial_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void store_trial_detail_release(struct trial_detail *d)
{
    store_trial_release(&d->trial);
    for (size_t i = 0; i < d->n_reports; i++)
        json_decref(d->reports[i].values);
    free(d->reports);
    for (size_t i = 0; i < d->n_attempts; i++) {
        free(d->attempts[i].worker);
        free(d->attempts[i].outcome);
    }
    free(d->attempts);
    free(d->prune_reason);
    memset(d, 0, sizeof *d);
}

/* --- the spec cache --- */

/* Parsed specs by study id. A spec never changes once stored, so each is parsed
 * once and shared read-only by every thread. The key is the study's id with its
 * creation time, so that a study deleted and its id reused (by a study created
 * later) is not mistaken for the old one; the text is read from the database
 * only on a miss. Each entry counts its holders: the cache while it lists the
 * entry, and every loaded study. A deleted study's entry leaves the list, and
 * the last holder to let go frees it. */
struct spec_entry {
    long long id;            /* study row id */
    long long created_at;    /* its creation time, ms */
    struct spec *spec;       /* owned, immutable */
    unsigned refs;           /* holders, under spec_lock */
    struct spec_entry *next; /* list link while listed */
};
static pthread_mutex_t spec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spec_entry *spec_cache;

static void spec_entry_free(struct spec_entry *e)
{
    spec_free(e->spec);
    free(e);
}

const struct spec *spec_of(const struct spec_entry *e)
{
    return e ? e->spec : NULL;
}

void spec_unref(struct spec_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&spec_lock);
    bool last = --e->refs == 0;
    pthread_mutex_unlock(&spec_lock);
    if (last)
        spec_entry_free(e);
}

static struct spec_entry *spec_find(long long id, long long created_at)
{
    for (struct spec_entry *s = spec_cache; s; s = s->next)
        if (s->id == id && s->created_at == created_at) {
            s->refs++;
            return s;
        }
    return NULL;
}

struct spec_entry *spec_ref(struct db *db, long long id, long long created_at)
{
    pthread_mutex_lock(&spec_lock);
    struct spec_entry *e = spec_find(id, created_at);
    pthread_mutex_unlock(&spec_lock);
    if (e)
        return e;
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
    e = sp ? calloc(1, sizeof *e) : NULL;
    if (!e) {
        spec_free(sp);
        return NULL;
    }
    e->id = id;
    e->created_at = created_at;
    e->spec = sp;
    pthread_mutex_lock(&spec_lock);
    struct spec_entry *other = spec_find(id, created_at); /* parsed meanwhile by another thread */
    if (!other) {
        e->refs = 2; /* the cache and the caller */
        e->next = spec_cache;
        spec_cache = e;
    }
    pthread_mutex_unlock(&spec_lock);
    if (other) {
        spec_entry_free(e);
        return other;
    }
    return e;
}

void spec_cache_forget(long long id)
{
    struct spec_entry *gone = NULL;
    pthread_mutex_lock(&spec_lock);
    for (struct spec_entry **p = &spec_cache; *p;) {
        struct spec_entry *s = *p;
        if (s->id != id) {
            p = &s->next;
            continue;
        }
        *p = s->next;
        if (--s->refs == 0) {
            s->next = gone;
            gone = s;
        }
    }
    pthread_mutex_unlock(&spec_lock);
    while (gone) {
        struct spec_entry *s = gone;
        gone = s->next;
        spec_entry_free(s);
    }
}

void store_spec_cache_free(void)
{
    pthread_mutex_lock(&spec_lock);
    struct spec_entry *list = spec_cache;
    spec_cache = NULL;
    pthread_mutex_unlock(&spec_lock);
    while (list) {
        struct spec_entry *s = list;
        list = s->next;
        spec_unref(s);
    }
}

/* --- a trial with its reports and attempts --- */

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 8;
    void *p = realloc(*v, c * size);
    if (!p)
        return -1;
    *v = p;
    *cap = c;
    return 0;
}

int trial_detail_read(struct db *db, long long id, struct trial_detail *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = db_stmt(db, "SELECT " TRIAL_COLS ", s.name, t.prune_reason FROM trials t "
                                  "JOIN studies s ON s.id = t.study_id WHERE t.id = ?");
    if (!q)
        return serr_db(e, db, "get trial");
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        return rc == SQLITE_DONE ? serr_set(e, 404, "not_found", "no trial with id %lld", id)
                                 : serr_db(e, db, "get trial");
    }
    trial_read(q, &out->trial);
    snprintf(out->study, sizeof out->study, "%s",
             (const char *)sqlite3_column_text(q, TRIAL_NCOLS));
    out->prune_reason = col_strdup(q, TRIAL_NCOLS + 1);
    sqlite3_reset(q);

    size_t cap = 0;
    sqlite3_stmt *r = db_stmt(db, "SELECT step, value, values_json, at, prune_p FROM "
                                  "trial_reports WHERE trial_id = ? ORDER BY step");
    if (!r)
        goto out_db;
    sqlite3_bind_int64(r, 1, id);
    while ((rc = sqlite3_step(r)) == SQLITE_ROW) {
        if (grow((void **)&out->reports, &cap, out->n_reports, sizeof *out->reports) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        struct trial_report *p = &out->reports[out->n_reports++];
        p->step = sqlite3_column_int64(r, 0);
        p->value = col_double(r, 1);
        p->values = col_json(r, 2);
        p->at = col_time(r, 3);
        p->prune_p = col_double(r, 4);
    }
    sqlite3_reset(r);
    if (rc != SQLITE_DONE)
        goto out_db;
    cap = 0;
    sqlite3_stmt *a = db_stmt(db, "SELECT attempt, worker, started_at, ended_at, outcome FROM "
                                  "trial_attempts WHERE trial_id = ? ORDER BY attempt");
    if (!a)
        goto out_db;
    sqlite3_bind_int64(a, 1, id);
    while ((rc = sqlite3_step(a)) == SQLITE_ROW) {
        if (grow((void **)&out->attempts, &cap, out->n_attempts, sizeof *out->attempts) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        struct trial_attempt *p = &out->attempts[out->n_attempts++];
        p->attempt = sqlite3_column_int64(a, 0);
        p->worker = col_strdup(a, 1);
        p->started_at = col_time(a, 2);
        p->ended_at = col_time(a, 3);
        p->outcome = col_strdup(a, 4);
    }
    sqlite3_reset(a);
    if (rc != SQLITE_DONE)
        goto out_db;
    return 0;
out_db:
    store_trial_detail_release(out);
    return serr_db(e, db, "get trial");
}

/* --- the lease --- */

int lease_row_load(struct db *db, long long id, struct lease_row *lr, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT t.study_id, t.state, t.worker, t.attempts, "
                                  "t.last_value, t.number, s.state = 'finished', "
                                  "t.prune_step IS NOT NULL, s.created_at, t.lease_token FROM "
                                  "trials t JOIN studies s ON s.id = t.study_id WHERE t.id = ?");
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
    const char *state = (const char *)sqlite3_column_text(q, 1);
    if (trial_state_parse(state, &lr->state) < 0) {
        serr_set(e, 500, "corrupt_trial", "trial %lld has an unknown state \"%s\"", id,
                 state ? state : "");
        sqlite3_reset(q);
        return -1;
    }
    const char *w = (const char *)sqlite3_column_text(q, 2);
    snprintf(lr->worker, sizeof lr->worker, "%s", w ? w : "");
    lr->attempts = sqlite3_column_int(q, 3);
    lr->last_value = col_double(q, 4);
    lr->number = sqlite3_column_int64(q, 5);
    lr->study_done = sqlite3_column_int(q, 6) != 0;
    lr->judged = sqlite3_column_int(q, 7) != 0;
    lr->created = sqlite3_column_int64(q, 8);
    lr->token = sqlite3_column_int64(q, 9);
    sqlite3_reset(q);
    return 0;
}

int lease_conflict(struct serr *e, long long id, const struct lease_row *lr, const char *worker)
{
    if (lr->state != TRIAL_RUNNING)
        return serr_set(e, 409, "not_running",
                        "trial %lld is %s, not running: worker \"%s\" holds no lease on it", id,
                        trial_state_name(lr->state), worker);
    return serr_set(e, 409, "lease_lost", "trial %lld is leased to another worker, not \"%s\"", id,
                    worker);
}

int lease_token_conflict(struct serr *e, long long id)
{
    return serr_set(e, 409, "lease_lost",
                    "trial %lld was leased with another token: only that token (or an admin "
                    "one) may act on it",
                    id);
}
