/* http.h - the glue around llhttp: a parser that stops after each head and after each message,
 * a head made of spans into the caller's input buffer, and the writers of the heads accel
 * sends (to the origin, to the client, and its own error answers).
 *
 * Spans in a struct http_head point into the buffer the caller fed to http_parse(); the caller
 * must not move those bytes until it is done with the head. Pieces of one field that arrive in
 * separate reads must be contiguous in that buffer (the caller appends, never compacts, while a
 * head is incomplete). */
#ifndef ACCEL_HTTP_H
#define ACCEL_HTTP_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "accel/base.h"

#define HTTP_MAX_CONN_TOKENS 16

enum http_ev {
    HTTP_EV_MORE = 0, /* all bytes consumed, the message goes on */
    HTTP_EV_HEAD,     /* a head is complete: inspect it, then call http_parse() again */
    HTTP_EV_DONE,     /* a message is complete (the bytes after it are not consumed) */
    HTTP_EV_ERROR,    /* malformed: see err_status and err_reason */
};

#define HTTP_F_CHUNKED   0x01u /* Transfer-Encoding ends in chunked */
#define HTTP_F_LENGTH    0x02u /* Content-Length given (content_length) */
#define HTTP_F_TE        0x04u /* some Transfer-Encoding */
#define HTTP_F_KEEPALIVE 0x08u /* the sender wants the connection kept (valid at HTTP_EV_DONE) */
#define HTTP_F_NOBODY    0x10u /* the message has no body (response to HEAD, 1xx, 204, 304) */

struct http_head {
    int method; /* llhttp_method_t, requests only */
    unsigned status;
    unsigned vmajor, vminor;
    struct span target, reason;
    struct field *hdrs; /* owned by the parser, max_hdrs of them */
    unsigned n_hdrs;
    uint64_t content_length;
    unsigned flags;
    /* Tokens listed in Connection fields: the hop-by-hop fields this message names. */
    struct span conn_tokens[HTTP_MAX_CONN_TOKENS];
    unsigned n_conn_tokens;
};

struct http_parser {
    llhttp_t ll;
    struct http_head head;
    unsigned max_hdrs;
    size_t max_uri;
    int in_field;  /* the last header piece was a name */
    int in_url;    /* still inside the request target */
    int paused_ev; /* what the pause we asked for means */
    int head_only; /* responses: the request was HEAD, no body follows */
    int err_status;
    const char *err_reason;
    /* Most body bytes one message may have (0: no limit), kept across http_parser_init(): a
     * Content-Length or a chunk size past what is left of it fails at once, before any byte of
     * that body reaches on_body (413 for requests, 502 for responses). */
    uint64_t max_body;
    uint64_t body_len;   /* body bytes of the current message so far */
    uint64_t chunk_left; /* data bytes of the current chunk still to come */
    unsigned crlf_left;  /* bytes of the CRLF after a chunk's data not checked yet (0..2) */
    const char *end;     /* the end of the bytes of the running http_parse() */
    /* Body bytes as llhttp finds them; return 0, or non-zero to stop with HTTP_EV_ERROR after
     * setting err_status. */
    int (*on_body)(void *ctx, const char *p, size_t n);
    void *ctx;
};

/* Sets up <hp> to parse requests (<is_request> = 1) or responses, with at most <max_hdrs>
 * header fields (431 past it) and a target of at most <max_uri> bytes (414). */
void http_parser_init(struct http_parser *hp, int is_request, unsigned max_hdrs, size_t max_uri);
void http_parser_fini(struct http_parser *hp);

/* Feeds <len> bytes at <p>. Sets *<used> to the bytes consumed and returns the event that
 * stopped it. After HTTP_EV_DONE the next call starts a new message. Body bytes go to on_body
 * during the call. On HTTP_EV_ERROR, err_status is the status to answer (400, 413, 414, 431;
 * for responses 502) and the parser must not be used again until http_parser_init(). */
enum http_ev http_parse(struct http_parser *hp, const char *p, size_t len, size_t *used);

/* Tells the parser the connection ended. Returns HTTP_EV_DONE when that completes a
 * close-delimited message, HTTP_EV_ERROR when the message was cut short, HTTP_EV_MORE when no
 * message had started. */
enum http_ev http_finish(struct http_parser *hp);

/* 1 while inside a message (some bytes of it were consumed). */
int http_in_message(const struct http_parser *hp);

/* Returns the first field named <name> (case-insensitive), or NULL. */
const struct field *http_find(const struct http_head *h, const char *name);

/* 1 if the field <name> must not be forwarded: the fixed hop-by-hop list of RFC 9110 §7.6.1
 * (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade) or a field
 * the message's Connection header names. */
int http_is_hop_by_hop(const struct http_head *h, struct span name);

/* Checks the Host of a request: at most one field, a valid authority (reg-name, IPv4 or
 * [IPv6], optional port). HTTP/1.1 requires one. Returns 0 and the value in *<host> (empty
 * when absent), or -EBADMSG. An absolute-form target's authority wins over the field. */
