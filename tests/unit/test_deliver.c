/* test_deliver.c - one delivery of an object: the body walk as iovecs across chunk boundaries
 * (from the start or from a range start, partial writes, a growing object), conditional
 * requests (If-None-Match, If-Modified-Since), byte ranges with If-Range, and the head rewrite.
 * Time is a parameter: nothing sleeps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/deliver.h"

#define LM      784111777LL /* Sun, 06 Nov 1994 08:49:37 GMT */
#define LM_TEXT "Sun, 06 Nov 1994 08:49:37 GMT"
#define NOW     800000000LL /* Tue, 09 May 1995 06:13:20 GMT */

static const char head_a[] = "HTTP/1.1 200 OK\r\n"
                             "ETag: \"a\"\r\n"
                             "Last-Modified: " LM_TEXT "\r\n";

/* The byte at body offset <i>: a pattern that a shifted or repeated chunk would break. */
static char pat(uint64_t i)
{
    return (char)((i * 7 + i / 251) & 0xff);
}

/* How a test body is appended. */
enum fill {
    FILL_PIECES, /* 1000 bytes an append: OBJ_CHUNK_MIN chunks, the last one partial */
    FILL_ODD,    /* appends of irregular sizes */
    FILL_ONE,    /* Content-Length known, one append */
};

static void append_pat(struct obj *o, uint64_t from, size_t n)
{
    char *p = malloc(n ? n : 1);

    for (size_t i = 0; i < n; i++)
        p[i] = pat(from + i);
    obj_append(o, p, n);
    free(p);
}

/* Appends body bytes [from, to) of the pattern in the way <fill> says. */
static void fill_range(struct obj *o, uint64_t from, uint64_t to, enum fill fill)
{
    static const size_t odd[] = {7,    OBJ_CHUNK_MIN,    3, 1, OBJ_CHUNK_MIN - 2,
                                 4099, 2 * OBJ_CHUNK_MIN};
    unsigned k = 0;

    while (from < to) {
        size_t n;

        switch (fill) {
        case FILL_PIECES:
            n = 1000;
            break;
        case FILL_ODD:
            n = odd[k++ % countof(odd)];
            break;
        default:
            n = (size_t)(to - from);
            break;
        }
        if (n > to - from)
            n = (size_t)(to - from);
        append_pat(o, from, n);
        from += n;
    }
}

/* What a fetch sets before the head: <status>, the body's length <len>, Date <date>. */
static void set_meta(struct obj *o, unsigned status, uint64_t len, int64_t date)
{
    struct obj_meta m;

    obj_meta_init(&m);
    m.status = status;
    m.content_length = len;
    m.date = date;
    obj_set_meta(o, &m);
}

/* A complete 200 object with head <head> and a pattern body of <len> bytes. */
static struct obj *mk_body(const char *head, uint64_t len, enum fill fill)
{
    struct obj *o = obj_new("http://h/x", 10, 1, 0);

    set_meta(o, 200, fill == FILL_ONE ? len : OBJ_LEN_UNKNOWN, 0);
    obj_set_head(o, head, strlen(head));
    fill_range(o, 0, len, fill);
    obj_finish(o, OBJ_COMPLETE);
    cr_assert_eq(obj_avail(o), len);
    return o;
}

/* A complete object with status <status>, head <head>, Date <date> and no body. */
static struct obj *mk_head_dated(unsigned status, const char *head, int64_t date)
{
    struct obj *o = obj_new("http://h/x", 10, 1, 0);

    set_meta(o, status, OBJ_LEN_UNKNOWN, date);
    obj_set_head(o, head, strlen(head));
    obj_finish(o, OBJ_COMPLETE);
    return o;
}

static struct obj *mk_head(unsigned status, const char *head)
{
    return mk_head_dated(status, head, 0);
}

/* 1 when [p, p+len) lies within one body chunk of <o> (the published bytes of each chunk, as
 * a fresh walk from the start gives them, one iovec a chunk): iovecs point into the object. */
static int in_one_chunk(const struct obj *o, const char *p, size_t len)
{
    struct obj_cursor cur;
    struct iovec iov[8];
    uint64_t off = 0, avail = obj_avail(o);
    unsigned n;

    obj_cursor_init(&cur);
    while ((n = obj_body_iov(o, &cur, off, avail, iov, countof(iov))) > 0) {
        for (unsigned i = 0; i < n; i++) {
            const char *c = iov[i].iov_base;

            if (p >= c && p + len <= c + iov[i].iov_len)
                return 1;
            off += iov[i].iov_len;
        }
    }
    return 0;
}

/* Number of chunks the body bytes [from, to) span: how many iovecs a walk of them from the
 * first chunk, without a cursor, gives. */
