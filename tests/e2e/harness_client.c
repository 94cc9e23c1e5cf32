/* harness_client.c - test clients: one TCP connection each (non-blocking socket, every wait
 * through poll() with a deadline), raw sends, and responses parsed with llhttp in response mode.
 * A TLS client (harness_tls.c) sends and receives through its SSL, waiting for what SSL asks
 * (WANT_READ / WANT_WRITE) under the same deadlines.
 *
 * A client keeps the bytes it received and has not parsed yet, so pipelined responses are read
 * one after another: the parser pauses in on_message_complete and the rest stays in the buffer.
 * A struct e2e_resp owns its parser, so a body can be read in several steps (slow clients). */
#include "harness_int.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (256u * 1024u)

struct rparse {
    llhttp_t p;
    struct e2e_buf field, value;
    struct e2e_resp *r;
};

static llhttp_settings_t resp_settings;
static int resp_settings_ready;

/* ---- connections ----------------------------------------------------------------------------- */

/* A client to 127.0.0.1:<port>; from <src> (an IPv4 address) when it is not NULL. */
static struct e2e_client *client_new(int port, int rcvbuf, const char *src)
{
    struct sockaddr_in sin = {.sin_family = AF_INET}, from = {.sin_family = AF_INET};
    struct e2e_client *c;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, e;

    if (fd < 0)
        return NULL;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (src != NULL && (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
                        bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0)) {
        e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c = e2e_xmalloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    return c;
}

struct e2e_client *e2e_client_new_rcvbuf(int port, int rcvbuf)
{
    return client_new(port, rcvbuf, NULL);
}

struct e2e_client *e2e_client_new(int port)
{
    return client_new(port, 0, NULL);
}

struct e2e_client *e2e_client_new_from(int port, const char *src)
{
    return client_new(port, 0, src);
}

void e2e_client_free(struct e2e_client **cp)
{
    struct e2e_client *c = *cp;

    if (c == NULL)
        return;
    *cp = NULL;
    if (c->ssl != NULL || c->ssl_ctx != NULL)
        e2e_tls_client_close(c);
    close(c->fd);
    free(c->buf);
    free(c);
}

void e2e_clients_open(int port, unsigned n, struct e2e_client **out)
{
    for (unsigned i = 0; i < n; i++) {
        out[i] = e2e_client_new(port);
        cr_assert_not_null(out[i], "connection %u of %u to port %d: %s", i, n, port,
                           strerror(errno));
    }
}

void e2e_clients_free(struct e2e_client **cs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        e2e_client_free(&cs[i]);
}

static int remaining(uint64_t deadline)
{
    uint64_t now = e2e_now_ms();

    return now >= deadline ? 0 : (int)(deadline - now);
}

int e2e_client_send(struct e2e_client *c, const void *p, size_t len)
{
    const char *b = p;
    uint64_t deadline = e2e_now_ms() + E2E_TIMEOUT_MS;

    while (len > 0) {
        ssize_t n;

        if (c->ssl != NULL) {
            struct pollfd pfd = {c->fd, 0, 0};
            long t = e2e_tls_write(c, b, len, &pfd.events);

            if (t > 0) {
                b += t;
                len -= (size_t)t;
                continue;
            }
            if (t != -EAGAIN)
                return (int)t;
            if (poll(&pfd, 1, remaining(deadline)) == 0)
                return -ETIMEDOUT;
            continue;
        }
        n = send(c->fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {c->fd, POLLOUT, 0};

            if (poll(&pfd, 1, remaining(deadline)) == 0)
                return -ETIMEDOUT;
            continue;
        }
        return errno == EPIPE ? -EPIPE : -ECONNRESET;
    }
    return 0;
}

int e2e_client_sends(struct e2e_client *c, const char *s)
{
    return e2e_client_send(c, s, strlen(s));
}

void e2e_client_shutdown_wr(struct e2e_client *c)
{
    if (c->ssl != NULL) {
        e2e_tls_shutdown_wr(c);
        return;
    }
    shutdown(c->fd, SHUT_WR);
}

/* Reads once, waiting until <deadline>; appends to c->buf. Returns >0 bytes, 0 at EOF (sets
 * c->eof), -ETIMEDOUT. */
static int fill(struct e2e_client *c, uint64_t deadline)
{
    for (;;) {
        ssize_t n;
        struct pollfd pfd = {c->fd, POLLIN, 0};

        if (c->eof)
            return 0;
        if (c->len + READ_SIZE > c->cap) {
            c->cap = c->len + READ_SIZE;
            c->buf = e2e_xrealloc(c->buf, c->cap + 1);
        }
        if (c->ssl != NULL) {
            long t = e2e_tls_read(c, c->buf + c->len, READ_SIZE, &pfd.events);

            if (t > 0) {
                c->len += (size_t)t;
                c->bytes_in += (uint64_t)t;
                c->buf[c->len] = '\0';
                return (int)t;
            }
            if (t == 0)
                return 0; /* c->eof is set */
            if (poll(&pfd, 1, remaining(deadline)) == 0)
                return -ETIMEDOUT;
            continue;
        }
        n = recv(c->fd, c->buf + c->len, READ_SIZE, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            c->bytes_in += (uint64_t)n;
            c->buf[c->len] = '\0';
            return (int)n;
        }
        if (n == 0) {
            c->eof = 1;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            c->eof = 1;
            c->reset = errno == ECONNRESET;
            return 0;
        }
        if (poll(&pfd, 1, remaining(deadline)) == 0)
            return -ETIMEDOUT;
    }
}

int e2e_client_wait_closed(struct e2e_client *c, int ms)
{
    uint64_t deadline = e2e_now_ms() + (uint64_t)ms;

    while (!c->eof)
        if (fill(c, deadline) == -ETIMEDOUT)
            return 0;
    return 1;
}

char *e2e_client_read_all(struct e2e_client *c, size_t *len, int ms)
{
    char *s;

    e2e_client_wait_closed(c, ms);
    s = e2e_xstrndup(c->buf ? c->buf : "", c->len);
    if (len != NULL)
        *len = c->len;
    c->len = 0;
    return s;
}

/* ---- responses ------------------------------------------------------------------------------- */

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct rparse *rp = p->data;

