/* test_fmt.c - the on-disk form of an object: round trips, and that no truncated, flipped or
 * lying blob decodes (ASan watches the reads and the leaks). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "accel/fmt.h"
#include "accel/key.h"
#include "accel/obj.h"
#include "cache/obj_int.h" /* white-box: the tests compare objects member by member */

#define HDR_LEN      112 /* the fixed header of FMT_VERSION 3 */
#define SUM_LEN      8
/* Offsets into the fixed header. */
#define OFF_VERSION  4
#define OFF_CL       72
#define OFF_KEY_LEN  80
#define OFF_VARY_LEN 84
#define OFF_HEAD_LEN 88
#define OFF_BODY_LEN 92

static const char head_200[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"v1\"\r\n"
                               "Cache-Control: max-age=60\r\nVary: Accept-Encoding";

/* The byte at offset <i> of the test bodies: a pattern that a misplaced chunk would break. */
static char pat(size_t i)
{
    return (char)((i * 7 + i / 251) & 0xff);
}

/* A complete object for <key> with every stored member set, <vary> (<vary_len> bytes, NULL:
 * none) and a <body_len>-byte pattern body appended in pieces of <piece> bytes. */
static struct obj *mk(const char *key, const char *vary, size_t vary_len, size_t body_len,
                      size_t piece)
{
    struct obj *o = obj_new(key, strlen(key), key_hash(key, strlen(key)), 0);
    char *p = malloc(piece ? piece : 1);
    struct obj_meta m;

    obj_meta_init(&m);
    m.status = 200;
    m.t_req = 1700000000;
    m.t_resp = 1700000001;
    m.date = 1699999999;
    m.age_value = 5;
    m.ttl = 60;
    m.swr = 30;
    m.sie = -1; /* signed values survive */
    m.cc_flags = 0x8421u;
    m.content_length = body_len;
    m.vary = span_of(vary, vary != NULL ? vary_len : 0);
    obj_set_meta(o, &m);
    obj_set_head(o, head_200, strlen(head_200));
    for (size_t off = 0; off < body_len;) {
        size_t n = body_len - off < piece ? body_len - off : piece;

        for (size_t i = 0; i < n; i++)
            p[i] = pat(off + i);
        obj_append(o, p, n);
        off += n;
    }
    obj_finish(o, OBJ_COMPLETE);
    free(p);
    return o;
}

/* Asserts that the body of <o> is the <len>-byte pattern. */
static void check_body(const struct obj *o, size_t len)
{
    size_t off = 0;

    cr_assert_eq(obj_avail(o), len);
    for (const struct obj_chunk *c = o->first; off < len; c = c->next) {
        size_t n;

        cr_assert_not_null(c, "the chunks hold fewer bytes than obj_avail");
        n = len - off < c->cap ? len - off : c->cap;
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(c->data[i], pat(off + i), "body byte %zu", off + i);
        off += n;
    }
}

static void check_span(struct span s, const char *want)
{
    cr_assert_not_null(s.p);
    cr_assert_eq(s.len, strlen(want));
    cr_assert_eq(memcmp(s.p, want, s.len), 0, "%.*s != %s", (int)s.len, s.p, want);
}

/* Asserts that <b> decodes from <a>'s blob member for member. */
static void check_same(const struct obj *a, const struct obj *b)
{
    cr_assert_eq(b->magic, OBJ_MAGIC);
    cr_assert_eq(atomic_load(&b->refs), 1);
    cr_assert_eq(obj_state(b), OBJ_COMPLETE);
    cr_assert(obj_has_head(b));
    cr_assert_eq(b->key_len, a->key_len);
    cr_assert_eq(memcmp(b->key, a->key, a->key_len), 0);
    cr_assert_eq(b->key[b->key_len], '\0');
    cr_assert_eq(b->hash, a->hash, "the hash is recomputed with the process seed");
    cr_assert_eq(b->flags, a->flags);
    cr_assert_eq(b->head_len, a->head_len);
    cr_assert_eq(memcmp(b->head, a->head, a->head_len), 0);
    cr_assert_eq(b->n_fields, a->n_fields);
    cr_assert_eq(b->status, a->status);
    cr_assert_eq(b->t_req, a->t_req);
    cr_assert_eq(b->t_resp, a->t_resp);
    cr_assert_eq(b->date, a->date);
    cr_assert_eq(b->age_value, a->age_value);
    cr_assert_eq(b->ttl, a->ttl);
    cr_assert_eq(b->swr, a->swr);
    cr_assert_eq(b->sie, a->sie);
    cr_assert_eq(b->cc_flags, a->cc_flags);
    cr_assert_eq(b->content_length, a->content_length);
    cr_assert_eq(b->vary_len, a->vary_len);
    if (a->vary_len == 0)
        cr_assert_null(b->vary);
    else
        cr_assert_eq(memcmp(b->vary, a->vary, a->vary_len), 0);
    cr_assert_eq(obj_avail(b), obj_avail(a));
    for (const struct obj_chunk *c = b->first; c != NULL && c != b->last; c = c->next)
        cr_assert_eq(c->len, c->cap, "every chunk but the last is full");
}

/* Encodes <o>, decodes it and checks every member; returns the decoded object. */
static struct obj *round_trip(const struct obj *o)
{
    struct buf b = {0};
    struct obj *d = NULL;

    fmt_encode(o, &b);
    cr_assert_eq(b.len, HDR_LEN + o->key_len + o->vary_len + o->tags_len + o->head_len +
                            obj_avail(o) + SUM_LEN);
    cr_assert_eq(fmt_decode(b.p, b.len, &d), 0);
    cr_assert_not_null(d);
    check_same(o, d);
    buf_free(&b);
    return d;
}

static void put_le(char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (char)(v >> (8 * i));
}

/* Rewrites the trailing checksum of the blob in <b> so that only the edit before it counts. */
static void reseal(struct buf *b)
{
    put_le(b->p + b->len - SUM_LEN, XXH3_64bits(b->p, b->len - SUM_LEN), SUM_LEN);
}

/* A small blob: key, vary, head and a few body bytes. */
static void small_blob(struct buf *b)
{
    static const char vary[] = "accept-encoding\0gzip\0";
    struct obj *o = mk("http://example.com/small?q=1", vary, sizeof(vary) - 1, 13, 5);

    fmt_encode(o, b);
    obj_unref(&o);
}

/* Decodes <len> bytes of <p> from a copy of exactly that size, so that ASan sees any read past
 * the end; returns the result (and unrefs any object). */
static int decode_exact(const char *p, size_t len)
{
    char *copy = malloc(len ? len : 1);
    struct obj *o = NULL;
    int rc;

    memcpy(copy, p, len);
    rc = fmt_decode(copy, len, &o);
    cr_assert_eq(rc == 0, o != NULL, "an object exactly when it succeeds");
    obj_unref(&o);
    free(copy);
    return rc;
}

Test(fmt, round_trip_without_vary)
{
    struct obj *o = mk("http://example.com/a", NULL, 0, 1000, 300), *d = round_trip(o);

    check_body(d, 1000);
    check_span(obj_field(d, "content-type"), "text/plain");
    check_span(obj_field(d, "ETag"), "\"v1\"");
    check_span(obj_field(d, "cache-control"), "max-age=60");
    cr_assert_null(obj_field(d, "age").p);
    obj_unref(&d);
    obj_unref(&o);
}

Test(fmt, round_trip_with_vary)
{
    static const char vary[] = "accept-encoding\0gzip\0accept-language\0\0";
    struct obj *o = mk("http://example.com/v", vary, sizeof(vary) - 1, 42, 42);
    struct obj *d = round_trip(o);

    cr_assert_eq(d->vary_len, sizeof(vary) - 1);
    cr_assert_eq(memcmp(d->vary, vary, sizeof(vary) - 1), 0);
    check_body(d, 42);
    obj_unref(&d);
    obj_unref(&o);
}

Test(fmt, round_trip_empty_body)
{
    struct obj *o = mk("http://example.com/empty", NULL, 0, 0, 1), *d = round_trip(o);

    check_body(d, 0);
    cr_assert_null(d->first);
    cr_assert_eq(d->content_length, 0);
    obj_unref(&d);
    obj_unref(&o);
}

Test(fmt, round_trip_large_body_across_many_chunks)
{
    size_t len = 1024 * 1024 + 3;
    struct obj *o = mk("http://example.com/large", NULL, 0, len, 7001), *d;
    unsigned chunks = 0;

    for (struct obj_chunk *c = o->first; c != NULL; c = c->next)
        chunks++;
    cr_assert_gt(chunks, 60, "the source spans many chunks (%u)", chunks);
    d = round_trip(o);
    check_body(d, len);
    obj_unref(&d);
    obj_unref(&o);
}

Test(fmt, round_trip_unknown_length_flags_and_extremes)
{
    struct obj *o = obj_new("k", 1, key_hash("k", 1), OBJ_F_PRIVATE), *d;
    struct obj_meta m;

    obj_meta_init(&m);
    m.status = 599;
    m.t_req = INT64_MIN;
    m.t_resp = INT64_MAX;
    m.ttl = -5;
    m.cc_flags = UINT32_MAX;
    obj_set_meta(o, &m);
    obj_set_head(o, "HTTP/1.1 599 X", 14);
    obj_append(o, "abc", 3);
    obj_finish(o, OBJ_COMPLETE);
    cr_assert_eq(o->content_length, OBJ_LEN_UNKNOWN);
    d = round_trip(o);
    cr_assert_eq(d->content_length, OBJ_LEN_UNKNOWN);
    cr_assert_eq(d->flags, OBJ_F_PRIVATE);
    cr_assert_eq(d->n_fields, 0);
    obj_unref(&d);
    obj_unref(&o);
}

Test(fmt, encode_appends_after_what_the_buffer_holds)
{
    struct obj *o = mk("http://example.com/b", NULL, 0, 20, 20), *d = NULL;
    struct buf b = {0};

    buf_append_str(&b, "prefix");
    fmt_encode(o, &b);
    cr_assert_eq(memcmp(b.p, "prefix", 6), 0);
    cr_assert_eq(fmt_decode(b.p + 6, b.len - 6, &d), 0);
    check_same(o, d);
    check_body(d, 20);
    obj_unref(&d);
    obj_unref(&o);
    buf_free(&b);
}

Test(fmt, every_truncation_is_badmsg)
{
    struct buf b = {0};

    small_blob(&b);
    cr_assert_eq(decode_exact(b.p, b.len), 0);
    for (size_t n = 0; n < b.len; n++)
        cr_assert_eq(decode_exact(b.p, n), -EBADMSG, "prefix of %zu bytes of %zu", n, b.len);
    buf_free(&b);
}

Test(fmt, trailing_bytes_are_badmsg)
{
    struct buf b = {0};

    small_blob(&b);
    buf_append(&b, "x", 1);
    cr_assert_eq(decode_exact(b.p, b.len), -EBADMSG);
    reseal(&b); /* the lengths no longer cover the blob */
    cr_assert_eq(decode_exact(b.p, b.len), -EBADMSG);
    buf_free(&b);
}

Test(fmt, every_bit_flip_is_badmsg)
{
    struct buf b = {0};

    small_blob(&b);
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.p[i] ^= (char)(1u << bit);
            /* A flip in the checksum itself is a mismatch as well. */
            cr_assert_eq(decode_exact(b.p, b.len), -EBADMSG, "byte %zu bit %d", i, bit);
            b.p[i] ^= (char)(1u << bit);
        }
    }
    cr_assert_eq(decode_exact(b.p, b.len), 0);
    buf_free(&b);
}

