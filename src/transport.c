/* transport.c - the socket calls of the server and the backends of a connection's byte I/O.
 *
 * A struct transport is a small value its owner embeds: the backend's operations, the
 * descriptor to watch, and the byte counts. The plain backend is the socket itself; the null
 * backend has no descriptor and no peer. Every call returns a negative errno rather than
 * setting errno, and retries EINTR itself, so callers see three cases: progress, -EAGAIN (wait
 * for readiness) and failure. */
#include "accel/transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "accel/base.h"

static void count(struct transport *t, ssize_t n, int out)
{
    if (n <= 0)
        return;
    if (out) {
        t->bytes_out += (uint64_t)n;
        if (t->sum_out != NULL)
            atomic_fetch_add_explicit(t->sum_out, (uint64_t)n, memory_order_relaxed);
    } else {
        t->bytes_in += (uint64_t)n;
        if (t->sum_in != NULL)
            atomic_fetch_add_explicit(t->sum_in, (uint64_t)n, memory_order_relaxed);
    }
}

/* ---- plain ----------------------------------------------------------------------------------- */

static ssize_t plain_read(struct transport *t, void *p, size_t n)
{
    ssize_t r;

    do
        r = read(t->fd, p, n);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return r;
}

static ssize_t plain_writev(struct transport *t, const struct iovec *iov, int n)
{
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t r;

    do
        r = sendmsg(t->fd, &m, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return r;
}

static int plain_shutdown(struct transport *t)
{
    return transport_shutdown_fd(t->fd);
}

static void plain_close(struct transport *t)
{
    close(t->fd);
}

static const struct transport_ops plain_ops = {
    .name = "plain",
    .read = plain_read,
    .writev = plain_writev,
    .shutdown = plain_shutdown,
    .close = plain_close,
};

void transport_plain(struct transport *t, int fd, atomic_uint_fast64_t *sum_in,
                     atomic_uint_fast64_t *sum_out)
{
    AN(fd >= 0);
    *t = (struct transport){.ops = &plain_ops, .fd = fd, .sum_in = sum_in, .sum_out = sum_out};
}

/* ---- null ------------------------------------------------------------------------------------ */

static ssize_t null_read(struct transport *t, void *p, size_t n)
{
    (void)t;
    (void)p;
    (void)n;
    return 0;
}

static ssize_t null_writev(struct transport *t, const struct iovec *iov, int n)
{
    size_t total = 0;

    (void)t;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    return (ssize_t)total;
}

static int null_shutdown(struct transport *t)
{
    (void)t;
    return 0;
}

static void null_close(struct transport *t)
{
    (void)t;
}

static const struct transport_ops null_ops = {
    .name = "null",
    .read = null_read,
    .writev = null_writev,
    .shutdown = null_shutdown,
    .close = null_close,
};

void transport_null(struct transport *t)
{
    *t = (struct transport){.ops = &null_ops, .fd = -1};
}

/* ---- a connection's I/O ---------------------------------------------------------------------- */

ssize_t transport_read(struct transport *t, void *p, size_t n)
{
    ssize_t r;

    AN(t->ops != NULL);
    r = t->ops->read(t, p, n);
    count(t, r, 0);
    return r;
}

ssize_t transport_writev(struct transport *t, const struct iovec *iov, int n)
{
    ssize_t r;

    AN(t->ops != NULL);
    r = t->ops->writev(t, iov, n);
    count(t, r, 1);
    return r;
}

ssize_t transport_write(struct transport *t, const void *p, size_t n)
{
    struct iovec iov = {(void *)p, n};

    return transport_writev(t, &iov, 1);
}

int transport_handshake(struct transport *t)
{
    AN(t->ops != NULL);
    return t->ops->handshake != NULL ? t->ops->handshake(t) : 0;
}

const char *transport_why(const struct transport *t, int err)
{
    if (t->why != NULL)
        return t->why;
    return strerror(err < 0 ? -err : err);
}

int transport_shutdown(struct transport *t)
{
    return t->ops != NULL ? t->ops->shutdown(t) : 0;
}

void transport_close(struct transport *t)
{
    if (t->ops == NULL)
        return;
    t->ops->close(t);
    t->ops = NULL;
    t->fd = -1;
}

/* ---- sockets --------------------------------------------------------------------------------- */

int transport_listen(const struct sockaddr_storage *sa, socklen_t len, int shared, int backlog)
{
    int fd, one = 1, rc;

    fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0))
        goto fail;
    if (sa->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)sa, len) < 0 || listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

int transport_accept(int lfd, struct sockaddr_storage *peer, socklen_t *len)
{
    int fd, one = 1;

    do
        fd = accept4(lfd, (struct sockaddr *)peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (peer->ss_family == AF_INET || peer->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int transport_connect(struct transport *t, const struct sockaddr_storage *sa, socklen_t len,
                      int *connected)
{
    int fd, one = 1, rc;

    *connected = 0;
    fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)sa, len) == 0) {
        *connected = 1;
    } else if (errno != EINPROGRESS) {
        rc = -errno;
        close(fd);
        return rc;
    }
    transport_plain(t, fd, NULL, NULL);
    return 0;
}

int transport_connect_result(struct transport *t)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

int transport_local_addr(int fd, struct sockaddr_storage *sa, socklen_t *len)
{
    *len = sizeof(*sa);
    return getsockname(fd, (struct sockaddr *)sa, len) < 0 ? -errno : 0;
}

void transport_close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}

int transport_shutdown_fd(int fd)
{
    return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}

ssize_t transport_send_clear(int fd, const void *p, size_t n)
{
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

    return w < 0 ? -errno : w;
}
