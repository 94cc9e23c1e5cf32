/* harness_cache.c - reading what accel says about its cache in answers: the accel member of
 * Cache-Status (RFC 9211) and its parameters, Age, X-Cache, and the checks of a hit built on
 * them. Shared by the cache e2e files; the checks fail the test and run on its thread. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

/* Length of the text at <p> up to the first <sep> outside a quoted string (or the end). */
static size_t span_to(const char *p, char sep)
{
    size_t n = 0;
    int quoted = 0;

    for (; p[n] != '\0'; n++) {
        if (quoted && p[n] == '\\' && p[n + 1] != '\0')
            n++;
        else if (p[n] == '"')
            quoted = !quoted;
        else if (!quoted && p[n] == sep)
            break;
    }
    return n;
}

/* accel's member of the Cache-Status list (the last one named "accel"), copied into <out>;
 * returns 0 when there is none. */
int e2e_cache_status(const struct e2e_resp *r, char *out, size_t len)
{
    int found = 0;

    for (size_t i = 0; i < r->hdrs.n; i++) {
        const char *p;

        if (strcasecmp(r->hdrs.v[i].name, "Cache-Status") != 0)
            continue;
        p = r->hdrs.v[i].value;
        while (*p != '\0') {
            size_t n;

            while (*p == ' ' || *p == '\t')
                p++;
            n = span_to(p, ',');
            if (n >= 5 && strncmp(p, "accel", 5) == 0 && (n == 5 || p[5] == ';' || p[5] == ' ')) {
                snprintf(out, len, "%.*s", (int)n, p);
                found = 1;
            }
            p += n;
            if (*p == ',')
                p++;
        }
    }
    return found;
}

/* In a Cache-Status member, finds parameter <name>: returns 1 and copies its value (empty for a
 * bare boolean) into <val>, or returns 0. */
int e2e_cs_param(const char *member, const char *name, char *val, size_t len)
{
    const char *p = member + span_to(member, ';');
    size_t nl = strlen(name);

    while (*p == ';') {
        size_t n;

        p++;
        while (*p == ' ')
            p++;
        n = span_to(p, ';');
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n >= nl && strncasecmp(p, name, nl) == 0 && (n == nl || p[nl] == '=')) {
            if (val != NULL)
                snprintf(val, len, "%.*s", n > nl ? (int)(n - nl - 1) : 0, p + nl + 1);
            return 1;
        }
        p += span_to(p, ';');
    }
    return 0;
}
long e2e_cs_ttl(const struct e2e_resp *r)
{
    char m[256], v[32];

    if (!e2e_cache_status(r, m, sizeof(m)) || !e2e_cs_param(m, "ttl", v, sizeof(v)))
        return -1;
    return strtol(v, NULL, 10);
}

long e2e_age(const struct e2e_resp *r)
{
    const char *v = e2e_hdrs_get(&r->hdrs, "Age");

    return v ? strtol(v, NULL, 10) : -1;
}

void e2e_expect_xcache(const struct e2e_resp *r, const char *want, const char *what)
{
    cr_assert_str_eq(e2e_hdr(r, "X-Cache"), want,
                     "%s: X-Cache %s, expected %s (status %d, Cache-Status %s)", what,
                     e2e_hdr(r, "X-Cache"), want, r->status, e2e_hdr(r, "Cache-Status"));
}

void e2e_expect_hit(const struct e2e_resp *r, unsigned flags, const char *body, const char *what)
{
    char m[256];
    long ttl = e2e_cs_ttl(r);

    if (flags & E2E_HIT_OK)
        cr_assert_eq(r->status, 200, "%s: status %d, expected 200 (X-Cache %s)", what, r->status,
                     e2e_hdr(r, "X-Cache"));
    e2e_expect_xcache(r, "HIT", what);
    cr_assert(e2e_cache_status(r, m, sizeof(m)), "%s: no accel member in Cache-Status: %s", what,
              e2e_hdr(r, "Cache-Status"));
    cr_assert(e2e_cs_param(m, "hit", NULL, 0), "%s: Cache-Status '%s' lacks 'hit'", what, m);
    cr_assert_not(e2e_cs_param(m, "fwd", NULL, 0), "%s: Cache-Status '%s': a hit with fwd=", what,
                  m);
    cr_assert(ttl >= 0, "%s: Cache-Status '%s' lacks ttl=", what, m);
    if (flags & E2E_HIT_FRESH)
        cr_assert(ttl > 0, "%s: Cache-Status '%s': a hit with ttl %ld", what, m, ttl);
    if (body != NULL)
        cr_assert_str_eq(r->body, body, "%s: body '%s', expected '%s'", what, r->body, body);
}

void e2e_cacheable_pattern(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    act->headers = "Cache-Control: max-age=600\r\n";
    act->pattern_len = *(const uint64_t *)arg;
}

char e2e_get_pattern(struct e2e_accel *a, uint64_t size, int i)
{
    char req[128];
    struct e2e_resp r;
    const char *xc;
    char verdict;

    snprintf(req, sizeof(req), "GET /d%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    cr_assert_eq(e2e_request(a->port, req, &r, E2E_RESP_PATTERN), 0, "GET /d%d: no answer", i);
    cr_assert_eq(r.status, 200, "GET /d%d: status %d", i, r.status);
    cr_assert_eq(r.body_len, size, "GET /d%d: %llu bytes", i, (unsigned long long)r.body_len);
    cr_assert_not(r.pattern_bad, "GET /d%d: body differs at %llu", i,
                  (unsigned long long)r.pattern_bad_at);
    xc = e2e_hdrs_get(&r.hdrs, "X-Cache");
    cr_assert_not_null(xc, "GET /d%d: no X-Cache", i);
    verdict = xc[0];
    e2e_resp_free(&r);
    return verdict;
}
