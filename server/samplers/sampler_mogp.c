#include <config.h>
#include "sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gp.h"
#include "gp_enc.h"
#include "mo.h"
#include "pareto.h"
#include "rng.h"
#include "sampler_auto.h"
#include "sobol.h"

/* The mogp sampler: Gaussian processes for studies with several objectives or
 * with constraints, at small budgets.
 *
 * Features are those of the gp sampler (gp_enc.h), one-hot features with short
 * length scales. Completed trials with every objective train the model;
 * failed and pruned ones are left out. The model is one Gaussian process with
 * a target per objective (or scalarisation) and per constraint: the targets
 * share the kernel hyperparameters, fitted on the sum of their likelihoods, so
 * that one factorisation and one triangular solve per candidate serve them
 * all (a proposal costs about what one target would). Then, by the number m
 * of objectives:
 *
 * - m = 1: a target of the warped values, log expected improvement over the
 *   best feasible trial;
 * - m = 2: a target per objective (linearly standardised), the expected
 *   hypervolume improvement over the feasible front, computed exactly: the
 *   region the front leaves open splits into one strip per front point, and for
 *   independent Gaussian objectives the improvement in a strip is a product of
 *   two one-dimensional expectations. It is evaluated in log form, so that it
 *   ranks points far from the front too. The reference point is the worst
 *   feasible value of each objective plus a tenth of its range;
 * - m >= 3: ParEGO: each proposal draws weights uniformly from the simplex,
 *   scalarises the objectives (normalised by their observed range) by the
 *   augmented Chebyshev function, and maximises log expected improvement of a
 *   target of the warped scalarisation.
 *
 * Each constraint gets its own target, its values (satisfied when <= 0); the log
 * probability that all hold is added to the log acquisition. Until a trial is
 * feasible, the probability of feasibility alone is maximised.
 *
 * Pending trials and earlier proposals of the batch are fantasised at the
 * posterior mean of every target (and join the front when predicted feasible).
 * The acquisition is maximised over Sobol points and perturbations of the best
 * trials, then the best few are refined by shrinking random steps; a proposal
 * never repeats a modelled point. Before auto's Sobol phase is over, or with
 * fewer than two completed trials, the sobol sampler proposes. */

#define MG_CANDIDATES     2000 /* acquisition candidates per proposal (n <= 100) */
#define MG_MIN_CANDIDATES 400  /* floor when the study is large */
#define MG_REFINE         5    /* candidates refined */
#define MG_REFINE_ROUNDS  4    /* rounds of steps per refined candidate */
#define MG_REFINE_STEPS   16   /* steps tried per round */
#define MG_TOP_BASES      5    /* best trials that seed local candidates (one objective) */
#define MG_DUP_DIST       1e-4 /* closer than this to a modelled point: a repeat */
#define MG_XI             1e-3 /* improvement log EI asks for (standardised units) */
#define MG_FIT_ALL        64   /* up to this many points, fit on all of them */
#define MG_FIT_SUBSET     64   /* beyond, fit hyperparameters on this many */
#define MG_MAX_POINTS     400  /* model at most this many trials */
#define MG_FIT_EVALS      40   /* likelihood evaluations per start of a fit */
#define MG_ONEHOT_LS_MAX  0.7  /* length-scale bound of one-hot features */
#define MG_RHO            0.05 /* weight of the sum in the augmented Chebyshev function */

enum mg_mode { MG_SINGLE, MG_EHVI, MG_PAREGO };

/* ---- numerics ---- */

