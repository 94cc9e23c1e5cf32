/* t30_origin_errors.c - the origin fails: refused, reset, closed, malformed answers (502), silent
 * (504); a pooled connection the origin closed is retried once; and the client-side timeouts
 * (slow request head, idle keep-alive). accel stays up through all of it. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(origin_errors, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

static struct e2e_origin *origin;
static struct e2e_accel *accel;

/* One GET on a new connection; returns its status, failing the test when none came. */
static int get_status(const char *path, struct e2e_resp *r)
{
    e2e_get(accel, path, NULL, r);
    return r->status;
}

/* The error response is short text, and accel still serves a good answer afterwards. */
static void error_then_ok(const char *path, int want)
{
    struct e2e_resp r;
    int st = get_status(path, &r);
    uint64_t body_len = r.body_len;

    e2e_resp_free(&r); /* before a failed assert leaves the function */
    cr_assert_eq(st, want, "GET %s: status %d, expected %d", path, st, want);
    cr_assert_gt(body_len, 0, "the %d has no body", want);
    cr_assert_lt(body_len, 1024);
    cr_assert(e2e_accel_alive(accel), "accel died");
    st = get_status("/after", &r);
    cr_assert_eq(st, 200, "the request after the %d got %d", want, st);
    cr_assert_str_eq(r.body, "hello");
    e2e_resp_free(&r);
}

Test(origin_errors, refused_502)
{
    struct e2e_resp r;

    accel = e2e_accel_start(NULL, e2e_port_down());
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(get_status("/x", &r), 502);
        cr_assert_gt(r.body_len, 0);
        e2e_resp_free(&r);
    }
    cr_assert(e2e_accel_alive(accel));
}

Test(origin_errors, reset_before_answer_502)
{
    struct e2e_action a = {.kind = E2E_RESET};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    error_then_ok("/reset", 502);
    cr_assert_eq(e2e_origin_nreqs(origin), 2, "origin saw %u requests: /reset was retried",
                 e2e_origin_nreqs(origin));
}

Test(origin_errors, close_without_answer_on_fresh_connection_502)
{
    struct e2e_action a = {.kind = E2E_CLOSE};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    error_then_ok("/closed", 502);
    /* a fresh connection is not retried: only a reused one may have been closed by a race */
    cr_assert_eq(e2e_origin_nreqs(origin), 2, "origin saw %u requests", e2e_origin_nreqs(origin));
}

Test(origin_errors, reset_mid_body_truncates)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.pattern_len = 1024 * 1024, .reset_after = 1, .reset_at = 100000};
    int rc;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /trunc HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    rc = e2e_client_response(c, &r, E2E_RESP_PATTERN);
    /* the head is gone already: accel can only abort; the client must not see a complete body */
    if (rc == 0)
        cr_assert_eq(r.status, 502, "a truncated body was delivered as complete (%llu bytes)",
                     (unsigned long long)r.body_len);
    else
        cr_assert_eq(rc, -ECONNRESET, "rc %d", rc);
    cr_assert_not(r.pattern_bad);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    cr_assert(e2e_accel_alive(accel));
    cr_assert_eq(get_status("/after", &r), 200);
    e2e_resp_free(&r);
}

/* ---- malformed answers ----------------------------------------------------------------------- */

static void malformed(const char *raw)
{
    struct e2e_action a = {.kind = E2E_RAW, .raw = raw};

    e2e_start("max_origin_header_size 4k", &origin, &accel);
    e2e_origin_push(origin, &a);
    error_then_ok("/bad", 502);
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
}

Test(origin_errors, garbage_status_line_502)
{
    malformed("HTTX/1.1 2OO Fine\r\nContent-Length: 2\r\n\r\nok");
}

Test(origin_errors, not_http_at_all_502)
{
    malformed("SSH-2.0-OpenSSH_9.2\r\n");
}

Test(origin_errors, content_length_and_chunked_502)
{
    malformed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n0\r\n\r\n");
}

