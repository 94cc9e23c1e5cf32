/* t78_ratelimit.c - rate_limit through the real binary: a client gets its burst, then 429 with
 * Retry-After on the same keep-alive connection, and nothing more reaches the origin; it
 * recovers once tokens come back; another address has a bucket of its own; cache hits are
 * limited too; the table is bounded (the address seen least recently is dropped); /metrics
 * counts the refusals. One worker, so that one table sees every connection. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

TestSuite(ratelimit, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

/* GET <path> on <c>; returns the status and leaves the answer in <r> (caller frees). */
static int get_on(struct e2e_client *c, const char *path, struct e2e_resp *r)
{
    char req[256];
    int rc;

    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path);
    cr_assert_eq(e2e_client_sends(c, req), 0);
    rc = e2e_client_response(c, r, 0);
    cr_assert_eq(rc, 0, "GET %s: rc %d (%s)", path, rc, r->error ? r->error : "-");
    return r->status;
}

/* GET <path> on <c>; returns the status. */
static int status_on(struct e2e_client *c, const char *path)
{
    struct e2e_resp r;
    int st = get_on(c, path, &r);

    e2e_resp_free(&r);
    return st;
}

static struct e2e_client *client_from(struct e2e_accel *a, const char *src)
{
    struct e2e_client *c =
        src != NULL ? e2e_client_new_from(a->port, src) : e2e_client_new(a->port);

    cr_assert_not_null(c, "cannot connect from %s", src != NULL ? src : "127.0.0.1");
    return c;
}

Test(ratelimit, burst_then_429_with_retry_after_then_recovery)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_client *c;
    struct e2e_resp r;
    char path[32];
    const char *ra;

    e2e_start("workers 1\nrate_limit 60/m burst=3\n", &o, &a);
    c = client_from(a, NULL);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/b%d", i);
        cr_assert_eq(status_on(c, path), 200, "request %d of the burst", i);
    }
    cr_assert_eq(get_on(c, "/over", &r), 429);
    ra = e2e_hdrs_get(&r.hdrs, "retry-after");
    cr_assert_not_null(ra, "a 429 without Retry-After");
    cr_assert_str_eq(ra, "1", "one token a second: come back in 1 s, got %s", ra);
    cr_assert_not_null(strstr(r.body, "rate_limit"), "body: %s", r.body);
    cr_assert_not_null(e2e_hdrs_get(&r.hdrs, "cache-control"));
    cr_assert(r.keep_alive, "a refused request keeps its connection");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(o), 3, "the origin saw %u requests, not the burst of 3",
                 e2e_origin_nreqs(o));
    cr_assert_eq(status_on(c, "/over2"), 429, "still no token");
    cr_assert_eq(e2e_origin_nreqs(o), 3);

    e2e_sleep_ms(1100);
    cr_assert_eq(status_on(c, "/later"), 200, "one token came back");
    cr_assert_eq(status_on(c, "/later2"), 429, "and only one");
    cr_assert_eq(e2e_origin_nreqs(o), 4);
    cr_assert_str_eq(e2e_origin_req(o, 3)->target, "/later");
    e2e_client_free(&c);
    cr_assert(e2e_accel_alive(a));
}

Test(ratelimit, a_slow_rate_says_when_to_come_back)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_resp r;
    long ra;

    e2e_start("workers 1\nrate_limit 6/m\n", &o, &a);
    e2e_get(a, "/one", NULL, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    /* a new connection: the bucket belongs to the address, not the connection */
    e2e_get(a, "/two", NULL, &r);
    cr_assert_eq(r.status, 429);
    cr_assert_not_null(e2e_hdrs_get(&r.hdrs, "retry-after"));
    ra = strtol(e2e_hdrs_get(&r.hdrs, "retry-after"), NULL, 10);
    cr_assert(ra >= 9 && ra <= 10, "one request in 10 s: Retry-After %ld", ra);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(o), 1);
}

