/* tls_hs.c - accel-tls-hs: new TLS connections per second against a server, full or resumed.
 *
 * C client threads each loop for D seconds: connect, TLS handshake, one GET with
 * "Connection: close", read the answer to the end of its body, close. In full mode no session is
 * ever offered, so every connection pays the whole handshake (key exchange and the server's
 * signature); in resume mode each thread offers the session (TLS 1.3 ticket, or TLS 1.2 ticket or
 * session id) that its previous connection got, so after the first one every handshake should be
 * an abbreviated one, and the tool counts how many the server actually resumed. The client does
 * not verify the certificate (the server's cost is the point), and closes with SO_LINGER 0 once
 * the answer is in, so that no TIME_WAIT piles up on loopback over a long run.
 *
 * Prints one line of key=value fields:
 *   conns=N secs=S conn_s=X resumed=R errors=E p50_ms=.. p99_ms=.. version=TLSv1.3 cipher=..
 * conn_s counts connections whose answer came back complete (status line and whole body). Every
 * socket wait is bounded (-T); the run ends at its duration. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "hist.h"

struct opts {
    struct sockaddr_in addr;
    const char *host; /* SNI and Host */
    const char *path;
    double secs;
    int threads;
    int resume;
    int timeout_s;
    int tls_max; /* 0: the library's highest; TLS1_2_VERSION to force 1.2 */
};

struct worker {
    pthread_t tid;
    const struct opts *o;
    SSL_CTX *ctx;
    struct hist h;
    uint64_t conns, resumed, errors;
    char version[16], cipher[64];
    char why[160]; /* the first error, for the report */
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(struct worker *w, const char *what)
{
    w->errors++;
    if (w->why[0] == '\0') {
        unsigned long e = ERR_peek_last_error();
        char buf[120];

        ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(w->why, sizeof(w->why), "%s%s%s", what, e != 0 ? ": " : "", e != 0 ? buf : "");
    }
    ERR_clear_error();
}

/* Reads the answer until its head and Content-Length bytes of body are in (or the peer closes).
 * Returns 0 when a 200 came whole. */
static int read_answer(SSL *ssl)
{
    char buf[16384];
    size_t have = 0, want = 0;
    int head_done = 0, ok = 0;
    size_t body = 0;

    for (;;) {
        size_t n = 0;

        if (SSL_read_ex(ssl, buf + (head_done ? 0 : have),
                        head_done ? sizeof(buf) : sizeof(buf) - have, &n) != 1)
            return -1;
        if (head_done) {
            body += n;
        } else {
            char *end;

            have += n;
            end = memmem(buf, have, "\r\n\r\n", 4);
            if (end == NULL) {
                if (have == sizeof(buf))
                    return -1;
                continue;
            }
            head_done = 1;
            ok = have >= 12 && memcmp(buf + 9, "200", 3) == 0;
            for (char *p = buf; p < end; p++) {
                if ((p == buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
                    want = strtoull(p + 15, NULL, 10);
                    break;
                }
            }
            body = have - (size_t)(end + 4 - buf);
        }
        if (head_done && body >= want)
            return ok ? 0 : -1;
    }
}

static void *run(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    char req[512];
    int reqlen =
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 o->path, o->host);
    SSL_SESSION *sess = NULL;
    double end = now_s() + o->secs;
    struct timeval tv = {.tv_sec = o->timeout_s};

    while (now_s() < end) {
        double t0 = now_s();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        SSL *ssl = NULL;
        int done = 0;

        if (fd < 0) {
            fail(w, "socket");
            break;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (const struct sockaddr *)&o->addr, sizeof(o->addr)) != 0) {
            fail(w, "connect");
            goto next;
        }
        ssl = SSL_new(w->ctx);
        if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
            SSL_set_tlsext_host_name(ssl, o->host) != 1) {
            fail(w, "SSL_new");
            goto next;
        }
        if (o->resume && sess != NULL)
            SSL_set_session(ssl, sess);
        if (SSL_connect(ssl) != 1) {
            fail(w, "handshake");
            goto next;
        }
        if (SSL_write(ssl, req, reqlen) != reqlen) {
            fail(w, "write");
            goto next;
        }
        if (read_answer(ssl) != 0) {
            fail(w, "answer");
            goto next;
        }
        done = 1;
        w->conns++;
        if (SSL_session_reused(ssl))
            w->resumed++;
        hist_add(&w->h, (uint64_t)((now_s() - t0) * 1e9));
        if (w->version[0] == '\0') {
            snprintf(w->version, sizeof(w->version), "%s", SSL_get_version(ssl));
            snprintf(w->cipher, sizeof(w->cipher), "%s", SSL_get_cipher_name(ssl));
        }
        if (o->resume) {
            SSL_SESSION *s = SSL_get1_session(ssl);

            if (s != NULL && SSL_SESSION_is_resumable(s)) {
                SSL_SESSION_free(sess);
                sess = s;
            } else {
                SSL_SESSION_free(s);
            }
        }
    next:
        /* a clean end as far as the library is concerned: without it SSL_free marks the session
         * not resumable (the server has closed already, so no close_notify is written) */
        if (done)
            SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(ssl);
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
    }
    SSL_SESSION_free(sess);
    return NULL;
}

