/* t26_cache_http.c - HTTP semantics the cache answers itself, through the real binary: client
 * conditionals (If-None-Match, If-Modified-Since) answered with 304 from a fresh stored entry;
 * byte ranges (206, 416, If-Range) served from a complete stored entry, across chunk boundaries
 * and for HEAD; the whole representation fetched on a miss whatever the client asked; RFC 9111
 * §4.4 invalidation by successful unsafe requests (target, Location, Content-Location); and the
 * plain proxy with cache_memory 0, which passes conditionals and ranges to the origin. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

TestSuite(cache_http, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

#define KiB 1024u
#define MiB (1024u * 1024u)

static struct e2e_origin *origin;
static struct e2e_accel *accel;

/* A 304: no body, the stored ETag, no Content-Range. */
static void expect_304(const struct e2e_resp *r, const char *etag, const char *what)
{
    cr_assert_eq(r->status, 304, "%s: status %d, expected 304", what, r->status);
    cr_assert_eq(r->body_len, 0, "%s: a 304 with %llu body bytes", what,
                 (unsigned long long)r->body_len);
    if (etag != NULL)
        cr_assert_str_eq(e2e_hdr(r, "ETag"), etag, "%s: ETag %s on the 304, expected %s", what,
                         e2e_hdr(r, "ETag"), etag);
    cr_assert_null(e2e_hdrs_get(&r->hdrs, "Transfer-Encoding"), "%s: a 304 with TE", what);
    cr_assert_null(e2e_hdrs_get(&r->hdrs, "Content-Range"), "%s: a 304 with Content-Range", what);
    cr_assert_leq(e2e_hdrs_count(&r->hdrs, "Content-Length"), 1, "%s: %u Content-Length fields",
                  what, e2e_hdrs_count(&r->hdrs, "Content-Length"));
}

/* A full 200 with body <body>. */
static void expect_full(const struct e2e_resp *r, const char *body, const char *what)
{
    cr_assert_eq(r->status, 200, "%s: status %d, expected 200", what, r->status);
    cr_assert_str_eq(r->body, body, "%s: body '%s', expected '%s'", what, r->body, body);
    cr_assert_eq(r->body_len, strlen(body), "%s: %llu body bytes", what,
                 (unsigned long long)r->body_len);
    cr_assert_null(e2e_hdrs_get(&r->hdrs, "Content-Range"), "%s: a 200 with Content-Range %s", what,
                   e2e_hdr(r, "Content-Range"));
    e2e_check_framing(r, what);
}

/* A 206 of [first, last] of a <len>-byte representation whose bytes are <full>. */
static void expect_206(const struct e2e_resp *r, const char *full, uint64_t len, uint64_t first,
                       uint64_t last, const char *what)
{
    char cr[96], cl[32];

    snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
             (unsigned long long)last, (unsigned long long)len);
    snprintf(cl, sizeof(cl), "%llu", (unsigned long long)(last - first + 1));
    cr_assert_eq(r->status, 206, "%s: status %d, expected 206", what, r->status);
    cr_assert_str_eq(e2e_hdr(r, "Content-Range"), cr, "%s: Content-Range %s, expected %s", what,
                     e2e_hdr(r, "Content-Range"), cr);
    cr_assert_str_eq(e2e_hdr(r, "Content-Length"), cl, "%s: Content-Length %s, expected %s", what,
                     e2e_hdr(r, "Content-Length"), cl);
    cr_assert_eq(e2e_hdrs_count(&r->hdrs, "Content-Length"), 1, "%s: %u Content-Length fields",
                 what, e2e_hdrs_count(&r->hdrs, "Content-Length"));
    cr_assert_eq(e2e_hdrs_count(&r->hdrs, "Content-Range"), 1, "%s: %u Content-Range fields", what,
                 e2e_hdrs_count(&r->hdrs, "Content-Range"));
    cr_assert_null(e2e_hdrs_get(&r->hdrs, "Transfer-Encoding"), "%s: a 206 with TE", what);
    cr_assert_eq(r->body_len, last - first + 1, "%s: %llu body bytes, expected %llu", what,
                 (unsigned long long)r->body_len, (unsigned long long)(last - first + 1));
    if (full != NULL)
        cr_assert(memcmp(r->body, full + first, (size_t)(last - first + 1)) == 0,
                  "%s: body '%s', expected '%.*s'", what, r->body, (int)(last - first + 1),
                  full + first);
    else
        cr_assert(e2e_pattern_check(first, r->body, (size_t)r->body_len),
                  "%s: the body is not the pattern from %llu", what, (unsigned long long)first);
}

