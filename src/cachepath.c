/* cachepath.c - a client connection's use of the cache (part of the conn module, see
 * conn_int.h): the lookup (hit, subscribe to a busy object, own a store for a miss, pass), the
 * owner's side of the store's decision (read the object, serve the stale copy, or take the fetch
 * over as a pass or a tee), delivery from an object with head rewrite, 304, ranges and
 * zero-copy writev of its chunks, the inflated twin, waiting for busy objects on the worker's
 * waiting list, stale content (stale-if-error, grace, stale-while-revalidate through
 * store_refresh). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

static void parse_request_cc(struct conn *c);
static void wait_for(struct conn *c);
static void answer_head(struct conn *c);
static enum conn_state own(struct conn *c);

void conn_unwait(struct conn *c)
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

void conn_drop_obj(struct conn *c)
{
    conn_unwait(c);
    store_detach(&c->tx.st); /* a store this request owned goes on for the subscribers */
    obj_unref(&c->tx.stale);
    if (c->tx.obj != NULL && c->tx.tee && obj_state(c->tx.obj) == OBJ_BUSY) {
        /* The tee this request drove did not finish: release the subscribers. */
        cache_remove(c->w->cache, c->tx.obj);
        obj_finish(c->tx.obj, OBJ_FAILED);
    }
    obj_unref(&c->tx.obj);
    store_filter_fini(&c->tx.sf);
    deliver_fini(&c->tx.dl, &c->unzip_spare); /* the inflater is kept for the next request */
    c->tx.tee = 0;
    c->tx.dhead_done = 0;
}

void conn_wake_waiting(struct worker *w)
{
    for (struct conn *c = w->waiting, *next; c != NULL; c = next) {
        next = c->wnext;
        conn_run(c);
    }
}

/* The request's Cache-Control (Pragma: no-cache when there is none, RFC 9111 §5.4). */
static void parse_request_cc(struct conn *c)
{
    const struct http_head *h = &c->req.head;
    int seen = 0;

    policy_cc_init(&c->tx.rcc);
    for (unsigned i = 0; i < h->n_hdrs; i++) {
        if (span_eq_ci(h->hdrs[i].name, "cache-control")) {
            policy_cc_parse(h->hdrs[i].value, &c->tx.rcc);
            seen = 1;
        }
    }
    if (!seen) {
        const struct field *pragma = http_find(h, "pragma");
        if (pragma != NULL && span_eq_ci(span_trim(pragma->value), "no-cache"))
            c->tx.rcc.flags |= CC_NO_CACHE;
    }
}

/* The PURGE method on the main listener, from the addresses purge_allow lists: every variant
 * and encoding of the request's URL leaves both tiers ("Accel-Soft-Purge: 1": marked stale
 * instead). */
enum conn_state conn_purge(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    struct span host = c->tx.fwd.client_host;
    const struct field *soft = http_find(&c->req.head, "accel-soft-purge");
    int is_soft = soft != NULL && span_eq_ci(span_trim(soft->value), "1");
    struct key k;
    uint64_t n;

    if (!conf_cidr_match(conf->purge_allow, conf->n_purge_allow,
                         (const struct sockaddr *)&c->peer)) {
        log_warn("client %s: PURGE refused: not in purge_allow", c->ip);
        return conn_fail(c, 403, "PURGE is not allowed from this address (see purge_allow)");
    }
    if (c->w->cache == NULL || conf->cache_memory == 0)
        return conn_fail(c, 405, "PURGE: there is no cache here (cache_memory 0)");
    if (host.len == 0)
        host = c->tx.dhost;
    /* the URL over both schemes: what came in over TLS and what came in plain */
    n = 0;
    for (int i = 0; i < 2; i++) {
        c->keybuf.off = c->keybuf.len = 0;
        if (route_key_build(route_match(conf, HTTP_GET, host, http_request_path(&c->req.head)),
                            &c->keybuf, i == 0 ? "http" : "https", host,
                            http_request_path(&c->req.head), &k) < 0)
            return conn_fail(c, 400, "PURGE: no host to purge for");
        n += cache_purge(c->w->cache, CACHE_PURGE_KEY, k.p, k.len, is_soft,
                         (int64_t)ev_now(c->w->loop));
    }
    log_info("client %s: PURGE %.*s%s (and its http twin): %llu in memory", c->ip,
             (int)(k.len > 200 ? 200 : k.len), k.p, is_soft ? " (soft)" : "",
             (unsigned long long)n);
    snprintf(c->tx.xbuf, sizeof(c->tx.xbuf), "%s %llu object(s) in memory; the disk tier too",
             is_soft ? "marked stale" : "purged", (unsigned long long)n);
    return conn_fail(c, 200, c->tx.xbuf);
}

