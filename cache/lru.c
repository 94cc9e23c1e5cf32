/* lru.c - the memory tier: a sharded hash index of objects, an LRU list and a byte budget.
 *
 * Structures: the tier has a power-of-two number of shards and an object lives in shard
 * (hash & (nshards - 1)). Each shard has one mutex guarding everything in it: a table of
 * buckets (a power of two, indexed by the hash bits above the shard bits, chained through
 * obj->hnext, newest first; doubled when the objects outnumber twice the buckets), the LRU list
 * through obj->lprev/lnext (head = most recently used), the bytes accounted and a budget of
 * total / nshards.
 *
 * Invariants, under the shard lock: an object is in its bucket chain and in the LRU list exactly
 * when o->indexed is 1; the shard's bytes are the sum of o->mem over its indexed objects, where
 * o->mem is obj_size() at insert plus every lru_grow() delta. Over budget, we evict from the
 * tail, skipping busy objects (a fetch is filling them and subscribers wait on them) and the
 * object that was just inserted or grown.
 *
 * Ownership: the index holds one reference to each indexed object and drops it when the object
 * leaves (eviction, lru_remove, lru_walk, lru_free); whoever else holds a reference keeps
 * reading undisturbed. The callbacks (pick, make, walk) run under the shard lock: they must be
 * short and must not call back into this tier. Taking an existing object allocates nothing. */
#include "accel/lru.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/obj_int.h"

#define LRU_BUCKETS     1024u      /* initial buckets per shard */
#define LRU_BUCKETS_ALL (1u << 18) /* initial buckets of all shards together, at most */
#define LRU_BUCKETS_MIN 16u
#define LRU_MAX_SHARDS  (1u << 16) /* beyond this, more shards buy nothing but memory */
#define LRU_TOUCH_MS    100u       /* an object moves to the LRU head at most this often */
#define LRU_CACHE_LINE  64

struct shard {
    /* Aligned so that two shards' locks never share a cache line. */
    _Alignas(LRU_CACHE_LINE) pthread_mutex_t mu;
    struct obj **tab;
    size_t nb; /* buckets, a power of two */
    struct obj *head, *tail;
    uint64_t objects, bytes, budget, evictions, inserts;
    /* S3-FIFO: head/tail above are the small queue; the main queue, the bytes in small, and
     * the ghost table of recently evicted key hashes (direct-mapped, 4 slots per bucket) */
    struct obj *mhead, *mtail;
    uint64_t small_bytes;
    uint64_t *ghost;
    size_t ghost_n;
    atomic_uint want;           /* a lookup found the lock taken (set without the lock) */
    atomic_uint_fast64_t taken; /* times a lookup took the lock after waiting */
};

/* The lock as lookups and inserts take it: when it is busy (a walk, usually), they say so, and
 * the walk lets them through before it goes on. */
static void shard_lock(struct shard *s)
{
    if (pthread_mutex_trylock(&s->mu) == 0)
        return;
    atomic_store_explicit(&s->want, 1, memory_order_relaxed);
    AZ(pthread_mutex_lock(&s->mu));
    atomic_fetch_add_explicit(&s->taken, 1, memory_order_relaxed);
}

struct lru {
    unsigned nshards, bits; /* nshards == 1 << bits */
    struct shard *shards;
    enum lru_policy policy;
};

void lru_set_policy(struct lru *l, enum lru_policy p)
{
    AN(l);
    l->policy = p;
}

static struct shard *shard_of(struct lru *l, uint64_t hash)
{
    return &l->shards[hash & (l->nshards - 1)];
}

static size_t bucket_of(const struct lru *l, const struct shard *s, uint64_t hash)
{
    return (size_t)(hash >> l->bits) & (s->nb - 1);
}

static int key_eq(const struct obj *o, const struct key *k)
{
    return o->hash == k->hash && o->key_len == k->len && memcmp(o->key, k->p, k->len) == 0;
}

struct lru *lru_new(uint64_t budget, unsigned shards)
{
    struct lru *l = xcalloc(1, sizeof(*l));
    size_t nb;

    if (shards > LRU_MAX_SHARDS)
        shards = LRU_MAX_SHARDS;
    l->nshards = 1;
    while (l->nshards < shards) {
        l->nshards <<= 1;
        l->bits++;
    }
    nb = LRU_BUCKETS;
    while (nb > LRU_BUCKETS_MIN && nb * l->nshards > LRU_BUCKETS_ALL)
        nb >>= 1;
    l->shards = aligned_alloc(LRU_CACHE_LINE, l->nshards * sizeof(*l->shards));
    AN(l->shards);
    memset(l->shards, 0, l->nshards * sizeof(*l->shards));
    for (unsigned i = 0; i < l->nshards; i++) {
        struct shard *s = &l->shards[i];

        AZ(pthread_mutex_init(&s->mu, NULL));
        s->nb = nb;
        s->tab = xcalloc(nb, sizeof(*s->tab));
        s->budget = budget / l->nshards;
    }
    return l;
}

