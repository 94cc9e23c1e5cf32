/* origin.c - accel-origin, the demo origin and the benchmark origin: a small, fast HTTP/1.1 server.
 *
 * Threads: each of the -t N workers runs its own libev loop with its own SO_REUSEPORT listening
 * socket; a connection lives and dies on the worker that accepted it. The main thread only starts
 * the workers, waits in sigwait() for SIGINT/SIGTERM and then stops them through their ev_async.
 *
 * Requests are parsed by llhttp (never by hand). Keep-alive and pipelining: the parser pauses
 * after each complete request, and the next one is parsed only once the previous response is fully
 * queued, so responses leave in request order. A connection is a small state machine (enum
 * conn_state, driven by conn_run()): READ (parse what is buffered, else wait for bytes), DELAY (the
 * request's delay timer runs) and SEND (queue the response and write it).
 *
 * Responses are a pure function of the request (query: size, delay, cc, status, chunked, text),
 * except X-Origin-Count: the per-path request counter, shared by all workers in a sharded hash map
 * (one mutex per shard, held for one lookup and one increment).
 *
 * Bodies: a fixed prefix ("accel-origin <path>\n", so two paths always differ) followed by a
 * pattern (near-random characters, or words with text=1) read from one read-only buffer, built once
 * at start, at an offset derived from the path. Small bodies are copied into the connection's
 * output buffer (so pipelined responses leave in one write); large ones are written straight from
 * the pattern buffer with writev, one slice at a time under the write watcher's backpressure, never
 * built in memory.
 *
 * Ownership: a worker owns its loop, its listener and its connections (a list, freed at shutdown);
 * a connection owns its fd, its watchers and its buffers. conn_close() frees the connection at
 * once, so every caller returns right after it.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <llhttp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN_IN_CAP      16384 /* bytes read at once; the parser streams, nothing is kept */
#define ORIGIN_URL_CAP     8192  /* longer request targets get 414 */
#define ORIGIN_HDR_CAP     128   /* If-None-Match / If-Modified-Since / Expect values kept */
#define ORIGIN_OUT_HIGH    65536 /* stop queueing (and parsing pipelined requests) above this */
#define ORIGIN_OUT_KEEP    65536 /* an idle output buffer larger than this is given back */
#define ORIGIN_INLINE_MAX  16384 /* bodies up to this size are copied into the output buffer */
#define ORIGIN_SLICE_MAX   65536 /* largest write from the pattern buffer, and largest chunk */
#define ORIGIN_PATTERN_LEN 65536 /* period of the pattern; the buffer holds it twice */
#define ORIGIN_PREFIX_MAX  256   /* the body prefix names the path, truncated to this */
#define ORIGIN_SIZE_MAX    (1ULL << 30)
#define ORIGIN_DELAY_MAX   3600000L /* ms */
#define ORIGIN_ACCEPT_MAX  64       /* accepts per wake-up, so one worker does not starve */
#define STATS_SHARDS       64       /* power of two */
#define STATS_PATHS_MAX    1000000  /* distinct paths tracked; more are counted as "untracked" */
#define STATS_PATH_MAX     1024     /* longer paths are tracked under their first bytes */
#define LAST_MODIFIED      "Mon, 01 Jan 2024 00:00:00 GMT"
#define LAST_MODIFIED_T    1704067200

#define countof(a)            (sizeof(a) / sizeof((a)[0]))
#define container_of(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

/* ---- small helpers --------------------------------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fprintf(stderr, "accel-origin: out of memory\n");
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        fprintf(stderr, "accel-origin: out of memory\n");
        abort();
    }
    return p;
}

/* A growable byte buffer; the owner frees <p>. */
struct buf {
    char *p;
    size_t len;
    size_t cap;
};

static void buf_reserve(struct buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 1024;

    if (b->len + n <= b->cap)
        return;
    while (cap < b->len + n)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    buf_reserve(b, 128);
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    assert(n >= 0);
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        assert(n >= 0 && (size_t)n < b->cap - b->len);
    }
    b->len += (size_t)n;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* FNV-1a with a final mix, so that the top bits (the stats shard) are spread too. */
