/* fmt.c - versioned encode/decode of a complete object for the disk tier.
 *
 * A blob is, all integers little-endian and unaligned:
 *
 *   "ACOB" u16 version, u16 flags, u32 status,
 *   i64 t_req, t_resp, date, age_value, ttl, swr, sie,
 *   u32 cc_flags, u64 content_length, u32 key_len, u32 vary_len, u32 head_len, u64 body_len,
 *   u64 identity_len, u32 tags_len,
 *   key bytes, vary bytes, tags bytes, head bytes, body bytes,
 *   u64 XXH3_64bits of every byte before it.
 *
 * The envelope (magic, version right after it, checksum in the last 8 bytes) is what every
 * version keeps, so that a blob of another version is told apart from a corrupt one: the
 * checksum is verified before the version is believed. The hash of the key is not stored: it
 * is seeded per process, so decode recomputes it.
 *
 * Decoding trusts nothing: each length is checked against the bytes that remain before it is
 * used, and the sections must fill the blob exactly. The decoded object owns copies of all
 * its bytes; the input is not referenced once fmt_decode returns. */
#include "accel/fmt.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "accel/key.h"
#include "cache/obj_int.h"

#define FMT_MAGIC     "ACOB"
#define FMT_HDR_LEN   112 /* the fixed header above */
#define FMT_SUM_LEN   8
#define FMT_ENV_MIN   (4 + 2 + FMT_SUM_LEN) /* magic, version, checksum: enough to read them */
#define FMT_FLAGS_MAX 0xffffu

/* --- little-endian writers: each stores at <p> and returns the byte after ----------------- */

static unsigned char *put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 4;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 8;
}

static unsigned char *put_i64(unsigned char *p, int64_t v)
{
    return put_u64(p, (uint64_t)v); /* two's complement, as every platform we build on */
}

static unsigned char *put_bytes(unsigned char *p, const void *src, size_t n)
{
    if (n > 0)
        memcpy(p, src, n);
    return p + n;
}

/* --- little-endian readers over a bounded cursor ------------------------------------------- */

/* The bytes left to read: [p, end). Readers check what remains themselves (get_* below are
 * only called on a header whose length was checked as a whole). */
struct rd {
    const unsigned char *p, *end;
};

static uint16_t get_u16(struct rd *r)
{
    uint16_t v = (uint16_t)(r->p[0] | (unsigned)r->p[1] << 8);

    r->p += 2;
    return v;
}

static uint32_t get_u32(struct rd *r)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    return v;
}

static uint64_t get_u64(struct rd *r)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    return v;
}

static int64_t get_i64(struct rd *r)
{
    uint64_t u = get_u64(r);
    int64_t v;

    memcpy(&v, &u, sizeof(v)); /* no implementation-defined conversion for values > INT64_MAX */
    return v;
}

/* Takes the next <n> bytes (a length read from the blob) into *<out>. Returns 0, or -EBADMSG
 * when fewer remain. */
static int take(struct rd *r, uint64_t n, const unsigned char **out)
{
    if (n > (uint64_t)(r->end - r->p))
        return -EBADMSG;
    *out = r->p;
    r->p += n;
    return 0;
}

/* --- encode ---------------------------------------------------------------------------------- */

void fmt_encode(const struct obj *o, struct buf *b)
{
    uint64_t body_len;
    size_t total, start, done = 0;
    unsigned char *p, *q;

    CHECK_OBJ(o, OBJ_MAGIC);
    AN(obj_state(o) == OBJ_COMPLETE);
    AN(obj_has_head(o));
    AN(o->flags <= FMT_FLAGS_MAX);
    AN(o->key_len <= UINT32_MAX && o->vary_len <= UINT32_MAX && o->head_len <= UINT32_MAX);
    AN(o->tags_len <= UINT32_MAX);
    body_len = obj_avail(o);
    total = FMT_HDR_LEN + o->key_len + o->vary_len + o->tags_len + o->head_len + (size_t)body_len +
            FMT_SUM_LEN;

    buf_reserve(b, total);
    start = b->len; /* after the reserve: it may have compacted the buffer */
    p = q = (unsigned char *)b->p + start;
    q = put_bytes(q, FMT_MAGIC, 4);
    q = put_u16(q, FMT_VERSION);
    q = put_u16(q, (uint16_t)o->flags);
    q = put_u32(q, o->status);
    q = put_i64(q, o->t_req);
    q = put_i64(q, o->t_resp);
    q = put_i64(q, o->date);
    q = put_i64(q, o->age_value);
    q = put_i64(q, o->ttl);
    q = put_i64(q, o->swr);
    q = put_i64(q, o->sie);
    q = put_u32(q, o->cc_flags);
    q = put_u64(q, o->content_length);
    q = put_u32(q, (uint32_t)o->key_len);
    q = put_u32(q, (uint32_t)o->vary_len);
    q = put_u32(q, (uint32_t)o->head_len);
    q = put_u64(q, body_len);
    q = put_u64(q, o->identity_len);
    q = put_u32(q, (uint32_t)o->tags_len);
    AN(q - p == FMT_HDR_LEN);
    q = put_bytes(q, o->key, o->key_len);
    q = put_bytes(q, o->vary, o->vary_len);
    q = put_bytes(q, o->tags, o->tags_len);
    q = put_bytes(q, o->head, o->head_len);
    /* Complete: the chunk lens are stable and add up to body_len (every chunk but the last is
     * full). */
    for (const struct obj_chunk *c = o->first; done < body_len; c = c->next) {
        size_t n;

        AN(c != NULL);
        n = body_len - done < c->len ? (size_t)(body_len - done) : c->len;
        q = put_bytes(q, c->data, n);
        done += n;
    }
    q = put_u64(q, XXH3_64bits(p, (size_t)(q - p)));
    AN((size_t)(q - p) == total);
    b->len += total;
}

