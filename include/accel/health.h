/* health.h - active health checks: a thread of its own that sends each server of an upstream
 * with a "check" line a GET every interval, off the request path.
 *
 * A check connects (and speaks TLS to an https:// server), sends "GET <path>" with the
 * server's Host and "Connection: close", and reads the response head: the status <expect>
 * (any 2xx or 3xx when none is given) within the timeout is a good check, anything else (a
 * refused or timed out connect, a failed handshake, another status, a malformed or missing
 * answer) a bad one. upstream_check_result() turns <fall> bad ones in a row into "down" and
 * <rise> good ones into "up" again; each change is logged with the reason of the last check.
 * Servers start up: a fresh start does not wait <rise> checks before it serves. */
#ifndef ACCEL_HEALTH_H
#define ACCEL_HEALTH_H

#include <stddef.h>

#include "accel/conf.h"

struct health;

/* Starts checking every upstream of <c> that has checks. *<out> is NULL when none has (no
 * thread runs). Returns 0, or a negative errno with <err> set. */
int health_start(const struct conf *c, struct health **out, char *err, size_t errlen);

/* Stops the checks in progress and the thread, and frees everything. NULL is fine. */
void health_stop(struct health **hp);

#endif
