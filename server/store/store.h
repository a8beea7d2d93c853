#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "lifecycle.h"
#include "spec.h"

/* Studies, trials, their reports and workers in SQLite. The store is the only
 * code that speaks SQL for them: every state change of the trial lifecycle in
 * DESIGN.md happens here, each operation that writes one transaction run by
 * db_run() (so that an acknowledged write is committed and nothing is
 * half-written), with the rules of server/spec/lifecycle.h deciding inside it.
 * Reads (loads, gets, pages) take no write lock, so that they never wait for
 * a writer. Results are C structs; the JSON of studies and trials is built by
 * the API layer (server/api/render.c).
 *
 * Files: store.c (errors, the spec cache, reading a trial row),
 * studies.c, trials.c (create, lease, heartbeat, complete, reap, grace,
 * enqueue), reports.c (intermediate values and what the pruner reads),
 * workers.c (the cut-off table).
 *
 * Locks, in the order they are taken: a lock the caller holds across a store
 * call (suggest.c's propose lock) before db.c's write lock (held from BEGIN to
 * COMMIT), before spec_lock (the spec cache: nothing else is taken while it is
 * held). The functions the store calls back run under the write lock (the
 * pruner in store_report(), created in store_trials_create()) and take no lock
 * that a thread may hold while it waits for the write lock; held() in
 * store_reap() runs before the write lock is taken. */

/* A failure that becomes an HTTP error reply. */
struct serr {
    unsigned status;   /* HTTP status */
    const char *code;  /* static machine-readable code */
    char msg[512];     /* lower-case message */
    int retry_after_s; /* for 429/503, or -1 */
    bool busy;         /* the database was busy: worth trying again where one may wait */
};

