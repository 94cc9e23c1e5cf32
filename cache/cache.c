/* cache.c - what a request gets from the cache.
 *
 * One lookup is one lru_find(): the pick callback looks at each object of the key under the
 * shard lock and takes the first usable one (a pass marker still in force, a busy object, a
 * fresh complete object whose Vary values match); when none is, make() inserts a new busy
 * object, so two requests for a cold key can never both fetch it. A stale object is served
 * only within its stale-while-revalidate window (CACHE_HIT_STALE: the caller refreshes it in
 * the background); past it, it comes back as <stale> beside the new busy object, whose fetch
 * revalidates it (src/store.c: a 304 refreshes it into the new object) and which it may stand
 * in for when the origin fails (stale-if-error, grace); the new object replaces it when it
 * completes (cache_complete).
 *
 * Vary: an object carries the request values of the fields its response's Vary names, as
 * "name\0value\0" pairs, each value in a canonical form (vary_norm: the whitespace and case
 * the field's syntax makes insignificant removed), so equivalent requests share a variant; the
 * format is unchanged, and a value stored raw by an older accel is normalised when compared.
 * A busy object whose head has not arrived is taken by anyone (Varnish does the same): a
 * subscriber whose Vary values turn out different goes to the origin alone. */
#include "accel/cache.h"

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accel/disk.h"
#include "accel/fmt.h"
#include "accel/lru.h"
#include "cache/obj_int.h"

#define WQ_CAP      4096  /* objects waiting for the disk writer; past it they are dropped */
#define VARIANT_SEP ' '   /* disk key of a variant: "<key> <16 hex digits of its Vary values>" */
#define VARIANTS    16    /* at most this many variants of a key are read back from disk */
#define TAGS_MAX    64    /* tags kept per object (Surrogate-Key, Cache-Tag) */
#define HIGH_PCT    80    /* the writer evicts when the disk's data passes this % of the budget */
#define LOW_PCT     70    /* ... down to this % */
#define EXPIRE_MAX  10000 /* expired entries removed per sweep (one transaction) */
#define NAME_CAP    1024  /* a disk name longer than this is not written (LMDB takes ~500) */

#define DEL_CAP 65536 /* invalidations waiting for the writer; past it they are dropped */

enum wkind {
    W_DEL_KEY = 0, /* delete <arg> and its variants */
    W_DEL_NAME,    /* delete the one entry named <arg> (a corrupt one) */
    W_DEL_PREFIX,  /* delete every key starting with <arg> */
    W_DEL_TAG,     /* delete every entry tagged <arg> */
    W_DEL_REGEX,   /* delete every key regular expression <re> (<arg>) matches */
};

/* A write for the disk writer: object <o> (a reference), the <seq>th queued. */
struct wjob {
    struct obj *o;
    uint64_t seq;
};

/* A delete for the disk writer. It runs once the writes queued before it are done, and stays
 * listed until it has run: meanwhile, promotions from disk skip what it is to delete. */
struct pending {
    struct pending *next;
    enum wkind kind;
    char *arg; /* malloc'd */
    size_t len;
    uint64_t after; /* the seq of the last write queued before it */
    regex_t re;     /* W_DEL_REGEX: <arg> compiled */
    int waiter;     /* a purge waits for it (and frees it); under wmu */
    int done;       /* it ran; under wmu */
    uint64_t removed;
};

struct cache {
    struct cache_conf conf;
    struct lru *mem;
    /* the disk tier: one writer thread owns every write; workers only read */
    struct disk *disk;
    pthread_t writer;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    pthread_cond_t dcv; /* a listed delete ran */
    struct wjob q[WQ_CAP];
    unsigned qhead, qlen;
    uint64_t put_seq;
    struct pending *dhead, **dtail;
    unsigned ndel;
    atomic_uint npending;       /* ndel, read without the lock */
    atomic_uint_fast64_t gen;   /* +1 per delete listed: a promotion racing one notices */
    atomic_uint_fast64_t ddone; /* +1 per delete done on disk: likewise */
    int stop;
    _Atomic int64_t now; /* the latest time a caller gave us: the writer's clock for expiry */
    int disk_full;       /* writer's: the file system said ENOSPC (logged once) */
    atomic_uint_fast64_t disk_hits, disk_writes, disk_dropped, disk_errors;
    atomic_uint_fast64_t disk_evicted, disk_expired;
    atomic_uint_fast64_t purges, purged;
};

static void note_now(struct cache *c, int64_t now)
{
    int64_t seen = atomic_load_explicit(&c->now, memory_order_relaxed);

    while (now > seen && !atomic_compare_exchange_weak(&c->now, &seen, now))
        ;
}

static void say(const struct cache *c, int level, const char *msg)
{
    if (c->conf.log != NULL)
        c->conf.log(level, msg);
}

/* The name of <o> on disk: its key, or for a variant "<key> <hash of its Vary values>".
 * Returns the length written to <out> (0: <o> has no name on disk). */
static size_t disk_name(const struct obj *o, char *out, size_t cap)
{
    uint64_t h;

    if (o->key_len + 18 > cap || memchr(o->key, VARIANT_SEP, o->key_len) != NULL)
        return 0;
    memcpy(out, o->key, o->key_len);
    if (o->vary_len == 0)
        return o->key_len;
    h = key_hash_stable(o->vary, o->vary_len);
    out[o->key_len] = VARIANT_SEP;
    for (int i = 15; i >= 0; i--, h >>= 4)
        out[o->key_len + 1 + i] = "0123456789abcdef"[h & 0xf];
    return o->key_len + 17;
}

