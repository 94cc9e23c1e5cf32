/* t50_gzip.c - gzip through the real binary: accel asks the origin for gzip, compresses a
 * compressible identity body once, stores it compressed, and gives each client the encoding it
 * accepts: the stored bytes to gzip clients, the origin's exact bytes (inflated on the fly) to
 * the others. What each client and the origin saw is checked byte for byte, with zlib itself
 * doing the inflating on the test's side. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"

#define TEXT_LEN 20000

static struct e2e_origin *origin;
static struct e2e_accel *accel;

/* <n> bytes of text that compress well but not to nothing. */
static char *text(size_t n)
{
    static const char *words[] = {"accel ",   "caches ", "the ",  "slow ",
                                  "origin\n", "<p>",     "gzip ", "once "};
    char *p = malloc(n + 1);

    for (size_t i = 0, k = 0; i < n; k++) {
        const char *w = words[(k * 7 + k / 5) % 8];

        for (size_t j = 0; w[j] != '\0' && i < n; j++)
            p[i++] = w[j];
    }
    p[n] = '\0';
    return p;
}

/* gzip of <len> bytes, with zlib itself; *<out_len> set. */
static char *gzip(const void *p, size_t len, size_t *out_len)
{
    z_stream z = {0};
    size_t cap = len + len / 10 + 1024;
    char *out = malloc(cap);

    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)(uintptr_t)p;
    z.avail_in = (uInt)len;
    z.next_out = (unsigned char *)out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* Inflates <len> bytes of gzip; fails the test unless they are one whole gzip stream.
 * Returns a malloc'd buffer of *<out_len> bytes. */
static char *gunzip(const void *p, size_t len, size_t *out_len)
{
    z_stream z = {0};
    size_t cap = 64 * 1024, used = 0;
    char *out = malloc(cap);
    int rc;

    cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)(uintptr_t)p;
    z.avail_in = (uInt)len;
    do {
        if (used == cap)
            out = realloc(out, cap *= 2);
        z.next_out = (unsigned char *)out + used;
        z.avail_out = (uInt)(cap - used);
        rc = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
    } while (rc == Z_OK);
    cr_assert_eq(rc, Z_STREAM_END, "not a whole gzip stream (zlib %d)", rc);
    cr_assert_eq(z.avail_in, 0, "bytes after the gzip stream");
    inflateEnd(&z);
    *out_len = used;
    return out;
}

/* The body of <r> inflates to exactly <want> (<len> bytes). */
static void expect_gzip_of(const struct e2e_resp *r, const char *want, size_t len, const char *what)
{
    size_t n;
    char *plain;

    cr_assert_str_eq(e2e_hdr(r, "Content-Encoding"), "gzip", "%s: Content-Encoding %s", what,
                     e2e_hdr(r, "Content-Encoding"));
    cr_assert(e2e_hdrs_has_token(&r->hdrs, "Vary", "Accept-Encoding"), "%s: no Vary", what);
    cr_assert_lt(r->body_len, E2E_BODY_CAP, "%s: body too large to check", what);
    plain = gunzip(r->body, (size_t)r->body_len, &n);
    cr_assert_eq(n, len, "%s: inflates to %zu bytes, want %zu", what, n, len);
    cr_assert(memcmp(plain, want, len) == 0, "%s: inflated bytes differ", what);
    free(plain);
}

static void expect_plain(const struct e2e_resp *r, const char *want, size_t len, const char *what)
{
    cr_assert_str_eq(e2e_hdr(r, "Content-Encoding"), "(none)", "%s: Content-Encoding %s", what,
                     e2e_hdr(r, "Content-Encoding"));
    cr_assert_eq(r->body_len, len, "%s: %llu bytes, want %zu", what,
                 (unsigned long long)r->body_len, len);
    cr_assert(memcmp(r->body, want, len) == 0, "%s: bytes differ from the origin's", what);
}

static const char *const AE_GZIP = "Accept-Encoding: gzip, deflate, br\r\n";

/* A compressible identity answer, cacheable for a minute. */
static void push_text(const char *body, size_t len, const char *type)
{
    static char headers[256];
    struct e2e_action a = {.body = body, .body_len = len, .headers = headers};

    snprintf(headers, sizeof(headers), "Cache-Control: max-age=60\r\nContent-Type: %s\r\n", type);
    e2e_origin_push(origin, &a);
}

