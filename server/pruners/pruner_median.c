#include <config.h>
#include "pruner.h"

#include <limits.h>
#include <math.h>

bool pruner_median_due(const struct pruner_opts *o, const struct pruner_point *curve, size_t n,
                       long n_completed)
{
    if (o->kind != PRUNER_MEDIAN || n == 0 || n_completed < o->n_startup_trials)
        return false;
    long long step = curve[n - 1].step;
    if (step < o->n_warmup_steps)
        return false;
    /* the judging step at or before this one; judged when no earlier report
     * of the trial already reached it */
    long long iv = o->interval_steps > 0 ? o->interval_steps : 1;
    long long due = (step - o->n_warmup_steps) / iv * iv + o->n_warmup_steps;
    long long prev = n >= 2 ? curve[n - 2].step : LLONG_MIN;
    return prev < due;
}

bool pruner_median_decide(const struct pruner_opts *o, bool maximize,
                          const struct pruner_point *curve, size_t n, long n_completed,
                          double *others, size_t n_others)
{
    if (!pruner_median_due(o, curve, n, n_completed))
        return false;
    double best = pruner_best(curve, n, maximize);
    if (isnan(best))
        return true;
    size_t m = 0;
    for (size_t i = 0; i < n_others; i++)
        m += !isnan(others[i]);
    if (m == 0 || m < (size_t)o->n_min_trials)
        return false;
    double med = pruner_median_of(others, n_others);
    return maximize ? best < med : best > med;
}
