/* conf.h - accel.conf parsed into an immutable struct conf.
 *
 * Syntax: one directive a line ("name arg arg"), an optional trailing ';', '#' starts a comment,
 * blocks as "name { ... }" (none defined yet), arguments may be double-quoted. Sizes take k, m, g
 * suffixes (powers of 1024); durations take ms, s, m, h, d (a bare number is seconds).
 * Every error names the file, the line and what was expected.
 *
 * A struct conf is a snapshot: it never changes once conf_load() returned it (its reference
 * count aside). Whoever keeps one holds a reference: each worker, the admin thread, and each
 * request and fetch for as long as it runs (it pins the snapshot it started with), so a reload
 * can swap the workers' snapshot while requests in flight finish on the old one, which goes
 * with its last reference. */
#ifndef ACCEL_CONF_H
#define ACCEL_CONF_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONF_MAX_LISTEN 16

enum log_level {
    LOG_LVL_DEBUG = 0,
    LOG_LVL_INFO,
    LOG_LVL_WARN,
    LOG_LVL_ERROR,
};

struct conf_addr {
    struct sockaddr_storage sa;
    socklen_t salen;
    char text[80]; /* as written, for messages: "127.0.0.1:8080", "[::1]:8080" */
};

#define CONF_MAX_CIDR 64

/* An address range: <family> AF_INET or AF_INET6, <addr> in network order, <bits> of prefix. */
struct conf_cidr {
    int family;
    unsigned char addr[16];
    unsigned bits;
};

/* One origin server of an upstream. */
struct conf_server {
    struct conf_addr addr; /* resolved once, at load */
    char *host;            /* as written, without a scheme: the Host of requests that have none */
    char *name;            /* the host alone, without the port: TLS's SNI and certificate name */
    unsigned tls;          /* origin https://: accel speaks TLS to it */
    unsigned weight;       /* 1-100: its share of the group's requests (round robin, hash) */
    unsigned max_conns;    /* connections to it at once, all workers together; 0: no limit */
    unsigned max_fails;    /* consecutive failures that take it out; 0: never */
    uint64_t fail_timeout; /* ms it stays out after max_fails */
    unsigned backup;       /* used only while no other server of the group is available */
    unsigned line;
    unsigned idx; /* its index in its upstream */
};

/* A certificate and its private key (PEM files; the key may be in the certificate's file), and
 * the line that named them, for messages. Paths are relative to the configuration file's
 * directory unless absolute. */
#define CONF_MAX_CERTS 16
struct conf_cert {
    char *cert, *key;
    unsigned line;
};

/* An upstream: a group of origin servers that requests are routed to, with how it balances
 * them and checks their health. The "origin" line makes a group of one server named "origin".
 * <rt> is the group's run-time state (health, connection counts, counters: src/upstream.c),
 * made at load; it is the one part of an upstream that changes, through atomics. */
#define CONF_MAX_UPSTREAMS 256
#define CONF_MAX_SERVERS   256 /* per upstream */

enum conf_balance {
    CONF_BALANCE_RR = 0,     /* weighted round robin */
    CONF_BALANCE_LEAST_CONN, /* fewest connections at once, weight breaking ties */
    CONF_BALANCE_HASH,       /* consistent hashing on the cache key */
};

struct upstream_rt;

struct conf_upstream {
    char *name;
    struct conf_server *servers;
    unsigned n_servers;
    enum conf_balance balance;
    unsigned line;
    /* Active health checks (check ...): <check_interval> 0 when off. */
    uint64_t check_interval; /* ms between two checks of a server */
    uint64_t check_timeout;  /* ms a check may take */
    char *check_path;        /* the GET a check sends */
    unsigned check_expect;   /* the status that means healthy; 0: any 2xx or 3xx */
    unsigned check_rise;     /* consecutive good checks that bring a server back */
    unsigned check_fall;     /* consecutive bad checks that take it out */
    struct upstream_rt *rt;
};

/* A route: which requests go to which upstream, and how they are cached. First match wins;
 * a route with no host, path or method list matches everything. */
#define CONF_MAX_ROUTES 1024
#define CONF_MAX_MATCH  64 /* hosts, paths per route */

struct conf_route {
    char *name;   /* "route N" unless named: "route NAME { ... }" */
    char **hosts; /* lowercased; "*.example.org" (any subdomain) or "*" */
    unsigned n_hosts;
    char **paths; /* prefixes */
    unsigned n_paths;
    uint64_t methods; /* bit (1 << HTTP_x) per method; 0: any */
    const struct conf_upstream *up;
    unsigned line;
    /* Cache settings, each the global one unless the route gives it */
    unsigned cache;                  /* 0: every request of the route passes */
    unsigned ignore_client_no_cache; /* as the global directive */
    uint64_t default_ttl;            /* ms */
    uint64_t max_body_size;          /* bytes; 0: unlimited */
    char *name_up;                   /* the upstream's name, as written */
    unsigned given;                  /* bits: which of the four above the block gave */
};

