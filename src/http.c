/* http.c - llhttp glue and the heads accel writes.
 *
 * The parser pauses llhttp twice per message: after the head (so the caller can look at it
 * before any body byte is consumed) and after the message (so a pipelined next request waits
 * until the current response is done). Header fields are collected as spans into the caller's
 * buffer; a field split across reads arrives as contiguous pieces and its span is extended.
 * Limits on the number of fields and on the target length are enforced here, in the
 * callbacks, with the status to answer recorded in err_status. */
#include "accel/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static struct http_parser *hp_of(llhttp_t *ll)
{
    return (struct http_parser *)ll->data;
}

static int fail(struct http_parser *hp, int status, const char *reason)
{
    hp->err_status = status;
    hp->err_reason = reason;
    return -1;
}

static int on_message_begin(llhttp_t *ll)
{
    struct http_parser *hp = hp_of(ll);
    struct field *hdrs = hp->head.hdrs;

    memset(&hp->head, 0, sizeof(hp->head));
    hp->head.hdrs = hdrs;
    hp->in_field = 0;
    hp->in_url = 0;
    hp->body_len = hp->chunk_left = 0;
    hp->crlf_left = 0;
    return 0;
}

/* Extends <s> with the piece at <p>. Pieces of one field that arrive in separate reads are
 * contiguous in the caller's buffer; a piece that is not is an obsolete line folding
 * (RFC 9112 §5.2), which we reject rather than forward. Returns 0 or -1. */
static int extend(struct span *s, const char *p, size_t n)
{
    if (s->p == NULL || s->len == 0) {
        s->p = p;
        s->len = n;
        return 0;
    }
    if (s->p + s->len != p)
        return -1;
    s->len += n;
    return 0;
}

static int folded(struct http_parser *hp)
{
    return fail(hp, hp->ll.type == HTTP_REQUEST ? 400 : 502, "obsolete line folding");
}

static int on_url(llhttp_t *ll, const char *p, size_t n)
{
    struct http_parser *hp = hp_of(ll);

    hp->in_url = 1;
    if (extend(&hp->head.target, p, n) < 0)
        return folded(hp);
    if (hp->head.target.len > hp->max_uri)
        return fail(hp, 414, "request target too long");
    return 0;
}

static int on_url_complete(llhttp_t *ll)
{
    struct http_parser *hp = hp_of(ll);
    const char *after = hp->head.target.p + hp->head.target.len;

    hp->in_url = 0;
    /* llhttp 8 takes a request line that ends after the target as HTTP/0.9 and goes on to
     * read fields: it has no version to forward, and no framing a proxy could trust. The byte
     * that ended the target is in this buffer (llhttp saw it). */
    if (hp->head.target.p != NULL && after < hp->end && (*after == '\r' || *after == '\n'))
        return fail(hp, 400, "HTTP/0.9 request (no HTTP version)");
    return 0;
}

static int on_status(llhttp_t *ll, const char *p, size_t n)
{
    if (extend(&hp_of(ll)->head.reason, p, n) < 0)
        return folded(hp_of(ll));
    return 0;
}

static int on_header_field(llhttp_t *ll, const char *p, size_t n)
{
    struct http_parser *hp = hp_of(ll);
    struct http_head *h = &hp->head;

    if (!hp->in_field) {
        if (h->n_hdrs >= hp->max_hdrs)
            return fail(hp, 431, "too many header fields");
        h->hdrs[h->n_hdrs].name = span_of(p, n);
        h->hdrs[h->n_hdrs].value = span_of(NULL, 0);
        h->n_hdrs++;
        hp->in_field = 1;
        return 0;
    }
    if (extend(&h->hdrs[h->n_hdrs - 1].name, p, n) < 0)
        return folded(hp);
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *p, size_t n)
{
    struct http_parser *hp = hp_of(ll);
    struct http_head *h = &hp->head;

    AN(h->n_hdrs > 0);
    hp->in_field = 0;
    if (extend(&h->hdrs[h->n_hdrs - 1].value, p, n) < 0)
        return folded(hp);
    return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
    hp_of(ll)->in_field = 0;
    return 0;
}

