/* admin.c - the admin API on its own thread and libev loop.
 *
 * One connection is one request: read the head (at most ADMIN_HEAD_MAX bytes, within
 * ADMIN_TIMEOUT), answer, close. Requests carry no body. The answers are built in memory (the
 * largest, /metrics, is a few KiB) and written as the socket takes them. Nothing here blocks a
 * worker: purges walk the memory tier a few hundred objects per shard lock, the disk side runs
 * on the disk writer; counters are read with relaxed atomic loads. The one wait of this thread
 * is /health's connect to the origin, bounded by ADMIN_PROBE_MS. */
#include "accel/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "accel/base.h"
#include "accel/cache.h"
#include "accel/conf.h"
#include "accel/http.h"
#include "accel/key.h"
#include "accel/log.h"
#include "accel/obj.h"
#include "accel/policy.h"
#include "accel/transport.h"
#include "accel/upstream.h"
#include "accel/worker.h"

#define ADMIN_MAGIC        0x61646d6eu
#define ADMIN_HEAD_MAX     (16 * 1024)
#define ADMIN_TIMEOUT      10.0 /* seconds for a whole exchange */
#define ADMIN_MAX_CONNS    64
#define ADMIN_PROBE_MS     500
#define ADMIN_ARG_MAX      4096
#define ADMIN_DISK_WAIT_MS 5000 /* a purge's answer waits this long for the disk's count */

struct aconn {
    struct admin *a;
    struct transport t;
    ev_io io;
    ev_timer timer;
    char in[ADMIN_HEAD_MAX];
    size_t len;
    struct http_parser p;
    struct buf out;
    int answered;
    char peer[64];
    struct aconn *prev, *next;
};

struct admin {
    unsigned magic;
    const struct conf *conf;
    struct cache *cache;
    struct worker **ws;
    unsigned nw;
    int lfd;
    pthread_t thread;
    struct ev_loop *loop;
    ev_io lio;
    ev_async stop;
    struct aconn *conns;
    unsigned nconns;
};

int admin_token_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    volatile unsigned char diff = (unsigned char)(alen != blen);

    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned char)((i < alen ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
    return diff == 0;
}

/* --- answers ---------------------------------------------------------------------------------- */

static void json_str(struct buf *b, const char *s, size_t n)
{
    buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\') {
            buf_append(b, "\\", 1);
            buf_append(b, &s[i], 1);
        } else if (ch < 0x20 || ch == 0x7f) {
            buf_printf(b, "\\u%04x", ch);
        } else {
            buf_append(b, &s[i], 1);
        }
    }
    buf_append(b, "\"", 1);
}

static void answer(struct aconn *ac, unsigned status, const char *type, const char *extra,
                   const struct buf *body)
{
    buf_printf(&ac->out,
               "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
               status, http_reason(status), type, body ? body->len : 0, extra ? extra : "");
    if (body != NULL && ac->p.head.method != HTTP_HEAD)
        buf_append(&ac->out, body->p, body->len);
    ac->answered = 1;
}

static void answer_json(struct aconn *ac, unsigned status, const struct buf *body)
{
    answer(ac, status, "application/json", NULL, body);
}

static void answer_error(struct aconn *ac, unsigned status, const char *msg)
{
    struct buf b = {0};

    buf_append_str(&b, "{\"error\": ");
    json_str(&b, msg, strlen(msg));
    buf_append_str(&b, "}\n");
    answer(ac, status, "application/json",
           status == 401 ? "WWW-Authenticate: Bearer realm=\"accel admin\"\r\n" : NULL, &b);
    buf_free(&b);
}

/* --- query strings ---------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The value of parameter <name> in query <q> (<qlen> bytes), percent-decoded into <out> (NUL
 * terminated). Returns its length, -1 when absent, -2 when malformed or too long. */
static long query_get(const char *q, size_t qlen, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = q, *end = q + qlen;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end, *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;

        if ((size_t)(ke - p) == nlen && memcmp(p, name, nlen) == 0) {
            size_t n = 0;

            for (const char *v = eq ? eq + 1 : pe; v < pe; v++) {
                char ch = *v;

                if (ch == '%') {
                    int hi, lo;

                    if (pe - v < 3)
                        return -2;
                    hi = hexval(v[1]);
                    lo = hexval(v[2]);
                    if (hi < 0 || lo < 0)
                        return -2;
                    ch = (char)(hi * 16 + lo);
                    v += 2;
                }
                if (ch == '\0' || n + 1 >= cap)
                    return -2;
                out[n++] = ch;
            }
            out[n] = '\0';
            return (long)n;
        }
        p = amp ? amp + 1 : end;
    }
    return -1;
}

/* A URL as an operator writes it ("http://Host:80/p?q", "host/p") to a cache key in <b>. With
 * <prefix>, an empty path stays empty... after the host's "/". Returns 0 or -EINVAL. */
