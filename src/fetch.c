/* fetch.c - the origin client (see fetch.h): one request out, one response in, into a sink.
 *
 * The request goes out from <out>. While a retry is possible (an idempotent request whose whole
 * head and body are still in <out>, on a pooled connection, before any response byte) nothing
 * is dropped from it: <sent> only counts what the current connection took. A request body that
 * streams past the high mark is written and forgotten; such a request is not retried (nor is
 * one whose body has not ended when the connection fails).
 *
 * The response comes into <in>: the head stays at its start while it is parsed (its spans point
 * into it), so the buffer grows up to max_origin_header_size and the head is parsed again from
 * its start; once the sink has the head, parsed bytes are dropped as they go. The parser is fed
 * no more body bytes than the sink has room for (room()), so a slow client throttles a pass
 * (reading stops) while the cache sink takes everything at once.
 *
 * Frees are deferred while a callback runs (<depth>): a sink may cancel the fetch from inside
 * one, and a callback may start another fetch. */
#include "accel/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/conf.h"
#include "accel/log.h"
#include "accel/loop.h"
#include "accel/origin.h"
#include "accel/upstream.h"

#define FETCH_MAGIC 0x66657463u
#define OUT_HIGH    (64 * 1024) /* most request bytes queued towards the origin */
#define IN_INITIAL  (64 * 1024)

struct fetch {
    unsigned magic;
    struct worker *w;
    const struct conf *conf;        /* pinned for the fetch's life */
    const struct conf_upstream *ug; /* the group it goes to (in conf) */
    const struct conf_server *srv;  /* the server of <ug> it uses now; NULL: none was up */
    uint64_t hash;                  /* where it sits on a hash ring */
    const struct fetch_sink_ops *ops;
    void *ctx;
    struct origin_conn *up;
    char why[256];  /* why the connection failed, for failed() */
    struct buf out; /* the request as framed for the origin */
    size_t sent;    /* bytes of <out> the current connection took */
    char *in;
    size_t len, cap, pos;
    struct http_parser resp;
    char client[48];
    int method;
    unsigned head_req : 1;  /* the request is HEAD: the response has no body */
    unsigned chunked : 1;   /* the request body is framed chunked */
    unsigned body_open : 1; /* more request body is to come */
    unsigned trimmed : 1;   /* bytes of the request were dropped: no retry */
    unsigned started : 1;   /* a response byte arrived on this connection */
    unsigned head_seen : 1; /* the sink has the final head */
    unsigned interim : 1;   /* the message being parsed is a 1xx */
    unsigned kick : 1;      /* parse once more without new bytes */
    unsigned retried : 1;
    unsigned wdead : 1; /* the origin stopped reading the request: the rest goes nowhere */
    unsigned paused : 1;
    unsigned eof : 1;
    unsigned over : 1;    /* done, failed or cancelled: no more callbacks, freed at depth 0 */
    unsigned refused : 1; /* the sink refused a body piece (the parser's error is its why) */
    unsigned counted : 1; /* <srv> counts it (upstream_release) */
    unsigned moved : 1;   /* it went to another server after one failed */
    unsigned final_status;
    int err;
    unsigned depth;
    double t_origin;
    ev_timer timer;
    struct fetch *prev, *next;
};

static void on_io(struct origin_conn *u, int revents);
static void run(struct fetch *f);
static void let_go(struct fetch *f, enum upstream_outcome o);

/* Ended fetches kept per worker thread with their buffers (the 64 KiB input, the request, the
 * parser's header array): a miss or a pass allocates nothing once a few have run. */
#define SPARES_MAX 32
static __thread struct fetch *spares;
static __thread unsigned n_spares;

static struct fetch *fetch_alloc(void)
{
    struct fetch *f = spares;
    char *in;
    struct buf out;
    struct field *hdrs;
    unsigned max_hdrs;

    if (f == NULL) {
        f = xcalloc(1, sizeof(*f));
        f->in = xmalloc(IN_INITIAL);
        f->cap = IN_INITIAL;
        return f;
    }
    spares = f->next;
    n_spares--;
    in = f->in;
    out = f->out;
    hdrs = f->resp.head.hdrs;
    max_hdrs = f->resp.max_hdrs;
    memset(f, 0, sizeof(*f));
    f->in = in;
    f->cap = IN_INITIAL;
    f->out = out;
    f->out.off = f->out.len = 0;
    f->resp.head.hdrs = hdrs; /* http_parser_init() keeps it */
    f->resp.max_hdrs = max_hdrs;
    return f;
}

