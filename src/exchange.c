/* exchange.c - the origin exchange of a client connection (part of the conn module, see
 * conn_int.h): the request head and body streamed to a pooled upstream, the response parsed and
 * streamed back with backpressure both ways, written without a copy when the client keeps up;
 * 1xx skipped, retries on a pooled connection the origin had closed, errors as 502/504 or a
 * closed connection when part of the answer went out, invalidation after unsafe methods, and
 * the tee that copies an answer of unknown length into its object on the way. */
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
#include "conn_int.h"

static int is_idempotent(int method);
static void zsettle(struct conn *c);
static void zflush(struct conn *c, int *progress);
static void tee_body(struct conn *c, const char *p, size_t n);
static void invalidate_uri(struct conn *c, struct span host, struct span uri);
static void invalidate_after(struct conn *c, const struct http_head *h);
static void on_resp_head(struct conn *c);
static void tee_done(struct conn *c);
static enum conn_state pump_response(struct conn *c, int *progress);
static enum conn_state pump_request(struct conn *c, int *progress);
static int flush_origin(struct conn *c, int *progress);

int conn_on_req_body(void *ctx, const char *p, size_t n)
{
    struct conn *c = ctx;

    /* max_body_size is the parser's: it rejects a length or a chunk size past it at once. */
    http_write_body1(&c->uout, (c->req.head.flags & HTTP_F_CHUNKED) != 0, p, n);
    return 0;
}

static int is_idempotent(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
           method == HTTP_PUT || method == HTTP_DELETE || method == HTTP_TRACE;
}

enum conn_state conn_open_exchange(struct conn *c)
{
    int rc;

    AZ(c->up);
    rc = origin_get(c->w->pool, &c->srv->addr, conn_on_origin_event, c, &c->up);
    if (rc < 0) {
        log_limited(LOG_LVL_ERROR, "origin socket", "origin %s: cannot create socket: %s",
                    c->srv->addr.text, strerror(-rc));
        atomic_fetch_add_explicit(&c->w->stats.origin_errors, 1, memory_order_relaxed);
        return conn_fail(c, 502, "cannot connect to the origin");
    }
    if (!c->up->reused)
        atomic_fetch_add_explicit(&c->w->stats.origin_connects, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->w->stats.origin_requests, 1, memory_order_relaxed);
    c->t_origin = ev_now(c->w->loop);
    if (c->uin == NULL) {
        c->uin_cap = UIN_INITIAL;
        c->uin = xmalloc(c->uin_cap);
    }
    http_parser_init(&c->resp, 0, 1000, 0);
    c->resp.head_only = c->head_req;
    c->resp_kick = 0;
    c->up_wdead = 0;
    c->fwd.whole = c->owner;
    c->fwd.gzip = c->owner && conn_conf(c)->gzip;
    c->fwd.extra = NULL;
    if (c->owner && c->stale != NULL) {
        /* Revalidate what we have: a 304 saves the body (RFC 9111 §4.3.1). */
        struct span etag = obj_field(c->stale, "etag"), lm = obj_field(c->stale, "last-modified");
        int n = 0;

        if (etag.p != NULL && etag.len < 200)
            n += snprintf(c->cond + n, sizeof(c->cond) - (size_t)n, "If-None-Match: %.*s\r\n",
                          (int)etag.len, etag.p);
        if (lm.p != NULL && lm.len < 64)
            n += snprintf(c->cond + n, sizeof(c->cond) - (size_t)n, "If-Modified-Since: %.*s\r\n",
                          (int)lm.len, lm.p);
        if (n > 0)
            c->fwd.extra = c->cond;
    }
    c->req_kick = !c->req_done;
    http_write_request(&c->uout, &c->req.head, &c->fwd);
    return CONN_EXCHANGE;
}

/* Copies the body pieces waiting in <ziov> into <out>, keeping their order. */
static void zsettle(struct conn *c)
{
    for (unsigned i = 0; i < c->n_ziov; i++)
        buf_append(&c->out, c->ziov[i].iov_base, c->ziov[i].iov_len);
    c->n_ziov = 0;
}

