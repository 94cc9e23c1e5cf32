/* t28_rfc9111.c - RFC 9111 / 9110 / 9213 corners, through the real binary with accel's default
 * settings (grace 10s): s-maxage implies proxy-revalidate (no grace, stale-if-error,
 * stale-while-revalidate or max-stale for it); a list-valued Age counts by its first member;
 * CDN-Cache-Control and Accel-Cache-Control count only when they parse as RFC 8941
 * Dictionaries; If-Modified-Since against the Date of a response without Last-Modified; Vary
 * matching that ignores the whitespace and case a field's syntax makes insignificant.
 *
 * Each test checks what the client got and how many requests the origin saw. Staleness comes
 * from answers stale on arrival (an Age beyond their lifetime), never from sleeping. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

TestSuite(rfc9111, .init = e2e_setup, .fini = e2e_teardown, .timeout = 60);

static struct e2e_origin *origin;
static struct e2e_accel *accel;

static void answer_fresh(const struct e2e_req *req, struct e2e_action *act, void *arg)
{
    (void)req;
    (void)arg;
    act->headers = "Cache-Control: max-age=600\r\n";
    act->body = "from origin";
}

/* Stores <path> from the answer with head lines <headers> and body <body> (one origin
 * request). */
static void store(const char *path, const char *headers, const char *body)
{
    struct e2e_action a = {.headers = headers, .body = body};
    struct e2e_resp r;

    e2e_origin_push(origin, &a);
    e2e_get(accel, path, NULL, &r);
    cr_assert_eq(r.status, 200, "GET %s (storing it): status %d", path, r.status);
    cr_assert_str_eq(r.body, body);
    e2e_resp_free(&r);
}

/* ---- s-maxage: proxy-revalidate (RFC 9111 §5.2.2.10) ----------------------------------------- */

Test(rfc9111, s_maxage_is_never_served_stale)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel); /* grace 10s: 4 s stale would be covered */
    store("/plain", "Cache-Control: max-age=1\r\nAge: 5\r\n", "plain");
    store("/s", "Cache-Control: max-age=1, s-maxage=1\r\nAge: 5\r\n", "s");
    store("/sie", "Cache-Control: s-maxage=1, stale-if-error=600\r\nAge: 5\r\n", "sie");
    store("/cdn", "CDN-Cache-Control: s-maxage=1\r\nAge: 5\r\n", "cdn");
    e2e_origin_saw(origin, 4, "storing four answers");

    e2e_origin_set_handler(origin, e2e_answer_500, NULL);
    e2e_get(accel, "/plain", NULL, &r);
    cr_assert_eq(r.status, 200, "max-age, 4 s stale, grace 10s, origin 500: status %d", r.status);
    cr_assert_str_eq(e2e_hdr(&r, "X-Cache"), "STALE", "the control: grace covers it");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 5, "GET /plain, origin 500");
    const char *strict[] = {"/s", "/sie", "/cdn"};
    for (unsigned i = 0; i < 3; i++) {
        e2e_get(accel, strict[i], NULL, &r);
        cr_assert_eq(r.status, 500,
                     "GET %s, s-maxage 4 s stale, origin 500: status %d (X-Cache %s)", strict[i],
                     r.status, e2e_hdr(&r, "X-Cache"));
        cr_assert_str_eq(r.body, "origin error");
        e2e_resp_free(&r);
        e2e_origin_saw(origin, 6 + i, strict[i]);
    }
    /* a client's max-stale does not let it through either */
    e2e_get(accel, "/s", "Cache-Control: max-stale=3600\r\n", &r);
    cr_assert_eq(r.status, 500, "GET /s with max-stale: status %d (X-Cache %s)", r.status,
                 e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 9, "GET /s with max-stale");

    e2e_origin_stop(&origin);
    e2e_get(accel, "/s", NULL, &r);
    cr_assert(r.status == 502 || r.status == 504, "GET /s, origin down: status %d (X-Cache %s)",
              r.status, e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
    e2e_get(accel, "/plain", NULL, &r);
    cr_assert_str_eq(e2e_hdr(&r, "X-Cache"), "STALE", "GET /plain, origin down: grace");
    e2e_resp_free(&r);
}

Test(rfc9111, s_maxage_with_stale_while_revalidate_waits_for_the_origin)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    store("/swr", "Cache-Control: s-maxage=1, stale-while-revalidate=600\r\nAge: 5\r\n", "old");
    e2e_origin_set_handler(origin, answer_fresh, NULL);
    e2e_get(accel, "/swr", NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "from origin", "s-maxage, stale within SWR: body '%s' (X-Cache %s)",
                     r.body, e2e_hdr(&r, "X-Cache"));
    cr_assert_str_neq(e2e_hdr(&r, "X-Cache"), "STALE");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "GET /swr, validated before use");
}

/* ---- Age (RFC 9111 §5.1) --------------------------------------------------------------------- */

