#include <config.h>
#include "mo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pareto.h"

bool mo_needed(const struct sampler_ctx *ctx)
{
    return ctx->n_objectives > 1 || ctx->n_constraints > 0;
}

size_t mo_objectives(const struct sampler_ctx *ctx)
{
    return ctx->n_objectives > 1 ? ctx->n_objectives : 1;
}

double mo_value(const struct sampler_ctx *ctx, size_t i, size_t j)
{
    if (ctx->n_objectives > 1)
        return ctx->values ? ctx->values[i * ctx->n_objectives + j] : NAN;
    return ctx->history[i].value;
}

bool mo_complete(const struct sampler_ctx *ctx, size_t i)
{
    if (ctx->history[i].state != OBS_COMPLETED)
        return false;
    size_t m = mo_objectives(ctx);
    for (size_t j = 0; j < m; j++)
        if (!isfinite(mo_value(ctx, i, j)))
            return false;
    return true;
}

double mo_violation(const struct sampler_ctx *ctx, size_t i)
{
    double v = 0;
    for (size_t c = 0; c < ctx->n_constraints; c++) {
        double x = ctx->constraints ? ctx->constraints[i * ctx->n_constraints + c] : NAN;
        if (isnan(x))
            return INFINITY;
        if (x > 0)
            v += x;
    }
    return v;
}

struct key {
    int tier;    /* 0 feasible, 1 infeasible */
    double a, b; /* front and position within it, or violation */
    long number; /* last tie-break */
    size_t row;
};

static int cmp_key(const void *pa, const void *pb)
{
    const struct key *x = pa, *y = pb;
    if (x->tier != y->tier)
        return x->tier < y->tier ? -1 : 1;
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    return (x->number > y->number) - (x->number < y->number);
}

long mo_rank_scores(const struct sampler_ctx *ctx, double *score)
{
    size_t n = ctx->n_history, m = mo_objectives(ctx);
    size_t nn = n ? n : 1;
    struct key *k = malloc(nn * sizeof *k);
    size_t *feas = malloc(nn * sizeof *feas);
    double *y = malloc(nn * m * sizeof *y);
    int *rank = malloc(nn * sizeof *rank);
    double *fy = malloc(nn * m * sizeof *fy);
    size_t *idx = malloc(nn * sizeof *idx), *order = malloc(nn * sizeof *order);
    double *ref = malloc(m * sizeof *ref), *lo = malloc(m * sizeof *lo);
    long rc = -1;
    if (!k || !feas || !y || !rank || !fy || !idx || !order || !ref || !lo)
        goto out;
    size_t nf = 0, nk = 0;
    for (size_t i = 0; i < n; i++) {
        score[i] = NAN;
        if (!mo_complete(ctx, i))
            continue;
        double v = mo_violation(ctx, i);
        if (v > 0) {
            k[nk++] = (struct key){1, v, 0, ctx->history[i].number, i};
            continue;
        }
        for (size_t j = 0; j < m; j++)
            y[nf * m + j] = mo_value(ctx, i, j);
        feas[nf++] = i;
    }
    if (pareto_sort(y, nf, m, rank) < 0)
        goto out;
    for (size_t j = 0; j < m; j++) {
        ref[j] = -INFINITY;
        lo[j] = INFINITY;
        for (size_t t = 0; t < nf; t++) {
            ref[j] = fmax(ref[j], y[t * m + j]);
            lo[j] = fmin(lo[j], y[t * m + j]);
        }
        double span = ref[j] - lo[j];
        ref[j] += span > 0 ? 0.1 * span : 1e-9 * fmax(1.0, fabs(ref[j]));
    }
    for (int r = 0;; r++) {
        size_t cnt = 0;
        for (size_t t = 0; t < nf; t++)
            if (rank[t] == r) {
                memcpy(fy + cnt * m, y + t * m, m * sizeof *fy);
                idx[cnt++] = t;
            }
        if (cnt == 0)
            break;
        if (m == 1) {
            for (size_t c = 0; c < cnt; c++)
                order[c] = c;
        } else if (pareto_hv_order(fy, cnt, m, ref, order) < 0) {
            goto out;
        }
        for (size_t c = 0; c < cnt; c++) {
            size_t row = feas[idx[order[c]]];
            k[nk++] = (struct key){0, r, (double)c, ctx->history[row].number, row};
        }
    }
    qsort(k, nk, sizeof *k, cmp_key);
    for (size_t t = 0; t < nk; t++)
        score[k[t].row] = (double)t;
    rc = (long)nk;
out:
    free(k);
    free(feas);
    free(y);
    free(rank);
    free(fy);
    free(idx);
    free(order);
    free(ref);
    free(lo);
    return rc;
}

const char *mo_auto_phase(const struct sampler_ctx *ctx)
{
    if (ctx->n_history > MO_AUTO_TPE_AFTER && sampler_find("motpe"))
        return "motpe";
    return "mogp";
}
