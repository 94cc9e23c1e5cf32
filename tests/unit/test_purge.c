/* test_purge.c - purges at the engine level, across both tiers: by key, by prefix, everything;
 * hard and soft; objects being fetched when the purge comes are not stored afterwards. The disk
 * tier is a real LMDB file in a fresh directory; closing the cache drains its writer, so what
 * is on disk can be checked by reopening the file. Time is a parameter: nothing sleeps. */
#include <criterion/criterion.h>
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

/* Looks <key> up, expects a miss, and completes the new object fresh for 600 s. */
static void store(struct cache *c, const char *key)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
    struct obj *o;

    cr_assert_eq(look(c, key, T0, &o), CACHE_MISS, "%s", key);
    o->status = 200;
    o->t_req = o->t_resp = o->date = T0;
    o->ttl = 600;
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
    o->status = 200;
    o->t_req = o->t_resp = o->date = T0;
    o->ttl = 600;
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
