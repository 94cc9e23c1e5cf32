/* t10_basic.c - accel as a plain reverse proxy: methods, header forwarding (hop-by-hop fields
 * stripped both ways, Via, X-Forwarded-*), host_header, keep-alive and pooling, pipelining,
 * HTTP/1.0 clients, responses without a body, 1xx from the origin, and the command line. */
#include "harness.h"

#include <accel/base.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

TestSuite(basic, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

static struct e2e_origin *origin;
static struct e2e_accel *accel;

static const struct e2e_req *origin_req(unsigned i)
{
    const struct e2e_req *q;

    cr_assert_eq(e2e_origin_wait_reqs(origin, i + 1, E2E_TIMEOUT_MS), 0,
                 "the origin did not receive request #%u", i);
    q = e2e_origin_req(origin, i);
    cr_assert_not_null(q);
    return q;
}

/* Sends <raw> on <c> and reads one response into <r>, failing the test on any error. */
static void exchange(struct e2e_client *c, const char *raw, struct e2e_resp *r, unsigned flags)
{
    int rc;

    cr_assert_eq(e2e_client_sends(c, raw), 0, "send failed");
    rc = e2e_client_response(c, r, flags);
    cr_assert_eq(rc, 0, "no response to %.40s...: rc %d (%s), status %d", raw, rc,
                 r->error ? r->error : "-", r->status);
}

Test(basic, get_forwarded_with_proxy_headers)
{
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    cr_assert_eq(e2e_request(accel->port,
                             "GET /a/b?x=1&y=%2F%20&z HTTP/1.1\r\nHost: www.example.test\r\n"
                             "User-Agent: e2e\r\nX-Custom: kept as is\r\nAccept: */*\r\n\r\n",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(r.major, 1);
    cr_assert_eq(r.minor, 1);
    cr_assert(e2e_hdrs_has_token(&r.hdrs, "Via", "1.1 accel"), "response Via: %s",
              e2e_hdrs_get(&r.hdrs, "Via") ? e2e_hdrs_get(&r.hdrs, "Via") : "(none)");

    q = origin_req(0);
    cr_assert_str_eq(q->method, "GET");
    cr_assert_str_eq(q->target, "/a/b?x=1&y=%2F%20&z");
    cr_assert_eq(q->major, 1);
    cr_assert_eq(q->minor, 1);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Host"), "www.example.test");
    cr_assert_eq(e2e_hdrs_count(&q->hdrs, "Host"), 1);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Custom"), "kept as is");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "User-Agent"), "e2e");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Accept"), "*/*");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Via"), "1.1 accel");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Forwarded-For"), "127.0.0.1");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Forwarded-Proto"), "http");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Forwarded-Host"), "www.example.test");
    cr_assert_eq(q->body_len, 0);
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
}

Test(basic, via_and_xff_are_appended)
{
    struct e2e_resp r;
    const struct e2e_req *q;
    struct e2e_action a = {.headers = "Via: 1.1 origin-cdn\r\n"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    cr_assert_eq(e2e_request(accel->port,
                             "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 fred\r\n"
                             "X-Forwarded-For: 10.1.2.3\r\n\r\n",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    q = origin_req(0);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Via"), "1.0 fred, 1.1 accel");
    cr_assert_eq(e2e_hdrs_count(&q->hdrs, "Via"), 1);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Forwarded-For"), "10.1.2.3, 127.0.0.1");
    cr_assert_eq(e2e_hdrs_count(&q->hdrs, "X-Forwarded-For"), 1);
    /* the response's Via keeps the origin's element and adds ours after it */
    cr_assert(e2e_hdrs_has_token(&r.hdrs, "Via", "1.1 origin-cdn"));
    cr_assert(e2e_hdrs_has_token(&r.hdrs, "Via", "1.1 accel"), "response Via: %s",
              e2e_hdrs_get(&r.hdrs, "Via") ? e2e_hdrs_get(&r.hdrs, "Via") : "(none)");
    e2e_resp_free(&r);
}

Test(basic, hop_by_hop_request_fields_stripped)
{
    struct e2e_resp r;
    const struct e2e_req *q;
    const char *conn;

    e2e_start(NULL, &origin, &accel);
    cr_assert_eq(e2e_request(accel->port,
                             "GET /h HTTP/1.1\r\nHost: h\r\n"
                             "Connection: keep-alive, X-Drop-Me, x-also-drop\r\n"
                             "X-Drop-Me: secret\r\nX-Also-Drop: secret2\r\n"
                             "Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Sum\r\n"
                             "Upgrade: h2c\r\nProxy-Connection: keep-alive\r\n"
                             "X-Keep: yes\r\n\r\n",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    q = origin_req(0);
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "X-Drop-Me"), "field named by Connection forwarded");
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "X-Also-Drop"), "field named by Connection forwarded");
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "Keep-Alive"));
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "TE"));
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "Trailer"));
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "Upgrade"));
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "Proxy-Connection"));
    /* accel may send its own Connection field to the origin, but not the client's tokens */
    conn = e2e_hdrs_get(&q->hdrs, "Connection");
    cr_assert(conn == NULL || (!e2e_hdrs_has_token(&q->hdrs, "Connection", "X-Drop-Me") &&
                               !e2e_hdrs_has_token(&q->hdrs, "Connection", "x-also-drop")),
              "Connection: %s", conn);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Keep"), "yes");
    e2e_resp_free(&r);
}