static uint64_t hash_bytes(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes %XX and '+' in the NUL-terminated <s> in place. Returns -EBADMSG on a bad escape. */
static int url_decode(char *s)
{
    char *w = s;
    int hi, lo;

    for (; *s != '\0'; s++) {
        if (*s == '+') {
            *w++ = ' ';
        } else if (*s == '%') {
            hi = hexval((unsigned char)s[1]);
            lo = hi < 0 ? -1 : hexval((unsigned char)s[2]);
            if (lo < 0)
                return -EBADMSG;
            *w++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
    return 0;
}

/* Parses a decimal count with an optional k/m/g suffix (powers of 1024) into *<out>. */
static int parse_size(const char *s, uint64_t *out)
{
    unsigned long long v;
    uint64_t mult = 1;
    char *end;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -ERANGE;
    switch (*end) {
    case 'k':
    case 'K':
        mult = 1ULL << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1ULL << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1ULL << 30;
        end++;
        break;
    default:
        break;
    }
    if (*end != '\0')
        return -EINVAL;
    if (v > UINT64_MAX / mult)
        return -ERANGE;
    *out = (uint64_t)v * mult;
    return 0;
}

/* Parses a decimal long in [<min>, <max>] into *<out>. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

static const char *reason_phrase(int status)
{
    static const struct {
        int status;
        const char *text;
    } tab[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {206, "Partial Content"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {410, "Gone"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    size_t i;

    for (i = 0; i < countof(tab); i++)
        if (tab[i].status == status)
            return tab[i].text;
    return "Status";
}

/* ---- the body pattern -------------------------------------------------------------------------
 * Lines of 63 printable characters and a newline, pseudo-random from a fixed seed, so the same
 * binary always sends the same bytes. The buffer holds the period twice, so any slice of up to
 * ORIGIN_PATTERN_LEN bytes starting inside the first period is contiguous. Read-only after
 * pattern_init(), shared by every worker. */

static char pattern[2 * ORIGIN_PATTERN_LEN];

static void pattern_init(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    size_t i;

    for (i = 0; i < ORIGIN_PATTERN_LEN; i++) {
        if (i % 64 == 63) {
            pattern[i] = '\n';
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = alphabet[x % 64];
    }
    memcpy(pattern + ORIGIN_PATTERN_LEN, pattern, ORIGIN_PATTERN_LEN);
}

/* The text pattern (text=1): the same layout, but lines of up to 72 characters made of words
 * drawn pseudo-randomly (fixed seed) from a small English vocabulary. The default pattern is
 * nearly random (6 bits of 8 per character: gzip keeps ~76% of it); this one compresses like
 * prose (gzip -6 keeps about a third), for benchmarks of compression. */
static char text_pattern[2 * ORIGIN_PATTERN_LEN];

static void text_pattern_init(void)
{
    static const char *const words[] = {
        "the",     "of",     "and",     "to",      "in",     "is",      "that",     "for",
        "it",      "as",     "was",     "with",    "be",     "by",      "on",       "not",
        "he",      "this",   "are",     "or",      "his",    "from",    "at",       "which",
        "but",     "have",   "an",      "they",    "you",    "were",    "her",      "she",
        "there",   "been",   "one",     "all",     "we",     "their",   "has",      "would",
        "when",    "if",     "so",      "no",      "will",   "can",     "more",     "about",
        "other",   "into",   "some",    "could",   "them",   "time",    "only",     "new",
        "these",   "two",    "may",     "first",   "then",   "do",      "any",      "like",
        "my",      "now",    "over",    "such",    "our",    "man",     "me",       "even",
        "most",    "made",   "after",   "also",    "did",    "many",    "before",   "must",
        "through", "back",   "years",   "where",   "much",   "your",    "way",      "well",
        "down",    "should", "because", "each",    "just",   "those",   "people",   "how",
        "too",     "little", "state",   "good",    "very",   "make",    "world",    "still",
        "own",     "see",    "men",     "work",    "long",   "get",     "here",     "between",
        "both",    "life",   "being",   "under",   "never",  "day",     "same",     "another",
        "know",    "while",  "last",    "might",   "us",     "great",   "old",      "year",
        "off",     "come",   "since",   "against", "go",     "came",    "right",    "used",
        "take",    "three",  "cache",   "proxy",   "origin", "request", "response", "header",
        "body",    "server", "client",  "object",  "memory",
    };
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    size_t i = 0, line = 0, n;
    const char *w;

    while (i < ORIGIN_PATTERN_LEN) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w = words[x % countof(words)];
        n = strlen(w);
        if (line + n + 1 > 72) {
            text_pattern[i++] = '\n';
            line = 0;
        } else if (line > 0) {
            text_pattern[i++] = ' ';
            line++;
        }
        for (; *w != '\0' && i < ORIGIN_PATTERN_LEN; w++, line++)
            text_pattern[i++] = *w;
    }
    memcpy(text_pattern + ORIGIN_PATTERN_LEN, text_pattern, ORIGIN_PATTERN_LEN);
}

/* ---- per-path counters, shared by all workers ---------------------------------------------- */

struct stats_entry {
    struct stats_entry *next;
    uint64_t hash;
    uint64_t count;
    size_t len;
    char path[];
};

struct stats_shard {
    pthread_mutex_t mu;
    struct stats_entry **tab;
    size_t size; /* power of two */
    size_t used;
};

static struct stats_shard stats_shards[STATS_SHARDS];
static atomic_uint_fast64_t stats_total;
static atomic_uint_fast64_t stats_untracked;
static atomic_size_t stats_npaths;

static void stats_init(void)
{
    size_t i;

    for (i = 0; i < STATS_SHARDS; i++) {
        if (pthread_mutex_init(&stats_shards[i].mu, NULL) != 0)
            abort();
        stats_shards[i].size = 64;
        stats_shards[i].tab = xcalloc(64, sizeof(struct stats_entry *));
    }
}

static void stats_grow_locked(struct stats_shard *s)
{
    size_t nsize = s->size * 2, i;
    struct stats_entry **ntab = xcalloc(nsize, sizeof(*ntab));
    struct stats_entry *e, *next;

    for (i = 0; i < s->size; i++) {
        for (e = s->tab[i]; e != NULL; e = next) {
            next = e->next;
            e->next = ntab[e->hash & (nsize - 1)];
            ntab[e->hash & (nsize - 1)] = e;
        }
    }
    free(s->tab);
    s->tab = ntab;
    s->size = nsize;
}

/* Counts one request for the <len> bytes of <path> (hashed to <h>) and returns how many this path
 * has had, this one included; 0 when the path is not tracked because the map is full. */
static uint64_t stats_count(const char *path, size_t len, uint64_t h)
{
    /* the shard from high bits, the bucket in it from the low ones */
    struct stats_shard *s = &stats_shards[(h >> 32) & (STATS_SHARDS - 1)];
    struct stats_entry *e;
    uint64_t n = 0;

    atomic_fetch_add_explicit(&stats_total, 1, memory_order_relaxed);
    if (len > STATS_PATH_MAX)
        len = STATS_PATH_MAX;
    pthread_mutex_lock(&s->mu);
    for (e = s->tab[h & (s->size - 1)]; e != NULL; e = e->next) {
        if (e->hash == h && e->len == len && memcmp(e->path, path, len) == 0) {
            n = ++e->count;
            goto out;
        }
    }
    if (atomic_fetch_add(&stats_npaths, 1) >= STATS_PATHS_MAX) {
        atomic_fetch_sub(&stats_npaths, 1);
        atomic_fetch_add_explicit(&stats_untracked, 1, memory_order_relaxed);
        goto out;
    }
    if (s->used >= s->size)
        stats_grow_locked(s);
    e = xrealloc(NULL, sizeof(*e) + len + 1);
    e->hash = h;
    e->count = n = 1;
    e->len = len;
    memcpy(e->path, path, len);
    e->path[len] = '\0';
    e->next = s->tab[h & (s->size - 1)];
    s->tab[h & (s->size - 1)] = e;
    s->used++;
out:
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Forgets every counter. With <release>, also frees the tables (at exit). */
static void stats_reset(int release)
{
    struct stats_entry *e, *next;
    size_t i, j, freed;

    for (i = 0; i < STATS_SHARDS; i++) {
        struct stats_shard *s = &stats_shards[i];

        pthread_mutex_lock(&s->mu);
        freed = 0;
        for (j = 0; j < s->size; j++) {
            for (e = s->tab[j]; e != NULL; e = next) {
                next = e->next;
                free(e);
                freed++;
            }
            s->tab[j] = NULL;
        }
        s->used = 0;
        atomic_fetch_sub(&stats_npaths, freed);
        pthread_mutex_unlock(&s->mu);
        if (release) {
            free(s->tab);
            s->tab = NULL;
            pthread_mutex_destroy(&s->mu);
        }
    }
    atomic_store(&stats_total, 0);
    atomic_store(&stats_untracked, 0);
}

struct stats_row {
    char *path;
    uint64_t count;
};

static int stats_row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct stats_row *)a)->path, ((const struct stats_row *)b)->path);
}

