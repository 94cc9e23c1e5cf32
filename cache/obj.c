/* obj.c - the refcounted cached response.
 *
 * One writer (the fetch) and any number of readers on any thread. The writer fills memory first
 * and then publishes it with a release store (head_ready, body_len, state); readers load those
 * with acquire and only touch what they announce. Chunks form an append-only list: a reader
 * holding a reference may walk it up to obj_avail() bytes without a lock. Every chunk but the
 * last is full, so chunk i holds the bytes [sum of the caps before it, + its cap): a reader
 * finds bytes from the caps (fixed when the chunk is linked), never from len (the writer's),
 * and follows a chunk's next pointer only when it knows bytes exist past the chunk (off <
 * avail), which the writer published after linking it. After each publication the writer calls
 * the waker with the mask of workers that have readers waiting. The layout is obj_int.h. */
#include "accel/obj.h"

#include "accel/policy.h"

#include <stdlib.h>
#include <string.h>

#include "cache/obj_int.h"

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

/* A copy of the <len> bytes at <p> (malloc'd), or NULL when there are none. */
static char *dup_bytes(const char *p, size_t len)
{
    char *q;

    if (len == 0)
        return NULL;
    q = xmalloc(len);
    memcpy(q, p, len);
    return q;
}

void obj_meta_init(struct obj_meta *m)
{
    *m = (struct obj_meta){.content_length = OBJ_LEN_UNKNOWN, .identity_len = OBJ_LEN_UNKNOWN};
}

void obj_meta_from_policy(struct obj_meta *m, unsigned status, const struct policy_resp *pr,
                          int64_t t_req, int64_t t_resp)
{
    obj_meta_init(m);
    m->status = status;
    m->t_req = t_req;
    m->t_resp = t_resp;
    m->date = pr->date;
    m->age_value = pr->age;
    m->ttl = pr->storable ? pr->ttl : 0;
    m->swr = pr->swr;
    m->sie = pr->sie;
    m->cc_flags = pr->cc_flags;
}

void obj_set_meta(struct obj *o, const struct obj_meta *m)
{
    CHECK_OBJ(o, OBJ_MAGIC);
    AZ(atomic_load(&o->head_ready));
    AN(o->vary == NULL && o->tags == NULL);
    o->status = m->status;
    o->t_req = m->t_req;
    o->t_resp = m->t_resp;
    o->date = m->date;
    o->age_value = m->age_value;
    o->ttl = m->ttl;
    o->swr = m->swr;
    o->sie = m->sie;
    o->cc_flags = m->cc_flags;
    o->content_length = m->content_length;
    o->identity_len = m->identity_len;
    o->flags |= m->flags;
    o->vary = dup_bytes(m->vary.p, m->vary.len);
    o->vary_len = o->vary != NULL ? m->vary.len : 0;
    o->tags = dup_bytes(m->tags.p, m->tags.len);
    o->tags_len = o->tags != NULL ? m->tags.len : 0;
}

void obj_get_meta(const struct obj *o, struct obj_meta *out)
{
    out->status = o->status;
    out->t_req = o->t_req;
    out->t_resp = o->t_resp;
    out->date = o->date;
    out->age_value = o->age_value;
    out->ttl = o->ttl;
    out->swr = o->swr;
    out->sie = o->sie;
    out->cc_flags = o->cc_flags;
    out->content_length = o->content_length;
    out->identity_len = o->identity_len;
    out->flags = o->flags;
    out->vary = span_of(o->vary, o->vary_len);
    out->tags = span_of(o->tags, o->tags_len);
}

struct obj *obj_new_inflated(const struct obj *o)
{
    struct obj *t = obj_new(o->key, o->key_len, o->hash, 0);
    struct obj_meta m;

    CHECK_OBJ(o, OBJ_MAGIC);
    obj_get_meta(o, &m);
    m.content_length = o->identity_len;
    m.identity_len = OBJ_LEN_UNKNOWN;
    m.flags = 0;
    m.tags = span_of(NULL, 0);
    obj_set_meta(t, &m);
    atomic_store(&t->purged_at, atomic_load(&o->purged_at));
    return t;
}

void obj_add_flags(struct obj *o, unsigned flags)
{
    CHECK_OBJ(o, OBJ_MAGIC);
    o->flags |= flags;
}

void obj_set_identity_len(struct obj *o, uint64_t len)
{
    CHECK_OBJ(o, OBJ_MAGIC);
    AZ(atomic_load(&o->state) != OBJ_BUSY);
    o->identity_len = len;
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

int obj_has_head(const struct obj *o)
{
    return atomic_load_explicit(&o->head_ready, memory_order_acquire);
}

uint64_t obj_avail(const struct obj *o)
{
    return atomic_load_explicit(&o->body_len, memory_order_acquire);
}

enum obj_state obj_state(const struct obj *o)
{
    CHECK_OBJ(o, OBJ_MAGIC);
    return (enum obj_state)atomic_load_explicit(&o->state, memory_order_acquire);
}

struct span obj_key(const struct obj *o)
{
    return span_of(o->key, o->key_len);
}

uint64_t obj_hash(const struct obj *o)
{
    return o->hash;
}

unsigned obj_flags(const struct obj *o)
{
    return o->flags;
}

unsigned obj_status(const struct obj *o)
{
    return o->status;
}

struct span obj_head(const struct obj *o)
{
    return span_of(o->head, o->head_len);
}

const struct field *obj_fields(const struct obj *o, unsigned *n)
{
    *n = o->n_fields;
    return o->fields;
}

int64_t obj_date(const struct obj *o)
{
    return o->date;
}

uint64_t obj_content_length(const struct obj *o)
{
    return o->content_length;
}

uint64_t obj_identity_len(const struct obj *o)
{
    return o->identity_len;
}

int64_t obj_age(const struct obj *o, int64_t now)
{
    return policy_current_age(o->date, o->age_value, o->t_req, o->t_resp, now);
}

unsigned obj_body_iov(const struct obj *o, struct obj_cursor *cur, uint64_t off, uint64_t end,
                      struct iovec *iov, unsigned max)
{
    const struct obj_chunk *ch = o->first;
    uint64_t start = 0;
    unsigned n = 0;

    if (off >= end || max == 0)
        return 0;
    if (cur != NULL && cur->ch != NULL && cur->ch_start <= off) {
        ch = cur->ch;
        start = cur->ch_start;
    }
    /* Byte <off> exists (off < end <= avail): the chunks up to it are linked. */
    while (off >= start + ch->cap) {
        start += ch->cap;
        ch = ch->next;
        AN(ch);
    }
    if (cur != NULL) {
        cur->ch = ch;
        cur->ch_start = start;
    }
    while (n < max && off < end) {
        uint64_t stop = start + ch->cap < end ? start + ch->cap : end;

        iov[n].iov_base = (void *)(ch->data + (off - start));
        iov[n].iov_len = (size_t)(stop - off);
        n++;
        off = stop;
        if (off < end) {
            start += ch->cap;
            ch = ch->next;
            AN(ch);
        }
    }
    return n;
}

unsigned obj_subscribe(struct obj *o)
{
    return atomic_fetch_add(&o->subscribers, 1);
}

int obj_start_refresh(struct obj *o)
{
    return atomic_exchange(&o->refreshing, 1) == 0;
}

int obj_last_ref(const struct obj *o)
{
    return atomic_load(&o->refs) == 1;
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

int64_t obj_purged_at(const struct obj *o)
{
    return atomic_load_explicit(&o->purged_at, memory_order_acquire);
}
