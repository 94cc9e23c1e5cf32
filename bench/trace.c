/* trace.c - request traces for accel-bench.
 *
 * A line is one of:
 *  - a combined log line: host ident user [dd/Mon/yyyy:HH:MM:SS +zzzz] "METHOD TARGET HTTP/x.y"
 *    status size "referer" "user agent", then anything (accel adds request time, upstream status
 *    and X-Cache; other servers add their own fields). A line that stops right after the size
 *    (the common log format) is accepted; one that stops inside the referer or the user agent is
 *    truncated and refused. The quoted fields may hold backslash escapes (Apache's \", nginx's
 *    \x22); only the request line's content is used, as logged.
 *  - a plain "URL[ SIZE]" line, where URL starts with '/' or "http://" / "https://".
 * An absolute URL loses its scheme and authority ("http://h/p?q" -> "/p?q", "http://h" -> "/"),
 * and a fragment is dropped: a request never carries one. A target must be visible bytes (no
 * control character, space or '"'); the method must be an RFC 9110 token.
 *
 * The date is parsed by hand (the English month names of the log formats, never the locale)
 * and converted to Unix time with its zone offset applied.
 *
 * trace_load() reads through one fixed buffer, so memory grows with the entries kept, not with
 * the file or its longest line. The trace owns its entries and their targets. */
#include "trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_LINE_MAX (64 * 1024)          /* longer lines are skipped */
#define TRACE_BUF      (4 * TRACE_LINE_MAX) /* the read buffer: always room for a whole line */

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 9110 tchar */
static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Whether the <len> bytes at <p> start with <prefix>, ignoring ASCII case. */
static int has_prefix_ci(const char *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    if (len < n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != prefix[i])
            return 0;
    return 1;
}

/* The length of the scheme of an absolute http(s) URL at <p> ("http://": 7), or 0. */
static size_t http_scheme(const char *p, size_t len)
{
    if (has_prefix_ci(p, len, "http://"))
        return 7;
    if (has_prefix_ci(p, len, "https://"))
        return 8;
    return 0;
}

/* Parses the unsigned decimal number (or "-", 0) that is exactly the <len> bytes at <p>. */
static int parse_size(const char *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 1 && p[0] == '-') {
        *out = 0;
        return 0;
    }
    if (len == 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(p[i] - '0');

        if (!is_digit(p[i]) || v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Sets e->target to the origin form of the URL that is exactly the <len> bytes at <p>. */
static int take_target(const char *p, size_t len, struct trace_entry *e)
{
    size_t sch = http_scheme(p, len), i;
    int slash = 0;
    char *t;

    if (sch > 0) {
        for (i = sch; i < len && p[i] != '/' && p[i] != '?' && p[i] != '#'; i++)
            ;
        p += i;
        len -= i;
        slash = len == 0 || p[0] != '/';
    } else if (len == 0 || p[0] != '/') {
        return -EINVAL;
    }
    for (i = 0; i < len && p[i] != '#'; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c <= ' ' || c == 0x7f || c == '"')
            return -EINVAL;
    }
    len = i;
    t = malloc(len + (size_t)slash + 1);
    if (t == NULL)
        return -ENOMEM;
    if (slash)
        t[0] = '/';
    memcpy(t + slash, p, len);
    t[len + (size_t)slash] = '\0';
    e->target = t;
    return 0;
}

/* Reads <n> digits at <p> into *<v>. */
static int digits(const char *p, unsigned n, unsigned *v)
{
    *v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -EINVAL;
        *v = *v * 10 + (unsigned)(p[i] - '0');
    }
    return 0;
}

/* Days from 1970-01-01 to <y>-<m>-<d> in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

#define DATE_LEN 26 /* "10/Oct/2000:13:55:36 -0700" */

/* Parses the DATE_LEN bytes at <p> into Unix seconds. */
static int parse_date(const char *p, double *out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned d, mon, y, hh, mm, ss, zh, zm;
    int leap;
    int64_t t;

    if (p[2] != '/' || p[6] != '/' || p[11] != ':' || p[14] != ':' || p[17] != ':' ||
        p[20] != ' ' || (p[21] != '+' && p[21] != '-'))
        return -EINVAL;
    if (digits(p, 2, &d) || digits(p + 7, 4, &y) || digits(p + 12, 2, &hh) ||
        digits(p + 15, 2, &mm) || digits(p + 18, 2, &ss) || digits(p + 22, 2, &zh) ||
        digits(p + 24, 2, &zm))
        return -EINVAL;
    for (mon = 0; mon < 12; mon++)
        if (memcmp(p + 3, months + 3 * mon, 3) == 0)
            break;
    if (mon == 12)
        return -EINVAL;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d < 1 || d > mdays[mon] || (mon == 1 && d == 29 && !leap))
        return -EINVAL;
    if (hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59) /* 60: a leap second */
        return -EINVAL;
    t = days_from_civil(y, mon + 1, d) * 86400 + (int64_t)(hh * 3600 + mm * 60 + ss);
    /* local = UTC + offset */
    t += (p[21] == '-' ? 1 : -1) * (int64_t)(zh * 3600 + zm * 60);
    *out = (double)t;
    return 0;
}

