/* test_cache.c - what a request gets from the cache: Vary values, the lookup protocol (miss with
 * a busy object, coalesced busy, hit, stale refetch and replacement, hit-for-miss markers,
 * only-if-cached, HEAD without insertion, request no-cache), invalidation and Vary variants.
 * Time is a parameter of every lookup: nothing sleeps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/cache.h"
#include "cache/obj_int.h" /* white-box: the tests look at refs and the index state */

#define T0  1795203449LL /* Fri, 20 Nov 2026 19:37:29 GMT */
#define MiB (1024u * 1024u)

static const struct policy_conf pc = {
    .default_ttl = 0,
    .heuristic_max = 86400,
    .heuristic_pct = 10,
    .cache_set_cookie = 0,
    .hit_for_miss_ttl = 10,
};

static const char *const res_names[] = {"HIT", "BUSY", "MISS", "PASS", "NONE"};

static struct cache *mk_cache(uint64_t memory, int ignore_client_no_cache)
{
    struct cache_conf cc = {
        .memory = memory,
        .shards = 1,
        .max_object_size = MiB,
        .policy = pc,
        .ignore_client_no_cache = ignore_client_no_cache,
    };
    struct cache *c = cache_new(&cc);

    cr_assert_not_null(c);
    return c;
}

/* What a fetch sets before the head: status 200, all times <t>, lifetime <ttl>, the body's
 * length <len>, Vary values <vary> (<vary_len> bytes, NULL: none). */
static void set_meta(struct obj *o, int64_t t, int64_t ttl, uint64_t len, const char *vary,
                     size_t vary_len)
{
    struct obj_meta m;

    obj_meta_init(&m);
    m.status = 200;
    m.t_req = m.t_resp = m.date = t;
    m.ttl = ttl;
    m.content_length = len;
    m.vary = span_of(vary, vary_len);
    obj_set_meta(o, &m);
}

static unsigned refs(const struct obj *o)
{
    return atomic_load(&((struct obj *)o)->refs);
}

/* Splits "Name: value\nName: value" into at most 8 fields (views into <text>). */
static unsigned fields(const char *text, struct field *f)
{
    unsigned n = 0;
    const char *p = text;

    while (p != NULL && *p != '\0' && n < 8) {
        const char *colon = strchr(p, ':'), *nl = strchr(p, '\n');

        if (nl == NULL)
            nl = p + strlen(p);
        cr_assert_not_null(colon);
        f[n].name = span_of(p, (size_t)(colon - p));
        f[n].value = span_trim(span_of(colon + 1, (size_t)(nl - colon - 1)));
        n++;
        p = *nl ? nl + 1 : nl;
    }
    return n;
}

/* One request: key <key>, request header fields <hdrs> ("Name: value\n...", or NULL), request
 * Cache-Control <ccv> (or NULL) plus <cc_flags>, at <now>. */
struct rq {
    struct field f[8];
    struct cache_req r;
};

static const struct cache_req *rq(struct rq *q, const char *key, const char *hdrs, const char *ccv,
                                  unsigned cc_flags, int no_make, int64_t now)
{
    memset(q, 0, sizeof(*q));
    q->r.key.p = key;
    q->r.key.len = strlen(key);
    q->r.key.hash = key_hash(key, strlen(key));
    q->r.n_fields = fields(hdrs, q->f);
    q->r.fields = q->f;
    policy_cc_init(&q->r.cc);
    if (ccv != NULL)
        policy_cc_parse(span_of(ccv, strlen(ccv)), &q->r.cc);
    q->r.cc.flags |= cc_flags;
    q->r.now = now;
    q->r.now_ms = (uint64_t)now * 1000u;
    q->r.no_make = no_make;
    return &q->r;
}

/* cache_lookup() of a request built as rq() does; checks that HIT, BUSY and MISS give an object
 * and PASS and NONE do not. */
static enum cache_res lookup_full(struct cache *c, const char *key, const char *hdrs,
                                  const char *ccv, unsigned cc_flags, int no_make, int64_t now,
                                  struct obj **out, struct obj **stale)
{
    struct rq q;
    enum cache_res res;

    *out = (struct obj *)(uintptr_t)1; /* must be overwritten */
    res = cache_lookup(c, rq(&q, key, hdrs, ccv, cc_flags, no_make, now), out, stale);
    cr_assert(res >= CACHE_HIT && res <= CACHE_NONE, "lookup %s: result %d", key, (int)res);
    if (res == CACHE_PASS || res == CACHE_NONE)
        cr_assert_null(*out, "lookup %s: %s with an object", key, res_names[res]);
    else
        cr_assert_not_null(*out, "lookup %s: %s without an object", key, res_names[res]);
    return res;
}

static enum cache_res lookup(struct cache *c, const char *key, const char *hdrs, int64_t now,
                             struct obj **out)
{
    return lookup_full(c, key, hdrs, NULL, 0, 0, now, out, NULL);
}

