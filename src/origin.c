/* origin.c - connections to the origin and the per-worker keep-alive pool.
 *
 * An idle upstream sits on the pool's list with its read watcher on: readable there means the
 * origin closed it (or sent bytes nobody asked for), and either way it is closed. An idle timer
 * closes connections unused for the keepalive time. A lent upstream belongs to its user, which
 * gets every event through on_event. Everything runs on the pool's loop. */
#include "accel/origin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accel/log.h"
#include "accel/tls.h"

struct origin_pool {
    struct ev_loop *loop;
    const struct conf *conf;
    struct origin_conn *idle;
    unsigned n_idle;
};

struct origin_pool *origin_pool_new(struct ev_loop *loop, const struct conf *c)
{
    struct origin_pool *p = xcalloc(1, sizeof(*p));

    p->loop = loop;
    p->conf = c;
    return p;
}

static void unlink_idle(struct origin_conn *u)
{
    struct origin_pool *p = u->pool;

    for (struct origin_conn **pp = &p->idle; *pp != NULL; pp = &(*pp)->next_idle) {
        if (*pp == u) {
            *pp = u->next_idle;
            u->next_idle = NULL;
            p->n_idle--;
            return;
        }
    }
}

static void destroy(struct origin_conn *u)
{
    ev_io_stop(u->pool->loop, &u->rio);
    ev_io_stop(u->pool->loop, &u->wio);
    ev_timer_stop(u->pool->loop, &u->idle);
    transport_close(&u->t);
    u->magic = 0;
    free(u);
}

void origin_pool_free(struct origin_pool **pp)
{
    struct origin_pool *p = *pp;

    if (p == NULL)
        return;
    while (p->idle != NULL) {
        struct origin_conn *u = p->idle;
        unlink_idle(u);
        destroy(u);
    }
    free(p);
    *pp = NULL;
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct origin_conn *u = w->data;

    (void)loop;
    CHECK_OBJ(u, ORIGIN_CONN_MAGIC);
    if (u->on_event == NULL) {
        /* Idle: the origin closed it or spoke out of turn. */
        unlink_idle(u);
        destroy(u);
        return;
    }
    u->on_event(u, revents & (EV_READ | EV_WRITE));
}

static void on_idle_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct origin_conn *u = w->data;

    (void)loop;
    (void)revents;
    CHECK_OBJ(u, ORIGIN_CONN_MAGIC);
    unlink_idle(u);
    destroy(u);
}

/* 1 when <u> is a connection to <srv>, spoken the same way. */
static int same_server(const struct origin_conn *u, const struct conf_server *srv)
{
    const struct conf_addr *a = &srv->addr;

    return u->addr.salen == a->salen && memcmp(&u->addr.sa, &a->sa, a->salen) == 0 &&
           u->tls == (int)srv->tls && strcmp(u->name, srv->name) == 0;
}

int origin_get(struct origin_pool *p, const struct conf_server *srv,
               void (*on_event)(struct origin_conn *, int), void *user, struct origin_conn **out)
{
    const struct conf_addr *a = &srv->addr;
    struct origin_conn *u = p->idle;
    int rc;

    while (u != NULL && !same_server(u, srv))
        u = u->next_idle;
    if (u != NULL) {
        unlink_idle(u);
        ev_io_stop(p->loop, &u->rio);
        ev_timer_stop(p->loop, &u->idle);
        u->reused = 1;
        u->on_event = on_event;
        u->user = user;
        *out = u;
        return 0;
    }
    u = xcalloc(1, sizeof(*u));
    rc = transport_connect(&u->t, &a->sa, a->salen, &u->tcp_up);
    if (rc < 0) {
        free(u);
        return rc;
    }
    u->tls = srv->tls != 0;
    u->name = srv->name;
    u->connected = u->tcp_up && !u->tls;
    u->magic = ORIGIN_CONN_MAGIC;
    u->pool = p;
    u->addr = *a;
    ev_io_init(&u->rio, on_io, transport_fd(&u->t), EV_READ);
    ev_io_init(&u->wio, on_io, transport_fd(&u->t), EV_WRITE);
    ev_init(&u->idle, on_idle_timeout);
    u->rio.data = u->wio.data = u->idle.data = u;
    u->on_event = on_event;
    u->user = user;
    *out = u;
    return 0;
}

void origin_want(struct origin_conn *u, int rd, int wr)
{
    struct ev_loop *loop = u->pool->loop;

    if (!u->connected && u->tls_started) {
        /* the handshake: what it waits for, whatever the user wants */
        rd = !u->t.rd_wants_wr;
        wr = u->t.rd_wants_wr;
    } else {
        /* TLS: decrypted bytes in hand do not make the socket readable */
        if (rd && transport_pending(&u->t) > 0)
            ev_feed_event(loop, &u->rio, EV_READ);
        transport_events(&u->t, rd, wr, &rd, &wr);
    }
    if (rd && !ev_is_active(&u->rio))
        ev_io_start(loop, &u->rio);
    else if (!rd && ev_is_active(&u->rio))
        ev_io_stop(loop, &u->rio);
    if (wr && !ev_is_active(&u->wio))
        ev_io_start(loop, &u->wio);
    else if (!wr && ev_is_active(&u->wio))
        ev_io_stop(loop, &u->wio);
}

void origin_put(struct origin_conn **up)
{
    struct origin_conn *u = *up;
    struct origin_pool *p;
    uint64_t idle_ms;

    *up = NULL;
    CHECK_OBJ(u, ORIGIN_CONN_MAGIC);
    p = u->pool;
    if (!u->connected || p->n_idle >= p->conf->origin_keepalive) {
        destroy(u);
        return;
    }
    u->on_event = NULL;
    u->user = NULL;
    ev_io_stop(p->loop, &u->wio);
    ev_io_start(p->loop, &u->rio);
    /* Close before the origin is likely to: most servers keep idle connections 60 s or more. */
    idle_ms = p->conf->keepalive_timeout ? p->conf->keepalive_timeout : 1000;
    ev_timer_set(&u->idle, (double)idle_ms / 1000.0, 0.0);
    ev_timer_start(p->loop, &u->idle);
    u->next_idle = p->idle;
    p->idle = u;
    p->n_idle++;
}

void origin_close(struct origin_conn **up)
{
    struct origin_conn *u = *up;

    *up = NULL;
    if (u == NULL)
        return;
    CHECK_OBJ(u, ORIGIN_CONN_MAGIC);
    destroy(u);
}

int origin_check_connect(struct origin_conn *u)
{
    int rc;

    if (u->connected)
        return 0;
    if (!u->tcp_up) {
        rc = transport_connect_result(&u->t);
        if (rc < 0)
            return rc;
        u->tcp_up = 1;
    }
    if (u->tls && !u->tls_started) {
        struct tls_origin *o = tls_origin_acquire();

        rc = o != NULL ? transport_tls_client(&u->t, o, u->name) : -EPROTO;
        tls_origin_release(&o); /* the transport holds its own */
        if (rc < 0)
            return rc;
        u->tls_started = 1;
    }
    if (u->tls) {
        rc = transport_handshake(&u->t);
        if (rc < 0)
            return rc;
    }
    u->connected = 1;
    return 0;
}

unsigned origin_pool_idle(const struct origin_pool *p)
{
    return p->n_idle;
}
