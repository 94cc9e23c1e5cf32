/* gz.h - gzip for the cache: streaming compression of what the origin sends, streaming
 * decompression for clients that do not take gzip, and the request and response tests that
 * decide which applies (Accept-Encoding q-values, compressible media types).
 *
 * Both streams work in pieces of any size and never allocate in proportion to their input:
 * the caller bounds the output of each step, so a small input that inflates enormously (a
 * "bomb") costs output steps, not memory. zlib is used here and nowhere else. */
#ifndef ACCEL_GZ_H
#define ACCEL_GZ_H

#include <stddef.h>
#include <stdint.h>

#include "accel/base.h"

/* RFC 9110 §12.5.3: 1 if the request fields <f> accept the gzip coding: "gzip" (or "x-gzip")
 * with a q-value above 0, or "*" above 0 when gzip is not named. No Accept-Encoding: 0 (the
 * identity is what such a client surely takes). */
int gz_accepts(const struct field *f, unsigned n);

/* 1 if media type <ct> (a Content-Type value: parameters ignored, case-insensitive) is in
 * <types>, a list of "type/subtype" or a type followed by "/" and an asterisk (the whole type),
 * separated by spaces or commas. */
int gz_type_ok(struct span ct, const char *types);

/* A gzip stream (RFC 1952) being written. */
struct gz_enc;

/* A compressor at zlib <level> (1-9); NULL when zlib cannot make one (out of memory). */
struct gz_enc *gz_enc_new(int level);
void gz_enc_free(struct gz_enc **ep);

/* Compresses the <n> bytes at <p> and, when <finish>, ends the stream (trailer included);
 * hands the compressed bytes to <sink> as they come, in pieces of at most 16 KiB. Returns 0, or
 * -EIO on a zlib failure (the stream is then unusable). */
int gz_enc_write(struct gz_enc *e, const void *p, size_t n, int finish,
                 void (*sink)(void *arg, const void *p, size_t n), void *arg);

/* Bytes taken in so far. */
uint64_t gz_enc_total_in(const struct gz_enc *e);

/* A gzip stream being read. */
struct gz_dec;

struct gz_dec *gz_dec_new(void);
void gz_dec_free(struct gz_dec **dp);

/* Inflates from *<in> (*<inlen> bytes) into <out> (at most <cap> bytes): advances *<in> and
 * *<inlen> past what it consumed, sets *<outlen>. Returns 0 (call again: more input, or more
 * room), 1 when the stream ended (input after the end is left in *<in>), or -EBADMSG when the
 * bytes are not gzip or are corrupt (the stream is then unusable). */
int gz_dec_run(struct gz_dec *d, const void **in, size_t *inlen, void *out, size_t cap,
               size_t *outlen);

/* Makes <d> ready for a new stream (cheaper than a new one: zlib's state is kept). */
void gz_dec_reset(struct gz_dec *d);

/* 1 once the stream ended. */
int gz_dec_ended(const struct gz_dec *d);

/* Bytes out and in so far (the whole stream's sizes once it ended). */
uint64_t gz_dec_total_out(const struct gz_dec *d);

#endif