Test(fmt, bad_magic_is_badmsg)
{
    struct buf b = {0};

    small_blob(&b);
    b.p[0] = 'X';
    reseal(&b);
    cr_assert_eq(decode_exact(b.p, b.len), -EBADMSG);
    cr_assert_eq(fmt_decode(NULL, 0, &(struct obj *){NULL}), -EBADMSG);
    buf_free(&b);
}

Test(fmt, lengths_claiming_more_than_the_blob_holds_are_badmsg)
{
    static const struct {
        size_t off;
        int width;
        uint64_t delta; /* added to the stored length; 0: set it to the maximum */
    } lies[] = {
        {OFF_KEY_LEN, 4, 1},
        {OFF_KEY_LEN, 4, 0},
        {OFF_VARY_LEN, 4, 1},
        {OFF_VARY_LEN, 4, 0},
        {OFF_HEAD_LEN, 4, 1},
        {OFF_HEAD_LEN, 4, 0},
        {OFF_BODY_LEN, 8, 1},
        {OFF_BODY_LEN, 8, 0},
        {OFF_BODY_LEN, 8, (uint64_t)-1}, /* one less: the sections no longer fill the blob */
    };
    struct buf b = {0};

    small_blob(&b);
    for (size_t i = 0; i < countof(lies); i++) {
        struct buf c = {0};
        uint64_t v = 0;

        buf_append(&c, b.p, b.len);
        for (int k = 0; k < lies[i].width; k++)
            v |= (uint64_t)(unsigned char)c.p[lies[i].off + k] << (8 * k);
        v = lies[i].delta ? v + lies[i].delta : (lies[i].width == 4 ? UINT32_MAX : UINT64_MAX);
        put_le(c.p + lies[i].off, v, lies[i].width);
        reseal(&c);
        cr_assert_eq(decode_exact(c.p, c.len), -EBADMSG, "lie %zu", i);
        buf_free(&c);
    }
    buf_free(&b);
}