/* Doubles the buckets. Bucket i splits into i and i + nb; each keeps the order of the old chain
 * so that objects sharing a key stay newest first. */
static void grow_locked(struct lru *l, struct shard *s)
{
    size_t nb = s->nb;
    struct obj **tab = xcalloc(nb * 2, sizeof(*tab));

    for (size_t i = 0; i < nb; i++) {
        struct obj **lo = &tab[i], **hi = &tab[i + nb], *o, *next;

        for (o = s->tab[i]; o != NULL; o = next) {
            next = o->hnext;
            o->hnext = NULL;
            if ((o->hash >> l->bits) & nb) {
                *hi = o;
                hi = &o->hnext;
            } else {
                *lo = o;
                lo = &o->hnext;
            }
        }
    }
    free(s->tab);
    s->tab = tab;
    s->nb = nb * 2;
}

/* The list <o> is on: the LRU list (S3-FIFO's small queue), or S3-FIFO's main queue. */
static struct obj **list_head(struct shard *s, const struct obj *o)
{
    return o->in_main ? &s->mhead : &s->head;
}

static struct obj **list_tail(struct shard *s, const struct obj *o)
{
    return o->in_main ? &s->mtail : &s->tail;
}

static void lru_push_head(struct shard *s, struct obj *o)
{
    struct obj **head = list_head(s, o), **tail = list_tail(s, o);

    o->lprev = NULL;
    o->lnext = *head;
    if (*head != NULL)
        (*head)->lprev = o;
    else
        *tail = o;
    *head = o;
}

static void lru_unlink(struct shard *s, struct obj *o)
{
    if (o->lprev != NULL)
        o->lprev->lnext = o->lnext;
    else
        *list_head(s, o) = o->lnext;
    if (o->lnext != NULL)
        o->lnext->lprev = o->lprev;
    else
        *list_tail(s, o) = o->lprev;
    o->lprev = o->lnext = NULL;
}

/* S3-FIFO's ghost table: a slot per hash, overwritten by newer evictions (so it forgets the
 * oldest first, roughly as a FIFO of keys would). Sized with the buckets. */
static uint64_t *ghost_slot(const struct lru *l, struct shard *s, uint64_t hash)
{
    if (s->ghost_n < 4 * s->nb) {
        free(s->ghost);
        s->ghost_n = 4 * s->nb;
        s->ghost = xcalloc(s->ghost_n, sizeof(*s->ghost));
    }
    return &s->ghost[(hash >> l->bits) & (s->ghost_n - 1)];
}

/* Indexes <o>, handing it the reference the caller gives to the index. */
static void link_locked(struct lru *l, struct shard *s, struct obj *o)
{
    size_t b = bucket_of(l, s, o->hash);

    CHECK_OBJ(o, OBJ_MAGIC);
    AZ(o->indexed);
    AZ(o->flags & OBJ_F_PRIVATE);
    o->hnext = s->tab[b];
    s->tab[b] = o;
    o->freq = 0;
    o->in_main = 0;
    if (l->policy == LRU_POLICY_S3FIFO) {
        uint64_t *g = ghost_slot(l, s, o->hash);

        if (*g == (o->hash | 1)) {
            o->in_main = 1; /* evicted not long ago, and asked for again */
            *g = 0;
        }
    }
    lru_push_head(s, o);
    o->indexed = 1;
    o->mem = obj_size(o);
    s->bytes += o->mem;
    if (!o->in_main)
        s->small_bytes += o->mem;
    s->objects++;
    s->inserts++;
    if (s->objects > 2 * (uint64_t)s->nb)
        grow_locked(l, s);
}

/* Takes <o> out of the index. The index's reference is now the caller's to drop. */
static void unlink_locked(struct lru *l, struct shard *s, struct obj *o)
{
    struct obj **pp = &s->tab[bucket_of(l, s, o->hash)];

    AN(o->indexed);
    while (*pp != o) {
        AN(*pp);
        pp = &(*pp)->hnext;
    }
    *pp = o->hnext;
    o->hnext = NULL;
    lru_unlink(s, o);
    o->indexed = 0;
    AN(s->bytes >= o->mem);
    AN(s->objects > 0);
    s->bytes -= o->mem;
    if (!o->in_main)
        s->small_bytes -= o->mem;
    s->objects--;
    o->mem = 0;
}

