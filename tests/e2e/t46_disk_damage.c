/* t46_disk_damage.c - the disk tier never stops accel from starting: every file in the cache
 * directory of a stopped accel damaged (noise over the meta pages, over the data pages, over
 * the lock and pid files; files cut to nothing or to an odd size), and accel starts within
 * seconds, says once what it moved aside, serves the right bytes from the origin, and comes
 * back warm from its new file on the next restart. accel -t and a start name the cache_disk
 * directory, with the line, when it cannot be used. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN  "e2e-admin-token-0123456789abcdef"
#define N_URLS 20
#define SIZE   (100 * 1024)
#define PAGE   4096

static struct e2e_origin *origin;

static const uint64_t size = SIZE; /* each object's body */

/* Deterministic noise over <len> bytes at <off> of <path> (which it does not extend). */
static void noise(const char *path, size_t off, size_t len, unsigned seed)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    struct stat st;
    FILE *f;

    cr_assert_eq(stat(path, &st), 0, "%s", path);
    if (off >= (size_t)st.st_size)
        return;
    if (len > (size_t)st.st_size - off)
        len = (size_t)st.st_size - off;
    f = fopen(path, "r+");
    cr_assert_not_null(f, "%s", path);
    fseek(f, (long)off, SEEK_SET);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        fputc((int)(x & 0xff), f);
    }
    fclose(f);
}

enum damage {
    DAMAGE_META = 0,  /* noise over the first two pages: LMDB's meta pages */
    DAMAGE_DATA_ALL,  /* noise over every page after them */
    DAMAGE_DATA_SOME, /* noise over every third page after them */
    DAMAGE_EMPTY,     /* cut to 0 bytes */
    DAMAGE_ODD,       /* cut to an odd size, short of a page boundary */
    DAMAGE_LOCK,      /* noise over the lock and pid files only: no data in them */
};

static const char *const damage_names[] = {"meta pages", "every data page",    "some data pages",
                                           "cut to 0",   "cut to an odd size", "lock file"};

/* Damages every file in <dir> the way <how> says. */
static void damage_dir(const char *dir, enum damage how)
{
    char path[512];
    struct dirent *de;
    struct stat st;
    DIR *d = opendir(dir);
    unsigned n = 0;

    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL) {
        int lockish;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cr_assert_eq(stat(path, &st), 0);
        if (!S_ISREG(st.st_mode))
            continue;
        lockish = strstr(de->d_name, "-lock") != NULL || strstr(de->d_name, ".pid") != NULL;
        n++;
        switch (how) {
        case DAMAGE_META:
            noise(path, 0, 2 * PAGE, n);
            break;
        case DAMAGE_DATA_ALL:
            noise(path, 2 * PAGE, (size_t)st.st_size, n);
            break;
        case DAMAGE_DATA_SOME:
            for (size_t off = 2 * PAGE; off < (size_t)st.st_size; off += 3 * PAGE)
                noise(path, off, PAGE, n + (unsigned)off);
            break;
        case DAMAGE_EMPTY:
            cr_assert_eq(truncate(path, 0), 0);
            break;
        case DAMAGE_ODD:
            cr_assert_eq(truncate(path, st.st_size / 2 + 1001), 0);
            break;
        case DAMAGE_LOCK:
            if (lockish)
                noise(path, 0, (size_t)st.st_size, n);
            break;
        }
    }
    closedir(d);
    cr_assert_geq(n, 3, "expected the store, its lock and pid files in %s", dir);
}

/* GET /stats from <a>'s admin API: returns 1 when it says "disk_reset": true, 0 for false. */
static int stats_disk_reset(struct e2e_accel *a)
{
    char req[256];
    struct e2e_resp r;
    int port = e2e_accel_admin_port(a, 5000), reset;

    cr_assert_gt(port, 0, "no admin port in the log");
    snprintf(req, sizeof(req),
             "GET /stats HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " TOKEN
             "\r\nConnection: close\r\n\r\n");
    cr_assert_eq(e2e_request(port, req, &r, 0), 0, "GET /stats: no answer");
    cr_assert_eq(r.status, 200);
    reset = strstr(r.body, "\"disk_reset\": true") != NULL;
    cr_assert(reset || strstr(r.body, "\"disk_reset\": false") != NULL, "/stats: %s", r.body);
    e2e_resp_free(&r);
    return reset;
}

