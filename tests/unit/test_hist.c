/* test_hist.c - accel-bench's latency histogram: percentiles of known distributions, the
 * 1/HIST_SUB resolution over the whole range, merging, the ends of the range, the empty case. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "hist.h"
#include "zipf.h"

static struct hist h1, h2, h3; /* 42 KiB each: static, not on the stack */

Test(hist, empty)
{
    hist_init(&h1);
    cr_assert_eq(h1.n, 0);
    cr_assert_eq(h1.min, UINT64_MAX);
    cr_assert_eq(h1.max, 0);
    cr_assert_eq(hist_percentile(&h1, 0), 0);
    cr_assert_eq(hist_percentile(&h1, 50), 0);
    cr_assert_eq(hist_percentile(&h1, 100), 0);
    cr_assert_eq(hist_mean(&h1), 0);
}

/* 1 to 100000 microseconds, one of each: the percentiles are known. */
Test(hist, uniform_microseconds)
{
    static const struct {
        double p;
        uint64_t want;
    } t[] = {
        {50, 50000000}, {90, 90000000}, {99, 99000000}, {99.9, 99900000}, {1, 1000000},
    };

    hist_init(&h1);
    for (uint64_t us = 1; us <= 100000; us++)
        hist_add(&h1, us * 1000);
    cr_assert_eq(h1.n, 100000);
    cr_assert_eq(hist_percentile(&h1, 0), 1000, "p0 is min, exact");
    cr_assert_eq(hist_percentile(&h1, 100), 100000000, "p100 is max, exact");
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint64_t v = hist_percentile(&h1, t[i].p);

        /* the upper bound of the bucket: never below the true value, less than 1% above */
        cr_assert(v >= t[i].want && (double)v <= (double)t[i].want * 1.01, "p%g: %llu, want %llu",
                  t[i].p, (unsigned long long)v, (unsigned long long)t[i].want);
    }
    cr_assert_float_eq(hist_mean(&h1), 50000500.0, 1e-6);
}

/* Below 2^HIST_SUB_BITS every integer has its own bucket: percentiles are exact. */
Test(hist, small_values_exact)
{
    hist_init(&h1);
    for (uint64_t v = 1; v <= 100; v++)
        hist_add(&h1, v);
    for (int p = 1; p <= 100; p++)
        cr_assert_eq(hist_percentile(&h1, p), (uint64_t)p, "p%d", p);
    cr_assert_eq(hist_percentile(&h1, 0.5), 1, "rank ceil(0.5) = 1");
    cr_assert_eq(hist_percentile(&h1, 50.5), 51, "rank ceil(50.5) = 51");
}

Test(hist, zero)
{
    hist_init(&h1);
    hist_add(&h1, 0);
    hist_add(&h1, 0);
    cr_assert_eq(h1.min, 0);
    cr_assert_eq(hist_percentile(&h1, 0), 0);
    cr_assert_eq(hist_percentile(&h1, 50), 0, "clamped to max");
    cr_assert_eq(hist_percentile(&h1, 100), 0);
    cr_assert_eq(hist_mean(&h1), 0);
}

/* Any value in range reads back within 1/HIST_SUB above itself (but those of the last bucket,
 * which reads as max: see huge_values_in_last_bucket). */
Test(hist, resolution_over_the_range)
{
    const uint64_t last =
        ((uint64_t)1 << HIST_POW) - ((uint64_t)1 << (HIST_POW - 1 - HIST_SUB_BITS));
    struct rng r;

    rng_seed(&r, 7);
    for (int i = 0; i < 20000; i++) {
        unsigned e = (unsigned)rng_below(&r, HIST_POW);
        uint64_t v = ((uint64_t)1 << e) + rng_below(&r, (uint64_t)1 << e), got;

        if (v >= last)
            continue;

        hist_init(&h1);
        hist_add(&h1, v);
        hist_add(&h1, UINT64_MAX); /* so that max does not clamp v's bucket bound */
        got = hist_percentile(&h1, 50);
        cr_assert(got >= v && (double)(got - v) <= (double)v / HIST_SUB, "%llu read as %llu",
                  (unsigned long long)v, (unsigned long long)got);
    }
}

