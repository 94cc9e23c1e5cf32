/* disk.c - the disk tier's storage engine over LMDB: opaque blobs by key string, in one file.
 *
 * Structures: one environment (MDB_NOSUBDIR: the data file is the path, the lock file
 * <path>-lock) with five named databases:
 *   "meta":    "version" -> u32 DISK_VERSION; "seq" -> u64, the last sequence given out.
 *   "objects": key -> entry header, tag list (+ the blob itself when it fits in one chunk);
 *              key "\0#" u32 big-endian index -> one chunk of the blob. Chunks are DISK_CHUNK
 *              bytes (the last one less), or budget/64 (at least 16 KiB) below 32 MiB.
 *   "order":   u64 big-endian sequence -> key: insertion order, oldest first.
 *   "tags":    tag -> key, one duplicate per key carrying the tag (MDB_DUPSORT).
 *   "expiry":  u64 big-endian expiry time, u64 big-endian sequence -> key, for entries that
 *              have an expiry time: soonest first.
 * An entry header is, in host order (the file is not portable across architectures):
 *   u32 DISK_HMAGIC, u32 nchunks, u64 total length, u64 sequence, i64 expiry (0: none),
 *   u32 tag list length, u32 zero; then the tag list ("tag\0tag\0...") and, when nchunks is
 *   0, the total bytes of the blob.
 * Chunk keys sort right after their key and never collide with a key, since keys hold no NUL.
 *
 * Invariants, after every committed transaction: each entry has exactly one order record, whose
 * sequence is the one in its header, one expiry record when it has an expiry time, and one tag
 * record per tag of its list; its chunks 0..nchunks-1 exist and add up to the total.
 * A file can still break them (a crash of the disk, a bug): readers check and report -EBADMSG,
 * eviction and expiry skip a record that does not match its entry, a tag purge skips a key
 * whose list lacks the tag.
 *
 * Read transactions: readers take a reset transaction from a small pool and renew it (LMDB's
 * reset/renew), so a lookup allocates nothing and takes no reader slot of its own.
 *
 * Untrusted files: LMDB trusts its pages, and a damaged page can crash the process rather than
 * fail a call. disk_open() has an existing file walked by a forked child first (disk_check(),
 * below) and moves a file that fails, or that LMDB then refuses, aside to <path>.damaged (its
 * lock file to <path>-lock.damaged), one copy of each, and starts empty. The blobs' own bytes
 * are the caller's to check (fmt_decode() checksums them).
 *
 * Ownership: the caller owns the struct disk and serializes the writing calls (see disk.h);
 * values handed out by LMDB are copied before their transaction ends. The pid file stays locked
 * (flock) from disk_open to disk_close: the lock is what keeps a second store off the file. */
#include "accel/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DISK_VERSION   2u
#define DISK_HMAGIC    0x324b5344u /* "DSK2" */
#define DISK_HDR_LEN   40u
#define DISK_SUFFIX    6u /* "\0#" + u32 chunk index */
#define DISK_KEY_MAX   1024u
#define DISK_MAXREADS  256u
#define DISK_CHUNK_MIN ((size_t)16 * 1024)
#define DISK_RPOOL     64u /* reset read transactions kept for reuse */

struct disk {
    MDB_env *env;
    MDB_dbi meta, objects, order, tags, expiry, main;
    char *path;
    int pidfd;
    int reset;
    size_t maxkey;     /* longest key we accept: LMDB's limit less the chunk suffix */
    size_t maxtag;     /* longest tag: LMDB's key limit, at most DISK_TAG_MAX */
    uint64_t map_size; /* the budget: what was asked, or less when LMDB's map is smaller */
    size_t chunk;      /* chunk size for new blobs: DISK_CHUNK, smaller in a small budget */
    unsigned psize;
    pthread_mutex_t rmu; /* the pool of reset read transactions */
    MDB_txn *rpool[DISK_RPOOL];
    unsigned nrpool;
};

struct hdr {
    uint32_t nchunks, tags_len;
    uint64_t total, seq;
    int64_t expires;
    const char *tags;        /* the tag list, in the value */
    const char *inline_blob; /* nchunks 0: the blob, in the value */
};

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Parses an entry header; returns -EBADMSG when the record cannot be one. */
static int hdr_parse(const MDB_val *v, struct hdr *h)
{
    const char *p = v->mv_data;
    uint32_t magic;
    size_t rest;

    if (v->mv_size < DISK_HDR_LEN)
        return -EBADMSG;
    memcpy(&magic, p, 4);
    memcpy(&h->nchunks, p + 4, 4);
    memcpy(&h->total, p + 8, 8);
    memcpy(&h->seq, p + 16, 8);
    memcpy(&h->expires, p + 24, 8);
    memcpy(&h->tags_len, p + 32, 4);
    if (magic != DISK_HMAGIC)
        return -EBADMSG;
    rest = v->mv_size - DISK_HDR_LEN;
    if (h->tags_len > rest || h->tags_len > DISK_TAGS_MAX ||
        (h->tags_len > 0 && p[DISK_HDR_LEN + h->tags_len - 1] != '\0'))
        return -EBADMSG;
    rest -= h->tags_len;
    if (h->nchunks == 0 ? h->total != rest : rest != 0)
        return -EBADMSG;
    h->tags = p + DISK_HDR_LEN;
    h->inline_blob = h->tags + h->tags_len;
    return 0;
}

/* The next tag of the list [*<p>, <end>) (which ends with a NUL), skipping empty ones; its
 * length in *<len>. NULL at the end. */
static const char *next_tag(const char **p, const char *end, size_t *len)
{
    while (*p < end) {
        const char *t = *p;

        *len = strlen(t);
        *p = t + *len + 1;
        if (*len > 0)
            return t;
    }
    return NULL;
}

/* A tag list handed in: at most DISK_TAGS_MAX bytes ending with a NUL, each tag at most
 * maxtag bytes. */
static int check_tags(const struct disk *d, const char *tags, size_t len)
{
    const char *p = tags, *end = tags + len;
    size_t tl;

    if (len == 0)
        return 0;
    if (tags == NULL || len > DISK_TAGS_MAX || tags[len - 1] != '\0')
        return -EINVAL;
    while (next_tag(&p, end, &tl) != NULL) {
        if (tl > d->maxtag)
            return -EINVAL;
    }
    return 0;
}

/* Read transactions: a reset one from the pool, renewed, or a new one. */
static int rtxn_begin(struct disk *d, MDB_txn **txn)
{
    MDB_txn *t = NULL;

    pthread_mutex_lock(&d->rmu);
    if (d->nrpool > 0)
        t = d->rpool[--d->nrpool];
    pthread_mutex_unlock(&d->rmu);
    if (t != NULL) {
        if (mdb_txn_renew(t) == 0) {
            *txn = t;
            return 0;
        }
        mdb_txn_abort(t);
    }
    return mdb_txn_begin(d->env, NULL, MDB_RDONLY, txn);
}

