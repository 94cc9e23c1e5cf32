/* disk.h - the disk tier's storage engine: one LMDB file mapping key strings to opaque blobs
 * (fmt blobs, which this module never looks into), with an insertion order for eviction, an
 * optional expiry time per entry, and tags (any number of names per entry, to delete by).
 * Large blobs are split over several records so no single LMDB value is huge.
 *
 * Threads: one writer at a time. disk_put*, disk_del*, disk_evict and disk_expire write and the
 * caller serializes them (one writer thread). disk_get, disk_get_family and disk_stats only read:
 * they may run on any thread, concurrently with each other and with the writer (MDB_NOTLS read
 * transactions, reset and renewed from a pool). disk_open and disk_close run alone; disk_open
 * forks to check an existing file, so it runs before the process starts its threads. */
#ifndef ACCEL_DISK_H
#define ACCEL_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "accel/base.h"

/* A blob above this many bytes is stored as chunk records of at most this many bytes (smaller
 * ones in a map below 32 MiB: map/64, at least 16 KiB). */
#define DISK_CHUNK ((size_t)512 * 1024)

/* A tag list ("tag\0tag\0...") takes at most this many bytes, each tag at most DISK_TAG_MAX. */
#define DISK_TAGS_MAX 4096u
#define DISK_TAG_MAX  256u

struct disk;

struct disk_stats {
    uint64_t entries;        /* blobs stored */
    uint64_t used;           /* bytes of the pages in use by the data (not the file size) */
    uint64_t map_size;       /* the budget: the data never grows past it */
    uint64_t tag_records;    /* (tag, key) pairs indexed */
    uint64_t expiry_records; /* entries with an expiry time */
};

/* Opens, or creates, the store in the single file <path> (LMDB's lock file is <path>-lock) with
 * a map of <map_size> bytes, which is the disk budget (a file made with a larger budget keeps
 * its size, LMDB files never shrink, but its data is kept within the new budget). Checks that
 * the directory of <path> can be used (disk_check_dir()), takes an exclusive lock on <path>.pid
 * and writes our pid in it. An existing file is checked first (disk_check()): a file that is
 * damaged, is not a store of our version (garbage, another LMDB, another format version) or
 * fails to open for any other reason is renamed to <path>.damaged and its lock file to
 * <path>-lock.damaged (each replacing an older one) and a fresh store is created: that still
 * returns 0, disk_was_reset() answers 1, and <err> holds a line for the caller to log (the file,
 * what was wrong, where it went). On success returns 0 and a new store in *<out>, owned by the
 * caller (disk_close()). Errors, with a message in <err> (at most <errlen> bytes,
 * NUL-terminated): -EBUSY another store (this process or another) holds <path>: "<path> is in
 * use by process N"; -ENOENT, -ENOTDIR, -EACCES, -EROFS... (a negative errno) the directory
 * (named in the message) or the new file cannot be used; -EAGAIN, -ENOMEM the check could not
 * run; -EIO any other LMDB failure. On error *<out> is left untouched. */
int disk_open(const char *path, uint64_t map_size, struct disk **out, char *err, size_t errlen);

/* Checks the existing store file <path> without trusting it: a forked child opens it read-only
 * with a map of <map_size> bytes (no lock file) and walks every database, checking that every
 * record LMDB hands out lies in a sane page inside the file, that no page is reached twice and
 * that the record counts match (a structure walk: the blobs are checksummed when read). The
 * caller waits at most <ms> milliseconds. Call it before any thread is started, with nothing
 * else using the file. Returns 0 when the file passed; -EBADMSG when it is damaged (the child
 * reported an error, died of a signal or missed the deadline), with "<path>: <what>" in <err>;
 * -ENOENT when there is no file; another negative errno (-EAGAIN, -ENOMEM...) when the check
 * could not run, with a message in <err>. */
int disk_check(const char *path, uint64_t map_size, unsigned ms, char *err, size_t errlen);

/* Checks that the directory that holds, or will hold, <path> (the store, its lock and pid files)
 * exists, is a directory and that we may create files in it. Returns 0, or a negative errno
 * (-ENOENT, -ENOTDIR, -EACCES, -EROFS, -ENAMETOOLONG) with "directory <dir>: <why>" or "<dir>
 * is not a directory" in <err> (<errlen> bytes). */
int disk_check_dir(const char *path, char *err, size_t errlen);

/* Returns 1 when disk_open() had to move a bad file aside and start empty, else 0. */
int disk_was_reset(const struct disk *d);

