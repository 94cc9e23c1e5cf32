/* purge_walk.c - accel-purge-bench: how long a purge by prefix, tag or regex takes over a
 * memory tier of a million objects, and how much it holds up the lookups running beside it.
 *
 * It drives the cache engine itself (the code the server runs: cache_lookup, cache_complete,
 * cache_purge over the sharded LRU), so the numbers are the walk's, without HTTP in the way.
 * N objects are stored (key http://bench/<group>/<i>, tag "g<group>", 1 KiB bodies); then
 * reader threads look up random stored keys in a loop and record each lookup's latency, first
 * for a baseline second, then while each purge runs. A lookup that waits on a shard lock held
 * by the walk shows up in the maximum and the tail.
 *
 * Usage: accel-purge-bench [-n OBJECTS] [-r READERS] [-g GROUPS]
 *   defaults: 1000000 objects, 1 reader, 100 groups (each purge removes one group: 1%). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accel/cache.h"

#define MAX_READERS 8
#define HIST_US     100000 /* latency histogram: 1 µs buckets up to 100 ms */

static struct cache *cache;
static unsigned n_objects = 1000000, n_groups = 100, n_readers = 1;
static atomic_int phase_stop;

struct reader {
    pthread_t th;
    unsigned seed;
    uint64_t n, max_ns;
    uint32_t *hist; /* µs buckets */
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t key_of(char *buf, size_t cap, unsigned i)
{
    return (size_t)snprintf(buf, cap, "http://bench/g%u/%u", i % n_groups, i);
}

static void store(unsigned i)
{
    static char body[1024];
    char key[64], head[128];
    struct cache_req r = {.now = 1000, .now_ms = 1000000};
    struct field f;
    struct obj_meta m;
    struct obj *o;
    char *tags;
    size_t klen = key_of(key, sizeof key, i);
    int hl =
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nSurrogate-Key: g%u all\r\n", i % n_groups);

    r.key = (struct key){key, klen, key_hash(key, klen)};
    policy_cc_init(&r.cc);
    if (cache_lookup(cache, &r, &o, NULL) != CACHE_MISS) {
        fprintf(stderr, "accel-purge-bench: %s: not a miss\n", key);
        exit(1);
    }
    obj_meta_init(&m);
    m.status = 200;
    m.t_req = m.t_resp = m.date = 1000;
    m.ttl = 1000000;
    m.content_length = sizeof body; /* one chunk of exactly that */
    f.name = span_of("Surrogate-Key", 13);
    f.value = span_of(head + 32, (size_t)hl - 34);
    m.tags.len = cache_tags_build(&f, 1, &tags);
    m.tags.p = tags;
    obj_set_meta(o, &m);
    free(tags);
    obj_set_head(o, head, (size_t)hl);
    obj_append(o, body, sizeof body);
    obj_finish(o, OBJ_COMPLETE);
    cache_complete(cache, o);
    obj_unref(&o);
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    char key[64];

    while (!atomic_load(&phase_stop)) {
        unsigned i = (unsigned)rand_r(&rd->seed) % n_objects;
        size_t klen = key_of(key, sizeof key, i);
        struct cache_req r = {
            .key = {key, klen, key_hash(key, klen)}, .now = 1001, .now_ms = 1001000, .no_make = 1};
        struct obj *o = NULL;
        uint64_t t0 = now_ns(), dt;

        policy_cc_init(&r.cc);
        (void)cache_lookup(cache, &r, &o, NULL);
        dt = now_ns() - t0;
        obj_unref(&o);
        rd->n++;
        if (dt > rd->max_ns)
            rd->max_ns = dt;
        rd->hist[dt / 1000 < HIST_US ? dt / 1000 : HIST_US - 1]++;
    }
    return NULL;
}

/* Runs the readers while <what> runs (or for <baseline_ms> when <what> is NULL); prints. */
static void phase(const char *name, enum cache_purge kind, const char *arg, unsigned baseline_ms)
{
    struct reader rd[MAX_READERS];
    uint64_t t0, dt, n = 0, max = 0, purged = 0, p999 = 0, p99 = 0, seen = 0;
    static uint32_t sum[HIST_US];

    memset(sum, 0, sizeof sum);
    atomic_store(&phase_stop, 0);
    for (unsigned i = 0; i < n_readers; i++) {
        rd[i] = (struct reader){.seed = 42 + i, .hist = calloc(HIST_US, sizeof(uint32_t))};
        pthread_create(&rd[i].th, NULL, reader_main, &rd[i]);
    }
    usleep(50 * 1000);
    t0 = now_ns();
    if (arg == NULL)
        usleep(baseline_ms * 1000u);
    else
        purged = cache_purge(cache, kind, arg, strlen(arg), 0, 1001);
    dt = now_ns() - t0;
    atomic_store(&phase_stop, 1);
    for (unsigned i = 0; i < n_readers; i++) {
        pthread_join(rd[i].th, NULL);
        n += rd[i].n;
        if (rd[i].max_ns > max)
            max = rd[i].max_ns;
        for (unsigned b = 0; b < HIST_US; b++)
            sum[b] += rd[i].hist[b];
        free(rd[i].hist);
    }
    for (unsigned b = 0; b < HIST_US; b++) {
        seen += sum[b];
        if (p99 == 0 && seen * 100 >= n * 99)
            p99 = b + 1;
        if (p999 == 0 && seen * 1000 >= n * 999)
            p999 = b + 1;
    }
    printf("%-22s %10.1f ms %10llu purged %12llu lookups  p99 <= %4llu us  p99.9 <= %4llu us  "
           "max %8.1f us\n",
           name, (double)dt / 1e6, (unsigned long long)purged, (unsigned long long)n,
           (unsigned long long)p99, (unsigned long long)p999, (double)max / 1e3);
}

int main(int argc, char **argv)
{
    struct cache_conf cc = {.shards = 64, .max_object_size = 1u << 20};
    uint64_t t0;
    int opt;

    while ((opt = getopt(argc, argv, "n:r:g:")) != -1) {
        unsigned long v = strtoul(optarg, NULL, 10);

        if (v == 0 || (opt == 'r' && v > MAX_READERS)) {
            fprintf(stderr, "accel-purge-bench: bad -%c %s\n", opt, optarg);
            return 2;
        }
        if (opt == 'n')
            n_objects = (unsigned)v;
        else if (opt == 'r')
            n_readers = (unsigned)v;
        else if (opt == 'g')
            n_groups = (unsigned)v;
        else
            return 2;
    }
    cc.memory = (uint64_t)n_objects * 4096u; /* room for all of them */
    cc.policy.heuristic_max = 86400;
    cc.policy.heuristic_pct = 10;
    cache = cache_new(&cc);
    t0 = now_ns();
    for (unsigned i = 0; i < n_objects; i++)
        store(i);
    printf("stored %u objects (%u groups, 1 KiB each) in %.1f s; %u reader thread(s)\n", n_objects,
           n_groups, (double)(now_ns() - t0) / 1e9, n_readers);
    phase("baseline (no purge)", CACHE_PURGE_ALL, NULL, 1000);
    phase("purge prefix (1 group)", CACHE_PURGE_PREFIX, "http://bench/g7/", 0);
    phase("purge tag (1 group)", CACHE_PURGE_TAG, "g8", 0);
    phase("purge regex (1 group)", CACHE_PURGE_REGEX, "^http://bench/g9/", 0);
    phase("purge url (1 object)", CACHE_PURGE_KEY, "http://bench/g10/10", 0);
    phase("baseline (no purge)", CACHE_PURGE_ALL, NULL, 1000);
    cache_free(&cache);
    return 0;
}