Test(gzip, gzip_client_gets_gzip_once_compressed_and_a_hit_serves_the_same_bytes)
{
    char *body = text(TEXT_LEN);
    struct e2e_resp r1, r2;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    push_text(body, TEXT_LEN, "text/html; charset=utf-8");
    e2e_ask(accel, "GET", "h", "/page", AE_GZIP, 0, &r1);
    cr_assert_eq(r1.status, 200);
    e2e_expect_xcache(&r1, "MISS", "first GET");
    expect_gzip_of(&r1, body, TEXT_LEN, "first GET");
    cr_assert_lt(r1.body_len, TEXT_LEN / 4, "hardly compressed: %llu bytes",
                 (unsigned long long)r1.body_len);

    e2e_ask(accel, "GET", "h", "/page", AE_GZIP, 0, &r2);
    e2e_expect_xcache(&r2, "HIT", "second GET");
    cr_assert_eq(r2.body_len, r1.body_len);
    cr_assert(memcmp(r1.body, r2.body, r1.body_len) == 0, "a hit served other gzip bytes");
    cr_assert_eq(strtoull(e2e_hdr(&r2, "Content-Length"), NULL, 10), r2.body_len,
                 "a complete entry has a Content-Length");

    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    q = e2e_origin_req(origin, 0);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Accept-Encoding"), "gzip",
                     "accel should ask the origin for gzip alone");
    e2e_resp_free(&r1);
    e2e_resp_free(&r2);
    free(body);
}

Test(gzip, identity_client_gets_exactly_the_origins_bytes_miss_and_hit)
{
    char *body = text(TEXT_LEN);
    struct e2e_resp r;
    char len[32];

    e2e_start(NULL, &origin, &accel);
    push_text(body, TEXT_LEN, "application/json");
    e2e_ask(accel, "GET", "h", "/data", NULL, 0, &r);
    e2e_expect_xcache(&r, "MISS", "first GET");
    expect_plain(&r, body, TEXT_LEN, "first GET (identity)");
    cr_assert(e2e_hdrs_has_token(&r.hdrs, "Vary", "Accept-Encoding"));
    e2e_resp_free(&r);

    e2e_ask(accel, "GET", "h", "/data", "Accept-Encoding: identity\r\n", 0, &r);
    e2e_expect_xcache(&r, "HIT", "second GET");
    expect_plain(&r, body, TEXT_LEN, "second GET (identity)");
    snprintf(len, sizeof(len), "%d", TEXT_LEN);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Length"), len, "a complete entry knows its length");
    e2e_resp_free(&r);

    e2e_ask(accel, "GET", "h", "/data", AE_GZIP, 0, &r);
    e2e_expect_xcache(&r, "HIT", "gzip client");
    expect_gzip_of(&r, body, TEXT_LEN, "gzip client");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    free(body);
}

Test(gzip, an_origins_gzip_is_stored_as_it_came)
{
    char *body = text(TEXT_LEN), *gz;
    size_t gz_len;
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nContent-Type: text/css\r\n"
                                      "Content-Encoding: gzip\r\nETag: \"o1\"\r\n"};
    struct e2e_resp r;

    gz = gzip(body, TEXT_LEN, &gz_len);
    a.body = gz;
    a.body_len = gz_len;
    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    for (int i = 0; i < 2; i++) {
        e2e_ask(accel, "GET", "h", "/style.css", AE_GZIP, 0, &r);
        e2e_expect_xcache(&r, i == 0 ? "MISS" : "HIT", "gzip client");
        cr_assert_eq(r.body_len, gz_len);
        cr_assert(memcmp(r.body, gz, gz_len) == 0, "not the origin's gzip bytes");
        cr_assert_str_eq(e2e_hdr(&r, "ETag"), "\"o1\"", "the origin's own gzip keeps its ETag");
        e2e_resp_free(&r);
    }
    e2e_ask(accel, "GET", "h", "/style.css", NULL, 0, &r);
    e2e_expect_xcache(&r, "HIT", "identity client");
    expect_plain(&r, body, TEXT_LEN, "identity client");
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "W/\"o1\"", "inflated bytes get a weak ETag");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    free(gz);
    free(body);
}

