/* t75_routing.c - several origins behind accel: upstream groups and their balancing (counts per
 * server), passive health (a server that dies mid-run costs no client an error, it is retried
 * on another server, and taken out), backups, every server down (503, or a stale copy within
 * grace), routes by host, path and method, per-route settings that take effect (cache off,
 * default_ttl, max_body_size), the answer to a request no route takes, and the cache key of a
 * route that matches on method. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(routing, .init = e2e_setup, .fini = e2e_teardown, .timeout = 90);

#define N_ORIGINS 3
static struct e2e_origin *org[N_ORIGINS];

static void start_origins(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        org[i] = e2e_origin_start();
}

/* Each origin answers with its own name: /slow... after 1.5 s, /cached... cacheable for a
 * minute, /plain... with no freshness at all, anything else uncacheable; /fail... with a 500. */
static void name_handler(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    act->body = arg;
    act->headers = "Cache-Control: no-store\r\n";
    if (strncmp(req->target, "/slow", 5) == 0)
        act->delay_ms = 1500;
    if (strncmp(req->target, "/cached", 7) == 0)
        act->headers = "Cache-Control: max-age=60\r\n";
    if (strncmp(req->target, "/plain", 6) == 0)
        act->headers = NULL;
    if (strncmp(req->target, "/fail", 5) == 0)
        act->status = 500;
}

static void name_origins(unsigned n)
{
    static const char *const names[] = {"o0", "o1", "o2"};

    for (unsigned i = 0; i < n; i++)
        e2e_origin_set_handler(org[i], name_handler, (void *)names[i]);
}

/* "upstream NAME { server 127.0.0.1:P0 OPTS0; ...; EXTRA }" into <b>. */
static void upstream_block(char *b, size_t n, const char *name, unsigned k, const char *const *opts,
                           const char *extra)
{
    size_t at = (size_t)snprintf(b, n, "upstream %s {\n", name);

    for (unsigned i = 0; i < k; i++)
        at += (size_t)snprintf(b + at, n - at, "    server 127.0.0.1:%d %s\n",
                               e2e_origin_port(org[i]), opts != NULL ? opts[i] : "");
    snprintf(b + at, n - at, "    %s\n}\n", extra != NULL ? extra : "");
}

static void append(char *b, size_t n, const char *s)
{
    size_t l = strlen(b);

    snprintf(b + l, n - l, "%s", s);
}

/* 1 when a line with <needle> shows in the error log of <a> within <ms>. */
static int log_has(struct e2e_accel *a, const char *needle, int ms)
{
    char *line = e2e_wait_line(a->error_log, needle, ms);

    free(line);
    return line != NULL;
}

static int get(struct e2e_accel *a, const char *host, const char *path, const char *hdrs,
               char *body, size_t n)
{
    struct e2e_resp r;
    int st;

    e2e_ask(a, "GET", host, path, hdrs, 0, &r);
    st = r.status;
    if (body != NULL)
        snprintf(body, n, "%s", r.body != NULL ? r.body : "");
    e2e_resp_free(&r);
    return st;
}

