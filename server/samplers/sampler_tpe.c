#include <config.h>
#include "tpe.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define TPE_PRIOR_SIGMA  1.0 /* bandwidth of the prior component, unit scale */
#define TPE_FLAT_RECENT  25  /* trials with full weight; older ones ramp down */
#define TPE_DEDUPE_TRIES 8   /* fresh streams tried when a proposal repeats */
#define TPE_RANDOM_TRIES 64  /* random draws tried after that */
#define TPE_LOG_FLOOR    -700.0
#define TPE_LOG_SQRT_2PI 0.91893853320467274178

extern const struct sampler_ops sampler_sobol_ops;

/* How an observation enters the model. */
enum row_kind {
    ROW_COMPLETED, /* ranked by value */
    ROW_PRUNED,    /* ranked after every completed one, by its last value */
    ROW_BAD,       /* pending or proposed in this call: joins the bad set */
    ROW_FAILED,    /* failed: joins the bad set with a heavier weight */
};

/* One trial in model coordinates. */
struct row {
    double *z; /* one coordinate per parameter: unit value, categorical index, NAN if absent */
    enum row_kind kind; /* how it is used */
    double value;       /* oriented value (ranked rows) */
    long number;        /* trial number (order of recency) */
    double weight;      /* kernel weight: below 1 for a pruned trial (weaker evidence) */
};

/* What the model knows about one parameter. */
struct dim {
    const struct param *p; /* borrowed */
    bool numeric;          /* float or int */
    bool discrete;         /* numeric on a grid: kernels integrate over cells */
    size_t n_choices;      /* categorical: number of choices */
    size_t n_values;       /* discrete: number of grid values */
    double log_lo, log_hi; /* int with log: bounds of the widened log interval */
};

/* A Parzen mixture over one group: components are observations plus the prior. */
struct parzen {
    size_t nc;      /* components */
    size_t nn;      /* numeric dimensions of the group */
    size_t nk;      /* categorical dimensions of the group */
    double *mu;     /* nc x nn kernel centres */
    double *inv_s;  /* nc x nn inverse bandwidths */
    double *sigma;  /* nc x nn bandwidths */
    double *logis;  /* nc x nn logs of the inverse bandwidths */
    double *bw;     /* nn: bandwidths of the observation kernels before adaptation */
    double *logc;   /* nc: log weight minus the kernel normalisers */
    double *cum;    /* nc: cumulative normalised weights, for sampling */
    double **catlp; /* nc x nk arrays of log probabilities per choice */
    double *catbuf; /* storage behind catlp */
};

/* The work area of one call. */
struct tpe {
    const struct sampler_ctx *ctx;
    const struct tpe_options *o;
    size_t np;        /* parameters */
    struct dim *dims; /* np */
    size_t *group;    /* np: group index of each parameter */
    size_t ngroups;   /* groups */
    struct row *rows; /* observations, then room for this call's proposals */
    size_t nrows;     /* rows in use */
    double *zbuf;     /* storage behind rows[].z */
};

/* ---- options ---- */

void tpe_options_init(struct tpe_options *o, const struct space *s)
{
    size_t d = 0;
    for (size_t i = 0; s && i < s->n; i++)
        if (s->params[i].type != PARAM_CODE)
            d++;
    int startup = (int)(2 * d + 1);
    if (startup > 10)
        startup = 10;
    if (startup < 5)
        startup = 5;
    o->n_startup = startup;
    o->n_candidates = 32;
    o->gamma = 0.1;
    o->gamma_max = 25;
    o->prior_weight = 1.0;
    o->bandwidth = TPE_BW_SCOTT;
    o->bw_factor = 1.0;
    o->min_bw = 0.01;
    o->magic_clip = 0.5;
    o->multivariate = true;
    o->adaptive = 1.0;
    o->failed_weight = 4.0;
}