/* Writes <out> and the body pieces in <ziov> with one writev; what the socket does not take is
 * copied into <out>, so nothing points into <uin> afterwards. */
static void zflush(struct conn *c, int *progress)
{
    struct iovec iov[countof(c->ziov) + 1];
    unsigned n = 0;
    ssize_t w;

    if (c->n_ziov == 0)
        return;
    if (buf_pending(&c->out) > 0)
        iov[n++] = (struct iovec){c->out.p + c->out.off, buf_pending(&c->out)};
    memcpy(iov + n, c->ziov, c->n_ziov * sizeof(iov[0]));
    n += c->n_ziov;
    w = transport_writev(&c->t, iov, (int)n);
    if (w < 0 && w != -EAGAIN) {
        c->wr_err = 1;
        c->n_ziov = 0;
        return;
    }
    if (w > 0) {
        size_t left = (size_t)w, take = left < buf_pending(&c->out) ? left : buf_pending(&c->out);

        *progress = 1;
        buf_consume(&c->out, take);
        left -= take;
        for (unsigned i = 0; i < c->n_ziov && left > 0; i++) {
            size_t t = left < c->ziov[i].iov_len ? left : c->ziov[i].iov_len;
            c->ziov[i].iov_base = (char *)c->ziov[i].iov_base + t;
            c->ziov[i].iov_len -= t;
            left -= t;
        }
    }
    zsettle(c);
}

/* Copies a body piece into the object of a tee. Past max_object_size the object leaves the
 * index (it will not be stored, nobody new joins) but keeps growing for the subscribers it
 * has, up to twice the limit; with none left, or past that, the copy stops (failing it for any
 * subscriber still there) while this client goes on. */
static void tee_body(struct conn *c, const char *p, size_t n)
{
    uint64_t have = obj_avail(c->obj), max = cache_conf_of(c->w->cache)->max_object_size;

    if (have + n > max) {
        if (have <= max) {
            log_debug("%.*s outgrew max_object_size: not stored", (int)obj_key(c->obj).len,
                      obj_key(c->obj).p);
            cache_mark_pass(c->w->cache, c->obj,
                            (int64_t)ev_now(c->w->loop) +
                                (int64_t)(conn_conf(c)->hit_for_miss_ttl / 1000));
        }
        if (obj_last_ref(c->obj) || have + n > 2 * max) {
            conn_drop_obj(c);
            return;
        }
    }
    store_body(c->w->cache, c->obj, &c->sf, p, n);
}

int conn_on_resp_body(void *ctx, const char *p, size_t n)
{
    struct conn *c = ctx;

    if (c->skip_interim)
        return 0;
    if (c->tee)
        tee_body(c, p, n);
    c->resp_body_out += n;
    if (!c->chunk_out && !ev_is_active(&c->wio)) {
        /* The common case: the client keeps up. Write straight from <uin>. */
        if (c->n_ziov == countof(c->ziov))
            zsettle(c);
        c->ziov[c->n_ziov++] = (struct iovec){(void *)p, n};
        return 0;
    }
    zsettle(c);
    http_write_body1(&c->out, c->chunk_out, p, n);
    return 0;
}

/* Removes what the cache holds for <uri> (a path, or an absolute URI of the same <host>). */
static void invalidate_uri(struct conn *c, struct span host, struct span uri)
{
    struct span path = span_trim(uri), auth = host;
    const char *hash = memchr(path.p, '#', path.len);
    size_t origin_len;
    struct key k, mine;

    if (hash != NULL)
        path.len = (size_t)(hash - path.p); /* a fragment is not part of the URI sent */
    if (path.len == 0 || (path.p[0] != '/' && memmem(path.p, path.len, "://", 3) == NULL))
        return;
    if (path.p[0] != '/') {
        const char *a = (const char *)memmem(path.p, path.len, "://", 3) + 3,
                   *end = path.p + path.len;
        const char *sep = a;

        while (sep < end && *sep != '/' && *sep != '?')
            sep++;
        auth = span_of(a, (size_t)(sep - a));
        path = sep < end ? span_of(sep, (size_t)(end - sep)) : span_of("/", 1);
    }
    /* Same host, compared as keys compare them (case, default port): else not ours to touch
     * (RFC 9111 §4.4). */
    c->keybuf.off = c->keybuf.len = 0;
    if (key_build(&c->keybuf, "http", host, span_of("/", 1), &mine) < 0)
        return;
    origin_len = mine.len - 1;
    if (key_build(&c->keybuf, "http", auth, path, &k) < 0)
        return;
    mine.p = c->keybuf.p; /* the buffer may have moved */
    if (k.len < origin_len || memcmp(k.p, mine.p, origin_len) != 0 || k.p[origin_len] != '/')
        return;
    if (cache_invalidate(c->w->cache, &k))
        log_debug("invalidated %.*s", (int)k.len, k.p);
}