Test(routing, weighted_round_robin_counts_per_server)
{
    static const char *const opts[] = {"weight=3", "", ""};
    char conf[1024];
    struct e2e_accel *a;

    start_origins(2);
    name_origins(2);
    upstream_block(conf, sizeof conf, "app", 2, opts, "balance round_robin");
    append(conf, sizeof conf, "route { upstream app; }\n");
    a = e2e_accel_start(conf, -1);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(get(a, "h", "/rr", NULL, NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 30, "weight 3: %u of 40", e2e_origin_nreqs(org[0]));
    cr_assert_eq(e2e_origin_nreqs(org[1]), 10, "weight 1: %u of 40", e2e_origin_nreqs(org[1]));
}

Test(routing, least_conn_sends_to_the_idle_server)
{
    char conf[1024];
    struct e2e_accel *a;
    struct e2e_client *c;
    unsigned busy, idle;

    start_origins(2);
    name_origins(2);
    upstream_block(conf, sizeof conf, "app", 2, NULL, "balance least_conn");
    a = e2e_accel_start(conf, -1);
    c = e2e_connect_get(a, "/slow");
    for (int i = 0; i < 500 && e2e_origin_nreqs(org[0]) + e2e_origin_nreqs(org[1]) == 0; i++)
        e2e_sleep_ms(10);
    busy = e2e_origin_nreqs(org[0]) == 1 ? 0 : 1;
    idle = 1 - busy;
    cr_assert_eq(e2e_origin_nreqs(org[busy]), 1);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(get(a, "h", "/fast", NULL, NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[idle]), 10, "the idle server got %u of 10",
                 e2e_origin_nreqs(org[idle]));
    cr_assert_eq(e2e_origin_nreqs(org[busy]), 1, "the busy one got more");
    e2e_client_free(&c);
}

Test(routing, hash_keeps_each_url_on_one_server)
{
    char conf[1024], body[32], first[20][32];
    struct e2e_accel *a;
    unsigned used[3] = {0};

    start_origins(3);
    name_origins(3);
    upstream_block(conf, sizeof conf, "app", 3, NULL, "balance hash");
    append(conf, sizeof conf, "route { upstream app; }\n");
    a = e2e_accel_start(conf, -1);
    for (int i = 0; i < 20; i++) {
        char path[32];

        snprintf(path, sizeof path, "/h%d", i);
        cr_assert_eq(get(a, "h", path, NULL, body, sizeof body), 200);
        snprintf(first[i], sizeof first[i], "%s", body);
        used[body[1] - '0']++;
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 20; i++) {
            char path[32];

            snprintf(path, sizeof path, "/h%d", i);
            cr_assert_eq(get(a, "h", path, NULL, body, sizeof body), 200);
            cr_assert_str_eq(body, first[i], "%s moved from %s to %s", path, first[i], body);
        }
    }
    cr_assert(used[0] + used[1] + used[2] == 20);
    cr_assert((used[0] > 0) + (used[1] > 0) + (used[2] > 0) >= 2,
              "20 URLs all on one server: %u %u %u", used[0], used[1], used[2]);
}

Test(routing, a_dead_server_costs_no_client_an_error)
{
    static const char *const opts[] = {"max_fails=1 fail_timeout=30s", "", ""};
    char conf[1024];
    struct e2e_accel *a;
    unsigned before;

    start_origins(2);
    name_origins(2);
    upstream_block(conf, sizeof conf, "app", 2, opts, NULL);
    append(conf, sizeof conf, "route { upstream app; }\n");
    a = e2e_accel_start(conf, -1);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(get(a, "h", "/x", NULL, NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 2);
    e2e_origin_stop(&org[0]); /* killed mid-run: its port now refuses */
    before = e2e_origin_nreqs(org[1]);
    for (int i = 0; i < 10; i++) {
        char body[32];

        cr_assert_eq(get(a, "h", "/x", NULL, body, sizeof body), 200, "request %d failed", i);
        cr_assert_str_eq(body, "o1");
    }
    cr_assert_eq(e2e_origin_nreqs(org[1]) - before, 10);
    /* the first failure took it out: later requests go straight to o1, no retry each time */
    cr_assert(log_has(a, "trying 127.0.0.1", 2000));
}

Test(routing, backups_only_while_no_primary_is_up)
{
    static const char *const opts[] = {"max_fails=1 fail_timeout=30s", "backup", ""};
    char conf[1024], body[32];
    struct e2e_accel *a;

    start_origins(2);
    name_origins(2);
    upstream_block(conf, sizeof conf, "app", 2, opts, NULL);
    a = e2e_accel_start(conf, -1);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(get(a, "h", "/b", NULL, body, sizeof body), 200);
        cr_assert_str_eq(body, "o0", "a backup took a request while the primary was up");
    }
    e2e_origin_stop(&org[0]);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(get(a, "h", "/b", NULL, body, sizeof body), 200);
        cr_assert_str_eq(body, "o1");
    }
}

Test(routing, all_servers_down_503_or_stale_within_grace)
{
    static const char *const opts[] = {"max_fails=1 fail_timeout=30s",
                                       "max_fails=1 fail_timeout=30s", ""};
    char conf[1024], body[64];
    struct e2e_accel *a;
    struct e2e_resp r;

    start_origins(2);
    name_origins(2);
    upstream_block(conf, sizeof conf, "app", 2, opts, NULL);
    append(conf, sizeof conf, "grace 1h\n");
    a = e2e_accel_start(conf, -1);
    /* a copy that goes stale in a second */
    e2e_origin_set_handler(org[0], NULL, NULL);
    e2e_origin_set_handler(org[1], NULL, NULL);
    {
        struct e2e_action act = {.headers = "Cache-Control: max-age=1\r\n", .body = "old"};

        e2e_origin_push(org[0], &act);
        e2e_origin_push(org[1], &act);
    }
    cr_assert_eq(get(a, "h", "/s", NULL, body, sizeof body), 200);
    cr_assert_str_eq(body, "old");
    e2e_origin_stop(&org[0]);
    e2e_origin_stop(&org[1]);
    e2e_sleep_ms(1100);
    /* the first request finds both dead (and moves from one to the other); the stale copy
     * stands in */
    cr_assert_eq(get(a, "h", "/s", NULL, body, sizeof body), 200);
    cr_assert_str_eq(body, "old");
    /* nothing stored: 503 with a short body that says why */
    e2e_get(a, "/none", NULL, &r);
    cr_assert_eq(r.status, 503, "status %d", r.status);
    cr_assert_gt(r.body_len, 0);
    cr_assert_lt(r.body_len, 512);
    e2e_resp_free(&r);
    cr_assert(log_has(a, "no server is up", 2000));
    cr_assert(e2e_accel_alive(a));
}

