#include <config.h>
#include "pruner.h"

#include <limits.h>
#include <math.h>

static bool worse(double a, double b, bool maximize)
{
    return maximize ? a < b : a > b;
}

bool pruner_patience_decide(const struct pruner_opts *o, bool maximize,
                            const struct pruner_point *curve, size_t n, double best_completed)
{
    if (o->kind != PRUNER_PATIENCE || n == 0)
        return false;
    long long step = curve[n - 1].step;
    if (step < o->n_warmup_steps)
        return false;
    double last = curve[n - 1].value;
    if (o->has_threshold && (isnan(last) || worse(last, o->threshold, maximize)))
        return true;
    if (o->patience <= 0 || step < LLONG_MIN + o->patience)
        return false;
    long long cut = step - o->patience;
    size_t split = 0;
    while (split < n && curve[split].step <= cut)
        split++;
    double before = pruner_best(curve, split, maximize);
    if (isnan(before))
        return false; /* not yet patience steps of history */
    double after = pruner_best(curve + split, n - split, maximize);
    if (isnan(after))
        after = maximize ? -HUGE_VAL : HUGE_VAL; /* no finite value: no improvement */
    bool improved = maximize ? after > before + o->min_delta : after < before - o->min_delta;
    if (improved)
        return false;
    double best = pruner_best(curve, n, maximize);
    return !isnan(best_completed) && worse(best, best_completed, maximize);
}
