/* conf.c - accel.conf -> struct conf.
 *
 * Three small steps. The tokenizer (lex_*) turns the text into words (unquoted, or double-quoted
 * with \" and \\), ';', '{', '}' and ends of lines, dropping '#' comments. The parser (parse_list)
 * builds a tree of statements: a struct stmt holds the words of one directive, its line and, for
 * "name ... { ... }", the statements nested in the block. apply() walks a list of statements
 * against a table of directives (name, argument count, flags, handler, field and range) and the
 * handlers fill struct conf. A block directive (none yet) is flagged DIR_BLOCK; its handler gets
 * the statement and applies st->block with its own table through apply().
 *
 * Invariants: the first error ends the parse and is the only message, "<file>:<line>: <what>";
 * a struct conf is handed out only when every statement applied and the required directives were
 * given, and nobody changes it afterwards (a reload parses anew).
 * Ownership: the statement tree and the tokenizer's word buffer live for one conf_parse(); every
 * string in struct conf is its own heap copy, freed by conf_free().
 */
#include "accel/conf.h"
#include "accel/base.h"
#include "accel/disk.h"
#include "accel/http.h"
#include "accel/upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_FILE    (1024 * 1024) /* conf_load() refuses larger files */
#define CONF_MAX_ARGS    64            /* words in one statement, the name included */
#define CONF_MAX_DEPTH   8             /* nested blocks; bounds the parser's recursion */
#define CONF_MAX_WORKERS 256
#define CONF_QUOTE_MAX   60 /* longest argument echoed in a message */
#define CONF_KIB         1024ull
#define CONF_MIB         (1024ull * 1024)

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "unsigned fields are stored as uint32_t");

/* One parse: the name used in messages, the caller's error buffer and the conf being filled. */
struct pctx {
    const char *name;
    char *err;
    size_t errlen;
    struct conf *c;
    char *base; /* what set_num/size/duration/flag fill: the conf, or a route being read */
};

