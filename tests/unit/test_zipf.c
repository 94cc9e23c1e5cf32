/* test_zipf.c - accel-bench's random numbers: xoshiro256** against reference outputs, unbiased
 * bounded draws, and the Zipf sampler against exact probabilities (chi-square goodness of fit),
 * at s = 1 and around it, for n = 1 and n = 10^9. Every test uses a fixed seed: the statistical
 * thresholds are chosen so that a correct sampler fails one with odds of about 1e-6. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zipf.h"

/* sum over k = 1..n of k^-s */
static double harmonic(uint64_t n, double s)
{
    double h = 0;

    for (uint64_t k = n; k >= 1; k--) /* smallest terms first */
        h += pow((double)k, -s);
    return h;
}

/* The same for large n: the first m - 1 terms summed, the rest by Euler-Maclaurin. */
static double harmonic_em(uint64_t n, double s)
{
    const double m = 1000, dn = (double)n;
    double h = harmonic((uint64_t)m - 1, s), integral;

    integral = s == 1 ? log(dn / m) : (pow(dn, 1 - s) - pow(m, 1 - s)) / (1 - s);
    h += integral + (pow(m, -s) + pow(dn, -s)) / 2 + s / 12 * (pow(m, -s - 1) - pow(dn, -s - 1)) -
         s * (s + 1) * (s + 2) / 720 * (pow(m, -s - 3) - pow(dn, -s - 3));
    return h;
}

/* The chi-square value that <dof> degrees of freedom exceed with probability 1e-6
 * (Wilson-Hilferty: within 0.5 of the exact 181.0 at 99 dof). */
static double chi2_critical(double dof)
{
    const double z = 4.753424; /* the standard normal's 1 - 1e-6 quantile */
    double a = 2 / (9 * dof), c = 1 - a + z * sqrt(a);

    return dof * c * c * c;
}

/* Whether <count> successes in <draws> tries are within 5 standard deviations of probability
 * <p> (a correct sampler fails with odds of 6e-7). */
static int within_5_sd(int count, int draws, double p)
{
    return fabs(count - draws * p) < 5 * sqrt(draws * p * (1 - p));
}

/* How many tries (uniform doubles) the last draw took: <before> is the generator before it. */
static int tries(struct rng before, const struct rng *after)
{
    for (int i = 1; i < 1000; i++) {
        rng_next(&before);
        if (memcmp(before.s, after->s, sizeof(before.s)) == 0)
            return i;
    }
    return -1;
}

Test(zipf, rng_reference_outputs)
{
    /* splitmix64 from 0, then xoshiro256** (Blackman and Vigna's reference code) */
    static const uint64_t state0[4] = {0xe220a8397b1dcdafu, 0x6e789e6aa1b965f4u,
                                       0x06c45d188009454fu, 0xf88bb8a8724c81ecu};
    static const uint64_t out0[4] = {0x99ec5f36cb75f2b4u, 0xbf6e1f784956452au, 0x1a5f849d4933e6e0u,
                                     0x6aa594f1262d2d2cu};
    static const uint64_t out42[3] = {0x15780b2e0c2ec716u, 0x6104d9866d113a7eu,
                                      0xae17533239e499a1u};
    struct rng r;

    rng_seed(&r, 0);
    cr_assert(memcmp(r.s, state0, sizeof(state0)) == 0, "splitmix64 seeding");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(rng_next(&r), out0[i], "seed 0, output %d", i);
    rng_seed(&r, 42);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(rng_next(&r), out42[i], "seed 42, output %d", i);
}

Test(zipf, deterministic_per_seed)
{
    struct rng a, b, c;
    struct zipf z;
    int differ = 0;

    cr_assert_eq(zipf_init(&z, 1000000, 0.99), 0);
    rng_seed(&a, 12345);
    rng_seed(&b, 12345);
    rng_seed(&c, 12346);
    for (int i = 0; i < 10000; i++) {
        uint64_t x = zipf_next(&z, &a);

        cr_assert_eq(x, zipf_next(&z, &b), "draw %d", i);
        differ += x != zipf_next(&z, &c);
    }
    cr_assert_gt(differ, 5000, "another seed, another sequence");
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(rng_next(&a), rng_next(&b));
}

Test(zipf, rng_double_range)
{
    struct rng r;
    double sum = 0;

    rng_seed(&r, 1);
    for (int i = 0; i < 1000000; i++) {
        double d = rng_double(&r);

        cr_assert(d >= 0 && d < 1, "%.17g", d);
        sum += d;
    }
    /* the mean of 10^6 uniforms: sd 2.9e-4 */
    cr_assert(fabs(sum / 1e6 - 0.5) < 0.0015, "mean %g", sum / 1e6);
}

Test(zipf, rng_below_range_and_bias)
{
    const uint64_t big = (uint64_t)3 << 62, quarter = (uint64_t)1 << 62;
    struct rng r;
    uint64_t counts[6] = {0}, low = 0;
    double chi2 = 0;

    rng_seed(&r, 2);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(rng_below(&r, 1), 0);
    for (int i = 0; i < 600000; i++) {
        uint64_t x = rng_below(&r, 6);

        cr_assert_lt(x, 6);
        counts[x]++;
    }
    for (int i = 0; i < 6; i++)
        chi2 += (counts[i] - 1e5) * (counts[i] - 1e5) / 1e5;
    cr_assert_lt(chi2, chi2_critical(5), "n = 6: chi2 %g", chi2);

    /* Modulo reduction of a 64-bit word would put half the draws under 2^62 for n = 3 * 2^62,
     * instead of a third. */
    for (int i = 0; i < 300000; i++) {
        uint64_t x = rng_below(&r, big);

        cr_assert_lt(x, big);
        low += x < quarter;
    }
    cr_assert(fabs((double)low / 300000 - 1.0 / 3) < 0.005, "%g under 2^62", (double)low / 300000);
    for (int i = 0; i < 1000; i++)
        cr_assert_lt(rng_below(&r, UINT64_MAX), UINT64_MAX);
}