/* The <i>-th request the origin received must not carry <name>. */
static void origin_lacks(unsigned i, const char *name, const char *what)
{
    const struct e2e_req *q = e2e_origin_req(origin, i);

    cr_assert_not_null(q, "%s: no origin request %u", what, i);
    cr_assert_null(e2e_hdrs_get(&q->hdrs, name),
                   "%s: the origin got %s: %s (accel should fetch the whole representation)", what,
                   name, e2e_hdrs_get(&q->hdrs, name));
}

/* The <i>-th request the origin received carries <name> with value <value>. */
static void origin_has(unsigned i, const char *name, const char *value, const char *what)
{
    const struct e2e_req *q = e2e_origin_req(origin, i);
    const char *v;

    cr_assert_not_null(q, "%s: no origin request %u", what, i);
    v = e2e_hdrs_get(&q->hdrs, name);
    cr_assert_not_null(v, "%s: the origin did not get %s", what, name);
    cr_assert_str_eq(v, value, "%s: the origin got %s: %s, expected %s", what, name, v, value);
}

/* ---- client conditionals on a fresh stored entry --------------------------------------------- */

#define CBODY "the conditional body"

Test(cache_http, if_none_match_from_stored)
{
    static const char *const match[] = {
        "If-None-Match: \"v1\"\r\n",
        "If-None-Match: W/\"v1\"\r\n",
        "If-None-Match: \"x\", \"v1\"\r\n",
        "If-None-Match: *\r\n",
    };
    static const char *const nomatch[] = {
        "If-None-Match: \"v2\"\r\n",
        "If-None-Match: \"x\", \"y\"\r\n",
        "If-None-Match: v1\r\n",
    };
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nETag: \"v1\"\r\n"
                                      "Content-Type: text/plain\r\n",
                           .body = CBODY};
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/c", NULL, &r);
    expect_full(&r, CBODY, "GET /c");
    e2e_expect_xcache(&r, "MISS", "GET /c");
    e2e_resp_free(&r);

    for (size_t i = 0; i < sizeof(match) / sizeof(match[0]); i++) {
        e2e_get(accel, "/c", match[i], &r);
        expect_304(&r, "\"v1\"", match[i]);
        e2e_expect_hit(&r, 0, NULL, match[i]);
        e2e_resp_free(&r);
    }
    for (size_t i = 0; i < sizeof(nomatch) / sizeof(nomatch[0]); i++) {
        e2e_get(accel, "/c", nomatch[i], &r);
        expect_full(&r, CBODY, nomatch[i]);
        e2e_expect_hit(&r, 0, NULL, nomatch[i]);
        cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"v1\"");
        e2e_resp_free(&r);
    }
    /* If-None-Match is evaluated before Range */
    e2e_get(accel, "/c", "If-None-Match: \"v1\"\r\nRange: bytes=0-3\r\n", &r);
    expect_304(&r, "\"v1\"", "If-None-Match matching with a Range");
    e2e_resp_free(&r);
    e2e_get(accel, "/c", "If-None-Match: \"v2\"\r\nRange: bytes=0-3\r\n", &r);
    expect_206(&r, CBODY, strlen(CBODY), 0, 3, "If-None-Match not matching with a Range");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "conditionals on a stored entry");

    /* a stored 404 is not "not modified": its validators do not make a 304 */
    {
        struct e2e_action nf = {.status = 404,
                                .headers = "Cache-Control: max-age=60\r\nETag: \"n1\"\r\n",
                                .body = "not found"};

        e2e_origin_push(origin, &nf);
        e2e_get(accel, "/c404", NULL, &r);
        cr_assert_eq(r.status, 404);
        e2e_resp_free(&r);
        e2e_get(accel, "/c404", "If-None-Match: \"n1\"\r\n", &r);
        cr_assert_eq(r.status, 404, "If-None-Match on a stored 404: status %d", r.status);
        cr_assert_str_eq(r.body, "not found");
        e2e_expect_hit(&r, 0, NULL, "If-None-Match on a stored 404");
        e2e_resp_free(&r);
        e2e_get(accel, "/c404", "Range: bytes=0-2\r\n", &r);
        cr_assert_eq(r.status, 404, "Range on a stored 404: status %d", r.status);
        cr_assert_str_eq(r.body, "not found");
        cr_assert_null(e2e_hdrs_get(&r.hdrs, "Content-Range"));
        e2e_resp_free(&r);
        e2e_origin_saw(origin, 2, "conditionals on a stored 404");
    }

    /* a 304 on a keep-alive connection, then a full answer: no stray bytes between them */
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    cr_assert_eq(e2e_client_sends(c, "GET /c HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"v1\"\r\n\r\n"
                                     "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
                 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0, "pipelined 304: %s", r.error ? r.error : "-");
    expect_304(&r, "\"v1\"", "pipelined If-None-Match");
    cr_assert(r.keep_alive, "the 304 closes the connection (Connection: %s)",
              e2e_hdr(&r, "Connection"));
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0, "GET after a 304: %s", r.error ? r.error : "-");
    expect_full(&r, CBODY, "GET after a 304 on the same connection");
    e2e_expect_hit(&r, 0, NULL, "GET after a 304 on the same connection");
    e2e_resp_free(&r);
    e2e_client_free(&c);
    e2e_origin_saw(origin, 2, "pipelined 304 and 200");
}