Test(routing, routes_by_host_path_and_method)
{
    char conf[2048], ua[512], ub[512], uc[512], body[32];
    struct e2e_accel *a;

    start_origins(3);
    name_origins(3);
    snprintf(ua, sizeof ua, "upstream a { server 127.0.0.1:%d; }\n", e2e_origin_port(org[0]));
    snprintf(ub, sizeof ub, "upstream b { server 127.0.0.1:%d; }\n", e2e_origin_port(org[1]));
    snprintf(uc, sizeof uc, "upstream c { server 127.0.0.1:%d; }\n", e2e_origin_port(org[2]));
    snprintf(conf, sizeof conf,
             "%s%s%s"
             "route api { host api.example.com; method POST PUT; upstream c; }\n"
             "route static { host www.example.com *.example.org; path /static/ /img/; "
             "upstream b; }\n"
             "route www { host www.example.com; upstream a; }\n"
             "no_route_status 404\n",
             ua, ub, uc);
    a = e2e_accel_start(conf, -1);
    cr_assert_eq(get(a, "www.example.com", "/static/x.css", NULL, body, sizeof body), 200);
    cr_assert_str_eq(body, "o1");
    cr_assert_eq(get(a, "cdn.Example.ORG:8080", "/img/a.png", NULL, body, sizeof body), 200);
    cr_assert_str_eq(body, "o1", "a wildcard host, any case, with a port");
    cr_assert_eq(get(a, "WWW.example.com", "/page", NULL, body, sizeof body), 200);
    cr_assert_str_eq(body, "o0");
    /* example.org itself is not *.example.org; api GET is not POST/PUT */
    cr_assert_eq(get(a, "example.org", "/img/a.png", NULL, NULL, 0), 404);
    cr_assert_eq(get(a, "api.example.com", "/v1", NULL, NULL, 0), 404);
    {
        struct e2e_resp r;

        cr_assert_eq(e2e_request(a->port,
                                 "POST /v1 HTTP/1.1\r\nHost: api.example.com\r\n"
                                 "Content-Length: 2\r\n\r\nhi",
                                 &r, 0),
                     0);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "o2");
        e2e_resp_free(&r);
    }
    cr_assert_eq(e2e_origin_nreqs(org[2]), 1);
    cr_assert_str_eq(e2e_origin_req(org[2], 0)->body, "hi");
}

