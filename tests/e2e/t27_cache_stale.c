/* t27_cache_stale.c - a stored answer once it is stale, through the real binary: revalidation
 * (the origin gets If-None-Match / If-Modified-Since from the stored validators; a 304 keeps
 * the stored body and updates its head and lifetime, a 200 replaces it; without validators a
 * plain refetch), a client's no-cache revalidating a fresh entry; stale-if-error and grace (a
 * failing, resetting, closing or stopped origin is answered from the stale copy within the
 * window, and not beyond it nor under must-revalidate); stale-while-revalidate (answered at
 * once, one background refresh however many stale hits); the coalescing limits coalesce_max
 * and coalesce_timeout; only-if-cached and max-stale on a stale entry.
 *
 * Staleness comes from origin answers that are stale on arrival (an Age beyond max-age), never
 * from sleeping. The only wall-clock wait is coalesce_timeout's 300 ms, which is the feature.
 * "The client did not wait for the origin" is shown with a hold the test has not released yet.
 * A background refresh ends inside accel after the origin answered: there the test asks again,
 * paced and bounded, until the refreshed copy shows (until_refreshed). */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

TestSuite(cache_stale, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

#define KiB 1024u

#define LAST_MODIFIED "Tue, 01 Oct 2024 10:00:00 GMT"

static struct e2e_origin *origin;
static struct e2e_accel *accel;

/* Field <name> of the <i>-th request the origin received, or "(none)". */
static const char *ohdr(unsigned i, const char *name)
{
    const struct e2e_req *q = e2e_origin_req(origin, i);
    const char *v;

    cr_assert_not_null(q, "the origin has no request #%u", i);
    v = e2e_hdrs_get(&q->hdrs, name);
    return v ? v : "(none)";
}

/* Reads a complete response on <c> into <r> (initialised here with <flags>) within <ms>. */
static void read_resp_flags(struct e2e_client *c, struct e2e_resp *r, unsigned flags, int ms,
                            const char *who)
{
    int rc;

    e2e_resp_init(r, flags);
    rc = e2e_client_read(c, r, 0, ms);
    if (rc != 0) {
        int status = r->status;

        e2e_resp_free(r);
        cr_assert_fail("%s: no complete response within %d ms, rc %d, status %d", who, ms, rc,
                       status);
    }
}

static void read_resp(struct e2e_client *c, struct e2e_resp *r, int ms, const char *who)
{
    read_resp_flags(c, r, 0, ms, who);
}

/* ---- Cache-Status (RFC 9211) beyond e2e_expect_hit() ----------------------------------------- */

/* Cache-Status parameter <name> of <r> has the value <want> (unquoted). */
static void expect_cs(const struct e2e_resp *r, const char *name, const char *want,
                      const char *what)
{
    char m[256], v[64];

    cr_assert(e2e_cache_status(r, m, sizeof(m)), "%s: no accel member in Cache-Status: %s", what,
              e2e_hdr(r, "Cache-Status"));
    cr_assert(e2e_cs_param(m, name, v, sizeof(v)), "%s: Cache-Status '%s' lacks %s=", what, m,
              name);
    if (v[0] == '"' && strlen(v) >= 2) { /* a quoted string: compare its content */
        memmove(v, v + 1, strlen(v));
        v[strlen(v) - 1] = '\0';
    }
    cr_assert_str_eq(v, want, "%s: Cache-Status '%s': %s=%s, expected %s", what, m, name, v, want);
}

/* The stale copy standing in: 200, <body>, X-Cache STALE, Cache-Status hit; detail=<detail>. */
static void expect_stale(const struct e2e_resp *r, const char *detail, const char *body,
                         const char *what)
{
    char m[256];

    cr_assert_eq(r->status, 200, "%s: status %d, expected the stale 200 (X-Cache %s, body '%s')",
                 what, r->status, e2e_hdr(r, "X-Cache"), r->body);
    e2e_expect_xcache(r, "STALE", what);
    cr_assert(e2e_cache_status(r, m, sizeof(m)), "%s: no accel member in Cache-Status", what);
    cr_assert(e2e_cs_param(m, "hit", NULL, 0), "%s: Cache-Status '%s' lacks 'hit'", what, m);
    expect_cs(r, "detail", detail, what);
    if (body != NULL)
        cr_assert_str_eq(r->body, body, "%s: body '%s', expected '%s'", what, r->body, body);
}

/* expect_stale() as a verdict, for tests that free their responses before asserting: 1 when
 * <r> is the stale copy with <detail> and <body>; else 0, with what came instead in <got>. */
static int stale_ok(const struct e2e_resp *r, const char *detail, const char *body, char *got,
                    size_t len)
{
    char m[256] = "", v[64] = "";
    int ok;

    ok = e2e_cache_status(r, m, sizeof(m)) && e2e_cs_param(m, "hit", NULL, 0) &&
         e2e_cs_param(m, "detail", v, sizeof(v)) && strcmp(v, detail) == 0;
    ok = ok && r->status == 200 && strcmp(e2e_hdr(r, "X-Cache"), "STALE") == 0 &&
         strcmp(r->body, body) == 0;
    snprintf(got, len, "%d, X-Cache %s, Cache-Status '%s', body '%.40s'", r->status,
             e2e_hdr(r, "X-Cache"), m, r->body);
    return ok;
}

/* A 304 from the origin turned into the stored 200. */
static void expect_revalidated(const struct e2e_resp *r, const char *what)
{
    cr_assert_eq(r->status, 200, "%s: status %d, expected 200", what, r->status);
    e2e_expect_xcache(r, "REVALIDATED", what);
    expect_cs(r, "fwd", "stale", what);
    expect_cs(r, "fwd-status", "304", what);
}

/* Origin answers that do not depend on the request (and e2e_answer_500). */
static void answer_reset(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->kind = E2E_RESET;
}

static void answer_close(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->kind = E2E_CLOSE;
}

/* A request that should not reach the origin gets this, unheld, so that the test fails on the
 * request count or the body rather than hanging. */
static void answer_unexpected(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->headers = "Cache-Control: max-age=600\r\n";
    act->body = "unexpected";
}

/* After a background refresh the origin has answered, accel takes it in on its own time: asks
 * <path> until a hit with <body> comes (a stale answer meanwhile is fine), at most 5 s. The
 * pause between two tries only paces the loop. */
static void until_refreshed(const char *path, const char *body, struct e2e_resp *r)
{
    uint64_t end = e2e_now_ms() + 5000;

    for (;;) {
        e2e_get(accel, path, NULL, r);
        if (strcmp(e2e_hdr(r, "X-Cache"), "HIT") == 0 && strcmp(r->body, body) == 0)
            return;
        cr_assert(e2e_now_ms() < end,
                  "GET %s 5 s after the refresh was answered: X-Cache %s, body '%s', expected a "
                  "HIT with '%s'",
                  path, e2e_hdr(r, "X-Cache"), r->body, body);
        cr_assert_str_eq(e2e_hdr(r, "X-Cache"), "STALE",
                         "GET %s while the refresh lands: X-Cache %s (body '%s')", path,
                         e2e_hdr(r, "X-Cache"), r->body);
        e2e_resp_free(r);
        e2e_sleep_ms(20);
    }
}

/* ---- revalidation ---------------------------------------------------------------------------- */

Test(cache_stale, revalidate_304_keeps_body_updates_head)
{
    static const uint64_t len = 200 * KiB; /* several chunks, checked byte by byte */
    struct e2e_action first = {.headers = "Cache-Control: max-age=60\r\nAge: 3600\r\n"
                                          "ETag: \"v1\"\r\n"
                                          "Last-Modified: " LAST_MODIFIED "\r\n"
                                          "Content-Type: application/x-e2e\r\n"
                                          "X-Version: 1\r\n",
                               .pattern_len = len};
    struct e2e_action not_modified = {.status = 304,
                                      .headers = "Cache-Control: max-age=600\r\n"
                                                 "ETag: \"v1\"\r\n"
                                                 "X-Version: 2\r\n"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &first);
    e2e_ask(accel, "GET", "h", "/r", NULL, E2E_RESP_PATTERN, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, len);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "GET /r");
    cr_assert_str_eq(ohdr(0, "If-None-Match"), "(none)", "the first GET was conditional");

    e2e_origin_push(origin, &not_modified);
    e2e_ask(accel, "GET", "h", "/r", NULL, E2E_RESP_PATTERN, &r);
    e2e_origin_saw(origin, 2, "GET /r, stale");
    cr_assert_str_eq(ohdr(1, "If-None-Match"), "\"v1\"",
                     "revalidating a stale entry with ETag \"v1\": If-None-Match %s",
                     ohdr(1, "If-None-Match"));
    cr_assert_str_eq(ohdr(1, "If-Modified-Since"), LAST_MODIFIED,
                     "revalidating a stale entry with Last-Modified: If-Modified-Since %s",
                     ohdr(1, "If-Modified-Since"));
    expect_revalidated(&r, "GET /r, stale, origin 304");
    cr_assert_eq(r.body_len, len, "the revalidated answer has %llu bytes, stored %llu",
                 (unsigned long long)r.body_len, (unsigned long long)len);
    cr_assert_not(r.pattern_bad, "the revalidated body differs at byte %llu",
                  (unsigned long long)r.pattern_bad_at);
    e2e_check_framing(&r, "revalidated");
    cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "2", "X-Version %s, the 304 said 2",
                     e2e_hdr(&r, "X-Version"));
    cr_assert_eq(e2e_hdrs_count(&r.hdrs, "X-Version"), 1);
    cr_assert(e2e_hdrs_has_token(&r.hdrs, "Cache-Control", "max-age=600"),
              "Cache-Control %s, the 304 said max-age=600", e2e_hdr(&r, "Cache-Control"));
    cr_assert_not(e2e_hdrs_has_token(&r.hdrs, "Cache-Control", "max-age=60"),
                  "the old Cache-Control is still there: %s", e2e_hdr(&r, "Cache-Control"));
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"v1\"");
    cr_assert_str_eq(e2e_hdr(&r, "Content-Type"), "application/x-e2e");
    cr_assert_str_eq(e2e_hdr(&r, "Last-Modified"), LAST_MODIFIED);
    e2e_resp_free(&r);

    /* fresh now, with the 304's lifetime: a hit, with the updated head */
    for (int i = 0; i < 2; i++) {
        e2e_ask(accel, "GET", "h", "/r", NULL, E2E_RESP_PATTERN, &r);
        e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, NULL, "GET /r after the 304");
        cr_assert_eq(r.body_len, len);
        cr_assert_not(r.pattern_bad, "the hit after the 304 differs at byte %llu",
                      (unsigned long long)r.pattern_bad_at);
        cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "2", "X-Version on the hit: %s",
                         e2e_hdr(&r, "X-Version"));
        cr_assert(e2e_cs_ttl(&r) >= 590 && e2e_cs_ttl(&r) <= 600,
                  "ttl %ld after a 304 with max-age=600", e2e_cs_ttl(&r));
        cr_assert(e2e_age(&r) >= 0 && e2e_age(&r) <= 2,
                  "Age %s after a 304 without Age (the stale answer said 3600)",
                  e2e_hdr(&r, "Age"));
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 2, "GET /r after the 304");
}

