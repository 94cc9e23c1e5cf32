/* test_obj.c - the refcounted streaming object: lifecycle, body chunks, head fields, wake-ups,
 * metadata (obj_set_meta, from a policy verdict, the inflated twin) and the body iovecs. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "accel/obj.h"
#include "accel/policy.h"
#include "cache/obj_int.h" /* white-box: the tests check the chunk layout behind the iovecs */

static struct obj *mk(const char *key)
{
    return obj_new(key, strlen(key), 42, 0);
}

/* What a fetch sets before the head when it knows the body's length: <len>. */
static void set_length(struct obj *o, uint64_t len)
{
    struct obj_meta m;

    obj_meta_init(&m);
    m.content_length = len;
    obj_set_meta(o, &m);
}

static unsigned refs(struct obj *o)
{
    return atomic_load(&o->refs);
}

/* The byte at offset <i> of the test bodies: a pattern that a misplaced chunk would break. */
static char pat(size_t i)
{
    return (char)((i * 7 + i / 251) & 0xff);
}

/* Reads the published body of <o> as a reader does: the bytes of each chunk come from the caps
 * before it and obj_avail(), never from the chunk's len. Returns the bytes compared. */
static size_t read_back(struct obj *o)
{
    uint64_t avail = obj_avail(o), off = 0;

    for (struct obj_chunk *c = o->first; off < avail; c = c->next) {
        size_t n;

        cr_assert_not_null(c, "the chunks hold fewer bytes than obj_avail");
        n = avail - off < c->cap ? (size_t)(avail - off) : c->cap;
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(c->data[i], pat(off + i), "byte %zu", (size_t)(off + i));
        off += n;
    }
    return (size_t)off;
}

static void append_pat(struct obj *o, size_t from, size_t n)
{
    char *p = malloc(n ? n : 1);

    for (size_t i = 0; i < n; i++)
        p[i] = pat(from + i);
    obj_append(o, p, n);
    free(p);
}

Test(obj, new_ref_unref)
{
    struct obj *o = obj_new("http://a/xyz", 10, 7, OBJ_F_PASS), *r;

    cr_assert_eq(o->magic, OBJ_MAGIC);
    cr_assert_eq(refs(o), 1);
    cr_assert_eq(o->key_len, 10);
    cr_assert_str_eq(o->key, "http://a/x", "the key is copied and terminated");
    cr_assert_eq(o->hash, 7);
    cr_assert_eq(o->flags, OBJ_F_PASS);
    cr_assert_eq(obj_state(o), OBJ_BUSY);
    cr_assert_eq(obj_has_head(o), 0);
    cr_assert_eq(obj_avail(o), 0);
    cr_assert_eq(o->content_length, OBJ_LEN_UNKNOWN);
    cr_assert_eq(o->indexed, 0);

    r = obj_ref(o);
    cr_assert_eq(r, o);
    cr_assert_eq(refs(o), 2);
    obj_unref(&r);
    cr_assert_null(r);
    cr_assert_eq(refs(o), 1);
    obj_unref(&o); /* the last one: ASan reports a leak or a double free */
    cr_assert_null(o);
    obj_unref(&o); /* NULL is fine */
}

Test(obj, append_across_chunk_boundaries)
{
    static const size_t sizes[] = {1,
                                   3,
                                   1,
                                   OBJ_CHUNK_MIN,
                                   1,
                                   OBJ_CHUNK_MIN - 5,
                                   17,
                                   0,
                                   OBJ_CHUNK_MIN * 3 + 11,
                                   1,
                                   4099,
                                   OBJ_CHUNK_MIN,
                                   2};
    struct obj *o = mk("k");
    size_t total = 0;

    for (size_t i = 0; i < countof(sizes); i++) {
        append_pat(o, total, sizes[i]);
        total += sizes[i];
        cr_assert_eq(obj_avail(o), total);
        cr_assert_eq(read_back(o), total);
    }
    /* Every chunk but the last is full. */
    for (struct obj_chunk *c = o->first; c != o->last; c = c->next)
        cr_assert_eq(c->len, c->cap);
    obj_finish(o, OBJ_COMPLETE);
    cr_assert_eq(obj_state(o), OBJ_COMPLETE);
    cr_assert_eq(read_back(o), total);
    obj_unref(&o);
}

