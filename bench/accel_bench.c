/* accel_bench.c - accel-bench: an HTTP/1.1 load generator for caches, on libev.
 *
 * N keep-alive connections over T threads (each thread its own loop and its share of the
 * connections) send GET requests drawn from a workload: one URL, uniform or Zipf over K URLs, or
 * the replay of a trace (combined access log, or "url[ size]" lines). Closed loop by default
 * (each connection sends its next request when the answer is in); with -r, open loop: requests
 * are due at a fixed rate and a request's latency counts from when it was due, so a slow server
 * cannot hide its queueing (coordinated omission).
 *
 * It reports requests, req/s, bytes/s, latency percentiles from a log-linear histogram, errors
 * by kind, the hit ratio the clients saw (X-Cache), and, given the origin's stats URL (accel's
 * bench origin /__stats), the fraction of requests that reached the origin. A progress line on a
 * terminal; a table at the end, or JSON with --json. Every wait is bounded: connects and
 * answers time out (-T), the run ends at its duration or count. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <llhttp.h>

#include "hist.h"
#include "sim.h"
#include "trace.h"
#include "zipf.h"

#define MAX_THREADS 64
#define MAX_CONNS   100000
#define IN_CAP      (64 * 1024)
#define MAX_HEADERS 16

enum workload { W_ONE = 0, W_UNIFORM, W_ZIPF, W_TRACE };

enum err_kind { E_CONNECT = 0, E_TIMEOUT, E_READ, E_PARSE, E_STATUS, E_KINDS };
static const char *const err_names[E_KINDS] = {"connect", "timeout", "read", "parse", "status"};

struct opts {
    char host[256];
    char port[16];
    char hostport[300];
    struct sockaddr_storage sa;
    socklen_t salen;
    unsigned conns, threads;
    double duration; /* s; 0 with -n */
    uint64_t count;  /* requests; 0: by duration */
    double rate;     /* req/s in all; 0: closed loop */
    double timeout;  /* s per connect and per answer */
    enum workload wl;
    char *path; /* W_ONE, or the template with {} for the rank */
    uint64_t keys;
    double zipf_s;
    uint64_t seed;
    struct trace trace;
    double time_scale; /* trace: 0: in order as fast as allowed; else replay at t / scale */
    char *headers;     /* extra "Name: value\r\n" lines */
    char *origin_stats;
    int json, quiet;
};

static struct opts O = {.conns = 16,
                        .threads = 1,
                        .duration = 10,
                        .timeout = 10,
                        .keys = 1000,
                        .zipf_s = 0.99,
                        .seed = 42};

struct thread;

struct bconn {
    struct thread *th;
    int fd;
    ev_io io;
    ev_timer timer;
    int connected, busy;
    char out[2048];
    size_t out_len, out_off;
    char in[IN_CAP];
    llhttp_t parser;
    llhttp_settings_t *settings;
    uint64_t t_sent; /* ns: when the request was due (open loop) or sent */
    uint64_t bytes;
    int hdr_is_xcache, hit, hit_known;
    unsigned status;
    int done;
};

struct thread {
    unsigned id;
    pthread_t th;
    struct ev_loop *loop;
    struct bconn *conns;
    unsigned nconns;
    ev_timer tick; /* open loop: the next request is due */
    ev_io tick_io; /* open loop at a rate: the same, from a timerfd (sub-millisecond) */
    int tick_fd;   /* that timerfd, or -1 */
    ev_timer stop; /* the end of the run */
    ev_async wake;
    struct rng rng;
    struct zipf zipf;
    uint64_t due;       /* open loop: requests due and not yet sent */
    uint64_t scheduled; /* open loop at a rate: requests due since t0, sent or not */
    uint64_t sent_at;   /* ns: the last tick (a timed trace replay's due time) */
    double interval;    /* open loop: s between two requests of this thread */
    struct hist hist;
    atomic_uint_fast64_t done, bytes, hits, misses, errs[E_KINDS];
    int stopping, joined;
    uint64_t t0; /* ns: the start, for a timed trace replay */
};