Test(cache_stale, conditional_carries_only_the_stored_validators)
{
    struct e2e_action lm = {.headers = "Cache-Control: max-age=60\r\nAge: 3600\r\n"
                                       "Last-Modified: " LAST_MODIFIED "\r\n",
                            .body = "dated"};
    struct e2e_action et = {.headers = "Cache-Control: max-age=60\r\nAge: 3600\r\n"
                                       "ETag: W/\"weak-7\"\r\n",
                            .body = "tagged"};
    struct e2e_action nm = {.status = 304, .headers = "Cache-Control: max-age=600\r\n"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &lm);
    e2e_get(accel, "/lm", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_push(origin, &et);
    e2e_get(accel, "/et", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /lm, GET /et");

    e2e_origin_push(origin, &nm);
    e2e_get(accel, "/lm", NULL, &r);
    e2e_origin_saw(origin, 3, "GET /lm, stale");
    cr_assert_str_eq(ohdr(2, "If-Modified-Since"), LAST_MODIFIED, "If-Modified-Since %s",
                     ohdr(2, "If-Modified-Since"));
    cr_assert_str_eq(ohdr(2, "If-None-Match"), "(none)",
                     "no ETag stored, yet If-None-Match %s was sent", ohdr(2, "If-None-Match"));
    expect_revalidated(&r, "GET /lm, stale, 304");
    cr_assert_str_eq(r.body, "dated");
    e2e_resp_free(&r);

    e2e_origin_push(origin, &nm);
    e2e_get(accel, "/et", NULL, &r);
    e2e_origin_saw(origin, 4, "GET /et, stale");
    cr_assert_str_eq(ohdr(3, "If-None-Match"), "W/\"weak-7\"", "If-None-Match %s",
                     ohdr(3, "If-None-Match"));
    cr_assert_str_eq(ohdr(3, "If-Modified-Since"), "(none)",
                     "no Last-Modified stored, yet If-Modified-Since %s was sent",
                     ohdr(3, "If-Modified-Since"));
    expect_revalidated(&r, "GET /et, stale, 304");
    cr_assert_str_eq(r.body, "tagged");
    e2e_resp_free(&r);

    e2e_get(accel, "/lm", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "dated", "GET /lm after the 304");
    e2e_resp_free(&r);
    e2e_get(accel, "/et", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "tagged", "GET /et after the 304");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 4, "both again");
}

Test(cache_stale, revalidate_200_replaces_the_body)
{
    struct e2e_action old = {.headers = "Cache-Control: max-age=60\r\nAge: 3600\r\n"
                                        "ETag: \"v1\"\r\nX-Version: 1\r\n",
                             .body = "old body"};
    struct e2e_action fresh = {.headers = "Cache-Control: max-age=600\r\nETag: \"v2\"\r\n",
                               .body = "the new body, longer than the old one"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &old);
    e2e_get(accel, "/n", NULL, &r);
    cr_assert_str_eq(r.body, "old body");
    e2e_resp_free(&r);

    e2e_origin_push(origin, &fresh);
    e2e_get(accel, "/n", NULL, &r);
    e2e_origin_saw(origin, 2, "GET /n, stale");
    cr_assert_str_eq(ohdr(1, "If-None-Match"), "\"v1\"", "If-None-Match %s",
                     ohdr(1, "If-None-Match"));
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, fresh.body, "the origin's new 200 gave '%s'", r.body);
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "REVALIDATED", "a 200 reported as REVALIDATED");
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "STALE");
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"v2\"");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "X-Version"), "a field of the old answer: X-Version %s",
                   e2e_hdr(&r, "X-Version"));
    e2e_check_framing(&r, "the new 200");
    e2e_resp_free(&r);

    e2e_get(accel, "/n", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, fresh.body, "GET /n after the new 200");
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"v2\"");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "X-Version"));
    e2e_check_framing(&r, "hit on the new 200");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /n three times");
}