#define expect_res(got, want, what)                                                                \
    cr_assert_eq((got), (want), "%s: %s, expected %s", (what), res_names[(got)], res_names[(want)])

/* What a fetch does with the busy object <o> it got on a miss: head (with freshness <ttl> from
 * <t>, and the request values of <vary> taken from the request fields <hdrs>), body, complete,
 * cache_complete(). */
static void fetch_done(struct cache *c, struct obj *o, const char *vary, const char *hdrs,
                       int64_t t, int64_t ttl, const char *body)
{
    char head[256];
    struct field f[8];
    unsigned n = fields(hdrs, f);

    cr_assert_eq(obj_state(o), OBJ_BUSY);
    cr_assert_eq(obj_has_head(o), 0);
    if (vary != NULL) {
        char *v;
        size_t vlen = cache_vary_build(span_of(vary, strlen(vary)), f, n, &v);

        set_meta(o, t, ttl, strlen(body), v, vlen);
        free(v);
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nCache-Control: max-age=%lld\r\nVary: %s\r\n", (long long)ttl,
                 vary);
    } else {
        set_meta(o, t, ttl, strlen(body), NULL, 0);
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nCache-Control: max-age=%lld\r\n",
                 (long long)ttl);
    }
    obj_set_head(o, head, strlen(head));
    obj_append(o, body, strlen(body));
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(c, o);
}

/* The body bytes of a small complete object, NUL-terminated into <out>. */
static const char *body_of(const struct obj *o, char *out, size_t len)
{
    size_t n = obj_avail(o) < len - 1 ? (size_t)obj_avail(o) : len - 1;

    struct iovec iov[1];

    memcpy(out, obj_body_iov(o, NULL, 0, n, iov, 1) == 1 ? iov[0].iov_base : "", n);
    out[n] = '\0';
    return out;
}

static uint64_t nobjects(struct cache *c)
{
    struct cache_stats s;

    cache_get_stats(c, &s);
    return s.objects;
}

/* ---- Vary values ----------------------------------------------------------------------------- */

/* cache_vary_build() of <vary> from request fields <hdrs> equals the <wlen> bytes <want>. */
static void vary_is(const char *vary, const char *hdrs, const char *want, size_t wlen)
{
    struct field f[8];
    unsigned n = fields(hdrs, f);
    char *out = NULL;
    size_t len = cache_vary_build(span_of(vary, strlen(vary)), f, n, &out);

    cr_assert_eq(len, wlen, "Vary '%s' from '%s': %zu bytes, expected %zu", vary, hdrs ? hdrs : "",
                 len, wlen);
    if (wlen > 0) {
        cr_assert_not_null(out);
        cr_assert(memcmp(out, want, wlen) == 0, "Vary '%s' from '%s': wrong bytes", vary,
                  hdrs ? hdrs : "");
    }
    free(out);
}

#define VARY_IS(vary, hdrs, lit) vary_is((vary), (hdrs), (lit), sizeof(lit) - 1)

Test(cache, vary_build)
{
    VARY_IS("Accept-Language", "Accept-Language: en", "accept-language\0en\0");
    /* names lowercased; request names matched without case */
    VARY_IS("ACCEPT-Language", "accept-LANGUAGE: fr", "accept-language\0fr\0");
    /* several request fields joined with ", " */
    VARY_IS("Accept", "Accept: text/html\nX-Other: 1\nAccept: image/png",
            "accept\0text/html, image/png\0");
    VARY_IS("Accept", "Accept: a\nAccept: b\nAccept: c", "accept\0a, b, c\0");
    /* a missing field is an empty value */
    VARY_IS("X-Missing", "Accept: a", "x-missing\0\0");
    VARY_IS("X-Missing", NULL, "x-missing\0\0");
    /* several names, with spaces */
    VARY_IS("Accept-Encoding, X-Foo", "X-Foo: bar\nAccept-Encoding: gzip",
            "accept-encoding\0gzip\0x-foo\0bar\0");
    VARY_IS("  Accept-Encoding ,X-Foo  ,  Cookie", "Accept-Encoding: br",
            "accept-encoding\0br\0x-foo\0\0cookie\0\0");
    VARY_IS("a,b", "B: 2\nA: 1", "a\0001\0b\0002\0");
    /* values trimmed */
    VARY_IS("X-Sp", "X-Sp:   v  w  ", "x-sp\0v  w\0");
    /* nothing named */
    VARY_IS("", "Accept: a", "");
    VARY_IS(" , ,", "Accept: a", "");
}

/* An object with Vary <vary> built from request fields <hdrs>, its head set. */
static struct obj *vary_obj(const char *vary, const char *hdrs)
{
    struct obj *o = obj_new("http://h/v", 10, 1, 0);
    struct field f[8];
    unsigned n = fields(hdrs, f);
    char head[256], *v = NULL;
    size_t vlen = 0;
    struct obj_meta m;

