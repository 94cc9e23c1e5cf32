/* test_disk.c - the disk tier's storage engine: round trips, chunking, replace and delete,
 * persistence, eviction order and budget, a full map, prefix delete, a corrupt file, a second
 * opener. Each test works in its own fresh directory under /tmp, removed afterwards. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <lmdb.h> /* only to damage the file behind the module's back */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel/disk.h"

static char dir[64];
static char path[128];
static char err[512];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/accel-disk-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/cache.mdb", dir);
}

static void teardown(void)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(disk, .init = setup, .fini = teardown);

static struct disk *open_ok(uint64_t map)
{
    struct disk *d = NULL;
    int rc = disk_open(path, map, &d, err, sizeof(err));

    cr_assert_eq(rc, 0, "disk_open: %d %s", rc, err);
    cr_assert_not_null(d);
    return d;
}

/* <n> bytes of a pattern that depends on <seed>, so misplaced chunks show. */
static char *pattern(size_t n, unsigned seed)
{
    char *p = malloc(n ? n : 1);

    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 31 + seed + i / 4096) & 0xff);
    return p;
}

static void put_str(struct disk *d, const char *k, const char *v)
{
    int rc = disk_put(d, k, strlen(k), v, strlen(v));

    cr_assert_eq(rc, 0, "put %s: %d", k, rc);
}

static void expect(struct disk *d, const char *k, const void *v, size_t len)
{
    struct buf b = {0};
    int rc = disk_get(d, k, strlen(k), &b);

    cr_assert_eq(rc, 0, "get %s: %d", k, rc);
    cr_assert_eq(buf_pending(&b), len, "get %s: %zu bytes, want %zu", k, buf_pending(&b), len);
    cr_assert(len == 0 || memcmp(b.p, v, len) == 0, "get %s: bytes differ", k);
    buf_free(&b);
}

