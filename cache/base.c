/* base.c - the panic path behind the assert macros, the allocators that abort on failure and
 * the few span helpers every module needs. No state. */
#include "accel/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

_Noreturn void base_panic(const char *file, int line, const char *what)
{
    fprintf(stderr, "accel: assertion failed at %s:%d: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

static void *oom(size_t n)
{
    fprintf(stderr, "accel: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom(n * size);
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int span_eq_ci(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

struct span span_trim(struct span s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

void buf_reserve(struct buf *b, size_t more)
{
    size_t need = b->len + more, cap = b->cap ? b->cap : 256;

    if (need <= b->cap)
        return;
    if (b->off > 0 && b->len - b->off + more <= b->cap) {
        buf_compact(b);
        return;
    }
    while (cap < need)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return; /* an empty buffer has no memory yet: memcpy wants a pointer even for 0 */
    buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    buf_reserve(b, 128);
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    AN(n >= 0);
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void buf_consume(struct buf *b, size_t n)
{
    AN(n <= b->len - b->off);
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

void buf_compact(struct buf *b)
{
    if (b->off == 0)
        return;
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void buf_append_u64(struct buf *b, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof(tmp);

    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    buf_append(b, tmp + n, sizeof(tmp) - n);
}

void buf_append_i64(struct buf *b, int64_t v)
{
    if (v < 0) {
        buf_append(b, "-", 1);
        buf_append_u64(b, (uint64_t)0 - (uint64_t)v);
        return;
    }
    buf_append_u64(b, (uint64_t)v);
}
