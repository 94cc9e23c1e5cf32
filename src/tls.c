/* tls.c - TLS with OpenSSL 3: the contexts of the TLS listeners and of the HTTPS origins, and
 * the TLS backend of the transport layer (see tls.h).
 *
 * Contexts are built once per configuration (and again on SIGHUP) and shared by the workers;
 * each connection holds a reference on the set it started with. The session ticket keys are
 * process-wide and outlive a reload: the current key seals new tickets, the two before it still
 * open theirs, and the current one is replaced once it is a session timeout old (checked when a
 * ticket is made, so no timer is needed).
 *
 * I/O: SSL over the connection's socket (OpenSSL's socket BIO), read-ahead on, partial writes
 * on, so a write returns after each record it sent. A read or a write that cannot go on says
 * what it waits for in rd_wants_wr/wr_wants_rd. Small pieces of a writev are gathered into one
 * record-sized buffer (one record and one syscall for a small answer's head and body); large
 * ones go to SSL_write_ex straight from the object's chunks. ACCEL_TLS_WRITE=iovec in the
 * environment writes every iovec on its own instead, for comparison. */
#include "accel/tls.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>

#include "accel/base.h"
#include "accel/log.h"

#define TLS_MAX_NAMES 64
#define TLS_RECORD    16384 /* the largest TLS record's plaintext */

struct tls_cert_ctx {
    SSL_CTX *ctx;
    char *names[TLS_MAX_NAMES]; /* DNS names of the certificate, lower case; "*.x.y" kept */
    unsigned n_names;
};

struct tls_server {
    atomic_uint refs;
    struct tls_cert_ctx certs[CONF_MAX_CERTS];
    unsigned n;
};

struct tls_origin {
    atomic_uint refs;
    SSL_CTX *ctx;
    unsigned verify;
    char *name; /* origin_tls_name, or NULL: the server's own name */
    pthread_mutex_t lock;
    SSL_SESSION *session; /* the last session the origin gave, to resume with */
};

/* One TLS connection: what transport->impl points to. */
struct tls_conn {
    SSL *ssl;
    struct tls_server *srv;
    struct tls_origin *org;
    int fatal; /* a protocol or socket error: no close_notify, and its session is not kept */
    char why[256];
};

static pthread_mutex_t cur_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_server *cur_server;
static struct tls_origin *cur_origin;
static int write_per_iovec; /* ACCEL_TLS_WRITE=iovec */

/* ---- messages -------------------------------------------------------------------------------- */

/* OpenSSL's reason for the last error in this thread, or <dflt>. */
static const char *ossl_reason(const char *dflt)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    return r != NULL ? r : dflt;
}

__attribute__((format(printf, 3, 4))) static int tls_fail(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return -EINVAL;
}

/* ---- session tickets ------------------------------------------------------------------------- */

struct ticket_key {
    unsigned char name[16], aes[32], hmac[32];
    time_t made;
    int used;
};

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ticket_key keys[3]; /* [0] seals new tickets; [1], [2] still open theirs */
static time_t key_life = 3600;

static int new_key(struct ticket_key *k)
{
    if (RAND_bytes(k->name, sizeof k->name) != 1 || RAND_bytes(k->aes, sizeof k->aes) != 1 ||
        RAND_bytes(k->hmac, sizeof k->hmac) != 1)
        return -1;
    k->made = time(NULL);
    k->used = 1;
    return 0;
}

/* Under keys_lock. */
static void rotate_locked(void)
{
    struct ticket_key k;

    if (new_key(&k) < 0)
        return; /* keep the current key rather than none */
    keys[2] = keys[1];
    keys[1] = keys[0];
    keys[0] = k;
}

void tls_rotate_ticket_keys(void)
{
    pthread_mutex_lock(&keys_lock);
    rotate_locked();
    pthread_mutex_unlock(&keys_lock);
}

