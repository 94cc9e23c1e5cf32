/* test_disk.c - the disk tier's storage engine: round trips, chunking, replace and delete,
 * persistence, eviction order and budget, a full map, prefix delete, a corrupt file, a second
 * opener; the check of an existing file, against files damaged page by page. Each test works in its
 * own fresh directory under /tmp, removed afterwards. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h> /* only to damage the file behind the module's back */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

    snprintf(cmd, sizeof(cmd), "ls %s | grep -c '^cache.mdb.damaged$'", dir);
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
    cr_assert_not_null(strstr(err, "cache.mdb.damaged"), "%s", err);
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
    cr_assert_not_null(strstr(err, "directory"), "names the directory: %s", err);
    cr_assert_null(strstr(err, ".pid"), "names the directory, not the pid file: %s", err);
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
    int failed = -1, full = 0, failed_rc = 0;

    for (int i = 0; i < 4; i++) {
        rd[i] = (struct reader){.d = d, .stop = &stop, .p = p};
        cr_assert_eq(pthread_create(&th[i], NULL, reader_run, &rd[i]), 0);
    }
    /* A reader that the scheduler stops inside its read keeps its snapshot's pages from being
     * reused, so on a busy machine a put may find no room even after its eviction: -EFBIG, the
     * store unchanged, as documented. Any other failure is a bug. */
    for (unsigned i = 0; i < 300 && failed < 0; i++) {
        int rc;

        snprintf(k, sizeof(k), "r/%u", i % 50);
        rc = disk_put(d, k, strlen(k), p, 600000 + (i % 50) * 1000);
        if (rc == -EFBIG)
            full++;
        else if (rc != 0) {
            failed = (int)i;
            failed_rc = rc;
        }
        if (i % 40 == 39)
            disk_evict(d, 4u << 20);
        if (i % 70 == 69)
            disk_del_prefix(d, "r/1", 3);
    }
    stop = 1;
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_join(th[i], NULL), 0);
    cr_assert_eq(failed, -1, "put %d failed: %s", failed, strerror(-failed_rc));
    cr_assert_lt(full, 150, "%d of 300 puts found no room", full);
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

/* A store with some of everything: inline and chunked blobs, tags, expiry times, deletes (free
 * pages), evictions; closed. <n> entries (about a tenth of them chunked). */
static void fill_mixed(uint64_t map, int n)
{
    struct disk *d = open_ok(map);
    char *p = pattern(400000, 3), k[64];

    for (int i = 0; i < n; i++) {
        struct disk_item it = {.key = k, .blob = p + i, .len = i % 10 == 0 ? 300000 : 300 + i * 13};

        snprintf(k, sizeof(k), "http://m/%d", i);
        it.klen = strlen(k);
        if (i % 3 == 0) {
            it.tags = i % 2 ? "odd\0three\0" : "even\0three\0";
            it.tags_len = 11;
        }
        if (i % 4 == 0)
            it.expires = 1000 + i;
        cr_assert_eq(disk_put_item(d, &it), 0, "put %d", i);
        if (i % 7 == 3) {
            snprintf(k, sizeof(k), "http://m/%d", i - 2);
            disk_del(d, k, strlen(k));
        }
    }
    disk_expire(d, 1010, 100);
    free(p);
    disk_close(&d);
}

static char *read_all(const char *file, size_t *len)
{
    struct stat sb;
    char *p;
    FILE *f = fopen(file, "r");

    cr_assert_not_null(f, "%s", file);
    cr_assert_eq(fstat(fileno(f), &sb), 0);
    p = malloc((size_t)sb.st_size + 1);
    *len = fread(p, 1, (size_t)sb.st_size, f);
    fclose(f);
    return p;
}

static void write_all(const char *file, const char *p, size_t len)
{
    FILE *f = fopen(file, "w");

    cr_assert_not_null(f, "%s", file);
    cr_assert_eq(fwrite(p, 1, len, f), len);
    fclose(f);
}

