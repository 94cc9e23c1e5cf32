/* cache.c - what a request gets from the cache.
 *
 * One lookup is one lru_find(): the pick callback looks at each object of the key under the
 * shard lock and takes the first usable one (a pass marker still in force, a busy object, a
 * fresh complete object whose Vary values match); when none is, make() inserts a new busy
 * object, so two requests for a cold key can never both fetch it. Stale objects are skipped:
 * the new busy object replaces them when its fetch completes (cache_complete).
 * XXX(#3): stale objects should be revalidated (conditional request, 304) and served under
 * stale-while-revalidate / stale-if-error instead of refetched.
 *
 * Vary: an object carries the request values of the fields its response's Vary names, as
 * "name\0value\0" pairs. A busy object whose head has not arrived is taken by anyone (Varnish
 * does the same): a subscriber whose Vary values turn out different goes to the origin alone. */
#include "accel/cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accel/disk.h"
#include "accel/fmt.h"
#include "accel/lru.h"

#define WQ_CAP 4096 /* objects waiting for the disk writer; past it they are dropped */

/* A job for the disk writer: write <o> (a reference), or delete <key>. */
struct wjob {
    struct obj *o;
    char *key;
    size_t key_len;
    int prefix; /* delete every key starting with <key> */
};

struct cache {
    struct cache_conf conf;
    struct lru *mem;
    /* the disk tier: one writer thread owns every write; workers only read */
    struct disk *disk;
    pthread_t writer;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    struct wjob q[WQ_CAP];
    unsigned qhead, qlen;
    int stop;
    atomic_uint_fast64_t disk_hits, disk_writes, disk_dropped, disk_errors;
};

static void *writer_main(void *arg)
{
    struct cache *c = arg;
    struct wjob batch[64];
    struct disk_item items[64];
    size_t offs[64];
    struct buf b = {0};

    for (;;) {
        unsigned n = 0;

        pthread_mutex_lock(&c->wmu);
        while (c->qlen == 0 && !c->stop)
            pthread_cond_wait(&c->wcv, &c->wmu);
        if (c->qlen == 0 && c->stop) {
            pthread_mutex_unlock(&c->wmu);
            break;
        }
        while (c->qlen > 0 && n < countof(batch)) {
            batch[n++] = c->q[c->qhead];
            c->qhead = (c->qhead + 1) % WQ_CAP;
            c->qlen--;
        }
        pthread_mutex_unlock(&c->wmu);
        /* Runs of writes go in one transaction; a delete goes on its own, in order. */
        for (unsigned i = 0; i < n;) {
            unsigned k = 0;
            int rc;

            if (batch[i].o == NULL && batch[i].prefix) {
                (void)disk_del_prefix(c->disk, batch[i].key, batch[i].key_len);
                free(batch[i].key);
                atomic_fetch_add(&c->disk_writes, 1);
                i++;
                continue;
            }
            if (batch[i].o == NULL) {
                rc = disk_del(c->disk, batch[i].key, batch[i].key_len);
                free(batch[i].key);
                atomic_fetch_add(rc < 0 && rc != -ENOENT ? &c->disk_errors : &c->disk_writes, 1);
                i++;
                continue;
            }
            b.off = b.len = 0;
            while (i + k < n && batch[i + k].o != NULL) {
                struct obj *o = batch[i + k].o;

                offs[k] = b.len;
                fmt_encode(o, &b);
                items[k] = (struct disk_item){.key = o->key, .klen = o->key_len};
                k++;
            }
            for (unsigned j = 0; j < k; j++) {
                items[j].blob = b.p + offs[j];
                items[j].len = (j + 1 < k ? offs[j + 1] : b.len) - offs[j];
            }
            rc = disk_put_many(c->disk, items, k);
            atomic_fetch_add(rc < 0 ? &c->disk_errors : &c->disk_writes, k);
            for (unsigned j = 0; j < k; j++)
                obj_unref(&batch[i + j].o);
            i += k;
        }
    }
    buf_free(&b);
    return NULL;
}

/* Queues a job for the writer, or drops it (counted) when the queue is full. */
static void enqueue_job(struct cache *c, struct obj *o, const char *key, size_t len, int prefix)
{
    pthread_mutex_lock(&c->wmu);
    if (c->qlen == WQ_CAP || c->stop) {
        pthread_mutex_unlock(&c->wmu);
        atomic_fetch_add(&c->disk_dropped, 1);
        return;
    }
    c->q[(c->qhead + c->qlen) % WQ_CAP] = (struct wjob){.o = o ? obj_ref(o) : NULL,
                                                        .key = o ? NULL : xstrndup(key, len),
                                                        .key_len = len,
                                                        .prefix = prefix};
    c->qlen++;
    pthread_cond_signal(&c->wcv);
    pthread_mutex_unlock(&c->wmu);
}

static void enqueue(struct cache *c, struct obj *o, const char *key, size_t len)
{
    enqueue_job(c, o, key, len, 0);
}

struct cache *cache_new(const struct cache_conf *cc)
{
    struct cache *c = xcalloc(1, sizeof(*c));

