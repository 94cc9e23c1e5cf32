/* t15_limits.c - requests past a limit (414, 431, 413) and malformed requests (400): each gets
 * its status, a 400 closes the connection, nothing complete reaches the origin, and accel is
 * still up and serving afterwards. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(limits, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

#define LIMITS                                                                                     \
    "max_uri_length 1k\n"                                                                          \
    "max_header_size 4k\n"                                                                         \
    "max_headers 20\n"                                                                             \
    "max_body_size 64k\n"

static struct e2e_origin *origin;
static struct e2e_accel *accel;

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);

    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

Test(limits, uri_too_long_414)
{
    char *path = repeat('a', 2000);
    char req[2200];

    e2e_start(LIMITS, &origin, &accel);
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", path);
    e2e_expect_one_answer(accel, req, 0, 414, E2E_ANSWER_BODY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0, "the origin received the long URI");
    e2e_still_serving(origin, accel);
    free(path);
}

Test(limits, uri_under_limit_passes)
{
    char *path = repeat('b', 900);
    char req[1100];
    struct e2e_resp r;

    e2e_start(LIMITS, &origin, &accel);
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", path);
    cr_assert_eq(e2e_request(accel->port, req, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(e2e_origin_wait_reqs(origin, 1, E2E_TIMEOUT_MS), 0);
    cr_assert_eq(strlen(e2e_origin_req(origin, 0)->target), 901);
    e2e_resp_free(&r);
    free(path);
}

Test(limits, header_too_large_431)
{
    char *big = repeat('x', 6000);
    char req[6200];

    e2e_start(LIMITS, &origin, &accel);
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: h\r\nX-Big: %s\r\n\r\n", big);
    e2e_expect_one_answer(accel, req, 0, 431, E2E_ANSWER_BODY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    e2e_still_serving(origin, accel);
    free(big);
}

Test(limits, too_many_headers_431)
{
    char req[2048];
    size_t n;

    e2e_start(LIMITS, &origin, &accel);
    n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-H%d: %d\r\n", i, i);
    snprintf(req + n, sizeof(req) - n, "\r\n");
    e2e_expect_one_answer(accel, req, 0, 431, E2E_ANSWER_BODY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    e2e_still_serving(origin, accel);
}

Test(limits, headers_under_limits_pass)
{
    char req[4096];
    size_t n;
    struct e2e_resp r;

    e2e_start(LIMITS, &origin, &accel);
    n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 15; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-H%d: %d\r\n", i, i);
    snprintf(req + n, sizeof(req) - n, "\r\n");
    cr_assert_eq(e2e_request(accel->port, req, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(e2e_origin_wait_reqs(origin, 1, E2E_TIMEOUT_MS), 0);
    cr_assert_str_eq(e2e_hdrs_get(&e2e_origin_req(origin, 0)->hdrs, "X-H14"), "14");
    e2e_resp_free(&r);
}

Test(limits, content_length_too_large_413)
{
    const char *req = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n";

    e2e_start(LIMITS, &origin, &accel);
    /* no body sent: accel must answer from the head alone */
    e2e_expect_one_answer(accel, req, 0, 413, E2E_ANSWER_BODY);
    cr_assert_eq(e2e_origin_nreqs(origin), 0, "the origin received an oversized upload");
    e2e_still_serving(origin, accel);
}

Test(limits, expect_100_with_too_large_body_gets_413_not_100)
{
    const char *req = "PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n"
                      "Expect: 100-continue\r\n\r\n";

    e2e_start(LIMITS, &origin, &accel);
    e2e_expect_one_answer(accel, req, 0, 413,
                          E2E_ANSWER_BODY); /* the first response: no 100 before it */
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    e2e_still_serving(origin, accel);
}

