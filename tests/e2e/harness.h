/* harness.h - the end-to-end test harness: a scripted origin that runs in threads of the test
 * process, the real accel binary started as a child process with a generated config, and
 * blocking HTTP clients whose every wait has a deadline, so a test never hangs.
 *
 * Everything is prefixed e2e_ so that no name collides with accel_core, which the harness links.
 * The functions that "fail the test" call cr_assert_fail() and so must run on the test's own
 * thread. Every origin and accel started is registered: e2e_teardown() (the .fini of every
 * suite; also run at exit) stops the origins, kills leftover accel processes and removes their
 * temporary directories. */
#ifndef ACCEL_E2E_HARNESS_H
#define ACCEL_E2E_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define E2E_TIMEOUT_MS 10000 /* default deadline of a client wait */

/* ---- header lists ---------------------------------------------------------------------------- */

struct e2e_hdr {
    char *name;
    char *value;
};

/* A list of header fields in arrival order; names and values are NUL-terminated copies. */
struct e2e_hdrs {
    struct e2e_hdr *v;
    size_t n, cap;
};

/* Returns the value of the first field named <name> (ASCII case ignored), or NULL. The string
 * lives as long as the list. */
const char *e2e_hdrs_get(const struct e2e_hdrs *h, const char *name);
/* Returns how many fields are named <name>. */
unsigned e2e_hdrs_count(const struct e2e_hdrs *h, const char *name);
/* Returns 1 when some field named <name> has a comma-separated element equal to <token>
 * (ASCII case ignored), else 0. */
int e2e_hdrs_has_token(const struct e2e_hdrs *h, const char *name, const char *token);
void e2e_hdrs_free(struct e2e_hdrs *h);

/* ---- the generated body pattern -------------------------------------------------------------- */

/* Byte <off> of the pattern the origin sends for a pattern body (period 65521, not a power of
 * two, so that a shifted or duplicated block is detected). */
uint8_t e2e_pattern_byte(uint64_t off);
/* Returns 1 when the <len> bytes at <p> equal the pattern from offset <off>, else 0. */
int e2e_pattern_check(uint64_t off, const void *p, size_t len);

/* ---- scripted origin ------------------------------------------------------------------------- */

/* One request as the origin received it. Appended to the origin's record when its head is
 * complete; <done> is set when its body is complete, <aborted> when the connection ended before.
 * Method, target, version and headers never change once it is visible; the body fields do until
 * <done>: read them after e2e_origin_wait_reqs(). Records live until e2e_origin_stop(). */
struct e2e_req {
    unsigned seq;      /* arrival order of the head over the whole origin, from 0 */
    unsigned conn;     /* connection it came on: its accept order, from 0 */
    unsigned conn_seq; /* its place on that connection, from 0 */
    char method[24];
    char *target;
    int major, minor;
    int keep_alive; /* llhttp_should_keep_alive() after the request */
    int chunked;    /* the request body came chunked */
    struct e2e_hdrs hdrs;
    char *body;        /* the first E2E_BODY_CAP bytes of the body, NUL-terminated */
    uint64_t body_len; /* all body bytes received */
    int done, aborted;
    /* A TLS origin (e2e_origin_start_tls()): what the connection's handshake showed. */
    int tls;             /* the connection spoke TLS */
    char sni[128];       /* the server name the client sent, "" when none */
    int client_cert;     /* the client presented a certificate (verified when asked) */
    char client_cn[128]; /* its subject CN */
};
#define E2E_BODY_CAP (1u << 20)

enum e2e_act_kind {
    E2E_RESPOND = 0, /* status line, headers, Content-Length, body */
    E2E_CHUNKED,     /* Transfer-Encoding: chunked; chunk_size bytes a chunk, pause_ms between */
    E2E_CLOSE_DELIM, /* no length: the body, then close */
    E2E_RESET,       /* no answer: SO_LINGER 0 and close (the peer sees a RST) */
    E2E_CLOSE,       /* no answer: close */
    E2E_RAW,         /* send <raw> verbatim (malformed answers), then close */
};

struct e2e_hold;

/* What the origin does with one request. Zero-initialised means: 200, "hello". Pointers must stay
 * valid until the origin has answered (string literals, or memory the test keeps). */