static void rtxn_end(struct disk *d, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_mutex_lock(&d->rmu);
    if (d->nrpool < DISK_RPOOL) {
        d->rpool[d->nrpool++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&d->rmu);
    if (txn != NULL)
        mdb_txn_abort(txn);
}

/* Writes into <ck> the key of chunk <i> of <key>; returns its length. */
static size_t chunk_key(char *ck, const char *key, size_t klen, uint32_t i)
{
    memcpy(ck, key, klen);
    ck[klen] = '\0';
    ck[klen + 1] = '#';
    ck[klen + 2] = (char)(i >> 24);
    ck[klen + 3] = (char)(i >> 16);
    ck[klen + 4] = (char)(i >> 8);
    ck[klen + 5] = (char)i;
    return klen + DISK_SUFFIX;
}

static int check_key(const struct disk *d, const char *key, size_t klen)
{
    if (klen == 0 || memchr(key, '\0', klen) != NULL)
        return -EINVAL;
    if (klen > d->maxkey)
        return -ENAMETOOLONG;
    return 0;
}

static int mdb_errno(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
        return -EFBIG; /* the budget; -ENOSPC is the file system's */
    case MDB_NOTFOUND:
        return -ENOENT;
    default:
        return rc > 0 ? -rc : -EIO; /* LMDB passes errno values through */
    }
}

/* Pages in use by the data (the two meta pages, the main db and our three), in bytes. Pages on
 * the free list are not counted: LMDB reuses them. */
static uint64_t used_bytes(const struct disk *d, MDB_txn *txn)
{
    MDB_dbi dbis[] = {d->main, d->meta, d->objects, d->order, d->tags, d->expiry};
    uint64_t pages = 2;
    MDB_stat st;

    for (size_t i = 0; i < countof(dbis); i++) {
        if (mdb_stat(txn, dbis[i], &st) == 0)
            pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    }
    return pages * d->psize;
}

/* Moves <cur> to the first key after <last> (<k>->mv_size bytes), which <cur> just deleted:
 * a fresh seek, rather than trusting where a delete leaves the cursor. */
static int cursor_next_after_del(MDB_cursor *cur, MDB_val *k, MDB_val *v, char *last)
{
    k->mv_data = last;
    return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
}

