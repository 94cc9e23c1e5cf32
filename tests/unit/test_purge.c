/* test_purge.c - purges at the engine level, across both tiers: by key, by prefix, everything;
 * hard and soft; objects being fetched when the purge comes are not stored afterwards. The disk
 * tier is a real LMDB file in a fresh directory; closing the cache drains its writer, so what
 * is on disk can be checked by reopening the file. Time is a parameter: nothing sleeps. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "accel/cache.h"
#include "accel/disk.h"

#define T0 1795203449LL

static char dir[64], path[128];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/accel-purge-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/cache.mdb", dir);
}

static void teardown(void)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(purge, .init = setup, .fini = teardown);

static struct cache *mk(int with_disk)
{
    struct cache_conf cc = {.memory = 8u << 20, .shards = 4, .max_object_size = 1u << 20};
    char err[256];

    cc.policy.heuristic_max = 86400;
    cc.policy.heuristic_pct = 10;
    if (with_disk)
        cr_assert_eq(disk_open(path, 16u << 20, &cc.disk, err, sizeof(err)), 0, "%s", err);
    return cache_new(&cc);
}

static enum cache_res look(struct cache *c, const char *key, int64_t now, struct obj **o)
{
    struct cache_req r = {.key = {key, strlen(key), key_hash(key, strlen(key))},
                          .now = now,
                          .now_ms = (uint64_t)now * 1000u};

    policy_cc_init(&r.cc);
    return cache_lookup(c, &r, o, NULL);
}

/* What a fetch sets before the head: status 200, all times T0, lifetime <ttl>,
 * stale-if-error <sie>, Vary values and tags (<vary>, <tags>: NULL and 0 when none). */
static void set_meta(struct obj *o, int64_t ttl, int64_t sie, const char *vary, size_t vary_len,
                     const char *tags, size_t tags_len)
{
    struct obj_meta m;

    obj_meta_init(&m);
    m.status = 200;
    m.t_req = m.t_resp = m.date = T0;
    m.ttl = ttl;
    m.sie = sie;
    m.vary = span_of(vary, vary_len);
    m.tags = span_of(tags, tags_len);
    obj_set_meta(o, &m);
}

/* Looks <key> up, expects a miss, and completes the new object fresh for 600 s. */
static void store(struct cache *c, const char *key)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
    struct obj *o;

    cr_assert_eq(look(c, key, T0, &o), CACHE_MISS, "%s", key);
    set_meta(o, 600, 0, NULL, 0, NULL, 0);
    obj_set_head(o, head, sizeof(head) - 1);
    obj_append(o, key, strlen(key));
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(c, o);
    obj_unref(&o);
}

static int hit(struct cache *c, const char *key, int64_t now)
{
    struct obj *o;
    enum cache_res r = look(c, key, now, &o);

    if (r == CACHE_MISS) {
        /* a busy object was made for us: fail it, the test stores nothing more */
        cache_remove(c, o);
        obj_finish(o, OBJ_FAILED);
    }
    obj_unref(&o);
    return r == CACHE_HIT;
}

static int on_disk(const char *key)
{
    struct disk *d;
    struct buf b = {0};
    char err[256];
    int rc;

    cr_assert_eq(disk_open(path, 16u << 20, &d, err, sizeof(err)), 0, "%s", err);
    rc = disk_get(d, key, strlen(key), &b);
    buf_free(&b);
    disk_close(&d);
    return rc == 0;
}

Test(purge, hard_by_key_prefix_and_all_in_memory)
{
    struct cache *c = mk(0);

    store(c, "http://a/x/1");
    store(c, "http://a/x/2");
    store(c, "http://a/y/1");
    store(c, "http://b/x/1");
    cr_assert_eq(cache_purge(c, CACHE_PURGE_KEY, "http://a/x/1", 12, 0, T0), 1);
    cr_assert_not(hit(c, "http://a/x/1", T0 + 1));
    cr_assert(hit(c, "http://a/x/2", T0 + 1));
    cr_assert_eq(cache_purge(c, CACHE_PURGE_PREFIX, "http://a/", 9, 0, T0), 2);
    cr_assert_not(hit(c, "http://a/x/2", T0 + 1));
    cr_assert_not(hit(c, "http://a/y/1", T0 + 1));
    cr_assert(hit(c, "http://b/x/1", T0 + 1));
    cr_assert_eq(cache_purge(c, CACHE_PURGE_ALL, NULL, 0, 0, T0), 1);
    cr_assert_not(hit(c, "http://b/x/1", T0 + 1));
    cache_free(&c);
}

