/* t25_cache.c - the memory cache seen through the real binary: what is stored (explicit
 * freshness, targeted CDN-/Accel-Cache-Control, heuristics, default_ttl) and what is not
 * (no-store, private, Set-Cookie, Vary: *, Authorization, other methods, too large); the cache
 * key; what a hit returns (status, body, end-to-end headers, Age, X-Cache, Cache-Status); HEAD;
 * request directives (no-cache, max-age=0, only-if-cached); Vary; the memory budget.
 *
 * Expiry is tested with responses that are stale on arrival (an origin Age beyond max-age),
 * never by sleeping. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

TestSuite(cache, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

#define KiB 1024u
#define MiB (1024u * 1024u)

static struct e2e_origin *origin;
static struct e2e_accel *accel;

/* ---- Cache-Status (RFC 9211) ----------------------------------------------------------------- */

static void expect_stored_miss(const struct e2e_resp *r, const char *what)
{
    char m[256], fwd[32];

    cr_assert_str_eq(e2e_hdr(r, "X-Cache"), "MISS", "%s: X-Cache %s, expected MISS", what,
                     e2e_hdr(r, "X-Cache"));
    cr_assert(e2e_cache_status(r, m, sizeof(m)), "%s: no accel member in Cache-Status: %s", what,
              e2e_hdr(r, "Cache-Status"));
    cr_assert(e2e_cs_param(m, "fwd", fwd, sizeof(fwd)), "%s: Cache-Status '%s' lacks fwd=", what,
              m);
    cr_assert(strcmp(fwd, "miss") == 0 || strcmp(fwd, "uri-miss") == 0,
              "%s: Cache-Status '%s': fwd=%s, expected miss or uri-miss", what, m, fwd);
    cr_assert(e2e_cs_param(m, "stored", NULL, 0), "%s: Cache-Status '%s' lacks 'stored'", what, m);
    cr_assert_not(e2e_cs_param(m, "hit", NULL, 0), "%s: Cache-Status '%s': a miss with 'hit'", what,
                  m);
}

/* Went to the origin and was not stored (whatever X-Cache says). */
static void expect_not_stored(const struct e2e_resp *r, const char *what)
{
    char m[256];

    cr_assert_str_neq(e2e_hdr(r, "X-Cache"), "HIT", "%s: X-Cache HIT", what);
    if (e2e_cache_status(r, m, sizeof(m))) {
        cr_assert_not(e2e_cs_param(m, "hit", NULL, 0), "%s: Cache-Status '%s'", what, m);
        cr_assert_not(e2e_cs_param(m, "stored", NULL, 0), "%s: Cache-Status '%s' says stored", what,
                      m);
    }
}

/* An uncacheable answer: X-Cache PASS, Cache-Status with some fwd= and without stored. */
static void expect_pass(const struct e2e_resp *r, const char *what)
{
    char m[256];

    cr_assert_str_eq(e2e_hdr(r, "X-Cache"), "PASS", "%s: X-Cache %s, expected PASS", what,
                     e2e_hdr(r, "X-Cache"));
    cr_assert(e2e_cache_status(r, m, sizeof(m)), "%s: no accel member in Cache-Status: %s", what,
              e2e_hdr(r, "Cache-Status"));
    cr_assert(e2e_cs_param(m, "fwd", NULL, 0), "%s: Cache-Status '%s' lacks fwd=", what, m);
    cr_assert_not(e2e_cs_param(m, "stored", NULL, 0), "%s: Cache-Status '%s' says stored", what, m);
    cr_assert_not(e2e_cs_param(m, "hit", NULL, 0), "%s: Cache-Status '%s' says hit", what, m);
}

/* ---- miss, then hit -------------------------------------------------------------------------- */

