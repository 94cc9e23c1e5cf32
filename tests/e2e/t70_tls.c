/* t70_tls.c - TLS through the real binary: the harness's own TLS pieces (the test PKI, the TLS
 * client against the TLS origin), a TLS listener (misses and hits, http and https apart in the
 * cache, X-Forwarded-Proto, a large body), certificate choice by SNI, session resumption (TLS
 * 1.3 and 1.2 tickets, the 1.2 session cache), tls_min_version, ALPN, what is not TLS on the
 * TLS port, the handshake timeout, HTTPS origins (verification, SNI, keep-alive, a bad
 * certificate, origin_tls_verify off, mutual TLS), certificate reload on SIGHUP, bad
 * certificate files at start, and https_redirect.
 *
 * Every accel here listens on 127.0.0.1:0 (plain, its e2e port) and on 127.0.0.1:0 tls; the
 * certificates come from e2e_tls_certs(). */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

TestSuite(tls, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

#define MiB (1024u * 1024u)

static struct e2e_origin *origin;
static struct e2e_accel *accel;
static int tls_port;
static const struct e2e_certs *pki;

/* ---- steps ----------------------------------------------------------------------------------- */

/* Starts a plain origin and an accel in front of it with a TLS listener that has a.test's
 * certificate (the default) before <extra>. */
static void start_tls(const char *extra)
{
    char conf[4096];

    pki = e2e_tls_certs();
    snprintf(conf, sizeof(conf), "listen 127.0.0.1:0 tls\ntls_certificate %s %s\n%s\n", pki->a_cert,
             pki->a_key, extra ? extra : "");
    e2e_start(conf, &origin, &accel);
    tls_port = e2e_accel_tls_port(accel);
    cr_assert(tls_port > 0, "no 'listening on 127.0.0.1:PORT (tls)' line in %s", accel->error_log);
    cr_assert_neq(tls_port, accel->port, "the TLS port is the plain port");
}

/* Starts <o> (already running) behind an accel with "origin https://127.0.0.1:PORT" and a TLS
 * listener, then <extra>. */
static void start_https_origin(struct e2e_origin *o, const char *extra)
{
    char conf[4096];

    pki = e2e_tls_certs();
    origin = o;
    snprintf(conf, sizeof(conf),
             "origin https://127.0.0.1:%d\nlisten 127.0.0.1:0 tls\ntls_certificate %s %s\n%s\n",
             e2e_origin_port(o), pki->a_cert, pki->a_key, extra ? extra : "");
    accel = e2e_accel_start(conf, -1);
    tls_port = e2e_accel_tls_port(accel);
    cr_assert(tls_port > 0, "no 'listening on 127.0.0.1:PORT (tls)' line in %s", accel->error_log);
}

/* Options that verify accel's certificate against the test CA, with SNI <sni>. */
static struct e2e_tls_opts opts_sni(const char *sni)
{
    struct e2e_tls_opts o = {.sni = sni, .ca = pki->ca};

    return o;
}

/* A TLS connection to <port>; fails the test when the handshake fails. */
static struct e2e_client *tls_connect_port(int port, const struct e2e_tls_opts *o)
{
    struct e2e_client *c = e2e_tls_client_new(port, o);

    cr_assert_not_null(c, "TLS handshake with port %d (SNI %s) failed: %s", port,
                       o && o->sni ? o->sni : "(none)", e2e_tls_last_error());
    return c;
}

static struct e2e_client *tls_connect(const struct e2e_tls_opts *o)
{
    return tls_connect_port(tls_port, o);
}

/* Sends GET <path> with Host <host> on <c> and reads the answer into <r> with <flags>; fails
 * the test when no complete answer came. */
static void get_on(struct e2e_client *c, const char *host, const char *path, unsigned flags,
                   struct e2e_resp *r)
{
    char req[512];
    int rc;

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    cr_assert_eq(e2e_client_sends(c, req), 0, "sending GET %s", path);
    rc = e2e_client_response(c, r, flags);
    cr_assert_eq(rc, 0, "GET %s (host %s): no complete answer: rc %d (%s)", path, host, rc,
                 r->error ? r->error : "-");
}

/* GET <path> over a new TLS connection with SNI a.test. */
static void tls_get(const char *path, unsigned flags, struct e2e_resp *r)
{
    struct e2e_tls_opts o = opts_sni("a.test");
    struct e2e_client *c = tls_connect(&o);

    get_on(c, "a.test", path, flags, r);
    e2e_client_free(&c);
}

static const struct e2e_req *origin_req(unsigned i)
{
    const struct e2e_req *q;

    cr_assert_eq(e2e_origin_wait_reqs(origin, i + 1, E2E_TIMEOUT_MS), 0,
                 "the origin did not receive request #%u (it has %u)", i, e2e_origin_nreqs(origin));
    q = e2e_origin_req(origin, i);
    cr_assert_not_null(q);
    return q;
}

/* The CN of the certificate accel shows for SNI <sni> (NULL: none), verified against the CA. */
static void cn_for(const char *sni, char *cn, size_t len, char *san, size_t san_len)
{
    struct e2e_tls_opts o = opts_sni(sni);
    struct e2e_client *c = tls_connect(&o);

    snprintf(cn, len, "%s", c->tls_peer_cn);
    if (san != NULL)
        snprintf(san, san_len, "%s", c->tls_peer_san);
    e2e_client_free(&c);
}

/* Checks that accel is alive and still answers a GET over TLS through the origin. */
static void still_serving_tls(void)
{
    struct e2e_resp r;
    unsigned before = e2e_origin_ndone(origin);

    cr_assert(e2e_accel_alive(accel), "accel died");
    tls_get("/alive", 0, &r);
    cr_assert_eq(r.status, 200, "GET /alive over TLS: status %d", r.status);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(e2e_origin_wait_reqs(origin, before + 1, E2E_TIMEOUT_MS), 0);
    e2e_resp_free(&r);
}

/* Origin handler: 200 "cached <target>" with max-age=60. */
static void cacheable_target(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    static _Thread_local char body[256];

    (void)arg;
    snprintf(body, sizeof(body), "cached %s", req->target);
    act->headers = "Cache-Control: max-age=60\r\n";
    act->body = body;
}

/* Origin handler: 200 "hello", never stored. */
static void no_store(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->headers = "Cache-Control: no-store\r\n";
}

/* The X-Forwarded-Proto the origin saw in <q>, "(none)" without one. */
static const char *xfp(const struct e2e_req *q)
{
    const char *v = e2e_hdrs_get(&q->hdrs, "X-Forwarded-Proto");

    return v != NULL ? v : "(none)";
}

/* 1 when a line of <path> contains both <a> and <b>. */
static int log_has(const char *path, const char *a, const char *b)
{
    char *text = e2e_read_file(path, NULL);
    char *line, *save = NULL;
    int found = 0;

    if (text == NULL)
        return 0;
    for (line = strtok_r(text, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save))
        found = strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
    free(text);
    return found;
}

/* ---- the harness itself ---------------------------------------------------------------------- */

Test(tls, harness_pki_names)
{
    char cn[128], san[128], issuer[128];

    pki = e2e_tls_certs();
    cr_assert_eq(e2e_tls_cert_names(pki->a_cert, cn, san, issuer, sizeof(cn)), 0);
    cr_assert_str_eq(cn, "a.test");
    cr_assert_str_eq(san, "a.test");
    cr_assert_str_eq(issuer, "accel-test-ca");
    cr_assert_eq(e2e_tls_cert_names(pki->a_rsa_cert, cn, san, issuer, sizeof(cn)), 0);
    cr_assert_str_eq(cn, "a.test");
    cr_assert_eq(e2e_tls_cert_names(pki->w_cert, cn, san, NULL, sizeof(cn)), 0);
    cr_assert_str_eq(san, "*.w.test");
    cr_assert_eq(e2e_tls_cert_names(pki->bad_cert, cn, NULL, issuer, sizeof(cn)), 0);
    cr_assert_str_eq(cn, "origin.test");
    cr_assert_str_eq(issuer, "origin.test", "the bad origin certificate is self-signed");
    cr_assert_eq(e2e_tls_cert_names(pki->client_cert, cn, NULL, NULL, sizeof(cn)), 0);
    cr_assert_str_eq(cn, "accel-client");
}

Test(tls, harness_client_against_tls_origin)
{
    struct e2e_tls_opts o;
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;
    void *sess;

    pki = e2e_tls_certs();
    origin = e2e_origin_start_tls(pki->origin_cert, pki->origin_key, NULL);
    o = (struct e2e_tls_opts){.sni = "origin.test", .ca = pki->ca, .verify_host = "origin.test"};
    c = tls_connect_port(e2e_origin_port(origin), &o);
    cr_assert_str_eq(c->tls_peer_cn, "origin.test");
    cr_assert_str_eq(c->tls_peer_key, "EC");
    cr_assert_str_eq(c->tls_peer_issuer, "accel-test-ca");
    get_on(c, "origin.test", "/x", 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    e2e_resp_free(&r);
    get_on(c, "origin.test", "/y", E2E_RESP_PATTERN, &r); /* keep-alive over TLS */
    e2e_resp_free(&r);
    sess = e2e_tls_session(c);
    e2e_client_free(&c);
    q = origin_req(0);
    cr_assert(q->tls);
    cr_assert_str_eq(q->sni, "origin.test");
    cr_assert_not(q->client_cert);
    cr_assert_eq(e2e_origin_nconns(origin), 1);

    /* resumption against the harness's origin */
    o.session = sess;
    c = tls_connect_port(e2e_origin_port(origin), &o);
    cr_assert_eq(c->tls_reused, 1, "the origin did not resume (version %x)", c->tls_version);
    e2e_client_free(&c);
    e2e_tls_session_free(&sess);

    /* a wrong name fails verification, and so does a certificate from elsewhere */
    o = (struct e2e_tls_opts){.ca = pki->ca, .verify_host = "other.test"};
    c = e2e_tls_client_new(e2e_origin_port(origin), &o);
    cr_assert_null(c);
    cr_assert(strstr(e2e_tls_last_error(), "verify") != NULL, "error: %s", e2e_tls_last_error());
    e2e_origin_stop(&origin);

    origin = e2e_origin_start_tls(pki->bad_cert, pki->bad_key, NULL);
    o = (struct e2e_tls_opts){.ca = pki->ca};
    c = e2e_tls_client_new(e2e_origin_port(origin), &o);
    cr_assert_null(c);
    cr_assert(strstr(e2e_tls_last_error(), "self-signed") != NULL ||
                  strstr(e2e_tls_last_error(), "self signed") != NULL,
              "error: %s", e2e_tls_last_error());
    cr_assert_eq(e2e_origin_wait_idle(origin, E2E_TIMEOUT_MS), 0);
    cr_assert_eq(e2e_origin_nhandshake_fail(origin), 1);
    e2e_origin_stop(&origin);
}

Test(tls, harness_client_cert_at_tls_origin)
{
    struct e2e_tls_opts o;
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;
    char why[256];
    int rc;

    pki = e2e_tls_certs();
    origin = e2e_origin_start_tls(pki->origin_cert, pki->origin_key, pki->ca);
    o = (struct e2e_tls_opts){.ca = pki->ca, .cert = pki->client_cert, .key = pki->client_key};
    c = tls_connect_port(e2e_origin_port(origin), &o);
    get_on(c, "origin.test", "/m", 0, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    q = origin_req(0);
    cr_assert(q->client_cert);
    cr_assert_str_eq(q->client_cn, "accel-client");
    cr_assert_str_eq(q->sni, "");

    /* without a certificate: with TLS 1.3 the client's handshake ends before the origin
     * refuses, so the refusal may show on the first read */
    o = (struct e2e_tls_opts){.ca = pki->ca};
    c = e2e_tls_client_new(e2e_origin_port(origin), &o);
    if (c != NULL) {
        e2e_client_sends(c, "GET /n HTTP/1.1\r\nHost: origin.test\r\n\r\n");
        e2e_resp_init(&r, 0);
        rc = e2e_client_read(c, &r, 0, E2E_TIMEOUT_MS);
        cr_assert_eq(rc, -ECONNRESET, "an answer without a client certificate: rc %d status %d", rc,
                     r.status);
        e2e_resp_free(&r);
        e2e_client_free(&c);
    }
    cr_assert_eq(e2e_origin_wait_idle(origin, E2E_TIMEOUT_MS), 0);
    cr_assert_eq(e2e_origin_nhandshake_fail(origin), 1);
    e2e_origin_tls_error(origin, why, sizeof(why));
    cr_assert(strstr(why, "certificate") != NULL, "origin's reason: %s", why);
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
}

/* ---- a TLS listener -------------------------------------------------------------------------- */

Test(tls, https_miss_then_hit)
{
    struct e2e_resp r;
    const struct e2e_req *q;

    start_tls(NULL);
    e2e_origin_set_handler(origin, cacheable_target, NULL);
    tls_get("/c", 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "cached /c");
    e2e_expect_xcache(&r, "MISS", "first GET over TLS");
    e2e_resp_free(&r);
    tls_get("/c", 0, &r);
    e2e_expect_hit(&r, E2E_HIT_OK | E2E_HIT_FRESH, "cached /c", "second GET over TLS");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "a miss then a hit over TLS");
    q = origin_req(0);
    cr_assert_str_eq(q->target, "/c");
    cr_assert_eq(e2e_hdrs_count(&q->hdrs, "X-Forwarded-Proto"), 1, "X-Forwarded-Proto: %u fields",
                 e2e_hdrs_count(&q->hdrs, "X-Forwarded-Proto"));
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "X-Forwarded-Proto"), "https");
}