/* Calls <fn> for each tag of <o>. Stops when <fn> returns nonzero and returns that. */
static int each_tag(const struct obj *o, int (*fn)(struct span tag, void *arg), void *arg)
{
    for (const char *p = o->tags; p != NULL && p < o->tags + o->tags_len;) {
        size_t len = strlen(p);
        int rc = len > 0 ? fn(span_of(p, len), arg) : 0;

        if (rc != 0)
            return rc;
        p += len + 1;
    }
    return 0;
}

size_t cache_tags_build(const struct field *f, unsigned n, char **out)
{
    struct buf b = {0};
    unsigned count = 0;

    *out = NULL;
    for (unsigned i = 0; i < n && count < TAGS_MAX; i++) {
        struct span v = f[i].value;
        size_t start = 0;
        char sep;

        if (span_eq_ci(f[i].name, "surrogate-key"))
            sep = ' ';
        else if (span_eq_ci(f[i].name, "cache-tag"))
            sep = ',';
        else
            continue;
        for (size_t j = 0; j <= v.len && count < TAGS_MAX; j++) {
            struct span t;

            if (j < v.len && v.p[j] != sep && v.p[j] != ' ' && v.p[j] != '\t')
                continue;
            t = span_of(v.p + start, j - start);
            start = j + 1;
            if (t.len == 0 || t.len > DISK_TAG_MAX || memchr(t.p, '\0', t.len) != NULL ||
                b.len + t.len + 1 > DISK_TAGS_MAX)
                continue;
            buf_append(&b, t.p, t.len);
            buf_append(&b, "", 1);
            count++;
        }
    }
    *out = b.p;
    return b.len;
}

struct tag_list {
    struct buf *b;
    unsigned n;
};

static int add_tag(struct span t, void *arg)
{
    struct tag_list *tl = arg;

    if (t.len > DISK_TAG_MAX || tl->b->len + t.len + 1 > DISK_TAGS_MAX)
        return 0; /* too long for the index: that tag cannot be purged on disk */
    buf_append(tl->b, t.p, t.len);
    buf_append(tl->b, "", 1);
    return ++tl->n == TAGS_MAX;
}

/* When nothing can use <o> any more: fresh for its ttl, then the longest of its
 * stale-while-revalidate, stale-if-error and the configured grace. */
static int64_t expires_at(const struct cache *c, const struct obj *o)
{
    int64_t age0 = policy_current_age(o->date, o->age_value, o->t_req, o->t_resp, o->t_resp);
    int64_t window = o->swr > o->sie ? o->swr : o->sie;

    if (c->conf.grace > window)
        window = c->conf.grace;
    return o->t_resp - age0 + (o->ttl > 0 ? o->ttl : 0) + window + 1;
}

/* Writes a run of W_PUT jobs in one transaction. */
static void write_objects(struct cache *c, struct wjob *jobs, unsigned k, struct buf *b)
{
    struct disk_item items[64];
    size_t offs[64], toffs[64], tlens[64], noffs[64], nlens[64];
    int rc;

    AN(k <= countof(items));
    b->off = b->len = 0;
    for (unsigned j = 0; j < k; j++) {
        struct obj *o = jobs[j].o;
        struct tag_list tl = {.b = b};
        char name[NAME_CAP];

        nlens[j] = disk_name(o, name, sizeof(name));
        noffs[j] = b->len;
        buf_append(b, name, nlens[j]);
        toffs[j] = b->len;
        (void)each_tag(o, add_tag, &tl);
        tlens[j] = b->len - toffs[j];
        offs[j] = b->len;
        fmt_encode(o, b);
        items[j] = (struct disk_item){.expires = expires_at(c, o)};
    }
    for (unsigned j = 0; j < k; j++) {
        items[j].key = b->p + noffs[j];
        items[j].klen = nlens[j];
        items[j].tags = tlens[j] > 0 ? b->p + toffs[j] : NULL;
        items[j].tags_len = tlens[j];
        items[j].blob = b->p + offs[j];
        items[j].len = (j + 1 < k ? noffs[j + 1] : b->len) - offs[j];
    }
    rc = disk_put_many(c->disk, items, k);
    if (rc == -ENOSPC && !c->disk_full) {
        c->disk_full = 1;
        say(c, 1,
            "cache_disk: the file system is full (No space left on device): objects are no "
            "longer written to disk; serving from memory");
    } else if (rc == 0 && c->disk_full) {
        c->disk_full = 0;
        say(c, 2, "cache_disk: writes to disk succeed again");
    }
    atomic_fetch_add(rc < 0 ? &c->disk_errors : &c->disk_writes, k);
}

/* disk_del_match()'s test for W_DEL_REGEX: the key of a disk name (a variant's without its
 * suffix), matched against the regular expression at <arg>. */
static int name_matches(void *arg, const char *name, size_t len)
{
    const char *sep = memchr(name, VARIANT_SEP, len);
    char buf[NAME_CAP + 1];

    if (sep != NULL)
        len = (size_t)(sep - name);
    if (len > NAME_CAP)
        return 0;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return regexec(arg, buf, 0, NULL, 0) == 0;
}

/* Runs delete <j> on the disk; returns how many entries it removed. */
static uint64_t run_delete(struct cache *c, const struct pending *j)
{
    uint64_t n = 0;
    char *var;
    int rc;

    switch (j->kind) {
    case W_DEL_KEY:
    case W_DEL_NAME:
        rc = disk_del(c->disk, j->arg, j->len);
        n = rc == 0;
        if (j->kind == W_DEL_KEY) {
            var = xmalloc(j->len + 1);
            memcpy(var, j->arg, j->len);
            var[j->len] = VARIANT_SEP;
            n += disk_del_prefix(c->disk, var, j->len + 1);
            free(var);
        }
        atomic_fetch_add(rc < 0 && rc != -ENOENT ? &c->disk_errors : &c->disk_writes, 1);
        break;
    case W_DEL_PREFIX:
        n = disk_del_prefix(c->disk, j->arg, j->len);
        atomic_fetch_add(&c->disk_writes, 1);
        break;
    case W_DEL_TAG:
        n = disk_del_tag(c->disk, j->arg, j->len);
        atomic_fetch_add(&c->disk_writes, 1);
        break;
    case W_DEL_REGEX:
        n = disk_del_match(c->disk, name_matches, (void *)&j->re);
        atomic_fetch_add(&c->disk_writes, 1);
        break;
    }
    return n;
}

