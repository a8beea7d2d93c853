#include <config.h>
#include "pruner.h"

#include <math.h>
#include <stdint.h>

long pruner_hyperband_brackets(const struct pruner_opts *o, long long max_resource)
{
    if (max_resource <= 0)
        return 0;
    long long lo = o->min_resource > 0 ? o->min_resource : 1;
    long long rf = o->reduction_factor >= 2 ? o->reduction_factor : 2;
    long b = 1;
    /* one more bracket for every factor rf between the first rung and the end */
    for (long long r = lo; r <= max_resource / rf && b < 62; r *= rf)
        b++;
    return b;
}

/* Trials Hyperband starts in bracket i of b: (b / (b - i)) * rf^(b - 1 - i). */
static double bracket_weight(long rf, long b, long i)
{
    return (double)b / (double)(b - i) * pow((double)rf, (double)(b - 1 - i));
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

long pruner_hyperband_bracket(const struct pruner_opts *o, long brackets, long long number)
{
    if (brackets <= 1)
        return 0;
    long rf = o->reduction_factor >= 2 ? o->reduction_factor : 2;
    double total = 0;
    for (long i = 0; i < brackets; i++)
        total += bracket_weight(rf, brackets, i);
    /* a uniform number in [0, total) from the trial number */
    double u = (double)(mix((uint64_t)number) >> 11) / 9007199254740992.0 * total;
    for (long i = 0; i < brackets; i++) {
        u -= bracket_weight(rf, brackets, i);
        if (u < 0)
            return i;
    }
    return brackets - 1;
}

struct pruner_opts pruner_hyperband_asha(const struct pruner_opts *o, long b)
{
    struct pruner_opts a = *o;
    a.kind = PRUNER_ASHA;
    a.min_resource = o->min_resource > 0 ? o->min_resource : 1;
    a.min_early_stopping_rate = b;
    return a;
}
