/* deliver.h - an object (complete or still growing) to one client: the head rewrite and the
 * walk over body chunks as iovecs, so that a hit is written straight from the object's memory
 * with no copy and no allocation. No sockets here: the connection does the writev. */
#ifndef ACCEL_DELIVER_H
#define ACCEL_DELIVER_H

#include <stdint.h>
#include <sys/uio.h>

#include "accel/base.h"
#include "accel/obj.h"

struct deliver {
    struct obj *o;         /* not owned: the caller holds a reference */
    uint64_t pos;          /* body bytes delivered */
    struct obj_cursor cur; /* where the body walk is (at the chunk holding byte <pos>) */
};

void deliver_init(struct deliver *d, struct obj *o);

/* Fills at most <max> iovecs with the body bytes from pos up to <avail> (a value of
 * obj_avail(o) the caller loaded). Returns how many iovecs. */
unsigned deliver_iov(struct deliver *d, uint64_t avail, struct iovec *iov, unsigned max);

/* Marks <n> more body bytes delivered (they must have been offered by deliver_iov). */
void deliver_advance(struct deliver *d, uint64_t n);

/* Appends the head for <o> to <b>: its stored head (with <status_line>, such as "HTTP/1.1 206
 * Partial Content", in place of the stored one when not NULL), then Age <age>, Content-Length
 * <length>
 * (unless it is OBJ_LEN_UNKNOWN, or the status has no body), Via, <extra> (as is: X-Cache,
 * Cache-Status), "Transfer-Encoding: chunked" when <chunked>, "Connection: close" when
 * <close> or "Connection: keep-alive" when <keepalive_10>, and the empty line. */
void deliver_head(struct buf *b, const struct obj *o, const char *status_line, int64_t age,
                  uint64_t length, int chunked, int close, int keepalive_10, const char *extra);

/* deliver_head() for a gzip object delivered inflated: without Content-Encoding, a strong ETag
 * made weak (the bytes differ from the stored ones). */
void deliver_head_identity(struct buf *b, const struct obj *o, const char *status_line, int64_t age,
                           uint64_t length, int chunked, int close, int keepalive_10,
                           const char *extra);

/* RFC 9110 §13: does the request's If-None-Match (weak comparison, "*" matches) or, without
 * it, If-Modified-Since (against Last-Modified, else Date, RFC 9111 §4.3.2) let a stored 200
 * <o> be answered with 304?
 * Returns 1 for 304, 0 for the full answer. <now> bounds If-Modified-Since dates. */
int deliver_not_modified(const struct obj *o, const struct field *f, unsigned n, int64_t now);

enum deliver_range {
    DELIVER_FULL = 0,      /* no Range, or one accel ignores (several ranges, other units) */
    DELIVER_PARTIAL,       /* 206 with [*first, *last] */
    DELIVER_UNSATISFIABLE, /* 416 */
};

/* RFC 9110 §14: a single "bytes" range of the request <f> on a complete representation of
 * <len> bytes, honouring If-Range (an ETag, strong comparison, or a date equal to
 * Last-Modified). */
enum deliver_range deliver_range(const struct obj *o, uint64_t len, const struct field *f,
                                 unsigned n, uint64_t *first, uint64_t *last);

#endif
