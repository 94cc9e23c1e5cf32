/* conn.c - a client connection: its state machine, the client side of its I/O, its limits,
 * timeouts and logs. The pass sink lives in pass.c and the use of the cache in cachepath.c; the
 * three share struct conn through conn_int.h. The origin is talked to by fetch.c only.
 *
 * States (enum conn_state): HANDSHAKE runs a TLS handshake (TLS listeners only); HEAD reads and
 * parses a request head; START validates it and sends it to the cache (cachepath.c) or straight to
 * a fetch (a pass); EXCHANGE streams the request body to the fetch and its response to the client;
 * DELIVER writes an answer from an object; ERROR queues an answer of accel's own; FLUSH waits for
 * the output to drain; DONE logs the request and either starts the next one (keep-alive,
 * pipelining) or closes. conn_run() calls the current state's function until one returns CONN_WAIT;
 * I/O callbacks only move bytes into buffers and call conn_run(). A callback of a fetch or a store
 * that conn_run() itself set off (through fetch_resume) records what happened and asks for another
 * turn (conn_poke), so the states never run inside themselves.
 *
 * Buffers and backpressure: <in> holds the request head from offset 0 while it is parsed (spans
 * point into it; it is compacted only between requests or while a body streams). The request
 * parser is fed only as many body bytes as the fetch has room for (fetch_body_room), and the
 * fetch feeds its response parser only as many bytes as <out> has room for below BUF_HIGH, so
 * memory per connection stays bounded whatever the speeds of the two sides: a slow client
 * stops the fetch reading the origin, a slow origin stops us reading the client.
 *
 * Ownership: the conn owns its socket, its buffers and, during a pass, its fetch (cancelled
 * when the conn closes). A store it owns for a miss goes on without it when it leaves.
 * conn_close() is idempotent and only queues the conn; the worker's prepare hook frees it once
 * nothing is on the stack. */
#include "accel/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "accel/fetch.h"
#include "accel/key.h"
#include "accel/log.h"
#include "accel/ratelimit.h"
#include "accel/tls.h"
#include "conn_int.h"

static void txn_end(struct conn *c);
static void txn_begin(struct conn *c);
static void reset_request(struct conn *c);
static enum conn_state conn_head(struct conn *c);
static void copy_for_log(struct conn *c);
static enum conn_state conn_start(struct conn *c);
static enum conn_state conn_error(struct conn *c);
static enum conn_state conn_flush(struct conn *c);
static void access_log(struct conn *c);
static void count_status(struct conn *c);
static enum conn_state conn_done(struct conn *c);
static void on_client_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_client_writable(struct ev_loop *loop, ev_io *w, int revents);
static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents);
static void client_read(struct conn *c);

const struct conf *conn_conf(const struct conn *c)
{
    return c->tx.conf != NULL ? c->tx.conf : c->w->conf;
}

void conn_set_timer(struct conn *c, enum timer_mode m, uint64_t ms, int refresh)
{
    if (m == TM_NONE) {
        ev_timer_stop(c->w->loop, &c->timer);
        c->tmode = TM_NONE;
        return;
    }
    if (c->tmode == m && !refresh)
        return;
    c->tmode = m;
    c->timer.repeat = (double)ms / 1000.0;
    ev_timer_again(c->w->loop, &c->timer);
}

void conn_want_client(struct conn *c, int rd, int wr)
{
    struct ev_loop *loop = c->w->loop;

    if (transport_fd(&c->t) < 0)
        return; /* no peer (the null transport): its reads end and its writes never wait */
    /* TLS: bytes already decrypted do not make the socket readable; a read may wait for
     * writability (and a write for readability) */
    if (rd && transport_pending(&c->t) > 0)
        ev_feed_event(loop, &c->rio, EV_READ);
    transport_events(&c->t, rd, wr, &rd, &wr);
    if (rd && !ev_is_active(&c->rio))
        ev_io_start(loop, &c->rio);
    else if (!rd && ev_is_active(&c->rio))
        ev_io_stop(loop, &c->rio);
    if (wr && !ev_is_active(&c->wio))
        ev_io_start(loop, &c->wio);
    else if (!wr && ev_is_active(&c->wio))
        ev_io_stop(loop, &c->wio);
}

