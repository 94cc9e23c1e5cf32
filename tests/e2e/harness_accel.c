/* harness_accel.c - the real accel binary as a child process: a generated config in a temporary
 * directory, fork/exec in its own process group (killed with the test process through
 * PR_SET_PDEATHSIG should the test die), startup detected from the error log, signals, exit
 * status, RSS and the logs.
 *
 * A struct e2e_accel is registered from start to teardown, which kills the process group if it
 * is still there and frees the struct; the test never frees it. */
#include "harness_int.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ACCEL_BIN
#define ACCEL_BIN "./accel"
#endif

#define START_MS 10000

char *e2e_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct e2e_buf b = {0};
    char tmp[65536];
    size_t n;

    if (f == NULL)
        return NULL;
    e2e_buf_add(&b, "", 0);
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        e2e_buf_add(&b, tmp, n);
    fclose(f);
    if (len != NULL)
        *len = b.len;
    return b.p;
}

/* Returns a copy of the first line of <text> containing <needle>, or NULL. */
static char *find_line(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    const char *s, *e;

    if (hit == NULL)
        return NULL;
    s = hit;
    while (s > text && s[-1] != '\n')
        s--;
    e = strchr(hit, '\n');
    if (e == NULL)
        e = hit + strlen(hit);
    return e2e_xstrndup(s, (size_t)(e - s));
}

/* Returns a copy of the first line of <text> containing <needle> but not <unless>, or NULL. */
static char *find_line_unless(const char *text, const char *needle, const char *unless)
{
    for (;;) {
        char *line = find_line(text, needle);
        const char *eol;

        if (line == NULL || strstr(line, unless) == NULL)
            return line;
        free(line);
        eol = strchr(strstr(text, needle), '\n');
        if (eol == NULL)
            return NULL;
        text = eol + 1;
    }
}

char *e2e_wait_line(const char *path, const char *needle, int ms)
{
    uint64_t deadline = e2e_now_ms() + (uint64_t)ms;

    for (;;) {
        char *text = e2e_read_file(path, NULL);
        char *line = text ? find_line(text, needle) : NULL;

        free(text);
        if (line != NULL)
            return line;
        if (e2e_now_ms() >= deadline)
            return NULL;
        e2e_sleep_ms(10);
    }
}

