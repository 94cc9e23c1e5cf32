/* test_balance.c - balancing an upstream's servers (round robin, least_conn, hash), backups,
 * max_conns, passive health (max_fails, fail_timeout), active checks (rise, fall), avoid, and
 * the counters of upstream_server_stats(). Upstreams come from conf_parse(), as in accel. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "accel/http.h"
#include "accel/key.h"
#include "accel/route.h"
#include "accel/upstream.h"

#define HEAD "listen 127.0.0.1:0\n"

static struct conf *parse(const char *text)
{
    struct conf *c = NULL;
    char err[512] = "";
    int rc = conf_parse("t.conf", text, strlen(text), &c, err, sizeof err);

    cr_assert_eq(rc, 0, "conf_parse: %d %s", rc, err);
    cr_assert_not_null(c);
    return c;
}

static const struct conf_upstream *up_named(const struct conf *c, const char *name)
{
    for (unsigned i = 0; i < c->n_upstreams; i++) {
        if (strcmp(c->upstreams[i].name, name) == 0)
            return &c->upstreams[i];
    }
    cr_assert_fail("no upstream %s", name);
    return NULL;
}

/* Picks and releases at once (OK) <n> times; counts[i] gets the picks of server i. */
static void pick_released(const struct conf_upstream *u, unsigned n, unsigned *counts)
{
    for (unsigned i = 0; i < n; i++) {
        const struct conf_server *s = upstream_pick(u, 0, NULL);

        cr_assert_not_null(s, "pick %u", i);
        counts[s->idx]++;
        upstream_release(u, s, UPSTREAM_OK, 0);
    }
}

static struct upstream_server_stats stats_of(const struct conf_upstream *u, unsigned i)
{
    struct upstream_server_stats st;

    memset(&st, 0xff, sizeof st);
    upstream_server_stats(u, &u->servers[i], &st);
    return st;
}

/* Feeds <n> active check results <ok> for server <i>. */
static void checks(const struct conf_upstream *u, unsigned i, int ok, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        upstream_check_result(u, &u->servers[i], ok);
}

/* --- round robin ------------------------------------------------------------------------------ */

Test(balance, round_robin_weights_3_to_1)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 weight=3\n"
                                " server 127.0.0.1:2\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    unsigned counts[2] = {0};

    cr_assert_eq(u->balance, CONF_BALANCE_RR, "round robin by default");
    pick_released(u, 40, counts);
    cr_assert_eq(counts[0], 30);
    cr_assert_eq(counts[1], 10);
    cr_assert_eq(stats_of(u, 0).requests, 30);
    cr_assert_eq(stats_of(u, 1).requests, 10);
    conf_free(&c);
}

Test(balance, round_robin_is_smooth)
{
    /* nginx's smooth weighted order for 5:1:1 is a a b a c a a, not a a a a a b c */
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 weight=5\n"
                                " server 127.0.0.1:2\n server 127.0.0.1:3\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    static const unsigned want[] = {0, 0, 1, 0, 2, 0, 0};

    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < countof(want); i++) {
            const struct conf_server *s = upstream_pick(u, 0, NULL);

            cr_assert_not_null(s);
            cr_assert_eq(s->idx, want[i], "round %u pick %u: server %u", round, i, s->idx);
            upstream_release(u, s, UPSTREAM_OK, 0);
        }
    }
    conf_free(&c);
}

Test(balance, round_robin_equal_weights_take_turns)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " server 127.0.0.1:3\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *held[9];

    /* held, not released: round robin does not look at connections */
    for (unsigned i = 0; i < 9; i++) {
        held[i] = upstream_pick(u, 0, NULL);
        cr_assert_not_null(held[i]);
        cr_assert_eq(held[i]->idx, i % 3, "pick %u: server %u", i, held[i]->idx);
    }
    for (unsigned i = 0; i < 3; i++)
        cr_assert_eq(stats_of(u, i).active, 3);
    for (unsigned i = 0; i < 9; i++)
        upstream_release(u, held[i], UPSTREAM_OK, 0);
    for (unsigned i = 0; i < 3; i++)
        cr_assert_eq(stats_of(u, i).active, 0);
    conf_free(&c);
}