static unsigned chunks_spanned(const struct obj *o, uint64_t from, uint64_t to)
{
    struct iovec iov[64];
    unsigned n = obj_body_iov(o, NULL, from, to, iov, countof(iov));

    cr_assert_lt(n, countof(iov));
    return n;
}

/* Walks the delivery <d> up to <avail> with at most <max> iovecs a call, advancing at most
 * <step> bytes each time (0: everything offered, else a partial write), and checks every byte
 * offered against the pattern. */
static void walk_to(struct deliver *d, uint64_t avail, unsigned max, size_t step, const char *what)
{
    struct iovec iov[16];
    unsigned calls = 0;

    cr_assert_leq(max, countof(iov));
    while (d->pos < avail) {
        uint64_t off = d->pos, total = 0, adv;
        unsigned n = deliver_iov(d, avail, iov, max);

        cr_assert_gt(n, 0, "%s: no iovec at %llu of %llu", what, (unsigned long long)d->pos,
                     (unsigned long long)avail);
        cr_assert_leq(n, max, "%s: %u iovecs for max %u", what, n, max);
        cr_assert_eq(d->pos, off, "%s: deliver_iov moved pos", what);
        for (unsigned i = 0; i < n; i++) {
            const char *p = iov[i].iov_base;

            cr_assert_gt(iov[i].iov_len, 0, "%s: empty iovec %u at %llu", what, i,
                         (unsigned long long)(off + total));
            cr_assert(in_one_chunk(d->o, p, iov[i].iov_len),
                      "%s: iovec %u (%zu bytes) at %llu is not within one chunk of the object",
                      what, i, iov[i].iov_len, (unsigned long long)(off + total));
            for (size_t j = 0; j < iov[i].iov_len; j++)
                if (p[j] != pat(off + total + j))
                    cr_assert_fail("%s: byte %llu differs (iovec %u, max %u)", what,
                                   (unsigned long long)(off + total + j), i, max);
            total += iov[i].iov_len;
        }
        cr_assert_leq(off + total, avail, "%s: offered bytes past avail", what);
        /* As many iovecs as the chunks in the way allow: one per chunk, all if max allows. */
        cr_assert_eq(n, chunks_spanned(d->o, off, off + total), "%s: %u iovecs for %u chunks", what,
                     n, chunks_spanned(d->o, off, off + total));
        if (n < max)
            cr_assert_eq(off + total, avail, "%s: %u iovecs (max %u) but only %llu of %llu bytes",
                         what, n, max, (unsigned long long)(off + total),
                         (unsigned long long)avail);
        adv = step != 0 && step < total ? step : total;
        deliver_advance(d, adv);
        cr_assert_eq(d->pos, off + adv);
        cr_assert_lt(++calls, 1000000u, "%s: no end", what);
    }
    cr_assert_eq(d->pos, avail, "%s: walked past avail", what);
    cr_assert_eq(deliver_iov(d, avail, iov, max), 0, "%s: iovecs at the end", what);
}

static const uint64_t sizes[] = {1, OBJ_CHUNK_MIN - 1, OBJ_CHUNK_MIN, 3 * OBJ_CHUNK_MIN + 7};
static const unsigned maxes[] = {1, 16};

Test(deliver, iov_walks_whole_bodies)
{
    char what[128];

    for (int fill = FILL_PIECES; fill <= FILL_ONE; fill++) {
        for (size_t s = 0; s < countof(sizes); s++) {
            struct obj *o = mk_body(head_a, sizes[s], (enum fill)fill);

            for (size_t m = 0; m < countof(maxes); m++) {
                struct deliver d;

                snprintf(what, sizeof(what), "fill %d, %llu bytes, max %u", fill,
                         (unsigned long long)sizes[s], maxes[m]);
                deliver_init(&d, o);
                cr_assert_eq(d.o, o);
                cr_assert_eq(d.pos, 0);
                walk_to(&d, obj_avail(o), maxes[m], 0, what);
            }
            obj_unref(&o);
        }
    }
}

Test(deliver, iov_partial_writes)
{
    static const size_t steps[] = {1, 999, OBJ_CHUNK_MIN - 1, OBJ_CHUNK_MIN + 1};
    char what[128];
    struct obj *o = mk_body(head_a, 3 * OBJ_CHUNK_MIN + 7, FILL_PIECES);

    for (size_t k = 0; k < countof(steps); k++) {
        for (size_t m = 0; m < countof(maxes); m++) {
            struct deliver d;

            if (steps[k] == 1 && maxes[m] == 16)
                continue; /* as slow as max 1 and no different */
            snprintf(what, sizeof(what), "writes of %zu, max %u", steps[k], maxes[m]);
            deliver_init(&d, o);
            walk_to(&d, obj_avail(o), maxes[m], steps[k], what);
        }
    }
    obj_unref(&o);
}

