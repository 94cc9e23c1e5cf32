/* log.c - error and access logs. State is a handful of globals set once by log_open() before the
 * workers start; afterwards only log_reopen() changes the files, and it does so with dup2() onto
 * the same descriptor numbers, so concurrent writers never see a closed fd. Each line goes out
 * in a single write() on an O_APPEND descriptor: lines from different threads never interleave. */
#include "accel/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "accel/base.h"

static int err_fd = STDERR_FILENO;
static int acc_fd = -1;
static enum log_level err_level = LOG_LVL_INFO;
static char *err_path;
static char *acc_path;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static int open_append(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int log_open(const struct conf *c)
{
    int fd;

    err_level = c->error_log_level;
    if (c->error_log != NULL) {
        fd = open_append(c->error_log);
        if (fd < 0) {
            int e = errno;
            fprintf(stderr, "accel: cannot open error_log %s: %s\n", c->error_log, strerror(e));
            return -e;
        }
        err_fd = fd;
        err_path = xstrndup(c->error_log, strlen(c->error_log));
    }
    if (c->access_log != NULL) {
        fd = open_append(c->access_log);
        if (fd < 0) {
            int e = errno;
            fprintf(stderr, "accel: cannot open access_log %s: %s\n", c->access_log, strerror(e));
            return -e;
        }
        acc_fd = fd;
        acc_path = xstrndup(c->access_log, strlen(c->access_log));
    }
    return 0;
}

static int reopen_one(const char *path, int fd)
{
    int nfd = open_append(path);
    int rc = 0;

    if (nfd < 0)
        return -errno;
    if (dup3(nfd, fd, O_CLOEXEC) < 0)
        rc = -errno;
    close(nfd);
    return rc;
}

int log_reopen(void)
{
    int rc = 0, r;

    if (err_path != NULL && (r = reopen_one(err_path, err_fd)) < 0) {
        log_error("cannot reopen error_log %s: %s", err_path, strerror(-r));
        rc = r;
    }
    if (acc_path != NULL && (r = reopen_one(acc_path, acc_fd)) < 0) {
        log_error("cannot reopen access_log %s: %s", acc_path, strerror(-r));
        rc = r;
    }
    if (rc == 0)
        log_info("logs reopened");
    return rc;
}

void log_close(void)
{
    if (err_fd != STDERR_FILENO)
        close(err_fd);
    if (acc_fd >= 0)
        close(acc_fd);
    err_fd = STDERR_FILENO;
    acc_fd = -1;
    free(err_path);
    free(acc_path);
    err_path = acc_path = NULL;
}

int log_enabled(enum log_level lvl)
{
    return lvl >= err_level;
}

/* One line: the prefix, <fmt> with <ap>, then <suffix> (may be empty). */
static void vlog(enum log_level lvl, const char *suffix, const char *fmt, va_list ap)
{
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    int n, m;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ [%s] ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000), level_names[lvl]);
    m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n < sizeof(buf) - 1) {
        m = snprintf(buf + n, sizeof(buf) - (size_t)n - 1, "%s", suffix);
        n += m < 0 ? 0 : m;
    }
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2; /* truncated: still one line */
    buf[n++] = '\n';
    if (write(err_fd, buf, (size_t)n) < 0) {
        /* nowhere left to report it */
    }
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;

    if (lvl < err_level)
        return;
    va_start(ap, fmt);
    vlog(lvl, "", fmt, ap);
    va_end(ap);
}

/* The recent keys of log_limited(): a few slots, the least recently logged one reused. */
#define LIMIT_SLOTS 32
static struct {
    char key[128];
    uint64_t last_ms;
    unsigned suppressed;
} limits[LIMIT_SLOTS];
static pthread_mutex_t limits_mu = PTHREAD_MUTEX_INITIALIZER;

void log_limited(enum log_level lvl, const char *key, const char *fmt, ...)
{
    struct timespec ts;
    uint64_t now;
    unsigned slot = 0, suppressed;
    char suffix[80] = "";
    va_list ap;

    if (lvl < err_level)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1; /* 0: never */
    pthread_mutex_lock(&limits_mu);
    for (unsigned i = 0; i < LIMIT_SLOTS; i++) {
        if (strncmp(limits[i].key, key, sizeof(limits[i].key) - 1) == 0 && limits[i].last_ms != 0) {
            slot = i;
            break;
        }
        if (limits[i].last_ms < limits[slot].last_ms)
            slot = i;
    }
    if (strncmp(limits[slot].key, key, sizeof(limits[slot].key) - 1) != 0 ||
        limits[slot].last_ms == 0) {
        snprintf(limits[slot].key, sizeof(limits[slot].key), "%s", key);
        limits[slot].suppressed = 0;
    } else if (now - limits[slot].last_ms < 1000) {
        limits[slot].suppressed++;
        pthread_mutex_unlock(&limits_mu);
        return;
    }
    suppressed = limits[slot].suppressed;
    limits[slot].suppressed = 0;
    limits[slot].last_ms = now;
    pthread_mutex_unlock(&limits_mu);
    if (suppressed > 0)
        snprintf(suffix, sizeof(suffix), " (and %u more like it since the last such line)",
                 suppressed);
    va_start(ap, fmt);
    vlog(lvl, suffix, fmt, ap);
    va_end(ap);
}

int log_access_enabled(void)
{
    return acc_fd >= 0;
}

void log_access_line(const char *line, size_t len)
{
    if (acc_fd < 0)
        return;
    if (write(acc_fd, line, len) < 0) {
        /* a full disk must not stop the proxy */
    }
}
