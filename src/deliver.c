/* deliver.c - head rewrite and body walk for one delivery of an object.
 *
 * The body walk is obj_body_iov() from the delivery position, with a cursor that stays at the
 * chunk holding it: each chunk is walked once however many writes a large body takes. */
#include "accel/deliver.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "accel/gz.h"
#include "accel/http.h"
#include "accel/log.h"
#include "accel/policy.h"

void deliver_init(struct deliver *d, struct obj *o)
{
    d->o = o;
    d->pos = 0;
    d->end = UINT64_MAX;
    d->nobody = d->zfull = 0;
    obj_cursor_init(&d->cur);
}

void deliver_fini(struct deliver *d, struct gz_dec **spare)
{
    if (d->unzip != NULL) {
        gz_dec_reset(d->unzip);
        gz_dec_free(spare);
        *spare = d->unzip;
        d->unzip = NULL;
    }
    d->o = NULL;
}

unsigned deliver_answer(struct deliver *d, const struct deliver_req *r, const struct ostream *os)
{
    const struct obj *o = d->o;
    enum obj_state st = obj_state(o); /* before avail: COMPLETE means avail is final */
    uint64_t avail = obj_avail(o);
    int64_t age = obj_age(o, r->now);
    uint64_t length = st == OBJ_COMPLETE ? avail : obj_content_length(o), first = 0, last = 0;
    size_t xlen = strlen(r->extra);
    enum deliver_range rg = DELIVER_FULL;
    struct ostream_head h = {.o = o, .age = age, .extra = r->extra};
    unsigned status = obj_status(o);

    h.identity = (obj_flags(o) & OBJ_F_GZIP) && !gz_accepts(r->fields, r->n_fields);
    d->end = UINT64_MAX;
    d->nobody = r->head_req || status == 204 || status == 304;
    if (deliver_not_modified(o, r->fields, r->n_fields, r->now)) {
        h.status = 304;
        h.length = OBJ_LEN_UNKNOWN;
        h.nobody = d->nobody = 1;
        os->ops->head(os->ctx, &h);
        return 304;
    }
    if (h.identity) {
        /* Inflated on the way out: its length is known once the object is complete, and a
         * Range (which a server may ignore, RFC 9110 §14.2) gets the whole representation. */
        length = st == OBJ_COMPLETE ? obj_identity_len(o) : OBJ_LEN_UNKNOWN;
        if (!r->head_req) {
            d->unzip = *r->spare != NULL ? *r->spare : gz_dec_new();
            *r->spare = NULL;
            if (d->unzip == NULL) {
                h.status = 500;
                h.length = 0;
                h.nobody = d->nobody = 1;
                h.close = 1;
                os->ops->head(os->ctx, &h);
                return 500;
            }
            if (*r->zout == NULL)
                *r->zout = xmalloc(DELIVER_ZOUT);
            d->zout = *r->zout;
        }
    } else if (st == OBJ_COMPLETE) {
        rg = deliver_range(o, length, r->fields, r->n_fields, &first, &last);
    }
    if (rg == DELIVER_UNSATISFIABLE) {
        status = h.status = 416;
        h.nobody = d->nobody = 1;
        snprintf(r->extra + xlen, r->extra_cap - xlen, "Content-Range: bytes */%llu\r\n",
                 (unsigned long long)length);
        length = 0;
    } else if (rg == DELIVER_PARTIAL) {
        status = h.status = 206;
        snprintf(r->extra + xlen, r->extra_cap - xlen, "Content-Range: bytes %llu-%llu/%llu\r\n",
                 (unsigned long long)first, (unsigned long long)last, (unsigned long long)length);
        d->pos = first;
        d->end = last + 1;
        length = last - first + 1;
    }
    h.length = length;
    h.nobody = h.nobody || r->head_req;
    os->ops->head(os->ctx, &h);
    return status;
}

/* deliver_body() for an object inflated on the way: inflates what the object holds past the
 * delivery position into d->zout, at most one buffer ahead of the peer (a small gzip that
 * inflates to gigabytes costs time, never memory). Returns 1 when it made some, 0 when not, -1
 * when the peer is gone or the gzip is corrupt. */
