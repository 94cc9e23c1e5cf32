/* conn.c - a client connection and the origin exchange it drives.
 *
 * States (enum conn_state): HEAD reads and parses a request head; START validates it and opens
 * the exchange on a pooled origin connection; EXCHANGE streams the request body to the origin
 * and the response back to the client; ERROR queues an answer of accel's own; FLUSH waits for
 * the output to drain; DONE logs the request and either starts the next one (keep-alive,
 * pipelining) or closes. conn_run() calls the current state's function until one returns
 * CONN_WAIT; I/O callbacks only move bytes into buffers and call conn_run().
 *
 * Buffers and backpressure: <in> holds the request head from offset 0 while it is parsed (spans
 * point into it; it is compacted only between requests or while a body streams); <uin> holds
 * origin bytes. A parser is fed only as many bytes as the buffer it writes to (<uout> towards
 * the origin, <out> towards the client) has room for below BUF_HIGH, so memory per connection
 * stays bounded whatever the speeds of the two sides: a slow client stops us reading the
 * origin, a slow origin stops us reading the client.
 *
 * Ownership: the conn owns its socket, its buffers and, during an exchange, its upstream
 * (returned to the pool after a clean exchange, closed otherwise). conn_close() is idempotent
 * and only queues the conn; the worker's prepare hook frees it once nothing is on the stack. */
#include "accel/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "accel/base.h"
#include "accel/cache.h"
#include "accel/deliver.h"
#include "accel/fetch.h"
#include "accel/http.h"
#include "accel/log.h"
#include "accel/origin.h"
#include "accel/worker.h"

#define CONN_MAGIC  0x636f6e6eu
#define BUF_HIGH    (64 * 1024) /* most bytes queued towards either side */
#define IN_INITIAL  4096
#define UIN_INITIAL (64 * 1024)
#define READ_MAX    (64 * 1024)

enum conn_state {
    CONN_HEAD = 0,
    CONN_START,
    CONN_EXCHANGE,
    CONN_ERROR,
    CONN_FLUSH,
    CONN_DONE,
    CONN_DELIVER,
    CONN_WAIT,
};

static const char *const state_names[] = {"head",  "start", "exchange", "error",
                                          "flush", "done",  "deliver",  "wait"};

enum timer_mode {
    TM_NONE = 0,
    TM_KEEPALIVE,
    TM_HEADER,
    TM_BODY,
    TM_ORIGIN,
    TM_SEND,
    TM_COALESCE,
};

struct conn {
    unsigned magic;
    struct worker *w;
    struct conn *prev, *next;
    int fd;
    ev_io rio, wio;
    ev_timer timer;
    enum timer_mode tmode;
    enum conn_state state;
    int closing;
    char ip[INET6_ADDRSTRLEN];

    /* client input */
    char *in;
    size_t in_len, in_cap, in_pos;
    struct http_parser req;
    int client_eof;

    /* client output: <out>, then body pieces still in <uin> (written without a copy when the
     * socket takes them; copied into <out> when it does not) */
    struct buf out;
    struct iovec ziov[16];
    unsigned n_ziov;
    int wr_err;

    /* the exchange */
    struct upstream *up;
    struct buf uout;
    char *uin;
    size_t uin_len, uin_cap, uin_pos;
    struct http_parser resp;
    int u_eof, u_err;
    struct http_fwd fwd;

    /* this request */
    unsigned head_started : 1; /* a byte of the current request arrived */
    unsigned req_done : 1;     /* the whole request was read */
    unsigned req_ka : 1;       /* the client wants keep-alive */
    unsigned v10 : 1;          /* HTTP/1.0 client */
    unsigned head_req : 1;
    unsigned has_body : 1;
    unsigned resp_started : 1; /* a byte of the origin's response arrived */
    unsigned resp_head_sent : 1;
    unsigned resp_done : 1;
    unsigned skip_interim : 1; /* the response being parsed is a 1xx, not forwarded */
    unsigned chunk_out : 1;
    unsigned close_after : 1;
    unsigned draining : 1;
    unsigned retried : 1;
    unsigned upstream_reusable : 1;
    unsigned req_kick : 1; /* parse once more even without new bytes (after a head) */
    unsigned resp_kick : 1;
    unsigned up_wdead : 1; /* the origin stopped reading our request */
    unsigned err_status;
    const char *err_msg;
    unsigned status, up_status;
    uint64_t req_body, resp_body_out;
    ev_tstamp t_start;
    struct buf logreq; /* "request line\0referer\0user-agent\0" copied for the access log */

    /* the cache: the object this request reads (a hit, a busy object it subscribed to, or the
     * one it fetches as owner), the delivery walk over it, and the X-Cache/Cache-Status lines */
    struct obj *obj;
    struct deliver dl;
    enum cache_res cres;
    const char *xcache;
    char xbuf[160];
    struct buf keybuf;
    struct cc rcc;
    int64_t t_req;
    unsigned owner : 1;      /* this request fetches c->obj */
    unsigned dhead_done : 1; /* the object's head was written */
    unsigned waiting : 1;    /* on the worker's list of conns waiting for busy objects */
    unsigned tee : 1;        /* streaming the answer through and into c->obj (unknown length) */
    unsigned background : 1; /* a stale-while-revalidate refresh: no client, output discarded */
    unsigned d_nobody : 1;   /* the answer from c->obj has no body (HEAD, 304, 416, 204) */
    struct obj *stale;       /* what a conditional fetch revalidates, what stale-if-error serves */
    char cond[512];          /* the conditional fields of a revalidation */
    uint64_t dl_end;         /* delivery stops before this body offset (a range) */
    struct conn *wprev, *wnext;
};

static void on_origin_event(struct upstream *u, int revents);
static void conn_run(struct conn *c);
static enum conn_state cache_start(struct conn *c);
static int owner_decides(struct conn *c);
static int stale_usable(const struct conn *c);
static void spawn_refresh(struct worker *w, const struct obj *stale);
static void serve_stale(struct conn *c);

/* ---------------------------------------------------------------------------------------- */

static const struct conf *cf(const struct conn *c)
{
    return c->w->conf;
}

static void set_timer(struct conn *c, enum timer_mode m, uint64_t ms, int refresh)
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

static void want_client(struct conn *c, int rd, int wr)
{
    struct ev_loop *loop = c->w->loop;

    if (rd && !ev_is_active(&c->rio))
        ev_io_start(loop, &c->rio);
    else if (!rd && ev_is_active(&c->rio))
        ev_io_stop(loop, &c->rio);
    if (wr && !ev_is_active(&c->wio))
        ev_io_start(loop, &c->wio);
    else if (!wr && ev_is_active(&c->wio))
        ev_io_stop(loop, &c->wio);
}

static void unwait(struct conn *c)
{
    struct worker *w = c->w;

    if (!c->waiting)
        return;
    if (c->wprev != NULL)
        c->wprev->wnext = c->wnext;
    else
        w->waiting = c->wnext;
    if (c->wnext != NULL)
        c->wnext->wprev = c->wprev;
    c->wprev = c->wnext = NULL;
    c->waiting = 0;
}