/* Deterministic noise: <n> bytes at <p> from <seed>. */
static void noise(char *p, size_t n, unsigned seed)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);

    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (char)x;
    }
}

/* Opens the store, which must work, then reads every key, writes, deletes, evicts and purges:
 * whatever the file held, nothing may crash (ASan watches) and a read gives the stored bytes
 * or an error. Returns 1 when disk_open() moved the file aside. */
static int open_and_use(uint64_t map, int n)
{
    struct disk *d = NULL;
    struct buf b = {0};
    char k[64], *p = pattern(400000, 3);
    int rc, reset;

    rc = disk_open(path, map, &d, err, sizeof(err));
    cr_assert_eq(rc, 0, "disk_open: %d %s", rc, err);
    reset = disk_was_reset(d);
    for (int i = 0; i < n; i++) {
        size_t want = i % 10 == 0 ? 300000 : 300 + (size_t)i * 13;

        snprintf(k, sizeof(k), "http://m/%d", i);
        b.len = b.off = 0;
        rc = disk_get(d, k, strlen(k), &b);
        /* the bytes of a damaged value page may come back: fmt_decode()'s checksum is
         * what catches those, one level up */
        cr_assert(rc == 0 || rc == -ENOENT || rc == -EBADMSG || rc == -EIO, "get %s: %d", k, rc);
        cr_assert(rc != 0 || !reset, "%s came back from an empty store", k);
        cr_assert(rc != 0 || buf_pending(&b) <= want, "get %s: %zu bytes", k, buf_pending(&b));
    }
    for (int i = 0; i < n; i += 20) {
        snprintf(k, sizeof(k), "http://n/%d", i);
        (void)disk_put(d, k, strlen(k), p, 2000 + (size_t)i * 100);
        snprintf(k, sizeof(k), "http://m/%d", i);
        (void)disk_del(d, k, strlen(k));
    }
    (void)disk_del_tag(d, "three", 5);
    (void)disk_expire(d, 2000, 1000);
    (void)disk_evict(d, 0);
    (void)disk_del_prefix(d, "", 0);
    put_str(d, "after", "works");
    expect(d, "after", "works", 5);
    buf_free(&b);
    free(p);
    disk_close(&d);
    return reset;
}

/* A healthy file, however it got there (chunks, tags, expiry, deletes, evictions and reopens),
 * passes the check: a false alarm would throw a good cache away. */