Test(cache, miss_then_hit_same_answer)
{
    static const char *const fields[] = {"Content-Type", "ETag", "Last-Modified", "X-Custom",
                                         "Content-Language"};
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\n"
                                      "Content-Type: text/plain; charset=utf-8\r\n"
                                      "ETag: \"v1\"\r\n"
                                      "Last-Modified: Tue, 01 Oct 2024 10:00:00 GMT\r\n"
                                      "X-Custom: kept, as is\r\n"
                                      "Content-Language: en\r\n"
                                      "Connection: X-Hop\r\n"
                                      "X-Hop: hop-by-hop\r\n"
                                      "Keep-Alive: timeout=5\r\n",
                           .body = "the body of /a, 29 bytes long"};
    struct e2e_resp miss, hit;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/a", NULL, &miss);
    cr_assert_eq(miss.status, 200);
    cr_assert_str_eq(miss.body, a.body);
    expect_stored_miss(&miss, "first GET /a");
    e2e_check_framing(&miss, "miss");

    e2e_get(accel, "/a", NULL, &hit);
    e2e_origin_saw(origin, 1, "second GET /a");
    e2e_expect_hit(&hit, 0, NULL, "second GET /a");
    cr_assert_eq(hit.status, 200);
    cr_assert_eq(hit.body_len, miss.body_len);
    cr_assert_str_eq(hit.body, a.body);
    e2e_check_framing(&hit, "hit");
    for (unsigned i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *f = fields[i];

        cr_assert_str_eq(e2e_hdr(&hit, f), e2e_hdr(&miss, f),
                         "%s on the hit: '%s', on the miss: '%s'", f, e2e_hdr(&hit, f),
                         e2e_hdr(&miss, f));
        cr_assert_eq(e2e_hdrs_count(&hit.hdrs, f), 1, "%s %u times on the hit", f,
                     e2e_hdrs_count(&hit.hdrs, f));
    }
    cr_assert_str_eq(e2e_hdr(&hit, "ETag"), "\"v1\"");
    cr_assert_str_eq(e2e_hdr(&hit, "X-Custom"), "kept, as is");
    /* hop-by-hop fields are neither forwarded nor stored */
    for (int i = 0; i < 2; i++) {
        const struct e2e_resp *r = i ? &hit : &miss;

        cr_assert_null(e2e_hdrs_get(&r->hdrs, "X-Hop"), "%s carries X-Hop",
                       i ? "the hit" : "the miss");
        cr_assert_null(e2e_hdrs_get(&r->hdrs, "Keep-Alive"), "%s carries Keep-Alive",
                       i ? "the hit" : "the miss");
        cr_assert_not(e2e_hdrs_has_token(&r->hdrs, "Connection", "X-Hop"),
                      "%s carries Connection: X-Hop", i ? "the hit" : "the miss");
    }
    /* an immediate second request: resident for 0 or 1 s */
    cr_assert(e2e_age(&hit) == 0 || e2e_age(&hit) == 1, "Age on an immediate hit: %s",
              e2e_hdr(&hit, "Age"));
    cr_assert(e2e_cs_ttl(&hit) >= 58 && e2e_cs_ttl(&hit) <= 60,
              "Cache-Status ttl %ld for max-age=60", e2e_cs_ttl(&hit));
    e2e_resp_free(&miss);
    e2e_resp_free(&hit);

    /* a third time, on another connection again: still a hit */
    e2e_get(accel, "/a", NULL, &hit);
    e2e_expect_hit(&hit, 0, NULL, "third GET /a");
    cr_assert_str_eq(hit.body, a.body);
    e2e_origin_saw(origin, 1, "third GET /a");
    e2e_resp_free(&hit);
}

Test(cache, hits_on_one_keepalive_connection)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\n", .body = "keep"};
    struct e2e_client *c;
    struct e2e_resp r;
    int rc;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(e2e_client_sends(c, "GET /k HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
        rc = e2e_client_response(c, &r, 0);
        cr_assert_eq(rc, 0, "response %d: rc %d (%s)", i, rc, r.error ? r.error : "-");
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "keep", "response %d: body '%s'", i, r.body);
        if (i == 0)
            expect_stored_miss(&r, "first GET /k");
        else
            e2e_expect_hit(&r, 0, NULL, "a later GET /k on the same connection");
        cr_assert(r.keep_alive, "response %d (X-Cache %s) closes the connection (Connection: %s)",
                  i, e2e_hdr(&r, "X-Cache"), e2e_hdr(&r, "Connection"));
        e2e_resp_free(&r);
    }
    /* pipelined: a miss and a hit in one write */
    cr_assert_eq(e2e_client_sends(c, "GET /k2 HTTP/1.1\r\nHost: h\r\n\r\n"
                                     "GET /k HTTP/1.1\r\nHost: h\r\n\r\n"),
                 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_str_eq(r.body, "hello");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_str_eq(r.body, "keep");
    e2e_expect_hit(&r, 0, NULL, "pipelined GET /k");
    e2e_origin_saw(origin, 2, "GET /k x5, GET /k2");
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(cache, large_binary_body_hit_intact)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\n"
                                      "Content-Type: application/octet-stream\r\n",
                           .pattern_len = 1 * MiB - 7};
    struct e2e_action ch = {.kind = E2E_CHUNKED,
                            .headers = "Cache-Control: max-age=60\r\n",
                            .pattern_len = 700 * KiB,
                            .chunk_size = 10000};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_origin_push(origin, &ch);
    for (int i = 0; i < 2; i++) {
        e2e_ask(accel, "GET", "h", "/bin", NULL, E2E_RESP_PATTERN, &r);
        cr_assert_eq(r.body_len, a.pattern_len, "GET /bin #%d: %llu bytes", i,
                     (unsigned long long)r.body_len);
        cr_assert_not(r.pattern_bad, "GET /bin #%d: body differs at byte %llu", i,
                      (unsigned long long)r.pattern_bad_at);
        e2e_check_framing(&r, "GET /bin");
        if (i == 1)
            e2e_expect_hit(&r, 0, NULL, "second GET /bin");
        e2e_resp_free(&r);
    }
    /* a chunked origin answer is stored as well; a hit says its length right */
    for (int i = 0; i < 2; i++) {
        e2e_ask(accel, "GET", "h", "/chunked", NULL, E2E_RESP_PATTERN, &r);
        cr_assert_eq(r.body_len, ch.pattern_len, "GET /chunked #%d: %llu bytes", i,
                     (unsigned long long)r.body_len);
        cr_assert_not(r.pattern_bad, "GET /chunked #%d: body differs at byte %llu", i,
                      (unsigned long long)r.pattern_bad_at);
        e2e_check_framing(&r, "GET /chunked");
        if (i == 1)
            e2e_expect_hit(&r, 0, NULL, "second GET /chunked");
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 2, "two URLs twice each");
}

/* ---- the key --------------------------------------------------------------------------------- */

