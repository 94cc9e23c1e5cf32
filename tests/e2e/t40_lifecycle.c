/* t40_lifecycle.c - the process around the proxy: SIGTERM drains in-flight requests and exits 0
 * (refusing new connections meanwhile), drain_timeout bounds that wait, SIGUSR1 reopens the logs,
 * and the access log line has the documented format. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(lifecycle, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

#define MiB (1024u * 1024u)

static struct e2e_origin *origin;
static struct e2e_accel *accel;

/* Waits up to <ms> until connecting to <port> is refused; returns 1 when it is, else 0 with
 * how many connects went through and the last other error in <why>. */
static int wait_refused(int port, int ms, char *why, size_t len)
{
    uint64_t deadline = e2e_now_ms() + (uint64_t)ms;
    unsigned accepted = 0;
    int last = 0;

    while (e2e_now_ms() < deadline) {
        struct e2e_client *c = e2e_client_new(port);

        if (c == NULL && errno == ECONNREFUSED)
            return 1;
        if (c == NULL)
            last = errno; /* e.g. a reset from a backlog being closed: try again */
        else
            accepted++;
        e2e_client_free(&c);
        e2e_sleep_ms(20);
    }
    snprintf(why, len, "%u connect(s) went through in %d ms, last error: %s", accepted, ms,
             last != 0 ? strerror(last) : "none");
    return 0;
}

Test(lifecycle, sigterm_drains_inflight_request)
{
    struct e2e_client *c;
    struct e2e_resp r;
    struct e2e_hold *h;
    struct e2e_action a = {.pattern_len = 4 * MiB};
    char why[128];
    int rc;

    e2e_start("drain_timeout 30s", &origin, &accel);
    h = e2e_hold_new(origin);
    a.hold = h;
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_not_null(c);
    cr_assert_eq(e2e_client_sends(c, "GET /inflight HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0, "the request never reached the origin");

    cr_assert_eq(e2e_accel_signal(accel, SIGTERM), 0);
    cr_assert(wait_refused(accel->port, 5000, why, sizeof why),
              "accel still accepts connections after SIGTERM: %s", why);
    cr_assert(e2e_accel_alive(accel), "accel exited with a request in flight");

    e2e_hold_release(h);
    e2e_resp_init(&r, E2E_RESP_PATTERN);
    rc = e2e_client_read(c, &r, 0, E2E_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "in-flight response: rc %d after %llu bytes", rc,
                 (unsigned long long)r.body_len);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 4 * MiB);
    cr_assert_not(r.pattern_bad, "body differs at byte %llu", (unsigned long long)r.pattern_bad_at);
    e2e_resp_free(&r);

    rc = e2e_accel_wait_exit(accel, 5000);
    cr_assert_eq(rc, 0, "accel exit status %d after draining", rc);
    cr_assert(e2e_client_wait_closed(c, 1000));
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_client_free(&c);
}

Test(lifecycle, sigterm_with_idle_connections_exits_promptly)
{
    struct e2e_client *c;
    struct e2e_resp r;
    uint64_t t0;
    int rc;

    e2e_start("drain_timeout 30s", &origin, &accel);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /idle HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    /* c is now an idle keep-alive connection: it must not hold the drain for 30 s */
    t0 = e2e_now_ms();
    rc = e2e_accel_stop(accel, 5000);
    cr_assert_eq(rc, 0, "accel exit status %d", rc);
    cr_assert_lt(e2e_now_ms() - t0, 3000);
    cr_assert(e2e_client_wait_closed(c, 1000), "the idle client connection was not closed");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_client_free(&c);
}

Test(lifecycle, drain_timeout_bounds_the_wait)
{
    struct e2e_client *c;
    struct e2e_hold *h;
    struct e2e_action a = {0};
    uint64_t t0, dt;
    int rc;

    e2e_start("drain_timeout 1s\norigin_timeout 60s", &origin, &accel);
    h = e2e_hold_new(origin);
    a.hold = h; /* released only at teardown */
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /stuck HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_hold_wait(h, 1, E2E_TIMEOUT_MS), 0);
    t0 = e2e_now_ms();
    rc = e2e_accel_stop(accel, 6000);
    dt = e2e_now_ms() - t0;
    cr_assert_neq(rc, -ETIMEDOUT, "accel still running 6 s after SIGTERM (drain_timeout 1s)");
    cr_assert_lt(rc, 128, "accel died of signal %d", rc - 128);
    cr_assert_geq(dt, 800, "accel gave up on the in-flight request after %llu ms",
                  (unsigned long long)dt);
    cr_assert(e2e_client_wait_closed(c, 1000));
    e2e_client_free(&c);
}

