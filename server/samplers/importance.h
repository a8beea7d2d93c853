#ifndef IMPORTANCE_H
#define IMPORTANCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "space.h"

/* How much each parameter of a space matters to the objective, from the
 * finished trials: configurations (params objects) and their values.
 *
 * fanova: a random forest (forest.h) fitted on the parameters' unit
 * coordinates (param_to_unit: log scale, integer cells and categorical choices
 * as the space normalises them), and the functional ANOVA of its trees: each
 * parameter's importance is the share of the prediction's variance over the
 * space its main effect explains, averaged over the trees, then scaled so that
 * the importances sum to 1 (interactions are left out of the sum). An inactive
 * conditional parameter counts as one more value of it (FOREST_MISSING), as
 * likely as it was inactive in the trials. Beyond FANOVA_MAX_TRIALS trials, a
 * random subset.
 *
 * gp: the gp sampler's model (gp.h, Matérn 5/2 with a length scale per
 * feature) fitted on the same trials; a number's importance is 1 / ls^2 (the
 * squared kernel distance across its range), a categorical's the mean over
 * pairs of choices of 1 / ls_a^2 + 1 / ls_b^2 (its one-hot features), then
 * scaled to sum to 1. Beyond GP_IMPORTANCE_POINTS trials, a random subset.
 *
 * A code parameter is not modelled: 0. Both are deterministic for a seed. */

#define FANOVA_MAX_TRIALS    5000
#define GP_IMPORTANCE_POINTS 300

/* The importances of s's parameters from n trials: configs[i] (borrowed) with
 * values[i] (finite). out (s->n entries) gets them, summing to 1, or all 0 with
 * *note set to a static sentence saying why (fewer than 2 trials, a constant
 * objective, nothing the model could tell apart); *note is NULL otherwise.
 * 0, or -1 when out of memory or the model could not be fitted. */
int importance_fanova(const struct space *s, const json_t *const *configs, const double *values,
                      size_t n, uint64_t seed, double *out, const char **note);
int importance_gp(const struct space *s, const json_t *const *configs, const double *values,
                  size_t n, uint64_t seed, double *out, const char **note);

#endif