Test(basic, hop_by_hop_response_fields_stripped)
{
    struct e2e_resp r;
    struct e2e_action a = {.headers = "Connection: X-Secret\r\nX-Secret: 1\r\n"
                                      "Keep-Alive: timeout=9\r\nUpgrade: foo\r\n"
                                      "Trailer: X-Sum\r\nProxy-Connection: keep-alive\r\n"
                                      "TE: trailers\r\nX-Stay: yes\r\n",
                           .body = "body"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    cr_assert_eq(e2e_request(accel->port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "body");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "X-Secret"), "field named by Connection forwarded");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Keep-Alive"));
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Upgrade"));
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Trailer"));
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Proxy-Connection"));
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "TE"));
    cr_assert_not(e2e_hdrs_has_token(&r.hdrs, "Connection", "X-Secret"));
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "X-Stay"), "yes");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
}

Test(basic, host_header_overrides_host)
{
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start("host_header origin.internal", &origin, &accel);
    cr_assert_eq(e2e_request(accel->port, "GET /x HTTP/1.1\r\nHost: public.example\r\n\r\n", &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    q = origin_req(0);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Host"), "origin.internal");
    cr_assert_eq(e2e_hdrs_count(&q->hdrs, "Host"), 1);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Forwarded-Host"), "public.example");
    e2e_resp_free(&r);
}

Test(basic, post_with_content_length)
{
    struct e2e_resp r;
    const struct e2e_req *q;
    struct e2e_action a = {.status = 201, .body = "created"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    cr_assert_eq(e2e_request(accel->port,
                             "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 19\r\n\r\nname=value&x=1&y=22",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.body, "created");
    q = origin_req(0);
    cr_assert_str_eq(q->method, "POST");
    cr_assert_str_eq(q->target, "/form");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Content-Type"), "text/plain");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Content-Length"), "19");
    cr_assert_eq(q->body_len, 19);
    cr_assert_str_eq(q->body, "name=value&x=1&y=22");
    e2e_resp_free(&r);
}

Test(basic, other_methods_pass_through)
{
    static const char *const methods[] = {"PUT", "DELETE", "OPTIONS", "PATCH"};
    struct e2e_client *c;
    struct e2e_resp r;
    char req[256];

    e2e_start(NULL, &origin, &accel);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    for (unsigned i = 0; i < 4; i++) {
        snprintf(req, sizeof(req), "%s /m%u HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok",
                 methods[i], i);
        exchange(c, req, &r, 0);
        cr_assert_eq(r.status, 200, "%s: status %d", methods[i], r.status);
        e2e_resp_free(&r);
    }
    for (unsigned i = 0; i < 4; i++) {
        const struct e2e_req *q = origin_req(i);

        cr_assert_str_eq(q->method, methods[i]);
        cr_assert_str_eq(q->body, "ok");
    }
    e2e_client_free(&c);
}

Test(basic, keepalive_reuses_one_origin_connection)
{
    struct e2e_client *c;
    struct e2e_resp r;
    char req[128];

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, NULL);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    for (int i = 0; i < 5; i++) {
        char path[16];

        snprintf(path, sizeof(path), "/k%d", i);
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path);
        exchange(c, req, &r, 0);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, path);
        cr_assert(r.keep_alive, "accel closed a keep-alive connection after request %d", i);
        e2e_resp_free(&r);
    }
    cr_assert_eq(e2e_origin_nreqs(origin), 5);
    cr_assert_eq(e2e_origin_nconns(origin), 1, "origin saw %u connections for 5 requests",
                 e2e_origin_nconns(origin));
    for (unsigned i = 0; i < 5; i++)
        cr_assert_eq(origin_req(i)->conn, 0);
    cr_assert_not(e2e_client_wait_closed(c, 100), "accel closed the client connection");
    e2e_client_free(&c);
}