    if (vary != NULL) {
        vlen = cache_vary_build(span_of(vary, strlen(vary)), f, n, &v);
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nVary: %s\r\n", vary);
    } else {
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n");
    }
    obj_meta_init(&m);
    m.status = 200;
    m.vary = span_of(v, vlen);
    obj_set_meta(o, &m);
    free(v);
    obj_set_head(o, head, strlen(head));
    obj_finish(o, OBJ_COMPLETE);
    return o;
}

static int vary_match(const struct obj *o, const char *hdrs)
{
    struct field f[8];
    unsigned n = fields(hdrs, f);

    return cache_vary_match(o, f, n);
}

Test(cache, vary_match)
{
    struct obj *o;

    o = vary_obj(NULL, NULL);
    cr_assert(vary_match(o, NULL), "no Vary matches a request without fields");
    cr_assert(vary_match(o, "Accept-Language: en\nAccept: x"), "no Vary matches everything");
    obj_unref(&o);

    o = vary_obj("Accept-Language", "Accept-Language: en");
    cr_assert(vary_match(o, "Accept-Language: en"));
    cr_assert(vary_match(o, "accept-language: en"), "request names without case");
    cr_assert(vary_match(o, "Accept-Language:   en  "), "values trimmed");
    cr_assert(vary_match(o, "Accept: x\nAccept-Language: en\nX-Y: z"), "other fields ignored");
    cr_assert_not(vary_match(o, "Accept-Language: fr"));
    cr_assert(vary_match(o, "Accept-Language: EN"), "language tags have no case");
    cr_assert_not(vary_match(o, "Accept-Language: en, fr"));
    cr_assert_not(vary_match(o, NULL), "the field missing");
    cr_assert_not(vary_match(o, "Accept-Language: en\nAccept-Language: fr"));
    obj_unref(&o);

    /* stored from two fields: the same values in one field match */
    o = vary_obj("Accept", "Accept: a\nAccept: b");
    cr_assert(vary_match(o, "Accept: a\nAccept: b"));
    cr_assert(vary_match(o, "Accept: a, b"));
    cr_assert_not(vary_match(o, "Accept: a"));
    cr_assert_not(vary_match(o, "Accept: b\nAccept: a"), "order matters");
    obj_unref(&o);

    /* stored without the field: matches requests without it */
    o = vary_obj("X-Missing", "Accept: a");
    cr_assert(vary_match(o, NULL));
    cr_assert(vary_match(o, "Accept: other"));
    cr_assert_not(vary_match(o, "X-Missing: 1"));
    obj_unref(&o);

    /* several names: every one must match */
    o = vary_obj("Accept-Encoding, X-Foo", "Accept-Encoding: gzip\nX-Foo: bar");
    cr_assert(vary_match(o, "X-Foo: bar\nAccept-Encoding: gzip"));
    cr_assert_not(vary_match(o, "Accept-Encoding: gzip\nX-Foo: baz"));
    cr_assert_not(vary_match(o, "Accept-Encoding: br\nX-Foo: bar"));
    cr_assert_not(vary_match(o, "Accept-Encoding: gzip"));
    obj_unref(&o);
}

Test(cache, vary_normalises_what_the_syntax_makes_equivalent)
{
    struct obj *o;

    /* lists: OWS around commas and empty members go; case goes where the field has none */
    VARY_IS("Accept-Language", "Accept-Language:  en ,\t De", "accept-language\0en, de\0");
    VARY_IS("Accept-Encoding", "Accept-Encoding: GZIP ; q=1.0 ,,br",
            "accept-encoding\0gzip;q=1.0, br\0");
    VARY_IS("Accept", "Accept: text/HTML ;level=1 , */*", "accept\0text/HTML;level=1, */*\0");
    VARY_IS("Foo", "Foo: 1 ,2", "foo\0001, 2\0");
    VARY_IS("Foo", "Foo: \"a ,  b\" , c", "foo\0\"a ,  b\", c\0");
    VARY_IS("Foo", "Foo: a  b,c", "foo\0a  b, c\0");
    /* not lists: as sent, trimmed */
    VARY_IS("Cookie", "Cookie: a=1,b=2", "cookie\0a=1,b=2\0");
    VARY_IS("User-Agent", "User-Agent: x (KHTML,like Gecko)", "user-agent\0x (KHTML,like Gecko)\0");

    o = vary_obj("Accept-Language", "Accept-Language: en, de");
    cr_assert(vary_match(o, "Accept-Language: eN,De"));
    cr_assert(vary_match(o, "Accept-Language:  en ,   de"));
    cr_assert(vary_match(o, "Accept-Language: en\nAccept-Language: de"));
    cr_assert_not(vary_match(o, "Accept-Language: de, en"), "order is preference");
    obj_unref(&o);
    o = vary_obj("Foo", "Foo: 1,2");
    cr_assert(vary_match(o, "Foo:  1, 2 "));
    cr_assert_not(vary_match(o, "Foo: 12"));
    obj_unref(&o);
    o = vary_obj("Cookie", "Cookie: a=1,b=2");
    cr_assert_not(vary_match(o, "Cookie: a=1, b=2"));
    obj_unref(&o);

    /* values stored as sent, before normalisation (an older accel's disk tier), still match */
    o = obj_new("http://h/v", 10, 1, 0);
    set_meta(o, 0, 0, OBJ_LEN_UNKNOWN, "accept-language\0EN ,fr\0",
             sizeof("accept-language\0EN ,fr\0") - 1);
    obj_set_head(o, "HTTP/1.1 200 OK\r\nVary: Accept-Language\r\n", 40);
    obj_finish(o, OBJ_COMPLETE);
    cr_assert(vary_match(o, "Accept-Language: en, fr"));
    cr_assert(vary_match(o, "Accept-Language: EN ,fr"));
    cr_assert_not(vary_match(o, "Accept-Language: en"));
    obj_unref(&o);
}

