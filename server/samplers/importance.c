#include <config.h>
#include "importance.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "forest.h"
#include "gp.h"
#include "rng.h"

static const char NOTE_FEW[] = "fewer than 2 completed trials: nothing to compare yet";
static const char NOTE_CONSTANT[] =
    "every completed trial has the same value: no parameter changes "
    "it";
static const char NOTE_FLAT[] = "the model found no effect of any parameter on the value";
static const char NOTE_NO_PARAMS[] = "the space has no parameter that can be modelled";

static void zero(double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = 0;
}

/* A note when the data cannot rank anything (too few trials, one value). */
static const char *data_note(const double *values, size_t n)
{
    if (n < 2)
        return NOTE_FEW;
    double lo = values[0], hi = values[0], scale = 0;
    for (size_t i = 0; i < n; i++) {
        lo = values[i] < lo ? values[i] : lo;
        hi = values[i] > hi ? values[i] : hi;
        scale = fabs(values[i]) > scale ? fabs(values[i]) : scale;
    }
    if (hi - lo <= 1e-12 * scale)
        return NOTE_CONSTANT;
    return NULL;
}

/* Scale out to sum to 1; false (and out zeroed) when it sums to nothing. */
static bool normalise(double *out, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] > 0))
            out[i] = 0;
        sum += out[i];
    }
    if (!(sum > 0) || !isfinite(sum)) {
        zero(out, n);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        out[i] /= sum;
    return true;
}

/* The indices of m of n trials: all in order when m is n, else a random
 * subset drawn with seed. New array, NULL when out of memory. */
static size_t *subset(size_t n, size_t m, uint64_t seed)
{
    size_t *pick = malloc((n ? n : 1) * sizeof *pick);
    if (!pick)
        return NULL;
    for (size_t i = 0; i < n; i++)
        pick[i] = i;
    struct rng r;
    rng_seed(&r, rng_mix(seed, 0x5e1ec7));
    for (size_t i = 0; i < m && m < n; i++) {
        size_t k = i + (size_t)rng_below(&r, n - i), t = pick[i];
        pick[i] = pick[k];
        pick[k] = t;
    }
    return pick;
}

int importance_fanova(const struct space *s, const json_t *const *configs, const double *values,
                      size_t n, uint64_t seed, double *out, const char **note)
{
    zero(out, s->n);
    *note = data_note(values, n);
    if (*note)
        return 0;
    size_t d = s->n;
    /* Beyond FANOVA_MAX_TRIALS trials, a random subset of them. */
    size_t m = n > FANOVA_MAX_TRIALS ? FANOVA_MAX_TRIALS : n;
    size_t *pick = subset(n, m, seed);
    double *x = malloc(m * (d ? d : 1) * sizeof *x), *y = malloc(m * sizeof *y);
    double *w = calloc(d ? d : 1, sizeof *w);
    if (!pick || !x || !y || !w) {
        free(pick);
        free(x);
        free(y);
        free(w);
        return -1;
    }
    /* One feature per parameter: its unit coordinate, or the missing value
     * when the trial does not have it (inactive); a code parameter is held
     * constant, so that no tree splits on it. */
    for (size_t i = 0; i < m; i++) {
        y[i] = values[pick[i]];
        for (size_t j = 0; j < d; j++) {
            const struct param *p = &s->params[j];
            const json_t *v = json_object_get(configs[pick[i]], p->name);
            double u = 0.5;
            if (p->type != PARAM_CODE && !v) {
                u = FOREST_MISSING;
                w[j] += 1;
            } else if (p->type != PARAM_CODE) {
                u = param_to_unit(p, v);
            }
            x[i * d + j] = u;
        }
    }
    for (size_t j = 0; j < d; j++)
        w[j] /= (double)m;
    struct forest_opts o;
    forest_opts_defaults(&o, m);
    o.seed = seed;
    struct forest *f = forest_fit(x, y, m, d, &o);
    int rc = -1;
    if (!f)
        goto out;
    int varied = forest_main_effects(f, w, out);
    if (varied < 0)
        goto out;
    if (!normalise(out, d))
        *note = d ? NOTE_FLAT : NOTE_NO_PARAMS;
    rc = 0;
out:
    forest_free(f);
    free(pick);
    free(x);
    free(y);
    free(w);
    return rc;
}

int importance_gp(const struct space *s, const json_t *const *configs, const double *values,
                  size_t n, uint64_t seed, double *out, const char **note)
{
    zero(out, s->n);
    *note = data_note(values, n);
    if (*note)
        return 0;
    /* The gp sampler's features: a number one (0.5 when inactive), a
     * categorical one per choice (all 0 when inactive), code none. */
    size_t *off = calloc(s->n + 1, sizeof *off), nf = 0;
    if (!off)
        return -1;
    for (size_t j = 0; j < s->n; j++) {
        const struct param *p = &s->params[j];
        off[j] = nf;
        nf += p->type == PARAM_FLOAT || p->type == PARAM_INT ? 1
              : p->type == PARAM_CATEGORICAL                 ? json_array_size(p->choices)
                                                             : 0;
    }
    off[s->n] = nf;
    if (nf == 0) {
        free(off);
        *note = NOTE_NO_PARAMS;
        return 0;
    }
    /* Beyond GP_IMPORTANCE_POINTS trials, a random subset of them. */
    struct rng r;
    rng_seed(&r, seed);
    size_t m = n > GP_IMPORTANCE_POINTS ? GP_IMPORTANCE_POINTS : n;
    size_t *pick = subset(n, m, seed);
    double *x = calloc(m * nf, sizeof *x), *y = malloc(m * sizeof *y);
    struct gp *g = gp_new(nf, m);
    int rc = -1;
    if (!pick || !x || !y || !g)
        goto out;
    for (size_t i = 0; i < m; i++) {
        const json_t *c = configs[pick[i]];
        double *xi = x + i * nf;
        for (size_t j = 0; j < s->n; j++) {
            const struct param *p = &s->params[j];
            const json_t *v = json_object_get(c, p->name);
            if (p->type == PARAM_FLOAT || p->type == PARAM_INT) {
                xi[off[j]] = v ? param_to_unit(p, v) : 0.5;
            } else if (p->type == PARAM_CATEGORICAL && v) {
                int k = param_choice_index(p, v);
                if (k >= 0)
                    xi[off[j] + (size_t)k] = 1;
            }
        }
        y[i] = values[pick[i]];
    }
    gp_warp_outputs(y, m);
    if (gp_set_data(g, x, y, m) < 0)
        goto out;
    struct gp_fit_opts fo;
    gp_fit_defaults(&fo, nf);
    if (gp_fit(g, &fo, &r) < 0)
        goto out;
    /* Only features that vary in the data count: a length scale the data
     * never tested is the prior's. */
    for (size_t j = 0; j < s->n; j++) {
        size_t width = 0;
        double sum = 0;
        for (size_t k = off[j]; k < off[j + 1]; k++) {
            bool varies = false;
            for (size_t i = 1; i < m && !varies; i++)
                varies = x[i * nf + k] != x[k];
            if (!varies)
                continue;
            width++;
            sum += 1 / (g->ls[k] * g->ls[k]);
        }
        if (s->params[j].type == PARAM_CATEGORICAL)
            out[j] = width > 1 ? 2 * sum / (double)width : 0;
        else
            out[j] = sum;
    }
    if (!normalise(out, s->n))
        *note = NOTE_FLAT;
    rc = 0;
out:
    gp_free(g);
    free(pick);
    free(x);
    free(y);
    free(off);
    return rc;
}
