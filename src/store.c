/* store.c - the cache sink (see store.h): the store decision at the response head, the 304
 * merge, the encoding and Vary of what is stored, the body into the object, the background
 * refresh. */
#include "accel/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accel/cache.h"
#include "accel/conf.h"
#include "accel/fetch.h"
#include "accel/gz.h"
#include "accel/key.h"
#include "accel/log.h"
#include "accel/loop.h"
#include "accel/route.h"

#define STORE_MAGIC 0x73746f72u

struct store {
    unsigned magic;
    struct worker *w;
    const struct conf *conf; /* pinned */
    struct obj *obj, *stale; /* references */
    const struct store_owner_ops *oops;
    void *owner;
    struct cc rcc;
    struct policy_conf pol; /* the cache's, with the route's default_ttl */
    int has_auth;
    int64_t t_req;
    struct buf fbuf; /* the request's fields, copied: <fields> point into it */
    struct field *fields;
    unsigned n_fields;
    struct store_filter sf;
    uint64_t max;
    int decided;  /* the head was seen */
    int finished; /* the object is complete already (a 304): the rest is ignored */
};

static const struct fetch_sink_ops store_sink;

/* --- the body into the object ------------------------------------------------------------ */

struct sink_ctx {
    struct cache *c;
    struct obj *o;
    struct store_filter *sf; /* compressed output: gathered into whole chunks */
};

static void to_obj(void *arg, const void *p, size_t n)
{
    struct sink_ctx *s = arg;

    if (s->sf != NULL) {
        /* The compressor hands out small pieces, and the length of the whole is unknown:
         * appended as they come, each would take a chunk of OBJ_CHUNK_MIN bytes. */
        buf_append(&s->sf->pend, p, n);
        if (s->sf->pend.len < OBJ_CHUNK_MIN)
            return;
        p = s->sf->pend.p;
        n = s->sf->pend.len;
        s->sf->pend.len = 0;
    }
    obj_append(s->o, p, n);
    cache_grow(s->c, s->o, n);
}

/* Feeds <n> bytes of the origin's gzip to the checker; 0, or -1 when they are not gzip. */
static int check_gzip(struct gz_dec *d, const void *p, size_t n)
{
    char scratch[16 * 1024];

    while (n > 0) {
        size_t out;
        int rc = gz_dec_run(d, &p, &n, scratch, sizeof(scratch), &out);

        if (rc < 0)
            return -1;
        if (rc == 1)
            return n == 0 ? 0 : -1; /* bytes after the end of the stream */
    }
    return 0;
}

static void store_bad(struct cache *c, struct obj *o, struct store_filter *sf, const char *why)
{
    struct span key = obj_key(o);

    if (sf->bad)
        return;
    sf->bad = 1;
    log_warn("%.*s: %s: passed through, not stored", (int)(key.len > 200 ? 200 : key.len), key.p,
             why);
    cache_remove(c, o);
}

void store_body(struct cache *c, struct obj *o, struct store_filter *sf, const void *p, size_t n)
{
    struct sink_ctx s = {.c = c, .o = o};

    if (sf->enc != NULL && !sf->bad) {
        s.sf = sf;
        if (gz_enc_write(sf->enc, p, n, 0, to_obj, &s) < 0)
            store_bad(c, o, sf, "compression failed");
        return;
    }
    if (sf->check != NULL && !sf->bad && check_gzip(sf->check, p, n) < 0)
        store_bad(c, o, sf, "the origin's gzip body is corrupt");
    to_obj(&s, p, n);
}

int store_finish(struct cache *c, struct obj *o, struct store_filter *sf)
{
    struct sink_ctx s = {.c = c, .o = o};
    const void *none = "";
    size_t zero = 0, out;
    char scratch[1];

    if (sf->enc != NULL && !sf->bad) {
        s.sf = sf;
        if (gz_enc_write(sf->enc, NULL, 0, 1, to_obj, &s) < 0) {
            store_bad(c, o, sf, "compression failed");
        } else {
            obj_set_identity_len(o, gz_enc_total_in(sf->enc));
            obj_append_last(o, sf->pend.p, sf->pend.len);
            cache_grow(c, o, sf->pend.len);
            sf->pend.len = 0;
        }
    }
    if (sf->check != NULL && !sf->bad) {
        if (gz_dec_run(sf->check, &none, &zero, scratch, 0, &out) != 1)
            store_bad(c, o, sf, "the origin's gzip body is truncated");
        else
            obj_set_identity_len(o, gz_dec_total_out(sf->check));
    }
    store_filter_fini(sf);
    return sf->bad ? -1 : 0;
}