static void slow_first(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)arg;
    act->body = req->target;
    if (strcmp(req->target, "/p1") == 0)
        act->delay_ms = 200; /* if accel answered out of order, /p2 would come first */
}

Test(basic, pipelined_requests_answered_in_order)
{
    struct e2e_client *c;
    struct e2e_resp r;
    static const char *const paths[] = {"/p1", "/p2", "/p3"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, slow_first, NULL);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    cr_assert_eq(e2e_client_sends(c, "GET /p1 HTTP/1.1\r\nHost: h\r\n\r\n"
                                     "GET /p2 HTTP/1.1\r\nHost: h\r\n\r\n"
                                     "GET /p3 HTTP/1.1\r\nHost: h\r\n\r\n"),
                 0);
    for (int i = 0; i < 3; i++) {
        int rc = e2e_client_response(c, &r, 0);

        cr_assert_eq(rc, 0, "pipelined response %d: rc %d (%s)", i, rc, r.error ? r.error : "-");
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, paths[i], "response %d is for %s", i, r.body);
        e2e_resp_free(&r);
    }
    cr_assert_eq(e2e_origin_nreqs(origin), 3);
    for (unsigned i = 0; i < 3; i++)
        cr_assert_str_eq(origin_req(i)->target, paths[i]);
    e2e_client_free(&c);
}

