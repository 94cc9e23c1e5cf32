/* conn_int.h - the inside of a client connection, shared by the three files that make up the
 * conn module: conn.c (the client side and the state machine), pass.c (the pass sink: a fetch's
 * response streamed to the client, the request body streamed to the fetch, invalidation) and
 * cachepath.c (cache lookups, the owner's side of a store, delivery from objects, stale
 * content). Nothing outside those
 * files includes it: other modules see a conn only through accel/conn.h. */
#ifndef ACCEL_CONN_INT_H
#define ACCEL_CONN_INT_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/uio.h>

#include <ev.h>

#include "accel/base.h"
#include "accel/cache.h"
#include "accel/conn.h"
#include "accel/deliver.h"
#include "accel/fetch.h"
#include "accel/gz.h"
#include "accel/http.h"
#include "accel/loop.h"
#include "accel/policy.h"
#include "accel/req.h"
#include "accel/route.h"
#include "accel/store.h"
#include "accel/transport.h"
#include "accel/upstream.h"

#define CONN_MAGIC 0x636f6e6eu
#define BUF_HIGH   (64 * 1024) /* most bytes queued towards the client */
#define IN_INITIAL 4096

enum conn_state {
    CONN_HEAD = 0,
    CONN_START,
    CONN_EXCHANGE,
    CONN_ERROR,
    CONN_FLUSH,
    CONN_DONE,
    CONN_DELIVER,
    CONN_HANDSHAKE,
    CONN_WAIT,
};

static const char *const state_names[] = {"head", "start",   "exchange",  "error", "flush",
                                          "done", "deliver", "handshake", "wait"};

enum timer_mode {
    TM_NONE = 0,
    TM_KEEPALIVE,
    TM_HEADER,
    TM_BODY,
    TM_ORIGIN,
    TM_SEND,
    TM_COALESCE,
    TM_HANDSHAKE,
};

/* One request's state: everything that starts afresh with the next request on the connection.
 * It begins as one value and ends as one (txn_end releases what it holds), never field by
 * field. */
struct txn {
    const struct conf *conf;        /* the snapshot this request pinned */
    const struct conf_route *route; /* the route it took (in conf), or NULL: none configured */
    const struct conf_upstream *ug; /* the upstream it goes to (in conf) */
    uint64_t hash;                  /* its place on the upstream's hash ring */
    struct span dhost;              /* the Host when the client sent none: the first server's */

    /* the origin side: the fetch this request streams through (a pass), or the store it owns
     * until the response head (a miss) */
    struct fetch *f;
    struct store *st;
    unsigned pass_err; /* the fetch failed with this status (pass_why): see conn_exchange */
    const char *pass_why;
    struct http_fwd fwd;

    unsigned head_started : 1; /* a byte of the request arrived */
    unsigned head_done : 1;    /* the head parsed well (conn_start() ran) */
    unsigned req_done : 1;     /* the whole request was read */
    unsigned req_ka : 1;       /* the client wants keep-alive */
    unsigned v10 : 1;          /* HTTP/1.0 client */
    unsigned head_req : 1;
    unsigned has_body : 1;
    unsigned resp_head_sent : 1;
    unsigned resp_done : 1;
    unsigned chunk_out : 1;
    unsigned close_after : 1;
    unsigned req_kick : 1; /* parse once more even without new bytes (after a head) */
    unsigned err_status;
    unsigned retry_after; /* seconds, for a 429's Retry-After (0: none) */
    const char *err_msg;
    unsigned status, up_status;
    uint64_t resp_body_out;
    uint64_t out_mark; /* t.bytes_out when this request began */
    uint64_t head_at;  /* where the origin's final head starts, in t.bytes_out terms */
    ev_tstamp t_start;

    /* the cache: the object this request reads (a hit, a busy object it subscribed to, or the
     * one it fills as owner), the delivery walk over it, and the X-Cache/Cache-Status lines */
    struct obj *obj;
    struct deliver dl;
    enum cache_res cres;
    struct req_cache_status cs; /* the verdict, for X-Cache, Cache-Status and the access log */
    char xbuf[160];
    struct cc rcc;
    int64_t t_req;
    unsigned dhead_done : 1; /* the object's head was written */
    unsigned tee : 1;        /* streaming the answer through and into obj (unknown length) */
    struct obj *stale;       /* what a conditional fetch revalidates, what stale-if-error serves */
    struct store_filter sf;  /* a tee's: how origin bytes go into obj */
};

/* A client connection: its socket, parser, output, timers, and the request it serves now. */
struct conn {
    unsigned magic;
    struct worker *w;
    struct conn *prev, *next;
    struct transport t; /* the client side; its bytes_out counts what reached the client */
    ev_io rio, wio;
    ev_timer timer;
    enum timer_mode tmode;
    enum conn_state state;
    int closing;
    char ip[INET6_ADDRSTRLEN];
    struct sockaddr_storage peer;
    unsigned running : 1; /* conn_run() is on the stack: conn_poke() only asks for another turn */
    unsigned rerun : 1;
    unsigned draining : 1;
    unsigned waiting : 1; /* on the worker's list of conns waiting for busy objects */
    unsigned tls : 1;     /* the client speaks TLS (a "listen ... tls" listener) */
    struct conn *wprev, *wnext;

    /* client input */
    char *in;
    size_t in_len, in_cap, in_pos;
    struct http_parser req;
    int client_eof;

    /* client output: <out>, then body pieces still in the fetch's buffer (written without a
     * copy when the socket takes them; copied into <out> when it does not) */
    struct buf out;
    struct iovec ziov[16];
    unsigned n_ziov;
    int wr_err;

    struct txn tx; /* the current request */

    /* scratch kept from one request to the next, so that a request allocates nothing */
    struct buf logreq; /* "request line\0referer\0user-agent\0" copied for the access log */
    struct buf keybuf;
    struct gz_dec *unzip_spare; /* a reset inflater */
    char *zout;                 /* the inflater's output, DELIVER_ZOUT bytes */
};

/* conn.c */
const struct conf *conn_conf(const struct conn *c);
/* "https" when the client came over TLS, else "http": the cache key's scheme. */
static inline const char *conn_scheme(const struct conn *c)
{
    return c->tls ? "https" : "http";
}
void conn_set_timer(struct conn *c, enum timer_mode m, uint64_t ms, int refresh);
void conn_want_client(struct conn *c, int rd, int wr);
int conn_flush_client(struct conn *c, int *progress);
void conn_write_interim(struct conn *c, const struct http_head *h);
enum conn_state conn_fail(struct conn *c, unsigned status, const char *msg);
void conn_run(struct conn *c);
void conn_poke(struct conn *c);

/* pass.c */
extern const struct fetch_sink_ops conn_pass_sink;
int conn_on_req_body(void *ctx, const char *p, size_t n);
enum conn_state conn_start_pass(struct conn *c);
enum conn_state conn_exchange(struct conn *c);

/* h1out.c */
extern const struct ostream_ops conn_h1_ostream;

/* cachepath.c */
void conn_unwait(struct conn *c);
void conn_drop_obj(struct conn *c);
enum conn_state conn_cache_start(struct conn *c);
enum conn_state conn_purge(struct conn *c);
enum conn_state conn_deliver(struct conn *c);
int conn_stale_usable(const struct conn *c);
void conn_serve_stale(struct conn *c);

#endif