static void fetch_free(struct fetch *f)
{
    struct worker *w = f->w;

    CHECK_OBJ(f, FETCH_MAGIC);
    ev_timer_stop(w->loop, &f->timer);
    origin_close(&f->up);
    let_go(f, UPSTREAM_NEUTRAL);
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        w->fetches = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    conf_unref(&f->conf);
    f->magic = 0;
    if (n_spares < SPARES_MAX && f->cap == IN_INITIAL && f->out.cap <= 4 * OUT_HIGH) {
        f->next = spares;
        spares = f;
        n_spares++;
        return;
    }
    http_parser_fini(&f->resp);
    buf_free(&f->out);
    free(f->in);
    free(f);
}

/* The server is done with the request: its outcome goes to the upstream's health. */
static void let_go(struct fetch *f, enum upstream_outcome o)
{
    if (!f->counted)
        return;
    f->counted = 0;
    upstream_release(f->ug, f->srv, o, ev_now(f->w->loop) - f->t_origin);
}

/* Leaves a callback section: frees the fetch when it ended inside. Returns 1 when freed. */
static int leave(struct fetch *f)
{
    AN(f->depth > 0);
    if (--f->depth == 0 && f->over) {
        fetch_free(f);
        return 1;
    }
    return 0;
}

static int is_idempotent(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
           method == HTTP_PUT || method == HTTP_DELETE || method == HTTP_TRACE;
}

static void reset_response(struct fetch *f)
{
    f->len = f->pos = 0;
    f->started = f->interim = f->kick = f->eof = 0;
    f->err = 0;
    f->sent = 0;
    f->wdead = 0;
    http_parser_init(&f->resp, 0, 1000, 0);
    f->resp.head_only = f->head_req;
}

/* Lends a connection to the server. Returns 0 or a negative errno (logged). */
static int connect_origin(struct fetch *f)
{
    int rc = origin_get(f->w->pool, f->srv, on_io, f, &f->up);

    if (rc < 0) {
        log_limited(LOG_LVL_ERROR, "origin socket", "origin %s: cannot create socket: %s",
                    f->srv->addr.text, strerror(-rc));
        return rc;
    }
    if (!f->up->reused)
        atomic_fetch_add_explicit(&f->w->stats.origin_connects, 1, memory_order_relaxed);
    return 0;
}

/* Writes what the origin will take of <out>. Returns 0, or a negative errno. */
static int write_out(struct fetch *f)
{
    if (f->wdead) {
        f->out.len = f->sent = 0;
        return 0;
    }
    while (f->up != NULL && f->up->connected && f->sent < f->out.len) {
        ssize_t n = transport_write(&f->up->t, f->out.p + f->sent, f->out.len - f->sent);

        if (n > 0) {
            f->sent += (size_t)n;
            continue;
        }
        if (n == -EAGAIN)
            return 0;
        return n < 0 ? (int)n : -EPIPE;
    }
    if (f->sent == f->out.len && f->body_open && f->out.len >= OUT_HIGH) {
        /* A body past the high mark streams: what went is forgotten, and so is a retry. A
         * smaller request stays whole, so that a PUT on a pooled connection the origin had
         * closed can be sent again. */
        f->out.len = f->sent = 0;
        f->trimmed = 1;
    }
    return 0;
}

/* Which events and which timer the fetch waits for. */
static void want(struct fetch *f)
{
    const struct conf *conf = f->conf;
    int wr, rd, waiting;

    if (f->over || f->up == NULL)
        return;
    wr = !f->up->connected || (!f->wdead && f->sent < f->out.len);
    rd = f->up->connected && !f->paused && f->len < f->cap;
    origin_want(f->up, rd, wr);
    /* The origin owes us something unless we wait for the client (its body, its reading). */
    waiting = !f->paused && (wr || !f->body_open);
    if (waiting) {
        f->timer.repeat =
            (double)(f->up->connected ? conf->origin_timeout : conf->origin_connect_timeout) /
            1000.0;
        ev_timer_again(f->w->loop, &f->timer);
    } else {
        ev_timer_stop(f->w->loop, &f->timer);
    }
}