static int ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
                     EVP_MAC_CTX *hctx, int enc)
{
    struct ticket_key k;
    int found = -1;
    OSSL_PARAM params[3];

    (void)ssl;
    pthread_mutex_lock(&keys_lock);
    if (enc) {
        if (!keys[0].used || time(NULL) - keys[0].made >= key_life)
            rotate_locked();
        if (keys[0].used) {
            k = keys[0];
            found = 0;
        }
    } else {
        for (int i = 0; i < 3 && found < 0; i++) {
            if (keys[i].used && memcmp(name, keys[i].name, sizeof keys[i].name) == 0) {
                k = keys[i];
                found = i;
            }
        }
    }
    pthread_mutex_unlock(&keys_lock);
    if (found < 0)
        return 0; /* no ticket made; an unknown key: a full handshake */
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (enc) {
        memcpy(name, k.name, sizeof k.name);
        if (RAND_bytes(iv, 16) != 1 ||
            EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1 ||
            EVP_MAC_CTX_set_params(hctx, params) != 1)
            return -1;
        return 1;
    }
    if (EVP_MAC_CTX_set_params(hctx, params) != 1 ||
        EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
        return -1;
    return found == 0 ? 1 : 2; /* 2: good, and a new ticket under the current key follows */
}

/* ---- the server side ------------------------------------------------------------------------- */

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *o = NULL;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&o, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no protocol of ours offered: go on without ALPN */
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

/* 1 when certificate name <pat> ("a.example.com", "*.example.com") covers host <name>. */
static int name_matches(const char *pat, const char *name, int wildcards)
{
    if (pat[0] == '*' && pat[1] == '.') {
        const char *dot = strchr(name, '.');
        return wildcards && dot != NULL && dot != name && strcasecmp(dot, pat + 1) == 0;
    }
    return !wildcards && strcasecmp(pat, name) == 0;
}

/* The certificate for <name>: an exact name first, then a wildcard; else the default (0). */
static unsigned pick_cert(const struct tls_server *s, const char *name)
{
    for (int wild = 0; wild < 2; wild++)
        for (unsigned i = 0; i < s->n; i++)
            for (unsigned j = 0; j < s->certs[i].n_names; j++)
                if (name_matches(s->certs[i].names[j], name, wild))
                    return i;
    return 0;
}

static int sni_cb(SSL *ssl, int *al, void *arg)
{
    struct tls_server *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    unsigned i;

    (void)al;
    if (name == NULL || s->n < 2)
        return SSL_TLSEXT_ERR_OK;
    i = pick_cert(s, name);
    if (i != 0 && SSL_set_SSL_CTX(ssl, s->certs[i].ctx) == NULL)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

static void add_name(struct tls_cert_ctx *cc, const unsigned char *p, int len)
{
    char *n;

    if (len <= 0 || cc->n_names == TLS_MAX_NAMES || memchr(p, '\0', (size_t)len) != NULL)
        return;
    n = xstrndup((const char *)p, (size_t)len);
    for (char *q = n; *q != '\0'; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
    cc->names[cc->n_names++] = n;
}

/* The names SNI matches against: subjectAltName's DNS entries, else the subject's CN. */
static void cert_names(struct tls_cert_ctx *cc)
{
    X509 *x = SSL_CTX_get0_certificate(cc->ctx);
    GENERAL_NAMES *gens;
    X509_NAME *subj;
    int i;

    if (x == NULL)
        return;
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            add_name(cc, ASN1_STRING_get0_data(g->d.dNSName), ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    if (cc->n_names > 0)
        return;
    subj = X509_get_subject_name(x);
    i = subj != NULL ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    if (i >= 0) {
        ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
        add_name(cc, ASN1_STRING_get0_data(cn), ASN1_STRING_length(cn));
    }
}

/* Loads the certificate (with its chain) and key of <ct> into <ctx>. <what> is the directive. */
static int load_cert(SSL_CTX *ctx, const struct conf *c, const struct conf_cert *ct,
                     const char *what, char *err, size_t errlen)
{
    FILE *f;

    /* The system's reason first (a missing file, a permission) rather than OpenSSL's. */
    if ((f = fopen(ct->cert, "r")) == NULL)
        return tls_fail(err, errlen, "%s:%u: %s: %s: %s", c->path, ct->line, what, ct->cert,
                        strerror(errno));
    fclose(f);
    if (SSL_CTX_use_certificate_chain_file(ctx, ct->cert) != 1)
        return tls_fail(err, errlen, "%s:%u: %s: %s: not a PEM certificate (%s)", c->path, ct->line,
                        what, ct->cert, ossl_reason("unreadable"));
    if ((f = fopen(ct->key, "r")) == NULL)
        return tls_fail(err, errlen, "%s:%u: %s: %s: %s", c->path, ct->line, what, ct->key,
                        strerror(errno));
    fclose(f);
    if (SSL_CTX_use_PrivateKey_file(ctx, ct->key, SSL_FILETYPE_PEM) != 1) {
        int r = ERR_GET_REASON(ERR_peek_last_error());

        /* OpenSSL checks the pair as it loads the key: a good key for another certificate */
        if (r != X509_R_KEY_VALUES_MISMATCH && r != X509_R_KEY_TYPE_MISMATCH)
            return tls_fail(err, errlen, "%s:%u: %s: %s: not a PEM private key (%s)", c->path,
                            ct->line, what, ct->key, ossl_reason("unreadable"));
        ERR_clear_error();
    } else if (SSL_CTX_check_private_key(ctx) == 1) {
        return 0;
    }
    return tls_fail(err, errlen, "%s:%u: %s: %s: the key does not match the certificate %s",
                    c->path, ct->line, what, ct->key, ct->cert);
}

static SSL_CTX *server_ctx(const struct conf *c, struct tls_server *s, int first, char *err,
                           size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION;

    if (ctx == NULL) {
        tls_fail(err, errlen, "%s: TLS: %s", c->path, ossl_reason("out of memory"));
        return NULL;
    }
    if (!c->tls_session_tickets)
        opts |= SSL_OP_NO_TICKET;
    /* kTLS: after the handshake OpenSSL hands the keys to the kernel where the kernel's "tls"
     * upper layer takes them (and the cipher is one it knows); where not, it stays in user space
     * without a word, and the connection works the same */
    if (c->tls_ktls)
        opts |= SSL_OP_ENABLE_KTLS;
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_min_proto_version(ctx, c->tls_min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, c->tls_ciphers != NULL ? c->tls_ciphers : CONF_TLS_CIPHERS) !=
            1 &&
        c->tls_min_version < 13) {
        tls_fail(err, errlen, "%s: tls_ciphers: no cipher OpenSSL knows in \"%s\"", c->path,
                 c->tls_ciphers != NULL ? c->tls_ciphers : CONF_TLS_CIPHERS);
        goto fail;
    }
    if (c->tls_ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, c->tls_ciphersuites) != 1) {
        tls_fail(err, errlen, "%s: tls_ciphersuites: no TLS 1.3 suite OpenSSL knows in \"%s\"",
                 c->path, c->tls_ciphersuites);
        goto fail;
    }
    /* Resumption (it is the first context, the session context, that OpenSSL consults). */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"accel", 5);
    SSL_CTX_set_timeout(ctx, (long)(c->tls_session_timeout / 1000));
    if (c->tls_session_cache > 0) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, (long)c->tls_session_cache);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    SSL_CTX_set_num_tickets(ctx, c->tls_session_tickets || c->tls_session_cache > 0 ? 1 : 0);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    if (first) {
        SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
        SSL_CTX_set_tlsext_servername_arg(ctx, s);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static void server_free(struct tls_server *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        SSL_CTX_free(s->certs[i].ctx);
        for (unsigned j = 0; j < s->certs[i].n_names; j++)
            free(s->certs[i].names[j]);
    }
    free(s);
}

static int server_new(const struct conf *c, struct tls_server **out, char *err, size_t errlen)
{
    struct tls_server *s;

    *out = NULL;
    if (c->listen_tls == 0)
        return 0;
    s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    for (unsigned i = 0; i < c->n_tls_certs; i++) {
        struct tls_cert_ctx *cc = &s->certs[s->n];

        cc->ctx = server_ctx(c, s, i == 0, err, errlen);
        if (cc->ctx == NULL)
            goto fail;
        s->n++;
        if (load_cert(cc->ctx, c, &c->tls_certs[i], "tls_certificate", err, errlen) < 0)
            goto fail;
        cert_names(cc);
    }
    *out = s;
    return 0;
fail:
    server_free(s);
    return -EINVAL;
}

/* ---- the origin side ------------------------------------------------------------------------- */

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_origin *o = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

    if (o == NULL)
        return 0;
    pthread_mutex_lock(&o->lock);
    SSL_SESSION_free(o->session);
    o->session = sess; /* the reference OpenSSL handed us */
    pthread_mutex_unlock(&o->lock);
    return 1;
}

