/* worker.h - one thread, one libev loop: its listening sockets (SO_REUSEPORT, one per listen
 * address), its client connections, its origin pool and its counters.
 *
 * The main thread creates the workers, binds their sockets (worker_bind_all), starts them and
 * later asks them to drain (worker_stop) from its signal handlers; the only cross-thread calls
 * are worker_stop() and worker_stats_sum(), which go through an ev_async and atomics. */
#ifndef ACCEL_WORKER_H
#define ACCEL_WORKER_H

#include "accel/loop.h"

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

#endif
