#include <config.h>
#include "sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gp.h"
#include "gp_enc.h"
#include "jsonutil.h"
#include "rng.h"
#include "sampler_auto.h"
#include "sobol.h"

/* The gp sampler. The first trials (as many as auto's Sobol phase, and until two
 * trials have a value) come from the sobol sampler. Then each parameter becomes
 * features in the unit cube: a number one feature (log scale through
 * param_to_unit), a categorical one feature per choice (one-hot, with a short
 * length scale so that choices are modelled as nearly independent), code none
 * (the baseline is used). An inactive parameter's features are fixed (0.5, or all
 * zero for one-hot). Completed trials (and pruned ones with a value) train the
 * model; a pruned trial counts by obs_pruned_value(), its rank at its last step
 * carried to the final values and pulled toward their median as much as it
 * stopped early (a shrinkage that stands for its larger noise). Values warped (Box-Cox, exponent by
 * likelihood) and standardised; failed ones stay out of it but push proposals away. Pending trials
 * and earlier proposals of the same batch are fantasised at the posterior mean (kriging believer).
 * The acquisition, log expected improvement over the incumbent minus a small margin, is maximised
 * over Sobol points and perturbations of the best trials (Gaussian steps of many scales and
 * coordinate jumps), then refined by projected L-BFGS from the best few; a proposal never repeats a
 * modelled point. */

#define GP_MIN_DATA       2    /* fewer finished values: propose Sobol points */
#define GP_CANDIDATES     2000 /* acquisition candidates per proposal (n <= 100) */
#define GP_MIN_CANDIDATES 600  /* floor when the study is large */
#define GP_REFINE         5    /* candidates refined by L-BFGS */
#define GP_REFINE_ITER    25   /* L-BFGS iterations per refinement */
#define GP_TOP_BASES      5    /* best trials that seed local candidates */
#define GP_DUP_DIST       1e-4 /* closer than this to a modelled point: a repeat */
/* Improvement EI asks for (standardised units): keeps an overconfident model from
 * proposing its incumbent again and again. */
#define GP_XI            1e-3
#define GP_FIT_ALL       100 /* up to this many points, fit on all of them */
#define GP_FIT_SUBSET    80  /* beyond, fit hyperparameters on this many */
#define GP_MAX_POINTS    600 /* model at most this many finished trials */
#define GP_ONEHOT_LS_MAX 0.7 /* length-scale bound of one-hot features */

struct acq {
    const struct gp *g;
    const struct gp_enc *e;
    double best;         /* incumbent (standardised) */
    const double *fail;  /* nfail * nf failed points */
    size_t nfail;        /* failed points */
    double *rad2;        /* nf: squared penalty radius per feature */
    double *work;        /* 3 * n */
    double *dmu, *dsd;   /* nf each */
    const double *fixed; /* full feature vector for the dimensions not optimised */
    const size_t *dims;  /* optimised feature indices */
    size_t ndims;        /* number of them */
    double *full;        /* nf scratch */
    double *gfull;       /* nf scratch */
};

/* Log penalty for closeness to failed trials (0 far away, -inf on top of one);
 * adds its gradient to grad when not NULL. */
static double fail_penalty(const struct acq *a, const double *x, double *grad)
{
    size_t nf = a->e->nf;
    double pen = 0;
    for (size_t k = 0; k < a->nfail; k++) {
        const double *p = a->fail + k * nf;
        double r2 = 0;
        for (size_t j = 0; j < nf; j++)
            r2 += (x[j] - p[j]) * (x[j] - p[j]) / a->rad2[j];
        if (r2 > 30)
            continue;
        double ex = exp(-r2);
        pen += log1p(-ex + 1e-300);
        if (grad) {
            double c = ex / (1.0 - ex + 1e-300);
            for (size_t j = 0; j < nf; j++)
                grad[j] += c * 2.0 * (x[j] - p[j]) / a->rad2[j];
        }
    }
    return pen;
}