Test(basic, duplicate_fields_kept_in_order)
{
    struct e2e_resp r;
    const struct e2e_req *q;
    unsigned first = 0, second = 0;

    e2e_start(NULL, &origin, &accel);
    cr_assert_eq(e2e_request(accel->port,
                             "GET / HTTP/1.1\r\nHost: h\r\nX-Dup: one\r\nX-Other: o\r\n"
                             "X-Dup: two\r\nX-Empty:\r\n\r\n",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    q = origin_req(0);
    /* either both fields in order, or one field "one, two" (RFC 9110 5.3) */
    for (size_t i = 0; i < q->hdrs.n; i++) {
        if (strcasecmp(q->hdrs.v[i].name, "X-Dup") != 0)
            continue;
        if (strstr(q->hdrs.v[i].value, "one") != NULL && first == 0)
            first = (unsigned)i + 1;
        if (strstr(q->hdrs.v[i].value, "two") != NULL)
            second = (unsigned)i + 1;
    }
    cr_assert(first > 0 && second > 0 && first <= second, "X-Dup values lost or reordered");
    cr_assert_not_null(e2e_hdrs_get(&q->hdrs, "X-Empty"), "a field with an empty value was lost");
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Empty"), "");
    e2e_resp_free(&r);
}

Test(basic, client_connection_close_honoured)
{
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    exchange(c, "GET /bye HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert(e2e_hdrs_has_token(&r.hdrs, "Connection", "close"),
              "no Connection: close on the last response");
    cr_assert(e2e_client_wait_closed(c, 2000), "accel kept the connection after Connection: close");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(basic, many_pipelined_requests_with_bodies)
{
    enum { N = 40 };
    struct e2e_client *c;
    struct e2e_resp r;
    char *all = malloc(N * 128);
    size_t len = 0;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, e2e_echo_target, NULL);
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0)
            len += (size_t)snprintf(all + len, N * 128 - len,
                                    "GET /g%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
        else /* a body that looks like a request: it must stay a body */
            len += (size_t)snprintf(all + len, N * 128 - len,
                                    "POST /p%d HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n"
                                    "GET /smuggled HTTP/1.1\r\nA: b\r\n",
                                    i);
    }
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    cr_assert_eq(e2e_client_send(c, all, len), 0);
    for (int i = 0; i < N; i++) {
        char want[16];
        int rc = e2e_client_response(c, &r, 0);

        cr_assert_eq(rc, 0, "pipelined response %d: rc %d (%s)", i, rc, r.error ? r.error : "-");
        snprintf(want, sizeof(want), "/%c%d", i % 2 ? 'p' : 'g', i);
        cr_assert_str_eq(r.body, want, "response %d is for %s", i, r.body);
        e2e_resp_free(&r);
    }
    cr_assert_eq(e2e_origin_nreqs(origin), N);
    for (unsigned i = 0; i < N; i++) {
        const struct e2e_req *q = origin_req(i);

        cr_assert_eq(strstr(q->target, "smuggled"), NULL);
        if (i % 2)
            cr_assert_str_eq(q->body, "GET /smuggled HTTP/1.1\r\nA: b\r\n");
    }
    free(all);
    e2e_client_free(&c);
}

Test(basic, http10_client)
{
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    exchange(c, "GET /old HTTP/1.0\r\nHost: h\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(r.major, 1);
    cr_assert_not(r.chunked, "chunked response to an HTTP/1.0 client");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Transfer-Encoding"));
    cr_assert(e2e_client_wait_closed(c, 2000),
              "accel kept an HTTP/1.0 connection without Keep-Alive open");
    q = origin_req(0);
    cr_assert_str_eq(q->target, "/old");
    cr_assert_null(e2e_hdrs_get(&q->hdrs, "Keep-Alive"));
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(basic, http10_client_gets_chunked_origin_body_close_delimited)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.kind = E2E_CHUNKED, .body = "one-two-three-four", .chunk_size = 5};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    exchange(c, "GET /c HTTP/1.0\r\nHost: h\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not(r.chunked, "chunked response to an HTTP/1.0 client");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Transfer-Encoding"));
    cr_assert_str_eq(r.body, "one-two-three-four");
    cr_assert(e2e_client_wait_closed(c, 2000));
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(basic, http10_keepalive_client_with_chunked_origin)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.kind = E2E_CHUNKED, .body = "abcdefghij", .chunk_size = 4};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    /* a length-less body can only be delimited by closing for an HTTP/1.0 client */
    exchange(c, "GET /c HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not(r.chunked);
    cr_assert_str_eq(r.body, "abcdefghij");
    cr_assert(e2e_client_wait_closed(c, 2000));
    e2e_resp_free(&r);
    e2e_client_free(&c);

    /* with a Content-Length the HTTP/1.0 keep-alive connection may stay open; if it does, it
     * must work for a second request */
    c = e2e_client_new(accel->port);
    exchange(c, "GET /d HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "Content-Length"), "5");
    if (r.keep_alive) {
        e2e_resp_free(&r);
        exchange(c, "GET /e HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", &r, 0);
        cr_assert_str_eq(r.body, "hello");
    }
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(basic, head_has_no_body)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a = {.body = "0123456789"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    exchange(c, "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n", &r, E2E_RESP_HEAD);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 0);
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "Content-Length")
                         ? e2e_hdrs_get(&r.hdrs, "Content-Length")
                         : "(none)",
                     "10");
    e2e_resp_free(&r);
    /* any stray body bytes would be read as the start of this response */
    exchange(c, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_str_eq(origin_req(0)->method, "HEAD");
    cr_assert_str_eq(origin_req(1)->method, "GET");
    cr_assert_eq(e2e_origin_nconns(origin), 1);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

Test(basic, status_204_and_304_have_no_body)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a204 = {.status = 204, .headers = "X-A: 1\r\n"};
    struct e2e_action a304 = {.status = 304, .headers = "ETag: \"v1\"\r\n"};

    /* A plain proxy passes the client's conditionals on; a cache fetches the whole response
     * and answers them itself (t25), so this runs with the cache off. */
    e2e_start("cache_memory 0", &origin, &accel);
    e2e_origin_push(origin, &a204);
    e2e_origin_push(origin, &a304);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    exchange(c, "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 204);
    cr_assert_eq(r.body_len, 0);
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Transfer-Encoding"), "Transfer-Encoding on a 204");
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "X-A"), "1");
    e2e_resp_free(&r);
    exchange(c, "GET /x HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"v1\"\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 304);
    cr_assert_eq(r.body_len, 0);
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "Transfer-Encoding"), "Transfer-Encoding on a 304");
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "ETag"), "\"v1\"");
    e2e_resp_free(&r);
    exchange(c, "GET /y HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_str_eq(e2e_hdrs_get(&origin_req(1)->hdrs, "If-None-Match"), "\"v1\"");
    cr_assert_eq(e2e_origin_nreqs(origin), 3);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