Test(purge, soft_keeps_a_stale_copy_to_revalidate)
{
    struct cache *c = mk(0);
    struct cache_req r = {.key = {"http://s/1", 10, key_hash("http://s/1", 10)},
                          .now = T0 + 5,
                          .now_ms = (uint64_t)(T0 + 5) * 1000u};
    struct obj *o, *stale;

    store(c, "http://s/1");
    cr_assert(hit(c, "http://s/1", T0 + 1));
    cr_assert_eq(cache_purge(c, CACHE_PURGE_PREFIX, "http://s/", 9, 1, T0 + 2), 1);
    policy_cc_init(&r.cc);
    cr_assert_eq(cache_lookup(c, &r, &o, &stale), CACHE_MISS, "a soft-purged object is stale");
    cr_assert_not_null(stale, "the soft-purged copy is kept for revalidation and grace");
    cr_assert_eq(obj_ttl(stale), 2, "stale from the purge on (age 2 at the purge)");
    cache_remove(c, o);
    obj_finish(o, OBJ_FAILED);
    obj_unref(&o);
    obj_unref(&stale);
    cache_free(&c);
}

Test(purge, a_fetch_in_progress_is_not_stored_afterwards)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n";
    struct cache *c = mk(1);
    struct obj *o;

    cr_assert_eq(look(c, "http://f/1", T0, &o), CACHE_MISS);
    cr_assert_eq(cache_purge(c, CACHE_PURGE_KEY, "http://f/1", 10, 0, T0), 1);
    set_meta(o, 600, 0, NULL, 0, NULL, 0);
    obj_set_head(o, head, sizeof(head) - 1);
    obj_append(o, "late", 4);
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(c, o);
    obj_unref(&o);
    cr_assert_not(hit(c, "http://f/1", T0 + 1), "a purged fetch was stored in memory");
    cache_free(&c);
    cr_assert_not(on_disk("http://f/1"), "a purged fetch was written to disk");
}

Test(purge, reaches_the_disk_tier)
{
    struct cache *c = mk(1);

    store(c, "http://d/keep");
    store(c, "http://d/x/1");
    store(c, "http://d/x/2");
    store(c, "http://e/1");
    cache_free(&c); /* drains the writer */
    cr_assert(on_disk("http://d/x/1"));
    cr_assert(on_disk("http://e/1"));

    c = mk(1);
    /* promoted from disk: the restart is warm */
    cr_assert(hit(c, "http://d/x/1", T0 + 1));
    cr_assert_eq(cache_purge(c, CACHE_PURGE_PREFIX, "http://d/x/", 11, 1, T0 + 2), 1);
    cr_assert_eq(cache_purge(c, CACHE_PURGE_KEY, "http://e/1", 10, 0, T0 + 2), 0,
                 "http://e/1 was only on disk");
    cache_free(&c);
    cr_assert(on_disk("http://d/keep"));
    cr_assert_not(on_disk("http://d/x/1"), "a soft purge leaves nothing fresh on disk");
    cr_assert_not(on_disk("http://d/x/2"), "a prefix purge reaches keys only on disk");
    cr_assert_not(on_disk("http://e/1"), "a key purge reaches the disk");

    c = mk(1);
    cache_purge(c, CACHE_PURGE_ALL, NULL, 0, 0, T0 + 3);
    cache_free(&c);
    cr_assert_not(on_disk("http://d/keep"));
}

/* Stores <key> fresh for <ttl> s at T0 with head <head>, for a request with fields <f>; when
 * <vary> is not NULL, the response varies on it. */