static int body_unzip(struct deliver *d, uint64_t avail, const struct ostream *os)
{
    int made = 0;

    while (os->ops->pending(os->ctx) < DELIVER_ZOUT) {
        struct iovec iov[1];
        const void *in;
        size_t inlen, got = 0;
        int rc;

        if (deliver_iov(d, avail, iov, 1) == 0) {
            iov[0].iov_base = (void *)"";
            iov[0].iov_len = 0;
        }
        in = iov[0].iov_base;
        inlen = iov[0].iov_len;
        rc = gz_dec_run(d->unzip, &in, &inlen, d->zout, DELIVER_ZOUT, &got);
        if (rc < 0) {
            struct span key = obj_key(d->o);

            log_warn("%.*s: the stored gzip body does not inflate: answer cut short",
                     (int)(key.len > 200 ? 200 : key.len), key.p);
            return -1;
        }
        d->zfull = got == DELIVER_ZOUT;
        if (got > 0) {
            os->ops->copy(os->ctx, d->zout, got);
            made = 1;
        }
        deliver_advance(d, iov[0].iov_len - inlen);
        if (rc == 1) {
            deliver_advance(d, inlen); /* anything after the end of the stream */
            if (d->pos < avail)
                continue; /* (bytes past the stream in this chunk walk: skip them too) */
            break;
        }
        if (got == 0 && iov[0].iov_len == inlen)
            break; /* needs more of the object */
    }
    return os->ops->body(os->ctx, NULL, 0) < 0 ? -1 : made;
}

enum deliver_step deliver_body(struct deliver *d, const struct ostream *os)
{
    for (;;) {
        enum obj_state st = obj_state(d->o); /* before avail: COMPLETE means avail is final */
        uint64_t avail = obj_avail(d->o);
        size_t before = os->ops->pending(os->ctx);
        int progress;

        if (avail >= d->end) {
            avail = d->end;
            st = OBJ_COMPLETE; /* the range is all there */
        }
        if (d->unzip != NULL) {
            uint64_t pos = d->pos;
            int rc = body_unzip(d, avail, os);

            if (rc < 0)
                return DELIVER_BROKEN;
            progress = rc > 0 || d->pos != pos;
        } else {
            struct iovec iov[16];
            unsigned n = deliver_iov(d, avail, iov, countof(iov));
            ssize_t w = os->ops->body(os->ctx, iov, n);

            if (w < 0)
                return DELIVER_BROKEN;
            deliver_advance(d, (uint64_t)w);
            progress = w > 0;
        }
        if (os->ops->pending(os->ctx) < before)
            progress = 1;
        if (d->pos == avail && os->ops->pending(os->ctx) == 0 && !(d->unzip != NULL && d->zfull)) {
            if (st == OBJ_COMPLETE && d->unzip != NULL && !gz_dec_ended(d->unzip)) {
                struct span key = obj_key(d->o);

                log_warn("%.*s: the stored gzip body is truncated: answer cut short",
                         (int)(key.len > 200 ? 200 : key.len), key.p);
                return DELIVER_BROKEN;
            }
            if (st == OBJ_COMPLETE) {
                os->ops->end(os->ctx);
                return DELIVER_END;
            }
            if (st == OBJ_FAILED)
                return DELIVER_BROKEN; /* the fetch broke in the middle of the body */
            return DELIVER_STARVED;
        }
        if (!progress)
            return DELIVER_BLOCKED;
    }
}

unsigned deliver_iov(struct deliver *d, uint64_t avail, struct iovec *iov, unsigned max)
{
    return obj_body_iov(d->o, &d->cur, d->pos, avail, iov, max);
}

void deliver_advance(struct deliver *d, uint64_t n)
{
    d->pos += n;
}

