/* t45_disk.c - the LMDB disk tier through the real binary: objects written through come back
 * after a restart without touching the origin, byte for byte; a second process on the same
 * file refuses to start and names the holder; a corrupt file is moved aside and accel starts
 * cold and serves (t46 damages files every other way); a file cut short by kill -9 is whole. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define N_URLS 20
#define SIZE   (100 * 1024)

static struct e2e_origin *origin;

static const uint64_t size = SIZE; /* each object's body */

static const char *disk_conf(const char *dir, char *buf, size_t len)
{
    snprintf(buf, len, "cache_disk %s/cache.mdb 64m\n", dir);
    return buf;
}

Test(disk, restart_serves_from_disk_without_the_origin)
{
    const char *dir = e2e_tmpdir();
    char extra[256];
    struct e2e_accel *a;

    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, e2e_cacheable_pattern, (void *)&size);
    a = e2e_accel_start(disk_conf(dir, extra, sizeof(extra)), e2e_origin_port(origin));
    for (int i = 0; i < N_URLS; i++)
        cr_assert_eq(e2e_get_pattern(a, SIZE, i), 'M', "first GET /d%d is not a MISS", i);
    cr_assert_eq(e2e_origin_nreqs(origin), N_URLS);
    /* SIGTERM: the writer finishes its queue before accel exits */
    cr_assert_eq(e2e_accel_stop(a, 10000), 0, "accel did not exit cleanly");

    a = e2e_accel_start(extra, e2e_origin_port(origin));
    for (int i = 0; i < N_URLS; i++)
        cr_assert_eq(e2e_get_pattern(a, SIZE, i), 'H', "GET /d%d after the restart is not a HIT",
                     i);
    cr_assert_eq(e2e_origin_nreqs(origin), N_URLS, "the origin was asked again after restart");
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
}

Test(disk, second_process_on_the_same_file_refuses)
{
    const char *dir = e2e_tmpdir();
    char extra[256], conf[512], path[256], *out = NULL, *err = NULL;
    struct e2e_accel *a;
    int rc;

    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, e2e_cacheable_pattern, (void *)&size);
    a = e2e_accel_start(disk_conf(dir, extra, sizeof(extra)), e2e_origin_port(origin));
    snprintf(conf, sizeof(conf), "listen 127.0.0.1:0\norigin 127.0.0.1:%d\n%s",
             e2e_origin_port(origin), extra);
    e2e_write_file(dir, "second.conf", conf, path, sizeof(path));
    {
        const char *argv[] = {"-c", path, NULL};
        rc = e2e_run_accel(argv, &out, &err);
    }
    cr_assert_neq(rc, 0, "a second accel started on a file in use");
    cr_assert_not_null(strstr(err, "in use by process"), "stderr: %s", err);
    free(out);
    free(err);
    cr_assert(e2e_accel_alive(a));
    cr_assert_eq(e2e_get_pattern(a, SIZE, 0), 'M');
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
}

Test(disk, corrupt_file_is_moved_aside_and_accel_starts_cold)
{
    const char *dir = e2e_tmpdir();
    char extra[256], garbage[8192], path[256];
    struct e2e_accel *a;
    struct dirent *de;
    DIR *d;
    int aside = 0;

    for (size_t i = 0; i < sizeof(garbage) - 1; i++)
        garbage[i] = (char)('!' + (i * 7) % 90);
    garbage[sizeof(garbage) - 1] = '\0';
    e2e_write_file(dir, "cache.mdb", garbage, path, sizeof(path));
    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, e2e_cacheable_pattern, (void *)&size);
    a = e2e_accel_start(disk_conf(dir, extra, sizeof(extra)), e2e_origin_port(origin));
    cr_assert_eq(e2e_get_pattern(a, SIZE, 1), 'M');
    cr_assert_eq(e2e_get_pattern(a, SIZE, 1), 'H');
    d = opendir(dir);
    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL)
        aside += strcmp(de->d_name, "cache.mdb.damaged") == 0;
    closedir(d);
    cr_assert_eq(aside, 1, "the corrupt file was not moved aside");
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
}

Test(disk, kill_9_while_writing_never_serves_a_torn_object)
{
    const char *dir = e2e_tmpdir();
    char extra[256];
    struct e2e_accel *a;

    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, e2e_cacheable_pattern, (void *)&size);
    a = e2e_accel_start(disk_conf(dir, extra, sizeof(extra)), e2e_origin_port(origin));
    for (int i = 0; i < N_URLS; i++)
        (void)e2e_get_pattern(a, SIZE, i);
    /* no drain: whatever the writer was doing is cut short */
    e2e_accel_kill(a);

    a = e2e_accel_start(extra, e2e_origin_port(origin));
    {
        char *log = e2e_read_file(a->error_log, NULL);

        /* LMDB's last commit survives a kill -9: the file is whole, not damaged */
        cr_assert_not_null(log);
        cr_assert_null(strstr(log, "moved aside"), "a file cut short by kill -9 was moved aside");
        free(log);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N_URLS; i++) {
            char v = e2e_get_pattern(a, SIZE, i); /* checks status, length and every byte */

            cr_assert(v == 'H' || v == 'M', "GET /d%d: X-Cache %c", i, v);
        }
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
}

