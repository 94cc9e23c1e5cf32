/* health.c - active health checks (see health.h).
 *
 * One probe per checked server, all on the health thread's loop. A probe's <every> timer fires
 * each interval; a check still running then (it has its own deadline, the check timeout) lets
 * the turn pass. The first checks start spread over the first interval, so that a hundred
 * servers are not all asked at the same instant. */
#include "accel/health.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/base.h"
#include "accel/http.h"
#include "accel/log.h"
#include "accel/origin.h"
#include "accel/upstream.h"

#define PROBE_MAGIC  0x68636b70u
#define HEALTH_MAGIC 0x686c7468u
#define PROBE_BUF    8192 /* the response head must fit */

struct health;

struct probe {
    unsigned magic;
    struct health *h;
    const struct conf_upstream *u;
    const struct conf_server *srv;
    ev_timer every, deadline;
    struct origin_conn *oc; /* while a check runs */
    struct http_parser hp;
    struct buf req;
    size_t sent;
    char in[PROBE_BUF];
    size_t len;
    char why[128]; /* the last bad check's reason */
};

struct health {
    unsigned magic;
    const struct conf *conf;
    struct ev_loop *loop;
    struct origin_pool *pool;
    pthread_t thread;
    ev_async stop;
    struct probe *probes;
    unsigned n_probes;
};

/* The check is over: <ok>, or bad for <why>. */
static void probe_end(struct probe *p, int ok, const char *why)
{
    int change;

    ev_timer_stop(p->h->loop, &p->deadline);
    origin_close(&p->oc);
    http_parser_fini(&p->hp);
    if (!ok)
        snprintf(p->why, sizeof p->why, "%s", why);
    change = upstream_check_result(p->u, p->srv, ok);
    if (change < 0)
        log_warn("upstream %s: server %s is down: %u failed check(s), the last: %s", p->u->name,
                 p->srv->addr.text, p->u->check_fall, p->why);
    else if (change > 0)
        log_info("upstream %s: server %s is up again after %u good check(s)", p->u->name,
                 p->srv->addr.text, p->u->check_rise);
    else if (!ok)
        log_debug("upstream %s: server %s: check failed: %s", p->u->name, p->srv->addr.text,
                  p->why);
}

static int status_ok(const struct conf_upstream *u, unsigned status)
{
    return u->check_expect != 0 ? status == u->check_expect : status >= 200 && status < 400;
}

static void probe_read(struct probe *p)
{
    for (;;) {
        ssize_t n;
        size_t used;
        char why[64];

        if (p->len == sizeof p->in) {
            probe_end(p, 0, "the response head is too large");
            return;
        }
        n = transport_read(&p->oc->t, p->in + p->len, sizeof p->in - p->len);
        if (n == -EAGAIN)
            return;
        if (n == 0) {
            probe_end(p, 0, "the server closed the connection before answering");
            return;
        }
        if (n < 0) {
            snprintf(why, sizeof why, "read: %s", transport_why(&p->oc->t, (int)n));
            probe_end(p, 0, why);
            return;
        }
        switch (http_parse(&p->hp, p->in + p->len, (size_t)n, &used)) {
        case HTTP_EV_HEAD: {
            unsigned st = p->hp.head.status;

            if (st < 200) /* 1xx: the final answer follows */
                break;
            snprintf(why, sizeof why, "status %u", st);
            probe_end(p, status_ok(p->u, st), why);
            return;
        }
        case HTTP_EV_ERROR:
            snprintf(why, sizeof why, "malformed response: %s",
                     p->hp.err_reason ? p->hp.err_reason : "?");
            probe_end(p, 0, why);
            return;
        default:
            break;
        }
        p->len += (size_t)n;
    }
}

static void probe_write(struct probe *p)
{
    ssize_t n = transport_write(&p->oc->t, p->req.p + p->sent, p->req.len - p->sent);
    char why[64];

    if (n == -EAGAIN)
        return;
    if (n < 0) {
        snprintf(why, sizeof why, "write: %s", transport_why(&p->oc->t, (int)n));
        probe_end(p, 0, why);
        return;
    }
    p->sent += (size_t)n;
}

static void on_probe_io(struct origin_conn *oc, int revents)
{
    struct probe *p = oc->user;
    char why[96];

    CHECK_OBJ(p, PROBE_MAGIC);
    if (!oc->connected) {
        int rc = origin_check_connect(oc);

        if (rc == -EAGAIN) {
            origin_want(oc, 1, 0); /* the handshake says what it waits for */
            return;
        }
        if (rc < 0) {
            snprintf(why, sizeof why, "connect: %s", transport_why(&oc->t, rc));
            probe_end(p, 0, why);
            return;
        }
        revents |= EV_WRITE;
    }
    if ((revents & EV_WRITE) && p->sent < p->req.len) {
        probe_write(p);
        if (p->oc == NULL)
            return;
    }
    if (revents & EV_READ) {
        probe_read(p);
        if (p->oc == NULL)
            return;
    }
    origin_want(p->oc, p->sent == p->req.len, p->sent < p->req.len);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct probe *p = w->data;
    char why[64];

    (void)loop;
    (void)revents;
    CHECK_OBJ(p, PROBE_MAGIC);
    snprintf(why, sizeof why, "no answer within %llu ms", (unsigned long long)p->u->check_timeout);
    probe_end(p, 0, why);
}

