/* test_policy.c - RFC 9111 rules, table-driven. Time is a parameter: nothing sleeps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "accel/policy.h"

#define NOW 1795203449LL /* Fri, 20 Nov 2026 19:37:29 GMT */

static const struct policy_conf pc = {
    .default_ttl = 0,
    .heuristic_max = 86400,
    .heuristic_pct = 10,
    .cache_set_cookie = 0,
    .hit_for_miss_ttl = 10,
};

/* Splits "Name: value\nName: value" into fields (at most 16). */
static unsigned fields(const char *text, struct field *f)
{
    unsigned n = 0;
    const char *p = text;

    while (*p != '\0' && n < 16) {
        const char *colon = strchr(p, ':'), *nl = strchr(p, '\n');
        if (nl == NULL)
            nl = p + strlen(p);
        f[n].name = span_of(p, (size_t)(colon - p));
        f[n].value = span_trim(span_of(colon + 1, (size_t)(nl - colon - 1)));
        n++;
        p = *nl ? nl + 1 : nl;
    }
    return n;
}

static struct cc cc_of(const char *v)
{
    struct cc cc;

    policy_cc_init(&cc);
    policy_cc_parse(span_of(v, strlen(v)), &cc);
    return cc;
}

Test(policy, parses_cache_control)
{
    struct cc cc = cc_of("public, max-age=60, s-maxage=\"120\", stale-while-revalidate=30");

    cr_assert(cc.flags & CC_PUBLIC);
    cr_assert_eq(cc.max_age, 60);
    cr_assert_eq(cc.s_maxage, 120);
    cr_assert_eq(cc.swr, 30);
    cr_assert_eq(cc.sie, POLICY_ABSENT);

    cc = cc_of("private=\"Set-Cookie, X\", no-cache=\"a\",max-stale");
    cr_assert(cc.flags & CC_PRIVATE);
    cr_assert(cc.flags & CC_NO_CACHE);
    cr_assert(cc.flags & CC_MAX_STALE_ANY);

    cc = cc_of("max-age=abc");
    cr_assert_eq(cc.max_age, 0, "an invalid max-age makes the response stale");
    cc = cc_of("max-age=99999999999999999999");
    cr_assert_eq(cc.max_age, 2147483648LL);
    cc = cc_of("");
    cr_assert_eq(cc.flags, 0);
}

