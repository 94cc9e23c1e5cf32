/* policy.c - RFC 9111 as pure functions: Cache-Control parsing, storability, freshness
 * lifetime, age and the use of a stored response. No state, no clock: time is a parameter.
 * Qualified forms (private="f", no-cache="f") are treated as their unqualified, stricter
 * forms: accel does not store responses with some fields removed. */
#include "accel/policy.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "accel/sf.h"

#define DELTA_MAX 2147483648LL /* RFC 9111 §1.2.2: the largest delta-seconds we keep */

void policy_cc_init(struct cc *cc)
{
    cc->flags = 0;
    cc->max_age = cc->s_maxage = cc->max_stale = cc->min_fresh = POLICY_ABSENT;
    cc->swr = cc->sie = POLICY_ABSENT;
}

/* delta-seconds: 1*DIGIT, capped. Returns -1 when <v> is not one. */
static int64_t delta(struct span v)
{
    int64_t x = 0;

    if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') {
        v.p++;
        v.len -= 2;
    }
    if (v.len == 0)
        return -1;
    for (size_t i = 0; i < v.len; i++) {
        if (!isdigit((unsigned char)v.p[i]))
            return -1;
        if (x < DELTA_MAX)
            x = x * 10 + (v.p[i] - '0');
    }
    return x > DELTA_MAX ? DELTA_MAX : x;
}

static int name_is(struct span n, const char *lit)
{
    return span_eq_ci(n, lit);
}

static void directive(struct span name, struct span val, int has_val, struct cc *cc)
{
    int64_t d = has_val ? delta(val) : -1;

    cc->flags |= CC_PRESENT;
    if (name_is(name, "no-store"))
        cc->flags |= CC_NO_STORE;
    else if (name_is(name, "no-cache"))
        cc->flags |= CC_NO_CACHE;
    else if (name_is(name, "private"))
        cc->flags |= CC_PRIVATE;
    else if (name_is(name, "public"))
        cc->flags |= CC_PUBLIC;
    else if (name_is(name, "must-revalidate"))
        cc->flags |= CC_MUST_REVALIDATE;
    else if (name_is(name, "proxy-revalidate"))
        cc->flags |= CC_PROXY_REVALIDATE;
    else if (name_is(name, "only-if-cached"))
        cc->flags |= CC_ONLY_IF_CACHED;
    else if (name_is(name, "immutable"))
        cc->flags |= CC_IMMUTABLE;
    else if (name_is(name, "no-transform"))
        cc->flags |= CC_NO_TRANSFORM;
    else if (name_is(name, "max-age"))
        cc->max_age = d >= 0 ? d : 0; /* invalid max-age: stale (RFC 9111 §4.2.1) */
    else if (name_is(name, "s-maxage"))
        cc->s_maxage = d >= 0 ? d : 0;
    else if (name_is(name, "max-stale")) {
        if (!has_val)
            cc->flags |= CC_MAX_STALE_ANY;
        else if (d >= 0)
            cc->max_stale = d;
    } else if (name_is(name, "min-fresh"))
        cc->min_fresh = d >= 0 ? d : POLICY_ABSENT;
    else if (name_is(name, "stale-while-revalidate"))
        cc->swr = d >= 0 ? d : POLICY_ABSENT;
    else if (name_is(name, "stale-if-error"))
        cc->sie = d >= 0 ? d : POLICY_ABSENT;
}