/* The end: calls done() or fail() once. */
static void finish_ok(struct fetch *f)
{
    struct worker *w = f->w;
    int reusable = (f->resp.head.flags & HTTP_F_KEEPALIVE) && f->pos == f->len && !f->eof &&
                   !f->err && !f->body_open && !f->wdead && f->sent == f->out.len;

    stats_hist_observe(&w->stats.origin_time, ev_now(w->loop) - f->t_origin);
    let_go(f, f->final_status >= 500 ? UPSTREAM_FAIL : UPSTREAM_OK);
    if (reusable)
        origin_put(&f->up);
    else
        origin_close(&f->up);
    f->over = 1;
    f->ops->done(f->ctx);
}

/* The origin failed before its response was complete: a retry on a new connection when the
 * request allows it, else fail() with <status>. */
static void failed(struct fetch *f, unsigned status, const char *what)
{
    struct worker *w = f->w;
    int reused = f->up != NULL && f->up->reused;
    int unconnected = f->up != NULL && !f->up->connected;
    char key[128];

    origin_close(&f->up);
    if (!f->started && !f->head_seen && reused && !f->retried && status != 504 && !f->body_open &&
        !f->trimmed && is_idempotent(f->method)) {
        /* A pooled connection the origin had already closed: try once more on a new one. */
        f->retried = 1;
        atomic_fetch_add_explicit(&w->stats.origin_retries, 1, memory_order_relaxed);
        log_debug("origin closed a reused connection (%s): retrying", what);
        reset_response(f);
        if (connect_origin(f) == 0) {
            if (write_out(f) == 0)
                return; /* want() follows */
            origin_close(&f->up);
        }
        what = "cannot connect to the origin";
    }
    let_go(f, f->refused ? UPSTREAM_NEUTRAL : UPSTREAM_FAIL);
    if (f->srv != NULL && !f->started && !f->head_seen && !f->moved && f->ug->n_servers > 1 &&
        (status != 504 || unconnected) && !f->body_open && !f->trimmed &&
        (is_idempotent(f->method) || unconnected)) {
        /* Nothing of the answer came, and the request may go again (idempotent, or never sent):
         * once more on another server of the group. */
        const struct conf_server *next = upstream_pick(f->ug, f->hash, f->srv);

        if (next != NULL) {
            log_limited(LOG_LVL_WARN, "origin moved", "origin %s: %s; trying %s instead",
                        f->srv->addr.text, what, next->addr.text);
            f->moved = 1;
            f->srv = next;
            f->counted = 1;
            f->t_origin = ev_now(w->loop);
            atomic_fetch_add_explicit(&w->stats.origin_retries, 1, memory_order_relaxed);
            reset_response(f);
            if (connect_origin(f) == 0 && write_out(f) == 0)
                return; /* want() follows */
            origin_close(&f->up);
            let_go(f, UPSTREAM_FAIL);
            what = "cannot connect to the origin";
        }
    }
    if (f->srv == NULL) {
        f->over = 1;
        f->ops->fail(f->ctx, status, what);
        return;
    }
    atomic_fetch_add_explicit(&w->stats.origin_errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(status == 504 ? &w->stats.origin_err_timeout
                              : unconnected ? &w->stats.origin_err_connect
                                            : &w->stats.origin_err_response,
                              1, memory_order_relaxed);
    /* an origin that is down fails every request: one line a second says so */
    snprintf(key, sizeof(key), "origin %s: %s", f->srv->addr.text, what);
    log_limited(LOG_LVL_ERROR, key, "%s (client %s)", key, f->client);
    f->over = 1;
    f->ops->fail(f->ctx, status, what);
}

static int on_body(void *ctx, const char *p, size_t n)
{
    struct fetch *f = ctx;
    const char *why = NULL;

    if (f->interim || f->over)
        return 0;
    if (f->ops->body(f->ctx, p, n, &why) < 0) {
        f->resp.err_status = 502;
        f->resp.err_reason = why != NULL ? why : "refused by the sink";
        f->refused = 1;
        return -1;
    }
    return 0;
}

/* The parser stopped at a head. Returns 0, or -1 when the fetch is over. */
static int on_head(struct fetch *f)
{
    const struct http_head *h = &f->resp.head;
    enum fetch_next next;

    if (h->status / 100 == 1) {
        /* An interim answer is not part of the final one: its fields are not merged and it is
         * never stored. 100 is not forwarded (accel answered Expect itself) nor is 101 (accel
         * never forwards Upgrade); the others go to the sink, which may pass them on. */
        f->interim = 1;
        if (h->status >= 102 && f->ops->interim != NULL)
            f->ops->interim(f->ctx, h);
        return f->over ? -1 : 0;
    }
    f->head_seen = 1;
    f->final_status = h->status;
    do
        next = f->ops->head(f->ctx, f, h);
    while (next == FETCH_AGAIN && !f->over);
    if (f->over)
        return -1;
    if (next == FETCH_STOP) {
        origin_close(&f->up);
        let_go(f, f->final_status >= 500 ? UPSTREAM_FAIL : UPSTREAM_NEUTRAL);
        f->over = 1;
        return -1;
    }
    return 0;
}

/* Feeds the buffered response to the parser and the sink, then looks at the end of the stream.
 */
static void parse(struct fetch *f)
{
    while (!f->over && (f->pos < f->len || f->kick)) {
        size_t n = f->len - f->pos, used;
        enum http_ev ev;

        if (f->head_seen && f->ops->room != NULL) {
            size_t room = f->ops->room(f->ctx);

            if (f->over)
                return;
            if (room == 0) {
                f->paused = 1;
                return;
            }
            if (n > room)
                n = room;
        }
        f->kick = 0;
        ev = http_parse(&f->resp, f->in + f->pos, n, &used);
        f->pos += used;
        if (f->head_seen && f->ops->flush != NULL && !f->over && ev != HTTP_EV_ERROR)
            f->ops->flush(f->ctx); /* (on an error, fail() sees the pieces unflushed) */
        if (f->over)
            return;
        if ((ev == HTTP_EV_MORE || ev == HTTP_EV_HEAD) && !f->head_seen &&
            f->pos > f->conf->max_origin_header_size) {
            failed(f, 502, "response head too large");
            return;
        }
        if (ev == HTTP_EV_ERROR) {
            if (f->refused) {
                failed(f, 502, f->resp.err_reason);
                return;
            }
            log_limited(LOG_LVL_WARN, "malformed", "origin %s: malformed response: %s",
                        f->srv->addr.text, f->resp.err_reason ? f->resp.err_reason : "?");
            failed(f, 502, "malformed response");
            return;
        }
        if (ev == HTTP_EV_HEAD) {
            if (on_head(f) < 0)
                return;
            f->kick = 1;
            continue;
        }
        if (ev == HTTP_EV_DONE) {
            if (f->interim) {
                f->interim = 0;
                continue;
            }
            finish_ok(f);
            return;
        }
    }
    if (f->pos == f->len) {
        f->pos = f->len = 0;
    } else if (f->pos > 0 && f->head_seen) {
        /* The sink has the head, nothing points into <in> any more: make room. */
        memmove(f->in, f->in + f->pos, f->len - f->pos);
        f->len -= f->pos;
        f->pos = 0;
    }
    if (f->pos == f->len && (f->eof || f->err)) {
        enum http_ev ev = f->err ? HTTP_EV_ERROR : http_finish(&f->resp);

        if (ev == HTTP_EV_DONE && f->head_seen && !f->interim)
            finish_ok(f);
        else if (f->err)
            failed(f, 502, strerror(f->err));
        else
            failed(f, 502,
                   f->started ? "connection closed in the middle of the response"
                              : "connection closed without a response");
    }
}

static void run(struct fetch *f)
{
    int rc;

    if (!f->over && (rc = write_out(f)) < 0) {
        /* The origin stopped reading. It may have answered already (a 413, say): the answer
         * still goes to the client, the rest of the request goes nowhere. */
        f->wdead = 1;
        f->out.len = f->sent = 0;
        f->trimmed = 1;
        if (!f->started)
            failed(f, 502, strerror(-rc));
    }
    if (!f->over)
        parse(f);
    want(f);
}

static void read_in(struct fetch *f)
{
    if (f->len == f->cap && !f->head_seen) {
        /* A response head larger than the buffer: grow it up to the limit, then parse the head
         * again from its start, its spans pointed into the old buffer. */
        if (f->cap >= f->conf->max_origin_header_size) {
            failed(f, 502, "response head too large");
            return;
        }
        f->cap *= 2;
        f->in = xrealloc(f->in, f->cap);
        http_parser_init(&f->resp, 0, 1000, 0);
        f->resp.head_only = f->head_req;
        f->interim = 0;
        f->pos = 0;
    }
    /* Read until the origin has nothing more for now: while a body streams, that gathers what
     * has arrived into fewer, larger writes to the client. */
    for (;;) {
        ssize_t n = transport_read(&f->up->t, f->in + f->len, f->cap - f->len);

        if (n > 0) {
            f->len += (size_t)n;
            f->started = 1;
            if (!f->head_seen || f->len == f->cap)
                break;
            continue;
        }
        if (n == 0)
            f->eof = 1;
        else if (n != -EAGAIN)
            f->err = (int)-n;
        break;
    }
    if (f->started && !f->trimmed && !f->body_open) {
        /* The origin answers: the request will not be sent again. */
        f->out.off = f->out.len = 0;
        f->sent = 0;
        f->trimmed = 1;
    }
}

static void on_io(struct origin_conn *u, int revents)
{
    struct fetch *f = u->user;
    int more_room = 0;

    CHECK_OBJ(f, FETCH_MAGIC);
    f->depth++;
    if (!u->connected) {
        int rc = origin_check_connect(u);

        if (rc == -EAGAIN) {
            want(f); /* the TLS handshake goes on */
            goto out;
        }
        if (rc < 0) {
            /* the reason outlives the connection, which failed() closes */
            snprintf(f->why, sizeof f->why, "%s", transport_why(&u->t, rc));
            log_debug("origin connect failed: %s", f->why);
            failed(f, 502, f->why);
            want(f); /* it may go on with another server */
            goto out;
        }
        revents |= EV_WRITE; /* up: the request goes out now */
    }
    if (revents & EV_WRITE) {
        size_t before = f->out.len - f->sent;

        run(f);
        more_room = f->body_open && f->out.len - f->sent < before;
    }
    if (!f->over && (revents & EV_READ) && f->up != NULL) {
        read_in(f);
        if (!f->over)
            run(f);
    }
    if (!f->over && more_room && f->ops->drained != NULL)
        f->ops->drained(f->ctx);
    want(f);
out:
    leave(f);
}

static void on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct fetch *f = t->data;

    (void)loop;
    (void)revents;
    CHECK_OBJ(f, FETCH_MAGIC);
    f->depth++;
    if (f->srv == NULL) {
        failed(f, 503, "no origin server is up");
        leave(f);
        return;
    }
    f->retried = 1; /* a timeout is not retried on the same server */
    failed(f, 504, f->up != NULL && !f->up->connected ? "connect timed out" : "timed out");
    want(f);
    leave(f);
}