/* Acquisition value (log EI plus the failure penalty) at full feature vector x. */
static double acq_value(struct acq *a, const double *x, double *grad)
{
    double mu, sd, dmu_ei, dsd_ei;
    gp_predict_grad(a->g, x, &mu, &sd, grad ? a->dmu : NULL, grad ? a->dsd : NULL, a->work);
    double v = gp_log_ei(mu, sd, a->best, &dmu_ei, &dsd_ei);
    if (grad)
        for (size_t j = 0; j < a->e->nf; j++)
            grad[j] = dmu_ei * a->dmu[j] + dsd_ei * a->dsd[j];
    return v + fail_penalty(a, x, grad);
}

/* Negated acquisition over the optimised dimensions, for gp_minimize. */
static double acq_objective(const double *z, double *grad, void *ctx)
{
    struct acq *a = ctx;
    memcpy(a->full, a->fixed, a->e->nf * sizeof *a->full);
    for (size_t k = 0; k < a->ndims; k++)
        a->full[a->dims[k]] = z[k];
    double v = acq_value(a, a->full, grad ? a->gfull : NULL);
    if (grad)
        for (size_t k = 0; k < a->ndims; k++)
            grad[k] = -a->gfull[a->dims[k]];
    return -v;
}

struct gp_state {
    struct gp_enc e;
    struct gp *g;
    size_t n_data; /* observed points in the model */
    double *fail;  /* nfail * nf */
    size_t nfail;  /* failed points */
    double best;   /* incumbent target */
    size_t *order; /* n_data indices, best target first */
    struct rng r;  /* stream for this call */
    uint64_t sobol_seed;
};

static void state_release(struct gp_state *st)
{
    gp_enc_release(&st->e);
    gp_free(st->g);
    free(st->fail);
    free(st->order);
}

static bool usable(const struct obs *o)
{
    return (o->state == OBS_COMPLETED || o->state == OBS_PRUNED) && isfinite(o->value);
}

static size_t count_usable(const struct sampler_ctx *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < ctx->n_history; i++)
        n += usable(&ctx->history[i]);
    return n;
}

static int state_build(struct gp_state *st, const struct sampler_ctx *ctx, size_t k)
{
    size_t nh = ctx->n_history;
    if (gp_enc_init(&st->e, ctx->space) < 0)
        return -1;
    size_t nf = st->e.nf ? st->e.nf : 1;
    st->g = gp_new(st->e.nf, nh + ctx->n_pending + k + 1);
    double *x = malloc((nh + 1) * nf * sizeof *x);
    double *y = malloc((nh + 1) * sizeof *y);
    st->fail = malloc((nh + 1) * nf * sizeof *st->fail);
    st->order = malloc((nh + 1) * sizeof *st->order);
    int rc = -1;
    if (!st->g || !x || !y || !st->fail || !st->order)
        goto out;
    size_t n = 0;
    double med = obs_median_final(ctx->history, nh);
    for (size_t i = 0; i < nh; i++) {
        const struct obs *o = &ctx->history[i];
        if (usable(o)) {
            gp_enc_encode(&st->e, o->params, x + n * nf);
            /* a pruned trial: its rank-based final estimate, pulled toward
             * the median in proportion to the steps it missed */
            y[n++] = obs_pruned_value(ctx, i, med);
        } else if (o->state != OBS_PENDING) {
            gp_enc_encode(&st->e, o->params, st->fail + st->nfail * nf);
            st->nfail++;
        }
    }
    gp_warp_outputs(y, n);
    /* Insertion sort of the indices by target, best (lowest) first. */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && y[st->order[j - 1]] > y[i]; j--)
            st->order[j] = st->order[j - 1];
        st->order[j] = i;
    }
    if (n > GP_MAX_POINTS) {
        /* A very large study: model the best quarter and a random rest. */
        size_t keep = GP_MAX_POINTS / 4;
        for (size_t a = keep; a < GP_MAX_POINTS; a++) {
            size_t b = a + (size_t)rng_below(&st->r, n - a);
            size_t t = st->order[a];
            st->order[a] = st->order[b];
            st->order[b] = t;
        }
        double *xs = malloc(GP_MAX_POINTS * nf * sizeof *xs);
        double *ys = malloc(GP_MAX_POINTS * sizeof *ys);
        if (!xs || !ys) {
            free(xs);
            free(ys);
            goto out;
        }
        for (size_t a = 0; a < GP_MAX_POINTS; a++) {
            memcpy(xs + a * nf, x + st->order[a] * nf, nf * sizeof *xs);
            ys[a] = y[st->order[a]];
            st->order[a] = a;
        }
        free(x);
        free(y);
        x = xs;
        y = ys;
        n = GP_MAX_POINTS;
    }
    st->n_data = n;
    st->best = n ? y[st->order[0]] : 0;
    if (gp_set_data(st->g, x, y, n) < 0)
        goto out;
    struct gp_fit_opts fo;
    gp_fit_defaults(&fo, st->e.nf);
    /* One-hot features get short length scales: choices of a categorical are
     * modelled as nearly independent, so one poor trial of a choice does not
     * stand for all of it. */
    double *ls_max = malloc(nf * sizeof *ls_max);
    if (!ls_max)
        goto out;
    gp_enc_ls_max(&st->e, GP_ONEHOT_LS_MAX, ls_max);
    fo.ls_max = ls_max;
    if (n > GP_FIT_ALL) {
        /* Large studies: hyperparameters from a subset, fewer starts (latency). */
        fo.max_points = GP_FIT_SUBSET;
        fo.starts = 2;
    } else {
        fo.max_points = 0;
    }
    rc = gp_fit(st->g, &fo, &st->r);
    free(ls_max);
