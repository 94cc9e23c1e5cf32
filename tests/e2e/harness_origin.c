/* harness_origin.c - the scripted origin: a loopback HTTP/1.1 server in threads of the test
 * process that records every request it receives and answers each as the test scripted it.
 *
 * One accept thread, one thread per connection with blocking sockets: a thread that sends a
 * large body blocks in send() while the peer does not read, which is the backpressure the tests
 * look at through bytes_sent. Requests are parsed with llhttp; on_message_complete pauses the
 * parser, so pipelined requests are answered one at a time, in order.
 *
 * One mutex and one condition variable (monotonic clock) guard the whole origin: the request
 * records, the counters read by waits, the action queue and the holds. A request record is
 * published when its head is complete; after that only its body fields and flags change.
 * e2e_origin_stop() shuts every socket down (which wakes the blocked threads), releases the holds
 * and joins all threads before freeing.
 *
 * A TLS origin (e2e_origin_start_tls()) has one SSL_CTX; each connection thread runs the
 * handshake on its blocking socket, then every byte goes through its SSL. A failed handshake
 * only ends that connection. The SSL of a connection is used and freed by its thread alone. */
#include "harness_int.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLICE (64u * 1024u)

struct e2e_hold {
    struct e2e_origin *o;
    unsigned reached;
    int released;
    struct e2e_hold *next;
};

struct oconn {
    struct e2e_origin *o;
    unsigned id;
    int fd; /* -1 once closed; changed only under o->mu */
    pthread_t thr;
    unsigned nreq;
    llhttp_t parser;
    struct e2e_req *cur;
    int cur_pub; /* cur is in o->reqs, which owns it */
    struct e2e_buf field, value;
    SSL *ssl; /* TLS origin: this connection's, after the handshake */
    char sni[128];
    int client_cert;
    char client_cn[128];
    struct oconn *next;
};

struct e2e_origin {
    int lfd, port;
    pthread_t accept_thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    struct oconn *conns;
    unsigned nconns, nopen;
    struct e2e_req **reqs;
    unsigned nreqs, cap, ndone;
    struct e2e_action *queue;
    size_t qhead, qlen, qcap;
    void (*fn)(const struct e2e_req *, struct e2e_action *, void *);
    void *arg;
    struct e2e_hold *holds;
    _Atomic uint64_t bytes_sent, body_in;
    SSL_CTX *ssl_ctx; /* TLS origin, else NULL */
    unsigned nhs_fail;
    char tls_err[256];
};

static llhttp_settings_t req_settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;
static uint8_t *pattern_tab; /* PERIOD + SLICE bytes: any slice of SLICE bytes is contiguous */
#define PERIOD 65521u

/* ---- waits ----------------------------------------------------------------------------------- */

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits (o->mu held) until pred(o, x) or the deadline; returns 0 or -ETIMEDOUT. */
static int wait_locked(struct e2e_origin *o, int (*pred)(struct e2e_origin *, uint64_t), uint64_t x,
                       int ms)
{
    struct timespec ts;

    deadline_in(&ts, ms);
    while (!pred(o, x)) {
        if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT)
            return pred(o, x) ? 0 : -ETIMEDOUT;
    }
    return 0;
}

