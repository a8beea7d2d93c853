#ifndef GP_RANK_H
#define GP_RANK_H

#include <jansson.h>
#include <stddef.h>

#include "sampler.h"

/* Ranking configurations that came from elsewhere (an LLM's candidates) by the
 * gp sampler's criterion: a Gaussian process fitted to the study's finished
 * trials, the trials still being evaluated added as fantasies at the posterior
 * mean, and log expected improvement at each candidate. */

/* Index of the best of the m candidates (borrowed configurations valid in
 * ctx->space) and, when scores is not NULL, each candidate's log expected
 * improvement in scores[0..m-1]. With fewer than two finished trials to model
 * (or no numeric feature) there is nothing to rank by: returns 0 and leaves
 * scores at 0. -1 when m is 0, out of memory, or the model cannot be fitted. */
int gp_rank_best(const struct sampler_ctx *ctx, const json_t *const *cands, size_t m,
                 double *scores);

#endif
