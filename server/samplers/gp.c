#include <config.h>
#include "gp.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SQRT5       2.23606797749978969641
#define LOG_2PI     1.83787706640934548356
#define BASE_JITTER 1e-8

/* Hyperparameter boxes (log space; outputs are standardised, inputs in [0, 1]). */
#define LOG_LS_MIN  (-5.3) /* 0.005 */
#define LOG_LS_MAX  3.9    /* 50 */
#define LOG_SF2_MIN (-4.6)
#define LOG_SF2_MAX 4.6
#define LOG_SN2_MIN (-13.8) /* 1e-6 */
#define LOG_SN2_MAX 0.7

struct gp *gp_new(size_t d, size_t cap)
{
    return gp_new_targets(d, cap, 1);
}

struct gp *gp_new_targets(size_t d, size_t cap, size_t nt)
{
    struct gp *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (cap == 0)
        cap = 1;
    if (nt == 0)
        nt = 1;
    g->d = d;
    g->cap = cap;
    g->nt = nt;
    g->x = calloc(cap * (d ? d : 1), sizeof *g->x);
    g->y = calloc(cap * nt, sizeof *g->y);
    g->ls = calloc(d ? d : 1, sizeof *g->ls);
    g->chol = calloc(cap * cap, sizeof *g->chol);
    g->alpha = calloc(cap * nt, sizeof *g->alpha);
    if (!g->x || !g->y || !g->ls || !g->chol || !g->alpha) {
        gp_free(g);
        return NULL;
    }
    for (size_t j = 0; j < d; j++)
        g->ls[j] = 0.5;
    g->sf2 = 1.0;
    g->sn2 = 1e-4;
    return g;
}

void gp_free(struct gp *g)
{
    if (!g)
        return;
    free(g->x);
    free(g->y);
    free(g->ls);
    free(g->chol);
    free(g->alpha);
    free(g);
}

void gp_fit_defaults(struct gp_fit_opts *o, size_t d)
{
    o->starts = 3;
    o->max_iter = 60;
    o->max_points = 120;
    o->max_evals = 0;
    o->ls_mu = log(0.5) + 0.5 * log(d > 0 ? (double)d : 1.0);
    o->ls_sigma = 1.0;
    o->sn2_mu = log(1e-4);
    o->sn2_sigma = 2.0;
    o->ls_max = NULL;
}

int gp_set_data(struct gp *g, const double *x, const double *y, size_t n)
{
    if (n > g->cap)
        return -1;
    memcpy(g->x, x, n * g->d * sizeof *x);
    memcpy(g->y, y, n * sizeof *y);
    g->n = n;
    return 0;
}

int gp_set_target(struct gp *g, size_t t, const double *y)
{
    if (t >= g->nt)
        return -1;
    memcpy(g->y + t * g->cap, y, g->n * sizeof *y);
    return 0;
}

/* Matérn 5/2 value and the factor f with dk/dx_j = -f * (x_j - x'_j) / ls_j^2. */
static double matern(double r2, double sf2, double *f)
{
    double r = sqrt(r2 > 0 ? r2 : 0);
    double s = SQRT5 * r;
    double e = exp(-s);
    if (f)
        *f = sf2 * (5.0 / 3.0) * (1.0 + s) * e;
    return sf2 * (1.0 + s + (5.0 / 3.0) * r2) * e;
}

static double sqdist(const double *a, const double *b, const double *inv_l2, size_t d)
{
    double r2 = 0;
    for (size_t j = 0; j < d; j++) {
        double t = a[j] - b[j];
        r2 += t * t * inv_l2[j];
    }
    return r2;
}

/* Solve L v = b in place (L lower, column-major, leading dimension ld). */
static void solve_lower(const double *l, size_t ld, size_t n, double *b)
{
    for (size_t j = 0; j < n; j++) {
        b[j] /= l[j * ld + j];
        double bj = b[j];
        const double *col = l + j * ld;
        for (size_t i = j + 1; i < n; i++)
            b[i] -= col[i] * bj;
    }
}

