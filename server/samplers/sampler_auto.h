#ifndef SAMPLER_AUTO_H
#define SAMPLER_AUTO_H

#include <stddef.h>

#include "sampler.h"

/* Finished trials after which auto hands over from gp to tpe. */
#define AUTO_TPE_AFTER 200

/* Length of auto's (and gp's) Sobol phase for space s (borrowed):
 * max(4, min(10, ceil(d / 2) + 1)) with d the number of non-code parameters. */
size_t sampler_auto_init_trials(const struct space *s);
/* The sampler auto uses for the next proposal of ctx (borrowed): "sobol", "gp"
 * or "tpe". Static string. */
const char *sampler_auto_phase(const struct sampler_ctx *ctx);

#endif
