/* stats.c - latency histograms, summing the workers' counters, and the cached Date.
 *
 * The counters themselves are plain atomics in struct stats, bumped where things happen; this
 * file only knows how to bucket a latency, how to add sets up, and how to format a Date once a
 * second instead of once a response. */
#include "accel/stats.h"

#include <string.h>

#include "accel/http.h"

const double stats_hist_le[STATS_HIST_N - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void stats_hist_observe(struct stats_hist *h, double seconds)
{
    unsigned i = 0;

    if (seconds < 0)
        seconds = 0;
    while (i < STATS_HIST_N - 1 && seconds > stats_hist_le[i])
        i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void stats_sum(struct stats *const *each, unsigned n, struct stats_totals *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < n; i++) {
        struct stats *s = each[i];

#define STATS_SUM_FIELD(f, fam, lab, type, help)                                                   \
    t->f += atomic_load_explicit(&s->f, memory_order_relaxed);
        STATS_COUNTERS(STATS_SUM_FIELD)
#undef STATS_SUM_FIELD
        for (unsigned j = 0; j < STATS_HIST_N; j++) {
            t->req_b[j] += atomic_load_explicit(&s->request_time.b[j], memory_order_relaxed);
            t->org_b[j] += atomic_load_explicit(&s->origin_time.b[j], memory_order_relaxed);
        }
        t->req_sum_us += atomic_load_explicit(&s->request_time.sum_us, memory_order_relaxed);
        t->req_count += atomic_load_explicit(&s->request_time.count, memory_order_relaxed);
        t->org_sum_us += atomic_load_explicit(&s->origin_time.sum_us, memory_order_relaxed);
        t->org_count += atomic_load_explicit(&s->origin_time.count, memory_order_relaxed);
    }
}

const char *stats_date(struct stats_date *d, long now)
{
    if (now != d->sec || d->text[0] == '\0') {
        d->sec = now;
        http_date(now, d->text);
    }
    return d->text;
}
