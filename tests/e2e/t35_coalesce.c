/* t35_coalesce.c - request coalescing: the first miss for a key fetches once and every
 * concurrent request for that key subscribes to the fetch and streams the body as it arrives.
 * Uncacheable answers send the waiting requests to the origin in parallel; a subscriber that
 * leaves disturbs nobody; an origin that fails mid-body fails every subscriber, and the next
 * request fetches again.
 *
 * "All requests are subscribed" is a barrier, not a sleep: the origin holds the answer, and the
 * test waits until accel has read every client's request (e2e_accel_wait_conns_read). */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(coalesce, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

#define KiB 1024u
#define MiB (1024u * 1024u)

static struct e2e_origin *origin;
static struct e2e_accel *accel;

/* Reads a complete <len>-byte pattern body with status 200 on <c>. */
static void read_pattern(struct e2e_client *c, struct e2e_resp *r, uint64_t len, const char *who)
{
    int rc = e2e_client_read(c, r, 0, E2E_TIMEOUT_MS);

    cr_assert_eq(rc, 0, "%s: rc %d (%s) after %llu body bytes", who, rc, r->error ? r->error : "-",
                 (unsigned long long)r->body_len);
    cr_assert_eq(r->status, 200, "%s: status %d", who, r->status);
    cr_assert_eq(r->body_len, len, "%s: %llu body bytes, expected %llu", who,
                 (unsigned long long)r->body_len, (unsigned long long)len);
    cr_assert_not(r->pattern_bad, "%s: body differs at byte %llu", who,
                  (unsigned long long)r->pattern_bad_at);
}

/* One GET of <path> on a new connection: a hit with the <len>-byte pattern. */
static void expect_hit_pattern(const char *path, uint64_t len)
{
    struct e2e_client *c = e2e_connect_get(accel, path);
    struct e2e_resp r;
    const char *xc;

    e2e_resp_init(&r, E2E_RESP_PATTERN);
    read_pattern(c, &r, len, "the request after the fetch");
    xc = e2e_hdrs_get(&r.hdrs, "X-Cache");
    cr_assert(xc != NULL && strcmp(xc, "HIT") == 0, "GET %s after the fetch: X-Cache %s", path,
              xc ? xc : "(none)");
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

/* For requests that should not reach the origin any more: the same answer, unheld, so that a
 * test fails on the request count rather than hanging. */
static void cacheable_pattern(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    act->headers = "Cache-Control: max-age=60\r\n";
    act->pattern_len = *(const uint64_t *)arg;
}

/* ---- one fetch for many clients -------------------------------------------------------------- */

Test(coalesce, a_thousand_clients_one_fetch)
{
    enum { N = 1000 };
    static uint64_t len = 64 * KiB;
    struct e2e_client *cs[N];
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\n", .pattern_len = len};
    uint64_t t0;

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    a.hold = h;
    e2e_origin_push(origin, &a);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    e2e_clients_open(accel->port, N, cs);
    for (int i = 0; i < N; i++)
        e2e_send_get(cs[i], "/cold");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0, "the fetch did not reach the origin");
    e2e_expect_conns_read(accel, N);
    e2e_hold_release(h);
    t0 = e2e_now_ms();
    for (int i = 0; i < N; i++) {
        char who[32];

        snprintf(who, sizeof(who), "client %d", i);
        e2e_resp_init(&r, E2E_RESP_PATTERN);
        read_pattern(cs[i], &r, len, who);
        e2e_resp_free(&r);
    }
    cr_log_info("1000 subscribers x 64 KiB in %llu ms", (unsigned long long)(e2e_now_ms() - t0));
    e2e_origin_saw(origin, 1, "1000 concurrent GET /cold");
    e2e_clients_free(cs, N);
    expect_hit_pattern("/cold", len);
    e2e_origin_saw(origin, 1, "GET /cold once more");
}

Test(coalesce, subscriber_streams_before_the_fetch_completes)
{
    static uint64_t len = 512 * KiB;
    struct e2e_client *a, *b;
    struct e2e_resp ra, rb;
    struct e2e_hold *h;
    struct e2e_action act = {
        .headers = "Cache-Control: max-age=60\r\n", .pattern_len = len, .mid_hold_at = 256 * KiB};
    int rc;

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    act.mid_hold = h;
    e2e_origin_push(origin, &act);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    a = e2e_connect_get(accel, "/half");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0, "the origin never sent the first half");
    e2e_resp_init(&ra, E2E_RESP_PATTERN);
    cr_assert_eq(e2e_client_read(a, &ra, 256 * KiB, E2E_TIMEOUT_MS), 0,
                 "the first requester got %llu bytes of the first half",
                 (unsigned long long)ra.body_len);

    /* a second client arrives in the middle of the fetch */
    b = e2e_connect_get(accel, "/half");
    e2e_resp_init(&rb, E2E_RESP_PATTERN);
    rc = e2e_client_read(b, &rb, 256 * KiB, 5000);
    cr_assert_eq(rc, 0,
                 "the subscriber got %llu of the %u bytes the origin had sent (rc %d, status %d): "
                 "it does not stream the fetch in progress",
                 (unsigned long long)rb.body_len, 256 * KiB, rc, rb.status);
    cr_assert_eq(rb.status, 200);
    cr_assert_not(rb.pattern_bad, "subscriber: body differs at %llu",
                  (unsigned long long)rb.pattern_bad_at);
    cr_assert_eq(e2e_origin_nreqs(origin), 1, "the subscriber went to the origin");

    e2e_hold_release(h);
    read_pattern(a, &ra, len, "first requester");
    read_pattern(b, &rb, len, "subscriber");
    e2e_resp_free(&ra);
    e2e_resp_free(&rb);
    e2e_client_free(&a);
    e2e_client_free(&b);
    e2e_origin_saw(origin, 1, "GET /half twice");
    expect_hit_pattern("/half", len);
}

