#include <config.h>
#include "sampler.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "sobol.h"

/* Scrambled Sobol' design: trial number n takes point n of the sequence scrambled
 * by the study seed, one coordinate per parameter (inactive ones are dropped by
 * space_from_unit). A point equal to a pending trial or to an earlier proposal of
 * the same call (possible when every parameter is discrete) is replaced by the
 * next index. */

#define SOBOL_DEDUPE_TRIES 64 /* indices tried before a duplicate is accepted */

static bool taken(const json_t *cfg, const struct sampler_ctx *ctx, json_t *const *out, size_t n)
{
    for (size_t i = 0; i < ctx->n_pending; i++)
        if (ctx->pending[i].params && json_equal(cfg, ctx->pending[i].params))
            return true;
    for (size_t i = 0; i < n; i++)
        if (json_equal(cfg, out[i]))
            return true;
    return false;
}

static int sobol_propose(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
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
        json_t *cfg = NULL;
        for (int attempt = 0; attempt < SOBOL_DEDUPE_TRIES; attempt++) {
            uint64_t index = (uint64_t)(ctx->next_number + (long)done + attempt);
            sobol_point(s->n, index, ctx->seed, u);
            json_t *raw = space_from_unit(s, u);
            json_decref(cfg);
            cfg = raw ? space_check(s, raw, err, errlen) : NULL;
            json_decref(raw);
            if (!cfg) {
                if (!raw)
                    snprintf(err, errlen, "out of memory");
                goto out_fail;
            }
            if (!taken(cfg, ctx, out, done))
                break;
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

const struct sampler_ops sampler_sobol_ops = {
    .name = "sobol",
    .propose = sobol_propose,
};
