#include <config.h>
#include "importances.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "importance.h"
#include "locks.h"
#include "log.h"
#include "rng.h"
#include "wake.h"

/* Reports kept: one per study and method. Past this, the one asked for
 * least recently goes (never one being computed). */
#define IMP_ENTRIES 256

/* One study and method: its latest report and what is asked of the worker. */
struct entry {
    bool used;              /* the slot holds an entry */
    long long study_id;     /* key: the study's row id */
    int64_t created_at;     /* key: its creation time (an id may be reused) */
    enum imp_method method; /* key: the method */
    long long want;         /* completed trials last asked for, -1 for none */
    bool busy;              /* the worker is computing it */
    bool have;              /* rep holds a report */
    struct imp_report rep;  /* the latest report */
    long long failed_n;     /* the count whose computation failed, -1 for none */
    char error[512];        /* why */
    uint64_t asked;         /* when it was last asked for (order of the queue and of eviction) */
};

static struct lock lock = LOCK_INITIALIZER(LOCK_IMPORTANCE);
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct entry entries[IMP_ENTRIES];
static uint64_t ask_seq;
static bool running;
static pthread_t thread;

int importances_method_parse(const char *name, enum imp_method *m)
{
    if (strcmp(name, "fanova") == 0)
        *m = IMP_FANOVA;
    else if (strcmp(name, "gp") == 0)
        *m = IMP_GP;
    else
        return -1;
    return 0;
}

const char *importances_method_name(enum imp_method m)
{
    return m == IMP_GP ? "gp" : "fanova";
}

void imp_report_release(struct imp_report *r)
{
    for (size_t i = 0; i < r->n && r->v; i++)
        free(r->v[i].param);
    free(r->v);
    free(r->objective);
    free(r->note);
    memset(r, 0, sizeof *r);
}

/* A deep copy of src into dst: 0 or -1 (dst then empty). */
static int report_copy(struct imp_report *dst, const struct imp_report *src)
{
    *dst = *src;
    dst->v = calloc(src->n ? src->n : 1, sizeof *dst->v);
    dst->objective = strdup(src->objective ? src->objective : "");
    dst->note = src->note ? strdup(src->note) : NULL;
    dst->n = 0;
    bool ok = dst->v && dst->objective && (!src->note || dst->note);
    for (size_t i = 0; ok && i < src->n; i++) {
        dst->v[i].param = strdup(src->v[i].param);
        dst->v[i].importance = src->v[i].importance;
        ok = dst->v[i].param != NULL;
        dst->n += ok;
    }
    if (!ok) {
        imp_report_release(dst);
        return -1;
    }
    return 0;
}

/* For the ranking: most important first, ties in the space's order. */
struct ranked {
    double importance; /* the importance */
    size_t index;      /* the parameter's place in the space */
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *p = a, *q = b;
    if (p->importance != q->importance)
        return p->importance > q->importance ? -1 : 1;
    return (p->index > q->index) - (p->index < q->index);
}

/* Fill out for st from imp (one per parameter of the space; NULL for all
 * zero) and note (may be NULL). 0 or -1 (out of memory, e set). */
static int report_build(const struct study *st, enum imp_method m, long long n_trials,
                        const double *imp, const char *note, struct imp_report *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    const struct space *s = st->spec->space;
    snprintf(out->study, sizeof out->study, "%s", st->name);
    out->method = m;
    out->n_trials = n_trials;
    struct ranked *rk = calloc(s->n ? s->n : 1, sizeof *rk);
    out->v = calloc(s->n ? s->n : 1, sizeof *out->v);
    out->objective = strdup(st->spec->objective ? st->spec->objective : "value");
    out->note = note ? strdup(note) : NULL;
    bool ok = rk && out->v && out->objective && (!note || out->note);
    for (size_t i = 0; ok && i < s->n; i++)
        rk[i] = (struct ranked){imp ? imp[i] : 0, i};
    if (ok)
        qsort(rk, s->n, sizeof *rk, cmp_ranked);
    for (size_t i = 0; ok && i < s->n; i++) {
        out->v[i].param = strdup(s->params[rk[i].index].name);
        out->v[i].importance = rk[i].importance;
        ok = out->v[i].param != NULL;
        out->n += ok;
    }
    free(rk);
    if (!ok) {
        imp_report_release(out);
        return serr_set(e, 500, "internal", "out of memory");
    }
    return 0;
}