void policy_cc_parse(struct span v, struct cc *cc)
{
    size_t i = 0;

    while (i < v.len) {
        size_t ns, ne, vs = 0, ve = 0;
        int has_val = 0;

        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        ns = i;
        while (i < v.len && v.p[i] != '=' && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t')
            i++;
        ne = i;
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
            i++;
        if (i < v.len && v.p[i] == '=') {
            i++;
            while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
                i++;
            vs = i;
            if (i < v.len && v.p[i] == '"') {
                /* quoted-string: skip to the closing quote, honouring backslashes */
                for (i++; i < v.len && v.p[i] != '"'; i++)
                    if (v.p[i] == '\\')
                        i++;
                if (i < v.len)
                    i++;
            } else {
                while (i < v.len && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t')
                    i++;
            }
            ve = i > v.len ? v.len : i;
            has_val = 1;
        }
        if (ne > ns)
            directive(span_of(v.p + ns, ne - ns), span_of(v.p + vs, ve - vs), has_val, cc);
        while (i < v.len && v.p[i] != ',')
            i++;
    }
}

static int month_of(const char *p)
{
    static const char *const m = "JanFebMarAprMayJunJulAugSepOctNovDec";

    for (int i = 0; i < 12; i++)
        if (strncmp(p, m + 3 * i, 3) == 0)
            return i;
    return -1;
}

/* Reads <n> digits at *<p> (within <end>) into *<out>. */
static int digits(const char **p, const char *end, int n, int *out)
{
    int x = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (*p >= end || !isdigit((unsigned char)**p))
            return -1;
        x = x * 10 + (**p - '0');
    }
    *out = x;
    return 0;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return -1;
    (*p)++;
    return 0;
}

static int hms(const char **p, const char *end, struct tm *tm)
{
    if (digits(p, end, 2, &tm->tm_hour) || expect(p, end, ':') || digits(p, end, 2, &tm->tm_min) ||
        expect(p, end, ':') || digits(p, end, 2, &tm->tm_sec))
        return -1;
    return 0;
}

int64_t policy_parse_date(struct span s)
{
    struct tm tm;
    const char *p, *end;
    char mon[4] = {0};

    s = span_trim(s);
    p = s.p;
    end = s.p + s.len;
    memset(&tm, 0, sizeof(tm));
    /* skip the day name */
    while (p < end && isalpha((unsigned char)*p))
        p++;
    if (p < end && *p == ',') {
        p++;
        if (expect(&p, end, ' '))
            return -1;
        if (digits(&p, end, 2, &tm.tm_mday))
            return -1;
        if (p < end && *p == ' ') {
            /* IMF-fixdate: 06 Nov 1994 08:49:37 GMT */
            p++;
            if (end - p < 3)
                return -1;
            memcpy(mon, p, 3);
            p += 3;
            if (expect(&p, end, ' ') || digits(&p, end, 4, &tm.tm_year))
                return -1;
        } else {
            /* RFC 850: 06-Nov-94 08:49:37 GMT */
            int yy;
            if (expect(&p, end, '-') || end - p < 3)
                return -1;
            memcpy(mon, p, 3);
            p += 3;
            if (expect(&p, end, '-') || digits(&p, end, 2, &yy))
                return -1;
            tm.tm_year = yy < 70 ? 2000 + yy : 1900 + yy;
        }
        if (expect(&p, end, ' ') || hms(&p, end, &tm) || expect(&p, end, ' ') || end - p != 3 ||
            strncmp(p, "GMT", 3) != 0)
            return -1;
    } else {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        if (expect(&p, end, ' ') || end - p < 3)
            return -1;
        memcpy(mon, p, 3);
        p += 3;
        if (expect(&p, end, ' '))
            return -1;
        if (p < end && *p == ' ') {
            p++;
            if (digits(&p, end, 1, &tm.tm_mday))
                return -1;
        } else if (digits(&p, end, 2, &tm.tm_mday)) {
            return -1;
        }
        if (expect(&p, end, ' ') || hms(&p, end, &tm) || expect(&p, end, ' ') ||
            digits(&p, end, 4, &tm.tm_year) || p != end)
            return -1;
    }
    tm.tm_mon = month_of(mon);
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    return (int64_t)timegm(&tm);
}

static const struct field *find(const struct field *f, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (span_eq_ci(f[i].name, name))
            return &f[i];
    return NULL;
}

/* One member of a targeted field (RFC 9213 §2.1): delta-seconds must be Integers (anything else
 * makes the field invalid); flags count unless they are Boolean false; parameters and unknown
 * directives are ignored. */
static int targeted_member(struct span key, const struct sf_item *v, void *arg)
{
    static const struct {
        const char *name;
        unsigned flag;
    } flags[] = {
        {"no-store", CC_NO_STORE},
        {"no-cache", CC_NO_CACHE}, /* a field list (no-cache="f") is the stricter unqualified */
        {"private", CC_PRIVATE},
        {"public", CC_PUBLIC},
        {"must-revalidate", CC_MUST_REVALIDATE},
        {"proxy-revalidate", CC_PROXY_REVALIDATE},
        {"immutable", CC_IMMUTABLE},
        {"no-transform", CC_NO_TRANSFORM},
    };
    struct cc *cc = arg;
    int64_t *d = NULL;

    cc->flags |= CC_PRESENT;
    for (size_t i = 0; i < countof(flags); i++) {
        if (!span_eq_ci(key, flags[i].name))
            continue;
        if (v->type == SF_BOOLEAN && v->num == 0)
            cc->flags &= ~flags[i].flag; /* the later value of a key wins */
        else
            cc->flags |= flags[i].flag;
        return 0;
    }
    if (span_eq_ci(key, "max-age"))
        d = &cc->max_age;
    else if (span_eq_ci(key, "s-maxage"))
        d = &cc->s_maxage;
    else if (span_eq_ci(key, "stale-while-revalidate"))
        d = &cc->swr;
    else if (span_eq_ci(key, "stale-if-error"))
        d = &cc->sie;
    if (d == NULL)
        return 0;
    if (v->type != SF_INTEGER || v->num < 0)
        return -EINVAL;
    *d = v->num > DELTA_MAX ? DELTA_MAX : v->num;
    return 0;
}

/* All the lines of targeted field <name> as one Dictionary into *<cc>. Returns 1 when the field
 * is present and valid, 0 when absent or invalid (*<cc> then unchanged). */
static int targeted_cc(const struct field *f, unsigned n, const char *name, struct cc *cc)
{
    struct cc t;
    int found = 0;

    policy_cc_init(&t);
    for (unsigned i = 0; i < n; i++) {
        if (!span_eq_ci(f[i].name, name))
            continue;
        /* Line by line is the joined value: a member cannot span a comma between lines. */
        if (sf_dict_parse(f[i].value, targeted_member, &t) != 0)
            return 0;
        found = 1;
    }
    if (found)
        *cc = t;
    return found;
}

void policy_response_cc(const struct field *f, unsigned n, struct cc *cc, int *targeted)
{
    static const char *const order[] = {"accel-cache-control", "cdn-cache-control"};

    policy_cc_init(cc);
    *targeted = 0;
    for (size_t k = 0; k < countof(order); k++) {
        if (targeted_cc(f, n, order[k], cc)) {
            *targeted = 1;
            return;
        }
    }
    for (unsigned i = 0; i < n; i++)
        if (span_eq_ci(f[i].name, "cache-control"))
            policy_cc_parse(f[i].value, cc);
}

int policy_status_heuristic(unsigned status)
{
    switch (status) {
    case 200:
    case 203:
    case 204:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
        return 1;
    default:
        return 0;
    }
}

/* Statuses accel stores at all (given explicit freshness for the non-heuristic ones). */
static int status_storable(unsigned status)
{
    if (status < 200 || status == 206 || status == 304)
        return 0;
    return status <= 599;
}

static int has_vary_star(const struct field *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct span v;
        if (!span_eq_ci(f[i].name, "vary"))
            continue;
        v = f[i].value;
        for (size_t j = 0; j < v.len; j++)
            if (v.p[j] == '*')
                return 1;
    }
    return 0;
}

