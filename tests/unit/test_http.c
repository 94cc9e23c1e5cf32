/* test_http.c - the llhttp glue: heads as spans, pauses, limits, and the heads accel writes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "accel/http.h"

struct body {
    char data[4096];
    size_t len;
    int calls;
};

static int collect(void *ctx, const char *p, size_t n)
{
    struct body *b = ctx;

    cr_assert_leq(b->len + n, sizeof(b->data));
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->calls++;
    return 0;
}

static struct http_parser hp;
static struct body body;

static void setup_req(void)
{
    http_parser_fini(&hp); /* a test may set up again */
    memset(&hp, 0, sizeof(hp));
    memset(&body, 0, sizeof(body));
    hp.on_body = collect;
    hp.ctx = &body;
    http_parser_init(&hp, 1, 100, 8192);
}

static void teardown(void)
{
    http_parser_fini(&hp);
}

/* Feeds the whole of <s> (stopping at errors), returning the last event; counts heads/dones. */
static enum http_ev feed_all(const char *s, size_t len, int *heads, int *dones)
{
    size_t off = 0, used;
    enum http_ev ev = HTTP_EV_MORE;

    *heads = *dones = 0;
    do {
        ev = http_parse(&hp, s + off, len - off, &used);
        off += used;
        if (ev == HTTP_EV_HEAD)
            (*heads)++;
        if (ev == HTTP_EV_DONE)
            (*dones)++;
        if (ev == HTTP_EV_ERROR)
            return ev;
    } while (off < len || ev == HTTP_EV_HEAD);
    return ev;
}

static int span_is(struct span s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

TestSuite(http, .init = setup_req, .fini = teardown);

Test(http, parses_a_request_head_into_spans)
{
    const char *r = "GET /a/b?c=d HTTP/1.1\r\nHost: Example.com\r\nX-A:  v1 \r\n\r\n";
    size_t used;

    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_HEAD);
    cr_assert_eq(used, strlen(r));
    cr_assert_eq(hp.head.method, HTTP_GET);
    cr_assert(span_is(hp.head.target, "/a/b?c=d"));
    cr_assert_eq(hp.head.n_hdrs, 2);
    cr_assert(span_is(hp.head.hdrs[0].name, "Host"));
    cr_assert(span_is(span_trim(hp.head.hdrs[1].value), "v1"));
    cr_assert_eq(hp.head.vminor, 1);
    /* The message ends without another byte. */
    cr_assert_eq(http_parse(&hp, r + used, 0, &used), HTTP_EV_DONE);
    cr_assert(hp.head.flags & HTTP_F_KEEPALIVE);
}

Test(http, head_split_across_reads_keeps_contiguous_spans)
{
    static char buf[256];
    const char *r = "GET /long/path HTTP/1.1\r\nHost: h\r\nUser-Agent: split-value\r\n\r\n";
    size_t len = strlen(r), off = 0, used;
    enum http_ev ev = HTTP_EV_MORE;

    memcpy(buf, r, len);
    /* One byte at a time: every field arrives in many pieces. */
    for (size_t i = 1; i <= len && ev != HTTP_EV_HEAD; i++) {
        ev = http_parse(&hp, buf + off, i - off, &used);
        off += used;
    }
    cr_assert_eq(ev, HTTP_EV_HEAD);
    cr_assert(span_is(hp.head.target, "/long/path"));
    cr_assert(span_is(hp.head.hdrs[1].name, "User-Agent"));
    cr_assert(span_is(hp.head.hdrs[1].value, "split-value"));
}

Test(http, pipelined_requests_stop_after_each_message)
{
    const char *r = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t used, off = 0;

    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_HEAD);
    off += used;
    cr_assert_eq(http_parse(&hp, r + off, strlen(r) - off, &used), HTTP_EV_DONE);
    off += used;
    cr_assert_str_eq(r + off, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(http_parse(&hp, r + off, strlen(r) - off, &used), HTTP_EV_HEAD);
    cr_assert(span_is(hp.head.target, "/2"));
}

Test(http, chunked_body_reaches_the_callback)
{
    const char *r = "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    int heads, dones;

    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_DONE);
    cr_assert_eq(heads, 1);
    cr_assert_eq(dones, 1);
    cr_assert(hp.head.flags & HTTP_F_CHUNKED);
    cr_assert_eq(body.len, 11);
    cr_assert_eq(memcmp(body.data, "hello world", 11), 0);
}

Test(http, rejects_content_length_with_transfer_encoding)
{
    const char *r = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    int heads, dones;

    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 400);
}

Test(http, rejects_differing_duplicate_content_length)
{
    const char *r = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
    int heads, dones;

    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 400);
}

