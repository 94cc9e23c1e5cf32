/* deliver.h - an object (complete or still growing) to one client: the choice of the answer
 * (the stored one, 304, 206 or 416 for a range, inflated for a client without gzip), its head,
 * and the walk over body chunks as iovecs, so that a hit is written straight from the object's
 * memory with no copy and no allocation. Everything goes out through an ostream (ostream.h):
 * no sockets and no framing here. */
#ifndef ACCEL_DELIVER_H
#define ACCEL_DELIVER_H

#include <stdint.h>
#include <sys/uio.h>

#include "accel/base.h"
#include "accel/obj.h"
#include "accel/ostream.h"

struct gz_dec;

#define DELIVER_ZOUT (16 * 1024) /* the inflater's output buffer */

struct deliver {
    struct obj *o;         /* not owned: the caller holds a reference */
    uint64_t pos;          /* body bytes delivered */
    struct obj_cursor cur; /* where the body walk is (at the chunk holding byte <pos>) */
    uint64_t end;          /* the delivery stops before this body offset (a range) */
    int nobody;            /* the answer has no body (HEAD, 304, 416, 204) */
    int zfull;             /* the inflater filled <zout>: it may hold more */
    struct gz_dec *unzip;  /* inflating the gzip body (the client does not take gzip) */
    char *zout;            /* DELIVER_ZOUT bytes, the caller's */
};

/* Starts a delivery of <o> (its answer not chosen yet). Keeps <d>'s inflater. */
void deliver_init(struct deliver *d, struct obj *o);

/* What deliver_answer() needs of the request. */
struct deliver_req {
    const struct field *fields; /* the request's header fields */
    unsigned n_fields;
    int head_req;
    int64_t now;
    char *extra;      /* the answer's own fields (X-Cache...), NUL-terminated, in a buffer of */
    size_t extra_cap; /* <extra_cap> bytes: Content-Range is appended there */
    struct gz_dec **spare; /* a reset inflater to take (*spare may be NULL: one is made) */
    char **zout;           /* the inflater's output buffer (made when *zout is NULL) */
};

/* Chooses the answer from d->o (304 when the request's validators match, 206/416 for a byte
 * range of a complete object, inflated when the object is gzip and the client does not take
 * it, else the stored one), sends its head to <os> and sets the body window and d->nobody.
 * Returns the status sent. */
unsigned deliver_answer(struct deliver *d, const struct deliver_req *r, const struct ostream *os);

enum deliver_step {
    DELIVER_BLOCKED, /* the peer takes no more now: wait until it can */
    DELIVER_STARVED, /* everything the object holds went: wait for it to grow */
    DELIVER_END,     /* the body is complete (its end is queued in <os>) */
    DELIVER_BROKEN,  /* the peer is gone, the object failed or its gzip is corrupt: close */
};

/* Writes the body from the delivery position to <os>, as far as the peer and the object go. */
enum deliver_step deliver_body(struct deliver *d, const struct ostream *os);

/* Ends a delivery: its inflater is reset and kept in *<spare> (zlib's state costs ~40 KiB to
 * set up). */
void deliver_fini(struct deliver *d, struct gz_dec **spare);

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