Test(cache_http, if_modified_since_from_stored)
{
    char hdrs[256], lm[64], at[64], after[64], before[64], future[64], req[128];
    time_t now = time(NULL);
    struct e2e_action a = {.headers = hdrs, .body = CBODY};
    struct e2e_resp r;

    e2e_http_date(now - 1000, lm, sizeof(lm));
    e2e_http_date(now - 1000, at, sizeof(at));
    e2e_http_date(now - 500, after, sizeof(after));
    e2e_http_date(now - 1001, before, sizeof(before));
    e2e_http_date(now + 86400, future, sizeof(future));
    snprintf(hdrs, sizeof(hdrs),
             "Cache-Control: max-age=60\r\nETag: \"m\"\r\nLast-Modified: %s\r\n", lm);
    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/ims", NULL, &r);
    expect_full(&r, CBODY, "GET /ims");
    e2e_resp_free(&r);

    snprintf(req, sizeof(req), "If-Modified-Since: %s\r\n", at);
    e2e_get(accel, "/ims", req, &r);
    expect_304(&r, "\"m\"", "If-Modified-Since = Last-Modified");
    e2e_expect_hit(&r, 0, NULL, "If-Modified-Since = Last-Modified");
    e2e_resp_free(&r);

    snprintf(req, sizeof(req), "If-Modified-Since: %s\r\n", after);
    e2e_get(accel, "/ims", req, &r);
    expect_304(&r, "\"m\"", "If-Modified-Since after Last-Modified");
    e2e_expect_hit(&r, 0, NULL, "If-Modified-Since after Last-Modified");
    e2e_resp_free(&r);

    snprintf(req, sizeof(req), "If-Modified-Since: %s\r\n", before);
    e2e_get(accel, "/ims", req, &r);
    expect_full(&r, CBODY, "If-Modified-Since one second before Last-Modified");
    e2e_expect_hit(&r, 0, NULL, "If-Modified-Since before Last-Modified");
    e2e_resp_free(&r);

    snprintf(req, sizeof(req), "If-Modified-Since: %s\r\n", future);
    e2e_get(accel, "/ims", req, &r);
    expect_full(&r, CBODY, "If-Modified-Since a day in the future (invalid)");
    e2e_resp_free(&r);

    e2e_get(accel, "/ims", "If-Modified-Since: not a date\r\n", &r);
    expect_full(&r, CBODY, "If-Modified-Since: not a date");
    e2e_resp_free(&r);

    /* If-None-Match takes precedence over If-Modified-Since */
    snprintf(req, sizeof(req), "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", at);
    e2e_get(accel, "/ims", req, &r);
    expect_full(&r, CBODY, "If-None-Match not matching, If-Modified-Since matching");
    e2e_resp_free(&r);
    snprintf(req, sizeof(req), "If-None-Match: \"m\"\r\nIf-Modified-Since: %s\r\n", before);
    e2e_get(accel, "/ims", req, &r);
    expect_304(&r, "\"m\"", "If-None-Match matching, If-Modified-Since not");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "If-Modified-Since on a stored entry");
}