struct fetch *fetch_start(struct worker *w, const struct conf *conf, const struct fetch_req *r,
                          const struct fetch_sink_ops *ops, void *ctx)
{
    struct fetch *f = fetch_alloc();
    struct http_fwd fwd = *r->fwd;
    char cond[512];

    f->magic = FETCH_MAGIC;
    f->w = w;
    f->conf = conf_ref(conf);
    f->ug = r->up;
    f->hash = r->hash;
    f->ops = ops;
    f->ctx = ctx;
    f->method = r->head->method;
    f->head_req = r->head->method == HTTP_HEAD;
    f->chunked = (r->head->flags & HTTP_F_CHUNKED) != 0;
    f->body_open = r->body != 0;
    snprintf(f->client, sizeof(f->client), "%s", r->client != NULL ? r->client : "-");
    f->resp.on_body = on_body;
    f->resp.ctx = f;
    http_parser_init(&f->resp, 0, 1000, 0);
    f->resp.head_only = f->head_req;
    ev_init(&f->timer, on_timeout);
    f->timer.data = f;
    f->next = w->fetches;
    if (w->fetches != NULL)
        w->fetches->prev = f;
    w->fetches = f;
    if (r->stale != NULL) {
        /* Revalidate what we have: a 304 saves the body (RFC 9111 §4.3.1). */
        struct span etag = obj_field(r->stale, "etag"), lm = obj_field(r->stale, "last-modified");
        int n = 0;

        if (etag.p != NULL && etag.len < 200)
            n += snprintf(cond + n, sizeof(cond) - (size_t)n, "If-None-Match: %.*s\r\n",
                          (int)etag.len, etag.p);
        if (lm.p != NULL && lm.len < 64)
            n += snprintf(cond + n, sizeof(cond) - (size_t)n, "If-Modified-Since: %.*s\r\n",
                          (int)lm.len, lm.p);
        if (n > 0)
            fwd.extra = cond;
    }
    http_write_request(&f->out, r->head, &fwd);
    f->t_origin = ev_now(w->loop);
    f->srv = upstream_pick(f->ug, f->hash, NULL);
    if (f->srv == NULL) {
        /* every server is out: the sink learns it from the loop, as of any failure, so that a
         * stale copy can still stand in */
        log_limited(LOG_LVL_ERROR, "no origin up", "upstream %s: no server is up (client %s)",
                    f->ug->name, f->client);
        atomic_fetch_add_explicit(&w->stats.origin_errors, 1, memory_order_relaxed);
        ev_timer_set(&f->timer, 0., 0.);
        ev_timer_start(w->loop, &f->timer);
        return f;
    }
    f->counted = 1;
    if (connect_origin(f) < 0) {
        atomic_fetch_add_explicit(&w->stats.origin_errors, 1, memory_order_relaxed);
        fetch_free(f);
        return NULL;
    }
    atomic_fetch_add_explicit(&w->stats.origin_requests, 1, memory_order_relaxed);
    (void)write_out(f); /* an error shows again on the write event, and is handled there */
    want(f);
    return f;
}

