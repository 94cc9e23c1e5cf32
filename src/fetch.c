/* fetch.c - an origin fetch that fills a busy object on its own.
 *
 * Adopted from a client exchange after the response head (see fetch.h), it owns the upstream,
 * the input buffer, the parser and one reference to the object. It reads as fast as the origin
 * sends (readers never push back: they stream from the object), appends each body piece to the
 * object, and finishes the object exactly once: complete when the parser says the message
 * ended, failed on an origin error, a timeout, or a body past max_object_size. Then it gives
 * the upstream back to the pool (or closes it) and frees itself. Everything runs on the loop of
 * the worker that adopted it; the worker's list of fetches lets shutdown abort them. */
#include "accel/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accel/cache.h"
#include "accel/gz.h"
#include "accel/log.h"
#include "accel/worker.h"

#define FETCH_MAGIC 0x66657463u

struct fetch {
    unsigned magic;
    struct worker *w;
    const struct conf *conf;       /* pinned for the fetch's life */
    const struct conf_server *srv; /* the server it reads from (in conf) */
    struct obj *obj;
    struct origin_conn *up;
    char *in;
    size_t len, cap, pos;
    struct http_parser resp;
    int kick; /* parse once more without new bytes */
    int eof, err;
    uint64_t max;
    struct store_filter sf;
    double t_origin;
    ev_timer timer;
    struct fetch *prev, *next;
};

static void on_fetch_io(struct origin_conn *u, int revents);
static void fetch_run(struct fetch *f);

struct sink_ctx {
    struct cache *c;
    struct obj *o;
    struct store_filter *sf; /* compressed output: gathered into whole chunks */
};

static void to_obj(void *arg, const void *p, size_t n)
{
    struct sink_ctx *s = arg;

    if (s->sf != NULL) {
        /* The compressor hands out small pieces, and the length of the whole is unknown:
         * appended as they come, each would take a chunk of OBJ_CHUNK_MIN bytes. */
        buf_append(&s->sf->pend, p, n);
        if (s->sf->pend.len < OBJ_CHUNK_MIN)
            return;
        p = s->sf->pend.p;
        n = s->sf->pend.len;
        s->sf->pend.len = 0;
    }
    obj_append(s->o, p, n);
    cache_grow(s->c, s->o, n);
}

/* Feeds <n> bytes of the origin's gzip to the checker; 0, or -1 when they are not gzip. */
static int check_gzip(struct gz_dec *d, const void *p, size_t n)
{
    char scratch[16 * 1024];

    while (n > 0) {
        size_t out;
        int rc = gz_dec_run(d, &p, &n, scratch, sizeof(scratch), &out);

        if (rc < 0)
            return -1;
        if (rc == 1)
            return n == 0 ? 0 : -1; /* bytes after the end of the stream */
    }
    return 0;
}

static void store_bad(struct cache *c, struct obj *o, struct store_filter *sf, const char *why)
{
    struct span key = obj_key(o);

    if (sf->bad)
        return;
    sf->bad = 1;
    log_warn("%.*s: %s: passed through, not stored", (int)(key.len > 200 ? 200 : key.len), key.p,
             why);
    cache_remove(c, o);
}

void store_body(struct cache *c, struct obj *o, struct store_filter *sf, const void *p, size_t n)
{
    struct sink_ctx s = {.c = c, .o = o};

    if (sf->enc != NULL && !sf->bad) {
        s.sf = sf;
        if (gz_enc_write(sf->enc, p, n, 0, to_obj, &s) < 0)
            store_bad(c, o, sf, "compression failed");
        return;
    }
    if (sf->check != NULL && !sf->bad && check_gzip(sf->check, p, n) < 0)
        store_bad(c, o, sf, "the origin's gzip body is corrupt");
    to_obj(&s, p, n);
}

int store_finish(struct cache *c, struct obj *o, struct store_filter *sf)
{
    struct sink_ctx s = {.c = c, .o = o};
    const void *none = "";
    size_t zero = 0, out;
    char scratch[1];

    if (sf->enc != NULL && !sf->bad) {
        s.sf = sf;
        if (gz_enc_write(sf->enc, NULL, 0, 1, to_obj, &s) < 0) {
            store_bad(c, o, sf, "compression failed");
        } else {
            obj_set_identity_len(o, gz_enc_total_in(sf->enc));
            obj_append_last(o, sf->pend.p, sf->pend.len);
            cache_grow(c, o, sf->pend.len);
            sf->pend.len = 0;
        }
    }
    if (sf->check != NULL && !sf->bad) {
        if (gz_dec_run(sf->check, &none, &zero, scratch, 0, &out) != 1)
            store_bad(c, o, sf, "the origin's gzip body is truncated");
        else
            obj_set_identity_len(o, gz_dec_total_out(sf->check));
    }
    store_filter_fini(sf);
    return sf->bad ? -1 : 0;
}

void store_filter_fini(struct store_filter *sf)
{
    gz_enc_free(&sf->enc);
    gz_dec_free(&sf->check);
    buf_free(&sf->pend);
}

static void unlink_fetch(struct fetch *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        f->w->fetches = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
}

