#include <config.h>
#include "contour.h"

#include <math.h>

/* Points closer than this to a grid point count as on it. */
#define ON_POINT 1e-12

void contour_idw(const struct contour_points *p, const double *gu, size_t nu, const double *gv,
                 size_t nv, double radius, double *z)
{
    double r2 = radius > 0 ? radius * radius : INFINITY;
    for (size_t j = 0; j < nv; j++) {
        for (size_t i = 0; i < nu; i++) {
            double wsum = 0, zsum = 0, near = INFINITY;
            double on_sum = 0;
            size_t on_n = 0;
            for (size_t k = 0; k < p->n; k++) {
                double du = p->u[k] - gu[i], dv = p->v[k] - gv[j];
                double d2 = du * du + dv * dv;
                if (d2 < near)
                    near = d2;
                if (d2 < ON_POINT) {
                    on_sum += p->z[k];
                    on_n++;
                    continue;
                }
                double w = 1.0 / d2; /* power 2 */
                wsum += w;
                zsum += w * p->z[k];
            }
            double out = NAN;
            if (on_n)
                out = on_sum / (double)on_n;
            else if (wsum > 0 && near <= r2)
                out = zsum / wsum;
            z[j * nu + i] = out;
        }
    }
}
