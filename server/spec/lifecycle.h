#ifndef LIFECYCLE_H
#define LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "spec.h"

/* The rules of a trial's life (DESIGN.md, "Trial lifecycle"): the states of
 * trials and studies, who may finish a trial, when a worker is cut off, when a
 * study is done, what an expired lease becomes, what a report or heartbeat
 * answers.
 *
 * Every rule is a function of plain values: it reads no database, holds no
 * lock and keeps no state. The store calls them from inside its transactions
 * (server/store/), so the decision and the write it leads to commit together;
 * core and api call them too. That is why this header lives beside the spec, in
 * the lowest layer that knows what a study is: the store may include it without
 * reaching up into core, and no layer above needs to copy a rule. The other way
 * round (transaction bodies in core calling statement functions of the store)
 * would split each unit of work between two layers and let core see SQL
 * results; a rule that needs a value asks the store for it first. */

/* A trial's state, stored as its name (trial_state_name()). */
enum trial_state {
    TRIAL_PENDING,   /* waiting for a worker */
    TRIAL_RUNNING,   /* leased to a worker */
    TRIAL_COMPLETED, /* finished with a value */
    TRIAL_FAILED,    /* finished without one */
    TRIAL_PRUNED,    /* stopped early by the pruner or the worker */
};
#define TRIAL_STATES 5

/* A study's state, stored as its name (study_state_name()). */
enum study_state {
    STUDY_RUNNING,  /* hands out trials */
    STUDY_PAUSED,   /* keeps its trials, hands out none */
    STUDY_FINISHED, /* budget spent or stopped by a person */
};

/* The name of a state ("pending", ...): a static string. */
const char *trial_state_name(enum trial_state s);
const char *study_state_name(enum study_state s);
/* Parse a state name; 0, or -1 (and *out untouched) for any other text or NULL. */
int trial_state_parse(const char *text, enum trial_state *out);
int study_state_parse(const char *text, enum study_state *out);
/* True for completed, failed and pruned: the states a trial ends in. */
bool trial_state_final(enum trial_state s);

/* Trial state counts of a study. */
struct counts {
    long long pending, running, completed, failed, pruned;
    long long next_number; /* the number the next trial gets */
};

/* What a worker is told to do with a running trial. */
enum trial_action {
    ACTION_CONTINUE, /* go on */
    ACTION_PRUNE,    /* the pruner stopped it: end it as pruned */
    ACTION_STOP,     /* the study is finished or the lease is gone */
};
/* "continue", "prune" or "stop": a static string. */
const char *trial_action_name(enum trial_action a);

/* Whether worker may act on a trial in state now leased to holder (NULL or ""
 * when none). */
enum lease_check {
    LEASE_HELD,        /* running and leased to worker */
    LEASE_NOT_RUNNING, /* the trial is not running */
    LEASE_OTHER,       /* running, leased to another worker */
    LEASE_RESENT,      /* already ended as asked, by worker: a resend (completion only) */
};
enum lease_check lifecycle_lease_check(enum trial_state now, const char *holder,
                                       const char *worker);
/* The same for a completion asking for state wanted: a completion that was
 * recorded already (same state, same worker) is a resend, not a conflict. */
enum lease_check lifecycle_complete_check(enum trial_state now, const char *holder,
                                          const char *worker, enum trial_state wanted);

/* The worker cut-off: after limit consecutive failures a worker gets no new
 * trial of the study for cooldown_s. From the daemon's settings. */
struct worker_limits {
    int fail_limit; /* consecutive failures that cut a worker off */
    int cooldown_s; /* how long it then waits */
};
/* Whether a finished trial counts as a failure of its worker: a failed trial
 * does, unless the study has a code parameter (code the LLM wrote fails for
 * its code, not for the worker). */
bool lifecycle_counts_against_worker(enum trial_state outcome, bool has_code);
/* Whether the study's space has a code parameter. */
bool lifecycle_has_code(const struct spec *sp);
/* Until when (ms) a worker with failures consecutive failures is cut off, or 0
 * when it is not. */
int64_t lifecycle_cut_off_until(int failures, const struct worker_limits *lim, int64_t now_ms);

/* Why the study is done (a static message), or NULL while its budget lasts:
 * max_trials finished trials or max_failures failures. */
const char *lifecycle_finish_reason(const struct counts *c, const struct spec *sp);

/* What a running trial whose lease ran out becomes. */
enum expiry_fate {
    EXPIRY_REQUEUE, /* pending again, for another worker */
    EXPIRY_FAIL,    /* failed: it used up max_retries */
    EXPIRY_PRUNE,   /* pruned: the pruner had already stopped it */
};
/* After attempts leases, with max_retries allowed and judged when the pruner
 * had stopped it. */
enum expiry_fate lifecycle_on_expiry(int attempts, long max_retries, bool judged);

/* A prune decision sticks: a report of a trial the pruner stopped (judged)
 * answers prune without asking the pruner again; otherwise the pruner's answer
 * (pruned_now). */
enum trial_action lifecycle_report_action(bool judged, bool pruned_now);
/* What a heartbeat answers: stop once the study is finished, prune once the
 * pruner stopped the trial, continue otherwise. */
enum trial_action lifecycle_heartbeat_action(bool study_finished, bool judged);

/* --- several objectives and constraints (spec_multi() studies) --- */

/* What a finished trial records of its objectives and constraints. */
struct outcome {
    double objs[SPEC_MAX_OBJECTIVES];  /* objective values in the spec's order, in their own
                                          units; NAN where not reported */
    double cons[SPEC_MAX_CONSTRAINTS]; /* each constraint's value: <= 0 when it holds, else the
                                          amount it is missed by; NAN where not reported */
    int feasible;                      /* 1 every constraint holds, 0 one does not, -1 not
                                          judged (no constraints, or not completed) */
    double violation;                  /* the sum of the positive cons, NAN when not judged */
};
/* The value of constraint c for a reported metric x: how far x lies outside
 * [min, max] (positive), or minus its distance to the nearer bound inside. */
double lifecycle_constraint_value(const struct spec_constraint *c, double x);
/* Read a trial's objectives and constraints from values (borrowed metrics by
 * name, may be NULL) and value (stands for the first objective when values
 * does not name it; NAN for none) as it ends in state. A completed trial must
 * carry every objective and every constraint's metric as a finite number:
 * otherwise -1 with a message naming the member ("values.latency_ms: required:
 * an objective of this study"). 0 on success. */
int lifecycle_outcome(const struct spec *sp, enum trial_state state, double value,
                      const json_t *values, struct outcome *out, char *err, size_t errlen);
/* Whether objective vector a (spec order, own units) dominates b: no worse in
 * every objective in its direction, better in one. */
bool lifecycle_dominates(const struct spec *sp, const double *a, const double *b);
/* Feasible completed trials after which a study without a reference point in
 * its spec derives one: max(10, 2 m + 2) for m objectives. */
size_t lifecycle_reference_after(const struct spec *sp);
/* The derived reference point of objs (n rows of n_objectives values, the
 * first feasible completed trials in completion order) into ref: per
 * objective its worst value moved by a tenth of the range (of the value itself
 * when the range is 0, or 1 when both are 0) further in the worse direction. */
void lifecycle_reference(const struct spec *sp, const double *objs, size_t n, double *ref);

/* A study's lease length in ms: heartbeat_s times stale_after. */
int64_t lease_ms(const struct spec *sp);

#endif