void conn_close(struct conn *c)
{
    struct worker *w = c->w;

    CHECK_OBJ(c, CONN_MAGIC);
    if (c->closing)
        return;
    c->closing = 1;
    ev_io_stop(w->loop, &c->rio);
    ev_io_stop(w->loop, &c->wio);
    ev_timer_stop(w->loop, &c->timer);
    txn_end(c);
    transport_close(&c->t);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = w->closed;
    w->closed = c;
    log_debug("conn %p closed", (void *)c);
}

void conn_free_closed(struct worker *w)
{
    while (w->closed != NULL) {
        struct conn *c = w->closed;

        w->closed = c->next;
        http_parser_fini(&c->req);
        buf_free(&c->out);
        buf_free(&c->logreq);
        buf_free(&c->keybuf);
        free(c->in);
        free(c->zout);
        gz_dec_free(&c->unzip_spare);
        c->magic = 0;
        free(c);
        worker_conn_closed(w);
    }
}

struct conn *conn_next(struct conn *c)
{
    return c->next;
}

void conn_drain(struct conn *c)
{
    CHECK_OBJ(c, CONN_MAGIC);
    c->draining = 1;
    if (c->state == CONN_HEAD && !c->tx.head_started && c->in_len == c->in_pos)
        conn_close(c);
}

/* Writes what is pending in <out>, setting *<progress> when some bytes went. Returns 0 (maybe
 * with bytes left), or -1 when the client is gone (the caller closes). */
int conn_flush_client(struct conn *c, int *progress)
{
    if (c->wr_err)
        return -1;
    while (buf_pending(&c->out) > 0) {
        ssize_t n = transport_write(&c->t, c->out.p + c->out.off, buf_pending(&c->out));
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            *progress = 1;
            continue;
        }
        if (n == -EAGAIN)
            return 0;
        return -1;
    }
    if (c->out.cap > 4 * BUF_HIGH) {
        /* A large head or error once grew it: do not keep that memory on an idle conn. */
        buf_free(&c->out);
    }
    return 0;
}

void conn_write_interim(struct conn *c, const struct http_head *h)
{
    int progress = 0;

    http_write_interim(&c->out, h);
    if (conn_flush_client(c, &progress) < 0)
        c->wr_err = 1; /* seen by the next flush */
    /* what the socket did not take goes out with the answer's head */
}

enum conn_state conn_fail(struct conn *c, unsigned status, const char *msg)
{
    c->tx.err_status = status;
    c->tx.err_msg = msg;
    return CONN_ERROR;
}

/* Releases what the current request holds (its object, fetch or store, and snapshot). */
static void txn_end(struct conn *c)
{
    conn_drop_obj(c);
    fetch_cancel(&c->tx.f); /* (none is left after a request that ended well) */
    conf_unref(&c->tx.conf);
}

/* The next request starts from nothing. */
static void txn_begin(struct conn *c)
{
    c->tx = (struct txn){.out_mark = c->t.bytes_out};
    c->req.max_body = c->w->conf->max_body_size_any;
    c->n_ziov = 0;
    c->logreq.off = c->logreq.len = 0;
}

static void reset_request(struct conn *c)
{
    txn_end(c);
    txn_begin(c);
}

static enum conn_state conn_head(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    size_t used;
    enum http_ev ev;

    if (!c->tx.head_started) {
        /* A new request: move what is left of the input to the start, so that the head can
         * grow in place and its spans stay valid. */
        if (c->in_pos > 0) {
            memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
            c->in_len -= c->in_pos;
            c->in_pos = 0;
        }
        if (c->in_len == 0) {
            if (c->client_eof || c->draining)
                return CONN_DONE;
            conn_want_client(c, 1, 0);
            conn_set_timer(
                c, TM_KEEPALIVE,
                conf->keepalive_timeout ? conf->keepalive_timeout : conf->client_header_timeout, 0);
            return CONN_WAIT;
        }
        c->tx.head_started = 1;
        c->tx.conf = conf_ref(c->w->conf); /* this request runs on this snapshot to its end */
        conf = c->tx.conf;
        c->tx.t_start = ev_now(c->w->loop);
        conn_set_timer(c, TM_HEADER, conf->client_header_timeout, 0);
    }
    ev = http_parse(&c->req, c->in + c->in_pos, c->in_len - c->in_pos, &used);
    c->in_pos += used;
    switch (ev) {
    case HTTP_EV_HEAD:
        return CONN_START;
    case HTTP_EV_ERROR:
        return conn_fail(c, (unsigned)c->req.err_status, c->req.err_reason);
    case HTTP_EV_DONE:
        /* on_headers_complete always pauses first */
        return conn_fail(c, 400, "unexpected message end");
    case HTTP_EV_MORE:
        break;
    }
    if (c->client_eof)
        return CONN_DONE;
    if (c->in_len == c->in_cap) {
        if (c->in_cap >= conf->max_header_size)
            return conn_fail(c, c->req.in_url ? 414 : 431,
                             c->req.in_url ? "request target too long" : "request head too large");
        /* Grow, then parse the head again from its start: the spans pointed into the old
         * buffer. */
        c->in_cap = c->in_cap * 2 > conf->max_header_size ? conf->max_header_size : c->in_cap * 2;
        c->in = xrealloc(c->in, c->in_cap);
        http_parser_init(&c->req, 1, conf->max_headers, conf->max_uri_length);
        c->in_pos = 0;
        return CONN_HEAD;
    }
    conn_want_client(c, 1, 0);
    return CONN_WAIT;
}