Test(cache, key_lowercases_host_and_drops_default_port)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    e2e_ask(accel, "GET", "EXAMPLE.com", "/p", NULL, 0, &r);
    expect_stored_miss(&r, "Host: EXAMPLE.com");
    e2e_resp_free(&r);
    e2e_ask(accel, "GET", "example.com:80", "/p", NULL, 0, &r);
    e2e_expect_hit(&r, 0, NULL, "Host: example.com:80 after Host: EXAMPLE.com");
    cr_assert_str_eq(r.body, "/p");
    e2e_resp_free(&r);
    e2e_ask(accel, "GET", "example.com", "/p", NULL, 0, &r);
    e2e_expect_hit(&r, 0, NULL, "Host: example.com after Host: EXAMPLE.com");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "three spellings of one host");

    /* another port or another host is another entry */
    e2e_ask(accel, "GET", "example.com:8080", "/p", NULL, 0, &r);
    expect_stored_miss(&r, "Host: example.com:8080");
    e2e_resp_free(&r);
    e2e_ask(accel, "GET", "other.example", "/p", NULL, 0, &r);
    expect_stored_miss(&r, "Host: other.example");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "other port, other host");
    cr_assert_str_eq(e2e_hdrs_get(&e2e_origin_req(origin, 1)->hdrs, "Host"), "example.com:8080");
    cr_assert_str_eq(e2e_hdrs_get(&e2e_origin_req(origin, 2)->hdrs, "Host"), "other.example");
}

Test(cache, query_is_part_of_the_key)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    e2e_get(accel, "/q?a=1", NULL, &r);
    cr_assert_str_eq(r.body, "/q?a=1");
    expect_stored_miss(&r, "GET /q?a=1");
    e2e_resp_free(&r);
    e2e_get(accel, "/q?a=2", NULL, &r);
    cr_assert_str_eq(r.body, "/q?a=2", "GET /q?a=2 answered with %s", r.body);
    expect_stored_miss(&r, "GET /q?a=2");
    e2e_resp_free(&r);
    e2e_get(accel, "/q", NULL, &r);
    cr_assert_str_eq(r.body, "/q", "GET /q answered with %s", r.body);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "three queries");
    e2e_get(accel, "/q?a=1", NULL, &r);
    e2e_expect_hit(&r, 0, NULL, "GET /q?a=1 again");
    cr_assert_str_eq(r.body, "/q?a=1");
    e2e_resp_free(&r);
    e2e_get(accel, "/q?a=2", NULL, &r);
    e2e_expect_hit(&r, 0, NULL, "GET /q?a=2 again");
    cr_assert_str_eq(r.body, "/q?a=2");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "repeated queries");
}

/* ---- what is stored -------------------------------------------------------------------------- */

/* GET <path> twice against an origin answering <headers> (and <status>): the second must be a
 * hit with the same status and body. Returns the hit's Cache-Status ttl. */
static long stored_twice(const char *path, int status, const char *headers, const char *what)
{
    struct e2e_action a = {.status = status, .headers = headers, .body = path};
    struct e2e_resp r;
    unsigned before = e2e_origin_nreqs(origin);
    long ttl;

    e2e_origin_push(origin, &a);
    e2e_get(accel, path, NULL, &r);
    cr_assert_eq(r.status, status ? status : 200, "%s: status %d", what, r.status);
    expect_stored_miss(&r, what);
    e2e_resp_free(&r);
    e2e_get(accel, path, NULL, &r);
    e2e_expect_hit(&r, 0, NULL, what);
    cr_assert_eq(r.status, status ? status : 200, "%s: status %d on the hit", what, r.status);
    if (status != 204)
        cr_assert_str_eq(r.body, path, "%s: body '%s' on the hit", what, r.body);
    ttl = e2e_cs_ttl(&r);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, before + 1, what);
    return ttl;
}

/* GET <path> twice: both must reach the origin. */
static void not_stored_twice(const char *path, int status, const char *headers, const char *what)
{
    struct e2e_action a = {.status = status, .headers = headers, .body = path};
    struct e2e_resp r;
    unsigned before = e2e_origin_nreqs(origin);

    e2e_origin_push(origin, &a);
    e2e_origin_push(origin, &a);
    for (int i = 0; i < 2; i++) {
        e2e_get(accel, path, NULL, &r);
        cr_assert_eq(r.status, status ? status : 200, "%s: status %d", what, r.status);
        expect_not_stored(&r, what);
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, before + 2, what);
}

Test(cache, explicit_freshness_is_stored)
{
    char hdrs[256], now_s[64], exp_s[64];
    time_t now = time(NULL);
    long ttl;

    e2e_start(NULL, &origin, &accel);
    ttl = stored_twice("/max-age", 0, "Cache-Control: max-age=120\r\n", "max-age=120");
    cr_assert(ttl >= 118 && ttl <= 120, "max-age=120: ttl %ld", ttl);
    ttl = stored_twice("/s-maxage", 0, "Cache-Control: s-maxage=300, max-age=5\r\n",
                       "s-maxage=300, max-age=5");
    cr_assert(ttl >= 298 && ttl <= 300,
              "s-maxage=300 wins over max-age=5 for a shared cache: ttl %ld", ttl);
    e2e_http_date(now, now_s, sizeof(now_s));
    e2e_http_date(now + 3600, exp_s, sizeof(exp_s));
    snprintf(hdrs, sizeof(hdrs), "Date: %s\r\nExpires: %s\r\n", now_s, exp_s);
    ttl = stored_twice("/expires", 0, hdrs, "Expires in an hour");
    cr_assert(ttl >= 3590 && ttl <= 3600, "Expires = Date + 3600: ttl %ld", ttl);
    ttl = stored_twice("/public", 0, "Cache-Control: public, max-age=30\r\n", "public, max-age=30");
    cr_assert(ttl >= 28 && ttl <= 30, "max-age=30: ttl %ld", ttl);
}

