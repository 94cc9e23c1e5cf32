/* base.h - what every module of accel shares: assert macros that stay on in release builds,
 * container_of, countof, xmalloc (aborts on failure) and struct span, a view of bytes owned
 * by someone else. Included by src/ and cache/ alike; depends on nothing of ours. */
#ifndef ACCEL_BASE_H
#define ACCEL_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ACCEL_VERSION "0.1.0"

/* A view of <len> bytes at <p>, owned elsewhere; not NUL-terminated. */
struct span {
    const char *p;
    size_t len;
};

/* One header field as views into someone else's bytes: the currency between src/ and cache/. */
struct field {
    struct span name, value;
};

/* Prints "<file>:<line>: <what>" and aborts. The single panic path behind the macros below. */
_Noreturn void base_panic(const char *file, int line, const char *what);

#define AN(x)                                                                                      \
    do {                                                                                           \
        if (!(x))                                                                                  \
            base_panic(__FILE__, __LINE__, "AN(" #x ")");                                          \
    } while (0)
#define AZ(x)                                                                                      \
    do {                                                                                           \
        if ((x) != 0)                                                                              \
            base_panic(__FILE__, __LINE__, "AZ(" #x ")");                                          \
    } while (0)
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            base_panic(__FILE__, __LINE__, "CHECK(" #x ")");                                       \
    } while (0)
#define CHECK_OBJ(o, m)                                                                            \
    do {                                                                                           \
        if ((o) == NULL || (o)->magic != (m))                                                      \
            base_panic(__FILE__, __LINE__, "CHECK_OBJ(" #o ", " #m ")");                           \
    } while (0)

#define countof(a)            (sizeof(a) / sizeof((a)[0]))
#define container_of(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

/* malloc/calloc/realloc that abort on failure: the byte budgets bound our memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n);

/* Returns 1 when <s> equals the NUL-terminated <lit>, ignoring ASCII case. */
int span_eq_ci(struct span s, const char *lit);
static inline struct span span_of(const char *p, size_t len)
{
    struct span s = {p, len};
    return s;
}
/* Returns <s> with leading and trailing spaces and tabs removed. */
struct span span_trim(struct span s);

/* A growable byte buffer: bytes [off, len) are pending, [0, off) already consumed. Grows by
 * doubling; the owner enforces any cap before appending. */
struct buf {
    char *p;
    size_t off, len, cap;
};

void buf_reserve(struct buf *b, size_t more);
void buf_append(struct buf *b, const void *p, size_t n);
static inline void buf_append_span(struct buf *b, struct span s)
{
    buf_append(b, s.p, s.len);
}
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the decimal form of <v> (a minus sign first when <neg>): cheaper than buf_printf on
 * hot paths. */
void buf_append_u64(struct buf *b, uint64_t v);
void buf_append_i64(struct buf *b, int64_t v);
/* Bytes pending. */
static inline size_t buf_pending(const struct buf *b)
{
    return b->len - b->off;
}
/* Marks <n> pending bytes consumed; when none are left, resets to empty. */
void buf_consume(struct buf *b, size_t n);
/* Moves the pending bytes to the start. */
void buf_compact(struct buf *b);
void buf_free(struct buf *b);

#endif