struct e2e_action {
    enum e2e_act_kind kind;
    int status;                /* 0: 200 */
    const char *headers;       /* extra head lines, each ending in "\r\n", or NULL */
    const char *body;          /* NULL with body_len 0: "hello" unless no_body */
    size_t body_len;           /* 0 with a body: strlen(body) */
    int no_body;               /* empty body (Content-Length: 0 for E2E_RESPOND) */
    uint64_t pattern_len;      /* > 0: the body is that many bytes of e2e_pattern_byte() */
    size_t chunk_size;         /* E2E_CHUNKED: bytes a chunk, 0: 3 chunks about the same size */
    unsigned pause_ms;         /* E2E_CHUNKED: pause between two chunks */
    unsigned delay_ms;         /* wait before answering */
    struct e2e_hold *hold;     /* wait until the test releases it, before answering */
    struct e2e_hold *mid_hold; /* wait after mid_hold_at body bytes were sent */
    uint64_t mid_hold_at;
    const char *interim; /* sent first, verbatim, e.g. "HTTP/1.1 103 Early Hints\r\n\r\n" */
    int close_after;     /* close the connection after the answer (no Connection: close) */
    int reset_after;     /* with a body: reset once reset_at body bytes went out */
    uint64_t reset_at;
    const char *raw; /* E2E_RAW */
    size_t raw_len;  /* 0: strlen(raw) */
    int raw_keep;    /* E2E_RAW: keep the connection open after the raw bytes */
    int sndbuf;      /* > 0: SO_SNDBUF of the connection before answering */
};

struct e2e_origin;

/* Starts an origin on 127.0.0.1:0 with its accept thread; fails the test on error. Without a
 * handler or queued actions it answers every request 200 "hello". */
struct e2e_origin *e2e_origin_start(void);
/* The same on 127.0.0.1:<port>, e.g. the port of an origin stopped earlier (a server that comes
 * back); fails the test when the port is taken. */
struct e2e_origin *e2e_origin_start_port(int port);
int e2e_origin_port(const struct e2e_origin *o);
/* Sets the handler <fn>: called on an origin thread for each complete request, in arrival order
 * per connection, with <arg>; it fills <act> (zeroed on entry) and must not call Criterion
 * asserts. Queued actions (below) are used first while there are any. */
void e2e_origin_set_handler(struct e2e_origin *o,
                            void (*fn)(const struct e2e_req *req, struct e2e_action *act,
                                       void *arg),
                            void *arg);
/* Queues a copy of <act> for the next request that arrives. */
void e2e_origin_push(struct e2e_origin *o, const struct e2e_action *act);
/* Closes every connection and the listener, releases the holds, joins the threads, frees.
 * Sets *<op> to NULL; NULL is fine. */
void e2e_origin_stop(struct e2e_origin **op);

/* Counters. */
unsigned e2e_origin_nconns(struct e2e_origin *o);        /* TCP connections accepted */
unsigned e2e_origin_nreqs(struct e2e_origin *o);         /* request heads received */
unsigned e2e_origin_ndone(struct e2e_origin *o);         /* requests received in full */
uint64_t e2e_origin_bytes_sent(struct e2e_origin *o);    /* bytes written to sockets, all conns */
uint64_t e2e_origin_body_bytes_in(struct e2e_origin *o); /* request body bytes received */
/* The <i>-th request (head arrival order), or NULL. Valid until e2e_origin_stop(). */
const struct e2e_req *e2e_origin_req(struct e2e_origin *o, unsigned i);

/* Wait until the condition holds; return 0, or -ETIMEDOUT after <ms>. */
int e2e_origin_wait_reqs(struct e2e_origin *o, unsigned n, int ms); /* ndone >= n */
int e2e_origin_wait_heads(struct e2e_origin *o, unsigned n, int ms);
int e2e_origin_wait_conns(struct e2e_origin *o, unsigned n, int ms);
int e2e_origin_wait_body_bytes(struct e2e_origin *o, uint64_t n, int ms);
/* Waits until every connection the origin accepted has been closed by the peer or by us. */
int e2e_origin_wait_idle(struct e2e_origin *o, int ms);
/* Number of connections currently open. */
unsigned e2e_origin_open_conns(struct e2e_origin *o);

