/* hist.h - a latency histogram for accel-bench: log-linear buckets (like HdrHistogram) from
 * 1 ns to about 2^40 ns (18 minutes), each power of two split into HIST_SUB linear steps, so a
 * percentile is exact to within 1/HIST_SUB (under 1%). Fixed size, no allocation: one per
 * thread, merged at the end. */
#ifndef ACCEL_BENCH_HIST_H
#define ACCEL_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7 /* 128 steps per power of two */
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_POW      41
#define HIST_BUCKETS  (HIST_POW * HIST_SUB)

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n, min, max; /* ns; min UINT64_MAX when empty */
    double sum;           /* ns */
};

void hist_init(struct hist *h);

/* Records one value of <ns> nanoseconds (0 shares the first bucket with 1; values from 2^HIST_POW
 * up land in the last bucket, which therefore reads as max). */
void hist_add(struct hist *h, uint64_t ns);

/* Adds <src>'s values to <dst>. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile <p> (0 to 100): the upper bound of the bucket holding the value of rank
 * ceil(p / 100 * n), never more than max; p <= 0 gives min and p >= 100 max, exactly. 0 when
 * empty. */
uint64_t hist_percentile(const struct hist *h, double p);

/* Mean in ns (0 when empty). */
double hist_mean(const struct hist *h);

#endif
