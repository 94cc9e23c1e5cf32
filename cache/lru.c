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
};

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

static void lru_push_head(struct shard *s, struct obj *o)
{
    o->lprev = NULL;
    o->lnext = s->head;
    if (s->head != NULL)
        s->head->lprev = o;
    else
        s->tail = o;
    s->head = o;
}

static void lru_unlink(struct shard *s, struct obj *o)
{
    if (o->lprev != NULL)
        o->lprev->lnext = o->lnext;
    else
        s->head = o->lnext;
    if (o->lnext != NULL)
        o->lnext->lprev = o->lprev;
    else
        s->tail = o->lprev;
    o->lprev = o->lnext = NULL;
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
    lru_push_head(s, o);
    o->indexed = 1;
    o->mem = obj_size(o);
    s->bytes += o->mem;
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
    s->objects--;
    o->mem = 0;
}

/* While over budget, evicts from the tail every object that is neither busy nor <keep>. */
static void evict_locked(struct lru *l, struct shard *s, const struct obj *keep)
{
    struct obj *o = s->tail, *prev;

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

static void touch_locked(struct shard *s, struct obj *o, uint64_t now_ms)
{
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
            touch_locked(s, o, now_ms);
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

        for (o = s->head; o != NULL; o = next) {
            next = o->lnext;
            o->hnext = o->lprev = o->lnext = NULL;
            o->indexed = 0;
            o->mem = 0;
            obj_unref(&o);
        }
        free(s->tab);
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