/* A hold belongs to its origin and is freed with it. An origin thread reaching it waits until
 * e2e_hold_release() (or e2e_origin_stop()). */
struct e2e_hold *e2e_hold_new(struct e2e_origin *o);
/* Waits until <n> origin threads in total have reached <h>; 0 or -ETIMEDOUT. */
int e2e_hold_wait(struct e2e_hold *h, unsigned n, int ms);
void e2e_hold_release(struct e2e_hold *h);

/* Returns a port on 127.0.0.1 where nothing listens (a bound socket without listen(), kept
 * until teardown, so that connecting is refused and nobody else takes the port). */
int e2e_port_down(void);

/* ---- accel ----------------------------------------------------------------------------------- */

struct e2e_accel {
    pid_t pid; /* also its process group */
    int port;  /* the client port it reported */
    int exited;
    int status; /* wait status once reaped */
    char dir[64];
    char conf[128];
    char error_log[128];
    char access_log[128];
    char stderr_path[128];
};

/* Writes <dir>/accel.conf (listen 127.0.0.1:0, workers 2 unless <extra> has a workers line, origin
 * 127.0.0.1:<origin_port> unless <origin_port> is -1, the logs in <dir>, then <extra>, which may be
 * NULL), runs ACCEL_BIN -c in its own process group and waits up to 10 s for "accel ready" in the
 * error log. Fails the test on error. */
struct e2e_accel *e2e_accel_start(const char *extra, int origin_port);
/* Sends SIGTERM and waits up to <ms>; returns the exit status (0-255), 128+signal when
 * killed by a signal, or -ETIMEDOUT (the process is then left running). */
int e2e_accel_stop(struct e2e_accel *a, int ms);
/* Waits up to <ms> for the process to end: same return values as e2e_accel_stop(). */
int e2e_accel_wait_exit(struct e2e_accel *a, int ms);
void e2e_accel_kill(struct e2e_accel *a); /* SIGKILL to its process group and reap */
int e2e_accel_signal(struct e2e_accel *a, int sig);
int e2e_accel_alive(struct e2e_accel *a);   /* 1 while the process has not exited */
long e2e_accel_rss_kb(struct e2e_accel *a); /* VmRSS, or -1 */
/* Waits up to <ms> until at least <n> client connections to <a>'s port are established and
 * accel has read every byte sent on them (their receive queues in /proc/net/tcp are empty):
 * a barrier for "all these requests have reached accel". Returns 0 or -ETIMEDOUT. */
int e2e_accel_wait_conns_read(struct e2e_accel *a, unsigned n, int ms);
/* Returns the whole file at <path> NUL-terminated (caller frees), or NULL. */
char *e2e_read_file(const char *path, size_t *len);
/* Waits up to <ms> for a line of <path> to contain <needle>; returns a malloc'd copy of the
 * first such line (caller frees), or NULL. */
char *e2e_wait_line(const char *path, const char *needle, int ms);

/* Waits up to <ms> for the line "admin API on 127.0.0.1:PORT" in <a>'s error log (accel
 * configured with "admin { listen 127.0.0.1:0; ... }") and returns PORT, or -1 when no such
 * line came. */
int e2e_accel_admin_port(struct e2e_accel *a, int ms);

/* Runs ACCEL_BIN with <argv> (NULL-terminated, without argv[0]), waits up to 10 s, captures
 * stdout and stderr (caller frees both). Returns the exit status, or -1. */
int e2e_run_accel(const char *const *argv, char **out, char **err);
/* Creates a temporary directory registered for removal; returns it (static storage in the
 * registry, valid until teardown). */
const char *e2e_tmpdir(void);
/* Writes <text> to <dir>/<name>; returns the path in <path> (<len> bytes). */
void e2e_write_file(const char *dir, const char *name, const char *text, char *path, size_t len);

/* ---- clients --------------------------------------------------------------------------------- */