/* Solve L^T v = b in place. */
static void solve_lower_t(const double *l, size_t ld, size_t n, double *b)
{
    for (size_t j = n; j-- > 0;) {
        const double *col = l + j * ld;
        double s = b[j];
        for (size_t i = j + 1; i < n; i++)
            s -= col[i] * b[i];
        b[j] = s / col[j];
    }
}

static void compute_alpha(struct gp *g)
{
    for (size_t t = 0; t < g->nt; t++) {
        double *a = g->alpha + t * g->cap;
        memcpy(a, g->y + t * g->cap, g->n * sizeof *a);
        solve_lower(g->chol, g->cap, g->n, a);
        solve_lower_t(g->chol, g->cap, g->n, a);
    }
}

int gp_refresh(struct gp *g)
{
    size_t n = g->n, d = g->d, ld = g->cap;
    double inv_l2[d ? d : 1];
    for (size_t j = 0; j < d; j++)
        inv_l2[j] = 1.0 / (g->ls[j] * g->ls[j]);
    if (n == 0)
        return 0;
    for (double jit = 0;; jit = jit == 0 ? 1e-8 * g->sf2 : jit * 10) {
        if (jit > 1e-1 * g->sf2)
            return -1;
        for (size_t a = 0; a < n; a++) {
            g->chol[a * ld + a] = g->sf2 + g->sn2 + BASE_JITTER + jit;
            for (size_t b = a + 1; b < n; b++)
                g->chol[a * ld + b] =
                    matern(sqdist(g->x + a * d, g->x + b * d, inv_l2, d), g->sf2, NULL);
        }
        if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, g->chol, (lapack_int)ld) == 0) {
            g->jitter = jit;
            break;
        }
    }
    compute_alpha(g);
    return 0;
}

int gp_add(struct gp *g, const double *x, double y)
{
    if (g->nt != 1)
        return -1;
    return gp_add_targets(g, x, &y);
}

int gp_add_targets(struct gp *g, const double *x, const double *y)
{
    size_t n = g->n, d = g->d, ld = g->cap;
    if (n >= g->cap)
        return -1;
    double inv_l2[d ? d : 1];
    for (size_t j = 0; j < d; j++)
        inv_l2[j] = 1.0 / (g->ls[j] * g->ls[j]);
    double *row = malloc((n ? n : 1) * sizeof *row);
    if (!row)
        return -1;
    for (size_t i = 0; i < n; i++)
        row[i] = matern(sqdist(x, g->x + i * d, inv_l2, d), g->sf2, NULL);
    solve_lower(g->chol, ld, n, row);
    double diag = g->sf2 + g->sn2 + BASE_JITTER + g->jitter;
    for (size_t i = 0; i < n; i++)
        diag -= row[i] * row[i];
    if (!(diag > 1e-10 * g->sf2))
        diag = 1e-10 * g->sf2;
    for (size_t i = 0; i < n; i++)
        g->chol[i * ld + n] = row[i];
    g->chol[n * ld + n] = sqrt(diag);
    memcpy(g->x + n * d, x, d * sizeof *x);
    for (size_t t = 0; t < g->nt; t++)
        g->y[t * ld + n] = y[t];
    g->n = n + 1;
    free(row);
    compute_alpha(g);
    return 0;
}

/* Candidates per block of gp_predict(): a block's right-hand sides lie side by
 * side (row i holds the i-th entry of each), so that the solve below runs over
 * contiguous rows of fixed length, two candidates per vector operation. */
#define PRED_BLOCK 64
typedef double pred_vec __attribute__((vector_size(2 * sizeof(double))));
#define PRED_VECS (PRED_BLOCK / 2)

/* Solve L V = B in place for the PRED_BLOCK columns of B, stored by rows
 * (b + i * PRED_VECS is row i); L lower, column-major, leading dimension ld.
 * Four rows at a time, so that each row already solved is read once per four
 * rows it updates. */