static void store_full(struct cache *c, const char *key, const char *head, int64_t ttl,
                       const struct field *f, unsigned nf, const char *vary, const char *body)
{
    struct cache_req r = {.key = {key, strlen(key), key_hash(key, strlen(key))},
                          .fields = f,
                          .n_fields = nf,
                          .now = T0,
                          .now_ms = (uint64_t)T0 * 1000u};
    struct obj *o;
    char *vary_list = NULL, *tags;
    size_t vary_len = 0, tags_len;

    policy_cc_init(&r.cc);
    cr_assert_eq(cache_lookup(c, &r, &o, NULL), CACHE_MISS, "%s", key);
    if (vary != NULL)
        vary_len = cache_vary_build(span_of(vary, strlen(vary)), f, nf, &vary_list);
    {
        /* as the server does: tags from the response's fields, before the head is out */
        struct field hf[16];
        unsigned nh = obj_split_fields(head, strlen(head), hf, 16);

        tags_len = cache_tags_build(hf, nh, &tags);
    }
    set_meta(o, ttl, 0, vary_list, vary_len, tags, tags_len);
    free(vary_list);
    free(tags);
    obj_set_head(o, head, strlen(head));
    obj_append(o, body, strlen(body));
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(c, o);
    obj_unref(&o);
}

/* Looks <key> up for a request with fields <f> at <now>; on a hit, checks the body. */
static int hit_body(struct cache *c, const char *key, const struct field *f, unsigned nf,
                    int64_t now, const char *body)
{
    struct cache_req r = {.key = {key, strlen(key), key_hash(key, strlen(key))},
                          .fields = f,
                          .n_fields = nf,
                          .now = now,
                          .now_ms = (uint64_t)now * 1000u};
    struct obj *o;
    enum cache_res res;

    policy_cc_init(&r.cc);
    res = cache_lookup(c, &r, &o, NULL);
    if (res == CACHE_MISS) {
        cache_remove(c, o);
        obj_finish(o, OBJ_FAILED);
    } else if (res == CACHE_HIT) {
        struct iovec iov[1];

        cr_assert_eq(obj_avail(o), strlen(body));
        cr_assert_eq(obj_body_iov(o, NULL, 0, obj_avail(o), iov, 1), 1, "%s: one chunk", key);
        cr_assert(memcmp(iov[0].iov_base, body, strlen(body)) == 0, "%s: wrong body", key);
    }
    obj_unref(&o);
    return res == CACHE_HIT;
}

static const char tagged_ab[] = "HTTP/1.1 200 OK\r\nSurrogate-Key: team-a  product-7\r\n";
static const char tagged_b[] = "HTTP/1.1 200 OK\r\nCache-Tag: product-7,other\r\n";
static const char tagged_c[] = "HTTP/1.1 200 OK\r\nSurrogate-Key: team-c\r\n"
                               "Surrogate-Key: product-8\r\n";

Test(purge, by_tag_in_both_tiers)
{
    struct cache *c = mk(1);
    int64_t dn;

    store_full(c, "http://t/1", tagged_ab, 600, NULL, 0, NULL, "one");
    store_full(c, "http://t/2", tagged_b, 600, NULL, 0, NULL, "two");
    store_full(c, "http://t/3", tagged_c, 600, NULL, 0, NULL, "three");
    store(c, "http://t/plain");
    cache_free(&c);
    c = mk(1);
    cr_assert(hit(c, "http://t/1", T0 + 1)); /* in memory again; http://t/2 only on disk */
    cr_assert_eq(cache_purge(c, CACHE_PURGE_TAG, "product", 7, 0, T0 + 2), 0, "whole tags only");
    /* waiting for the disk side: a lookup racing the disk delete may give up its promotion (a
     * miss it would have to refetch), which is not what this test is about */
    cr_assert_eq(cache_purge_wait(c, CACHE_PURGE_TAG, "product-7", 9, 0, T0 + 2, 5000, &dn), 1);
    cr_assert_not(hit(c, "http://t/1", T0 + 3));
    cr_assert_not(hit(c, "http://t/2", T0 + 3), "the disk-only copy was purged too");
    cr_assert(hit(c, "http://t/3", T0 + 3));
    cr_assert_eq(cache_purge(c, CACHE_PURGE_TAG, "product-8", 9, 0, T0 + 4), 1,
                 "a second Surrogate-Key field counts");
    cr_assert_eq(cache_purge(c, CACHE_PURGE_TAG, "", 0, 0, T0 + 4), 0);
    cache_free(&c);
    cr_assert_not(on_disk("http://t/1"));
    cr_assert_not(on_disk("http://t/2"));
    cr_assert_not(on_disk("http://t/3"));
    cr_assert(on_disk("http://t/plain"));
}

