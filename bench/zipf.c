/* zipf.c - random numbers for accel-bench.
 *
 * rng: xoshiro256** (D. Blackman and S. Vigna, 2018), 256 bits of state seeded by four outputs
 * of splitmix64, as its authors advise (splitmix64 never yields four zero words in a row from
 * one seed, so the state is never all zero).
 *
 * zipf: rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-inversion to generate
 * variates from monotone discrete distributions", ACM TOMACS 6(3), 1996), for ranks k = 1..n
 * with P(k) ~ h(k) = k^-s, returned as k - 1. The hat is the continuous density h(x) = x^-s;
 * a uniform u between H(1.5) - h(1) and H(n + 0.5) under its integral H is inverted to x, rounded
 * to the nearest k, and accepted when it falls under the histogram of the true probabilities.
 * A draw takes about one try whatever n (at most 1.02 on average, measured over s from 1e-6 to
 * 50 and n from 1 to 2^62): O(1).
 *
 * The paper's H(x) = x^(1-s) / (1-s) has no value at s = 1. As Apache Commons Math does, we use
 * H(x) = (x^(1-s) - 1) / (1-s), which tends to log(x) there, written with expm1 / log1p helpers
 * that switch to Taylor series near 0: no division by zero at s = 1, no cancellation near it.
 *
 * struct zipf holds only constants computed by zipf_init(): one may be shared by every thread,
 * each drawing with its own struct rng. */
#include "zipf.h"

#include <assert.h>
#include <errno.h>
#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
    /* 2^64 mod n: rejecting outputs under it leaves a multiple of n equally likely values */
    uint64_t lim = -n % n, x;

    assert(n > 0);
    do
        x = rng_next(r);
    while (x < lim);
    return x % n;
}

double rng_double(struct rng *r)
{
    /* the top 53 bits: every double of the form k * 2^-53, equally likely */
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* log1p(x) / x, and its limit 1 at 0. */
static double helper1(double x)
{
    if (fabs(x) > 1e-8)
        return log1p(x) / x;
    return 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

/* expm1(x) / x, and its limit 1 at 0. */
static double helper2(double x)
{
    if (fabs(x) > 1e-8)
        return expm1(x) / x;
    return 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x));
}

/* The hat: x^-s. */
static double h(double s, double x)
{
    return exp(-s * log(x));
}

/* Its integral from 1: H(x) = (x^(1-s) - 1) / (1-s), log(x) for s = 1. */
static double big_h(double s, double x)
{
    double lx = log(x);

    return helper2((1 - s) * lx) * lx;
}

/* The inverse of H. */
static double big_h_inv(double s, double y)
{
    double t = y * (1 - s);

    if (t < -1) /* only by rounding: H stays above -1 / (1-s) for s > 1 */
        t = -1;
    return exp(helper1(t) * y);
}

int zipf_init(struct zipf *z, uint64_t n, double s)
{
    if (n == 0 || !(s > 0) || !isfinite(s))
        return -EINVAL;
    z->n = n;
    z->s = s;
    z->h_x1 = big_h(s, 1.5) - 1; /* H(1.5) - h(1) */
    z->h_n = big_h(s, (double)n + 0.5);
    /* a draw whose x rounds to k and lies within c of k is accepted without evaluating H */
    z->c = 2 - big_h_inv(s, big_h(s, 2.5) - h(s, 2));
    return 0;
}

uint64_t zipf_next(const struct zipf *z, struct rng *r)
{
    for (;;) {
        /* u in (h_x1, h_n]: rng_double() is in [0, 1) */
        double u = z->h_n + rng_double(r) * (z->h_x1 - z->h_n);
        double x = big_h_inv(z->s, u), xr = x + 0.5;
        uint64_t k;

        if (!(xr >= 2)) /* NaN too */
            k = 1;
        else if (xr >= (double)z->n)
            k = z->n;
        else
            k = (uint64_t)xr;
        if (k > z->n) /* (double)n rounded up, for n past 2^53 */
            k = z->n;
        if ((double)k - x <= z->c || u >= big_h(z->s, (double)k + 0.5) - h(z->s, (double)k))
            return k - 1;
    }
}