void fetch_set_sink(struct fetch *f, const struct fetch_sink_ops *ops, void *ctx)
{
    CHECK_OBJ(f, FETCH_MAGIC);
    f->ops = ops;
    f->ctx = ctx;
}

void fetch_resume(struct fetch *f)
{
    CHECK_OBJ(f, FETCH_MAGIC);
    if (!f->paused || f->over)
        return;
    f->paused = 0;
    f->depth++;
    parse(f);
    want(f);
    leave(f);
}

size_t fetch_body_room(const struct fetch *f)
{
    size_t pending = f->out.len - f->sent;

    if (f->wdead)
        return OUT_HIGH;
    return pending < OUT_HIGH ? OUT_HIGH - pending : 0;
}

void fetch_body(struct fetch *f, const char *p, size_t n)
{
    CHECK_OBJ(f, FETCH_MAGIC);
    if (f->wdead || f->over)
        return;
    /* max_body_size is the client parser's: it rejects a length or a chunk size past it. */
    http_write_body1(&f->out, f->chunked, p, n);
    (void)write_out(f);
    want(f);
}

void fetch_body_end(struct fetch *f)
{
    CHECK_OBJ(f, FETCH_MAGIC);
    if (f->over || !f->body_open)
        return;
    f->body_open = 0;
    if (!f->wdead)
        http_write_body_end(&f->out, f->chunked);
    (void)write_out(f);
    want(f);
}

void fetch_cancel(struct fetch **fp)
{
    struct fetch *f = *fp;

    if (f == NULL)
        return;
    *fp = NULL;
    CHECK_OBJ(f, FETCH_MAGIC);
    if (f->over)
        return;
    f->over = 1;
    origin_close(&f->up);
    let_go(f, UPSTREAM_NEUTRAL);
    ev_timer_stop(f->w->loop, &f->timer);
    if (f->depth == 0)
        fetch_free(f);
}

void fetch_abort_all(struct worker *w)
{
    while (w->fetches != NULL) {
        struct fetch *f = w->fetches;

        if (!f->over) {
            f->depth++;
            f->over = 1;
            origin_close(&f->up);
            f->ops->fail(f->ctx, 502, "shutting down");
            f->depth--;
        }
        fetch_free(f);
    }
    while (spares != NULL) {
        struct fetch *f = spares;

        spares = f->next;
        http_parser_fini(&f->resp);
        buf_free(&f->out);
        free(f->in);
        free(f);
    }
    n_spares = 0;
}
