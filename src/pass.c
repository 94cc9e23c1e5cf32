/* pass.c - the pass sink of a client connection (part of the conn module, see conn_int.h): a
 * fetch's response streamed to the client, written without a copy when the client keeps up and
 * throttling the fetch when it does not; the request body streamed to the fetch with
 * backpressure; 102/103 passed on; errors as 502/504, or a closed connection once part of the
 * answer went out; invalidation after unsafe methods; the tee that copies an answer of unknown
 * length into its object on the way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include "accel/fetch.h"
#include "accel/key.h"
#include "accel/log.h"
#include "conn_int.h"

static void zsettle(struct conn *c);
static void zflush(struct conn *c, int *progress);
static void tee_body(struct conn *c, const char *p, size_t n);
static void invalidate_uri(struct conn *c, struct span host, struct span uri);
static void invalidate_after(struct conn *c, const struct http_head *h);
static enum conn_state pump_request(struct conn *c, int *progress);

int conn_on_req_body(void *ctx, const char *p, size_t n)
{
    struct conn *c = ctx;

    if (c->tx.f != NULL)
        fetch_body(c->tx.f, p, n);
    return 0;
}

enum conn_state conn_start_pass(struct conn *c)
{
    struct fetch_req r = {.head = &c->req.head,
                          .fwd = &c->tx.fwd,
                          .body = c->tx.has_body,
                          .client = c->ip,
                          .up = c->tx.ug,
                          .hash = c->tx.hash};

    AZ(c->tx.f);
    c->tx.fwd.whole = 0;
    c->tx.fwd.gzip = 0;
    c->tx.fwd.extra = NULL;
    c->tx.f = fetch_start(c->w, conn_conf(c), &r, &conn_pass_sink, c);
    if (c->tx.f == NULL)
        return conn_fail(c, 502, "cannot connect to the origin");
    c->tx.req_kick = !c->tx.req_done;
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
 * copied into <out>, so nothing points into the fetch's buffer afterwards. */
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
    uint64_t have = obj_avail(c->tx.obj), max = cache_conf_of(c->w->cache)->max_object_size;

    if (have + n > max) {
        if (have <= max) {
            log_debug("%.*s outgrew max_object_size: not stored", (int)obj_key(c->tx.obj).len,
                      obj_key(c->tx.obj).p);
            cache_mark_pass(c->w->cache, c->tx.obj,
                            (int64_t)ev_now(c->w->loop) +
                                (int64_t)(conn_conf(c)->hit_for_miss_ttl / 1000));
        }
        if (obj_last_ref(c->tx.obj) || have + n > 2 * max) {
            conn_drop_obj(c);
            return;
        }
    }
    store_body(c->w->cache, c->tx.obj, &c->tx.sf, p, n);
}

static void tee_done(struct conn *c)
{
    int stored = store_finish(c->w->cache, c->tx.obj, &c->tx.sf) == 0 &&
                 obj_avail(c->tx.obj) <= cache_conf_of(c->w->cache)->max_object_size;

    obj_finish(c->tx.obj, OBJ_COMPLETE);
    if (stored)
        cache_complete(c->w->cache, c->tx.obj);
    conn_drop_obj(c);
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
    if (key_build(&c->keybuf, conn_scheme(c), host, span_of("/", 1), &mine) < 0)
        return;
    origin_len = mine.len - 1;
    if (key_build(&c->keybuf, conn_scheme(c), auth, path, &k) < 0)
        return;
    mine.p = c->keybuf.p; /* the buffer may have moved */
    if (k.len < origin_len || memcmp(k.p, mine.p, origin_len) != 0 || k.p[origin_len] != '/')
        return;
    /* the key a GET of it is stored under: a method route puts its name first */
    c->keybuf.off = c->keybuf.len = 0;
    if (route_key_build(route_match(conn_conf(c), HTTP_GET, auth, path), &c->keybuf, conn_scheme(c),
                        auth, path, &k) < 0)
        return;
    if (cache_invalidate(c->w->cache, &k))
        log_debug("invalidated %.*s", (int)k.len, k.p);
}

/* RFC 9111 §4.4: a successful unsafe request invalidates its target and the same-host
 * Location and Content-Location of the answer. */
