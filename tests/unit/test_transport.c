/* test_transport.c - the transport layer over real sockets on the loopback: byte counts, the
 * three outcomes of a read or write (progress, -EAGAIN, failure), the null backend, and
 * listening, accepting and connecting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accel/transport.h"

static void setup(void)
{
    signal(SIGPIPE, SIG_DFL); /* a write to a closed peer must not raise it */
}

TestSuite(transport, .init = setup);

static void pair(struct transport *a, struct transport *b, atomic_uint_fast64_t *in,
                 atomic_uint_fast64_t *out)
{
    int sv[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    transport_plain(a, sv[0], in, out);
    transport_plain(b, sv[1], NULL, NULL);
}

Test(transport, plain_counts_bytes_once_per_side)
{
    atomic_uint_fast64_t in = 0, out = 0;
    struct transport a, b;
    struct iovec iov[2] = {{"hel", 3}, {"lo", 2}};
    char buf[16];

    pair(&a, &b, &in, &out);
    cr_assert_eq(transport_writev(&a, iov, 2), 5);
    cr_assert_eq(transport_read(&b, buf, sizeof(buf)), 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    cr_assert_eq(transport_write(&b, "abc", 3), 3);
    cr_assert_eq(transport_read(&a, buf, sizeof(buf)), 3);
    cr_assert_eq(a.bytes_out, 5);
    cr_assert_eq(a.bytes_in, 3);
    cr_assert_eq(atomic_load(&out), 5);
    cr_assert_eq(atomic_load(&in), 3);
    cr_assert_eq(b.bytes_in, 5, "the peer counts its own");
    transport_close(&a);
    transport_close(&b);
}

Test(transport, nothing_there_is_eagain_then_eof_is_zero)
{
    struct transport a, b;
    char buf[4];

    pair(&a, &b, NULL, NULL);
    cr_assert_eq(transport_read(&a, buf, sizeof(buf)), -EAGAIN);
    cr_assert_eq(transport_shutdown(&b), 0);
    cr_assert_eq(transport_read(&a, buf, sizeof(buf)), 0);
    transport_close(&a);
    transport_close(&b);
}

Test(transport, full_socket_is_eagain_and_gone_peer_is_an_error_without_sigpipe)
{
    struct transport a, b;
    static char big[1 << 16];
    ssize_t n;
    int rounds = 0;

    pair(&a, &b, NULL, NULL);
    while ((n = transport_write(&a, big, sizeof(big))) > 0)
        cr_assert_lt(++rounds, 10000);
    cr_assert_eq(n, -EAGAIN);
    transport_close(&b);
    n = transport_write(&a, big, 1);
    cr_assert(n == -EPIPE || n == -ECONNRESET, "write to a closed peer: %zd", n);
    transport_close(&a);
}

Test(transport, close_is_idempotent)
{
    struct transport a, b;

    pair(&a, &b, NULL, NULL);
    transport_close(&a);
    cr_assert_eq(transport_fd(&a), -1);
    transport_close(&a);
    transport_close(&b);
}

Test(transport, null_backend_ends_reads_and_takes_writes)
{
    struct transport t;
    struct iovec iov[2] = {{"abc", 3}, {"de", 2}};
    char buf[4];

    transport_null(&t);
    cr_assert_eq(transport_fd(&t), -1);
    cr_assert_eq(transport_read(&t, buf, sizeof(buf)), 0);
    cr_assert_eq(transport_writev(&t, iov, 2), 5);
    cr_assert_eq(t.bytes_out, 5);
    transport_close(&t);
}

Test(transport, listen_accept_connect_on_loopback)
{
    struct sockaddr_storage ss = {0}, peer;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    socklen_t len = sizeof(*sin), plen = sizeof(peer);
    struct transport c, s;
    struct pollfd pfd;
    int lfd, fd, connected;
    char buf[4];

    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = transport_listen(&ss, len, 1, 16);
    cr_assert_geq(lfd, 0, "listen: %s", strerror(-lfd));
    cr_assert_eq(transport_local_addr(lfd, &ss, &len), 0);
    cr_assert_neq(sin->sin_port, 0);
    cr_assert_eq(transport_accept(lfd, &peer, &plen), -EAGAIN);
    cr_assert_eq(transport_connect(&c, &ss, len, &connected), 0);
    if (!connected) {
        pfd = (struct pollfd){.fd = transport_fd(&c), .events = POLLOUT};
        cr_assert_eq(poll(&pfd, 1, 5000), 1);
        cr_assert_eq(transport_connect_result(&c), 0);
    }
    pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1);
    fd = transport_accept(lfd, &peer, &plen);
    cr_assert_geq(fd, 0);
    transport_plain(&s, fd, NULL, NULL);
    cr_assert_eq(transport_write(&c, "hi", 2), 2);
    pfd = (struct pollfd){.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1);
    cr_assert_eq(transport_read(&s, buf, sizeof(buf)), 2);
    transport_close(&c);
    transport_close(&s);
    transport_close_fd(lfd);
}

Test(transport, refused_connect_reports_its_errno)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    socklen_t len = sizeof(*sin);
    struct transport c;
    struct pollfd pfd;
    int lfd, rc, connected;

    /* a port that was just free */
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = transport_listen(&ss, len, 0, 1);
    cr_assert_geq(lfd, 0);
    cr_assert_eq(transport_local_addr(lfd, &ss, &len), 0);
    transport_close_fd(lfd);
    rc = transport_connect(&c, &ss, len, &connected);
    if (rc == 0) {
        cr_assert_not(connected);
        pfd = (struct pollfd){.fd = transport_fd(&c), .events = POLLOUT};
        cr_assert_eq(poll(&pfd, 1, 5000), 1);
        rc = transport_connect_result(&c);
        transport_close(&c);
    }
    cr_assert_eq(rc, -ECONNREFUSED, "connect to a closed port: %s", strerror(-rc));
}

Test(transport, second_plain_listener_on_a_shared_port_is_refused)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    socklen_t len = sizeof(*sin);
    int a, b;

    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a = transport_listen(&ss, len, 1, 16);
    cr_assert_geq(a, 0);
    cr_assert_eq(transport_local_addr(a, &ss, &len), 0);
    b = transport_listen(&ss, len, 1, 16);
    cr_assert_geq(b, 0, "the SO_REUSEPORT group takes a second member");
    cr_assert_eq(transport_listen(&ss, len, 0, 16), -EADDRINUSE,
                 "a socket without SO_REUSEPORT finds the group: the probe accel relies on");
    transport_close_fd(a);
    transport_close_fd(b);
}
