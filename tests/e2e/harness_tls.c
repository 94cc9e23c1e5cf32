/* harness_tls.c - TLS for the e2e harness: the test PKI, made once per process with the openssl
 * command line tool, the TLS client handshake (non-blocking socket, poll with a deadline) and
 * the SSL_read/SSL_write behind a TLS client's sends and receives (harness_client.c), the
 * names in a certificate, and accel's TLS port from its error log.
 *
 * A TLS client owns its SSL_CTX and SSL; e2e_client_free() frees both through
 * e2e_tls_client_close(), after a close_notify so that the session it negotiated stays
 * resumable. The TLS origin is in harness_origin.c. */
#include "harness_int.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the test PKI ---------------------------------------------------------------------------- */

static struct e2e_certs certs;
static int certs_ready;

static const char pki_conf[] = "[req]\n"
                               "distinguished_name = dn\n"
                               "prompt = no\n"
                               "[dn]\n"
                               "CN = unused\n"
                               "[ca_ext]\n"
                               "basicConstraints = critical,CA:TRUE\n"
                               "keyUsage = critical,keyCertSign,cRLSign\n"
                               "subjectKeyIdentifier = hash\n"
                               "[a_ext]\n"
                               "basicConstraints = CA:FALSE\n"
                               "keyUsage = critical,digitalSignature\n"
                               "extendedKeyUsage = serverAuth\n"
                               "subjectAltName = DNS:a.test,DNS:localhost,IP:127.0.0.1\n"
                               "authorityKeyIdentifier = keyid\n"
                               "[a_rsa_ext]\n"
                               "basicConstraints = CA:FALSE\n"
                               "keyUsage = critical,digitalSignature,keyEncipherment\n"
                               "extendedKeyUsage = serverAuth\n"
                               "subjectAltName = DNS:a.test,DNS:localhost,IP:127.0.0.1\n"
                               "authorityKeyIdentifier = keyid\n"
                               "[b_ext]\n"
                               "basicConstraints = CA:FALSE\n"
                               "keyUsage = critical,digitalSignature\n"
                               "extendedKeyUsage = serverAuth\n"
                               "subjectAltName = DNS:b.test\n"
                               "authorityKeyIdentifier = keyid\n"
                               "[w_ext]\n"
                               "basicConstraints = CA:FALSE\n"
                               "keyUsage = critical,digitalSignature\n"
                               "extendedKeyUsage = serverAuth\n"
                               "subjectAltName = DNS:*.w.test\n"
                               "authorityKeyIdentifier = keyid\n"
                               "[origin_ext]\n"
                               "basicConstraints = CA:FALSE\n"
                               "keyUsage = critical,digitalSignature\n"
                               "extendedKeyUsage = serverAuth\n"
                               "subjectAltName = DNS:origin.test,IP:127.0.0.1\n"
                               "authorityKeyIdentifier = keyid\n"
                               "[bad_ext]\n"
                               "basicConstraints = CA:FALSE\n"
                               "keyUsage = critical,digitalSignature\n"
                               "extendedKeyUsage = serverAuth\n"
                               "subjectAltName = DNS:origin.test,IP:127.0.0.1\n"
                               "[client_ext]\n"
                               "basicConstraints = CA:FALSE\n"
                               "keyUsage = critical,digitalSignature\n"
                               "extendedKeyUsage = clientAuth\n"
                               "authorityKeyIdentifier = keyid\n";

/* The script run in the PKI directory: keys, the CA, then each leaf from a CSR. */
static const char pki_script[] =
    "set -e\n"
    "ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$1\"; }\n"
    "leaf() { # name cn ext serial\n"
    "  openssl req -new -config pki.cnf -key \"$1.key\" -subj \"/CN=$2\" -out \"$1.csr\"\n"
    "  openssl x509 -req -in \"$1.csr\" -CA ca.pem -CAkey ca.key -set_serial \"$4\" -days 30 \\\n"
    "    -extfile pki.cnf -extensions \"$3\" -out \"$1.pem\"\n"
    "}\n"
    "ec ca.key\n"
    "openssl req -x509 -new -config pki.cnf -key ca.key -subj /CN=accel-test-ca -days 30 \\\n"
    "  -extensions ca_ext -out ca.pem\n"
    "ec a.key; leaf a a.test a_ext 2\n"
    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out a_rsa.key 2>/dev/null\n"
    "leaf a_rsa a.test a_rsa_ext 3\n"
    "ec b.key; leaf b b.test b_ext 4\n"
    "ec w.key; leaf w '*.w.test' w_ext 5\n"
    "ec origin.key; leaf origin origin.test origin_ext 6\n"
    "ec client.key; leaf client accel-client client_ext 7\n"
    "ec bad.key\n"
    "openssl req -x509 -new -config pki.cnf -key bad.key -subj /CN=origin.test -days 30 \\\n"
    "  -extensions bad_ext -out bad.pem\n";

