/* test_lru.c - the memory tier: index, variants, LRU order, budget, references, concurrency.
 * LRU touches take the time as a parameter; nothing sleeps. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accel/key.h"
#include "accel/lru.h"
#include "accel/obj.h"
#include "cache/obj_int.h" /* white-box: the tests look at the index members of objects */

#define NOW 1000000u /* ms */

static struct key key_of(const char *s)
{
    struct key k = {s, strlen(s), key_hash(s, strlen(s))};
    return k;
}

/* A new object for <key> with <body> bytes; finished (complete) unless <busy>. */
static struct obj *mkobj(const char *key, size_t body, int busy)
{
    static const char zeros[4096];
    struct obj *o = obj_new(key, strlen(key), key_hash(key, strlen(key)), 0);

    while (body > 0) {
        size_t n = body < sizeof(zeros) ? body : sizeof(zeros);

        obj_append(o, zeros, n);
        body -= n;
    }
    if (!busy)
        obj_finish(o, OBJ_COMPLETE);
    return o;
}

/* Inserts a new object and drops our reference: the index holds the only one. */
static struct obj *put(struct lru *l, const char *key, size_t body, int busy)
{
    struct obj *o = mkobj(key, body, busy), *ret = o;

    lru_insert(l, o);
    obj_unref(&o);
    return ret;
}

static unsigned refs(const struct obj *o)
{
    return atomic_load(&((struct obj *)o)->refs);
}

static enum lru_pick take_first(struct obj *o, void *arg)
{
    (void)o;
    (void)arg;
    return LRU_TAKE;
}

static struct obj *find(struct lru *l, const char *key, uint64_t now)
{
    struct key k = key_of(key);

    return lru_find(l, &k, take_first, NULL, NULL, now, NULL);
}

static int has(struct lru *l, const char *key)
{
    struct obj *o = find(l, key, 0);
    int found = o != NULL;

    obj_unref(&o);
    return found;
}

static enum lru_pick note_seen(struct obj *o, void *arg)
{
    (void)o;
    *(int *)arg = 1;
    return LRU_SKIP; /* not taken: not a hit, not touched */
}

/* 1 when <key> is indexed; unlike has(), it is no hit (S3-FIFO counts hits). */
static int indexed(struct lru *l, const char *key)
{
    struct key k = key_of(key);
    int seen = 0;

    AZ(lru_find(l, &k, note_seen, NULL, &seen, 0, NULL));
    return seen;
}

struct sum {
    uint64_t bytes, objects, bad;
};

static int on_sum(struct obj *o, void *arg)
{
    struct sum *s = arg;

    s->bytes += o->mem;
    s->objects++;
    if (!o->indexed || refs(o) == 0)
        s->bad++;
    return 0;
}

/* The accounting invariant: the tier's bytes are the sum of its objects' mem. */
static void check_accounting(struct lru *l)
{
    struct sum sum = {0};
    struct lru_stats st;

    cr_assert_eq(lru_walk(l, on_sum, &sum), 0);
    lru_get_stats(l, &st);
    cr_assert_eq(sum.bad, 0);
    cr_assert_eq(st.bytes, sum.bytes, "bytes %llu, sum of mem %llu", (unsigned long long)st.bytes,
                 (unsigned long long)sum.bytes);
    cr_assert_eq(st.objects, sum.objects);
}

/* The size of the objects that mkobj(<key of the same length>, <body>, 0) makes. */
static size_t size_of(const char *key, size_t body)
{
    struct obj *o = mkobj(key, body, 0);
    size_t n = obj_size(o);

    obj_unref(&o);
    return n;
}

