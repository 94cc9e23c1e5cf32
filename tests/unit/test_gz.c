/* test_gz.c - gzip streams in pieces of awkward sizes both ways, against zlib's own one-shot
 * functions; Accept-Encoding q-values; media type lists; corrupt input and a bomb. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "accel/gz.h"

struct sink {
    struct buf b;
    size_t calls, largest;
};

static void to_buf(void *arg, const void *p, size_t n)
{
    struct sink *s = arg;

    buf_append(&s->b, p, n);
    s->calls++;
    if (n > s->largest)
        s->largest = n;
}

/* Text-like bytes: compressible but not trivially. */
static char *text(size_t n, unsigned seed)
{
    static const char *words[] = {"cache ", "origin ", "hit ", "miss ", "lru ", "\n", "<p>"};
    char *p = malloc(n ? n : 1);

    for (size_t i = 0; i < n;) {
        const char *w = words[(i / 7 + seed + i % 13) % 7];
        size_t l = strlen(w);

        for (size_t j = 0; j < l && i < n; j++)
            p[i++] = w[j];
    }
    return p;
}

/* Inflates <len> gzip bytes in one go with zlib itself. */
static size_t zlib_inflate(const void *p, size_t len, char *out, size_t cap)
{
    z_stream z = {0};

    cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)(uintptr_t)p;
    z.avail_in = (uInt)len;
    z.next_out = (unsigned char *)out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END, "not a whole gzip stream");
    inflateEnd(&z);
    return cap - z.avail_out;
}

/* Compresses <n> bytes in pieces of <piece> bytes (the last call finishes). */
static void compress_in_pieces(const char *src, size_t n, size_t piece, struct sink *s)
{
    struct gz_enc *e = gz_enc_new(6);
    size_t off = 0;

    cr_assert_not_null(e);
    do {
        size_t k = n - off < piece ? n - off : piece;

        cr_assert_eq(gz_enc_write(e, src + off, k, off + k == n, to_buf, s), 0);
        off += k;
    } while (off < n);
    gz_enc_free(&e);
    cr_assert_null(e);
}

Test(gz, deflate_in_odd_pieces_is_one_gzip_stream)
{
    size_t sizes[] = {0, 1, 100, 65536, 1000003};
    size_t pieces[] = {1, 7, 4093, 1u << 20};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
            struct sink s = {0};
            char *src = text(sizes[i], (unsigned)i);
            char *back = malloc(sizes[i] + 1);

            if (sizes[i] > 100000 && pieces[j] == 1) {
                free(src);
                free(back);
                continue; /* a million one-byte calls says nothing more than 65536 */
            }
            compress_in_pieces(src, sizes[i], pieces[j], &s);
            cr_assert_leq(s.largest, 16 * 1024, "the sink got a piece of %zu bytes", s.largest);
            cr_assert_eq(zlib_inflate(s.b.p, s.b.len, back, sizes[i] + 1), sizes[i]);
            cr_assert(sizes[i] == 0 || memcmp(back, src, sizes[i]) == 0);
            if (sizes[i] >= 65536)
                cr_assert_lt(s.b.len, sizes[i] / 3, "text should compress: %zu of %zu", s.b.len,
                             sizes[i]);
            buf_free(&s.b);
            free(src);
            free(back);
        }
    }
}

/* Inflates all of <gz> feeding <inpiece> bytes at a time into an output of <cap> bytes. */
static int inflate_in_pieces(const char *gz, size_t len, size_t inpiece, size_t cap,
                             struct buf *out)
{
    struct gz_dec *d = gz_dec_new();
    char *o = malloc(cap);
    size_t off = 0;
    int rc = 0;

    cr_assert_not_null(d);
    while (rc == 0) {
        size_t avail = len - off < inpiece ? len - off : inpiece, before = avail, got;
        const void *in = gz + off;

        rc = gz_dec_run(d, &in, &avail, o, cap, &got);
        buf_append(out, o, got);
        off += before - avail;
        if (rc == 0 && got == 0 && before == avail && off == len)
            break; /* input ran out before the end of the stream */
    }
    gz_dec_free(&d);
    free(o);
    return rc;
}

Test(gz, inflate_in_odd_pieces_gives_the_original)
{
    size_t n = 300007;
    char *src = text(n, 3);
    size_t inpieces[] = {1, 3, 1000, 1u << 20}, caps[] = {1, 17, 65536};
    struct sink s = {0};

    compress_in_pieces(src, n, 65536, &s);
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < 3; j++) {
            struct buf out = {0};

            if (caps[j] == 1 && inpieces[i] == 1)
                continue; /* slow and adds nothing */
            cr_assert_eq(inflate_in_pieces(s.b.p, s.b.len, inpieces[i], caps[j], &out), 1);
            cr_assert_eq(out.len, n, "in %zu, cap %zu: %zu bytes", inpieces[i], caps[j], out.len);
            cr_assert(memcmp(out.p, src, n) == 0);
            buf_free(&out);
        }
    }
    buf_free(&s.b);
    free(src);
}

