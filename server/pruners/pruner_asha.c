#include <config.h>
#include "pruner.h"

#include <limits.h>
#include <math.h>

long long pruner_asha_rung_step(const struct pruner_opts *o, long k)
{
    if (k < 0 || o->min_resource < 1 || o->reduction_factor < 2)
        return -1;
    long long s = o->min_resource;
    long e = o->min_early_stopping_rate + k;
    for (long i = 0; i < e; i++) {
        if (s > LLONG_MAX / o->reduction_factor)
            return -1;
        s *= o->reduction_factor;
    }
    return s;
}

size_t pruner_asha_rungs(const struct pruner_opts *o, const struct pruner_point *curve, size_t n,
                         long long step, long *rungs, size_t max)
{
    if (o->kind != PRUNER_ASHA)
        return 0;
    long long prev = LLONG_MIN;
    for (size_t i = 0; i < n; i++) {
        if (curve[i].step > step)
            return 0; /* a late report: the later one crossed these rungs */
        if (curve[i].step < step && curve[i].step > prev)
            prev = curve[i].step;
    }
    size_t m = 0;
    for (long k = 0; m < max; k++) {
        long long rs = pruner_asha_rung_step(o, k);
        if (rs < 0 || rs > step)
            break;
        if (rs > prev)
            rungs[m++] = k;
    }
    return m;
}

bool pruner_asha_promotable(long reduction_factor, bool maximize, double value,
                            const double *others, size_t n_others)
{
    if (isnan(value))
        return false;
    /* Among the m values at the rung (itself included) the trial goes on when
     * it is no worse than the one ranked floor(m / rf) (the best while m < rf):
     * when at most that rank minus one values are strictly better. */
    size_t m = n_others + 1;
    size_t rf = reduction_factor >= 2 ? (size_t)reduction_factor : 2;
    size_t keep = m / rf;
    size_t allowed = keep > 0 ? keep - 1 : 0;
    size_t better = 0;
    for (size_t i = 0; i < n_others; i++) {
        double x = others[i];
        if (!isnan(x) && (maximize ? x > value : x < value))
            better++;
    }
    return better <= allowed;
}

long long pruner_asha_min_resource(const struct pruner_opts *o, long long max_resource)
{
    if (o->min_resource > 0)
        return o->min_resource;
    if (max_resource <= 0)
        return 0;
    long long rf = o->reduction_factor >= 2 ? o->reduction_factor : 2;
    long long r = max_resource / rf / rf;
    return r >= 1 ? r : 1;
}