static int opt_number(const json_t *options, const char *key, double lo, double hi, double *out,
                      char *err, size_t errlen)
{
    json_t *v = json_object_get(options, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi)) {
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        snprintf(err, errlen, "sampler.%s: must be a number in [%g, %g] (got %s)", key, lo, hi,
                 t ? t : "?");
        free(t);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

int tpe_options_parse(struct tpe_options *o, const json_t *options, char *err, size_t errlen)
{
    if (!json_is_object(options))
        return 0;
    double n_startup = o->n_startup, n_cand = o->n_candidates, gmax = o->gamma_max;
    if (opt_number(options, "n_startup", 0, 1e6, &n_startup, err, errlen) < 0 ||
        opt_number(options, "n_candidates", 1, 10000, &n_cand, err, errlen) < 0 ||
        opt_number(options, "gamma", 0.001, 1, &o->gamma, err, errlen) < 0 ||
        opt_number(options, "gamma_max", 1, 1e6, &gmax, err, errlen) < 0 ||
        opt_number(options, "prior_weight", 0, 1e3, &o->prior_weight, err, errlen) < 0 ||
        opt_number(options, "bw_factor", 0.01, 100, &o->bw_factor, err, errlen) < 0 ||
        opt_number(options, "min_bw", 0, 1, &o->min_bw, err, errlen) < 0 ||
        opt_number(options, "magic_clip", 0, 100, &o->magic_clip, err, errlen) < 0 ||
        opt_number(options, "adaptive", 0, 2, &o->adaptive, err, errlen) < 0 ||
        opt_number(options, "failed_weight", 0, 100, &o->failed_weight, err, errlen) < 0)
        return -1;
    o->n_startup = (int)n_startup;
    o->n_candidates = (int)n_cand;
    o->gamma_max = (int)gmax;
    json_t *bw = json_object_get(options, "bandwidth");
    if (bw) {
        const char *name = json_string_value(bw);
        if (name && strcmp(name, "scott") == 0) {
            o->bandwidth = TPE_BW_SCOTT;
        } else if (name && strcmp(name, "optuna") == 0) {
            o->bandwidth = TPE_BW_OPTUNA;
        } else {
            snprintf(err, errlen, "sampler.bandwidth: must be \"scott\" or \"optuna\" (got \"%s\")",
                     name ? name : "?");
            return -1;
        }
    }
    json_t *mv = json_object_get(options, "multivariate");
    if (mv) {
        if (!json_is_boolean(mv)) {
            snprintf(err, errlen, "sampler.multivariate: must be true or false");
            return -1;
        }
        o->multivariate = json_is_true(mv);
    }
    return 0;
}

/* ---- parameters in model coordinates ---- */

static void dim_init(struct dim *d, const struct param *p)
{
    memset(d, 0, sizeof *d);
    d->p = p;
    if (p->type == PARAM_CATEGORICAL) {
        d->n_choices = json_array_size(p->choices);
        return;
    }
    if (p->type != PARAM_FLOAT && p->type != PARAM_INT)
        return;
    d->numeric = true;
    if (p->step > 0 && (p->type == PARAM_INT || !p->log)) {
        d->discrete = true;
        double kmax = floor((p->high - p->low) / p->step * (1 + 1e-9) + 1e-9);
        if (p->type == PARAM_INT)
            kmax = floor((p->high - p->low) / p->step);
        d->n_values = (size_t)kmax + 1;
        if (p->log) {
            double top = p->low + kmax * p->step;
            d->log_lo = log(fmax(p->low - 0.5 * p->step, 0.5 * p->low));
            d->log_hi = log(top + 0.5 * p->step);
        }
    }
}

/* Model coordinate of a value (borrowed) of dimension d, or NAN if unusable. */
static double dim_coord(const struct dim *d, const json_t *v)
{
    if (!v)
        return NAN;
    if (d->p->type == PARAM_CATEGORICAL) {
        int i = param_choice_index(d->p, v);
        return i < 0 ? NAN : (double)i;
    }
    if (!d->numeric || !json_is_number(v))
        return NAN;
    return param_to_unit(d->p, v);
}

static double unit_clamp(double u)
{
    return u < 0 ? 0 : u > 1 ? 1 : u;
}

/* The grid cell [*a, *b] holding unit coordinate u of a discrete dimension;
 * returns the coordinate of the cell's value. */
static double dim_cell(const struct dim *d, double u, double *a, double *b)
{
    const struct param *p = d->p;
    double m = (double)d->n_values;
    if (p->log) {
        double span = d->log_hi - d->log_lo;
        double y = exp(d->log_lo + unit_clamp(u) * span);
        double k = nearbyint((y - p->low) / p->step);
        k = k < 0 ? 0 : k > m - 1 ? m - 1 : k;
        double x = p->low + k * p->step;
        *a = unit_clamp((log(fmax(x - 0.5 * p->step, 1e-300)) - d->log_lo) / span);
        *b = unit_clamp((log(x + 0.5 * p->step) - d->log_lo) / span);
        return unit_clamp((log(x) - d->log_lo) / span);
    }
    double k = floor(unit_clamp(u) * m);
    if (k > m - 1)
        k = m - 1;
    *a = k / m;
    *b = (k + 1) / m;
    return (k + 0.5) / m;
}

/* ---- normal helpers ---- */

static double norm_cdf(double x)
{
    return 0.5 * erfc(-x * M_SQRT1_2);
}

/* log of P(a <= X <= b) for a standard normal X, accurate in both tails */
static double log_norm_mass(double a, double b)
{
    double m;
    if (a > 0)
        m = 0.5 * (erfc(a * M_SQRT1_2) - erfc(b * M_SQRT1_2));
    else if (b < 0)
        m = 0.5 * (erfc(-b * M_SQRT1_2) - erfc(-a * M_SQRT1_2));
    else
        m = 1 - 0.5 * erfc(-a * M_SQRT1_2) - 0.5 * erfc(b * M_SQRT1_2);
    return m > 1e-300 ? log(m) : TPE_LOG_FLOOR;
}

/* A draw from N(mu, s) truncated to [0, 1]. */
static double trunc_normal(struct rng *r, double mu, double s)
{
    for (int i = 0; i < 64; i++) {
        double x = mu + s * rng_normal(r);
        if (x >= 0 && x <= 1)
            return x;
    }
    /* far outside the bulk: fall back to inverting the CDF by bisection */
    double lo = norm_cdf((0 - mu) / s), hi = norm_cdf((1 - mu) / s);
    double t = lo + rng_uniform(r) * (hi - lo);
    double a = 0, b = 1;
    for (int i = 0; i < 50; i++) {
        double c = 0.5 * (a + b);
        if (norm_cdf((c - mu) / s) < t)
            a = c;
        else
            b = c;
    }
    return 0.5 * (a + b);
}

/* ---- Parzen mixtures ---- */

static void parzen_free(struct parzen *pz)
{
    free(pz->mu);
    free(pz->inv_s);
    free(pz->sigma);
    free(pz->bw);
    free(pz->logis);
    free(pz->logc);
    free(pz->cum);
    free(pz->catlp);
    free(pz->catbuf);
    memset(pz, 0, sizeof *pz);
}

/* Weight of the i-th oldest of n observations: the newest TPE_FLAT_RECENT count
 * fully, older ones ramp from 1/n up to 1. */
static double recency_weight(size_t i, size_t n)
{
    if (n < TPE_FLAT_RECENT)
        return 1.0;
    size_t nramp = n - TPE_FLAT_RECENT;
    if (i >= nramp)
        return 1.0;
    if (nramp == 1)
        return 1.0 / (double)n;
    return 1.0 / (double)n + (1.0 - 1.0 / (double)n) * (double)i / (double)(nramp - 1);
}

static int cmp_row_number(const void *a, const void *b)
{
    const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
    return (x->number > y->number) - (x->number < y->number);
}

/* Fit a mixture on the rows (borrowed, any order) over the group's numeric dims
 * num[0..nn-1] and categorical dims cat[0..nk-1]. */
static int parzen_fit(struct parzen *pz, const struct tpe *t, const struct row **rows, size_t n,
                      const size_t *num, size_t nn, const size_t *cat, size_t nk,
                      const struct parzen *good)
{
    const struct tpe_options *o = t->o;
    memset(pz, 0, sizeof *pz);
    bool prior = o->prior_weight > 0 || n == 0;
    size_t nc = n + (prior ? 1 : 0);
    pz->nc = nc;
    pz->nn = nn;
    pz->nk = nk;
    size_t ncat_total = 0;
    for (size_t j = 0; j < nk; j++)
        ncat_total += t->dims[cat[j]].n_choices;
    pz->mu = malloc((nc * nn + 1) * sizeof *pz->mu);
    pz->inv_s = malloc((nc * nn + 1) * sizeof *pz->inv_s);
    pz->sigma = malloc((nc * nn + 1) * sizeof *pz->sigma);
    pz->logc = malloc(nc * sizeof *pz->logc);
    pz->bw = malloc((nn + 1) * sizeof *pz->bw);
    pz->logis = malloc((nc * nn + 1) * sizeof *pz->logis);
    pz->cum = malloc(nc * sizeof *pz->cum);
    pz->catlp = malloc((nc * nk + 1) * sizeof *pz->catlp);
    pz->catbuf = malloc((nc * ncat_total + 1) * sizeof *pz->catbuf);
    if (!pz->mu || !pz->inv_s || !pz->sigma || !pz->bw || !pz->logis || !pz->logc || !pz->cum ||
        !pz->catlp || !pz->catbuf) {
        parzen_free(pz);
        return -1;
    }
    /* components in order of trial number, so that weights favour recent ones */
    qsort(rows, n, sizeof *rows, cmp_row_number);

    /* bandwidths per numeric dimension, shared by the observation kernels */
    double expo = -1.0 / ((double)nn + 4.0);
    double nfac = pow((double)(n > 0 ? n : 1), expo);
    double floor_magic = o->magic_clip > 0 ? o->magic_clip / fmin(100.0, (double)n + 1) : 0;
    double *bw = malloc((2 * nn + n + 1) * sizeof *bw);
    double *bwlo = bw + nn, *lambda = bw + 2 * nn;
    if (!bw) {
        parzen_free(pz);
        return -1;
    }
    for (size_t j = 0; j < nn; j++) {
        const struct dim *d = &t->dims[num[j]];
        double s;
        if (o->bandwidth == TPE_BW_OPTUNA) {
            s = 0.2 * nfac;
        } else {
            double mean = 0, var = 0;
            for (size_t i = 0; i < n; i++)
                mean += rows[i]->z[num[j]];
            mean /= (double)(n > 0 ? n : 1);
            for (size_t i = 0; i < n; i++) {
                double e = rows[i]->z[num[j]] - mean;
                var += e * e;
            }
            double sd = n > 1 ? sqrt(var / (double)(n - 1)) : 0;
            s = o->bw_factor * sd * nfac;
        }
        double lo = fmax(o->min_bw, floor_magic);
        if (d->discrete)
            lo = fmax(lo, 0.5 / (double)d->n_values);
        bwlo[j] = lo;
        bw[j] = s;
        pz->bw[j] = s < lo ? lo : s > 1 ? 1 : s;
    }
    /* adaptive kernels (Abramson): narrower where the observations crowd, wider
     * for stragglers, judged by a pilot estimate with the fixed bandwidths */
    double adaptive = o->adaptive;
    for (size_t c = 0; c < n; c++)
        lambda[c] = 1;
    if (adaptive > 0 && n >= 3 && n <= 300 && nn > 0) {
        double gsum = 0;
        for (size_t c = 0; c < n; c++) {
            double f = 0;
            for (size_t i = 0; i < n; i++) {
                double q = 0;
                for (size_t j = 0; j < nn; j++) {
                    double e = (rows[c]->z[num[j]] - rows[i]->z[num[j]]) / fmax(bw[j], bwlo[j]);
                    q += e * e;
                }
                f += exp(-0.5 * q);
            }
            lambda[c] = log(f);
            gsum += lambda[c];
        }
        double g = gsum / (double)n;
        for (size_t c = 0; c < n; c++)
            lambda[c] = exp(-adaptive * (lambda[c] - g));
    }

    double wsum = 0;
    double *cb = pz->catbuf;
    for (size_t c = 0; c < nc; c++) {
        bool is_prior = c == n;
        double w = is_prior ? (n == 0 ? 1.0 : o->prior_weight) : recency_weight(c, n);
        if (!is_prior && rows[c]->kind == ROW_FAILED)
            w *= o->failed_weight;
        if (!is_prior)
            w *= rows[c]->weight;
        double lc = log(w);
        wsum += w;
        pz->cum[c] = wsum;
        for (size_t j = 0; j < nn; j++) {
            double mu = is_prior ? 0.5 : rows[c]->z[num[j]];
            double s = TPE_PRIOR_SIGMA;
            if (!is_prior) {
                s = bw[j] * lambda[c];
                /* a pending trial or earlier proposal sits where the good
                 * density put it: it counts at that density's resolution */
                if (good && rows[c]->kind == ROW_BAD && good->bw[j] < s)
                    s = good->bw[j];
                s = s < bwlo[j] ? bwlo[j] : s > 1 ? 1 : s;
            }
            pz->mu[c * nn + j] = mu;
            pz->sigma[c * nn + j] = s;
            pz->inv_s[c * nn + j] = 1.0 / s;
            pz->logis[c * nn + j] = -log(s);
            /* truncation to [0, 1] */
            lc -= log_norm_mass((0 - mu) / s, (1 - mu) / s);
            if (!t->dims[num[j]].discrete)
                lc -= log(s) + TPE_LOG_SQRT_2PI;
        }
        for (size_t j = 0; j < nk; j++) {
            size_t m = t->dims[cat[j]].n_choices;
            pz->catlp[c * nk + j] = cb;
            if (is_prior) {
                for (size_t q = 0; q < m; q++)
                    cb[q] = -log((double)m);
            } else {
                double a = o->prior_weight / (double)m;
                size_t obs = (size_t)rows[c]->z[cat[j]];
                for (size_t q = 0; q < m; q++)
                    cb[q] = log(((q == obs ? 1.0 : 0.0) + a) / (1.0 + o->prior_weight));
            }
            cb += m;
        }
        pz->logc[c] = lc;
    }
    double lw = log(wsum);
    for (size_t c = 0; c < nc; c++) {
        pz->logc[c] -= lw;
        pz->cum[c] /= wsum;
    }
    free(bw);
    return 0;
}

/* log density of the mixture at x (numeric coordinates xn, with cell bounds xa/xb
 * for discrete dims, and categorical indices xk). */
static double parzen_logpdf(const struct parzen *pz, const struct tpe *t, const size_t *num,
                            const double *xn, const double *xa, const double *xb, const size_t *xk,
                            double *scratch)
{
    size_t nn = pz->nn, nk = pz->nk;
    double best = -INFINITY;
    double xw[nn + 1];
    for (size_t j = 0; j < nn; j++)
        xw[j] = t->dims[num[j]].discrete ? log(xb[j] - xa[j]) : 0;
    for (size_t c = 0; c < pz->nc; c++) {
        double v = pz->logc[c];
        const double *mu = pz->mu + c * nn, *is = pz->inv_s + c * nn;
        for (size_t j = 0; j < nn; j++) {
            if (t->dims[num[j]].discrete) {
                double wa = (xa[j] - mu[j]) * is[j], wb = (xb[j] - mu[j]) * is[j];
                if (wb - wa < 1.0) {
                    /* narrow cell: the midpoint rule is accurate and cheap */
                    double e = 0.5 * (wa + wb);
                    v += xw[j] + pz->logis[c * nn + j] - 0.5 * e * e - TPE_LOG_SQRT_2PI;
                } else if (wa > 4 || wb < -4) {
                    /* a wide cell far in one tail: nearly all of that tail
                     * (Mills' ratio), no erfc needed */
                    double e = wa > 4 ? wa : -wb;
                    v += -0.5 * e * e - log(e) - TPE_LOG_SQRT_2PI;
                } else {
                    v += log_norm_mass(wa, wb);
                }
            } else {
                double e = (xn[j] - mu[j]) * is[j];
                v -= 0.5 * e * e;
            }
        }
        for (size_t j = 0; j < nk; j++)
            v += pz->catlp[c * nk + j][xk[j]];
        scratch[c] = v;
        if (v > best)
            best = v;
    }
    if (!isfinite(best))
        return TPE_LOG_FLOOR;
    double sum = 0;
    for (size_t c = 0; c < pz->nc; c++)
        sum += exp(scratch[c] - best);
    return best + log(sum);
}

/* Draw x from the mixture. */
static void parzen_sample(const struct parzen *pz, const struct tpe *t, const size_t *num,
                          const size_t *cat, struct rng *r, double *xn, double *xa, double *xb,
                          size_t *xk)
{
    double u = rng_uniform(r);
    size_t lo = 0, hi = pz->nc - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pz->cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    size_t c = lo;
    for (size_t j = 0; j < pz->nn; j++) {
        const struct dim *d = &t->dims[num[j]];
        double x = trunc_normal(r, pz->mu[c * pz->nn + j], pz->sigma[c * pz->nn + j]);
        if (d->discrete)
            x = dim_cell(d, x, &xa[j], &xb[j]);
        xn[j] = x;
    }
    for (size_t j = 0; j < pz->nk; j++) {
        const double *lp = pz->catlp[c * pz->nk + j];
        size_t m = t->dims[cat[j]].n_choices;
        double v = rng_uniform(r), acc = 0;
        size_t q = 0;
        for (; q + 1 < m; q++) {
            acc += exp(lp[q]);
            if (v < acc)
                break;
        }
        xk[j] = q;
    }
}

/* ---- observations ---- */

static int cmp_ranked(const void *a, const void *b)
{
    const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    bool xn = isnan(x->value), yn = isnan(y->value);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return (x->number > y->number) - (x->number < y->number);
}

static void row_fill(struct tpe *t, struct row *r, const json_t *params)
{
    for (size_t i = 0; i < t->np; i++)
        r->z[i] =
            params ? dim_coord(&t->dims[i], json_object_get(params, t->dims[i].p->name)) : NAN;
}

/* Add ob; i is its index in ctx->history, or -1 for a pending one. */
static void add_obs(struct tpe *t, const struct obs *ob, long i)
{
    struct row *r = &t->rows[t->nrows++];
    row_fill(t, r, ob->params);
    r->number = ob->number;
    r->value = ob->value;
    r->weight = 1;
    switch (ob->state) {
    case OBS_COMPLETED:
        r->kind = isnan(ob->value) ? ROW_FAILED : ROW_COMPLETED;
        break;
    case OBS_PRUNED:
        r->kind = ROW_PRUNED;
        if (i >= 0 && t->ctx->mf && t->ctx->mf[i].fidelity > 0 &&
            isfinite(t->ctx->mf[i].value_final)) {
            /* ranked among the completed ones by its rank at its last step,
             * with a weight that grows with the steps it ran */
            r->kind = ROW_COMPLETED;
            r->value = t->ctx->mf[i].value_final;
            r->weight = obs_weight(t->ctx, (size_t)i);
        }
        break;
    case OBS_FAILED:
        r->kind = ROW_FAILED;
        break;
    default:
        r->kind = ROW_BAD;
        break;
    }
}

size_t tpe_ranked_count(const struct sampler_ctx *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < ctx->n_history; i++) {
        const struct obs *ob = &ctx->history[i];
        if ((ob->state == OBS_COMPLETED && !isnan(ob->value)) || ob->state == OBS_PRUNED)
            n++;
    }
    return n;
}