static void drop_obj(struct conn *c)
{
    unwait(c);
    obj_unref(&c->stale);
    if (c->obj != NULL &&
        ((c->owner && !obj_has_head(c->obj)) || (c->tee && obj_state(c->obj) == OBJ_BUSY))) {
        /* The fetch this request drove did not finish: release the subscribers. */
        cache_remove(c->w->cache, c->obj);
        obj_finish(c->obj, OBJ_FAILED);
    }
    obj_unref(&c->obj);
    c->owner = 0;
    c->tee = 0;
    c->dhead_done = 0;
}

void conn_wake_waiting(struct worker *w)
{
    for (struct conn *c = w->waiting, *next; c != NULL; c = next) {
        next = c->wnext;
        conn_run(c);
    }
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
    drop_obj(c);
    origin_close(&c->up);
    close(c->fd);
    c->fd = -1;
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
        http_parser_fini(&c->resp);
        buf_free(&c->out);
        buf_free(&c->uout);
        buf_free(&c->logreq);
        buf_free(&c->keybuf);
        free(c->in);
        free(c->uin);
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
    if (c->state == CONN_HEAD && !c->head_started && c->in_len == c->in_pos)
        conn_close(c);
}

/* ---------------------------------------------------------------------------------------- */
/* Writing to the client */

/* Writes what is pending in <out>, setting *<progress> when some bytes went. Returns 0 (maybe
 * with bytes left), or -1 when the client is gone (the caller closes). */