Test(gzip, q_values_are_honoured)
{
    char *body = text(TEXT_LEN);
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    push_text(body, TEXT_LEN, "text/plain");
    e2e_ask(accel, "GET", "h", "/q", "Accept-Encoding: gzip;q=0, deflate\r\n", 0, &r);
    expect_plain(&r, body, TEXT_LEN, "gzip;q=0");
    e2e_resp_free(&r);
    e2e_ask(accel, "GET", "h", "/q", "Accept-Encoding: br;q=1.0, *;q=0.1\r\n", 0, &r);
    expect_gzip_of(&r, body, TEXT_LEN, "*;q=0.1");
    e2e_resp_free(&r);
    e2e_ask(accel, "GET", "h", "/q", "Accept-Encoding: *;q=0\r\n", 0, &r);
    expect_plain(&r, body, TEXT_LEN, "*;q=0");
    e2e_resp_free(&r);
    free(body);
}

Test(gzip, head_answers_with_each_representations_length)
{
    char *body = text(TEXT_LEN);
    struct e2e_resp r;
    char want[32];
    const char *gz_len;

    e2e_start(NULL, &origin, &accel);
    push_text(body, TEXT_LEN, "text/plain");
    e2e_ask(accel, "GET", "h", "/h", AE_GZIP, 0, &r);
    e2e_resp_free(&r);

    e2e_ask(accel, "HEAD", "h", "/h", AE_GZIP, 0, &r);
    e2e_expect_xcache(&r, "HIT", "HEAD, gzip");
    cr_assert_str_eq(e2e_hdr(&r, "Content-Encoding"), "gzip");
    gz_len = e2e_hdr(&r, "Content-Length");
    cr_assert_lt(strtol(gz_len, NULL, 10), TEXT_LEN);
    cr_assert_gt(strtol(gz_len, NULL, 10), 0);
    cr_assert_eq(r.body_len, 0);
    e2e_resp_free(&r);

    e2e_ask(accel, "HEAD", "h", "/h", NULL, 0, &r);
    e2e_expect_xcache(&r, "HIT", "HEAD, identity");
    cr_assert_str_eq(e2e_hdr(&r, "Content-Encoding"), "(none)");
    snprintf(want, sizeof(want), "%d", TEXT_LEN);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Length"), want);
    cr_assert_eq(r.body_len, 0);
    e2e_resp_free(&r);
    free(body);
}

Test(gzip, range_is_served_from_the_representation_the_client_gets)
{
    char *body = text(TEXT_LEN);
    struct e2e_resp full, r;

    e2e_start(NULL, &origin, &accel);
    push_text(body, TEXT_LEN, "text/plain");
    e2e_ask(accel, "GET", "h", "/r", AE_GZIP, 0, &full);
    e2e_ask(accel, "GET", "h", "/r", "Accept-Encoding: gzip\r\nRange: bytes=10-109\r\n", 0, &r);
    cr_assert_eq(r.status, 206);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Encoding"), "gzip");
    cr_assert_eq(r.body_len, 100);
    cr_assert(memcmp(r.body, full.body + 10, 100) == 0, "not bytes 10-109 of the gzip");
    e2e_resp_free(&r);
    /* without gzip: bytes 10-109 of the inflated representation (its inflated twin) */
    e2e_ask(accel, "GET", "h", "/r", "Range: bytes=10-109\r\n", 0, &r);
    cr_assert_eq(r.status, 206);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Encoding"), "(none)");
    cr_assert_eq(r.body_len, 100);
    cr_assert(memcmp(r.body, body + 10, 100) == 0, "not bytes 10-109 of the identity body");
    e2e_resp_free(&r);
    /* past TWIN_MAX, or while the object still arrives, it is inflated on the way for each
     * client: then a Range gets the whole representation (a server may ignore Range) */
    e2e_resp_free(&full);
    free(body);
}

Test(gzip, a_corrupt_gzip_from_the_origin_is_passed_through_and_not_cached)
{
    static const char junk[] = "\x1f\x8b\x08\x00this is not deflate data at all, just junk....";
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nContent-Type: text/plain\r\n"
                                      "Content-Encoding: gzip\r\n",
                           .body = junk,
                           .body_len = sizeof(junk) - 1};
    struct e2e_resp r;
    char *line;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_origin_push(origin, &a);
    e2e_ask(accel, "GET", "h", "/bad", AE_GZIP, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, sizeof(junk) - 1);
    cr_assert(memcmp(r.body, junk, sizeof(junk) - 1) == 0, "not passed through as it came");
    e2e_resp_free(&r);
    line = e2e_wait_line(accel->error_log, "gzip body is corrupt", 5000);
    cr_assert_not_null(line, "no log line about the corrupt gzip");
    free(line);
    e2e_ask(accel, "GET", "h", "/bad", AE_GZIP, 0, &r);
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "HIT", "a corrupt gzip was cached");
    e2e_resp_free(&r);
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
    cr_assert(e2e_accel_alive(accel));
}

