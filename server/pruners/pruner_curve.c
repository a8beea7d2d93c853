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

/* The chance that a value distributed N(mean, sd^2) beats ref. */
static double beat_chance(bool maximize, double mean, double sd, double ref)
{
    double floor_sd = 1e-9 + 1e-6 * (fabs(mean) + fabs(ref));
    if (!(sd > floor_sd))
        sd = floor_sd;
    double z = maximize ? (mean - ref) / sd : (ref - mean) / sd;
    return 0.5 * erfc(-z / sqrt(2.0));
}

int pruner_curve_cross(const struct pruner_pairs *pairs, bool maximize, double now, double ref,
                       double *p, double *predicted)
{
    *p = NAN;
    *predicted = NAN;
    if (!pairs || !isfinite(now) || !isfinite(ref))
        return -1;
    bool logs = now > 0 && ref > 0;
    size_t n = 0;
    for (size_t i = 0; i < pairs->n; i++) {
        double x = pairs->xy[2 * i], y = pairs->xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y))
            continue;
        logs = logs && x > 0 && y > 0;
        n++;
    }
    if (n < PRUNER_CURVE_MIN_PAIRS)
        return -1;
    /* means, then sums of squares, on the scale chosen */
    double sx = 0, sy = 0;
    for (size_t i = 0; i < pairs->n; i++)
        if (isfinite(pairs->xy[2 * i]) && isfinite(pairs->xy[2 * i + 1])) {
            sx += logs ? log(pairs->xy[2 * i]) : pairs->xy[2 * i];
            sy += logs ? log(pairs->xy[2 * i + 1]) : pairs->xy[2 * i + 1];
        }
    double mx = sx / (double)n, my = sy / (double)n, sxx = 0, sxy = 0;
    for (size_t i = 0; i < pairs->n; i++)
        if (isfinite(pairs->xy[2 * i]) && isfinite(pairs->xy[2 * i + 1])) {
            double dx = (logs ? log(pairs->xy[2 * i]) : pairs->xy[2 * i]) - mx;
            double dy = (logs ? log(pairs->xy[2 * i + 1]) : pairs->xy[2 * i + 1]) - my;
            sxx += dx * dx;
            sxy += dx * dy;
        }
    if (!(sxx > 1e-12 * (1 + mx * mx) * (double)n))
        return -1;
    double b = sxy / sxx, a = my - b * mx, rss = 0;
    for (size_t i = 0; i < pairs->n; i++)
        if (isfinite(pairs->xy[2 * i]) && isfinite(pairs->xy[2 * i + 1])) {
            double x = logs ? log(pairs->xy[2 * i]) : pairs->xy[2 * i];
            double r = (logs ? log(pairs->xy[2 * i + 1]) : pairs->xy[2 * i + 1]) - (a + b * x);
            rss += r * r;
        }
    double x0 = logs ? log(now) : now, mean = a + b * x0;
    double sd = sqrt(rss / (double)(n - 2) * (1 + 1 / (double)n + (x0 - mx) * (x0 - mx) / sxx));
    *p = beat_chance(maximize, mean, sd, logs ? log(ref) : ref);
    *predicted = logs ? exp(mean) : mean;
    return 0;
}

bool pruner_curve_decide(const struct pruner_opts *o, bool maximize,
                         const struct pruner_point *curve, size_t n, double *finals,
                         size_t n_finals, const struct pruner_pairs *pairs, long long max_step,
                         struct pruner_verdict *v)
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
    if (isnan(ref))
        goto out;
    /* the trial's own curve */
    struct curvefit_pred pr;
    bool own = m >= (size_t)o->min_points && curvefit_predict(t, y, m, (double)max_step, &pr) == 0;
    double p_own = own ? beat_chance(maximize, pr.mean, pr.sd, ref) : NAN;
    /* the completed trials' curves */
    double p_cross, pred_cross;
    bool cross =
        pruner_curve_cross(pairs, maximize, curve[n - 1].value, ref, &p_cross, &pred_cross) == 0;
    if (!own && !cross)
        goto out;
    v->p = own && cross ? fmax(p_own, p_cross) : own ? p_own : p_cross;
    v->predicted = own ? pr.mean : pred_cross;
    v->prune = v->p < o->p_threshold;
    char pc[16], po[16];
    percent(v->p, pc, sizeof pc);
    int len = snprintf(v->reason, sizeof v->reason,
                       "%s chance to beat the %ld%s best (%.4g) at step %lld:", pc, rank,
                       ordinal(rank), ref, max_step);
    if (own && len > 0 && (size_t)len < sizeof v->reason) {
        percent(p_own, po, sizeof po);
        len += snprintf(v->reason + len, sizeof v->reason - (size_t)len,
                        " predicted %.4g +- %.2g from %zu reports to step %lld%s%s%s", pr.mean,
                        pr.sd, m, step, cross ? " (" : "", cross ? po : "", cross ? ")" : "");
    }
    if (cross && len > 0 && (size_t)len < sizeof v->reason) {
        percent(p_cross, po, sizeof po);
        snprintf(v->reason + len, sizeof v->reason - (size_t)len,
                 "%s completed trials from their value at step %lld predict %.4g (%s)",
                 own ? ";" : "", step, pred_cross, po);
    }
out:
    free(t);
    free(y);
    return v->prune;
}
