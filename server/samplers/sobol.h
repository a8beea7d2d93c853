#ifndef SOBOL_H
#define SOBOL_H

#include <stddef.h>
#include <stdint.h>

/* Scrambled Sobol' low-discrepancy sequence. Each dimension carries its own
 * random linear matrix scrambling and digital shift drawn from the seed, so the
 * points are a randomised quasi-Monte Carlo design: any seed gives a sequence
 * whose first 2^m points stratify every elementary interval of the unit cube,
 * and no point sits on the corner. Point i is computed directly from i. */

/* Dimensions covered by direction numbers; coordinates past this are seeded
 * uniform random numbers (still a pure function of seed, index and dimension). */
#define SOBOL_MAX_DIM 128
/* Indices at or above this repeat the sequence (wrapped modulo 2^32). */
#define SOBOL_MAX_INDEX (UINT64_C(1) << 32)

/* Write point index of the sequence scrambled by seed into out[0..dim-1], each
 * coordinate in (0, 1). Coordinate j depends only on (j, index, seed), so adding
 * dimensions leaves the earlier ones unchanged. */
void sobol_point(size_t dim, uint64_t index, uint64_t seed, double *out);

#endif