Test(obj, exactly_one_chunk_and_a_large_one)
{
    struct obj *o = mk("k");

    append_pat(o, 0, OBJ_CHUNK_MIN);
    cr_assert_eq(o->first, o->last, "OBJ_CHUNK_MIN bytes fill one chunk");
    cr_assert_eq(o->first->cap, OBJ_CHUNK_MIN);
    append_pat(o, OBJ_CHUNK_MIN, 1);
    cr_assert_neq(o->first, o->last, "one more byte opens a second");
    cr_assert_eq(read_back(o), OBJ_CHUNK_MIN + 1);
    obj_unref(&o);

    o = mk("k");
    append_pat(o, 0, 10 * OBJ_CHUNK_MIN + 3);
    cr_assert_eq(o->first, o->last, "a large append takes one chunk of its size");
    cr_assert_eq(o->first->cap, 10 * OBJ_CHUNK_MIN + 3);
    cr_assert_eq(read_back(o), 10 * OBJ_CHUNK_MIN + 3);
    obj_unref(&o);
}

Test(obj, content_length_sizes_the_last_chunk)
{
    struct obj *o = mk("k");
    const size_t len = 2 * OBJ_CHUNK_MIN + 100;
    size_t off = 0;

    set_length(o, len);
    while (off < len) {
        size_t n = len - off < 1000 ? len - off : 1000;

        append_pat(o, off, n);
        off += n;
    }
    cr_assert_eq(obj_avail(o), len);
    cr_assert_eq(o->last->cap, 100, "the last chunk holds exactly what was left");
    cr_assert_eq(o->last->len, 100);
    cr_assert_eq(read_back(o), len);
    cr_assert_eq(o->chunk_mem, 3 * sizeof(struct obj_chunk) + len, "no slack anywhere");
    obj_unref(&o);

    /* A small body announced up front takes a chunk of its own size. */
    o = mk("k");
    set_length(o, 10);
    append_pat(o, 0, 4);
    append_pat(o, 4, 6);
    cr_assert_eq(o->first, o->last);
    cr_assert_eq(o->first->cap, 10);
    cr_assert_eq(read_back(o), 10);
    obj_unref(&o);
}

Test(obj, set_head_splits_fields)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/html\r\n"
                               "ETag:  \"abc\" \r\n"
                               "X-Empty:\r\n"
                               "Cache-Control: max-age=60\r\n"
                               "content-type: text/plain";
    struct obj *o = mk("k");
    struct span v;

    cr_assert_eq(obj_has_head(o), 0);
    obj_set_head(o, head, sizeof(head) - 1);
    cr_assert_eq(obj_has_head(o), 1);
    cr_assert_eq(o->head_len, sizeof(head) - 1);
    cr_assert(memcmp(o->head, head, o->head_len) == 0);
    cr_assert_neq(o->head, head, "the head is copied");
    cr_assert_eq(o->n_fields, 5);

    v = obj_field(o, "content-type");
    cr_assert_eq(v.len, 9);
    cr_assert(memcmp(v.p, "text/html", 9) == 0, "the first of two, case-insensitively");
    v = obj_field(o, "ETAG");
    cr_assert_eq(v.len, 5);
    cr_assert(memcmp(v.p, "\"abc\"", 5) == 0, "trimmed");
    v = obj_field(o, "x-empty");
    cr_assert_not_null(v.p, "present but empty");
    cr_assert_eq(v.len, 0);
    v = obj_field(o, "Cache-Control");
    cr_assert_eq(v.len, 10);
    cr_assert_null(obj_field(o, "Age").p, "missing");
    cr_assert_null(obj_field(o, "Content-Typ").p, "a prefix is not a match");
    obj_unref(&o);
}

Test(obj, finish_failed)
{
    struct obj *o = mk("k");

    append_pat(o, 0, 5);
    obj_finish(o, OBJ_FAILED);
    cr_assert_eq(obj_state(o), OBJ_FAILED);
    cr_assert_eq(obj_avail(o), 5, "readers stop where the body stops");
    obj_unref(&o);
}