/* ---- the lookup protocol --------------------------------------------------------------------- */

Test(cache, miss_busy_hit)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *o, *b, *h;
    char body[64];

    /* a cold key: a new busy object, indexed, one reference for us and one for the index */
    expect_res(lookup(c, "http://h/a", NULL, T0, &o), CACHE_MISS, "cold key");
    cr_assert_eq(refs(o), 2, "a miss: refs %u, expected 2 (index + caller)", refs(o));
    cr_assert_eq(obj_state(o), OBJ_BUSY);
    cr_assert_eq(obj_has_head(o), 0);
    cr_assert_eq(o->key_len, strlen("http://h/a"));
    cr_assert(memcmp(o->key, "http://h/a", o->key_len) == 0);
    cr_assert_eq(o->indexed, 1);
    cr_assert_eq(nobjects(c), 1);

    /* while it is busy: the same object, coalesced */
    expect_res(lookup(c, "http://h/a", NULL, T0, &b), CACHE_BUSY, "second lookup while busy");
    cr_assert_eq(b, o, "BUSY gives the busy object");
    cr_assert_eq(refs(o), 3);
    obj_unref(&b);
    cr_assert_eq(refs(o), 2);
    cr_assert_eq(nobjects(c), 1, "a busy lookup inserts nothing");

    /* another key is another object */
    expect_res(lookup(c, "http://h/b", NULL, T0, &b), CACHE_MISS, "another key");
    cr_assert_neq(b, o);
    cr_assert_eq(nobjects(c), 2);

    /* head published, body still coming: still BUSY */
    set_meta(o, T0, 60, 5, NULL, 0);
    obj_set_head(o, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n", 44);
    obj_append(o, "he", 2);
    expect_res(lookup(c, "http://h/a", NULL, T0, &h), CACHE_BUSY, "head published, body coming");
    cr_assert_eq(h, o);
    obj_unref(&h);
    obj_append(o, "llo", 3);
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(c, o);
    cr_assert_eq(o->indexed, 1, "the completed object stays indexed");

    /* complete and fresh: HIT, a new reference */
    expect_res(lookup(c, "http://h/a", NULL, T0 + 1, &h), CACHE_HIT, "complete, fresh");
    cr_assert_eq(h, o);
    cr_assert_eq(refs(o), 3);
    cr_assert_str_eq(body_of(h, body, sizeof(body)), "hello");
    obj_unref(&h);
    expect_res(lookup(c, "http://h/a", NULL, T0 + 59, &h), CACHE_HIT, "fresh until ttl");
    obj_unref(&h);
    cr_assert_eq(nobjects(c), 2);

    /* the other key is still busy */
    expect_res(lookup(c, "http://h/b", NULL, T0 + 1, &h), CACHE_BUSY, "the other key");
    cr_assert_eq(h, b);
    obj_unref(&h);

    obj_unref(&b);
    cr_assert_eq(refs(o), 2);
    cache_free(&c);
    cr_assert_null(c);
    cr_assert_eq(refs(o), 1, "cache_free drops the index's reference");
    obj_unref(&o);
}

Test(cache, stale_object_is_refetched_and_replaced)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *old, *nw, *h;
    char body[64];

    expect_res(lookup(c, "http://h/s", NULL, T0, &old), CACHE_MISS, "cold");
    fetch_done(c, old, NULL, NULL, T0, 10, "old");
    expect_res(lookup(c, "http://h/s", NULL, T0 + 5, &h), CACHE_HIT, "age 5, ttl 10");
    cr_assert_eq(h, old);
    obj_unref(&h);

    /* age 20, ttl 10: a new busy object beside the stale one */
    expect_res(lookup(c, "http://h/s", NULL, T0 + 20, &nw), CACHE_MISS, "age 20, ttl 10");
    cr_assert_neq(nw, old, "a stale lookup gets a new object");
    cr_assert_eq(obj_state(nw), OBJ_BUSY);
    cr_assert_eq(refs(nw), 2);
    cr_assert_eq(old->indexed, 1, "the stale object stays until the new one completes");
    cr_assert_eq(nobjects(c), 2);
    expect_res(lookup(c, "http://h/s", NULL, T0 + 20, &h), CACHE_BUSY, "refetch in progress");
    cr_assert_eq(h, nw, "coalesced on the refetch, not the stale copy");
    obj_unref(&h);

    fetch_done(c, nw, NULL, NULL, T0 + 20, 10, "new");
    cr_assert_eq(old->indexed, 0, "cache_complete of the new object unindexes the old one");
    cr_assert_eq(refs(old), 1, "the index dropped its reference to the old one");
    cr_assert_eq(nw->indexed, 1);
    cr_assert_eq(nobjects(c), 1);
    cr_assert_str_eq(body_of(old, body, sizeof(body)), "old", "our reference still reads it");

    expect_res(lookup(c, "http://h/s", NULL, T0 + 21, &h), CACHE_HIT, "after the refetch");
    cr_assert_eq(h, nw);
    cr_assert_str_eq(body_of(h, body, sizeof(body)), "new");
    obj_unref(&h);

    obj_unref(&old);
    obj_unref(&nw);
    cache_free(&c);
}

