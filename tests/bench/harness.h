#ifndef HARNESS_H
#define HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampler.h"
#include "space.h"

/* What the in-process benchmark drivers (bench_samplers, bench_moo) share: a
 * study's history kept in memory, one proposal from a sampler, a box of float
 * parameters, a pool of threads over the runs, and the statistics printed. */

/* The median of v (n entries, sorted in place); NAN when n is 0. */
double harness_median(double *v, size_t n);
/* The median and the 99th percentile (nearest rank) of ms (n > 0 entries,
 * sorted in place). */
void harness_percentiles(double *ms, size_t n, double *median, double *p99);
/* Milliseconds from a to b. */
double harness_ms_between(const struct timespec *a, const struct timespec *b);

/* Whether name is in the comma-separated list (an empty or NULL list holds all). */
bool harness_listed(const char *list, const char *name);
/* Split list at commas in place into out (at most max names); the count. */
int harness_split_list(char *list, const char **out, int max);

/* Float parameters x0, x1, ... on [lo[j], hi[j]] (borrowed); NULL, with a
 * message naming who, when the space does not parse. */
struct space *harness_box_space(int dims, const double *lo, const double *hi, const char *who);

/* A study's history. */
struct harness_history {
    struct obs *obs; /* owned; params owned references */
    double *values;  /* owned, n * nobj objective rows (nobj > 1) */
    double *cons;    /* owned, n * ncon constraint rows (ncon > 0) */
    size_t n, cap;   /* trials held and room */
    size_t nobj;     /* objectives: 0 or 1 for one (in obs.value), else 2 to 4 */
    size_t ncon;     /* constraints */
};

/* Append a trial: params (taken, also on error), its state, its objectives y
 * (nobj entries, at least one) and constraint values c (ncon entries, or
 * NULL when ncon is 0). 0 or -1. */
int harness_history_add(struct harness_history *h, json_t *params, enum obs_state state,
                        const double *y, const double *c);
void harness_history_release(struct harness_history *h);

/* One proposal of sampler with history h (options borrowed, may be NULL); a
 * new reference, or NULL with a message naming who. */
json_t *harness_propose(const char *who, const char *sampler, const struct space *s,
                        const struct harness_history *h, uint64_t seed, const json_t *options);

/* Run job(i, arg) for every i below n on jobs threads (1 to 16). The runs
 * form groups of group consecutive ones (the seeds of one case): when the last
 * run of a group finishes, done(first, finished, arg) (may be NULL) is called
 * with the pool's lock held, first being the group's first run and finished
 * the runs finished so far. 0, or -1 (out of memory) before any run. */
int harness_pool_run(size_t n, size_t group, int jobs, void (*job)(size_t i, void *arg),
                     void (*done)(size_t first, size_t finished, void *arg), void *arg);

#endif