Test(balance, round_robin_skips_an_unavailable_server)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 weight=3\n"
                                " server 127.0.0.1:2\n check fall=1 rise=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    unsigned counts[2] = {0};

    checks(u, 1, 0, 1);
    cr_assert_eq(stats_of(u, 1).check_down, 1);
    pick_released(u, 40, counts);
    cr_assert_eq(counts[0], 40, "b's turns go to a");
    cr_assert_eq(counts[1], 0);
    checks(u, 1, 1, 1);
    checks(u, 0, 0, 1);
    memset(counts, 0, sizeof counts);
    pick_released(u, 40, counts);
    cr_assert_eq(counts[0], 0);
    cr_assert_eq(counts[1], 40, "a's turns go to b");
    checks(u, 0, 1, 1);
    memset(counts, 0, sizeof counts);
    pick_released(u, 40, counts);
    cr_assert_eq(counts[0], 30, "both back: 3:1 again");
    cr_assert_eq(counts[1], 10);
    conf_free(&c);
}

/* --- max_conns -------------------------------------------------------------------------------- */

Test(balance, max_conns_caps_a_server)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_conns=1\n"
                                " server 127.0.0.1:2\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *held[6];
    unsigned counts[2] = {0};

    for (unsigned i = 0; i < 6; i++) {
        held[i] = upstream_pick(u, 0, NULL);
        cr_assert_not_null(held[i]);
        counts[held[i]->idx]++;
    }
    cr_assert_eq(counts[0], 1, "one connection at once to a");
    cr_assert_eq(counts[1], 5);
    cr_assert_eq(stats_of(u, 0).active, 1);
    cr_assert_eq(stats_of(u, 0).up, 1, "max_conns aside: it is up");
    /* a's connection ends: a takes requests again */
    for (unsigned i = 0; i < 6; i++) {
        if (held[i]->idx == 0)
            upstream_release(u, held[i], UPSTREAM_OK, 0);
    }
    {
        const struct conf_server *s1 = upstream_pick(u, 0, NULL);
        const struct conf_server *s2 = upstream_pick(u, 0, NULL);

        cr_assert((s1->idx == 0) != (s2->idx == 0), "exactly one of two picks is a");
        upstream_release(u, s1, UPSTREAM_OK, 0);
        upstream_release(u, s2, UPSTREAM_OK, 0);
    }
    for (unsigned i = 0; i < 6; i++) {
        if (held[i]->idx == 1)
            upstream_release(u, held[i], UPSTREAM_OK, 0);
    }
    conf_free(&c);
}

Test(balance, max_conns_everywhere_gives_null)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_conns=2\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *a = upstream_pick(u, 0, NULL), *b = upstream_pick(u, 0, NULL);

    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_null(upstream_pick(u, 0, NULL), "a third connection is over max_conns");
    cr_assert_eq(stats_of(u, 0).requests, 2, "a refused pick is not a request");
    upstream_release(u, a, UPSTREAM_OK, 0);
    a = upstream_pick(u, 0, NULL);
    cr_assert_not_null(a, "a connection was given back");
    upstream_release(u, a, UPSTREAM_OK, 0);
    upstream_release(u, b, UPSTREAM_OK, 0);
    conf_free(&c);
}

/* --- least_conn ------------------------------------------------------------------------------- */

Test(balance, least_conn_by_connections_per_weight)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 weight=2\n"
                                " server 127.0.0.1:2\n balance least_conn\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *held[6];

    cr_assert_eq(u->balance, CONF_BALANCE_LEAST_CONN);
    for (unsigned i = 0; i < 6; i++) {
        held[i] = upstream_pick(u, 0, NULL);
        cr_assert_not_null(held[i]);
    }
    cr_assert_eq(stats_of(u, 0).active, 4, "weight 2: twice the connections");
    cr_assert_eq(stats_of(u, 1).active, 2);
    for (unsigned i = 0; i < 6; i++)
        upstream_release(u, held[i], UPSTREAM_OK, 0);
    conf_free(&c);
}

