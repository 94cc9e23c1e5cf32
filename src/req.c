/* req.c - a request's verdict and the one writer of the fields that tell it (X-Cache, and
 * Cache-Status as RFC 9211 spells it: "accel; hit; ttl=N", "accel; fwd=miss; stored; ttl=N",
 * "accel; fwd=uri-miss; detail=\"private\"", "accel; fwd=stale; fwd-status=304; ttl=N"). */
#include "accel/req.h"

#include <string.h>

static const char *const verdict_names[] = {"-", "HIT", "MISS", "PASS", "REVALIDATED", "STALE"};
static const char *const fwd_names[] = {NULL,     "miss",    "uri-miss", "method",
                                        "bypass", "request", "stale"};

const char *req_verdict_name(enum req_verdict v)
{
    return (unsigned)v < sizeof(verdict_names) / sizeof(verdict_names[0]) ? verdict_names[v] : "-";
}

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *s)
{
    size_t n = strlen(s);

    if (o->len + n >= o->cap)
        n = o->cap - 1 - o->len;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_int(struct out *o, int64_t v)
{
    char num[24];
    size_t n = sizeof(num);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    num[--n] = '\0';
    do {
        num[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        num[--n] = '-';
    put(o, num + n);
}

size_t req_write_cache_status(const struct req_cache_status *s, char *dst, size_t cap)
{
    struct out o = {dst, 0, cap};

    if (cap == 0)
        return 0;
    if (s->verdict == REQ_NONE) {
        dst[0] = '\0';
        return 0;
    }
    put(&o, "X-Cache: ");
    put(&o, req_verdict_name(s->verdict));
    put(&o, "\r\nCache-Status: accel; ");
    if (s->fwd == REQ_FWD_NONE) {
        put(&o, "hit");
    } else {
        put(&o, "fwd=");
        put(&o, fwd_names[s->fwd]);
    }
    if (s->fwd_status != 0) {
        put(&o, "; fwd-status=");
        put_int(&o, s->fwd_status);
    }
    if (s->stored)
        put(&o, "; stored");
    if (s->has_ttl) {
        put(&o, "; ttl=");
        put_int(&o, s->ttl);
    }
    if (s->detail != NULL) {
        put(&o, s->quoted ? "; detail=\"" : "; detail=");
        put(&o, s->detail);
        if (s->quoted)
            put(&o, "\"");
    }
    put(&o, "\r\n");
    dst[o.len] = '\0';
    return o.len;
}
