/* disk.h - the disk tier's storage engine: one LMDB file mapping key strings to opaque blobs
 * (fmt blobs, which this module never looks into), with an insertion order for eviction.
 * Large blobs are split over several records so no single LMDB value is huge.
 *
 * Threads: one writer at a time. disk_put, disk_del, disk_evict and disk_del_prefix write and
 * the caller serializes them (one writer thread). disk_get and disk_stats only read: they may run
 * on any thread, concurrently with each other and with the writer (MDB_NOTLS read transactions).
 * disk_open and disk_close run alone. */
#ifndef ACCEL_DISK_H
#define ACCEL_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "accel/base.h"

/* A blob above this many bytes is stored as chunk records of at most this many bytes (smaller
 * ones in a map below 32 MiB: map/64, at least 16 KiB). */
#define DISK_CHUNK ((size_t)512 * 1024)

struct disk;

struct disk_stats {
    uint64_t entries;  /* blobs stored */
    uint64_t used;     /* bytes of the pages in use by the data (not the file size) */
    uint64_t map_size; /* the budget: the file never grows past it */
};

/* Opens, or creates, the store in the single file <path> (LMDB's lock file is <path>-lock) with
 * a map of <map_size> bytes, which is the disk budget. Takes an exclusive lock on <path>.pid and
 * writes our pid in it. On success returns 0 and a new store in *<out>, owned by the caller
 * (disk_close()). A file that is not a store of our version (garbage, another LMDB, another
 * format version) is renamed to <path>.corrupt-<unix time> and a fresh store is created: that
 * still returns 0, disk_was_reset() answers 1, and <err> holds a line for the caller to log.
 * Errors, with a message in <err> (at most <errlen> bytes, NUL-terminated):
 * -EBUSY another store (this process or another) holds <path>: "<path> is in use by process N";
 * -EACCES, -EROFS, -ENOENT... (a negative errno) the file or its directory cannot be used;
 * -EIO any other LMDB failure. On error *<out> is left untouched. */
int disk_open(const char *path, uint64_t map_size, struct disk **out, char *err, size_t errlen);

/* Returns 1 when disk_open() had to move a bad file aside and start empty, else 0. */
int disk_was_reset(const struct disk *d);

/* Stores the <len> bytes at <blob> under the <klen> bytes of <key> (no NUL in them) in one
 * transaction, replacing any previous value; the entry becomes the newest in eviction order.
 * When the map is full, evicts the oldest entries and retries once. Returns 0, or
 * -EINVAL (empty key or a key holding NUL), -ENAMETOOLONG (key above what LMDB accepts, less
 * the room for the chunk suffix), -ENOSPC (still no room, e.g. a blob larger than the map),
 * -EIO. On error the store is unchanged (bar the eviction). Nothing is kept of <key>, <blob>. */
int disk_put(struct disk *d, const char *key, size_t klen, const void *blob, size_t len);

struct disk_item {
    const char *key;
    size_t klen;
    const void *blob;
    size_t len;
};

/* Stores the <n> <items> like disk_put(), all in one transaction (the writer's batches). When
 * they do not all fit, falls back to disk_put() for each, with its eviction. Returns 0 or the
 * first error. */
int disk_put_many(struct disk *d, const struct disk_item *items, unsigned n);

/* Appends to <out> the blob stored under <key> (<klen> bytes), reassembled from its chunks.
 * Returns 0; -ENOENT when absent; -EBADMSG when the entry is corrupt (a chunk is missing or the
 * lengths do not add up: the caller deletes it with disk_del()); -EIO. On error <out> holds
 * what it held before. */
int disk_get(struct disk *d, const char *key, size_t klen, struct buf *out);

/* Removes the entry under <key> (<klen> bytes): its value, chunks and order record.
 * Returns 0; -ENOENT when absent; -EIO. A corrupt entry is removed too. */
int disk_del(struct disk *d, const char *key, size_t klen);

/* Removes entries oldest first until the bytes in use (pages used by the data times the page
 * size) are at most <target>, or nothing is left. Returns how many entries it removed (0 on an
 * LMDB error, which leaves the store unchanged). */
uint64_t disk_evict(struct disk *d, uint64_t target);

/* Removes every entry whose key starts with the <plen> bytes at <prefix> (plen 0: all of them),
 * in one transaction. Returns how many (0 on an LMDB error, which leaves the store unchanged). */
uint64_t disk_del_prefix(struct disk *d, const char *prefix, size_t plen);

/* Fills *<out> with the entries, the bytes in use and the map size. Returns 0 or -EIO. */
int disk_stats(struct disk *d, struct disk_stats *out);

/* Closes the store in *<dp>, releases <path>.pid (the file stays) and sets *<dp> to NULL.
 * NULL in *<dp> is a no-op. No other call may be running on the store. */
void disk_close(struct disk **dp);

#endif