Test(deliver, iov_from_a_range_start)
{
    char what[160];

    for (int fill = FILL_PIECES; fill <= FILL_ONE; fill++) {
        for (size_t s = 0; s < countof(sizes); s++) {
            uint64_t len = sizes[s];
            const uint64_t starts[] = {0,
                                       1,
                                       OBJ_CHUNK_MIN - 1,
                                       OBJ_CHUNK_MIN,
                                       OBJ_CHUNK_MIN + 1,
                                       2 * OBJ_CHUNK_MIN + 3,
                                       len - 1};
            struct obj *o = mk_body(head_a, len, (enum fill)fill);

            for (size_t i = 0; i < countof(starts); i++) {
                for (size_t m = 0; m < countof(maxes); m++) {
                    struct deliver d;

                    if (starts[i] >= len)
                        continue;
                    /* [start, len) as for "bytes=start-", then [start, end) as for a range
                     * that ends early: the caller bounds avail. */
                    snprintf(what, sizeof(what), "fill %d, %llu bytes from %llu, max %u", fill,
                             (unsigned long long)len, (unsigned long long)starts[i], maxes[m]);
                    deliver_init(&d, o);
                    d.pos = starts[i];
                    walk_to(&d, len, maxes[m], 0, what);

                    deliver_init(&d, o);
                    d.pos = starts[i];
                    snprintf(what, sizeof(what), "fill %d, %llu bytes, [%llu, %llu), max %u", fill,
                             (unsigned long long)len, (unsigned long long)starts[i],
                             (unsigned long long)(starts[i] + (len - starts[i] + 1) / 2), maxes[m]);
                    walk_to(&d, starts[i] + (len - starts[i] + 1) / 2, maxes[m], 0, what);
                }
            }
            obj_unref(&o);
        }
    }
}

Test(deliver, iov_follows_a_growing_object)
{
    const uint64_t len = 3 * OBJ_CHUNK_MIN + 7;
    const uint64_t steps[] = {1, OBJ_CHUNK_MIN - 1, OBJ_CHUNK_MIN, OBJ_CHUNK_MIN + 5, len};
    char what[96];

    for (size_t m = 0; m < countof(maxes); m++) {
        struct obj *o = obj_new("http://h/g", 10, 1, 0);
        struct deliver d;
        struct iovec iov[16];
        uint64_t have = 0;

        set_meta(o, 200, OBJ_LEN_UNKNOWN, 0);
        obj_set_head(o, head_a, strlen(head_a));
        deliver_init(&d, o);
        cr_assert_eq(deliver_iov(&d, obj_avail(o), iov, maxes[m]), 0, "no body yet");
        for (size_t k = 0; k < countof(steps) && have < len; k++) {
            uint64_t to = steps[k] < len ? steps[k] : len;

            if (to <= have)
                continue;
            fill_range(o, have, to, FILL_ODD);
            have = to;
            snprintf(what, sizeof(what), "growing to %llu, max %u", (unsigned long long)have,
                     maxes[m]);
            walk_to(&d, obj_avail(o), maxes[m], 0, what);
        }
        obj_finish(o, OBJ_COMPLETE);
        cr_assert_eq(d.pos, len);
        obj_unref(&o);
    }
}

/* ---- conditional requests -------------------------------------------------------------------- */

/* Splits "Name: value\nName: value" into at most 8 fields. */
static unsigned fields(const char *text, struct field *f)
{
    unsigned n = 0;
    const char *p = text;

    while (*p != '\0' && n < 8) {
        const char *colon = strchr(p, ':'), *nl = strchr(p, '\n');

        if (nl == NULL)
            nl = p + strlen(p);
        cr_assert_not_null(colon);
        f[n].name = span_of(p, (size_t)(colon - p));
        f[n].value = span_trim(span_of(colon + 1, (size_t)(nl - colon - 1)));
        n++;
        p = *nl ? nl + 1 : nl;
    }
    return n;
}

static int not_modified(const struct obj *o, const char *req, int64_t now)
{
    struct field f[8];
    unsigned n = fields(req, f);

    return deliver_not_modified(o, f, n, now);
}