Test(cache_stale, stale_without_validators_is_refetched)
{
    struct e2e_action one = {.headers = "Cache-Control: max-age=60\r\nAge: 3600\r\n",
                             .body = "one"};
    struct e2e_action two = {.headers = "Cache-Control: max-age=600\r\n", .body = "two"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &one);
    e2e_get(accel, "/p", NULL, &r);
    cr_assert_str_eq(r.body, "one");
    e2e_resp_free(&r);
    e2e_origin_push(origin, &two);
    e2e_get(accel, "/p", NULL, &r);
    e2e_origin_saw(origin, 2, "GET /p, stale");
    cr_assert_str_eq(ohdr(1, "If-None-Match"), "(none)");
    cr_assert_str_eq(ohdr(1, "If-Modified-Since"), "(none)");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "two", "refetch gave '%s'", r.body);
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "REVALIDATED");
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "STALE");
    e2e_resp_free(&r);
    e2e_get(accel, "/p", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "two", "GET /p after the refetch");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /p three times");
}

Test(cache_stale, revalidation_is_shared_by_concurrent_requests)
{
    enum { N = 4 };
    static const uint64_t len = 100 * KiB;
    struct e2e_action old = {.headers = "Cache-Control: max-age=60\r\nAge: 3600\r\n"
                                        "ETag: \"c1\"\r\nX-Version: 1\r\n",
                             .pattern_len = len};
    struct e2e_action nm = {.status = 304,
                            .headers = "Cache-Control: max-age=600\r\nX-Version: 2\r\n"};
    struct e2e_client *cs[N];
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &old);
    e2e_ask(accel, "GET", "h", "/cr", NULL, E2E_RESP_PATTERN, &r);
    e2e_resp_free(&r);
    nm.hold = e2e_hold_new(origin);
    e2e_origin_push(origin, &nm);
    cs[0] = e2e_connect_get(accel, "/cr");
    cr_assert_eq(e2e_hold_wait(nm.hold, 1, E2E_TIMEOUT_MS), 0, "no revalidation reached");
    for (int i = 1; i < N; i++)
        e2e_send_get(cs[i] = e2e_client_new(accel->port), "/cr");
    e2e_expect_conns_read(accel, N);
    e2e_origin_saw(origin, 2, "4 concurrent GET /cr on a stale entry, the 304 held");
    cr_assert_str_eq(ohdr(1, "If-None-Match"), "\"c1\"");
    e2e_hold_release(nm.hold);
    for (int i = 0; i < N; i++) {
        char who[48];

        snprintf(who, sizeof(who), "client %d", i);
        read_resp_flags(cs[i], &r, E2E_RESP_PATTERN, E2E_TIMEOUT_MS, who);
        cr_assert_eq(r.status, 200, "%s: status %d", who, r.status);
        cr_assert_eq(r.body_len, len, "%s: %llu bytes", who, (unsigned long long)r.body_len);
        cr_assert_not(r.pattern_bad, "%s: body differs at byte %llu", who,
                      (unsigned long long)r.pattern_bad_at);
        cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "2", "%s: X-Version %s", who,
                         e2e_hdr(&r, "X-Version"));
        if (i == 0)
            expect_revalidated(&r, who);
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, N);
    e2e_origin_saw(origin, 2, "after the 304");
    e2e_ask(accel, "GET", "h", "/cr", NULL, E2E_RESP_PATTERN, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, NULL, "GET /cr after the 304");
    cr_assert_eq(r.body_len, len);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /cr after the 304");
}

