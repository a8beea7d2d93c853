#include <config.h>
#include "curvefit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Ensemble weights: exp(-(AICc - best) / (2 TEMPER)). A temperature above 1
 * keeps the families that fit almost as well in the spread. */
#define TEMPER        4.0
#define ROBUST_ROUNDS 2   /* Huber reweighting rounds after the least-squares fit */
#define HUBER         1.5 /* residuals beyond this many robust deviations weigh less */
#define MAX_POINTS    64  /* longer curves are thinned evenly, keeping the last point */
#define MAX_ITER      100 /* Levenberg-Marquardt iterations */
#define GRID_1D       24  /* starting values tried for a one-parameter theta */
#define GRID_2D_A     12  /* ... and for each of a two-parameter theta */
#define GRID_2D_B     8

/* Bounds of each positive parameter theta, as log(value). */
struct family_def {
    const char *name;    /* as in messages */
    size_t ntheta;       /* positive shape parameters */
    double lo[2], hi[2]; /* their bounds */
    bool ensemble;       /* used by curvefit_predict() */
};

static const struct family_def families[CURVEFIT_NFAMILIES] = {
    [CURVEFIT_POW3] = {"pow3", 1, {0.3, 0}, {5, 0}, true},
    [CURVEFIT_EXP3] = {"exp3", 1, {0.02, 0}, {50, 0}, true},
    [CURVEFIT_LOGPOWER] = {"logpower", 2, {0.02, 0.3}, {20, 8}, true},
    [CURVEFIT_JANOSCHEK] = {"janoschek", 2, {0.02, 0.2}, {50, 4}, true},
    [CURVEFIT_LOGLIN] = {"loglin", 0, {0, 0}, {0, 0}, false},
};

const char *curvefit_name(enum curvefit_family f)
{
    return f < CURVEFIT_NFAMILIES ? families[f].name : "?";
}

size_t curvefit_nparams(enum curvefit_family f)
{
    return f < CURVEFIT_NFAMILIES ? 2 + families[f].ntheta : 0;
}

/* g(x; theta), theta given as logs. */
static double shape(enum curvefit_family f, const double *th, double x)
{
    switch (f) {
    case CURVEFIT_POW3:
        return pow(x, -exp(th[0]));
    case CURVEFIT_EXP3:
        return exp(-exp(th[0]) * x);
    case CURVEFIT_LOGPOWER:
        return 1.0 / (1.0 + pow(x / exp(th[0]), exp(th[1])));
    case CURVEFIT_JANOSCHEK:
        return exp(-exp(th[0]) * pow(x, exp(th[1])));
    case CURVEFIT_LOGLIN:
    case CURVEFIT_NFAMILIES:
        break;
    }
    return log(x);
}

static double model_at(enum curvefit_family f, const double *p, double x)
{
    return p[0] + p[1] * shape(f, p + 2, x);
}

double curvefit_eval(const struct curvefit_model *m, double t)
{
    return model_at(m->family, m->p, t / m->scale);
}

/* Usable points, thinned to MAX_POINTS. */
struct pts {
    double x[MAX_POINTS]; /* step / scale */
    double y[MAX_POINTS]; /* value */
    double w[MAX_POINTS]; /* weight, at most 1 */
    size_t n;             /* used */
    double scale;         /* the last usable step */
};

static bool usable(const double *t, const double *y, size_t i)
{
    return isfinite(t[i]) && t[i] > 0 && isfinite(y[i]);
}

static void gather(const double *t, const double *y, const double *w, size_t n, struct pts *P)
{
    size_t total = 0, last = 0;
    for (size_t i = 0; i < n; i++)
        if (usable(t, y, i)) {
            total++;
            last = i;
        }
    P->n = 0;
    P->scale = total ? t[last] : 1;
    if (!(P->scale > 0))
        P->scale = 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!usable(t, y, i))
            continue;
        /* keep point k when it is the first of its share of the thinned curve */
        bool keep = total <= MAX_POINTS || i == last ||
                    (k * (MAX_POINTS - 1)) / total != ((k + 1) * (MAX_POINTS - 1)) / total;
        k++;
        if (!keep || P->n >= MAX_POINTS)
            continue;
        double x = t[i] / P->scale;
        P->x[P->n] = x;
        P->y[P->n] = y[i];
        double wi = w ? w[i] : 0.1 + 0.9 * x * x;
        P->w[P->n] = isfinite(wi) && wi > 0 ? (wi > 1 ? 1 : wi) : 0;
        P->n++;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (reordered). */
