/* key.c - cache keys.
 *
 * A key is the normalized URL "scheme://host[:port]path": scheme and host lowercased, the port
 * dropped when it is the scheme's default (80 for http, 443 for https) and stripped of leading
 * zeros otherwise, an [IPv6] literal kept in its brackets, the path (origin-form path?query or
 * "*") kept byte for byte. The bytes live in the caller's buffer; struct key only points at them.
 *
 * The hash is XXH3-64 with a seed drawn once per process from getrandom(2), so that a client
 * cannot aim many keys at one bucket. The seed is set once (pthread_once) and then only read. */
#include "accel/key.h"

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static pthread_once_t seed_once = PTHREAD_ONCE_INIT;
static uint64_t seed;

static void seed_pick(void)
{
    uint64_t s = 0;
    ssize_t n;

    /* GRND_NONBLOCK: a daemon started early at boot must not hang waiting for entropy. */
    do
        n = getrandom(&s, sizeof(s), GRND_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(s)) {
        struct timespec ts;

        AZ(clock_gettime(CLOCK_REALTIME, &ts));
        s = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40) ^
            (uint64_t)(uintptr_t)&ts;
        s = XXH3_64bits(&s, sizeof(s)); /* spread the few bits of entropy over the whole seed */
    }
    seed = s;
}

void key_init(void)
{
    AZ(pthread_once(&seed_once, seed_pick));
}

uint64_t key_hash(const char *p, size_t len)
{
    /* Lazily too: a hash computed before the seed is set would be lost to the index later. */
    key_init();
    return XXH3_64bits_withSeed(p, len, seed);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Appends the <n> bytes at <p> lowercased; room is reserved by the caller. */
static void put_lower(struct buf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b->p[b->len + i] = lower(p[i]);
    b->len += n;
}

static int all_digits(struct span s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return 0;
    return 1;
}

/* Splits <host> into the name (an [IPv6] literal keeps its brackets) and the port (without its
 * colon; .p NULL when there is none). A host we cannot parse stays whole as the name, so that
 * distinct hosts still give distinct keys. */
static void host_split(struct span host, struct span *name, struct span *port)
{
    const char *colon = NULL;

    *name = host;
    *port = span_of(NULL, 0);
    if (host.len > 0 && host.p[0] == '[') {
        const char *close = memchr(host.p, ']', host.len);

        if (close == NULL)
            return;
        if (close + 1 < host.p + host.len && close[1] == ':')
            colon = close + 1;
    } else {
        colon = memchr(host.p, ':', host.len);
        /* A second colon: a bare IPv6 literal, which has no port we could tell apart. */
        if (colon != NULL &&
            memchr(colon + 1, ':', (size_t)(host.p + host.len - colon - 1)) != NULL)
            colon = NULL;
    }
    if (colon == NULL)
        return;
    *name = span_of(host.p, (size_t)(colon - host.p));
    *port = span_of(colon + 1, (size_t)(host.p + host.len - colon - 1));
}

uint64_t key_hash_stable(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

int key_build(struct buf *b, const char *scheme, struct span host, struct span path, struct key *k)
{
    struct span name, port;
    size_t slen, start;
    const char *dflt;

    AN(b);
    AN(scheme);
    AN(k);
    host_split(host, &name, &port);
    if (name.len == 0 || (name.len == 2 && name.p[0] == '[' && name.p[1] == ']'))
        return -EINVAL;
    if (port.p != NULL && all_digits(port)) {
        /* "host:" and "host:080" mean the same as "host" and "host:80" (RFC 3986 §6.2.3). */
        while (port.len > 1 && port.p[0] == '0') {
            port.p++;
            port.len--;
        }
        dflt = NULL;
        if (span_eq_ci(span_of(scheme, strlen(scheme)), "http"))
            dflt = "80";
        else if (span_eq_ci(span_of(scheme, strlen(scheme)), "https"))
            dflt = "443";
        if (port.len == 0 || (dflt != NULL && span_eq_ci(port, dflt)))
            port = span_of(NULL, 0);
    }
    if (path.len == 0)
        path = span_of("/", 1);

    slen = strlen(scheme);
    /* Offsets count from the pending bytes: reserving may compact the buffer, never after. */
    start = buf_pending(b);
    buf_reserve(b, slen + 3 + name.len + 1 + port.len + path.len);
    put_lower(b, scheme, slen);
    buf_append(b, "://", 3);
    put_lower(b, name.p, name.len);
    if (port.p != NULL) {
        buf_append(b, ":", 1);
        put_lower(b, port.p, port.len);
    }
    buf_append(b, path.p, path.len);

    k->p = b->p + b->off + start;
    k->len = buf_pending(b) - start;
    k->hash = key_hash(k->p, k->len);
    return 0;
}
