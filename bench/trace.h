/* trace.h - request traces for accel-bench: an access log in the combined log format (what
 * nginx, Apache and accel write; fields after the user agent are ignored, and a line ending after
 * the size, the common log format, is accepted too) or a plain list of "url[ size]" lines, one
 * request a line. Lines that are neither are skipped and counted. */
#ifndef ACCEL_BENCH_TRACE_H
#define ACCEL_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* One request. In a loaded trace t is never negative: an entry logged before the first one gets
 * 0 (Apache logs a request when it starts, so its lines are not quite in order). */
struct trace_entry {
    char *target;  /* origin-form request target ("/path?query"), NUL-terminated, owned */
    uint64_t size; /* response bytes from the log (0: unknown) */
    double t;      /* seconds since the first entry (combined log: its timestamp; lists: 0) */
    int get;       /* 1 for GET (or a plain list line); combined-log lines of other methods: 0 */
};

struct trace {
    struct trace_entry *v;
    size_t n, cap;
    uint64_t lines;   /* lines read */
    uint64_t skipped; /* malformed lines (and empty ones are not counted at all) */
};

/* Parses one line (<len> bytes, no newline): a combined-log line
 *   host ident user [10/Oct/2000:13:55:36 -0700] "GET /a?b HTTP/1.1" 200 2326 "ref" "ua" ...
 * or "URL[ SIZE]" where URL is "/path..." or "http://host/path..." (the host is dropped).
 * Fills *<e> (e->target malloc'd; e->t holds the absolute Unix time for a combined line, 0
 * otherwise). A size of "-" is 0; a fragment ("#...") is dropped; leading and trailing blanks
 * are ignored. Returns 0, or -EINVAL for a line that is neither, -ENOMEM (nothing allocated and
 * *<e> untouched in both cases). */
int trace_parse_line(const char *line, size_t len, struct trace_entry *e);

/* Reads every line of <path> into <t> (zeroed first); times made relative to the first entry.
 * Blank lines and lines starting with '#' (after blanks) are ignored; lines over 64 KiB are
 * skipped. Returns 0, or a negative errno with a message in <err> (a file that cannot be read:
 * its errno; one with no usable line: -EINVAL; -ENOMEM). On failure <t> holds no entry, but its
 * lines and skipped counts stay. The caller frees a loaded <t> with trace_free(). */
int trace_load(const char *path, struct trace *t, char *err, size_t errlen);

/* Frees <t>'s entries and zeroes it; harmless on a zeroed or freed trace. */
void trace_free(struct trace *t);

#endif
