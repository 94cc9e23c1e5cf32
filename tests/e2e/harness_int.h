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

#endif