Test(hist, bucket_edges)
{
    hist_init(&h1);
    hist_add(&h1, (uint64_t)1 << 40);
    cr_assert_eq(h1.counts[40 * HIST_SUB], 1, "2^40 opens the last power");
    hist_add(&h1, ((uint64_t)1 << 41) - 1);
    cr_assert_eq(h1.counts[HIST_BUCKETS - 1], 1, "2^41 - 1 closes it");
    hist_add(&h1, 1);
    cr_assert_eq(h1.counts[0], 1);
    hist_add(&h1, 2);
    cr_assert_eq(h1.counts[HIST_SUB], 1);
    hist_add(&h1, 255);
    cr_assert_eq(h1.counts[7 * HIST_SUB + 127], 1);
    hist_add(&h1, 256);
    cr_assert_eq(h1.counts[8 * HIST_SUB], 1);
    hist_add(&h1, 257);
    cr_assert_eq(h1.counts[8 * HIST_SUB], 2, "steps of 2 from 256");
}

Test(hist, huge_values_in_last_bucket)
{
    static const uint64_t huge[] = {(uint64_t)1 << 41, (uint64_t)1 << 50, UINT64_MAX - 1,
                                    UINT64_MAX};

    hist_init(&h1);
    hist_add(&h1, 1000);
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
        hist_add(&h1, huge[i]);
    cr_assert_eq(h1.counts[HIST_BUCKETS - 1], 4);
    cr_assert_eq(h1.max, UINT64_MAX);
    cr_assert_eq(hist_percentile(&h1, 100), UINT64_MAX);
    cr_assert_eq(hist_percentile(&h1, 50), UINT64_MAX, "the last bucket reads as max");
    cr_assert_eq(hist_percentile(&h1, 20), 1003, "1000 is in [1000, 1004): steps of 4");

    hist_init(&h1);
    hist_add(&h1, (uint64_t)1 << 45);
    hist_add(&h1, (uint64_t)1 << 44);
    cr_assert_eq(hist_percentile(&h1, 50), (uint64_t)1 << 45, "clamped to max");
}

Test(hist, merge_equals_adding_all)
{
    struct rng r;

    hist_init(&h1);
    hist_init(&h2);
    hist_init(&h3);
    rng_seed(&r, 3);
    for (int i = 0; i < 100000; i++) {
        /* under 2^30 each, so that every sum is exact in a double whatever the order */
        uint64_t v = rng_below(&r, (uint64_t)1 << (1 + rng_below(&r, 30)));

        hist_add(i % 3 ? &h1 : &h2, v);
        hist_add(&h3, v);
    }
    hist_merge(&h1, &h2);
    cr_assert(memcmp(h1.counts, h3.counts, sizeof(h1.counts)) == 0);
    cr_assert_eq(h1.n, h3.n);
    cr_assert_eq(h1.min, h3.min);
    cr_assert_eq(h1.max, h3.max);
    cr_assert_eq(h1.sum, h3.sum);
    for (int p = 0; p <= 100; p++)
        cr_assert_eq(hist_percentile(&h1, p), hist_percentile(&h3, p), "p%d", p);
}

Test(hist, merge_with_empty)
{
    hist_init(&h1);
    hist_init(&h2);
    hist_add(&h1, 500);
    hist_add(&h1, 70);
    hist_merge(&h1, &h2);
    cr_assert_eq(h1.n, 2);
    cr_assert_eq(h1.min, 70, "an empty histogram's min does not leak in");
    cr_assert_eq(h1.max, 500);

    hist_merge(&h2, &h1);
    cr_assert_eq(h2.n, 2);
    cr_assert_eq(h2.min, 70);
    cr_assert_eq(h2.max, 500);
    cr_assert_eq(hist_percentile(&h2, 50), 70);
    cr_assert_float_eq(hist_mean(&h2), 285.0, 1e-9);
}

Test(hist, percentile_argument)
{
    hist_init(&h1);
    for (uint64_t v = 1; v <= 1000; v++)
        hist_add(&h1, v * 997);
    cr_assert_eq(hist_percentile(&h1, -1), 997, "below 0: min");
    cr_assert_eq(hist_percentile(&h1, 101), 997000, "past 100: max");
    for (double p = 0, prev = 0; p <= 100; p += 0.25) {
        double v = (double)hist_percentile(&h1, p);

        cr_assert(v >= prev, "not monotonic at p%g", p);
        prev = v;
    }
}