Test(rfc9111, age_list_counts_by_its_first_member)
{
    static const struct {
        const char *path, *age;
        int fresh;
    } t[] = {
        {"/suffix", "7200, 0", 0}, {"/prefix", "0, 7200", 1}, {"/float", "7200.0", 1},
        {"/neg", "-7200", 1},      {"/plain", "7200", 0},
    };
    unsigned seen = 0;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_fresh, NULL);
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char headers[128];
        struct e2e_resp r;

        snprintf(headers, sizeof(headers), "Cache-Control: max-age=3600\r\nAge: %s\r\n", t[i].age);
        store(t[i].path, headers, "stored");
        e2e_origin_saw(origin, ++seen, t[i].path);
        e2e_get(accel, t[i].path, NULL, &r);
        seen += t[i].fresh ? 0 : 1;
        e2e_origin_saw(origin, seen, t[i].path);
        cr_assert_str_eq(r.body, t[i].fresh ? "stored" : "from origin",
                         "Age: %s with max-age=3600: body '%s' (X-Cache %s)", t[i].age, r.body,
                         e2e_hdr(&r, "X-Cache"));
        e2e_resp_free(&r);
    }
}

/* ---- targeted fields are Structured Field Dictionaries (RFC 9213 §2.1) ----------------------- */

Test(rfc9111, invalid_targeted_fields_are_ignored)
{
    static const struct {
        const char *path, *headers;
        int cached;
    } t[] = {
        {"/unknown", "CDN-Cache-Control: max-age=10000, &&&&&\r\nCache-Control: no-store\r\n", 0},
        {"/wrong", "CDN-Cache-Control: max-age=\"10000\"\r\nCache-Control: no-store\r\n", 0},
        {"/space", "CDN-Cache-Control: max-age =10000\r\nCache-Control: no-store\r\n", 0},
        {"/valid", "CDN-Cache-Control: max-age=10000;x=1, y=(a b)\r\nCache-Control: no-store\r\n",
         1},
        {"/accel",
         "Accel-Cache-Control: max-age=\"1\", &\r\nCDN-Cache-Control: max-age=10000\r\n"
         "Cache-Control: no-store\r\n",
         1},
        {"/accel-wins", "Accel-Cache-Control: no-store\r\nCDN-Cache-Control: max-age=10000\r\n", 0},
    };
    unsigned seen = 0;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_fresh, NULL);
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct e2e_resp r;

        store(t[i].path, t[i].headers, "stored");
        e2e_origin_saw(origin, ++seen, t[i].path);
        e2e_get(accel, t[i].path, NULL, &r);
        seen += t[i].cached ? 0 : 1;
        e2e_origin_saw(origin, seen, t[i].path);
        cr_assert_str_eq(r.body, t[i].cached ? "stored" : "from origin",
                         "%s: body '%s' (X-Cache %s)", t[i].headers, r.body,
                         e2e_hdr(&r, "X-Cache"));
        e2e_resp_free(&r);
    }
}

/* ---- If-Modified-Since without Last-Modified (RFC 9111 §4.3.2) ------------------------------- */

Test(rfc9111, if_modified_since_against_date)
{
    char date[64], before[64], headers[128], ims[128];
    time_t now = time(NULL);
    struct e2e_resp r;

    e2e_http_date(now - 5, date, sizeof(date));
    e2e_http_date(now - 3600, before, sizeof(before));
    snprintf(headers, sizeof(headers), "Cache-Control: max-age=600\r\nDate: %s\r\n", date);
    e2e_start(NULL, &origin, &accel);
    store("/d", headers, "dated");

    snprintf(ims, sizeof(ims), "If-Modified-Since: %s\r\n", date);
    e2e_get(accel, "/d", ims, &r);
    cr_assert_eq(r.status, 304,
                 "If-Modified-Since = Date, no Last-Modified: status %d (X-Cache %s)", r.status,
                 e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
    snprintf(ims, sizeof(ims), "If-Modified-Since: %s\r\n", before);
    e2e_get(accel, "/d", ims, &r);
    cr_assert_eq(r.status, 200, "If-Modified-Since an hour before Date: status %d", r.status);
    cr_assert_str_eq(r.body, "dated");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "both answered from the cache");
}

/* ---- Vary normalisation ---------------------------------------------------------------------- */

Test(rfc9111, vary_shares_a_variant_between_equivalent_requests)
{
    struct e2e_resp r;

    e2e_start(NULL, &origin, &accel);
    e2e_origin_set_handler(origin, answer_fresh, NULL);
    struct e2e_action a = {
        .headers = "Cache-Control: max-age=600\r\nVary: Accept-Language, Foo\r\n", .body = "en-de"};
    e2e_origin_push(origin, &a);
    e2e_get(accel, "/v", "Accept-Language: en, de\r\nFoo: 1,2\r\n", &r);
    cr_assert_str_eq(r.body, "en-de");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "the first variant");

    e2e_get(accel, "/v", "Accept-Language:  EN ,De\r\nFoo:  1 , 2 \r\n", &r);
    cr_assert_str_eq(r.body, "en-de", "equivalent values: body '%s' (X-Cache %s)", r.body,
                     e2e_hdr(&r, "X-Cache"));
    e2e_resp_free(&r);
    e2e_get(accel, "/v", "Accept-Language: en\r\nAccept-Language: de\r\nFoo: 1\r\nFoo: 2\r\n", &r);
    cr_assert_str_eq(r.body, "en-de", "the same values on two lines each");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 1, "equivalent requests share the variant");

    e2e_get(accel, "/v", "Accept-Language: de, en\r\nFoo: 1,2\r\n", &r);
    cr_assert_str_eq(r.body, "from origin", "another preference order is another variant");
    e2e_resp_free(&r);
    e2e_origin_saw(origin, 2, "a different Accept-Language");
}