Test(balance, least_conn_takes_the_idlest)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " server 127.0.0.1:3\n balance least_conn\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *held[3], *s;
    unsigned seen = 0;

    for (unsigned i = 0; i < 3; i++) {
        held[i] = upstream_pick(u, 0, NULL);
        cr_assert_not_null(held[i]);
        seen |= 1u << held[i]->idx;
    }
    cr_assert_eq(seen, 7u, "one request on each");
    /* the second server finishes: it is the only one with no request */
    for (unsigned round = 0; round < 5; round++) {
        for (unsigned i = 0; i < 3; i++) {
            if (held[i]->idx == 1) {
                upstream_release(u, held[i], UPSTREAM_OK, 0);
                s = upstream_pick(u, 0, NULL);
                cr_assert_not_null(s);
                cr_assert_eq(s->idx, 1, "round %u: got %u", round, s->idx);
                held[i] = s;
            }
        }
    }
    for (unsigned i = 0; i < 3; i++)
        upstream_release(u, held[i], UPSTREAM_OK, 0);
    conf_free(&c);
}

Test(balance, least_conn_spreads_ties)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " balance least_conn\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    unsigned counts[2] = {0};

    /* released every time: always a tie, which the rotating start breaks by turns */
    pick_released(u, 10, counts);
    cr_assert_eq(counts[0], 5);
    cr_assert_eq(counts[1], 5);
    conf_free(&c);
}

Test(balance, least_conn_respects_max_conns_and_health)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_conns=1\n"
                                " server 127.0.0.1:2 weight=100\n server 127.0.0.1:3\n"
                                " balance least_conn\n check fall=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *held[10];
    unsigned counts[3] = {0};

    checks(u, 2, 0, 1); /* the third is held down */
    for (unsigned i = 0; i < 10; i++) {
        held[i] = upstream_pick(u, 0, NULL);
        cr_assert_not_null(held[i]);
        counts[held[i]->idx]++;
    }
    cr_assert_eq(counts[0], 1, "max_conns=1");
    cr_assert_eq(counts[1], 9);
    cr_assert_eq(counts[2], 0, "held down by checks");
    for (unsigned i = 0; i < 10; i++)
        upstream_release(u, held[i], UPSTREAM_OK, 0);
    conf_free(&c);
}

/* --- hash ------------------------------------------------------------------------------------- */

static uint64_t hash_of(unsigned n)
{
    char path[32];

    snprintf(path, sizeof path, "/obj/%u", n);
    return route_hash(span_of("example.com", 11), span_of(path, strlen(path)));
}

/* The server for <hash>, released at once. */
static unsigned hash_pick(const struct conf_upstream *u, uint64_t hash,
                          const struct conf_server *avoid)
{
    const struct conf_server *s = upstream_pick(u, hash, avoid);

    cr_assert_not_null(s);
    upstream_release(u, s, UPSTREAM_OK, 0);
    return s->idx;
}

#define NKEYS 3000

Test(balance, hash_is_sticky_and_spreads)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " server 127.0.0.1:3\n balance hash\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    unsigned counts[3] = {0};

    cr_assert_eq(u->balance, CONF_BALANCE_HASH);
    for (unsigned n = 0; n < NKEYS; n++) {
        unsigned first = hash_pick(u, hash_of(n), NULL);

        counts[first]++;
        for (unsigned k = 0; k < 3; k++)
            cr_assert_eq(hash_pick(u, hash_of(n), NULL), first, "key %u moved", n);
    }
    for (unsigned i = 0; i < 3; i++)
        cr_assert(counts[i] > NKEYS / 6, "server %u has %u of %u keys", i, counts[i], NKEYS);
    /* the edges of the ring wrap around */
    cr_assert_lt(hash_pick(u, 0, NULL), 3);
    cr_assert_lt(hash_pick(u, UINT64_MAX, NULL), 3);
    conf_free(&c);
}

Test(balance, hash_follows_weights)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 weight=4\n"
                                " server 127.0.0.1:2\n balance hash\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    unsigned counts[2] = {0};

    for (unsigned n = 0; n < NKEYS; n++)
        counts[hash_pick(u, hash_of(n), NULL)]++;
    /* 80% on a, give or take the ring's unevenness */
    cr_assert(counts[0] > NKEYS * 6 / 10 && counts[0] < NKEYS * 95 / 100, "a has %u of %u",
              counts[0], NKEYS);
    conf_free(&c);
}