/* A whole decimal number in [lo, hi], or exits with the usage. */
static void usage(void);
static long num(const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        usage();
    return v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: accel-tls-hs [-c THREADS] [-d SECS] [-r] [-2] [-T TIMEOUT_S] [-H HOST] "
            "[-p PATH] IP:PORT\n"
            "  -r  resume: offer the previous connection's session (default: full handshakes)\n"
            "  -2  TLS 1.2 at most (default: the highest both sides speak)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct opts o = {.host = "localhost", .path = "/", .secs = 5, .threads = 8, .timeout_s = 5};
    int ch;

    while ((ch = getopt(argc, argv, "c:d:r2T:H:p:")) != -1) {
        switch (ch) {
        case 'c':
            o.threads = (int)num(optarg, 1, 1024);
            break;
        case 'd':
            o.secs = atof(optarg);
            break;
        case 'r':
            o.resume = 1;
            break;
        case '2':
            o.tls_max = TLS1_2_VERSION;
            break;
        case 'T':
            o.timeout_s = (int)num(optarg, 1, 3600);
            break;
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            o.path = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1 || o.threads < 1 || o.threads > 1024 || o.secs <= 0 || o.timeout_s < 1)
        usage();
    {
        char ip[64];
        const char *colon = strrchr(argv[optind], ':');
        size_t n = colon != NULL ? (size_t)(colon - argv[optind]) : 0;

        if (colon == NULL || n == 0 || n >= sizeof(ip))
            usage();
        memcpy(ip, argv[optind], n);
        ip[n] = '\0';
        o.addr.sin_family = AF_INET;
        o.addr.sin_port = htons((uint16_t)num(colon + 1, 1, 65535));
        if (inet_pton(AF_INET, ip, &o.addr.sin_addr) != 1)
            usage();
    }

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (o.tls_max != 0)
        SSL_CTX_set_max_proto_version(ctx, o.tls_max);
    /* the client keeps its sessions itself (one per thread); the library's cache stays out */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (!o.resume)
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

    struct worker *w = calloc((size_t)o.threads, sizeof(*w));
    double t0 = now_s();

    if (w == NULL)
        return 1;
    for (int i = 0; i < o.threads; i++) {
        w[i].o = &o;
        w[i].ctx = ctx;
        hist_init(&w[i].h);
        if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
            return 1;
    }
    struct hist all;
    uint64_t conns = 0, resumed = 0, errors = 0;
    const char *why = "", *version = "-", *cipher = "-";

    hist_init(&all);
    for (int i = 0; i < o.threads; i++) {
        pthread_join(w[i].tid, NULL);
        hist_merge(&all, &w[i].h);
        conns += w[i].conns;
        resumed += w[i].resumed;
        errors += w[i].errors;
        if (why[0] == '\0' && w[i].why[0] != '\0')
            why = w[i].why;
        if (w[i].version[0] != '\0') {
            version = w[i].version;
            cipher = w[i].cipher;
        }
    }
    double secs = now_s() - t0;

    printf("conns=%llu secs=%.2f conn_s=%.1f resumed=%llu errors=%llu p50_ms=%.3f p99_ms=%.3f "
           "version=%s cipher=%s\n",
           (unsigned long long)conns, secs, (double)conns / secs, (unsigned long long)resumed,
           (unsigned long long)errors, (double)hist_percentile(&all, 50) / 1e6,
           (double)hist_percentile(&all, 99) / 1e6, version, cipher);
    if (why[0] != '\0')
        fprintf(stderr, "accel-tls-hs: first error: %s\n", why);
    free(w);
    SSL_CTX_free(ctx);
    return conns > 0 ? 0 : 1;
}