static void solve_lower_block(const double *l, size_t ld, size_t n, pred_vec *b)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        pred_vec *r0 = b + i * PRED_VECS, *r1 = r0 + PRED_VECS, *r2 = r1 + PRED_VECS,
                 *r3 = r2 + PRED_VECS;
        for (size_t j = 0; j < i; j++) {
            const pred_vec *bj = b + j * PRED_VECS;
            const double *lc = l + j * ld + i;
            double a0 = lc[0], a1 = lc[1], a2 = lc[2], a3 = lc[3];
            for (size_t c = 0; c < PRED_VECS; c++) {
                pred_vec v = bj[c];
                r0[c] -= a0 * v;
                r1[c] -= a1 * v;
                r2[c] -= a2 * v;
                r3[c] -= a3 * v;
            }
        }
        for (size_t r = 0; r < 4; r++) {
            pred_vec *br = b + (i + r) * PRED_VECS;
            for (size_t q = 0; q < r; q++) {
                const pred_vec *bq = b + (i + q) * PRED_VECS;
                double a = l[(i + q) * ld + i + r];
                for (size_t c = 0; c < PRED_VECS; c++)
                    br[c] -= a * bq[c];
            }
            double inv = 1.0 / l[(i + r) * ld + i + r];
            for (size_t c = 0; c < PRED_VECS; c++)
                br[c] *= inv;
        }
    }
    for (; i < n; i++) {
        pred_vec *br = b + i * PRED_VECS;
        for (size_t j = 0; j < i; j++) {
            const pred_vec *bj = b + j * PRED_VECS;
            double a = l[j * ld + i];
            for (size_t c = 0; c < PRED_VECS; c++)
                br[c] -= a * bj[c];
        }
        double inv = 1.0 / l[i * ld + i];
        for (size_t c = 0; c < PRED_VECS; c++)
            br[c] *= inv;
    }
}

void gp_top_indices(const double *v, size_t m, size_t *idx, size_t count)
{
    for (size_t c = 0; c < count; c++) {
        size_t best = (size_t)-1;
        for (size_t i = 0; i < m; i++) {
            bool used = false;
            for (size_t k = 0; k < c; k++)
                used = used || idx[k] == i;
            if (!used && (best == (size_t)-1 || v[i] > v[best]))
                best = i;
        }
        idx[c] = best;
    }
}

bool gp_near_point(const struct gp *g, const double *x, double dist)
{
    for (size_t i = 0; i < g->n; i++) {
        double r2 = 0;
        for (size_t j = 0; j < g->d && r2 < dist * dist; j++)
            r2 += (x[j] - g->x[i * g->d + j]) * (x[j] - g->x[i * g->d + j]);
        if (r2 < dist * dist)
            return true;
    }
    return false;
}