Test(policy, parses_the_three_date_formats)
{
    const char *ok[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                        "Sun Nov  6 08:49:37 1994"};
    const char *bad[] = {"",
                         "yesterday",
                         "Sun, 06 Nov 1994 08:49:37 UTC",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "0"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert_eq(policy_parse_date(span_of(ok[i], strlen(ok[i]))), 784111777LL, "%s", ok[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(policy_parse_date(span_of(bad[i], strlen(bad[i]))), -1, "%s", bad[i]);
}

struct row {
    const char *method;
    const char *req_cc;
    int auth;
    unsigned status;
    const char *resp;
    int storable;
    int64_t ttl;
};

/* Date is NOW in every response below unless it says otherwise. */
static const struct row rows[] = {
    {"GET", "", 0, 200, "Cache-Control: max-age=60", 1, 60},
    {"GET", "", 0, 200, "Cache-Control: max-age=60, s-maxage=300", 1, 300},
    {"GET", "", 0, 200, "Expires: Fri, 20 Nov 2026 19:38:29 GMT", 1, 60},
    {"GET", "", 0, 200, "Expires: 0", 1, 0},
    {"GET", "", 0, 200, "Cache-Control: max-age=60\nExpires: Fri, 20 Nov 2026 20:37:29 GMT", 1, 60},
    /* heuristic: 10% of Date - Last-Modified (10 days -> 1 day, the cap) */
    {"GET", "", 0, 200, "Last-Modified: Fri, 20 Nov 2026 09:37:29 GMT", 1, 3600},
    {"GET", "", 0, 200, "Last-Modified: Tue, 10 Nov 2026 19:37:29 GMT", 1, 86400},
    {"GET", "", 0, 200, "Content-Type: text/plain", 0, 0},
    {"GET", "", 0, 302, "Last-Modified: Fri, 20 Nov 2026 09:37:29 GMT", 0, 0},
    {"GET", "", 0, 302, "Cache-Control: max-age=10", 1, 10},
    {"GET", "", 0, 404, "Last-Modified: Fri, 20 Nov 2026 09:37:29 GMT", 1, 3600},
    {"GET", "", 0, 200, "Cache-Control: no-store, max-age=60", 0, 0},
    {"GET", "no-store", 0, 200, "Cache-Control: max-age=60", 0, 0},
    {"GET", "", 0, 200, "Cache-Control: private, max-age=60", 0, 0},
    {"GET", "", 1, 200, "Cache-Control: max-age=60", 0, 0},
    {"GET", "", 1, 200, "Cache-Control: public, max-age=60", 1, 60},
    {"GET", "", 1, 200, "Cache-Control: s-maxage=60", 1, 60},
    {"GET", "", 0, 200, "Cache-Control: max-age=60\nSet-Cookie: a=b", 0, 0},
    {"GET", "", 0, 200, "Cache-Control: max-age=60\nVary: *", 0, 0},
    {"GET", "", 0, 200, "Cache-Control: max-age=60\nVary: Accept-Encoding", 1, 60},
    {"GET", "", 0, 206, "Cache-Control: max-age=60", 0, 0},
    {"POST", "", 0, 200, "Cache-Control: max-age=60", 0, 0},
    {"HEAD", "", 0, 200, "Cache-Control: max-age=60", 0, 0},
    {"GET", "", 0, 200, "Cache-Control: no-cache\nETag: \"x\"", 1, 0},
    {"GET", "", 0, 200, "Cache-Control: no-cache", 0, 0},
    /* RFC 9213: targeted fields win, entirely */
    {"GET", "", 0, 200, "Cache-Control: no-store\nCDN-Cache-Control: max-age=600", 1, 600},
    {"GET", "", 0, 200,
     "Cache-Control: max-age=5\nCDN-Cache-Control: max-age=600\nAccel-Cache-Control: max-age=9", 1,
     9},
    {"GET", "", 0, 200, "Cache-Control: max-age=600\nCDN-Cache-Control: no-store", 0, 0},
};

Test(policy, storability_and_lifetime_table)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        struct field f[17];
        unsigned n = fields(r->resp, f);
        struct cc rcc = cc_of(r->req_cc);
        struct policy_resp out;

        f[n].name = span_of("Date", 4);
        f[n].value = span_of("Fri, 20 Nov 2026 19:37:29 GMT", 29);
        n++;
        policy_response(&pc, r->method, &rcc, r->auth, r->status, f, n, NOW, &out);
        cr_assert_eq(out.storable, r->storable, "row %zu (%s): storable %d, reason %s", i, r->resp,
                     out.storable, out.reason ? out.reason : "-");
        if (r->storable)
            cr_assert_eq(out.ttl, r->ttl, "row %zu (%s): ttl %lld", i, r->resp, (long long)out.ttl);
    }
}

Test(policy, default_ttl_applies_to_silent_responses)
{
    struct policy_conf c = pc;
    struct field f[2];
    unsigned n = fields("Content-Type: text/plain", f);
    struct cc rcc = cc_of("");
    struct policy_resp out;

    c.default_ttl = 120;
    policy_response(&c, "GET", &rcc, 0, 200, f, n, NOW, &out);
    cr_assert(out.storable);
    cr_assert_eq(out.ttl, 120);
    policy_response(&c, "GET", &rcc, 0, 500, f, n, NOW, &out);
    cr_assert_not(out.storable);
}

Test(policy, stale_windows_and_revalidate_flags)
{
    struct field f[4];
    unsigned n =
        fields("Cache-Control: max-age=1, stale-while-revalidate=30, stale-if-error=60", f);
    struct cc rcc = cc_of("");
    struct policy_resp out;

    policy_response(&pc, "GET", &rcc, 0, 200, f, n, NOW, &out);
    cr_assert_eq(out.swr, 30);
    cr_assert_eq(out.sie, 60);
    n = fields("Cache-Control: max-age=1, must-revalidate, stale-while-revalidate=30", f);
    policy_response(&pc, "GET", &rcc, 0, 200, f, n, NOW, &out);
    cr_assert_eq(out.swr, 0, "must-revalidate forbids serving stale");
}

Test(policy, current_age_follows_rfc9111_4_2_3)
{
    /* Date 10 s before the response arrived, Age 5, 2 s between request and response. */
    cr_assert_eq(policy_current_age(1000, 5, 1008, 1010, 1010), 10);
    cr_assert_eq(policy_current_age(1010, 5, 1008, 1010, 1010), 7);
    cr_assert_eq(policy_current_age(1010, 0, 1010, 1010, 1070), 60);
    /* A Date in the future does not make the age negative. */
    cr_assert_eq(policy_current_age(2000, 0, 1010, 1010, 1010), 0);
}

Test(policy, use_of_a_stored_response)
{
    struct cc none = cc_of(""), nc = cc_of("no-cache"), ma = cc_of("max-age=5");
    struct cc ms = cc_of("max-stale=10"), msany = cc_of("max-stale"), mf = cc_of("min-fresh=50");

    cr_assert_eq(policy_use(60, 10, 0, 0, &none, 0), POLICY_FRESH);
    cr_assert_eq(policy_use(60, 60, 0, 0, &none, 0), POLICY_REVALIDATE);
    cr_assert_eq(policy_use(60, 10, 0, 0, &nc, 0), POLICY_REVALIDATE);
    cr_assert_eq(policy_use(60, 10, 0, 0, &nc, 1), POLICY_FRESH, "client no-cache ignored");
    cr_assert_eq(policy_use(60, 10, 0, 0, &ma, 0), POLICY_REVALIDATE);
    cr_assert_eq(policy_use(60, 20, 0, 0, &mf, 0), POLICY_REVALIDATE);
    cr_assert_eq(policy_use(60, 65, 0, 0, &ms, 0), POLICY_STALE_OK);
    cr_assert_eq(policy_use(60, 75, 0, 0, &ms, 0), POLICY_REVALIDATE);
    cr_assert_eq(policy_use(60, 9999, 0, 0, &msany, 0), POLICY_STALE_OK);
    cr_assert_eq(policy_use(60, 9999, 0, CC_MUST_REVALIDATE, &msany, 0), POLICY_REVALIDATE);
    cr_assert_eq(policy_use(60, 80, 30, 0, &none, 0), POLICY_STALE_SWR);
    cr_assert_eq(policy_use(60, 95, 30, 0, &none, 0), POLICY_REVALIDATE);
    cr_assert_eq(policy_use(60, 10, 0, CC_NO_CACHE, &none, 0), POLICY_REVALIDATE);
    /* max-age=0 is a reload: like no-cache, and ignored with it */
    struct cc ma0 = cc_of("max-age=0");
    cr_assert_eq(policy_use(60, 0, 0, 0, &ma0, 0), POLICY_REVALIDATE);
    cr_assert_eq(policy_use(60, 0, 0, 0, &ma0, 1), POLICY_FRESH);
}

static void response_of(const char *text, struct policy_resp *out)
{
    struct field f[17];
    unsigned n = fields(text, f);
    struct cc rcc = cc_of("");

    f[n].name = span_of("Date", 4);
    f[n].value = span_of("Fri, 20 Nov 2026 19:37:29 GMT", 29);
    n++;
    policy_response(&pc, "GET", &rcc, 0, 200, f, n, NOW, out);
}

Test(policy, s_maxage_implies_proxy_revalidate)
{
    struct policy_resp out;
    struct cc msany = cc_of("max-stale");

    response_of("Cache-Control: max-age=60, s-maxage=2, stale-while-revalidate=30, "
                "stale-if-error=60",
                &out);
    cr_assert(out.cc_flags & CC_PROXY_REVALIDATE, "RFC 9111 §5.2.2.10");
    cr_assert_eq(out.swr, 0);
    cr_assert_eq(out.sie, 0);
    cr_assert_eq(policy_use(out.ttl, 5, out.swr, out.cc_flags, &msany, 0), POLICY_REVALIDATE,
                 "not even a client's max-stale may have it stale");
    response_of("CDN-Cache-Control: s-maxage=2", &out);
    cr_assert(out.cc_flags & CC_PROXY_REVALIDATE, "from a targeted field too");
    response_of("Cache-Control: max-age=2, stale-if-error=60", &out);
    cr_assert_not(out.cc_flags & CC_PROXY_REVALIDATE);
    cr_assert_eq(out.sie, 60);
}

Test(policy, age_uses_its_first_member)
{
    static const struct {
        const char *age;
        int64_t want;
    } t[] = {
        {"Age: 7200, 0", 7200},
        {"Age: 0, 7200", 0},
        {"Age: 7200\nAge: 0", 7200},
        {"Age:  30 ", 30},
        {"Age: 7200.0", 0},
        {"Age: -7200", 0},
        {"Age: \"7200\"", 0},
        {"Age: 7200;foo=bar", 0},
        {"Age: abc", 0},
        {"Age: 99999999999", 2147483648LL},
    };
    struct policy_resp out;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char text[128];

        snprintf(text, sizeof(text), "Cache-Control: max-age=3600\n%s", t[i].age);
        response_of(text, &out);
        cr_assert_eq(out.age, t[i].want, "%s: %lld", t[i].age, (long long)out.age);
    }
}