/* Maps a wait status to the exit code, or 128 + signal. */
static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Reaps <a> if it has ended; returns 1 when it has. */
static int reap(struct e2e_accel *a, int block)
{
    int st;
    pid_t r;

    if (a->exited)
        return 1;
    do {
        r = waitpid(a->pid, &st, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == a->pid) {
        a->exited = 1;
        a->status = st;
        return 1;
    }
    if (r < 0) { /* not our child any more: nothing to wait for */
        a->exited = 1;
        a->status = 0;
        return 1;
    }
    return 0;
}

/* Forks and execs ACCEL_BIN with <argv> (argv[0] included), stdin from /dev/null, stdout and
 * stderr to the files given; the child gets its own process group and dies with us. */
static pid_t spawn(char *const *argv, const char *out_path, const char *err_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();

    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (in < 0 || out < 0 || err < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        signal(SIGPIPE, SIG_DFL);
        execv(ACCEL_BIN, argv);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

struct e2e_accel *e2e_accel_start(const char *extra, int origin_port)
{
    struct e2e_accel *a = e2e_xmalloc(sizeof(*a));
    const char *dir = e2e_tmpdir();
    char conf[4096], path[256], origin_line[64] = "";
    char *argv[4];
    char *ready, *listen_line, *p;
    uint64_t deadline;
    int own_workers;

    memset(a, 0, sizeof(*a));
    snprintf(a->dir, sizeof(a->dir), "%s", dir);
    snprintf(a->error_log, sizeof(a->error_log), "%s/error.log", dir);
    snprintf(a->access_log, sizeof(a->access_log), "%s/access.log", dir);
    snprintf(a->stderr_path, sizeof(a->stderr_path), "%s/stderr.log", dir);
    if (origin_port >= 0)
        snprintf(origin_line, sizeof(origin_line), "origin 127.0.0.1:%d\n", origin_port);
    /* two workers unless <extra> says how many */
    own_workers = extra != NULL &&
                  (strncmp(extra, "workers ", 8) == 0 || strstr(extra, "\nworkers ") != NULL);
    snprintf(conf, sizeof(conf),
             "listen 127.0.0.1:0\n"
             "%s"
             "%s"
             "error_log %s debug\n"
             "access_log %s\n"
             "%s\n",
             own_workers ? "" : "workers 2\n", origin_line, a->error_log, a->access_log,
             extra ? extra : "");
    e2e_write_file(dir, "accel.conf", conf, a->conf, sizeof(a->conf));

    argv[0] = "accel";
    argv[1] = "-c";
    argv[2] = a->conf;
    argv[3] = NULL;
    snprintf(path, sizeof(path), "%s/stdout.log", dir);
    a->pid = spawn(argv, path, a->stderr_path);
    e2e_reg_accel(a, 1);

    deadline = e2e_now_ms() + START_MS;
    for (;;) {
        char *text = e2e_read_file(a->error_log, NULL);

        ready = text ? find_line(text, "accel ready") : NULL;
        /* the plain listener: a TLS one says "(tls)" */
        listen_line = text ? find_line_unless(text, "listening on 127.0.0.1:", "(tls)") : NULL;
        free(text);
        if (ready != NULL)
            break;
        free(listen_line);
        if (reap(a, 0)) {
            char *err = e2e_read_file(a->stderr_path, NULL);

            cr_assert_fail("accel exited during startup (status %d); stderr:\n%s",
                           exit_code(a->status), err ? err : "");
        }
        if (e2e_now_ms() >= deadline) {
            char *err = e2e_read_file(a->stderr_path, NULL);
            char *log = e2e_read_file(a->error_log, NULL);

            cr_assert_fail("accel not ready after %d ms; stderr:\n%s\nerror log:\n%s", START_MS,
                           err ? err : "", log ? log : "");
        }
        e2e_sleep_ms(10);
    }
    free(ready);
    cr_assert(listen_line != NULL, "no 'listening on 127.0.0.1:<port>' line in %s", a->error_log);
    p = strstr(listen_line, "listening on 127.0.0.1:") + strlen("listening on 127.0.0.1:");
    a->port = (int)strtol(p, NULL, 10);
    free(listen_line);
    cr_assert(a->port > 0 && a->port < 65536, "bad port in the listening line");
    return a;
}

int e2e_accel_admin_port(struct e2e_accel *a, int ms)
{
    static const char needle[] = "admin API on 127.0.0.1:";
    char *line = e2e_wait_line(a->error_log, needle, ms);
    long port;

    if (line == NULL)
        return -1;
    port = strtol(strstr(line, needle) + strlen(needle), NULL, 10);
    free(line);
    return port > 0 && port < 65536 ? (int)port : -1;
}

void e2e_admin_get(int port, const char *token, const char *path, struct e2e_resp *r)
{
    char req[1024];
    int rc;

    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", path, token);
    rc = e2e_request(port, req, r, 0);
    cr_assert_eq(rc, 0, "admin GET %s: rc %d", path, rc);
}

double e2e_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;

    while (p != NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

int e2e_accel_wait_exit(struct e2e_accel *a, int ms)
{
    uint64_t deadline = e2e_now_ms() + (uint64_t)ms;

    while (!reap(a, 0)) {
        if (e2e_now_ms() >= deadline)
            return -ETIMEDOUT;
        e2e_sleep_ms(5);
    }
    return exit_code(a->status);
}

int e2e_accel_stop(struct e2e_accel *a, int ms)
{
    if (!a->exited)
        kill(a->pid, SIGTERM);
    return e2e_accel_wait_exit(a, ms);
}

void e2e_accel_kill(struct e2e_accel *a)
{
    if (a->pid > 0)
        killpg(a->pid, SIGKILL); /* the group: whatever it forked goes too */
    if (!a->exited && a->pid > 0)
        reap(a, 1);
}

int e2e_accel_signal(struct e2e_accel *a, int sig)
{
    if (a->exited)
        return -ESRCH;
    return kill(a->pid, sig) == 0 ? 0 : -errno;
}

int e2e_accel_alive(struct e2e_accel *a)
{
    return !reap(a, 0);
}

long e2e_accel_rss_kb(struct e2e_accel *a)
{
    char path[64];
    char *text, *p;
    long kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)a->pid);
    text = e2e_read_file(path, NULL);
    if (text == NULL)
        return -1;
    p = strstr(text, "VmRSS:");
    if (p != NULL)
        kb = strtol(p + 6, NULL, 10);
    free(text);
    return kb;
}

int e2e_run_accel(const char *const *argv, char **out, char **err)
{
    const char *dir = e2e_tmpdir();
    char out_path[256], err_path[256];
    char *args[16];
    struct e2e_accel a;
    unsigned n = 0;
    int rc;

    args[n++] = "accel";
    for (unsigned i = 0; argv[i] != NULL && n + 1 < sizeof(args) / sizeof(args[0]); i++)
        args[n++] = (char *)argv[i];
    args[n] = NULL;
    snprintf(out_path, sizeof(out_path), "%s/out", dir);
    snprintf(err_path, sizeof(err_path), "%s/err", dir);
    memset(&a, 0, sizeof(a));
    a.pid = spawn(args, out_path, err_path);
    rc = e2e_accel_wait_exit(&a, 10000);
    if (rc == -ETIMEDOUT) {
        killpg(a.pid, SIGKILL);
        reap(&a, 1);
        rc = -1;
    }
    if (out != NULL)
        *out = e2e_read_file(out_path, NULL);
    if (err != NULL)
        *err = e2e_read_file(err_path, NULL);
    return rc;
}

/* Counts the established IPv4 sockets whose local port is <port>; sets *<unread> to how many
 * of them hold received bytes nobody has read. Returns -1 when /proc/net/tcp is unreadable. */
static int count_server_conns(int port, unsigned *unread)
{
    char *text = e2e_read_file("/proc/net/tcp", NULL);
    char *line;
    int n = 0;

    *unread = 0;
    if (text == NULL)
        return -1;
    line = strchr(text, '\n'); /* skip the title line */
    while (line != NULL && *++line != '\0') {
        unsigned lport, st;
        unsigned long txq, rxq;

        /* "  12: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 ..." */
        if (sscanf(line, "%*u: %*x:%x %*x:%*x %x %lx:%lx", &lport, &st, &txq, &rxq) == 4 &&
            (int)lport == port && st == 0x01) {
            n++;
            if (rxq > 0)
                (*unread)++;
        }
        line = strchr(line, '\n');
    }
    free(text);
    return n;
}

int e2e_accel_wait_conns_read(struct e2e_accel *a, unsigned n, int ms)
{
    uint64_t deadline = e2e_now_ms() + (uint64_t)ms;

    for (;;) {
        unsigned unread;
        int have = count_server_conns(a->port, &unread);

        if (have >= 0 && (unsigned)have >= n && unread == 0)
            return 0;
        if (e2e_now_ms() >= deadline)
            return -ETIMEDOUT;
        e2e_sleep_ms(5);
    }
}
