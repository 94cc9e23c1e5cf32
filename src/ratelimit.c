/* ratelimit.c - token buckets per client address in a bounded table (see ratelimit.h).
 *
 * The entries are one array; index 0 is "none". A hash table of chains finds an address, a
 * doubly linked list keeps the entries from the most to the least recently seen. */
#include "accel/ratelimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "accel/base.h"

struct rl_entry {
    unsigned char addr[16];
    uint32_t chain;        /* next entry in the same hash bucket */
    uint32_t newer, older; /* the recency list */
    double tokens, stamp;  /* the bucket at time <stamp> */
};

struct ratelimit {
    double rate, burst;
    uint32_t cap, used;
    uint32_t nbuckets; /* a power of two */
    uint32_t *buckets;
    struct rl_entry *e; /* cap + 1 entries, e[0] unused */
    uint32_t newest, oldest;
    uint64_t dropped;
};

struct ratelimit *ratelimit_new(double rate, double burst, unsigned table)
{
    struct ratelimit *r = xcalloc(1, sizeof *r);

    AN(rate > 0 && burst >= 1 && table >= 1);
    r->rate = rate;
    r->burst = burst;
    r->cap = table;
    r->nbuckets = 16;
    while (r->nbuckets < table)
        r->nbuckets <<= 1;
    r->buckets = xcalloc(r->nbuckets, sizeof *r->buckets);
    r->e = xcalloc((size_t)table + 1, sizeof *r->e);
    return r;
}

void ratelimit_free(struct ratelimit **rp)
{
    struct ratelimit *r = *rp;

    if (r == NULL)
        return;
    free(r->buckets);
    free(r->e);
    free(r);
    *rp = NULL;
}

static uint32_t addr_hash(const unsigned char a[16])
{
    uint64_t h = 0x9e3779b97f4a7c15ull, x;

    for (unsigned i = 0; i < 16; i += 8) {
        memcpy(&x, a + i, 8);
        h = (h ^ x) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return (uint32_t)h;
}

/* The address of <sa> as 16 bytes (IPv4 mapped into IPv6); -1 for another family. */
static int addr_of(const struct sockaddr *sa, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &s4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

static void list_unlink(struct ratelimit *r, uint32_t i)
{
    struct rl_entry *e = &r->e[i];

    if (e->newer != 0)
        r->e[e->newer].older = e->older;
    else
        r->newest = e->older;
    if (e->older != 0)
        r->e[e->older].newer = e->newer;
    else
        r->oldest = e->newer;
    e->newer = e->older = 0;
}

static void list_push_newest(struct ratelimit *r, uint32_t i)
{
    r->e[i].older = r->newest;
    r->e[i].newer = 0;
    if (r->newest != 0)
        r->e[r->newest].newer = i;
    r->newest = i;
    if (r->oldest == 0)
        r->oldest = i;
}

static void chain_unlink(struct ratelimit *r, uint32_t i)
{
    uint32_t *pp = &r->buckets[addr_hash(r->e[i].addr) & (r->nbuckets - 1)];

    while (*pp != i) {
        AN(*pp != 0);
        pp = &r->e[*pp].chain;
    }
    *pp = r->e[i].chain;
    r->e[i].chain = 0;
}

/* The entry of <a>, made (full bucket at <now>) when it is not in the table. */
static uint32_t entry_get(struct ratelimit *r, const unsigned char a[16], double now)
{
    uint32_t b = addr_hash(a) & (r->nbuckets - 1), i;

    for (i = r->buckets[b]; i != 0; i = r->e[i].chain)
        if (memcmp(r->e[i].addr, a, 16) == 0) {
            list_unlink(r, i);
            list_push_newest(r, i);
            return i;
        }
    if (r->used < r->cap) {
        i = ++r->used;
    } else {
        i = r->oldest;
        list_unlink(r, i);
        chain_unlink(r, i);
        r->dropped++;
    }
    memcpy(r->e[i].addr, a, 16);
    r->e[i].tokens = r->burst;
    r->e[i].stamp = now;
    r->e[i].chain = r->buckets[b];
    r->buckets[b] = i;
    list_push_newest(r, i);
    return i;
}

unsigned ratelimit_take(struct ratelimit *r, const struct sockaddr *sa, double now)
{
    unsigned char a[16];
    struct rl_entry *e;
    double wait;

    if (addr_of(sa, a) != 0)
        return 0;
    e = &r->e[entry_get(r, a, now)];
    if (now > e->stamp) {
        e->tokens += (now - e->stamp) * r->rate;
        if (e->tokens > r->burst)
            e->tokens = r->burst;
        e->stamp = now;
    }
    if (e->tokens >= 1) {
        e->tokens -= 1;
        return 0;
    }
    wait = (1 - e->tokens) / r->rate;
    if (wait >= 86400)
        return 86400;
    return (unsigned)wait < wait ? (unsigned)wait + 1 : wait < 1 ? 1 : (unsigned)wait;
}

unsigned ratelimit_count(const struct ratelimit *r)
{
    return r->used;
}

uint64_t ratelimit_dropped(const struct ratelimit *r)
{
    return r->dropped;
}
