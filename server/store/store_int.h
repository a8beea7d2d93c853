#ifndef STORE_INT_H
#define STORE_INT_H

/* Shared by the files of server/store/ only: column readers, the spec cache,
 * the trial row. */

#include <sqlite3.h>

#include "store.h"

/* The columns store_trial_read() reads, from trials aliased t. */
#define TRIAL_COLS                                                                                 \
    "t.id, t.study_id, t.number, t.state, t.params, t.value, t.values_json, t.source, t.worker, "  \
    "t.attempts, t.created_at, t.started_at, t.finished_at, t.error, t.last_step, t.last_value, "  \
    "t.lease_expires_at, t.sandbox, t.objs, t.feasible, t.pareto, "                                \
    "(SELECT ms.n_objectives > 1 OR ms.n_constraints > 0 FROM studies ms WHERE ms.id = "           \
    "t.study_id)"
#define TRIAL_NCOLS 22

/* Fill t from the row q is on, columns TRIAL_COLS from the first; 0, or -1 when
 * out of memory or the state is not one of the lifecycle's. */
int trial_read(sqlite3_stmt *q, struct trial *t);

/* Column readers: NULL reads as STORE_NO_TIME, NAN, NULL (a new string or a
 * new reference). */
int64_t col_time(sqlite3_stmt *q, int i);
double col_double(sqlite3_stmt *q, int i);
char *col_strdup(sqlite3_stmt *q, int i);
json_t *col_json(sqlite3_stmt *q, int i);

/* A parsed spec from the cache (parsed from the database on a miss), with a
 * new reference to its entry; NULL when the study is absent or its spec does
 * not parse. */
struct spec_entry *spec_ref(struct db *db, long long id, long long created_at);
const struct spec *spec_of(const struct spec_entry *e);
/* Drop a reference from spec_ref(); accepts NULL. */
void spec_unref(struct spec_entry *e);
/* The study id was deleted: its entries leave the cache (and are freed when
 * their last holder lets go). */
void spec_cache_forget(long long id);

/* The row of trial id with its study's name, reports and attempts. 404 when
 * absent. */
int trial_detail_read(struct db *db, long long id, struct trial_detail *out, struct serr *e);

/* Run fn(db, ctx) as one transaction with db_run(). fn sets e on its own
 * failures (and on the database's, with serr_db() before anything else touches
 * the connection); when it did not, e gets the database's error, about what. */
int store_run(struct db *db, int (*fn)(struct db *db, void *ctx), void *ctx, struct serr *e,
              const char *what);

/* Load a study row (id, name, state, direction, created_at) into st, with a
 * reference to its parsed spec. */
int study_from_row(struct db *db, sqlite3_stmt *q, struct study *st, struct serr *e);

/* Mark a study finished and stop its running trials, in a transaction. */
int finish_study(struct db *db, long long study_id, const char *why);

/* What the lease checks need of a trial. */
struct lease_row {
    long long study_id;     /* owning study */
    enum trial_state state; /* trial state */
    char worker[160];       /* lease holder, "" when none */
    int attempts;           /* leases so far */
    double last_value;      /* last reported value, NAN if none */
    long long number;       /* trial number */
    bool study_done;        /* its study is finished */
    bool judged;            /* the pruner has stopped it */
    long long created;      /* its study's creation time (the spec cache key) */
};
int lease_row_load(struct db *db, long long id, struct lease_row *lr, struct serr *e);
/* Several objectives (objectives.c), inside the caller's transaction. */
/* Put trial_id (feasible, completed, objective vector objs) on its study's
 * front unless a trial there dominates it, and take off those it dominates. */
int front_add(struct db *db, const struct spec *sp, long long study_id, long long trial_id,
              const double *objs);
/* Recompute the front of a study from its trials (after an import). */
int front_rebuild(struct db *db, const struct spec *sp, long long study_id);
/* Record the derived reference point once the study has enough feasible
 * completed trials (lifecycle_reference_after()), unless its spec gives one
 * or it is recorded already. */
int reference_derive(struct db *db, const struct spec *sp, long long study_id);
/* The objective vector as stored: a JSON array text (new string), null for NAN. */
char *objs_text(const double *objs, size_t m);
/* Parse a stored objective vector into objs[0..m), NAN where absent; false
 * when text is not an array. */
bool objs_parse(const char *text, double *objs, size_t m);

/* Set e to the 409 of a worker that does not hold the lease; returns -1. */
int lease_conflict(struct serr *e, long long id, const struct lease_row *lr, const char *worker);

#endif