Test(gzip, only_compressible_types_above_the_minimum_and_not_no_transform)
{
    char *body = text(TEXT_LEN);
    struct e2e_action nt = {.headers = "Cache-Control: max-age=60, no-transform\r\n"
                                       "Content-Type: text/plain\r\n",
                            .body = body,
                            .body_len = TEXT_LEN};
    struct e2e_resp r;

    e2e_start("gzip_min_length 1k\n", &origin, &accel);
    push_text(body, TEXT_LEN, "image/png");
    e2e_ask(accel, "GET", "h", "/img", AE_GZIP, 0, &r);
    expect_plain(&r, body, TEXT_LEN, "image/png");
    cr_assert_not(e2e_hdrs_has_token(&r.hdrs, "Vary", "Accept-Encoding"));
    e2e_resp_free(&r);
    push_text(body, 1000, "text/plain");
    e2e_ask(accel, "GET", "h", "/small", AE_GZIP, 0, &r);
    expect_plain(&r, body, 1000, "below gzip_min_length");
    e2e_resp_free(&r);
    e2e_origin_push(origin, &nt);
    e2e_ask(accel, "GET", "h", "/nt", AE_GZIP, 0, &r);
    expect_plain(&r, body, TEXT_LEN, "no-transform");
    e2e_resp_free(&r);
    free(body);
}

Test(gzip, off_stores_what_the_origin_sends)
{
    char *body = text(TEXT_LEN);
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start("gzip off\n", &origin, &accel);
    push_text(body, TEXT_LEN, "text/plain");
    e2e_ask(accel, "GET", "h", "/off", AE_GZIP, 0, &r);
    expect_plain(&r, body, TEXT_LEN, "gzip off");
    e2e_resp_free(&r);
    q = e2e_origin_req(origin, 0);
    cr_assert_str_eq(e2e_hdrs_get(&q->hdrs, "Accept-Encoding"), "gzip, deflate, br",
                     "with gzip off the client's Accept-Encoding goes through");
    free(body);
}

/* Two clients wait on one fetch being compressed: each gets the encoding it asked for. */
Test(gzip, coalesced_clients_each_get_their_encoding)
{
    char *body = text(TEXT_LEN);
    struct e2e_hold *hold;
    struct e2e_client *cg, *ci;
    struct e2e_resp rg, ri;
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nContent-Type: text/plain\r\n",
                           .body = body,
                           .body_len = TEXT_LEN};

    e2e_start(NULL, &origin, &accel);
    hold = e2e_hold_new(origin);
    a.hold = hold;
    e2e_origin_push(origin, &a);
    cg = e2e_client_new(accel->port);
    ci = e2e_client_new(accel->port);
    cr_assert_eq(
        e2e_client_sends(cg, "GET /co HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n"), 0);
    cr_assert_eq(e2e_hold_wait(hold, 1, E2E_TIMEOUT_MS), 0);
    cr_assert_eq(e2e_client_sends(ci, "GET /co HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    cr_assert_eq(e2e_accel_wait_conns_read(accel, 2, E2E_TIMEOUT_MS), 0);
    e2e_hold_release(hold);
    cr_assert_eq(e2e_client_response(cg, &rg, 0), 0);
    cr_assert_eq(e2e_client_response(ci, &ri, 0), 0);
    expect_gzip_of(&rg, body, TEXT_LEN, "the fetching client (gzip)");
    expect_plain(&ri, body, TEXT_LEN, "the waiting client (identity)");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&rg);
    e2e_resp_free(&ri);
    e2e_client_free(&cg);
    e2e_client_free(&ci);
    free(body);
}

/* Reads the whole answer on <c> into <r> 16 MiB at a time, sampling accel's RSS after each
 * step; returns the highest RSS seen, or <peak> if higher. */
