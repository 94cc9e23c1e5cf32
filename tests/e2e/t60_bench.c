/* t60_bench.c - accel-bench against the real accel and the test origin: what it counts (requests,
 * hits, misses) agrees with what accel answered and what the origin saw; bad arguments and an
 * unreachable target give a clear error at once. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "accel/base.h"
#include "harness.h"

static struct e2e_origin *origin;
static struct e2e_accel *accel;

static void cacheable(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->headers = "Cache-Control: max-age=600\r\nContent-Type: application/octet-stream\r\n";
    act->pattern_len = 2000;
}

/* Runs accel-bench with <args> (bounded by `timeout`); returns its exit status and its stdout
 * and stderr together in *<out> (caller frees). */
static int run_bench(const char *args, char **out)
{
    char cmd[2048];
    struct buf b = {0};
    char chunk[4096];
    size_t n;
    FILE *f;
    int st;

    snprintf(cmd, sizeof(cmd), "timeout 60 %s %s 2>&1", ACCEL_BENCH_BIN, args);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    buf_append(&b, "", 1);
    st = pclose(f);
    *out = b.p;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The number after "\"<name>\": " in <json>, or -1. */
static long long num(const char *json, const char *name)
{
    char key[64];
    const char *p;

    snprintf(key, sizeof(key), "\"%s\": ", name);
    p = strstr(json, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

Test(bench, its_counts_agree_with_accel_and_the_origin)
{
    char args[256], *out;
    long long requests, hits, misses;

    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, cacheable, NULL);
    accel = e2e_accel_start(NULL, e2e_origin_port(origin));
    snprintf(args, sizeof(args),
             "-j -q -c 8 -t 2 -n 3000 -w uniform:50 -p /k{} http://127.0.0.1:%d", accel->port);
    cr_assert_eq(run_bench(args, &out), 0, "accel-bench failed: %s", out);
    requests = num(out, "requests");
    hits = num(out, "hits");
    misses = num(out, "misses");
    cr_assert_eq(requests, 3000, "requests %lld: %s", requests, out);
    cr_assert_eq(hits + misses, 3000, "every answer had an X-Cache: %s", out);
    /* each of the 50 URLs reached the origin once; the first requests of a URL that waited on
     * its fetch count as hits (collapsed), so the misses are exactly the origin's requests */
    cr_assert_leq(e2e_origin_nreqs(origin), 50);
    cr_assert_eq(misses, (long long)e2e_origin_nreqs(origin), "misses %lld, origin saw %u: %s",
                 misses, e2e_origin_nreqs(origin), out);
    cr_assert_not_null(strstr(out, "\"connect\": 0"), "connect errors: %s", out);
    free(out);
}

Test(bench, zipf_and_the_origins_stats)
{
    char args[256], *out;

    origin = e2e_origin_start();
    e2e_origin_set_handler(origin, cacheable, NULL);
    accel = e2e_accel_start(NULL, e2e_origin_port(origin));
    snprintf(args, sizeof(args), "-j -q -c 4 -n 2000 -w zipf:1000:0.99 -s 7 http://127.0.0.1:%d",
             accel->port);
    cr_assert_eq(run_bench(args, &out), 0, "accel-bench failed: %s", out);
    cr_assert_eq(num(out, "requests"), 2000, "%s", out);
    cr_assert_eq(num(out, "misses"), (long long)e2e_origin_nreqs(origin), "%s", out);
    cr_assert_lt(num(out, "misses"), 1000, "Zipf draws repeat popular URLs: %s", out);
    free(out);
}

Test(bench, bad_arguments_and_an_unreachable_target_fail_clearly)
{
    char args[256], *out;

    cr_assert_eq(run_bench("-c 0 http://127.0.0.1:1", &out), 2);
    cr_assert_not_null(strstr(out, "-c: expected"), "%s", out);
    free(out);
    cr_assert_eq(run_bench("-w zipf:10:-1 http://127.0.0.1:1", &out), 2);
    cr_assert_not_null(strstr(out, "zipf"), "%s", out);
    free(out);
    cr_assert_eq(run_bench("-w trace:/nonexistent/log http://127.0.0.1:1", &out), 2);
    cr_assert_not_null(strstr(out, "/nonexistent/log"), "%s", out);
    free(out);
    cr_assert_eq(run_bench("127.0.0.1:8080", &out), 2);
    free(out);
    snprintf(args, sizeof(args), "-n 10 http://127.0.0.1:%d", e2e_port_down());
    cr_assert_eq(run_bench(args, &out), 1);
    cr_assert_not_null(strstr(out, "cannot connect"), "%s", out);
    free(out);
}

/* accel-bench sim: the curve through the engine's memory tier rises with memory and reaches
 * the ideal once everything fits; S3-FIFO beats LRU on Zipf with one-hit wonders; CSV and SVG
 * are written. */
Test(bench, sim_draws_the_capacity_curve)
{
    const char *dir = e2e_tmpdir();
    char args[512], path[300], *out, *csv, *svg;
    double prev = -1, lru = 0, s3 = 0;
    const char *p;

    snprintf(args, sizeof(args),
             "sim -P lru,s3fifo -m 1m,4m,16m,64m -w zipf:5000:0.99 -u 0.2 -n 200000 -o %s/c.csv "
             "-g %s/c.svg",
             dir, dir);
    cr_assert_eq(run_bench(args, &out), 0, "%s", out);
    snprintf(path, sizeof(path), "%s/c.csv", dir);
    csv = e2e_read_file(path, NULL);
    cr_assert_not_null(csv);
    cr_assert_not_null(strstr(csv, "policy,memory_bytes,requests,hits,hit_ratio"));
    for (p = strstr(csv, "\nlru,"); p != NULL; p = strstr(p + 1, "\nlru,")) {
        double h;

        cr_assert_eq(sscanf(p + 5, "%*u,%*u,%*u,%lf", &h), 1);
        cr_assert_geq(h, prev, "the LRU curve goes down: %s", csv);
        prev = h;
        if (strstr(p, "\nlru,16777216,") == p)
            lru = h;
    }
    p = strstr(csv, "\ns3fifo,16777216,");
    cr_assert_not_null(p, "%s", csv);
    cr_assert_eq(sscanf(p + 18, "%*u,%*u,%lf", &s3), 1);
    cr_assert_gt(s3, lru, "S3-FIFO %f, LRU %f at 16 MiB: %s", s3, lru, csv);
    snprintf(path, sizeof(path), "%s/c.svg", dir);
    svg = e2e_read_file(path, NULL);
    cr_assert_not_null(svg);
    cr_assert_not_null(strstr(svg, "<svg"));
    cr_assert_not_null(strstr(svg, "</svg>"));
    free(csv);
    free(svg);
    free(out);
}