Test(zipf, init_rejects)
{
    struct zipf z;

    cr_assert_eq(zipf_init(&z, 0, 1.0), -EINVAL, "n = 0");
    cr_assert_eq(zipf_init(&z, 10, 0), -EINVAL, "s = 0");
    cr_assert_eq(zipf_init(&z, 10, -0.5), -EINVAL, "s < 0");
    cr_assert_eq(zipf_init(&z, 10, NAN), -EINVAL, "s NaN");
    cr_assert_eq(zipf_init(&z, 10, INFINITY), -EINVAL, "s infinite");
    cr_assert_eq(zipf_init(&z, 1, 1.0), 0);
    cr_assert_eq(zipf_init(&z, UINT64_MAX, 1e-6), 0);
    cr_assert_eq(zipf_init(&z, 10, 50), 0);
}

Test(zipf, one_rank)
{
    static const double ss[] = {0.1, 0.99, 1.0, 1.01, 3.0};
    struct zipf z;
    struct rng r;

    rng_seed(&r, 4);
    for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++) {
        cr_assert_eq(zipf_init(&z, 1, ss[i]), 0);
        for (int j = 0; j < 10000; j++)
            cr_assert_eq(zipf_next(&z, &r), 0, "s = %g", ss[i]);
    }
}

/* 10^6 draws over 100 ranks against P(k) = (k + 1)^-s / H(100, s). */
Test(zipf, chi_square_n100)
{
    static const double ss[] = {0.5, 0.99, 1.0, 1.2, 1 - 1e-9, 1 + 1e-9, 1 - 1e-12, 0.05, 2.0};
    const uint64_t n = 100;
    const int draws = 1000000;
    double crit = chi2_critical((double)n - 1);

    cr_assert(crit > 180 && crit < 182, "critical value %g", crit);
    for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++) {
        uint64_t counts[100] = {0};
        double hn = harmonic(n, ss[i]), chi2 = 0;
        struct zipf z;
        struct rng r;

        cr_assert_eq(zipf_init(&z, n, ss[i]), 0);
        rng_seed(&r, 1000 + i);
        for (int j = 0; j < draws; j++) {
            uint64_t k = zipf_next(&z, &r);

            cr_assert_lt(k, n, "s = %g", ss[i]);
            counts[k]++;
        }
        for (uint64_t k = 0; k < n; k++) {
            double want = draws * pow((double)(k + 1), -ss[i]) / hn;

            chi2 += (counts[k] - want) * (counts[k] - want) / want;
        }
        cr_assert_lt(chi2, crit, "s = %.12g: chi2 %g over 99 dof (critical %g)", ss[i], chi2, crit);
    }
}

Test(zipf, rank0_frequency_n100000)
{
    const int draws = 1000000;
    struct zipf z;
    struct rng r;
    double want = 1 / harmonic(100000, 0.99);
    int top = 0;

    cr_assert_eq(zipf_init(&z, 100000, 0.99), 0);
    rng_seed(&r, 5);
    for (int i = 0; i < draws; i++) {
        uint64_t k = zipf_next(&z, &r);

        cr_assert_lt(k, 100000);
        top += k == 0;
    }
    cr_assert(fabs((double)top / draws / want - 1) < 0.02, "rank 0: %g, want %g",
              (double)top / draws, want);
}

/* n = 10^9: the head of the distribution against Euler-Maclaurin sums, and the number of tries a
 * draw takes (what makes it O(1)) measured. */
Test(zipf, billion_ranks)
{
    static const double ss[] = {0.6, 0.99, 1.0, 1.2};
    const uint64_t n = 1000000000;
    const int draws = 1000000;

    for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++) {
        double hn = harmonic_em(n, ss[i]), p0 = 1 / hn, p1000 = harmonic(1000, ss[i]) / hn;
        int top = 0, head = 0;
        uint64_t ntries = 0, maxk = 0;
        struct zipf z;
        struct rng r;

        cr_assert_eq(zipf_init(&z, n, ss[i]), 0);
        rng_seed(&r, 6 + i);
        for (int j = 0; j < draws; j++) {
            struct rng before = r;
            uint64_t k = zipf_next(&z, &r);
            int t = tries(before, &r);

            cr_assert_lt(k, n);
            cr_assert_gt(t, 0);
            ntries += (uint64_t)t;
            top += k == 0;
            head += k < 1000;
            if (k > maxk)
                maxk = k;
        }
        cr_assert(within_5_sd(top, draws, p0), "s = %g: rank 0 %g, want %g", ss[i],
                  (double)top / draws, p0);
        cr_assert(within_5_sd(head, draws, p1000), "s = %g: top 1000 %g, want %g", ss[i],
                  (double)head / draws, p1000);
        cr_assert_gt(maxk, n / 1000, "s = %g: the tail is reached (max rank %llu)", ss[i],
                     (unsigned long long)maxk);
        cr_assert_lt((double)ntries / draws, 1.1, "s = %g: %g tries a draw", ss[i],
                     (double)ntries / draws);
    }
}