static double median_of(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Weighted least squares for c and a with theta fixed; returns the cost. */
static double solve_linear(enum curvefit_family f, const struct pts *P, double *p)
{
    double sw = 0, sg = 0, sgg = 0, sy = 0, sgy = 0;
    for (size_t i = 0; i < P->n; i++) {
        double g = shape(f, p + 2, P->x[i]), w = P->w[i];
        sw += w;
        sg += w * g;
        sgg += w * g * g;
        sy += w * P->y[i];
        sgy += w * g * P->y[i];
    }
    if (!(sw > 0))
        return HUGE_VAL;
    double det = sw * sgg - sg * sg;
    if (!isfinite(det) || det <= 1e-12 * sw * sgg) {
        p[1] = 0;
        p[0] = sy / sw;
    } else {
        p[1] = (sw * sgy - sg * sy) / det;
        p[0] = (sy - p[1] * sg) / sw;
    }
    double cost = 0;
    for (size_t i = 0; i < P->n; i++) {
        double r = P->y[i] - model_at(f, p, P->x[i]);
        cost += P->w[i] * r * r;
    }
    return isfinite(cost) ? cost : HUGE_VAL;
}

static double cost_of(enum curvefit_family f, const struct pts *P, const double *p)
{
    double cost = 0;
    for (size_t i = 0; i < P->n; i++) {
        double r = P->y[i] - model_at(f, p, P->x[i]);
        cost += P->w[i] * r * r;
    }
    return isfinite(cost) ? cost : HUGE_VAL;
}

/* The derivatives of the model at x by each parameter (theta by differences). */
static void gradient(enum curvefit_family f, const double *p, size_t np, double x, double *d)
{
    d[0] = 1;
    d[1] = shape(f, p + 2, x);
    for (size_t j = 2; j < np; j++) {
        double q[CURVEFIT_MAX_PARAMS];
        memcpy(q, p, sizeof q);
        double h = 1e-6 * (fabs(p[j]) > 1 ? fabs(p[j]) : 1);
        q[j] = p[j] + h;
        double up = model_at(f, q, x);
        q[j] = p[j] - h;
        double down = model_at(f, q, x);
        d[j] = (up - down) / (2 * h);
        if (!isfinite(d[j]))
            d[j] = 0;
    }
    if (!isfinite(d[1]))
        d[1] = 0;
}

/* Solve A z = b (n <= 4) by Gaussian elimination with pivoting; A is destroyed.
 * -1 when singular. */
static int solve(double A[CURVEFIT_MAX_PARAMS][CURVEFIT_MAX_PARAMS], double *b, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c]))
                piv = r;
        if (!(fabs(A[piv][c]) > 1e-300))
            return -1;
        if (piv != c) {
            for (size_t k = 0; k < n; k++) {
                double tmp = A[c][k];
                A[c][k] = A[piv][k];
                A[piv][k] = tmp;
            }
            double tmp = b[c];
            b[c] = b[piv];
            b[piv] = tmp;
        }
        for (size_t r = 0; r < n; r++) {
            if (r == c)
                continue;
            double m = A[r][c] / A[c][c];
            for (size_t k = c; k < n; k++)
                A[r][k] -= m * A[c][k];
            b[r] -= m * b[c];
        }
    }
    for (size_t c = 0; c < n; c++)
        b[c] /= A[c][c];
    return 0;
}

/* J^T W J and J^T W r at p. */
static void normal_eq(enum curvefit_family f, const struct pts *P, const double *p, size_t np,
                      double A[CURVEFIT_MAX_PARAMS][CURVEFIT_MAX_PARAMS], double *g)
{
    memset(A, 0, sizeof(double) * CURVEFIT_MAX_PARAMS * CURVEFIT_MAX_PARAMS);
    memset(g, 0, sizeof(double) * CURVEFIT_MAX_PARAMS);
    for (size_t i = 0; i < P->n; i++) {
        double d[CURVEFIT_MAX_PARAMS];
        gradient(f, p, np, P->x[i], d);
        double r = P->y[i] - model_at(f, p, P->x[i]), w = P->w[i];
        for (size_t j = 0; j < np; j++) {
            g[j] += w * d[j] * r;
            for (size_t k = 0; k < np; k++)
                A[j][k] += w * d[j] * d[k];
        }
    }
}

