/* key.h - cache keys: the normalized URL "http://host[:port]/path?query" (host lowercased,
 * default port dropped), hashed with XXH3 and a per-process random seed so that a client
 * cannot choose keys that all land in one bucket. */
#ifndef ACCEL_KEY_H
#define ACCEL_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "accel/base.h"

struct key {
    const char *p; /* points into the buffer given to key_build */
    size_t len;
    uint64_t hash;
};

/* Picks the random seed (getrandom). Call once before any key_hash; idempotent. */
void key_init(void);

/* XXH3 of the <len> bytes at <p> with the process seed. */
uint64_t key_hash(const char *p, size_t len);

/* XXH3 of the <len> bytes at <p> without a seed: the same in every process (names on disk). */
uint64_t key_hash_stable(const void *p, size_t len);

/* Appends the key for <scheme> ("http"), <host> (as sent: may hold a port, may be [IPv6]) and
 * <path> (origin-form path?query) to <b> and fills *<k> (k->p points into b, valid until b
 * changes). Returns 0, or -EINVAL when the host is empty. */
int key_build(struct buf *b, const char *scheme, struct span host, struct span path, struct key *k);

#endif