static void pending_free(struct pending *d)
{
    if (d->kind == W_DEL_REGEX)
        regfree(&d->re);
    free(d->arg);
    free(d);
}

/* Between batches: removes what has expired, then, past the high-water mark, the oldest
 * entries down to the low-water mark. */
static void housekeep(struct cache *c, int64_t *last)
{
    int64_t now = atomic_load(&c->now);
    struct disk_stats st;

    if (now > *last) {
        *last = now;
        atomic_fetch_add(&c->disk_expired, disk_expire(c->disk, now, EXPIRE_MAX));
    }
    if (disk_stats(c->disk, &st) == 0 && st.used > st.map_size / 100 * HIGH_PCT)
        atomic_fetch_add(&c->disk_evicted, disk_evict(c->disk, st.map_size / 100 * LOW_PCT));
}

static void *writer_main(void *arg)
{
    struct cache *c = arg;
    struct wjob batch[64], run[64];
    struct buf b = {0};
    int64_t last_sweep = 0;

    for (;;) {
        struct pending *d = NULL;
        unsigned n = 0, m = 0;

        pthread_mutex_lock(&c->wmu);
        while (c->qlen == 0 && c->dhead == NULL && !c->stop)
            pthread_cond_wait(&c->wcv, &c->wmu);
        if (c->qlen == 0 && c->dhead == NULL) {
            pthread_mutex_unlock(&c->wmu);
            break;
        }
        /* the writes queued before the first delete, then that delete */
        while (c->qlen > 0 && n < countof(batch) &&
               (c->dhead == NULL || c->q[c->qhead].seq <= c->dhead->after)) {
            batch[n++] = c->q[c->qhead];
            c->qhead = (c->qhead + 1) % WQ_CAP;
            c->qlen--;
        }
        if (n == 0)
            d = c->dhead; /* stays listed while it runs */
        pthread_mutex_unlock(&c->wmu);

        if (d != NULL) {
            uint64_t removed = run_delete(c, d);
            int waited;

            pthread_mutex_lock(&c->wmu);
            c->dhead = d->next;
            if (c->dhead == NULL)
                c->dtail = &c->dhead;
            c->ndel--;
            atomic_fetch_sub(&c->npending, 1);
            d->removed = removed;
            d->done = 1;
            atomic_fetch_add(&c->ddone, 1);
            waited = d->waiter; /* then the waiter frees it */
            if (waited)
                pthread_cond_broadcast(&c->dcv);
            pthread_mutex_unlock(&c->wmu);
            if (!waited)
                pending_free(d);
        }
        /* purged since it was queued: not written (the purge's delete comes after it) */
        for (unsigned j = 0; j < n; j++) {
            if (atomic_load(&batch[j].o->purged_at) != 0)
                obj_unref(&batch[j].o);
            else
                run[m++] = batch[j];
        }
        if (m > 0)
            write_objects(c, run, m, &b);
        for (unsigned j = 0; j < m; j++)
            obj_unref(&run[j].o);
        housekeep(c, &last_sweep);
    }
    buf_free(&b);
    return NULL;
}

/* Queues object <o> for the writer, or drops it (counted) when the queue is full. */
static void enqueue_put(struct cache *c, struct obj *o)
{
    pthread_mutex_lock(&c->wmu);
    if (c->qlen == WQ_CAP || c->stop) {
        pthread_mutex_unlock(&c->wmu);
        atomic_fetch_add(&c->disk_dropped, 1);
        return;
    }
    c->q[(c->qhead + c->qlen) % WQ_CAP] = (struct wjob){.o = obj_ref(o), .seq = ++c->put_seq};
    c->qlen++;
    pthread_cond_signal(&c->wcv);
    pthread_mutex_unlock(&c->wmu);
}

/* Lists a delete for the writer. A purge (<must>) is always listed; an invalidation is
 * dropped (counted) past DEL_CAP waiting. */
static struct pending *enqueue_delete(struct cache *c, enum wkind kind, const char *arg, size_t len,
                                      int must, int wait)
{
    struct pending *d;

    pthread_mutex_lock(&c->wmu);
    if (c->stop || (!must && c->ndel >= DEL_CAP)) {
        pthread_mutex_unlock(&c->wmu);
        atomic_fetch_add(&c->disk_dropped, 1);
        return NULL;
    }
    d = xcalloc(1, sizeof(*d));
    d->kind = kind;
    d->arg = xstrndup(arg, len);
    d->len = len;
    if (kind == W_DEL_REGEX && regcomp(&d->re, d->arg, REG_EXTENDED | REG_NOSUB) != 0) {
        pthread_mutex_unlock(&c->wmu); /* checked by the caller: cannot happen */
        free(d->arg);
        free(d);
        return NULL;
    }
    d->after = c->put_seq;
    d->waiter = wait;
    *c->dtail = d;
    c->dtail = &d->next;
    c->ndel++;
    atomic_fetch_add(&c->npending, 1);
    atomic_fetch_add(&c->gen, 1);
    pthread_cond_signal(&c->wcv);
    pthread_mutex_unlock(&c->wmu);
    return wait ? d : NULL;
}

/* Waits up to <ms> for listed delete <d> to run; returns 1 and its count in *<n> when it did.
 * Frees <d>, now or (after a timeout) once the writer is done with it. */
