#include <config.h>
#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mo.h"
#include "tpe.h"

/* The motpe sampler: the tpe sampler (multivariate, constant liar, the same
 * tuning keys) with trials ranked for several objectives and constraints as
 * Optuna's multi-objective and constrained TPE ranks them (see
 * mo_rank_scores()): the good set takes whole non-dominated fronts of the
 * feasible trials and splits the last one by hypervolume contribution; when
 * fewer trials are feasible than the good set holds, the least violating
 * infeasible ones fill it, and every other infeasible trial is in the bad set.
 * A single-objective study without constraints gets exactly tpe. */

static int motpe_propose(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
                         size_t errlen)
{
    struct tpe_options o;
    tpe_options_init(&o, ctx->space);
    if (tpe_options_parse(&o, ctx->options, err, errlen) < 0)
        return -1;
    if (!mo_needed(ctx))
        return tpe_propose(ctx, &o, k, out, err, errlen);
    size_t n = ctx->n_history;
    struct obs *h = malloc((n ? n : 1) * sizeof *h);
    double *score = malloc((n ? n : 1) * sizeof *score);
    int rc = -1;
    if (!h || !score || mo_rank_scores(ctx, score) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        h[i] = ctx->history[i];
        if (!isnan(score[i])) {
            h[i].state = OBS_COMPLETED;
            h[i].value = score[i];
        } else if (h[i].state == OBS_PRUNED) {
            h[i].value = NAN; /* ranked after every completed trial */
        } else {
            h[i].state = OBS_FAILED;
            h[i].value = NAN;
        }
    }
    struct sampler_ctx sub = *ctx;
    sub.history = h;
    sub.n_objectives = 0;
    sub.values = NULL;
    sub.n_constraints = 0;
    sub.constraints = NULL;
    rc = tpe_propose(&sub, &o, k, out, err, errlen);
out:
    free(h);
    free(score);
    return rc;
}

const struct sampler_ops sampler_motpe_ops = {
    .name = "motpe",
    .propose = motpe_propose,
};