void store_filter_fini(struct store_filter *sf)
{
    gz_enc_free(&sf->enc);
    gz_dec_free(&sf->check);
    buf_free(&sf->pend);
}

/* --- the decision -------------------------------------------------------------------------- */

int store_stale_usable(const struct obj *o, int64_t now, uint64_t grace_ms)
{
    int64_t window = (int64_t)(grace_ms / 1000);
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

static void store_free(struct store *s)
{
    CHECK_OBJ(s, STORE_MAGIC);
    store_filter_fini(&s->sf);
    obj_unref(&s->obj);
    obj_unref(&s->stale);
    conf_unref(&s->conf);
    buf_free(&s->fbuf);
    free(s->fields);
    s->magic = 0;
    free(s);
}

/* Tells the owner, once, and forgets it. */
static void tell(struct store *s, enum store_outcome out, struct fetch *f, const char *reason,
                 struct store_filter *sf)
{
    const struct store_owner_ops *ops = s->oops;
    void *owner = s->owner;

    s->oops = NULL;
    s->owner = NULL;
    if (ops != NULL)
        ops->decided(owner, out, f, reason, sf);
}

/* How the body of storable response <h> (<len> bytes, or OBJ_LEN_UNKNOWN) is stored: gzip
 * from the origin as it is (checked on the way); a compressible identity body gzipped on the
 * way into <sf>; anything else as it is. Returns the http_write_stored_head() flags. */
static unsigned choose_encoding(const struct conf *conf, const struct http_head *h, uint64_t len,
                                unsigned cc_flags, struct store_filter *sf)
{
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

/* 1 if response <h> carries a field named <name>. */
static int resp_has(const struct http_head *h, struct span name)
{
    for (unsigned j = 0; j < h->n_hdrs; j++)
        if (h->hdrs[j].name.len == name.len &&
            strncasecmp(h->hdrs[j].name.p, name.p, name.len) == 0)
            return 1;
    return 0;
}

/* The origin confirmed s->stale with a 304: the busy object gets the stored head updated with
 * the 304's fields (RFC 9111 §4.3.4), fresh times, and the stored body, and completes. */
static void revalidated(struct store *s, const struct http_head *h)
{
    struct obj *o = s->obj, *old = s->stale;
    struct cache *cache = s->w->cache;
    int64_t now = (int64_t)ev_now(s->w->loop);
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
    policy_response(&s->pol, "GET", &s->rcc, 0, was.status, tmp, n, now, &pr);
    obj_meta_from_policy(&m, was.status, &pr, s->t_req, now);
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
    cache_grow(cache, o, (size_t)obj_avail(o));
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(cache, o);
    atomic_fetch_add_explicit(&s->w->stats.cache_revalidated, 1, memory_order_relaxed);
}

static void on_interim(void *ctx, const struct http_head *h)
{
    struct store *s = ctx;

    if (s->oops != NULL)
        s->oops->interim(s->owner, h);
}

static enum fetch_next on_head(void *ctx, struct fetch *f, const struct http_head *h)
{
    struct store *s = ctx;
    struct worker *w = s->w;
    struct obj *o = s->obj;
    const struct cache_conf *cc = cache_conf_of(w->cache);
    int64_t now = (int64_t)ev_now(w->loop);
    uint64_t len = ((h->flags & HTTP_F_LENGTH) && !(h->flags & HTTP_F_TE)) ? h->content_length
                                                                           : OBJ_LEN_UNKNOWN;
    const struct field *vary;
    struct policy_resp pr;
    struct obj_meta m;
    char *vary_list = NULL, *tags;
    struct store_filter sf = {0};
    unsigned store_flags;
    struct buf hb = {0};

    CHECK_OBJ(s, STORE_MAGIC);
    s->decided = 1;
    if (s->stale != NULL && h->status == 304) {
        revalidated(s, h);
        s->finished = 1;
        tell(s, STORE_REVALIDATED, f, NULL, NULL);
        return FETCH_GO; /* to the end of the 304, so that the connection can be reused */
    }
    if (s->stale != NULL && h->status >= 500 && store_stale_usable(s->stale, now, s->conf->grace)) {
        struct span key = obj_key(o);

        log_info("origin answered %u for %.*s: serving the stale copy", h->status, (int)key.len,
                 key.p);
        cache_remove(w->cache, o);
        obj_finish(o, OBJ_FAILED);
        tell(s, STORE_STALE, f, NULL, NULL);
        store_free(s);
        return FETCH_STOP;
    }
    policy_response(&s->pol, "GET", &s->rcc, s->has_auth, h->status, h->hdrs, h->n_hdrs, now, &pr);
    if (pr.storable && len != OBJ_LEN_UNKNOWN && len > cc->max_object_size) {
        pr.storable = 0;
        pr.why = POLICY_TOO_LARGE;
        pr.reason = policy_reason_name(pr.why);
    }
    if (!pr.storable) {
        int64_t hfm = (int64_t)(s->conf->hit_for_miss_ttl / 1000);
        int owned = s->oops != NULL;

        if (policy_reason_is_request_own(pr.why))
            hfm = 0; /* it says nothing of the next request: no hit-for-miss marker */
        obj_add_flags(o, OBJ_F_PRIVATE); /* before the state is published: subscribers go alone */
        cache_mark_pass(w->cache, o, hfm > 0 ? now + hfm : 0);
        obj_finish(o, OBJ_FAILED);
        atomic_fetch_add_explicit(&w->stats.cache_passes, 1, memory_order_relaxed);
        tell(s, STORE_PASS, f, pr.reason, NULL);
        store_free(s);
        return owned ? FETCH_AGAIN : FETCH_STOP;
    }
    obj_meta_from_policy(&m, h->status, &pr, s->t_req, now);
    m.content_length = (h->flags & HTTP_F_NOBODY) ? 0 : len;
    store_flags = choose_encoding(s->conf, h, len, pr.cc_flags, &sf);
    if (store_flags & HTTP_STORE_GZIPPED) {
        m.content_length = OBJ_LEN_UNKNOWN; /* known once compressed */
        m.flags |= OBJ_F_GZIPPED;
    }
    vary = http_find(h, "vary");
    if (vary != NULL) {
        struct buf vb = {0};
        struct span v = s->conf->gzip ? vary_without_ae(&vb, vary->value) : vary->value;

        m.vary.len = cache_vary_build(v, s->fields, s->n_fields, &vary_list);
        m.vary.p = vary_list;
        buf_free(&vb);
    }
    m.tags.len = cache_tags_build(h->hdrs, h->n_hdrs, &tags);
    m.tags.p = tags;
    obj_set_meta(o, &m);
    free(vary_list);
    free(tags);
    http_write_stored_head(&hb, h, worker_date(w), store_flags);
    obj_set_head(o, hb.p, hb.len);
    buf_free(&hb);
    atomic_fetch_add_explicit(&w->stats.cache_stored, 1, memory_order_relaxed);
    if (len == OBJ_LEN_UNKNOWN && !(h->flags & HTTP_F_NOBODY) && s->oops != NULL) {
        /* Unknown length: it may outgrow max_object_size, and then the owner must still get
         * all of it. It streams it through as a pass (with backpressure) and copies it into
         * the object for the subscribers on the way; past the limit only the copy stops. */
        tell(s, STORE_TEE, f, NULL, &sf);
        store_filter_fini(&sf);
        store_free(s);
        return FETCH_AGAIN;
    }
    s->sf = sf;
    tell(s, STORE_STORED, f, NULL, NULL);
    return FETCH_GO;
}

static int on_body(void *ctx, const char *p, size_t n, const char **why)
{
    struct store *s = ctx;

    if (s->finished)
        return 0;
    if (obj_avail(s->obj) + n > s->max) {
        *why = "body larger than max_object_size";
        return -1;
    }
    store_body(s->w->cache, s->obj, &s->sf, p, n);
    return 0;
}

static void on_done(void *ctx)
{
    struct store *s = ctx;
    struct cache *cache = s->w->cache;

    CHECK_OBJ(s, STORE_MAGIC);
    if (!s->finished) {
        int stored = store_finish(cache, s->obj, &s->sf) == 0;

        obj_finish(s->obj, OBJ_COMPLETE);
        if (stored)
            cache_complete(cache, s->obj);
    }
    store_free(s);
}

static void on_fail(void *ctx, unsigned status, const char *why)
{
    struct store *s = ctx;
    const struct store_owner_ops *ops = s->oops;
    void *owner = s->owner;

    CHECK_OBJ(s, STORE_MAGIC);
    if (!s->finished) {
        if (s->decided) {
            char key[128];
            struct span k = obj_key(s->obj);

            snprintf(key, sizeof(key), "fetch failed: %s", why);
            log_limited(LOG_LVL_WARN, key, "fetch of %.*s failed: %s",
                        (int)(k.len > 200 ? 200 : k.len), k.p, why);
        }
        cache_remove(s->w->cache, s->obj);
        obj_finish(s->obj, OBJ_FAILED);
    }
    s->oops = NULL;
    s->owner = NULL;
    store_free(s);
    if (ops != NULL)
        ops->failed(owner, status, why);
}

static const struct fetch_sink_ops store_sink = {
    .interim = on_interim,
    .head = on_head,
    .body = on_body,
    .done = on_done,
    .fail = on_fail,
};

struct store *store_start(struct worker *w, const struct conf *conf, const struct store_req *r,
                          const struct store_owner_ops *ops, void *owner)
{
    struct store *s = xcalloc(1, sizeof(*s));
    const struct http_head *h = r->head;
    struct fetch_req fr = {.head = h,
                           .fwd = r->fwd,
                           .stale = r->stale,
                           .body = 0,
                           .client = r->client,
                           .up = r->up,
                           .hash = r->hash};

    s->magic = STORE_MAGIC;
    s->w = w;
    s->conf = conf_ref(conf);
    s->obj = obj_ref(r->obj);
    s->stale = r->stale != NULL ? obj_ref(r->stale) : NULL;
    s->oops = ops;
    s->owner = owner;
    s->rcc = r->rcc;
    s->t_req = r->t_req;
    s->has_auth = http_find(h, "authorization") != NULL;
    s->max = cache_conf_of(w->cache)->max_object_size;
    s->pol = cache_conf_of(w->cache)->policy;
    if (r->default_ttl >= 0)
        s->pol.default_ttl = r->default_ttl;
    /* The request's fields, for Vary: the client's buffer will not outlive the request. */
    if (h->n_hdrs > 0) {
        size_t total = 0;

        for (unsigned i = 0; i < h->n_hdrs; i++)
            total += h->hdrs[i].name.len + h->hdrs[i].value.len;
        buf_reserve(&s->fbuf, total + 1);
        s->fields = xcalloc(h->n_hdrs, sizeof(*s->fields));
        for (unsigned i = 0; i < h->n_hdrs; i++) {
            size_t at = s->fbuf.len;

            buf_append_span(&s->fbuf, h->hdrs[i].name);
            buf_append_span(&s->fbuf, h->hdrs[i].value);
            s->fields[i].name = span_of(s->fbuf.p + at, h->hdrs[i].name.len);
            s->fields[i].value =
                span_of(s->fbuf.p + at + h->hdrs[i].name.len, h->hdrs[i].value.len);
        }
        s->n_fields = h->n_hdrs;
    }
    if (fetch_start(w, conf, &fr, &store_sink, s) == NULL) {
        cache_remove(w->cache, s->obj);
        obj_finish(s->obj, OBJ_FAILED);
        store_free(s);
        return NULL;
    }
    return s;
}

void store_detach(struct store **sp)
{
    struct store *s = *sp;

    *sp = NULL;
    if (s == NULL)
        return;
    CHECK_OBJ(s, STORE_MAGIC);
    s->oops = NULL;
    s->owner = NULL;
}

void store_refresh(struct worker *w, const struct obj *stale)
{
    const struct conf *conf = w->conf;
    struct span key = obj_key(stale), host, path;
    const char *end = key.p + key.len;
    const char *sep = memmem(key.p, key.len, "://", 3), *hp, *pp, *p, *scheme;
    struct obj_meta m;
    struct buf req = {0}, keybuf = {0};
    struct http_parser parser = {0};
    struct cache_req r;
    struct http_fwd fwd = {0};
    struct obj *o = NULL, *old = NULL;
    const struct conf_route *route;
    size_t used;
    ev_tstamp now = ev_now(w->loop);

    if (sep == NULL || w->cache == NULL)
        return;
    /* "NAME http://...": a route's name first (route_key_build); the lookup below routes again */
    for (p = key.p; p < sep && *p != ' '; p++)
        continue;
    if (p < sep)
        key = span_of(p + 1, (size_t)(end - p - 1));
    /* the scheme the stored answer was asked for: https keys refresh as https requests */
    scheme = sep - key.p == 5 && memcmp(key.p, "https", 5) == 0 ? "https" : "http";
    hp = sep + 3;
    pp = memchr(hp, '/', (size_t)(end - hp));
    if (pp == NULL)
        return;
    host = span_of(hp, (size_t)(pp - hp));
    path = span_of(pp, (size_t)(end - pp));
    buf_printf(&req, "GET %.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: accel-refresh\r\n",
               (int)path.len, path.p, (int)host.len, host.p);
    obj_get_meta(stale, &m);
    for (p = m.vary.p; p != NULL && p < m.vary.p + m.vary.len;) {
        const char *val = p + strlen(p) + 1;

        if (*val != '\0')
            buf_printf(&req, "%s: %s\r\n", p, val);
        p = val + strlen(val) + 1;
    }
    buf_append_str(&req, "\r\n");
    /* The refresh is a request like a client's: parsed, looked up, forwarded the same way. */
    http_parser_init(&parser, 1, conf->max_headers, conf->max_uri_length);
    if (req.len > conf->max_header_size ||
        http_parse(&parser, req.p, req.len, &used) != HTTP_EV_HEAD ||
        http_request_host(&parser.head, &fwd.client_host) < 0)
        goto out;
    route = route_match(conf, HTTP_GET, fwd.client_host, http_request_path(&parser.head));
    if ((conf->n_routes > 0 && route == NULL) || (route != NULL && !route->cache) ||
        route_key_build(route, &keybuf, scheme, fwd.client_host, http_request_path(&parser.head),
                        &r.key) < 0)
        goto out;
    r.ignore_no_cache = route == NULL ? 0 : route->ignore_client_no_cache ? 1 : -1;
    r.fields = parser.head.hdrs;
    r.n_fields = parser.head.n_hdrs;
    policy_cc_init(&r.cc);
    r.now = (int64_t)now;
    r.now_ms = (uint64_t)(now * 1000.0);
    r.no_make = 0;
    r.no_swr = 1;
    if (cache_lookup(w->cache, &r, &o, &old) == CACHE_MISS) {
        const struct conf_upstream *up = route_upstream(conf, route);
        struct store_req sr = {.obj = o,
                               .stale = old,
                               .head = &parser.head,
                               .fwd = &fwd,
                               .up = up,
                               .hash = route_hash(fwd.client_host, http_request_path(&parser.head)),
                               .default_ttl =
                                   route != NULL ? (int64_t)(route->default_ttl / 1000) : -1,
                               .rcc = r.cc,
                               .t_req = r.now,
                               .client = "-"};

        atomic_fetch_add_explicit(&w->stats.cache_misses, 1, memory_order_relaxed);
        fwd.client_ip = "-";
        fwd.proto = scheme;
        fwd.host = conf->host_header != NULL ? span_of(conf->host_header, strlen(conf->host_header))
                                             : fwd.client_host;
        fwd.whole = 1;
        fwd.gzip = conf->gzip;
        log_debug("stale-while-revalidate: refreshing %.*s", (int)key.len, key.p);
        (void)store_start(w, conf, &sr, NULL, NULL);
    }
out:
    obj_unref(&o);
    obj_unref(&old);
    http_parser_fini(&parser);
    buf_free(&req);
    buf_free(&keybuf);
}