Test(cache_stale, client_no_cache_revalidates_a_fresh_entry)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=600\r\nETag: \"f1\"\r\n"
                                      "X-Version: 1\r\n",
                           .body = "fresh body"};
    struct e2e_action nm = {.status = 304,
                            .headers = "Cache-Control: max-age=600\r\nETag: \"f1\"\r\n"
                                       "X-Version: 2\r\n"};
    struct e2e_action nm3 = {.status = 304,
                             .headers = "Cache-Control: max-age=600\r\nETag: \"f1\"\r\n"
                                        "X-Version: 3\r\n"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/f", NULL, &r);
    e2e_resp_free(&r);
    e2e_get(accel, "/f", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "fresh body", "GET /f");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "GET /f twice");

    e2e_origin_push(origin, &nm);
    e2e_get(accel, "/f", "Cache-Control: no-cache\r\n", &r);
    e2e_origin_saw(origin, 2, "GET /f with no-cache");
    cr_assert_str_eq(ohdr(1, "If-None-Match"), "\"f1\"",
                     "no-cache on a fresh entry with ETag \"f1\": If-None-Match %s",
                     ohdr(1, "If-None-Match"));
    expect_revalidated(&r, "no-cache, origin 304");
    cr_assert_str_eq(r.body, "fresh body");
    cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "2");
    e2e_resp_free(&r);
    e2e_get(accel, "/f", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "fresh body", "plain GET /f after the 304");
    cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "2");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "plain GET /f after the 304");

    /* the client's own validator still matches: it gets a 304 of the revalidated entry */
    e2e_origin_push(origin, &nm3);
    e2e_get(accel, "/f", "Cache-Control: no-cache\r\nIf-None-Match: \"f1\"\r\n", &r);
    e2e_origin_saw(origin, 3, "GET /f with no-cache and If-None-Match");
    cr_assert_str_eq(ohdr(2, "If-None-Match"), "\"f1\"");
    cr_assert_eq(r.status, 304, "no-cache + If-None-Match \"f1\", origin 304: status %d", r.status);
    cr_assert_eq(r.body_len, 0);
    cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "3");
    e2e_resp_free(&r);
    e2e_get(accel, "/f", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "fresh body",
                   "plain GET /f after the second 304");
    cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "3");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "plain GET /f after the second 304");
}

/* ---- stale-if-error and grace ---------------------------------------------------------------- */

Test(cache_stale, stale_if_error_on_5xx)
{
    static const int statuses[] = {500, 502, 503, 504};
    struct e2e_action a = {.headers = "Cache-Control: max-age=1, stale-if-error=600\r\nAge: 5\r\n"
                                      "X-Version: 1\r\n",
                           .body = "kept through errors"};
    struct e2e_resp r;

    e2e_start("grace 0", &origin, &accel);
    e2e_origin_set_handler(origin, e2e_answer_500, NULL);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/e", NULL, &r);
    cr_assert_str_eq(r.body, a.body);
    e2e_resp_free(&r);
    for (unsigned i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        struct e2e_action err = {.status = statuses[i], .body = "origin error"};
        char what[64];

        snprintf(what, sizeof(what), "GET /e, stale, origin %d", statuses[i]);
        e2e_origin_push(origin, &err);
        e2e_get(accel, "/e", NULL, &r);
        e2e_origin_saw(origin, i + 2, what);
        expect_stale(&r, "stale-if-error", a.body, what);
        cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "1", "%s: X-Version %s", what,
                         e2e_hdr(&r, "X-Version"));
        e2e_check_framing(&r, what);
        e2e_resp_free(&r);
    }
}

Test(cache_stale, stale_if_error_on_reset_close_and_down)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=1, stale-if-error=600\r\nAge: 5\r\n"
                                      "ETag: \"e1\"\r\n",
                           .body = "kept"};
    struct e2e_resp r;

    e2e_start("grace 0", &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/d", NULL, &r);
    cr_assert_str_eq(r.body, "kept");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "GET /d");

    e2e_origin_set_handler(origin, answer_reset, NULL);
    e2e_get(accel, "/d", NULL, &r);
    expect_stale(&r, "stale-if-error", "kept", "GET /d, origin resets");
    e2e_resp_free(&r);
    cr_assert_geq(e2e_origin_nreqs(origin), 2, "the stale copy was served without asking");
    cr_assert_str_eq(ohdr(1, "If-None-Match"), "\"e1\"", "the revalidation: If-None-Match %s",
                     ohdr(1, "If-None-Match"));

    e2e_origin_set_handler(origin, answer_close, NULL);
    e2e_get(accel, "/d", NULL, &r);
    expect_stale(&r, "stale-if-error", "kept", "GET /d, origin closes without answer");
    e2e_resp_free(&r);

    e2e_origin_stop(&origin);
    for (int i = 0; i < 2; i++) {
        e2e_get(accel, "/d", NULL, &r);
        expect_stale(&r, "stale-if-error", "kept", "GET /d, origin down");
        e2e_resp_free(&r);
    }
    cr_assert(e2e_accel_alive(accel));
}