Test(cache_http, miss_fetches_the_whole_representation)
{
    char hdrs[256], lm[64], req[192];
    time_t now = time(NULL);
    struct e2e_action a = {.headers = hdrs, .body = "0123456789abcdefghijklmnopqrstuvwxyz"};
    const char *full = a.body;
    struct e2e_resp r;

    e2e_http_date(now - 1000, lm, sizeof(lm));
    snprintf(hdrs, sizeof(hdrs),
             "Cache-Control: max-age=60\r\nETag: \"w1\"\r\nLast-Modified: %s\r\n", lm);
    e2e_start(NULL, &origin, &accel);
    for (int i = 0; i < 4; i++)
        e2e_origin_push(origin, &a);

    /* If-None-Match on a cold key */
    e2e_get(accel, "/w1", "If-None-Match: \"w1\"\r\n", &r);
    e2e_origin_saw(origin, 1, "If-None-Match, cold");
    origin_lacks(0, "If-None-Match", "If-None-Match, cold");
    cr_log_info("If-None-Match on a cold key: the client got %d", r.status);
    cr_assert_str_eq(e2e_origin_req(origin, 0)->method, "GET");
    if (r.status == 304)
        expect_304(&r, "\"w1\"", "If-None-Match, cold");
    else
        expect_full(&r, full, "If-None-Match, cold (the origin sent all of it)");
    e2e_resp_free(&r);
    e2e_get(accel, "/w1", "If-None-Match: \"w1\"\r\n", &r);
    expect_304(&r, "\"w1\"", "If-None-Match again");
    e2e_expect_hit(&r, 0, NULL, "If-None-Match again");
    e2e_resp_free(&r);
    e2e_get(accel, "/w1", NULL, &r);
    expect_full(&r, full, "plain GET after If-None-Match");
    e2e_expect_hit(&r, 0, NULL, "plain GET after If-None-Match");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "If-None-Match, then again, then plain");

    /* If-Modified-Since on a cold key */
    snprintf(req, sizeof(req), "If-Modified-Since: %s\r\n", lm);
    e2e_get(accel, "/w2", req, &r);
    e2e_origin_saw(origin, 2, "If-Modified-Since, cold");
    origin_lacks(1, "If-Modified-Since", "If-Modified-Since, cold");
    cr_log_info("If-Modified-Since on a cold key: the client got %d", r.status);
    if (r.status == 304)
        expect_304(&r, "\"w1\"", "If-Modified-Since, cold");
    else
        expect_full(&r, full, "If-Modified-Since, cold");
    e2e_resp_free(&r);
    e2e_get(accel, "/w2", req, &r);
    expect_304(&r, "\"w1\"", "If-Modified-Since again");
    e2e_expect_hit(&r, 0, NULL, "If-Modified-Since again");
    e2e_resp_free(&r);

    /* Range on a cold key */
    e2e_get(accel, "/w3", "Range: bytes=0-4\r\n", &r);
    e2e_origin_saw(origin, 3, "Range, cold");
    origin_lacks(2, "Range", "Range, cold");
    cr_log_info("Range on a cold key: the client got %d", r.status);
    if (r.status == 206)
        expect_206(&r, full, 36, 0, 4, "Range, cold");
    else
        expect_full(&r, full, "Range, cold");
    e2e_resp_free(&r);
    e2e_get(accel, "/w3", "Range: bytes=0-4\r\n", &r);
    expect_206(&r, full, 36, 0, 4, "Range again");
    e2e_expect_hit(&r, 0, NULL, "Range again");
    e2e_resp_free(&r);
    e2e_get(accel, "/w3", NULL, &r);
    expect_full(&r, full, "plain GET after Range");
    e2e_expect_hit(&r, 0, NULL, "plain GET after Range");
    e2e_resp_free(&r);

    /* Range with If-Range on a cold key */
    e2e_get(accel, "/w4", "Range: bytes=-6\r\nIf-Range: \"w1\"\r\n", &r);
    e2e_origin_saw(origin, 4, "Range + If-Range, cold");
    origin_lacks(3, "Range", "Range + If-Range, cold");
    origin_lacks(3, "If-Range", "Range + If-Range, cold");
    cr_log_info("Range + If-Range on a cold key: the client got %d", r.status);
    if (r.status == 206)
        expect_206(&r, full, 36, 30, 35, "Range + If-Range, cold");
    else
        expect_full(&r, full, "Range + If-Range, cold");
    e2e_resp_free(&r);
    e2e_get(accel, "/w4", "Range: bytes=-6\r\nIf-Range: \"w1\"\r\n", &r);
    expect_206(&r, full, 36, 30, 35, "Range + If-Range again");
    e2e_expect_hit(&r, 0, NULL, "Range + If-Range again");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 4, "four cold keys with conditionals and ranges");
}

/* ---- ranges on a complete stored entry ------------------------------------------------------- */

#define RBODY "0123456789abcdefghijklmnopqrstuvwxyz" /* 36 bytes */
#define RLEN  36

static void store_rbody(const char *path)
{
    char hdrs[256], lm[64];
    struct e2e_action a = {.headers = hdrs, .body = RBODY};
    struct e2e_resp r;

    e2e_http_date(time(NULL) - 1000, lm, sizeof(lm));
    snprintf(hdrs, sizeof(hdrs),
             "Cache-Control: max-age=60\r\nETag: \"r1\"\r\nLast-Modified: %s\r\n", lm);
    e2e_origin_push(origin, &a);
    e2e_get(accel, path, NULL, &r);
    expect_full(&r, RBODY, "GET to store");
    e2e_expect_xcache(&r, "MISS", "GET to store");
    e2e_resp_free(&r);
}

