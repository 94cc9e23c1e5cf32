/* fixed.c - accel-fixed, the benchmarks' reference limit: the cheapest HTTP server we can write.
 *
 * It answers every request with the same pre-built 200 response (a SIZE-byte body, 1 KiB by
 * default) and never parses anything: it counts the "\r\n\r\n" sequences in what it reads (the
 * end of a request head; requests with a body are not supported) and writes one response for
 * each. Keep-alive only: the connection stays open until the client closes it. One thread, one
 * libev loop. What a caching proxy does on a hit (parse, look up, rewrite a few fields, write) is
 * a superset of this, so its req/s on this box is the ceiling for every cache in
 * bench/hit-bench.sh.
 *
 * Ownership: main() owns the loop, the listener and the response bytes (built once, read-only);
 * a connection owns its fd and its two watchers and is freed by conn_close(), after which its
 * caller returns at once. Connections still open at SIGINT/SIGTERM are left to exit().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define FIXED_IN_CAP       16384         /* bytes read at once */
#define FIXED_IOV_MAX      64            /* responses per writev */
#define FIXED_PENDING_HIGH 4096          /* stop reading while this many answers are owed */
#define FIXED_SIZE_MAX     (64ULL << 20) /* largest -s */
#define FIXED_ACCEPT_MAX   64            /* accepts per wake-up */

#define container_of(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

struct conn {
    int fd;
    ev_io rio;
    ev_io wio;
    unsigned match; /* how many bytes of "\r\n\r\n" the input so far ends with (0..3) */
    uint64_t owed;  /* responses still to write, the one in progress included */
    size_t off;     /* bytes of the response in progress already written */
    int reading;    /* rio is started */
};

static const char *resp; /* the whole response, head and body */
static size_t resp_len;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL) {
        fprintf(stderr, "accel-fixed: out of memory\n");
        abort();
    }
    return p;
}

static void conn_close(struct ev_loop *loop, struct conn *c)
{
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    close(c->fd);
    free(c);
}

/* Writes what is owed. Returns 0, or -1 when the connection was closed (a write error). */
static int conn_flush(struct ev_loop *loop, struct conn *c)
{
    struct iovec iov[FIXED_IOV_MAX];
    ssize_t n;
    size_t done;
    int i, cnt;

    while (c->owed > 0) {
        cnt = c->owed < FIXED_IOV_MAX ? (int)c->owed : FIXED_IOV_MAX;
        for (i = 0; i < cnt; i++) {
            iov[i].iov_base = (void *)(resp + (i == 0 ? c->off : 0));
            iov[i].iov_len = resp_len - (i == 0 ? c->off : 0);
        }
        n = writev(c->fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(loop, c);
            return -1;
        }
        done = (size_t)n + c->off;
        c->owed -= done / resp_len;
        c->off = done % resp_len;
    }
    if (c->owed > 0)
        ev_io_start(loop, &c->wio);
    else
        ev_io_stop(loop, &c->wio);
    /* backpressure: a client that sends faster than it reads is not read any more */
    if (c->owed >= FIXED_PENDING_HIGH && c->reading) {
        ev_io_stop(loop, &c->rio);
        c->reading = 0;
    } else if (c->owed < FIXED_PENDING_HIGH && !c->reading) {
        ev_io_start(loop, &c->rio);
        c->reading = 1;
    }
    return 0;
}

/* Counts the request heads that end in <p>, carrying a partial "\r\n\r\n" across reads. */
static void conn_count(struct conn *c, const char *p, size_t len)
{
    static const char eoh[4] = {'\r', '\n', '\r', '\n'};
    unsigned m = c->match;
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] == eoh[m]) {
            if (++m == 4) {
                c->owed++;
                m = 0;
            }
        } else {
            m = p[i] == '\r' ? 1 : 0;
        }
    }
    c->match = m;
}

static void on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = container_of(io, struct conn, rio);
    char in[FIXED_IN_CAP];
    ssize_t n;

    (void)revents;
    n = read(c->fd, in, sizeof(in));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(loop, c);
        return;
    }
    conn_count(c, in, (size_t)n);
    conn_flush(loop, c);
}

