/* worker.c - one thread, one libev loop.
 *
 * Each worker owns one listening socket per listen address (SO_REUSEPORT: the kernel spreads
 * connections across workers), its connections, its origin pool and its counters. Other
 * threads talk to it only through worker_stop() (an atomic flag and the ev_async) and by
 * reading its counters. Closed connections are freed in the ev_prepare hook, when nothing of
 * theirs is on the stack. Draining: listeners are closed (new connections are refused), idle
 * connections are closed, busy ones close after their exchange; the loop ends when none is
 * left or the drain timeout fires. */
#include "accel/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accel/base.h"
#include "accel/conn.h"
#include "accel/fetch.h"
#include "accel/http.h"
#include "accel/log.h"
#include "accel/obj.h"
#include "accel/origin.h"
#include "accel/ratelimit.h"
#include "accel/transport.h"

#define ACCEPT_BATCH 64

static struct worker **all_workers;
static unsigned n_all_workers;

/* The object waker: a publication on a busy object wakes the workers with readers on it. */
static void wake_workers(unsigned mask)
{
    /* obj_wait() folds workers past 31 onto the same bits: wake every worker of a set bit. */
    for (unsigned i = 0; i < n_all_workers; i++)
        if ((mask & (1u << (i % 32))) && all_workers[i]->loop != NULL)
            ev_async_send(all_workers[i]->loop, &all_workers[i]->wake);
}

struct worker **worker_create(const struct conf *c, unsigned n, struct cache *cache)
{
    struct worker **ws = xcalloc(n, sizeof(*ws));

    for (unsigned i = 0; i < n; i++) {
        struct worker *w = xcalloc(1, sizeof(*w));

        w->magic = WORKER_MAGIC;
        w->id = i;
        w->conf = conf_ref(c);
        w->cache = cache;
        if (c->rate_limit > 0)
            w->rl = ratelimit_new(c->rate_limit, c->rate_burst, c->rate_table);
        w->max_conns = c->max_connections / n;
        if (w->max_conns == 0)
            w->max_conns = 1;
        for (unsigned j = 0; j < CONF_MAX_LISTEN; j++)
            w->lfd[j] = -1;
        ws[i] = w;
    }
    all_workers = ws;
    n_all_workers = n;
    obj_set_waker(wake_workers);
    return ws;
}

static unsigned sa_port(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                           : ((const struct sockaddr_in *)ss)->sin_port);
}

/* One listening socket for <a>; with <shared>, one of a SO_REUSEPORT group (the workers'). */
static int bind_one(struct conf_addr *a, int shared, char *err, size_t errlen)
{
    int fd = transport_listen(&a->sa, a->salen, shared, 1024);

    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s%s", a->text, strerror(-fd),
                 fd == -EADDRINUSE ? " (another accel, or another server, listens there)" : "");
    return fd;
}

static void addr_port_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(out, len, "%s:%u", host, ntohs(s4->sin_port));
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(out, len, "[%s]:%u", host, ntohs(s6->sin6_port));
    }
}

int worker_bind_all(struct worker **ws, unsigned n, char *err, size_t errlen)
{
    const struct conf *c = ws[0]->conf;

    for (unsigned j = 0; j < c->n_listen; j++) {
        struct conf_addr a = c->listen[j];
        char text[96];

        /* SO_REUSEPORT would let a second accel on the same address come up silently and take a
         * share of the traffic to its own cache: a socket of our own without it finds any
         * listener there first. For port 0 it asks the kernel for a port no socket holds, and
         * the group binds that one: a shared bind to port 0 itself might be given a port the
         * group of another process of this user listens on. (Two starts at the very same
         * moment could still both pass: the probe is closed before the group binds.) */
        int probe = bind_one(&a, 0, err, errlen), rc = 0;

        if (probe < 0)
            return -EADDRINUSE;
        if (sa_port(&a.sa) == 0)
            rc = transport_local_addr(probe, &a.sa, &a.salen);
        transport_close_fd(probe);
        if (rc < 0) {
            snprintf(err, errlen, "getsockname: %s", strerror(-rc));
            return rc;
        }
        for (unsigned i = 0; i < n; i++) {
            int fd = bind_one(&a, 1, err, errlen);
            if (fd < 0)
                return -EADDRINUSE;
            ws[i]->lfd[j] = fd;
            ws[i]->n_listen = j + 1;
        }
        addr_port_text(&a.sa, text, sizeof(text));
        if (c->listen_tls & (1u << j)) {
            for (unsigned i = 0; i < n; i++)
                if (ws[i]->tls_port == 0)
                    ws[i]->tls_port = sa_port(&a.sa);
            log_info("listening on %s (tls)", text);
        } else {
            log_info("listening on %s", text);
        }
    }
    return 0;
}