int importances_compute(struct db *db, const struct study *st, enum imp_method m,
                        struct imp_report *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    struct trial_outcome *rows;
    size_t nrows;
    if (store_outcomes(db, st->id, false, &rows, &nrows) < 0)
        return serr_db(e, db, "load trials");
    const json_t **configs = calloc(nrows + 1, sizeof *configs);
    double *values = calloc(nrows + 1, sizeof *values);
    double *imp = calloc(st->spec->space->n + 1, sizeof *imp);
    int rc = -1;
    if (!configs || !values || !imp) {
        serr_set(e, 500, "internal", "out of memory");
        goto out;
    }
    /* Completed trials only: a pruned trial's value is from an earlier step,
     * a failed one has none. */
    long long completed = 0;
    size_t n = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].state != TRIAL_COMPLETED)
            continue;
        completed++;
        if (!isfinite(rows[i].value))
            continue;
        configs[n] = rows[i].params;
        values[n++] = rows[i].value;
    }
    uint64_t seed = rng_mix(st->spec->seed, (uint64_t)completed);
    const char *note = NULL;
    int fit = m == IMP_GP
                  ? importance_gp(st->spec->space, configs, values, n, seed, imp, &note)
                  : importance_fanova(st->spec->space, configs, values, n, seed, imp, &note);
    if (fit < 0) {
        serr_set(e, 500, "model_failed", "the %s model could not be fitted to %zu trials",
                 importances_method_name(m), n);
        goto out;
    }
    rc = report_build(st, m, completed, imp, note, out, e);
out:
    free(configs);
    free(values);
    free(imp);
    store_outcomes_free(rows, nrows);
    return rc;
}

static struct entry *entry_find(long long id, int64_t created_at, enum imp_method m)
{
    for (size_t i = 0; i < IMP_ENTRIES; i++)
        if (entries[i].used && entries[i].study_id == id && entries[i].created_at == created_at &&
            entries[i].method == m)
            return &entries[i];
    return NULL;
}

/* A slot for a new entry: a free one, or the least recently asked one not
 * being computed (its report dropped); NULL when every one is busy. */
static struct entry *entry_new(long long id, int64_t created_at, enum imp_method m)
{
    struct entry *e = NULL;
    for (size_t i = 0; i < IMP_ENTRIES && (!e || e->used); i++)
        if (!entries[i].used || (!entries[i].busy && (!e || entries[i].asked < e->asked)))
            e = &entries[i];
    if (!e)
        return NULL;
    imp_report_release(&e->rep);
    memset(e, 0, sizeof *e);
    e->used = true;
    e->study_id = id;
    e->created_at = created_at;
    e->method = m;
    e->want = -1;
    e->failed_n = -1;
    return e;
}