out:
    free(x);
    free(y);
    return rc;
}

/* Fill m candidate feature vectors: Sobol points, then perturbations of the best
 * trials. */
static void make_candidates(struct gp_state *st, size_t m, size_t call, double *cand)
{
    const struct gp_enc *e = &st->e;
    size_t nf = e->nf, np = e->s->n ? e->s->n : 1;
    size_t nglobal = st->n_data >= 4 ? m / 2 : m;
    double u[np];
    uint64_t seed = rng_mix(st->sobol_seed, call);
    for (size_t c = 0; c < nglobal; c++) {
        sobol_point(np, c, seed, u);
        gp_enc_from_unit(e, u, cand + c * nf);
        gp_enc_canonical(e, cand + c * nf);
    }
    size_t nbase = st->n_data < GP_TOP_BASES ? st->n_data : GP_TOP_BASES;
    size_t nmov = 0;
    for (size_t j = 0; j < nf; j++)
        nmov += e->movable[j];
    for (size_t c = nglobal; c < m; c++) {
        double *f = cand + c * nf;
        /* Rank-weighted choice of a base: the best is picked most often. */
        size_t b = 0;
        while (b + 1 < nbase && rng_uniform(&st->r) < 0.5)
            b++;
        memcpy(f, st->g->x + st->order[b] * nf, nf * sizeof *f);
        double scale = exp(log(0.002) + rng_uniform(&st->r) * (log(0.3) - log(0.002)));
        /* A third of the moves resample a few coordinates anywhere in their range
         * (jumps between basins of separable objectives), the rest are Gaussian
         * steps of a log-uniform scale in all or a few coordinates. */
        double kind = rng_uniform(&st->r);
        bool jump = kind < 1.0 / 3.0;
        double prob = kind < 0.5 ? (nmov ? 1.5 / (double)nmov : 1.0) : 1.0;
        bool moved = false;
        for (size_t i = 0; i < e->s->n; i++) {
            const struct param *p = &e->s->params[i];
            double *fi = f + e->off[i];
            if (p->type == PARAM_FLOAT || p->type == PARAM_INT) {
                if (rng_uniform(&st->r) < prob) {
                    if (jump)
                        fi[0] = rng_uniform(&st->r);
                    else
                        fi[0] += scale * rng_normal(&st->r);
                    fi[0] = fi[0] < 0 ? -fi[0] : fi[0] > 1 ? 2 - fi[0] : fi[0];
                    moved = true;
                }
            } else if (p->type == PARAM_CATEGORICAL && e->width[i] > 1) {
                if (rng_uniform(&st->r) < 0.1) {
                    size_t ch = (size_t)rng_below(&st->r, e->width[i]);
                    for (size_t j = 0; j < e->width[i]; j++)
                        fi[j] = j == ch ? 1.0 : 0.0;
                    moved = true;
                }
            }
        }
        if (!moved && nmov) {
            size_t pick = (size_t)rng_below(&st->r, nmov), j = 0;
            for (size_t t = 0; t < nf; t++)
                if (e->movable[t] && j++ == pick) {
                    f[t] = jump ? rng_uniform(&st->r) : f[t] + scale * rng_normal(&st->r);
                    break;
                }
        }
        gp_enc_canonical(e, f);
    }
}

