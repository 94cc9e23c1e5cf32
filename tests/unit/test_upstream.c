/* test_upstream.c - routing a request to an upstream and picking its server (one of each for
 * now: the origin line). */
#include <criterion/criterion.h>
#include <string.h>

#include "accel/upstream.h"

Test(upstream, the_origin_line_is_the_one_upstream)
{
    static const char text[] = "listen 8080\norigin http://127.0.0.1:9/\n";
    struct conf *c = NULL;
    char err[256];
    struct http_head h = {0};
    const struct conf_upstream *u;
    const struct conf_server *s;

    cr_assert_eq(conf_parse("t.conf", text, strlen(text), &c, err, sizeof(err)), 0, "%s", err);
    u = upstream_route(c, &h);
    cr_assert_not_null(u);
    cr_assert_str_eq(u->name, "origin");
    cr_assert_eq(u->n_servers, 1);
    s = upstream_pick(u);
    cr_assert_str_eq(s->addr.text, "127.0.0.1:9");
    cr_assert_str_eq(s->host, "127.0.0.1:9", "the Host of requests without one");
    conf_free(&c);
}