static unsigned wake_calls, wake_mask;

static void test_waker(unsigned mask)
{
    wake_calls++;
    wake_mask |= mask;
}

Test(obj, waker_gets_the_mask_after_each_publication)
{
    struct obj *o = mk("k");

    wake_calls = wake_mask = 0;
    obj_set_waker(test_waker);
    obj_set_head(o, "HTTP/1.1 200 OK\r\n", 17);
    append_pat(o, 0, 3);
    cr_assert_eq(wake_calls, 0, "nobody waits: no wake-up");

    obj_wait(o, 2);
    obj_wait(o, 5);
    obj_wait(o, 2);
    append_pat(o, 3, 3);
    cr_assert_eq(wake_calls, 1);
    cr_assert_eq(wake_mask, (1u << 2) | (1u << 5));
    append_pat(o, 6, OBJ_CHUNK_MIN);
    cr_assert_eq(wake_calls, 2, "one wake-up per append, however many chunks");
    obj_finish(o, OBJ_COMPLETE);
    cr_assert_eq(wake_calls, 3);
    cr_assert_eq(wake_mask, (1u << 2) | (1u << 5));

    /* The head publication wakes too. */
    obj_unref(&o);
    o = mk("k");
    wake_calls = wake_mask = 0;
    obj_wait(o, 0);
    obj_set_head(o, "HTTP/1.1 204 No Content\r\n", 25);
    cr_assert_eq(wake_calls, 1);
    cr_assert_eq(wake_mask, 1u);
    obj_set_waker(NULL);
    obj_finish(o, OBJ_COMPLETE);
    cr_assert_eq(wake_calls, 1, "no waker, no call");
    obj_unref(&o);
}

Test(obj, size_grows_with_the_body)
{
    struct obj *o = mk("http://example.com/");
    size_t s0 = obj_size(o), s1, s2;

    cr_assert_geq(s0, sizeof(struct obj) + strlen("http://example.com/"));
    obj_set_head(o, "HTTP/1.1 200 OK\r\nA: b\r\n", 23);
    s1 = obj_size(o);
    cr_assert_geq(s1, s0 + 23);
    append_pat(o, 0, 1);
    s2 = obj_size(o);
    cr_assert_geq(s2, s1 + OBJ_CHUNK_MIN, "the first chunk counts whole");
    append_pat(o, 1, 100);
    cr_assert_eq(obj_size(o), s2, "bytes within the chunk cost nothing more");
    append_pat(o, 101, OBJ_CHUNK_MIN);
    cr_assert_geq(obj_size(o), s2 + OBJ_CHUNK_MIN);
    obj_unref(&o);
}

