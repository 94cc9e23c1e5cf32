/* fuzz_http.c - libFuzzer target for the request and response parsers of http.c: any bytes,
 * fed in two pieces at a split point taken from the first byte, must give an event and never
 * touch memory outside the buffer (ASan) or trip an assert. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accel/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *ctx, const char *p, size_t n)
{
    size_t *total = ctx;

    if (n > 0)
        *total += (size_t)(unsigned char)p[n - 1] + n;
    return 0;
}

static void run(int is_request, const char *buf, size_t len, size_t split, uint64_t max_body)
{
    struct http_parser hp;
    struct http_fwd f = {.host = {"h", 1}, .client_ip = "127.0.0.1", .proto = "http"};
    size_t total = 0, off = 0, used, end = split;
    struct buf b = {0};

    memset(&hp, 0, sizeof(hp));
    hp.on_body = sink;
    hp.ctx = &total;
    hp.max_body = max_body;
    http_parser_init(&hp, is_request, 50, 1024);
    while (off < len) {
        enum http_ev ev = http_parse(&hp, buf + off, end - off, &used);
        off += used;
        if (ev == HTTP_EV_ERROR)
            break;
        if (ev == HTTP_EV_HEAD) {
            struct span host;
            if (is_request) {
                (void)http_request_host(&hp.head, &host);
                http_write_request(&b, &hp.head, &f);
            } else {
                if (hp.head.status / 100 == 1)
                    http_write_interim(&b, &hp.head);
                else
                    http_write_response_head(&b, &hp.head, "D", 1, 0, 0, NULL);
            }
            b.off = b.len = 0;
            continue;
        }
        if (ev == HTTP_EV_MORE && off == end)
            end = len;
    }
    (void)http_finish(&hp);
    buf_free(&b);
    http_parser_fini(&hp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf;
    size_t split;

    if (size < 1)
        return 0;
    buf = malloc(size - 1 ? size - 1 : 1);
    memcpy(buf, data + 1, size - 1);
    split = (size - 1) ? data[0] % (size - 1 + 1) : 0;
    /* an odd first byte also sets a small body limit (chunk sizes past it fail at once) */
    run(1, buf, size - 1, split, (data[0] & 1) ? 64 : 0);
    run(0, buf, size - 1, split, (data[0] & 1) ? 64 : 0);
    free(buf);
    return 0;
}
