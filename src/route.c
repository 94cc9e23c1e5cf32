/* route.c - matching a request to a route (see route.h). Linear, first match wins: a handful
 * of routes is the usual case, and each test is a few byte compares. */
#include "accel/route.h"

#include <string.h>
#include <strings.h>

/* <host> without its port: "example.com:8080" -> "example.com", "[::1]:80" -> "[::1]". */
static struct span host_name(struct span host)
{
    size_t n = host.len;

    if (n > 0 && host.p[0] == '[') {
        const char *rb = memchr(host.p, ']', n);

        return rb != NULL ? span_of(host.p, (size_t)(rb + 1 - host.p)) : host;
    }
    for (size_t i = n; i > 0; i--) {
        if (host.p[i - 1] == ':')
            return span_of(host.p, i - 1);
    }
    return host;
}

static int host_matches(const char *pat, struct span h)
{
    size_t n = strlen(pat);

    if (pat[0] == '*' && pat[1] == '\0')
        return 1;
    if (pat[0] == '*') /* "*.example.org": a longer name ending in ".example.org" */
        return h.len > n - 1 && strncasecmp(h.p + h.len - (n - 1), pat + 1, n - 1) == 0;
    return h.len == n && strncasecmp(h.p, pat, n) == 0;
}

static int route_matches(const struct conf_route *r, int method, struct span host, struct span path)
{
    unsigned i;

    if (r->methods != 0 && (method < 0 || method >= 64 || !(r->methods & (1ull << method))))
        return 0;
    if (r->n_hosts > 0) {
        for (i = 0; i < r->n_hosts && !host_matches(r->hosts[i], host); i++)
            continue;
        if (i == r->n_hosts)
            return 0;
    }
    if (r->n_paths > 0) {
        for (i = 0; i < r->n_paths; i++) {
            size_t n = strlen(r->paths[i]);

            if (path.len >= n && memcmp(path.p, r->paths[i], n) == 0)
                break;
        }
        if (i == r->n_paths)
            return 0;
    }
    return 1;
}

const struct conf_route *route_match(const struct conf *c, int method, struct span host,
                                     struct span path)
{
    struct span h = host_name(host);

    for (unsigned i = 0; i < c->n_routes; i++) {
        if (route_matches(&c->routes[i], method, h, path))
            return &c->routes[i];
    }
    return NULL;
}

int route_key_build(const struct conf_route *r, struct buf *b, const char *scheme, struct span host,
                    struct span path, struct key *k)
{
    /* counted from the pending bytes, as key_build() does: a reserve may compact the buffer */
    size_t at = b->len - b->off, plen;
    int rc;

    if (r == NULL || r->methods == 0)
        return key_build(b, scheme, host, path, k);
    buf_printf(b, "%s ", r->name);
    plen = b->len - b->off - at;
    rc = key_build(b, scheme, host, path, k);
    if (rc < 0) {
        b->len = b->off + at;
        return rc;
    }
    k->p = b->p + b->off + at;
    k->len += plen;
    k->hash = key_hash(k->p, k->len);
    return 0;
}

uint64_t route_hash(struct span host, struct span path)
{
    struct span h = host_name(host);
    char buf[512];
    size_t n = 0;

    /* lowercase host, then the path: a bounded copy, the path cut where it is very long */
    for (size_t i = 0; i < h.len && n < sizeof buf; i++)
        buf[n++] = (char)((h.p[i] >= 'A' && h.p[i] <= 'Z') ? h.p[i] + 32 : h.p[i]);
    for (size_t i = 0; i < path.len && n < sizeof buf; i++)
        buf[n++] = path.p[i];
    return key_hash_stable(buf, n);
}