enum conn_state conn_cache_start(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    struct cache_req r;
    struct span host = c->tx.fwd.client_host;
    ev_tstamp now = ev_now(c->w->loop);

    if (c->w->cache == NULL || conf->cache_memory == 0 ||
        (c->tx.route != NULL && !c->tx.route->cache)) {
        c->tx.cs = (struct req_cache_status){.verdict = REQ_PASS, .fwd = REQ_FWD_BYPASS};
        return conn_start_pass(c);
    }
    if (host.len == 0)
        host = c->tx.dhost;
    if (!c->tx.req_done) {
        /* A GET or HEAD without a body ends with its head: take that end now, so that
         * keep-alive is known whether the answer comes from the cache or the origin. */
        size_t used;

        if (http_parse(&c->req, c->in + c->in_pos, 0, &used) == HTTP_EV_DONE) {
            c->tx.req_done = 1;
            c->tx.req_ka = (c->req.head.flags & HTTP_F_KEEPALIVE) != 0;
        }
    }
    parse_request_cc(c);
    c->keybuf.off = c->keybuf.len = 0;
    if (route_key_build(c->tx.route, &c->keybuf, conn_scheme(c), host,
                        http_request_path(&c->req.head), &r.key) < 0) {
        c->tx.cs = (struct req_cache_status){.verdict = REQ_PASS, .fwd = REQ_FWD_BYPASS};
        return conn_start_pass(c);
    }
    r.fields = c->req.head.hdrs;
    r.n_fields = c->req.head.n_hdrs;
    r.cc = c->tx.rcc;
    r.now = (int64_t)now;
    r.now_ms = (uint64_t)(now * 1000.0);
    r.no_make = c->tx.head_req; /* a HEAD miss goes to the origin as HEAD, nothing is stored */
    r.no_swr = 0;
    r.ignore_no_cache = c->tx.route == NULL ? 0 : c->tx.route->ignore_client_no_cache ? 1 : -1;
    c->tx.t_req = r.now;
    obj_unref(&c->tx.stale);
    c->tx.cres = cache_lookup(c->w->cache, &r, &c->tx.obj, &c->tx.stale);
    switch (c->tx.cres) {
    case CACHE_HIT:
        atomic_fetch_add_explicit(&c->w->stats.cache_hits, 1, memory_order_relaxed);
        deliver_init(&c->tx.dl, c->tx.obj);
        return CONN_DELIVER;
    case CACHE_HIT_STALE:
        atomic_fetch_add_explicit(&c->w->stats.cache_stale, 1, memory_order_relaxed);
        if (obj_start_refresh(c->tx.obj))
            store_refresh(c->w, c->tx.obj);
        deliver_init(&c->tx.dl, c->tx.obj);
        return CONN_DELIVER;
    case CACHE_BUSY:
        if (obj_subscribe(c->tx.obj) >= conf->coalesce_max) {
            /* Too many waiting on this one already: go alone (counted). */
            atomic_fetch_add_explicit(&c->w->stats.coalesce_overflows, 1, memory_order_relaxed);
            conn_drop_obj(c);
            c->tx.cs = (struct req_cache_status){
                .verdict = REQ_PASS, .fwd = REQ_FWD_MISS, .detail = "coalesce-max"};
            return conn_start_pass(c);
        }
        atomic_fetch_add_explicit(&c->w->stats.cache_coalesced, 1, memory_order_relaxed);
        deliver_init(&c->tx.dl, c->tx.obj);
        return CONN_DELIVER;
    case CACHE_MISS:
        atomic_fetch_add_explicit(&c->w->stats.cache_misses, 1, memory_order_relaxed);
        return own(c);
    case CACHE_PASS:
        atomic_fetch_add_explicit(&c->w->stats.cache_passes, 1, memory_order_relaxed);
        c->tx.cs = (struct req_cache_status){
            .verdict = REQ_PASS, .fwd = REQ_FWD_URI_MISS, .detail = "hit-for-miss"};
        return conn_start_pass(c);
    case CACHE_NONE:
    case CACHE_REVALIDATED:
    case CACHE_STALE:
        break;
    }
    if (c->tx.rcc.flags & CC_ONLY_IF_CACHED)
        return conn_fail(c, 504, "not in the cache (only-if-cached)");
    atomic_fetch_add_explicit(&c->w->stats.cache_misses, 1, memory_order_relaxed);
    c->tx.cs = (struct req_cache_status){.verdict = REQ_MISS, .fwd = REQ_FWD_MISS};
    return conn_start_pass(c);
}

