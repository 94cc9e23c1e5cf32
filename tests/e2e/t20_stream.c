/* t20_stream.c - bodies stream through accel in both directions: chunked and Content-Length
 * request bodies reach the origin before the client has sent them in full, Expect: 100-continue
 * is answered by accel, responses reach the client before the origin has sent them in full,
 * origin framing (chunked, close-delimited) is re-framed for the client, a 1 GiB response keeps
 * accel's memory flat, and a client that stops reading stops the origin. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(stream, .init = e2e_setup, .fini = e2e_teardown, .timeout = 120);

#define MiB (1024u * 1024u)

static struct e2e_origin *origin;
static struct e2e_accel *accel;

static void read_ok(struct e2e_client *c, struct e2e_resp *r, unsigned flags)
{
    int rc = e2e_client_response(c, r, flags);

    cr_assert_eq(rc, 0, "response: rc %d (%s), status %d", rc, r->error ? r->error : "-",
                 r->status);
}

/* ---- request bodies -------------------------------------------------------------------------- */

Test(stream, chunked_request_body_streamed_to_origin)
{
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "POST /up HTTP/1.1\r\nHost: h\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"
                                     "6\r\npart1-\r\n"),
                 0);
    /* the first chunk reaches the origin while the client has not finished the body */
    cr_assert_eq(e2e_origin_wait_body_bytes(origin, 6, E2E_TIMEOUT_MS), 0,
                 "the origin got %llu body bytes: accel buffers chunked request bodies",
                 (unsigned long long)e2e_origin_body_bytes_in(origin));
    cr_assert_eq(e2e_client_sends(c, "a;ext=1\r\npart2-abcd\r\n5\r\nlast!\r\n0\r\n\r\n"), 0);
    read_ok(c, &r, 0);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
    cr_assert_eq(e2e_origin_wait_reqs(origin, 1, E2E_TIMEOUT_MS), 0);
    q = e2e_origin_req(origin, 0);
    cr_assert(q->chunked, "accel did not forward the chunked body as chunked");
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "Content-Length"));
    cr_assert_eq(e2e_hdrs_count(&q->hdrs, "Transfer-Encoding"), 1);
    cr_assert_str_eq(q->body, "part1-part2-abcdlast!");
    cr_assert_eq(q->body_len, 21);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(stream, content_length_request_body_streamed_to_origin)
{
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n"
                                     "first-"),
                 0);
    cr_assert_eq(e2e_origin_wait_body_bytes(origin, 6, E2E_TIMEOUT_MS), 0,
                 "the origin got %llu body bytes: accel buffers request bodies",
                 (unsigned long long)e2e_origin_body_bytes_in(origin));
    cr_assert_eq(e2e_client_sends(c, "second"), 0);
    read_ok(c, &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(e2e_origin_wait_reqs(origin, 1, E2E_TIMEOUT_MS), 0);
    q = e2e_origin_req(origin, 0);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Content-Length"), "12");
    cr_assert_str_eq(q->body, "first-second");
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(stream, large_request_body)
{
    const size_t n = 4 * MiB;
    char *body = malloc(n);
    char head[128];
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;

    for (size_t i = 0; i < n; i++)
        body[i] = (char)e2e_pattern_byte(i);
    e2e_start("max_body_size 10m", &origin, &accel);
    c = e2e_connect(accel);
    snprintf(head, sizeof(head), "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", n);
    cr_assert_eq(e2e_client_sends(c, head), 0);
    cr_assert_eq(e2e_client_send(c, body, n), 0);
    read_ok(c, &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(e2e_origin_wait_reqs(origin, 1, E2E_TIMEOUT_MS), 0);
    q = e2e_origin_req(origin, 0);
    cr_assert_eq(q->body_len, n);
    cr_assert(e2e_pattern_check(0, q->body, E2E_BODY_CAP), "request body corrupted");
    e2e_resp_free(&r);
    e2e_client_free(&c);
    free(body);
}

Test(stream, expect_100_continue_answered_by_accel)
{
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
                                     "Expect: 100-continue\r\n\r\n"),
                 0);
    read_ok(c, &r, 0);
    cr_assert_eq(r.status, 100, "expected 100 Continue before sending the body, got %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_sends(c, "hello world"), 0);
    read_ok(c, &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(e2e_origin_wait_reqs(origin, 1, E2E_TIMEOUT_MS), 0);
    q = e2e_origin_req(origin, 0);
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "Expect"), "Expect forwarded to the origin");
    cr_assert_str_eq(q->body, "hello world");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(stream, expect_100_with_body_sent_at_once)
{
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    c = e2e_connect(accel);
    /* the client does not wait for the 100: a 100 may still come, then the final answer */
    cr_assert_eq(e2e_client_sends(c, "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                                     "Expect: 100-continue\r\n\r\nabcde"
                                     "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
                 0);
    read_ok(c, &r, 0);
    if (r.status == 100) {
        e2e_resp_free(&r);
        read_ok(c, &r, 0);
    }
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    read_ok(c, &r, 0);
    cr_assert_eq(r.status, 200, "the pipelined request after it got %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_wait_reqs(origin, 2, E2E_TIMEOUT_MS), 0);
    q = e2e_origin_req(origin, 0);
    cr_assert_str_eq(q->body, "abcde");
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "Expect"));
    cr_assert_str_eq(e2e_origin_req(origin, 1)->target, "/next");
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
    e2e_client_free(&c);
}

/* ---- response bodies ------------------------------------------------------------------------- */

Test(stream, chunked_response_streamed_and_rechunked)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action a = {.kind = E2E_CHUNKED, .body = "first-second-third", .chunk_size = 6};

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    a.mid_hold = h;
    a.mid_hold_at = 6;
    e2e_origin_push(origin, &a);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    e2e_resp_init(&r, 0);
    /* the origin holds after its first chunk: the client must get it meanwhile */
    cr_assert_eq(e2e_client_read(c, &r, 6, E2E_TIMEOUT_MS), 0,
                 "the first chunk did not reach the client while the origin held the rest");
    cr_assert_str_eq(r.body, "first-");
    cr_assert(r.chunked, "response to an HTTP/1.1 client is not chunked");
    e2e_hold_release(h);
    cr_assert_eq(e2e_client_read(c, &r, 0, E2E_TIMEOUT_MS), 0);
    cr_assert_str_eq(r.body, "first-second-third");
    cr_assert_eq(e2e_hdrs_count(&r.hdrs, "Transfer-Encoding"), 1);
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Content-Length"));
    e2e_resp_free(&r);
    /* the connection is still usable */
    cr_assert_eq(e2e_client_sends(c, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    read_ok(c, &r, 0);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(e2e_origin_nconns(origin), 1);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(stream, content_length_response_streamed)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action a = {.pattern_len = 2 * MiB, .mid_hold_at = 1 * MiB};

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    a.mid_hold = h;
    e2e_origin_push(origin, &a);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "GET /cl HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    cr_assert_eq(e2e_client_read(c, &r, 1 * MiB, E2E_TIMEOUT_MS), 0,
                 "got %llu of the first MiB while the origin held the second",
                 (unsigned long long)r.body_len);
    cr_assert_eq(r.body_len, 1 * MiB);
    e2e_hold_release(h);
    cr_assert_eq(e2e_client_read(c, &r, 0, E2E_TIMEOUT_MS), 0);
    cr_assert_eq(r.body_len, 2 * MiB);
    cr_assert_not(r.pattern_bad, "body differs at byte %llu", (unsigned long long)r.pattern_bad_at);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(stream, close_delimited_response_rechunked_keepalive)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.kind = E2E_CLOSE_DELIM, .body = "no length, ends at close"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "GET /cd HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    read_ok(c, &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "no length, ends at close");
    cr_assert(r.chunked, "close-delimited origin body not re-chunked for an HTTP/1.1 client");
    cr_assert(r.keep_alive);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_sends(c, "GET /again HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    read_ok(c, &r, 0);
    cr_assert_str_eq(r.body, "hello");
    /* the origin closed the first connection: the second request needed a new one */
    cr_assert_eq(e2e_origin_nconns(origin), 2);
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(stream, large_chunked_response_pattern)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.kind = E2E_CHUNKED, .pattern_len = 64 * MiB, .chunk_size = 100000};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "GET /bigc HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    read_ok(c, &r, E2E_RESP_PATTERN);
    cr_assert_eq(r.body_len, 64 * MiB);
    cr_assert_not(r.pattern_bad, "body differs at byte %llu", (unsigned long long)r.pattern_bad_at);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(stream, client_abort_mid_response_closes_origin_connection)
{
    const uint64_t total = 256ull * MiB;
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.pattern_len = total, .sndbuf = 128 * 1024};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "GET /abort HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    cr_assert_eq(e2e_client_read(c, &r, 1 * MiB, E2E_TIMEOUT_MS), 0);
    e2e_resp_free(&r);
    e2e_client_free(&c); /* the client leaves in the middle of the body */

    /* accel must drop the origin connection: it cannot be reused with a body half sent */
    cr_assert_eq(e2e_origin_wait_idle(origin, E2E_TIMEOUT_MS), 0,
                 "accel kept the origin connection of an aborted response open");
    cr_assert_lt(e2e_origin_bytes_sent(origin), total, "the origin sent all of it anyway");
    cr_assert(e2e_accel_alive(accel));
    cr_assert_eq(e2e_request(accel->port, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(e2e_origin_nconns(origin), 2);
    e2e_resp_free(&r);
}

/* ---- memory and backpressure ----------------------------------------------------------------- */

Test(stream, one_gib_response_keeps_rss_flat)
{
    const uint64_t total = 1024ull * MiB;
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.pattern_len = total};
    long base, peak = 0;
    uint64_t t0;

    e2e_start(NULL, &origin, &accel);
    /* warm up: one small exchange, so the baseline includes the connection machinery */
    cr_assert_eq(e2e_request(accel->port, "GET /warm HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    e2e_resp_free(&r);
    base = e2e_accel_rss_kb(accel);
    cr_assert_gt(base, 0);

    e2e_origin_push(origin, &a);
    c = e2e_connect(accel);
    cr_assert_eq(e2e_client_sends(c, "GET /gib HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    t0 = e2e_now_ms();
    for (uint64_t step = 16 * MiB;; step += 16 * MiB) {
        int rc = e2e_client_read(c, &r, step, E2E_TIMEOUT_MS);
        long rss = e2e_accel_rss_kb(accel);

        cr_assert_eq(rc, 0, "stalled at %llu bytes: rc %d", (unsigned long long)r.body_len, rc);
        if (rss > peak)
            peak = rss;
        if (r.done)
            break;
    }
    cr_assert_eq(r.body_len, total);
    cr_assert_not(r.pattern_bad, "body differs at byte %llu", (unsigned long long)r.pattern_bad_at);
    cr_assert_lt(peak - base, 16 * 1024, "accel RSS grew from %ld KiB to %ld KiB", base, peak);
    cr_assert_eq(e2e_origin_bytes_sent(origin) > total, 1);
    cr_log_info("1 GiB in %llu ms, accel RSS %ld -> %ld KiB",
                (unsigned long long)(e2e_now_ms() - t0), base, peak);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

/* Waits until the origin's bytes_sent has not moved for 500 ms (at most 10 s); returns it. */
static uint64_t wait_origin_stalled(void)
{
    uint64_t deadline = e2e_now_ms() + 10000;
    uint64_t last = e2e_origin_bytes_sent(origin), since = e2e_now_ms();

    while (e2e_now_ms() < deadline) {
        uint64_t cur;

        e2e_sleep_ms(50);
        cur = e2e_origin_bytes_sent(origin);
        if (cur != last) {
            last = cur;
            since = e2e_now_ms();
        } else if (e2e_now_ms() - since >= 500) {
            return cur;
        }
    }
    cr_assert_fail("the origin never stopped sending (%llu bytes sent)", (unsigned long long)last);
    return last;
}

Test(stream, slow_client_backpressure_stops_origin)
{
    const uint64_t total = 256ull * MiB;
    struct e2e_client *c;
    struct e2e_resp r;
    /* small socket buffers on our two ends, so what is measured is accel's own buffering */
    struct e2e_action a = {.pattern_len = total, .sndbuf = 128 * 1024};
    uint64_t sent, read_so_far;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new_rcvbuf(accel->port, 128 * 1024);
    cr_assert_not_null(c);
    cr_assert_eq(e2e_client_sends(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    cr_assert_eq(e2e_client_read(c, &r, 1 * MiB, E2E_TIMEOUT_MS), 0);

    /* the client stops reading: the origin must stop soon after */
    sent = wait_origin_stalled();
    read_so_far = c->bytes_in;
    cr_assert_lt(sent, total, "the origin sent the whole body to a client that stopped reading");
    cr_assert_lt(sent - read_so_far, 16ull * MiB,
                 "origin sent %llu bytes while the client read %llu: accel buffers %llu MiB",
                 (unsigned long long)sent, (unsigned long long)read_so_far,
                 (unsigned long long)((sent - read_so_far) / MiB));
    cr_log_info("stalled: origin sent %llu, client read %llu (%.1f MiB ahead)",
                (unsigned long long)sent, (unsigned long long)read_so_far,
                (double)(sent - read_so_far) / MiB);
    cr_assert(e2e_accel_alive(accel));

    /* the client reads again: everything arrives, intact */
    cr_assert_eq(e2e_client_read(c, &r, 0, 30000), 0, "rest of the body: got %llu",
                 (unsigned long long)r.body_len);
    cr_assert_eq(r.body_len, total);
    cr_assert_not(r.pattern_bad, "body differs at byte %llu", (unsigned long long)r.pattern_bad_at);
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}