Test(tls, http_and_https_are_separate_entries)
{
    struct e2e_resp r;

    start_tls(NULL);
    e2e_origin_set_handler(origin, cacheable_target, NULL);
    e2e_get(accel, "/s", NULL, &r);
    e2e_expect_xcache(&r, "MISS", "GET /s over http");
    e2e_resp_free(&r);
    tls_get("/s", 0, &r);
    cr_assert_eq(r.status, 200);
    e2e_expect_xcache(&r, "MISS", "GET /s over https after http");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "the same path over http and https");
    cr_assert_str_eq(xfp(origin_req(0)), "http");
    cr_assert_str_eq(xfp(origin_req(1)), "https");

    e2e_get(accel, "/s", NULL, &r);
    e2e_expect_hit(&r, E2E_HIT_OK, "cached /s", "GET /s over http again");
    e2e_resp_free(&r);
    tls_get("/s", 0, &r);
    e2e_expect_hit(&r, E2E_HIT_OK, "cached /s", "GET /s over https again");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "both entries hit");
}

/* GET /big (1 MiB of the test pattern) twice over TLS: a miss then a hit, every byte right, the
 * origin asked once. */
static void big_miss_then_hit(const char *what)
{
    static const uint64_t size = MiB;
    struct e2e_resp r;

    e2e_origin_set_handler(origin, e2e_cacheable_pattern, (void *)&size);
    for (int i = 0; i < 2; i++) {
        tls_get("/big", E2E_RESP_PATTERN, &r);
        cr_assert_eq(r.status, 200, "GET #%d: status %d", i, r.status);
        cr_assert_eq(r.body_len, size, "GET #%d: %llu body bytes", i,
                     (unsigned long long)r.body_len);
        cr_assert_not(r.pattern_bad, "GET #%d: the body differs at byte %llu", i,
                      (unsigned long long)r.pattern_bad_at);
        e2e_expect_xcache(&r, i == 0 ? "MISS" : "HIT", i == 0 ? "first GET" : "second GET");
        e2e_resp_free(&r);
    }
    e2e_origin_saw(origin, 1, what);
}