Test(ratelimit, another_address_has_its_own_bucket_and_hits_count_too)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_client *c1, *c2;
    struct e2e_resp r;
    char *line;

    e2e_start("workers 1\nrate_limit 60/m burst=2\n", &o, &a);
    e2e_origin_push(o, &(struct e2e_action){.headers = "Cache-Control: max-age=600\r\n"});
    c1 = client_from(a, NULL);
    c2 = client_from(a, "127.0.0.2");
    cr_assert_eq(status_on(c1, "/same"), 200);
    cr_assert_eq(status_on(c1, "/same"), 200, "a hit");
    cr_assert_eq(e2e_origin_nreqs(o), 1, "the second was a hit");
    cr_assert_eq(status_on(c1, "/same"), 429, "hits take tokens too");
    cr_assert_eq(get_on(c2, "/same", &r), 200, "127.0.0.2 is another client");
    e2e_expect_hit(&r, 0, NULL, "127.0.0.2's GET /same");
    e2e_resp_free(&r);
    cr_assert_eq(status_on(c2, "/other"), 200);
    cr_assert_eq(status_on(c2, "/other"), 429);
    cr_assert_eq(status_on(c1, "/same"), 429, "127.0.0.1 still waits");
    cr_assert_eq(e2e_origin_nreqs(o), 2);
    line = e2e_wait_line(a->error_log, "429 too many requests from this address", 2000);
    cr_assert_not_null(line, "no refusal logged in %s", a->error_log);
    cr_assert_not_null(strstr(line, "127.0.0."), "%s", line);
    free(line);
    e2e_client_free(&c1);
    e2e_client_free(&c2);
}

Test(ratelimit, a_full_table_drops_the_address_seen_least_recently)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_client *c1, *c2;

    e2e_start("workers 1\nrate_limit 6/m burst=1 table=1\n", &o, &a);
    c1 = client_from(a, NULL);
    c2 = client_from(a, "127.0.0.2");
    cr_assert_eq(status_on(c1, "/a"), 200);
    cr_assert_eq(status_on(c1, "/b"), 429);
    /* the one place goes to 127.0.0.2; 127.0.0.1 is forgotten and starts again full */
    cr_assert_eq(status_on(c2, "/c"), 200);
    cr_assert_eq(status_on(c1, "/d"), 200, "a dropped address starts with a full bucket");
    cr_assert_eq(status_on(c1, "/e"), 429);
    cr_assert_eq(e2e_origin_nreqs(o), 3);
    e2e_client_free(&c1);
    e2e_client_free(&c2);
}

Test(ratelimit, head_and_a_request_with_a_body)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start("workers 1\nrate_limit 6/m burst=1\n", &o, &a);
    c = client_from(a, NULL);
    cr_assert_eq(status_on(c, "/a"), 200);
    cr_assert_eq(e2e_client_sends(c, "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    e2e_resp_init(&r, E2E_RESP_HEAD);
    cr_assert_eq(e2e_client_read(c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 429);
    cr_assert_eq(r.body_len, 0, "a HEAD answer has no body");
    cr_assert_not_null(e2e_hdrs_get(&r.hdrs, "retry-after"));
    e2e_resp_free(&r);
    /* a refused request with a body: its body is not read, so the connection ends after the
     * answer and the bytes after the head are never taken for a request */
    cr_assert_eq(e2e_client_sends(c, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n"
                                     "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"),
                 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 429);
    cr_assert_not(r.keep_alive, "the body was not read: Connection: close");
    e2e_resp_free(&r);
    cr_assert(e2e_client_wait_closed(c, 3000), "the connection stays open");
    cr_assert_eq(e2e_origin_nreqs(o), 1, "nothing of the POST reached the origin");
    e2e_client_free(&c);
    cr_assert(e2e_accel_alive(a));
}

#define TOKEN "e2e-ratelimit-token-0123456789abcdef"

Test(ratelimit, metrics_count_the_refusals)
{
    const char *dir = e2e_tmpdir();
    char tok[256], conf[1024];
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_client *c;
    struct e2e_resp r;
    int aport;

    e2e_write_file(dir, "admin.token", TOKEN "\n", tok, sizeof tok);
    cr_assert_eq(chmod(tok, 0600), 0);
    snprintf(conf, sizeof conf,
             "workers 1\nrate_limit 6/m burst=2\n"
             "admin {\n    listen 127.0.0.1:0;\n    token_file %s;\n}\n",
             tok);
    e2e_start(conf, &o, &a);
    aport = e2e_accel_admin_port(a, 5000);
    cr_assert_gt(aport, 0);
    c = client_from(a, NULL);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(status_on(c, "/m"), i < 2 ? 200 : 429, "request %d", i);
    e2e_client_free(&c);
    e2e_admin_get(aport, TOKEN, "/metrics", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(e2e_metric(r.body, "accel_rate_limited_total"), 3, "in %s", r.body);
    cr_assert_eq(e2e_metric(r.body, "accel_responses_total{code=\"4xx\"}"), 3);
    e2e_resp_free(&r);
    /* the admin API itself is not limited */
    e2e_admin_get(aport, TOKEN, "/metrics", &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
}