static long read_watching_rss(struct e2e_client *c, struct e2e_resp *r, long peak)
{
    e2e_resp_init(r, 0);
    for (uint64_t step = 16u << 20;; step += 16u << 20) {
        long rss;

        cr_assert_eq(e2e_client_read(c, r, step, E2E_TIMEOUT_MS), 0, "stalled at %llu",
                     (unsigned long long)r->body_len);
        rss = e2e_accel_rss_kb(accel);
        if (rss > peak)
            peak = rss;
        if (r->done)
            return peak;
    }
}

/* A 100 MiB compressible body is compressed on the way and streams to a gzip client; an
 * identity client then gets all 100 MiB inflated; accel's memory stays far below the body. */
Test(gzip, a_100_mib_body_streams_both_ways_with_bounded_memory)
{
    const size_t big = 100u << 20;
    char *body = text(big);
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nContent-Type: text/plain\r\n",
                           .body = body,
                           .body_len = big};
    struct e2e_client *c;
    struct e2e_resp r;
    long base, peak = 0;

    e2e_start("max_object_size 200m\n", &origin, &accel);
    e2e_ask(accel, "GET", "h", "/warm", NULL, 0, &r);
    e2e_resp_free(&r);
    base = e2e_accel_rss_kb(accel);
    e2e_origin_push(origin, &a);
    e2e_ask(accel, "GET", "h", "/big", AE_GZIP, 0, &r);
    cr_assert_eq(r.status, 200);
    expect_gzip_of(&r, body, big, "100 MiB, gzip client");
    e2e_resp_free(&r);
    peak = e2e_accel_rss_kb(accel);

    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    peak = read_watching_rss(c, &r, peak);
    e2e_expect_xcache(&r, "HIT", "100 MiB, identity client");
    cr_assert_eq(r.body_len, big);
    cr_assert(memcmp(r.body, body, E2E_BODY_CAP) == 0, "the first MiB differs");
    cr_assert_lt(peak - base, 24 * 1024, "accel RSS grew from %ld KiB to %ld KiB", base, peak);
    cr_log_info("100 MiB of text, accel RSS %ld -> %ld KiB", base, peak);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    free(body);
}

/* A gzip bomb from the origin (100 MiB of zeros in about 100 KiB) stored as is: an identity
 * client gets it inflated piece by piece, never all of it in accel's memory. */
