/* h1out.c - the HTTP/1 ostream of a client connection (part of the conn module, see
 * conn_int.h): how an answer from the cache is framed and written to an HTTP/1 client. The head
 * as text (the stored head rewritten), Content-Length when known, else chunked (or the end of
 * the connection for an HTTP/1.0 client); the body written with one writev from the object's
 * memory behind what is queued in <out>, or framed as chunks (copied) for a length not known. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conn_int.h"

static void h1_head(void *ctx, const struct ostream_head *h)
{
    struct conn *c = ctx;
    char line[64];
    const char *status_line = NULL;

    if (h->status != 0) {
        snprintf(line, sizeof(line), "HTTP/1.1 %u %s", h->status, http_reason(h->status));
        status_line = line;
    }
    if (h->close)
        c->tx.close_after = 1;
    if (h->length == OBJ_LEN_UNKNOWN && !h->nobody) {
        if (c->tx.v10)
            c->tx.close_after = 1; /* the end of the body is the end of the connection */
        else
            c->tx.chunk_out = 1;
    }
    (h->identity ? deliver_head_identity
                 : deliver_head)(&c->out, h->o, status_line, h->age, h->length, c->tx.chunk_out,
                                 c->tx.close_after, c->tx.v10 && !c->tx.close_after, h->extra);
}

static ssize_t h1_body(void *ctx, const struct iovec *iov, unsigned n)
{
    struct conn *c = ctx;
    struct iovec v[17];
    unsigned k = 0;
    ssize_t w;
    size_t take;
    int progress = 0;

    if (c->tx.chunk_out || n > countof(v) - 1) {
        /* Unknown length: frame what is there as one chunk (copied: rare, not the hit path). */
        uint64_t total = 0;

        for (unsigned i = 0; i < n; i++)
            total += iov[i].iov_len;
        if (total > 0)
            http_write_body(&c->out, c->tx.chunk_out, iov, n);
        return conn_flush_client(c, &progress) < 0 ? -1 : (ssize_t)total;
    }
    if (buf_pending(&c->out) > 0)
        v[k++] = (struct iovec){c->out.p + c->out.off, buf_pending(&c->out)};
    if (n > 0) /* (a flush passes no iovec at all) */
        memcpy(v + k, iov, n * sizeof(*iov));
    k += n;
    if (k == 0)
        return 0;
    w = transport_writev(&c->t, v, (int)k);
    if (w < 0)
        return w == -EAGAIN ? 0 : -1;
    take = (size_t)w < buf_pending(&c->out) ? (size_t)w : buf_pending(&c->out);
    buf_consume(&c->out, take);
    return w - (ssize_t)take;
}

static void h1_copy(void *ctx, const void *p, size_t n)
{
    struct conn *c = ctx;

    http_write_body1(&c->out, c->tx.chunk_out, p, n);
}

static size_t h1_pending(void *ctx)
{
    struct conn *c = ctx;

    return buf_pending(&c->out);
}

static void h1_end(void *ctx)
{
    struct conn *c = ctx;

    http_write_body_end(&c->out, c->tx.chunk_out);
}

const struct ostream_ops conn_h1_ostream = {
    .head = h1_head,
    .body = h1_body,
    .copy = h1_copy,
    .pending = h1_pending,
    .end = h1_end,
};