Test(cache, targeted_cache_control_rfc9213)
{
    long ttl;

    e2e_start(NULL, &origin, &accel);
    ttl = stored_twice("/cdn", 0, "Cache-Control: no-store\r\nCDN-Cache-Control: max-age=60\r\n",
                       "Cache-Control: no-store + CDN-Cache-Control: max-age=60");
    cr_assert(ttl >= 58 && ttl <= 60, "CDN-Cache-Control max-age=60: ttl %ld", ttl);
    ttl = stored_twice("/accel", 0,
                       "Cache-Control: max-age=5\r\nCDN-Cache-Control: no-store\r\n"
                       "Accel-Cache-Control: max-age=90\r\n",
                       "Accel-Cache-Control: max-age=90 over CDN-Cache-Control: no-store");
    cr_assert(ttl >= 88 && ttl <= 90, "Accel-Cache-Control max-age=90: ttl %ld", ttl);
    not_stored_twice("/cdn-nostore", 0,
                     "Cache-Control: max-age=60\r\nCDN-Cache-Control: no-store\r\n",
                     "Cache-Control: max-age=60 + CDN-Cache-Control: no-store");
    not_stored_twice("/accel-private", 0,
                     "CDN-Cache-Control: max-age=60\r\nAccel-Cache-Control: private\r\n",
                     "CDN-Cache-Control: max-age=60 + Accel-Cache-Control: private");
}

Test(cache, last_modified_heuristic)
{
    char hdrs[256], now_s[64], lm_s[64];
    time_t now = time(NULL);
    long ttl;

    e2e_start(NULL, &origin, &accel);
    /* 10% of 1000 s */
    e2e_http_date(now, now_s, sizeof(now_s));
    e2e_http_date(now - 1000, lm_s, sizeof(lm_s));
    snprintf(hdrs, sizeof(hdrs), "Date: %s\r\nLast-Modified: %s\r\n", now_s, lm_s);
    ttl = stored_twice("/lm", 0, hdrs, "200 with Last-Modified 1000 s ago");
    cr_assert(ttl >= 98 && ttl <= 100, "heuristic ttl %ld, expected 100 (10%% of 1000 s)", ttl);
    ttl = stored_twice("/lm404", 404, hdrs, "404 with Last-Modified 1000 s ago");
    cr_assert(ttl >= 98 && ttl <= 100, "404: heuristic ttl %ld, expected 100", ttl);
    /* capped at one day */
    e2e_http_date(now - 30 * 86400, lm_s, sizeof(lm_s));
    snprintf(hdrs, sizeof(hdrs), "Date: %s\r\nLast-Modified: %s\r\n", now_s, lm_s);
    ttl = stored_twice("/lm-old", 0, hdrs, "Last-Modified 30 days ago");
    cr_assert(ttl >= 86398 && ttl <= 86400, "heuristic ttl %ld, expected the 1-day cap", ttl);
    /* not for a status that is not heuristically cacheable, nor without any information */
    not_stored_twice("/lm500", 500, hdrs, "500 with Last-Modified");
    not_stored_twice("/lm201", 201, hdrs, "201 with Last-Modified");
    not_stored_twice("/plain", 0, NULL, "200 without freshness information (default_ttl 0)");
}

Test(cache, default_ttl_stores_heuristically_cacheable_statuses)
{
    static const int yes[] = {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501};
    static const int no[] = {201, 302, 307, 400, 403, 500, 502, 503};
    char path[32], what[64];

    e2e_start("default_ttl 45s", &origin, &accel);
    for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        long ttl;

        snprintf(path, sizeof(path), "/s%d", yes[i]);
        snprintf(what, sizeof(what), "plain %d with default_ttl 45s", yes[i]);
        ttl = stored_twice(path, yes[i], NULL, what);
        cr_assert(ttl >= 43 && ttl <= 45, "%s: ttl %ld", what, ttl);
    }
    for (unsigned i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        snprintf(path, sizeof(path), "/n%d", no[i]);
        snprintf(what, sizeof(what), "plain %d with default_ttl 45s", no[i]);
        not_stored_twice(path, no[i], NULL, what);
    }
    /* explicit freshness still wins over default_ttl */
    cr_assert_leq(stored_twice("/explicit", 0, "Cache-Control: max-age=7\r\n", "max-age=7"), 7);
    not_stored_twice("/nostore", 0, "Cache-Control: no-store\r\n", "no-store with default_ttl");
}

/* ---- what is not stored ---------------------------------------------------------------------- */