/* obj_set_meta() copies every member, adds the flags, and owns copies of vary and tags. */
Test(obj, set_meta_copies_and_get_meta_gives_back)
{
    char vary[] = "accept-language\0en\0", tags[] = "a\0b\0";
    struct obj *o = obj_new("http://h/m", 10, 9, OBJ_F_PRIVATE);
    struct obj_meta m, got;

    obj_meta_init(&m);
    cr_assert_eq(m.content_length, OBJ_LEN_UNKNOWN);
    cr_assert_eq(m.identity_len, OBJ_LEN_UNKNOWN);
    cr_assert_eq(m.ttl, 0);
    cr_assert_eq(m.flags, 0);
    cr_assert_eq(m.vary.len, 0);
    m.status = 203;
    m.t_req = 100;
    m.t_resp = 101;
    m.date = 99;
    m.age_value = 3;
    m.ttl = 60;
    m.swr = 7;
    m.sie = -1;
    m.cc_flags = CC_PUBLIC | CC_IMMUTABLE;
    m.content_length = 5;
    m.identity_len = 50;
    m.flags = OBJ_F_GZIPPED;
    m.vary = span_of(vary, sizeof(vary) - 1);
    m.tags = span_of(tags, sizeof(tags) - 1);
    obj_set_meta(o, &m);
    memset(vary, 'x', sizeof(vary)); /* the object has its own copies */
    memset(tags, 'x', sizeof(tags));
    obj_set_head(o, "HTTP/1.1 203 OK\r\n", 17);

    cr_assert_eq(obj_status(o), 203);
    cr_assert_eq(obj_date(o), 99);
    cr_assert_eq(obj_content_length(o), 5);
    cr_assert_eq(obj_identity_len(o), 50);
    cr_assert_eq(obj_flags(o), OBJ_F_PRIVATE | OBJ_F_GZIPPED, "added to those of obj_new()");
    cr_assert_eq(obj_ttl(o), 60);
    cr_assert_eq(obj_age(o, 101), policy_current_age(99, 3, 100, 101, 101));
    cr_assert_eq(obj_age(o, 111), obj_age(o, 101) + 10);
    obj_get_meta(o, &got);
    cr_assert_eq(got.status, 203);
    cr_assert_eq(got.t_req, 100);
    cr_assert_eq(got.t_resp, 101);
    cr_assert_eq(got.date, 99);
    cr_assert_eq(got.age_value, 3);
    cr_assert_eq(got.ttl, 60);
    cr_assert_eq(got.swr, 7);
    cr_assert_eq(got.sie, -1);
    cr_assert_eq(got.cc_flags, CC_PUBLIC | CC_IMMUTABLE);
    cr_assert_eq(got.content_length, 5);
    cr_assert_eq(got.identity_len, 50);
    cr_assert_eq(got.flags, OBJ_F_PRIVATE | OBJ_F_GZIPPED);
    cr_assert_eq(got.vary.len, sizeof("accept-language\0en\0") - 1);
    cr_assert(memcmp(got.vary.p, "accept-language\0en\0", got.vary.len) == 0);
    cr_assert_eq(got.tags.len, 4);
    cr_assert(memcmp(got.tags.p, "a\0b\0", 4) == 0);
    cr_assert_geq(obj_size(o), sizeof(struct obj) + 10 + 17 + got.vary.len + got.tags.len,
                  "vary and tags are accounted");
    obj_unref(&o); /* ASan: the copies are freed with the object */

    /* no vary, no tags: nothing kept */
    o = obj_new("k", 1, 1, 0);
    obj_meta_init(&m);
    obj_set_meta(o, &m);
    obj_set_head(o, "HTTP/1.1 200 OK\r\n", 17);
    obj_get_meta(o, &got);
    cr_assert_eq(got.vary.len, 0);
    cr_assert_null(got.vary.p);
    cr_assert_null(got.tags.p);
    cr_assert_eq(obj_content_length(o), OBJ_LEN_UNKNOWN);
    obj_unref(&o);
}

/* A policy verdict becomes metadata in one place: times, lifetime (0 when not storable), stale
 * windows and Cache-Control flags; the rest as obj_meta_init() leaves it. */
Test(obj, meta_from_policy)
{
    struct policy_resp pr = {.storable = 1,
                             .reason = "",
                             .ttl = 120,
                             .date = 1000,
                             .age = 4,
                             .swr = 30,
                             .sie = 60,
                             .cc_flags = CC_MUST_REVALIDATE | CC_PRESENT};
    struct obj_meta m;

    obj_meta_from_policy(&m, 200, &pr, 990, 1001);
    cr_assert_eq(m.status, 200);
    cr_assert_eq(m.t_req, 990);
    cr_assert_eq(m.t_resp, 1001);
    cr_assert_eq(m.date, 1000);
    cr_assert_eq(m.age_value, 4);
    cr_assert_eq(m.ttl, 120);
    cr_assert_eq(m.swr, 30);
    cr_assert_eq(m.sie, 60);
    cr_assert_eq(m.cc_flags, CC_MUST_REVALIDATE | CC_PRESENT);
    cr_assert_eq(m.content_length, OBJ_LEN_UNKNOWN);
    cr_assert_eq(m.identity_len, OBJ_LEN_UNKNOWN);
    cr_assert_eq(m.flags, 0);
    cr_assert_eq(m.vary.len, 0);
    cr_assert_eq(m.tags.len, 0);

    /* a 304 that made the stored answer unstorable: it is stale at once */
    pr.storable = 0;
    obj_meta_from_policy(&m, 304, &pr, 990, 1001);
    cr_assert_eq(m.status, 304);
    cr_assert_eq(m.ttl, 0);
    cr_assert_eq(m.swr, 30);
}

