/* sim.c - accel-bench sim: offline capacity planning. Replays a workload (a trace, or uniform or
 * Zipf draws) through the cache engine's own memory tier, the code the server runs, once per
 * memory size, and reports the hit ratio and byte hit ratio at each: how much memory buys how
 * much hit ratio. Writes the curve as CSV and as an SVG plot a person can open.
 *
 * The objects carry no body: each is charged its size with cache_grow(), exactly as a fetch
 * charges the bytes it stores, so a 10 GiB tier is simulated in a few MiB of this process. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/cache.h"
#include "hist.h"
#include "sim.h"
#include "trace.h"
#include "zipf.h"

#define SIM_MAX_SIZES 64

struct sim_opts {
    uint64_t sizes[SIM_MAX_SIZES];
    unsigned n_sizes;
    int wl; /* 0 uniform, 1 zipf, 2 trace */
    uint64_t keys, requests, obj_size, seed;
    double s;
    struct trace trace;
    const char *csv, *svg;
    double once;     /* share of requests for keys asked once and never again */
    int policies[2]; /* 0 lru, 1 s3fifo */
    unsigned n_policies;
};

static const char *const policy_names[] = {"lru", "s3fifo"};

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    uint64_t mul = 1;

    if (end == s || !(v > 0))
        return -EINVAL;
    if (*end == 'k' || *end == 'K')
        mul = 1u << 10;
    else if (*end == 'm' || *end == 'M')
        mul = 1u << 20;
    else if (*end == 'g' || *end == 'G')
        mul = 1u << 30;
    else if (*end != '\0')
        return -EINVAL;
    if (*end != '\0' && end[1] != '\0')
        return -EINVAL;
    *out = (uint64_t)(v * (double)mul);
    return *out > 0 ? 0 : -EINVAL;
}

struct result {
    uint64_t size, requests, hits, bytes, hit_bytes, objects, evictions;
};

/* One replay through a fresh memory tier of <size> bytes evicting by <policy>. */
static void replay(const struct sim_opts *o, uint64_t size, int policy, struct result *r)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n";
    struct cache_conf cc = {.memory = size, .shards = 64, .max_object_size = UINT64_MAX};
    struct cache_stats st;
    struct cache *c;
    struct rng rng;
    struct zipf z;
    uint64_t n = o->wl == 2 ? o->trace.n : o->requests;
    char key[4096];

    /* the server's rule: shards of at least 1 MiB, so a small tier still evicts close to LRU */
    while (cc.shards > 1 && cc.memory / cc.shards < (1u << 20))
        cc.shards /= 2;
    cc.policy.heuristic_max = 86400;
    cc.policy.heuristic_pct = 10;
    cc.s3fifo = policy == 1;
    c = cache_new(&cc);
    rng_seed(&rng, o->seed);
    if (o->wl == 1)
        zipf_init(&z, o->keys, o->s);
    memset(r, 0, sizeof(*r));
    r->size = size;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t bytes = o->obj_size;
        struct cache_req q = {.now = 1000, .now_ms = 1000000};
        struct obj *ob = NULL;
        enum cache_res res;
        int klen;

        if (o->wl == 2) {
            klen = snprintf(key, sizeof(key), "http://sim%s", o->trace.v[i].target);
            if (o->trace.v[i].size > 0)
                bytes = o->trace.v[i].size;
        } else if (o->once > 0 && rng_double(&rng) < o->once) {
            klen = snprintf(key, sizeof(key), "http://sim/once/%llu", (unsigned long long)i);
        } else {
            uint64_t k = o->wl == 1 ? zipf_next(&z, &rng) : rng_below(&rng, o->keys);

            klen = snprintf(key, sizeof(key), "http://sim/%llu", (unsigned long long)k);
        }
        if (klen <= 0 || (size_t)klen >= sizeof(key))
            continue;
        q.key = (struct key){key, (size_t)klen, key_hash(key, (size_t)klen)};
        policy_cc_init(&q.cc);
        res = cache_lookup(c, &q, &ob, NULL);
        r->requests++;
        r->bytes += bytes;
        if (res == CACHE_HIT) {
            r->hits++;
            r->hit_bytes += bytes;
        } else if (res == CACHE_MISS) {
            struct obj_meta m;

            obj_meta_init(&m);
            m.status = 200;
            m.t_req = m.t_resp = m.date = 1000;
            m.ttl = 1 << 30;
            m.content_length = bytes;
            obj_set_meta(ob, &m);
            obj_set_head(ob, head, sizeof(head) - 1);
            cache_grow(c, ob, bytes); /* what a fetch charges for the bytes it stores */
            obj_finish(ob, OBJ_COMPLETE);
            cache_complete(c, ob);
        }
        obj_unref(&ob);
    }
    cache_get_stats(c, &st);
    r->objects = st.objects;
    r->evictions = st.evictions;
    cache_free(&c);
}