static int wait_delete(struct cache *c, struct pending *d, int ms, uint64_t *n)
{
    struct timespec until;
    int done;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->wmu);
    while (!d->done && pthread_cond_timedwait(&c->dcv, &c->wmu, &until) == 0)
        ;
    done = d->done;
    if (!done)
        d->waiter = 0; /* the writer frees it */
    pthread_mutex_unlock(&c->wmu);
    if (done) {
        *n = d->removed;
        pending_free(d);
    }
    return done;
}

static int is_tag(struct span t, void *arg)
{
    const struct span *want = arg;

    return t.len == want->len && memcmp(t.p, want->p, want->len) == 0;
}

/* 1 if delete <kind> <arg> (<len> bytes; <re> compiled for W_DEL_REGEX) covers <o>. */
static int covers(enum wkind kind, const char *arg, size_t len, const regex_t *re,
                  const struct obj *o)
{
    struct span tag = span_of(arg, len);

    switch (kind) {
    case W_DEL_REGEX:
        return regexec(re, o->key, 0, NULL, 0) == 0; /* keys are NUL-terminated */
    case W_DEL_KEY:
        return o->key_len == len && memcmp(o->key, arg, len) == 0;
    case W_DEL_PREFIX:
        return o->key_len >= len && memcmp(o->key, arg, len) == 0;
    case W_DEL_TAG:
        return len > 0 && each_tag(o, is_tag, &tag);
    case W_DEL_NAME:
        return 0;
    }
    return 0;
}

/* 1 if a delete listed for the writer covers <o>. */
static int delete_pending(struct cache *c, const struct obj *o)
{
    int hit = 0;

    if (atomic_load(&c->npending) == 0)
        return 0;
    pthread_mutex_lock(&c->wmu);
    for (const struct pending *d = c->dhead; d != NULL && !hit; d = d->next)
        hit = covers(d->kind, d->arg, d->len, &d->re, o);
    pthread_mutex_unlock(&c->wmu);
    return hit;
}

struct cache *cache_new(const struct cache_conf *cc)
{
    struct cache *c = xcalloc(1, sizeof(*c));

    c->conf = *cc;
    key_init();
    c->mem = lru_new(cc->memory, cc->shards ? cc->shards : 1);
    if (cc->s3fifo)
        lru_set_policy(c->mem, LRU_POLICY_S3FIFO);
    c->disk = cc->disk;
    c->conf.disk = NULL;
    c->dtail = &c->dhead;
    if (c->disk != NULL) {
        AZ(pthread_mutex_init(&c->wmu, NULL));
        AZ(pthread_cond_init(&c->wcv, NULL));
        AZ(pthread_cond_init(&c->dcv, NULL));
        AZ(pthread_create(&c->writer, NULL, writer_main, c));
    }
    return c;
}

void cache_free(struct cache **cp)
{
    struct cache *c = *cp;

    if (c == NULL)
        return;
    if (c->disk != NULL) {
        pthread_mutex_lock(&c->wmu);
        c->stop = 1;
        pthread_cond_signal(&c->wcv);
        pthread_mutex_unlock(&c->wmu);
        AZ(pthread_join(c->writer, NULL));
        disk_close(&c->disk);
        pthread_cond_destroy(&c->wcv);
        pthread_cond_destroy(&c->dcv);
        pthread_mutex_destroy(&c->wmu);
    }
    lru_free(&c->mem);
    free(c);
    *cp = NULL;
}

const struct cache_conf *cache_conf_of(const struct cache *c)
{
    return &c->conf;
}

#define VARY_VALUE_MAX 1024

#define VARY_LIST   0x1u /* a comma-separated list: OWS around commas and empty members go */
#define VARY_PARAMS 0x2u /* ...whose members carry ";name=value" parameters: OWS around ; = go */
#define VARY_FOLD   0x4u /* ...case-insensitive throughout: lowercased */

/* How the syntax of request field <name> lets Vary matching normalise its value. Every field
 * is a list (accel joins repeated lines with ", ", RFC 9110 §5.3) except those whose grammar
 * has commas that are not separators. */
static unsigned vary_syntax(struct span name)
{
    static const struct {
        const char *name;
        unsigned syn;
    } known[] = {
        {"accept", VARY_LIST | VARY_PARAMS},
        {"accept-charset", VARY_LIST | VARY_PARAMS | VARY_FOLD},
        {"accept-encoding", VARY_LIST | VARY_PARAMS | VARY_FOLD},
        {"accept-language", VARY_LIST | VARY_PARAMS | VARY_FOLD},
        {"te", VARY_LIST | VARY_PARAMS | VARY_FOLD},
        {"cookie", 0},
        {"user-agent", 0},
    };

    for (size_t i = 0; i < countof(known); i++)
        if (span_eq_ci(name, known[i].name))
            return known[i].syn;
    return VARY_LIST;
}

static int ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Writes the canonical form of field value <in> under syntax <syn> to <out> (at most <cap>
 * bytes) and returns its length: members trimmed and joined by ", ", empty ones dropped, OWS
 * around parameter separators dropped, folded to lowercase; quoted strings are kept as sent.
 * Idempotent, so stored values written before normalisation compare after one more pass. */
