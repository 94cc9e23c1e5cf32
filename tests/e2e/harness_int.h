/* harness_int.h - what the harness files share and the tests do not see: the registry of live
 * origins, accel processes, bound sockets and temporary directories that e2e_teardown() cleans,
 * and the small helpers behind the header lists. */
#ifndef ACCEL_E2E_HARNESS_INT_H
#define ACCEL_E2E_HARNESS_INT_H

#include "harness.h"

/* Registry: every object started is registered until it is stopped or freed. */
void e2e_reg_origin(struct e2e_origin *o, int add);
void e2e_reg_accel(struct e2e_accel *a, int add);
void e2e_reg_fd(int fd);
void e2e_reg_dir(const char *dir);
/* Removes <dir> and everything in it (one level of files, as the harness makes them). */
void e2e_rm_dir(const char *dir);

/* Appends a copy of (<name>, <nlen>) = (<value>, <vlen>) to <h>. */
void e2e_hdrs_add(struct e2e_hdrs *h, const char *name, size_t nlen, const char *value,
                  size_t vlen);

/* malloc/realloc that abort on failure. */
void *e2e_xmalloc(size_t n);
void *e2e_xrealloc(void *p, size_t n);
char *e2e_xstrndup(const char *s, size_t n);

/* A growable byte buffer. */
struct e2e_buf {
    char *p;
    size_t len, cap;
};
void e2e_buf_add(struct e2e_buf *b, const void *p, size_t len);

/* The TLS side of a client (harness_tls.c), for harness_client.c. One SSL_write / SSL_read on
 * <c>'s non-blocking socket: the bytes moved (> 0); 0 from the read at the end of the stream
 * (c->eof set, c->reset on a reset); -EAGAIN with the poll events to wait for in *<events>;
 * -EPIPE or -ECONNRESET from the write when the connection is gone. */
long e2e_tls_write(struct e2e_client *c, const void *p, size_t len, short *events);
long e2e_tls_read(struct e2e_client *c, void *p, size_t len, short *events);
/* Sends close_notify (without waiting) and shuts the socket's sending side. */
void e2e_tls_shutdown_wr(struct e2e_client *c);
/* Frees <c>'s SSL and SSL_CTX (after a close_notify, so that its session stays resumable). */
void e2e_tls_client_close(struct e2e_client *c);

#endif