static const char *human(uint64_t v, char *buf, size_t cap)
{
    if (v >= (1ull << 30) && v % (1ull << 30) == 0)
        snprintf(buf, cap, "%lluG", (unsigned long long)(v >> 30));
    else if (v >= (1u << 20) && v % (1u << 20) == 0)
        snprintf(buf, cap, "%lluM", (unsigned long long)(v >> 20));
    else if (v >= (1u << 10) && v % (1u << 10) == 0)
        snprintf(buf, cap, "%lluK", (unsigned long long)(v >> 10));
    else
        snprintf(buf, cap, "%llu", (unsigned long long)v);
    return buf;
}

/* An SVG line plot of the hit ratio (solid) and byte hit ratio (dashed) of each policy against
 * memory (log scale). */
static int write_svg(const char *path, const struct sim_opts *o, struct result res[][SIM_MAX_SIZES],
                     const char *title)
{
    static const char *const colors[] = {"#1f77b4", "#d62728"};
    const double W = 760, H = 440, L = 70, R = 30, T = 50, B = 60;
    double xmin = log((double)o->sizes[0]), xmax = log((double)o->sizes[o->n_sizes - 1]);
    FILE *f = fopen(path, "w");
    char buf[32];

    if (f == NULL)
        return -errno;
    if (xmax <= xmin)
        xmax = xmin + 1;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.0f\" y=\"25\" font-size=\"15\">",
            W, H, L);
    for (const char *p = title; *p; p++) {
        if (*p == '<')
            fputs("&lt;", f);
        else if (*p == '&')
            fputs("&amp;", f);
        else
            fputc(*p, f);
    }
    fprintf(f, "</text>\n");
    for (int i = 0; i <= 10; i += 2) {
        double y = T + (H - T - B) * (1 - i / 10.0);

        fprintf(f,
                "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n",
                L, y, W - R, y, L - 6, y + 4, i / 10.0);
    }
    for (unsigned i = 0; i < o->n_sizes; i++) {
        double x = L + (W - L - R) * (log((double)o->sizes[i]) - xmin) / (xmax - xmin);

        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#eee\"/>"
                "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
                x, T, x, H - B, x, H - B + 16, human(o->sizes[i], buf, sizeof(buf)));
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">memory tier size</text>\n",
            L + (W - L - R) / 2, H - 18);
    for (unsigned pi = 0; pi < o->n_policies; pi++) {
        int pol = o->policies[pi];

        for (int line = 0; line < 2; line++) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                    colors[pol], line ? " stroke-dasharray=\"6,4\"" : "");
            for (unsigned i = 0; i < o->n_sizes; i++) {
                const struct result *r = &res[pi][i];
                double v = line == 0 ? (r->requests ? (double)r->hits / (double)r->requests : 0)
                                     : (r->bytes ? (double)r->hit_bytes / (double)r->bytes : 0);
                double x = L + (W - L - R) * (log((double)r->size) - xmin) / (xmax - xmin);

                fprintf(f, "%.1f,%.1f ", x, T + (H - T - B) * (1 - v));
            }
            fprintf(f, "\"/>\n");
        }
        fprintf(
            f,
            "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"3\" fill=\"%s\"/>"
            "<text x=\"%.0f\" y=\"%.0f\">%s (solid: hit ratio, dashed: byte hit ratio)</text>\n",
            L + 10, T + 10 + 18.0 * pi, colors[pol], L + 30, T + 15 + 18.0 * pi, policy_names[pol]);
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -errno;
}

