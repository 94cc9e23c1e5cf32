/* fmt.h - the on-disk form of a complete object: one self-contained, versioned, checksummed
 * blob holding everything the object needs to be served again (key, head, times, vary, body).
 * What is on disk is untrusted: decoding checks every byte before it believes it. */
#ifndef ACCEL_FMT_H
#define ACCEL_FMT_H

#include <stddef.h>

#include "accel/base.h"
#include "accel/obj.h"

#define FMT_VERSION 3

/* Appends to <b> the encoding of the complete object <o> (obj_state() OBJ_COMPLETE, head set;
 * both are asserted). The object is only read. */
void fmt_encode(const struct obj *o, struct buf *b);

/* Decodes the <len> bytes at <p> into a new complete object: one reference in *<out>, owned by
 * the caller (obj_unref()). Its hash is key_hash() of its key, so it belongs to this process.
 * Returns 0; -EBADMSG when the bytes are not a valid encoding (truncated, bad magic, a checksum
 * mismatch, lengths that do not add up, a key holding NUL, a malformed vary list); -ENOTSUP
 * for a well-formed blob of another FMT_VERSION. On error *<out> is left untouched.
 * Every length is checked against what remains before it is used: no blob can make it read
 * out of bounds, trip an assert, or allocate more than a small multiple of <len>. <p> need
 * not be aligned and is not kept (LMDB values may be used until the transaction ends). */
int fmt_decode(const void *p, size_t len, struct obj **out);

#endif