struct e2e_client {
    int fd;
    char *buf; /* bytes received and not parsed yet */
    size_t len, cap;
    int eof;           /* the server closed (or reset) */
    int reset;         /* the close was a reset */
    uint64_t bytes_in; /* every byte received on this connection */
    /* TLS (e2e_tls_client_new()): NULL/zero on a plain client. Every send and receive goes
     * through <ssl> when it is set. */
    void *ssl;                 /* SSL * */
    void *ssl_ctx;             /* SSL_CTX *, this client's own */
    int tls_version;           /* negotiated: E2E_TLS12, E2E_TLS13 */
    int tls_reused;            /* SSL_session_reused() */
    char tls_alpn[32];         /* the protocol the server selected, "" when none */
    char tls_peer_cn[128];     /* subject CN of the server's certificate, "" when none */
    char tls_peer_san[128];    /* its first DNS subjectAltName, "" when none */
    char tls_peer_issuer[128]; /* issuer CN of the server's certificate */
    char tls_peer_key[16];     /* its key type: "EC", "RSA" */
    char tls_cipher[64];       /* the negotiated cipher, OpenSSL's name */
};

/* Connects to 127.0.0.1:<port>; returns NULL when the connection is refused (errno set).
 * <rcvbuf> > 0 sets SO_RCVBUF before connecting. */
struct e2e_client *e2e_client_new(int port);
struct e2e_client *e2e_client_new_rcvbuf(int port, int rcvbuf);
/* Connects to 127.0.0.1:<port> from the loopback address <src> ("127.0.0.2"): another
 * client address on the same machine. */
struct e2e_client *e2e_client_new_from(int port, const char *src);
void e2e_client_free(struct e2e_client **cp);
/* Opens <n> connections to <port> into <out>; fails the test when one cannot be opened. */
void e2e_clients_open(int port, unsigned n, struct e2e_client **out);
/* Frees the <n> clients in <cs> (NULL entries are fine). */
void e2e_clients_free(struct e2e_client **cs, unsigned n);
/* Sends all bytes; 0 or a negative errno (-EPIPE, -ECONNRESET, -ETIMEDOUT). */
int e2e_client_send(struct e2e_client *c, const void *p, size_t len);
int e2e_client_sends(struct e2e_client *c, const char *s);
/* Half-closes the sending side. */
void e2e_client_shutdown_wr(struct e2e_client *c);

#define E2E_RESP_HEAD    1u /* the request was HEAD: no body follows */
#define E2E_RESP_PATTERN 2u /* check the body against the pattern instead of storing it */

/* A response being read. e2e_resp_init() before the first read; e2e_resp_free() after. */
struct e2e_resp {
    int status, major, minor;
    struct e2e_hdrs hdrs;
    char *body; /* the first body_cap bytes, NUL-terminated (E2E_BODY_CAP by default) */
    size_t body_cap;
    uint64_t body_len;
    int head_done, done;
    int keep_alive;  /* llhttp_should_keep_alive() once done */
    int pattern_bad; /* E2E_RESP_PATTERN: a byte differed */
    uint64_t pattern_bad_at;
    int chunked; /* a chunk header was seen */
    unsigned flags;
    const char *error; /* parse error text, or NULL */
    void *parser;      /* llhttp_t, owned */
};

void e2e_resp_init(struct e2e_resp *r, unsigned flags);
void e2e_resp_free(struct e2e_resp *r);
/* Reads and parses until the response is complete, or (when <until_body> > 0) until at least
 * that many body bytes arrived. Stops at the end of the response: the bytes after it stay in the
 * client for the next one (pipelining). Returns 0, -ETIMEDOUT after <ms>, -EBADMSG on a parse
 * error (r->error), -ECONNRESET when the connection ended before the response did. */
int e2e_client_read(struct e2e_client *c, struct e2e_resp *r, uint64_t until_body, int ms);
/* e2e_resp_init(r, flags) + e2e_client_read(c, r, 0, E2E_TIMEOUT_MS). */
int e2e_client_response(struct e2e_client *c, struct e2e_resp *r, unsigned flags);
/* Waits up to <ms> for the server to close; returns 1 when it did (extra bytes are kept in the
 * buffer), 0 on timeout. */
int e2e_client_wait_closed(struct e2e_client *c, int ms);
/* Reads until the server closes or <ms> pass; returns every byte received and not parsed,
 * NUL-terminated (caller frees), length in *<len>. */
char *e2e_client_read_all(struct e2e_client *c, size_t *len, int ms);