static void sim_usage(FILE *f)
{
    fprintf(
        f,
        "usage: accel-bench sim -m SIZES [options]\n"
        "  -m SIZES    memory tier sizes, comma-separated: 16m,64m,256m,1g\n"
        "  -P LIST     eviction policies to compare: lru, s3fifo or lru,s3fifo (default lru)\n"
        "  -w WORKLOAD uniform:K | zipf:K[:S] (S default 0.99) | trace:FILE (default zipf:100000)\n"
        "  -u SHARE    uniform and zipf: this share of requests (0-1) for keys asked once\n"
        "  -n N        requests for uniform and zipf (default 1000000)\n"
        "  -b BYTES    object size for uniform, zipf and trace lines without one (4096)\n"
        "  -s SEED     random seed (default 42)\n"
        "  -o FILE     write the curves as CSV    -g FILE  draw them as SVG\n");
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

int sim_main(int argc, char **argv)
{
    struct sim_opts o = {.wl = 1,
                         .keys = 100000,
                         .requests = 1000000,
                         .obj_size = 4096,
                         .seed = 42,
                         .s = 0.99,
                         .n_policies = 1};
    static struct result res[2][SIM_MAX_SIZES];
    char title[256], wl[200] = "zipf:100000:0.99";
    int opt;

    optind = 1;
    while ((opt = getopt(argc, argv, "m:P:w:u:n:b:s:o:g:h")) != -1) {
        char *end;

        switch (opt) {
        case 'm': {
            char *list = strdup(optarg), *save = NULL;

            for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                if (o.n_sizes == SIM_MAX_SIZES || parse_size(t, &o.sizes[o.n_sizes]) < 0) {
                    fprintf(stderr, "accel-bench sim: -m: expected sizes like 64m, got %s\n", t);
                    free(list);
                    return 2;
                }
                o.n_sizes++;
            }
            free(list);
            break;
        }
        case 'P':
            if (strcmp(optarg, "lru") == 0) {
                o.policies[0] = 0;
                o.n_policies = 1;
            } else if (strcmp(optarg, "s3fifo") == 0) {
                o.policies[0] = 1;
                o.n_policies = 1;
            } else if (strcmp(optarg, "lru,s3fifo") == 0 || strcmp(optarg, "s3fifo,lru") == 0) {
                o.policies[0] = 0;
                o.policies[1] = 1;
                o.n_policies = 2;
            } else {
                fprintf(stderr, "accel-bench sim: -P: expected lru, s3fifo or lru,s3fifo, got %s\n",
                        optarg);
                return 2;
            }
            break;
        case 'u':
            o.once = strtod(optarg, &end);
            if (*end || o.once < 0 || o.once >= 1) {
                fprintf(stderr, "accel-bench sim: -u: expected a share from 0 to below 1, got %s\n",
                        optarg);
                return 2;
            }
            break;
        case 'w':
            snprintf(wl, sizeof(wl), "%s", optarg);
            if (strncmp(optarg, "uniform:", 8) == 0) {
                o.wl = 0;
                o.keys = strtoull(optarg + 8, &end, 10);
            } else if (strncmp(optarg, "zipf:", 5) == 0) {
                o.wl = 1;
                o.keys = strtoull(optarg + 5, &end, 10);
                if (*end == ':')
                    o.s = strtod(end + 1, &end);
            } else if (strncmp(optarg, "trace:", 6) == 0) {
                char err[512];

                o.wl = 2;
                if (trace_load(optarg + 6, &o.trace, err, sizeof(err)) < 0) {
                    fprintf(stderr, "accel-bench sim: -w trace: %s\n", err);
                    return 2;
                }
                end = (char *)"";
            } else {
                end = optarg;
            }
            if (*end != '\0' || (o.wl != 2 && (o.keys == 0 || !(o.s > 0)))) {
                fprintf(stderr,
                        "accel-bench sim: -w: expected uniform:K, zipf:K[:S] or trace:FILE, got "
                        "%s\n",
                        optarg);
                return 2;
            }
            break;
        case 'n':
            o.requests = strtoull(optarg, &end, 10);
            if (*end || o.requests == 0) {
                fprintf(stderr, "accel-bench sim: -n: expected a number, got %s\n", optarg);
                return 2;
            }
            break;
        case 'b':
            if (parse_size(optarg, &o.obj_size) < 0) {
                fprintf(stderr, "accel-bench sim: -b: expected bytes, got %s\n", optarg);
                return 2;
            }
            break;
        case 's':
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case 'o':
            o.csv = optarg;
            break;
        case 'g':
            o.svg = optarg;
            break;
        case 'h':
            sim_usage(stdout);
            return 0;
        default:
            sim_usage(stderr);
            return 2;
        }
    }
    if (o.n_sizes == 0) {
        sim_usage(stderr);
        return 2;
    }
    for (unsigned i = 1; i < o.n_sizes; i++)
        for (unsigned j = i; j > 0 && o.sizes[j - 1] > o.sizes[j]; j--) {
            uint64_t t = o.sizes[j];

            o.sizes[j] = o.sizes[j - 1];
            o.sizes[j - 1] = t;
        }
    if (o.once > 0 && o.wl != 2) {
        size_t l = strlen(wl);

        snprintf(wl + l, sizeof(wl) - l, " + %.0f%% one-hit wonders", o.once * 100);
    }
    if (o.wl == 2)
        printf("workload %s: %zu requests (%llu lines, %llu skipped)\n", wl, o.trace.n,
               (unsigned long long)o.trace.lines, (unsigned long long)o.trace.skipped);
    else
        printf("workload %s: %llu requests, %llu-byte objects, seed %llu\n", wl,
               (unsigned long long)o.requests, (unsigned long long)o.obj_size,
               (unsigned long long)o.seed);
    printf("%10s", "memory");
    for (unsigned pi = 0; pi < o.n_policies; pi++)
        printf("  %8s hit  %8s bytes", policy_names[o.policies[pi]], policy_names[o.policies[pi]]);
    printf("\n");
    for (unsigned i = 0; i < o.n_sizes; i++) {
        char buf[32];

        printf("%10s", human(o.sizes[i], buf, sizeof(buf)));
        for (unsigned pi = 0; pi < o.n_policies; pi++) {
            struct result *r = &res[pi][i];

            replay(&o, o.sizes[i], o.policies[pi], r);
            printf("  %12.4f  %14.4f", ratio(r->hits, r->requests), ratio(r->hit_bytes, r->bytes));
        }
        printf("\n");
        fflush(stdout);
    }
    if (o.csv != NULL) {
        FILE *f = fopen(o.csv, "w");

        if (f == NULL) {
            fprintf(stderr, "accel-bench sim: %s: %s\n", o.csv, strerror(errno));
            return 1;
        }
        fprintf(f, "policy,memory_bytes,requests,hits,hit_ratio,bytes,hit_bytes,byte_hit_ratio,"
                   "evictions\n");
        for (unsigned pi = 0; pi < o.n_policies; pi++)
            for (unsigned i = 0; i < o.n_sizes; i++) {
                const struct result *r = &res[pi][i];

                fprintf(f, "%s,%llu,%llu,%llu,%.6f,%llu,%llu,%.6f,%llu\n",
                        policy_names[o.policies[pi]], (unsigned long long)r->size,
                        (unsigned long long)r->requests, (unsigned long long)r->hits,
                        ratio(r->hits, r->requests), (unsigned long long)r->bytes,
                        (unsigned long long)r->hit_bytes, ratio(r->hit_bytes, r->bytes),
                        (unsigned long long)r->evictions);
            }
        fclose(f);
    }
    if (o.svg != NULL) {
        snprintf(title, sizeof(title), "accel memory tier: hit ratio by size (%s)", wl);
        if (write_svg(o.svg, &o, res, title) < 0) {
            fprintf(stderr, "accel-bench sim: %s: %s\n", o.svg, strerror(errno));
            return 1;
        }
    }
    trace_free(&o.trace);
    return 0;
}
