/* upstream.h - the servers of an upstream: which one a request uses (balancing), whether each
 * is fit to take requests (passive health from the requests' outcomes, active checks) and its
 * counters for /stats and /metrics.
 *
 * The state lives in u->rt, made when the configuration is loaded and shared by every worker:
 * atomics only, no lock. A server is available when no check holds it down, it is not out for
 * failures (max_fails within a row take it out for fail_timeout; a group's lone server is
 * never taken out, as nginx does) and it has a connection to spare (max_conns). Backups are
 * used only while no other server is available. */
#ifndef ACCEL_UPSTREAM_H
#define ACCEL_UPSTREAM_H

#include <stdint.h>

struct conf_upstream;
struct conf_server;

enum upstream_outcome {
    UPSTREAM_OK = 0,  /* an answer below 500 */
    UPSTREAM_FAIL,    /* connect error, timeout, broken or 5xx answer: counts against it */
    UPSTREAM_NEUTRAL, /* cut short by accel or the client: says nothing about the server */
};

/* What /stats and /metrics show of one server. */
struct upstream_server_stats {
    int up;                             /* available now (as above, max_conns aside) */
    int check_down;                     /* held down by active checks */
    int failed_out;                     /* out for failures, until fail_timeout passes */
    unsigned active;                    /* requests on it now */
    uint64_t requests, failures, downs; /* downs: times it was taken out */
    uint64_t latency_us;                /* summed over completed requests */
    uint64_t completed;                 /* requests with an outcome (OK or FAIL) */
    uint64_t checks, check_failures;
};

/* Builds u->rt (schedules, hash ring, zeroed state). conf_parse() calls it for each upstream;
 * upstream_unprepare() frees it (NULL is fine). */
void upstream_prepare(struct conf_upstream *u);
void upstream_unprepare(struct conf_upstream *u);

/* The server of <u> a new origin request uses, its connection counted (upstream_release).
 * <hash> places the request on the ring of CONF_BALANCE_HASH (the same on every accel node for
 * one URL: key_hash_stable of host and path). <avoid>: a server not to use (the one that just
 * failed the request) or NULL. NULL when no server is available. */
const struct conf_server *upstream_pick(const struct conf_upstream *u, uint64_t hash,
                                        const struct conf_server *avoid);

/* The request that upstream_pick() gave <s> is over: <outcome>, <seconds> it took. */
void upstream_release(const struct conf_upstream *u, const struct conf_server *s,
                      enum upstream_outcome outcome, double seconds);

/* An active check of <s> ended: <ok> or not. Applies rise and fall. Returns -1 when this result
 * took the server down, 1 when it brought it back, 0 when its state did not change. */
int upstream_check_result(const struct conf_upstream *u, const struct conf_server *s, int ok);

void upstream_server_stats(const struct conf_upstream *u, const struct conf_server *s,
                           struct upstream_server_stats *out);

/* Milliseconds of CLOCK_MONOTONIC: the clock of fail_timeout. */
uint64_t upstream_now_ms(void);

#endif