Test(tls, large_body_hit_byte_for_byte)
{
    start_tls(NULL);
    big_miss_then_hit("1 MiB over TLS, a miss then a hit");
}

/* tls_ktls on: where the kernel has its TLS layer, OpenSSL hands it the keys; where it has not
 * (the check reads what accel reads), accel says so once at start and serves the same bytes. */
Test(tls, ktls_on_serves_the_same_bytes_and_says_where_it_cannot)
{
    char *ulp = e2e_read_file("/proc/sys/net/ipv4/tcp_available_ulp", NULL);
    int kernel_has = 0;

    for (char *save = NULL, *tok = ulp != NULL ? strtok_r(ulp, " \t\n", &save) : NULL; tok != NULL;
         tok = strtok_r(NULL, " \t\n", &save))
        kernel_has |= strcmp(tok, "tls") == 0;
    free(ulp);
    start_tls("tls_ktls on\n");
    cr_assert_eq(log_has(accel->error_log, "tls_ktls on", "no TLS upper layer"), !kernel_has,
                 "kernel %s kTLS, but the warning is %s in %s", kernel_has ? "offers" : "lacks",
                 kernel_has ? "there" : "missing", accel->error_log);
    big_miss_then_hit("1 MiB over TLS with tls_ktls on, a miss then a hit");
}