/* One request on a new connection: sends <req>, reads the response with <flags>, frees the
 * client. Returns 0 or the e2e_client_read() error. */
int e2e_request(int port, const char *req, struct e2e_resp *r, unsigned flags);
/* GET <path> from the admin API on 127.0.0.1:<port> with "Authorization: Bearer <token>";
 * fails the test without a complete answer. */
void e2e_admin_get(int port, const char *token, const char *path, struct e2e_resp *r);
/* The value of the line of a /metrics answer <text> that starts with <series>
 * ("accel_requests_total" or "name{labels}") and a space, or -1 when there is none. */
double e2e_metric(const char *text, const char *series);

/* ---- TLS ----------------------------------------------------------------------------------- */

#define E2E_TLS12 0x0303 /* TLS1_2_VERSION */
#define E2E_TLS13 0x0304 /* TLS1_3_VERSION */

/* The test PKI, generated once per process with the openssl tool into an e2e_tmpdir(). Every
 * key and certificate is its own PEM file; all are ECDSA P-256 unless named rsa. */
struct e2e_certs {
    char dir[64];
    char ca[128];                 /* the test CA's certificate (CN accel-test-ca) */
    char ca_key[128];             /* and its key */
    char a_cert[128], a_key[128]; /* CN a.test; SAN DNS:a.test, DNS:localhost, IP:127.0.0.1 */
    char a_rsa_cert[128], a_rsa_key[128];   /* the same names, RSA 2048 */
    char b_cert[128], b_key[128];           /* CN b.test; SAN DNS:b.test */
    char w_cert[128], w_key[128];           /* CN *.w.test; SAN DNS:*.w.test */
    char origin_cert[128], origin_key[128]; /* CN origin.test; SAN DNS:origin.test, IP:127.0.0.1 */
    char bad_cert[128], bad_key[128];       /* origin.test, self-signed: not from the CA */
    char client_cert[128], client_key[128]; /* CN accel-client, extendedKeyUsage clientAuth */
};

/* Returns the test PKI, generating it on the first call; fails the test with openssl's stderr
 * when that fails. The files live until e2e_teardown(). */
const struct e2e_certs *e2e_tls_certs(void);
/* Copies the file at <from> to <to> (replacing it); fails the test on error. */
void e2e_copy_file(const char *from, const char *to);

/* How a TLS client connects. Zero-initialised: no SNI, no verification, the library's
 * versions, no ALPN, a full handshake within E2E_TIMEOUT_MS. */
struct e2e_tls_opts {
    const char *sni;         /* server name sent, or NULL for none */
    const char *ca;          /* CA file the server's certificate must verify against, or NULL */
    const char *verify_host; /* with <ca>: the name the certificate must carry, or NULL */
    int min_version;         /* E2E_TLS12, E2E_TLS13, or 0 */
    int max_version;
    const char *alpn;       /* protocols offered, comma-separated ("h2,http/1.1"), or NULL */
    void *session;          /* SSL_SESSION * to resume (from e2e_tls_session()), or NULL */
    const char *cert, *key; /* client certificate, or NULL */
    int timeout_ms;         /* handshake deadline; 0: E2E_TIMEOUT_MS */
};

/* Connects to 127.0.0.1:<port> and completes a TLS handshake as <o> says (NULL: defaults).
 * Returns the client, whose tls_* fields tell what was negotiated; or NULL when the connection
 * or the handshake failed, with the reason in e2e_tls_last_error(). */
struct e2e_client *e2e_tls_client_new(int port, const struct e2e_tls_opts *o);
/* Why the last e2e_tls_client_new() of this thread failed (static storage). */
const char *e2e_tls_last_error(void);
/* Returns a new reference to <c>'s current session (SSL_get1_session), for a later
 * resumption through e2e_tls_opts.session, or NULL; free it with e2e_tls_session_free(). With
 * TLS 1.3 the ticket comes after the handshake: read a response first. */
void *e2e_tls_session(struct e2e_client *c);
void e2e_tls_session_free(void **sp);
/* 1 when session <s> carries a session ticket (RFC 5077 / TLS 1.3), else 0. */
int e2e_tls_session_has_ticket(void *s);
/* Subject CN, first DNS SAN and issuer CN of the certificate in the PEM file at <path>, into
 * the buffers (<len> bytes each; NULL ones skipped). Returns 0, or -1 when it is unreadable. */