/* RFC 9110 §15.2: a proxy forwards 1xx to HTTP/1.1 clients (100 aside: accel answers Expect
 * itself), never merges their fields into the final answer, and never sends them to 1.0 ones. */
Test(basic, interim_1xx_forwarded_to_http11_clients)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_action a103 = {.interim = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                                         "HTTP/1.1 102 Processing\r\n\r\n",
                              .body = "final"};
    struct e2e_action a100 = {.interim = "HTTP/1.1 100 Continue\r\n\r\n", .body = "second"};
    struct e2e_action a10 = {.interim = "HTTP/1.1 103 Early Hints\r\nLink: </t.css>\r\n\r\n",
                             .body = "third"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a103);
    e2e_origin_push(origin, &a100);
    e2e_origin_push(origin, &a10);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    exchange(c, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 103, "the 103 was not forwarded: first answer %d", r.status);
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "link"), "</s.css>");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 102, "the 102 was not forwarded: second answer %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200, "final answer %d", r.status);
    cr_assert_str_eq(r.body, "final");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "link"), "the 103's field was merged into the 200");
    e2e_resp_free(&r);
    exchange(c, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200, "a 100 from the origin was forwarded: %d", r.status);
    cr_assert_str_eq(r.body, "second");
    e2e_resp_free(&r);
    e2e_client_free(&c);

    c = e2e_client_new(accel->port);
    exchange(c, "GET /3 HTTP/1.0\r\n\r\n", &r, 0);
    cr_assert_eq(r.status, 200, "an HTTP/1.0 client got a %d", r.status);
    cr_assert_str_eq(r.body, "third");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "link"));
    e2e_resp_free(&r);
    e2e_client_free(&c);
    cr_assert_eq(e2e_origin_nreqs(origin), 3);
}

Test(basic, origin_status_and_headers_pass_through)
{
    struct e2e_resp r;
    struct e2e_action a = {.status = 404,
                           .headers = "Content-Type: text/html\r\nSet-Cookie: a=1\r\n"
                                      "Set-Cookie: b=2\r\nX-Empty:\r\n",
                           .body = "<h1>nope</h1>"};

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    cr_assert_eq(e2e_request(accel->port, "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(r.body, "<h1>nope</h1>");
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "Content-Type"), "text/html");
    cr_assert_eq(e2e_hdrs_count(&r.hdrs, "Set-Cookie"), 2);
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
}

static void hold_and_echo(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    act->hold = arg;
    act->body = req->target;
}

Test(basic, concurrent_clients_each_get_their_answer)
{
    enum { N = 64 };
    struct e2e_client *cs[N];
    struct e2e_hold *h;
    struct e2e_resp r;
    char req[128], want[32];

    e2e_start(NULL, &origin, &accel);
    h = e2e_hold_new(origin);
    e2e_origin_set_handler(origin, hold_and_echo, h);
    e2e_clients_open(accel->port, N, cs);
    for (int i = 0; i < N; i++) {
        snprintf(req, sizeof(req), "GET /c%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
        cr_assert_eq(e2e_client_sends(cs[i], req), 0);
    }
    /* all N are at the origin at once before any is answered */
    cr_assert_eq(e2e_hold_wait(h, N, E2E_TIMEOUT_MS), 0,
                 "only %u of %d requests reached the origin", e2e_origin_nreqs(origin), N);
    cr_assert_eq(e2e_origin_nconns(origin), N);
    e2e_hold_release(h);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(e2e_client_response(cs[i], &r, 0), 0, "client %d: no response", i);
        snprintf(want, sizeof(want), "/c%d", i);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, want, "client %d got the answer for %s", i, r.body);
        e2e_resp_free(&r);
    }
    cr_assert_eq(e2e_origin_nreqs(origin), N);
    e2e_clients_free(cs, N);
}

