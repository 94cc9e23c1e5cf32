/* obj_int.h - the layout of struct obj, private to cache/: the modules of the cache engine
 * (obj, lru, cache, fmt) read and write these fields; everything outside cache/ goes through
 * accel/obj.h, so that no field of an object is written anywhere else.
 *
 * The publication rules are obj.h's: head_ready, body_len and state are stored with release
 * by the single writer after what they announce is in place, and loaded with acquire. Fields
 * marked "lru" belong to the memory tier and are protected by its shard lock. */
#ifndef ACCEL_OBJ_INT_H
#define ACCEL_OBJ_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "accel/obj.h"

#define OBJ_MAGIC 0x6f626a21u

struct obj_chunk {
    struct obj_chunk *next;
    size_t len, cap;
    char data[];
};

struct obj {
    unsigned magic;
    atomic_uint refs;

    /* lru: index and eviction */
    struct obj *hnext, *lprev, *lnext;
    int indexed;
    uint64_t touched_ms;
    uint8_t freq, in_main; /* S3-FIFO: hits while queued (at most 3); in the main queue */
    size_t mem;            /* bytes accounted to the memory tier */

    /* identity, set at creation */
    char *key;
    size_t key_len;
    uint64_t hash;
    unsigned flags;

    /* head, written once before head_ready is set */
    atomic_int head_ready;
    char *head; /* "HTTP/1.1 200 OK\r\nName: value\r\n..." (no final empty line) */
    size_t head_len;
    unsigned status;
    struct field *fields; /* views into head */
    unsigned n_fields;
    int64_t t_req, t_resp; /* when the request went and the response came, seconds */
    int64_t date, age_value, ttl, swr, sie;
    unsigned cc_flags;
    int64_t pass_until; /* OBJ_F_PASS: the marker lasts until then */
    char *vary;         /* "name\0value\0..." from the request that fetched it; NULL: none */
    size_t vary_len;
    char *tags; /* "tag\0tag\0..." from Surrogate-Key / Cache-Tag (stripped from the head) */
    size_t tags_len;
    uint64_t content_length; /* announced by the origin, or OBJ_LEN_UNKNOWN */
    uint64_t identity_len;   /* OBJ_F_GZIP: the inflated length, once complete (or unknown) */

    /* body, appended by the fetch only. Every chunk but the last is full: a reader finds the
     * bytes of a chunk from the caps before it, never from len (which the writer changes). */
    struct obj_chunk *first, *last;
    size_t chunk_mem; /* writer's */
    atomic_uint_fast64_t body_len;
    atomic_int state;

    /* readers */
    atomic_uint waiters;     /* bit per worker that has a reader waiting on it */
    atomic_uint subscribers; /* requests that joined it while busy (bounded by the server) */
    atomic_int refreshing;   /* a background refresh was started for it (stale-while-revalidate) */
    _Atomic int64_t purged_at; /* soft purge: stale from then on (seconds; 0: not purged) */
    /* OBJ_F_GZIP, complete: the same answer inflated, made for the first client that does not
     * take gzip and kept for the next ones (set once; freed with this object) */
    _Atomic(struct obj *) twin;
};

#endif
