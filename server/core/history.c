#include <config.h>
#include "history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reports beyond this many are not loaded: pruned trials then go without an
 * estimate (the samplers' fallback), rather than slow every suggestion. */
#define CURVES_MAX_REPORTS 4000000

static enum obs_state obs_state_of(enum trial_state s)
{
    switch (s) {
    case TRIAL_COMPLETED:
        return OBS_COMPLETED;
    case TRIAL_PRUNED:
        return OBS_PRUNED;
    case TRIAL_FAILED:
        return OBS_FAILED;
    case TRIAL_PENDING:
    case TRIAL_RUNNING:
        break;
    }
    return OBS_PENDING;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Trial k's latest value at or before step, NAN when it has none. */
static double value_at(const struct study_curves *c, size_t k, long long step)
{
    size_t lo = c->off[k], hi = c->off[k + 1];
    while (lo < hi) { /* the first report after step */
        size_t mid = lo + (hi - lo) / 2;
        if (c->step[mid] <= step)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > c->off[k] ? c->val[lo - 1] : NAN;
}

/* The estimates of the pruned trials of hist (ids[i] and steps[i] give each
 * trial's row id and last step) into mf. */
static void pruned_estimates(struct db *db, const struct study *st, const struct obs *hist,
                             const long long *ids, const long long *steps, struct obs_mf *mf,
                             size_t nh)
{
    size_t nf = 0, np = 0;
    long long max_step = 0;
    for (size_t i = 0; i < nh; i++) {
        bool done = hist[i].state == OBS_COMPLETED && isfinite(hist[i].value);
        nf += done;
        np += hist[i].state == OBS_PRUNED;
        if (done && steps[i] > max_step)
            max_step = steps[i];
    }
    double *finals = np && nf && max_step > 0 ? malloc(nf * sizeof *finals) : NULL;
    struct study_curves c;
    if (finals && store_curves(db, st->id, CURVES_MAX_REPORTS, &c) < 0) {
        free(finals);
        finals = NULL;
    }
    nf = 0;
    for (size_t i = 0; finals && i < nh; i++)
        if (hist[i].state == OBS_COMPLETED && isfinite(hist[i].value))
            finals[nf++] = hist[i].value;
    if (finals)
        qsort(finals, nf, sizeof *finals, cmp_double);
    for (size_t i = 0; i < nh; i++) {
        const struct obs *o = &hist[i];
        long long step = steps[i];
        mf[i].fidelity = 0;
        mf[i].value_final = NAN;
        if (!finals || o->state != OBS_PRUNED || step <= 0 || !isfinite(o->value))
            continue;
        /* the last value as stored, in the study's direction */
        double raw = st->direction < 0 ? -o->value : o->value;
        double count = 0, below = 0;
        for (size_t k = 0; k < c.nt; k++) {
            if (c.id[k] == ids[i] || c.last[k] < step)
                continue;
            double v = value_at(&c, k, step);
            if (isnan(v))
                continue;
            count++;
            below += v < raw ? 1 : v == raw ? 0.5 : 0;
        }
        /* quantile by stored value, turned to "better than" in the study's
         * direction (lower oriented value is better) */
        double q = (below + 0.5) / (count + 1);
        if (st->direction < 0)
            q = 1 - q;
        double pos = q * (double)(nf - 1);
        size_t lo = (size_t)floor(pos), hi = lo + 1 < nf ? lo + 1 : lo;
        mf[i].value_final = finals[lo] + (pos - (double)lo) * (finals[hi] - finals[lo]);
        mf[i].fidelity = step >= max_step ? 1 : (double)step / (double)max_step;
    }
    if (finals)
        store_curves_free(&c);
    free(finals);
}

/* A finished trial's objectives (oriented, lower is better; NAN unless it
 * completed) into vals (m entries, may be NULL) and its constraint values into
 * cons (NAN where not reported; may be NULL). */
static void multi_row(const struct spec *sp, const struct trial_outcome *t, double *vals,
                      double *cons)
{
    struct outcome oc;
    char err[8];
    /* read as a pruned trial would be: nothing is required */
    lifecycle_outcome(sp, TRIAL_PRUNED, t->value, t->values, &oc, err, sizeof err);
    for (size_t j = 0; vals && j < sp->n_objectives; j++) {
        double x = t->state == TRIAL_COMPLETED ? oc.objs[j] : NAN;
        vals[j] = sp->objectives[j].maximize ? -x : x;
    }
    for (size_t c = 0; cons && c < sp->n_constraints; c++)
        cons[c] = t->state == TRIAL_FAILED ? NAN : oc.cons[c];
}

int history_load(struct db *db, const struct study *st, struct sampler_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->space = st->spec->space;
    ctx->seed = st->spec->seed;
    ctx->options = st->spec->sampler_opts;
    struct trial_outcome *rows;
    size_t n;
    bool multi = spec_multi(st->spec);
    if (store_outcomes(db, st->id, multi, &rows, &n) < 0)
        return -1;
    size_t m = multi && st->spec->n_objectives > 1 ? st->spec->n_objectives : 0;
    size_t nc = multi ? st->spec->n_constraints : 0;
    double *vals = m ? malloc((n + 1) * m * sizeof *vals) : NULL;
    double *cons = nc ? malloc((n + 1) * nc * sizeof *cons) : NULL;
    if ((m && !vals) || (nc && !cons)) {
        free(vals);
        free(cons);
        store_outcomes_free(rows, n);
        return -1;
    }
    struct obs *hist = calloc(n + 1, sizeof *hist), *pend = calloc(n + 1, sizeof *pend);
    struct obs_mf *mf = calloc(n + 1, sizeof *mf);
    long long *ids = calloc(n + 1, sizeof *ids), *steps = calloc(n + 1, sizeof *steps);
    if (!hist || !pend || !mf || !ids || !steps) {
        free(vals);
        free(cons);
        free(hist);
        free(pend);
        free(mf);
        free(ids);
        free(steps);
        store_outcomes_free(rows, n);
        return -1;
    }
    size_t nh = 0, np = 0;
    for (size_t i = 0; i < n; i++) {
        const struct trial_outcome *t = &rows[i];
        enum obs_state s = obs_state_of(t->state);
        double v = NAN;
        if (s == OBS_COMPLETED)
            v = t->value;
        else if (s == OBS_PRUNED)
            /* the last report is of the objective the pruner watches */
            v = isfinite(t->value) || (multi && st->spec->pruner_objective != 0) ? t->value
                                                                                 : t->last_value;
        if (isfinite(v) && st->direction < 0)
            v = -v;
        /* the params move from the row to the observation */
        struct obs o = {t->params, v, s, (long)t->number};
        if (s == OBS_PENDING) {
            pend[np++] = o;
        } else {
            if (multi)
                multi_row(st->spec, t, m ? vals + nh * m : NULL, nc ? cons + nh * nc : NULL);
            ids[nh] = t->id;
            steps[nh] = t->last_step;
            hist[nh++] = o;
        }
    }
    for (size_t i = 0; i < n; i++)
        json_decref(rows[i].values);
    free(rows);
    pruned_estimates(db, st, hist, ids, steps, mf, nh);
    free(ids);
    free(steps);
    ctx->history = hist;
    ctx->n_history = nh;
    ctx->pending = pend;
    ctx->n_pending = np;
    ctx->mf = mf;
    ctx->n_objectives = m;
    ctx->values = vals;
    ctx->n_constraints = nc;
    ctx->constraints = cons;
    return 0;
}

void history_free(struct sampler_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_history; i++)
        json_decref((json_t *)ctx->history[i].params);
    for (size_t i = 0; i < ctx->n_pending; i++)
        json_decref((json_t *)ctx->pending[i].params);
    free((void *)ctx->history);
    free((void *)ctx->pending);
    free((void *)ctx->mf);
    free((void *)ctx->values);
    free((void *)ctx->constraints);
    memset(ctx, 0, sizeof *ctx);
}
