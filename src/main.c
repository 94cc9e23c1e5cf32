/* main.c - command line, signals and wiring: load the configuration, open the logs, bind and
 * start the workers, then wait on the default loop for signals. No proxy logic here. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ev.h>

#include "accel/admin.h"
#include "accel/base.h"
#include "accel/cache.h"
#include "accel/conf.h"
#include "accel/disk.h"
#include "accel/health.h"
#include "accel/log.h"
#include "accel/obj.h"
#include "accel/tls.h"
#include "accel/upstream.h"
#include "accel/worker.h"

static struct worker **workers;
static unsigned n_workers;

static void usage(FILE *f)
{
    fprintf(f, "usage: accel [-c FILE] [-t] [-V] [-h]\n"
               "  -c, --config FILE  configuration file (default ./accel.conf)\n"
               "  -t, --test         check the configuration and exit\n"
               "  -V, --version      print the version and exit\n"
               "  -h, --help         this help\n"
               "signals: TERM/INT drain and exit, USR1 reopen the logs, HUP reload the TLS "
               "certificates\n");
}

static void on_stop(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    log_info("signal %d: draining %u worker(s)", s->signum, n_workers);
    for (unsigned i = 0; i < n_workers; i++)
        worker_stop(workers[i]);
    ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)loop;
    (void)s;
    (void)revents;
    log_reopen();
}

static const struct conf *main_conf;

static void on_hup(struct ev_loop *loop, ev_signal *s, int revents)
{
    char err[1024];

    (void)loop;
    (void)s;
    (void)revents;
    /* The certificates and keys are read again from the files the configuration names; the
     * rest of the configuration reloads with issue #15. Connections keep the contexts they
     * started with. */
    if (main_conf->listen_tls != 0 || conf_tls_server(main_conf) != NULL) {
        if (tls_reload(main_conf, err, sizeof err) < 0)
            log_error("SIGHUP: tls: %s; keeping the current certificates", err);
        else
            log_info("SIGHUP: tls: certificates reloaded");
    }
    log_warn("SIGHUP: the rest of the configuration does not reload yet; restart accel to apply "
             "other changes");
}

/* Each client connection may hold an origin connection too: ask for twice max_connections
 * descriptors (and some for listeners, logs, the pool), as far as the hard limit allows. */
static void raise_fd_limit(const struct conf *c)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)c->max_connections * 2 + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < (rlim_t)c->max_connections * 2)
        log_warn("open files limited to %llu: max_connections %u needs about %llu",
                 (unsigned long long)rl.rlim_cur, c->max_connections, (unsigned long long)want);
}

/* The disk writer's reports, from its thread. */
static void cache_log(int level, const char *msg)
{
    log_msg(level <= 1 ? LOG_LVL_WARN : LOG_LVL_INFO, "%s", msg);
}