__attribute__((format(printf, 3, 4))) static void errf(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Writes "<file>:<line>: <what>" and returns -EINVAL, so that handlers end with return fail(). */
__attribute__((format(printf, 3, 4))) static int fail(struct pctx *pc, unsigned line,
                                                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    errf(pc->err, pc->errlen, "%s:%u: %s", pc->name, line, msg);
    return -EINVAL;
}

/* <s> between double quotes, cut at CONF_QUOTE_MAX bytes so that a runaway argument cannot push
 * the rest of the message out of the caller's buffer. Returns <buf>. */
static const char *quoted(char *buf, size_t n, const char *s)
{
    if (strlen(s) > CONF_QUOTE_MAX)
        snprintf(buf, n, "\"%.*s...\"", CONF_QUOTE_MAX, s);
    else
        snprintf(buf, n, "\"%s\"", s);
    return buf;
}

/* --- tokenizer ------------------------------------------------------------------------------ */

enum tok {
    TOK_EOF = 0,
    TOK_WORD, /* in lx->word, unescaped and NUL-terminated */
    TOK_SEMI,
    TOK_EOL,
    TOK_OPEN,
    TOK_CLOSE,
};

struct lexer {
    const char *p, *end;
    unsigned line;     /* of the next byte */
    unsigned tok_line; /* of the token just returned */
    char *word;        /* owned; grows as needed */
    size_t wlen, wcap;
};

static void word_push(struct lexer *lx, char ch)
{
    if (lx->wlen + 2 > lx->wcap) {
        lx->wcap = lx->wcap ? 2 * lx->wcap : 64;
        lx->word = xrealloc(lx->word, lx->wcap);
    }
    lx->word[lx->wlen++] = ch;
    lx->word[lx->wlen] = '\0';
}

static void word_reset(struct lexer *lx)
{
    if (lx->word == NULL) {
        lx->wcap = 64;
        lx->word = xmalloc(lx->wcap);
    }
    lx->wlen = 0;
    lx->word[0] = '\0';
}

static int is_sep(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == ';' || ch == '{' ||
           ch == '}' || ch == '#';
}

/* Control bytes (NUL among them) have no business in a word: they would cut a C string short or
 * end up in a log line or a header. */
static int is_bad_byte(unsigned char ch)
{
    return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

static int lex_quoted(struct pctx *pc, struct lexer *lx)
{
    unsigned char ch;

    lx->p++; /* the opening quote */
    for (;;) {
        if (lx->p == lx->end || *lx->p == '\n')
            return fail(pc, lx->tok_line, "unterminated quoted string");
        ch = (unsigned char)*lx->p++;
        if (ch == '"')
            break;
        if (ch == '\\') {
            if (lx->p == lx->end || (*lx->p != '"' && *lx->p != '\\'))
                return fail(pc, lx->tok_line,
                            "bad escape in quoted string (only \\\" and \\\\ are known)");
            ch = (unsigned char)*lx->p++;
        } else if (is_bad_byte(ch)) {
            return fail(pc, lx->tok_line, "unexpected byte 0x%02x in quoted string", ch);
        }
        word_push(lx, (char)ch);
    }
    if (lx->p < lx->end && !is_sep(*lx->p))
        return fail(pc, lx->tok_line, "expected a space after the closing quote");
    return TOK_WORD;
}

/* Returns the next token (enum tok) or -EINVAL after writing the error. */
static int lex_next(struct pctx *pc, struct lexer *lx)
{
    unsigned char ch;

    for (;;) {
        while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r'))
            lx->p++;
        lx->tok_line = lx->line;
        if (lx->p == lx->end)
            return TOK_EOF;
        if (*lx->p != '#')
            break;
        while (lx->p < lx->end && *lx->p != '\n')
            lx->p++;
    }
    switch (*lx->p) {
    case '\n':
        lx->p++;
        lx->line++;
        return TOK_EOL;
    case ';':
        lx->p++;
        return TOK_SEMI;
    case '{':
        lx->p++;
        return TOK_OPEN;
    case '}':
        lx->p++;
        return TOK_CLOSE;
    }
    word_reset(lx);
    if (*lx->p == '"')
        return lex_quoted(pc, lx);
    while (lx->p < lx->end && !is_sep(*lx->p)) {
        ch = (unsigned char)*lx->p;
        if (ch == '"')
            return fail(pc, lx->tok_line, "unexpected '\"' inside a word (quote the whole word)");
        if (is_bad_byte(ch))
            return fail(pc, lx->tok_line, "unexpected byte 0x%02x", ch);
        word_push(lx, (char)ch);
        lx->p++;
    }
    return TOK_WORD;
}

/* --- parser: statements ---------------------------------------------------------------------- */

struct stmt {
    unsigned line;
    unsigned argc; /* >= 1: argv[0] is the directive's name */
    char **argv;
    int has_block;
    struct stmt *block; /* statements inside "name ... { ... }" */
    struct stmt *next;
};

static void stmt_free(struct stmt *st)
{
    struct stmt *next;

    for (; st != NULL; st = next) {
        next = st->next;
        stmt_free(st->block);
        for (unsigned i = 0; i < st->argc; i++)
            free(st->argv[i]);
        free(st->argv);
        free(st);
    }
}

/* Reads statements into the list at *<head> until the '}' that closes the block opened at
 * <open_line> (<depth> > 0) or the end of the text (<depth> 0). Statements join the list as soon
 * as they start, so the caller frees the whole tree on error too. */
static int parse_list(struct pctx *pc, struct lexer *lx, unsigned depth, unsigned open_line,
                      struct stmt **head)
{
    struct stmt **tail = head, *cur = NULL;
    int t;

    for (;;) {
        t = lex_next(pc, lx);
        switch (t) {
        case TOK_WORD:
            if (cur == NULL) {
                cur = xcalloc(1, sizeof *cur);
                cur->line = lx->tok_line;
                *tail = cur;
                tail = &cur->next;
            }
            if (cur->argc == CONF_MAX_ARGS)
                return fail(pc, cur->line, "too many arguments (at most %d)", CONF_MAX_ARGS - 1);
            cur->argv = xrealloc(cur->argv, (cur->argc + 1) * sizeof *cur->argv);
            cur->argv[cur->argc++] = xstrndup(lx->word, lx->wlen);
            break;
        case TOK_SEMI:
            if (cur == NULL)
                return fail(pc, lx->tok_line, "unexpected \";\"");
            cur = NULL;
            break;
        case TOK_EOL:
            cur = NULL;
            break;
        case TOK_OPEN:
            if (cur == NULL)
                return fail(pc, lx->tok_line,
                            "\"{\" must follow its directive's name on the same line");
            if (depth + 1 > CONF_MAX_DEPTH)
                return fail(pc, lx->tok_line, "blocks nested too deeply (at most %d)",
                            CONF_MAX_DEPTH);
            cur->has_block = 1;
            t = parse_list(pc, lx, depth + 1, lx->tok_line, &cur->block);
            if (t < 0)
                return t;
            cur = NULL;
            break;
        case TOK_CLOSE:
            if (depth == 0)
                return fail(pc, lx->tok_line, "unexpected \"}\"");
            return 0;
        case TOK_EOF:
            if (depth > 0)
                return fail(pc, open_line, "\"{\" is never closed");
            return 0;
        default:
            return t;
        }
    }
}

/* --- values ---------------------------------------------------------------------------------- */

/* A run of decimal digits at <s> into *<out>; *<endp> gets the first byte after it. Unlike bare
 * strtoull, refuses a sign, leading space, no digit at all and overflow. */
static int parse_digits(const char *s, uint64_t *out, const char **endp)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -EINVAL;
    *out = v;
    *endp = end;
    return 0;
}

int conf_parse_size(const char *s, uint64_t *out)
{
    const char *p;
    uint64_t v, mul = 1;

    AN(s);
    AN(out);
    if (parse_digits(s, &v, &p) < 0)
        return -EINVAL;
    switch (*p) {
    case 'k':
    case 'K':
        mul = CONF_KIB;
        p++;
        break;
    case 'm':
    case 'M':
        mul = CONF_MIB;
        p++;
        break;
    case 'g':
    case 'G':
        mul = CONF_MIB * 1024;
        p++;
        break;
    }
    if (*p == 'b' || *p == 'B')
        p++;
    if (*p != '\0' || v > UINT64_MAX / mul)
        return -EINVAL;
    *out = v * mul;
    return 0;
}

int conf_parse_duration(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {
        {"", 1000},       {"ms", 1},          {"s", 1000},
        {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000},
    };
    const char *p;
    uint64_t v;

    AN(s);
    AN(out);
    if (parse_digits(s, &v, &p) < 0)
        return -EINVAL;
    for (size_t i = 0; i < countof(units); i++) {
        if (strcasecmp(p, units[i].unit) != 0)
            continue;
        if (v > UINT64_MAX / units[i].ms)
            return -EINVAL;
        *out = v * units[i].ms;
        return 0;
    }
    return -EINVAL;
}

/* --- addresses ------------------------------------------------------------------------------- */

static uint16_t addr_port(const struct conf_addr *a)
{
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

static int addr_is_any(const struct conf_addr *a)
{
    if (a->sa.ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
    return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

/* Numeric first; a name goes to the resolver, and of its answers the first IPv4 one wins (the
 * usual origin listens on 127.0.0.1 while "localhost" may come back as ::1 first), else the
 * first IPv6 one. <v6> (the host was in brackets) accepts only a numeric IPv6 address. */
static int addr_resolve(const char *host, int v6, const char *q, struct conf_addr *out, char *err,
                        size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL, *pick = NULL;
    int rc;

    hints.ai_family = v6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 && v6) {
        errf(err, errlen, "%s: bad IPv6 address", q);
        return -EINVAL;
    }
    if (rc != 0) {
        hints.ai_flags = 0;
        rc = getaddrinfo(host, NULL, &hints, &res);
    }
    if (rc != 0) {
        errf(err, errlen, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
        return -EINVAL;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET && ai->ai_addrlen <= sizeof out->sa) {
            pick = ai;
            break;
        }
        if (pick == NULL && ai->ai_family == AF_INET6 && ai->ai_addrlen <= sizeof out->sa)
            pick = ai;
    }
    if (pick == NULL) {
        freeaddrinfo(res);
        errf(err, errlen, "cannot resolve \"%s\": no IPv4 or IPv6 address", host);
        return -EINVAL;
    }
    memcpy(&out->sa, pick->ai_addr, pick->ai_addrlen);
    out->salen = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int conf_parse_addr(const char *s, struct conf_addr *out, char *err, size_t errlen)
{
    struct conf_addr a;
    char host[256], h[INET6_ADDRSTRLEN + IF_NAMESIZE + 1], q[80];
    const char *hostp = s, *portp, *colon, *end;
    size_t hlen = 0;
    uint64_t port;
    int v6 = 0, any = 0, rc;

    AN(s);
    AN(out);
    quoted(q, sizeof q, s);
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL) {
            errf(err, errlen, "%s: missing \"]\" after the IPv6 address", q);
            return -EINVAL;
        }
        if (rb[1] != ':') {
            errf(err, errlen, "%s: expected \":port\" after \"]\", as in \"[::1]:8080\"", q);
            return -EINVAL;
        }
        v6 = 1;
        hostp = s + 1;
        hlen = (size_t)(rb - hostp);
        portp = rb + 2;
    } else if ((colon = strchr(s, ':')) != NULL) {
        if (strchr(colon + 1, ':') != NULL) {
            errf(err, errlen, "%s: an IPv6 address needs brackets, as in \"[::1]:8080\"", q);
            return -EINVAL;
        }
        hlen = (size_t)(colon - s);
        if (hlen == 0) {
            errf(err, errlen, "%s: missing host before \":\" (\"*\" means all addresses)", q);
            return -EINVAL;
        }
        any = hlen == 1 && s[0] == '*';
        portp = colon + 1;
    } else if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s)) {
        any = 1;
        portp = s;
    } else {
        errf(err, errlen, "%s: expected host:port, [IPv6]:port or a port", q);
        return -EINVAL;
    }
    if (hlen >= sizeof host) {
        errf(err, errlen, "%s: host name too long", q);
        return -EINVAL;
    }
    memcpy(host, hostp, hlen);
    host[hlen] = '\0';
    if (parse_digits(portp, &port, &end) < 0 || *end != '\0' || port > 65535) {
        errf(err, errlen, "%s: port must be a number from 0 to 65535", q);
        return -EINVAL;
    }

    memset(&a, 0, sizeof a);
    if (any) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        a.salen = sizeof *sin;
    } else {
        rc = addr_resolve(host, v6, q, &a, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (a.sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&a.sa)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&a.sa)->sin_port = htons((uint16_t)port);

    if (getnameinfo((struct sockaddr *)&a.sa, a.salen, h, sizeof h, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(h, sizeof h, "?");
    snprintf(a.text, sizeof a.text, a.sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", h,
             (unsigned)port);
    *out = a;
    return 0;
}

/* --- directives ------------------------------------------------------------------------------ */

enum {
    DIR_REPEAT = 1 << 0, /* may be given more than once */
    DIR_BLOCK = 1 << 1,  /* takes "{ ... }"; the handler applies st->block */
};

struct directive {
    const char *name;
    int (*set)(struct pctx *pc, const struct directive *d, const struct stmt *st);
    unsigned min_args, max_args;
    unsigned flags;    /* DIR_* */
    size_t off, width; /* the field of struct conf that set_num/size/duration fill */
    uint64_t min, max; /* and the values they accept */
};

static void store(struct pctx *pc, const struct directive *d, uint64_t v)
{
    char *p = pc->base + d->off;

    if (d->width == sizeof(uint64_t)) {
        uint64_t x = v;
        memcpy(p, &x, sizeof x);
    } else {
        uint32_t x = (uint32_t)v;
        CHECK(d->width == sizeof x && v <= UINT32_MAX);
        memcpy(p, &x, sizeof x);
    }
}

/* A size in its shortest exact form: 1048576 -> "1m". */
static const char *size_text(char *buf, size_t n, uint64_t v)
{
    static const struct {
        char sfx;
        unsigned shift;
    } units[] = {{'g', 30}, {'m', 20}, {'k', 10}};

    for (size_t i = 0; i < countof(units); i++) {
        if (v != 0 && v % (1ull << units[i].shift) == 0) {
            snprintf(buf, n, "%" PRIu64 "%c", v >> units[i].shift, units[i].sfx);
            return buf;
        }
    }
    snprintf(buf, n, "%" PRIu64, v);
    return buf;
}

static int set_num(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    const char *end;
    uint64_t v;
    char q[80];

    if (parse_digits(st->argv[1], &v, &end) < 0 || *end != '\0' || v < d->min || v > d->max)
        return fail(pc, st->line, "%s: expected a number from %" PRIu64 " to %" PRIu64 ", got %s",
                    d->name, d->min, d->max, quoted(q, sizeof q, st->argv[1]));
    store(pc, d, v);
    return 0;
}

static int set_size(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char q[80], lo[32], hi[32];
    uint64_t v;

    if (conf_parse_size(st->argv[1], &v) == 0 && v >= d->min && v <= d->max) {
        store(pc, d, v);
        return 0;
    }
    quoted(q, sizeof q, st->argv[1]);
    if (d->max != UINT64_MAX)
        return fail(pc, st->line, "%s: expected a size from %s to %s, got %s", d->name,
                    size_text(lo, sizeof lo, d->min), size_text(hi, sizeof hi, d->max), q);
    return fail(pc, st->line, "%s: expected a size (bytes, or with a k, m or g suffix), got %s",
                d->name, q);
}

static int set_duration(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    uint64_t v;
    char q[80];

    if (conf_parse_duration(st->argv[1], &v) == 0 && v >= d->min && v <= d->max) {
        store(pc, d, v);
        return 0;
    }
    return fail(pc, st->line, "%s: expected a duration%s (as in \"30s\" or \"500ms\"), got %s",
                d->name, d->min > 0 ? " greater than 0" : "", quoted(q, sizeof q, st->argv[1]));
}

static int set_flag(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char q[80];

    if (strcmp(st->argv[1], "on") == 0 || strcmp(st->argv[1], "off") == 0) {
        store(pc, d, st->argv[1][1] == 'n');
        return 0;
    }
    return fail(pc, st->line, "%s: expected \"on\" or \"off\", got %s", d->name,
                quoted(q, sizeof q, st->argv[1]));
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        return 1;
    return n > CONF_MAX_WORKERS ? CONF_MAX_WORKERS : (unsigned)n;
}

static int set_workers(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    const char *end;
    uint64_t v;
    char q[80];

    if (strcmp(st->argv[1], "auto") == 0) {
        pc->c->workers = online_cpus();
        return 0;
    }
    if (parse_digits(st->argv[1], &v, &end) < 0 || *end != '\0' || v < 1 || v > CONF_MAX_WORKERS)
        return fail(pc, st->line, "%s: expected a number from 1 to %d or \"auto\", got %s", d->name,
                    CONF_MAX_WORKERS, quoted(q, sizeof q, st->argv[1]));
    pc->c->workers = (unsigned)v;
    return 0;
}

static int set_listen(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf *c = pc->c;
    struct conf_addr a;
    char why[256];

    if (c->n_listen == CONF_MAX_LISTEN)
        return fail(pc, st->line, "%s: too many addresses (at most %d)", d->name, CONF_MAX_LISTEN);
    if (st->argc == 3 && strcmp(st->argv[2], "tls") != 0)
        return fail(pc, st->line, "%s: expected \"tls\" after the address, got %s", d->name,
                    quoted(why, sizeof why, st->argv[2]));
    if (conf_parse_addr(st->argv[1], &a, why, sizeof why) < 0)
        return fail(pc, st->line, "%s: %s", d->name, why);
    /* Port 0 asks the kernel for a fresh port each time, so only fixed ports can collide. */
    for (unsigned i = 0; i < c->n_listen; i++) {
        if (addr_port(&a) != 0 && c->listen[i].salen == a.salen &&
            memcmp(&c->listen[i].sa, &a.sa, a.salen) == 0)
            return fail(pc, st->line, "%s: %s is already listed", d->name, a.text);
    }
    if (st->argc == 3)
        c->listen_tls |= 1u << c->n_listen;
    c->listen[c->n_listen++] = a;
    return 0;
}

/* A server address as users write it, "http[s]://host[:port][/]" or "host:port", into <srv>
 * (its strings new; the other fields untouched). <what> names the directive in messages. */
static int parse_server(struct pctx *pc, const char *what, unsigned line, const char *arg,
                        struct conf_server *srv)
{
    struct conf_addr a;
    char why[256], q[80], hostport[300];
    const char *s = arg, *slash;
    size_t n = strlen(s), host_len;
    const char *host;

    unsigned tls = strncasecmp(s, "https://", 8) == 0;
    if (tls || strncasecmp(s, "http://", 7) == 0) {
        s += tls ? 8 : 7;
        slash = strchr(s, '/');
        n = slash ? (size_t)(slash - s) : strlen(s);
        if (slash != NULL && slash[1] != '\0')
            return fail(pc, line, "%s: a path after the origin's host is not supported, got %s",
                        what, quoted(q, sizeof q, arg));
        if (n == 0 || n + 4 >= sizeof hostport)
            return fail(pc, line, "%s: expected http://host[:port], got %s", what,
                        quoted(q, sizeof q, arg));
        /* no port: 80 ("host", "[v6]"; a colon outside brackets is the port's) */
        const char *rb = memchr(s, ']', n), *from = rb ? rb : s;
        const char *colon = memchr(from, ':', n - (size_t)(from - s));
        snprintf(hostport, sizeof hostport, "%.*s%s", (int)n, s,
                 colon != NULL ? ""
                 : tls         ? ":443"
                               : ":80");
        host = s;
        host_len = n;
        s = hostport;
    } else {
        host = s;
        host_len = n;
    }
    if (conf_parse_addr(s, &a, why, sizeof why) < 0)
        return fail(pc, line, "%s: %s", what, why);
    if (addr_is_any(&a))
        return fail(pc, line, "%s: expected the host to connect to, got %s", what,
                    quoted(q, sizeof q, arg));
    if (addr_port(&a) == 0)
        return fail(pc, line, "%s: port 0 is not allowed, got %s", what, quoted(q, sizeof q, arg));
    /* the name alone, for TLS: "[::1]:8443" -> "::1", "example.com:8443" -> "example.com" */
    const char *nb = host, *ne = host + host_len;
    if (host_len > 0 && host[0] == '[') {
        nb = host + 1;
        ne = memchr(host, ']', host_len);
        if (ne == NULL)
            ne = host + host_len;
    } else {
        const char *colon = memchr(host, ':', host_len);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(ne - colon - 1)) == NULL)
            ne = colon;
    }
    srv->name = xstrndup(nb, (size_t)(ne - nb));
    srv->tls = tls;
    srv->addr = a;
    srv->host = xstrndup(host, host_len); /* for requests that have none */
    srv->line = line;
    if (tls && pc->c->origin_tls_line == 0)
        pc->c->origin_tls_line = line;
    return 0;
}

