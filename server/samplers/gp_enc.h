#ifndef GP_ENC_H
#define GP_ENC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "space.h"

/* The features Gaussian-process samplers (gp, mogp) model a configuration by,
 * in the unit cube: a number one feature (log scale through param_to_unit), a
 * categorical one feature per choice (one-hot), code none. An inactive
 * parameter's features are fixed (0.5, or all zero for one-hot). */

struct gp_enc {
    const struct space *s; /* borrowed */
    size_t nf;             /* features */
    size_t *off;           /* owned, per parameter: first feature */
    size_t *width;         /* owned, per parameter: number of features */
    bool *movable;         /* owned, per feature: continuous (refined by gradient) */
    bool plain;            /* floats only, no step, no conditions: canonical form is a clamp */
    double *u;             /* owned, per parameter scratch */
};

/* The features of space s (borrowed, must outlive e). 0 or -1 (out of memory;
 * release e all the same). */
int gp_enc_init(struct gp_enc *e, const struct space *s);
void gp_enc_release(struct gp_enc *e);
/* Features f (nf entries) of a configuration (borrowed); absent parameters get
 * the fixed values. */
void gp_enc_encode(const struct gp_enc *e, const json_t *config, double *f);
/* The configuration features f stand for. New reference. */
json_t *gp_enc_decode(const struct gp_enc *e, const double *f);
/* Replace f by the features of the configuration it decodes to. */
void gp_enc_canonical(const struct gp_enc *e, double *f);
/* Features from one unit coordinate per parameter (categorical: floor(u n)). */
void gp_enc_from_unit(const struct gp_enc *e, const double *u, double *f);
/* Length-scale bounds for gp_fit_opts.ls_max (nf entries): bound on one-hot
 * features, so that the choices of a categorical are modelled as nearly
 * independent; 0 (no bound) elsewhere. */
void gp_enc_ls_max(const struct gp_enc *e, double bound, double *ls_max);

#endif