/* One proposal into best_f (nf entries). */
static int propose_one(struct gp_state *st, size_t call, double *best_f)
{
    const struct gp_enc *e = &st->e;
    size_t nf = e->nf, n = st->g->n;
    size_t m = GP_CANDIDATES;
    if (n > 100)
        m = GP_CANDIDATES * 100 / n < GP_MIN_CANDIDATES ? GP_MIN_CANDIDATES
                                                        : GP_CANDIDATES * 100 / n;
    double *cand = malloc(m * nf * sizeof *cand);
    double *mean = malloc(m * sizeof *mean);
    double *var = malloc(m * sizeof *var);
    double *score = malloc(m * sizeof *score);
    double *work = malloc((3 * n + 4 * nf + 1) * sizeof *work);
    double *rad2 = malloc(nf * sizeof *rad2);
    double *z = malloc(nf * sizeof *z), *lo = malloc(nf * sizeof *lo);
    double *hi = malloc(nf * sizeof *hi);
    size_t *dims = malloc(nf * sizeof *dims);
    int rc = -1;
    if (!cand || !mean || !var || !score || !work || !rad2 || !z || !lo || !hi || !dims)
        goto out;
    for (size_t j = 0; j < nf; j++) {
        double r = st->g->ls[j] < 0.2 ? st->g->ls[j] : 0.2;
        rad2[j] = 0.5 * r * r;
        lo[j] = 0;
        hi[j] = 1;
    }
    struct acq a = {
        .g = st->g,
        .e = e,
        .best = st->best - GP_XI,
        .fail = st->fail,
        .nfail = st->nfail,
        .rad2 = rad2,
        .work = work,
        .dmu = work + 3 * n,
        .dsd = work + 3 * n + nf,
        .full = work + 3 * n + 2 * nf,
        .gfull = work + 3 * n + 3 * nf,
        .dims = dims,
    };
    make_candidates(st, m, call, cand);
    gp_predict(st->g, cand, m, mean, var);
    for (size_t c = 0; c < m; c++)
        score[c] = gp_log_ei(mean[c], sqrt(var[c]), a.best, NULL, NULL) +
                   fail_penalty(&a, cand + c * nf, NULL);
    for (size_t c = 0; c < m; c++)
        if (gp_near_point(st->g, cand + c * nf, GP_DUP_DIST))
            score[c] = -INFINITY;
    size_t nref = m < GP_REFINE ? m : GP_REFINE;
    size_t top[GP_REFINE];
    gp_top_indices(score, m, top, nref);
    double best_score = score[top[0]];
    memcpy(best_f, cand + top[0] * nf, nf * sizeof *best_f);
    for (size_t t = 0; t < nref; t++) {
        const double *start = cand + top[t] * nf;
        /* Optimise the continuous features of active parameters only. */
        a.ndims = 0;
        json_t *cfg = e->plain ? NULL : gp_enc_decode(e, start);
        for (size_t i = 0; i < e->s->n; i++) {
            const struct param *p = &e->s->params[i];
            if ((p->type == PARAM_FLOAT || p->type == PARAM_INT) &&
                (e->plain || json_object_get(cfg, p->name)))
                dims[a.ndims++] = e->off[i];
        }
        json_decref(cfg);
        if (a.ndims == 0)
            continue;
        a.fixed = start;
        for (size_t k = 0; k < a.ndims; k++)
            z[k] = start[dims[k]];
        gp_minimize(a.ndims, z, lo, hi, acq_objective, &a, GP_REFINE_ITER);
        double *f = a.gfull; /* reuse as scratch for the refined point */
        memcpy(f, start, nf * sizeof *f);
        for (size_t k = 0; k < a.ndims; k++)
            f[dims[k]] = z[k];
        gp_enc_canonical(e, f);
        double v = acq_value(&a, f, NULL);
        if (v > best_score && !gp_near_point(st->g, f, GP_DUP_DIST)) {
            best_score = v;
            memcpy(best_f, f, nf * sizeof *f);
        }
    }
    rc = 0;
out:
    free(cand);
    free(mean);
    free(var);
    free(score);
    free(work);
    free(rad2);
    free(z);
    free(lo);
    free(hi);
    free(dims);
    return rc;
}