Test(lru, insert_find_remove)
{
    struct lru *l = lru_new(1u << 30, 4);
    struct obj *o = mkobj("http://a/1", 10, 0), *f;
    struct key k = key_of("http://a/1"), k2 = key_of("http://a/2");

    lru_insert(l, o);
    cr_assert_eq(o->indexed, 1);
    cr_assert_eq(refs(o), 2, "ours and the index's");
    cr_assert_eq(o->mem, obj_size(o));

    f = lru_find(l, &k, take_first, NULL, NULL, NOW, NULL);
    cr_assert_eq(f, o);
    cr_assert_eq(refs(o), 3, "find returns a new reference");
    obj_unref(&f);
    cr_assert_null(lru_find(l, &k2, take_first, NULL, NULL, NOW, NULL));

    cr_assert_eq(lru_remove(l, o), 1);
    cr_assert_eq(o->indexed, 0);
    cr_assert_eq(refs(o), 1, "the index dropped its reference");
    cr_assert_eq(lru_remove(l, o), 0, "not indexed any more");
    cr_assert_null(lru_find(l, &k, take_first, NULL, NULL, NOW, NULL));
    obj_unref(&o);
    lru_free(&l);
    cr_assert_null(l);
    lru_free(&l); /* NULL is fine */
}

Test(lru, shards_round_up)
{
    static const struct {
        unsigned asked, budget_of_1023;
    } t[] = {{0, 1023}, {1, 1023}, {2, 1022}, {3, 1020}, {4, 1020},
             {5, 1016}, {7, 1016}, {8, 1016}, {9, 1008}, {100, 896}};

    for (size_t i = 0; i < countof(t); i++) {
        struct lru *l = lru_new(1023, t[i].asked);
        struct lru_stats st;

        lru_get_stats(l, &st);
        lru_free(&l);
        /* The budget is total / nshards per shard: the sum shows the power of two. */
        cr_assert_eq(st.budget, t[i].budget_of_1023, "%u shards: budget %llu", t[i].asked,
                     (unsigned long long)st.budget);
    }
}

Test(lru, evicted_object_lives_on_with_its_reader)
{
    const size_t sz = size_of("http://a/0", 100);
    struct lru *l = lru_new(2 * sz, 1);
    struct obj *held;
    struct lru_stats st;

    put(l, "http://a/0", 100, 0);
    held = find(l, "http://a/0", 0);
    cr_assert_not_null(held);
    cr_assert_eq(refs(held), 2);
    put(l, "http://a/1", 100, 0);
    put(l, "http://a/2", 100, 0);
    cr_assert_eq(held->indexed, 0, "the oldest was evicted");
    cr_assert_eq(refs(held), 1, "only the reader's reference is left");
    cr_assert_eq(obj_avail(held), 100, "and it can still be read");
    cr_assert_eq(held->first->data[99], 0);
    lru_get_stats(l, &st);
    cr_assert_eq(st.evictions, 1);
    cr_assert_eq(st.objects, 2);
    obj_unref(&held); /* freed here: ASan checks */

    /* lru_free drops the index's references, not the readers'. */
    held = find(l, "http://a/2", 0);
    lru_free(&l);
    cr_assert_eq(refs(held), 1);
    cr_assert_eq(held->indexed, 0);
    obj_unref(&held);
}

struct variant {
    const char *want; /* the X-V value to take */
    unsigned offered;
    char order[8]; /* X-V values offered, in order */
};

static enum lru_pick pick_variant(struct obj *o, void *arg)
{
    struct variant *v = arg;
    struct span s = obj_field(o, "X-V");

    cr_assert_not_null(s.p);
    if (v->offered < sizeof(v->order) - 1)
        v->order[v->offered] = s.p[0];
    v->offered++;
    return span_eq_ci(s, v->want) ? LRU_TAKE : LRU_SKIP;
}

static struct obj *mkvariant(const char *key, const char *x_v)
{
    char head[64];
    struct obj *o = obj_new(key, strlen(key), key_hash(key, strlen(key)), 0);
    int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nX-V: %s\r\n", x_v);

    obj_set_head(o, head, (size_t)n);
    obj_finish(o, OBJ_COMPLETE);
    return o;
}