static int url_key(const char *url, struct buf *b, struct key *k)
{
    const char *scheme = "http", *rest = url, *sep = strstr(url, "://"), *slash;
    char sch[16];

    if (sep != NULL) {
        size_t sl = (size_t)(sep - url);

        if (sl == 0 || sl >= sizeof sch)
            return -EINVAL;
        memcpy(sch, url, sl);
        sch[sl] = '\0';
        for (size_t i = 0; i < sl; i++)
            sch[i] = (char)((sch[i] >= 'A' && sch[i] <= 'Z') ? sch[i] + 32 : sch[i]);
        if (strcmp(sch, "http") != 0 && strcmp(sch, "https") != 0)
            return -EINVAL;
        scheme = strcmp(sch, "https") == 0 ? "https" : "http";
        rest = sep + 3;
    }
    slash = strchr(rest, '/');
    if (slash == rest)
        return -EINVAL;
    return key_build(b, scheme, span_of(rest, slash ? (size_t)(slash - rest) : strlen(rest)),
                     span_of(slash ? slash : "", slash ? strlen(slash) : 0), k);
}

/* --- endpoints -------------------------------------------------------------------------------- */

static void do_purge(struct aconn *ac, const char *q, size_t qlen)
{
    static const char *const names[] = {"url", "prefix", "tag", "regex", "all"};
    static const enum cache_purge kinds[] = {CACHE_PURGE_KEY, CACHE_PURGE_PREFIX, CACHE_PURGE_TAG,
                                             CACHE_PURGE_REGEX, CACHE_PURGE_ALL};
    char *tmp = xmalloc(ADMIN_ARG_MAX), *val = NULL, soft[8] = "";
    struct buf b = {0}, kb = {0}, why = {0};
    enum cache_purge kind = CACHE_PURGE_KEY;
    const char *which = NULL, *arg = "";
    size_t alen = 0;
    unsigned given = 0;
    int64_t disk_n = -1;
    int is_soft;
    uint64_t n;
    struct key k;

    for (size_t i = 0; i < countof(names); i++) {
        long r = query_get(q, qlen, names[i], tmp, ADMIN_ARG_MAX);

        if (r == -2) {
            buf_printf(&why, "parameter %s: bad percent-encoding or longer than %d bytes", names[i],
                       ADMIN_ARG_MAX - 1);
            answer_error(ac, 400, why.p);
            goto out;
        }
        if (r >= 0 && given++ == 0) {
            which = names[i];
            kind = kinds[i];
            val = xstrndup(tmp, (size_t)r);
            arg = val;
            alen = (size_t)r;
        }
    }
    if (given != 1) {
        answer_error(ac, 400,
                     given == 0 ? "say what to purge: url=, prefix=, tag=, regex= or all=1"
                                : "one of url=, prefix=, tag=, regex=, all= at a time");
        goto out;
    }
    if (kind == CACHE_PURGE_ALL && strcmp(val, "1") != 0 && strcmp(val, "true") != 0) {
        answer_error(ac, 400, "all= takes 1 (to purge everything)");
        goto out;
    }
    if (query_get(q, qlen, "soft", soft, sizeof soft) == -2 ||
        (soft[0] != '\0' && strcmp(soft, "1") != 0 && strcmp(soft, "0") != 0 &&
         strcmp(soft, "true") != 0 && strcmp(soft, "false") != 0)) {
        answer_error(ac, 400, "soft= takes 1 or 0");
        goto out;
    }
    is_soft = strcmp(soft, "1") == 0 || strcmp(soft, "true") == 0;
    if (ac->a->cache == NULL || cache_conf_of(ac->a->cache)->memory == 0) {
        answer_error(ac, 409, "the cache is off (cache_memory 0): nothing to purge");
        goto out;
    }
    if (kind == CACHE_PURGE_KEY || kind == CACHE_PURGE_PREFIX) {
        if (alen == 0 || url_key(val, &kb, &k) < 0) {
            buf_printf(&why, "%s: expected a URL like http://example.com/path", which);
            answer_error(ac, 400, why.p);
            goto out;
        }
        arg = k.p;
        alen = k.len;
    } else if (kind == CACHE_PURGE_ALL) {
        arg = "";
        alen = 0;
    } else if (kind == CACHE_PURGE_TAG && alen == 0) {
        answer_error(ac, 400, "tag: empty");
        goto out;
    } else if (kind == CACHE_PURGE_REGEX) {
        char err[256];

        if (alen == 0 || cache_regex_check(val, err, sizeof err) < 0) {
            buf_printf(&why, "regex: %s", alen == 0 ? "empty" : err);
            answer_error(ac, 400, why.p);
            goto out;
        }
    }
    n = cache_purge_wait(ac->a->cache, kind, arg, alen, is_soft, (int64_t)ev_now(ac->a->loop),
                         ADMIN_DISK_WAIT_MS, &disk_n);
    log_info("admin: purge %s %.*s%s from %s: %llu in memory, %lld on disk", which,
             (int)(alen > 200 ? 200 : alen), arg, is_soft ? " (soft)" : "", ac->peer,
             (unsigned long long)n, (long long)disk_n);
    buf_printf(&b, "{\"purged\": %llu, \"memory\": %llu, \"disk\": ",
               (unsigned long long)(n + (disk_n > 0 ? (uint64_t)disk_n : 0)),
               (unsigned long long)n);
    if (disk_n >= 0)
        buf_printf(&b, "%lld", (long long)disk_n);
    else
        buf_append_str(&b, "null");
    buf_printf(&b, ", \"kind\": \"%s\", \"soft\": %s, \"arg\": ", which,
               is_soft ? "true" : "false");
    json_str(&b, arg, alen);
    buf_append_str(&b, "}\n");
    answer_json(ac, 200, &b);
out:
    free(tmp);
    free(val);
    buf_free(&b);
    buf_free(&kb);
    buf_free(&why);
}