int e2e_tls_cert_names(const char *path, char *cn, char *san, char *issuer, size_t len);

/* Starts an origin like e2e_origin_start() whose connections speak TLS with <cert> and <key>.
 * <client_ca> NULL: no client certificate is asked for; else one is required and must verify
 * against that CA file. Each request records the connection's SNI and client certificate
 * (struct e2e_req). A failed handshake closes that connection and counts in
 * e2e_origin_nhandshake_fail(). Fails the test when the files do not load. */
struct e2e_origin *e2e_origin_start_tls(const char *cert, const char *key, const char *client_ca);
/* TLS handshakes that failed at the origin. */
unsigned e2e_origin_nhandshake_fail(struct e2e_origin *o);
/* Copies the reason of the last failed handshake into <out> (<len> bytes; "" when none). */
void e2e_origin_tls_error(struct e2e_origin *o, char *out, size_t len);

/* Waits up to 10 s (since start, the line comes before "accel ready") for the line
 * "listening on 127.0.0.1:PORT (tls)" in <a>'s error log and returns PORT of the first one, or
 * -1. */
int e2e_accel_tls_port(struct e2e_accel *a);

/* ---- test lifecycle -------------------------------------------------------------------------- */

/* Suite .init: ignores SIGPIPE, registers the exit handler. */
void e2e_setup(void);
/* Suite .fini: stops every origin, kills every accel, removes the temporary directories. */
void e2e_teardown(void);
/* Milliseconds on the monotonic clock. */
uint64_t e2e_now_ms(void);
/* Sleeps <ms>; for pacing only (slow clients), never to order events. */
void e2e_sleep_ms(unsigned ms);

/* ---- shared test steps -----------------------------------------------------------------------
 *
 * The steps the test files have in common. Those that fail the test call cr_assert and so run on
 * the test's own thread; <what> names the step in their failure messages. The origin handlers
 * run on origin threads and assert nothing. */

/* Starts an origin (e2e_origin_start()) into *<op> and an accel in front of it
 * (e2e_accel_start(<extra>, its port)) into *<ap>; fails the test on error. Both are registered
 * and live until e2e_teardown(). */
void e2e_start(const char *extra, struct e2e_origin **op, struct e2e_accel **ap);

/* Returns the value of the first field named <name> of <r>, or "(none)" when there is none (for
 * messages and string compares). The string lives as long as <r>. */
const char *e2e_hdr(const struct e2e_resp *r, const char *name);

/* Sends "<method> <path> HTTP/1.1" with "Host: <host>" and the head lines <hdrs> (each ending in
 * "\r\n", or NULL) on a new connection to <a> and reads the response into <r> with <flags>
 * (E2E_RESP_HEAD is added for HEAD). The caller frees <r> with e2e_resp_free(). Fails the test,
 * having freed <r>, when no complete response came within E2E_TIMEOUT_MS. */
void e2e_ask(struct e2e_accel *a, const char *method, const char *host, const char *path,
             const char *hdrs, unsigned flags, struct e2e_resp *r);
/* e2e_ask(<a>, "GET", "h", <path>, <hdrs>, 0, <r>). */
void e2e_get(struct e2e_accel *a, const char *path, const char *hdrs, struct e2e_resp *r);

/* Connects to <a>'s client port; fails the test when the connection is refused. The caller
 * frees the client with e2e_client_free(). */
struct e2e_client *e2e_connect(const struct e2e_accel *a);
/* Sends "GET <path> HTTP/1.1" with "Host: h" on <c>; fails the test when the send fails. */
void e2e_send_get(struct e2e_client *c, const char *path);
/* e2e_connect() then e2e_send_get(): a new client whose GET <path> is on its way; the caller
 * frees it. */
struct e2e_client *e2e_connect_get(const struct e2e_accel *a, const char *path);
/* Waits until <a> has read the requests of <n> connections (e2e_accel_wait_conns_read());
 * fails the test when that does not happen within E2E_TIMEOUT_MS. */
void e2e_expect_conns_read(struct e2e_accel *a, unsigned n);