/* A new upstream named <name> at the end of the list; NULL (after fail()) past the limit or
 * when the name is taken. */
static struct conf_upstream *upstream_add(struct pctx *pc, const char *name, unsigned line)
{
    struct conf *c = pc->c;
    struct conf_upstream *u;
    char q[80];

    for (unsigned i = 0; i < c->n_upstreams; i++) {
        if (strcmp(c->upstreams[i].name, name) == 0) {
            fail(pc, line, "upstream %s is already defined (at line %u)", quoted(q, sizeof q, name),
                 c->upstreams[i].line);
            return NULL;
        }
    }
    if (c->n_upstreams == CONF_MAX_UPSTREAMS) {
        fail(pc, line, "too many upstreams (at most %d)", CONF_MAX_UPSTREAMS);
        return NULL;
    }
    c->upstreams = xrealloc(c->upstreams, (c->n_upstreams + 1) * sizeof(*c->upstreams));
    u = &c->upstreams[c->n_upstreams++];
    memset(u, 0, sizeof(*u));
    u->name = xstrndup(name, strlen(name));
    u->line = line;
    u->check_timeout = 2000;
    u->check_rise = 2;
    u->check_fall = 3;
    return u;
}

static struct conf_server *server_add(struct pctx *pc, struct conf_upstream *u, unsigned line)
{
    struct conf_server *srv;

    if (u->n_servers == CONF_MAX_SERVERS) {
        fail(pc, line, "upstream \"%s\": too many servers (at most %d)", u->name, CONF_MAX_SERVERS);
        return NULL;
    }
    u->servers = xrealloc(u->servers, (u->n_servers + 1) * sizeof(*u->servers));
    srv = &u->servers[u->n_servers];
    memset(srv, 0, sizeof(*srv));
    srv->idx = u->n_servers++;
    srv->weight = 1;
    srv->max_fails = 3;
    srv->fail_timeout = 10 * 1000;
    return srv;
}

static int set_origin(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf_upstream *u = upstream_add(pc, "origin", st->line);
    struct conf_server *srv;

    if (u == NULL)
        return -EINVAL;
    srv = server_add(pc, u, st->line);
    AN(srv);
    return parse_server(pc, d->name, st->line, st->argv[1], srv);
}

/* <f> relative to the configuration file's directory, unless absolute; a new string. */
static char *conf_relative(const struct pctx *pc, const char *f)
{
    const char *slash = strrchr(pc->name, '/');
    char path[4096];

    if (f[0] == '/' || slash == NULL)
        snprintf(path, sizeof path, "%s", f);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - pc->name), pc->name, f);
    return xstrndup(path, strlen(path));
}

static void cert_set(const struct pctx *pc, struct conf_cert *ct, const struct stmt *st)
{
    free(ct->cert);
    free(ct->key);
    ct->cert = conf_relative(pc, st->argv[1]);
    ct->key = conf_relative(pc, st->argv[st->argc == 3 ? 2 : 1]);
    ct->line = st->line;
}

static int set_tls_certificate(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf *c = pc->c;

    if (c->n_tls_certs == CONF_MAX_CERTS)
        return fail(pc, st->line, "%s: too many certificates (at most %d)", d->name,
                    CONF_MAX_CERTS);
    cert_set(pc, &c->tls_certs[c->n_tls_certs++], st);
    return 0;
}