static struct thread threads[MAX_THREADS];
static atomic_uint_fast64_t issued; /* requests handed out (for -n and trace order) */
static atomic_int all_stop;
static llhttp_settings_t settings;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "accel-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(2);
}

/* --- requests ------------------------------------------------------------------------------ */

/* Writes the target of the next request into <buf>; 0, or -1 when the run has given out every
 * request it may (-n, or a trace played once with -n 0 and no duration). */
static int next_target(struct thread *t, char *buf, size_t cap)
{
    uint64_t k = atomic_fetch_add(&issued, 1), rank = 0;
    const char *brace;

    if (O.count > 0 && k >= O.count)
        return -1;
    switch (O.wl) {
    case W_ONE:
        snprintf(buf, cap, "%s", O.path);
        return 0;
    case W_UNIFORM:
        rank = rng_below(&t->rng, O.keys);
        break;
    case W_ZIPF:
        rank = zipf_next(&t->zipf, &t->rng);
        break;
    case W_TRACE:
        if (O.duration == 0 && O.count == 0 && k >= O.trace.n)
            return -1;
        snprintf(buf, cap, "%s", O.trace.v[k % O.trace.n].target);
        return 0;
    }
    brace = strstr(O.path, "{}");
    if (brace == NULL)
        snprintf(buf, cap, "%s%llu", O.path, (unsigned long long)rank);
    else
        snprintf(buf, cap, "%.*s%llu%s", (int)(brace - O.path), O.path, (unsigned long long)rank,
                 brace + 2);
    return 0;
}

static void conn_start(struct bconn *c);
static void conn_send(struct bconn *c, uint64_t due);

/* Open loop: when the oldest request due and not yet sent was due, in ns. At a rate, request k of
 * a thread is due at t0 + k * interval, so a request that waited for a free connection counts its
 * wait; a timed trace replay counts from the tick that found it due. Call before t->due--. */
static uint64_t next_due(const struct thread *t)
{
    if (O.time_scale > 0)
        return t->sent_at;
    return t->t0 + (uint64_t)((double)(t->scheduled - t->due) * t->interval * 1e9);
}

static void count_err(struct bconn *c, enum err_kind k)
{
    atomic_fetch_add_explicit(&c->th->errs[k], 1, memory_order_relaxed);
}

/* Closes <c> and, unless the run is ending, opens it again. */
static void conn_reset(struct bconn *c)
{
    struct thread *t = c->th;

    ev_io_stop(t->loop, &c->io);
    ev_timer_stop(t->loop, &c->timer);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->connected = c->busy = 0;
    if (!t->stopping)
        conn_start(c);
}