void gp_predict(const struct gp *g, const double *xs, size_t m, double *mean, double *var)
{
    size_t n = g->n, d = g->d;
    double inv_l2[d ? d : 1];
    for (size_t j = 0; j < d; j++)
        inv_l2[j] = 1.0 / (g->ls[j] * g->ls[j]);
    if (n == 0) {
        for (size_t c = 0; c < m; c++) {
            for (size_t t = 0; t < g->nt; t++)
                mean[t * m + c] = 0;
            var[c] = g->sf2;
        }
        return;
    }
    pred_vec *kv = malloc(n * PRED_VECS * sizeof *kv);
    double *ks = (double *)kv;
    for (size_t c0 = 0; c0 < m; c0 += PRED_BLOCK) {
        size_t cm = m - c0 < PRED_BLOCK ? m - c0 : PRED_BLOCK;
        if (!kv) {
            /* Out of memory: fall back to one point at a time. */
            double w[3 * n];
            for (size_t c = c0; c < c0 + cm; c++) {
                double sd;
                gp_predict_grad(g, xs + c * d, &mean[c], &sd, NULL, NULL, w);
                var[c] = sd * sd;
                for (size_t t = 1; t < g->nt; t++) {
                    mean[t * m + c] = 0;
                    for (size_t i = 0; i < n; i++)
                        mean[t * m + c] += w[i] * g->alpha[t * g->cap + i];
                }
            }
            continue;
        }
        for (size_t c = 0; c < PRED_BLOCK; c++) {
            if (c >= cm) {
                for (size_t i = 0; i < n; i++)
                    ks[i * PRED_BLOCK + c] = 0;
                continue;
            }
            const double *xc = xs + (c0 + c) * d;
            double mu = 0;
            for (size_t i = 0; i < n; i++) {
                double k = matern(sqdist(xc, g->x + i * d, inv_l2, d), g->sf2, NULL);
                ks[i * PRED_BLOCK + c] = k;
                mu += k * g->alpha[i];
            }
            mean[c0 + c] = mu;
            for (size_t t = 1; t < g->nt; t++) {
                const double *a = g->alpha + t * g->cap;
                mu = 0;
                for (size_t i = 0; i < n; i++)
                    mu += ks[i * PRED_BLOCK + c] * a[i];
                mean[t * m + c0 + c] = mu;
            }
        }
        solve_lower_block(g->chol, g->cap, n, kv);
        pred_vec s[PRED_VECS] = {0};
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < PRED_VECS; c++)
                s[c] += kv[i * PRED_VECS + c] * kv[i * PRED_VECS + c];
        for (size_t c = 0; c < cm; c++) {
            double v = g->sf2 - s[c / 2][c % 2];
            var[c0 + c] = v > 1e-12 * g->sf2 ? v : 1e-12 * g->sf2;
        }
    }
    free(kv);
}

void gp_predict_grad(const struct gp *g, const double *x, double *mean, double *sd, double *dmean,
                     double *dsd, double *work)
{
    size_t n = g->n, d = g->d;
    double inv_l2[d ? d : 1];
    for (size_t j = 0; j < d; j++)
        inv_l2[j] = 1.0 / (g->ls[j] * g->ls[j]);
    double *k = work, *v = work + n, *fac = work + 2 * n;
    double mu = 0;
    for (size_t i = 0; i < n; i++) {
        k[i] = matern(sqdist(x, g->x + i * d, inv_l2, d), g->sf2, &fac[i]);
        mu += k[i] * g->alpha[i];
    }
    memcpy(v, k, n * sizeof *v);
    solve_lower(g->chol, g->cap, n, v);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i] * v[i];
    double var = g->sf2 - s;
    if (!(var > 1e-12 * g->sf2))
        var = 1e-12 * g->sf2;
    *mean = mu;
    *sd = sqrt(var);
    if (!dmean && !dsd)
        return;
    solve_lower_t(g->chol, g->cap, n, v); /* v = K^-1 k */
    for (size_t j = 0; j < d; j++) {
        double gm = 0, gv = 0;
        for (size_t i = 0; i < n; i++) {
            double dk = -fac[i] * (x[j] - g->x[i * d + j]) * inv_l2[j];
            gm += dk * g->alpha[i];
            gv += dk * v[i];
        }
        if (dmean)
            dmean[j] = gm;
        if (dsd)
            dsd[j] = -2.0 * gv / (2.0 * *sd);
    }
}

/* ---- log expected improvement ---- */

static double norm_cdf(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}

static double norm_pdf(double z)
{
    return exp(-0.5 * z * z) / sqrt(2 * M_PI);
}

double gp_log_ei(double mu, double sd, double best, double *dmu, double *dsd)
{
    if (!(sd > 0))
        sd = 1e-300;
    double z = (best - mu) / sd;
    double lh = 0, phi_over_h = 0, cdf_over_h = 0;
    double h = 0;
    if (z > -5) {
        double pdf = norm_pdf(z), cdf = norm_cdf(z);
        h = pdf + z * cdf;
        if (h > 0) {
            lh = log(h);
            phi_over_h = pdf / h;
            cdf_over_h = cdf / h;
        }
    }
    if (!(h > 0)) {
        /* h(z) = phi(z) R(t) c(t) with t = -z, R the Mills ratio and c = 1/R - t,
         * the tail of R's continued fraction, which has no cancellation. */
        double t = -z, f = t;
        for (int k = 60; k >= 1; k--)
            f = t + (k + 1) / f;
        double c = 1.0 / f;
        lh = -0.5 * z * z - 0.5 * LOG_2PI + log(c) - log(t + c);
        phi_over_h = (t + c) / c;
        cdf_over_h = 1.0 / c;
    }
    if (dmu)
        *dmu = -cdf_over_h / sd;
    if (dsd)
        *dsd = phi_over_h / sd;
    return log(sd) + lh;
}