Test(cache_stale, stale_if_error_for_every_coalesced_waiter)
{
    enum { N = 4 };
    struct e2e_action a = {.headers = "Cache-Control: max-age=1, stale-if-error=600\r\nAge: 5\r\n",
                           .body = "kept"};
    struct e2e_action err = {.status = 503, .body = "origin error"};
    struct e2e_client *cs[N];
    struct e2e_resp r;
    char got[N][384];
    int ok[N];

    e2e_start("grace 0", &origin, &accel);
    e2e_origin_set_handler(origin, e2e_answer_500, NULL);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/w", NULL, &r);
    e2e_resp_free(&r);
    err.hold = e2e_hold_new(origin);
    e2e_origin_push(origin, &err);
    cs[0] = e2e_connect_get(accel, "/w");
    cr_assert_eq(e2e_hold_wait(err.hold, 1, E2E_TIMEOUT_MS), 0, "the refetch never reached");
    for (int i = 1; i < N; i++)
        cs[i] = e2e_connect_get(accel, "/w");
    e2e_expect_conns_read(accel, N);
    e2e_hold_release(err.hold);
    for (int i = 0; i < N; i++) {
        int rc;

        e2e_resp_init(&r, 0);
        rc = e2e_client_read(cs[i], &r, 0, E2E_TIMEOUT_MS);
        ok[i] = rc == 0 && stale_ok(&r, "stale-if-error", "kept", got[i], sizeof(got[i]));
        if (rc != 0)
            snprintf(got[i], sizeof(got[i]), "no complete response, rc %d", rc);
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, N);
    for (int i = 0; i < N; i++)
        cr_assert(ok[i],
                  "client %d of 4 concurrent (0 the first, 1-3 coalesced on it), origin 503: got "
                  "%s; expected the stale 200 (client 0 got %s)",
                  i, got[i], got[0]);
}

Test(cache_stale, grace_covers_a_recently_stale_entry)
{
    /* default grace 10s: 4 s stale is within it, an hour is not */
    struct e2e_action recent = {.headers = "Cache-Control: max-age=1\r\nAge: 5\r\n",
                                .body = "recent"};
    struct e2e_action old = {.headers = "Cache-Control: max-age=1\r\nAge: 3600\r\n", .body = "old"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &recent);
    e2e_get(accel, "/g", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_push(origin, &old);
    e2e_get(accel, "/old", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /g, GET /old");

    e2e_origin_set_handler(origin, e2e_answer_500, NULL);
    e2e_get(accel, "/g", NULL, &r);
    e2e_origin_saw(origin, 3, "GET /g, origin 500");
    expect_stale(&r, "stale-if-error", "recent", "GET /g, 4 s stale, grace 10s, origin 500");
    e2e_resp_free(&r);
    e2e_get(accel, "/old", NULL, &r);
    e2e_origin_saw(origin, 4, "GET /old, origin 500");
    cr_assert_eq(r.status, 500, "GET /old, an hour stale, grace 10s, origin 500: status %d (%s)",
                 r.status, e2e_hdr(&r, "X-Cache"));
    cr_assert_str_eq(r.body, "origin error");
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "STALE");
    e2e_resp_free(&r);

    e2e_origin_stop(&origin);
    e2e_get(accel, "/g", NULL, &r);
    expect_stale(&r, "stale-if-error", "recent", "GET /g, origin down");
    e2e_resp_free(&r);
    e2e_get(accel, "/old", NULL, &r);
    cr_assert_eq(r.status, 502, "GET /old, an hour stale, origin down: status %d (%s)", r.status,
                 e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
}

Test(cache_stale, errors_pass_beyond_the_window)
{
    /* grace 0: without stale-if-error nothing stands in; stale-if-error=60 ends after 60 s */
    struct e2e_action plain = {.headers = "Cache-Control: max-age=1\r\nAge: 5\r\n",
                               .body = "plain"};
    struct e2e_action ended = {.headers = "Cache-Control: max-age=1, stale-if-error=60\r\n"
                                          "Age: 3600\r\n",
                               .body = "ended"};
    struct e2e_resp r;

    e2e_start("grace 0", &origin, &accel);
    e2e_origin_push(origin, &plain);
    e2e_get(accel, "/plain", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_push(origin, &ended);
    e2e_get(accel, "/ended", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /plain, GET /ended");

    e2e_origin_set_handler(origin, e2e_answer_500, NULL);
    e2e_get(accel, "/plain", NULL, &r);
    cr_assert_eq(r.status, 500, "grace 0, no stale-if-error, origin 500: status %d (X-Cache %s)",
                 r.status, e2e_hdr(&r, "X-Cache"));
    cr_assert_str_eq(r.body, "origin error");
    e2e_resp_free(&r);
    e2e_get(accel, "/ended", NULL, &r);
    cr_assert_eq(r.status, 500,
                 "grace 0, stale-if-error=60 an hour ago, origin 500: status %d (X-Cache %s)",
                 r.status, e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 4, "both, origin 500");

    e2e_origin_stop(&origin);
    e2e_get(accel, "/plain", NULL, &r);
    cr_assert_eq(r.status, 502, "grace 0, origin down: status %d (X-Cache %s)", r.status,
                 e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
    e2e_get(accel, "/ended", NULL, &r);
    cr_assert_eq(r.status, 502, "stale-if-error over, origin down: status %d (X-Cache %s)",
                 r.status, e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
}

Test(cache_stale, must_revalidate_forbids_serving_stale)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=1, stale-if-error=600, "
                                      "must-revalidate\r\nAge: 5\r\n",
                           .body = "strict"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel); /* default grace 10s would cover 4 s too */
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/mr", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_set_handler(origin, e2e_answer_500, NULL);
    e2e_get(accel, "/mr", NULL, &r);
    e2e_origin_saw(origin, 2, "GET /mr, origin 500");
    cr_assert_eq(r.status, 500, "must-revalidate, origin 500: status %d (X-Cache %s, body '%s')",
                 r.status, e2e_hdr(&r, "X-Cache"), r.body);
    cr_assert_str_eq(r.body, "origin error");
    e2e_resp_free(&r);
    e2e_origin_stop(&origin);
    e2e_get(accel, "/mr", NULL, &r);
    cr_assert(r.status == 502 || r.status == 504,
              "must-revalidate, origin down: status %d (X-Cache %s, body '%s')", r.status,
              e2e_hdr(&r, "X-Cache"), r.body);
    e2e_resp_free(&r);
}

/* ---- stale-while-revalidate ------------------------------------------------------------------ */

/* GET /swr stored stale within its SWR window with ETag "s1"; the next GET is answered stale and
 * starts the background refresh, which the origin holds (hold in *<h>, answer "new"). */
static void swr_refresh_held(struct e2e_hold **h)
{
    static const struct e2e_action old = {
        .headers = "Cache-Control: max-age=1, stale-while-revalidate=60\r\n"
                   "Age: 5\r\nETag: \"s1\"\r\n",
        .body = "old"};
    struct e2e_action refresh = {.headers = "Cache-Control: max-age=600\r\nETag: \"s2\"\r\n",
                                 .body = "new"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &old);
    e2e_get(accel, "/swr", NULL, &r);
    cr_assert_str_eq(r.body, "old");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "GET /swr");

    *h = refresh.hold = e2e_hold_new(origin);
    e2e_origin_push(origin, &refresh);
    /* answered while the origin holds the refresh: the client did not wait for it */
    e2e_get(accel, "/swr", NULL, &r);
    expect_stale(&r, "stale-while-revalidate", "old", "GET /swr, stale within SWR");
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"s1\"");
    e2e_check_framing(&r, "the stale answer");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_hold_wait(*h, 1, E2E_TIMEOUT_MS), 0,
                 "no background refresh reached the origin (%u requests)",
                 e2e_origin_nreqs(origin));
    e2e_origin_saw(origin, 2, "the background refresh");
    cr_assert_str_eq(e2e_origin_req(origin, 1)->method, "GET");
    cr_assert_str_eq(e2e_origin_req(origin, 1)->target, "/swr");
    cr_assert_str_eq(ohdr(1, "If-None-Match"), "\"s1\"", "the refresh: If-None-Match %s",
                     ohdr(1, "If-None-Match"));
}

Test(cache_stale, swr_answers_at_once_and_refreshes_once)
{
    struct e2e_hold *h;
    struct e2e_resp r;

    swr_refresh_held(&h);
    e2e_hold_release(h);
    until_refreshed("/swr", "new", &r);
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"s2\"");
    cr_assert(e2e_cs_ttl(&r) >= 590, "ttl %ld after the refresh with max-age=600", e2e_cs_ttl(&r));
    e2e_resp_free(&r);
    e2e_get(accel, "/swr", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "new", "GET /swr after the refresh");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /swr after the refresh");
}

