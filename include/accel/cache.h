/* cache.h - lookup and insertion across tiers, busy objects and hit-for-miss markers: what a
 * request gets from the cache, decided atomically under one shard lock.
 *
 * cache_lookup() answers HIT (a fresh, complete object that matches the request's Vary), BUSY
 * (an object still being fetched: subscribe and stream it), MISS (a new busy object the caller
 * now owns and must fetch), PASS (the key is marked uncacheable: go to the origin alone) or NONE
 * (not cached, and the request said only-if-cached). */
#ifndef ACCEL_CACHE_H
#define ACCEL_CACHE_H

#include <stdint.h>

#include "accel/base.h"
#include "accel/key.h"
#include "accel/obj.h"
#include "accel/policy.h"

struct cache;
struct disk;

struct cache_conf {
    uint64_t memory; /* bytes; 0: the cache stores nothing */
    unsigned shards;
    uint64_t max_object_size;
    struct policy_conf policy;
    int ignore_client_no_cache;
    int s3fifo;        /* the memory tier evicts by S3-FIFO instead of LRU */
    struct disk *disk; /* the disk tier, or NULL; the cache takes it and closes it */
    int64_t grace;     /* seconds a stale object may stand in for a failing origin */
    /* Where the disk writer reports what a person should know (level 1 warning, 2 info), from
     * its own thread; NULL: nowhere. */
    void (*log)(int level, const char *msg);
};

enum cache_res {
    CACHE_HIT = 0,
    CACHE_HIT_STALE, /* stale, within stale-while-revalidate: serve it, refresh in background */
    CACHE_BUSY,
    CACHE_MISS,
    CACHE_PASS,
    CACHE_NONE,
    /* Not answers of cache_lookup(): how the server ended up answering from an object. */
    CACHE_REVALIDATED, /* a stale object the origin confirmed with 304 */
    CACHE_STALE,       /* a stale object standing in for a failing origin */
};

struct cache_req {
    struct key key;
    const struct field *fields; /* the request's header fields, for Vary */
    unsigned n_fields;
    struct cc cc; /* the request's Cache-Control */
    int64_t now;  /* seconds */
    uint64_t now_ms;
    int no_make;         /* do not insert a busy object on a miss (HEAD) */
    int no_swr;          /* a refresh itself: stale-while-revalidate does not apply */
    int ignore_no_cache; /* the route's ignore_client_no_cache: 1 on, -1 off, 0 the cache's */
};

struct cache_stats {
    uint64_t objects, bytes, budget, evictions;
    uint64_t purges, purged; /* purge calls; memory objects they removed or marked */
    int disk;                /* a disk tier is there: the disk_* below mean something */
    uint64_t disk_hits, disk_writes, disk_dropped, disk_errors;
    uint64_t disk_evicted, disk_expired;
    uint64_t disk_entries, disk_bytes, disk_budget;
    int disk_reset; /* the disk tier started empty: its file was damaged and moved aside */
};

/* A cache for <cc>. With a disk tier, starts its writer thread: complete objects are written
 * through asynchronously (a bounded queue; past it they are dropped and counted), and a memory
 * miss with no stale copy and no fetch under way reads the key and its Vary variants from disk
 * (a variant is stored as "<key> <hash of its Vary values>"). Between batches the writer
 * removes entries past their usefulness (freshness, then the longest of stale-while-revalidate,
 * stale-if-error and grace) and, past 80% of the disk budget, the oldest down to 70%. The
 * file system filling up (ENOSPC) is logged once, through cc->log, until writes succeed again.
 * Tags come from the response's Surrogate-Key (space-separated) and Cache-Tag
 * (comma-separated) fields: at most 64 per object; a tag above DISK_TAG_MAX bytes is only
 * purged from memory. */
struct cache *cache_new(const struct cache_conf *cc);

/* Writes what the writer still has queued, stops it, closes the disk tier, frees the cache. */
void cache_free(struct cache **cp);

const struct cache_conf *cache_conf_of(const struct cache *c);

/* Looks <r> up. HIT, BUSY and MISS give a new reference in *<out> (the caller unrefs it);
 * PASS and NONE give NULL. When <stale> is not NULL and the result is not a HIT, it receives a
 * reference to the newest complete object of the key that matched the request but could not be
 * used as it is (stale, or the request asked for revalidation), or NULL: what a conditional
 * request revalidates, and what stale-if-error serves. */