static void wait_for(struct conn *c)
{
    struct worker *w = c->w;

    if (c->waiting)
        return;
    obj_wait(c->tx.obj, w->id);
    c->waiting = 1;
    c->wprev = NULL;
    c->wnext = w->waiting;
    if (w->waiting != NULL)
        w->waiting->wprev = c;
    w->waiting = c;
}

#define TWIN_MAX                                                                                   \
    ((uint64_t)1 << 20) /* gzip objects inflating to this much get an inflated twin                \
                         */

/* The inflated twin of complete gzip object <o> (a new reference), made now if it has none:
 * the same answer without Content-Encoding (a weak ETag), its body inflated once, accounted to
 * <o> in the memory tier. NULL when <o> inflates to more than TWIN_MAX (those are inflated on the
 * way out, for each client) or does not inflate to its identity length (corrupt). */
static struct obj *identity_twin(struct conn *c, struct obj *o)
{
    struct obj *t = obj_get_twin(o);
    const char *eol;
    const struct field *fields;
    struct gz_dec *d;
    struct deliver dl = {0};
    struct buf hb = {0};
    struct span head = obj_head(o);
    uint64_t avail = obj_avail(o), identity_len = obj_identity_len(o);
    unsigned nf;
    int rc = 0;

    if (t != NULL)
        return t;
    if (identity_len == OBJ_LEN_UNKNOWN || identity_len > TWIN_MAX)
        return NULL;
    d = c->unzip_spare != NULL ? c->unzip_spare : gz_dec_new();
    c->unzip_spare = NULL;
    if (d == NULL)
        return NULL;
    t = obj_new_inflated(o);
    eol = memchr(head.p, '\n', head.len);
    buf_append(&hb, head.p, eol != NULL ? (size_t)(eol + 1 - head.p) : head.len);
    fields = obj_fields(o, &nf);
    for (unsigned i = 0; i < nf; i++)
        http_write_transformed_field(&hb, fields[i].name, fields[i].value);
    obj_set_head(t, hb.p, hb.len);
    buf_free(&hb);
    if (c->zout == NULL)
        c->zout = xmalloc(DELIVER_ZOUT);
    deliver_init(&dl, o);
    while (rc == 0) {
        struct iovec iov[1];
        const void *in;
        size_t inlen, got = 0;

        if (deliver_iov(&dl, avail, iov, 1) == 0) {
            iov[0].iov_base = (void *)"";
            iov[0].iov_len = 0;
        }
        in = iov[0].iov_base;
        inlen = iov[0].iov_len;
        rc = gz_dec_run(d, &in, &inlen, c->zout, DELIVER_ZOUT, &got);
        if (got > identity_len - obj_avail(t)) {
            rc = -EBADMSG; /* more than it should inflate to */
            break;
        }
        obj_append(t, c->zout, got);
        deliver_advance(&dl, iov[0].iov_len - inlen);
        if (rc == 0 && got == 0 && iov[0].iov_len == inlen)
            rc = -EBADMSG; /* the gzip ends before the stream does */
    }
    gz_dec_reset(d);
    c->unzip_spare = d;
    if (rc != 1 || obj_avail(t) != identity_len) {
        obj_finish(t, OBJ_FAILED);
        obj_unref(&t);
        return NULL;
    }
    obj_finish(t, OBJ_COMPLETE);
    cache_grow(c->w->cache, o, obj_size(t));
    return obj_set_twin(o, t);
}

