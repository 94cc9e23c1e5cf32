/* test_obj.c - the refcounted streaming object: lifecycle, body chunks, head fields, wake-ups. */
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
