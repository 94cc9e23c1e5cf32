/* cachepath.c - a client connection's use of the cache (part of the conn module, see
 * conn_int.h): the lookup (hit, subscribe to a busy object, own the fetch, pass), delivery from
 * an object with head rewrite, 304, ranges and zero-copy writev of its chunks, waiting for busy
 * objects on the worker's waiting list, the owner's decision when the response head arrives
 * (store and hand the fetch over, or mark hit-for-miss), revalidation with 304, stale content
 * (stale-if-error, grace, stale-while-revalidate with a background refresh). */
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
static void deliver_start(struct conn *c, enum obj_state st, uint64_t avail);
static int deliver_write(struct conn *c, uint64_t avail, int *progress);
static void finish_bodiless(struct conn *c);
static int resp_has(const struct http_head *h, struct span name);
static void revalidated(struct conn *c);

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
    obj_unref(&c->stale);
    if (c->obj != NULL &&
        ((c->owner && !obj_has_head(c->obj)) || (c->tee && obj_state(c->obj) == OBJ_BUSY))) {
        /* The fetch this request drove did not finish: release the subscribers. */
        cache_remove(c->w->cache, c->obj);
        obj_finish(c->obj, OBJ_FAILED);
    }
    obj_unref(&c->obj);
    store_filter_fini(&c->sf);
    if (c->unzip != NULL) {
        /* kept for the next request on this connection: zlib's state costs ~40 KiB to set up */
        gz_dec_reset(c->unzip);
        gz_dec_free(&c->unzip_spare);
        c->unzip_spare = c->unzip;
        c->unzip = NULL;
    }
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

/* The PURGE method on the main listener, from the addresses purge_allow lists: every variant
 * and encoding of the request's URL leaves both tiers ("Accel-Soft-Purge: 1": marked stale
 * instead). */
enum conn_state conn_purge(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    struct span host = c->fwd.client_host;
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
        host = span_of(c->srv->host, strlen(c->srv->host));
    c->keybuf.off = c->keybuf.len = 0;
    if (key_build(&c->keybuf, "http", host, http_request_path(&c->req.head), &k) < 0)
        return conn_fail(c, 400, "PURGE: no host to purge for");
    n = cache_purge(c->w->cache, CACHE_PURGE_KEY, k.p, k.len, is_soft, (int64_t)ev_now(c->w->loop));
    log_info("client %s: PURGE %.*s%s: %llu in memory", c->ip, (int)(k.len > 200 ? 200 : k.len),
             k.p, is_soft ? " (soft)" : "", (unsigned long long)n);
    snprintf(c->xbuf, sizeof(c->xbuf), "%s %llu object(s) in memory; the disk tier too",
             is_soft ? "marked stale" : "purged", (unsigned long long)n);
    return conn_fail(c, 200, c->xbuf);
}

enum conn_state conn_cache_start(struct conn *c)
{
    const struct conf *conf = conn_conf(c);
    struct cache_req r;
    struct span host = c->fwd.client_host;
    ev_tstamp now = ev_now(c->w->loop);