Test(cache_stale, swr_stale_hits_during_the_refresh_do_not_wait)
{
    enum { N = 5 };
    struct e2e_client *cs[N];
    struct e2e_resp r;
    struct e2e_hold *h;
    char got[N][384], late[384] = "";
    int ok[N], waited = -1;
    unsigned answered = 0, held_nreqs;
    uint64_t end;

    swr_refresh_held(&h);
    /* more stale hits, concurrent, while the refresh is still held */
    e2e_clients_open(accel->port, N, cs);
    for (int i = 0; i < N; i++)
        e2e_send_get(cs[i], "/swr");
    end = e2e_now_ms() + 2000;
    for (int i = 0; i < N; i++) {
        int64_t left = (int64_t)(end - e2e_now_ms());
        int rc;

        e2e_resp_init(&r, 0);
        rc = e2e_client_read(cs[i], &r, 0, left > 50 ? (int)left : 50);
        ok[i] = rc == 0 && stale_ok(&r, "stale-while-revalidate", "old", got[i], sizeof(got[i]));
        if (rc == 0) {
            answered++;
        } else {
            snprintf(got[i], sizeof(got[i]), "no answer within 2 s");
            if (waited < 0)
                waited = i;
        }
        e2e_resp_free(&r);
    }
    held_nreqs = e2e_origin_nreqs(origin);
    e2e_hold_release(h);
    if (waited >= 0) {
        /* what the first one that waited gets once the refresh is released (nothing of its
         * answer had come, or the read below misparses and says so) */
        e2e_resp_init(&r, 0);
        if (e2e_client_read(cs[waited], &r, 0, E2E_TIMEOUT_MS) == 0)
            snprintf(late, sizeof(late), "%d, X-Cache %s, Cache-Status '%s', body '%.40s'",
                     r.status, e2e_hdr(&r, "X-Cache"), e2e_hdr(&r, "Cache-Status"), r.body);
        else
            snprintf(late, sizeof(late), "no complete response either");
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, N);
    /* only the one refresh, however many stale hits */
    cr_assert_eq(held_nreqs, 2, "5 stale hits during the refresh: the origin saw %u requests",
                 held_nreqs);
    cr_assert_eq(answered, N,
                 "%u of %d stale hits made while the background refresh is held were answered "
                 "within 2 s: the others wait for the refresh; once it was released, client %d "
                 "got %s",
                 answered, N, waited, late);
    for (int i = 0; i < N; i++)
        cr_assert(ok[i], "concurrent stale hit %d: got %s", i, got[i]);
    e2e_origin_saw(origin, 2, "after the refresh");
}