    e2e_buf_add(&rp->field, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct rparse *rp = p->data;

    e2e_buf_add(&rp->value, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct rparse *rp = p->data;

    e2e_hdrs_add(&rp->r->hdrs, rp->field.p ? rp->field.p : "", rp->field.len,
                 rp->value.p ? rp->value.p : "", rp->value.len);
    rp->field.len = 0;
    rp->value.len = 0;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct rparse *rp = p->data;
    struct e2e_resp *r = rp->r;

    r->status = llhttp_get_status_code(p);
    r->major = llhttp_get_http_major(p);
    r->minor = llhttp_get_http_minor(p);
    r->head_done = 1;
    if ((r->flags & E2E_RESP_HEAD) && r->status >= 200)
        return 1; /* no body follows a response to HEAD */
    return 0;
}

static int on_chunk_header(llhttp_t *p)
{
    struct rparse *rp = p->data;

    rp->r->chunked = 1;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct rparse *rp = p->data;
    struct e2e_resp *r = rp->r;

    if (r->flags & E2E_RESP_PATTERN) {
        if (!r->pattern_bad && !e2e_pattern_check(r->body_len, at, len)) {
            size_t i = 0;

            while (i < len && (uint8_t)at[i] == e2e_pattern_byte(r->body_len + i))
                i++;
            r->pattern_bad = 1;
            r->pattern_bad_at = r->body_len + i;
        }
    } else if (r->body_len < r->body_cap) {
        size_t take = len;

        if (r->body_len + take > r->body_cap)
            take = (size_t)(r->body_cap - r->body_len);
        r->body = e2e_xrealloc(r->body, (size_t)r->body_len + take + 1);
        memcpy(r->body + r->body_len, at, take);
        r->body[r->body_len + take] = '\0';
    }
    r->body_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct rparse *rp = p->data;

    rp->r->done = 1;
    rp->r->keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED; /* the bytes after this response belong to the next one */
}

void e2e_resp_init(struct e2e_resp *r, unsigned flags)
{
    struct rparse *rp = e2e_xmalloc(sizeof(*rp));

    if (!resp_settings_ready) {
        llhttp_settings_init(&resp_settings);
        resp_settings.on_header_field = on_header_field;
        resp_settings.on_header_value = on_header_value;
        resp_settings.on_header_value_complete = on_header_value_complete;
        resp_settings.on_headers_complete = on_headers_complete;
        resp_settings.on_chunk_header = on_chunk_header;
        resp_settings.on_body = on_body;
        resp_settings.on_message_complete = on_message_complete;
        resp_settings_ready = 1;
    }
    memset(r, 0, sizeof(*r));
    memset(rp, 0, sizeof(*rp));
    r->flags = flags;
    r->body_cap = E2E_BODY_CAP;
    r->body = e2e_xmalloc(1);
    r->body[0] = '\0';
    rp->r = r;
    llhttp_init(&rp->p, HTTP_RESPONSE, &resp_settings);
    rp->p.data = rp;
    r->parser = rp;
}

void e2e_resp_free(struct e2e_resp *r)
{
    struct rparse *rp = r->parser;

    if (rp != NULL) {
        free(rp->field.p);
        free(rp->value.p);
        free(rp);
    }
    e2e_hdrs_free(&r->hdrs);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int e2e_client_read(struct e2e_client *c, struct e2e_resp *r, uint64_t until_body, int ms)
{
    struct rparse *rp = r->parser;
    uint64_t deadline = e2e_now_ms() + (uint64_t)ms;

    if (r->done)
        return 0;
    for (;;) {
        if (c->len > 0) {
            llhttp_errno_t err = llhttp_execute(&rp->p, c->buf, c->len);
            size_t used = c->len;

            if (err == HPE_PAUSED) {
                used = (size_t)(llhttp_get_error_pos(&rp->p) - c->buf);
            } else if (err != HPE_OK) {
                r->error = llhttp_get_error_reason(&rp->p);
                if (r->error == NULL)
                    r->error = llhttp_errno_name(err);
                return -EBADMSG;
            }
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            if (c->buf != NULL)
                c->buf[c->len] = '\0';
            if (r->done)
                return 0;
            if (until_body > 0 && r->body_len >= until_body)
                return 0;
        }
        if (c->eof) {
            llhttp_errno_t err = llhttp_finish(&rp->p);

            if (r->done)
                return 0;
            if (err != HPE_OK) {
                r->error = llhttp_get_error_reason(&rp->p);
                if (r->error == NULL)
                    r->error = llhttp_errno_name(err);
            }
            return -ECONNRESET;
        }
        if (fill(c, deadline) == -ETIMEDOUT)
            return -ETIMEDOUT;
    }
}

int e2e_client_response(struct e2e_client *c, struct e2e_resp *r, unsigned flags)
{
    e2e_resp_init(r, flags);
    return e2e_client_read(c, r, 0, E2E_TIMEOUT_MS);
}

int e2e_request(int port, const char *req, struct e2e_resp *r, unsigned flags)
{
    struct e2e_client *c = e2e_client_new(port);
    int rc;

    if (c == NULL) {
        e2e_resp_init(r, flags);
        return -ECONNREFUSED;
    }
    rc = e2e_client_sends(c, req);
    if (rc == 0)
        rc = e2e_client_response(c, r, flags);
    else
        e2e_resp_init(r, flags);
    e2e_client_free(&c);
    return rc;
}
