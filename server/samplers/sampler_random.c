#include <config.h>
#include "sampler.h"

#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

/* Uniform random search: proposal i draws one unit coordinate per parameter from
 * its own stream rng_mix(seed, next_number + i), so it depends only on the seed
 * and the trial number, never on the history. */

static int random_propose(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
                          size_t errlen)
{
    const struct space *s = ctx->space;
    double *u = malloc((s->n ? s->n : 1) * sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t done = 0;
    for (; done < k; done++) {
        struct rng r;
        rng_seed(&r, rng_mix(ctx->seed, (uint64_t)(ctx->next_number + (long)done)));
        for (size_t j = 0; j < s->n; j++)
            u[j] = rng_uniform(&r);
        json_t *raw = space_from_unit(s, u);
        json_t *cfg = raw ? space_check(s, raw, err, errlen) : NULL;
        json_decref(raw);
        if (!cfg) {
            if (!raw)
                snprintf(err, errlen, "out of memory");
            goto out_fail;
        }
        out[done] = cfg;
    }
    free(u);
    return 0;

out_fail:
    for (size_t i = 0; i < done; i++) {
        json_decref(out[i]);
        out[i] = NULL;
    }
    free(u);
    return -1;
}

const struct sampler_ops sampler_random_ops = {
    .name = "random",
    .propose = random_propose,
};