static void expect_missing(struct disk *d, const char *k)
{
    struct buf b = {0};

    cr_assert_eq(disk_get(d, k, strlen(k), &b), -ENOENT, "%s should be absent", k);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

static uint64_t entries(struct disk *d)
{
    struct disk_stats st;

    cr_assert_eq(disk_stats(d, &st), 0);
    return st.entries;
}

Test(disk, round_trip_small_empty_and_chunked)
{
    struct disk *d = open_ok(64u << 20);
    size_t big = 3u << 20; /* 6 chunks */
    char *p = pattern(big, 7);
    char *q = pattern(DISK_CHUNK, 9); /* exactly one chunk: stored inline */
    char *r = pattern(DISK_CHUNK + 1, 11);

    cr_assert_eq(disk_was_reset(d), 0);
    put_str(d, "http://a/small", "hello");
    cr_assert_eq(disk_put(d, "http://a/empty", 14, "", 0), 0);
    cr_assert_eq(disk_put(d, "http://a/big", 12, p, big), 0);
    cr_assert_eq(disk_put(d, "http://a/one", 12, q, DISK_CHUNK), 0);
    cr_assert_eq(disk_put(d, "http://a/two", 12, r, DISK_CHUNK + 1), 0);
    expect(d, "http://a/small", "hello", 5);
    expect(d, "http://a/empty", "", 0);
    expect(d, "http://a/big", p, big);
    expect(d, "http://a/one", q, DISK_CHUNK);
    expect(d, "http://a/two", r, DISK_CHUNK + 1);
    expect_missing(d, "http://a/nope");
    expect_missing(d, "http://a/bi"); /* a prefix of a key is not the key */
    cr_assert_eq(entries(d), 5);

    /* get appends */
    struct buf b = {0};
    buf_append(&b, "xy", 2);
    cr_assert_eq(disk_get(d, "http://a/small", 14, &b), 0);
    cr_assert_eq(buf_pending(&b), 7);
    cr_assert(memcmp(b.p, "xyhello", 7) == 0);
    buf_free(&b);
    free(p);
    free(q);
    free(r);
    disk_close(&d);
    cr_assert_null(d);
    disk_close(&d);
}

Test(disk, bad_keys)
{
    struct disk *d = open_ok(8u << 20);
    char longkey[2048];
    struct buf b = {0};

    memset(longkey, 'k', sizeof(longkey));
    cr_assert_eq(disk_put(d, longkey, sizeof(longkey), "v", 1), -ENAMETOOLONG);
    cr_assert_eq(disk_put(d, longkey, 506, "v", 1), -ENAMETOOLONG); /* 511 less the suffix */
    cr_assert_eq(disk_put(d, longkey, 505, "v", 1), 0);
    cr_assert_eq(disk_put(d, "a\0b", 3, "v", 1), -EINVAL);
    cr_assert_eq(disk_put(d, "", 0, "v", 1), -EINVAL);
    cr_assert_eq(disk_get(d, "", 0, &b), -ENOENT);
    cr_assert_eq(disk_del(d, "", 0), -ENOENT);
    disk_close(&d);
}

Test(disk, replace_and_delete)
{
    struct disk *d = open_ok(64u << 20);
    size_t big = (2u << 20) + 5;
    char *p = pattern(big, 3);

    cr_assert_eq(disk_put(d, "k1", 2, p, big), 0);
    put_str(d, "k2", "two");
    put_str(d, "k1", "small now"); /* chunked -> inline: the chunks go */
    expect(d, "k1", "small now", 9);
    cr_assert_eq(entries(d), 2);
    cr_assert_eq(disk_put(d, "k2", 2, p, big), 0); /* inline -> chunked */
    expect(d, "k2", p, big);
    cr_assert_eq(entries(d), 2);

    cr_assert_eq(disk_del(d, "k2", 2), 0);
    expect_missing(d, "k2");
    cr_assert_eq(disk_del(d, "k2", 2), -ENOENT);
    cr_assert_eq(disk_del(d, "nope", 4), -ENOENT);
    cr_assert_eq(entries(d), 1);
    /* no chunk of k2 is left behind: everything left is k1 */
    cr_assert_eq(disk_del_prefix(d, "", 0), 1);
    cr_assert_eq(entries(d), 0);
    free(p);
    disk_close(&d);
}

Test(disk, persists_across_close_and_open)
{
    struct disk *d = open_ok(64u << 20);
    size_t big = 1500000;
    char *p = pattern(big, 5);

    put_str(d, "http://h/a", "alpha");
    cr_assert_eq(disk_put(d, "http://h/big", 12, p, big), 0);
    disk_close(&d);
    d = open_ok(64u << 20);
    cr_assert_eq(disk_was_reset(d), 0);
    expect(d, "http://h/a", "alpha", 5);
    expect(d, "http://h/big", p, big);
    cr_assert_eq(entries(d), 2);
    /* the sequence survives too: a new entry is newer than the old ones */
    put_str(d, "http://h/new", "n");
    cr_assert_eq(disk_evict(d, 0), 3);
    free(p);
    disk_close(&d);
}

Test(disk, evicts_oldest_first_to_the_target)
{
    struct disk *d = open_ok(64u << 20);
    struct disk_stats st0, st;
    char k[32], *p = pattern(20000, 1);
    int i;

    for (i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "key%03d", i);
        cr_assert_eq(disk_put(d, k, strlen(k), p, 20000), 0);
    }
    put_str(d, "key000", "touched"); /* replaced: now the newest */
    cr_assert_eq(disk_stats(d, &st0), 0);
    cr_assert_eq(st0.entries, 100);
    cr_assert_eq(disk_evict(d, st0.used), 0); /* already there */

    uint64_t n = disk_evict(d, st0.used / 2);
    cr_assert_gt(n, 30);
    cr_assert_lt(n, 70);
    cr_assert_eq(disk_stats(d, &st), 0);
    cr_assert_leq(st.used, st0.used / 2);
    cr_assert_eq(st.entries, 100 - n);
    /* the oldest went: key001..key<n>; key000 was refreshed and stays */
    for (i = 1; i <= (int)n; i++) {
        snprintf(k, sizeof(k), "key%03d", i);
        expect_missing(d, k);
    }
    for (; i < 100; i++) {
        snprintf(k, sizeof(k), "key%03d", i);
        expect(d, k, p, 20000);
    }
    expect(d, "key000", "touched", 7);
    cr_assert_eq(disk_evict(d, 0), 100 - n);
    cr_assert_eq(entries(d), 0);
    free(p);
    disk_close(&d);
}