struct inspect_ctx {
    struct buf *b;
    int64_t now;
    unsigned n;
};

static void field_json(struct buf *b, const char *name, struct span v)
{
    buf_printf(b, ", \"%s\": ", name);
    if (v.p == NULL)
        buf_append_str(b, "null");
    else
        json_str(b, v.p, v.len);
}

static void inspect_one(void *arg, const char *tier, const struct obj *o)
{
    struct inspect_ctx *ic = arg;
    struct buf *b = ic->b;
    int64_t age = obj_age(o, ic->now);
    struct obj_meta m;

    obj_get_meta(o, &m);
    buf_append_str(b, ic->n++ ? ",\n  {" : "\n  {");
    buf_printf(b,
               "\"tier\": \"%s\", \"status\": %u, \"state\": \"%s\", \"size\": %zu, "
               "\"body_bytes\": %llu",
               tier, m.status,
               obj_state(o) == OBJ_COMPLETE ? "complete"
               : obj_state(o) == OBJ_BUSY   ? "fetching"
                                            : "failed",
               obj_size(o), (unsigned long long)obj_avail(o));
    buf_printf(b, ", \"encoding\": \"%s\", \"gzipped_by_accel\": %s",
               (m.flags & OBJ_F_GZIP) ? "gzip" : "identity",
               (m.flags & OBJ_F_GZIPPED) ? "true" : "false");
    if ((m.flags & OBJ_F_GZIP) && m.identity_len != OBJ_LEN_UNKNOWN)
        buf_printf(b, ", \"identity_bytes\": %llu", (unsigned long long)m.identity_len);
    buf_printf(b, ", \"age\": %lld, \"ttl\": %lld, \"ttl_left\": %lld, \"soft_purged\": %s",
               (long long)age, (long long)obj_ttl(o), (long long)(obj_ttl(o) - age),
               obj_purged_at(o) != 0 ? "true" : "false");
    field_json(b, "etag", obj_field(o, "etag"));
    field_json(b, "last_modified", obj_field(o, "last-modified"));
    field_json(b, "content_type", obj_field(o, "content-type"));
    buf_append_str(b, ", \"vary\": {");
    for (const char *p = m.vary.p; p != NULL && p < m.vary.p + m.vary.len;) {
        size_t nl = strlen(p);
        const char *val = p + nl + 1;
        size_t vl = strlen(val);

        if (p != m.vary.p)
            buf_append_str(b, ", ");
        json_str(b, p, nl);
        buf_append_str(b, ": ");
        json_str(b, val, vl);
        p = val + vl + 1;
    }
    buf_append_str(b, "}, \"tags\": [");
    for (const char *p = m.tags.p; p != NULL && p < m.tags.p + m.tags.len; p += strlen(p) + 1) {
        if (p != m.tags.p)
            buf_append_str(b, ", ");
        json_str(b, p, strlen(p));
    }
    buf_append_str(b, "]}");
}

static void do_inspect(struct aconn *ac, const char *q, size_t qlen)
{
    char *v = xmalloc(ADMIN_ARG_MAX);
    struct buf b = {0}, kb = {0};
    struct inspect_ctx ic = {.b = &b, .now = (int64_t)ev_now(ac->a->loop)};
    struct key k;
    long r = query_get(q, qlen, "url", v, ADMIN_ARG_MAX);

    if (r <= 0 || url_key(v, &kb, &k) < 0) {
        answer_error(ac, 400, "url=: expected a URL like http://example.com/path");
    } else if (ac->a->cache == NULL || cache_conf_of(ac->a->cache)->memory == 0) {
        answer_error(ac, 409, "the cache is off (cache_memory 0)");
    } else {
        buf_append_str(&b, "{\"key\": ");
        json_str(&b, k.p, k.len);
        buf_append_str(&b, ", \"entries\": [");
        (void)cache_inspect(ac->a->cache, &k, inspect_one, &ic);
        buf_append_str(&b, ic.n ? "\n]}\n" : "]}\n");
        answer_json(ac, ic.n ? 200 : 404, &b);
    }
    free(v);
    buf_free(&b);
    buf_free(&kb);
}