Test(lru, find_picks_among_variants_newest_first)
{
    struct lru *l = lru_new(1u << 30, 1);
    struct obj *a = mkvariant("http://v/", "a"), *b = mkvariant("http://v/", "b");
    struct obj *other = mkvariant("http://w/", "c"), *f;
    struct key k = key_of("http://v/");
    struct variant v = {"a"};
    char name[32];

    lru_insert(l, a);
    lru_insert(l, other);
    lru_insert(l, b);

    f = lru_find(l, &k, pick_variant, NULL, &v, NOW, NULL);
    cr_assert_eq(f, a);
    cr_assert_str_eq(v.order, "ba", "only the key's objects, newest first");
    obj_unref(&f);

    v = (struct variant){"b"};
    f = lru_find(l, &k, pick_variant, NULL, &v, NOW, NULL);
    cr_assert_eq(f, b);
    cr_assert_str_eq(v.order, "b", "the first taken ends the walk");
    obj_unref(&f);

    v = (struct variant){"z"};
    cr_assert_null(lru_find(l, &k, pick_variant, NULL, &v, NOW, NULL));
    cr_assert_eq(v.offered, 2);

    /* The order survives the table doubling several times. */
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "http://fill/%d", i);
        put(l, name, 0, 0);
    }
    v = (struct variant){"z"};
    cr_assert_null(lru_find(l, &k, pick_variant, NULL, &v, NOW, NULL));
    cr_assert_str_eq(v.order, "ba");

    obj_unref(&a);
    obj_unref(&b);
    obj_unref(&other);
    lru_free(&l);
}

struct maker {
    const char *key;
    unsigned calls;
    struct obj *last;
};

static struct obj *make_one(void *arg)
{
    struct maker *m = arg;

    m->calls++;
    m->last = mkobj(m->key, 10, 1);
    return m->last;
}

static enum lru_pick take_nothing(struct obj *o, void *arg)
{
    (void)o;
    (void)arg;
    return LRU_SKIP;
}

Test(lru, make_on_miss_inserts_once)
{
    struct lru *l = lru_new(1u << 30, 2);
    struct key k = key_of("http://m/");
    struct maker m = {"http://m/"};
    struct obj *o1, *o2, *o3, *f;
    struct lru_stats st;
    int made = -1;

    o1 = lru_find(l, &k, take_first, make_one, &m, NOW, &made);
    cr_assert_eq(made, 1);
    cr_assert_eq(m.calls, 1);
    cr_assert_eq(o1, m.last);
    cr_assert_eq(o1->indexed, 1);
    cr_assert_eq(refs(o1), 2, "the index's and the caller's");
    cr_assert_eq(obj_state(o1), OBJ_BUSY);

    o2 = lru_find(l, &k, take_first, make_one, &m, NOW, &made);
    cr_assert_eq(made, 0);
    cr_assert_eq(m.calls, 1, "found: make is not called");
    cr_assert_eq(o2, o1);
    cr_assert_eq(refs(o1), 3);

    /* A pick that takes nothing makes a second object beside the first (a refetch). */
    o3 = lru_find(l, &k, take_nothing, make_one, &m, NOW, &made);
    cr_assert_eq(made, 1);
    cr_assert_eq(m.calls, 2);
    cr_assert_neq(o3, o1);
    f = find(l, "http://m/", 0);
    cr_assert_eq(f, o3, "newest first");
    obj_unref(&f);

    lru_get_stats(l, &st);
    cr_assert_eq(st.objects, 2);
    cr_assert_eq(st.inserts, 2);
    obj_unref(&o1);
    obj_unref(&o2);
    obj_unref(&o3);
    lru_free(&l);
}

static struct obj *make_declines(void *arg)
{
    (void)arg;
    return NULL;
}

Test(lru, make_may_decline)
{
    struct lru *l = lru_new(1u << 30, 1);
    struct key k = key_of("http://m/");
    int made = -1;

    cr_assert_null(lru_find(l, &k, take_first, make_declines, NULL, NOW, &made));
    cr_assert_eq(made, 0);
    lru_free(&l);
}