static int set_origin_tls_certificate(struct pctx *pc, const struct directive *d,
                                      const struct stmt *st)
{
    (void)d;
    cert_set(pc, &pc->c->origin_tls_cert, st);
    return 0;
}

static int set_tls_min_version(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char q[80];

    if (strcmp(st->argv[1], "1.2") == 0 || strcmp(st->argv[1], "1.3") == 0) {
        pc->c->tls_min_version = st->argv[1][2] == '2' ? 12 : 13;
        return 0;
    }
    return fail(pc, st->line, "%s: expected 1.2 or 1.3, got %s", d->name,
                quoted(q, sizeof q, st->argv[1]));
}

/* A free-form word that goes to OpenSSL (cipher lists, names) or names a file. */
static int set_text(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char **field = (char **)(void *)((char *)pc->c + d->off);
    char q[80];

    if (st->argv[1][0] == '\0')
        return fail(pc, st->line, "%s: expected a value, got %s", d->name,
                    quoted(q, sizeof q, st->argv[1]));
    free(*field);
    *field =
        d->min == 1 ? conf_relative(pc, st->argv[1]) : xstrndup(st->argv[1], strlen(st->argv[1]));
    return 0;
}

static int set_host_header(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    const char *s = st->argv[1];
    char q[80];

    /* It goes out verbatim in a request head: no spaces, no control bytes. */
    for (const char *p = s; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return fail(pc, st->line, "%s: expected a host name (printable ASCII), got %s", d->name,
                        quoted(q, sizeof q, s));
    }
    if (*s == '\0')
        return fail(pc, st->line, "%s: expected a host name, got \"\"", d->name);
    free(pc->c->host_header);
    pc->c->host_header = xstrndup(s, strlen(s));
    return 0;
}

static int set_access_log(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    const char *s = st->argv[1];

    if (*s == '\0')
        return fail(pc, st->line, "%s: expected a path or \"off\", got \"\"", d->name);
    free(pc->c->access_log);
    pc->c->access_log = strcmp(s, "off") == 0 ? NULL : xstrndup(s, strlen(s));
    return 0;
}

static int set_cache_disk(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    uint64_t v;
    char q[80];

    if (st->argv[1][0] == '\0')
        return fail(pc, st->line, "%s: expected a file path, got \"\"", d->name);
    if (conf_parse_size(st->argv[2], &v) < 0 || v < CONF_MIB)
        return fail(pc, st->line, "%s: expected a size of at least 1m, got %s", d->name,
                    quoted(q, sizeof q, st->argv[2]));
    free(pc->c->cache_disk);
    pc->c->cache_disk = xstrndup(st->argv[1], strlen(st->argv[1]));
    pc->c->cache_disk_size = v;
    pc->c->cache_disk_line = st->line;
    return 0;
}

static int set_gzip_types(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct buf b = {0};
    char q[80];

    for (unsigned i = 1; i < st->argc; i++) {
        const char *t = st->argv[i], *slash = strchr(t, '/');

        if (slash == NULL || slash == t || slash[1] == '\0' || strchr(slash + 1, '/') != NULL ||
            strpbrk(t, " ,;\t") != NULL) {
            buf_free(&b);
            return fail(pc, st->line, "%s: expected media types like text/html or text/*, got %s",
                        d->name, quoted(q, sizeof q, t));
        }
        if (b.len > 0)
            buf_append(&b, " ", 1);
        buf_append_str(&b, t);
    }
    buf_append(&b, "", 1);
    free(pc->c->gzip_types);
    pc->c->gzip_types = b.p;
    return 0;
}

static int set_admin_listen(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char why[256], text[96];
    const char *a = st->argv[1];

    /* a bare port is on the loopback: the admin API is not for the world by default */
    if (a[0] != '\0' && strspn(a, "0123456789") == strlen(a)) {
        snprintf(text, sizeof text, "127.0.0.1:%s", a);
        a = text;
    }
    if (conf_parse_addr(a, &pc->c->admin_listen, why, sizeof why) < 0)
        return fail(pc, st->line, "admin: %s: %s", d->name, why);
    return 0;
}

#define ADMIN_TOKEN_MIN 16
#define ADMIN_TOKEN_MAX 4096

static int set_admin_token_file(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char path[4096], tok[ADMIN_TOKEN_MAX + 2];
    const char *f = st->argv[1], *slash = strrchr(pc->name, '/');
    struct stat sb;
    ssize_t n;
    size_t len;
    int fd;

    /* relative to the configuration file's directory */
    if (f[0] == '/' || slash == NULL)
        snprintf(path, sizeof path, "%s", f);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - pc->name), pc->name, f);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(pc, st->line, "admin: %s: %s: %s", d->name, path, strerror(errno));
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 0077) != 0)
        fprintf(stderr, "accel: warning: %s: %s can be read by other users (chmod 600 it)\n",
                pc->name, path);
    n = read(fd, tok, sizeof tok - 1);
    close(fd);
    if (n < 0)
        return fail(pc, st->line, "admin: %s: %s: %s", d->name, path, strerror(errno));
    len = (size_t)n;
    while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' ' ||
                       tok[len - 1] == '\t'))
        len--;
    tok[len] = '\0';
    if ((size_t)n >= sizeof tok - 1)
        return fail(pc, st->line, "admin: %s: %s: the token is longer than %d bytes", d->name, path,
                    ADMIN_TOKEN_MAX);
    if (len < ADMIN_TOKEN_MIN)
        return fail(pc, st->line, "admin: %s: %s: the token is %zu bytes, at least %d are needed",
                    d->name, path, len, ADMIN_TOKEN_MIN);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)tok[i] <= ' ' || (unsigned char)tok[i] >= 0x7f)
            return fail(pc, st->line,
                        "admin: %s: %s: the token must be printable ASCII without spaces", d->name,
                        path);
    }
    free(pc->c->admin_token);
    free(pc->c->admin_token_file);
    pc->c->admin_token = xstrndup(tok, len);
    pc->c->admin_token_file = xstrndup(path, strlen(path));
    return 0;
}

static const struct directive admin_directives[] = {
    {"listen", set_admin_listen, 1, 1},
    {"token_file", set_admin_token_file, 1, 1},
};

static int apply(struct pctx *pc, const struct directive *tab, size_t n, unsigned *seen,
                 const struct stmt *st);

static int set_admin(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    unsigned seen[countof(admin_directives)] = {0};
    int rc;

    (void)d;
    rc = apply(pc, admin_directives, countof(admin_directives), seen, st->block);
    if (rc < 0)
        return rc;
    if (seen[0] == 0)
        return fail(pc, st->line, "admin: missing required directive \"listen\"");
    if (seen[1] == 0)
        return fail(pc, st->line, "admin: missing required directive \"token_file\"");
    pc->c->admin = 1;
    return 0;
}

/* --- upstream NAME { server ...; balance ...; check ...; } ------------------------------------ */

/* "key=value" options: <*val> points past the '=' when <arg> starts with "<key>=". */
static int opt_is(const char *arg, const char *key, const char **val)
{
    size_t n = strlen(key);

    if (strncmp(arg, key, n) != 0 || arg[n] != '=')
        return 0;
    *val = arg + n + 1;
    return 1;
}

static int opt_num(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *end;

    return parse_digits(v, out, &end) == 0 && *end == '\0' && *out >= min && *out <= max ? 0 : -1;
}

static int set_up_server(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf_upstream *u = (struct conf_upstream *)(void *)pc->base;
    struct conf_server *srv = server_add(pc, u, st->line);
    char q[80];
    uint64_t v;
    int rc;

    if (srv == NULL)
        return -EINVAL;
    rc = parse_server(pc, d->name, st->line, st->argv[1], srv);
    if (rc < 0)
        return rc;
    for (unsigned i = 2; i < st->argc; i++) {
        const char *a = st->argv[i], *val;

        if (strcmp(a, "backup") == 0) {
            srv->backup = 1;
        } else if (opt_is(a, "weight", &val)) {
            if (opt_num(val, 1, 100, &v) < 0)
                return fail(pc, st->line, "server: weight: expected a number from 1 to 100, got %s",
                            quoted(q, sizeof q, val));
            srv->weight = (unsigned)v;
        } else if (opt_is(a, "max_conns", &val)) {
            if (opt_num(val, 0, 1000000, &v) < 0)
                return fail(pc, st->line,
                            "server: max_conns: expected a number from 0 to 1000000, got %s",
                            quoted(q, sizeof q, val));
            srv->max_conns = (unsigned)v;
        } else if (opt_is(a, "max_fails", &val)) {
            if (opt_num(val, 0, 1000, &v) < 0)
                return fail(pc, st->line,
                            "server: max_fails: expected a number from 0 to 1000, got %s",
                            quoted(q, sizeof q, val));
            srv->max_fails = (unsigned)v;
        } else if (opt_is(a, "fail_timeout", &val)) {
            if (conf_parse_duration(val, &v) < 0 || v < 1 || v > 3600 * 1000)
                return fail(pc, st->line,
                            "server: fail_timeout: expected a duration from 1ms to 1h, got %s",
                            quoted(q, sizeof q, val));
            srv->fail_timeout = v;
        } else {
            return fail(pc, st->line,
                        "server: unknown option %s (expected weight=N, max_conns=N, max_fails=N, "
                        "fail_timeout=DURATION or backup)",
                        quoted(q, sizeof q, a));
        }
    }
    return 0;
}