Test(fmt, content_length_is_kept_as_announced)
{
    struct buf b = {0};
    struct obj *o = NULL;

    /* Not a length of the blob: what the origin announced. A lie there allocates nothing. */
    small_blob(&b);
    put_le(b.p + OFF_CL, UINT64_MAX - 1, 8);
    reseal(&b);
    cr_assert_eq(fmt_decode(b.p, b.len, &o), 0);
    cr_assert_eq(o->content_length, UINT64_MAX - 1);
    check_body(o, 13);
    obj_unref(&o);
    buf_free(&b);
}

Test(fmt, key_with_nul_or_malformed_vary_is_badmsg)
{
    static const char *varies[] = {"a", "a\0", "a\0b\0c\0", "a\0b"};
    static const size_t vlens[] = {1, 2, 6, 3};

    for (size_t i = 0; i < countof(varies); i++) {
        struct obj *o = mk("http://example.com/k", varies[i], vlens[i], 3, 3);
        struct buf b = {0};

        fmt_encode(o, &b);
        cr_assert_eq(decode_exact(b.p, b.len), -EBADMSG, "vary %zu", i);
        obj_unref(&o);
        buf_free(&b);
    }
    {
        struct obj *o = mk("http://example.com/k", NULL, 0, 3, 3);
        struct buf b = {0};

        fmt_encode(o, &b);
        b.p[HDR_LEN + 7] = '\0'; /* inside the key */
        reseal(&b);
        cr_assert_eq(decode_exact(b.p, b.len), -EBADMSG);
        obj_unref(&o);
        buf_free(&b);
    }
}