Test(lifecycle, sigusr1_reopens_logs)
{
    struct e2e_resp r;
    char old_access[256], old_error[256];
    char *line, *old;
    struct stat st;
    uint64_t deadline;

    e2e_start(NULL, &origin, &accel);
    cr_assert_eq(e2e_request(accel->port, "GET /before-rotate HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0),
                 0);
    e2e_resp_free(&r);
    line = e2e_wait_line(accel->access_log, "/before-rotate", 5000);
    cr_assert_not_null(line, "no access log line for /before-rotate");
    free(line);

    snprintf(old_access, sizeof(old_access), "%s.1", accel->access_log);
    snprintf(old_error, sizeof(old_error), "%s.1", accel->error_log);
    cr_assert_eq(rename(accel->access_log, old_access), 0);
    cr_assert_eq(rename(accel->error_log, old_error), 0);
    cr_assert_eq(e2e_accel_signal(accel, SIGUSR1), 0);

    /* reopening creates the files anew: that is the event we wait for */
    deadline = e2e_now_ms() + 5000;
    while (stat(accel->access_log, &st) != 0 && e2e_now_ms() < deadline)
        e2e_sleep_ms(10);
    cr_assert_eq(stat(accel->access_log, &st), 0, "SIGUSR1 did not reopen the access log");
    cr_assert(e2e_accel_alive(accel), "accel died of SIGUSR1");

    cr_assert_eq(e2e_request(accel->port, "GET /after-rotate HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    line = e2e_wait_line(accel->access_log, "/after-rotate", 5000);
    cr_assert_not_null(line, "the request after SIGUSR1 is not in the new access log");
    free(line);
    old = e2e_read_file(old_access, NULL);
    cr_assert(strstr(old, "/before-rotate") != NULL);
    cr_assert(strstr(old, "/after-rotate") == NULL, "the old access log is still written");
    free(old);
    cr_assert_eq(stat(accel->error_log, &st), 0, "SIGUSR1 did not reopen the error log");
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
}

Test(lifecycle, access_log_line_format)
{
    struct e2e_resp r;
    struct e2e_action a201 = {.status = 201, .body = "made!!"};
    regex_t re;
    char *line;
    int rc;

    e2e_start(NULL, &origin, &accel);
    cr_assert_eq(e2e_request(accel->port,
                             "GET /a?q=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: e2e-agent/1.0\r\n"
                             "Referer: http://ref.example/page\r\n\r\n",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    line = e2e_wait_line(accel->access_log, "/a?q=1", 5000);
    cr_assert_not_null(line, "no access log line for GET /a?q=1");
    rc = regcomp(&re,
                 "^127\\.0\\.0\\.1 - - \\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:"
                 "[0-9]{2} \\+0000\\] \"GET /a\\?q=1 HTTP/1\\.1\" 200 5 "
                 "\"http://ref\\.example/page\" \"e2e-agent/1\\.0\" [0-9]+\\.[0-9]{3} 200 "
                 "(MISS|PASS)$",
                 REG_EXTENDED | REG_NOSUB);
    cr_assert_eq(rc, 0);
    cr_assert_eq(regexec(&re, line, 0, NULL, 0), 0, "access log line: %s", line);
    regfree(&re);
    free(line);

    /* no Referer or User-Agent: "-"; the origin's status is the upstream status */
    e2e_origin_push(origin, &a201);
    cr_assert_eq(e2e_request(accel->port,
                             "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", &r, 0),
                 0);
    cr_assert_eq(r.status, 201);
    e2e_resp_free(&r);
    line = e2e_wait_line(accel->access_log, "POST /p", 5000);
    cr_assert_not_null(line);
    rc = regcomp(&re,
                 "^127\\.0\\.0\\.1 - - \\[[^]]+\\] \"POST /p HTTP/1\\.1\" 201 6 \"-\" \"-\" "
                 "[0-9]+\\.[0-9]{3} 201 PASS$",
                 REG_EXTENDED | REG_NOSUB);
    cr_assert_eq(rc, 0);
    cr_assert_eq(regexec(&re, line, 0, NULL, 0), 0, "access log line: %s", line);
    regfree(&re);
    free(line);
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
}

Test(lifecycle, access_log_for_origin_error)
{
    struct e2e_resp r;
    char *line;

    accel = e2e_accel_start(NULL, e2e_port_down());
    cr_assert_eq(e2e_request(accel->port, "GET /down HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 502);
    e2e_resp_free(&r);
    line = e2e_wait_line(accel->access_log, "/down", 5000);
    cr_assert_not_null(line, "no access log line for a 502");
    cr_assert(strstr(line, "\"GET /down HTTP/1.1\" 502 ") != NULL, "line: %s", line);
    free(line);
}

Test(lifecycle, kill9_and_restart_on_same_config)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    cr_assert_eq(e2e_request(accel->port, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    e2e_accel_kill(accel);
    cr_assert_not(e2e_accel_alive(accel));
    accel = e2e_accel_start(NULL, e2e_origin_port(origin));
    cr_assert_eq(e2e_request(accel->port, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
}
