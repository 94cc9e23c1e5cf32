/* hist.c - latency histogram for accel-bench.
 *
 * Bucket layout: a value v >= 1 with e = floor(log2(v)) (0 <= e < HIST_POW) falls in power e,
 * and within it in linear step sub = (v - 2^e) * HIST_SUB / 2^e, so bucket e * HIST_SUB + sub
 * covers [2^e + sub * 2^e / HIST_SUB, 2^e + (sub + 1) * 2^e / HIST_SUB). Below 2^HIST_SUB_BITS a
 * step is narrower than 1 ns, so some of those buckets never receive a value: that costs a few
 * KiB and keeps one formula for every power. 0 shares bucket 0 with 1; values from 2^HIST_POW
 * up land in the last bucket, whose upper bound is UINT64_MAX (a percentile there reads as max).
 *
 * The struct is plain data owned by its caller; nothing here allocates or keeps state. */
#include "hist.h"

#include <math.h>
#include <string.h>

static unsigned log2_floor(uint64_t v)
{
    unsigned e = 0;

    while (v >>= 1)
        e++;
    return e;
}

static unsigned bucket_of(uint64_t v)
{
    unsigned e, sub;

    if (v == 0)
        return 0;
    e = log2_floor(v);
    if (e >= HIST_POW)
        return HIST_BUCKETS - 1;
    if (e >= HIST_SUB_BITS)
        sub = (unsigned)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
    else
        sub = (unsigned)((v << (HIST_SUB_BITS - e)) - HIST_SUB);
    return e * HIST_SUB + sub;
}

/* The smallest integer that falls in bucket <b> or after it: ceil((HIST_SUB + sub) * 2^e /
 * HIST_SUB). */
static uint64_t bucket_low(unsigned b)
{
    unsigned e = b / HIST_SUB, sub = b % HIST_SUB, sh;
    uint64_t m = HIST_SUB + sub;

    if (e >= HIST_SUB_BITS)
        return m << (e - HIST_SUB_BITS);
    sh = HIST_SUB_BITS - e;
    return (m + (1u << sh) - 1) >> sh;
}

/* The largest integer that falls in bucket <b> (or, for a bucket no integer falls in, in one
 * before it). */
static uint64_t bucket_high(unsigned b)
{
    if (b + 1 >= HIST_BUCKETS)
        return UINT64_MAX;
    return bucket_low(b + 1) - 1;
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void hist_add(struct hist *h, uint64_t ns)
{
    h->counts[bucket_of(ns)]++;
    h->n++;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
    h->sum += (double)ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->n += src->n;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->sum += src->sum;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    uint64_t rank, seen = 0;
    double r;

    if (h->n == 0)
        return 0;
    if (!(p > 0)) /* NaN too */
        return h->min;
    if (p >= 100)
        return h->max;
    /* p * n / 100 rather than p / 100 * n: exact for whole percents of round counts */
    r = ceil(p * (double)h->n / 100.0);
    rank = r < 1 ? 1 : r >= (double)h->n ? h->n : (uint64_t)r;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = bucket_high(i);

            return v < h->max ? v : h->max;
        }
    }
    return h->max; /* not reached while counts add up to n */
}

double hist_mean(const struct hist *h)
{
    return h->n == 0 ? 0 : h->sum / (double)h->n;
}
