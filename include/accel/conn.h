/* conn.h - one client connection: read a request, answer it from the cache or through a fetch
 * from the origin, keep the connection alive or close it. Lives and dies on one worker's loop. */
#ifndef ACCEL_CONN_H
#define ACCEL_CONN_H

#include <sys/socket.h>

struct worker;
struct conn;

/* Takes ownership of accepted socket <fd> from peer <sa> and starts serving it on <w>. */
void conn_new(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen, int tls);

/* Asks <c> to close once its current exchange is done; closes it at once when it is idle. */
void conn_drain(struct conn *c);

/* Closes <c> now (idempotent): stops its watchers, closes its sockets, queues it for freeing. */
void conn_close(struct conn *c);

/* Frees the connections <w> closed; run from the worker's ev_prepare hook. */
void conn_free_closed(struct worker *w);

/* Runs every connection of <w> waiting for a busy object (after a wake-up). */
void conn_wake_waiting(struct worker *w);

/* Next connection in <w>'s live list after <c> (NULL at the end). */
struct conn *conn_next(struct conn *c);

#endif