    if (c->w->cache == NULL || conf->cache_memory == 0) {
        c->cs = (struct req_cache_status){.verdict = REQ_PASS, .fwd = REQ_FWD_BYPASS};
        return conn_open_exchange(c);
    }
    if (host.len == 0)
        host = span_of(c->srv->host, strlen(c->srv->host));
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
        c->cs = (struct req_cache_status){.verdict = REQ_PASS, .fwd = REQ_FWD_BYPASS};
        return conn_open_exchange(c);
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
        if (obj_start_refresh(c->obj))
            conn_spawn_refresh(c->w, c->obj);
        deliver_init(&c->dl, c->obj);
        return CONN_DELIVER;
    case CACHE_BUSY:
        if (obj_subscribe(c->obj) >= conf->coalesce_max) {
            /* Too many waiting on this one already: go alone (counted). */
            atomic_fetch_add_explicit(&c->w->stats.coalesce_overflows, 1, memory_order_relaxed);
            conn_drop_obj(c);
            c->cs = (struct req_cache_status){
                .verdict = REQ_PASS, .fwd = REQ_FWD_MISS, .detail = "coalesce-max"};
            return conn_open_exchange(c);
        }
        atomic_fetch_add_explicit(&c->w->stats.cache_coalesced, 1, memory_order_relaxed);
        deliver_init(&c->dl, c->obj);
        return CONN_DELIVER;
    case CACHE_MISS:
        atomic_fetch_add_explicit(&c->w->stats.cache_misses, 1, memory_order_relaxed);
        c->owner = 1;
        return conn_open_exchange(c);
    case CACHE_PASS:
        atomic_fetch_add_explicit(&c->w->stats.cache_passes, 1, memory_order_relaxed);
        c->cs = (struct req_cache_status){
            .verdict = REQ_PASS, .fwd = REQ_FWD_URI_MISS, .detail = "hit-for-miss"};
        return conn_open_exchange(c);
    case CACHE_NONE:
    case CACHE_REVALIDATED:
    case CACHE_STALE:
        break;
    }
    if (c->rcc.flags & CC_ONLY_IF_CACHED)
        return conn_fail(c, 504, "not in the cache (only-if-cached)");
    atomic_fetch_add_explicit(&c->w->stats.cache_misses, 1, memory_order_relaxed);
    c->cs = (struct req_cache_status){.verdict = REQ_MISS, .fwd = REQ_FWD_MISS};
    return conn_open_exchange(c);
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

/* Writes the head of the answer from c->obj: 304 when the client's validators match, 206 or 416
 * for a byte range of a complete object, else the stored status. Sets the delivery window
 * [dl.pos, dl_end) and c->d_nobody when no body follows. */
static void deliver_start(struct conn *c, enum obj_state st, uint64_t avail)
{
    const struct obj *o = c->obj;
    const struct field *f = c->req.head.hdrs;
    unsigned nf = c->req.head.n_hdrs;
    int64_t now = (int64_t)ev_now(c->w->loop);
    int64_t age = obj_age(o, now);
    uint64_t length = st == OBJ_COMPLETE ? avail : obj_content_length(o), first = 0, last = 0;
    const char *status_line = NULL;
    enum deliver_range rg = DELIVER_FULL;
    size_t xlen;

    int unzip = (obj_flags(o) & OBJ_F_GZIP) && !gz_accepts(f, nf);
    void (*head)(struct buf *, const struct obj *, const char *, int64_t, uint64_t, int, int, int,
                 const char *) = unzip ? deliver_head_identity : deliver_head;

    c->status = obj_status(o);
    c->dl_end = UINT64_MAX;
    c->close_after = c->close_after || !c->req_ka || c->draining;
    switch (c->cres) {
    case CACHE_HIT:
        c->cs = (struct req_cache_status){.verdict = REQ_HIT};
        break;
    case CACHE_BUSY:
        c->cs = (struct req_cache_status){.verdict = REQ_HIT, .detail = "collapsed"};
        break;
    case CACHE_REVALIDATED:
        c->cs = (struct req_cache_status){
            .verdict = REQ_REVALIDATED, .fwd = REQ_FWD_STALE, .fwd_status = 304};
        break;
    case CACHE_HIT_STALE:
        c->cs = (struct req_cache_status){.verdict = REQ_STALE, .detail = "stale-while-revalidate"};
        break;
    case CACHE_STALE:
        c->cs = (struct req_cache_status){.verdict = REQ_STALE, .detail = "stale-if-error"};
        break;
    default:
        c->cs = (struct req_cache_status){.verdict = REQ_MISS,
                                          .fwd = (c->rcc.flags & CC_NO_CACHE) ? REQ_FWD_REQUEST
                                                                              : REQ_FWD_MISS,
                                          .stored = 1};
        break;
    }
    c->cs.has_ttl = 1;
    c->cs.ttl = obj_ttl(o) - age;
    xlen = req_write_cache_status(&c->cs, c->xbuf, sizeof(c->xbuf));
    if (deliver_not_modified(o, f, nf, now)) {
        c->status = 304;
        c->d_nobody = 1;
        head(&c->out, o, "HTTP/1.1 304 Not Modified", age, OBJ_LEN_UNKNOWN, 0, c->close_after,
             c->v10 && !c->close_after, c->xbuf);
        c->dhead_done = 1;
        return;
    }
    if (unzip) {
        /* Inflated on the way out: its length is known once the object is complete, and a
         * Range (which a server may ignore, RFC 9110 §14.2) gets the whole representation. */
        length = st == OBJ_COMPLETE ? obj_identity_len(o) : OBJ_LEN_UNKNOWN;
        if (!c->head_req && c->unzip_spare != NULL) {
            c->unzip = c->unzip_spare;
            c->unzip_spare = NULL;
        }
        if (!c->head_req && c->unzip == NULL && !(c->unzip = gz_dec_new())) {
            c->status = 500;
            c->d_nobody = 1;
            head(&c->out, o, "HTTP/1.1 500 Internal Server Error", age, 0, 0, 1, 0, c->xbuf);
            c->close_after = 1;
            c->dhead_done = 1;
            return;
        }
        if (c->zout == NULL && c->unzip != NULL)
            c->zout = xmalloc(ZOUT_CAP);
    } else if (st == OBJ_COMPLETE) {
        rg = deliver_range(o, length, f, nf, &first, &last);
    }
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
    head(&c->out, o, status_line, age, length, c->chunk_out, c->close_after,
         c->v10 && !c->close_after, c->xbuf);
    c->dhead_done = 1;
}