Test(disk, small_disk_budget_stays_within_its_file_size)
{
    const char *dir = e2e_tmpdir();
    char extra[256], path[300];
    struct e2e_accel *a;
    struct stat st;
    unsigned hits = 0;

    /* 2 MiB of disk and 1 MiB of memory for 60 objects of 100 KiB (6 MiB) */
    snprintf(extra, sizeof(extra), "cache_disk %s/cache.mdb 2m\ncache_memory 1m\n", dir);
    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, e2e_cacheable_pattern, (void *)&size);
    a = e2e_accel_start(extra, e2e_origin_port(origin));
    for (int i = 0; i < 60; i++)
        (void)e2e_get_pattern(a, SIZE, i);
    for (int i = 59; i >= 40; i--)
        hits += e2e_get_pattern(a, SIZE, i) == 'H';
    snprintf(path, sizeof(path), "%s/cache.mdb", dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_leq(st.st_size, 2 << 20, "the disk file grew to %lld bytes", (long long)st.st_size);
    cr_assert_gt(hits, 0, "no hits from either tier for the 20 most recent objects");
    cr_assert(e2e_accel_alive(a));
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
}

static void varies(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    const char *lang = e2e_hdrs_get(&req->hdrs, "Accept-Language");

    (void)arg;
    act->headers = "Cache-Control: max-age=600\r\nVary: Accept-Language\r\n"
                   "Surrogate-Key: page-v\r\n";
    act->body = lang != NULL && strcmp(lang, "fr") == 0 ? "bonjour" : "hello";
}

/* GET /v with Accept-Language <lang>: returns the X-Cache letter; checks the body. */
static char get_lang(struct e2e_accel *a, const char *lang, const char *want)
{
    char req[160];
    struct e2e_resp r;
    char verdict;

    snprintf(req, sizeof(req), "GET /v HTTP/1.1\r\nHost: h\r\nAccept-Language: %s\r\n\r\n", lang);
    cr_assert_eq(e2e_request(a->port, req, &r, 0), 0, "GET /v (%s): no answer", lang);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, strlen(want), "GET /v (%s): %llu bytes", lang,
                 (unsigned long long)r.body_len);
    cr_assert(memcmp(r.body, want, strlen(want)) == 0, "GET /v (%s): wrong variant", lang);
    verdict = e2e_hdrs_get(&r.hdrs, "X-Cache")[0];
    e2e_resp_free(&r);
    return verdict;
}

/* Both variants of a Vary response are written through and each comes back to its own
 * requests after a restart, without the origin. */
Test(disk, vary_variants_survive_a_restart)
{
    const char *dir = e2e_tmpdir();
    char extra[256];
    struct e2e_accel *a;

    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, varies, NULL);
    a = e2e_accel_start(disk_conf(dir, extra, sizeof(extra)), e2e_origin_port(origin));
    cr_assert_eq(get_lang(a, "en", "hello"), 'M');
    cr_assert_eq(get_lang(a, "fr", "bonjour"), 'M');
    cr_assert_eq(get_lang(a, "fr", "bonjour"), 'H');
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);

    a = e2e_accel_start(extra, e2e_origin_port(origin));
    cr_assert_eq(get_lang(a, "fr", "bonjour"), 'H', "the fr variant did not come back");
    cr_assert_eq(get_lang(a, "en", "hello"), 'H', "the en variant did not come back");
    cr_assert_eq(e2e_origin_nreqs(origin), 2, "the origin was asked again after restart");
    cr_assert_eq(get_lang(a, "de", "hello"), 'M', "a third language is a new variant");
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
}

/* The file system holding the cache file fills up: accel says so once in its log, goes on
 * serving (hits from memory included), and stays up. Needs a small tmpfs: mounting one takes
 * root, so the test is skipped, saying why, where that is not allowed. */
Test(disk, a_full_file_system_is_logged_once_and_accel_keeps_serving)
{
    const char *dir = e2e_tmpdir();
    char cmd[512], extra[512], *log;
    struct e2e_accel *a;
    const char *p;
    unsigned n = 0, hits = 0;

    snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=1m accel-e2e %s 2>/dev/null", dir);
    if (system(cmd) != 0) {
        cr_skip_test("cannot mount a tmpfs here (needs root): the full-disk test did not run");
        return;
    }
    /* a 64 MiB budget on a 1 MiB file system; memory holds everything */
    snprintf(extra, sizeof(extra), "cache_disk %s/cache.mdb 64m\ncache_memory 64m\n", dir);
    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, e2e_cacheable_pattern, (void *)&size);
    a = e2e_accel_start(extra, e2e_origin_port(origin));
    for (int i = 0; i < 40; i++)
        cr_assert_eq(e2e_get_pattern(a, SIZE, i), 'M');
    log = e2e_wait_line(a->error_log, "file system is full", 5000);
    cr_assert_not_null(log, "no 'file system is full' line in %s", a->error_log);
    free(log);
    for (int i = 0; i < 40; i++)
        hits += e2e_get_pattern(a, SIZE, i) == 'H';
    cr_assert_eq(hits, 40, "hits from memory stopped with the disk full");
    cr_assert(e2e_accel_alive(a));
    log = e2e_read_file(a->error_log, NULL);
    for (p = log; (p = strstr(p, "file system is full")) != NULL; p++)
        n++;
    free(log);
    cr_assert_eq(n, 1, "the full disk was logged %u times", n);
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
    snprintf(cmd, sizeof(cmd), "umount %s", dir);
    cr_assert_eq(system(cmd), 0);
}