Test(origin_errors, invalid_content_length_502)
{
    malformed("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello");
}

Test(origin_errors, differing_content_lengths_502)
{
    malformed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
}

Test(origin_errors, truncated_head_502)
{
    malformed("HTTP/1.1 200 OK\r\nContent-Len");
}

Test(origin_errors, head_too_large_502)
{
    static char raw[16384];
    size_t n = (size_t)snprintf(raw, sizeof(raw), "HTTP/1.1 200 OK\r\nX-Big: ");

    memset(raw + n, 'q', 10000);
    n += 10000;
    snprintf(raw + n, sizeof(raw) - n, "\r\nContent-Length: 2\r\n\r\nok");
    malformed(raw);
}

Test(origin_errors, head_over_default_limit_502)
{
    static char raw[80 * 1024];
    size_t n = (size_t)snprintf(raw, sizeof(raw), "HTTP/1.1 200 OK\r\n");
    struct e2e_action a = {.kind = E2E_RAW, .raw = raw};

    for (int i = 0; i < 70; i++) /* 70 fields of 1 KiB: past the default 64k */
        n += (size_t)snprintf(raw + n, sizeof(raw) - n, "X-F%d: %01000d\r\n", i, i);
    snprintf(raw + n, sizeof(raw) - n, "Content-Length: 2\r\n\r\nok");
    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    error_then_ok("/bad", 502);
}

Test(origin_errors, bad_chunk_size_not_delivered_as_complete)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.kind = E2E_RAW,
                           .raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "5\r\nhello\r\nxyz\r\nbroken\r\n0\r\n\r\n"};
    int rc;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /badchunk HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    rc = e2e_client_response(c, &r, 0);
    if (rc == 0)
        cr_assert_eq(r.status, 502, "a broken chunked body was delivered as complete: %s", r.body);
    else
        cr_assert(rc == -ECONNRESET || rc == -EBADMSG, "rc %d", rc);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    cr_assert(e2e_accel_alive(accel));
    cr_assert_eq(get_status("/after", &r), 200);
    e2e_resp_free(&r);
}

/* ---- timeouts -------------------------------------------------------------------------------- */

Test(origin_errors, silent_origin_504)
{
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action a = {0};
    uint64_t t0, dt;

    e2e_start("origin_timeout 500ms", &origin, &accel);
    h = e2e_hold_new(origin);
    a.hold = h; /* never released before the 504 */
    e2e_origin_push(origin, &a);
    t0 = e2e_now_ms();
    cr_assert_eq(get_status("/slow", &r), 504);
    dt = e2e_now_ms() - t0;
    cr_assert_gt(r.body_len, 0);
    cr_assert_geq(dt, 400, "504 after %llu ms, origin_timeout is 500 ms", (unsigned long long)dt);
    cr_assert_lt(dt, 5000, "504 after %llu ms, origin_timeout is 500 ms", (unsigned long long)dt);
    cr_assert_eq(e2e_hold_wait(h, 1, 0), 0, "the origin never got the request");
    e2e_resp_free(&r);
    e2e_hold_release(h);
    cr_assert(e2e_accel_alive(accel));
    cr_assert_eq(get_status("/after", &r), 200);
    e2e_resp_free(&r);
}

Test(origin_errors, slow_but_within_timeout_ok)
{
    struct e2e_resp r;
    struct e2e_action a = {
        .kind = E2E_CHUNKED, .body = "aaaabbbbccccdddd", .chunk_size = 4, .pause_ms = 300};

    e2e_start("origin_timeout 1s", &origin, &accel);
    e2e_origin_push(origin, &a);
    /* 1.2 s in total, but never silent for 1 s: the timeout is per read, not per response */
    cr_assert_eq(get_status("/trickle", &r), 200);
    cr_assert_str_eq(r.body, "aaaabbbbccccdddd");
    e2e_resp_free(&r);
}

/* ---- pool retry ------------------------------------------------------------------------------ */

/* The second request on any origin connection is read and then the connection is closed without
 * an answer, as an origin closing an idle keep-alive connection would race with it. */