Test(gz, corrupt_and_truncated_streams)
{
    char *src = text(100000, 1);
    struct sink s = {0};
    struct buf out = {0};
    char *bad;

    compress_in_pieces(src, 100000, 100000, &s);
    /* not gzip at all */
    cr_assert_eq(inflate_in_pieces("hello, world", 12, 12, 4096, &out), -EBADMSG);
    out.len = 0;
    /* a flipped byte in the middle: a data error, or at the latest a CRC mismatch */
    bad = malloc(s.b.len);
    memcpy(bad, s.b.p, s.b.len);
    bad[s.b.len / 2] ^= 0x55;
    cr_assert_eq(inflate_in_pieces(bad, s.b.len, 1000, 4096, &out), -EBADMSG);
    out.len = 0;
    /* truncated: never reports the end */
    cr_assert_eq(inflate_in_pieces(s.b.p, s.b.len - 10, 1000, 4096, &out), 0);
    free(bad);
    buf_free(&out);
    buf_free(&s.b);
    free(src);
}

/* 64 MiB of zeros compress to about 64 KiB: inflating it in a 4 KiB output never needs more
 * than that output, and the stream's size shows at the end. */
Test(gz, a_bomb_inflates_within_the_callers_buffer)
{
    size_t big = 64u << 20;
    char *zeros = calloc(1, big);
    struct sink s = {0};
    struct gz_dec *d = gz_dec_new();
    const void *in;
    size_t avail, got, steps = 0;
    char out[4096];
    int rc = 0;

    compress_in_pieces(zeros, big, big, &s);
    cr_assert_lt(s.b.len, 128 * 1024);
    in = s.b.p;
    avail = s.b.len;
    while (rc == 0) {
        rc = gz_dec_run(d, &in, &avail, out, sizeof(out), &got);
        cr_assert_leq(got, sizeof(out));
        steps++;
    }
    cr_assert_eq(rc, 1);
    cr_assert_eq(gz_dec_total_out(d), big);
    cr_assert_geq(steps, big / sizeof(out));
    gz_dec_free(&d);
    buf_free(&s.b);
    free(zeros);
}

static int accepts(const char *v)
{
    struct field f = {{"Accept-Encoding", 15}, {v, strlen(v)}};

    return gz_accepts(&f, 1);
}

Test(gz, accept_encoding_q_values)
{
    struct field other = {{"Accept", 6}, {"*/*", 3}};

    cr_assert(accepts("gzip"));
    cr_assert(accepts("GZIP"));
    cr_assert(accepts("deflate, gzip, br"));
    cr_assert(accepts("gzip;q=1.0"));
    cr_assert(accepts("gzip ; q=0.001"));
    cr_assert(accepts("x-gzip"));
    cr_assert(accepts("*"));
    cr_assert(accepts("br;q=1, *;q=0.5"));
    cr_assert_not(accepts("gzip;q=0"));
    cr_assert_not(accepts("gzip;q=0.000"));
    cr_assert_not(accepts("gzip;Q=0, deflate"));
    cr_assert_not(accepts("*;q=0"));
    cr_assert_not(accepts("gzip;q=0, *"), "naming gzip wins over *");
    cr_assert_not(accepts("identity"));
    cr_assert_not(accepts("br, deflate"));
    cr_assert_not(accepts(""));
    cr_assert_not(accepts("gzip;q=2"), "a q-value above 1 is malformed");
    cr_assert_not(accepts("gzip;q=abc"));
    cr_assert_not(accepts("gzipx"));
    cr_assert_not(gz_accepts(&other, 1), "no Accept-Encoding: identity");
    cr_assert_not(gz_accepts(NULL, 0));
}

static int type_ok(const char *ct)
{
    return gz_type_ok(span_of(ct, strlen(ct)),
                      "text/* application/json,application/javascript image/svg+xml");
}

Test(gz, media_type_lists)
{
    cr_assert(type_ok("text/html"));
    cr_assert(type_ok("text/html; charset=utf-8"));
    cr_assert(type_ok("TEXT/CSS"));
    cr_assert(type_ok("application/json"));
    cr_assert(type_ok(" application/javascript ;charset=x"));
    cr_assert(type_ok("image/svg+xml"));
    cr_assert_not(type_ok("image/png"));
    cr_assert_not(type_ok("application/jsonx"));
    cr_assert_not(type_ok("application/octet-stream"));
    cr_assert_not(type_ok("texts/html"));
    cr_assert_not(type_ok("text"));
    cr_assert_not(type_ok(""));
}