Test(limits, body_at_limit_passes)
{
    char *body = repeat('z', 65536);
    char head[128];
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(LIMITS, &origin, &accel);
    c = e2e_client_new(accel->port);
    snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 65536\r\n\r\n");
    cr_assert_eq(e2e_client_sends(c, head), 0);
    cr_assert_eq(e2e_client_send(c, body, 65536), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(e2e_origin_wait_reqs(origin, 1, E2E_TIMEOUT_MS), 0);
    cr_assert_eq(e2e_origin_req(origin, 0)->body_len, 65536);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    free(body);
}

Test(limits, chunked_body_growing_too_large_413)
{
    char *chunk = repeat('c', 16384);
    char *req = malloc(200000);
    size_t len;

    e2e_start(LIMITS, &origin, &accel);
    len = (size_t)snprintf(req, 200000,
                           "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 6; i++) { /* 96 KiB > 64 KiB */
        len += (size_t)snprintf(req + len, 200000 - len, "4000\r\n");
        memcpy(req + len, chunk, 16384);
        len += 16384;
        memcpy(req + len, "\r\n", 2);
        len += 2;
    }
    memcpy(req + len, "0\r\n\r\n", 5);
    len += 5;
    e2e_expect_one_answer(accel, req, len, 413, E2E_ANSWER_BODY);
    /* accel may have started streaming it, but the origin must never see it complete */
    cr_assert_eq(e2e_origin_ndone(origin), 0, "the origin received the oversized body in full");
    e2e_still_serving(origin, accel);
    free(chunk);
    free(req);
}

/* ---- malformed requests: 400 and close ------------------------------------------------------- */

static void bad_request(const char *raw, int head_is_bad)
{
    e2e_start(LIMITS, &origin, &accel);
    e2e_expect_one_answer(accel, raw, 0, 400, E2E_ANSWER_BODY | E2E_ANSWER_CLOSE);
    if (head_is_bad)
        cr_assert_eq(e2e_origin_nreqs(origin), 0, "the origin received a malformed request");
    cr_assert_eq(e2e_origin_ndone(origin), 0, "the origin received a malformed request");
    e2e_still_serving(origin, accel);
}

Test(limits, garbage_400)
{
    bad_request("THIS IS NOT HTTP\r\n\r\n", 1);
}

Test(limits, missing_host_on_11_400)
{
    bad_request("GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n", 1);
}

Test(limits, invalid_host_400)
{
    bad_request("GET / HTTP/1.1\r\nHost: bad host/name\r\n\r\n", 1);
}

Test(limits, two_different_hosts_400)
{
    bad_request("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 1);
}

Test(limits, content_length_and_transfer_encoding_400)
{
    bad_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                1);
}

Test(limits, two_different_content_lengths_400)
{
    bad_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
                "hello!",
                1);
}

Test(limits, bad_chunk_size_400)
{
    bad_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                "zz\r\nhello\r\n0\r\n\r\n",
                0);
}

/* RFC 9110 5.1: a field name is a token, which has no space */
Test(limits, space_in_field_name_400)
{
    bad_request("GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 1);
}

/* RFC 9112 5.1: whitespace between a field name and the colon MUST get a 400 */
Test(limits, whitespace_before_colon_400)
{
    bad_request("GET / HTTP/1.1\r\nHost: h\r\nX-Name : x\r\n\r\n", 1);
}

/* the same flaw on Transfer-Encoding is request smuggling: accel frames by Content-Length, a
 * lenient origin by chunked */
Test(limits, transfer_encoding_with_space_before_colon_400)
{
    bad_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                1);
}

Test(limits, control_char_in_field_name_400)
{
    bad_request("GET / HTTP/1.1\r\nHost: h\r\nX\001Name: x\r\n\r\n", 1);
}

Test(limits, bad_request_after_good_one_on_same_connection)
{
    struct e2e_client *c;
    struct e2e_resp r;

    e2e_start(LIMITS, &origin, &accel);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_client_sends(c, "GET /bad HTTP/1.1\r\nHost: h\r\nHost: other\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 400);
    cr_assert(e2e_client_wait_closed(c, 3000), "connection still open after a 400");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    e2e_still_serving(origin, accel);
}