/* RFC 9111 §4.4: a successful unsafe request invalidates its target and the same-host
 * Location and Content-Location of the answer. */
static void invalidate_after(struct conn *c, const struct http_head *h)
{
    int m = c->req.head.method;
    struct span host = c->fwd.client_host;
    const struct field *f;

    if (c->w->cache == NULL || m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS ||
        m == HTTP_TRACE || h->status < 200 || h->status >= 400)
        return;
    if (host.len == 0)
        host = span_of(c->srv->host, strlen(c->srv->host));
    invalidate_uri(c, host, http_request_path(&c->req.head));
    if ((f = http_find(h, "location")) != NULL)
        invalidate_uri(c, host, f->value);
    if ((f = http_find(h, "content-location")) != NULL)
        invalidate_uri(c, host, f->value);
}

static void on_resp_head(struct conn *c)
{
    struct http_head *h = &c->resp.head;
    int nobody = (h->flags & HTTP_F_NOBODY) != 0;
    int length = (h->flags & HTTP_F_LENGTH) && !(h->flags & HTTP_F_TE);

    if (h->status / 100 == 1) {
        /* An interim answer is not part of the final one: its fields are not merged and it is
         * never stored. 100 is not forwarded (accel answered Expect itself) nor is 101 (accel
         * never forwards Upgrade); the others (102, 103 Early Hints...) go on to HTTP/1.1
         * clients, as a proxy must (RFC 9110 §15.2), and never to HTTP/1.0 ones. */
        c->skip_interim = 1;
        if (h->status >= 102 && !c->v10)
            http_write_interim(&c->out, h);
        return;
    }
    c->up_status = c->status = h->status;
    if (c->owner && conn_owner_decides(c))
        return;
    invalidate_after(c, h);
    c->close_after = c->close_after || !c->req_ka || c->draining;
    if (!nobody && !length) {
        if (c->v10)
            c->close_after = 1; /* the end of the body is the end of the connection */
        else
            c->chunk_out = 1;
    }
    c->head_at = c->t.bytes_out + buf_pending(&c->out);
    req_write_cache_status(&c->cs, c->xbuf, sizeof(c->xbuf));
    http_write_response_head(&c->out, h, worker_date(c->w), c->chunk_out, c->close_after,
                             c->v10 && !c->close_after, c->cs.verdict != REQ_NONE ? c->xbuf : NULL);
    c->resp_head_sent = 1;
}

/* Takes back the response head queued for the client when no byte of it was written yet, so
 * that an origin failing right after its head (bad framing in the first bytes of the body, say)
 * still gets a clean error answer. Returns 1 when it did. */
static int retract_head(struct conn *c)
{
    if (!c->resp_head_sent || c->t.bytes_out > c->head_at)
        return 0;
    zsettle(c);
    c->out.len = c->out.off + (size_t)(c->head_at - c->t.bytes_out);
    c->resp_head_sent = c->chunk_out = 0;
    c->resp_body_out = 0;
    return 1;
}

/* The origin failed before its response was complete. Decides between a retry, an error answer
 * and, when the client already has part of the answer, closing. */
enum conn_state conn_origin_failed(struct conn *c, unsigned status, const char *what)
{
    int reused = c->up != NULL && c->up->reused;
    int unconnected = c->up != NULL && !c->up->connected;