Test(balance, hash_moves_only_the_keys_of_a_server_taken_out)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " server 127.0.0.1:3\n balance hash\n check fall=1 rise=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    static unsigned before[NKEYS];
    unsigned moved_to[3] = {0};

    for (unsigned n = 0; n < NKEYS; n++)
        before[n] = hash_pick(u, hash_of(n), NULL);
    checks(u, 1, 0, 1);
    for (unsigned n = 0; n < NKEYS; n++) {
        unsigned now = hash_pick(u, hash_of(n), NULL);

        cr_assert_neq(now, 1, "key %u on a server held down", n);
        if (before[n] != 1)
            cr_assert_eq(now, before[n], "key %u moved from %u to %u", n, before[n], now);
        else
            moved_to[now]++;
    }
    cr_assert(moved_to[0] > 0 && moved_to[2] > 0, "its keys spread: %u %u", moved_to[0],
              moved_to[2]);
    checks(u, 1, 1, 1);
    for (unsigned n = 0; n < NKEYS; n++)
        cr_assert_eq(hash_pick(u, hash_of(n), NULL), before[n], "key %u after the return", n);
    conf_free(&c);
}

Test(balance, hash_avoid_takes_the_next_server)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " server 127.0.0.1:3\n balance hash\n}\n");
    const struct conf_upstream *u = up_named(c, "u");

    for (unsigned n = 0; n < 200; n++) {
        unsigned first = hash_pick(u, hash_of(n), NULL);
        unsigned other = hash_pick(u, hash_of(n), &u->servers[first]);

        cr_assert_neq(other, first, "key %u", n);
        cr_assert_eq(hash_pick(u, hash_of(n), &u->servers[first]), other, "the retry is sticky");
    }
    conf_free(&c);
}

/* --- backups ---------------------------------------------------------------------------------- */

Test(balance, backup_only_while_no_primary_is_available)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " server 127.0.0.1:3 backup\n check fall=1 rise=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    unsigned counts[3] = {0};

    cr_assert_eq(u->servers[2].backup, 1);
    pick_released(u, 20, counts);
    cr_assert_eq(counts[0], 10);
    cr_assert_eq(counts[1], 10);
    cr_assert_eq(counts[2], 0, "the backup waits");
    checks(u, 0, 0, 1);
    memset(counts, 0, sizeof counts);
    pick_released(u, 20, counts);
    cr_assert_eq(counts[1], 20, "one primary is left");
    cr_assert_eq(counts[2], 0);
    checks(u, 1, 0, 1);
    memset(counts, 0, sizeof counts);
    pick_released(u, 20, counts);
    cr_assert_eq(counts[2], 20, "no primary: the backup");
    checks(u, 2, 0, 1);
    cr_assert_null(upstream_pick(u, 0, NULL), "nothing is available");
    checks(u, 0, 1, 1);
    memset(counts, 0, sizeof counts);
    pick_released(u, 20, counts);
    cr_assert_eq(counts[0], 20, "a primary is back");
    conf_free(&c);
}

Test(balance, backup_when_primaries_are_full)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_conns=2\n"
                                " server 127.0.0.1:2 backup\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *s[3];

    for (unsigned i = 0; i < 3; i++) {
        s[i] = upstream_pick(u, 0, NULL);
        cr_assert_not_null(s[i]);
    }
    cr_assert_eq(s[0]->idx, 0);
    cr_assert_eq(s[1]->idx, 0);
    cr_assert_eq(s[2]->idx, 1, "the primary is at max_conns");
    for (unsigned i = 0; i < 3; i++)
        upstream_release(u, s[i], UPSTREAM_OK, 0);
    cr_assert_eq(hash_pick(u, 0, NULL), 0, "room again on the primary");
    conf_free(&c);
}

Test(balance, backups_balance_among_themselves)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n"
                                " server 127.0.0.1:2 backup weight=3\n"
                                " server 127.0.0.1:3 backup\n check fall=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    unsigned counts[3] = {0};

    checks(u, 0, 0, 1);
    pick_released(u, 40, counts);
    cr_assert_eq(counts[0], 0);
    cr_assert_eq(counts[1], 30);
    cr_assert_eq(counts[2], 10);
    conf_free(&c);
}