/* Writes what is pending in <out> and the object's bytes after the delivery position, up to
 * <avail>. Returns -1 when the client is gone. */
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
    struct deliver dl;
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
        c->zout = xmalloc(ZOUT_CAP);
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
        rc = gz_dec_run(d, &in, &inlen, c->zout, ZOUT_CAP, &got);
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

/* deliver_write() for an object inflated on the way: inflates what the object holds past the
 * delivery position into c->zout, at most one buffer ahead of the socket (a small gzip that
 * inflates to gigabytes costs time, never memory), framed as chunks (or as is for an HTTP/1.0
 * client, whose answer ends with the connection). Returns -1 when the client is gone or the
 * gzip is corrupt (the answer is cut short: closing tells the client). */
static int deliver_unzip(struct conn *c, uint64_t avail, int *progress)
{
    while (buf_pending(&c->out) < ZOUT_CAP) {
        struct iovec iov[1];
        const void *in;
        size_t inlen, got = 0;
        int rc;

        if (deliver_iov(&c->dl, avail, iov, 1) == 0) {
            iov[0].iov_base = (void *)"";
            iov[0].iov_len = 0;
        }
        in = iov[0].iov_base;
        inlen = iov[0].iov_len;
        rc = gz_dec_run(c->unzip, &in, &inlen, c->zout, ZOUT_CAP, &got);
        if (rc < 0) {
            struct span key = obj_key(c->obj);

            log_warn("%.*s: the stored gzip body does not inflate: answer cut short",
                     (int)(key.len > 200 ? 200 : key.len), key.p);
            return -1;
        }
        c->zfull = got == ZOUT_CAP;
        if (got > 0) {
            http_write_body1(&c->out, c->chunk_out, c->zout, got);
            *progress = 1;
        }
        deliver_advance(&c->dl, iov[0].iov_len - inlen);
        if (rc == 1) {
            deliver_advance(&c->dl, inlen); /* anything after the end of the stream */
            if (c->dl.pos < avail)
                continue; /* (bytes past the stream in this chunk walk: skip them too) */
            break;
        }
        if (got == 0 && iov[0].iov_len == inlen)
            break; /* needs more of the object */
    }
    return conn_flush_client(c, progress);
}