Test(cache, stale_reference_for_revalidation)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *old, *o, *st;

    st = (struct obj *)(uintptr_t)1;
    expect_res(lookup_full(c, "http://h/r", NULL, NULL, 0, 0, T0, &old, &st), CACHE_MISS, "cold");
    cr_assert_null(st, "nothing stored yet: no stale object");
    fetch_done(c, old, "Accept-Language", "Accept-Language: en", T0, 10, "en");

    expect_res(lookup_full(c, "http://h/r", "Accept-Language: en", NULL, 0, 0, T0 + 1, &o, &st),
               CACHE_HIT, "fresh");
    cr_assert_null(st, "a hit gives no stale object");
    obj_unref(&o);

    /* stale: the miss comes with the stored object to revalidate */
    expect_res(lookup_full(c, "http://h/r", "Accept-Language: en", NULL, 0, 0, T0 + 20, &o, &st),
               CACHE_MISS, "stale");
    cr_assert_eq(st, old, "the stale object, for a conditional refetch");
    cr_assert_neq(o, old);
    obj_unref(&st);
    cache_remove(c, o);
    obj_finish(o, OBJ_FAILED);
    obj_unref(&o);

    /* another Vary value: the stored object does not match the request */
    expect_res(lookup_full(c, "http://h/r", "Accept-Language: fr", NULL, 0, 0, T0 + 20, &o, &st),
               CACHE_MISS, "another variant");
    cr_assert_null(st, "an object of another variant is no stale object of this request");
    cache_remove(c, o);
    obj_finish(o, OBJ_FAILED);
    obj_unref(&o);

    /* fresh, but the request asks for revalidation */
    expect_res(
        lookup_full(c, "http://h/r", "Accept-Language: en", "no-cache", 0, 0, T0 + 1, &o, &st),
        CACHE_MISS, "request no-cache");
    cr_assert_eq(st, old);
    obj_unref(&st);
    cache_remove(c, o);
    obj_finish(o, OBJ_FAILED);
    obj_unref(&o);

    obj_unref(&old);
    cache_free(&c);
}

Test(cache, failed_fetch_is_not_served)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *o, *n;

    expect_res(lookup(c, "http://h/f", NULL, T0, &o), CACHE_MISS, "cold");
    set_meta(o, T0, 60, OBJ_LEN_UNKNOWN, NULL, 0);
    obj_set_head(o, "HTTP/1.1 200 OK\r\n", 17);
    obj_append(o, "par", 3);
    obj_finish(o, OBJ_FAILED);
    expect_res(lookup(c, "http://h/f", NULL, T0 + 1, &n), CACHE_MISS, "after a failed fetch");
    cr_assert_neq(n, o);
    obj_unref(&n);
    cache_remove(c, o);
    cr_assert_eq(o->indexed, 0);
    cr_assert_eq(refs(o), 1);
    obj_unref(&o);
    cache_free(&c);
}

Test(cache, mark_pass_until)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *o, *n;

    expect_res(lookup(c, "http://h/p", NULL, T0, &o), CACHE_MISS, "cold");
    obj_add_flags(o, OBJ_F_PRIVATE);
    cache_mark_pass(c, o, T0 + 10);
    obj_finish(o, OBJ_FAILED);
    cr_assert_eq(o->indexed, 0, "the busy object leaves the index");
    cr_assert_eq(refs(o), 1);
    obj_unref(&o);
    cr_assert_eq(nobjects(c), 1, "a marker in its place");

    expect_res(lookup(c, "http://h/p", NULL, T0, &n), CACHE_PASS, "marked, at once");
    expect_res(lookup(c, "http://h/p", NULL, T0 + 9, &n), CACHE_PASS, "marked, 9 s later");
    expect_res(lookup_full(c, "http://h/p", "Accept: x", "no-cache", 0, 0, T0 + 5, &n, NULL),
               CACHE_PASS, "marked, request no-cache");
    expect_res(lookup_full(c, "http://h/p", NULL, NULL, 0, 1, T0 + 5, &n, NULL), CACHE_PASS,
               "marked, HEAD");
    expect_res(lookup_full(c, "http://h/p", NULL, NULL, CC_ONLY_IF_CACHED, 0, T0 + 5, &n, NULL),
               CACHE_NONE, "marked, only-if-cached");
    expect_res(lookup(c, "http://h/other", NULL, T0 + 5, &n), CACHE_MISS, "another key");
    obj_unref(&n);

    /* past the marker: a miss again, and a stored answer replaces the marker */
    expect_res(lookup(c, "http://h/p", NULL, T0 + 11, &o), CACHE_MISS, "after the marker");
    cr_assert_eq(obj_state(o), OBJ_BUSY);
    fetch_done(c, o, NULL, NULL, T0 + 11, 60, "now cacheable");
    expect_res(lookup(c, "http://h/p", NULL, T0 + 12, &n), CACHE_HIT, "stored after the marker");
    cr_assert_eq(n, o);
    obj_unref(&n);
    obj_unref(&o);
    cache_free(&c);
}