static void pki_path(char *out, const char *name)
{
    snprintf(out, 128, "%s/%s", certs.dir, name);
}

const struct e2e_certs *e2e_tls_certs(void)
{
    char path[128], cmd[512];
    char *err;
    int rc;

    if (certs_ready)
        return &certs;
    snprintf(certs.dir, sizeof(certs.dir), "%s", e2e_tmpdir());
    e2e_write_file(certs.dir, "pki.cnf", pki_conf, path, sizeof(path));
    e2e_write_file(certs.dir, "pki.sh", pki_script, path, sizeof(path));
    snprintf(cmd, sizeof(cmd), "cd '%s' && sh ./pki.sh >pki.out 2>pki.err", certs.dir);
    rc = system(cmd);
    if (rc != 0) {
        snprintf(path, sizeof(path), "%s/pki.err", certs.dir);
        err = e2e_read_file(path, NULL);
        cr_assert_fail("generating the test certificates with openssl failed (status %d):\n%s", rc,
                       err ? err : "(no stderr)");
    }
    pki_path(certs.ca, "ca.pem");
    pki_path(certs.ca_key, "ca.key");
    pki_path(certs.a_cert, "a.pem");
    pki_path(certs.a_key, "a.key");
    pki_path(certs.a_rsa_cert, "a_rsa.pem");
    pki_path(certs.a_rsa_key, "a_rsa.key");
    pki_path(certs.b_cert, "b.pem");
    pki_path(certs.b_key, "b.key");
    pki_path(certs.w_cert, "w.pem");
    pki_path(certs.w_key, "w.key");
    pki_path(certs.origin_cert, "origin.pem");
    pki_path(certs.origin_key, "origin.key");
    pki_path(certs.bad_cert, "bad.pem");
    pki_path(certs.bad_key, "bad.key");
    pki_path(certs.client_cert, "client.pem");
    pki_path(certs.client_key, "client.key");
    certs_ready = 1;
    return &certs;
}

void e2e_copy_file(const char *from, const char *to)
{
    size_t len;
    char *text = e2e_read_file(from, &len);
    char tmp[256];
    FILE *f;

    cr_assert_not_null(text, "cannot read %s", from);
    /* write beside it and rename, so that accel never reads half a file */
    snprintf(tmp, sizeof(tmp), "%s.tmp", to);
    f = fopen(tmp, "wb");
    cr_assert_not_null(f, "cannot write %s", tmp);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    free(text);
    cr_assert_eq(rename(tmp, to), 0, "rename %s: %s", to, strerror(errno));
}

/* ---- names in a certificate ------------------------------------------------------------------ */

static void name_cn(X509_NAME *n, char *out, size_t len)
{
    out[0] = '\0';
    if (n != NULL && X509_NAME_get_text_by_NID(n, NID_commonName, out, (int)len) < 0)
        out[0] = '\0';
}

static void cert_names(X509 *x, char *cn, char *san, char *issuer, size_t len)
{
    GENERAL_NAMES *gens;

    if (cn != NULL)
        name_cn(X509_get_subject_name(x), cn, len);
    if (issuer != NULL)
        name_cn(X509_get_issuer_name(x), issuer, len);
    if (san == NULL)
        return;
    san[0] = '\0';
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

        if (g->type == GEN_DNS) {
            const ASN1_IA5STRING *s = g->d.dNSName;

            snprintf(san, len, "%.*s", ASN1_STRING_length(s), ASN1_STRING_get0_data(s));
            break;
        }
    }
    GENERAL_NAMES_free(gens);
}

int e2e_tls_cert_names(const char *path, char *cn, char *san, char *issuer, size_t len)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    if (f == NULL)
        return -1;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL)
        return -1;
    cert_names(x, cn, san, issuer, len);
    X509_free(x);
    return 0;
}

/* ---- the client ------------------------------------------------------------------------------ */

static _Thread_local char last_error[512];

const char *e2e_tls_last_error(void)
{
    return last_error;
}

