#include <config.h>
#include "gp_rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "gp.h"

/* Features of a configuration: one unit coordinate per float or int (0.5 when
 * the parameter is inactive), one indicator per categorical choice, nothing for
 * code. The same shape the gp sampler models. */
static size_t n_features(const struct space *s)
{
    size_t nf = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        if (p->type == PARAM_FLOAT || p->type == PARAM_INT)
            nf++;
        else if (p->type == PARAM_CATEGORICAL)
            nf += json_array_size(p->choices);
    }
    return nf;
}

static void encode(const struct space *s, const json_t *config, double *f)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        const json_t *v = json_object_get(config, p->name);
        if (p->type == PARAM_FLOAT || p->type == PARAM_INT) {
            *f++ = v ? param_to_unit(p, v) : 0.5;
        } else if (p->type == PARAM_CATEGORICAL) {
            size_t n = json_array_size(p->choices);
            int c = v ? param_choice_index(p, v) : -1;
            for (size_t j = 0; j < n; j++)
                *f++ = (int)j == c ? 1.0 : 0.0;
        }
    }
}

static bool usable(const struct obs *o)
{
    return (o->state == OBS_COMPLETED || o->state == OBS_PRUNED) && isfinite(o->value);
}

int gp_rank_best(const struct sampler_ctx *ctx, const json_t *const *cands, size_t m,
                 double *scores)
{
    if (m == 0)
        return -1;
    if (scores)
        memset(scores, 0, m * sizeof *scores);
    size_t nf = n_features(ctx->space), n = 0;
    for (size_t i = 0; i < ctx->n_history; i++)
        n += usable(&ctx->history[i]);
    if (nf == 0 || n < 2 || m == 1)
        return 0;
    struct gp *g = gp_new(nf, n + ctx->n_pending + 1);
    double *x = malloc(n * nf * sizeof *x);
    double *y = malloc(n * sizeof *y);
    double *xc = malloc(nf * sizeof *xc);
    int best = -1;
    if (!g || !x || !y || !xc)
        goto out_free;
    size_t k = 0;
    double med = obs_median_final(ctx->history, ctx->n_history);
    for (size_t i = 0; i < ctx->n_history; i++) {
        const struct obs *o = &ctx->history[i];
        if (!usable(o))
            continue;
        encode(ctx->space, o->params, x + k * nf);
        y[k++] = obs_pruned_value(ctx, i, med);
    }
    gp_warp_outputs(y, n);
    double incumbent = y[0];
    for (size_t i = 1; i < n; i++)
        incumbent = fmin(incumbent, y[i]);
    struct rng r;
    rng_seed(&r, rng_mix(ctx->seed, (uint64_t)ctx->next_number ^ 0x6770726bULL));
    struct gp_fit_opts fo;
    gp_fit_defaults(&fo, nf);
    if (gp_set_data(g, x, y, n) < 0 || gp_fit(g, &fo, &r) < 0)
        goto out_free;
    /* Trials being evaluated count as done at the model's guess (kriging
     * believer), so that a candidate next to one of them looks less attractive. */
    for (size_t i = 0; i < ctx->n_pending; i++) {
        double mu, var;
        encode(ctx->space, ctx->pending[i].params, xc);
        gp_predict(g, xc, 1, &mu, &var);
        (void)gp_add(g, xc, mu);
    }
    double top = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        double mu, var;
        encode(ctx->space, cands[i], xc);
        gp_predict(g, xc, 1, &mu, &var);
        double v = gp_log_ei(mu, sqrt(var > 0 ? var : 0), incumbent, NULL, NULL);
        if (scores)
            scores[i] = v;
        if (best < 0 || v > top) {
            top = v;
            best = (int)i;
        }
    }
out_free:
    gp_free(g);
    free(x);
    free(y);
    free(xc);
    return best;
}