static void copy_for_log(struct conn *c)
{
    const struct http_head *h = &c->req.head;
    const struct field *ref = http_find(h, "referer"), *ua = http_find(h, "user-agent");
    size_t tlen = h->target.len > 2048 ? 2048 : h->target.len;

    if (!log_access_enabled())
        return;
    buf_printf(&c->logreq, "%s ", llhttp_method_name((llhttp_method_t)h->method));
    buf_append(&c->logreq, h->target.p, tlen);
    buf_printf(&c->logreq, " HTTP/%u.%u", h->vmajor, h->vminor);
    buf_append(&c->logreq, "", 1);
    if (ref != NULL)
        buf_append(&c->logreq, ref->value.p, ref->value.len > 1024 ? 1024 : ref->value.len);
    else
        buf_append_str(&c->logreq, "-");
    buf_append(&c->logreq, "", 1);
    if (ua != NULL)
        buf_append(&c->logreq, ua->value.p, ua->value.len > 1024 ? 1024 : ua->value.len);
    else
        buf_append_str(&c->logreq, "-");
    buf_append(&c->logreq, "", 1);
}

/* Before accel answers a request itself: a request without a body is read to its end (the
 * connection can go on); one with a body is not read, so the connection closes after the
 * answer. */
static void end_bodyless(struct conn *c)
{
    size_t used;

    if (c->tx.req_done)
        return;
    if (c->tx.has_body) {
        c->tx.close_after = 1;
        return;
    }
    if (http_parse(&c->req, c->in + c->in_pos, 0, &used) == HTTP_EV_DONE) {
        c->tx.req_done = 1;
        c->tx.req_ka = (c->req.head.flags & HTTP_F_KEEPALIVE) != 0;
    }
}

/* https_redirect: the same URL over https, on the TLS listener's port. */
static enum conn_state conn_redirect_https(struct conn *c)
{
    const struct http_head *h = &c->req.head;
    struct span host = c->tx.fwd.client_host, path = http_request_path(h);
    unsigned port = c->w->tls_port,
             st = h->method == HTTP_GET || h->method == HTTP_HEAD ? 301 : 308;
    char portbuf[16] = "";

    if (host.len == 0)
        return conn_fail(c, 400, "https_redirect: no Host to redirect to");
    /* the host without its port ("[v6]:80" keeps its brackets) */
    for (size_t i = host.len; i > 0; i--) {
        if (host.p[i - 1] == ']')
            break;
        if (host.p[i - 1] == ':') {
            host.len = i - 1;
            break;
        }
    }
    if (port != 443)
        snprintf(portbuf, sizeof portbuf, ":%u", port);
    end_bodyless(c);
    c->tx.status = st;
    buf_printf(&c->out,
               "HTTP/1.1 %u %s\r\nDate: %s\r\nLocation: https://%.*s%s%.*s\r\n"
               "Content-Length: 0\r\nCache-Control: no-store\r\n%s\r\n",
               st, st == 301 ? "Moved Permanently" : "Permanent Redirect", worker_date(c->w),
               (int)host.len, host.p, portbuf, (int)path.len, path.p,
               c->tx.close_after ? "Connection: close\r\n" : "");
    c->tx.resp_done = 1;
    return CONN_FLUSH;
}

