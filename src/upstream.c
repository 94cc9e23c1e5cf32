/* upstream.c - routing a request to an upstream and picking one of its servers. The one
 * upstream of a configuration for now (issue #14 brings routes, groups, balancing and health
 * here), so that the rest of the server already asks "where does this request go" instead of
 * reading a process-wide origin. */
#include "accel/upstream.h"

#include "accel/base.h"

const struct conf_upstream *upstream_route(const struct conf *c, const struct http_head *h)
{
    (void)h;
    AN(c->upstream.n_servers > 0);
    return &c->upstream;
}

const struct conf_server *upstream_pick(const struct conf_upstream *u)
{
    AN(u->n_servers > 0);
    return &u->servers[0];
}