static size_t vary_norm(unsigned syn, struct span in, char *out, size_t cap)
{
    size_t o = 0, i = 0;

    in = span_trim(in);
    if (!(syn & VARY_LIST)) {
        o = in.len < cap ? in.len : cap;
        memcpy(out, in.p, o);
        return o;
    }
    while (i < in.len) {
        int quoted = 0, started = 0;
        size_t ws = 0; /* a run of OWS inside the member, kept if more of the member follows */

        while (i < in.len && ows(in.p[i]))
            i++;
        for (; i < in.len && (quoted || in.p[i] != ','); i++) {
            char ch = in.p[i];

            if (!quoted && ows(ch)) {
                ws++;
                continue;
            }
            if (!quoted && (syn & VARY_PARAMS) && (ch == ';' || ch == '=')) {
                ws = 0;
                while (i + 1 < in.len && ows(in.p[i + 1]))
                    i++;
            }
            if (!started && o > 0 && o + 2 <= cap) {
                memcpy(out + o, ", ", 2);
                o += 2;
            }
            started = 1;
            if (ws > 0 && o + ws <= cap) {
                memcpy(out + o, in.p + i - ws, ws);
                o += ws;
            }
            ws = 0;
            if (quoted && ch == '\\' && i + 1 < in.len && o + 2 <= cap) {
                out[o++] = ch;
                ch = in.p[++i];
            } else if (ch == '"') {
                quoted = !quoted;
            } else if (!quoted && (syn & VARY_FOLD) && ch >= 'A' && ch <= 'Z') {
                ch = (char)(ch - 'A' + 'a');
            }
            if (o < cap)
                out[o++] = ch;
        }
        if (i < in.len)
            i++; /* the comma */
    }
    return o;
}

/* The request's value for field <name>: every field of that name joined by ", ", in the
 * canonical form of vary_norm(). */
static size_t req_value(const struct field *f, unsigned n, struct span name, char *out, size_t cap)
{
    char raw[VARY_VALUE_MAX];
    size_t len = 0;

    for (unsigned i = 0; i < n; i++) {
        struct span v;

        if (f[i].name.len != name.len || strncasecmp(f[i].name.p, name.p, name.len) != 0)
            continue;
        v = span_trim(f[i].value);
        if (len > 0 && len + 2 <= sizeof(raw)) {
            memcpy(raw + len, ", ", 2);
            len += 2;
        }
        if (len + v.len > sizeof(raw))
            v.len = sizeof(raw) - len;
        memcpy(raw + len, v.p, v.len);
        len += v.len;
    }
    return vary_norm(vary_syntax(name), span_of(raw, len), out, cap);
}

size_t cache_vary_build(struct span vary, const struct field *f, unsigned n, char **out)
{
    struct buf b = {0};
    size_t start = 0;

    for (size_t i = 0; i <= vary.len; i++) {
        char val[VARY_VALUE_MAX];
        struct span name;
        size_t vlen;

        if (i < vary.len && vary.p[i] != ',')
            continue;
        name = span_trim(span_of(vary.p + start, i - start));
        start = i + 1;
        if (name.len == 0)
            continue;
        for (size_t j = 0; j < name.len; j++) {
            char ch = name.p[j];
            buf_append(&b, (ch >= 'A' && ch <= 'Z') ? &(char){(char)(ch + 32)} : &ch, 1);
        }
        buf_append(&b, "", 1);
        vlen = req_value(f, n, name, val, sizeof(val));
        buf_append(&b, val, vlen);
        buf_append(&b, "", 1);
    }
    *out = b.p;
    return b.len;
}

int cache_vary_match(const struct obj *o, const struct field *f, unsigned n)
{
    const char *p = o->vary, *end = o->vary + o->vary_len;

    while (p != NULL && p < end) {
        struct span name = span_of(p, strlen(p));
        const char *val = p + name.len + 1;
        size_t vlen = strlen(val);
        char mine[VARY_VALUE_MAX];
        size_t mlen = req_value(f, n, name, mine, sizeof(mine));

        if (mlen != vlen || memcmp(mine, val, vlen) != 0) {
            /* Stored before values were normalised (on disk from an older accel)? */
            char theirs[VARY_VALUE_MAX];
            size_t tlen = vary_norm(vary_syntax(name), span_of(val, vlen), theirs, sizeof(theirs));

            if (mlen != tlen || memcmp(mine, theirs, tlen) != 0)
                return 0;
        }
        p = val + vlen + 1;
    }
    return 1;
}

struct lookup {
    struct cache *c;
    const struct cache_req *r;
    enum cache_res res;
    struct obj *stale; /* newest usable-after-validation object seen, with a reference */
    int complete_only; /* first pass: complete objects and markers only, busy ones skipped */
    unsigned seen;     /* objects of the key met, whatever their state */
    unsigned busy;     /* busy objects the first pass skipped */
};

static enum lru_pick pick(struct obj *o, void *arg)
{
    struct lookup *lk = arg;
    const struct cache_req *r = lk->r;
    enum policy_use use;
    int64_t age;

    lk->seen++;
    if (o->flags & OBJ_F_PASS) {
        if (o->pass_until > r->now) {
            lk->res = CACHE_PASS;
            return LRU_TAKE;
        }
        return LRU_SKIP;
    }
    if (obj_state(o) == OBJ_FAILED)
        return LRU_SKIP;
    if (lk->complete_only && obj_state(o) == OBJ_BUSY) {
        lk->busy++;
        return LRU_SKIP;
    }
    if (!obj_has_head(o)) {
        lk->res = CACHE_BUSY;
        return LRU_TAKE;
    }
    if (!cache_vary_match(o, r->fields, r->n_fields))
        return LRU_SKIP;
    if (obj_state(o) == OBJ_BUSY) {
        /* Fresh by definition; a client's no-cache asked for exactly this new copy. */
        lk->res = CACHE_BUSY;
        return LRU_TAKE;
    }
    age = policy_current_age(o->date, o->age_value, o->t_req, o->t_resp, r->now);
    use = policy_use(obj_ttl(o), age, r->no_swr ? 0 : o->swr, o->cc_flags, &r->cc,
                     r->ignore_no_cache != 0 ? r->ignore_no_cache > 0
                                             : lk->c->conf.ignore_client_no_cache);
    if (use == POLICY_FRESH || use == POLICY_STALE_OK) {
        lk->res = CACHE_HIT;
        return LRU_TAKE;
    }
    if (use == POLICY_STALE_SWR) {
        lk->res = CACHE_HIT_STALE;
        return LRU_TAKE;
    }
    if (lk->stale == NULL || lk->stale->t_resp < o->t_resp) {
        if (lk->stale != NULL)
            obj_unref(&lk->stale); /* not the last reference: the index holds one */
        lk->stale = obj_ref(o);
    }
    return LRU_SKIP;
}