static void clamp_theta(enum curvefit_family f, double *p)
{
    const struct family_def *d = &families[f];
    for (size_t j = 0; j < d->ntheta; j++) {
        double lo = log(d->lo[j]), hi = log(d->hi[j]);
        if (p[2 + j] < lo)
            p[2 + j] = lo;
        if (p[2 + j] > hi)
            p[2 + j] = hi;
    }
}

/* Levenberg-Marquardt from p; returns the final cost. */
static double refine(enum curvefit_family f, const struct pts *P, double *p, size_t np)
{
    double cost = cost_of(f, P, p), lambda = 1e-3;
    for (int it = 0; it < MAX_ITER; it++) {
        double A[CURVEFIT_MAX_PARAMS][CURVEFIT_MAX_PARAMS], g[CURVEFIT_MAX_PARAMS];
        normal_eq(f, P, p, np, A, g);
        bool moved = false;
        while (lambda < 1e10) {
            double B[CURVEFIT_MAX_PARAMS][CURVEFIT_MAX_PARAMS], step[CURVEFIT_MAX_PARAMS];
            memcpy(B, A, sizeof B);
            memcpy(step, g, sizeof step);
            for (size_t j = 0; j < np; j++)
                B[j][j] += lambda * (A[j][j] > 1e-12 ? A[j][j] : 1e-12);
            if (solve(B, step, np) < 0) {
                lambda *= 10;
                continue;
            }
            double q[CURVEFIT_MAX_PARAMS];
            memcpy(q, p, sizeof q);
            for (size_t j = 0; j < np; j++)
                q[j] += step[j];
            clamp_theta(f, q);
            double c = cost_of(f, P, q);
            if (c < cost) {
                bool small = cost - c <= 1e-12 * (cost + 1e-300);
                memcpy(p, q, sizeof q);
                cost = c;
                lambda = lambda / 3 > 1e-9 ? lambda / 3 : 1e-9;
                moved = !small;
                break;
            }
            lambda *= 4;
        }
        if (!moved)
            break;
    }
    return cost;
}

int curvefit_fit(enum curvefit_family f, const double *t, const double *y, const double *w,
                 size_t n, struct curvefit_model *m)
{
    if (f >= CURVEFIT_NFAMILIES)
        return -1;
    struct pts P;
    gather(t, y, w, n, &P);
    size_t np = curvefit_nparams(f);
    if (P.n < np + 1)
        return -1;
    const struct family_def *d = &families[f];
    double best[CURVEFIT_MAX_PARAMS] = {0}, p[CURVEFIT_MAX_PARAMS] = {0};
    double bc = HUGE_VAL;
    size_t na = d->ntheta == 0 ? 1 : d->ntheta == 1 ? GRID_1D : GRID_2D_A;
    size_t nb = d->ntheta == 2 ? GRID_2D_B : 1;
    for (size_t i = 0; i < na; i++)
        for (size_t k = 0; k < nb; k++) {
            if (d->ntheta >= 1)
                p[2] =
                    log(d->lo[0]) + (log(d->hi[0]) - log(d->lo[0])) * (double)i / (double)(na - 1);
            if (d->ntheta == 2)
                p[3] =
                    log(d->lo[1]) + (log(d->hi[1]) - log(d->lo[1])) * (double)k / (double)(nb - 1);
            double c = solve_linear(f, &P, p);
            if (c < bc) {
                bc = c;
                memcpy(best, p, sizeof p);
            }
        }
    if (!isfinite(bc))
        return -1;
    double cost = d->ntheta ? refine(f, &P, best, np) : bc;
    /* Huber reweighting: a spike of a noisy curve should not bend the fit */
    double w0[MAX_POINTS];
    memcpy(w0, P.w, sizeof w0);
    for (int round = 0; round < ROBUST_ROUNDS && isfinite(cost); round++) {
        double r[MAX_POINTS], a[MAX_POINTS];
        for (size_t i = 0; i < P.n; i++) {
            r[i] = P.y[i] - model_at(f, best, P.x[i]);
            a[i] = fabs(r[i]);
        }
        double mad = 1.4826 * median_of(a, P.n);
        if (!(mad > 0))
            break;
        for (size_t i = 0; i < P.n; i++) {
            double h = fabs(r[i]) > HUBER * mad ? HUBER * mad / fabs(r[i]) : 1;
            P.w[i] = w0[i] * h;
        }
        cost = d->ntheta ? refine(f, &P, best, np) : solve_linear(f, &P, best);
    }
    if (!isfinite(cost))
        return -1;

    memset(m, 0, sizeof *m);
    m->family = f;
    memcpy(m->p, best, sizeof best);
    m->np = np;
    m->scale = P.scale;
    m->n = P.n;
    double sw = 0, sy = 0;
    for (size_t i = 0; i < P.n; i++) {
        sw += P.w[i];
        sy += P.w[i] * fabs(P.y[i]);
    }
    double floor_sd = 1e-6 * (sy / sw + 1e-9);
    m->s2 = cost / (double)(P.n - np);
    if (m->s2 < floor_sd * floor_sd)
        m->s2 = floor_sd * floor_sd;
    /* the criterion counts the noise as one more parameter */
    double k = (double)np + 1, nn = (double)P.n;
    double rss = cost / sw * nn;
    if (rss < nn * floor_sd * floor_sd)
        rss = nn * floor_sd * floor_sd;
    double denom = nn - k - 1 > 0.5 ? nn - k - 1 : 0.5;
    m->aicc = nn * log(rss / nn) + 2 * k + 2 * k * (k + 1) / denom;

    /* covariance s2 (J^T W J)^-1, column by column, with a small ridge */
    double A[CURVEFIT_MAX_PARAMS][CURVEFIT_MAX_PARAMS], g[CURVEFIT_MAX_PARAMS];
    normal_eq(f, &P, m->p, np, A, g);
    for (size_t j = 0; j < np; j++) {
        double B[CURVEFIT_MAX_PARAMS][CURVEFIT_MAX_PARAMS], e[CURVEFIT_MAX_PARAMS] = {0};
        memcpy(B, A, sizeof B);
        for (size_t q = 0; q < np; q++)
            B[q][q] += 1e-9 * (A[q][q] > 0 ? A[q][q] : 0) + 1e-12;
        e[j] = 1;
        if (solve(B, e, np) < 0)
            for (size_t q = 0; q < np; q++)
                e[q] = q == j ? 1e12 : 0;
        for (size_t q = 0; q < np; q++)
            m->cov[q][j] = m->s2 * e[q];
    }
    return 0;
}