static void hold_echo(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    act->hold = arg;
    act->headers = "Cache-Control: max-age=60\r\n";
    act->body = req->target;
}

Test(coalesce, a_hundred_urls_fifty_clients_each)
{
    enum { URLS = 100, PER = 50, N = URLS * PER };
    static struct e2e_client *cs[N];
    struct e2e_resp r;
    struct e2e_hold *h;
    char path[32];

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    e2e_origin_set_handler(origin, hold_echo, h);
    e2e_clients_open(accel->port, N, cs);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/u%d", i % URLS);
        e2e_send_get(cs[i], path);
    }
    cr_assert_eq(e2e_hold_wait(h, URLS, E2E_TIMEOUT_MS), 0,
                 "only %u of the %d fetches reached the origin", e2e_origin_nreqs(origin), URLS);
    e2e_expect_conns_read(accel, N);
    e2e_hold_release(h);
    for (int i = 0; i < N; i++) {
        int rc = e2e_client_response(cs[i], &r, 0);

        snprintf(path, sizeof(path), "/u%d", i % URLS);
        cr_assert_eq(rc, 0, "client %d (%s): rc %d", i, path, rc);
        cr_assert_eq(r.status, 200, "client %d: status %d", i, r.status);
        cr_assert_str_eq(r.body, path, "client %d asked for %s, got %s", i, path, r.body);
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, URLS, "100 URLs x 50 concurrent clients");
    for (unsigned i = 0; i < URLS; i++) {
        const struct e2e_req *q = e2e_origin_req(origin, i);

        for (unsigned j = 0; j < i; j++)
            cr_assert_str_neq(q->target, e2e_origin_req(origin, j)->target, "%s fetched twice",
                              q->target);
    }
    e2e_clients_free(cs, N);
}