enum cache_res cache_lookup(struct cache *c, const struct cache_req *r, struct obj **out,
                            struct obj **stale);

/* 1 if the stored request values of <o>'s Vary match the request fields <f>. Objects without
 * Vary match everything. Only after obj_has_head(o). */
int cache_vary_match(const struct obj *o, const struct field *f, unsigned n);

/* Builds the "name\0value\0" list of Vary <vary> (the response's field value) from request
 * fields <f>; returns its length (0 when Vary names nothing) and the bytes in *<out>
 * (malloc'd, the caller owns them). */
size_t cache_vary_build(struct span vary, const struct field *f, unsigned n, char **out);

/* Builds the "tag\0tag\0..." list of response fields <f>: Surrogate-Key (space-separated)
 * and Cache-Tag (comma-separated), at most 64 tags of at most DISK_TAG_MAX bytes; returns its
 * length and the bytes in *<out> (malloc'd, NULL when none). */
size_t cache_tags_build(const struct field *f, unsigned n, char **out);

/* The fetch of busy object <o> found it cannot be stored: marks its key uncacheable until
 * <until> (seconds) with a small marker object and removes <o> from the index. */
void cache_mark_pass(struct cache *c, struct obj *o, int64_t until);

/* Accounts <delta> more bytes to busy object <o> (evicting others as needed). */
void cache_grow(struct cache *c, struct obj *o, size_t delta);

/* The fetch completed <o>: it replaces older objects of the same key and Vary values. */
void cache_complete(struct cache *c, struct obj *o);

/* The fetch of <o> failed, or <o> outgrew max_object_size: removes it from the index. */
void cache_remove(struct cache *c, struct obj *o);

/* RFC 9111 §4.4: removes every object stored under <k> (all variants, pass markers, busy
 * objects: their fetches go on for their readers but are not stored). Returns how many. */
unsigned cache_invalidate(struct cache *c, const struct key *k);

enum cache_purge {
    CACHE_PURGE_KEY = 0, /* every variant stored under one key */
    CACHE_PURGE_PREFIX,  /* every key that starts with the argument */
    CACHE_PURGE_ALL,
    CACHE_PURGE_TAG,   /* every object whose Surrogate-Key or Cache-Tag names the argument */
    CACHE_PURGE_REGEX, /* every key a POSIX extended regular expression matches */
};

/* Checks regular expression <re> for CACHE_PURGE_REGEX: 0, or -EINVAL with regerror()'s text in
 * <err>. */
int cache_regex_check(const char *re, char *err, size_t errlen);

/* Purges from both tiers the objects of <kind> (<arg>, <len>: the key, prefix or tag). Hard
 * (<soft> 0): they leave the cache. Soft: in memory they become stale from <now> on and stay for
 * revalidation, stale-while-revalidate, stale-if-error and grace; on disk they are removed, so
 * that a restart cannot bring them back fresh. Objects still being fetched leave the index
 * either way: their fetch completes for its readers but is not stored (nor a disk write still
 * queued for a purged object). The disk side runs on the writer, in order after the writes
 * queued before it. Returns how many memory objects it purged. */
uint64_t cache_purge(struct cache *c, enum cache_purge kind, const char *arg, size_t len, int soft,
                     int64_t now);

/* cache_purge(), then, with a disk tier, waits up to <wait_ms> for the disk side to be done and
 * puts how many disk entries it removed in *<disk_n> (-1: no disk tier, or not done in time; it
 * is in force either way). Blocks the calling thread: for the admin thread, not a worker. */
uint64_t cache_purge_wait(struct cache *c, enum cache_purge kind, const char *arg, size_t len,
                          int soft, int64_t now, int wait_ms, int64_t *disk_n);

void cache_get_stats(struct cache *c, struct cache_stats *out);

/* Calls <fn> for each object stored under key <k>: in memory (every variant, busy ones with a
 * head included), then on disk (decoded for the call: tier "disk"). The object is valid during
 * the call only. Returns how many calls. */
unsigned cache_inspect(struct cache *c, const struct key *k,
                       void (*fn)(void *arg, const char *tier, const struct obj *o), void *arg);

#endif
