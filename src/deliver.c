/* deliver.c - head rewrite and body walk for one delivery of an object.
 *
 * The body walk relies on the object's layout (obj.h): every chunk but the last is full, so
 * chunk i holds the bytes [sum of the caps before it, + its cap). A chunk's next pointer is
 * followed only when the reader knows bytes exist past the chunk (pos < avail), which the
 * writer published after linking it. */
#include "accel/deliver.h"

#include <inttypes.h>
#include <stdio.h>

void deliver_init(struct deliver *d, struct obj *o)
{
    d->o = o;
    d->pos = 0;
    d->ch = NULL;
    d->ch_start = 0;
}

/* Moves ch to the chunk holding byte pos, when that byte exists (pos < avail). */
static void seek(struct deliver *d, uint64_t avail)
{
    if (d->pos >= avail)
        return;
    if (d->ch == NULL) {
        d->ch = d->o->first;
        d->ch_start = 0;
    }
    while (d->pos >= d->ch_start + d->ch->cap) {
        d->ch_start += d->ch->cap;
        d->ch = d->ch->next;
        AN(d->ch);
    }
}

unsigned deliver_iov(struct deliver *d, uint64_t avail, struct iovec *iov, unsigned max)
{
    const struct obj_chunk *ch;
    uint64_t start, pos = d->pos;
    unsigned n = 0;

    seek(d, avail);
    ch = d->ch;
    start = d->ch_start;
    while (n < max && pos < avail) {
        uint64_t end = start + ch->cap < avail ? start + ch->cap : avail;

        iov[n].iov_base = (void *)(ch->data + (pos - start));
        iov[n].iov_len = (size_t)(end - pos);
        n++;
        pos = end;
        if (pos < avail) {
            start += ch->cap;
            ch = ch->next;
            AN(ch);
        }
    }
    return n;
}

void deliver_advance(struct deliver *d, uint64_t n)
{
    d->pos += n;
}

void deliver_head(struct buf *b, const struct obj *o, int64_t age, uint64_t length, int chunked,
                  int close, int keepalive_10, const char *extra)
{
    int bodiless = o->status == 204 || o->status == 304 || o->status < 200;

    buf_reserve(b, o->head_len + 256);
    buf_append(b, o->head, o->head_len);
    buf_printf(b, "Age: %" PRId64 "\r\n", age < 0 ? 0 : age);
    if (length != OBJ_LEN_UNKNOWN && !bodiless)
        buf_printf(b, "Content-Length: %" PRIu64 "\r\n", length);
    buf_append_str(b, "Via: 1.1 accel\r\n");
    if (extra != NULL)
        buf_append_str(b, extra);
    if (chunked && !bodiless)
        buf_append_str(b, "Transfer-Encoding: chunked\r\n");
    if (close)
        buf_append_str(b, "Connection: close\r\n");
    else if (keepalive_10)
        buf_append_str(b, "Connection: keep-alive\r\n");
    buf_append_str(b, "\r\n");
}