Test(disk, small_map_keeps_taking_puts)
{
    uint64_t map = 1u << 20;
    struct disk *d = open_ok(map);
    struct disk_stats st;
    struct stat sb;
    char k[32];
    char *p = pattern(40000, 2);
    int i;

    for (i = 0; i < 2000; i++) {
        size_t len = 1000 + (size_t)(i * 7919) % 39000;

        snprintf(k, sizeof(k), "http://small/%d", i);
        cr_assert_eq(disk_put(d, k, strlen(k), p, len), 0, "put %d failed", i);
        if (i % 100 == 0) {
            expect(d, k, p, len);
            cr_assert_eq(stat(path, &sb), 0);
            cr_assert_leq((uint64_t)sb.st_size, map);
        }
    }
    cr_assert_eq(disk_stats(d, &st), 0);
    cr_assert_gt(st.entries, 0);
    cr_assert_lt(st.entries, 2000);
    cr_assert_leq(st.used, map);
    cr_assert_eq(st.map_size, map);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_leq((uint64_t)sb.st_size, map);
    /* the newest is there, the first is long gone */
    snprintf(k, sizeof(k), "http://small/%d", 1999);
    expect(d, k, p, 1000 + (size_t)(1999 * 7919) % 39000);
    expect_missing(d, "http://small/0");
    /* a blob larger than the map cannot fit */
    char *huge = pattern(2u << 20, 4);
    cr_assert_eq(disk_put(d, "huge", 4, huge, 2u << 20), -EFBIG);
    free(huge);
    free(p);
    disk_close(&d);
}

Test(disk, small_map_takes_large_blobs)
{
    uint64_t map = 1u << 20;
    struct disk *d = open_ok(map);
    size_t sizes[] = {450000, 10, 300000, 520000, 200000, 1000, 400000, 90000};
    char *p = pattern(900000, 12);
    struct stat sb;
    char k[32];
    int rc;

    for (int i = 0; i < 160; i++) {
        size_t len = sizes[i % countof(sizes)];

        snprintf(k, sizeof(k), "big/%d", i);
        cr_assert_eq(disk_put(d, k, strlen(k), p, len), 0, "put %d (%zu bytes)", i, len);
        expect(d, k, p, len);
    }
    /* a blob near the map size may not find room (free space is fragmented): it fails
     * cleanly, and the store keeps taking puts afterwards */
    rc = disk_put(d, "near", 4, p, 880000);
    cr_assert(rc == 0 || rc == -EFBIG, "rc %d", rc);
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof(k), "after/%d", i);
        cr_assert_eq(disk_put(d, k, strlen(k), p, 100000), 0, "put after %d", i);
    }
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_leq((uint64_t)sb.st_size, map);
    free(p);
    disk_close(&d);
}