/* RFC 9110 §5.1: a field name is a token. llhttp 8 lets spaces through ("Name : v"), which
 * RFC 9112 §5.1 says must be rejected. */
static int is_token(struct span s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (!isalnum(ch) && (ch == 0 || !strchr("!#$%&'*+-.^_`|~", ch)))
            return 0;
    }
    return 1;
}

/* Collects the tokens of every Connection field into conn_tokens. */
static void collect_conn_tokens(struct http_head *h)
{
    for (unsigned i = 0; i < h->n_hdrs; i++) {
        struct span v = h->hdrs[i].value;
        size_t start = 0;

        if (!span_eq_ci(h->hdrs[i].name, "connection"))
            continue;
        for (size_t j = 0; j <= v.len; j++) {
            if (j < v.len && v.p[j] != ',')
                continue;
            struct span t = span_trim(span_of(v.p + start, j - start));
            if (t.len > 0 && h->n_conn_tokens < HTTP_MAX_CONN_TOKENS)
                h->conn_tokens[h->n_conn_tokens++] = t;
            start = j + 1;
        }
    }
}

static int on_headers_complete(llhttp_t *ll)
{
    struct http_parser *hp = hp_of(ll);
    struct http_head *h = &hp->head;

    h->method = ll->method;
    h->status = ll->status_code;
    h->vmajor = ll->http_major;
    h->vminor = ll->http_minor;
    if (ll->flags & F_CHUNKED)
        h->flags |= HTTP_F_CHUNKED;
    if (ll->flags & F_TRANSFER_ENCODING)
        h->flags |= HTTP_F_TE;
    if (ll->flags & F_CONTENT_LENGTH) {
        h->flags |= HTTP_F_LENGTH;
        h->content_length = ll->content_length;
    }
    if (h->vmajor != 1) {
        if (ll->type == HTTP_RESPONSE)
            return fail(hp, 502, "not an HTTP/1.x response");
        if (h->vmajor == 0)
            return fail(hp, 400, "HTTP/0.9 request");
        return fail(hp, 505, "only HTTP/1.0 and HTTP/1.1 are supported here");
    }
    if (ll->type == HTTP_RESPONSE &&
        (hp->head_only || h->status / 100 == 1 || h->status == 204 || h->status == 304)) {
        /* llhttp would read a body announced by Content-Length on these: they have none. */
        ll->flags |= F_SKIPBODY;
        h->flags |= HTTP_F_NOBODY;
    }
    if (hp->max_body != 0 && (h->flags & HTTP_F_LENGTH) && !(h->flags & HTTP_F_NOBODY) &&
        h->content_length > hp->max_body)
        return fail(hp, ll->type == HTTP_REQUEST ? 413 : 502, "body too large");
    for (unsigned i = 0; i < h->n_hdrs; i++)
        if (!is_token(h->hdrs[i].name))
            return fail(hp, ll->type == HTTP_REQUEST ? 400 : 502, "invalid header field name");
    collect_conn_tokens(h);
    hp->paused_ev = HTTP_EV_HEAD;
    return HPE_PAUSED;
}

static int bad_chunk(struct http_parser *hp, const char *why)
{
    return fail(hp, hp->ll.type == HTTP_REQUEST ? 400 : 502, why);
}

/* Checks the bytes from <p> (up to the end of the buffer being parsed) against what is left
 * of the CRLF that must end a chunk's data: llhttp 8 skips those two bytes unread, so data
 * longer than its chunk size would otherwise run on into what is parsed as the next chunk, or
 * the next message (RFC 9112 §7.1). Returns 0 or -1. */
static int check_crlf(struct http_parser *hp, const char *p)
{
    while (hp->crlf_left > 0 && p < hp->end) {
        if (*p++ != (hp->crlf_left == 2 ? '\r' : '\n'))
            return bad_chunk(hp, "chunk data not followed by CRLF");
        hp->crlf_left--;
    }
    return 0;
}