struct conf {
    atomic_uint refs; /* conf_ref / conf_unref: the one thing that changes */
    char *path;       /* the file it came from */

    struct conf_addr listen[CONF_MAX_LISTEN];
    unsigned n_listen;   /* >= 1 */
    uint32_t listen_tls; /* bit i set: listen[i] speaks TLS ("listen ADDR tls") */
    unsigned workers;    /* >= 1; "auto" resolves to the number of online CPUs */

    struct conf_upstream *upstreams; /* "origin" and upstream blocks, in the file's order */
    unsigned n_upstreams;            /* >= 1 */
    const struct conf_upstream *default_upstream; /* "origin", else the first upstream */
    struct conf_route *routes;                    /* none: everything goes to the default */
    unsigned n_routes;
    unsigned no_route_status;   /* the answer to a request no route matches (421) */
    uint64_t max_body_size_any; /* the largest max_body_size of any route, for the parser */
    char *host_header;          /* NULL: pass the client's Host through; else send this one */
    unsigned origin_keepalive;  /* idle origin connections kept per worker */

    /* Limits */
    size_t max_uri_length;         /* 414 past it */
    size_t max_header_size;        /* request head bytes; 431 past it */
    unsigned max_headers;          /* request header fields; 431 past it */
    uint64_t max_body_size;        /* request body bytes; 413 past it; 0 = unlimited */
    size_t max_origin_header_size; /* response head bytes from the origin; 502 past it */
    unsigned max_connections;      /* client connections, all workers together */

    /* Timeouts, in milliseconds */
    uint64_t client_header_timeout; /* whole request head */
    uint64_t client_body_timeout;   /* between two reads of a request body */
    uint64_t keepalive_timeout;     /* idle between requests */
    uint64_t send_timeout;          /* a write to the client making no progress */
    uint64_t origin_connect_timeout;
    uint64_t origin_timeout; /* origin silent while we wait for its response: 504 */
    uint64_t drain_timeout;  /* SIGTERM: longest wait for in-flight requests */

    /* Cache */
    uint64_t cache_memory;     /* memory tier budget, bytes; 0: no caching */
    uint64_t max_object_size;  /* larger responses are streamed, not stored */
    uint64_t default_ttl;      /* ms, for responses that say nothing; 0: not stored */
    uint64_t hit_for_miss_ttl; /* ms an uncacheable answer sends its key straight to the origin */
    unsigned cache_set_cookie; /* store responses with Set-Cookie */
    unsigned ignore_client_no_cache; /* a client's no-cache does not bypass the cache */
    unsigned cache_shards;           /* memory tier shards (rounded up to a power of two) */
    unsigned cache_policy;           /* memory tier eviction: 0 lru, 1 s3fifo */
    uint64_t grace;        /* ms past expiry a stored answer may stand in for a failing origin */
    unsigned coalesce_max; /* requests that may wait on one busy object */
    uint64_t coalesce_timeout; /* ms a request waits for a busy object's head */

    /* Compression */
    unsigned gzip;            /* gzip compressible responses once, store them compressed */
    unsigned gzip_level;      /* zlib level, 1-9 */
    uint64_t gzip_min_length; /* smaller bodies (by Content-Length) are left alone */
    char *gzip_types; /* media types to compress, space-separated; a subtype may be a wildcard */

    /* Admin API: its own listener, when the admin block is given */
    int admin; /* an admin block was given */
    struct conf_addr admin_listen;
    char *admin_token; /* the bearer token, read from token_file at load */
    char *admin_token_file;
    struct conf_cidr purge_allow[CONF_MAX_CIDR]; /* who may send PURGE to the main listener */
    unsigned n_purge_allow;

    /* Filters, before routing: "allow" and "deny" lines in the file's order, the first range
     * that holds the client's address decides (none: allowed); methods refused. */
    struct conf_cidr acl[CONF_MAX_CIDR];
    unsigned char acl_allow[CONF_MAX_CIDR]; /* acl[i] allows (1) or denies (0) */
    unsigned n_acl;
    uint64_t deny_methods; /* bit (1 << HTTP_x); TRACE by default */
    unsigned deny_status;  /* the answer to a request a filter refuses (403) */
    /* rate_limit: requests a second per client address (0: none), the burst and the table size
     * (each worker counts on its own, see accel/ratelimit.h) */
    double rate_limit;
    unsigned rate_burst, rate_table;