static int deliver_write(struct conn *c, uint64_t avail, int *progress)
{
    struct iovec iov[17];
    unsigned n = 0;
    ssize_t w;

    if (c->unzip != NULL)
        return deliver_unzip(c, avail, progress);

    if (c->chunk_out) {
        /* Unknown length: frame what is there as one chunk (copied: rare, not the hit path). */
        unsigned k = deliver_iov(&c->dl, avail, iov, 16);
        uint64_t total = 0;

        for (unsigned i = 0; i < k; i++)
            total += iov[i].iov_len;
        if (total > 0) {
            http_write_body(&c->out, 1, iov, k);
            deliver_advance(&c->dl, total);
            *progress = 1;
        }
        return conn_flush_client(c, progress);
    }
    if (buf_pending(&c->out) > 0)
        iov[n++] = (struct iovec){c->out.p + c->out.off, buf_pending(&c->out)};
    n += deliver_iov(&c->dl, avail, iov + n, 16);
    if (n == 0)
        return 0;
    w = transport_writev(&c->t, iov, (int)n);
    if (w < 0)
        return w == -EAGAIN ? 0 : -1;
    if (w > 0) {
        size_t take = (size_t)w < buf_pending(&c->out) ? (size_t)w : buf_pending(&c->out);

        *progress = 1;
        buf_consume(&c->out, take);
        deliver_advance(&c->dl, (uint64_t)w - take);
    }
    return 0;
}

enum conn_state conn_deliver(struct conn *c)
{
    struct obj *o = c->obj;
    const struct conf *conf = conn_conf(c);

    /* obj_state() checks <o>'s magic */
    if (obj_state(o) == OBJ_BUSY)
        wait_for(c); /* before looking, so that no publication can slip between */
    if (!c->dhead_done) {
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
                c->cs = (struct req_cache_status){
                    .verdict = REQ_PASS, .fwd = REQ_FWD_URI_MISS, .detail = "hit-for-miss"};
                return conn_open_exchange(c);
            }
            conn_set_timer(c, c->owner ? TM_ORIGIN : TM_COALESCE,
                           c->owner ? conf->origin_timeout : conf->coalesce_timeout, 0);
            return CONN_WAIT;
        }
        if (c->cres == CACHE_BUSY && !cache_vary_match(o, c->req.head.hdrs, c->req.head.n_hdrs)) {
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
                obj_unref(&c->obj);
                c->obj = o = t;
                deliver_init(&c->dl, t);
            }
        }
        {
            enum obj_state st = obj_state(o);
            deliver_start(c, st, obj_avail(o));
        }
        if (c->head_req || c->d_nobody || obj_status(o) == 204 || obj_status(o) == 304) {
            conn_drop_obj(c);
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
        if (c->dl.pos == avail && buf_pending(&c->out) == 0 && !(c->unzip != NULL && c->zfull)) {
            if (st == OBJ_COMPLETE && c->unzip != NULL && !gz_dec_ended(c->unzip)) {
                struct span key = obj_key(o);

                log_warn("%.*s: the stored gzip body is truncated: answer cut short",
                         (int)(key.len > 200 ? 200 : key.len), key.p);
                conn_close(c);
                return CONN_WAIT;
            }
            if (st == OBJ_COMPLETE) {
                http_write_body_end(&c->out, c->chunk_out);
                conn_drop_obj(c);
                c->resp_done = 1;
                return CONN_FLUSH;
            }
            if (st == OBJ_FAILED) {
                /* The fetch broke in the middle of the body: closing tells the client. */
                conn_close(c);
                return CONN_WAIT;
            }
            conn_want_client(c, c->in_len < c->in_cap && !c->client_eof, 0);
            conn_set_timer(c, TM_ORIGIN, conf->origin_timeout, 1);
            return CONN_WAIT;
        }
        if (!progress) {
            conn_want_client(c, c->in_len < c->in_cap && !c->client_eof, 1);
            conn_set_timer(c, TM_SEND, conf->send_timeout, 1);
            return CONN_WAIT;
        }
    }
}

/* How the body of storable response <h> (<len> bytes, or OBJ_LEN_UNKNOWN) is stored: gzip
 * from the origin as it is (checked on the way); a compressible identity body gzipped on the
 * way into <sf>; anything else as it is. Returns the http_write_stored_head() flags. */