Test(gzip, a_bomb_inflates_for_identity_clients_within_bounded_memory)
{
    const size_t big = 100u << 20;
    char *zeros = calloc(1, big), *gz;
    size_t gz_len;
    struct e2e_action a = {.headers = "Cache-Control: max-age=60\r\nContent-Type: text/plain\r\n"
                                      "Content-Encoding: gzip\r\n"};
    struct e2e_client *c;
    struct e2e_resp r;
    long base, peak = 0;

    gz = gzip(zeros, big, &gz_len);
    a.body = gz;
    a.body_len = gz_len;
    e2e_start(NULL, &origin, &accel);
    e2e_ask(accel, "GET", "h", "/warm", NULL, 0, &r);
    e2e_resp_free(&r);
    base = e2e_accel_rss_kb(accel);
    e2e_origin_push(origin, &a);
    c = e2e_client_new(accel->port);
    cr_assert_eq(e2e_client_sends(c, "GET /bomb HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    peak = read_watching_rss(c, &r, peak);
    cr_assert_eq(r.body_len, big);
    cr_assert(memcmp(r.body, zeros, E2E_BODY_CAP) == 0);
    cr_assert_lt(peak - base, 16 * 1024, "accel RSS grew from %ld KiB to %ld KiB", base, peak);
    e2e_resp_free(&r);
    e2e_client_free(&c);
    free(gz);
    free(zeros);
}

/* An origin answering without a length (chunked): the first client streams it through, the
 * stored copy is gzipped, and both kinds of client then hit. */
Test(gzip, a_chunked_origin_answer_is_compressed_too)
{
    char *body = text(TEXT_LEN);
    struct e2e_action a = {.kind = E2E_CHUNKED,
                           .headers = "Cache-Control: max-age=60\r\nContent-Type: text/plain\r\n",
                           .body = body,
                           .body_len = TEXT_LEN,
                           .chunk_size = 1000};
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &a);
    e2e_ask(accel, "GET", "h", "/chunked", NULL, 0, &r);
    expect_plain(&r, body, TEXT_LEN, "first GET");
    e2e_resp_free(&r);
    e2e_ask(accel, "GET", "h", "/chunked", AE_GZIP, 0, &r);
    e2e_expect_xcache(&r, "HIT", "gzip client");
    expect_gzip_of(&r, body, TEXT_LEN, "gzip client");
    e2e_resp_free(&r);
    e2e_ask(accel, "GET", "h", "/chunked", NULL, 0, &r);
    e2e_expect_xcache(&r, "HIT", "identity client");
    expect_plain(&r, body, TEXT_LEN, "identity client");
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    free(body);
}

/* A 304 refreshes a gzipped entry: the body stays the gzip accel made, the origin's strong
 * ETag in the 304 is made weak like the stored one. */
Test(gzip, revalidating_a_gzipped_entry_keeps_it_consistent)
{
    char *body = text(TEXT_LEN);
    struct e2e_action first = {.headers = "Cache-Control: max-age=1\r\nContent-Type: text/plain\r\n"
                                          "ETag: \"v1\"\r\n",
                               .body = body,
                               .body_len = TEXT_LEN};
    struct e2e_action not_modified = {
        .status = 304, .headers = "Cache-Control: max-age=60\r\nETag: \"v1\"\r\n", .no_body = 1};
    struct e2e_resp r;
    const struct e2e_req *q;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_push(origin, &first);
    e2e_origin_push(origin, &not_modified);
    e2e_ask(accel, "GET", "h", "/rv", AE_GZIP, 0, &r);
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "W/\"v1\"");
    e2e_resp_free(&r);
    usleep(2100 * 1000); /* stale: max-age=1 */
    e2e_ask(accel, "GET", "h", "/rv", AE_GZIP, 0, &r);
    e2e_expect_xcache(&r, "REVALIDATED", "after expiry");
    expect_gzip_of(&r, body, TEXT_LEN, "revalidated, gzip client");
    cr_assert_str_eq(e2e_hdr(&r, "ETag"), "W/\"v1\"");
    e2e_resp_free(&r);
    q = e2e_origin_req(origin, 1);
    cr_assert_not_null(e2e_hdrs_get(&q->hdrs, "If-None-Match"));
    e2e_ask(accel, "GET", "h", "/rv", NULL, 0, &r);
    e2e_expect_xcache(&r, "HIT", "identity client after the 304");
    expect_plain(&r, body, TEXT_LEN, "identity client after the 304");
    cr_assert_eq(e2e_origin_nreqs(origin), 2);
    e2e_resp_free(&r);
    free(body);
}

/* A gzipped entry goes to disk with its identity length and comes back after a restart: both
 * kinds of client hit, the identity one with the exact bytes and length. */
Test(gzip, a_gzipped_entry_survives_a_restart)
{
    const char *dir = e2e_tmpdir();
    char *body = text(TEXT_LEN), extra[256], want[32];
    struct e2e_resp r, gz;

    snprintf(extra, sizeof(extra), "cache_disk %s/cache.mdb 16m\n", dir);
    e2e_start(extra, &origin, &accel);
    push_text(body, TEXT_LEN, "text/plain");
    e2e_ask(accel, "GET", "h", "/keep", AE_GZIP, 0, &gz);
    cr_assert_eq(e2e_accel_stop(accel, 10000), 0);
    accel = e2e_accel_start(extra, e2e_origin_port(origin));
    e2e_ask(accel, "GET", "h", "/keep", NULL, 0, &r);
    e2e_expect_xcache(&r, "HIT", "identity client after the restart");
    expect_plain(&r, body, TEXT_LEN, "identity client after the restart");
    snprintf(want, sizeof(want), "%d", TEXT_LEN);
    cr_assert_str_eq(e2e_hdr(&r, "Content-Length"), want);
    e2e_resp_free(&r);
    e2e_ask(accel, "GET", "h", "/keep", AE_GZIP, 0, &r);
    e2e_expect_xcache(&r, "HIT", "gzip client after the restart");
    cr_assert_eq(r.body_len, gz.body_len);
    cr_assert(memcmp(r.body, gz.body, gz.body_len) == 0);
    cr_assert_eq(e2e_origin_nreqs(origin), 1);
    e2e_resp_free(&r);
    e2e_resp_free(&gz);
    free(body);
}