static int set_up_balance(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf_upstream *u = (struct conf_upstream *)(void *)pc->base;
    static const char *const names[] = {"round_robin", "least_conn", "hash"};
    char q[80];

    for (unsigned i = 0; i < countof(names); i++) {
        if (strcmp(st->argv[1], names[i]) == 0) {
            u->balance = (enum conf_balance)i;
            return 0;
        }
    }
    return fail(pc, st->line, "%s: expected round_robin, least_conn or hash, got %s", d->name,
                quoted(q, sizeof q, st->argv[1]));
}

static int set_up_check(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf_upstream *u = (struct conf_upstream *)(void *)pc->base;
    char q[80];
    uint64_t v;

    u->check_interval = 5000;
    for (unsigned i = 1; i < st->argc; i++) {
        const char *a = st->argv[i], *val;

        if (opt_is(a, "interval", &val)) {
            if (conf_parse_duration(val, &v) < 0 || v < 10 || v > 3600 * 1000)
                return fail(pc, st->line,
                            "%s: interval: expected a duration from 10ms to 1h, got %s", d->name,
                            quoted(q, sizeof q, val));
            u->check_interval = v;
        } else if (opt_is(a, "timeout", &val)) {
            if (conf_parse_duration(val, &v) < 0 || v < 1 || v > 3600 * 1000)
                return fail(pc, st->line, "%s: timeout: expected a duration from 1ms to 1h, got %s",
                            d->name, quoted(q, sizeof q, val));
            u->check_timeout = v;
        } else if (opt_is(a, "path", &val)) {
            if (val[0] != '/' || strpbrk(val, " \t\r\n") != NULL || strlen(val) > 1024)
                return fail(pc, st->line, "%s: path: expected a path starting with /, got %s",
                            d->name, quoted(q, sizeof q, val));
            free(u->check_path);
            u->check_path = xstrndup(val, strlen(val));
        } else if (opt_is(a, "expect", &val)) {
            if (opt_num(val, 100, 599, &v) < 0)
                return fail(pc, st->line, "%s: expect: expected a status from 100 to 599, got %s",
                            d->name, quoted(q, sizeof q, val));
            u->check_expect = (unsigned)v;
        } else if (opt_is(a, "rise", &val) || opt_is(a, "fall", &val)) {
            if (opt_num(val, 1, 100, &v) < 0)
                return fail(pc, st->line, "%s: %.4s: expected a number from 1 to 100, got %s",
                            d->name, a, quoted(q, sizeof q, val));
            if (a[0] == 'r')
                u->check_rise = (unsigned)v;
            else
                u->check_fall = (unsigned)v;
        } else {
            return fail(pc, st->line,
                        "%s: unknown option %s (expected interval=, timeout=, path=, expect=, "
                        "rise= or fall=)",
                        d->name, quoted(q, sizeof q, a));
        }
    }
    if (u->check_path == NULL)
        u->check_path = xstrndup("/", 1);
    return 0;
}

static const struct directive upstream_directives[] = {
    {"server", set_up_server, 1, 7, DIR_REPEAT},
    {"balance", set_up_balance, 1, 1},
    {"check", set_up_check, 0, 6},
};

static int name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 64)
        return 0;
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    }
    return 1;
}

static int set_upstream(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    unsigned seen[countof(upstream_directives)] = {0};
    struct conf_upstream *u;
    char q[80];
    int rc;

    if (!name_ok(st->argv[1]))
        return fail(pc, st->line, "%s: expected a name (letters, digits, '_', '-', '.'), got %s",
                    d->name, quoted(q, sizeof q, st->argv[1]));
    u = upstream_add(pc, st->argv[1], st->line);
    if (u == NULL)
        return -EINVAL;
    pc->base = (char *)u;
    rc = apply(pc, upstream_directives, countof(upstream_directives), seen, st->block);
    pc->base = (char *)pc->c;
    if (rc < 0)
        return rc;
    u = &pc->c->upstreams[pc->c->n_upstreams - 1];
    if (u->n_servers == 0)
        return fail(pc, st->line, "upstream \"%s\": expected at least one \"server\"", u->name);
    return 0;
}

/* --- route [NAME] { host ...; path ...; method ...; upstream NAME; cache on; ... } ------------ */

static struct conf_route *cur_route(struct pctx *pc)
{
    return (struct conf_route *)(void *)pc->base;
}

static int add_words(struct pctx *pc, const struct stmt *st, char ***list, unsigned *n, int lower)
{
    char q[80];

    if (*n + st->argc - 1 > CONF_MAX_MATCH)
        return fail(pc, st->line, "%s: too many values (at most %d)", st->argv[0], CONF_MAX_MATCH);
    *list = xrealloc(*list, (*n + st->argc - 1) * sizeof(**list));
    for (unsigned i = 1; i < st->argc; i++) {
        const char *a = st->argv[i];
        char *w;

        if (a[0] == '\0' || strpbrk(a, " \t\r\n") != NULL)
            return fail(pc, st->line, "%s: expected a value, got %s", st->argv[0],
                        quoted(q, sizeof q, a));
        w = xstrndup(a, strlen(a));
        if (lower) {
            for (char *p = w; *p != '\0'; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
        }
        (*list)[(*n)++] = w;
    }
    return 0;
}

static int set_rt_host(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf_route *r = cur_route(pc);
    char q[80];
    int rc = add_words(pc, st, &r->hosts, &r->n_hosts, 1);

    for (unsigned i = 0; rc == 0 && i < r->n_hosts; i++) {
        const char *h = r->hosts[i], *star = strchr(h, '*');

        if (star != NULL && !(strcmp(h, "*") == 0 || (star == h && h[1] == '.' && h[2] != '\0' &&
                                                      strchr(h + 1, '*') == NULL)))
            return fail(pc, st->line, "%s: expected a host name, \"*.domain\" or \"*\", got %s",
                        d->name, quoted(q, sizeof q, h));
    }
    return rc;
}

static int set_rt_path(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf_route *r = cur_route(pc);
    char q[80];

    for (unsigned i = 1; i < st->argc; i++) {
        if (st->argv[i][0] != '/')
            return fail(pc, st->line, "%s: expected a path prefix starting with /, got %s", d->name,
                        quoted(q, sizeof q, st->argv[i]));
    }
    return add_words(pc, st, &r->paths, &r->n_paths, 0);
}

static int set_rt_method(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf_route *r = cur_route(pc);
    char q[80];

    for (unsigned i = 1; i < st->argc; i++) {
        int m = http_method_parse(st->argv[i]);

        if (m < 0)
            return fail(pc, st->line, "%s: expected a method in capitals (GET, POST...), got %s",
                        d->name, quoted(q, sizeof q, st->argv[i]));
        r->methods |= 1ull << m;
    }
    return 0;
}

static int set_rt_upstream(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    (void)d;
    /* resolved once the whole file is read: an upstream may come after its routes */
    free(cur_route(pc)->name_up);
    cur_route(pc)->name_up = xstrndup(st->argv[1], strlen(st->argv[1]));
    return 0;
}

#define RFIELD(m) offsetof(struct conf_route, m), sizeof(((struct conf_route *)0)->m)
static const struct directive route_directives[] = {
    {"host", set_rt_host, 1, CONF_MAX_MATCH, DIR_REPEAT},
    {"path", set_rt_path, 1, CONF_MAX_MATCH, DIR_REPEAT},
    {"method", set_rt_method, 1, CONF_MAX_MATCH, DIR_REPEAT},
    {"upstream", set_rt_upstream, 1, 1},
    {"cache", set_flag, 1, 1, 0, RFIELD(cache), 0, 1},
    {"ignore_client_no_cache", set_flag, 1, 1, 0, RFIELD(ignore_client_no_cache), 0, 1},
    {"default_ttl", set_duration, 1, 1, 0, RFIELD(default_ttl), 0, UINT64_MAX},
    {"max_body_size", set_size, 1, 1, 0, RFIELD(max_body_size), 0, UINT64_MAX},
};

static int set_route(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    unsigned seen[countof(route_directives)] = {0};
    struct conf *c = pc->c;
    struct conf_route *r;
    char q[80], name[32];
    int rc;

    if (st->argc == 2 && !name_ok(st->argv[1]))
        return fail(pc, st->line, "%s: expected a name (letters, digits, '_', '-', '.'), got %s",
                    d->name, quoted(q, sizeof q, st->argv[1]));
    if (c->n_routes == CONF_MAX_ROUTES)
        return fail(pc, st->line, "too many routes (at most %d)", CONF_MAX_ROUTES);
    c->routes = xrealloc(c->routes, (c->n_routes + 1) * sizeof(*c->routes));
    r = &c->routes[c->n_routes++];
    memset(r, 0, sizeof(*r));
    /* an unnamed route is "#N" (its place), a name no route can be given */
    snprintf(name, sizeof name, "#%u", c->n_routes);
    r->name =
        st->argc == 2 ? xstrndup(st->argv[1], strlen(st->argv[1])) : xstrndup(name, strlen(name));
    r->line = st->line;
    for (unsigned i = 0; i + 1 < c->n_routes; i++) {
        if (strcmp(c->routes[i].name, r->name) == 0)
            return fail(pc, st->line, "route %s is already defined (at line %u)",
                        quoted(q, sizeof q, r->name), c->routes[i].line);
    }
    /* the global settings, until the block says otherwise (it may come before them: they are
     * applied again at the end for what the block did not give) */
    pc->base = (char *)r;
    rc = apply(pc, route_directives, countof(route_directives), seen, st->block);
    pc->base = (char *)c;
    if (rc < 0)
        return rc;
    r->given = (seen[4] ? 1u : 0) | (seen[5] ? 2u : 0) | (seen[6] ? 4u : 0) | (seen[7] ? 8u : 0);
    if (r->name_up == NULL)
        return fail(pc, st->line, "route \"%s\": missing required directive \"upstream\"", r->name);
    return 0;
}

int conf_parse_cidr(const char *s, struct conf_cidr *out)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    unsigned long bits;
    char *end;

    if (hl == 0 || hl >= sizeof host)
        return -EINVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = 128;
    } else {
        return -EINVAL;
    }
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9')
            return -EINVAL;
        bits = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || bits > out->bits)
            return -EINVAL;
        out->bits = (unsigned)bits;
    }
    return 0;
}

