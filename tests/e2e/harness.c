/* harness.c - the common part of the e2e harness: header lists, the body pattern, the registry
 * of what a test started (origins, accel processes, bound sockets, temporary directories) and
 * the teardown that cleans all of it, whether the test passed or failed.
 *
 * The registry is only touched from the test's own thread. Criterion runs each test in its own
 * process, so the registry starts empty for every test. */
#include "harness_int.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define REG_MAX 64

static struct e2e_origin *reg_origins[REG_MAX];
static struct e2e_accel *reg_accels[REG_MAX];
static int reg_fds[REG_MAX];
static unsigned n_fds;
static char reg_dirs[REG_MAX][64];
static unsigned n_dirs;
static int exit_hook_set;

void *e2e_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

void *e2e_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        abort();
    return q;
}

char *e2e_xstrndup(const char *s, size_t n)
{
    char *p = e2e_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void e2e_buf_add(struct e2e_buf *b, const void *p, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->p = e2e_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = '\0';
}

/* ---- header lists ---------------------------------------------------------------------------- */

void e2e_hdrs_add(struct e2e_hdrs *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->v = e2e_xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    h->v[h->n].name = e2e_xstrndup(name, nlen);
    h->v[h->n].value = e2e_xstrndup(value, vlen);
    h->n++;
}

const char *e2e_hdrs_get(const struct e2e_hdrs *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            return h->v[i].value;
    return NULL;
}

unsigned e2e_hdrs_count(const struct e2e_hdrs *h, const char *name)
{
    unsigned n = 0;

    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            n++;
    return n;
}

int e2e_hdrs_has_token(const struct e2e_hdrs *h, const char *name, const char *token)
{
    size_t tl = strlen(token);

    for (size_t i = 0; i < h->n; i++) {
        const char *s = h->v[i].value;

        if (strcasecmp(h->v[i].name, name) != 0)
            continue;
        while (*s != '\0') {
            const char *e;
            size_t l;

            while (*s == ' ' || *s == '\t' || *s == ',')
                s++;
            e = s;
            while (*e != '\0' && *e != ',')
                e++;
            l = (size_t)(e - s);
            while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t'))
                l--;
            if (l == tl && strncasecmp(s, token, tl) == 0)
                return 1;
            s = e;
        }
    }
    return 0;
}

void e2e_hdrs_free(struct e2e_hdrs *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    memset(h, 0, sizeof(*h));
}

/* ---- pattern --------------------------------------------------------------------------------- */

#define PATTERN_PERIOD 65521u

uint8_t e2e_pattern_byte(uint64_t off)
{
    uint32_t k = (uint32_t)(off % PATTERN_PERIOD);

    /* A cheap hash of the position: every byte value occurs, neighbours differ. */
    k = k * 2654435761u;
    return (uint8_t)((k >> 24) ^ (k >> 11));
}

int e2e_pattern_check(uint64_t off, const void *p, size_t len)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < len; i++)
        if (b[i] != e2e_pattern_byte(off + i))
            return 0;
    return 1;
}

/* ---- registry -------------------------------------------------------------------------------- */

static void reg_ptr(void **tab, void *p, int add)
{
    for (unsigned i = 0; i < REG_MAX; i++) {
        if (add && tab[i] == NULL) {
            tab[i] = p;
            return;
        }
        if (!add && tab[i] == p) {
            tab[i] = NULL;
            return;
        }
    }
    if (add)
        abort(); /* more than REG_MAX live objects in one test: a harness misuse */
}

void e2e_reg_origin(struct e2e_origin *o, int add)
{
    reg_ptr((void **)reg_origins, o, add);
}

void e2e_reg_accel(struct e2e_accel *a, int add)
{
    reg_ptr((void **)reg_accels, a, add);
}

void e2e_reg_fd(int fd)
{
    if (n_fds == REG_MAX)
        abort();
    reg_fds[n_fds++] = fd;
}

void e2e_reg_dir(const char *dir)
{
    if (n_dirs == REG_MAX)
        abort();
    snprintf(reg_dirs[n_dirs++], sizeof(reg_dirs[0]), "%s", dir);
}

void e2e_rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[512];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

const char *e2e_tmpdir(void)
{
    char tmpl[64];

    snprintf(tmpl, sizeof(tmpl), "/tmp/accel-e2e-XXXXXX");
    if (mkdtemp(tmpl) == NULL)
        abort();
    e2e_reg_dir(tmpl);
    return reg_dirs[n_dirs - 1];
}

void e2e_write_file(const char *dir, const char *name, const char *text, char *path, size_t len)
{
    FILE *f;

    snprintf(path, len, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs(text, f);
    fclose(f);
}

static void at_exit(void)
{
    e2e_teardown();
}

void e2e_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!exit_hook_set) {
        atexit(at_exit);
        exit_hook_set = 1;
    }
}

void e2e_teardown(void)
{
    for (unsigned i = 0; i < REG_MAX; i++) {
        if (reg_accels[i] != NULL) {
            struct e2e_accel *a = reg_accels[i];

            e2e_accel_kill(a);
            reg_accels[i] = NULL;
            free(a);
        }
    }
    for (unsigned i = 0; i < REG_MAX; i++) {
        if (reg_origins[i] != NULL) {
            struct e2e_origin *o = reg_origins[i];

            e2e_origin_stop(&o); /* unregisters itself */
            reg_origins[i] = NULL;
        }
    }
    for (unsigned i = 0; i < n_fds; i++)
        close(reg_fds[i]);
    n_fds = 0;
    /* E2E_KEEP=1 keeps the temporary directories (configs, logs) to look at after a failure */
    for (unsigned i = 0; i < n_dirs; i++) {
        if (getenv("E2E_KEEP") != NULL)
            fprintf(stderr, "e2e: kept %s\n", reg_dirs[i]);
        else
            e2e_rm_dir(reg_dirs[i]);
    }
    n_dirs = 0;
}

/* ---- time ------------------------------------------------------------------------------------ */

uint64_t e2e_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void e2e_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