Test(balance, hash_uses_the_backups_ring)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n"
                                " server 127.0.0.1:2 backup\n server 127.0.0.1:3 backup\n"
                                " balance hash\n check fall=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    unsigned counts[3] = {0};

    for (unsigned n = 0; n < 500; n++)
        cr_assert_eq(hash_pick(u, hash_of(n), NULL), 0);
    checks(u, 0, 0, 1);
    for (unsigned n = 0; n < 500; n++) {
        unsigned i = hash_pick(u, hash_of(n), NULL);

        counts[i]++;
        cr_assert_eq(hash_pick(u, hash_of(n), NULL), i, "sticky among the backups");
    }
    cr_assert_eq(counts[0], 0);
    cr_assert(counts[1] > 0 && counts[2] > 0, "%u %u", counts[1], counts[2]);
    conf_free(&c);
}

/* --- avoid ------------------------------------------------------------------------------------ */

Test(balance, avoid_skips_one_server)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n}\n"
                                "upstream l {\n server 127.0.0.1:3\n balance least_conn\n}\n"
                                "upstream b {\n server 127.0.0.1:4\n server 127.0.0.1:5 backup\n}\n"
                                "upstream one {\n server 127.0.0.1:6\n}\n");
    const struct conf_upstream *u = up_named(c, "u"), *l = up_named(c, "l");
    const struct conf_upstream *b = up_named(c, "b"), *one = up_named(c, "one");

    for (unsigned i = 0; i < 10; i++) {
        cr_assert_eq(hash_pick(u, 0, &u->servers[0]), 1);
        cr_assert_eq(hash_pick(u, 0, &u->servers[1]), 0);
        cr_assert_eq(hash_pick(b, 0, &b->servers[0]), 1, "the backup stands in");
    }
    cr_assert_null(upstream_pick(l, 0, &l->servers[0]), "least_conn: nothing else");
    cr_assert_null(upstream_pick(one, 0, &one->servers[0]), "round robin: nothing else");
    cr_assert_eq(stats_of(one, 0).requests, 0);
    cr_assert_eq(hash_pick(one, 0, NULL), 0);
    conf_free(&c);
}

/* --- passive health --------------------------------------------------------------------------- */

Test(balance, max_fails_take_a_server_out_for_fail_timeout)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_fails=2 fail_timeout=150ms\n"
                                " server 127.0.0.1:2\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *a = &u->servers[0];
    struct upstream_server_stats st;
    unsigned counts[2] = {0};

    cr_assert_eq(a->max_fails, 2);
    cr_assert_eq(a->fail_timeout, 150);
    /* one failure, then a success: the count starts over */
    cr_assert_eq(hash_pick(u, 0, NULL), 0);
    upstream_release(u, upstream_pick(u, 0, &u->servers[1]), UPSTREAM_FAIL, 0);
    upstream_release(u, upstream_pick(u, 0, &u->servers[1]), UPSTREAM_OK, 0);
    upstream_release(u, upstream_pick(u, 0, &u->servers[1]), UPSTREAM_FAIL, 0);
    st = stats_of(u, 0);
    cr_assert_eq(st.up, 1);
    cr_assert_eq(st.failed_out, 0);
    cr_assert_eq(st.failures, 2);
    cr_assert_eq(st.downs, 0);
    /* neutral outcomes say nothing */
    for (unsigned i = 0; i < 5; i++)
        upstream_release(u, upstream_pick(u, 0, &u->servers[1]), UPSTREAM_NEUTRAL, 0);
    cr_assert_eq(stats_of(u, 0).up, 1);
    /* the second failure in a row */
    upstream_release(u, upstream_pick(u, 0, &u->servers[1]), UPSTREAM_FAIL, 0);
    st = stats_of(u, 0);
    cr_assert_eq(st.up, 0);
    cr_assert_eq(st.failed_out, 1);
    cr_assert_eq(st.check_down, 0);
    cr_assert_eq(st.failures, 3);
    cr_assert_eq(st.downs, 1);
    pick_released(u, 20, counts);
    cr_assert_eq(counts[0], 0, "out for failures");
    cr_assert_eq(counts[1], 20);
    cr_assert_null(upstream_pick(u, 0, &u->servers[1]), "the other is avoided: none left");
    usleep(250 * 1000);
    st = stats_of(u, 0);
    cr_assert_eq(st.up, 1, "fail_timeout has passed");
    cr_assert_eq(st.failed_out, 0);
    memset(counts, 0, sizeof counts);
    pick_released(u, 20, counts);
    cr_assert_eq(counts[0], 10);
    cr_assert_eq(counts[1], 10);
    conf_free(&c);
}