static int prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, whole) != 0)
        return 0;
    return rest == 0 || ((a[whole] ^ b[whole]) & (0xff00u >> rest) & 0xff) == 0;
}

int conf_cidr_match(const struct conf_cidr *list, unsigned n, const struct sockaddr *sa)
{
    const unsigned char *a4 = NULL, *a6 = NULL;

    if (sa->sa_family == AF_INET) {
        a4 = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

        a6 = in6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(in6))
            a4 = in6->s6_addr + 12;
    }
    for (unsigned i = 0; i < n; i++) {
        if (list[i].family == AF_INET && a4 != NULL && prefix_eq(list[i].addr, a4, list[i].bits))
            return 1;
        if (list[i].family == AF_INET6 && a6 != NULL && prefix_eq(list[i].addr, a6, list[i].bits))
            return 1;
    }
    return 0;
}

static int set_purge_allow(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char q[80];

    pc->c->n_purge_allow = 0;
    if (st->argc == 2 && strcmp(st->argv[1], "none") == 0)
        return 0;
    if (st->argc - 1 > CONF_MAX_CIDR)
        return fail(pc, st->line, "%s: at most %d ranges", d->name, CONF_MAX_CIDR);
    for (unsigned i = 1; i < st->argc; i++) {
        if (conf_parse_cidr(st->argv[i], &pc->c->purge_allow[pc->c->n_purge_allow]) < 0)
            return fail(pc, st->line,
                        "%s: expected address ranges like 127.0.0.1/32 or ::1/128, got %s", d->name,
                        quoted(q, sizeof q, st->argv[i]));
        pc->c->n_purge_allow++;
    }
    return 0;
}

/* allow RANGE... | all; deny RANGE... | all: appended in the file's order */
static int set_acl(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf *c = pc->c;
    char q[80];

    for (unsigned i = 1; i < st->argc; i++) {
        const char *a = st->argv[i];
        unsigned k = strcmp(a, "all") == 0 ? 2 : 1;

        if (c->n_acl + k > CONF_MAX_CIDR)
            return fail(pc, st->line, "%s: at most %d ranges in all allow and deny lines", d->name,
                        CONF_MAX_CIDR);
        if (k == 2) {
            AZ(conf_parse_cidr("0.0.0.0/0", &c->acl[c->n_acl]));
            AZ(conf_parse_cidr("::/0", &c->acl[c->n_acl + 1]));
        } else if (conf_parse_cidr(a, &c->acl[c->n_acl]) < 0) {
            return fail(pc, st->line,
                        "%s: expected address ranges like 10.0.0.0/8 or ::1/128, or all, got %s",
                        d->name, quoted(q, sizeof q, a));
        }
        for (unsigned j = 0; j < k; j++)
            c->acl_allow[c->n_acl++] = d->name[0] == 'a';
    }
    return 0;
}

int conf_acl_allows(const struct conf *c, const struct sockaddr *sa)
{
    for (unsigned i = 0; i < c->n_acl; i++)
        if (conf_cidr_match(&c->acl[i], 1, sa))
            return c->acl_allow[i];
    return 1;
}

/* deny_method METHOD... | none */
static int set_deny_method(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char q[80];

    pc->c->deny_methods = 0;
    if (st->argc == 2 && strcmp(st->argv[1], "none") == 0)
        return 0;
    for (unsigned i = 1; i < st->argc; i++) {
        int m = http_method_parse(st->argv[i]);

        if (m < 0)
            return fail(pc, st->line,
                        "%s: expected methods in capitals (TRACE, DELETE...) or none, got %s",
                        d->name, quoted(q, sizeof q, st->argv[i]));
        pc->c->deny_methods |= 1ull << m;
    }
    return 0;
}

/* rate_limit N/s|N/m [burst=B] [table=K] | off */
static int set_rate_limit(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    struct conf *c = pc->c;
    const char *a = st->argv[1], *p, *val;
    char q[80];
    uint64_t n, v;

    if (st->argc == 2 && strcmp(a, "off") == 0) {
        c->rate_limit = 0;
        return 0;
    }
    if (parse_digits(a, &n, &p) < 0 || n < 1 || n > 1000000 ||
        (strcmp(p, "/s") != 0 && strcmp(p, "/m") != 0))
        return fail(pc, st->line,
                    "%s: expected a rate such as 10/s or 300/m (1 to 1000000), or off, got %s",
                    d->name, quoted(q, sizeof q, a));
    c->rate_limit = p[1] == 's' ? (double)n : (double)n / 60;
    c->rate_burst = c->rate_limit < 1 ? 1 : (unsigned)c->rate_limit;
    c->rate_table = 10000;
    for (unsigned i = 2; i < st->argc; i++) {
        a = st->argv[i];
        if (opt_is(a, "burst", &val)) {
            if (opt_num(val, 1, 1000000, &v) < 0)
                return fail(pc, st->line, "%s: burst: expected a number from 1 to 1000000, got %s",
                            d->name, quoted(q, sizeof q, val));
            c->rate_burst = (unsigned)v;
        } else if (opt_is(a, "table", &val)) {
            if (opt_num(val, 1, 10000000, &v) < 0)
                return fail(pc, st->line,
                            "%s: table: expected a number of addresses from 1 to 10000000, got %s",
                            d->name, quoted(q, sizeof q, val));
            c->rate_table = (unsigned)v;
        } else {
            return fail(pc, st->line, "%s: unknown option %s (expected burst= or table=)", d->name,
                        quoted(q, sizeof q, a));
        }
    }
    return 0;
}

static int set_cache_policy(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    char q[80];

    if (strcmp(st->argv[1], "lru") == 0)
        pc->c->cache_policy = 0;
    else if (strcmp(st->argv[1], "s3fifo") == 0)
        pc->c->cache_policy = 1;
    else
        return fail(pc, st->line, "%s: expected lru or s3fifo, got %s", d->name,
                    quoted(q, sizeof q, st->argv[1]));
    return 0;
}

static int set_error_log(struct pctx *pc, const struct directive *d, const struct stmt *st)
{
    static const char *const levels[] = {
        [LOG_LVL_DEBUG] = "debug",
        [LOG_LVL_INFO] = "info",
        [LOG_LVL_WARN] = "warn",
        [LOG_LVL_ERROR] = "error",
    };
    const char *s = st->argv[1];
    char q[80];
    size_t i = 0;

    if (*s == '\0')
        return fail(pc, st->line, "%s: expected a path or \"stderr\", got \"\"", d->name);
    if (st->argc > 2) {
        for (i = 0; i < countof(levels); i++) {
            if (strcmp(st->argv[2], levels[i]) == 0)
                break;
        }
        if (i == countof(levels))
            return fail(pc, st->line, "%s: expected a level (debug, info, warn or error), got %s",
                        d->name, quoted(q, sizeof q, st->argv[2]));
        pc->c->error_log_level = (enum log_level)i;
    }
    free(pc->c->error_log);
    pc->c->error_log = strcmp(s, "stderr") == 0 ? NULL : xstrndup(s, strlen(s));
    return 0;
}