Test(http, rejects_a_bad_chunk_size)
{
    const char *r = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    int heads, dones;

    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 400);
}

Test(http, too_many_fields_is_431)
{
    char r[8192];
    size_t n = (size_t)snprintf(r, sizeof(r), "GET / HTTP/1.1\r\n");
    int heads, dones;

    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(r + n, sizeof(r) - n, "X-%d: v\r\n", i);
    n += (size_t)snprintf(r + n, sizeof(r) - n, "\r\n");
    cr_assert_eq(feed_all(r, n, &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 431);
}

Test(http, long_target_is_414)
{
    static char r[10000];
    size_t n = (size_t)snprintf(r, sizeof(r), "GET /");
    int heads, dones;

    memset(r + n, 'a', 8200);
    n += 8200;
    n += (size_t)snprintf(r + n, sizeof(r) - n, " HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(feed_all(r, n, &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 414);
}

Test(http, garbage_is_400)
{
    int heads, dones;

    cr_assert_eq(feed_all("\x01\x02 nonsense\r\n\r\n", 15, &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 400);
}

static int host_of(const char *r, struct span *host)
{
    size_t used;

    setup_req();
    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_HEAD, "%s", r);
    return http_request_host(&hp.head, host);
}

Test(http, validates_host)
{
    struct span h;

    cr_assert_eq(host_of("GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", &h), 0);
    cr_assert(span_is(h, "a.example:8080"));
    cr_assert_eq(host_of("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", &h), 0);
    cr_assert_eq(host_of("GET / HTTP/1.1\r\n\r\n", &h), -EBADMSG);
    cr_assert_eq(host_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &h), -EBADMSG);
    cr_assert_eq(host_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", &h), -EBADMSG);
    cr_assert_eq(host_of("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", &h), -EBADMSG);
    cr_assert_eq(host_of("GET / HTTP/1.1\r\nHost: a:99999x\r\n\r\n", &h), -EBADMSG);
    cr_assert_eq(host_of("GET / HTTP/1.0\r\n\r\n", &h), 0);
    cr_assert_eq(h.len, 0);
    /* absolute-form: the target's authority wins */
    cr_assert_eq(host_of("GET http://b.example/x?y HTTP/1.1\r\nHost: a\r\n\r\n", &h), 0);
    cr_assert(span_is(h, "b.example"));
    cr_assert(span_is(http_request_path(&hp.head), "/x?y"));
}

Test(http, hop_by_hop_includes_connection_tokens)
{
    const char *r = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\n\r\n";
    size_t used;

    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_HEAD);
    cr_assert(http_is_hop_by_hop(&hp.head, span_of("x-secret", 8)));
    cr_assert(http_is_hop_by_hop(&hp.head, span_of("Keep-Alive", 10)));
    cr_assert(http_is_hop_by_hop(&hp.head, span_of("TE", 2)));
    cr_assert_not(http_is_hop_by_hop(&hp.head, span_of("Accept", 6)));
}

Test(http, writes_the_forwarded_request)
{
    const char *r = "POST /p?q HTTP/1.1\r\nHost: site\r\nConnection: keep-alive, X-Hop\r\n"
                    "X-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nExpect: 100-continue\r\n"
                    "Via: 1.1 cdn\r\nX-Forwarded-For: 10.0.0.1\r\nAccept: */*\r\n"
                    "Content-Length: 3\r\n\r\n";
    struct http_fwd f = {.host = span_of("origin.example", 14),
                         .client_ip = "127.0.0.1",
                         .proto = "http",
                         .client_host = span_of("site", 4)};
    struct buf b = {0};
    size_t used;

    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_HEAD);
    http_write_request(&b, &hp.head, &f);
    buf_append(&b, "", 1);
    cr_assert_str_eq(b.p, "POST /p?q HTTP/1.1\r\n"
                          "Host: origin.example\r\n"
                          "Accept: */*\r\n"
                          "Via: 1.1 cdn, 1.1 accel\r\n"
                          "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"
                          "X-Forwarded-Proto: http\r\n"
                          "X-Forwarded-Host: site\r\n"
                          "Content-Length: 3\r\n\r\n");
    buf_free(&b);
}

static void setup_resp(int head_only)
{
    http_parser_fini(&hp);
    memset(&hp, 0, sizeof(hp));
    memset(&body, 0, sizeof(body));
    hp.on_body = collect;
    hp.ctx = &body;
    http_parser_init(&hp, 0, 100, 0);
    hp.head_only = head_only;
}

Test(http, response_to_head_has_no_body)
{
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    size_t used;

    setup_resp(1);
    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_HEAD);
    cr_assert(hp.head.flags & HTTP_F_NOBODY);
    cr_assert_eq(http_parse(&hp, r + used, 0, &used), HTTP_EV_DONE);
    cr_assert_eq(body.len, 0);
}