/* Deletes every chunk record of <key> (whatever its header says). */
static int del_chunks(struct disk *d, MDB_txn *txn, const char *key, size_t klen)
{
    char ck[DISK_KEY_MAX], last[DISK_KEY_MAX];
    MDB_val k, v;
    MDB_cursor *cur;
    int rc;

    k.mv_size = chunk_key(ck, key, klen, 0);
    k.mv_data = ck;
    rc = mdb_cursor_open(txn, d->objects, &cur);
    if (rc != 0)
        return mdb_errno(rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == klen + DISK_SUFFIX && memcmp(k.mv_data, ck, klen + 2) == 0) {
        memcpy(last, k.mv_data, k.mv_size);
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
        rc = cursor_next_after_del(cur, &k, &v, last);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : mdb_errno(rc);
}

/* Deletes the side records of an entry whose header is <h>: order, expiry, tags. */
static int del_side(struct disk *d, MDB_txn *txn, const char *key, size_t klen, const struct hdr *h)
{
    char tags[DISK_TAGS_MAX];
    const char *p = tags, *t;
    unsigned char sk[16];
    MDB_val ok = {.mv_size = 8, .mv_data = sk};
    size_t tl;
    int rc;

    /* the tag list lives in a page the deletes below may touch: copy it first */
    memcpy(tags, h->tags, h->tags_len);
    put_be64(sk, h->seq);
    rc = mdb_del(txn, d->order, &ok, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return mdb_errno(rc);
    if (h->expires > 0) {
        put_be64(sk, (uint64_t)h->expires);
        put_be64(sk + 8, h->seq);
        ok.mv_size = 16;
        rc = mdb_del(txn, d->expiry, &ok, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return mdb_errno(rc);
    }
    while ((t = next_tag(&p, tags + h->tags_len, &tl)) != NULL) {
        MDB_val tk = {.mv_size = tl, .mv_data = (void *)t};
        MDB_val kv = {.mv_size = klen, .mv_data = (void *)key};

        rc = mdb_del(txn, d->tags, &tk, &kv);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return mdb_errno(rc);
    }
    return 0;
}

/* Deletes the entry under <key> inside <txn>: record, chunks, side records. -ENOENT: absent. */
static int del_locked(struct disk *d, MDB_txn *txn, const char *key, size_t klen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
    struct hdr h;
    int rc;

    rc = mdb_get(txn, d->objects, &k, &v);
    if (rc != 0)
        return mdb_errno(rc);
    if (hdr_parse(&v, &h) == 0 && (rc = del_side(d, txn, key, klen, &h)) != 0)
        return rc;
    /* A corrupt header hides its side records: eviction, expiry and tag purges meet them
     * later, find they do not match an entry, and drop them. */
    rc = mdb_del(txn, d->objects, &k, NULL);
    if (rc != 0)
        return mdb_errno(rc);
    return del_chunks(d, txn, key, klen);
}

/* Removes the oldest entries inside <txn> until used_bytes() <= <target>. Returns how many
 * were removed, or a negative errno. */
static int64_t evict_locked(struct disk *d, MDB_txn *txn, uint64_t target)
{
    char key[DISK_KEY_MAX];
    MDB_cursor *cur;
    MDB_val k, v;
    int64_t n = 0;
    int rc;

    rc = mdb_cursor_open(txn, d->order, &cur);
    if (rc != 0)
        return mdb_errno(rc);
    while (used_bytes(d, txn) > target) {
        MDB_val ek, ev;
        size_t klen;
        uint64_t seq;
        struct hdr h;

        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc != 0)
            break;
        seq = k.mv_size == 8 ? get_be64(k.mv_data) : 0;
        klen = v.mv_size < sizeof(key) ? v.mv_size : 0;
        memcpy(key, v.mv_data, klen);
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
        if (klen == 0)
            continue;
        ek.mv_size = klen;
        ek.mv_data = key;
        rc = mdb_get(txn, d->objects, &ek, &ev);
        if (rc == MDB_NOTFOUND)
            continue; /* a stray order record */
        if (rc != 0)
            break;
        if (hdr_parse(&ev, &h) == 0 && h.seq != seq)
            continue; /* the key was replaced since; its own record comes later */
        rc = del_locked(d, txn, key, klen);
        if (rc != 0) {
            mdb_cursor_close(cur);
            return rc; /* already a negative errno */
        }
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return mdb_errno(rc);
    return n;
}

uint64_t disk_evict(struct disk *d, uint64_t target)
{
    MDB_txn *txn;
    int64_t n;

    AN(d);
    if (mdb_txn_begin(d->env, NULL, 0, &txn) != 0)
        return 0;
    n = evict_locked(d, txn, target);
    if (n <= 0 || mdb_txn_commit(txn) != 0) {
        if (n <= 0)
            mdb_txn_abort(txn);
        return 0;
    }
    return (uint64_t)n;
}

/* The room we keep free in the map for deletes and LMDB's own pages. */
static uint64_t reserve(const struct disk *d)
{
    uint64_t r = d->map_size / 8;

    return r > 32 * (uint64_t)d->psize ? r : 32 * (uint64_t)d->psize;
}

/* One put inside write transaction <txn>; the caller commits or aborts. */
static int put_in_txn(struct disk *d, MDB_txn *txn, const struct disk_item *it)
{
    MDB_val k = {.mv_size = it->klen, .mv_data = (void *)it->key}, v;
    MDB_val mk = {.mv_size = 3, .mv_data = "seq"};
    const char *p = it->tags, *t;
    unsigned char sk[16];
    char ck[DISK_KEY_MAX];
    uint32_t magic = DISK_HMAGIC, zero = 0;
    size_t len = it->len, tl;
    struct hdr h;
    char *w;
    int rc;

    /* Keep headroom: a map filled to the last page cannot even delete (LMDB copies the pages it
     * changes), so we call it full before it is. */
    if (used_bytes(d, txn) + len + it->tags_len * 2 + (len / d->chunk + 4) * d->psize + reserve(d) >
        d->map_size)
        return -EFBIG;
    rc = del_locked(d, txn, it->key, it->klen);
    if (rc != 0 && rc != -ENOENT)
        return rc;

    rc = mdb_get(txn, d->meta, &mk, &v);
    h.seq = 0;
    if (rc == 0 && v.mv_size == 8)
        memcpy(&h.seq, v.mv_data, 8);
    h.seq++;
    v.mv_size = 8;
    v.mv_data = &h.seq;
    rc = mdb_errno(mdb_put(txn, d->meta, &mk, &v, 0));
    if (rc != 0)
        return rc;

    h.total = len;
    h.nchunks = len <= d->chunk ? 0 : (uint32_t)((len + d->chunk - 1) / d->chunk);
    h.expires = it->expires > 0 ? it->expires : 0;
    h.tags_len = (uint32_t)it->tags_len;
    v.mv_size = DISK_HDR_LEN + it->tags_len + (h.nchunks == 0 ? len : 0);
    rc = mdb_errno(mdb_put(txn, d->objects, &k, &v, MDB_RESERVE));
    if (rc != 0)
        return rc;
    w = v.mv_data;
    memcpy(w, &magic, 4);
    memcpy(w + 4, &h.nchunks, 4);
    memcpy(w + 8, &h.total, 8);
    memcpy(w + 16, &h.seq, 8);
    memcpy(w + 24, &h.expires, 8);
    memcpy(w + 32, &h.tags_len, 4);
    memcpy(w + 36, &zero, 4);
    if (it->tags_len > 0)
        memcpy(w + DISK_HDR_LEN, it->tags, it->tags_len);
    if (h.nchunks == 0 && len > 0)
        memcpy(w + DISK_HDR_LEN + it->tags_len, it->blob, len);
    for (uint32_t i = 0; i < h.nchunks; i++) {
        size_t off = (size_t)i * d->chunk;
        MDB_val cv = {.mv_data = (char *)it->blob + off};
        MDB_val ckv = {.mv_size = chunk_key(ck, it->key, it->klen, i), .mv_data = ck};

        cv.mv_size = len - off < d->chunk ? len - off : d->chunk;
        rc = mdb_errno(mdb_put(txn, d->objects, &ckv, &cv, 0));
        if (rc != 0)
            return rc;
    }

    put_be64(sk, h.seq);
    k.mv_size = 8;
    k.mv_data = sk;
    v.mv_size = it->klen;
    v.mv_data = (void *)it->key;
    rc = mdb_errno(mdb_put(txn, d->order, &k, &v, 0));
    if (rc != 0)
        return rc;
    if (h.expires > 0) {
        put_be64(sk, (uint64_t)h.expires);
        put_be64(sk + 8, h.seq);
        k.mv_size = 16;
        rc = mdb_errno(mdb_put(txn, d->expiry, &k, &v, 0));
        if (rc != 0)
            return rc;
    }
    while ((t = next_tag(&p, it->tags + it->tags_len, &tl)) != NULL) {
        MDB_val tk = {.mv_size = tl, .mv_data = (void *)t};

        rc = mdb_put(txn, d->tags, &tk, &v, MDB_NODUPDATA);
        if (rc != 0 && rc != MDB_KEYEXIST) /* a tag named twice */
            return mdb_errno(rc);
    }
    return 0;
}

static int check_item(const struct disk *d, const struct disk_item *it)
{
    int rc = check_key(d, it->key, it->klen);

    if (rc == 0)
        rc = check_tags(d, it->tags, it->tags_len);
    if (rc == 0 && it->blob == NULL && it->len > 0)
        rc = -EINVAL;
    return rc;
}

/* One attempt at disk_put_item: the whole write in one transaction. */
static int put_once(struct disk *d, const struct disk_item *it)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(d->env, NULL, 0, &txn);

    if (rc != 0)
        return mdb_errno(rc);
    rc = put_in_txn(d, txn, it);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_errno(mdb_txn_commit(txn));
}

int disk_put_many(struct disk *d, const struct disk_item *items, unsigned n)
{
    MDB_txn *txn;
    int rc = 0;

    AN(d);
    for (unsigned i = 0; i < n && rc == 0; i++)
        rc = check_item(d, &items[i]);
    if (rc == 0 && (rc = mdb_txn_begin(d->env, NULL, 0, &txn)) == 0) {
        for (unsigned i = 0; i < n && rc == 0; i++)
            rc = put_in_txn(d, txn, &items[i]);
        if (rc == 0)
            return mdb_errno(mdb_txn_commit(txn));
        mdb_txn_abort(txn);
    }
    /* Some item does not fit or is refused: one by one, each with disk_put's eviction and its
     * own answer; the first error is returned. */
    rc = 0;
    for (unsigned i = 0; i < n; i++) {
        int r = disk_put_item(d, &items[i]);

        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}

/* Rewrites the sequence record in a transaction of its own. */
static void touch_seq(struct disk *d)
{
    MDB_val mk = {.mv_size = 3, .mv_data = "seq"}, v;
    uint64_t seq = 0;
    MDB_txn *txn;

    if (mdb_txn_begin(d->env, NULL, 0, &txn) != 0)
        return;
    if (mdb_get(txn, d->meta, &mk, &v) == 0 && v.mv_size == 8)
        memcpy(&seq, v.mv_data, 8);
    v.mv_size = 8;
    v.mv_data = &seq;
    if (mdb_put(txn, d->meta, &mk, &v, 0) == 0)
        mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
}

int disk_put(struct disk *d, const char *key, size_t klen, const void *blob, size_t len)
{
    struct disk_item it = {.key = key, .klen = klen, .blob = blob, .len = len};

    AN(key);
    AN(blob != NULL || len == 0);
    return disk_put_item(d, &it);
}

int disk_put_item(struct disk *d, const struct disk_item *it)
{
    struct disk_stats st;
    uint64_t need, target;
    size_t len = it->len, klen = it->klen;
    int rc;

    AN(d);
    rc = check_item(d, it);
    if (rc != 0)
        return rc;
    if (len > d->map_size)
        return -EFBIG;
    rc = put_once(d, it);
    if (rc != -EFBIG)
        return rc;
    /* Map full: make room for the blob twice over (pages freed by a transaction are reusable
     * only once the next one has committed), plus a margin for the trees, then retry once. */
    if (disk_stats(d, &st) != 0)
        return -EIO;
    need = 2 * ((uint64_t)len + klen) + 16 * (uint64_t)d->psize;
    target = d->map_size / 2 > need ? d->map_size / 2 - need : 0;
    if (target > st.used)
        target = st.used > need ? st.used - need : 0;
    disk_evict(d, target);
    /* LMDB reuses the pages a transaction freed only once a later one has committed: commit
     * an empty-handed write (the sequence, rewritten) so the retry can use them. */
    touch_seq(d);
    return put_once(d, it);
}

/* Reads the entry of <key> whose record is <v>, inside read or write transaction <txn>: a
 * blob held inline is pointed at (valid until <txn> ends); a chunked one is reassembled at the
 * end of <scratch>. Returns 0 with the blob in *<blob>, *<len>; -EBADMSG; -EIO. On error
 * <scratch> holds what it held before. */
static int read_entry(struct disk *d, MDB_txn *txn, const char *key, size_t klen, const MDB_val *v,
                      struct buf *scratch, const void **blob, size_t *len)
{
    char ck[DISK_KEY_MAX];
    size_t len0 = scratch->len;
    uint64_t got = 0;
    struct hdr h;
    int rc = hdr_parse(v, &h);

    if (rc != 0)
        return rc;
    if (h.nchunks == 0) {
        *blob = h.inline_blob;
        *len = h.total;
        return 0;
    }
    /* bounded before anything is allocated: a header is as untrusted as the rest of the file.
     * The chunk size is not stored (it depends on the budget when the blob was written):
     * every chunk is non-empty and at most DISK_CHUNK, and they must add up to the total. */
    if (h.total > d->map_size || h.nchunks > h.total ||
        h.nchunks < (h.total + DISK_CHUNK - 1) / DISK_CHUNK)
        return -EBADMSG;
    buf_reserve(scratch, h.total);
    for (uint32_t i = 0; i < h.nchunks; i++) {
        MDB_val ckv = {.mv_size = chunk_key(ck, key, klen, i), .mv_data = ck}, cv;

        rc = mdb_get(txn, d->objects, &ckv, &cv);
        if (rc != 0 || cv.mv_size == 0 || cv.mv_size > DISK_CHUNK || cv.mv_size > h.total - got) {
            rc = (rc == 0 || rc == MDB_NOTFOUND) ? -EBADMSG : mdb_errno(rc);
            break;
        }
        buf_append(scratch, cv.mv_data, cv.mv_size);
        got += cv.mv_size;
    }
    if (rc == 0 && got != h.total)
        rc = -EBADMSG;
    if (rc != 0) {
        scratch->len = len0;
        return rc;
    }
    *blob = scratch->p + len0;
    *len = h.total;
    return 0;
}

int disk_get(struct disk *d, const char *key, size_t klen, struct buf *out)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
    size_t len0 = out->len, len = 0;
    const void *blob = NULL;
    MDB_txn *txn;
    int rc;

    AN(d);
    AN(out);
    rc = check_key(d, key, klen);
    if (rc != 0)
        return rc == -EINVAL ? -ENOENT : rc;
    rc = rtxn_begin(d, &txn);
    if (rc != 0)
        return mdb_errno(rc);
    rc = mdb_errno(mdb_get(txn, d->objects, &k, &v));
    if (rc == 0)
        rc = read_entry(d, txn, key, klen, &v, out, &blob, &len);
    if (rc == 0 && out->len == len0 && len > 0)
        buf_append(out, blob, len); /* inline: copied before the transaction ends */
    rtxn_end(d, txn);
    return rc;
}

int disk_get_family(struct disk *d, const char *key, size_t klen, char sep, unsigned max,
                    disk_entry_fn *fn, void *arg)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
    char first[DISK_KEY_MAX];
    struct buf scratch = {0};
    MDB_cursor *cur = NULL;
    unsigned n = 0;
    MDB_txn *txn;
    int rc;

    AN(d);
    AN(fn);
    if (check_key(d, key, klen) != 0 || klen + 1 > d->maxkey || max == 0)
        return 0;
    rc = rtxn_begin(d, &txn);
    if (rc != 0)
        return mdb_errno(rc);
    rc = mdb_cursor_open(txn, d->objects, &cur);
    if (rc != 0)
        goto out;
    /* the key itself, then the range "<key><sep>..." (chunk records, which hold a NUL, skipped) */
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    memcpy(first, key, klen);
    first[klen] = sep;
    for (int pass = 0; rc == 0 || (pass == 0 && rc == MDB_NOTFOUND); pass = 1) {
        if (pass == 1) {
            if (n == max || k.mv_size <= klen || memcmp(k.mv_data, first, klen + 1) != 0)
                break;
        }
        if (rc == 0 && memchr(k.mv_data, '\0', k.mv_size) == NULL) {
            const void *blob = NULL;
            size_t len = 0;
            int r;

            scratch.off = scratch.len = 0;
            r = read_entry(d, txn, k.mv_data, k.mv_size, &v, &scratch, &blob, &len);
            if (r != 0 && r != -EBADMSG) {
                rc = MDB_PANIC;
                break;
            }
            fn(arg, k.mv_data, k.mv_size, r, blob, len);
            n++;
        }
        if (pass == 0) {
            k.mv_data = first;
            k.mv_size = klen + 1;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    mdb_cursor_close(cur);
out:
    rtxn_end(d, txn);
    buf_free(&scratch);
    return (rc == 0 || rc == MDB_NOTFOUND) ? (int)n : mdb_errno(rc);
}

int disk_del(struct disk *d, const char *key, size_t klen)
{
    MDB_txn *txn;
    int rc;

    AN(d);
    rc = check_key(d, key, klen);
    if (rc != 0)
        return rc == -EINVAL ? -ENOENT : rc;
    rc = mdb_txn_begin(d->env, NULL, 0, &txn);
    if (rc != 0)
        return mdb_errno(rc);
    rc = del_locked(d, txn, key, klen);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_errno(mdb_txn_commit(txn));
}

uint64_t disk_del_prefix(struct disk *d, const char *prefix, size_t plen)
{
    MDB_val k = {.mv_size = plen, .mv_data = (void *)prefix}, v;
    char last[DISK_KEY_MAX];
    MDB_cursor *cur;
    MDB_txn *txn;
    uint64_t n = 0;
    int rc;

    AN(d);
    AN(prefix != NULL || plen == 0);
    if (mdb_txn_begin(d->env, NULL, 0, &txn) != 0)
        return 0;
    if (mdb_cursor_open(txn, d->objects, &cur) != 0) {
        mdb_txn_abort(txn);
        return 0;
    }
    /* Chunk records share their key's prefix and sort right after it: the range holds them. */
    rc = mdb_cursor_get(cur, &k, &v, plen == 0 ? MDB_FIRST : MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
        size_t klen = k.mv_size;

        if (klen > sizeof(last)) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(last, k.mv_data, klen);
        if (memchr(last, '\0', klen) == NULL) {
            rc = del_locked(d, txn, last, klen); /* the entry, its chunks, its side records */
            if (rc != 0)
                break;
            n++;
        } else {
            rc = mdb_cursor_del(cur, 0); /* a chunk whose entry is gone */
            if (rc != 0)
                break;
        }
        rc = cursor_next_after_del(cur, &k, &v, last);
    }
    mdb_cursor_close(cur);
    if ((rc != 0 && rc != MDB_NOTFOUND) || mdb_txn_commit(txn) != 0) {
        if (rc != 0 && rc != MDB_NOTFOUND)
            mdb_txn_abort(txn);
        return 0;
    }
    return n;
}

#define MATCH_BATCH 1000u

uint64_t disk_del_match(struct disk *d, int (*match)(void *arg, const char *key, size_t klen),
                        void *arg)
{
    char last[DISK_KEY_MAX];
    size_t lastlen = 0;
    uint64_t n = 0;
    int more = 1, first = 1;

    AN(d);
    AN(match);
    while (more) {
        MDB_val k, v;
        MDB_cursor *cur;
        MDB_txn *txn;
        unsigned done = 0;
        int rc;

        if (mdb_txn_begin(d->env, NULL, 0, &txn) != 0)
            return n;
        if (mdb_cursor_open(txn, d->objects, &cur) != 0) {
            mdb_txn_abort(txn);
            return n;
        }
        k.mv_size = lastlen;
        k.mv_data = last;
        rc = mdb_cursor_get(cur, &k, &v, first ? MDB_FIRST : MDB_SET_RANGE);
        first = 0;
        /* chunk records (they hold a NUL) go with their entry */
        while (rc == 0 && done < MATCH_BATCH) {
            if (k.mv_size > sizeof(last)) {
                rc = MDB_CORRUPTED;
                break;
            }
            memcpy(last, k.mv_data, k.mv_size);
            lastlen = k.mv_size;
            if (memchr(last, '\0', lastlen) == NULL && match(arg, last, lastlen)) {
                rc = del_locked(d, txn, last, lastlen);
                if (rc != 0)
                    break;
                done++;
                rc = cursor_next_after_del(cur, &k, &v, last);
                continue;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        more = rc == 0; /* stopped at the batch's end, not the store's */
        if (more) {
            memcpy(last, k.mv_data, k.mv_size < sizeof(last) ? k.mv_size : sizeof(last));
            lastlen = k.mv_size < sizeof(last) ? k.mv_size : sizeof(last);
        }
        mdb_cursor_close(cur);
        if ((rc != 0 && rc != MDB_NOTFOUND) || mdb_txn_commit(txn) != 0) {
            if (rc != 0 && rc != MDB_NOTFOUND)
                mdb_txn_abort(txn);
            return n;
        }
        n += done;
    }
    return n;
}

/* 1 if the tag list of the entry under <key> (<klen> bytes) names <tag> (<tlen> bytes). */
static int entry_has_tag(struct disk *d, MDB_txn *txn, const char *key, size_t klen,
                         const char *tag, size_t tlen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
    const char *p, *t;
    struct hdr h;
    size_t tl;

    if (mdb_get(txn, d->objects, &k, &v) != 0 || hdr_parse(&v, &h) != 0)
        return 0;
    p = h.tags;
    while ((t = next_tag(&p, h.tags + h.tags_len, &tl)) != NULL) {
        if (tl == tlen && memcmp(t, tag, tlen) == 0)
            return 1;
    }
    return 0;
}

uint64_t disk_del_tag(struct disk *d, const char *tag, size_t tlen)
{
    MDB_val k = {.mv_size = tlen, .mv_data = (void *)tag}, v;
    struct buf keys = {0};
    MDB_cursor *cur;
    MDB_txn *txn;
    uint64_t n = 0;
    int rc;

    AN(d);
    if (tlen == 0 || tlen > d->maxtag || memchr(tag, '\0', tlen) != NULL)
        return 0;
    if (mdb_txn_begin(d->env, NULL, 0, &txn) != 0)
        return 0;
    /* the keys first ("key\0" each), then the deletes: they change the records walked */
    rc = mdb_cursor_open(txn, d->tags, &cur);
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
        while (rc == 0) {
            buf_append(&keys, v.mv_data, v.mv_size);
            buf_append(&keys, "", 1);
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
        }
        mdb_cursor_close(cur);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    for (size_t off = 0; rc == 0 && off < keys.len;) {
        const char *key = keys.p + off;
        size_t klen = strlen(key);
        MDB_val kv = {.mv_size = klen, .mv_data = (void *)key};

        off += klen + 1;
        if (memchr(key, '\0', klen) == NULL && klen > 0 && klen <= d->maxkey &&
            entry_has_tag(d, txn, key, klen, tag, tlen)) {
            rc = del_locked(d, txn, key, klen);
            n += rc == 0;
            rc = rc == -ENOENT ? 0 : rc;
        } else {
            /* a stray record: its entry is gone, or was replaced without the tag */
            rc = mdb_del(txn, d->tags, &k, &kv);
            rc = rc == MDB_NOTFOUND ? 0 : rc;
        }
    }
    buf_free(&keys);
    if (rc != 0 || mdb_txn_commit(txn) != 0) {
        if (rc != 0)
            mdb_txn_abort(txn);
        return 0;
    }
    return n;
}

uint64_t disk_expire(struct disk *d, int64_t now, uint64_t max)
{
    char key[DISK_KEY_MAX];
    MDB_cursor *cur;
    MDB_val k, v;
    MDB_txn *txn;
    uint64_t n = 0;
    int rc;

    AN(d);
    if (mdb_txn_begin(d->env, NULL, 0, &txn) != 0)
        return 0;
    rc = mdb_cursor_open(txn, d->expiry, &cur);
    while (rc == 0 && n < max) {
        MDB_val ek, ev;
        uint64_t seq;
        size_t klen;
        struct hdr h;

        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc != 0)
            break;
        if (k.mv_size == 16 && (int64_t)get_be64(k.mv_data) > now)
            break;
        seq = k.mv_size == 16 ? get_be64((const unsigned char *)k.mv_data + 8) : 0;
        klen = v.mv_size < sizeof(key) ? v.mv_size : 0;
        memcpy(key, v.mv_data, klen);
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0 || klen == 0)
            continue;
        ek.mv_size = klen;
        ek.mv_data = key;
        rc = mdb_get(txn, d->objects, &ek, &ev);
        if (rc == MDB_NOTFOUND) {
            rc = 0; /* a stray record */
            continue;
        }
        if (rc != 0)
            break;
        if (hdr_parse(&ev, &h) == 0 && h.seq != seq)
            continue; /* replaced since: its own record is elsewhere */
        rc = del_locked(d, txn, key, klen);
        rc = rc < 0 ? (rc == -ENOENT ? 0 : MDB_PANIC) : 0;
        n++;
    }
    /* the cursor goes with the transaction (a write transaction's cursors do) */
    if ((rc != 0 && rc != MDB_NOTFOUND) || n == 0 || mdb_txn_commit(txn) != 0) {
        if ((rc != 0 && rc != MDB_NOTFOUND) || n == 0)
            mdb_txn_abort(txn);
        return 0;
    }
    return n;
}

int disk_stats(struct disk *d, struct disk_stats *out)
{
    MDB_txn *txn;
    MDB_stat st;
    int rc;

    AN(d);
    AN(out);
    rc = rtxn_begin(d, &txn);
    if (rc != 0)
        return mdb_errno(rc);
    rc = mdb_stat(txn, d->order, &st);
    if (rc == 0) {
        out->entries = st.ms_entries;
        out->used = used_bytes(d, txn);
        out->map_size = d->map_size;
    }
    if (rc == 0 && (rc = mdb_stat(txn, d->tags, &st)) == 0)
        out->tag_records = st.ms_entries;
    if (rc == 0 && (rc = mdb_stat(txn, d->expiry, &st)) == 0)
        out->expiry_records = st.ms_entries;
    rtxn_end(d, txn);
    return mdb_errno(rc);
}

int disk_was_reset(const struct disk *d)
{
    AN(d);
    return d->reset;
}

/* ---- the check of an existing file ------------------------------------------------------------
 * LMDB trusts its pages: a damaged branch or leaf page, a bad overflow page or a file shorter
 * than its meta page says can make it read outside the map and kill the process, not return an
 * error. So before a store is opened, a forked child opens the file read-only (no lock file)
 * and walks every database with cursors: the free list (dbi 0), the main one and our five.
 * Everything a cursor hands out must lie inside the used part of the map: a key or an inline
 * value inside the node area of one leaf page whose header is sane (its own page number, the
 * leaf flag, lower <= upper), an overflow value on a run of pages whose header gives its own
 * number and the right length. No page may be reached twice (a loop in the tree) or be both
 * free and in use, and each database must hold as many records as its header says. The walk is
 * bounded by the file's pages; the parent still waits with a deadline. A child that reports an
 * error, dies of a signal or misses the deadline means the file is damaged.
 *
 * The page header checks read LMDB's page layout (the data format of LMDB 0.9: MDB_page is a
 * pgno_t page number, u16 pad, u16 flags, u16 lower and u16 upper or a u32 overflow count).
 * The values' own bytes are not read: fmt_decode() checksums every blob when it is read. */
#define DISK_PAGEHDR      16u   /* sizeof(MDB_page) without its pointers */
#define DISK_P_LEAF       0x02u /* mdb.c's P_LEAF, P_OVERFLOW, P_BRANCH, P_META */
#define DISK_P_OVERFLOW   0x04u
#define DISK_P_KINDS      0x0fu
#define DISK_CHECK_MS     10000u /* the check's deadline, plus DISK_CHECK_MS_GIB per GiB of file */
#define DISK_CHECK_MS_GIB 5000u

struct walk {
    const char *base; /* the map */
    size_t psize;
    size_t npages;       /* pages in use: last_pgno + 1 */
    unsigned char *seen; /* a bit per page: a leaf, an overflow page or a free page */
    size_t kpage, vpage; /* the leaf pages of the last key and value (SIZE_MAX: none yet) */
    char *why;
    size_t whylen;
};

__attribute__((format(printf, 2, 3))) static int walk_fail(struct walk *w, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(w->why, w->whylen, fmt, ap);
    va_end(ap);
    return -EBADMSG;
}

/* Marks page <pg> reached; -EBADMSG when it was already. */
static int walk_mark(struct walk *w, size_t pg)
{
    if (w->seen[pg / 8] & (1u << (pg % 8)))
        return walk_fail(w, "page %zu is reached twice", pg);
    w->seen[pg / 8] |= (unsigned char)(1u << (pg % 8));
    return 0;
}

static void page_hdr(const struct walk *w, size_t pg, uint64_t *pgno, uint16_t *flags,
                     uint16_t *lower, uint16_t *upper)
{
    const char *p = w->base + pg * w->psize;

    memcpy(pgno, p, 8);
    memcpy(flags, p + 10, 2);
    memcpy(lower, p + 12, 2);
    memcpy(upper, p + 14, 2);
}

/* Checks that the <len> bytes at <p> a cursor handed out lie where they may; <value>: they are
 * a value (which may be on overflow pages), else a key. <last> is the leaf page of the previous
 * item of that kind, which is marked reached the first time the walk enters it. */
static int walk_span(struct walk *w, const void *ptr, size_t len, int value, size_t *last)
{
    const char *p = ptr;
    size_t off, pg, in, n;
    uint16_t flags, lower, upper;
    uint64_t pgno;
    uint32_t count;
    int rc;

    if (p == NULL || p < w->base + 2 * w->psize || (size_t)(p - w->base) > w->npages * w->psize ||
        len > w->npages * w->psize - (size_t)(p - w->base))
        return walk_fail(w, "a record lies outside the file's %zu pages", w->npages);
    off = (size_t)(p - w->base);
    pg = off / w->psize;
    in = off % w->psize;
    page_hdr(w, pg, &pgno, &flags, &lower, &upper);
    if (in + len <= w->psize && pgno == pg && (flags & DISK_P_KINDS) == DISK_P_LEAF) {
        if (lower < DISK_PAGEHDR || lower > upper || upper > w->psize || in < upper)
            return walk_fail(w, "leaf page %zu is malformed", pg);
        if (pg != *last && pg != w->kpage) {
            if ((rc = walk_mark(w, pg)) != 0)
                return rc;
            *last = pg;
        }
        return 0;
    }
    if (!value || in != DISK_PAGEHDR || pgno != pg || (flags & DISK_P_KINDS) != DISK_P_OVERFLOW)
        return walk_fail(w, "page %zu holds a record but is not a leaf", pg);
    n = (len + DISK_PAGEHDR + w->psize - 1) / w->psize;
    memcpy(&count, w->base + pg * w->psize + 12, 4);
    if (count != n)
        return walk_fail(w, "overflow page %zu: %u pages for %zu bytes", pg, count, len);
    for (size_t i = 0; i < n; i++) {
        if ((rc = walk_mark(w, pg + i)) != 0)
            return rc;
    }
    return 0;
}

/* The free list's values: a count, then that many page numbers in descending order. */
static int walk_free_list(struct walk *w, const MDB_val *v)
{
    uint64_t n, pg, prev = UINT64_MAX;
    int rc;

    if (v->mv_size < 8 || v->mv_size % 8 != 0)
        return walk_fail(w, "a free list record of %zu bytes", v->mv_size);
    memcpy(&n, v->mv_data, 8);
    if (n != v->mv_size / 8 - 1)
        return walk_fail(w, "a free list record counts %llu pages in %zu bytes",
                         (unsigned long long)n, v->mv_size);
    for (uint64_t i = 1; i <= n; i++) {
        memcpy(&pg, (const char *)v->mv_data + 8 * i, 8);
        if (pg < 2 || pg >= w->npages || pg >= prev)
            return walk_fail(w, "the free list holds page %llu", (unsigned long long)pg);
        if ((rc = walk_mark(w, (size_t)pg)) != 0)
            return rc;
        prev = pg;
    }
    return 0;
}

/* Walks database <dbi> (<name> in messages) with a cursor; for the main one, checks that it
 * names our five databases and nothing else. */
static int walk_db(struct walk *w, MDB_txn *txn, MDB_dbi dbi, const char *name)
{
    static const char *const ours[] = {"expiry", "meta", "objects", "order", "tags"};
    MDB_cursor *cur;
    MDB_stat st;
    MDB_val k, v;
    uint64_t n = 0;
    int rc, op = MDB_FIRST;

    rc = mdb_stat(txn, dbi, &st);
    if (rc == 0)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return walk_fail(w, "database %s: %s", name, mdb_strerror(rc));
    w->kpage = w->vpage = SIZE_MAX;
    for (;; op = MDB_NEXT) {
        k.mv_data = v.mv_data = NULL; /* a cursor on a malformed page may leave them untouched */
        k.mv_size = v.mv_size = 0;
        rc = mdb_cursor_get(cur, &k, &v, op);
        if (rc != 0)
            break;
        if (++n > st.ms_entries) {
            rc = walk_fail(w, "database %s holds more than its %zu records", name, st.ms_entries);
            break;
        }
        rc = walk_span(w, k.mv_data, k.mv_size, 0, &w->kpage);
        if (rc == 0)
            rc = walk_span(w, v.mv_data, v.mv_size, 1, &w->vpage);
        if (rc == 0 && dbi == 0)
            rc = walk_free_list(w, &v);
        if (rc == 0 && dbi == 1 &&
            (n > countof(ours) || k.mv_size != strlen(ours[n - 1]) ||
             memcmp(k.mv_data, ours[n - 1], k.mv_size) != 0))
            rc = walk_fail(w, "the file holds other databases than ours");
        if (rc != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND && n != st.ms_entries)
        return walk_fail(w, "database %s holds %llu of its %zu records", name,
                         (unsigned long long)n, st.ms_entries);
    if (rc == MDB_NOTFOUND || rc == -EBADMSG)
        return rc == MDB_NOTFOUND ? 0 : rc;
    return walk_fail(w, "database %s: %s", name, mdb_strerror(rc));
}

/* Finds the start of a mapping of the file <sb> in /proc/self/maps (LMDB only reports it for
 * a fixed map) other than <skip> (NULL: any). Returns NULL when there is none. The child may
 * have inherited a mapping of the same file: the caller asks before and after opening. */
static const char *map_base(const struct stat *sb, const char *skip)
{
    char line[4096];
    const char *base = NULL;
    FILE *f = fopen("/proc/self/maps", "re");

    if (f == NULL)
        return NULL;
    while (base == NULL && fgets(line, sizeof(line), f) != NULL) {
        unsigned long long start, end, off, ino;
        unsigned maj, min;

        if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &start, &end, &off, &maj, &min, &ino) ==
                6 &&
            off == 0 && ino == (unsigned long long)sb->st_ino && makedev(maj, min) == sb->st_dev &&
            (const char *)(uintptr_t)start != skip)
            base = (const char *)(uintptr_t)start;
    }
    fclose(f);
    return base;
}

/* The child's side of disk_check(): opens <path> read-only with a map of <map> bytes and walks
 * it. Returns 0, or -EBADMSG with the reason in <why>. */
static int check_walk(const char *path, uint64_t map, char *why, size_t whylen)
{
    static const char *const names[] = {"meta", "objects", "order", "tags", "expiry"};
    MDB_val vk = {.mv_size = 7, .mv_data = "version"}, v;
    struct walk w = {.why = why, .whylen = whylen};
    uint32_t version = DISK_VERSION;
    const char *inherited;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_envinfo info;
    struct stat sb;
    MDB_stat st;
    MDB_dbi dbi;
    int fd, rc;

    if (stat(path, &sb) != 0)
        return walk_fail(&w, "%s", strerror(errno));
    if (S_ISREG(sb.st_mode) && sb.st_size == 0)
        return walk_fail(&w, "the file is empty"); /* LMDB would make a new one: not read-only */
    inherited = map_base(&sb, NULL);
    rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, (size_t)map);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, 6);
    if (rc == 0)
        rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0644);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        rc = walk_fail(&w, "%s", mdb_strerror(rc));
        goto out;
    }
    AZ(mdb_env_info(env, &info));
    AZ(mdb_env_stat(env, &st));
    AZ(mdb_env_get_fd(env, &fd));
    w.psize = st.ms_psize;
    w.npages = info.me_last_pgno + 1;
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size / w.psize < w.npages) {
        rc =
            walk_fail(&w, "the file is shorter than its %zu pages of %zu bytes", w.npages, w.psize);
        goto out;
    }
    w.base = map_base(&sb, inherited);
    if (w.base == NULL) {
        rc = walk_fail(&w, "the file's map is not in /proc/self/maps");
        goto out;
    }
    w.seen = calloc(1, w.npages / 8 + 1);
    AN(w.seen);
    rc = walk_db(&w, txn, 0, "(free pages)");
    if (rc == 0)
        rc = walk_db(&w, txn, 1, "(main)");
    for (size_t i = 0; rc == 0 && i < countof(names); i++) {
        rc = mdb_dbi_open(txn, names[i], i == 3 ? MDB_DUPSORT : 0, &dbi);
        if (rc != 0)
            rc = walk_fail(&w, "database %s: %s", names[i], mdb_strerror(rc));
        else
            rc = walk_db(&w, txn, dbi, names[i]);
        if (rc == 0 && i == 0 &&
            (mdb_get(txn, dbi, &vk, &v) != 0 || v.mv_size != 4 || memcmp(v.mv_data, &version, 4)))
            rc = walk_fail(&w, "not a store of version %u", DISK_VERSION);
    }
    free(w.seen);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    AZ(clock_gettime(CLOCK_MONOTONIC, &ts));
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int disk_check(const char *path, uint64_t map_size, unsigned ms, char *err, size_t errlen)
{
    char why[256] = "", chunk[512];
    struct pollfd pfd;
    uint64_t deadline;
    size_t got = 0;
    int fds[2], status = 0, rc;
    ssize_t n;
    pid_t pid, parent;

    AN(path);
    if (access(path, F_OK) != 0 || pipe2(fds, O_CLOEXEC) != 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    parent = getpid();
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot run the check: %s", path, strerror(-rc));
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    if (pid == 0) {
        /* The child holds what it inherited (the pid file's lock among them): it must not
         * outlive a parent that cannot kill it at the deadline any more. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        /* a crash must end the child, not run a sanitizer's report */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        close(fds[0]);
        /* LMDB reports a failed assertion on stderr before it aborts: that is the reason */
        dup2(fds[1], STDERR_FILENO);
        rc = check_walk(path, map_size, why, sizeof(why));
        if (rc != 0 && write(fds[1], why, strlen(why)) < 0)
            rc = -EIO;
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    pfd.fd = fds[0];
    pfd.events = POLLIN;
    deadline = now_ms() + ms;
    rc = 0;
    for (;;) {
        uint64_t now = now_ms();

        if (now >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        n = poll(&pfd, 1, deadline - now > 1000 ? 1000 : (int)(deadline - now));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            continue;
        n = read(fds[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* keep the start, drain the rest: the child must never block on a full pipe */
        if ((size_t)n > sizeof(why) - 1 - got)
            n = (ssize_t)(sizeof(why) - 1 - got);
        memcpy(why + got, chunk, (size_t)n);
        got += (size_t)n;
    }
    why[got] = '\0';
    close(fds[0]);
    if (rc == -ETIMEDOUT)
        kill(pid, SIGKILL);
    while ((n = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0 || (rc != 0 && rc != -ETIMEDOUT)) {
        rc = n < 0 ? -errno : rc;
        snprintf(err, errlen, "%s: cannot run the check: %s", path, strerror(-rc));
        return rc;
    }
    if (rc == -ETIMEDOUT)
        snprintf(err, errlen, "%s: the check took longer than %u ms", path, ms);
    else if (WIFSIGNALED(status))
        snprintf(err, errlen, "%s: the check died of signal %d (%s)%s%.*s", path, WTERMSIG(status),
                 strsignal(WTERMSIG(status)), why[0] != '\0' ? ": " : "", (int)strcspn(why, "\n"),
                 why);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        snprintf(err, errlen, "%s: %s", path, why[0] != '\0' ? why : "the check failed");
    else
        return 0;
    return -EBADMSG;
}

/* LMDB's map for a store of budget <budget> in <path>: a file made under a larger budget may
 * hold more than the new one, and the map must cover it with room to spare, or not even a
 * delete fits (pages are copied on write). */
static uint64_t map_for(const char *path, uint64_t budget)
{
    struct stat sb;

    if (stat(path, &sb) == 0 && (uint64_t)sb.st_size + (uint64_t)sb.st_size / 8 > budget)
        return (uint64_t)sb.st_size + (uint64_t)sb.st_size / 8 + (1u << 20);
    return budget;
}

int disk_check_dir(const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    struct stat sb;
    int e;

    AN(path);
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if ((size_t)snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path),
                              path) >= sizeof(dir))
        return -ENAMETOOLONG;
    if (stat(dir, &sb) != 0) {
        e = errno;
        snprintf(err, errlen, "directory %s: %s", dir, strerror(e));
        return -e;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", dir);
        return -ENOTDIR;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        e = errno;
        snprintf(err, errlen, "directory %s: cannot create files in it: %s", dir, strerror(e));
        return -e;
    }
    return 0;
}

/* Takes the lock on <path>.pid and writes our pid in it; the fd stays open in d->pidfd. */
static int lock_pid(struct disk *d, char *err, size_t errlen)
{
    char name[4096], pid[32];
    ssize_t n;
    int fd, e;

    if ((size_t)snprintf(name, sizeof(name), "%s.pid", d->path) >= sizeof(name)) {
        snprintf(err, errlen, "%s: path too long", d->path);
        return -ENAMETOOLONG;
    }
    fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", name, strerror(e));
        return -e;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        e = errno;
        if (e == EWOULDBLOCK) {
            n = pread(fd, pid, sizeof(pid) - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            snprintf(err, errlen, "%s is in use by process %s", d->path,
                     pid[0] != '\0' ? pid : "(unknown)");
            e = EBUSY;
        } else {
            snprintf(err, errlen, "%s: lock: %s", name, strerror(e));
        }
        close(fd);
        return -e;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        e = errno;
        snprintf(err, errlen, "%s: %s", name, strerror(e));
        close(fd);
        return -e;
    }
    d->pidfd = fd;
    return 0;
}

/* Opens the environment and the databases, checking the version. Returns 0, -EBADMSG for a
 * file that is not one of our stores (the caller moves it aside), or another negative errno. */
static int env_open(struct disk *d, char *err, size_t errlen)
{
    MDB_val vk = {.mv_size = 7, .mv_data = "version"}, v;
    uint32_t version = DISK_VERSION;
    uint64_t map = map_for(d->path, d->map_size);
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn;
    int rc, ks;

    rc = mdb_env_create(&d->env);
    if (rc != 0)
        goto fail;
    rc = mdb_env_set_mapsize(d->env, (size_t)map);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(d->env, 6);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(d->env, DISK_MAXREADS);
    if (rc == 0)
        rc = mdb_env_open(d->env, d->path, MDB_NOSUBDIR | MDB_NOTLS, 0644);
    if (rc != 0)
        goto fail;
    ks = mdb_env_get_maxkeysize(d->env);
    d->maxkey = (size_t)ks - DISK_SUFFIX;
    if (d->maxkey > DISK_KEY_MAX - DISK_SUFFIX)
        d->maxkey = DISK_KEY_MAX - DISK_SUFFIX;
    d->maxtag = (size_t)ks < DISK_TAG_MAX ? (size_t)ks : DISK_TAG_MAX;
    AZ(mdb_env_stat(d->env, &st));
    d->psize = st.ms_psize;

    rc = mdb_txn_begin(d->env, NULL, 0, &txn);
    if (rc != 0)
        goto fail;
    rc = mdb_dbi_open(txn, NULL, 0, &d->main);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &d->meta);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "objects", MDB_CREATE, &d->objects);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "order", MDB_CREATE, &d->order);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "tags", MDB_CREATE | MDB_DUPSORT, &d->tags);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &d->expiry);
    if (rc == 0) {
        rc = mdb_get(txn, d->meta, &vk, &v);
        if (rc == MDB_NOTFOUND && mdb_stat(txn, d->main, &st) == 0 && st.ms_entries == 5) {
            /* a new file: only our five databases in it */
            v.mv_size = sizeof(version);
            v.mv_data = &version;
            rc = mdb_put(txn, d->meta, &vk, &v, 0);
        } else if (rc == MDB_NOTFOUND || (rc == 0 && (v.mv_size != sizeof(version) ||
                                                      memcmp(v.mv_data, &version, 4) != 0))) {
            rc = MDB_VERSION_MISMATCH;
        }
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (rc != 0)
        goto fail;
    /* The budget is what was asked. LMDB's map is larger when the file was made with a larger
     * one (it never shrinks): we still keep to the budget. */
    AZ(mdb_env_info(d->env, &info));
    if (info.me_mapsize < d->map_size)
        d->map_size = info.me_mapsize;
    /* Large values take contiguous pages: in a small map, free space is too fragmented for
     * runs of DISK_CHUNK, so the chunks shrink with the map. */
    d->chunk = DISK_CHUNK;
    if (d->map_size / 64 < d->chunk)
        d->chunk = d->map_size / 64 > DISK_CHUNK_MIN ? (size_t)(d->map_size / 64) : DISK_CHUNK_MIN;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", d->path, mdb_strerror(rc));
    if (d->env != NULL)
        mdb_env_close(d->env);
    d->env = NULL;
    switch (rc) {
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_DBI:
        return -EBADMSG;
    default:
        return mdb_errno(rc);
    }
}