Test(coalesce, chunked_fetch_shared_with_http10_and_11_subscribers)
{
    enum { N = 20 };
    static uint64_t len = 300 * KiB + 17;
    struct e2e_client *cs[N];
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action a = {.kind = E2E_CHUNKED,
                           .headers = "Cache-Control: max-age=60\r\n",
                           .pattern_len = len,
                           .chunk_size = 10000,
                           .mid_hold_at = 100000};

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    a.mid_hold = h;
    e2e_origin_push(origin, &a);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    cs[0] = e2e_connect_get(accel, "/chunked");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    for (int i = 1; i < N; i++) {
        cs[i] = e2e_client_new(accel->port);
        cr_assert_not_null(cs[i]);
        /* every other one speaks HTTP/1.0: the unknown length is delimited by the close */
        cr_assert_eq(e2e_client_sends(cs[i], i % 2 ? "GET /chunked HTTP/1.0\r\nHost: h\r\n\r\n"
                                                   : "GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n"),
                     0);
    }
    e2e_expect_conns_read(accel, N);
    e2e_hold_release(h);
    for (int i = 0; i < N; i++) {
        char who[48];

        snprintf(who, sizeof(who), "client %d (HTTP/1.%d)", i, i % 2 ? 0 : 1);
        e2e_resp_init(&r, E2E_RESP_PATTERN);
        read_pattern(cs[i], &r, len, who);
        if (i % 2)
            cr_assert_not(r.chunked, "%s: a chunked response to HTTP/1.0", who);
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, N);
    e2e_origin_saw(origin, 1, "20 clients on a chunked fetch");
    expect_hit_pattern("/chunked", len);
}

Test(coalesce, too_large_fetch_still_delivered_to_every_subscriber)
{
    enum { N = 3 };
    static uint64_t len = 2 * MiB;
    struct e2e_client *cs[N];
    struct e2e_resp r;
    struct e2e_hold *h;
    /* chunked: accel learns that it is too large only past max_object_size */
    struct e2e_action a = {.kind = E2E_CHUNKED,
                           .headers = "Cache-Control: max-age=60\r\n",
                           .pattern_len = len,
                           .chunk_size = 65536,
                           .mid_hold_at = 65536};

    e2e_start("max_object_size 1m", &origin, &accel);
    h = e2e_hold_new(origin);
    a.mid_hold = h;
    e2e_origin_push(origin, &a);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    cs[0] = e2e_connect_get(accel, "/huge");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    for (int i = 1; i < N; i++)
        cs[i] = e2e_connect_get(accel, "/huge");
    e2e_expect_conns_read(accel, N);
    e2e_hold_release(h);
    for (int i = 0; i < N; i++) {
        char who[64];

        snprintf(who, sizeof(who), "client %d on a 2 MiB fetch, max_object_size 1m", i);
        e2e_resp_init(&r, E2E_RESP_PATTERN);
        read_pattern(cs[i], &r, len, who);
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, N);
    cr_assert(e2e_accel_alive(accel));
}

/* ---- uncacheable: the waiting requests go in parallel ---------------------------------------- */

static void slow_uncacheable(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    act->delay_ms = 300;
    act->headers = arg;
    act->body = req->target;
}

/* <n> clients at once on <path>; the origin answers each after 300 ms with <headers>. */
static void parallel_pass(const char *path, const char *headers)
{
    enum { N = 200 };
    struct e2e_client *cs[N];
    struct e2e_resp r;
    unsigned before, seen;
    uint64_t t0, ms;

    e2e_origin_set_handler(origin, slow_uncacheable, (void *)headers);
    before = e2e_origin_nreqs(origin);
    e2e_clients_open(accel->port, N, cs);
    t0 = e2e_now_ms();
    for (int i = 0; i < N; i++)
        e2e_send_get(cs[i], path);
    for (int i = 0; i < N; i++) {
        int rc = e2e_client_response(cs[i], &r, 0);

        cr_assert_eq(rc, 0, "%s: client %d: rc %d", headers, i, rc);
        cr_assert_eq(r.status, 200, "%s: client %d: status %d", headers, i, r.status);
        cr_assert_str_eq(r.body, path, "%s: client %d got '%s'", headers, i, r.body);
        e2e_resp_free(&r);
    }
    ms = e2e_now_ms() - t0;
    seen = e2e_origin_nreqs(origin) - before;
    cr_log_info("%s (uncacheable): 200 clients in %llu ms, %u origin requests", path,
                (unsigned long long)ms, seen);
    cr_assert(seen == N || seen == N + 1, "%s: the origin saw %u requests for %d clients", headers,
              seen, N);
    cr_assert_lt(ms, 1500,
                 "%s: 200 clients took %llu ms with a 300 ms origin: they were not sent to the "
                 "origin in parallel",
                 headers, (unsigned long long)ms);
    e2e_clients_free(cs, N);
}

