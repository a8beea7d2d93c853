#ifndef PARETO_H
#define PARETO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pareto fronts of points with m objectives, every one minimised. Points are
 * rows of a row-major array: point i is y[i * m .. i * m + m - 1]. */

/* Objectives up to which pareto_hypervolume() is exact; beyond, a Monte Carlo
 * estimate. */
#define PARETO_EXACT_MAX 4
/* Samples of the Monte Carlo estimate: its relative standard error is about
 * sqrt((1 - p) / (p * PARETO_MC_SAMPLES)) for a dominated fraction p of the box. */
#define PARETO_MC_SAMPLES 200000

/* Whether a dominates b: no worse in every objective, better in one. */
bool pareto_dominates(const double *a, const double *b, size_t m);

/* Non-dominated sorting: rank[i] is 0 for the points no other point dominates,
 * 1 for those only rank-0 points dominate, and so on. Points with a NAN
 * objective get rank -1. Returns the number of fronts, or -1 when out of memory. */
int pareto_sort(const double *y, size_t n, size_t m, int *rank);

/* Crowding distance of each of n points of one front (NSGA-II): the sum over
 * objectives of the normalised gap between a point's neighbours; the extreme
 * points of every objective get INFINITY. */
void pareto_crowding(const double *y, size_t n, size_t m, double *dist);

/* Volume of the region dominated by the n points and bounded above by ref (m
 * entries); points that do not lie strictly below ref in every objective add
 * nothing. Exact for m <= PARETO_EXACT_MAX (a sweep for two objectives,
 * slicing along the last objective beyond); for more objectives a Monte Carlo
 * estimate with PARETO_MC_SAMPLES points seeded by seed. NAN when out of memory. */
double pareto_hypervolume(const double *y, size_t n, size_t m, const double *ref, uint64_t seed);

/* Greedy hypervolume subset selection of the n points of one front: order[0]
 * is the point with the largest hypervolume (against ref), each next one adds
 * the most hypervolume to those before it. Used to break ties within a front.
 * 0, or -1 when out of memory. */
int pareto_hv_order(const double *y, size_t n, size_t m, const double *ref, size_t *order);

#endif
