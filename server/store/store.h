#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "spec.h"

/* Studies and trials in SQLite: every state change of the trial lifecycle in
 * DESIGN.md happens here, each in one BEGIN IMMEDIATE transaction, so that an
 * acknowledged write is committed. */

/* A failure that becomes an HTTP error reply. */
struct serr {
    unsigned status;   /* HTTP status */
    const char *code;  /* static machine-readable code */
    char msg[512];     /* lower-case message */
    int retry_after_s; /* for 429/503, or -1 */
};

/* Set e (status, code, message) and return -1. */
int serr_set(struct serr *e, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set e from the database's last error: 503 when the disk is full or the file is
 * read-only, 500 otherwise. Returns -1. */
int serr_db(struct serr *e, struct db *db, const char *what);

/* A study as the suggest path needs it. */
struct study {
    long long id;            /* row id */
    char name[80];           /* name */
    char state[16];          /* running, paused, finished */
    int direction;           /* 1 minimize, -1 maximize */
    const struct spec *spec; /* borrowed parsed spec (cached, immutable) */
};

/* Load a study by name into st (release with store_study_release); 404 when absent. */
int store_study_load(struct db *db, const char *name, struct study *st, struct serr *e);
/* Load by row id. */
int store_study_load_id(struct db *db, long long id, struct study *st, struct serr *e);
void store_study_release(struct study *st);
/* Free the cache of parsed specs (at exit, when no thread uses them). */
void store_spec_cache_free(void);

/* Create a study from a validated spec; *out gets the study JSON (new reference),
 * *created tells 201 from 200 (same spec already there). 409 if the name holds
 * another spec. in is the spec as submitted (borrowed). */
int store_study_create(struct db *db, const json_t *in, const struct spec *sp, json_t **out,
                       bool *created, struct serr *e);
/* {"studies": [...]} with counts and best values. New reference or NULL. */
json_t *store_study_list(struct db *db, struct serr *e);
/* One study with spec, counts, best trial and token totals. */
json_t *store_study_get(struct db *db, const char *name, struct serr *e);
/* Set the state (running|paused|finished); returns the study JSON. */
json_t *store_study_set_state(struct db *db, const char *name, const char *state, struct serr *e);
/* Delete a study and everything of it. */
int store_study_delete(struct db *db, const char *name, struct serr *e);

/* The order of a page of trials. */
enum store_order {
    STORE_ORDER_NUMBER,      /* by number, numbers > after */
    STORE_ORDER_NUMBER_DESC, /* newest first, numbers < after */
    STORE_ORDER_VALUE,       /* by value ascending, trials without one last; after a position */
    STORE_ORDER_VALUE_DESC,  /* by value descending, trials without one last; after a position */
};

/* A page of trials: state and source filters (NULL for all), at most limit, in
 * order. {"trials": [...], "next_after": n|null, "total": n}; with curves each
 * trial also carries "curve", its [step, value] reports. */
json_t *store_trials_page(struct db *db, const char *name, const char *state, const char *source,
                          long long after, long long limit, enum store_order order, bool curves,
                          struct serr *e);
/* The best completed trial, 404 when none. */
json_t *store_best(struct db *db, const char *name, struct serr *e);
/* Enqueue a trial with given params (already checked against the space). */
json_t *store_enqueue(struct db *db, const char *name, const json_t *params, const char *source,
                      struct serr *e);
/* One trial with its reports and attempts. */
json_t *store_trial_get(struct db *db, long long id, struct serr *e);

/* Extend the lease; *action "continue" or "stop". */
int store_heartbeat(struct db *db, long long id, const char *worker, const char **action,
                    struct serr *e);
/* Record an intermediate value at step; *action from the pruner. values may be NULL. */
int store_report(struct db *db, long long id, const char *worker, long long step, double value,
                 const json_t *values, const char **action, struct serr *e);
/* Finish a trial: state completed|failed|pruned. value may be NAN for failed or
 * pruned (the last reported value is kept). values and error may be NULL.
 * 409 when the worker does not hold the lease. *already is set when the same
 * completion was recorded before (a resend). *trial (when trial is not NULL)
 * gets the trial as recorded, read in the same transaction. */
int store_complete(struct db *db, long long id, const char *worker, const char *state, double value,
                   const json_t *values, const char *error, const char *sandbox, bool *already,
                   json_t **trial, struct serr *e);

/* Requeue or fail running trials whose lease ran out (in the database and in
 * heartbeats.h); returns how many, or -1. */
int store_reap(struct db *db, int64_t now_ms);
/* At start-up: every running trial gets a lease of at least its study's full
 * length from now_ms, since its worker could not send heartbeats while the
 * daemon was down and those it sent before are gone with the memory that held
 * them. Returns the trials touched, or -1. */
int store_lease_grace(struct db *db, int64_t now_ms);
/* A study's lease length in ms: heartbeat_s times stale_after. */
int64_t lease_ms(const struct spec *sp);

/* Trial state counts of a study. */
struct counts {
    long long pending, running, completed, failed, pruned;
    long long next_number; /* the number the next trial gets */
};
int store_counts(struct db *db, long long study_id, struct counts *c);

/* Finish the study when its budget is spent; true when it is (now) finished.
 * Must run inside a transaction. */
bool store_finish_if_done(struct db *db, struct study *st, const struct counts *c);

/* The JSON of a trial row from a statement positioned on a row selected with
 * STORE_TRIAL_COLS. New reference. */
json_t *store_trial_row(sqlite3_stmt *st);
#define STORE_TRIAL_COLS                                                                           \
    "t.id, t.number, t.state, t.params, t.value, t.values_json, t.source, t.worker, t.attempts, "  \
    "t.created_at, t.started_at, t.finished_at, t.error, t.last_step, t.last_value, "              \
    "t.lease_expires_at, t.sandbox"

/* An event counter bumped on every change a long-poll may wait for. */
uint64_t store_event_seq(void);
void store_event_bump(void);

#endif