/* The TLS handshake, before the first request. */
static enum conn_state conn_handshake(struct conn *c)
{
    int rc = transport_handshake(&c->t);

    if (rc == 0) {
        conn_set_timer(c, TM_NONE, 0, 0);
        atomic_fetch_add_explicit(transport_tls_resumed(&c->t) ? &c->w->stats.tls_resumed
                                                               : &c->w->stats.tls_handshakes,
                                  1, memory_order_relaxed);
        int ktls = transport_tls_ktls(&c->t) & 1;

        if (ktls)
            atomic_fetch_add_explicit(&c->w->stats.tls_ktls, 1, memory_order_relaxed);
        log_debug("client %s: %s%s%s", c->ip, transport_tls_version(&c->t),
                  transport_tls_resumed(&c->t) ? " (resumed)" : "", ktls ? " (kTLS)" : "");
        return CONN_HEAD;
    }
    if (rc == -EAGAIN) {
        conn_want_client(c, !c->t.rd_wants_wr, c->t.rd_wants_wr);
        conn_set_timer(c, TM_HANDSHAKE, conn_conf(c)->tls_handshake_timeout, 0);
        return CONN_WAIT;
    }
    /* plain HTTP on the TLS port, garbage, a client that gave up: nothing to answer */
    atomic_fetch_add_explicit(&c->w->stats.tls_handshake_errors, 1, memory_order_relaxed);
    log_limited(LOG_LVL_INFO, "tls handshake", "client %s: %s", c->ip, transport_why(&c->t, rc));
    conn_close(c);
    return CONN_WAIT;
}

/* Which route the request takes, its upstream and its limits. Returns 0, or -1 when it was
 * answered (no route, a body too large for the route): the caller flushes that answer. */
static int route_request(struct conn *c, enum conn_state *st)
{
    const struct conf *conf = conn_conf(c);
    const struct http_head *h = &c->req.head;
    struct span path = http_request_path(h);
    const struct conf_server *first;
    uint64_t limit;

    c->tx.route = route_match(conf, h->method, c->tx.fwd.client_host, path);
    if (conf->n_routes > 0 && c->tx.route == NULL) {
        *st = conn_fail(c, conf->no_route_status, "no route for this host and path");
        return -1;
    }
    c->tx.ug = route_upstream(conf, c->tx.route);
    first = &c->tx.ug->servers[0];
    c->tx.dhost = span_of(first->host, strlen(first->host));
    if (c->tx.ug->balance == CONF_BALANCE_HASH)
        c->tx.hash =
            route_hash(c->tx.fwd.client_host.len > 0 ? c->tx.fwd.client_host : c->tx.dhost, path);
    limit = c->tx.route != NULL ? c->tx.route->max_body_size : conf->max_body_size;
    if (limit != 0 && (h->flags & HTTP_F_LENGTH) && h->content_length > limit) {
        *st = conn_fail(c, 413, "body too large");
        return -1;
    }
    c->req.max_body = limit; /* a chunked body is held to it as it comes */
    return 0;
}