static void origin_free(struct tls_origin *o)
{
    SSL_CTX_free(o->ctx);
    SSL_SESSION_free(o->session);
    pthread_mutex_destroy(&o->lock);
    free(o->name);
    free(o);
}

static int origin_new(const struct conf *c, struct tls_origin **out, char *err, size_t errlen)
{
    struct tls_origin *o;
    unsigned any = 0;

    *out = NULL;
    any = conf_tls_server(c) != NULL;
    if (!any)
        return 0;
    o = xcalloc(1, sizeof *o);
    atomic_init(&o->refs, 1);
    pthread_mutex_init(&o->lock, NULL);
    o->verify = c->origin_tls_verify;
    if (c->origin_tls_name != NULL)
        o->name = xstrndup(c->origin_tls_name, strlen(c->origin_tls_name));
    o->ctx = SSL_CTX_new(TLS_client_method());
    if (o->ctx == NULL) {
        tls_fail(err, errlen, "%s: TLS: %s", c->path, ossl_reason("out of memory"));
        goto fail;
    }
    SSL_CTX_set_app_data(o->ctx, o);
    SSL_CTX_set_options(o->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                    SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(o->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(o->ctx, 1);
    SSL_CTX_set_min_proto_version(o->ctx, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(o->ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(o->ctx, new_session_cb);
    if (o->verify) {
        SSL_CTX_set_verify(o->ctx, SSL_VERIFY_PEER, NULL);
        if (c->origin_tls_ca != NULL) {
            FILE *f = fopen(c->origin_tls_ca, "r");
            if (f == NULL) {
                tls_fail(err, errlen, "%s: origin_tls_ca: %s: %s", c->path, c->origin_tls_ca,
                         strerror(errno));
                goto fail;
            }
            fclose(f);
            if (SSL_CTX_load_verify_locations(o->ctx, c->origin_tls_ca, NULL) != 1) {
                tls_fail(err, errlen, "%s: origin_tls_ca: %s: no PEM certificate in it (%s)",
                         c->path, c->origin_tls_ca, ossl_reason("unreadable"));
                goto fail;
            }
        } else if (SSL_CTX_set_default_verify_paths(o->ctx) != 1) {
            tls_fail(err, errlen, "%s: origin: the system's certificate store: %s", c->path,
                     ossl_reason("cannot be read"));
            goto fail;
        }
    }
    if (c->origin_tls_cert.cert != NULL &&
        load_cert(o->ctx, c, &c->origin_tls_cert, "origin_tls_certificate", err, errlen) < 0)
        goto fail;
    *out = o;
    return 0;
fail:
    origin_free(o);
    return -EINVAL;
}

/* ---- the current sets ------------------------------------------------------------------------ */

struct tls_server *tls_server_acquire(void)
{
    struct tls_server *s;

    pthread_mutex_lock(&cur_lock);
    s = cur_server;
    if (s != NULL)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&cur_lock);
    return s;
}

void tls_server_release(struct tls_server **sp)
{
    struct tls_server *s = *sp;

    *sp = NULL;
    if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        server_free(s);
}

struct tls_origin *tls_origin_acquire(void)
{
    struct tls_origin *o;

    pthread_mutex_lock(&cur_lock);
    o = cur_origin;
    if (o != NULL)
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&cur_lock);
    return o;
}

void tls_origin_release(struct tls_origin **op)
{
    struct tls_origin *o = *op;

    *op = NULL;
    if (o != NULL && atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
        origin_free(o);
}

static int build_and_swap(const struct conf *c, char *err, size_t errlen)
{
    struct tls_server *s, *old_s;
    struct tls_origin *o, *old_o;

    if (server_new(c, &s, err, errlen) < 0)
        return -EINVAL;
    if (origin_new(c, &o, err, errlen) < 0) {
        tls_server_release(&s);
        return -EINVAL;
    }
    pthread_mutex_lock(&keys_lock);
    key_life = (time_t)(c->tls_session_timeout / 1000);
    if (!keys[0].used)
        rotate_locked();
    pthread_mutex_unlock(&keys_lock);
    pthread_mutex_lock(&cur_lock);
    old_s = cur_server;
    old_o = cur_origin;
    cur_server = s;
    cur_origin = o;
    pthread_mutex_unlock(&cur_lock);
    tls_server_release(&old_s);
    tls_origin_release(&old_o);
    return 0;
}

int tls_setup(const struct conf *c, char *err, size_t errlen)
{
    const char *wr = getenv("ACCEL_TLS_WRITE");

    write_per_iovec = wr != NULL && strcmp(wr, "iovec") == 0;
    return build_and_swap(c, err, errlen);
}

int tls_reload(const struct conf *c, char *err, size_t errlen)
{
    return build_and_swap(c, err, errlen);
}

void tls_shutdown(void)
{
    struct tls_server *s;
    struct tls_origin *o;

    pthread_mutex_lock(&cur_lock);
    s = cur_server;
    o = cur_origin;
    cur_server = NULL;
    cur_origin = NULL;
    pthread_mutex_unlock(&cur_lock);
    tls_server_release(&s);
    tls_origin_release(&o);
}

/* ---- the transport backend ------------------------------------------------------------------- */

/* Records why the connection failed: the certificate check's verdict when that was it. */
static void set_why(struct transport *t, struct tls_conn *tc)
{
    unsigned long e = ERR_peek_last_error();
    const char *what = SSL_is_init_finished(tc->ssl) ? "TLS error" : "TLS handshake failed";
    long vr = SSL_get_verify_result(tc->ssl);

    if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK)
        snprintf(tc->why, sizeof tc->why, "%s: certificate verify failed: %s", what,
                 X509_verify_cert_error_string(vr));
    else
        snprintf(tc->why, sizeof tc->why, "%s: %s", what, ossl_reason("protocol error"));
    t->why = tc->why;
    ERR_clear_error();
}

/* The result of an SSL call <r> that did not succeed, as the transport's return value. <rd>:
 * it was a read (or a handshake). */
static int tls_result(struct transport *t, struct tls_conn *tc, int r, int rd)
{
    int saved = errno;

    switch (SSL_get_error(tc->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        if (rd)
            t->rd_wants_wr = 0;
        else
            t->wr_wants_rd = 1;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        if (rd)
            t->rd_wants_wr = 1;
        else
            t->wr_wants_rd = 0;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return rd ? 0 : -EPIPE;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        tc->fatal = 1;
        if (saved == 0 || saved == EAGAIN) {
            if (!SSL_is_init_finished(tc->ssl)) {
                snprintf(tc->why, sizeof tc->why,
                         "TLS handshake failed: the peer closed the connection");
                t->why = tc->why;
            }
            return rd && SSL_is_init_finished(tc->ssl) ? 0 : -ECONNRESET;
        }
        return -saved;
    case SSL_ERROR_SSL:
    default:
        tc->fatal = 1;
        set_why(t, tc);
        return -EPROTO;
    }
}

static ssize_t tls_read(struct transport *t, void *p, size_t n)
{
    struct tls_conn *tc = t->impl;
    size_t total = 0, got;

    for (;;) {
        int r;

        ERR_clear_error();
        errno = 0;
        r = SSL_read_ex(tc->ssl, (char *)p + total, n - total, &got);
        if (r == 1) {
            total += got;
            t->rd_wants_wr = 0;
            /* more decrypted bytes in hand: take them without another system call */
            if (total < n && SSL_pending(tc->ssl) > 0)
                continue;
            return (ssize_t)total;
        }
        r = tls_result(t, tc, r, 1);
        return total > 0 ? (ssize_t)total : r;
    }
}

/* One SSL_write_ex of <n> bytes at <p>: the bytes it took (one record or more), or a negative
 * errno. */
static ssize_t tls_write_one(struct transport *t, struct tls_conn *tc, const void *p, size_t n)
{
    size_t done = 0;
    int r;

    ERR_clear_error();
    errno = 0;
    r = SSL_write_ex(tc->ssl, p, n, &done);
    if (r == 1) {
        t->wr_wants_rd = 0;
        return (ssize_t)done;
    }
    return tls_result(t, tc, r, 0);
}

static _Thread_local unsigned char gather[TLS_RECORD];

static ssize_t tls_writev(struct transport *t, const struct iovec *iov, int n)
{
    struct tls_conn *tc = t->impl;
    size_t total = 0, off = 0;
    int i = 0;

    while (i < n) {
        size_t left = iov[i].iov_len - off;
        ssize_t w;
        size_t len;

        if (left == 0) {
            i++;
            off = 0;
            continue;
        }
        if (write_per_iovec > 0 || left >= TLS_RECORD) {
            /* straight from the caller's memory (the object's chunk) */
            len = left;
            w = tls_write_one(t, tc, (const char *)iov[i].iov_base + off, len);
        } else {
            /* gather this piece and what follows into one record. A retry after -EAGAIN
             * gathers the same bytes again (the caller's bytes only grow), as OpenSSL needs. */
            int j = i;
            size_t o = off;

            len = 0;
            while (j < n && len < TLS_RECORD) {
                size_t take = iov[j].iov_len - o;
                if (take > TLS_RECORD - len)
                    take = TLS_RECORD - len;
                memcpy(gather + len, (const char *)iov[j].iov_base + o, take);
                len += take;
                o += take;
                if (o == iov[j].iov_len) {
                    j++;
                    o = 0;
                }
            }
            w = tls_write_one(t, tc, gather, len);
        }
        if (w < 0)
            return total > 0 ? (ssize_t)total : w;
        total += (size_t)w;
        /* advance past the <w> bytes written */
        for (size_t adv = (size_t)w; adv > 0 && i < n;) {
            size_t rest = iov[i].iov_len - off;
            if (adv < rest) {
                off += adv;
                adv = 0;
            } else {
                adv -= rest;
                i++;
                off = 0;
            }
        }
    }
    return (ssize_t)total;
}

static int tls_shutdown_op(struct transport *t)
{
    struct tls_conn *tc = t->impl;

    ERR_clear_error();
    if (SSL_is_init_finished(tc->ssl))
        (void)SSL_shutdown(tc->ssl); /* close_notify, if the socket takes it */
    ERR_clear_error();
    return transport_shutdown_fd(t->fd);
}

static void tls_close(struct transport *t)
{
    struct tls_conn *tc = t->impl;

    /* A close_notify, as far as the socket takes it: a connection freed without one has its
     * session dropped from the cache (OpenSSL takes it for a broken one). */
    ERR_clear_error();
    if (!tc->fatal && SSL_is_init_finished(tc->ssl) &&
        !(SSL_get_shutdown(tc->ssl) & SSL_SENT_SHUTDOWN))
        (void)SSL_shutdown(tc->ssl);
    SSL_free(tc->ssl);
    ERR_clear_error();
    tls_server_release(&tc->srv);
    tls_origin_release(&tc->org);
    free(tc);
    t->impl = NULL;
    transport_close_fd(t->fd);
}

static int tls_handshake(struct transport *t)
{
    struct tls_conn *tc = t->impl;
    int r;

    ERR_clear_error();
    errno = 0;
    r = SSL_do_handshake(tc->ssl);
    if (r == 1) {
        t->rd_wants_wr = t->wr_wants_rd = 0;
        return 0;
    }
    /* plain HTTP on a TLS port (OpenSSL knows a request line when it sees one): say so in the
     * clear, as nginx does, rather than leave the client with an empty reply */
    if (tc->srv != NULL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST) {
        static const char body[] =
            "This port speaks HTTPS: the plain HTTP request was not answered.\n";
        char plain[256];
        int n = snprintf(plain, sizeof plain,
                         "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         sizeof body - 1, body);

        (void)transport_send_clear(t->fd, plain, (size_t)n);
    }
    return tls_result(t, tc, r, 1);
}

static size_t tls_pending(const struct transport *t)
{
    const struct tls_conn *tc = t->impl;

    return SSL_has_pending(tc->ssl) ? (size_t)(SSL_pending(tc->ssl) > 0 ? SSL_pending(tc->ssl) : 1)
                                    : 0;
}

static const struct transport_ops tls_ops = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .shutdown = tls_shutdown_op,
    .close = tls_close,
    .handshake = tls_handshake,
    .pending = tls_pending,
};

int transport_tls_server(struct transport *t, int fd, struct tls_server *s,
                         atomic_uint_fast64_t *sum_in, atomic_uint_fast64_t *sum_out)
{
    struct tls_conn *tc;
    SSL *ssl;

    AN(s != NULL && s->n > 0);
    ssl = SSL_new(s->certs[0].ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return -ENOMEM;
    }
    SSL_set_accept_state(ssl);
    tc = xcalloc(1, sizeof *tc);
    tc->ssl = ssl;
    tc->srv = s;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    transport_plain(t, fd, sum_in, sum_out);
    t->ops = &tls_ops;
    t->impl = tc;
    return 0;
}

int transport_tls_client(struct transport *t, struct tls_origin *o, const char *host)
{
    const char *name = o->name != NULL ? o->name : host;
    struct tls_conn *tc;
    SSL *ssl;

    ssl = SSL_new(o->ctx);
    if (ssl == NULL || SSL_set_fd(ssl, t->fd) != 1)
        goto fail;
    SSL_set_connect_state(ssl);
    /* SNI is for names, not addresses (RFC 6066 3) */
    if (name[0] != '\0' && strspn(name, "0123456789.:") != strlen(name) &&
        SSL_set_tlsext_host_name(ssl, name) != 1)
        goto fail;
    if (o->verify) {
        /* the name the certificate must carry: an IP address entry for an address */
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1 && SSL_set1_host(ssl, name) != 1)
            goto fail;
    }
    pthread_mutex_lock(&o->lock);
    if (o->session != NULL)
        SSL_set_session(ssl, o->session);
    pthread_mutex_unlock(&o->lock);
    tc = xcalloc(1, sizeof *tc);
    tc->ssl = ssl;
    tc->org = o;
    atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    t->ops = &tls_ops;
    t->impl = tc;
    return 0;
fail:
    SSL_free(ssl);
    ERR_clear_error();
    return -ENOMEM;
}

const char *transport_tls_version(const struct transport *t)
{
    const struct tls_conn *tc = t->ops == &tls_ops ? t->impl : NULL;

    return tc != NULL ? SSL_get_version(tc->ssl) : NULL;
}

int transport_tls_resumed(const struct transport *t)
{
    const struct tls_conn *tc = t->ops == &tls_ops ? t->impl : NULL;

    return tc != NULL && SSL_session_reused(tc->ssl);
}

int transport_tls_ktls(const struct transport *t)
{
    const struct tls_conn *tc = t->ops == &tls_ops ? t->impl : NULL;

    if (tc == NULL)
        return 0;
    return (BIO_get_ktls_send(SSL_get_wbio(tc->ssl)) ? 1 : 0) |
           (BIO_get_ktls_recv(SSL_get_rbio(tc->ssl)) ? 2 : 0);
}

int tls_kernel_has_ktls(void)
{
    char buf[256];
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
    size_t n;

    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, " \t\n", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\n", &save))
        if (strcmp(tok, "tls") == 0)
            return 1;
    return 0;
}
