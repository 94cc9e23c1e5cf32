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

#define WORKER_MAGIC 0x776f726bu

struct cache;
struct conn;
struct fetch;
struct origin_pool;

/* Counters a worker bumps without a lock; readers sum them across workers. One list makes
 * both the fields and the metrics: X(field, family, labels, type, help); entries of a family
 * are adjacent. "gauge" fields are summed like the others. */
#define WORKER_COUNTERS(X)                                                                         \
    X(requests, "requests_total", "", "counter", "client requests received")                       \
    X(responses_2xx, "responses_total", "code=\"2xx\"", "counter", "answers sent, by class")       \
    X(responses_3xx, "responses_total", "code=\"3xx\"", "counter", "")                             \
    X(responses_4xx, "responses_total", "code=\"4xx\"", "counter", "")                             \
    X(responses_5xx, "responses_total", "code=\"5xx\"", "counter", "")                             \
    X(bad_requests, "bad_requests_total", "", "counter", "malformed or refused requests")          \
    X(cache_hits, "cache_hits_total", "", "counter", "answers from a stored object")               \
    X(cache_misses, "cache_misses_total", "", "counter", "requests that fetched a new object")     \
    X(cache_coalesced, "cache_coalesced_total", "", "counter",                                     \
      "requests that waited on another request's fetch")                                           \
    X(cache_passes, "cache_passes_total", "", "counter", "requests sent to the origin uncached")   \
    X(cache_stored, "cache_stored_total", "", "counter", "answers stored")                         \
    X(cache_revalidated, "cache_revalidated_total", "", "counter",                                 \
      "stale objects the origin confirmed (304)")                                                  \
    X(cache_stale, "cache_stale_served_total", "", "counter",                                      \
      "stale objects served for a failing origin")                                                 \
    X(coalesce_overflows, "coalesce_overflows_total", "", "counter",                               \
      "requests past coalesce_max or coalesce_timeout")                                            \
    X(origin_requests, "origin_requests_total", "", "counter", "requests sent to the origin")      \
    X(origin_connects, "origin_connects_total", "", "counter", "new origin connections")           \
    X(origin_retries, "origin_retries_total", "", "counter",                                       \
      "requests retried on a new connection")                                                      \
    X(origin_errors, "origin_errors_total", "kind=\"all\"", "counter", "origin failures, by kind") \
    X(origin_err_connect, "origin_errors_total", "kind=\"connect\"", "counter", "")                \
    X(origin_err_timeout, "origin_errors_total", "kind=\"timeout\"", "counter", "")                \
    X(origin_err_response, "origin_errors_total", "kind=\"response\"", "counter", "")              \
    X(bytes_in, "bytes_in_total", "", "counter", "bytes read from clients")                        \
    X(bytes_out, "bytes_out_total", "", "counter", "bytes written to clients")                     \
    X(connections, "connections_total", "", "counter", "client connections accepted")              \
    X(connections_current, "connections", "", "gauge", "client connections open")

/* Latency histograms: bucket i counts observations <= worker_hist_le[i] seconds (the last one:
 * the rest); sums in microseconds. */
#define WORKER_HIST_N 15
extern const double worker_hist_le[WORKER_HIST_N - 1];

struct worker_hist {
    atomic_uint_fast64_t b[WORKER_HIST_N];
    atomic_uint_fast64_t sum_us, count;
};

void worker_hist_observe(struct worker_hist *h, double seconds);

#define WORKER_FIELD(f, fam, lab, type, help) atomic_uint_fast64_t f;
struct worker_stats {
    WORKER_COUNTERS(WORKER_FIELD)
    struct worker_hist request_time; /* head received to answer done, per request */
    struct worker_hist origin_time;  /* origin request sent to its answer complete */
};
#undef WORKER_FIELD

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

    long date_sec;
    char date[30]; /* IMF-fixdate of date_sec */

    struct worker_stats stats;
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
