/* t76_health.c - active health checks through the real binary: what a check sends, failing
 * checks that take a server out after <fall> and good ones that bring it back after <rise>, a
 * killed server found by the checks alone (no client request pays for it) that comes back on
 * the same port, a check that takes longer than its timeout, the default expectation (2xx or
 * 3xx), and every server checked down: 503. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

TestSuite(health, .init = e2e_setup, .fini = e2e_teardown, .timeout = 90);

/* An origin whose /health answers what the test says, and every other path its name. */
struct srv {
    const char *name;
    atomic_int status; /* of /health */
    atomic_uint delay; /* ms before /health answers */
    struct e2e_origin *o;
};

static struct srv srvs[2];

static void handler(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    struct srv *s = arg;

    if (strncmp(req->target, "/health", 7) == 0) {
        act->status = atomic_load(&s->status);
        act->delay_ms = atomic_load(&s->delay);
        act->body = "ok";
        return;
    }
    act->body = s->name;
    act->headers = "Cache-Control: no-store\r\n";
}

static void serve(struct srv *s, const char *name, struct e2e_origin *o)
{
    s->name = name;
    s->o = o;
    e2e_origin_set_handler(o, handler, s);
}

static void start(unsigned n)
{
    static const char *const names[] = {"o0", "o1"};

    for (unsigned i = 0; i < n; i++) {
        atomic_store(&srvs[i].status, 200);
        atomic_store(&srvs[i].delay, 0);
        serve(&srvs[i], names[i], e2e_origin_start());
    }
}

/* "upstream app { server ...; check CHECK }" and a route to it. */
static struct e2e_accel *accel(unsigned n, const char *check)
{
    char conf[1024];
    size_t at = (size_t)snprintf(conf, sizeof conf, "upstream app {\n");

    for (unsigned i = 0; i < n; i++)
        at += (size_t)snprintf(conf + at, sizeof conf - at, "    server 127.0.0.1:%d\n",
                               e2e_origin_port(srvs[i].o));
    snprintf(conf + at, sizeof conf - at, "    check %s\n}\nroute { upstream app; }\n", check);
    return e2e_accel_start(conf, -1);
}

/* Requests <o> received: those of checks (<checks> 1) or the others. */
static unsigned count(struct e2e_origin *o, int checks)
{
    unsigned n = 0, total = e2e_origin_nreqs(o);

    for (unsigned i = 0; i < total; i++) {
        const struct e2e_req *r = e2e_origin_req(o, i);

        n += (strncmp(r->target, "/health", 7) == 0) == checks;
    }
    return n;
}

static int wait_checks(struct e2e_origin *o, unsigned n, int ms)
{
    for (int waited = 0; waited < ms; waited += 10) {
        if (count(o, 1) >= n)
            return 0;
        e2e_sleep_ms(10);
    }
    return -1;
}

static char *log_line(struct e2e_accel *a, const char *fmt, int port, int ms)
{
    char needle[160];

    snprintf(needle, sizeof needle, fmt, port);
    return e2e_wait_line(a->error_log, needle, ms);
}

static int get(struct e2e_accel *a, const char *path, char *body, size_t n)
{
    struct e2e_resp r;
    int st;

    e2e_get(a, path, NULL, &r);
    st = r.status;
    if (body != NULL)
        snprintf(body, n, "%s", r.body != NULL ? r.body : "");
    e2e_resp_free(&r);
    return st;
}

Test(health, a_check_is_a_plain_get_with_the_servers_host)
{
    struct e2e_accel *a;
    const struct e2e_req *r;
    char host[32];

    start(1);
    a = accel(1, "interval=100ms path=/health?from=accel");
    cr_assert_eq(wait_checks(srvs[0].o, 3, 3000), 0, "checks seen: %u", count(srvs[0].o, 1));
    r = e2e_origin_req(srvs[0].o, 0);
    cr_assert_str_eq(r->method, "GET");
    cr_assert_str_eq(r->target, "/health?from=accel");
    snprintf(host, sizeof host, "127.0.0.1:%d", e2e_origin_port(srvs[0].o));
    cr_assert_str_eq(e2e_hdrs_get(&r->hdrs, "Host"), host);
    cr_assert(e2e_hdrs_has_token(&r->hdrs, "Connection", "close"));
    cr_assert_not_null(e2e_hdrs_get(&r->hdrs, "User-Agent"));
    cr_assert(strncmp(e2e_hdrs_get(&r->hdrs, "User-Agent"), "accel-health-check/", 19) == 0);
    /* each check on a connection of its own, closed after the answer */
    cr_assert_eq(e2e_origin_nconns(srvs[0].o), e2e_origin_nreqs(srvs[0].o));
    cr_assert(e2e_accel_alive(a));
}

