/* obj.c - the refcounted cached response.
 *
 * One writer (the fetch) and any number of readers on any thread. The writer fills memory first
 * and then publishes it with a release store (head_ready, body_len, state); readers load those
 * with acquire and only touch what they announce. Chunks form an append-only list: a reader
 * holding a reference may walk it up to obj_avail() bytes without a lock. After each
 * publication the writer calls the waker with the mask of workers that have readers waiting. */
#include "accel/obj.h"

#include "accel/policy.h"

#include <stdlib.h>
#include <string.h>

static void (*waker)(unsigned mask);

void obj_set_waker(void (*fn)(unsigned mask))
{
    waker = fn;
}

static void wake(struct obj *o)
{
    unsigned mask = atomic_load_explicit(&o->waiters, memory_order_acquire);

    if (mask != 0 && waker != NULL)
        waker(mask);
}

struct obj *obj_new(const char *key, size_t len, uint64_t hash, unsigned flags)
{
    struct obj *o = xcalloc(1, sizeof(*o));

    o->magic = OBJ_MAGIC;
    atomic_init(&o->refs, 1);
    o->key = xstrndup(key, len);
    o->key_len = len;
    o->hash = hash;
    o->flags = flags;
    o->content_length = OBJ_LEN_UNKNOWN;
    o->identity_len = OBJ_LEN_UNKNOWN;
    atomic_init(&o->head_ready, 0);
    atomic_init(&o->body_len, 0);
    atomic_init(&o->state, OBJ_BUSY);
    atomic_init(&o->waiters, 0);
    return o;
}

struct obj *obj_ref(struct obj *o)
{
    CHECK_OBJ(o, OBJ_MAGIC);
    atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    return o;
}

static void obj_free(struct obj *o)
{
    struct obj_chunk *c = o->first, *next;

    for (; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(o->key);
    free(o->head);
    free(o->fields);
    free(o->vary);
    free(o->tags);
    {
        struct obj *t = atomic_load(&o->twin);

        obj_unref(&t);
    }
    o->magic = 0;
    free(o);
}

void obj_unref(struct obj **op)
{
    struct obj *o = *op;

    *op = NULL;
    if (o == NULL)
        return;
    CHECK_OBJ(o, OBJ_MAGIC);
    if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
        obj_free(o);
}

unsigned obj_split_fields(const char *head, size_t len, struct field *out, unsigned max)
{
    const char *p = memchr(head, '\n', len), *end = head + len, *eol;
    unsigned n = 0;

    /* The head is ours (a fetch wrote it): "status line\r\n(Name: value\r\n)*". */
    for (p = p ? p + 1 : end; p < end && n < max; p = eol + 1) {
        const char *colon;

        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL)
            continue;
        out[n].name = span_of(p, (size_t)(colon - p));
        out[n].value = span_trim(span_of(colon + 1, (size_t)(eol - colon - 1 - (eol[-1] == '\r'))));
        n++;
    }
    return n;
}

void obj_set_head(struct obj *o, const char *head, size_t len)
{
    unsigned cap = 1;

    CHECK_OBJ(o, OBJ_MAGIC);
    AZ(atomic_load(&o->head_ready));
    o->head = xmalloc(len + 1);
    memcpy(o->head, head, len);
    o->head[len] = '\0';
    o->head_len = len;
    for (size_t i = 0; i < len; i++)
        cap += head[i] == '\n';
    o->fields = xcalloc(cap, sizeof(*o->fields));
    o->n_fields = obj_split_fields(o->head, len, o->fields, cap);
    for (unsigned i = 0; i < o->n_fields; i++) {
        if (span_eq_ci(o->fields[i].name, "content-encoding"))
            o->flags =
                (span_eq_ci(o->fields[i].value, "gzip") || span_eq_ci(o->fields[i].value, "x-gzip"))
                    ? o->flags | OBJ_F_GZIP
                    : o->flags & ~OBJ_F_GZIP; /* a second coding: not gzip alone */
    }
    atomic_store_explicit(&o->head_ready, 1, memory_order_release);
    wake(o);
}