Test(deliver, if_none_match)
{
    static const struct {
        const char *etag; /* stored */
        const char *inm;  /* If-None-Match */
        int want;
    } cases[] = {
        {"\"a\"", "\"a\"", 1},
        {"\"a\"", "\"b\"", 0},
        {"\"a\"", "\"A\"", 0},
        {"\"a\"", "\"ab\"", 0},
        {"\"ab\"", "\"a\"", 0},
        {"\"a\"", "a", 0},
        /* weak comparison: W/ on either side or both */
        {"\"a\"", "W/\"a\"", 1},
        {"W/\"a\"", "\"a\"", 1},
        {"W/\"a\"", "W/\"a\"", 1},
        {"W/\"a\"", "W/\"b\"", 0},
        /* lists */
        {"\"a\"", "\"x\", \"a\"", 1},
        {"\"a\"", "\"x\",\"a\",\"y\"", 1},
        {"\"a\"", "\"x\" ,  W/\"a\"", 1},
        {"W/\"a\"", "\"x\", \"a\"", 1},
        {"\"a\"", "\"x\", \"y\"", 0},
        {"\"a\"", "\"x\", W/\"y\", \"z\"", 0},
        {"\"a,b\"", "\"a,b\"", 1},
        {"\"a,b\"", "\"a\", \"b\"", 0},
        /* any */
        {"\"a\"", "*", 1},
        {"W/\"a\"", "*", 1},
    };

    for (size_t i = 0; i < countof(cases); i++) {
        char head[256], req[256];
        struct obj *o;

        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nETag: %s\r\n", cases[i].etag);
        snprintf(req, sizeof(req), "If-None-Match: %s", cases[i].inm);
        o = mk_head(200, head);
        cr_assert_eq(not_modified(o, req, NOW), cases[i].want,
                     "stored ETag %s, If-None-Match: %s: expected %d", cases[i].etag, cases[i].inm,
                     cases[i].want);
        obj_unref(&o);
    }
}

Test(deliver, if_none_match_needs_a_stored_etag)
{
    struct obj *o = mk_head(200, "HTTP/1.1 200 OK\r\nLast-Modified: " LM_TEXT "\r\n");

    cr_assert_eq(not_modified(o, "If-None-Match: \"a\"", NOW), 0, "no ETag stored");
    cr_assert_eq(not_modified(o, "If-None-Match: *", NOW), 1, "* matches any representation");
    /* If-None-Match present: If-Modified-Since is ignored, even when it would match */
    cr_assert_eq(not_modified(o, "If-None-Match: \"a\"\nIf-Modified-Since: " LM_TEXT, NOW), 0);
    obj_unref(&o);
}

Test(deliver, if_modified_since)
{
    static const struct {
        const char *ims;
        int want;
        const char *what;
    } cases[] = {
        {LM_TEXT, 1, "equal to Last-Modified"},
        {"Sunday, 06-Nov-94 08:49:37 GMT", 1, "equal, RFC 850 form"},
        {"Sun Nov  6 08:49:37 1994", 1, "equal, asctime form"},
        {"Sun, 06 Nov 1994 08:49:38 GMT", 1, "one second after"},
        {"Mon, 07 Nov 1994 08:49:37 GMT", 1, "a day after"},
        {"Tue, 09 May 1995 06:13:20 GMT", 1, "after, equal to now"},
        {"Sun, 06 Nov 1994 08:49:36 GMT", 0, "one second before"},
        {"Sat, 01 Jan 1994 00:00:00 GMT", 0, "months before"},
        {"Tue, 09 May 1995 06:13:21 GMT", 0, "one second in the future"},
        {"Sat, 01 Jan 2000 00:00:00 GMT", 0, "years in the future"},
        {"yesterday", 0, "not a date"},
        {"", 0, "empty"},
        {"784111777", 0, "seconds, not a date"},
    };

    struct obj *o = mk_head(200, head_a);

    for (size_t i = 0; i < countof(cases); i++) {
        char req[256];

        snprintf(req, sizeof(req), "If-Modified-Since: %s", cases[i].ims);
        cr_assert_eq(not_modified(o, req, NOW), cases[i].want,
                     "If-Modified-Since %s (%s), Last-Modified " LM_TEXT ": expected %d",
                     cases[i].ims, cases[i].what, cases[i].want);
    }
    obj_unref(&o);
}

Test(deliver, if_modified_since_without_last_modified_uses_date)
{
    /* RFC 9111 §4.3.2: no Last-Modified, so the Date the response carried (its date) counts */
    struct obj *o = mk_head_dated(200, "HTTP/1.1 200 OK\r\nDate: " LM_TEXT "\r\n", LM);

    cr_assert_eq(not_modified(o, "If-Modified-Since: " LM_TEXT, NOW), 1, "equal to Date");
    cr_assert_eq(not_modified(o, "If-Modified-Since: Mon, 07 Nov 1994 08:49:37 GMT", NOW), 1);
    cr_assert_eq(not_modified(o, "If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT", NOW), 0,
                 "before Date: modified since");
    cr_assert_eq(not_modified(o, "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT", NOW), 0,
                 "in the future");
    obj_unref(&o);
}