/* --- decode ---------------------------------------------------------------------------------- */

/* A vary list is "name\0value\0..." and its readers walk it with strlen: it must end with a NUL
 * and hold whole pairs. */
static int vary_ok(const unsigned char *v, size_t len)
{
    size_t nuls = 0;

    if (len == 0)
        return 1;
    if (v[len - 1] != '\0')
        return 0;
    for (size_t i = 0; i < len; i++)
        nuls += v[i] == '\0';
    return nuls % 2 == 0;
}

int fmt_decode(const void *p, size_t len, struct obj **out)
{
    struct rd r = {p, (const unsigned char *)p + len};
    const unsigned char *key, *vary, *tags, *head, *body;
    uint64_t sum, body_len, content_length, identity_len;
    uint32_t key_len, vary_len, tags_len, head_len, status, cc_flags;
    uint16_t version, flags;
    int64_t t[7];
    struct obj *o;

    if (len < FMT_ENV_MIN || memcmp(r.p, FMT_MAGIC, 4) != 0)
        return -EBADMSG;
    r.end -= FMT_SUM_LEN;
    {
        struct rd s = {r.end, r.end + FMT_SUM_LEN};

        sum = get_u64(&s);
    }
    if (XXH3_64bits(p, len - FMT_SUM_LEN) != sum)
        return -EBADMSG;
    r.p += 4;
    version = get_u16(&r);
    if (version != FMT_VERSION)
        return -ENOTSUP;
    if ((size_t)(r.end - r.p) < FMT_HDR_LEN - 6)
        return -EBADMSG;

    flags = get_u16(&r);
    status = get_u32(&r);
    for (size_t i = 0; i < countof(t); i++)
        t[i] = get_i64(&r);
    cc_flags = get_u32(&r);
    content_length = get_u64(&r);
    key_len = get_u32(&r);
    vary_len = get_u32(&r);
    head_len = get_u32(&r);
    body_len = get_u64(&r);
    identity_len = get_u64(&r);
    tags_len = get_u32(&r);

    if (take(&r, key_len, &key) != 0 || take(&r, vary_len, &vary) != 0 ||
        take(&r, tags_len, &tags) != 0 || take(&r, head_len, &head) != 0 ||
        take(&r, body_len, &body) != 0 || r.p != r.end)
        return -EBADMSG;
    /* obj_new keeps the key as a C string of key_len bytes. */
    if (memchr(key, '\0', key_len) != NULL || !vary_ok(vary, vary_len) ||
        (tags_len > 0 && tags[tags_len - 1] != '\0'))
        return -EBADMSG;

    o = obj_new((const char *)key, key_len, key_hash((const char *)key, key_len), flags);
    o->status = status;
    o->t_req = t[0];
    o->t_resp = t[1];
    o->date = t[2];
    o->age_value = t[3];
    o->ttl = t[4];
    o->swr = t[5];
    o->sie = t[6];
    o->cc_flags = cc_flags;
    o->content_length = content_length;
    o->identity_len = identity_len;
    if (vary_len > 0) {
        o->vary = xmalloc(vary_len);
        memcpy(o->vary, vary, vary_len);
        o->vary_len = vary_len;
    }
    if (tags_len > 0) {
        o->tags = xmalloc(tags_len);
        memcpy(o->tags, tags, tags_len);
        o->tags_len = tags_len;
    }
    obj_set_head(o, (const char *)head, head_len);
    obj_append(o, body, (size_t)body_len);
    obj_finish(o, OBJ_COMPLETE);
    *out = o;
    return 0;
}