#define FIELD(m) offsetof(struct conf, m), sizeof(((struct conf *)0)->m)
/* name, handler, arguments (min, max), flags; for set_num/size/duration the field and range */
static const struct directive conf_directives[] = {
    {"listen", set_listen, 1, 2, DIR_REPEAT},
    {"tls_certificate", set_tls_certificate, 1, 2, DIR_REPEAT},
    {"tls_min_version", set_tls_min_version, 1, 1},
    /* set_text: min 1 = a file (made relative to the configuration's directory) */
    {"tls_ciphers", set_text, 1, 1, 0, FIELD(tls_ciphers), 0, 0},
    {"tls_ciphersuites", set_text, 1, 1, 0, FIELD(tls_ciphersuites), 0, 0},
    {"tls_session_tickets", set_flag, 1, 1, 0, FIELD(tls_session_tickets), 0, 1},
    {"tls_ktls", set_flag, 1, 1, 0, FIELD(tls_ktls), 0, 1},
    {"tls_session_cache", set_num, 1, 1, 0, FIELD(tls_session_cache), 0, 10000000},
    {"tls_session_timeout", set_duration, 1, 1, 0, FIELD(tls_session_timeout), 1000,
     7 * 86400 * 1000},
    {"tls_handshake_timeout", set_duration, 1, 1, 0, FIELD(tls_handshake_timeout), 1, UINT64_MAX},
    {"https_redirect", set_flag, 1, 1, 0, FIELD(https_redirect), 0, 1},
    {"origin_tls_verify", set_flag, 1, 1, 0, FIELD(origin_tls_verify), 0, 1},
    {"origin_tls_ca", set_text, 1, 1, 0, FIELD(origin_tls_ca), 1, 0},
    {"origin_tls_name", set_text, 1, 1, 0, FIELD(origin_tls_name), 0, 0},
    {"origin_tls_certificate", set_origin_tls_certificate, 1, 2},
    {"workers", set_workers, 1, 1},
    {"origin", set_origin, 1, 1},
    {"host_header", set_host_header, 1, 1},
    {"origin_keepalive", set_num, 1, 1, 0, FIELD(origin_keepalive), 0, 100000},
    {"max_uri_length", set_size, 1, 1, 0, FIELD(max_uri_length), 1, CONF_MIB},
    {"max_header_size", set_size, 1, 1, 0, FIELD(max_header_size), CONF_KIB, CONF_MIB},
    {"max_headers", set_num, 1, 1, 0, FIELD(max_headers), 1, 10000},
    {"max_body_size", set_size, 1, 1, 0, FIELD(max_body_size), 0, UINT64_MAX},
    {"max_origin_header_size", set_size, 1, 1, 0, FIELD(max_origin_header_size), CONF_KIB,
     CONF_MIB},
    {"max_connections", set_num, 1, 1, 0, FIELD(max_connections), 1, 1000000},
    {"client_header_timeout", set_duration, 1, 1, 0, FIELD(client_header_timeout), 1, UINT64_MAX},
    {"client_body_timeout", set_duration, 1, 1, 0, FIELD(client_body_timeout), 1, UINT64_MAX},
    {"keepalive_timeout", set_duration, 1, 1, 0, FIELD(keepalive_timeout), 0, UINT64_MAX},
    {"send_timeout", set_duration, 1, 1, 0, FIELD(send_timeout), 1, UINT64_MAX},
    {"origin_connect_timeout", set_duration, 1, 1, 0, FIELD(origin_connect_timeout), 1, UINT64_MAX},
    {"origin_timeout", set_duration, 1, 1, 0, FIELD(origin_timeout), 1, UINT64_MAX},
    {"drain_timeout", set_duration, 1, 1, 0, FIELD(drain_timeout), 1, UINT64_MAX},
    {"access_log", set_access_log, 1, 1},
    {"error_log", set_error_log, 1, 2},
    {"cache_disk", set_cache_disk, 2, 2},
    {"cache_memory", set_size, 1, 1, 0, FIELD(cache_memory), 0, UINT64_MAX},
    {"max_object_size", set_size, 1, 1, 0, FIELD(max_object_size), 1, UINT64_MAX},
    {"default_ttl", set_duration, 1, 1, 0, FIELD(default_ttl), 0, UINT64_MAX},
    {"hit_for_miss_ttl", set_duration, 1, 1, 0, FIELD(hit_for_miss_ttl), 0, UINT64_MAX},
    {"cache_set_cookie", set_flag, 1, 1, 0, FIELD(cache_set_cookie), 0, 1},
    {"ignore_client_no_cache", set_flag, 1, 1, 0, FIELD(ignore_client_no_cache), 0, 1},
    {"cache_shards", set_num, 1, 1, 0, FIELD(cache_shards), 1, 4096},
    {"grace", set_duration, 1, 1, 0, FIELD(grace), 0, UINT64_MAX},
    {"coalesce_max", set_num, 1, 1, 0, FIELD(coalesce_max), 1, 1000000},
    {"coalesce_timeout", set_duration, 1, 1, 0, FIELD(coalesce_timeout), 1, UINT64_MAX},
    {"gzip", set_flag, 1, 1, 0, FIELD(gzip), 0, 1},
    {"gzip_level", set_num, 1, 1, 0, FIELD(gzip_level), 1, 9},
    {"gzip_min_length", set_size, 1, 1, 0, FIELD(gzip_min_length), 0, UINT64_MAX},
    {"gzip_types", set_gzip_types, 1, 63},
    {"admin", set_admin, 0, 0, DIR_BLOCK},
    {"cache_policy", set_cache_policy, 1, 1},
    {"purge_allow", set_purge_allow, 1, CONF_MAX_CIDR},
    {"allow", set_acl, 1, CONF_MAX_CIDR, DIR_REPEAT},
    {"deny", set_acl, 1, CONF_MAX_CIDR, DIR_REPEAT},
    {"deny_method", set_deny_method, 1, CONF_MAX_MATCH},
    {"deny_status", set_num, 1, 1, 0, FIELD(deny_status), 400, 599},
    {"rate_limit", set_rate_limit, 1, 3},
    {"upstream", set_upstream, 1, 1, DIR_BLOCK | DIR_REPEAT},
    {"route", set_route, 0, 1, DIR_BLOCK | DIR_REPEAT},
    {"no_route_status", set_num, 1, 1, 0, FIELD(no_route_status), 400, 599},
};

/* Applies the statements at <st> with the <n> directives of <tab>; <seen>[i] holds the line
 * where tab[i] was first given (0: not yet). A block handler calls this for st->block. */