Test(fmt, other_version_is_enotsup)
{
    struct buf b = {0};

    small_blob(&b);
    put_le(b.p + OFF_VERSION, 4, 2);
    reseal(&b);
    cr_assert_eq(decode_exact(b.p, b.len), -ENOTSUP);
    put_le(b.p + OFF_VERSION, 2, 2); /* version 2 had no tags */
    reseal(&b);
    cr_assert_eq(decode_exact(b.p, b.len), -ENOTSUP);
    put_le(b.p + OFF_VERSION, 1, 2); /* version 1 had no identity length */
    reseal(&b);
    cr_assert_eq(decode_exact(b.p, b.len), -ENOTSUP);
    put_le(b.p + OFF_VERSION, 0, 2);
    reseal(&b);
    cr_assert_eq(decode_exact(b.p, b.len), -ENOTSUP);
    /* A later version may have a shorter header: only magic, version and checksum are read. */
    {
        char v2[4 + 2 + SUM_LEN] = "ACOB\x04";
        struct buf s = {0};

        buf_append(&s, v2, sizeof(v2));
        reseal(&s);
        cr_assert_eq(decode_exact(s.p, s.len), -ENOTSUP);
        s.p[4] = FMT_VERSION;
        reseal(&s);
        cr_assert_eq(decode_exact(s.p, s.len), -EBADMSG, "our version with no header");
        buf_free(&s);
    }
    buf_free(&b);
}

Test(fmt, decoding_many_times_does_not_leak)
{
    struct buf b = {0};

    small_blob(&b);
    for (int i = 0; i < 200; i++) {
        struct obj *o = NULL, *r;

        cr_assert_eq(fmt_decode(b.p, b.len, &o), 0);
        r = obj_ref(o);
        obj_unref(&o);
        obj_unref(&r);
        /* Failed decodes too: every prefix, including those that get past the checksum. */
        cr_assert_eq(fmt_decode(b.p, b.len - 1 - (size_t)i % 50, &o), -EBADMSG);
    }
    buf_free(&b);
#if defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer only prints at exit, which Criterion does not count as a failure: ask now. */
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks: see the report above");
#endif
}

Test(fmt, encoding_a_busy_object_asserts, .signal = SIGABRT)
{
    struct obj *o = obj_new("k", 1, 1, 0);
    struct buf b = {0};

    obj_set_head(o, "HTTP/1.1 200 OK", 15);
    fmt_encode(o, &b);
}

Test(fmt, tags_gzip_flags_and_identity_length_survive)
{
    static const char tags[] = "team-a\0product-7\0";
    struct obj *o =
        obj_new("http://example.com/t", 20, key_hash("http://example.com/t", 20), OBJ_F_GZIPPED);
    struct obj *d;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n";
    struct obj_meta m;

    obj_meta_init(&m);
    m.status = 200;
    m.tags = span_of(tags, sizeof(tags) - 1);
    m.identity_len = 12345;
    obj_set_meta(o, &m);
    obj_set_head(o, head, sizeof(head) - 1);
    obj_append(o, "gz", 2);
    obj_finish(o, OBJ_COMPLETE);
    d = round_trip(o);
    cr_assert_eq(d->tags_len, sizeof(tags) - 1);
    cr_assert(memcmp(d->tags, tags, sizeof(tags) - 1) == 0);
    cr_assert_eq(d->identity_len, 12345);
    cr_assert(d->flags & OBJ_F_GZIP, "derived from the head");
    cr_assert(d->flags & OBJ_F_GZIPPED);
    obj_unref(&o);
    obj_unref(&d);
}