static void append(struct obj *o, const void *p, size_t n, int exact);

void obj_append(struct obj *o, const void *p, size_t n)
{
    append(o, p, n, 0);
}

void obj_append_last(struct obj *o, const void *p, size_t n)
{
    append(o, p, n, 1);
}

static void append(struct obj *o, const void *p, size_t n, int exact)
{
    const char *src = p;
    uint64_t len = atomic_load_explicit(&o->body_len, memory_order_relaxed);

    CHECK_OBJ(o, OBJ_MAGIC);
    while (n > 0) {
        struct obj_chunk *c = o->last;
        size_t take;

        if (c == NULL || c->len == c->cap) {
            size_t cap = (n > OBJ_CHUNK_MIN || exact) ? n : OBJ_CHUNK_MIN;

            if (o->content_length != OBJ_LEN_UNKNOWN && o->content_length > len &&
                o->content_length - len < cap && o->content_length - len >= n)
                cap = (size_t)(o->content_length - len); /* the last chunk: exactly what is left */
            c = xmalloc(sizeof(*c) + cap);
            o->chunk_mem += sizeof(*c) + cap;
            c->next = NULL;
            c->len = 0;
            c->cap = cap;
            /* Linked before body_len covers it: readers never go past body_len. */
            if (o->last != NULL)
                o->last->next = c;
            else
                o->first = c;
            o->last = c;
        }
        take = c->cap - c->len < n ? c->cap - c->len : n;
        memcpy(c->data + c->len, src, take);
        c->len += take;
        src += take;
        n -= take;
        len += take;
    }
    atomic_store_explicit(&o->body_len, len, memory_order_release);
    wake(o);
}

void obj_finish(struct obj *o, enum obj_state st)
{
    CHECK_OBJ(o, OBJ_MAGIC);
    AN(st == OBJ_COMPLETE || st == OBJ_FAILED);
    AZ(atomic_load(&o->state) != OBJ_BUSY);
    atomic_store_explicit(&o->state, st, memory_order_release);
    wake(o);
}

struct span obj_field(const struct obj *o, const char *name)
{
    for (unsigned i = 0; i < o->n_fields; i++)
        if (span_eq_ci(o->fields[i].name, name))
            return o->fields[i].value;
    return span_of(NULL, 0);
}

void obj_wait(struct obj *o, unsigned worker)
{
    atomic_fetch_or_explicit(&o->waiters, 1u << (worker % 32), memory_order_acq_rel);
}

size_t obj_size(const struct obj *o)
{
    size_t n = sizeof(*o) + o->key_len + 1 + o->head_len + 1 + o->vary_len + o->tags_len;

    return n + o->n_fields * sizeof(struct field) + o->chunk_mem;
}

struct obj *obj_set_twin(struct obj *o, struct obj *twin)
{
    struct obj *none = NULL;

    CHECK_OBJ(o, OBJ_MAGIC);
    if (!atomic_compare_exchange_strong(&o->twin, &none, twin)) {
        obj_unref(&twin); /* another client made one first */
        return obj_ref(none);
    }
    return obj_ref(twin);
}

struct obj *obj_get_twin(struct obj *o)
{
    struct obj *t = atomic_load(&o->twin);

    /* set once, never cleared while <o> lives: the caller's reference on <o> keeps it */
    return t != NULL ? obj_ref(t) : NULL;
}

int64_t obj_ttl(const struct obj *o)
{
    int64_t at = atomic_load_explicit(&o->purged_at, memory_order_acquire), age;

    if (at == 0)
        return o->ttl;
    age = policy_current_age(o->date, o->age_value, o->t_req, o->t_resp, at);
    return age < o->ttl ? age : o->ttl;
}

void obj_soft_purge(struct obj *o, int64_t now)
{
    int64_t zero = 0;

    atomic_compare_exchange_strong(&o->purged_at, &zero, now > 0 ? now : 1);
}