static void json_string(struct buf *b, const char *s)
{
    const unsigned char *p;

    buf_append(b, "\"", 1);
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            buf_printf(b, "\\u%04x", *p);
        else
            buf_append(b, p, 1);
    }
    buf_append(b, "\"", 1);
}

/* Appends the counters as JSON, paths sorted: {"requests": n, "untracked": n, "paths": {...}}. */
static void stats_json(struct buf *b)
{
    struct stats_row *rows = NULL;
    size_t nrows = 0, cap = 0, i, j;
    struct stats_entry *e;

    for (i = 0; i < STATS_SHARDS; i++) {
        struct stats_shard *s = &stats_shards[i];

        pthread_mutex_lock(&s->mu);
        if (nrows + s->used > cap) {
            cap = (nrows + s->used) * 2;
            rows = xrealloc(rows, cap * sizeof(*rows));
        }
        for (j = 0; j < s->size; j++) {
            for (e = s->tab[j]; e != NULL; e = e->next) {
                rows[nrows].path = strdup(e->path);
                if (rows[nrows].path == NULL)
                    abort();
                rows[nrows].count = e->count;
                nrows++;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (nrows > 0)
        qsort(rows, nrows, sizeof(*rows), stats_row_cmp);
    buf_printf(b, "{\"requests\": %" PRIu64 ", \"untracked\": %" PRIu64 ", \"paths\": {",
               (uint64_t)atomic_load(&stats_total), (uint64_t)atomic_load(&stats_untracked));
    for (i = 0; i < nrows; i++) {
        if (i > 0)
            buf_append(b, ", ", 2);
        json_string(b, rows[i].path);
        buf_printf(b, ": %" PRIu64, rows[i].count);
        free(rows[i].path);
    }
    buf_append(b, "}}\n", 3);
    free(rows);
}

/* ---- connections --------------------------------------------------------------------------- */

enum conn_state {
    CONN_READ = 0, /* parse what is buffered, else wait for bytes */
    CONN_DELAY,    /* a request is complete and its delay timer runs */
    CONN_SEND,     /* the response is being queued and written */
};

enum req_kind {
    REQ_BODY = 0, /* any path: the pattern body */
    REQ_ROOT,     /* "/": the demo page */
    REQ_STATS,    /* "/__stats" */
    REQ_RESET,    /* "/__reset" */
    REQ_ERROR,    /* a bad request, answered at once */
};

enum req_hdr {
    HDR_OTHER = 0,
    HDR_IF_NONE_MATCH,
    HDR_IF_MODIFIED_SINCE,
    HDR_EXPECT,
};

/* One header value we keep, truncated to ORIGIN_HDR_CAP - 1 bytes; NUL-terminated. */
struct hdr_val {
    char v[ORIGIN_HDR_CAP];
    size_t len;
    int set;
};

/* The request being answered. Its strings point into its connection's url buffer, which stays
 * untouched until the response is fully queued and the next request is parsed. */
struct req {
    enum req_kind kind;
    uint8_t method;
    uint8_t http_minor;
    int keep_alive;
    const char *path;
    size_t path_len;
    uint64_t hash;
    uint64_t size;
    long delay_ms;
    int has_delay;
    long status;
    const char *cc;
    int chunked;
    int text; /* text=1: the body comes from text_pattern */
    uint64_t count;
    uint64_t body_bytes;
    struct hdr_val inm, ims, expect;
    char etag[48];
};

/* The body being queued: <fixed_len> bytes from <fixed>, then pattern bytes up to <size>. */
struct resp {
    const char *fixed;
    size_t fixed_len;
    uint64_t size;
    uint64_t queued; /* body bytes already handed to the output */
    uint64_t off;    /* pattern offset of body byte 0 */
    const char *pat; /* pattern or text_pattern */
    int chunked;
    int done; /* everything, chunk trailer included, is queued */
    char prefix[ORIGIN_PREFIX_MAX + 32];
};

struct worker;

struct conn {
    int fd;
    enum conn_state state;
    int close_after; /* close once the queued response is written */
    struct worker *w;
    struct conn *prev, *next; /* the worker's list */
    ev_io rio, wio;
    ev_timer delay;
    llhttp_t parser;
    char in[ORIGIN_IN_CAP];
    size_t in_off, in_len; /* parsed up to in_off */
    char url[ORIGIN_URL_CAP + 1];
    size_t url_len;
    int url_overflow;
    char hname[32];
    size_t hname_len;
    enum req_hdr hdr;
    struct req req;
    struct resp resp;
    struct buf out; /* head, framing, small bodies */
    size_t out_sent;
    const char *slice; /* pattern bytes to write after out */
    size_t slice_len;
    struct buf json; /* /__stats body */
};

struct worker {
    int id;
    pthread_t thread;
    struct ev_loop *loop;
    int lfd;
    ev_io accept_w;
    ev_timer accept_retry;
    ev_async stop_w;
    struct conn *conns;
    time_t date_sec;
    char date[40];
};

static llhttp_settings_t parser_settings;
static long default_delay_ms;

static const char root_html[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>accel demo origin</title></head>\n"
    "<body>\n<h1>This is the accel demo origin</h1>\n"
    "<p>accel-origin is a deliberately simple web server to put behind accel. Every answer is "
    "computed from the request, so you can watch what the cache does:</p>\n<ul>\n"
    "<li><a href=\"/hello?delay=500\">/hello?delay=500</a> &mdash; answers after 500 ms: slow "
    "the first time, instant from the cache</li>\n"
    "<li><a href=\"/big?size=1m\">/big?size=1m</a> &mdash; a 1 MiB body (size=N, with k, m or "
    "g; at most 1g)</li>\n"
    "<li><a href=\"/page?cc=max-age%3D10\">/page?cc=max-age%3D10</a> &mdash; sets "
    "Cache-Control (cc=no-store makes it uncacheable)</li>\n"
    "<li><a href=\"/gone?status=404\">/gone?status=404</a> &mdash; any status code; "
    "<a href=\"/stream?chunked=1&amp;size=100k\">chunked=1</a> sends the body chunked</li>\n"
    "<li><a href=\"/__stats\">/__stats</a> &mdash; how many requests reached the origin, per "
    "path (<a href=\"/__reset\">/__reset</a> zeroes them)</li>\n</ul>\n"
    "<p>Each answer carries <code>X-Origin-Count</code>: how many times the origin has seen this "
    "path. Through a cache it stops climbing.</p>\n</body></html>\n";

static void conn_run(struct conn *c);

static void worker_date(struct worker *w)
{
    time_t now = (time_t)ev_now(w->loop);
    struct tm tm;

    if (now == w->date_sec)
        return;
    w->date_sec = now;
    gmtime_r(&now, &tm);
    strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void conn_close(struct conn *c)
{
    struct worker *w = c->w;

    ev_io_stop(w->loop, &c->rio);
    ev_io_stop(w->loop, &c->wio);
    ev_timer_stop(w->loop, &c->delay);
    close(c->fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    buf_free(&c->out);
    buf_free(&c->json);
    free(c);
}

static size_t out_pending(const struct conn *c)
{
    return c->out.len - c->out_sent + c->slice_len;
}

/* Queues the next piece of the body: the fixed part into out, pattern bytes into out (small
 * bodies) or as the slice. Call only while the slice is empty, so the bytes stay in order. */
static void resp_next(struct conn *c)
{
    struct resp *r = &c->resp;
    uint64_t left = r->size - r->queued;
    size_t n, k;

    assert(c->slice_len == 0 && !r->done);
    if (left == 0) {
        if (r->chunked)
            buf_printf(&c->out, "%s0\r\n\r\n", r->size > 0 ? "\r\n" : "");
        r->done = 1;
        return;
    }
    n = left > ORIGIN_SLICE_MAX ? ORIGIN_SLICE_MAX : (size_t)left;
    if (r->chunked)
        buf_printf(&c->out, "%s%zx\r\n", r->queued > 0 ? "\r\n" : "", n);
    if (r->queued < r->fixed_len) {
        k = r->fixed_len - (size_t)r->queued;
        if (k > n)
            k = n;
        buf_append(&c->out, r->fixed + r->queued, k);
        r->queued += k;
        n -= k;
    }
    if (n == 0)
        return;
    k = (size_t)((r->off + r->queued) % ORIGIN_PATTERN_LEN);
    if (r->size <= ORIGIN_INLINE_MAX) {
        buf_append(&c->out, r->pat + k, n);
    } else {
        c->slice = r->pat + k;
        c->slice_len = n;
    }
    r->queued += n;
}

static void resp_fill(struct conn *c)
{
    while (c->state == CONN_SEND && !c->resp.done && c->slice_len == 0 &&
           c->out.len - c->out_sent < ORIGIN_OUT_HIGH)
        resp_next(c);
}

/* Writes what is queued, queueing more body as it goes. Returns 0 once everything is written
 * (and, in CONN_SEND, the whole response), -EAGAIN when it waits for the write watcher, or a
 * negative errno when the connection is dead. */
static int conn_flush(struct conn *c)
{
    struct iovec iov[2];
    ssize_t n;
    size_t k;
    int cnt;

    for (;;) {
        resp_fill(c);
        cnt = 0;
        if (c->out.len > c->out_sent) {
            iov[cnt].iov_base = c->out.p + c->out_sent;
            iov[cnt].iov_len = c->out.len - c->out_sent;
            cnt++;
        }
        if (c->slice_len > 0) {
            iov[cnt].iov_base = (void *)c->slice;
            iov[cnt].iov_len = c->slice_len;
            cnt++;
        }
        if (cnt == 0)
            return 0;
        n = writev(c->fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_stop(c->w->loop, &c->rio);
                ev_io_start(c->w->loop, &c->wio);
                return -EAGAIN;
            }
            return -errno;
        }
        k = c->out.len - c->out_sent;
        if ((size_t)n < k) {
            c->out_sent += (size_t)n;
            continue;
        }
        n -= (ssize_t)k;
        c->out.len = c->out_sent = 0;
        if (c->out.cap > ORIGIN_OUT_KEEP)
            buf_free(&c->out);
        c->slice += n;
        c->slice_len -= (size_t)n;
    }
}

/* Writes the response head for <status> and sets up its body: <fixed_len> bytes of <fixed>,
 * then pattern bytes up to <size> in all. */
static void resp_start(struct conn *c, long status, const char *ctype, const char *fixed,
                       size_t fixed_len, uint64_t size)
{
    struct req *q = &c->req;
    struct resp *r = &c->resp;
    struct buf *o = &c->out;
    int no_body = status == 204 || status == 304;
    int counted = q->kind == REQ_BODY || q->kind == REQ_ROOT;

    worker_date(c->w);
    r->chunked = q->chunked && q->http_minor >= 1 && !no_body;
    buf_printf(o, "HTTP/1.1 %ld %s\r\nServer: accel-origin\r\nDate: %s\r\n", status,
               reason_phrase((int)status), c->w->date);
    if (!no_body)
        buf_printf(o, "Content-Type: %s\r\n", ctype);
    if (r->chunked)
        buf_printf(o, "Transfer-Encoding: chunked\r\n");
    else if (!no_body)
        buf_printf(o, "Content-Length: %" PRIu64 "\r\n", size);
    if (counted)
        buf_printf(o, "Last-Modified: " LAST_MODIFIED "\r\nETag: %s\r\n", q->etag);
    if (q->cc != NULL)
        buf_printf(o, "Cache-Control: %s\r\n", q->cc);
    if (counted)
        buf_printf(o, "X-Origin-Count: %" PRIu64 "\r\n", q->count);
    if (q->body_bytes > 0 || q->method == HTTP_POST || q->method == HTTP_PUT ||
        q->method == HTTP_PATCH)
        buf_printf(o, "X-Request-Body-Bytes: %" PRIu64 "\r\n", q->body_bytes);
    if (!q->keep_alive)
        buf_printf(o, "Connection: close\r\n");
    else if (q->http_minor == 0)
        buf_printf(o, "Connection: keep-alive\r\n");
    buf_append(o, "\r\n", 2);

    r->fixed = fixed;
    r->fixed_len = fixed_len < size ? fixed_len : (size_t)size;
    r->size = size;
    r->queued = 0;
    r->off = q->hash % ORIGIN_PATTERN_LEN;
    r->pat = q->text ? text_pattern : pattern;
    r->done = no_body || q->method == HTTP_HEAD;
    c->close_after = !q->keep_alive;
    c->state = CONN_SEND;
}

/* Answers <status> with a one-line text body naming <why>. */
static void resp_error(struct conn *c, long status, const char *why)
{
    struct resp *r = &c->resp;
    int n;

    c->req.kind = REQ_ERROR;
    c->req.cc = "no-store";
    c->req.chunked = 0;
    n = snprintf(r->prefix, sizeof(r->prefix), "accel-origin: %s\n", why);
    if (n < 0 || (size_t)n >= sizeof(r->prefix))
        n = (int)sizeof(r->prefix) - 1;
    resp_start(c, status, "text/plain", r->prefix, (size_t)n, (uint64_t)n);
}

static int req_not_modified(const struct req *q)
{
    struct tm tm;
    const char *end;

    if (q->status != 200 || (q->method != HTTP_GET && q->method != HTTP_HEAD))
        return 0;
    if (q->inm.set)
        return strcmp(q->inm.v, "*") == 0 || strstr(q->inm.v, q->etag) != NULL;
    if (!q->ims.set)
        return 0;
    memset(&tm, 0, sizeof(tm));
    end = strptime(q->ims.v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return end != NULL && *end == '\0' && timegm(&tm) >= LAST_MODIFIED_T;
}

/* Queues the response to the current request (after its delay). */
static void req_respond(struct conn *c)
{
    struct req *q = &c->req;
    struct resp *r = &c->resp;
    int n;

    switch (q->kind) {
    case REQ_STATS:
        c->json.len = 0;
        stats_json(&c->json);
        q->cc = "no-store";
        resp_start(c, 200, "application/json", c->json.p, c->json.len, c->json.len);
        return;
    case REQ_RESET:
        stats_reset(0);
        q->cc = "no-store";
        n = snprintf(r->prefix, sizeof(r->prefix), "{\"reset\": true}\n");
        resp_start(c, 200, "application/json", r->prefix, (size_t)n, (uint64_t)n);
        return;
    case REQ_ROOT:
        if (req_not_modified(q))
            resp_start(c, 304, NULL, NULL, 0, 0);
        else
            resp_start(c, q->status, "text/html; charset=utf-8", root_html, sizeof(root_html) - 1,
                       sizeof(root_html) - 1);
        return;
    case REQ_ERROR:
        return; /* resp_error() answered already */
    case REQ_BODY:
        if (req_not_modified(q)) {
            resp_start(c, 304, NULL, NULL, 0, 0);
            return;
        }
        n = snprintf(r->prefix, sizeof(r->prefix), "accel-origin %.*s\n",
                     (int)(q->path_len < ORIGIN_PREFIX_MAX ? q->path_len : ORIGIN_PREFIX_MAX),
                     q->path);
        resp_start(c, q->status, "text/plain", r->prefix, (size_t)n, q->size);
        return;
    }
}

/* Reads the request target in c->url into c->req. Returns 0, or -EINVAL with *<why> set. */
static int req_parse_url(struct conn *c, const char **why)
{
    struct req *q = &c->req;
    char *u = c->url, *query, *param, *val, *next, *ch;
    uint64_t size;

    c->url[c->url_len] = '\0';
    if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0) {
        u = strchr(strstr(u, "://") + 3, '/'); /* absolute form: drop scheme and authority */
        if (u == NULL) {
            u = c->url;
            memcpy(u, "/", 2);
        }
    }
    if (u[0] != '/') {
        *why = "the request target must start with /";
        return -EINVAL;
    }
    query = strchr(u, '?');
    if (query != NULL)
        *query++ = '\0';
    q->path = u;
    q->path_len = strlen(u);
    for (param = query; param != NULL && *param != '\0'; param = next) {
        next = strchr(param, '&');
        if (next != NULL)
            *next++ = '\0';
        val = strchr(param, '=');
        if (val == NULL)
            continue;
        *val++ = '\0';
        if (url_decode(val) < 0) {
            *why = "bad %-escape in the query";
            return -EINVAL;
        }
        if (strcmp(param, "size") == 0) {
            if (parse_size(val, &size) < 0 || size > ORIGIN_SIZE_MAX) {
                *why = "size= wants a byte count (suffix k, m or g allowed), at most 1g";
                return -EINVAL;
            }
            q->size = size;
        } else if (strcmp(param, "delay") == 0) {
            if (parse_long(val, 0, ORIGIN_DELAY_MAX, &q->delay_ms) < 0) {
                *why = "delay= wants milliseconds, at most 3600000";
                return -EINVAL;
            }
            q->has_delay = 1;
        } else if (strcmp(param, "status") == 0) {
            if (parse_long(val, 200, 599, &q->status) < 0) {
                *why = "status= wants a status code from 200 to 599";
                return -EINVAL;
            }
        } else if (strcmp(param, "cc") == 0) {
            for (ch = val; *ch != '\0'; ch++) {
                if ((unsigned char)*ch < 0x20 || *ch == 0x7f) {
                    *why = "cc= must not hold control characters";
                    return -EINVAL;
                }
            }
            q->cc = val;
        } else if (strcmp(param, "chunked") == 0) {
            q->chunked = strcmp(val, "0") != 0 && val[0] != '\0';
        } else if (strcmp(param, "text") == 0) {
            q->text = strcmp(val, "0") != 0 && val[0] != '\0';
        }
    }
    return 0;
}

static void on_delay(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct conn *c = container_of(t, struct conn, delay);

    (void)loop;
    (void)revents;
    req_respond(c);
    conn_run(c);
}

/* The current request is complete (the parser is paused after it): answer it now or after its
 * delay. */
static void conn_request(struct conn *c)
{
    struct req *q = &c->req;
    const char *why = NULL;
    long delay;

    if (req_parse_url(c, &why) < 0) {
        resp_error(c, 400, why);
        return;
    }
    if (strcmp(q->path, "/__stats") == 0) {
        q->kind = REQ_STATS;
        req_respond(c);
        return;
    }
    if (strcmp(q->path, "/__reset") == 0) {
        q->kind = REQ_RESET;
        req_respond(c);
        return;
    }
    q->kind = strcmp(q->path, "/") == 0 ? REQ_ROOT : REQ_BODY;
    q->hash = hash_bytes(q->path, q->path_len);
    q->count = stats_count(q->path, q->path_len, q->hash);
    snprintf(q->etag, sizeof(q->etag), "\"%016" PRIx64 "-%" PRIx64 "%s\"", q->hash,
             q->kind == REQ_ROOT ? (uint64_t)sizeof(root_html) - 1 : q->size,
             q->kind == REQ_BODY && q->text ? "-t" : "");
    delay = q->has_delay ? q->delay_ms : default_delay_ms;
    if (delay == 0) {
        req_respond(c);
        return;
    }
    c->state = CONN_DELAY;
    ev_io_stop(c->w->loop, &c->rio);
    ev_timer_set(&c->delay, (double)delay / 1000.0, 0.0);
    ev_timer_start(c->w->loop, &c->delay);
}

/* Parses the buffered input up to the end of the next request. */
static void conn_parse(struct conn *c)
{
    const char *p = c->in + c->in_off;
    enum llhttp_errno err;

    err = llhttp_execute(&c->parser, p, c->in_len - c->in_off);
    if (err == HPE_OK) {
        c->in_off = c->in_len;
        return;
    }
    if (err == HPE_PAUSED) {
        c->in_off += (size_t)(llhttp_get_error_pos(&c->parser) - p);
        llhttp_resume(&c->parser);
        conn_request(c);
        return;
    }
    c->in_off = c->in_len;
    c->req.keep_alive = 0;
    c->req.http_minor = 1;
    if (c->url_overflow)
        resp_error(c, 414, "request target too long");
    else if (err == HPE_PAUSED_UPGRADE)
        resp_error(c, 501, "upgrades are not supported");
    else
        resp_error(c, 400, llhttp_get_error_reason(&c->parser));
}

static void conn_run(struct conn *c)
{
    int rc;

    for (;;) {
        switch (c->state) {
        case CONN_READ:
            if (c->in_off < c->in_len) {
                conn_parse(c);
                continue;
            }
            c->in_off = c->in_len = 0;
            rc = conn_flush(c); /* pipelined responses, 100 Continue */
            if (rc == -EAGAIN)
                return;
            if (rc < 0) {
                conn_close(c);
                return;
            }
            ev_io_start(c->w->loop, &c->rio);
            return;
        case CONN_DELAY:
            rc = conn_flush(c); /* responses to earlier pipelined requests */
            if (rc < 0 && rc != -EAGAIN)
                conn_close(c);
            return;
        case CONN_SEND:
            resp_fill(c);
            if (c->resp.done && c->slice_len == 0 && !c->close_after &&
                out_pending(c) < ORIGIN_OUT_HIGH) {
                c->state = CONN_READ; /* queued whole: go on with pipelined requests */
                continue;
            }
            rc = conn_flush(c);
            if (rc == -EAGAIN)
                return;
            if (rc < 0 || c->close_after) {
                conn_close(c);
                return;
            }
            c->state = CONN_READ;
            continue;
        }
    }
}

static void on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = container_of(io, struct conn, rio);
    ssize_t n;

    (void)loop;
    (void)revents;
    assert(c->state == CONN_READ && c->in_len == 0);
    n = read(c->fd, c->in, sizeof(c->in));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->in_len = (size_t)n;
    conn_run(c);
}

static void on_writable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = container_of(io, struct conn, wio);

    (void)revents;
    ev_io_stop(loop, io);
    conn_run(c);
}

/* ---- llhttp callbacks: gather the request target and the few headers we answer to ---- */

static int on_message_begin(llhttp_t *p)
{
    struct conn *c = p->data;

    memset(&c->req, 0, sizeof(c->req));
    c->req.size = 1024;
    c->req.status = 200;
    c->url_len = 0;
    c->url_overflow = 0;
    c->hname_len = 0;
    c->hdr = HDR_OTHER;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    if (len > ORIGIN_URL_CAP - c->url_len) {
        c->url_overflow = 1;
        return -1;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    if (len > sizeof(c->hname) - c->hname_len)
        len = sizeof(c->hname) - c->hname_len; /* too long to be one we want */
    memcpy(c->hname + c->hname_len, at, len);
    c->hname_len += len;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    size_t n = c->hname_len;

    c->hdr = HDR_OTHER;
    if (n == 13 && strncasecmp(c->hname, "if-none-match", n) == 0)
        c->hdr = HDR_IF_NONE_MATCH;
    else if (n == 17 && strncasecmp(c->hname, "if-modified-since", n) == 0)
        c->hdr = HDR_IF_MODIFIED_SINCE;
    else if (n == 6 && strncasecmp(c->hname, "expect", n) == 0)
        c->hdr = HDR_EXPECT;
    c->hname_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct hdr_val *h;

    switch (c->hdr) {
    case HDR_IF_NONE_MATCH:
        h = &c->req.inm;
        break;
    case HDR_IF_MODIFIED_SINCE:
        h = &c->req.ims;
        break;
    case HDR_EXPECT:
        h = &c->req.expect;
        break;
    default:
        return 0;
    }
    h->set = 1;
    if (len > sizeof(h->v) - 1 - h->len)
        len = sizeof(h->v) - 1 - h->len;
    memcpy(h->v + h->len, at, len);
    h->len += len;
    h->v[h->len] = '\0';
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct conn *c = p->data;

    c->hdr = HDR_OTHER;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    struct req *q = &c->req;

    q->method = llhttp_get_method(p);
    q->http_minor = llhttp_get_http_major(p) == 1 ? llhttp_get_http_minor(p) : 1;
    q->keep_alive = llhttp_should_keep_alive(p);
    if (q->expect.set && strcasecmp(q->expect.v, "100-continue") == 0 && q->http_minor >= 1)
        buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    (void)at;
    c->req.body_bytes += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED; /* one request at a time: conn_parse() answers it, then resumes */
}

/* ---- workers ----------------------------------------------------------------------------------
 */

static void conn_new(struct worker *w, int fd)
{
    struct conn *c = xcalloc(1, sizeof(*c));

    c->fd = fd;
    c->w = w;
    c->state = CONN_READ;
    ev_io_init(&c->rio, on_readable, fd, EV_READ);
    ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
    ev_timer_init(&c->delay, on_delay, 0.0, 0.0);
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    ev_io_start(w->loop, &c->rio);
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = container_of(t, struct worker, accept_retry);

    (void)revents;
    ev_io_start(loop, &w->accept_w);
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct worker *w = container_of(io, struct worker, accept_w);
    int i, fd, one = 1;

    (void)revents;
    for (i = 0; i < ORIGIN_ACCEPT_MAX; i++) {
        fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: pause accepting instead of spinning on the listener */
                fprintf(stderr, "accel-origin: accept: %s\n", strerror(errno));
                ev_io_stop(loop, io);
                ev_timer_set(&w->accept_retry, 0.1, 0.0);
                ev_timer_start(loop, &w->accept_retry);
            }
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_new(w, fd);
    }
}

static void on_stop(struct ev_loop *loop, ev_async *a, int revents)
{
    struct worker *w = container_of(a, struct worker, stop_w);

    (void)revents;
    ev_io_stop(loop, &w->accept_w);
    ev_timer_stop(loop, &w->accept_retry);
    ev_async_stop(loop, a);
    while (w->conns != NULL)
        conn_close(w->conns);
    ev_break(loop, EVBREAK_ALL);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    ev_run(w->loop, 0);
    return NULL;
}

/* ---- start-up ------------------------------------------------------------------------------- */

/* Resolves "ADDR:PORT" ("[v6]:PORT" too) into *<ss>. Returns 0 or -EINVAL. */
static int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    struct addrinfo hints, *res;
    size_t hlen;
    int rc;

    if (colon == NULL || colon[1] == '\0')
        return -EINVAL;
    hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        s++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(hlen > 0 ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "accel-origin: %s: %s\n", s, gai_strerror(rc));
        return -EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Opens a non-blocking SO_REUSEPORT listener on <ss>; when its port is 0, stores the port the
 * kernel chose back into <ss>, so the next listeners join the same port. Returns the fd or -1. */
static int listen_open(struct sockaddr_storage *ss, socklen_t sslen)
{
    int fd, one = 1;

    fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)ss, sslen) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)ss, &sslen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: accel-origin [-t THREADS] [-l ADDR:PORT] [-d DELAY_MS]\n"
               "  -t N          worker threads, each with its own loop and socket (default 1)\n"
               "  -l ADDR:PORT  where to listen (default 127.0.0.1:8081; port 0: any free port)\n"
               "  -d MS         delay for every request without delay= (default 0)\n"
               "Query parameters: size=N[k|m|g] delay=MS cc=VALUE status=N chunked=1 text=1.\n"
               "GET /__stats: request counts per path (JSON); GET /__reset: zero them.\n");
}

