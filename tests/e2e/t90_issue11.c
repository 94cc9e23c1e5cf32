/* t90_issue11.c - regressions of issue #11, each with the exact bytes of the attack or defect:
 * chunk framing that llhttp 8 does not check (data not followed by CRLF, sizes near 2^64) from
 * clients and from origins, HTTP/0.9 and other versions, pipelined bytes after a rejected
 * request, and 1xx answers on a cacheable miss. Each test checks what the origin received
 * (nothing it should not), what the client got, and that accel still serves. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(issue11, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

#define LIMITS "max_body_size 64k\n" /* unless a test sets its own */

static struct e2e_origin *origin;
static struct e2e_accel *accel;

/* No request of the origin's record has a target containing <needle>. */
static void origin_never_saw(const char *needle)
{
    for (unsigned i = 0; i < e2e_origin_nreqs(origin); i++) {
        const struct e2e_req *q = e2e_origin_req(origin, i);
        cr_assert(strstr(q->target, needle) == NULL, "the origin received %s %s", q->method,
                  q->target);
    }
}

/* Chunk data longer than its size: llhttp 8 skips the two bytes after the announced size
 * unread, so "abcXY" with size 3 used to end the body at "0\r\n\r\n" and make the bytes after
 * it a second request of accel's own to the origin. */
Test(issue11, chunk_data_overrunning_its_size_is_400_and_nothing_is_forwarded)
{
    e2e_start(LIMITS, &origin, &accel);
    e2e_expect_one_answer(accel,
                          "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabcXY0\r\n\r\n"
                          "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
                          0, 400, E2E_ANSWER_ONLY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0, "the origin received a request");
    e2e_still_serving(origin, accel);
    origin_never_saw("smuggled");
    cr_assert_eq(e2e_origin_body_bytes_in(origin), 0);
}

/* The same with a bare LF and with data one byte short of a CRLF. */
Test(issue11, chunk_data_followed_by_lf_or_junk_is_400)
{
    e2e_start(LIMITS, &origin, &accel);
    e2e_expect_one_answer(accel,
                          "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nhello\n\n0\r\n\r\nGET /smuggled1 HTTP/1.1\r\nHost: h\r\n\r\n",
                          0, 400, E2E_ANSWER_ONLY);
    e2e_expect_one_answer(accel,
                          "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "2\r\nhello\r\n0\r\n\r\nGET /smuggled2 HTTP/1.1\r\nHost: h\r\n\r\n",
                          0, 400, E2E_ANSWER_ONLY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    e2e_still_serving(origin, accel);
    origin_never_saw("smuggled");
}

/* The bad CRLF arrives after the chunk's data went to the origin: the client gets a 400, the
 * origin connection is closed in the middle of the body (the request is never complete), and
 * the bytes after it go nowhere. */
Test(issue11, bad_crlf_after_a_forwarded_chunk_aborts_the_origin_request)
{
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(LIMITS, &origin, &accel);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "POST /p HTTP/1.1\r\nHost: h\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n5\r\nhello"),
                 0);
    cr_assert_eq(e2e_origin_wait_body_bytes(origin, 5, E2E_TIMEOUT_MS), 0,
                 "the first chunk did not reach the origin");
    e2e_client_sends(c, "XX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 400);
    e2e_resp_free(&r);
    cr_assert(e2e_client_wait_closed(c, 3000));
    cr_assert_eq(c->len, 0, "bytes after the 400");
    e2e_client_free(&c);
    cr_assert_eq(e2e_origin_wait_idle(origin, E2E_TIMEOUT_MS), 0,
                 "accel kept the origin connection of the broken request");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    cr_assert_eq(e2e_origin_ndone(origin), 0, "the origin got a complete request");
    cr_assert(e2e_origin_req(origin, 0)->aborted);
    e2e_still_serving(origin, accel);
    origin_never_saw("smuggled");
}