/* RFC 9111 §5.1: the first member of a list-valued Age; a value that is not a non-negative
 * integer (after that) is ignored, as if there were no Age. */
static int64_t age_value(struct span v)
{
    const char *comma = memchr(v.p, ',', v.len);
    int64_t x = 0;

    if (comma != NULL)
        v.len = (size_t)(comma - v.p);
    v = span_trim(v);
    if (v.len == 0)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        if (!isdigit((unsigned char)v.p[i]))
            return 0;
        if (x < DELTA_MAX)
            x = x * 10 + (v.p[i] - '0');
    }
    return x > DELTA_MAX ? DELTA_MAX : x;
}

static const char *const reason_names[] = {"",
                                           "method",
                                           "status",
                                           "request no-store",
                                           "no-store",
                                           "private",
                                           "authorization",
                                           "set-cookie",
                                           "vary-star",
                                           "no freshness",
                                           "status without freshness",
                                           "no-cache without validator",
                                           "too large"};

const char *policy_reason_name(enum policy_reason why)
{
    return (unsigned)why < sizeof(reason_names) / sizeof(reason_names[0]) ? reason_names[why] : "?";
}

int policy_reason_is_request_own(enum policy_reason why)
{
    return why == POLICY_REQUEST_NO_STORE || why == POLICY_AUTHORIZATION;
}

static void refuse(struct policy_resp *out, enum policy_reason why)
{
    out->storable = 0;
    out->why = why;
    out->reason = policy_reason_name(why);
    out->ttl = 0;
}

void policy_response(const struct policy_conf *pc, const char *method, const struct cc *rcc,
                     int has_auth, unsigned status, const struct field *f, unsigned n, int64_t now,
                     struct policy_resp *out)
{
    struct cc cc;
    int targeted;
    const struct field *date = find(f, n, "date"), *age = find(f, n, "age");
    const struct field *exp = find(f, n, "expires"), *lm = find(f, n, "last-modified");
    int64_t d = -1, e;

    memset(out, 0, sizeof(*out));
    policy_response_cc(f, n, &cc, &targeted);
    out->cc_flags = cc.flags;
    if (date != NULL)
        d = policy_parse_date(date->value);
    out->date = d >= 0 ? d : now;
    if (age != NULL)
        out->age = age_value(age->value);
    out->swr = cc.swr > 0 ? cc.swr : 0;
    out->sie = cc.sie > 0 ? cc.sie : 0;
    out->vary_star = has_vary_star(f, n);
    if (cc.s_maxage >= 0)
        out->cc_flags |= CC_PROXY_REVALIDATE; /* RFC 9111 §5.2.2.10: s-maxage implies it */
    if (out->cc_flags & (CC_MUST_REVALIDATE | CC_PROXY_REVALIDATE))
        out->swr = out->sie = 0; /* RFC 9111 §5.2.2.2, §5.2.2.8: never served stale */