Test(disk, deletes_by_prefix)
{
    struct disk *d = open_ok(64u << 20);
    size_t big = 1200000;
    char *p = pattern(big, 8);

    put_str(d, "http://a.com/x", "1");
    put_str(d, "http://a.com/y/z", "2");
    cr_assert_eq(disk_put(d, "http://a.com/big", 16, p, big), 0);
    put_str(d, "http://a.co", "3");
    put_str(d, "http://a.com", "4"); /* equal to the prefix: starts with it */
    put_str(d, "http://b.com/x", "5");
    put_str(d, "http://a.comz", "6");
    cr_assert_eq(disk_del_prefix(d, "http://a.com/", 13), 3);
    expect_missing(d, "http://a.com/x");
    expect_missing(d, "http://a.com/y/z");
    expect_missing(d, "http://a.com/big");
    expect(d, "http://a.co", "3", 1);
    expect(d, "http://a.com", "4", 1);
    expect(d, "http://b.com/x", "5", 1);
    expect(d, "http://a.comz", "6", 1);
    cr_assert_eq(entries(d), 4);
    cr_assert_eq(disk_del_prefix(d, "http://a.com", 12), 2);
    cr_assert_eq(disk_del_prefix(d, "zzz", 3), 0);
    cr_assert_eq(entries(d), 2);
    /* order records went with them: evicting everything counts only what is left */
    cr_assert_eq(disk_evict(d, 0), 2);
    free(p);
    disk_close(&d);
}

static int count_aside(void)
{
    char cmd[256];
    FILE *f;
    int n = 0;

    snprintf(cmd, sizeof(cmd), "ls %s | grep -c '^cache.mdb.corrupt-'", dir);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    if (fscanf(f, "%d", &n) != 1)
        n = -1;
    pclose(f);
    return n;
}