/* The workers' counters, summed. */
static void sum_workers(const struct admin *a, struct stats_totals *t)
{
    struct stats *each[256];
    unsigned n = a->nw < countof(each) ? a->nw : (unsigned)countof(each);

    for (unsigned i = 0; i < n; i++)
        each[i] = &a->ws[i]->stats;
    stats_sum(each, n, t);
}

/* "upstreams": [...]: each group and each server's state and counters. Returns how many groups
 * have no server up. */
static unsigned upstreams_json(struct buf *b, const struct conf *c)
{
    static const char *const balance[] = {"round_robin", "least_conn", "hash"};
    unsigned dead = 0;

    buf_append_str(b, "\"upstreams\": [");
    for (unsigned i = 0; i < c->n_upstreams; i++) {
        const struct conf_upstream *u = &c->upstreams[i];
        unsigned up = 0;

        buf_append_str(b, i ? ", {\"name\": " : "{\"name\": ");
        json_str(b, u->name, strlen(u->name));
        buf_printf(b, ", \"balance\": \"%s\", \"checks\": %s, \"servers\": [", balance[u->balance],
                   u->check_interval ? "true" : "false");
        for (unsigned j = 0; j < u->n_servers; j++) {
            const struct conf_server *s = &u->servers[j];
            struct upstream_server_stats st;

            upstream_server_stats(u, s, &st);
            up += st.up;
            buf_append_str(b, j ? ", {\"address\": " : "{\"address\": ");
            json_str(b, s->addr.text, strlen(s->addr.text));
            buf_printf(b,
                       ", \"state\": \"%s\", \"backup\": %s, \"weight\": %u, \"active\": %u, "
                       "\"requests\": %llu, \"failures\": %llu, \"downs\": %llu, "
                       "\"mean_ms\": %.3f, \"checks\": %llu, \"check_failures\": %llu}",
                       st.check_down   ? "down (checks)"
                       : st.failed_out ? "down (failures)"
                                       : "up",
                       s->backup ? "true" : "false", s->weight, st.active,
                       (unsigned long long)st.requests, (unsigned long long)st.failures,
                       (unsigned long long)st.downs,
                       st.completed ? (double)st.latency_us / 1000.0 / (double)st.completed : 0.0,
                       (unsigned long long)st.checks, (unsigned long long)st.check_failures);
        }
        buf_append_str(b, "]}");
        dead += up == 0;
    }
    buf_append_str(b, "]");
    return dead;
}

static void upstreams_prom(struct buf *b, const struct conf *c)
{
    /* an entry without a type continues the family above it (a summary's _count) */
    static const struct {
        const char *name, *family, *type, *help;
    } fam[] = {
        {"upstream_requests_total", "upstream_requests_total", "counter",
         "requests sent to each origin server"},
        {"upstream_failures_total", "upstream_failures_total", "counter",
         "connect errors, timeouts, broken and 5xx answers of each origin server"},
        {"upstream_downs_total", "upstream_downs_total", "counter",
         "times each origin server was taken out"},
        {"upstream_up", "upstream_up", "gauge", "1 while the origin server takes requests"},
        {"upstream_active", "upstream_active", "gauge", "requests on each origin server now"},
        {"upstream_duration_seconds_sum", "upstream_duration_seconds", "summary",
         "time each origin server took for the requests it completed"},
        {"upstream_duration_seconds_count", NULL, NULL, NULL},
        {"upstream_checks_total", "upstream_checks_total", "counter",
         "active health checks of each origin server"},
        {"upstream_check_failures_total", "upstream_check_failures_total", "counter",
         "active health checks of each origin server that failed"},
    };

    for (unsigned f = 0; f < countof(fam); f++) {
        if (fam[f].type != NULL)
            buf_printf(b, "# HELP accel_%s %s\n# TYPE accel_%s %s\n", fam[f].family, fam[f].help,
                       fam[f].family, fam[f].type);
        for (unsigned i = 0; i < c->n_upstreams; i++) {
            const struct conf_upstream *u = &c->upstreams[i];

            for (unsigned j = 0; j < u->n_servers; j++) {
                struct upstream_server_stats st;
                double v;

                upstream_server_stats(u, &u->servers[j], &st);
                v = f == 0   ? (double)st.requests
                    : f == 1 ? (double)st.failures
                    : f == 2 ? (double)st.downs
                    : f == 3 ? (double)st.up
                    : f == 4 ? (double)st.active
                    : f == 5 ? (double)st.latency_us / 1e6
                    : f == 6 ? (double)st.completed
                    : f == 7 ? (double)st.checks
                             : (double)st.check_failures;
                buf_printf(b, "accel_%s{upstream=\"%s\",server=\"%s\"} %.17g\n", fam[f].name,
                           u->name, u->servers[j].addr.text, v);
            }
        }
    }
}