/* An answer is complete: record it, send the next request (closed loop) or wait for one. */
static void answered(struct bconn *c)
{
    struct thread *t = c->th;
    uint64_t dt = now_ns() - c->t_sent;

    hist_add(&t->hist, dt);
    atomic_fetch_add_explicit(&t->done, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->bytes, c->bytes, memory_order_relaxed);
    if (c->hit_known)
        atomic_fetch_add_explicit(c->hit ? &t->hits : &t->misses, 1, memory_order_relaxed);
    if (c->status >= 500)
        count_err(c, E_STATUS);
    c->busy = 0;
    ev_timer_stop(t->loop, &c->timer);
    if (t->stopping)
        return;
    if (O.rate > 0) {
        if (t->due > 0) {
            conn_send(c, next_due(t));
            t->due--;
        }
    } else {
        conn_send(c, now_ns());
    }
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct bconn *c = p->data;

    c->hdr_is_xcache = len == 7 && strncasecmp(at, "x-cache", 7) == 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct bconn *c = p->data;

    if (c->hdr_is_xcache) {
        c->hit_known = 1;
        c->hit = (len >= 3 && strncasecmp(at, "HIT", 3) == 0) ||
                 (len >= 5 && strncasecmp(at, "STALE", 5) == 0) ||
                 (len >= 11 && strncasecmp(at, "REVALIDATED", 11) == 0);
        c->hdr_is_xcache = 0;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct bconn *c = p->data;

    c->status = p->status_code;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct bconn *c = p->data;

    (void)at;
    c->bytes += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct bconn *c = p->data;

    c->done = 1;
    return HPE_PAUSED; /* one answer at a time: the rest stays for the next */
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bconn *c = w->data;

    (void)loop;
    if (!c->connected) {
        int err = 0;
        socklen_t el = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
            count_err(c, E_CONNECT);
            conn_reset(c);
            return;
        }
        c->connected = 1;
    }
    if ((revents & EV_WRITE) && c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            count_err(c, E_READ);
            conn_reset(c);
            return;
        }
        if (n > 0)
            c->out_off += (size_t)n;
        if (c->out_off == c->out_len) {
            ev_io_stop(c->th->loop, &c->io);
            ev_io_set(&c->io, c->fd, EV_READ);
            ev_io_start(c->th->loop, &c->io);
        }
        return;
    }
    if (!(revents & EV_READ))
        return;
    for (;;) {
        ssize_t n = read(c->fd, c->in, sizeof(c->in));
        enum llhttp_errno e;
        size_t off = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (c->busy)
                count_err(c, E_READ);
            conn_reset(c);
            return;
        }
        while (off < (size_t)n) {
            e = llhttp_execute(&c->parser, c->in + off, (size_t)n - off);
            if (e == HPE_PAUSED) {
                off = (size_t)(llhttp_get_error_pos(&c->parser) - c->in);
                llhttp_resume(&c->parser);
            } else if (e != HPE_OK) {
                count_err(c, E_PARSE);
                conn_reset(c);
                return;
            } else {
                off = (size_t)n;
            }
            if (c->done) {
                int keep = llhttp_should_keep_alive(&c->parser);

                c->done = 0;
                answered(c);
                if (!keep) {
                    conn_reset(c);
                    return;
                }
                if (c->th->stopping)
                    return;
            }
        }
    }
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct bconn *c = w->data;

    (void)loop;
    (void)revents;
    count_err(c, c->connected ? E_TIMEOUT : E_CONNECT);
    conn_reset(c);
}

static void conn_start(struct bconn *c)
{
    struct thread *t = c->th;

    c->fd = socket(O.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        count_err(c, E_CONNECT);
        return;
    }
    {
        int one = 1;

        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(c->fd, (struct sockaddr *)&O.sa, O.salen) < 0 && errno != EINPROGRESS) {
        count_err(c, E_CONNECT);
        close(c->fd);
        c->fd = -1;
        return;
    }
    llhttp_init(&c->parser, HTTP_RESPONSE, &settings);
    c->parser.data = c;
    ev_io_init(&c->io, on_io, c->fd, EV_WRITE);
    c->io.data = c;
    ev_timer_init(&c->timer, on_timeout, O.timeout, 0);
    c->timer.data = c;
    ev_timer_start(t->loop, &c->timer);
    ev_io_start(t->loop, &c->io);
    if (O.rate == 0)
        conn_send(c, now_ns());
    else if (t->due > 0) {
        conn_send(c, next_due(t));
        t->due--;
    }
}

/* Queues the next request on <c>; its latency counts from <due>. */
static void conn_send(struct bconn *c, uint64_t due)
{
    struct thread *t = c->th;
    char target[2048];
    int n;

    if (c->fd < 0 || next_target(t, target, sizeof(target)) < 0) {
        if (c->fd >= 0 && !c->busy && atomic_load(&issued) >= O.count && O.count > 0)
            ev_async_send(t->loop, &t->wake); /* nothing more to send: maybe the end */
        return;
    }
    n = snprintf(c->out, sizeof(c->out), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target,
                 O.hostport, O.headers ? O.headers : "");
    if (n < 0 || (size_t)n >= sizeof(c->out)) {
        count_err(c, E_PARSE);
        return;
    }
    c->out_len = (size_t)n;
    c->out_off = 0;
    c->busy = 1;
    c->bytes = 0;
    c->hit_known = c->hit = 0;
    c->status = 0;
    c->t_sent = due;
    llhttp_init(&c->parser, HTTP_RESPONSE, &settings);
    c->parser.data = c;
    ev_timer_stop(t->loop, &c->timer);
    ev_timer_set(&c->timer, O.timeout, 0);
    ev_timer_start(t->loop, &c->timer);
    ev_io_stop(t->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_READ | EV_WRITE);
    ev_io_start(t->loop, &c->io);
}