Test(disk, corrupt_file_is_moved_aside)
{
    struct disk *d = NULL;
    FILE *f = fopen(path, "w");
    char junk[65536];

    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 131 + 17);
    fwrite(junk, 1, sizeof(junk), f);
    fclose(f);
    cr_assert_eq(disk_open(path, 8u << 20, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(disk_was_reset(d), 1);
    cr_assert_not_null(strstr(err, "moved aside"), "%s", err);
    cr_assert_not_null(strstr(err, ".corrupt-"), "%s", err);
    cr_assert_eq(count_aside(), 1);
    put_str(d, "k", "usable");
    expect(d, "k", "usable", 6);
    disk_close(&d);
    d = open_ok(8u << 20);
    cr_assert_eq(disk_was_reset(d), 0);
    expect(d, "k", "usable", 6);
    disk_close(&d);
}

Test(disk, short_garbage_is_moved_aside)
{
    struct disk *d = NULL;
    FILE *f = fopen(path, "w");

    fputs("not a database", f);
    fclose(f);
    cr_assert_eq(disk_open(path, 8u << 20, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(disk_was_reset(d), 1);
    cr_assert_eq(count_aside(), 1);
    put_str(d, "k", "v");
    expect(d, "k", "v", 1);
    disk_close(&d);
}

Test(disk, unreadable_directory_is_an_error)
{
    struct disk *d = NULL;
    char p2[160];

    if (geteuid() == 0)
        cr_skip_test("root ignores permissions");
    snprintf(p2, sizeof(p2), "%s/ro/cache.mdb", dir);
    snprintf(path, sizeof(path), "%s/ro", dir);
    cr_assert_eq(mkdir(path, 0555), 0);
    cr_assert_eq(disk_open(p2, 8u << 20, &d, err, sizeof(err)), -EACCES, "%s", err);
    cr_assert_null(d);
    cr_assert_neq(err[0], '\0');
    chmod(path, 0755);
}

Test(disk, second_open_is_refused)
{
    struct disk *d = open_ok(8u << 20), *d2 = NULL;
    char want[64];
    pid_t pid;
    int status;

    put_str(d, "k", "v");
    snprintf(want, sizeof(want), "in use by process %ld", (long)getpid());
    cr_assert_eq(disk_open(path, 8u << 20, &d2, err, sizeof(err)), -EBUSY);
    cr_assert_null(d2);
    cr_assert_not_null(strstr(err, want), "%s", err);
    cr_assert_not_null(strstr(err, path), "%s", err);

    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct disk *c = NULL;
        char cerr[512];
        int rc = disk_open(path, 8u << 20, &c, cerr, sizeof(cerr));

        _exit(rc == -EBUSY && strstr(cerr, want) != NULL ? 0 : 1);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* the first store is undisturbed, and once closed the file is free again */
    expect(d, "k", "v", 1);
    disk_close(&d);
    d = open_ok(8u << 20);
    expect(d, "k", "v", 1);
    disk_close(&d);
}

Test(disk, missing_directory_is_an_error)
{
    struct disk *d = NULL;
    char p2[160];

    snprintf(p2, sizeof(p2), "%s/nodir/cache.mdb", dir);
    cr_assert_eq(disk_open(p2, 8u << 20, &d, err, sizeof(err)), -ENOENT, "%s", err);
    cr_assert_null(d);
    cr_assert_not_null(strstr(err, "nodir"), "%s", err);
}

struct reader {
    struct disk *d;
    _Atomic int *stop;
    char *p;
    int bad;
    long gets;
};

/* Reads keys r/0..r/49 until told to stop: each is absent or whole, never torn. */
static void *reader_run(void *arg)
{
    struct reader *r = arg;
    struct buf b = {0};
    char k[32];

    for (unsigned i = 0; !*r->stop; i++) {
        size_t want = 600000 + (i % 50) * 1000;
        int rc;

        snprintf(k, sizeof(k), "r/%u", i % 50);
        b.len = b.off = 0;
        rc = disk_get(r->d, k, strlen(k), &b);
        if (rc == 0 && (b.len != want || memcmp(b.p, r->p, want) != 0))
            r->bad++;
        else if (rc != 0 && rc != -ENOENT)
            r->bad++;
        r->gets++;
    }
    buf_free(&b);
    return NULL;
}

Test(disk, readers_run_alongside_the_writer)
{
    struct disk *d = open_ok(64u << 20);
    _Atomic int stop = 0;
    struct reader rd[4];
    pthread_t th[4];
    char *p = pattern(700000, 13);
    char k[32];
    int failed = -1;

    for (int i = 0; i < 4; i++) {
        rd[i] = (struct reader){.d = d, .stop = &stop, .p = p};
        cr_assert_eq(pthread_create(&th[i], NULL, reader_run, &rd[i]), 0);
    }
    for (unsigned i = 0; i < 300 && failed < 0; i++) {
        snprintf(k, sizeof(k), "r/%u", i % 50);
        if (disk_put(d, k, strlen(k), p, 600000 + (i % 50) * 1000) != 0)
            failed = (int)i;
        if (i % 40 == 39)
            disk_evict(d, 4u << 20);
        if (i % 70 == 69)
            disk_del_prefix(d, "r/1", 3);
    }
    stop = 1;
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_join(th[i], NULL), 0);
    cr_assert_eq(failed, -1, "put %d failed", failed);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(rd[i].bad, 0);
        cr_assert_gt(rd[i].gets, 0);
    }
    free(p);
    disk_close(&d);
}

/* A value whose chunk record is gone is reported corrupt (the caller deletes it), not served.
 * The chunk is removed with LMDB directly, as a crash or a bug elsewhere could. */
Test(disk, missing_chunk_is_ebadmsg)
{
    struct disk *d = open_ok(64u << 20);
    size_t big = 3u << 20;
    char *p = pattern(big, 6);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char ck[32];
    struct buf b = {0};

    cr_assert_eq(disk_put(d, "http://c/big", 12, p, big), 0);
    disk_close(&d);

    /* remove chunk 2 behind the module's back */
    memcpy(ck, "http://c/big\0#\0\0\0\2", 18);
    MDB_val k = {.mv_size = 18, .mv_data = ck};
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
    cr_assert_eq(mdb_env_set_mapsize(env, 64u << 20), 0);
    cr_assert_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "objects", 0, &dbi), 0);
    cr_assert_eq(mdb_del(txn, dbi, &k, NULL), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    d = open_ok(64u << 20);
    buf_append(&b, "keep", 4);
    cr_assert_eq(disk_get(d, "http://c/big", 12, &b), -EBADMSG);
    cr_assert_eq(buf_pending(&b), 4); /* untouched on error */
    cr_assert_eq(disk_del(d, "http://c/big", 12), 0);
    expect_missing(d, "http://c/big");
    cr_assert_eq(entries(d), 0);
    cr_assert_eq(disk_del_prefix(d, "", 0), 0); /* no chunk left behind */
    buf_free(&b);
    free(p);
    disk_close(&d);
}