Test(disk, healthy_files_pass_the_check)
{
    char why[512];
    struct disk *d;
    char *p = pattern(300000, 9);

    fill_mixed(16u << 20, 300);
    cr_assert_eq(disk_check(path, 16u << 20, 10000, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(disk_check(path, 64u << 20, 10000, why, sizeof(why)), 0, "larger map: %s", why);
    d = open_ok(4u << 20); /* smaller budget: evicts on every put */
    for (int i = 0; i < 60; i++) {
        char k[32];

        snprintf(k, sizeof(k), "http://e/%d", i);
        cr_assert_eq(disk_put(d, k, strlen(k), p, 100000 + (size_t)i), 0);
    }
    /* the check does not trust a map it inherited: the parent has the file open here */
    cr_assert_eq(disk_check(path, 16u << 20, 10000, why, sizeof(why)), 0, "open: %s", why);
    disk_close(&d);
    cr_assert_eq(disk_check(path, 4u << 20, 10000, why, sizeof(why)), 0, "%s", why);
    d = open_ok(4u << 20);
    cr_assert_eq(disk_was_reset(d), 0);
    expect(d, "http://e/59", p, 100059);
    disk_close(&d);
    free(p);
    cr_assert_eq(disk_check(path, 4u << 20, 10000, why, sizeof(why)), 0, "%s", why);
    snprintf(path, sizeof(path), "%s/none.mdb", dir);
    cr_assert_eq(disk_check(path, 4u << 20, 10000, why, sizeof(why)), -ENOENT);
}

/* Marks in <is_free> the pages on the free list of the store at path, read with LMDB. */
static void free_pages(size_t npages, char *is_free)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int op = MDB_FIRST;

    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 6), 0);
    cr_assert_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_cursor_open(txn, 0, &cur), 0);
    for (; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
        const size_t *ids = v.mv_data;

        for (size_t i = 1; i <= ids[0]; i++) {
            cr_assert_lt(ids[i], npages);
            is_free[ids[i]] = 1;
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

/* Every live page of a store that starts a tree node or an overflow run (and a sample of the
 * others), in turn overwritten with noise, then zeroed:
 * disk_open() never fails and never crashes, and the store it gives works. The meta pages and
 * the pages of the trees are found damaged; noise on a free page is harmless. */
Test(disk, every_damaged_page_is_survived, .timeout = 300)
{
    size_t len, psize = 4096, npages, found = 0, tree = 0, crashed = 0;
    char *good, *bad, *must, *is_free;
    int reset;

    fill_mixed(8u << 20, 60);
    good = read_all(path, &len);
    npages = len / psize;
    cr_assert_gt(npages, 20);
    must = calloc(1, npages);
    is_free = calloc(1, npages);
    /* the pages that must be found: the metas and those a tree or an overflow run starts on
     * (their header names them), less the free pages, whose stale headers look alike */
    free_pages(npages, is_free);
    for (size_t pg = 0; pg < npages; pg++) {
        uint64_t no;
        uint16_t flags;

        memcpy(&no, good + pg * psize, 8);
        memcpy(&flags, good + pg * psize + 10, 2);
        must[pg] = no == pg && (flags & 0x0f) != 0 && !is_free[pg];
        tree += must[pg];
    }
    bad = malloc(len);
    for (int zero = 0; zero < 2; zero++) {
        for (size_t pg = 0; pg < npages; pg++) {
            /* every live page that starts something; a sample of the free pages and of the
             * overflow runs' data, which nothing reads before it is written anew */
            if (!must[pg] && (zero || pg % (is_free[pg] ? 4 : 16) != 0))
                continue;
            memcpy(bad, good, len);
            if (zero)
                memset(bad + pg * psize, 0, psize);
            else
                noise(bad + pg * psize, psize, (unsigned)pg);
            write_all(path, bad, len);
            reset = open_and_use(8u << 20, 60); /* err: what disk_open() said */
            found += reset;
            crashed += reset && strstr(err, "died of signal") != NULL;
            cr_assert(!must[pg] || reset, "damage to page %zu (%s) was not found", pg,
                      zero ? "zeroed" : "noise");
            cr_assert(pg >= 2 || reset, "damaged meta page %zu was not found", pg);
        }
    }
    /* those that killed the child would have killed the process */
    cr_log_info("%zu pages, %zu live ones named in their header, %zu damaged ones found, %zu of "
                "them by a crash of the check",
                npages, tree, found, crashed);
    free(must);
    free(is_free);
    free(good);
    free(bad);
}

/* Damage that LMDB itself does not survive: truncated files (to nothing, to an odd size, to
 * a page boundary short of the last page), noise over both meta pages, over several pages at
 * once, a meta page giving an absurd map size. */
Test(disk, truncated_and_widely_damaged_files_are_moved_aside)
{
    size_t len, psize = 4096;
    char *good, *bad, why[512];
    uint64_t huge = 1ull << 40, beyond;

    fill_mixed(8u << 20, 60);
    good = read_all(path, &len);
    bad = malloc(len);
    beyond = len / psize + 100;
    for (int kind = 0; kind < 7; kind++) {
        size_t blen = len;

        memcpy(bad, good, len);
        switch (kind) {
        case 0:
            blen = 0;
            break;
        case 1:
            blen = len / 2 + 1234;
            break;
        case 2:
            blen = len - psize;
            break;
        case 3:
            noise(bad, 2 * psize, 77);
            break;
        case 4:
            for (size_t pg = 2; pg < len / psize; pg += 3)
                noise(bad + pg * psize, psize, (unsigned)pg);
            break;
        case 5: /* mm_last_pg of both metas (after the magic, version, address, map size and
                 * two MDB_db): LMDB asks for an absurd map */
            memcpy(bad + 16 + 120, &huge, 8);
            memcpy(bad + psize + 16 + 120, &huge, 8);
            break;
        case 6: /* a last page past the end of the file */
            memcpy(bad + 16 + 120, &beyond, 8);
            memcpy(bad + psize + 16 + 120, &beyond, 8);
            break;
        }
        write_all(path, bad, blen);
        cr_assert_eq(disk_check(path, 8u << 20, 10000, why, sizeof(why)), -EBADMSG,
                     "damage %d was not found", kind);
        cr_assert_not_null(strstr(why, path), "damage %d: %s", kind, why);
        cr_assert_eq(open_and_use(8u << 20, 60), 1, "damage %d: not moved aside", kind);
        cr_assert_eq(count_aside(), 1, "damage %d", kind);
    }
    free(good);
    free(bad);
}

/* The lock file holds no data: noise over it, or a lock file cut to an odd size, loses nothing. */
Test(disk, a_damaged_lock_file_loses_nothing)
{
    char lock[160], junk[20000];
    struct disk *d = open_ok(8u << 20);

    put_str(d, "k", "kept");
    disk_close(&d);
    snprintf(lock, sizeof(lock), "%s-lock", path);
    noise(junk, sizeof(junk), 5);
    write_all(lock, junk, sizeof(junk));
    d = open_ok(8u << 20);
    expect(d, "k", "kept", 4);
    disk_close(&d);
    write_all(lock, junk, 777);
    d = open_ok(8u << 20);
    expect(d, "k", "kept", 4);
    disk_close(&d);
}

/* Each damaged file replaces the copy kept of the one before: one old copy at most, the newest,
 * with its lock file beside it. */
Test(disk, one_damaged_copy_is_kept)
{
    char name[200], *p;
    struct disk *d;
    size_t len;

    write_all(path, "first damaged file", 18);
    d = open_ok(8u << 20);
    disk_close(&d);
    write_all(path, "second damaged file", 19);
    d = open_ok(8u << 20);
    cr_assert_eq(disk_was_reset(d), 1);
    disk_close(&d);
    cr_assert_eq(count_aside(), 1);
    snprintf(name, sizeof(name), "%s.damaged", path);
    p = read_all(name, &len);
    cr_assert(len == 19 && memcmp(p, "second damaged file", 19) == 0);
    free(p);
    snprintf(name, sizeof(name), "%s-lock.damaged", path);
    cr_assert_eq(access(name, F_OK), 0, "the lock file was not moved aside");
}

Test(disk, check_dir_names_the_directory)
{
    char p2[200];

    snprintf(p2, sizeof(p2), "%s/cache.mdb", dir);
    cr_assert_eq(disk_check_dir(p2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(disk_check_dir("cache.mdb", err, sizeof(err)), 0, "%s", err);
    snprintf(p2, sizeof(p2), "%s/nodir/cache.mdb", dir);
    cr_assert_eq(disk_check_dir(p2, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "directory") != NULL && strstr(err, "/nodir:") != NULL, "%s", err);
    write_all(path, "x", 1);
    snprintf(p2, sizeof(p2), "%s/x.mdb", path);
    cr_assert_eq(disk_check_dir(p2, err, sizeof(err)), -ENOTDIR);
    cr_assert_not_null(strstr(err, "is not a directory"), "%s", err);
}

/* A check that does not finish is a verdict too: the child is killed at the deadline. A FIFO
 * with no writer stands for a file whose reads never return. */
Test(disk, a_check_past_its_deadline_is_damage)
{
    char why[512];
    uint64_t t0;
    struct timespec ts;

    cr_assert_eq(mkfifo(path, 0644), 0);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    cr_assert_eq(disk_check(path, 8u << 20, 300, why, sizeof(why)), -EBADMSG);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    cr_assert_lt((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - t0, 3000);
    cr_assert_not_null(strstr(why, "longer than 300 ms"), "%s", why);
    cr_assert_not_null(strstr(why, path), "%s", why);
}