Test(tls, keepalive_and_pipelining_over_tls)
{
    struct e2e_tls_opts o;
    struct e2e_client *c;
    struct e2e_resp r;

    start_tls(NULL);
    e2e_origin_set_handler(origin, e2e_echo_target, NULL);
    o = opts_sni("a.test");
    c = tls_connect(&o);
    /* two requests in one TLS record, then two in two records sent back to back: the second
     * record may wait inside accel's TLS buffer, not in the socket */
    cr_assert_eq(e2e_client_sends(c, "GET /p1 HTTP/1.1\r\nHost: a.test\r\n\r\n"
                                     "GET /p2 HTTP/1.1\r\nHost: a.test\r\n\r\n"),
                 0);
    cr_assert_eq(e2e_client_sends(c, "GET /p3 HTTP/1.1\r\nHost: a.test\r\n\r\n"), 0);
    cr_assert_eq(e2e_client_sends(c, "GET /p4 HTTP/1.1\r\nHost: a.test\r\n\r\n"), 0);
    for (int i = 1; i <= 4; i++) {
        char want[16];

        snprintf(want, sizeof(want), "/p%d", i);
        cr_assert_eq(e2e_client_response(c, &r, 0), 0, "pipelined response %d did not come", i);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, want);
        cr_assert(r.keep_alive);
        e2e_resp_free(&r);
    }
    e2e_client_free(&c);
    e2e_origin_saw(origin, 4, "four pipelined requests over TLS");
}

Test(tls, request_body_over_tls)
{
    enum { LEN = 300 * 1024 };
    struct e2e_tls_opts o;
    struct e2e_client *c;
    struct e2e_resp r;
    const struct e2e_req *q;
    char head[128];
    char *body = malloc(LEN);

    cr_assert_not_null(body);
    for (size_t i = 0; i < LEN; i++)
        body[i] = (char)e2e_pattern_byte(i);
    start_tls(NULL);
    o = opts_sni("a.test");
    c = tls_connect(&o);
    snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n\r\n",
             LEN);
    cr_assert_eq(e2e_client_sends(c, head), 0);
    for (size_t off = 0; off < LEN; off += 7000) /* many records */
        cr_assert_eq(e2e_client_send(c, body + off, LEN - off < 7000 ? LEN - off : 7000), 0);
    cr_assert_eq(e2e_client_response(c, &r, 0), 0, "no answer to the POST over TLS");
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    q = origin_req(0);
    cr_assert_str_eq(q->method, "POST");
    cr_assert_eq(q->body_len, LEN, "the origin got %llu body bytes",
                 (unsigned long long)q->body_len);
    cr_assert(e2e_pattern_check(0, q->body, LEN), "the request body was corrupted");
    free(body);
}

/* ---- certificates by SNI --------------------------------------------------------------------- */

Test(tls, sni_picks_the_certificate)
{
    char conf[1024], cn[128], san[128];
    static const struct {
        const char *sni, *cn, *san;
    } cases[] = {
        {"a.test", "a.test", "a.test"},       {"b.test", "b.test", "b.test"},
        {"x.w.test", "*.w.test", "*.w.test"}, {"B.TEST", "b.test", "b.test"},
        {"y.x.w.test", "a.test", "a.test"}, /* a wildcard matches one label only */
        {"w.test", "a.test", "a.test"},       {"unknown.test", "a.test", "a.test"},
        {NULL, "a.test", "a.test"},
    };

    pki = e2e_tls_certs();
    snprintf(conf, sizeof(conf), "tls_certificate %s %s\ntls_certificate %s %s\n", pki->b_cert,
             pki->b_key, pki->w_cert, pki->w_key);
    start_tls(conf);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cn_for(cases[i].sni, cn, sizeof(cn), san, sizeof(san));
        cr_assert_str_eq(cn, cases[i].cn, "SNI %s: certificate CN %s, expected %s",
                         cases[i].sni ? cases[i].sni : "(none)", cn, cases[i].cn);
        cr_assert_str_eq(san, cases[i].san, "SNI %s: first SAN %s, expected %s",
                         cases[i].sni ? cases[i].sni : "(none)", san, cases[i].san);
    }
}

