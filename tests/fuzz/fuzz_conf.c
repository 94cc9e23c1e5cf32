/* fuzz_conf.c - libFuzzer target for the configuration parser: any text gives a conf or an
 * error message, never a crash or a leak. Host names are not resolved by any seed (a fuzzer
 * may still produce one; it only makes that input slow). */
#include <stddef.h>
#include <stdint.h>

#include "accel/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf *c = NULL;
    char err[256];

    if (conf_parse("fuzz.conf", (const char *)data, size, &c, err, sizeof(err)) == 0)
        conf_free(&c);
    return 0;
}