static unsigned choose_encoding(struct conn *c, const struct http_head *h, uint64_t len,
                                unsigned cc_flags, struct store_filter *sf)
{
    const struct conf *conf = conn_conf(c);
    const struct field *ce = http_find(h, "content-encoding"), *ct = http_find(h, "content-type");

    if (!conf->gzip || (h->flags & HTTP_F_NOBODY))
        return 0;
    if (ce != NULL) {
        struct span v = span_trim(ce->value);

        if (span_eq_ci(v, "gzip") || span_eq_ci(v, "x-gzip")) {
            sf->check = gz_dec_new();
            return sf->check != NULL ? HTTP_STORE_VARY_AE : 0;
        }
        if (!span_eq_ci(v, "identity"))
            return 0; /* another coding: kept as the origin sent it */
    }
    /* RFC 9110 §15.3.7: a 206 is a part of a representation; RFC 9111 §5.2.2.6: no-transform */
    if (h->status != 200 || http_find(h, "content-range") != NULL || (cc_flags & CC_NO_TRANSFORM))
        return 0;
    if (ct == NULL || !gz_type_ok(ct->value, conf->gzip_types))
        return 0;
    if (len != OBJ_LEN_UNKNOWN && len < conf->gzip_min_length)
        return 0;
    sf->enc = gz_enc_new((int)conf->gzip_level);
    return sf->enc != NULL ? HTTP_STORE_GZIPPED | HTTP_STORE_VARY_AE : 0;
}

/* Vary value <v> without Accept-Encoding: with gzip on, accel asks the origin for gzip itself
 * and serves each client its encoding from one stored object, so that field selects nothing.
 * The result points into <b> (or is <v> when there was nothing to drop). */
static struct span vary_without_ae(struct buf *b, struct span v)
{
    const char *p = v.p, *end = v.p + v.len;
    int dropped = 0;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        struct span t = span_trim(span_of(p, comma ? (size_t)(comma - p) : (size_t)(end - p)));

        p = comma ? comma + 1 : end;
        if (span_eq_ci(t, "accept-encoding")) {
            dropped = 1;
            continue;
        }
        if (b->len > 0)
            buf_append(b, ",", 1);
        buf_append_span(b, t);
    }
    return dropped ? span_of(b->p != NULL ? b->p : "", b->len) : v;
}

/* May c->stale stand in for an origin that fails (stale-if-error, or the configured grace)? */
int conn_stale_usable(const struct conn *c)
{
    const struct obj *o = c->stale;
    int64_t now = (int64_t)ev_now(c->w->loop), window = (int64_t)(conn_conf(c)->grace / 1000);
    struct obj_meta m;

    if (o == NULL)
        return 0;
    obj_get_meta(o, &m);
    if (m.cc_flags & (CC_MUST_REVALIDATE | CC_PROXY_REVALIDATE | CC_NO_CACHE))
        return 0;
    if (m.sie > window)
        window = m.sie;
    return obj_age(o, now) - obj_ttl(o) <= window;
}

/* Fails the busy object this request owned (its subscribers learn it), then answers from the
 * stale copy instead. */