#define RACERS 8

struct race {
    struct lru *l;
    pthread_barrier_t *bar;
    struct maker m;
    struct obj *got;
    int made;
};

static void *race_find_or_make(void *arg)
{
    struct race *r = arg;
    struct key k = key_of(r->m.key);

    pthread_barrier_wait(r->bar);
    r->got = lru_find(r->l, &k, take_first, make_one, &r->m, NOW, &r->made);
    return NULL;
}

Test(lru, concurrent_misses_make_once)
{
    struct lru *l = lru_new(1u << 30, 4);
    pthread_barrier_t bar;
    pthread_t th[RACERS];
    struct race r[RACERS];
    int made = 0;

    AZ(pthread_barrier_init(&bar, NULL, RACERS));
    for (int i = 0; i < RACERS; i++) {
        r[i] = (struct race){.l = l, .bar = &bar, .m = {"http://race/"}};
        AZ(pthread_create(&th[i], NULL, race_find_or_make, &r[i]));
    }
    for (int i = 0; i < RACERS; i++)
        AZ(pthread_join(th[i], NULL));
    for (int i = 0; i < RACERS; i++) {
        made += r[i].made;
        cr_assert_eq(r[i].got, r[0].got, "everyone gets the one object");
    }
    cr_assert_eq(made, 1);
    cr_assert_eq(refs(r[0].got), RACERS + 1);
    for (int i = 0; i < RACERS; i++)
        obj_unref(&r[i].got);
    AZ(pthread_barrier_destroy(&bar));
    lru_free(&l);
}

Test(lru, evicts_least_recently_used)
{
    const size_t sz = size_of("http://e/0", 100);
    struct lru *l = lru_new(3 * sz, 1);
    struct obj *o;

    put(l, "http://e/0", 100, 0);
    put(l, "http://e/1", 100, 0);
    put(l, "http://e/2", 100, 0);
    o = find(l, "http://e/0", NOW); /* touch the oldest */
    obj_unref(&o);
    put(l, "http://e/3", 100, 0);
    cr_assert(has(l, "http://e/0"), "touched: kept");
    cr_assert_not(has(l, "http://e/1"), "the untouched oldest goes");
    cr_assert(has(l, "http://e/2"));
    cr_assert(has(l, "http://e/3"));
    put(l, "http://e/4", 100, 0);
    cr_assert_not(has(l, "http://e/2"));
    cr_assert(has(l, "http://e/0"));
    check_accounting(l);
    lru_free(&l);
}

Test(lru, touches_at_most_every_100ms)
{
    struct lru *l = lru_new(1u << 30, 1);
    struct obj *a = put(l, "http://t/a", 1, 0), *c = put(l, "http://t/c", 1, 0), *f;

    cr_assert_null(c->lprev, "the newest is the LRU head");
    f = find(l, "http://t/a", NOW);
    obj_unref(&f);
    cr_assert_null(a->lprev, "touched: head");
    f = find(l, "http://t/c", NOW);
    obj_unref(&f);
    cr_assert_null(c->lprev);
    f = find(l, "http://t/a", NOW + 99);
    obj_unref(&f);
    cr_assert_null(c->lprev, "touched 99 ms ago: not moved");
    f = find(l, "http://t/a", NOW + 100);
    obj_unref(&f);
    cr_assert_null(a->lprev, "100 ms later: moved");
    cr_assert_eq(a->touched_ms, NOW + 100);
    lru_free(&l);
}