static int wait_for(struct e2e_origin *o, int (*pred)(struct e2e_origin *, uint64_t), uint64_t x,
                    int ms)
{
    int rc;

    pthread_mutex_lock(&o->mu);
    rc = wait_locked(o, pred, x, ms);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

static int p_done(struct e2e_origin *o, uint64_t n)
{
    return o->ndone >= n;
}

static int p_heads(struct e2e_origin *o, uint64_t n)
{
    return o->nreqs >= n;
}

static int p_conns(struct e2e_origin *o, uint64_t n)
{
    return o->nconns >= n;
}

static int p_body(struct e2e_origin *o, uint64_t n)
{
    return atomic_load(&o->body_in) >= n;
}

static int p_idle(struct e2e_origin *o, uint64_t n)
{
    (void)n;
    return o->nopen == 0;
}

int e2e_origin_wait_reqs(struct e2e_origin *o, unsigned n, int ms)
{
    return wait_for(o, p_done, n, ms);
}

int e2e_origin_wait_heads(struct e2e_origin *o, unsigned n, int ms)
{
    return wait_for(o, p_heads, n, ms);
}

int e2e_origin_wait_conns(struct e2e_origin *o, unsigned n, int ms)
{
    return wait_for(o, p_conns, n, ms);
}

int e2e_origin_wait_body_bytes(struct e2e_origin *o, uint64_t n, int ms)
{
    return wait_for(o, p_body, n, ms);
}

int e2e_origin_wait_idle(struct e2e_origin *o, int ms)
{
    return wait_for(o, p_idle, 0, ms);
}

/* ---- holds ----------------------------------------------------------------------------------- */

struct e2e_hold *e2e_hold_new(struct e2e_origin *o)
{
    struct e2e_hold *h = e2e_xmalloc(sizeof(*h));

    memset(h, 0, sizeof(*h));
    h->o = o;
    pthread_mutex_lock(&o->mu);
    h->next = o->holds;
    o->holds = h;
    pthread_mutex_unlock(&o->mu);
    return h;
}

int e2e_hold_wait(struct e2e_hold *h, unsigned n, int ms)
{
    struct e2e_origin *o = h->o;
    struct timespec ts;
    int rc = 0;

    deadline_in(&ts, ms);
    pthread_mutex_lock(&o->mu);
    while (h->reached < n) {
        if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT) {
            rc = h->reached >= n ? 0 : -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

void e2e_hold_release(struct e2e_hold *h)
{
    pthread_mutex_lock(&h->o->mu);
    h->released = 1;
    pthread_cond_broadcast(&h->o->cv);
    pthread_mutex_unlock(&h->o->mu);
}

/* On a connection thread: waits until the test releases <h> or the origin stops. */
static void hold_here(struct e2e_origin *o, struct e2e_hold *h)
{
    pthread_mutex_lock(&o->mu);
    h->reached++;
    pthread_cond_broadcast(&o->cv);
    while (!h->released && !o->stopping)
        pthread_cond_wait(&o->cv, &o->mu);
    pthread_mutex_unlock(&o->mu);
}

/* Sleeps <ms> unless the origin stops first. */
static void pause_here(struct e2e_origin *o, unsigned ms)
{
    struct timespec ts;

    deadline_in(&ts, (int)ms);
    pthread_mutex_lock(&o->mu);
    while (!o->stopping)
        if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&o->mu);
}

/* ---- request parsing
 * ------------------------------------------------------------------------------ */

static int on_message_begin(llhttp_t *p)
{
    struct oconn *c = p->data;
    struct e2e_req *r = e2e_xmalloc(sizeof(*r));

    memset(r, 0, sizeof(*r));
    r->body = e2e_xmalloc(1);
    r->body[0] = '\0';
    r->target = e2e_xstrndup("", 0);
    c->cur = r;
    c->cur_pub = 0;
    c->field.len = 0;
    c->value.len = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct oconn *c = p->data;
    size_t old = strlen(c->cur->target);

    c->cur->target = e2e_xrealloc(c->cur->target, old + len + 1);
    memcpy(c->cur->target + old, at, len);
    c->cur->target[old + len] = '\0';
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct oconn *c = p->data;

    e2e_buf_add(&c->field, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct oconn *c = p->data;

    e2e_buf_add(&c->value, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct oconn *c = p->data;

    e2e_hdrs_add(&c->cur->hdrs, c->field.p ? c->field.p : "", c->field.len,
                 c->value.p ? c->value.p : "", c->value.len);
    c->field.len = 0;
    c->value.len = 0;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct oconn *c = p->data;
    struct e2e_origin *o = c->o;
    struct e2e_req *r = c->cur;

    snprintf(r->method, sizeof(r->method), "%s", llhttp_method_name(llhttp_get_method(p)));
    r->major = llhttp_get_http_major(p);
    r->minor = llhttp_get_http_minor(p);
    r->chunked = (p->flags & F_CHUNKED) != 0;
    r->conn = c->id;
    r->conn_seq = c->nreq++;
    r->tls = c->ssl != NULL;
    snprintf(r->sni, sizeof(r->sni), "%s", c->sni);
    r->client_cert = c->client_cert;
    snprintf(r->client_cn, sizeof(r->client_cn), "%s", c->client_cn);
    pthread_mutex_lock(&o->mu);
    if (o->nreqs == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 64;
        o->reqs = e2e_xrealloc(o->reqs, o->cap * sizeof(*o->reqs));
    }
    r->seq = o->nreqs;
    o->reqs[o->nreqs++] = r;
    c->cur_pub = 1;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct oconn *c = p->data;
    struct e2e_origin *o = c->o;
    struct e2e_req *r = c->cur;

    pthread_mutex_lock(&o->mu);
    if (r->body_len < E2E_BODY_CAP) {
        size_t take = len;

        if (r->body_len + take > E2E_BODY_CAP)
            take = (size_t)(E2E_BODY_CAP - r->body_len);
        r->body = e2e_xrealloc(r->body, (size_t)r->body_len + take + 1);
        memcpy(r->body + r->body_len, at, take);
        r->body[r->body_len + take] = '\0';
    }
    r->body_len += len;
    atomic_fetch_add(&o->body_in, len);
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct oconn *c = p->data;
    struct e2e_origin *o = c->o;

    pthread_mutex_lock(&o->mu);
    c->cur->keep_alive = llhttp_should_keep_alive(p);
    c->cur->done = 1;
    o->ndone++;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return HPE_PAUSED; /* answer this one before parsing the next (pipelining) */
}

static void settings_init(void)
{
    llhttp_settings_init(&req_settings);
    req_settings.on_message_begin = on_message_begin;
    req_settings.on_url = on_url;
    req_settings.on_header_field = on_header_field;
    req_settings.on_header_value = on_header_value;
    req_settings.on_header_value_complete = on_header_value_complete;
    req_settings.on_headers_complete = on_headers_complete;
    req_settings.on_body = on_body;
    req_settings.on_message_complete = on_message_complete;

    pattern_tab = e2e_xmalloc(PERIOD + SLICE);
    for (uint32_t i = 0; i < PERIOD + SLICE; i++)
        pattern_tab[i] = e2e_pattern_byte(i);
}

/* ---- answering
 * ----------------------------------------------------------------------------------- */

/* Closes the connection (under the lock, so that stop never shuts down a reused fd number);
 * with <reset>, makes the kernel send a RST. */
static void conn_close(struct oconn *c, int reset)
{
    /* close_notify first (outside the lock: it may block), so that a body delimited by the
     * close is seen complete; only this thread changes c->fd */
    if (c->ssl != NULL && !reset && c->fd >= 0) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    pthread_mutex_lock(&c->o->mu);
    if (c->fd >= 0) {
        if (reset) {
            struct linger l = {1, 0};

            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        }
        close(c->fd);
        c->fd = -1;
        c->o->nopen--;
        pthread_cond_broadcast(&c->o->cv);
    }
    pthread_mutex_unlock(&c->o->mu);
}

/* Sends all <len> bytes; returns 0, or -1 when the peer is gone. */
static int send_all(struct oconn *c, const void *p, size_t len)
{
    const char *b = p;

    while (len > 0) {
        ssize_t n;

        if (c->ssl != NULL) {
            ERR_clear_error();
            n = SSL_write(c->ssl, b, len > INT32_MAX ? INT32_MAX : (int)len);
            if (n <= 0) {
                ERR_clear_error();
                return -1;
            }
        } else {
            n = send(c->fd, b, len, MSG_NOSIGNAL);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        atomic_fetch_add(&c->o->bytes_sent, (uint64_t)n);
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_str(struct oconn *c, const char *s)
{
    return send_all(c, s, strlen(s));
}

/* Sends body bytes [<off>, <off>+<len>) of <act>'s body, from the pattern or its buffer. */
static int send_body_range(struct oconn *c, const struct e2e_action *act, uint64_t off,
                           uint64_t len)
{
    if (act->pattern_len == 0)
        return send_all(c, act->body + off, (size_t)len);
    while (len > 0) {
        size_t n = len < SLICE ? (size_t)len : SLICE;

        if (send_all(c, pattern_tab + off % PERIOD, n) != 0)
            return -1;
        off += n;
        len -= n;
    }
    return 0;
}

static const char *reason_of(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 404:
        return "Not Found";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Whatever";
    }
}

/* Next body boundary at or after <done> where the sender must stop: a mid hold or a reset. */
static uint64_t next_stop(const struct e2e_action *act, uint64_t done, uint64_t total, int held)
{
    uint64_t stop = total;

    if (act->mid_hold != NULL && !held && act->mid_hold_at >= done && act->mid_hold_at < stop)
        stop = act->mid_hold_at;
    if (act->reset_after && act->reset_at >= done && act->reset_at < stop)
        stop = act->reset_at;
    return stop;
}

/* Answers with a body (RESPOND, CHUNKED, CLOSE_DELIM). Returns 1 when the connection must be
 * closed afterwards, -1 when it is gone, 0 to keep it. */
static int answer_body(struct oconn *c, const struct e2e_req *req, const struct e2e_action *act)
{
    struct e2e_buf head = {0};
    char line[256];
    int status = act->status ? act->status : 200;
    int bodyless_status = status < 200 || status == 204 || status == 304;
    int is_head = strcmp(req->method, "HEAD") == 0;
    uint64_t total = act->pattern_len;
    uint64_t done = 0;
    int held = 0, rc;

    if (total == 0 && !act->no_body)
        total = act->body_len ? act->body_len : strlen(act->body);
    if (bodyless_status)
        total = 0;

    snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, reason_of(status));
    e2e_buf_add(&head, line, strlen(line));
    if (act->headers)
        e2e_buf_add(&head, act->headers, strlen(act->headers));
    if (act->kind == E2E_RESPOND && !bodyless_status) {
        snprintf(line, sizeof(line), "Content-Length: %llu\r\n", (unsigned long long)total);
        e2e_buf_add(&head, line, strlen(line));
    } else if (act->kind == E2E_CHUNKED && !bodyless_status) {
        e2e_buf_add(&head, "Transfer-Encoding: chunked\r\n", 28);
    }
    if (!req->keep_alive && act->kind != E2E_CLOSE_DELIM)
        e2e_buf_add(&head, "Connection: close\r\n", 19);
    e2e_buf_add(&head, "\r\n", 2);
    rc = send_all(c, head.p, head.len);
    free(head.p);
    if (rc != 0)
        return -1;
    if (is_head || bodyless_status)
        goto out;

    if (act->kind == E2E_CHUNKED) {
        size_t csz = act->chunk_size ? act->chunk_size : (size_t)(total / 3 + 1);

        while (done < total) {
            uint64_t n = total - done < csz ? total - done : csz;

            if (act->mid_hold != NULL && !held && done >= act->mid_hold_at) {
                hold_here(c->o, act->mid_hold);
                held = 1;
            }
            if (act->reset_after && done >= act->reset_at) {
                conn_close(c, 1);
                return -1;
            }
            snprintf(line, sizeof(line), "%llx\r\n", (unsigned long long)n);
            if (send_str(c, line) != 0 || send_body_range(c, act, done, n) != 0 ||
                send_all(c, "\r\n", 2) != 0)
                return -1;
            done += n;
            if (done < total && act->pause_ms)
                pause_here(c->o, act->pause_ms);
        }
        if (act->reset_after && done >= act->reset_at) {
            conn_close(c, 1);
            return -1;
        }
        if (send_str(c, "0\r\n\r\n") != 0)
            return -1;
    } else {
        while (done < total) {
            uint64_t stop = next_stop(act, done, total, held);

            if (stop == done) {
                if (act->mid_hold != NULL && !held && done == act->mid_hold_at) {
                    hold_here(c->o, act->mid_hold);
                    held = 1;
                    continue;
                }
                conn_close(c, 1); /* reset_at */
                return -1;
            }
            if (send_body_range(c, act, done, stop - done) != 0)
                return -1;
            done = stop;
        }
    }
out:
    if (act->kind == E2E_CLOSE_DELIM || act->close_after || !req->keep_alive)
        return 1;
    return 0;
}

/* Picks the action for <req>: the queue first, then the handler, else the default. */
static void choose(struct oconn *c, const struct e2e_req *req, struct e2e_action *act)
{
    struct e2e_origin *o = c->o;
    void (*fn)(const struct e2e_req *, struct e2e_action *, void *);
    void *arg;

    memset(act, 0, sizeof(*act));
    pthread_mutex_lock(&o->mu);
    if (o->qlen > 0) {
        *act = o->queue[o->qhead];
        o->qhead++;
        o->qlen--;
        pthread_mutex_unlock(&o->mu);
        return;
    }
    fn = o->fn;
    arg = o->arg;
    pthread_mutex_unlock(&o->mu);
    if (fn != NULL)
        fn(req, act, arg);
}

/* Answers the request just completed. Returns 0 to go on reading, -1 when the connection is
 * closed. */
static int answer(struct oconn *c, const struct e2e_req *req)
{
    struct e2e_action act;
    int rc;

    choose(c, req, &act);
    if (act.body == NULL && !act.no_body && act.pattern_len == 0)
        act.body = "hello";
    if (act.sndbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &act.sndbuf, sizeof(act.sndbuf));
    if (act.delay_ms)
        pause_here(c->o, act.delay_ms);
    if (act.hold != NULL)
        hold_here(c->o, act.hold);
    if (act.interim != NULL && send_str(c, act.interim) != 0)
        return -1;
    switch (act.kind) {
    case E2E_RESET:
        conn_close(c, 1);
        return -1;
    case E2E_CLOSE:
        conn_close(c, 0);
        return -1;
    case E2E_RAW:
        rc = send_all(c, act.raw, act.raw_len ? act.raw_len : strlen(act.raw));
        if (rc != 0 || !act.raw_keep) {
            conn_close(c, 0);
            return -1;
        }
        return 0;
    default:
        rc = answer_body(c, req, &act);
        if (rc != 0) {
            conn_close(c, 0);
            return -1;
        }
        return 0;
    }
}

/* Receives up to <len> bytes: > 0, or <= 0 when the connection is over. */
static ssize_t conn_recv(struct oconn *c, char *buf, size_t len)
{
    int n;

    if (c->ssl == NULL)
        return recv(c->fd, buf, len, 0);
    ERR_clear_error();
    n = SSL_read(c->ssl, buf, (int)len);
    if (n <= 0) {
        ERR_clear_error();
        errno = 0;
        return -1;
    }
    return n;
}

/* Runs the TLS handshake of a new connection; returns 0, or -1 (counted) when it failed. */
static int conn_handshake(struct oconn *c)
{
    struct e2e_origin *o = c->o;
    SSL *ssl = SSL_new(o->ssl_ctx);
    char why[256] = "";
    unsigned long e;
    const char *sni;
    X509 *peer;

    if (ssl == NULL || !SSL_set_fd(ssl, c->fd))
        abort();
    ERR_clear_error();
    if (SSL_accept(ssl) != 1) {
        e = ERR_get_error();
        if (e != 0)
            ERR_error_string_n(e, why, sizeof(why));
        else
            snprintf(why, sizeof(why), "connection closed during the handshake");
        ERR_clear_error();
        SSL_free(ssl);
        pthread_mutex_lock(&o->mu);
        o->nhs_fail++;
        snprintf(o->tls_err, sizeof(o->tls_err), "%s", why);
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
        return -1;
    }
    sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    snprintf(c->sni, sizeof(c->sni), "%s", sni ? sni : "");
    peer = SSL_get1_peer_certificate(ssl);
    if (peer != NULL) {
        c->client_cert = 1;
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->client_cn,
                                      sizeof(c->client_cn)) < 0)
            c->client_cn[0] = '\0';
        X509_free(peer);
    }
    c->ssl = ssl;
    return 0;
}

static void *conn_main(void *arg)
{
    struct oconn *c = arg;
    struct e2e_origin *o = c->o;
    char *buf = e2e_xmalloc(SLICE);

    llhttp_init(&c->parser, HTTP_REQUEST, &req_settings);
    c->parser.data = c;
    if (o->ssl_ctx != NULL && conn_handshake(c) != 0)
        goto out;
    for (;;) {
        ssize_t n = conn_recv(c, buf, SLICE);
        size_t off = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        while (off < (size_t)n) {
            llhttp_errno_t err = llhttp_execute(&c->parser, buf + off, (size_t)n - off);

            if (err == HPE_OK)
                break;
            if (err == HPE_PAUSED) {
                off = (size_t)(llhttp_get_error_pos(&c->parser) - buf);
                llhttp_resume(&c->parser);
                if (answer(c, c->cur) != 0)
                    goto out;
                continue;
            }
            /* accel sent something that is not HTTP: answer 400, note it, close */
            fprintf(stderr, "e2e origin: conn %u: bad request bytes: %s (%s)\n", c->id,
                    llhttp_errno_name(err), llhttp_get_error_reason(&c->parser));
            send_str(c,
                     "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            goto out;
        }
    }
out:
    pthread_mutex_lock(&o->mu);
    if (c->cur != NULL && c->cur_pub && !c->cur->done)
        c->cur->aborted = 1;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    conn_close(c, 0);
    SSL_free(c->ssl);
    c->ssl = NULL;
    free(buf);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct e2e_origin *o = arg;

    for (;;) {
        int fd = accept(o->lfd, NULL, NULL);
        struct oconn *c;
        int one = 1;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* shut down by e2e_origin_stop() */
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = e2e_xmalloc(sizeof(*c));
        memset(c, 0, sizeof(*c));
        c->o = o;
        c->fd = fd;
        pthread_mutex_lock(&o->mu);
        if (o->stopping) {
            pthread_mutex_unlock(&o->mu);
            close(fd);
            free(c);
            break;
        }
        c->id = o->nconns++;
        o->nopen++;
        c->next = o->conns;
        o->conns = c;
        if (pthread_create(&c->thr, NULL, conn_main, c) != 0)
            abort();
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
    }
    return NULL;
}

/* ---- lifecycle
 * ------------------------------------------------------------------------------------ */

static struct e2e_origin *origin_start(SSL_CTX *ctx, int port)
{
    struct e2e_origin *o = e2e_xmalloc(sizeof(*o));
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    pthread_condattr_t ca;
    int one = 1;

    pthread_once(&settings_once, settings_init);
    memset(o, 0, sizeof(*o));
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    o->ssl_ctx = ctx;

    o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(o->lfd >= 0, "origin socket: %s", strerror(errno));
    setsockopt(o->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    cr_assert(bind(o->lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "origin bind to port %d: %s",
              port, strerror(errno));
    cr_assert(listen(o->lfd, 512) == 0, "origin listen: %s", strerror(errno));
    getsockname(o->lfd, (struct sockaddr *)&sin, &sl);
    o->port = ntohs(sin.sin_port);
    cr_assert(pthread_create(&o->accept_thr, NULL, accept_main, o) == 0);
    e2e_reg_origin(o, 1);
    return o;
}

struct e2e_origin *e2e_origin_start(void)
{
    return origin_start(NULL, 0);
}

struct e2e_origin *e2e_origin_start_port(int port)
{
    return origin_start(NULL, port);
}

/* The reason at the top of the OpenSSL error queue, for a failure message. */
static const char *ssl_reason(void)
{
    static char why[256];

    ERR_error_string_n(ERR_peek_last_error(), why, sizeof(why));
    ERR_clear_error();
    return why;
}

struct e2e_origin *e2e_origin_start_tls(const char *cert, const char *key, const char *client_ca)
{
    static const unsigned char sid_ctx[] = "accel-e2e-origin";
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    cr_assert_not_null(ctx, "SSL_CTX_new: %s", ssl_reason());
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(ctx, cert), 1, "origin certificate %s: %s",
                 cert, ssl_reason());
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1, "origin key %s: %s",
                 key, ssl_reason());
    cr_assert_eq(SSL_CTX_check_private_key(ctx), 1, "origin key %s: %s", key, ssl_reason());
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (client_ca != NULL) {
        cr_assert_eq(SSL_CTX_load_verify_locations(ctx, client_ca, NULL), 1, "origin CA %s: %s",
                     client_ca, ssl_reason());
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(client_ca));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return origin_start(ctx, 0);
}

unsigned e2e_origin_nhandshake_fail(struct e2e_origin *o)
{
    unsigned n;

    pthread_mutex_lock(&o->mu);
    n = o->nhs_fail;
    pthread_mutex_unlock(&o->mu);
    return n;
}

void e2e_origin_tls_error(struct e2e_origin *o, char *out, size_t len)
{
    pthread_mutex_lock(&o->mu);
    snprintf(out, len, "%s", o->tls_err);
    pthread_mutex_unlock(&o->mu);
}

int e2e_origin_port(const struct e2e_origin *o)
{
    return o->port;
}

void e2e_origin_set_handler(struct e2e_origin *o,
                            void (*fn)(const struct e2e_req *req, struct e2e_action *act,
                                       void *arg),
                            void *arg)
{
    pthread_mutex_lock(&o->mu);
    o->fn = fn;
    o->arg = arg;
    pthread_mutex_unlock(&o->mu);
}

void e2e_origin_push(struct e2e_origin *o, const struct e2e_action *act)
{
    pthread_mutex_lock(&o->mu);
    if (o->qhead > 0 && o->qlen > 0)
        memmove(o->queue, o->queue + o->qhead, o->qlen * sizeof(*o->queue));
    o->qhead = 0;
    if (o->qlen == o->qcap) {
        o->qcap = o->qcap ? 2 * o->qcap : 16;
        o->queue = e2e_xrealloc(o->queue, o->qcap * sizeof(*o->queue));
    }
    o->queue[o->qlen++] = *act;
    pthread_mutex_unlock(&o->mu);
}

void e2e_origin_stop(struct e2e_origin **op)
{
    struct e2e_origin *o = *op;
    struct oconn *c, *next;
    struct e2e_hold *h, *hn;

    if (o == NULL)
        return;
    *op = NULL;
    e2e_reg_origin(o, 0);
    pthread_mutex_lock(&o->mu);
    o->stopping = 1;
    shutdown(o->lfd, SHUT_RDWR);
    for (c = o->conns; c != NULL; c = c->next)
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);

    pthread_join(o->accept_thr, NULL);
    /* no new connection after the accept thread ended: the list is stable */
    for (c = o->conns; c != NULL; c = c->next)
        pthread_join(c->thr, NULL);
    close(o->lfd);
    for (c = o->conns; c != NULL; c = next) {
        next = c->next;
        if (c->cur != NULL && !c->cur_pub) {
            /* a request whose head never completed was never published */
            free(c->cur->target);
            free(c->cur->body);
            e2e_hdrs_free(&c->cur->hdrs);
            free(c->cur);
        }
        free(c->field.p);
        free(c->value.p);
        free(c);
    }
    for (unsigned i = 0; i < o->nreqs; i++) {
        free(o->reqs[i]->target);
        free(o->reqs[i]->body);
        e2e_hdrs_free(&o->reqs[i]->hdrs);
        free(o->reqs[i]);
    }
    for (h = o->holds; h != NULL; h = hn) {
        hn = h->next;
        free(h);
    }
    free(o->reqs);
    free(o->queue);
    SSL_CTX_free(o->ssl_ctx);
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

/* ---- counters
 * ------------------------------------------------------------------------------------- */

unsigned e2e_origin_nconns(struct e2e_origin *o)
{
    unsigned n;

    pthread_mutex_lock(&o->mu);
    n = o->nconns;
    pthread_mutex_unlock(&o->mu);
    return n;
}

unsigned e2e_origin_nreqs(struct e2e_origin *o)
{
    unsigned n;

    pthread_mutex_lock(&o->mu);
    n = o->nreqs;
    pthread_mutex_unlock(&o->mu);
    return n;
}

unsigned e2e_origin_ndone(struct e2e_origin *o)
{
    unsigned n;

    pthread_mutex_lock(&o->mu);
    n = o->ndone;
    pthread_mutex_unlock(&o->mu);
    return n;
}

unsigned e2e_origin_open_conns(struct e2e_origin *o)
{
    unsigned n;

    pthread_mutex_lock(&o->mu);
    n = o->nopen;
    pthread_mutex_unlock(&o->mu);
    return n;
}

uint64_t e2e_origin_bytes_sent(struct e2e_origin *o)
{
    return atomic_load(&o->bytes_sent);
}

uint64_t e2e_origin_body_bytes_in(struct e2e_origin *o)
{
    return atomic_load(&o->body_in);
}

const struct e2e_req *e2e_origin_req(struct e2e_origin *o, unsigned i)
{
    const struct e2e_req *r = NULL;

    pthread_mutex_lock(&o->mu);
    if (i < o->nreqs)
        r = o->reqs[i];
    pthread_mutex_unlock(&o->mu);
    return r;
}

/* ---- a port where nothing listens
 * ------------------------------------------------------------------ */

int e2e_port_down(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    e2e_reg_fd(fd);
    return ntohs(sin.sin_port);
}