int importances_get(struct db *db, const struct study *st, enum imp_method m,
                    struct imp_report *out, long long *n_trials, struct serr *e)
{
    memset(out, 0, sizeof *out);
    long n;
    if (store_prune_completed(db, st->id, &n) < 0)
        return serr_db(e, db, "count trials");
    *n_trials = n;
    if (n < 2) {
        /* nothing to fit: the answer is known */
        static const char few[] = "fewer than 2 completed trials: nothing to compare yet";
        return report_build(st, m, n, NULL, few, out, e) < 0 ? -1 : 1;
    }
    lock_take(&lock);
    if (!running) {
        lock_drop(&lock);
        serr_set(e, 503, "unavailable", "the importance worker is not running");
        e->retry_after_s = 5;
        return -1;
    }
    struct entry *en = entry_find(st->id, st->created_at, m);
    if (en && en->have && en->rep.n_trials >= n) {
        en->asked = ++ask_seq;
        int rc = report_copy(out, &en->rep);
        lock_drop(&lock);
        if (rc < 0)
            return serr_set(e, 500, "internal", "out of memory");
        snprintf(out->study, sizeof out->study, "%s", st->name);
        return 1;
    }
    if (en && en->failed_n == n) {
        char msg[sizeof en->error];
        snprintf(msg, sizeof msg, "%s", en->error);
        en->failed_n = -1;
        en->want = -1;
        lock_drop(&lock);
        return serr_set(e, 500, "importance_failed", "%s", msg);
    }
    if (!en)
        en = entry_new(st->id, st->created_at, m);
    if (!en) {
        lock_drop(&lock);
        serr_set(e, 503, "busy", "every importance slot is being computed: retry soon");
        e->retry_after_s = 1;
        return -1;
    }
    if (en->want != n) {
        en->want = n;
        pthread_cond_signal(&cond);
    }
    en->asked = ++ask_seq;
    lock_drop(&lock);
    return 0;
}

/* The entry the worker should compute next (asked for first), or NULL. */
static struct entry *next_job(void)
{
    struct entry *best = NULL;
    for (size_t i = 0; i < IMP_ENTRIES; i++) {
        struct entry *en = &entries[i];
        if (!en->used || en->busy || en->want < 0 || en->failed_n == en->want)
            continue;
        if (en->have && en->rep.n_trials >= en->want)
            continue;
        if (!best || en->asked < best->asked)
            best = en;
    }
    return best;
}

static void *worker(void *arg)
{
    (void)arg;
    lock_take(&lock);
    while (running) {
        struct entry *en = next_job();
        if (!en) {
            lock_wait(&cond, &lock);
            continue;
        }
        en->busy = true;
        long long id = en->study_id, want = en->want;
        int64_t created_at = en->created_at;
        enum imp_method m = en->method;
        lock_drop(&lock);

        struct imp_report rep;
        struct serr e = {0};
        int rc = -1;
        struct db *db = db_thread();
        struct study st;
        if (!db) {
            serr_set(&e, 503, "storage_unavailable", "the database cannot be opened");
        } else if (store_study_load_id(db, id, &st, &e) == 0) {
            if (st.created_at != created_at)
                serr_set(&e, 404, "not_found", "the study was deleted");
            else
                rc = importances_compute(db, &st, m, &rep, &e);
        }
        if (db)
            store_study_release(&st);
        if (rc < 0)
            log_warn("importance of study %lld (%s): %s", id, importances_method_name(m), e.msg);

        lock_take(&lock);
        en->busy = false;
        if (rc == 0) {
            imp_report_release(&en->rep);
            en->rep = rep;
            en->have = true;
            /* counts only grow: a report from more trials answers the ask */
            if (en->want < rep.n_trials)
                en->want = rep.n_trials;
        } else {
            en->failed_n = want;
            snprintf(en->error, sizeof en->error, "%s", e.msg);
        }
        lock_drop(&lock);
        wake_importance(id);
        lock_take(&lock);
    }
    lock_drop(&lock);
    db_thread_close();
    return NULL;
}

int importances_start(void)
{
    lock_take(&lock);
    running = true;
    lock_drop(&lock);
    if (pthread_create(&thread, NULL, worker, NULL) != 0) {
        lock_take(&lock);
        running = false;
        lock_drop(&lock);
        return -1;
    }
    return 0;
}

void importances_stop(void)
{
    lock_take(&lock);
    bool was = running;
    running = false;
    pthread_cond_broadcast(&cond);
    lock_drop(&lock);
    if (was)
        pthread_join(thread, NULL);
    for (size_t i = 0; i < IMP_ENTRIES; i++) {
        imp_report_release(&entries[i].rep);
        memset(&entries[i], 0, sizeof entries[i]);
    }
}