Test(cache, uncacheable_responses_pass)
{
    static const struct {
        const char *path, *headers;
    } cases[] = {
        {"/no-store", "Cache-Control: no-store\r\n"},
        {"/no-store-max-age", "Cache-Control: max-age=60, no-store\r\n"},
        {"/private", "Cache-Control: private, max-age=60\r\n"},
        {"/cookie", "Cache-Control: max-age=60\r\nSet-Cookie: s=1; Path=/\r\n"},
        {"/vary-star", "Cache-Control: max-age=60\r\nVary: *\r\n"},
    };
    struct e2e_resp r;
    unsigned n = 0;

    e2e_start(NULL, &origin, &accel);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct e2e_action a = {.headers = cases[i].headers, .body = cases[i].path};

        for (int k = 0; k < 3; k++) {
            char what[96];

            snprintf(what, sizeof(what), "GET %s #%d", cases[i].path, k + 1);
            e2e_origin_push(origin, &a);
            e2e_get(accel, cases[i].path, NULL, &r);
            cr_assert_eq(r.status, 200);
            cr_assert_str_eq(r.body, cases[i].path, "%s: body '%s'", what, r.body);
            /* the first found it uncacheable; the others are within hit_for_miss_ttl */
            expect_pass(&r, what);
            if (strcmp(cases[i].path, "/cookie") == 0)
                cr_assert_str_eq(e2e_hdr(&r, "Set-Cookie"), "s=1; Path=/", "%s: Set-Cookie lost",
                                 what);
            e2e_resp_free(&r);
            e2e_origin_saw(origin, ++n, what);
        }
    }
}

Test(cache, request_no_store_not_stored)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    e2e_get(accel, "/r", "Cache-Control: no-store\r\n", &r);
    cr_assert_str_eq(r.body, "/r");
    expect_not_stored(&r, "GET /r with request no-store");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "request no-store");
    e2e_get(accel, "/r", NULL, &r);
    e2e_origin_saw(origin, 2, "GET /r after a request with no-store");
    expect_stored_miss(&r, "GET /r after a request with no-store");
    e2e_resp_free(&r);
    e2e_get(accel, "/r", NULL, &r);
    e2e_expect_hit(&r, 0, NULL, "third GET /r");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "third GET /r");
}

Test(cache, authorization_needs_public_s_maxage_or_must_revalidate)
{
    static const char *const auth = "Authorization: Bearer abc\r\n";
    struct e2e_action plain = {.headers = "Cache-Control: max-age=60\r\n", .body = "plain"};
    static const struct {
        const char *path, *headers;
    } ok[] = {
        {"/pub", "Cache-Control: public, max-age=60\r\n"},
        {"/smax", "Cache-Control: s-maxage=60\r\n"},
        {"/mustr", "Cache-Control: must-revalidate, max-age=60\r\n"},
    };
    struct e2e_resp r;
    unsigned n;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &plain);
    e2e_origin_push(origin, &plain);
    for (int i = 0; i < 2; i++) {
        e2e_get(accel, "/auth", auth, &r);
        cr_assert_str_eq(r.body, "plain");
        expect_not_stored(&r, "GET /auth with Authorization, max-age=60");
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 2, "GET /auth with Authorization, max-age=60, twice");
    n = 2;
    for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct e2e_action a = {.headers = ok[i].headers, .body = ok[i].path};

        e2e_origin_push(origin, &a);
        e2e_get(accel, ok[i].path, auth, &r);
        expect_stored_miss(&r, ok[i].headers);
        e2e_resp_free(&r);
        e2e_get(accel, ok[i].path, auth, &r);
        e2e_expect_hit(&r, 0, NULL, ok[i].headers);
        cr_assert_str_eq(r.body, ok[i].path);
        e2e_resp_free(&r);
        e2e_origin_saw(origin, ++n, ok[i].headers);
    }
}

/* <method> /m with the body "abc" on a new connection. */
static void send_with_body(const char *method, struct e2e_resp *r)
{
    char req[256];
    int rc;

    snprintf(req, sizeof(req), "%s /m HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", method);
    rc = e2e_request(accel->port, req, r, 0);
    cr_assert_eq(rc, 0, "%s /m: rc %d", method, rc);
    cr_assert_eq(r->status, 200, "%s /m: status %d", method, r->status);
    cr_assert_str_neq(e2e_hdr(r, "X-Cache"), "HIT", "%s /m answered from the cache", method);
}

Test(cache, other_methods_pass_through)
{
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    struct e2e_resp r;
    unsigned n = 0;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
            send_with_body(methods[i], &r);
            e2e_resp_free(&r);
            e2e_origin_saw(origin, ++n, methods[i]);
            cr_assert_str_eq(e2e_origin_req(origin, n - 1)->method, methods[i]);
            cr_assert_str_eq(e2e_origin_req(origin, n - 1)->body, "abc");
        }
    }
    /* none of them filled the cache for GET */
    e2e_get(accel, "/m", NULL, &r);
    e2e_origin_saw(origin, ++n, "GET /m after the other methods");
    expect_stored_miss(&r, "GET /m after the other methods");
    e2e_resp_free(&r);
    e2e_get(accel, "/m", NULL, &r);
    e2e_expect_hit(&r, 0, NULL, "second GET /m");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, n, "second GET /m");
    /* and a POST does not come from the cache */
    send_with_body("POST", &r);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, n + 1, "POST after GET /m was stored");
}