Test(cache_stale, swr_refresh_304_keeps_the_body)
{
    struct e2e_action old = {.headers = "Cache-Control: max-age=1, stale-while-revalidate=60\r\n"
                                        "Age: 5\r\nLast-Modified: " LAST_MODIFIED "\r\n"
                                        "X-Version: 1\r\n",
                             .body = "swr body"};
    struct e2e_action nm = {.status = 304,
                            .headers = "Cache-Control: max-age=600\r\nX-Version: 2\r\n"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &old);
    e2e_get(accel, "/s3", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_push(origin, &nm);
    e2e_get(accel, "/s3", NULL, &r);
    expect_stale(&r, "stale-while-revalidate", "swr body", "GET /s3, stale within SWR");
    cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "1");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "the background refresh");
    cr_assert_str_eq(ohdr(1, "If-Modified-Since"), LAST_MODIFIED,
                     "the refresh: If-Modified-Since %s", ohdr(1, "If-Modified-Since"));
    until_refreshed("/s3", "swr body", &r);
    cr_assert_str_eq(e2e_hdr(&r, "X-Version"), "2", "after the 304 refresh: X-Version %s",
                     e2e_hdr(&r, "X-Version"));
    cr_assert(e2e_cs_ttl(&r) >= 590, "ttl %ld after a 304 with max-age=600", e2e_cs_ttl(&r));
    e2e_check_framing(&r, "hit after the 304 refresh");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /s3 after the refresh");
}

Test(cache_stale, swr_without_validators_and_beyond_its_window)
{
    struct e2e_action nv1 = {.headers = "Cache-Control: max-age=1, stale-while-revalidate=60\r\n"
                                        "Age: 5\r\n",
                             .body = "nv v1"};
    struct e2e_action nv2 = {.headers = "Cache-Control: max-age=600\r\n", .body = "nv v2"};
    struct e2e_action far1 = {.headers = "Cache-Control: max-age=1, stale-while-revalidate=10\r\n"
                                         "Age: 3600\r\n",
                              .body = "far v1"};
    struct e2e_action far2 = {.headers = "Cache-Control: max-age=600\r\n", .body = "far v2"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &nv1);
    e2e_get(accel, "/nv", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_push(origin, &far1);
    e2e_get(accel, "/far", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /nv, GET /far");

    e2e_origin_push(origin, &nv2);
    e2e_get(accel, "/nv", NULL, &r);
    expect_stale(&r, "stale-while-revalidate", "nv v1", "GET /nv, stale within SWR");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "the background refresh of /nv");
    cr_assert_str_eq(e2e_origin_req(origin, 2)->target, "/nv");
    cr_assert_str_eq(ohdr(2, "If-None-Match"), "(none)");
    cr_assert_str_eq(ohdr(2, "If-Modified-Since"), "(none)");
    until_refreshed("/nv", "nv v2", &r);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "GET /nv after the refresh");

    /* an hour stale, SWR 10 s: the client waits for the origin's new answer */
    e2e_origin_push(origin, &far2);
    e2e_get(accel, "/far", NULL, &r);
    e2e_origin_saw(origin, 4, "GET /far beyond SWR");
    cr_assert_str_eq(r.body, "far v2", "GET /far beyond its SWR window got '%s' (X-Cache %s)",
                     r.body, e2e_hdr(&r, "X-Cache"));
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "STALE");
    e2e_resp_free(&r);
    e2e_get(accel, "/far", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "far v2", "GET /far after the refetch");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 4, "GET /far after the refetch");
}

static void answer_new(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->headers = "Cache-Control: max-age=600\r\n";
    act->body = "new";
}

Test(cache_stale, swr_failed_refresh_keeps_the_stale_copy_and_retries)
{
    struct e2e_action old = {.headers = "Cache-Control: max-age=1, stale-while-revalidate=60\r\n"
                                        "Age: 5\r\n",
                             .body = "old"};
    struct e2e_action err = {.status = 500, .body = "origin error"};
    struct e2e_resp r;
    uint64_t end;

    e2e_start("grace 0", &origin, &accel);
    e2e_origin_set_handler(origin, answer_new, NULL);
    e2e_origin_push(origin, &old);
    e2e_get(accel, "/sf", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_push(origin, &err);
    e2e_get(accel, "/sf", NULL, &r);
    expect_stale(&r, "stale-while-revalidate", "old", "GET /sf, stale within SWR");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "the background refresh, answered 500");
    /* the failed refresh neither replaces nor drops the stale copy, and a later stale hit tries
     * again (RFC 5861 §3); the pause only paces the loop */
    end = e2e_now_ms() + 3000;
    for (;;) {
        e2e_get(accel, "/sf", NULL, &r);
        cr_assert_eq(r.status, 200, "GET /sf after a failed refresh: status %d (X-Cache %s)",
                     r.status, e2e_hdr(&r, "X-Cache"));
        if (strcmp(r.body, "new") == 0)
            break;
        expect_stale(&r, "stale-while-revalidate", "old", "GET /sf after a failed refresh");
        cr_assert(e2e_now_ms() < end,
                  "3 s of stale hits after a failed background refresh, and no new refresh: the "
                  "origin saw %u requests",
                  e2e_origin_nreqs(origin));
        e2e_resp_free(&r);
        e2e_sleep_ms(50);
    }
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 3, "the second refresh");
}

/* ---- coalescing limits ----------------------------------------------------------------------- */

static void answer_alone(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->headers = "Cache-Control: max-age=60\r\n";
    act->body = "alone";
}

