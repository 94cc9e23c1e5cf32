/* test_stats.c - latency buckets, summing counter sets, the cached Date. */
#include <criterion/criterion.h>
#include <string.h>

#include "accel/stats.h"

Test(stats, histogram_buckets_by_upper_bound)
{
    static struct stats_hist h;

    stats_hist_observe(&h, 0.0001); /* <= 0.5 ms */
    stats_hist_observe(&h, 0.0005); /* on a bound: that bucket */
    stats_hist_observe(&h, 0.003);  /* <= 5 ms */
    stats_hist_observe(&h, 99);     /* past the last bound */
    stats_hist_observe(&h, -1);     /* a clock step back counts as 0 */
    cr_assert_eq(atomic_load(&h.b[0]), 3);
    cr_assert_eq(atomic_load(&h.b[3]), 1);
    cr_assert_eq(atomic_load(&h.b[STATS_HIST_N - 1]), 1);
    cr_assert_eq(atomic_load(&h.count), 5);
    cr_assert_eq(atomic_load(&h.sum_us), 100 + 500 + 3000 + 99000000);
}

Test(stats, sum_adds_every_set)
{
    static struct stats a, b;
    struct stats *each[] = {&a, &b};
    struct stats_totals t;

    atomic_store(&a.requests, 3);
    atomic_store(&b.requests, 4);
    atomic_store(&b.bytes_out, 10);
    stats_hist_observe(&a.request_time, 0.001);
    stats_hist_observe(&b.request_time, 0.001);
    stats_hist_observe(&b.origin_time, 1);
    stats_sum(each, 2, &t);
    cr_assert_eq(t.requests, 7);
    cr_assert_eq(t.bytes_out, 10);
    cr_assert_eq(t.req_count, 2);
    cr_assert_eq(t.req_b[1], 2);
    cr_assert_eq(t.org_count, 1);
    cr_assert_eq(t.org_sum_us, 1000000);
}

Test(stats, date_is_formatted_once_a_second)
{
    struct stats_date d = {0};
    const char *s = stats_date(&d, 1796239049);

    cr_assert_str_eq(s, "Wed, 02 Dec 2026 19:17:29 GMT");
    d.text[0] = 'X'; /* not formatted again within the same second */
    cr_assert_eq(stats_date(&d, 1796239049)[0], 'X');
    cr_assert_str_eq(stats_date(&d, 1796239050), "Wed, 02 Dec 2026 19:17:30 GMT");
}