/* ---- the command line ------------------------------------------------------------------------ */

Test(basic, config_test_ok)
{
    const char *dir = e2e_tmpdir();
    char path[256];
    char *out = NULL, *err = NULL;
    const char *argv[] = {"-t", "-c", path, NULL};
    int rc;

    e2e_write_file(dir, "ok.conf",
                   "# a comment\n"
                   "listen 127.0.0.1:0;\n"
                   "workers 2\n"
                   "origin 127.0.0.1:9\n"
                   "max_body_size 10m\n"
                   "max_header_size 4k\n"
                   "client_header_timeout 500ms\n"
                   "keepalive_timeout 2s   # trailing comment\n"
                   "access_log off\n"
                   "error_log stderr warn\n",
                   path, sizeof(path));
    rc = e2e_run_accel(argv, &out, &err);
    cr_assert_eq(rc, 0, "accel -t on a good file: exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    cr_assert(strstr(out, "ok") != NULL || strstr(err, "ok") != NULL,
              "no 'ok' message: stdout: %s stderr: %s", out, err);
    free(out);
    free(err);
}

Test(basic, config_test_errors_name_file_and_line)
{
    static const struct {
        const char *text;
        int line;
    } bad[] = {
        {"listen 127.0.0.1:0\nbogus_directive 1\n", 2},
        {"listen 127.0.0.1:0\norigin 127.0.0.1:9\nmax_body_size 10q\n", 3},
        {"listen 127.0.0.1:0\norigin 127.0.0.1:9\n\n# c\nclient_header_timeout soon\n", 5},
        {"listen 127.0.0.1:0\nworkers\n", 2},
    };
    const char *dir = e2e_tmpdir();

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[256], name[32], want[300];
        char *out = NULL, *err = NULL;
        const char *argv[] = {"-t", "-c", path, NULL};
        int rc;

        snprintf(name, sizeof(name), "bad%u.conf", i);
        e2e_write_file(dir, name, bad[i].text, path, sizeof(path));
        rc = e2e_run_accel(argv, &out, &err);
        cr_assert(rc > 0 && rc < 128, "accel -t on bad file %u: exit %d", i, rc);
        snprintf(want, sizeof(want), "%s:%d:", path, bad[i].line);
        cr_assert(strstr(err, want) != NULL, "bad file %u: stderr lacks '%s': %s", i, want, err);
        free(out);
        free(err);
    }
}

Test(basic, version_and_help)
{
    const char *v[] = {"-V", NULL};
    const char *h[] = {"-h", NULL};
    const char *bad[] = {"--no-such-flag", NULL};
    char *out = NULL, *err = NULL;
    int rc;

    rc = e2e_run_accel(v, &out, &err);
    cr_assert_eq(rc, 0, "accel -V: exit %d", rc);
    cr_assert(strstr(out, ACCEL_VERSION) != NULL || strstr(err, ACCEL_VERSION) != NULL,
              "accel -V does not print %s: %s %s", ACCEL_VERSION, out, err);
    free(out);
    free(err);

    rc = e2e_run_accel(h, &out, &err);
    cr_assert_eq(rc, 0, "accel -h: exit %d", rc);
    cr_assert(strstr(out, "-c") != NULL && strstr(out, "-t") != NULL, "usage: %s", out);
    free(out);
    free(err);

    rc = e2e_run_accel(bad, &out, &err);
    cr_assert(rc > 0 && rc < 128, "accel with an unknown flag: exit %d", rc);
    free(out);
    free(err);

    /* the long options users try first */
    const char *lv[] = {"--version", NULL};
    const char *lh[] = {"--help", NULL};
    rc = e2e_run_accel(lv, &out, &err);
    cr_assert_eq(rc, 0, "accel --version: exit %d (%s)", rc, err);
    cr_assert(strstr(out, ACCEL_VERSION) != NULL, "accel --version: %s", out);
    free(out);
    free(err);
    rc = e2e_run_accel(lh, &out, &err);
    cr_assert_eq(rc, 0, "accel --help: exit %d (%s)", rc, err);
    cr_assert(strstr(out, "--config") != NULL && strstr(out, "--test") != NULL, "%s", out);
    free(out);
    free(err);
}
