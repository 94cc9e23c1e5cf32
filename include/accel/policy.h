/* policy.h - the rules of RFC 9111 (and RFC 9213 targeted Cache-Control) as pure functions:
 * parse Cache-Control, decide whether a response may be stored, compute its freshness lifetime
 * and its current age, decide whether a stored response may answer a request.
 *
 * Time is passed in (seconds since the epoch); nothing here reads a clock, so every rule is
 * testable without sleeping. Header fields come as struct field arrays from the caller. */
#ifndef ACCEL_POLICY_H
#define ACCEL_POLICY_H

#include <stdint.h>

#include "accel/base.h"

#define POLICY_ABSENT (-1) /* a delta-seconds directive that was not given */

#define CC_NO_STORE         0x0001u
#define CC_NO_CACHE         0x0002u /* unqualified no-cache */
#define CC_PRIVATE          0x0004u /* unqualified private */
#define CC_PUBLIC           0x0008u
#define CC_MUST_REVALIDATE  0x0010u
#define CC_PROXY_REVALIDATE 0x0020u
#define CC_ONLY_IF_CACHED   0x0040u
#define CC_MAX_STALE_ANY    0x0080u /* max-stale without a value */
#define CC_IMMUTABLE        0x0100u
#define CC_NO_TRANSFORM     0x0200u
#define CC_PRESENT          0x8000u /* at least one directive was seen */

struct cc {
    unsigned flags;
    int64_t max_age, s_maxage, max_stale, min_fresh;
    int64_t swr, sie; /* stale-while-revalidate, stale-if-error */
};

/* Sets every delta to POLICY_ABSENT and the flags to 0. */
void policy_cc_init(struct cc *cc);

/* Adds the directives of one Cache-Control field value to <cc> (several fields accumulate).
 * Unknown directives are ignored; a malformed delta-seconds makes the directive count as
 * absent, except max-age, which then counts as 0 (stale), as RFC 9111 §4.2.1 advises. */
void policy_cc_parse(struct span value, struct cc *cc);

/* Parses an HTTP date (IMF-fixdate, RFC 850 or asctime). Returns seconds since the epoch, or
 * -1 when it is not a date. */
int64_t policy_parse_date(struct span s);

/* The Cache-Control a cache should obey in a response: Accel-Cache-Control, else
 * CDN-Cache-Control (RFC 9213: the first valid targeted field present wins, entirely), else
 * Cache-Control. A targeted field is an RFC 8941 Dictionary: one that does not parse as one, or
 * whose delta-seconds directive is not a non-negative Integer, is ignored. Sets *<targeted>
 * when a targeted field was used. */
void policy_response_cc(const struct field *f, unsigned n, struct cc *cc, int *targeted);

struct policy_conf {
    int64_t default_ttl;      /* seconds for responses that say nothing (0: do not store) */
    int64_t heuristic_max;    /* cap of heuristic freshness, seconds */
    unsigned heuristic_pct;   /* percent of Date - Last-Modified */
    int cache_set_cookie;     /* store responses carrying Set-Cookie */
    int64_t hit_for_miss_ttl; /* how long an uncacheable answer marks its key */
};

/* Why a response is not stored (policy_resp.why); policy_reason_name() spells it for
 * Cache-Status and logs. */
enum policy_reason {
    POLICY_STORABLE = 0,
    POLICY_METHOD,                /* method */
    POLICY_STATUS,                /* status */
    POLICY_REQUEST_NO_STORE,      /* request no-store */
    POLICY_NO_STORE,              /* no-store */
    POLICY_PRIVATE,               /* private */
    POLICY_AUTHORIZATION,         /* authorization */
    POLICY_SET_COOKIE,            /* set-cookie */
    POLICY_VARY_STAR,             /* vary-star */
    POLICY_NO_FRESHNESS,          /* no freshness */
    POLICY_STATUS_NO_FRESHNESS,   /* status without freshness */
    POLICY_NO_CACHE_NO_VALIDATOR, /* no-cache without validator */
    POLICY_TOO_LARGE,             /* too large */
};

/* The text of <why> ("private", "too large"...); "" for POLICY_STORABLE. */
const char *policy_reason_name(enum policy_reason why);

/* 1 when <why> is about this request alone (its no-store, its credentials), not the URL: such
 * a refusal says nothing of the next request, so it marks no hit-for-miss. */
int policy_reason_is_request_own(enum policy_reason why);

/* What a response allows, computed once when its head arrives. */
struct policy_resp {
    int storable;           /* may be stored at all */
    enum policy_reason why; /* why not */
    const char *reason;     /* the same, spelled: policy_reason_name(why) */
    int64_t ttl;            /* freshness lifetime, seconds */
    int64_t date;           /* Date, or the response time when absent/invalid */
    int64_t age;            /* Age field (its first member), 0 when absent or invalid */
    int64_t swr, sie;       /* stale windows from the response, 0 when absent */
    unsigned cc_flags; /* of the controlling Cache-Control; s-maxage adds CC_PROXY_REVALIDATE */
    int vary_star;     /* Vary: * */
};

/* Decides storability and freshness of a response (RFC 9111 §3, §4.2.1, §4.2.2) to a request
 * with method <method> ("GET"...), request Cache-Control <rcc> and <has_auth> (Authorization
 * present). <now> is the response time. */
void policy_response(const struct policy_conf *pc, const char *method, const struct cc *rcc,
                     int has_auth, unsigned status, const struct field *f, unsigned n, int64_t now,
                     struct policy_resp *out);

/* RFC 9111 §4.2.3: the current age of a stored response with Date <date>, Age field
 * <age_value>, request time <req_time>, response time <resp_time>, at <now>. */
int64_t policy_current_age(int64_t date, int64_t age_value, int64_t req_time, int64_t resp_time,
                           int64_t now);

enum policy_use {
    POLICY_FRESH = 0,  /* serve it */
    POLICY_STALE_OK,   /* stale, but the request accepts it (max-stale): serve it */
    POLICY_STALE_SWR,  /* stale within stale-while-revalidate: serve, refresh in background */
    POLICY_REVALIDATE, /* must be validated with the origin first */
};

/* May a stored response with lifetime <ttl>, current age <age>, stale-while-revalidate <swr>
 * and response flags <rflags> answer a request whose Cache-Control is <rcc>?
 * <ignore_req_no_cache> honours the configuration switch. */
enum policy_use policy_use(int64_t ttl, int64_t age, int64_t swr, unsigned rflags,
                           const struct cc *rcc, int ignore_req_no_cache);

/* 1 if the status is cacheable by default (heuristically cacheable, RFC 9110 §15.1). */
int policy_status_heuristic(unsigned status);

#endif