    origin_close(&c->up);
    retract_head(c);
    if (!c->resp_started && reused && !c->retried && !c->has_body &&
        is_idempotent(c->req.head.method)) {
        /* A pooled connection the origin had already closed: try once more on a new one. */
        c->retried = 1;
        atomic_fetch_add_explicit(&c->w->stats.origin_retries, 1, memory_order_relaxed);
        log_debug("origin closed a reused connection (%s): retrying", what);
        buf_free(&c->uout);
        c->u_eof = c->u_err = 0;
        c->uin_len = c->uin_pos = 0;
        return conn_open_exchange(c);
    }
    atomic_fetch_add_explicit(&c->w->stats.origin_errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(status == 504 ? &c->w->stats.origin_err_timeout
                              : unconnected ? &c->w->stats.origin_err_connect
                                            : &c->w->stats.origin_err_response,
                              1, memory_order_relaxed);
    {
        char key[128];

        /* an origin that is down fails every request: one line a second says so */
        snprintf(key, sizeof(key), "origin %s: %s", c->srv->addr.text, what);
        log_limited(LOG_LVL_ERROR, key, "%s (client %s)", key, c->ip);
    }
    if (!c->resp_head_sent && c->owner && conn_stale_usable(c)) {
        c->uin_pos = c->uin_len = 0;
        conn_serve_stale(c);
        return CONN_DELIVER;
    }
    if (c->resp_head_sent) {
        c->close_after = 1;
        c->resp_done = 1;
        return CONN_DONE; /* truncated: closing tells the client */
    }
    return conn_fail(c, status,
                     status == 504 ? "the origin did not answer in time"
                                   : "the origin failed to answer");
}

/* Feeds origin bytes to the response parser, as many as <out> has room for. */
static void tee_done(struct conn *c)
{
    int stored = store_finish(c->w->cache, c->obj, &c->sf) == 0 &&
                 obj_avail(c->obj) <= cache_conf_of(c->w->cache)->max_object_size;

    obj_finish(c->obj, OBJ_COMPLETE);
    if (stored)
        cache_complete(c->w->cache, c->obj);
    conn_drop_obj(c);
}

static enum conn_state pump_response(struct conn *c, int *progress)
{
    while (!c->resp_done && (c->uin_pos < c->uin_len || c->resp_kick) &&
           buf_pending(&c->out) < BUF_HIGH) {
        size_t room = BUF_HIGH - buf_pending(&c->out);
        size_t n = c->uin_len - c->uin_pos, used;
        enum http_ev ev;

        if (c->resp_head_sent && n > room)
            n = room;
        c->resp_kick = 0;
        ev = http_parse(&c->resp, c->uin + c->uin_pos, n, &used);
        c->uin_pos += used;
        *progress = 1;
        zflush(c, progress);
        if ((ev == HTTP_EV_MORE || ev == HTTP_EV_HEAD) && !c->resp_head_sent &&
            c->uin_pos > conn_conf(c)->max_origin_header_size)
            return conn_origin_failed(c, 502, "response head too large");
        if (ev == HTTP_EV_ERROR) {
            log_limited(LOG_LVL_WARN, "malformed", "origin %s: malformed response: %s",
                        c->srv->addr.text, c->resp.err_reason ? c->resp.err_reason : "?");
            return conn_origin_failed(c, 502, "malformed response");
        }
        if (ev == HTTP_EV_HEAD) {
            on_resp_head(c);
            if (c->obj != NULL && !c->owner && !c->tee) /* stored: the fetch goes on alone */
                return CONN_DELIVER;
            c->resp_kick = 1;
            continue;
        }
        if (ev == HTTP_EV_DONE) {
            if (c->skip_interim) {
                c->skip_interim = 0;
                continue;
            }
            stats_hist_observe(&c->w->stats.origin_time, ev_now(c->w->loop) - c->t_origin);
            http_write_body_end(&c->out, c->chunk_out);
            c->resp_done = 1;
            c->upstream_reusable = (c->resp.head.flags & HTTP_F_KEEPALIVE) != 0;
            if (c->tee)
                tee_done(c);
        }
    }
    if (c->uin_pos == c->uin_len) {
        c->uin_pos = c->uin_len = 0;
    } else if (c->uin_pos > 0 && c->resp_head_sent) {
        /* The head was written out, nothing points into <uin> any more: make room. */
        memmove(c->uin, c->uin + c->uin_pos, c->uin_len - c->uin_pos);
        c->uin_len -= c->uin_pos;
        c->uin_pos = 0;
    }
    if (!c->resp_done && c->uin_pos == c->uin_len && (c->u_eof || c->u_err)) {
        enum http_ev ev = c->u_err ? HTTP_EV_ERROR : http_finish(&c->resp);

        if (ev == HTTP_EV_DONE && c->resp_head_sent && !c->skip_interim) {
            stats_hist_observe(&c->w->stats.origin_time, ev_now(c->w->loop) - c->t_origin);
            http_write_body_end(&c->out, c->chunk_out);
            c->resp_done = 1;
            c->upstream_reusable = 0;
            if (c->tee)
                tee_done(c);
            *progress = 1;
        } else if (c->u_err) {
            return conn_origin_failed(c, 502, strerror(c->u_err));
        } else {
            return conn_origin_failed(c, 502,
                                      c->resp_started
                                          ? "connection closed in the middle of the response"
                                          : "connection closed without a response");
        }
    }
    return CONN_EXCHANGE;
}

/* Feeds client bytes to the request parser, as many as <uout> has room for. */
static enum conn_state pump_request(struct conn *c, int *progress)
{
    while (!c->req_done && (c->in_pos < c->in_len || c->req_kick) &&
           buf_pending(&c->uout) < BUF_HIGH) {
        size_t n = c->in_len - c->in_pos, used;
        size_t room = BUF_HIGH - buf_pending(&c->uout);
        enum http_ev ev;

        if (n > room)
            n = room;
        c->req_kick = 0;
        ev = http_parse(&c->req, c->in + c->in_pos, n, &used);
        c->in_pos += used;
        *progress = 1;
        if (ev == HTTP_EV_ERROR) {
            c->close_after = 1;
            if (c->resp_head_sent)
                return CONN_DONE;
            origin_close(&c->up);
            return conn_fail(c, (unsigned)c->req.err_status, c->req.err_reason);
        }
        if (ev == HTTP_EV_DONE) {
            c->req_done = 1;
            c->req_ka = (c->req.head.flags & HTTP_F_KEEPALIVE) != 0;
            http_write_body_end(&c->uout, (c->req.head.flags & HTTP_F_CHUNKED) != 0);
        }
    }
    if (!c->req_done && c->in_pos == c->in_len) {
        /* The head's bytes are no longer needed: make room for more body. */
        c->in_len = c->in_pos = 0;
    }
    return CONN_EXCHANGE;
}

static int flush_origin(struct conn *c, int *progress)
{
    struct origin_conn *u = c->up;

    if (c->up_wdead) {
        buf_free(&c->uout);
        return 0;
    }
    while (u->connected && buf_pending(&c->uout) > 0) {
        ssize_t n = transport_write(&u->t, c->uout.p + c->uout.off, buf_pending(&c->uout));
        if (n > 0) {
            buf_consume(&c->uout, (size_t)n);
            *progress = 1;
            continue;
        }
        if (n == -EAGAIN)
            return 0;
        return n < 0 ? (int)n : -EPIPE;
    }
    return 0;
}

enum conn_state conn_exchange(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    enum conn_state next;
    int progress, rc;

    do {
        progress = 0;
        next = pump_request(c, &progress);
        if (next != CONN_EXCHANGE)
            return next;
        if (c->up != NULL && (rc = flush_origin(c, &progress)) < 0) {
            /* The origin stopped reading. It may have answered already (a 413, say): the
             * answer still goes to the client, the rest of the request goes nowhere. */
            c->up_wdead = 1;
            c->close_after = 1;
            buf_free(&c->uout);
            if (!c->resp_started && !c->resp_done)
                return conn_origin_failed(c, 502, strerror(-rc));
        }
        if (c->up != NULL || c->uin_pos < c->uin_len) {
            next = pump_response(c, &progress);
            if (next != CONN_EXCHANGE)
                return next;
        }
        if (conn_flush_client(c, &progress) < 0) {
            conn_close(c);
            return CONN_WAIT;
        }
    } while (progress);

    if (c->resp_done) {
        if (!c->req_done) {
            /* The origin answered before reading the whole body: this connection cannot be
             * resynchronised on either side. */
            c->close_after = 1;
            origin_close(&c->up);
        } else if (c->up != NULL) {
            if (c->upstream_reusable && c->uin_len == 0 && buf_pending(&c->uout) == 0 && !c->u_eof)
                origin_put(&c->up);
            else
                origin_close(&c->up);
        }
        return CONN_FLUSH;
    }
    if (c->up == NULL)
        return conn_fail(c, 502, "the origin connection was lost");

    /* Wait: read the client while the request goes on and the origin side has room, read the
     * origin while the client side has room. */
    /* Reading the client goes on after its request (up to a full buffer of pipelined bytes):
     * it notices a client that leaves, and saves turning the watcher off and on. */
    conn_want_client(c,
                     (c->req_done || buf_pending(&c->uout) < BUF_HIGH) && c->in_len < c->in_cap &&
                         !c->client_eof,
                     buf_pending(&c->out) > 0);
    origin_want(c->up,
                c->up->connected && buf_pending(&c->out) < BUF_HIGH && c->uin_len < c->uin_cap,
                !c->up->connected || buf_pending(&c->uout) > 0);
    if (buf_pending(&c->out) > 0)
        conn_set_timer(c, TM_SEND, conf->send_timeout, 1);
    else if (!c->req_done && buf_pending(&c->uout) < BUF_HIGH)
        conn_set_timer(c, TM_BODY, conf->client_body_timeout, 1);
    else
        conn_set_timer(c, TM_ORIGIN,
                       c->up->connected ? conf->origin_timeout : conf->origin_connect_timeout, 1);
    return CONN_WAIT;
}

void conn_on_origin_event(struct origin_conn *u, int revents)
{
    struct conn *c = u->user;
    ssize_t n;

    CHECK_OBJ(c, CONN_MAGIC);
    if ((revents & EV_WRITE) && !u->connected) {
        int rc = origin_check_connect(u);
        if (rc < 0) {
            enum conn_state next;

            log_debug("origin connect failed: %s", strerror(-rc));
            next = conn_origin_failed(c, 502, strerror(-rc));
            c->state = next;
            conn_run(c);
            return;
        }
    }
    if (revents & EV_READ) {
        if (c->uin_len == c->uin_cap && !c->resp_head_sent) {
            /* A response head larger than the buffer: grow it up to the limit, then parse the
             * head again from its start, its spans pointed into the old buffer. */
            if (c->uin_cap >= conn_conf(c)->max_origin_header_size) {
                c->state = conn_origin_failed(c, 502, "response head too large");
                conn_run(c);
                return;
            }
            c->uin_cap *= 2;
            c->uin = xrealloc(c->uin, c->uin_cap);
            http_parser_init(&c->resp, 0, 1000, 0);
            c->resp.head_only = c->head_req;
            c->uin_pos = 0;
        }
        /* Read until the origin has nothing more for now: while a body streams, that gathers
         * what has arrived into fewer, larger writes to the client (a write costs more than a
         * read that finds nothing). */
        for (;;) {
            n = transport_read(&u->t, c->uin + c->uin_len, c->uin_cap - c->uin_len);
            if (n > 0) {
                c->uin_len += (size_t)n;
                c->resp_started = 1;
                if (!c->resp_head_sent || c->uin_len == c->uin_cap)
                    break;
                continue;
            }
            if (n == 0) {
                c->u_eof = 1;
                origin_want(u, 0, 0);
            } else if (n != -EAGAIN) {
                c->u_err = (int)-n;
                origin_want(u, 0, 0);
            }
            break;
        }
    }
    conn_run(c);
}
