#ifndef FRONT_H
#define FRONT_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* A study's Pareto set as GET /studies/{name}/pareto answers it: the feasible
 * completed trials no other dominates, the hypervolume they enclose against
 * the reference point (the spec's, or the one derived from the first trials
 * and recorded), and optionally how the hypervolume grew trial by trial. A
 * study of one objective answers its best trial as a front of one, with no
 * hypervolume. */

/* Where the reference point comes from. */
enum front_reference {
    FRONT_REF_NONE,    /* none yet: too few feasible completed trials to derive one */
    FRONT_REF_SPEC,    /* the spec's "reference_point" */
    FRONT_REF_DERIVED, /* derived and recorded */
};

struct front {
    struct study st;                       /* the study (release with front_release) */
    struct trial_list trials;              /* the front, by the first objective, best first */
    long long n_completed;                 /* completed trials */
    long long n_feasible;                  /* of which feasible */
    enum front_reference ref_source;       /* where reference comes from */
    double reference[SPEC_MAX_OBJECTIVES]; /* read unless ref_source is FRONT_REF_NONE */
    double hypervolume;                    /* NAN without a reference (or one objective) */
    long long *hv_numbers;                 /* owned, with history: completed trials by number */
    double *hv_values;                     /* owned: the hypervolume after each of them */
    size_t n_hv;                           /* entries of both */
    bool history;                          /* the history was asked for */
};

/* Load study name's front; with history also the hypervolume after each
 * completed trial (against the current reference point). 0, or -1 with e set
 * (404 when there is no such study). */
int front_get(struct db *db, const char *name, bool history, struct front *out, struct serr *e);
/* Release what f holds; accepts a zeroed struct. */
void front_release(struct front *f);
/* The name of a reference source: "spec", "derived", or NULL for none. */
const char *front_reference_name(enum front_reference r);
/* The hypervolume of the n objective vectors objs (rows of sp->n_objectives
 * values in their own units, maximised ones negated inside) against ref; NAN
 * when out of memory. */
double front_hypervolume(const struct spec *sp, const double *objs, size_t n, const double *ref);

#endif