/* Open loop: a request is due every t->interval; it goes on a free connection, or waits for
 * one (its latency counts from when it was due, either way). The requests due are counted from
 * the time since t0, not from the ticks: libev runs a late repeating timer once, not once per
 * period missed, and its epoll wait sleeps at least a millisecond, so counting ticks would send
 * fewer requests than the rate asks for (about 3000/s of -r 5000 against an idle server). */
static void tick(struct thread *t)
{
    uint64_t now = now_ns();

    if (O.time_scale > 0) {
        /* a timed replay: every entry whose time (scaled) has come is due */
        uint64_t k = atomic_load(&issued) + t->due;

        while (k < O.trace.n && O.trace.v[k].t / O.time_scale <= (double)(now - t->t0) / 1e9) {
            t->due++;
            k++;
        }
    } else {
        uint64_t want = now > t->t0 ? (uint64_t)((double)(now - t->t0) / 1e9 / t->interval) : 0;

        if (want > t->scheduled) {
            t->due += want - t->scheduled;
            t->scheduled = want;
        }
    }
    t->sent_at = now;
    for (unsigned i = 0; i < t->nconns && t->due > 0; i++) {
        struct bconn *c = &t->conns[i];

        if (c->connected && !c->busy && c->fd >= 0) {
            conn_send(c, next_due(t));
            t->due--;
        }
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    tick(w->data);
}

/* The timerfd of a rate: libev's own timers wake an idle loop a millisecond late at best (its
 * epoll wait counts whole milliseconds), which would add up to that much to every latency. */
static void on_tick_fd(struct ev_loop *loop, ev_io *w, int revents)
{
    struct thread *t = w->data;
    uint64_t expirations;

    (void)loop;
    (void)revents;
    if (read(t->tick_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        return;
    tick(t);
}

/* Starts the ticks of a rate on a timerfd, every interval (at least 20 us: ticks in between are
 * caught up from the time); returns -1 if there is no timerfd, for the ev_timer instead. */
static int tick_fd_start(struct thread *t)
{
    double period = t->interval < 20e-6 ? 20e-6 : t->interval;
    struct itimerspec its;

    t->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->tick_fd < 0)
        return -1;
    its.it_interval.tv_sec = (time_t)period;
    its.it_interval.tv_nsec = (long)((period - (double)(time_t)period) * 1e9);
    its.it_value = its.it_interval;
    if (timerfd_settime(t->tick_fd, 0, &its, NULL) < 0) {
        close(t->tick_fd);
        t->tick_fd = -1;
        return -1;
    }
    ev_io_init(&t->tick_io, on_tick_fd, t->tick_fd, EV_READ);
    t->tick_io.data = t;
    ev_io_start(t->loop, &t->tick_io);
    return 0;
}

static void on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    struct thread *t = w->data;
    int busy = 0;

    (void)revents;
    for (unsigned i = 0; i < t->nconns; i++)
        busy |= t->conns[i].busy;
    if (atomic_load(&all_stop) || (!busy && O.count > 0 && atomic_load(&issued) >= O.count))
        ev_break(loop, EVBREAK_ALL);
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;

    for (unsigned i = 0; i < t->nconns; i++)
        conn_start(&t->conns[i]);
    ev_run(t->loop, 0);
    t->stopping = 1;
    if (t->tick_fd >= 0) {
        ev_io_stop(t->loop, &t->tick_io);
        close(t->tick_fd);
        t->tick_fd = -1;
    }
    for (unsigned i = 0; i < t->nconns; i++) {
        struct bconn *c = &t->conns[i];

        ev_io_stop(t->loop, &c->io);
        ev_timer_stop(t->loop, &c->timer);
        if (c->fd >= 0)
            close(c->fd);
    }
    return NULL;
}

/* --- the origin's counter ----------------------------------------------------------------------
 */

/* GETs <url> (http://host:port/path) and returns the number after "requests": in the answer
 * (accel's bench origin /__stats), or -1. */
static long long origin_requests(const char *url)
{
    char host[256], port[16] = "80", req[512], buf[8192];
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url, *slash = strchr(p, '/');
    const char *colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p)), *num;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    size_t got = 0;
    struct timeval tv = {.tv_sec = 5};
    int fd;

    snprintf(host, sizeof(host), "%.*s",
             (int)((colon   ? colon
                    : slash ? slash
                            : p + strlen(p)) -
                   p),
             p);
    if (colon != NULL)
        snprintf(port, sizeof(port), "%.*s",
                 (int)((slash ? slash : colon + strlen(colon)) - colon - 1), colon + 1);
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
             slash ? slash : "/", host);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof(buf) - 1)
            break;
    }
    close(fd);
    buf[got] = '\0';
    num = strstr(buf, "\"requests\":");
    return num ? strtoll(num + 11, NULL, 10) : -1;
}