Test(health, failing_checks_take_a_server_out_and_rise_brings_it_back)
{
    struct e2e_accel *a;
    char body[32], *line;
    unsigned before, n0 = 0, n1 = 0;

    start(2);
    a = accel(2, "interval=100ms timeout=1s path=/health expect=200 rise=2 fall=2");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(get(a, "/x", NULL, 0), 200);
    cr_assert_eq(count(srvs[0].o, 0), 2, "round robin before: %u", count(srvs[0].o, 0));
    atomic_store(&srvs[0].status, 503);
    line = log_line(a, "server 127.0.0.1:%d is down: 2 failed check(s), the last: status 503",
                    e2e_origin_port(srvs[0].o), 3000);
    cr_assert_not_null(line, "no 'is down' line in %s", a->error_log);
    free(line);
    before = count(srvs[0].o, 0);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(get(a, "/x", body, sizeof body), 200, "request %d", i);
        cr_assert_str_eq(body, "o1", "request %d went to %s while o0 is down", i, body);
    }
    cr_assert_eq(count(srvs[0].o, 0), before, "o0 got client requests while down");
    /* the checks go on while it is down, and bring it back */
    atomic_store(&srvs[0].status, 200);
    line = log_line(a, "server 127.0.0.1:%d is up again after 2 good check(s)",
                    e2e_origin_port(srvs[0].o), 3000);
    cr_assert_not_null(line, "no 'is up again' line in %s", a->error_log);
    free(line);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(get(a, "/x", body, sizeof body), 200);
        n0 += strcmp(body, "o0") == 0;
        n1 += strcmp(body, "o1") == 0;
    }
    cr_assert_eq(n0, 5, "back in the rotation: o0 %u, o1 %u", n0, n1);
    cr_assert_eq(n1, 5);
}

Test(health, a_killed_server_is_found_by_the_checks_alone_and_comes_back)
{
    struct e2e_accel *a;
    char body[32], *line;
    int port;

    start(2);
    a = accel(2, "interval=100ms timeout=500ms path=/health rise=2 fall=2");
    cr_assert_eq(wait_checks(srvs[0].o, 1, 3000), 0);
    port = e2e_origin_port(srvs[0].o);
    e2e_origin_stop(&srvs[0].o); /* killed: its port refuses now */
    line = log_line(a, "server 127.0.0.1:%d is down: 2 failed check(s), the last: connect:", port,
                    3000);
    cr_assert_not_null(line, "no 'is down' line in %s", a->error_log);
    free(line);
    /* no client request found it dead: none was retried elsewhere */
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(get(a, "/x", body, sizeof body), 200, "request %d", i);
        cr_assert_str_eq(body, "o1");
    }
    cr_assert_eq(count(srvs[1].o, 0), 10);
    line = e2e_wait_line(a->error_log, "trying 127.0.0.1", 200);
    cr_assert_null(line, "a client request met the dead server: %s", line);
    /* it comes back on the same port */
    serve(&srvs[0], "o0", e2e_origin_start_port(port));
    line = log_line(a, "server 127.0.0.1:%d is up again", port, 3000);
    cr_assert_not_null(line, "no 'is up again' line in %s", a->error_log);
    free(line);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(get(a, "/x", NULL, 0), 200);
    cr_assert_eq(count(srvs[0].o, 0), 2, "the server that came back got %u of 4",
                 count(srvs[0].o, 0));
}

Test(health, a_check_slower_than_its_timeout_fails)
{
    struct e2e_accel *a;
    char *line;

    start(2);
    atomic_store(&srvs[0].delay, 1000);
    a = accel(2, "interval=100ms timeout=200ms path=/health fall=1");
    line = log_line(a,
                    "server 127.0.0.1:%d is down: 1 failed check(s), the last: no answer within "
                    "200 ms",
                    e2e_origin_port(srvs[0].o), 3000);
    cr_assert_not_null(line, "no timeout line in %s", a->error_log);
    free(line);
    cr_assert(e2e_accel_alive(a));
}

Test(health, without_expect_2xx_and_3xx_are_good)
{
    struct e2e_accel *a;
    char *line;

    start(2);
    atomic_store(&srvs[0].status, 301);
    atomic_store(&srvs[1].status, 404);
    a = accel(2, "interval=50ms path=/health fall=2");
    line = log_line(a, "server 127.0.0.1:%d is down: 2 failed check(s), the last: status 404",
                    e2e_origin_port(srvs[1].o), 3000);
    cr_assert_not_null(line, "404 did not take o1 down: %s", a->error_log);
    free(line);
    cr_assert_eq(wait_checks(srvs[0].o, 6, 3000), 0);
    line = log_line(a, "server 127.0.0.1:%d is down", e2e_origin_port(srvs[0].o), 100);
    cr_assert_null(line, "301 took o0 down: %s", line);
}