Test(balance, max_fails_zero_never_takes_out)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_fails=0\n"
                                " server 127.0.0.1:2\n}\n");
    const struct conf_upstream *u = up_named(c, "u");

    for (unsigned i = 0; i < 50; i++)
        upstream_release(u, upstream_pick(u, 0, &u->servers[1]), UPSTREAM_FAIL, 0.001);
    cr_assert_eq(stats_of(u, 0).up, 1);
    cr_assert_eq(stats_of(u, 0).failures, 50);
    cr_assert_eq(stats_of(u, 0).downs, 0);
    conf_free(&c);
}

Test(balance, a_lone_server_is_never_taken_out)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_fails=1 fail_timeout=1h\n"
                                "}\n");
    const struct conf_upstream *u = up_named(c, "u");
    struct upstream_server_stats st;

    for (unsigned i = 0; i < 10; i++) {
        const struct conf_server *s = upstream_pick(u, 0, NULL);

        cr_assert_not_null(s, "pick %u", i);
        upstream_release(u, s, UPSTREAM_FAIL, 0);
    }
    st = stats_of(u, 0);
    cr_assert_eq(st.up, 1);
    cr_assert_eq(st.failed_out, 0);
    cr_assert_eq(st.failures, 10);
    cr_assert_eq(st.downs, 0);
    conf_free(&c);
}

Test(balance, a_server_with_a_backup_is_not_alone)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_fails=1 fail_timeout=1h\n"
                                " server 127.0.0.1:2 backup\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *s = upstream_pick(u, 0, NULL);

    cr_assert_eq(s->idx, 0);
    upstream_release(u, s, UPSTREAM_FAIL, 0);
    cr_assert_eq(stats_of(u, 0).failed_out, 1);
    cr_assert_eq(hash_pick(u, 0, NULL), 1, "the backup takes over");
    conf_free(&c);
}

/* --- active checks ---------------------------------------------------------------------------- */

Test(balance, checks_fall_and_rise)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " check\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    struct upstream_server_stats st;
    unsigned counts[2] = {0};

    cr_assert_eq(u->check_fall, 3, "default fall");
    cr_assert_eq(u->check_rise, 2, "default rise");
    checks(u, 0, 0, 2);
    checks(u, 0, 1, 1); /* a good one in between starts the count over */
    checks(u, 0, 0, 2);
    st = stats_of(u, 0);
    cr_assert_eq(st.check_down, 0, "never 3 bad checks in a row");
    cr_assert_eq(st.up, 1);
    cr_assert_eq(st.checks, 5);
    cr_assert_eq(st.check_failures, 4);
    checks(u, 0, 0, 1);
    st = stats_of(u, 0);
    cr_assert_eq(st.check_down, 1, "the third in a row");
    cr_assert_eq(st.up, 0);
    cr_assert_eq(st.failed_out, 0);
    cr_assert_eq(st.downs, 1);
    pick_released(u, 10, counts);
    cr_assert_eq(counts[0], 0);
    checks(u, 0, 0, 5); /* more bad ones while down change nothing */
    checks(u, 0, 1, 1);
    checks(u, 0, 0, 1);
    checks(u, 0, 1, 1);
    cr_assert_eq(stats_of(u, 0).check_down, 1, "never 2 good checks in a row");
    checks(u, 0, 1, 1);
    st = stats_of(u, 0);
    cr_assert_eq(st.check_down, 0, "the second in a row");
    cr_assert_eq(st.up, 1);
    cr_assert_eq(st.downs, 1, "coming back is not a down");
    cr_assert_eq(st.checks, 15);
    cr_assert_eq(st.check_failures, 11);
    memset(counts, 0, sizeof counts);
    pick_released(u, 10, counts);
    cr_assert_eq(counts[0], 5);
    cr_assert_eq(counts[1], 5);
    cr_assert_eq(stats_of(u, 1).checks, 0, "the other server's counters are its own");
    conf_free(&c);
}