/* Sets last_error to <what> and the OpenSSL error queue (which it empties). */
static void set_error(const char *what, SSL *ssl)
{
    size_t off;
    unsigned long e;

    snprintf(last_error, sizeof(last_error), "%s", what);
    off = strlen(last_error);
    while ((e = ERR_get_error()) != 0 && off + 2 < sizeof(last_error)) {
        snprintf(last_error + off, sizeof(last_error) - off, ": ");
        ERR_error_string_n(e, last_error + off + 2, sizeof(last_error) - off - 2);
        off = strlen(last_error);
    }
    if (ssl != NULL && SSL_get_verify_result(ssl) != X509_V_OK && off + 2 < sizeof(last_error))
        snprintf(last_error + off, sizeof(last_error) - off, " (verify: %s)",
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
}

/* "h2,http/1.1" -> the ALPN wire format in <out>; returns its length. */
static size_t alpn_wire(const char *list, unsigned char *out, size_t cap)
{
    size_t n = 0;

    while (*list != '\0') {
        const char *e = strchr(list, ',');
        size_t l = e ? (size_t)(e - list) : strlen(list);

        if (l > 0 && l < 256 && n + 1 + l <= cap) {
            out[n++] = (unsigned char)l;
            memcpy(out + n, list, l);
            n += l;
        }
        list += l;
        if (*list == ',')
            list++;
    }
    return n;
}

static int remaining(uint64_t deadline)
{
    uint64_t now = e2e_now_ms();

    return now >= deadline ? 0 : (int)(deadline - now);
}

/* Fills <c>'s tls_* fields from its completed handshake. */
static void note_handshake(struct e2e_client *c)
{
    SSL *ssl = c->ssl;
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    EVP_PKEY *pkey;
    X509 *peer;

    c->tls_version = SSL_version(ssl);
    c->tls_reused = SSL_session_reused(ssl);
    snprintf(c->tls_cipher, sizeof(c->tls_cipher), "%s", SSL_get_cipher_name(ssl));
    SSL_get0_alpn_selected(ssl, &alpn, &alen);
    snprintf(c->tls_alpn, sizeof(c->tls_alpn), "%.*s", (int)alen, alpn ? (const char *)alpn : "");
    peer = SSL_get1_peer_certificate(ssl);
    if (peer != NULL) {
        cert_names(peer, c->tls_peer_cn, c->tls_peer_san, c->tls_peer_issuer,
                   sizeof(c->tls_peer_cn));
        pkey = X509_get0_pubkey(peer);
        snprintf(c->tls_peer_key, sizeof(c->tls_peer_key), "%s",
                 pkey != NULL ? EVP_PKEY_get0_type_name(pkey) : "");
        X509_free(peer);
    }
}

/* Makes the SSL_CTX of a client as <o> says; NULL with last_error set. */
static SSL_CTX *client_ctx(const struct e2e_tls_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    unsigned char wire[256];
    size_t n;

    if (ctx == NULL) {
        set_error("SSL_CTX_new", NULL);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if ((o->min_version && !SSL_CTX_set_min_proto_version(ctx, o->min_version)) ||
        (o->max_version && !SSL_CTX_set_max_proto_version(ctx, o->max_version))) {
        set_error("setting the TLS versions", NULL);
        goto fail;
    }
    if (o->ca != NULL) {
        if (!SSL_CTX_load_verify_locations(ctx, o->ca, NULL)) {
            set_error("loading the CA file", NULL);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (o->cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
                            SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)) {
        set_error("loading the client certificate", NULL);
        goto fail;
    }
    if (o->alpn != NULL && (n = alpn_wire(o->alpn, wire, sizeof(wire))) > 0 &&
        SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)n) != 0) {
        set_error("setting ALPN", NULL);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct e2e_client *e2e_tls_client_new(int port, const struct e2e_tls_opts *o)
{
    static const struct e2e_tls_opts defaults;
    struct e2e_client *c;
    SSL_CTX *ctx;
    SSL *ssl;
    uint64_t deadline;

    if (o == NULL)
        o = &defaults;
    deadline = e2e_now_ms() + (uint64_t)(o->timeout_ms > 0 ? o->timeout_ms : E2E_TIMEOUT_MS);
    last_error[0] = '\0';
    ERR_clear_error();
    ctx = client_ctx(o);
    if (ctx == NULL)
        return NULL;
    c = e2e_client_new(port);
    if (c == NULL) {
        snprintf(last_error, sizeof(last_error), "connect to port %d: %s", port, strerror(errno));
        SSL_CTX_free(ctx);
        return NULL;
    }
    ssl = SSL_new(ctx);
    c->ssl = ssl;
    c->ssl_ctx = ctx;
    if (ssl == NULL || !SSL_set_fd(ssl, c->fd)) {
        set_error("SSL_new", NULL);
        goto fail;
    }
    if (o->sni != NULL && !SSL_set_tlsext_host_name(ssl, o->sni)) {
        set_error("setting SNI", ssl);
        goto fail;
    }
    if (o->ca != NULL && o->verify_host != NULL && !SSL_set1_host(ssl, o->verify_host)) {
        set_error("setting the name to verify", ssl);
        goto fail;
    }
    if (o->session != NULL && !SSL_set_session(ssl, o->session)) {
        set_error("setting the session", ssl);
        goto fail;
    }
    for (;;) {
        int rc = SSL_connect(ssl), err;
        struct pollfd pfd = {c->fd, 0, 0};

        if (rc == 1)
            break;
        err = SSL_get_error(ssl, rc);
        if (err == SSL_ERROR_WANT_READ)
            pfd.events = POLLIN;
        else if (err == SSL_ERROR_WANT_WRITE)
            pfd.events = POLLOUT;
        else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
            snprintf(last_error, sizeof(last_error), "handshake: connection %s",
                     errno == ECONNRESET ? "reset" : "closed by the server");
            goto fail;
        } else {
            set_error("handshake failed", ssl);
            goto fail;
        }
        if (poll(&pfd, 1, remaining(deadline)) == 0) {
            snprintf(last_error, sizeof(last_error), "handshake: timed out");
            goto fail;
        }
    }
    note_handshake(c);
    return c;
fail:
    /* no close_notify on a failed handshake */
    if (c->ssl != NULL)
        SSL_set_quiet_shutdown(c->ssl, 1);
    e2e_client_free(&c);
    return NULL;
}

void *e2e_tls_session(struct e2e_client *c)
{
    return c->ssl != NULL ? SSL_get1_session(c->ssl) : NULL;
}

void e2e_tls_session_free(void **sp)
{
    SSL_SESSION_free(*sp);
    *sp = NULL;
}

int e2e_tls_session_has_ticket(void *s)
{
    return s != NULL && SSL_SESSION_has_ticket(s);
}

/* Maps an SSL I/O result to the e2e_tls_read/e2e_tls_write convention. */
static long io_result(struct e2e_client *c, int rc, short *events, int reading)
{
    int err = SSL_get_error(c->ssl, rc);

    switch (err) {
    case SSL_ERROR_WANT_READ:
        *events = POLLIN;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *events = POLLOUT;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN: /* close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF) */
        if (reading) {
            c->eof = 1;
            return 0;
        }
        return -EPIPE;
    default: /* SYSCALL or SSL: the connection is unusable */
        if (err == SSL_ERROR_SYSCALL && errno == ECONNRESET)
            c->reset = 1;
        ERR_clear_error();
        if (reading) {
            c->eof = 1;
            return 0;
        }
        return c->reset ? -ECONNRESET : -EPIPE;
    }
}

long e2e_tls_write(struct e2e_client *c, const void *p, size_t len, short *events)
{
    int rc;

    ERR_clear_error();
    rc = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
    if (rc > 0)
        return rc;
    return io_result(c, rc, events, 0);
}

long e2e_tls_read(struct e2e_client *c, void *p, size_t len, short *events)
{
    int rc;

    ERR_clear_error();
    rc = SSL_read(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
    if (rc > 0)
        return rc;
    return io_result(c, rc, events, 1);
}

void e2e_tls_shutdown_wr(struct e2e_client *c)
{
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    ERR_clear_error();
    shutdown(c->fd, SHUT_WR);
}

void e2e_tls_client_close(struct e2e_client *c)
{
    if (c->ssl != NULL) {
        ERR_clear_error();
        /* a close_notify keeps the session resumable; the socket is non-blocking, so this
         * never waits */
        if (SSL_is_init_finished(c->ssl) && !(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN))
            SSL_shutdown(c->ssl);
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        ERR_clear_error();
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    SSL_CTX_free(c->ssl_ctx);
    c->ssl_ctx = NULL;
}

/* ---- accel's TLS port ------------------------------------------------------------------------ */

int e2e_accel_tls_port(struct e2e_accel *a)
{
    static const char needle[] = "listening on 127.0.0.1:";
    uint64_t deadline = e2e_now_ms() + 10000;

    for (;;) {
        char *text = e2e_read_file(a->error_log, NULL);
        const char *line = text;
        int port = -1;

        while (line != NULL && *line != '\0') {
            const char *eol = strchr(line, '\n');
            size_t len = eol ? (size_t)(eol - line) : strlen(line);
            char *l = e2e_xstrndup(line, len);
            char *hit = strstr(l, needle);

            if (hit != NULL && strstr(hit, "(tls)") != NULL) {
                long v = strtol(hit + strlen(needle), NULL, 10);

                port = v > 0 && v < 65536 ? (int)v : -1;
            }
            free(l);
            if (port > 0)
                break;
            line = eol ? eol + 1 : NULL;
        }
        free(text);
        if (port > 0)
            return port;
        if (e2e_now_ms() >= deadline)
            return -1;
        e2e_sleep_ms(10);
    }
}