static void on_every(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct probe *p = w->data;
    char why[96];
    int rc;

    (void)revents;
    CHECK_OBJ(p, PROBE_MAGIC);
    if (p->oc != NULL)
        return; /* the last one still runs: its deadline ends it */
    p->sent = 0;
    p->len = 0;
    http_parser_init(&p->hp, 0, 100, 0);
    rc = origin_get(p->h->pool, p->srv, on_probe_io, p, &p->oc);
    if (rc < 0) {
        snprintf(why, sizeof why, "cannot create a socket: %s", strerror(-rc));
        p->oc = NULL;
        probe_end(p, 0, why);
        return;
    }
    p->deadline.repeat = (double)p->u->check_timeout / 1000.0;
    ev_timer_again(loop, &p->deadline);
    if (p->oc->connected)
        on_probe_io(p->oc, EV_WRITE);
    else
        origin_want(p->oc, 0, 1);
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *health_main(void *arg)
{
    struct health *h = arg;

    ev_run(h->loop, 0);
    return NULL;
}

static void probe_init(struct health *h, struct probe *p, const struct conf_upstream *u,
                       const struct conf_server *srv, double first)
{
    const char *host = h->conf->host_header != NULL ? h->conf->host_header : srv->host;

    p->magic = PROBE_MAGIC;
    p->h = h;
    p->u = u;
    p->srv = srv;
    snprintf(p->why, sizeof p->why, "none yet");
    buf_printf(&p->req,
               "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: accel-health-check/" ACCEL_VERSION
               "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
               u->check_path, host);
    ev_timer_init(&p->every, on_every, first, (double)u->check_interval / 1000.0);
    p->every.data = p;
    ev_init(&p->deadline, on_deadline);
    p->deadline.data = p;
    ev_timer_start(h->loop, &p->every);
}

int health_start(const struct conf *c, struct health **out, char *err, size_t errlen)
{
    struct health *h;
    unsigned n = 0, k = 0;
    int rc;

    *out = NULL;
    for (unsigned i = 0; i < c->n_upstreams; i++)
        if (c->upstreams[i].check_interval != 0)
            n += c->upstreams[i].n_servers;
    if (n == 0)
        return 0;
    h = xcalloc(1, sizeof(*h));
    h->magic = HEALTH_MAGIC;
    h->conf = conf_ref(c);
    h->loop = ev_loop_new(EVFLAG_AUTO);
    AN(h->loop);
    h->pool = origin_pool_new(h->loop, c);
    h->probes = xcalloc(n, sizeof(*h->probes));
    for (unsigned i = 0; i < c->n_upstreams; i++) {
        const struct conf_upstream *u = &c->upstreams[i];

        if (u->check_interval == 0)
            continue;
        for (unsigned s = 0; s < u->n_servers; s++, k++) {
            /* the first checks spread over the first interval */
            double first = (double)u->check_interval / 1000.0 * (double)s / u->n_servers;

            probe_init(h, &h->probes[k], u, &u->servers[s], first > 0 ? first : 0.001);
        }
    }
    h->n_probes = k;
    ev_async_init(&h->stop, on_stop);
    ev_async_start(h->loop, &h->stop);
    {
        sigset_t all, old; /* signals are the main thread's */

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        rc = pthread_create(&h->thread, NULL, health_main, h);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (rc != 0) {
        snprintf(err, errlen, "health checks: cannot start their thread: %s", strerror(rc));
        h->n_probes = 0;
        health_stop(&h);
        return -rc;
    }
    log_info("health checks: %u server(s) of %u upstream(s)", n, c->n_upstreams);
    *out = h;
    return 0;
}

void health_stop(struct health **hp)
{
    struct health *h = *hp;

    if (h == NULL)
        return;
    CHECK_OBJ(h, HEALTH_MAGIC);
    if (h->n_probes != 0) {
        ev_async_send(h->loop, &h->stop);
        AZ(pthread_join(h->thread, NULL));
    }
    for (unsigned i = 0; i < h->n_probes; i++) {
        struct probe *p = &h->probes[i];

        ev_timer_stop(h->loop, &p->every);
        ev_timer_stop(h->loop, &p->deadline);
        if (p->oc != NULL) {
            origin_close(&p->oc);
            http_parser_fini(&p->hp);
        }
        buf_free(&p->req);
    }
    free(h->probes);
    origin_pool_free(&h->pool);
    ev_loop_destroy(h->loop);
    conf_unref(&h->conf);
    h->magic = 0;
    free(h);
    *hp = NULL;
}