/* The position of the '"' closing the quoted field whose content starts at <p>, or NULL. */
static const char *closing_quote(const char *p, const char *end)
{
    while (p < end) {
        if (*p == '\\')
            p += end - p >= 2 ? 2 : 1;
        else if (*p == '"')
            return p;
        else
            p++;
    }
    return NULL;
}

/* The end of the space-free token at <p>, which must be followed by one space; NULL if empty or
 * not followed by a space. */
static const char *token_sp(const char *p, const char *end)
{
    const char *q = p;

    while (q < end && *q != ' ')
        q++;
    return (q == p || q == end) ? NULL : q;
}

static int parse_combined(const char *p, const char *end, struct trace_entry *e)
{
    const char *q, *rq, *rq_end, *sp, *last_sp;
    uint64_t size;
    int rc;

    /* host, ident: tokens; user: whatever comes before " [" */
    if ((q = token_sp(p, end)) == NULL || (q = token_sp(q + 1, end)) == NULL)
        return -EINVAL;
    p = q + 1;
    q = memchr(p, '[', (size_t)(end - p));
    if (q == NULL || q == p || q[-1] != ' ' || q - 1 == p)
        return -EINVAL;
    p = q + 1;
    if (end - p < DATE_LEN + 3 || p[DATE_LEN] != ']' || p[DATE_LEN + 1] != ' ' ||
        p[DATE_LEN + 2] != '"')
        return -EINVAL;
    if (parse_date(p, &e->t) < 0)
        return -EINVAL;
    rq = p + DATE_LEN + 3;
    rq_end = closing_quote(rq, end);
    if (rq_end == NULL)
        return -EINVAL;

    /* status, size, then end of line (common log format) or the two quoted fields */
    p = rq_end + 1;
    if (end - p < 6 || p[0] != ' ' || !is_digit(p[1]) || !is_digit(p[2]) || !is_digit(p[3]) ||
        p[4] != ' ')
        return -EINVAL;
    p += 5;
    for (q = p; q < end && *q != ' '; q++)
        ;
    if (parse_size(p, (size_t)(q - p), &size) < 0)
        return -EINVAL;
    for (int field = 0; field < 2 && q < end; field++) {
        if (end - q < 3 || q[0] != ' ' || q[1] != '"')
            return -EINVAL;
        q = closing_quote(q + 2, end);
        if (q == NULL)
            return -EINVAL;
        q++;
        if (field == 0 && q == end) /* a referer and no user agent: cut short */
            return -EINVAL;
    }
    if (q < end && *q != ' ')
        return -EINVAL;

    /* "METHOD TARGET[ HTTP/x.y]" */
    sp = memchr(rq, ' ', (size_t)(rq_end - rq));
    if (sp == NULL || sp == rq)
        return -EINVAL;
    for (q = rq; q < sp; q++)
        if (!is_tchar(*q))
            return -EINVAL;
    for (last_sp = rq_end; last_sp > sp + 1 && last_sp[-1] != ' '; last_sp--)
        ;
    if (last_sp > sp + 1) {
        if (!has_prefix_ci(last_sp, (size_t)(rq_end - last_sp), "http/"))
            return -EINVAL;
        rq_end = last_sp - 1;
    }
    rc = take_target(sp + 1, (size_t)(rq_end - sp - 1), e);
    if (rc < 0)
        return rc;
    e->size = size;
    e->get = sp - rq == 3 && memcmp(rq, "GET", 3) == 0;
    return 0;
}

static int parse_plain(const char *p, const char *end, struct trace_entry *e)
{
    const char *q = p, *s;
    uint64_t size = 0;
    int rc;

    while (q < end && *q != ' ' && *q != '\t')
        q++;
    for (s = q; s < end && is_ws(*s); s++)
        ;
    if (s < end && parse_size(s, (size_t)(end - s), &size) < 0)
        return -EINVAL;
    rc = take_target(p, (size_t)(q - p), e);
    if (rc < 0)
        return rc;
    e->size = size;
    e->t = 0;
    e->get = 1;
    return 0;
}