/* --- totals and output ------------------------------------------------------------------------ */

struct totals {
    uint64_t done, bytes, hits, misses, errs[E_KINDS];
};

static void sum(struct totals *s)
{
    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i < O.threads; i++) {
        struct thread *t = &threads[i];

        s->done += atomic_load(&t->done);
        s->bytes += atomic_load(&t->bytes);
        s->hits += atomic_load(&t->hits);
        s->misses += atomic_load(&t->misses);
        for (unsigned k = 0; k < E_KINDS; k++)
            s->errs[k] += atomic_load(&t->errs[k]);
    }
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: accel-bench [options] http://HOST:PORT\n"
        "       accel-bench sim -m SIZES [options]   (capacity planning: accel-bench sim -h)\n"
        "  -c N        connections (default 16)         -t N   threads (default 1)\n"
        "  -d SECONDS  duration (default 10)            -n N   requests instead of a duration\n"
        "  -r RATE     open loop: N requests/s in all (latency counts from when each was due)\n"
        "  -w WORKLOAD one:/path | uniform:K | zipf:K[:S] (S default 0.99) | trace:FILE\n"
        "  -p PATH     URL template for uniform and zipf; {} is the rank (default /bench/{})\n"
        "  -s SEED     random seed (default 42)          -T SECONDS  connect/answer timeout (10)\n"
        "  -H 'N: V'   extra request header (repeatable)\n"
        "  -S SCALE    trace: replay at the log's pace divided by SCALE (default: in order, as\n"
        "              fast as the connections go)\n"
        "  -o URL      the origin's stats URL (accel's bench origin: http://HOST:PORT/__stats):\n"
        "              report the fraction of requests that reached it\n"
        "  -j, --json  JSON on stdout instead of the table   -q, --quiet  no progress line\n");
}

static double pct(const struct hist *h, double p)
{
    return (double)hist_percentile(h, p) / 1e6;
}