/* ---- output warping ---- */

static double boxcox(double z, double lambda)
{
    return fabs(lambda) < 1e-9 ? log(z) : (pow(z, lambda) - 1.0) / lambda;
}

void gp_warp_outputs(double *y, size_t n)
{
    if (n == 0)
        return;
    double lo = y[0], hi = y[0];
    for (size_t i = 1; i < n; i++) {
        lo = y[i] < lo ? y[i] : lo;
        hi = y[i] > hi ? y[i] : hi;
    }
    if (!(hi - lo > 1e-12 * (fabs(hi) + fabs(lo) + 1e-300))) {
        for (size_t i = 0; i < n; i++)
            y[i] = 0;
        return;
    }
    const double shift = 0.02;
    double range = hi - lo, sumlog = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = (y[i] - lo) / range + shift;
        sumlog += log(y[i]);
    }
    double best_lambda = 1, best_ll = -INFINITY;
    if (n >= 4) {
        for (int step = 0; step <= 15; step++) {
            double lambda = -0.5 + 0.1 * step, m = 0, v = 0;
            for (size_t i = 0; i < n; i++)
                m += boxcox(y[i], lambda);
            m /= (double)n;
            for (size_t i = 0; i < n; i++) {
                double t = boxcox(y[i], lambda) - m;
                v += t * t;
            }
            v /= (double)n;
            double ll = -0.5 * (double)n * log(v + 1e-300) + (lambda - 1) * sumlog;
            if (ll > best_ll) {
                best_ll = ll;
                best_lambda = lambda;
            }
        }
    }
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = boxcox(y[i], best_lambda);
        m += y[i];
    }
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        v += (y[i] - m) * (y[i] - m);
    v = sqrt(v / (double)n);
    for (size_t i = 0; i < n; i++)
        y[i] = v > 0 ? (y[i] - m) / v : 0;
}

/* ---- projected L-BFGS ---- */

#define LBFGS_M 8

static void project(size_t n, double *x, const double *lo, const double *hi)
{
    for (size_t i = 0; i < n; i++) {
        if (lo && x[i] < lo[i])
            x[i] = lo[i];
        if (hi && x[i] > hi[i])
            x[i] = hi[i];
    }
}