int main(int argc, char **argv)
{
    const char *listen_addr = "127.0.0.1:8081";
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct worker *workers;
    char host[INET6_ADDRSTRLEN];
    struct rlimit rl;
    sigset_t sigs;
    long nthreads = 1;
    int opt, sig, i, port;

    while ((opt = getopt(argc, argv, "t:l:d:h")) != -1) {
        switch (opt) {
        case 't':
            if (parse_long(optarg, 1, 256, &nthreads) < 0) {
                fprintf(stderr, "accel-origin: -t wants 1 to 256 threads\n");
                return 2;
            }
            break;
        case 'l':
            listen_addr = optarg;
            break;
        case 'd':
            if (parse_long(optarg, 0, ORIGIN_DELAY_MAX, &default_delay_ms) < 0) {
                fprintf(stderr, "accel-origin: -d wants milliseconds, at most %ld\n",
                        ORIGIN_DELAY_MAX);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (addr_parse(listen_addr, &ss, &sslen) < 0) {
        fprintf(stderr, "accel-origin: -l wants ADDR:PORT, got '%s'\n", listen_addr);
        return 2;
    }

    /* blocked before the ready line, so a signal sent right after it is not lost; the workers
     * inherit the mask and only the main thread takes the signals, in sigwait() */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    /* many benchmark connections: take every descriptor we are allowed */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    pattern_init();
    text_pattern_init();
    stats_init();
    llhttp_settings_init(&parser_settings);
    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_field_complete = on_header_field_complete;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_header_value_complete = on_header_value_complete;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;

    workers = xcalloc((size_t)nthreads, sizeof(*workers));
    for (i = 0; i < nthreads; i++) {
        struct worker *w = &workers[i];

        w->id = i;
        w->lfd = listen_open(&ss, sslen);
        if (w->lfd < 0) {
            fprintf(stderr, "accel-origin: cannot listen on %s: %s\n", listen_addr,
                    strerror(errno));
            return 1;
        }
        w->loop = ev_loop_new(EVFLAG_AUTO);
        if (w->loop == NULL) {
            fprintf(stderr, "accel-origin: cannot create an event loop\n");
            return 1;
        }
        ev_io_init(&w->accept_w, on_accept, w->lfd, EV_READ);
        ev_timer_init(&w->accept_retry, on_accept_retry, 0.0, 0.0);
        ev_async_init(&w->stop_w, on_stop);
        ev_io_start(w->loop, &w->accept_w);
        ev_async_start(w->loop, &w->stop_w);
    }

    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
        port = ntohs(a6->sin6_port);
        printf("accel-origin listening on http://[%s]:%d\n", host, port);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
        port = ntohs(a4->sin_port);
        printf("accel-origin listening on http://%s:%d\n", host, port);
    }
    fflush(stdout);

    for (i = 0; i < nthreads; i++) {
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "accel-origin: cannot start a thread\n");
            return 1;
        }
    }
    do {
        if (sigwait(&sigs, &sig) != 0)
            sig = 0;
    } while (sig != SIGINT && sig != SIGTERM);

    for (i = 0; i < nthreads; i++)
        ev_async_send(workers[i].loop, &workers[i].stop_w);
    for (i = 0; i < nthreads; i++) {
        pthread_join(workers[i].thread, NULL);
        ev_loop_destroy(workers[i].loop);
        close(workers[i].lfd);
    }
    free(workers);
    stats_reset(1);
    return 0;
}
