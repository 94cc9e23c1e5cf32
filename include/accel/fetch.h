/* fetch.h - one origin fetch filling one busy object, on its own: no client reads from it
 * directly, so no client (slow, gone or many) slows it down.
 *
 * A fetch starts inside a client connection's exchange (the first request of a cold key sends
 * it) and is adopted here once its response head has shown the response can be stored: the
 * upstream, the bytes already read and the parser move into a struct fetch, which reads the
 * rest of the body into the object, completes it (or fails it) and gives the upstream back to
 * the pool. It lives on the worker that started it and is freed when it ends. */
#ifndef ACCEL_FETCH_H
#define ACCEL_FETCH_H

#include <stddef.h>

#include "accel/http.h"
#include "accel/obj.h"
#include "accel/origin.h"

struct worker;
struct fetch;
struct cache;
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

/* What the exchange hands over: the upstream, its input buffer (owned; <pos> bytes of <len>
 * parsed) and its response parser, paused right after the head. */
struct fetch_handover {
    struct origin_conn *up;
    char *in;
    size_t len, cap, pos;
    struct http_parser *resp;      /* copied; the caller must not use it afterwards */
    struct store_filter sf;        /* moved */
    double t_origin;               /* when the request went (ev_now) */
    const struct conf *conf;       /* the request's snapshot: the fetch pins it too */
    const struct conf_server *srv; /* the server asked (in <conf>) */
};

/* Adopts the exchange in <h> to fill <o> (the fetch takes its own reference). Takes ownership
 * of h->up and h->in and clears them. Returns at once; the rest runs on <w>'s loop. */
void fetch_adopt(struct worker *w, struct obj *o, struct fetch_handover *h);

/* Fails and frees every fetch of <w> (worker shutdown). */
void fetch_abort_all(struct worker *w);

#endif