/* The inflated twin of a gzip object: its times, lifetime, Vary values and soft purge; the
 * identity length as its length; no flags, no tags. */
Test(obj, new_inflated_takes_the_metadata)
{
    struct obj *o = obj_new("http://h/z", 10, 77, OBJ_F_GZIPPED), *t;
    struct obj_meta m, got;

    obj_meta_init(&m);
    m.status = 200;
    m.t_req = 10;
    m.t_resp = 11;
    m.date = 9;
    m.age_value = 1;
    m.ttl = 60;
    m.swr = 2;
    m.sie = 3;
    m.cc_flags = CC_PUBLIC;
    m.content_length = 4;
    m.vary = span_of("a\0b\0", 4);
    m.tags = span_of("t\0", 2);
    obj_set_meta(o, &m);
    obj_set_head(o, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n", 41);
    obj_append(o, "gzip", 4);
    obj_set_identity_len(o, 1234);
    obj_finish(o, OBJ_COMPLETE);
    obj_soft_purge(o, 20);

    t = obj_new_inflated(o);
    cr_assert_eq(obj_state(t), OBJ_BUSY);
    cr_assert_eq(obj_has_head(t), 0);
    cr_assert_eq(obj_key(t).len, 10);
    cr_assert_str_eq(obj_key(t).p, "http://h/z");
    cr_assert_eq(obj_hash(t), 77);
    cr_assert_eq(obj_purged_at(t), 20);
    obj_set_head(t, "HTTP/1.1 200 OK\r\n", 17);
    obj_get_meta(t, &got);
    cr_assert_eq(got.status, 200);
    cr_assert_eq(got.t_req, 10);
    cr_assert_eq(got.t_resp, 11);
    cr_assert_eq(got.date, 9);
    cr_assert_eq(got.age_value, 1);
    cr_assert_eq(got.ttl, 60);
    cr_assert_eq(got.swr, 2);
    cr_assert_eq(got.sie, 3);
    cr_assert_eq(got.cc_flags, CC_PUBLIC);
    cr_assert_eq(got.content_length, 1234);
    cr_assert_eq(got.identity_len, OBJ_LEN_UNKNOWN);
    cr_assert_eq(got.flags, 0);
    cr_assert_eq(got.vary.len, 4);
    cr_assert(memcmp(got.vary.p, "a\0b\0", 4) == 0);
    cr_assert_neq(got.vary.p, o->vary, "a copy");
    cr_assert_eq(got.tags.len, 0);
    cr_assert_eq(obj_ttl(t), obj_ttl(o), "soft-purged alike");
    obj_unref(&t);
    obj_unref(&o);
}

/* The chunk holding body byte <off> of <o> and the offset of its first byte, from the chunk
 * list itself. */
static const struct obj_chunk *chunk_at(const struct obj *o, uint64_t off, uint64_t *start)
{
    const struct obj_chunk *c = o->first;

    *start = 0;
    while (c != NULL && off >= *start + c->cap) {
        *start += c->cap;
        c = c->next;
    }
    return c;
}

/* Checks that the <n> iovecs <iov> are body bytes [off, off + their total) of the pattern, one
 * chunk each, in chunk order: the first starts at <off> inside its chunk, each next one at the
 * start of the next chunk. Returns their total. */
static uint64_t check_iov(const struct obj *o, uint64_t off, const struct iovec *iov, unsigned n)
{
    uint64_t pos = off;

    for (unsigned i = 0; i < n; i++) {
        uint64_t start;
        const struct obj_chunk *c = chunk_at(o, pos, &start);
        const char *p = iov[i].iov_base;

        cr_assert_not_null(c);
        cr_assert_eq(p, c->data + (pos - start), "iovec %u starts at byte %llu in its chunk", i,
                     (unsigned long long)pos);
        cr_assert_gt(iov[i].iov_len, 0);
        cr_assert_leq(pos - start + iov[i].iov_len, c->cap, "iovec %u stays in its chunk", i);
        if (i + 1 < n)
            cr_assert_eq(pos - start + iov[i].iov_len, c->cap, "only the last may stop early");
        for (size_t k = 0; k < iov[i].iov_len; k++)
            cr_assert_eq(p[k], pat(pos + k), "byte %llu", (unsigned long long)(pos + k));
        pos += iov[i].iov_len;
    }
    return pos - off;
}

/* How many chunks bytes [off, end) touch. */
static unsigned chunks_in(const struct obj *o, uint64_t off, uint64_t end)
{
    uint64_t start;
    const struct obj_chunk *c = chunk_at(o, off, &start);
    unsigned n = 0;

    for (; c != NULL && start < end; c = c->next) {
        n++;
        start += c->cap;
    }
    return n;
}

/* An object whose body is the pattern appended in pieces of the sizes in <sizes>. */
static struct obj *mk_chunked(const size_t *sizes, size_t n, uint64_t *len)
{
    struct obj *o = mk("k");

    *len = 0;
    for (size_t i = 0; i < n; i++) {
        append_pat(o, *len, sizes[i]);
        *len += sizes[i];
    }
    return o;
}

static const size_t iov_sizes[] = {1000, OBJ_CHUNK_MIN,     5, 3 * OBJ_CHUNK_MIN + 7,
                                   1,    OBJ_CHUNK_MIN - 1, 2, 4099};

Test(obj, body_iov_from_any_offset_to_any_limit)
{
    uint64_t len, start;
    struct obj *o = mk_chunked(iov_sizes, countof(iov_sizes), &len);
    uint64_t offs[] = {0, 1, 999,     1000, OBJ_CHUNK_MIN - 1, OBJ_CHUNK_MIN, OBJ_CHUNK_MIN + 1, 0,
                       0, 0, len - 1, len};
    struct iovec iov[32];
    unsigned nchunks = chunks_in(o, 0, len);

    cr_assert_geq(nchunks, 4, "the body spans several chunks (%u)", nchunks);
    /* the first and the last chunk boundaries and the bytes around them, as offsets and as
     * limits (the first chunk holds OBJ_CHUNK_MIN bytes) */
    start = 0;
    for (const struct obj_chunk *c = o->first; c != NULL && c->next != NULL; c = c->next)
        start += c->cap;
    offs[7] = start - 1; /* around the start of the last chunk */
    offs[8] = start;
    offs[9] = start + 1;
    for (size_t i = 0; i < countof(offs); i++) {
        for (size_t j = 0; j < countof(offs); j++) {
            uint64_t off = offs[i], end = offs[j];
            unsigned n = obj_body_iov(o, NULL, off, end, iov, countof(iov));

            if (off >= end) {
                cr_assert_eq(n, 0, "[%llu, %llu): nothing", (unsigned long long)off,
                             (unsigned long long)end);
                continue;
            }
            cr_assert_eq(n, chunks_in(o, off, end), "[%llu, %llu): one iovec a chunk",
                         (unsigned long long)off, (unsigned long long)end);
            cr_assert_eq(check_iov(o, off, iov, n), end - off, "[%llu, %llu): every byte",
                         (unsigned long long)off, (unsigned long long)end);
        }
    }
    cr_assert_eq(obj_body_iov(o, NULL, 0, len, iov, 0), 0, "no room: nothing");
    obj_finish(o, OBJ_COMPLETE);
    cr_assert_eq(obj_body_iov(o, NULL, 0, len, iov, countof(iov)), nchunks);
    obj_unref(&o);

    o = mk("k");
    cr_assert_eq(obj_body_iov(o, NULL, 0, 0, iov, countof(iov)), 0, "an empty body");
    obj_unref(&o);
}

Test(obj, body_iov_stops_at_max_iovecs)
{
    uint64_t len;
    struct obj *o = mk_chunked(iov_sizes, countof(iov_sizes), &len);
    struct iovec iov[32];
    unsigned all = chunks_in(o, 1, len);

    for (unsigned max = 1; max <= all + 1; max++) {
        uint64_t off = 1, total = 0;
        unsigned calls = 0, n;

        while ((n = obj_body_iov(o, NULL, off, len, iov, max)) > 0) {
            uint64_t got;

            cr_assert_leq(n, max);
            if (off + (got = check_iov(o, off, iov, n)) < len)
                cr_assert_eq(n, max, "fewer than max only at the limit");
            off += got;
            total += got;
            calls++;
        }
        cr_assert_eq(total, len - 1, "max %u: every byte once", max);
        cr_assert_eq(calls, (all + max - 1) / max, "max %u: %u calls", max, calls);
    }
    obj_unref(&o);
}

/* A cursor changes nothing of what a walk gives; it stays at the chunk holding the offset, so
 * that a reader moving forward never walks the chunks before it again. */
Test(obj, body_iov_cursor_follows_the_reader)
{
    uint64_t len, start;
    struct obj *o = mk_chunked(iov_sizes, countof(iov_sizes), &len);
    struct iovec iov[4], ref[4];
    struct obj_cursor cur;
    static const size_t steps[] = {1, 999, 7, OBJ_CHUNK_MIN, 3, 2 * OBJ_CHUNK_MIN + 11, 1};
    uint64_t off = 0;

    obj_cursor_init(&cur);
    cr_assert_null(cur.ch);
    cr_assert_eq(obj_body_iov(o, &cur, 0, 0, iov, countof(iov)), 0);
    cr_assert_null(cur.ch, "an empty walk leaves it");
    for (size_t k = 0; off < len; k++) {
        unsigned n = obj_body_iov(o, &cur, off, len, iov, countof(iov));
        unsigned m = obj_body_iov(o, NULL, off, len, ref, countof(ref));

        cr_assert_eq(n, m);
        cr_assert(memcmp(iov, ref, n * sizeof(iov[0])) == 0, "the same iovecs at %llu",
                  (unsigned long long)off);
        cr_assert_eq(cur.ch, chunk_at(o, off, &start), "at the chunk holding byte %llu",
                     (unsigned long long)off);
        cr_assert_eq(cur.ch_start, start);
        off += steps[k % countof(steps)]; /* a partial write */
        if (off > len)
            off = len;
    }
    /* a cursor past the offset (a reader that went back) starts from the first chunk */
    cr_assert_gt(cur.ch_start, 0);
    cr_assert_eq(obj_body_iov(o, &cur, 0, 10, iov, 1), 1);
    cr_assert_eq(iov[0].iov_base, o->first->data);
    cr_assert_eq(cur.ch, o->first);
    obj_unref(&o);
}

/* A reader of a busy object walks up to what is published, and goes on from there as it grows:
 * into the room left in the last chunk, then into new chunks. */
Test(obj, body_iov_on_a_growing_object)
{
    static const size_t pieces[] = {10, 100, OBJ_CHUNK_MIN - 110, 1, 3 * OBJ_CHUNK_MIN, 5};
    struct obj *o = mk("k");
    struct obj_cursor cur;
    struct iovec iov[2];
    uint64_t pos = 0, have = 0;

    obj_cursor_init(&cur);
    obj_set_head(o, "HTTP/1.1 200 OK\r\n", 17);
    cr_assert_eq(obj_body_iov(o, &cur, 0, obj_avail(o), iov, countof(iov)), 0, "no body yet");
    for (size_t i = 0; i < countof(pieces); i++) {
        uint64_t avail;
        unsigned n;

        append_pat(o, have, pieces[i]);
        have += pieces[i];
        avail = obj_avail(o);
        cr_assert_eq(avail, have);
        /* read everything published, two iovecs at a time */
        while ((n = obj_body_iov(o, &cur, pos, avail, iov, countof(iov))) > 0)
            pos += check_iov(o, pos, iov, n);
        cr_assert_eq(pos, avail, "piece %zu: read up to what is there", i);
    }
    obj_finish(o, OBJ_COMPLETE);
    cr_assert_eq(obj_body_iov(o, &cur, pos, obj_avail(o), iov, countof(iov)), 0, "all read");
    obj_unref(&o);
}