static void invalidate_after(struct conn *c, const struct http_head *h)
{
    int m = c->req.head.method;
    struct span host = c->tx.fwd.client_host;
    const struct field *f;

    if (c->w->cache == NULL || m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS ||
        m == HTTP_TRACE || h->status < 200 || h->status >= 400)
        return;
    if (host.len == 0)
        host = c->tx.dhost;
    invalidate_uri(c, host, http_request_path(&c->req.head));
    if ((f = http_find(h, "location")) != NULL)
        invalidate_uri(c, host, f->value);
    if ((f = http_find(h, "content-location")) != NULL)
        invalidate_uri(c, host, f->value);
}

/* --- the sink ------------------------------------------------------------------------------ */

static void on_interim(void *ctx, const struct http_head *h)
{
    struct conn *c = ctx;

    /* 102, 103 Early Hints...: a proxy passes them on (RFC 9110 §15.2), never to HTTP/1.0 */
    if (!c->tx.v10)
        conn_write_interim(c, h);
}

static enum fetch_next on_head(void *ctx, struct fetch *f, const struct http_head *h)
{
    struct conn *c = ctx;
    int nobody = (h->flags & HTTP_F_NOBODY) != 0;
    int length = (h->flags & HTTP_F_LENGTH) && !(h->flags & HTTP_F_TE);

    (void)f;
    CHECK_OBJ(c, CONN_MAGIC);
    c->tx.up_status = c->tx.status = h->status;
    invalidate_after(c, h);
    c->tx.close_after = c->tx.close_after || !c->tx.req_ka || c->draining;
    if (!nobody && !length) {
        if (c->tx.v10)
            c->tx.close_after = 1; /* the end of the body is the end of the connection */
        else
            c->tx.chunk_out = 1;
    }
    c->tx.head_at = c->t.bytes_out + buf_pending(&c->out);
    req_write_cache_status(&c->tx.cs, c->tx.xbuf, sizeof(c->tx.xbuf));
    http_write_response_head(&c->out, h, worker_date(c->w), c->tx.chunk_out, c->tx.close_after,
                             c->tx.v10 && !c->tx.close_after,
                             c->tx.cs.verdict != REQ_NONE ? c->tx.xbuf : NULL);
    c->tx.resp_head_sent = 1;
    return FETCH_GO;
}

static size_t on_room(void *ctx)
{
    struct conn *c = ctx;
    size_t pending = buf_pending(&c->out);

    return c->wr_err || pending >= BUF_HIGH ? 0 : BUF_HIGH - pending;
}

static int on_body(void *ctx, const char *p, size_t n, const char **why)
{
    struct conn *c = ctx;

    (void)why;
    if (c->tx.tee)
        tee_body(c, p, n);
    c->tx.resp_body_out += n;
    if (!c->tx.chunk_out && !ev_is_active(&c->wio)) {
        /* The common case: the client keeps up. Write straight from the fetch's buffer. */
        if (c->n_ziov == countof(c->ziov))
            zsettle(c);
        c->ziov[c->n_ziov++] = (struct iovec){(void *)p, n};
        return 0;
    }
    zsettle(c);
    http_write_body1(&c->out, c->tx.chunk_out, p, n);
    return 0;
}

static void on_flush(void *ctx)
{
    struct conn *c = ctx;
    int progress = 0;

    zflush(c, &progress);
    if (!c->wr_err && buf_pending(&c->out) > 0 && !ev_is_active(&c->wio) &&
        conn_flush_client(c, &progress) < 0)
        c->wr_err = 1;
    if (c->wr_err) {
        conn_close(c); /* cancels the fetch */
        return;
    }
    if (buf_pending(&c->out) > 0 && !ev_is_active(&c->wio)) {
        conn_want_client(c, ev_is_active(&c->rio), 1);
        conn_set_timer(c, TM_SEND, conn_conf(c)->send_timeout, 1);
    }
}

static void on_done(void *ctx)
{
    struct conn *c = ctx;

    CHECK_OBJ(c, CONN_MAGIC);
    zsettle(c);
    c->tx.f = NULL;
    http_write_body_end(&c->out, c->tx.chunk_out);
    c->tx.resp_done = 1;
    if (c->tx.tee)
        tee_done(c);
    conn_poke(c);
}

static void on_fail(void *ctx, unsigned status, const char *why)
{
    struct conn *c = ctx;

    CHECK_OBJ(c, CONN_MAGIC);
    zsettle(c); /* the pieces point into the fetch, which is about to go */
    c->tx.f = NULL;
    c->tx.pass_err = status;
    c->tx.pass_why = why;
    conn_poke(c);
}

static void on_drained(void *ctx)
{
    conn_poke(ctx);
}

const struct fetch_sink_ops conn_pass_sink = {
    .interim = on_interim,
    .head = on_head,
    .room = on_room,
    .body = on_body,
    .flush = on_flush,
    .done = on_done,
    .fail = on_fail,
    .drained = on_drained,
};