Test(health, every_server_checked_down_is_a_503)
{
    struct e2e_accel *a;
    struct e2e_resp r;
    char *line;

    start(1);
    atomic_store(&srvs[0].status, 500);
    a = accel(1, "interval=50ms path=/health fall=1");
    line = log_line(a, "server 127.0.0.1:%d is down", e2e_origin_port(srvs[0].o), 3000);
    cr_assert_not_null(line);
    free(line);
    e2e_get(a, "/x", NULL, &r);
    cr_assert_eq(r.status, 503, "status %d", r.status);
    cr_assert_gt(r.body_len, 0);
    cr_assert_lt(r.body_len, 512);
    e2e_resp_free(&r);
    cr_assert_eq(count(srvs[0].o, 0), 0, "the origin got a client request while down");
    /* and it serves again once it answers well */
    atomic_store(&srvs[0].status, 200);
    line = log_line(a, "server 127.0.0.1:%d is up again", e2e_origin_port(srvs[0].o), 3000);
    cr_assert_not_null(line);
    free(line);
    cr_assert_eq(get(a, "/x", NULL, 0), 200);
}

/* ---- the servers' state in the admin API ----------------------------------------------------- */

#define TOKEN "e2e-health-token-0123456789abcdef"

Test(health, the_admin_api_shows_what_the_checks_found)
{
    const char *dir = e2e_tmpdir();
    char tok[256], conf[1024], want[256], series[160];
    struct e2e_accel *a;
    struct e2e_resp r;
    int aport, p0, p1;
    char *line;

    start(2);
    p0 = e2e_origin_port(srvs[0].o);
    p1 = e2e_origin_port(srvs[1].o);
    atomic_store(&srvs[1].status, 500);
    e2e_write_file(dir, "admin.token", TOKEN "\n", tok, sizeof tok);
    cr_assert_eq(chmod(tok, 0600), 0);
    snprintf(conf, sizeof conf,
             "admin {\n    listen 127.0.0.1:0;\n    token_file %s;\n}\n"
             "upstream app {\n    server 127.0.0.1:%d\n    server 127.0.0.1:%d\n"
             "    check interval=50ms path=/health fall=1 rise=1\n}\n",
             tok, p0, p1);
    a = e2e_accel_start(conf, -1);
    aport = e2e_accel_admin_port(a, 5000);
    cr_assert_gt(aport, 0);
    line = log_line(a, "server 127.0.0.1:%d is down", p1, 3000);
    cr_assert_not_null(line);
    free(line);
    cr_assert_eq(wait_checks(srvs[0].o, 2, 3000), 0);

    e2e_admin_get(aport, TOKEN, "/stats", &r);
    cr_assert_eq(r.status, 200);
    snprintf(want, sizeof want, "\"address\": \"127.0.0.1:%d\", \"state\": \"down (checks)\"", p1);
    cr_assert_not_null(strstr(r.body, want), "no %s in %s", want, r.body);
    snprintf(want, sizeof want, "\"address\": \"127.0.0.1:%d\", \"state\": \"up\"", p0);
    cr_assert_not_null(strstr(r.body, want), "no %s in %s", want, r.body);
    e2e_resp_free(&r);

    e2e_admin_get(aport, TOKEN, "/metrics", &r);
    cr_assert_eq(r.status, 200);
    snprintf(series, sizeof series, "accel_upstream_up{upstream=\"app\",server=\"127.0.0.1:%d\"}",
             p1);
    cr_assert_eq(e2e_metric(r.body, series), 0, "%s", series);
    snprintf(series, sizeof series, "accel_upstream_up{upstream=\"app\",server=\"127.0.0.1:%d\"}",
             p0);
    cr_assert_eq(e2e_metric(r.body, series), 1, "%s", series);
    snprintf(series, sizeof series,
             "accel_upstream_checks_total{upstream=\"app\",server=\"127.0.0.1:%d\"}", p0);
    cr_assert_geq(e2e_metric(r.body, series), 2, "%s", series);
    snprintf(series, sizeof series,
             "accel_upstream_check_failures_total{upstream=\"app\",server=\"127.0.0.1:%d\"}", p1);
    cr_assert_geq(e2e_metric(r.body, series), 1, "%s", series);
    snprintf(series, sizeof series,
             "accel_upstream_check_failures_total{upstream=\"app\",server=\"127.0.0.1:%d\"}", p0);
    cr_assert_eq(e2e_metric(r.body, series), 0, "%s", series);
    e2e_resp_free(&r);

    /* one up: healthy; none up: degraded */
    e2e_admin_get(aport, TOKEN, "/health", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    e2e_resp_free(&r);
    atomic_store(&srvs[0].status, 500);
    line = log_line(a, "server 127.0.0.1:%d is down", p0, 3000);
    cr_assert_not_null(line);
    free(line);
    e2e_admin_get(aport, TOKEN, "/health", &r);
    cr_assert_eq(r.status, 503, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "an upstream has no server up"), "%s", r.body);
    e2e_resp_free(&r);
}
