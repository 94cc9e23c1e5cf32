/* upstream.c - balancing an upstream's servers, their health and counters (see upstream.h).
 *
 * Round robin follows a schedule made at load: the smooth weighted order (nginx's), one entry
 * per unit of weight, so that weights 3:1 give a a b a, a a b a, ... and not a a a b. A shared
 * counter walks it; an unavailable server's turn goes to the next entry. Least connections
 * takes the server with the fewest requests at once per unit of weight, starting the scan at a
 * rotating place so that ties spread. Hashing places each server on a ring at 20 points per
 * unit of weight (key_hash_stable of "address#n") and a request on the first point at or after
 * its hash: taking a server out moves only its share of the keys. */
#include "accel/upstream.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accel/base.h"
#include "accel/conf.h"
#include "accel/key.h"

#define RING_POINTS 20 /* per unit of weight */

struct point {
    uint64_t h;
    unsigned srv;
};

struct server_rt {
    atomic_uint active;
    atomic_uint fails;       /* consecutive failures */
    atomic_ullong out_until; /* ms: out for failures until then */
    atomic_int check_down;   /* active checks hold it down */
    atomic_uint streak;      /* consecutive check results that disagree with its state */
    atomic_ullong requests, failures, downs, latency_us, completed, checks, check_failures;
};

/* One tier of servers: the primaries, or the backups. */
struct tier {
    unsigned *sched; /* round robin: server indexes */
    unsigned n_sched;
    struct point *ring; /* hash */
    unsigned n_ring;
    unsigned *members;
    unsigned n_members;
};

struct upstream_rt {
    atomic_uint next;
    struct tier tiers[2];
    struct server_rt *s;
};

uint64_t upstream_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int point_cmp(const void *a, const void *b)
{
    const struct point *x = a, *y = b;

    return x->h < y->h ? -1 : x->h > y->h ? 1 : (x->srv > y->srv) - (x->srv < y->srv);
}

static void tier_build(const struct conf_upstream *u, struct tier *t, unsigned backup)
{
    unsigned total = 0;
    long *cur;

    for (unsigned i = 0; i < u->n_servers; i++) {
        if (u->servers[i].backup != backup)
            continue;
        t->members = xrealloc(t->members, (t->n_members + 1) * sizeof(*t->members));
        t->members[t->n_members++] = i;
        total += u->servers[i].weight;
    }
    if (t->n_members == 0)
        return;
    /* smooth weighted round robin, played once around */
    cur = xcalloc(t->n_members, sizeof(*cur));
    t->sched = xmalloc(total * sizeof(*t->sched));
    for (unsigned k = 0; k < total; k++) {
        unsigned best = 0;

        for (unsigned m = 0; m < t->n_members; m++) {
            cur[m] += u->servers[t->members[m]].weight;
            if (cur[m] > cur[best])
                best = m;
        }
        cur[best] -= (long)total;
        t->sched[t->n_sched++] = t->members[best];
    }
    free(cur);
    if (u->balance != CONF_BALANCE_HASH)
        return;
    t->ring = xmalloc((size_t)total * RING_POINTS * sizeof(*t->ring));
    for (unsigned m = 0; m < t->n_members; m++) {
        const struct conf_server *s = &u->servers[t->members[m]];

        for (unsigned k = 0; k < s->weight * RING_POINTS; k++) {
            char name[128];
            int n = snprintf(name, sizeof name, "%s#%u", s->addr.text, k);

            t->ring[t->n_ring++] = (struct point){key_hash_stable(name, (size_t)n), s->idx};
        }
    }
    qsort(t->ring, t->n_ring, sizeof(*t->ring), point_cmp);
}

void upstream_prepare(struct conf_upstream *u)
{
    struct upstream_rt *rt = xcalloc(1, sizeof(*rt));

    AZ(u->rt);
    rt->s = xcalloc(u->n_servers, sizeof(*rt->s));
    for (unsigned i = 0; i < u->n_servers; i++) {
        atomic_init(&rt->s[i].active, 0);
        atomic_init(&rt->s[i].check_down, 0);
    }
    tier_build(u, &rt->tiers[0], 0);
    tier_build(u, &rt->tiers[1], 1);
    u->rt = rt;
}