/* The verdict of this answer from c->tx.obj, then its head through the HTTP/1 ostream. */
static void answer_head(struct conn *c)
{
    const struct obj *o = c->tx.obj;
    struct ostream os = {&conn_h1_ostream, c};
    int64_t now = (int64_t)ev_now(c->w->loop);
    struct deliver_req r = {.fields = c->req.head.hdrs,
                            .n_fields = c->req.head.n_hdrs,
                            .head_req = c->tx.head_req,
                            .now = now,
                            .extra = c->tx.xbuf,
                            .extra_cap = sizeof(c->tx.xbuf),
                            .spare = &c->unzip_spare,
                            .zout = &c->zout};

    c->tx.close_after = c->tx.close_after || !c->tx.req_ka || c->draining;
    switch (c->tx.cres) {
    case CACHE_HIT:
        c->tx.cs = (struct req_cache_status){.verdict = REQ_HIT};
        break;
    case CACHE_BUSY:
        c->tx.cs = (struct req_cache_status){.verdict = REQ_HIT, .detail = "collapsed"};
        break;
    case CACHE_REVALIDATED:
        c->tx.cs = (struct req_cache_status){
            .verdict = REQ_REVALIDATED, .fwd = REQ_FWD_STALE, .fwd_status = 304};
        break;
    case CACHE_HIT_STALE:
        c->tx.cs =
            (struct req_cache_status){.verdict = REQ_STALE, .detail = "stale-while-revalidate"};
        break;
    case CACHE_STALE:
        c->tx.cs = (struct req_cache_status){.verdict = REQ_STALE, .detail = "stale-if-error"};
        break;
    default:
        c->tx.cs = (struct req_cache_status){
            .verdict = REQ_MISS,
            .fwd = (c->tx.rcc.flags & CC_NO_CACHE) ? REQ_FWD_REQUEST : REQ_FWD_MISS,
            .stored = 1};
        break;
    }
    c->tx.cs.has_ttl = 1;
    c->tx.cs.ttl = obj_ttl(o) - obj_age(o, now);
    req_write_cache_status(&c->tx.cs, c->tx.xbuf, sizeof(c->tx.xbuf));
    c->tx.status = deliver_answer(&c->tx.dl, &r, &os);
    c->tx.dhead_done = 1;
}

enum conn_state conn_deliver(struct conn *c)
{
    struct obj *o = c->tx.obj;
    const struct conf *conf = conn_conf(c);
    struct ostream os = {&conn_h1_ostream, c};

    /* obj_state() checks <o>'s magic */
    if (obj_state(o) == OBJ_BUSY)
        wait_for(c); /* before looking, so that no publication can slip between */
    if (!c->tx.dhead_done) {
        if (!obj_has_head(o)) {
            if (obj_state(o) == OBJ_FAILED) {
                int private = (obj_flags(o) & OBJ_F_PRIVATE) != 0;

                if (!private && conn_stale_usable(c)) {
                    conn_serve_stale(c);
                    return CONN_DELIVER;
                }
                conn_drop_obj(c);
                if (!private)
                    return conn_fail(c, 502, "the origin failed to answer");
                c->tx.cs = (struct req_cache_status){
                    .verdict = REQ_PASS, .fwd = REQ_FWD_URI_MISS, .detail = "hit-for-miss"};
                return conn_start_pass(c);
            }
            if (c->tx.st != NULL) /* the owner: the store tells it, the fetch times the origin */
                conn_set_timer(c, TM_NONE, 0, 0);
            else
                conn_set_timer(c, TM_COALESCE, conf->coalesce_timeout, 0);
            return CONN_WAIT;
        }
        if (c->tx.cres == CACHE_BUSY &&
            !cache_vary_match(o, c->req.head.hdrs, c->req.head.n_hdrs)) {
            /* Another variant: look again, now that this object's Vary values are known (it
             * is skipped this time), to find or fetch our own. */
            conn_drop_obj(c);
            return conn_cache_start(c);
        }
        if ((obj_flags(o) & OBJ_F_GZIP) && obj_state(o) == OBJ_COMPLETE &&
            !gz_accepts(c->req.head.hdrs, c->req.head.n_hdrs)) {
            /* a client without gzip: the inflated twin, made once, then served like any hit */
            struct obj *t = identity_twin(c, o);

            if (t != NULL) {
                obj_unref(&c->tx.obj);
                c->tx.obj = o = t;
                deliver_init(&c->tx.dl, t);
            }
        }
        answer_head(c);
        if (c->tx.dl.nobody) {
            conn_drop_obj(c);
            c->tx.resp_done = 1;
            return CONN_FLUSH;
        }
    }
    switch (deliver_body(&c->tx.dl, &os)) {
    case DELIVER_END:
        c->tx.resp_body_out = c->tx.dl.pos;
        conn_drop_obj(c);
        c->tx.resp_done = 1;
        return CONN_FLUSH;
    case DELIVER_STARVED:
        c->tx.resp_body_out = c->tx.dl.pos;
        conn_want_client(c, c->in_len < c->in_cap && !c->client_eof, 0);
        conn_set_timer(c, TM_ORIGIN, conf->origin_timeout, 1);
        return CONN_WAIT;
    case DELIVER_BLOCKED:
        c->tx.resp_body_out = c->tx.dl.pos;
        conn_want_client(c, c->in_len < c->in_cap && !c->client_eof, 1);
        conn_set_timer(c, TM_SEND, conf->send_timeout, 1);
        return CONN_WAIT;
    case DELIVER_BROKEN:
        break;
    }
    conn_close(c); /* cut short: closing tells the client */
    return CONN_WAIT;
}