    /* TLS toward clients (src/tls.c): the certificates, the first the default, the others
     * chosen by the name a client asks for (SNI) */
    struct conf_cert tls_certs[CONF_MAX_CERTS];
    unsigned n_tls_certs;
    unsigned tls_min_version;       /* 12 (TLS 1.2) or 13 */
    char *tls_ciphers;              /* TLS 1.2 cipher list; NULL: CONF_TLS_CIPHERS */
    char *tls_ciphersuites;         /* TLS 1.3 suites; NULL: OpenSSL's default */
    unsigned tls_session_tickets;   /* resume by ticket (keys in memory, rotated) */
    unsigned tls_ktls;              /* let the kernel encrypt records (kTLS) where it can */
    unsigned tls_session_cache;     /* sessions kept for resumption by id; 0: none */
    uint64_t tls_session_timeout;   /* ms a session (and a ticket key) stays valid */
    uint64_t tls_handshake_timeout; /* ms from accept to the end of the handshake */
    unsigned https_redirect;        /* answer plain-HTTP requests with a 301 to https:// */
    /* TLS toward https:// origins */
    unsigned origin_tls_verify;       /* check the origin's certificate and name */
    char *origin_tls_ca;              /* CA file; NULL: the system's store */
    char *origin_tls_name;            /* the name to send and check; NULL: the origin's host */
    struct conf_cert origin_tls_cert; /* client certificate (cert NULL: none) */
    unsigned origin_tls_line;         /* the origin line, for messages */

    char *access_log;         /* NULL when off */
    char *error_log;          /* NULL: stderr */
    char *cache_disk;         /* LMDB file of the disk tier; NULL: memory only */
    uint64_t cache_disk_size; /* its map size: the disk budget */
    unsigned cache_disk_line; /* where cache_disk was given, for messages */
    enum log_level error_log_level;
};

#define CONF_GZIP_TYPES                                                                            \
    "text/* application/json application/javascript application/xml application/rss+xml "          \
    "application/atom+xml application/xhtml+xml application/manifest+json image/svg+xml"

/* TLS 1.2 ciphers when tls_ciphers is not given: forward secrecy and AEAD only. */
#define CONF_TLS_CIPHERS                                                                           \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* 1 if <sa> (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as IPv4) is inside one
 * of the <n> ranges of <list>. */
int conf_cidr_match(const struct conf_cidr *list, unsigned n, const struct sockaddr *sa);
/* 1 when the allow/deny rules of <c> let the client at <sa> in. */
int conf_acl_allows(const struct conf *c, const struct sockaddr *sa);

/* "10.0.0.0/8", "127.0.0.1" (/32), "::1/128", "fd00::/8". Returns 0 and fills *<out>, or
 * -EINVAL. */
int conf_parse_cidr(const char *s, struct conf_cidr *out);

/* Parses the file at <path>, then checks what it names on this machine: the directory of
 * cache_disk must exist and take new files. On success returns 0 and a new conf in *<out>,
 * with one reference, the caller's (conf_unref). On error returns -EINVAL (or a negative errno
 * when the file cannot be read or the cache_disk directory cannot be used) and writes a
 * one-line message "<file>:<line>: <what>" into <err> (<errlen> bytes). */
int conf_load(const char *path, struct conf **out, char *err, size_t errlen);

/* Same, from the <len> bytes at <text>; <name> stands for the file in messages. */
int conf_parse(const char *name, const char *text, size_t len, struct conf **out, char *err,
               size_t errlen);

/* Returns <c> with one more reference (any thread). */
const struct conf *conf_ref(const struct conf *c);

/* Drops the reference in *<cp> and sets it to NULL; frees on the last one. NULL is fine. */
void conf_unref(const struct conf **cp);

/* Frees a conf nobody else holds (one reference: a conf just parsed). NULL is fine. */
void conf_free(struct conf **cp);

/* The first https:// server of any upstream of <c>, or NULL. */
const struct conf_server *conf_tls_server(const struct conf *c);

/* "30s", "500ms", "2m", "1h", "1d", "15" (seconds). Returns 0 and milliseconds in *<out>, or
 * -EINVAL. */
int conf_parse_duration(const char *s, uint64_t *out);

/* "512", "4k", "256m", "1g". Returns 0 and bytes in *<out>, or -EINVAL (also on overflow). */
int conf_parse_size(const char *s, uint64_t *out);

/* "127.0.0.1:8080", "[::1]:8080", "*:8080", "8080" (all IPv4 addresses), "localhost:80"
 * (resolved, numeric first). Returns 0 and fills *<out>, or -EINVAL with a reason in <err>. */
int conf_parse_addr(const char *s, struct conf_addr *out, char *err, size_t errlen);

#endif