double gp_minimize(size_t n, double *x, const double *lo, const double *hi, gp_objective f,
                   void *ctx, int max_iter)
{
    double *buf = malloc((6 + 2 * LBFGS_M) * n * sizeof *buf);
    if (!buf)
        return f(x, NULL, ctx);
    double *g = buf, *dir = buf + n, *xn = buf + 2 * n, *gn = buf + 3 * n, *q = buf + 4 * n;
    double *sm = buf + 6 * n, *ym = sm + LBFGS_M * n;
    double rho[LBFGS_M], al[LBFGS_M];
    int mem = 0, head = 0;
    project(n, x, lo, hi);
    double fx = f(x, g, ctx);
    for (int it = 0; it < max_iter && isfinite(fx); it++) {
        /* Two-loop recursion for dir = -H g. */
        memcpy(q, g, n * sizeof *q);
        for (int k = 0; k < mem; k++) {
            int idx = (head - 1 - k + LBFGS_M) % LBFGS_M;
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += sm[idx * n + i] * q[i];
            al[idx] = rho[idx] * s;
            for (size_t i = 0; i < n; i++)
                q[i] -= al[idx] * ym[idx * n + i];
        }
        double gamma = 1.0;
        if (mem > 0) {
            int idx = (head - 1 + LBFGS_M) % LBFGS_M;
            double sy = 0, yy = 0;
            for (size_t i = 0; i < n; i++) {
                sy += sm[idx * n + i] * ym[idx * n + i];
                yy += ym[idx * n + i] * ym[idx * n + i];
            }
            gamma = sy / yy;
        } else {
            double gg = 0;
            for (size_t i = 0; i < n; i++)
                gg += g[i] * g[i];
            gamma = gg > 0 ? 0.1 / sqrt(gg) : 1.0;
            if (gamma > 1.0)
                gamma = 1.0;
        }
        for (size_t i = 0; i < n; i++)
            q[i] *= gamma;
        for (int k = mem - 1; k >= 0; k--) {
            int idx = (head - 1 - k + LBFGS_M) % LBFGS_M;
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += ym[idx * n + i] * q[i];
            double b = rho[idx] * s;
            for (size_t i = 0; i < n; i++)
                q[i] += sm[idx * n + i] * (al[idx] - b);
        }
        double gd = 0;
        for (size_t i = 0; i < n; i++) {
            dir[i] = -q[i];
            if ((lo && x[i] <= lo[i] && dir[i] < 0) || (hi && x[i] >= hi[i] && dir[i] > 0))
                dir[i] = 0;
            gd += dir[i] * g[i];
        }
        if (!(gd < 0)) {
            /* Not a descent direction: restart from the projected gradient. */
            mem = 0;
            gd = 0;
            for (size_t i = 0; i < n; i++) {
                dir[i] = -g[i];
                if ((lo && x[i] <= lo[i] && dir[i] < 0) || (hi && x[i] >= hi[i] && dir[i] > 0))
                    dir[i] = 0;
                gd += dir[i] * g[i];
            }
            if (!(gd < 0))
                break;
            double nd = sqrt(-gd);
            double scale = nd > 0.1 ? 0.1 / nd : 1.0;
            for (size_t i = 0; i < n; i++)
                dir[i] *= scale;
        }
        double t = 1.0, fn = fx;
        int ok = 0;
        for (int ls = 0; ls < 30; ls++, t *= 0.5) {
            double decrease = 0;
            for (size_t i = 0; i < n; i++)
                xn[i] = x[i] + t * dir[i];
            project(n, xn, lo, hi);
            for (size_t i = 0; i < n; i++)
                decrease += g[i] * (xn[i] - x[i]);
            fn = f(xn, gn, ctx);
            if (isfinite(fn) && fn <= fx + 1e-4 * decrease) {
                ok = 1;
                break;
            }
        }
        if (!ok)
            break;
        double sy = 0;
        int idx = head;
        for (size_t i = 0; i < n; i++) {
            sm[idx * n + i] = xn[i] - x[i];
            ym[idx * n + i] = gn[i] - g[i];
            sy += sm[idx * n + i] * ym[idx * n + i];
        }
        if (sy > 1e-12) {
            rho[idx] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (mem < LBFGS_M)
                mem++;
        }
        double change = fx - fn;
        memcpy(x, xn, n * sizeof *x);
        memcpy(g, gn, n * sizeof *g);
        fx = fn;
        if (change < 1e-9 * (1.0 + fabs(fx)))
            break;
    }
    free(buf);
    return fx;
}

/* ---- hyperparameter fitting ---- */

struct fit_ctx {
    size_t n, d, nt;
    const double *y;     /* nt * n: target t at y + t * n */
    const double *diff2; /* per pair a < b: d squared differences */
    double *k;           /* n * n work */
    double *kf;          /* per pair kernel value */
    double *fac;         /* per pair derivative factor */
    double *alpha;       /* nt * n */
    const struct gp_fit_opts *o;
    int evals; /* evaluations in this start */
};