Test(purge, soft_by_tag_keeps_memory_stale_and_clears_disk)
{
    struct cache *c = mk(1);
    struct cache_req r = {.key = {"http://t/1", 10, key_hash("http://t/1", 10)},
                          .now = T0 + 5,
                          .now_ms = (uint64_t)(T0 + 5) * 1000u};
    struct obj *o, *stale;

    store_full(c, "http://t/1", tagged_ab, 600, NULL, 0, NULL, "one");
    cr_assert_eq(cache_purge(c, CACHE_PURGE_TAG, "team-a", 6, 1, T0 + 2), 1);
    policy_cc_init(&r.cc);
    cr_assert_eq(cache_lookup(c, &r, &o, &stale), CACHE_MISS);
    cr_assert_not_null(stale);
    cache_remove(c, o);
    obj_finish(o, OBJ_FAILED);
    obj_unref(&o);
    obj_unref(&stale);
    cache_free(&c);
    cr_assert_not(on_disk("http://t/1"));
}

/* Vary variants go to disk under names of their own and come back, each to its own requests;
 * a key purge takes them all. */
Test(purge, variants_survive_a_restart)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nVary: Accept-Language\r\n";
    struct field en = {.name = {"Accept-Language", 15}, .value = {"en", 2}};
    struct field fr = {.name = {"Accept-Language", 15}, .value = {"fr", 2}};
    struct field de = {.name = {"Accept-Language", 15}, .value = {"de", 2}};
    struct cache *c = mk(1);

    store_full(c, "http://v/page", head, 600, &en, 1, "Accept-Language", "hello");
    store_full(c, "http://v/page", head, 600, &fr, 1, "Accept-Language", "bonjour");
    store(c, "http://v/pages"); /* a neighbour sharing the prefix */
    cr_assert(hit_body(c, "http://v/page", &fr, 1, T0 + 1, "bonjour"));
    cache_free(&c);

    c = mk(1);
    cr_assert(hit_body(c, "http://v/page", &fr, 1, T0 + 1, "bonjour"));
    cr_assert(hit_body(c, "http://v/page", &en, 1, T0 + 1, "hello"));
    cr_assert_not(hit_body(c, "http://v/page", &de, 1, T0 + 1, ""), "no such variant");
    cr_assert_eq(cache_purge(c, CACHE_PURGE_KEY, "http://v/page", 13, 0, T0 + 2), 2);
    cache_free(&c);

    c = mk(1);
    cr_assert_not(hit_body(c, "http://v/page", &en, 1, T0 + 3, "hello"));
    cr_assert_not(hit_body(c, "http://v/page", &fr, 1, T0 + 3, "bonjour"));
    cr_assert(hit(c, "http://v/pages", T0 + 3), "the neighbour is not a variant");
    cache_free(&c);
}

/* The writer removes from disk what nothing can use any more: past freshness and every stale
 * window (here stale-if-error 30 s). What is still useful stays. */
Test(purge, the_writer_expires_what_is_past_its_windows)
{
    struct cache *c = mk(1);
    struct obj *o;

    store_full(c, "http://x/short", "HTTP/1.1 200 OK\r\n", 10, NULL, 0, NULL, "s");
    cr_assert_eq(look(c, "http://x/sie", T0, &o), CACHE_MISS);
    set_meta(o, 10, 30, NULL, 0, NULL, 0);
    obj_set_head(o, "HTTP/1.1 200 OK\r\n", 17);
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(c, o);
    obj_unref(&o);
    store(c, "http://x/long");
    cache_free(&c);
    cr_assert(on_disk("http://x/short"));

    /* 20 s later: the short one is useless, the other within stale-if-error */
    c = mk(1);
    cr_assert_not(hit(c, "http://x/nothing", T0 + 20)); /* the clock moves */
    store(c, "http://x/trigger");                       /* the writer runs */
    cache_free(&c);
    cr_assert_not(on_disk("http://x/short"));
    cr_assert(on_disk("http://x/sie"));
    cr_assert(on_disk("http://x/long"));
}

