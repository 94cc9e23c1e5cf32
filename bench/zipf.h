/* zipf.h - deterministic random numbers for accel-bench: xoshiro256** and a Zipf(s) sampler
 * over ranks 0..n-1 (rank 0 the most popular) that draws in constant time, whatever n
 * (rejection-inversion, W. Hörmann and G. Derflinger, 1996), for any s > 0 (s = 1 included). */
#ifndef ACCEL_BENCH_ZIPF_H
#define ACCEL_BENCH_ZIPF_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

/* Seeds <r> from <seed> (splitmix64): the same seed gives the same sequence. */
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Uniform in [0, 1). */
double rng_double(struct rng *r);

struct zipf {
    uint64_t n;
    double s;
    /* rejection-inversion constants */
    double h_x1, h_n, c;
};

/* Prepares Zipf(<s>) over <n> ranks (n >= 1, s > 0 and finite). Returns 0, or -EINVAL. <z> then
 * holds constants only: threads may share it, each with its own struct rng. */
int zipf_init(struct zipf *z, uint64_t n, double s);

/* A rank in [0, n): P(k) proportional to 1 / (k + 1)^s. */
uint64_t zipf_next(const struct zipf *z, struct rng *r);

#endif