static void set_accepting(struct worker *w, int on)
{
    if (w->accepting == on || w->draining)
        return;
    w->accepting = on;
    for (unsigned j = 0; j < w->n_listen; j++) {
        if (on)
            ev_io_start(w->loop, &w->lio[j]);
        else
            ev_io_stop(w->loop, &w->lio[j]);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct worker *w = io->data;

    (void)loop;
    (void)revents;
    CHECK_OBJ(w, WORKER_MAGIC);
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd;

        if (w->n_conns >= w->max_conns) {
            log_warn("worker %u: max_connections reached, not accepting for now", w->id);
            set_accepting(w, 0);
            return;
        }
        fd = transport_accept(io->fd, &ss, &len);
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE)
                log_error("accept: %s", strerror(-fd));
            return;
        }
        w->n_conns++;
        atomic_fetch_add_explicit(&w->stats.connections, 1, memory_order_relaxed);
        atomic_store_explicit(&w->stats.connections_current, w->n_conns, memory_order_relaxed);
        conn_new(w, fd, (struct sockaddr *)&ss, len,
                 (w->conf->listen_tls >> (unsigned)(io - w->lio)) & 1u);
    }
}

static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct worker *w = p->data;

    (void)revents;
    conn_free_closed(w);
    if (w->n_conns < w->max_conns)
        set_accepting(w, 1);
    if (w->draining && w->n_conns == 0)
        ev_break(loop, EVBREAK_ALL);
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;

    (void)loop;
    (void)revents;
    log_warn("worker %u: drain timeout, closing %u connection(s)", w->id, w->n_conns);
    while (w->conns != NULL)
        conn_close(w->conns);
}

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
    struct worker *w = a->data;

    (void)revents;
    conn_wake_waiting(w);
    if (!atomic_load(&w->stop_requested) || w->draining)
        return;
    set_accepting(w, 0);
    w->draining = 1;
    for (unsigned j = 0; j < w->n_listen; j++) {
        transport_close_fd(w->lfd[j]);
        w->lfd[j] = -1;
    }
    for (struct conn *c = w->conns, *next; c != NULL; c = next) {
        next = conn_next(c);
        conn_drain(c);
    }
    ev_timer_set(&w->drain_timer, (double)w->conf->drain_timeout / 1000.0, 0.0);
    ev_timer_start(loop, &w->drain_timer);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    ev_run(w->loop, 0);
    fetch_abort_all(w);
    conn_free_closed(w);
    return NULL;
}

int worker_start(struct worker *w)
{
    sigset_t all, old;
    int rc;

    w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (w->loop == NULL)
        return -ENOMEM;
    w->pool = origin_pool_new(w->loop, w->conf);
    for (unsigned j = 0; j < w->n_listen; j++) {
        ev_io_init(&w->lio[j], on_accept, w->lfd[j], EV_READ);
        w->lio[j].data = w;
    }
    set_accepting(w, 1);
    ev_async_init(&w->wake, on_wake);
    w->wake.data = w;
    ev_async_start(w->loop, &w->wake);
    ev_prepare_init(&w->prep, on_prepare);
    w->prep.data = w;
    ev_prepare_start(w->loop, &w->prep);
    ev_init(&w->drain_timer, on_drain_timeout);
    w->drain_timer.data = w;

    /* Signals are the main thread's business. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

void worker_stop(struct worker *w)
{
    atomic_store(&w->stop_requested, 1);
    ev_async_send(w->loop, &w->wake);
}

void worker_join(struct worker *w)
{
    if (w->loop != NULL && !w->joined) {
        pthread_join(w->thread, NULL);
        w->joined = 1;
    }
}

void worker_join_free(struct worker **wp)
{
    struct worker *w = *wp;

    if (w == NULL)
        return;
    if (w->loop != NULL) {
        worker_join(w);
        origin_pool_free(&w->pool);
        ev_loop_destroy(w->loop);
    }
    for (unsigned j = 0; j < w->n_listen; j++)
        transport_close_fd(w->lfd[j]);
    ratelimit_free(&w->rl);
    conf_unref(&w->conf);
    w->magic = 0;
    free(w);
    *wp = NULL;
}