Test(purge, by_regular_expression_in_both_tiers)
{
    struct cache *c = mk(1);
    int64_t dn;
    char err[128];

    store(c, "http://r/img/a.png");
    store(c, "http://r/img/b.jpg");
    store(c, "http://r/css/a.css");
    store(c, "http://s/img/c.png");
    cache_free(&c);
    c = mk(1);
    cr_assert(hit(c, "http://r/img/a.png", T0 + 1)); /* in memory; the others only on disk */
    cr_assert_eq(cache_regex_check("^http://r/img/.*\\.(png|jpg)$", err, sizeof err), 0);
    cr_assert_eq(cache_regex_check("(unclosed", err, sizeof err), -EINVAL);
    cr_assert_gt(strlen(err), 0);
    cr_assert_eq(cache_purge(c, CACHE_PURGE_REGEX, "(unclosed", 9, 0, T0 + 2), 0);
    cr_assert_eq(cache_purge_wait(c, CACHE_PURGE_REGEX, "^http://r/img/.*\\.(png|jpg)$", 29, 0,
                                  T0 + 2, 5000, &dn),
                 1);
    cr_assert_not(hit(c, "http://r/img/a.png", T0 + 3));
    cr_assert_not(hit(c, "http://r/img/b.jpg", T0 + 3), "the disk-only copy was purged too");
    cr_assert(hit(c, "http://r/css/a.css", T0 + 3));
    cr_assert(hit(c, "http://s/img/c.png", T0 + 3));
    cache_free(&c);
    cr_assert_not(on_disk("http://r/img/b.jpg"));
    cr_assert(on_disk("http://s/img/c.png"));
}

static void count_tiers(void *arg, const char *tier, const struct obj *o)
{
    unsigned *n = arg;

    cr_assert_eq(obj_status(o), 200);
    n[strcmp(tier, "memory") == 0 ? 0 : 1]++;
}

Test(purge, inspect_reports_both_tiers)
{
    struct cache *c = mk(1);
    struct key k = {"http://i/1", 10, key_hash("http://i/1", 10)};
    unsigned n[2] = {0, 0};

    store(c, "http://i/1");
    cache_free(&c);
    c = mk(1);
    cr_assert_eq(cache_inspect(c, &k, count_tiers, n), 1);
    cr_assert_eq(n[0], 0);
    cr_assert_eq(n[1], 1);
    cr_assert(hit(c, "http://i/1", T0 + 1));
    n[0] = n[1] = 0;
    cr_assert_eq(cache_inspect(c, &k, count_tiers, n), 2);
    cr_assert_eq(n[0], 1);
    cr_assert_eq(n[1], 1);
    cache_free(&c);
}

Test(purge, waiting_for_the_disk_counts_its_entries)
{
    struct cache *c = mk(1);
    int64_t disk_n = 0;

    store(c, "http://w/1");
    store(c, "http://w/2");
    store(c, "http://w/3");
    store(c, "http://x/1");
    cache_free(&c);
    c = mk(1);
    cr_assert(hit(c, "http://w/1", T0 + 1));
    cr_assert_eq(cache_purge_wait(c, CACHE_PURGE_PREFIX, "http://w/", 9, 0, T0 + 2, 5000, &disk_n),
                 1);
    cr_assert_eq(disk_n, 3, "disk entries purged: %lld", (long long)disk_n);
    cache_free(&c);

    c = mk(0);
    store(c, "http://m/1");
    cr_assert_eq(cache_purge_wait(c, CACHE_PURGE_ALL, NULL, 0, 0, T0 + 2, 5000, &disk_n), 1);
    cr_assert_eq(disk_n, -1, "no disk tier");
    cache_free(&c);
}
