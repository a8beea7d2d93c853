#include <config.h>
#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct sampler_ops sampler_random_ops;
extern const struct sampler_ops sampler_sobol_ops;
extern const struct sampler_ops sampler_tpe_ops;
extern const struct sampler_ops sampler_gp_ops;
extern const struct sampler_ops sampler_auto_ops;
extern const struct sampler_ops sampler_mogp_ops;
extern const struct sampler_ops sampler_motpe_ops;
/* SAMPLER-LIST: further samplers register here */

static const struct sampler_ops *const all[] = {
    &sampler_random_ops,
    &sampler_sobol_ops,
    &sampler_tpe_ops,
    &sampler_gp_ops,
    &sampler_auto_ops,
    &sampler_mogp_ops,
    &sampler_motpe_ops,
    /* SAMPLER-TABLE */
    NULL,
};

const struct sampler_ops *sampler_find(const char *name)
{
    for (size_t i = 0; all[i]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

const char *const *sampler_names(void)
{
    static const char *names[sizeof all / sizeof all[0]];
    for (size_t i = 0; all[i]; i++)
        names[i] = all[i]->name;
    return names;
}

int sampler_propose(const char *name, const struct sampler_ctx *ctx, size_t k, json_t **out,
                    char *err, size_t errlen)
{
    const struct sampler_ops *ops = sampler_find(name);
    if (!ops) {
        snprintf(err, errlen, "unknown sampler \"%s\"", name);
        return -1;
    }
    return ops->propose(ctx, k, out, err, errlen);
}

static const struct obs_mf *mf_of(const struct sampler_ctx *ctx, size_t i)
{
    if (!ctx->mf || i >= ctx->n_history || ctx->history[i].state != OBS_PRUNED)
        return NULL;
    const struct obs_mf *m = &ctx->mf[i];
    return m->fidelity > 0 && isfinite(m->value_final) ? m : NULL;
}

double obs_pruned_value(const struct sampler_ctx *ctx, size_t i, double median_final)
{
    const struct obs_mf *m = mf_of(ctx, i);
    if (!m)
        return ctx->history[i].value;
    if (!isfinite(median_final))
        return m->value_final;
    double f = m->fidelity > 1 ? 1 : m->fidelity;
    return median_final + f * (m->value_final - median_final);
}

double obs_weight(const struct sampler_ctx *ctx, size_t i)
{
    if (i >= ctx->n_history || ctx->history[i].state != OBS_PRUNED)
        return 1;
    const struct obs_mf *m = mf_of(ctx, i);
    if (!m)
        return 0.25;
    return m->fidelity < 0.1 ? 0.1 : m->fidelity > 1 ? 1 : m->fidelity;
}

static int cmp_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double obs_median_final(const struct obs *history, size_t n)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NAN;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (history[i].state == OBS_COMPLETED && isfinite(history[i].value))
            v[m++] = history[i].value;
    double med = NAN;
    if (m) {
        qsort(v, m, sizeof *v, cmp_value);
        med = m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
    }
    free(v);
    return med;
}