Test(policy, targeted_fields_are_sf_dictionaries)
{
    static const struct {
        const char *resp;
        int storable;
        int64_t ttl;
    } t[] = {
        /* invalid: ignored entirely, Cache-Control rules */
        {"CDN-Cache-Control: max-age=10000, &&&&&\nCache-Control: no-store", 0, 0},
        {"CDN-Cache-Control: max-age=\"10000\"\nCache-Control: no-store", 0, 0},
        {"CDN-Cache-Control: max-age=1.5\nCache-Control: max-age=7", 1, 7},
        {"CDN-Cache-Control: max-age=-1\nCache-Control: max-age=7", 1, 7},
        {"CDN-Cache-Control: max-age =100\nCache-Control: max-age=7", 1, 7},
        {"CDN-Cache-Control: max-age= 100\nCache-Control: max-age=7", 1, 7},
        {"CDN-Cache-Control: Max-Age=100\nCache-Control: max-age=7", 1, 7},
        {"Accel-Cache-Control: max-age=\"9\"\nCDN-Cache-Control: max-age=8\n"
         "Cache-Control: max-age=7",
         1, 8},
        /* valid */
        {"CDN-Cache-Control: max-age=100;p=1, x=\"y\", z=(a b)\nCache-Control: no-store", 1, 100},
        {"CDN-Cache-Control: max-age=100\nCDN-Cache-Control: no-store\nCache-Control: max-age=7", 0,
         0},
        {"CDN-Cache-Control: no-store=?0, max-age=100\nCache-Control: no-store", 1, 100},
        {"CDN-Cache-Control: max-age=100, max-age=5\nCache-Control: no-store", 1, 5},
        {"CDN-Cache-Control: max-age=100\nCDN-Cache-Control: &\nCache-Control: max-age=7", 1, 7},
    };
    struct policy_resp out;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        response_of(t[i].resp, &out);
        cr_assert_eq(out.storable, t[i].storable, "%zu (%s): storable %d (%s)", i, t[i].resp,
                     out.storable, out.reason ? out.reason : "-");
        if (t[i].storable)
            cr_assert_eq(out.ttl, t[i].ttl, "%zu (%s): ttl %lld", i, t[i].resp, (long long)out.ttl);
    }
}

Test(policy, refusals_are_an_enum_with_their_names)
{
    cr_assert_str_eq(policy_reason_name(POLICY_PRIVATE), "private");
    cr_assert_str_eq(policy_reason_name(POLICY_TOO_LARGE), "too large");
    cr_assert_str_eq(policy_reason_name(POLICY_STORABLE), "");
    cr_assert(policy_reason_is_request_own(POLICY_REQUEST_NO_STORE));
    cr_assert(policy_reason_is_request_own(POLICY_AUTHORIZATION));
    cr_assert_not(policy_reason_is_request_own(POLICY_PRIVATE));
    cr_assert_not(policy_reason_is_request_own(POLICY_SET_COOKIE));
}
