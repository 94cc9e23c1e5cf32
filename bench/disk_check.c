/* disk_check.c - accel-disk-check-bench: how long the check of an existing disk tier file takes
 * at startup (disk_check(): the forked child's walk over every database), on a file of a given
 * size, and how long the whole disk_open() takes with it.
 *
 * It fills a store through disk_put_many() (the writer's batches) with a mix like a web cache's:
 * of every 20 objects, 14 of 8 KiB, 5 of 64 KiB and one of 1 MiB (chunked), a third of them
 * tagged, a quarter with an expiry time; then times disk_check() and disk_open() ROUNDS times
 * each, with the file in the page cache (the second and later rounds; the first one reads it
 * from the disk unless the fill just wrote it).
 *
 * Usage: accel-disk-check-bench [-s GIB] [-b BYTES] [-r ROUNDS] [-c] [-k] FILE
 *   defaults: 1 GiB of objects, the mix above, 5 rounds; -b: every object BYTES long instead;
 *   -c: each round drops the file from the page cache first (posix_fadvise), a cold start;
 *   FILE is made anew unless -k keeps an existing one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accel/disk.h"

#define BATCH 64

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: accel-disk-check-bench [-s GIB] [-b BYTES] [-r ROUNDS] [-c] [-k] FILE\n");
    exit(2);
}

/* Fills <path> with about <bytes> of objects; returns how many. */
static uint64_t fill(const char *path, uint64_t bytes, size_t fixed)
{
    static const size_t sizes[20] = {8192,  8192,  8192,  8192,  8192,  8192,   8192,
                                     8192,  8192,  8192,  8192,  8192,  8192,   8192,
                                     65536, 65536, 65536, 65536, 65536, 1048576};
    struct disk_item items[BATCH];
    char keys[BATCH][64], err[512];
    char *blob = malloc(1048576);
    struct disk *d = NULL;
    uint64_t n = 0, total = 0;
    int rc;

    for (size_t i = 0; i < 1048576; i++)
        blob[i] = (char)(i * 31 + i / 4096);
    /* the budget leaves room: a full store would evict while it fills */
    rc = disk_open(path, bytes + bytes / 2 + (64u << 20), &d, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "disk_open: %s\n", err);
        exit(1);
    }
    while (total < bytes) {
        unsigned m = 0;

        for (; m < BATCH && total < bytes; m++, n++) {
            struct disk_item *it = &items[m];

            snprintf(keys[m], sizeof(keys[m]), "https://bench.example/o/%llu",
                     (unsigned long long)n);
            memset(it, 0, sizeof(*it));
            it->key = keys[m];
            it->klen = strlen(keys[m]);
            it->blob = blob;
            it->len = fixed > 0 ? fixed : sizes[n % 20] - (n % 7) * 16;
            if (n % 3 == 0) {
                it->tags = n % 2 ? "odd\0bench\0" : "even\0bench\0";
                it->tags_len = n % 2 ? 10 : 11;
            }
            if (n % 4 == 0)
                it->expires = 2000000000 + (int64_t)n;
            total += it->len;
        }
        rc = disk_put_many(d, items, m);
        if (rc != 0) {
            fprintf(stderr, "disk_put_many: %s\n", strerror(-rc));
            exit(1);
        }
    }
    disk_close(&d);
    free(blob);
    return n;
}

int main(int argc, char **argv)
{
    uint64_t gib = 1, objects = 0, fixed = 0;
    unsigned rounds = 5;
    int keep = 0, cold = 0, opt, rc;
    char err[512], *end;
    struct stat st;
    const char *path;

    while ((opt = getopt(argc, argv, "s:b:r:ck")) != -1) {
        switch (opt) {
        case 's':
            gib = strtoull(optarg, &end, 10);
            if (*end != '\0' || gib == 0)
                usage();
            break;
        case 'r':
            rounds = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0' || rounds == 0)
                usage();
            break;
        case 'b':
            fixed = strtoull(optarg, &end, 10);
            if (*end != '\0' || fixed == 0 || fixed > 1048576)
                usage();
            break;
        case 'c':
            cold = 1;
            break;
        case 'k':
            keep = 1;
            break;
        default:
            usage();
        }
    }
    if (optind + 1 != argc)
        usage();
    path = argv[optind];
    if (!keep || stat(path, &st) != 0) {
        double t0 = now_s();

        unlink(path);
        objects = fill(path, gib << 30, (size_t)fixed);
        printf("filled %s: %llu objects in %.1f s\n", path, (unsigned long long)objects,
               now_s() - t0);
    }
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    printf("file: %.1f MiB%s\n", (double)st.st_size / (1 << 20),
           cold ? ", dropped from the page cache before each check" : "");
    for (unsigned r = 0; r < rounds; r++) {
        struct disk *d = NULL;
        double t0, t1;

        if (cold) {
            int fd = open(path, O_RDONLY);

            if (fd < 0 || fsync(fd) != 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
                perror(path);
                return 1;
            }
            close(fd);
        }
        t0 = now_s();
        rc = disk_check(path, (uint64_t)st.st_size + (64u << 20), 600000, err, sizeof(err));
        t1 = now_s();
        if (rc != 0) {
            printf("check: %d %s\n", rc, err);
            return 1;
        }
        rc = disk_open(path, (uint64_t)st.st_size + (64u << 20), &d, err, sizeof(err));
        if (rc != 0 || disk_was_reset(d)) {
            printf("open: %d %s\n", rc, err);
            return 1;
        }
        disk_close(&d);
        printf("round %u: disk_check %.3f s, disk_open (with its check) %.3f s\n", r + 1, t1 - t0,
               now_s() - t1);
    }
    return 0;
}