Test(coalesce, uncacheable_waiters_go_to_origin_in_parallel)
{
    e2e_start(NULL, &origin, &accel);
    parallel_pass("/nostore", "Cache-Control: no-store\r\n");
    parallel_pass("/private", "Cache-Control: private, max-age=60\r\n");
}

/* ---- Vary: a subscriber whose request does not match the variant fetches its own ------------ */

static void by_language(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    const char *lang = e2e_hdrs_get(&req->hdrs, "Accept-Language");

    (void)arg;
    act->headers = "Cache-Control: max-age=60\r\nVary: Accept-Language\r\n";
    act->body = lang != NULL && strcmp(lang, "fr") == 0 ? "body:fr" : "body:en";
}

Test(coalesce, vary_mismatch_subscriber_fetches_its_own)
{
    static const char *const lang[] = {"en", "fr", "en", "fr"};
    struct e2e_client *cs[4];
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nVary: Accept-Language\r\n",
                           .body = "body:en"};
    char req[128], want[16];
    unsigned n, en = 0, fr = 0;

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    a.hold = h;
    e2e_origin_push(origin, &a);
    e2e_origin_set_handler(origin, by_language, NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(req, sizeof(req), "GET /v HTTP/1.1\r\nHost: h\r\nAccept-Language: %s\r\n\r\n",
                 lang[i]);
        cs[i] = e2e_client_new(accel->port);
        cr_assert_not_null(cs[i]);
        cr_assert_eq(e2e_client_sends(cs[i], req), 0);
        if (i == 0)
            cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    }
    e2e_expect_conns_read(accel, 4);
    e2e_hold_release(h);
    for (int i = 0; i < 4; i++) {
        int rc = e2e_client_response(cs[i], &r, 0);

        snprintf(want, sizeof(want), "body:%s", lang[i]);
        cr_assert_eq(rc, 0, "client %d (%s): rc %d", i, lang[i], rc);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, want, "client %d asked for Accept-Language: %s, got '%s'", i,
                         lang[i], r.body);
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, 4);
    /* en once: the held fetch, shared by the other en; fr once, or once for each fr subscriber
     * (the design lets each mismatching subscriber fetch its own) */
    cr_assert_eq(e2e_origin_wait_reqs(origin, 2, E2E_TIMEOUT_MS), 0);
    n = e2e_origin_nreqs(origin);
    for (unsigned i = 0; i < n; i++) {
        const char *l = e2e_hdrs_get(&e2e_origin_req(origin, i)->hdrs, "Accept-Language");

        cr_assert_not_null(l, "origin request %u without Accept-Language", i);
        if (strcmp(l, "en") == 0)
            en++;
        else
            fr++;
    }
    cr_log_info("Vary on a busy object: %u en and %u fr origin requests", en, fr);
    cr_assert_eq(en, 1, "the en subscriber matched the en fetch but fetched again (%u en)", en);
    cr_assert(fr >= 1 && fr <= 2, "%u fr origin requests for 2 fr clients", fr);
}

/* ---- subscribers that leave ------------------------------------------------------------------ */