Test(cache_http, ranges_on_stored)
{
    static const struct {
        const char *range;
        unsigned first, last;
    } ok[] = {
        {"bytes=0-9", 0, 9},   {"bytes=31-", 31, 35}, /* <len-5>- */
        {"bytes=-5", 31, 35},  {"bytes=10-20", 10, 20},   {"bytes=35-35", 35, 35},
        {"bytes=0-", 0, 35},   {"bytes=30-1000", 30, 35}, /* last beyond the length */
        {"bytes=-100", 0, 35},                            /* suffix longer than the length */
    };
    char req[128];
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    store_rbody("/r");
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(req, sizeof(req), "Range: %s\r\n", ok[i].range);
        e2e_get(accel, "/r", req, &r);
        expect_206(&r, RBODY, RLEN, ok[i].first, ok[i].last, ok[i].range);
        e2e_expect_hit(&r, 0, NULL, ok[i].range);
        cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"r1\"", "%s: ETag %s", ok[i].range,
                         e2e_hdr(&r, "ETag"));
        e2e_resp_free(&r);
    }

    /* first beyond the length: 416 with the length */
    e2e_get(accel, "/r", "Range: bytes=36-\r\n", &r);
    cr_assert_eq(r.status, 416, "bytes=36- on 36 bytes: status %d, expected 416", r.status);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Range"), "bytes */36", "416: Content-Range %s",
                     e2e_hdr(&r, "Content-Range"));
    e2e_check_framing(&r, "416");
    e2e_resp_free(&r);
    e2e_get(accel, "/r", "Range: bytes=1000-2000\r\n", &r);
    cr_assert_eq(r.status, 416, "bytes=1000-2000: status %d", r.status);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Range"), "bytes */36");
    e2e_resp_free(&r);

    /* ignored: the whole answer */
    e2e_get(accel, "/r", "Range: bytes=0-1,5-6\r\n", &r);
    expect_full(&r, RBODY, "several ranges");
    e2e_expect_hit(&r, 0, NULL, "several ranges");
    e2e_resp_free(&r);
    e2e_get(accel, "/r", "Range: items=0-9\r\n", &r);
    expect_full(&r, RBODY, "another unit");
    e2e_resp_free(&r);
    e2e_get(accel, "/r", "Range: bytes=9-3\r\n", &r);
    expect_full(&r, RBODY, "last before first");
    e2e_resp_free(&r);

    /* If-Range */
    e2e_get(accel, "/r", "Range: bytes=0-9\r\nIf-Range: \"r1\"\r\n", &r);
    expect_206(&r, RBODY, RLEN, 0, 9, "If-Range with the ETag");
    e2e_resp_free(&r);
    e2e_get(accel, "/r", "Range: bytes=0-9\r\nIf-Range: \"r0\"\r\n", &r);
    expect_full(&r, RBODY, "If-Range with another ETag");
    e2e_resp_free(&r);
    e2e_get(accel, "/r", "Range: bytes=0-9\r\nIf-Range: W/\"r1\"\r\n", &r);
    expect_full(&r, RBODY, "If-Range with a weak ETag");
    e2e_resp_free(&r);
    e2e_get(accel, "/r", "Range: bytes=36-\r\nIf-Range: \"r0\"\r\n", &r);
    expect_full(&r, RBODY, "unsatisfiable Range with another If-Range ETag");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "ranges on a stored entry");
}

Test(cache_http, ranges_pipelined_on_one_connection)
{
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    store_rbody("/rp");
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    cr_assert_eq(e2e_client_sends(c, "GET /rp HTTP/1.1\r\nHost: h\r\nRange: bytes=5-9\r\n\r\n"
                                     "GET /rp HTTP/1.1\r\nHost: h\r\nRange: bytes=99-\r\n\r\n"
                                     "HEAD /rp HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n"
                                     "GET /rp HTTP/1.1\r\nHost: h\r\nRange: bytes=-3\r\n\r\n"
                                     "GET /rp HTTP/1.1\r\nHost: h\r\n\r\n"),
                 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0, "206: %s", r.error ? r.error : "-");
    expect_206(&r, RBODY, RLEN, 5, 9, "pipelined bytes=5-9");
    cr_assert(r.keep_alive);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0, "416: %s", r.error ? r.error : "-");
    cr_assert_eq(r.status, 416, "pipelined bytes=99-: status %d", r.status);
    cr_assert(r.keep_alive, "the 416 closes the connection");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, E2E_RESP_HEAD), 0, "HEAD 206: %s",
                 r.error ? r.error : "-");
    cr_assert_eq(r.status, 206, "HEAD with Range: status %d", r.status);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Range"), "bytes 0-9/36");
    cr_assert_str_eq(e2e_hdr(&r, "Content-Length"), "10", "HEAD with Range: Content-Length %s",
                     e2e_hdr(&r, "Content-Length"));
    cr_assert_eq(r.body_len, 0);
    e2e_expect_hit(&r, 0, NULL, "HEAD with Range");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0, "206 after HEAD: %s", r.error ? r.error : "-");
    expect_206(&r, RBODY, RLEN, 33, 35, "bytes=-3 after a HEAD (a stray body would show here)");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0, "200: %s", r.error ? r.error : "-");
    expect_full(&r, RBODY, "plain GET after the ranges");
    e2e_resp_free(&r);
    e2e_client_free(&c);
    e2e_origin_saw(origin, 1, "pipelined ranges");
}

