#ifndef RNG_H
#define RNG_H

#include <stdint.h>

/* A small, fast, seeded generator (xoshiro256**): same seed, same stream. */
struct rng {
    uint64_t s[4]; /* state, never all zero */
};

/* Seed from one 64-bit value (expanded with splitmix64). */
void rng_seed(struct rng *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t rng_u64(struct rng *r);
/* Uniform double in [0, 1). */
double rng_uniform(struct rng *r);
/* Uniform integer in [0, n); n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Standard normal deviate. */
double rng_normal(struct rng *r);
/* Mix two values into a seed (for per-trial streams). */
uint64_t rng_mix(uint64_t a, uint64_t b);

#endif
