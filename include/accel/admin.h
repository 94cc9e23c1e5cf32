/* admin.h - the admin API: its own listener, thread and loop, so that purges, scrapes and health
 * checks are answered while the workers are saturated.
 *
 * Endpoints (JSON unless said otherwise; every one but /health wants "Authorization: Bearer
 * <token>", compared in constant time; a missing or wrong token is a 401, logged):
 *   GET  /health                  liveness, and whether the origin accepts a connection
 *   POST /purge?url=U             every variant and encoding of one URL, both tiers
 *   POST /purge?prefix=P          every URL starting with P (scheme and host included)
 *   POST /purge?tag=T             every object whose Surrogate-Key or Cache-Tag names T
 *   POST /purge?regex=R           every URL a POSIX extended regular expression matches
 *   POST /purge?all=1             everything
 *        add &soft=1 to mark stale instead of removing (revalidation, grace still work)
 *   GET  /inspect?url=U           what is stored for a URL, in which tier
 *   GET  /stats                   counters, cache figures and latency summaries
 *   GET  /metrics                 the same in Prometheus text format
 * A purge has taken effect in both tiers when its answer is sent. Its answer counts what left
 * memory and (waiting up to 5 s for the disk writer) the disk: {"purged": total, "memory": n,
 * "disk": n or null}. The connection closes after each answer. */
#ifndef ACCEL_ADMIN_H
#define ACCEL_ADMIN_H

#include <stddef.h>

struct admin;
struct cache;
struct conf;
struct worker;

/* Binds c->admin_listen and starts the admin thread, which reads <cache> (may be NULL) and the
 * counters of the <n> workers <ws>. Returns 0 and the admin in *<out>, or a negative errno with
 * a message in <err>. */
int admin_start(const struct conf *c, struct cache *cache, struct worker **ws, unsigned n,
                struct admin **out, char *err, size_t errlen);

/* Stops the admin thread, closes its connections and frees it; NULL is fine. Call before the
 * workers and the cache go away. */
void admin_stop(struct admin **ap);

/* Constant-time comparison of <a> (<alen> bytes) with <b> (<blen> bytes): 1 when equal. The
 * time depends on <blen> only. */
int admin_token_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
