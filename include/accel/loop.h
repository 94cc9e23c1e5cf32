/* loop.h - what every module on a worker's loop shares: struct worker (its loop, config
 * snapshot, origin pool, cache, counters, connection lists and cached Date) and the two helpers
 * of it that the connection, fetch and store modules call. The threads, the listening sockets and
 * the drain live in worker.h, above them: the modules on a loop include this header, never that
 * one, so that no circle runs through the worker. */
#ifndef ACCEL_LOOP_H
#define ACCEL_LOOP_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "accel/conf.h"
#include "accel/stats.h"

#define WORKER_MAGIC 0x776f726bu

struct cache;
struct conn;
struct fetch;
struct origin_pool;
struct ratelimit;

struct worker {
    unsigned magic;
    unsigned id;
    pthread_t thread;
    struct ev_loop *loop;
    const struct conf *conf;
    struct origin_pool *pool;
    struct cache *cache;   /* shared by every worker; NULL: no caching */
    struct fetch *fetches; /* fetches filling busy objects on this loop */
    struct conn *waiting;  /* conns waiting for busy objects to grow */
    struct ratelimit *rl;  /* rate_limit's buckets for this worker; NULL: no limit */

    int lfd[CONF_MAX_LISTEN];
    ev_io lio[CONF_MAX_LISTEN];
    unsigned n_listen;
    unsigned tls_port; /* the port of the first TLS listener (https_redirect), 0: none */
    int accepting;

    ev_async wake;
    atomic_int stop_requested;
    ev_prepare prep;
    ev_timer drain_timer;
    int draining;
    int joined;

    struct conn *conns;  /* live connections (doubly linked through conn->prev/next) */
    struct conn *closed; /* closed, freed by the prepare hook */
    unsigned n_conns, max_conns;

    struct stats_date date;
    struct stats stats;
};

/* The IMF-fixdate for the loop's current time (cached per second). */
const char *worker_date(struct worker *w);

/* Called by conn when a connection is freed: the count goes down (the worker resumes accepting
 * below max_connections in its prepare hook). */
void worker_conn_closed(struct worker *w);

#endif