/* How many times <needle> occurs in <a>'s error log. */
static unsigned log_count(struct e2e_accel *a, const char *needle)
{
    char *log = e2e_read_file(a->error_log, NULL);
    unsigned n = 0;

    cr_assert_not_null(log);
    for (const char *p = log; (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(log);
    return n;
}

static unsigned count_damaged(const char *dir)
{
    struct dirent *de;
    DIR *d = opendir(dir);
    unsigned n = 0;

    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".damaged") != NULL;
    closedir(d);
    return n;
}

/* One round: a stopped accel's cache directory damaged <how>; the next start is quick, the
 * bytes right, the origin asked for what the cache lost; the start after that is warm. */
static void damage_round(const char *dir, const char *extra, enum damage how)
{
    const char *name = damage_names[how];
    unsigned before, misses = 0, moved;
    struct e2e_accel *a;
    uint64_t t0, took;

    damage_dir(dir, how);
    before = e2e_origin_nreqs(origin);
    t0 = e2e_now_ms();
    a = e2e_accel_start(extra, e2e_origin_port(origin));
    took = e2e_now_ms() - t0;
    cr_assert_lt(took, 5000, "%s: accel took %llu ms to start", name, (unsigned long long)took);
    moved = log_count(a, "moved aside");
    cr_assert_leq(moved, 1, "%s: the damage was logged %u times", name, moved);
    for (int i = 0; i < N_URLS; i++) {
        char v = e2e_get_pattern(a, SIZE, i);

        cr_assert(v == 'H' || v == 'M', "%s: GET /d%d: X-Cache %c", name, i, v);
        misses += v == 'M';
    }
    cr_assert_eq(stats_disk_reset(a), moved, "%s: /stats disagrees with the log", name);
    cr_assert_eq(e2e_origin_nreqs(origin) - before, misses, "%s: %u misses but %u origin requests",
                 name, misses, e2e_origin_nreqs(origin) - before);
    if (how == DAMAGE_LOCK) {
        cr_assert_eq(moved, 0, "%s: a good store was moved aside", name);
        cr_assert_eq(misses, 0, "%s: %u objects were lost", name, misses);
    } else if (how != DAMAGE_DATA_SOME) {
        cr_assert_eq(moved, 1, "%s: nothing was moved aside", name);
    }
    if (moved == 1) {
        cr_assert_eq(misses, N_URLS, "%s: only %u misses from an empty store", name, misses);
        char *line = e2e_wait_line(a->error_log, "moved aside", 0), file[300];

        cr_assert_not_null(line);
        snprintf(file, sizeof(file), "%s/cache.mdb: ", dir);
        cr_assert_not_null(strstr(line, file), "%s: the log does not name the file: %s", name,
                           line);
        snprintf(file, sizeof(file), "%s/cache.mdb.damaged", dir);
        cr_assert_not_null(strstr(line, file), "%s: the log does not say where: %s", name, line);
        cr_log_info("%s: %s", name, line);
        free(line);
    }
    cr_assert_eq(e2e_accel_stop(a, 10000), 0, "%s: accel did not exit cleanly", name);
    cr_assert_leq(count_damaged(dir), 2, "%s: more than one old copy is kept", name);

    /* the new file is good: warm again, without the origin */
    before = e2e_origin_nreqs(origin);
    a = e2e_accel_start(extra, e2e_origin_port(origin));
    cr_assert_eq(log_count(a, "moved aside"), 0, "%s: the new file was moved aside", name);
    cr_assert_eq(stats_disk_reset(a), 0, "%s: /stats says the new file was reset", name);
    for (int i = 0; i < N_URLS; i++)
        cr_assert_eq(e2e_get_pattern(a, SIZE, i), 'H',
                     "%s: GET /d%d is not a HIT after the next restart", name, i);
    cr_assert_eq(e2e_origin_nreqs(origin), before, "%s: the origin was asked", name);
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
}

static void damage_test(enum damage how)
{
    const char *dir = e2e_tmpdir(), *tdir = e2e_tmpdir();
    char extra[768], tok[256];
    struct e2e_accel *a;

    /* the token lives outside the cache directory, which is damaged whole */
    e2e_write_file(tdir, "admin.token", TOKEN "\n", tok, sizeof(tok));
    cr_assert_eq(chmod(tok, 0600), 0);
    snprintf(
        extra, sizeof(extra),
        "cache_disk %s/cache.mdb 64m\nadmin {\n    listen 127.0.0.1:0;\n    token_file %s;\n}\n",
        dir, tok);
    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, e2e_cacheable_pattern, (void *)&size);
    a = e2e_accel_start(extra, e2e_origin_port(origin));
    for (int i = 0; i < N_URLS; i++)
        cr_assert_eq(e2e_get_pattern(a, SIZE, i), 'M', "first GET /d%d is not a MISS", i);
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
    damage_round(dir, extra, how);
    /* and once more, the same way, over the file that replaced the first */
    damage_round(dir, extra, how);
}

