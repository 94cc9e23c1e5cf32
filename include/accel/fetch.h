/* fetch.h - the origin client: the one place where accel talks to an origin server.
 *
 * A fetch sends one request (its head as http_write_request() frames it, the conditional fields
 * of a revalidation, then the request body the caller streams in), reads the response and writes
 * what it reads into a sink: the cache sink (store.h) or the pass sink of a client connection.
 * It retries once on a new connection when a pooled one turns out dead before any response
 * byte (an idempotent request it still holds whole), times out an origin that goes silent, skips
 * interim answers (handing 102/103 to the sink), gives the connection back to the pool after a
 * clean response and frees itself. It lives on the loop of the worker that started it.
 *
 * Callbacks and their contract: a sink is called only from the fetch's own events or from
 * fetch_resume(); never from fetch_start(), fetch_body(), fetch_body_end(), fetch_set_sink() or
 * fetch_cancel(). After done() or fail() the fetch is gone: the sink must drop its pointer.
 * A sink may call fetch_cancel() from inside any of its callbacks (the fetch is freed once the
 * callback returns). */
#ifndef ACCEL_FETCH_H
#define ACCEL_FETCH_H

#include <stddef.h>

#include "accel/http.h"
#include "accel/obj.h"

struct worker;
struct fetch;
struct conf;
struct conf_server;
struct conf_upstream;

enum fetch_next {
    FETCH_GO = 0, /* go on: body bytes follow */
    FETCH_STOP,   /* the sink wants no more: the fetch closes its connection and ends silently */
    FETCH_AGAIN,  /* the sink handed the fetch to another (fetch_set_sink): give it the head */
};

struct fetch_sink_ops {
    /* An interim answer (102, 103...; never 100 or 101) the client may see. May be NULL. */
    void (*interim)(void *ctx, const struct http_head *h);
    /* The final response head; its spans are valid during the call only. */
    enum fetch_next (*head)(void *ctx, struct fetch *f, const struct http_head *h);
    /* How many more body bytes the sink takes now; 0 pauses the fetch until fetch_resume().
     * NULL: no limit (the cache sink). Asked only after head(). */
    size_t (*room)(void *ctx);
    /* Body bytes. <p> stays valid until the next flush() (or done()/fail(): a fail() right after
     * body() comes without a flush(), so that nothing of a broken answer need have gone out).
     * Returns 0, or -1 to fail the fetch with 502 <*why>. */
    int (*body)(void *ctx, const char *p, size_t n, const char **why);
    /* After each batch of body(): the sink copies or writes what it still points to. May be
     * NULL. */
    void (*flush)(void *ctx);
    /* The response is complete. */
    void (*done)(void *ctx);
    /* The exchange failed: <status> 502 or 504 for an answer of accel's own, <why> for it and
     * the logs. */
    void (*fail)(void *ctx, unsigned status, const char *why);
    /* The origin took what was queued of the request body: fetch_body_room() grew. May be
     * NULL. */
    void (*drained)(void *ctx);
};

struct fetch_req {
    const struct http_head *head; /* the request; read during fetch_start() only */
    const struct http_fwd *fwd;
    const struct obj *stale;        /* a revalidation: its validators become If-None-Match / IMS */
    int body;                       /* a request body follows through fetch_body() */
    const char *client;             /* the client's address, for the error log */
    const struct conf_upstream *up; /* the group to send it to (routed) */
    uint64_t hash;                  /* its place on the group's hash ring (route_hash) */
};

/* Starts <r> towards a server of r->up (upstream_pick) of <conf> (which the fetch pins),
 * delivering into <ops>/<ctx>. When no server of the group is up, the sink gets fail() with
 * 503 from the loop. A request that failed on one server before any byte of its answer is
 * tried once on another when that is safe (idempotent, or never sent). Returns NULL when not
 * even a socket could be made (logged; the caller answers 502). */
struct fetch *fetch_start(struct worker *w, const struct conf *conf, const struct fetch_req *r,
                          const struct fetch_sink_ops *ops, void *ctx);

/* Hands the fetch to another sink (from inside head(), returning FETCH_AGAIN). */
void fetch_set_sink(struct fetch *f, const struct fetch_sink_ops *ops, void *ctx);

/* The sink has room again after room() said 0: parses what is buffered (calling the sink) and
 * reads on. */
void fetch_resume(struct fetch *f);

/* Request body: room for more (bytes queued below the high mark), a piece (framed as the request
 * said: chunked or as is), the end. Once the origin stops reading, pieces are dropped. */
size_t fetch_body_room(const struct fetch *f);
void fetch_body(struct fetch *f, const char *p, size_t n);
void fetch_body_end(struct fetch *f);

/* Ends the fetch without any further callback; the origin connection is closed. *<fp> = NULL. */
void fetch_cancel(struct fetch **fp);

/* Fails every fetch of <w> (worker shutdown): each sink gets fail(). */
void fetch_abort_all(struct worker *w);

#endif