Test(deliver, if_none_match_wins_over_if_modified_since)
{
    struct obj *o = mk_head(200, head_a);

    cr_assert_eq(not_modified(o, "If-None-Match: \"b\"\nIf-Modified-Since: " LM_TEXT, NOW), 0,
                 "no ETag match: full answer, whatever If-Modified-Since says");
    cr_assert_eq(not_modified(o, "If-Modified-Since: " LM_TEXT "\nIf-None-Match: \"b\"", NOW), 0,
                 "the same in the other order");
    cr_assert_eq(
        not_modified(o, "If-None-Match: \"a\"\nIf-Modified-Since: Sat, 01 Jan 1994 00:00:00 GMT",
                     NOW),
        1, "ETag match: 304, whatever If-Modified-Since says");
    /* names are case-insensitive */
    cr_assert_eq(not_modified(o, "if-none-match: \"a\"", NOW), 1);
    cr_assert_eq(not_modified(o, "IF-MODIFIED-SINCE: " LM_TEXT, NOW), 1);
    /* unrelated fields only */
    cr_assert_eq(not_modified(o, "Accept: */*", NOW), 0);
    cr_assert_eq(deliver_not_modified(o, NULL, 0, NOW), 0, "no fields at all");
    obj_unref(&o);
}

Test(deliver, if_modified_since_needs_a_date_before_it)
{
    /* no Last-Modified: its Date, later than LM */
    struct obj *o = mk_head_dated(200, "HTTP/1.1 200 OK\r\nETag: \"a\"\r\n", NOW - 10);

    cr_assert_eq(not_modified(o, "If-Modified-Since: " LM_TEXT, NOW), 0);
    obj_unref(&o);
    o = mk_head(200, "HTTP/1.1 200 OK\r\nLast-Modified: garbage\r\n");
    cr_assert_eq(not_modified(o, "If-Modified-Since: " LM_TEXT, NOW), 0,
                 "a stored Last-Modified that is not a date");
    obj_unref(&o);
}

Test(deliver, not_modified_only_for_200)
{
    static const unsigned statuses[] = {203, 204, 206, 301, 404, 410, 500};

    for (size_t i = 0; i < countof(statuses); i++) {
        char head[256];
        struct obj *o;

        snprintf(head, sizeof(head),
                 "HTTP/1.1 %u X\r\nETag: \"a\"\r\nLast-Modified: " LM_TEXT "\r\n", statuses[i]);
        o = mk_head(statuses[i], head);
        cr_assert_eq(not_modified(o, "If-None-Match: \"a\"", NOW), 0,
                     "status %u, matching If-None-Match", statuses[i]);
        cr_assert_eq(not_modified(o, "If-None-Match: *", NOW), 0, "status %u, If-None-Match: *",
                     statuses[i]);
        cr_assert_eq(not_modified(o, "If-Modified-Since: " LM_TEXT, NOW), 0,
                     "status %u, matching If-Modified-Since", statuses[i]);
        obj_unref(&o);
    }
}

/* ---- ranges ---------------------------------------------------------------------------------- */

#define RLEN 100

static enum deliver_range range_of(const struct obj *o, uint64_t len, const char *req,
                                   uint64_t *first, uint64_t *last)
{
    struct field f[8];
    unsigned n = fields(req, f);

    *first = *last = 12345;
    return deliver_range(o, len, f, n, first, last);
}

struct range_case {
    const char *req;
    enum deliver_range want;
    uint64_t first, last;
};

static void check_ranges(const struct obj *o, uint64_t len, const struct range_case *cases,
                         size_t n)
{
    static const char *const names[] = {"FULL", "PARTIAL", "UNSATISFIABLE"};

    for (size_t i = 0; i < n; i++) {
        uint64_t first, last;
        enum deliver_range got = range_of(o, len, cases[i].req, &first, &last);

        cr_assert_eq(got, cases[i].want, "length %llu, '%s': %s, expected %s",
                     (unsigned long long)len, cases[i].req, names[got], names[cases[i].want]);
        if (got == DELIVER_PARTIAL) {
            cr_assert(first == cases[i].first && last == cases[i].last,
                      "length %llu, '%s': [%llu, %llu], expected [%llu, %llu]",
                      (unsigned long long)len, cases[i].req, (unsigned long long)first,
                      (unsigned long long)last, (unsigned long long)cases[i].first,
                      (unsigned long long)cases[i].last);
            cr_assert_leq(first, last);
            cr_assert_lt(last, len);
        }
    }
}