static int on_chunk_header(llhttp_t *ll)
{
    struct http_parser *hp = hp_of(ll);
    uint64_t size = ll->content_length;

    AZ(hp->crlf_left); /* llhttp consumed the previous CRLF, and check_crlf() saw it */
    if (hp->max_body != 0 && size > hp->max_body - hp->body_len)
        return fail(hp, ll->type == HTTP_REQUEST ? 413 : 502, "chunk larger than the body limit");
    hp->chunk_left = size;
    return 0;
}

static int on_body(llhttp_t *ll, const char *p, size_t n)
{
    struct http_parser *hp = hp_of(ll);

    if (ll->flags & F_CHUNKED) {
        AN(n <= hp->chunk_left);
        hp->chunk_left -= n;
        if (hp->chunk_left == 0) {
            /* Checked before the data goes on: a chunk that overran its size is not passed. */
            hp->crlf_left = 2;
            if (check_crlf(hp, p + n) < 0)
                return -1;
        }
    }
    hp->body_len += n;
    if (hp->on_body != NULL && hp->on_body(hp->ctx, p, n) != 0) {
        if (hp->err_status == 0)
            hp->err_status = 400;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    struct http_parser *hp = hp_of(ll);

    if (llhttp_should_keep_alive(ll))
        hp->head.flags |= HTTP_F_KEEPALIVE;
    hp->paused_ev = HTTP_EV_DONE;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_chunk_header = on_chunk_header,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_parser_init(struct http_parser *hp, int is_request, unsigned max_hdrs, size_t max_uri)
{
    struct field *hdrs = hp->head.hdrs;
    unsigned old_max = hp->max_hdrs;
    int (*body_cb)(void *, const char *, size_t) = hp->on_body;
    void *ctx = hp->ctx;
    uint64_t max_body = hp->max_body;

    if (hdrs == NULL || old_max != max_hdrs) {
        free(hdrs);
        /* not zeroed (a response parser's 1000 fields are 32 KiB): a field's name and value
         * are both set when it starts, and nothing reads past n_hdrs */
        hdrs = xmalloc(max_hdrs * sizeof(*hdrs));
    }
    memset(hp, 0, sizeof(*hp));
    llhttp_init(&hp->ll, is_request ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
    hp->ll.data = hp;
    hp->head.hdrs = hdrs;
    hp->max_hdrs = max_hdrs;
    hp->max_uri = max_uri;
    hp->on_body = body_cb;
    hp->ctx = ctx;
    hp->max_body = max_body;
}

void http_parser_fini(struct http_parser *hp)
{
    free(hp->head.hdrs);
    hp->head.hdrs = NULL;
}

static const char *reason_of_errno(llhttp_errno_t e)
{
    switch (e) {
    case HPE_INVALID_METHOD:
        return "invalid method";
    case HPE_INVALID_URL:
        return "invalid request target";
    case HPE_INVALID_VERSION:
        return "invalid HTTP version";
    case HPE_INVALID_HEADER_TOKEN:
        return "invalid header field";
    case HPE_INVALID_CONTENT_LENGTH:
        return "invalid Content-Length";
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return "Content-Length with Transfer-Encoding, or duplicate Content-Length";
    case HPE_INVALID_CHUNK_SIZE:
        return "invalid chunk size";
    case HPE_INVALID_TRANSFER_ENCODING:
        return "invalid Transfer-Encoding";
    case HPE_INVALID_STATUS:
        return "invalid status line";
    default:
        return "malformed message";
    }
}

enum http_ev http_parse(struct http_parser *hp, const char *p, size_t len, size_t *used)
{
    llhttp_errno_t e;

    hp->paused_ev = HTTP_EV_MORE;
    hp->end = p + len;
    if (hp->crlf_left > 0 && check_crlf(hp, p) < 0) {
        *used = 0;
        return HTTP_EV_ERROR;
    }
    e = llhttp_execute(&hp->ll, p, len);
    switch (e) {
    case HPE_OK:
        *used = len;
        return HTTP_EV_MORE;
    case HPE_PAUSED:
        *used = (size_t)(llhttp_get_error_pos(&hp->ll) - p);
        llhttp_resume(&hp->ll);
        return (enum http_ev)hp->paused_ev;
    case HPE_PAUSED_UPGRADE:
        /* Upgrade is hop-by-hop and never forwarded: carry on as plain HTTP/1.1. */
        *used = (size_t)(llhttp_get_error_pos(&hp->ll) - p);
        llhttp_resume_after_upgrade(&hp->ll);
        return HTTP_EV_DONE;
    default:
        *used = 0;
        if (hp->err_status == 0) {
            hp->err_status = hp->ll.type == HTTP_REQUEST ? 400 : 502;
            hp->err_reason = reason_of_errno(e);
        }
        return HTTP_EV_ERROR;
    }
}

enum http_ev http_finish(struct http_parser *hp)
{
    int was_in = http_in_message(hp);
    llhttp_errno_t e;

    hp->paused_ev = HTTP_EV_MORE;
    e = llhttp_finish(&hp->ll);
    if (e == HPE_PAUSED) {
        llhttp_resume(&hp->ll);
        return (enum http_ev)hp->paused_ev;
    }
    if (e != HPE_OK) {
        if (hp->err_status == 0) {
            hp->err_status = 502;
            hp->err_reason = "connection closed inside a message";
        }
        return HTTP_EV_ERROR;
    }
    return was_in ? HTTP_EV_DONE : HTTP_EV_MORE;
}

int http_in_message(const struct http_parser *hp)
{
    return llhttp_message_needs_eof(&hp->ll) || hp->ll.finish != HTTP_FINISH_SAFE;
}

const struct field *http_find(const struct http_head *h, const char *name)
{
    for (unsigned i = 0; i < h->n_hdrs; i++)
        if (span_eq_ci(h->hdrs[i].name, name))
            return &h->hdrs[i];
    return NULL;
}

int http_is_hop_by_hop(const struct http_head *h, struct span name)
{
    static const char *const fixed[] = {"connection", "keep-alive",        "proxy-connection", "te",
                                        "trailer",    "transfer-encoding", "upgrade"};

    for (size_t i = 0; i < countof(fixed); i++)
        if (span_eq_ci(name, fixed[i]))
            return 1;
    for (unsigned i = 0; i < h->n_conn_tokens; i++)
        if (name.len == h->conn_tokens[i].len &&
            strncasecmp(name.p, h->conn_tokens[i].p, name.len) == 0)
            return 1;
    return 0;
}

/* RFC 3986 authority as a Host: reg-name / IPv4 / [IP-literal], then an optional :port. */
static int valid_host(struct span v)
{
    size_t i = 0;

    if (v.len == 0)
        return 1;
    if (v.p[0] == '[') {
        for (i = 1; i < v.len && v.p[i] != ']'; i++)
            if (!isxdigit((unsigned char)v.p[i]) && v.p[i] != ':' && v.p[i] != '.')
                return 0;
        if (i >= v.len || i == 1)
            return 0;
        i++;
    } else {
        for (; i < v.len && v.p[i] != ':'; i++) {
            unsigned char ch = (unsigned char)v.p[i];
            if (!isalnum(ch) && (ch == 0 || !strchr("-._~!$&'()*+,;=%", ch)))
                return 0;
        }
        if (i == 0)
            return 0;
    }
    if (i < v.len) {
        if (v.p[i] != ':' || i + 1 == v.len || v.len - i - 1 > 5)
            return 0;
        for (i++; i < v.len; i++)
            if (!isdigit((unsigned char)v.p[i]))
                return 0;
    }
    return 1;
}

/* For an absolute-form target "http://authority/path", the authority; else an empty span. */
static struct span target_authority(struct span t)
{
    size_t i;

    if (t.len == 0 || t.p[0] == '/')
        return span_of(NULL, 0);
    for (i = 0; i + 2 < t.len; i++)
        if (t.p[i] == ':' && t.p[i + 1] == '/' && t.p[i + 2] == '/')
            break;
    if (i + 2 >= t.len)
        return span_of(NULL, 0);
    i += 3;
    size_t start = i;
    while (i < t.len && t.p[i] != '/' && t.p[i] != '?')
        i++;
    return span_of(t.p + start, i - start);
}

struct span http_request_path(const struct http_head *h)
{
    struct span t = h->target, a = target_authority(t);

    if (a.p == NULL)
        return t;
    const char *end = t.p + t.len, *p = a.p + a.len;
    if (p == end)
        return span_of("/", 1);
    return span_of(p, (size_t)(end - p));
}

int http_request_host(const struct http_head *h, struct span *host)
{
    const struct field *found = NULL;
    struct span a = target_authority(h->target);

    for (unsigned i = 0; i < h->n_hdrs; i++) {
        if (!span_eq_ci(h->hdrs[i].name, "host"))
            continue;
        if (found != NULL)
            return -EBADMSG; /* RFC 9112 §3.2: more than one Host is a 400 */
        found = &h->hdrs[i];
    }
    if (found == NULL && h->vmajor == 1 && h->vminor >= 1)
        return -EBADMSG;
    *host = found ? span_trim(found->value) : span_of("", 0);
    if (!valid_host(*host))
        return -EBADMSG;
    if (a.p != NULL) {
        if (!valid_host(a))
            return -EBADMSG;
        *host = a;
    }
    return 0;
}

/* Appends the values of every field named <name>, joined with ", ", then <add> if non-NULL. */
static void write_list(struct buf *b, const struct http_head *h, const char *name, const char *add)
{
    int n = 0;

    for (unsigned i = 0; i < h->n_hdrs; i++) {
        if (!span_eq_ci(h->hdrs[i].name, name))
            continue;
        buf_append_str(b, n++ ? ", " : "");
        buf_append_span(b, span_trim(h->hdrs[i].value));
    }
    if (add != NULL) {
        buf_append_str(b, n++ ? ", " : "");
        buf_append_str(b, add);
    }
}

void http_write_field(struct buf *b, struct span name, struct span value)
{
    buf_append_span(b, name);
    buf_append_str(b, ": ");
    buf_append_span(b, span_trim(value));
    buf_append_str(b, "\r\n");
}

static int has_field(const struct http_head *h, const char *name)
{
    return http_find(h, name) != NULL;
}

void http_write_request(struct buf *b, const struct http_head *h, const struct http_fwd *f)
{
    static const char *const replaced[] = {
        "host",   "via",           "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "expect", "content-length"};
    /* The cache needs the whole, current representation; it answers these itself. */
    static const char *const partial[] = {"range",         "if-range",
                                          "if-none-match", "if-modified-since",
                                          "if-match",      "if-unmodified-since"};
    const char *method = llhttp_method_name((llhttp_method_t)h->method);

    buf_printf(b, "%s ", method);
    buf_append_span(b, http_request_path(h));
    buf_append_str(b, " HTTP/1.1\r\nHost: ");
    buf_append_span(b, f->host);
    buf_append_str(b, "\r\n");
    for (unsigned i = 0; i < h->n_hdrs; i++) {
        struct span name = h->hdrs[i].name;
        int skip = http_is_hop_by_hop(h, name);

        for (size_t j = 0; !skip && j < countof(replaced); j++)
            skip = span_eq_ci(name, replaced[j]);
        for (size_t j = 0; !skip && f->whole && j < countof(partial); j++)
            skip = span_eq_ci(name, partial[j]);
        if (!skip && f->gzip)
            skip = span_eq_ci(name, "accept-encoding");
        if (skip)
            continue;
        http_write_field(b, name, h->hdrs[i].value);
    }
    buf_append_str(b, "Via: ");
    write_list(b, h, "via", h->vminor == 0 ? "1.0 accel" : "1.1 accel");
    buf_append_str(b, "\r\nX-Forwarded-For: ");
    write_list(b, h, "x-forwarded-for", f->client_ip);
    buf_printf(b, "\r\nX-Forwarded-Proto: %s\r\n", f->proto);
    if (f->client_host.len > 0) {
        buf_append_str(b, "X-Forwarded-Host: ");
        buf_append_span(b, f->client_host);
        buf_append_str(b, "\r\n");
    }
    if (f->extra != NULL)
        buf_append_str(b, f->extra);
    if (f->gzip)
        buf_append_str(b, "Accept-Encoding: gzip\r\n");
    if (h->flags & HTTP_F_CHUNKED)
        buf_append_str(b, "Transfer-Encoding: chunked\r\n");
    else if (h->flags & HTTP_F_LENGTH)
        buf_printf(b, "Content-Length: %llu\r\n", (unsigned long long)h->content_length);
    buf_append_str(b, "\r\n");
}

/* "HTTP/1.1 <status> <reason>\r\n", with the origin's reason phrase when it gave one. */
static void write_status_line(struct buf *b, const struct http_head *h)
{
    buf_printf(b, "HTTP/1.1 %u ", h->status);
    if (h->reason.len > 0)
        buf_append_span(b, h->reason);
    else
        buf_append_str(b, http_reason(h->status));
    buf_append_str(b, "\r\n");
}

int http_is_cache_tag(struct span name)
{
    return span_eq_ci(name, "surrogate-key") || span_eq_ci(name, "cache-tag");
}

/* 1 if the comma-separated list <v> holds <token> (case-insensitive). */
static int list_has(struct span v, const char *token)
{
    const char *p = v.p, *end = v.p + v.len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        struct span t = span_trim(span_of(p, comma ? (size_t)(comma - p) : (size_t)(end - p)));

        if (span_eq_ci(t, token) || (t.len == 1 && t.p[0] == '*'))
            return 1;
        p = comma ? comma + 1 : end;
    }
    return 0;
}

void http_write_transformed_field(struct buf *b, struct span name, struct span value)
{
    static const char *const exact[] = {"content-encoding", "content-md5", "digest", "repr-digest",
                                        "content-digest"};

    value = span_trim(value);
    for (size_t j = 0; j < countof(exact); j++)
        if (span_eq_ci(name, exact[j]))
            return;
    if (span_eq_ci(name, "etag") && value.len >= 2 && value.p[0] == '"') {
        buf_append_str(b, "ETag: W/"); /* the bytes are accel's, not the origin's */
        buf_append_span(b, value);
        buf_append_str(b, "\r\n");
        return;
    }
    http_write_field(b, name, value);
}

void http_write_stored_head(struct buf *b, const struct http_head *h, const char *date,
                            unsigned flags)
{
    int vary_ae = 0;

    write_status_line(b, h);
    for (unsigned i = 0; i < h->n_hdrs; i++) {
        struct span name = h->hdrs[i].name, value = span_trim(h->hdrs[i].value);
        int skip = http_is_hop_by_hop(h, name) || span_eq_ci(name, "content-length") ||
                   span_eq_ci(name, "age") || http_is_cache_tag(name);

        if (span_eq_ci(name, "vary") && list_has(value, "accept-encoding"))
            vary_ae = 1;
        if (skip)
            continue;
        if (flags & HTTP_STORE_GZIPPED)
            http_write_transformed_field(b, name, value);
        else
            http_write_field(b, name, h->hdrs[i].value);
    }
    if (flags & HTTP_STORE_GZIPPED)
        buf_append_str(b, "Content-Encoding: gzip\r\n");
    if ((flags & HTTP_STORE_VARY_AE) && !vary_ae)
        buf_append_str(b, "Vary: Accept-Encoding\r\n");
    if (!has_field(h, "date"))
        buf_printf(b, "Date: %s\r\n", date);
}

void http_write_interim(struct buf *b, const struct http_head *h)
{
    write_status_line(b, h);
    for (unsigned i = 0; i < h->n_hdrs; i++)
        if (!http_is_hop_by_hop(h, h->hdrs[i].name) && !http_is_cache_tag(h->hdrs[i].name))
            http_write_field(b, h->hdrs[i].name, h->hdrs[i].value);
    buf_append_str(b, "\r\n");
}

void http_write_response_head(struct buf *b, const struct http_head *h, const char *date,
                              int chunked, int close, int keepalive_10, const char *extra)
{
    write_status_line(b, h);
    for (unsigned i = 0; i < h->n_hdrs; i++) {
        struct span name = h->hdrs[i].name;

        if (http_is_hop_by_hop(h, name) || span_eq_ci(name, "via") || http_is_cache_tag(name))
            continue;
        if (chunked && span_eq_ci(name, "content-length"))
            continue;
        http_write_field(b, name, h->hdrs[i].value);
    }
    buf_append_str(b, "Via: ");
    write_list(b, h, "via", h->vminor == 0 ? "1.0 accel" : "1.1 accel");
    buf_append_str(b, "\r\n");
    if (!has_field(h, "date"))
        buf_printf(b, "Date: %s\r\n", date);
    if (extra != NULL)
        buf_append_str(b, extra);
    if (chunked)
        buf_append_str(b, "Transfer-Encoding: chunked\r\n");
    if (close)
        buf_append_str(b, "Connection: close\r\n");
    else if (keepalive_10)
        buf_append_str(b, "Connection: keep-alive\r\n");
    buf_append_str(b, "\r\n");
}

void http_write_body(struct buf *b, int chunked, const struct iovec *iov, unsigned n)
{
    uint64_t total = 0;

    for (unsigned i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return;
    if (chunked)
        buf_printf(b, "%llx\r\n", (unsigned long long)total);
    for (unsigned i = 0; i < n; i++)
        buf_append(b, iov[i].iov_base, iov[i].iov_len);
    if (chunked)
        buf_append_str(b, "\r\n");
}

void http_write_body1(struct buf *b, int chunked, const void *p, size_t n)
{
    struct iovec iov = {(void *)p, n};

    http_write_body(b, chunked, &iov, 1);
}

void http_write_body_end(struct buf *b, int chunked)
{
    if (chunked)
        buf_append_str(b, "0\r\n\r\n");
}

void http_write_error(struct buf *b, unsigned status, const char *msg, const char *date, int close,
                      int head_only, unsigned retry_after)
{
    size_t n = strlen(msg) + 1;

    buf_printf(b,
               "HTTP/1.1 %u %s\r\nDate: %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\n",
               status, http_reason(status), date, n);
    if (retry_after > 0)
        buf_printf(b, "Retry-After: %u\r\n", retry_after);
    buf_append_str(b, close ? "Connection: close\r\n\r\n" : "\r\n");
    if (!head_only) {
        buf_append_str(b, msg);
        buf_append_str(b, "\n");
    }
}

const char *http_reason(unsigned status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 206:
        return "Partial Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 409:
        return "Conflict";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void http_date(long t, char out[30])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    /* strftime's %a and %b follow the locale; RFC 9110 wants the English names. */
    memcpy(out, days[tm.tm_wday % 7], 3);
    memcpy(out + 3, ", ", 2);
    strftime(out + 5, 25, "%d XXX %Y %H:%M:%S GMT", &tm);
    memcpy(out + 8, months[tm.tm_mon % 12], 3);
}

int http_method_parse(const char *name)
{
    /* llhttp_method_name() aborts on a number it does not know, so walk llhttp's own table */
#define METHOD_IS(num, sym, text)                                                                  \
    if (strcmp(#text, name) == 0)                                                                  \
        return num;
    HTTP_METHOD_MAP(METHOD_IS)
#undef METHOD_IS
    return -1;
}