int main(int argc, char **argv)
{
    const char *path = "accel.conf";
    int check = 0, opt, rc;
    char err[512];
    struct conf *conf = NULL;
    struct cache *cache = NULL;
    struct admin *admin = NULL;
    struct health *health = NULL;
    struct ev_loop *loop;
    ev_signal sig_term, sig_int, sig_usr1, sig_hup;

    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check = 1;
            break;
        case 'V':
            printf("accel %s\n", ACCEL_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "accel: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (conf_load(path, &conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "accel: %s\n", err);
        return 1;
    }
    /* The certificates and keys it names: a bad file is a configuration error. */
    if (tls_setup(conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "accel: %s\n", err);
        conf_free(&conf);
        return 1;
    }
    if (check) {
        printf("accel: the configuration file %s syntax is ok\n", path);
        tls_shutdown();
        conf_free(&conf);
        return 0;
    }
    main_conf = conf;
    signal(SIGPIPE, SIG_IGN);
    if (log_open(conf) < 0)
        return 1;
    if (conf_tls_server(conf) != NULL && !conf->origin_tls_verify)
        log_warn("origin_tls_verify off: the certificate of origin %s is not checked, so anyone "
                 "on the path to it can pose as it",
                 conf_tls_server(conf)->addr.text);
    if (conf->listen_tls != 0 && conf->tls_ktls && !tls_kernel_has_ktls())
        log_warn("tls_ktls on: this kernel has no TLS upper layer loaded (no \"tls\" in "
                 "/proc/sys/net/ipv4/tcp_available_ulp; modprobe tls), so records are encrypted in "
                 "user space as with tls_ktls off");
    raise_fd_limit(conf);

    {
        struct cache_conf cc = {
            .memory = conf->cache_memory,
            .shards = conf->cache_shards,
            .max_object_size = conf->max_object_size,
            .policy =
                {
                    .default_ttl = (int64_t)(conf->default_ttl / 1000),
                    .heuristic_max = 86400,
                    .heuristic_pct = 10,
                    .cache_set_cookie = (int)conf->cache_set_cookie,
                    .hit_for_miss_ttl = (int64_t)(conf->hit_for_miss_ttl / 1000),
                },
            .ignore_client_no_cache = (int)conf->ignore_client_no_cache,
            .s3fifo = conf->cache_policy == 1,
            .grace = (int64_t)(conf->grace / 1000),
            .log = cache_log,
        };
        /* Each shard evicts on its own share of the budget: keep shares of at least 1 MiB so
         * that a small cache still evicts close to a global LRU order. */
        while (cc.shards > 1 && cc.memory / cc.shards < (1u << 20))
            cc.shards /= 2;
        if (conf->cache_disk != NULL) {
            if (disk_open(conf->cache_disk, conf->cache_disk_size, &cc.disk, err, sizeof(err)) <
                0) {
                log_error("cache_disk: %s", err);
                if (conf->error_log != NULL)
                    fprintf(stderr, "accel: cache_disk: %s\n", err);
                return 1;
            }
            if (disk_was_reset(cc.disk))
                log_warn("cache_disk: %s", err);
            log_info("cache_disk %s: %llu MiB", conf->cache_disk,
                     (unsigned long long)(conf->cache_disk_size >> 20));
        }
        cache = cache_new(&cc);
    }
    n_workers = conf->workers;
    workers = worker_create(conf, n_workers, cache);
    if (worker_bind_all(workers, n_workers, err, sizeof(err)) < 0) {
        log_error("%s", err);
        if (conf->error_log != NULL)
            fprintf(stderr, "accel: %s\n", err);
        return 1;
    }
    loop = ev_default_loop(EVFLAG_AUTO);
    ev_signal_init(&sig_term, on_stop, SIGTERM);
    ev_signal_init(&sig_int, on_stop, SIGINT);
    ev_signal_init(&sig_usr1, on_usr1, SIGUSR1);
    ev_signal_init(&sig_hup, on_hup, SIGHUP);
    ev_signal_start(loop, &sig_term);
    ev_signal_start(loop, &sig_int);
    ev_signal_start(loop, &sig_usr1);
    ev_signal_start(loop, &sig_hup);

    for (unsigned i = 0; i < n_workers; i++) {
        rc = worker_start(workers[i]);
        if (rc < 0) {
            log_error("cannot start worker %u: %s", i, strerror(-rc));
            return 1;
        }
    }
    if (conf->admin && admin_start(conf, cache, workers, n_workers, &admin, err, sizeof(err)) < 0) {
        log_error("%s", err);
        if (conf->error_log != NULL)
            fprintf(stderr, "accel: %s\n", err);
        for (unsigned i = 0; i < n_workers; i++)
            worker_stop(workers[i]);
        for (unsigned i = 0; i < n_workers; i++)
            worker_join(workers[i]);
        return 1;
    }
    if (health_start(conf, &health, err, sizeof(err)) < 0)
        log_error("%s: servers are not checked", err);
    if (conf->n_upstreams == 1 && conf->upstreams[0].n_servers == 1)
        log_info("accel ready: %u worker(s), origin %s", n_workers,
                 conf->upstreams[0].servers[0].addr.text);
    else
        log_info("accel ready: %u worker(s), %u upstream(s), %u route(s)", n_workers,
                 conf->n_upstreams, conf->n_routes);
    ev_run(loop, 0);

    admin_stop(&admin); /* first: it reads the workers' counters and the cache */
    health_stop(&health);

    for (unsigned i = 0; i < n_workers; i++)
        worker_join(workers[i]);
    obj_set_waker(NULL);
    for (unsigned i = 0; i < n_workers; i++)
        worker_join_free(&workers[i]);
    free(workers);
    cache_free(&cache);
    tls_shutdown();
    log_info("accel stopped");
    log_close();
    {
        const struct conf *last = conf; /* the workers' and the admin's references are gone */

        conf = NULL;
        conf_unref(&last);
    }
    return 0;
}