Test(deliver, range_single)
{
    static const struct range_case cases[] = {
        {"Range: bytes=0-9", DELIVER_PARTIAL, 0, 9},
        {"Range: bytes=0-0", DELIVER_PARTIAL, 0, 0},
        {"Range: bytes=10-", DELIVER_PARTIAL, 10, 99},
        {"Range: bytes=0-", DELIVER_PARTIAL, 0, 99},
        {"Range: bytes=99-", DELIVER_PARTIAL, 99, 99},
        {"Range: bytes=99-99", DELIVER_PARTIAL, 99, 99},
        {"Range: bytes=-5", DELIVER_PARTIAL, 95, 99},
        {"Range: bytes=-1", DELIVER_PARTIAL, 99, 99},
        {"Range: bytes=-100", DELIVER_PARTIAL, 0, 99},
        {"Range: bytes=-500", DELIVER_PARTIAL, 0, 99}, /* suffix longer than the length */
        {"Range: bytes=-0", DELIVER_UNSATISFIABLE, 0, 0},
        {"Range: bytes=100-", DELIVER_UNSATISFIABLE, 0, 0}, /* first beyond the length */
        {"Range: bytes=100-200", DELIVER_UNSATISFIABLE, 0, 0},
        {"Range: bytes=5000-6000", DELIVER_UNSATISFIABLE, 0, 0},
        {"Range: bytes=90-200", DELIVER_PARTIAL, 90, 99}, /* last clamped */
        {"Range: bytes=0-99999999999999", DELIVER_PARTIAL, 0, 99},
        {"Range: bytes=50-99", DELIVER_PARTIAL, 50, 99},
        {"Range: bytes=50-100", DELIVER_PARTIAL, 50, 99},
        {"Range: Bytes=0-9", DELIVER_PARTIAL, 0, 9}, /* the unit is case-insensitive */
        {"range: bytes=0-9", DELIVER_PARTIAL, 0, 9},
    };
    struct obj *o = mk_head(200, head_a);

    check_ranges(o, RLEN, cases, countof(cases));
    obj_unref(&o);
}

Test(deliver, range_ignored)
{
    static const struct range_case cases[] = {
        {"Accept: */*", DELIVER_FULL, 0, 0},          /* no Range */
        {"Range: bytes=9-3", DELIVER_FULL, 0, 0},     /* last before first: invalid */
        {"Range: bytes=0-1,5-6", DELIVER_FULL, 0, 0}, /* several ranges */
        {"Range: bytes=0-9, 20-29", DELIVER_FULL, 0, 0},
        {"Range: bytes=-5,0-1", DELIVER_FULL, 0, 0},
        {"Range: items=0-9", DELIVER_FULL, 0, 0}, /* another unit */
        {"Range: bytesx=0-9", DELIVER_FULL, 0, 0},
        {"Range: byte=0-9", DELIVER_FULL, 0, 0},
        {"Range: bytes=", DELIVER_FULL, 0, 0}, /* garbage */
        {"Range: bytes=-", DELIVER_FULL, 0, 0},
        {"Range: bytes=abc", DELIVER_FULL, 0, 0},
        {"Range: bytes=5", DELIVER_FULL, 0, 0},
        {"Range: bytes=a-9", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9x", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-b", DELIVER_FULL, 0, 0},
        {"Range: bytes=--5", DELIVER_FULL, 0, 0},
        {"Range: bytes=-5x", DELIVER_FULL, 0, 0},
        {"Range: 0-9", DELIVER_FULL, 0, 0},
        {"Range: ", DELIVER_FULL, 0, 0},
    };
    struct obj *o = mk_head(200, head_a);

    check_ranges(o, RLEN, cases, countof(cases));
    obj_unref(&o);
}

Test(deliver, range_on_an_empty_body)
{
    static const struct range_case cases[] = {
        {"Range: bytes=0-", DELIVER_UNSATISFIABLE, 0, 0},
        {"Range: bytes=0-9", DELIVER_UNSATISFIABLE, 0, 0},
        {"Range: bytes=-5", DELIVER_UNSATISFIABLE, 0, 0},
    };
    struct obj *o = mk_head(200, head_a);

    check_ranges(o, 0, cases, countof(cases));
    obj_unref(&o);
}

Test(deliver, range_only_on_200)
{
    static const struct range_case cases[] = {
        {"Range: bytes=0-9", DELIVER_FULL, 0, 0},
        {"Range: bytes=1000-", DELIVER_FULL, 0, 0},
    };
    struct obj *o = mk_head(404, "HTTP/1.1 404 Not Found\r\nETag: \"a\"\r\n");

    check_ranges(o, RLEN, cases, countof(cases));
    obj_unref(&o);
}