static enum conn_state conn_start(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    struct http_head *h = &c->req.head;
    const struct field *expect;
    enum conn_state st;

    atomic_fetch_add_explicit(&c->w->stats.requests, 1, memory_order_relaxed);
    c->tx.head_done = 1;
    c->tx.v10 = h->vmajor == 1 && h->vminor == 0;
    c->tx.head_req = h->method == HTTP_HEAD;
    c->tx.has_body = (h->flags & HTTP_F_CHUNKED) || h->content_length > 0;
    copy_for_log(c);
    if (http_request_host(h, &c->tx.fwd.client_host) < 0)
        return conn_fail(c, 400, "missing or invalid Host");
    if (h->method == HTTP_CONNECT)
        return conn_fail(c, 405, "CONNECT is not supported by a reverse proxy");
    if ((conf->deny_methods >> h->method) & 1)
        return conn_fail(c, conf->deny_status, "this method is refused here (deny_method)");
    if (!conf_acl_allows(conf, (const struct sockaddr *)&c->peer))
        return conn_fail(c, conf->deny_status, "access denied for this address (allow/deny)");
    if (c->w->rl != NULL) {
        c->tx.retry_after =
            ratelimit_take(c->w->rl, (const struct sockaddr *)&c->peer, ev_now(c->w->loop));
        if (c->tx.retry_after > 0) {
            atomic_fetch_add_explicit(&c->w->stats.rate_limited, 1, memory_order_relaxed);
            return conn_fail(c, 429, "too many requests from this address (rate_limit)");
        }
    }
    if ((h->flags & HTTP_F_TE) && !(h->flags & HTTP_F_CHUNKED))
        return conn_fail(c, 400, "unsupported Transfer-Encoding");
    c->tx.fwd.client_ip = c->ip;
    c->tx.fwd.proto = conn_scheme(c);
    if (conf->https_redirect && !c->tls)
        return conn_redirect_https(c);
    if (route_request(c, &st) < 0)
        return st;
    if (conf->host_header != NULL)
        c->tx.fwd.host = span_of(conf->host_header, strlen(conf->host_header));
    else if (c->tx.fwd.client_host.len > 0)
        c->tx.fwd.host = c->tx.fwd.client_host;
    else
        c->tx.fwd.host = c->tx.dhost;
    expect = http_find(h, "expect");
    if (expect != NULL && c->tx.has_body && !c->tx.v10 &&
        span_eq_ci(span_trim(expect->value), "100-continue"))
        buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    if (h->method == HTTP_PURGE)
        return conn_purge(c);
    if ((h->method == HTTP_GET || h->method == HTTP_HEAD) && !c->tx.has_body)
        return conn_cache_start(c);
    c->tx.cs = (struct req_cache_status){.verdict = REQ_PASS, .fwd = REQ_FWD_METHOD};
    return conn_start_pass(c);
}

static enum conn_state conn_error(struct conn *c)
{
    unsigned st = c->tx.err_status ? c->tx.err_status : 500;

    if (st / 100 == 4)
        atomic_fetch_add_explicit(&c->w->stats.bad_requests, 1, memory_order_relaxed);
    fetch_cancel(&c->tx.f);
    /* A refusal after a good head (a filter, the rate limit, no route) keeps the connection
     * when the request had no body; a malformed one never does. */
    if (c->tx.head_done && st != 400 && st != 408 && st != 413 && st != 414 && st != 431)
        end_bodyless(c);
    /* Unless the whole request was read, the rest of the input cannot be trusted. */
    if (!c->tx.req_done || st == 400 || st == 408 || st == 413 || st == 414 || st == 431)
        c->tx.close_after = 1;
    if (c->tx.err_msg != NULL && st / 100 == 4)
        log_info("client %s: %u %s", c->ip, st, c->tx.err_msg);
    c->tx.status = st;
    if (c->t.bytes_out == c->tx.out_mark)
        c->out.off = c->out.len = 0; /* drop a queued 100 Continue; never half an answer */
    http_write_error(&c->out, st, c->tx.err_msg ? c->tx.err_msg : http_reason(st),
                     worker_date(c->w), c->tx.close_after, c->tx.head_req, c->tx.retry_after);
    c->tx.resp_done = 1;
    return CONN_FLUSH;
}

static enum conn_state conn_flush(struct conn *c)
{
    int progress = 0;

    if (conn_flush_client(c, &progress) < 0) {
        conn_close(c);
        return CONN_WAIT;
    }
    if (buf_pending(&c->out) > 0) {
        conn_want_client(c, 0, 1);
        conn_set_timer(c, TM_SEND, conn_conf(c)->send_timeout, 1);
        return CONN_WAIT;
    }
    return CONN_DONE;
}