Test(lru, busy_objects_are_not_evicted)
{
    const size_t sz = size_of("http://b/0", 100);
    struct lru *l = lru_new(2 * sz, 1);
    struct obj *busy = mkobj("http://b/0", 100, 1);
    struct lru_stats st;

    lru_insert(l, busy);
    put(l, "http://b/1", 100, 0);
    put(l, "http://b/2", 100, 0);
    cr_assert_eq(busy->indexed, 1, "the oldest, but busy");
    cr_assert_not(has(l, "http://b/1"));
    cr_assert(has(l, "http://b/2"));

    /* Only busy objects left beside the new one: nothing to evict, the shard stays over. */
    lru_remove(l, busy);
    obj_unref(&busy);
    lru_free(&l);
    l = lru_new(sz, 1);
    put(l, "http://b/3", 100, 1);
    put(l, "http://b/4", 100, 1);
    put(l, "http://b/5", 100, 0);
    lru_get_stats(l, &st);
    cr_assert_eq(st.objects, 3);
    cr_assert_eq(st.evictions, 0);
    cr_assert_gt(st.bytes, st.budget);
    check_accounting(l);
    lru_free(&l);
}

static int remove_all(struct obj *o, void *arg)
{
    (void)o;
    (void)arg;
    return 1;
}

Test(lru, accounting)
{
    struct lru *l = lru_new(1u << 30, 4);
    struct obj *keep[3];
    struct lru_stats st;
    char name[32];

    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "http://acc/%d", i);
        put(l, name, (size_t)i * 97, 0);
    }
    check_accounting(l);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "http://acc/%d", i * 50);
        keep[i] = find(l, name, NOW);
        cr_assert_not_null(keep[i]);
        cr_assert_eq(lru_remove(l, keep[i]), 1);
        cr_assert_eq(keep[i]->indexed, 0);
        obj_unref(&keep[i]);
    }
    check_accounting(l);
    cr_assert_eq(lru_walk(l, remove_all, NULL), 197);
    lru_get_stats(l, &st);
    cr_assert_eq(st.bytes, 0);
    cr_assert_eq(st.objects, 0);
    lru_free(&l);
}

Test(lru, budget_respected)
{
    static const unsigned shards[] = {1, 4};
    char name[32];

    for (size_t t = 0; t < countof(shards); t++) {
        struct lru *l = lru_new(64u * 20000, shards[t]);
        struct lru_stats st;
        uint64_t largest = 0;

        for (int i = 0; i < 2000; i++) {
            struct obj *o;

            snprintf(name, sizeof(name), "http://bud/%d", i);
            o = mkobj(name, (size_t)(i * 7919) % 70000, 0);
            if (obj_size(o) > largest)
                largest = obj_size(o);
            lru_insert(l, o);
            obj_unref(&o);
            lru_get_stats(l, &st);
            cr_assert_leq(st.bytes, st.budget + shards[t] * largest, "%u shards, insert %d",
                          shards[t], i);
        }
        cr_assert_gt(st.evictions, 0);
        cr_assert_eq(st.inserts, 2000);
        cr_assert_eq(st.objects + st.evictions, 2000);
        check_accounting(l);
        lru_free(&l);
    }
}

Test(lru, grow_evicts_others)
{
    const size_t sz = size_of("http://g/0", 100);
    struct lru *l = lru_new(4 * sz, 1);
    struct obj *busy = mkobj("http://g/b", 100, 1), *out = mkobj("http://g/x", 1, 0);
    struct lru_stats st;
    size_t mem0;

    lru_insert(l, busy); /* the oldest: it must survive its own growth */
    put(l, "http://g/0", 100, 0);
    put(l, "http://g/1", 100, 0);
    put(l, "http://g/2", 100, 0);
    mem0 = busy->mem;

    obj_append(busy, "x", 1);
    lru_grow(l, busy, sz);
    cr_assert_eq(busy->mem, mem0 + sz);
    cr_assert_eq(busy->indexed, 1);
    cr_assert_not(has(l, "http://g/0"), "the least recent other goes");
    cr_assert(has(l, "http://g/1"));
    cr_assert(has(l, "http://g/2"));

    lru_grow(l, busy, 10 * sz);
    lru_get_stats(l, &st);
    cr_assert_eq(st.objects, 1, "everything else goes, the grown object stays");
    cr_assert_eq(st.bytes, busy->mem);
    cr_assert_eq(st.evictions, 3);

    lru_grow(l, out, 1000); /* not indexed: no-op */
    cr_assert_eq(out->mem, 0);
    lru_get_stats(l, &st);
    cr_assert_eq(st.bytes, busy->mem);
    check_accounting(l);
    obj_unref(&out);
    obj_unref(&busy);
    lru_free(&l);
}

