/* t77_filters.c - request filters through the real binary: TRACE refused by default, a
 * deny_method list and its status, allow/deny by client address in order; each refusal is
 * answered by accel and the origin receives nothing. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(filters, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

/* Sends <raw> on a connection of its own; returns the status. */
static int send_raw(struct e2e_accel *a, const char *raw)
{
    struct e2e_resp r;
    int rc = e2e_request(a->port, raw, &r, 0), st = r.status;

    cr_assert_eq(rc, 0, "no complete answer to %s: rc %d", raw, rc);
    e2e_resp_free(&r);
    return st;
}

Test(filters, trace_is_refused_by_default)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_resp r;

    e2e_start(NULL, &o, &a);
    cr_assert_eq(send_raw(a, "TRACE / HTTP/1.1\r\nHost: h\r\nCookie: secret=1\r\n\r\n"), 403);
    cr_assert_eq(e2e_origin_nreqs(o), 0, "TRACE reached the origin");
    e2e_get(a, "/after", NULL, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(o), 1);
    cr_assert(e2e_accel_alive(a));
}

Test(filters, deny_method_replaces_the_list_and_deny_status_answers)
{
    struct e2e_origin *o;
    struct e2e_accel *a;

    e2e_start("deny_method DELETE\ndeny_status 405\n", &o, &a);
    cr_assert_eq(send_raw(a, "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
    cr_assert_eq(e2e_origin_nreqs(o), 0, "DELETE reached the origin");
    cr_assert_eq(send_raw(a, "TRACE /t HTTP/1.1\r\nHost: h\r\n\r\n"), 200, "TRACE is allowed now");
    cr_assert_eq(e2e_origin_nreqs(o), 1);
    cr_assert_str_eq(e2e_origin_req(o, 0)->method, "TRACE");
}

Test(filters, deny_method_none_lets_trace_through)
{
    struct e2e_origin *o;
    struct e2e_accel *a;

    e2e_start("deny_method none\n", &o, &a);
    cr_assert_eq(send_raw(a, "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
    cr_assert_eq(e2e_origin_nreqs(o), 1);
}

Test(filters, deny_by_address)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_resp r;
    char *line;

    e2e_start("deny 127.0.0.0/8\n", &o, &a);
    e2e_get(a, "/x", NULL, &r);
    cr_assert_eq(r.status, 403, "status %d", r.status);
    cr_assert_lt(r.body_len, 512);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(o), 0, "a denied client reached the origin");
    line = e2e_wait_line(a->error_log, "access denied for this address", 2000);
    cr_assert_not_null(line, "no refusal in %s", a->error_log);
    free(line);
}

Test(filters, allow_then_deny_all_the_first_match_wins)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_resp r;

    /* the loopback is allowed before "deny all" */
    e2e_start("allow 10.0.0.0/8 127.0.0.1\ndeny all\n", &o, &a);
    e2e_get(a, "/x", NULL, &r);
    cr_assert_eq(r.status, 200, "status %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(o), 1);
}

Test(filters, allow_elsewhere_then_deny_all_refuses)
{
    struct e2e_origin *o;
    struct e2e_accel *a;
    struct e2e_resp r;

    e2e_start("allow 10.0.0.0/8 ::1\ndeny all\ndeny_status 451\n", &o, &a);
    e2e_get(a, "/x", NULL, &r);
    cr_assert_eq(r.status, 451, "status %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(o), 0);
}
