/* obj.h - a cached response. One fetch builds it while it is busy: metadata and head first,
 * then body chunks appended as they arrive; it is then finished exactly once (complete or
 * failed) and never changes again, so readers use it without locks while they hold a reference.
 *
 * struct obj is opaque outside cache/ (its layout is cache/obj_int.h): the writer sets what it
 * knows through obj_set_meta(), obj_set_head() and obj_append(); readers use the accessors
 * below and walk the body with obj_body_iov(), straight from the object's memory.
 *
 * Readers of a busy object see a consistent prefix: obj_has_head() says the head and the
 * metadata may be read; obj_avail() says how many body bytes there are; obj_state() says
 * whether more will come. The single writer publishes each after the bytes it announces are in
 * place. Chunks are never freed or moved while the object lives. */
#ifndef ACCEL_OBJ_H
#define ACCEL_OBJ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "accel/base.h"

#define OBJ_LEN_UNKNOWN UINT64_MAX
#define OBJ_CHUNK_MIN   (16 * 1024)

struct obj;
struct obj_chunk;
struct policy_resp;

enum obj_state {
    OBJ_BUSY = 0, /* the fetch is still filling it */
    OBJ_COMPLETE, /* every byte is there */
    OBJ_FAILED,   /* the fetch failed: readers stop where the body stops */
};

#define OBJ_F_PASS    0x1u /* hit-for-miss marker: no body; lookups go to the origin on their own */
#define OBJ_F_PRIVATE 0x2u /* never indexed: one reader, who gets it streamed */
/* the body is gzip (its head says Content-Encoding: gzip): set by obj_set_head() */
#define OBJ_F_GZIP    0x4u
#define OBJ_F_GZIPPED 0x8u /* accel gzipped the origin's body (not the origin's own bytes) */

/* What an object says of its response besides the head bytes: the writer fills one and hands
 * it to obj_set_meta() before obj_set_head(); obj_get_meta() gives it back to readers. */
struct obj_meta {
    unsigned status;
    int64_t t_req, t_resp;   /* when the request went and the response came, seconds */
    int64_t date, age_value; /* Date (the response time without one), the Age field */
    int64_t ttl, swr, sie;   /* freshness lifetime, stale-while-revalidate, stale-if-error */
    unsigned cc_flags;       /* CC_* of the controlling Cache-Control (policy.h) */
    uint64_t content_length; /* the body's length when known, else OBJ_LEN_UNKNOWN */
    uint64_t identity_len;   /* OBJ_F_GZIP: the inflated length, else OBJ_LEN_UNKNOWN */
    unsigned flags;          /* obj_set_meta(): OBJ_F_* added; obj_get_meta(): all of them */
    struct span vary;        /* "name\0value\0..." of the request's Vary values; len 0: none */
    struct span tags;        /* "tag\0tag\0..." from Surrogate-Key / Cache-Tag; len 0: none */
};

/* A reader's place in an object's body, so that each walk starts where the last one was
 * rather than at the first chunk (a large object stays linear in its chunks). Zero it
 * (obj_cursor_init()) before the first walk and whenever it is to walk another object. */
struct obj_cursor {
    const struct obj_chunk *ch; /* obj.c's: the chunk it points into, NULL before the first */
    uint64_t ch_start;          /* obj.c's: the body offset of ch's first byte */
};

/* A new busy object for the key of <len> bytes at <key>, hash <hash>; one reference, owned by
 * the caller. */
struct obj *obj_new(const char *key, size_t len, uint64_t hash, unsigned flags);

/* Returns <o> with one more reference. */
struct obj *obj_ref(struct obj *o);

/* Drops the reference in *<op> and sets *<op> to NULL; frees on the last one. NULL is fine. */
void obj_unref(struct obj **op);

/* Writer: sets <o>'s metadata from <m> (a copy: vary and tags are copied, the caller keeps its
 * bytes; m->flags are added to <o>'s). Once, before obj_set_head(). */
void obj_set_meta(struct obj *o, const struct obj_meta *m);

/* Sets <m> to no metadata: every number 0, both lengths OBJ_LEN_UNKNOWN, no flags, no vary,
 * no tags. */
void obj_meta_init(struct obj_meta *m);

/* Sets <m> for a response of <status> to a request sent at <t_req>, received at <t_resp>
 * (seconds), from its policy verdict <pr> (policy_response()): Date, Age, the freshness
 * lifetime (0 when <pr> says it is not storable), the stale windows and the Cache-Control
 * flags; the rest as obj_meta_init() leaves it. The one place a policy result becomes object
 * metadata. */
void obj_meta_from_policy(struct obj_meta *m, unsigned status, const struct policy_resp *pr,
                          int64_t t_req, int64_t t_resp);

/* Writer: stores a copy of the head (<len> bytes at <head>, in the format above), splits it
 * into fields, sets OBJ_F_GZIP when a Content-Encoding field is "gzip" or "x-gzip" alone,
 * then publishes it (with the metadata set before). */
void obj_set_head(struct obj *o, const char *head, size_t len);

/* Writer: adds OBJ_F_* <flags> to <o>'s, before the publication they must precede (a flag
 * set before obj_finish() is seen by every reader that sees the object finished). */
void obj_add_flags(struct obj *o, unsigned flags);

/* Writer: the inflated length of gzip object <o>, learnt as its body ends; before
 * obj_finish(). */
void obj_set_identity_len(struct obj *o, uint64_t len);

