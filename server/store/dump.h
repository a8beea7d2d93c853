#ifndef DUMP_H
#define DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A whole study as rows: what an export reads and an import writes back
 * (server/api/transfer.c turns it into the export document and back). Text
 * members are NULL where the column is NULL; a has_ flag says whether the
 * number beside it is set. */

/* One intermediate report. */
struct dump_report {
    long long step;    /* step number */
    bool has_value;    /* value is set */
    double value;      /* the reported value */
    char *values_json; /* owned: the named values as JSON text, or NULL */
    int64_t at;        /* when it was reported, ms since the epoch */
};

/* One trial with its reports. */
struct dump_trial {
    long long number;            /* the trial's number in its study */
    char *state;                 /* owned: pending, running, completed, failed, pruned */
    char *params_json;           /* owned: the params as JSON text */
    bool has_value;              /* value is set */
    double value;                /* the objective's value */
    char *values_json;           /* owned: the objectives' values as JSON text, or NULL */
    char *source;                /* owned, or NULL */
    char *worker;                /* owned, or NULL */
    long long attempts;          /* leases taken */
    int64_t created_at;          /* ms since the epoch; 0 for none */
    int64_t started_at;          /* ms since the epoch; 0 for none */
    int64_t finished_at;         /* ms since the epoch; 0 for none */
    char *error;                 /* owned, or NULL */
    bool has_last_step;          /* last_step is set */
    long long last_step;         /* the last reported step */
    bool has_last_value;         /* last_value is set */
    double last_value;           /* the value reported at last_step */
    char *sandbox;               /* owned, or NULL */
    char *objs_json;             /* owned: the objective vector as JSON text, or NULL */
    int feasible;                /* 1, 0, or -1 when not judged */
    bool has_violation;          /* violation is set */
    double violation;            /* the total constraint violation */
    struct dump_report *reports; /* owned, n_reports of them, by step */
    size_t n_reports;            /* entries of reports */
};

/* A study: its spec, state and trials. */
struct dump {
    char *name;                /* owned: the study's name */
    char *spec_json;           /* owned: the full spec as stored (export), or as written (import) */
    char *spec_in_json;        /* owned: the spec as submitted, canonical (import only) */
    int direction;             /* 1 minimize, -1 maximize (import only) */
    char *state;               /* owned: running, paused, finished (export only) */
    bool multi;                /* several objectives or constraints (export only) */
    char *reference_json;      /* owned: the recorded derived reference point, or NULL */
    struct dump_trial *trials; /* owned, n_trials of them, by number */
    size_t n_trials;           /* entries of trials */
};

/* Read study name (borrowed) with every trial and report into *out. 0, or -1
 * with e set (404 when there is no such study) and nothing to release. */
int dump_read(struct db *db, const char *name, struct dump *out, struct serr *e);
/* Create the study of in (borrowed) with its trials and reports, in one
 * transaction that also finishes the study when its budget is spent. On 0,
 * *study_id is the new study's row id. -1 with e set: 409 when the name is
 * taken, 400 naming trials[i].number when a number appears twice, the
 * database's error otherwise; nothing is written then. */
int dump_restore(struct db *db, const struct dump *in, long long *study_id, struct serr *e);
/* Free the members of d; accepts an all-zero struct. */
void dump_release(struct dump *d);
/* Free the members of one trial (for a caller filling a dump). */
void dump_trial_release(struct dump_trial *t);

#endif