/* Set e (status, code, message) and return -1. */
int serr_set(struct serr *e, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set e from the database's last error: 503 (Retry-After 2, busy set) when
 * the write lock was not had within the connection's patience (db.h), 503
 * when the disk is full or the file is read-only, 500 otherwise. Returns -1. */
int serr_db(struct serr *e, struct db *db, const char *what);

/* A time that is not set (a NULL column). */
#define STORE_NO_TIME INT64_MIN

/* --- studies (studies.c) --- */

struct spec_entry;

/* A study as the suggest path needs it. */
struct study {
    long long id;            /* row id */
    char name[80];           /* name */
    enum study_state state;  /* running, paused, finished */
    int direction;           /* 1 minimize, -1 maximize */
    const struct spec *spec; /* the parsed spec, held through ref (immutable) */
    struct spec_entry *ref;  /* the spec cache entry held; store_study_release drops it */
    int64_t created_at;      /* ms: with id, tells the study from a later one given its id */
};

/* Load a study by name into st (release with store_study_release); 404 when absent. */
int store_study_load(struct db *db, const char *name, struct study *st, struct serr *e);
/* Load by row id. */
int store_study_load_id(struct db *db, long long id, struct study *st, struct serr *e);
/* Drop st's reference to its spec: a spec whose study was deleted is freed when
 * its last holder lets go. Accepts a study that failed to load. */
void store_study_release(struct study *st);
/* Drop the cache's references to its specs (at exit, when no thread uses them). */
void store_spec_cache_free(void);

/* A study as the API shows it: its row, counts and best trial. */
struct study_info {
    long long id;           /* row id */
    char name[80];          /* name */
    enum study_state state; /* state */
    int direction;          /* 1 minimize, -1 maximize */
    json_t *spec;           /* owned: the spec as stored (JSON null when unreadable) */
    long long tokens_in;    /* LLM tokens sent */
    long long tokens_out;   /* LLM tokens received */
    double cost_usd;        /* LLM cost */
    int64_t created_at;     /* ms */
    int64_t finished_at;    /* ms, or STORE_NO_TIME */
    struct counts counts;   /* trials by state */
    char *note;             /* owned: a person's note on the study, NULL when none */
    int64_t note_at;        /* ms when the note was written, or STORE_NO_TIME */
    struct trial *best;     /* owned, the best (feasible) completed trial, or NULL when none */
    size_t n_objectives;    /* objectives of its spec */
    size_t n_constraints;   /* constraints of its spec */
    long long pareto_size;  /* trials on its Pareto front (several objectives), else 0 */
    bool reference_derived; /* reference holds the recorded derived reference point */
    double reference[SPEC_MAX_OBJECTIVES]; /* read when reference_derived */
};
/* Release what info owns; accepts a zeroed struct. */
void store_study_info_release(struct study_info *info);

/* Studies, in creation order. */
struct study_list {
    struct study_info *v; /* owned array */
    size_t n;             /* entries */
};
void store_study_list_release(struct study_list *l);

/* Create a study from a validated spec; *out gets the study, *created tells 201
 * from 200 (same spec already there). 409 if the name holds another spec. in is
 * the spec as submitted (borrowed). */
int store_study_create(struct db *db, const json_t *in, const struct spec *sp,
                       struct study_info *out, bool *created, struct serr *e);
/* Every study with counts and best values. */
int store_study_list(struct db *db, struct study_list *out, struct serr *e);
/* One study with spec, counts, best trial and token totals. */
int store_study_get(struct db *db, const char *name, struct study_info *out, struct serr *e);
/* Set the state; out gets the study. 409 when a study that spent its budget is
 * asked to run again. */
int store_study_set_state(struct db *db, const char *name, enum study_state state,
                          struct study_info *out, struct serr *e);
/* Delete a study and everything of it. */
int store_study_delete(struct db *db, const char *name, struct serr *e);

/* Trial state counts of a study. Must run inside a transaction or alone. */
int store_counts(struct db *db, long long study_id, struct counts *c);
/* Finish the study when its budget is spent (lifecycle_finish_reason()), and
 * stop its running trials. Must run inside a transaction: 1 when the study is
 * (now) finished, 0 when its budget lasts, -1 on a database error. */
int store_finish_if_done(struct db *db, struct study *st, const struct counts *c);

/* --- notes (notes.c) --- */

/* The most bytes a note may hold. */
#define STORE_NOTE_MAX 65536

/* Set the note of study name to text (borrowed UTF-8; NULL or "" removes it),
 * stamped now. *at gets the time written (STORE_NO_TIME when removed). 404
 * when there is no such study. */
int store_study_note_set(struct db *db, const char *name, const char *text, int64_t *at,
                         struct serr *e);
/* Set the note of trial number of study name, as store_study_note_set();
 * out gets the trial. 404 when the study or the trial is absent. */
int store_trial_note_set(struct db *db, const char *name, long long number, const char *text,
                         struct trial *out, struct serr *e);

/* --- trials (trials.c) --- */

/* A trial row. */
struct trial {
    long long id;             /* row id */
    long long study_id;       /* its study */
    long long number;         /* number within the study */
    enum trial_state state;   /* lifecycle state */
    json_t *params;           /* owned, JSON null when unreadable */
    double value;             /* NAN when none */
    json_t *values;           /* owned values by name, NULL when none */
    char *source;             /* owned: llm, gp, manual, fallback:gp ...; NULL when none */
    char *worker;             /* owned lease holder or last one, NULL when none */
    int attempts;             /* leases so far */
    int64_t created_at;       /* ms */
    int64_t started_at;       /* ms, or STORE_NO_TIME */
    int64_t finished_at;      /* ms, or STORE_NO_TIME */
    char *error;              /* owned, NULL when none */
    bool has_last_step;       /* last_step is set */
    long long last_step;      /* the latest reported step */
    double last_value;        /* its value, NAN when none */
    int64_t lease_expires_at; /* ms as stored, or STORE_NO_TIME (heartbeats may extend it) */
    char *sandbox;            /* owned sandbox the worker ran it in, NULL when none */
    char *note;               /* owned: a person's note on the trial, NULL when none */
    int64_t note_at;          /* ms when the note was written, or STORE_NO_TIME */
    json_t *objs;             /* owned objective values in the spec's order (array, null where
                                 not reported), NULL when none */
    int feasible;             /* 1 every constraint holds, 0 one does not, -1 not judged */
    bool pareto;              /* on its study's Pareto front */
    bool multi;               /* its study has several objectives or constraints (spec_multi) */
};
/* Release what t owns; accepts a zeroed struct. */
void store_trial_release(struct trial *t);

/* Trials in order. */
struct trial_list {
    struct trial *v; /* owned array */
    size_t n;        /* entries */
};
void store_trial_list_release(struct trial_list *l);

/* One intermediate report. */
struct trial_report {
    long long step; /* step */
    double value;   /* NAN when none */
    json_t *values; /* owned, NULL when none */
    int64_t at;     /* ms */
    double prune_p; /* the curve pruner's chance at this report, NAN when none */
};
/* One lease of a trial. */
struct trial_attempt {
    long long attempt;  /* 1, 2, ... */
    char *worker;       /* owned, NULL when none */
    int64_t started_at; /* ms, or STORE_NO_TIME */
    int64_t ended_at;   /* ms, or STORE_NO_TIME */
    char *outcome;      /* owned: completed, failed, pruned, stale, stopped; NULL while open */
};
/* A trial with its study's name, reports and attempts. */
struct trial_detail {
    struct trial trial;             /* the row */
    char study[80];                 /* its study's name */
    struct trial_report *reports;   /* owned, by step */
    size_t n_reports;               /* entries */
    struct trial_attempt *attempts; /* owned, by attempt */
    size_t n_attempts;              /* entries */
    char *prune_reason;             /* owned: why the pruner stopped it, NULL when it did not */
};
void store_trial_detail_release(struct trial_detail *d);

/* The order of a page of trials. */
enum store_order {
    STORE_ORDER_NUMBER,      /* by number, numbers > after */
    STORE_ORDER_NUMBER_DESC, /* newest first, numbers < after */
    STORE_ORDER_VALUE,       /* by value ascending, trials without one last; after a position */
    STORE_ORDER_VALUE_DESC,  /* by value descending, trials without one last; after a position */
};

/* One intermediate value of a trial's curve. */
struct curve_point {
    long long step; /* the report's step */
    double value;   /* its value, NAN when it had none */
};
/* A trial's intermediate values in step order. */
struct trial_curve {
    struct curve_point *v; /* owned */
    size_t n;              /* entries */
};

/* A page of trials: state and source filters (NULL for all; a source also
 * matches "source:..."), with pareto only the study's Pareto set (for one
 * objective its best trial), at most limit, in order: by number after `after`
 * (before it when descending; -1 for the start), or by value from the
 * position `after`. With curves, each trial's intermediate values too. */
struct trial_page {
    struct trial_list trials;   /* the page */
    struct trial_curve *curves; /* owned, one per trial when asked, else NULL */
    bool more;                  /* more follow */
    long long next_after;       /* what to pass as after for the next page */
    long long total;            /* trials matching the filters */
};
int store_trials_page(struct db *db, const char *name, const enum trial_state *state,
                      const char *source, bool pareto, long long after, long long limit,
                      enum store_order order, bool curves, struct trial_page *out, struct serr *e);
void store_trial_page_release(struct trial_page *p);
/* Every trial of a study by number. */
int store_trials_all(struct db *db, long long study_id, struct trial_list *out, struct serr *e);
/* The best completed trial (feasible, when the study has constraints), 404 when none. */
int store_best(struct db *db, const char *name, struct trial *out, struct serr *e);
/* Enqueue a trial with given params (borrowed, already checked against the
 * space); out gets it. 409 when the study is finished. */
int store_enqueue(struct db *db, const char *name, const json_t *params, const char *source,
                  struct trial_detail *out, struct serr *e);
/* One trial with its reports and attempts. */
int store_trial_get(struct db *db, long long id, struct trial_detail *out, struct serr *e);
/* The study of trial id, 0 when there is no such trial (or on an error). */
long long store_trial_study(struct db *db, long long id);

/* Who sends a heartbeat, report or completion: the token its request came
 * with, which must be the one the lease was taken with (lifecycle_token_may()). */
struct caller {
    long long token; /* row id of the caller's token, 0 for none */
    bool admin;      /* an admin token (or an open daemon): may act on any trial */
};

/* Check worker's lease on trial id for a heartbeat. *action as the lifecycle
 * says, *lease_ms the study's lease length (to extend the lease in memory).
 * 409 when the worker does not hold the lease or who (borrowed; NULL for no
 * token) is not the token it was taken with. Writes nothing. */
int store_heartbeat(struct db *db, long long id, const char *worker, const struct caller *who,
                    enum trial_action *action, int64_t *lease_ms_out, struct serr *e);

/* A completion of a trial by its worker. */
struct completion {
    long long trial_id;          /* the trial */
    const char *worker;          /* borrowed: who completes it */
    enum trial_state state;      /* completed, failed or pruned */
    double value;                /* NAN for none: a pruned trial keeps its last reported value */
    const json_t *values;        /* borrowed values by name, or NULL */
    const char *error;           /* borrowed error text, or NULL */
    const char *sandbox;         /* borrowed sandbox name, or NULL */
    struct worker_limits limits; /* the cut-off, from the daemon's settings */
    struct caller who;           /* the token it came with */
};
/* Finish a trial (lifecycle_complete_check(): 409 when the worker does not
 * hold the lease or the token is not the lease's), count the worker's result,
 * finish the study when its budget is spent. *already is set when the same
 * completion was recorded before (a resend: nothing changes); a completion of
 * a finished trial with another state or value is a 409. out (when not NULL)
 * gets the trial as recorded. */
int store_complete(struct db *db, const struct completion *c, struct trial_detail *out,
                   bool *already, struct serr *e);

/* Requeue, fail or prune (lifecycle_on_expiry()) the running trials whose lease
 * in the database ran out before now_ms, unless held(id) (when not NULL) says
 * their lease runs on in memory. Up to cap trial ids go to reaped. Returns how
 * many trials were reaped, or -1. */
int store_reap(struct db *db, int64_t now_ms, int64_t (*held)(long long id), long long *reaped,
               size_t cap);
/* At start-up: every running trial gets a lease of at least its study's full
 * length from now_ms, since its worker could not send heartbeats while the
 * daemon was down and those it sent before are gone with the memory that held
 * them. Returns the trials touched, or -1. */
int store_lease_grace(struct db *db, int64_t now_ms);

/* The suggest path, in two transactions around the sampler. */
struct lease_plan {
    struct trial_list trials; /* owned: leased to the worker (or given back to it) */
    bool redelivered;         /* trials are the worker's own running trials, given back */
    enum study_state state;   /* the study's state after the transaction */
    struct counts counts;     /* counts at the start */
    int64_t blocked_until;    /* the worker is cut off until then (ms), else 0 */
    size_t want;              /* new trials the sampler should make (within the budget) */
};
void store_lease_plan_release(struct lease_plan *p);
/* One transaction: give worker its own running trials back (a restarted
 * worker); otherwise finish the study if its budget is spent, check the
 * cut-off and lease pending trials oldest first, within count and
 * max_parallel; then say how many new trials are wanted. */
/* token is the row id of the caller's token (0 for none): leases record it and
 * only trials leased with it are given back. */
int store_suggest_lease(struct db *db, const struct study *st, const char *worker, long long token,
                        int count, struct lease_plan *out, struct serr *e);
/* Called in store_trials_create()'s transaction for each trial created: i is
 * its index in configs. Returns 0, or -1 to roll everything back. */
typedef int (*store_created_fn)(struct db *db, void *arg, size_t i, long long number);
/* One transaction: insert n trials with configs[i] (borrowed) and sources[i],
 * already leased to worker under token (a token row id, 0 for none),
 * appending them to out. */
int store_trials_create(struct db *db, const struct study *st, const char *worker, long long token,
                        json_t *const *configs, char *const *sources, size_t n,
                        store_created_fn created, void *arg, struct trial_list *out,
                        struct serr *e);

/* A finished or open trial as a sampler sees it. */
struct trial_outcome {
    json_t *params;         /* owned */
    enum trial_state state; /* state */
    double value;           /* NAN when none */
    double last_value;      /* NAN when none */
    long long number;       /* trial number */
    long long id;           /* trial row id */
    long long last_step;    /* step of its last report, -1 when none */
    json_t *values;         /* owned metrics of its result by name, NULL when none or not asked */
};
/* Every trial of the study by number (those whose params do not parse are
 * left out), with values when asked. *out is a new array; free with
 * store_outcomes_free. */
int store_outcomes(struct db *db, long long study_id, bool values, struct trial_outcome **out,
                   size_t *n);
void store_outcomes_free(struct trial_outcome *v, size_t n);

/* Every started trial's reports of one study, by trial id, for the
 * samplers' use of pruned trials. */
struct study_curves {
    long long *id;   /* trial ids, ascending */
    long long *last; /* each trial's last step */
    size_t *off;     /* trial k's reports are [off[k], off[k + 1]) */
    size_t nt;       /* trials */
    long long *step; /* report steps, ascending within a trial */
    double *val;     /* report values, NAN when not a number */
    size_t nr;       /* reports */
};
/* Load them (at most max_reports; -1 past it, as on a database error: the
 * caller then goes without). Free with store_curves_free. */
int store_curves(struct db *db, long long study_id, size_t max_reports, struct study_curves *c);
void store_curves_free(struct study_curves *c);

/* --- several objectives (objectives.c) --- */

/* The Pareto set of a study of several objectives: its feasible completed
 * trials that no other dominates, kept as trials complete. */
struct front_rows {
    struct trial_list trials; /* by number */
    long long n_completed;    /* completed trials */
    long long n_feasible;     /* completed trials that are feasible (all, without constraints) */
};
/* Read the front of study_id (the caller has loaded the study). */
int store_front(struct db *db, long long study_id, struct front_rows *out, struct serr *e);
void store_front_release(struct front_rows *f);
/* The completed trials of study_id by number with their objective vectors
 * (n rows of m values, own units, NAN where missing; a new array) and
 * feasibility (1, 0, -1 not judged; a new array): the hypervolume history. */
int store_objective_rows(struct db *db, long long study_id, size_t m, long long **numbers,
                         double **objs, int **feasible, size_t *n, struct serr *e);

/* At start-up: the studies of several objectives or with constraints whose
 * completed trials finished before the daemon recorded objectives (a database
 * of an earlier version) get each finished trial's objective vector and
 * feasibility (a completed trial missing a constraint's metric is
 * infeasible), their Pareto set and reference point. Returns the studies
 * repaired, or -1. */
int store_objectives_repair(struct db *db);
/* Inside the caller's transaction (an import): recompute the Pareto set of
 * study_id from its trials, and record reference (JSON array text, borrowed)
 * as its derived reference point, or derive one when reference is NULL. */
int store_front_restore(struct db *db, long long study_id, const char *reference);

/* --- reports (reports.c) --- */

/* An intermediate report from a worker. */
struct report_in {
    long long trial_id;   /* the trial */
    const char *worker;   /* borrowed: who reports */
    long long step;       /* step */
    double value;         /* NAN when only values */
    const json_t *values; /* borrowed, or NULL */
    struct caller who;    /* the token it came with */
};
/* The pruner's decision, asked once store_report()'s transaction has
 * committed the report, outside any transaction (its reads see the report; a
 * slow pruner does not hold the write lock): true to stop the trial (it then
 * records prune_step with store_prune_mark()). */
typedef bool (*store_prune_fn)(struct db *db, long long study_id, long long trial_id,
                               long long step, double value);
/* Record a report (409 when the worker does not hold the lease), extend the
 * lease in the database, ask prune (when not NULL) unless the trial was
 * already stopped; *action as lifecycle_report_action() says. */
int store_report(struct db *db, const struct report_in *r, store_prune_fn prune,
                 enum trial_action *action, struct serr *e);
/* Store n reports of trial_id (steps[i], values[i], NAN for none) with no
 * lease check (imports, tests): one transaction; the trial's last step only
 * grows. */
int store_reports_add(struct db *db, long long trial_id, const long long *steps,
                      const double *values, size_t n, struct serr *e);

/* What a pruner reads and writes, after the report's commit. The reads run
 * inside the caller's transaction or alone; the writes (store_prune_set_p,
 * store_prune_mark) each in a transaction of their own, so they are called
 * outside any. All return 0 or -1. */
/* The study's "pruner" object (new reference, NULL when none), the index of
 * the objective it watches and that objective's direction. */
int store_prune_opts(struct db *db, long long study_id, json_t **pruner, size_t *objective,
                     bool *maximize);
/* The trial's reports by step: steps[i], values[i] (NAN when none); new arrays. */
int store_prune_curve(struct db *db, long long trial_id, long long **steps, double **values,
                      size_t *n);
/* How many completed trials the study has. */
int store_prune_completed(struct db *db, long long study_id, long *n);
/* The study's best completed value of objective (an index; NAN when none). */
int store_prune_best(struct db *db, long long study_id, size_t objective, bool maximize,
                     double *best);
/* The values other trials of the study compare with at step: for median, each
 * by its latest report at or before step (completed trials, and running ones
 * that reached the step); for a rung (asha), by the first report at or after
 * step of every trial that reached it, with their trial numbers in *numbers
 * (new array; numbers may be NULL) for hyperband's brackets. *values is a new
 * array. */
int store_prune_median_others(struct db *db, long long study_id, long long trial_id, long long step,
                              double **values, size_t *n);
int store_prune_rung_others(struct db *db, long long study_id, long long trial_id, long long step,
                            double **values, long long **numbers, size_t *n);
/* The completed trials' final values of objective (an index; new array; values may be NULL to ask
 * for the length alone) and the longest one's last step (0 when none): the
 * curve pruner's comparison and the trial length of asha, hyperband, curve. */
int store_prune_finals(struct db *db, long long study_id, size_t objective, double **values,
                       size_t *n, long long *max_step);
/* The curve pruner's cross-trial evidence at step: for the study's latest
 * STORE_PRUNE_MAX_PAIRS completed trials that reported after step, the value
 * at step (the latest report at or before it, NAN when none) and the final
 * value of objective (an index), interleaved in *pairs (new array, 2 * *n
 * entries). A trial whose reports ended at or before step tells nothing of
 * how a value there goes on. */
#define STORE_PRUNE_MAX_PAIRS 1000
int store_prune_pairs(struct db *db, long long study_id, size_t objective, long long step,
                      double **pairs, size_t *n);
/* The name of the pruner of trial_id's study ("" when there is no such
 * trial), from the cache of parsed specs. */
int store_prune_name(struct db *db, long long trial_id, char *name, size_t len);
/* The number of trial_id within its study. */
int store_prune_number(struct db *db, long long trial_id, long long *number);
/* Keep the probability a pruner computed with the report at step. */
int store_prune_set_p(struct db *db, long long trial_id, long long step, double p);
/* Record that the pruner stopped trial_id at step, and why (reason, may be
 * NULL); *number gets its number, or -1 when the trial was no longer running
 * or already stopped (nothing is written then). */
int store_prune_mark(struct db *db, long long trial_id, long long step, const char *reason,
                     long long *number);
/* Whether trial_id was stopped by the pruner already. */
int store_prune_judged(struct db *db, long long trial_id, bool *judged);

/* --- workers (workers.c) --- */

/* Count worker's result for its study inside a transaction: a failure that
 * counts (lifecycle_counts_against_worker()) adds one to its consecutive
 * failures and, at lim->fail_limit, cuts it off; a success resets the count. */
int store_worker_result(struct db *db, long long study_id, const char *worker, bool failed,
                        const struct worker_limits *lim);
/* Until when (ms) worker is cut off from the study, 0 when it is not. Inside a
 * transaction or alone. */
int store_worker_blocked_until(struct db *db, long long study_id, const char *worker,
                               int64_t *until);

#endif