Test(cache_stale, coalesce_max_sends_the_overflow_alone)
{
    enum { N = 5, MAX = 2 };
    struct e2e_action first = {.headers = "Cache-Control: max-age=60\r\n", .body = "shared"};
    struct e2e_client *cs[N];
    struct e2e_resp r;

    e2e_start("coalesce_max 2", &origin, &accel);
    first.hold = e2e_hold_new(origin);
    e2e_origin_push(origin, &first);
    e2e_origin_set_handler(origin, answer_alone, NULL);
    /* one at a time, so that which ones overflow is known */
    cs[0] = e2e_connect_get(accel, "/cm");
    cr_assert_eq(e2e_hold_wait(first.hold, 1, E2E_TIMEOUT_MS), 0, "GET /cm never reached");
    for (int i = 1; i < N; i++) {
        cs[i] = e2e_connect_get(accel, "/cm");
        e2e_expect_conns_read(accel, (unsigned)i + 1);
    }
    /* 1 + (5 - 1 - 2): the first is held, the two overflowing went alone */
    e2e_origin_saw(origin, 1 + (N - 1 - MAX), "5 concurrent GET /cm, coalesce_max 2");
    for (int i = 1 + MAX; i < N; i++) {
        char who[48];

        snprintf(who, sizeof(who), "client %d, past coalesce_max", i);
        read_resp(cs[i], &r, E2E_TIMEOUT_MS, who);
        cr_assert_eq(r.status, 200, "%s: status %d", who, r.status);
        cr_assert_str_eq(r.body, "alone", "%s: body '%s'", who, r.body);
        expect_cs(&r, "detail", "coalesce-max", who);
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 1 + (N - 1 - MAX), "after the overflow answers");
    e2e_hold_release(first.hold);
    for (int i = 0; i <= MAX; i++) {
        char who[48];

        snprintf(who, sizeof(who), "client %d, %s", i, i ? "coalesced" : "first");
        read_resp(cs[i], &r, E2E_TIMEOUT_MS, who);
        cr_assert_eq(r.status, 200, "%s: status %d", who, r.status);
        cr_assert_str_eq(r.body, "shared", "%s: body '%s'", who, r.body);
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, N);
    e2e_origin_saw(origin, 1 + (N - 1 - MAX), "the held answer released");
    /* what is stored is the first one's answer, not an overflow's */
    e2e_get(accel, "/cm", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "shared", "GET /cm afterwards");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1 + (N - 1 - MAX), "GET /cm afterwards");
}

Test(cache_stale, coalesce_timeout_sends_the_waiter_alone)
{
    struct e2e_action first = {.headers = "Cache-Control: max-age=60\r\n", .body = "first"};
    struct e2e_client *a, *b;
    struct e2e_resp r;
    uint64_t t0, waited;

    e2e_start("coalesce_timeout 300ms", &origin, &accel);
    first.hold = e2e_hold_new(origin);
    e2e_origin_push(origin, &first);
    e2e_origin_set_handler(origin, answer_alone, NULL);
    a = e2e_connect_get(accel, "/ct");
    cr_assert_eq(e2e_hold_wait(first.hold, 1, E2E_TIMEOUT_MS), 0, "GET /ct never reached");
    t0 = e2e_now_ms();
    b = e2e_connect_get(accel, "/ct");
    read_resp(b, &r, 5000, "the waiter, first one still held");
    waited = e2e_now_ms() - t0;
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "alone", "the waiter got '%s'", r.body);
    expect_cs(&r, "detail", "coalesce-timeout", "the waiter past coalesce_timeout");
    cr_assert_geq(waited, 250, "the waiter went alone after %llu ms, coalesce_timeout is 300 ms",
                  (unsigned long long)waited);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /ct twice, the first held");

    e2e_hold_release(first.hold);
    read_resp(a, &r, E2E_TIMEOUT_MS, "the first one");
    cr_assert_str_eq(r.body, "first");
    e2e_resp_free(&r);
    e2e_client_free(&a);
    e2e_client_free(&b);
    e2e_get(accel, "/ct", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "first", "GET /ct afterwards");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /ct afterwards");
}

/* ---- only-if-cached and max-stale ------------------------------------------------------------ */

Test(cache_stale, only_if_cached_on_a_stale_entry)
{
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nAge: 3600\r\n"
                                      "ETag: \"o1\"\r\n",
                           .body = "old copy"};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_unexpected, NULL);
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/o", NULL, &r);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "GET /o");

    e2e_get(accel, "/o", "Cache-Control: only-if-cached\r\n", &r);
    cr_assert_eq(r.status, 504, "only-if-cached on a stale entry: status %d (X-Cache %s, '%s')",
                 r.status, e2e_hdr(&r, "X-Cache"), r.body);
    e2e_resp_free(&r);
    /* stale by 3540 s: max-stale=10 is not enough, 100000 and a bare max-stale are */
    e2e_get(accel, "/o", "Cache-Control: only-if-cached, max-stale=10\r\n", &r);
    cr_assert_eq(r.status, 504, "only-if-cached, max-stale=10: status %d (X-Cache %s)", r.status,
                 e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "only-if-cached");
    e2e_get(accel, "/o", "Cache-Control: only-if-cached, max-stale\r\n", &r);
    cr_assert_eq(r.status, 200, "only-if-cached, max-stale: status %d (X-Cache %s)", r.status,
                 e2e_hdr(&r, "X-Cache"));
    cr_assert_str_eq(r.body, "old copy");
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"o1\"");
    e2e_resp_free(&r);
    e2e_get(accel, "/o", "Cache-Control: only-if-cached, max-stale=100000\r\n", &r);
    cr_assert_eq(r.status, 200, "only-if-cached, max-stale=100000: status %d (X-Cache %s)",
                 r.status, e2e_hdr(&r, "X-Cache"));
    cr_assert_str_eq(r.body, "old copy");
    e2e_resp_free(&r);
    /* max-stale alone is also answered from the stale copy */
    e2e_get(accel, "/o", "Cache-Control: max-stale\r\n", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "old copy", "max-stale: body '%s' (X-Cache %s)", r.body,
                     e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "max-stale");
}