static int flush_client(struct conn *c, int *progress)
{
    if (c->wr_err)
        return -1;
    while (buf_pending(&c->out) > 0) {
        ssize_t n = write(c->fd, c->out.p + c->out.off, buf_pending(&c->out));
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            *progress = 1;
            atomic_fetch_add_explicit(&c->w->stats.bytes_out, (uint64_t)n, memory_order_relaxed);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        return -1;
    }
    if (c->out.cap > 4 * BUF_HIGH) {
        /* A large head or error once grew it: do not keep that memory on an idle conn. */
        buf_free(&c->out);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Request side */

static int on_req_body(void *ctx, const char *p, size_t n)
{
    struct conn *c = ctx;
    uint64_t max = cf(c)->max_body_size;

    c->req_body += n;
    if (max != 0 && c->req_body > max) {
        c->req.err_status = 413;
        c->req.err_reason = "request body too large";
        return -1;
    }
    if (c->req.head.flags & HTTP_F_CHUNKED)
        buf_printf(&c->uout, "%zx\r\n", n);
    buf_append(&c->uout, p, n);
    if (c->req.head.flags & HTTP_F_CHUNKED)
        buf_append_str(&c->uout, "\r\n");
    return 0;
}

static enum conn_state fail(struct conn *c, unsigned status, const char *msg)
{
    c->err_status = status;
    c->err_msg = msg;
    return CONN_ERROR;
}

static void reset_request(struct conn *c)
{
    c->head_started = c->req_done = c->req_ka = c->v10 = c->head_req = c->has_body = 0;
    c->resp_started = c->resp_head_sent = c->resp_done = c->skip_interim = 0;
    c->chunk_out = c->close_after = c->retried = c->upstream_reusable = 0;
    c->req_kick = c->resp_kick = c->up_wdead = 0;
    c->err_status = c->status = c->up_status = 0;
    c->err_msg = NULL;
    c->req_body = c->resp_body_out = 0;
    c->n_ziov = 0;
    c->u_eof = c->u_err = 0;
    c->uin_len = c->uin_pos = 0;
    buf_free(&c->uout);
    c->logreq.off = c->logreq.len = 0;
    memset(&c->fwd, 0, sizeof(c->fwd));
    drop_obj(c);
    c->xcache = NULL;
    c->d_nobody = 0;
    c->dl_end = UINT64_MAX;
}

static enum conn_state conn_head(struct conn *c)
{
    const struct conf *conf = cf(c);
    size_t used;
    enum http_ev ev;

    if (!c->head_started) {
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
            want_client(c, 1, 0);
            set_timer(
                c, TM_KEEPALIVE,
                conf->keepalive_timeout ? conf->keepalive_timeout : conf->client_header_timeout, 0);
            return CONN_WAIT;
        }
        c->head_started = 1;
        c->t_start = ev_now(c->w->loop);
        set_timer(c, TM_HEADER, conf->client_header_timeout, 0);
    }
    ev = http_parse(&c->req, c->in + c->in_pos, c->in_len - c->in_pos, &used);
    c->in_pos += used;
    switch (ev) {
    case HTTP_EV_HEAD:
        return CONN_START;
    case HTTP_EV_ERROR:
        return fail(c, (unsigned)c->req.err_status, c->req.err_reason);
    case HTTP_EV_DONE:
        /* on_headers_complete always pauses first */
        return fail(c, 400, "unexpected message end");
    case HTTP_EV_MORE:
        break;
    }
    if (c->client_eof)
        return CONN_DONE;
    if (c->in_len == c->in_cap) {
        if (c->in_cap >= conf->max_header_size)
            return fail(c, c->req.in_url ? 414 : 431,
                        c->req.in_url ? "request target too long" : "request head too large");
        /* Grow, then parse the head again from its start: the spans pointed into the old
         * buffer. */
        c->in_cap = c->in_cap * 2 > conf->max_header_size ? conf->max_header_size : c->in_cap * 2;
        c->in = xrealloc(c->in, c->in_cap);
        http_parser_init(&c->req, 1, conf->max_headers, conf->max_uri_length);
        c->in_pos = 0;
        return CONN_HEAD;
    }
    want_client(c, 1, 0);
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

static int is_idempotent(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
           method == HTTP_PUT || method == HTTP_DELETE || method == HTTP_TRACE;
}

static enum conn_state open_exchange(struct conn *c)
{
    int rc;

    AZ(c->up);
    rc = origin_get(c->w->pool, on_origin_event, c, &c->up);
    if (rc < 0) {
        log_error("origin %s: cannot create socket: %s", cf(c)->origin.text, strerror(-rc));
        atomic_fetch_add_explicit(&c->w->stats.origin_errors, 1, memory_order_relaxed);
        return fail(c, 502, "cannot connect to the origin");
    }
    if (!c->up->reused)
        atomic_fetch_add_explicit(&c->w->stats.origin_connects, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->w->stats.origin_requests, 1, memory_order_relaxed);
    if (c->uin == NULL) {
        c->uin_cap = UIN_INITIAL;
        c->uin = xmalloc(c->uin_cap);
    }
    http_parser_init(&c->resp, 0, 1000, 0);
    c->resp.head_only = c->head_req;
    c->resp_kick = 0;
    c->up_wdead = 0;
    c->fwd.whole = c->owner;
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

/* The request's Cache-Control (Pragma: no-cache when there is none, RFC 9111 §5.4). */
static void parse_request_cc(struct conn *c)
{
    const struct http_head *h = &c->req.head;
    int seen = 0;

    policy_cc_init(&c->rcc);
    for (unsigned i = 0; i < h->n_hdrs; i++) {
        if (span_eq_ci(h->hdrs[i].name, "cache-control")) {
            policy_cc_parse(h->hdrs[i].value, &c->rcc);
            seen = 1;
        }
    }
    if (!seen) {
        const struct field *pragma = http_find(h, "pragma");
        if (pragma != NULL && span_eq_ci(span_trim(pragma->value), "no-cache"))
            c->rcc.flags |= CC_NO_CACHE;
    }
}

static enum conn_state cache_start(struct conn *c)
{
    const struct conf *conf = cf(c);
    struct cache_req r;
    struct span host = c->fwd.client_host;
    ev_tstamp now = ev_now(c->w->loop);

    if (c->w->cache == NULL || conf->cache_memory == 0) {
        c->xcache = "X-Cache: PASS\r\nCache-Status: accel; fwd=bypass\r\n";
        return open_exchange(c);
    }
    if (host.len == 0)
        host = span_of(conf->origin_host, strlen(conf->origin_host));
    if (!c->req_done) {
        /* A GET or HEAD without a body ends with its head: take that end now, so that
         * keep-alive is known whether the answer comes from the cache or the origin. */
        size_t used;

        if (http_parse(&c->req, c->in + c->in_pos, 0, &used) == HTTP_EV_DONE) {
            c->req_done = 1;
            c->req_ka = (c->req.head.flags & HTTP_F_KEEPALIVE) != 0;
        }
    }
    parse_request_cc(c);
    c->keybuf.off = c->keybuf.len = 0;
    if (key_build(&c->keybuf, "http", host, http_request_path(&c->req.head), &r.key) < 0) {
        c->xcache = "X-Cache: PASS\r\nCache-Status: accel; fwd=bypass\r\n";
        return open_exchange(c);
    }
    r.fields = c->req.head.hdrs;
    r.n_fields = c->req.head.n_hdrs;
    r.cc = c->rcc;
    r.now = (int64_t)now;
    r.now_ms = (uint64_t)(now * 1000.0);
    r.no_make = c->head_req; /* a HEAD miss goes to the origin as HEAD, nothing is stored */
    r.no_swr = c->background;
    c->t_req = r.now;
    obj_unref(&c->stale);
    c->cres = cache_lookup(c->w->cache, &r, &c->obj, &c->stale);
    switch (c->cres) {
    case CACHE_HIT:
        atomic_fetch_add_explicit(&c->w->stats.cache_hits, 1, memory_order_relaxed);
        deliver_init(&c->dl, c->obj);
        return CONN_DELIVER;
    case CACHE_HIT_STALE:
        atomic_fetch_add_explicit(&c->w->stats.cache_stale, 1, memory_order_relaxed);
        if (atomic_exchange(&c->obj->refreshing, 1) == 0)
            spawn_refresh(c->w, c->obj);
        deliver_init(&c->dl, c->obj);
        return CONN_DELIVER;
    case CACHE_BUSY:
        if (atomic_fetch_add(&c->obj->subscribers, 1) >= conf->coalesce_max) {
            /* Too many waiting on this one already: go alone (counted). */
            atomic_fetch_add_explicit(&c->w->stats.coalesce_overflows, 1, memory_order_relaxed);
            drop_obj(c);
            c->xcache = "X-Cache: PASS\r\nCache-Status: accel; fwd=miss; detail=coalesce-max\r\n";
            return open_exchange(c);
        }
        atomic_fetch_add_explicit(&c->w->stats.cache_coalesced, 1, memory_order_relaxed);
        deliver_init(&c->dl, c->obj);
        return CONN_DELIVER;
    case CACHE_MISS:
        atomic_fetch_add_explicit(&c->w->stats.cache_misses, 1, memory_order_relaxed);
        c->owner = 1;
        return open_exchange(c);
    case CACHE_PASS:
        atomic_fetch_add_explicit(&c->w->stats.cache_passes, 1, memory_order_relaxed);
        c->xcache = "X-Cache: PASS\r\nCache-Status: accel; fwd=uri-miss; detail=hit-for-miss\r\n";
        return open_exchange(c);
    case CACHE_NONE:
    case CACHE_REVALIDATED:
    case CACHE_STALE:
        break;
    }
    if (c->rcc.flags & CC_ONLY_IF_CACHED)
        return fail(c, 504, "not in the cache (only-if-cached)");
    atomic_fetch_add_explicit(&c->w->stats.cache_misses, 1, memory_order_relaxed);
    c->xcache = "X-Cache: MISS\r\nCache-Status: accel; fwd=miss\r\n";
    return open_exchange(c);
}

static void wait_for(struct conn *c)
{
    struct worker *w = c->w;

    if (c->waiting)
        return;
    obj_wait(c->obj, w->id);
    c->waiting = 1;
    c->wprev = NULL;
    c->wnext = w->waiting;
    if (w->waiting != NULL)
        w->waiting->wprev = c;
    w->waiting = c;
}

/* Writes "<pre><ttl>\r\n" into <dst> (at most <cap> bytes, NUL-terminated) and returns its
 * length: the hit path's one formatted field, without printf. */
static size_t say_ttl(char *dst, size_t cap, const char *pre, int64_t ttl)
{
    char num[24];
    size_t n = sizeof(num), plen = strlen(pre);
    uint64_t v = ttl < 0 ? (uint64_t)0 - (uint64_t)ttl : (uint64_t)ttl;

    do {
        num[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (ttl < 0)
        num[--n] = '-';
    if (plen + (sizeof(num) - n) + 3 > cap)
        return (size_t)snprintf(dst, cap, "%s%lld\r\n", pre, (long long)ttl);
    memcpy(dst, pre, plen);
    memcpy(dst + plen, num + n, sizeof(num) - n);
    plen += sizeof(num) - n;
    memcpy(dst + plen, "\r\n", 3);
    return plen + 2;
}

/* Writes the head of the answer from c->obj: 304 when the client's validators match, 206 or 416
 * for a byte range of a complete object, else the stored status. Sets the delivery window
 * [dl.pos, dl_end) and c->d_nobody when no body follows. */
static void deliver_start(struct conn *c, enum obj_state st, uint64_t avail)
{
    const struct obj *o = c->obj;
    const struct field *f = c->req.head.hdrs;
    unsigned nf = c->req.head.n_hdrs;
    int64_t now = (int64_t)ev_now(c->w->loop);
    int64_t age = policy_current_age(o->date, o->age_value, o->t_req, o->t_resp, now);
    uint64_t length = st == OBJ_COMPLETE ? avail : o->content_length, first = 0, last = 0;
    const char *status_line = NULL;
    enum deliver_range rg = DELIVER_FULL;
    size_t xlen;

    c->status = o->status;
    c->dl_end = UINT64_MAX;
    c->close_after = c->close_after || !c->req_ka || c->draining;
    switch (c->cres) {
    case CACHE_HIT:
        xlen = say_ttl(c->xbuf, sizeof(c->xbuf),
                       "X-Cache: HIT\r\nCache-Status: accel; hit; ttl=", o->ttl - age);
        break;
    case CACHE_BUSY:
        xlen = (size_t)snprintf(
            c->xbuf, sizeof(c->xbuf),
            "X-Cache: HIT\r\nCache-Status: accel; hit; ttl=%lld; detail=collapsed\r\n",
            (long long)(o->ttl - age));
        break;
    case CACHE_REVALIDATED:
        xlen = (size_t)snprintf(
            c->xbuf, sizeof(c->xbuf),
            "X-Cache: REVALIDATED\r\nCache-Status: accel; fwd=stale; fwd-status=304; ttl=%lld\r\n",
            (long long)(o->ttl - age));
        break;
    case CACHE_HIT_STALE:
        xlen = (size_t)snprintf(c->xbuf, sizeof(c->xbuf),
                                "X-Cache: STALE\r\nCache-Status: accel; hit; ttl=%lld; "
                                "detail=stale-while-revalidate\r\n",
                                (long long)(o->ttl - age));
        break;
    case CACHE_STALE:
        xlen = (size_t)snprintf(c->xbuf, sizeof(c->xbuf),
                                "X-Cache: STALE\r\nCache-Status: accel; hit; ttl=%lld; "
                                "detail=stale-if-error\r\n",
                                (long long)(o->ttl - age));
        break;
    default:
        xlen = (size_t)snprintf(
            c->xbuf, sizeof(c->xbuf),
            "X-Cache: MISS\r\nCache-Status: accel; fwd=%s; stored; ttl=%lld\r\n",
            (c->rcc.flags & CC_NO_CACHE) ? "request" : "miss", (long long)(o->ttl - age));
        break;
    }
    if (deliver_not_modified(o, f, nf, now)) {
        c->status = 304;
        c->d_nobody = 1;
        deliver_head(&c->out, o, "HTTP/1.1 304 Not Modified", age, OBJ_LEN_UNKNOWN, 0,
                     c->close_after, c->v10 && !c->close_after, c->xbuf);
        c->dhead_done = 1;
        c->xcache = c->xbuf;
        return;
    }
    if (st == OBJ_COMPLETE)
        rg = deliver_range(o, length, f, nf, &first, &last);
    if (rg == DELIVER_UNSATISFIABLE) {
        c->status = 416;
        c->d_nobody = 1;
        status_line = "HTTP/1.1 416 Range Not Satisfiable";
        snprintf(c->xbuf + xlen, sizeof(c->xbuf) - xlen, "Content-Range: bytes */%llu\r\n",
                 (unsigned long long)length);
        length = 0;
    } else if (rg == DELIVER_PARTIAL) {
        c->status = 206;
        status_line = "HTTP/1.1 206 Partial Content";
        snprintf(c->xbuf + xlen, sizeof(c->xbuf) - xlen, "Content-Range: bytes %llu-%llu/%llu\r\n",
                 (unsigned long long)first, (unsigned long long)last, (unsigned long long)length);
        c->dl.pos = first;
        c->dl_end = last + 1;
        length = last - first + 1;
    }
    if (length == OBJ_LEN_UNKNOWN && !c->head_req) {
        if (c->v10)
            c->close_after = 1;
        else
            c->chunk_out = 1;
    }
    deliver_head(&c->out, o, status_line, age, length, c->chunk_out, c->close_after,
                 c->v10 && !c->close_after, c->xbuf);
    c->dhead_done = 1;
    c->xcache = c->xbuf; /* for the access log */
}

/* Writes what is pending in <out> and the object's bytes after the delivery position, up to
 * <avail>. Returns -1 when the client is gone. */
static int deliver_write(struct conn *c, uint64_t avail, int *progress)
{
    struct iovec iov[17];
    unsigned n = 0;
    ssize_t w;

    if (c->chunk_out) {
        /* Unknown length: frame what is there as one chunk (copied: rare, not the hit path). */
        unsigned k = deliver_iov(&c->dl, avail, iov, 16);
        uint64_t total = 0;

        for (unsigned i = 0; i < k; i++)
            total += iov[i].iov_len;
        if (total > 0) {
            buf_printf(&c->out, "%llx\r\n", (unsigned long long)total);
            for (unsigned i = 0; i < k; i++)
                buf_append(&c->out, iov[i].iov_base, iov[i].iov_len);
            buf_append_str(&c->out, "\r\n");
            deliver_advance(&c->dl, total);
            *progress = 1;
        }
        return flush_client(c, progress);
    }
    if (buf_pending(&c->out) > 0)
        iov[n++] = (struct iovec){c->out.p + c->out.off, buf_pending(&c->out)};
    n += deliver_iov(&c->dl, avail, iov + n, 16);
    if (n == 0)
        return 0;
    do
        w = writev(c->fd, iov, (int)n);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return errno == EAGAIN ? 0 : -1;
    if (w > 0) {
        size_t take = (size_t)w < buf_pending(&c->out) ? (size_t)w : buf_pending(&c->out);

        *progress = 1;
        atomic_fetch_add_explicit(&c->w->stats.bytes_out, (uint64_t)w, memory_order_relaxed);
        buf_consume(&c->out, take);
        deliver_advance(&c->dl, (uint64_t)w - take);
    }
    return 0;
}

static enum conn_state conn_deliver(struct conn *c)
{
    struct obj *o = c->obj;
    const struct conf *conf = cf(c);

    CHECK_OBJ(o, OBJ_MAGIC);
    if (obj_state(o) == OBJ_BUSY)
        wait_for(c); /* before looking, so that no publication can slip between */
    if (!c->dhead_done) {
        if (!obj_has_head(o)) {
            if (obj_state(o) == OBJ_FAILED) {
                int private = (o->flags & OBJ_F_PRIVATE) != 0;

                if (!private && stale_usable(c)) {
                    serve_stale(c);
                    return CONN_DELIVER;
                }
                drop_obj(c);
                if (!private)
                    return fail(c, 502, "the origin failed to answer");
                c->xcache =
                    "X-Cache: PASS\r\nCache-Status: accel; fwd=uri-miss; detail=hit-for-miss\r\n";
                return open_exchange(c);
            }
            set_timer(c, c->owner ? TM_ORIGIN : TM_COALESCE,
                      c->owner ? conf->origin_timeout : conf->coalesce_timeout, 0);
            return CONN_WAIT;
        }
        if (c->cres == CACHE_BUSY && !cache_vary_match(o, c->req.head.hdrs, c->req.head.n_hdrs)) {
            /* Another variant: look again, now that this object's Vary values are known (it
             * is skipped this time), to find or fetch our own. */
            drop_obj(c);
            return cache_start(c);
        }
        {
            enum obj_state st = obj_state(o);
            deliver_start(c, st, obj_avail(o));
        }
        if (c->head_req || c->d_nobody || o->status == 204 || o->status == 304) {
            drop_obj(c);
            c->resp_done = 1;
            return CONN_FLUSH;
        }
    }
    for (;;) {
        int progress = 0;
        enum obj_state st = obj_state(o); /* before avail: COMPLETE means avail is final */
        uint64_t avail = obj_avail(o);

        if (avail >= c->dl_end) {
            avail = c->dl_end;
            st = OBJ_COMPLETE; /* the range is all there */
        }

        if (deliver_write(c, avail, &progress) < 0) {
            conn_close(c);
            return CONN_WAIT;
        }
        c->resp_body_out = c->dl.pos;
        if (c->dl.pos == avail && buf_pending(&c->out) == 0) {
            if (st == OBJ_COMPLETE) {
                if (c->chunk_out)
                    buf_append_str(&c->out, "0\r\n\r\n");
                drop_obj(c);
                c->resp_done = 1;
                return CONN_FLUSH;
            }
            if (st == OBJ_FAILED) {
                /* The fetch broke in the middle of the body: closing tells the client. */
                conn_close(c);
                return CONN_WAIT;
            }
            want_client(c, c->in_len < c->in_cap && !c->client_eof, 0);
            set_timer(c, TM_ORIGIN, conf->origin_timeout, 1);
            return CONN_WAIT;
        }
        if (!progress) {
            want_client(c, c->in_len < c->in_cap && !c->client_eof, 1);
            set_timer(c, TM_SEND, conf->send_timeout, 1);
            return CONN_WAIT;
        }
    }
}

static enum conn_state conn_start(struct conn *c)
{
    const struct conf *conf = cf(c);
    struct http_head *h = &c->req.head;
    const struct field *expect;

    atomic_fetch_add_explicit(&c->w->stats.requests, 1, memory_order_relaxed);
    c->v10 = h->vmajor == 1 && h->vminor == 0;
    c->head_req = h->method == HTTP_HEAD;
    c->has_body = (h->flags & HTTP_F_CHUNKED) || h->content_length > 0;
    copy_for_log(c);
    if (http_request_host(h, &c->fwd.client_host) < 0)
        return fail(c, 400, "missing or invalid Host");
    if (h->method == HTTP_CONNECT)
        return fail(c, 405, "CONNECT is not supported by a reverse proxy");
    if ((h->flags & HTTP_F_TE) && !(h->flags & HTTP_F_CHUNKED))
        return fail(c, 400, "unsupported Transfer-Encoding");
    if (conf->max_body_size != 0 && (h->flags & HTTP_F_LENGTH) &&
        h->content_length > conf->max_body_size)
        return fail(c, 413, "request body too large");
    c->fwd.client_ip = c->ip;
    c->fwd.proto = "http";
    if (conf->host_header != NULL)
        c->fwd.host = span_of(conf->host_header, strlen(conf->host_header));
    else if (c->fwd.client_host.len > 0)
        c->fwd.host = c->fwd.client_host;
    else
        c->fwd.host = span_of(conf->origin_host, strlen(conf->origin_host));
    expect = http_find(h, "expect");
    if (expect != NULL && c->has_body && !c->v10 &&
        span_eq_ci(span_trim(expect->value), "100-continue"))
        buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    if ((h->method == HTTP_GET || h->method == HTTP_HEAD) && !c->has_body)
        return cache_start(c);
    c->xcache = "X-Cache: PASS\r\nCache-Status: accel; fwd=method\r\n";
    return open_exchange(c);
}

/* ---------------------------------------------------------------------------------------- */
/* Response side */

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
    do
        w = writev(c->fd, iov, (int)n);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) {
        c->wr_err = 1;
        c->n_ziov = 0;
        return;
    }
    if (w > 0) {
        size_t left = (size_t)w, take = left < buf_pending(&c->out) ? left : buf_pending(&c->out);

        *progress = 1;
        atomic_fetch_add_explicit(&c->w->stats.bytes_out, (uint64_t)w, memory_order_relaxed);
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
            log_debug("%.*s outgrew max_object_size: not stored", (int)c->obj->key_len,
                      c->obj->key);
            cache_mark_pass(c->w->cache, c->obj,
                            (int64_t)ev_now(c->w->loop) +
                                (int64_t)(cf(c)->hit_for_miss_ttl / 1000));
        }
        if (atomic_load(&c->obj->refs) == 1 || have + n > 2 * max) {
            drop_obj(c);
            return;
        }
    }
    obj_append(c->obj, p, n);
    cache_grow(c->w->cache, c->obj, n);
}

static int on_resp_body(void *ctx, const char *p, size_t n)
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
    if (c->chunk_out)
        buf_printf(&c->out, "%zx\r\n", n);
    buf_append(&c->out, p, n);
    if (c->chunk_out)
        buf_append_str(&c->out, "\r\n");
    return 0;
}

/* The owner of a busy object got the response head: store it (the fetch goes on by itself and
 * this request reads the object like any other) or not (the key is marked hit-for-miss, the
 * subscribers go to the origin alone and this request streams the answer through). Returns 1
 * when stored. */
/* May c->stale stand in for an origin that fails (stale-if-error, or the configured grace)? */
static int stale_usable(const struct conn *c)
{
    const struct obj *o = c->stale;
    int64_t now = (int64_t)ev_now(c->w->loop), window = (int64_t)(cf(c)->grace / 1000);

    if (o == NULL || (o->cc_flags & (CC_MUST_REVALIDATE | CC_PROXY_REVALIDATE | CC_NO_CACHE)))
        return 0;
    if (o->sie > window)
        window = o->sie;
    return policy_current_age(o->date, o->age_value, o->t_req, o->t_resp, now) - o->ttl <= window;
}

/* Fails the busy object this request owned (its subscribers learn it), then answers from the
 * stale copy instead. */
static void serve_stale(struct conn *c)
{
    if (c->obj != NULL && c->owner) {
        cache_remove(c->w->cache, c->obj);
        if (!obj_has_head(c->obj))
            obj_finish(c->obj, OBJ_FAILED);
    }
    unwait(c);
    obj_unref(&c->obj);
    c->owner = 0;
    c->obj = c->stale;
    c->stale = NULL;
    c->cres = CACHE_STALE;
    deliver_init(&c->dl, c->obj);
    atomic_fetch_add_explicit(&c->w->stats.cache_stale, 1, memory_order_relaxed);
}

/* Gives the upstream back (or closes it) once the current response, which has no body, ends. */
static void finish_bodiless(struct conn *c)
{
    size_t used;
    enum http_ev ev = http_parse(&c->resp, c->uin + c->uin_pos, c->uin_len - c->uin_pos, &used);

    c->uin_pos += used;
    if (ev == HTTP_EV_DONE && (c->resp.head.flags & HTTP_F_KEEPALIVE) && c->uin_pos == c->uin_len)
        origin_put(&c->up);
    else
        origin_close(&c->up);
    c->uin_pos = c->uin_len = 0;
}

/* 1 if response <h> carries a field named <name>. */
static int resp_has(const struct http_head *h, struct span name)
{
    for (unsigned j = 0; j < h->n_hdrs; j++)
        if (h->hdrs[j].name.len == name.len &&
            strncasecmp(h->hdrs[j].name.p, name.p, name.len) == 0)
            return 1;
    return 0;
}

/* The origin confirmed c->stale with a 304: the busy object gets the stored head updated with
 * the 304's fields (RFC 9111 §4.3.4), fresh times, and the stored body, and completes. */
static void revalidated(struct conn *c)
{
    struct obj *o = c->obj, *old = c->stale;
    const struct http_head *h = &c->resp.head;
    const struct cache_conf *cc = cache_conf_of(c->w->cache);
    int64_t now = (int64_t)ev_now(c->w->loop);
    const char *eol = memchr(old->head, '\n', old->head_len);
    struct field tmp[256];
    struct policy_resp pr;
    struct buf hb = {0};
    unsigned n;

    buf_append(&hb, old->head, eol != NULL ? (size_t)(eol + 1 - old->head) : old->head_len);
    for (unsigned i = 0; i < old->n_fields; i++) {
        const struct field *f = &old->fields[i];

        if (resp_has(h, f->name))
            continue;
        buf_append_span(&hb, f->name);
        buf_append_str(&hb, ": ");
        buf_append_span(&hb, f->value);
        buf_append_str(&hb, "\r\n");
    }
    for (unsigned j = 0; j < h->n_hdrs; j++) {
        struct span name = h->hdrs[j].name;

        if (http_is_hop_by_hop(h, name) || span_eq_ci(name, "content-length") ||
            span_eq_ci(name, "age"))
            continue;
        buf_append_span(&hb, name);
        buf_append_str(&hb, ": ");
        buf_append_span(&hb, span_trim(h->hdrs[j].value));
        buf_append_str(&hb, "\r\n");
    }
    n = obj_split_fields(hb.p, hb.len, tmp, countof(tmp));
    policy_response(&cc->policy, "GET", &c->rcc, 0, old->status, tmp, n, now, &pr);
    o->status = old->status;
    o->t_req = c->t_req;
    o->t_resp = now;
    o->date = pr.date;
    o->age_value = pr.age;
    o->ttl = pr.storable ? pr.ttl : 0;
    o->swr = pr.swr;
    o->sie = pr.sie;
    o->cc_flags = pr.cc_flags;
    o->content_length = obj_avail(old);
    if (old->vary_len > 0) {
        o->vary = xmalloc(old->vary_len);
        memcpy(o->vary, old->vary, old->vary_len);
        o->vary_len = old->vary_len;
    }
    obj_set_head(o, hb.p, hb.len);
    buf_free(&hb);
    for (const struct obj_chunk *ch = old->first; ch != NULL; ch = ch->next)
        obj_append(o, ch->data, ch->len);
    cache_grow(c->w->cache, o, (size_t)obj_avail(o));
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(c->w->cache, o);
    finish_bodiless(c);
    obj_unref(&c->stale);
    c->owner = 0;
    c->cres = CACHE_REVALIDATED;
    deliver_init(&c->dl, o);
    atomic_fetch_add_explicit(&c->w->stats.cache_revalidated, 1, memory_order_relaxed);
}

static int owner_decides(struct conn *c)
{
    struct obj *o = c->obj;
    const struct http_head *h = &c->resp.head;
    const struct cache_conf *cc = cache_conf_of(c->w->cache);
    int64_t now = (int64_t)ev_now(c->w->loop);
    int has_auth = http_find(&c->req.head, "authorization") != NULL;
    uint64_t len = ((h->flags & HTTP_F_LENGTH) && !(h->flags & HTTP_F_TE)) ? h->content_length
                                                                           : OBJ_LEN_UNKNOWN;
    const struct field *vary;
    struct policy_resp pr;
    struct fetch_handover ho;
    struct buf hb = {0};

    if (c->stale != NULL && h->status == 304) {
        revalidated(c);
        return 1;
    }
    if (c->stale != NULL && h->status >= 500 && stale_usable(c)) {
        log_info("origin answered %u for %.*s: serving the stale copy", h->status, (int)o->key_len,
                 o->key);
        origin_close(&c->up);
        c->uin_pos = c->uin_len = 0;
        serve_stale(c);
        return 1;
    }
    c->owner = 0;
    policy_response(&cc->policy, "GET", &c->rcc, has_auth, h->status, h->hdrs, h->n_hdrs, now, &pr);
    if (pr.storable && len != OBJ_LEN_UNKNOWN && len > cc->max_object_size) {
        pr.storable = 0;
        pr.reason = "too large";
    }
    if (!pr.storable) {
        int64_t hfm = (int64_t)(cf(c)->hit_for_miss_ttl / 1000);

        /* A reason of this request's own (no-store, credentials) says nothing of the next
         * request: no hit-for-miss marker then. */
        if (strcmp(pr.reason, "request no-store") == 0 || strcmp(pr.reason, "authorization") == 0)
            hfm = 0;
        o->flags |= OBJ_F_PRIVATE; /* before the state is published: subscribers go alone */
        cache_mark_pass(c->w->cache, o, hfm > 0 ? now + hfm : 0);
        obj_finish(o, OBJ_FAILED);
        drop_obj(c);
        snprintf(c->xbuf, sizeof(c->xbuf),
                 "X-Cache: PASS\r\nCache-Status: accel; fwd=uri-miss; detail=\"%s\"\r\n",
                 pr.reason);
        c->xcache = c->xbuf;
        atomic_fetch_add_explicit(&c->w->stats.cache_passes, 1, memory_order_relaxed);
        return 0;
    }
    o->status = h->status;
    o->t_req = c->t_req;
    o->t_resp = now;
    o->date = pr.date;
    o->age_value = pr.age;
    o->ttl = pr.ttl;
    o->swr = pr.swr;
    o->sie = pr.sie;
    o->cc_flags = pr.cc_flags;
    o->content_length = (h->flags & HTTP_F_NOBODY) ? 0 : len;
    vary = http_find(h, "vary");
    if (vary != NULL)
        o->vary_len = cache_vary_build(vary->value, c->req.head.hdrs, c->req.head.n_hdrs, &o->vary);
    http_write_stored_head(&hb, h, worker_date(c->w));
    obj_set_head(o, hb.p, hb.len);
    buf_free(&hb);
    atomic_fetch_add_explicit(&c->w->stats.cache_stored, 1, memory_order_relaxed);
    if (o->content_length == OBJ_LEN_UNKNOWN) {
        /* Unknown length: it may outgrow max_object_size, and then this client must still get
         * all of it. Stream it through as a pass (with backpressure) and copy it into the
         * object for the subscribers on the way; past the limit only the copy stops. */
        c->tee = 1;
        c->xcache = "X-Cache: MISS\r\nCache-Status: accel; fwd=miss; stored\r\n";
        return 0;
    }
    ho.up = c->up;
    ho.in = c->uin;
    ho.len = c->uin_len;
    ho.cap = c->uin_cap;
    ho.pos = c->uin_pos;
    ho.resp = &c->resp;
    c->up = NULL;
    c->uin = NULL;
    c->uin_len = c->uin_pos = c->uin_cap = 0;
    c->resp_started = 0;
    fetch_adopt(c->w, o, &ho);
    deliver_init(&c->dl, o);
    return 1;
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
        host = span_of(cf(c)->origin_host, strlen(cf(c)->origin_host));
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
        /* Interim answers (100, 103) are not forwarded: we answered 100-continue ourselves. */
        c->skip_interim = 1;
        return;
    }
    c->up_status = c->status = h->status;
    if (c->owner && owner_decides(c))
        return;
    invalidate_after(c, h);
    c->close_after = c->close_after || !c->req_ka || c->draining;
    if (!nobody && !length) {
        if (c->v10)
            c->close_after = 1; /* the end of the body is the end of the connection */
        else
            c->chunk_out = 1;
    }
    http_write_response_head(&c->out, h, worker_date(c->w), c->chunk_out, c->close_after,
                             c->v10 && !c->close_after, c->xcache);
    c->resp_head_sent = 1;
}

