#ifndef HISTORY_H
#define HISTORY_H

#include "db.h"
#include "sampler.h"
#include "store.h"

/* A study's history as the samplers and the LLM see it: finished trials
 * (completed, pruned, failed) with values oriented so that lower is better,
 * the trials pending or running, and for each pruned trial an estimate of its
 * final value (multi-fidelity evidence, struct obs_mf): its quantile at its
 * last step among the other trials that reached that step, mapped onto the
 * completed trials' final values. */

/* Fill ctx (space, seed, options, history, pending, mf) for study st. 0, or
 * -1 on a database error (ctx is then empty). Free with history_free(). */
int history_load(struct db *db, const struct study *st, struct sampler_ctx *ctx);
/* Free what history_load() allocated; the struct may be loaded again. */
void history_free(struct sampler_ctx *ctx);

#endif