/* S3-FIFO's eviction: from small while it holds more than a tenth of the budget (an object hit
 * there moves to main; one never hit leaves, its key hash into the ghost table), else from
 * main (an object hit since its last pass goes round again, one hit fewer). Busy objects and
 * <keep> are passed over; the passes are bounded. */
static int spared(const struct obj *o, const struct obj *keep)
{
    return o == keep || obj_state(o) == OBJ_BUSY;
}

/* The object nearest the tail of the list ending at <o> that is neither busy nor <keep>. */
static struct obj *candidate(struct obj *o, const struct obj *keep)
{
    while (o != NULL && spared(o, keep))
        o = o->lprev;
    return o;
}

static void evict_s3fifo(struct lru *l, struct shard *s, const struct obj *keep)
{
    uint64_t steps = 4 * s->objects + 8;

    while (s->bytes > s->budget && steps-- > 0) {
        struct obj *o = NULL;
        int from_small = 0;

        if (s->small_bytes > s->budget / 10 || s->mtail == NULL) {
            o = candidate(s->tail, keep);
            from_small = o != NULL;
        }
        if (o == NULL)
            o = candidate(s->mtail, keep);
        if (o == NULL) {
            o = candidate(s->tail, keep);
            from_small = 1;
        }
        if (o == NULL)
            break; /* nothing but busy objects and <keep> */
        if (from_small && o->freq > 0) {
            lru_unlink(s, o);
            s->small_bytes -= o->mem;
            o->in_main = 1;
            o->freq = 0;
            lru_push_head(s, o);
            continue;
        }
        if (!from_small && o->freq > 0) {
            o->freq--;
            lru_unlink(s, o);
            lru_push_head(s, o);
            continue;
        }
        if (from_small)
            *ghost_slot(l, s, o->hash) = o->hash | 1;
        unlink_locked(l, s, o);
        s->evictions++;
        obj_unref(&o);
    }
}

/* While over budget, evicts from the tail every object that is neither busy nor <keep>. */
static void evict_locked(struct lru *l, struct shard *s, const struct obj *keep)
{
    struct obj *o = s->tail, *prev;

    if (l->policy == LRU_POLICY_S3FIFO) {
        evict_s3fifo(l, s, keep);
        return;
    }
    while (s->bytes > s->budget && o != NULL) {
        prev = o->lprev;
        if (o != keep && obj_state(o) != OBJ_BUSY) {
            unlink_locked(l, s, o);
            s->evictions++;
            obj_unref(&o);
        }
        o = prev;
    }
}

static void touch_locked(struct lru *l, struct shard *s, struct obj *o, uint64_t now_ms)
{
    if (l->policy == LRU_POLICY_S3FIFO) {
        if (o->freq < 3)
            o->freq++;
        return;
    }
    /* A clock that went back counts as due, so an object cannot get stuck untouched. */
    if (now_ms >= o->touched_ms && now_ms - o->touched_ms < LRU_TOUCH_MS)
        return;
    o->touched_ms = now_ms;
    if (s->head == o)
        return;
    lru_unlink(s, o);
    lru_push_head(s, o);
}

struct obj *lru_find(struct lru *l, const struct key *k,
                     enum lru_pick (*pick)(struct obj *, void *), struct obj *(*make)(void *),
                     void *arg, uint64_t now_ms, int *made)
{
    struct shard *s;
    struct obj *o, *ret = NULL;

    AN(l);
    AN(k);
    AN(k->p);
    AN(pick);
    if (made != NULL)
        *made = 0;
    s = shard_of(l, k->hash);
    shard_lock(s);
    for (o = s->tab[bucket_of(l, s, k->hash)]; o != NULL; o = o->hnext) {
        if (key_eq(o, k) && pick(o, arg) == LRU_TAKE) {
            touch_locked(l, s, o, now_ms);
            ret = obj_ref(o);
            goto out;
        }
    }
    if (make == NULL)
        goto out;
    /* Still under the lock: whoever comes next for this key finds what we insert now. A make()
     * that returns NULL declines, and the caller gets a miss without an object. */
    o = make(arg);
    if (o == NULL)
        goto out;
    CHECK_OBJ(o, OBJ_MAGIC);
    AN(key_eq(o, k));
    link_locked(l, s, o); /* make()'s reference goes to the index */
    o->touched_ms = now_ms;
    ret = obj_ref(o);
    if (made != NULL)
        *made = 1;
    evict_locked(l, s, o);
out:
    AZ(pthread_mutex_unlock(&s->mu));
    return ret;
}

