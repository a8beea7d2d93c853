#include <config.h>
#include "pruner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "curvefit.h"

static int cmp_up(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pruner_curve_reference(const struct pruner_opts *o, bool maximize, double *finals, size_t n,
                              long *rank)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(finals[i]))
            finals[m++] = finals[i];
    if (rank)
        *rank = 0;
    if (m == 0)
        return NAN;
    qsort(finals, m, sizeof *finals, cmp_up);
    double k = o->top_k >= 1 ? floor(o->top_k) : ceil(o->top_k * (double)m);
    size_t kk = k < 1 ? 1 : k > (double)m ? m : (size_t)k;
    if (rank)
        *rank = (long)kk;
    return maximize ? finals[m - kk] : finals[kk - 1];
}

static const char *ordinal(long k)
{
    if (k % 100 >= 11 && k % 100 <= 13)
        return "th";
    switch (k % 10) {
    case 1:
        return "st";
    case 2:
        return "nd";
    case 3:
        return "rd";
    default:
        return "th";
    }
}

/* "2%", "0.4%", "<0.1%" */
static void percent(double p, char *out, size_t len)
{
    double q = 100 * p;
    if (q < 0.1)
        snprintf(out, len, "<0.1%%");
    else if (q < 1)
        snprintf(out, len, "%.1f%%", q);
    else
        snprintf(out, len, "%.0f%%", q);
}

bool pruner_curve_decide(const struct pruner_opts *o, bool maximize,
                         const struct pruner_point *curve, size_t n, double *finals,
                         size_t n_finals, long long max_step, struct pruner_verdict *v)
{
    v->prune = false;
    v->p = NAN;
    v->predicted = NAN;
    v->reason[0] = '\0';
    if (o->kind != PRUNER_CURVE || n == 0)
        return false;
    size_t done = 0;
    for (size_t i = 0; i < n_finals; i++)
        done += !isnan(finals[i]);
    long long step = curve[n - 1].step;
    if ((long)done < o->n_startup_trials || done == 0 || step < o->n_warmup_steps ||
        max_step <= 0 || step >= max_step)
        return false;
    double *t = malloc(n * sizeof *t), *y = malloc(n * sizeof *y);
    if (!t || !y) {
        free(t);
        free(y);
        return false;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(curve[i].value) && curve[i].step > 0) {
            t[m] = (double)curve[i].step;
            y[m++] = curve[i].value;
        }
    long rank = 0;
    double ref = pruner_curve_reference(o, maximize, finals, n_finals, &rank);
    if (!isfinite(curve[n - 1].value) && m > 0) {
        v->prune = true;
        v->p = 0;
        snprintf(v->reason, sizeof v->reason,
                 "diverged: the value at step %lld is not a finite number", step);
        goto out;
    }
    struct curvefit_pred pr;
    if (m < (size_t)o->min_points || isnan(ref) ||
        curvefit_predict(t, y, m, (double)max_step, &pr) < 0)
        goto out;
    double sd = pr.sd, floor_sd = 1e-9 + 1e-6 * (fabs(pr.mean) + fabs(ref));
    if (!(sd > floor_sd))
        sd = floor_sd;
    double z = maximize ? (pr.mean - ref) / sd : (ref - pr.mean) / sd;
    v->p = 0.5 * erfc(-z / sqrt(2.0));
    v->predicted = pr.mean;
    v->prune = v->p < o->p_threshold;
    char pc[16];
    percent(v->p, pc, sizeof pc);
    snprintf(v->reason, sizeof v->reason,
             "%s chance to beat the %ld%s best (%.4g) at step %lld: predicted %.4g +- %.2g "
             "from %zu reports to step %lld",
             pc, rank, ordinal(rank), ref, max_step, pr.mean, pr.sd, m, step);
out:
    free(t);
    free(y);
    return v->prune;
}
