#ifndef MO_H
#define MO_H

#include <stdbool.h>
#include <stddef.h>

#include "sampler.h"

/* The view of a sampler context that samplers for several objectives and for
 * constraints share: each finished trial's objective vector, its feasibility,
 * and one total order of the finished trials, best first. */

/* Whether ctx (borrowed) needs a sampler that models several objectives or
 * constraints. */
bool mo_needed(const struct sampler_ctx *ctx);
/* Objectives of ctx: n_objectives, or 1 for a single-objective study. */
size_t mo_objectives(const struct sampler_ctx *ctx);
/* Objective j of history row i (oriented, lower is better); NAN when not reported. */
double mo_value(const struct sampler_ctx *ctx, size_t i, size_t j);
/* Whether history row i completed with every objective reported. */
bool mo_complete(const struct sampler_ctx *ctx, size_t i);
/* Total violation of history row i: the sum of its positive constraint values, 0
 * when feasible, INFINITY when a constraint value is missing. */
double mo_violation(const struct sampler_ctx *ctx, size_t i);

/* Score every history row so that lower is better, in the order Optuna's
 * multi-objective and constrained TPE ranks trials: feasible complete trials
 * first, by non-dominated front, within a front by greedy hypervolume
 * contribution (against the worst feasible value of each objective plus a tenth
 * of its range); then infeasible ones by total violation. score[i] is the row's
 * position in that order (0 for the best), NAN for rows outside it (failed,
 * pruned, incomplete). Returns the number of rows scored, or -1 when out of
 * memory. */
long mo_rank_scores(const struct sampler_ctx *ctx, double *score);

/* Finished trials after which auto hands over from mogp to motpe when a study
 * has several objectives or constraints. */
#define MO_AUTO_TPE_AFTER 200

/* The sampler auto uses, after its Sobol phase, for a study with several
 * objectives or constraints: "mogp" up to MO_AUTO_TPE_AFTER finished trials,
 * then "motpe". Static string. */
const char *mo_auto_phase(const struct sampler_ctx *ctx);

#endif