static struct obj *make(void *arg)
{
    struct lookup *lk = arg;

    lk->res = CACHE_MISS;
    return obj_new(lk->r->key.p, lk->r->key.len, lk->r->key.hash, 0);
}

static enum cache_res cache_find(struct cache *c, const struct cache_req *r, struct obj **out,
                                 struct obj **stale);

/* promote()'s insertion: under the shard lock, an object of the key with the same Vary values
 * that is already there (a concurrent promotion, or a fetch) wins and ours is dropped. */
static enum lru_pick same_variant(struct obj *o, void *arg)
{
    const struct obj *ours = arg;

    if (o->flags & OBJ_F_PASS)
        return LRU_TAKE; /* the key was found uncacheable meanwhile */
    if (!obj_has_head(o))
        return LRU_TAKE; /* a fetch whose answer we cannot tell yet: it is newer */
    if (o->vary_len == ours->vary_len &&
        (o->vary_len == 0 || memcmp(o->vary, ours->vary, o->vary_len) == 0))
        return LRU_TAKE;
    return LRU_SKIP;
}

static struct obj *the_decoded(void *arg)
{
    return obj_ref(arg); /* the index takes this reference */
}

struct promotion {
    struct cache *c;
    const struct cache_req *r;
    uint64_t gen, ddone; /* c->gen and c->ddone before the disk was read */
    unsigned found, promoted;
};

/* 1 when a delete was listed, or finished, since promotion <pr> began reading the disk: what it
 * read may be what that delete removed, and memory may have been walked before it was there. */
static int deletes_moved(const struct promotion *pr)
{
    return atomic_load(&pr->c->gen) != pr->gen || atomic_load(&pr->c->ddone) != pr->ddone;
}

/* disk_get_family()'s callback: one object or variant of the key, decoded into memory. */
static void promote_one(void *arg, const char *name, size_t nlen, int rc, const void *blob,
                        size_t len)
{
    struct promotion *pr = arg;
    struct cache *c = pr->c;
    struct obj *o = NULL, *in;
    int made = 0;

    if (rc == 0)
        rc = fmt_decode(blob, len, &o);
    if (rc == 0 && (o->key_len != pr->r->key.len || memcmp(o->key, pr->r->key.p, o->key_len)))
        rc = -EBADMSG; /* a blob filed under another key's name */
    if (rc != 0) {
        atomic_fetch_add(&c->disk_errors, 1);
        (void)enqueue_delete(c, W_DEL_NAME, name, nlen, 0, 0);
        obj_unref(&o);
        return;
    }
    if (delete_pending(c, o) || deletes_moved(pr)) {
        obj_unref(&o); /* purged, or maybe: read again (or fetched) next time */
        return;
    }
    in = lru_find(c->mem, &pr->r->key, same_variant, the_decoded, o, pr->r->now_ms, &made);
    /* A delete listed or finished meanwhile may have walked memory before <o> was in it: give
     * <o> up (it is read again, or fetched, next time). */
    if (made && deletes_moved(pr)) {
        lru_remove(c->mem, o);
        made = 0;
    } else {
        pr->found++;
    }
    obj_unref(&in);
    obj_unref(&o);
    if (made) {
        pr->promoted++;
        atomic_fetch_add(&c->disk_hits, 1);
    }
}

/* A memory miss: reads the key and its variants from the disk tier into new objects and puts
 * them in memory, unless another request did so meanwhile. Returns 1 when any was found. A
 * corrupt entry is deleted. */
static int promote(struct cache *c, const struct cache_req *r)
{
    struct promotion pr = {
        .c = c, .r = r, .gen = atomic_load(&c->gen), .ddone = atomic_load(&c->ddone)};

    if (memchr(r->key.p, VARIANT_SEP, r->key.len) != NULL)
        return 0;
    (void)disk_get_family(c->disk, r->key.p, r->key.len, VARIANT_SEP, VARIANTS, promote_one, &pr);
    return pr.found > 0;
}

enum cache_res cache_lookup(struct cache *c, const struct cache_req *r, struct obj **out,
                            struct obj **stale)
{
    enum cache_res res = cache_find(c, r, out, stale);

    if (stale != NULL && (res == CACHE_HIT || res == CACHE_HIT_STALE))
        obj_unref(stale);
    return res;
}

static enum cache_res cache_find(struct cache *c, const struct cache_req *r, struct obj **out,
                                 struct obj **stale)
{
    struct lookup lk = {.c = c, .r = r, .res = CACHE_NONE};
    int only_if_cached = (r->cc.flags & CC_ONLY_IF_CACHED) != 0;
    int made = 0;
    struct obj *o;