static void on_writable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = container_of(io, struct conn, wio);

    (void)revents;
    conn_flush(loop, c);
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c;
    int i, fd, one = 1;

    (void)revents;
    for (i = 0; i < FIXED_ACCEPT_MAX; i++) {
        fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = xmalloc(sizeof(*c));
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->reading = 1;
        ev_io_init(&c->rio, on_readable, fd, EV_READ);
        ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
        ev_io_start(loop, &c->rio);
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)s;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Builds the one response: a head like accel-origin's and <size> bytes of text. */
static void resp_init(size_t size)
{
    char head[256];
    char *p;
    int hlen;
    size_t i;

    hlen = snprintf(head, sizeof(head),
                    "HTTP/1.1 200 OK\r\nServer: accel-fixed\r\nContent-Type: text/plain\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    size);
    p = xmalloc((size_t)hlen + size);
    memcpy(p, head, (size_t)hlen);
    for (i = 0; i < size; i++)
        p[hlen + i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
    resp = p;
    resp_len = (size_t)hlen + size;
}

/* Resolves "ADDR:PORT" ("[v6]:PORT" too) into *<ss>. Returns 0 or -EINVAL. */
static int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    struct addrinfo hints, *res;
    size_t hlen;
    int rc;

    if (colon == NULL || colon[1] == '\0')
        return -EINVAL;
    hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        s++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(hlen > 0 ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "accel-fixed: %s: %s\n", s, gai_strerror(rc));
        return -EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Parses a byte count with an optional k/m suffix (powers of 1024) into *<out>. */
static int size_parse(const char *s, size_t *out)
{
    unsigned long long v, mul = 1;
    char *end;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || s[0] == '-')
        return -EINVAL;
    if (*end == 'k' || *end == 'K')
        mul = 1024;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024;
    if (mul > 1)
        end++;
    if (*end != '\0' || v > FIXED_SIZE_MAX / mul)
        return -EINVAL;
    *out = (size_t)(v * mul);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: accel-fixed [-l ADDR:PORT] [-s SIZE]\n"
               "  -l ADDR:PORT  where to listen (default 127.0.0.1:8082; port 0: any free port)\n"
               "  -s SIZE       body bytes of the one fixed 200 answer (default 1024; k, m)\n"
               "Every request head (\"\\r\\n\\r\\n\") gets that answer; keep-alive, no parsing.\n");
}

int main(int argc, char **argv)
{
    const char *listen_addr = "127.0.0.1:8082";
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct ev_loop *loop;
    ev_io accept_w;
    ev_signal sigint_w, sigterm_w;
    char host[INET6_ADDRSTRLEN];
    struct rlimit rl;
    size_t size = 1024;
    int opt, fd, one = 1, port;

    while ((opt = getopt(argc, argv, "l:s:h")) != -1) {
        switch (opt) {
        case 'l':
            listen_addr = optarg;
            break;
        case 's':
            if (size_parse(optarg, &size) < 0) {
                fprintf(stderr, "accel-fixed: -s wants a byte count (k, m), at most 64m\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (addr_parse(listen_addr, &ss, &sslen) < 0) {
        fprintf(stderr, "accel-fixed: -l wants ADDR:PORT, got '%s'\n", listen_addr);
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    resp_init(size);

    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
        fprintf(stderr, "accel-fixed: cannot listen on %s: %s\n", listen_addr, strerror(errno));
        return 1;
    }
    loop = ev_default_loop(EVFLAG_AUTO);
    if (loop == NULL) {
        fprintf(stderr, "accel-fixed: cannot create an event loop\n");
        return 1;
    }
    ev_io_init(&accept_w, on_accept, fd, EV_READ);
    ev_io_start(loop, &accept_w);
    ev_signal_init(&sigint_w, on_signal, SIGINT);
    ev_signal_init(&sigterm_w, on_signal, SIGTERM);
    ev_signal_start(loop, &sigint_w);
    ev_signal_start(loop, &sigterm_w);

    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
        port = ntohs(a6->sin6_port);
        printf("accel-fixed listening on http://[%s]:%d\n", host, port);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
        port = ntohs(a4->sin_port);
        printf("accel-fixed listening on http://%s:%d\n", host, port);
    }
    fflush(stdout);

    ev_run(loop, 0);
    close(fd);
    free((void *)resp);
    return 0;
}