/* Moves the damaged file <path> and its lock file aside, to <path>.damaged and
 * <path>-lock.damaged (one old copy each, replacing an older one: the disk does not fill up
 * with them). The new name goes to <aside>. Returns 0 or a negative errno. */
static int move_aside(const char *path, char *aside, size_t len)
{
    char lock[4096], lock_aside[4096];

    if ((size_t)snprintf(aside, len, "%s.damaged", path) >= len ||
        (size_t)snprintf(lock, sizeof(lock), "%s-lock", path) >= sizeof(lock) ||
        (size_t)snprintf(lock_aside, sizeof(lock_aside), "%s-lock.damaged", path) >=
            sizeof(lock_aside))
        return -ENAMETOOLONG;
    if (rename(path, aside) != 0 && errno != ENOENT)
        return -errno;
    if (rename(lock, lock_aside) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int disk_open(const char *path, uint64_t map_size, struct disk **out, char *err, size_t errlen)
{
    struct disk *d;
    char aside[4096], why[512];
    struct stat sb;
    int rc, existed;

    AN(path);
    AN(out);
    AN(err);
    d = xcalloc(1, sizeof(*d));
    d->path = xstrndup(path, strlen(path));
    d->pidfd = -1;
    d->map_size = map_size;
    AZ(pthread_mutex_init(&d->rmu, NULL));
    if (errlen > 0)
        err[0] = '\0';
    rc = disk_check_dir(path, err, errlen);
    if (rc == 0)
        rc = lock_pid(d, err, errlen);
    if (rc != 0)
        goto fail;
    /* From here on the pid file keeps every other store off the file: the check and the moves
     * below race with no one. */
    existed = stat(path, &sb) == 0;
    if (existed) {
        rc = disk_check(path, map_for(path, map_size),
                        DISK_CHECK_MS + DISK_CHECK_MS_GIB * (unsigned)((uint64_t)sb.st_size >> 30),
                        why, sizeof(why));
        if (rc == -ENOENT) /* gone since: nobody else may touch it, but it is not ours */
            existed = 0;
        else if (rc != 0 && rc != -EBADMSG) {
            snprintf(err, errlen, "%s", why); /* the check could not run: no verdict */
            goto fail;
        }
        if (rc == -ENOENT)
            rc = 0;
    }
    if (rc == 0)
        rc = env_open(d, why, sizeof(why));
    if (rc != 0 && existed) {
        /* Whatever failed, the existing file is what stands in the way: keep it for the
         * operator and start empty. */
        rc = move_aside(path, aside, sizeof(aside));
        if (rc != 0) {
            snprintf(err, errlen, "%s; cannot move it aside: %s", why, strerror(-rc));
            goto fail;
        }
        d->reset = 1;
        snprintf(err, errlen, "%s; moved aside to %s, starting empty", why, aside);
        rc = env_open(d, why, sizeof(why));
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    *out = d;
    return 0;
fail:
    if (d->pidfd >= 0)
        close(d->pidfd);
    pthread_mutex_destroy(&d->rmu);
    free(d->path);
    free(d);
    return rc == -EBADMSG ? -EIO : rc;
}

void disk_close(struct disk **dp)
{
    struct disk *d;

    AN(dp);
    d = *dp;
    if (d == NULL)
        return;
    *dp = NULL;
    while (d->nrpool > 0)
        mdb_txn_abort(d->rpool[--d->nrpool]);
    pthread_mutex_destroy(&d->rmu);
    mdb_env_close(d->env);
    close(d->pidfd); /* releases the flock */
    free(d->path);
    free(d);
}