/* deliver_head()'s fields after the stored ones. */
static void head_tail(struct buf *b, const struct obj *o, int64_t age, uint64_t length, int chunked,
                      int close, int keepalive_10, const char *extra)
{
    unsigned status = obj_status(o);
    int bodiless = status == 204 || status == 304 || status < 200;

    buf_append_str(b, "Age: ");
    buf_append_i64(b, age < 0 ? 0 : age);
    if (length != OBJ_LEN_UNKNOWN && !bodiless) {
        buf_append_str(b, "\r\nContent-Length: ");
        buf_append_u64(b, length);
    }
    buf_append_str(b, "\r\n");
    buf_append_str(b, "Via: 1.1 accel\r\n");
    if (extra != NULL)
        buf_append_str(b, extra);
    if (chunked && !bodiless)
        buf_append_str(b, "Transfer-Encoding: chunked\r\n");
    if (close)
        buf_append_str(b, "Connection: close\r\n");
    else if (keepalive_10)
        buf_append_str(b, "Connection: keep-alive\r\n");
    buf_append_str(b, "\r\n");
}

/* The stored status line, or <status_line> in its place. */
static void head_status(struct buf *b, const struct obj *o, const char *status_line)
{
    struct span h = obj_head(o);
    const char *eol = memchr(h.p, '\n', h.len);
    size_t len = eol != NULL ? (size_t)(eol + 1 - h.p) : h.len;

    if (status_line == NULL) {
        buf_append(b, h.p, len);
        if (eol == NULL)
            buf_append_str(b, "\r\n");
        return;
    }
    buf_append_str(b, status_line);
    buf_append_str(b, "\r\n");
}

void deliver_head(struct buf *b, const struct obj *o, const char *status_line, int64_t age,
                  uint64_t length, int chunked, int close, int keepalive_10, const char *extra)
{
    struct span h = obj_head(o);

    buf_reserve(b, h.len + 256);
    if (status_line == NULL) {
        buf_append(b, h.p, h.len);
    } else {
        const char *fields = memchr(h.p, '\n', h.len);
        size_t skip = fields != NULL ? (size_t)(fields + 1 - h.p) : h.len;

        buf_append_str(b, status_line);
        buf_append_str(b, "\r\n");
        buf_append(b, h.p + skip, h.len - skip);
    }
    head_tail(b, o, age, length, chunked, close, keepalive_10, extra);
}

void deliver_head_identity(struct buf *b, const struct obj *o, const char *status_line, int64_t age,
                           uint64_t length, int chunked, int close, int keepalive_10,
                           const char *extra)
{
    unsigned n;
    const struct field *f = obj_fields(o, &n);

    buf_reserve(b, obj_head(o).len + 256);
    head_status(b, o, status_line);
    for (unsigned i = 0; i < n; i++)
        http_write_transformed_field(b, f[i].name, f[i].value);
    head_tail(b, o, age, length, chunked, close, keepalive_10, extra);
}

static struct span find(const struct field *f, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (span_eq_ci(f[i].name, name))
            return span_trim(f[i].value);
    return span_of(NULL, 0);
}

/* The opaque part of an entity-tag ("W/" dropped); *<weak> says whether it was weak. */
static struct span opaque(struct span t, int *weak)
{
    t = span_trim(t);
    *weak = t.len >= 2 && t.p[0] == 'W' && t.p[1] == '/';
    if (*weak) {
        t.p += 2;
        t.len -= 2;
    }
    return t;
}

/* Does the entity-tag list <list> hold <etag>? Weak comparison unless <strong>. */
static int etag_in(struct span list, struct span etag, int strong)
{
    int ew, lw;
    struct span e = opaque(etag, &ew);
    size_t i = 0;

    if (e.len == 0 || (strong && ew))
        return 0;
    while (i < list.len) {
        size_t start;

        while (i < list.len && (list.p[i] == ' ' || list.p[i] == '\t' || list.p[i] == ','))
            i++;
        start = i;
        if (i + 1 < list.len && list.p[i] == 'W' && list.p[i + 1] == '/')
            i += 2;
        if (i < list.len && list.p[i] == '"') {
            for (i++; i < list.len && list.p[i] != '"'; i++)
                ;
            if (i < list.len)
                i++;
        } else {
            while (i < list.len && list.p[i] != ',')
                i++;
        }
        struct span t = opaque(span_of(list.p + start, i - start), &lw);
        if (t.len == e.len && memcmp(t.p, e.p, e.len) == 0 && !(strong && lw))
            return 1;
    }
    return 0;
}