static int remove_odd(struct obj *o, void *arg)
{
    unsigned *seen = arg;
    long n = strtol(o->key + strlen("http://w/"), NULL, 10);

    (*seen)++;
    return (int)(n % 2);
}

Test(lru, walk_removes_a_subset)
{
    struct lru *l = lru_new(1u << 30, 8);
    unsigned seen = 0;
    char name[32];

    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "http://w/%d", i);
        put(l, name, 5, 0);
    }
    cr_assert_eq(lru_walk(l, remove_odd, &seen), 150);
    cr_assert_eq(seen, 300);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "http://w/%d", i);
        cr_assert_eq(has(l, name), i % 2 == 0, "%s", name);
    }
    seen = 0;
    cr_assert_eq(lru_walk(l, remove_odd, &seen), 0);
    cr_assert_eq(seen, 150);
    check_accounting(l);
    lru_free(&l);
}

Test(lru, stats)
{
    const size_t sz = size_of("http://s/0", 10);
    struct lru *l = lru_new(2 * sz, 1);
    struct lru_stats st;

    lru_get_stats(l, &st);
    cr_assert_eq(st.objects, 0);
    cr_assert_eq(st.bytes, 0);
    cr_assert_eq(st.budget, 2 * sz);
    cr_assert_eq(st.evictions, 0);
    cr_assert_eq(st.inserts, 0);
    put(l, "http://s/0", 10, 0);
    put(l, "http://s/1", 10, 0);
    put(l, "http://s/2", 10, 0);
    lru_get_stats(l, &st);
    cr_assert_eq(st.objects, 2);
    cr_assert_eq(st.bytes, 2 * sz);
    cr_assert_eq(st.evictions, 1);
    cr_assert_eq(st.inserts, 3);
    lru_free(&l);
}

Test(lru, many_keys_across_shards)
{
    enum { N = 50000 };
    struct lru *l = lru_new(UINT64_MAX, 8);
    struct lru_stats st;
    char name[32];

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "http://many/%d", i);
        put(l, name, 0, 0);
    }
    lru_get_stats(l, &st);
    cr_assert_eq(st.objects, N);
    cr_assert_eq(st.evictions, 0);
    for (int i = 0; i < N; i++) {
        struct obj *o;

        snprintf(name, sizeof(name), "http://many/%d", i);
        o = find(l, name, NOW);
        cr_assert_not_null(o, "%s", name);
        cr_assert_str_eq(o->key, name);
        if (i % 3 == 0)
            cr_assert_eq(lru_remove(l, o), 1);
        obj_unref(&o);
    }
    for (int i = 0; i < N; i += 7) {
        snprintf(name, sizeof(name), "http://many/%d", i);
        cr_assert_eq(has(l, name), i % 3 != 0, "%s", name);
    }
    check_accounting(l);
    lru_free(&l);
}

/* --- concurrency ------------------------------------------------------------------------ */

#define WORKERS 4
#define KEYS    48

struct worker {
    struct lru *l;
    pthread_barrier_t *bar;
    uint64_t rnd;
    unsigned ops, made;
    char key[32];
    size_t body;
    int busy;
};