/* Waits until <o> has received <n> requests in full and checks that it received no more
 * heads than that; fails the test otherwise. */
void e2e_origin_saw(struct e2e_origin *o, unsigned n, const char *what);

/* Checks that <a> is alive and that a GET /alive goes through it to <o> (which must answer with
 * the default 200 "hello") and back; fails the test otherwise. */
void e2e_still_serving(struct e2e_origin *o, struct e2e_accel *a);

#define E2E_ANSWER_BODY  1u /* the answer has a body */
#define E2E_ANSWER_CLOSE 2u /* accel closes the connection after it (within 3 s) */
#define E2E_ANSWER_ONLY  4u /* E2E_ANSWER_CLOSE, and no byte came after the answer */

/* Sends the <len> bytes at <raw> (0: strlen(<raw>)) in one write on a new connection to <a>,
 * where a send error is fine (accel may stop reading early); expects a complete answer with
 * status <want>, and what <flags> (E2E_ANSWER_*) adds. Fails the test otherwise, with the start
 * of <raw> in the message; the client is freed either way. */
void e2e_expect_one_answer(struct e2e_accel *a, const char *raw, size_t len, int want,
                           unsigned flags);

/* Content-Length, when present, is the body length of <r> (not for an answer to HEAD), it is
 * there at most once, and never with Transfer-Encoding; fails the test otherwise. */
void e2e_check_framing(const struct e2e_resp *r, const char *what);

/* Formats <t> as an IMF-fixdate ("Tue, 01 Oct 2024 10:00:00 GMT") into <out> (<len> bytes). */
void e2e_http_date(time_t t, char *out, size_t len);

/* Origin handler: 200 with the request's target as the body and <arg> (a string of head lines,
 * each ending in "\r\n", that lives as long as the origin; or NULL) as the extra head lines. */
void e2e_echo_target(const struct e2e_req *req, struct e2e_action *act, void *arg);
/* Origin handler: 500 "origin error" to every request; <arg> is unused. */
void e2e_answer_500(const struct e2e_req *req, struct e2e_action *act, void *arg);

/* ---- cache answers --------------------------------------------------------------------------- */

/* accel's member of the Cache-Status list of <r> (the last one named "accel"), copied into
 * <out> (<len> bytes); returns 0 when there is none. */
int e2e_cache_status(const struct e2e_resp *r, char *out, size_t len);
/* 1 when Cache-Status member <member> has the parameter <name>; its value (unquoted) goes to
 * <val> (<len> bytes) when <val> is not NULL. */
int e2e_cs_param(const char *member, const char *name, char *val, size_t len);
/* The remaining freshness that accel's Cache-Status member of <r> reports (ttl=), or -1 when
 * there is no such member or parameter. */
long e2e_cs_ttl(const struct e2e_resp *r);
/* The Age of <r> in seconds (strtol of its first Age field), or -1 without one. */
long e2e_age(const struct e2e_resp *r);

/* An origin handler: 200, "Cache-Control: max-age=600" and a pattern body of
 * *(const uint64_t *)<arg> bytes, for every request. */
void e2e_cacheable_pattern(const struct e2e_req *req, struct e2e_action *act, void *arg);
/* GET /d<i> on a new connection to <a>: fails the test unless the answer is a 200 with <size>
 * bytes of the pattern; returns the first letter of its X-Cache ('H', 'M', ...). */
char e2e_get_pattern(struct e2e_accel *a, uint64_t size, int i);

/* X-Cache of <r> is <want> ("HIT", "MISS", "STALE", ...); fails the test otherwise, with the
 * status and Cache-Status in the message. */
void e2e_expect_xcache(const struct e2e_resp *r, const char *want, const char *what);

#define E2E_HIT_OK    1u /* the status is 200 */
#define E2E_HIT_FRESH 2u /* ttl= is above 0, not only present */

/* <r> is a hit: X-Cache HIT, and accel's Cache-Status member has "hit" and ttl=, and no fwd=;
 * plus what <flags> (E2E_HIT_*) adds, and the body is <body> unless <body> is NULL. Fails the
 * test otherwise. */
void e2e_expect_hit(const struct e2e_resp *r, unsigned flags, const char *body, const char *what);

#endif
