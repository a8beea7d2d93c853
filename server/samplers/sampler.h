#ifndef SAMPLER_H
#define SAMPLER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "space.h"

/* The one interface every classical sampler implements: given the space, the
 * finished trials and the ones still being evaluated, propose k configurations.
 * Samplers keep no state between calls: everything is recomputed from history,
 * so a restarted daemon proposes exactly what it would have. */

enum obs_state { OBS_COMPLETED, OBS_PRUNED, OBS_FAILED, OBS_PENDING };

struct obs {
    const json_t *params; /* borrowed configuration */
    double value;         /* objective, already oriented so that lower is better;
                             for pruned: the last reported value (oriented), NAN if none */
    enum obs_state state; /* how it ended, or OBS_PENDING while being evaluated */
    long number;          /* trial number within the study */
};

/* The median value of the completed trials in history[0..n), NAN when none. */
double obs_median_final(const struct obs *history, size_t n);

/* What is known of a pruned trial's final value (multi-fidelity evidence). */
struct obs_mf {
    double fidelity;    /* the fraction of a full trial's steps it ran, in (0, 1]; 0 when
                           unknown (not pruned, or no trial finished yet) */
    double value_final; /* its final value estimated from its rank (oriented): the completed
                           trials' final value at the quantile its last value held among the
                           trials that reached its last step; read only when fidelity > 0 */
};

struct sampler_ctx {
    const struct space *space; /* borrowed */
    const struct obs *history; /* finished trials (completed, pruned, failed), by number */
    size_t n_history;          /* entries in history */
    const struct obs *pending; /* trials pending or running (value NAN) */
    size_t n_pending;          /* entries in pending */
    uint64_t seed;             /* the study's seed */
    long next_number;          /* number the first proposal will get; seeds per-trial streams */
    const json_t *options;     /* borrowed "sampler" object of the spec (may hold tuning keys) */
    const struct obs_mf *mf;   /* borrowed, parallel to history, may be NULL: pruned trials'
                                  estimated final values */
    size_t n_objectives;       /* 0 or 1: one objective, in obs.value; 2 to 4: in values (and
                                  obs.value repeats the first, for single-objective samplers) */
    const double *values;      /* borrowed, n_history * n_objectives: row i holds history[i]'s
                                  objectives, each oriented so that lower is better, NAN where
                                  not reported (failed, pruned); NULL when n_objectives <= 1 */
    size_t n_constraints;      /* constraints of the study; 0 for none */
    const double *constraints; /* borrowed, n_history * n_constraints: row i holds history[i]'s
                                  constraint values, satisfied when <= 0, a positive value being
                                  the amount of violation (Optuna's convention); NAN where not
                                  reported; NULL when n_constraints is 0 */
};

/* The value a model should learn for history[i]: for a pruned trial with an
 * estimate, its value_final pulled toward median_final (the median of the
 * completed values) in proportion to the steps it missed, a shrinkage that
 * stands for its larger noise; otherwise its value. */
double obs_pruned_value(const struct sampler_ctx *ctx, size_t i, double median_final);

/* How much history[i] counts (multi-fidelity): 1, or for a pruned trial its
 * fidelity (at least 0.1), 0.25 when it has no estimate. */
double obs_weight(const struct sampler_ctx *ctx, size_t i);

struct sampler_ops {
    const char *name; /* as in the spec: "random", "sobol", "tpe", "gp", "auto" */
    /* Write k new references into out[0..k-1]; 0, or -1 with err set. Every
     * proposal must pass space_check(). */
    int (*propose)(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err, size_t errlen);
};

/* The sampler called name, or NULL. */
const struct sampler_ops *sampler_find(const char *name);
/* Names of all classical samplers, NULL-terminated (for messages). */
const char *const *sampler_names(void);
/* Convenience: find by name and propose. */
int sampler_propose(const char *name, const struct sampler_ctx *ctx, size_t k, json_t **out,
                    char *err, size_t errlen);

#endif