Test(cache, mark_pass_without_until_just_removes)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *o, *n;

    expect_res(lookup(c, "http://h/p0", NULL, T0, &o), CACHE_MISS, "cold");
    cache_mark_pass(c, o, 0);
    obj_finish(o, OBJ_FAILED);
    cr_assert_eq(o->indexed, 0);
    cr_assert_eq(nobjects(c), 0, "no marker");
    expect_res(lookup(c, "http://h/p0", NULL, T0, &n), CACHE_MISS, "no marker: a miss");
    cr_assert_neq(n, o);
    obj_unref(&n);
    obj_unref(&o);
    cache_free(&c);
}

Test(cache, only_if_cached)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *o, *n;

    expect_res(lookup_full(c, "http://h/o", NULL, NULL, CC_ONLY_IF_CACHED, 0, T0, &n, NULL),
               CACHE_NONE, "only-if-cached, cold");
    expect_res(lookup_full(c, "http://h/o", NULL, "only-if-cached", 0, 0, T0, &n, NULL), CACHE_NONE,
               "only-if-cached parsed, cold");
    cr_assert_eq(nobjects(c), 0, "only-if-cached inserted something");
    expect_res(lookup(c, "http://h/o", NULL, T0, &o), CACHE_MISS,
               "plain lookup after only-if-cached");
    cr_assert_eq(refs(o), 2, "a new object, not one left by only-if-cached");
    fetch_done(c, o, NULL, NULL, T0, 60, "x");
    expect_res(lookup_full(c, "http://h/o", NULL, NULL, CC_ONLY_IF_CACHED, 0, T0 + 1, &n, NULL),
               CACHE_HIT, "only-if-cached, stored");
    cr_assert_eq(n, o);
    obj_unref(&n);
    /* stale: nothing usable, and nothing inserted */
    expect_res(lookup_full(c, "http://h/o", NULL, NULL, CC_ONLY_IF_CACHED, 0, T0 + 100, &n, NULL),
               CACHE_NONE, "only-if-cached, stale");
    cr_assert_eq(nobjects(c), 1);
    obj_unref(&o);
    cache_free(&c);
}

Test(cache, no_make_head)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *o, *n;

    expect_res(lookup_full(c, "http://h/h", NULL, NULL, 0, 1, T0, &n, NULL), CACHE_NONE,
               "no_make, cold");
    cr_assert_eq(nobjects(c), 0, "no_make inserted something");
    expect_res(lookup(c, "http://h/h", NULL, T0, &o), CACHE_MISS, "GET after HEAD");
    cr_assert_eq(refs(o), 2);
    fetch_done(c, o, NULL, NULL, T0, 60, "x");
    expect_res(lookup_full(c, "http://h/h", NULL, NULL, 0, 1, T0 + 1, &n, NULL), CACHE_HIT,
               "no_make, stored");
    cr_assert_eq(n, o);
    obj_unref(&n);
    expect_res(lookup_full(c, "http://h/h", NULL, NULL, 0, 1, T0 + 100, &n, NULL), CACHE_NONE,
               "no_make, stale");
    cr_assert_eq(nobjects(c), 1);
    obj_unref(&o);
    cache_free(&c);
}