static void close_second_on_conn(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    int *close_retry_too = arg;

    act->body = req->target;
    if (req->conn_seq == 1 || (*close_retry_too && req->conn > 0))
        act->kind = E2E_CLOSE;
}

Test(origin_errors, retry_once_on_reused_connection_closed)
{
    struct e2e_client *c;
    struct e2e_resp r;
    int close_retry_too = 0;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, close_second_on_conn, &close_retry_too);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_str_eq(r.body, "/first");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_sends(c, "GET /second HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200, "the retried request got %d", r.status);
    cr_assert_str_eq(r.body, "/second");
    e2e_resp_free(&r);

    cr_assert_eq(e2e_origin_nconns(origin), 2);
    cr_assert_eq(e2e_origin_nreqs(origin), 3);
    q = e2e_origin_req(origin, 1);
    cr_assert_str_eq(q->target, "/second");
    cr_assert_eq(q->conn, 0);
    q = e2e_origin_req(origin, 2);
    cr_assert_str_eq(q->target, "/second");
    cr_assert_eq(q->conn, 1);
    e2e_client_free(&c);
}

Test(origin_errors, retry_only_once)
{
    struct e2e_client *c;
    struct e2e_resp r;
    int close_retry_too = 1;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, close_second_on_conn, &close_retry_too);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_sends(c, "GET /second HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 502, "retry failed too, expected 502, got %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 3, "origin saw %u requests: retried more than once",
                 e2e_origin_nreqs(origin));
    cr_assert_eq(e2e_origin_nconns(origin), 2);
    e2e_client_free(&c);
}

/* A PUT with a small body is idempotent and still whole in accel's hands: it is sent again, body
 * and all. A POST is not idempotent: it is not, and the client gets a 502. */
Test(origin_errors, put_with_body_retried_post_not)
{
    struct e2e_client *c;
    struct e2e_resp r;
    int close_retry_too = 0;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, close_second_on_conn, &close_retry_too);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    e2e_resp_free(&r);
    cr_assert_eq(
        e2e_client_sends(c, "PUT /put HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\ndata"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200, "the retried PUT got %d", r.status);
    cr_assert_str_eq(r.body, "/put");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 3);
    q = e2e_origin_req(origin, 2);
    cr_assert_str_eq(q->method, "PUT");
    cr_assert_eq(q->conn, 1, "the retry went on a new connection");
    cr_assert_str_eq(q->body, "data", "the retried PUT lost its body: '%s'", q->body);

    /* a POST on the second origin connection, now reused (the same client connection keeps the
     * same worker and its pool): closed too, and not sent again */
    cr_assert_eq(
        e2e_client_sends(c, "POST /post HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\ndata"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    q = e2e_origin_req(origin, 3);
    cr_assert_eq(r.status, 502, "a POST was retried: %d (conn %u seq %u, %u conns)", r.status,
                 q->conn, q->conn_seq, e2e_origin_nconns(origin));
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 4, "origin saw %u requests", e2e_origin_nreqs(origin));
    e2e_client_free(&c);
}