Test(routing, an_unknown_host_gets_421_by_default)
{
    char conf[512];
    struct e2e_accel *a;
    struct e2e_resp r;

    start_origins(1);
    snprintf(conf, sizeof conf,
             "upstream a { server 127.0.0.1:%d; }\nroute { host known.test; upstream a; }\n",
             e2e_origin_port(org[0]));
    a = e2e_accel_start(conf, -1);
    e2e_ask(a, "GET", "evil.test", "/", NULL, 0, &r);
    cr_assert_eq(r.status, 421, "status %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 0, "the origin saw a foreign host");
    cr_assert_eq(get(a, "known.test", "/", NULL, NULL, 0), 200);
}

Test(routing, per_route_cache_settings_take_effect)
{
    char conf[1024];
    struct e2e_accel *a;
    struct e2e_resp r;

    start_origins(1);
    name_origins(1);
    snprintf(conf, sizeof conf,
             "upstream a { server 127.0.0.1:%d; }\n"
             "route nocache { path /live/; cache off; upstream a; }\n"
             "route ttl { path /plain; default_ttl 1m; upstream a; }\n"
             "route icnc { path /cached-i; ignore_client_no_cache on; upstream a; }\n"
             "route small { path /upload; max_body_size 4; upstream a; }\n"
             "route { upstream a; }\n",
             e2e_origin_port(org[0]));
    a = e2e_accel_start(conf, -1);
    /* cache off: /live/cached is cacheable, yet each request goes to the origin */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(get(a, "h", "/live/cached", NULL, NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 3, "cache off: %u origin requests",
                 e2e_origin_nreqs(org[0]));
    /* default_ttl: an answer with no freshness is stored on this route only */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(get(a, "h", "/plain", NULL, NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 4, "default_ttl 1m: stored once");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(get(a, "h", "/other/plain", NULL, NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 6, "the global default_ttl 0 stores nothing");
    /* ignore_client_no_cache: a client's no-cache is a hit on this route, a miss elsewhere */
    cr_assert_eq(get(a, "h", "/cached-i", NULL, NULL, 0), 200);
    cr_assert_eq(get(a, "h", "/cached-i", "Cache-Control: no-cache\r\n", NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 7);
    cr_assert_eq(get(a, "h", "/cached-x", NULL, NULL, 0), 200);
    cr_assert_eq(get(a, "h", "/cached-x", "Cache-Control: no-cache\r\n", NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 9);
    /* max_body_size 4 on /upload: 5 bytes get a 413 there and nothing reaches the origin */
    cr_assert_eq(e2e_request(a->port,
                             "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 413, "status %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(
        e2e_request(a->port,
                    "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n0\r\n\r\n",
                    &r, 0),
        0);
    cr_assert_eq(r.status, 413, "chunked: status %d", r.status);
    e2e_resp_free(&r);
    /* (the chunked one's head may have gone ahead of its body: never a whole request) */
    cr_assert_eq(e2e_origin_ndone(org[0]), 9, "a too-large body reached the origin");
    cr_assert_eq(
        e2e_request(a->port,
                    "POST /elsewhere HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", &r, 0),
        0);
    cr_assert_eq(r.status, 200, "the global limit applies elsewhere: %d", r.status);
    e2e_resp_free(&r);
}

Test(routing, a_method_route_keeps_its_own_cache_keys)
{
    char conf[1024], body[32];
    struct e2e_accel *a;

    start_origins(2);
    name_origins(2);
    snprintf(conf, sizeof conf,
             "upstream a { server 127.0.0.1:%d; }\nupstream b { server 127.0.0.1:%d; }\n"
             "route heads { method HEAD; upstream b; }\nroute { upstream a; }\n",
             e2e_origin_port(org[0]), e2e_origin_port(org[1]));
    a = e2e_accel_start(conf, -1);
    cr_assert_eq(get(a, "h", "/cached", NULL, body, sizeof body), 200);
    cr_assert_str_eq(body, "o0");
    {
        struct e2e_resp r;

        e2e_ask(a, "HEAD", "h", "/cached", NULL, 0, &r);
        cr_assert_eq(r.status, 200);
        e2e_resp_free(&r);
    }
    cr_assert_eq(e2e_origin_nreqs(org[1]), 1, "the HEAD route was answered from a's object");
    cr_assert_eq(get(a, "h", "/cached", NULL, body, sizeof body), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 1, "the GET is a hit");
}

Test(routing, an_unsafe_request_invalidates_a_method_routes_object)
{
    char conf[1024];
    struct e2e_accel *a;
    struct e2e_resp r;

    start_origins(1);
    name_origins(1);
    snprintf(conf, sizeof conf,
             "upstream a { server 127.0.0.1:%d; }\n"
             "route reads { method GET HEAD; upstream a; }\n"
             "route { upstream a; }\n",
             e2e_origin_port(org[0]));
    a = e2e_accel_start(conf, -1);
    cr_assert_eq(get(a, "h.test", "/cached-doc", NULL, NULL, 0), 200);
    cr_assert_eq(get(a, "h.test", "/cached-doc", NULL, NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 1, "the second GET was a hit");
    cr_assert_eq(e2e_request(a->port,
                             "POST /cached-doc HTTP/1.1\r\nHost: h.test\r\n"
                             "Content-Length: 2\r\n\r\nhi",
                             &r, 0),
                 0);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 2);
    /* RFC 9111 §4.4: the POST's success removed the stored answer the GET route keeps under
     * its own name */
    cr_assert_eq(get(a, "h.test", "/cached-doc", NULL, NULL, 0), 200);
    cr_assert_eq(e2e_origin_nreqs(org[0]), 3, "a stale object was served after the POST");
}
