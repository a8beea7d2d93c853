#ifndef IMPORTANCES_H
#define IMPORTANCES_H

#include <stddef.h>

#include "db.h"
#include "store.h"

/* Parameter importances of a study (GET /studies/{name}/importance), computed
 * off the request threads. One worker thread fits the models
 * (server/samplers/importance.h: fanova, a random forest and its functional
 * ANOVA, or gp, the GP's length scales) on the completed trials (not pruned,
 * failed or running ones), and keeps the latest report per study and method
 * in memory, keyed by the number of completed trials: a request that finds the
 * report for the study's current count gets it at once; any other queues the
 * job (once) and waits for the store's event sequence, which the worker bumps
 * when a report is ready. Fewer than 2 completed trials need no model: the
 * report (all zero, with a note) is made on the spot. */

enum imp_method {
    IMP_FANOVA, /* random forest, functional ANOVA (the default) */
    IMP_GP,     /* 1 / length scale^2 of the GP */
};

/* The method called name ("fanova", "gp"): 0, or -1 for another name. */
int importances_method_parse(const char *name, enum imp_method *m);
/* Its name, a static string. */
const char *importances_method_name(enum imp_method m);

struct imp_item {
    char *param;       /* owned: the parameter's name */
    double importance; /* in [0, 1] */
};

/* What GET /studies/{name}/importance answers. */
struct imp_report {
    char study[80];         /* the study's name */
    enum imp_method method; /* how it was computed */
    long long n_trials;     /* the completed trials it comes from */
    char *objective;        /* owned: the objective's name */
    struct imp_item *v;     /* owned: every parameter of the space, most important first
                               (ties in the space's order), summing to 1 or all 0 */
    size_t n;               /* parameters */
    char *note;             /* owned: why they are all 0, or NULL */
};
/* Release what r owns; accepts a zeroed struct. */
void imp_report_release(struct imp_report *r);

/* Compute st's report now, on the calling thread (the worker; tests): loads
 * the completed trials and fits the model. 0, or -1 with e. */
int importances_compute(struct db *db, const struct study *st, enum imp_method m,
                        struct imp_report *out, struct serr *e);

/* The report for st's completed trials as they are now. 1 with *out (a copy,
 * release it) when there is one; 0 when it is being computed (the job is
 * queued, *n_trials gets the count it will come from) and the caller should
 * wait for wake_importance() of the study (wake.h); -1 with e on a database error, when the
 * worker thread is not running (503), or when the computation for this count
 * failed (reported once; the next call queues it again). */
int importances_get(struct db *db, const struct study *st, enum imp_method m,
                    struct imp_report *out, long long *n_trials, struct serr *e);

/* Start the worker thread: 0 or -1. */
int importances_start(void);
/* Stop it (a computation under way finishes first) and forget the reports. */
void importances_stop(void);

#endif
