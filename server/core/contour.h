#ifndef CONTOUR_H
#define CONTOUR_H

#include <stddef.h>

/* The objective over two parameters, smoothed onto a grid for the page's
 * contour plot: inverse-distance weighting (Shepard's method, power 2) of the
 * trials' values in the unit square, each axis already mapped there by the
 * caller (log parameters in log space, a categorical one to the centres of
 * its bands). */

/* The points to smooth: n of them, coordinates in [0, 1]. All borrowed. */
struct contour_points {
    const double *u; /* first coordinate */
    const double *v; /* second coordinate */
    const double *z; /* values */
    size_t n;        /* entries */
};

/* Fill z[j * nu + i] with the smoothed value at (gu[i], gv[j]) for i < nu,
 * j < nv (z has nu * nv entries, caller's). A grid point on a trial takes
 * its value (the mean of the trials there); with no points every entry is NAN.
 * Cells more than radius (in the unit square) from every point are NAN, so
 * that the plot does not make up values far from any trial; radius <= 0
 * keeps them all. */
void contour_idw(const struct contour_points *p, const double *gu, size_t nu, const double *gv,
                 size_t nv, double radius, double *z);

#endif