Test(origin_errors, origin_closes_idle_pooled_connection)
{
    struct e2e_client *c;
    struct e2e_resp r;
    /* answers normally (keep-alive, no Connection: close), then closes the connection */
    struct e2e_action a = {.body = "one", .close_after = 1};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_str_eq(r.body, "one");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_wait_idle(origin, E2E_TIMEOUT_MS), 0);
    cr_assert_eq(e2e_client_sends(c, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(e2e_origin_nconns(origin), 2);
    cr_assert_eq(e2e_origin_ndone(origin), 2);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

/* ---- client timeouts ------------------------------------------------------------------------- */

Test(origin_errors, slow_header_client_closed)
{
    struct e2e_client *c;
    char *rest;
    uint64_t t0, dt;

    e2e_start("client_header_timeout 1s", &origin, &accel);
    c = e2e_client_new(accel->port);
    t0 = e2e_now_ms();
    cr_assert_eq(e2e_client_sends(c, "GET /stalled HTTP/1.1\r\nHo"), 0);
    cr_assert(e2e_client_wait_closed(c, 6000), "accel kept a stalled request head open");
    dt = e2e_now_ms() - t0;
    cr_assert_geq(dt, 800, "closed after %llu ms, client_header_timeout is 1 s",
                  (unsigned long long)dt);
    rest = e2e_client_read_all(c, NULL, 0);
    cr_assert(rest[0] == '\0' || strncmp(rest, "HTTP/1.1 408", 12) == 0,
              "unexpected answer to a stalled head: %.40s", rest);
    free(rest);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    e2e_client_free(&c);
    cr_assert(e2e_accel_alive(accel));
}

Test(origin_errors, trickled_header_still_times_out)
{
    struct e2e_client *c;
    const char *head = "GET /trickle HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n";
    uint64_t t0 = e2e_now_ms();
    int closed = 0;

    e2e_start("client_header_timeout 1s", &origin, &accel);
    c = e2e_client_new(accel->port);
    /* a byte every 100 ms: the timeout covers the whole head, not each read */
    for (size_t i = 0; head[i] != '\0' && !closed; i++) {
        if (e2e_client_send(c, head + i, 1) != 0)
            break;
        closed = e2e_client_wait_closed(c, 100);
    }
    if (!closed)
        closed = e2e_client_wait_closed(c, 3000);
    cr_assert(closed, "accel kept a trickled head open for %llu ms",
              (unsigned long long)(e2e_now_ms() - t0));
    cr_assert_lt(e2e_now_ms() - t0, 4000);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    e2e_client_free(&c);
}

Test(origin_errors, stalled_request_body_times_out)
{
    struct e2e_client *c;
    char *rest;
    const struct e2e_req *q;
    uint64_t t0, dt;

    e2e_start("client_body_timeout 1s", &origin, &accel);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "POST /half HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
                                     "12345"),
                 0);
    t0 = e2e_now_ms();
    cr_assert(e2e_client_wait_closed(c, 6000), "accel kept a stalled request body open");
    dt = e2e_now_ms() - t0;
    cr_assert_geq(dt, 800, "closed after %llu ms, client_body_timeout is 1 s",
                  (unsigned long long)dt);
    rest = e2e_client_read_all(c, NULL, 0);
    cr_assert(rest[0] == '\0' || strncmp(rest, "HTTP/1.1 408", 12) == 0,
              "unexpected answer to a stalled body: %.40s", rest);
    free(rest);
    /* the origin may have got the head and half the body, never a complete request, and its
     * connection must not go back to the pool with half a body on it */
    cr_assert_eq(e2e_origin_ndone(origin), 0, "the origin got a complete request");
    cr_assert_eq(e2e_origin_wait_idle(origin, E2E_TIMEOUT_MS), 0,
                 "the origin connection with half a body was kept");
    if (e2e_origin_nreqs(origin) > 0) {
        q = e2e_origin_req(origin, 0);
        cr_assert(q->aborted);
        cr_assert_leq(q->body_len, 5);
    }
    e2e_client_free(&c);
    cr_assert(e2e_accel_alive(accel));
}

Test(origin_errors, idle_keepalive_closed)
{
    struct e2e_client *c;
    struct e2e_resp r;
    uint64_t t0, dt;

    e2e_start("keepalive_timeout 1s", &origin, &accel);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /ka HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(r.keep_alive);
    e2e_resp_free(&r);
    t0 = e2e_now_ms();
    cr_assert(e2e_client_wait_closed(c, 5000), "idle keep-alive connection never closed");
    dt = e2e_now_ms() - t0;
    cr_assert_geq(dt, 800, "closed after %llu ms, keepalive_timeout is 1 s",
                  (unsigned long long)dt);
    cr_assert_eq(c->len, 0, "accel sent bytes on an idle connection: %.40s", c->buf);
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_client_free(&c);
}