static uint64_t next_rnd(struct worker *w)
{
    w->rnd ^= w->rnd << 13;
    w->rnd ^= w->rnd >> 7;
    w->rnd ^= w->rnd << 17;
    return w->rnd;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    AZ(clock_gettime(CLOCK_MONOTONIC, &ts));
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct obj *make_worker(void *arg)
{
    struct worker *w = arg;

    return mkobj(w->key, w->body, w->busy);
}

static enum lru_pick take_some(struct obj *o, void *arg)
{
    struct worker *w = arg;

    (void)o;
    return (next_rnd(w) % 4) ? LRU_TAKE : LRU_SKIP;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    uint64_t end;

    pthread_barrier_wait(w->bar);
    end = mono_ms() + 500;
    while (mono_ms() < end) {
        for (int i = 0; i < 64; i++, w->ops++) {
            uint64_t r = next_rnd(w), now = mono_ms();
            struct key k;
            struct obj *o;
            int made;

            snprintf(w->key, sizeof(w->key), "http://c/%u", (unsigned)(r % KEYS));
            k = key_of(w->key);
            w->body = (size_t)(r >> 8) % 20000;
            w->busy = (r >> 40) % 4 == 0;
            switch ((r >> 32) % 5) {
            case 0: /* find or make; the maker fills and finishes what it made */
            case 1:
                o = lru_find(w->l, &k, take_some, make_worker, w, now, &made);
                AN(o);
                if (made) {
                    w->made++;
                    if (obj_state(o) == OBJ_BUSY) {
                        size_t before = obj_size(o);

                        obj_append(o, "more", 4);
                        lru_grow(w->l, o, obj_size(o) - before);
                        obj_finish(o, (r & 1) ? OBJ_COMPLETE : OBJ_FAILED);
                    }
                }
                obj_unref(&o);
                break;
            case 2: /* find and remove */
                o = lru_find(w->l, &k, take_first, NULL, NULL, now, NULL);
                if (o != NULL)
                    lru_remove(w->l, o);
                obj_unref(&o);
                break;
            case 3: /* insert a variant */
                o = mkobj(w->key, w->body, 0);
                lru_insert(w->l, o);
                obj_unref(&o);
                break;
            default: /* read a held object while others may evict it */
                o = lru_find(w->l, &k, take_first, NULL, NULL, now, NULL);
                if (o != NULL) {
                    if (obj_avail(o) > 0)
                        AN(o->first);
                    lru_grow(w->l, o, 16);
                }
                obj_unref(&o);
                break;
            }
        }
    }
    return NULL;
}

static int check_idle(struct obj *o, void *arg)
{
    unsigned *bad = arg;

    if (refs(o) != 1 || !o->indexed || obj_state(o) == OBJ_BUSY)
        (*bad)++;
    return 0;
}

Test(lru, concurrent_invariants, .timeout = 60)
{
    struct lru *l = lru_new(KEYS * 20000 / 3, 4);
    pthread_barrier_t bar;
    pthread_t th[WORKERS];
    struct worker w[WORKERS];
    struct lru_stats st;
    unsigned bad = 0, ops = 0;

    AZ(pthread_barrier_init(&bar, NULL, WORKERS));
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.l = l, .bar = &bar, .rnd = 0x9e3779b97f4a7c15ull * (i + 1)};
        AZ(pthread_create(&th[i], NULL, work, &w[i]));
    }
    for (int i = 0; i < WORKERS; i++) {
        AZ(pthread_join(th[i], NULL));
        ops += w[i].ops;
    }
    AZ(pthread_barrier_destroy(&bar));

    check_accounting(l);
    /* Everyone gave their references back, and every maker finished what it made. */
    lru_walk(l, check_idle, &bad);
    cr_assert_eq(bad, 0);
    lru_get_stats(l, &st);
    cr_assert_gt(ops, 1000, "%u ops", ops);
    cr_assert_gt(st.evictions, 0);
    cr_assert_gt(st.inserts, 0);
    lru_free(&l);
}

/* What one of the objects below takes in the budget. */
static uint64_t probe_size(void)
{
    struct obj *o = mkobj("http://h/probe", 1000, 0);
    uint64_t n = obj_size(o);

    obj_unref(&o);
    return n;
}