/* A chunk size near 2^64 passes llhttp 8: it is refused at once, before any byte goes. */
Test(issue11, chunk_size_past_max_body_size_is_413_at_once)
{
    e2e_start(LIMITS, &origin, &accel);
    e2e_expect_one_answer(accel,
                          "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "fffffffffffffff0\r\nhello",
                          0, 413, E2E_ANSWER_ONLY);
    /* what is left of the limit counts: 64k - 40000 < 0x7000 */
    char *req = malloc(70000);
    int n = snprintf(req, 70000,
                     "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n9c40\r\n");
    memset(req + n, 'a', 40000);
    n += 40000;
    n += snprintf(req + n, 70000 - (size_t)n, "\r\n7000\r\n");
    req[n] = '\0';
    e2e_expect_one_answer(accel, req, 0, 413, E2E_ANSWER_ONLY);
    free(req);
    cr_assert_eq(e2e_origin_ndone(origin), 0);
    e2e_still_serving(origin, accel);
}

Test(issue11, chunk_size_with_17_digits_or_junk_is_400)
{
    e2e_start(LIMITS, &origin, &accel);
    e2e_expect_one_answer(accel,
                          "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "10000000000000005\r\nhello\r\n0\r\n\r\n",
                          0, 400, E2E_ANSWER_ONLY);
    e2e_expect_one_answer(accel,
                          "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5 junk\r\nhello\r\n0\r\n\r\n",
                          0, 400, E2E_ANSWER_ONLY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    e2e_still_serving(origin, accel);
}

/* A valid chunked body still goes through, re-framed, after all that checking. */
Test(issue11, valid_chunked_body_with_extensions_goes_through)
{
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start(LIMITS, &origin, &accel);
    cr_assert_eq(e2e_request(accel->port,
                             "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3;ext=1\r\nabc\r\n00002\r\nde\r\n0\r\n\r\n",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_wait_reqs(origin, 1, E2E_TIMEOUT_MS), 0);
    q = e2e_origin_req(origin, 0);
    cr_assert_eq(q->body_len, 5);
    cr_assert_str_eq(q->body, "abcde");
}

Test(issue11, pipelined_requests_after_a_rejected_one_are_never_forwarded)
{
    e2e_start(LIMITS, &origin, &accel);
    e2e_expect_one_answer(accel,
                          "GET /a HTTP/1.1\r\nHost: h\r\nHost: other\r\n\r\n"
                          "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
                          0, 400, E2E_ANSWER_ONLY);
    e2e_expect_one_answer(
        accel,
        "GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
        0, 400, E2E_ANSWER_ONLY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    e2e_still_serving(origin, accel);
    origin_never_saw("smuggled");
}

/* "GET /path" and CRLF is HTTP/0.9: a 400 at once, not after the header timeout. */
Test(issue11, http09_request_is_400_and_not_forwarded)
{
    struct e2e_client *c;
    struct e2e_resp r;
    uint64_t t0;

    e2e_start(LIMITS, &origin, &accel);
    c = e2e_client_new(accel->port);
    t0 = e2e_now_ms();
    cr_assert_eq(e2e_client_sends(c, "GET /path\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 400);
    cr_assert_lt(e2e_now_ms() - t0, 3000, "the 400 came only after a timeout");
    e2e_resp_free(&r);
    cr_assert(e2e_client_wait_closed(c, 3000));
    e2e_client_free(&c);
    e2e_expect_one_answer(accel, "GET /path\r\nHost: h\r\n\r\n", 0, 400, E2E_ANSWER_ONLY);
    e2e_expect_one_answer(accel, "GET /path HTTP/0.9\r\nHost: h\r\n\r\n", 0, 400, E2E_ANSWER_ONLY);
    e2e_expect_one_answer(accel, "GET /path HTTP/2.0\r\nHost: h\r\n\r\n", 0, 505, E2E_ANSWER_ONLY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0, "the origin received a request");
    e2e_still_serving(origin, accel);
}

static const char bad_chunked_resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                       "Cache-Control: max-age=60\r\n\r\n"
                                       "3\r\nabcXY0\r\n\r\n";

/* An origin answer whose chunk data overruns: a 502 (nothing of it went out yet), not stored,
 * and its connection not reused. */
Test(issue11, origin_bad_chunk_framing_is_502_not_cached_not_reused)
{
    struct e2e_action bad = {.kind = E2E_RAW, .raw = bad_chunked_resp, .raw_keep = 1};
    struct e2e_action good = {.headers = "Cache-Control: max-age=60\r\n", .body = "good"};
    struct e2e_resp r;
    char cs[256];

    e2e_start(LIMITS, &origin, &accel);
    e2e_origin_push(origin, &bad);
    e2e_origin_push(origin, &good);
    cr_assert_eq(e2e_request(accel->port, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 502, "bad framing from the origin gave %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_request(accel->port, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "good", "the bad answer was cached: %s", r.body);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
    cr_assert_neq(e2e_origin_req(origin, 1)->conn, e2e_origin_req(origin, 0)->conn,
                  "the connection of the bad answer was reused");
    cr_assert_eq(e2e_request(accel->port, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert(e2e_cache_status(&r, cs, sizeof(cs)) && strstr(cs, "hit") != NULL, "%s", cs);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
}

/* The same on a pass (POST): 502, and the client connection stays usable. */
Test(issue11, origin_bad_chunk_framing_on_a_pass_is_502)
{
    struct e2e_action bad = {.kind = E2E_RAW, .raw = bad_chunked_resp, .raw_keep = 1};
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(LIMITS, &origin, &accel);
    e2e_origin_push(origin, &bad);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"),
                 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 502);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_sends(c, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    e2e_resp_free(&r);
    e2e_client_free(&c);
    cr_assert_neq(e2e_origin_req(origin, 1)->conn, e2e_origin_req(origin, 0)->conn);
}

/* Once part of the answer went out, bad framing later in the body closes the client's
 * connection: the client sees a truncated answer, never a spliced one. */
Test(issue11, origin_bad_chunk_framing_mid_body_truncates)
{
    struct e2e_action bad;
    struct e2e_client *c;
    struct e2e_resp r;
    int rc;

    e2e_start(LIMITS, &origin, &accel);
    bad = (struct e2e_action){.kind = E2E_RAW,
                              .raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "3\r\nabc\r\n3\r\ndefXY0\r\n\r\n",
                              .raw_keep = 1};
    e2e_origin_push(origin, &bad);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"),
                 0);
    e2e_resp_init(&r, 0);
    rc = e2e_client_read(c, &r, 0, E2E_TIMEOUT_MS);
    /* all in one read: still a clean 502; else a truncated answer without "def" */
    if (rc == 0)
        cr_assert_eq(r.status, 502, "got %d with body '%s'", r.status, r.body);
    else
        cr_assert_eq(rc, -ECONNRESET, "rc %d", rc);
    cr_assert(r.body == NULL || strstr(r.body, "def") == NULL, "the bad chunk reached the client");
    e2e_resp_free(&r);
    e2e_client_free(&c);
    e2e_still_serving(origin, accel);
}

/* 103 on a cacheable miss reaches the client that drove the fetch; it is not stored: a hit
 * has no 103 and no Link field. */
Test(issue11, early_hints_on_a_cacheable_miss_are_forwarded_not_stored)
{
    struct e2e_action a = {.interim = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
                           .headers = "Cache-Control: max-age=60\r\n",
                           .body = "page"};
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(LIMITS, &origin, &accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /page HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 103);
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "link"), "</s.css>");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "page");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "link"));
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_sends(c, "GET /page HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200, "a hit answered %d", r.status);
    cr_assert_str_eq(r.body, "page");
    cr_assert_str_eq(e2e_hdrs_get(&r.hdrs, "x-cache"), "HIT");
    cr_assert_null(e2e_hdrs_get(&r.hdrs, "link"), "the 103's field was stored");
    e2e_resp_free(&r);
    e2e_client_free(&c);
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
}

/* ---- operations -------------------------------------------------------------------------- */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A port on 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* SO_REUSEPORT let a second accel on the same address come up and take a share of the
 * traffic to a cache of its own. */
Test(issue11, second_accel_on_the_same_listen_address_fails)
{
    const char *dir = e2e_tmpdir();
    char extra[64], conf[256], text[256], *out = NULL, *err = NULL;
    const char *argv[] = {"-c", conf, NULL};
    int port = free_port(), rc;

    snprintf(extra, sizeof(extra), "listen 127.0.0.1:%d\n", port);
    e2e_start(extra, &origin, &accel);
    snprintf(text, sizeof(text), "listen 127.0.0.1:%d\norigin 127.0.0.1:%d\nerror_log stderr\n",
             port, e2e_origin_port(origin));
    e2e_write_file(dir, "second.conf", text, conf, sizeof(conf));
    rc = e2e_run_accel(argv, &out, &err);
    cr_assert_eq(rc, 1, "a second accel on 127.0.0.1:%d: exit %d, stderr %s", port, rc, err);
    cr_assert(strstr(err, "Address already in use") != NULL, "stderr: %s", err);
    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    cr_assert(strstr(err, text) != NULL, "the error does not name the address: %s", err);
    free(out);
    free(err);
    /* the first one still has the port to itself and serves on it */
    struct e2e_resp r;
    cr_assert_eq(e2e_request(port, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
}

static unsigned count_lines(const char *path, const char *needle)
{
    char *text = e2e_read_file(path, NULL), *p;
    unsigned n = 0;

    for (p = text; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* With the origin down, one error line a second says so, then how many were left out. */
Test(issue11, origin_errors_are_rate_limited_in_the_error_log)
{
    struct e2e_resp r;
    char needle[96], *line;
    unsigned lines;
    int down = e2e_port_down();

    origin = e2e_origin_start();
    accel = e2e_accel_start(NULL, down);
    snprintf(needle, sizeof(needle), "[error] origin 127.0.0.1:%d: Connection refused", down);
    for (int i = 0; i < 40; i++) {
        cr_assert_eq(e2e_request(accel->port,
                                 "POST /x HTTP/1.1\r\nHost: h\r\n"
                                 "Content-Length: 0\r\n\r\n",
                                 &r, 0),
                     0);
        cr_assert_eq(r.status, 502);
        e2e_resp_free(&r);
    }
    lines = count_lines(accel->error_log, needle);
    cr_assert(lines >= 1 && lines <= 3, "%u error lines for 40 failed requests", lines);
    e2e_sleep_ms(1100); /* the limit is one line a second */
    cr_assert_eq(
        e2e_request(accel->port, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &r, 0),
        0);
    e2e_resp_free(&r);
    line = e2e_wait_line(accel->error_log, "more like it", 2000);
    cr_assert_not_null(line, "no line counts the errors left out");
    cr_assert(strstr(line, needle) != NULL, "%s", line);
    unsigned more = 0;
    const char *m = strstr(line, "(and ");
    cr_assert(m != NULL && sscanf(m, "(and %u more", &more) == 1, "%s", line);
    cr_assert_eq(more + lines, 40, "%u left out + %u written for 40 errors: %s", more, lines, line);
    free(line);
}

/* "origin http://host:port" as users write it; https:// is TLS (t70_tls tests it). */
Test(issue11, origin_accepts_http_urls)
{
    const char *dir = e2e_tmpdir();
    char extra[96], conf[256], *out = NULL, *err = NULL;
    const char *argv[] = {"-t", "-c", conf, NULL};
    struct e2e_resp r;
    int rc;

    origin = e2e_origin_start();
    snprintf(extra, sizeof(extra), "origin http://127.0.0.1:%d/\n", e2e_origin_port(origin));
    accel = e2e_accel_start(extra, -1);
    cr_assert_eq(e2e_request(accel->port, "GET /u HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    e2e_resp_free(&r);

    /* https:// (TLS, issue #13): its CA file is checked at load, and named when it is bad */
    e2e_write_file(dir, "https.conf",
                   "listen 127.0.0.1:0\norigin https://127.0.0.1:443\n"
                   "origin_tls_ca /nonexistent/ca.pem\n",
                   conf, sizeof(conf));
    rc = e2e_run_accel(argv, &out, &err);
    cr_assert_eq(rc, 1, "https origin with a missing CA file: exit %d", rc);
    cr_assert(strstr(err, "origin_tls_ca: /nonexistent/ca.pem") != NULL, "%s", err);
    free(out);
    free(err);
}
