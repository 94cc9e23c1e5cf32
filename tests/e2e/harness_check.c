/* harness_check.c - the test steps the e2e files share: an origin with an accel in front of it,
 * one request and its whole answer, clients whose GET is on its way, what the origin saw, a bad
 * request that gets exactly one answer, and a couple of origin handlers.
 *
 * The functions that fail the test call cr_assert and so run on the test's own thread; they
 * free what they allocated before a failing assert leaves them. The origin handlers run on
 * origin threads and assert nothing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CLOSE_MS 3000 /* how long accel may take to close after an answer that closes */

void e2e_start(const char *extra, struct e2e_origin **op, struct e2e_accel **ap)
{
    *op = e2e_origin_start();
    *ap = e2e_accel_start(extra, e2e_origin_port(*op));
}

const char *e2e_hdr(const struct e2e_resp *r, const char *name)
{
    const char *v = e2e_hdrs_get(&r->hdrs, name);

    return v ? v : "(none)";
}

void e2e_ask(struct e2e_accel *a, const char *method, const char *host, const char *path,
             const char *hdrs, unsigned flags, struct e2e_resp *r)
{
    char req[2048], error[128];
    int rc, n, status;

    if (strcmp(method, "HEAD") == 0)
        flags |= E2E_RESP_HEAD;
    n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method, path, host,
                 hdrs ? hdrs : "");
    cr_assert(n > 0 && (size_t)n < sizeof(req), "%s %s: a request of %d bytes does not fit", method,
              path, n);
    rc = e2e_request(a->port, req, r, flags);
    if (rc == 0)
        return;
    status = r->status;
    snprintf(error, sizeof(error), "%s", r->error ? r->error : "-");
    e2e_resp_free(r); /* before the failed assert leaves the function */
    cr_assert_fail("%s %s (Host: %s; %s): no complete response, rc %d (%s), status %d", method,
                   path, host, hdrs ? hdrs : "-", rc, error, status);
}

void e2e_get(struct e2e_accel *a, const char *path, const char *hdrs, struct e2e_resp *r)
{
    e2e_ask(a, "GET", "h", path, hdrs, 0, r);
}

struct e2e_client *e2e_connect(const struct e2e_accel *a)
{
    struct e2e_client *c = e2e_client_new(a->port);

    cr_assert_not_null(c, "cannot connect to accel on port %d", a->port);
    return c;
}

void e2e_send_get(struct e2e_client *c, const char *path)
{
    char req[256];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path);
    cr_assert_eq(e2e_client_sends(c, req), 0, "sending GET %s", path);
}

struct e2e_client *e2e_connect_get(const struct e2e_accel *a, const char *path)
{
    struct e2e_client *c = e2e_connect(a);

    e2e_send_get(c, path);
    return c;
}

void e2e_expect_conns_read(struct e2e_accel *a, unsigned n)
{
    cr_assert_eq(e2e_accel_wait_conns_read(a, n, E2E_TIMEOUT_MS), 0,
                 "accel did not read the requests of %u connections", n);
}

void e2e_origin_saw(struct e2e_origin *o, unsigned n, const char *what)
{
    if (n > 0)
        cr_assert_eq(e2e_origin_wait_reqs(o, n, E2E_TIMEOUT_MS), 0,
                     "%s: the origin saw %u requests, expected %u", what, e2e_origin_nreqs(o), n);
    cr_assert_eq(e2e_origin_nreqs(o), n, "%s: the origin saw %u requests, expected %u", what,
                 e2e_origin_nreqs(o), n);
}

void e2e_still_serving(struct e2e_origin *o, struct e2e_accel *a)
{
    struct e2e_resp r;
    unsigned before = e2e_origin_ndone(o);
    int rc;

    cr_assert(e2e_accel_alive(a), "accel died");
    rc = e2e_request(a->port, "GET /alive HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
    cr_assert_eq(rc, 0, "request after the bad one: rc %d", rc);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(e2e_origin_wait_reqs(o, before + 1, E2E_TIMEOUT_MS), 0);
    e2e_resp_free(&r);
}

void e2e_expect_one_answer(struct e2e_accel *a, const char *raw, size_t len, int want,
                           unsigned flags)
{
    struct e2e_client *c = e2e_connect(a);
    struct e2e_resp r;
    char body[64];
    int rc, status, closed = 1;
    uint64_t body_len;
    size_t extra = 0;

    if (flags & E2E_ANSWER_ONLY)
        flags |= E2E_ANSWER_CLOSE;
    e2e_client_send(c, raw, len ? len : strlen(raw)); /* accel may stop reading early */
    rc = e2e_client_response(c, &r, 0);
    /* copy what the asserts need and free first: a failed assert leaves the function */
    status = r.status;
    body_len = r.body_len;
    snprintf(body, sizeof(body), "%s", r.error ? r.error : r.body);
    e2e_resp_free(&r);
    if (rc == 0 && status == want && (flags & E2E_ANSWER_CLOSE)) {
        closed = e2e_client_wait_closed(c, CLOSE_MS);
        extra = c->len;
    }
    e2e_client_free(&c);
    cr_assert_eq(rc, 0, "no answer: rc %d (%s); request starts %.60s", rc, body, raw);
    cr_assert_eq(status, want, "got %d (body '%s'), expected %d; request starts %.60s", status,
                 body, want, raw);
    if (flags & E2E_ANSWER_BODY)
        cr_assert_gt(body_len, 0, "error response %d has an empty body", status);
    cr_assert(closed, "connection still open after %d", want);
    if (flags & E2E_ANSWER_ONLY)
        cr_assert_eq(extra, 0, "%zu bytes (another answer?) after the %d", extra, want);
}

void e2e_check_framing(const struct e2e_resp *r, const char *what)
{
    const char *cl = e2e_hdrs_get(&r->hdrs, "Content-Length");

    cr_assert_leq(e2e_hdrs_count(&r->hdrs, "Content-Length"), 1, "%s: %u Content-Length fields",
                  what, e2e_hdrs_count(&r->hdrs, "Content-Length"));
    if (cl != NULL) {
        cr_assert_null(e2e_hdrs_get(&r->hdrs, "Transfer-Encoding"),
                       "%s: both Content-Length and Transfer-Encoding", what);
        cr_assert_eq(strtoull(cl, NULL, 10), r->body_len, "%s: Content-Length %s, body %llu bytes",
                     what, cl, (unsigned long long)r->body_len);
    }
}

void e2e_http_date(time_t t, char *out, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void e2e_echo_target(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    act->headers = arg;
    act->body = req->target; /* lives as long as the origin */
}

void e2e_answer_500(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->status = 500;
    act->body = "origin error";
}
