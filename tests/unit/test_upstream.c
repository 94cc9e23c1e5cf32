/* test_upstream.c - the upstream an origin line makes and picking its server. (The balancing
 * methods, health and routes: test_balance.c and test_route.c.) */
#include <criterion/criterion.h>
#include <string.h>

#include "accel/http.h"
#include "accel/route.h"
#include "accel/upstream.h"

Test(upstream, the_origin_line_is_the_one_upstream)
{
    static const char text[] = "listen 8080\norigin http://127.0.0.1:9/\n";
    struct conf *c = NULL;
    char err[256];
    const struct conf_upstream *u;
    const struct conf_server *s;

    cr_assert_eq(conf_parse("t.conf", text, strlen(text), &c, err, sizeof(err)), 0, "%s", err);
    cr_assert_null(route_match(c, HTTP_GET, span_of("a", 1), span_of("/", 1)), "no routes");
    u = route_upstream(c, NULL);
    cr_assert_not_null(u);
    cr_assert_str_eq(u->name, "origin");
    cr_assert_eq(u->n_servers, 1);
    s = upstream_pick(u, 0, NULL);
    cr_assert_not_null(s);
    cr_assert_str_eq(s->addr.text, "127.0.0.1:9");
    cr_assert_str_eq(s->host, "127.0.0.1:9", "the Host of requests without one");
    /* a lone server is never taken out, however often it fails */
    upstream_release(u, s, UPSTREAM_FAIL, 0.001);
    for (int i = 0; i < 10; i++) {
        s = upstream_pick(u, 0, NULL);
        cr_assert_not_null(s, "pick %d", i);
        upstream_release(u, s, UPSTREAM_FAIL, 0.001);
    }
    conf_free(&c);
}