Test(deliver, if_range)
{
    static const struct range_case cases[] = {
        {"Range: bytes=0-9\nIf-Range: \"a\"", DELIVER_PARTIAL, 0, 9},
        {"If-Range: \"a\"\nRange: bytes=-5", DELIVER_PARTIAL, 95, 99},
        {"Range: bytes=100-\nIf-Range: \"a\"", DELIVER_UNSATISFIABLE, 0, 0},
        {"Range: bytes=0-9\nIf-Range: W/\"a\"", DELIVER_FULL, 0, 0}, /* weak: never */
        {"Range: bytes=0-9\nIf-Range: \"b\"", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9\nIf-Range: \"a\", \"b\"", DELIVER_FULL, 0, 0}, /* not a list */
        {"Range: bytes=100-\nIf-Range: \"b\"", DELIVER_FULL, 0, 0},       /* changed: all of it */
        {"Range: bytes=0-9\nIf-Range: " LM_TEXT, DELIVER_PARTIAL, 0, 9},
        {"Range: bytes=0-9\nIf-Range: Sunday, 06-Nov-94 08:49:37 GMT", DELIVER_PARTIAL, 0, 9},
        {"Range: bytes=0-9\nIf-Range: Sun, 06 Nov 1994 08:49:38 GMT", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9\nIf-Range: Sun, 06 Nov 1994 08:49:36 GMT", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9\nIf-Range: Sat, 01 Jan 2000 00:00:00 GMT", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9\nIf-Range: not a date", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9\nIf-Range: ", DELIVER_FULL, 0, 0},
        {"If-Range: \"a\"", DELIVER_FULL, 0, 0}, /* If-Range without Range */
    };
    struct obj *o = mk_head(200, head_a);

    check_ranges(o, RLEN, cases, countof(cases));
    obj_unref(&o);
}

Test(deliver, if_range_needs_strong_stored_validators)
{
    static const struct range_case weak[] = {
        {"Range: bytes=0-9\nIf-Range: \"a\"", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9\nIf-Range: W/\"a\"", DELIVER_FULL, 0, 0},
    };
    static const struct range_case no_lm[] = {
        {"Range: bytes=0-9\nIf-Range: " LM_TEXT, DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9\nIf-Range: \"a\"", DELIVER_PARTIAL, 0, 9},
    };
    static const struct range_case no_etag[] = {
        {"Range: bytes=0-9\nIf-Range: \"a\"", DELIVER_FULL, 0, 0},
        {"Range: bytes=0-9\nIf-Range: " LM_TEXT, DELIVER_PARTIAL, 0, 9},
    };
    struct obj *o;

    o = mk_head(200, "HTTP/1.1 200 OK\r\nETag: W/\"a\"\r\n");
    check_ranges(o, RLEN, weak, countof(weak));
    obj_unref(&o);
    o = mk_head(200, "HTTP/1.1 200 OK\r\nETag: \"a\"\r\n");
    check_ranges(o, RLEN, no_lm, countof(no_lm));
    obj_unref(&o);
    o = mk_head(200, "HTTP/1.1 200 OK\r\nLast-Modified: " LM_TEXT "\r\n");
    check_ranges(o, RLEN, no_etag, countof(no_etag));
    obj_unref(&o);
}

/* ---- the head -------------------------------------------------------------------------------- */

/* deliver_head() into a fresh buffer, compared with <want> exactly. */
static void head_is(const struct obj *o, const char *status_line, int64_t age, uint64_t length,
                    int chunked, int close, int keepalive_10, const char *extra, const char *want)
{
    struct buf b = {0};

    deliver_head(&b, o, status_line, age, length, chunked, close, keepalive_10, extra);
    cr_assert_eq(buf_pending(&b), strlen(want),
                 "status_line %s, length %llu, chunked %d, close %d, ka10 %d:\n"
                 "got  (%zu) [%.*s]\nwant (%zu) [%s]",
                 status_line ? status_line : "NULL", (unsigned long long)length, chunked, close,
                 keepalive_10, buf_pending(&b), (int)buf_pending(&b), b.p + b.off, strlen(want),
                 want);
    cr_assert(memcmp(b.p + b.off, want, strlen(want)) == 0,
              "status_line %s, length %llu, chunked %d, close %d, ka10 %d:\n"
              "got  [%.*s]\nwant [%s]",
              status_line ? status_line : "NULL", (unsigned long long)length, chunked, close,
              keepalive_10, (int)buf_pending(&b), b.p + b.off, want);
    buf_free(&b);
}

#define STORED_FIELDS "ETag: \"a\"\r\nLast-Modified: " LM_TEXT "\r\n"