Test(tls, no_sni_gets_the_first_certificate)
{
    char conf[2048], cn[128];
    struct e2e_tls_opts o;
    struct e2e_client *c;
    struct e2e_resp r;

    /* b.test first, then a.test: b.test is the default */
    pki = e2e_tls_certs();
    snprintf(conf, sizeof(conf),
             "listen 127.0.0.1:0 tls\ntls_certificate %s %s\ntls_certificate %s %s\n", pki->b_cert,
             pki->b_key, pki->a_cert, pki->a_key);
    e2e_start(conf, &origin, &accel);
    tls_port = e2e_accel_tls_port(accel);
    cr_assert(tls_port > 0);
    cn_for(NULL, cn, sizeof(cn), NULL, 0);
    cr_assert_str_eq(cn, "b.test", "no SNI: CN %s, expected the first certificate's", cn);
    cn_for("a.test", cn, sizeof(cn), NULL, 0);
    cr_assert_str_eq(cn, "a.test");
    /* verified by name too, and the request goes through */
    o = (struct e2e_tls_opts){.sni = "a.test", .ca = pki->ca, .verify_host = "a.test"};
    c = tls_connect(&o);
    get_on(c, "a.test", "/v", 0, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    e2e_client_free(&c);
}

/* ---- resumption ------------------------------------------------------------------------------ */

/* Connects twice with TLS <version>: the second offers the first one's session. Returns 1 when
 * it was resumed; *<ticket> tells whether the session had a ticket. */
static int resumed(int version, int *ticket)
{
    struct e2e_tls_opts o = opts_sni("a.test");
    struct e2e_client *c;
    struct e2e_resp r;
    void *sess;
    int reused;

    o.min_version = version;
    o.max_version = version;
    c = tls_connect(&o);
    cr_assert_eq(c->tls_version, version, "version %x, expected %x", c->tls_version, version);
    cr_assert_not(c->tls_reused);
    get_on(c, "a.test", "/r1", 0, &r); /* a TLS 1.3 ticket comes after the handshake */
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    sess = e2e_tls_session(c);
    cr_assert_not_null(sess);
    *ticket = e2e_tls_session_has_ticket(sess);
    e2e_client_free(&c);

    o.session = sess;
    c = tls_connect(&o);
    reused = c->tls_reused;
    get_on(c, "a.test", "/r2", 0, &r);
    cr_assert_eq(r.status, 200, "on the resumed connection: status %d", r.status);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    e2e_tls_session_free(&sess);
    return reused;
}

Test(tls, resumption_tls13)
{
    int ticket;

    start_tls(NULL);
    for (int i = 0; i < 3; i++) /* two workers: whichever takes the connection resumes */
        cr_assert_eq(resumed(E2E_TLS13, &ticket), 1, "TLS 1.3 session not resumed (round %d)", i);
    cr_assert(ticket);
}

Test(tls, resumption_tls12_ticket)
{
    int ticket;

    start_tls(NULL);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(resumed(E2E_TLS12, &ticket), 1, "TLS 1.2 session not resumed (round %d)", i);
    cr_assert(ticket, "TLS 1.2 with tls_session_tickets on (default): no ticket");
}

Test(tls, resumption_tls12_session_cache_without_tickets)
{
    int ticket;

    start_tls("tls_session_tickets off\ntls_session_cache 100\n");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(resumed(E2E_TLS12, &ticket), 1,
                     "TLS 1.2 session not resumed from the session cache (round %d)", i);
    cr_assert_not(ticket, "tls_session_tickets off, yet the session has a ticket");
}

Test(tls, no_resumption_without_tickets_or_cache)
{
    int ticket;

    start_tls("tls_session_tickets off\ntls_session_cache 0\n");
    cr_assert_eq(resumed(E2E_TLS12, &ticket), 0, "TLS 1.2 resumed with tickets and cache off");
    cr_assert_eq(resumed(E2E_TLS13, &ticket), 0, "TLS 1.3 resumed with tickets and cache off");
}

/* ---- versions and ALPN ----------------------------------------------------------------------- */

Test(tls, min_version_13_refuses_tls12)
{
    struct e2e_tls_opts o;
    struct e2e_client *c;

    start_tls("tls_min_version 1.3\n");
    o = opts_sni("a.test");
    o.max_version = E2E_TLS12;
    c = e2e_tls_client_new(tls_port, &o);
    cr_assert_null(c, "a TLS 1.2 client got through tls_min_version 1.3 (version %x)",
                   c ? c->tls_version : 0);
    o = opts_sni("a.test");
    c = tls_connect(&o);
    cr_assert_eq(c->tls_version, E2E_TLS13);
    e2e_client_free(&c);
    cr_assert(e2e_accel_alive(accel));
}

Test(tls, default_min_version_accepts_tls12)
{
    struct e2e_tls_opts o;
    struct e2e_client *c;

    start_tls(NULL);
    o = opts_sni("a.test");
    o.max_version = E2E_TLS12;
    c = tls_connect(&o);
    cr_assert_eq(c->tls_version, E2E_TLS12);
    e2e_client_free(&c);
}

Test(tls, alpn_selects_http11)
{
    struct e2e_tls_opts o;
    struct e2e_client *c;
    struct e2e_resp r;

    start_tls(NULL);
    o = opts_sni("a.test");
    o.alpn = "h2,http/1.1";
    c = tls_connect(&o);
    cr_assert_str_eq(c->tls_alpn, "http/1.1", "ALPN selected '%s'", c->tls_alpn);
    get_on(c, "a.test", "/alpn", 0, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    e2e_client_free(&c);

    o.alpn = "h2";
    c = e2e_tls_client_new(tls_port, &o);
    cr_assert_not_null(c, "offering only h2: the handshake failed: %s", e2e_tls_last_error());
    cr_assert_str_eq(c->tls_alpn, "", "offering only h2, ALPN selected '%s'", c->tls_alpn);
    get_on(c, "a.test", "/alpn2", 0, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    e2e_client_free(&c);

    o.alpn = NULL;
    c = tls_connect(&o);
    cr_assert_str_eq(c->tls_alpn, "");
    e2e_client_free(&c);
}

Test(tls, ciphers_and_ciphersuites_configured)
{
    struct e2e_tls_opts o;
    struct e2e_client *c;

    start_tls("tls_ciphers ECDHE-ECDSA-CHACHA20-POLY1305\n"
              "tls_ciphersuites TLS_CHACHA20_POLY1305_SHA256\n");
    o = opts_sni("a.test");
    o.max_version = E2E_TLS12;
    c = tls_connect(&o);
    cr_assert_str_eq(c->tls_cipher, "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS 1.2 cipher %s",
                     c->tls_cipher);
    e2e_client_free(&c);
    o.max_version = E2E_TLS13;
    o.min_version = E2E_TLS13;
    c = tls_connect(&o);
    cr_assert_str_eq(c->tls_cipher, "TLS_CHACHA20_POLY1305_SHA256", "TLS 1.3 suite %s",
                     c->tls_cipher);
    e2e_client_free(&c);
}

/* ---- not TLS on the TLS port ----------------------------------------------------------------- */

Test(tls, plain_http_on_tls_port_is_closed)
{
    struct e2e_client *c;

    start_tls(NULL);
    c = e2e_client_new(tls_port);
    cr_assert_not_null(c);
    e2e_client_sends(c, "GET /plain HTTP/1.1\r\nHost: a.test\r\n\r\n");
    cr_assert(e2e_client_wait_closed(c, 5000), "plain HTTP on the TLS port: not closed in 5 s");
    /* a 400 in the clear that says why, as nginx does; then the connection is closed */
    cr_assert(c->len > 12 && strncmp(c->buf, "HTTP/1.1 400", 12) == 0,
              "plain HTTP on the TLS port: not a 400 in the clear (%zu bytes: %.*s)", c->len,
              (int)(c->len > 80 ? 80 : c->len), c->buf);
    cr_assert_not_null(memmem(c->buf, c->len, "speaks HTTPS", 12), "%.*s", (int)c->len, c->buf);
    e2e_client_free(&c);
    still_serving_tls();
    cr_assert_eq(e2e_origin_nreqs(origin), 1, "the origin saw the plain request");
    cr_assert_str_eq(origin_req(0)->target, "/alive");
}

Test(tls, garbage_on_tls_port_is_closed)
{
    struct e2e_client *c;
    unsigned char junk[4096];
    uint32_t x = 2463534242u;

    for (size_t i = 0; i < sizeof(junk); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk[i] = (unsigned char)x;
    }
    junk[0] = 0x16; /* looks like a handshake record, then nonsense */
    start_tls(NULL);
    for (int i = 0; i < 2; i++) {
        c = e2e_client_new(tls_port);
        cr_assert_not_null(c);
        e2e_client_send(c, i == 0 ? junk : junk + 1, sizeof(junk) - 1);
        cr_assert(e2e_client_wait_closed(c, 5000), "garbage #%d on the TLS port: not closed", i);
        e2e_client_free(&c);
    }
    still_serving_tls();
    cr_assert_eq(e2e_origin_nreqs(origin), 1, "the origin saw a request from the garbage");
}

Test(tls, silent_client_closed_after_handshake_timeout)
{
    struct e2e_client *c;
    uint64_t t0, dt;

    start_tls("tls_handshake_timeout 1s\n");
    c = e2e_client_new(tls_port);
    cr_assert_not_null(c);
    t0 = e2e_now_ms();
    cr_assert(e2e_client_wait_closed(c, 8000),
              "a silent client on the TLS port: not closed in 8 s");
    dt = e2e_now_ms() - t0;
    cr_assert(dt >= 700 && dt <= 4000, "closed after %llu ms, expected about 1 s",
              (unsigned long long)dt);
    e2e_client_free(&c);
    still_serving_tls();
}

/* ---- HTTPS origins --------------------------------------------------------------------------- */

Test(tls, https_origin_verified_with_sni_and_kept_alive)
{
    struct e2e_client *c;
    char conf[512];
    struct e2e_resp r;
    const struct e2e_req *q;

    pki = e2e_tls_certs();
    snprintf(conf, sizeof(conf), "origin_tls_ca %s\norigin_tls_name origin.test\n", pki->ca);
    start_https_origin(e2e_origin_start_tls(pki->origin_cert, pki->origin_key, NULL), conf);
    e2e_origin_set_handler(origin, no_store, NULL);
    c = e2e_connect(accel); /* one client connection: one worker, one pool */
    for (int i = 0; i < 2; i++) {
        get_on(c, "h", "/pass", 0, &r);
        cr_assert_eq(r.status, 200, "pass #%d through the HTTPS origin: status %d", i, r.status);
        cr_assert_str_eq(r.body, "hello");
        e2e_resp_free(&r);
    }
    e2e_client_free(&c);
    e2e_origin_saw(origin, 2, "two uncacheable requests");
    cr_assert_eq(e2e_origin_nconns(origin), 1, "%u TLS connections to the origin, expected 1",
                 e2e_origin_nconns(origin));
    q = origin_req(0);
    cr_assert(q->tls);
    cr_assert_str_eq(q->sni, "origin.test", "SNI to the origin: '%s'", q->sni);
    cr_assert_not(q->client_cert);
    cr_assert_str_eq(xfp(q), "http");

    /* and from a TLS client, https end to end */
    tls_get("/pass", 0, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    cr_assert_str_eq(xfp(origin_req(2)), "https");
    cr_assert_eq(e2e_origin_nhandshake_fail(origin), 0);
}

Test(tls, https_origin_name_defaults_to_its_host)
{
    char conf[512];
    struct e2e_resp r;

    /* the origin's certificate has IP:127.0.0.1 */
    pki = e2e_tls_certs();
    snprintf(conf, sizeof(conf), "origin_tls_ca %s\n", pki->ca);
    start_https_origin(e2e_origin_start_tls(pki->origin_cert, pki->origin_key, NULL), conf);
    e2e_get(accel, "/ip", NULL, &r);
    cr_assert_eq(r.status, 200, "origin checked as 127.0.0.1: status %d", r.status);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "one request");
}

Test(tls, https_origin_bad_certificate_502)
{
    char conf[512];
    struct e2e_resp r;
    char *line;

    pki = e2e_tls_certs();
    snprintf(conf, sizeof(conf), "origin_tls_ca %s\norigin_tls_name origin.test\n", pki->ca);
    start_https_origin(e2e_origin_start_tls(pki->bad_cert, pki->bad_key, NULL), conf);
    e2e_get(accel, "/bad", NULL, &r);
    cr_assert_eq(r.status, 502, "origin with a self-signed certificate: status %d", r.status);
    e2e_resp_free(&r);
    line = e2e_wait_line(accel->error_log, "TLS handshake failed", 5000);
    cr_assert_not_null(line, "no 'TLS handshake failed' line in the error log");
    cr_assert(strstr(line, "self-signed certificate") != NULL ||
                  strstr(line, "self signed certificate") != NULL ||
                  strstr(line, "certificate verify failed") != NULL,
              "the log line lacks the verify reason: %s", line);
    free(line);
    cr_assert_eq(e2e_origin_nreqs(origin), 0, "the origin got a request");
    cr_assert(e2e_accel_alive(accel));
}

Test(tls, https_origin_wrong_name_502)
{
    char conf[512];
    struct e2e_resp r;

    pki = e2e_tls_certs();
    snprintf(conf, sizeof(conf), "origin_tls_ca %s\norigin_tls_name other.test\n", pki->ca);
    start_https_origin(e2e_origin_start_tls(pki->origin_cert, pki->origin_key, NULL), conf);
    e2e_get(accel, "/name", NULL, &r);
    cr_assert_eq(r.status, 502, "origin certificate for another name: status %d", r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
}

Test(tls, https_origin_verify_off_accepts_bad_certificate)
{
    struct e2e_resp r;

    pki = e2e_tls_certs();
    start_https_origin(e2e_origin_start_tls(pki->bad_cert, pki->bad_key, NULL),
                       "origin_tls_verify off\n");
    cr_assert(log_has(accel->error_log, "warn", "origin_tls_verify"),
              "no warning about origin_tls_verify off in %s", accel->error_log);
    e2e_get(accel, "/off", NULL, &r);
    cr_assert_eq(r.status, 200, "origin_tls_verify off: status %d", r.status);
    cr_assert_str_eq(r.body, "hello");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "verify off");
}

Test(tls, https_origin_mutual_tls)
{
    char conf[1024];
    struct e2e_resp r;
    const struct e2e_req *q;

    /* without a client certificate */
    pki = e2e_tls_certs();
    snprintf(conf, sizeof(conf), "origin_tls_ca %s\norigin_tls_name origin.test\n", pki->ca);
    start_https_origin(e2e_origin_start_tls(pki->origin_cert, pki->origin_key, pki->ca), conf);
    e2e_get(accel, "/mtls", NULL, &r);
    cr_assert_eq(r.status, 502, "origin asking for a client certificate, none set: status %d",
                 r.status);
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 0);
    /* with TLS 1.3 the client's side of the handshake ends first: the origin's thread may
     * count its failure a moment after accel answered */
    cr_assert_eq(e2e_origin_wait_idle(origin, E2E_TIMEOUT_MS), 0);
    cr_assert_geq(e2e_origin_nhandshake_fail(origin), 1);
    e2e_accel_kill(accel);
    e2e_origin_stop(&origin);

    /* with one */
    snprintf(conf, sizeof(conf),
             "origin_tls_ca %s\norigin_tls_name origin.test\norigin_tls_certificate %s %s\n",
             pki->ca, pki->client_cert, pki->client_key);
    start_https_origin(e2e_origin_start_tls(pki->origin_cert, pki->origin_key, pki->ca), conf);
    e2e_get(accel, "/mtls", NULL, &r);
    cr_assert_eq(r.status, 200, "with origin_tls_certificate: status %d", r.status);
    e2e_resp_free(&r);
    q = origin_req(0);
    cr_assert(q->client_cert, "the origin saw no client certificate");
    cr_assert_str_eq(q->client_cn, "accel-client");
    cr_assert_eq(e2e_origin_nhandshake_fail(origin), 0);
}

/* ---- reload ---------------------------------------------------------------------------------- */

/* Starts accel with its TLS certificate in <dir>/cur.pem and cur.key, a copy of a.test's. */
static void start_reloadable(char *cert, char *key, size_t len)
{
    char conf[1024];
    const char *dir = e2e_tmpdir();

    pki = e2e_tls_certs();
    snprintf(cert, len, "%s/cur.pem", dir);
    snprintf(key, len, "%s/cur.key", dir);
    e2e_copy_file(pki->a_cert, cert);
    e2e_copy_file(pki->a_key, key);
    snprintf(conf, sizeof(conf), "listen 127.0.0.1:0 tls\ntls_certificate %s %s\n", cert, key);
    e2e_start(conf, &origin, &accel);
    tls_port = e2e_accel_tls_port(accel);
    cr_assert(tls_port > 0);
}

Test(tls, reload_new_certificate_on_sighup)
{
    char cert[128], key[128], cn[128];
    struct e2e_tls_opts o;
    struct e2e_client *old;
    struct e2e_resp r;
    char *line;

    start_reloadable(cert, key, sizeof(cert));
    o = opts_sni(NULL);
    old = tls_connect(&o);
    cr_assert_str_eq(old->tls_peer_cn, "a.test");
    get_on(old, "a.test", "/before", 0, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);

    e2e_copy_file(pki->b_cert, cert);
    e2e_copy_file(pki->b_key, key);
    cr_assert_eq(e2e_accel_signal(accel, SIGHUP), 0);
    line = e2e_wait_line(accel->error_log, "tls: certificates reloaded", 5000);
    cr_assert_not_null(line, "no 'tls: certificates reloaded' after SIGHUP");
    free(line);

    cn_for(NULL, cn, sizeof(cn), NULL, 0);
    cr_assert_str_eq(cn, "b.test", "after the reload: CN %s, expected the new certificate's", cn);
    /* the connection opened before goes on */
    get_on(old, "a.test", "/after", 0, &r);
    cr_assert_eq(r.status, 200, "the old TLS connection after the reload: status %d", r.status);
    e2e_resp_free(&r);
    e2e_client_free(&old);
    cr_assert(e2e_accel_alive(accel));
}

Test(tls, reload_rsa_certificate_on_sighup)
{
    char cert[128], key[128], issuer[128];
    struct e2e_tls_opts o;
    struct e2e_client *c;
    char *line;

    start_reloadable(cert, key, sizeof(cert));
    o = opts_sni("a.test");
    c = tls_connect(&o);
    cr_assert_str_eq(c->tls_peer_key, "EC");
    e2e_client_free(&c);
    e2e_copy_file(pki->a_rsa_cert, cert);
    e2e_copy_file(pki->a_rsa_key, key);
    cr_assert_eq(e2e_accel_signal(accel, SIGHUP), 0);
    line = e2e_wait_line(accel->error_log, "tls: certificates reloaded", 5000);
    cr_assert_not_null(line, "no 'tls: certificates reloaded' after SIGHUP");
    free(line);
    for (int v = E2E_TLS12; v <= E2E_TLS13; v++) {
        o = opts_sni("a.test");
        o.min_version = o.max_version = v;
        o.verify_host = "a.test";
        c = tls_connect(&o);
        snprintf(issuer, sizeof(issuer), "%s", c->tls_peer_issuer);
        cr_assert_str_eq(c->tls_peer_cn, "a.test");
        cr_assert_str_eq(issuer, "accel-test-ca");
        cr_assert_str_eq(c->tls_peer_key, "RSA", "TLS %x after the reload: a %s key, expected RSA",
                         v, c->tls_peer_key);
        e2e_client_free(&c);
    }
}

Test(tls, reload_bad_certificate_keeps_the_current_one)
{
    char cert[128], key[128], cn[128], dir[128];
    char *line;

    start_reloadable(cert, key, sizeof(cert));
    snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(cert, '/') - cert), cert);
    e2e_write_file(dir, "cur.pem", "-----BEGIN CERTIFICATE-----\ngarbage\n", cert, sizeof(cert));
    cr_assert_eq(e2e_accel_signal(accel, SIGHUP), 0);
    line = e2e_wait_line(accel->error_log, "keeping the current certificates", 5000);
    cr_assert_not_null(line, "no 'keeping the current certificates' after a bad reload");
    cr_assert(strstr(line, cert) != NULL, "the error does not name %s: %s", cert, line);
    free(line);
    cr_assert(e2e_accel_alive(accel), "accel died on a bad certificate reload");
    cn_for("a.test", cn, sizeof(cn), NULL, 0);
    cr_assert_str_eq(cn, "a.test");
    still_serving_tls();
    e2e_still_serving(origin, accel);
}