/* May c->tx.stale stand in for an origin that fails (stale-if-error, or the configured grace)? */
int conn_stale_usable(const struct conn *c)
{
    return store_stale_usable(c->tx.stale, (int64_t)ev_now(c->w->loop), conn_conf(c)->grace);
}

/* Answers from the stale copy instead of the busy object (which failed). */
void conn_serve_stale(struct conn *c)
{
    conn_unwait(c);
    store_detach(&c->tx.st);
    obj_unref(&c->tx.obj);
    c->tx.obj = c->tx.stale;
    c->tx.stale = NULL;
    c->tx.cres = CACHE_STALE;
    deliver_init(&c->tx.dl, c->tx.obj);
    atomic_fetch_add_explicit(&c->w->stats.cache_stale, 1, memory_order_relaxed);
}

/* --- the owner of a store ------------------------------------------------------------------ */

static void owner_decided(void *owner, enum store_outcome out, struct fetch *f, const char *reason,
                          struct store_filter *sf)
{
    struct conn *c = owner;

    CHECK_OBJ(c, CONN_MAGIC);
    AZ(c->running);
    c->tx.st = NULL;
    switch (out) {
    case STORE_STORED:
        break;
    case STORE_REVALIDATED:
        c->tx.cres = CACHE_REVALIDATED;
        break;
    case STORE_STALE:
        conn_serve_stale(c);
        break;
    case STORE_PASS:
        /* not stored: the key is marked hit-for-miss, the subscribers go to the origin alone,
         * and this request streams the answer through */
        conn_drop_obj(c);
        c->tx.cs = (struct req_cache_status){
            .verdict = REQ_PASS, .fwd = REQ_FWD_URI_MISS, .detail = reason, .quoted = 1};
        c->tx.f = f;
        fetch_set_sink(f, &conn_pass_sink, c);
        c->state = CONN_EXCHANGE;
        return;
    case STORE_TEE:
        conn_unwait(c);
        c->tx.tee = 1;
        c->tx.sf = *sf;
        *sf = (struct store_filter){0};
        c->tx.cs = (struct req_cache_status){.verdict = REQ_MISS, .fwd = REQ_FWD_MISS, .stored = 1};
        c->tx.f = f;
        fetch_set_sink(f, &conn_pass_sink, c);
        c->state = CONN_EXCHANGE;
        return;
    }
    c->state = CONN_DELIVER;
    conn_run(c);
}

static void owner_failed(void *owner, unsigned status, const char *why)
{
    struct conn *c = owner;

    (void)why;
    CHECK_OBJ(c, CONN_MAGIC);
    AZ(c->running);
    c->tx.st = NULL;
    if (conn_stale_usable(c)) {
        conn_serve_stale(c);
        c->state = CONN_DELIVER;
    } else {
        conn_drop_obj(c);
        c->state = conn_fail(c, status,
                             status == 504 ? "the origin did not answer in time"
                                           : "the origin failed to answer");
    }
    conn_run(c);
}

static void owner_interim(void *owner, const struct http_head *h)
{
    struct conn *c = owner;

    if (!c->tx.v10)
        conn_write_interim(c, h);
}

static const struct store_owner_ops owner_ops = {
    .interim = owner_interim,
    .decided = owner_decided,
    .failed = owner_failed,
};

/* A miss: this request fills the busy object c->tx.obj through a store, and reads it like any
 * subscriber once the head is there (or takes the fetch over when the store says so). */
static enum conn_state own(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    struct http_fwd fwd = c->tx.fwd;
    struct store_req r = {.obj = c->tx.obj,
                          .stale = c->tx.stale,
                          .head = &c->req.head,
                          .fwd = &fwd,
                          .up = c->tx.ug,
                          .hash = c->tx.hash,
                          .default_ttl =
                              c->tx.route != NULL ? (int64_t)(c->tx.route->default_ttl / 1000) : -1,
                          .rcc = c->tx.rcc,
                          .t_req = c->tx.t_req,
                          .client = c->ip};

    fwd.whole = 1;
    fwd.gzip = conf->gzip;
    fwd.extra = NULL;
    c->tx.st = store_start(c->w, conf, &r, &owner_ops, c);
    if (c->tx.st == NULL) {
        conn_drop_obj(c);
        return conn_fail(c, 502, "cannot connect to the origin");
    }
    deliver_init(&c->tx.dl, c->tx.obj);
    return CONN_DELIVER;
}