static double log_add(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

/* log(exp(a) - exp(b)) for a >= b. */
static double log_sub(double a, double b)
{
    if (b == -INFINITY)
        return a;
    if (!(a > b))
        return -INFINITY;
    return a + log1p(-exp(b - a));
}

/* log of the standard normal distribution function at z. */
static double log_ndtr(double z)
{
    if (z > -30)
        return log(0.5 * erfc(-z / M_SQRT2));
    return -0.5 * z * z - log(-z) - 0.5 * log(2 * M_PI);
}

/* log E[max(c - y, 0)] for y ~ N(mu, sd^2): the log of expected improvement
 * below c, as gp_log_ei() but cheaper far in the tail (a shorter continued
 * fraction, accurate to about 1e-7 relative there), since the hypervolume
 * improvement needs two of them per front point and candidate. */
static double log_psi(double mu, double sd, double c)
{
    double z = (c - mu) / sd;
    if (z > -5) {
        double cdf = 0.5 * erfc(-z / M_SQRT2);
        double h = exp(-0.5 * z * z) / sqrt(2 * M_PI) + z * cdf;
        if (h > 0)
            return log(sd) + log(h);
    }
    /* h(z) = phi(z) R(t) c(t) with t = -z, R the Mills ratio and c = 1/R - t. */
    double t = -z, f = t;
    for (int k = 14; k >= 1; k--)
        f = t + (k + 1) / f;
    double cf = 1.0 / f;
    return log(sd) - 0.5 * z * z - 0.5 * log(2 * M_PI) + log(cf) - log(t + cf);
}

/* Log expected hypervolume improvement of a point with independent Gaussian
 * objectives N(mu[j], sd[j]^2) over the n-point front q (sorted by the first
 * objective, mutually non-dominated, strictly below ref). */
static double log_ehvi2(const double *q, size_t n, const double *ref, const double *mu,
                        const double *sd)
{
    double acc = -INFINITY, lprev = -INFINITY;
    for (size_t i = 0; i <= n; i++) {
        double a = i < n ? q[i * 2] : ref[0];
        double b = i == 0 ? ref[1] : q[(i - 1) * 2 + 1];
        double lnext = log_psi(mu[0], sd[0], a);
        double l1 = log_sub(lnext, lprev);
        if (l1 > -INFINITY)
            acc = log_add(acc, l1 + log_psi(mu[1], sd[1], b));
        lprev = lnext;
    }
    return acc;
}

/* ---- state ---- */

struct mg {
    const struct sampler_ctx *ctx;
    struct gp_enc e;
    enum mg_mode mode;
    size_t m, nc;      /* objectives, constraints */
    size_t n;          /* modelled trials */
    double *x;         /* owned, n * nf features */
    double *y;         /* owned, n * m objectives as reported */
    double *c;         /* owned, n * nc constraint values */
    bool *feas;        /* owned, n: every constraint holds */
    size_t nfeas;      /* feasible modelled trials */
    size_t cap;        /* points each GP has room for */
    struct gp *model;  /* owned: one model, the objective targets (2 for ehvi, else 1)
                          then the modelled constraints, sharing hyperparameters */
    size_t nobjt;      /* objective targets in model */
    double *omu, *osd; /* owned, m: standardisation of each objective (ehvi) */
    double *ctgt;      /* owned, nc * n: standardised constraint targets, by constraint */
    long *ccol;        /* owned, nc: each constraint's target in model, -1: not modelled */
    double *cthr;      /* owned, nc: the standardised value at which a constraint holds */
    double *front;     /* owned, ehvi: standardised front, sorted by the first objective */
    size_t nfront;     /* points in front */
    double ref[2];     /* ehvi: standardised reference point */
    double best;       /* single, parego: incumbent target */
    double *target;    /* owned, n: targets of the single/parego model */
    double *ls_max;    /* owned, nf: length-scale bounds */
    size_t *bases;     /* owned, n: rows that seed local candidates */
    size_t nbases;     /* entries in bases */
    struct rng r;      /* stream of this call */
    uint64_t sobol_seed;
};

static void mg_release(struct mg *st)
{
    gp_enc_release(&st->e);
    gp_free(st->model);
    free(st->ctgt);
    free(st->ccol);
    free(st->x);
    free(st->y);
    free(st->c);
    free(st->feas);
    free(st->omu);
    free(st->osd);
    free(st->cthr);
    free(st->front);
    free(st->target);
    free(st->ls_max);
    free(st->bases);
}

/* The model on the st->n modelled points: the objective targets obj (nobjt
 * rows of n, already standardised), then the modelled constraints, with
 * hyperparameters shared and fitted on all of them at once, so that one
 * factor serves every target. Then the fantasies fx (nfx rows) at the
 * posterior mean of each target. */
static int fit_model(struct mg *st, const double *obj, const double *fx, size_t nfx)
{
    size_t ncm = 0;
    for (size_t j = 0; j < st->nc; j++)
        ncm += st->ccol && st->ccol[j] >= 0;
    size_t nt = st->nobjt + ncm;
    gp_free(st->model);
    struct gp *g = st->model = gp_new_targets(st->e.nf, st->cap, nt);
    if (!g || gp_set_data(g, st->x, obj, st->n) < 0)
        return -1;
    for (size_t t = 1; t < st->nobjt; t++)
        gp_set_target(g, t, obj + t * st->n);
    for (size_t j = 0; j < st->nc; j++)
        if (st->ccol && st->ccol[j] >= 0)
            gp_set_target(g, (size_t)st->ccol[j], st->ctgt + j * st->n);
    struct gp_fit_opts fo;
    gp_fit_defaults(&fo, st->e.nf);
    fo.ls_max = st->ls_max;
    /* Every proposal fits the model: beyond a few dozen trials,
     * hyperparameters come from a subset, with one start. */
    fo.max_points = st->n > MG_FIT_ALL ? MG_FIT_SUBSET : 0;
    fo.starts = st->n > MG_FIT_ALL ? 1 : 2;
    fo.max_evals = MG_FIT_EVALS;
    if (gp_fit(g, &fo, &st->r) < 0)
        return -1;
    double mu[nt], var;
    for (size_t t = 0; t < nfx; t++) {
        gp_predict(g, fx + t * st->e.nf, 1, mu, &var);
        gp_add_targets(g, fx + t * st->e.nf, mu);
    }
    return 0;
}

/* Standardise v (n entries) in place; mean and sd out. */
static void standardise(double *v, size_t n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    double mu = n ? s / (double)n : 0;
    for (size_t i = 0; i < n; i++)
        s2 += (v[i] - mu) * (v[i] - mu);
    double sigma = n > 1 ? sqrt(s2 / (double)(n - 1)) : 1;
    if (!(sigma > 1e-12))
        sigma = 1;
    for (size_t i = 0; i < n; i++)
        v[i] = (v[i] - mu) / sigma;
    *mean = mu;
    *sd = sigma;
}

/* Choose the trials to model: every completed one, or in a very large study the
 * best quarter (by mo_rank_scores) and a random rest. Fills x, y, c, feas. */
static int collect(struct mg *st)
{
    const struct sampler_ctx *ctx = st->ctx;
    size_t nh = ctx->n_history, nf = st->e.nf ? st->e.nf : 1;
    size_t *rows = malloc((nh ? nh : 1) * sizeof *rows);
    double *score = malloc((nh ? nh : 1) * sizeof *score);
    int rc = -1;
    if (!rows || !score || mo_rank_scores(ctx, score) < 0)
        goto out;
    size_t n = 0;
    for (size_t i = 0; i < nh; i++)
        if (mo_complete(ctx, i))
            rows[n++] = i;
    if (n > MG_MAX_POINTS) {
        /* Sort by score (insertion sort is fine at this size), keep the best
         * quarter, then a random sample of the rest. */
        for (size_t a = 1; a < n; a++)
            for (size_t b = a; b > 0 && score[rows[b - 1]] > score[rows[b]]; b--) {
                size_t t = rows[b];
                rows[b] = rows[b - 1];
                rows[b - 1] = t;
            }
        for (size_t a = MG_MAX_POINTS / 4; a < MG_MAX_POINTS; a++) {
            size_t b = a + (size_t)rng_below(&st->r, n - a);
            size_t t = rows[a];
            rows[a] = rows[b];
            rows[b] = t;
        }
        n = MG_MAX_POINTS;
    }
    st->n = n;
    st->x = malloc((n ? n : 1) * nf * sizeof *st->x);
    st->y = malloc((n ? n : 1) * st->m * sizeof *st->y);
    st->c = malloc((n ? n : 1) * (st->nc ? st->nc : 1) * sizeof *st->c);
    st->feas = malloc((n ? n : 1) * sizeof *st->feas);
    st->target = malloc((n ? n : 1) * sizeof *st->target);
    st->bases = malloc((n ? n : 1) * sizeof *st->bases);
    if (!st->x || !st->y || !st->c || !st->feas || !st->target || !st->bases)
        goto out;
    for (size_t t = 0; t < n; t++) {
        size_t i = rows[t];
        gp_enc_encode(&st->e, ctx->history[i].params, st->x + t * nf);
        for (size_t j = 0; j < st->m; j++)
            st->y[t * st->m + j] = mo_value(ctx, i, j);
        for (size_t j = 0; j < st->nc; j++)
            st->c[t * st->nc + j] =
                ctx->constraints ? ctx->constraints[i * ctx->n_constraints + j] : NAN;
        st->feas[t] = mo_violation(ctx, i) <= 0;
        st->nfeas += st->feas[t];
    }
    rc = 0;
out:
    free(rows);
    free(score);
    return rc;
}

/* The targets of the constraints on the trials that reported them. A
 * constraint with fewer than two values, or one that never varies, is not
 * modelled. */
static int constraint_targets(struct mg *st)
{
    if (st->nc == 0)
        return 0;
    st->ctgt = calloc(st->nc * (st->n ? st->n : 1), sizeof *st->ctgt);
    st->ccol = calloc(st->nc, sizeof *st->ccol);
    st->cthr = calloc(st->nc, sizeof *st->cthr);
    if (!st->ctgt || !st->ccol || !st->cthr)
        return -1;
    long col = (long)st->nobjt;
    for (size_t j = 0; j < st->nc; j++) {
        double *tg = st->ctgt + j * st->n;
        size_t k = 0;
        st->ccol[j] = -1;
        for (size_t t = 0; t < st->n; t++) {
            double v = st->c[t * st->nc + j];
            /* Unknown values count as violated by a unit; the model is on the
             * trials' own scale otherwise. */
            tg[t] = isnan(v) ? 1.0 : v;
            k += !isnan(v);
        }
        if (k < 2)
            continue;
        double mean, sd;
        standardise(tg, st->n, &mean, &sd);
        bool varies = false;
        for (size_t t = 1; t < st->n && !varies; t++)
            varies = tg[t] != tg[0];
        if (!varies)
            continue;
        st->cthr[j] = (0 - mean) / sd;
        st->ccol[j] = col++;
    }
    return 0;
}

/* The feasible non-dominated set of the (standardised) points, plus extra
 * points (fantasies), sorted by the first objective, strictly below ref. */
static int build_front(struct mg *st, const double *extra, size_t nextra)
{
    size_t cap = st->nfeas + nextra + 1;
    double *pts = calloc(cap * 2, sizeof *pts);
    int *rank = malloc(cap * sizeof *rank);
    if (!pts || !rank) {
        free(pts);
        free(rank);
        return -1;
    }
    size_t k = 0;
    for (size_t t = 0; t < st->n; t++) {
        if (!st->feas[t])
            continue;
        for (size_t j = 0; j < 2; j++)
            pts[k * 2 + j] = (st->y[t * 2 + j] - st->omu[j]) / st->osd[j];
        k++;
    }
    if (nextra > 0)
        memcpy(pts + k * 2, extra, nextra * 2 * sizeof *pts);
    k += nextra;
    if (pareto_sort(pts, k, 2, rank) < 0) {
        free(pts);
        free(rank);
        return -1;
    }
    free(st->front);
    st->front = malloc((k ? k : 1) * 2 * sizeof *st->front);
    if (!st->front) {
        free(pts);
        free(rank);
        return -1;
    }
    st->nfront = 0;
    for (size_t t = 0; t < k; t++) {
        if (rank[t] != 0 || !(pts[t * 2] < st->ref[0] && pts[t * 2 + 1] < st->ref[1]))
            continue;
        /* Insert sorted by the first objective; skip exact repeats. */
        size_t p = st->nfront;
        bool dup = false;
        for (size_t q = 0; q < st->nfront; q++)
            dup = dup || (st->front[q * 2] == pts[t * 2] && st->front[q * 2 + 1] == pts[t * 2 + 1]);
        if (dup)
            continue;
        while (p > 0 && st->front[(p - 1) * 2] > pts[t * 2]) {
            st->front[p * 2] = st->front[(p - 1) * 2];
            st->front[p * 2 + 1] = st->front[(p - 1) * 2 + 1];
            p--;
        }
        st->front[p * 2] = pts[t * 2];
        st->front[p * 2 + 1] = pts[t * 2 + 1];
        st->nfront++;
    }
    free(pts);
    free(rank);
    return 0;
}

/* Per-objective standardisation and the reference point (ehvi). */
static void ehvi_scales(struct mg *st)
{
    for (size_t j = 0; j < 2; j++) {
        for (size_t t = 0; t < st->n; t++)
            st->target[t] = st->y[t * 2 + j];
        standardise(st->target, st->n, &st->omu[j], &st->osd[j]);
        double lo = INFINITY, hi = -INFINITY;
        for (size_t t = 0; t < st->n; t++)
            if (st->feas[t]) {
                double v = (st->y[t * 2 + j] - st->omu[j]) / st->osd[j];
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        st->ref[j] = isfinite(hi) ? hi + (hi > lo ? 0.1 * (hi - lo) : 0.1) : 0;
    }
}

/* Targets of the single-objective model (warped values) or of one ParEGO
 * scalarisation with weights w; sets best to the best feasible target. */
static void scalar_targets(struct mg *st, const double *w)
{
    size_t m = st->m;
    if (st->mode == MG_SINGLE) {
        for (size_t t = 0; t < st->n; t++)
            st->target[t] = st->y[t];
    } else {
        double lo[m], hi[m];
        for (size_t j = 0; j < m; j++) {
            lo[j] = INFINITY;
            hi[j] = -INFINITY;
            for (size_t t = 0; t < st->n; t++) {
                lo[j] = fmin(lo[j], st->y[t * m + j]);
                hi[j] = fmax(hi[j], st->y[t * m + j]);
            }
        }
        for (size_t t = 0; t < st->n; t++) {
            double mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < m; j++) {
                double v = hi[j] > lo[j] ? (st->y[t * m + j] - lo[j]) / (hi[j] - lo[j]) : 0;
                mx = fmax(mx, w[j] * v);
                sum += w[j] * v;
            }
            st->target[t] = mx + MG_RHO * sum;
        }
    }
    gp_warp_outputs(st->target, st->n);
    st->best = INFINITY;
    for (size_t t = 0; t < st->n; t++)
        if (st->feas[t])
            st->best = fmin(st->best, st->target[t]);
}

/* Rows that seed local candidates: the feasible front (ehvi) or the best few
 * feasible targets; the least violating rows while none is feasible. */
static void choose_bases(struct mg *st)
{
    st->nbases = 0;
    if (st->nfeas == 0) {
        for (size_t b = 0; b < MG_TOP_BASES && b < st->n; b++) {
            size_t best = (size_t)-1;
            double bv = INFINITY;
            for (size_t t = 0; t < st->n; t++) {
                bool used = false;
                for (size_t q = 0; q < st->nbases; q++)
                    used = used || st->bases[q] == t;
                double v = 0;
                for (size_t j = 0; j < st->nc; j++) {
                    double c = st->c[t * st->nc + j];
                    v += isnan(c) ? INFINITY : c > 0 ? c : 0;
                }
                if (!used && (best == (size_t)-1 || v < bv)) {
                    best = t;
                    bv = v;
                }
            }
            st->bases[st->nbases++] = best;
        }
        return;
    }
    if (st->mode == MG_EHVI) {
        int *rank = malloc(st->n * sizeof *rank);
        double *pts = malloc(st->n * 2 * sizeof *pts);
        size_t *map = malloc(st->n * sizeof *map);
        size_t k = 0;
        if (rank && pts && map) {
            for (size_t t = 0; t < st->n; t++)
                if (st->feas[t]) {
                    memcpy(pts + k * 2, st->y + t * 2, 2 * sizeof *pts);
                    map[k++] = t;
                }
            if (pareto_sort(pts, k, 2, rank) >= 0)
                for (size_t q = 0; q < k; q++)
                    if (rank[q] == 0)
                        st->bases[st->nbases++] = map[q];
        }
        free(rank);
        free(pts);
        free(map);
        if (st->nbases > 0)
            return;
    }
    for (size_t b = 0; b < MG_TOP_BASES; b++) {
        size_t best = (size_t)-1;
        for (size_t t = 0; t < st->n; t++) {
            if (!st->feas[t])
                continue;
            bool used = false;
            for (size_t q = 0; q < st->nbases; q++)
                used = used || st->bases[q] == t;
            if (!used && (best == (size_t)-1 || st->target[t] < st->target[best]))
                best = t;
        }
        if (best == (size_t)-1)
            break;
        st->bases[st->nbases++] = best;
    }
}

/* The model whose points stand for every modelled point (for repeats). */
static const struct gp *any_model(const struct mg *st)
{
    return st->model;
}

/* Log acquisition of cnt feature vectors f into out; mean needs cnt entries
 * per target of the model, var cnt. */
static void score_points(struct mg *st, const double *f, size_t cnt, double *out, double *mean,
                         double *var)
{
    size_t nf = st->e.nf;
    for (size_t i = 0; i < cnt; i++)
        out[i] = 0;
    gp_predict(st->model, f, cnt, mean, var);
    for (size_t j = 0; j < st->nc; j++) {
        if (!st->ccol || st->ccol[j] < 0)
            continue;
        const double *mj = mean + (size_t)st->ccol[j] * cnt;
        for (size_t i = 0; i < cnt; i++)
            out[i] += log_ndtr((st->cthr[j] - mj[i]) / sqrt(fmax(var[i], 1e-18)));
    }
    if (st->nfeas == 0)
        return;
    if (st->mode == MG_EHVI) {
        const double *m2 = mean + cnt;
        for (size_t i = 0; i < cnt; i++) {
            double mu[2] = {mean[i], m2[i]};
            double sd[2] = {sqrt(fmax(var[i], 1e-18)), sqrt(fmax(var[i], 1e-18))};
            out[i] += log_ehvi2(st->front, st->nfront, st->ref, mu, sd);
        }
    } else {
        for (size_t i = 0; i < cnt; i++)
            out[i] += gp_log_ei(mean[i], sqrt(fmax(var[i], 1e-18)), st->best - MG_XI, NULL, NULL);
    }
    const struct gp *g = any_model(st);
    for (size_t i = 0; i < cnt; i++)
        if (g && gp_near_point(g, f + i * nf, MG_DUP_DIST))
            out[i] = -INFINITY;
}

/* Perturb f in place around itself: Gaussian steps of the given scale in all or
 * a few numeric coordinates, or (jump) fresh values; categorical choices flip
 * now and then. */
static void perturb(struct mg *st, double *f, double scale, bool jump, bool few)
{
    const struct gp_enc *e = &st->e;
    size_t nmov = 0;
    for (size_t i = 0; i < e->s->n; i++)
        nmov += e->s->params[i].type == PARAM_FLOAT || e->s->params[i].type == PARAM_INT;
    double prob = few && nmov ? 1.5 / (double)nmov : 1.0;
    bool moved = false;
    for (size_t i = 0; i < e->s->n; i++) {
        const struct param *p = &e->s->params[i];
        double *fi = f + e->off[i];
        if (p->type == PARAM_FLOAT || p->type == PARAM_INT) {
            if (rng_uniform(&st->r) < prob) {
                fi[0] = jump ? rng_uniform(&st->r) : fi[0] + scale * rng_normal(&st->r);
                fi[0] = fi[0] < 0 ? -fi[0] : fi[0] > 1 ? 2 - fi[0] : fi[0];
                fi[0] = fi[0] < 0 ? 0 : fi[0] > 1 ? 1 : fi[0];
                moved = true;
            }
        } else if (p->type == PARAM_CATEGORICAL && e->width[i] > 1) {
            if (rng_uniform(&st->r) < (nmov ? 0.1 : 0.5)) {
                size_t ch = (size_t)rng_below(&st->r, e->width[i]);
                for (size_t j = 0; j < e->width[i]; j++)
                    fi[j] = j == ch ? 1.0 : 0.0;
                moved = true;
            }
        }
    }
    if (!moved && e->s->n > 0) {
        size_t i = (size_t)rng_below(&st->r, e->s->n);
        const struct param *p = &e->s->params[i];
        double *fi = f + e->off[i];
        if (p->type == PARAM_FLOAT || p->type == PARAM_INT)
            fi[0] = rng_uniform(&st->r);
        else if (p->type == PARAM_CATEGORICAL && e->width[i] > 0) {
            size_t ch = (size_t)rng_below(&st->r, e->width[i]);
            for (size_t j = 0; j < e->width[i]; j++)
                fi[j] = j == ch ? 1.0 : 0.0;
        }
    }
    gp_enc_canonical(e, f);
}

/* One proposal into best_f (nf entries). */
static int propose_one(struct mg *st, size_t call, double *best_f)
{
    const struct gp_enc *e = &st->e;
    size_t nf = e->nf, np = e->s->n ? e->s->n : 1;
    size_t npts = any_model(st) ? any_model(st)->n : st->n;
    /* Each candidate costs O(n^2) per model: fewer of them in large studies. */
    size_t m = MG_CANDIDATES;
    if (npts > 100)
        m = MG_CANDIDATES * 100 * 100 / (npts * npts) < MG_MIN_CANDIDATES
                ? MG_MIN_CANDIDATES
                : MG_CANDIDATES * 100 * 100 / (npts * npts);
    size_t steps = MG_REFINE_STEPS;
    double *cand = malloc(m * nf * sizeof *cand);
    double *score = malloc(m * sizeof *score);
    double *mean = malloc(st->model->nt * m * sizeof *mean), *var = malloc(m * sizeof *var);
    double *trial = malloc(steps * nf * sizeof *trial), *ts = malloc(steps * sizeof *ts);
    double *u = malloc(np * sizeof *u);
    int rc = -1;
    if (!cand || !score || !mean || !var || !trial || !ts || !u)
        goto out;
    size_t nglobal = st->nbases > 0 ? m / 2 : m;
    uint64_t seed = rng_mix(st->sobol_seed, call);
    for (size_t c = 0; c < nglobal; c++) {
        sobol_point(np, c, seed, u);
        gp_enc_from_unit(e, u, cand + c * nf);
        gp_enc_canonical(e, cand + c * nf);
    }
    for (size_t c = nglobal; c < m; c++) {
        double *f = cand + c * nf;
        size_t b = st->bases[(size_t)rng_below(&st->r, st->nbases)];
        if (st->mode != MG_EHVI || st->nfeas == 0) {
            /* Rank-weighted: the best base is picked most often. */
            size_t q = 0;
            while (q + 1 < st->nbases && rng_uniform(&st->r) < 0.5)
                q++;
            b = st->bases[q];
        }
        memcpy(f, st->x + b * nf, nf * sizeof *f);
        double scale = exp(log(0.002) + rng_uniform(&st->r) * (log(0.3) - log(0.002)));
        double kind = rng_uniform(&st->r);
        perturb(st, f, scale, kind < 1.0 / 3.0, kind < 0.5);
    }
    score_points(st, cand, m, score, mean, var);
    /* Refine the best few by shrinking random steps. */
    size_t top[MG_REFINE];
    size_t nref = npts > 100 ? MG_REFINE - 2 : MG_REFINE;
    nref = m < nref ? m : nref;
    gp_top_indices(score, m, top, nref);
    double best = score[top[0]];
    memcpy(best_f, cand + top[0] * nf, nf * sizeof *best_f);
    for (size_t t = 0; t < nref; t++) {
        double *cur = cand + top[t] * nf, cur_s = score[top[t]];
        if (cur_s == -INFINITY)
            continue;
        double scale = 0.05;
        for (int round = 0; round < MG_REFINE_ROUNDS; round++, scale *= 0.35) {
            for (size_t s = 0; s < steps; s++) {
                memcpy(trial + s * nf, cur, nf * sizeof *trial);
                perturb(st, trial + s * nf, scale, false, s % 2 == 1);
            }
            score_points(st, trial, steps, ts, mean, var);
            for (size_t s = 0; s < steps; s++)
                if (ts[s] > cur_s) {
                    cur_s = ts[s];
                    memcpy(cur, trial + s * nf, nf * sizeof *cur);
                }
        }
        if (cur_s > best) {
            best = cur_s;
            memcpy(best_f, cur, nf * sizeof *best_f);
        }
    }
    rc = 0;
out:
    free(cand);
    free(score);
    free(mean);
    free(var);
    free(trial);
    free(ts);
    free(u);
    return rc;
}

/* Add f to the model at its posterior mean (a fantasy); in ehvi mode, when
 * predicted feasible, its predicted objectives join the front. */
static int add_fantasy(struct mg *st, const double *f, double **extra, size_t *nextra)
{
    double mu[st->model->nt], var;
    gp_predict(st->model, f, 1, mu, &var);
    bool feasible = true;
    for (size_t j = 0; j < st->nc; j++)
        if (st->ccol && st->ccol[j] >= 0)
            feasible = feasible && mu[st->ccol[j]] <= st->cthr[j];
    gp_add_targets(st->model, f, mu);
    if (st->mode == MG_EHVI && feasible && st->nfeas > 0) {
        double *x = realloc(*extra, (*nextra + 1) * 2 * sizeof *x);
        if (!x)
            return -1;
        x[*nextra * 2] = mu[0];
        x[*nextra * 2 + 1] = mu[1];
        *extra = x;
        (*nextra)++;
        return build_front(st, *extra, *nextra);
    }
    return 0;
}

static int sobol_fallback(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
                          size_t errlen)
{
    const struct sampler_ops *ops = sampler_find("sobol");
    if (!ops) {
        snprintf(err, errlen, "mogp: the sobol sampler is missing");
        return -1;
    }
    return ops->propose(ctx, k, out, err, errlen);
}

/* Weights drawn uniformly from the simplex. */
static void draw_weights(struct rng *r, double *w, size_t m)
{
    double s = 0;
    for (size_t j = 0; j < m; j++) {
        w[j] = -log(1.0 - rng_uniform(r));
        s += w[j];
    }
    for (size_t j = 0; j < m; j++)
        w[j] /= s;
}

/* (Re)fit the model with the fantasies fx (nfx rows) added at their
 * posterior mean: the objective targets are the standardised objectives
 * (ehvi) or st->target. */
static int fit_objectives(struct mg *st, const double *fx, size_t nfx)
{
    if (st->mode != MG_EHVI)
        return fit_model(st, st->target, fx, nfx);
    double *obj = malloc(2 * (st->n ? st->n : 1) * sizeof *obj);
    if (!obj)
        return -1;
    for (size_t j = 0; j < 2; j++)
        for (size_t t = 0; t < st->n; t++)
            obj[j * st->n + t] = (st->y[t * 2 + j] - st->omu[j]) / st->osd[j];
    int rc = fit_model(st, obj, fx, nfx);
    free(obj);
    return rc;
}

static int mogp_propose(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
                        size_t errlen)
{
    bool numeric = false;
    for (size_t i = 0; i < ctx->space->n; i++)
        numeric = numeric || ctx->space->params[i].type != PARAM_CODE;
    size_t complete = 0;
    for (size_t i = 0; i < ctx->n_history; i++)
        complete += mo_complete(ctx, i);
    if (!numeric || complete < 2 ||
        ctx->n_history + ctx->n_pending < sampler_auto_init_trials(ctx->space))
        return sobol_fallback(ctx, k, out, err, errlen);

    struct mg st;
    memset(&st, 0, sizeof st);
    st.ctx = ctx;
    st.m = mo_objectives(ctx);
    st.nc = ctx->n_constraints;
    st.mode = st.m == 1 ? MG_SINGLE : st.m == 2 ? MG_EHVI : MG_PAREGO;
    st.nobjt = st.mode == MG_EHVI ? 2 : 1;
    uint64_t seed = rng_mix(ctx->seed ^ 0x6d6f67702d73616dULL, (uint64_t)ctx->next_number);
    rng_seed(&st.r, seed);
    st.sobol_seed = rng_mix(seed, 1);
    size_t done = 0, nf = 0, nfx = 0, nextra = 0;
    double *fx = NULL, *extra = NULL, w[st.m];
    int rc = -1;
    snprintf(err, errlen, "mogp: out of memory");
    if (gp_enc_init(&st.e, ctx->space) < 0 || collect(&st) < 0)
        goto out;
    nf = st.e.nf ? st.e.nf : 1;
    st.cap = st.n + ctx->n_pending + k + 1;
    st.ls_max = calloc(nf, sizeof *st.ls_max);
    st.omu = calloc(st.m, sizeof *st.omu);
    st.osd = calloc(st.m, sizeof *st.osd);
    fx = malloc((ctx->n_pending + k + 1) * nf * sizeof *fx);
    if (!st.ls_max || !st.omu || !st.osd || !fx)
        goto out;
    gp_enc_ls_max(&st.e, MG_ONEHOT_LS_MAX, st.ls_max);
    snprintf(err, errlen, "mogp: model fitting failed");
    if (constraint_targets(&st) < 0)
        goto out;
    for (size_t i = 0; i < ctx->n_pending; i++)
        gp_enc_encode(&st.e, ctx->pending[i].params, fx + nfx++ * nf);
    if (st.mode == MG_EHVI) {
        ehvi_scales(&st);
        if (build_front(&st, NULL, 0) < 0 || fit_objectives(&st, NULL, 0) < 0)
            goto out;
    } else if (st.mode == MG_SINGLE) {
        scalar_targets(&st, NULL);
        if (fit_objectives(&st, NULL, 0) < 0)
            goto out;
    }
    /* Pending trials: fantasies in the models fitted once (ParEGO refits its
     * objective model for every proposal, with the fantasies). */
    for (size_t t = 0; st.mode != MG_PAREGO && t < nfx; t++)
        if (add_fantasy(&st, fx + t * nf, &extra, &nextra) < 0)
            goto out;
    for (; done < k; done++) {
        if (st.mode == MG_PAREGO) {
            draw_weights(&st.r, w, st.m);
            scalar_targets(&st, w);
            if (fit_objectives(&st, fx, nfx) < 0)
                goto out;
        }
        choose_bases(&st);
        double *f = fx + nfx * nf;
        if (propose_one(&st, done, f) < 0)
            goto out;
        json_t *cfg = gp_enc_decode(&st.e, f);
        json_t *checked = cfg ? space_check(ctx->space, cfg, err, errlen) : NULL;
        json_decref(cfg);
        if (!checked)
            goto out;
        out[done] = checked;
        gp_enc_encode(&st.e, checked, f);
        nfx++;
        if (done + 1 < k && add_fantasy(&st, f, &extra, &nextra) < 0) {
            done++;
            goto out;
        }
    }
    rc = 0;
out:
    if (rc < 0)
        for (size_t i = 0; i < done; i++) {
            json_decref(out[i]);
            out[i] = NULL;
        }
    free(fx);
    free(extra);
    mg_release(&st);
    return rc;
}

const struct sampler_ops sampler_mogp_ops = {
    .name = "mogp",
    .propose = mogp_propose,
};
