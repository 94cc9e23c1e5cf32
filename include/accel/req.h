/* req.h - one client request. For now: its verdict, what the cache did with it, which the
 * X-Cache and Cache-Status fields (RFC 9211) and the access log are written from. (The rest
 * of a request's state joins it when the request leaves struct conn, issue #12.) */
#ifndef ACCEL_REQ_H
#define ACCEL_REQ_H

#include <stddef.h>
#include <stdint.h>

enum req_verdict {
    REQ_NONE = 0,    /* an answer of accel's own (an error, PURGE): no cache fields */
    REQ_HIT,         /* from a stored object */
    REQ_MISS,        /* fetched for the cache */
    REQ_PASS,        /* sent to the origin, not for the cache */
    REQ_REVALIDATED, /* stale, and the origin confirmed it (304) */
    REQ_STALE,       /* stale, served on purpose (stale-while-revalidate, stale-if-error) */
};

/* Cache-Status "fwd" (why the request went forward); REQ_FWD_NONE for hits. */
enum req_fwd {
    REQ_FWD_NONE = 0,
    REQ_FWD_MISS,     /* not in the cache */
    REQ_FWD_URI_MISS, /* the URL is known not to be stored (hit-for-miss, uncacheable) */
    REQ_FWD_METHOD,   /* the method is not cached */
    REQ_FWD_BYPASS,   /* no cache here, or no key for it */
    REQ_FWD_REQUEST,  /* the client asked for a fresh answer (no-cache) */
    REQ_FWD_STALE,    /* a stale object was revalidated */
};

struct req_cache_status {
    enum req_verdict verdict;
    enum req_fwd fwd;
    unsigned stored : 1;  /* the answer was stored */
    unsigned has_ttl : 1; /* <ttl> is known */
    unsigned quoted : 1;  /* <detail> is written as a quoted string (a reason) */
    unsigned fwd_status;  /* the origin's status when it counts (304), or 0 */
    int64_t ttl;          /* seconds of freshness left */
    const char *detail;   /* a static string, or NULL */
};

/* Writes "X-Cache: <verdict>\r\nCache-Status: accel; ...\r\n" for <s> into <dst> (<cap>
 * bytes, NUL-terminated) and returns its length; nothing (0) for REQ_NONE. No printf: hits
 * call it. */
size_t req_write_cache_status(const struct req_cache_status *s, char *dst, size_t cap);

/* "HIT", "MISS", "PASS", "REVALIDATED", "STALE", or "-" (for the access log). */
const char *req_verdict_name(enum req_verdict v);

#endif