/* Add a point at the model's posterior mean (a fantasy for a pending trial). */
static void add_fantasy(struct gp_state *st, const double *f)
{
    double mu, var;
    gp_predict(st->g, f, 1, &mu, &var);
    gp_add(st->g, f, mu);
}

static int sobol_fallback(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
                          size_t errlen)
{
    const struct sampler_ops *ops = sampler_find("sobol");
    if (!ops)
        ops = sampler_find("random");
    if (!ops) {
        snprintf(err, errlen, "gp: no initial-design sampler available");
        return -1;
    }
    return ops->propose(ctx, k, out, err, errlen);
}

static int gp_propose(const struct sampler_ctx *ctx, size_t k, json_t **out, char *err,
                      size_t errlen)
{
    bool numeric = false;
    for (size_t i = 0; i < ctx->space->n; i++)
        numeric = numeric || ctx->space->params[i].type != PARAM_CODE;
    if (!numeric || count_usable(ctx) < GP_MIN_DATA ||
        ctx->n_history + ctx->n_pending < sampler_auto_init_trials(ctx->space))
        return sobol_fallback(ctx, k, out, err, errlen);
    struct gp_state st;
    memset(&st, 0, sizeof st);
    uint64_t seed = rng_mix(ctx->seed ^ 0x67702d73616d706cULL, (uint64_t)ctx->next_number);
    rng_seed(&st.r, seed);
    st.sobol_seed = rng_mix(seed, 1);
    size_t done = 0;
    int rc = -1;
    double *f = NULL;
    if (state_build(&st, ctx, k) < 0) {
        snprintf(err, errlen, "gp: model fitting failed");
        goto out;
    }
    f = malloc((st.e.nf ? st.e.nf : 1) * sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ctx->n_pending; i++) {
        gp_enc_encode(&st.e, ctx->pending[i].params, f);
        add_fantasy(&st, f);
    }
    for (; done < k; done++) {
        if (propose_one(&st, done, f) < 0) {
            snprintf(err, errlen, "gp: out of memory");
            goto out;
        }
        json_t *cfg = gp_enc_decode(&st.e, f);
        json_t *checked = cfg ? space_check(ctx->space, cfg, err, errlen) : NULL;
        json_decref(cfg);
        if (!checked) {
            if (cfg == NULL)
                snprintf(err, errlen, "gp: out of memory");
            goto out;
        }
        out[done] = checked;
        if (done + 1 < k) {
            gp_enc_encode(&st.e, checked, f);
            add_fantasy(&st, f);
        }
    }
    rc = 0;
out:
    if (rc < 0)
        for (size_t i = 0; i < done; i++)
            json_decref(out[i]);
    free(f);
    state_release(&st);
    return rc;
}

const struct sampler_ops sampler_gp_ops = {"gp", gp_propose};