/* --- the state ----------------------------------------------------------------------------- */

/* Takes back the response head queued for the client when no byte of it was written yet, so
 * that an origin failing right after its head (bad framing in the first bytes of the body, say)
 * still gets a clean error answer. Returns 1 when it did. */
static int retract_head(struct conn *c)
{
    if (!c->tx.resp_head_sent || c->t.bytes_out > c->tx.head_at)
        return 0;
    zsettle(c);
    c->out.len = c->out.off + (size_t)(c->tx.head_at - c->t.bytes_out);
    c->tx.resp_head_sent = c->tx.chunk_out = 0;
    c->tx.resp_body_out = 0;
    return 1;
}

/* Feeds client bytes to the request parser, as many as the fetch has room for. */
static enum conn_state pump_request(struct conn *c, int *progress)
{
    while (!c->tx.req_done && (c->in_pos < c->in_len || c->tx.req_kick)) {
        size_t n = c->in_len - c->in_pos, used;
        size_t room = c->tx.f != NULL ? fetch_body_room(c->tx.f) : BUF_HIGH;
        enum http_ev ev;

        if (room == 0)
            break;
        if (n > room)
            n = room;
        c->tx.req_kick = 0;
        ev = http_parse(&c->req, c->in + c->in_pos, n, &used);
        c->in_pos += used;
        *progress = 1;
        if (ev == HTTP_EV_ERROR) {
            c->tx.close_after = 1;
            if (c->tx.resp_head_sent)
                return CONN_DONE;
            fetch_cancel(&c->tx.f);
            return conn_fail(c, (unsigned)c->req.err_status, c->req.err_reason);
        }
        if (ev == HTTP_EV_DONE) {
            c->tx.req_done = 1;
            c->tx.req_ka = (c->req.head.flags & HTTP_F_KEEPALIVE) != 0;
            if (c->tx.f != NULL)
                fetch_body_end(c->tx.f);
        }
    }
    if (!c->tx.req_done && c->in_pos == c->in_len) {
        /* The head's bytes are no longer needed: make room for more body. */
        c->in_len = c->in_pos = 0;
    }
    return CONN_EXCHANGE;
}

enum conn_state conn_exchange(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    enum conn_state next;
    int progress;

    do {
        progress = 0;
        if (c->tx.pass_err != 0)
            break; /* before flushing: a head not written yet can still be taken back */
        next = pump_request(c, &progress);
        if (next != CONN_EXCHANGE)
            return next;
        if (conn_flush_client(c, &progress) < 0) {
            conn_close(c);
            return CONN_WAIT;
        }
        if (c->tx.f != NULL && buf_pending(&c->out) < BUF_HIGH)
            fetch_resume(c->tx.f); /* may end it: done or fail below */
        if (c->closing)
            return CONN_WAIT;
    } while (progress);

    if (c->tx.pass_err != 0) {
        unsigned st = c->tx.pass_err;

        c->tx.pass_err = 0;
        retract_head(c);
        if (c->tx.resp_head_sent) {
            c->tx.close_after = 1;
            c->tx.resp_done = 1;
            return CONN_DONE; /* truncated: closing tells the client */
        }
        return conn_fail(
            c, st, st == 504 ? "the origin did not answer in time" : "the origin failed to answer");
    }
    if (c->tx.resp_done) {
        if (!c->tx.req_done) {
            /* The origin answered before reading the whole body: this connection cannot be
             * resynchronised. */
            c->tx.close_after = 1;
        }
        return CONN_FLUSH;
    }
    if (c->tx.f == NULL)
        return conn_fail(c, 502, "the origin connection was lost");

    /* Wait. Reading the client goes on after its request (up to a full buffer of pipelined
     * bytes): it notices a client that leaves, and saves turning the watcher off and on. */
    conn_want_client(c,
                     (c->tx.req_done || fetch_body_room(c->tx.f) > 0) && c->in_len < c->in_cap &&
                         !c->client_eof,
                     buf_pending(&c->out) > 0);
    if (buf_pending(&c->out) > 0)
        conn_set_timer(c, TM_SEND, conf->send_timeout, 1);
    else if (!c->tx.req_done && fetch_body_room(c->tx.f) > 0)
        conn_set_timer(c, TM_BODY, conf->client_body_timeout, 1);
    else
        conn_set_timer(c, TM_NONE, 0, 0); /* the fetch times the origin */
    return CONN_WAIT;
}
