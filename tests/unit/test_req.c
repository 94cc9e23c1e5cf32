/* test_req.c - the one writer of X-Cache and Cache-Status (RFC 9211). */
#include <criterion/criterion.h>
#include <string.h>

#include "accel/req.h"

static void expect(struct req_cache_status s, const char *want)
{
    char buf[160];
    size_t n = req_write_cache_status(&s, buf, sizeof(buf));

    cr_assert_str_eq(buf, want);
    cr_assert_eq(n, strlen(want));
}

Test(req, cache_status_of_each_verdict)
{
    expect((struct req_cache_status){.verdict = REQ_HIT, .has_ttl = 1, .ttl = 593},
           "X-Cache: HIT\r\nCache-Status: accel; hit; ttl=593\r\n");
    expect(
        (struct req_cache_status){
            .verdict = REQ_HIT, .has_ttl = 1, .ttl = -3, .detail = "collapsed"},
        "X-Cache: HIT\r\nCache-Status: accel; hit; ttl=-3; detail=collapsed\r\n");
    expect(
        (struct req_cache_status){
            .verdict = REQ_MISS, .fwd = REQ_FWD_MISS, .stored = 1, .has_ttl = 1, .ttl = 600},
        "X-Cache: MISS\r\nCache-Status: accel; fwd=miss; stored; ttl=600\r\n");
    expect(
        (struct req_cache_status){
            .verdict = REQ_PASS, .fwd = REQ_FWD_URI_MISS, .detail = "private", .quoted = 1},
        "X-Cache: PASS\r\nCache-Status: accel; fwd=uri-miss; detail=\"private\"\r\n");
    expect((struct req_cache_status){.verdict = REQ_REVALIDATED,
                                     .fwd = REQ_FWD_STALE,
                                     .fwd_status = 304,
                                     .has_ttl = 1,
                                     .ttl = 0},
           "X-Cache: REVALIDATED\r\nCache-Status: accel; fwd=stale; fwd-status=304; ttl=0\r\n");
    expect((struct req_cache_status){.verdict = REQ_PASS, .fwd = REQ_FWD_METHOD},
           "X-Cache: PASS\r\nCache-Status: accel; fwd=method\r\n");
    expect((struct req_cache_status){0}, "");
    cr_assert_str_eq(req_verdict_name(REQ_STALE), "STALE");
    cr_assert_str_eq(req_verdict_name(REQ_NONE), "-");
}

Test(req, cache_status_is_cut_to_the_buffer)
{
    struct req_cache_status s = {.verdict = REQ_HIT, .has_ttl = 1, .ttl = 12345};
    char buf[20];
    size_t n = req_write_cache_status(&s, buf, sizeof(buf));

    cr_assert_eq(n, sizeof(buf) - 1);
    cr_assert_eq(buf[n], '\0');
}
