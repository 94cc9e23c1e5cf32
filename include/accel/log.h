/* log.h - the error log (leveled, one line per event, "2026-11-29T19:37:29.123Z [warn] ...")
 * and the access log (combined format plus request time and upstream status). Both are plain
 * files opened O_APPEND and written with one write() per line, so any thread may log without a
 * lock. log_reopen() (SIGUSR1) reopens both paths in place: the fds other threads use stay
 * valid (dup2), so rotation needs no coordination. */
#ifndef ACCEL_LOG_H
#define ACCEL_LOG_H

#include <stddef.h>

#include "accel/conf.h"

/* Opens the logs named by <c> (error_log NULL: stderr; access_log NULL: off). Returns 0, or a
 * negative errno with a message on stderr. Called once, before any thread starts. */
int log_open(const struct conf *c);

/* Reopens both files at their configured paths (log rotation). Returns 0 or a negative errno;
 * on failure the old files stay in use and the error is logged to them. */
int log_reopen(void);

/* Closes both logs (back to stderr for errors). */
void log_close(void);

/* Returns 1 when a message of <lvl> would be written. */
int log_enabled(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like log_msg(), at most one line a second for each <key> (a short text naming what repeats:
 * the origin and the kind of error, say): the lines of that key in between are only counted,
 * and the next line that goes out says how many there were. Any thread. */
void log_limited(enum log_level lvl, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes one access log line (<len> bytes, newline included); nothing when off. */
void log_access_line(const char *line, size_t len);
int log_access_enabled(void);

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_DEBUG))                                                            \
            log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                                   \
    } while (0)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
