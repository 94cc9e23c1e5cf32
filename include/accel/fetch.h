/* fetch.h - one origin fetch filling one busy object, on its own: no client reads from it
 * directly, so no client (slow, gone or many) slows it down.
 *
 * A fetch starts inside a client connection's exchange (the first request of a cold key sends
 * it) and is adopted here once its response head has shown the response can be stored: the
 * upstream, the bytes already read and the parser move into a struct fetch, which reads the
 * rest of the body into the object, completes it (or fails it) and gives the upstream back to
 * the pool. It lives on the worker that started it and is freed when it ends. */
#ifndef ACCEL_FETCH_H
#define ACCEL_FETCH_H

#include <stddef.h>

#include "accel/http.h"
#include "accel/obj.h"
#include "accel/origin.h"

struct worker;
struct fetch;

/* What the exchange hands over: the upstream, its input buffer (owned; <pos> bytes of <len>
 * parsed) and its response parser, paused right after the head. */
struct fetch_handover {
    struct upstream *up;
    char *in;
    size_t len, cap, pos;
    struct http_parser *resp; /* copied; the caller must not use it afterwards */
};

/* Adopts the exchange in <h> to fill <o> (the fetch takes its own reference). Takes ownership
 * of h->up and h->in and clears them. Returns at once; the rest runs on <w>'s loop. */
void fetch_adopt(struct worker *w, struct obj *o, struct fetch_handover *h);

/* Fails and frees every fetch of <w> (worker shutdown). */
void fetch_abort_all(struct worker *w);

#endif