    if (strcmp(method, "GET") != 0)
        return refuse(out, POLICY_METHOD);
    if (!status_storable(status))
        return refuse(out, POLICY_STATUS);
    if (rcc->flags & CC_NO_STORE)
        return refuse(out, POLICY_REQUEST_NO_STORE);
    if (cc.flags & CC_NO_STORE)
        return refuse(out, POLICY_NO_STORE);
    if (cc.flags & CC_PRIVATE)
        return refuse(out, POLICY_PRIVATE);
    if (has_auth && !(cc.flags & (CC_PUBLIC | CC_MUST_REVALIDATE)) && cc.s_maxage < 0)
        return refuse(out, POLICY_AUTHORIZATION);
    if (!pc->cache_set_cookie && find(f, n, "set-cookie") != NULL)
        return refuse(out, POLICY_SET_COOKIE);
    if (out->vary_star)
        return refuse(out, POLICY_VARY_STAR);

    /* Freshness lifetime, RFC 9111 §4.2.1 */
    if (cc.s_maxage >= 0) {
        out->ttl = cc.s_maxage;
    } else if (cc.max_age >= 0) {
        out->ttl = cc.max_age;
    } else if (exp != NULL) {
        e = policy_parse_date(exp->value);
        out->ttl = (e >= 0 && e > out->date) ? e - out->date : 0; /* invalid Expires: stale */
    } else if (policy_status_heuristic(status) || (cc.flags & CC_PUBLIC)) {
        int64_t l = lm != NULL ? policy_parse_date(lm->value) : -1;

        if (l >= 0 && l < out->date) {
            out->ttl = (out->date - l) * (int64_t)pc->heuristic_pct / 100;
            if (out->ttl > pc->heuristic_max)
                out->ttl = pc->heuristic_max;
        } else if (pc->default_ttl > 0) {
            out->ttl = pc->default_ttl;
        } else if (!(cc.flags & CC_NO_CACHE)) {
            return refuse(out, POLICY_NO_FRESHNESS);
        }
    } else if (!(cc.flags & CC_NO_CACHE)) {
        return refuse(out, POLICY_STATUS_NO_FRESHNESS);
    }
    if (cc.flags & CC_NO_CACHE) {
        /* Stored, but every use needs validation: worth it only with a validator. */
        if (find(f, n, "etag") == NULL && lm == NULL)
            return refuse(out, POLICY_NO_CACHE_NO_VALIDATOR);
        out->ttl = 0;
    }
    out->storable = 1;
    out->why = POLICY_STORABLE;
    out->reason = NULL;
}

int64_t policy_current_age(int64_t date, int64_t age_value, int64_t req_time, int64_t resp_time,
                           int64_t now)
{
    int64_t apparent = resp_time - date > 0 ? resp_time - date : 0;
    int64_t delay = resp_time - req_time > 0 ? resp_time - req_time : 0;
    int64_t corrected = age_value + delay;
    int64_t initial = apparent > corrected ? apparent : corrected;
    int64_t resident = now - resp_time > 0 ? now - resp_time : 0;

    return initial + resident;
}

enum policy_use policy_use(int64_t ttl, int64_t age, int64_t swr, unsigned rflags,
                           const struct cc *rcc, int ignore_req_no_cache)
{
    int64_t fresh_left = ttl - age;
    int fresh = fresh_left > 0;

    if (rflags & CC_NO_CACHE)
        return POLICY_REVALIDATE;
    if ((rcc->flags & CC_NO_CACHE) && !ignore_req_no_cache)
        return POLICY_REVALIDATE;
    /* max-age=0 is how browsers ask for a reload: treated like no-cache */
    if (rcc->max_age == 0 && !ignore_req_no_cache)
        return POLICY_REVALIDATE;
    if (rcc->max_age > 0 && age > rcc->max_age)
        fresh = 0;
    if (rcc->min_fresh >= 0 && fresh_left < rcc->min_fresh)
        fresh = 0;
    if (fresh)
        return POLICY_FRESH;
    if (rflags & (CC_MUST_REVALIDATE | CC_PROXY_REVALIDATE))
        return POLICY_REVALIDATE;
    if ((rcc->flags & CC_MAX_STALE_ANY) || (rcc->max_stale >= 0 && -fresh_left <= rcc->max_stale))
        return POLICY_STALE_OK;
    if (swr > 0 && -fresh_left <= swr)
        return POLICY_STALE_SWR;
    return POLICY_REVALIDATE;
}