Test(cache_http, range_across_chunks_of_a_large_object)
{
    static const struct {
        uint64_t first, last;
    } ranges[] = {
        {100000, 900000},        {0, 16383},         {16383, 16384}, {65535, 65536 + 65521},
        {MiB - 100000, MiB - 1}, {MiB - 1, MiB - 1},
    };
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nETag: \"big\"\r\n",
                           .pattern_len = MiB};
    char req[128];
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_ask(accel, "GET", "h", "/big", NULL, E2E_RESP_PATTERN, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, MiB);
    cr_assert_not(r.pattern_bad, "GET /big: differs at %llu", (unsigned long long)r.pattern_bad_at);
    e2e_resp_free(&r);

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        char what[96];

        snprintf(req, sizeof(req), "Range: bytes=%llu-%llu\r\n",
                 (unsigned long long)ranges[i].first, (unsigned long long)ranges[i].last);
        snprintf(what, sizeof(what), "1 MiB, bytes=%llu-%llu", (unsigned long long)ranges[i].first,
                 (unsigned long long)ranges[i].last);
        e2e_get(accel, "/big", req, &r);
        expect_206(&r, NULL, MiB, ranges[i].first, ranges[i].last, what);
        e2e_expect_hit(&r, 0, NULL, what);
        e2e_resp_free(&r);
    }
    e2e_get(accel, "/big", "Range: bytes=-100001\r\n", &r);
    expect_206(&r, NULL, MiB, MiB - 100001, MiB - 1, "1 MiB, bytes=-100001");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "ranges of a large object");
}

Test(cache_http, head_with_range_on_stored)
{
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    store_rbody("/hr");
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    cr_assert_eq(e2e_client_sends(c, "HEAD /hr HTTP/1.1\r\nHost: h\r\nRange: bytes=10-19\r\n\r\n"),
                 0);
    cr_assert_eq(e2e_client_response(c, &r, E2E_RESP_HEAD), 0, "HEAD: %s", r.error ? r.error : "-");
    cr_assert_eq(r.status, 206, "HEAD with Range: status %d, expected 206", r.status);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Range"), "bytes 10-19/36", "HEAD: Content-Range %s",
                     e2e_hdr(&r, "Content-Range"));
    cr_assert_str_eq(e2e_hdr(&r, "Content-Length"), "10", "HEAD: Content-Length %s",
                     e2e_hdr(&r, "Content-Length"));
    cr_assert_eq(r.body_len, 0);
    e2e_expect_hit(&r, 0, NULL, "HEAD with Range");
    cr_assert(r.keep_alive, "the HEAD closes the connection");
    e2e_resp_free(&r);
    /* no body followed the head: the next answer parses from its first byte */
    cr_assert_eq(e2e_client_sends(c, "GET /hr HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0, "GET after HEAD: %s", r.error ? r.error : "-");
    expect_full(&r, RBODY, "GET after HEAD with Range");
    e2e_resp_free(&r);
    e2e_client_free(&c);
    e2e_origin_saw(origin, 1, "HEAD with Range");
}

/* ---- invalidation (RFC 9111 §4.4) ------------------------------------------------------------ */

/* GETs are cacheable and echo their target with a per-origin sequence number, so that a refetch
 * shows; other methods get 200 "done" unless an action was queued. */
static void inval_handler(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    static char bodies[64][96];

    (void)arg;
    if (strcmp(req->method, "GET") == 0) {
        char *b = bodies[req->seq % 64];

        snprintf(b, sizeof(bodies[0]), "%s#%u", req->target, req->seq);
        act->headers = "Cache-Control: max-age=60\r\n";
        act->body = b;
    } else {
        act->body = "done";
    }
}

/* GET <path> must be a hit with the body of the last miss <body>. */
static void expect_cached(const char *path, const char *body, const char *what)
{
    struct e2e_resp r;

    e2e_get(accel, path, NULL, &r);
    cr_assert_eq(r.status, 200, "%s: GET %s: status %d", what, path, r.status);
    e2e_expect_hit(&r, 0, NULL, what);
    cr_assert_str_eq(r.body, body, "%s: GET %s: body '%s', expected '%s'", what, path, r.body,
                     body);
    e2e_resp_free(&r);
}

/* GET <path> must go to the origin (a stored miss); returns its body in <body>. */
static void expect_refetch(const char *path, char *body, size_t len, const char *what)
{
    unsigned before = e2e_origin_nreqs(origin);
    struct e2e_resp r;

    e2e_get(accel, path, NULL, &r);
    e2e_origin_saw(origin, before + 1, what);
    cr_assert_eq(r.status, 200, "%s: GET %s: status %d", what, path, r.status);
    e2e_expect_xcache(&r, "MISS", what);
    cr_assert_str_eq(e2e_origin_req(origin, before)->target, path);
    cr_assert_str_eq(e2e_origin_req(origin, before)->method, "GET");
    snprintf(body, len, "%s", r.body);
    e2e_resp_free(&r);
}

/* <method> <path> with body "abc" (and the head lines <hdrs>) must reach the origin and get
 * <status>. */
static void unsafe(const char *method, const char *path, const char *hdrs, int status)
{
    char req[512];
    unsigned before = e2e_origin_nreqs(origin);
    struct e2e_resp r;
    int rc;

    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n%s\r\nabc",
             method, path, hdrs ? hdrs : "");
    rc = e2e_request(accel->port, req, &r, 0);
    cr_assert_eq(rc, 0, "%s %s: rc %d", method, path, rc);
    cr_assert_eq(r.status, status, "%s %s: status %d, expected %d", method, path, r.status, status);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, before + 1, method);
    cr_assert_str_eq(e2e_origin_req(origin, before)->method, method);
}