/* The origin failed before its response was complete. Decides between a retry, an error answer
 * and, when the client already has part of the answer, closing. */
static enum conn_state origin_failed(struct conn *c, unsigned status, const char *what)
{
    int reused = c->up != NULL && c->up->reused;

    origin_close(&c->up);
    if (!c->resp_started && reused && !c->retried && !c->has_body &&
        is_idempotent(c->req.head.method)) {
        /* A pooled connection the origin had already closed: try once more on a new one. */
        c->retried = 1;
        atomic_fetch_add_explicit(&c->w->stats.origin_retries, 1, memory_order_relaxed);
        log_debug("origin closed a reused connection (%s): retrying", what);
        buf_free(&c->uout);
        c->u_eof = c->u_err = 0;
        c->uin_len = c->uin_pos = 0;
        return open_exchange(c);
    }
    atomic_fetch_add_explicit(&c->w->stats.origin_errors, 1, memory_order_relaxed);
    log_error("origin %s: %s (client %s)", cf(c)->origin.text, what, c->ip);
    if (!c->resp_head_sent && c->owner && stale_usable(c)) {
        c->uin_pos = c->uin_len = 0;
        serve_stale(c);
        return CONN_DELIVER;
    }
    if (c->resp_head_sent) {
        c->close_after = 1;
        c->resp_done = 1;
        return CONN_DONE; /* truncated: closing tells the client */
    }
    return fail(c, status,
                status == 504 ? "the origin did not answer in time"
                              : "the origin failed to answer");
}