    *out = NULL;
    if (stale != NULL)
        *stale = NULL;
    if (c->conf.memory == 0)
        return only_if_cached ? CACHE_NONE : CACHE_PASS;
    note_now(c, r->now);
    /* First what is complete: a stale copy under stale-while-revalidate must win over the
     * refresh in progress, and the stale copy a failing fetch may fall back on is collected
     * even when the request ends up waiting on that fetch. */
    lk.complete_only = 1;
    o = lru_find(c->mem, &r->key, pick, NULL, &lk, r->now_ms, &made);
    /* Nothing usable in memory, no stale copy and no fetch under way: the disk may have it (or
     * the variant asked for, when memory holds others). */
    if (o == NULL && lk.stale == NULL && lk.busy == 0 && c->disk != NULL && promote(c, r)) {
        /* found on disk and now in memory: look again (a hit, or a stale copy to revalidate) */
        o = lru_find(c->mem, &r->key, pick, NULL, &lk, r->now_ms, &made);
    }
    if (o == NULL) {
        lk.complete_only = 0;
        o = lru_find(c->mem, &r->key, pick, (only_if_cached || r->no_make) ? NULL : make, &lk,
                     r->now_ms, &made);
    }
    if (stale != NULL)
        *stale = lk.stale;
    else
        obj_unref(&lk.stale);
    if (o == NULL)
        return CACHE_NONE;
    if (lk.res == CACHE_PASS) {
        obj_unref(&o);
        return only_if_cached ? CACHE_NONE : CACHE_PASS;
    }
    if (only_if_cached && lk.res == CACHE_BUSY) {
        obj_unref(&o);
        return CACHE_NONE;
    }
    *out = o;
    return lk.res;
}

void cache_mark_pass(struct cache *c, struct obj *o, int64_t until)
{
    struct obj *m;

    lru_remove(c->mem, o);
    if (until <= 0)
        return;
    m = obj_new(o->key, o->key_len, o->hash, OBJ_F_PASS);
    m->pass_until = until;
    obj_finish(m, OBJ_COMPLETE);
    lru_insert(c->mem, m);
    obj_unref(&m);
}

void cache_grow(struct cache *c, struct obj *o, size_t delta)
{
    lru_grow(c->mem, o, delta);
}

struct replace {
    struct obj *self;
    struct obj *old[8];
    unsigned n;
};

/* Every object of a key, however many (variants), for purges and inspection. */
struct collection {
    struct obj **v;
    unsigned n, cap;
};

static enum lru_pick collect_all(struct obj *o, void *arg)
{
    struct collection *col = arg;

    if (col->n == col->cap) {
        col->cap = col->cap ? col->cap * 2 : 16;
        col->v = xrealloc(col->v, col->cap * sizeof(*col->v));
    }
    col->v[col->n++] = obj_ref(o);
    return LRU_SKIP;
}

static enum lru_pick collect_old(struct obj *o, void *arg)
{
    struct replace *rp = arg;

    if (o == rp->self || rp->n == countof(rp->old))
        return LRU_SKIP;
    if (o->flags & OBJ_F_PASS) {
        rp->old[rp->n++] = obj_ref(o); /* a stale marker: the key is cacheable now */
        return LRU_SKIP;
    }
    if (obj_state(o) == OBJ_BUSY || !obj_has_head(o))
        return LRU_SKIP;
    if (o->vary_len == rp->self->vary_len &&
        (o->vary_len == 0 || memcmp(o->vary, rp->self->vary, o->vary_len) == 0))
        rp->old[rp->n++] = obj_ref(o);
    return LRU_SKIP;
}

void cache_complete(struct cache *c, struct obj *o)
{
    struct replace rp = {.self = o};
    struct key k = {.p = o->key, .len = o->key_len, .hash = o->hash};
    int made = 0;

    /* Purged (or found uncacheable) while it was fetched: it replaces nothing, and what was
     * stored meanwhile is newer than it. */
    if (!lru_indexed(c->mem, o))
        return;
    (void)lru_find(c->mem, &k, collect_old, NULL, &rp, 0, &made);
    for (unsigned i = 0; i < rp.n; i++) {
        lru_remove(c->mem, rp.old[i]);
        obj_unref(&rp.old[i]);
    }
    /* Write-through: what is complete and shareable goes to disk, variants under names of
     * their own. */
    if (c->disk != NULL && !(o->flags & (OBJ_F_PASS | OBJ_F_PRIVATE)) &&
        obj_state(o) == OBJ_COMPLETE && lru_indexed(c->mem, o) &&
        disk_name(o, (char[NAME_CAP]){0}, NAME_CAP) > 0)
        enqueue_put(c, o);
}

unsigned cache_invalidate(struct cache *c, const struct key *k)
{
    int64_t now = atomic_load(&c->now) > 0 ? atomic_load(&c->now) : 1;
    struct collection col = {0};
    unsigned total = 0;
    int made = 0;

    if (c->conf.memory == 0)
        return 0;
    /* listed before memory is walked: a promotion from disk meanwhile cannot survive it */
    if (c->disk != NULL)
        (void)enqueue_delete(c, W_DEL_KEY, k->p, k->len, 0, 0);
    (void)lru_find(c->mem, k, collect_all, NULL, &col, 0, &made);
    for (unsigned i = 0; i < col.n; i++) {
        if (!(col.v[i]->flags & OBJ_F_PASS) && obj_has_head(col.v[i]))
            obj_soft_purge(col.v[i], now); /* no disk write after this */
        total += (unsigned)lru_remove(c->mem, col.v[i]);
        obj_unref(&col.v[i]);
    }
    free(col.v);
    return total;
}

void cache_remove(struct cache *c, struct obj *o)
{
    lru_remove(c->mem, o);
}

struct purge {
    enum wkind kind;
    const char *arg;
    size_t len;
    regex_t re;
    int soft;
    int64_t now;
    uint64_t n;
};

int cache_regex_check(const char *re, char *err, size_t errlen)
{
    regex_t r;
    int rc = regcomp(&r, re, REG_EXTENDED | REG_NOSUB);

    if (rc != 0) {
        regerror(rc, &r, err, errlen);
        return -EINVAL;
    }
    regfree(&r);
    return 0;
}

static int purge_one(struct obj *o, void *arg)
{
    struct purge *p = arg;

    if (!covers(p->kind, p->arg, p->len, &p->re, o))
        return 0;
    p->n++;
    if (o->flags & OBJ_F_PASS)
        return 1;
    /* Marked either way, so that a write to disk still queued for it is skipped (an object
     * without a head yet is not queued: it leaves the index before it completes). */
    if (obj_has_head(o))
        obj_soft_purge(o, p->now);
    return !(p->soft && obj_state(o) == OBJ_COMPLETE);
}

