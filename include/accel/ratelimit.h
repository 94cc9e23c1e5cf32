/* ratelimit.h - a request-rate limit per client address: one token bucket per address (<rate>
 * tokens a second, at most <burst> saved up), in a table of at most <table> addresses. When the
 * table is full the address seen least recently is dropped (it starts again with a full
 * bucket). One table per worker, used from that worker's loop only: no lock.
 *
 * Addresses are compared whole: an IPv4 client and the same address mapped into IPv6
 * (::ffff:a.b.c.d) share a bucket; each IPv6 address has its own. */
#ifndef ACCEL_RATELIMIT_H
#define ACCEL_RATELIMIT_H

#include <stdint.h>
#include <sys/socket.h>

struct ratelimit;

/* A table for <rate> requests a second (> 0), <burst> requests at once (>= 1) and <table>
 * addresses (>= 1). */
struct ratelimit *ratelimit_new(double rate, double burst, unsigned table);

/* Frees *<rp> and sets it to NULL; NULL is fine. */
void ratelimit_free(struct ratelimit **rp);

/* Takes one token from the bucket of <sa> at time <now> (seconds, never going back). Returns 0
 * when the request may go on; else the whole seconds (>= 1) until a token is there again, for
 * Retry-After. An address family other than IPv4 and IPv6 is never limited. */
unsigned ratelimit_take(struct ratelimit *r, const struct sockaddr *sa, double now);

/* Addresses in the table now, and addresses dropped to make room since the start. */
unsigned ratelimit_count(const struct ratelimit *r);
uint64_t ratelimit_dropped(const struct ratelimit *r);

#endif
