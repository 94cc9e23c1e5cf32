/* t00_harness.c - the harness checks itself: clients talk straight to the scripted origin (no
 * accel), so that a failure in the later files points at accel, not at the harness. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(harness, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

Test(harness, default_answer_and_record)
{
    struct e2e_origin *o = e2e_origin_start();
    struct e2e_resp r;
    const struct e2e_req *q;

    cr_assert_eq(e2e_request(e2e_origin_port(o),
                             "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Foo: bar\r\n\r\n", &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(e2e_origin_wait_reqs(o, 1, 1000), 0);
    q = e2e_origin_req(o, 0);
    cr_assert_str_eq(q->method, "GET");
    cr_assert_str_eq(q->target, "/a?b=1");
    cr_assert_eq(q->minor, 1);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "x-foo"), "bar");
    cr_assert_eq(e2e_origin_nconns(o), 1);
    e2e_resp_free(&r);
}

Test(harness, pipelining_in_order_one_conn)
{
    struct e2e_origin *o = e2e_origin_start();
    struct e2e_client *c = e2e_client_new(e2e_origin_port(o));
    struct e2e_resp r;
    const char *paths[] = {"/one", "/two", "/three"};

    e2e_origin_set_handler(o, e2e_echo_target, NULL);
    cr_assert_eq(e2e_client_sends(c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
                                     "GET /two HTTP/1.1\r\nHost: x\r\n\r\n"
                                     "GET /three HTTP/1.1\r\nHost: x\r\n\r\n"),
                 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(e2e_client_response(c, &r, 0), 0);
        cr_assert_str_eq(r.body, paths[i]);
        e2e_resp_free(&r);
    }
    cr_assert_eq(e2e_origin_nconns(o), 1);
    e2e_client_free(&c);
}

Test(harness, chunked_close_delim_and_head)
{
    struct e2e_origin *o = e2e_origin_start();
    struct e2e_action a = {.kind = E2E_CHUNKED, .body = "abcdefghij", .chunk_size = 3};
    struct e2e_resp r;

    e2e_origin_push(o, &a);
    cr_assert_eq(e2e_request(e2e_origin_port(o), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0), 0);
    cr_assert(r.chunked);
    cr_assert_str_eq(r.body, "abcdefghij");
    e2e_resp_free(&r);

    a = (struct e2e_action){.kind = E2E_CLOSE_DELIM, .body = "until close"};
    e2e_origin_push(o, &a);
    cr_assert_eq(e2e_request(e2e_origin_port(o), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0), 0);
    cr_assert_str_eq(r.body, "until close");
    e2e_resp_free(&r);

    cr_assert_eq(
        e2e_request(e2e_origin_port(o), "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", &r, E2E_RESP_HEAD),
        0);
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "content-length"), "5");
    cr_assert_eq(r.body_len, 0);
    e2e_resp_free(&r);
}

Test(harness, hold_and_request_body)
{
    struct e2e_origin *o = e2e_origin_start();
    struct e2e_hold *h = e2e_hold_new(o);
    struct e2e_action a = {.hold = h, .body = "late"};
    struct e2e_client *c = e2e_client_new(e2e_origin_port(o));
    struct e2e_resp r;

    e2e_origin_push(o, &a);
    cr_assert_eq(e2e_client_sends(c, "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                     "\r\n5\r\nhello\r\n0\r\n\r\n"),
                 0);
    cr_assert_eq(e2e_hold_wait(h, 1, 5000), 0);
    e2e_resp_init(&r, 0);
    cr_assert_eq(e2e_client_read(c, &r, 0, 200), -ETIMEDOUT);
    e2e_hold_release(h);
    cr_assert_eq(e2e_client_read(c, &r, 0, E2E_TIMEOUT_MS), 0);
    cr_assert_str_eq(r.body, "late");
    cr_assert(e2e_origin_req(o, 0)->chunked);
    cr_assert_str_eq(e2e_origin_req(o, 0)->body, "hello");
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(harness, pattern_backpressure_reset_and_down)
{
    struct e2e_origin *o = e2e_origin_start();
    struct e2e_action a = {.pattern_len = 64u << 20, .sndbuf = 65536};
    struct e2e_client *c = e2e_client_new_rcvbuf(e2e_origin_port(o), 65536);
    struct e2e_resp r;
    uint64_t sent;

    e2e_origin_push(o, &a);
    cr_assert_eq(e2e_client_sends(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    cr_assert_eq(e2e_client_read(c, &r, 1u << 20, E2E_TIMEOUT_MS), 0);
    e2e_sleep_ms(300);
    sent = e2e_origin_bytes_sent(o);
    cr_assert_lt(sent, c->bytes_in + (2u << 20), "sent %llu read %llu", (unsigned long long)sent,
                 (unsigned long long)c->bytes_in);
    cr_assert_eq(e2e_client_read(c, &r, 0, E2E_TIMEOUT_MS), 0);
    cr_assert_eq(r.body_len, 64u << 20);
    cr_assert_not(r.pattern_bad, "pattern differs at %llu", (unsigned long long)r.pattern_bad_at);
    e2e_resp_free(&r);
    e2e_client_free(&c);

    a = (struct e2e_action){.kind = E2E_RESET};
    e2e_origin_push(o, &a);
    cr_assert_eq(e2e_request(e2e_origin_port(o), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0),
                 -ECONNRESET);
    e2e_resp_free(&r);

    cr_assert_null(e2e_client_new(e2e_port_down()));
    cr_assert_eq(errno, ECONNREFUSED);
}