void lru_insert(struct lru *l, struct obj *o)
{
    struct shard *s;

    AN(l);
    CHECK_OBJ(o, OBJ_MAGIC);
    s = shard_of(l, o->hash);
    shard_lock(s);
    link_locked(l, s, obj_ref(o));
    evict_locked(l, s, o);
    AZ(pthread_mutex_unlock(&s->mu));
}

int lru_remove(struct lru *l, struct obj *o)
{
    struct shard *s;
    int was;

    AN(l);
    CHECK_OBJ(o, OBJ_MAGIC);
    s = shard_of(l, o->hash);
    shard_lock(s);
    was = o->indexed;
    if (was)
        unlink_locked(l, s, o);
    AZ(pthread_mutex_unlock(&s->mu));
    if (was) {
        struct obj *ref = o; /* the index's reference; the caller still holds its own */

        obj_unref(&ref);
    }
    return was;
}

void lru_grow(struct lru *l, struct obj *o, size_t delta)
{
    struct shard *s;

    AN(l);
    CHECK_OBJ(o, OBJ_MAGIC);
    s = shard_of(l, o->hash);
    shard_lock(s);
    if (o->indexed) {
        o->mem += delta;
        s->bytes += delta;
        if (!o->in_main)
            s->small_bytes += delta;
        evict_locked(l, s, o);
    }
    AZ(pthread_mutex_unlock(&s->mu));
}

#define WALK_BATCH 64 /* objects looked at per hold of a shard lock, about */

uint64_t lru_walk(struct lru *l, int (*fn)(struct obj *, void *), void *arg)
{
    uint64_t removed = 0;

    AN(l);
    AN(fn);
    for (unsigned i = 0; i < l->nshards; i++) {
        struct shard *s = &l->shards[i];
        unsigned seen = 0;

        /* Bucket by bucket, not along the LRU list: a lookup moves objects within the list
         * while the lock is let go, never between buckets. Growing the table splits bucket j
         * into j and j + nb: the buckets not walked yet stay at or past the resume point. */
        AZ(pthread_mutex_lock(&s->mu));
        for (size_t b = 0; b < s->nb; b++) {
            struct obj *o, *next;

            for (o = s->tab[b]; o != NULL; o = next) {
                next = o->hnext; /* before fn, which may have o removed */
                seen++;
                if (fn(o, arg) == 1) {
                    unlink_locked(l, s, o);
                    obj_unref(&o);
                    removed++;
                }
            }
            if (seen >= WALK_BATCH) {
                /* let the workers in: a lookup woken by the unlock needs a moment to take the
                 * lock, which an immediate relock would snatch back from it */
                uint64_t before = atomic_load_explicit(&s->taken, memory_order_relaxed);

                AZ(pthread_mutex_unlock(&s->mu));
                seen = 0;
                if (atomic_exchange_explicit(&s->want, 0, memory_order_relaxed)) {
                    /* someone waits: let them have the lock first (for a while at most) */
                    for (unsigned spin = 0;
                         spin < 2000 &&
                         atomic_load_explicit(&s->taken, memory_order_relaxed) == before;
                         spin++)
                        sched_yield();
                }
                AZ(pthread_mutex_lock(&s->mu));
            }
        }
        AZ(pthread_mutex_unlock(&s->mu));
    }
    return removed;
}

void lru_get_stats(struct lru *l, struct lru_stats *out)
{
    AN(l);
    AN(out);
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < l->nshards; i++) {
        struct shard *s = &l->shards[i];

        shard_lock(s);
        out->objects += s->objects;
        out->bytes += s->bytes;
        out->budget += s->budget;
        out->evictions += s->evictions;
        out->inserts += s->inserts;
        AZ(pthread_mutex_unlock(&s->mu));
    }
}

void lru_free(struct lru **lp)
{
    struct lru *l = *lp;

    *lp = NULL;
    if (l == NULL)
        return;
    for (unsigned i = 0; i < l->nshards; i++) {
        struct shard *s = &l->shards[i];
        struct obj *o, *next;

        for (int q = 0; q < 2; q++) {
            for (o = q == 0 ? s->head : s->mhead; o != NULL; o = next) {
                next = o->lnext;
                o->hnext = o->lprev = o->lnext = NULL;
                o->indexed = 0;
                o->mem = 0;
                obj_unref(&o);
            }
        }
        free(s->tab);
        free(s->ghost);
        AZ(pthread_mutex_destroy(&s->mu));
    }
    free(l->shards);
    free(l);
}

int lru_indexed(struct lru *l, struct obj *o)
{
    struct shard *s = shard_of(l, o->hash);
    int in;

    shard_lock(s);
    in = o->indexed;
    AZ(pthread_mutex_unlock(&s->mu));
    return in;
}