Test(http, not_modified_with_length_has_no_body)
{
    const char *r = "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\n";
    size_t used, off;

    setup_resp(0);
    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_HEAD);
    off = used;
    cr_assert_eq(http_parse(&hp, r + off, strlen(r) - off, &used), HTTP_EV_DONE);
    off += used;
    cr_assert_str_eq(r + off, "HTTP/1.1 200 OK\r\n");
}

Test(http, close_delimited_response_ends_at_eof)
{
    const char *r = "HTTP/1.1 200 OK\r\n\r\nsome bytes";
    int heads, dones;

    setup_resp(0);
    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_MORE);
    cr_assert_eq(heads, 1);
    cr_assert_eq(http_finish(&hp), HTTP_EV_DONE);
    cr_assert_eq(body.len, 10);
}

Test(http, truncated_length_response_is_an_error_at_eof)
{
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    int heads, dones;

    setup_resp(0);
    feed_all(r, strlen(r), &heads, &dones);
    cr_assert_eq(http_finish(&hp), HTTP_EV_ERROR);
}

Test(http, writes_the_response_head)
{
    const char *r = "HTTP/1.1 200 OK\r\nConnection: X-Drop\r\nX-Drop: 1\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: chunked\r\nX-Keep: 2\r\n\r\n";
    const char *r2 = "HTTP/1.0 404 Nope\r\nX-Keep: 2\r\nDate: yesterday\r\n\r\n";
    struct buf b = {0};
    size_t used;

    setup_resp(0);
    /* both CL and TE from an origin: llhttp refuses it, which is a 502 for us */
    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_ERROR);
    setup_resp(0);
    cr_assert_eq(http_parse(&hp, r2, strlen(r2), &used), HTTP_EV_HEAD);
    http_write_response_head(&b, &hp.head, "Sun, 29 Nov 2026 19:37:29 GMT", 1, 0, 0, NULL);
    buf_append(&b, "", 1);
    cr_assert_str_eq(b.p, "HTTP/1.1 404 Nope\r\nX-Keep: 2\r\nDate: yesterday\r\n"
                          "Via: 1.0 accel\r\nTransfer-Encoding: chunked\r\n\r\n");
    buf_free(&b);
}

Test(http, error_answer_has_length_and_close)
{
    struct buf b = {0};

    http_write_error(&b, 502, "boom", "D", 1, 0, 0);
    buf_append(&b, "", 1);
    cr_assert_str_eq(b.p, "HTTP/1.1 502 Bad Gateway\r\nDate: D\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 5\r\nCache-Control: no-store\r\n"
                          "Connection: close\r\n\r\nboom\n");
    buf_free(&b);
}

Test(http, error_answer_with_retry_after)
{
    struct buf b = {0};

    http_write_error(&b, 429, "slow down", "D", 0, 1, 7);
    buf_append(&b, "", 1);
    cr_assert_str_eq(b.p,
                     "HTTP/1.1 429 Too Many Requests\r\nDate: D\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 10\r\nCache-Control: no-store\r\n"
                     "Retry-After: 7\r\n\r\n",
                     "HEAD: no body; the length the GET would have");
    buf_free(&b);
}

Test(http, date_is_imf_fixdate)
{
    char d[30];

    http_date(1795203449L, d); /* date -u -d @1795203449 */
    cr_assert_str_eq(d, "Fri, 20 Nov 2026 19:37:29 GMT");
}

Test(http, obsolete_line_folding_is_400)
{
    /* Found by fuzz_http: the continuation arrives as a separate, non-contiguous piece. */
    const char *r = "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n";
    int heads, dones;

    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 400);
}

/* Feeds <s> <step> bytes at a time (the rest of a call's bytes are offered again with the next
 * ones, as a connection's buffer does), returning the last event. */
static enum http_ev feed_steps(const char *s, size_t len, size_t step)
{
    size_t off = 0, avail = 0, used;
    enum http_ev ev = HTTP_EV_MORE;

    while (off < len) {
        avail = avail + step > len - off ? len - off : avail + step;
        ev = http_parse(&hp, s + off, avail, &used);
        off += used;
        avail -= used;
        if (ev == HTTP_EV_ERROR || (ev == HTTP_EV_DONE && off == len))
            return ev;
    }
    return ev;
}

static const char chunked_head[] =
    "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

static uint64_t max_body; /* what chunked_expect() sets up the parser with */