Test(cache, larger_than_max_object_size_delivered_not_stored)
{
    struct e2e_action big = {.headers = "Cache-Control: max-age=60\r\n", .pattern_len = 2 * MiB};
    struct e2e_action bigc = {.kind = E2E_CHUNKED,
                              .headers = "Cache-Control: max-age=60\r\n",
                              .pattern_len = 1 * MiB + 1,
                              .chunk_size = 65536};
    struct e2e_action small = {.headers = "Cache-Control: max-age=60\r\n",
                               .pattern_len = 1 * MiB - 4096};
    struct e2e_resp r;

    e2e_start("max_object_size 1m", &origin, &accel);
    e2e_origin_push(origin, &big);
    e2e_origin_push(origin, &big);
    e2e_origin_push(origin, &bigc);
    e2e_origin_push(origin, &bigc);
    e2e_origin_push(origin, &small);
    for (int i = 0; i < 2; i++) {
        e2e_ask(accel, "GET", "h", "/big", NULL, E2E_RESP_PATTERN, &r);
        cr_assert_eq(r.body_len, big.pattern_len, "GET /big #%d: %llu bytes", i + 1,
                     (unsigned long long)r.body_len);
        cr_assert_not(r.pattern_bad, "GET /big #%d: differs at %llu", i + 1,
                      (unsigned long long)r.pattern_bad_at);
        expect_not_stored(&r, "GET /big (2 MiB, max_object_size 1m)");
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 2, "GET /big twice");
    /* its length is known only at the end */
    for (int i = 0; i < 2; i++) {
        e2e_ask(accel, "GET", "h", "/bigc", NULL, E2E_RESP_PATTERN, &r);
        cr_assert_eq(r.body_len, bigc.pattern_len, "GET /bigc #%d: %llu bytes", i + 1,
                     (unsigned long long)r.body_len);
        cr_assert_not(r.pattern_bad, "GET /bigc #%d: differs at %llu", i + 1,
                      (unsigned long long)r.pattern_bad_at);
        cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT", "GET /bigc #%d: a hit", i + 1);
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 4, "GET /bigc (chunked, 1 MiB + 1) twice");
    for (int i = 0; i < 2; i++) {
        e2e_ask(accel, "GET", "h", "/small", NULL, E2E_RESP_PATTERN, &r);
        cr_assert_eq(r.body_len, small.pattern_len);
        cr_assert_not(r.pattern_bad);
        if (i == 1)
            e2e_expect_hit(&r, 0, NULL, "GET /small (just under max_object_size) again");
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 5, "GET /small twice");
}

Test(cache, cache_memory_0_turns_caching_off)
{
    struct e2e_resp r;

    e2e_start("cache_memory 0", &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    for (int i = 0; i < 3; i++) {
        e2e_get(accel, "/off", NULL, &r);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "/off");
        cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT");
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 3, "cache_memory 0, three GETs");
}

/* ---- HEAD ------------------------------------------------------------------------------------ */

Test(cache, head_on_a_cached_get_is_a_hit)
{
    /* not a compressible type: the stored bytes are the origin's (gzip has its own tests) */
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\n"
                                      "Content-Type: application/x-e2e\r\n"
                                      "ETag: \"h1\"\r\nX-Custom: c\r\n",
                           .pattern_len = 10000};
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_ask(accel, "GET", "h", "/hd", NULL, E2E_RESP_PATTERN, &r);
    cr_assert_eq(r.body_len, 10000);
    expect_stored_miss(&r, "GET /hd");
    e2e_resp_free(&r);

    /* on a keep-alive connection, so that a stray body shows up as garbage before the next */
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    cr_assert_eq(e2e_client_sends(c, "HEAD /hd HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, E2E_RESP_HEAD), 0);
    cr_assert_eq(r.status, 200);
    e2e_expect_hit(&r, 0, NULL, "HEAD /hd after GET /hd");
    cr_assert_eq(r.body_len, 0);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Length"), "10000", "HEAD: Content-Length %s",
                     e2e_hdr(&r, "Content-Length"));
    cr_assert_str_eq(e2e_hdr(&r, "Content-Type"), "application/x-e2e");
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"h1\"");
    cr_assert_str_eq(e2e_hdr(&r, "X-Custom"), "c");
    cr_assert(r.keep_alive, "the HEAD hit ends the keep-alive connection (Connection: %s)",
              e2e_hdr(&r, "Connection"));
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_sends(c, "GET /hd HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, E2E_RESP_PATTERN), 0,
                 "GET after HEAD on one connection: %s", r.error ? r.error : "-");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 10000);
    cr_assert_not(r.pattern_bad);
    e2e_expect_hit(&r, 0, NULL, "GET /hd after HEAD");
    e2e_resp_free(&r);
    e2e_client_free(&c);
    e2e_origin_saw(origin, 1, "GET, HEAD, GET");
}

Test(cache, head_miss_goes_to_origin_as_head)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\n", .body = "0123456789"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    e2e_origin_push(origin, &a);
    e2e_ask(accel, "HEAD", "h", "/hm", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 0);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Length"), "10");
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "HEAD /hm");
    cr_assert_str_eq(e2e_origin_req(origin, 0)->method, "HEAD");
    /* the HEAD answer has no body to store: a GET still goes to the origin, as GET */
    e2e_get(accel, "/hm", NULL, &r);
    e2e_origin_saw(origin, 2, "GET /hm after HEAD /hm");
    cr_assert_str_eq(e2e_origin_req(origin, 1)->method, "GET");
    cr_assert_str_eq(r.body, "/hm", "GET after HEAD: body '%s'", r.body);
    e2e_check_framing(&r, "GET /hm after HEAD");
    e2e_resp_free(&r);
    e2e_get(accel, "/hm", NULL, &r);
    e2e_expect_hit(&r, 0, NULL, "second GET /hm");
    cr_assert_str_eq(r.body, "/hm");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "second GET /hm");
}