uint64_t cache_purge(struct cache *c, enum cache_purge kind, const char *arg, size_t len, int soft,
                     int64_t now)
{
    return cache_purge_wait(c, kind, arg, len, soft, now, 0, NULL);
}

uint64_t cache_purge_wait(struct cache *c, enum cache_purge kind, const char *arg, size_t len,
                          int soft, int64_t now, int wait_ms, int64_t *disk_n)
{
    struct pending *d = NULL;
    static const enum wkind kinds[] = {[CACHE_PURGE_KEY] = W_DEL_KEY,
                                       [CACHE_PURGE_PREFIX] = W_DEL_PREFIX,
                                       [CACHE_PURGE_ALL] = W_DEL_PREFIX,
                                       [CACHE_PURGE_TAG] = W_DEL_TAG,
                                       [CACHE_PURGE_REGEX] = W_DEL_REGEX};
    struct purge p = {.arg = arg, .len = len, .soft = soft, .now = now};

    AN((unsigned)kind < countof(kinds));
    p.kind = kinds[kind];
    if (kind == CACHE_PURGE_ALL) {
        p.arg = "";
        p.len = 0;
    }
    if ((kind == CACHE_PURGE_TAG || kind == CACHE_PURGE_REGEX) && len == 0)
        return 0;
    if (kind == CACHE_PURGE_REGEX) {
        char *re = xstrndup(arg, len);
        int rc = regcomp(&p.re, re, REG_EXTENDED | REG_NOSUB);

        free(re);
        if (rc != 0)
            return 0; /* cache_regex_check() tells why */
    }
    note_now(c, now);
    atomic_fetch_add(&c->purges, 1);
    /* listed before memory is walked: a promotion from disk meanwhile cannot survive it */
    if (disk_n != NULL)
        *disk_n = -1;
    if (c->disk != NULL)
        d = enqueue_delete(c, p.kind, p.arg, p.len, 1, disk_n != NULL && wait_ms > 0);
    if (kind == CACHE_PURGE_KEY) {
        /* one key: its objects are in one hash chain, no walk */
        struct key k = {.p = arg, .len = len, .hash = key_hash(arg, len)};
        struct collection col = {0};
        int made = 0;

        (void)lru_find(c->mem, &k, collect_all, NULL, &col, 0, &made);
        for (unsigned i = 0; i < col.n; i++) {
            if (purge_one(col.v[i], &p) == 1)
                lru_remove(c->mem, col.v[i]);
            obj_unref(&col.v[i]);
        }
        free(col.v);
    } else {
        (void)lru_walk(c->mem, purge_one, &p);
    }
    if (kind == CACHE_PURGE_REGEX)
        regfree(&p.re);
    atomic_fetch_add(&c->purged, p.n);
    if (d != NULL) {
        uint64_t n;

        if (wait_delete(c, d, wait_ms, &n))
            *disk_n = (int64_t)n;
    }
    return p.n;
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
    struct lru_stats s;

    lru_get_stats(c->mem, &s);
    out->objects = s.objects;
    out->bytes = s.bytes;
    out->budget = s.budget;
    out->evictions = s.evictions;
    out->disk_hits = atomic_load(&c->disk_hits);
    out->disk_writes = atomic_load(&c->disk_writes);
    out->disk_dropped = atomic_load(&c->disk_dropped);
    out->disk_errors = atomic_load(&c->disk_errors);
    out->disk_evicted = atomic_load(&c->disk_evicted);
    out->disk_expired = atomic_load(&c->disk_expired);
    out->purges = atomic_load(&c->purges);
    out->purged = atomic_load(&c->purged);
    out->disk = c->disk != NULL;
    out->disk_reset = c->disk != NULL && disk_was_reset(c->disk);
    out->disk_entries = out->disk_bytes = out->disk_budget = 0;
    if (c->disk != NULL) {
        struct disk_stats ds;

        if (disk_stats(c->disk, &ds) == 0) {
            out->disk_entries = ds.entries;
            out->disk_bytes = ds.used;
            out->disk_budget = ds.map_size;
        }
    }
}

struct inspection {
    void (*fn)(void *arg, const char *tier, const struct obj *o);
    void *arg;
    const struct key *k;
    unsigned n;
};

static void inspect_disk(void *arg, const char *name, size_t nlen, int rc, const void *blob,
                         size_t len)
{
    struct inspection *in = arg;
    struct obj *o = NULL;

    (void)name;
    (void)nlen;
    if (rc != 0 || fmt_decode(blob, len, &o) != 0)
        return;
    if (o->key_len == in->k->len && memcmp(o->key, in->k->p, o->key_len) == 0) {
        in->fn(in->arg, "disk", o);
        in->n++;
    }
    obj_unref(&o);
}

unsigned cache_inspect(struct cache *c, const struct key *k,
                       void (*fn)(void *arg, const char *tier, const struct obj *o), void *arg)
{
    struct inspection in = {.fn = fn, .arg = arg, .k = k};
    struct collection col = {0};
    int made = 0;

    (void)lru_find(c->mem, k, collect_all, NULL, &col, 0, &made);
    for (unsigned i = 0; i < col.n; i++) {
        if (!(col.v[i]->flags & OBJ_F_PASS) && obj_has_head(col.v[i])) {
            fn(arg, "memory", col.v[i]);
            in.n++;
        }
        obj_unref(&col.v[i]);
    }
    free(col.v);
    if (c->disk != NULL && memchr(k->p, VARIANT_SEP, k->len) == NULL)
        (void)disk_get_family(c->disk, k->p, k->len, VARIANT_SEP, VARIANTS, inspect_disk, &in);
    return in.n;
}