/* The writer's batches: several values in one transaction, and the one-by-one fallback when
 * one of them cannot fit. */
Test(disk, put_many_stores_a_batch_and_falls_back)
{
    struct disk *d = open_ok(8u << 20);
    struct disk_item it[10];
    char keys[10][32];
    char *vals[10];
    char *huge = pattern(16u << 20, 9);

    for (unsigned i = 0; i < 10; i++) {
        snprintf(keys[i], sizeof(keys[i]), "http://h/batch%u", i);
        vals[i] = pattern(1000 + i * 5000, i);
        it[i] = (struct disk_item){keys[i], strlen(keys[i]), vals[i], 1000 + i * 5000};
    }
    cr_assert_eq(disk_put_many(d, it, 10), 0);
    for (unsigned i = 0; i < 10; i++)
        expect(d, keys[i], vals[i], 1000 + i * 5000);
    /* item 3 is larger than the whole map: the others are still stored */
    it[3].blob = huge;
    it[3].len = 16u << 20;
    cr_assert_eq(disk_put_many(d, it, 10), -EFBIG);
    for (unsigned i = 0; i < 10; i++)
        if (i != 3)
            expect(d, keys[i], vals[i], 1000 + i * 5000);
    for (unsigned i = 0; i < 10; i++)
        free(vals[i]);
    free(huge);
    disk_close(&d);
}

static void put_tagged(struct disk *d, const char *k, const char *tags, size_t tags_len,
                       int64_t expires, size_t len)
{
    char *p = pattern(len, (unsigned)strlen(k));
    struct disk_item it = {.key = k,
                           .klen = strlen(k),
                           .blob = p,
                           .len = len,
                           .tags = tags,
                           .tags_len = tags_len,
                           .expires = expires};
    int rc = disk_put_item(d, &it);

    cr_assert_eq(rc, 0, "put %s: %d", k, rc);
    free(p);
}

static uint64_t tag_records(struct disk *d)
{
    struct disk_stats st;

    cr_assert_eq(disk_stats(d, &st), 0);
    return st.tag_records;
}

/* The tag index: a purge by tag removes exactly the entries carrying it, in one go, chunked or
 * not; other tags of those entries leave the index with them; replacing an entry replaces its
 * tags; and the index survives a reopen. */
Test(disk, tag_index_deletes_by_tag)
{
    static const char ab[] = "team-a\0product-1\0";
    static const char b[] = "product-1\0";
    static const char c[] = "team-c\0team-c\0"; /* a tag named twice is stored once */
    struct disk *d = open_ok(32u << 20);

    put_tagged(d, "http://h/1", ab, sizeof(ab) - 1, 0, 100);
    put_tagged(d, "http://h/2", b, sizeof(b) - 1, 0, 3 * DISK_CHUNK);
    put_tagged(d, "http://h/3", c, sizeof(c) - 1, 0, 100);
    put_str(d, "http://h/untagged", "v");
    cr_assert_eq(tag_records(d), 4);
    disk_close(&d);
    d = open_ok(32u << 20);

    cr_assert_eq(disk_del_tag(d, "nothing", 7), 0);
    cr_assert_eq(disk_del_tag(d, "product-1", 9), 2);
    expect_missing(d, "http://h/1");
    expect_missing(d, "http://h/2");
    cr_assert_eq(entries(d), 2);
    cr_assert_eq(tag_records(d), 1, "team-a went with http://h/1");
    cr_assert_eq(disk_del_tag(d, "team-a", 6), 0);

    /* http://h/3 rewritten without its tag: a purge of the old tag leaves it alone */
    put_str(d, "http://h/3", "new");
    cr_assert_eq(tag_records(d), 0);
    cr_assert_eq(disk_del_tag(d, "team-c", 6), 0);
    expect(d, "http://h/3", "new", 3);
    cr_assert_eq(disk_del_prefix(d, "", 0), 2);
    disk_close(&d);
}

