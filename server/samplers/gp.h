#ifndef GP_H
#define GP_H

#include <stdbool.h>
#include <stddef.h>

#include "rng.h"

/* A Gaussian-process regression model for the gp sampler: Matérn 5/2 kernel with
 * one length scale per input dimension (ARD), a signal variance and a noise
 * variance, zero mean on standardised outputs. Inputs live in the unit cube.
 * Hyperparameters are fitted by maximising the log marginal likelihood plus
 * log-normal priors (L-BFGS with analytic gradients, several starts). */

struct gp {
    size_t d;      /* input dimensions */
    size_t n;      /* points in the model (observations, then fantasies) */
    size_t cap;    /* points allocated */
    double *x;     /* owned, cap * d, row i at x + i * d */
    double *y;     /* owned, cap targets (standardised) */
    double *ls;    /* owned, d length scales */
    double sf2;    /* signal variance */
    double sn2;    /* noise variance */
    double *chol;  /* owned, cap * cap, lower Cholesky factor of K + sn2 I (column-major) */
    double *alpha; /* owned, cap: (K + sn2 I)^-1 y */
    double jitter; /* extra diagonal added when the factorisation needed it */
};

/* Options of gp_fit(); gp_fit_defaults() fills sensible values. */
struct gp_fit_opts {
    int starts;           /* optimiser starts: the prior mode, then draws from the prior */
    int max_iter;         /* L-BFGS iterations per start */
    size_t max_points;    /* fit hyperparameters on at most this many points (best ones
                             kept, the rest a random subset); 0 for all */
    double ls_mu;         /* prior mean of log length scale */
    double ls_sigma;      /* prior standard deviation of log length scale */
    double sn2_mu;        /* prior mean of log noise variance */
    double sn2_sigma;     /* prior standard deviation of log noise variance */
    const double *ls_max; /* borrowed, per dimension upper bound of the length scale
                             (e.g. short for one-hot features), or NULL */
};

/* A model for d-dimensional inputs with room for cap points; NULL when out of memory. */
struct gp *gp_new(size_t d, size_t cap);
/* Free a model; accepts NULL. */
void gp_free(struct gp *g);
/* Default fit options for d dimensions. */
void gp_fit_defaults(struct gp_fit_opts *o, size_t d);
/* Replace the data by n points x (n * d, borrowed) with targets y (borrowed);
 * n <= cap. Does not factorise: call gp_fit() or gp_refresh(). */
int gp_set_data(struct gp *g, const double *x, const double *y, size_t n);
/* Fit the hyperparameters (rng seeds the extra starts), then factorise. 0 or -1. */
int gp_fit(struct gp *g, const struct gp_fit_opts *o, struct rng *r);
/* Factorise with the current hyperparameters (jitter added when needed). 0 or -1. */
int gp_refresh(struct gp *g);
/* Append one point with target y and update the factor in O(n^2); -1 when full
 * or numerically singular (then the model is unchanged). */
int gp_add(struct gp *g, const double *x, double y);
/* Posterior mean and variance of the latent function at m points xs (m * d,
 * borrowed); mean and var have m entries. */
void gp_predict(const struct gp *g, const double *xs, size_t m, double *mean, double *var);
/* Mean and standard deviation at one point with their gradients (d entries each;
 * gradients may be NULL). work needs 3 * n doubles. */
void gp_predict_grad(const struct gp *g, const double *x, double *mean, double *sd, double *dmean,
                     double *dsd, double *work);

/* log EI for minimisation: log E[max(best - f, 0)] with f ~ N(mu, sd^2). Accurate
 * and finite even when EI itself underflows. When dmu/dsd are not NULL they
 * receive the derivatives with respect to mu and sd. */
double gp_log_ei(double mu, double sd, double best, double *dmu, double *dsd);

/* Warp targets in place for modelling: a Box-Cox transform of the shifted values
 * with the exponent chosen by likelihood (which tames heavy upper tails), then
 * standardise to mean 0 and variance 1. Order is preserved. */
void gp_warp_outputs(double *y, size_t n);

/* Objective for gp_minimize: value at x, gradient into grad (n entries). */
typedef double (*gp_objective)(const double *x, double *grad, void *ctx);
/* Minimise f over the box [lo, hi] (NULL for unbounded) from x (n entries,
 * updated in place) with a projected L-BFGS; returns the final value. */
double gp_minimize(size_t n, double *x, const double *lo, const double *hi, gp_objective f,
                   void *ctx, int max_iter);

#endif
