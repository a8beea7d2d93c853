#ifndef SPEC_H
#define SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "space.h"

/* A parsed, validated study spec (DESIGN.md "Study spec"), defaults filled in. */
#define SPEC_MAX_OBJECTIVES  4
#define SPEC_MAX_CONSTRAINTS 8

/* One objective of a study: a metric the job reports, and its direction. */
struct spec_objective {
    char *name;    /* owned metric name */
    bool maximize; /* direction */
};

/* A constraint: a metric the job reports that must lie in [min, max] (either
 * bound may be absent) for the trial to be feasible. */
struct spec_constraint {
    char *name; /* owned metric name */
    bool has_min, has_max;
    double min, max;
};

struct spec {
    char *name;          /* owned; [A-Za-z0-9._-]{1,64} */
    char *description;   /* owned, may be "" */
    char *objective;     /* owned metric name, default "value"; the first objective */
    bool maximize;       /* direction of the first objective */
    size_t n_objectives; /* 1 to SPEC_MAX_OBJECTIVES */
    struct spec_objective objectives[SPEC_MAX_OBJECTIVES]; /* [0] is objective/maximize */
    size_t n_constraints;                                  /* 0 to SPEC_MAX_CONSTRAINTS */
    struct spec_constraint constraints[SPEC_MAX_CONSTRAINTS];
    bool has_reference;                    /* "reference_point" given */
    double reference[SPEC_MAX_OBJECTIVES]; /* hypervolume reference, one per objective */
    struct space *space;                   /* owned */
    char *sampler;           /* owned: auto|random|sobol|tpe|gp|mogp|motpe|llm (tpe and gp only for
                                one objective without constraints) */
    uint64_t seed;           /* sampler seed (default derived from the name) */
    json_t *sampler_opts;    /* owned "sampler" object as given, defaults filled */
    json_t *llm;             /* owned "llm" object with defaults, or NULL when absent */
    char *pruner;            /* owned: none|median|asha|patience */
    json_t *pruner_opts;     /* owned "pruner" object */
    size_t pruner_objective; /* index of the objective the pruner watches ("pruner.objective",
                                default 0) */
    long max_trials;         /* budget.max_trials, default 100 */
    long max_parallel;       /* budget.max_parallel, default 8 */
    long max_failures;       /* budget.max_failures, default 10 */
    double trial_timeout_s;  /* budget.trial_timeout_s, default 3600, 0 = none */
    double heartbeat_s;      /* lease.heartbeat_s, default 30 */
    long stale_after;        /* lease.stale_after, default 2 */
    long max_retries;        /* lease.max_retries, default 2 */
    json_t *json;            /* owned: the whole spec with defaults filled, as stored */
};

/* Validate a spec object (borrowed). NULL with a message naming the field
 * ("budget.max_trials: must be a positive integer") on any violation, including
 * unknown top-level keys. */
struct spec *spec_parse(const json_t *in, char *err, size_t errlen);
/* True when the study has several objectives or constraints: its trials carry
 * an objective vector and a feasibility, and its samplers must model them. */
bool spec_multi(const struct spec *s);
/* Free a spec; accepts NULL. */
void spec_free(struct spec *s);
/* True when name is a valid study name. */
bool spec_name_valid(const char *name);

#endif