void upstream_unprepare(struct conf_upstream *u)
{
    struct upstream_rt *rt = u->rt;

    if (rt == NULL)
        return;
    for (unsigned t = 0; t < 2; t++) {
        free(rt->tiers[t].sched);
        free(rt->tiers[t].ring);
        free(rt->tiers[t].members);
    }
    free(rt->s);
    free(rt);
    u->rt = NULL;
}

/* Not held down by checks nor out for failures. */
static int healthy(const struct conf_upstream *u, unsigned i, uint64_t now)
{
    struct server_rt *s = &u->rt->s[i];

    if (atomic_load_explicit(&s->check_down, memory_order_relaxed))
        return 0;
    return u->n_servers == 1 || atomic_load_explicit(&s->out_until, memory_order_relaxed) <= now;
}

/* Healthy, not <avoid>, and a connection to spare: then counts one more on it. */
static int take(const struct conf_upstream *u, unsigned i, uint64_t now,
                const struct conf_server *avoid)
{
    const struct conf_server *srv = &u->servers[i];
    struct server_rt *s = &u->rt->s[i];
    unsigned a;

    if (srv == avoid || !healthy(u, i, now))
        return 0;
    a = atomic_load_explicit(&s->active, memory_order_relaxed);
    do {
        if (srv->max_conns != 0 && a >= srv->max_conns)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&s->active, &a, a + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return 1;
}

static int pick_rr(const struct conf_upstream *u, const struct tier *t, unsigned start,
                   uint64_t now, const struct conf_server *avoid)
{
    for (unsigned k = 0; k < t->n_sched; k++) {
        unsigned i = t->sched[(start + k) % t->n_sched];

        if (take(u, i, now, avoid))
            return (int)i;
    }
    return -1;
}

static int pick_least(const struct conf_upstream *u, const struct tier *t, unsigned start,
                      uint64_t now, const struct conf_server *avoid)
{
    /* a few rounds: another worker may take the best one between the scan and the take */
    for (int round = 0; round < 4; round++) {
        int best = -1;
        unsigned best_a = 0;

        for (unsigned k = 0; k < t->n_members; k++) {
            unsigned i = t->members[(start + k) % t->n_members];
            const struct conf_server *srv = &u->servers[i];
            unsigned a = atomic_load_explicit(&u->rt->s[i].active, memory_order_relaxed);

            if (srv == avoid || !healthy(u, i, now) || (srv->max_conns != 0 && a >= srv->max_conns))
                continue;
            /* a / w < best_a / best_w */
            if (best < 0 ||
                (uint64_t)a * u->servers[best].weight < (uint64_t)best_a * srv->weight) {
                best = (int)i;
                best_a = a;
            }
        }
        if (best < 0)
            return -1;
        if (take(u, (unsigned)best, now, avoid))
            return best;
    }
    return pick_rr(u, t, start, now, avoid);
}

static int pick_hash(const struct conf_upstream *u, const struct tier *t, uint64_t hash,
                     uint64_t now, const struct conf_server *avoid)
{
    unsigned lo = 0, hi = t->n_ring;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;

        if (t->ring[mid].h < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (unsigned k = 0; k < t->n_ring; k++) {
        unsigned i = t->ring[(lo + k) % t->n_ring].srv;

        if (take(u, i, now, avoid))
            return (int)i;
    }
    return -1;
}

const struct conf_server *upstream_pick(const struct conf_upstream *u, uint64_t hash,
                                        const struct conf_server *avoid)
{
    struct upstream_rt *rt = u->rt;
    uint64_t now = upstream_now_ms();
    unsigned start = atomic_fetch_add_explicit(&rt->next, 1, memory_order_relaxed);

    for (unsigned t = 0; t < 2; t++) {
        const struct tier *tr = &rt->tiers[t];
        int i;

        if (tr->n_members == 0)
            continue;
        switch (u->balance) {
        case CONF_BALANCE_LEAST_CONN:
            i = pick_least(u, tr, start, now, avoid);
            break;
        case CONF_BALANCE_HASH:
            i = pick_hash(u, tr, hash, now, avoid);
            break;
        default:
            i = pick_rr(u, tr, start, now, avoid);
            break;
        }
        if (i >= 0) {
            atomic_fetch_add_explicit(&rt->s[i].requests, 1, memory_order_relaxed);
            return &u->servers[i];
        }
    }
    return NULL;
}

void upstream_release(const struct conf_upstream *u, const struct conf_server *srv,
                      enum upstream_outcome outcome, double seconds)
{
    struct server_rt *s = &u->rt->s[srv->idx];

    AN(srv == &u->servers[srv->idx]);
    AN(atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed) > 0);
    if (outcome == UPSTREAM_NEUTRAL)
        return;
    atomic_fetch_add_explicit(&s->completed, 1, memory_order_relaxed);
    if (seconds > 0)
        atomic_fetch_add_explicit(&s->latency_us, (unsigned long long)(seconds * 1e6),
                                  memory_order_relaxed);
    if (outcome == UPSTREAM_OK) {
        if (atomic_load_explicit(&s->fails, memory_order_relaxed) != 0)
            atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
    if (srv->max_fails == 0 || u->n_servers == 1)
        return;
    if (atomic_fetch_add_explicit(&s->fails, 1, memory_order_relaxed) + 1 >= srv->max_fails) {
        atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
        atomic_store_explicit(&s->out_until, upstream_now_ms() + srv->fail_timeout,
                              memory_order_relaxed);
        atomic_fetch_add_explicit(&s->downs, 1, memory_order_relaxed);
    }
}

int upstream_check_result(const struct conf_upstream *u, const struct conf_server *srv, int ok)
{
    struct server_rt *s = &u->rt->s[srv->idx];
    int down = atomic_load_explicit(&s->check_down, memory_order_relaxed);

    atomic_fetch_add_explicit(&s->checks, 1, memory_order_relaxed);
    if (!ok)
        atomic_fetch_add_explicit(&s->check_failures, 1, memory_order_relaxed);
    if (!!ok == !down) {
        atomic_store_explicit(&s->streak, 0, memory_order_relaxed);
        return 0;
    }
    /* a result against its state: <fall> of them take it down, <rise> bring it back */
    if (atomic_fetch_add_explicit(&s->streak, 1, memory_order_relaxed) + 1 >=
        (down ? u->check_rise : u->check_fall)) {
        atomic_store_explicit(&s->streak, 0, memory_order_relaxed);
        atomic_store_explicit(&s->check_down, !down, memory_order_relaxed);
        if (!down) {
            atomic_fetch_add_explicit(&s->downs, 1, memory_order_relaxed);
            return -1;
        }
        atomic_store_explicit(&s->out_until, 0, memory_order_relaxed);
        atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
        return 1;
    }
    return 0;
}

void upstream_server_stats(const struct conf_upstream *u, const struct conf_server *srv,
                           struct upstream_server_stats *out)
{
    struct server_rt *s = &u->rt->s[srv->idx];
    uint64_t now = upstream_now_ms();

    out->check_down = atomic_load_explicit(&s->check_down, memory_order_relaxed);
    out->failed_out =
        u->n_servers > 1 && atomic_load_explicit(&s->out_until, memory_order_relaxed) > now;
    out->up = !out->check_down && !out->failed_out;
    out->active = atomic_load_explicit(&s->active, memory_order_relaxed);
    out->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
    out->failures = atomic_load_explicit(&s->failures, memory_order_relaxed);
    out->downs = atomic_load_explicit(&s->downs, memory_order_relaxed);
    out->latency_us = atomic_load_explicit(&s->latency_us, memory_order_relaxed);
    out->completed = atomic_load_explicit(&s->completed, memory_order_relaxed);
    out->checks = atomic_load_explicit(&s->checks, memory_order_relaxed);
    out->check_failures = atomic_load_explicit(&s->check_failures, memory_order_relaxed);
}
