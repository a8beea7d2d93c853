#ifndef GP_H
#define GP_H

#include <stdbool.h>
#include <stddef.h>

#include "rng.h"

/* A Gaussian-process regression model for the gp sampler: Matérn 5/2 kernel with
 * one length scale per input dimension (ARD), a signal variance and a noise
 * variance, zero mean on standardised outputs. Inputs live in the unit cube.
 * Hyperparameters are fitted by maximising the log marginal likelihood plus
 * log-normal priors (L-BFGS with analytic gradients, several starts).
 *
 * A model may carry several targets on the same inputs (the objectives and
 * constraints of one study): they share the hyperparameters, fitted on the sum
 * of their log marginal likelihoods, and so one kernel factor and one
 * triangular solve per prediction serve all of them. */

struct gp {
    size_t d;      /* input dimensions */
    size_t n;      /* points in the model (observations, then fantasies) */
    size_t cap;    /* points allocated */
    size_t nt;     /* targets modelled on the same inputs and hyperparameters */
    double *x;     /* owned, cap * d, row i at x + i * d */
    double *y;     /* owned, nt * cap targets (standardised), target t at y + t * cap */
    double *ls;    /* owned, d length scales */
    double sf2;    /* signal variance */
    double sn2;    /* noise variance */
    double *chol;  /* owned, cap * cap, lower Cholesky factor of K + sn2 I (column-major) */
    double *alpha; /* owned, nt * cap: (K + sn2 I)^-1 y for each target, as y */
    double jitter; /* extra diagonal added when the factorisation needed it */
};

/* Options of gp_fit(); gp_fit_defaults() fills sensible values. */
struct gp_fit_opts {
    int starts;           /* optimiser starts: the prior mode, then draws from the prior */
    int max_iter;         /* L-BFGS iterations per start */
    int max_evals;        /* likelihood evaluations per start (line search included),
                             0 for no bound: a bound on the time a fit takes */
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
/* The same with nt targets (columns of y) sharing the hyperparameters. */
struct gp *gp_new_targets(size_t d, size_t cap, size_t nt);
/* Free a model; accepts NULL. */
void gp_free(struct gp *g);
/* Default fit options for d dimensions. */
void gp_fit_defaults(struct gp_fit_opts *o, size_t d);
/* Replace the data by n points x (n * d, borrowed) with targets y (borrowed)
 * of the first target; n <= cap. Does not factorise: call gp_fit() or
 * gp_refresh(). */
int gp_set_data(struct gp *g, const double *x, const double *y, size_t n);
/* Set target t of the current points to y (n entries, borrowed). 0 or -1. */
int gp_set_target(struct gp *g, size_t t, const double *y);
/* Fit the hyperparameters (rng seeds the extra starts), then factorise. 0 or -1.
 * With several targets, the hyperparameters maximise the sum of their
 * likelihoods. */
int gp_fit(struct gp *g, const struct gp_fit_opts *o, struct rng *r);
/* Factorise with the current hyperparameters (jitter added when needed). 0 or -1. */
int gp_refresh(struct gp *g);
/* Append one point with target y and update the factor in O(n^2); -1 when full
 * or when the model has several targets. */
int gp_add(struct gp *g, const double *x, double y);
/* The same with one value per target (y, nt entries, borrowed). */
int gp_add_targets(struct gp *g, const double *x, const double *y);
/* Indices of the count largest values of v (m >= count entries) into idx,
 * largest first, the earlier index first among equals (the candidates an
 * acquisition optimiser refines). */
void gp_top_indices(const double *v, size_t m, size_t *idx, size_t count);
/* Whether x (d entries) lies closer than dist to a point of the model (a
 * proposal there would repeat it). */
bool gp_near_point(const struct gp *g, const double *x, double dist);
/* Posterior mean and variance of the latent function at m points xs (m * d,
 * borrowed); mean has nt * m entries (target t's at mean + t * m), var m (the
 * same for every target). */
void gp_predict(const struct gp *g, const double *xs, size_t m, double *mean, double *var);
/* Mean (of the first target) and standard deviation at one point with their gradients (d entries
 * each; gradients may be NULL). work needs 3 * n doubles. */
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