Test(disk, bad_tag_lists_are_refused)
{
    struct disk *d = open_ok(8u << 20);
    char longtag[DISK_TAG_MAX + 2];
    struct disk_item it = {.key = "k", .klen = 1, .blob = "v", .len = 1};

    it.tags = "no-final-nul";
    it.tags_len = 12;
    cr_assert_eq(disk_put_item(d, &it), -EINVAL);
    memset(longtag, 't', sizeof(longtag));
    longtag[DISK_TAG_MAX + 1] = '\0';
    it.tags = longtag;
    it.tags_len = sizeof(longtag);
    cr_assert_eq(disk_put_item(d, &it), -EINVAL);
    longtag[DISK_TAG_MAX] = '\0';
    it.tags_len = DISK_TAG_MAX + 1;
    cr_assert_eq(disk_put_item(d, &it), 0);
    cr_assert_eq(entries(d), 1);
    cr_assert_eq(disk_del_tag(d, longtag, DISK_TAG_MAX), 1);
    cr_assert_eq(disk_del_tag(d, "a\0b", 3), 0);
    disk_close(&d);
}

/* Expiry: entries past their time go, soonest first and no more than asked; entries without a
 * time and later ones stay; a replaced entry's old time does not count. */
Test(disk, expire_removes_what_is_past_its_time)
{
    struct disk *d = open_ok(16u << 20);
    struct disk_stats st;

    put_tagged(d, "http://e/10", NULL, 0, 1010, 100);
    put_tagged(d, "http://e/20", "t\0", 2, 1020, 2 * DISK_CHUNK);
    put_tagged(d, "http://e/30", NULL, 0, 1030, 100);
    put_tagged(d, "http://e/never", NULL, 0, 0, 100);
    put_tagged(d, "http://e/moved", NULL, 0, 1005, 100);
    put_tagged(d, "http://e/moved", NULL, 0, 2000, 100); /* replaced: now expires later */
    cr_assert_eq(disk_stats(d, &st), 0);
    cr_assert_eq(st.expiry_records, 4);

    cr_assert_eq(disk_expire(d, 1000, 100), 0);
    cr_assert_eq(disk_expire(d, 1025, 1), 1);
    expect_missing(d, "http://e/10");
    cr_assert_eq(disk_expire(d, 1025, 100), 1);
    expect_missing(d, "http://e/20");
    cr_assert_eq(tag_records(d), 0);
    cr_assert_eq(entries(d), 3);
    cr_assert_eq(disk_expire(d, 1999, 100), 1);
    cr_assert_eq(entries(d), 2);
    cr_assert_eq(disk_stats(d, &st), 0);
    cr_assert_eq(st.expiry_records, 1);
    disk_close(&d);
}

struct family {
    char keys[8][64];
    size_t lens[8];
    int rcs[8];
    unsigned n;
};

static void collect(void *arg, const char *key, size_t klen, int rc, const void *blob, size_t len)
{
    struct family *f = arg;

    cr_assert_lt(f->n, 8);
    cr_assert_lt(klen, 64);
    memcpy(f->keys[f->n], key, klen);
    f->keys[f->n][klen] = '\0';
    f->lens[f->n] = len;
    f->rcs[f->n] = rc;
    cr_assert(rc != 0 || len == 0 || blob != NULL);
    f->n++;
}