int deliver_not_modified(const struct obj *o, const struct field *f, unsigned n, int64_t now)
{
    struct span inm = find(f, n, "if-none-match"), ims, lm;
    int64_t since, mod;

    if (obj_status(o) != 200)
        return 0;
    if (inm.p != NULL) {
        if (inm.len == 1 && inm.p[0] == '*')
            return 1;
        return etag_in(inm, obj_field(o, "etag"), 0);
    }
    ims = find(f, n, "if-modified-since");
    if (ims.p == NULL)
        return 0;
    /* RFC 9111 §4.3.2: Last-Modified, else Date (obj_date(): the response time when it had none) */
    lm = obj_field(o, "last-modified");
    mod = lm.p != NULL ? policy_parse_date(lm) : obj_date(o);
    since = policy_parse_date(ims);
    return since >= 0 && mod >= 0 && since <= now && mod <= since;
}

/* Reads decimal digits at *<p> into *<out>. Returns -1 when there are none or on overflow. */
static int number(const char **p, const char *end, uint64_t *out)
{
    uint64_t x = 0;
    const char *s = *p;

    if (s == end || !isdigit((unsigned char)*s))
        return -1;
    for (; s < end && isdigit((unsigned char)*s); s++) {
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = x;
    return 0;
}

enum deliver_range deliver_range(const struct obj *o, uint64_t len, const struct field *f,
                                 unsigned n, uint64_t *first, uint64_t *last)
{
    struct span r = find(f, n, "range"), ifr = find(f, n, "if-range");
    const char *p, *end;
    uint64_t a, b;

    if (r.p == NULL || obj_status(o) != 200 || r.len < 6 || strncasecmp(r.p, "bytes=", 6) != 0)
        return DELIVER_FULL;
    if (ifr.p != NULL) {
        struct span lm = obj_field(o, "last-modified");

        if (ifr.len > 0 && (ifr.p[0] == '"' || ifr.p[0] == 'W')) {
            /* one entity-tag, compared strongly (RFC 9110 §13.1.5) */
            int iw, ew;
            struct span t = opaque(ifr, &iw), e = opaque(obj_field(o, "etag"), &ew);

            if (iw || ew || e.len == 0 || t.len != e.len || memcmp(t.p, e.p, e.len) != 0)
                return DELIVER_FULL;
        } else if (lm.p == NULL || policy_parse_date(ifr) < 0 ||
                   policy_parse_date(ifr) != policy_parse_date(lm)) {
            return DELIVER_FULL;
        }
    }
    p = r.p + 6;
    end = r.p + r.len;
    if (memchr(p, ',', (size_t)(end - p)) != NULL)
        return DELIVER_FULL; /* several ranges: the whole answer is allowed instead */
    while (p < end && *p == ' ')
        p++;
    if (p < end && *p == '-') {
        p++;
        if (number(&p, end, &b) < 0 || p != end)
            return DELIVER_FULL;
        if (b == 0 || len == 0)
            return DELIVER_UNSATISFIABLE;
        *first = b >= len ? 0 : len - b;
        *last = len - 1;
        return DELIVER_PARTIAL;
    }
    if (number(&p, end, &a) < 0 || p == end || *p != '-')
        return DELIVER_FULL;
    p++;
    if (p == end) {
        b = UINT64_MAX;
    } else if (number(&p, end, &b) < 0 || p != end || b < a) {
        return DELIVER_FULL;
    }
    if (a >= len)
        return DELIVER_UNSATISFIABLE;
    *first = a;
    *last = b >= len ? len - 1 : b;
    return DELIVER_PARTIAL;
}
