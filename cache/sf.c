/* sf.c - RFC 8941 Structured Field Dictionaries, parsed strictly in one pass following the
 * algorithms of RFC 8941 §4.2 over a cursor (struct cur) into the caller's bytes: nothing is
 * copied or allocated. Any deviation from the grammar fails the whole value (-EBADMSG); only
 * then may a caller fall back to another field, as RFC 9213 §2.1 wants. */
#include "accel/sf.h"

#include <errno.h>

struct cur {
    const char *p, *end;
};

static int at(const struct cur *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static int is_lcalpha(char ch)
{
    return ch >= 'a' && ch <= 'z';
}

static int is_alpha(char ch)
{
    return is_lcalpha(ch) || (ch >= 'A' && ch <= 'Z');
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* tchar of RFC 9110 §5.6.2 */
static int is_tchar(char ch)
{
    return is_alpha(ch) || is_digit(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static void skip_sp(struct cur *c)
{
    while (at(c, ' '))
        c->p++;
}

static void skip_ows(struct cur *c)
{
    while (at(c, ' ') || at(c, '\t'))
        c->p++;
}

/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static int parse_key(struct cur *c, struct span *key)
{
    const char *s = c->p;

    if (c->p == c->end || !(is_lcalpha(*c->p) || *c->p == '*'))
        return -EBADMSG;
    for (c->p++; c->p < c->end; c->p++) {
        char ch = *c->p;
        if (!(is_lcalpha(ch) || is_digit(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '*'))
            break;
    }
    *key = span_of(s, (size_t)(c->p - s));
    return 0;
}

/* RFC 8941 §4.2.4: at most 15 integer digits, or 12 before and 1 to 3 after the dot. */
static int parse_number(struct cur *c, struct sf_item *it)
{
    int64_t sign = 1, ipart = 0, frac = 0;
    int idigits = 0, fdigits = 0, dot = 0;

    if (at(c, '-')) {
        sign = -1;
        c->p++;
    }
    if (c->p == c->end || !is_digit(*c->p))
        return -EBADMSG;
    for (; c->p < c->end; c->p++) {
        char ch = *c->p;

        if (is_digit(ch)) {
            if (dot) {
                if (++fdigits > 3)
                    return -EBADMSG;
                frac = frac * 10 + (ch - '0');
            } else {
                if (++idigits > 15)
                    return -EBADMSG;
                ipart = ipart * 10 + (ch - '0');
            }
        } else if (ch == '.' && !dot) {
            if (idigits > 12)
                return -EBADMSG;
            dot = 1;
        } else {
            break;
        }
    }
    if (!dot) {
        it->type = SF_INTEGER;
        it->num = sign * ipart;
        return 0;
    }
    if (fdigits == 0)
        return -EBADMSG; /* "1." */
    for (int i = fdigits; i < 3; i++)
        frac *= 10;
    it->type = SF_DECIMAL;
    it->num = sign * (ipart * 1000 + frac);
    return 0;
}

/* sf-string: printable ASCII between quotes; a backslash escapes only '"' and '\'. */
static int parse_string(struct cur *c, struct sf_item *it)
{
    const char *s = ++c->p;

    for (; c->p < c->end; c->p++) {
        unsigned char ch = (unsigned char)*c->p;

        if (ch == '"') {
            it->type = SF_STRING;
            it->s = span_of(s, (size_t)(c->p - s));
            c->p++;
            return 0;
        }
        if (ch == '\\') {
            if (c->p + 1 == c->end || (c->p[1] != '"' && c->p[1] != '\\'))
                return -EBADMSG;
            c->p++;
        } else if (ch < 0x20 || ch > 0x7e) {
            return -EBADMSG;
        }
    }
    return -EBADMSG; /* no closing quote */
}

/* sf-token = ( ALPHA / "*" ) *( tchar / ":" / "/" ) */
static int parse_token(struct cur *c, struct sf_item *it)
{
    const char *s = c->p++;

    while (c->p < c->end && (is_tchar(*c->p) || *c->p == ':' || *c->p == '/'))
        c->p++;
    it->type = SF_TOKEN;
    it->s = span_of(s, (size_t)(c->p - s));
    return 0;
}

/* sf-binary = ":" *(base64) ":" */
static int parse_binary(struct cur *c, struct sf_item *it)
{
    const char *s = ++c->p;

    for (; c->p < c->end; c->p++) {
        char ch = *c->p;

        if (ch == ':') {
            it->type = SF_BINARY;
            it->s = span_of(s, (size_t)(c->p - s));
            c->p++;
            return 0;
        }
        if (!(is_alpha(ch) || is_digit(ch) || ch == '+' || ch == '/' || ch == '='))
            return -EBADMSG;
    }
    return -EBADMSG;
}

static int parse_bare_item(struct cur *c, struct sf_item *it)
{
    char ch;

    if (c->p == c->end)
        return -EBADMSG;
    ch = *c->p;
    if (ch == '-' || is_digit(ch))
        return parse_number(c, it);
    if (ch == '"')
        return parse_string(c, it);
    if (ch == '*' || is_alpha(ch))
        return parse_token(c, it);
    if (ch == ':')
        return parse_binary(c, it);
    if (ch == '?') {
        if (c->p + 1 == c->end || (c->p[1] != '0' && c->p[1] != '1'))
            return -EBADMSG;
        it->type = SF_BOOLEAN;
        it->num = c->p[1] == '1';
        c->p += 2;
        return 0;
    }
    return -EBADMSG;
}

/* parameters = *( ";" *SP parameter ), parameter = param-key [ "=" param-value ] */
static int parse_parameters(struct cur *c)
{
    while (at(c, ';')) {
        struct span key;
        struct sf_item v;

        c->p++;
        skip_sp(c);
        if (parse_key(c, &key) < 0)
            return -EBADMSG;
        if (at(c, '=')) {
            c->p++;
            if (parse_bare_item(c, &v) < 0)
                return -EBADMSG;
        }
    }
    return 0;
}

static int parse_item(struct cur *c, struct sf_item *it)
{
    if (parse_bare_item(c, it) < 0)
        return -EBADMSG;
    return parse_parameters(c);
}

/* inner-list = "(" *SP [ sf-item *( 1*SP sf-item ) *SP ] ")" parameters */
static int parse_inner_list(struct cur *c, struct sf_item *it)
{
    const char *s = c->p++;

    for (;;) {
        struct sf_item member;

        skip_sp(c);
        if (c->p == c->end)
            return -EBADMSG;
        if (*c->p == ')') {
            c->p++;
            it->type = SF_INNER_LIST;
            it->s = span_of(s, (size_t)(c->p - s));
            return parse_parameters(c);
        }
        if (parse_item(c, &member) < 0)
            return -EBADMSG;
        if (!at(c, ' ') && !at(c, ')'))
            return -EBADMSG;
    }
}

int sf_dict_parse(struct span v, sf_member_fn cb, void *arg)
{
    struct cur c = {v.p, v.p + v.len};

    skip_sp(&c);
    while (c.p < c.end) {
        struct span key;
        struct sf_item it = {.type = SF_BOOLEAN, .num = 1};
        int rc;

        if (parse_key(&c, &key) < 0)
            return -EBADMSG;
        if (at(&c, '=')) {
            c.p++;
            rc = at(&c, '(') ? parse_inner_list(&c, &it) : parse_item(&c, &it);
        } else {
            rc = parse_parameters(&c);
        }
        if (rc < 0)
            return -EBADMSG;
        if (cb != NULL && (rc = cb(key, &it, arg)) != 0)
            return rc;
        skip_ows(&c);
        if (c.p == c.end)
            return 0;
        if (*c.p != ',')
            return -EBADMSG;
        c.p++;
        skip_ows(&c);
        if (c.p == c.end)
            return -EBADMSG; /* a trailing comma */
    }
    return 0;
}