Test(cache_http, unsafe_methods_invalidate_their_target)
{
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    char body[96], other[96], what[96];

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, inval_handler, NULL);
    expect_refetch("/p", body, sizeof(body), "first GET /p");
    expect_cached("/p", body, "second GET /p");
    expect_refetch("/other", other, sizeof(other), "first GET /other");
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        unsafe(methods[i], "/p", NULL, 200);
        snprintf(what, sizeof(what), "GET /p after %s /p answered 200", methods[i]);
        expect_refetch("/p", body, sizeof(body), what);
        snprintf(what, sizeof(what), "GET /p again after %s /p", methods[i]);
        expect_cached("/p", body, what);
        snprintf(what, sizeof(what), "GET /other after %s /p", methods[i]);
        expect_cached("/other", other, what);
    }
    /* the query is part of the target */
    expect_refetch("/p?q=1", other, sizeof(other), "first GET /p?q=1");
    unsafe("POST", "/p?q=1", NULL, 200);
    expect_refetch("/p?q=1", other, sizeof(other), "GET /p?q=1 after POST /p?q=1");
    expect_cached("/p", body, "GET /p after POST /p?q=1");
}

Test(cache_http, failed_unsafe_requests_do_not_invalidate)
{
    static const int statuses[] = {500, 404, 403, 503};
    char body[96], what[96];

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, inval_handler, NULL);
    expect_refetch("/p", body, sizeof(body), "first GET /p");
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        struct e2e_action err = {.status = statuses[i], .body = "error"};

        e2e_origin_push(origin, &err);
        unsafe("POST", "/p", NULL, statuses[i]);
        snprintf(what, sizeof(what), "GET /p after POST /p answered %d", statuses[i]);
        expect_cached("/p", body, what);
    }
    /* a redirect is not an error: it invalidates */
    {
        struct e2e_action moved = {
            .status = 303, .headers = "Location: /elsewhere\r\n", .body = "see other"};

        e2e_origin_push(origin, &moved);
        unsafe("POST", "/p", NULL, 303);
        expect_refetch("/p", body, sizeof(body), "GET /p after POST /p answered 303");
    }
}

