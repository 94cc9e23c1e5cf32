/* route.h - which route of a configuration a request takes: the first whose host list, path
 * prefixes and methods all match (a list not given matches anything).
 *
 * Hosts compare without their port and without case: "www.example.com" exactly,
 * "*.example.org" any name that ends in ".example.org" (not example.org itself), "*" any. */
#ifndef ACCEL_ROUTE_H
#define ACCEL_ROUTE_H

#include "accel/base.h"
#include "accel/conf.h"
#include "accel/key.h"

/* The route of <c> for a request with <method> (llhttp's), <host> (as sent: may hold a port; may
 * be empty) and <path> (origin-form). NULL when <c> has routes and none matches, or has none. */
const struct conf_route *route_match(const struct conf *c, int method, struct span host,
                                     struct span path);

/* The upstream a request goes to: its route's, else the default one. */
static inline const struct conf_upstream *route_upstream(const struct conf *c,
                                                         const struct conf_route *r)
{
    return r != NULL ? r->up : c->default_upstream;
}

/* The cache key of a request on route <r> (NULL: none), as key_build() makes it. A route that
 * matches on method puts its name before the URL ("NAME http://host/path"), so that the same URL
 * on two routes never shares an object; every other route keys by URL alone. */
int route_key_build(const struct conf_route *r, struct buf *b, const char *scheme, struct span host,
                    struct span path, struct key *k);

/* Where a request sits on a hash ring: the same for one host and path on every accel node. */
uint64_t route_hash(struct span host, struct span path);

#endif
