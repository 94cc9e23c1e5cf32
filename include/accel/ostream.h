/* ostream.h - where an answer from the cache goes: one output interface (head, body, end) that
 * deliver.c writes through, knowing nothing of framing or sockets. HTTP/1 implements it once
 * (src/h1out.c, part of the conn module: the head as text, chunked or counted bodies, writev
 * from the object's memory); HTTP/2 will be a second implementation. */
#ifndef ACCEL_OSTREAM_H
#define ACCEL_OSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct obj;

struct ostream_head {
    const struct obj *o; /* the stored head and fields */
    unsigned status;     /* in place of the stored status (304, 206, 416, 500), or 0 */
    int64_t age;
    uint64_t length;   /* body bytes; OBJ_LEN_UNKNOWN while not known (the stream frames it) */
    int identity;      /* the body is inflated: the fields of the transformed representation */
    int nobody;        /* no body follows (a HEAD request, 304, 416) */
    int close;         /* the connection ends after this answer */
    const char *extra; /* more fields, "Name: value\r\n" lines (X-Cache, Cache-Status, Range) */
};

struct ostream_ops {
    /* Queues the head of the answer. */
    void (*head)(void *ctx, const struct ostream_head *h);
    /* Writes what is queued, then body bytes straight from <iov> (the object's memory) as far
     * as the peer takes them. Returns how many bytes of <iov> it took (<n> may be 0: a flush),
     * or -1 when the peer is gone. */
    ssize_t (*body)(void *ctx, const struct iovec *iov, unsigned n);
    /* Queues a copy of <n> body bytes (the inflater's output). */
    void (*copy)(void *ctx, const void *p, size_t n);
    /* Bytes queued and not written yet. */
    size_t (*pending)(void *ctx);
    /* The body is complete: queues its end. */
    void (*end)(void *ctx);
};

struct ostream {
    const struct ostream_ops *ops;
    void *ctx;
};

#endif