static double fit_objective(const double *theta, double *grad, void *vctx)
{
    struct fit_ctx *c = vctx;
    size_t n = c->n, d = c->d, np = 0;
    if (c->o->max_evals > 0 && c->evals++ >= c->o->max_evals) {
        /* Out of budget: no step is accepted, so the optimiser stops. */
        if (grad)
            memset(grad, 0, (d + 2) * sizeof *grad);
        return INFINITY;
    }
    double inv_l2[d ? d : 1];
    for (size_t j = 0; j < d; j++)
        inv_l2[j] = exp(-2.0 * theta[j]);
    double sf2 = exp(theta[d]), sn2 = exp(theta[d + 1]);
    for (size_t a = 0; a < n; a++) {
        c->k[a * n + a] = sf2 + sn2 + BASE_JITTER;
        for (size_t b = a + 1; b < n; b++, np++) {
            double r2 = 0;
            const double *df = c->diff2 + np * d;
            for (size_t j = 0; j < d; j++)
                r2 += df[j] * inv_l2[j];
            c->kf[np] = matern(r2, sf2, &c->fac[np]);
            c->k[a * n + b] = c->kf[np];
        }
    }
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, c->k, (lapack_int)n) != 0) {
        if (grad)
            memset(grad, 0, (d + 2) * sizeof *grad);
        return INFINITY;
    }
    size_t nt = c->nt;
    memcpy(c->alpha, c->y, nt * n * sizeof *c->alpha);
    double nll = 0.5 * (double)(nt * n) * LOG_2PI;
    for (size_t t = 0; t < nt; t++) {
        solve_lower(c->k, n, n, c->alpha + t * n);
        solve_lower_t(c->k, n, n, c->alpha + t * n);
        for (size_t i = 0; i < n; i++)
            nll += 0.5 * c->y[t * n + i] * c->alpha[t * n + i];
    }
    for (size_t i = 0; i < n; i++)
        nll += (double)nt * log(c->k[i * n + i]);
    /* Priors (negative log densities up to constants). */
    const struct gp_fit_opts *o = c->o;
    for (size_t j = 0; j < d; j++) {
        double t = (theta[j] - o->ls_mu) / o->ls_sigma;
        nll += 0.5 * t * t;
    }
    double tsf = theta[d] / 1.5, tsn = (theta[d + 1] - o->sn2_mu) / o->sn2_sigma;
    nll += 0.5 * tsf * tsf + 0.5 * tsn * tsn;
    if (!grad)
        return nll;
    if (LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, c->k, (lapack_int)n) != 0) {
        memset(grad, 0, (d + 2) * sizeof *grad);
        return nll;
    }
    /* grad = 0.5 tr((nt K^-1 - sum over targets of alpha alpha^T) dK). */
    memset(grad, 0, (d + 2) * sizeof *grad);
    double gsf = 0, gsn = 0;
    np = 0;
    for (size_t a = 0; a < n; a++) {
        double waa = (double)nt * c->k[a * n + a];
        for (size_t t = 0; t < nt; t++)
            waa -= c->alpha[t * n + a] * c->alpha[t * n + a];
        gsf += 0.5 * waa * sf2;
        gsn += 0.5 * waa * sn2;
        for (size_t b = a + 1; b < n; b++, np++) {
            double w = (double)nt * c->k[a * n + b];
            for (size_t t = 0; t < nt; t++)
                w -= c->alpha[t * n + a] * c->alpha[t * n + b];
            gsf += w * c->kf[np];
            double wf = w * c->fac[np];
            const double *df = c->diff2 + np * d;
            for (size_t j = 0; j < d; j++)
                grad[j] += wf * df[j];
        }
    }
    for (size_t j = 0; j < d; j++)
        grad[j] = grad[j] * inv_l2[j] + (theta[j] - o->ls_mu) / (o->ls_sigma * o->ls_sigma);
    grad[d] = gsf + theta[d] / (1.5 * 1.5);
    grad[d + 1] = gsn + (theta[d + 1] - o->sn2_mu) / (o->sn2_sigma * o->sn2_sigma);
    return nll;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int gp_fit(struct gp *g, const struct gp_fit_opts *o, struct rng *r)
{
    size_t n = g->n, d = g->d, p = d + 2, nt = g->nt;
    if (n < 2)
        return gp_refresh(g);
    size_t m = o->max_points && n > o->max_points ? o->max_points : n;
    size_t *idx = malloc(n * sizeof *idx);
    double *ys = malloc(nt * m * sizeof *ys);
    double *diff2 = malloc((m * (m - 1) / 2) * (d ? d : 1) * sizeof *diff2);
    double *k = malloc(m * m * sizeof *k);
    double *kf = malloc((m * (m - 1) / 2 + 1) * sizeof *kf);
    double *fac = malloc((m * (m - 1) / 2 + 1) * sizeof *fac);
    double *alpha = malloc(nt * m * sizeof *alpha);
    double *theta = malloc(4 * p * sizeof *theta);
    double *lo = theta + 2 * p, *hi = theta + 3 * p;
    int rc = -1;
    if (!idx || !ys || !diff2 || !k || !kf || !fac || !alpha || !theta)
        goto out_free;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    if (m < n) {
        /* Keep the best quarter by target (each target in turn), fill the
         * rest at random. */
        size_t keep = m / 4;
        for (size_t a = 0; a < keep; a++) {
            const double *y = g->y + (a % nt) * g->cap;
            size_t bi = a;
            for (size_t b = a + 1; b < n; b++)
                if (y[idx[b]] < y[idx[bi]])
                    bi = b;
            size_t t = idx[a];
            idx[a] = idx[bi];
            idx[bi] = t;
        }
        for (size_t a = keep; a < m; a++) {
            size_t b = a + (size_t)rng_below(r, n - a);
            size_t t = idx[a];
            idx[a] = idx[b];
            idx[b] = t;
        }
    }
    size_t np = 0;
    for (size_t a = 0; a < m; a++) {
        for (size_t t = 0; t < nt; t++)
            ys[t * m + a] = g->y[t * g->cap + idx[a]];
        for (size_t b = a + 1; b < m; b++, np++)
            for (size_t j = 0; j < d; j++) {
                double t = g->x[idx[a] * d + j] - g->x[idx[b] * d + j];
                diff2[np * d + j] = t * t;
            }
    }
    struct fit_ctx c = {m, d, nt, ys, diff2, k, kf, fac, alpha, o, 0};
    for (size_t j = 0; j < d; j++) {
        lo[j] = LOG_LS_MIN;
        hi[j] = LOG_LS_MAX;
        if (o->ls_max && o->ls_max[j] > 0 && log(o->ls_max[j]) < hi[j])
            hi[j] = log(o->ls_max[j]) > lo[j] ? log(o->ls_max[j]) : lo[j];
    }
    lo[d] = LOG_SF2_MIN;
    hi[d] = LOG_SF2_MAX;
    lo[d + 1] = LOG_SN2_MIN;
    hi[d + 1] = LOG_SN2_MAX;
    double best = INFINITY;
    double *cur = theta + p;
    for (int s = 0; s < (o->starts > 0 ? o->starts : 1); s++) {
        for (size_t j = 0; j < d; j++)
            cur[j] = clampd(o->ls_mu + (s ? o->ls_sigma * rng_normal(r) : 0), lo[j], hi[j]);
        cur[d] = s ? clampd(0.5 * rng_normal(r), lo[d], hi[d]) : 0;
        cur[d + 1] =
            clampd(o->sn2_mu + (s ? o->sn2_sigma * rng_normal(r) : 0), lo[d + 1], hi[d + 1]);
        c.evals = 0;
        double v = gp_minimize(p, cur, lo, hi, fit_objective, &c, o->max_iter);
        if (v < best || s == 0) {
            best = v;
            memcpy(theta, cur, p * sizeof *theta);
        }
    }
    for (size_t j = 0; j < d; j++)
        g->ls[j] = exp(theta[j]);
    g->sf2 = exp(theta[d]);
    g->sn2 = exp(theta[d + 1]);
    rc = gp_refresh(g);
out_free:
    free(idx);
    free(ys);
    free(diff2);
    free(k);
    free(kf);
    free(fac);
    free(alpha);
    free(theta);
    return rc;
}