    c->conf = *cc;
    key_init();
    c->mem = lru_new(cc->memory, cc->shards ? cc->shards : 1);
    c->disk = cc->disk;
    c->conf.disk = NULL;
    if (c->disk != NULL) {
        AZ(pthread_mutex_init(&c->wmu, NULL));
        AZ(pthread_cond_init(&c->wcv, NULL));
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

/* The request's value for field <name>: every field of that name joined by ", ", trimmed. */
static size_t req_value(const struct field *f, unsigned n, struct span name, char *out, size_t cap)
{
    size_t len = 0;

    for (unsigned i = 0; i < n; i++) {
        struct span v;

        if (f[i].name.len != name.len || strncasecmp(f[i].name.p, name.p, name.len) != 0)
            continue;
        v = span_trim(f[i].value);
        if (len > 0 && len + 2 <= cap) {
            memcpy(out + len, ", ", 2);
            len += 2;
        }
        if (len + v.len > cap)
            v.len = cap - len;
        memcpy(out + len, v.p, v.len);
        len += v.len;
    }
    return len;
}

#define VARY_VALUE_MAX 1024

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

        if (mlen != vlen || memcmp(mine, val, vlen) != 0)
            return 0;
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
    if (lk->complete_only && obj_state(o) == OBJ_BUSY)
        return LRU_SKIP;
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
                     lk->c->conf.ignore_client_no_cache);
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

/* promote()'s insertion: under the shard lock, an object of the key that is already there (a
 * concurrent promotion, or a fetch) wins and ours is dropped. */
static enum lru_pick any_of_key(struct obj *o, void *arg)
{
    (void)o;
    (void)arg;
    return LRU_TAKE;
}

static struct obj *the_decoded(void *arg)
{
    struct obj **op = arg, *o = *op;

    *op = NULL; /* the index takes this reference */
    return o;
}

/* A memory miss: reads the key from the disk tier into a new object and puts it in memory,
 * unless another request did so meanwhile. Returns 1 when the key is in memory now. A corrupt
 * entry is deleted. Objects with Vary are not on disk (XXX(#4)). */
static int promote(struct cache *c, const struct cache_req *r)
{
    struct buf b = {0};
    struct obj *o = NULL, *in;
    int made = 0, rc = disk_get(c->disk, r->key.p, r->key.len, &b);

    if (rc == 0 && (rc = fmt_decode(b.p, b.len, &o)) == 0) {
        in = lru_find(c->mem, &r->key, any_of_key, the_decoded, &o, r->now_ms, &made);
        obj_unref(&in);
        obj_unref(&o); /* ours, when another object was there first */
        if (made)
            atomic_fetch_add(&c->disk_hits, 1);
    } else if (rc == -EBADMSG || rc == -ENOTSUP) {
        atomic_fetch_add(&c->disk_errors, 1);
        enqueue(c, NULL, r->key.p, r->key.len);
    }
    buf_free(&b);
    return rc == 0;
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
    /* First what is complete: a stale copy under stale-while-revalidate must win over the
     * refresh in progress, and the stale copy a failing fetch may fall back on is collected
     * even when the request ends up waiting on that fetch. */
    lk.complete_only = 1;
    o = lru_find(c->mem, &r->key, pick, NULL, &lk, r->now_ms, &made);
    if (o == NULL && lk.seen == 0 && c->disk != NULL && promote(c, r)) {
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

    (void)lru_find(c->mem, &k, collect_old, NULL, &rp, 0, &made);
    for (unsigned i = 0; i < rp.n; i++) {
        lru_remove(c->mem, rp.old[i]);
        obj_unref(&rp.old[i]);
    }
    /* Write-through: what is complete and shareable goes to disk (variants stay in memory). */
    if (c->disk != NULL && o->vary_len == 0 && !(o->flags & (OBJ_F_PASS | OBJ_F_PRIVATE)) &&
        obj_state(o) == OBJ_COMPLETE && lru_indexed(c->mem, o))
        enqueue(c, o, NULL, 0);
}

static enum lru_pick collect_any(struct obj *o, void *arg)
{
    struct replace *rp = arg;

    if (rp->n < countof(rp->old))
        rp->old[rp->n++] = obj_ref(o);
    return LRU_SKIP;
}

unsigned cache_invalidate(struct cache *c, const struct key *k)
{
    unsigned total = 0, n;

    if (c->conf.memory == 0)
        return 0;
    do {
        struct replace rp = {.self = NULL};
        int made = 0;

        (void)lru_find(c->mem, k, collect_any, NULL, &rp, 0, &made);
        n = rp.n;
        for (unsigned i = 0; i < n; i++) {
            total += (unsigned)lru_remove(c->mem, rp.old[i]);
            obj_unref(&rp.old[i]);
        }
    } while (n == countof(((struct replace *)0)->old));
    if (c->disk != NULL)
        enqueue(c, NULL, k->p, k->len);
    return total;
}

void cache_remove(struct cache *c, struct obj *o)
{
    lru_remove(c->mem, o);
}

struct purge {
    enum cache_purge kind;
    const char *arg;
    size_t len;
    int soft;
    int64_t now;
    uint64_t n;
};

static int purge_one(struct obj *o, void *arg)
{
    struct purge *p = arg;

    if (p->kind == CACHE_PURGE_KEY && (o->key_len != p->len || memcmp(o->key, p->arg, p->len)))
        return 0;
    if (p->kind == CACHE_PURGE_PREFIX &&
        (o->key_len < p->len || memcmp(o->key, p->arg, p->len) != 0))
        return 0;
    p->n++;
    if (p->soft && !(o->flags & OBJ_F_PASS) && obj_state(o) == OBJ_COMPLETE) {
        obj_soft_purge(o, p->now);
        return 0;
    }
    return 1;
}

uint64_t cache_purge(struct cache *c, enum cache_purge kind, const char *arg, size_t len, int soft,
                     int64_t now)
{
    struct purge p = {.kind = kind, .arg = arg, .len = len, .soft = soft, .now = now};

    if (kind == CACHE_PURGE_ALL)
        p.len = 0;
    (void)lru_walk(c->mem, purge_one, &p);
    if (c->disk != NULL)
        enqueue_job(c, NULL, kind == CACHE_PURGE_ALL ? "" : arg, p.len, kind != CACHE_PURGE_KEY);
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
}