static void do_stats(struct aconn *ac)
{
    struct stats_totals t;
    struct cache_stats cs = {0};
    struct buf b = {0};

    sum_workers(ac->a, &t);
    if (ac->a->cache != NULL)
        cache_get_stats(ac->a->cache, &cs);
    buf_append_str(&b, "{\n  \"counters\": {");
#define JSON_FIELD(f, fam, lab, type, help)                                                        \
    buf_printf(&b, "\"" #f "\": %llu, ", (unsigned long long)t.f);
    STATS_COUNTERS(JSON_FIELD)
#undef JSON_FIELD
    b.len -= 2;
    buf_printf(&b,
               "},\n  \"cache\": {\"memory_objects\": %llu, \"memory_bytes\": %llu, "
               "\"memory_budget\": %llu, \"memory_evictions\": %llu, \"purges\": %llu, "
               "\"purged\": %llu, \"disk\": %s",
               (unsigned long long)cs.objects, (unsigned long long)cs.bytes,
               (unsigned long long)cs.budget, (unsigned long long)cs.evictions,
               (unsigned long long)cs.purges, (unsigned long long)cs.purged,
               cs.disk ? "true" : "false");
    if (cs.disk)
        buf_printf(&b,
                   ", \"disk_entries\": %llu, \"disk_bytes\": %llu, \"disk_budget\": %llu, "
                   "\"disk_hits\": %llu, \"disk_writes\": %llu, \"disk_dropped\": %llu, "
                   "\"disk_errors\": %llu, \"disk_evicted\": %llu, \"disk_expired\": %llu, "
                   "\"disk_reset\": %s",
                   (unsigned long long)cs.disk_entries, (unsigned long long)cs.disk_bytes,
                   (unsigned long long)cs.disk_budget, (unsigned long long)cs.disk_hits,
                   (unsigned long long)cs.disk_writes, (unsigned long long)cs.disk_dropped,
                   (unsigned long long)cs.disk_errors, (unsigned long long)cs.disk_evicted,
                   (unsigned long long)cs.disk_expired, cs.disk_reset ? "true" : "false");
    buf_printf(&b,
               "},\n  \"latency\": {\"request_count\": %llu, \"request_mean_ms\": %.3f, "
               "\"origin_count\": %llu, \"origin_mean_ms\": %.3f},\n  ",
               (unsigned long long)t.req_count,
               t.req_count ? (double)t.req_sum_us / 1000.0 / (double)t.req_count : 0.0,
               (unsigned long long)t.org_count,
               t.org_count ? (double)t.org_sum_us / 1000.0 / (double)t.org_count : 0.0);
    (void)upstreams_json(&b, ac->a->conf);
    buf_append_str(&b, "\n}\n");
    answer_json(ac, 200, &b);
    buf_free(&b);
}

static void metric(struct buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    buf_printf(b, "# HELP accel_%s %s\n# TYPE accel_%s %s\naccel_%s %llu\n", name, help, name, type,
               name, (unsigned long long)v);
}

static void histogram(struct buf *b, const char *name, const char *help, const uint64_t *bk,
                      uint64_t sum_us, uint64_t count)
{
    uint64_t cum = 0;

    buf_printf(b, "# HELP accel_%s %s\n# TYPE accel_%s histogram\n", name, help, name);
    for (unsigned i = 0; i < STATS_HIST_N; i++) {
        cum += bk[i];
        if (i < STATS_HIST_N - 1)
            buf_printf(b, "accel_%s_bucket{le=\"%g\"} %llu\n", name, stats_hist_le[i],
                       (unsigned long long)cum);
        else
            buf_printf(b, "accel_%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    buf_printf(b, "accel_%s_sum %.6f\naccel_%s_count %llu\n", name, (double)sum_us / 1e6, name,
               (unsigned long long)count);
}

static void do_metrics(struct aconn *ac)
{
    struct stats_totals t;
    struct cache_stats cs = {0};
    struct buf b = {0};
    const char *last = "";

    sum_workers(ac->a, &t);
    if (ac->a->cache != NULL)
        cache_get_stats(ac->a->cache, &cs);
#define PROM_FIELD(f, fam, lab, type, help)                                                        \
    if (strcmp(last, fam) != 0)                                                                    \
        buf_printf(&b, "# HELP accel_%s %s\n# TYPE accel_%s %s\n", fam,                            \
                   (help)[0] ? (help) : "(see above)", fam, type);                                 \
    last = fam;                                                                                    \
    buf_printf(&b, "accel_%s%s%s%s %llu\n", fam, (lab)[0] ? "{" : "", lab, (lab)[0] ? "}" : "",    \
               (unsigned long long)t.f);
    STATS_COUNTERS(PROM_FIELD)
#undef PROM_FIELD
    buf_append_str(&b, "# HELP accel_cache_objects objects stored, by tier\n"
                       "# TYPE accel_cache_objects gauge\n");
    buf_printf(&b, "accel_cache_objects{tier=\"memory\"} %llu\n", (unsigned long long)cs.objects);
    if (cs.disk)
        buf_printf(&b, "accel_cache_objects{tier=\"disk\"} %llu\n",
                   (unsigned long long)cs.disk_entries);
    buf_append_str(&b, "# HELP accel_cache_bytes bytes stored, by tier\n"
                       "# TYPE accel_cache_bytes gauge\n");
    buf_printf(&b, "accel_cache_bytes{tier=\"memory\"} %llu\n", (unsigned long long)cs.bytes);
    if (cs.disk)
        buf_printf(&b, "accel_cache_bytes{tier=\"disk\"} %llu\n",
                   (unsigned long long)cs.disk_bytes);
    buf_append_str(&b, "# HELP accel_cache_budget_bytes the budget of each tier\n"
                       "# TYPE accel_cache_budget_bytes gauge\n");
    buf_printf(&b, "accel_cache_budget_bytes{tier=\"memory\"} %llu\n",
               (unsigned long long)cs.budget);
    if (cs.disk)
        buf_printf(&b, "accel_cache_budget_bytes{tier=\"disk\"} %llu\n",
                   (unsigned long long)cs.disk_budget);
    buf_append_str(&b, "# HELP accel_cache_evictions_total objects evicted for room, by tier\n"
                       "# TYPE accel_cache_evictions_total counter\n");
    buf_printf(&b, "accel_cache_evictions_total{tier=\"memory\"} %llu\n",
               (unsigned long long)cs.evictions);
    if (cs.disk)
        buf_printf(&b, "accel_cache_evictions_total{tier=\"disk\"} %llu\n",
                   (unsigned long long)cs.disk_evicted);
    metric(&b, "purges_total", "counter", "purge requests", cs.purges);
    metric(&b, "purged_objects_total", "counter", "memory objects purges removed or marked",
           cs.purged);
    if (cs.disk) {
        metric(&b, "disk_hits_total", "counter", "objects read back from the disk tier",
               cs.disk_hits);
        metric(&b, "disk_writes_total", "counter", "disk tier writes and deletes", cs.disk_writes);
        metric(&b, "disk_dropped_total", "counter", "disk writes dropped (queue full)",
               cs.disk_dropped);
        metric(&b, "disk_errors_total", "counter", "disk tier failures (and corrupt entries)",
               cs.disk_errors);
        metric(&b, "disk_expired_total", "counter", "disk entries removed past their use",
               cs.disk_expired);
        metric(&b, "disk_reset", "gauge",
               "1: the disk tier started empty, its damaged file moved aside", cs.disk_reset);
    }
    histogram(&b, "request_duration_seconds", "time from a request's head to its answer's end",
              t.req_b, t.req_sum_us, t.req_count);
    histogram(&b, "origin_duration_seconds", "time from an origin request to its answer's end",
              t.org_b, t.org_sum_us, t.org_count);
    upstreams_prom(&b, ac->a->conf);
    answer(ac, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, &b);
    buf_free(&b);
}

/* Connects to the origin, waiting at most ADMIN_PROBE_MS. Returns 0 or a negative errno. */
static int probe_origin(const struct conf *c, double *ms)
{
    struct timespec t0, t1;
    struct pollfd pfd;
    struct transport t;
    int rc, connected;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    const struct conf_addr *a = &c->default_upstream->servers[0].addr;

    rc = transport_connect(&t, &a->sa, a->salen, &connected);
    if (rc < 0)
        return rc;
    if (!connected) {
        pfd.fd = transport_fd(&t);
        pfd.events = POLLOUT;
        rc = poll(&pfd, 1, ADMIN_PROBE_MS);
        rc = rc == 0 ? -ETIMEDOUT : rc < 0 ? -errno : transport_connect_result(&t);
        if (rc < 0) {
            transport_close(&t);
            return rc;
        }
    }
    transport_close(&t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    return 0;
}

static void do_health(struct aconn *ac)
{
    struct buf b = {0};
    double ms = 0;
    int rc = probe_origin(ac->a->conf, &ms);
    struct buf ub = {0};
    unsigned dead = upstreams_json(&ub, ac->a->conf);

    /* the default upstream's first server is probed; every server's state is the upstreams' */
    if (rc == 0 && dead == 0)
        buf_printf(
            &b, "{\"status\": \"ok\", \"origin\": \"reachable\", \"origin_connect_ms\": %.3f", ms);
    else if (rc == 0)
        buf_printf(&b,
                   "{\"status\": \"degraded\", \"origin\": \"reachable\", "
                   "\"origin_connect_ms\": %.3f, \"error\": \"an upstream has no server up\"",
                   ms);
    else
        buf_printf(&b, "{\"status\": \"degraded\", \"origin\": \"unreachable\", \"error\": \"%s\"",
                   strerror(-rc));
    buf_printf(&b, ", %.*s}\n", (int)ub.len, ub.p);
    buf_free(&ub);
    answer_json(ac, rc == 0 && dead == 0 ? 200 : 503, &b);
    buf_free(&b);
}

/* 1 when the request carries the token. */
static int authorized(struct aconn *ac)
{
    const struct field *f = http_find(&ac->p.head, "authorization");
    const char *tok = ac->a->conf->admin_token;
    struct span v;

    if (f == NULL)
        return 0;
    v = span_trim(f->value);
    if (v.len < 7 || strncasecmp(v.p, "Bearer ", 7) != 0)
        return 0;
    v = span_trim(span_of(v.p + 7, v.len - 7));
    return admin_token_eq(v.p, v.len, tok, strlen(tok));
}

static void dispatch(struct aconn *ac)
{
    const struct http_head *h = &ac->p.head;
    struct span t = h->target;
    const char *qm = memchr(t.p, '?', t.len);
    struct span path = span_of(t.p, qm ? (size_t)(qm - t.p) : t.len);
    const char *q = qm ? qm + 1 : "";
    size_t qlen = qm ? (size_t)(t.p + t.len - qm - 1) : 0;
    int get = h->method == HTTP_GET || h->method == HTTP_HEAD;

    if (span_eq_ci(path, "/health")) {
        if (!get)
            return answer_error(ac, 405, "GET /health");
        return do_health(ac);
    }
    if (!authorized(ac)) {
        log_warn("admin: %s %.*s from %s: %s token", llhttp_method_name((llhttp_method_t)h->method),
                 (int)(path.len > 100 ? 100 : path.len), path.p, ac->peer,
                 http_find(h, "authorization") ? "wrong" : "no");
        return answer_error(ac, 401, "missing or wrong token (Authorization: Bearer <token>)");
    }
    if (span_eq_ci(path, "/purge")) {
        if (h->method != HTTP_POST && h->method != HTTP_PURGE && h->method != HTTP_DELETE)
            return answer_error(ac, 405, "POST /purge?url=... (or prefix=, tag=, regex=, all=1)");
        return do_purge(ac, q, qlen);
    }
    if (!get)
        return answer_error(ac, 405, "this endpoint takes GET");
    if (span_eq_ci(path, "/inspect"))
        return do_inspect(ac, q, qlen);
    if (span_eq_ci(path, "/stats"))
        return do_stats(ac);
    if (span_eq_ci(path, "/metrics"))
        return do_metrics(ac);
    answer_error(ac, 404,
                 "no such endpoint: /health, /purge, /inspect, /stats and /metrics are here");
}

/* --- connections ------------------------------------------------------------------------------ */

static void aconn_close(struct aconn *ac)
{
    struct admin *a = ac->a;

    ev_io_stop(a->loop, &ac->io);
    ev_timer_stop(a->loop, &ac->timer);
    transport_close(&ac->t);
    http_parser_fini(&ac->p);
    buf_free(&ac->out);
    if (ac->prev != NULL)
        ac->prev->next = ac->next;
    else
        a->conns = ac->next;
    if (ac->next != NULL)
        ac->next->prev = ac->prev;
    a->nconns--;
    free(ac);
}

static void aconn_write(struct aconn *ac)
{
    while (buf_pending(&ac->out) > 0) {
        ssize_t n = transport_write(&ac->t, ac->out.p + ac->out.off, buf_pending(&ac->out));

        if (n == -EAGAIN) {
            ev_io_stop(ac->a->loop, &ac->io);
            ev_io_set(&ac->io, transport_fd(&ac->t), EV_WRITE);
            ev_io_start(ac->a->loop, &ac->io);
            return;
        }
        if (n <= 0)
            break;
        buf_consume(&ac->out, (size_t)n);
    }
    aconn_close(ac);
}

static void on_aconn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct aconn *ac = w->data;

    (void)loop;
    if (ac->answered) {
        if (revents & EV_WRITE)
            aconn_write(ac);
        return;
    }
    for (;;) {
        ssize_t n;
        size_t used;
        enum http_ev ev;

        if (ac->len == sizeof(ac->in)) {
            answer_error(ac, 431, "request head too large");
            break;
        }
        n = transport_read(&ac->t, ac->in + ac->len, sizeof(ac->in) - ac->len);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            aconn_close(ac);
            return;
        }
        ev = http_parse(&ac->p, ac->in + ac->len, (size_t)n, &used);
        ac->len += (size_t)n;
        if (ev == HTTP_EV_ERROR) {
            answer_error(ac, ac->p.err_status ? (unsigned)ac->p.err_status : 400,
                         ac->p.err_reason ? ac->p.err_reason : "malformed request");
            break;
        }
        if (ev == HTTP_EV_HEAD || ev == HTTP_EV_DONE) {
            if (ac->p.head.content_length > 0 || (ac->p.head.flags & HTTP_F_CHUNKED))
                answer_error(ac, 400, "admin requests take no body: parameters go in the query");
            else
                dispatch(ac);
            break;
        }
    }
    aconn_write(ac);
}

static void on_aconn_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct aconn *ac = t->data;

    (void)loop;
    (void)revents;
    aconn_close(ac);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin *a = w->data;

    (void)revents;
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = transport_accept(a->lfd, &ss, &sl);
        struct aconn *ac;
        char host[INET6_ADDRSTRLEN] = "?";

        if (fd < 0)
            return;
        if (a->nconns >= ADMIN_MAX_CONNS) {
            transport_close_fd(fd);
            continue;
        }
        ac = xcalloc(1, sizeof(*ac));
        ac->a = a;
        transport_plain(&ac->t, fd, NULL, NULL);
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
        snprintf(ac->peer, sizeof(ac->peer), "%s", host);
        http_parser_init(&ac->p, 1, 64, ADMIN_HEAD_MAX);
        ev_io_init(&ac->io, on_aconn_io, fd, EV_READ);
        ac->io.data = ac;
        ev_io_start(loop, &ac->io);
        ev_timer_init(&ac->timer, on_aconn_timeout, ADMIN_TIMEOUT, 0);
        ac->timer.data = ac;
        ev_timer_start(loop, &ac->timer);
        ac->next = a->conns;
        if (a->conns != NULL)
            a->conns->prev = ac;
        a->conns = ac;
        a->nconns++;
    }
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *admin_main(void *arg)
{
    struct admin *a = arg;

    ev_run(a->loop, 0);
    while (a->conns != NULL)
        aconn_close(a->conns);
    return NULL;
}

