/* test_sf.c - the RFC 8941 Dictionary grammar: what parses, what each member holds, and the
 * inputs that must fail (RFC 8941 §4.2 and the structured-field-tests cases it implies). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "accel/sf.h"

struct seen {
    unsigned n;
    char keys[8][16];
    struct sf_item v[8];
};

static int collect(struct span key, const struct sf_item *v, void *arg)
{
    struct seen *s = arg;

    if (s->n < 8) {
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%.*s", (int)key.len, key.p);
        s->v[s->n] = *v;
    }
    s->n++;
    return 0;
}

static int parse(const char *text, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    return sf_dict_parse(span_of(text, strlen(text)), collect, s);
}

static int span_is(struct span sp, const char *lit)
{
    return sp.len == strlen(lit) && memcmp(sp.p, lit, sp.len) == 0;
}

Test(sf, keys_and_bare_items)
{
    struct seen s;

    cr_assert_eq(parse("a=1, b=-42, c=1.5, d=\"x\\\"y\", e=tok/en:1, f=:aGk=:, g=?0, h", &s), 0);
    cr_assert_eq(s.n, 8);
    cr_assert_str_eq(s.keys[0], "a");
    cr_assert_eq(s.v[0].type, SF_INTEGER);
    cr_assert_eq(s.v[0].num, 1);
    cr_assert_eq(s.v[1].num, -42);
    cr_assert_eq(s.v[2].type, SF_DECIMAL);
    cr_assert_eq(s.v[2].num, 1500);
    cr_assert_eq(s.v[3].type, SF_STRING);
    cr_assert(span_is(s.v[3].s, "x\\\"y"));
    cr_assert_eq(s.v[4].type, SF_TOKEN);
    cr_assert(span_is(s.v[4].s, "tok/en:1"));
    cr_assert_eq(s.v[5].type, SF_BINARY);
    cr_assert(span_is(s.v[5].s, "aGk="));
    cr_assert_eq(s.v[6].type, SF_BOOLEAN);
    cr_assert_eq(s.v[6].num, 0);
    cr_assert_eq(s.v[7].type, SF_BOOLEAN, "a bare key is true");
    cr_assert_eq(s.v[7].num, 1);

    cr_assert_eq(parse("*a.b_c-d*9=1", &s), 0);
    cr_assert_str_eq(s.keys[0], "*a.b_c-d*9");
    cr_assert_eq(parse("", &s), 0, "empty: an empty dictionary");
    cr_assert_eq(s.n, 0);
    cr_assert_eq(parse("a=1, a=2", &s), 0);
    cr_assert_eq(s.n, 2, "a repeated key is reported again; the later wins");
}

Test(sf, parameters_and_inner_lists)
{
    struct seen s;

    cr_assert_eq(parse("a=1;p;q=\"s\";r=?1, b;x=2, c=(1 \"two\" t;k=3);lp=4, d=(), e=( 1  2 )", &s),
                 0);
    cr_assert_eq(s.n, 5);
    cr_assert_eq(s.v[0].type, SF_INTEGER);
    cr_assert_eq(s.v[1].type, SF_BOOLEAN, "parameters on a bare key");
    cr_assert_eq(s.v[2].type, SF_INNER_LIST);
    cr_assert(span_is(s.v[2].s, "(1 \"two\" t;k=3)"));
    cr_assert_eq(s.v[3].type, SF_INNER_LIST);
    cr_assert_eq(s.v[4].type, SF_INNER_LIST);
    cr_assert_eq(parse("a=1; p=2", &s), 0, "SP after ';'");
}

Test(sf, whitespace)
{
    struct seen s;

    cr_assert_eq(parse("  a=1", &s), 0, "leading SP");
    cr_assert_eq(parse("a=1 ,\tb=2  ", &s), 0, "OWS around commas, trailing SP");
    cr_assert_eq(s.n, 2);
    cr_assert_eq(parse("a =1", &s), -EBADMSG, "SP before '='");
    cr_assert_eq(parse("a= 1", &s), -EBADMSG, "SP after '='");
    cr_assert_eq(parse("a=1 b=2", &s), -EBADMSG, "no comma");
    cr_assert_eq(parse("a=1 ;p", &s), -EBADMSG, "SP before ';'");
    cr_assert_eq(parse("a=(1  2)x", &s), -EBADMSG);
    cr_assert_eq(parse("a=(1\t2)", &s), -EBADMSG, "inner lists separate with SP only");
    cr_assert_eq(parse("\ta=1", &s), -EBADMSG, "leading HTAB");
}

Test(sf, rejects_what_is_not_a_dictionary)
{
    const char *bad[] = {
        "max-age=10000, &&&&&", /* no bare item or key starts with & */
        "a=1,",                 /* trailing comma */
        ",a=1",
        "a=1,,b=2",
        "A=1", /* keys are lowercase */
        "1a=1",
        "a=",
        "a=1;",
        "a=1;P=2",
        "a=\"unterminated",
        "a=\"bad\\escape\"",
        "a=\"tab\there\"",
        "a=\"\x80\"",
        "a=:aGk=",
        "a=:a b:",
        "a=?2",
        "a=?",
        "a=-",
        "a=1.",
        "a=1.2345",
        "a=1234567890123456", /* 16 digits */
        "a=1234567890123.1",  /* 13 before the dot */
        "a=(1 2",
        "a=(1,2)",
        "a=@1659578233", /* an RFC 9651 Date is not RFC 8941 */
        "a=%\"x\"",
        "a=1 2",
        "a==1",
    };
    struct seen s;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(parse(bad[i], &s), -EBADMSG, "%s", bad[i]);
    cr_assert_eq(parse("a=123456789012345, b=-123456789012.123", &s), 0, "the limits themselves");
    cr_assert_eq(s.v[0].num, 123456789012345LL);
    cr_assert_eq(s.v[1].num, -123456789012123LL);
}

static int stop_at_b(struct span key, const struct sf_item *v, void *arg)
{
    (void)v;
    (void)arg;
    return key.len == 1 && key.p[0] == 'b' ? -EINVAL : 0;
}

Test(sf, callback_stops_the_parse)
{
    const char *t = "a=1, b=2, c=3";

    cr_assert_eq(sf_dict_parse(span_of(t, strlen(t)), stop_at_b, NULL), -EINVAL);
    cr_assert_eq(sf_dict_parse(span_of(t, strlen(t)), NULL, NULL), 0, "no callback: a check");
}
