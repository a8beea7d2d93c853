#ifndef CURVEFIT_H
#define CURVEFIT_H

#include <stdbool.h>
#include <stddef.h>

/* Learning-curve extrapolation: parametric families fitted to a partial curve
 * by weighted least squares (Levenberg-Marquardt from the best point of a grid),
 * later points weighted more, and an ensemble of them that predicts the value at
 * a later step with an uncertainty. Pure functions; what the curve pruner uses.
 *
 * Every family has the form y = c + a * g(x; theta), x = step / scale, where
 * scale is the last fitted step, c and a free, theta positive. */

enum curvefit_family {
    CURVEFIT_POW3,      /* g = x^-alpha: power-law decay to an asymptote c */
    CURVEFIT_EXP3,      /* g = exp(-beta x): exponential approach to c */
    CURVEFIT_LOGPOWER,  /* g = 1 / (1 + (x / s)^b): a plateau, a drop, then c */
    CURVEFIT_JANOSCHEK, /* g = exp(-k x^d): a stretched exponential */
    CURVEFIT_LOGLIN,    /* g = log(x): steady improvement per doubling, no asymptote */
    CURVEFIT_NFAMILIES
};

#define CURVEFIT_MAX_PARAMS 4

/* One fitted family. */
struct curvefit_model {
    enum curvefit_family family;   /* which family */
    double p[CURVEFIT_MAX_PARAMS]; /* c, a, then log(theta) */
    size_t np;                     /* parameters of the family, 2 to 4 */
    double scale;                  /* steps are divided by this before g */
    double s2;                     /* residual variance (weighted, per unit weight) */
    double aicc;                   /* corrected Akaike criterion of the fit */
    double cov[CURVEFIT_MAX_PARAMS][CURVEFIT_MAX_PARAMS]; /* parameter covariance */
    size_t n;                                             /* points fitted */
};

/* The ensemble's prediction at one step. */
struct curvefit_pred {
    double mean;     /* weighted mean of the families' predictions */
    double sd;       /* uncertainty of one observation there: residual noise,
                        each fit's parameter uncertainty, the families' spread */
    size_t n_models; /* families that could be fitted */
};

/* The family's name as in messages ("pow3", "exp3", ...). */
const char *curvefit_name(enum curvefit_family f);

/* Number of parameters of family f. */
size_t curvefit_nparams(enum curvefit_family f);

/* Fit family f to the points (t[i], y[i]) of positive steps t, weights w (NULL:
 * the default weights, 0.1 + 0.9 (step / last step)^2: the tail says most of
 * where the curve ends); points whose step
 * or value is not finite, or step <= 0, are skipped. 0, or -1 when fewer usable
 * points than parameters + 1 remain or no fit was found. */
int curvefit_fit(enum curvefit_family f, const double *t, const double *y, const double *w,
                 size_t n, struct curvefit_model *m);

/* The fitted curve's value at step t (> 0). */
double curvefit_eval(const struct curvefit_model *m, double t);

/* Fit every family that the points allow and predict the value at step target.
 * 0, or -1 when no family could be fitted (fewer than 3 usable points). */
int curvefit_predict(const double *t, const double *y, size_t n, double target,
                     struct curvefit_pred *out);

#endif