/* ---- age and expiry -------------------------------------------------------------------------- */

Test(cache, stale_on_arrival_not_served)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nAge: 3600\r\n",
                           .body = "stale"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_origin_push(origin, &a);
    e2e_origin_push(origin, &a);
    for (int i = 0; i < 3; i++) {
        e2e_get(accel, "/stale", NULL, &r);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "stale");
        cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT", "GET /stale #%d: a stale response served",
                          i + 1);
        e2e_resp_free(&r);
        e2e_origin_saw(origin, (unsigned)i + 1, "max-age=60 with Age: 3600");
    }
}

Test(cache, age_adds_origin_age_and_residence)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=600\r\nAge: 100\r\n", .body = "aged"};
    struct e2e_resp r;
    long age, ttl;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/aged", NULL, &r);
    expect_stored_miss(&r, "GET /aged");
    age = e2e_age(&r);
    cr_assert(age == 100 || age == 101, "Age on the miss: %s (the origin said 100)",
              e2e_hdr(&r, "Age"));
    e2e_resp_free(&r);
    e2e_get(accel, "/aged", NULL, &r);
    e2e_expect_hit(&r, 0, NULL, "GET /aged again");
    age = e2e_age(&r);
    ttl = e2e_cs_ttl(&r);
    cr_assert(age == 100 || age == 101, "Age on the hit: %s, expected 100 or 101",
              e2e_hdr(&r, "Age"));
    cr_assert_eq(e2e_hdrs_count(&r.hdrs, "Age"), 1);
    cr_assert(ttl >= 498 && ttl <= 500, "ttl %ld, expected 600 - 100", ttl);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "GET /aged twice");
}

/* ---- request directives ---------------------------------------------------------------------- */

Test(cache, request_no_cache_and_max_age_0_go_to_origin)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    e2e_get(accel, "/nc", NULL, &r);
    e2e_resp_free(&r);
    e2e_get(accel, "/nc", NULL, &r);
    e2e_expect_hit(&r, 0, NULL, "GET /nc");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "GET /nc twice");
    e2e_get(accel, "/nc", "Cache-Control: no-cache\r\n", &r);
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT", "request no-cache answered from the cache");
    cr_assert_str_eq(r.body, "/nc");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /nc with Cache-Control: no-cache");
    e2e_get(accel, "/nc", "Cache-Control: max-age=0\r\n", &r);
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT", "request max-age=0 answered from the cache");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "GET /nc with Cache-Control: max-age=0");
    /* a plain request is a hit again */
    e2e_get(accel, "/nc", NULL, &r);
    e2e_expect_hit(&r, 0, NULL, "plain GET /nc after the reloads");
    cr_assert_str_eq(r.body, "/nc");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "plain GET /nc after the reloads");
}

Test(cache, ignore_client_no_cache)
{
    struct e2e_resp r;

    e2e_start("ignore_client_no_cache on", &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    e2e_get(accel, "/inc", NULL, &r);
    expect_stored_miss(&r, "GET /inc");
    e2e_resp_free(&r);
    e2e_get(accel, "/inc", "Cache-Control: no-cache\r\n", &r);
    e2e_expect_hit(&r, 0, NULL, "no-cache with ignore_client_no_cache on");
    cr_assert_str_eq(r.body, "/inc");
    e2e_resp_free(&r);
    e2e_get(accel, "/inc", "Cache-Control: max-age=0\r\n", &r);
    e2e_expect_hit(&r, 0, NULL, "max-age=0 with ignore_client_no_cache on");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "ignore_client_no_cache on");
}

Test(cache, only_if_cached)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, "Cache-Control: max-age=60\r\n");
    e2e_get(accel, "/oic", "Cache-Control: only-if-cached\r\n", &r);
    cr_assert_eq(r.status, 504, "only-if-cached on a URL not cached: status %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 0, "only-if-cached reached the origin");
    e2e_get(accel, "/oic", NULL, &r);
    expect_stored_miss(&r, "GET /oic");
    e2e_resp_free(&r);
    e2e_get(accel, "/oic", "Cache-Control: only-if-cached\r\n", &r);
    cr_assert_eq(r.status, 200, "only-if-cached on a cached URL: status %d", r.status);
    e2e_expect_hit(&r, 0, NULL, "only-if-cached on a cached URL");
    cr_assert_str_eq(r.body, "/oic");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "only-if-cached");
}

/* ---- Vary ------------------------------------------------------------------------------------ */

static void by_language(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    const char *lang = e2e_hdrs_get(&req->hdrs, "Accept-Language");

    (void)arg;
    act->headers = "Cache-Control: max-age=60\r\nVary: Accept-Language\r\n";
    if (lang == NULL)
        act->body = "body:none";
    else if (strcmp(lang, "en") == 0)
        act->body = "body:en";
    else if (strcmp(lang, "fr") == 0)
        act->body = "body:fr";
    else
        act->body = "body:other";
}

