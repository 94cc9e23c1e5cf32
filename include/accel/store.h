/* store.h - the cache sink: an origin fetch (fetch.h) filling one busy object.
 *
 * A miss starts a store: it sends the request through a fetch and, at the response head, makes
 * the store decision (RFC 9111 policy, max_object_size, hit-for-miss with its reason), merges a
 * 304 into the stale copy it revalidated, chooses the encoding (gzip on the way in, or the
 * origin's gzip checked) and the Vary values, then fills the object as fast as the origin sends
 * (readers stream from the object; none of them slows the fetch down).
 *
 * The request that caused the miss is the store's owner until the head arrives: it learns the
 * decision through store_owner_ops. When the answer is not stored, or its length is unknown (it
 * may outgrow max_object_size and the owner must still get all of it), the fetch is handed to the
 * owner, which streams it as a pass (copying it into the object for a tee). An owner that leaves
 * first detaches; the store then goes on alone for the subscribers. A background refresh
 * (stale-while-revalidate) is a store without an owner. */
#ifndef ACCEL_STORE_H
#define ACCEL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "accel/http.h"
#include "accel/obj.h"
#include "accel/policy.h"

struct worker;
struct fetch;
struct store;
struct cache;
struct conf;
struct conf_server;
struct conf_upstream;
struct gz_enc;
struct gz_dec;

/* How the origin's body bytes go into a cached object: as they are; gzipped on the way (<enc>);
 * or as they are but checked to be gzip (<check>, for an origin that sent gzip). */
struct store_filter {
    struct gz_enc *enc;
    struct gz_dec *check;
    int bad; /* the origin's gzip was corrupt, or compressing failed: the object is not stored */
    struct buf pend; /* compressed bytes not in the object yet: it takes them in whole chunks */
};

/* Appends the <n> bytes at <p> to busy object <o> of cache <c> through <sf> (the object grows
 * by the bytes stored, compressed or not, accounted to the cache). A corrupt gzip from the
 * origin is logged once and the object leaves the index: it still gets every byte, as they
 * came, for those reading it, but it is not stored. */
void store_body(struct cache *c, struct obj *o, struct store_filter *sf, const void *p, size_t n);

/* The origin's body ended: appends the compressor's tail. Returns 0, or -1 when the object
 * must not be stored (corrupt or truncated gzip from the origin). Frees the filter's streams. */
int store_finish(struct cache *c, struct obj *o, struct store_filter *sf);

/* Frees the filter's streams (a fetch that failed). */
void store_filter_fini(struct store_filter *sf);

enum store_outcome {
    STORE_STORED,      /* the object has its head and fills: read it */
    STORE_REVALIDATED, /* a 304 refreshed the stale copy into the object, complete: read it */
    STORE_STALE,       /* the origin failed (5xx) and the stale copy may stand in: serve it */
    STORE_PASS,        /* not stored (<reason>): take the fetch as your sink (fetch_set_sink) */
    STORE_TEE,         /* stored, length unknown: take the fetch, copy its body through <sf> */
};

struct store_owner_ops {
    /* An interim answer (102, 103...) before the head, for the owner's client. */
    void (*interim)(void *owner, const struct http_head *h);
    /* The decision at the response head. For STORE_PASS and STORE_TEE the owner must call
     * fetch_set_sink(<f>, ...) before it returns (its sink then gets the head); for STORE_TEE
     * it takes over <*sf>. */
    void (*decided)(void *owner, enum store_outcome out, struct fetch *f, const char *reason,
                    struct store_filter *sf);
    /* The fetch failed before the head: the object failed. <status> 502 or 504. */
    void (*failed)(void *owner, unsigned status, const char *why);
};

struct store_req {
    struct obj *obj;                /* the busy object to fill (the store takes a reference) */
    struct obj *stale;              /* the copy a conditional fetch revalidates, or NULL */
    const struct http_head *head;   /* the request: its fields are copied (Vary) */
    const struct http_fwd *fwd;     /* how to forward it */
    const struct conf_upstream *up; /* where to */
    uint64_t hash;                  /* its place on the upstream's hash ring */
    int64_t default_ttl;            /* seconds for answers that say nothing; -1: the cache's */
    struct cc rcc;                  /* the request's Cache-Control */
    int64_t t_req;                  /* when it came (seconds) */
    const char *client;             /* for the logs */
};

/* Starts filling r->obj through a fetch. <ops>/<owner> may be NULL (no owner). Returns the
 * store, or NULL when the fetch could not even start (the object failed, its subscribers learn
 * it; the caller answers 502). */
struct store *store_start(struct worker *w, const struct conf *conf, const struct store_req *r,
                          const struct store_owner_ops *ops, void *owner);

/* The owner leaves before the decision: the store goes on alone. *<sp> = NULL. */
void store_detach(struct store **sp);

/* stale-while-revalidate: refreshes <stale> in the background (its lookup revalidates the
 * stale copy like any miss would, and the refreshed object replaces it). */
void store_refresh(struct worker *w, const struct obj *stale);

/* May <stale> stand in for an origin that fails at <now>: stale-if-error, or <grace_ms> past
 * expiry, unless it must be revalidated? */
int store_stale_usable(const struct obj *stale, int64_t now, uint64_t grace_ms);

#endif