Test(cache_http, location_and_content_location_invalidate)
{
    char b2[96], b3[96], b4[96], b5[96], what[128];
    struct e2e_action created = {.status = 201, .headers = "Location: /p2\r\n", .body = "created"};
    struct e2e_action cloc = {.headers = "Content-Location: http://h/p3\r\n", .body = "ok"};
    struct e2e_action foreign = {.status = 201,
                                 .headers = "Location: http://other.example/p4\r\n"
                                            "Content-Location: http://other.example/p5\r\n",
                                 .body = "elsewhere"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, inval_handler, NULL);
    expect_refetch("/p2", b2, sizeof(b2), "GET /p2");
    expect_refetch("/p3", b3, sizeof(b3), "GET /p3");
    expect_refetch("/p4", b4, sizeof(b4), "GET /p4");
    expect_refetch("/p5", b5, sizeof(b5), "GET /p5");
    expect_cached("/p2", b2, "GET /p2 again");
    expect_cached("/p3", b3, "GET /p3 again");

    /* Location (relative) */
    e2e_origin_push(origin, &created);
    unsafe("POST", "/form", NULL, 201);
    snprintf(what, sizeof(what), "GET /p2 after POST /form answered 201 with Location: /p2");
    expect_refetch("/p2", b2, sizeof(b2), what);
    expect_cached("/p3", b3, "GET /p3 after POST /form with Location: /p2");
    expect_cached("/p4", b4, "GET /p4 after POST /form with Location: /p2");

    /* Content-Location, absolute, same host */
    e2e_origin_push(origin, &cloc);
    unsafe("PUT", "/form", NULL, 200);
    expect_refetch("/p3", b3, sizeof(b3),
                   "GET /p3 after PUT /form with Content-Location: http://h/p3");
    expect_cached("/p2", b2, "GET /p2 after PUT /form with Content-Location: http://h/p3");

    /* another host: not ours to invalidate */
    e2e_origin_push(origin, &foreign);
    unsafe("POST", "/form", NULL, 201);
    expect_cached("/p4", b4, "GET /p4 after Location: http://other.example/p4");
    expect_cached("/p5", b5, "GET /p5 after Content-Location: http://other.example/p5");
    expect_cached("/p2", b2, "GET /p2 after a foreign Location");
    expect_cached("/p3", b3, "GET /p3 after a foreign Location");
}

/* ---- cache_memory 0: a plain proxy ----------------------------------------------------------- */

Test(cache_http, memory_0_passes_conditionals_and_ranges)
{
    char lm[64], req[192];
    struct e2e_action nm = {.status = 304, .headers = "ETag: \"p1\"\r\n", .no_body = 1};
    struct e2e_action part = {.status = 206,
                              .headers = "Content-Range: bytes 0-4/36\r\nETag: \"p1\"\r\n",
                              .body = "01234"};
    struct e2e_action full = {.headers = "Cache-Control: max-age=60\r\nETag: \"p1\"\r\n",
                              .body = RBODY};
    struct e2e_resp r;

    e2e_http_date(time(NULL) - 1000, lm, sizeof(lm));
    e2e_start("cache_memory 0", &origin, &accel);

    e2e_origin_push(origin, &full);
    e2e_get(accel, "/z", NULL, &r);
    expect_full(&r, RBODY, "cache_memory 0: plain GET");
    e2e_resp_free(&r);

    e2e_origin_push(origin, &nm);
    e2e_get(accel, "/z", "If-None-Match: \"p1\"\r\n", &r);
    e2e_origin_saw(origin, 2, "cache_memory 0: If-None-Match");
    origin_has(1, "If-None-Match", "\"p1\"", "cache_memory 0: If-None-Match");
    cr_assert_eq(r.status, 304, "cache_memory 0: the origin's 304 became %d", r.status);
    cr_assert_eq(r.body_len, 0);
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT");
    e2e_resp_free(&r);

    e2e_origin_push(origin, &nm);
    snprintf(req, sizeof(req), "If-Modified-Since: %s\r\n", lm);
    e2e_get(accel, "/z", req, &r);
    e2e_origin_saw(origin, 3, "cache_memory 0: If-Modified-Since");
    origin_has(2, "If-Modified-Since", lm, "cache_memory 0: If-Modified-Since");
    cr_assert_eq(r.status, 304, "cache_memory 0: the origin's 304 became %d", r.status);
    e2e_resp_free(&r);

    e2e_origin_push(origin, &part);
    e2e_get(accel, "/z", "Range: bytes=0-4\r\nIf-Range: \"p1\"\r\n", &r);
    e2e_origin_saw(origin, 4, "cache_memory 0: Range");
    origin_has(3, "Range", "bytes=0-4", "cache_memory 0: Range");
    origin_has(3, "If-Range", "\"p1\"", "cache_memory 0: If-Range");
    expect_206(&r, RBODY, RLEN, 0, 4, "cache_memory 0: the origin's 206");
    e2e_resp_free(&r);

    /* a range the origin ignores: its 200 goes through as is */
    e2e_origin_push(origin, &full);
    e2e_get(accel, "/z", "Range: bytes=0-1,5-6\r\n", &r);
    e2e_origin_saw(origin, 5, "cache_memory 0: several ranges");
    origin_has(4, "Range", "bytes=0-1,5-6", "cache_memory 0: several ranges");
    expect_full(&r, RBODY, "cache_memory 0: the origin's 200");
    e2e_resp_free(&r);
}
