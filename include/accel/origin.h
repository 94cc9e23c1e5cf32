/* origin.h - connections to the origin and each worker's keep-alive pool of them.
 *
 * A pool belongs to one worker and its loop; nothing here is shared between threads. An
 * origin connection is either idle in the pool (watched for the origin closing it) or lent to one
 * user, which receives its I/O events through on_event until it gives it back with origin_put() or
 * closes it with origin_close(). */
#ifndef ACCEL_ORIGIN_H
#define ACCEL_ORIGIN_H

#include <ev.h>
#include <stddef.h>

#include "accel/base.h"
#include "accel/conf.h"
#include "accel/transport.h"

#define ORIGIN_CONN_MAGIC 0x7570737au

struct origin_pool;

struct origin_conn {
    unsigned magic;
    struct origin_pool *pool;
    struct conf_addr addr; /* the server it connects to */
    struct transport t;
    int connected; /* connect() finished, and the TLS handshake when it speaks TLS */
    int tcp_up;    /* connect() finished */
    int tls;       /* it speaks TLS (an https:// origin) */
    int tls_started;
    const char *name; /* the server's name (SNI, the certificate's name), in the conf */
    int reused;       /* this is not the first exchange on it */
    ev_io rio, wio;
    ev_timer idle; /* while idle in the pool */
    struct origin_conn *next_idle;
    /* While lent: events for the user. <revents> is EV_READ and/or EV_WRITE. */
    void (*on_event)(struct origin_conn *u, int revents);
    void *user;
};

/* A pool of at most <c>->origin_keepalive idle connections on <loop>. */
struct origin_pool *origin_pool_new(struct ev_loop *loop, const struct conf *c);
/* Closes every idle connection and frees the pool; no connection may still be lent. */
void origin_pool_free(struct origin_pool **pp);

/* Lends a connection to server <srv> to <user>: an idle pooled one to that server if any
 * (reused = 1), else a new non-blocking connect (connected = 0; the user calls
 * origin_check_connect() on each event until it is up: the connect, then the TLS handshake for
 * an https:// server). Watchers start stopped; the user starts what it needs with origin_want().
 * Returns 0, or a negative errno when the socket cannot even be created (the caller answers
 * 502). */
int origin_get(struct origin_pool *p, const struct conf_server *srv,
               void (*on_event)(struct origin_conn *, int), void *user, struct origin_conn **out);

/* Sets which events the user wants: <rd>, <wr> 0 or 1. */
void origin_want(struct origin_conn *u, int rd, int wr);

/* Gives <u> back after a complete exchange on a connection that may be reused. Closes it when
 * the pool is full. *<up> is set to NULL. */
void origin_put(struct origin_conn **up);

/* Closes <u> (the exchange failed or the connection cannot be reused). *<up> is set to NULL. */
void origin_close(struct origin_conn **up);

/* On an event of a connection still being set up: 0 when the connection is up (connected set),
 * -EAGAIN while the TLS handshake goes on (origin_want() then watches what it needs), else the
 * negative errno of the failed connect or handshake (transport_why() on <u>->t says why). */
int origin_check_connect(struct origin_conn *u);

/* Number of idle connections in the pool. */
unsigned origin_pool_idle(const struct origin_pool *p);

#endif
