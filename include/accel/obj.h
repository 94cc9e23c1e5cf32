/* obj.h - a cached response. One fetch builds it while it is busy: head first, then body chunks
 * appended as they arrive; it is then finished exactly once (complete or failed) and never
 * changes again, so readers use it without locks while they hold a reference.
 *
 * Readers of a busy object see a consistent prefix: head_ready (acquire) says the head fields
 * may be read; body_len (acquire) says how many body bytes the chunk list holds; state (acquire)
 * says whether more will come. The single writer publishes each with a release store, after
 * the bytes it announces are in place. Chunks are never freed or moved while the object lives.
 *
 * Fields marked "lru" belong to the memory tier and are protected by its shard lock. */
#ifndef ACCEL_OBJ_H
#define ACCEL_OBJ_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "accel/base.h"

#define OBJ_MAGIC       0x6f626a21u
#define OBJ_LEN_UNKNOWN UINT64_MAX
#define OBJ_CHUNK_MIN   (16 * 1024)

enum obj_state {
    OBJ_BUSY = 0, /* the fetch is still filling it */
    OBJ_COMPLETE, /* every byte is there */
    OBJ_FAILED,   /* the fetch failed: readers stop where the body stops */
};

#define OBJ_F_PASS    0x1u /* hit-for-miss marker: no body; lookups go to the origin on their own */
#define OBJ_F_PRIVATE 0x2u /* never indexed: one reader, who gets it streamed */
/* the body is gzip (its head says Content-Encoding: gzip): set by obj_set_head() */
#define OBJ_F_GZIP    0x4u
#define OBJ_F_GZIPPED 0x8u /* accel gzipped the origin's body (not the origin's own bytes) */

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

/* A new busy object for the key of <len> bytes at <key>, hash <hash>; one reference, owned by
 * the caller. */
struct obj *obj_new(const char *key, size_t len, uint64_t hash, unsigned flags);

/* Returns <o> with one more reference. */
struct obj *obj_ref(struct obj *o);

/* Drops the reference in *<op> and sets *<op> to NULL; frees on the last one. NULL is fine. */
void obj_unref(struct obj **op);

/* Writer: stores a copy of the head (<len> bytes at <head>, in the format above), splits it
 * into fields, sets OBJ_F_GZIP when a Content-Encoding field is "gzip" or "x-gzip" alone,
 * then publishes it. Set the other head members (times, ttl, vary...) before. */
void obj_set_head(struct obj *o, const char *head, size_t len);

/* Writer: appends <n> body bytes and publishes them. */
void obj_append(struct obj *o, const void *p, size_t n);

/* Writer: appends the last <n> body bytes, in a chunk of exactly what does not fit the current
 * one (no room kept for more: the object is about to be finished). */
void obj_append_last(struct obj *o, const void *p, size_t n);

/* Writer: finishes the object as OBJ_COMPLETE or OBJ_FAILED (once). */
void obj_finish(struct obj *o, enum obj_state st);

/* Readers */
static inline int obj_has_head(const struct obj *o)
{
    return atomic_load_explicit(&o->head_ready, memory_order_acquire);
}
static inline uint64_t obj_avail(const struct obj *o)
{
    return atomic_load_explicit(&o->body_len, memory_order_acquire);
}
static inline enum obj_state obj_state(const struct obj *o)
{
    return (enum obj_state)atomic_load_explicit(&o->state, memory_order_acquire);
}

/* Splits a head in the format above into at most <max> fields (views into <head>); returns
 * how many. */
unsigned obj_split_fields(const char *head, size_t len, struct field *out, unsigned max);

/* The value of the first head field named <name> (case-insensitive); .p NULL when absent.
 * Only after obj_has_head(). */
struct span obj_field(const struct obj *o, const char *name);

/* Marks that a reader on worker <worker> waits on <o> (wake-ups go to that worker). */
void obj_wait(struct obj *o, unsigned worker);

/* The function the writer calls after each publication, with the mask of waiting workers.
 * Set once at start-up by the server (it sends each worker an ev_async); NULL: no wake-ups. */
void obj_set_waker(void (*fn)(unsigned mask));

/* The freshness lifetime of <o> in seconds: its ttl, cut short by a soft purge (from the
 * purge on, it is stale; stale-while-revalidate, stale-if-error and grace count from then). */
int64_t obj_ttl(const struct obj *o);

/* Soft purge: marks <o> stale from <now> on (the first purge wins). */
void obj_soft_purge(struct obj *o, int64_t now);

/* Sets <twin> (one reference, taken over) as <o>'s inflated twin unless one is there already.
 * Returns the twin now in place, with a new reference for the caller. */
struct obj *obj_set_twin(struct obj *o, struct obj *twin);

/* <o>'s twin with a new reference, or NULL. */
struct obj *obj_get_twin(struct obj *o);

/* Bytes of memory the object holds (head, body chunks, key, metadata). The writer's, or
 * anyone's once the object is finished. */
size_t obj_size(const struct obj *o);

#endif
