/* gz.c - gzip streams over zlib, and the tests that decide when to use them.
 *
 * zlib's deflate and inflate with windowBits 15 + 16 (a gzip wrapper, RFC 1952). The encoder
 * keeps one 16 KiB output buffer and hands each piece to the caller's sink; the decoder writes
 * only into the caller's buffer. Neither grows with its input. */
#include "accel/gz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define GZ_WBITS (15 + 16)
#define GZ_OUT   (16 * 1024)

struct gz_enc {
    z_stream z;
    unsigned char out[GZ_OUT];
};

struct gz_dec {
    z_stream z;
    int ended;
};

/* The q-value of one Accept-Encoding member's parameters <params> ("; q=0.5"): 0 to 1000. */
static unsigned qvalue(struct span params)
{
    const char *p = params.p, *end = params.p + params.len;

    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        struct span prm = span_trim(span_of(p, semi ? (size_t)(semi - p) : (size_t)(end - p)));

        p = semi ? semi + 1 : end;
        if (prm.len >= 2 && (prm.p[0] == 'q' || prm.p[0] == 'Q') && prm.p[1] == '=') {
            /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
            const char *v = prm.p + 2, *ve = prm.p + prm.len;
            unsigned q, scale = 100;

            if (v >= ve || (*v != '0' && *v != '1'))
                return 0; /* malformed: taken as "not acceptable" */
            q = (unsigned)(*v++ - '0') * 1000;
            if (v < ve && *v == '.') {
                for (v++; v < ve && *v >= '0' && *v <= '9' && scale > 0; v++, scale /= 10)
                    q += (unsigned)(*v - '0') * scale;
            }
            if (v != ve || q > 1000)
                return 0;
            return q;
        }
    }
    return 1000;
}

int gz_accepts(const struct field *f, unsigned n)
{
    int gzip = -1, star = -1; /* q > 0 of each, -1: not named */
    int seen = 0;

    for (unsigned i = 0; i < n; i++) {
        struct span v = f[i].value;
        const char *p = v.p, *end = v.p + v.len;

        if (!span_eq_ci(f[i].name, "accept-encoding"))
            continue;
        seen = 1;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *me = comma ? comma : end;
            const char *semi = memchr(p, ';', (size_t)(me - p));
            struct span coding = span_trim(span_of(p, (size_t)((semi ? semi : me) - p)));
            struct span params = semi ? span_of(semi, (size_t)(me - semi)) : span_of(me, 0);
            int ok = qvalue(params) > 0;

            p = comma ? comma + 1 : end;
            if (span_eq_ci(coding, "gzip") || span_eq_ci(coding, "x-gzip"))
                gzip = gzip == 1 ? 1 : ok; /* named twice: acceptable if any says so */
            else if (coding.len == 1 && coding.p[0] == '*')
                star = star == 1 ? 1 : ok;
        }
    }
    if (!seen)
        return 0;
    if (gzip >= 0)
        return gzip;
    return star == 1;
}

int gz_type_ok(struct span ct, const char *types)
{
    const char *semi = memchr(ct.p, ';', ct.len);
    struct span mt = span_trim(span_of(ct.p, semi ? (size_t)(semi - ct.p) : ct.len));
    const char *slash = memchr(mt.p, '/', mt.len);
    const char *p = types;

    if (slash == NULL || mt.len == 0)
        return 0;
    while (*p != '\0') {
        size_t len;

        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        len = strcspn(p, " ,\t");
        if (len == 0)
            break;
        if (len >= 2 && p[len - 2] == '/' && p[len - 1] == '*') {
            /* a wildcard subtype: the type part alone */
            if ((size_t)(slash - mt.p) == len - 2 && strncasecmp(mt.p, p, len - 2) == 0)
                return 1;
        } else if (len == mt.len && strncasecmp(mt.p, p, len) == 0) {
            return 1;
        }
        p += len;
    }
    return 0;
}

struct gz_enc *gz_enc_new(int level)
{
    struct gz_enc *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return NULL;
    if (level < 1 || level > 9)
        level = 6;
    if (deflateInit2(&e->z, level, Z_DEFLATED, GZ_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(e);
        return NULL;
    }
    return e;
}

void gz_enc_free(struct gz_enc **ep)
{
    struct gz_enc *e = *ep;

    if (e == NULL)
        return;
    deflateEnd(&e->z);
    free(e);
    *ep = NULL;
}

int gz_enc_write(struct gz_enc *e, const void *p, size_t n, int finish,
                 void (*sink)(void *arg, const void *p, size_t n), void *arg)
{
    const unsigned char *in = p;

    AN(e);
    /* avail_in is a uInt: feed very large inputs in slices */
    do {
        size_t slice = n > (1u << 30) ? (1u << 30) : n;
        int last = slice == n, rc;

        e->z.next_in = (unsigned char *)(uintptr_t)in;
        e->z.avail_in = (uInt)slice;
        do {
            e->z.next_out = e->out;
            e->z.avail_out = GZ_OUT;
            rc = deflate(&e->z, (finish && last) ? Z_FINISH : Z_NO_FLUSH);
            if (rc == Z_STREAM_ERROR)
                return -EIO;
            if (GZ_OUT - e->z.avail_out > 0)
                sink(arg, e->out, GZ_OUT - e->z.avail_out);
        } while (e->z.avail_out == 0 || (finish && last && rc != Z_STREAM_END));
        in += slice;
        n -= slice;
    } while (n > 0);
    return 0;
}

uint64_t gz_enc_total_in(const struct gz_enc *e)
{
    return e->z.total_in;
}

struct gz_dec *gz_dec_new(void)
{
    struct gz_dec *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    if (inflateInit2(&d->z, GZ_WBITS) != Z_OK) {
        free(d);
        return NULL;
    }
    return d;
}

void gz_dec_free(struct gz_dec **dp)
{
    struct gz_dec *d = *dp;

    if (d == NULL)
        return;
    inflateEnd(&d->z);
    free(d);
    *dp = NULL;
}

int gz_dec_run(struct gz_dec *d, const void **in, size_t *inlen, void *out, size_t cap,
               size_t *outlen)
{
    size_t in0 = *inlen > UINT32_MAX ? UINT32_MAX : *inlen;
    size_t cap0 = cap > UINT32_MAX ? UINT32_MAX : cap;
    int rc;

    AN(d);
    *outlen = 0;
    if (d->ended)
        return 1;
    d->z.next_in = (unsigned char *)(uintptr_t)*in;
    d->z.avail_in = (uInt)in0;
    d->z.next_out = out;
    d->z.avail_out = (uInt)cap0;
    rc = inflate(&d->z, Z_NO_FLUSH);
    *outlen = cap0 - d->z.avail_out;
    *in = (const char *)*in + (in0 - d->z.avail_in);
    *inlen -= in0 - d->z.avail_in;
    switch (rc) {
    case Z_STREAM_END:
        d->ended = 1;
        return 1;
    case Z_OK:
        return 0;
    case Z_BUF_ERROR:
        return 0; /* no progress possible: needs input or room */
    default:
        return -EBADMSG; /* Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR, Z_STREAM_ERROR */
    }
}

void gz_dec_reset(struct gz_dec *d)
{
    AZ(inflateReset(&d->z));
    d->ended = 0;
}

int gz_dec_ended(const struct gz_dec *d)
{
    return d->ended;
}

uint64_t gz_dec_total_out(const struct gz_dec *d)
{
    return d->z.total_out;
}