Test(deliver, head_stored_status)
{
    struct obj *o = mk_body(head_a, 10, FILL_ONE);

    head_is(o, NULL, 5, 10, 0, 0, 0, "X-Cache: HIT\r\n",
            "HTTP/1.1 200 OK\r\n" STORED_FIELDS "Age: 5\r\nContent-Length: 10\r\n"
            "Via: 1.1 accel\r\nX-Cache: HIT\r\n\r\n");
    head_is(o, NULL, 0, 10, 0, 0, 0, NULL,
            "HTTP/1.1 200 OK\r\n" STORED_FIELDS "Age: 0\r\nContent-Length: 10\r\n"
            "Via: 1.1 accel\r\n\r\n");
    head_is(o, NULL, 3600, 0, 0, 0, 0, NULL,
            "HTTP/1.1 200 OK\r\n" STORED_FIELDS "Age: 3600\r\nContent-Length: 0\r\n"
            "Via: 1.1 accel\r\n\r\n");
    /* length unknown: no Content-Length; chunked */
    head_is(o, NULL, 1, OBJ_LEN_UNKNOWN, 0, 0, 0, NULL,
            "HTTP/1.1 200 OK\r\n" STORED_FIELDS "Age: 1\r\nVia: 1.1 accel\r\n\r\n");
    head_is(o, NULL, 1, OBJ_LEN_UNKNOWN, 1, 0, 0,
            "X-Cache: MISS\r\nCache-Status: accel; fwd=miss\r\n",
            "HTTP/1.1 200 OK\r\n" STORED_FIELDS "Age: 1\r\nVia: 1.1 accel\r\n"
            "X-Cache: MISS\r\nCache-Status: accel; fwd=miss\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
    /* connection management */
    head_is(o, NULL, 2, 10, 0, 1, 0, NULL,
            "HTTP/1.1 200 OK\r\n" STORED_FIELDS "Age: 2\r\nContent-Length: 10\r\n"
            "Via: 1.1 accel\r\nConnection: close\r\n\r\n");
    head_is(o, NULL, 2, 10, 0, 0, 1, "X-Cache: HIT\r\n",
            "HTTP/1.1 200 OK\r\n" STORED_FIELDS "Age: 2\r\nContent-Length: 10\r\n"
            "Via: 1.1 accel\r\nX-Cache: HIT\r\nConnection: keep-alive\r\n\r\n");
    head_is(o, NULL, 2, OBJ_LEN_UNKNOWN, 1, 1, 0, NULL,
            "HTTP/1.1 200 OK\r\n" STORED_FIELDS "Age: 2\r\nVia: 1.1 accel\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    obj_unref(&o);
}

Test(deliver, head_status_line_replaced)
{
    struct obj *o = mk_body(head_a, 100, FILL_ONE);

    head_is(o, "HTTP/1.1 206 Partial Content", 7, 10, 0, 0, 0,
            "X-Cache: HIT\r\nContent-Range: bytes 0-9/100\r\n",
            "HTTP/1.1 206 Partial Content\r\n" STORED_FIELDS "Age: 7\r\nContent-Length: 10\r\n"
            "Via: 1.1 accel\r\nX-Cache: HIT\r\nContent-Range: bytes 0-9/100\r\n\r\n");
    head_is(o, "HTTP/1.1 206 Partial Content", 7, 10, 0, 1, 0, NULL,
            "HTTP/1.1 206 Partial Content\r\n" STORED_FIELDS "Age: 7\r\nContent-Length: 10\r\n"
            "Via: 1.1 accel\r\nConnection: close\r\n\r\n");
    head_is(o, "HTTP/1.1 304 Not Modified", 0, OBJ_LEN_UNKNOWN, 0, 0, 1, NULL,
            "HTTP/1.1 304 Not Modified\r\n" STORED_FIELDS "Age: 0\r\nVia: 1.1 accel\r\n"
            "Connection: keep-alive\r\n\r\n");
    obj_unref(&o);
}

Test(deliver, head_bodiless_status_has_no_length)
{
    struct obj *o = mk_head(204, "HTTP/1.1 204 No Content\r\nX-A: b\r\n");

    head_is(o, NULL, 4, 0, 0, 0, 0, NULL,
            "HTTP/1.1 204 No Content\r\nX-A: b\r\nAge: 4\r\nVia: 1.1 accel\r\n\r\n");
    head_is(o, NULL, 4, 0, 0, 0, 1, "X-Cache: HIT\r\n",
            "HTTP/1.1 204 No Content\r\nX-A: b\r\nAge: 4\r\nVia: 1.1 accel\r\nX-Cache: HIT\r\n"
            "Connection: keep-alive\r\n\r\n");
    head_is(o, NULL, 4, 0, 0, 1, 0, NULL,
            "HTTP/1.1 204 No Content\r\nX-A: b\r\nAge: 4\r\nVia: 1.1 accel\r\n"
            "Connection: close\r\n\r\n");
    obj_unref(&o);
}

Test(deliver, head_appends_to_what_the_buffer_holds)
{
    struct obj *o = mk_body(head_a, 3, FILL_ONE);
    struct buf b = {0};
    static const char want[] = "previous answer|HTTP/1.1 200 OK\r\n" STORED_FIELDS
                               "Age: 0\r\nContent-Length: 3\r\nVia: 1.1 accel\r\n\r\n";

    buf_append_str(&b, "previous answer|");
    deliver_head(&b, o, NULL, 0, 3, 0, 0, 0, NULL);
    cr_assert_eq(buf_pending(&b), strlen(want));
    cr_assert(memcmp(b.p + b.off, want, strlen(want)) == 0, "got [%.*s]", (int)buf_pending(&b),
              b.p + b.off);
    buf_free(&b);
    obj_unref(&o);
}
