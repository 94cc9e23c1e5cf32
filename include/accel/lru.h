/* lru.h - the memory tier: a hash index of objects split into shards (a power of two, one
 * mutex each), with an LRU list and a share of the byte budget per shard.
 *
 * The index holds one reference to each indexed object. Several objects may share a key (Vary
 * variants, a busy refetch beside the stale copy it replaces); lru_find() lets the caller pick
 * among them under the shard lock, which is what makes "find or insert a busy object" atomic
 * for request coalescing. Busy objects are never evicted. An object leaves the index through
 * eviction, lru_remove(), or lru_free(); readers holding references are undisturbed. */
#ifndef ACCEL_LRU_H
#define ACCEL_LRU_H

#include <stddef.h>
#include <stdint.h>

#include "accel/key.h"
#include "accel/obj.h"

struct lru;

enum lru_pick {
    LRU_SKIP = 0, /* not this one, go on */
    LRU_TAKE,     /* this one: return it */
};

struct lru_stats {
    uint64_t objects, bytes, budget, evictions, inserts;
};

/* A tier of at most <budget> bytes in <shards> shards (rounded up to a power of two, >= 1). */
struct lru *lru_new(uint64_t budget, unsigned shards);

enum lru_policy {
    LRU_POLICY_LRU = 0, /* least recently used first */
    /* S3-FIFO (Yang et al., SOSP 2023): new objects enter a small FIFO (10% of the budget); one
     * hit there moves them to the main FIFO, none evicts them (their key hash goes to a ghost
     * table, and a key found there on insertion goes straight to main); main evicts from its
     * tail, giving objects hit since their last pass another round. Hits only bump a counter. */
    LRU_POLICY_S3FIFO,
};

/* Sets the eviction policy of <l>; before any object is inserted. */
void lru_set_policy(struct lru *l, enum lru_policy p);

/* Drops the index's reference to every object and frees the tier. */
void lru_free(struct lru **lp);

/* Under the lock of <k>'s shard: offers every indexed object whose key equals <k> to
 * <pick>(obj, arg) in index order, newest first. The first one taken is touched in the LRU
 * (at most once per 100 ms per object, by <now_ms>) and returned with a new reference. When none
 * is taken and <make> is not NULL, make(arg) builds a new object (one reference, which goes to
 * the index), it is inserted, *<made> is set to 1 and it is returned with a second reference
 * for the caller. Returns NULL when none is taken and there is no <make>. */
struct obj *lru_find(struct lru *l, const struct key *k,
                     enum lru_pick (*pick)(struct obj *, void *), struct obj *(*make)(void *),
                     void *arg, uint64_t now_ms, int *made);

/* Inserts <o> (its key and hash set) at the head of its shard's LRU; the index takes a new
 * reference. Evicts from the tail while the shard is over its budget. */
void lru_insert(struct lru *l, struct obj *o);

/* Removes <o> from the index if it is there, dropping the index's reference. Returns 1 if it
 * was indexed, 0 if not. */
int lru_remove(struct lru *l, struct obj *o);

/* Adds <delta> bytes to the accounting of indexed object <o> (a busy object growing) and
 * evicts other, complete objects from the tail while the shard is over budget. No-op when <o>
 * is not indexed. */
void lru_grow(struct lru *l, struct obj *o, size_t delta);

/* Calls <fn>(obj, arg) for every indexed object of every shard, one shard lock at a time, held
 * for at most a few hundred objects (lookups get in between: a walk over millions of objects
 * does not stall them); when <fn> returns 1 the object is removed from the index. An object
 * indexed before the walk is seen at least once (twice when the table grew meanwhile); one
 * indexed during the walk may or may not be seen. Returns how many were removed. */
uint64_t lru_walk(struct lru *l, int (*fn)(struct obj *, void *), void *arg);

void lru_get_stats(struct lru *l, struct lru_stats *out);

/* 1 if <o> is in the index now (under its shard lock), else 0. */
int lru_indexed(struct lru *l, struct obj *o);

#endif