/* ---- groups ---- */

static bool same_condition(const struct param *a, const struct param *b)
{
    if (a->parent != b->parent)
        return false;
    if (a->parent < 0)
        return true;
    return json_equal(a->when_values, b->when_values);
}

static void make_groups(struct tpe *t)
{
    const struct space *s = t->ctx->space;
    t->ngroups = 0;
    for (size_t i = 0; i < t->np; i++) {
        size_t g = t->ngroups;
        if (t->o->multivariate && s->params[i].type != PARAM_CODE) {
            for (size_t j = 0; j < i; j++) {
                if (s->params[j].type != PARAM_CODE &&
                    same_condition(&s->params[i], &s->params[j])) {
                    g = t->group[j];
                    break;
                }
            }
        }
        t->group[i] = g;
        if (g == t->ngroups)
            t->ngroups++;
    }
}

/* ---- one proposal ---- */

/* Choose coordinates for the parameters of group g into z, given the rows
 * t->rows[0..t->nrows-1]. */
static int sample_group(struct tpe *t, size_t g, struct rng *r, double *z)
{
    const struct tpe_options *o = t->o;
    size_t num[t->np + 1], cat[t->np + 1], nn = 0, nk = 0;
    for (size_t i = 0; i < t->np; i++) {
        if (t->group[i] != g)
            continue;
        if (t->dims[i].numeric)
            num[nn++] = i;
        else if (t->dims[i].n_choices > 0)
            cat[nk++] = i;
    }
    if (nn + nk == 0)
        return 0;

    int rc = -1;
    const struct row **ranked = malloc((t->nrows + 1) * sizeof *ranked);
    const struct row **bad = malloc((t->nrows + 1) * sizeof *bad);
    double *xn = malloc((3 * nn + 1) * sizeof *xn);
    size_t *xk = malloc((nk + 1) * sizeof *xk);
    double *best_n = malloc((nn + 1) * sizeof *best_n);
    size_t *best_k = malloc((nk + 1) * sizeof *best_k);
    double *scratch = malloc((t->nrows + 2) * sizeof *scratch);
    struct parzen l, gz;
    memset(&l, 0, sizeof l);
    memset(&gz, 0, sizeof gz);
    if (!ranked || !bad || !xn || !xk || !best_n || !best_k || !scratch)
        goto out;
    double *xa = xn + nn, *xb = xn + 2 * nn;

    size_t nr = 0, nb = 0;
    for (size_t i = 0; i < t->nrows; i++) {
        const struct row *row = &t->rows[i];
        bool ok = true;
        for (size_t j = 0; j < nn && ok; j++)
            ok = !isnan(row->z[num[j]]);
        for (size_t j = 0; j < nk && ok; j++)
            ok = !isnan(row->z[cat[j]]);
        if (!ok)
            continue;
        if (row->kind == ROW_BAD || row->kind == ROW_FAILED)
            bad[nb++] = row;
        else
            ranked[nr++] = row;
    }
    if (nr == 0) {
        /* nothing ranked in this group yet: uniform */
        for (size_t j = 0; j < nn; j++) {
            double x = rng_uniform(r), a, b;
            if (t->dims[num[j]].discrete)
                x = dim_cell(&t->dims[num[j]], x, &a, &b);
            z[num[j]] = x;
        }
        for (size_t j = 0; j < nk; j++)
            z[cat[j]] = (double)rng_below(r, t->dims[cat[j]].n_choices);
        rc = 0;
        goto out;
    }
    qsort(ranked, nr, sizeof *ranked, cmp_ranked);
    size_t nbelow = (size_t)ceil(o->gamma * (double)nr);
    if (nbelow > (size_t)o->gamma_max)
        nbelow = (size_t)o->gamma_max;
    if (nbelow < 1)
        nbelow = 1;
    /* the bad set: ranked rows past the split, then failed and pending ones */
    const struct row **above = ranked + nbelow;
    size_t nabove = nr - nbelow;
    for (size_t i = 0; i < nb; i++)
        above[nabove++] = bad[i];
    if (parzen_fit(&l, t, ranked, nbelow, num, nn, cat, nk, NULL) < 0 ||
        parzen_fit(&gz, t, above, nabove, num, nn, cat, nk, &l) < 0)
        goto out;

    double best = -INFINITY;
    for (int c = 0; c < o->n_candidates; c++) {
        parzen_sample(&l, t, num, cat, r, xn, xa, xb, xk);
        double score = parzen_logpdf(&l, t, num, xn, xa, xb, xk, scratch) -
                       parzen_logpdf(&gz, t, num, xn, xa, xb, xk, scratch);
        if (score > best || c == 0) {
            best = score;
            memcpy(best_n, xn, nn * sizeof *xn);
            memcpy(best_k, xk, nk * sizeof *xk);
        }
    }
    for (size_t j = 0; j < nn; j++)
        z[num[j]] = best_n[j];
    for (size_t j = 0; j < nk; j++)
        z[cat[j]] = (double)best_k[j];
    rc = 0;

out:
    parzen_free(&l);
    parzen_free(&gz);
    free(ranked);
    free(bad);
    free(xn);
    free(xk);
    free(best_n);
    free(best_k);
    free(scratch);
    return rc;
}