Test(coalesce, subscriber_disconnect_does_not_disturb_others)
{
    static uint64_t len = 1 * MiB;
    struct e2e_client *a, *b, *c, *d;
    struct e2e_resp ra, rb, rd;
    struct e2e_hold *h;
    struct e2e_action act = {
        .headers = "Cache-Control: max-age=60\r\n", .pattern_len = len, .mid_hold_at = 256 * KiB};

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    act.mid_hold = h;
    e2e_origin_push(origin, &act);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    a = e2e_connect_get(accel, "/leave");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    b = e2e_connect_get(accel, "/leave");
    c = e2e_connect_get(accel, "/leave");
    d = e2e_connect_get(accel, "/leave");
    e2e_expect_conns_read(accel, 4);
    /* b leaves after some of the body, c before reading anything */
    e2e_resp_init(&rb, E2E_RESP_PATTERN);
    cr_assert_eq(e2e_client_read(b, &rb, 1, E2E_TIMEOUT_MS), 0, "b got nothing");
    e2e_resp_free(&rb);
    e2e_client_free(&b);
    e2e_client_free(&c);
    e2e_hold_release(h);
    e2e_resp_init(&ra, E2E_RESP_PATTERN);
    read_pattern(a, &ra, len, "the first requester");
    e2e_resp_init(&rd, E2E_RESP_PATTERN);
    read_pattern(d, &rd, len, "the subscriber that stayed");
    e2e_resp_free(&ra);
    e2e_resp_free(&rd);
    e2e_client_free(&a);
    e2e_client_free(&d);
    cr_assert(e2e_accel_alive(accel));
    e2e_origin_saw(origin, 1, "four clients, two left");
    expect_hit_pattern("/leave", len);
    e2e_origin_saw(origin, 1, "GET /leave after the fetch");
}

Test(coalesce, first_requester_disconnect_does_not_stop_the_fetch)
{
    static uint64_t len = 1 * MiB;
    struct e2e_client *a, *b, *c;
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action act = {
        .headers = "Cache-Control: max-age=60\r\n", .pattern_len = len, .mid_hold_at = 256 * KiB};

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    act.mid_hold = h;
    e2e_origin_push(origin, &act);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    a = e2e_connect_get(accel, "/first-leaves");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    b = e2e_connect_get(accel, "/first-leaves");
    c = e2e_connect_get(accel, "/first-leaves");
    e2e_expect_conns_read(accel, 3);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    cr_assert_eq(e2e_client_read(a, &r, 256 * KiB, E2E_TIMEOUT_MS), 0);
    e2e_resp_free(&r);
    e2e_client_free(&a); /* the client whose miss started the fetch */
    e2e_hold_release(h);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    read_pattern(b, &r, len, "subscriber b after the first requester left");
    e2e_resp_free(&r);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    read_pattern(c, &r, len, "subscriber c after the first requester left");
    e2e_resp_free(&r);
    e2e_client_free(&b);
    e2e_client_free(&c);
    e2e_origin_saw(origin, 1, "three clients, the first left");
    expect_hit_pattern("/first-leaves", len);
    e2e_origin_saw(origin, 1, "GET /first-leaves after the fetch");
}

Test(coalesce, waiters_leave_before_the_head)
{
    static uint64_t len = 128 * KiB;
    struct e2e_client *cs[4];
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action act = {.headers = "Cache-Control: max-age=60\r\n", .pattern_len = len};

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    act.hold = h;
    e2e_origin_push(origin, &act);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    cs[0] = e2e_connect_get(accel, "/early");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    for (int i = 1; i < 4; i++)
        cs[i] = e2e_connect_get(accel, "/early");
    e2e_expect_conns_read(accel, 4);
    /* the first requester and one subscriber leave while nothing has come yet */
    e2e_client_free(&cs[0]);
    e2e_client_free(&cs[1]);
    e2e_hold_release(h);
    for (int i = 2; i < 4; i++) {
        e2e_resp_init(&r, E2E_RESP_PATTERN);
        read_pattern(cs[i], &r, len, "a waiter that stayed");
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, 4);
    e2e_origin_saw(origin, 1, "four waiters, two left before the head");
    expect_hit_pattern("/early", len);
}

/* ---- the origin fails ------------------------------------------------------------------------ */