/* A family is a key and its "<key> ..." variants: chunked ones reassembled, neighbours that
 * merely share the prefix left out, the count bounded. */
Test(disk, family_reads_a_key_and_its_variants)
{
    struct disk *d = open_ok(32u << 20);
    struct family f = {0};
    char *big = pattern(3 * DISK_CHUNK, 5);

    put_str(d, "http://f/a", "base");
    cr_assert_eq(disk_put(d, "http://f/a 01", 13, big, 3 * DISK_CHUNK), 0);
    put_str(d, "http://f/a 02", "v2");
    put_str(d, "http://f/ab", "neighbour");
    put_str(d, "http://f/a!", "neighbour");
    put_str(d, "http://f/b 01", "other");

    cr_assert_eq(disk_get_family(d, "http://f/a", 10, ' ', 8, collect, &f), 3);
    cr_assert_str_eq(f.keys[0], "http://f/a");
    cr_assert_eq(f.lens[0], 4);
    cr_assert_str_eq(f.keys[1], "http://f/a 01");
    cr_assert_eq(f.lens[1], 3 * DISK_CHUNK);
    cr_assert_str_eq(f.keys[2], "http://f/a 02");
    memset(&f, 0, sizeof(f));
    cr_assert_eq(disk_get_family(d, "http://f/a", 10, ' ', 2, collect, &f), 2);
    memset(&f, 0, sizeof(f));
    /* no base entry, variants only */
    cr_assert_eq(disk_get_family(d, "http://f/b", 10, ' ', 8, collect, &f), 1);
    cr_assert_str_eq(f.keys[0], "http://f/b 01");
    memset(&f, 0, sizeof(f));
    cr_assert_eq(disk_get_family(d, "http://f/c", 10, ' ', 8, collect, &f), 0);
    free(big);
    disk_close(&d);
}

/* Many reads in a row reuse reset transactions: far more reads than LMDB has reader slots. */
Test(disk, reads_reuse_their_transactions)
{
    struct disk *d = open_ok(8u << 20);
    struct disk_stats st;

    put_str(d, "http://r/1", "one");
    for (int i = 0; i < 5000; i++) {
        struct buf b = {0};

        cr_assert_eq(disk_get(d, "http://r/1", 10, &b), 0);
        buf_free(&b);
        cr_assert_eq(disk_stats(d, &st), 0);
    }
    disk_close(&d);
}

/* A file made with a larger budget keeps its size (LMDB files never shrink), but reopened with
 * a smaller budget, its data is kept within the new one. */
Test(disk, a_smaller_budget_applies_to_a_larger_file)
{
    struct disk *d = open_ok(64u << 20);
    struct disk_stats st;
    char *p = pattern(200000, 1);

    for (int i = 0; i < 150; i++) {
        char k[32];

        snprintf(k, sizeof(k), "http://s/%d", i);
        cr_assert_eq(disk_put(d, k, strlen(k), p, 200000), 0);
    }
    disk_close(&d);
    d = open_ok(8u << 20);
    cr_assert_eq(disk_stats(d, &st), 0);
    cr_assert_eq(st.map_size, 8u << 20);
    for (int i = 150; i < 250; i++) {
        char k[32];

        snprintf(k, sizeof(k), "http://s/%d", i);
        int rc = disk_put(d, k, strlen(k), p, 200000);
        cr_assert_eq(rc, 0, "put %d: %d", i, rc);
    }
    cr_assert_eq(disk_stats(d, &st), 0);
    cr_assert_leq(st.used, 8u << 20, "used %llu", (unsigned long long)st.used);
    expect(d, "http://s/249", p, 200000);
    free(p);
    disk_close(&d);
}