Test(balance, check_result_says_when_the_state_changed)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " check fall=2 rise=2\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *s = &u->servers[0];

    cr_assert_eq(upstream_check_result(u, s, 1), 0, "good while up: no change");
    cr_assert_eq(upstream_check_result(u, s, 0), 0, "the first bad one");
    cr_assert_eq(upstream_check_result(u, s, 0), -1, "the second takes it down");
    cr_assert_eq(upstream_check_result(u, s, 0), 0, "bad while down: no change");
    cr_assert_eq(upstream_check_result(u, s, 1), 0, "the first good one");
    cr_assert_eq(upstream_check_result(u, s, 1), 1, "the second brings it back");
    cr_assert_eq(upstream_check_result(u, s, 1), 0);
    cr_assert_eq(upstream_check_result(u, &u->servers[1], 0), 0, "each server its own count");
    conf_free(&c);
}

Test(balance, checks_hold_down_even_a_lone_server)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n check fall=1 rise=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");

    checks(u, 0, 0, 1);
    cr_assert_null(upstream_pick(u, 0, NULL), "a check holds it down");
    cr_assert_eq(stats_of(u, 0).up, 0);
    checks(u, 0, 1, 1);
    cr_assert_eq(hash_pick(u, 0, NULL), 0);
    conf_free(&c);
}

Test(balance, a_server_brought_back_by_checks_is_not_out_for_failures)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_fails=1 fail_timeout=1h\n"
                                " server 127.0.0.1:2\n check fall=1 rise=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");

    upstream_release(u, upstream_pick(u, 0, &u->servers[1]), UPSTREAM_FAIL, 0);
    cr_assert_eq(stats_of(u, 0).failed_out, 1);
    checks(u, 0, 0, 1);
    checks(u, 0, 1, 1);
    cr_assert_eq(stats_of(u, 0).up, 1, "the check saw it answer again");
    cr_assert_eq(stats_of(u, 0).failed_out, 0);
    cr_assert_eq(stats_of(u, 0).downs, 2, "out for failures, then down by check");
    cr_assert_eq(hash_pick(u, 0, &u->servers[1]), 0);
    conf_free(&c);
}

/* any non-zero <ok> is a good check */
Test(balance, check_ok_is_any_non_zero)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2\n"
                                " check fall=1 rise=1\n}\n");
    const struct conf_upstream *u = up_named(c, "u");

    checks(u, 0, 2, 1);
    cr_assert_eq(stats_of(u, 0).check_down, 0, "a good check does not take it down");
    cr_assert_eq(stats_of(u, 0).check_failures, 0);
    conf_free(&c);
}

/* --- counters --------------------------------------------------------------------------------- */

Test(balance, stats_count_requests_outcomes_and_latency)
{
    struct conf *c = parse(HEAD "upstream u {\n server 127.0.0.1:1 max_fails=0\n"
                                " server 127.0.0.1:2\n}\n");
    const struct conf_upstream *u = up_named(c, "u");
    const struct conf_server *a[4];
    struct upstream_server_stats st = stats_of(u, 0);

    cr_assert_eq(st.up, 1);
    cr_assert_eq(st.active + st.requests + st.failures + st.downs + st.latency_us + st.completed +
                     st.checks + st.check_failures,
                 0, "all zero at load");
    for (unsigned i = 0; i < 4; i++) {
        a[i] = upstream_pick(u, 0, &u->servers[1]);
        cr_assert_eq(a[i]->idx, 0);
    }
    cr_assert_eq(stats_of(u, 0).active, 4);
    cr_assert_eq(stats_of(u, 0).requests, 4);
    upstream_release(u, a[0], UPSTREAM_OK, 0.25);
    upstream_release(u, a[1], UPSTREAM_FAIL, 0.5);
    upstream_release(u, a[2], UPSTREAM_NEUTRAL, 2.0);
    st = stats_of(u, 0);
    cr_assert_eq(st.active, 1);
    cr_assert_eq(st.requests, 4);
    cr_assert_eq(st.completed, 2, "a neutral outcome is not a completed request");
    cr_assert_eq(st.failures, 1);
    cr_assert_eq(st.latency_us, 750000);
    upstream_release(u, a[3], UPSTREAM_OK, 0);
    st = stats_of(u, 0);
    cr_assert_eq(st.active, 0);
    cr_assert_eq(st.completed, 3);
    cr_assert_eq(st.latency_us, 750000);
    cr_assert_eq(stats_of(u, 1).requests, 0);
    conf_free(&c);
}