static void access_log(struct conn *c)
{
    char line[4096 + 512], tbuf[64];
    const char *rl = "-", *ref = "-", *ua = "-";
    time_t now = (time_t)ev_now(c->w->loop);
    struct tm tm;
    double rt = ev_now(c->w->loop) - c->tx.t_start;
    char ups[16] = "-";
    int n;

    if (c->logreq.len > 0) {
        rl = c->logreq.p;
        ref = rl + strlen(rl) + 1;
        ua = ref + strlen(ref) + 1;
    }
    gmtime_r(&now, &tm);
    strftime(tbuf, sizeof(tbuf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (c->tx.up_status)
        snprintf(ups, sizeof(ups), "%u", c->tx.up_status);
    n = snprintf(line, sizeof(line), "%s - - [%s] \"%s\" %u %llu \"%s\" \"%s\" %.3f %s %s\n", c->ip,
                 tbuf, rl, c->tx.status, (unsigned long long)c->tx.resp_body_out, ref, ua,
                 rt < 0 ? 0.0 : rt, ups, req_verdict_name(c->tx.cs.verdict));
    if (n > 0)
        log_access_line(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void count_status(struct conn *c)
{
    struct stats *s = &c->w->stats;

    switch (c->tx.status / 100) {
    case 2:
        atomic_fetch_add_explicit(&s->responses_2xx, 1, memory_order_relaxed);
        break;
    case 3:
        atomic_fetch_add_explicit(&s->responses_3xx, 1, memory_order_relaxed);
        break;
    case 4:
        atomic_fetch_add_explicit(&s->responses_4xx, 1, memory_order_relaxed);
        break;
    case 5:
        atomic_fetch_add_explicit(&s->responses_5xx, 1, memory_order_relaxed);
        break;
    default:
        break;
    }
}

static enum conn_state conn_done(struct conn *c)
{
    if (c->tx.head_started && c->tx.status != 0) {
        count_status(c);
        stats_hist_observe(&c->w->stats.request_time, ev_now(c->w->loop) - c->tx.t_start);
        if (log_access_enabled())
            access_log(c);
    }
    /* A client that half-closed after pipelining requests still gets every answer. */
    if (c->tx.close_after || c->draining || (c->client_eof && c->in_pos >= c->in_len) ||
        (c->tx.head_started && !c->tx.req_ka) || (c->tx.head_started && !c->tx.req_done) ||
        conn_conf(c)->keepalive_timeout == 0) {
        conn_close(c);
        return CONN_WAIT;
    }
    reset_request(c);
    return CONN_HEAD;
}

/* Runs the states until one waits. */
static void run_states(struct conn *c)
{
    enum conn_state next;

    while (!c->closing) {
        switch (c->state) {
        case CONN_HEAD:
            next = conn_head(c);
            break;
        case CONN_START:
            next = conn_start(c);
            break;
        case CONN_EXCHANGE:
            next = conn_exchange(c);
            break;
        case CONN_ERROR:
            next = conn_error(c);
            break;
        case CONN_FLUSH:
            next = conn_flush(c);
            break;
        case CONN_DONE:
            next = conn_done(c);
            break;
        case CONN_DELIVER:
            next = conn_deliver(c);
            break;
        case CONN_HANDSHAKE:
            next = conn_handshake(c);
            break;
        default:
            AZ(1);
            return;
        }
        if (next == CONN_WAIT)
            return;
        if (next != c->state)
            log_debug("conn %p: %s -> %s", (void *)c, state_names[c->state], state_names[next]);
        c->state = next;
    }
}

void conn_run(struct conn *c)
{
    if (c->running) {
        /* a callback of a fetch this run drives: one more turn once this one waits */
        c->rerun = 1;
        return;
    }
    c->running = 1;
    do {
        c->rerun = 0;
        run_states(c);
    } while (c->rerun && !c->closing);
    c->running = 0;
}

void conn_poke(struct conn *c)
{
    CHECK_OBJ(c, CONN_MAGIC);
    conn_run(c);
}

static void on_client_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;

    (void)loop;
    (void)revents;
    CHECK_OBJ(c, CONN_MAGIC);
    if (c->state == CONN_HANDSHAKE || (c->t.wr_wants_rd && buf_pending(&c->out) > 0)) {
        /* the handshake, or a TLS write that waited for the client's bytes */
        conn_run(c);
        if (c->closing || c->state == CONN_HANDSHAKE)
            return;
    }
    client_read(c);
}

/* Reads what the client sent into <in>, then runs the states. */
static void client_read(struct conn *c)
{
    ssize_t n;

    if (c->in_len == c->in_cap) {
        ev_io_stop(c->w->loop, &c->rio);
        return;
    }
    n = transport_read(&c->t, c->in + c->in_len, c->in_cap - c->in_len);
    if (n > 0) {
        c->in_len += (size_t)n;
    } else if (n == 0) {
        c->client_eof = 1;
        ev_io_stop(c->w->loop, &c->rio);
        if (c->state == CONN_EXCHANGE && !c->tx.req_done) {
            /* The client left in the middle of its request body. */
            conn_close(c);
            return;
        }
        if (c->state == CONN_HEAD && !c->tx.head_started) {
            conn_close(c);
            return;
        }
    } else if (n != -EAGAIN) {
        conn_close(c);
        return;
    }
    conn_run(c);
}

static void on_client_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;

    (void)loop;
    (void)revents;
    CHECK_OBJ(c, CONN_MAGIC);
    if (c->t.rd_wants_wr && c->state != CONN_HANDSHAKE) {
        client_read(c); /* a TLS read that waited for writability; it runs the states */
        return;
    }
    conn_run(c);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;

    (void)loop;
    (void)revents;
    CHECK_OBJ(c, CONN_MAGIC);
    switch (c->tmode) {
    case TM_KEEPALIVE:
    case TM_SEND:
    case TM_NONE:
        conn_close(c);
        return;
    case TM_HANDSHAKE:
        atomic_fetch_add_explicit(&c->w->stats.tls_handshake_errors, 1, memory_order_relaxed);
        log_limited(LOG_LVL_INFO, "tls handshake", "client %s: TLS handshake timed out", c->ip);
        conn_close(c);
        return;
    case TM_HEADER:
    case TM_BODY:
        if (c->tx.resp_head_sent) {
            conn_close(c);
            return;
        }
        log_info("client %s: timed out sending its request", c->ip);
        fetch_cancel(&c->tx.f);
        c->state = conn_fail(c, 408, "request timeout");
        break;
    case TM_COALESCE:
        /* Waited too long for a busy object's head: go to the origin alone (counted). */
        atomic_fetch_add_explicit(&c->w->stats.coalesce_overflows, 1, memory_order_relaxed);
        conn_drop_obj(c);
        c->tx.cs = (struct req_cache_status){
            .verdict = REQ_PASS, .fwd = REQ_FWD_MISS, .detail = "coalesce-timeout"};
        conn_set_timer(c, TM_NONE, 0, 0);
        c->state = conn_start_pass(c);
        conn_run(c);
        return;
    case TM_ORIGIN:
        /* a busy object that stopped growing while this request delivers it */
        log_error("upstream %s: timed out in the middle of a response", c->tx.ug->name);
        conn_close(c);
        return;
    }
    conn_set_timer(c, TM_NONE, 0, 0);
    conn_run(c);
}

static struct conn *conn_alloc(struct worker *w, const struct transport *t)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    const struct conf *conf = w->conf;

    c->magic = CONN_MAGIC;
    c->w = w;
    c->t = *t;
    txn_begin(c);
    c->in_cap = conf->max_header_size < IN_INITIAL ? conf->max_header_size : IN_INITIAL;
    c->in = xmalloc(c->in_cap);
    c->req.on_body = conn_on_req_body;
    c->req.ctx = c;
    c->req.max_body = conf->max_body_size_any; /* the route's limit follows its head */
    http_parser_init(&c->req, 1, conf->max_headers, conf->max_uri_length);
    ev_io_init(&c->rio, on_client_readable, transport_fd(t), EV_READ);
    ev_io_init(&c->wio, on_client_writable, transport_fd(t), EV_WRITE);
    ev_init(&c->timer, on_timeout);
    c->rio.data = c->wio.data = c->timer.data = c;
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    c->state = CONN_HEAD;
    return c;
}

void conn_new(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen, int tls)
{
    struct transport t;
    struct conn *c;

    if (tls) {
        struct tls_server *s = tls_server_acquire();
        int rc = s != NULL
                     ? transport_tls_server(&t, fd, s, &w->stats.bytes_in, &w->stats.bytes_out)
                     : -ENOENT;

        tls_server_release(&s); /* the transport holds its own reference */
        if (rc < 0) {
            log_limited(LOG_LVL_ERROR, "tls conn", "cannot start TLS: %s", strerror(-rc));
            transport_close_fd(fd);
            worker_conn_closed(w);
            return;
        }
    } else {
        transport_plain(&t, fd, &w->stats.bytes_in, &w->stats.bytes_out);
    }
    c = conn_alloc(w, &t);
    c->tls = tls != 0;
    if (tls)
        c->state = CONN_HANDSHAKE;
    if (salen <= sizeof(c->peer))
        memcpy(&c->peer, sa, salen);
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->ip, sizeof(c->ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->ip, sizeof(c->ip));
    else
        snprintf(c->ip, sizeof(c->ip), "unix");
    conn_run(c);
}
