/* test_key.c - cache key normalization and hashing. The per-process seed cannot be observed
 * from one process, so it is not tested here. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "accel/key.h"

static struct span sp(const char *s)
{
    return span_of(s, strlen(s));
}

/* Builds the key into a fresh buffer and checks it against <want>. */
static void check(const char *scheme, const char *host, const char *path, const char *want)
{
    struct buf b = {0};
    struct key k;
    int rc = key_build(&b, scheme, sp(host), sp(path), &k);

    cr_assert_eq(rc, 0, "%s %s %s: %d", scheme, host, path, rc);
    cr_assert_eq(k.len, strlen(want), "%s %s %s: got \"%.*s\", want \"%s\"", scheme, host, path,
                 (int)k.len, k.p, want);
    cr_assert(memcmp(k.p, want, k.len) == 0, "%s %s %s: got \"%.*s\", want \"%s\"", scheme, host,
              path, (int)k.len, k.p, want);
    cr_assert_eq(k.hash, key_hash(want, strlen(want)));
    buf_free(&b);
}

Test(key, normalizes)
{
    static const struct {
        const char *scheme, *host, *path, *want;
    } t[] = {
        {"http", "example.com", "/", "http://example.com/"},
        {"http", "Example.COM", "/A/b?Q=1", "http://example.com/A/b?Q=1"},
        {"HTTP", "example.com", "/", "http://example.com/"},
        {"http", "example.com:80", "/x", "http://example.com/x"},
        {"http", "example.com:080", "/x", "http://example.com/x"},
        {"http", "example.com:", "/x", "http://example.com/x"},
        {"http", "example.com:8080", "/x", "http://example.com:8080/x"},
        {"http", "example.com:08080", "/x", "http://example.com:8080/x"},
        {"http", "example.com:443", "/x", "http://example.com:443/x"},
        {"https", "example.com:443", "/x", "https://example.com/x"},
        {"https", "example.com:80", "/x", "https://example.com:80/x"},
        {"https", "EXAMPLE.com:8443", "/x", "https://example.com:8443/x"},
        {"http", "[::1]", "/", "http://[::1]/"},
        {"http", "[::1]:80", "/", "http://[::1]/"},
        {"http", "[2001:DB8::1]:8080", "/p", "http://[2001:db8::1]:8080/p"},
        {"http", "[::1]:", "/", "http://[::1]/"},
        {"http", "example.com", "", "http://example.com/"},
        {"http", "example.com", "*", "http://example.com*"},
        {"http", "127.0.0.1:8080", "/a%2Fb", "http://127.0.0.1:8080/a%2Fb"},
        /* What we cannot parse stays whole, so distinct hosts keep distinct keys. */
        {"http", "[::1", "/", "http://[::1/"},
        {"http", "::1", "/", "http://::1/"},
        {"http", "example.com:abc", "/", "http://example.com:abc/"},
    };

    for (size_t i = 0; i < countof(t); i++)
        check(t[i].scheme, t[i].host, t[i].path, t[i].want);
}

Test(key, empty_host_is_an_error)
{
    static const char *bad[] = {"", ":80", "[]", "[]:80", ":"};
    struct buf b = {0};
    struct key k = {0};

    for (size_t i = 0; i < countof(bad); i++) {
        cr_assert_eq(key_build(&b, "http", sp(bad[i]), sp("/"), &k), -EINVAL, "\"%s\"", bad[i]);
        cr_assert_eq(b.len, 0, "\"%s\": nothing appended", bad[i]);
    }
    buf_free(&b);
}

Test(key, appends_after_what_the_buffer_holds)
{
    struct buf b = {0};
    struct key k1, k2;
    char big[3000];

    /* Pending and consumed bytes before the key; the second key reallocates the buffer. */
    buf_append_str(&b, "consumed;");
    buf_consume(&b, 3);
    cr_assert_eq(key_build(&b, "http", sp("A.example"), sp("/one"), &k1), 0);
    cr_assert_eq(k1.len, strlen("http://a.example/one"));
    cr_assert(memcmp(k1.p, "http://a.example/one", k1.len) == 0);

    memset(big, 'p', sizeof(big));
    big[0] = '/';
    cr_assert_eq(key_build(&b, "http", sp("b.example"), span_of(big, sizeof(big)), &k2), 0);
    cr_assert_eq(k2.len, strlen("http://b.example") + sizeof(big));
    cr_assert(memcmp(k2.p, "http://b.example/ppp", 20) == 0);
    cr_assert_eq(k2.p + k2.len, b.p + b.len, "the key ends the buffer");
    cr_assert_eq(k2.hash, key_hash(k2.p, k2.len));

    /* A buffer with consumed bytes that compacts while reserving. */
    buf_free(&b);
    buf_reserve(&b, 256);
    memset(big, 'x', 200);
    buf_append(&b, big, 200);
    buf_consume(&b, 190);
    cr_assert_eq(
        key_build(
            &b, "http", sp("c.example"),
            span_of("/0123456789012345678901234567890123456789012345678901234567890123456789", 71),
            &k1),
        0);
    cr_assert(memcmp(k1.p, "http://c.example/0123", 21) == 0);
    cr_assert_eq(k1.p, b.p + b.off + 10);
    cr_assert_eq(k1.hash, key_hash(k1.p, k1.len));
    buf_free(&b);
}

Test(key, equal_keys_hash_equal)
{
    struct buf b = {0};
    struct key k1, k2;

    key_init();
    key_init(); /* idempotent */
    cr_assert_eq(key_build(&b, "http", sp("Example.com:80"), sp("/a?b=c"), &k1), 0);
    cr_assert_eq(key_build(&b, "http", sp("example.COM"), sp("/a?b=c"), &k2), 0);
    cr_assert_eq(k1.len, k2.len);
    cr_assert(memcmp(k1.p, k2.p, k1.len) == 0);
    cr_assert_eq(k1.hash, k2.hash);
    cr_assert_eq(key_hash("abc", 3), key_hash("abc", 3));
    buf_free(&b);
}

Test(key, different_keys_differ)
{
    static const char *paths[] = {"/", "/a", "/A", "/a?", "/a?b", "/b", "/a/", "*"};
    static const char *hosts[] = {"a.example", "b.example", "a.example:8080", "[::1]"};
    uint64_t seen[countof(paths) * countof(hosts) * 2];
    size_t n = 0;
    struct buf b = {0};
    struct key k;

    for (size_t s = 0; s < 2; s++)
        for (size_t h = 0; h < countof(hosts); h++)
            for (size_t p = 0; p < countof(paths); p++) {
                cr_assert_eq(key_build(&b, s ? "https" : "http", sp(hosts[h]), sp(paths[p]), &k),
                             0);
                for (size_t i = 0; i < n; i++)
                    cr_assert_neq(seen[i], k.hash, "%.*s", (int)k.len, k.p);
                seen[n++] = k.hash;
            }
    cr_assert_neq(key_hash("", 0), key_hash("a", 1));
    buf_free(&b);
}