/* Build one configuration (new reference) from the model, or NULL on error. */
static json_t *propose_one(struct tpe *t, struct rng *r, double *z, char *err, size_t errlen)
{
    const struct space *s = t->ctx->space;
    json_t *cfg = json_object();
    if (!cfg)
        goto out_oom;
    for (size_t i = 0; i < t->np; i++)
        z[i] = NAN;
    for (size_t g = 0; g < t->ngroups; g++) {
        size_t first = 0;
        while (t->group[first] != g)
            first++;
        if (!space_active(s, first, cfg))
            continue;
        if (sample_group(t, g, r, z) < 0)
            goto out_oom;
        for (size_t i = first; i < t->np; i++) {
            if (t->group[i] != g)
                continue;
            const struct dim *d = &t->dims[i];
            double u = 0.5;
            if (d->numeric)
                u = z[i];
            else if (d->n_choices > 0)
                u = (z[i] + 0.5) / (double)d->n_choices;
            json_t *v = param_from_unit(d->p, u);
            if (!v || json_object_set_new(cfg, d->p->name, v) < 0)
                goto out_oom;
        }
    }
    json_t *norm = space_check(s, cfg, err, errlen);
    json_decref(cfg);
    return norm;

out_oom:
    json_decref(cfg);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* A uniformly random configuration (new reference), or NULL on error. */
static json_t *random_config(struct tpe *t, uint64_t seed, char *err, size_t errlen)
{
    struct rng r;
    rng_seed(&r, seed);
    double *u = t->rows[t->nrows].z;
    for (size_t i = 0; i < t->np; i++)
        u[i] = rng_uniform(&r);
    json_t *raw = space_from_unit(t->ctx->space, u);
    if (!raw) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    json_t *cfg = space_check(t->ctx->space, raw, err, errlen);
    json_decref(raw);
    return cfg;
}

static bool tpe_taken(const json_t *cfg, const struct sampler_ctx *ctx, json_t *const *out,
                      size_t n)
{
    for (size_t i = 0; i < ctx->n_pending; i++)
        if (ctx->pending[i].params && json_equal(cfg, ctx->pending[i].params))
            return true;
    for (size_t i = 0; i < n; i++)
        if (json_equal(cfg, out[i]))
            return true;
    return false;
}

int tpe_propose(const struct sampler_ctx *ctx, const struct tpe_options *o, size_t k, json_t **out,
                char *err, size_t errlen)
{
    if (tpe_ranked_count(ctx) < (size_t)o->n_startup)
        return sampler_sobol_ops.propose(ctx, k, out, err, errlen);

    struct tpe t;
    memset(&t, 0, sizeof t);
    t.ctx = ctx;
    t.o = o;
    t.np = ctx->space->n;
    size_t cap = ctx->n_history + ctx->n_pending + k;
    size_t np1 = t.np ? t.np : 1;
    t.dims = calloc(np1, sizeof *t.dims);
    t.group = calloc(np1, sizeof *t.group);
    t.rows = calloc(cap + 1, sizeof *t.rows);
    t.zbuf = malloc((cap + 1) * np1 * sizeof *t.zbuf);
    if (!t.dims || !t.group || !t.rows || !t.zbuf) {
        snprintf(err, errlen, "out of memory");
        goto out_free;
    }
    for (size_t i = 0; i <= cap; i++)
        t.rows[i].z = t.zbuf + i * np1;
    for (size_t i = 0; i < t.np; i++)
        dim_init(&t.dims[i], &ctx->space->params[i]);
    make_groups(&t);
    for (size_t i = 0; i < ctx->n_history; i++)
        add_obs(&t, &ctx->history[i], (long)i);
    for (size_t i = 0; i < ctx->n_pending; i++) {
        struct obs ob = ctx->pending[i];
        ob.state = OBS_PENDING;
        add_obs(&t, &ob, -1);
    }

    size_t done = 0;
    for (; done < k; done++) {
        json_t *cfg = NULL;
        uint64_t stream = rng_mix(ctx->seed, (uint64_t)(ctx->next_number + (long)done));
        for (int attempt = 0; attempt <= TPE_DEDUPE_TRIES; attempt++) {
            struct rng r;
            rng_seed(&r, rng_mix(stream, (uint64_t)attempt));
            json_decref(cfg);
            cfg = propose_one(&t, &r, t.rows[t.nrows].z, err, errlen);
            if (!cfg)
                goto out_fail;
            if (!tpe_taken(cfg, ctx, out, done))
                break;
        }
        /* the model keeps landing on taken points (a small discrete space):
         * look for a free one at random */
        for (int attempt = 0; attempt < TPE_RANDOM_TRIES && tpe_taken(cfg, ctx, out, done);
             attempt++) {
            json_decref(cfg);
            cfg = random_config(&t, rng_mix(stream, (uint64_t)attempt + 1000), err, errlen);
            if (!cfg)
                goto out_fail;
        }
        out[done] = cfg;
        /* the liar: this proposal counts as a bad observation for the next ones */
        struct row *lr = &t.rows[t.nrows++];
        row_fill(&t, lr, cfg);
        lr->kind = ROW_BAD;
        lr->value = NAN;
        lr->weight = 1;
        lr->number = ctx->next_number + (long)done;
    }
    free(t.dims);
    free(t.group);
    free(t.rows);
    free(t.zbuf);
    return 0;

out_fail:
    for (size_t i = 0; i < done; i++) {
        json_decref(out[i]);
        out[i] = NULL;
    }
out_free:
    free(t.dims);
    free(t.group);
    free(t.rows);
    free(t.zbuf);
    return -1;
}

static int tpe_sampler_propose(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
                               size_t errlen)
{
    struct tpe_options o;
    tpe_options_init(&o, ctx->space);
    if (tpe_options_parse(&o, ctx->options, err, errlen) < 0)
        return -1;
    return tpe_propose(ctx, &o, k, out, err, errlen);
}

const struct sampler_ops sampler_tpe_ops = {
    .name = "tpe",
    .propose = tpe_sampler_propose,
};