/* trace_parse_line(), telling in *<combined> which kind of line it was. */
static int parse_line(const char *line, size_t len, struct trace_entry *e, int *combined)
{
    const char *p = line, *end = line + len;
    struct trace_entry tmp = {0};
    int rc;

    while (p < end && is_ws(*p))
        p++;
    while (end > p && is_ws(end[-1]))
        end--;
    if (p == end)
        return -EINVAL;
    *combined = p[0] != '/' && http_scheme(p, (size_t)(end - p)) == 0;
    rc = *combined ? parse_combined(p, end, &tmp) : parse_plain(p, end, &tmp);
    if (rc < 0)
        return rc;
    *e = tmp;
    return 0;
}

int trace_parse_line(const char *line, size_t len, struct trace_entry *e)
{
    int combined;

    return parse_line(line, len, e, &combined);
}

struct loader {
    struct trace *t;
    int have_t0; /* t0: the time of the first combined-log entry */
    double t0;
};

/* Takes one line (without its newline) into the trace. */
static int take_line(struct loader *ld, const char *p, size_t len)
{
    struct trace *t = ld->t;
    struct trace_entry e;
    size_t i;
    int combined, rc;

    t->lines++;
    if (len > TRACE_LINE_MAX) {
        t->skipped++;
        return 0;
    }
    for (i = 0; i < len && is_ws(p[i]); i++)
        ;
    if (i == len || p[i] == '#')
        return 0;
    rc = parse_line(p, len, &e, &combined);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        t->skipped++;
        return 0;
    }
    if (combined) {
        if (!ld->have_t0) {
            ld->have_t0 = 1;
            ld->t0 = e.t;
        }
        e.t -= ld->t0;
        if (e.t < 0) /* logged out of order (Apache logs when a request starts) */
            e.t = 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        struct trace_entry *v = realloc(t->v, cap * sizeof(*v));

        if (v == NULL) {
            free(e.target);
            return -ENOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = e;
    return 0;
}

/* Reads <f> line by line into <ld>. Returns 0 or a negative errno. */
static int read_lines(struct loader *ld, FILE *f)
{
    char *buf = malloc(TRACE_BUF);
    size_t start = 0, end = 0;
    int eof = 0, discarding = 0, rc = 0;

    if (buf == NULL)
        return -ENOMEM;
    for (;;) {
        char *nl = memchr(buf + start, '\n', end - start);
        size_t n;

        if (nl != NULL) {
            size_t len = (size_t)(nl - (buf + start));

            if (discarding)
                discarding = 0; /* the end of an overlong line, counted already */
            else if ((rc = take_line(ld, buf + start, len)) < 0)
                goto out;
            start += len + 1;
            continue;
        }
        if (discarding) {
            start = end = 0;
        } else if (end - start > TRACE_LINE_MAX) {
            ld->t->lines++;
            ld->t->skipped++;
            discarding = 1;
            start = end = 0;
        }
        if (eof) {
            if (end > start)
                rc = take_line(ld, buf + start, end - start); /* no final newline */
            goto out;
        }
        memmove(buf, buf + start, end - start);
        end -= start;
        start = 0;
        n = fread(buf + end, 1, TRACE_BUF - end, f);
        if (n == 0) {
            if (ferror(f)) {
                rc = errno ? -errno : -EIO;
                goto out;
            }
            eof = 1;
        }
        end += n;
    }
out:
    free(buf);
    return rc;
}

int trace_load(const char *path, struct trace *t, char *err, size_t errlen)
{
    struct loader ld = {.t = t};
    FILE *f;
    int rc;

    memset(t, 0, sizeof(*t));
    errno = 0;
    f = fopen(path, "r");
    if (f == NULL) {
        rc = errno ? -errno : -EIO;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    errno = 0;
    rc = read_lines(&ld, f);
    fclose(f);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    } else if (t->n == 0) {
        rc = -EINVAL;
        snprintf(err, errlen,
                 "%s: no usable line (%llu lines, %llu malformed): expected an access log in the "
                 "combined log format or \"URL[ SIZE]\" lines",
                 path, (unsigned long long)t->lines, (unsigned long long)t->skipped);
    }
    if (rc < 0) {
        uint64_t lines = t->lines, skipped = t->skipped;

        trace_free(t);
        t->lines = lines;
        t->skipped = skipped;
    }
    return rc;
}

void trace_free(struct trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].target);
    free(t->v);
    memset(t, 0, sizeof(*t));
}