struct disk_item {
    const char *key; /* <klen> bytes, no NUL */
    size_t klen;
    const void *blob;
    size_t len;
    const char *tags; /* "tag\0tag\0..." (<tags_len> bytes, ending with a NUL), or NULL, 0 */
    size_t tags_len;
    int64_t expires; /* when disk_expire() may remove the entry (seconds); 0: never */
};

/* Stores item <it> in one transaction, replacing any previous value of its key (and its tags
 * and expiry time); the entry becomes the newest in eviction order. When the budget is full,
 * evicts the oldest entries and retries once. Returns 0, or
 * -EINVAL (empty key, a key holding NUL, a malformed tag list, a tag above DISK_TAG_MAX),
 * -ENAMETOOLONG (key above what LMDB accepts, less the room for the chunk suffix),
 * -EFBIG (still no room in the budget, e.g. a blob larger than it),
 * -ENOSPC (the file system holding the file is full), -EIO. On error the store is unchanged
 * (bar the eviction). Nothing is kept of the item's pointers. */
int disk_put_item(struct disk *d, const struct disk_item *it);

/* disk_put_item() of <key>, <blob>, without tags or expiry time. */
int disk_put(struct disk *d, const char *key, size_t klen, const void *blob, size_t len);

/* Stores the <n> <items> like disk_put_item(), all in one transaction (the writer's batches).
 * When they do not all fit, falls back to disk_put_item() for each, with its eviction. Returns
 * 0 or the first error. */
int disk_put_many(struct disk *d, const struct disk_item *items, unsigned n);

/* Appends to <out> the blob stored under <key> (<klen> bytes), reassembled from its chunks.
 * Returns 0; -ENOENT when absent; -EBADMSG when the entry is corrupt (a chunk is missing or the
 * lengths do not add up: the caller deletes it with disk_del()); -EIO. On error <out> holds
 * what it held before. */
int disk_get(struct disk *d, const char *key, size_t klen, struct buf *out);

/* What disk_get_family() hands over for each entry: its key; <rc> 0 and the blob, valid only
 * during the call; or <rc> -EBADMSG for a corrupt entry (<blob> NULL), for the caller to
 * delete. */
typedef void disk_entry_fn(void *arg, const char *key, size_t klen, int rc, const void *blob,
                           size_t len);

/* Calls <fn> for the entry under <key> (<klen> bytes), if any, then for each entry whose key is
 * <key>, <sep>, and anything (a family: an object and its variants), in key order, at most <max>
 * calls in all, inside one read transaction. Returns how many calls, or a negative errno. */
int disk_get_family(struct disk *d, const char *key, size_t klen, char sep, unsigned max,
                    disk_entry_fn *fn, void *arg);

/* Removes the entry under <key> (<klen> bytes): its value, chunks and side records.
 * Returns 0; -ENOENT when absent; -EIO. A corrupt entry is removed too. */
int disk_del(struct disk *d, const char *key, size_t klen);

/* Removes entries oldest first until the bytes in use (pages used by the data times the page
 * size) are at most <target>, or nothing is left. Returns how many entries it removed (0 on an
 * LMDB error, which leaves the store unchanged). */
uint64_t disk_evict(struct disk *d, uint64_t target);

/* Removes every entry whose key starts with the <plen> bytes at <prefix> (plen 0: all of them),
 * in one transaction. Returns how many (0 on an LMDB error, which leaves the store unchanged). */
uint64_t disk_del_prefix(struct disk *d, const char *prefix, size_t plen);

/* Removes every entry tagged <tag> (<tlen> bytes), in one transaction. Returns how many (0 on an
 * LMDB error, which leaves the store unchanged). */
uint64_t disk_del_tag(struct disk *d, const char *tag, size_t tlen);

/* Removes every entry whose key <match> accepts (it returns 1), walking the whole store in
 * transactions of at most a thousand deletes, so the file's other readers and writers are never
 * held up long. Returns how many. */
uint64_t disk_del_match(struct disk *d, int (*match)(void *arg, const char *key, size_t klen),
                        void *arg);

/* Removes entries whose expiry time is at most <now>, soonest first, at most <max> of them, in
 * one transaction. Returns how many (0 on an LMDB error). */
uint64_t disk_expire(struct disk *d, int64_t now, uint64_t max);

/* Fills *<out> with the entries, the bytes in use and the map size. Returns 0 or -EIO. */
int disk_stats(struct disk *d, struct disk_stats *out);

/* Closes the store in *<dp>, releases <path>.pid (the file stays) and sets *<dp> to NULL.
 * NULL in *<dp> is a no-op. No other call may be running on the store. */
void disk_close(struct disk **dp);

#endif