int admin_start(const struct conf *c, struct cache *cache, struct worker **ws, unsigned n,
                struct admin **out, char *err, size_t errlen)
{
    struct admin *a;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char text[96], host[INET6_ADDRSTRLEN] = "?";
    int rc;

    a = xcalloc(1, sizeof(*a));
    a->magic = ADMIN_MAGIC;
    a->conf = conf_ref(c);
    a->cache = cache;
    a->ws = ws;
    a->nw = n;
    a->lfd = transport_listen(&c->admin_listen.sa, c->admin_listen.salen, 0, 64);
    rc = a->lfd < 0 ? a->lfd : transport_local_addr(a->lfd, &ss, &sl);
    if (rc < 0) {
        snprintf(err, errlen, "admin: cannot listen on %s: %s", c->admin_listen.text,
                 strerror(-rc));
        transport_close_fd(a->lfd);
        free(a);
        return rc;
    }
    a->loop = ev_loop_new(EVFLAG_AUTO);
    AN(a->loop);
    ev_io_init(&a->lio, on_accept, a->lfd, EV_READ);
    a->lio.data = a;
    ev_io_start(a->loop, &a->lio);
    ev_async_init(&a->stop, on_stop);
    ev_async_start(a->loop, &a->stop);
    {
        sigset_t all, old; /* signals are the main thread's */

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        rc = pthread_create(&a->thread, NULL, admin_main, a);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (rc != 0) {
        snprintf(err, errlen, "admin: cannot start its thread: %s", strerror(rc));
        ev_loop_destroy(a->loop);
        transport_close_fd(a->lfd);
        free(a);
        return -rc;
    }
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
        snprintf(text, sizeof(text), "%s:%u", host, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
        snprintf(text, sizeof(text), "[%s]:%u", host,
                 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    }
    log_info("admin API on %s", text);
    *out = a;
    return 0;
}

void admin_stop(struct admin **ap)
{
    struct admin *a = *ap;

    if (a == NULL)
        return;
    CHECK_OBJ(a, ADMIN_MAGIC);
    ev_async_send(a->loop, &a->stop);
    AZ(pthread_join(a->thread, NULL));
    ev_loop_destroy(a->loop);
    transport_close_fd(a->lfd);
    conf_unref(&a->conf);
    a->magic = 0;
    free(a);
    *ap = NULL;
}