/* Chunked <body> after chunked_head, fed whole and one byte at a time: the same event. */
static void chunked_expect(const char *body_text, enum http_ev want, int status)
{
    char r[1024];
    int n = snprintf(r, sizeof(r), "%s%s", chunked_head, body_text);

    for (size_t step = 1; step <= (size_t)n; step = step == 1 ? (size_t)n : (size_t)n + 1) {
        setup_req();
        hp.max_body = max_body;
        enum http_ev ev = feed_steps(r, (size_t)n, step);
        cr_assert_eq(ev, want, "body %s, %zu bytes at a time: event %d", body_text, step, ev);
        if (want == HTTP_EV_ERROR)
            cr_assert_eq(hp.err_status, status, "body %s: status %d", body_text, hp.err_status);
    }
}

/* RFC 9112 §7.1: chunk data is followed by CRLF. llhttp 8 skips those two bytes unread. */
Test(http, chunk_data_must_end_in_crlf)
{
    chunked_expect("5\r\nhello\r\n0\r\n\r\n", HTTP_EV_DONE, 0);
    chunked_expect("5\r\nhelloXX0\r\n\r\n", HTTP_EV_ERROR, 400);
    chunked_expect("5\r\nhello\n\n0\r\n\r\n", HTTP_EV_ERROR, 400);
    chunked_expect("5\r\nhello\r0\r\n\r\n", HTTP_EV_ERROR, 400);
    /* data that runs past its size: the next "request" would be read as a chunk */
    chunked_expect("3\r\nhello\r\n0\r\n\r\n", HTTP_EV_ERROR, 400);
}

Test(http, overrunning_chunk_data_is_not_passed_on)
{
    const char *r = "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabcGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
    int heads, dones;

    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 400);
    cr_assert_eq(body.len, 0, "the overrunning chunk reached the callback");
}

Test(http, chunk_size_past_the_body_limit_is_413_at_once)
{
    max_body = 100;
    chunked_expect("65\r\n", HTTP_EV_ERROR, 413); /* 101 bytes: refused before any data */
    chunked_expect("fffffffffffffff0\r\nhello", HTTP_EV_ERROR, 413);
    /* what is left of the limit counts, not the whole */
    chunked_expect("32\r\n" /* 50 */
                   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n33\r\n",
                   HTTP_EV_ERROR, 413);
    chunked_expect("32\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
                   "32\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n",
                   HTTP_EV_DONE, 0);
    max_body = 0;
}

Test(http, chunk_size_overflow_or_junk_is_400)
{
    chunked_expect("10000000000000000\r\nhello\r\n0\r\n\r\n", HTTP_EV_ERROR, 400);
    chunked_expect("5x\r\nhello\r\n0\r\n\r\n", HTTP_EV_ERROR, 400);
    chunked_expect("0x5\r\nhello\r\n0\r\n\r\n", HTTP_EV_ERROR, 400);
    chunked_expect("-5\r\nhello\r\n0\r\n\r\n", HTTP_EV_ERROR, 400);
}

Test(http, content_length_past_the_body_limit_is_413)
{
    const char *r = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n";
    int heads, dones;

    hp.max_body = 100;
    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 413);
}

Test(http, http09_request_is_400_at_the_request_line)
{
    const char *r = "GET /path\r\n";
    size_t used;

    /* no empty line yet: refused at once, not after a wait for fields */
    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 400);
    setup_req();
    r = "GET /path HTTP/0.9\r\nHost: h\r\n\r\n";
    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 400);
}

Test(http, other_versions_are_505)
{
    const char *r = "GET /path HTTP/2.0\r\nHost: h\r\n\r\n";
    size_t used;

    cr_assert_eq(http_parse(&hp, r, strlen(r), &used), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 505);
}

Test(http, response_chunk_framing_is_checked_too)
{
    const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n";
    int heads, dones;

    setup_resp(0);
    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 502);
    setup_resp(0);
    r = "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(feed_all(r, strlen(r), &heads, &dones), HTTP_EV_ERROR);
    cr_assert_eq(hp.err_status, 502);
}

Test(http, one_body_framer)
{
    struct buf b = {0};
    struct iovec iov[2] = {{"hello ", 6}, {"world", 5}};

    http_write_body(&b, 1, iov, 2);
    http_write_body1(&b, 1, "", 0); /* nothing: a chunk of 0 would end the body */
    http_write_body_end(&b, 1);
    cr_assert_eq(b.len, strlen("b\r\nhello world\r\n0\r\n\r\n"));
    cr_assert_eq(memcmp(b.p, "b\r\nhello world\r\n0\r\n\r\n", b.len), 0);
    b.len = 0;
    http_write_body(&b, 0, iov, 2);
    http_write_body_end(&b, 0);
    cr_assert_eq(b.len, 11);
    cr_assert_eq(memcmp(b.p, "hello world", 11), 0);
    buf_free(&b);
}