/* Finishes the object and frees the fetch. */
static void fetch_end(struct fetch *f, enum obj_state st, const char *why)
{
    struct worker *w = f->w;

    CHECK_OBJ(f, FETCH_MAGIC);
    ev_timer_stop(w->loop, &f->timer);
    if (st == OBJ_COMPLETE) {
        int stored = store_finish(w->cache, f->obj, &f->sf) == 0;

        obj_finish(f->obj, OBJ_COMPLETE);
        stats_hist_observe(&w->stats.origin_time, ev_now(w->loop) - f->t_origin);
        if (stored)
            cache_complete(w->cache, f->obj);
        if (f->up != NULL && (f->resp.head.flags & HTTP_F_KEEPALIVE) && f->pos == f->len &&
            !f->eof && !f->err)
            origin_put(&f->up);
    } else {
        char key[128];
        struct span k = obj_key(f->obj);

        snprintf(key, sizeof(key), "fetch failed: %s", why);
        log_limited(LOG_LVL_WARN, key, "origin %s: fetch of %.*s failed: %s", f->srv->addr.text,
                    (int)(k.len > 200 ? 200 : k.len), k.p, why);
        atomic_fetch_add_explicit(&w->stats.origin_errors, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(strcmp(why, "origin timeout") == 0
                                      ? &w->stats.origin_err_timeout
                                      : &w->stats.origin_err_response,
                                  1, memory_order_relaxed);
        cache_remove(w->cache, f->obj);
        obj_finish(f->obj, OBJ_FAILED);
    }
    store_filter_fini(&f->sf);
    origin_close(&f->up);
    unlink_fetch(f);
    obj_unref(&f->obj);
    conf_unref(&f->conf);
    http_parser_fini(&f->resp);
    free(f->in);
    f->magic = 0;
    free(f);
}

static int on_fetch_body(void *ctx, const char *p, size_t n)
{
    struct fetch *f = ctx;
    uint64_t had = obj_avail(f->obj);

    if (had + n > f->max) {
        f->resp.err_status = 502;
        f->resp.err_reason = "body larger than max_object_size";
        return -1;
    }
    store_body(f->w->cache, f->obj, &f->sf, p, n);
    return 0;
}

static void on_fetch_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct fetch *f = t->data;

    (void)loop;
    (void)revents;
    fetch_end(f, OBJ_FAILED, "origin timeout");
}

void fetch_adopt(struct worker *w, struct obj *o, struct fetch_handover *h)
{
    struct fetch *f = xcalloc(1, sizeof(*f));

    f->magic = FETCH_MAGIC;
    f->w = w;
    f->obj = obj_ref(o);
    f->up = h->up;
    f->in = h->in;
    f->len = h->len;
    f->cap = h->cap;
    f->pos = h->pos;
    f->sf = h->sf;
    f->t_origin = h->t_origin;
    h->up = NULL;
    h->in = NULL;
    h->sf = (struct store_filter){0};
    /* The parser holds a pointer to itself (llhttp's data) and its header array: move both. */
    f->resp = *h->resp;
    f->resp.ll.data = &f->resp;
    f->resp.on_body = on_fetch_body;
    f->resp.ctx = f;
    h->resp->head.hdrs = NULL;
    f->kick = 1;
    f->max = cache_conf_of(w->cache)->max_object_size;
    f->up->on_event = on_fetch_io;
    f->up->user = f;
    ev_init(&f->timer, on_fetch_timeout);
    f->timer.data = f;
    f->conf = conf_ref(h->conf);
    f->srv = h->srv;
    f->timer.repeat = (double)f->conf->origin_timeout / 1000.0;
    ev_timer_again(w->loop, &f->timer);
    f->next = w->fetches;
    if (w->fetches != NULL)
        w->fetches->prev = f;
    w->fetches = f;
    fetch_run(f);
}

/* Parses what is buffered; returns 1 when the fetch ended (and is freed). */
static int fetch_parse(struct fetch *f)
{
    while (f->pos < f->len || f->kick) {
        size_t used;
        enum http_ev ev;

        f->kick = 0;
        ev = http_parse(&f->resp, f->in + f->pos, f->len - f->pos, &used);
        f->pos += used;
        if (ev == HTTP_EV_DONE) {
            fetch_end(f, OBJ_COMPLETE, NULL);
            return 1;
        }
        if (ev == HTTP_EV_ERROR) {
            fetch_end(f, OBJ_FAILED, f->resp.err_reason ? f->resp.err_reason : "bad response");
            return 1;
        }
    }
    f->pos = f->len = 0;
    if (f->eof || f->err) {
        enum http_ev ev = f->err ? HTTP_EV_ERROR : http_finish(&f->resp);

        if (ev == HTTP_EV_DONE)
            fetch_end(f, OBJ_COMPLETE, NULL);
        else
            fetch_end(f, OBJ_FAILED, f->err ? strerror(f->err) : "connection closed early");
        return 1;
    }
    return 0;
}

static void fetch_run(struct fetch *f)
{
    if (fetch_parse(f))
        return;
    origin_want(f->up, 1, 0);
}

static void on_fetch_io(struct origin_conn *u, int revents)
{
    struct fetch *f = u->user;

    CHECK_OBJ(f, FETCH_MAGIC);
    if (!(revents & EV_READ))
        return;
    for (;;) {
        ssize_t n = transport_read(&u->t, f->in + f->len, f->cap - f->len);

        if (n > 0) {
            f->len += (size_t)n;
            ev_timer_again(f->w->loop, &f->timer);
            if (f->len < f->cap)
                continue;
        } else if (n == 0) {
            f->eof = 1;
        } else if (n != -EAGAIN) {
            f->err = (int)-n;
        }
        break;
    }
    fetch_run(f);
}

void fetch_abort_all(struct worker *w)
{
    while (w->fetches != NULL)
        fetch_end(w->fetches, OBJ_FAILED, "shutting down");
}