/* ---- bad files at start ---------------------------------------------------------------------- */

/* Runs accel -t on a config with "tls_certificate <cert> <key>"; returns the exit status and
 * its stderr and stdout joined in *<msg> (caller frees). */
static int config_test(const char *cert, const char *key, char **msg)
{
    const char *dir = e2e_tmpdir();
    char conf[1024], path[128];
    const char *argv[] = {"-t", "-c", path, NULL};
    char *out = NULL, *err = NULL;
    int rc;

    snprintf(conf, sizeof(conf),
             "listen 127.0.0.1:0\nlisten 127.0.0.1:0 tls\norigin 127.0.0.1:1\n"
             "tls_certificate %s %s\n",
             cert, key);
    e2e_write_file(dir, "accel.conf", conf, path, sizeof(path));
    rc = e2e_run_accel(argv, &out, &err);
    *msg = malloc(strlen(err ? err : "") + strlen(out ? out : "") + 2);
    cr_assert_not_null(*msg);
    snprintf(*msg, strlen(err ? err : "") + strlen(out ? out : "") + 2, "%s\n%s", err ? err : "",
             out ? out : "");
    free(out);
    free(err);
    return rc;
}

Test(tls, bad_certificate_files_at_start)
{
    char missing[160], *msg;
    int rc;

    pki = e2e_tls_certs();
    rc = config_test(pki->a_cert, pki->a_key, &msg);
    cr_assert_eq(rc, 0, "accel -t with a good certificate: exit %d: %s", rc, msg);
    free(msg);

    snprintf(missing, sizeof(missing), "%s/missing.pem", pki->dir);
    rc = config_test(missing, pki->a_key, &msg);
    cr_assert(rc > 0 && rc < 128, "accel -t with a missing certificate: exit %d: %s", rc, msg);
    cr_assert(strstr(msg, missing) != NULL, "the message does not name %s: %s", missing, msg);
    free(msg);

    rc = config_test(pki->a_cert, pki->b_key, &msg);
    cr_assert(rc > 0 && rc < 128, "accel -t with a key that does not match: exit %d: %s", rc, msg);
    cr_assert(strstr(msg, pki->b_key) != NULL || strstr(msg, pki->a_cert) != NULL,
              "the message names neither %s nor %s: %s", pki->a_cert, pki->b_key, msg);
    cr_assert(strstr(msg, "does not match") != NULL,
              "the message does not say the pair differs: %s", msg);
    free(msg);

    rc = config_test(pki->ca_key, pki->a_key, &msg); /* a key where the certificate should be */
    cr_assert(rc > 0 && rc < 128, "accel -t with a key as the certificate: exit %d: %s", rc, msg);
    cr_assert(strstr(msg, pki->ca_key) != NULL, "the message does not name %s: %s", pki->ca_key,
              msg);
    free(msg);
}

