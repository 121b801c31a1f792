/* msghdr.h: one header of a NATS message's header block ("NATS/1.0[ status]\r\n"
 * "Key: value\r\n"... "\r\n", docs/protocol.md "Headers"), read and replaced the way
 * the reference does it for the headers the server itself adds (Nats-Request-Info on
 * a request crossing a service import, docs/accounts.md).
 *
 * Pure functions on untrusted bytes: nothing is read past n. */
#ifndef GNATSD_MSGHDR_H
#define GNATSD_MSGHDR_H

#include "base/buf.h"
#include "base/common.h"

/* The value of key in the block (a line starting with exactly "key:" after a CRLF,
 * leading blanks skipped), or an empty slice. */
slice_t msghdr_get(const char *hdr, size_t n, const char *key);

/* Appends to out the block with key's line replaced by "key: value" (added at the end
 * if it had none; hdr may be empty: a new block). Returns the new block's length. */
size_t msghdr_set(const char *hdr, size_t n, const char *key, const char *val, size_t vn,
                  buf_t *out);

#endif
