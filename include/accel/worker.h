/* worker.h - one thread, one libev loop: its listening sockets (SO_REUSEPORT, one per listen
 * address), its client connections, its origin pool and its counters.
 *
 * The main thread creates the workers, binds their sockets (worker_bind_all), starts them and
 * later asks them to drain (worker_stop) from its signal handlers; the only cross-thread calls
 * are worker_stop() and worker_stats_sum(), which go through an ev_async and atomics. */
#ifndef ACCEL_WORKER_H
#define ACCEL_WORKER_H

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

    int lfd[CONF_MAX_LISTEN];
    ev_io lio[CONF_MAX_LISTEN];
    unsigned n_listen;
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

/* Creates <n> workers for <c> (not started), sharing <cache> (may be NULL). Installs the
 * object waker that turns publications into ev_async wake-ups. */
struct worker **worker_create(const struct conf *c, unsigned n, struct cache *cache);

/* Binds every listen address of the configuration for every worker (SO_REUSEPORT). A port 0
 * is resolved by the first bind and reused for the other workers. Logs "listening on ...".
 * Returns 0, or a negative errno with a message in <err>. */
int worker_bind_all(struct worker **ws, unsigned n, char *err, size_t errlen);

/* Starts the thread of <w>. Returns 0 or a negative errno. */
int worker_start(struct worker *w);

/* Asks <w> (from any thread) to stop accepting, finish its in-flight requests within the
 * drain timeout and return from its loop. */
void worker_stop(struct worker *w);

/* Waits for the thread of <w> and frees it. */
void worker_join_free(struct worker **wp);

/* Waits for the thread of <w> to end. Join every worker before freeing any: a worker that
 * is still stopping may wake another through its ev_async. */
void worker_join(struct worker *w);

/* The IMF-fixdate for the loop's current time (cached per second). */
const char *worker_date(struct worker *w);

/* Called by conn when a connection is closed or freed. */
void worker_conn_closed(struct worker *w);

#endif