/* Writer: appends <n> body bytes and publishes them. */
void obj_append(struct obj *o, const void *p, size_t n);

/* Writer: appends the last <n> body bytes, in a chunk of exactly what does not fit the current
 * one (no room kept for more: the object is about to be finished). */
void obj_append_last(struct obj *o, const void *p, size_t n);

/* Writer: finishes the object as OBJ_COMPLETE or OBJ_FAILED (once). */
void obj_finish(struct obj *o, enum obj_state st);

/* A new busy object (one reference, the caller's) to hold complete gzip object <o> inflated:
 * <o>'s key, hash, times, lifetime, stale windows, Cache-Control flags, Vary values and soft
 * purge; <o>'s identity length as its content length; no flags, no tags. The caller sets its
 * head and body. */
struct obj *obj_new_inflated(const struct obj *o);

/* Readers: the publications. Each is one atomic load. */
int obj_has_head(const struct obj *o);
uint64_t obj_avail(const struct obj *o);
enum obj_state obj_state(const struct obj *o);

/* Readers: what is fixed at creation. The key is NUL-terminated (.len bytes before the NUL)
 * and lives as long as <o>. */
struct span obj_key(const struct obj *o);
uint64_t obj_hash(const struct obj *o);

/* Readers: <o>'s OBJ_F_* flags. Those set before a publication are seen after it. */
unsigned obj_flags(const struct obj *o);

/* Readers, only after obj_has_head(): the stored status, the stored head (the format above;
 * valid as long as <o>), its fields (*<n> of them, views into the head), Date, the body's
 * length as the metadata says it (OBJ_LEN_UNKNOWN when it was unknown at the head), and the
 * current age (RFC 9111 §4.2.3) at <now>. */
unsigned obj_status(const struct obj *o);
struct span obj_head(const struct obj *o);
const struct field *obj_fields(const struct obj *o, unsigned *n);
int64_t obj_date(const struct obj *o);
uint64_t obj_content_length(const struct obj *o);
int64_t obj_age(const struct obj *o, int64_t now);

/* Readers, once <o> is complete: its inflated length (OBJ_F_GZIP), or OBJ_LEN_UNKNOWN. */
uint64_t obj_identity_len(const struct obj *o);

/* Readers, only after obj_has_head(): a copy of <o>'s metadata into *<out>; out->flags are all
 * of <o>'s flags; vary and tags point into <o> (valid as long as <o>). */
void obj_get_meta(const struct obj *o, struct obj_meta *out);

/* Sets <cur> to the start of a body. */
static inline void obj_cursor_init(struct obj_cursor *cur)
{
    cur->ch = NULL;
    cur->ch_start = 0;
}

/* Readers: fills at most <max> iovecs with <o>'s body bytes [<off>, <end>), where <end> is at
 * most a value of obj_avail() the caller loaded; one iovec per chunk, pointing into the object
 * (no copy, no allocation; valid as long as <o>). Returns how many iovecs (0 when off >= end).
 * <cur> (NULL: none) starts the walk at the chunk it points into when that is not past <off>,
 * and is left at the chunk holding <off>: a reader that moves forward through the body walks
 * each chunk once. */
unsigned obj_body_iov(const struct obj *o, struct obj_cursor *cur, uint64_t off, uint64_t end,
                      struct iovec *iov, unsigned max);

/* Readers: counts one more request that joined busy <o>; returns how many had joined before. */
unsigned obj_subscribe(struct obj *o);

/* Readers: 1 for the first caller (it starts the background refresh of stale <o>), 0 after. */
int obj_start_refresh(struct obj *o);

/* 1 when the caller's reference is the only one left. */
int obj_last_ref(const struct obj *o);

/* Splits a head in the format above into at most <max> fields (views into <head>); returns
 * how many. */
unsigned obj_split_fields(const char *head, size_t len, struct field *out, unsigned max);

/* The value of the first head field named <name> (case-insensitive); .p NULL when absent.
 * Only after obj_has_head(). */
struct span obj_field(const struct obj *o, const char *name);

/* Marks that a reader on worker <worker> waits on <o> (wake-ups go to that worker). */
void obj_wait(struct obj *o, unsigned worker);

/* The function the writer calls after each publication, with the mask of waiting workers.
 * Set once at start-up by the server (it sends each worker an ev_async); NULL: no wake-ups. */
void obj_set_waker(void (*fn)(unsigned mask));

/* The freshness lifetime of <o> in seconds: its ttl, cut short by a soft purge (from the
 * purge on, it is stale; stale-while-revalidate, stale-if-error and grace count from then). */
int64_t obj_ttl(const struct obj *o);

/* Soft purge: marks <o> stale from <now> on (the first purge wins). */
void obj_soft_purge(struct obj *o, int64_t now);

/* When <o> was soft-purged (seconds), or 0 when it was not. */
int64_t obj_purged_at(const struct obj *o);

/* Sets <twin> (one reference, taken over) as <o>'s inflated twin unless one is there already.
 * Returns the twin now in place, with a new reference for the caller. */
struct obj *obj_set_twin(struct obj *o, struct obj *twin);

/* <o>'s twin with a new reference, or NULL. */
struct obj *obj_get_twin(struct obj *o);

/* Bytes of memory the object holds (head, body chunks, key, metadata). The writer's, or
 * anyone's once the object is finished. */
size_t obj_size(const struct obj *o);

#endif
