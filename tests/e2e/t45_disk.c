/* t45_disk.c - the LMDB disk tier through the real binary: objects written through come back
 * after a restart without touching the origin, byte for byte; a second process on the same
 * file refuses to start and names the holder; a corrupt file is moved aside and accel starts
 * cold and serves. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define N_URLS 20
#define SIZE   (100 * 1024)

static struct e2e_origin *origin;

static void cacheable(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->headers = "Cache-Control: max-age=600\r\n";
    act->pattern_len = SIZE;
}

/* GET /d<i>; checks the body and returns the X-Cache value's first
 * letter ('H', 'M', ...). */
static char get(struct e2e_accel *a, int i)
{
    char req[128];
    struct e2e_resp r;
    const char *xc;
    char verdict;

    snprintf(req, sizeof(req), "GET /d%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    cr_assert_eq(e2e_request(a->port, req, &r, E2E_RESP_PATTERN), 0, "GET /d%d: no answer", i);
    cr_assert_eq(r.status, 200, "GET /d%d: status %d", i, r.status);
    cr_assert_eq(r.body_len, SIZE, "GET /d%d: %llu bytes", i, (unsigned long long)r.body_len);
    cr_assert_not(r.pattern_bad, "GET /d%d: body differs at %llu", i,
                  (unsigned long long)r.pattern_bad_at);
    xc = e2e_hdrs_get(&r.hdrs, "X-Cache");
    cr_assert_not_null(xc, "GET /d%d: no X-Cache", i);
    verdict = xc[0];
    e2e_resp_free(&r);
    return verdict;
}

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
    e2e_origin_set_handler(origin, cacheable, NULL);
    a = e2e_accel_start(disk_conf(dir, extra, sizeof(extra)), e2e_origin_port(origin));
    for (int i = 0; i < N_URLS; i++)
        cr_assert_eq(get(a, i), 'M', "first GET /d%d is not a MISS", i);
    cr_assert_eq(e2e_origin_nreqs(origin), N_URLS);
    /* SIGTERM: the writer finishes its queue before accel exits */
    cr_assert_eq(e2e_accel_stop(a, 10000), 0, "accel did not exit cleanly");

    a = e2e_accel_start(extra, e2e_origin_port(origin));
    for (int i = 0; i < N_URLS; i++)
        cr_assert_eq(get(a, i), 'H', "GET /d%d after the restart is not a HIT", i);
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
    e2e_origin_set_handler(origin, cacheable, NULL);
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
    cr_assert_eq(get(a, 0), 'M');
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
    e2e_origin_set_handler(origin, cacheable, NULL);
    a = e2e_accel_start(disk_conf(dir, extra, sizeof(extra)), e2e_origin_port(origin));
    cr_assert_eq(get(a, 1), 'M');
    cr_assert_eq(get(a, 1), 'H');
    d = opendir(dir);
    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL)
        aside += strstr(de->d_name, "cache.mdb.corrupt-") != NULL;
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
    e2e_origin_set_handler(origin, cacheable, NULL);
    a = e2e_accel_start(disk_conf(dir, extra, sizeof(extra)), e2e_origin_port(origin));
    for (int i = 0; i < N_URLS; i++)
        (void)get(a, i);
    /* no drain: whatever the writer was doing is cut short */
    e2e_accel_kill(a);

    a = e2e_accel_start(extra, e2e_origin_port(origin));
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N_URLS; i++) {
            char v = get(a, i); /* checks status, length and every byte */

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
    e2e_origin_set_handler(origin, cacheable, NULL);
    a = e2e_accel_start(extra, e2e_origin_port(origin));
    for (int i = 0; i < 60; i++)
        (void)get(a, i);
    for (int i = 59; i >= 40; i--)
        hits += get(a, i) == 'H';
    snprintf(path, sizeof(path), "%s/cache.mdb", dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_leq(st.st_size, 2 << 20, "the disk file grew to %lld bytes", (long long)st.st_size);
    cr_assert_gt(hits, 0, "no hits from either tier for the 20 most recent objects");
    cr_assert(e2e_accel_alive(a));
    cr_assert_eq(e2e_accel_stop(a, 10000), 0);
}