Test(coalesce, origin_reset_mid_body_fails_every_subscriber)
{
    enum { N = 3 };
    static uint64_t len = 256 * KiB;
    struct e2e_client *cs[N];
    struct e2e_resp rs[N];
    struct e2e_hold *h;
    struct e2e_action act = {.headers = "Cache-Control: max-age=60\r\n",
                             .pattern_len = len,
                             .mid_hold_at = 64 * KiB,
                             .reset_after = 1,
                             .reset_at = 64 * KiB};

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    act.mid_hold = h;
    e2e_origin_push(origin, &act);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    cs[0] = e2e_connect_get(accel, "/broken");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    for (int i = 1; i < N; i++)
        cs[i] = e2e_connect_get(accel, "/broken");
    e2e_expect_conns_read(accel, N);
    for (int i = 0; i < N; i++) {
        e2e_resp_init(&rs[i], E2E_RESP_PATTERN);
        cr_assert_eq(e2e_client_read(cs[i], &rs[i], 64 * KiB, E2E_TIMEOUT_MS), 0,
                     "client %d got %llu of the 64 KiB sent before the failure", i,
                     (unsigned long long)rs[i].body_len);
    }
    e2e_hold_release(h); /* the origin resets the connection now */
    for (int i = 0; i < N; i++) {
        int rc = e2e_client_read(cs[i], &rs[i], 0, 5000);

        cr_assert_neq(rc, -ETIMEDOUT,
                      "client %d: the connection stayed open after the origin failed "
                      "(%llu body bytes)",
                      i, (unsigned long long)rs[i].body_len);
        cr_assert(rc != 0 && !rs[i].done,
                  "client %d: a complete response (%llu bytes) from a failed fetch", i,
                  (unsigned long long)rs[i].body_len);
        cr_assert_lt(rs[i].body_len, len);
        cr_assert_not(rs[i].pattern_bad, "client %d: body differs at %llu", i,
                      (unsigned long long)rs[i].pattern_bad_at);
        e2e_resp_free(&rs[i]);
    }
    e2e_clients_free(cs, N);
    cr_assert(e2e_accel_alive(accel), "accel died");
    e2e_origin_saw(origin, 1, "the failed fetch");

    /* the failure was not stored: the next request fetches again, and that one is stored */
    cs[0] = e2e_connect_get(accel, "/broken");
    e2e_resp_init(&rs[0], E2E_RESP_PATTERN);
    read_pattern(cs[0], &rs[0], len, "the request after the failure");
    e2e_resp_free(&rs[0]);
    e2e_client_free(&cs[0]);
    e2e_origin_saw(origin, 2, "the request after the failure");
    expect_hit_pattern("/broken", len);
    e2e_origin_saw(origin, 2, "the request after the refetch");
}

Test(coalesce, origin_reset_before_head_502_for_every_waiter)
{
    enum { N = 3 };
    static uint64_t len = 1000;
    struct e2e_client *cs[N];
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action act = {.kind = E2E_RESET};

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    act.hold = h;
    e2e_origin_push(origin, &act);
    e2e_origin_set_handler(origin, cacheable_pattern, &len);
    cs[0] = e2e_connect_get(accel, "/reset");
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    for (int i = 1; i < N; i++)
        cs[i] = e2e_connect_get(accel, "/reset");
    e2e_expect_conns_read(accel, N);
    e2e_hold_release(h);
    for (int i = 0; i < N; i++) {
        int rc = e2e_client_response(cs[i], &r, 0);

        cr_assert_eq(rc, 0, "waiter %d: no response (rc %d)", i, rc);
        cr_assert_eq(r.status, 502, "waiter %d: status %d after the origin reset", i, r.status);
        e2e_resp_free(&r);
    }
    e2e_clients_free(cs, N);
    cr_assert(e2e_accel_alive(accel), "accel died");
    e2e_origin_saw(origin, 1, "the failed fetch");
    cs[0] = e2e_connect_get(accel, "/reset");
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    read_pattern(cs[0], &r, len, "the request after the failure");
    e2e_resp_free(&r);
    e2e_client_free(&cs[0]);
    e2e_origin_saw(origin, 2, "the request after the failure");
}
