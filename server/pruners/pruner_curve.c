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

/* A least-squares polynomial of degree 1 or 2 in x. x is centred and scaled
 * first (u = (x - mx) / scale) so that the normal equations stay well
 * conditioned; the fitted values do not depend on it. */
struct polyfit {
    size_t k; /* parameters: degree + 1 */
    double mx, scale;
    double L[3][3]; /* Cholesky factor of the normal equations' matrix */
    double beta[3]; /* coefficients of 1, u, u^2 */
    double s2;      /* residual variance */
};

/* Solves L L' z = w. */
static void chol_solve(const struct polyfit *f, const double *w, double *z)
{
    double t[3];
    for (size_t a = 0; a < f->k; a++) {
        t[a] = w[a];
        for (size_t c = 0; c < a; c++)
            t[a] -= f->L[a][c] * t[c];
        t[a] /= f->L[a][a];
    }
    for (size_t a = f->k; a-- > 0;) {
        z[a] = t[a];
        for (size_t c = a + 1; c < f->k; c++)
            z[a] -= f->L[c][a] * z[c];
        z[a] /= f->L[a][a];
    }
}

/* -1 when too few points leave no degree of freedom for the error, or the
 * design is singular (fewer distinct x than parameters). */
static int poly_fit(const double *x, const double *y, size_t n, int degree, struct polyfit *f)
{
    f->k = (size_t)degree + 1;
    if (n <= f->k)
        return -1;
    double mx = 0, vx = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i];
    mx /= (double)n;
    for (size_t i = 0; i < n; i++)
        vx += (x[i] - mx) * (x[i] - mx);
    f->mx = mx;
    f->scale = sqrt(vx / (double)n);
    if (!(f->scale > 1e-9 * (1 + fabs(mx))))
        return -1;
    double M[3][3] = {{0}}, r[3] = {0};
    for (size_t i = 0; i < n; i++) {
        double u = (x[i] - mx) / f->scale, row[3] = {1, u, u * u};
        for (size_t a = 0; a < f->k; a++) {
            r[a] += row[a] * y[i];
            for (size_t b = 0; b < f->k; b++)
                M[a][b] += row[a] * row[b];
        }
    }
    for (size_t a = 0; a < f->k; a++)
        for (size_t b = 0; b <= a; b++) {
            double v = M[a][b];
            for (size_t c = 0; c < b; c++)
                v -= f->L[a][c] * f->L[b][c];
            if (a > b) {
                f->L[a][b] = v / f->L[b][b];
                continue;
            }
            if (!(v > 1e-10 * M[a][a]))
                return -1;
            f->L[a][a] = sqrt(v);
        }
    chol_solve(f, r, f->beta);
    double rss = 0;
    for (size_t i = 0; i < n; i++) {
        double u = (x[i] - mx) / f->scale;
        double e = y[i] - f->beta[0] - f->beta[1] * u - (f->k > 2 ? f->beta[2] * u * u : 0);
        rss += e * e;
    }
    f->s2 = rss / (double)(n - f->k);
    return 0;
}

/* The fit's prediction at x0, and the prediction interval's standard
 * deviation (the residual's, times one plus the leverage of x0). */
static void poly_at(const struct polyfit *f, double x0, double *mean, double *sd)
{
    double u = (x0 - f->mx) / f->scale, a0[3] = {1, u, u * u}, w[3], m = 0, h = 0;
    chol_solve(f, a0, w);
    for (size_t a = 0; a < f->k; a++) {
        m += a0[a] * f->beta[a];
        h += a0[a] * w[a];
    }
    *mean = m;
    *sd = sqrt(f->s2 * (1 + h));
}

/* Whether the parabola may judge a trial worth x0 at the step (never behind
 * every completed trial there: pruner_curve_cross). Between the completed
 * trials' values there it interpolates. Ahead of them it extrapolates its
 * bend only when the data show a best band: it bends toward the better final
 * values (up when minimising) with its vertex inside their values, and at
 * least two of them were ahead of the vertex (and ended worse for it).
 * Otherwise the line judges. lo, hi: the least and the largest of x. */
static bool parabola_fits(const struct polyfit *f, bool maximize, const double *x, size_t n,
                          double lo, double hi, double x0)
{
    if (x0 >= lo && x0 <= hi)
        return true;
    double c = f->beta[2];
    if (maximize ? !(c < 0) : !(c > 0))
        return false;
    double v = f->mx - f->beta[1] / (2 * c) * f->scale;
    if (!(v > lo && v < hi))
        return false;
    size_t ahead = 0;
    for (size_t i = 0; i < n; i++)
        ahead += maximize ? x[i] > v : x[i] < v;
    return ahead >= 2;
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
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < pairs->n; i++) {
        double x = pairs->xy[2 * i], y = pairs->xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y))
            continue;
        logs = logs && x > 0 && y > 0;
        lo = fmin(lo, x);
        hi = fmax(hi, x);
        n++;
    }
    if (n < PRUNER_CURVE_MIN_PAIRS)
        return -1;
    /* Behind every completed trial at the step, the pairs show nothing of how
     * a start this slow ends: where the completed trials all started fast, a
     * fit through them stops every slow starter, the ones that end best
     * among them. Such a trial is left to its own curve. */
    if (maximize ? now < lo : now > hi)
        return -1;
    double *x = malloc(2 * n * sizeof *x);
    if (!x)
        return -1;
    double *y = x + n;
    size_t m = 0;
    for (size_t i = 0; i < pairs->n; i++)
        if (isfinite(pairs->xy[2 * i]) && isfinite(pairs->xy[2 * i + 1])) {
            x[m] = logs ? log(pairs->xy[2 * i]) : pairs->xy[2 * i];
            y[m++] = logs ? log(pairs->xy[2 * i + 1]) : pairs->xy[2 * i + 1];
        }
    /* log is increasing: the better side stays the better side */
    double x0 = logs ? log(now) : now, mean, sd;
    if (logs) {
        lo = log(lo);
        hi = log(hi);
    }
    struct polyfit f;
    int rc = 0;
    if (poly_fit(x, y, n, 2, &f) != 0 || !parabola_fits(&f, maximize, x, n, lo, hi, x0))
        rc = poly_fit(x, y, n, 1, &f);
    free(x);
    if (rc != 0)
        return -1;
    poly_at(&f, x0, &mean, &sd);
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
    if (own)
        pr.sd *= PRUNER_CURVE_OWN_SD_SCALE;
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