int http_request_host(const struct http_head *h, struct span *host);

/* The origin-form path?query of the request target (absolute-form stripped to it). */
struct span http_request_path(const struct http_head *h);

struct http_fwd {
    struct span host; /* Host to send */
    const char *client_ip;
    const char *proto;       /* "http" */
    struct span client_host; /* the Host the client sent, for X-Forwarded-Host */
    int whole;               /* fetching for the cache: drop Range and the client's conditionals */
    const char *extra;       /* more "Name: value\r\n" lines to send (a revalidation's), or NULL */
    int gzip;                /* ask for gzip: "Accept-Encoding: gzip" in place of the client's */
};

/* Appends to <b> the head accel sends to the origin for request <h>: origin-form target,
 * HTTP/1.1, hop-by-hop fields and Expect dropped, Host from <f>, Via, X-Forwarded-For/-Proto/
 * -Host, and the body framing (Content-Length as received, or chunked). */
void http_write_request(struct buf *b, const struct http_head *h, const struct http_fwd *f);

/* Appends to <b> the head accel sends to the client for origin response <h>: status line with
 * HTTP/1.1, hop-by-hop fields dropped, Via appended, Date added when missing (<date> is the
 * current IMF-fixdate), then "Transfer-Encoding: chunked" when <chunked>, and "Connection:
 * close" when <close> or "Connection: keep-alive" when <keepalive_10> (HTTP/1.0 client).
 * <extra>, when not NULL, is appended as is before the framing ("Name: value\r\n" lines). */
void http_write_response_head(struct buf *b, const struct http_head *h, const char *date,
                              int chunked, int close, int keepalive_10, const char *extra);

/* Appends interim response <h> (1xx) as accel forwards it to an HTTP/1.1 client: status line
 * with HTTP/1.1, hop-by-hop fields and the cache's tag fields dropped, the empty line. */
void http_write_interim(struct buf *b, const struct http_head *h);

/* Appends the head accel stores for origin response <h>: status line with HTTP/1.1 and the
 * end-to-end fields, without hop-by-hop fields, Age and Content-Length (the delivery writes
 * those) and the cache's tag fields (Surrogate-Key, Cache-Tag), with Date added when missing;
 * no final empty line. <flags>:
 * HTTP_STORE_GZIPPED: accel gzips the body: Content-Encoding: gzip added, a strong ETag made
 * weak, fields about the exact bytes (Content-MD5, Digest, Repr-Digest, Content-Digest)
 * dropped; HTTP_STORE_VARY_AE: "Vary: Accept-Encoding" added unless a Vary names it. */
#define HTTP_STORE_GZIPPED 0x1u
#define HTTP_STORE_VARY_AE 0x2u
void http_write_stored_head(struct buf *b, const struct http_head *h, const char *date,
                            unsigned flags);

/* Appends field <name>: <value> as it stands in front of a body accel transformed (gzipped, or
 * inflated): a strong ETag made weak, the fields about the exact bytes (Content-Encoding,
 * Content-MD5, Digest, Repr-Digest, Content-Digest) left out; the others as they are. */
void http_write_transformed_field(struct buf *b, struct span name, struct span value);

/* 1 for Surrogate-Key and Cache-Tag: the origin's tags for the cache, never sent to clients. */
int http_is_cache_tag(struct span name);

/* Appends "<name>: <value>\r\n" to <b>, the value trimmed. */
void http_write_field(struct buf *b, struct span name, struct span value);

/* The one HTTP/1 body framer. Appends the <n> buffers of <iov> to <b>: as they are, or with
 * <chunked> as one chunk (size line, data, CRLF). Nothing for no bytes (a chunk of size 0
 * would end the body). */
void http_write_body(struct buf *b, int chunked, const struct iovec *iov, unsigned n);

/* http_write_body() of one buffer. */
void http_write_body1(struct buf *b, int chunked, const void *p, size_t n);

/* Appends the end of a body: the last chunk and the empty trailer section with <chunked>,
 * nothing otherwise. */
void http_write_body_end(struct buf *b, int chunked);

/* Appends a complete small answer of accel's own: <status> with a text/plain body that says
 * <msg>. With <close>, "Connection: close". <head_only> omits the body (HEAD request). A
 * <retry_after> above 0 adds "Retry-After: <retry_after>" (seconds). */
void http_write_error(struct buf *b, unsigned status, const char *msg, const char *date, int close,
                      int head_only, unsigned retry_after);

/* The reason phrase of <status> ("Bad Gateway"), "Unknown" when accel has none. */
const char *http_reason(unsigned status);

/* The llhttp method (HTTP_GET...) named <name> exactly ("GET"), or -1. */
int http_method_parse(const char *name);

/* Writes the IMF-fixdate for <t> ("Sun, 29 Nov 2026 19:37:29 GMT") into <out> (30 bytes). */
void http_date(long t, char out[30]);

#endif
