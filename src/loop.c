/* loop.c - the shared helpers of a worker's loop (see loop.h). */
#include "accel/loop.h"

#include "accel/base.h"

const char *worker_date(struct worker *w)
{
    return stats_date(&w->date, (long)ev_now(w->loop));
}

void worker_conn_closed(struct worker *w)
{
    AN(w->n_conns > 0);
    w->n_conns--;
    atomic_store_explicit(&w->stats.connections_current, w->n_conns, memory_order_relaxed);
}