Test(disk_damage, meta_pages)
{
    damage_test(DAMAGE_META);
}

Test(disk_damage, every_data_page)
{
    damage_test(DAMAGE_DATA_ALL);
}

Test(disk_damage, some_data_pages)
{
    damage_test(DAMAGE_DATA_SOME);
}

Test(disk_damage, files_cut_to_nothing)
{
    damage_test(DAMAGE_EMPTY);
}

Test(disk_damage, files_cut_to_an_odd_size)
{
    damage_test(DAMAGE_ODD);
}

Test(disk_damage, lock_and_pid_files_lose_nothing)
{
    damage_test(DAMAGE_LOCK);
}

/* accel -t, and a start, check that the directory of cache_disk can take the store: the error
 * names the file, the line and the directory (not the pid file inside it). */
Test(disk_damage, a_missing_directory_is_a_configuration_error)
{
    const char *dir = e2e_tmpdir();
    char conf[512], path[256], want[512], *out = NULL, *err = NULL;
    int rc;

    snprintf(conf, sizeof(conf),
             "listen 127.0.0.1:0\norigin 127.0.0.1:9\n\ncache_disk %s/nodir/cache.mdb 64m\n", dir);
    e2e_write_file(dir, "bad.conf", conf, path, sizeof(path));
    snprintf(want, sizeof(want), "%s:4: cache_disk: directory %s/nodir: No such file or directory",
             path, dir);
    {
        const char *argv[] = {"-t", "-c", path, NULL};

        rc = e2e_run_accel(argv, &out, &err);
    }
    cr_assert_neq(rc, 0, "accel -t accepted a missing directory");
    cr_assert_not_null(strstr(err, want), "stderr: %s", err);
    free(out);
    free(err);
    {
        const char *argv[] = {"-c", path, NULL};

        rc = e2e_run_accel(argv, &out, &err);
    }
    cr_assert_eq(rc, 1, "accel started on a missing directory");
    cr_assert_not_null(strstr(err, want), "stderr: %s", err);
    cr_assert_null(strstr(err, ".pid"), "stderr names the pid file: %s", err);
    free(out);
    free(err);

    snprintf(conf, sizeof(conf),
             "listen 127.0.0.1:0\norigin 127.0.0.1:9\ncache_disk %s/c.mdb 64m\n", dir);
    e2e_write_file(dir, "good.conf", conf, path, sizeof(path));
    {
        const char *argv[] = {"-t", "-c", path, NULL};

        rc = e2e_run_accel(argv, &out, &err);
    }
    cr_assert_eq(rc, 0, "accel -t: %s", err);
    free(out);
    free(err);
}
