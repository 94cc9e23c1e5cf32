/* test_ratelimit.c - token buckets per client address and the bounded table behind them. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "accel/ratelimit.h"

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(1234);
    cr_assert_eq(inet_pton(AF_INET, ip, &s->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof ss);
    s->sin6_family = AF_INET6;
    cr_assert_eq(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

Test(ratelimit, the_burst_goes_through_then_the_rate)
{
    struct ratelimit *r = ratelimit_new(2, 5, 100);
    struct sockaddr_storage a = v4("10.0.0.1");

    for (int i = 0; i < 5; i++)
        cr_assert_eq(ratelimit_take(r, SA(a), 100.0), 0, "request %d of the burst", i);
    cr_assert_eq(ratelimit_take(r, SA(a), 100.0), 1, "empty: one token comes in 0.5 s -> 1 s");
    cr_assert_eq(ratelimit_take(r, SA(a), 100.2), 1);
    cr_assert_eq(ratelimit_take(r, SA(a), 100.5), 0, "a token came back after 1/rate");
    cr_assert_neq(ratelimit_take(r, SA(a), 100.5), 0);
    /* a long pause refills up to the burst, no more */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ratelimit_take(r, SA(a), 1000.0), 0);
    cr_assert_neq(ratelimit_take(r, SA(a), 1000.0), 0);
    cr_assert_eq(ratelimit_count(r), 1);
    ratelimit_free(&r);
    cr_assert_null(r);
}

Test(ratelimit, retry_after_is_the_wait_for_one_token_rounded_up)
{
    struct ratelimit *r = ratelimit_new(0.1, 1, 10); /* one request every 10 s */
    struct sockaddr_storage a = v4("10.0.0.1");

    cr_assert_eq(ratelimit_take(r, SA(a), 0.0), 0);
    cr_assert_eq(ratelimit_take(r, SA(a), 0.0), 10);
    cr_assert_eq(ratelimit_take(r, SA(a), 2.5), 8, "7.5 s left, rounded up");
    cr_assert_eq(ratelimit_take(r, SA(a), 10.0), 0);
    ratelimit_free(&r);
}

Test(ratelimit, each_address_has_its_own_bucket)
{
    struct ratelimit *r = ratelimit_new(1, 1, 100);
    struct sockaddr_storage a = v4("10.0.0.1"), b = v4("10.0.0.2"), c = v6("2001:db8::1"),
                            d = v6("2001:db8::2"), mapped = v6("::ffff:10.0.0.1");

    cr_assert_eq(ratelimit_take(r, SA(a), 1.0), 0);
    cr_assert_neq(ratelimit_take(r, SA(a), 1.0), 0);
    cr_assert_eq(ratelimit_take(r, SA(b), 1.0), 0, "another address is not limited by the first");
    cr_assert_eq(ratelimit_take(r, SA(c), 1.0), 0);
    cr_assert_eq(ratelimit_take(r, SA(d), 1.0), 0);
    cr_assert_neq(ratelimit_take(r, SA(c), 1.0), 0);
    cr_assert_neq(ratelimit_take(r, SA(mapped), 1.0), 0,
                  "IPv4 mapped into IPv6 is the same client");
    cr_assert_eq(ratelimit_count(r), 4);
    ratelimit_free(&r);
}

Test(ratelimit, a_full_table_drops_the_least_recently_seen)
{
    struct ratelimit *r = ratelimit_new(1, 1, 3);
    struct sockaddr_storage a = v4("10.0.0.1"), b = v4("10.0.0.2"), c = v4("10.0.0.3"),
                            d = v4("10.0.0.4");

    cr_assert_eq(ratelimit_take(r, SA(a), 1.0), 0);
    cr_assert_eq(ratelimit_take(r, SA(b), 1.0), 0);
    cr_assert_eq(ratelimit_take(r, SA(c), 1.0), 0);
    cr_assert_neq(ratelimit_take(r, SA(a), 1.0), 0, "a is now the most recently seen");
    cr_assert_eq(ratelimit_take(r, SA(d), 1.0), 0, "d takes b's place");
    cr_assert_eq(ratelimit_count(r), 3);
    cr_assert_eq(ratelimit_dropped(r), 1);
    cr_assert_neq(ratelimit_take(r, SA(a), 1.0), 0, "a kept its empty bucket");
    cr_assert_neq(ratelimit_take(r, SA(c), 1.0), 0, "c kept its empty bucket");
    cr_assert_eq(ratelimit_take(r, SA(b), 1.0), 0, "b was dropped: a full bucket again");
    cr_assert_eq(ratelimit_dropped(r), 2, "b came back in d's place");
    cr_assert_eq(ratelimit_take(r, SA(d), 1.0), 0, "d was dropped");
    ratelimit_free(&r);
}

Test(ratelimit, many_addresses_stay_within_the_table)
{
    struct ratelimit *r = ratelimit_new(1, 2, 1000);
    char ip[32];

    for (unsigned i = 0; i < 50000; i++) {
        struct sockaddr_storage a;

        snprintf(ip, sizeof ip, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        a = v4(ip);
        cr_assert_eq(ratelimit_take(r, SA(a), 5.0), 0);
    }
    cr_assert_eq(ratelimit_count(r), 1000);
    cr_assert_eq(ratelimit_dropped(r), 49000);
    /* the last 1000 are there with one token used; take the second and then be refused */
    for (unsigned i = 49000; i < 50000; i++) {
        struct sockaddr_storage a;

        snprintf(ip, sizeof ip, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        a = v4(ip);
        cr_assert_eq(ratelimit_take(r, SA(a), 5.0), 0);
        cr_assert_neq(ratelimit_take(r, SA(a), 5.0), 0, "%s", ip);
    }
    cr_assert_eq(ratelimit_dropped(r), 49000);
    ratelimit_free(&r);
}

Test(ratelimit, other_families_are_not_limited)
{
    struct ratelimit *r = ratelimit_new(1, 1, 10);
    struct sockaddr_storage u;

    memset(&u, 0, sizeof u);
    u.ss_family = AF_UNIX;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ratelimit_take(r, SA(u), 1.0), 0);
    cr_assert_eq(ratelimit_count(r), 0);
    ratelimit_free(&r);
}
