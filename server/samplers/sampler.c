#include <config.h>
#include "sampler.h"

#include <stdio.h>
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
