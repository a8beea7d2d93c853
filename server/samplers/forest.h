#ifndef FOREST_H
#define FOREST_H

#include <stddef.h>
#include <stdint.h>

/* A random-forest regressor on inputs in [-1, 1]^d and the functional ANOVA of
 * its trees (Hutter, Hoos and Leyton-Brown, "An Efficient Approach for Assessing
 * Hyperparameter Importance", ICML 2014): the share of the variance of each
 * tree's prediction over the input space that each single input explains.
 *
 * The inputs are meant to be a search space's unit coordinates (param_to_unit)
 * in [0, 1], with FOREST_MISSING for a value that is absent (an inactive
 * conditional parameter). For the variance, feature j's domain [-1, 1] carries
 * the measure w_missing[j] spread evenly over [-1, 0) (where the missing value
 * lies) and 1 - w_missing[j] spread evenly over [0, 1]: an absent value is one
 * more value of the parameter, as likely as it was in the data. A split that
 * separates absent values from present ones cuts at 0 exactly. */

#define FOREST_MISSING (-0.5)

/* Options of forest_fit(); forest_opts_defaults() fills them. */
struct forest_opts {
    int trees;       /* trees, each grown on a bootstrap sample */
    int max_depth;   /* depth limit (the root is depth 0) */
    size_t min_leaf; /* fewest samples in a leaf */
    uint64_t seed;   /* seeds the bootstrap samples: same seed, same forest */
};

/* One node of a tree: a split, or a leaf when feature is -1. */
struct forest_node {
    int feature;      /* split feature, -1 for a leaf */
    double threshold; /* x[feature] < threshold goes left */
    int left, right;  /* children (indices into the tree's nodes) */
    double value;     /* leaf: mean target of its samples */
};

struct forest_tree {
    struct forest_node *nodes; /* owned, node 0 is the root */
    size_t n;                  /* nodes */
    size_t cap;                /* nodes allocated */
};

struct forest {
    size_t d;                  /* input dimensions */
    size_t n_trees;            /* trees */
    struct forest_tree *trees; /* owned array of n_trees */
};

/* Defaults for n samples: 64 trees, depth 16, 1 sample per leaf below 64
 * samples and 3 from there. */
void forest_opts_defaults(struct forest_opts *o, size_t n);
/* Fit a forest on n samples x (n * d, row i at x + i * d, borrowed) with targets
 * y (borrowed). NULL when out of memory or n is 0. Free with forest_free(). */
struct forest *forest_fit(const double *x, const double *y, size_t n, size_t d,
                          const struct forest_opts *o);
/* Free a forest; accepts NULL. */
void forest_free(struct forest *f);
/* The forest's prediction (mean of the trees) at x (d entries). */
double forest_predict(const struct forest *f, const double *x);
/* The functional ANOVA: frac[j] (d entries) gets the mean over the trees whose
 * prediction varies of the fraction of that variance explained by feature j
 * alone (its main effect); the fractions of a tree sum to at most 1, the rest
 * being interactions. w_missing (d entries, borrowed) as above, NULL for none.
 * Returns the number of trees that vary (0: frac is all zero), or -1 when out
 * of memory. */
int forest_main_effects(const struct forest *f, const double *w_missing, double *frac);

#endif