/* S3-FIFO: objects hit while in the small queue move to main and outlive a flood of objects
 * asked for once, which LRU lets sweep everything out. */
Test(lru, s3fifo_keeps_what_was_hit_through_a_flood_of_one_hit_wonders)
{
    uint64_t one = probe_size();

    for (int policy = 0; policy < 2; policy++) {
        struct lru *l = lru_new(one * 20, 1);
        char key[64];
        unsigned kept = 0, flood_kept = 0;

        if (policy == 1)
            lru_set_policy(l, LRU_POLICY_S3FIFO);
        for (int i = 0; i < 5; i++) {
            snprintf(key, sizeof key, "http://h/hot%d", i);
            put(l, key, 1000, 0);
            obj_unref(&(struct obj *){find(l, key, NOW + 1000u * (unsigned)i)}); /* one hit */
        }
        for (int i = 0; i < 100; i++) {
            snprintf(key, sizeof key, "http://h/once%d", i);
            put(l, key, 1000, 0);
        }
        for (int i = 0; i < 5; i++) {
            snprintf(key, sizeof key, "http://h/hot%d", i);
            kept += has(l, key);
        }
        for (int i = 0; i < 100; i++) {
            snprintf(key, sizeof key, "http://h/once%d", i);
            flood_kept += has(l, key);
        }
        if (policy == 0)
            cr_assert_eq(kept, 0, "LRU: the flood evicts the hot objects (kept %u)", kept);
        else
            cr_assert_eq(kept, 5, "S3-FIFO kept %u of the 5 hot objects", kept);
        cr_assert_leq(flood_kept, 20);
        lru_free(&l);
    }
}

/* A key evicted from the small queue and inserted again soon after goes straight to main. */
Test(lru, s3fifo_ghost_readmits_to_main)
{
    uint64_t one = probe_size();
    struct lru *l = lru_new(one * 10, 1);
    struct obj *o;
    char key[64];

    lru_set_policy(l, LRU_POLICY_S3FIFO);
    put(l, "http://h/comeback", 1000, 0);
    /* Fillers until it is evicted, and no more: the ghost table is direct-mapped, and every
     * later eviction could take its slot (with the per-process hash seed, ~0.5% of the runs
     * did, with 30 fillers). */
    for (int i = 0; i < 30 && indexed(l, "http://h/comeback"); i++) {
        snprintf(key, sizeof key, "http://h/filler%d", i);
        put(l, key, 1000, 0);
    }
    cr_assert_not(has(l, "http://h/comeback"), "evicted, never hit");
    o = put(l, "http://h/comeback", 1000, 0);
    cr_assert_eq(o->in_main, 1, "its key was in the ghost table: main queue");
    o = put(l, "http://h/newcomer", 1000, 0);
    cr_assert_eq(o->in_main, 0, "a new key starts in the small queue");
    lru_free(&l);
}

/* Under S3-FIFO too, busy objects are never evicted and the budget holds otherwise. */
Test(lru, s3fifo_spares_busy_objects_and_keeps_the_budget)
{
    uint64_t one = probe_size();
    struct lru *l = lru_new(one * 8, 1);
    struct lru_stats st;
    char key[64];

    lru_set_policy(l, LRU_POLICY_S3FIFO);
    put(l, "http://h/busy", 1000, 1);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "http://h/k%d", i);
        put(l, key, 1000, 0);
        if (i % 3 == 0)
            cr_assert(has(l, key));
    }
    cr_assert(has(l, "http://h/busy"));
    lru_get_stats(l, &st);
    cr_assert_leq(st.bytes, one * 8, "%llu bytes in a budget of %llu", (unsigned long long)st.bytes,
                  (unsigned long long)(one * 8));
    cr_assert_gt(st.evictions, 0);
    {
        struct obj *b = find(l, "http://h/busy", 0);

        obj_finish(b, OBJ_FAILED);
        obj_unref(&b);
    }
    lru_free(&l);
}
