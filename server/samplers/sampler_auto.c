#include <config.h>
#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mo.h"
#include "sampler_auto.h"

/* The auto sampler: a scrambled Sobol design for the first few trials, then the
 * gp sampler, then tpe once the study has more finished trials than the GP can
 * answer quickly (its cost grows with the cube of the number of trials).
 *
 * The Sobol phase lasts max(4, min(10, ceil(d / 2) + 1)) trials (pending ones
 * count), where d is the number of parameters a classical sampler tunes (code
 * parameters excluded). A short design leaves more of a small budget to the
 * model: on the benchmark objectives (100 seeds, budget 10) it did better than
 * d + 2 design points and never worse than random search. The switch to tpe
 * happens after AUTO_TPE_AFTER finished trials: there one gp proposal in 6
 * dimensions takes some 50 ms on one core, p99 under 100 ms (make
 * bench-samplers), and grows with the cube of the study's size, while tpe stays
 * within a few milliseconds up to thousands of trials. */

size_t sampler_auto_init_trials(const struct space *s)
{
    size_t d = 0;
    for (size_t i = 0; i < s->n; i++)
        d += s->params[i].type != PARAM_CODE;
    size_t n = (d + 1) / 2 + 1;
    n = n < 10 ? n : 10;
    return n < 4 ? 4 : n;
}

const char *sampler_auto_phase(const struct sampler_ctx *ctx)
{
    if (ctx->n_history + ctx->n_pending < sampler_auto_init_trials(ctx->space))
        return "sobol";
    if (mo_needed(ctx))
        return mo_auto_phase(ctx);
    if (ctx->n_history > AUTO_TPE_AFTER && sampler_find("tpe"))
        return "tpe";
    return "gp";
}

static int auto_propose(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
                        size_t errlen)
{
    size_t init = sampler_auto_init_trials(ctx->space);
    size_t started = ctx->n_history + ctx->n_pending;
    size_t nsobol = started < init ? init - started : 0;
    if (nsobol > k)
        nsobol = k;
    if (nsobol > 0) {
        const struct sampler_ops *sobol = sampler_find("sobol");
        if (!sobol) {
            snprintf(err, errlen, "auto: the sobol sampler is missing");
            return -1;
        }
        if (sobol->propose(ctx, nsobol, out, err, errlen) < 0)
            return -1;
        if (nsobol == k)
            return 0;
    }
    /* The rest of the batch: later phases see the Sobol proposals as pending. */
    struct obs *pend = NULL;
    struct sampler_ctx sub = *ctx;
    if (nsobol > 0) {
        pend = malloc((ctx->n_pending + nsobol) * sizeof *pend);
        if (!pend) {
            snprintf(err, errlen, "out of memory");
            goto out_fail;
        }
        if (ctx->n_pending)
            memcpy(pend, ctx->pending, ctx->n_pending * sizeof *pend);
        for (size_t i = 0; i < nsobol; i++)
            pend[ctx->n_pending + i] = (struct obs){
                .params = out[i],
                .value = NAN,
                .state = OBS_PENDING,
                .number = ctx->next_number + (long)i,
            };
        sub.pending = pend;
        sub.n_pending = ctx->n_pending + nsobol;
        sub.next_number = ctx->next_number + (long)nsobol;
    }
    const char *phase = sampler_auto_phase(&sub);
    if (strcmp(phase, "sobol") == 0)
        phase = mo_needed(&sub) ? "mogp" : "gp";
    int rc = sampler_propose(phase, &sub, k - nsobol, out + nsobol, err, errlen);
    free(pend);
    if (rc == 0)
        return 0;
out_fail:
    for (size_t i = 0; i < nsobol; i++) {
        json_decref(out[i]);
        out[i] = NULL;
    }
    return -1;
}

const struct sampler_ops sampler_auto_ops = {
    .name = "auto",
    .propose = auto_propose,
};