void conn_serve_stale(struct conn *c)
{
    if (c->obj != NULL && c->owner) {
        cache_remove(c->w->cache, c->obj);
        if (!obj_has_head(c->obj))
            obj_finish(c->obj, OBJ_FAILED);
    }
    conn_unwait(c);
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
    struct span head = obj_head(old);
    const char *eol = memchr(head.p, '\n', head.len);
    const struct field *fields;
    struct field tmp[256];
    struct policy_resp pr;
    struct obj_meta was, m;
    struct buf hb = {0};
    struct iovec iov[16];
    struct obj_cursor cur;
    char *tags;
    size_t tags_len;
    uint64_t off = 0, avail = obj_avail(old);
    unsigned n, nf;

    obj_get_meta(old, &was);
    buf_append(&hb, head.p, eol != NULL ? (size_t)(eol + 1 - head.p) : head.len);
    fields = obj_fields(old, &nf);
    for (unsigned i = 0; i < nf; i++) {
        const struct field *f = &fields[i];

        if (resp_has(h, f->name))
            continue;
        http_write_field(&hb, f->name, f->value);
    }
    for (unsigned j = 0; j < h->n_hdrs; j++) {
        struct span name = h->hdrs[j].name, value = span_trim(h->hdrs[j].value);

        if (http_is_hop_by_hop(h, name) || span_eq_ci(name, "content-length") ||
            span_eq_ci(name, "age") || http_is_cache_tag(name))
            continue;
        if (was.flags & OBJ_F_GZIPPED) /* the body is still accel's gzip: the 304 speaks of
                                        * the origin's bytes */
            http_write_transformed_field(&hb, name, value);
        else
            http_write_field(&hb, name, h->hdrs[j].value);
    }
    n = obj_split_fields(hb.p, hb.len, tmp, countof(tmp));
    policy_response(&cc->policy, "GET", &c->rcc, 0, was.status, tmp, n, now, &pr);
    obj_meta_from_policy(&m, was.status, &pr, c->t_req, now);
    m.content_length = avail;
    m.identity_len = was.identity_len;
    m.flags = was.flags & OBJ_F_GZIPPED;
    m.vary = was.vary;
    /* tags: the 304's when it names any, else the stored ones */
    tags_len = cache_tags_build(h->hdrs, h->n_hdrs, &tags);
    m.tags = tags_len > 0 ? span_of(tags, tags_len) : was.tags;
    obj_set_meta(o, &m);
    free(tags);
    obj_set_head(o, hb.p, hb.len);
    buf_free(&hb);
    /* chunk by chunk, as they are stored */
    obj_cursor_init(&cur);
    for (unsigned k; (k = obj_body_iov(old, &cur, off, avail, iov, countof(iov))) > 0;) {
        for (unsigned i = 0; i < k; i++) {
            obj_append(o, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
    }
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

/* The owner of a busy object got the response head: store it (the fetch goes on by itself and
 * this request reads the object like any other) or not (the key is marked hit-for-miss, the
 * subscribers go to the origin alone and this request streams the answer through). Returns 1
 * when stored. */
int conn_owner_decides(struct conn *c)
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
    struct obj_meta m;
    char *vary_list = NULL, *tags;
    struct fetch_handover ho;
    struct store_filter sf = {0};
    unsigned store_flags;
    struct buf hb = {0};

    if (c->stale != NULL && h->status == 304) {
        revalidated(c);
        return 1;
    }
    if (c->stale != NULL && h->status >= 500 && conn_stale_usable(c)) {
        struct span key = obj_key(o);

        log_info("origin answered %u for %.*s: serving the stale copy", h->status, (int)key.len,
                 key.p);
        origin_close(&c->up);
        c->uin_pos = c->uin_len = 0;
        conn_serve_stale(c);
        return 1;
    }
    c->owner = 0;
    policy_response(&cc->policy, "GET", &c->rcc, has_auth, h->status, h->hdrs, h->n_hdrs, now, &pr);
    if (pr.storable && len != OBJ_LEN_UNKNOWN && len > cc->max_object_size) {
        pr.storable = 0;
        pr.why = POLICY_TOO_LARGE;
        pr.reason = policy_reason_name(pr.why);
    }
    if (!pr.storable) {
        int64_t hfm = (int64_t)(conn_conf(c)->hit_for_miss_ttl / 1000);

        if (policy_reason_is_request_own(pr.why))
            hfm = 0; /* it says nothing of the next request: no hit-for-miss marker */
        obj_add_flags(o, OBJ_F_PRIVATE); /* before the state is published: subscribers go alone */
        cache_mark_pass(c->w->cache, o, hfm > 0 ? now + hfm : 0);
        obj_finish(o, OBJ_FAILED);
        conn_drop_obj(c);
        c->cs = (struct req_cache_status){
            .verdict = REQ_PASS, .fwd = REQ_FWD_URI_MISS, .detail = pr.reason, .quoted = 1};
        atomic_fetch_add_explicit(&c->w->stats.cache_passes, 1, memory_order_relaxed);
        return 0;
    }
    obj_meta_from_policy(&m, h->status, &pr, c->t_req, now);
    m.content_length = (h->flags & HTTP_F_NOBODY) ? 0 : len;
    store_flags = choose_encoding(c, h, len, pr.cc_flags, &sf);
    if (store_flags & HTTP_STORE_GZIPPED) {
        m.content_length = OBJ_LEN_UNKNOWN; /* known once compressed */
        m.flags |= OBJ_F_GZIPPED;
    }
    vary = http_find(h, "vary");
    if (vary != NULL) {
        struct buf vb = {0};
        struct span v = conn_conf(c)->gzip ? vary_without_ae(&vb, vary->value) : vary->value;

        m.vary.len = cache_vary_build(v, c->req.head.hdrs, c->req.head.n_hdrs, &vary_list);
        m.vary.p = vary_list;
        buf_free(&vb);
    }
    m.tags.len = cache_tags_build(h->hdrs, h->n_hdrs, &tags);
    m.tags.p = tags;
    obj_set_meta(o, &m);
    free(vary_list);
    free(tags);
    http_write_stored_head(&hb, h, worker_date(c->w), store_flags);
    obj_set_head(o, hb.p, hb.len);
    buf_free(&hb);
    atomic_fetch_add_explicit(&c->w->stats.cache_stored, 1, memory_order_relaxed);
    if (len == OBJ_LEN_UNKNOWN && !(h->flags & HTTP_F_NOBODY)) {
        /* Unknown length: it may outgrow max_object_size, and then this client must still get
         * all of it. Stream it through as a pass (with backpressure) and copy it into the
         * object for the subscribers on the way; past the limit only the copy stops. */
        c->tee = 1;
        c->sf = sf;
        c->cs = (struct req_cache_status){.verdict = REQ_MISS, .fwd = REQ_FWD_MISS, .stored = 1};
        return 0;
    }
    ho.sf = sf;
    ho.t_origin = c->t_origin;
    ho.conf = conn_conf(c);
    ho.srv = c->srv;
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

/* stale-while-revalidate: refreshes <stale> in the background with a connection of our own,
 * whose request we write and whose answer goes nowhere (the null transport); its lookup (no_swr)
 * revalidates the stale copy like any miss would, and the refreshed object replaces it. */
void conn_spawn_refresh(struct worker *w, const struct obj *stale)
{
    struct span key = obj_key(stale);
    const char *end = key.p + key.len;
    const char *sep = memmem(key.p, key.len, "://", 3), *host, *path, *p;
    struct obj_meta m;
    struct buf req = {0};
    struct conn *c;
    struct transport t;

    if (sep == NULL)
        return;
    host = sep + 3;
    path = memchr(host, '/', (size_t)(end - host));
    if (path == NULL)
        return;
    buf_printf(&req, "GET %.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: accel-refresh\r\n",
               (int)(end - path), path, (int)(path - host), host);
    obj_get_meta(stale, &m);
    for (p = m.vary.p; p != NULL && p < m.vary.p + m.vary.len;) {
        const char *val = p + strlen(p) + 1;

        if (*val != '\0')
            buf_printf(&req, "%s: %s\r\n", p, val);
        p = val + strlen(val) + 1;
    }
    buf_append_str(&req, "\r\n");
    if (req.len > w->conf->max_header_size) {
        buf_free(&req);
        return;
    }
    transport_null(&t);
    c = conn_alloc(w, &t);
    snprintf(c->ip, sizeof(c->ip), "-");
    c->background = 1;
    c->client_eof = 1; /* no peer: nothing more will come after the request we hand it */
    if (req.len > c->in_cap) {
        c->in_cap = req.len;
        c->in = xrealloc(c->in, c->in_cap);
    }
    memcpy(c->in, req.p, req.len);
    c->in_len = req.len;
    buf_free(&req);
    w->n_conns++;
    log_debug("stale-while-revalidate: refreshing %.*s", (int)key.len, key.p);
    conn_run(c);
}
