/* test_route.c - which route a request takes (route_match), the upstream it goes to
 * (route_upstream), its cache key (route_key_build) and its place on a hash ring (route_hash). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "accel/http.h"
#include "accel/key.h"
#include "accel/route.h"

#define HEAD                                                                                       \
    "listen 127.0.0.1:0\nupstream a { server 127.0.0.1:1; }\nupstream b { server 127.0.0.1:2; }\n"

static struct span sp(const char *s)
{
    return span_of(s, strlen(s));
}

static struct conf *parse(const char *text)
{
    struct conf *c = NULL;
    char err[512] = "";
    int rc = conf_parse("t.conf", text, strlen(text), &c, err, sizeof err);

    cr_assert_eq(rc, 0, "conf_parse: %d %s", rc, err);
    cr_assert_not_null(c);
    return c;
}

/* The name of the route <method> <host> <path> takes, or "-" for none. */
static const char *route_of(const struct conf *c, int method, const char *host, const char *path)
{
    const struct conf_route *r = route_match(c, method, sp(host), sp(path));

    return r != NULL ? r->name : "-";
}

#define expect_route(c, m, host, path, want)                                                       \
    cr_assert_str_eq(route_of(c, m, host, path), want, "%s %s%s", #m, host, path)

Test(route, no_routes_match_nothing)
{
    struct conf *c = parse(HEAD);

    cr_assert_eq(c->n_routes, 0);
    cr_assert_null(route_match(c, HTTP_GET, sp("example.com"), sp("/")));
    cr_assert_eq(route_upstream(c, NULL), c->default_upstream);
    cr_assert_str_eq(route_upstream(c, NULL)->name, "a", "no origin: the first upstream");
    conf_free(&c);
}

Test(route, exact_host_ignores_case_and_port)
{
    struct conf *c =
        parse(HEAD "route www { host www.Example.com api.example.com; upstream b; }\n");

    expect_route(c, HTTP_GET, "www.example.com", "/", "www");
    expect_route(c, HTTP_GET, "WWW.EXAMPLE.COM", "/", "www");
    expect_route(c, HTTP_GET, "www.example.com:8080", "/x", "www");
    expect_route(c, HTTP_GET, "www.example.com:", "/x", "www");
    expect_route(c, HTTP_GET, "api.example.com", "/", "www");
    expect_route(c, HTTP_GET, "example.com", "/", "-");
    expect_route(c, HTTP_GET, "www.example.co", "/", "-");
    expect_route(c, HTTP_GET, "www.example.com.evil", "/", "-");
    expect_route(c, HTTP_GET, "xwww.example.com", "/", "-");
    expect_route(c, HTTP_GET, "", "/", "-");
    conf_free(&c);
}

Test(route, ipv6_host)
{
    struct conf *c = parse(HEAD "route v6 { host [::1]; upstream b; }\n");

    expect_route(c, HTTP_GET, "[::1]", "/", "v6");
    expect_route(c, HTTP_GET, "[::1]:8080", "/", "v6");
    expect_route(c, HTTP_GET, "[::2]:8080", "/", "-");
    conf_free(&c);
}

Test(route, wildcard_host)
{
    struct conf *c = parse(HEAD "route sub { host *.example.org; upstream b; }\n");

    expect_route(c, HTTP_GET, "a.example.org", "/", "sub");
    expect_route(c, HTTP_GET, "a.b.EXAMPLE.org:81", "/", "sub");
    expect_route(c, HTTP_GET, "example.org", "/", "-");
    expect_route(c, HTTP_GET, "example.org:80", "/", "-");
    expect_route(c, HTTP_GET, ".example.org", "/", "-");
    expect_route(c, HTTP_GET, "badexample.org", "/", "-");
    expect_route(c, HTTP_GET, "a.example.org.net", "/", "-");
    expect_route(c, HTTP_GET, "org", "/", "-");
    conf_free(&c);
}

Test(route, star_matches_any_host)
{
    struct conf *c = parse(HEAD "route known { host known.test; upstream a; }\n"
                                "route any { host *; upstream b; }\n");

    expect_route(c, HTTP_GET, "known.test", "/", "known");
    expect_route(c, HTTP_GET, "other.test:99", "/", "any");
    expect_route(c, HTTP_GET, "", "/", "any");
    conf_free(&c);
}

Test(route, path_prefixes)
{
    struct conf *c = parse(HEAD "route api { path /api/ /v2; upstream b; }\n");

    expect_route(c, HTTP_GET, "h", "/api/", "api");
    expect_route(c, HTTP_GET, "h", "/api/x?y=1", "api");
    expect_route(c, HTTP_GET, "h", "/v2", "api");
    expect_route(c, HTTP_GET, "h", "/v2x", "api");
    expect_route(c, HTTP_GET, "h", "/api", "-");
    expect_route(c, HTTP_GET, "h", "/API/", "-");
    expect_route(c, HTTP_GET, "h", "/", "-");
    expect_route(c, HTTP_GET, "h", "", "-");
    expect_route(c, HTTP_GET, "h", "/x/api/", "-");
    conf_free(&c);
}

Test(route, method_lists)
{
    struct conf *c = parse(HEAD "route writes { method POST PUT; method DELETE; upstream b; }\n"
                                "route rest { upstream a; }\n");

    cr_assert_eq(c->routes[0].methods,
                 (1ull << HTTP_POST) | (1ull << HTTP_PUT) | (1ull << HTTP_DELETE));
    cr_assert_eq(c->routes[1].methods, 0);
    expect_route(c, HTTP_POST, "h", "/", "writes");
    expect_route(c, HTTP_PUT, "h", "/", "writes");
    expect_route(c, HTTP_DELETE, "h", "/", "writes");
    expect_route(c, HTTP_GET, "h", "/", "rest");
    expect_route(c, HTTP_HEAD, "h", "/", "rest");
    expect_route(c, -1, "h", "/", "rest");
    expect_route(c, 64, "h", "/", "rest");
    conf_free(&c);
}

Test(route, every_list_must_match)
{
    struct conf *c = parse(HEAD "route r { host x.test; path /p; method GET; upstream b; }\n");

    expect_route(c, HTTP_GET, "x.test", "/p/1", "r");
    expect_route(c, HTTP_POST, "x.test", "/p/1", "-");
    expect_route(c, HTTP_GET, "y.test", "/p/1", "-");
    expect_route(c, HTTP_GET, "x.test", "/q", "-");
    conf_free(&c);
}

Test(route, first_match_wins)
{
    struct conf *c = parse(HEAD "route img { host example.com; path /img; upstream b; }\n"
                                "route site { host example.com; upstream a; }\n"
                                "route img2 { path /img; upstream a; }\n"
                                "route { upstream b; }\n");

    expect_route(c, HTTP_GET, "example.com", "/img/1.png", "img");
    expect_route(c, HTTP_GET, "example.com", "/index.html", "site");
    expect_route(c, HTTP_GET, "other.com", "/img/1.png", "img2");
    expect_route(c, HTTP_GET, "other.com", "/", "#4");
    cr_assert_str_eq(
        route_upstream(c, route_match(c, HTTP_GET, sp("example.com"), sp("/img")))->name, "b");
    cr_assert_str_eq(route_upstream(c, route_match(c, HTTP_GET, sp("example.com"), sp("/")))->name,
                     "a");
    conf_free(&c);
}

Test(route, none_matches)
{
    struct conf *c = parse(HEAD "route r { host only.test; upstream b; }\n");

    cr_assert_null(route_match(c, HTTP_GET, sp("other.test"), sp("/")));
    cr_assert_eq(route_upstream(c, NULL), c->default_upstream, "no route: the default upstream");
    conf_free(&c);
}

/* --- keys ------------------------------------------------------------------------------------- */

static void expect_key(const struct conf_route *r, const char *scheme, const char *host,
                       const char *path, const char *want)
{
    struct buf b = {0};
    struct key k;

    key_init();
    buf_append_str(&b, "before|"); /* what the buffer already holds stays out of the key */
    cr_assert_eq(route_key_build(r, &b, scheme, sp(host), sp(path), &k), 0);
    cr_assert_eq(k.len, strlen(want), "got \"%.*s\", want \"%s\"", (int)k.len, k.p, want);
    cr_assert(memcmp(k.p, want, k.len) == 0, "got \"%.*s\", want \"%s\"", (int)k.len, k.p, want);
    cr_assert_eq(k.hash, key_hash(want, strlen(want)));
    cr_assert_eq(b.len, strlen("before|") + strlen(want));
    cr_assert(memcmp(b.p, "before|", 7) == 0);
    buf_free(&b);
}

Test(route, key_is_the_url_unless_the_route_matches_on_method)
{
    struct conf *c = parse(HEAD "route api { method POST GET; upstream b; }\n"
                                "route { method PUT; upstream b; }\n"
                                "route site { host example.com; path /; upstream a; }\n");

    expect_key(NULL, "http", "Example.com:80", "/x", "http://example.com/x");
    expect_key(&c->routes[2], "http", "Example.com:80", "/x", "http://example.com/x");
    expect_key(&c->routes[0], "http", "Example.com:80", "/x", "api http://example.com/x");
    expect_key(&c->routes[0], "https", "example.com:8443", "/a?b",
               "api https://example.com:8443/a?b");
    expect_key(&c->routes[1], "http", "example.com", "/", "#2 http://example.com/");
    conf_free(&c);
}

/* an unnamed route does not take a name a later route gives */
Test(route, unnamed_routes_do_not_collide_with_named_ones)
{
    struct conf *c = parse(HEAD "route { method PUT; upstream b; }\n"
                                "route 1 { method PUT; upstream a; }\n");

    cr_assert_str_eq(c->routes[0].name, "#1");
    cr_assert_str_eq(c->routes[1].name, "1");
    expect_key(&c->routes[0], "http", "example.com", "/", "#1 http://example.com/");
    expect_key(&c->routes[1], "http", "example.com", "/", "1 http://example.com/");
    conf_free(&c);
}

Test(route, key_without_a_host_fails_and_leaves_the_buffer)
{
    struct conf *c = parse(HEAD "route api { method GET; upstream b; }\n");
    struct buf b = {0};
    struct key k;

    key_init();
    buf_append_str(&b, "xy");
    cr_assert_eq(route_key_build(&c->routes[0], &b, "http", sp(""), sp("/"), &k), -EINVAL);
    cr_assert_eq(b.len, 2, "the name is taken back");
    cr_assert_eq(route_key_build(NULL, &b, "http", sp(""), sp("/"), &k), -EINVAL);
    cr_assert_eq(b.len, 2);
    buf_free(&b);
    conf_free(&c);
}

/* 200 bytes, 150 consumed, cap 256: reserving room for the name compacts the buffer */
Test(route, key_in_a_buffer_with_consumed_bytes)
{
    struct conf *c = parse(HEAD "route api { method GET; upstream b; }\n");
    struct buf b = {0};
    struct key k;
    char fill[200];
    const char *want = "api http://example.com/x";

    key_init();
    memset(fill, 'z', sizeof fill);
    buf_append(&b, fill, sizeof fill);
    buf_consume(&b, 150);
    cr_assert_eq(route_key_build(&c->routes[0], &b, "http", sp("example.com"), sp("/x"), &k), 0);
    cr_assert_eq(k.len, strlen(want));
    cr_assert(memcmp(k.p, want, k.len) == 0);
    buf_free(&b);
    conf_free(&c);
}

/* --- hash ------------------------------------------------------------------------------------- */

Test(route, hash_is_stable_and_ignores_host_case_and_port)
{
    uint64_t h = route_hash(sp("example.com"), sp("/a/b"));

    cr_assert_eq(route_hash(sp("example.com"), sp("/a/b")), h, "the same every time");
    cr_assert_eq(route_hash(sp("EXAMPLE.Com"), sp("/a/b")), h, "host without case");
    cr_assert_eq(route_hash(sp("example.com:8080"), sp("/a/b")), h, "host without port");
    /* unseeded: the same in every process, so on every accel node */
    cr_assert_eq(h, key_hash_stable("example.com/a/b", strlen("example.com/a/b")));
    cr_assert_neq(route_hash(sp("example.com"), sp("/A/b")), h, "the path keeps its case");
    cr_assert_neq(route_hash(sp("example.org"), sp("/a/b")), h);
    cr_assert_neq(route_hash(sp("example.com"), sp("/a/c")), h);
    cr_assert_eq(route_hash(sp("[::1]:80"), sp("/")), route_hash(sp("[::1]"), sp("/")));
}

Test(route, hash_of_a_long_url)
{
    static char path[2048];

    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    /* a bounded copy: a very long URL still hashes, and the same way each time */
    cr_assert_eq(route_hash(sp("example.com"), sp(path)), route_hash(sp("EXAMPLE.COM"), sp(path)));
    cr_assert_neq(route_hash(sp("example.com"), sp(path)), route_hash(sp("example.com"), sp("/")));
}