Test(cache, request_no_cache)
{
    struct cache *c = mk_cache(MiB, 0), *ic = mk_cache(MiB, 1);
    struct cache *both[2] = {c, ic};
    struct obj *o[2], *n;

    for (int i = 0; i < 2; i++) {
        expect_res(lookup(both[i], "http://h/nc", NULL, T0, &o[i]), CACHE_MISS, "cold");
        fetch_done(both[i], o[i], NULL, NULL, T0, 60, "x");
        expect_res(lookup(both[i], "http://h/nc", NULL, T0 + 1, &n), CACHE_HIT, "fresh");
        obj_unref(&n);
    }

    expect_res(lookup_full(c, "http://h/nc", NULL, "no-cache", 0, 0, T0 + 1, &n, NULL), CACHE_MISS,
               "request no-cache on a fresh object");
    cr_assert_neq(n, o[0], "a new busy object");
    cr_assert_eq(obj_state(n), OBJ_BUSY);
    cache_remove(c, n);
    obj_finish(n, OBJ_FAILED);
    obj_unref(&n);
    expect_res(lookup_full(c, "http://h/nc", NULL, "max-age=0", 0, 0, T0 + 1, &n, NULL), CACHE_MISS,
               "request max-age=0 on an object of age 1");
    cache_remove(c, n);
    obj_finish(n, OBJ_FAILED);
    obj_unref(&n);
    expect_res(lookup(c, "http://h/nc", NULL, T0 + 1, &n), CACHE_HIT, "plain again");
    cr_assert_eq(n, o[0]);
    obj_unref(&n);

    expect_res(lookup_full(ic, "http://h/nc", NULL, "no-cache", 0, 0, T0 + 1, &n, NULL), CACHE_HIT,
               "request no-cache with ignore_client_no_cache");
    cr_assert_eq(n, o[1]);
    obj_unref(&n);
    expect_res(lookup_full(ic, "http://h/nc", NULL, "max-age=0", 0, 0, T0 + 1, &n, NULL), CACHE_HIT,
               "request max-age=0 with ignore_client_no_cache");
    obj_unref(&n);

    for (int i = 0; i < 2; i++) {
        obj_unref(&o[i]);
        cache_free(&both[i]);
    }
}

Test(cache, memory_0_passes)
{
    struct cache *c = mk_cache(0, 0);
    struct obj *n;
    struct key k = {"http://h/z", 10, key_hash("http://h/z", 10)};

    for (int i = 0; i < 3; i++)
        expect_res(lookup(c, "http://h/z", NULL, T0 + i, &n), CACHE_PASS, "memory 0");
    expect_res(lookup_full(c, "http://h/z", NULL, NULL, 0, 1, T0, &n, NULL), CACHE_PASS,
               "memory 0, HEAD");
    cr_assert_eq(nobjects(c), 0);
    cr_assert_eq(cache_invalidate(c, &k), 0);
    cr_assert_eq(cache_conf_of(c)->memory, 0);
    cache_free(&c);
}

Test(cache, invalidate_removes_every_variant)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *en, *fr, *busy, *other, *n;
    struct key k = {"http://h/i", 10, key_hash("http://h/i", 10)};
    struct key none = {"http://h/none", 13, key_hash("http://h/none", 13)};

    expect_res(lookup(c, "http://h/i", "Accept-Language: en", T0, &en), CACHE_MISS, "en");
    fetch_done(c, en, "Accept-Language", "Accept-Language: en", T0, 60, "en");
    expect_res(lookup(c, "http://h/i", "Accept-Language: fr", T0, &fr), CACHE_MISS, "fr");
    fetch_done(c, fr, "Accept-Language", "Accept-Language: fr", T0, 60, "fr");
    expect_res(lookup(c, "http://h/i", "Accept-Language: de", T0, &busy), CACHE_MISS, "de");
    expect_res(lookup(c, "http://h/other", NULL, T0, &other), CACHE_MISS, "other key");
    fetch_done(c, other, NULL, NULL, T0, 60, "other");
    cr_assert_eq(nobjects(c), 4);

    cr_assert_eq(cache_invalidate(c, &none), 0, "a key with nothing stored");
    cr_assert_eq(cache_invalidate(c, &k), 3, "two variants and a busy object");
    cr_assert_eq(en->indexed, 0);
    cr_assert_eq(fr->indexed, 0);
    cr_assert_eq(busy->indexed, 0);
    cr_assert_eq(refs(en), 1);
    cr_assert_eq(refs(busy), 1, "the index dropped its reference to the busy object");
    cr_assert_eq(nobjects(c), 1);
    cr_assert_eq(cache_invalidate(c, &k), 0, "nothing left");

    expect_res(lookup(c, "http://h/other", NULL, T0 + 1, &n), CACHE_HIT, "another key untouched");
    cr_assert_eq(n, other);
    obj_unref(&n);
    expect_res(lookup(c, "http://h/i", "Accept-Language: en", T0 + 1, &n), CACHE_MISS,
               "en after invalidation");
    cr_assert_neq(n, en);
    cache_remove(c, n);
    obj_finish(n, OBJ_FAILED);
    obj_unref(&n);

    /* the invalidated busy fetch goes on for its readers but is not stored */
    fetch_done(c, busy, "Accept-Language", "Accept-Language: de", T0 + 1, 60, "de");
    expect_res(lookup(c, "http://h/i", "Accept-Language: de", T0 + 2, &n), CACHE_MISS,
               "de after its invalidated fetch completed");
    cr_assert_neq(n, busy);
    cache_remove(c, n);
    obj_finish(n, OBJ_FAILED);
    obj_unref(&n);

    /* a pass marker is removed too */
    expect_res(lookup(c, "http://h/i", NULL, T0 + 3, &n), CACHE_MISS, "for a marker");
    cache_mark_pass(c, n, T0 + 60);
    obj_finish(n, OBJ_FAILED);
    obj_unref(&n);
    expect_res(lookup(c, "http://h/i", NULL, T0 + 4, &n), CACHE_PASS, "marked");
    cr_assert_eq(cache_invalidate(c, &k), 1, "the marker");
    expect_res(lookup(c, "http://h/i", NULL, T0 + 5, &n), CACHE_MISS, "marker invalidated");
    cache_remove(c, n);
    obj_finish(n, OBJ_FAILED);
    obj_unref(&n);

    obj_unref(&en);
    obj_unref(&fr);
    obj_unref(&busy);
    obj_unref(&other);
    cache_free(&c);
}