/* ---- https_redirect -------------------------------------------------------------------------- */

Test(tls, https_redirect_sends_plain_requests_to_tls)
{
    char want[256];
    struct e2e_resp r;

    start_tls("https_redirect on\n");
    e2e_ask(accel, "GET", "a.test", "/p/q?x=1&y=2", NULL, 0, &r);
    cr_assert_eq(r.status, 301, "plain GET with https_redirect on: status %d", r.status);
    snprintf(want, sizeof(want), "https://a.test:%d/p/q?x=1&y=2", tls_port);
    cr_assert_str_eq(e2e_hdr(&r, "Location"), want);
    e2e_check_framing(&r, "the redirect");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 0, "a redirected request reached the origin");

    e2e_ask(accel, "HEAD", "a.test", "/h", NULL, 0, &r);
    cr_assert_eq(r.status, 301);
    e2e_resp_free(&r);

    tls_get("/p/q?x=1", 0, &r);
    cr_assert_eq(r.status, 200, "over TLS with https_redirect on: status %d", r.status);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "only the TLS request");
}

Test(tls, https_redirect_off_by_default)
{
    struct e2e_resp r;

    start_tls(NULL);
    e2e_get(accel, "/plain", NULL, &r);
    cr_assert_eq(r.status, 200);
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "plain request without https_redirect");
}