/* Feeds origin bytes to the response parser, as many as <out> has room for. */
static void tee_done(struct conn *c)
{
    int stored = obj_avail(c->obj) <= cache_conf_of(c->w->cache)->max_object_size;

    obj_finish(c->obj, OBJ_COMPLETE);
    if (stored)
        cache_complete(c->w->cache, c->obj);
    drop_obj(c);
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
            c->uin_pos > cf(c)->max_origin_header_size)
            return origin_failed(c, 502, "response head too large");
        if (ev == HTTP_EV_ERROR) {
            log_warn("origin %s: malformed response: %s", cf(c)->origin.text,
                     c->resp.err_reason ? c->resp.err_reason : "?");
            return origin_failed(c, 502, "malformed response");
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
            if (c->chunk_out)
                buf_append_str(&c->out, "0\r\n\r\n");
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
            if (c->chunk_out)
                buf_append_str(&c->out, "0\r\n\r\n");
            c->resp_done = 1;
            c->upstream_reusable = 0;
            if (c->tee)
                tee_done(c);
            *progress = 1;
        } else if (c->u_err) {
            return origin_failed(c, 502, strerror(c->u_err));
        } else {
            return origin_failed(c, 502,
                                 c->resp_started ? "connection closed in the middle of the response"
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
            return fail(c, (unsigned)c->req.err_status, c->req.err_reason);
        }
        if (ev == HTTP_EV_DONE) {
            c->req_done = 1;
            c->req_ka = (c->req.head.flags & HTTP_F_KEEPALIVE) != 0;
            if (c->req.head.flags & HTTP_F_CHUNKED)
                buf_append_str(&c->uout, "0\r\n\r\n");
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
    struct upstream *u = c->up;

    if (c->up_wdead) {
        buf_free(&c->uout);
        return 0;
    }
    while (u->connected && buf_pending(&c->uout) > 0) {
        ssize_t n = send(u->fd, c->uout.p + c->uout.off, buf_pending(&c->uout), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->uout, (size_t)n);
            *progress = 1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        return n < 0 ? -errno : -EPIPE;
    }
    return 0;
}

static enum conn_state conn_exchange(struct conn *c)
{
    const struct conf *conf = cf(c);
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
                return origin_failed(c, 502, strerror(-rc));
        }
        if (c->up != NULL || c->uin_pos < c->uin_len) {
            next = pump_response(c, &progress);
            if (next != CONN_EXCHANGE)
                return next;
        }
        if (flush_client(c, &progress) < 0) {
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
        return fail(c, 502, "the origin connection was lost");

    /* Wait: read the client while the request goes on and the origin side has room, read the
     * origin while the client side has room. */
    /* Reading the client goes on after its request (up to a full buffer of pipelined bytes):
     * it notices a client that leaves, and saves turning the watcher off and on. */
    want_client(c,
                (c->req_done || buf_pending(&c->uout) < BUF_HIGH) && c->in_len < c->in_cap &&
                    !c->client_eof,
                buf_pending(&c->out) > 0);
    origin_want(c->up,
                c->up->connected && buf_pending(&c->out) < BUF_HIGH && c->uin_len < c->uin_cap,
                !c->up->connected || buf_pending(&c->uout) > 0);
    if (buf_pending(&c->out) > 0)
        set_timer(c, TM_SEND, conf->send_timeout, 1);
    else if (!c->req_done && buf_pending(&c->uout) < BUF_HIGH)
        set_timer(c, TM_BODY, conf->client_body_timeout, 1);
    else
        set_timer(c, TM_ORIGIN,
                  c->up->connected ? conf->origin_timeout : conf->origin_connect_timeout, 1);
    return CONN_WAIT;
}

static enum conn_state conn_error(struct conn *c)
{
    unsigned st = c->err_status ? c->err_status : 500;

    if (st / 100 == 4)
        atomic_fetch_add_explicit(&c->w->stats.bad_requests, 1, memory_order_relaxed);
    origin_close(&c->up);
    /* Unless the whole request was read, the rest of the input cannot be trusted. */
    if (!c->req_done || st == 400 || st == 408 || st == 413 || st == 414 || st == 431)
        c->close_after = 1;
    if (c->err_msg != NULL && st / 100 == 4)
        log_info("client %s: %u %s", c->ip, st, c->err_msg);
    c->status = st;
    c->out.off = c->out.len = 0; /* drop a queued 100 Continue */
    http_write_error(&c->out, st, c->err_msg ? c->err_msg : http_reason(st), worker_date(c->w),
                     c->close_after, c->head_req);
    c->resp_done = 1;
    return CONN_FLUSH;
}

static enum conn_state conn_flush(struct conn *c)
{
    int progress = 0;

    if (flush_client(c, &progress) < 0) {
        conn_close(c);
        return CONN_WAIT;
    }
    if (buf_pending(&c->out) > 0) {
        want_client(c, 0, 1);
        set_timer(c, TM_SEND, cf(c)->send_timeout, 1);
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
    double rt = ev_now(c->w->loop) - c->t_start;
    char ups[16] = "-", cst[16] = "-";
    int n;

    if (c->logreq.len > 0) {
        rl = c->logreq.p;
        ref = rl + strlen(rl) + 1;
        ua = ref + strlen(ref) + 1;
    }
    gmtime_r(&now, &tm);
    strftime(tbuf, sizeof(tbuf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (c->up_status)
        snprintf(ups, sizeof(ups), "%u", c->up_status);
    if (c->xcache != NULL && strncmp(c->xcache, "X-Cache: ", 9) == 0) {
        /* the cache's verdict, as the X-Cache field said it: HIT, MISS, PASS... */
        size_t k = 0;

        while (k + 1 < sizeof(cst) && c->xcache[9 + k] != '\r' && c->xcache[9 + k] != '\0') {
            cst[k] = c->xcache[9 + k];
            k++;
        }
        cst[k] = '\0';
    }
    n = snprintf(line, sizeof(line), "%s - - [%s] \"%s\" %u %llu \"%s\" \"%s\" %.3f %s %s\n", c->ip,
                 tbuf, rl, c->status, (unsigned long long)c->resp_body_out, ref, ua,
                 rt < 0 ? 0.0 : rt, ups, cst);
    if (n > 0)
        log_access_line(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void count_status(struct conn *c)
{
    struct worker_stats *s = &c->w->stats;

    switch (c->status / 100) {
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
    if (c->head_started && c->status != 0) {
        count_status(c);
        if (log_access_enabled())
            access_log(c);
    }
    /* A client that half-closed after pipelining requests still gets every answer. */
    if (c->close_after || c->draining || (c->client_eof && c->in_pos >= c->in_len) ||
        (c->head_started && !c->req_ka) || (c->head_started && !c->req_done) ||
        cf(c)->keepalive_timeout == 0) {
        conn_close(c);
        return CONN_WAIT;
    }
    reset_request(c);
    return CONN_HEAD;
}

static void conn_run(struct conn *c)
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

/* ---------------------------------------------------------------------------------------- */
/* I/O callbacks */

static void on_client_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    ssize_t n;

    (void)loop;
    (void)revents;
    CHECK_OBJ(c, CONN_MAGIC);
    if (c->in_len == c->in_cap) {
        ev_io_stop(c->w->loop, &c->rio);
        return;
    }
    n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n > 0) {
        c->in_len += (size_t)n;
        atomic_fetch_add_explicit(&c->w->stats.bytes_in, (uint64_t)n, memory_order_relaxed);
    } else if (n == 0) {
        c->client_eof = 1;
        ev_io_stop(c->w->loop, &c->rio);
        if (c->state == CONN_EXCHANGE && !c->req_done) {
            /* The client left in the middle of its request body. */
            conn_close(c);
            return;
        }
        if (c->state == CONN_HEAD && !c->head_started) {
            conn_close(c);
            return;
        }
    } else if (errno != EAGAIN && errno != EINTR) {
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
    conn_run(c);
}

static void on_origin_event(struct upstream *u, int revents)
{
    struct conn *c = u->user;
    ssize_t n;

    CHECK_OBJ(c, CONN_MAGIC);
    if ((revents & EV_WRITE) && !u->connected) {
        int rc = origin_check_connect(u);
        if (rc < 0) {
            enum conn_state next;

            log_debug("origin connect failed: %s", strerror(-rc));
            next = origin_failed(c, 502, strerror(-rc));
            c->state = next;
            conn_run(c);
            return;
        }
    }
    if (revents & EV_READ) {
        if (c->uin_len == c->uin_cap && !c->resp_head_sent) {
            /* A response head larger than the buffer: grow it up to the limit, then parse the
             * head again from its start, its spans pointed into the old buffer. */
            if (c->uin_cap >= cf(c)->max_origin_header_size) {
                c->state = origin_failed(c, 502, "response head too large");
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
            n = read(u->fd, c->uin + c->uin_len, c->uin_cap - c->uin_len);
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
            } else if (errno != EAGAIN && errno != EINTR) {
                c->u_err = errno;
                origin_want(u, 0, 0);
            }
            break;
        }
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
    case TM_HEADER:
    case TM_BODY:
        if (c->resp_head_sent) {
            conn_close(c);
            return;
        }
        log_info("client %s: timed out sending its request", c->ip);
        origin_close(&c->up);
        c->state = fail(c, 408, "request timeout");
        break;
    case TM_COALESCE:
        /* Waited too long for a busy object's head: go to the origin alone (counted). */
        atomic_fetch_add_explicit(&c->w->stats.coalesce_overflows, 1, memory_order_relaxed);
        drop_obj(c);
        c->xcache = "X-Cache: PASS\r\nCache-Status: accel; fwd=miss; detail=coalesce-timeout\r\n";
        set_timer(c, TM_NONE, 0, 0);
        c->state = open_exchange(c);
        conn_run(c);
        return;
    case TM_ORIGIN:
        if (c->resp_head_sent || c->dhead_done) {
            log_error("origin %s: timed out in the middle of a response", cf(c)->origin.text);
            conn_close(c);
            return;
        }
        c->retried = 1; /* a timeout is not retried */
        c->state = origin_failed(c, 504, "timed out");
        break;
    }
    set_timer(c, TM_NONE, 0, 0);
    conn_run(c);
}

static struct conn *conn_alloc(struct worker *w, int fd)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    const struct conf *conf = w->conf;

    c->magic = CONN_MAGIC;
    c->w = w;
    c->fd = fd;
    c->dl_end = UINT64_MAX;
    c->in_cap = conf->max_header_size < IN_INITIAL ? conf->max_header_size : IN_INITIAL;
    c->in = xmalloc(c->in_cap);
    c->req.on_body = on_req_body;
    c->req.ctx = c;
    c->resp.on_body = on_resp_body;
    c->resp.ctx = c;
    http_parser_init(&c->req, 1, conf->max_headers, conf->max_uri_length);
    ev_io_init(&c->rio, on_client_readable, fd, EV_READ);
    ev_io_init(&c->wio, on_client_writable, fd, EV_WRITE);
    ev_init(&c->timer, on_timeout);
    c->rio.data = c->wio.data = c->timer.data = c;
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    c->state = CONN_HEAD;
    return c;
}

/* stale-while-revalidate: refreshes <stale> in the background with a connection of our own,
 * whose request we write and whose answer goes to /dev/null; its lookup (no_swr) revalidates
 * the stale copy like any miss would, and the refreshed object replaces it. */
static void spawn_refresh(struct worker *w, const struct obj *stale)
{
    const char *end = stale->key + stale->key_len;
    const char *sep = memmem(stale->key, stale->key_len, "://", 3), *host, *path, *p;
    struct buf req = {0};
    struct conn *c;
    int fd;

    if (sep == NULL)
        return;
    host = sep + 3;
    path = memchr(host, '/', (size_t)(end - host));
    if (path == NULL)
        return;
    buf_printf(&req, "GET %.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: accel-refresh\r\n",
               (int)(end - path), path, (int)(path - host), host);
    for (p = stale->vary; p != NULL && p < stale->vary + stale->vary_len;) {
        const char *val = p + strlen(p) + 1;

        if (*val != '\0')
            buf_printf(&req, "%s: %s\r\n", p, val);
        p = val + strlen(val) + 1;
    }
    buf_append_str(&req, "\r\n");
    fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || req.len > w->conf->max_header_size) {
        if (fd >= 0)
            close(fd);
        buf_free(&req);
        return;
    }
    c = conn_alloc(w, fd);
    snprintf(c->ip, sizeof(c->ip), "-");
    c->background = 1;
    if (req.len > c->in_cap) {
        c->in_cap = req.len;
        c->in = xrealloc(c->in, c->in_cap);
    }
    memcpy(c->in, req.p, req.len);
    c->in_len = req.len;
    buf_free(&req);
    w->n_conns++;
    log_debug("stale-while-revalidate: refreshing %.*s", (int)stale->key_len, stale->key);
    conn_run(c);
}

void conn_new(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen)
{
    struct conn *c = conn_alloc(w, fd);
    int one = 1;

    (void)salen;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->ip, sizeof(c->ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->ip, sizeof(c->ip));
    else
        snprintf(c->ip, sizeof(c->ip), "unix");
    conn_run(c);
}