Test(cache, vary_stores_one_variant_per_value)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, by_language, NULL);
    e2e_get(accel, "/v", "Accept-Language: en\r\n", &r);
    cr_assert_str_eq(r.body, "body:en");
    expect_stored_miss(&r, "Accept-Language: en");
    cr_assert(e2e_hdrs_has_token(&r.hdrs, "Vary", "Accept-Language"));
    e2e_resp_free(&r);
    e2e_get(accel, "/v", "Accept-Language: fr\r\n", &r);
    cr_assert_str_eq(r.body, "body:fr", "Accept-Language: fr got '%s'", r.body);
    expect_stored_miss(&r, "Accept-Language: fr");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "en, fr");
    for (int i = 0; i < 2; i++) {
        e2e_get(accel, "/v", "Accept-Language: en\r\n", &r);
        e2e_expect_hit(&r, 0, NULL, "Accept-Language: en again");
        cr_assert_str_eq(r.body, "body:en", "Accept-Language: en again got '%s'", r.body);
        cr_assert(e2e_hdrs_has_token(&r.hdrs, "Vary", "Accept-Language"));
        e2e_resp_free(&r);
        e2e_get(accel, "/v", "Accept-Language: fr\r\n", &r);
        e2e_expect_hit(&r, 0, NULL, "Accept-Language: fr again");
        cr_assert_str_eq(r.body, "body:fr", "Accept-Language: fr again got '%s'", r.body);
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 2, "en, fr, then en, fr twice");
    /* no Accept-Language at all is a variant of its own, never en or fr */
    e2e_get(accel, "/v", NULL, &r);
    cr_assert_str_eq(r.body, "body:none", "no Accept-Language got '%s'", r.body);
    e2e_resp_free(&r);
    e2e_get(accel, "/v", "Accept-Language: de\r\n", &r);
    cr_assert_str_eq(r.body, "body:other", "Accept-Language: de got '%s'", r.body);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 4, "none, de");
}

/* ---- the memory budget ----------------------------------------------------------------------- */

#define MEM_URLS 200
#define MEM_SIZE (64u * KiB)

static char *mem_bodies[MEM_URLS];

/* /m<i>: 64 KiB that start with the path, so that a body served for the wrong URL shows. */
static void mem_body(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    char *end;
    long i;

    (void)arg;
    if (strncmp(req->target, "/m", 2) != 0)
        return; /* "hello", not stored */
    i = strtol(req->target + 2, &end, 10);
    if (end == req->target + 2 || *end != '\0' || i < 0 || i >= MEM_URLS) {
        act->status = 404;
        return;
    }
    act->headers = "Cache-Control: max-age=600\r\n";
    act->body = mem_bodies[i];
    act->body_len = MEM_SIZE;
}

static void mem_get(int i, struct e2e_resp *r)
{
    char path[32];

    snprintf(path, sizeof(path), "/m%d", i);
    e2e_get(accel, path, NULL, r);
    cr_assert_eq(r->status, 200, "GET %s: %d", path, r->status);
    cr_assert_eq(r->body_len, MEM_SIZE, "GET %s: %llu bytes", path,
                 (unsigned long long)r->body_len);
    cr_assert_eq(memcmp(r->body, mem_bodies[i], MEM_SIZE), 0, "GET %s: wrong body", path);
}

Test(cache, memory_budget_evicts_oldest)
{
    struct e2e_resp r;
    long base, rss, peak = 0;
    unsigned n;

    for (int i = 0; i < MEM_URLS; i++) {
        mem_bodies[i] = malloc(MEM_SIZE);
        memset(mem_bodies[i], 'a' + i % 26, MEM_SIZE);
        snprintf(mem_bodies[i], 32, "/m%d:", i);
    }
    e2e_start("cache_memory 4m", &origin, &accel);
    e2e_origin_set_handler(origin, mem_body, NULL);
    e2e_get(accel, "/warm", NULL, &r); /* the connection machinery is in the baseline */
    e2e_resp_free(&r);
    base = e2e_accel_rss_kb(accel);
    cr_assert_gt(base, 0);
    for (int i = 0; i < MEM_URLS; i++) {
        mem_get(i, &r);
        cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT", "/m%d is new", i);
        e2e_resp_free(&r);
        if (i % 10 == 9) {
            rss = e2e_accel_rss_kb(accel);
            if (rss > peak)
                peak = rss;
        }
    }
    n = MEM_URLS + 1;
    e2e_origin_saw(origin, n, "200 distinct URLs");
    cr_log_info("cache_memory 4m, 200 x 64 KiB: accel RSS %ld -> %ld KiB", base, peak);
#if !defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's quarantine and shadow memory make RSS meaningless */
    cr_assert_lt(peak - base, (4 + 16) * 1024, "accel RSS grew from %ld KiB to %ld KiB", base,
                 peak);
#endif

    /* the most recent ones are hits (no origin request) */
    for (int i = MEM_URLS - 1; i >= MEM_URLS - 4; i--) {
        mem_get(i, &r);
        e2e_expect_hit(&r, 0, NULL, "one of the 4 most recent URLs");
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, n, "the 4 most recent URLs again");
    /* the oldest are gone: 12.5 MiB went through a 4 MiB budget */
    for (int i = 0; i < 5; i++) {
        mem_get(i, &r);
        cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT", "/m%d: still cached after 12.5 MiB", i);
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, n + 5, "the 5 oldest URLs again");
    for (int i = 0; i < MEM_URLS; i++)
        free(mem_bodies[i]);
}
