/* tls.h - TLS with OpenSSL: the certificates and settings of the TLS listeners, the settings
 * toward HTTPS origins, and the TLS backend of the transport layer.
 *
 * The contexts are built from a conf by tls_setup() (at start, and again by tls_reload() on
 * SIGHUP) and are shared by every worker: OpenSSL's contexts may be used from several threads
 * to create connections. A connection holds a reference on the context set it started with,
 * so a reload swaps the set for new connections while the old ones finish on theirs.
 *
 * Client side: one context per certificate, the first being the default; the server name a
 * client asks for (SNI) picks the certificate whose names (subjectAltName DNS entries, else the
 * subject's CN; "*.example.com" matches one label) match it, else the default. ALPN offers
 * http/1.1. Sessions resume by ticket (keys made at start, kept in memory only, rotated) or
 * from the session cache. Origin side: certificate verification against the system store or
 * tls_origin_ca, with the origin's host name (or origin_tls_name) as SNI and as the name to
 * check, and an optional client certificate. */
#ifndef ACCEL_TLS_H
#define ACCEL_TLS_H

#include <stdatomic.h>
#include <stddef.h>

#include "accel/conf.h"
#include "accel/transport.h"

struct tls_server; /* what the TLS listeners present: certificates, versions, resumption */
struct tls_origin; /* how accel speaks TLS to its HTTPS origins */

/* Builds the TLS contexts that <c> asks for (none when it has no TLS listener and no https://
 * origin) and makes them the current ones. Returns 0, or -EINVAL with "<file>: <why>" (the
 * certificate, key or CA file at fault, and OpenSSL's reason) in <err>. */
int tls_setup(const struct conf *c, char *err, size_t errlen);

/* Builds the contexts of <c> again from the files it names (certificates and keys that changed
 * on disk) and makes them current for new connections; connections in flight keep theirs. On
 * error returns -EINVAL with the reason in <err> and the current contexts stay. The session
 * ticket keys are kept, so clients resume across a reload. */
int tls_reload(const struct conf *c, char *err, size_t errlen);

/* Frees the current contexts (at exit, after every connection is closed). */
void tls_shutdown(void);

/* The current server contexts with one more reference (NULL when no listener speaks TLS), and
 * dropping one. Any thread. */
struct tls_server *tls_server_acquire(void);
void tls_server_release(struct tls_server **sp);

/* The same for the origin side (NULL when no origin is https://). */
struct tls_origin *tls_origin_acquire(void);
void tls_origin_release(struct tls_origin **op);

/* Sets up <t> as the server side of a TLS connection over the accepted socket <fd> (taken
 * over), presenting <s> (a reference of its own is taken). The handshake runs in
 * transport_handshake(). Counting as transport_plain(). Returns 0 or -ENOMEM (nothing is
 * closed then). */
int transport_tls_server(struct transport *t, int fd, struct tls_server *s,
                         atomic_uint_fast64_t *sum_in, atomic_uint_fast64_t *sum_out);

/* Turns <t>, a plain connection to an origin that is up, into the client side of a TLS
 * connection to <host> (SNI, unless it is an address, and the name or address its certificate
 * must carry; origin_tls_name overrides it) with the settings of <o> (a reference of its own is
 * taken). The caller runs transport_handshake() to its end. Returns 0 or -ENOMEM (<t> is left
 * plain then). */
int transport_tls_client(struct transport *t, struct tls_origin *o, const char *host);

/* The protocol version of a TLS connection ("TLSv1.3"), or NULL when <t> is not TLS. */
const char *transport_tls_version(const struct transport *t);

/* 1 when the TLS connection <t> resumed a session (no full handshake), else 0. */
int transport_tls_resumed(const struct transport *t);

/* Whether the kernel encrypts the records of <t> (kTLS, tls_ktls on): 1 sending, 2 receiving, 3
 * both, 0 neither (or <t> is not TLS). */
int transport_tls_ktls(const struct transport *t);

/* 1 when the running kernel has its TLS upper layer loaded ("tls" in
 * /proc/sys/net/ipv4/tcp_available_ulp), so that tls_ktls can take effect; else 0. */
int tls_kernel_has_ktls(void);

/* Replaces the session ticket key in use now (tickets sealed with the two keys before it still
 * resume). The key also turns over by itself once it is tls_session_timeout old. */
void tls_rotate_ticket_keys(void);

#endif