static int apply(struct pctx *pc, const struct directive *tab, size_t n, unsigned *seen,
                 const struct stmt *st)
{
    const struct directive *d;
    unsigned nargs;
    char q[80];
    size_t i;
    int rc;

    for (; st != NULL; st = st->next) {
        for (i = 0; i < n && strcmp(tab[i].name, st->argv[0]) != 0; i++)
            continue;
        if (i == n)
            return fail(pc, st->line, "unknown directive %s", quoted(q, sizeof q, st->argv[0]));
        d = &tab[i];
        if (seen[i] != 0 && !(d->flags & DIR_REPEAT))
            return fail(pc, st->line, "duplicate directive \"%s\" (first at line %u)", d->name,
                        seen[i]);
        if (seen[i] == 0)
            seen[i] = st->line;
        if (st->has_block && !(d->flags & DIR_BLOCK))
            return fail(pc, st->line, "%s: takes no \"{ ... }\" block", d->name);
        if (!st->has_block && (d->flags & DIR_BLOCK))
            return fail(pc, st->line, "%s: expected a \"{ ... }\" block", d->name);
        nargs = st->argc - 1;
        if (nargs < d->min_args || nargs > d->max_args) {
            if (d->min_args == d->max_args)
                return fail(pc, st->line, "%s: expected %u argument%s, got %u", d->name,
                            d->min_args, d->min_args == 1 ? "" : "s", nargs);
            return fail(pc, st->line, "%s: expected from %u to %u arguments, got %u", d->name,
                        d->min_args, d->max_args, nargs);
        }
        rc = d->set(pc, d, st);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void conf_defaults(struct conf *c)
{
    c->workers = online_cpus();
    c->origin_keepalive = 256;
    c->max_uri_length = 8 * CONF_KIB;
    c->max_header_size = 32 * CONF_KIB;
    c->max_headers = 100;
    c->max_body_size = 10 * CONF_MIB;
    c->max_origin_header_size = 64 * CONF_KIB;
    c->max_connections = 10000;
    c->client_header_timeout = 10 * 1000;
    c->client_body_timeout = 30 * 1000;
    c->keepalive_timeout = 60 * 1000;
    c->send_timeout = 30 * 1000;
    c->origin_connect_timeout = 5 * 1000;
    c->origin_timeout = 30 * 1000;
    c->drain_timeout = 10 * 1000;
    c->error_log_level = LOG_LVL_INFO;
    c->cache_memory = 256 * CONF_MIB;
    c->max_object_size = 16 * CONF_MIB;
    c->default_ttl = 0;
    c->hit_for_miss_ttl = 10 * 1000;
    c->cache_shards = 64;
    c->grace = 10 * 1000;
    c->coalesce_max = 10000;
    c->coalesce_timeout = 30 * 1000;
    c->cache_policy = 1; /* s3fifo: see bench/README.md, accel-bench sim */
    c->gzip = 1;
    c->gzip_level = 6;
    c->gzip_min_length = 256;
    c->gzip_types = xstrndup(CONF_GZIP_TYPES, strlen(CONF_GZIP_TYPES));
    /* PURGE on the main listener: from nobody unless purge_allow says so. Behind a TLS
     * terminator or a local balancer every client comes from the loopback, so the loopback is
     * no trust boundary; the admin API, with its token, is the way to purge. */
    c->n_purge_allow = 0;
    c->tls_min_version = 12;
    c->tls_session_tickets = 1;
    c->tls_session_cache = 20480;
    c->tls_session_timeout = 3600 * 1000;
    c->tls_handshake_timeout = 10 * 1000;
    c->origin_tls_verify = 1;
    c->no_route_status = 421;
    c->deny_methods = 1ull << HTTP_TRACE; /* it would echo credentials back (XST) */
    c->deny_status = 403;
}

/* After the whole file: routes find their upstreams, take the global cache settings they do not
 * give themselves, and every upstream gets its run-time state. */
static int finish_routing(struct pctx *pc)
{
    struct conf *c = pc->c;
    char q[80];

    c->default_upstream = &c->upstreams[0];
    for (unsigned i = 0; i < c->n_upstreams; i++) {
        if (strcmp(c->upstreams[i].name, "origin") == 0)
            c->default_upstream = &c->upstreams[i];
    }
    c->max_body_size_any = c->max_body_size;
    for (unsigned i = 0; i < c->n_routes; i++) {
        struct conf_route *r = &c->routes[i];

        for (unsigned j = 0; j < c->n_upstreams && r->up == NULL; j++) {
            if (strcmp(c->upstreams[j].name, r->name_up) == 0)
                r->up = &c->upstreams[j];
        }
        if (r->up == NULL)
            return fail(pc, r->line, "route \"%s\": no upstream named %s", r->name,
                        quoted(q, sizeof q, r->name_up));
        if (!(r->given & 1))
            r->cache = 1;
        if (!(r->given & 2))
            r->ignore_client_no_cache = c->ignore_client_no_cache;
        if (!(r->given & 4))
            r->default_ttl = c->default_ttl;
        if (!(r->given & 8))
            r->max_body_size = c->max_body_size;
        if (c->max_body_size_any != 0 &&
            (r->max_body_size == 0 || r->max_body_size > c->max_body_size_any))
            c->max_body_size_any = r->max_body_size;
    }
    for (unsigned i = 0; i < c->n_upstreams; i++)
        upstream_prepare(&c->upstreams[i]);
    return 0;
}

/* --- API ------------------------------------------------------------------------------------- */

int conf_parse(const char *name, const char *text, size_t len, struct conf **out, char *err,
               size_t errlen)
{
    struct pctx pc = {.name = name, .err = err, .errlen = errlen};
    struct lexer lx = {.p = text, .end = text + len, .line = 1};
    unsigned seen[countof(conf_directives)] = {0};
    struct stmt *top = NULL;
    struct conf *c;
    unsigned last_line;
    int rc;

    AN(name);
    AN(out);
    AN(text != NULL || len == 0);
    errf(err, errlen, "%s", "");
    c = xcalloc(1, sizeof *c);
    atomic_init(&c->refs, 1);
    c->path = xstrndup(name, strlen(name));
    conf_defaults(c);
    pc.c = c;
    pc.base = (char *)c;

    rc = parse_list(&pc, &lx, 0, 0, &top);
    if (rc < 0)
        goto out;
    rc = apply(&pc, conf_directives, countof(conf_directives), seen, top);
    if (rc < 0)
        goto out;
    /* The line of the last byte: a final newline does not start another line. */
    last_line = (len > 0 && text[len - 1] == '\n') ? lx.line - 1 : lx.line;
    if (c->n_listen == 0)
        rc = fail(&pc, last_line, "missing required directive \"listen\"");
    else if (c->n_upstreams == 0)
        rc = fail(&pc, last_line, "missing required directive \"origin\"");
    else if (c->listen_tls != 0 && c->n_tls_certs == 0)
        rc = fail(&pc, last_line, "a \"listen ... tls\" needs a \"tls_certificate\"");
    else if (c->https_redirect && c->listen_tls == 0)
        rc = fail(&pc, last_line, "https_redirect needs a \"listen ... tls\" to redirect to");
    else
        rc = finish_routing(&pc);
out:
    stmt_free(top);
    free(lx.word);
    if (rc < 0) {
        conf_free(&c);
        return rc;
    }
    *out = c;
    return 0;
}

int conf_load(const char *path, struct conf **out, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int fd, rc;

    AN(path);
    AN(out);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        errf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    /* One byte more than the cap tells a file at the cap from a larger one. */
    buf = xmalloc(CONF_MAX_FILE + 1);
    for (;;) {
        n = read(fd, buf + len, CONF_MAX_FILE + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            errf(err, errlen, "%s: %s", path, strerror(-rc));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > CONF_MAX_FILE) {
            rc = -EFBIG;
            errf(err, errlen, "%s: larger than 1 MiB", path);
            goto out;
        }
    }
    rc = conf_parse(path, buf, len, out, err, errlen);
    if (rc == 0 && (*out)->cache_disk != NULL) {
        /* The file system, not the syntax: checked where a file is loaded (accel -t and a
         * start), so that a missing directory is a configuration error with its line. */
        char why[512];

        rc = disk_check_dir((*out)->cache_disk, why, sizeof(why));
        if (rc != 0) {
            errf(err, errlen, "%s:%u: cache_disk: %s", path, (*out)->cache_disk_line, why);
            conf_free(out);
        }
    }
out:
    close(fd);
    free(buf);
    return rc;
}

void conf_free(struct conf **cp)
{
    struct conf *c;

    AN(cp);
    c = *cp;
    if (c == NULL)
        return;
    AN(atomic_load(&c->refs) <= 1); /* else: conf_unref() */
    free(c->path);
    for (unsigned i = 0; i < c->n_upstreams; i++) {
        struct conf_upstream *u = &c->upstreams[i];

        upstream_unprepare(u);
        for (unsigned j = 0; j < u->n_servers; j++) {
            free(u->servers[j].host);
            free(u->servers[j].name);
        }
        free(u->servers);
        free(u->name);
        free(u->check_path);
    }
    free(c->upstreams);
    for (unsigned i = 0; i < c->n_routes; i++) {
        struct conf_route *r = &c->routes[i];

        for (unsigned j = 0; j < r->n_hosts; j++)
            free(r->hosts[j]);
        for (unsigned j = 0; j < r->n_paths; j++)
            free(r->paths[j]);
        free(r->hosts);
        free(r->paths);
        free(r->name);
        free(r->name_up);
    }
    free(c->routes);
    for (unsigned i = 0; i < c->n_tls_certs; i++) {
        free(c->tls_certs[i].cert);
        free(c->tls_certs[i].key);
    }
    free(c->origin_tls_cert.cert);
    free(c->origin_tls_cert.key);
    free(c->tls_ciphers);
    free(c->tls_ciphersuites);
    free(c->origin_tls_ca);
    free(c->origin_tls_name);
    free(c->host_header);
    free(c->access_log);
    free(c->error_log);
    free(c->cache_disk);
    free(c->gzip_types);
    free(c->admin_token);
    free(c->admin_token_file);
    free(c);
    *cp = NULL;
}

const struct conf *conf_ref(const struct conf *c)
{
    /* the count is the one member that changes: it is not part of the snapshot */
    AN(atomic_fetch_add_explicit(&((struct conf *)c)->refs, 1, memory_order_relaxed) > 0);
    return c;
}

void conf_unref(const struct conf **cp)
{
    struct conf *c = (struct conf *)*cp;

    *cp = NULL;
    if (c == NULL)
        return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        atomic_store(&c->refs, 1);
        conf_free(&c);
    }
}

const struct conf_server *conf_tls_server(const struct conf *c)
{
    for (unsigned i = 0; i < c->n_upstreams; i++) {
        for (unsigned j = 0; j < c->upstreams[i].n_servers; j++) {
            if (c->upstreams[i].servers[j].tls)
                return &c->upstreams[i].servers[j];
        }
    }
    return NULL;
}