int curvefit_predict(const double *t, const double *y, size_t n, double target,
                     struct curvefit_pred *out)
{
    struct curvefit_model m[CURVEFIT_NFAMILIES];
    double mu[CURVEFIT_NFAMILIES], var[CURVEFIT_NFAMILIES], w[CURVEFIT_NFAMILIES];
    size_t k = 0;
    double best_aicc = HUGE_VAL;
    for (int f = 0; f < CURVEFIT_NFAMILIES; f++) {
        if (!families[f].ensemble)
            continue;
        if (curvefit_fit((enum curvefit_family)f, t, y, NULL, n, &m[k]) < 0 || m[k].n < m[k].np + 2)
            continue; /* one degree of freedom says nothing of the noise */
        double x = target / m[k].scale, d[CURVEFIT_MAX_PARAMS];
        double at = model_at(m[k].family, m[k].p, x);
        gradient(m[k].family, m[k].p, m[k].np, x, d);
        double v = 0;
        for (size_t i = 0; i < m[k].np; i++)
            for (size_t j = 0; j < m[k].np; j++)
                v += d[i] * m[k].cov[i][j] * d[j];
        if (!isfinite(at) || !isfinite(v) || v < 0)
            continue;
        mu[k] = at;
        var[k] = v + m[k].s2;
        if (m[k].aicc < best_aicc)
            best_aicc = m[k].aicc;
        k++;
    }
    memset(out, 0, sizeof *out);
    if (k == 0)
        return -1;
    double sum = 0;
    for (size_t i = 0; i < k; i++) {
        w[i] = exp(-0.5 * (m[i].aicc - best_aicc) / TEMPER);
        sum += w[i];
    }
    for (size_t i = 0; i < k; i++)
        w[i] /= sum;
    double mean = 0;
    for (size_t i = 0; i < k; i++)
        mean += w[i] * mu[i];
    double v = 0;
    for (size_t i = 0; i < k; i++)
        v += w[i] * (var[i] + (mu[i] - mean) * (mu[i] - mean));
    out->mean = mean;
    out->sd = sqrt(v);
    out->n_models = k;
    return 0;
}
