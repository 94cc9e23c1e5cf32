/* upstream.h - where a request goes: the upstream it is routed to (a group of origin servers,
 * struct conf_upstream of its configuration snapshot) and the server of that group it uses.
 * For now a configuration has one upstream with one server, the origin line; routes and
 * balancing come with issue #14 behind these two calls. */
#ifndef ACCEL_UPSTREAM_H
#define ACCEL_UPSTREAM_H

#include "accel/conf.h"
#include "accel/http.h"

/* The upstream of <c> that request <h> is routed to. Never NULL; it lives as long as <c>
 * (the request's pinned snapshot). */
const struct conf_upstream *upstream_route(const struct conf *c, const struct http_head *h);

/* The server of <u> that a new origin request uses. Never NULL; lives as long as <u>. */
const struct conf_server *upstream_pick(const struct conf_upstream *u);

#endif