Test(cache, invalidate_many_variants)
{
    struct cache *c = mk_cache(MiB, 0);
    struct key k = {"http://h/many", 13, key_hash("http://h/many", 13)};

    for (int i = 0; i < 20; i++) {
        char hdr[32], body[16];
        struct obj *o;

        snprintf(hdr, sizeof(hdr), "X-V: %d", i);
        snprintf(body, sizeof(body), "%d", i);
        expect_res(lookup(c, "http://h/many", hdr, T0, &o), CACHE_MISS, "variant");
        fetch_done(c, o, "X-V", hdr, T0, 60, body);
        obj_unref(&o);
    }
    cr_assert_eq(nobjects(c), 20);
    cr_assert_eq(cache_invalidate(c, &k), 20, "more variants than one pass collects");
    cr_assert_eq(nobjects(c), 0);
    cache_free(&c);
}

Test(cache, vary_variants_picked_by_request)
{
    struct cache *c = mk_cache(MiB, 0);
    struct obj *en, *fr, *none, *n;
    char body[64];

    expect_res(lookup(c, "http://h/v", "Accept-Language: en", T0, &en), CACHE_MISS, "en");
    fetch_done(c, en, "Accept-Language", "Accept-Language: en", T0, 60, "body:en");
    expect_res(lookup(c, "http://h/v", "Accept-Language: fr", T0, &fr), CACHE_MISS,
               "fr after en was stored");
    cr_assert_neq(fr, en);
    fetch_done(c, fr, "Accept-Language", "Accept-Language: fr", T0, 60, "body:fr");
    cr_assert_eq(en->indexed, 1, "storing fr kept en");
    cr_assert_eq(nobjects(c), 2);

    for (int i = 0; i < 2; i++) {
        expect_res(lookup(c, "http://h/v", "Accept-Language: en", T0 + 1, &n), CACHE_HIT, "en");
        cr_assert_eq(n, en);
        cr_assert_str_eq(body_of(n, body, sizeof(body)), "body:en");
        obj_unref(&n);
        expect_res(lookup(c, "http://h/v", "Accept: x\naccept-language: fr", T0 + 1, &n), CACHE_HIT,
                   "fr");
        cr_assert_eq(n, fr);
        cr_assert_str_eq(body_of(n, body, sizeof(body)), "body:fr");
        obj_unref(&n);
    }
    /* no Accept-Language: a variant of its own */
    expect_res(lookup(c, "http://h/v", NULL, T0 + 1, &none), CACHE_MISS, "no Accept-Language");
    fetch_done(c, none, "Accept-Language", NULL, T0 + 1, 60, "body:none");
    expect_res(lookup(c, "http://h/v", NULL, T0 + 2, &n), CACHE_HIT, "no Accept-Language again");
    cr_assert_eq(n, none);
    obj_unref(&n);
    expect_res(lookup(c, "http://h/v", "Accept-Language: en", T0 + 2, &n), CACHE_HIT, "en again");
    cr_assert_eq(n, en);
    obj_unref(&n);

    /* refetching one variant replaces that one only */
    expect_res(
        lookup_full(c, "http://h/v", "Accept-Language: en", "no-cache", 0, 0, T0 + 3, &n, NULL),
        CACHE_MISS, "en, no-cache");
    fetch_done(c, n, "Accept-Language", "Accept-Language: en", T0 + 3, 60, "body:en2");
    cr_assert_eq(en->indexed, 0, "the new en replaced the old en");
    cr_assert_eq(fr->indexed, 1, "fr untouched");
    cr_assert_eq(none->indexed, 1, "the empty variant untouched");
    obj_unref(&n);
    expect_res(lookup(c, "http://h/v", "Accept-Language: en", T0 + 4, &n), CACHE_HIT, "new en");
    cr_assert_str_eq(body_of(n, body, sizeof(body)), "body:en2");
    obj_unref(&n);
    expect_res(lookup(c, "http://h/v", "Accept-Language: fr", T0 + 4, &n), CACHE_HIT, "fr");
    cr_assert_eq(n, fr);
    obj_unref(&n);
    cr_assert_eq(nobjects(c), 3);

    obj_unref(&en);
    obj_unref(&fr);
    obj_unref(&none);
    cache_free(&c);
}
