/* stats.h - the server's counters and latency histograms (one set per worker, bumped without
 * a lock with relaxed atomics, summed when read), and the cached Date of a loop.
 *
 * One list, STATS_COUNTERS, makes the fields, the JSON of the admin API's /stats and the
 * Prometheus families of /metrics, so a counter is added in one place. */
#ifndef ACCEL_STATS_H
#define ACCEL_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* Counters a worker bumps without a lock; readers sum them across workers. One list makes
 * both the fields and the metrics: X(field, family, labels, type, help); entries of a family
 * are adjacent. "gauge" fields are summed like the others. */
#define STATS_COUNTERS(X)                                                                          \
    X(requests, "requests_total", "", "counter", "client requests received")                       \
    X(responses_2xx, "responses_total", "code=\"2xx\"", "counter", "answers sent, by class")       \
    X(responses_3xx, "responses_total", "code=\"3xx\"", "counter", "")                             \
    X(responses_4xx, "responses_total", "code=\"4xx\"", "counter", "")                             \
    X(responses_5xx, "responses_total", "code=\"5xx\"", "counter", "")                             \
    X(bad_requests, "bad_requests_total", "", "counter", "malformed or refused requests")          \
    X(rate_limited, "rate_limited_total", "", "counter",                                           \
      "requests refused with 429 by rate_limit")                                                   \
    X(tls_handshakes, "tls_handshakes_total", "kind=\"full\"", "counter",                          \
      "TLS handshakes with clients completed, by kind")                                            \
    X(tls_resumed, "tls_handshakes_total", "kind=\"resumed\"", "counter", "")                      \
    X(tls_handshake_errors, "tls_handshake_errors_total", "", "counter",                           \
      "TLS handshakes with clients that failed or timed out")                                      \
    X(tls_ktls, "tls_ktls_total", "", "counter",                                                   \
      "TLS connections with clients whose records the kernel writes (kTLS)")                       \
    X(cache_hits, "cache_hits_total", "", "counter", "answers from a stored object")               \
    X(cache_misses, "cache_misses_total", "", "counter", "requests that fetched a new object")     \
    X(cache_coalesced, "cache_coalesced_total", "", "counter",                                     \
      "requests that waited on another request's fetch")                                           \
    X(cache_passes, "cache_passes_total", "", "counter", "requests sent to the origin uncached")   \
    X(cache_stored, "cache_stored_total", "", "counter", "answers stored")                         \
    X(cache_revalidated, "cache_revalidated_total", "", "counter",                                 \
      "stale objects the origin confirmed (304)")                                                  \
    X(cache_stale, "cache_stale_served_total", "", "counter",                                      \
      "stale objects served for a failing origin")                                                 \
    X(coalesce_overflows, "coalesce_overflows_total", "", "counter",                               \
      "requests past coalesce_max or coalesce_timeout")                                            \
    X(origin_requests, "origin_requests_total", "", "counter", "requests sent to the origin")      \
    X(origin_connects, "origin_connects_total", "", "counter", "new origin connections")           \
    X(origin_retries, "origin_retries_total", "", "counter",                                       \
      "requests retried on a new connection")                                                      \
    X(origin_errors, "origin_errors_total", "kind=\"all\"", "counter", "origin failures, by kind") \
    X(origin_err_connect, "origin_errors_total", "kind=\"connect\"", "counter", "")                \
    X(origin_err_timeout, "origin_errors_total", "kind=\"timeout\"", "counter", "")                \
    X(origin_err_response, "origin_errors_total", "kind=\"response\"", "counter", "")              \
    X(bytes_in, "bytes_in_total", "", "counter", "bytes read from clients")                        \
    X(bytes_out, "bytes_out_total", "", "counter", "bytes written to clients")                     \
    X(connections, "connections_total", "", "counter", "client connections accepted")              \
    X(connections_current, "connections", "", "gauge", "client connections open")

/* Latency histograms: bucket i counts observations <= stats_hist_le[i] seconds (the last one:
 * the rest); sums in microseconds. */
#define STATS_HIST_N 15
extern const double stats_hist_le[STATS_HIST_N - 1];

struct stats_hist {
    atomic_uint_fast64_t b[STATS_HIST_N];
    atomic_uint_fast64_t sum_us, count;
};

void stats_hist_observe(struct stats_hist *h, double seconds);

#define STATS_FIELD(f, fam, lab, type, help) atomic_uint_fast64_t f;
struct stats {
    STATS_COUNTERS(STATS_FIELD)
    struct stats_hist request_time; /* head received to answer done, per request */
    struct stats_hist origin_time;  /* origin request sent to its answer complete */
};
#undef STATS_FIELD

/* Every counter and histogram of some workers, summed. */
struct stats_totals {
#define STATS_TOTAL_FIELD(f, fam, lab, type, help) uint64_t f;
    STATS_COUNTERS(STATS_TOTAL_FIELD)
#undef STATS_TOTAL_FIELD
    uint64_t req_b[STATS_HIST_N], req_sum_us, req_count;
    uint64_t org_b[STATS_HIST_N], org_sum_us, org_count;
};

/* Sums the <n> counter sets <each> into <t> (any thread: the loads are relaxed, so a sum taken
 * while workers run is a consistent-enough snapshot, never a torn value). */
void stats_sum(struct stats *const *each, unsigned n, struct stats_totals *t);

/* The IMF-fixdate of one loop's current second, formatted once a second. */
struct stats_date {
    long sec;
    char text[30];
};

/* The Date for <now> (seconds): <d>'s text, formatted anew when the second changed. The
 * string lives in <d>. */
const char *stats_date(struct stats_date *d, long now);

#endif
