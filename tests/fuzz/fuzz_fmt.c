/* fuzz_fmt.c - libFuzzer target for the on-disk object format: whatever is on disk is untrusted,
 * so any bytes give an object or an error, never a crash, an out-of-bounds read or a leak.
 * Each input is decoded twice: as it is, and with its last 8 bytes replaced by the valid
 * checksum of the rest, so that mutations reach the parser behind the checksum. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "accel/fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const void *p, size_t size)
{
    struct obj *o = NULL;

    if (fmt_decode(p, size, &o) == 0)
        obj_unref(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *sealed;
    uint64_t sum;

    decode(data, size);
    if (size < 8)
        return 0;
    sealed = malloc(size); /* exactly <size>: ASan sees any read past the end */
    if (sealed == NULL)
        return 0;
    memcpy(sealed, data, size);
    sum = XXH3_64bits(sealed, size - 8);
    for (int i = 0; i < 8; i++)
        sealed[size - 8 + (size_t)i] = (uint8_t)(sum >> (8 * i));
    decode(sealed, size);
    free(sealed);
    return 0;
}
