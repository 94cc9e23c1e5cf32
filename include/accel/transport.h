/* transport.h - every socket call of the server: listening, accepting, connecting, and the
 * byte I/O of one connection through a backend. Backends: plain (a socket), null (a connection
 * with no peer: reads find the end of the stream, writes take every byte; the background
 * refresh uses it). TLS comes next, as a third backend behind the same calls.
 *
 * A struct transport is embedded in its owner (a client connection, an upstream, an admin
 * connection); the owner watches transport_fd() for readiness with its own watchers. Bytes
 * are counted here, once: per connection, and into the owner's totals when it gave some.
 * Nothing here blocks. */
#ifndef ACCEL_TRANSPORT_H
#define ACCEL_TRANSPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct transport;

struct transport_ops {
    const char *name;
    ssize_t (*read)(struct transport *t, void *p, size_t n);
    ssize_t (*writev)(struct transport *t, const struct iovec *iov, int n);
    int (*shutdown)(struct transport *t);
    void (*close)(struct transport *t);
    int (*handshake)(struct transport *t);        /* NULL: there is none */
    size_t (*pending)(const struct transport *t); /* NULL: nothing is ever held back */
};

struct transport {
    const struct transport_ops *ops;
    int fd;                                 /* what to watch for readiness; -1: nothing (null) */
    uint64_t bytes_in, bytes_out;           /* this connection's */
    atomic_uint_fast64_t *sum_in, *sum_out; /* totals to add to as well, or NULL */
    void *impl;                             /* the backend's own state (TLS: its SSL) */
    /* A backend with a protocol of its own (TLS) may need the other direction to go on: after
     * -EAGAIN, rd_wants_wr says the read waits for writability, wr_wants_rd that the write
     * waits for readability. The owner watches for those too (transport_events()). */
    unsigned char rd_wants_wr, wr_wants_rd;
    const char *why; /* the reason of the last failure, for messages (static text), or NULL */
};

/* Sets up <t> over the connected socket <fd> (taken over: transport_close() closes it).
 * <sum_in> and <sum_out>, when not NULL, count every byte too (a worker's counters). */
void transport_plain(struct transport *t, int fd, atomic_uint_fast64_t *sum_in,
                     atomic_uint_fast64_t *sum_out);

/* Sets up <t> as a connection without a peer: transport_read() returns 0 (the end of the
 * stream) and transport_writev() takes every byte and drops it. transport_fd() is -1. */
void transport_null(struct transport *t);

/* Reads at most <n> bytes into <p>. Returns the bytes read (> 0), 0 at the end of the stream,
 * -EAGAIN when nothing is there now, or another negative errno (the connection is broken). */
ssize_t transport_read(struct transport *t, void *p, size_t n);

/* Writes the <n> buffers of <iov>, as many bytes as the connection takes now. Returns the
 * bytes written (>= 0, maybe fewer than given), -EAGAIN when none could go, or another
 * negative errno (-EPIPE, -ECONNRESET: the peer is gone). Never raises SIGPIPE. */
ssize_t transport_writev(struct transport *t, const struct iovec *iov, int n);

/* transport_writev() of one buffer. */
ssize_t transport_write(struct transport *t, const void *p, size_t n);

/* Ends the sending side (the peer reads the end of the stream). Returns 0 or a negative errno. */
int transport_shutdown(struct transport *t);

/* Runs the backend's handshake (TLS) on its own, before the first read: 0 when it is done (at
 * once for plain and null), -EAGAIN while it waits (see rd_wants_wr/wr_wants_rd: it waits for
 * readability unless wr_wants_rd is clear and rd_wants_wr set), or a negative errno when it
 * failed (transport_why() says why). */
int transport_handshake(struct transport *t);

/* Bytes the backend has read from the socket and holds for the next transport_read() (TLS
 * records already decrypted): readability of the descriptor will not announce them. */
static inline size_t transport_pending(const struct transport *t)
{
    return t->ops->pending != NULL ? t->ops->pending(t) : 0;
}

/* The events to watch on transport_fd() for an owner that wants to read (<rd>) and/or write
 * (<wr>): the same, plus what the backend's last -EAGAIN needs. Sets *<ev_rd>, *<ev_wr>. */
static inline void transport_events(const struct transport *t, int rd, int wr, int *ev_rd,
                                    int *ev_wr)
{
    *ev_rd = rd || (wr && t->wr_wants_rd);
    *ev_wr = wr || (rd && t->rd_wants_wr);
}

/* Why the last call failed, for a log line ("certificate verify failed: ..."), or the text of
 * <err> when the backend has nothing better. */
const char *transport_why(const struct transport *t, int err);

/* Closes the connection; the watchers on transport_fd() must be stopped first. Idempotent:
 * afterwards transport_fd() is -1. */
void transport_close(struct transport *t);

/* The descriptor to watch for readiness, or -1 (null backend, or closed). */
static inline int transport_fd(const struct transport *t)
{
    return t->fd;
}

/* ---- sockets --------------------------------------------------------------------------------- */

/* A non-blocking listening socket on <sa> (<len> bytes) with <backlog>; with <shared>, one of a
 * SO_REUSEPORT group (the workers' sockets on one address). Returns the descriptor or a
 * negative errno. */
int transport_listen(const struct sockaddr_storage *sa, socklen_t len, int shared, int backlog);

/* Accepts one connection on listening socket <lfd>: its descriptor (non-blocking, TCP_NODELAY),
 * with the peer's address in <peer> and *<len>, or a negative errno (-EAGAIN: none waiting). */
int transport_accept(int lfd, struct sockaddr_storage *peer, socklen_t *len);

/* Starts a non-blocking connection to <sa> and sets up <t> over it (plain, not counted into
 * totals). Sets *<connected> when it is up already, else its completion is writability on
 * transport_fd() and transport_connect_result() tells how it went. Returns 0, or a negative
 * errno (nothing to close then). */
int transport_connect(struct transport *t, const struct sockaddr_storage *sa, socklen_t len,
                      int *connected);

/* After writability of a connection still being set up: 0 when it is up, else the negative
 * errno of the failed connect. */
int transport_connect_result(struct transport *t);

/* The local address of socket <fd> (a port 0 that the kernel chose). 0 or a negative errno. */
int transport_local_addr(int fd, struct sockaddr_storage *sa, socklen_t *len);

/* Closes a descriptor that transport_listen() or transport_accept() returned and that no
 * struct transport owns (a listener, a connection refused at once). */
void transport_close_fd(int fd);

/* Ends the sending side of socket <fd> (for a backend's own shutdown). 0 or a negative errno. */
int transport_shutdown_fd(int fd);

/* Writes <n> bytes of <p> to socket <fd> as they are, below any backend, without waiting (a
 * backend's last word in the clear, e.g. TLS's answer to plain HTTP). Best effort: the bytes
 * written, or a negative errno. */
ssize_t transport_send_clear(int fd, const void *p, size_t n);

#endif