int main(int argc, char **argv)
{
    struct hist all;
    struct totals s;
    double elapsed;
    uint64_t t0;
    long long org0 = -1, org1 = -1;
    int opt;

    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "sim") == 0)
        return sim_main(argc - 1, argv + 1);
    O.path = NULL;
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};

    while ((opt = getopt_long(argc, argv, "c:t:d:n:r:w:p:s:T:H:S:o:jqh", longopts, NULL)) != -1) {
        char *end;

        switch (opt) {
        case 'c':
            O.conns = (unsigned)strtoul(optarg, &end, 10);
            if (*end || O.conns == 0 || O.conns > MAX_CONNS)
                die("-c: expected 1 to 100000 connections, got %s", optarg);
            break;
        case 't':
            O.threads = (unsigned)strtoul(optarg, &end, 10);
            if (*end || O.threads == 0 || O.threads > MAX_THREADS)
                die("-t: expected 1 to 64 threads, got %s", optarg);
            break;
        case 'd':
            O.duration = strtod(optarg, &end);
            if (*end || !(O.duration > 0) || O.duration > 86400)
                die("-d: expected seconds (up to a day), got %s", optarg);
            break;
        case 'n':
            O.count = strtoull(optarg, &end, 10);
            if (*end || O.count == 0)
                die("-n: expected a number of requests, got %s", optarg);
            O.duration = 0;
            break;
        case 'r':
            O.rate = strtod(optarg, &end);
            if (*end || !(O.rate > 0) || O.rate > 1e7)
                die("-r: expected requests per second, got %s", optarg);
            break;
        case 'w':
            if (strncmp(optarg, "one:", 4) == 0 && optarg[4] == '/') {
                O.wl = W_ONE;
                free(O.path);
                O.path = strdup(optarg + 4);
            } else if (strncmp(optarg, "uniform:", 8) == 0) {
                O.wl = W_UNIFORM;
                O.keys = strtoull(optarg + 8, &end, 10);
                if (*end || O.keys == 0)
                    die("-w uniform:K: expected a number of URLs, got %s", optarg);
            } else if (strncmp(optarg, "zipf:", 5) == 0) {
                O.wl = W_ZIPF;
                O.keys = strtoull(optarg + 5, &end, 10);
                if (*end == ':')
                    O.zipf_s = strtod(end + 1, &end);
                if (*end || O.keys == 0 || !(O.zipf_s > 0))
                    die("-w zipf:K[:S]: expected URLs and an exponent above 0, got %s", optarg);
            } else if (strncmp(optarg, "trace:", 6) == 0) {
                char err[512];

                O.wl = W_TRACE;
                if (trace_load(optarg + 6, &O.trace, err, sizeof(err)) < 0)
                    die("-w trace: %s", err);
            } else {
                die("-w: expected one:/path, uniform:K, zipf:K[:S] or trace:FILE, got %s", optarg);
            }
            break;
        case 'p':
            if (optarg[0] != '/')
                die("-p: expected a path starting with /, got %s", optarg);
            free(O.path);
            O.path = strdup(optarg);
            break;
        case 's':
            O.seed = strtoull(optarg, &end, 10);
            if (*end)
                die("-s: expected a number, got %s", optarg);
            break;
        case 'T':
            O.timeout = strtod(optarg, &end);
            if (*end || !(O.timeout > 0))
                die("-T: expected seconds, got %s", optarg);
            break;
        case 'H': {
            size_t have = O.headers ? strlen(O.headers) : 0, add = strlen(optarg);

            if (strchr(optarg, ':') == NULL || strpbrk(optarg, "\r\n") != NULL)
                die("-H: expected 'Name: value', got %s", optarg);
            O.headers = realloc(O.headers, have + add + 3);
            memcpy(O.headers + have, optarg, add);
            memcpy(O.headers + have + add, "\r\n", 3);
            break;
        }
        case 'S':
            O.time_scale = strtod(optarg, &end);
            if (*end || !(O.time_scale > 0))
                die("-S: expected a factor above 0, got %s", optarg);
            break;
        case 'o':
            O.origin_stats = optarg;
            break;
        case 'j':
            O.json = 1;
            break;
        case 'q':
            O.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    {
        const char *u = argv[optind], *p, *colon, *slash;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
        int rc;

        if (strncmp(u, "http://", 7) != 0)
            die("expected a target like http://127.0.0.1:8080, got %s", u);
        p = u + 7;
        slash = strchr(p, '/');
        colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
        snprintf(O.host, sizeof(O.host), "%.*s",
                 (int)((colon   ? colon
                        : slash ? slash
                                : p + strlen(p)) -
                       p),
                 p);
        snprintf(O.port, sizeof(O.port), "%.*s",
                 colon ? (int)((slash ? slash : colon + strlen(colon)) - colon - 1) : 2,
                 colon ? colon + 1 : "80");
        snprintf(O.hostport, sizeof(O.hostport), "%s%s%s", O.host, colon ? ":" : "",
                 colon ? O.port : "");
        if (O.path == NULL && O.wl == W_ONE)
            O.path = strdup(slash && slash[1] ? slash : "/");
        if (O.path == NULL)
            O.path = strdup("/bench/{}");
        rc = getaddrinfo(O.host, O.port, &hints, &ai);
        if (rc != 0)
            die("cannot resolve the target: %s", gai_strerror(rc));
        memcpy(&O.sa, ai->ai_addr, ai->ai_addrlen);
        O.salen = ai->ai_addrlen;
        freeaddrinfo(ai);
        /* an unreachable target is an error now, not a run of connect errors */
        {
            int fd = socket(O.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct timeval tv = {.tv_sec = (time_t)O.timeout};

            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            if (fd < 0 || connect(fd, (struct sockaddr *)&O.sa, O.salen) < 0) {
                fprintf(stderr, "accel-bench: cannot connect to %s:%s: %s\n", O.host, O.port,
                        strerror(errno));
                return 1;
            }
            close(fd);
        }
    }
    if (O.threads > O.conns)
        O.threads = O.conns;
    if (O.time_scale > 0 && O.wl != W_TRACE)
        die("-S: %s", "only with -w trace:FILE");
    if (O.time_scale > 0)
        O.threads = 1; /* one clock for the whole trace */
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    if (O.origin_stats != NULL && (org0 = origin_requests(O.origin_stats)) < 0)
        die("-o: cannot read a request count from %s", O.origin_stats);

    for (unsigned i = 0; i < O.threads; i++) {
        struct thread *t = &threads[i];

        t->id = i;
        t->loop = ev_loop_new(EVFLAG_AUTO);
        t->nconns = O.conns / O.threads + (i < O.conns % O.threads);
        t->conns = calloc(t->nconns, sizeof(*t->conns));
        for (unsigned j = 0; j < t->nconns; j++) {
            t->conns[j].th = t;
            t->conns[j].fd = -1;
        }
        t->tick_fd = -1;
        hist_init(&t->hist);
        rng_seed(&t->rng, O.seed + i * 7919u);
        if (O.wl == W_ZIPF)
            zipf_init(&t->zipf, O.keys, O.zipf_s);
        ev_async_init(&t->wake, on_wake);
        t->wake.data = t;
        ev_async_start(t->loop, &t->wake);
        if (O.duration > 0) {
            ev_timer_init(&t->stop, on_stop, O.duration, 0);
            ev_timer_start(t->loop, &t->stop);
        }
        if (O.time_scale > 0) {
            O.rate = 1; /* open loop, driven by the trace's times */
            t->interval = 0.001;
            ev_timer_init(&t->tick, on_tick, t->interval, t->interval);
            t->tick.data = t;
            ev_timer_start(t->loop, &t->tick);
        } else if (O.rate > 0) {
            t->interval = (double)O.threads / O.rate;
            if (tick_fd_start(t) < 0) {
                ev_timer_init(&t->tick, on_tick, t->interval, t->interval);
                t->tick.data = t;
                ev_timer_start(t->loop, &t->tick);
            }
        }
    }
    t0 = now_ns();
    for (unsigned i = 0; i < O.threads; i++)
        threads[i].t0 = t0;
    for (unsigned i = 0; i < O.threads; i++)
        pthread_create(&threads[i].th, NULL, thread_main, &threads[i]);
    /* progress, once a second, on a terminal */
    for (uint64_t last = 0;;) {
        int running = 0;

        usleep(200 * 1000);
        for (unsigned i = 0; i < O.threads; i++) {
            if (!threads[i].joined && pthread_tryjoin_np(threads[i].th, NULL) == 0)
                threads[i].joined = 1;
            running |= !threads[i].joined;
        }
        sum(&s);
        if (!running)
            break;
        if (!O.quiet && !O.json && isatty(2) && (now_ns() - t0) / 1000000000u != last) {
            last = (now_ns() - t0) / 1000000000u;
            fprintf(stderr, "\r%6.1f s  %10llu requests  %9.0f req/s  errors %llu   ",
                    (double)(now_ns() - t0) / 1e9, (unsigned long long)s.done,
                    (double)s.done / ((double)(now_ns() - t0) / 1e9),
                    (unsigned long long)(s.errs[0] + s.errs[1] + s.errs[2] + s.errs[3]));
        }
        if (O.count > 0 && atomic_load(&issued) >= O.count) {
            for (unsigned i = 0; i < O.threads; i++)
                ev_async_send(threads[i].loop, &threads[i].wake);
        }
    }
    elapsed = (double)(now_ns() - t0) / 1e9;
    if (!O.quiet && !O.json && isatty(2))
        fprintf(stderr, "\n");
    sum(&s);
    hist_init(&all);
    for (unsigned i = 0; i < O.threads; i++)
        hist_merge(&all, &threads[i].hist);
    if (O.origin_stats != NULL)
        org1 = origin_requests(O.origin_stats);
    if (O.json) {
        printf("{\"target\": \"http://%s\", \"connections\": %u, \"threads\": %u, "
               "\"seconds\": %.3f, \"requests\": %llu, \"rps\": %.1f, \"bytes\": %llu, "
               "\"bytes_per_s\": %.1f, \"latency_ms\": {\"mean\": %.3f, \"p50\": %.3f, "
               "\"p90\": %.3f, \"p99\": %.3f, \"p99.9\": %.3f, \"max\": %.3f}, \"hits\": %llu, "
               "\"misses\": %llu, \"hit_ratio\": %.4f",
               O.hostport, O.conns, O.threads, elapsed, (unsigned long long)s.done,
               (double)s.done / elapsed, (unsigned long long)s.bytes, (double)s.bytes / elapsed,
               hist_mean(&all) / 1e6, pct(&all, 50), pct(&all, 90), pct(&all, 99), pct(&all, 99.9),
               (double)all.max / 1e6, (unsigned long long)s.hits, (unsigned long long)s.misses,
               s.hits + s.misses ? (double)s.hits / (double)(s.hits + s.misses) : 0.0);
        printf(", \"errors\": {");
        for (unsigned k = 0; k < E_KINDS; k++)
            printf("%s\"%s\": %llu", k ? ", " : "", err_names[k], (unsigned long long)s.errs[k]);
        printf("}");
        if (org0 >= 0 && org1 >= 0)
            printf(", \"origin_requests\": %lld, \"origin_fraction\": %.4f", org1 - org0,
                   s.done ? (double)(org1 - org0) / (double)s.done : 0.0);
        printf("}\n");
    } else {
        printf("target      http://%s  (%u connections, %u thread(s), %s)\n", O.hostport, O.conns,
               O.threads, O.rate > 0 ? "open loop" : "closed loop");
        printf("requests    %llu in %.2f s: %.1f req/s, %.2f MB/s of bodies\n",
               (unsigned long long)s.done, elapsed, (double)s.done / elapsed,
               (double)s.bytes / elapsed / 1e6);
        printf("latency ms  mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
               hist_mean(&all) / 1e6, pct(&all, 50), pct(&all, 90), pct(&all, 99), pct(&all, 99.9),
               (double)all.max / 1e6);
        if (s.hits + s.misses > 0)
            printf("hit ratio   %.4f (X-Cache: %llu hits, %llu other)\n",
                   (double)s.hits / (double)(s.hits + s.misses), (unsigned long long)s.hits,
                   (unsigned long long)s.misses);
        else
            printf("hit ratio   - (no X-Cache in the answers)\n");
        if (org0 >= 0 && org1 >= 0)
            printf("origin      %lld requests reached it: %.4f of the requests\n", org1 - org0,
                   s.done ? (double)(org1 - org0) / (double)s.done : 0.0);
        printf("errors      ");
        for (unsigned k = 0; k < E_KINDS; k++)
            printf("%s %llu%s", err_names[k], (unsigned long long)s.errs[k],
                   k + 1 < E_KINDS ? ", " : "\n");
    }
    return 0;
}
