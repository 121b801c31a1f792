/* pct.h: percent-decoding (%XX) of URL parts: query values, paths, userinfo.
 *
 * Contract: pure. out may be in.p itself (decoding never lengthens), so a
 * NUL-terminated string can be decoded in place. */
#ifndef GNATSD_PCT_H
#define GNATSD_PCT_H

#include "base/common.h"

enum {
    PCT_PLUS = 1,   /* '+' is a space (query strings, Go's url.QueryUnescape) */
    PCT_STRICT = 2, /* a '%' without two hex digits is an error (Go's url package);
                     * without it the '%' is kept as it is (lenient userinfo) */
};

/* Decodes in into out (outsz >= 1; always NUL-terminated). Returns the decoded length,
 * or -1 for a malformed escape (PCT_STRICT) or when the result does not fit (out then
 * holds the part that fit). */
long pct_decode(slice_t in, char *out, size_t outsz, unsigned flags);

#endif
