/* sf.h - a strict parser of RFC 8941 Structured Field Dictionaries, for the fields that are
 * defined as one (CDN-Cache-Control and Accel-Cache-Control, RFC 9213). It validates the whole
 * grammar (keys, bare items, parameters, inner lists, whitespace) and hands each member's value
 * to the caller; parameters are checked, not returned. RFC 9651's Dates and Display Strings are
 * not RFC 8941 and do not parse. */
#ifndef ACCEL_SF_H
#define ACCEL_SF_H

#include <stdint.h>

#include "accel/base.h"

enum sf_type {
    SF_INTEGER = 0, /* .num */
    SF_DECIMAL,     /* .num in thousandths: 1.5 is 1500 */
    SF_STRING,      /* .s between the quotes, escapes as sent */
    SF_TOKEN,       /* .s */
    SF_BINARY,      /* .s between the colons, base64 as sent */
    SF_BOOLEAN,     /* .num 0 or 1; a member without "=" is true */
    SF_INNER_LIST,  /* .s from "(" to ")" */
};

struct sf_item {
    enum sf_type type;
    int64_t num;
    struct span s;
};

/* Called for each member in order with its key and value (views into the parsed bytes, valid
 * as long as they are). A key given twice is reported twice: the later value wins (RFC 8941
 * §3.2). A nonzero return stops the parse and is returned by sf_dict_parse(). */
typedef int (*sf_member_fn)(struct span key, const struct sf_item *value, void *arg);

/* Parses <v>, one field line or the field lines joined by ", ", as an sf-dictionary (RFC 8941
 * §4.2.2). Calls <cb> for each member as it is parsed, so a caller that must ignore an invalid
 * field entirely collects into a scratch copy. Returns 0 (an empty value is an empty
 * dictionary), -EBADMSG when <v> is not a dictionary, or what <cb> returned. */
int sf_dict_parse(struct span v, sf_member_fn cb, void *arg);

#endif
